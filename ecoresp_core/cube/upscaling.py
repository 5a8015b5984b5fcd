"""The upscaling steps on cubes: monthly ER predicted by a fitted model from driver cubes, and
annual totals (Pg C yr-1) of a monthly ER cube, on dask (local threads or a dask.distributed
cluster), with the numbers of the QGIS algorithms.

- :func:`predict`: every chunk runs the code of the QGIS job (``jobs.predict.predict_rasters``):
  the same float32 drivers, ``upscaling.predict.LeftOut`` for what is left out, and
  ``model.predict_encoded``, which computes each pixel-month alone (trees summed in tree order, the
  network without BLAS).  Predictions and the share of months outside the training range are
  bit for bit those of the QGIS job, whatever the chunking; the counts of what is left out are
  integers summed over chunks (the same counts).
- :func:`integrate`: each grid row is summed whole (``upscaling.integrate.row_sums``, the kernel
  of the QGIS job) where its chunk is computed, and the rows are added in row order on the client
  (``upscaling.integrate.Integrator``), as the QGIS job adds them: totals in Pg C yr-1 and every
  other number of the rows are bit for bit those of ``jobs.integrate.integrate_raster``, whatever
  the chunking or the cluster.
- :func:`predict_files` and :func:`integrate_files`: the same from and to files, keyword names as
  the Processing parameters of ``ecoresp:predictupscaler`` and ``ecoresp:integrate`` in lower case.
"""

from __future__ import annotations

import copy
import os
import uuid
from collections import Counter

import numpy as np

from ..common.timeaxis import time_step
from ..errors import InputError
from ..io.series import split_source
from ..jobs.integrate import check_lat_lon_grid, land_fraction_values, zone_values
from ..jobs.predict import predict_valid
from ..upscaling import integrate as _integrate
from ..upscaling.predict import LeftOut, as_model, read_category_mapping
from .files import Output, as_cube, dates_of, grid_of, open_cube, open_static, write_outputs
from .scheduler import chunk_pixels, here, rechunk

SHARE = "outside_share"  # the variable (and band) of the share of months outside the training range
COUNTS = ("considered", "predicted", "left_out_range", "outside")


# -- prediction --------------------------------------------------------------------------------

def _check_drivers(model, drivers, land_mask):
    """(series names, reference series, dates): InputError naming ``drivers`` when the names are
    not the model's features, the grids differ, no driver is a time series or the dates differ."""
    names = list(drivers)
    missing = [f for f in model.features if f not in drivers]
    extra = [n for n in names if n not in model.features]
    if missing or extra:
        parts = ([f"no driver for feature(s) {', '.join(missing)}"] if missing else []) + \
            ([f"driver(s) {', '.join(extra)} not used by the model"] if extra else [])
        raise InputError("drivers: they do not match the model: " + "; ".join(parts) +
                         f" (model features, in order: {', '.join(model.features)}; drivers given: "
                         f"{', '.join(names) or 'none'})")
    series = [n for n in names if "time" in drivers[n].dims]
    if not series:
        raise InputError("drivers: at least one driver must be a time series (one band per month)")
    ref = drivers[series[0]]
    shape = (ref.sizes["y"], ref.sizes["x"])
    for n, d in list(drivers.items()) + ([("land_mask", land_mask)] if land_mask is not None else []):
        if (d.sizes["y"], d.sizes["x"]) != shape:
            raise InputError(f"drivers: {n} ({d.attrs.get('label', d.name)}) has {d.sizes['y']} x {d.sizes['x']} "
                             f"cells, {series[0]} ({ref.attrs.get('label', ref.name)}) {shape[0]} x {shape[1]}")
    dates = dates_of(ref)
    for n in series[1:]:
        other = dates_of(drivers[n])
        if other != dates:
            if len(other) != len(dates):
                detail = f"{len(dates)} and {len(other)} time steps"
            else:
                i = next(k for k, (a, b) in enumerate(zip(dates, other)) if a != b)
                detail = f"time step {i + 1} is {dates[i]} and {other[i]}"
            raise InputError(f"drivers: {series[0]} and {n} differ in dates: {detail}")
    return series, ref, dates


