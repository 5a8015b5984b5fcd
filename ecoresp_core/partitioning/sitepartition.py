"""Several partitioning methods side by side on one tower table, site-year by site-year.

``partition_site(df, methods)`` runs the chosen methods on every calendar year of the tower
table (docs/methods.md section 3: NT and DT are fitted per site-year) and returns

- ``table``: one row per record: TIMESTAMP_START, TIMESTAMP_END, NEE, NEE_QC, TA, SW_IN, VPD,
  RH, IS_DAY (Rg > 4 W m-2 and SW_IN_POT > 0), and ``RECO_<M>``, ``GPP_<M>``, ``QC_<M>`` for each
  method M (GPP = RECO - NEE with gap-filled NEE, except the day-time methods DT, DTRH, DTASYM
  and DTRHONLY, whose GPP is the light-response-curve GPP as in FLUXNET2015 and REddyProc, their
  RECO - NEE in ``GPP_<M>_RECO_MINUS_NEE``; QC 0 good, 1 parameters refitted or fallback, 2 nearest
  fitting window (or training record) > 14 days away, 9 no RECO: the method failed for the
  site-year or a driver is missing on the record; :mod:`.qc`), plus the reference partitioning
  columns when the file has them (GPP_NT_REF, ...);
- ``summary``: one row per site-year: E0 night and day, Q10(10-20 degC), gamma, inhibition
  statistics, annual sums per method (g C m-2 yr-1, C = 12.011 g mol-1; NaN below
  ``MIN_SUM_COVERAGE`` of the records with a value, the coverage in RECO_<M>_coverage and
  GPP_<M>_coverage, any gap in flags_<M>), fit diagnostics,
  agreement with the reference partitioning when present, and the flags of every method;
- ``windows``: one row per fitting window of every method (NT E0 windows, DT and DT-RH 4-day
  light-response windows with day and night Rref and their inhibition, the blocks of DT-RH's joint
  model with their day and night Rref, or its 15-day stage-B windows with ``stage_b="windows"``),
  with the mean daytime TA, RH and VPD of the window, so that day and night
  temperature sensitivity can be studied per window and season and against air humidity;
- ``results``: the per-method result objects by (year, method) for further analysis;
- ``evidence``, ``evidence_tests`` (with ``options['evidence']``): DT-RH as a tested hypothesis
  (:mod:`.evidence`): the four nested models per site-year and their likelihood-ratio tests; the
  supported model, the evidence and the bootstrap intervals join the summary.

:func:`partition_site_year` partitions one site-year (also one on which every method fails) and
:func:`join_site_years` joins the site-years of a tower: ``partition_site`` is the two in a loop,
the batch on dask (``ecoresp_core.cube.sites``) one task per site-year.

Methods come from the registry of :mod:`ecoresp_core.partitioning.methods` (one module per method
family; codes: NT, DT, DTRH, DTASYM, DTRHONLY, RF, NN and whatever else is registered).  A method
that needs another's result (DT-RH stage A uses NT) declares it (``requires``) and runs after it.
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..common.keyvalue import parse_list
from ..common.metrics import metrics
from ..common.progress import Progress
from ..common.units import M_C
from ..errors import Cancelled, EcorespError, InputError
from ..io.towers import as_tower, split_years
from .methods import WINDOW_COLUMNS, MethodContext, get, methods as registered_methods, run_order

BASE_COLUMNS = ("TIMESTAMP_END", "NEE", "NEE_QC", "TA", "SW_IN", "SW_IN_POT", "VPD", "RH")
REFERENCE_COLUMNS = ("GPP_NT_REF", "GPP_DT_REF", "RECO_NT_REF", "RECO_DT_REF")


def method_codes():
    """Codes of the registered methods, in list order."""
    return tuple(m.code for m in registered_methods())


def default_methods():
    """Codes of the methods run when none are named (NT, DT, DTRH)."""
    return tuple(m.code for m in registered_methods() if m.default)


def method_labels():
    """{code: label} of the registered methods."""
    return {m.code: m.label for m in registered_methods()}


DEFAULT_METHODS = default_methods()


@dataclass
class SitePartition:
    """Output of :func:`partition_site` (module docstring); ``results`` maps (year, code) to a
    :class:`~ecoresp_core.partitioning.methods.MethodResult` or the exception of a failed fit."""
    table: pd.DataFrame
    summary: pd.DataFrame
    results: dict = field(default_factory=dict)
    windows: pd.DataFrame = None
    methods: tuple = DEFAULT_METHODS
    options: dict = field(default_factory=dict)
    evidence: pd.DataFrame = None
    evidence_tests: pd.DataFrame = None


def parse_methods(methods):
    """Method codes from a list or a comma-separated text (case-insensitive; '-' and '_' ignored),
    checked against the registry; None or empty -> :func:`default_methods`."""
    if isinstance(methods, str):
        methods = parse_list(methods)
    known = method_codes()
    codes = []
    for m in methods or default_methods():
        code = str(m).strip().upper().replace("-", "").replace("_", "")
        if not code:
            continue
        if code not in known:
            raise InputError(f"METHODS: unknown method {m!r}; use any of {', '.join(known)}")
        if code not in codes:
            codes.append(code)
    if not codes:
        raise InputError("METHODS: no method given")
    return tuple(codes)


def day_mask(df, day_rg_min=4.0):
    """Daytime records: SW_IN > day_rg_min and SW_IN_POT > 0 (docs/methods.md section 3, DT rule)."""
    return (df["SW_IN"] > day_rg_min) & (df["SW_IN_POT"] > 0)


#: annual sums need this share of the site-year's records with a value (docs/methods.md section 16):
#: the missing ones (at most ~7 days) count at the site-year mean, which biases the sum by at most
#: (1 - coverage) x |mean of the gap / annual mean - 1|, i.e. <= 2 % for gaps up to twice or down to
#: zero times the annual mean, below the random uncertainty of an annual sum
MIN_SUM_COVERAGE = 0.98


def annual_sum_gc(series, step_seconds, min_coverage=MIN_SUM_COVERAGE):
    """Sum of a flux (umol CO2 m-2 s-1) over the records, in g C m-2.  Records without a value
    (e.g. gaps in un-gap-filled temperature, QC 9) count at the mean of the others; with less than
    ``min_coverage`` of the records valid the sum is NaN.  The site summary states the coverage
    (``RECO_<M>_coverage``) and flags any gap (``flags_<M>``).  See ``coverage``."""
    v = np.asarray(series, dtype="float64")
    if v.size == 0 or coverage(v) < min_coverage:
        return float("nan")
    return float(np.nanmean(v) * v.size * step_seconds * 1e-6 * M_C)


def coverage(series):
    """Share of records with a finite value."""
    v = np.asarray(series, dtype="float64")
    return float(np.isfinite(v).mean()) if v.size else 0.0


def _sum_flags(code, res, step_s):
    """Flags of records without RECO/GPP and what the annual sums made of them (never silent)."""
    out = []
    for var, v in (("RECO", res.reco), ("GPP", res.gpp)):
        v = np.asarray(v, dtype="float64")
        miss = int((~np.isfinite(v)).sum())
        if not miss:
            continue
        days = miss * step_s / 86400.0
        cov = coverage(v)
        what = (f"counted at the site-year mean in {var}_{code}_gC" if cov >= MIN_SUM_COVERAGE else
                f"{var}_{code}_gC not computed (coverage < {MIN_SUM_COVERAGE:.0%})")
        cause = "QC 9, a driver missing" if var == "RECO" else "RECO or NEE missing"
        out.append(f"{var}_{code} missing on {miss} records ({days:.1f} days, {cause}; coverage {cov:.1%}): {what}")
    return out


def _summary_row(site, site_year, code_results, step_s):
    """One row of the site-year summary from the requested methods' results (or exceptions)."""
    dfy = site_year.data
    row = {"site_id": site.site_id, "year": site_year.site.year, "latitude": site.latitude,
           "longitude": site.longitude, "n_records": len(dfy),
           "n_measured": int((dfy["NEE_QC"] == 0).sum()), "complete_year": site_year.site.complete_year}
    ok = {c: r for c, r in code_results.items() if not isinstance(r, Exception)}
    for code, res in code_results.items():
        if isinstance(res, Exception):
            row[f"flags_{code}"] = f"failed: {res}"
            continue
        row[f"RECO_{code}_gC"] = annual_sum_gc(res.reco, step_s)
        row[f"RECO_{code}_coverage"] = coverage(res.reco)
        row[f"GPP_{code}_gC"] = annual_sum_gc(res.gpp, step_s)
        row[f"GPP_{code}_coverage"] = coverage(res.gpp)
        flags = [str(f) for f in (res.flags or [])] + _sum_flags(code, res, step_s)
        row[f"flags_{code}"] = "; ".join(flags)
        method = get(code)
        if method.gpp_modelled:       # how RECO - GPP fits the measured day-time NEE (in-sample)
            meas = (day_mask(dfy) & (dfy["NEE_QC"] == 0)).to_numpy()
            e = (np.asarray(res.reco, dtype=float) - np.asarray(res.gpp, dtype=float) - dfy["NEE"].to_numpy())[meas]
            e = e[np.isfinite(e)]
            row[f"NEE_{code}_DAY_RMSE"] = float(np.sqrt(np.mean(e ** 2))) if e.size else np.nan
        row.update(res.parameters)
        row.update(method.compare(res, ok))
        ref = method.references
        if ref[0] in dfy and dfy[ref[0]].notna().any():
            m = metrics(dfy[ref[0]].values, np.asarray(res.gpp, dtype=float))
            row[f"GPP_{code}_vs_REF_R2"] = m["R2"]
            row[f"GPP_{code}_vs_REF_RMSE"] = m["RMSE"]
            ref_sum = annual_sum_gc(dfy[ref[0]], step_s)
            row[f"GPP_{code}_REF_gC"] = ref_sum
            row[f"GPP_{code}_vs_REF_annual_pct"] = 100 * (row[f"GPP_{code}_gC"] - ref_sum) / ref_sum
    day = day_mask(dfy)
    for code, res in ok.items():
        row[f"RECO_{code}_day_mean"] = float(np.nanmean(np.asarray(res.reco, dtype=float)[day.values]))
    return row


