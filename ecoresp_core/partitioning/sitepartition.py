"""Several partitioning methods side by side on one tower table, site-year by site-year.

``partition_site(df, methods)`` runs the chosen methods on every calendar year of the tower
table (docs/methods.md section 3: NT and DT are fitted per site-year) and returns

- ``table``: one row per record: TIMESTAMP_START, TIMESTAMP_END, NEE, NEE_QC, TA, SW_IN, VPD,
  RH, IS_DAY (Rg > 4 W m-2 and SW_IN_POT > 0), and ``RECO_<M>``, ``GPP_<M>``, ``QC_<M>`` for each
  method M (GPP = RECO - NEE with gap-filled NEE, except DT, whose GPP is the light-response-curve
  GPP as in FLUXNET2015 and REddyProc; QC 0 good, 1 parameters refitted or fallback, 2 nearest
  estimate > 14 days away,
  9 method failed for the site-year), plus the reference partitioning columns when the file has
  them (GPP_NT_REF, ...);
- ``summary``: one row per site-year: E0 night and day, Q10(10-20 degC), gamma, inhibition
  statistics, annual sums per method (g C m-2 yr-1, C = 12.011 g mol-1), fit diagnostics,
  agreement with the reference partitioning when present, and the flags of every method;
- ``windows``: one row per fitting window of every method (NT E0 windows, DT and DT-RH 4-day
  light-response windows with day and night Rref and their inhibition, DT-RH 15-day day-time E0 and
  gamma windows), with the mean daytime TA, RH and VPD of the window, so that day and night
  temperature sensitivity can be studied per window and season and against air humidity;
- ``results``: the per-method result objects by (year, method) for further analysis.

Method codes (column suffix): NT (Reichstein 2005), DT (Lasslop 2010), DTRH (DT-RH: day and
night temperature sensitivity differ, plus an RH response), DTASYM (E0_day free, gamma = 0),
DTRHONLY (E0_day = E0_night, gamma free).
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..blocks import Progress
from ..errors import EcorespError, InputError
from ..io.towers import split_years
from . import daytime, dtrh, mldaytime, nighttime
from ..common.metrics import metrics
from ..common.units import M_C
from .inhibition import inhibition_from_rref, kok_windows, pooled_inhibition

METHODS = ("NT", "DT", "DTRH", "DTASYM", "DTRHONLY", "RF", "NN")
DEFAULT_METHODS = ("NT", "DT", "DTRH")
DTRH_VARIANT = {"DTRH": "DTRH", "DTASYM": "DT-asym", "DTRHONLY": "DT-RHonly"}
METHOD_NAMES = {
    "NT": "night-time (Reichstein et al. 2005)",
    "DT": "day-time (Lasslop et al. 2010)",
    "DTRH": "DT-RH (day/night temperature sensitivity and RH response)",
    "DTASYM": "DT-asym (day/night temperature sensitivity only)",
    "DTRHONLY": "DT-RHonly (RH response only)",
    "RF": "random forest trained on measured night-time NEE, predicting ER for every record "
          "(drivers TA, VPD, RH, WS, SWC when present; leave-one-month-out CV)",
    "NN": "neural network (MLP) trained like RF",
}
ML_MODELS = {"RF": "rf", "NN": "nn"}
REFERENCES = {"NT": ("GPP_NT_REF", "RECO_NT_REF"), "DT": ("GPP_DT_REF", "RECO_DT_REF")}
BASE_COLUMNS = ("TIMESTAMP_END", "NEE", "NEE_QC", "TA", "SW_IN", "SW_IN_POT", "VPD", "RH")


@dataclass
class SitePartition:
    table: pd.DataFrame
    summary: pd.DataFrame
    results: dict = field(default_factory=dict)
    windows: pd.DataFrame = None
    methods: tuple = DEFAULT_METHODS
    options: dict = field(default_factory=dict)


def parse_methods(methods):
    """Method codes from a list or a comma-separated text (case-insensitive; '-' ignored)."""
    if isinstance(methods, str):
        methods = [m for m in methods.replace(";", ",").split(",")]
    codes = []
    for m in methods or DEFAULT_METHODS:
        code = str(m).strip().upper().replace("-", "").replace("_", "")
        if not code:
            continue
        if code not in METHODS:
            raise InputError(f"METHODS: unknown method {m!r}; use any of {', '.join(METHODS)}")
        if code not in codes:
            codes.append(code)
    if not codes:
        raise InputError("METHODS: no method given")
    return tuple(codes)


def day_mask(df, day_rg_min=4.0):
    """Daytime records: SW_IN > day_rg_min and SW_IN_POT > 0 (docs/methods.md section 3, DT rule)."""
    return (df["SW_IN"] > day_rg_min) & (df["SW_IN_POT"] > 0)


MIN_SUM_COVERAGE = 0.8


def annual_sum_gc(series, step_seconds, min_coverage=MIN_SUM_COVERAGE):
    """Sum of a flux (umol CO2 m-2 s-1) over the records, in g C m-2.  Records without a value
    (e.g. gaps in un-gap-filled temperature) count at the mean of the others; with less than
    ``min_coverage`` of the records valid the sum is NaN.  See ``coverage``."""
    v = np.asarray(series, dtype="float64")
    if v.size == 0 or coverage(v) < min_coverage:
        return float("nan")
    return float(np.nanmean(v) * v.size * step_seconds * 1e-6 * M_C)


def coverage(series):
    """Share of records with a finite value."""
    v = np.asarray(series, dtype="float64")
    return float(np.isfinite(v).mean()) if v.size else 0.0


def _run_method(code, dfy, nt_res, options):
    if code == "NT":
        return nighttime.partition_nighttime(dfy, **options.get("NT", {}))
    if code == "DT":  # GPP_DT is the light-response-curve GPP, as in FLUXNET2015 (GPP_DT_VUT_REF)
        return daytime.partition_daytime(dfy, **{"gpp_output": "model", **options.get("DT", {})})
    if code in ML_MODELS:
        return _MLResult(mldaytime.fit_ml_daytime_er(dfy, model=ML_MODELS[code], **options.get("ML", {})), dfy)
    return dtrh.partition_dtrh(dfy, variant=DTRH_VARIANT[code], nt_result=nt_res, **options.get("DTRH", {}))


class _MLResult:
    """ML daytime ER as a partitioning result: RECO = the model's ER for every record with complete
    drivers (trained on measured night-time NEE), GPP = RECO - NEE."""

    def __init__(self, ml, dfy):
        self.ml = ml
        self.reco = ml.reco.reindex(dfy.index)
        self.gpp = self.reco - dfy["NEE"]
        self.flags = list(ml.flags) + [f"dropped {k}: {v}" for k, v in ml.dropped_drivers.items()]
        self.qc = pd.Series(np.where(self.reco.notna(), 0, 9), index=dfy.index)
        pooled = ml.cv_metrics[(ml.cv_metrics["fold"] == "all") & (ml.cv_metrics["scope"] == "target")]
        self.cv_r2 = float(pooled["R2"].iloc[0]) if len(pooled) else float("nan")
        self.cv_rmse = float(pooled["RMSE"].iloc[0]) if len(pooled) else float("nan")
        self.windows = pd.DataFrame()


def _qc_of(code, res, n):
    qc = getattr(res, "qc", None)
    if qc is None:
        return np.zeros(n, dtype="int16")
    return np.asarray(pd.Series(qc).fillna(9), dtype="int16")


def _summary_row(site, year, dfy, code_results, step_s):
    row = {"site_id": site.get("site_id"), "year": year, "latitude": site.get("latitude"),
           "longitude": site.get("longitude"), "n_records": len(dfy),
           "n_measured": int((dfy["NEE_QC"] == 0).sum()), "complete_year": dfy.attrs.get("complete_year")}
    for code, res in code_results.items():
        if isinstance(res, Exception):
            row[f"flags_{code}"] = f"failed: {res}"
            continue
        row[f"RECO_{code}_gC"] = annual_sum_gc(res.reco, step_s)
        row[f"RECO_{code}_coverage"] = coverage(res.reco)
        row[f"GPP_{code}_gC"] = annual_sum_gc(res.gpp, step_s)
        row[f"flags_{code}"] = "; ".join(str(f) for f in (res.flags or []))
        if code == "NT":
            row.update(E0_NT_K=res.e0, E0_NT_SD_K=res.e0_sd, Q10_NT=res.q10_10_20)
            kok = getattr(res, "kok", None)
            if kok is not None:
                mean, se, k = pooled_inhibition(kok)
                row.update(INHIB_KOK_pct=mean, INHIB_KOK_SE_pct=se, KOK_valid_windows=int(k))
        if code in ML_MODELS:
            row.update({f"{code}_CV_R2_night": res.cv_r2, f"{code}_CV_RMSE_night": res.cv_rmse,
                        f"{code}_drivers": ",".join(res.ml.drivers_used)})
        if code in DTRH_VARIANT:
            row.update({f"E0_NIGHT_{code}_K": res.e0_night, f"E0_DAY_{code}_K": res.e0_day,
                        f"E0_DAY_{code}_SE_K": res.e0_day_se, f"Q10_NIGHT_{code}": res.q10_night,
                        f"Q10_DAY_{code}": res.q10_day, f"GAMMA_{code}": res.gamma,
                        f"GAMMA_{code}_SE": res.gamma_se, f"RH_REF_{code}": res.rh_ref})
            inh = pd.Series(res.inhibition).dropna()
            if len(inh):
                row[f"INHIB_{code}_median_pct"] = float(100 * inh.median())
                row[f"INHIB_{code}_q25_pct"] = float(100 * inh.quantile(0.25))
                row[f"INHIB_{code}_q75_pct"] = float(100 * inh.quantile(0.75))
        if code == "DT" and getattr(res, "rref_day", None) is not None and "NT" in code_results \
                and not isinstance(code_results["NT"], Exception):
            inh = inhibition_from_rref(code_results["NT"].rref, res.rref_day)
            inh = pd.Series(inh).dropna()
            if len(inh):
                row["INHIB_DT_NT_median_pct"] = float(inh.median())
        ref = REFERENCES.get(code)
        if ref and ref[0] in dfy and dfy[ref[0]].notna().any():
            m = metrics(dfy[ref[0]].values, np.asarray(res.gpp, dtype=float))
            row[f"GPP_{code}_vs_REF_R2"] = m["R2"]
            row[f"GPP_{code}_vs_REF_RMSE"] = m["RMSE"]
            ref_sum = annual_sum_gc(dfy[ref[0]], step_s)
            row[f"GPP_{code}_REF_gC"] = ref_sum
            row[f"GPP_{code}_vs_REF_annual_pct"] = 100 * (row[f"GPP_{code}_gC"] - ref_sum) / ref_sum
    day = day_mask(dfy)
    for code, res in code_results.items():
        if not isinstance(res, Exception):
            row[f"RECO_{code}_day_mean"] = float(np.nanmean(np.asarray(res.reco, dtype=float)[day.values]))
    return row


WINDOW_COLUMNS = {  # window table column -> (NT e0_windows, DT/DTRH windows, DTRH windows_b) source
    "E0_K": ("E0", "e0", "e0_day"),
    "E0_SE_K": ("SD", "e0_sd", "se_e0_day"),
    "RREF_NIGHT": ("rref", "rref_night", None),
    "RREF_DAY": (None, "rref_day", "rref_day"),
    "GAMMA": (None, "gamma", "gamma"),
    "GAMMA_SE": (None, None, "se_gamma"),
    "ALPHA": (None, "alpha", "alpha"),
    "BETA": (None, "beta", "beta"),
    "K": (None, "k", "k"),
    "N": ("n", "n", "n"),
    "VALID": ("valid", None, "valid"),
    "SELECTED": ("selected", None, "selected"),
    "CODE": (None, "code", None),
}


def _window_rows(year, code, res, dfy):
    """The fitting windows of one method's result as rows of the window table."""
    frames = []
    if code in ML_MODELS:
        return []
    if code == "NT":
        w = res.e0_windows.copy()
        w["start"] = pd.to_datetime(w["start"])
        w["end"] = w["start"] + pd.Timedelta(days=float(res.options.get("e0_window_days", 15))) \
            - pd.Timedelta(minutes=1)
        frames.append(("E0 night-time window", w, 0))
        kok = getattr(res, "kok", None)
        if kok is not None and len(kok):
            kw = pd.DataFrame({"start": kok["start"], "end": kok["end"], "rref_day": kok["rref_day"],
                               "rref_night": kok.get("rref_night"), "e0": kok["e0_k"], "n": kok["n"],
                               "valid": kok["valid"]})
            frames.append(("Kok low-light window", kw, 1))
    else:
        frames.append(("light-response window", res.windows, 1))
        wb = getattr(res, "windows_b", None)
        if wb is not None and len(wb):
            frames.append(("day-time E0 and gamma window", wb, 2))
    out = []
    day = day_mask(dfy)
    for stage, w, k in frames:
        rows = pd.DataFrame({"year": year, "method": code, "stage": stage,
                             "start": pd.to_datetime(w["start"]).values,
                             "end": pd.to_datetime(w["end"]).values})
        rows["centre"] = rows["start"] + (rows["end"] - rows["start"]) / 2
        for col, src in WINDOW_COLUMNS.items():
            name = "valid" if (col == "VALID" and "valid" in w) else src[k]
            rows[col] = w[name].values if name is not None and name in w else np.nan
            if col in ("VALID", "SELECTED"):
                rows[col] = rows[col].astype("float64")  # 1/0, NaN where the stage has no such flag
        if "RREF_NIGHT" in rows and "RREF_DAY" in rows:
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