def _state(acc):
    """What a chunk's LeftOut counted, as plain data (sent back from a worker without the model)."""
    return {"considered": acc.considered, "predicted": acc.predicted, "left_out_range": acc.left_out_range,
            "outside": acc.outside, "missing": dict(acc.missing),
            "unknown": {f: dict(c) for f, c in acc.unknown.items()},
            "below": dict(acc.below), "above": dict(acc.above), "extremes": dict(acc.extremes)}


def _merge(acc, state):
    """Add a chunk's counts (:func:`_state`) to ``acc`` (a LeftOut)."""
    for k in COUNTS:
        setattr(acc, k, getattr(acc, k) + state[k])
    acc.missing.update(Counter(state["missing"]))
    for f, c in state["unknown"].items():
        acc.unknown[f].update(Counter(c))
    acc.below.update(Counter(state["below"]))
    acc.above.update(Counter(state["above"]))
    for f, (lo, hi) in state["extremes"].items():
        e = acc.extremes.get(f, [np.inf, -np.inf])
        acc.extremes[f] = [min(e[0], lo), max(e[1], hi)]


def _predict_chunk(model, modes, series, nt, with_prediction, land, *arrays):
    """The QGIS job's ``work`` (``jobs.predict.predict_rasters``) on one chunk: (prediction
    float32 (t, rows, cols) or None, outside share float32 (rows, cols), counts, pixel-months with
    a value per driver).  ``arrays``: the drivers in the model's feature order, (t, rows, cols)
    or static (rows, cols); ``land``: the land mask's values (rows, cols) or None."""
    acc = LeftOut(model, "pixel-months", *modes)
    rows, cols_ = arrays[0].shape[-2:]
    shape = (nt, rows, cols_)
    cols, with_value = {}, {}
    for f, a in zip(model.features, arrays):
        a = np.asarray(a)
        if f in series:
            cols[f] = a if a.dtype == np.float32 else a.astype(np.float32)
        else:  # the job reads a static layer as float64 and casts it
            cols[f] = np.broadcast_to(a.astype(np.float64).astype(np.float32)[None], shape)
        with_value[f] = int(np.count_nonzero(np.isfinite(cols[f])))
    if land is not None:
        lm = np.asarray(land, dtype=np.float64)
        considered = np.broadcast_to((np.isfinite(lm) & (lm != 0))[None], shape)
    else:
        considered = np.zeros(shape, dtype=bool)
        for f in series:
            considered |= np.isfinite(cols[f])
    valid = acc.count_missing(cols, considered)
    n = int(valid.sum())
    pred, share, _, _ = predict_valid(model, acc, cols, valid, with_prediction)
    return pred, share, {"counts": _state(acc), "with_value": with_value, "every_driver": n}


def _aligned(model, drivers, land_mask, series, ref, nt, where, keep_chunks):
    """The drivers (feature order) and land mask chunked alike: time whole, space as the budget
    of ``where`` allows (or, with ``keep_chunks``, as the first time-series driver is chunked)."""
    n_enc = len(model.encoded_features)
    per_pixel = nt * (4 * len(series) + 12 * n_enc + 26) * 1.5  # as the QGIS job budgets a cell
    ref = rechunk(ref.transpose("time", "y", "x"), per_pixel, where, keep=keep_chunks)
    spec = {"y": ref.chunks[1], "x": ref.chunks[2]}
    out = []
    for f in model.features:
        d = drivers[f]
        if "time" in d.dims:
            out.append(d.transpose("time", "y", "x").chunk(dict(spec, time=-1)))
        else:
            out.append(d.transpose("y", "x").chunk(spec))
    land = None if land_mask is None else land_mask.transpose("y", "x").chunk(spec)
    return out, land, spec


