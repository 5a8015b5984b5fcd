"""From a raw tower file to partitioned fluxes with their uncertainty, in one run (issue 12).

``raw_to_partitioned(tower, methods)`` composes the science packages as REddyProc's
``sEstimateUstarScenarios`` + ``sApplyUStarScen(sMDSGapFillUStar)`` + ``sApplyUStarScen(partition)``
and FLUXNET2015's VUT percentile scenarios do (docs/methods.md sections 17 and 18):

1. u* thresholds per year and season with the bootstrap (:func:`ecoresp_core.ustar.bootstrap.ustar_thresholds`,
   moving point test or change-point detection); each scenario S (``"05"``, ``"50"``, ``"95"`` by
   default) takes the year's ``USTAR_TH_<S>`` quantile of the bootstrap for all its seasons
   (REddyProc's default, ``usGetAnnualSeasonUStarMap``), ``USTAR_TH`` where the bootstrap gave none;
2. the drivers SW_IN, TA and VPD are filled once by MDS (``sMDSGapFill(..., FillAll = FALSE)``,
   flagged ``<VAR>_F_QC``); RH is recomputed from the filled TA and VPD where it is missing;
3. per scenario: night-time NEE (SW_IN < 10 W m-2 or missing) below the threshold or without u*
   becomes a gap (:func:`ecoresp_core.ustar.filtering.apply_ustar_filter`), then NEE is MDS-filled
   with every record looked up (``FillAll = TRUE``): ``NEE_<S>_F``, ``NEE_<S>_F_QC`` (0 measured,
   1-3 fill quality), ``NEE_<S>_RANDUNC`` (random uncertainty: REddyProc's ``NEE_fsd``, FLUXNET2015's
   name);
4. per scenario: :func:`ecoresp_core.partitioning.sitepartition.partition_site` on the filled NEE
   with NEE_QC the fill quality (the methods fit QC = 0, the measured records) and ``sdNEE`` =
   ``NEE_<S>_RANDUNC`` (REddyProc's day-time partitioning weights by ``NEE_fsd``);
5. the half-hourly table ``NEE_<S>_F``, ``NEE_<S>_F_QC``, ``NEE_<S>_RANDUNC``, ``USTAR_TH_<S>``,
   ``RECO_<M>_<S>``, ``GPP_<M>_<S>``, ``QC_<M>_<S>`` per scenario, the median scenario's ``RECO_<M>``,
   ``GPP_<M>``, ``QC_<M>`` and NEE/NEE_QC under the plain names (the table of ``partition_site``),
   and the site-year summary (the median scenario's summary plus the scenario sums, their range
   and the random uncertainty of annual NEE).

Every step is a public function (:func:`check_scenarios`, :func:`fill_tower_drivers`,
:func:`fill_scenario`, :func:`scenario_tower`, :func:`scenario_options`, :func:`assemble_chain`),
which ``raw_to_partitioned`` calls in turn and the batch on dask (``ecoresp_core.cube.sites``) as
tasks.

Random uncertainty of annual NEE (REddyProc vignette *aggUncertainty*, Wutzler et al. 2018,
Biogeosciences 15:5015): only the measured records carry independent information (the fills reuse
them), so with ``sd_i = NEE_F_SD`` at the n measured records (QC = 0) and the effective number of
observations n_eff of the residuals ``NEE - NEE_F_ALL`` (lognorm's ``computeEffectiveNumObs``: n_eff =
n / (1 + 2 sum_k (1 - k/n) rho_k), rho_k the autocorrelation up to its first negative value, lags up
to 10 log10(n) as R's ``acf``; Zieba & Ramza 2011),

    sd(mean NEE) = sqrt( sum(sd_i^2) / n / (n_eff - 1) ),
    sd(annual NEE) = sd(mean NEE) * N * dt * 1e-6 * 12.011   (g C m-2 yr-1, N records of the year, dt s).

``NEE_<S>_rand_indep_gC`` gives the same without the autocorrelation (n_eff = n), the lower bound.
The u* uncertainty is the range (min, max) of every annual sum over the scenarios.
"""

