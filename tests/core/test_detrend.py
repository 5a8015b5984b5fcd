"""Detrending and calendar aggregation against independent computations."""

import numpy as np
import pytest
import scipy.signal

from ecoresp_core.common.detrend import detrend, linear_trend
from ecoresp_core.errors import InputError
from ecoresp_core.common.timeaxis import expand_dates_spec
from ecoresp_core.common.temporal import annual_aggregate, seasonal_anomalies


def test_linear_detrend_matches_scipy_without_gaps():
    rng = np.random.default_rng(3)
    y = rng.normal(size=(30, 5, 6)) + 0.3 * np.arange(30)[:, None, None]
    np.testing.assert_allclose(detrend(y), scipy.signal.detrend(y, axis=0, type="linear"), atol=1e-12)


def test_linear_detrend_with_gaps_matches_polyfit_per_pixel():
    rng = np.random.default_rng(4)
    y = rng.normal(size=(25, 40)) + rng.normal(size=40) * np.arange(25)[:, None]
    y[rng.random(y.shape) < 0.2] = np.nan
    y[:, 0] = np.nan
    y[:24, 1] = np.nan  # one valid value: cannot fit
    out = detrend(y)
    a, b = linear_trend(y)
    for p in range(2, 40):
        ok = ~np.isnan(y[:, p])
        t = np.arange(25)[ok]
        slope, icpt = np.polyfit(t, y[ok, p], 1)
        assert b[p] == pytest.approx(slope, rel=1e-10, abs=1e-12)
        assert a[p] == pytest.approx(icpt, rel=1e-10, abs=1e-12)
        np.testing.assert_allclose(out[ok, p], y[ok, p] - (icpt + slope * t), atol=1e-10)
        assert np.all(np.isnan(out[~ok, p]))
    assert np.all(np.isnan(out[:, :2]))


def test_keep_mean_and_seasonal():
    dates = expand_dates_spec("2001-01/P1M", 48)
    t = np.arange(48)
    cycle = 10 * np.sin(2 * np.pi * t / 12)
    y = (5 + 0.1 * t + cycle)[:, None] * np.array([1.0, 2.0])
    lin = detrend(y, keep_mean=True)
    np.testing.assert_allclose(lin.mean(axis=0), y.mean(axis=0))
    anom, clim = seasonal_anomalies(y, dates)
    months = np.array([d.month for d in dates])
    for m in range(1, 13):
        np.testing.assert_allclose(clim[m - 1], y[months == m].mean(axis=0))
    both = detrend(y, dates, "seasonal_linear")
    manual = anom - np.array([np.polyval(np.polyfit(t, anom[:, p], 1), t) for p in range(2)]).T
    np.testing.assert_allclose(both, manual, atol=1e-10)
    assert np.abs(both).max() < 0.1 * np.abs(cycle).max() * 2  # cycle and trend are gone
    with pytest.raises(InputError, match="monthly"):
        detrend(y[:10], expand_dates_spec("2001/P1Y", 10), "seasonal")


def test_annual_aggregate_mean_sum_and_incomplete_years():
    dates = expand_dates_spec("2000-07/P1M", 42)  # Jul 2000 .. Dec 2003: 2000 incomplete
    rng = np.random.default_rng(5)
    v = rng.normal(size=(42, 3))
    v[20, 1] = np.nan  # Mar 2002 missing in pixel 1
    mean, ad = annual_aggregate(v, dates, "mean")
    assert [d.year for d in ad] == [2001, 2002, 2003]
    np.testing.assert_allclose(mean[0], v[6:18].mean(axis=0))
    assert np.isnan(mean[1, 1]) and not np.isnan(mean[1, 0])
    total, _ = annual_aggregate(v, dates, "sum", min_steps=11)
    np.testing.assert_allclose(total[1, 1], np.nanmean(v[18:30, 1]) * 12)
    np.testing.assert_allclose(total[2], v[30:42].sum(axis=0))
    with pytest.raises(InputError, match="regular monthly or daily"):
        annual_aggregate(v[:5], expand_dates_spec("2001/P1Y", 5))
