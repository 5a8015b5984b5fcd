"""Daytime partitioning (DT, Lasslop et al. 2010) of one site-year (docs/methods.md section 5).

Steps
0. Day / night: by default as ONEFlux (which produced FLUXNET2015 GPP_DT_VUT_REF): day = Rg > 4,
   night = Rg <= 4 W m-2 (``day_night_rule="reddyproc"``: additionally SW_IN_POT > 0 / <= 0,
   twilight records being neither).  Only measured NEE (NEE_QC == 0) is fitted.
   sdNEE: the table's ``sdNEE`` column if any; otherwise (tower files carry none) it is looked up
   as the reference implementations do (sd_nee_lookup: MDS marginal-distribution look-up, as
   ONEFlux NEE_fs_unc / REddyProc NEE_fsd), ``sd_nee="replace"`` gives the old constant rule.
1. Reference windows: 4 days stepping 2 days from the first record; each has a central
   record at the start of its third day.
2. Night E0 (section 5.2): Lloyd-Taylor fitted (least squares weighted by 1/sdNEE as ONEFlux,
   ``night_weighted``; Tref = window median T) to measured night NEE in a 12-day window centred
   on each reference window; a window that fails (fewer than 10 records, no convergence, E0
   outside [50, 400] K) takes the E0 of the previous window (ONEFlux; ``night_extend=(24, 48)``
   retries wider windows first, as REddyProc).  Missing E0 are filled forward
   (``e0_smoothing="ffill"``, sd = 90 % quantile of sdE0) or smoothed by a Gaussian process
   with per-point nugget sdE0**2 (``"gp"``, sklearn, replacing REddyProc's mlegp).
3. Night Rref at 15 degC per reference window with E0 fixed: regression through the origin on
   the window's night records (>= 3), else the 12-day fit converted to 15 degC; max(0, .),
   gaps filled forward (a leading gap takes the first value).  It is the prior of the LRC Rref.
4. LRC per reference window (lightresponse.fit_lrc_windows) on measured day records, weighted
   by 1/sdNEE (no lower bound on sdNEE by default: ONEFlux has none), with priors, three starts,
   the REddyProc fall-backs and ONEFlux's respiration-only refit of windows without a
   resolvable light response (``resp_only_fallback``).
5. Each accepted window is attached to its central record (ONEFlux; ``window_location="mean"``:
   the rounded mean position of its records, REddyProc; first one kept on ties); every record is
   predicted with the previous and the next window's parameters and the two predictions are
   combined with distance weights (section 5.4), with the gap-filled drivers.
6. RECO_DT from step 5.  GPP: ``gpp_model`` is the LRC GPP -- the definition of FLUXNET2015
   GPP_DT_VUT_REF and of REddyProc's GPP_DT (zero at night); ``gpp_residual`` = RECO_DT - NEE (NEE
   as given, i.e. gap-filled).  ``gpp`` is one of the two (``gpp_output``; default "residual",
   the project convention GPP = RECO - NEE shared with NT and DT-RH; use "model" to compare with
   FLUXNET GPP_DT).  qc (FP_qc): 0 good, 1 the nearest window was refitted by a fall-back rule,
   2 the nearest estimate is more than 14 days away.

Against GPP_DT_VUT_REF on the 8 FLUXNET2015 site-years of tests/data/flux (gpp_output="model"):
median half-hourly R2 0.991, median |annual difference| 0.9 % (REddyProc 1.3.3 GL: 0.984, 2.1 %);
see tests/core/partitioning/test_daytime_fluxnet.py.  Before the sdNEE look-up, the model GPP and
the ONEFlux day/night rule, the same comparison gave R2 0.92 and -8 % a year at DE-Tha.
"""

import warnings
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd

from ..common.fluxvalues import MISSING_CODE
from ..errors import InputError
from ..io.towers import as_tower
from . import lightresponse as lrc
from .respiration import T0_K, KELVIN, TREF_DEGC, convert_rref, lt_factor

REQUIRED = ("NEE", "NEE_QC", "TA", "SW_IN", "SW_IN_POT", "VPD")


@dataclass
class DaytimeResult:
    """Output of :func:`partition_daytime` for one site-year: reco, gpp (``gpp_output``),
    gpp_model, gpp_residual (umol CO2 m-2 s-1), qc (0/1/2), windows (one row per light-response
    window; ``e0_se`` the standard error of the window's night E0, K), e0_series (night E0 per
    window centre, K), rref_day (daytime Rref at Tref), options (dict) and flags."""
    reco: pd.Series
    gpp: pd.Series
    qc: pd.Series
    windows: pd.DataFrame
    e0_series: pd.Series
    options: dict
    flags: list = field(default_factory=list)
    gpp_model: pd.Series = None
    rref_day: pd.Series = None
    gpp_residual: pd.Series = None


