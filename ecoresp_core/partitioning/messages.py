"""The flags of the partitioning methods in plain language, with what to do.

Each method records what it had to do for a site-year in short machine-readable flags
(``lrc_windows_rejected:11``, ``sdNEE_from_lookup``); they stay as they are in the summary's
``flags_<M>`` columns.  :func:`describe` turns one flag into a sentence a user can act on;
:func:`partition_messages` gives the sentences of a whole partitioning run, one per method,
site-year and flag, each with its level (:data:`INFO`: what was done, nothing to do;
:data:`WARNING`: worth a look).  Flags that are already sentences (e.g. the night-time method's
"E0 regression failed with ...") are passed on as they are.

Every flag code the core emits has an entry in :data:`FLAGS` (or :data:`PATTERNS` for codes with
a number in their name); a test reads the core's sources and checks it.
"""

import re

INFO, WARNING = "info", "warning"

#: why a light-response window was rejected, by its fit code (lightresponse.CODE_*)
LRC_REASONS = {
    1002: "the fit did not converge or gave parameters out of range",
    1003: "the light saturation could not be determined (beta above 100 with an error as large)",
    1010: "no temperature sensitivity (E0) for the window",
    1011: "too few measured daytime records",
}

_LOOK = ("look at the 'Fitting windows' layer (column CODE) and the QC_{method} column of the "
         "partitioned fluxes")

