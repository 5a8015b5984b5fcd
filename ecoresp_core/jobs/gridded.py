"""xarray entry points: the per-pixel time-series functions on ``xarray.DataArray``
objects, numpy- or dask-backed (dask arrays are processed chunk by chunk, so data larger
than memory works when the time axis is in one chunk)."""

import contextlib

import numpy as np

from ..common import detrend as _detrend
from ..trends.trend import TREND_BANDS, mann_kendall
from .parallel import Workers


def _require_xarray():
    import xarray as xr
    return xr


def trend_dataset(da, time_dim="time", n_threads=None, helpers=None, **options):
    """Mann-Kendall / Theil-Sen statistics of ``da`` along ``time_dim`` as an
    ``xarray.Dataset`` with one variable per name in TREND_BANDS.

    ``options`` as for ``trends.trend.mann_kendall``.  Each chunk (the whole array when numpy
    backed) is computed on its own ``Workers`` of ``n_threads`` lanes (default up to 2;
    ``helpers=False``: threads only), closed when the chunk is done, unless ``workers=`` gives
    one to share (then chunks must not run concurrently).  Dask-backed input stays lazy."""
    xr = _require_xarray()
    shared = options.pop("workers", None)

    def _stack(values):
        lanes = contextlib.nullcontext(shared) if shared is not None else Workers(n_threads, helpers=helpers)
        with lanes as workers:
            # apply_ufunc moves the core dim last; the core wants time first
            res = mann_kendall(np.moveaxis(values, -1, 0), workers=workers, **options)
        return np.stack([res[b] for b in TREND_BANDS], axis=-1)

    if getattr(da, "chunks", None):
        da = da.chunk({time_dim: -1})
    out = xr.apply_ufunc(
        _stack, da, input_core_dims=[[time_dim]], output_core_dims=[["statistic"]],
        dask="parallelized", output_dtypes=[np.float64],
        dask_gufunc_kwargs={"output_sizes": {"statistic": len(TREND_BANDS)}})
    return out.assign_coords(statistic=list(TREND_BANDS)).to_dataset(dim="statistic")


def detrend_dataarray(da, time_dim="time", method="linear", keep_mean=False):
    """``detrend.detrend`` along ``time_dim`` of ``da`` (numpy or dask); dates for the
    seasonal methods come from the time coordinate."""
    xr = _require_xarray()
    dates = None
    if method != "linear":
        dates = list(da[time_dim].to_index())

    def _run(values):
        return np.moveaxis(_detrend.detrend(np.moveaxis(values, -1, 0), dates, method, keep_mean), 0, -1)

    if getattr(da, "chunks", None):
        da = da.chunk({time_dim: -1})
    out = xr.apply_ufunc(_run, da, input_core_dims=[[time_dim]], output_core_dims=[[time_dim]],
                         dask="parallelized", output_dtypes=[np.float64])
    return out.transpose(*da.dims)
