"""Attribution jobs (docs/methods.md section 15): the kernels of ``attribution`` on raster
series, used by the QGIS algorithms and by scripts alike; no QGIS import here.

- ``partialcorr_raster``: ER series + driver series (same grid, same dates) -> a GeoTIFF
  with ``r_<driver>`` and ``p_<driver>`` bands (and ``n_valid``), a categorical
  dominant-driver GeoTIFF (Byte: 0 = none, 1..m = drivers in the given order, 255 = nodata)
  with a colour table, ``CLASS_NAMES`` metadata and a ``.qml`` style naming the drivers,
  and the signed ``r_p`` of the dominant driver.
- ``rf_raster``: the exploratory random-forest importance (``rel_<driver>`` relative
  importance and ``imp_<driver>`` raw permutation importance bands) and its dominant driver.
- ``zones_table``: area shares of a dominant-driver map per climate zone.

Inputs are read block by block and outputs written and committed by the job runner
(``jobs.runner.RasterJob``: whole rows within ``budget_mb``, Cancel between and inside blocks,
nothing written unless every output is complete, provenance in every output).
Errors on bad inputs (other grid, other dates, fewer than 2 drivers, duplicate names, too
few years) are ``InputError`` naming the layer.
"""

import json
import time

import numpy as np

from ..attribution import partialcorr as pc
from ..attribution import rfattribution as rfa
from ..attribution import zones as zn
from ..common.geometry import cell_areas
from ..common.keyvalue import parse_pairs
from ..common.temporal import annual_aggregate
from ..common.timeaxis import format_date, time_step
from ..errors import InputError
from ..io.series import Grid, gdal, osr, read_band
from .blocks import DEFAULT_BUDGET_MB
from .inputs import date_difference
from .runner import RasterJob

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
           "#bcbd22", "#7f7f7f"]
NONE_COLOUR = "#e0e0e0"


def driver_classes(names):
    """Categories of a dominant-driver raster: [(0, 'none', grey), (1, name1, colour), ...]."""
    return [(pc.NONE, "none", NONE_COLOUR)] + [(j + 1, n, PALETTE[j % len(PALETTE)]) for j, n in enumerate(names)]


def _steps_after(src, mode, detrend):
    """Number of time steps the prepared series will have (for the 'too few years' check)."""
    step = time_step(src.dates)
    if mode == "annual":
        if step not in ("monthly", "daily"):
            raise InputError(f"ER {src.label}: annual mode needs a regular monthly or daily series "
                             f"(found {step or 'an irregular time axis'}); for a series that is already "
                             "annual choose the mode 'series as given'")
        try:
            _, dates = annual_aggregate(np.zeros((src.count, 1)), src.dates, "sum")
        except InputError as exc:
            raise InputError(f"ER {src.label}: {exc}") from None
        n = len(dates)
    else:
        if mode == "monthly" and step != "monthly":
            raise InputError(f"ER {src.label}: monthly anomalies need a regular monthly series "
                             f"(found {step or 'an irregular time axis'})")
        n = src.count
    return n - 1 if detrend == "diff" else n


def check_inputs(src, drivers, names, mode="annual", detrend="linear", min_valid=10, min_valid_what=None):
    """Validate ER ``src`` and ``drivers`` (RasterSeries) with ``names``; returns the number
    of time steps after preparation.  ``min_valid_what`` (the parameter of ``min_valid``) is
    named when the series is long enough for the drivers but shorter than ``min_valid``."""
    if mode not in pc.MODES:
        raise InputError(f"unknown mode {mode!r}; use one of {', '.join(pc.MODES)}")
    if detrend not in pc.DETRENDS:
        raise InputError(f"unknown detrending {detrend!r}; use one of {', '.join(pc.DETRENDS)}")
    names = pc.check_names(names)
    if len(names) != len(drivers):
        raise InputError(f"{len(names)} driver names for {len(drivers)} driver layers")
    for name, d in zip(names, drivers):
        if not src.grid.same_as(d.grid):
            raise InputError(f"driver {name} ({d.label}) is on another grid than ER: {d.grid.describe()} "
                             f"vs {src.grid.describe()} ({src.label}); resample it first")
        if d.count != src.count:
            raise InputError(f"driver {name} ({d.label}) has {d.count} time steps "
                             f"({format_date(d.dates[0])} .. {format_date(d.dates[-1])}), ER has {src.count} "
                             f"({format_date(src.dates[0])} .. {format_date(src.dates[-1])}); use the same period")
        i = date_difference(src.dates, d.dates, by="day")
        if i is not None:
            raise InputError(f"driver {name} ({d.label}): band {i + 1} is dated {format_date(d.dates[i])} but "
                             f"ER band {i + 1} is {format_date(src.dates[i])}; drivers need the dates of ER")
    n = _steps_after(src, mode, detrend)
    m = len(names)
    unit = "years" if mode == "annual" else "time steps"
    if n < m + 3:
        raise InputError(f"ER {src.label}: {n} {unit} after {mode} preparation and detrending; at least {m + 3} "
                         f"are needed for {m} drivers (n - 2 - k >= 2)")
    if n < int(min_valid):
        text = (f"ER {src.label}: {n} {unit} after {mode} preparation and detrending; at least {int(min_valid)} "
                "are needed")
        raise InputError(f"{min_valid_what}: {text}" if min_valid_what else
                         f"{text} (the minimum number of valid {unit} per pixel)")
    return n


