"""Per-pixel partial correlation of detrended ER with each driver, and the dominant
driver (docs/methods.md section 15).

Definition (OLS residuals).  For ER ``y`` and drivers ``x_1..x_m`` of one pixel, the
partial correlation of ``y`` with ``x_j`` given the other ``k = m - 1`` drivers ``Z`` is
``corr(e_y, e_x)`` where ``e_y`` and ``e_x`` are the residuals of the OLS regressions of
``y`` and of ``x_j`` on ``[1, Z]``.  It is tested with
``t = r_p sqrt((n - 2 - k) / (1 - r_p^2))`` on ``df = n - 2 - k`` degrees of freedom
(two-sided p).  Equivalently ``r_p = -P_yx / sqrt(P_yy P_xx)`` with ``P`` the inverse of
the covariance (here: correlation) matrix of ``[y, x_1..x_m]``; this module uses that
route, batched over pixels with ``numpy.linalg.inv`` on ``(pixels, m+1, m+1)`` matrices,
which gives every driver's partial correlation from one inversion per pixel.  The tests
check it against per-pixel OLS residuals (``numpy.linalg.lstsq``) to 1e-10.

Choices:
- Gaps: a pixel uses the time steps where ER and *all* drivers are valid (the same steps
  for every driver, so that the regressions are on one sample).  ``n`` is that count; a
  pixel needs ``n >= max(min_valid, m + 2)`` (at least one degree of freedom).
- Degrees of freedom: ``n - 2 - k`` as in docs/methods.md, not reduced for the detrending.
- Degenerate pixels (a constant series, or drivers that are exactly collinear: the
  correlation matrix has a determinant below 1e-12) get NaN, not a number from a
  near-singular inversion.
- Dominant driver: ``argmax_j |r_p,j|`` among the drivers with ``p < alpha``; code
  ``j + 1`` (drivers numbered from 1 in the given order), ``NONE = 0`` when no driver is
  significant, ``NODATA = 255`` where the pixel was not computed.  ``dominant_r`` is the
  signed ``r_p`` of the winner (NaN for none / nodata).

Preparation (``prepare_series``), as docs/methods.md prescribes:
- ``mode='annual'``: monthly (or daily) series to calendar years; ER is summed, each
  driver is summed or averaged by name (``default_aggregation``: precipitation, wet days
  and frost days are sums, everything else means), overridable per driver; only complete
  calendar years are kept, and a pixel-year needs every month valid
  (``temporal.annual_aggregate``); ER is summed month by month as docs/methods.md says (a mean
  daily rate is not weighted by the days of the month);
- ``mode='monthly'``: anomalies from the mean seasonal cycle (monthly series);
- ``mode='asis'``: the series as given (already annual, or already anomalies).
Then every series is set to NaN where any of ER and the drivers is missing and is
detrended per pixel: ``'linear'`` (OLS line on the common valid steps, default),
``'diff'`` (first differences) or ``'none'``.
"""

import re

import numpy as np

from ..errors import InputError
from ..common.temporal import annual_aggregate, seasonal_anomalies
from ..common.detrend import detrend as _detrend

MODES = ("annual", "monthly", "asis")
DETRENDS = ("linear", "diff", "none")
NONE = 0
NODATA = 255
MAX_DRIVERS = 254
_SUM_TOKENS = {"pre", "pr", "prcp", "precip", "precipitation", "rain", "rainfall", "tp", "ppt",
               "wet", "wetdays", "frs", "frost", "frostdays"}


def default_aggregation(name):
    """'sum' for drivers named like precipitation, wet days or frost days (CRU ``pre``,
    ``wet``, ``frs``; ``pr``, ``precip``, ``rain``, ERA5 ``tp``), else 'mean'
    (temperature, humidity, VPD, radiation, soil moisture, SPEI, ...)."""
    tokens = [t for t in re.split(r"[^a-z0-9]+", str(name).lower()) if t]
    for t in tokens:
        if t in _SUM_TOKENS or t.startswith("precip") or t.startswith("rain"):
            return "sum"
    return "mean"


def aggregations_for(names, overrides=None):
    """Per-driver annual aggregation: ``default_aggregation`` unless ``overrides`` (a dict
    name -> 'sum'/'mean') says otherwise."""
    overrides = dict(overrides or {})
    unknown = [k for k in overrides if k not in names]
    if unknown:
        raise InputError(f"aggregation given for unknown driver(s) {', '.join(map(str, unknown))}; "
                         f"drivers are {', '.join(names)}")
    out = {}
    for n in names:
        how = overrides.get(n, default_aggregation(n))
        if how not in ("sum", "mean"):
            raise InputError(f"driver {n}: aggregation must be 'sum' or 'mean', not {how!r}")
        out[n] = how
    return out


