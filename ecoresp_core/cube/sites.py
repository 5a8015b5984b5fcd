"""Batch site partitioning on dask: one task per site-year, and for raw files the u* bootstrap
replicates and the u* scenarios as tasks too, on dask's local threads or a dask.distributed cluster
(:func:`~ecoresp_core.cube.scheduler.run_on`).

The numbers are those of the QGIS algorithm ecoresp:partition (``algorithms/partition.py``), which
runs one tower file with :func:`~ecoresp_core.partitioning.sitepartition.partition_site`
(processed files) or :func:`~ecoresp_core.jobs.tower.raw_to_partitioned` (raw files): every task
calls the same kernels on the same records, and every random number comes from the seed and the
replicate number (u* bootstrap replicate ``b`` draws from child ``b - 1`` of
``numpy.random.SeedSequence(seed)``, model-evidence replicate ``i`` from ``(seed, i)``), never from
the task order, the chunking of the replicates or the worker.  Results are bit for bit those of the
serial path (tests/core/cube/test_cube_sites.py).

Graph of one processed file: read -> one ``partition_site`` per site-year -> the file's
SitePartition (the site-years joined as ``partition_site`` joins them).  Graph of one raw file:
read -> u* preparation -> the original estimate and the bootstrap replicates in chunks of
``boot_chunk`` -> the threshold table -> driver gap filling -> per u* scenario the NEE u* filter
and gap filling -> per scenario and site-year ``partition_site`` (the model evidence for the
median scenario only, as ``raw_to_partitioned``) -> the file's TowerChain.

The helper processes of the QGIS desktop (``jobs.parallel.Workers``) are never used here: the
model-evidence bootstrap of a site-year runs serially inside its task (``workers=None``; its
result does not depend on it).
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import InputError
from ..gapfilling.mds import MDSOptions
from ..io.atomic import check_output_folder, partial_path, remove_stale_partials, write_error
from ..io.towers import FORMATS, TowerData, as_tower, read_tower, split_years
from ..jobs import tower as chain
from ..partitioning import sitepartition as sp_mod
from ..partitioning.sitepartition import SitePartition, evidence_options, parse_methods, partition_site
from ..ustar import bootstrap as ub
from .scheduler import run_on

#: u* bootstrap replicates per task (the results do not depend on it)
BOOT_CHUNK = 10
RAW_CHOICES = ("off", "mpt", "cpd")  # algorithms/partition.py RAW_CHAIN: off, moving point test, change-point


@dataclass
class SiteYearResult:
    """One site-year of a batch: its half-hourly partitioned fluxes (``table``, index
    TIMESTAMP_START, fluxes in umol CO2 m-2 s-1) and its row of the annual summary (``summary``,
    annual sums in g C m-2 yr-1)."""
    source: str
    site_id: str | None
    year: int
    table: pd.DataFrame
    summary: pd.DataFrame


@dataclass
class BatchPartition:
    """Output of :func:`partition_sites`.

    ``site_years``: one :class:`SiteYearResult` per site-year, in source and year order;
    ``summary``: every site-year's summary row with ``source_file`` (the combined summary);
    ``partitions``: {source label: the file's SitePartition (processed) or TowerChain (raw)}, as
    the serial path gives it; ``sources``: the source labels in order."""
    site_years: list
    summary: pd.DataFrame
    partitions: dict = field(default_factory=dict)
    sources: list = field(default_factory=list)
    options: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# tasks (module-level functions of plain arguments: they run on any worker)

def _read(source, read_kwargs):
    """The TowerData of a source: a tower file read as ecoresp:partition reads it, or a
    TowerData / DataFrame given as is."""
    if isinstance(source, (str, os.PathLike)):
        return read_tower(os.fspath(source), **read_kwargs)
    return as_tower(source)


def _years(tower):
    return [y for y, _ in split_years(tower)]


def _site_year(tower, year):
    """The site-year ``year`` of ``tower`` exactly as ``split_years`` of the whole tower gives it
    (its ``complete_year`` and step come from the whole table)."""
    return dict(split_years(tower))[year]


def _failed_year(site_year, methods, options, fit_qc_only):
    """partition_site's output for a site-year on which every method failed (partition_site of that
    year alone raises; within a multi-year file the year gets NaN, QC 9 and its flags): the same
    loop body as partition_site, with the evidence, and the errors."""
    step_s = 86400.0 / float(site_year.site.records_per_day or 48)
    dfy = site_year.data
    year = site_year.site.year
    out = pd.DataFrame(index=dfy.index)
    for c in sp_mod.BASE_COLUMNS:
        if c in dfy:
            out[c] = dfy[c]
    out["IS_DAY"] = sp_mod.day_mask(dfy).astype("int8")
    code_results, results, errors = {}, {}, []
    for code in sp_mod.run_order(methods):
        ok = {c: r for c, r in code_results.items() if not isinstance(r, Exception)}
        res = sp_mod._run_one(code, site_year, options, ok, step_s, fit_qc_only)
        if isinstance(res, Exception):
            errors.append(f"{site_year.site.site_id or 'site'} {year} {code}: {res}")
        code_results[code] = results[(year, code)] = res
    for code in methods:
        out[f"RECO_{code}"] = np.nan
        out[f"GPP_{code}"] = np.nan
        out[f"QC_{code}"] = np.int16(9)
    for ref in sp_mod.REFERENCE_COLUMNS:
        if ref in dfy:
            out[ref] = dfy[ref]
    row = sp_mod._summary_row(site_year.site, site_year, {c: code_results[c] for c in methods}, step_s)
    ev_options = evidence_options(options.get("evidence"))
    models = tests = None
    if ev_options is not None:
        from ..common.progress import Progress
        ev = sp_mod._run_evidence(site_year, ev_options, Progress(None, None))
        if isinstance(ev, Exception):
            row["flags_EVIDENCE"] = f"failed: {ev}"
            row["EVIDENCE"] = f"model comparison failed: {ev}"
        else:
            row.update(ev.summary)
            models = sp_mod.evidence_table(ev.models, site_year.site.site_id, year)
            tests = sp_mod.evidence_table(ev.tests, site_year.site.site_id, year)
    part = SitePartition(table=out, summary=pd.DataFrame([row]), results=results, methods=methods,
                         options={"methods": list(methods), **options}, windows=pd.DataFrame(),
                         evidence=models, evidence_tests=tests)
    return part, errors


def _partition_year(tower, year, methods, options, fit_qc_only):
    """(SitePartition of one site-year, errors): partition_site on the site-year, as in the file."""
    site_year = _site_year(tower, year)
    try:
        return partition_site(site_year, methods, options=options, fit_qc_only=fit_qc_only, workers=None), []
    except InputError as exc:
        if not str(exc).startswith("no method could be fitted"):
            raise
        return _failed_year(site_year, methods, options, fit_qc_only)


def _concat(frames, **kw):
    frames = [f for f in frames if f is not None and len(f.columns)]
    return pd.concat(frames, **kw) if frames else None


def _join_years(parts):
    """One file's SitePartition from its site-years' (as partition_site joins them); InputError
    when every method failed in every year (as partition_site)."""
    sps = [p for p, _ in parts]
    errors = [e for _, e in parts]
    if all(errors):
        raise InputError("no method could be fitted: " + " | ".join(m for e in errors for m in e))
    results = {}
    for p in sps:
        results.update(p.results)
    windows = _concat([p.windows for p in sps], ignore_index=True)
    return SitePartition(table=pd.concat([p.table for p in sps]),
                         summary=pd.concat([p.summary for p in sps], ignore_index=True),
                         results=results, methods=sps[0].methods, options=sps[0].options,
                         windows=windows if windows is not None else pd.DataFrame(),
                         evidence=_concat([p.evidence for p in sps], ignore_index=True),
                         evidence_tests=_concat([p.evidence_tests for p in sps], ignore_index=True))


def _ustar_prepare(tower, method, checked=True):
    """u* bootstrap preparation of ``ustar_thresholds``: (frame, years_of, by_year, season_pos);
    ``checked``: the result of the column check this task must follow."""
    frame, years_of = ub.prepare(tower.data, None, within_year=method == "cpd")
    if frame.empty:
        raise InputError("u* threshold: no records")
    labels = frame["SEASON"].to_numpy()
    season_pos = sorted((np.flatnonzero(labels == s) for s in years_of), key=lambda pos: pos[0])
    return frame, years_of, ub._by_year(frame, years_of), season_pos


def _ustar_options(method):
    return ub.MPTOptions.reddyproc() if method == "mpt" else None


def _ustar_original(prep, method):
    frame, _, by_year, _ = prep
    return ub.aggregate(ub._estimate_all(frame, by_year, ub.estimator(method), _ustar_options(method)))


def _ustar_replicates(prep, method, seed, replicates, keys):
    """Threshold rows of the bootstrap replicates ``replicates`` (numbers >= 1): replicate b resamples
    with child b - 1 of SeedSequence(seed), as ``ustar_thresholds`` spawns them."""
    frame, years_of, _, season_pos = prep
    estimate, options = ub.estimator(method), _ustar_options(method)
    out = np.full((len(replicates), len(keys)), np.nan)
    for j, b in enumerate(replicates):
        child = np.random.SeedSequence(seed, spawn_key=(b - 1,))
        boot = ub._resample(frame, season_pos, np.random.default_rng(child))
        agg = ub.aggregate(ub._estimate_all(boot, ub._by_year(boot, years_of), estimate, options))
        out[j] = [agg.get(k, (np.nan, ""))[0] for k in keys]
    return out


def _ustar_table(original, chunks, method, n_boot):
    """The threshold table of ``ustar_thresholds`` from the original estimate and the replicates."""
    keys = list(original)
    samples = np.vstack([np.array([[original[k][0] for k in keys]], dtype="float64"), *chunks])
    min_prop = float(getattr(_ustar_options(method), "min_valid_boot_prop", ub.MPTOptions().min_valid_boot_prop))
    rows = []
    for j, (year, season) in enumerate(keys):
        col = samples[:, j]
        ok = np.isfinite(col)
        value, reason = original[(year, season)]
        if ok.sum() and ok.mean() >= min_prop:
            q = np.quantile(col[ok], ub.PROBS)
        else:
            q = np.full(len(ub.PROBS), np.nan)
            if n_boot > 1:
                note = f"bootstrap: {int(ok.sum())} of {n_boot} samples gave a threshold (< {min_prop:.0%})"
                reason = f"{reason}; {note}" if reason else note
        rows.append([year, season, method, value, *q, int(ok.sum()), reason])
    return pd.DataFrame(rows, columns=ub.COLUMNS)


def _ustar_keys(original):
    return list(original)


def _drivers(tower, checked=True):
    rpd = tower.site.records_per_day or None
    return chain._fill_drivers(tower.data, MDSOptions.reddyproc(), rpd)


def _scenario_fill(tower, thr_table, drivers, scenario, method):
    """(fill columns, u* flags, record thresholds) of one u* scenario (raw_to_partitioned step 3)."""
    thr = chain._record_thresholds(tower.data.index, thr_table, f"USTAR_TH_{scenario}", method)
    if not np.isfinite(thr).any():
        raise InputError(f"raw chain: no u* threshold for scenario {scenario} in any year "
                         f"({'; '.join(sorted(set(thr_table['reason'].astype(str)))) or 'no reason'})")
    fill, flags = chain._fill_scenario(drivers[0], thr, MDSOptions.reddyproc(), tower.site.records_per_day or None)
    return fill, flags, thr


def _partition_scenario_year(tower, drivers, fill, year, methods, options, fit_qc_only):
    """One site-year of one u* scenario: partition_site on the filled NEE (raw_to_partitioned step 4)."""
    scen = chain._scenario_tower(tower, drivers[0], fill[0])
    return _partition_year(scen, year, methods, options, fit_qc_only)


def _assemble_chain(tower, thr_table, drivers, fills, year_parts, methods, scenarios, method, n_boot, seed):
    """The TowerChain of ``raw_to_partitioned`` (its step 5) from the tasks' pieces."""
    df = tower.data
    med = chain.median_scenario(scenarios)
    rpd = tower.site.records_per_day or None
    step_s = 86400.0 / float(rpd or 48)
    driver_qc = drivers[1]
    sps = {s: _join_years(year_parts[s]) for s in scenarios}
    fill = {s: fills[s][0] for s in scenarios}
    flags = {s: fills[s][1] for s in scenarios}
    thr_cols = {s: fills[s][2] for s in scenarios}
    table = sps[med].table.copy()
    for c in chain.DRIVERS:
        table[f"{c}_F_QC"] = driver_qc[c + "_F_QC"].to_numpy()
    for s in scenarios:
        table[f"USTAR_TH_{s}"] = thr_cols[s]
        table[f"USTAR_FLAG_{s}"] = flags[s].astype("int8")
        for suffix, name in (("_F", "_F"), ("_F_QC", "_F_QC"), ("_F_SD", "_RANDUNC")):
            table[f"NEE_{s}{name}"] = fill[s][f"NEE{suffix}"].to_numpy()
        for m in methods:
            for flux in ("RECO", "GPP", "QC"):
                table[f"{flux}_{m}_{s}"] = sps[s].table[f"{flux}_{m}"].to_numpy()
    summary = chain._summary(tower, sps, fill, thr_cols, methods, scenarios, med, step_s)
    info = {"ustar_method": method, "n_boot": int(n_boot), "seed": int(seed), "scenarios": list(scenarios),
            "median_scenario": med, "methods": list(methods),
            "filled": {s: {"measured": int((fill[s]["NEE_F_QC"] == 0).sum()),
                           "filled": int(fill[s]["NEE_F_QC"].isin([1, 2, 3]).sum()),
                           "unfilled": int(fill[s]["NEE_F"].isna().sum()),
                           "ustar_removed": int(((flags[s] != 0) & df["NEE"].notna().to_numpy()).sum())}
                       for s in scenarios}}
    return chain.TowerChain(table=table, summary=summary, windows=sps[med].windows, thresholds=thr_table,
                            partitions=sps, info=info, methods=methods, scenarios=scenarios,
                            options={**sps[med].options,
                                     "raw_chain": {k: info[k] for k in ("ustar_method", "n_boot", "seed",
                                                                        "scenarios")}})


