"""Results loaded into the project as the Processing dialog loads them (processing.runAndLoadResults,
which ends in processing.gui.Postprocessing.handleAlgorithmResults like the dialog, batch and model
runs): each layer styled for what it holds, named after its subject and output with its unit, and
the layers of one run grouped (algorithms/loading.py)."""

import os

import numpy as np
import pandas as pd
import pytest
from conftest import DATA, annual_dates, monthly_dates, write_stack
from osgeo import gdal

pytestmark = pytest.mark.qgis

TREND_CLASS_NAMES = ["significant decrease", "decrease, not significant", "no change",
                     "increase, not significant", "significant increase"]


@pytest.fixture
def project(provider, no_iface):
    """The (cleared) project the results load into (as without a main window: pytest-qgis's mock
    iface cannot stand for the layer tree view that QGIS 3.44 passes to C++)."""
    from qgis.core import QgsProject
    p = QgsProject.instance()
    p.clear()
    yield p
    p.clear()


def run_loaded(alg, params):
    import processing
    from qgis.core import QgsProcessingFeedback
    return processing.runAndLoadResults(alg, params, feedback=QgsProcessingFeedback())


def tree(project):
    """{group name or '': [(layer name, renderer type, layer), ...]} of the layer tree, in order."""
    from qgis.core import QgsLayerTreeGroup
    out = {}

    def walk(group, name):
        for child in group.children():
            if isinstance(child, QgsLayerTreeGroup):
                walk(child, child.name())
            else:
                lyr = child.layer()
                renderer = lyr.renderer().type() if hasattr(lyr, "renderer") and lyr.renderer() else None
                out.setdefault(name, []).append((lyr.name(), renderer, lyr))
    walk(project.layerTreeRoot(), "")
    return out


def ramp(layer):
    """(values, legend suffix) of a pseudocolour layer's ramp."""
    fn = layer.renderer().shader().rasterShaderFunction()
    return [i.value for i in fn.colorRampItemList()], fn.legendSettings().suffix()


def palette(layer):
    return {c.value: c.label for c in layer.renderer().classes()}


def band(path, number=1):
    """(description, unit type, values) of a band of a raster file."""
    ds = gdal.Open(path)
    b = ds.GetRasterBand(number)
    out = b.GetDescription(), b.GetUnitType(), b.ReadAsArray()
    ds = None
    return out


def with_unit(path, unit):
    ds = gdal.Open(path, gdal.GA_Update)
    for i in range(ds.RasterCount):
        ds.GetRasterBand(i + 1).SetUnitType(unit)
    ds = None
    return path


def test_trend_statistics_and_classes(project, tmp_path):
    rng = np.random.default_rng(0)
    slope = rng.normal(size=(1, 4, 5))
    vals = np.arange(20)[:, None, None] * slope + rng.normal(size=(20, 4, 5))
    er = with_unit(write_stack(tmp_path / "er.tif", vals, annual_dates(1990, 20)), "degC")
    res = run_loaded("ecoresp:trend", {"INPUT": er, "MIN_VALID": 5, "OUTPUT": str(tmp_path / "t.tif"),
                                       "CLASSES": str(tmp_path / "c.tif")})
    layers = tree(project)
    assert list(layers) == ["ecoresp trend er"]  # one group per run, nothing else loaded
    (stats_name, stats_type, stats), (cls_name, cls_type, cls) = layers["ecoresp trend er"]
    assert stats_name == "er: trend slope [degC per year]" and stats_type == "singlebandpseudocolor"
    assert stats.renderer().band() == 1  # band 'slope'
    values, suffix = ramp(stats)
    description, unit, slopes = band(res["OUTPUT"])
    assert description == "slope" and unit == "degC per year"
    m = np.nanmax(np.abs(slopes))
    assert values == pytest.approx([-m, -m / 2, 0, m / 2, m], rel=1e-6)  # diverging, centred on 0
    assert suffix.strip() == "degC per year"
    assert cls_name == "er: trend classes" and cls_type == "paletted"
    assert palette(cls) == dict(enumerate(TREND_CLASS_NAMES, 1))
    assert cls.renderer().classes()[4].color.name() == "#b2182b"
    assert os.path.exists(tmp_path / "c.qml")  # the style beside the file stays


def test_detrended_series_from_netcdf_variable(project, tmp_path):
    nc = os.path.join(DATA, "cru_ts400_iberia_1981-2010_monthly.nc")
    res = run_loaded("ecoresp:detrend", {"INPUT_FILE": nc, "VARIABLE": "tasmin", "DATES": "",
                                         "OUTPUT": str(tmp_path / "d.tif")})
    layers = tree(project)
    assert list(layers) == [""]  # a single output: no group
    [(name, kind, lyr)] = layers[""]
    assert name == "tasmin: detrended series [degC]" and kind == "singlebandgray"
    assert lyr.renderer().grayBand() == 1  # the first date, not RGB of bands 1-3
    ce = lyr.renderer().contrastEnhancement()
    description, unit, first = band(res["OUTPUT"])
    assert description == "1981-01-16" and unit == "degC"
    first = first[np.isfinite(first)]
    assert ce.minimumValue() == pytest.approx(first.min(), abs=1e-4)
    assert ce.maximumValue() == pytest.approx(first.max(), abs=1e-4)