def check_names(names):
    """Driver names: at least 2, unique, at most MAX_DRIVERS."""
    names = [str(n) for n in names]
    if len(names) < 2:
        raise InputError(f"attribution needs at least 2 drivers (got {len(names)}: {', '.join(names) or 'none'})")
    if len(names) > MAX_DRIVERS:
        raise InputError(f"at most {MAX_DRIVERS} drivers are supported (got {len(names)})")
    seen = set()
    for n in names:
        if not n.strip():
            raise InputError("a driver has an empty name")
        if n in seen:
            raise InputError(f"two drivers are named {n!r}; driver names must be unique")
        seen.add(n)
    return names


def detrend_series(values, how="linear"):
    """Detrend time-first ``values`` per pixel: 'linear', 'diff' or 'none'."""
    if how == "linear":
        return _detrend(values, method="linear")
    if how == "diff":
        return np.diff(np.asarray(values, dtype="float64"), axis=0)
    if how == "none":
        return np.asarray(values, dtype="float64")
    raise InputError(f"unknown detrending {how!r}; use one of {', '.join(DETRENDS)}")


def prepare_series(er, drivers, dates=None, names=None, mode="annual", detrend="linear",
                   aggregations=None):
    """ER ``(t, ...)`` and drivers (a list of ``(t, ...)`` arrays, or ``(m, t, ...)``) ->
    ``(er_d (t', ...), drivers_d (m, t', ...), dates')`` ready for ``partial_correlation``
    (see the module docstring for modes and detrending)."""
    if mode not in MODES:
        raise InputError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
    if detrend not in DETRENDS:
        raise InputError(f"unknown detrending {detrend!r}; use one of {', '.join(DETRENDS)}")
    er = np.asarray(er, dtype="float64")
    drivers = [np.asarray(d, dtype="float64") for d in drivers]
    names = check_names(names if names is not None else [f"x{i + 1}" for i in range(len(drivers))])
    if len(names) != len(drivers):
        raise InputError(f"{len(names)} driver names for {len(drivers)} drivers")
    for n, d in zip(names, drivers):
        if d.shape != er.shape:
            raise InputError(f"driver {n}: shape {d.shape} differs from ER {er.shape}")
    if mode == "annual":
        if dates is None:
            raise InputError("annual mode needs the dates of the time steps")
        aggs = aggregations_for(names, aggregations)
        er, out_dates = annual_aggregate(er, dates, "sum")
        drivers = [annual_aggregate(d, dates, aggs[n])[0] for n, d in zip(names, drivers)]
        dates = out_dates
    elif mode == "monthly":
        if dates is None:
            raise InputError("monthly anomalies need the dates of the time steps")
        er = seasonal_anomalies(er, dates)[0]
        drivers = [seasonal_anomalies(d, dates)[0] for d in drivers]
    stack = np.stack([er] + drivers)
    valid = ~np.any(np.isnan(stack), axis=0)
    stack[:, ~valid] = np.nan  # the common valid steps only
    if detrend == "linear":
        out = _linear_detrend_common(stack, valid)
    else:
        out = detrend_series(stack.swapaxes(0, 1), detrend).swapaxes(0, 1)  # time first for detrending
    if dates is not None and detrend == "diff":
        dates = list(dates)[1:]
    return out[0], out[1:], (list(dates) if dates is not None else None)


def _linear_detrend_common(stack, valid):
    """Linear detrending of every series of ``stack`` (q, t, ...) that share the valid steps
    ``valid`` (t, ...): the OLS line on those steps (time = step index), as
    ``trends.detrend.detrend(method='linear')`` per series, with the time moments computed
    once per pixel."""
    t = np.arange(stack.shape[1], dtype="float64").reshape((-1,) + (1,) * (stack.ndim - 2))
    n = valid.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        tbar = np.where(valid, t, 0.0).sum(axis=0) / n
        dt = np.where(valid, t - tbar, 0.0)
        sxx = (dt * dt).sum(axis=0)
        yv = np.where(valid, stack, 0.0)
        ybar = yv.sum(axis=1) / n
        b = (dt * yv).sum(axis=1) / sxx  # sum(dt) = 0, so sum(dt * (y - ybar)) = sum(dt * y)
        out = stack - ybar[:, None] - b[:, None] * (t - tbar)
    return np.where((n >= 2)[None, None], out, np.nan)


