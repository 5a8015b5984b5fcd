"""Partial correlation and random-forest attribution on cubes (docs/methods.md section 15):
the kernels of the QGIS jobs (``jobs.attribution.partialcorr_raster`` and ``rf_raster``) applied
chunk by chunk to dask-backed xarray cubes, on dask's local scheduler or a dask.distributed cluster.

Every chunk holds the whole time axis of a block of pixels and goes through exactly what a row
block of the QGIS job goes through: ``attribution.partialcorr.prepare_series`` (annual sums/means
or monthly anomalies, common valid steps, detrending), then ``partialcorr.partial_correlation``
or ``attribution.rfattribution.rf_importance``.  The kernels are per pixel, and the random
numbers of the forests are keyed by the pixel's global position in the cube (``row * width +
col``, as the QGIS job numbers them), so the numbers do not depend on the chunking or on where
the chunks are computed: the tests check them bit for bit against the QGIS job.

- :func:`partial_correlation`, :func:`rf_attribution`: cubes in, a lazy ``xarray.Dataset`` out;
- :func:`partialcorrelation_files`, :func:`rfattribution_files`: files in, files out (the
  command line's ``partialcorrelation`` and ``rfattribution``; keyword names are the Processing
  parameters of ecoresp:partialcorrelation and ecoresp:rfattribution in lower case).
"""

from __future__ import annotations

import functools
import json
import os
from types import SimpleNamespace

import numpy as np

from ..attribution import partialcorr as pc
from ..attribution import rfattribution as rfa
from ..errors import InputError
from ..jobs.attribution import check_inputs, driver_classes
from .files import Output, as_cube, dates_of, grid_of, open_cube, write_outputs
from .scheduler import here, rechunk, sizing

DIMS = ("time", "y", "x")


# -- inputs -------------------------------------------------------------------------------------
def _series_dims(da, what):
    """``da`` with dims ("time", "y", "x") (``files.as_cube``); InputError naming ``what``."""
    return as_cube(da, what)


def _as_series(da, what):
    """A stand-in for ``io.series.RasterSeries`` (grid, count, dates, label) of a cube, so that the
    QGIS job's ``check_inputs`` checks cubes with the same rules and messages."""
    label = da.attrs.get("label") or (f"{what} ({da.name})" if da.name is not None else what)
    try:
        dates = dates_of(da)
    except (KeyError, AttributeError, TypeError) as exc:
        raise InputError(f"{label}: has no time coordinate of dates ({exc})") from None
    return SimpleNamespace(grid=grid_of(da), count=int(da.sizes["time"]), dates=dates, label=label)


def _inputs(er, drivers, names):
    """(er, [drivers], names): cubes in (time, y, x) order, drivers in ``names`` order."""
    if isinstance(drivers, dict):
        if names is None:
            names = list(drivers)
        names = [str(n) for n in names]
        missing = [n for n in names if n not in drivers]
        if missing or len(names) != len(drivers):
            raise InputError(f"names: {', '.join(names)} do not name the drivers {', '.join(map(str, drivers))}")
        layers = [drivers[n] for n in names]
    else:
        layers = list(drivers)
        if names is None:
            names = [str(d.name) for d in layers]
    er = _series_dims(er, "ER")
    layers = [_series_dims(d, f"driver {n}") for n, d in zip(names, layers)]
    return er, layers, [str(n) for n in names]


def _chunked(er, layers, bytes_per_pixel, where, keep):
    """Dask arrays of ER and the drivers with the same chunks: the whole time axis, space chunked
    by the memory budget of ``where`` (or as the caller chunked ER, with ``keep``)."""
    er = rechunk(er, bytes_per_pixel, where, keep=keep)
    spec = dict(zip(er.dims, er.chunks))
    return er, [d.chunk(spec) for d in layers]


