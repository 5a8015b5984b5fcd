"""The QGIS API names that differ between QGIS 3.22 and QGIS 3.44 / QGIS 4 (Qt 6), in one place.

QGIS 3.36 moved the Processing enums into ``Qgis`` as scoped enums; the old unscoped names
(``QgsProcessing.TypeVector``, ``QgsProcessingParameterNumber.Double``, ``p.FlagAdvanced``, ...)
are deprecated aliases that Qt 6 builds (QGIS 4) no longer have, and QGIS 3.22 knows only them.
Each constant below is chosen by feature detection (the new name when this QGIS has it, else
the old one), never by comparing version numbers; the rest of the plugin uses these names and
no unscoped enum (tests/core/test_packaging.py checks it).

- SOURCE_VECTOR, SOURCE_VECTOR_POINT, SOURCE_RASTER, SOURCE_FILE: ``Qgis.ProcessingSourceType``
  (3.36), else ``QgsProcessing.TypeVector`` ... (sources, sinks, multiple-layer parameters).
- NUMBER_DOUBLE, NUMBER_INTEGER: ``Qgis.ProcessingNumberParameterType`` (3.36), else
  ``QgsProcessingParameterNumber.Double`` / ``Integer``.
- FIELD_NUMERIC: ``Qgis.ProcessingFieldParameterDataType.Numeric`` (3.36), else
  ``QgsProcessingParameterField.Numeric``.
- FLAG_ADVANCED, FLAG_OPTIONAL: ``Qgis.ProcessingParameterFlag`` (3.36), else
  ``QgsProcessingParameterDefinition.FlagAdvanced`` / ``FlagOptional``.  Combine them with
  ``add_flags(p, FLAG_ADVANCED)`` (``p.setFlags(p.flags() | flag)``, right on every version).
- WKB_POINT, WKB_NO_GEOMETRY: ``Qgis.WkbType`` (3.30), else ``QgsWkbTypes.Point`` / ``NoGeometry``.
- SOURCE_OF_CHILD_OUTPUT, SOURCE_OF_MODEL_PARAMETER, SOURCE_OF_EXPRESSION: where a model step's
  value comes from, ``Qgis.ProcessingModelChildParameterSource`` (3.36), else
  ``QgsProcessingModelChildParameterSource.ChildOutput`` ...
- FAST_INSERT: ``QgsFeatureSink.Flag.FastInsert`` (scoped access works on 3.22 already), else
  ``QgsFeatureSink.FastInsert``.
- FIELD_DOUBLE, FIELD_LONGLONG, FIELD_STRING, FIELD_DATETIME, types for ``QgsField(name, type)``:
  ``QMetaType.Type`` where QgsField takes it (3.38; the QVariant.Type overload is deprecated there
  and QVariant.Type does not exist in Qt 6), else ``QVariant.Type`` (3.22 takes nothing else).
- parameter_as_strings(): ``parameterAsStrings`` (3.32), else ``parameterAsFields`` (deprecated
  in 3.32).
"""

from qgis.core import (Qgis, QgsFeatureSink, QgsField, QgsProcessing, QgsProcessingModelChildParameterSource,
                       QgsProcessingParameterDefinition,
                       QgsProcessingParameterField, QgsProcessingParameterNumber, QgsWkbTypes)
from qgis.PyQt.QtCore import QMetaType

__all__ = ["SOURCE_VECTOR", "SOURCE_VECTOR_POINT", "SOURCE_RASTER", "SOURCE_FILE",
           "NUMBER_DOUBLE", "NUMBER_INTEGER", "FIELD_NUMERIC", "FLAG_ADVANCED", "FLAG_OPTIONAL",
           "WKB_POINT", "WKB_NO_GEOMETRY", "FAST_INSERT",
           "SOURCE_OF_CHILD_OUTPUT", "SOURCE_OF_MODEL_PARAMETER", "SOURCE_OF_EXPRESSION",
           "FIELD_DOUBLE", "FIELD_LONGLONG", "FIELD_STRING", "FIELD_DATETIME",
           "add_flags", "parameter_as_strings"]


def _pick(owner, scoped_enum, member, legacy_owner, legacy_name):
    """``owner.<scoped_enum>.<member>`` when this QGIS has it, else ``legacy_owner.<legacy_name>``."""
    enum = getattr(owner, scoped_enum, None)
    if enum is not None and hasattr(enum, member):
        return getattr(enum, member)
    return getattr(legacy_owner, legacy_name)