def _window_rows(year, code, res, dfy):
    """The fitting windows of one method's result as rows of the window table: the window-table
    columns of each stage plus the window centre, the inhibition (Rref_night - Rref_day) /
    Rref_night (%) and the mean daytime TA, RH and VPD of the window."""
    out = []
    day = day_mask(dfy)
    for fw in res.windows:
        rows = pd.DataFrame({"year": year, "method": code, "stage": fw.stage, "start": fw.start, "end": fw.end})
        rows["centre"] = rows["start"] + (rows["end"] - rows["start"]) / 2
        for col in WINDOW_COLUMNS:
            rows[col] = fw.values[col] if col in fw.values else np.nan
            if col in ("VALID", "SELECTED"):
                rows[col] = rows[col].astype("float64")  # 1/0, NaN where the stage has no such flag
        with np.errstate(invalid="ignore", divide="ignore"):
            rows["INHIBITION_PCT"] = 100 * (rows["RREF_NIGHT"] - rows["RREF_DAY"]) / rows["RREF_NIGHT"]
        t = dfy.index.values
        lo = np.searchsorted(t, rows["start"].values)
        hi = np.searchsorted(t, rows["end"].values, side="right")
        for var in ("TA", "RH", "VPD"):
            v = np.where(day.values, dfy[var].values, np.nan) if var in dfy else np.full(len(dfy), np.nan)
            csum = np.concatenate([[0.0], np.nancumsum(v)])
            ccnt = np.concatenate([[0], np.cumsum(np.isfinite(v))])
            with np.errstate(invalid="ignore", divide="ignore"):
                rows[f"{var}_DAY_MEAN"] = (csum[hi] - csum[lo]) / (ccnt[hi] - ccnt[lo])
        rows["RREF_TREF_degC"] = 15.0
        out.append(rows)
    return out


