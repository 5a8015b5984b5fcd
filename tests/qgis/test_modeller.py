"""The algorithms chain in the graphical modeller: detrend -> trend, built as a model."""

import numpy as np
import pytest
from osgeo import gdal

pytestmark = pytest.mark.qgis


def with_defaults(child):
    """Give every parameter the child has no source for its default, as the modeller does."""
    from qgis.core import QgsApplication, QgsProcessingModelChildParameterSource

    alg = QgsApplication.processingRegistry().algorithmById(child.algorithmId())
    for p in alg.parameterDefinitions():
        if p.name() not in child.parameterSources() and not p.isDestination() and p.defaultValue() is not None:
            child.addParameterSources(
                p.name(), [QgsProcessingModelChildParameterSource.fromStaticValue(p.defaultValue())])
    return child


def build_model(detrend_memory_mb=None):
    from qgis.core import (QgsProcessingModelAlgorithm, QgsProcessingModelChildAlgorithm,
                           QgsProcessingModelChildParameterSource, QgsProcessingModelOutput,
                           QgsProcessingModelParameter, QgsProcessingParameterFile,
                           QgsProcessingParameterString)

    m = QgsProcessingModelAlgorithm("detrended_trend", "tests")
    m.addModelParameter(QgsProcessingParameterFile("series", "series"), QgsProcessingModelParameter("series"))
    m.addModelParameter(QgsProcessingParameterString("variable", "variable"), QgsProcessingModelParameter("variable"))
    det = QgsProcessingModelChildAlgorithm("ecoresp:detrend")
    det.setChildId("detrend")
    det.addParameterSources("INPUT_FILE", [QgsProcessingModelChildParameterSource.fromModelParameter("series")])
    det.addParameterSources("VARIABLE", [QgsProcessingModelChildParameterSource.fromModelParameter("variable")])
    det.addParameterSources("METHOD", [QgsProcessingModelChildParameterSource.fromStaticValue(1)])
    if detrend_memory_mb is not None:
        memory = QgsProcessingModelChildParameterSource.fromStaticValue(detrend_memory_mb)
        det.addParameterSources("MEMORY_MB", [memory])
    m.addChildAlgorithm(with_defaults(det))
    tr = QgsProcessingModelChildAlgorithm("ecoresp:trend")
    tr.setChildId("trend")
    tr.addParameterSources("INPUT", [QgsProcessingModelChildParameterSource.fromChildOutput("detrend", "OUTPUT")])
    tr.addParameterSources("SLOPE_UNIT", [QgsProcessingModelChildParameterSource.fromStaticValue(0)])
    out = QgsProcessingModelOutput("trend_out", "trend of anomalies")
    out.setChildOutputName("OUTPUT")
    tr.setModelOutputs({"trend_out": out})
    m.addChildAlgorithm(with_defaults(tr))
    return m


def test_model_detrend_then_trend(provider, iberia_nc, tmp_path):
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    model = build_model()
    ok, errors = model.validate()
    assert ok, errors
    out = str(tmp_path / "anomaly_trend.tif")
    # the model output's parameter: "trend:trend_out" (child:output) on QGIS 3.22, named after
    # the output's description ("trend_of_anomalies") in models built on QGIS >= 3.34
    (dest,) = [p.name() for p in model.destinationParameterDefinitions()]
    assert dest in ("trend:trend_out", "trend_of_anomalies")
    params = {"series": iberia_nc, "variable": "tas", dest: out}
    res = model.run(params, QgsProcessingContext(), QgsProcessingFeedback())[0]
    assert res[dest] == out
    ds = gdal.Open(out)
    slope = ds.GetRasterBand(1).ReadAsArray()
    land = ~np.isnan(slope)
    assert land.sum() == 330
    # anomalies keep the warming trend (only the seasonal cycle is removed): ~0.2 degC/decade
    assert 0.012 < np.median(slope[land]) < 0.035


def test_model_child_refuses_a_bad_value_with_its_label(provider, iberia_nc, tmp_path):
    """A model runs its children without their checkParameterValues: the algorithms check again at
    the start of the run, so a value out of range stops the model with the parameter's label and
    nothing is written."""
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    class Errors(QgsProcessingFeedback):
        def __init__(self):
            super().__init__()
            self.text = []

        def reportError(self, error, fatalError=False):  # noqa: N802
            self.text.append(error)

    model = build_model(detrend_memory_mb=4)
    (dest,) = [p.name() for p in model.destinationParameterDefinitions()]
    out = tmp_path / "anomaly_trend.tif"
    feedback = Errors()
    results, ok = model.run({"series": iberia_nc, "variable": "tas", dest: str(out)}, QgsProcessingContext(),
                            feedback)
    assert not ok
    text = " ".join(feedback.text)
    assert "Memory budget for raster blocks (MB) (MEMORY_MB): 4 is out of range; give a number in the range " \
        "16 to 65536" in text, text
    assert "Traceback" not in text
    assert sorted(p.name for p in tmp_path.iterdir()) == []