def _chunk_tasks(model, drivers, land_mask, modes, with_prediction, where, keep_chunks):
    """(tasks [i][j] of ``_predict_chunk`` as dask.delayed, y chunks, x chunks, reference cube, dates)."""
    import dask

    drivers = {n: as_cube(d, f"driver {n}", static="time" not in d.dims) for n, d in drivers.items()}
    land_mask = None if land_mask is None else as_cube(land_mask, "land_mask", static=True)
    series, ref, dates = _check_drivers(model, drivers, land_mask)
    nt = len(dates)
    arrays, land, spec = _aligned(model, drivers, land_mask, series, ref, nt, where, keep_chunks)
    work = copy.copy(model)
    work.n_threads = 1  # dask's threads or workers share the chunks; the numbers do not depend on it
    model_d = dask.delayed(work, name=f"upscaling-model-{uuid.uuid4().hex}", traverse=False)
    blocks = [a.data.to_delayed() for a in arrays]
    land_blocks = None if land is None else land.data.to_delayed()
    kernel = dask.delayed(_predict_chunk, pure=True, nout=3)
    tasks = [[kernel(model_d, modes, tuple(series), nt, with_prediction,
                     None if land_blocks is None else land_blocks[i, j],
                     *[b[0, i, j] if b.ndim == 3 else b[i, j] for b in blocks])
              for j in range(len(spec["x"]))] for i in range(len(spec["y"]))]
    return tasks, spec, ref, dates


def left_out(model, drivers, *, unknown="leave_out", out_of_range="flag", mappings=None, land_mask=None,
             where=None, keep_chunks=False, labels=None):
    """The counts of what a prediction leaves out or flags (``upscaling.predict.LeftOut``, unit
    pixel-months), computed chunk by chunk without predicting (the drivers are read and encoded):
    the counts of ``jobs.predict.predict_rasters`` on the same inputs.  InputError (naming the
    driver) when a driver has no value in any pixel-month, and for the refuse modes (as the job,
    before anything is predicted).  Arguments as :func:`predict`; ``labels`` as LeftOut's."""
    model = as_model(model)
    acc = LeftOut(model, "pixel-months", unknown, out_of_range, mappings, labels=labels)
    modes = (acc.unknown_mode, acc.range_mode, acc.mappings)
    with here(where) as w:
        tasks, _, _, _ = _chunk_tasks(model, drivers, land_mask, modes, False, w, keep_chunks)
        states = w.compute(*[t[2] for row in tasks for t in row])
    with_value = Counter()
    acc.every_driver = 0  # considered pixel-months with every driver given
    for s in states:  # in chunk order, row after row
        _merge(acc, s["counts"])
        with_value.update(s["with_value"])
        acc.every_driver += s["every_driver"]
    for f in model.features:
        if with_value[f] == 0:
            raise InputError(f"driver {f} ({drivers[f].attrs.get('label', drivers[f].name)}): nodata in every "
                             "pixel and month; nothing can be predicted")
    acc.check_refuse()
    return acc


