"""Progress and Cancel in one place, for every long loop of the core.

``Progress`` wraps the two hooks a caller may give (a ``progress(fraction)`` callable and
a ``cancelled()`` callable); the QGIS layer passes ``feedback.setProgress`` (in percent,
adapted) and ``feedback.isCanceled``.  Every long loop calls ``Progress.step``, which raises
``Cancelled`` as soon as the user asks.  It lives in ``common`` because science kernels (site
partitioning, model fitting) report progress too; the raster-job layer (``ecoresp_core.jobs``)
builds its row-block walk on it.
"""

from ..errors import Cancelled


class Progress:
    """Progress over ``[start, end]`` of the caller's 0..1 range, with cancellation.

    Parameters
    ----------
    progress : callable or None
        Receives the done fraction of the caller's whole range (0..1).
    cancelled : callable or None
        Returns True when the user asked to stop.
    start, end : float
        The part of the caller's range this object reports into (fractions 0..1).
    """

    def __init__(self, progress=None, cancelled=None, start=0.0, end=1.0):
        self._progress = progress
        self._cancelled = cancelled
        self.start, self.end = float(start), float(end)

    def check(self):
        """Raise ``Cancelled`` when the user asked to stop."""
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
        """The caller's ``cancelled()`` hook (or None), to hand on to kernels."""
        return self._cancelled
