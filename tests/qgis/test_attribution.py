"""ecoresp:partialcorrelation, ecoresp:rfattribution and ecoresp:attributionzones inside QGIS
(processing.run) and through qgis_process.  Bad inputs are tested in the core tests
(tests/core/attribution/test_attribution_jobs.py): raising with raster layers alive in a
traceback crashes QGIS 3.22 at exit."""

import json
import os

import numpy as np
import pandas as pd
import pytest
from conftest import HAS_QGIS_PROCESS, monthly_dates, write_stack
from osgeo import gdal

pytestmark = pytest.mark.qgis
NAMES = ["TA", "pre", "SM"]


def run(alg, params):
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    return processing.run(f"ecoresp:{alg}", params, feedback=QgsProcessingFeedback(),
                          context=QgsProcessingContext())


def read_table(path):
    from qgis.core import QgsVectorLayer

    lyr = QgsVectorLayer(path, "t", "ogr")
    df = pd.DataFrame([f.attributes() for f in lyr.getFeatures()], columns=lyr.fields().names())
    lyr = None
    return df


def make_stacks(tmp_path, seed=0, years=20, ny=4, nx=5):
    """Monthly ER and drivers TA (mean), pre (sum), SM (mean) with a known dominant driver of the
    annual values per pixel; returns (er path, driver paths, truth codes 1..3, annual arrays)."""
    rng = np.random.default_rng(seed)
    ann = rng.normal(size=(3, years, ny, nx))
    truth = rng.integers(0, 3, size=(ny, nx))
    er_ann = np.take_along_axis(ann, truth[None, None], axis=0)[0] * 2 + 0.4 * rng.normal(size=(years, ny, nx))
    cyc = np.tile(np.sin(np.arange(12) * 2 * np.pi / 12)[:, None, None], (years, 1, 1))
    rep = lambda a: np.repeat(a, 12, axis=0)  # noqa: E731
    dates = monthly_dates(1990, 12 * years)
    er = write_stack(tmp_path / "er.tif", rep(er_ann + 50) / 12 + cyc, dates)
    drivers = [write_stack(tmp_path / "TA.tif", rep(ann[0] + 10) + 5 * cyc, dates),
               write_stack(tmp_path / "pre.tif", rep(ann[1] + 80) / 12, dates),
               write_stack(tmp_path / "SM.tif", rep(ann[2] + 30) + cyc, dates)]
    return er, drivers, truth + 1, (er_ann, ann)


def bands(path):
    ds = gdal.Open(path)
    out = [ds.GetRasterBand(i + 1).GetDescription() for i in range(ds.RasterCount)], ds.ReadAsArray()
    ds = None
    return out


def test_partialcorrelation_and_zones(provider, tmp_path):
    from ecoresp_core.attribution import partialcorr as pc

    er, drivers, truth, (er_ann, ann) = make_stacks(tmp_path)
    res = run("partialcorrelation", {"INPUT": er, "DRIVERS": drivers, "OUTPUT": str(tmp_path / "pc.tif"),
                                     "DOMINANT": str(tmp_path / "dom.tif"), "DOMINANT_R": str(tmp_path / "domr.tif")})
    assert set(res) == {"OUTPUT", "DOMINANT", "DOMINANT_R", "N_COMPUTED", "N_DOMINANT"}
    names, vals = bands(res["OUTPUT"])
    assert names == ["r_TA", "p_TA", "r_pre", "p_pre", "r_SM", "p_SM", "n_valid"]
    # values equal the core on the annual series (ER and driver annual values known exactly)
    e, d, _ = pc.prepare_series(er_ann + 50, [ann[0] + 10, ann[1] + 80, ann[2] + 30], mode="asis")
    ref = pc.partial_correlation(e, d)
    np.testing.assert_allclose(vals[[0, 2, 4]], ref["r"], atol=1e-5)
    np.testing.assert_allclose(vals[[1, 3, 5]], ref["p"], rtol=1e-4, atol=1e-12)
    _, dom = bands(res["DOMINANT"])
    np.testing.assert_array_equal(dom, ref["dominant"])
    assert np.mean(dom == truth) >= 0.95 and res["N_COMPUTED"] == 20
    assert os.path.exists(str(tmp_path / "dom.qml"))
    # zones: rows 0-1 boreal, row 2 temperate, row 3 tropical
    mat = write_stack(tmp_path / "mat.tif", np.array([[[0.0] * 5, [1.0] * 5, [10.0] * 5, [25.0] * 5]]),
                      ["2000-01-01"])
    z = run("attributionzones", {"DOMINANT": res["DOMINANT"], "ZONES": mat, "ZONE_TYPE": 1,
                                 "GROUPS": "SM=other", "OUTPUT": str(tmp_path / "zones.csv")})
    t = read_table(z["OUTPUT"]).astype({"share_of_zone": float, "n_pixels": int})
    assert set(t["zone_name"]) == {"all", "boreal", "temperate", "tropical"}
    drv = t[(t["kind"] == "driver") & (t["zone_name"] == "tropical")]
    counts = {n: int((dom[3] == k).sum()) for k, n in enumerate(["none"] + NAMES)}
    assert dict(zip(drv["name"], drv["n_pixels"])) == counts
    grp = t[(t["kind"] == "group") & (t["zone_name"] == "all")].set_index("name")
    assert grp.loc["other", "n_pixels"] == int((dom == 3).sum())  # SM regrouped as other
    assert grp.loc["water", "n_pixels"] == int((dom == 2).sum())
    # the same rows as category codes 1..3 with names (the ZONE_TYPE order of ecoresp:integrate)
    codes = write_stack(tmp_path / "codes.tif", np.array([[[1.0] * 5, [1.0] * 5, [2.0] * 5, [3.0] * 5]]),
                        ["2000-01-01"])
    zc = run("attributionzones", {"DOMINANT": res["DOMINANT"], "ZONES": codes, "ZONE_TYPE": 0,
                                  "ZONE_NAMES": "1=boreal,2=temperate,3=tropical", "GROUPS": "SM=other",
                                  "OUTPUT": str(tmp_path / "zones_codes.csv")})
    tc = read_table(zc["OUTPUT"]).astype({"share_of_zone": float, "n_pixels": int})
    key = ["zone_name", "kind", "name"]
    pd.testing.assert_frame_equal(tc.sort_values(key)[key + ["n_pixels", "share_of_zone"]].reset_index(drop=True),
                                  t.sort_values(key)[key + ["n_pixels", "share_of_zone"]].reset_index(drop=True))