def _preparation(er, layers, names, mode, detrend, min_valid):
    """The QGIS job's checks of the inputs (``check_inputs``); returns (steps after preparation,
    dates of ER)."""
    src = _as_series(er, "ER")
    n_steps = check_inputs(src, [_as_series(d, f"driver {n}") for n, d in zip(names, layers)], names, mode,
                           detrend, min_valid, min_valid_what="min_valid")
    return n_steps, src.dates


def _dataset(blocks, er, variables, dtypes, attrs):
    """An ``xarray.Dataset`` of the (k, y, x) dask array ``blocks``: one variable per band."""
    import xarray as xr

    keep = {k: er.attrs[k] for k in ("grid", "crs_wkt", "geotransform") if k in er.attrs}
    coords = {"y": er["y"], "x": er["x"]}
    data = {}
    for i, (name, dtype) in enumerate(zip(variables, dtypes)):
        arr = blocks[i]
        if np.dtype(dtype) != arr.dtype:
            arr = arr.astype(dtype)
        data[name] = xr.DataArray(arr, dims=("y", "x"), coords=coords, name=name, attrs=dict(keep))
    return xr.Dataset(data, coords=coords, attrs={**keep, **attrs})


def _map(kernel, er, layers, n_out):
    """``kernel(er_block, [driver blocks], (row0, col0))`` -> (n_out, rows, cols) float64 over the
    chunks of ``er`` and ``layers`` (same chunks, whole time axis)."""
    import dask.array as dsa

    def block(e, *ds, block_info=None):
        loc = block_info[0]["array-location"]
        return kernel(e, list(ds), (loc[1][0], loc[2][0]))

    return dsa.map_blocks(block, er.data, *[d.data for d in layers], dtype="float64",
                          chunks=((n_out,),) + er.data.chunks[1:], meta=np.empty((0, 0, 0), "float64"))


# -- partial correlation --------------------------------------------------------------------------
def _pc_block(er, drivers, origin, dates, names, mode, detrend, aggs, alpha, min_valid):
    """One chunk, as a row block of ``jobs.attribution.partialcorr_raster``: (2m + 3, rows, cols) =
    r and p per driver, n_valid (NaN where not computed), dominant driver code, its r."""
    e, drv, _ = pc.prepare_series(er, drivers, dates, names, mode, detrend, aggs)
    res = pc.partial_correlation(e, drv, alpha=alpha, min_valid=min_valid)
    dom = res["dominant"]
    m = len(names)
    out = np.empty((2 * m + 3,) + dom.shape)
    out[0:2 * m:2] = res["r"]
    out[1:2 * m:2] = res["p"]
    out[2 * m] = np.where(dom != pc.NODATA, res["n_valid"], np.nan)
    out[2 * m + 1] = dom
    out[2 * m + 2] = res["dominant_r"]
    return out


