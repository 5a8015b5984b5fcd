"""Slow, obviously correct reference of the Mann-Kendall test and Theil-Sen slope (test oracle).

One pixel (a 1-D series, NaN = missing) at a time, with plain Python loops over all
pairs, following the formulas of docs/methods.md section 14 and pymannkendall 1.4:
no vectorisation, no selection tricks, no float32.  :func:`reference` returns the
same bands as :func:`ecoresp_core.trends.trend.mann_kendall` for one pixel, for the
variants ``original``, ``seasonal``, ``yue_wang`` and ``hamed_rao`` (the
pre-whitening variants are left to the pymannkendall comparisons of test_trend.py:
their S depends on the last bit of the pre-whitened values).

Units: ``slope``, ``slope_lower``, ``slope_upper`` in input units per time step (per
cycle of ``period`` steps for ``seasonal``), ``intercept`` in input units at time
index 0, ``trend`` in {-1, 0, +1}, ``n_valid`` a count.  Inputs must be finite or NaN.
"""

import math
from collections import Counter

import numpy as np
from scipy.stats import norm, rankdata

NAN = float("nan")


def _valid(x):
    """(positions, values) of the non-NaN entries of x, in time order."""
    pos = [i for i in range(len(x)) if not math.isnan(x[i])]
    return pos, [float(x[i]) for i in pos]


def _sign(d):
    return (d > 0) - (d < 0)


def mk_score(vals):
    """Mann-Kendall S: sum over all pairs i < j of sign(x_j - x_i) (valid values only)."""
    s = 0
    for i in range(len(vals)):
        for j in range(i + 1, len(vals)):
            s += _sign(vals[j] - vals[i])
    return s


def mk_variance(vals):
    """Tie-corrected variance of S: [n(n-1)(2n+5) - sum_ties t(t-1)(2t+5)] / 18."""
    n = len(vals)
    tie = sum(t * (t - 1) * (2 * t + 5) for t in Counter(vals).values())
    return (n * (n - 1) * (2 * n + 5) - tie) / 18


def pair_slopes(x):
    """(x_j - x_i) / (j - i) for all i < j with both values valid (original positions)."""
    pos, vals = _valid(x)
    out = []
    for a in range(len(pos)):
        for b in range(a + 1, len(pos)):
            out.append((vals[b] - vals[a]) / (pos[b] - pos[a]))
    return out


def z_score(s, var_s):
    """(S - 1)/sqrt(var) if S > 0, (S + 1)/sqrt(var) if S < 0, else 0."""
    if s > 0:
        return (s - 1) / np.sqrt(var_s)
    if s < 0:
        return (s + 1) / np.sqrt(var_s)
    return 0.0


def p_trend(z, alpha):
    """Two-sided p value and trend code (+1 / -1 if significant at alpha, else 0)."""
    p = 2 * (1 - norm.cdf(abs(z)))
    h = abs(z) > norm.ppf(1 - alpha / 2)
    return p, (1.0 if h and z > 0 else -1.0 if h and z < 0 else 0.0)


def slope_bounds(slopes, var_s, ci_alpha):
    """Gilbert (1987) confidence bounds: sorted slopes at 1-based ranks round(M1) and
    round(M2) + 1, M1,2 = (N' -+ z_{1-ci_alpha/2} sqrt(var_s)) / 2, clipped to [1, N']."""
    srt = sorted(slopes)
    n = len(srt)
    c = norm.ppf(1 - ci_alpha / 2) * np.sqrt(var_s)
    lo = int(np.clip(np.round((n - c) / 2), 1, n))
    hi = int(np.clip(np.round((n + c) / 2) + 1, 1, n))
    return srt[lo - 1], srt[hi - 1]


def acf(y, nlags):
    """Autocorrelation of y at lags 0..nlags (sums over the lagged products / c0)."""
    n = len(y)
    m = sum(y) / n
    d = [v - m for v in y]
    c = [sum(d[t] * d[t + k] for t in range(n - k)) / n for k in range(nlags + 1)]
    return [ck / c[0] if c[0] != 0 else NAN for ck in c]


