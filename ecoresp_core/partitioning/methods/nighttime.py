"""NT: night-time partitioning (Reichstein et al. 2005), plus the Kok low-light windows."""

import pandas as pd

from ...errors import EcorespError
from .. import nighttime
from ..inhibition import kok_windows, pooled_inhibition_ci
from .base import FitWindows, MethodResult, PartitionMethod, register


@register
class Nighttime(PartitionMethod):
    """Lloyd-Taylor fitted to measured night-time NEE: one E0 per site-year from 15-day windows,
    Rref every 4 days; GPP = RECO - NEE.

    The REddyProc rules (:func:`~ecoresp_core.partitioning.nighttime.partition_nighttime`).  Options:
    ``options['NT']`` (keyword options of ``partition_nighttime``); ``options['kok']``
    (default True) adds the Kok windows (``options['KOK']``: keyword options of ``kok_windows``,
    default rules "keenan2019") with the NT E0, Rref and GPP (growing-season rule), pooled by
    ``pooled_inhibition_ci`` (``options['KOK_POOL']``: its keyword options, e.g. n_boot and seed)
    into the summary: INHIB_KOK_pct (pooled inhibition, %), INHIB_KOK_SE_pct, INHIB_KOK_CI_LO_pct and
    INHIB_KOK_CI_HI_pct (95 % interval), KOK_valid_windows (windows pooled) and KOK_windows (all
    windows).  ``fit_qc_only``: the Lloyd-Taylor fits and the Kok regressions use measured NEE only."""
    code, label = "NT", "night-time (Reichstein et al. 2005)"
    default, order = True, 10.0

    def run(self, site_year, context):
        res = nighttime.partition_nighttime(site_year, **{"fit_qc_only": context.fit_qc_only, **context.options})
        if context.all_options.get("kok", True):
            try:
                res.kok = kok_windows(site_year, res.e0, rref_night=res.rref,
                                      **{"use_qc": context.fit_qc_only, "gpp": res.gpp,
                                         **context.all_options.get("KOK", {})})
            except EcorespError as exc:
                res.flags.append(f"Kok windows not computed: {exc}")
        params = {"E0_NT_K": res.e0, "E0_NT_SD_K": res.e0_se_mean, "Q10_NT": res.q10_10_20}
        w = res.e0_windows.copy()
        w["start"] = pd.to_datetime(w["start"])
        w["end"] = w["start"] + pd.Timedelta(days=float(res.options.get("e0_window_days", 15))) \
            - pd.Timedelta(minutes=1)
        windows = [FitWindows.from_frame("E0 night-time window", w, E0_K="E0", E0_SE_K="SD", RREF_NIGHT="rref",
                                         N="n", SELECTED="selected")]
        kok = getattr(res, "kok", None)
        if kok is not None:
            pool = pooled_inhibition_ci(kok, **{"level": 0.95, **context.all_options.get("KOK_POOL", {})})
            params.update(INHIB_KOK_pct=pool["mean"], INHIB_KOK_SE_pct=pool["se"],
                          INHIB_KOK_CI_LO_pct=pool["ci_lo"], INHIB_KOK_CI_HI_pct=pool["ci_hi"],
                          KOK_valid_windows=int(pool["k"]), KOK_windows=int(len(kok)))
            if len(kok):
                kw = pd.DataFrame({"start": kok["start"], "end": kok["end"], "rref_day": kok["rref_day"],
                                   "rref_night": kok.get("rref_night"), "e0": kok["e0_k"], "n": kok["n"],
                                   "valid": kok["valid"]})
                windows.append(FitWindows.from_frame("Kok low-light window", kw, E0_K="e0", RREF_NIGHT="rref_night",
                                                     RREF_DAY="rref_day", N="n"))
        return MethodResult(reco=res.reco, gpp=res.gpp, qc=res.qc, windows=windows, parameters=params,
                            flags=res.flags, temperature_sensitivity={"": res.e0}, native=res)
