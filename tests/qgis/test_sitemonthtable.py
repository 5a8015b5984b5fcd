"""ecoresp:sitemonthtable and ecoresp:derivedriver inside QGIS: real FLUXNET2015 files against the
real site-month table, exact driver cells, site points, and every bad input named."""

import os

import numpy as np
import pandas as pd
import pytest
from conftest import DATA, FLUX, FLUXNET_FILES, monthly_dates, write_stack

pytestmark = pytest.mark.qgis
REF = os.path.join(DATA, "sites", "fluxnet2015_site_month.csv")
HAI = os.path.join(FLUX, FLUXNET_FILES["DE-Hai"])
KEYS = ["site_id", "year", "month"]
GT = (10.0, 0.5, 0.0, 52.0, 0.0, -0.5)     # 4 x 4 cells covering DE-Hai (51.08 N, 10.45 E): row 1, col 0


def run(alg, params):
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    class Fb(QgsProcessingFeedback):
        def __init__(self):
            super().__init__()
            self.warnings = []

        def pushWarning(self, text):  # noqa: N802
            self.warnings.append(text)
            super().pushWarning(text)

    fb = Fb()
    res = processing.run(alg, params, feedback=fb, context=QgsProcessingContext())
    return res, fb


def algs():
    return "ecoresp:sitemonthtable", "ecoresp:derivedriver"  # registered by the provider fixture


def read(path):
    from qgis.core import QgsVectorLayer
    lyr = QgsVectorLayer(path, "t", "ogr")
    assert lyr.isValid()
    df = pd.DataFrame([[None if (hasattr(v, "isNull") and v.isNull()) else v for v in f.attributes()]
                       for f in lyr.getFeatures()], columns=lyr.fields().names())
    return df.drop(columns=[c for c in ("fid",) if c in df])


def raster(path, name):
    from qgis.core import QgsRasterLayer
    lyr = QgsRasterLayer(str(path), name)
    assert lyr.isValid()
    return lyr  # the caller holds it; no module-level reference (it would outlive QGIS at exit)


def driver_values():
    t, r, c = np.meshgrid(np.arange(24), np.arange(4), np.arange(4), indexing="ij")
    return 100.0 * t + 10 * r + c


def test_fluxnet_hh_with_drivers_matches_real_table(provider, tmp_path):
    smt, _ = algs()
    tmp = raster(write_stack(tmp_path / "a.tif", driver_values(), monthly_dates(2007, 24), geotransform=GT), "tmp_syn")
    vap = raster(write_stack(tmp_path / "b.tif", driver_values() / 10, monthly_dates(2007, 24), geotransform=GT),
                 "vap_syn")
    out = str(tmp_path / "sm.gpkg")
    res, fb = run(smt, {"INPUTS": [HAI], "ER_FIELD": "RECO_NT_VUT_REF", "TOWER_MET": True,
                        "DRIVERS": [tmp, vap], "MIN_COVERAGE": 0.75, "OUTPUT": out})
    t = read(res["OUTPUT"])
    assert len(t) == 24 and set(t.site_id) == {"DE-Hai"}
    m = t.merge(pd.read_csv(REF), on=KEYS, suffixes=("", "_ref"))
    assert len(m) == 24
    np.testing.assert_allclose(m["RECO_NT_gC_m2_d"], m["RECO_NT_gC_m2_d_ref"], atol=5.1e-5)
    np.testing.assert_allclose(m["frac_measured"], m["frac_measured_ref"], atol=5.1e-5)
    np.testing.assert_allclose(m["TA_F_degC"], m["TA_F_degC_ref"], atol=5.1e-4)
    np.testing.assert_array_equal(m["n_records"], m["n_records_ref"])
    # driver = the exact cell (row 1, col 0) of the matching month
    k = (t["year"] - 2007) * 12 + t["month"] - 1
    np.testing.assert_array_equal(t["tmp_syn"], 100.0 * k + 10)
    np.testing.assert_allclose(t["vap_syn"], np.float32((100.0 * k + 10) / 10), rtol=0)
    assert t["quality_ok"].tolist() == (t["frac_good"] >= 0.75).astype(int).tolist()
    feb08 = t[(t.year == 2008) & (t.month == 2)].iloc[0]
    assert feb08.ER_gC_m2_month == pytest.approx(feb08.ER_gC_m2_d * 29, rel=1e-12)


