"""ecoresp_core.cube.scheduler and .files: chunk sizes from the memory budget, where a cube is
computed, and cubes read and written with the plugin's conventions (dates, date order, nodata,
packing, CRS) as the QGIS jobs read them, lazily and under temporary names."""

import os

import numpy as np
import pytest

from ecoresp_core.cube import files, scheduler
from ecoresp_core.errors import InputError
from ecoresp_core.io.series import open_series

from conftest import monthly_dates, write_stack

T, H, W = 26, 9, 13


@pytest.fixture
def cube_tif(tmp_path):
    rng = np.random.default_rng(7)
    values = rng.normal(10, 3, (T, H, W))
    values[:, 0, 0] = np.nan
    values[3, 4, 5] = np.nan
    dates = monthly_dates(2001, T)
    # the bands on file out of date order: every reader must see them sorted, like the QGIS jobs
    order = np.r_[1, 0, 2:T]
    path = write_stack(tmp_path / "cube.tif", values[order], [dates[i] for i in order], nodata=-9999.0)
    return path, values.astype("float32").astype("float64"), dates


def test_open_cube_reads_as_the_plugin_does(cube_tif):
    path, values, dates = cube_tif
    cube = files.open_cube(path, chunks={"y": 4, "x": 5})
    assert cube.dims == ("time", "y", "x") and cube.shape == (T, H, W)
    assert cube.chunks == ((T,), (4, 4, 1), (5, 5, 3))
    assert [d.strftime("%Y-%m-%d") for d in files.dates_of(cube)] == dates
    got = cube.values
    np.testing.assert_array_equal(got, open_series(path).read_block(0, H, "float32"))
    np.testing.assert_array_equal(got, values)
    # a chunk in the middle reads only its own rows and columns, with the same values
    np.testing.assert_array_equal(cube.isel(y=slice(5, 8), x=slice(6, 11)).values, values[:, 5:8, 6:11])
    grid = files.grid_of(cube)
    assert grid.same_as(open_series(path).grid)
    assert cube.x.values[0] == pytest.approx(10.25) and cube.y.values[0] == pytest.approx(49.75)


def test_write_cube_round_trips_geotiff_and_zarr(cube_tif, tmp_path):
    path, values, dates = cube_tif
    cube = files.open_cube(path, chunks={"y": 2, "x": 6})
    with scheduler.run_on(memory_mb=64, threads=2) as where:
        tif = files.write_cube((cube * 2).rename("er2"), str(tmp_path / "o.tif"), where, "test", {"k": 1})
        zarr = files.write_cube((cube * 2).rename("er2"), str(tmp_path / "o.zarr"), where, "test", {"k": 1})
    for out in (tif, zarr):
        back = files.open_cube(out)
        np.testing.assert_array_equal(back.values, 2 * values)
        assert [d.strftime("%Y-%m-%d") for d in files.dates_of(back)] == dates
        assert files.grid_of(back).same_as(files.grid_of(cube))
    from osgeo import gdal
    meta = gdal.Open(tif).GetMetadata()
    assert meta["ECORESP_ALGORITHM"] == "test" and '"k": 1' in meta["ECORESP_OPTIONS"]
    # nothing else is left in the folder: no temporary files
    assert sorted(os.listdir(tmp_path)) == ["cube.tif", "o.tif", "o.zarr"]


def test_a_failed_write_leaves_nothing_and_keeps_the_old_file(cube_tif, tmp_path):
    path, values, _ = cube_tif
    cube = files.open_cube(path)
    out = tmp_path / "o.tif"
    out.write_bytes(b"old")

    def boom(block):
        raise InputError("block failed")

    bad = cube.copy(data=cube.data.map_blocks(boom, dtype="float32"))
    with scheduler.run_on(memory_mb=64, threads=1) as where, pytest.raises(InputError, match="block failed"):
        files.write_cube(bad, str(out), where, "test")
    assert out.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["cube.tif", "o.tif"]


def test_chunk_sizes_follow_the_memory_budget():
    where = scheduler.Where(memory_mb=100, threads=2)
    # half of 100 MB shared by 2 threads: 25 MB a chunk
    assert where.chunk_budget_mb() == 25
    assert scheduler.chunk_pixels(8 * 1000, where) == 25 * 2 ** 20 // 8000
    assert scheduler.spatial_chunks(360, 720, 3276) == (4, 720)   # whole rows when a row fits
    assert scheduler.spatial_chunks(360, 720, 500) == (1, 500)     # else part of one row
    assert scheduler.spatial_chunks(10, 720, 10 ** 9) == (10, 720)


def test_run_on_refuses_bad_settings():
    with pytest.raises(InputError, match=r"memory budget \(memory_mb\): 5 MB is too small"):
        with scheduler.run_on(memory_mb=5):
            pass
    with pytest.raises(InputError, match="threads: 0 is not a positive number"):
        with scheduler.run_on(threads=0):
            pass


def test_open_cube_names_what_is_wrong(tmp_path):
    with pytest.raises(InputError, match=r"input: .*missing.tif: file not found"):
        files.open_cube(str(tmp_path / "missing.tif"))
    with pytest.raises(InputError, match=r"input: .*none.zarr: Zarr store not found"):
        files.open_cube(str(tmp_path / "none.zarr"))


def test_outputs_are_written_together_or_not_at_all(cube_tif, tmp_path):
    """Two outputs of one step: both written, from one computation per slab; when one of them would
    be empty (``why_empty``, as in the QGIS jobs), neither is written."""
    path, values, _ = cube_tif
    cube = files.open_cube(path, chunks={"y": 3})
    mean = cube.mean("time").rename("mean")
    with scheduler.run_on(memory_mb=64, threads=2) as where:
        files.write_outputs([files.Output(mean, tmp_path / "mean.tif"),
                             files.Output(cube.max("time").rename("max"), tmp_path / "max.zarr")],
                            where, "test")
        empty = (mean * np.nan).rename("empty")
        with pytest.raises(InputError, match=r"empty.tif: not written, every pixel of it would be nodata: none"):
            files.write_outputs([files.Output(mean, tmp_path / "mean2.tif"),
                                 files.Output(empty, tmp_path / "empty.tif", why_empty=lambda: "none")], where, "test")
    assert sorted(os.listdir(tmp_path)) == ["cube.tif", "max.zarr", "mean.tif"]
    from osgeo import gdal
    got = gdal.Open(str(tmp_path / "mean.tif")).ReadAsArray()
    np.testing.assert_allclose(got, np.nanmean(values, axis=0).astype("float32"), rtol=1e-6)
    import xarray as xr
    np.testing.assert_array_equal(xr.open_zarr(tmp_path / "max.zarr")["max"].values, np.nanmax(values, axis=0))