def partial_correlation(er, drivers, *, names=None, mode="annual", detrend="linear", aggregations=None,
                        alpha=0.05, min_valid=10, where=None, keep_chunks=False):
    """Per-pixel partial correlation of detrended ER with each driver given the others, and the
    dominant driver, as ``jobs.attribution.partialcorr_raster`` computes them.

    ``er``: ER cube (time, y, x); ``drivers``: {name: cube} on the same grid and dates (or a list,
    with ``names``); ``names``: the driver order (default: the dict's).  ``mode`` 'annual' |
    'monthly' | 'asis', ``detrend`` 'linear' | 'diff' | 'none', ``aggregations`` {name: 'sum' |
    'mean'} overrides of the annual aggregation, ``alpha`` significance level, ``min_valid``
    minimum valid time steps (years) per pixel.  ``where`` (``scheduler.run_on``) sizes the chunks
    (default: the local scheduler's budget); ``keep_chunks`` keeps ER's spatial chunks.

    Returns a lazy Dataset (y, x): ``r_<driver>`` (partial correlation, -1..1), ``p_<driver>``
    (two-sided p-value) for each driver, ``n_valid`` (time steps used; NaN where not computed) --
    the bands of the QGIS job's output, in its order -- then ``dominant_driver`` (uint8: 0 none,
    1..m the drivers in order, 255 not computed) and ``dominant_r`` (signed r of the dominant
    driver).  attrs: ``drivers``, ``output_bands`` (the main output's variables), ``options``."""
    if not 0 < alpha < 1:
        raise InputError(f"alpha: the significance level must be between 0 and 1 (got {alpha})")
    er, layers, names = _inputs(er, drivers, names)
    n_steps, dates = _preparation(er, layers, names, mode, detrend, min_valid)
    aggs = pc.aggregations_for(names, aggregations) if mode == "annual" else None
    where = sizing(where)
    m = len(names)
    per_pixel = 8 * er.sizes["time"] * (m + 1) * 6 + 8 * (m + 1) ** 2 * 4  # as the QGIS job
    er_c, layers_c = _chunked(er, layers, per_pixel, where, keep_chunks)
    kernel = functools.partial(_pc_block, dates=dates, names=names, mode=mode, detrend=detrend, aggs=aggs,
                               alpha=float(alpha), min_valid=int(min_valid))
    blocks = _map(kernel, er_c, layers_c, 2 * m + 3)
    bands = [b for n in names for b in (f"r_{n}", f"p_{n}")] + ["n_valid"]
    options = dict(method="partial correlation (OLS residuals / precision matrix)", mode=mode, detrend=detrend,
                   alpha=float(alpha), min_valid=int(min_valid), drivers=names, annual_aggregation=aggs,
                   er_aggregation="sum" if mode == "annual" else None, steps_after_preparation=n_steps,
                   df="n - 2 - k, k = number of drivers - 1")
    return _dataset(blocks, er, bands + ["dominant_driver", "dominant_r"],
                    ["float64"] * len(bands) + ["uint8", "float64"],
                    {"drivers": names, "output_bands": bands, "options": options})


# -- random forest ------------------------------------------------------------------------------
def _rf_block(er, drivers, origin, width, dates, names, mode, detrend, aggs, forest_mb, **forest):
    """One chunk, as a row block of ``jobs.attribution.rf_raster``, with the pixels' global ids
    (row * width + col): (2m + 1, rows, cols) = relative importances, raw importances, dominant."""
    e, drv, _ = pc.prepare_series(er, drivers, dates, names, mode, detrend, aggs)
    rows, cols = e.shape[1:]
    ids = (origin[0] + np.arange(rows))[:, None] * width + (origin[1] + np.arange(cols))[None, :]
    res = rfa.rf_importance(e, drv, pixel_ids=ids, budget_mb=forest_mb, **forest)
    return np.concatenate([res["relative"], res["importance"], res["dominant"][None].astype("float64")])


