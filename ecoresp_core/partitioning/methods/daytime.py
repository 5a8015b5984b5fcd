"""DT: day-time partitioning (Lasslop et al. 2010) as ONEFlux made FLUXNET2015 GPP_DT_VUT_REF."""

import pandas as pd

from .. import daytime
from ..inhibition import inhibition_from_rref
from .base import FitWindows, MethodResult, PartitionMethod, register

#: window-table columns of the light-response windows (DT, DT-RH stage C)
LRC_WINDOW_COLUMNS = dict(E0_K="e0", E0_SE_K="e0_se", RREF_NIGHT="rref_night", RREF_DAY="rref_day", GAMMA="gamma",
                          ALPHA="alpha", BETA="beta", K="k", N="n", CODE="code")


def lrc_windows(frame):
    """The light-response windows of a DaytimeResult/DtrhResult as :class:`FitWindows`."""
    return FitWindows.from_frame("light-response window", frame, **LRC_WINDOW_COLUMNS)


def residual_gpp(code, res):
    """RECO - NEE of a day-time method under its own name (GPP_<code> is the light-response GPP)."""
    g = res.gpp_residual
    return {} if g is None else {f"GPP_{code}_RECO_MINUS_NEE": pd.Series(g).rename(f"GPP_{code}_RECO_MINUS_NEE")}


@register
class Daytime(PartitionMethod):
    """Light-response curve with VPD limitation fitted to measured daytime NEE in 4-day windows,
    E0 from night-time data; GPP is the light-response GPP (FLUXNET2015 GPP_DT).

    :func:`~ecoresp_core.partitioning.daytime.partition_daytime` with ``gpp_output="model"``: GPP_DT
    is the light-response-curve GPP, as in FLUXNET2015 (GPP_DT_VUT_REF) and REddyProc.

    Options: ``options['DT']`` (keyword options of ``partition_daytime``).  ``fit_qc_only``: the night
    E0 and Rref fits, the light-response fits and the sdNEE look-up use measured NEE only."""
    code, label = "DT", "day-time (Lasslop et al. 2010)"
    default, order, gpp_modelled = True, 20.0, True

    def run(self, site_year, context):
        res = daytime.partition_daytime(site_year, **{"gpp_output": "model", "fit_qc_only": context.fit_qc_only,
                                                      **context.options})
        return MethodResult(reco=res.reco, gpp=res.gpp, qc=res.qc, windows=[lrc_windows(res.windows)],
                            flags=res.flags, native=res, series=residual_gpp(self.code, res))

    def compare(self, result, others):
        """INHIB_DT_NT_median_pct: median (Rref_NT - Rref_DT,day) / Rref_NT (%) when NT was requested."""
        nt = others.get("NT")
        if result.native.rref_day is None or nt is None:
            return {}
        inh = pd.Series(inhibition_from_rref(nt.native.rref, result.native.rref_day)).dropna()
        return {"INHIB_DT_NT_median_pct": float(inh.median())} if len(inh) else {}
