"""The plugin inside QGIS (pytest-qgis): provider registration, algorithm surface,
runs through processing.run, error messages, and every declared output returned."""

import os

import numpy as np
import pytest
from osgeo import gdal

pytestmark = pytest.mark.qgis


def run(alg, params):
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    return processing.run(f"ecoresp:{alg}", params, feedback=QgsProcessingFeedback(),
                          context=QgsProcessingContext())


def test_plugin_class_factory_registers_provider(qgis_app, qgis_processing):
    from qgis.core import QgsApplication

    import ecoresp

    reg = QgsApplication.processingRegistry()
    if reg.providerById("ecoresp") is not None:
        reg.removeProvider(reg.providerById("ecoresp"))
    plugin = ecoresp.classFactory(None)
    plugin.initProcessing()
    try:
        ids = [a.id() for a in QgsApplication.processingRegistry().providerById("ecoresp").algorithms()]
        assert {"ecoresp:trend", "ecoresp:detrend"} <= set(ids)
    finally:
        plugin.unload()
    assert QgsApplication.processingRegistry().providerById("ecoresp") is None


def test_algorithm_surface(provider):
    for alg in provider.algorithms():
        if alg.provider() is not provider or alg.id().count(":") != 1:
            continue
        assert alg.name() == alg.name().lower() and " " not in alg.name()
        assert alg.displayName() and alg.group() and alg.groupId() and alg.shortHelpString()
        assert type(alg.createInstance()) is type(alg)


def test_trend_on_geotiff_stack_matches_core(provider, stack_factory, tmp_path):
    from ecoresp_core.trends.trend import TREND_BANDS, mann_kendall

    rng = np.random.default_rng(11)
    v = np.round(rng.normal(10, 1, (20, 6, 7)) + 0.05 * np.arange(20)[:, None, None], 1)
    v[:, 0, 0] = np.nan
    v[rng.random(v.shape) < 0.05] = np.nan
    src = stack_factory(v, nodata=-9999.0)
    out, cls = str(tmp_path / "trend.tif"), str(tmp_path / "classes.tif")
    res = run("trend", {"INPUT": src, "MIN_VALID": 10, "OUTPUT": out, "CLASSES": cls})
    assert set(res) == {"OUTPUT", "CLASSES", "N_TESTED", "N_INCREASING", "N_DECREASING"}
    ds = gdal.Open(res["OUTPUT"])
    assert [ds.GetRasterBand(i + 1).GetDescription() for i in range(ds.RasterCount)] == list(TREND_BANDS)
    expect = mann_kendall(v.astype("float32").astype(float), min_valid=10)
    for i, b in enumerate(TREND_BANDS):
        got = ds.GetRasterBand(i + 1).ReadAsArray().astype(float)
        np.testing.assert_allclose(got, expect[b].astype("float32"), equal_nan=True, err_msg=b)
    assert res["N_TESTED"] == int(np.sum(~np.isnan(expect["slope"])))
    assert os.path.exists(str(tmp_path / "classes.qml"))
    cds = gdal.Open(cls)
    c = cds.GetRasterBand(1)
    assert "5=significant increase" in c.GetMetadataItem("CLASS_NAMES") and c.GetNoDataValue() == 0


def test_trend_long_series_in_a_helper_process(provider, stack_factory, tmp_path, monkeypatch):
    """Inside QGIS, the 360-month slope path hands pixel blocks to a helper Python (its
    threshold lowered here for a small raster); the bands equal the core's, bit for bit."""
    import importlib

    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    from conftest import monthly_dates
    from ecoresp_core.trends.trend import TREND_BANDS, mann_kendall

    monkeypatch.setattr(importlib.import_module("ecoresp.ecoresp_core.trends.trend"), "_HELPER_MIN_PAIRS", 0)
    rng = np.random.default_rng(4)
    v = np.round(800 + rng.normal(0, 5, (360, 32, 40)) + 0.02 * np.arange(360)[:, None, None], 1)
    v[rng.random(v.shape) < 0.05] = np.nan
    src = stack_factory(v, dates=monthly_dates(1989, 360))

    class Log(QgsProcessingFeedback):
        infos = []

        def pushInfo(self, msg):
            self.infos.append(msg)

    fb = Log()
    out = str(tmp_path / "trend.tif")
    processing.run("ecoresp:trend", {"INPUT": src, "SLOPE_UNIT": 1, "OUTPUT": out}, feedback=fb,
                   context=QgsProcessingContext())
    assert any("computed in a helper process" in m for m in fb.infos), fb.infos
    expect = mann_kendall(v.astype("float32").astype(float), min_valid=10)
    ds = gdal.Open(out)
    for i, b in enumerate(TREND_BANDS):
        np.testing.assert_array_equal(ds.GetRasterBand(i + 1).ReadAsArray(), expect[b].astype("float32"),
                                      err_msg=b)


