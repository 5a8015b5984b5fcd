"""Per-pixel detrending of time-first arrays ``(t, ...)`` (docs/methods.md section 15).

Linear detrending removes the ordinary least-squares line ``a + b*t`` fitted to the
valid values of each pixel, with ``t`` the time-step index 0..n-1 (as
``scipy.signal.detrend(type='linear')`` does on gap-free series).  Values keep their
units; NaN stays NaN.
"""

import numpy as np

from ..errors import InputError
from .temporal import seasonal_anomalies

METHODS = ("linear", "seasonal", "seasonal_linear")


def linear_trend(values):
    """OLS intercept and slope per pixel (slope per time step, intercept at t = 0) from
    the valid values; NaN where fewer than 2 valid values.  Returns ``(a, b)``."""
    y = np.asarray(values, dtype="float64")
    t = np.arange(y.shape[0], dtype="float64").reshape((-1,) + (1,) * (y.ndim - 1))
    valid = ~np.isnan(y)
    n = valid.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        tv = np.where(valid, t, 0.0)
        yv = np.where(valid, y, 0.0)
        tbar = tv.sum(axis=0) / n
        ybar = yv.sum(axis=0) / n
        dt = np.where(valid, t - tbar, 0.0)
        sxx = (dt * dt).sum(axis=0)
        sxy = (dt * (yv - ybar)).sum(axis=0)
        b = sxy / sxx
        a = ybar - b * tbar
    ok = n >= 2
    return np.where(ok, a, np.nan), np.where(ok, b, np.nan)


def detrend(values, dates=None, method="linear", keep_mean=False):
    """Detrend a series.

    - ``linear``: subtract the per-pixel OLS line.
    - ``seasonal``: anomalies from the mean seasonal cycle (monthly series; ``dates``
      needed).
    - ``seasonal_linear``: seasonal anomalies, then linear detrending.

    ``keep_mean`` adds each pixel's mean back so the output keeps the level of the input
    (useful for maps); otherwise the output has zero mean per pixel.
    Returns an array of the input's shape (float64).
    """
    if method not in METHODS:
        raise InputError(f"unknown detrending method {method!r}; use one of {METHODS}")
    y = np.asarray(values, dtype="float64")
    if y.ndim < 1 or y.shape[0] < 2:
        raise InputError("detrending needs at least 2 time steps")
    with np.errstate(invalid="ignore"):
        cnt = np.sum(~np.isnan(y), axis=0)
        mean = np.where(cnt > 0, np.nansum(y, axis=0) / np.maximum(cnt, 1), np.nan)
    out = y
    if method in ("seasonal", "seasonal_linear"):
        if dates is None:
            raise InputError("seasonal detrending needs the dates of the time steps")
        out, _ = seasonal_anomalies(out, dates)
    if method in ("linear", "seasonal_linear"):
        a, b = linear_trend(out)
        t = np.arange(y.shape[0], dtype="float64").reshape((-1,) + (1,) * (y.ndim - 1))
        out = out - (a + b * t)
    if keep_mean:
        out = out + mean
    return out
