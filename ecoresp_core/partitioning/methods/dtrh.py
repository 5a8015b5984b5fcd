"""DTRH, DTASYM, DTRHONLY: day-time partitioning with day/night temperature sensitivity and an RH
response (docs/methods.md section 7.2; :mod:`ecoresp_core.partitioning.dtrh`)."""

import pandas as pd

from .. import dtrh
from .base import FitWindows, MethodResult, PartitionMethod, register
from .daytime import lrc_windows, residual_gpp


class _Dtrh(PartitionMethod):
    """One DT-RH variant.  Uses the NT result of the site-year for stage A when NT succeeded.

    GPP_<code> is the stage-C light-response GPP (as DT's, the FLUXNET2015 GPP_DT definition), so
    that every day-time method is compared on the same footing; RECO - NEE is
    GPP_<code>_RECO_MINUS_NEE.

    Options: ``options['DTRH']`` (keyword options of ``partition_dtrh``, shared by the variants).
    ``fit_qc_only``: every stage fits measured NEE only (stage A takes NT's result, fitted so)."""
    variant = "DTRH"
    requires = ("NT",)
    option_key = "DTRH"
    gpp_modelled = True

    def run(self, site_year, context):
        nt = context.result("NT")
        res = dtrh.partition_dtrh(site_year, variant=self.variant, nt_result=nt.native if nt is not None else None,
                                  **{"gpp_output": "model", "fit_qc_only": context.fit_qc_only, **context.options})
        c = self.code
        params = {f"E0_NIGHT_{c}_K": res.e0_night, f"E0_DAY_{c}_K": res.e0_day,
                  f"E0_DAY_{c}_SE_K": res.e0_day_se, f"Q10_NIGHT_{c}": res.q10_night,
                  f"Q10_DAY_{c}": res.q10_day, f"GAMMA_{c}": res.gamma,
                  f"GAMMA_{c}_SE": res.gamma_se, f"RH_REF_{c}": res.rh_ref}
        inh = pd.Series(res.inhibition).dropna()
        if len(inh):
            params[f"INHIB_{c}_median_pct"] = float(100 * inh.median())
            params[f"INHIB_{c}_q25_pct"] = float(100 * inh.quantile(0.25))
            params[f"INHIB_{c}_q75_pct"] = float(100 * inh.quantile(0.75))
        windows = [lrc_windows(res.windows)]
        wb = res.windows_b
        if wb is not None and len(wb):
            joint = "rref_night" in wb
            windows.append(FitWindows.from_frame(
                "joint-model block" if joint else "day-time E0 and gamma window", wb, E0_K="e0_day",
                E0_SE_K="se_e0_day", RREF_DAY="rref_day", RREF_NIGHT="rref_night" if joint else None, GAMMA="gamma",
                GAMMA_SE="se_gamma", ALPHA="alpha", BETA="beta", K="k", N="n", SELECTED="selected"))
        return MethodResult(reco=res.reco, gpp=res.gpp, qc=res.qc, windows=windows, parameters=params,
                            flags=res.flags, temperature_sensitivity={"night": res.e0_night, "day": res.e0_day},
                            native=res, series=residual_gpp(c, res))


@register
class Dtrh(_Dtrh):
    """E0 by day and by night differ and respiration responds to RH (gamma); a proposal, section 7.2."""
    code = variant = "DTRH"
    label = "DT-RH (day/night temperature sensitivity and RH response)"
    default, order = True, 30.0


@register
class DtAsym(_Dtrh):
    """DT-RH with gamma = 0."""
    code, variant, order = "DTASYM", "DT-asym", 31.0
    label = "DT-asym (day/night temperature sensitivity only)"


@register
class DtRhOnly(_Dtrh):
    """DT-RH with the day E0 equal to the night E0."""
    code, variant, order = "DTRHONLY", "DT-RHonly", 32.0
    label = "DT-RHonly (RH response only)"
