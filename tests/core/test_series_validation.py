"""Raster series that used to give silent wrong results (issue 15): bands out of date order or with
the same date, NetCDF calendars other than the Gregorian one, temperatures in K and vapour
pressure in kPa for derived drivers, and runs whose output would be nodata everywhere."""

import datetime as dt

import numpy as np
import pytest
from conftest import annual_dates, monthly_dates, write_stack
from series_inputs import mid_months_360, set_band_units, write_cf_series

from ecoresp_core.common import meteorology as met
from ecoresp_core.common.geometry import row_areas_m2
from ecoresp_core.common import temporal, timeaxis
from ecoresp_core.errors import InputError
from ecoresp_core.io.series import open_series
from ecoresp_core.jobs.derive import derive_raster
from ecoresp_core.jobs.detrend import detrend_raster
from ecoresp_core.jobs.integrate import integrate_raster
from ecoresp_core.jobs.trend import trend_raster

SHUFFLE = [3, 0, 7, 1, 9, 5, 2, 8, 4, 6, 11, 10]  # the band at each position: dates out of order


def _band(path, name):
    from osgeo import gdal

    ds = gdal.Open(str(path))
    return next(ds.GetRasterBand(i + 1).ReadAsArray() for i in range(ds.RasterCount)
                if ds.GetRasterBand(i + 1).GetDescription() == name)


def _shuffled_stack(tmp_path):
    """12 annual values 5, 7, ..., 27 (slope 2 per year) written with the bands out of date order."""
    values = (5.0 + 2.0 * np.arange(12))[:, None, None] * np.ones((12, 2, 3))
    dates = annual_dates(2000, 12)
    path = write_stack(tmp_path / "shuffled.tif", values[SHUFFLE], [dates[i] for i in SHUFFLE])
    return path, values, dates


# -- 1. bands out of date order, duplicated dates ---------------------------------------------

def test_bands_out_of_order_are_read_in_date_order(tmp_path):
    path, values, dates = _shuffled_stack(tmp_path)
    src = open_series(path)
    assert src.date_strings() == dates
    assert src.band_numbers == [SHUFFLE.index(i) + 1 for i in range(12)]
    assert "band 2, 2000-01-01, follows band 1, 2003-01-01" in src.order_note
    np.testing.assert_array_equal(src.read_block(0, 2), values)
    np.testing.assert_array_equal(src.sample()[:, :, 0], values[:, :, 0])


def test_trend_per_step_on_bands_out_of_order(tmp_path):
    path, _, _ = _shuffled_stack(tmp_path)
    out = tmp_path / "trend.tif"
    res = trend_raster(open_series(path), str(out), slope_per="step", min_valid=5)
    assert res["increasing"] == 6 and res["decreasing"] == 0
    np.testing.assert_array_equal(_band(out, "slope"), 2.0)
    np.testing.assert_array_equal(_band(out, "intercept"), 5.0)
    np.testing.assert_array_equal(_band(out, "tau"), 1.0)


def test_linear_detrend_on_bands_out_of_order(tmp_path):
    path, _, dates = _shuffled_stack(tmp_path)
    out = tmp_path / "det.tif"
    detrend_raster(open_series(path), str(out), method="linear", keep_mean=True)
    got = open_series(out)
    assert got.date_strings() == dates and got.order_note is None  # written in date order
    np.testing.assert_allclose(got.read_block(0, 2), 16.0, atol=1e-5)  # a straight line: only its mean stays


def test_duplicated_dates_are_refused(tmp_path):
    dates = annual_dates(2000, 6)
    dates[4] = dates[1]
    path = write_stack(tmp_path / "dup.tif", np.ones((6, 2, 2)), dates)
    with pytest.raises(InputError, match=r"dup\.tif: bands 2 and 5 have the same date 2001-01-01"):
        open_series(path)
    with pytest.raises(InputError, match=r"bands 1 and 3 have the same date 1990-01-01"):
        open_series(write_stack(tmp_path / "ok.tif", np.ones((4, 2, 2)), annual_dates(2000, 4)),
                    dates="1990 1991 1990 1992")


# -- 2. CF calendars ---------------------------------------------------------------------------

def test_month_and_year_lengths_follow_the_calendar():
    months = np.arange(1, 13)
    assert timeaxis.days_in_month(np.full(12, 2000), months, "360_day").tolist() == [30.0] * 12
    assert timeaxis.days_in_month(2000, 2, "noleap") == 28.0
    assert timeaxis.days_in_month(2001, 2, "all_leap") == 29.0
    assert timeaxis.days_in_month(1900, 2, "julian") == 29.0 and timeaxis.days_in_month(1900, 2) == 28.0
    assert [timeaxis.days_in_year(2000, c) for c in ("standard", "noleap", "366_day", "360_day")] == \
        [366, 365, 366, 360]
    with pytest.raises(InputError, match="calendar 'lunar' is not supported"):
        timeaxis.days_in_month(2000, 1, "lunar")