# ------------------------------------------------------------------------ input
@dataclass
class PreparedSiteYear:
    """The arrays of one site-year the day-time methods (DT, DT-RH) work on, one value per record.

    Attributes
    ----------
    index : pandas.DatetimeIndex
        TIMESTAMP_START of the records.
    n : int
        Number of records.
    rpd : int
        Records per day (48 or 24).
    nee_all : numpy.ndarray
        NEE as given, gap-filled included (umol CO2 m-2 s-1).
    nee : numpy.ndarray
        NEE the fits use (umol CO2 m-2 s-1): measured only (NEE_QC == 0) by default, NaN elsewhere;
        every finite NEE with ``fit_qc_only=False``.
    qc : numpy.ndarray
        NEE_QC (0 measured, 1-3 gap-filled).
    ta : numpy.ndarray
        Air temperature (degC).
    rg : numpy.ndarray
        Incoming short-wave radiation SW_IN (W m-2, negatives set to 0).
    pot : numpy.ndarray
        Potential radiation SW_IN_POT (W m-2).
    vpd : numpy.ndarray
        Vapour-pressure deficit (hPa).
    rh : numpy.ndarray or None
        Relative humidity (%), only when asked for (``need_rh``); DT-RH fills its gaps from VPD and TA.
    sd : numpy.ndarray
        Random uncertainty of NEE, sdNEE (umol CO2 m-2 s-1; NaN where unknown); the methods fill
        it with :func:`sd_nee_lookup` when the table has none.
    """
    index: pd.DatetimeIndex
    n: int
    rpd: int
    nee_all: np.ndarray
    nee: np.ndarray
    qc: np.ndarray
    ta: np.ndarray
    rg: np.ndarray
    pot: np.ndarray
    vpd: np.ndarray
    rh: np.ndarray
    sd: np.ndarray


def prepare(df, need_rh=False, fit_qc_only=True):
    """Validate the tower table (TowerData or DataFrame) and return its arrays as a
    :class:`PreparedSiteYear`; ``fit_qc_only`` (default True): only measured NEE is fitted."""
    tower = as_tower(df)
    df = tower.data
    if not isinstance(df, pd.DataFrame) or not isinstance(df.index, pd.DatetimeIndex):
        raise InputError("tower table: expected a pandas DataFrame with a DatetimeIndex (TIMESTAMP_START)")
    cols = REQUIRED + (("RH",) if need_rh else ())
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise InputError(f"tower table {tower.site.site_id or ''}: missing column(s) {', '.join(missing)}")
    n = len(df)
    if n < 48:
        raise InputError("tower table: fewer than 48 records")
    d = np.diff(df.index.values).astype("timedelta64[s]").astype(np.int64)
    if d.size and (np.any(d != d[0]) or d[0] <= 0):
        raise InputError("tower table: the time index must be regular and increasing")
    rpd = tower.site.records_per_day or int(round(86400 / d[0]))
    rpd = int(rpd)
    a = {c: df[c].to_numpy(dtype="float64", na_value=np.nan).copy() for c in cols}
    for c in cols:
        a[c][a[c] == MISSING_CODE] = np.nan
    qc = a["NEE_QC"]
    nee = np.where(qc == 0, a["NEE"], np.nan) if fit_qc_only else a["NEE"].copy()
    sd = df["sdNEE"].to_numpy(dtype="float64", na_value=np.nan) if "sdNEE" in df.columns else np.full(n, np.nan)
    return PreparedSiteYear(index=df.index, n=n, rpd=rpd, nee_all=a["NEE"], nee=nee, qc=qc, ta=a["TA"],
                            rg=np.maximum(a["SW_IN"], 0.0), pot=a["SW_IN_POT"], vpd=a["VPD"], rh=a.get("RH"),
                            sd=np.where(sd == MISSING_CODE, np.nan, sd))


#: passes of the sdNEE look-up (sd_nee_lookup): (half window in days, conditions)
#: "met" = Rg, TA and VPD similar; "rg" = Rg similar; "diurnal" = same time of day +- 1.1 h.
#: As ONEFlux ``uncert_via_gapFill`` (categories A then B of the MDS gap filling).
SD_LOOKUP_PASSES = (
    (7, "met"), (14, "met"), (7, "rg"), (1, "diurnal"), (2, "diurnal"),
    (21, "met"), (28, "met"), (35, "met"), (49, "met"), (77, "met"),
    (14, "rg"), (28, "rg"), (56, "rg"), (77, "rg"),
    (7, "diurnal"), (28, "diurnal"), (105, "diurnal"), (210, "diurnal"),
)


