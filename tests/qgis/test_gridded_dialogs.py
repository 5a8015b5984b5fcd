"""The dialogs of the gridded algorithms as a user meets them: the NetCDF variable picked from the
chosen file's variables (trend, derivedriver), the drivers a model expects shown by predictupscaler
and checked against the chosen rasters, fitupscaler's target defaulting to the ER column, search
tags and advanced parameters.

The dialogs are built offscreen in a child process (this file run as a script: the test session's
QGIS has no GUI), which prints one JSON record of what the widgets showed."""

import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(REPO, "tests", "data")
IBERIA = os.path.join(DATA, "cru_ts400_iberia_1981-2010_monthly.nc")
MODEL = os.path.join(DATA, "models", "rf_debian12.npz")  # TA_F_degC, SW_IN_F_W_m2, VPD_F_hPa, IGBP
SITE_MONTH = os.path.join(DATA, "sites", "fluxnet2015_site_month.csv")

GRIDDED = ("trend", "detrend", "derivedriver", "fitupscaler", "predictupscaler", "integrate",
           "partialcorrelation", "rfattribution", "attributionzones")


# -- the child process: build the dialogs, report what they show ---------------------------------
def dialog_report(tmp):
    sys.path.insert(0, os.path.join(REPO, "tests", "crossversion"))
    from dialogs import start_qgis
    app, provider = start_qgis()  # noqa: F841 (provider kept alive for the run)
    from processing.gui.AlgorithmDialog import AlgorithmDialog
    from processing.gui.BatchAlgorithmDialog import BatchAlgorithmDialog
    from qgis.core import QgsApplication, QgsProcessingContext, QgsVectorLayer

    def dialog(alg_id):
        dlg = AlgorithmDialog(QgsApplication.processingRegistry().createAlgorithmById(f"ecoresp:{alg_id}"),
                              False, None)
        dlg.show()
        app.processEvents()
        return dlg, dlg.mainWidget().wrappers

    ctx = QgsProcessingContext()
    report = {}
    sitemonth, report["sitemonth_columns"] = site_month_table(tmp)
    # trend: choosing the file lists its variables; the chosen one goes into the parameters
    dlg, w = dialog("trend")
    var = w["VARIABLE"]
    report["trend_wrapper"] = type(var).__name__
    report["trend_before"] = [var.widget.itemText(i) for i in range(var.widget.count())]
    w["INPUT_FILE"].setParameterValue(IBERIA, ctx)
    app.processEvents()
    report["trend_items"] = [var.widget.itemText(i) for i in range(var.widget.count())]
    report["trend_chosen"] = var.widget.currentText()
    var.widget.setCurrentIndex(var.widget.findText("pr"))
    report["trend_parameters"] = {k: v for k, v in dlg.mainWidget().createProcessingParameters().items()
                                  if k in ("INPUT_FILE", "VARIABLE")}
    w["INPUT_FILE"].setParameterValue(os.path.join(DATA, "cru_ts4.04.1901.2019.tmp.dat.nc"), ctx)
    app.processEvents()
    report["trend_single_variable_items"] = var.widget.count()
    report["trend_labels"] = {k: dlg.mainWidget().wrappers[k].parameterDefinition().description()
                              for k in ("INPUT", "INPUT_FILE", "VARIABLE")}
    dlg.close()
    # derivedriver: each input's variable follows its own file
    dlg, w = dialog("derivedriver")
    w["SECOND_FILE"].setParameterValue(IBERIA, ctx)
    app.processEvents()
    report["derive_first_items"] = w["FIRST_VARIABLE"].widget.count()
    report["derive_second_items"] = [w["SECOND_VARIABLE"].widget.itemText(i)
                                     for i in range(w["SECOND_VARIABLE"].widget.count())]
    dlg.close()
    # predictupscaler: the drivers of the chosen model under its file
    dlg, w = dialog("predictupscaler")
    report["predict_label_empty"] = w["MODEL"].drivers_label.text()
    w["MODEL"].setValue(MODEL)
    app.processEvents()
    report["predict_label"] = w["MODEL"].drivers_label.text()
    report["predict_model_value"] = dlg.mainWidget().createProcessingParameters().get("MODEL")
    dlg.close()
    # fitupscaler: the target preselected on a site-month table
    for name, path in (("ecoresp", sitemonth), ("fluxnet", SITE_MONTH)):
        layer = QgsVectorLayer(f"file://{path}?delimiter=,&detectTypes=yes", "site months", "delimitedtext")
        from qgis.core import QgsProject
        QgsProject.instance().addMapLayer(layer)
        dlg, w = dialog("fitupscaler")
        w["INPUT"].setParameterValue(layer.id(), ctx)
        app.processEvents()
        report[f"fit_target_{name}"] = w["TARGET"].parameterValue()
        dlg.close()
    # the batch dialog keeps QGIS's own widget (a model input or a typed text still work)
    batch = BatchAlgorithmDialog(QgsApplication.processingRegistry().createAlgorithmById("ecoresp:trend"))
    wrappers = batch.mainWidget().wrappers[0]
    column = batch.mainWidget().parameter_to_column["VARIABLE"]
    report["batch_wrapper"] = type(wrappers[column]).__name__
    # ... and so does the modeller: the parameter can still come from a model input
    from processing.modeler.ModelerParametersDialog import ModelerParametersDialog
    from qgis.core import QgsProcessingModelAlgorithm
    model = QgsProcessingModelAlgorithm()
    for alg_id, name in (("trend", "VARIABLE"), ("fitupscaler", "TARGET"), ("predictupscaler", "MODEL")):
        md = ModelerParametersDialog(QgsApplication.processingRegistry().createAlgorithmById(f"ecoresp:{alg_id}"),
                                     model)
        report[f"modeler_{name}"] = type(md.widget.widget.wrappers[name]).__name__
        md.close()
    print("REPORT " + json.dumps(report, default=repr))