def test_partialcorrelation_and_zone_table(project, tmp_path):
    from test_attribution import make_stacks
    er, drivers, _, _ = make_stacks(tmp_path)
    res = run_loaded("ecoresp:partialcorrelation", {
        "INPUT": er, "DRIVERS": drivers, "OUTPUT": str(tmp_path / "pc.tif"), "DOMINANT": str(tmp_path / "dom.tif"),
        "DOMINANT_R": str(tmp_path / "domr.tif")})
    layers = tree(project)
    assert list(layers) == ["ecoresp partialcorrelation er"]
    by_name = {n: (k, lyr) for n, k, lyr in layers["ecoresp partialcorrelation er"]}
    assert list(by_name) == ["er: partial correlation r", "er: dominant driver",
                             "er: partial correlation r of the dominant driver"]  # the algorithm's output order
    kind, dom = by_name["er: dominant driver"]
    assert kind == "paletted" and palette(dom) == {0: "none", 1: "TA", 2: "pre", 3: "SM"}
    for name in ("er: partial correlation r", "er: partial correlation r of the dominant driver"):
        kind, lyr = by_name[name]
        assert kind == "singlebandpseudocolor" and lyr.renderer().band() == 1  # r_TA / dominant_r
        assert ramp(lyr)[0] == pytest.approx([-1, -0.5, 0, 0.5, 1])
    # the zone table of the dominant driver: a table named after that raster
    project.clear()
    mat = write_stack(tmp_path / "mat.tif", np.array([[[0.0] * 5, [1.0] * 5, [10.0] * 5, [25.0] * 5]]),
                      ["2000-01-01"])
    run_loaded("ecoresp:attributionzones", {"DOMINANT": res["DOMINANT"], "ZONES": mat, "ZONE_TYPE": 1,
                                            "OUTPUT": "TEMPORARY_OUTPUT"})
    [(name, _, table)] = tree(project)[""]
    assert name == "dom: dominant-driver area shares per zone"
    assert table.featureCount() == 28 and "share_of_zone" in table.fields().names()


def test_predicted_monthly_er_and_model_run(project, tmp_path):
    from test_upscaler import csv_layer
    sm = pd.read_csv(os.path.join(DATA, "sites", "fluxnet2015_site_month.csv"))
    sm = sm[sm["frac_measured"] >= 0.2]
    sm = sm[sm["site_id"].isin(sorted(sm["site_id"].unique())[::8])]
    sm[["site_id", "year", "month", "RECO_NT_gC_m2_d", "TA_F_degC"]].to_csv(tmp_path / "sm.csv", index=False)
    table = csv_layer(str(tmp_path / "sm.csv"))
    table.setName("site months")
    fit = run_loaded("ecoresp:fitupscaler", {
        "INPUT": table, "TARGET": "RECO_NT_gC_m2_d", "FEATURES": ["TA_F_degC"],
        "GROUP": "site_id", "MODEL": 0, "FOLDS": 3, "SEED": 1, "TREES": 10, "OUTPUT": str(tmp_path / "er_model.npz"),
        "METRICS": "TEMPORARY_OUTPUT", "IMPORTANCE": "TEMPORARY_OUTPUT"})
    # tables: named after the input layer (not after the MODEL choice, an enum here), grouped
    assert [n for n, _, _ in tree(project)["ecoresp fitupscaler site months"]] == [
        "site months: Cross-validation metrics (per fold)", "site months: Permutation importances of the drivers"]
    project.clear()
    dates = monthly_dates(2001, 24)
    ta = write_stack(tmp_path / "TA_F_degC.tif", np.random.default_rng(1).uniform(-5, 25, (24, 3, 4)), dates)
    res = run_loaded("ecoresp:predictupscaler", {"MODEL": fit["OUTPUT"], "DRIVERS": [ta],
                                                 "OUTPUT": str(tmp_path / "er.tif"),
                                                 "OUTSIDE_SHARE": str(tmp_path / "share.tif")})
    layers = tree(project)
    assert list(layers) == ["ecoresp predictupscaler er_model"]
    (er_name, er_kind, er), (share_name, share_kind, share) = layers["ecoresp predictupscaler er_model"]
    assert er_name == "er_model: monthly ER [g C m-2 d-1]" and er_kind == "singlebandgray"
    assert er.renderer().grayBand() == 1
    assert band(res["OUTPUT"])[1] == "g C m-2 d-1"
    assert share_name == "er_model: share of months outside the training range [fraction of months]"
    assert share_kind == "singlebandpseudocolor" and ramp(share)[0] == pytest.approx([0, 0.25, 0.5, 0.75, 1])

    # a model (detrend, then trend of the detrended series), run twice: one group per run
    project.clear()
    model = small_model()
    # temporary files named anomalies.tif, slope.tif ...; the outputs are "de:anomalies" ... up to
    # QGIS 3.32 and "anomalies" ... in a model built in code on 3.34+
    params = {d.name(): "TEMPORARY_OUTPUT" for d in model.destinationParameterDefinitions()}
    assert sorted(n.split(":")[-1] for n in params) == ["anomalies", "classes", "slope"]
    params["series"] = res["OUTPUT"]
    run_loaded(model, params)
    run_loaded(model, params)
    groups = project.layerTreeRoot().children()
    assert [g.name() for g in groups] == ["loaded_layers_test run"] * 2 and not tree(project).get("")
    for g in groups:
        kinds = sorted((n.layer().name(), n.layer().renderer().type()) for n in g.children())
        assert kinds == [("er: detrended series [g C m-2 d-1]", "singlebandgray"),
                         ("er: trend classes", "paletted"),
                         ("er: trend slope [g C m-2 d-1 per year]", "singlebandpseudocolor")]