def predict(model, drivers, *, unknown="leave_out", out_of_range="flag", mappings=None, land_mask=None,
            where=None, keep_chunks=False, count=True, labels=None):
    """Monthly ER predicted by an upscaling model from driver cubes, lazily (dask), chunk by chunk.

    ``model``: an UpscalerModel or the path of a model file (``upscaling.predict.as_model``).
    ``drivers``: {feature name: DataArray} on one grid, ``("time", "y", "x")`` time series with the
    same dates, or ``("y", "x")`` static layers (e.g. land cover as integer codes); the names are
    the model's features.  ``unknown`` ('leave_out', 'map' with ``mappings`` {driver: {from: to}},
    'refuse'), ``out_of_range`` ('flag', 'leave_out', 'refuse') and ``land_mask`` (DataArray
    ``("y", "x")``, non-zero and finite = land; without it, the pixel-months where a time-series
    driver has a value are predicted) as ``jobs.predict.predict_rasters``.  ``where``
    (``scheduler.run_on``): the memory budget the chunks are sized for (time whole; space chunked
    by the budget, or as the first time-series driver is chunked with ``keep_chunks``), and where
    the counts are computed.

    Returns a Dataset: the model's target (e.g. ``RECO``, the name the model was fitted for; ``ER``
    if it has none) ``("time", "y", "x")`` float32 in the model's target unit (attrs ``units``),
    NaN where not predicted, and ``outside_share`` ``("y", "x")`` float32, the share of the
    predicted months with a numeric driver outside the training range (fraction of months).  Both
    lazy; bit for bit the QGIS job's outputs.  With ``count`` (default) the counts of what is left
    out are computed first (:func:`left_out`: one pass reading and encoding the drivers, with the
    job's InputErrors before anything is predicted) and kept in ``attrs['left_out']`` (a LeftOut)
    and ``attrs['left_out_json']`` (the job's ECORESP_LEFT_OUT)."""
    import dask.array as dsa
    import xarray as xr

    model = as_model(model)
    acc = LeftOut(model, "pixel-months", unknown, out_of_range, mappings, labels=labels)
    modes = (acc.unknown_mode, acc.range_mode, acc.mappings)
    with here(where) as w:
        if count:
            acc = left_out(model, drivers, unknown=unknown, out_of_range=out_of_range, mappings=mappings,
                           land_mask=land_mask, where=w, keep_chunks=keep_chunks, labels=labels)
        tasks, spec, ref, dates = _chunk_tasks(model, drivers, land_mask, modes, True, w, keep_chunks)
    nt = len(dates)
    pred = dsa.block([[[dsa.from_delayed(tasks[i][j][0], (nt, hy, wx), dtype=np.float32)
                        for j, wx in enumerate(spec["x"])] for i, hy in enumerate(spec["y"])]])
    share = dsa.block([[dsa.from_delayed(tasks[i][j][1], (hy, wx), dtype=np.float32)
                        for j, wx in enumerate(spec["x"])] for i, hy in enumerate(spec["y"])])
    name = str(model.meta.get("target") or "ER")
    unit = str(model.meta.get("target_unit") or "")
    grid = grid_of(ref)
    coords = {"time": ref["time"].values, "y": ref["y"].values, "x": ref["x"].values}
    base = {k: v for k, v in ref.attrs.items() if k in ("grid", "crs_wkt", "geotransform", "calendar")}
    er = xr.DataArray(pred, dims=("time", "y", "x"), coords=coords, name=name,
                      attrs=dict(base, grid=grid, units=unit, label=f"{name} predicted by the {model.kind} model"))
    sh = xr.DataArray(share, dims=("y", "x"), coords={"y": coords["y"], "x": coords["x"]}, name=SHARE,
                      attrs=dict(base, grid=grid, units="fraction of months",
                                 label="share of the predicted months with a driver outside the training range"))
    attrs = {"model_kind": model.kind, "features": list(model.features), "target": name, "units": unit}
    if count:
        attrs.update(left_out=acc, left_out_json=acc.json())
    return xr.Dataset({name: er, SHARE: sh}, attrs=attrs)


def _driver_sources(drivers, driver_names=None, driver_files=None):
    """{name: source} from ``drivers`` ({name: path} or a list of paths named by ``driver_names``,
    comma separated or a list, else by their file names) and ``driver_files`` ('name=source; ...'
    or {name: source}, sources as ``NETCDF:"file.nc":variable``)."""
    out = {}
    if isinstance(drivers, dict):
        out.update({str(k): str(v) for k, v in drivers.items()})
    elif drivers:
        paths = [drivers] if isinstance(drivers, (str, os.PathLike)) else list(drivers)
        names = driver_names.split(",") if isinstance(driver_names, str) else list(driver_names or [])
        names = [n.strip() for n in names if n.strip()]
        if names and len(names) != len(paths):
            raise InputError(f"driver_names: {len(names)} names for {len(paths)} driver rasters")
        for i, p in enumerate(paths):
            out[names[i] if names else os.path.splitext(os.path.basename(str(p)))[0]] = str(p)
    if isinstance(driver_files, dict):
        out.update({str(k): str(v) for k, v in driver_files.items()})
    elif driver_files:
        for part in str(driver_files).split(";"):
            if not part.strip():
                continue
            if "=" not in part:
                raise InputError(f"driver_files: {part.strip()!r} is not name=source")
            name, source = part.split("=", 1)
            out[name.strip()] = source.strip()
    if not out:
        raise InputError("drivers: give the driver rasters (drivers and/or driver_files)")
    return out


def _open_driver_cube(name, source):
    """A driver file as a cube (several bands or a time axis) or a static layer (one band)."""
    from ..jobs.inputs import StaticLayer, open_driver
    path, variable = split_source(source)
    if not os.path.exists(path):
        raise InputError(f"drivers: driver {name}: {path}: file not found")
    if path.rstrip("/").lower().endswith(".zarr"):
        return open_cube(source, what=f"driver {name}")
    if isinstance(open_driver(path, name, variable=variable), StaticLayer):
        return open_static(source, what=f"driver {name}")
    return open_cube(source, what=f"driver {name}")