def _run_one(code, site_year, options, done, step_s, fit_qc_only):
    """Run method ``code`` on a site-year; fit failures come back as InputError (not raised)."""
    method = get(code)
    ctx = MethodContext(options=dict(options.get(method.option_key or code, {})), all_options=options,
                        results=done, step_seconds=step_s, fit_qc_only=fit_qc_only)
    try:
        return method.run(site_year, ctx)
    except EcorespError as exc:
        return exc
    except (ValueError, np.linalg.LinAlgError, FloatingPointError) as exc:
        return InputError(f"{code} fit failed ({type(exc).__name__}: {exc})")


@dataclass
class SiteYearPartition:
    """One site-year partitioned (:func:`partition_site_year`), to be joined with the others of
    its tower by :func:`join_site_years`.

    Attributes
    ----------
    year : int
        Calendar year.
    table : pandas.DataFrame
        The year's rows of ``SitePartition.table`` (fluxes in umol CO2 m-2 s-1).
    summary : dict
        The year's row of ``SitePartition.summary`` (annual sums in g C m-2 yr-1).
    results : dict
        {code: MethodResult or the exception of a failed fit} of every method run (the requested
        ones and those they require).
    windows : list of pandas.DataFrame
        The fitting windows of the requested methods that were fitted.
    evidence, evidence_tests : pandas.DataFrame or None
        The model comparison's model and test tables (with ``options['evidence']``).
    errors : list of str
        "<site> <year> <code>: <message>" of every method that failed.
    """
    year: int
    table: pd.DataFrame
    summary: dict
    results: dict = field(default_factory=dict)
    windows: list = field(default_factory=list)
    evidence: pd.DataFrame = None
    evidence_tests: pd.DataFrame = None
    errors: list = field(default_factory=list)