def test_partition_csv_site_points_and_monthly_file(provider, tmp_path):
    from qgis.core import QgsFeature, QgsField, QgsGeometry, QgsPointXY, QgsVectorLayer

    from ecoresp.algorithms.qgiscompat import FIELD_STRING
    from ecoresp_core.io.towers import read_tower
    smt, _ = algs()
    df = read_tower(HAI).data.loc["2007-06":"2007-07"]
    part = str(tmp_path / "DE-Hai_partition.csv")
    pd.DataFrame({"TIMESTAMP_START": df.index.strftime("%Y-%m-%dT%H:%M:%S"), "NEE_QC": df["NEE_QC"].to_numpy(),
                  "RECO_NT": df["RECO_NT_REF"].to_numpy()}).to_csv(part, index=False)
    mm = str(tmp_path / "FLX_FR-Pue_FLUXNET2015_FULLSET_MM_2009-2009_1-4.csv")
    pd.DataFrame({"TIMESTAMP": ["200901", "200902"], "RECO_NT": [1.25, -9999], "NEE_VUT_REF_QC": [0.9, 0.2],
                  "TA_F": [4.2, 5.0]}).to_csv(mm, index=False)
    # site points in Web Mercator: DE-Hai moved to 51.5 N, 11.0 E
    pts = QgsVectorLayer("Point?crs=EPSG:3857", "sites", "memory")
    pts.dataProvider().addAttributes([QgsField("code", FIELD_STRING)])
    pts.updateFields()
    f = QgsFeature(pts.fields())
    f.setAttributes(["DE-Hai"])
    r = 6378137.0
    f.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(np.radians(11.0) * r,
                                                     r * np.log(np.tan(np.pi / 4 + np.radians(51.5) / 2)))))
    pts.dataProvider().addFeatures([f])
    res, fb = run(smt, {"INPUTS": [part, mm], "ER_FIELD": "RECO_NT", "SITES": pts, "SITE_ID_FIELD": "code",
                        "OUTPUT": str(tmp_path / "o.gpkg")})
    t = read(res["OUTPUT"])
    assert t[KEYS].values.tolist() == [["DE-Hai", 2007, 6], ["DE-Hai", 2007, 7], ["FR-Pue", 2009, 1],
                                       ["FR-Pue", 2009, 2]]
    hai = t[t.site_id == "DE-Hai"]
    np.testing.assert_allclose(hai.latitude, 51.5, atol=1e-9)
    np.testing.assert_allclose(hai.longitude, 11.0, atol=1e-9)
    jun = df.loc["2007-06", "RECO_NT_REF"]
    assert hai.ER_gC_m2_d.iloc[0] == pytest.approx(jun.mean() * 1.0377504, rel=1e-12)
    pue = t[t.site_id == "FR-Pue"]
    assert pue.ER_gC_m2_d.iloc[0] == 1.25 and pue.ER_gC_m2_month.iloc[0] == 1.25 * 31
    assert pue.quality_ok.tolist() == [1, 0] and pue.latitude.iloc[0] == pytest.approx(43.7413)
    assert any("FR-Pue" in w and "SITES" in w for w in fb.warnings)


def test_derivedriver_rh_and_mismatch(provider, tmp_path):
    from qgis.core import QgsProcessingException

    from ecoresp_core.io.series import open_series
    from ecoresp_core.common.meteorology import rh_from_vap_tmp
    _, dd = algs()
    rng = np.random.default_rng(1)
    vap = rng.uniform(2, 20, (3, 2, 3))
    tmp = rng.uniform(0, 30, (3, 2, 3))
    a = write_stack(tmp_path / "vap.tif", vap, monthly_dates(2000, 3), dtype="Float64")
    b = write_stack(tmp_path / "tmp.tif", tmp, monthly_dates(2000, 3), dtype="Float64")
    res, _ = run(dd, {"KIND": 0, "FIRST": a, "SECOND": b, "OUTPUT": str(tmp_path / "rh.tif")})
    got = open_series(res["OUTPUT"])
    np.testing.assert_allclose(got.read_block(0, 2), np.float32(rh_from_vap_tmp(vap, tmp)), rtol=0)
    assert [x.month for x in got.dates] == [1, 2, 3]
    # mm/month -> mm/day, leap February 2000
    res, _ = run(dd, {"KIND": 6, "FIRST": a, "OUTPUT": str(tmp_path / "pd.tif")})
    np.testing.assert_allclose(open_series(res["OUTPUT"]).read_block(0, 2)[1], np.float32(vap[1] / 29), rtol=1e-6)
    bad = write_stack(tmp_path / "tmp2.tif", tmp, monthly_dates(2000, 3), geotransform=(0, 1, 0, 5, 0, -1))
    with pytest.raises(QgsProcessingException, match=r"grids differ: .*vap\.tif.*tmp2\.tif"):
        run(dd, {"KIND": 0, "FIRST": a, "SECOND": bad, "OUTPUT": str(tmp_path / "x.tif")})