import time
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..common.meteorology import rh_from_vpd
from ..common.progress import Progress
from ..common.units import M_C
from ..errors import InputError
from ..gapfilling.mds import MDSOptions, fill_drivers, mds_gapfill
from ..io.towers import TowerData, split_years
from ..partitioning.sitepartition import annual_sum_gc, parse_methods, partition_site
from ..ustar.bootstrap import ustar_thresholds
from ..ustar.filtering import apply_ustar_filter, thresholds_per_record

SCENARIOS = ("05", "50", "95")
DRIVERS = ("SW_IN", "TA", "VPD")


@dataclass
class TowerChain:
    """Output of :func:`raw_to_partitioned`.

    Attributes
    ----------
    table : pandas.DataFrame
        Half-hourly (or hourly) records (module docstring).
    summary : pandas.DataFrame
        One row per site-year: the median scenario's ``partition_site`` summary, ``USTAR_TH_<S>``
        (m s-1), ``NEE_<S>_gC``, ``NEE_<S>_rand_gC``, ``NEE_<S>_rand_indep_gC``, ``NEE_<S>_n_eff``,
        ``RECO_<M>_<S>_gC``, ``GPP_<M>_<S>_gC`` and ``<sum>_min`` / ``<sum>_max`` over the scenarios
        (g C m-2 yr-1).
    windows : pandas.DataFrame
        The median scenario's fitting windows.
    thresholds : pandas.DataFrame
        The u* threshold table (:func:`~ecoresp_core.ustar.bootstrap.ustar_thresholds`).
    partitions : dict
        {scenario: SitePartition}.
    info : dict
        Counts and options (provenance), and ``seconds``: wall time of each stage ('ustar', 'drivers',
        'fill', 'partition'; the last two summed over the scenarios).
    methods, scenarios : tuple of str
        Method codes and u* scenarios.
    options : dict
        The options as ``SitePartition.options`` (recorded in the summary by the algorithm).
    """
    table: pd.DataFrame
    summary: pd.DataFrame
    windows: pd.DataFrame
    thresholds: pd.DataFrame
    partitions: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    methods: tuple = ()
    scenarios: tuple = SCENARIOS
    options: dict = field(default_factory=dict)


