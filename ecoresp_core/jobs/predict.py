"""Prediction job: a fitted upscaling model (``upscaling.model``) applied to driver rasters (one
time series per driver on one grid with the same dates; static drivers such as land cover may be
single-band rasters), written block by block as a monthly GeoTIFF with dated bands, plus the share
of months outside the training range."""

import json
import os

import numpy as np

from ..errors import InputError
from ..io.series import dated_band_metadata, gdal, read_band
from ..upscaling.predict import LeftOut, as_model
from .blocks import DEFAULT_BUDGET_MB
from .inputs import StaticLayer, date_difference, grid_difference, open_driver
from .runner import RasterJob


def check_drivers(model, drivers):
    """Check that the drivers (name -> RasterSeries or StaticLayer) match the model's features,
    share one grid and CRS and, for time series, the same dates. Returns (dates, grid)."""
    names = list(drivers)
    missing = [f for f in model.features if f not in drivers]
    extra = [n for n in names if n not in model.features]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"no driver for feature(s) {', '.join(missing)}")
        if extra:
            parts.append(f"driver(s) {', '.join(extra)} not used by the model")
        raise InputError("the drivers do not match the model: " + "; ".join(parts) +
                         f" (model features, in order: {', '.join(model.features)}; drivers given: "
                         f"{', '.join(names) or 'none'})")
    first_name = names[0]
    first = drivers[first_name]
    for n in names[1:]:
        d = drivers[n]
        diff = grid_difference(first, d)
        if diff is not None:
            raise InputError(f"driver rasters differ in grid or CRS: {first_name} ({first.label}) is "
                             f"{first.grid.describe()}, {n} ({d.label}) is {d.grid.describe()}"
                             + (" (CRS differ)" if diff == "crs" else ""))
    series = [(n, d) for n, d in drivers.items() if not isinstance(d, StaticLayer)]
    if not series:
        raise InputError("at least one driver must be a time series (one band per month)")
    ref_name, ref = series[0]
    ref_dates = ref.date_strings()
    for n, d in series[1:]:
        i = date_difference(ref.dates, d.dates, by="time")
        if i is not None:
            ds = d.date_strings()
            if len(ds) != len(ref_dates):
                detail = f"{len(ref_dates)} and {len(ds)} time steps"
            else:
                detail = f"time step {i + 1} is {ref_dates[i]} and {ds[i]}"
            raise InputError(f"driver rasters differ in dates: {ref_name} ({ref.label}) and {n} ({d.label}): {detail}")
    return ref.dates, ref_dates, first.grid


TILE_ROWS = 256  # SeriesWriter writes tiled GeoTIFFs (GDAL's default 256 x 256 tiles)


