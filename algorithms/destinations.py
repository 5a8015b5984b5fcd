"""Checks made before an algorithm runs, on what it will read and write (files only; layers in
memory or in a database are left to QGIS):

- every output is a new file or replaces an older output, never one of the run's inputs (an
  output path equal to an input path would overwrite the data being read), and no two outputs
  share a path;
- every output's folder exists and is writable (a read-only folder would otherwise fail late,
  or, for tables QGIS writes, not at all);
- every input given as a file exists and is readable as what the parameter expects (QGIS's own
  check says only "not found" or "Incorrect parameter value", without the parameter's label).

Messages name the parameter by its label and NAME (``alg.parameter_label``).
"""

import os
import re

from qgis.core import (
    QgsMapLayer,
    QgsProcessing,
    QgsProcessingFeatureSourceDefinition,
    QgsProcessingOutputLayerDefinition,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFile,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterVectorLayer,
    QgsProcessingUtils,
    QgsProperty,
)
from osgeo import gdal
from qgis.PyQt.QtCore import QUrl

from ..ecoresp_core.io.series import split_source

# parameters whose value names files to read: a layer (source) or a file
_LAYER_TYPES = {QgsProcessingParameterRasterLayer.typeName(): "raster",
                QgsProcessingParameterVectorLayer.typeName(): "vector",
                QgsProcessingParameterFeatureSource.typeName(): "vector"}
_FILE_TYPE = QgsProcessingParameterFile.typeName()
_MULTI_TYPE = QgsProcessingParameterMultipleLayers.typeName()
# a file path inside a string parameter (DRIVER_FILES: name=file; name=NETCDF:"file":var)
_SEPARATORS = re.compile(r"[;\n]")


def _static(value):
    if isinstance(value, QgsProcessingOutputLayerDefinition):
        value = value.sink
    if isinstance(value, QgsProcessingFeatureSourceDefinition):
        value = value.source
    if isinstance(value, QgsProperty):
        value = value.staticValue()
    return value


def source_path(text):
    """The file behind a layer source or a path ('' when it is none): the part before '|' of an
    OGR source, the file of a NETCDF:"file":var source, of a file:// URI (delimited text), of an
    ogr:dbname='file' destination."""
    text = str(text or "").strip()
    if not text or text == QgsProcessing.TEMPORARY_OUTPUT or text.startswith("memory:"):
        return ""
    if text.startswith("ogr:"):
        match = re.search(r"dbname='([^']*)'", text)
        return match.group(1) if match else ""
    if text.startswith("file:"):
        return QUrl(text.split("?", 1)[0]).toLocalFile()
    path, _ = split_source(text.split("|", 1)[0])
    return path