def _pvalue(r, df):
    from scipy import special

    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.abs(r) * np.sqrt(df / (1.0 - r * r))
        p = 2.0 * special.stdtr(df, -t)  # two-sided Student t tail (= 2 * stats.t.sf(t, df))
    return np.where(np.isfinite(r) & (df > 0), p, np.nan)


def partial_correlation(er, drivers, alpha=0.05, min_valid=None, det_min=1e-12):
    """Partial correlation of ``er`` ``(t, ...)`` with each of ``drivers`` ``(m, t, ...)``
    given the others, per pixel (series already prepared: see ``prepare_series``).

    Returns a dict: ``r`` and ``p`` ``(m, ...)``, ``n_valid`` ``(...)`` (common valid
    steps), ``df`` ``(...)``, ``dominant`` ``(...)`` uint8 (1..m, NONE, NODATA) and
    ``dominant_r`` ``(...)``."""
    er = np.asarray(er, dtype="float64")
    x = np.asarray(drivers, dtype="float64")
    if x.ndim < 2 or x.shape[1:] != er.shape:
        raise InputError(f"drivers of shape {x.shape} do not match ER {er.shape} (expected (m,) + ER shape)")
    m = x.shape[0]
    if m < 2:
        raise InputError(f"attribution needs at least 2 drivers (got {m})")
    if not 0 < alpha < 1:
        raise InputError(f"significance level must be between 0 and 1 (got {alpha})")
    shape = er.shape[1:]
    t = er.shape[0]
    q = m + 1
    stack = np.concatenate([er[None], x]).reshape(q, t, -1)  # (q, t, P)
    valid = np.all(np.isfinite(stack), axis=0)  # (t, P)
    n = valid.sum(axis=0)
    need = max(int(min_valid or 0), m + 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(valid, stack, 0.0).sum(axis=1) / n  # (q, P)
    xc = np.where(valid, stack - mean[:, None, :], 0.0)
    # second (corrected) centring pass: the rounding error of the mean is removed, so a constant
    # series is exactly 0 here (then d = 0 and the pixel is NaN, not rounding noise)
    with np.errstate(invalid="ignore", divide="ignore"):
        xc = np.where(valid, xc - (xc.sum(axis=1) / n)[:, None, :], 0.0)
    a = np.ascontiguousarray(xc.transpose(2, 0, 1))  # (P, q, t)
    cov = a @ a.transpose(0, 2, 1)  # (P, q, q)
    d = np.sqrt(np.einsum("pii->pi", cov))
    ok = (n >= need) & np.all(d > 0, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / (d[:, :, None] * d[:, None, :])
    eye = np.eye(q)
    corr[~ok] = eye
    sign, logdet = np.linalg.slogdet(corr)
    ok &= (sign > 0) & (logdet > np.log(det_min))
    corr[~ok] = eye
    prec = np.linalg.inv(corr)
    diag = np.einsum("pii->pi", prec)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = -prec[:, 0, 1:] / np.sqrt(diag[:, :1] * diag[:, 1:])  # (P, m)
    r = np.clip(r, -1.0, 1.0)
    r[~ok] = np.nan
    df = np.where(ok, n - 2 - (m - 1), 0).astype("float64")
    p = _pvalue(r, df[:, None])
    dom, dom_r = dominant_driver(r.T, p.T, alpha)
    dom[~ok] = NODATA
    return {"r": r.T.reshape((m,) + shape), "p": p.T.reshape((m,) + shape),
            "n_valid": n.reshape(shape), "df": df.reshape(shape),
            "dominant": dom.reshape(shape), "dominant_r": dom_r.reshape(shape)}


def dominant_driver(r, p, alpha=0.05):
    """``(dominant, dominant_r)`` from ``r`` and ``p`` ``(m, ...)``: the code 1..m of the
    driver with the largest ``|r|`` among those with ``p < alpha``, else NONE; NaN ``r``
    (uncomputed pixels) give NONE here (callers mark them NODATA)."""
    r = np.asarray(r, dtype="float64")
    p = np.asarray(p, dtype="float64")
    with np.errstate(invalid="ignore"):
        sig = (p < alpha) & np.isfinite(r)
    score = np.where(sig, np.abs(r), -1.0)
    j = np.argmax(score, axis=0)
    anysig = sig.any(axis=0)
    dom = np.where(anysig, j + 1, NONE).astype("uint8")
    dom_r = np.where(anysig, np.take_along_axis(r, j[None], axis=0)[0], np.nan)
    return dom, dom_r