def predict_files(model, drivers=None, output=None, *, driver_names=None, driver_files=None, land_mask=None,
                  unknown_categories="leave_out", category_mapping=None, out_of_range="flag", outside_share=None,
                  where=None):
    """:func:`predict` from files to files (``ecoresp:predictupscaler`` on rasters).

    ``model``: the model file (.npz); ``drivers``: {name: raster} or rasters named by
    ``driver_names``; ``driver_files``: 'name=source; ...'; ``land_mask``: a raster;
    ``category_mapping``: a CSV driver,from,to.  ``output``: monthly ER, ``.tif``/``.nc`` (one
    dated band per month) or ``.zarr`` (the Dataset: ER and ``outside_share``); ``outside_share``:
    an optional raster of the share.  The drivers are read twice: once to count what is left out
    (refusals before anything is written), once to predict.  Returns a summary dict (the job's
    keys: predicted, outside, skipped_invalid, months, first_date, last_date, outside_share,
    left_out, considered, n_left_out)."""
    if not output:
        raise InputError("output: give the monthly ER file to write (.tif, .nc or .zarr)")
    m = as_model(model)
    mappings = read_category_mapping(category_mapping, m, what="category_mapping") if category_mapping else None
    sources = _driver_sources(drivers, driver_names, driver_files)
    cubes = {n: _open_driver_cube(n, s) for n, s in sources.items()}
    mask = open_static(land_mask, what="land_mask") if land_mask else None
    with here(where) as w:
        ds = predict(m, cubes, unknown=unknown_categories, out_of_range=out_of_range, mappings=mappings,
                     land_mask=mask, where=w, labels={"unknown": "unknown_categories", "range": "out_of_range"})
        acc = ds.attrs["left_out"]
        name = ds.attrs["target"]
        options = {"model_kind": m.kind, "features": m.features, "unknown_categories": acc.unknown_mode,
                   "category_mappings": acc.mappings, "out_of_range": acc.range_mode, "drivers": list(cubes)}
        inputs = dict(sources, model=str(model) if isinstance(model, (str, os.PathLike)) else m.source)
        ds_out = ds.copy()
        ds_out.attrs = {}
        # ER and the share computed together (one pass), with the job's extra items, written all or none
        outs = [Output(ds_out if str(output).rstrip("/").lower().endswith(".zarr") else ds_out[name], str(output))]
        if outside_share:
            outs.append(Output(ds_out[SHARE], str(outside_share)))
        write_outputs(outs, w, "upscaling.predict", options, inputs, extra={
            "ECORESP_TARGET": f"{m.meta.get('target', '')} [{m.meta.get('target_unit', '')}]",
            "ECORESP_LEFT_OUT": acc.json()})
    dates = dates_of(ds[name])
    return {"predicted": acc.predicted, "outside": acc.outside, "skipped_invalid": acc.every_driver - acc.predicted,
            "months": len(dates),
            "first_date": f"{dates[0]:%Y-%m-%d}" if hasattr(dates[0], "strftime") else str(dates[0]),
            "last_date": f"{dates[-1]:%Y-%m-%d}" if hasattr(dates[-1], "strftime") else str(dates[-1]),
            "outside_share": acc.outside / acc.predicted if acc.predicted else float("nan"),
            "left_out": acc, "considered": acc.considered, "n_left_out": acc.left_out, "output": str(output)}


# -- integration -------------------------------------------------------------------------------

