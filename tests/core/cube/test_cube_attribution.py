"""Partial correlation and random-forest attribution on cubes (ecoresp_core.cube.attribution): the
same numbers as the QGIS jobs (jobs.attribution.partialcorr_raster, rf_raster), bit for bit, in
local dask and on a two-worker LocalCluster, whatever the chunking."""

import numpy as np
import pytest
from conftest import monthly_dates, write_stack
from osgeo import gdal

from ecoresp_core.attribution import partialcorr as pc
from ecoresp_core.cube import attribution as cat
from ecoresp_core.cube.files import open_cube
from ecoresp_core.cube.scheduler import run_on
from ecoresp_core.errors import InputError
from ecoresp_core.io.series import open_series
from ecoresp_core.jobs import attribution as jobs

NAMES = ["TA", "pre", "SM"]
YEARS, NY, NX = 16, 7, 11
CHUNKINGS = [{"y": 3, "x": 5}, {"y": 2, "x": -1}]  # blocks of 3 x 5 pixels; whole rows, two at a time


def monthly_cube(seed=0):
    """Monthly ER and drivers with a known dominant driver per pixel, gaps (a missing month in some
    pixel-years, one pixel without data, one with a constant ER)."""
    rng = np.random.default_rng(seed)
    ann = rng.normal(size=(3, YEARS, NY, NX))
    truth = rng.integers(0, 3, size=(NY, NX))
    er_ann = np.take_along_axis(ann, truth[None, None], axis=0)[0] * 2 + 0.6 * rng.normal(size=(YEARS, NY, NX))
    season = np.sin(np.arange(12) * 2 * np.pi / 12)[:, None, None]
    cyc = np.tile(season, (YEARS, 1, 1))
    noise = 0.3 * rng.normal(size=(4, YEARS * 12, NY, NX))
    er = np.repeat(er_ann + 50, 12, axis=0) / 12 + cyc + noise[0]
    ta = np.repeat(ann[0] + 10, 12, axis=0) + 5 * cyc + noise[1]
    pre = np.repeat(ann[1] + 80, 12, axis=0) / 12 + noise[2]
    sm = np.repeat(ann[2] + 30, 12, axis=0) + cyc + noise[3]
    holes = rng.random(er.shape) < 0.004
    er[holes] = np.nan
    er[:, 0, 0] = np.nan
    er[:, 6, 10] = 4.0
    return er, [ta, pre, sm]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cube_attribution")
    er, drv = monthly_cube()
    dates = monthly_dates(1990, er.shape[0])
    paths = {"er": write_stack(tmp / "er.tif", er, dates, nodata=-9999.0)}
    for n, d in zip(NAMES, drv):
        paths[n] = write_stack(tmp / f"{n}.tif", d, dates, nodata=-9999.0)
    return tmp, paths


def read_all(path):
    ds = gdal.Open(str(path))
    out = np.stack([ds.GetRasterBand(i + 1).ReadAsArray() for i in range(ds.RasterCount)])
    names = [ds.GetRasterBand(i + 1).GetDescription() for i in range(ds.RasterCount)]
    nodata = ds.GetRasterBand(1).GetNoDataValue()
    ds = None
    return out, names, nodata


def cubes(paths, chunks):
    return (open_cube(paths["er"], chunks=chunks),
            {n: open_cube(paths[n], chunks=chunks) for n in NAMES})


def job_inputs(paths):
    return open_series(paths["er"]), [open_series(paths[n]) for n in NAMES]


@pytest.fixture(scope="module")
def pc_job(files):
    tmp, paths = files
    src, drivers = job_inputs(paths)
    out, dom, domr = tmp / "job_pc.tif", tmp / "job_dom.tif", tmp / "job_domr.tif"
    jobs.partialcorr_raster(src, drivers, NAMES, str(out), str(dom), str(domr), budget_mb=1)
    return read_all(out), read_all(dom)[0][0], read_all(domr)[0][0]


@pytest.fixture(scope="module")
def pc_kernel(files):
    """The kernels on the whole grid at once, in float64 (what every chunk must reproduce)."""
    _, paths = files
    src, drivers = job_inputs(paths)
    er, drv, _ = jobs._read_prepared(src, drivers, NAMES, 0, NY, "annual", "linear",
                                     pc.aggregations_for(NAMES))
    return pc.partial_correlation(er, drv, alpha=0.05, min_valid=10)


def compute(ds, where):
    return dict(zip(ds.data_vars, where.compute(*[ds[v].data for v in ds.data_vars])))


