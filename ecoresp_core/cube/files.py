"""Cubes in and out of files with the plugin's conventions, lazily and chunk by chunk.

Reading (:func:`open_cube`, :func:`open_static`): a GeoTIFF/VRT with one dated band per time
step, a CF NetCDF variable, or a Zarr store.  GeoTIFF and NetCDF are read through the plugin's own
reader (``io.series.RasterSeries``), so the dates (band ``DATE`` items or descriptions, CF time),
the date order, nodata and fill values (to NaN), packing (scale/offset) and the CRS are exactly
those the QGIS algorithms see; each dask chunk reads its own rows and columns, in whichever process
computes it (the file is opened once per thread there).  A Zarr store is read with xarray.

Writing (:func:`write_cube`): ``.zarr`` is written by the workers chunk by chunk (``to_zarr``;
on a cluster the store must be on a filesystem every worker sees); ``.tif`` and ``.nc`` through
``io.series.SeriesWriter``, the plugin's writer (tiled DEFLATE GeoTIFF, dated bands, provenance;
NetCDF converted at commit), one slab of rows at a time computed where the cube is computed, so
the whole result is never in memory.  Every output is written under a temporary name and renamed
when complete: a failure leaves no file and never touches an existing one.
"""

from __future__ import annotations

import os
import shutil
import threading
import uuid

import numpy as np

from ..errors import InputError
from ..io.series import Grid, dated_band_metadata, open_series, read_band, split_source
from ..jobs.provenance import provenance

SERIES_DIMS = ("time", "y", "x")
_LOCAL = threading.local()


def _is_zarr(path):
    return str(path).rstrip("/").lower().endswith(".zarr")


class _SeriesReader:
    """A picklable, lazily opened view of a raster series as a (time, rows, cols) array, for
    ``dask.array.from_array``: every ``__getitem__`` reads only the rows (and then columns)
    asked for, through ``io.series.RasterSeries.read_block``."""

    def __init__(self, path, variable, dates, shape, dtype):
        self.path, self.variable, self.dates = path, variable, dates
        self.shape, self.dtype, self.ndim = tuple(shape), np.dtype(dtype), 3

    def _series(self):
        cache = getattr(_LOCAL, "series", None)
        if cache is None:
            cache = _LOCAL.series = {}
        key = (self.path, self.variable, None if self.dates is None else tuple(self.dates))
        if key not in cache:
            cache[key] = open_series(self.path, self.variable, self.dates)
        return cache[key]

    def __getitem__(self, key):
        if not isinstance(key, tuple):
            key = (key,)
        key = key + (slice(None),) * (3 - len(key))
        rows = range(*key[1].indices(self.shape[1])) if isinstance(key[1], slice) else None
        if rows is None or rows.step != 1:
            r0, r1 = 0, self.shape[1]
            row_key = key[1]
        else:
            r0, r1 = rows.start, max(rows.stop, rows.start)
            row_key = slice(None)
        if r1 <= r0:
            return np.empty((len(range(*key[0].indices(self.shape[0]))) if isinstance(key[0], slice) else 0, 0,
                             self.shape[2]), self.dtype)[:, :, key[2]]
        block = self._series().read_block(r0, r1, dtype=self.dtype.name)
        return block[key[0]][:, row_key][:, :, key[2]]


def _coords(grid):
    gt = grid.geotransform
    x = gt[0] + (np.arange(grid.width) + 0.5) * gt[1]
    y = gt[3] + (np.arange(grid.height) + 0.5) * gt[5]
    return y, x


def _attrs(grid, units, label, calendar=None):
    attrs = {"grid": grid, "units": units or "", "label": label, "crs_wkt": grid.crs_wkt,
             "geotransform": grid.geotransform}
    if calendar:
        attrs["calendar"] = calendar
    return attrs


def _time_coord(dates):
    """datetime64 of dates in a standard calendar (``datetime.datetime``, also cftime's
    ``real_datetime``), else an ``xarray.CFTimeIndex`` of the cftime dates."""
    import datetime

    import xarray as xr
    if all(isinstance(d, datetime.datetime) for d in dates):
        return np.array([np.datetime64(datetime.datetime(d.year, d.month, d.day, d.hour, d.minute, d.second), "ns")
                         for d in dates])
    return xr.CFTimeIndex(dates)