def partition_site(df, methods=DEFAULT_METHODS, options=None, progress=None, cancelled=None):
    """Run ``methods`` on every site-year of the tower table ``df`` (see module docstring).

    ``options``: {'NT': {...}, 'DT': {...}, 'DTRH': {...}} keyword arguments of the methods.
    A method that fails for a site-year (e.g. too little night data for a temperature-
    sensitivity fit) gets NaN and QC 9 for that year and its message in the summary flags;
    if every method fails for every year, InputError is raised with the messages."""
    methods = parse_methods(methods)
    options = dict(options or {})
    progress = Progress(progress, cancelled)
    years = split_years(df)
    step_s = 86400.0 / float(df.attrs.get("records_per_day") or 48)
    site = dict(df.attrs)
    parts, rows, results, errors, wparts = [], [], {}, [], []
    todo = [m for m in methods]
    if any(m in DTRH_VARIANT for m in methods) and "NT" not in todo:
        todo.insert(0, "NT")  # DT-RH stage A uses the NT fit
    total = len(years) * len(todo)
    done = 0
    for year, dfy in years:
        out = pd.DataFrame(index=dfy.index)
        for c in BASE_COLUMNS:
            if c in dfy:
                out[c] = dfy[c]
        out["IS_DAY"] = day_mask(dfy).astype("int8")
        code_results = {}
        for code in todo:
            progress.step(done / max(total, 1))
            try:
                res = _run_method(code, dfy, code_results.get("NT") if not isinstance(
                    code_results.get("NT"), Exception) else None, options)
            except EcorespError as exc:
                res = exc
                errors.append(f"{site.get('site_id') or 'site'} {year} {code}: {exc}")
            except (ValueError, np.linalg.LinAlgError, FloatingPointError) as exc:
                res = InputError(f"{code} fit failed ({type(exc).__name__}: {exc})")
                errors.append(f"{site.get('site_id') or 'site'} {year} {code}: {res}")
            if code == "NT" and not isinstance(res, Exception) and options.get("kok", True):
                try:
                    res.kok = kok_windows(dfy, res.e0, rref_night=res.rref, **options.get("KOK", {}))
                except EcorespError as exc:
                    res.flags.append(f"Kok windows not computed: {exc}")
            code_results[code] = res
            results[(year, code)] = res
            done += 1
        for code in methods:
            res = code_results[code]
            if isinstance(res, Exception):
                out[f"RECO_{code}"] = np.nan
                out[f"GPP_{code}"] = np.nan
                out[f"QC_{code}"] = np.int16(9)
            else:
                out[f"RECO_{code}"] = np.asarray(res.reco, dtype="float64")
                out[f"GPP_{code}"] = np.asarray(res.gpp, dtype="float64")
                out[f"QC_{code}"] = _qc_of(code, res, len(dfy))
        for ref in ("GPP_NT_REF", "GPP_DT_REF", "RECO_NT_REF", "RECO_DT_REF"):
            if ref in dfy:
                out[ref] = dfy[ref]
        parts.append(out)
        for code in methods:
            if not isinstance(code_results[code], Exception):
                wparts.extend(_window_rows(year, code, code_results[code], dfy))
        rows.append(_summary_row(site, year, dfy, {c: code_results[c] for c in methods}, step_s))
    progress.step(1.0)
    table = pd.concat(parts) if parts else pd.DataFrame()
    if all(isinstance(results[(y, c)], Exception) for y, _ in years for c in methods):
        raise InputError("no method could be fitted: " + " | ".join(errors))
    summary = pd.DataFrame(rows)
    windows = pd.concat(wparts, ignore_index=True) if wparts else pd.DataFrame()
    return SitePartition(table=table, summary=summary, results=results, methods=methods,
                         options={"methods": list(methods), **options}, windows=windows)