def sd_nee_lookup(prep, targets=None, tol_ta=2.5, tol_rg=(20.0, 50.0), tol_vpd=5.0, min_records=10,
                  passes=SD_LOOKUP_PASSES, chunk=512):
    """Random uncertainty (sdNEE) of each measured NEE record by the marginal-distribution
    look-up of the MDS gap filling (Reichstein et al. 2005): the standard deviation (ddof 1) of
    the *measured* NEE recorded under similar conditions (|dTA| < 2.5 degC, |dRg| <
    max(20, min(50, Rg)) W m-2, |dVPD| < 5 hPa) within +-7 days; then +-14 days; then Rg alone;
    then the same time of day (+-1.1 h) on neighbouring days; then ever wider windows.  At
    least ``min_records`` records are required in each step.

    This is what the reference implementations weight the LRC fit with: REddyProc uses NEE_fsd
    of ``sMDSGapFill(FillAll = TRUE)`` and ONEFlux computes ``NEE_fs_unc`` with
    ``uncert_via_gapFill`` (same tolerances, every record looked up, measured ones too).  The
    constant replacement ``max(0.7, 0.2 |NEE|)`` of REddyProc is only its fall-back for records
    without NEE_fsd; using it for *every* record (the previous behaviour here, because tower
    files carry no sdNEE) weights the small midday |NEE| of low-light and stressed periods far
    too strongly relative to the noisy high-flux records and biased GPP low by ~8 % a year.

    Returns an array (n,) with NaN where nothing was looked up (non-target records)."""
    nee, ta, rg, vpd = prep.nee, prep.ta, prep.rg, prep.vpd
    n, rpd = prep.n, prep.rpd
    meas = np.isfinite(nee)
    out = np.full(n, np.nan)
    todo = np.nonzero(meas if targets is None else (np.asarray(targets, bool) & meas))[0]
    tod = np.arange(n) % rpd * (24.0 / rpd)
    rg_tol = np.maximum(np.minimum(tol_rg[1], np.where(np.isfinite(rg), rg, 0.0)), tol_rg[0])
    nee0 = np.where(meas, nee, 0.0)
    for half_days, kind in passes:
        if todo.size == 0:
            break
        half = int(half_days * rpd)
        off = np.arange(-half + 1, half)          # ONEFlux: index - arange(h), index + 1 + arange(h - 1)
        got = np.full(todo.size, np.nan)
        for a in range(0, todo.size, chunk):
            ii = todo[a:a + chunk]
            J = ii[:, None] + off[None, :]
            m = (J >= 0) & (J < n)
            J = np.clip(J, 0, n - 1)
            m &= meas[J]
            with np.errstate(invalid="ignore"):
                if kind in ("met", "rg"):
                    m &= np.abs(rg[J] - rg[ii, None]) < rg_tol[ii, None]
                if kind == "met":
                    m &= (np.abs(ta[J] - ta[ii, None]) < tol_ta) & (np.abs(vpd[J] - vpd[ii, None]) < tol_vpd)
                if kind == "diurnal":
                    dh = np.abs(tod[J] - tod[ii, None])
                    m &= np.minimum(dh, 24.0 - dh) < 1.1
            c = m.sum(axis=1)
            y = np.where(m, nee0[J], 0.0)
            s1 = y.sum(axis=1)
            ybar = np.where(c > 0, s1 / np.maximum(c, 1), 0.0)
            ss = np.sum(np.where(m, (y - ybar[:, None]) ** 2, 0.0), axis=1)
            got[a:a + chunk] = np.where(c >= min_records, np.sqrt(ss / np.maximum(c - 1, 1)), np.nan)
        ok = np.isfinite(got)
        out[todo[ok]] = got[ok]
        todo = todo[~ok]
    return out


def day_night(prep, day_rg_min=4.0, use_pot=True):
    """(is_day, is_night) per section 3 (DT).  ``use_pot`` (REddyProc): day = Rg > 4 & POT > 0,
    night = Rg <= 4 & POT <= 0, twilight records (Rg and POT disagree) are neither.
    ``use_pot=False`` (ONEFlux / PV-Wave, which produced FLUXNET2015 GPP_DT): day = Rg > 4,
    night = Rg <= 4.  A missing Rg is decided by SW_IN_POT alone in both."""
    rg, pot = prep.rg, prep.pot
    if not use_pot:
        fin = np.isfinite(rg)
        return np.where(fin, rg > day_rg_min, pot > 0), np.where(fin, rg <= day_rg_min, ~(pot > 0))
    is_day = (pot > 0) & ~(rg <= day_rg_min)
    is_night = ~(pot > 0) & ~(rg > day_rg_min)
    return is_day, is_night


