"""Trend and detrend on cubes (ecoresp_core.cube.trends): the same numbers as the QGIS jobs
(jobs.trend.trend_raster, jobs.detrend.detrend_raster), bit for bit, in local dask and on a
two-worker LocalCluster, on inputs chunked two ways; GeoTIFF and Zarr in and out."""

import contextlib
import json

import numpy as np
import pytest
from conftest import monthly_dates, write_stack
from osgeo import gdal

from ecoresp_core.cube import trends as ct
from ecoresp_core.cube.files import open_cube, write_cube
from ecoresp_core.cube.scheduler import run_on
from ecoresp_core.errors import InputError
from ecoresp_core.io.series import open_series
from ecoresp_core.jobs.detrend import detrend_raster
from ecoresp_core.jobs.trend import trend_classes, trend_raster
from ecoresp_core.trends.trend import TREND_BANDS, mann_kendall

NT, NY, NX = 120, 13, 11
CHUNKINGS = [{"y": 3, "x": 4}, {"y": 5, "x": -1}]  # blocks of 3 x 4 pixels; whole rows, five at a time
TREND_CASES = {
    "original-year": dict(variant="original", slope_unit="year"),
    "seasonal-step": dict(variant="seasonal", slope_unit="step"),
    "annual-mean-yue_wang": dict(variant="yue_wang", aggregate="mean", min_valid=5),
}
DETREND_CASES = {"linear": dict(method="linear"), "seasonal_linear-mean": dict(method="seasonal_linear",
                                                                                  keep_mean=True)}


def monthly_series(seed=3):
    """float32 monthly series with a trend that varies in space, a seasonal cycle, ties (rounded
    values), gaps, a pixel without data and one with too few values."""
    rng = np.random.default_rng(seed)
    t = np.arange(NT)[:, None, None]
    v = (10 + np.linspace(-0.05, 0.05, NY * NX).reshape(1, NY, NX) * t + 4 * np.sin(t * 2 * np.pi / 12)
         + rng.normal(0, 1, (NT, NY, NX)))
    v = np.round(v, 1).astype("float32")
    v[rng.random(v.shape) < 0.05] = np.nan
    v[:, 0, 0] = np.nan
    v[8:, 12, 10] = np.nan
    return v


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cube_trends")
    return tmp, str(write_stack(tmp / "tas.tif", monthly_series(), monthly_dates(1990, NT), nodata=-9999.0))


def read_all(path):
    ds = gdal.Open(str(path))
    out = np.stack([ds.GetRasterBand(i + 1).ReadAsArray() for i in range(ds.RasterCount)])
    names = [ds.GetRasterBand(i + 1).GetDescription() for i in range(ds.RasterCount)]
    meta = ds.GetMetadata()
    meta["bands"] = [ds.GetRasterBand(i + 1).GetMetadata() for i in range(ds.RasterCount)]
    ds = None
    return out, names, meta


PLACES = ("local", "cluster")


@contextlib.contextmanager
def where_of(place, client, chunks=None):
    """A run_on context: dask's local threads (two, a 64 MB budget) or the two-worker cluster; with
    ``chunks``, the steps chunk space so (as ``--chunks`` of the command line)."""
    with run_on(client if place == "cluster" else None, memory_mb=64, threads=2) as where:
        where.chunks = chunks
        yield where


def assert_same_raster(got_path, want_path, same_input=True):
    got, got_names, got_meta = read_all(got_path)
    want, want_names, want_meta = read_all(want_path)
    assert got_names == want_names
    for i, name in enumerate(want_names):  # band by band, so that a failure names the band
        np.testing.assert_array_equal(got[i], want[i], err_msg=name)
    assert got_meta["ECORESP_ALGORITHM"] == want_meta["ECORESP_ALGORITHM"]
    assert got_meta["bands"] == want_meta["bands"]  # units, dates, the intercept's reference
    for key in ("ECORESP_OPTIONS", "ECORESP_INPUTS")[:2 if same_input else 1]:
        assert json.loads(got_meta[key]) == json.loads(want_meta[key]), key


@pytest.mark.parametrize("case", list(TREND_CASES))
def test_trend_as_the_qgis_job_locally_and_on_a_cluster(files, dask_cluster, case):
    tmp, src = files
    opts = TREND_CASES[case]  # keywords of trend_files (the algorithm's parameters); the job's below
    job = {("slope_per" if k == "slope_unit" else k): v for k, v in opts.items()}
    want, want_cls = str(tmp / f"job-{case}.tif"), str(tmp / f"job-{case}-cls.tif")
    summary = trend_raster(open_series(src), want, classes_path=want_cls, **job)
    assert summary["tested"] > 100
    for place in PLACES:
        for k, chunks in enumerate(CHUNKINGS):
            out, cls = str(tmp / f"{case}-{place}-{k}.tif"), str(tmp / f"{case}-{place}-{k}-cls.tif")
            with where_of(place, dask_cluster, chunks) as where:
                ct.trend_files(src, out, classes=cls, where=where, **opts)
            assert_same_raster(out, want)
            assert_same_raster(cls, want_cls)
            assert gdal.Open(cls).GetRasterBand(1).DataType == gdal.GDT_Byte


