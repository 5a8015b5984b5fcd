"""Table outputs under temporary names until the run succeeded.

A table written to a file goes under a temporary name beside its destination
(``ecoresp_core.io.atomic``: ``.<name>.<pid>-<random>.partial.<ext>``, the extension kept, as it
decides QGIS's driver) and is renamed over the destination only when the whole run succeeded
(``staged_tables``, entered by the error boundary of algorithms/base.py): a run that fails after
the table was written, e.g. on its second output, leaves an older table there byte for byte and
no temporary file.  The layer QGIS loads on completion is the destination, not the temporary file.
Formats staged so: STAGED (a shapefile with its companion files); other destinations (memory
layers, databases, ``ogr:`` URIs, other formats) are written by QGIS directly, as before.
No pandas here: every algorithm's error boundary imports this module.
"""

import contextlib
import glob
import os
import re

from qgis.core import (QgsProcessing, QgsProcessingException, QgsProcessingOutputLayerDefinition,
                       QgsProperty)
from qgis.PyQt.QtCore import QFileInfo

from ..ecoresp_core.io.atomic import partial_path, remove_stale_partials

STAGED = (".csv", ".gpkg", ".geojson", ".xlsx", ".ods", ".shp")
_NAMED_LAYER = (".gpkg", ".geojson", ".xlsx", ".ods")  # formats that store the layer's name
_PROVIDER = re.compile(r"^[A-Za-z][A-Za-z0-9_]+:")  # memory:, ogr:, postgres:, ... (not C:\)
PENDING = "_ecoresp_staged_tables"


class _StagedTable:
    """A table output written under a temporary name (``tmp``) and renamed to ``final`` by
    :meth:`commit`; ``tmp``'s companion files (a shapefile's .dbf, .shx, .prj, .cpg) go with it."""

    def __init__(self, label, final, ext):
        self.label, self.final, self.ext = label, final, ext
        stem = final[:-len(ext)]
        remove_stale_partials(stem)  # left by runs that were killed
        # the extension only once: GDAL's XLSX and ODS drivers cannot write '.x.xlsx.123.partial.xlsx'
        self.tmp = partial_path(stem, ext)
        self._stems = (self.tmp[:-len(ext)], stem)

    def files(self):
        return glob.glob(glob.escape(self._stems[0]) + ".*")

    def commit(self):
        tmp_stem, stem = self._stems
        for path in sorted(self.files(), key=lambda p: p == self.tmp):  # the main file last
            os.replace(path, stem + path[len(tmp_stem):])

    def discard(self):
        for path in self.files():
            with contextlib.suppress(OSError):
                os.remove(path)


def staged_destination(parameters, name, label):
    """(_StagedTable, parameters with the sink redirected to its temporary file), or (None,
    parameters) when the destination is written directly (see the module docstring)."""
    value = parameters.get(name)
    sink = value.sink if isinstance(value, QgsProcessingOutputLayerDefinition) else value
    if isinstance(sink, QgsProperty):  # an expression-based one has no static value: written directly
        sink = sink.staticValue()
    path = sink.strip() if isinstance(sink, str) else ""
    ext = os.path.splitext(path)[1]
    if (not path or path == QgsProcessing.TEMPORARY_OUTPUT or _PROVIDER.match(path) or "|" in path
            or ext.lower() not in STAGED):
        return None, parameters
    staged = _StagedTable(label, path, ext)
    if isinstance(value, QgsProcessingOutputLayerDefinition):  # keeps where and whether it loads
        definition = QgsProcessingOutputLayerDefinition(value)
        definition.sink = QgsProperty.fromValue(staged.tmp)
    else:
        definition = QgsProcessingOutputLayerDefinition(staged.tmp)
    if ext.lower() in _NAMED_LAYER:  # the layer name QGIS gives a file 'name.gpkg' (not the hidden tmp's '')
        definition.createOptions = dict(definition.createOptions or {}, layerName=QFileInfo(path).baseName())
    return staged, dict(parameters, **{name: definition})


@contextlib.contextmanager
def staged_tables(alg):
    """Within the block, tables ``write_table`` writes for ``alg`` to files go under temporary
    names; at its end they are renamed to their destinations if the block succeeded, else
    removed (the error boundary of algorithms/base.py wraps every run in it)."""
    pending = []
    setattr(alg, PENDING, pending)
    try:
        yield pending
    except BaseException:
        for staged in pending:
            staged.discard()
        raise
    else:
        for i, staged in enumerate(pending):
            try:
                staged.commit()
            except OSError as exc:
                for rest in pending[i:]:
                    rest.discard()
                raise QgsProcessingException(f"{staged.label}: {staged.final} cannot be written "
                                             f"({exc.strerror or exc}); nothing was written there") from None
    finally:
        setattr(alg, PENDING, None)
