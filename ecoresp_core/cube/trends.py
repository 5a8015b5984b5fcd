"""Trend and detrend of cubes on dask: the Mann-Kendall test and Theil-Sen slope per pixel
(``trends.trend.mann_kendall``) and per-pixel detrending (``common.detrend.detrend``), chunk by
chunk in space with the whole time axis in each chunk, on dask's local scheduler or a
dask.distributed cluster (``scheduler.run_on``).

The numbers are those of the QGIS jobs (``jobs.trend.trend_raster``, ``jobs.detrend.detrend_raster``)
bit for bit, whatever the chunking: the kernels are per pixel and deterministic, the values read are
the same (``files.open_cube`` reads through the plugin's reader in the same dtype), the slope factor
and the units are those of the job, and the files are written by the plugin's writer
(``files.write_cube``) with the job's provenance (algorithm ``trend`` / ``detrend``, same options).
The kernel runs in the thread or worker computing the chunk (``workers=None``): never in the
desktop's helper processes (``jobs.parallel.Workers``).

    with run_on(memory_mb=2048) as where:
        trend_files("tas.nc", "tas_trend.tif", classes="tas_classes.tif", where=where)
        ds = trend(open_cube("tas.nc"), where=where)          # lazy xarray.Dataset
"""

from __future__ import annotations

import functools

import numpy as np

from ..common import detrend as _detrend
from ..common import temporal
from ..common.timeaxis import time_step
from ..errors import InputError
from ..jobs.trend import TREND_CLASSES, tested_dates, trend_classes, trend_setup
from ..trends.trend import TREND_BANDS, mann_kendall
from .files import Output, as_cube, dates_of, open_cube, write_outputs
from .scheduler import here, rechunk, sizing

__all__ = ["TREND_BANDS", "TREND_CLASSES", "trend", "detrend", "trend_files", "detrend_files",
           "trend_setup", "TREND_BYTES_PER_STEP", "DETREND_BYTES_PER_STEP"]

# working memory of one pixel (bytes): as the QGIS jobs' row blocks (measured there,
# tests/core/jobs/test_memory_budget.py): trend 8 * (5 t + 40), detrend 8 * 12 t
TREND_BYTES_PER_STEP, TREND_BYTES_FIXED = 8 * 5, 8 * 40
DETREND_BYTES_PER_STEP = 8 * 12

_SLOPE_BANDS = ("slope", "slope_lower", "slope_upper")


def _calendar(da):
    return da.attrs.get("calendar") or getattr(da.indexes["time"], "calendar", None) or "standard"


def _label(da):
    return da.attrs.get("label") or str(da.name or "input")


def _trend_block(block, dates, aggregate, variant, alpha, min_valid, period, factor):
    """The TREND_BANDS of one chunk ``(t, rows, cols)`` as ``(11, rows, cols)`` float64 (the
    job's ``work``: aggregation, the kernel in this thread, the slope factor)."""
    data = block
    if aggregate:
        data, _ = temporal.annual_aggregate(np.asarray(block, dtype="float64"), dates, aggregate)
    res = mann_kendall(data, variant=variant, alpha=alpha, min_valid=min_valid, period=period, workers=None)
    for b in _SLOPE_BANDS:
        res[b] = res[b] * factor
    return np.stack([res[b] for b in TREND_BANDS])


def _class_block(stack):
    return trend_classes(stack[TREND_BANDS.index("slope")], stack[TREND_BANDS.index("trend")])


