"""DT-RH: daytime partitioning with asymmetric day/night temperature sensitivity and a
relative-humidity modifier of respiration (docs/methods.md section 7.2, a PROPOSAL: the equations of
Li et al. 2022 were not available, see open questions Q1/Q2).

    night: ER_n = Rref_n(t) f_T(T; E0_n) [f_RH(RH; gamma) if rh_at_night]
    day:   NEE  = Rref_d(t) f_T(T; E0_d) f_RH(RH; gamma) - GPP_LRC(Rg, VPD; alpha, beta, k)
    ER     = ER_d by day (SW_IN > 4 [& SW_IN_POT > 0 with day_night_rule="reddyproc"]) else ER_n;   GPP = ER - NEE

Stages
A  night-time fit: E0_n (one value per site-year: 15-day windows stepping 5 days, best 3 by
   SE) and Rref_n(t) (7-day windows stepping 4 days, regression through the origin, linear
   interpolation): ``nt_result`` if given (a nighttime.NighttimeResult: e0, e0_se_mean, rref), else
   nighttime.partition_nighttime, else (``stage_a="builtin"`` or no nighttime module) the
   built-in ``_nighttime_stage`` with the same rules (the two agree to 0.1 K).
B  E0_d and gamma: the full model (alpha, beta, k, Rref_d, E0_d, gamma) fitted by weighted
   least squares with the section 5.3 priors plus gamma ~ N(0, 0.02) in 15-day windows
   stepping 5 days, within bounds (projected Levenberg-Marquardt); valid windows
   (Rref_d > 0 and 0 < SE(E0_d) < 0.5 E0_d, E0_d +- SE inside the bounds; where gamma is free also
   gamma +- SE inside its bounds and 0 < SE(gamma) < 0.5 x the prior sd, i.e. the data carry
   information on gamma);
   E0_d and gamma = the mean over the 3 valid windows with the lowest SE; fewer than 3 ->
   plain DT with a flag.
A' with ``rh_at_night`` E0_n and Rref_n(t) are re-estimated (built-in NT rules) with f_RH(gamma)
   as a known factor, so that Rref_n and Rref_d are both at 15 degC and RH_ref and E0_n is not
   biased by the night-time RH-T covariance (``refit_e0_night_with_rh=False``: keep the NT E0_n,
   re-estimate Rref_n only).  DT-RHonly then repeats stage B once with the new E0_n.
C  4-day/2-day LRC windows (section 5.3 fall-backs) with E0 := E0_d and gamma fixed; the
   predictions are interpolated as in section 5.4.
D  day/night combination, GPP = ER - NEE, inhibition = (Rref_n - Rref_d)/Rref_n.

Day-time rules of stages B-D: those of daytime.partition_daytime (ONEFlux, which made FLUXNET2015
GPP_DT_VUT_REF), each with the previous REddyProc / section 5.3 rule as an option (partition_dtrh):
- sdNEE: the table's sdNEE, else the MDS look-up (daytime.sd_nee_lookup, ``sd_nee="lookup"``)
  instead of max(0.7, 0.2 |NEE|) for every record, and no floor at the window's 30 % quantile
  (``sd_floor_quantile=None``); used by the stage-B and stage-C fits;
- day = Rg > 4, night = Rg <= 4 (``day_night_rule="oneflux"``; "reddyproc" also needs SW_IN_POT
  > 0 / <= 0): the records fitted in B and C and the day/night switch of stage D;
- stage C: windows without a light response refitted with GPP = 0 (``resp_only_fallback``), window
  parameters attached to the window centre (``window_location="centre"``), LM stopping rule
  ``lrc_rtol`` 1e-6 as DT.  Stage B needs no GPP = 0 refit: its fit is bounded (alpha, beta >= 0), so a
  window without a light response ends at alpha or beta = 0 and its E0_d comes from respiration.
- DT's night-E0 rules (12-day windows weighted by 1/sdNEE, previous E0 for failed windows) concern
  DT's own E0 series: DT-RH takes E0_n from the NT fit of stage A (section 4 rules, unchanged); the
  plain-DT fall-back of stage B runs partition_daytime with these options.
On the 8 FLUXNET2015 site-years of tests/data/flux the stage-C light-response GPP (``gpp_model``)
against GPP_DT_VUT_REF went from median R2 0.972 / |annual| 7.3 % (previous rules) to 0.985 / 2.3 %
(tests/core/partitioning/test_dtrh_fluxnet.py); the closed loop (test_dtrh.py) still recovers E0_d
and gamma within 2.5 SE (over 10 synthetic seeds E0_d 218 +- 23 K for a true 250, previous rules
224 +- 15; gamma 0.0128 +- 0.0009 for 0.015, previous 0.0134 +- 0.0009; the stage-B SEs are ~30 %
larger, the look-up sdNEE being larger than the pure noise of the synthetic data).

Variants: "DTRH" (E0_d and gamma free), "DT-asym" (E0_d free, gamma = 0), "DT-RHonly"
(E0_d = E0_n, gamma free; windows ranked by SE(gamma)).
"""

import warnings
from dataclasses import asdict, dataclass, field
from types import SimpleNamespace

import numpy as np
import pandas as pd

from ..common.meteorology import rh_from_vpd
from ..errors import InputError
from . import daytime as dt
from .daytime import make_options
from . import lightresponse as lrc, qc as qcodes
from .respiration import TREF_DEGC, apparent_q10, lt_factor