def test_integrate_annual_sum_with_a_360_day_calendar(tmp_path):
    """1 g C m-2 d-1 over 12 months of 30 days: 360 g C m-2 in the year (not 366)."""
    path = write_cf_series(tmp_path / "er360.nc", np.ones((24, 2, 3)), mid_months_360(24), "360_day")
    src = open_series(path)
    annual = tmp_path / "annual.tif"
    rows, _ = integrate_raster(src, unit="gC_m2_d", annual_path=str(annual))
    got = open_series(annual, dates=["2000", "2001"]).read_block(0, 2)
    np.testing.assert_array_equal(got, 360.0)
    area_m2 = 3 * row_areas_m2(src.grid.geotransform, 2).sum()
    assert [r["total_PgC"] for r in rows] == pytest.approx([360.0 * area_m2 * 1e-15] * 2, rel=1e-12)
    assert src.calendar == "360_day" and src.date_strings()[1] == "2000-02-15"


def test_derived_mm_per_day_in_360_day_and_noleap_calendars(tmp_path):
    pr = np.full((12, 2, 2), 60.0)
    src = open_series(write_cf_series(tmp_path / "pr360.nc", pr, mid_months_360(12), "360_day", "mm/month"))
    out = tmp_path / "pr_day.tif"
    res = derive_raster("mm_month_to_mm_day", src, str(out))
    np.testing.assert_array_equal(open_series(out).read_block(0, 2), 2.0)
    assert res["calendar"] == "360_day"
    # noleap: February 2000 has 28 days
    days = np.cumsum([0, 31, 28])[:3] + 14
    src = open_series(write_cf_series(tmp_path / "prnl.nc", pr[:3], days, "noleap", "mm/month"))
    derive_raster("mm_month_to_mm_day", src, str(out))
    np.testing.assert_allclose(open_series(out).read_block(0, 2)[:, 0, 0], 60.0 / np.array([31, 28, 31]),
                               rtol=1e-6)


def test_outputs_keep_a_360_day_calendar(tmp_path):
    """Dated outputs of a 360_day series carry the calendar: read back (2000-02-30 exists), a chained
    integration still counts 30-day months."""
    src = open_series(write_cf_series(tmp_path / "r.nc", np.ones((24, 2, 2)), [30 * i + 29 for i in range(24)],
                                      "360_day", "g C m-2 d-1"))
    assert src.date_strings()[1] == "2000-02-30"
    monthly = tmp_path / "monthly.tif"
    derive_raster("mm_day_to_mm_month", src, str(monthly))
    got = open_series(monthly)
    assert got.calendar == "360_day" and got.date_strings()[:3] == ["2000-01-30", "2000-02-30", "2000-03-30"]
    np.testing.assert_array_equal(got.read_block(0, 2), 30.0)
    annual = tmp_path / "annual.tif"
    integrate_raster(got, unit="gC_m2_month", annual_path=str(annual))
    np.testing.assert_array_equal(open_series(annual).read_block(0, 2), 360.0)
    detrended = tmp_path / "det.nc"  # a CF NetCDF output: its time axis in the 360_day calendar
    detrend_raster(src, str(detrended), method="seasonal", keep_mean=True)
    back = open_series(detrended)
    assert back.calendar == "360_day" and back.date_strings() == src.date_strings()


def test_predicted_er_keeps_the_drivers_360_day_calendar(tmp_path):
    """ER predicted from 360_day drivers is dated in that calendar: integrating it counts 30-day months."""
    import pandas as pd

    from ecoresp_core.jobs.predict import predict_rasters
    from ecoresp_core.upscaling.fit import fit_upscaler
    from ecoresp_core.upscaling.model import save_model

    ta = np.linspace(-5.0, 25.0, 60)
    table = pd.DataFrame({"site_id": [f"S{i % 5}" for i in range(60)], "TA": ta, "ER": 1.0 + 0.1 * ta})
    fit = fit_upscaler(table, "ER", ["TA"], n_splits=3, n_estimators=5, importance_repeats=1,
                       units={"TA": "degC"}, target_unit="g C m-2 d-1")
    model = save_model(fit["model"], tmp_path / "m.npz")
    grid_ta = np.random.default_rng(2).uniform(0.0, 20.0, (12, 2, 2))
    driver = write_cf_series(tmp_path / "ta.nc", grid_ta, mid_months_360(12), "360_day", "degC", variable="TA")
    out = tmp_path / "er.tif"
    predict_rasters(model, {"TA": open_series(driver, "TA")}, str(out))
    er = open_series(out)
    assert er.calendar == "360_day"
    annual = tmp_path / "annual.tif"
    integrate_raster(er, unit="gC_m2_d", annual_path=str(annual))
    np.testing.assert_allclose(_band(annual, "2000-01-01"), 30.0 * er.read_block(0, 2).sum(axis=0), rtol=1e-6)