#: flag code -> (level, sentence); the sentence may use {n} (the flag's value), {total} (the
#: windows of that kind in the site-year, when known), {of_total} (" of <total>" or ""),
#: {why} (the reasons of rejected light-response windows), {detail} (the rest of the flag) and
#: {method} (the method's code)
FLAGS = {
    # -- day-time methods (DT, DT-RH stage C)
    "sdNEE_from_lookup": (INFO, "the file has no NEE uncertainty (sdNEE): it was estimated from similar "
                                "measured records (the MDS look-up, as REddyProc and ONEFlux do) to weight "
                                "the fits; nothing to do"),
    "night_e0_windows_extended": (INFO, "{n}{of_total} night-time E0 windows had too few night records and "
                                        "were widened, so their E0 mixes neighbouring weeks; nothing to do "
                                        "unless they cover most of the year"),
    "night_e0_windows_filled": (WARNING, "{n}{of_total} night-time E0 windows could not be fitted (too few "
                                         "measured night records or too narrow a temperature range) and took "
                                         "the E0 of the window before; if they are many, the year has little "
                                         "measured night-time NEE: check the u* filtering and the gaps"),
    "lrc_windows_rejected": (WARNING, "{n}{of_total} light-response windows rejected ({why}); their days use "
                                      "the parameters of the neighbouring accepted windows, interpolated. A few "
                                      "are usual (winter, long gaps); if many, " + _LOOK + " and compare "
                                      "with NT"),
    "lrc_windows_refitted": (INFO, "{n}{of_total} light-response windows refitted with a parameter fixed "
                                   "(no VPD limitation, or the light-use efficiency of the window before), as "
                                   "REddyProc and ONEFlux do; their records have QC 1; nothing to do unless "
                                   "most windows are refitted"),
    "lrc_windows_resp_only": (INFO, "{n}{of_total} light-response windows showed no light response and were "
                                    "refitted as respiration only (GPP 0), as ONEFlux does; their records "
                                    "have QC 1"),
    "records_far_from_window": (WARNING, "{n} records lie more than 14 days from the nearest accepted "
                                         "light-response window (a long gap in measured daytime NEE): their ER "
                                         "and GPP are extrapolated (QC 2); use them with care, e.g. leave QC 2 "
                                         "out of monthly means"),
    # -- night-time method (NT) and machine learning (RF, NN)
    "records_far_from_rref_window": (WARNING, "{n} records lie more than 14 days from the nearest night-time "
                                              "Rref window (a long gap in measured night-time NEE): their ER "
                                              "is extrapolated (QC 2); use them with care, e.g. leave QC 2 out "
                                              "of monthly means"),
    "records_far_from_training_data": (WARNING, "{n} records lie more than 14 days from the nearest measured "
                                                "night record used for training (a long gap): their ER is "
                                                "predicted from other seasons (QC 2); use them with care"),
    # -- DT-RH variants (DTRH, DTASYM, DTRHONLY) and their joint model
    "rh_from_vpd_ta": (INFO, "relative humidity missing on {n} records was derived from VPD and air "
                             "temperature; if RH is measured in another column, map it with the column "
                             "mapping (RH=<column>)"),
    "stage_a_nighttime_module": (INFO, "night-time E0 and Rref taken from the night-time method (NT)"),
    "stage_a_builtin_nt": (INFO, "night-time E0 and Rref taken from DT-RH's own night-time fits"),
    "nt_e0_fewer_than_N_windows": (WARNING, "only {n} night-time E0 windows could be fitted ({k} wanted): the "
                                            "night E0 is their mean and less certain; compare it with NT's "
                                            "E0 in the site-year summary"),
    "joint_model_failed": (WARNING, "the joint day-and-night model could not be fitted ({detail}); day-time E0 "
                                    "and the humidity response were fitted in 15-day windows instead, as first "
                                    "proposed"),
    "stage_b_joint": (INFO, "day-time E0, night-time E0 and the humidity response fitted together by the joint "
                            "model of all measured NEE"),
    "stage_b_valid_windows": (WARNING, "only {k} 15-day windows gave a day-time E0 and humidity response "
                                       "({need} needed): this year uses plain DT instead (no humidity "
                                       "response, QC 1 or more); more measured daytime NEE with RH is needed, "
                                       "compare with DT"),
    "stage_a_refit_with_rh": (INFO, "night-time E0 and Rref refitted with the humidity response"),
    "e0_night_from_nt_without_rh": (INFO, "night-time E0 kept from NT (fitted without the humidity response); "
                                          "only Rref was set at the reference humidity"),
    "blocks_without_enough_day_or_night_records": (WARNING, "{n} blocks had too few measured day or night "
                                                            "records and were left out of the joint model; "
                                                            "if they are many, the year has long gaps"),
    # -- any method
    "failed": (WARNING, "could not be fitted for this year: {detail}. Its RECO and GPP are empty for the year "
                        "(QC 9); the other methods are not affected"),
    # -- isotopic partitioning (ecoresp:isotopepartition)
    "small_disequilibrium": (WARNING, "{detail}: the isotopic disequilibrium is too small to separate ER and "
                                      "GPP there (errors in delta_R or delta_A are amplified); lower the "
                                      "minimum only with precise delta_R and delta_A"),
    "nee_zero": (INFO, "{detail}"),
    "missing_input": (INFO, "{n} left empty: NEE, delta_N (or the isoflux), delta_R or delta_A missing"),
    # -- one light-response window (the 'flags' of the fitting-windows table)
    "neglect_vpd": (INFO, "too few records with VPD: fitted without the VPD limitation"),
    "k0_low_vpd": (INFO, "no VPD above the limitation threshold: fitted without the VPD limitation"),
    "k0_refit": (INFO, "refitted without the VPD limitation (its parameter came out negative)"),
    "k0": (INFO, "fitted without the VPD limitation"),
    "alpha_fixed": (INFO, "refitted with the light-use efficiency of the window before"),
    "resp_only": (INFO, "refitted as respiration only (GPP 0)"),
    "no_e0": (WARNING, "rejected: no temperature sensitivity (E0) for the window"),
    "rejected": (WARNING, "rejected: the fit was not accepted"),
    "too_few_records": (WARNING, "rejected: too few measured daytime records"),
    "codeN": (WARNING, "rejected: {why}"),
}

#: codes with a number in their name: (regular expression, FLAGS key, names of its groups)
PATTERNS = (
    (re.compile(r"nt_e0_fewer_than_(\d+)_windows"), "nt_e0_fewer_than_N_windows", ("k",)),
    (re.compile(r"code(\d+)"), "codeN", ("code",)),
)

_FLAG = re.compile(r"([A-Za-z][A-Za-z0-9_]*)(?::\s*(.*))?", re.S)

#: which fitting windows a count of a flag is out of (their stage in the method's windows)
WINDOW_STAGES = {"lrc_windows_rejected": "light-response window", "lrc_windows_refitted": "light-response window",
                 "lrc_windows_resp_only": "light-response window",
                 "night_e0_windows_extended": "light-response window",  # one night E0 per LRC window
                 "night_e0_windows_filled": "light-response window"}


def split_flag(flag):
    """(key of :data:`FLAGS`, code, value, groups) of a flag, or (None, None, flag, {}) for a flag
    that is a sentence (or a code without a sentence)."""
    text = str(flag).strip()
    m = _FLAG.fullmatch(text)
    if m is None:
        return None, None, text, {}
    code, value = m.group(1), (m.group(2) or "")
    if code in FLAGS:
        return code, code, value, {}
    for regex, key, names in PATTERNS:
        p = regex.fullmatch(code)
        if p:
            return key, code, value, dict(zip(names, p.groups()))
    return None, code, value, {}


