"""Prediction with a fitted upscaling model: on a table (points or site-months with driver
columns) or on driver rasters (one time series per driver on one grid with the same dates;
static drivers such as land cover may be single-band rasters), written block by block as a
monthly GeoTIFF with dated bands, plus the share of months outside the training range.
"""

import json
import os

import numpy as np
import pandas as pd

from ..blocks import DEFAULT_BUDGET_MB, Progress, run_row_blocks
from ..errors import InputError
from ..io.series import Grid, SeriesWriter, gdal, open_series, read_band
from ..provenance import provenance
from .model import UpscalerModel, load_model


def _as_model(model):
    if isinstance(model, UpscalerModel):
        return model
    return load_model(model)


def predict_table(model, df, column="ER_pred", outside_column="outside_training_range"):
    """A copy of ``df`` with the prediction ``column`` (NaN where a driver is missing or a
    category is unknown to the model) and a 0/1 ``outside_column`` (a numeric driver outside the
    training range). InputError naming the missing columns."""
    model = _as_model(model)
    missing = [f for f in model.features if f not in df.columns]
    if missing:
        raise InputError(f"the table has no column(s) {', '.join(missing)} needed by the model "
                         f"(features: {', '.join(model.features)}); columns: {', '.join(map(str, df.columns))}")
    n = len(df)
    cols = {}
    for f in model.features:
        v = df[f]
        if f in model.categorical:
            if pd.api.types.is_numeric_dtype(v) and model.category_codes(f):
                cols[f] = v.to_numpy(dtype="float64")
            else:
                cols[f] = np.asarray([None if pd.isna(x) else str(x) for x in v], dtype=object)
        else:
            if not pd.api.types.is_numeric_dtype(v):
                v = pd.to_numeric(v, errors="coerce")
            cols[f] = v.to_numpy(dtype="float64")
    X, valid, outside = model.encode_columns(cols, n)
    pred = np.full(n, np.nan)
    if valid.any():
        pred[valid] = model.predict_encoded(X[valid])
    out = df.copy()
    out[column] = pred
    out[outside_column] = outside.astype("int64")
    return out


class StaticLayer:
    """A single-band raster used as a driver constant in time (e.g. land cover)."""

    def __init__(self, path, name=None):
        if gdal is None:
            raise InputError("GDAL's Python bindings (osgeo) are not installed")
        self.path = str(path)
        self.label = self.path
        try:
            ds = gdal.Open(self.path)
        except RuntimeError as exc:
            raise InputError(f"{self.path}: cannot be read as a raster ({exc})") from None
        if ds is None:
            raise InputError(f"{self.path}: cannot be read as a raster")
        self.count = ds.RasterCount
        self.grid = Grid(ds.RasterXSize, ds.RasterYSize, ds.GetGeoTransform(), ds.GetProjection() or "")
        self.name = name or os.path.splitext(os.path.basename(self.path))[0]
        self._data = None

    def read_rows(self, r0, r1):
        if self._data is None:
            self._data = read_band(self.path, self.grid, 1, what=f"driver {self.name}")
        return self._data[r0:r1]


def open_driver(path, name=None, dates=None, variable=None):
    """A RasterSeries for a multiband raster (or NetCDF ``variable`` with a time axis), a
    StaticLayer for a single-band raster or variable (e.g. land cover)."""
    source = f'NETCDF:"{path}":{variable}' if variable else str(path)
    if gdal is not None:
        try:
            ds = gdal.Open(source)
        except RuntimeError as exc:
            raise InputError(f"driver {name or path}: {source} cannot be read as a raster ({exc})") from None
        if ds is not None and ds.RasterCount == 1 and not ds.GetSubDatasets():
            return StaticLayer(source, name)
    return open_series(path, variable, dates=dates)


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
        if not first.grid.same_as(d.grid):
            raise InputError(f"driver rasters differ in grid or CRS: {first_name} ({first.label}) is "
                             f"{first.grid.describe()}, {n} ({d.label}) is {d.grid.describe()}"
                             + ("" if (first.grid.width, first.grid.height, first.grid.geotransform) !=
                                (d.grid.width, d.grid.height, d.grid.geotransform) else " (CRS differ)"))
    series = [(n, d) for n, d in drivers.items() if not isinstance(d, StaticLayer)]
    if not series:
        raise InputError("at least one driver must be a time series (one band per month)")
    ref_name, ref = series[0]
    ref_dates = ref.date_strings()
    for n, d in series[1:]:
        ds = d.date_strings()
        if ds != ref_dates:
            if len(ds) != len(ref_dates):
                detail = f"{len(ref_dates)} and {len(ds)} time steps"
            else:
                i = next(i for i, (a, b) in enumerate(zip(ref_dates, ds)) if a != b)
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


