"""Per-pixel Mann-Kendall statistic and Theil-Sen slope, exactly as pymannkendall: the block kernel.

The reference is ``pymannkendall`` 1.4.x: for every pixel the bands returned by
:func:`process_block` (and :func:`.trend.mann_kendall`) equal what the pymannkendall
function of the chosen variant returns for that pixel's 1-D series (converted to
float64), with the same NaN conventions.  Only numpy and scipy are used; no QGIS import.

Conventions (identical to pymannkendall, see docs/methods.md section 14)
-----------------------------------------------------------------------
* ``values`` is time first, ``(t, ...)``; NaN marks a missing value.
* ``s``, ``var_s``, ``tau``, ``z``, ``p_value`` are computed on the series with
  the NaNs removed ("skip"): S depends only on the order of the valid values,
  ``n`` is the number of valid values.  ``var_s`` carries the tie correction
  ``[n(n-1)(2n+5) - sum t(t-1)(2t+5)] / 18``.
* ``z = (S-1)/sqrt(var_s)`` if S > 0, ``0`` if S == 0, ``(S+1)/sqrt(var_s)`` if S < 0;
  ``p_value = 2 (1 - Phi(|z|))``; ``tau = S / (n(n-1)/2)`` (tau-a).
* ``trend`` is +1 / -1 when ``|z| > Phi^-1(1 - alpha/2)`` and z > 0 / z < 0
  (pymannkendall's 'increasing' / 'decreasing'), else 0 (also when z is NaN).
* ``slope`` is the Theil-Sen slope on the ORIGINAL positions: the median of
  ``(x_j - x_i)/(j - i)`` over all i < j with both values valid, in units of
  the input per time step.  Gaps keep their time distance.
* ``intercept = nanmedian(x) - median(indices of the valid values) * slope``
  with indices starting at 0: the value of the Kendall-Theil line at the FIRST
  time step of the input (index 0), even if that step is missing.  For
  calendar years ``b_year = intercept - slope * first_year``.
* ``n_valid`` is the number of non-NaN values of the input series (always set).
  Pixels with ``n_valid < min_valid`` get NaN in every other band.

Variants (``variant=``)
-----------------------
``original``
    ``pymannkendall.original_test``.
``hamed_rao``
    ``hamed_rao_modification_test(x, alpha, lag)``: the valid values are
    compressed (NaNs removed), detrended with ``x_c - slope * (1..n)`` where
    the slope is the Sen slope on the original positions, ranked (average
    ranks), and the ACF of the ranks is screened at ``z_{1-alpha/2}/sqrt(n)``;
    ``var_s`` is multiplied by ``1 + 2/(n(n-1)(n-2)) sum (n-i)(n-i-1)(n-i-2) rho_i``.
    ``lag=None`` uses all lags; ``lag=L`` uses lags 1..L (capped at n-1,
    where pymannkendall would raise IndexError).  n_valid < 3 gives NaN
    ``var_s``/``z``/``p_value`` (pymannkendall divides by zero).  A constant
    detrended series gives a NaN ACF, hence NaN ``var_s`` (and NaN z unless
    S == 0), exactly as pymannkendall.
``yue_wang``
    ``yue_wang_modification_test``: ACF of the Sen-detrended compressed series,
    no screening, ``var_s *= 1 + 2 sum_{k=1}^{L} (1 - k/n) rho_k``.
``pre_whitening``
    ``pre_whitening_modification_test``: on the compressed series,
    ``x'_t = x_{t+1} - r1 x_t`` (r1 = lag-1 ACF); S, var_s, tau, z, p on the
    n-1 values (``n`` in tau and var_s is n_valid - 1; a NaN r1 makes every
    x' NaN, which gives S = 0 and the untied variance, as pymannkendall).
    slope/intercept are the original Sen values.
``trend_free_pre_whitening``
    ``trend_free_pre_whitening_modification_test``: detrend the compressed
    series with the Sen slope, pre-whiten with r1 of the detrended series,
    add ``slope * (1..n-1)`` back, then MK on the n-1 values.
    For PW and TFPW n_valid < 3 gives NaN s/var_s/tau/z/p (pymannkendall
    divides by zero).
``seasonal``
    ``seasonal_test(x, period, alpha)``: the series is padded with NaN to a
    multiple of ``period`` and reshaped to (cycles, period); S, var_s and the
    tau denominator are summed over the ``period`` seasons (each with its own
    NaNs removed); the slope is the median of all within-season slopes
    ``(x[y2, m] - x[y1, m]) / (y2 - y1)``, i.e. **per cycle** (per year for
    monthly data with period=12), and
    ``intercept = nanmedian(x) - median(valid flat indices)/period * slope``
    (the line's value at the first cycle, in per-cycle time units).
    ``n_valid`` counts all valid values; ``min_valid`` applies to that count.

Confidence interval of the slope (``slope_lower``, ``slope_upper``)
------------------------------------------------------------------
Gilbert (1987) / Sen (1968), at confidence ``1 - ci_alpha`` (``ci_alpha``
defaults to ``alpha``): ``C = z_{1-ci_alpha/2} sqrt(Var(S))`` with Var(S) the
tie-corrected variance of the ORIGINAL valid series (for every non-seasonal
variant, i.e. not the pre-whitened or autocorrelation-corrected one; for
``seasonal`` the sum of the per-season variances), ``N'`` the number of valid
slopes (within-season slopes for ``seasonal``), ``M1 = (N' - C)/2``,
``M2 = (N' + C)/2``; the bounds are the sorted slopes at 1-based ranks
``round(M1)`` and ``round(M2) + 1`` (numpy round-half-even), clipped to
``[1, N']``.  For a gap-free series and the original variant this equals
``scipy.stats.theilslopes(x, alpha=1 - ci_alpha)``.

Exactness
---------
Every band equals the pure float64 computation of pymannkendall bit for bit.
Cheaper arithmetic is only used where its outcome is provably the same: S counts
``x[t+k] > x[t]`` minus ``x[t+k] < x[t]`` lag by lag (comparisons with NaN are
False); the tie term uses run lengths of the sorted values.  Both run in float32 when
every value of the block is exactly a float32 (checked), since then the comparisons
are exact.  For long non-seasonal series of float32 values the dense slope pass of
:mod:`.selection` yields S from the signs of its float32 slopes instead (exact
there).  The Sen slope and its bounds are exact order statistics (:mod:`.selection`).

The kernel :func:`process_block` works on one time-major block of pixels and is a
module-level function of pure inputs and outputs (arrays and scalars), so that the
driver can run it in a thread or in a helper process that imports it by name.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.special import ndtr
from scipy.stats import norm

from .selection import LONG_PAIRS, block_sen

__all__ = ["TREND_BANDS", "VARIANTS", "process_block", "slope_pairs"]

TREND_BANDS = ("slope", "intercept", "p_value", "z", "tau", "s", "var_s", "n_valid",
               "trend", "slope_lower", "slope_upper")

VARIANTS = ("original", "hamed_rao", "yue_wang", "pre_whitening",
            "trend_free_pre_whitening", "seasonal")


# ---------------------------------------------------------------------------
# small vectorised building blocks (time-major arrays (n, B) unless noted)
# ---------------------------------------------------------------------------

def _exact_f32(x):
    """x as float32 if that conversion is exact for every value (NaN kept), else None."""
    with np.errstate(over="ignore", invalid="ignore"):
        x32 = x.astype(np.float32)
    return x32 if np.array_equal(x32, x, equal_nan=True) else None


_AUTO = object()


def _sorted_rows(x, x32=_AUTO):
    """The values of each column of x (n, B) sorted ascending (NaN last) as rows (B, n).

    Sorted in float32 when that is exact (numpy's SIMD sort), else in float64
    (x32: the result of :func:`_exact_f32` if already known)."""
    if x32 is _AUTO:
        x32 = _exact_f32(x)
    return np.sort((x32 if x32 is not None else x).T, axis=1)


def _tie_term(srt, pairs=False):
    """(sum over tie groups of t(t-1)(2t+5), and with pairs=True the number of tied pairs,
    sum of t(t-1)/2, else None) for the sorted rows srt (B, n) (NaN never tied).

    Runs of equal values are delimited by the positions where a row changes; with a
    delimiter also at both ends of every row, consecutive delimiters give the run
    lengths (a row end and the next row start make a spurious run of length 1, and
    f(1) = 0), so the sum is a bincount of f(length) by row.  int64 (B,)."""
    B, n = srt.shape
    eq = srt[:, 1:] == srt[:, :-1] if n >= 2 else None
    if eq is None or not eq.any():
        zero = np.zeros(B, np.int64)
        return zero, (zero.copy() if pairs else None)
    cut = np.ones((B, n + 1), bool)
    np.logical_not(eq, out=cut[:, 1:n])
    pos = np.flatnonzero(cut)
    t = np.diff(pos)
    f = t * (t - 1) * (2 * t + 5)
    keep = np.flatnonzero(f)
    row = pos[keep] // (n + 1)
    tie = np.bincount(row, weights=f[keep], minlength=B).astype(np.int64)
    if not pairs:
        return tie, None
    tk = t[keep]
    return tie, np.bincount(row, weights=tk * (tk - 1) // 2, minlength=B).astype(np.int64)


def _mk_score(x, x32=_AUTO):
    """Mann-Kendall S of each column of x (n, B), pairs with a NaN ignored. int64 (B,).

    S = sum over lags k of count(x[t+k] > x[t]) - count(x[t+k] < x[t]); comparisons
    with NaN are False, so such pairs drop out.  Compared in float32 when exact.  The
    per-position counts accumulate in int8 (every operation on equal 1-byte types, the
    fast SIMD loops), flushed to int64 every 127 lags."""
    n, B = x.shape
    if n < 2:
        return np.zeros(B, np.int64)
    if x32 is _AUTO:
        x32 = _exact_f32(x)
    xs = x32 if x32 is not None else x
    acc = np.zeros((n - 1, B), np.int8)
    gt = np.empty((n - 1, B), bool)
    lt = np.empty((n - 1, B), bool)
    t8 = np.empty((n - 1, B), np.int8)
    s = np.zeros(B, np.int64)
    for k in range(1, n):
        m = n - k
        g = np.greater(xs[k:], xs[:-k], out=gt[:m])
        l_ = np.less(xs[k:], xs[:-k], out=lt[:m])
        np.subtract(g.view(np.int8), l_.view(np.int8), out=t8[:m])
        np.add(acc[:m], t8[:m], out=acc[:m])
        if k % 127 == 0:
            s += acc.sum(axis=0, dtype=np.int64)
            acc[...] = 0
    return s + acc.sum(axis=0, dtype=np.int64)


def _variance(nv, tie):
    """Tie-corrected variance of S, ``[n(n-1)(2n+5) - tie] / 18`` (float64), from the
    valid counts nv and the tie terms of :func:`_tie_term` (integer arrays)."""
    nv = nv.astype(np.float64)
    return (nv * (nv - 1) * (2 * nv + 5) - tie.astype(np.float64)) / 18


def _z_score(s, var_s):
    """Continuity-corrected z: ``(S-1)/sqrt(var_s)`` if S > 0, ``(S+1)/sqrt(var_s)`` if
    S < 0, else 0 (float64; NaN or inf where var_s is NaN or 0, as pymannkendall)."""
    s = s.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        sd = np.sqrt(var_s)
        z = np.where(s > 0, (s - 1) / sd, np.where(s < 0, (s + 1) / sd, 0.0))
    return z


@functools.lru_cache(maxsize=64)
def _z_crit(alpha):
    """Two-sided critical value ``Phi^-1(1 - alpha/2)`` (cached: one per alpha)."""
    return norm.ppf(1 - alpha / 2)


def _p_trend(z, alpha):
    """Two-sided p value ``2 (1 - Phi(|z|))`` and the trend code (+1 / -1 where
    ``|z| > Phi^-1(1 - alpha/2)`` and z > 0 / z < 0, else 0; 0 for a NaN z)."""
    p = 2 * (1 - ndtr(np.abs(z)))  # ndtr is what norm.cdf evaluates (identical values)
    h = np.abs(z) > _z_crit(alpha)
    trend = np.where(h & (z > 0), 1.0, np.where(h & (z < 0), -1.0, 0.0))
    return p, trend


def _median_sorted(srt, cnt):
    """numpy median of the first cnt entries of each sorted row of srt (B, n) (cnt >= 1)."""
    B = srt.shape[0]
    rows = np.arange(B)
    lo = srt[rows, (cnt - 1) // 2].astype(np.float64)
    hi = srt[rows, cnt // 2].astype(np.float64)
    return np.where(cnt % 2 == 1, lo, (lo + hi) / 2)


def _middle_pair(a, cnt, axis):
    """The entries of 0-based ranks (cnt - 1) // 2 and cnt // 2 of every line of a along
    axis (0: columns of (n, B), 1: rows of (B, n)), found by np.partition (NaN goes last)
    at the few distinct ranks of the block: the two middle values of the first cnt."""
    k1 = (cnt - 1) // 2
    k2 = cnt // 2
    part = np.partition(a, np.unique(np.concatenate([k1, k2])), axis=axis)
    lines = np.arange(cnt.size)
    if axis == 0:
        return part[k1, lines], part[k2, lines]
    return part[lines, k1], part[lines, k2]


def _median_partition(x, cnt):
    """numpy median of the valid values of each column of x (n, B) (cnt >= 1 valid):
    the same order statistics as :func:`_median_sorted`, by :func:`_middle_pair`."""
    lo, hi = _middle_pair(x, cnt, 0)
    return np.where(cnt % 2 == 1, lo, (lo + hi) / 2)


def _median_valid_index(valid):
    """np.median(np.arange(n)[valid]) per column of the bool array valid (n, B)."""
    n = valid.shape[0]
    cnt = np.count_nonzero(valid, axis=0)
    # 0-based positions of the valid entries, invalid ones pushed past the end
    idx = np.where(valid, np.arange(n)[:, None], n).T
    i1, i2 = _middle_pair(idx, cnt, 1)
    return np.where(cnt % 2 == 1, i1.astype(np.float64), (i1 + i2) / 2)


def _acf(y, nv, nlags):
    """pymannkendall ``__acf`` of the compressed columns y (n, B) (first nv[b] entries valid).

    Returns rho (nlags+1, B); entries beyond nv-1 are 0.  To reproduce
    pymannkendall bit for bit (the pre-whitened series can contain values that
    are equal in exact arithmetic, so the last bit decides S), the columns are
    grouped by their length and the sums are formed as numpy does them: the mean
    by a row-wise ``sum`` (pairwise summation, as ``ndarray.mean``), the lagged
    products by row-wise ``matmul`` (the BLAS dot behind ``np.correlate``), and
    the lag-0 sum of squares sequentially for series of at most 11 values
    (what ``np.correlate`` does there on this numpy/BLAS)."""
    n, B = y.shape
    acov = np.zeros((nlags + 1, B))
    for L in np.unique(nv):
        L = int(L)
        cols = np.flatnonzero(nv == L)
        yg = np.ascontiguousarray(y[:L, cols].T)  # (Bg, L)
        mean = yg.sum(axis=1) / L
        yc = yg - mean[:, None]
        if L <= 11:
            c0 = np.zeros(cols.size)
            for t in range(L):
                c0 = c0 + yc[:, t] * yc[:, t]
        else:
            c0 = np.matmul(yc[:, None, :], yc[:, :, None])[:, 0, 0]
        acov[0, cols] = c0 / L
        for k in range(1, min(nlags, L - 1) + 1):
            a = np.ascontiguousarray(yc[:, k:])
            b = np.ascontiguousarray(yc[:, :L - k])
            acov[k, cols] = np.matmul(a[:, None, :], b[:, :, None])[:, 0, 0] / L
    with np.errstate(divide="ignore", invalid="ignore"):
        return acov / acov[0]


def _compress(x):
    """Move the valid values of each column to the front (order kept), NaN padding after."""
    order = np.argsort(np.isnan(x), axis=0, kind="stable")
    return np.take_along_axis(x, order, axis=0)


def _average_ranks(y, nv):
    """scipy.stats.rankdata (average) of the first nv entries of each column; NaN elsewhere."""
    n, B = y.shape
    valid = np.arange(n)[:, None] < nv[None, :]
    yv = np.where(valid, y, np.nan)
    order = np.argsort(yv, axis=0, kind="stable")
    srt = np.take_along_axis(yv, order, axis=0)
    idx = np.arange(n, dtype=np.int64)[:, None]
    eq = np.zeros((n, B), bool)
    eq[1:] = srt[1:] == srt[:-1]
    start = np.where(eq, 0, idx)
    np.maximum.accumulate(start, axis=0, out=start)
    endm = np.zeros((n, B), bool)  # position whose successor is tied
    endm[:-1] = eq[1:]
    end = np.where(endm, n, idx)
    end = np.minimum.accumulate(end[::-1], axis=0)[::-1]
    rk = (start + 1 + end + 1) / 2.0
    out = np.empty_like(rk)
    np.put_along_axis(out, order, rk, axis=0)
    return np.where(valid, out, np.nan)


# ---------------------------------------------------------------------------
# per-block processing
# ---------------------------------------------------------------------------

def slope_pairs(n, variant, period):
    """Number of slope pairs of a gap-free series of n steps (within the seasons for
    ``variant='seasonal'``): the size of the slope set, which selects the path of
    :mod:`.selection` and sizes the driver's blocks."""
    if variant == "seasonal":
        ny = -(-n // period)
        return period * ny * (ny - 1) // 2
    return n * (n - 1) // 2


def process_block(xb, variant, alpha, period, lag, zci):
    """Mann-Kendall test and Theil-Sen slope of every column of one block of pixels.

    Parameters
    ----------
    xb : ndarray, shape (n, B), float64, C order
        Time-major values of B pixels (NaN = missing); every pixel has at least two
        valid values (the driver applies ``min_valid``).
    variant : str
        One of :data:`VARIANTS` (see the module docstring).
    alpha : float
        Significance level of the two-sided test (``trend`` band).
    period : int
        Season length (time steps per cycle) of the seasonal variant.
    lag : int or None
        Number of lags of ``hamed_rao`` / ``yue_wang`` (None: all lags).
    zci : float
        Standard normal quantile ``z_{1-ci_alpha/2}`` of the slope confidence interval.

    Returns
    -------
    dict
        Band name -> float64 array (B,) for every name of :data:`TREND_BANDS` except
        ``n_valid`` (the driver sets it): slope, slope_lower, slope_upper in input units
        per time step (per cycle for ``seasonal``), intercept in input units at time
        index 0, s, var_s, tau, z, p_value, trend in {-1, 0, +1}.
    """
    n, B = xb.shape
    res = {}
    long = slope_pairs(n, variant, period) > LONG_PAIRS  # the slope path that also yields S
    isn = np.isnan(xb)
    valid = ~isn
    nv = np.count_nonzero(valid, axis=0).astype(np.int64)
    if variant == "seasonal":
        medx = _median_partition(xb, nv)
        ny = -(-n // period)
        pad = ny * period - n
        xp = np.concatenate([xb, np.full((pad, B), np.nan)], axis=0) if pad else xb
        x3 = xp.reshape(ny, period, B)
        # seasons as separate columns: (ny, period*B)
        xsea = x3.reshape(ny, period * B)
        xsea32 = _exact_f32(xsea)
        tie, zp = _tie_term(_sorted_rows(xsea, xsea32), pairs=long)
        tie = tie.reshape(period, B)
        nvs = np.count_nonzero(~np.isnan(x3), axis=0).astype(np.int64)  # (period, B)
        var_s = _variance(nvs, tie).sum(axis=0)
        if long:
            zp = zp.reshape(period, B).sum(axis=0)
        slope, lower, upper, s, s_ok = block_sen(xb, var_s, zci, zp, period=period)
        rest = np.flatnonzero(~s_ok)
        if rest.size == B:
            s = _mk_score(xsea, xsea32).reshape(period, B).sum(axis=0)
        elif rest.size:  # S summed over the seasons, for the pixels the long path left
            cols = (np.arange(period)[:, None] * B + rest).ravel()
            xr = np.ascontiguousarray(xsea[:, cols])
            s[rest] = _mk_score(xr).reshape(period, rest.size).sum(axis=0)
        denom = (0.5 * nvs * (nvs - 1)).sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            tau = s / denom
        z = _z_score(s, var_s)
        p, trend = _p_trend(z, alpha)
        midx = _median_valid_index(valid)
        intercept = medx - midx / period * slope
        res.update(s=s.astype(np.float64), var_s=var_s, tau=tau, z=z, p_value=p, trend=trend,
                   slope=slope, slope_lower=lower, slope_upper=upper, intercept=intercept)
        return res

    xb32 = _exact_f32(xb)
    srt = _sorted_rows(xb, xb32)
    medx = _median_sorted(srt, nv)
    tie, zp = _tie_term(srt, pairs=long)
    var0 = _variance(nv, tie)
    slope, lower, upper, s0, s_ok = block_sen(xb, var0, zci, zp)
    rest = np.flatnonzero(~s_ok)
    if variant in ("pre_whitening", "trend_free_pre_whitening"):
        pass  # their S is that of the pre-whitened series (below)
    elif rest.size == B:
        s0 = _mk_score(xb, xb32)
    elif rest.size:  # S for the pixels the long path left
        s0[rest] = _mk_score(np.ascontiguousarray(xb[:, rest]),
                             None if xb32 is None else np.ascontiguousarray(xb32[:, rest]))
    midx = _median_valid_index(valid)
    intercept = medx - midx * slope
    res.update(slope=slope, slope_lower=lower, slope_upper=upper, intercept=intercept)
    nvf = nv.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        tau0 = s0 / (0.5 * nvf * (nvf - 1))

    if variant == "original":
        s, var_s, tau = s0, var0, tau0
    elif variant in ("hamed_rao", "yue_wang"):
        xc = _compress(xb)
        pos = np.arange(1, n + 1, dtype=np.float64)[:, None]
        xd = xc - pos * slope[None, :]
        maxlag = n - 1 if lag is None else min(int(lag), n - 1)
        lagcap = (nv - 1) if lag is None else np.minimum(int(lag), nv - 1)
        ii = np.arange(maxlag + 1)[:, None]
        use = (ii >= 1) & (ii <= lagcap[None, :])
        if variant == "hamed_rao":
            rk = _average_ranks(xd, nv)
            rho = _acf(rk, nv, maxlag)
            interval = _z_crit(alpha) / np.sqrt(nvf)
            inside = (rho <= interval[None, :]) & (rho >= -interval[None, :])
            w = (nvf - ii) * (nvf - ii - 1) * (nvf - ii - 2)
            with np.errstate(invalid="ignore"):
                sni = np.where(use & ~inside, w * rho, 0.0).sum(axis=0)
                n_ns = 1 + (2 / (nvf * (nvf - 1) * (nvf - 2))) * sni
        else:
            rho = _acf(xd, nv, maxlag)
            with np.errstate(invalid="ignore", divide="ignore"):
                sni = np.where(use, (1 - ii / nvf) * rho, 0.0).sum(axis=0)
            n_ns = 1 + 2 * sni
        var_s = var0 * n_ns
        s, tau = s0, tau0
        if variant == "hamed_rao":
            var_s = np.where(nv >= 3, var_s, np.nan)
    else:  # pre-whitening variants
        xc = _compress(xb)
        if variant == "trend_free_pre_whitening":
            pos = np.arange(1, n + 1, dtype=np.float64)[:, None]
            xc = xc - pos * slope[None, :]
        r1 = _acf(xc, nv, 1)[1]
        xw = xc[1:] - xc[:-1] * r1[None, :]
        # entries at or beyond the n-1 pre-whitened values are padding
        vm = np.arange(n - 1)[:, None] < (nv - 1)[None, :]
        if variant == "trend_free_pre_whitening":
            xw = xw + np.arange(1, n, dtype=np.float64)[:, None] * slope[None, :]
        xw = np.where(vm, xw, np.nan)
        n1 = nv - 1
        s = _mk_score(xw)
        var_s = _variance(n1, _tie_term(_sorted_rows(xw))[0])
        n1f = n1.astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            tau = s / (0.5 * n1f * (n1f - 1))
        bad = nv < 3
        s = np.where(bad, np.nan, s.astype(np.float64))
        var_s = np.where(bad, np.nan, var_s)
        tau = np.where(bad, np.nan, tau)
    s = np.asarray(s, dtype=np.float64)
    z = _z_score(np.nan_to_num(s), var_s)
    z = np.where(np.isnan(s), np.nan, z)
    p, trend = _p_trend(z, alpha)
    res.update(s=s, var_s=var_s, tau=tau, z=z, p_value=p, trend=trend)
    return res

