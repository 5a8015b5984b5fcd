"""Batch site partitioning on dask: one task per site-year, and for raw files the u* bootstrap
replicates and the u* scenarios as tasks too, on dask's local threads or a dask.distributed cluster
(:func:`~ecoresp_core.cube.scheduler.run_on`).

The numbers are those of the QGIS algorithm ecoresp:partition (``algorithms/partition.py``), which
runs one tower file with :func:`~ecoresp_core.partitioning.sitepartition.partition_site`
(processed files) or :func:`~ecoresp_core.jobs.tower.raw_to_partitioned` (raw files): the tasks
call the functions those two are made of, on the same records: ``partition_site_year`` and
``join_site_years`` (partitioning.sitepartition), ``bootstrap_records``, ``original_thresholds``,
``replicate_thresholds`` and ``threshold_table`` (ustar.bootstrap), ``fill_tower_drivers``,
``fill_scenario``, ``scenario_tower``, ``scenario_options`` and ``assemble_chain`` (jobs.tower).
Every random number comes from the seed and the replicate number (u* bootstrap replicate ``b``
draws from child ``b - 1`` of ``numpy.random.SeedSequence(seed)``, model-evidence replicate ``i``
from ``(seed, i)``), never from the task order, the chunking of the replicates or the worker.
Results are bit for bit those of the serial path (tests/core/cube/test_cube_sites.py).

Graph of one processed file: read -> one ``partition_site_year`` per site-year -> the file's
SitePartition (``join_site_years``).  Graph of one raw file: read -> u* preparation -> the
original estimate and the bootstrap replicates in chunks of ``boot_chunk`` -> the threshold table
-> driver gap filling -> per u* scenario the NEE u* filter and gap filling -> per scenario and
site-year ``partition_site_year`` (the model evidence for the median scenario only, as
``raw_to_partitioned``) -> the file's TowerChain (``assemble_chain``).

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
from ..partitioning.sitepartition import evidence_options, join_site_years, parse_methods, partition_site_year
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


def _partition_year(tower, year, methods, options, fit_qc_only):
    """The SiteYearPartition of site-year ``year`` of ``tower``, as partition_site computes it
    (the model-evidence bootstrap serial inside the task)."""
    return partition_site_year(_site_year(tower, year), methods, options, fit_qc_only)


def _join_years(parts, methods, options):
    """One file's SitePartition from its site-years, as partition_site joins them."""
    return join_site_years(parts, methods, options)


def _ustar_prepare(tower, method, checked=True):
    """The u* bootstrap's records (``ustar.bootstrap.bootstrap_records``); ``checked``: the result
    of the column check this task must follow."""
    return ub.bootstrap_records(tower.data, method)


def _ustar_keys(original):
    return list(original)


def _ustar_replicates(records, seed, replicates, keys):
    """Threshold rows (m s-1) of the bootstrap replicates ``replicates`` (numbers >= 1), each
    ``ustar.bootstrap.replicate_thresholds``."""
    out = np.full((len(replicates), len(keys)), np.nan)
    for j, b in enumerate(replicates):
        out[j] = ub.replicate_thresholds(records, b, seed, keys)
    return out


def _ustar_table(records, original, chunks):
    """The threshold table of ``ustar_thresholds`` from the original estimate and the replicates."""
    keys = list(original)
    samples = np.vstack([np.array([[original[k][0] for k in keys]], dtype="float64"), *chunks])
    return ub.threshold_table(records, original, samples)


def _drivers(tower, checked=True):
    return chain.fill_tower_drivers(tower.data, MDSOptions.reddyproc(), tower.site.records_per_day or None)


def _check_thresholds(tower, thr_table, scenarios, method):
    """InputError of the first scenario, in the serial order, without any u* threshold: the error
    ``raw_to_partitioned`` raises, whichever fill task a scheduler would have run first."""
    for s in scenarios:
        chain.scenario_thresholds(tower.data.index, thr_table, s, method)
    return True


