"""Derived-driver job: two (or one) monthly raster series on the same grid and dates -> a derived
series (``upscaling.drivers``: RH, VPD, DTR, unit conversions) written block by block with the
same grid and dates.

Units of the inputs are checked before the walk (``common.units``): an input whose unit
attribute names another unit of the expected quantity (a temperature in K where degC is
expected, a vapour pressure in kPa or Pa where hPa is) is converted, and the conversion is
reported in the summary's ``notes``; values implausible for the expected unit (a median above
100 for degC, vap / e_sat(tmp) that only fits kPa or Pa, ...) are an InputError naming the input.
Month lengths (mm/month <-> mm/day) follow the calendar of the input's dates.
"""

import numpy as np

from ..common.timeaxis import month_lengths
from ..common.units import check_temperature, check_vapour_pressure, conversion_to
from ..errors import InputError
from ..io.series import dated_band_metadata
from ..upscaling.drivers import DERIVATIONS, derive
from .blocks import DEFAULT_BUDGET_MB
from .inputs import check_aligned
from .runner import RasterJob

#: kind -> (role, expected unit) of each input, for the kinds whose inputs have a checked unit
INPUT_UNITS = {
    "rh": (("vap", "hPa"), ("tmp", "degC")),
    "vpd": (("vap", "hPa"), ("tmp", "degC")),
    "vpd_tmn": (("tmn", "degC"), ("tmp", "degC")),
    "dtr": (("tmx", "degC"), ("tmn", "degC")),
    "k_to_c": (("temperature", "K"),),
    "c_to_k": (("temperature", "degC"),),
}


def _input_conversions(kind, series):
    """``[(scale, offset)]`` per input series and the notes of the conversions: each input's unit
    attribute against the unit its role expects (``INPUT_UNITS``), then its values (a sample)
    against that unit.  InputError naming the input when they do not fit."""
    roles = INPUT_UNITS.get(kind, ())
    conversions, notes, samples = [], [], []
    for s, (role, expected) in zip(series, roles):
        what = f"{s.label} ({role} of {kind}, expected in {expected})"
        scale, offset, note = conversion_to(s.units, expected, what)
        if note is not None and kind in ("k_to_c", "c_to_k"):
            raise InputError(f"{what}: its unit attribute is {s.units!r}: nothing to convert with {kind}")
        sample = s.sample() * scale + offset
        if expected in ("degC", "K"):
            check_temperature(sample, expected, what)
        conversions.append((scale, offset))
        samples.append(sample)
        notes += [note] if note else []
    if kind in ("rh", "vpd"):
        check_vapour_pressure(samples[0], samples[1], f"{series[0].label} (vap of {kind}, expected in hPa)")
    conversions += [(1.0, 0.0)] * (len(series) - len(conversions))
    return conversions, notes


def _read(series, conversion, r0, r1):
    data = series.read_block(r0, r1)
    scale, offset = conversion
    if (scale, offset) != (1.0, 0.0):
        data = data * scale + offset
    return data


def derive_raster(kind, first, out_path, second=None, seconds=86400.0, budget_mb=DEFAULT_BUDGET_MB,
                  progress=None, cancelled=None):
    """Derive ``kind`` (see DERIVATIONS) from the RasterSeries ``first`` (vap / tmx / the single
    input) and ``second`` (tmp / tmn) and write a GeoTIFF series with the same grid and dates
    (band descriptions = ISO dates).  ``seconds``: accumulation period of ``j_to_w`` (s).
    Returns a summary dict (``notes``: the unit conversions applied to the inputs)."""
    if kind not in DERIVATIONS:
        raise InputError(f"unknown derived driver {kind!r}; use one of {', '.join(DERIVATIONS)}")
    n_in, units, text = DERIVATIONS[kind]
    if n_in == 2:
        if second is None:
            raise InputError(f"{kind}: needs two input series ({text})")
        check_aligned(first, second, by="month")
    elif second is not None:
        raise InputError(f"{kind}: takes one input series, two were given ({text})")
    series = [first] + ([second] if second is not None else [])
    conversions, notes = _input_conversions(kind, series)
    ndays = month_lengths(first.dates)[:, None, None]
    options = dict(kind=kind, formula=text, units=units, calendar=first.calendar)
    if kind == "j_to_w":
        options["seconds"] = float(seconds)
    inputs = {"first": first.label}
    if second is not None:
        inputs["second"] = second.label
    names = first.date_strings()
    counts = dict(pixels=0, valid=0, valid_inputs=[0] * len(series))
    with RasterJob("derivedriver", options, inputs, progress, cancelled, budget_mb) as job:
        writer = job.output(out_path, first.grid, names,
                            band_metadata=dated_band_metadata(first.dates, units),
                            why_empty=lambda: _why_empty(series, counts["valid_inputs"]))

        def work(r0, r1, sub):
            a = _read(first, conversions[0], r0, r1)
            b = _read(second, conversions[1], r0, r1) if second is not None else None
            with np.errstate(invalid="ignore", over="ignore"):
                out = derive(kind, a, b, ndays, seconds)
            counts["pixels"] += a.shape[1] * a.shape[2]
            counts["valid"] += int(np.any(np.isfinite(out), axis=0).sum())
            for i, x in enumerate((a, b)[:len(series)]):
                counts["valid_inputs"][i] += int(np.any(np.isfinite(x), axis=0).sum())
            writer.write_block(r0, out)

        job.walk(first.grid, 8 * 4 * max(first.count, 1), work)
        job.commit()
    counts.update(options)
    counts["notes"] = notes
    counts["output"] = out_path
    return counts


def _why_empty(series, valid_inputs):
    """Why a derived series has no value: the pixels with a value in each input."""
    have = "; ".join(f"{s.label} has {n} pixel(s) with a value" for s, n in zip(series, valid_inputs))
    if len(series) == 2 and all(valid_inputs):
        return f"{have}, but no pixel has a value in both inputs in the same month"
    return have