def report_html(sp, title="ecoresp partitioning report"):
    """HTML page: mean diurnal and seasonal ER by method, day versus night temperature response,
    inhibition by month, daytime ER of each method relative to NT, and the site-year summary."""
    from .. import report
    from .respiration import lt_factor

    t = sp.table
    sections = []
    hour = t.index.hour + t.index.minute / 60.0
    month = t.index.month
    series_d, series_m = {}, {}
    for code in sp.methods:
        col = f"RECO_{code}"
        g = t[col].groupby(hour).mean()
        series_d[code] = (g.index.values, g.values)
        gm = t[col].groupby(month).mean()
        series_m[code] = (gm.index.values, gm.values)
    for ref in ("RECO_NT_REF", "RECO_DT_REF"):
        if ref in t and t[ref].notna().any():
            g = t[ref].groupby(hour).mean()
            series_d[ref] = (g.index.values, g.values)
    sections.append(("Mean diurnal and seasonal ecosystem respiration", report.line_chart(
        series_d, "Mean diurnal ER", "hour of day (local standard time)", "ER (umol CO2 m-2 s-1)")
        + report.line_chart(series_m, "Mean seasonal ER", "month", "ER (umol CO2 m-2 s-1)", markers=True)))
    temps = np.linspace(-5, 35, 81)
    curves = {}
    for (year, code), res in sp.results.items():
        if code in DTRH_VARIANT and code in sp.methods and not isinstance(res, Exception):
            curves[f"{year} {code} night E0={res.e0_night:.0f} K"] = (temps, lt_factor(temps, res.e0_night))
            curves[f"{year} {code} day E0={res.e0_day:.0f} K"] = (temps, lt_factor(temps, res.e0_day))
        if code == "NT" and code in sp.methods and not isinstance(res, Exception):
            curves[f"{year} NT E0={res.e0:.0f} K"] = (temps, lt_factor(temps, res.e0))
    sections.append(("Day versus night temperature response (R/Rref, Tref 15 degC)", report.line_chart(
        curves, "Lloyd-Taylor temperature response", "air temperature (degC)", "R / Rref(15 degC)")))
    inh = {}
    w = sp.windows if sp.windows is not None else pd.DataFrame()
    if len(w) and "INHIBITION_PCT" in w:
        for (code, stage), g in w.groupby(["method", "stage"]):
            if stage not in ("light-response window", "Kok low-light window"):
                continue
            g = g[np.isfinite(g["INHIBITION_PCT"]) & (g["VALID"].fillna(1) == 1)]
            if len(g):
                m = g.groupby(pd.to_datetime(g["centre"]).dt.month)["INHIBITION_PCT"].median()
                label = f"{code} Kok" if stage.startswith("Kok") else f"{code} Rref night vs day"
                inh[label] = (m.index.values, m.values)
    sections.append(("Inhibition of daytime respiration by month (median, %)", report.line_chart(
        inh, "(Rref_night - Rref_day) / Rref_night", "month", "inhibition (%)", markers=True)))
    if "IS_DAY" in t:
        day = t["IS_DAY"] == 1
        rows = []
        base = "NT" if "NT" in sp.methods else sp.methods[0]
        for code in sp.methods:
            v = t.loc[day, f"RECO_{code}"].mean()
            b = t.loc[day, f"RECO_{base}"].mean()
            rows.append({"method": code, "description": METHOD_NAMES[code], "daytime ER mean": v,
                         f"relative to {base} (%)": 100 * (v - b) / b if b else np.nan})
        sections.append(("Daytime ER by method", report.table_html(pd.DataFrame(rows))))
    sections.append(("Site-year summary", report.table_html(sp.summary)))
    return report.page(title, sections)
