"""File-to-file drivers of the raster algorithms: read a time series block by block,
compute with the pure core (``trend``, ``detrend``, ``temporal``), write GeoTIFFs under
a temporary name and rename them at the end.  Used by the QGIS algorithms and by
scripts alike; no QGIS import here.
"""

import numpy as np

from .common import detrend as _detrend
from .common import temporal
from .common.units import M_C
from .common.zones import ZONE_NAMES, climate_zones_from_mat
from .blocks import DEFAULT_BUDGET_MB, Progress, run_row_blocks
from .parallel import Workers
from .errors import InputError
from .common.timeaxis import STEPS_PER_YEAR, format_date, time_step
from .io.series import SeriesWriter, read_band
from .io.styles import write_qml
from .provenance import provenance
from .trends.trend import TREND_BANDS, VARIANTS, mann_kendall
from .upscaling import integrate as _integrate

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


def _series_dates_after(src, aggregate):
    if aggregate:
        _, dates = temporal.annual_aggregate(np.zeros((src.count, 1)), src.dates, aggregate)
        return dates
    return src.dates


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
    with a colour table and a .qml style.  Returns a summary dict.
    """
    if variant not in VARIANTS:
        raise InputError(f"unknown trend test {variant!r}; use one of {', '.join(VARIANTS)}")
    if slope_per not in ("step", "year"):
        raise InputError(f"slope unit must be 'step' or 'year', not {slope_per!r}")
    if not 0 < alpha < 1:
        raise InputError(f"significance level must be between 0 and 1 (got {alpha})")
    if variant == "seasonal" and aggregate:
        raise InputError("the seasonal test works on the monthly series: do not aggregate to annual values")
    dates = _series_dates_after(src, aggregate)
    step = time_step(dates)
    if variant == "seasonal" and step != "monthly":
        raise InputError(f"{src.label}: the seasonal Mann-Kendall test needs a regular monthly series "
                         f"(found {step or 'an irregular time axis'})")
    if int(min_valid) > len(dates):
        raise InputError(f"{src.label}: minimum of {min_valid} valid time steps is more than the "
                         f"{len(dates)} time steps of the series")
    # factor that turns the core's slope (per step; per cycle for 'seasonal') into the asked unit
    if variant == "seasonal":
        factor = 1.0 if slope_per == "year" else 1.0 / period
        unit_text = "per year" if slope_per == "year" else "per time step"
    elif slope_per == "year":
        if step is None:
            raise InputError(f"{src.label}: the time axis is irregular, so a slope per year is undefined; "
                             "choose the slope per time step")
        factor = STEPS_PER_YEAR[step]
        unit_text = "per year"
    else:
        factor = 1.0
        unit_text = "per time step"
    options = dict(variant=variant, alpha=alpha, min_valid=int(min_valid), slope_per=slope_per,
                   aggregate=aggregate, period=period, time_step=step,
                   first_date=format_date(dates[0]), last_date=format_date(dates[-1]))
    meta = provenance("trend", options, {"input": src.label})
    units = src.units or "units"
    band_meta = [{"units": f"{units} {unit_text}" if b.startswith("slope") else
                  (units if b == "intercept" else "")} for b in TREND_BANDS]
    band_meta[TREND_BANDS.index("intercept")]["reference"] = f"value at the first time step ({format_date(dates[0])})"
    progress = Progress(progress, cancelled)
    counts = dict(pixels=0, valid_input=0, tested=0, increasing=0, decreasing=0)
    writer = SeriesWriter(out_path, src.grid, TREND_BANDS, metadata=meta, band_metadata=band_meta)
    cwriter = None
    workers = Workers(n_threads)  # lanes (and helper processes) kept for all row blocks
    try:
        if classes_path:
            cwriter = SeriesWriter(classes_path, src.grid, ["trend_class"], metadata=meta,
                                   nodata=0, dtype="Byte", classes=TREND_CLASSES)

        # float32 sources are read as float32 (exact, half the memory); the core computes in float64
        read_dtype = "float64" if aggregate else src.value_dtype

        def work(r0, r1, sub):
            data = src.read_block(r0, r1, dtype=read_dtype)
            counts["pixels"] += data.shape[1] * data.shape[2]
            counts["valid_input"] += int(np.any(~np.isnan(data), axis=0).sum())
            if aggregate:
                data, _ = temporal.annual_aggregate(data, src.dates, aggregate)
            res = mann_kendall(data, variant=variant, alpha=alpha, min_valid=int(min_valid),
                               period=period, progress=sub.step, cancelled=progress.cancelled,
                               workers=workers)
            for b in ("slope", "slope_lower", "slope_upper"):
                res[b] = res[b] * factor
            ok = ~np.isnan(res["slope"])
            counts["tested"] += int(ok.sum())
            counts["increasing"] += int((res["trend"] > 0).sum())
            counts["decreasing"] += int((res["trend"] < 0).sum())
            writer.write_block(r0, np.stack([res[b] for b in TREND_BANDS]))
            if cwriter is not None:
                cwriter.write_block(r0, trend_classes(res["slope"], res["trend"])[None])

        t = len(src.dates)
        run_row_blocks(src.grid.height, src.grid.width, 8 * (3 * t + 40), work, progress, budget_mb)
        if counts["valid_input"] == 0:
            raise InputError(f"{src.label}: every pixel is nodata in every band")
        if cwriter is not None:
            cwriter.commit()
            write_qml(classes_path, TREND_CLASSES)
        writer.commit()
    except BaseException:
        writer.abort()
        if cwriter is not None:
            cwriter.abort()
        raise
    finally:
        workers.close()
    counts["helper_blocks"] = workers.helper_blocks
    counts["helper_failures"] = list(workers.helper_failures)
    counts.update(options)
    counts["output"] = out_path
    return counts


def detrend_raster(src, out_path, method="linear", keep_mean=False, budget_mb=DEFAULT_BUDGET_MB,
                   progress=None, cancelled=None):
    """Detrend every pixel of ``src`` (see ``detrend.detrend``) and write a GeoTIFF with the
    same bands and dates (band descriptions = ISO dates).  Returns a summary dict."""
    if method not in _detrend.METHODS:
        raise InputError(f"unknown detrending method {method!r}; use one of {', '.join(_detrend.METHODS)}")
    if method != "linear" and time_step(src.dates) != "monthly":
        raise InputError(f"{src.label}: anomalies from the mean seasonal cycle need a regular monthly series")
    options = dict(method=method, keep_mean=bool(keep_mean))
    meta = provenance("detrend", options, {"input": src.label})
    names = src.date_strings()
    progress = Progress(progress, cancelled)
    counts = dict(pixels=0, valid_input=0)
    writer = SeriesWriter(out_path, src.grid, names, metadata=meta,
                          band_metadata=[{"DATE": n, "units": src.units} for n in names])
    with writer:  # removes the temporary file unless committed

        def work(r0, r1, sub):
            data = src.read_block(r0, r1)
            counts["pixels"] += data.shape[1] * data.shape[2]
            counts["valid_input"] += int(np.any(~np.isnan(data), axis=0).sum())
            writer.write_block(r0, _detrend.detrend(data, src.dates, method, keep_mean))

        run_row_blocks(src.grid.height, src.grid.width, 8 * 4 * len(src.dates), work, progress, budget_mb)
        if counts["valid_input"] == 0:
            raise InputError(f"{src.label}: every pixel is nodata in every band")
        writer.commit()
    counts.update(options)
    counts["output"] = out_path
    return counts


def integrate_raster(src, unit="gC_m2_d", land_fraction_path=None, land_scale=1.0, zones_path=None,
                     zone_type="categorical", product="ER", annual_path=None, zone_names=None,
                     budget_mb=DEFAULT_BUDGET_MB, progress=None, cancelled=None):
    """Annual totals (Pg C yr-1) of a monthly ER raster series on a regular lat/lon grid, globally
    or per zone, with exact spherical cell areas (``upscaling.integrate``).

    ``land_fraction_path``: optional raster on the same grid, multiplied by ``land_scale`` (0.01
    for percent).  ``zones_path``: optional raster on the same grid, either integer codes
    (``zone_type='categorical'``, e.g. IGBP or Koppen) or mean annual temperature in degC
    (``'mat'``: boreal < 2, temperate 2..17, tropical > 17).  ``annual_path``: optional GeoTIFF of
    annual sums (g C m-2 yr-1), one band per complete year.  ``zone_names``: {code: name} for
    categorical zones.  Zone 0 ('all') is the total over every cell.  Returns (totals rows,
    summary rows)."""
    if time_step(src.dates) != "monthly":
        raise InputError(f"{src.label}: integration needs a regular monthly series")
    land = None
    if land_fraction_path:
        land = read_band(land_fraction_path, src.grid, what="land fraction") * float(land_scale)
    zones, names = None, None
    if zones_path:
        z = read_band(zones_path, src.grid, what="zones")
        if zone_type == "mat":
            zones, names = climate_zones_from_mat(z), dict(ZONE_NAMES)
        elif zone_type == "categorical":
            zones = np.where(np.isfinite(z), z, 0).astype("int64")
            names = {int(k): str(v) for k, v in (zone_names or {}).items()}
        else:
            raise InputError(f"zone type must be 'categorical' or 'mat', not {zone_type!r}")
    integ = _integrate.Integrator(src.dates, src.grid.geotransform, src.grid.height, unit, land, zones)
    years = [int(y) for y in integ.uyears if integ.nmonths[int(y)] == 12]
    if not years:
        raise InputError(f"{src.label}: no complete calendar year (12 months) in the series")
    options = dict(unit=unit, land_fraction=land_fraction_path, land_scale=land_scale, zones=zones_path,
                   zone_type=zone_type, product=product, cell_area="authalic sphere R=6371007.181 m",
                   carbon_molar_mass=M_C)
    progress = Progress(progress, cancelled)
    writer = None
    if annual_path:
        writer = SeriesWriter(annual_path, src.grid, [f"{y}-01-01" for y in years],
                              metadata=provenance("integrate", options, {"input": src.label}),
                              band_metadata=[{"units": "g C m-2 yr-1", "DATE": f"{y}-01-01"} for y in years])
    ymask = np.array([d.year in years for d in src.dates])
    counts = {"valid": 0}
    try:
        def work(r0, r1, sub):
            data = src.read_block(r0, r1)
            counts["valid"] += int(np.isfinite(data).any(axis=0).sum())
            integ.add(data, r0)
            if writer is not None:
                out = []
                for y in years:
                    sel = np.nonzero((integ.years == y) & ymask)[0]
                    amounts = np.stack([_integrate.monthly_amount(data[k], y, integ.months[k], unit) for k in sel])
                    out.append(np.where(np.isfinite(amounts).all(axis=0), amounts.sum(axis=0), np.nan))
                writer.write_block(r0, np.stack(out))

        run_row_blocks(src.grid.height, src.grid.width, 8 * 3 * len(src.dates), work, progress, budget_mb)
        if counts["valid"] == 0:
            raise InputError(f"{src.label}: every pixel is nodata in every band")
        if writer is not None:
            writer.commit()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    rows = integ.annual_totals()
    for r in rows:
        r["zone_name"] = (names or {}).get(r["zone"], "all" if r["zone"] == 0 else str(r["zone"]))
        r["product"] = product
    return rows, _integrate.totals_summary(rows, product, names)