def rf_attribution(er, drivers, *, names=None, mode="annual", detrend="linear", aggregations=None,
                   n_trees=rfa.DEFAULT_TREES, max_depth=rfa.DEFAULT_DEPTH, min_samples_leaf=1, max_features=1.0,
                   importance="oob", n_repeats=5, seed=42, min_valid=10, where=None, keep_chunks=False):
    """Exploratory per-pixel random-forest permutation importance of the drivers of ER, as
    ``jobs.attribution.rf_raster`` computes it (``attribution.rfattribution.rf_importance``).

    Inputs and preparation as :func:`partial_correlation`.  Forest: ``n_trees`` trees of depth up
    to ``max_depth`` (1..16), ``min_samples_leaf``, ``max_features`` (share of the drivers tried
    at each split, (0, 1]), ``importance`` 'oob' | 'train' (``n_repeats`` permutations for
    'train'), ``seed``.  Random numbers are keyed by ``seed`` and the pixel's position in the cube
    (row * width + col), so the result does not depend on the chunking.

    The forests of a chunk get at most half the chunk budget of ``where`` (and at most
    ``rfattribution.FOREST_MB_MAX``); InputError naming memory_mb when one pixel's forest does not
    fit (``rfattribution.check_memory``).

    Returns a lazy Dataset (y, x): ``rel_<driver>`` (relative importance, 0..1, sums to 1) and
    ``imp_<driver>`` (MSE increase in units of ER's variance) -- the bands of the QGIS job's
    output, in its order -- then ``dominant_driver`` (uint8: 0 none, 1..m, 255 not computed)."""
    rfa.check_options(n_trees, max_depth, min_samples_leaf, max_features, importance, n_repeats)
    er, layers, names = _inputs(er, drivers, names)
    n_steps, dates = _preparation(er, layers, names, mode, detrend, min_valid)
    aggs = pc.aggregations_for(names, aggregations) if mode == "annual" else None
    where = sizing(where)
    m = len(names)
    forest_mb = min(rfa.FOREST_MB_MAX, where.chunk_budget_mb() / 2)
    draw = max(1, int(round(float(max_features) * m))) < m
    try:
        rfa.check_memory(n_trees, max_depth, n_steps, m, forest_mb, draw)
    except InputError as exc:
        raise InputError(f"memory_mb: {exc} (the forests of a chunk get half of the chunk budget, "
                         f"{forest_mb:.0f} MB of memory_mb {where.memory_mb:g} MB)") from None
    per_pixel = 2 * 8 * er.sizes["time"] * (m + 1) * 4  # the QGIS job's, in half the chunk budget
    er_c, layers_c = _chunked(er, layers, per_pixel, where, keep_chunks)
    forest = dict(n_trees=int(n_trees), max_depth=int(max_depth), min_samples_leaf=int(min_samples_leaf),
                  max_features=float(max_features), importance=importance, n_repeats=int(n_repeats),
                  seed=int(seed), min_valid=int(min_valid))
    kernel = functools.partial(_rf_block, width=int(er.sizes["x"]), dates=dates, names=names, mode=mode,
                               detrend=detrend, aggs=aggs, forest_mb=forest_mb, **forest)
    blocks = _map(kernel, er_c, layers_c, 2 * m + 1)
    bands = [f"rel_{n}" for n in names] + [f"imp_{n}" for n in names]
    options = dict(method="random forest, permutation importance (EXPLORATORY)", mode=mode, detrend=detrend,
                   drivers=names, annual_aggregation=aggs, steps_after_preparation=n_steps, **forest)
    return _dataset(blocks, er, bands + ["dominant_driver"], ["float64"] * len(bands) + ["uint8"],
                    {"drivers": names, "output_bands": bands, "options": options})


# -- files --------------------------------------------------------------------------------------
def _open_inputs(input, drivers, variable, dates):
    if not isinstance(drivers, dict) or len(drivers) < 2:
        raise InputError(f"drivers: give at least 2 driver series as name=file (got {len(drivers or {})})")
    er = open_cube(input, variable, dates, what="input")
    layers = {str(n): open_cube(p, None, dates, what=f"drivers: {n}") for n, p in drivers.items()}
    return er, layers


def _check_output(path, what):
    if not path:
        raise InputError(f"{what}: give an output file (.tif, .nc or .zarr)")
    parent = os.path.dirname(os.path.abspath(str(path)))
    if not os.path.isdir(parent):
        raise InputError(f"{what}: {path}: the folder {parent} does not exist")
    return str(path)


