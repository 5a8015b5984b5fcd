"""Trend job: Mann-Kendall test and Theil-Sen slope per pixel of a raster series
(``trends.trend.mann_kendall``), written as an 11-band GeoTIFF (bands ``TREND_BANDS``) and an
optional categorical raster of significance classes with its colour table and QGIS style."""

import numpy as np

from ..common import temporal
from ..common.timeaxis import format_date, steps_per_year, time_step
from ..errors import InputError
from ..trends.trend import TREND_BANDS, VARIANTS, mann_kendall
from .blocks import DEFAULT_BUDGET_MB
from .runner import RasterJob

TREND_CLASSES = [
    (1, "significant decrease", "#2166ac"),
    (2, "decrease, not significant", "#92c5de"),
    (3, "no change", "#f7f7f7"),
    (4, "increase, not significant", "#f4a582"),
    (5, "significant increase", "#b2182b"),
]


def trend_classes(slope, trend):
    """Significance classes 1..5 of TREND_CLASSES from slope and trend (-1/0/+1); 0 = nodata."""
    cls = np.zeros(np.shape(slope), dtype="uint8")
    valid = ~np.isnan(slope) & ~np.isnan(trend)
    cls[valid & (trend < 0)] = 1
    cls[valid & (trend == 0) & (slope < 0)] = 2
    cls[valid & (trend == 0) & (slope == 0)] = 3
    cls[valid & (trend == 0) & (slope > 0)] = 4
    cls[valid & (trend > 0)] = 5
    return cls


def tested_dates(dates, aggregate):
    """The dates of the tested series: ``dates``, or the years of an annual aggregate."""
    if aggregate:
        _, dates = temporal.annual_aggregate(np.zeros((len(dates), 1)), list(dates), aggregate)
        return dates
    return list(dates)


def trend_setup(dates, calendar, units, label, variant="original", alpha=0.05, min_valid=10, slope_per="year",
                aggregate=None, period=12):
    """Validation, slope factor, options and band units of a trend run (``trend_raster`` and the
    cube step ``cube.trends.trend``).

    ``dates``: the series' dates in order; ``calendar``: their CF calendar; ``units``: the input
    units; ``label``: the input named in messages.  Returns ``(factor, options, band_meta, tested
    dates)``: ``factor`` turns the kernel's slope (per step; per cycle for 'seasonal') into the
    asked unit (per year: x steps per year), ``options`` are the provenance options of the job,
    ``band_meta`` one dict per TREND_BANDS name (``units``, and ``reference`` for the intercept)."""
    if variant not in VARIANTS:
        raise InputError(f"unknown trend test {variant!r}; use one of {', '.join(VARIANTS)}")
    if slope_per not in ("step", "year"):
        raise InputError(f"slope unit must be 'step' or 'year', not {slope_per!r}")
    if not 0 < alpha < 1:
        raise InputError(f"significance level must be between 0 and 1 (got {alpha})")
    if variant == "seasonal" and aggregate:
        raise InputError("the seasonal test works on the monthly series: do not aggregate to annual values")
    tested = tested_dates(dates, aggregate)
    step = time_step(tested)
    if variant == "seasonal" and step != "monthly":
        raise InputError(f"{label}: the seasonal Mann-Kendall test needs a regular monthly series "
                         f"(found {step or 'an irregular time axis'})")
    if int(min_valid) > len(tested):
        raise InputError(f"{label}: minimum of {min_valid} valid time steps is more than the "
                         f"{len(tested)} time steps of the series")
    if variant == "seasonal":
        factor = 1.0 if slope_per == "year" else 1.0 / period
        unit_text = "per year" if slope_per == "year" else "per time step"
    elif slope_per == "year":
        if step is None:
            raise InputError(f"{label}: the time axis is irregular, so a slope per year is undefined; "
                             "choose the slope per time step")
        factor = steps_per_year(step, calendar or "standard")
        unit_text = "per year"
    else:
        factor = 1.0
        unit_text = "per time step"
    options = dict(variant=variant, alpha=alpha, min_valid=int(min_valid), slope_per=slope_per,
                   aggregate=aggregate, period=period, time_step=step,
                   first_date=format_date(tested[0]), last_date=format_date(tested[-1]))
    units = units or ""
    band_meta = [{"units": f"{units} {unit_text}".strip() if b.startswith("slope") else
                  (units if b == "intercept" else "")} for b in TREND_BANDS]
    band_meta[TREND_BANDS.index("intercept")]["reference"] = f"value at the first time step ({format_date(tested[0])})"
    return factor, options, band_meta, tested


