"""algorithms/qgiscompat.py on the QGIS at hand: each name is the enum the QGIS release notes say
this version has (the scoped one from 3.36, Qgis.WkbType from 3.30, QMetaType field types from
3.38; the version number is the independent check of the module's feature detection), equals the
old name where that still exists, and builds a working parameter, field and feature sink."""

import datetime

import pytest

pytestmark = pytest.mark.qgis


def compat():
    from ecoresp.algorithms import qgiscompat
    return qgiscompat


def version():
    from qgis.core import Qgis
    return Qgis.QGIS_VERSION_INT


def _num(v):
    """The integer value of an enum member of any binding (sip enum, Python enum, IntEnum)."""
    return int(getattr(v, "value", v))


def _has(flags, flag):
    """``flag`` is set in ``flags`` (QFlags of QGIS 3.22 or Qgis.*Flags of 3.36)."""
    return _num(flags & flag) == _num(flag)


# name in qgiscompat, scoped enum in Qgis (from which version), old owner and name
ENUMS = [
    ("SOURCE_VECTOR", "ProcessingSourceType", 33600, "QgsProcessing", "TypeVector"),
    ("SOURCE_VECTOR_POINT", "ProcessingSourceType", 33600, "QgsProcessing", "TypeVectorPoint"),
    ("SOURCE_RASTER", "ProcessingSourceType", 33600, "QgsProcessing", "TypeRaster"),
    ("SOURCE_FILE", "ProcessingSourceType", 33600, "QgsProcessing", "TypeFile"),
    ("NUMBER_DOUBLE", "ProcessingNumberParameterType", 33600, "QgsProcessingParameterNumber", "Double"),
    ("NUMBER_INTEGER", "ProcessingNumberParameterType", 33600, "QgsProcessingParameterNumber", "Integer"),
    ("FIELD_NUMERIC", "ProcessingFieldParameterDataType", 33600, "QgsProcessingParameterField", "Numeric"),
    ("FLAG_ADVANCED", "ProcessingParameterFlag", 33600, "QgsProcessingParameterDefinition", "FlagAdvanced"),
    ("FLAG_OPTIONAL", "ProcessingParameterFlag", 33600, "QgsProcessingParameterDefinition", "FlagOptional"),
    ("WKB_POINT", "WkbType", 33000, "QgsWkbTypes", "Point"),
    ("WKB_NO_GEOMETRY", "WkbType", 33000, "QgsWkbTypes", "NoGeometry"),
    ("SOURCE_OF_CHILD_OUTPUT", "ProcessingModelChildParameterSource", 33600,
     "QgsProcessingModelChildParameterSource", "ChildOutput"),
    ("SOURCE_OF_MODEL_PARAMETER", "ProcessingModelChildParameterSource", 33600,
     "QgsProcessingModelChildParameterSource", "ModelParameter"),
    ("SOURCE_OF_EXPRESSION", "ProcessingModelChildParameterSource", 33600,
     "QgsProcessingModelChildParameterSource", "Expression"),
]


@pytest.mark.parametrize("name,scoped,since,owner,old", ENUMS, ids=[e[0] for e in ENUMS])
def test_enum_is_the_scoped_one_where_qgis_has_it(qgis_app, name, scoped, since, owner, old):
    import qgis.core as qc

    value = getattr(compat(), name)
    if version() >= since:
        assert isinstance(value, getattr(qc.Qgis, scoped)), (name, type(value))
    else:
        legacy = getattr(getattr(qc, owner), old)
        assert value is legacy or (type(value) is type(legacy) and value == legacy), (name, type(value))
    legacy = getattr(getattr(qc, owner), old, None)  # gone in Qt 6 builds
    if legacy is not None:
        assert _num(value) == _num(legacy)


def test_fast_insert_and_field_types(qgis_app):
    from qgis.core import QgsFeatureSink
    from qgis.PyQt.QtCore import QMetaType

    c = compat()
    assert isinstance(c.FAST_INSERT, QgsFeatureSink.Flag) and _num(c.FAST_INSERT) == 2
    types = [c.FIELD_DOUBLE, c.FIELD_LONGLONG, c.FIELD_STRING, c.FIELD_DATETIME]
    if version() >= 33800:
        assert all(isinstance(t, QMetaType.Type) for t in types)
    else:
        from qgis.PyQt.QtCore import QVariant
        assert all(isinstance(t, QVariant.Type) for t in types)
    # QVariant::Type and QMetaType::Type share these numbers
    assert [_num(t) for t in types] == [_num(QMetaType.Type.Double), _num(QMetaType.Type.LongLong),
                                        _num(QMetaType.Type.QString), _num(QMetaType.Type.QDateTime)]


