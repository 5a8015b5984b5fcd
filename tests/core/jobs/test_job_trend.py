"""Trend and detrend jobs (ecoresp_core.jobs.trend, .detrend) and the xarray entry points
(ecoresp_core.cube.trends): block processing, units, classes, provenance, errors, Cancel."""

import json
import os

import numpy as np
import pytest
from conftest import monthly_dates
from osgeo import gdal

from ecoresp_core.errors import Cancelled, InputError
from ecoresp_core.io.series import open_series
from ecoresp_core.jobs.detrend import detrend_raster
from ecoresp_core.jobs.trend import trend_classes, trend_raster
from ecoresp_core.common.temporal import annual_aggregate
from ecoresp_core.trends.trend import TREND_BANDS, mann_kendall


def read_bands(path):
    ds = gdal.Open(path)
    return {ds.GetRasterBand(i + 1).GetDescription(): ds.GetRasterBand(i + 1).ReadAsArray().astype(float)
            for i in range(ds.RasterCount)}, ds


def test_blocks_do_not_change_results(stack_factory, tmp_path):
    rng = np.random.default_rng(7)
    v = np.round(rng.normal(5, 1, (24, 37, 11)) + 0.04 * np.arange(24)[:, None, None], 1).astype("float32")
    v[rng.random(v.shape) < 0.08] = np.nan
    src = open_series(stack_factory(v, nodata=-9999.0))
    one, many = str(tmp_path / "one.tif"), str(tmp_path / "many.tif")
    trend_raster(src, one, min_valid=8, budget_mb=512)
    n = trend_raster(src, many, min_valid=8, budget_mb=0.01)  # ~1 row per block
    a, _ = read_bands(one)
    b, _ = read_bands(many)
    for k in TREND_BANDS:
        np.testing.assert_array_equal(a[k], b[k])
    expect = mann_kendall(v.astype(float), min_valid=8)
    np.testing.assert_allclose(a["p_value"], expect["p_value"].astype("float32"), equal_nan=True)
    assert n["tested"] == int(np.sum(~np.isnan(expect["slope"])))


def test_monthly_slope_per_year_and_annual_aggregation(stack_factory, tmp_path):
    rng = np.random.default_rng(8)
    nt = 120
    v = (10 + 0.02 * np.arange(nt)[:, None, None] + 5 * np.sin(np.arange(nt) * 2 * np.pi / 12)[:, None, None]
         + rng.normal(0, 0.3, (nt, 3, 4)))
    src = open_series(stack_factory(v, dates=monthly_dates(2001, nt)))
    out = str(tmp_path / "m.tif")
    trend_raster(src, out, slope_per="year", min_valid=10)
    per_year, ds = read_bands(out)
    trend_raster(src, str(tmp_path / "s.tif"), slope_per="step", min_valid=10)
    per_step, _ = read_bands(str(tmp_path / "s.tif"))
    np.testing.assert_allclose(per_year["slope"], 12 * per_step["slope"], rtol=1e-6)
    assert "per year" in ds.GetRasterBand(1).GetMetadataItem("units")
    agg = str(tmp_path / "a.tif")
    trend_raster(src, agg, aggregate="mean", min_valid=5)
    got, ds = read_bands(agg)
    annual, _ = annual_aggregate(v.astype("float32").astype(float), src.dates, "mean")
    expect = mann_kendall(annual, min_valid=5)
    np.testing.assert_allclose(got["slope"], expect["slope"].astype("float32"), rtol=1e-6)
    opts = json.loads(ds.GetMetadataItem("ECORESP_OPTIONS"))
    assert opts["aggregate"] == "mean" and opts["time_step"] == "annual" and opts["variant"] == "original"
    versions = json.loads(ds.GetMetadataItem("ECORESP_VERSIONS"))
    assert {"ecoresp", "numpy", "gdal"} <= set(versions)
    seas = str(tmp_path / "seas.tif")
    trend_raster(src, seas, variant="seasonal", min_valid=10)
    got, _ = read_bands(seas)
    expect = mann_kendall(v.astype("float32").astype(float), variant="seasonal", period=12, min_valid=10)
    np.testing.assert_allclose(got["slope"], expect["slope"].astype("float32"), rtol=1e-6)
    with pytest.raises(InputError, match="seasonal"):
        trend_raster(open_series(stack_factory(v[:20], name="y.tif")), str(tmp_path / "x.tif"), variant="seasonal")