def _check_raw(tower, label):
    missing = [c for c in ("NEE", "USTAR") if c not in tower.data.columns]
    if missing:
        raise InputError(f"{label}: raw chain: the tower table has no {', '.join(missing)} column")
    return True


# ---------------------------------------------------------------------------------------------
# graph building

def _persist(where, objs):
    """The delayed ``objs`` computed and kept where they are (worker memory on a cluster), as
    delayed objects later tasks take without recomputing them."""
    import dask
    if where.client is not None:
        return list(where.client.persist(list(objs)))
    return list(dask.persist(*objs, scheduler="threads", num_workers=where.threads))


def _label(source, i):
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return f"table {i + 1}"


def _check_scenarios(scenarios):
    scenarios = tuple(dict.fromkeys(str(s).zfill(2) for s in scenarios))
    bad = [s for s in scenarios if s not in ("05", "16", "50", "84", "95")]
    if bad or not scenarios:
        raise InputError(f"raw chain: u* scenarios {bad or '(none)'}: choose from 05, 16, 50, 84, 95")
    return scenarios


def partition_sites(sources, *, methods=None, options=None, fit_qc_only=True, raw=False, ustar_method="mpt",
                    n_boot=100, seed=1, scenarios=chain.SCENARIOS, read_options=None, boot_chunk=BOOT_CHUNK,
                    where=None):
    """Partition many tower files (or tables) on dask, one task per site-year.

    Parameters
    ----------
    sources : sequence of str, os.PathLike, TowerData or pandas.DataFrame
        Tower files (read by :func:`~ecoresp_core.io.towers.read_tower` with ``read_options``, on
        the workers: the files must be readable there) or tower tables.
    methods : str or sequence of str, optional
        Method codes (``parse_methods``; default NT, DT, DTRH).
    options : dict, optional
        ``partition_site`` options ('NT', 'DTRH', 'evidence', ...; the model-evidence bootstrap
        seed is ``options['evidence']['seed']``).
    fit_qc_only : bool
        Methods fit measured NEE only (default).
    raw : bool or {'mpt', 'cpd'}
        False: processed files (``partition_site``); True or 'mpt' (moving point test) or 'cpd'
        (change-point detection): the raw chain of ``raw_to_partitioned``; ``ustar_method`` is used
        with True.
    n_boot, seed : int
        u* bootstrap samples including the original data, and their seed (raw chain).
    scenarios : sequence of str
        u* scenarios (raw chain).
    read_options : dict, optional
        Keywords of ``read_tower`` (fmt, columns, units, site_id, latitude, longitude, utc_offset_h).
    boot_chunk : int
        u* bootstrap replicates per task (no effect on the results).
    where : Where, optional
        From :func:`~ecoresp_core.cube.scheduler.run_on`; default dask's local threads.

    Returns
    -------
    BatchPartition
    """
    if where is None:
        with run_on() as here:
            return partition_sites(sources, methods=methods, options=options, fit_qc_only=fit_qc_only, raw=raw,
                                   ustar_method=ustar_method, n_boot=n_boot, seed=seed, scenarios=scenarios,
                                   read_options=read_options, boot_chunk=boot_chunk, where=here)
    import dask
    sources = list(sources) if not isinstance(sources, (str, os.PathLike, TowerData, pd.DataFrame)) else [sources]
    if not sources:
        raise InputError("input: no tower file given")
    methods = parse_methods(methods)
    options = dict(options or {})
    evidence_options(options.get("evidence"))  # bad settings stop the batch before any task
    if raw is True:
        raw = ustar_method
    if raw not in (False, None, "mpt", "cpd"):
        raise InputError(f"raw_chain: {raw!r} is not a u* method; use 'mpt' or 'cpd' (or False)")
    if raw:
        n_boot = int(n_boot)
        if n_boot < 1:
            raise InputError(f"bootstrap: n_boot must be at least 1, got {n_boot}")
        scenarios = _check_scenarios(scenarios)
        ub.estimator(raw)
    read_kwargs = dict(read_options or {})
    labels = [_label(s, i) for i, s in enumerate(sources)]
    towers = _persist(where, [dask.delayed(_read, pure=True)(s, read_kwargs, dask_key_name=f"read-{i}")
                              for i, s in enumerate(sources)])
    years = where.compute(*[dask.delayed(_years)(t) for t in towers])
    files = []
    for i, (label, tower) in enumerate(zip(labels, towers)):
        if raw:
            files.append(_raw_graph(tower, label, i, years[i], methods, options, fit_qc_only, raw, n_boot, int(seed),
                                    scenarios, max(1, int(boot_chunk))))
        else:
            parts = [dask.delayed(_partition_year)(tower, y, methods, options, fit_qc_only,
                                                   dask_key_name=f"partition-{i}-{y}") for y in years[i]]
            files.append(dask.delayed(_join_years)(parts, dask_key_name=f"site-{i}"))
    done = where.compute(*files)
    partitions = dict(zip(labels, done))
    return _batch(labels, done, partitions, {"methods": list(methods), "raw": raw or False, **options})