def test_parameters_built_with_the_names(qgis_app):
    from qgis.core import (QgsProcessingParameterFeatureSink, QgsProcessingParameterFeatureSource,
                           QgsProcessingParameterField, QgsProcessingParameterMultipleLayers,
                           QgsProcessingParameterNumber, QgsProcessingParameters)

    c = compat()
    src = QgsProcessingParameterFeatureSource("IN", "in", [c.SOURCE_VECTOR, c.SOURCE_VECTOR_POINT])
    assert [_num(t) for t in src.dataTypes()] == [_num(c.SOURCE_VECTOR), _num(c.SOURCE_VECTOR_POINT)]
    assert _num(QgsProcessingParameterFeatureSink("OUT", "out", c.SOURCE_VECTOR_POINT).dataType()) == \
        _num(c.SOURCE_VECTOR_POINT)
    for kind in (c.SOURCE_FILE, c.SOURCE_RASTER):
        assert _num(QgsProcessingParameterMultipleLayers("L", "l", kind).layerType()) == _num(kind)
    field = QgsProcessingParameterField("F", "f", None, "IN", c.FIELD_NUMERIC)
    assert _num(field.dataType()) == _num(c.FIELD_NUMERIC)

    num = QgsProcessingParameterNumber("D", "d", c.NUMBER_DOUBLE, 0.5, False, 0.0, 1.0)
    assert _num(num.dataType()) == _num(c.NUMBER_DOUBLE)
    copy = QgsProcessingParameters.parameterFromVariantMap(num.toVariantMap())
    assert _num(copy.dataType()) == _num(c.NUMBER_DOUBLE)
    num = QgsProcessingParameterNumber("I", "i", c.NUMBER_INTEGER, 3, False, 1, 10)
    assert _num(num.dataType()) == _num(c.NUMBER_INTEGER)

    p = QgsProcessingParameterNumber("N", "n", c.NUMBER_DOUBLE)
    assert not _has(p.flags(), c.FLAG_ADVANCED) and not p.checkValueIsAcceptable(None)
    assert c.add_flags(p, c.FLAG_ADVANCED) is p
    assert _has(p.flags(), c.FLAG_ADVANCED) and not _has(p.flags(), c.FLAG_OPTIONAL)
    c.add_flags(p, c.FLAG_OPTIONAL)  # adds to the flags set before
    assert _has(p.flags(), c.FLAG_ADVANCED) and _has(p.flags(), c.FLAG_OPTIONAL)
    assert p.checkValueIsAcceptable(None)  # optional now
    # an optional parameter made by the constructor has the same flag
    assert _has(QgsProcessingParameterNumber("O", "o", c.NUMBER_DOUBLE, None, True).flags(), c.FLAG_OPTIONAL)


def test_field_types_round_trip_in_a_memory_layer(qgis_app):
    from qgis.core import QgsFeature, QgsField, QgsFields, QgsMemoryProviderUtils
    from qgis.PyQt.QtCore import QDate, QDateTime, QTime

    c = compat()
    fields = QgsFields()
    for name, kind in (("d", c.FIELD_DOUBLE), ("n", c.FIELD_LONGLONG), ("s", c.FIELD_STRING),
                       ("t", c.FIELD_DATETIME)):
        fields.append(QgsField(name, kind))
    layer = QgsMemoryProviderUtils.createMemoryLayer("t", fields, c.WKB_NO_GEOMETRY)
    assert layer.isValid() and not layer.isSpatial()
    assert [f.typeName().lower() for f in layer.fields()] == ["double", "int8", "string", "datetime"]
    f = QgsFeature(layer.fields())
    when = QDateTime(QDate(2007, 6, 1), QTime(12, 30))
    f.setAttributes([1.5, 2 ** 40, "DE-Hai", when])
    assert layer.dataProvider().addFeature(f, c.FAST_INSERT)
    (back,) = list(layer.getFeatures())
    assert back.attributes() == [1.5, 2 ** 40, "DE-Hai", when]
    assert [_num(fld.type()) for fld in layer.fields()] == [_num(c.FIELD_DOUBLE), _num(c.FIELD_LONGLONG),
                                                           _num(c.FIELD_STRING), _num(c.FIELD_DATETIME)]
    points = QgsMemoryProviderUtils.createMemoryLayer("p", fields, c.WKB_POINT)
    assert points.isSpatial() and _num(points.wkbType()) == _num(c.WKB_POINT)


