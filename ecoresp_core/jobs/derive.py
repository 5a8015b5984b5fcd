"""Derived-driver job: two (or one) monthly raster series on the same grid and dates -> a derived
series (``upscaling.drivers``: RH, VPD, DTR, unit conversions) written block by block with the
same grid and dates."""

import numpy as np

from ..common.timeaxis import days_in_month
from ..errors import InputError
from ..upscaling.drivers import DERIVATIONS, derive
from .blocks import DEFAULT_BUDGET_MB
from .inputs import check_aligned, month_key
from .runner import RasterJob


def derive_raster(kind, first, out_path, second=None, seconds=86400.0, budget_mb=DEFAULT_BUDGET_MB,
                  progress=None, cancelled=None):
    """Derive ``kind`` (see DERIVATIONS) from the RasterSeries ``first`` (vap / tmx / the single
    input) and ``second`` (tmp / tmn) and write a GeoTIFF series with the same grid and dates
    (band descriptions = ISO dates).  ``seconds``: accumulation period of ``j_to_w`` (s).
    Returns a summary dict."""
    if kind not in DERIVATIONS:
        raise InputError(f"unknown derived driver {kind!r}; use one of {', '.join(DERIVATIONS)}")
    n_in, units, text = DERIVATIONS[kind]
    if n_in == 2:
        if second is None:
            raise InputError(f"{kind}: needs two input series ({text})")
        check_aligned(first, second, by="month")
    elif second is not None:
        raise InputError(f"{kind}: takes one input series, two were given ({text})")
    ym = np.array([month_key(d) for d in first.dates], dtype="int64")
    ndays = days_in_month(ym[:, 0], ym[:, 1])[:, None, None] if len(ym) else None
    options = dict(kind=kind, formula=text, units=units)
    if kind == "j_to_w":
        options["seconds"] = float(seconds)
    inputs = {"first": first.label}
    if second is not None:
        inputs["second"] = second.label
    names = first.date_strings()
    counts = dict(pixels=0, valid=0)
    with RasterJob("derivedriver", options, inputs, progress, cancelled, budget_mb) as job:
        writer = job.output(out_path, first.grid, names,
                            band_metadata=[{"DATE": n, "units": units} for n in names])

        def work(r0, r1, sub):
            a = first.read_block(r0, r1)
            b = second.read_block(r0, r1) if second is not None else None
            with np.errstate(invalid="ignore", over="ignore"):
                out = derive(kind, a, b, ndays, seconds)
            counts["pixels"] += a.shape[1] * a.shape[2]
            counts["valid"] += int(np.any(np.isfinite(out), axis=0).sum())
            writer.write_block(r0, out)

        job.walk(first.grid, 8 * 4 * max(first.count, 1), work)
        job.commit()
    counts.update(options)
    counts["output"] = out_path
    return counts