def test_daily_series_in_non_standard_calendars(tmp_path):
    # noleap: 28 February is followed by 1 March, a regular daily axis
    nl = write_cf_series(tmp_path / "nl.nc", np.ones((4, 1, 1)), [57, 58, 59, 60], "noleap")
    assert timeaxis.time_step(open_series(nl).dates) == "daily"
    # 360_day: two complete years of 360 days; the annual sum and the slope per year count 360 days
    values = np.arange(720.0)[:, None, None] * np.ones((720, 2, 2))
    path = write_cf_series(tmp_path / "d360.nc", values, np.arange(720), "360_day")
    src = open_series(path)
    annual, _ = temporal.annual_aggregate(values[:, :1, :1], src.dates, "sum")
    assert annual[:, 0, 0].tolist() == [float(np.arange(360).sum()), float(np.arange(360, 720).sum())]
    out = tmp_path / "t.tif"
    trend_raster(src, str(out), slope_per="year", min_valid=10)
    np.testing.assert_array_equal(_band(out, "slope"), 360.0)


# -- 3. derived drivers: temperatures in K, vapour pressure in kPa ------------------------------

def _vap_tmp(tmp_path, tmp_offset=0.0, vap_scale=1.0, tmp_units=None, vap_units=None):
    rng = np.random.default_rng(7)
    tmp = rng.uniform(-5.0, 30.0, (6, 4, 5))
    vap = met.esat_hpa(tmp) * rng.uniform(0.3, 0.95, tmp.shape)
    dates = monthly_dates(2001, 6)
    a = write_stack(tmp_path / "vap.tif", vap * vap_scale, dates, dtype="Float64")
    b = write_stack(tmp_path / "tmp.tif", tmp + tmp_offset, dates, dtype="Float64")
    for path, unit in ((a, vap_units), (b, tmp_units)):
        if unit:
            set_band_units(path, unit)
    return open_series(a), open_series(b), met.vpd_from_vap_tmp(vap, tmp)


def test_derive_vpd_with_temperature_labelled_kelvin_is_converted(tmp_path):
    vap, tmp, expect = _vap_tmp(tmp_path, tmp_offset=273.15, tmp_units="K")
    out = tmp_path / "vpd.tif"
    res = derive_raster("vpd", vap, str(out), tmp)
    np.testing.assert_allclose(open_series(out).read_block(0, 4), expect, rtol=1e-5, atol=1e-4)
    assert res["notes"] == [f"{tmp.label} (tmp of vpd, expected in degC): unit 'K', converted to degC (-273.15)"]


def test_derive_refuses_kelvin_without_unit_and_kpa(tmp_path):
    vap, tmp, _ = _vap_tmp(tmp_path, tmp_offset=273.15)
    out = tmp_path / "vpd.tif"
    with pytest.raises(InputError, match=r"tmp\.tif \(tmp of vpd, expected in degC\): median 2[89]\d\.\d+ is "
                                         r"implausible for a temperature in degC; it looks like K"):
        derive_raster("vpd", vap, str(out), tmp)
    with pytest.raises(InputError, match=r"tmp\.tif \(tmn of dtr, expected in degC\): median"):
        derive_raster("dtr", open_series(write_stack(tmp_path / "tmx.tif", np.full((6, 4, 5), 25.0),
                                                     monthly_dates(2001, 6))), str(out), tmp)
    vap, tmp, _ = _vap_tmp(tmp_path, vap_scale=0.1)
    with pytest.raises(InputError, match=r"vap\.tif \(vap of rh, expected in hPa\): .* looks like kPa"):
        derive_raster("rh", vap, str(out), tmp)
    vap, tmp, _ = _vap_tmp(tmp_path, vap_scale=100.0)
    with pytest.raises(InputError, match=r"vap\.tif \(vap of vpd, expected in hPa\): .* looks like Pa"):
        derive_raster("vpd", vap, str(out), tmp)
    assert not out.exists()