def _raw_graph(tower, label, i, years, methods, options, fit_qc_only, method, n_boot, seed, scenarios, boot_chunk):
    import dask
    d = dask.delayed
    checked = d(_check_raw)(tower, label, dask_key_name=f"check-{i}")
    prep = d(_ustar_prepare)(tower, method, checked, dask_key_name=f"ustar-prepare-{i}")
    original = d(_ustar_original)(prep, method, dask_key_name=f"ustar-original-{i}")
    keys = d(_ustar_keys)(original, dask_key_name=f"ustar-keys-{i}")
    chunks = [d(_ustar_replicates)(prep, method, seed, list(range(a, min(a + boot_chunk, n_boot))), keys,
                                   dask_key_name=f"ustar-boot-{i}-{a}") for a in range(1, n_boot, boot_chunk)]
    thr = d(_ustar_table)(original, chunks, method, n_boot, dask_key_name=f"ustar-table-{i}")
    drivers = d(_drivers)(tower, checked, dask_key_name=f"drivers-{i}")
    med = chain.median_scenario(scenarios)
    fills, year_parts = {}, {}
    for s in scenarios:
        fills[s] = d(_scenario_fill)(tower, thr, drivers, s, method, dask_key_name=f"fill-{i}-{s}")
        opts = options if s == med or not options else {k: v for k, v in options.items() if k != "evidence"}
        year_parts[s] = [d(_partition_scenario_year)(tower, drivers, fills[s], y, methods, opts, fit_qc_only,
                                                     dask_key_name=f"partition-{i}-{s}-{y}") for y in years]
    return d(_assemble_chain)(tower, thr, drivers, fills, year_parts, methods, scenarios, method, n_boot, seed,
                              dask_key_name=f"site-{i}")


