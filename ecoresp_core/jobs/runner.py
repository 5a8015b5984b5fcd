"""The raster-job runner: the one place where a file-to-file job walks its grid.

Every raster job of ecoresp (trend, detrend, integration, attribution, prediction, derived
drivers) has the same frame, written here once:

- provenance: the outputs' metadata (method, options, inputs, versions; ``provenance``),
  computed when the first output is created;
- Progress and Cancel over the whole run (``common.progress.Progress``);
- the row-block walk within a memory budget (``blocks.run_row_blocks``);
- outputs written through atomic ``io.series.SeriesWriter`` s under temporary names, committed
  together only when every block succeeded (categorical outputs get their colour table when
  created and a QGIS ``.qml`` style when committed); on an error or Cancel every temporary file
  is removed and no destination is touched;
- an output created with ``why_empty`` must hold a value somewhere (in one of its
  ``value_bands``): if every cell is nodata, :meth:`RasterJob.commit` raises an InputError
  saying so and why (the job's ``why_empty()`` text), and nothing is written;
- lanes (threads and helper processes, ``parallel.Workers``) kept for the run and closed at
  its end.

A job module validates its inputs, opens a ``RasterJob`` in a ``with`` block, creates its
outputs with :meth:`RasterJob.output`, computes each block in a ``work(row0, row1, sub)``
closure passed to :meth:`RasterJob.walk`, and ends with :meth:`RasterJob.commit`.
"""

import contextlib

from ..common.progress import Progress
from ..errors import InputError
from ..io.series import SeriesWriter
from ..io.styles import write_qml
from .blocks import DEFAULT_BUDGET_MB, gdal_cache, gdal_cache_mb, output_tile_rows, run_row_blocks
from .parallel import Workers
from .provenance import provenance


class RasterJob:
    """Frame of one file-to-file raster job (see the module docstring); a context manager.

    Parameters
    ----------
    algorithm : str
        Job name recorded as ``ECORESP_ALGORITHM``.
    options : dict
        Options recorded as ``ECORESP_OPTIONS``.
    inputs : dict or None
        Input labels recorded as ``ECORESP_INPUTS``.
    progress, cancelled : callable or None
        The caller's hooks: ``progress(fraction 0..1)`` and ``cancelled() -> bool``.
    budget_mb : float
        Memory budget of the run (MB): GDAL's block cache gets a part of it (``cache_mb``, set
        for the run and restored after), the row blocks the rest (``budget_mb`` attribute).
    """

    def __init__(self, algorithm, options, inputs=None, progress=None, cancelled=None,
                 budget_mb=DEFAULT_BUDGET_MB):
        self.algorithm, self.options, self.inputs = algorithm, options, inputs
        self.progress = Progress(progress, cancelled)
        # GDAL's block cache is part of the budget: the row blocks get the rest (blocks.gdal_cache_mb)
        self.cache_mb = gdal_cache_mb(budget_mb)
        self.budget_mb = max(float(budget_mb) - self.cache_mb, 1.0)
        self._meta = None
        self._outputs = []  # (SeriesWriter, classes or None, (why_empty, value_bands)), in creation order
        self._closing = contextlib.ExitStack()

    @property
    def meta(self):
        """The provenance items of every output (a dict; a job may add items before its first
        output is created)."""
        if self._meta is None:
            self._meta = provenance(self.algorithm, self.options, self.inputs)
        return self._meta

    def output(self, path, grid, band_names, classes=None, why_empty=None, value_bands=None, **writer_options):
        """A ``SeriesWriter`` for ``path`` carrying the job's provenance, committed by :meth:`commit`.

        ``classes`` ([(value, label, '#rrggbb'), ...]) makes the output categorical: colour
        table and class names in the file, and a ``.qml`` style beside it at commit.
        ``why_empty`` (a callable returning a sentence) makes an output that is nodata everywhere
        (in every band, or in the bands ``value_bands``: 0-based indexes) an error: :meth:`commit`
        raises InputError with that sentence.  Other keywords
        (``band_metadata``, ``nodata``, ``dtype``) go to ``SeriesWriter``.
        """
        writer_options.setdefault("tile_rows", output_tile_rows(self.cache_mb, grid.width, len(band_names)))
        writer = SeriesWriter(path, grid, band_names, metadata=self.meta, classes=classes, **writer_options)
        self._outputs.append((writer, classes, (why_empty, value_bands)))
        return writer

    def lanes(self, n_threads=None):
        """``Workers`` of ``n_threads`` lanes (default up to 2), closed when the job ends."""
        return self._closing.enter_context(Workers(n_threads))

    def walk(self, grid, bytes_per_cell, work, budget_mb=None):
        """Call ``work(row0, row1, sub_progress)`` for the row blocks of ``grid`` whose
        ``bytes_per_cell`` (working memory of one cell, bytes) fit the budget (``budget_mb``,
        default the job's).  Returns the number of blocks."""
        budget = self.budget_mb if budget_mb is None else budget_mb
        return run_row_blocks(grid.height, grid.width, bytes_per_cell, work, self.progress, budget)

    def commit(self):
        """Rename every output to its destination (in creation order) and write the styles of
        the categorical ones; first, InputError when an output created with ``why_empty`` has
        no value in any cell (then no output is written)."""
        for writer, _, (why_empty, bands) in self._outputs:
            counts = writer.values_per_band if bands is None else writer.values_per_band[list(bands)]
            if why_empty is not None and not counts.any():
                raise InputError(f"{writer.path}: not written, every pixel of it would be nodata: {why_empty()}")
        for writer, classes, _ in self._outputs:
            writer.commit()
            if classes:
                write_qml(writer.path, classes)

    def __enter__(self):
        self._closing.enter_context(gdal_cache(self.cache_mb))
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            for writer, _, _ in self._outputs:
                if not writer.committed:
                    writer.abort()
        finally:
            self._closing.close()
        return False
