"""The HTML report of a site partitioning (:func:`report_html`).

It opens with a header (input file, site, years, methods, options, software version, date), then
the model evidence when it was computed, the annual sums of RECO and GPP per method and year, the
shares of measured and gap-filled records and the QC of every method, the fallbacks (fitting windows
whose records took the parameters of the nearest accepted window, the flags of every method), the
charts (mean diurnal and seasonal ER, day versus night temperature response, inhibition by month),
daytime ER by method and the site-year summary as a table with one row per quantity and a column
per site-year.  No table has more than :data:`MAX_COLUMNS` columns (wider ones are split) and no
legend is cut (:mod:`ecoresp_core.io.report`).
"""

import html
import os
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from ..io import report
from .methods import get

#: no table of the report is wider than this (transposed tables with more site-years are split)
MAX_COLUMNS = 12
#: the fit codes of the light-response windows (:mod:`.lightresponse`) in words
_WINDOW_CODES = {1002: "no fit", 1003: "beta uncertain", 1010: "no E0", 1011: "too few records"}
#: QC codes of the partitioned fluxes (:mod:`.qc`)
_QC_WORDS = ((0, "good (QC 0)"), (1, "refitted or fallback (QC 1)"), (2, "nearest fitting window > 14 days (QC 2)"),
             (9, "no value (QC 9)"))
#: option keys in words (the others are shown as they are)
_OPTION_WORDS = {"fit_qc_only": "fit only measured NEE", "n_boot": "bootstrap replicates", "seed": "random seed",
                 "joint": "joint model", "block_days": "block length (days)",
                 "joint_block_days": "joint-model block length (days)", "rh_at_night": "humidity modifier at night",
                 "rh_function": "humidity modifier", "evidence": "model evidence", "level": "interval level",
                 "folds": "cross-validation folds", "test_level": "test level"}
#: units of the summary columns by suffix
_UNITS = (("_gC", "g C m-2 yr-1"), ("_gC_min", "g C m-2 yr-1"), ("_gC_max", "g C m-2 yr-1"), ("_K", "K"),
          ("_pct", "%"), ("_coverage", "share"), ("_RMSE", "umol CO2 m-2 s-1"), ("_day_mean", "umol CO2 m-2 s-1"))


#: the estimates of the evidence section: (summary column stem, heading, format)
_EVIDENCE_ESTIMATES = (
    ("JOINT_E0_NIGHT_K", "E0 night (K)", "{:.0f}"), ("JOINT_E0_DAY_K", "E0 day (K)", "{:.0f}"),
    ("JOINT_E0_DIFF_K", "E0 day - night (K)", "{:.0f}"), ("JOINT_GAMMA", "gamma (%-1)", "{:.4f}"),
    ("JOINT_ER_DAY_DTRH", "day ER DT-RH", "{:.2f}"), ("JOINT_ER_DAY_DT", "day ER DT", "{:.2f}"),
    ("JOINT_ER_DAY_NT", "day ER NT", "{:.2f}"), ("JOINT_ER_DAY_RATIO_DTRH_NT", "DT-RH / NT", "{:.3f}"),
    ("JOINT_ER_DAY_RATIO_DTRH_DT", "DT-RH / DT", "{:.3f}"))


def _with_interval(row, stem, fmt):
    """'value [low, high]' of a summary estimate (the value alone without bootstrap)."""
    v = row.get(stem, np.nan)
    if v is None or not np.isfinite(v):
        return ""
    lo, hi = row.get(f"{stem}_CI_LO", np.nan), row.get(f"{stem}_CI_HI", np.nan)

    def num(x):
        text = fmt.format(x)
        return text[1:] if text.startswith("-") and not text.strip("-0.") else text   # no '-0.0000'

    text = num(v)
    if lo is not None and hi is not None and np.isfinite(lo) and np.isfinite(hi):
        text += f" [{num(lo)}, {num(hi)}]"
    return text