def site_year_units(methods, options=None):
    """Progress weight of one site-year in method runs: every method run (the requested ones and
    those they require) counts one, the model comparison :func:`evidence_units`."""
    options = dict(options or {})
    return len(run_order(parse_methods(methods))) + evidence_units(evidence_options(options.get("evidence")))


def partition_site_year(site_year, methods=None, options=None, fit_qc_only=True, progress=None, workers=None):
    """Run ``methods`` on one site-year (the loop body of :func:`partition_site`).

    Parameters
    ----------
    site_year : TowerData
        One site-year as :func:`~ecoresp_core.io.towers.split_years` of the whole tower gives it
        (its ``site.year``, ``complete_year`` and ``records_per_day`` set); fluxes in
        umol CO2 m-2 s-1.
    methods, options, fit_qc_only, workers
        As :func:`partition_site`.
    progress : Progress, optional
        The site-year's share of the caller's progress
        (:class:`~ecoresp_core.common.progress.Progress`): one step before every method run,
        the model comparison a sub-range (weights of :func:`site_year_units`); Cancel honoured there.

    Returns
    -------
    SiteYearPartition
        Also when every method failed: then NaN and QC 9 for every method, the failures in the
        summary flags and in ``errors`` (:func:`join_site_years` raises when every year failed).
    """
    methods = parse_methods(methods)
    options = dict(options or {})
    progress = progress if progress is not None else Progress(None, None)
    ev_options = evidence_options(options.get("evidence"))
    todo = run_order(methods)
    units = max(len(todo) + evidence_units(ev_options), 1)
    step_s = 86400.0 / float(site_year.site.records_per_day or 48)
    site = site_year.site
    year = site.year
    dfy = site_year.data
    out = pd.DataFrame(index=dfy.index)
    for c in BASE_COLUMNS:
        if c in dfy:
            out[c] = dfy[c]
    out["IS_DAY"] = day_mask(dfy).astype("int8")
    code_results, errors, wparts = {}, [], []
    for done, code in enumerate(todo):
        progress.step(done / units)
        ok = {c: r for c, r in code_results.items() if not isinstance(r, Exception)}
        res = _run_one(code, site_year, options, ok, step_s, fit_qc_only)
        if isinstance(res, Exception):
            errors.append(f"{site.site_id or 'site'} {year} {code}: {res}")
        code_results[code] = res
    for code in methods:
        res = code_results[code]
        if isinstance(res, Exception):
            out[f"RECO_{code}"] = np.nan
            out[f"GPP_{code}"] = np.nan
            out[f"QC_{code}"] = np.int16(9)
        else:
            out[f"RECO_{code}"] = np.asarray(res.reco, dtype="float64")
            out[f"GPP_{code}"] = np.asarray(res.gpp, dtype="float64")
            out[f"QC_{code}"] = res.qc_codes(len(dfy))
            for name, ser in (res.series or {}).items():
                out[name] = np.asarray(ser, dtype="float64")
    for ref in REFERENCE_COLUMNS:
        if ref in dfy:
            out[ref] = dfy[ref]
    for code in methods:
        if not isinstance(code_results[code], Exception):
            wparts.extend(_window_rows(year, code, code_results[code], dfy))
    row = _summary_row(site, site_year, {c: code_results[c] for c in methods}, step_s)
    models = tests = None
    if ev_options is not None:
        ev = _run_evidence(site_year, ev_options, progress.sub(len(todo) / units, 1.0), workers)
        if isinstance(ev, Exception):
            row["flags_EVIDENCE"] = f"failed: {ev}"
            row["EVIDENCE"] = f"model comparison failed: {ev}"
        else:
            row.update(ev.summary)
            models = evidence_table(ev.models, site.site_id, year)
            tests = evidence_table(ev.tests, site.site_id, year)
    return SiteYearPartition(year=year, table=out, summary=row, results=code_results, windows=wparts,
                             evidence=models, evidence_tests=tests, errors=errors)


