"""The upscaling steps on cubes (ecoresp_core.cube.upscaling) equal the QGIS jobs (jobs.predict,
jobs.integrate) bit for bit, in local dask and on a two-worker LocalCluster, on inputs chunked two
different ways; the integration job's totals do not depend on its row blocks."""

import numpy as np
import pandas as pd
import pytest
from conftest import monthly_dates, training_table, write_stack
from osgeo import gdal

import ecoresp_core.jobs.blocks as blocks
from ecoresp_core.cube import upscaling as cu
from ecoresp_core.cube.files import open_cube, open_static
from ecoresp_core.cube.scheduler import run_on
from ecoresp_core.io.series import open_series
from ecoresp_core.jobs.inputs import open_driver
from ecoresp_core.jobs.integrate import integrate_raster
from ecoresp_core.jobs.predict import predict_rasters
from ecoresp_core.upscaling.fit import fit_upscaler
from ecoresp_core.upscaling.model import save_model

NT, NY, NX = 24, 9, 11
DATES = monthly_dates(2001, NT)
CHUNKINGS = [{"y": 4, "x": 5}, {"y": 9, "x": 3}]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cube_upscaling")
    res = fit_upscaler(training_table(), "ER", ["TA", "SW", "IGBP"], n_splits=3, n_estimators=20,
                       importance_repeats=1, units={"TA": "degC", "SW": "W m-2"}, target_unit="g C m-2 d-1")
    rng = np.random.default_rng(3)
    ta = rng.uniform(-10, 32, (NT, NY, NX))  # partly outside the training range (-5..25)
    sw = rng.uniform(20, 300, (NT, NY, NX))
    ta[0, 0, 0] = ta[5, 3, 7] = np.nan
    lc = np.tile(np.array([1, 4, 10, 4, 1, 10, 0, 1, 4, 10, 16], dtype=float), (NY, 1))  # 0 water, 16 BSV
    mask = np.ones((1, NY, NX))
    mask[0, -1, :] = 0
    land = rng.uniform(0.2, 1.0, (1, NY, NX))
    paths = {"model": str(save_model(res["model"], tmp / "model.npz")),
             "TA": write_stack(tmp / "ta.tif", ta, DATES, nodata=-9999),
             "SW": write_stack(tmp / "sw.tif", sw, DATES, nodata=-9999),
             "IGBP": write_stack(tmp / "lc.tif", lc[None], ["static"], dtype="Byte"),
             "mask": write_stack(tmp / "mask.tif", mask, ["mask"], dtype="Byte"),
             "land": write_stack(tmp / "land.tif", land, ["land"]),
             "zones": write_stack(tmp / "zones.tif", lc[None], ["zones"], dtype="Byte")}
    return tmp, paths


def read_all(path):
    ds = gdal.Open(str(path))
    return ds.ReadAsArray(), ds.GetMetadataItem("ECORESP_LEFT_OUT")


@pytest.fixture(scope="module")
def job(files):
    """The QGIS job's outputs, with row blocks of 2 rows."""
    tmp, p = files
    mp = pytest.MonkeyPatch()
    mp.setattr(blocks, "row_blocks", lambda h, w, b, budget: [(r, min(r + 2, h)) for r in range(0, h, 2)])
    try:
        drivers = {"TA": open_series(p["TA"]), "SW": open_series(p["SW"]), "IGBP": open_driver(p["IGBP"], "IGBP")}
        out, share = tmp / "job_er.tif", tmp / "job_share.tif"
        stats = predict_rasters(p["model"], drivers, str(out), land_mask_path=p["mask"],
                                outside_share_path=str(share))
        er, left = read_all(out)
        rows = integrate_raster(open_series(str(out)), land_fraction_path=p["land"], zones_path=p["zones"],
                                zone_names={1: "ENF", 4: "DBF"})
    finally:
        mp.undo()
    return {"er": er, "share": read_all(share)[0], "left_out": left, "stats": stats, "path": str(out),
            "integrate": rows}


def cubes(p, chunks):
    return {"TA": open_cube(p["TA"], chunks=chunks), "SW": open_cube(p["SW"], chunks=chunks),
            "IGBP": open_static(p["IGBP"])}


def run_predict(p, chunks, where):
    ds = cu.predict(p["model"], cubes(p, chunks), land_mask=open_static(p["mask"]), where=where, keep_chunks=True)
    er, share = where.compute(ds["ER"].data, ds["outside_share"].data)
    return ds, er, share


def check_predict(job, ds, er, share, chunks):
    assert ds["ER"].data.chunks[1:] == (tuple(np.diff(np.r_[0:NY:chunks["y"], NY])),
                                        tuple(np.diff(np.r_[0:NX:chunks["x"], NX])))
    assert ds["ER"].attrs["units"] == "g C m-2 d-1"
    np.testing.assert_array_equal(er, job["er"])
    np.testing.assert_array_equal(share, job["share"])
    assert ds.attrs["left_out_json"] == job["left_out"]
    acc = ds.attrs["left_out"]
    assert acc.predicted == job["stats"]["predicted"] and acc.left_out == job["stats"]["n_left_out"]
    assert acc.n_unknown() > 0 and acc.outside > 0 and acc.missing["TA"] > 0  # every kind of count is exercised