def trend(da, *, variant="original", alpha=0.05, min_valid=10, slope_per="year", aggregate=None, period=12,
          where=None, keep_chunks=False):
    """Mann-Kendall test and Theil-Sen slope per pixel of the cube ``da`` (dims ``time, y, x``,
    numpy- or dask-backed, e.g. ``files.open_cube``), lazily, as an ``xarray.Dataset``.

    Options as ``jobs.trend.trend_raster`` (``variant`` one of VARIANTS, ``alpha``, ``min_valid``
    time steps, ``slope_per`` 'year' or 'step', ``aggregate`` None/'mean'/'sum' to annual values,
    ``period`` steps of the seasonal cycle).  ``where`` (``scheduler.run_on``) sizes the chunks
    (the whole time axis per chunk, space from its memory budget); ``keep_chunks``: keep the
    caller's spatial chunks of a dask-backed ``da``.  Returns the float64 variables TREND_BANDS
    (slopes in input units per year or per time step, ``attrs['units']``; NaN where fewer than
    ``min_valid`` valid values, except ``n_valid``) and ``trend_class`` (uint8, TREND_CLASSES,
    0 = nodata); ``attrs``: the job's provenance options (``options``), its band metadata
    (``band_metadata``, one dict per TREND_BANDS name), ``units`` and ``grid`` of the input.
    Bad options raise InputError."""
    import dask.array as dsa
    import xarray as xr

    da = as_cube(da, f"input: {_label(da)}")
    dates = dates_of(da)
    factor, options, band_meta, tested = trend_setup(
        dates, _calendar(da), da.attrs.get("units", ""), _label(da), variant, alpha, min_valid, slope_per,
        aggregate, period)
    t = da.sizes["time"]
    da = rechunk(da, TREND_BYTES_PER_STEP * t + TREND_BYTES_FIXED, sizing(where), keep=keep_chunks)
    data = da.data
    if not np.issubdtype(data.dtype, np.floating):
        data = data.astype("float64")
    kernel = functools.partial(_trend_block, dates=dates, aggregate=aggregate, variant=variant, alpha=float(alpha),
                               min_valid=int(min_valid), period=int(period), factor=float(factor))
    stack = dsa.map_blocks(kernel, data, dtype="float64",
                           chunks=((len(TREND_BANDS),),) + data.chunks[1:], meta=np.empty((0, 0, 0), "float64"))
    coords = {"y": da.y, "x": da.x}
    attrs = {k: v for k, v in da.attrs.items() if k in ("grid", "crs_wkt", "geotransform", "label", "calendar")}
    ds = xr.Dataset(coords=coords, attrs={**attrs, "options": options, "units": da.attrs.get("units", ""),
                                          "band_metadata": band_meta})
    for i, (b, meta) in enumerate(zip(TREND_BANDS, band_meta)):
        ds[b] = xr.DataArray(stack[i], dims=("y", "x"), coords=coords, name=b, attrs={**attrs, **meta})
    ds["trend_class"] = xr.DataArray(
        dsa.map_blocks(_class_block, stack, drop_axis=0, dtype="uint8", meta=np.empty((0, 0), "uint8")),
        dims=("y", "x"), coords=coords, name="trend_class", attrs={**attrs, "classes": "TREND_CLASSES"})
    return ds


def _detrend_block(block, dates, method, keep_mean):
    return _detrend.detrend(np.asarray(block, dtype="float64"), dates, method, keep_mean)


def _detrend_setup(dates, label, method):
    if method not in _detrend.METHODS:
        raise InputError(f"unknown detrending method {method!r}; use one of {', '.join(_detrend.METHODS)}")
    if method != "linear" and time_step(dates) != "monthly":
        raise InputError(f"{label}: anomalies from the mean seasonal cycle need a regular monthly series")


def detrend(da, *, method="linear", keep_mean=False, where=None, keep_chunks=False):
    """Every pixel of the cube ``da`` (dims ``time, y, x``) detrended as ``jobs.detrend.detrend_raster``
    (``common.detrend.detrend``: ``method`` 'linear', 'seasonal' or 'seasonal_linear'; ``keep_mean``
    adds each pixel's mean back), lazily: a float64 DataArray of the same dims, dates and units
    (input units; ``attrs['options']``: the job's options).  Chunks as :func:`trend`."""
    import dask.array as dsa
    import xarray as xr

    da = as_cube(da)
    dates = dates_of(da)
    _detrend_setup(dates, _label(da), method)
    da = rechunk(da, DETREND_BYTES_PER_STEP * da.sizes["time"], sizing(where), keep=keep_chunks)
    kernel = functools.partial(_detrend_block, dates=dates, method=method, keep_mean=bool(keep_mean))
    out = dsa.map_blocks(kernel, da.data, dtype="float64",
                         meta=np.empty((0, 0, 0), "float64"))
    return xr.DataArray(out, dims=da.dims, coords=da.coords, name=da.name,
                        attrs={**da.attrs, "options": dict(method=method, keep_mean=bool(keep_mean))})


def _count_block(block, dates=None, aggregate=None):
    """Valid time steps per pixel of one chunk (after the annual aggregation, if any), (1, rows, cols)."""
    if aggregate:
        block, _ = temporal.annual_aggregate(np.asarray(block, dtype="float64"), dates, aggregate)
    return np.count_nonzero(~np.isnan(block), axis=0)[None]


def _most_valid(values, where, dates=None, aggregate=None):
    """Most valid time steps (after aggregation) of a pixel of the lazy ``values`` (t, y, x),
    computed by ``where``: the QGIS jobs' reason when an output would be empty (computed only then)."""
    import dask.array as dsa
    count = functools.partial(_count_block, dates=dates, aggregate=aggregate)
    counts = dsa.map_blocks(count, values, chunks=((1,),) + values.chunks[1:], dtype="int64")
    return int(where.compute(counts.max())[0])