def _table_algorithm(df, lon=None, lat=None):
    from qgis.core import QgsProcessingAlgorithm, QgsProcessingParameterFeatureSink, QgsProcessingParameterField

    from ecoresp.algorithms.tables import write_table

    c = compat()

    class TableAlgorithm(QgsProcessingAlgorithm):
        def name(self):
            return "compattable"

        def displayName(self):  # noqa: N802
            return self.name()

        def createInstance(self):  # noqa: N802
            return TableAlgorithm()

        def initAlgorithm(self, config=None):  # noqa: N802
            self.addParameter(QgsProcessingParameterField("FIELDS", "fields", None, allowMultiple=True,
                                                          optional=True))
            self.addParameter(QgsProcessingParameterFeatureSink(
                "OUTPUT", "out", c.SOURCE_VECTOR_POINT if lon else c.SOURCE_VECTOR))

        def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
            return {"OUTPUT": write_table(self, parameters, "OUTPUT", context, df, feedback, lon=lon, lat=lat)}

    return TableAlgorithm()


def test_write_table_through_a_sink_round_trips_every_kind(qgis_app, qgis_processing, tmp_path):
    """tables.write_table (FIELD_*, WKB_*, FAST_INSERT) into a GeoPackage, read back."""
    import pandas as pd
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsVectorLayer

    from ecoresp.algorithms.tables import source_to_dataframe

    df = pd.DataFrame({"x": [1.5, float("nan")], "n": [2 ** 40, 3], "flag": [True, False], "site": ["DE-Hai", None],
                       "t": pd.to_datetime(["2007-06-01 12:30", "2008-02-29 00:00"]),
                       "lon": [10.45, 11.0], "lat": [51.08, 51.5]})
    for lon, lat, spatial in ((None, None, False), ("lon", "lat", True)):
        alg = _table_algorithm(df, lon, lat)
        out = str(tmp_path / f"t_{spatial}.gpkg")
        res, ok = alg.run({"OUTPUT": out}, QgsProcessingContext(), QgsProcessingFeedback())
        assert ok, res
        layer = QgsVectorLayer(res["OUTPUT"], "t", "ogr")
        assert layer.isValid() and layer.featureCount() == 2 and layer.isSpatial() == spatial
        types = {f.name(): f.typeName() for f in layer.fields()}
        assert (types["x"], types["n"], types["flag"], types["site"], types["t"]) == \
            ("Real", "Integer64", "Integer64", "String", "DateTime"), types
        back = source_to_dataframe(layer, ["x", "n", "flag", "site", "t"])
        assert back["x"].iloc[0] == 1.5 and pd.isna(back["x"].iloc[1])
        assert back["n"].tolist() == [2 ** 40, 3] and back["flag"].tolist() == [1, 0]
        assert back["site"].iloc[0] == "DE-Hai" and pd.isna(back["site"].iloc[1])
        assert back["t"].tolist() == [datetime.datetime(2007, 6, 1, 12, 30), datetime.datetime(2008, 2, 29)]
        if spatial:
            pt = next(layer.getFeatures()).geometry().asPoint()
            assert (round(pt.x(), 6), round(pt.y(), 6)) == (10.45, 51.08)


def test_parameter_as_strings(qgis_app):
    from qgis.core import QgsProcessingAlgorithm, QgsProcessingContext

    c = compat()
    alg = _table_algorithm(None)
    alg.initAlgorithm({})
    ctx = QgsProcessingContext()
    assert c.parameter_as_strings(alg, {"FIELDS": ["TA_F", "VPD_F"]}, "FIELDS", ctx) == ["TA_F", "VPD_F"]
    assert c.parameter_as_strings(alg, {"FIELDS": "TA_F;VPD_F"}, "FIELDS", ctx) == ["TA_F", "VPD_F"]
    assert c.parameter_as_strings(alg, {}, "FIELDS", ctx) == []
    assert hasattr(QgsProcessingAlgorithm, "parameterAsStrings") == (version() >= 33200)
