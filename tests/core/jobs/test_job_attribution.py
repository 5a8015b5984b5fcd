"""Attribution jobs (ecoresp_core.jobs.attribution): GeoTIFF outputs, styles, provenance and clear errors."""

import json
import os

import numpy as np
import pytest
from conftest import annual_dates, monthly_dates, write_stack
from osgeo import gdal

from ecoresp_core.attribution import partialcorr as pc
from ecoresp_core.jobs import attribution as jobs
from ecoresp_core.errors import Cancelled, InputError
from ecoresp_core.io.series import open_series

NAMES = ["TA", "pre", "SM"]


def monthly_cube(seed=0, years=20, ny=4, nx=5, noise=0.4):
    """Monthly ER and drivers whose annual values (ER sum, TA/SM mean, pre sum) have a known
    dominant driver per pixel; returns (er, [drivers], truth codes)."""
    rng = np.random.default_rng(seed)
    ann = rng.normal(size=(3, years, ny, nx))
    truth = rng.integers(0, 3, size=(ny, nx))
    er_ann = np.take_along_axis(ann, truth[None, None], axis=0)[0] * 2 + noise * rng.normal(size=(years, ny, nx))
    season = np.sin(np.arange(12) * 2 * np.pi / 12)[:, None, None]
    rep = lambda a: np.repeat(a, 12, axis=0)  # noqa: E731
    cyc = np.tile(season, (years, 1, 1))
    er = rep(er_ann + 50) / 12 + cyc
    ta = rep(ann[0] + 10) + 5 * cyc
    pre = rep(ann[1] + 80) / 12
    sm = rep(ann[2] + 30) + cyc
    return er, [ta, pre, sm], truth + 1


@pytest.fixture
def inputs(tmp_path):
    er, drv, truth = monthly_cube()
    dates = monthly_dates(1990, er.shape[0])
    src = open_series(write_stack(tmp_path / "er.tif", er, dates))
    ds = [open_series(write_stack(tmp_path / f"{n}.tif", d, dates)) for n, d in zip(NAMES, drv)]
    return src, ds, truth, tmp_path


def test_partialcorr_raster_outputs(inputs):
    src, drivers, truth, tmp = inputs
    out, dom, domr = str(tmp / "pc.tif"), str(tmp / "dom.tif"), str(tmp / "domr.tif")
    s = jobs.partialcorr_raster(src, drivers, NAMES, out, dom, domr, budget_mb=1)
    ds = gdal.Open(out)
    assert [ds.GetRasterBand(i + 1).GetDescription() for i in range(ds.RasterCount)] == \
        ["r_TA", "p_TA", "r_pre", "p_pre", "r_SM", "p_SM", "n_valid"]
    opts = json.loads(ds.GetMetadataItem("ECORESP_OPTIONS"))
    assert opts["annual_aggregation"] == {"TA": "mean", "pre": "sum", "SM": "mean"} and opts["mode"] == "annual"
    nvalid = ds.GetRasterBand(7).ReadAsArray()
    r_ta = ds.GetRasterBand(1).ReadAsArray()
    ds = None
    assert np.all(nvalid == 20)
    dds = gdal.Open(dom)
    band = dds.GetRasterBand(1)
    codes = band.ReadAsArray()
    assert band.GetMetadataItem("CLASS_NAMES") == "0=none;1=TA;2=pre;3=SM"
    assert band.GetRasterColorTable() is not None and band.GetNoDataValue() == 255
    dds = None
    assert np.mean(codes == truth) >= 0.95
    qml = open(os.path.splitext(dom)[0] + ".qml").read()
    assert 'label="none"' in qml and 'label="pre"' in qml
    rds = gdal.Open(domr)
    dr = rds.GetRasterBand(1).ReadAsArray()
    rds = None
    sel = codes == 1
    np.testing.assert_allclose(dr[sel], r_ta[sel], rtol=1e-6)
    assert s["computed"] == 20 and sum(s["by_driver"].values()) == s["with_dominant"]
    # zones table from the written raster (MAT zones: one pixel row per zone)
    mat = np.array([[0.0] * 5, [10.0] * 5, [25.0] * 5, [np.nan] * 5])
    zpath = write_stack(tmp / "mat.tif", mat[None], ["2000-01-01"])
    rows = jobs.zones_table(dom, zpath, "mat")
    shares = {(r["zone_name"], r["name"]): r["share_of_zone"] for r in rows if r["kind"] == "driver"}
    assert sum(v for (z, _), v in shares.items() if z == "boreal") == pytest.approx(1.0)
    assert {z for z, _ in shares} == {"all", "boreal", "temperate", "tropical"}