def _reserve_gdal_cache(grid, nbands):
    """The output's row of tiles (256 rows x every band) is filled by several row blocks; if it
    does not fit in GDAL's block cache, GDAL compresses partial tiles to disk and reads them back
    (many times slower). Raise the cache to hold one tile row for the run; returns the previous
    size to restore (None when nothing changed)."""
    cols = -(-grid.width // TILE_ROWS) * TILE_ROWS
    need = int(TILE_ROWS * cols * nbands * 4 * 1.5) + 128 * 2 ** 20
    before = gdal.GetCacheMax()
    if before >= need:
        return None
    gdal.SetCacheMax(need)
    return before


def _read_driver(name, driver, r0, r1, shape):
    """Rows [r0, r1) of driver ``name`` as float32 (t, rows, cols); a failed read (e.g. a file cut
    short) is an InputError naming the driver and its file."""
    try:
        if isinstance(driver, StaticLayer):
            return np.broadcast_to(driver.read_rows(r0, r1).astype(np.float32)[None], shape)
        return driver.read_block(r0, r1, dtype="float32")
    except InputError as exc:
        text = str(exc)
        raise InputError(text if text.startswith(f"driver {name}") else f"driver {name}: {text}") from None


def predict_valid(model, acc, cols, valid, with_prediction=True, with_share=True):
    """Predict the pixel-months ``valid`` of a block (the kernel of :func:`predict_rasters`, also
    of every chunk of ``ecoresp_core.cube.upscaling.predict``).

    Parameters
    ----------
    model : UpscalerModel
        The fitted model (``model.predict_encoded``: each pixel-month alone).
    acc : LeftOut
        Encodes the drivers and counts what is left out (``upscaling.predict.LeftOut``).
    cols : dict of str to numpy.ndarray
        {feature: float32 (t, rows, cols) driver values} in the model's feature order; emptied
        (its arrays freed) once the valid pixel-months are encoded.
    valid : numpy.ndarray
        bool (t, rows, cols): the pixel-months with every driver (``LeftOut.count_missing``).
    with_prediction, with_share : bool
        Compute the prediction, the share of months outside the training range.

    Returns
    -------
    (numpy.ndarray or None, numpy.ndarray or None, numpy.ndarray, numpy.ndarray)
        The prediction (float32 (t, rows, cols), the model's target unit, NaN where nothing was
        predicted), the share of the predicted months with a numeric driver outside the training
        range (float32 (rows, cols), fraction, NaN without a predicted month), and per valid
        pixel-month whether it was predicted and whether it is outside the range (both empty when
        no pixel-month is valid).
    """
    shape = valid.shape
    n = int(valid.sum())
    pred = np.full(shape, np.nan, dtype=np.float32) if with_prediction else None
    share = np.full(shape[1:], np.nan, dtype=np.float32) if with_share else None
    if not n:
        return pred, share, np.zeros(0, dtype=bool), np.zeros(0, dtype=bool)
    X, ok, outside = acc.encode({f: a[valid] for f, a in cols.items()}, n)
    cols.clear()
    if with_prediction:
        p = np.full(n, np.nan)
        if ok.all():
            p[:] = model.predict_encoded(X)
        elif ok.any():
            p[ok] = model.predict_encoded(X[ok])
        pred[valid] = p
    del X
    if with_share:
        out_cnt = np.zeros(shape, dtype=np.float32)
        out_cnt[valid] = outside
        good = np.zeros(shape, dtype=np.float32)
        good[valid] = ok
        cnt = good.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(cnt > 0, out_cnt.sum(axis=0) / cnt, np.nan).astype(np.float32, copy=False)
    return pred, share, ok, outside


def predict_rasters(model, drivers, out_path, land_mask_path=None, outside_share_path=None,
                    budget_mb=DEFAULT_BUDGET_MB, progress=None, cancelled=None, options=None,
                    n_threads=None, unknown="leave_out", out_of_range="flag", mappings=None, report=None):
    """Monthly predictions from driver rasters, block by block within ``budget_mb``.

    ``drivers``: name -> RasterSeries (time series) or StaticLayer/path of a single-band raster;
    names must equal the model's features. Categorical drivers as rasters hold integer codes
    (the model's ``category_codes``, MODIS IGBP by default). Pixel-months considered: on land
    (``land_mask_path``: non-zero, finite), or without a mask those where a time-series driver
    has a value. Of those, what is not predicted is counted (``upscaling.predict.LeftOut``): a
    driver without a value, a category the model does not know (``unknown``: 'leave_out',
    'map' with ``mappings`` {driver: {from: to}}, or 'refuse'), a driver outside the training
    range with ``out_of_range='leave_out'`` ('flag': predicted and flagged; 'refuse'). Refusals
    and a driver without any value raise InputError before anything is written. Writes
    ``out_path`` (float32 GeoTIFF, one band per date, NaN nodata; the counts in its metadata item
    ECORESP_LEFT_OUT) and the optional ``outside_share_path`` (share of the predicted months with
    a numeric driver outside the training range). GDAL's block cache is raised, for the run
    only, to hold one row of output tiles (about 256 x width x months x 4 bytes; 350 MB for 720
    columns and 360 months), on top of ``budget_mb``. ``n_threads``: threads over row chunks
    (default: up to 2; the numbers do not depend on it). ``report``: a LeftOut to fill (it then
    holds the choices; one is made from ``unknown``, ``out_of_range`` and ``mappings`` when None).
    Returns a summary dict (``left_out``: the LeftOut)."""
    model = as_model(model)
    model.n_threads = n_threads or min(2, os.cpu_count() or 1)
    drivers = {n: (open_driver(d, n) if isinstance(d, (str, os.PathLike)) else d) for n, d in drivers.items()}
    dates, date_strings, grid = check_drivers(model, drivers)
    acc = report if report is not None else LeftOut(model, "pixel-months", unknown, out_of_range, mappings)
    land = None
    if land_mask_path:
        lm = read_band(land_mask_path, grid, what="land mask")
        land = np.isfinite(lm) & (lm != 0)
    nt = len(dates)
    n_series = sum(not isinstance(d, StaticLayer) for d in drivers.values())
    n_enc = len(model.encoded_features)
    # per cell: driver reads (float32) + encoded matrix (float64 and float32) + outputs, with slack
    bytes_per_cell = nt * (4 * n_series + 12 * n_enc + 26) * 1.5
    job_options = dict(options or {}, model_kind=model.kind, features=model.features,
                       unknown_categories=acc.unknown_mode, category_mappings=acc.mappings,
                       out_of_range=acc.range_mode)
    inputs = {n: getattr(d, "label", str(d)) for n, d in drivers.items()}
    stats = {"predicted": 0, "outside": 0, "skipped_invalid": 0}
    with_value = {f: 0 for f in model.features}  # pixel-months with a value, per driver (anywhere)
    cache_before = _reserve_gdal_cache(grid, nt)
    try:
        with RasterJob("upscaling.predict", job_options, inputs, progress, cancelled, budget_mb) as job:
            job.meta["ECORESP_TARGET"] = f"{model.meta.get('target', '')} [{model.meta.get('target_unit', '')}]"
            job.meta["ECORESP_MODEL"] = json.dumps(
                {"file": model.source, "sha256": model.meta.get("sha256"), "chosen": model.meta.get("chosen"),
                 "seed": model.meta.get("seed"), "cv": model.meta.get("cv")}, default=str)
            unit = str(model.meta.get("target_unit") or "")
            out = job.output(out_path, grid, date_strings,
                             band_metadata=dated_band_metadata(dates, unit), why_empty=acc.why_nothing)
            share_w = None
            if outside_share_path:
                share_w = job.output(outside_share_path, grid, ["outside_share"],
                                     band_metadata=[{"units": "fraction of months"}])

            def work(r0, r1, sub):
                rows = r1 - r0
                shape = (nt, rows, grid.width)
                cols = {}
                for f in model.features:
                    cols[f] = _read_driver(f, drivers[f], r0, r1, shape)
                    with_value[f] += int(np.count_nonzero(np.isfinite(cols[f])))
                if land is not None:
                    considered = np.broadcast_to(land[r0:r1][None], shape)
                else:
                    considered = np.zeros(shape, dtype=bool)
                    for f, d in drivers.items():
                        if not isinstance(d, StaticLayer):
                            considered |= np.isfinite(cols[f])
                valid = acc.count_missing(cols, considered)
                sub.check()
                pred, share, ok, outside = predict_valid(model, acc, cols, valid, with_share=share_w is not None)
                stats["predicted"] += int(ok.sum())
                stats["skipped_invalid"] += int((~ok).sum())
                stats["outside"] += int(outside.sum())
                if share is not None:
                    share = share[None]
                out.write_block(r0, pred)
                if share_w is not None:
                    share_w.write_block(r0, share)

            nblocks = job.walk(grid, bytes_per_cell, work)
            for f, n_with in with_value.items():
                if n_with == 0:
                    raise InputError(f"driver {f} ({inputs[f]}): nodata in every pixel and month; nothing can be "
                                     "predicted")
            acc.check_refuse()
            out.dataset.SetMetadataItem("ECORESP_LEFT_OUT", acc.json())
            job.commit()
    finally:
        if cache_before is not None:
            gdal.SetCacheMax(cache_before)
    stats.update(blocks=nblocks, months=nt, first_date=date_strings[0], last_date=date_strings[-1],
                 outside_share=(stats["outside"] / stats["predicted"]) if stats["predicted"] else float("nan"),
                 left_out=acc, considered=acc.considered, n_left_out=acc.left_out)
    return stats