def _evidence_sections(sp, report):
    """The report sections of the model comparison (empty without one): per site-year the supported
    model and why, the estimates with their intervals, E0 and daytime ER charts, the model and test
    tables."""
    s = sp.summary
    if "SUPPORTED_MODEL" not in s and "flags_EVIDENCE" not in s:
        return []
    label = _site_year_labels(s)
    rows = [r for _, r in s.iterrows()]
    level = next((r.get("JOINT_LEVEL") for r in rows if np.isfinite(r.get("JOINT_LEVEL", np.nan))), 0.95)
    n_boot = next((int(r.get("JOINT_N_BOOT")) for r in rows if np.isfinite(r.get("JOINT_N_BOOT", np.nan))), 0)
    intro = ("<p>One joint model of all measured NEE of each site-year (night and day together, Rref and "
             "light response per block of days, E0 night, E0 day and gamma shared by the site-year) fitted "
             "four ways: DT (E0 day = E0 night, gamma = 0), DT-asym (E0 day free), DT-RHonly (gamma free) "
             "and DT-RH (both). An effect is supported when "
             + (f"its {level:.0%} bootstrap interval ({n_boot} replicates, days resampled within blocks) "
                "excludes zero, " if n_boot else "")
             + "the likelihood-ratio test with the effective number of records rejects its absence <i>and</i> "
             "adding it improves the held-out (blocked cross-validation) fit; a model that predicts held-out "
             "daytime NEE worse than DT by more than 2 SE is not supported. "
             "Intervals in brackets; daytime ER in umol CO2 m-2 s-1 (mean over the measured daytime "
             "records; NT: the night part of the model at daytime temperatures). Methods guide, "
             "docs/methods.md, section 20.</p>")
    items = []
    for lab, r in zip(label, rows):
        model = r.get("SUPPORTED_MODEL")
        text = r.get("EVIDENCE") if isinstance(r.get("EVIDENCE"), str) else r.get("flags_EVIDENCE", "")
        head = f"supported model <b>{html.escape(str(model))}</b>" if isinstance(model, str) else "no comparison"
        items.append(f"<li><b>{html.escape(lab)}</b>: {head}. {html.escape(str(text or ''))}</li>")
    est = pd.DataFrame({"estimate": ["supported model"] + [h for _, h, _ in _EVIDENCE_ESTIMATES],
                        **{lab: [str(r.get("SUPPORTED_MODEL", "") or "")]
                           + [_with_interval(r, stem, fmt) for stem, _, fmt in _EVIDENCE_ESTIMATES]
                           for lab, r in zip(label, rows)}})
    body = intro + f"<ul>{''.join(items)}</ul>" + report.table_html(est, max_cols=MAX_COLUMNS)

    def interval(stem):
        return tuple(s[c].to_numpy(dtype="float64") if c in s else np.full(len(s), np.nan)
                     for c in (stem, f"{stem}_CI_LO", f"{stem}_CI_HI"))

    body += report.interval_chart(list(label), {"E0 night": interval("JOINT_E0_NIGHT_K"),
                                                "E0 day": interval("JOINT_E0_DAY_K")},
                                  f"Temperature sensitivity by night and by day (bars: {level:.0%} intervals)",
                                  "E0 (K)")
    body += report.interval_chart(list(label), {"DT-RH": interval("JOINT_ER_DAY_DTRH"),
                                                "DT": interval("JOINT_ER_DAY_DT"),
                                                "NT (night model)": interval("JOINT_ER_DAY_NT")},
                                  f"Mean daytime ER (bars: {level:.0%} intervals)", "ER (umol CO2 m-2 s-1)")
    sections = [("Model evidence: DT, DT-asym, DT-RHonly and DT-RH per site-year", body)]
    m, t = sp.evidence, sp.evidence_tests
    if m is not None and len(m):
        tab = m.copy()
        key = ["site_id", "year", "MODEL"]
        if t is not None and len(t):
            vs_dt = t[t["AGAINST"] == "DT"][key + ["P_EFF", "N_EFF"]]
            tab = tab.merge(vs_dt, on=key, how="left")
        else:
            tab["P_EFF"] = tab["N_EFF"] = np.nan
        names = {"year": "year", "MODEL": "model", "AIC": "AIC", "DAIC": "dAIC", "BIC": "BIC", "DBIC": "dBIC",
                 "CV_CHI2": "held-out chi2", "CV_RMSE_DAY": "held-out day RMSE (umol m-2 s-1)",
                 "P_EFF": "LR p vs DT (effective n)", "N": "records", "N_EFF": "effective n"}
        if tab["site_id"].nunique() > 1:
            names = {"site_id": "site", **names}
        tab = tab[[c for c in names if c in tab]].rename(columns=names)
        note = ("<p>Held-out chi2: sum over the held-out records of ((model - NEE) / sdNEE)^2, each record capped "
                "at 25 (5 sdNEE); smaller is better. LR p: likelihood-ratio test against DT with the number of "
                "records reduced for the autocorrelation of the residuals.</p>")
        body = report.table_html(tab, max_cols=MAX_COLUMNS, keep=2) + note
        if t is not None and len(t):
            tt = t.copy()
            tt["test"] = tt["MODEL"] + " vs " + tt["AGAINST"]
            cols = {"year": "year", "test": "test", "DF": "df", "LR": "LR", "P": "p", "N_EFF": "effective n",
                    "P_EFF": "p (effective n)"}
            if tt["site_id"].nunique() > 1:
                cols = {"site_id": "site", **cols}
            body += report.table_html(tt[[c for c in cols if c in tt]].rename(columns=cols), max_cols=MAX_COLUMNS,
                                      keep=2)
        sections.append(("Model comparison: fit, held-out fit and tests", body))
    return sections