VARIANTS = ("DTRH", "DT-asym", "DT-RHonly")


@dataclass
class DtrhResult:
    """Output of :func:`partition_dtrh` for one site-year.

    Attributes
    ----------
    reco, gpp : pandas.Series
        ER (day model by day, night model by night) and GPP (``gpp_output``), umol CO2 m-2 s-1.
    e0_night, e0_day : float
        Night and day temperature sensitivity (K).
    e0_night_se : float
        Uncertainty of ``e0_night`` (K): the mean of the selected windows' standard errors when it
        comes from nighttime.partition_nighttime, their root mean square when from the built-in
        stage A or the stage-A' refit (see :func:`e0_uncertainty`).
    e0_day_se, gamma_se : float
        Root mean square of the selected stage-B windows' standard errors (K, %-1).
    q10_night, q10_day : float
        Apparent Q10 between 10 and 20 degC.
    gamma : float
        RH sensitivity of respiration (%-1).
    rref_night, rref_day : pandas.Series
        Night and day Rref at Tref (umol CO2 m-2 s-1).
    inhibition : pandas.Series
        (Rref_night - Rref_day) / Rref_night (fraction).
    windows, windows_b : pandas.DataFrame
        Stage-C light-response windows; stage-B windows.
    qc : pandas.Series
        0 good, 1 refitted (day records: stage-C window; night records: NT's E0 fall-back) or the
        whole site-year from the plain-DT fall-back, 2 nearest light-response window (day records) or
        fitted night record (night records) > ``max_gap_days`` away (:mod:`.qc`).
    rh_ref : float
        Reference RH (%).
    flags, options, variant, extra
        Fall-backs, the settings, the variant and stage details.
    """
    reco: pd.Series
    gpp: pd.Series
    e0_night: float
    e0_night_se: float
    e0_day: float
    e0_day_se: float
    q10_night: float
    q10_day: float
    gamma: float
    gamma_se: float
    rref_night: pd.Series
    rref_day: pd.Series
    inhibition: pd.Series
    windows: pd.DataFrame
    flags: list
    options: dict
    windows_b: pd.DataFrame = None
    qc: pd.Series = None
    rh_ref: float = np.nan
    variant: str = "DTRH"
    reco_day_model: pd.Series = None
    reco_night_model: pd.Series = None
    gpp_model: pd.Series = None
    gpp_residual: pd.Series = None
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class DtrhOptions(dt.LightResponseOptions):
    """Settings of :func:`partition_dtrh`: those of
    :class:`~ecoresp_core.partitioning.daytime.LightResponseOptions` (stages B and C; ONEFlux's
    day-time rules by default) plus the DT-RH model and its stages.  :meth:`reddyproc` switches the
    day-time rules to REddyProc's (the previous behaviour).

    Attributes
    ----------
    rh_function : str
        "exp" or "linear" RH modifier.
    rh_ref : float or None
        Reference RH (%); None: site median of the measured RH.
    rh_at_night : bool
        The RH modifier applies at night too.
    gamma_bounds : tuple of float
        Bounds of gamma (%-1).
    gamma_prior : tuple of float
        Mean and SD of the gamma prior (%-1).
    e0d_bounds : tuple of float
        Bounds of the day E0 (K).
    stage_b_window_days, stage_b_step_days : int
        Stage-B windows: length and step (days).
    n_best : int
        Stage-B windows averaged (lowest SE).
    se_rel_max : float
        Largest SE(E0_d) / E0_d of a valid stage-B window.
    fallback_to_dt : bool
        Plain DT when fewer than ``n_best`` stage-B windows are valid (else InputError).
    gamma_se_rel_prior : float
        Largest SE(gamma) / prior SD of a valid window where gamma is free.
    refit_e0_night_with_rh : bool
        Stage A': E0_n and Rref_n refitted with f_RH(gamma) as a known factor.
    stage_a : str
        "auto", "module" or "builtin" night-time fit when no NT result is given.
    stage_b_rank : str
        "se" or "relative_se" ranking of the stage-B windows.
    dt_options : dict or None
        Keyword options of daytime.partition_daytime for the plain-DT fall-back.
    stage_b : str
        "joint" (default): E0_n, E0_d and gamma from one fit of the joint model of all measured
        NEE (:mod:`.jointfit`, blocks of ``joint_block_days``), which changes smoothly with the
        data; "windows": the 15-day windows and the mean of the ``n_best`` lowest-SE ones (the
        proposal of section 7.2, a discrete choice).
    joint_block_days : int
        Block length of the joint model (days).

    Notes
    -----
    ``fit_qc_only`` applies to every stage: A when it runs NT itself, B, C, the sdNEE look-up and
    the DT fall-back.
    """
    rh_function: str = "exp"
    rh_ref: float = None
    rh_at_night: bool = True
    gamma_bounds: tuple = (-0.05, 0.05)
    gamma_prior: tuple = (0.0, 0.02)
    e0d_bounds: tuple = (30.0, 450.0)
    stage_b_window_days: int = 15
    stage_b_step_days: int = 5
    n_best: int = 3
    se_rel_max: float = 0.5
    fallback_to_dt: bool = True
    gamma_se_rel_prior: float = 0.5
    refit_e0_night_with_rh: bool = True
    stage_a: str = "auto"
    stage_b_rank: str = "se"
    dt_options: dict = None
    stage_b: str = "joint"
    joint_block_days: int = 4

    def __post_init__(self):
        super().__post_init__()
        if self.stage_b_rank not in ("se", "relative_se"):
            raise InputError(f"stage_b_rank must be 'se' or 'relative_se', not {self.stage_b_rank!r}")
        if self.stage_b not in ("joint", "windows"):
            raise InputError(f"stage_b must be 'joint' or 'windows', not {self.stage_b!r}")
        if self.rh_function not in ("exp", "linear"):
            raise InputError(f"rh_function must be 'exp' or 'linear', not {self.rh_function!r}")

    @classmethod
    def reddyproc(cls, **changes):
        """The previous (REddyProc / docs/methods.md 5.3) day-time rules in full, with stage B in
        15-day windows as before the joint model."""
        return cls(**{**cls.REDDYPROC, "lrc_rtol": 1e-9, "stage_b": "windows", **changes})