def ref_windows(n, rpd, win_days=4, step_days=2):
    """Start, stop and central record positions of the reference windows."""
    nday = int(np.ceil(n / rpd))
    starts_d = np.arange(0, max(nday - win_days + step_days, 1), step_days)
    starts = starts_d * rpd
    stops = np.minimum(starts + win_days * rpd, n)
    centre = np.minimum(starts + (win_days // 2) * rpd, n - 1)
    return starts, stops, centre


# ------------------------------------------------------------------ night E0 (5.2)
def _lt_fit(y, t, mask, tref_degc, rref0, e0_starts=(100.0, 250.0), max_iter=50, mult=None, sd=None):
    """Batched LT fit R = Rref*exp(E0 (1/(Tref-T0) - 1/(T-T0))) [* mult] per row of the padded
    arrays (Tref per row; ``mult`` a known multiplier per record, e.g. f_RH), unweighted or, with
    ``sd`` (padded like ``y``), weighted by 1/sd (records with a non-finite sd are dropped).
    Returns rref, e0, se_e0, converged, chi2."""
    W = y.shape[0]
    x = np.where(mask, 1.0 / (tref_degc[:, None] + KELVIN - T0_K) - 1.0 / (t + KELVIN - T0_K), 0.0)
    yy = np.where(mask, y, 0.0)
    m = mask.astype("float64") * (1.0 if mult is None else np.where(mask, mult, 0.0))
    # optional weights 1/sd (``sd``: per-record random uncertainty, padded like ``y``)
    if sd is None:
        wt = np.ones_like(m)
    else:
        good = mask & np.isfinite(sd) & (sd > 0)
        wt = np.where(good, 1.0 / np.where(good, sd, 1.0), 0.0)
    S = len(e0_starts)
    X, Y, M, WT = np.tile(x, (S, 1)), np.tile(yy, (S, 1)), np.tile(m, (S, 1)), np.tile(wt, (S, 1))

    def fun(th, idx):
        with np.errstate(over="ignore", invalid="ignore"):   # wild trial steps give inf cost
            f = np.exp(th[:, 1:2] * X[idx])
            pred = th[:, 0:1] * f
            r = (pred * M[idx] - Y[idx] * (M[idx] != 0)) * WT[idx]
            J = np.stack([f * M[idx] * WT[idx], pred * X[idx] * M[idx] * WT[idx]], axis=-1)
        return r, J

    th0 = np.column_stack([np.tile(rref0, S), np.repeat(np.asarray(e0_starts, float), W)])
    res = lrc.batched_lm(fun, th0, np.ones((S * W, 2), bool), max_iter=max_iter,
                         cov_floor=0.0 if sd is None else 1.0)
    c = np.where(np.isfinite(res["cost"]), res["cost"], np.inf).reshape(S, W)
    pick = np.argmin(c, axis=0) * W + np.arange(W)
    return (res["theta"][pick, 0], res["theta"][pick, 1], res["se"][pick, 1], res["converged"][pick],
            res["chi2"][pick])


def night_e0(prep, is_night, centre, win_days=12, extend=(24, 48), bounds=(50.0, 400.0),
             min_records=10, cold_degc=-1.0, min_warm=12, weighted=False):
    """Night-time E0 per reference window (section 5.2).  Returns a dict of arrays over
    windows: e0 (K), e0_se (K, standard error of the window fit), rref_fit, tref_fit (degC), width
    (days used, 0 = failed)."""
    n, rpd = prep.n, prep.rpd
    valid = is_night & np.isfinite(prep.nee) & np.isfinite(prep.ta) & (prep.ta > -40.0)
    W = centre.size
    out = {k: np.full(W, np.nan) for k in ("e0", "e0_se", "rref_fit", "tref_fit")}
    out["width"] = np.zeros(W, int)
    todo = np.arange(W)
    for wd in (win_days,) + tuple(extend):
        if todo.size == 0:
            break
        half = wd * rpd // 2
        a = np.clip(centre[todo] - half, 0, n)
        b = np.clip(centre[todo] + half, 0, n)
        idx, m = lrc.pad_windows(a, b, valid)
        t = lrc.gather(prep.ta, idx)
        y = lrc.gather(prep.nee, idx)
        warm = m & (t > cold_degc)
        m = np.where((warm.sum(axis=1) >= min_warm)[:, None], warm, m)
        ok = m.sum(axis=1) >= min_records
        if not ok.any():
            continue
        sel = np.nonzero(ok)[0]
        mm, tt, yv = m[sel], t[sel], y[sel]
        tq = np.where(mm, tt, np.nan)
        tref = np.nanmedian(tq, axis=1)
        r0 = np.nanmean(np.where(mm, yv, np.nan), axis=1)
        r0 = np.where(np.isfinite(r0) & (r0 > 0.1), r0, 0.1)
        sdv = None
        if weighted:     # 1/sdNEE weights as in the LRC fit; records without sdNEE get REddyProc's replacement
            sdv = lrc.gather(prep.sd, idx)[sel]
            sdv = np.where(np.isfinite(sdv) & (sdv > 0), sdv, np.maximum(0.7, 0.2 * np.abs(yv)))
        rr, e0, se, conv, _ = _lt_fit(yv, tt, mm, tref, r0, sd=sdv)
        good = conv & np.isfinite(e0) & (e0 >= bounds[0]) & (e0 <= bounds[1]) & (rr >= 0)
        w = todo[sel[good]]
        out["e0"][w], out["e0_se"][w], out["rref_fit"][w], out["tref_fit"][w] = (
            e0[good], se[good], rr[good], tref[good])
        out["width"][w] = wd
        todo = np.setdiff1d(todo, w)
    return out


def smooth_e0(e0, e0_se, centre_days, method="ffill"):
    """Fill/smooth the per-window E0 (section 5.2).

    ``e0_se``: standard error of each window's E0 (K).  Returns (e0, se, filled mask): the filled
    E0, its standard error (the window's own SE; filled windows the 90 % quantile of the SEs, or
    the Gaussian-process SD with ``method="gp"``) and the windows that were filled."""
    fin = np.isfinite(e0)
    nfin = int(fin.sum())
    if nfin < 5 and nfin < 0.1 * e0.size:
        raise InputError(f"DT: night-time E0 could be estimated in only {nfin} of {e0.size} windows")
    sd = np.where(np.isfinite(e0_se) & (e0_se > 0), e0_se, np.nan)
    q90 = np.nanquantile(sd[fin], 0.9) if np.isfinite(sd[fin]).any() else 50.0
    sd = np.where(fin & np.isnan(sd), q90, sd)
    if method == "gp":
        try:
            from sklearn.gaussian_process import GaussianProcessRegressor
            from sklearn.gaussian_process.kernels import RBF, ConstantKernel
        except ImportError as exc:  # pragma: no cover
            raise InputError("e0_smoothing='gp' needs scikit-learn") from exc
        X = np.asarray(centre_days, float)[fin, None]
        y = e0[fin]
        kern = ConstantKernel(np.var(y) + 1.0, (1e-2, 1e6)) * RBF(30.0, (5.0, 400.0))
        gp = GaussianProcessRegressor(kern, alpha=sd[fin] ** 2, normalize_y=True, n_restarts_optimizer=0)
        with warnings.catch_warnings():   # hyper-parameters at a bound (e.g. constant E0) are fine
            warnings.simplefilter("ignore")
            gp.fit(X, y)
        mu, s = gp.predict(np.asarray(centre_days, float)[:, None], return_std=True)
        return np.clip(mu, 50.0, 400.0), s, ~fin
    if method != "ffill":
        raise InputError(f"e0_smoothing must be 'ffill' or 'gp', not {method!r}")
    s = pd.Series(e0).ffill().bfill().to_numpy()
    return s, np.where(fin, sd, q90), ~fin


def night_rref(prep, is_night, starts, stops, e0, rref_fit, tref_fit, tref_degc=TREF_DEGC,
               min_records=3):
    """Night Rref at ``tref_degc`` per reference window with E0 fixed (section 5.2)."""
    valid = is_night & np.isfinite(prep.nee) & np.isfinite(prep.ta) & (prep.ta > -40.0)
    idx, m = lrc.pad_windows(starts, stops, valid)
    t = lrc.gather(prep.ta, idx, tref_degc)
    y = lrc.gather(prep.nee, idx, 0.0)
    f = np.where(m, lt_factor(t, e0[:, None], tref_degc), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.sum(f * y, axis=1) / np.sum(f * f, axis=1)
    conv = convert_rref(rref_fit, e0, tref_fit, tref_degc)
    r = np.where(m.sum(axis=1) >= min_records, r, conv)
    r = np.where(np.isfinite(r), np.maximum(r, 0.0), np.nan)
    return pd.Series(r).ffill().bfill().to_numpy()


# -------------------------------------------------------------------- LRC windows
def day_window_data(prep, is_day, starts, stops, vpd0_hpa=10.0, tref_degc=TREF_DEGC, rh_ref=None,
                    rh_function="exp", min_records=10, sd_replace=(0.2, 0.7), sd_floor_quantile=0.3):
    """Padded LRC data of the day records of each window, with the section 5.3 record rules.
    Returns (LRCData, record index array, k_fixed0, neglect_vpd)."""
    use_rh = rh_ref is not None
    base = (is_day & np.isfinite(prep.nee) & np.isfinite(prep.ta) & (prep.ta > -40.0)
            & np.isfinite(prep.rg))
    if use_rh:
        base &= np.isfinite(prep.rh)
    idx, m = lrc.pad_windows(starts, stops, base)
    vpd = lrc.gather(prep.vpd, idx)
    mv = m & np.isfinite(vpd)
    neglect = mv.sum(axis=1) < min_records
    mask = np.where(neglect[:, None], m, mv)
    mask &= (mask.sum(axis=1) >= min_records)[:, None]
    vpd = np.where(neglect[:, None], 0.0, vpd)
    nee = lrc.gather(prep.nee, idx)
    sd = lrc.window_sd(nee, lrc.gather(prep.sd, idx), mask, sd_replace, sd_floor_quantile)
    data = lrc.LRCData(lrc.gather(prep.rg, idx), vpd, lrc.gather(prep.ta, idx), nee, sd, mask,
                       rh=lrc.gather(prep.rh, idx) if use_rh else None,
                       rh_ref=rh_ref if use_rh else 0.0, vpd0_hpa=vpd0_hpa, tref_degc=tref_degc,
                       rh_function=rh_function)
    k0 = neglect | ~np.any(mask & (vpd >= vpd0_hpa), axis=1)
    return data, np.where(mask, idx, -1), k0, neglect


def window_locations(rec_idx, ok, centre=None):
    """Rounded mean position of the records of each accepted window (REddyProc
    isAssociateParmsToMeanOfValids), or its central record where ``centre`` is given (ONEFlux
    and PV-Wave); -1 where not used (rejected windows and later duplicates of a position)."""
    m = rec_idx >= 0
    with np.errstate(invalid="ignore"):
        loc = np.round(np.sum(np.where(m, rec_idx, 0), axis=1) / m.sum(axis=1))
    if centre is not None:
        loc = np.where(np.isfinite(loc), np.asarray(centre, float), np.nan)
    loc = np.where(ok & np.isfinite(loc), loc, -1).astype(int)
    seen = set()
    for i, v in enumerate(loc):      # keep the first window of a duplicated position
        if v >= 0:
            if v in seen:
                loc[i] = -1
            seen.add(v)
    return loc


def interpolation_weights(loc, n):
    """For every record: index (into the used windows) of the previous and next window and the
    weight of the next one (section 5.4), plus the distance to the nearest one in records."""
    order = np.argsort(loc)
    L = loc[order]
    i = np.arange(n)
    j = np.searchsorted(L, i, side="right") - 1
    prev = np.clip(j, 0, L.size - 1)
    nxt = np.clip(j + 1, 0, L.size - 1)
    before = i < L[0]
    prev = np.where(before, 0, prev)
    nxt = np.where(before, 0, nxt)
    span = (L[nxt] - L[prev]).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        w_next = np.where(span > 0, (i - L[prev]) / span, 0.5)
    dist = np.minimum(np.abs(i - L[prev]), np.abs(L[nxt] - i))
    nearest = np.where(np.abs(i - L[prev]) <= np.abs(L[nxt] - i), prev, nxt)
    return order[prev], order[nxt], w_next, dist, order[nearest]


def predict_windows(prep, theta, prev, nxt, w_next, vpd0_hpa=10.0, tref_degc=TREF_DEGC, rh_ref=0.0,
                    rh_function="exp"):
    """Interpolated predictions (reco, gpp_model, rref) of every record from window parameters."""
    t, rg = prep.ta, prep.rg
    vpd = prep.vpd
    rh = prep.rh
    if rh is not None:
        rh = np.where(np.isfinite(rh), rh, rh_ref)   # no RH at all: no RH effect on that record
    out = []
    for w in (prev, nxt):
        th = theta[w]
        k = np.where(np.isfinite(vpd), th[:, lrc.IK], 0.0)      # missing VPD: no VPD effect
        reco = lrc.reco_lrc(t, th[:, lrc.IRREF], th[:, lrc.IE0], th[:, lrc.IGAMMA],
                            rh if rh is not None and np.any(th[:, lrc.IGAMMA] != 0) else None,
                            rh_ref, tref_degc, rh_function)
        gpp = lrc.gpp_rect(np.where(np.isfinite(rg), rg, 0.0), np.where(np.isfinite(vpd), vpd, 0.0),
                           th[:, lrc.IALPHA], th[:, lrc.IBETA], k, vpd0_hpa)
        out.append((reco, gpp, th[:, lrc.IRREF]))
    (r0, g0, q0), (r1, g1, q1) = out
    return ((1 - w_next) * r0 + w_next * r1, (1 - w_next) * g0 + w_next * g1, (1 - w_next) * q0 + w_next * q1)


def fit_and_interpolate(prep, is_day, starts, stops, e0_w, rref_prior_w, options, gamma=0.0, rh_ref=None,
                        rh_function="exp", centre=None):
    """Steps 4-5: LRC fits per window and interpolated predictions.

    ``options``: a DaytimeOptions or DtrhOptions (vpd0_hpa, tref_degc, min_day_records, use_priors,
    alpha_max, beta_max, sd_replace, sd_floor_quantile, max_gap_days, resp_only_fallback, lrc_rtol,
    window_location); ``centre``: the windows' central records, used with
    ``window_location="centre"``.  Returns a dict."""
    o = options
    centre = centre if o.window_location == "centre" else None
    vpd0_hpa, tref_degc, min_records = o.vpd0_hpa, o.tref_degc, o.min_day_records
    data, rec_idx, k0, neglect = day_window_data(prep, is_day, starts, stops, vpd0_hpa, tref_degc, rh_ref,
                                                 rh_function, min_records, o.sd_replace, o.sd_floor_quantile)
    fit = lrc.fit_lrc_windows(data, e0_w, rref_prior_w, gamma, o.use_priors, o.alpha_max, o.beta_max, k_fixed0=k0,
                              rtol=o.lrc_rtol, resp_only_fallback=o.resp_only_fallback)
    fit["code"] = np.where(data.n < min_records, lrc.CODE_TOO_FEW, fit["code"])
    ok = fit["code"] == lrc.CODE_OK
    loc = window_locations(rec_idx, ok, centre)
    used = np.nonzero(loc >= 0)[0]
    if used.size == 0:
        raise InputError("DT: no light-response window could be fitted")
    prev, nxt, w_next, dist, nearest = interpolation_weights(loc[used], prep.n)
    theta = fit["theta"][used]
    reco, gpp_m, rref = predict_windows(prep, theta, prev, nxt, w_next, vpd0_hpa, tref_degc,
                                        rh_ref if rh_ref is not None else 0.0, rh_function)
    qc = np.where(fit["refit"][used][nearest], 1, 0)
    qc = np.where(dist > o.max_gap_days * prep.rpd, 2, qc)
    return {"fit": fit, "loc": loc, "used": used, "reco": reco, "gpp_model": gpp_m, "rref": rref,
            "qc": qc, "k0": k0, "neglect": neglect, "data": data}


def windows_frame(prep, starts, stops, centre, fit, loc, extra=None):
    idx = prep.index
    th, se = fit["theta"], fit["se"]
    flags = []
    for i in range(th.shape[0]):
        f = []
        if fit.get("neglect") is not None and fit["neglect"][i]:
            f.append("neglect_vpd")
        if fit["k_rule"][i]:
            f.append("k0_refit")
        elif fit["k0"][i]:
            f.append("k0")
        if fit["alpha_fixed"][i]:
            f.append("alpha_fixed")
        if fit.get("resp_only") is not None and fit["resp_only"][i]:
            f.append("resp_only")
        if fit["code"][i] != lrc.CODE_OK:
            f.append(f"code{int(fit['code'][i])}")
        flags.append("|".join(f))
    d = {"start": idx[starts], "end": idx[np.minimum(stops, len(idx)) - 1], "centre": idx[centre],
         "loc": [idx[v] if v >= 0 else pd.NaT for v in loc], "n": fit["n"],
         "alpha": th[:, lrc.IALPHA], "beta": th[:, lrc.IBETA], "k": th[:, lrc.IK],
         "rref_day": th[:, lrc.IRREF], "e0": th[:, lrc.IE0], "gamma": th[:, lrc.IGAMMA],
         "se_alpha": se[:, lrc.IALPHA], "se_beta": se[:, lrc.IBETA], "se_k": se[:, lrc.IK],
         "se_rref_day": se[:, lrc.IRREF], "cost": fit["cost"], "code": fit["code"],
         "refit": fit["refit"], "flags": flags}
    if extra:
        d.update(extra)
    return pd.DataFrame(d)


# ------------------------------------------------------------------------- driver
@dataclass(frozen=True)
class LightResponseOptions:
    """Settings shared by the day-time methods (DT and DT-RH): the light-response fits, their
    records and the day / night split.  Defaults: ONEFlux's rules (FLUXNET2015 GPP_DT_VUT_REF).

    Attributes
    ----------
    tref_degc : float
        Reference temperature of Rref (degC).
    vpd0_hpa : float
        VPD above which beta declines (hPa).
    day_rg_min : float
        Day / night threshold of SW_IN (W m-2).
    window_days, step_days : int
        Light-response windows: length and step (days).
    min_day_records : int
        Records needed for a light-response fit.
    use_priors : bool
        Lasslop priors on k, beta, alpha, Rref.
    alpha_max : float
        Largest accepted alpha (umol CO2 J-1).
    beta_max : float
        Largest accepted beta (umol CO2 m-2 s-1).
    sd_replace : tuple of float
        (fraction, minimum): missing sdNEE -> max(minimum, fraction |NEE|) (umol CO2 m-2 s-1).
    sd_floor_quantile : float or None
        Floor of sdNEE at this quantile of the window (REddyProc 0.3; None: no floor).
    max_gap_days : float
        Records farther than this from a window get QC 2 (days).
    sd_nee : str
        "lookup" (MDS look-up of sdNEE when the table has none) or "replace" (max(0.7, 0.2 |NEE|)).
    gpp_output : str
        "residual" (RECO - NEE) or "model" (the light-response GPP, FLUXNET2015 GPP_DT).
    resp_only_fallback : bool
        Windows without a light response refitted with GPP = 0 (ONEFlux).
    lrc_rtol : float
        Relative cost change that ends a light-response fit (REddyProc's optim stops at 1e-3;
        1e-6 gives the parameters of 1e-9 to well within their standard errors).
    window_location : str
        Window parameters attached to the window "centre" (ONEFlux) or the "mean" position of its
        records (REddyProc).
    day_night_rule : str
        "oneflux" (day = Rg > 4) or "reddyproc" (also SW_IN_POT > 0).
    fit_qc_only : bool
        Fit measured NEE (NEE_QC == 0) only; False fits gap-filled NEE too.
    """
    tref_degc: float = 15.0
    vpd0_hpa: float = 10.0
    day_rg_min: float = 4.0
    window_days: int = 4
    step_days: int = 2
    min_day_records: int = 10
    use_priors: bool = True
    alpha_max: float = 0.22
    beta_max: float = 250.0
    sd_replace: tuple = (0.2, 0.7)
    sd_floor_quantile: float = None
    max_gap_days: float = 14.0
    sd_nee: str = "lookup"
    gpp_output: str = "residual"
    resp_only_fallback: bool = True
    lrc_rtol: float = 1e-6
    window_location: str = "centre"
    day_night_rule: str = "oneflux"
    fit_qc_only: bool = True

    #: REddyProc's choices where they differ from ONEFlux's (the ``reddyproc()`` presets)
    REDDYPROC = {"day_night_rule": "reddyproc", "sd_nee": "replace", "sd_floor_quantile": 0.3,
                 "resp_only_fallback": False, "window_location": "mean"}

    def __post_init__(self):
        check_choice("window_location", self.window_location, ("centre", "mean"))
        check_choice("sd_nee", self.sd_nee, ("lookup", "replace"))
        check_choice("gpp_output", self.gpp_output, ("model", "residual"))
        check_choice("day_night_rule", self.day_night_rule, ("oneflux", "reddyproc"))

    @classmethod
    def oneflux(cls, **changes):
        """ONEFlux (FLUXNET2015 GPP_DT_VUT_REF): the defaults."""
        return cls(**changes)


@dataclass(frozen=True)
class DaytimeOptions(LightResponseOptions):
    """Settings of :func:`partition_daytime` (DT): those of :class:`LightResponseOptions` plus the
    night E0 series.  :meth:`oneflux` = the defaults; :meth:`reddyproc` gives REddyProc's choices
    (partGLControl).

    Attributes
    ----------
    night_window_days : int
        Night E0 window (days).
    night_extend : tuple of int
        Wider night windows (days) tried for a failed window (REddyProc: (24, 48)).
    e0_bounds : tuple of float
        Accepted night E0 (K).
    e0_smoothing : str
        "ffill" (previous E0 for failed windows) or "gp" (Gaussian process).
    min_night_records : int
        Records needed for a night E0 fit.
    night_weighted : bool
        Night E0 fits weighted by 1/sdNEE (ONEFlux).
    """
    night_window_days: int = 12
    night_extend: tuple = ()
    e0_bounds: tuple = (50.0, 400.0)
    e0_smoothing: str = "ffill"
    min_night_records: int = 10
    night_weighted: bool = True

    @classmethod
    def reddyproc(cls, **changes):
        """REddyProc's day-time partitioning where it differs from ONEFlux."""
        return cls(**{**cls.REDDYPROC, "night_weighted": False, "night_extend": (24, 48), **changes})


def check_choice(name, value, allowed):
    """InputError unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise InputError(f"{name} must be {' or '.join(repr(a) for a in allowed)}, not {value!r}")


def make_options(cls, options, overrides):
    """``options`` (an instance of ``cls`` or None for the defaults) with ``overrides`` applied."""
    base = cls() if options is None else options
    if not isinstance(base, cls):
        raise InputError(f"options must be a {cls.__name__}, not {type(base).__name__}")
    return replace(base, **overrides) if overrides else base


def partition_daytime(df, options=None, **overrides):
    """DT partitioning (Lasslop et al. 2010) of one site-year; see the module docstring.

    Parameters
    ----------
    df : TowerData or pandas.DataFrame
        One site-year of the tower table.
    options : DaytimeOptions, optional
        Default: ``DaytimeOptions()`` (ONEFlux); ``DaytimeOptions.reddyproc()`` for REddyProc.
    **overrides
        Fields of :class:`DaytimeOptions` to change, e.g. ``gpp_output="model"``.

    Returns
    -------
    DaytimeResult
        reco (RECO_DT), gpp (see ``gpp_output``), qc (FP_qc 0/1/2), windows (one row per 4-day
        window), e0_series (night E0 per window centre, K), options (dict), flags, gpp_model (LRC
        GPP), gpp_residual (RECO_DT - NEE) and rref_day (interpolated daytime Rref at
        ``tref_degc``); fluxes in umol CO2 m-2 s-1.

    Notes
    -----
    ``lrc_rtol`` = 1e-6 ends an LRC fit when the cost changes by less than 1e-6 relative (REddyProc
    stops optim at 1e-3): the same parameters to well within their standard errors as 1e-9.
    """
    o = make_options(DaytimeOptions, options, overrides)
    options = asdict(o)
    prep = prepare(df, fit_qc_only=o.fit_qc_only)
    # Day/night by Rg alone (ONEFlux, PV-Wave) by default.  The REddyProc rule also requires
    # SW_IN_POT > 0 for day and <= 0 for night, which drops dawn/dusk records (Rg > 4 with the
    # sun below the horizon at the interval middle, Rg <= 4 with it just above).  These low-light
    # records anchor the intercept (Reco) of the LRC and add warm records to the night E0 fits;
    # without them poorly constrained windows (few measured records, e.g. FR-Pue, US-Var) fall
    # into other local optima (FR-Pue 2009 R2 0.961 -> 0.978 with the ONEFlux rule).
    is_day, is_night = day_night(prep, o.day_rg_min, use_pot=o.day_night_rule == "reddyproc")
    flags = []
    if o.sd_nee == "lookup" and not np.isfinite(prep.sd).any():
        # no sdNEE in the table (the usual case for FLUXNET/tower files): estimate it as the
        # reference implementations do, by the MDS look-up (see sd_nee_lookup)
        prep.sd = sd_nee_lookup(prep, is_day | is_night)
        flags.append("sdNEE_from_lookup")
    starts, stops, centre = ref_windows(prep.n, prep.rpd, o.window_days, o.step_days)
    # Night E0 as ONEFlux: each 12-day window on its own, weighted by 1/sdNEE like the LRC fit, a
    # failed window taking the previous E0 (no 24/48-day extension: a wider window mixes
    # seasons into E0; FR-Pue 2010, whose E0 changes quickly with the summer drought: R2 0.978 -> 0.995).
    ne = night_e0(prep, is_night, centre, o.night_window_days, o.night_extend, o.e0_bounds, o.min_night_records,
                  weighted=o.night_weighted)
    e0, e0_se, filled = smooth_e0(ne["e0"], ne["e0_se"], centre / prep.rpd, o.e0_smoothing)
    rref_fit = np.where(np.isfinite(ne["rref_fit"]), ne["rref_fit"], np.nan)
    rn = night_rref(prep, is_night, starts, stops, e0, rref_fit, ne["tref_fit"], o.tref_degc)
    # LRC: sdNEE not floored by default (ONEFlux; REddyProc's 30 % quantile floor was meant for
    # its own NEE_fsd and lowers the weight of the informative low-flux records); windows without
    # a light response refitted with GPP = 0 (ONEFlux); window parameters attached to the window
    # centre (ONEFlux) rather than to the mean position of its valid records (REddyProc).
    res = fit_and_interpolate(prep, is_day, starts, stops, e0, rn, o, centre=centre)
    fit = res["fit"]
    fit["neglect"] = res["neglect"]
    idx = prep.index
    reco = pd.Series(res["reco"], index=idx, name="RECO_DT")
    # Two GPP definitions.  "model": the light-response-curve GPP (0 at night) -- this is what
    # FLUXNET2015 GPP_DT_VUT_REF is (ONEFlux gpp_hblr: zero at night, never negative) and what
    # REddyProc returns as GPP_DT (predictLRC).  "residual" (the default, the project-wide
    # convention GPP = RECO - NEE shared with NT and DT-RH): RECO_DT - NEE, which carries the
    # NEE noise and night-time scatter.  Both are returned (gpp_model, gpp_residual).
    gpp_res = res["reco"] - prep.nee_all
    gpp = pd.Series(res["gpp_model"] if o.gpp_output == "model" else gpp_res, index=idx, name="GPP_DT")
    nfail = int((ne["width"] == 0).sum())
    next_ = int((ne["width"] > o.night_window_days).sum())
    if next_:
        flags.append(f"night_e0_windows_extended:{next_}")
    if nfail:
        flags.append(f"night_e0_windows_filled:{nfail}")
    nrej = int((fit["code"] != lrc.CODE_OK).sum())
    if nrej:
        flags.append(f"lrc_windows_rejected:{nrej}")
    nref = int(fit["refit"].sum())
    if nref:
        flags.append(f"lrc_windows_refitted:{nref}")
    if (res["qc"] == 2).any():
        flags.append(f"records_far_from_window:{int((res['qc'] == 2).sum())}")
    win = windows_frame(prep, starts, stops, centre, fit, res["loc"],
                        {"rref_night": rn, "e0_se": e0_se, "e0_filled": filled, "night_width_days": ne["width"]})
    return DaytimeResult(reco=reco, gpp=gpp, qc=pd.Series(res["qc"], index=idx, name="FP_qc"), windows=win,
                         e0_series=pd.Series(e0, index=idx[centre], name="E0_night"), options=options,
                         flags=flags, gpp_model=pd.Series(res["gpp_model"], index=idx, name="GPP_DT_model"),
                         rref_day=pd.Series(res["rref"], index=idx, name="RREF_DT"),
                         gpp_residual=pd.Series(gpp_res, index=idx, name="GPP_DT_residual"))