def _site_year_labels(s):
    """Column labels of the site-years: the year, with the site id when the summary has several sites."""
    label = s["year"].astype(str) if "year" in s else pd.Series([str(i) for i in range(len(s))])
    if "site_id" in s and s["site_id"].nunique() > 1:
        label = s["site_id"].astype(str) + " " + label
    return list(label)


def _step_seconds(t):
    d = np.diff(t.index.values).astype("timedelta64[s]").astype("int64") if len(t) > 1 else np.array([])
    return float(np.median(d)) if d.size else 1800.0


def _options_text(options):
    """'key: value; ...' of the run options (nested dicts in parentheses, keys in words)."""
    parts = []
    for k, v in options.items():
        name = _OPTION_WORDS.get(k, k)
        if isinstance(v, dict):
            parts.append(f"{name} ({_options_text(v)})" if v else f"{name} (defaults)")
        elif isinstance(v, bool):
            parts.append(f"{name}: {'yes' if v else 'no'}")
        elif isinstance(v, (list, tuple)):
            parts.append(f"{name}: {', '.join(map(str, v))}")
        else:
            parts.append(f"{name}: {v}")
    return "; ".join(parts)


def header_html(sp, source=None, notes=None, created=None):
    """The header of the report: input file, site, years, methods, options, software, date."""
    from .. import __version__
    from ..common.versions import versions

    s, t = sp.summary, sp.table
    rows = []
    if source:
        rows.append(("Input file", f'<span title="{html.escape(str(source))}">'
                                   f"{html.escape(os.path.basename(str(source)))}</span>"))
    sites = [str(x) for x in pd.unique(s["site_id"]) if x is not None and str(x) not in ("", "nan", "None")] \
        if "site_id" in s else []
    site = ", ".join(sites) or "unknown site id"
    lat, lon = (float(pd.to_numeric(s[c], errors="coerce").iloc[0]) if c in s and len(s) else np.nan
                for c in ("latitude", "longitude"))
    if np.isfinite(lat) and np.isfinite(lon):
        site += f" (latitude {lat:.4f}, longitude {lon:.4f})"
    rows.append(("Site", html.escape(site)))
    years = []
    for r in s.to_dict("records"):
        text = str(r.get("year", ""))
        if r.get("complete_year") is False or r.get("complete_year") == 0:
            text += f" (part of the year: {int(r.get('n_records', 0))} records)"
        years.append(text)
    step_min = _step_seconds(t) / 60.0 if t is not None else float("nan")
    rows.append(("Years", html.escape(", ".join(years)) + (f"; {len(t)} records of {step_min:g} min"
                                                            if t is not None and len(t) else "")))
    rows.append(("Methods", html.escape("; ".join(f"{c}: {get(c).label}" for c in sp.methods))))
    opts = {k: v for k, v in (sp.options or {}).items() if k != "methods"}
    rows.append(("Options", html.escape(_options_text(opts) or "defaults")))
    for k, v in (notes or {}).items():
        rows.append((html.escape(str(k)), html.escape(str(v))))
    libs = {k: v for k, v in versions().items() if k != "ecoresp"}
    rows.append(("Software", f"<b>ecoresp {html.escape(__version__)}</b> ("
                 + html.escape(", ".join(f"{k} {v}" for k, v in libs.items())) + ")"))
    created = created or datetime.now(timezone.utc)
    rows.append(("Created", html.escape(created.strftime("%Y-%m-%d %H:%M UTC"))))
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="header">{body}</table>'