def median_scenario(scenarios):
    """The scenario whose columns also go under the plain names: ``"50"`` when present, else the
    middle one of the sorted scenarios."""
    s = sorted(scenarios)
    return "50" if "50" in s else s[len(s) // 2]


def effective_n(resid, max_lag=None):
    """Effective number of observations of a series with gaps (lognorm ``computeEffectiveNumObs``).

    Parameters
    ----------
    resid : array-like
        Residuals (NaN where none).
    max_lag : int or None
        Largest lag; default ``10 log10(n)`` (R's ``acf``).

    Returns
    -------
    float
        n / (1 + 2 sum_k (1 - k/n) rho_k) over the lags up to the first negative autocorrelation
        (pairwise-complete estimate); n, the number of finite values, when there is no positive one.
    """
    x = np.asarray(resid, dtype="float64")
    ok = np.isfinite(x)
    n = int(ok.sum())
    if n < 3:
        return float(n)
    z = np.where(ok, x - x[ok].mean(), 0.0)
    var = float(np.sum(z * z)) / n
    if var <= 0:
        return float(n)
    lags = int(max_lag or max(1, np.floor(10 * np.log10(n))))
    total = 0.0
    for k in range(1, min(lags, x.size - 1) + 1):
        rho = float(np.sum(z[k:] * z[:-k])) / n / var  # R's acf with na.pass: divides by n
        if not np.isfinite(rho) or rho < 0:
            break
        total += (1.0 - k / n) * rho
    return float(n / (1.0 + 2.0 * total))


def annual_random_uncertainty(nee, qc, sd, nee_all, step_seconds):
    """Random uncertainty (1 SD) of the annual NEE sum from the MDS look-up SDs.

    Parameters
    ----------
    nee, qc, sd, nee_all : array-like
        One site-year's measured-or-filled NEE (umol CO2 m-2 s-1, unused but for length), fill
        quality (0 measured), ``NEE_F_SD`` and ``NEE_F_ALL`` (umol CO2 m-2 s-1).
    step_seconds : float
        Record length (s).

    Returns
    -------
    (float, float, float)
        SD of the annual sum with the autocorrelation correction and without it (g C m-2 yr-1), and
        n_eff (module docstring).
    """
    qc = np.asarray(qc, dtype="float64")
    sd = np.asarray(sd, dtype="float64")
    meas = (qc == 0) & np.isfinite(sd)
    n = int(meas.sum())
    if n < 3:
        return float("nan"), float("nan"), float("nan")
    resid = np.where(qc == 0, np.asarray(nee, dtype="float64") - np.asarray(nee_all, dtype="float64"), np.nan)
    n_eff = min(effective_n(resid), float(n))
    scale = len(qc) * step_seconds * 1e-6 * M_C
    ss = float(np.sum(sd[meas] ** 2))
    return (float(np.sqrt(ss / n / max(n_eff - 1.0, 1.0)) * scale),
            float(np.sqrt(ss / n / max(n - 1.0, 1.0)) * scale), n_eff)


def _record_thresholds(index, table, column, method):
    """The threshold of every record of ``column`` (the year's for all its seasons), ``USTAR_TH``
    where the bootstrap gave none.  'cpd' estimates calendar years, 'mpt' REddyProc's season years."""
    def lookup(col):
        if method == "cpd":
            annual = table[table["season"] == "annual"].set_index("year")[col]
            return annual.reindex(index.year).to_numpy(dtype="float64")
        return thresholds_per_record(index, table, col)
    thr = lookup(column)
    if column != "USTAR_TH":
        thr = np.where(np.isfinite(thr), thr, lookup("USTAR_TH"))
    return thr


class ScenarioFill(NamedTuple):
    """NEE of one u* scenario, u*-filtered and gap-filled (:func:`fill_scenario`).

    Attributes
    ----------
    columns : pandas.DataFrame
        ``mds_gapfill`` columns: NEE_F, NEE_F_SD, NEE_F_ALL (umol CO2 m-2 s-1), NEE_F_QC (0
        measured, 1-3 fill quality), ...
    flags : numpy.ndarray
        USTAR_FLAG of every record (0 kept).
    thresholds : numpy.ndarray
        The u* threshold of every record (m s-1).
    """
    columns: pd.DataFrame
    flags: np.ndarray
    thresholds: np.ndarray


def check_scenarios(scenarios):
    """The u* scenarios as two-digit strings, without repeats; InputError for any but 05, 16, 50,
    84, 95 or none."""
    scenarios = tuple(dict.fromkeys(str(s).zfill(2) for s in scenarios))
    bad = [s for s in scenarios if s not in ("05", "16", "50", "84", "95")]
    if bad or not scenarios:
        raise InputError(f"raw chain: u* scenarios {bad or '(none)'}: choose from 05, 16, 50, 84, 95")
    return scenarios


def check_raw_columns(df):
    """InputError when the raw tower table has no NEE or no USTAR column."""
    missing = [c for c in ("NEE", "USTAR") if c not in df.columns]
    if missing:
        raise InputError(f"raw chain: the tower table has no {', '.join(missing)} column")


def fill_tower_drivers(df, options=None, rpd=None):
    """Step 2 of the chain: SW_IN (W m-2), TA (degC) and VPD (hPa) gap-filled by MDS and RH (%)
    completed from the filled TA and VPD.

    Parameters
    ----------
    df : pandas.DataFrame
        The raw tower table.
    options : MDSOptions or None
        MDS rules (default REddyProc's).
    rpd : int or None
        Records per day.

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        The table with the filled drivers, and their ``<VAR>_F_QC`` columns.
    """
    present = [c for c in DRIVERS if c in df.columns and df[c].notna().any()]
    if len(present) < len(DRIVERS):
        raise InputError(f"raw chain: the tower table needs {', '.join(DRIVERS)} with data "
                         f"(has {', '.join(present) or 'none'})")
    filled = fill_drivers(df, options=options or MDSOptions.reddyproc(), rpd=rpd)
    out = df.copy()
    for c in DRIVERS:
        out[c] = filled[f"{c}_F"].to_numpy()
    rh = rh_from_vpd(out["VPD"].to_numpy(dtype="float64"), out["TA"].to_numpy(dtype="float64"))
    out["RH"] = out["RH"].where(out["RH"].notna(), rh) if "RH" in out.columns else rh
    cols = pd.DataFrame({f"{c}_F_QC": filled[f"{c}_F_QC"].to_numpy() for c in DRIVERS}, index=df.index)
    return out, cols


def scenario_thresholds(index, thr_table, scenario, ustar_method):
    """The u* threshold (m s-1) of each record of ``index`` in scenario ``scenario`` (the column
    ``USTAR_TH_<scenario>`` of ``thr_table``, by year or season); InputError when no year has one."""
    thr = _record_thresholds(index, thr_table, f"USTAR_TH_{scenario}", ustar_method)
    if not np.isfinite(thr).any():
        raise InputError(f"raw chain: no u* threshold for scenario {scenario} in any year "
                         f"({'; '.join(sorted(set(thr_table['reason'].astype(str)))) or 'no reason'})")
    return thr


def fill_scenario(drivers_filled, thr_table, scenario, ustar_method, options=None, rpd=None):
    """Step 3 of the chain for u* scenario ``scenario``: night-time NEE below the scenario's
    threshold becomes a gap, then NEE is MDS-filled.

    Parameters
    ----------
    drivers_filled : pandas.DataFrame
        The table of :func:`fill_tower_drivers` (NEE in umol CO2 m-2 s-1).
    thr_table : pandas.DataFrame
        The u* threshold table (:func:`~ecoresp_core.ustar.bootstrap.ustar_thresholds`).
    scenario : str
        "05", "16", "50", "84" or "95": the column ``USTAR_TH_<scenario>``.
    ustar_method : {'mpt', 'cpd'}
        How the thresholds were estimated ('cpd': calendar years).
    options, rpd
        MDS rules and records per day, as :func:`fill_tower_drivers`.

    Returns
    -------
    ScenarioFill
    """
    thr = scenario_thresholds(drivers_filled.index, thr_table, scenario, ustar_method)
    filt = apply_ustar_filter(drivers_filled, thr)
    qc = "NEE_QC" if "NEE_QC" in filt.columns else None
    out = mds_gapfill(filt, "NEE", qc=qc, options=options or MDSOptions.reddyproc(), rpd=rpd)
    return ScenarioFill(out, filt["USTAR_FLAG"].to_numpy(), thr)


def scenario_tower(tower, drivers_filled, fill):
    """Step 4's input: the TowerData a scenario is partitioned on, NEE the filled NEE
    (umol CO2 m-2 s-1), NEE_QC its fill quality, sdNEE its random uncertainty.

    Parameters
    ----------
    tower : TowerData
        The raw tower (its site information is kept).
    drivers_filled : pandas.DataFrame
        The table of :func:`fill_tower_drivers`.
    fill : ScenarioFill or pandas.DataFrame
        The scenario's :func:`fill_scenario` (or its ``columns``).
    """
    cols = fill.columns if isinstance(fill, ScenarioFill) else fill
    d = drivers_filled.copy()
    d["NEE"] = cols["NEE_F"].to_numpy()
    d["NEE_QC"] = cols["NEE_F_QC"].to_numpy()
    d["sdNEE"] = cols["NEE_F_SD"].to_numpy()
    return TowerData(d, tower.site)


def scenario_options(options, scenario, scenarios):
    """``partition_site`` options of u* scenario ``scenario``: the model evidence (DT-RH as a
    hypothesis) for the median scenario only: its bootstrap is the long part, and the u* range of
    the other scenarios is about the fluxes, not the model choice."""
    if scenario == median_scenario(scenarios) or not options:
        return options
    return {k: v for k, v in options.items() if k != "evidence"}


def _summary(tower, sps, fills, thr_cols, methods, scenarios, med, step_s):
    """The site-year summary: the median scenario's plus per scenario sums, ranges and the random
    uncertainty of annual NEE."""
    summary = sps[med].summary.copy()
    years = [y for y, _ in split_years(tower)]
    rows = []
    for year in years:
        row = {}
        rows_of = tower.index.year == year
        for s in scenarios:
            f = fills[s].loc[rows_of]
            row[f"USTAR_TH_{s}"] = float(np.nanmedian(thr_cols[s][rows_of])) if np.isfinite(
                thr_cols[s][rows_of]).any() else float("nan")
            row[f"NEE_{s}_gC"] = annual_sum_gc(f["NEE_F"], step_s)
            rand, indep, n_eff = annual_random_uncertainty(f["NEE_F"], f["NEE_F_QC"], f["NEE_F_SD"],
                                                           f["NEE_F_ALL"], step_s)
            row[f"NEE_{s}_rand_gC"], row[f"NEE_{s}_rand_indep_gC"], row[f"NEE_{s}_n_eff"] = rand, indep, n_eff
            srow = sps[s].summary.set_index("year")
            for m in methods:
                for flux in ("RECO", "GPP"):
                    col = f"{flux}_{m}_gC"
                    row[f"{flux}_{m}_{s}_gC"] = float(srow.at[year, col]) if (
                        year in srow.index and col in srow.columns) else float("nan")
        sums = ["NEE"] + [f"{flux}_{m}" for m in methods for flux in ("RECO", "GPP")]
        for base in sums:
            vals = np.array([row[f"{base}_{s}_gC"] for s in scenarios], dtype="float64")
            ok = np.isfinite(vals)
            row[f"{base}_gC_min"] = float(vals[ok].min()) if ok.any() else float("nan")
            row[f"{base}_gC_max"] = float(vals[ok].max()) if ok.any() else float("nan")
        row["NEE_gC"] = row[f"NEE_{med}_gC"]
        row["NEE_rand_gC"] = row[f"NEE_{med}_rand_gC"]
        row["year"] = year
        rows.append(row)
    extra = pd.DataFrame(rows)
    return summary.merge(extra, on="year", how="left") if "year" in summary.columns else extra


def assemble_chain(tower, thr_table, driver_qc, fills, sps, methods, scenarios, ustar_method, n_boot, seed):
    """Step 5 of the chain: the TowerChain from the pieces of steps 1 to 4.

    Parameters
    ----------
    tower : TowerData
        The raw tower.
    thr_table : pandas.DataFrame
        The u* threshold table (step 1).
    driver_qc : pandas.DataFrame
        The drivers' ``<VAR>_F_QC`` columns (:func:`fill_tower_drivers`).
    fills : dict of str to ScenarioFill
        {scenario: :func:`fill_scenario`} (step 3).
    sps : dict of str to SitePartition
        {scenario: ``partition_site`` of :func:`scenario_tower`} (step 4).
    methods, scenarios : tuple of str
        Method codes and u* scenarios.
    ustar_method : {'mpt', 'cpd'}
    n_boot, seed : int
        The u* bootstrap's samples and seed (recorded).

    Returns
    -------
    TowerChain
        Without ``info['seconds']`` (the caller's timing).
    """
    df = tower.data
    med = median_scenario(scenarios)
    step_s = 86400.0 / float(tower.site.records_per_day or 48)
    table = sps[med].table.copy()
    for c in DRIVERS:
        table[f"{c}_F_QC"] = driver_qc[c + "_F_QC"].to_numpy()
    for s in scenarios:
        table[f"USTAR_TH_{s}"] = fills[s].thresholds
        table[f"USTAR_FLAG_{s}"] = fills[s].flags.astype("int8")
        for suffix, name in (("_F", "_F"), ("_F_QC", "_F_QC"), ("_F_SD", "_RANDUNC")):  # FLUXNET2015 names
            table[f"NEE_{s}{name}"] = fills[s].columns[f"NEE{suffix}"].to_numpy()
        for m in methods:
            for flux in ("RECO", "GPP", "QC"):
                table[f"{flux}_{m}_{s}"] = sps[s].table[f"{flux}_{m}"].to_numpy()
    cols = {s: fills[s].columns for s in scenarios}
    summary = _summary(tower, sps, cols, {s: fills[s].thresholds for s in scenarios}, methods, scenarios, med,
                       step_s)
    info = {"ustar_method": ustar_method, "n_boot": int(n_boot), "seed": int(seed), "scenarios": list(scenarios),
            "median_scenario": med, "methods": list(methods),
            "filled": {s: {"measured": int((cols[s]["NEE_F_QC"] == 0).sum()),
                           "filled": int(cols[s]["NEE_F_QC"].isin([1, 2, 3]).sum()),
                           "unfilled": int(cols[s]["NEE_F"].isna().sum()),
                           "ustar_removed": int(((fills[s].flags != 0) & df["NEE"].notna().to_numpy()).sum())}
                       for s in scenarios}}
    return TowerChain(table=table, summary=summary, windows=sps[med].windows, thresholds=thr_table,
                      partitions=sps, info=info, methods=methods, scenarios=scenarios,
                      options={**sps[med].options, "raw_chain": {k: info[k] for k in ("ustar_method", "n_boot", "seed",
                                                                                         "scenarios")}})


def raw_to_partitioned(tower, methods=None, ustar_method="mpt", n_boot=100, seed=1, scenarios=SCENARIOS,
                       options=None, mds_options=None, fit_qc_only=True, progress=None, cancelled=None,
                       workers=None):
    """Raw NEE of one tower to u*-filtered, gap-filled and partitioned fluxes per u* scenario.

    Parameters
    ----------
    tower : TowerData
        Raw records (:func:`~ecoresp_core.io.towers.read_tower`): NEE (umol CO2 m-2 s-1, NaN where
        not measured; NEE_QC 0 = measured when present), USTAR (m s-1), SW_IN (W m-2), TA (degC),
        VPD (hPa), SW_IN_POT (W m-2), RH (%, optional).
    methods : str or sequence of str or None
        Partitioning methods (:func:`~ecoresp_core.partitioning.sitepartition.parse_methods`).
    ustar_method : {'mpt', 'cpd'}
        Moving point test or change-point detection.
    n_boot : int
        Bootstrap samples including the original data (REddyProc ``nSample``).
    seed : int
        Seed of the bootstrap (same seed, same result).
    scenarios : sequence of str
        Bootstrap percentiles of the thresholds: any of ``"05"``, ``"16"``, ``"50"``, ``"84"``, ``"95"``.
    options : dict or None
        Options of ``partition_site``.
    mds_options : MDSOptions or None
        MDS rules (default REddyProc's).
    fit_qc_only : bool
        Methods fit measured NEE only (default, recommended).
    progress, cancelled : callable or None
        Progress (fraction 0..1) and Cancel hooks (:class:`~ecoresp_core.common.progress.Progress`).
    workers : Workers or None
        Lanes for the bootstrap of the model evidence (``options['evidence']``), which runs for the
        median scenario only.

    Returns
    -------
    TowerChain
    """
    if not isinstance(tower, TowerData):
        raise InputError("raw chain: expected a TowerData (read_tower)")
    methods = parse_methods(methods)
    scenarios = check_scenarios(scenarios)
    df = tower.data
    check_raw_columns(df)
    tracker = Progress(progress, cancelled)
    rpd = tower.site.records_per_day or None
    opt = mds_options or MDSOptions.reddyproc()
    seconds = {"ustar": 0.0, "drivers": 0.0, "fill": 0.0, "partition": 0.0}
    t0 = time.perf_counter()
    # 1. u* thresholds with the bootstrap (0-30 %)
    thr_table = ustar_thresholds(df, method=ustar_method, n_boot=n_boot, seed=seed,
                                 progress=tracker.sub(0.0, 0.3).step, cancelled=cancelled)
    tracker.step(0.3)
    seconds["ustar"], t0 = time.perf_counter() - t0, time.perf_counter()
    # 2. drivers, once (30-35 %)
    drivers_filled, driver_qc = fill_tower_drivers(df, opt, rpd)
    tracker.step(0.35)
    seconds["drivers"], t0 = time.perf_counter() - t0, time.perf_counter()
    # 3. and 4. per scenario: u* filter, NEE fill, partitioning (35-100 %)
    fills, sps = {}, {}
    span = 0.65 / len(scenarios)
    for i, s in enumerate(scenarios):
        a = 0.35 + i * span
        fills[s] = fill_scenario(drivers_filled, thr_table, s, ustar_method, opt, rpd)
        tracker.step(a + 0.15 * span)
        seconds["fill"], t0 = seconds["fill"] + time.perf_counter() - t0, time.perf_counter()
        sub = tracker.sub(a + 0.15 * span, a + span)
        sps[s] = partition_site(scenario_tower(tower, drivers_filled, fills[s]), methods,
                                options=scenario_options(options, s, scenarios), fit_qc_only=fit_qc_only,
                                progress=sub.step, cancelled=cancelled, workers=workers)
        seconds["partition"], t0 = seconds["partition"] + time.perf_counter() - t0, time.perf_counter()
    # 5. assembly
    out = assemble_chain(tower, thr_table, driver_qc, fills, sps, methods, scenarios, ustar_method, n_boot, seed)
    tracker.step(1.0)
    out.info["seconds"] = seconds
    return out