def _batch(labels, done, partitions, options):
    site_years, summaries = [], []
    for label, part in zip(labels, done):
        site_id = part.summary["site_id"].iloc[0] if "site_id" in part.summary and len(part.summary) else None
        table = part.table
        for _, row in part.summary.iterrows():
            year = int(row["year"])
            rows = table.index.year == year
            site_years.append(SiteYearResult(source=label, site_id=site_id, year=year, table=table.loc[rows],
                                             summary=part.summary[part.summary["year"] == year]))
        summary = part.summary.copy()
        summary["source_file"] = label
        summaries.append(summary)
    return BatchPartition(site_years=site_years, summary=pd.concat(summaries, ignore_index=True),
                          partitions=partitions, sources=labels, options=options)


# ---------------------------------------------------------------------------------------------
# the command line: files in, one CSV per site-year and a summary CSV out

RH_FUNCTIONS = ("exp", "linear")


def partition_files(input, output_folder, *, methods=None, raw_chain=0, fit_qc_only=True, bootstrap=100, seed=1,
                    evidence=True, evidence_bootstrap=100, joint_block_days=4, rh_at_night=True, rh_function="exp",
                    format="auto", site_id=None, latitude=None, longitude=None, utc_offset=None, columns=None,
                    units=None, where=None):
    """ecoresp:partition over many tower files (keywords: its Processing parameters in lower case).

    Writes into ``output_folder`` one CSV per site-year, ``<site>_<year>_partitioned.csv`` (the
    partitioned fluxes of the year, site_id first, TIMESTAMP_START in local standard time), and
    ``partition_summary.csv`` (one row per site-year, with option_* columns, source_file and
    ecoresp_versions, as the algorithm's site-year summary); each under a temporary name, all
    renamed when every one was written.  ``raw_chain``: 0 off, 1 moving point test, 2 change-point
    detection (or 'off', 'mpt', 'cpd').  ``columns``/``units``: {standard: file column / unit}.
    Returns {'site_years': [paths], 'summary': path, 'batch': BatchPartition}.
    """
    paths = [input] if isinstance(input, (str, os.PathLike)) else list(input or [])
    if not paths:
        raise InputError("input: no tower file given")
    for p in paths:
        if not os.path.isfile(os.fspath(p)):
            raise InputError(f"input: {os.fspath(p)} is not a file")
    folder = os.fspath(output_folder)
    if not os.path.isdir(folder):
        raise InputError(f"output_folder: {folder} is not an existing folder")
    raw = _raw_choice(raw_chain)
    if rh_function not in RH_FUNCTIONS:
        raise InputError(f"rh_function: {rh_function!r} is not one of {', '.join(RH_FUNCTIONS)}")
    fmt = str(format or "auto").lower()
    if fmt not in ("auto", "detect", *FORMATS):
        raise InputError(f"format: {format!r} is not one of auto, {', '.join(FORMATS)}")
    for name, value, low in (("bootstrap", bootstrap, 1), ("seed", seed, 0),
                             ("evidence_bootstrap", evidence_bootstrap, 0), ("joint_block_days", joint_block_days, 1)):
        if not isinstance(value, (int, np.integer)) or value < low:
            raise InputError(f"{name}: {value!r} is not valid; give a whole number of at least {low}")
    methods = parse_methods(methods)
    options = _algorithm_options(methods, fit_qc_only, evidence, evidence_bootstrap, seed, joint_block_days,
                                 rh_at_night, rh_function)
    read_options = {"fmt": "auto" if fmt == "detect" else fmt, "columns": dict(columns or {}),
                    "units": dict(units or {}), "site_id": site_id or None, "latitude": latitude,
                    "longitude": longitude, "utc_offset_h": utc_offset}
    batch = partition_sites(paths, methods=methods, options=options, fit_qc_only=fit_qc_only, raw=raw,
                            n_boot=bootstrap, seed=seed, read_options=read_options, where=where)
    names = _site_year_names(batch)
    from ..common.versions import versions
    summary = batch.summary.copy()
    for k, v in batch.partitions[batch.sources[0]].options.items():
        summary[f"option_{k}"] = str(v)
    summary["ecoresp_versions"] = json.dumps(versions(), sort_keys=True)
    outputs = []
    for sy, name in zip(batch.site_years, names):
        table = sy.table
        if "site_id" not in table.columns and sy.site_id:
            table = table.copy()
            table.insert(0, "site_id", str(sy.site_id))
        outputs.append((os.path.join(folder, name), table.reset_index()))
    summary_path = os.path.join(folder, "partition_summary.csv")
    outputs.append((summary_path, summary))
    _write_all(outputs)
    return {"site_years": [p for p, _ in outputs[:-1]], "summary": summary_path, "batch": batch}