def _write(ds, where, algorithm, options, inputs, output, dominant, dominant_r=None, value_bands=None):
    """The outputs of a Dataset of :func:`partial_correlation` or :func:`rf_attribution`, as the
    QGIS jobs write them, computed together and written all or none (``files.write_outputs``): the
    main output (``output_bands``), the categorical dominant driver (Byte, 255 nodata, colour table
    and style naming the drivers), and optionally its r.  As in the jobs, a run in which no pixel
    could be computed (no value in ``value_bands`` of the main output) is an InputError."""
    names = ds.attrs["drivers"]

    def why_empty():
        return (f"no pixel has {max(int(options.get('min_valid', 0)), len(names) + 2)} time steps where ER "
                "and every driver are valid")

    outs = [Output(ds[ds.attrs["output_bands"]], output, why_empty=why_empty, value_bands=value_bands)]
    if dominant:
        outs.append(Output(ds[["dominant_driver"]], dominant, classes=driver_classes(names), nodata=pc.NODATA,
                           dtype="Byte", band_metadata=[{"DRIVERS": json.dumps(list(names))}]))
    if dominant_r:
        outs.append(Output(ds[["dominant_r"]], dominant_r,
                           band_metadata=[{"quantity": "signed r_p of the dominant driver"}]))
    write_outputs(outs, where, algorithm, options, inputs)
    return {"output": output, "dominant": dominant, "dominant_r": dominant_r}


def _run(where, memory_mb, work):
    with here(where, memory_mb) as w:
        return work(w)


def partialcorrelation_files(input, drivers, output, dominant=None, dominant_r=None, variable=None, dates=None,
                             mode="annual", detrend="linear", aggregation=None, min_valid=10, alpha=0.05,
                             memory_mb=None, where=None):
    """ecoresp:partialcorrelation from files to files: ER ``input`` (``variable`` of a NetCDF),
    ``drivers`` {name: file} on its grid and dates (``dates``: a dates override for all of them),
    ``output`` r/p/n_valid bands, ``dominant`` the dominant driver, ``dominant_r`` its r
    (.tif, .nc or .zarr).  ``aggregation``: {name: 'sum' | 'mean'}.  ``where`` (``run_on``), else
    the local scheduler within ``memory_mb`` (MB).  Returns the paths written."""
    output = _check_output(output, "output")
    dominant = _check_output(dominant, "dominant") if dominant else None
    dominant_r = _check_output(dominant_r, "dominant_r") if dominant_r else None
    er, layers = _open_inputs(input, drivers, variable, dates)

    def work(here):
        ds = partial_correlation(er, layers, mode=mode, detrend=detrend, aggregations=aggregation, alpha=alpha,
                                 min_valid=min_valid, where=here)
        inputs = {"er": er.attrs.get("label"), "drivers": {n: d.attrs.get("label") for n, d in layers.items()}}
        return _write(ds, here, "partialcorrelation", ds.attrs["options"], inputs, output, dominant, dominant_r,
                      value_bands=[len(ds.attrs["output_bands"]) - 1])  # n_valid: set where computed

    return _run(where, memory_mb, work)


def rfattribution_files(input, drivers, output, dominant=None, variable=None, dates=None, mode="annual",
                        detrend="linear", aggregation=None, min_valid=10, n_trees=rfa.DEFAULT_TREES,
                        max_depth=rfa.DEFAULT_DEPTH, min_samples_leaf=1, max_features=1.0, importance="oob",
                        seed=42, memory_mb=None, where=None):
    """ecoresp:rfattribution from files to files: inputs as :func:`partialcorrelation_files`;
    ``output`` the rel_/imp_ bands, ``dominant`` the most important driver; forest options as
    :func:`rf_attribution`.  Returns the paths written."""
    output = _check_output(output, "output")
    dominant = _check_output(dominant, "dominant") if dominant else None
    er, layers = _open_inputs(input, drivers, variable, dates)

    def work(here):
        ds = rf_attribution(er, layers, mode=mode, detrend=detrend, aggregations=aggregation, n_trees=n_trees,
                            max_depth=max_depth, min_samples_leaf=min_samples_leaf, max_features=max_features,
                            importance=importance, seed=seed, min_valid=min_valid, where=here)
        inputs = {"er": er.attrs.get("label"), "drivers": {n: d.attrs.get("label") for n, d in layers.items()}}
        return _write(ds, here, "rfattribution", ds.attrs["options"], inputs, output, dominant)

    return _run(where, memory_mb, work)
