"""Block iteration within a memory budget, with progress and Cancel in one place.

``Progress`` wraps the two hooks a caller may give (a ``progress(fraction)`` callable and
a ``cancelled()`` callable); the QGIS layer passes ``feedback.setProgress`` (in percent,
adapted) and ``feedback.isCanceled``.  Every long loop in the core calls
``Progress.step`` which raises ``Cancelled`` as soon as the user asks.
"""

from .errors import Cancelled

DEFAULT_BUDGET_MB = 1024


class Progress:
    """Progress over ``[start, end]`` of the caller's 0..1 range, with cancellation."""

    def __init__(self, progress=None, cancelled=None, start=0.0, end=1.0):
        self._progress = progress
        self._cancelled = cancelled
        self.start, self.end = float(start), float(end)

    def check(self):
        if self._cancelled is not None and self._cancelled():
            raise Cancelled("cancelled by the user")

    def step(self, fraction):
        """Report ``fraction`` (0..1) of this stage done and honour Cancel."""
        self.check()
        if self._progress is not None:
            self._progress(self.start + (self.end - self.start) * min(max(fraction, 0.0), 1.0))

    def sub(self, a, b):
        """A Progress for the sub-range [a, b] (fractions of this one)."""
        span = self.end - self.start
        return Progress(self._progress, self._cancelled, self.start + span * a, self.start + span * b)

    @property
    def cancelled(self):
        return self._cancelled


def row_blocks(height, width, bytes_per_cell, budget_mb=DEFAULT_BUDGET_MB):
    """Split ``height`` rows into blocks of whole rows such that
    ``rows * width * bytes_per_cell`` stays within ``budget_mb`` (at least one row)."""
    budget = max(float(budget_mb), 1.0) * 2 ** 20
    rows = int(budget // max(width * bytes_per_cell, 1))
    rows = max(1, min(height, rows))
    return [(r, min(r + rows, height)) for r in range(0, height, rows)]


def run_row_blocks(height, width, bytes_per_cell, work, progress=None, budget_mb=DEFAULT_BUDGET_MB):
    """Call ``work(row0, row1, sub_progress)`` for each block, reporting progress and
    raising ``Cancelled`` between (and, through ``sub_progress``, inside) blocks."""
    progress = progress or Progress()
    blocks = row_blocks(height, width, bytes_per_cell, budget_mb)
    for i, (r0, r1) in enumerate(blocks):
        progress.check()
        work(r0, r1, progress.sub(i / len(blocks), (i + 1) / len(blocks)))
        progress.step((i + 1) / len(blocks))
    return len(blocks)