def test_no_input_is_a_clear_error(provider, tmp_path):
    """Neither tower files nor a table: refused before the run, and in the run itself (a model
    step whose input table was not produced skips the check)."""
    from qgis.core import QgsApplication, QgsProcessingContext, QgsProcessingException, QgsProcessingFeedback
    smt, _ = algs()
    with pytest.raises(QgsProcessingException, match=r"Give input files \(INPUTS\) or a table layer"):
        run(smt, {"OUTPUT": str(tmp_path / "sm.csv")})
    alg = QgsApplication.processingRegistry().algorithmById(smt).create()
    with pytest.raises(QgsProcessingException, match=r"Give input files \(INPUTS\) or a table layer"):
        alg.processAlgorithm({"OUTPUT": str(tmp_path / "sm.csv")}, QgsProcessingContext(), QgsProcessingFeedback())


def _surface(alg_id):
    """(algorithm, names of its Advanced parameters, tags, help text) as the dialog shows them."""
    from qgis.core import QgsApplication

    from ecoresp.algorithms.qgiscompat import FLAG_ADVANCED

    alg = QgsApplication.processingRegistry().createAlgorithmById(alg_id)
    advanced = {d.name() for d in alg.parameterDefinitions() if d.flags() & FLAG_ADVANCED}
    return alg, advanced, alg.tags(), alg.shortHelpString()


def test_sitemonthtable_dialog_optional_inputs_tags_and_help(provider):
    """Issue 14: the network table, the input table and the site points are optional without a
    default, so the dialog never fills them with the current layer; Advanced, tags, labels."""
    alg, advanced, tags, text = _surface("ecoresp:sitemonthtable")
    from ecoresp.algorithms.qgiscompat import FLAG_OPTIONAL
    for name in ("APPEND", "INPUT_TABLE", "SITES", "INPUTS", "DRIVERS"):
        p = alg.parameterDefinition(name)
        assert p.flags() & FLAG_OPTIONAL and p.defaultValue() is None, name
    assert advanced == {"QC_FIELD", "SITE_ID_FIELD", "APPEND_ER_FIELD", "MIN_COVERAGE"}
    assert {"upscaling", "site-month", "FLUXNET", "training data"} <= set(tags)
    for word in ("MIN_COVERAGE", "SITE_IDS", "TOWER_MET", "APPEND_ER_FIELD", "DRIVER_FILES", "SITES layer",
                 "section 12"):
        assert word not in text, word
    assert "<b>Append a site-month table</b> (optional, nothing is appended unless you choose a table)" in text
    assert "section 'Global upscaling'" in text


def test_sitemonthtable_dialog_leaves_the_optional_tables_empty(provider, no_iface):
    """With table and point layers in the project, the dialog as a user opens it takes none of them
    as network table, input table or site points; partition's dialog ticks the default methods."""
    from processing.gui.AlgorithmDialog import AlgorithmDialog
    from qgis.core import QgsApplication, QgsProject, QgsVectorLayer

    pts = QgsVectorLayer("Point?crs=EPSG:4326&field=site_id:string", "my points", "memory")
    table = QgsVectorLayer("None?field=site_id:string&field=RECO_NT_gC_m2_d:double", "my table", "memory")
    QgsProject.instance().addMapLayers([pts, table])
    try:
        registry = QgsApplication.processingRegistry()
        dlg = AlgorithmDialog(registry.createAlgorithmById("ecoresp:sitemonthtable"), False, None)
        got = {name: w.parameterValue() for name, w in dlg.mainWidget().wrappers.items()}
        dlg.close()
        dlg = AlgorithmDialog(registry.createAlgorithmById("ecoresp:partition"), False, None)
        methods = dlg.mainWidget().wrappers["METHODS"].parameterValue()
        dlg.close()
    finally:
        QgsProject.instance().removeMapLayers([pts.id(), table.id()])
    for name in ("APPEND", "INPUT_TABLE", "SITES"):
        assert got[name] in (None, ""), (name, got[name])
    assert methods == ["NT", "DT", "DTRH"]