def is_code(flag):
    """True when ``flag`` is a machine-readable code (one word, optionally ':value')."""
    return _FLAG.fullmatch(str(flag).strip()) is not None


def has_sentence(flag):
    """True when :func:`describe` has a sentence for ``flag`` (or it is a sentence already)."""
    return not is_code(flag) or split_flag(flag)[0] is not None


def _stage_windows(windows, stage):
    """The FitWindows of ``stage`` among ``windows`` (None when absent)."""
    for fw in windows or ():
        if getattr(fw, "stage", None) == stage:
            return fw
    return None


def _rejection_reasons(fw):
    """'7 with too few measured daytime records, 4 whose ...' of the rejected windows of ``fw``."""
    if fw is None or "CODE" not in fw.values:
        return "fit not accepted"
    counts = {}
    for code in fw.values["CODE"]:
        try:
            code = int(code)
        except (TypeError, ValueError):
            continue
        if code != 0:
            counts[code] = counts.get(code, 0) + 1
    if not counts:
        return "fit not accepted"
    parts = [f"{n}: {LRC_REASONS.get(c, f'fit code {c}')}" for c, n in sorted(counts.items(), key=lambda x: -x[1])]
    return "; ".join(parts)


def describe(flag, method="", windows=None):
    """(level, sentence) of one flag: :data:`INFO` or :data:`WARNING` and what happened with what
    to do; ``method`` names the method in the sentence, ``windows`` (the method's FitWindows of the
    site-year) gives the totals ('11 of 92 windows') and why windows were rejected.  A flag that
    is a sentence already, or unknown, comes back as it is, as a warning."""
    key, code, value, groups = split_flag(flag)
    if key is None:
        return WARNING, str(flag).strip()
    level, template = FLAGS[key]
    fields = {"n": value, "detail": value or code, "method": method or "the method", "why": "fit not accepted",
              "total": "", "of_total": "", **groups}
    if key == "stage_b_valid_windows":       # 3<5:fallback_plain_DT
        m = re.match(r"(\d+)<(\d+)", value)
        fields.update(k=m.group(1), need=m.group(2)) if m else fields.update(k=value, need="more")
    if key == "codeN":
        fields["why"] = LRC_REASONS.get(int(groups["code"]), f"fit code {groups['code']}")
    stage = WINDOW_STAGES.get(key)
    fw = _stage_windows(windows, stage) if stage else None
    if fw is not None:
        fields["total"] = str(len(fw.start))
        fields["of_total"] = f" of {len(fw.start)}"
    if key == "lrc_windows_rejected":
        fields["why"] = _rejection_reasons(fw)
    text = template.format(**fields)
    return level, text


def result_messages(label, flags, method="", windows=None):
    """[(level, '<label>: sentence'), ...] of the flags of one method's result."""
    return [(level, f"{label}: {text}") for level, text in
            (describe(f, method, windows) for f in flags or ()) if text]


def partition_messages(sp):
    """[(level, text), ...] of a partitioning run (``SitePartition``: its ``results`` by (year,
    method) and ``summary``): every flag of every requested method and site-year as a sentence
    starting '<method> <year>: ', then the failures of the model comparison."""
    out = []
    methods = list(getattr(sp, "methods", ()) or ())
    for (year, code), res in sorted((getattr(sp, "results", None) or {}).items(),
                                    key=lambda kv: (kv[0][0], methods.index(kv[0][1])
                                                    if kv[0][1] in methods else len(methods))):
        if code not in methods:
            continue
        label = f"{code} {year}"
        if isinstance(res, Exception):
            out.append((WARNING, f"{label}: {code} " + describe(f"failed: {res}", code)[1]))
            continue
        out.extend(result_messages(label, res.flags, code, res.windows))
    summary = getattr(sp, "summary", None)
    if summary is not None and "flags_EVIDENCE" in summary and "year" in summary:
        for year, text in zip(summary["year"], summary["flags_EVIDENCE"]):
            if isinstance(text, str) and text:
                detail = text[len("failed:"):].strip() if text.startswith("failed:") else text
                out.append((WARNING, f"model evidence {year}: the comparison of DT, DT-asym, DT-RHonly and "
                                     f"DT-RH failed ({detail}); the partitioned fluxes are not affected"))
    return out