def small_model():
    """A model of two ecoresp steps on one series input: detrend (1 output), then the trend (2 outputs) of
    the detrended series (a temporary file named after the output: its subject comes from its provenance)."""
    from qgis.core import (
        QgsApplication,
        QgsProcessingModelAlgorithm,
        QgsProcessingModelChildAlgorithm,
        QgsProcessingModelChildParameterSource,
        QgsProcessingModelOutput,
        QgsProcessingModelParameter,
        QgsProcessingParameterRasterLayer,
    )
    m = QgsProcessingModelAlgorithm("loaded_layers_test", "test")
    m.addModelParameter(QgsProcessingParameterRasterLayer("series", "Series"), QgsProcessingModelParameter("series"))
    static = {"MIN_VALID": 5}
    series = QgsProcessingModelChildParameterSource.fromModelParameter("series")
    detrended = QgsProcessingModelChildParameterSource.fromChildOutput("de", "OUTPUT")
    for cid, alg_id, source, outputs in (("de", "ecoresp:detrend", series, {"OUTPUT": "anomalies"}),
                                         ("tr", "ecoresp:trend", detrended, {"OUTPUT": "slope", "CLASSES": "classes"})):
        child = QgsProcessingModelChildAlgorithm(alg_id)
        child.setChildId(cid)
        child.addParameterSources("INPUT", [source])
        for d in QgsApplication.processingRegistry().algorithmById(alg_id).parameterDefinitions():
            if d.name() not in ("INPUT", "INPUT_FILE", "VARIABLE", "DATES") and not d.isDestination():
                value = static.get(d.name(), d.defaultValue())
                child.addParameterSources(d.name(), [QgsProcessingModelChildParameterSource.fromStaticValue(value)])
        model_outputs = {}
        for output, name in outputs.items():
            mo = QgsProcessingModelOutput(name, name)
            mo.setChildId(cid)
            mo.setChildOutputName(output)
            model_outputs[name] = mo
        child.setModelOutputs(model_outputs)
        m.addChildAlgorithm(child)
    assert m.validate()[0], m.validate()[1]
    return m


def test_rfattribution_and_integrate(project, tmp_path):
    from test_attribution import make_stacks
    er, drivers, _, _ = make_stacks(tmp_path, seed=1)
    with_unit(er, "g C m-2 d-1")
    run_loaded("ecoresp:rfattribution", {"INPUT": er, "DRIVERS": drivers, "N_TREES": 10, "SEED": 7,
                                         "OUTPUT": str(tmp_path / "rf.tif"), "DOMINANT": str(tmp_path / "rfdom.tif")})
    layers = tree(project)
    assert list(layers) == ["ecoresp rfattribution er"]
    (rel_name, rel_kind, rel), (dom_name, dom_kind, dom) = layers["ecoresp rfattribution er"]
    assert rel_name == "er: relative importance (exploratory)" and rel_kind == "singlebandpseudocolor"
    assert rel.renderer().band() == 1 and ramp(rel)[0] == pytest.approx([0, 0.25, 0.5, 0.75, 1])  # rel_TA
    assert dom_name == "er: most important driver (exploratory)" and dom_kind == "paletted"
    assert set(palette(dom).values()) >= {"TA", "pre", "SM"}
    # integrate: the two tables and the annual sums (a series: its first year, its unit in the name)
    project.clear()
    run_loaded("ecoresp:integrate", {"INPUT": er, "OUTPUT": str(tmp_path / "t.csv"),
                                     "SUMMARY": str(tmp_path / "s.csv"), "ANNUAL": str(tmp_path / "annual.tif")})
    layers = tree(project)
    assert [(n, k) for n, k, _ in layers["ecoresp integrate er"]] == [
        ("er: annual totals", None), ("er: comparison of annual totals", None),
        ("er: annual sums [g C m-2 yr-1]", "singlebandgray")]
    assert layers["ecoresp integrate er"][2][2].renderer().grayBand() == 1
    assert band(str(tmp_path / "annual.tif"))[:2] == ("1990-01-01", "g C m-2 yr-1")