def test_trend_and_detrend_on_netcdf_file_with_variable(provider, iberia_nc, tmp_path):
    out = str(tmp_path / "tas_trend.tif")
    res = run("trend", {"INPUT_FILE": iberia_nc, "VARIABLE": "tas", "AGGREGATE": 1, "OUTPUT": out})
    sds = gdal.Open(out)
    slope = sds.GetRasterBand(1).ReadAsArray()
    land = ~np.isnan(slope)
    assert land.sum() == 330 == res["N_TESTED"]
    # the data README: regional warming about +0.23 degC/decade
    assert 0.015 < np.median(slope[land]) < 0.035
    det = str(tmp_path / "tas_det.tif")
    run("detrend", {"INPUT_FILE": iberia_nc, "VARIABLE": "tas", "METHOD": 0, "OUTPUT": det})
    ds = gdal.Open(det)
    assert ds.RasterCount == 360 and ds.GetRasterBand(1).GetDescription() == "1981-01-16"


def test_single_variable_netcdf_as_raster_layer(provider, cru_tmp_nc, tmp_path):
    out = str(tmp_path / "cru.tif")
    res = run("trend", {"INPUT": cru_tmp_nc, "AGGREGATE": 1, "OUTPUT": out})
    assert res["N_TESTED"] == 6


@pytest.mark.parametrize("case", ["both", "none", "one_band", "bad_dates", "all_nodata", "missing_var"])
def test_bad_input_clear_error_and_no_output(provider, stack_factory, tmp_path, iberia_nc, case):
    from qgis.core import QgsProcessingException

    out = tmp_path / "out.tif"
    rng = np.random.default_rng(0)
    params = {"OUTPUT": str(out)}
    if case == "both":
        params.update(INPUT=stack_factory(rng.normal(size=(12, 3, 3))), INPUT_FILE=iberia_nc)
        match = "either an input raster layer"
    elif case == "none":
        match = "either an input raster layer"
    elif case == "one_band":
        params["INPUT"] = stack_factory(rng.normal(size=(1, 3, 3)))
        match = "has 1 band"
    elif case == "bad_dates":
        params["INPUT"] = stack_factory(rng.normal(size=(12, 3, 3)))
        params["DATES"] = "1990,1991"
        match = "lists 2 dates but the raster has 12 bands"
    elif case == "all_nodata":
        params["INPUT"] = stack_factory(np.full((12, 3, 3), np.nan), nodata=-9999.0)
        match = "every pixel is nodata"
    else:
        params.update(INPUT_FILE=iberia_nc, VARIABLE="ER")
        match = "has no variable 'ER'"
    with pytest.raises(QgsProcessingException, match=match):
        run("trend", params)
    assert not out.exists()
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".out.tif")]


def test_cancel_leaves_no_file(provider, stack_factory, tmp_path):
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingException, QgsProcessingFeedback

    src = stack_factory(np.random.default_rng(2).normal(size=(15, 8, 8)))
    fb = QgsProcessingFeedback()
    fb.cancel()
    out = tmp_path / "cancelled.tif"
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        processing.run("ecoresp:trend", {"INPUT": src, "OUTPUT": str(out)}, feedback=fb,
                       context=QgsProcessingContext())
    assert os.listdir(tmp_path) == ["stack.tif"]


def test_enum_options_are_the_core_keys_in_order(provider):
    """Each enum parameter's options are one key -> label table (algorithms/base.py Choices); the keys
    are what the core accepts, in the order of the indices that saved models and scripts use."""
    from ecoresp.algorithms import detrend, integrate, partialcorrelation, rfattribution, trend
    from ecoresp.algorithms.base import ZONE_TYPES
    from ecoresp_core.attribution.partialcorr import DETRENDS, MODES
    from ecoresp_core.attribution.rfattribution import IMPORTANCES
    from ecoresp_core.common.detrend import METHODS
    from ecoresp_core.trends.trend import VARIANTS
    from ecoresp_core.upscaling.integrate import UNITS

    assert trend.VARIANT_CHOICES.keys == list(VARIANTS) and detrend.METHOD_CHOICES.keys == list(METHODS)
    assert partialcorrelation.MODE_CHOICES.keys == list(MODES)
    assert partialcorrelation.DETREND_CHOICES.keys == list(DETRENDS)
    assert rfattribution.IMPORTANCE_CHOICES.keys == list(IMPORTANCES)
    assert integrate.UNIT_CHOICES.keys == list(UNITS) and ZONE_TYPES.keys == ["categorical", "mat"]
    p = provider.algorithm("trend").parameterDefinition("AGGREGATE")
    assert p.options() == ["no aggregation", "annual mean", "annual sum"] and p.defaultValue() == 0


