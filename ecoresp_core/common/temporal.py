"""Calendar operations on time-first arrays ``(t, ...)``: annual aggregation and
anomalies from the mean seasonal cycle.  NaN marks missing values."""

import datetime as _dt

import numpy as np

from ..errors import InputError
from .timeaxis import calendar_of, date_parts, days_in_year, time_step

AGGREGATIONS = ("mean", "sum")


def annual_aggregate(values, dates, how="mean", min_steps=None):
    """Aggregate a monthly (or daily) series to calendar years.

    ``how``: 'mean' (temperature, humidity, radiation, ...) or 'sum' (precipitation,
    monthly ER totals, ...).  A year is kept only if the time axis covers it completely
    (12 months, or every day of the dates' calendar: 360 in ``360_day``); years cut by the start or
    end of the axis are dropped.
    Per pixel, a year needs at least ``min_steps`` valid values (default: all of them);
    with fewer it is NaN.  With missing steps allowed, 'sum' is the mean of the valid
    steps times the number of steps in the year (missing steps filled with the mean).

    Returns ``(annual_values (years, ...), annual_dates)`` with dates on 1 January.
    """
    if how not in AGGREGATIONS:
        raise InputError(f"unknown aggregation {how!r}; use one of {AGGREGATIONS}")
    step = time_step(dates)
    if step not in ("monthly", "daily"):
        raise InputError("annual aggregation needs a regular monthly or daily time axis "
                         f"(found {step or 'an irregular axis'})")
    values = np.asarray(values, dtype="float64")
    years = date_parts(dates)[0]
    cal = calendar_of(dates)
    out, out_dates = [], []
    for y in np.unique(years):
        idx = np.nonzero(years == y)[0]
        full = 12 if step == "monthly" else days_in_year(y, cal)
        if len(idx) < full:
            continue
        block = values[idx[0]:idx[-1] + 1]
        need = full if min_steps is None else int(min_steps)
        nvalid = np.sum(~np.isnan(block), axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.nansum(block, axis=0) / nvalid
        agg = mean * full if how == "sum" else mean
        agg = np.where(nvalid >= max(need, 1), agg, np.nan)
        out.append(agg)
        out_dates.append(_dt.datetime(int(y), 1, 1))
    if len(out) < 2:
        raise InputError(f"annual aggregation leaves {len(out)} complete year(s); at least 2 are needed")
    return np.stack(out), out_dates


def seasonal_anomalies(values, dates):
    """Subtract each calendar month's mean (over all years, NaN ignored) from a monthly
    series; returns ``(anomalies, climatology (12, ...))``."""
    if time_step(dates) != "monthly":
        raise InputError("anomalies from the mean seasonal cycle need a regular monthly time axis")
    values = np.asarray(values, dtype="float64")
    months = date_parts(dates)[1]
    clim = np.full((12,) + values.shape[1:], np.nan)
    out = np.empty_like(values)
    for m in range(1, 13):
        sel = months == m
        if not sel.any():
            continue
        with np.errstate(invalid="ignore"):
            cnt = np.sum(~np.isnan(values[sel]), axis=0)
            clim[m - 1] = np.where(cnt > 0, np.nansum(values[sel], axis=0) / np.maximum(cnt, 1), np.nan)
        out[sel] = values[sel] - clim[m - 1]
    return out, clim