def _per_year(t, s):
    """The table's records of each site-year of the summary, in its order."""
    years = t.index.year
    return [t[years == int(y)] for y in s["year"]] if "year" in s else [t]


def annual_sums_table(sp):
    """RECO and GPP annual sums (g C m-2 yr-1) of every method, then those of the reference
    partitioning in the file and the file's NEE: one row per quantity, a column per site-year."""
    from .sitepartition import MIN_SUM_COVERAGE, REFERENCE_COLUMNS, annual_sum_gc, coverage

    s, t = sp.summary, sp.table
    labels = _site_year_labels(s)
    step_s = _step_seconds(t)
    parts = _per_year(t, s)
    rows = []

    def cell(v, cov):
        if v is not None and np.isfinite(v):
            return f"{v:.1f}"
        if cov is not None and np.isfinite(cov):
            return f"not computed (coverage {cov:.1%} < {MIN_SUM_COVERAGE:.0%})"
        return "no sum: the method failed (see Fallbacks)"

    for flux in ("RECO", "GPP"):
        for code in sp.methods:
            col, cov = f"{flux}_{code}_gC", f"{flux}_{code}_coverage"
            vals = [cell(r.get(col, np.nan), r.get(cov, np.nan)) for r in s.to_dict("records")]
            rows.append({"quantity": f"{flux} {code}", **dict(zip(labels, vals))})
    for ref in sorted(REFERENCE_COLUMNS, key=lambda c: not c.startswith("RECO")):
        if ref in t and t[ref].notna().any():
            flux, method = ref.split("_")[:2]
            vals = [cell(annual_sum_gc(p[ref], step_s), coverage(p[ref])) for p in parts]
            rows.append({"quantity": f"{flux} {method}, reference partitioning in the file", **dict(zip(labels, vals))})
    if "NEE" in t:
        vals = [cell(annual_sum_gc(p["NEE"], step_s), coverage(p["NEE"])) for p in parts]
        rows.append({"quantity": "NEE of the file (measured and gap-filled)", **dict(zip(labels, vals))})
    return pd.DataFrame(rows)


def quality_table(sp):
    """Shares (%) of measured, gap-filled and missing NEE and of each QC class of every method, per site-year."""
    s, t = sp.summary, sp.table
    labels = _site_year_labels(s)
    parts = _per_year(t, s)
    rows = []

    def share(mask, n):
        return f"{100.0 * mask / n:.1f} %" if n else ""

    if "NEE_QC" in t:
        for name, test in (("NEE measured (QC 0)", lambda p: (p["NEE_QC"] == 0) & p["NEE"].notna()),
                           ("NEE gap-filled (QC 1-3)", lambda p: (p["NEE_QC"] > 0) & p["NEE"].notna()),
                           ("NEE missing", lambda p: p["NEE"].isna())):
            rows.append({"records": name, **{lab: share(int(test(p).sum()), len(p)) for lab, p in zip(labels, parts)}})
    for code in sp.methods:
        qc = f"QC_{code}"
        if qc not in t:
            continue
        for value, words in _QC_WORDS:
            rows.append({"records": f"RECO/GPP {code}: {words}",
                         **{lab: share(int((p[qc] == value).sum()), len(p)) for lab, p in zip(labels, parts)}})
    return pd.DataFrame(rows)