def site_month_table(tmp_path):
    """The site-month table ecoresp:sitemonthtable writes for a FLUXNET2015 site-year (DE-Hai 2007-2008)."""
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsVectorLayer
    out = os.path.join(tmp_path, "site_month.csv")
    hai = os.path.join(DATA, "flux", "FLX_DE-Hai_FLUXNET2015_zarrsubset_HH_2007-2008.csv.gz")
    res = processing.run("ecoresp:sitemonthtable", {"INPUTS": [hai], "ER_FIELD": "RECO_NT_VUT_REF", "OUTPUT": out},
                         feedback=QgsProcessingFeedback(), context=QgsProcessingContext())
    return res["OUTPUT"], QgsVectorLayer(res["OUTPUT"], "t", "ogr").fields().names()


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dialogs")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), str(tmp)],
                          capture_output=True, text=True, env=env, timeout=300)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("REPORT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    rep = json.loads(lines[-1][len("REPORT "):])
    return rep


@pytest.mark.qgis
def test_variable_picked_from_the_file(report):
    assert report["trend_wrapper"] == "VariableWidgetWrapper"
    assert report["trend_before"] == []
    assert report["trend_items"] == ["tas", "tasmax", "tasmin", "pr"]
    assert report["trend_chosen"] == "tas"  # nothing typed: the first variable
    assert report["trend_parameters"] == {"INPUT_FILE": IBERIA, "VARIABLE": "pr"}
    assert report["trend_single_variable_items"] == 0  # a single-variable file lists none
    labels = report["trend_labels"]
    assert labels["INPUT"].startswith("Input time series (raster layer")
    assert labels["INPUT_FILE"] == "... or a file instead (multi-variable NetCDF such as CRU TS)"
    assert "NetCDF" in labels["VARIABLE"]
    assert report["derive_first_items"] == 0
    assert report["derive_second_items"] == ["tas", "tasmax", "tasmin", "pr"]
    assert report["batch_wrapper"] == "QgsAbstractProcessingParameterWidgetWrapper"  # QGIS's own
    for name in ("VARIABLE", "TARGET", "MODEL"):
        assert report[f"modeler_{name}"] == "QgsProcessingModelerParameterWidget", name


@pytest.mark.qgis
def test_predict_dialog_lists_the_model_drivers(report):
    assert report["predict_label_empty"].startswith("Choose a model file")
    assert report["predict_label"].startswith(
        "The model expects 4 driver(s), in this order: TA_F_degC [degC]; SW_IN_F_W_m2 [W m-2]; VPD_F_hPa [hPa]; "
        "IGBP [categories: CRO, CSH, DBF, EBF, ENF, GRA, MF, OSH, ...]")
    assert report["predict_label"].endswith("It predicts RECO_NT_gC_m2_d [g C m-2 d-1].")
    assert report["predict_model_value"] == MODEL


@pytest.mark.qgis
def test_fit_target_defaults_to_the_er_column(report):
    assert "ER_gC_m2_d" in report["sitemonth_columns"] and report["sitemonth_columns"][1] == "year"
    assert report["fit_target_ecoresp"] == "ER_gC_m2_d"
    assert report["fit_target_fluxnet"] == "RECO_NT_gC_m2_d"


# -- in the test session's QGIS -------------------------------------------------------------------
@pytest.mark.qgis
def test_predict_check_names_missing_driver_and_unit(provider, tmp_path):
    from qgis.core import QgsProcessingContext

    from conftest import monthly_dates, write_stack
    alg = provider.algorithm("predictupscaler")
    dates = monthly_dates(2010, 3)
    paths = [write_stack(tmp_path / f"{n}.tif", [[[1.0]]] * 3, dates) for n in ("TA_F_degC", "SW_IN_F_W_m2")]
    ok, msg = alg.checkParameterValues({"MODEL": MODEL, "DRIVERS": paths, "OUTPUT": str(tmp_path / "o.tif")},
                                       QgsProcessingContext())
    assert not ok
    assert msg.startswith("Driver rasters (one per model driver) (DRIVERS): no driver for VPD_F_hPa [hPa]; "
                          "IGBP [categories: CRO, CSH, DBF, EBF, ENF, GRA, MF, OSH, ...] "
                          "(given: TA_F_degC, SW_IN_F_W_m2).")
    assert "in this order: TA_F_degC [degC]; SW_IN_F_W_m2 [W m-2]; VPD_F_hPa [hPa]" in msg
    # with the drivers complete (two given as files), the check passes
    extra = [write_stack(tmp_path / f"{n}.tif", [[[1.0]]] * 3, dates) for n in ("VPD_F_hPa", "IGBP")]
    ok, msg = alg.checkParameterValues({"MODEL": MODEL, "DRIVERS": paths,
                                        "DRIVER_FILES": f"VPD_F_hPa={extra[0]}; IGBP={extra[1]}",
                                        "OUTPUT": str(tmp_path / "o.tif")}, QgsProcessingContext())
    assert ok, msg
    # wrong names given in layer order: the missing one is named
    ok, msg = alg.checkParameterValues({"MODEL": MODEL, "DRIVERS": paths + extra,
                                        "DRIVER_NAMES": "TA_F_degC,SW_IN_F_W_m2,VPD,IGBP",
                                        "OUTPUT": str(tmp_path / "o.tif")}, QgsProcessingContext())
    assert not ok and "no driver for VPD_F_hPa [hPa] (given: TA_F_degC, SW_IN_F_W_m2, VPD, IGBP)" in msg


@pytest.mark.qgis
def test_fit_target_never_a_time_or_site_column(provider):
    from qgis.core import QgsProcessingContext
    alg = provider.algorithm("fitupscaler")
    assert alg.parameterDefinition("TARGET").defaultValue() == "ER_gC_m2_d"
    for bad in ("year", "month", "site_id", "frac_measured", "latitude"):
        ok, msg = alg.checkParameterValues({"INPUT": SITE_MONTH, "TARGET": bad, "FEATURES": ["TA_F_degC"],
                                            "OUTPUT": "/tmp/x.npz"}, QgsProcessingContext())
        assert not ok and msg.startswith(f"Target field (ER) (TARGET): '{bad}' is a time, site or coverage"), bad


@pytest.mark.qgis
def test_tags_and_advanced_parameters(provider):
    from ecoresp.algorithms.qgiscompat import FLAG_ADVANCED
    tags = {name: provider.algorithm(name).tags() for name in GRIDDED}
    assert {"Mann-Kendall", "Theil-Sen", "Sen slope", "trend", "time series"} <= set(tags["trend"])
    assert {"upscaling", "random forest", "machine learning", "cross-validation"} <= set(tags["fitupscaler"])
    assert {"global total", "Pg C"} <= set(tags["integrate"])
    for name in ("partialcorrelation", "rfattribution", "attributionzones"):
        assert {"attribution", "dominant driver"} <= set(tags[name]), name
    assert "partial correlation" in tags["partialcorrelation"] and "random forest" in tags["rfattribution"]
    for name, t in tags.items():
        assert "ecoresp" in t and len(t) > 5, name

    def advanced(name):
        alg = provider.algorithm(name)
        return {p.name() for p in alg.parameterDefinitions() if p.flags() & FLAG_ADVANCED}
    assert {"DATES", "MIN_VALID", "MEMORY_MB"} <= advanced("trend")
    assert "VARIABLE" not in advanced("trend") and "ALPHA" not in advanced("trend")
    assert {"DATES", "MEMORY_MB"} <= advanced("detrend")
    assert {"FIRST_DATES", "SECOND_DATES", "SECONDS", "MEMORY_MB"} <= advanced("derivedriver")
    assert {"SEED", "TREES", "N_ITER", "THREADS"} <= advanced("fitupscaler")
    assert {"MEMORY_MB", "PREDICTION_FIELD"} <= advanced("predictupscaler")
    assert {"DATES", "LAND_SCALE", "PRODUCT", "MEMORY_MB"} <= advanced("integrate")
    assert {"GROUPS"} <= advanced("attributionzones")
    assert {"DATES", "AGGREGATION", "MIN_VALID", "MEMORY_MB"} <= advanced("partialcorrelation")
    assert {"SEED", "IMPORTANCE", "MIN_SAMPLES_LEAF", "MAX_FEATURES", "AGGREGATION"} <= advanced("rfattribution")


@pytest.mark.qgis
def test_one_of_two_inputs_named_by_label(provider):
    from qgis.core import QgsProcessingContext
    ok, msg = provider.algorithm("trend").checkParameterValues({"OUTPUT": "/tmp/t.tif"}, QgsProcessingContext())
    assert not ok and msg == ("Give either an input raster layer ('Input time series (raster layer, one band per time "
                              "step) (INPUT)') or an input file ('... or a file instead (multi-variable NetCDF such "
                              "as CRU TS) (INPUT_FILE)'): exactly one of the two, none is given")
    ok, msg = provider.algorithm("derivedriver").checkParameterValues(
        {"KIND": 0, "FIRST_FILE": IBERIA, "OUTPUT": "/tmp/d.tif"}, QgsProcessingContext())
    assert not ok and msg == ("rh: give exactly one of 'Second input (tmp / tmn): raster layer (SECOND)' and "
                              "'Second input: ... or a file instead (e.g. CRU TS NetCDF) (SECOND_FILE)'")


@pytest.mark.qgis
def test_help_names_parameters_by_label(provider):
    """No parameter id in the help of the gridded algorithms (a user sees labels, not ids)."""
    import re
    for name in GRIDDED:
        alg = provider.algorithm(name)
        ids = {p.name() for p in alg.parameterDefinitions()} - {"VARIANT"}
        words = set(re.findall(r"\b[A-Z][A-Z_]{3,}\b", alg.shortHelpString()))
        assert not (words & ids), (name, words & ids)


if __name__ == "__main__":
    dialog_report(sys.argv[1])
    sys.stdout.flush()
    os._exit(0)  # skip Python's teardown of Qt/QGIS objects
