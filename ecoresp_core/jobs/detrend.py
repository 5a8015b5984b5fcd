"""Detrend job: every pixel of a raster series detrended (``common.detrend.detrend``) and
written as a GeoTIFF with the same bands and dates (band descriptions = ISO dates)."""

import numpy as np

from ..common import detrend as _detrend
from ..common.timeaxis import time_step
from ..errors import InputError
from ..io.series import dated_band_metadata
from .blocks import DEFAULT_BUDGET_MB
from .runner import RasterJob


def detrend_raster(src, out_path, method="linear", keep_mean=False, budget_mb=DEFAULT_BUDGET_MB,
                   progress=None, cancelled=None):
    """Detrend every pixel of ``src`` (see ``detrend.detrend``) and write a GeoTIFF with the
    same dates (band descriptions = ISO dates), in date order (``io.series`` reads bands that are
    out of order sorted by date; linear detrending then runs on the time steps in date order).
    An output without any value is an InputError.  Returns a summary dict."""
    if method not in _detrend.METHODS:
        raise InputError(f"unknown detrending method {method!r}; use one of {', '.join(_detrend.METHODS)}")
    if method != "linear" and time_step(src.dates) != "monthly":
        raise InputError(f"{src.label}: anomalies from the mean seasonal cycle need a regular monthly series")
    options = dict(method=method, keep_mean=bool(keep_mean))
    names = src.date_strings()
    counts = dict(pixels=0, valid_input=0, most_valid=0)
    need = 2 if "linear" in method else 1

    def why_empty():
        return (f"no pixel has the {need} valid time steps that {method} detrending needs; the most valid ones "
                f"in a pixel are {counts['most_valid']}")

    with RasterJob("detrend", options, {"input": src.label}, progress, cancelled, budget_mb) as job:
        writer = job.output(out_path, src.grid, names, why_empty=why_empty,
                            band_metadata=dated_band_metadata(src.dates, src.units))

        def work(r0, r1, sub):
            data = src.read_block(r0, r1)
            counts["pixels"] += data.shape[1] * data.shape[2]
            n_valid = np.sum(~np.isnan(data), axis=0)
            counts["valid_input"] += int(np.count_nonzero(n_valid))
            counts["most_valid"] = max(counts["most_valid"], int(np.max(n_valid, initial=0)))
            writer.write_block(r0, _detrend.detrend(data, src.dates, method, keep_mean))

        # measured: the data and about 9 float64 copies, with a margin (tests/core/jobs/test_memory_budget.py)
        job.walk(src.grid, 8 * 12 * len(src.dates), work)
        if counts["valid_input"] == 0:
            raise InputError(f"{src.label}: every pixel is nodata in every band")
        job.commit()
    counts.update(options)
    counts["output"] = out_path
    return counts