def windows_table(sp):
    """Per method and fitting stage and site-year: how many windows were rejected (their records take
    the parameters of the nearest accepted window) and why, or how many were valid."""
    s, w = sp.summary, sp.windows
    if w is None or not len(w):
        return pd.DataFrame()
    labels = _site_year_labels(s)
    rows = []
    for (code, stage), g in w.groupby(["method", "stage"], sort=False):
        row = {"fitting windows": f"{code} {stage}s"}
        for lab, year in zip(labels, s["year"] if "year" in s else [None]):
            gy = g[g["year"] == year] if year is not None else g
            n = len(gy)
            codes = gy["CODE"].dropna() if "CODE" in gy else pd.Series(dtype=float)
            if len(codes):
                bad = codes[codes != 0]
                why = ", ".join(f"{k} {_WINDOW_CODES.get(int(c), f'code {int(c)}')}"
                                for c, k in bad.value_counts().sort_index().items())
                row[lab] = f"{len(bad)} of {n} rejected ({why})" if len(bad) else f"all {n} accepted"
            elif "VALID" in gy and gy["VALID"].notna().any():
                row[lab] = f"{int((gy['VALID'] == 1).sum())} of {n} valid"
            else:
                row[lab] = f"{n}"
        rows.append(row)
    return pd.DataFrame(rows)


def flag_messages(sp):
    """[(site-year label, method, level, sentence, flag), ...]: every flag of every method and site-year
    in plain language (:func:`.messages.describe`: 'info' what was done, 'warning' worth a look), with
    the records the annual sums had to do without, and the failures of the model comparison."""
    from .messages import describe
    from .sitepartition import _sum_flags

    s, t = sp.summary, sp.table
    step_s = _step_seconds(t)
    out = []
    for lab, r in zip(_site_year_labels(s), s.to_dict("records")):
        year = r.get("year")
        for code in sp.methods:
            res = (sp.results or {}).get((year, code))
            if res is None:
                text = r.get(f"flags_{code}")
                flags = [f for f in text.split("; ") if f.strip()] if isinstance(text, str) else []
                windows = None
            elif isinstance(res, Exception):
                flags, windows = [f"failed: {res}"], None
            else:
                flags, windows = [str(f) for f in (res.flags or [])] + _sum_flags(code, res, step_s), res.windows
            for f in flags:
                level, sentence = describe(f, code, windows)
                out.append((lab, code, level, sentence, f))
        text = r.get("flags_EVIDENCE")
        if isinstance(text, str) and text.strip():
            out.append((lab, "model evidence", "warning", f"the comparison of DT, DT-asym, DT-RHonly and DT-RH "
                        f"{text}; the partitioned fluxes are not affected", text))
    return out


def flags_html(sp):
    """The flags of every method and site-year as sentences: the warnings (worth a look) listed, the
    notes (what a method did, nothing to do) folded under them."""
    messages = flag_messages(sp)

    def item(lab, code, sentence, flag):
        return (f"<li><b>{html.escape(str(lab))} {html.escape(code)}</b>: {html.escape(sentence)}"
                + (f' <small>(flag <code>{html.escape(flag)}</code>)</small>' if flag != sentence else "") + "</li>")

    warnings = [item(lab, c, s, f) for lab, c, level, s, f in messages if level == "warning"]
    notes = [item(lab, c, s, f) for lab, c, level, s, f in messages if level != "warning"]
    out = (f"<p><b>Warnings</b> ({len(warnings)}, worth a look):</p><ul>{''.join(warnings)}</ul>" if warnings
           else "<p>No warnings.</p>")
    if notes:
        out += (f"<details><summary>Notes ({len(notes)}): what the methods did, nothing to do</summary>"
                f"<ul>{''.join(notes)}</ul></details>")
    return out