def _raw_choice(value):
    text = str(value).strip().lower()
    choices = {"0": False, "off": False, "false": False, "1": "mpt", "mpt": "mpt", "moving point test": "mpt",
               "2": "cpd", "cpd": "cpd", "change-point detection": "cpd"}
    if text not in choices:
        raise InputError(f"raw_chain: {value!r} is not one of 0 (off), 1 (mpt, moving point test), "
                         "2 (cpd, change-point detection)")
    return choices[text]


def _algorithm_options(methods, qc_only, evidence, n_boot, seed, block_days, rh_at_night, rh_function):
    """partition_site options as ecoresp:partition builds them (PartitionAlgorithm.evidence_options)."""
    options = {"NT": {"fit_qc_only": qc_only}}
    family = [m for m in methods if sp_mod.get(m).option_key == "DTRH"]
    joint = {"block_days": int(block_days), "rh_at_night": bool(rh_at_night), "rh_function": rh_function,
             "fit_qc_only": qc_only}
    if family:
        options["DTRH"] = {"joint_block_days": joint["block_days"], "rh_at_night": joint["rh_at_night"],
                           "rh_function": joint["rh_function"]}
        if evidence:
            options["evidence"] = {"n_boot": int(n_boot), "seed": int(seed), "joint": joint}
    return options


