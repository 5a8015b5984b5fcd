"""Raster series inputs that used to give silent wrong results (issue 15), run as a user runs them
(qgis_process): bands out of date order, a NetCDF 360_day calendar, temperatures in K for
derivedriver, and a trend whose output would be nodata everywhere."""

import numpy as np
import pytest
from conftest import HAS_QGIS_PROCESS, annual_dates, monthly_dates, write_stack
from osgeo import gdal
from series_inputs import mid_months_360, set_band_units, write_cf_series
import test_qgis_process

from ecoresp_core.common import meteorology as met

pytestmark = pytest.mark.skipif(not HAS_QGIS_PROCESS, reason="needs qgis_process")
run_json = test_qgis_process.run_json  # the fixture: run_json(alg, **params) -> (process, --json answer)


def _bands(path):
    ds = gdal.Open(str(path))
    return {ds.GetRasterBand(i + 1).GetDescription(): ds.GetRasterBand(i + 1).ReadAsArray()
            for i in range(ds.RasterCount)}


def test_trend_per_step_follows_dates_not_band_order(run_json, tmp_path):
    """Values rise by 2 a year; the bands are stored out of date order.  Read in date order, every
    pixel has a significant increase of exactly 2 per step; two bands with the same date stop."""
    order = [3, 0, 7, 1, 9, 5, 2, 8, 4, 6, 11, 10]
    values = (5.0 + 2.0 * np.arange(12))[:, None, None] * np.ones((12, 2, 3))
    dates = annual_dates(2000, 12)
    src = write_stack(tmp_path / "shuffled.tif", values[order], [dates[i] for i in order])
    out = tmp_path / "t.tif"
    proc, res = run_json("ecoresp:trend", INPUT=src, SLOPE_UNIT=1, MIN_VALID=5, OUTPUT=out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    bands = _bands(out)
    np.testing.assert_array_equal(bands["slope"], 2.0)  # in band order: 1.236
    np.testing.assert_array_equal(bands["intercept"], 5.0)
    assert (res["results"]["N_INCREASING"], res["results"]["N_DECREASING"]) == (6, 0)
    assert "the bands are not in date order" in proc.stdout + proc.stderr
    dup = write_stack(tmp_path / "dup.tif", values, [dates[i] for i in (0, 1, 2, 3, 1, 5, 6, 7, 8, 9, 10, 11)])
    proc, _ = run_json("ecoresp:trend", INPUT=dup, OUTPUT=tmp_path / "never.tif")
    assert proc.returncode == 1
    assert "dup.tif: bands 2 and 5 have the same date 2001-01-01" in proc.stdout + proc.stderr
    assert not (tmp_path / "never.tif").exists()


def test_integrate_360_day_calendar_annual_sum(run_json, tmp_path):
    """1 g C m-2 d-1 in every month of a 360_day NetCDF: 360 g C m-2 per year, not 366 or 365."""
    src = write_cf_series(tmp_path / "er360.nc", np.ones((24, 2, 3)), mid_months_360(24), "360_day",
                          "g C m-2 d-1")
    annual = tmp_path / "annual.tif"
    proc, _ = run_json("ecoresp:integrate", INPUT_FILE=src, VARIABLE="er", UNIT=0, OUTPUT=tmp_path / "tot.csv",
                       ANNUAL=annual)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert list(_bands(annual)) == ["2000-01-01", "2001-01-01"]
    for arr in _bands(annual).values():
        np.testing.assert_array_equal(arr, 360.0)


def test_derivedriver_temperatures_in_kelvin(run_json, tmp_path):
    """tmp in K: converted when its unit says K (the VPD is that of degC), refused with the layer
    named when it has no unit."""
    rng = np.random.default_rng(7)
    tmp = rng.uniform(-5.0, 30.0, (6, 3, 4))
    vap = met.esat_hpa(tmp) * rng.uniform(0.3, 0.95, tmp.shape)
    dates = monthly_dates(2001, 6)
    vap_path = write_stack(tmp_path / "vap.tif", vap, dates, dtype="Float64")
    tmp_k = write_stack(tmp_path / "tmp_k.tif", tmp + 273.15, dates, dtype="Float64")
    out = tmp_path / "vpd.tif"
    proc, _ = run_json("ecoresp:derivedriver", KIND=1, FIRST=vap_path, SECOND=tmp_k, OUTPUT=out)
    assert proc.returncode == 1
    assert ("tmp_k.tif (tmp of vpd, expected in degC): median" in proc.stdout + proc.stderr
            and "is implausible for a temperature in degC; it looks like K" in proc.stdout + proc.stderr)
    assert not out.exists()
    set_band_units(tmp_k, "K")
    proc, _ = run_json("ecoresp:derivedriver", KIND=1, FIRST=vap_path, SECOND=tmp_k, OUTPUT=out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "unit 'K', converted to degC (-273.15)" in proc.stdout
    got = np.stack(list(_bands(out).values()))
    np.testing.assert_allclose(got, met.vpd_from_vap_tmp(vap, tmp), rtol=1e-5, atol=1e-4)


def test_trend_all_nodata_output_fails(run_json, tmp_path):
    """6 valid years per pixel (7 in one) and at least 10 asked: exit 1 saying so, no file."""
    v = np.random.default_rng(1).normal(size=(12, 3, 3))
    v = np.where(np.arange(12)[:, None, None] % 2 == 0, v, np.nan)
    v[7, 0, 0] = 1.0
    src = write_stack(tmp_path / "s.tif", v, annual_dates(1990, 12), nodata=-9999.0)
    out = tmp_path / "t.tif"
    proc, _ = run_json("ecoresp:trend", INPUT=src, MIN_VALID=10, OUTPUT=out, CLASSES=tmp_path / "c.tif")
    assert proc.returncode == 1
    assert ("every pixel of it would be nodata: no pixel has the minimum number of valid time steps (10 of the "
            "12 time steps); the most valid ones in a pixel are 7") in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not out.exists() and not (tmp_path / "c.tif").exists()
