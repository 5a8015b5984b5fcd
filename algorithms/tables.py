"""Writing pandas tables to Processing feature sinks (CSV, GeoPackage, memory layers), so
tables open in QGIS and chain in models.  QGIS-side I/O only.  A table written to a file goes
under a temporary name renamed when the whole run succeeded (algorithms/staging.py).
"""

import contextlib
import math
import os

import numpy as np
import pandas as pd
from osgeo import gdal
from qgis.core import (QgsCoordinateReferenceSystem, QgsExpression, QgsFeature, QgsFeatureRequest,
                       QgsField, QgsFields, QgsGeometry, QgsPointXY, QgsProcessingException)
from qgis.PyQt.QtCore import QDateTime

from .destinations import source_path
from .qgiscompat import (FAST_INSERT, FIELD_DATETIME, FIELD_DOUBLE, FIELD_LONGLONG, FIELD_STRING, WKB_NO_GEOMETRY,
                         WKB_POINT)
from .staging import PENDING, staged_destination, staged_tables

# the kind of a column decides its field type and how its values are written
DATETIME, INTEGER, DOUBLE, STRING = "datetime", "integer", "double", "string"
FIELD_TYPES = {DATETIME: FIELD_DATETIME, INTEGER: FIELD_LONGLONG, DOUBLE: FIELD_DOUBLE, STRING: FIELD_STRING}


def _kind(series):
    if pd.api.types.is_datetime64_any_dtype(series):
        return DATETIME
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_integer_dtype(series):
        return INTEGER
    if pd.api.types.is_float_dtype(series):
        return DOUBLE
    return STRING


def _value(v, kind):
    if v is None:
        return None
    if kind == DATETIME:
        if pd.isna(v):
            return None
        return QDateTime.fromString(pd.Timestamp(v).strftime("%Y-%m-%dT%H:%M:%S"), "yyyy-MM-ddTHH:mm:ss")
    if kind == DOUBLE:
        v = float(v)
        return None if math.isnan(v) else v
    if kind == INTEGER:
        return int(v)
    if isinstance(v, float) and math.isnan(v):
        return None
    return str(v)


def write_table(alg, parameters, name, context, df, feedback=None, lon=None, lat=None):
    """Write ``df`` (index included as a column when named) to the sink parameter ``name``.
    With ``lon``/``lat`` column names, a point layer in EPSG:4326; otherwise a plain table.
    Returns the destination id, or None for an optional sink that was not asked for.  A file
    destination is written under a temporary name, renamed when the run succeeds
    (``staged_tables``; at once when called outside a run)."""
    if parameters.get(name) is None:
        return None
    with contextlib.ExitStack() as stack:
        if getattr(alg, PENDING, None) is None:
            stack.enter_context(staged_tables(alg))
        label = alg.parameter_label(name) if hasattr(alg, "parameter_label") else name
        staged, parameters = staged_destination(parameters, name, label)
        if staged is not None:
            getattr(alg, PENDING).append(staged)
        dest = _write(alg, parameters, name, context, df, feedback, lon, lat, label,
                      staged.final if staged is not None else None)
        if staged is not None:
            if context.willLoadLayerOnCompletion(dest):  # QGIS loads the destination, not the tmp file
                layers = context.layersToLoadOnCompletion()
                layers[staged.final] = layers.pop(dest)
                context.setLayersToLoadOnCompletion(layers)
            dest = staged.final
    return dest