def _why_empty(data, where, dates, aggregate, label, reason):
    """``why_empty`` of ``files.Output`` as the QGIS jobs say it: InputError ``every pixel is nodata
    in every band`` when the input has no value, else the sentence ``reason(most valid steps)``."""
    def why():
        most = _most_valid(data, where, dates, aggregate)
        if most == 0:
            raise InputError(f"{label}: every pixel is nodata in every band")
        return reason(most)
    return why


def trend_files(input, output, variable=None, dates=None, classes=None, variant="original", alpha=0.05,
                min_valid=10, slope_unit="year", aggregate=None, memory_mb=None, where=None, progress=None):
    """File to file, as the QGIS algorithm ``ecoresp:trend`` (keywords = its parameters in lower case):

    input: the time series: GeoTIFF/VRT with one dated band per time step, NetCDF, or a .zarr store
    variable: the variable of a multi-variable NetCDF file or Zarr store
    dates: dates override: a list, or start/step such as 1981-01/P1M
    output: the 11 trend statistics (.tif, .nc or .zarr): slope, intercept, p_value, ... (TREND_BANDS)
    classes: optional Byte raster of the 5 significance classes, with a QGIS style (.qml)
    variant: the test: original, hamed_rao, yue_wang, pre_whitening, trend_free_pre_whitening, seasonal
    alpha: significance level of the two-sided test
    min_valid: minimum number of valid time steps of a pixel (fewer: nodata)
    slope_unit: year (slope per year; needs a regular annual, monthly or daily axis) or step
    aggregate: mean or sum: test the annual values of a monthly series (default: none)

    Both outputs carry the provenance of the job ``trend`` and are computed in one pass (the
    kernel runs once per chunk).  ``where`` (``run_on``) computes them (chunks from its memory
    budget, or its ``chunks``); without it, dask's local threads within ``memory_mb`` (default
    ``scheduler.DEFAULT_MEMORY_MB``).  An output without any slope (no pixel with ``min_valid``
    valid time steps) is an InputError and nothing is written.  Returns a summary dict (the job's
    options, ``output``, ``classes``)."""
    with here(where, memory_mb) as where:
        da = open_cube(input, variable, dates, what="input")
        ds = trend(da, variant=variant, alpha=alpha, min_valid=min_valid, slope_per=slope_unit,
                   aggregate=aggregate, where=where)
        options, label = ds.attrs["options"], _label(da)
        n = len(tested_dates(dates_of(da), aggregate))
        tested = f"{n} {'annual values' if aggregate else 'time steps'}"

        def reason(most):
            return (f"no pixel has the minimum number of valid time steps ({int(min_valid)} of the {tested}); "
                    f"the most valid ones in a pixel are {most}")

        data = rechunk(da, TREND_BYTES_PER_STEP * da.sizes["time"] + TREND_BYTES_FIXED, where).data
        outputs = [Output(ds[list(TREND_BANDS)], output, band_metadata=ds.attrs["band_metadata"],
                          why_empty=_why_empty(data, where, dates_of(da), aggregate, label, reason),
                          value_bands=[TREND_BANDS.index("slope")])]
        if classes:
            outputs.append(Output(ds["trend_class"], classes, classes=TREND_CLASSES, nodata=0, dtype="Byte"))
        write_outputs(outputs, where, "trend", options, {"input": label}, progress=progress)
    return {**options, "output": output, "classes": classes}


def detrend_files(input, output, variable=None, dates=None, method="linear", keep_mean=False, memory_mb=None,
                  where=None, progress=None):
    """File to file, as the QGIS algorithm ``ecoresp:detrend`` (keywords = its parameters in lower case):

    input: the time series: GeoTIFF/VRT with one dated band per time step, NetCDF, or a .zarr store
    variable: the variable of a multi-variable NetCDF file or Zarr store
    dates: dates override: a list, or start/step such as 1981-01/P1M
    output: the detrended series (.tif, .nc or .zarr), same dates (bands YYYY-MM-DD) and units
    method: linear, seasonal (anomalies from the mean seasonal cycle) or seasonal_linear
    keep_mean: add each pixel's mean back

    The output carries the provenance of the job ``detrend``; ``where`` and ``memory_mb`` as
    :func:`trend_files`.  Returns a summary dict (the job's options and ``output``)."""
    with here(where, memory_mb) as where:
        da = open_cube(input, variable, dates, what="input")
        out = detrend(da, method=method, keep_mean=keep_mean, where=where)
        label, need = _label(da), 2 if "linear" in method else 1

        def reason(most):
            return (f"no pixel has the {need} valid time steps that {method} detrending needs; the most valid ones "
                    f"in a pixel are {most}")

        data = rechunk(da, DETREND_BYTES_PER_STEP * da.sizes["time"], where).data
        options = out.attrs["options"]
        write_outputs([Output(out, output, why_empty=_why_empty(data, where, None, None, label, reason))], where,
                      "detrend", options, {"input": label}, progress=progress)
    return {**options, "output": output}