def trend_raster(src, out_path, variant="original", alpha=0.05, min_valid=10, slope_per="year",
                 aggregate=None, period=12, classes_path=None, budget_mb=DEFAULT_BUDGET_MB,
                 progress=None, cancelled=None, n_threads=None):
    """Mann-Kendall test and Theil-Sen slope per pixel of the series ``src`` (a
    RasterSeries), written to ``out_path`` as an 11-band GeoTIFF (bands TREND_BANDS).

    ``slope_per``: 'step' (per time step of the tested series) or 'year' (needs a
    regular annual, monthly or daily axis).  ``aggregate``: None, 'mean' or 'sum' to test
    annual values of a monthly series.  ``variant``: one of VARIANTS ('seasonal' needs a
    monthly series; its Sen slope is per cycle of ``period`` steps).
    ``classes_path``: optional Byte GeoTIFF of significance classes (TREND_CLASSES)
    with a colour table and a .qml style.  ``n_threads``: lanes over pixel blocks (threads and,
    for long series, a helper process; default up to 2; the numbers do not depend on it).
    Dates come in date order (``io.series``: bands out of order are read sorted).  An output
    without any slope (no pixel with ``min_valid`` valid time steps) is an InputError.
    Returns a summary dict.
    """
    factor, options, band_meta, dates = trend_setup(src.dates, src.calendar, src.units, src.label, variant, alpha,
                                                    min_valid, slope_per, aggregate, period)
    counts = dict(pixels=0, valid_input=0, tested=0, increasing=0, decreasing=0, most_valid=0)
    tested_steps = f"{len(dates)} {'annual values' if aggregate else 'time steps'}"

    def why_empty():
        return (f"no pixel has the minimum number of valid time steps ({int(min_valid)} of the {tested_steps}); "
                f"the most valid ones in a pixel are {counts['most_valid']}")

    with RasterJob("trend", options, {"input": src.label}, progress, cancelled, budget_mb) as job:
        writer = job.output(out_path, src.grid, TREND_BANDS, band_metadata=band_meta, why_empty=why_empty,
                            value_bands=[TREND_BANDS.index("slope")])
        workers = job.lanes(n_threads)  # lanes (and helper processes) kept for all row blocks
        cwriter = None
        if classes_path:
            cwriter = job.output(classes_path, src.grid, ["trend_class"], classes=TREND_CLASSES,
                                 nodata=0, dtype="Byte")

        # float32 sources are read as float32 (exact, half the memory); the core computes in float64
        read_dtype = "float64" if aggregate else src.value_dtype

        def work(r0, r1, sub):
            data = src.read_block(r0, r1, dtype=read_dtype)
            counts["pixels"] += data.shape[1] * data.shape[2]
            counts["valid_input"] += int(np.any(~np.isnan(data), axis=0).sum())
            if aggregate:
                data, _ = temporal.annual_aggregate(data, src.dates, aggregate)
            res = mann_kendall(data, variant=variant, alpha=alpha, min_valid=int(min_valid),
                               period=period, progress=sub.step, cancelled=job.progress.cancelled,
                               workers=workers)
            for b in ("slope", "slope_lower", "slope_upper"):
                res[b] = res[b] * factor
            ok = ~np.isnan(res["slope"])
            counts["tested"] += int(ok.sum())
            counts["most_valid"] = max(counts["most_valid"], int(np.max(res["n_valid"], initial=0)))
            counts["increasing"] += int((res["trend"] > 0).sum())
            counts["decreasing"] += int((res["trend"] < 0).sum())
            writer.write_block(r0, np.stack([res[b] for b in TREND_BANDS]))
            if cwriter is not None:
                cwriter.write_block(r0, trend_classes(res["slope"], res["trend"])[None])

        t = len(src.dates)
        job.walk(src.grid, 8 * (5 * t + 40), work)  # measured, with a margin (tests/core/jobs/test_memory_budget.py)
        if counts["valid_input"] == 0:
            raise InputError(f"{src.label}: every pixel is nodata in every band")
        job.commit()
    counts["helper_blocks"] = workers.helper_blocks
    counts["helper_failures"] = list(workers.helper_failures)
    counts.update(options)
    counts["output"] = out_path
    return counts