def integrate(er, *, unit="gC_m2_d", land_fraction=None, land_scale=1.0, zones=None, zone_type="categorical",
              zone_names=None, product="ER", where=None):
    """Annual totals (Pg C yr-1) of a monthly ER cube on a regular lat/lon grid, globally and per
    zone: the rows of ``jobs.integrate.integrate_raster``, bit for bit, whatever the chunking.

    ``er``: DataArray ``("time", "y", "x")`` in ``unit`` ('gC_m2_d', 'gC_m2_month', 'umol_m2_s');
    ``land_fraction``: DataArray ``("y", "x")`` times ``land_scale`` (0.01 for percent) in 0..1;
    ``zones``: DataArray ``("y", "x")`` of integer codes (``zone_type='categorical'``, names
    ``zone_names`` {code: name}) or mean annual temperature in degC (``'mat'``).  ``where``
    (``scheduler.run_on``): each chunk is a block of whole rows with every month (rows from the
    memory budget), reduced where it is computed to sums per row and year (small), which the client
    adds in row order.  Returns (totals rows, summary rows) as the QGIS job."""
    import dask

    er = as_cube(er)
    land_fraction = None if land_fraction is None else as_cube(land_fraction, "land_fraction", static=True)
    zones = None if zones is None else as_cube(zones, "zones", static=True)
    label = er.attrs.get("label") or er.name or "input"
    dates = dates_of(er)
    if time_step(dates) != "monthly":
        raise InputError(f"{label}: integration needs a regular monthly series")
    grid = grid_of(er)
    check_lat_lon_grid(grid, label)
    _integrate.check_zone_names(zone_names)
    land = None
    if land_fraction is not None:
        land = land_fraction_values(np.asarray(land_fraction.transpose("y", "x").values), land_scale,
                                    f"land_fraction {land_fraction.attrs.get('label', land_fraction.name)}",
                                    "land_scale")
    z, names = (None, None)
    if zones is not None:
        z, names = zone_values(np.asarray(zones.transpose("y", "x").values, dtype="float64"), zone_type, zone_names)
    integ = _integrate.Integrator(dates, grid.geotransform, grid.height, unit, land, z)
    if not any(integ.nmonths[int(y)] == 12 for y in integ.uyears):
        raise InputError(f"{label}: no complete calendar year (12 months) in the series")
    with here(where) as w:
        rows = max(1, min(grid.height, chunk_pixels(8 * 3 * len(dates), w) // max(grid.width, 1)))
        cube = er.transpose("time", "y", "x").chunk({"time": -1, "y": rows, "x": -1})
        blocks = cube.data.to_delayed()[0, :, 0]
        kernel = dask.delayed(_integrate.row_sums, pure=True)
        starts = np.concatenate([[0], np.cumsum(cube.chunks[1])])
        tasks = []
        for b, r0, r1 in zip(blocks, starts[:-1], starts[1:]):
            r0, r1 = int(r0), int(r1)
            tasks.append(kernel(b, integ.areas[r0:r1], integ.year_pos, len(integ.uyears), integ.months, integ.years,
                                unit, integ.calendar, None if land is None else land[r0:r1],
                                integ.zone_positions(r0, r1), len(integ.codes)))
        sums = w.compute(*tasks)
    for s, r0 in zip(sums, starts[:-1]):
        integ.add_sums(s, int(r0))
    if integ.valid == 0:
        raise InputError(f"{label}: every pixel is nodata in every band")
    out = integ.annual_totals()
    for r in out:
        r["zone_name"] = _integrate.zone_name(r["zone"], names)
        r["product"] = product
    return out, _integrate.totals_summary(out, product, names)


def integrate_files(input, output, *, unit="gC_m2_d", land_fraction=None, land_scale=1.0, zones=None,
                    zone_type="categorical", zone_names=None, product="ecoresp ER", summary=None, variable=None,
                    dates=None, where=None):
    """:func:`integrate` from files (``ecoresp:integrate``): ``input`` a monthly ER raster series
    (GeoTIFF, NetCDF ``variable``, Zarr; ``dates`` overrides its dates), ``land_fraction`` and
    ``zones`` rasters on its grid; writes the totals to ``output`` (CSV) and the comparison table
    to ``summary`` (CSV, optional).  Returns (totals rows, summary rows)."""
    import pandas as pd

    er = open_cube(input, variable=variable, dates=dates, what="input")
    grid = grid_of(er)
    lf = open_static(land_fraction, grid=grid, what="land_fraction") if land_fraction else None
    zn = open_static(zones, grid=grid, what="zones") if zones else None
    rows, summ = integrate(er, unit=unit, land_fraction=lf, land_scale=land_scale, zones=zn, zone_type=zone_type,
                           zone_names=zone_names, product=product, where=where)
    pd.DataFrame(rows).to_csv(output, index=False)
    if summary:
        pd.DataFrame(summ).to_csv(summary, index=False)
    return rows, summ