def _site_year_names(batch):
    """File names of the site-years: <site id>_<year>_partitioned.csv, the file name's stem instead
    of the site id when it is unknown or shared by several sources."""
    site_sources = {}
    for sy in batch.site_years:
        site_sources.setdefault(sy.site_id, set()).add(sy.source)
    names = []
    for sy in batch.site_years:
        label = sy.site_id
        if not label or len(site_sources[label]) > 1:
            label = os.path.basename(sy.source).split(".")[0]
        names.append(f"{label}_{sy.year}_partitioned.csv")
    if len(set(names)) < len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise InputError(f"input: several sources give the same site-year output ({', '.join(dup)}); rename a file")
    return names


def _write_all(outputs):
    """Write every (path, DataFrame) as CSV under a temporary name, then rename them all; on an
    error remove the temporary files and leave the destinations unchanged."""
    staged = []
    try:
        for path, df in outputs:
            check_output_folder(path)
            remove_stale_partials(path)
            tmp = partial_path(path, ".csv")
            staged.append((tmp, path))
            try:
                df.to_csv(tmp, index=False)
            except OSError as exc:
                raise write_error(path, exc) from None
        for tmp, path in staged:
            try:
                os.replace(tmp, path)
            except OSError as exc:
                raise write_error(path, exc) from None
    finally:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                with contextlib.suppress(OSError):
                    os.remove(tmp)