@pytest.mark.parametrize("chunks", CHUNKINGS)
def test_predict_local_equals_job(files, job, chunks):
    _, p = files
    with run_on(memory_mb=64, threads=2) as where:
        ds, er, share = run_predict(p, chunks, where)
    check_predict(job, ds, er, share, chunks)
    assert np.isfinite(er).sum() == job["stats"]["predicted"]


def test_predict_budget_chunks_equal_job(files, job):
    _, p = files
    with run_on(memory_mb=32, threads=1) as where:
        ds = cu.predict(p["model"], cubes(p, None), land_mask=open_static(p["mask"]), where=where)
        er, share = where.compute(ds["ER"].data, ds["outside_share"].data)
    np.testing.assert_array_equal(er, job["er"])
    np.testing.assert_array_equal(share, job["share"])


@pytest.mark.parametrize("chunks", CHUNKINGS)
def test_predict_cluster_equals_job(files, job, dask_cluster, chunks):
    _, p = files
    with run_on(dask_cluster, memory_mb=64) as where:
        ds, er, share = run_predict(p, chunks, where)
    check_predict(job, ds, er, share, chunks)


def test_predict_files_tif_and_zarr(files, job):
    tmp, p = files
    drivers = {"TA": p["TA"], "SW": p["SW"], "IGBP": p["IGBP"]}
    with run_on(memory_mb=32, threads=2) as where:
        s = cu.predict_files(p["model"], drivers, str(tmp / "cube_er.tif"), land_mask=p["mask"],
                             outside_share=str(tmp / "cube_share.tif"), where=where)
        cu.predict_files(p["model"], [p["IGBP"]], str(tmp / "cube_er.zarr"), driver_names="IGBP",
                         driver_files=f"TA={p['TA']}; SW={p['SW']}", land_mask=p["mask"], where=where)
    er, left = read_all(tmp / "cube_er.tif")
    np.testing.assert_array_equal(er, job["er"])
    np.testing.assert_array_equal(read_all(tmp / "cube_share.tif")[0], job["share"])
    assert left == job["left_out"]
    assert s["predicted"] == job["stats"]["predicted"] and s["skipped_invalid"] == job["stats"]["skipped_invalid"]
    assert s["outside"] == job["stats"]["outside"]
    ds, mine = gdal.Open(job["path"]), gdal.Open(str(tmp / "cube_er.tif"))
    assert [mine.GetRasterBand(i + 1).GetDescription() for i in range(NT)] == \
        [ds.GetRasterBand(i + 1).GetDescription() for i in range(NT)]
    zarr = open_cube(str(tmp / "cube_er.zarr"), variable="ER")
    np.testing.assert_array_equal(zarr.values, job["er"])
    assert [d.strftime("%Y-%m") for d in pd.DatetimeIndex(zarr.time.values)] == [f"{d[:7]}" for d in DATES]


def integrate_cube(files, job, chunks, where):
    _, p = files
    er = open_cube(job["path"], chunks=chunks)
    return cu.integrate(er, land_fraction=open_static(p["land"]), zones=open_static(p["zones"]),
                        zone_names={1: "ENF", 4: "DBF"}, where=where)


@pytest.mark.parametrize("chunks", CHUNKINGS)
def test_integrate_local_equals_job(files, job, chunks):
    with run_on(memory_mb=32, threads=2) as where:
        rows, summary = integrate_cube(files, job, chunks, where)
    assert rows == job["integrate"][0]  # every number bit for bit (Pg C/yr, km2, counts)
    assert summary == job["integrate"][1]
    assert {r["zone"] for r in rows} == {0, 1, 4, 10, 16}
    assert all(r["total_PgC"] > 0 for r in rows if r["zone"] != 16)
    bsv = [r for r in rows if r["zone"] == 16]  # a class the model never saw: left out, counted
    assert all(r["total_PgC"] == 0 and r["missing_pixel_months"] == 12 * NY for r in bsv)


def test_integrate_cluster_equals_job(files, job, dask_cluster):
    with run_on(dask_cluster, memory_mb=32) as where:
        rows, summary = integrate_cube(files, job, CHUNKINGS[0], where)
    assert rows == job["integrate"][0]
    assert summary == job["integrate"][1]


def test_integrate_job_does_not_depend_on_row_blocks(files, job, monkeypatch):
    """The QGIS job in one block of every row equals the job in blocks of 2 rows, bit for bit."""
    _, p = files
    monkeypatch.setattr(blocks, "row_blocks", lambda h, w, b, budget: [(0, h)])
    rows = integrate_raster(open_series(job["path"]), land_fraction_path=p["land"], zones_path=p["zones"],
                            zone_names={1: "ENF", 4: "DBF"})
    assert rows == job["integrate"]


def test_integrate_files_csv(files, job):
    tmp, p = files
    rows, _ = cu.integrate_files(job["path"], str(tmp / "totals.csv"), land_fraction=p["land"], zones=p["zones"],
                                 zone_names={1: "ENF", 4: "DBF"}, summary=str(tmp / "summary.csv"), product="ER")
    assert rows == job["integrate"][0]
    t = pd.read_csv(tmp / "totals.csv")
    assert t["total_PgC"].tolist() == pytest.approx([r["total_PgC"] for r in job["integrate"][0]], rel=1e-15)
    assert len(pd.read_csv(tmp / "summary.csv")) == 5