def open_cube(source, variable=None, dates=None, chunks=None, what="input"):
    """A raster time series as a dask-backed ``xarray.DataArray`` with dims ``("time", "y", "x")``.

    ``source``: a GeoTIFF/VRT with dated bands, a NetCDF file (``variable`` names the variable of
    a multi-variable file; ``NETCDF:"f.nc":var`` works too) or a ``.zarr`` store (``variable``
    names its data variable; default: the only one).  ``dates``: a dates override as for the
    plugin (``'1982-01/monthly'``, a list, ...).  ``chunks``: dask chunks (``{"y": 60, "x": 120}``
    or a tuple); default the whole time axis and width, 64 rows (the steps rechunk it for their
    memory budget, ``scheduler.rechunk``).  The time coordinate holds the dates in date order (datetime64, or
    cftime dates in a non-standard calendar); ``attrs``: ``grid`` (io.series.Grid), ``units``,
    ``label``, ``calendar``, ``crs_wkt``, ``geotransform``.  Bad input raises InputError naming
    ``what`` and the file."""
    import dask.array as dsa
    import xarray as xr

    path, var = split_source(source)
    variable = variable or var
    if _is_zarr(path):
        return _open_zarr(path, variable, chunks, what)
    try:
        src = open_series(path, variable, dates)
    except InputError as exc:
        raise InputError(f"{what}: {exc}") from None
    dtype = src.value_dtype
    shape = (src.count, src.grid.height, src.grid.width)
    reader = _SeriesReader(src.path, src.variable, dates, shape, dtype)
    if chunks is None:
        chunks = (-1, max(1, min(shape[1], 64)), -1)
    elif isinstance(chunks, dict):
        chunks = tuple(chunks.get(d, -1) for d in SERIES_DIMS)
    data = dsa.from_array(reader, chunks=chunks, lock=False, asarray=True, name=f"read-{uuid.uuid4().hex}",
                          meta=np.empty((0, 0, 0), dtype))
    y, x = _coords(src.grid)
    da = xr.DataArray(data, dims=SERIES_DIMS, coords={"time": _time_coord(src.dates), "y": y, "x": x},
                      name=src.name, attrs=_attrs(src.grid, src.units, src.label, src.calendar))
    src.close()
    return da


def _open_zarr(path, variable, chunks, what):
    import xarray as xr
    if not os.path.isdir(path):
        raise InputError(f"{what}: {path}: Zarr store not found")
    try:
        # the store's own chunks (each read once); the steps rechunk them for their budget
        ds = xr.open_zarr(path, chunks={} if chunks is None else chunks)
    except Exception as exc:  # noqa: BLE001 - zarr raises many kinds; named for the user
        raise InputError(f"{what}: {path}: cannot be read as a Zarr store ({exc})") from None
    names = [v for v in ds.data_vars if set(ds[v].dims) >= {"time"}] or list(ds.data_vars)
    if variable is None:
        if len(names) != 1:
            raise InputError(f"{what}: {path} holds the variables {', '.join(map(str, ds.data_vars))}; "
                             "name the one to use")
        variable = names[0]
    if variable not in ds.data_vars:
        raise InputError(f"{what}: {path} has no variable {variable!r} (it has {', '.join(map(str, ds.data_vars))})")
    da = ds[variable]
    for d in ("time", "y", "x"):
        if d not in da.dims:
            raise InputError(f"{what}: {path} variable {variable}: needs the dimensions time, y, x "
                             f"(found {', '.join(da.dims)})")
    da = da.transpose(*SERIES_DIMS)
    gt = da.attrs.get("geotransform") or ds.attrs.get("geotransform")
    if gt is None:
        xs, ys = da.x.values, da.y.values
        dx = float(xs[1] - xs[0]) if xs.size > 1 else 1.0
        dy = float(ys[1] - ys[0]) if ys.size > 1 else -1.0
        gt = (float(xs[0]) - dx / 2, dx, 0.0, float(ys[0]) - dy / 2, 0.0, dy)
    grid = Grid(da.sizes["x"], da.sizes["y"], gt, da.attrs.get("crs_wkt") or ds.attrs.get("crs_wkt", ""))
    calendar = getattr(da.time.to_index(), "calendar", None)
    da.attrs = _attrs(grid, da.attrs.get("units", ""), f"{path} (variable {variable})", calendar)
    da.name = variable
    return da