def predict_rasters(model, drivers, out_path, land_mask_path=None, outside_share_path=None,
                    budget_mb=DEFAULT_BUDGET_MB, progress=None, cancelled=None, options=None,
                    n_threads=None):
    """Monthly predictions from driver rasters, block by block within ``budget_mb``.

    ``drivers``: name -> RasterSeries (time series) or StaticLayer/path of a single-band raster;
    names must equal the model's features. Categorical drivers as rasters hold integer codes
    (the model's ``category_codes``, MODIS IGBP by default); unknown codes are not predicted.
    Only pixel-months with every driver valid and on land (``land_mask_path``: non-zero, finite)
    are predicted. Writes ``out_path`` (float32 GeoTIFF, one band per date, NaN nodata) and the
    optional ``outside_share_path`` (share of the predicted months with a numeric driver outside
    the training range). GDAL's block cache is raised, for the run only, to hold one row of output
    tiles (about 256 x width x months x 4 bytes; 350 MB for 720 columns and 360 months), on top of
    ``budget_mb``. ``n_threads``: threads over row chunks (default: up to 2;
    the numbers do not depend on it). Returns a summary dict."""
    model = _as_model(model)
    model.n_threads = n_threads or min(2, os.cpu_count() or 1)
    drivers = {n: (open_driver(d, n) if isinstance(d, (str, os.PathLike)) else d) for n, d in drivers.items()}
    dates, date_strings, grid = check_drivers(model, drivers)
    land = None
    if land_mask_path:
        lm = read_band(land_mask_path, grid, what="land mask")
        land = np.isfinite(lm) & (lm != 0)
    nt = len(dates)
    n_series = sum(not isinstance(d, StaticLayer) for d in drivers.values())
    n_enc = len(model.encoded_features)
    # per cell: driver reads (float32) + encoded matrix (float64 and float32) + outputs, with slack
    bytes_per_cell = nt * (4 * n_series + 12 * n_enc + 24) * 1.5
    meta = provenance("upscaling.predict", dict(options or {}, model_kind=model.kind,
                                                 features=model.features),
                      {n: getattr(d, "label", str(d)) for n, d in drivers.items()})
    meta["ECORESP_TARGET"] = f"{model.meta.get('target', '')} [{model.meta.get('target_unit', '')}]"
    meta["ECORESP_MODEL"] = json.dumps({"file": model.source, "sha256": model.meta.get("sha256"),
                                        "chosen": model.meta.get("chosen"), "seed": model.meta.get("seed"),
                                        "cv": model.meta.get("cv")}, default=str)
    stats = {"predicted": 0, "outside": 0, "skipped_invalid": 0}
    prog = Progress(progress, cancelled)
    writers = []
    cache_before = _reserve_gdal_cache(grid, nt)
    try:
        out = SeriesWriter(out_path, grid, date_strings, metadata=meta)
        writers.append(out)
        share_w = None
        if outside_share_path:
            share_w = SeriesWriter(outside_share_path, grid, ["outside_share"], metadata=meta)
            writers.append(share_w)

        def work(r0, r1, sub):
            rows = r1 - r0
            shape = (nt, rows, grid.width)
            cols = {}
            valid = np.ones(shape, dtype=bool)
            if land is not None:
                valid &= land[r0:r1][None]
            for f in model.features:
                d = drivers[f]
                if isinstance(d, StaticLayer):
                    a = np.broadcast_to(d.read_rows(r0, r1).astype(np.float32)[None], shape)
                else:
                    a = d.read_block(r0, r1, dtype="float32")
                cols[f] = a
                valid &= np.isfinite(a)
            sub.check()
            n = int(valid.sum())
            pred = np.full(shape, np.nan, dtype=np.float32)
            share = None
            if n:
                X, ok, outside = model.encode_columns({f: a[valid] for f, a in cols.items()}, n)
                del cols
                p = np.full(n, np.nan)
                if ok.all():
                    p[:] = model.predict_encoded(X)
                elif ok.any():
                    p[ok] = model.predict_encoded(X[ok])
                del X
                pred[valid] = p
                stats["predicted"] += int(ok.sum())
                stats["skipped_invalid"] += int((~ok).sum())
                stats["outside"] += int(outside.sum())
                if share_w is not None:
                    out_cnt = np.zeros(shape, dtype=np.float32)
                    out_cnt[valid] = outside
                    good = np.zeros(shape, dtype=np.float32)
                    good[valid] = ok
                    cnt = good.sum(axis=0)
                    with np.errstate(invalid="ignore", divide="ignore"):
                        share = np.where(cnt > 0, out_cnt.sum(axis=0) / cnt, np.nan)[None]
            elif share_w is not None:
                share = np.full((1, rows, grid.width), np.nan, dtype=np.float32)
            out.write_block(r0, pred)
            if share_w is not None:
                share_w.write_block(r0, share)

        nblocks = run_row_blocks(grid.height, grid.width, bytes_per_cell, work, prog, budget_mb)
        for w in writers:
            w.commit()
    except BaseException:
        for w in writers:
            w.abort()
        raise
    finally:
        if cache_before is not None:
            gdal.SetCacheMax(cache_before)
    stats.update(blocks=nblocks, months=nt, first_date=date_strings[0], last_date=date_strings[-1],
                 outside_share=(stats["outside"] / stats["predicted"]) if stats["predicted"] else float("nan"))
    return stats