def test_partialcorr_matches_core_on_prepared_series(inputs):
    src, drivers, _, tmp = inputs
    out = str(tmp / "pc.tif")
    jobs.partialcorr_raster(src, drivers, NAMES, out, mode="monthly", detrend="diff")
    er = src.read_block(0, 4)
    d = [x.read_block(0, 4) for x in drivers]
    e, dd, _ = pc.prepare_series(er, d, src.dates, NAMES, "monthly", "diff")
    ref = pc.partial_correlation(e, dd, min_valid=10)
    ds = gdal.Open(out)
    np.testing.assert_allclose(ds.GetRasterBand(3).ReadAsArray(), ref["r"][1], rtol=1e-6, atol=1e-7)
    assert ds.GetRasterBand(7).ReadAsArray()[0, 0] == 239
    ds = None


def test_rf_raster_outputs_and_budget(inputs):
    src, drivers, truth, tmp = inputs
    out, dom = str(tmp / "rf.tif"), str(tmp / "rfdom.tif")
    s = jobs.rf_raster(src, drivers, NAMES, out, dom, n_trees=30, seed=1)
    ds = gdal.Open(out)
    assert [ds.GetRasterBand(i + 1).GetDescription() for i in range(6)] == \
        ["rel_TA", "rel_pre", "rel_SM", "imp_TA", "imp_pre", "imp_SM"]
    assert "exploratory" in ds.GetMetadataItem("ECORESP_EXPLORATORY")
    rel = ds.ReadAsArray()[:3]
    ds = None
    np.testing.assert_allclose(rel.sum(axis=0), 1.0, rtol=1e-5)
    dds = gdal.Open(dom)
    codes = dds.GetRasterBand(1).ReadAsArray()
    dds = None
    assert np.mean(codes == truth) >= 0.8 and s["computed"] == 20


def test_rf_compute_budget_stops_early(tmp_path):
    er, drv, _ = monthly_cube(ny=40, nx=5)
    dates = monthly_dates(1990, er.shape[0])
    src = open_series(write_stack(tmp_path / "er.tif", er, dates))
    ds = [open_series(write_stack(tmp_path / f"{n}.tif", d, dates)) for n, d in zip(NAMES, drv)]
    with pytest.raises(InputError, match="compute budget of 0 s"):
        jobs.rf_raster(src, ds, NAMES, str(tmp_path / "slow.tif"), str(tmp_path / "slowdom.tif"),
                       n_trees=20, max_seconds=1e-6, budget_mb=1)
    assert not [p for p in os.listdir(tmp_path) if p.startswith("slow") or "partial" in p]