def open_static(source, band=1, grid=None, what="static layer"):
    """One band of a raster (land cover, a mask, land fraction) as a numpy-backed DataArray
    ``("y", "x")``, NaN for nodata; on ``grid`` (InputError naming ``what`` otherwise)."""
    import xarray as xr

    from osgeo import gdal
    path, var = split_source(source)
    values = read_band(path, grid=grid, band=band, what=what, variable=var)
    ds = gdal.Open(f'NETCDF:"{path}":{var}' if var else path)
    g = grid or Grid(ds.RasterXSize, ds.RasterYSize, ds.GetGeoTransform(), ds.GetProjection())
    y, x = _coords(g)
    return xr.DataArray(values, dims=("y", "x"), coords={"y": y, "x": x}, name=os.path.basename(path),
                        attrs=_attrs(g, "", path))


_DIM_NAMES = {"y": ("y", "lat", "latitude", "rlat"), "x": ("x", "lon", "longitude", "rlon"), "time": ("time", "t")}


def as_cube(da, what="input", static=False):
    """``da`` as the steps take it: dims ``("time", "y", "x")`` (``("y", "x")`` with ``static``),
    renamed from lat/lon/latitude/longitude and transposed as needed, north row first (a y axis
    running south to north, as xarray opens CRU TS, is flipped; per-pixel results do not change).
    InputError naming ``what`` when a dimension is missing or extra."""
    want = ("y", "x") if static else ("time", "y", "x")
    rename = {}
    for target in want:
        if target in da.dims:
            continue
        found = [d for d in da.dims if str(d).lower() in _DIM_NAMES[target]]
        if len(found) == 1:
            rename[found[0]] = target
    if rename:
        da = da.rename(rename)
    if set(da.dims) != set(want):
        raise InputError(f"{what}: needs the dimensions {', '.join(want)} (or lat/lon for y/x); it has "
                         f"{', '.join(map(str, da.dims)) or 'none'}")
    da = da.transpose(*want)
    y = np.asarray(da["y"]) if "y" in da.coords else None
    if y is not None and y.size > 1 and y[1] > y[0] and not isinstance(da.attrs.get("grid"), Grid):
        da = da.isel(y=slice(None, None, -1))
    return da


def dates_of(da):
    """The dates of a cube's time coordinate as the plugin's jobs take them (``datetime.datetime``
    in standard calendars, cftime dates otherwise), in order."""
    index = da.indexes["time"]
    if hasattr(index, "to_pydatetime"):
        return list(index.to_pydatetime())
    return list(index)


def grid_of(da):
    """The io.series.Grid of a cube (from its attrs, else from its x/y coordinates)."""
    g = da.attrs.get("grid")
    if isinstance(g, Grid):
        return g
    xs, ys = np.asarray(da.x), np.asarray(da.y)
    dx = float(xs[1] - xs[0]) if xs.size > 1 else 1.0
    dy = float(ys[1] - ys[0]) if ys.size > 1 else -1.0
    return Grid(xs.size, ys.size, (float(xs[0]) - dx / 2, dx, 0.0, float(ys[0]) - dy / 2, 0.0, dy),
                da.attrs.get("crs_wkt", ""))


def _bands(obj, band_names):
    """(list of 2-D or 3-D DataArrays, band names, band metadata) of what is written as bands: the
    variables of a Dataset (2-D each: one band; 3-D with time: one band per date) or a DataArray
    (3-D with time: dated bands)."""
    import xarray as xr
    items = list(obj.data_vars.values()) if isinstance(obj, xr.Dataset) else [obj]
    arrays, names, meta = [], [], []
    for item in items:
        if "time" in item.dims:
            dates = dates_of(item)
            arrays.append(item.transpose("time", "y", "x"))
            names += [f"{item.name}_{d:%Y-%m-%d}" if hasattr(d, "strftime") else f"{item.name}_{d}" for d in dates] \
                if len(items) > 1 else [f"{d.year:04d}-{d.month:02d}-{d.day:02d}" for d in dates]
            meta += dated_band_metadata(dates, item.attrs.get("units", ""))
        else:
            arrays.append(item.transpose("y", "x").expand_dims("band"))
            names.append(str(item.name))
            meta.append({"units": item.attrs.get("units", "")} if item.attrs.get("units") else {})
    if band_names is not None:
        if len(band_names) != len(names):
            raise ValueError(f"{len(band_names)} band names for {len(names)} bands")
        names = list(band_names)
    return arrays, names, meta