def check_pc(values, job, kernel):
    (out, bands, _), dom, domr = job
    assert bands == ["r_TA", "p_TA", "r_pre", "p_pre", "r_SM", "p_SM", "n_valid"]
    m = len(NAMES)
    for j, n in enumerate(NAMES):
        np.testing.assert_array_equal(values[f"r_{n}"], kernel["r"][j])
        np.testing.assert_array_equal(values[f"p_{n}"], kernel["p"][j])
    computed = kernel["dominant"] != pc.NODATA
    np.testing.assert_array_equal(values["n_valid"], np.where(computed, kernel["n_valid"], np.nan))
    np.testing.assert_array_equal(values["dominant_driver"], kernel["dominant"])
    np.testing.assert_array_equal(values["dominant_r"], kernel["dominant_r"])
    # the QGIS job's files (Float32 / Byte)
    stack = np.stack([values[b] for b in bands]).astype("float32")
    np.testing.assert_array_equal(stack, out)
    np.testing.assert_array_equal(values["dominant_driver"], dom)
    np.testing.assert_array_equal(values["dominant_r"].astype("float32"), domr)
    # the inputs make every case happen: not computed (no data, constant ER), none, each driver
    assert values["dominant_driver"].dtype == np.uint8
    codes = set(np.unique(values["dominant_driver"]).tolist())
    assert {pc.NODATA, 1, 2, 3} <= codes and values["dominant_driver"][0, 0] == pc.NODATA
    assert np.isnan(values["r_TA"][6, 10]) and np.isfinite(values["r_TA"]).sum() >= NY * NX - 2 - 3
    assert values["n_valid"][computed].min() >= 10 and values["n_valid"][computed].max() == YEARS
    assert m == 3


@pytest.mark.parametrize("chunks", CHUNKINGS, ids=["3x5", "rows"])
def test_partial_correlation_local_equals_qgis_job(files, pc_job, pc_kernel, chunks):
    _, paths = files
    er, drivers = cubes(paths, chunks)
    with run_on(None, memory_mb=64, threads=2) as where:
        ds = cat.partial_correlation(er, drivers, where=where, keep_chunks=True)
        assert ds["r_TA"].data.chunks == (tuple(er.chunks[1]), tuple(er.chunks[2]))
        assert len(ds["r_TA"].data.chunks[0]) > 1
        values = compute(ds, where)
    assert list(ds.data_vars) == ds.attrs["output_bands"] + ["dominant_driver", "dominant_r"]
    check_pc(values, pc_job, pc_kernel)


def test_partial_correlation_budget_chunks(files, pc_job, pc_kernel):
    """Chunks sized by the budget (not the caller's), from numpy-backed cubes."""
    _, paths = files
    er, drivers = cubes(paths, None)
    er = er.load()
    drivers = {n: d.load() for n, d in drivers.items()}
    with run_on(None, memory_mb=32, threads=8) as where:
        ds = cat.partial_correlation(er, drivers, where=where)
        values = compute(ds, where)
    check_pc(values, pc_job, pc_kernel)


@pytest.mark.parametrize("chunks", CHUNKINGS, ids=["3x5", "rows"])
def test_partial_correlation_cluster_equals_qgis_job(files, pc_job, pc_kernel, dask_cluster, chunks):
    _, paths = files
    er, drivers = cubes(paths, chunks)
    with run_on(dask_cluster) as where:
        assert where.distributed and where.details["workers"] == 2
        ds = cat.partial_correlation(er, drivers, where=where, keep_chunks=True)
        values = compute(ds, where)
    check_pc(values, pc_job, pc_kernel)


def test_partialcorrelation_files_equal_the_job_files(files, pc_job, dask_cluster):
    tmp, paths = files
    out, dom, domr = tmp / "cube_pc.tif", tmp / "cube_dom.tif", tmp / "cube_domr.tif"
    with run_on(dask_cluster) as where:
        got = cat.partialcorrelation_files(paths["er"], {n: paths[n] for n in NAMES}, str(out), str(dom),
                                           str(domr), where=where)
    assert got == {"output": str(out), "dominant": str(dom), "dominant_r": str(domr)}
    (job_out, job_bands, _), job_dom, job_domr = pc_job
    values, bands, _ = read_all(out)
    assert bands == job_bands
    np.testing.assert_array_equal(values, job_out)
    np.testing.assert_array_equal(read_all(dom)[0][0], job_dom)
    np.testing.assert_array_equal(read_all(domr)[0][0], job_domr)
    ds = gdal.Open(str(dom))
    assert ds.GetRasterBand(1).GetMetadataItem("CLASS_NAMES") == "0=none;1=TA;2=pre;3=SM"
    assert ds.GetRasterBand(1).GetNoDataValue() == 255
    assert ds.GetMetadataItem("ECORESP_ALGORITHM") == "partialcorrelation"
    ds = None
    codes, names, _ = jobs.read_dominant(str(dom))
    assert names == NAMES and np.array_equal(codes, job_dom.astype("int64"))


# -- random forest --------------------------------------------------------------------------------
RF = dict(n_trees=12, max_depth=4, seed=7)


@pytest.fixture(scope="module")
def rf_job(files):
    tmp, paths = files
    src, drivers = job_inputs(paths)
    outs = {}
    for importance, extra in (("oob", {}), ("train", {"max_features": 0.5})):
        out, dom = tmp / f"job_rf_{importance}.tif", tmp / f"job_rfdom_{importance}.tif"
        jobs.rf_raster(src, drivers, NAMES, str(out), str(dom), importance=importance, budget_mb=1, **RF, **extra)
        outs[importance] = (read_all(out), read_all(dom)[0][0], extra)
    return outs


