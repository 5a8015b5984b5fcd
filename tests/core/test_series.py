"""Reading raster time series (GeoTIFF stacks, NetCDF single/multi-variable) and writing
GeoTIFFs under a temporary name."""

import os

import numpy as np
import pytest
from osgeo import gdal

from ecoresp_core.errors import InputError
from ecoresp_core.common.timeaxis import format_date
from ecoresp_core.io.series import Grid, SeriesWriter, check_same_grid, open_series


def test_geotiff_stack_dates_nodata(stack_factory):
    rng = np.random.default_rng(1)
    v = rng.normal(10, 2, (5, 3, 4))
    v[2, 1, 1] = np.nan
    path = stack_factory(v, dates=["2001", "2002-01", "2003-01-01", "2004-01-01", "2005-01-01"], nodata=-9999.0)
    s = open_series(path)
    assert s.count == 5 and (s.grid.width, s.grid.height) == (4, 3)
    assert [format_date(d) for d in s.dates] == [f"{y}-01-01" for y in range(2001, 2006)]
    blk = s.read_block(1, 3)
    assert blk.shape == (5, 2, 4)
    assert np.isnan(blk[2, 0, 1])
    np.testing.assert_allclose(blk[0], v[0, 1:3].astype("float32"))


def test_iberia_netcdf_multivariable(iberia_nc):
    s = open_series(iberia_nc, "tas")
    assert s.count == 360 and (s.grid.width, s.grid.height) == (26, 16)
    assert format_date(s.dates[0]) == "1981-01-16" and format_date(s.dates[-1]) == "2010-12-16"
    assert "WGS 84" in s.grid.crs_wkt and s.units == "degC"
    full = s.read_block(0, 16)
    # 330 land cells (data README); sea is NaN; north-up (first row is 44N)
    assert int(np.sum(~np.isnan(full[0]))) == 330
    assert s.grid.geotransform[3] == 44.0 and s.grid.geotransform[5] == -0.5
    # against netCDF4 directly (lat ascending in the file, so flip)
    import netCDF4
    with netCDF4.Dataset(iberia_nc) as nc:
        raw = np.ma.filled(nc["tas"][:, :, :].astype("float64"), np.nan)[:, ::-1, :]
    np.testing.assert_array_equal(np.isnan(raw), np.isnan(full))
    np.testing.assert_allclose(full, raw, equal_nan=True)


def test_cru_fill_value_becomes_nan(cru_tmp_nc):
    s = open_series(cru_tmp_nc, "tmp")
    assert s.count == 1428 and format_date(s.dates[0]) == "1901-01-16"
    blk = s.read_block(0, s.grid.height)
    assert np.nanmax(blk) < 60  # no 9.96921e36 left
    assert int(np.sum(~np.isnan(blk[0]))) == 6  # 6 land cells (data README)


def test_packed_netcdf_is_unpacked(tmp_path):
    """ERA5-style packed NetCDF (int16 with scale_factor / add_offset and a _FillValue):
    the series reads the unpacked values (as netCDF4 decodes them), fill values as NaN,
    in float64; and read_band too."""
    import netCDF4

    from ecoresp_core.io.series import read_band

    rng = np.random.default_rng(3)
    true = 280 + rng.normal(0, 8, (24, 3, 4))
    path = str(tmp_path / "t2m.nc")
    with netCDF4.Dataset(path, "w") as nc:
        nc.createDimension("time", 24)
        nc.createDimension("latitude", 3)
        nc.createDimension("longitude", 4)
        t = nc.createVariable("time", "f8", ("time",))
        t.units, t.calendar = "days since 2000-01-01", "standard"
        t[:] = np.arange(24) * 30.5 + 15
        la = nc.createVariable("latitude", "f8", ("latitude",))
        la.units = "degrees_north"
        la[:] = [50.0, 49.75, 49.5]
        lo = nc.createVariable("longitude", "f8", ("longitude",))
        lo.units = "degrees_east"
        lo[:] = [10.0, 10.25, 10.5, 10.75]
        v = nc.createVariable("t2m", "i2", ("time", "latitude", "longitude"), fill_value=-32767)
        v.scale_factor, v.add_offset, v.units = 0.0025, 280.0, "K"
        v.set_auto_maskandscale(True)
        data = np.ma.masked_array(true, mask=np.zeros(true.shape, bool))
        data.mask[3, 1, 2] = True
        v[:] = data
        other = nc.createVariable("sp", "f4", ("time", "latitude", "longitude"))
        other[:] = 1e5
    with netCDF4.Dataset(path) as nc:
        expect = np.ma.filled(nc["t2m"][:].astype("float64"), np.nan)
    s = open_series(path, "t2m")
    assert s.value_dtype == "float64"
    got = s.read_block(0, 3)
    assert np.isnan(got[3, 1, 2]) and np.count_nonzero(np.isnan(got)) == 1
    np.testing.assert_allclose(got, expect, rtol=0, atol=1e-9, equal_nan=True)
    true[3, 1, 2] = np.nan
    np.testing.assert_allclose(got, true, rtol=0, atol=0.0025, equal_nan=True)  # within the packing step
    np.testing.assert_allclose(read_band(path, variable="t2m", band=4), expect[3], atol=1e-9, equal_nan=True)