def _unit(col):
    for suffix, unit in _UNITS:
        if col.endswith(suffix):
            return unit
    return ""


def summary_table(sp):
    """The site-year summary with one row per quantity (and its unit) and a column per site-year;
    the flags are listed under Fallbacks."""
    s = sp.summary
    labels = _site_year_labels(s)
    skip = {"site_id", "year"}
    cols = [c for c in s.columns if c not in skip and not str(c).startswith("flags_")]
    rows = []
    for c in cols:
        vals = []
        for v in s[c]:
            if isinstance(v, (bool, np.bool_)):
                vals.append("yes" if v else "no")
            elif isinstance(v, (int, np.integer)):
                vals.append(str(int(v)))
            elif isinstance(v, (float, np.floating)):
                vals.append("" if not np.isfinite(v) else f"{v:.4g}")
            else:
                vals.append("" if v is None else str(v))
        rows.append({"quantity": c, "unit": _unit(str(c)), **dict(zip(labels, vals))})
    return pd.DataFrame(rows)


def report_html(sp, title="ecoresp partitioning report", source=None, notes=None, created=None):
    """HTML page of a :class:`~.sitepartition.SitePartition`: the header (input file ``source``,
    site, years, methods, options, ``notes`` = {label: text} such as the u* scenario, ecoresp and
    library versions, the date ``created``, default now), the model evidence when it was computed
    (the supported model of each site-year and why, E0 night and day, gamma and daytime ER with their
    intervals, the model table), annual sums of RECO and GPP per method and year, measured and
    gap-filled records and QC shares, fallbacks, mean diurnal and seasonal ER by method, day versus
    night temperature response, inhibition by month, daytime ER of each method relative to NT, and
    the site-year summary (one row per quantity)."""
    from .respiration import lt_factor

    t = sp.table
    sections = _evidence_sections(sp, report)
    sections.append(("Annual sums of RECO and GPP (g C m-2 yr-1)",
                     "<p>Sums over each calendar year of the half-hourly (or hourly) RECO and GPP of every method. "
                     "Records without a value count at the site-year mean when they are at most 2 % of the year; "
                     "with more the sum is not computed (methods guide, docs/methods.md, section 16).</p>"
                     + report.table_html(annual_sums_table(sp), max_cols=MAX_COLUMNS, css_class="annual-sums")))
    sections.append(("Measured and gap-filled records; QC of every method (% of the records)",
                     report.table_html(quality_table(sp), max_cols=MAX_COLUMNS, css_class="qc-shares")))
    wt = windows_table(sp)
    sections.append(("Fallbacks", "<p>Fitting windows per method and site-year. A rejected window's records take "
                     "the parameters of the neighbouring accepted windows (QC 2 when the nearest is more than 14 days "
                     "away). Why windows were rejected: no fit (the fit did not converge or gave parameters out of "
                     "range), beta uncertain (light saturation not determined), too few records (measured daytime "
                     "records), no E0 (no temperature sensitivity for the window).</p>"
                     + (report.table_html(wt, max_cols=MAX_COLUMNS, css_class="windows") if len(wt) else "")
                     + flags_html(sp)))
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
        if code in sp.methods and not isinstance(res, Exception):
            for which, e0 in res.temperature_sensitivity.items():
                curves[f"{year} {code}{' ' + which if which else ''} E0={e0:.0f} K"] = (temps, lt_factor(temps, e0))
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
            rows.append({"method": code, "description": get(code).label, "daytime ER mean (umol CO2 m-2 s-1)": v,
                         f"relative to {base} (%)": 100 * (v - b) / b if b else np.nan})
        sections.append(("Daytime ER by method", report.table_html(pd.DataFrame(rows))))
    sections.append(("Site-year summary", report.table_html(summary_table(sp), max_cols=MAX_COLUMNS, keep=2,
                                                            css_class="summary")))
    return report.page(title, sections, header=header_html(sp, source, notes, created))