def test_one_error_boundary_around_every_process_algorithm(provider):
    """A core error raised outside run_core, or a bug, leaves processAlgorithm as a
    QgsProcessingException (the bug named, its traceback reported to the log), never as a raw exception."""
    from qgis.core import QgsProcessingContext, QgsProcessingException, QgsProcessingFeedback

    from ecoresp.algorithms.base import EcorespAlgorithm
    from ecoresp.ecoresp_core.errors import InputError

    class Failing(EcorespAlgorithm):
        error = None

        def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
            raise self.error

    class Log(QgsProcessingFeedback):
        errors = []

        def reportError(self, msg, fatalError=False):  # noqa: N802, N803
            self.errors.append(msg)

    for error, message in [(InputError("INPUT: no such band"), "^INPUT: no such band$"),
                           (TypeError("unsupported format"), "internal error.*TypeError: unsupported format"),
                           (QgsProcessingException("as raised"), "^as raised$")]:
        Failing.error = error
        fb = Log()
        with pytest.raises(QgsProcessingException, match=message):
            Failing().processAlgorithm({}, QgsProcessingContext(), fb)
        assert bool(fb.errors) == isinstance(error, TypeError)  # the traceback of a bug
        Log.errors = []
    for name in ("trend", "fitupscaler", "sitemonthtable", "partition"):
        assert getattr(type(provider.algorithm(name)).processAlgorithm, "error_boundary", False), name


def test_key_value_parameters_one_parser(provider, tmp_path):
    """ZONE_NAMES, UNITS, AGGREGATION, DRIVER_FILES: one parser, ',' and ';' both accepted where a value
    holds neither (DRIVER_FILES: ';' only, a path may hold ','); a bad entry names the parameter."""
    from qgis.core import QgsProcessingContext, QgsProcessingException

    from ecoresp.algorithms.base import DriverSources, zone_names_parameter

    ctx = QgsProcessingContext()
    alg = provider.algorithm("integrate")
    assert zone_names_parameter(alg, {"ZONE_NAMES": "2=B arid, 3=C temperate;4=D cold"}, ctx) == \
        {2: "B arid", 3: "C temperate", 4: "D cold"}
    label = r"^Names of the zone codes \(code=name, comma separated\) \(ZONE_NAMES\): "
    with pytest.raises(QgsProcessingException, match=label + r"entry 'B arid' is not code=name$"):
        zone_names_parameter(alg, {"ZONE_NAMES": "2=A, B arid"}, ctx)
    with pytest.raises(QgsProcessingException, match=r"\(ZONE_NAMES\): entry 'x=A' is not code=name"):
        zone_names_parameter(alg, {"ZONE_NAMES": "x=A"}, ctx)
    fit = provider.algorithm("fitupscaler")
    assert fit.pairs({"UNITS": "TA=degC; VPD = hPa,SW=W m-2"}, "UNITS", ctx) == \
        [("TA", "degC"), ("VPD", "hPa"), ("SW", "W m-2")]
    a, b = tmp_path / "a,1.tif", tmp_path / "b.tif"
    a.write_bytes(b"")
    b.write_bytes(b"")
    pred = provider.algorithm("predictupscaler")
    assert DriverSources.sources(pred, {"DRIVER_FILES": f"A={a}; B = {b};"}, ctx) == \
        [("A", str(a), None), ("B", str(b), None)]
    with pytest.raises(QgsProcessingException, match=r"\(DRIVER_FILES\): entry 'C' is not name=source"):
        DriverSources.sources(pred, {"DRIVER_FILES": f"A={a}; C"}, ctx)
    part = provider.algorithm("partition")
    assert dict(part.pairs({"COLUMNS": "NEE=FC; TA = TA_F"}, "COLUMNS", ctx, "NAME=COLUMN")) == \
        {"NEE": "FC", "TA": "TA_F"}
    with pytest.raises(QgsProcessingException, match=r"\(COLUMNS\): entry 'TA' is not NAME=COLUMN$"):
        part.pairs({"COLUMNS": "NEE=FC, TA"}, "COLUMNS", ctx, "NAME=COLUMN")