def test_derive_vap_labelled_kpa_is_converted_and_k_to_c_checks(tmp_path):
    vap, tmp, expect = _vap_tmp(tmp_path, vap_scale=0.1, vap_units="kPa")
    out = tmp_path / "vpd.tif"
    res = derive_raster("vpd", vap, str(out), tmp)
    np.testing.assert_allclose(open_series(out).read_block(0, 4), expect, rtol=1e-5, atol=1e-4)
    assert res["notes"] == [f"{vap.label} (vap of vpd, expected in hPa): unit 'kPa', converted to hPa (x10)"]
    with pytest.raises(InputError, match=r"tmp\.tif \(temperature of k_to_c, expected in K\): median .* looks "
                                         "like degC already"):
        derive_raster("k_to_c", tmp, str(out))
    with pytest.raises(InputError, match=r"its unit attribute is 'degC': nothing to convert with k_to_c"):
        derive_raster("k_to_c", open_series(set_band_units(tmp.path, "degC")), str(out))


# -- 4. outputs that would be nodata everywhere -----------------------------------------------

def test_trend_without_enough_valid_steps_fails(tmp_path):
    v = np.random.default_rng(1).normal(size=(12, 3, 3))
    v[:, :, :] = np.where(np.arange(12)[:, None, None] % 2 == 0, v, np.nan)  # 6 valid steps per pixel
    v[7, 0, 0] = 1.0  # one pixel with 7
    out = tmp_path / "t.tif"
    with pytest.raises(InputError, match=r"t\.tif: not written, every pixel of it would be nodata: no pixel has "
                                         r"the minimum number of valid time steps \(10 of the 12 time steps\); "
                                         r"the most valid ones in a pixel are 7"):
        trend_raster(open_series(write_stack(tmp_path / "s.tif", v, annual_dates(1990, 12))), str(out),
                     min_valid=10, classes_path=str(tmp_path / "c.tif"))
    assert not out.exists() and not (tmp_path / "c.tif").exists()


def test_trend_aggregated_without_complete_years_fails(tmp_path):
    v = np.ones((36, 2, 2))
    v[::12] = np.nan  # every January missing: no complete year anywhere
    out = tmp_path / "t.tif"
    with pytest.raises(InputError, match=r"no pixel has the minimum number of valid time steps \(3 of the 3 "
                                         r"annual values\); the most valid ones in a pixel are 0"):
        trend_raster(open_series(write_stack(tmp_path / "s.tif", v, monthly_dates(2000, 36))), str(out),
                     min_valid=3, aggregate="mean")


def test_linear_detrend_without_two_valid_steps_fails(tmp_path):
    v = np.full((5, 2, 2), np.nan)
    v[np.arange(4) % 5, [0, 0, 1, 1], [0, 1, 0, 1]] = 3.0  # one valid value per pixel
    out = tmp_path / "d.tif"
    with pytest.raises(InputError, match=r"no pixel has the 2 valid time steps that linear detrending needs; "
                                         r"the most valid ones in a pixel are 1"):
        detrend_raster(open_series(write_stack(tmp_path / "s.tif", v, annual_dates(2000, 5))), str(out))
    assert not out.exists()


def test_derive_with_disjoint_inputs_fails(tmp_path):
    dates = monthly_dates(2001, 3)
    vap = np.full((3, 2, 2), 10.0)
    tmp = np.full((3, 2, 2), 15.0)
    vap[:, 0, :] = np.nan
    tmp[:, 1, :] = np.nan
    a = open_series(write_stack(tmp_path / "vap.tif", vap, dates, nodata=-9999.0))
    b = open_series(write_stack(tmp_path / "tmp.tif", tmp, dates, nodata=-9999.0))
    out = tmp_path / "rh.tif"
    with pytest.raises(InputError, match=r"rh\.tif: not written, every pixel of it would be nodata: .*vap\.tif has 2 "
                                         r"pixel\(s\) with a value; .*tmp\.tif has 2 pixel\(s\) with a value, but no "
                                         "pixel has a value in both inputs in the same month"):
        derive_raster("rh", a, str(out), b)
    assert not out.exists()


def test_dates_are_python_datetimes_in_the_standard_calendar(tmp_path):
    days = [14, 45]
    src = open_series(write_cf_series(tmp_path / "std.nc", np.ones((2, 1, 1)), days, "standard"))
    assert src.calendar == "standard" and src.dates[1] == dt.datetime(2000, 2, 15)
    assert timeaxis.month_lengths(src.dates).tolist() == [31.0, 29.0]