# layer types of feature sources and sinks and of multiple-layer parameters (3.36); VECTOR is any
# vector layer, tables without geometry too; FILE is for QgsProcessingParameterMultipleLayers
SOURCE_VECTOR = _pick(Qgis, "ProcessingSourceType", "Vector", QgsProcessing, "TypeVector")
SOURCE_VECTOR_POINT = _pick(Qgis, "ProcessingSourceType", "VectorPoint", QgsProcessing, "TypeVectorPoint")
SOURCE_RASTER = _pick(Qgis, "ProcessingSourceType", "Raster", QgsProcessing, "TypeRaster")
SOURCE_FILE = _pick(Qgis, "ProcessingSourceType", "File", QgsProcessing, "TypeFile")

# QgsProcessingParameterNumber types (3.36)
NUMBER_DOUBLE = _pick(Qgis, "ProcessingNumberParameterType", "Double", QgsProcessingParameterNumber, "Double")
NUMBER_INTEGER = _pick(Qgis, "ProcessingNumberParameterType", "Integer", QgsProcessingParameterNumber, "Integer")

# QgsProcessingParameterField data types (3.36)
FIELD_NUMERIC = _pick(Qgis, "ProcessingFieldParameterDataType", "Numeric", QgsProcessingParameterField, "Numeric")

# parameter flags (3.36)
FLAG_ADVANCED = _pick(Qgis, "ProcessingParameterFlag", "Advanced", QgsProcessingParameterDefinition, "FlagAdvanced")
FLAG_OPTIONAL = _pick(Qgis, "ProcessingParameterFlag", "Optional", QgsProcessingParameterDefinition, "FlagOptional")

# geometry types of feature sinks (Qgis.WkbType: 3.30)
WKB_POINT = _pick(Qgis, "WkbType", "Point", QgsWkbTypes, "Point")
WKB_NO_GEOMETRY = _pick(Qgis, "WkbType", "NoGeometry", QgsWkbTypes, "NoGeometry")

# where a model step's parameter value comes from (models/build_models.py, tests): Qgis (3.36), else
# QgsProcessingModelChildParameterSource.ChildOutput ...
SOURCE_OF_CHILD_OUTPUT = _pick(Qgis, "ProcessingModelChildParameterSource", "ChildOutput",
                               QgsProcessingModelChildParameterSource, "ChildOutput")
SOURCE_OF_MODEL_PARAMETER = _pick(Qgis, "ProcessingModelChildParameterSource", "ModelParameter",
                                  QgsProcessingModelChildParameterSource, "ModelParameter")
SOURCE_OF_EXPRESSION = _pick(Qgis, "ProcessingModelChildParameterSource", "Expression",
                             QgsProcessingModelChildParameterSource, "Expression")

# feature sink flags: QgsFeatureSink.Flag stays in its class; only the unscoped access goes in Qt 6
FAST_INSERT = _pick(QgsFeatureSink, "Flag", "FastInsert", QgsFeatureSink, "FastInsert")


def _field_types():
    """QgsField types: QMetaType.Type where QgsField takes it (QGIS 3.38; QVariant.Type is gone in
    Qt 6), else QVariant.Type (QGIS 3.22 accepts nothing else)."""
    try:
        QgsField("probe", QMetaType.Type.Double)
    except TypeError:
        from qgis.PyQt.QtCore import QVariant
        return QVariant.Double, QVariant.LongLong, QVariant.String, QVariant.DateTime
    return QMetaType.Type.Double, QMetaType.Type.LongLong, QMetaType.Type.QString, QMetaType.Type.QDateTime


FIELD_DOUBLE, FIELD_LONGLONG, FIELD_STRING, FIELD_DATETIME = _field_types()


def add_flags(param, flags):
    """``param`` with ``flags`` (e.g. FLAG_ADVANCED) added to its flags; returns ``param``."""
    param.setFlags(param.flags() | flags)
    return param


def parameter_as_strings(alg, parameters, name, context):
    """The list of strings of a multiple field (or string list) parameter: ``parameterAsStrings``
    (QGIS 3.32) where it exists, else ``parameterAsFields`` (deprecated since 3.32)."""
    if hasattr(alg, "parameterAsStrings"):
        return alg.parameterAsStrings(parameters, name, context)
    return alg.parameterAsFields(parameters, name, context)