def test_errors_name_the_layer(inputs, tmp_path):
    src, drivers, _, tmp = inputs
    out = str(tmp / "x.tif")
    er, drv, _ = monthly_cube()
    other = open_series(write_stack(tmp / "og.tif", drv[0], monthly_dates(1990, 240),
                                    geotransform=(0, 1, 0, 0, 0, -1)))
    with pytest.raises(InputError, match=r"driver TA \(.*og.tif\) is on another grid"):
        jobs.partialcorr_raster(src, [other] + drivers[1:], NAMES, out)
    shifted = open_series(write_stack(tmp / "sh.tif", drv[1], monthly_dates(1991, 240)))
    with pytest.raises(InputError, match=r"driver pre \(.*sh.tif\): band 1 is dated 1991-01-15"):
        jobs.partialcorr_raster(src, [drivers[0], shifted, drivers[2]], NAMES, out)
    short = open_series(write_stack(tmp / "short.tif", drv[1][:120], monthly_dates(1990, 120)))
    with pytest.raises(InputError, match=r"driver pre \(.*short.tif\) has 120 time steps"):
        jobs.partialcorr_raster(src, [drivers[0], short, drivers[2]], NAMES, out)
    with pytest.raises(InputError, match="at least 2 drivers"):
        jobs.partialcorr_raster(src, drivers[:1], NAMES[:1], out)
    with pytest.raises(InputError, match="two drivers are named 'TA'"):
        jobs.rf_raster(src, drivers[:2], ["TA", "TA"], out)
    few = open_series(write_stack(tmp / "few.tif", er[:96], monthly_dates(1990, 96)))
    fewd = [open_series(write_stack(tmp / f"few{i}.tif", d[:96], monthly_dates(1990, 96))) for i, d in enumerate(drv)]
    with pytest.raises(InputError, match=r"few.tif: 8 years after annual preparation.*at least 10"):
        jobs.partialcorr_raster(few, fewd, NAMES, out)
    rng = np.random.default_rng(3)
    er, drv = rng.normal(size=(20, 4, 5)), rng.normal(size=(3, 20, 4, 5))
    with pytest.raises(InputError, match="annual mode needs a regular monthly"):
        ann = open_series(write_stack(tmp / "ann.tif", er[:20], annual_dates(1990, 20)))
        annd = [open_series(write_stack(tmp / f"ann{i}.tif", d[:20], annual_dates(1990, 20)))
                for i, d in enumerate(drv)]
        jobs.partialcorr_raster(ann, annd, NAMES, out)
    jobs.partialcorr_raster(ann, annd, NAMES, out, mode="asis")  # already annual: fine
    assert os.path.exists(out)
    assert [p for p in os.listdir(tmp) if "partial" in p] == []


def test_cancel_writes_nothing(inputs):
    src, drivers, _, tmp = inputs
    with pytest.raises(Cancelled):
        jobs.partialcorr_raster(src, drivers, NAMES, str(tmp / "c.tif"), str(tmp / "cd.tif"),
                                cancelled=lambda: True)
    assert not any(p.startswith("c") or "partial" in p for p in os.listdir(tmp))


def test_zones_table_needs_class_names(tmp_path):
    p = write_stack(tmp_path / "plain.tif", np.ones((1, 2, 2)), ["2000-01-01"], dtype="Byte")
    with pytest.raises(InputError, match="has no CLASS_NAMES"):
        jobs.zones_table(p)


def test_results_do_not_depend_on_block_size(tmp_path):
    er, drv, _ = monthly_cube(seed=4, ny=30, nx=5)
    dates = monthly_dates(1990, er.shape[0])
    src = open_series(write_stack(tmp_path / "er.tif", er, dates))
    ds = [open_series(write_stack(tmp_path / f"{n}.tif", d, dates)) for n, d in zip(NAMES, drv)]
    for job, kw in ((jobs.rf_raster, {"n_trees": 10}), (jobs.partialcorr_raster, {})):
        small = job(src, ds, NAMES, str(tmp_path / "small.tif"), budget_mb=1, **kw)
        big = job(src, ds, NAMES, str(tmp_path / "big.tif"), budget_mb=1024, **kw)
        a, b = gdal.Open(small["output"]), gdal.Open(big["output"])
        np.testing.assert_array_equal(a.ReadAsArray(), b.ReadAsArray())
        a = b = None
    # more than one block was used with the small budget
    from ecoresp_core.jobs.blocks import row_blocks
    assert len(row_blocks(30, 5, 8 * 240 * 4 * 6 + 8 * 16 * 4, 1)) > 1