def test_classes_raster_and_style(stack_factory, tmp_path):
    slope = np.array([-1.0, -1.0, 0.0, 1.0, 1.0, np.nan])
    trend = np.array([-1.0, 0.0, 0.0, 0.0, 1.0, np.nan])
    assert trend_classes(slope, trend).tolist() == [1, 2, 3, 4, 5, 0]
    v = (np.random.default_rng(1).normal(size=(15, 4, 4))
         + np.linspace(-1, 1, 16).reshape(1, 4, 4) * np.arange(15)[:, None, None])
    src = open_series(stack_factory(v))
    cls = str(tmp_path / "classes.tif")
    trend_raster(src, str(tmp_path / "t.tif"), classes_path=cls, min_valid=10)
    cds = gdal.Open(cls)
    band = cds.GetRasterBand(1)
    assert band.DataType == gdal.GDT_Byte and band.GetNoDataValue() == 0
    assert band.GetColorTable().GetColorEntry(5)[:3] == (0xb2, 0x18, 0x2b)
    qml = open(str(tmp_path / "classes.qml")).read()
    assert 'label="significant increase"' in qml and 'type="paletted"' in qml
    assert set(np.unique(band.ReadAsArray())) <= {1, 2, 3, 4, 5}


def test_errors_and_cancel_leave_no_file(stack_factory, tmp_path):
    src = open_series(stack_factory(np.full((12, 3, 3), np.nan), nodata=-9999.0, name="empty.tif"))
    with pytest.raises(InputError, match="empty.tif: every pixel is nodata"):
        trend_raster(src, str(tmp_path / "o.tif"))
    good = open_series(stack_factory(np.random.default_rng(0).normal(size=(12, 30, 3)), name="g.tif"))
    with pytest.raises(InputError, match="minimum of 20 valid time steps is more than the 12"):
        trend_raster(good, str(tmp_path / "o.tif"), min_valid=20)
    calls = []

    def cancel_after_two():
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(Cancelled):
        trend_raster(good, str(tmp_path / "o.tif"), budget_mb=0.001, cancelled=cancel_after_two,
                     classes_path=str(tmp_path / "c.tif"))
    with pytest.raises(Cancelled):
        detrend_raster(good, str(tmp_path / "d.tif"), budget_mb=0.001, cancelled=lambda: True)
    assert sorted(os.listdir(tmp_path)) == ["empty.tif", "g.tif"]


def test_detrend_raster_keeps_dates(stack_factory, tmp_path):
    v = np.random.default_rng(2).normal(size=(36, 5, 6)) + np.arange(36)[:, None, None]
    path = stack_factory(v, dates=monthly_dates(1990, 36))
    out = str(tmp_path / "d.tif")
    detrend_raster(open_series(path), out, method="linear")
    got, ds = read_bands(out)
    assert list(got) == monthly_dates(1990, 36)
    from ecoresp_core.common.detrend import detrend
    expect = detrend(v.astype("float32").astype(float))
    np.testing.assert_allclose(np.stack(list(got.values())), expect.astype("float32"), atol=1e-5)
    assert json.loads(ds.GetMetadataItem("ECORESP_OPTIONS"))["method"] == "linear"


def test_xarray_and_dask_entry_points(iberia_nc):
    """The cube steps on a NetCDF opened by xarray itself (lat/lon dims, latitude running south to
    north): numpy- and dask-backed give the kernel's numbers pixel for pixel."""
    xr = pytest.importorskip("xarray")
    pytest.importorskip("dask")
    from ecoresp_core.cube.trends import detrend, trend

    da = xr.open_dataset(iberia_nc)["tas"].isel(time=slice(0, 120))
    eager = trend(da, min_valid=10, slope_per="step")
    lazy = trend(da.chunk({"lat": 5}), min_valid=10, slope_per="step", keep_chunks=True)
    assert lazy["slope"].chunks[0] == (1, 5, 5, 5)  # the caller's chunks, north row first
    xr.testing.assert_identical(eager.compute(), lazy.compute())
    direct = mann_kendall(da.values.astype(float), min_valid=10)
    north_first = eager.sortby("y")  # the steps put the northern row first; the kernel had lat ascending
    np.testing.assert_array_equal(north_first["s"].values, direct["s"])
    np.testing.assert_array_equal(north_first["slope"].values, direct["slope"])
    det = detrend(da.chunk({"lat": 4}), method="seasonal_linear").compute()
    assert det.dims == ("time", "y", "x") and det.shape == (120, da.sizes["lat"], da.sizes["lon"])