@pytest.mark.parametrize("case", list(DETREND_CASES))
def test_detrend_as_the_qgis_job_locally_and_on_a_cluster(files, dask_cluster, case):
    tmp, src = files
    opts = DETREND_CASES[case]
    want = str(tmp / f"djob-{case}.tif")
    detrend_raster(open_series(src), want, **opts)
    for place in PLACES:
        for k, chunks in enumerate(CHUNKINGS):
            out = str(tmp / f"d-{case}-{place}-{k}.tif")
            with where_of(place, dask_cluster, chunks) as where:
                ct.detrend_files(src, out, where=where, **opts)
            assert_same_raster(out, want)


def test_lazy_api_numpy_and_dask_backed(files):
    """trend() on a numpy-backed cube and on a dask cube in 2 x 3 pixel chunks: the kernel's numbers
    times the job's slope factor (12 per year on a monthly axis), and the job's classes."""
    _, src = files
    v = monthly_series().astype("float64")
    direct = mann_kendall(v, min_valid=10)
    cube = open_cube(src)
    with run_on(memory_mb=32, threads=2) as where:
        eager = ct.trend(cube.compute(), where=where)
        lazy = ct.trend(open_cube(src, chunks={"y": 2, "x": 3}), where=where, keep_chunks=True)
        assert lazy["slope"].data.numblocks == (7, 4)
        got_e, got_l = where.compute(eager.to_array().data, lazy.to_array().data)
    names = list(eager.data_vars)
    assert names == list(TREND_BANDS) + ["trend_class"]
    for i, b in enumerate(TREND_BANDS):
        want = direct[b] * (12.0 if b.startswith("slope") else 1.0)
        np.testing.assert_array_equal(got_e[i], want, err_msg=b)
        np.testing.assert_array_equal(got_l[i], want, err_msg=b)
    np.testing.assert_array_equal(got_l[-1], trend_classes(direct["slope"] * 12, direct["trend"]))
    assert lazy["slope"].attrs["units"] == "per year" and lazy.attrs["options"]["time_step"] == "monthly"


def test_zarr_round_trip(files, dask_cluster):
    """The input as a Zarr store (written from the GeoTIFF), the statistics and the detrended cube
    to Zarr on the cluster: the job's numbers (float64 in Zarr, the job's float32 after rounding)."""
    tmp, src = files
    import xarray as xr
    want_tif = str(tmp / "zjob.tif")
    trend_raster(open_series(src), want_tif)
    want, names, _ = read_all(want_tif)
    with where_of("cluster", dask_cluster, CHUNKINGS[0]) as where:
        write_cube(open_cube(src, chunks={"y": 4}), str(tmp / "tas.zarr"), where, "input")
        back = open_cube(str(tmp / "tas.zarr"))
        np.testing.assert_array_equal(back.values, open_cube(src).values)
        assert list(back.time.values) == list(open_cube(src).time.values)
        ct.trend_files(str(tmp / "tas.zarr"), str(tmp / "trend.tif"), where=where)
        where.chunks = CHUNKINGS[1]
        ct.trend_files(src, str(tmp / "trend.zarr"), where=where)
        ct.detrend_files(str(tmp / "tas.zarr"), str(tmp / "det.zarr"), where=where)
    assert_same_raster(str(tmp / "trend.tif"), want_tif, same_input=False)
    z = xr.open_zarr(str(tmp / "trend.zarr"))
    for i, b in enumerate(names):
        np.testing.assert_array_equal(z[b].values.astype("float32"), want[i], err_msg=b)
    assert z.attrs["ECORESP_ALGORITHM"] == "trend"
    detrend_raster(open_series(src), str(tmp / "djob.tif"))
    d = open_cube(str(tmp / "det.zarr"))
    np.testing.assert_array_equal(d.values.astype("float32"), read_all(str(tmp / "djob.tif"))[0])


def test_bad_input(files, tmp_path):
    _, src = files
    empty = str(write_stack(tmp_path / "empty.tif", np.full((24, 3, 3), np.nan), monthly_dates(2000, 24),
                            nodata=-9999.0))
    with pytest.raises(InputError, match="empty.tif: every pixel is nodata in every band"):
        ct.trend_files(empty, str(tmp_path / "o.tif"))
    with pytest.raises(InputError, match="minimum of 200 valid time steps"):
        ct.trend_files(src, str(tmp_path / "o.tif"), min_valid=200)
    short = monthly_series()[:30]
    short[:, :, :] = np.where(np.arange(30)[:, None, None] < 20, np.nan, short)
    p = str(write_stack(tmp_path / "short.tif", short, monthly_dates(2000, 30), nodata=-9999.0))
    with pytest.raises(InputError, match=r"o.tif: not written, every pixel of it would be nodata: no pixel has the "
                                         r"minimum number of valid time steps \(12 of the 30 time steps\); the most "
                                         "valid ones in a pixel are 10"):
        ct.trend_files(p, str(tmp_path / "o.tif"), min_valid=12)
    with pytest.raises(InputError, match="unknown trend test"):
        ct.trend_files(src, str(tmp_path / "o.tif"), variant="nope")
    with pytest.raises(InputError, match="unknown detrending method"):
        ct.detrend_files(src, str(tmp_path / "o.tif"), method="nope")
    assert not list(tmp_path.glob("o.*"))