def join_site_years(parts, methods=None, options=None):
    """The SitePartition of a tower from its site-years (:func:`partition_site_year`, in year order).

    Parameters
    ----------
    parts : sequence of SiteYearPartition
    methods, options
        As given to :func:`partition_site_year`.

    Returns
    -------
    SitePartition

    Raises
    ------
    InputError
        "no method could be fitted: ..." with every failure when every requested method failed
        in every site-year (or there is none).
    """
    methods = parse_methods(methods)
    options = dict(options or {})
    results = {(p.year, code): res for p in parts for code, res in p.results.items()}
    table = pd.concat([p.table for p in parts]) if parts else pd.DataFrame()
    if all(isinstance(p.results[c], Exception) for p in parts for c in methods):
        raise InputError("no method could be fitted: " + " | ".join(e for p in parts for e in p.errors))
    summary = pd.DataFrame([p.summary for p in parts])
    wparts = [w for p in parts for w in p.windows]
    windows = pd.concat(wparts, ignore_index=True) if wparts else pd.DataFrame()
    ev_models = [p.evidence for p in parts if p.evidence is not None]
    ev_tests = [p.evidence_tests for p in parts if p.evidence_tests is not None]
    return SitePartition(table=table, summary=summary, results=results, methods=methods,
                         options={"methods": list(methods), **options}, windows=windows,
                         evidence=pd.concat(ev_models, ignore_index=True) if ev_models else None,
                         evidence_tests=pd.concat(ev_tests, ignore_index=True) if ev_tests else None)


def partition_site(df, methods=None, options=None, progress=None, cancelled=None, fit_qc_only=True,
                   workers=None):
    """Run ``methods`` on every site-year of a tower table (see the module docstring).

    Parameters
    ----------
    df : TowerData or pandas.DataFrame
        The tower table (:func:`~ecoresp_core.io.towers.read_tower`); a plain DataFrame gets the
        site information :func:`~ecoresp_core.io.towers.as_tower` infers (no site id, no
        coordinates).
    methods : str or sequence of str, optional
        Method codes (:func:`parse_methods`); default :func:`default_methods`.
    options : dict, optional
        {option key: {keyword options of the method}}: 'NT', 'DT', 'DTRH' (all DT-RH variants),
        'ML' (RF and NN), or a registered method's ``option_key``; plus 'kok' (bool, default True)
        and 'KOK' ({...} of ``kok_windows``); 'evidence': the model comparison of DT, DTASYM,
        DTRHONLY and DTRH per site-year (:mod:`.evidence`): None/False (default) or True or a dict
        of EvidenceOptions fields (n_boot, seed, folds, level, test_level) plus 'joint' (JointOptions
        fields); its columns (SUPPORTED_MODEL, EVIDENCE, JOINT_*) join the summary, its model and
        test tables are ``evidence`` and ``evidence_tests``.
    progress, cancelled : callable, optional
        Progress (fraction 0-1) and cancellation hooks.
    fit_qc_only : bool
        Every method fits measured NEE (NEE_QC == 0) only (default); False lets them fit gap-filled
        NEE too (see each method's ``fit_qc_only``); a method's own options override it.
    workers : object, optional
        Lanes for the bootstrap of the model evidence (``ecoresp_core.jobs.parallel.Workers``);
        the results do not depend on it.

    Returns
    -------
    SitePartition
        A method that fails for a site-year (e.g. too little night data for a temperature-
        sensitivity fit) gets NaN and QC 9 for that year and its message in the summary flags;
        if every method fails for every year, InputError is raised with the messages.
    """
    methods = parse_methods(methods)
    options = dict(options or {})
    progress = Progress(progress, cancelled)
    years = split_years(as_tower(df))
    evidence_options(options.get("evidence"))  # bad settings stop the run before any site-year
    units = site_year_units(methods, options)
    total = len(years) * units
    parts = [partition_site_year(sy, methods, options, fit_qc_only,
                                 progress.sub(i * units / total, (i + 1) * units / total), workers)
             for i, (_, sy) in enumerate(years)]
    progress.step(1.0)
    return join_site_years(parts, methods, options)