def test_rfattribution(provider, tmp_path):
    er, drivers, truth, _ = make_stacks(tmp_path, seed=1)
    params = {"INPUT": er, "DRIVERS": drivers, "N_TREES": 30, "SEED": 7, "OUTPUT": str(tmp_path / "rf.tif"),
              "DOMINANT": str(tmp_path / "rfdom.tif")}
    res = run("rfattribution", params)
    assert set(res) == {"OUTPUT", "DOMINANT", "N_COMPUTED"}
    names, vals = bands(res["OUTPUT"])
    assert names == ["rel_TA", "rel_pre", "rel_SM", "imp_TA", "imp_pre", "imp_SM"]
    np.testing.assert_allclose(vals[:3].sum(axis=0), 1.0, rtol=1e-5)
    _, dom = bands(res["DOMINANT"])
    assert np.mean(dom == truth) >= 0.8
    res2 = run("rfattribution", dict(params, OUTPUT=str(tmp_path / "rf2.tif"), DOMINANT=str(tmp_path / "d2.tif")))
    np.testing.assert_array_equal(bands(res2["OUTPUT"])[1], vals)  # same SEED, same output


@pytest.mark.skipif(not HAS_QGIS_PROCESS, reason="needs qgis_process")
@pytest.mark.slow  # a qgis_process start-up; test_partialcorrelation_and_zones runs the algorithm fast
def test_partialcorrelation_qgis_process(qgis_process, tmp_path):
    er, drivers, truth, _ = make_stacks(tmp_path, seed=2)
    out, dom = tmp_path / "qp.tif", tmp_path / "qpdom.tif"
    proc = qgis_process("--json", "run", "ecoresp:partialcorrelation", "--", f"INPUT={er}",
                        *[f"DRIVERS={d}" for d in drivers], "MODE=0", "DETREND=1", "ALPHA=0.01",
                        f"OUTPUT={out}", f"DOMINANT={dom}", f"DOMINANT_R={tmp_path / 'qpr.tif'}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(proc.stdout)["results"]
    assert res["N_COMPUTED"] == 20
    ds = gdal.Open(str(dom))
    band = ds.GetRasterBand(1)
    assert band.GetMetadataItem("CLASS_NAMES") == "0=none;1=TA;2=pre;3=SM"
    opts = json.loads(ds.GetMetadataItem("ECORESP_OPTIONS"))
    codes = band.ReadAsArray()
    band = ds = None
    assert opts["detrend"] == "diff" and opts["alpha"] == 0.01
    assert np.mean(codes == truth) >= 0.9


def test_driver_names_and_driver_files(provider, tmp_path):
    er, drivers, truth, _ = make_stacks(tmp_path, seed=3)
    res = run("partialcorrelation", {"INPUT": er, "DRIVERS": drivers[:2], "DRIVER_NAMES": "tmp, precip",
                                     "DRIVER_FILES": f"soil={drivers[2]}", "MODE": 0,
                                     "OUTPUT": str(tmp_path / "o.tif"), "DOMINANT": str(tmp_path / "d.tif"),
                                     "DOMINANT_R": str(tmp_path / "r.tif")})
    names, _ = bands(res["OUTPUT"])
    assert names == ["r_tmp", "p_tmp", "r_precip", "p_precip", "r_soil", "p_soil", "n_valid"]
    ds = gdal.Open(res["OUTPUT"])
    opts = json.loads(ds.GetMetadataItem("ECORESP_OPTIONS"))
    ds = None
    assert opts["annual_aggregation"] == {"tmp": "mean", "precip": "sum", "soil": "mean"}
    _, dom = bands(res["DOMINANT"])
    assert np.mean(dom == truth) >= 0.95