def _read_prepared(src, drivers, names, r0, r1, mode, detrend, aggregations):
    er = src.read_block(r0, r1)
    drv = [d.read_block(r0, r1) for d in drivers]
    return pc.prepare_series(er, drv, src.dates, names, mode, detrend, aggregations)


def _dominant_output(job, path, grid, names):
    """The categorical dominant-driver output of ``job`` (styled with ``driver_classes``)."""
    return job.output(path, grid, ["dominant_driver"], classes=driver_classes(names), nodata=pc.NODATA,
                      dtype="Byte", band_metadata=[{"DRIVERS": json.dumps(list(names))}])


def partialcorr_raster(src, drivers, names, out_path, dominant_path=None, dominant_r_path=None, mode="annual",
                       detrend="linear", alpha=0.05, min_valid=10, aggregations=None,
                       budget_mb=DEFAULT_BUDGET_MB, progress=None, cancelled=None):
    """Partial correlation of detrended ER with each driver given the others, per pixel
    (``partialcorr``), written as GeoTIFFs (see the module docstring).  ``src`` and
    ``drivers`` are RasterSeries; ``names`` the driver names.  Returns a summary dict."""
    if not 0 < alpha < 1:
        raise InputError(f"significance level must be between 0 and 1 (got {alpha})")
    n_steps = check_inputs(src, drivers, names, mode, detrend, min_valid)
    names = [str(n) for n in names]
    aggs = pc.aggregations_for(names, aggregations) if mode == "annual" else None
    options = dict(method="partial correlation (OLS residuals / precision matrix)", mode=mode, detrend=detrend,
                   alpha=alpha, min_valid=int(min_valid), drivers=names, annual_aggregation=aggs,
                   er_aggregation="sum" if mode == "annual" else None, steps_after_preparation=n_steps,
                   df="n - 2 - k, k = number of drivers - 1")
    inputs = {"er": src.label, "drivers": {n: d.label for n, d in zip(names, drivers)}}
    bands = [b for n in names for b in (f"r_{n}", f"p_{n}")] + ["n_valid"]
    band_meta = [{"driver": n, "quantity": q} for n in names
                 for q in ("partial correlation r_p", "two-sided p-value")] + [{"quantity": "valid time steps"}]
    counts = {"pixels": 0, "computed": 0, "with_dominant": 0, "by_driver": {n: 0 for n in names}}
    with RasterJob("partialcorrelation", options, inputs, progress, cancelled, budget_mb) as job:
        writer = job.output(out_path, src.grid, bands, band_metadata=band_meta)
        dwriter = rwriter = None
        if dominant_path:
            dwriter = _dominant_output(job, dominant_path, src.grid, names)
        if dominant_r_path:
            rwriter = job.output(dominant_r_path, src.grid, ["dominant_r"],
                                 band_metadata=[{"quantity": "signed r_p of the dominant driver"}])

        def work(r0, r1, sub):
            er, drv, _ = _read_prepared(src, drivers, names, r0, r1, mode, detrend, aggs)
            res = pc.partial_correlation(er, drv, alpha=alpha, min_valid=min_valid)
            dom = res["dominant"]
            _count_dominant(counts, dom, names)
            out = np.empty((len(bands),) + dom.shape)
            out[0:-1:2] = res["r"]
            out[1:-1:2] = res["p"]
            out[-1] = np.where(dom != pc.NODATA, res["n_valid"], np.nan)
            writer.write_block(r0, out)
            if dwriter is not None:
                dwriter.write_block(r0, dom[None])
            if rwriter is not None:
                rwriter.write_block(r0, res["dominant_r"][None])

        per_cell = 8 * src.count * (len(names) + 1) * 6 + 8 * (len(names) + 1) ** 2 * 4
        job.walk(src.grid, per_cell, work)
        if counts["computed"] == 0:
            raise InputError(f"ER {src.label}: no pixel has {max(int(min_valid), len(names) + 2)} time steps "
                             "where ER and every driver are valid")
        job.commit()
    counts.update(options)
    counts.update(output=out_path, dominant=dominant_path, dominant_r=dominant_r_path)
    return counts