def slab_rows(arrays, where, height, width):
    """Rows of one written slab: as many whole rows as fit the chunk budget of ``where`` times its
    threads (the chunks computed at once), at least the y chunk of the cube, at most ``height``."""
    n_bands = sum(a.shape[0] for a in arrays)
    per_row = max(width * max(n_bands, 1) * 8 * 2, 1)
    rows = int(where.chunk_budget_mb() * max(where.threads, 1) * 2 ** 20 // per_row)
    chunk_rows = [max(a.chunks[a.dims.index("y")]) for a in arrays if getattr(a, "chunks", None)]
    return max(1, min(height, max([rows] + chunk_rows)))


class Output:
    """One output of a step for :func:`write_outputs`: ``obj`` (a lazy DataArray or Dataset) to
    ``path``; ``band_names`` / ``band_metadata`` override the bands' descriptions and metadata;
    ``classes`` makes a categorical band (colour table, ``.qml`` style); ``why_empty`` (a
    callable giving a sentence) makes an output without any value an InputError, as in the QGIS
    jobs (``jobs.runner.RasterJob.output``), checked in ``value_bands`` (0-based; default all)."""

    def __init__(self, obj, path, band_names=None, band_metadata=None, classes=None, nodata=np.nan,
                 dtype="Float32", why_empty=None, value_bands=None):
        self.obj, self.path, self.band_names, self.band_metadata = obj, str(path), band_names, band_metadata
        self.classes, self.nodata, self.dtype = classes, nodata, dtype
        self.why_empty, self.value_bands = why_empty, value_bands


def write_cube(obj, path, where, algorithm, options=None, inputs=None, band_names=None, classes=None,
               nodata=np.nan, dtype="Float32", progress=None, band_metadata=None, why_empty=None):
    """Compute ``obj`` (a lazy DataArray or Dataset on the grid of its inputs) and write it to
    ``path`` (``.tif``, ``.nc`` or ``.zarr``) with the provenance of ``algorithm`` and ``options``
    (one :class:`Output` of :func:`write_outputs`).  Returns the path."""
    out = Output(obj, path, band_names, band_metadata, classes, nodata, dtype, why_empty)
    write_outputs([out], where, algorithm, options, inputs, progress)
    return out.path


def write_outputs(outputs, where, algorithm, options=None, inputs=None, progress=None, extra=None):
    """Compute the :class:`Output` s of one step together and write them, all or none.

    ``where`` (``scheduler.run_on``) computes them.  GeoTIFF/NetCDF: bands = a Dataset's variables
    (or the dated bands of a (time, y, x) array), written slab by slab of whole rows, every output's
    slab computed in one ``compute`` (shared inputs and intermediates are computed once).  Zarr: the
    workers write their chunks to a temporary store.  Every output is written under a temporary
    name; only when all are complete (and none is empty, ``why_empty``) are they renamed, so a
    failure or Cancel leaves no file and never touches an existing one.  Outputs carry the
    provenance of ``algorithm``, ``options``, ``inputs`` and the versions, plus the ``extra`` items
    (a dict of strings) a step records."""
    from ..jobs.blocks import gdal_cache, gdal_cache_mb
    if options is None:  # the options a step recorded on its result
        options = getattr(outputs[0].obj, "attrs", {}).get("options", {}) if outputs else {}
    meta = {**provenance(algorithm, options or {}, inputs), **(extra or {})}
    # GDAL's block cache is part of the budget, as in the QGIS jobs (jobs.blocks.gdal_cache_mb)
    with gdal_cache(gdal_cache_mb(where.memory_mb)):
        _write_outputs(outputs, where, meta, gdal_cache_mb(where.memory_mb), progress)


def _write_outputs(outputs, where, meta, cache_mb, progress):
    from ..io.series import SeriesWriter
    from ..io.styles import write_qml
    from ..jobs.blocks import output_tile_rows
    rasters = [o for o in outputs if not _is_zarr(o.path)]
    stores = [o for o in outputs if _is_zarr(o.path)]
    writers, arrays = [], []
    try:
        bands = [_bands(o.obj, o.band_names) for o in rasters]
        for o, (arrs, names, band_meta) in zip(rasters, bands):
            grid = grid_of(arrs[0])
            # tiles short enough that one row of tiles of every output fits half the GDAL cache: slabs
            # shorter than a tile then fill tiles in the cache instead of recompressing them
            tile_rows = output_tile_rows(cache_mb, grid.width, max(len(n) for _, n, _ in bands), len(rasters))
            writers.append(SeriesWriter(o.path, grid, names, metadata=meta, band_metadata=o.band_metadata or band_meta,
                                        classes=o.classes, nodata=o.nodata, dtype=o.dtype, tile_rows=tile_rows))
            arrays.append(arrs)
        staged = [_zarr_stage(o.obj, o.path, meta) for o in stores]
        if staged:
            where.compute(*[delayed for _, delayed in staged])
        if rasters:
            grid = grid_of(arrays[0][0])
            flat = [a for arrs in arrays for a in arrs]
            rows = slab_rows(flat, where, grid.height, grid.width)
            for r0 in range(0, grid.height, rows):
                r1 = min(r0 + rows, grid.height)
                parts = iter(where.compute(*[a.isel(y=slice(r0, r1)).data for a in flat]))
                for writer, arrs in zip(writers, arrays):
                    block = [np.asarray(next(parts), dtype="float64") for _ in arrs]
                    writer.write_block(r0, np.concatenate(block, axis=0))
                if progress is not None:
                    progress(r1 / grid.height)
        for writer, o in zip(writers, rasters):
            counts = writer.values_per_band if o.value_bands is None else writer.values_per_band[list(o.value_bands)]
            if o.why_empty is not None and not counts.any():
                raise InputError(f"{o.path}: not written, every pixel of it would be nodata: {o.why_empty()}")
        for writer, o in zip(writers, rasters):
            writer.commit()
            if o.classes:
                write_qml(o.path, o.classes)
        for (tmp, _), o in zip(staged, stores):
            _replace_dir(tmp, o.path)
    finally:
        for writer in writers:
            if not writer.committed:
                writer.abort()
        for o in stores:
            for tmp in _zarr_partials(o.path):
                shutil.rmtree(tmp, ignore_errors=True)


def _zarr_partials(path):
    parent = os.path.dirname(os.path.abspath(path))
    stem = f".{os.path.basename(path.rstrip('/'))}.{os.getpid()}-"
    return [os.path.join(parent, n) for n in os.listdir(parent) if n.startswith(stem) and n.endswith(".partial")] \
        if os.path.isdir(parent) else []


def _zarr_stage(obj, path, meta):
    """(temporary store, delayed write) of ``obj`` to a Zarr store beside ``path``."""
    import xarray as xr
    ds = obj if isinstance(obj, xr.Dataset) else obj.to_dataset(name=obj.name or "value")
    ds = ds.copy()
    for v in ds.data_vars:
        ds[v].attrs = {k: v2 for k, v2 in ds[v].attrs.items() if isinstance(v2, (str, int, float))}
        ds[v].encoding = {}
    grid = grid_of(next(iter(ds.data_vars.values())))
    ds.attrs = {**meta, "crs_wkt": grid.crs_wkt, "geotransform": list(grid.geotransform)}
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise InputError(f"{path}: the folder {parent} does not exist")
    tmp = os.path.join(parent, f".{os.path.basename(path.rstrip('/'))}.{os.getpid()}-{uuid.uuid4().hex[:8]}.partial")
    return tmp, ds.to_zarr(tmp, mode="w", compute=False)


def _replace_dir(tmp, path):
    if os.path.isdir(path):
        old = tmp + ".old"
        os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, path)
