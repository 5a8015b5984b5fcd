"""Per-pixel Mann-Kendall trend test and Theil-Sen slope of a time-series cube: the driver.

:func:`mann_kendall` returns, for every pixel of ``values`` (time first), the bands of
:data:`TREND_BANDS`, each equal to what the pymannkendall function of the chosen variant
(:data:`VARIANTS`) returns for that pixel's series; conventions, variants and units are
described in :mod:`.statistic` and docs/methods.md section 14.  Only numpy and scipy
are used; no QGIS import.

The work is split in three modules:

:mod:`.statistic`
    The Mann-Kendall score, tie terms, variances, z, p and the variants, and the
    per-block kernel :func:`.statistic.process_block`.
:mod:`.selection`
    The exact selection of the pair-slope order statistics (Sen's slope and its
    confidence bounds) with its per-thread scratch buffers.
this module
    Validation, pixel blocks and their scheduling: the blocks are handed to
    ``workers.run`` (the contract of ``ecoresp_core``'s ``Workers``: lanes of threads
    and, for heavy blocks, helper processes that import the kernel by module and
    function name), or run one after the other in the calling thread when no
    ``workers`` is given.  Blocks are large (a few thousand pixels of short series,
    256 of long ones) so that numpy calls are few and long: threads then rarely wait
    for the GIL.  Results never depend on the scheduling: the kernel is deterministic.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from ..errors import Cancelled
from .selection import LONG_PAIRS, release_scratch
from .statistic import TREND_BANDS, VARIANTS, process_block, slope_pairs

__all__ = ["TREND_BANDS", "VARIANTS", "mann_kendall", "Cancelled"]

# slope pairs of a call from which the long path is marked heavy (helper processes, if
# the workers have them): the work (~3 ns per pair) then outweighs a helper's start (~0.3 s)
_HELPER_MIN_PAIRS = 3 * 10 ** 8

# memory budget (bytes) of one materialised slope block (about 3000 pixels of 30 values)
_SLOPE_BLOCK_BYTES = 10 * 2 ** 20


class _Serial:
    """The blocks one after the other in the calling thread: the ``run`` contract of
    ``Workers`` without lanes (the default of :func:`mann_kendall`)."""

    @staticmethod
    def run(fn, blocks, make_args, deliver, heavy=False, progress=None, check=None):
        """``deliver(block, fn(*make_args(block)))`` for every block, in order.

        Parameters
        ----------
        fn : callable
            Block function (module-level, as for ``Workers.run``).
        blocks : iterable
            The blocks (here: index arrays of pixels).
        make_args : callable
            ``make_args(block)`` -> tuple of the arguments of ``fn``.
        deliver : callable
            ``deliver(block, result)`` stores a block's result.
        heavy : bool
            Ignored (no helper processes here); part of the ``run`` contract.
        progress : callable, optional
            Receives the done fraction (0..1] after every block.
        check : callable, optional
            Called before every block; may raise (e.g. :class:`Cancelled`).
        """
        check = check or (lambda: None)
        progress = progress or (lambda done: None)
        blocks = list(blocks)
        for i, b in enumerate(blocks, 1):
            check()
            deliver(b, fn(*make_args(b)))
            progress(i / len(blocks))


def _block_pixels(n, variant, period):
    """Pixels per block: short slope sets fill ``_SLOPE_BLOCK_BYTES`` of float64 slopes
    (64..4096 pixels), long ones (the chunked folded pass) take 256."""
    T = slope_pairs(n, variant, period)
    if T <= LONG_PAIRS:
        b = _SLOPE_BLOCK_BYTES // max(1, 8 * T)
        return int(min(4096, max(64, b)))
    return 256


def mann_kendall(values, variant="original", alpha=0.05, min_valid=3, period=12, lag=None,
                 ci_alpha=None, progress=None, cancelled=None, block_pixels=None, workers=None):
    """Per-pixel Mann-Kendall test and Theil-Sen slope, exactly as pymannkendall.

    Parameters
    ----------
    values : array_like, shape (t,), (t, P) or (t, rows, cols)
        Time first; any float dtype (computed in float64; other dtypes are converted);
        NaN = missing.
    variant : str
        One of :data:`VARIANTS` (see :mod:`.statistic`), default ``'original'``.
    alpha : float
        Significance level of the two-sided test, in (0, 1); default 0.05.
    min_valid : int
        Pixels with fewer valid values get NaN in every band but ``n_valid`` (always
        the count).  At least 2; default 3.
    period : int
        Season length in time steps for ``variant='seasonal'`` (12 for monthly data).
    lag : int, optional
        Number of lags of ``hamed_rao`` / ``yue_wang`` (None: all lags).
    ci_alpha : float, optional
        The slope confidence interval is at confidence 1 - ci_alpha (default alpha).
    progress : callable, optional
        Receives the done fraction (0..1] after every block of pixels.
    cancelled : callable, optional
        Polled between blocks; when it returns True, :class:`Cancelled` is raised.
    block_pixels : int, optional
        Pixels per block (default chosen from the series length, see
        :func:`_block_pixels`).
    workers : object, optional
        Lanes for the pixel blocks: an object with the ``run(fn, blocks, make_args,
        deliver, heavy=, progress=, check=)`` method of ``ecoresp_core``'s ``Workers``
        (threads, helper processes), created, kept open across calls and closed by the
        caller.  Default None: the blocks run one after the other in the calling thread.
        The results do not depend on it.

    Returns
    -------
    dict
        Band name -> float64 array of shape ``values.shape[1:]`` for every name in
        :data:`TREND_BANDS`.  Units: ``slope``, ``slope_lower``, ``slope_upper`` in
        input units per time step (per cycle for ``seasonal``); ``intercept`` in input
        units at time index 0; ``trend`` in {-1, 0, +1}; ``n_valid`` a count; ``s``,
        ``var_s``, ``tau``, ``z``, ``p_value`` dimensionless.

    Raises
    ------
    ValueError
        For an unknown variant or an argument out of range.
    Cancelled
        When ``cancelled()`` returns True.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    if not (0 < alpha < 1):
        raise ValueError("alpha must be in (0, 1)")
    if ci_alpha is None:
        ci_alpha = alpha
    if not (0 < ci_alpha < 1):
        raise ValueError("ci_alpha must be in (0, 1)")
    if int(min_valid) < 2:
        raise ValueError("min_valid must be >= 2")
    min_valid = int(min_valid)
    if variant == "seasonal" and (period is None or int(period) < 1):
        raise ValueError("period must be a positive integer")
    period = int(period)
    if lag is not None and int(lag) < 1:
        raise ValueError("lag must be >= 1 or None")
    x = np.asarray(values)
    if x.ndim == 0:
        raise ValueError("values must have a time axis")
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    n = x.shape[0]
    pix_shape = x.shape[1:]
    x2 = x.reshape(n, -1)
    P = x2.shape[1]
    zci = float(norm.ppf(1 - ci_alpha / 2))

    nvalid = np.zeros(P, np.int64)
    step = max(1, (1 << 24) // max(n, 1))
    for a in range(0, P, step):
        nvalid[a:a + step] = n - np.count_nonzero(np.isnan(x2[:, a:a + step]), axis=0)
    out = {b: np.full(P, np.nan) for b in TREND_BANDS}
    out["n_valid"] = nvalid.astype(np.float64)
    todo = np.flatnonzero(nvalid >= min_valid)
    # blocks of similar n_valid share their target ranks (cheaper selection)
    todo = todo[np.argsort(nvalid[todo], kind="stable")]
    bp = int(block_pixels) if block_pixels else _block_pixels(n, variant, period)
    blocks = [todo[a:a + bp] for a in range(0, todo.size, bp)]

    def make_args(ix):
        return (np.ascontiguousarray(x2[:, ix], dtype=np.float64),  # C order: time-major rows
                variant, alpha, period, lag, zci)

    def deliver(ix, res):
        for bname, arr in res.items():
            out[bname][ix] = arr

    def check():
        if cancelled is not None and cancelled():
            raise Cancelled("trend computation cancelled")

    # the long slope path is made of many medium numpy calls: helper processes (own GIL)
    T = slope_pairs(n, variant, period)
    heavy = T > LONG_PAIRS and todo.size * T >= _HELPER_MIN_PAIRS and len(blocks) >= 4
    if workers is None:
        workers = _Serial
    try:
        if blocks:
            workers.run(process_block, blocks, make_args, deliver, heavy=heavy,
                        progress=progress, check=check)
        elif progress is not None:
            progress(1.0)
    finally:
        release_scratch()  # scratch of the calling thread (pool threads end)
    return {b: out[b].reshape(pix_shape) for b in TREND_BANDS}