def test_scaled_geotiff_and_float32_reading(stack_factory, tmp_path):
    """A GeoTIFF band with scale/offset is unpacked; a float32 stack reads losslessly as float32."""
    raw = np.arange(2 * 2 * 3, dtype="int16").reshape(3, 2, 2)
    path = str(tmp_path / "scaled.tif")
    ds = gdal.GetDriverByName("GTiff").Create(path, 2, 2, 3, gdal.GDT_Int16)
    ds.SetGeoTransform((0, 1, 0, 2, 0, -1))
    for i in range(3):
        b = ds.GetRasterBand(i + 1)
        b.WriteArray(raw[i])
        b.SetScale(0.5)
        b.SetOffset(-3.0)
        b.SetNoDataValue(5)
        b.SetDescription(f"{2001 + i}-01-01")
    ds = None
    s = open_series(path)
    assert s.value_dtype == "float64"
    expect = np.where(raw == 5, np.nan, raw * 0.5 - 3.0)
    np.testing.assert_array_equal(s.read_block(0, 2), expect)
    v = np.random.default_rng(0).normal(size=(4, 2, 3)).astype("float32")
    f32 = open_series(stack_factory(v))
    assert f32.value_dtype == "float32"
    np.testing.assert_array_equal(f32.read_block(0, 2, dtype=f32.value_dtype), v)


@pytest.mark.parametrize("make,match", [
    (lambda f, t: f(np.ones((1, 3, 3)) * np.arange(9).reshape(3, 3), dates=["2001"]), "has 1 band"),
    (lambda f, t: f(np.random.default_rng(0).normal(size=(3, 2, 2)), dates=["", "", ""]), "band 1 has no date"),
    (lambda f, t: f(np.random.default_rng(0).normal(size=(3, 2, 2)), dates=["2001", "2002", "soon"]),
     "band 3 description"),
])
def test_bad_stacks(stack_factory, tmp_path, make, match):
    path = make(stack_factory, tmp_path)
    with pytest.raises(InputError, match=match):
        open_series(path)


def test_dates_override_and_mismatch(stack_factory):
    path = stack_factory(np.random.default_rng(0).normal(size=(4, 2, 2)), dates=["", "", "", ""])
    s = open_series(path, dates="1990-01/P1M")
    assert [d.month for d in s.dates] == [1, 2, 3, 4]
    with pytest.raises(InputError, match="lists 3 dates but the raster has 4 bands"):
        open_series(path, dates="1990,1991,1992")


def test_unreadable_and_missing(tmp_path, iberia_nc):
    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"II*\x00garbage")
    with pytest.raises(InputError, match="broken.tif"):
        open_series(str(bad))
    with pytest.raises(InputError, match="file not found"):
        open_series(str(tmp_path / "nothere.nc"))
    with pytest.raises(InputError, match="has no variable 'tmp'.*tas, tasmax, tasmin, pr"):
        open_series(iberia_nc, "tmp")
    with pytest.raises(InputError, match="several variables"):
        open_series(iberia_nc)


def test_check_same_grid(stack_factory, iberia_nc):
    a = open_series(stack_factory(np.random.default_rng(0).normal(size=(3, 2, 2)), name="a.tif"))
    b = open_series(iberia_nc, "pr")
    with pytest.raises(InputError, match="grids differ: .*a.tif.*variable pr"):
        check_same_grid([a, b])
    check_same_grid([b, open_series(iberia_nc, "tas")])


def test_writer_renames_only_on_commit(tmp_path):
    grid = Grid(4, 3, (0, 1, 0, 3, 0, -1), "")
    out = tmp_path / "out.tif"
    w = SeriesWriter(str(out), grid, ["a", "b"], metadata={"X": {"k": 1}})
    w.write_block(0, np.arange(24, dtype=float).reshape(2, 3, 4))
    assert not out.exists() and len(os.listdir(tmp_path)) == 1
    w.commit()
    ds = gdal.Open(str(out))
    assert ds.GetRasterBand(2).GetDescription() == "b" and ds.GetMetadataItem("X") == '{"k": 1}'
    assert ds.GetRasterBand(2).ReadAsArray()[2, 3] == 23
    w2 = SeriesWriter(str(tmp_path / "fail.tif"), grid, ["a"])
    w2.write_block(0, np.ones((1, 3, 4)))
    w2.abort()
    assert sorted(os.listdir(tmp_path)) == ["out.tif"]