def _count_dominant(counts, dom, names):
    """Add a block's dominant-driver codes to the run's counts."""
    counts["pixels"] += dom.size
    counts["computed"] += int((dom != pc.NODATA).sum())
    counts["with_dominant"] += int(((dom != pc.NODATA) & (dom != pc.NONE)).sum())
    for j, n in enumerate(names):
        counts["by_driver"][n] += int((dom == j + 1).sum())


def rf_raster(src, drivers, names, out_path, dominant_path=None, mode="annual", detrend="linear",
              n_trees=rfa.DEFAULT_TREES, max_depth=rfa.DEFAULT_DEPTH, min_samples_leaf=1, max_features=1.0,
              importance="oob", seed=42, min_valid=10, aggregations=None, max_seconds=None,
              budget_mb=DEFAULT_BUDGET_MB, progress=None, cancelled=None):
    """Exploratory per-pixel random-forest permutation importance (``rfattribution``) as
    GeoTIFFs: ``rel_<driver>`` (relative importance, sums to 1) and ``imp_<driver>`` (raw
    MSE increase in units of ER's variance) bands, and the dominant driver.  ``max_seconds``
    (compute budget): after the first block the whole run is estimated, and the job stops
    with an InputError, writing nothing, when the estimate exceeds the budget."""
    rfa.check_options(n_trees, max_depth, min_samples_leaf, max_features, importance, 5)
    n_steps = check_inputs(src, drivers, names, mode, detrend, min_valid)
    names = [str(n) for n in names]
    aggs = pc.aggregations_for(names, aggregations) if mode == "annual" else None
    options = dict(method="random forest, permutation importance (EXPLORATORY)", importance=importance,
                   mode=mode, detrend=detrend, n_trees=int(n_trees), max_depth=int(max_depth),
                   min_samples_leaf=int(min_samples_leaf), max_features=float(max_features), seed=int(seed),
                   min_valid=int(min_valid), drivers=names, annual_aggregation=aggs,
                   steps_after_preparation=n_steps, max_seconds=max_seconds)
    inputs = {"er": src.label, "drivers": {n: d.label for n, d in zip(names, drivers)}}
    bands = [f"rel_{n}" for n in names] + [f"imp_{n}" for n in names]
    band_meta = ([{"driver": n, "quantity": "relative permutation importance (0..1)"} for n in names]
                 + [{"driver": n, "quantity": "permutation importance: MSE increase / ER variance"} for n in names])
    counts = {"pixels": 0, "computed": 0, "with_dominant": 0, "by_driver": {n: 0 for n in names}}
    t0 = time.perf_counter()
    with RasterJob("rfattribution", options, inputs, progress, cancelled, budget_mb) as job:
        job.meta["ECORESP_EXPLORATORY"] = ("per-pixel random forest on ~30 samples: exploratory only "
                                           "(docs/methods.md 15); collinear drivers share importance")
        writer = job.output(out_path, src.grid, bands, band_metadata=band_meta)
        dwriter = None
        if dominant_path:
            dwriter = _dominant_output(job, dominant_path, src.grid, names)

        def work(r0, r1, sub):
            er, drv, _ = _read_prepared(src, drivers, names, r0, r1, mode, detrend, aggs)
            ids = (np.arange(r0, r1)[:, None] * src.grid.width + np.arange(src.grid.width)[None, :])
            res = rfa.rf_importance(er, drv, n_trees=n_trees, max_depth=max_depth,
                                    min_samples_leaf=min_samples_leaf, max_features=max_features,
                                    min_valid=min_valid, seed=seed, importance=importance, pixel_ids=ids,
                                    budget_mb=min(rfa.FOREST_MB_MAX, budget_mb), progress=sub.step)
            dom = res["dominant"]
            _count_dominant(counts, dom, names)
            writer.write_block(r0, np.concatenate([res["relative"], res["importance"]]))
            if dwriter is not None:
                dwriter.write_block(r0, dom[None])
            if max_seconds and r1 < src.grid.height:
                est = (time.perf_counter() - t0) * src.grid.height / r1
                if est > float(max_seconds):
                    raise InputError(f"the random-forest attribution would take about {est:.0f} s, more than the "
                                     f"compute budget of {float(max_seconds):.0f} s: lower the number of trees or "
                                     "the depth, or raise the budget")

        per_cell = 8 * src.count * (len(names) + 1) * 4
        job.walk(src.grid, per_cell, work, min(budget_mb, max(16, budget_mb // 4)))
        if counts["computed"] == 0:
            raise InputError(f"ER {src.label}: no pixel has {int(min_valid)} time steps where ER and every "
                             "driver are valid (and ER varies)")
        job.commit()
    counts.update(options)
    counts.update(output=out_path, dominant=dominant_path, seconds=time.perf_counter() - t0)
    return counts


def read_dominant(path):
    """``(codes (rows, cols) int, names, grid-like dict)`` of a dominant-driver raster written
    by these jobs (driver names from its CLASS_NAMES metadata: GTiff does not keep category
    names)."""
    if gdal is None:
        raise InputError("GDAL's Python bindings (osgeo) are not installed")
    try:
        ds = gdal.Open(str(path))
    except RuntimeError as exc:
        raise InputError(f"dominant-driver raster {path}: cannot be read ({exc})") from None
    band = ds.GetRasterBand(1)
    text = band.GetMetadataItem("CLASS_NAMES") or ""
    classes = {}
    for k, v in parse_pairs(text, f"dominant-driver raster {path}: CLASS_NAMES metadata", "code=name", ";"):
        try:
            classes[int(k)] = v
        except ValueError:
            continue
    names = [classes[k] for k in sorted(classes) if k not in (pc.NONE, pc.NODATA)]
    if not names or sorted(k for k in classes if k != pc.NONE) != list(range(1, len(names) + 1)):
        raise InputError(f"dominant-driver raster {path}: has no CLASS_NAMES metadata naming drivers 1..m; "
                         "make it with ecoresp:partialcorrelation or ecoresp:rfattribution")
    arr = band.ReadAsArray()
    nd = band.GetNoDataValue()
    codes = arr.astype("int64")
    if nd is not None:
        codes[arr == nd] = pc.NODATA
    gt = ds.GetGeoTransform()
    wkt = ds.GetProjection() or ""
    ds = None
    return codes, names, {"geotransform": gt, "crs_wkt": wkt, "height": codes.shape[0], "width": codes.shape[1]}


def _geographic(wkt, gt, height, width):
    if wkt:
        srs = osr.SpatialReference()
        srs.ImportFromWkt(wkt)
        return bool(srs.IsGeographic())
    ys = (gt[3], gt[3] + gt[5] * height)
    xs = (gt[0], gt[0] + gt[1] * width)
    return max(abs(v) for v in ys) <= 90.0 + 1e-9 and max(abs(v) for v in xs) <= 360.0 + 1e-9


def zones_table(dominant_path, zones_path=None, zone_type="mat", groups=None, zone_names=None,
                groups_what="driver groups"):
    """Area shares of a dominant-driver raster per zone (``zones.zone_summary``); the zones
    raster (MAT in degC or categorical codes, with a value somewhere) must be on the same grid.
    ``zone_names``: {code: name} for categorical zones; ``groups``: group overrides, which must
    name drivers of the raster (errors name ``groups_what``).  Returns rows."""
    codes, names, g = read_dominant(dominant_path)
    zn.driver_groups(names, groups, groups_what)
    grid = Grid(g["width"], g["height"], g["geotransform"], g["crs_wkt"])
    geographic = _geographic(g["crs_wkt"], g["geotransform"], g["height"], g["width"])
    areas = cell_areas(g["geotransform"], g["height"], g["width"], geographic)
    zones = znames = None
    if zones_path:
        zones, znames = zn.zones_from_values(read_band(zones_path, grid, what="zones"), zone_type,
                                             what=f"zones raster {zones_path}")
        if zone_type == "categorical" and zone_names:
            znames = {**(znames or {}), **{int(k): str(v) for k, v in zone_names.items()}}
    rows = zn.zone_summary(codes, names, areas, zones, znames, groups)
    unit = "km2" if geographic else "km2 (map units squared x 1e-6)"
    for r in rows:
        r["area_unit"] = unit
    return rows