def evidence_options(value):
    """The ``options['evidence']`` of :func:`partition_site`: None/False (no model comparison),
    True (the defaults) or a dict of EvidenceOptions fields plus 'joint' (JointOptions fields)."""
    if value is None or value is False:
        return None
    if value is True:
        return {}
    from .evidence import EvidenceOptions
    from .jointfit import JointOptions
    out = dict(value)
    opts = {k: v for k, v in out.items() if k != "joint"}
    try:  # bad settings stop the run here, not as a flag on every site-year
        EvidenceOptions(**opts)
        JointOptions(**dict(out.get("joint") or {}))
    except TypeError as exc:
        raise InputError(f"evidence options: {exc}") from None
    return out


#: progress weight of one site-year's model comparison, in method runs: its fits and cross-validation
#: take about ten times one method's run (DE-Tha 1998: 10 s against 1 s for each of NT, DT and DTRH)
#: and each bootstrap replicate 0.6 to 0.9 times
EVIDENCE_BASE_UNITS, EVIDENCE_UNITS_PER_REPLICATE = 10.0, 0.6


def evidence_units(ev_options):
    """Progress weight of one site-year's model comparison in method runs (0 without it)."""
    if ev_options is None:
        return 0.0
    from .evidence import EvidenceOptions
    n_boot = ev_options.get("n_boot", EvidenceOptions.n_boot)
    try:
        n_boot = max(int(n_boot), 0)
    except (TypeError, ValueError):
        n_boot = 0  # EvidenceOptions reports the bad value
    return EVIDENCE_BASE_UNITS + EVIDENCE_UNITS_PER_REPLICATE * n_boot


def evidence_table(table, site_id, year):
    """A model or test table of :func:`.evidence.site_year_evidence` as ``SitePartition.evidence``
    / ``evidence_tests`` rows: site_id and year first, the other columns in FLUXNET style (upper
    case, units as suffix: MODEL, E0_NIGHT_K, E0_DAY_K, GAMMA, ..., AIC, BIC, CV_CHI2, CV_RMSE_DAY;
    MODEL, AGAINST, DF, LR, P, N_EFF, LR_EFF, P_EFF, F, P_F)."""
    out = table.rename(columns=lambda c: str(c).upper())
    out.insert(0, "year", year)
    out.insert(0, "site_id", site_id)
    return out


def _run_evidence(site_year, ev_options, progress, workers=None):
    """The model comparison of one site-year (:mod:`.evidence`), or the InputError that stopped it;
    ``progress``: the Progress (sub-range) it reports into, with Cancel honoured at every
    bootstrap replicate."""
    from .evidence import site_year_evidence
    opts = dict(ev_options)
    joint = opts.pop("joint", None)
    try:
        return site_year_evidence(site_year, opts, joint, progress=progress.step, cancelled=progress.cancelled,
                                  workers=workers)
    except Cancelled:
        raise
    except EcorespError as exc:
        return exc
    except (ValueError, np.linalg.LinAlgError, FloatingPointError) as exc:
        return InputError(f"model comparison failed ({type(exc).__name__}: {exc})")


# the HTML report of a SitePartition (header, annual sums, QC shares, fallbacks, charts) lives in
# .sitereport; report_html stays importable from here
from .sitereport import report_html  # noqa: E402,F401