def _scenario_fill(tower, thr_table, drivers, scenario, method, checked=True):
    """The ScenarioFill of one u* scenario (raw_to_partitioned step 3)."""
    return chain.fill_scenario(drivers[0], thr_table, scenario, method, MDSOptions.reddyproc(),
                               tower.site.records_per_day or None)


def _partition_scenario_year(tower, drivers, fill, year, methods, options, fit_qc_only):
    """One site-year of one u* scenario: partition_site_year on the filled NEE (raw_to_partitioned step 4)."""
    return _partition_year(chain.scenario_tower(tower, drivers[0], fill), year, methods, options, fit_qc_only)


def _assemble_chain(tower, thr_table, drivers, fills, year_parts, methods, options, scenarios, method, n_boot,
                    seed):
    """The TowerChain of ``raw_to_partitioned`` (its step 5) from the tasks' pieces."""
    sps = {s: join_site_years(year_parts[s], methods, chain.scenario_options(options, s, scenarios))
           for s in scenarios}
    return chain.assemble_chain(tower, thr_table, drivers[1], fills, sps, methods, scenarios, method, n_boot, seed)


def _check_raw(tower, label):
    try:
        chain.check_raw_columns(tower.data)
    except InputError as exc:
        raise InputError(f"{label}: {exc}") from None
    return True


# ---------------------------------------------------------------------------------------------
# graph building

def _label(source, i):
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return f"table {i + 1}"


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
        with run_on(malloc="tasks") as here:
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
        scenarios = chain.check_scenarios(scenarios)
        ub.estimator(raw)
    read_kwargs = dict(read_options or {})
    labels = [_label(s, i) for i, s in enumerate(sources)]
    towers = where.persist([dask.delayed(_read, pure=True)(s, read_kwargs, dask_key_name=f"read-{i}")
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
            files.append(dask.delayed(_join_years)(parts, methods, options, dask_key_name=f"site-{i}"))
    done = where.compute(*files)
    partitions = dict(zip(labels, done))
    return _batch(labels, done, partitions, {"methods": list(methods), "raw": raw or False, **options})


def _raw_graph(tower, label, i, years, methods, options, fit_qc_only, method, n_boot, seed, scenarios, boot_chunk):
    import dask
    d = dask.delayed
    checked = d(_check_raw)(tower, label, dask_key_name=f"check-{i}")
    records = d(_ustar_prepare)(tower, method, checked, dask_key_name=f"ustar-prepare-{i}")
    original = d(ub.original_thresholds)(records, dask_key_name=f"ustar-original-{i}")
    keys = d(_ustar_keys)(original, dask_key_name=f"ustar-keys-{i}")
    chunks = [d(_ustar_replicates)(records, seed, list(range(a, min(a + boot_chunk, n_boot))), keys,
                                   dask_key_name=f"ustar-boot-{i}-{a}") for a in range(1, n_boot, boot_chunk)]
    thr = d(_ustar_table)(records, original, chunks, dask_key_name=f"ustar-table-{i}")
    drivers = d(_drivers)(tower, checked, dask_key_name=f"drivers-{i}")
    fills, year_parts = {}, {}
    thresholds = d(_check_thresholds)(tower, thr, scenarios, method, dask_key_name=f"ustar-check-{i}")
    for s in scenarios:
        fills[s] = d(_scenario_fill)(tower, thr, drivers, s, method, thresholds, dask_key_name=f"fill-{i}-{s}")
        opts = chain.scenario_options(options, s, scenarios)
        year_parts[s] = [d(_partition_scenario_year)(tower, drivers, fills[s], y, methods, opts, fit_qc_only,
                                                     dask_key_name=f"partition-{i}-{s}-{y}") for y in years]
    return d(_assemble_chain)(tower, thr, drivers, fills, year_parts, methods, options, scenarios, method, n_boot,
                              seed, dask_key_name=f"site-{i}")


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