# ------------------------------------------------------------------ stage A (night)
def _day_windows(n, rpd, win_days, step_days, first_centre_day):
    """Windows of ``win_days`` centred every ``step_days`` from ``first_centre_day`` (record
    positions start, stop, centre); truncated at the ends."""
    nday = int(np.ceil(n / rpd))
    cd = np.arange(first_centre_day, max(nday - win_days // 2, first_centre_day + 1), step_days)
    half = win_days * rpd / 2.0
    centre = (cd * rpd + rpd // 2).astype(int)
    starts = np.clip(np.round(centre - half), 0, n).astype(int)
    stops = np.clip(np.round(centre + half), 0, n).astype(int)
    return starts, stops, np.minimum(centre, n - 1)


def night_rref_series(prep, valid_night, e0, tref_degc=TREF_DEGC, rh_mod=None, win_days=7, step_days=4,
                      min_records=3):
    """Rref_n(t) (section 4.1 step 3): through-origin regression of measured night NEE on
    f_T(T; E0) [* rh_mod] in 7-day windows stepping 4 days (> 2 records), Rref < 0 -> NA,
    attached to the rounded mean position of the records, linearly interpolated with constant
    ends.  Returns (per-record array, per-window DataFrame)."""
    n, rpd = prep.n, prep.rpd
    starts, stops, _ = _day_windows(n, rpd, win_days, step_days, win_days // 2)
    idx, m = lrc.pad_windows(starts, stops, valid_night)
    t = lrc.gather(prep.ta, idx, tref_degc)
    y = lrc.gather(prep.nee, idx, 0.0)
    f = np.where(m, lt_factor(t, e0, tref_degc), 0.0)
    if rh_mod is not None:
        f = f * lrc.gather(rh_mod, idx, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.sum(f * y, axis=1) / np.sum(f * f, axis=1)
        loc = np.sum(np.where(m, idx, 0), axis=1) / m.sum(axis=1)
    ok = (m.sum(axis=1) >= min_records) & np.isfinite(r) & (r >= 0)
    if not ok.any():
        raise InputError("DT-RH stage A: no night-time Rref window could be fitted")
    lo = np.round(loc[ok]).astype(int)
    lo, first = np.unique(lo, return_index=True)
    series = np.interp(np.arange(n), lo, r[ok][first])
    win = pd.DataFrame({"start": prep.index[starts], "n": m.sum(axis=1), "rref_night": np.where(ok, r, np.nan)})
    return series, win


def _nighttime_stage(prep, tref_degc=TREF_DEGC, night_rg_max=10.0, win_days=15, step_days=5,
                     min_records=7, min_trange=5.0, trim=5.0, e0_bounds=(30.0, 450.0), n_best=3,
                     rh_mod=None):
    """Minimal built-in NT (section 4.1/4.3) for stage A: E0_n per site-year and Rref_n(t).
    To be replaced by ``nighttime.partition_nighttime`` (pass its result as ``nt_result``)."""
    valid = (~(prep.pot > 0) & ~(prep.rg > night_rg_max) & np.isfinite(prep.nee)
             & np.isfinite(prep.ta) & (prep.ta > -40.0))
    starts, stops, _ = _day_windows(prep.n, prep.rpd, win_days, step_days, win_days // 2)
    idx, m = lrc.pad_windows(starts, stops, valid)
    t = lrc.gather(prep.ta, idx)
    y = lrc.gather(prep.nee, idx)
    mult = None if rh_mod is None else lrc.gather(rh_mod, idx, 1.0)
    tq = np.where(m, t, np.nan)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)     # windows without a valid record
        trange = np.nanmax(tq, axis=1) - np.nanmin(tq, axis=1)
    ok = (m.sum(axis=1) >= min_records) & (trange >= min_trange)
    flags = []
    e0 = se = np.full(0, np.nan)
    if ok.any():
        sel = np.nonzero(ok)[0]
        mm, tt, yy = m[sel], t[sel], y[sel]
        mu = None if mult is None else mult[sel]
        tref = np.full(sel.size, tref_degc)
        rr, e0, se, conv, _ = dt._lt_fit(yy, tt, mm, tref, np.full(sel.size, 2.0), e0_starts=(200.0,), mult=mu)
        # trim residuals outside the [trim, 100 - trim] % quantiles, refit
        pred = rr[:, None] * lt_factor(np.where(mm, tt, tref_degc), e0[:, None], tref_degc)
        pred = pred * (1.0 if mu is None else mu)
        res = np.where(mm, yy - pred, np.nan)
        with np.errstate(invalid="ignore"):
            q = np.nanpercentile(res, [trim, 100 - trim], axis=1)
        mm2 = mm & (res >= q[0][:, None]) & (res <= q[1][:, None])
        rr, e0, se, conv, _ = dt._lt_fit(yy, tt, mm2, tref, np.where(np.isfinite(rr), rr, 2.0),
                                         e0_starts=(200.0,), mult=mu)
        good = conv & np.isfinite(e0) & np.isfinite(se) & (e0 - se > e0_bounds[0]) & (e0 + se < e0_bounds[1])
        e0, se = e0[good], se[good]
    if e0.size == 0:
        raise InputError("DT-RH stage A: night-time E0 regression failed (no valid 15-day window)")
    order = np.argsort(se)[:n_best]
    if e0.size < n_best:
        flags.append(f"nt_e0_fewer_than_{n_best}_windows:{e0.size}")
    e0_n = float(np.mean(e0[order]))
    e0_se = float(np.sqrt(np.mean(se[order] ** 2)))
    rref, _ = night_rref_series(prep, valid, e0_n, tref_degc, rh_mod=rh_mod)
    return {"e0": e0_n, "e0_se_rms": e0_se, "rref": rref, "valid_night": valid, "flags": flags}


def _run_nighttime(df, prep, tref_degc, stage_a="auto", fit_qc_only=True):
    """Stage A without a given NT result: nighttime.partition_nighttime (the project's NT) when
    available, else the built-in fit.  Returns (result with e0, e0_se_mean or e0_se_rms, rref, flags; label)."""
    if stage_a not in ("auto", "module", "builtin"):
        raise InputError(f"stage_a must be 'auto', 'module' or 'builtin', not {stage_a!r}")
    if stage_a != "builtin":
        try:
            from .nighttime import partition_nighttime
        except ImportError:
            if stage_a == "module":
                raise
        else:
            return partition_nighttime(df, tref_degc=tref_degc, fit_qc_only=fit_qc_only), "nighttime_module"
    nt = _nighttime_stage(prep, tref_degc)
    return SimpleNamespace(e0=nt["e0"], e0_se_rms=nt["e0_se_rms"], rref=nt["rref"], flags=nt["flags"]), "builtin_nt"


def e0_uncertainty(nt_result):
    """Uncertainty of the night E0 of a stage-A result (K): ``e0_se_mean``, the mean of the
    selected windows' standard errors (nighttime.NighttimeResult), else ``e0_se_rms``, their root
    mean square (the built-in stage A), else NaN.  It is reported as E0_night_se; it is not the
    spread of the window estimates."""
    for name in ("e0_se_mean", "e0_se_rms"):
        value = getattr(nt_result, name, None)
        if value is not None:
            return float(value)
    return float("nan")


# ------------------------------------------------------------------ stage B (E0_d, gamma)
def _stage_b(prep, is_day, rref_n, e0_n, rh_ref, variant, options):
    """Stage B: the full model in 15-day windows; returns the selected windows, the window table
    and per window E0_d (K), its SE, gamma (%-1) and its SE.  ``options``: DtrhOptions."""
    o = options
    rh_function, vpd0_hpa, tref_degc = o.rh_function, o.vpd0_hpa, o.tref_degc
    win_days, step_days = o.stage_b_window_days, o.stage_b_step_days
    gamma_bounds, gamma_prior, e0d_bounds = o.gamma_bounds, o.gamma_prior, o.e0d_bounds
    se_rel_max, n_best, min_records = o.se_rel_max, o.n_best, o.min_day_records
    use_priors, alpha_max, beta_max = o.use_priors, o.alpha_max, o.beta_max
    sd_replace, sd_floor_quantile = o.sd_replace, o.sd_floor_quantile
    gamma_se_rel_prior, rank_by = o.gamma_se_rel_prior, o.stage_b_rank
    starts, stops, centre = _day_windows(prep.n, prep.rpd, win_days, step_days, win_days // 2)
    data, rec_idx, k0, neglect = dt.day_window_data(prep, is_day, starts, stops, vpd0_hpa, tref_degc, rh_ref,
                                                    rh_function, min_records, sd_replace, sd_floor_quantile)
    W = starts.size
    n = data.n
    neeq = np.where(data.mask, data.nee, np.nan)
    rows = n >= min_records
    bprior = np.full(W, 10.0)
    if rows.any():
        q = np.nanquantile(neeq[rows], [0.03, 0.97], axis=1)
        bprior[rows] = np.maximum(np.abs(q[1] - q[0]), 1.0)
    rp = np.array([np.mean(rref_n[a:b]) for a, b in zip(starts, stops)])
    free_e0 = variant in ("DTRH", "DT-asym")
    free_g = variant in ("DTRH", "DT-RHonly")
    pm = np.column_stack([np.full(W, lrc.PRIOR_K), bprior, np.full(W, lrc.PRIOR_ALPHA), rp,
                          np.full(W, np.nan), np.full(W, gamma_prior[0])])
    psd = np.tile([lrc.PRIOR_SD["k"], lrc.PRIOR_SD["beta"], lrc.PRIOR_SD["alpha"], lrc.PRIOR_SD["rref"],
                   np.inf, gamma_prior[1]], (W, 1))
    if not use_priors:
        psd[:, :4] = np.inf
    lo = np.array([0.0, 0.0, 0.0, 0.0, e0d_bounds[0], gamma_bounds[0]])
    hi = np.array([np.inf, beta_max, alpha_max, np.inf, e0d_bounds[1], gamma_bounds[1]])
    fr = np.ones((W, lrc.NPAR), bool)
    fr[:, lrc.IK] = ~k0
    fr[:, lrc.IE0] = free_e0
    fr[:, lrc.IGAMMA] = free_g
    sel = np.nonzero(rows)[0]
    starts_e0 = (e0_n, 300.0) if free_e0 else (e0_n,)
    bfac = (1.0, 1.3, 0.8)
    th0 = []
    for e in starts_e0:
        for bf in bfac:
            th0.append(np.column_stack([np.where(k0[sel], 0.0, lrc.PRIOR_K), bprior[sel] * bf,
                                        np.full(sel.size, 0.05), np.maximum(np.nan_to_num(rp[sel], nan=1.0), 0.1),
                                        np.full(sel.size, e), np.zeros(sel.size)]))
    S = len(th0)
    rows_ = np.tile(sel, S)
    res = lrc.batched_lm(lambda th, i: data.residuals(th, rows_[i]), np.concatenate(th0),
                         np.tile(fr[sel], (S, 1)), np.tile(pm[sel], (S, 1)), np.tile(psd[sel], (S, 1)),
                         lower=lo, upper=hi)
    c = np.where(np.isfinite(res["cost"]), res["cost"], np.inf).reshape(S, -1)
    pick = np.argmin(c, axis=0) * sel.size + np.arange(sel.size)
    theta = np.full((W, lrc.NPAR), np.nan)
    se = np.full((W, lrc.NPAR), np.nan)
    conv = np.zeros(W, bool)
    cost = np.full(W, np.nan)
    theta[sel], se[sel], conv[sel], cost[sel] = (res["theta"][pick], res["se"][pick], res["converged"][pick],
                                                 res["cost"][pick])
    code = lrc._accept(np.nan_to_num(theta, nan=-1.0), se, conv, alpha_max, beta_max)
    valid = rows & (code == lrc.CODE_OK)
    e0d, se_e0 = theta[:, lrc.IE0], se[:, lrc.IE0]
    g, se_g = theta[:, lrc.IGAMMA], se[:, lrc.IGAMMA]
    with np.errstate(invalid="ignore"):
        # Rref_d = 0 (at its bound) leaves E0_d and gamma without any information: their Jacobian
        # columns vanish and the pseudo-inverse reports SE = 0, which would rank such a window
        # first (seen at US-Var 2014, dry season); such windows are not valid
        valid &= theta[:, lrc.IRREF] > 0.0
        if free_e0:
            valid &= ((se_e0 > 0.0) & (se_e0 < se_rel_max * e0d) & (e0d - se_e0 > e0d_bounds[0])
                      & (e0d + se_e0 < e0d_bounds[1]))
        if free_g:
            valid &= ((se_g > 0.0) & (g - se_g > gamma_bounds[0]) & (g + se_g < gamma_bounds[1])
                      & (se_g < gamma_se_rel_prior * gamma_prior[1]))
    if free_e0:
        rank = se_e0 / e0d if rank_by == "relative_se" else se_e0
    else:
        rank = se_g
    cand = np.nonzero(valid)[0]
    best = cand[np.argsort(rank[cand])[:n_best]] if cand.size else cand
    win = pd.DataFrame({"start": prep.index[starts], "end": prep.index[np.maximum(stops - 1, 0)],
                        "centre": prep.index[centre], "n": n, "k": theta[:, lrc.IK], "beta": theta[:, lrc.IBETA],
                        "alpha": theta[:, lrc.IALPHA], "rref_day": theta[:, lrc.IRREF], "e0_day": e0d,
                        "se_e0_day": se_e0, "gamma": g, "se_gamma": se_g, "cost": cost, "converged": conv,
                        "valid": valid, "selected": np.isin(np.arange(W), best)})
    return best, win, e0d, se_e0, g, se_g


# --------------------------------------------------------- stage B as one joint fit
def _joint_stage_b(df, prep, variant, rh_ref, o):
    """(JointFit of the variant's model, JointData) or the InputError that stopped it."""
    from . import jointfit as jf
    jo = jf.JointOptions(block_days=o.joint_block_days, rh_function=o.rh_function, rh_ref=rh_ref,
                         rh_at_night=o.rh_at_night, day_night_rule=o.day_night_rule, day_rg_min=o.day_rg_min,
                         sd_nee=o.sd_nee, e0_bounds=o.e0d_bounds, gamma_bounds=o.gamma_bounds,
                         alpha_max=o.alpha_max, beta_max=o.beta_max, vpd0_hpa=o.vpd0_hpa, tref_degc=o.tref_degc,
                         fit_qc_only=o.fit_qc_only)
    try:
        data = jf.joint_data(df, jo, prep=prep)
        model = jf.VARIANT_MODEL[variant]
        fit = jf.fit_models(data, (model,))[model]
    except InputError as exc:
        return exc
    return fit, data


def _joint_blocks(fit, data):
    """The blocks of the joint fit in the stage-B window schema."""
    b = np.arange(data.nblock)
    start = data.block_start
    end = start + pd.Timedelta(days=data.options.block_days) - (data.index[1] - data.index[0])
    n = np.bincount(data.block, minlength=data.nblock)
    return pd.DataFrame({"start": start, "end": end, "centre": start + (end - start) / 2, "n": n,
                         "k": fit.block_values(data, "k"), "beta": fit.block_values(data, "beta"),
                         "alpha": fit.block_values(data, "alpha"), "rref_day": fit.block_values(data, "rref_day"),
                         "rref_night": fit.block_values(data, "rref_night"), "e0_day": fit.e0_day,
                         "se_e0_day": fit.se["e0_day"], "gamma": fit.gamma, "se_gamma": fit.se["gamma"],
                         "cost": np.nan, "converged": fit.converged, "valid": True, "selected": True,
                         "block": b})


# --------------------------------------------------------------------------- driver
def partition_dtrh(df, variant="DTRH", nt_result=None, options=None, **overrides):
    """DT-RH partitioning of one site-year (module docstring).

    Parameters
    ----------
    df : TowerData or pandas.DataFrame
        One site-year of the tower table (with RH, or VPD and TA to derive it).
    variant : str
        "DTRH", "DT-asym" or "DT-RHonly".
    nt_result : object, optional
        Stage-A night-time result (below).
    options : DtrhOptions, optional
        Default ``DtrhOptions()``; ``DtrhOptions.reddyproc()`` for the REddyProc day-time rules.
    **overrides
        Fields of :class:`DtrhOptions` to change.

    Returns
    -------
    DtrhResult

    Notes
    -----
    ``nt_result``: an object with attributes e0 (K), rref (Series per record at
    ``tref_degc``) and an E0 uncertainty (``e0_se_mean`` or ``e0_se_rms``, see :func:`e0_uncertainty`),
    e.g. nighttime.partition_nighttime's result; if None stage A runs NT itself:
    ``stage_a`` "auto" (nighttime.partition_nighttime if importable, else the built-in fit),
    "module" or "builtin".  ``refit_e0_night_with_rh``: with ``rh_at_night``, re-estimate E0_n
    and Rref_n with f_RH(gamma) as a known factor once gamma is known (otherwise the NT E0_n,
    fitted without the RH term, is kept and only Rref_n is re-estimated).
    ``stage_b_rank``: "se" (the proposal: the 3 valid windows with the lowest SE(E0_d)) or
    "relative_se" (lowest SE(E0_d)/E0_d; window SEs grow with E0_d, so ranking by the absolute SE
    favours low estimates: mean E0_d over 10 closed-loop seeds -13 % with "se", -2 % with
    "relative_se"; previous day-time rules -11 % and -4 %).  On the FLUXNET site-years
    "relative_se" gives higher E0_d (median 235 K against 145 K, above E0_n at all 8), a GPP against
    GPP_DT_VUT_REF of R2 0.983 / |annual| 1.1 % (median), but -17 % at US-Var 2013.
    ``dt_options``: keyword arguments of daytime.partition_daytime for the plain-DT fall-back (by
    default it gets the DT-RH values of ``sd_nee``, ``sd_floor_quantile``, ``day_night_rule``,
    ``resp_only_fallback``, ``window_location`` and ``lrc_rtol``).

    Day-time fits as in daytime.partition_daytime (ONEFlux, which made FLUXNET2015 GPP_DT_VUT_REF),
    each with the previous (REddyProc / docs/methods.md 5.3) behaviour selectable:
    ``sd_nee`` "lookup" (sdNEE of tower files without one by daytime.sd_nee_lookup, the MDS
    look-up) | "replace" (max(0.7, 0.2 |NEE|)); ``sd_floor_quantile`` None | 0.3 (sdNEE floored at
    the window's 30 % quantile); ``day_night_rule`` "oneflux" (day Rg > 4, night Rg <= 4) |
    "reddyproc" (also SW_IN_POT > 0 / <= 0); ``resp_only_fallback`` True (stage-C windows without
    a light response refitted with GPP = 0) | False (rejected); ``window_location`` "centre" |
    "mean" (stage-C parameters attached to the window centre | the mean position of its records);
    ``lrc_rtol`` 1e-6 | 1e-9 (stage-C LM stopping rule).  The old behaviour in full:
    ``sd_nee="replace", sd_floor_quantile=0.3, day_night_rule="reddyproc", resp_only_fallback=False,
    window_location="mean", lrc_rtol=1e-9`` (``DtrhOptions.reddyproc()``).  Stage A (NT rules,
    section 4) is not affected.
    ``gpp_output``: "residual" (GPP = ER - NEE, the default, project convention) or "model" (the
    stage-C light-response GPP, zero where Rg = 0, the FLUXNET2015 GPP_DT definition); both are
    returned (``gpp_residual``, ``gpp_model``)."""
    o = make_options(DtrhOptions, options, overrides)
    if variant not in VARIANTS:
        raise InputError(f"DT-RH variant must be one of {', '.join(VARIANTS)}, not {variant!r}")
    options = {"variant": variant, **asdict(o)}
    rh_ref = o.rh_ref
    prep = dt.prepare(df, need_rh=True, fit_qc_only=o.fit_qc_only)
    idx, n = prep.index, prep.n
    flags = []
    rh = prep.rh
    rh_measured_median = float(np.nanmedian(rh)) if np.isfinite(rh).any() else np.nan
    miss = ~np.isfinite(rh)
    if miss.any():                 # section 11: RH from VPD and TA where RH is missing
        with np.errstate(invalid="ignore", over="ignore"):
            rh_vpd = rh_from_vpd(prep.vpd, prep.ta)
        rh = np.where(miss, rh_vpd, rh)
        prep.rh = rh
        flags.append(f"rh_from_vpd_ta:{int((miss & np.isfinite(rh)).sum())}")
    if not np.isfinite(rh).any():
        raise InputError("DT-RH: the RH column has no finite value (and none can be derived from VPD and TA)")
    if rh_ref is None:             # site median of the measured RH (of the derived one if none)
        rh_ref = rh_measured_median if np.isfinite(rh_measured_median) else float(np.nanmedian(rh))
    rh_ref = float(rh_ref)
    options["rh_ref"] = rh_ref
    is_day, is_night = dt.day_night(prep, o.day_rg_min, use_pot=o.day_night_rule == "reddyproc")
    if o.sd_nee == "lookup" and not np.isfinite(prep.sd).any():
        prep.sd = dt.sd_nee_lookup(prep, is_day | is_night)   # as DT (tower files carry no sdNEE)
        flags.append("sdNEE_from_lookup")
    dt_kw = {"sd_nee": o.sd_nee, "sd_floor_quantile": o.sd_floor_quantile, "day_night_rule": o.day_night_rule,
             "resp_only_fallback": o.resp_only_fallback, "window_location": o.window_location, "lrc_rtol": o.lrc_rtol,
             "fit_qc_only": o.fit_qc_only, **(o.dt_options or {})}

    # ---- stage A
    valid_night = (~(prep.pot > 0) & ~(prep.rg > 10.0) & np.isfinite(prep.nee)
                   & np.isfinite(prep.ta) & (prep.ta > -40.0))
    if nt_result is None:
        nt_result, how = _run_nighttime(df, prep, o.tref_degc, o.stage_a, o.fit_qc_only)
        flags.append(f"stage_a_{how}")
        flags += list(getattr(nt_result, "flags", []))
    e0_n = float(nt_result.e0)
    e0_n_se = e0_uncertainty(nt_result)
    rref_n = pd.Series(np.asarray(nt_result.rref, dtype="float64"), index=idx) if not isinstance(
        nt_result.rref, pd.Series) else nt_result.rref.reindex(idx)
    rref_n = rref_n.interpolate(limit_direction="both").to_numpy()
    e0_n_nt, e0_n_nt_se = e0_n, e0_n_se
    refit_night = o.rh_at_night and o.refit_e0_night_with_rh

    free_e0 = variant in ("DTRH", "DT-asym")
    free_g = variant in ("DTRH", "DT-RHonly")
    # DT-RHonly fixes E0_d = E0_n, so when stage A' changes E0_n stage B is run once more
    passes = 2 if (variant == "DT-RHonly" and refit_night) else 1
    joint = _joint_stage_b(df, prep, variant, rh_ref, o) if o.stage_b == "joint" else None
    if isinstance(joint, InputError):
        flags.append(f"joint_model_failed:{joint}")
    elif joint is not None:
        passes = 0                 # stage B (and A') done by the joint fit
        fit, jdata = joint
        e0_n, e0_n_se = fit.e0_night, fit.se["e0_night"]
        e0_d, e0_d_se = fit.e0_day, fit.se["e0_day"]
        gamma, gamma_se = fit.gamma, fit.se["gamma"]
        best = np.arange(jdata.nblock)
        win_b = _joint_blocks(fit, jdata)
        e0d_w, g_w = np.full(best.size, e0_d), np.full(best.size, gamma)
        flags.append("stage_b_joint")
        frh = lrc.rh_factor(np.where(np.isfinite(rh), rh, rh_ref), gamma, rh_ref, o.rh_function)
        rref_n, _ = night_rref_series(prep, valid_night, e0_n, o.tref_degc,
                                      rh_mod=frh if (o.rh_at_night and gamma != 0.0) else None)
    for ipass in range(passes):
        # ---- stage B
        best, win_b, e0d_w, se_e0_w, g_w, se_g_w = _stage_b(prep, is_day, rref_n, e0_n, rh_ref, variant, o)
        if best.size < o.n_best:
            flags.append(f"stage_b_valid_windows:{best.size}<{o.n_best}:fallback_plain_DT")
            if not o.fallback_to_dt:
                raise InputError(f"DT-RH stage B: only {best.size} valid windows (need {o.n_best})")
            r = dt.partition_daytime(df, tref_degc=o.tref_degc, vpd0_hpa=o.vpd0_hpa, day_rg_min=o.day_rg_min, **dt_kw)
            gpp_res = r.reco - prep.nee_all
            rr_n = pd.Series(rref_n, index=idx, name="RREF_NIGHT")
            with np.errstate(invalid="ignore", divide="ignore"):
                inh = (rr_n - r.rref_day.to_numpy()) / rr_n
            return DtrhResult(reco=r.reco, gpp=(r.gpp_model if o.gpp_output == "model" else gpp_res).rename("GPP_DTRH"),
                              e0_night=e0_n, e0_night_se=e0_n_se, e0_day=e0_n,
                              e0_day_se=np.nan, q10_night=float(apparent_q10(e0_n)),
                              q10_day=float(apparent_q10(e0_n)), gamma=0.0, gamma_se=np.nan, rref_night=rr_n,
                              rref_day=r.rref_day, inhibition=inh.rename("INHIBITION"), windows=r.windows,
                              flags=flags + r.flags, options=options, windows_b=win_b,
                              qc=np.maximum(r.qc, qcodes.FALLBACK).rename("FP_qc"), rh_ref=rh_ref,
                              variant=variant, gpp_model=r.gpp_model.rename("GPP_DTRH_model"),
                              gpp_residual=gpp_res.rename("GPP_DTRH_residual"))
        e0_d = float(np.mean(e0d_w[best])) if free_e0 else np.nan
        e0_d_se = float(np.sqrt(np.mean(se_e0_w[best] ** 2))) if free_e0 else np.nan
        gamma = float(np.mean(g_w[best])) if free_g else 0.0
        gamma_se = float(np.sqrt(np.mean(se_g_w[best] ** 2))) if free_g else 0.0

        # ---- stage A': night E0_n / Rref_n at RH_ref
        frh = lrc.rh_factor(np.where(np.isfinite(rh), rh, rh_ref), gamma, rh_ref, o.rh_function)
        if o.rh_at_night and gamma != 0.0:
            if refit_night:            # E0_n and Rref_n again, with f_RH(gamma) as a known factor
                nt = _nighttime_stage(prep, o.tref_degc, rh_mod=frh)
                e0_n, e0_n_se, rref_n = nt["e0"], nt["e0_se_rms"], nt["rref"]
                if ipass == 0:
                    flags.append("stage_a_refit_with_rh")
            else:                      # keep the NT E0_n; only Rref_n is put at RH_ref
                rref_n, _ = night_rref_series(prep, valid_night, e0_n, o.tref_degc, rh_mod=frh)
                if ipass == 0:
                    flags.append("e0_night_from_nt_without_rh")
    if not free_e0:                # DT-RHonly: E0_d = E0_n (after the stage-A' refit)
        e0_d, e0_d_se = e0_n, e0_n_se
    er_n = rref_n * lt_factor(prep.ta, e0_n, o.tref_degc) * (frh if o.rh_at_night else 1.0)

    # ---- stage C
    starts, stops, centre = dt.ref_windows(n, prep.rpd, o.window_days, o.step_days)
    rp = np.array([np.mean(rref_n[a:b]) for a, b in zip(starts, stops)])
    res = dt.fit_and_interpolate(prep, is_day, starts, stops, np.full(starts.size, e0_d), rp, o, gamma, rh_ref,
                                 o.rh_function, centre=centre)
    fit = res["fit"]
    fit["neglect"] = res["neglect"]
    win = dt.windows_frame(prep, starts, stops, centre, fit, res["loc"], {"rref_night": rp})
    nrej = int((fit["code"] != lrc.CODE_OK).sum())
    if nrej:
        flags.append(f"lrc_windows_rejected:{nrej}")
    if fit["refit"].any():
        flags.append(f"lrc_windows_refitted:{int(fit['refit'].sum())}")
    if fit["resp_only"].any():
        flags.append(f"lrc_windows_resp_only:{int(fit['resp_only'].sum())}")

    # ---- stage D
    er_d = res["reco"]
    reco = np.where(is_day, er_d, er_n)
    # QC of night records from the night model: 2 without a fitted night record within max_gap_days
    # (Rref_n extrapolated), else 1 if NT took its E0 fall-back, else 0; day records: stage C's FP_qc
    nt_qc = getattr(nt_result, "qc", None)
    qc_n = qcodes.FALLBACK if nt_qc is not None and (np.asarray(nt_qc) == qcodes.FALLBACK).any() else qcodes.GOOD
    far_n = qcodes.extrapolated(np.flatnonzero(valid_night), n, prep.rpd, o.max_gap_days)
    qc = np.where(is_day, res["qc"], np.where(far_n, qcodes.EXTRAPOLATED, qc_n))
    rref_d = res["rref"]
    with np.errstate(invalid="ignore", divide="ignore"):
        inh = (rref_n - rref_d) / rref_n
    s = lambda a, name: pd.Series(a, index=idx, name=name)  # noqa: E731
    gpp_res = reco - prep.nee_all
    gpp_mod = res["gpp_model"]          # the stage-C LRC GPP (0 where Rg = 0), as DT's gpp_model
    return DtrhResult(
        reco=s(reco, "RECO_DTRH"), gpp=s(gpp_mod if o.gpp_output == "model" else gpp_res, "GPP_DTRH"),
        e0_night=e0_n, e0_night_se=e0_n_se,
        e0_day=e0_d, e0_day_se=e0_d_se, q10_night=float(apparent_q10(e0_n)), q10_day=float(apparent_q10(e0_d)),
        gamma=gamma, gamma_se=gamma_se, rref_night=s(rref_n, "RREF_NIGHT"), rref_day=s(rref_d, "RREF_DAY"),
        inhibition=s(inh, "INHIBITION"), windows=win, flags=flags, options=options, windows_b=win_b,
        qc=s(qc, "FP_qc"), rh_ref=rh_ref, variant=variant, reco_day_model=s(er_d, "RECO_DAY_MODEL"),
        reco_night_model=s(er_n, "RECO_NIGHT_MODEL"), gpp_model=s(gpp_mod, "GPP_DTRH_model"),
        gpp_residual=s(gpp_res, "GPP_DTRH_residual"),
        extra={"e0_night_nt": e0_n_nt, "e0_night_nt_se": e0_n_nt_se, "best_windows_b": best,
               "e0_day_windows": e0d_w[best], "gamma_windows": g_w[best]})