def _write(alg, parameters, name, context, df, feedback, lon, lat, label, final):
    if df.index.name:
        df = df.reset_index()
    # a GeoPackage makes its own feature id: a 'fid' column read from another layer would clash
    df = df[[c for c in df.columns if str(c).lower() != "fid"]]
    fields = QgsFields()
    kinds = []
    for c in df.columns:
        kind = _kind(df[c])
        kinds.append(kind)
        fields.append(QgsField(str(c), FIELD_TYPES[kind]))
    geom_type = WKB_POINT if lon else WKB_NO_GEOMETRY
    crs = QgsCoordinateReferenceSystem("EPSG:4326") if lon else QgsCoordinateReferenceSystem()
    sink, dest = alg.parameterAsSink(parameters, name, context, fields, geom_type, crs)
    shown = final or dest
    if sink is None:
        raise QgsProcessingException(f"{label}: cannot create the output table")
    cols = [df[c].to_numpy() for c in df.columns]
    n = len(df)
    for i in range(n):
        if feedback is not None and i % 5000 == 0 and feedback.isCanceled():
            raise QgsProcessingException("Cancelled by the user")
        f = QgsFeature(fields)
        f.setAttributes([_value(col[i], k) for col, k in zip(cols, kinds)])
        if lon:
            x, y = df[lon].iat[i], df[lat].iat[i]
            if x is not None and y is not None and np.isfinite(x) and np.isfinite(y):
                f.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(float(x), float(y))))
        if not sink.addFeature(f, FAST_INSERT):
            raise QgsProcessingException(f"{label}: cannot write row {i + 1} to {shown}: {_sink_error(sink)}")
    if not sink.flushBuffer():
        raise QgsProcessingException(f"{label}: cannot write {shown}: {_sink_error(sink)}")
    path = source_path(dest)
    del sink  # closes a file written by QGIS: a full disk shows only now, as a file cut short
    _check_written(label, path, n, final)
    return dest


def _check_written(label, path, n_rows, shown=None):
    """Raise (and remove the file) when the table file ``path`` does not hold ``n_rows`` rows:
    QGIS's file writers report no error when the disk fills up while they close the file.
    ``shown``: the destination named in the message (``path`` is its temporary file)."""
    if not path or not os.path.isfile(path):
        return
    try:
        ds = gdal.OpenEx(path, gdal.OF_VECTOR | gdal.OF_READONLY)
        count = ds.GetLayer(0).GetFeatureCount() if ds is not None else -1
    except RuntimeError:  # GDAL with exceptions enabled
        count = -1
    ds = None
    if count != n_rows:
        os.remove(path)
        written = "none could be read back" if count < 0 else f"{count} of {n_rows} rows were written"
        raise QgsProcessingException(f"{label}: {shown or path} cannot be written ({written}: full disk?); "
                                     "nothing was written there")


def _sink_error(sink):
    """The last error a feature sink reports (QGIS 3.16+), else a generic reason."""
    error = sink.lastError() if hasattr(sink, "lastError") else ""
    return error or "write error (full disk or read-only folder?)"


def source_to_dataframe(source, fields, what="INPUT", numeric_text=False, expression=None):
    """Read ``fields`` of a feature source into a DataFrame (QDateTime -> Timestamp,
    NULL -> NaN).  Errors name the missing field.  With ``numeric_text``, a text field whose
    every non-empty value is a number becomes numeric (a CSV opened without a .csvt file has
    only text fields).  ``expression``: a QGIS filter expression selecting the features read."""
    names = source.fields().names()
    missing = [f for f in fields if f not in names]
    if missing:
        raise QgsProcessingException(f"{what}: has no field(s) {', '.join(missing)}; fields: {', '.join(names)}")
    idx = [names.index(f) for f in fields]
    rows = []
    request = QgsFeatureRequest()
    if expression:
        check = QgsExpression(expression)
        if check.hasParserError():
            raise QgsProcessingException(f"{what}: filter expression {expression!r}: {check.parserErrorString()}")
        request.setFilterExpression(expression)
    for feat in source.getFeatures(request):
        attrs = feat.attributes()
        rows.append([_py(attrs[i]) for i in idx])
    df = pd.DataFrame(rows, columns=list(fields))
    return numeric_text_columns(df) if numeric_text else df


def numeric_text_columns(df):
    """``df`` with every object column whose non-empty values all parse as numbers converted
    to float64 (empty strings become NaN)."""
    for c in df.columns:
        if df[c].dtype != object:
            continue
        text = df[c].map(lambda v: v.strip() if isinstance(v, str) else v)
        text = text.where(text != "", None)
        num = pd.to_numeric(text, errors="coerce")
        if text.notna().any() and num.notna().sum() == text.notna().sum():
            df[c] = num.astype("float64")
    return df


def _py(v):
    if v is None:
        return None
    if isinstance(v, QDateTime):
        return pd.Timestamp(v.toString("yyyy-MM-ddTHH:mm:ss")) if v.isValid() else None
    if hasattr(v, "isNull") and v.isNull():
        return None
    return v