def check_rf(values, job):
    (out, bands, _), dom, _ = job
    assert bands == [f"rel_{n}" for n in NAMES] + [f"imp_{n}" for n in NAMES]
    stack = np.stack([values[b] for b in bands])
    np.testing.assert_array_equal(stack.astype("float32"), out)
    np.testing.assert_array_equal(values["dominant_driver"], dom)
    assert values["dominant_driver"].dtype == np.uint8
    assert values["dominant_driver"][0, 0] == pc.NODATA and values["dominant_driver"][6, 10] == pc.NODATA
    assert {1, 2, 3} <= set(np.unique(values["dominant_driver"]).tolist())
    ok = (values["dominant_driver"] != pc.NODATA) & (values["dominant_driver"] != pc.NONE)
    assert ok.sum() >= NY * NX - 10
    np.testing.assert_allclose(sum(values[f"rel_{n}"] for n in NAMES)[ok], 1.0, rtol=1e-12)


@pytest.mark.parametrize("importance", ["oob", "train"])
@pytest.mark.parametrize("chunks", CHUNKINGS, ids=["3x5", "rows"])
def test_rf_attribution_local_equals_qgis_job(files, rf_job, chunks, importance):
    _, paths = files
    er, drivers = cubes(paths, chunks)
    extra = rf_job[importance][2]
    with run_on(None, memory_mb=256, threads=2) as where:
        ds = cat.rf_attribution(er, drivers, importance=importance, where=where, keep_chunks=True, **RF, **extra)
        assert len(ds["rel_TA"].data.chunks[0]) > 1
        values = compute(ds, where)
    check_rf(values, rf_job[importance])


@pytest.mark.parametrize("chunks", CHUNKINGS, ids=["3x5", "rows"])
def test_rf_attribution_cluster_equals_qgis_job(files, rf_job, dask_cluster, chunks):
    _, paths = files
    er, drivers = cubes(paths, chunks)
    with run_on(dask_cluster) as where:
        ds = cat.rf_attribution(er, drivers, where=where, keep_chunks=True, **RF)
        values = compute(ds, where)
    check_rf(values, rf_job["oob"])


def test_rfattribution_files_equal_the_job_files(files, rf_job):
    tmp, paths = files
    out, dom = tmp / "cube_rf.tif", tmp / "cube_rfdom.tif"
    got = cat.rfattribution_files(paths["er"], {n: paths[n] for n in NAMES}, str(out), str(dom), memory_mb=128,
                                  **RF)
    assert got["output"] == str(out) and got["dominant"] == str(dom)
    (job_out, job_bands, _), job_dom, _ = rf_job["oob"]
    values, bands, _ = read_all(out)
    assert bands == job_bands
    np.testing.assert_array_equal(values, job_out)
    np.testing.assert_array_equal(read_all(dom)[0][0], job_dom)


# -- bad input ------------------------------------------------------------------------------------
def test_bad_inputs_are_named(files, tmp_path):
    _, paths = files
    er, drivers = cubes(paths, None)
    with pytest.raises(InputError, match="at least 2 drivers"):
        cat.partial_correlation(er, {"TA": drivers["TA"]})
    with pytest.raises(InputError, match="driver pre .* has 180 time steps"):
        cat.partial_correlation(er, {**drivers, "pre": drivers["pre"].isel(time=slice(0, 180))})
    shifted = drivers["SM"].assign_coords(x=drivers["SM"].x + 1.0)
    shifted.attrs = {k: v for k, v in shifted.attrs.items() if k != "grid"}
    with pytest.raises(InputError, match="driver SM .* another grid"):
        cat.partial_correlation(er, {**drivers, "SM": shifted})
    with pytest.raises(InputError, match="min_valid: .* 16 years"):
        cat.partial_correlation(er, drivers, min_valid=20)
    with pytest.raises(InputError, match="alpha"):
        cat.partial_correlation(er, drivers, alpha=1.5)
    with pytest.raises(InputError, match=r"dimensions time, y, x \(or lat/lon for y/x\); it has time, band, x"):
        cat.partial_correlation(er.rename(y="band"), drivers)
    with pytest.raises(InputError, match="maximum tree depth"):
        cat.rf_attribution(er, drivers, max_depth=20)
    with run_on(None, memory_mb=32, threads=2) as where:
        with pytest.raises(InputError, match="memory_mb: one pixel's random forest"):
            cat.rf_attribution(er, drivers, n_trees=5000, max_depth=16, where=where)
    with pytest.raises(InputError, match="drivers: give at least 2"):
        cat.partialcorrelation_files(paths["er"], {"TA": paths["TA"]}, str(tmp_path / "o.tif"))
    with pytest.raises(InputError, match="output: .* does not exist"):
        cat.partialcorrelation_files(paths["er"], {n: paths[n] for n in NAMES}, str(tmp_path / "no" / "o.tif"))