def reference(x, variant="original", alpha=0.05, ci_alpha=None, period=12, lag=None,
              min_valid=3):
    """Bands of one pixel, computed by brute force.

    Parameters
    ----------
    x : sequence of float
        The series (NaN = missing), one value per time step.
    variant : {'original', 'seasonal', 'yue_wang', 'hamed_rao'}
    alpha : float
        Significance level of the two-sided test.
    ci_alpha : float, optional
        The slope confidence interval is at 1 - ci_alpha (default alpha).
    period : int
        Steps per cycle of the seasonal test.
    lag : int, optional
        Lags of the autocorrelation corrections (None: all).
    min_valid : int
        Fewer valid values give NaN in every band but ``n_valid``.

    Returns
    -------
    dict
        Band name -> float for every name of ``TREND_BANDS``.
    """
    x = [float(v) for v in x]
    ci_alpha = alpha if ci_alpha is None else ci_alpha
    pos, vals = _valid(x)
    out = dict.fromkeys(("slope", "intercept", "p_value", "z", "tau", "s", "var_s", "trend",
                         "slope_lower", "slope_upper"), NAN)
    out["n_valid"] = float(len(vals))
    if len(vals) < min_valid:
        return out
    if variant == "seasonal":
        ny = -(-len(x) // period)
        xp = x + [NAN] * (ny * period - len(x))
        seasons = [[xp[y * period + m] for y in range(ny)] for m in range(period)]
        s = var_s = denom = 0
        slopes = []
        for col in seasons:
            _, sv = _valid(col)
            s += mk_score(sv)
            var_s += mk_variance(sv)
            denom += 0.5 * len(sv) * (len(sv) - 1)
            slopes += pair_slopes(col)
        var_ci = var_s
        tau = s / denom if denom else NAN
    else:
        s = mk_score(vals)
        var_s = var_ci = mk_variance(vals)
        n = len(vals)
        tau = s / (0.5 * n * (n - 1))
        slopes = pair_slopes(x)
    if slopes:
        slope = float(np.median(slopes))
        lower, upper = slope_bounds(slopes, var_ci, ci_alpha)
    else:
        slope = lower = upper = NAN
    if variant == "seasonal":  # the line's value at the first cycle, time in cycles
        intercept = float(np.nanmedian(x)) - float(np.median(pos)) / period * slope
    else:
        intercept = float(np.nanmedian(x)) - float(np.median(pos)) * slope
    if variant in ("yue_wang", "hamed_rao"):
        n = len(vals)
        detr = [vals[k] - (k + 1) * slope for k in range(n)]
        nlag = n - 1 if lag is None else min(lag, n - 1)
        if variant == "yue_wang":
            rho = acf(detr, nlag)
            var_s = var_s * (1 + 2 * sum((1 - k / n) * rho[k] for k in range(1, nlag + 1)))
        elif n < 3:
            var_s = NAN
        else:
            rho = acf(list(rankdata(detr)), nlag)
            crit = norm.ppf(1 - alpha / 2) / np.sqrt(n)
            sni = sum((n - k) * (n - k - 1) * (n - k - 2) * rho[k] for k in range(1, nlag + 1)
                      if not (-crit <= rho[k] <= crit))
            var_s = var_s * (1 + 2 / (n * (n - 1) * (n - 2)) * sni)
    z = z_score(s, var_s)
    p, trend = p_trend(z, alpha)
    out.update(slope=slope, intercept=intercept, p_value=p, z=z, tau=tau, s=float(s),
               var_s=float(var_s), trend=trend, slope_lower=lower, slope_upper=upper)
    return out


def reference_cube(X, variant="original", **kw):
    """:func:`reference` for every column of X (t, P): dict band -> array (P,)."""
    cols = [reference(X[:, p], variant, **kw) for p in range(X.shape[1])]
    return {b: np.array([c[b] for c in cols]) for b in cols[0]}