def _same_file(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def output_files(alg, parameters):
    """[(parameter name, path)] of the outputs the run will write to files."""
    out = []
    for definition in alg.destinationParameterDefinitions():
        path = source_path(_static(parameters.get(definition.name())))
        if path:
            out.append((definition.name(), path))
    return out


def _layer_source(text, context):
    try:
        layer = QgsProcessingUtils.mapLayerFromString(text, context, False)
    except Exception:  # noqa: BLE001 - not a project layer
        layer = None
    return layer.source() if layer is not None else text


def input_files(alg, parameters, context):
    """[(parameter name, path)] of the existing files the run reads: layers and files, and the
    files named in string parameters (DRIVER_FILES)."""
    out = []
    for definition in alg.parameterDefinitions():
        if definition.isDestination():
            continue
        value = _static(parameters.get(definition.name()))
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            v = _static(v)
            if isinstance(v, QgsMapLayer):
                texts = [v.source()]
            elif isinstance(v, str) and v:
                texts = [_layer_source(v, context)]
                if definition.type() not in _LAYER_TYPES and definition.type() not in (_FILE_TYPE, _MULTI_TYPE):
                    texts += [t.split("=", 1)[-1] for t in _SEPARATORS.split(v)]
            else:
                continue
            for text in texts:
                path = source_path(text)
                if path and os.path.isfile(path):
                    out.append((definition.name(), path))
    return out


def _destination_problem(path):
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        return f"the folder {folder} does not exist"
    if os.path.isdir(path):
        return f"{path} is a folder, not a file name"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"the folder {folder} is not writable"
    if os.path.exists(path) and not os.access(path, os.W_OK):
        return f"{path} exists and is read-only"
    return ""


def check_destinations(alg, parameters, context):
    """(ok, message): every output file can be written and is none of the inputs nor another
    output."""
    outputs = output_files(alg, parameters)
    inputs = input_files(alg, parameters, context)
    for i, (name, path) in enumerate(outputs):
        label = alg.parameter_label(name)
        problem = _destination_problem(path)
        if problem:
            return False, f"{label}: cannot write {path}: {problem}"
        for in_name, in_path in inputs:
            if _same_file(path, in_path):
                return False, (f"{label}: the output {path} is the input of "
                               f"'{alg.parameter_label(in_name)}'; writing it would destroy the input. "
                               "Choose another file name")
        for other, other_path in outputs[:i]:
            if _same_file(path, other_path) or os.path.abspath(path) == os.path.abspath(other_path):
                return False, (f"{label}: {path} is also the output of '{alg.parameter_label(other)}'; "
                               "give each output its own file")
    return True, ""


def _allowed(definition):
    """What a parameter accepts, for a message: the options of an enum (numbers: checks.py)."""
    if hasattr(definition, "options"):
        return "one of " + ", ".join(f"{i} ({o})" for i, o in enumerate(definition.options()))
    return ""


def check_values(alg, parameters, context):
    """(ok, message): every value given is one the parameter accepts, said with its label and
    what it accepts (QGIS alone says "Incorrect parameter value for NAME")."""
    for definition in alg.parameterDefinitions():
        value = parameters.get(definition.name())
        if value is None or definition.isDestination() or definition.checkValueIsAcceptable(value, context):
            continue
        allowed = _allowed(definition)
        return False, (f"{alg.parameter_label(definition.name())}: {value!r} is not a valid value"
                       + (f"; expected {allowed}" if allowed else ""))
    return True, ""


def _gdal_opens(path, kind):
    """Whether GDAL opens ``path`` as a raster (``kind`` 'raster') or a vector/table; GDAL directly,
    not a QGIS layer, which would write a statistics sidecar (.aux.xml) beside the input."""
    flags = gdal.OF_RASTER if kind == "raster" else gdal.OF_VECTOR
    try:
        return gdal.OpenEx(path, flags | gdal.OF_READONLY) is not None
    except RuntimeError:  # GDAL with exceptions enabled
        return False


def check_input_files(alg, parameters, context):
    """(ok, message): every layer or file input given as a path exists and is readable (a layer
    as the kind of layer the parameter takes)."""
    for definition in alg.parameterDefinitions():
        kind = _LAYER_TYPES.get(definition.type())
        if kind is None and definition.type() != _FILE_TYPE:
            continue
        value = _static(parameters.get(definition.name()))
        if not isinstance(value, str) or not value.strip():
            continue
        source = _layer_source(value, context)
        path = source_path(source)
        label = alg.parameter_label(definition.name())
        if not path or not (os.sep in path or "." in os.path.basename(path)):
            continue  # a layer id or name QGIS resolves itself
        if not os.path.exists(path):
            return False, f"{label}: file not found: {path}"
        if os.path.isfile(path) and not os.access(path, os.R_OK):
            return False, f"{label}: {path} is not readable (permissions)"
        if kind is not None and source == value:
            if not _gdal_opens(value, kind):
                what = "a raster GDAL can read" if kind == "raster" else "a table or vector layer QGIS can read"
                return False, f"{label}: {path} is not {what} (empty, truncated or of another format?)"
    return True, ""


def name_the_input(alg, parameters, context, message):
    """``message`` with the label of the input it is about in front ('Label (NAME): ...') when it
    names none of the algorithm's parameters but holds the path of one input file (the core's
    messages name files, not parameters); else ``message`` unchanged."""
    if any(f"({d.name()})" in message for d in alg.parameterDefinitions()):
        return message
    for name, path in input_files(alg, parameters, context):
        if path in message:
            return f"{alg.parameter_label(name)}: {message}"
    return message
