"""Daytime partitioning (DT, Lasslop et al. 2010) of one site-year (science.md section 5).

Steps
1. Reference windows: 4 days stepping 2 days from the first record; each has a central
   record at the start of its third day.
2. Night E0 (section 5.2): Lloyd-Taylor fitted (unweighted least squares, Tref = window
   median T) to measured night NEE (SW_IN <= 4 & SW_IN_POT <= 0) in a 12-day window centred
   on each reference window; windows that fail (fewer than 10 records, no convergence, E0
   outside [50, 400] K) are retried at 24 and 48 days.  Missing E0 are filled forward
   (``e0_smoothing="ffill"``, sd = 90 % quantile of sdE0) or smoothed by a Gaussian process
   with per-point nugget sdE0**2 (``"gp"``, sklearn, replacing REddyProc's mlegp).
3. Night Rref at 15 degC per reference window with E0 fixed: regression through the origin on
   the window's night records (>= 3), else the 12-day fit converted to 15 degC; max(0, .),
   gaps filled forward (a leading gap takes the first value).  It is the prior of the LRC Rref.
4. LRC per reference window (lightresponse.fit_lrc_windows) on measured day records
   (SW_IN > 4 & SW_IN_POT > 0), with priors, three starts and the REddyProc fall-backs.
5. Each accepted window is attached to the rounded mean position of its records (first one
   kept on ties); every record is predicted with the previous and the next window's
   parameters and the two predictions are combined with distance weights (section 5.4).
6. RECO_DT from step 5, GPP_DT = RECO_DT - NEE (NEE as given, i.e. gap-filled); the LRC GPP
   is returned as ``gpp_model``.  qc (FP_qc): 0 good, 1 the nearest window was refitted by a
   fall-back rule, 2 the nearest estimate is more than 14 days away.
"""

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import InputError
from . import lightresponse as lrc
from .respiration import T0_K, KELVIN, TREF_DEGC, convert_rref, lt_factor

REQUIRED = ("NEE", "NEE_QC", "TA", "SW_IN", "SW_IN_POT", "VPD")


@dataclass
class DaytimeResult:
    reco: pd.Series
    gpp: pd.Series
    qc: pd.Series
    windows: pd.DataFrame
    e0_series: pd.Series
    options: dict
    flags: list = field(default_factory=list)
    gpp_model: pd.Series = None
    rref_day: pd.Series = None


# ------------------------------------------------------------------------ input
def prepare(df, need_rh=False):
    """Validate the tower table and return plain numpy arrays (dict)."""
    if not isinstance(df, pd.DataFrame) or not isinstance(df.index, pd.DatetimeIndex):
        raise InputError("tower table: expected a pandas DataFrame with a DatetimeIndex (TIMESTAMP_START)")
    cols = REQUIRED + (("RH",) if need_rh else ())
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise InputError(f"tower table {df.attrs.get('site_id', '')}: missing column(s) {', '.join(missing)}")
    n = len(df)
    if n < 48:
        raise InputError("tower table: fewer than 48 records")
    d = np.diff(df.index.values).astype("timedelta64[s]").astype(np.int64)
    if d.size and (np.any(d != d[0]) or d[0] <= 0):
        raise InputError("tower table: the time index must be regular and increasing")
    rpd = df.attrs.get("records_per_day") or int(round(86400 / d[0]))
    rpd = int(rpd)
    a = {c: df[c].to_numpy(dtype="float64", na_value=np.nan).copy() for c in cols}
    for c in cols:
        a[c][a[c] == -9999.0] = np.nan
    out = {"index": df.index, "n": n, "rpd": rpd, "nee_all": a["NEE"], "ta": a["TA"],
           "rg": np.maximum(a["SW_IN"], 0.0), "pot": a["SW_IN_POT"], "vpd": a["VPD"],
           "rh": a.get("RH"), "qc": a["NEE_QC"]}
    out["nee"] = np.where(out["qc"] == 0, out["nee_all"], np.nan)      # measured only
    sd = df["sdNEE"].to_numpy(dtype="float64", na_value=np.nan) if "sdNEE" in df.columns else np.full(n, np.nan)
    out["sd"] = np.where(sd == -9999.0, np.nan, sd)
    return out


def day_night(prep, day_rg_min=4.0):
    """(is_day, is_night) per section 3 (DT): day = Rg > 4 & POT > 0, night = Rg <= 4 & POT <= 0.
    A missing Rg is decided by SW_IN_POT alone."""
    rg, pot = prep["rg"], prep["pot"]
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
def _lt_fit(y, t, mask, tref_degc, rref0, e0_starts=(100.0, 250.0), max_iter=50, mult=None):
    """Batched unweighted LT fit R = Rref*exp(E0 (1/(Tref-T0) - 1/(T-T0))) [* mult] per row of
    the padded arrays (Tref per row; ``mult`` a known multiplier per record, e.g. f_RH).
    Returns rref, e0, se_e0, converged, chi2."""
    W = y.shape[0]
    x = np.where(mask, 1.0 / (tref_degc[:, None] + KELVIN - T0_K) - 1.0 / (t + KELVIN - T0_K), 0.0)
    yy = np.where(mask, y, 0.0)
    m = mask.astype("float64") * (1.0 if mult is None else np.where(mask, mult, 0.0))
    S = len(e0_starts)
    X, Y, M = np.tile(x, (S, 1)), np.tile(yy, (S, 1)), np.tile(m, (S, 1))

    def fun(th, idx):
        with np.errstate(over="ignore", invalid="ignore"):   # wild trial steps give inf cost
            f = np.exp(th[:, 1:2] * X[idx])
            pred = th[:, 0:1] * f
            r = pred * M[idx] - Y[idx] * (M[idx] != 0)
            J = np.stack([f * M[idx], pred * X[idx] * M[idx]], axis=-1)
        return r, J

    th0 = np.column_stack([np.tile(rref0, S), np.repeat(np.asarray(e0_starts, float), W)])
    res = lrc.batched_lm(fun, th0, np.ones((S * W, 2), bool), max_iter=max_iter, cov_floor=0.0)
    c = np.where(np.isfinite(res["cost"]), res["cost"], np.inf).reshape(S, W)
    pick = np.argmin(c, axis=0) * W + np.arange(W)
    return (res["theta"][pick, 0], res["theta"][pick, 1], res["se"][pick, 1], res["converged"][pick],
            res["chi2"][pick])


def night_e0(prep, is_night, centre, win_days=12, extend=(24, 48), bounds=(50.0, 400.0),
             min_records=10, cold_degc=-1.0, min_warm=12):
    """Night-time E0 per reference window (section 5.2).  Returns a dict of arrays over
    windows: e0, e0_sd, rref_fit, tref_fit (degC), width (days used, 0 = failed)."""
    n, rpd = prep["n"], prep["rpd"]
    valid = is_night & np.isfinite(prep["nee"]) & np.isfinite(prep["ta"]) & (prep["ta"] > -40.0)
    W = centre.size
    out = {k: np.full(W, np.nan) for k in ("e0", "e0_sd", "rref_fit", "tref_fit")}
    out["width"] = np.zeros(W, int)
    todo = np.arange(W)
    for wd in (win_days,) + tuple(extend):
        if todo.size == 0:
            break
        half = wd * rpd // 2
        a = np.clip(centre[todo] - half, 0, n)
        b = np.clip(centre[todo] + half, 0, n)
        idx, m = lrc.pad_windows(a, b, valid)
        t = lrc.gather(prep["ta"], idx)
        y = lrc.gather(prep["nee"], idx)
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
        rr, e0, se, conv, _ = _lt_fit(yv, tt, mm, tref, r0)
        good = conv & np.isfinite(e0) & (e0 >= bounds[0]) & (e0 <= bounds[1]) & (rr >= 0)
        w = todo[sel[good]]
        out["e0"][w], out["e0_sd"][w], out["rref_fit"][w], out["tref_fit"][w] = (
            e0[good], se[good], rr[good], tref[good])
        out["width"][w] = wd
        todo = np.setdiff1d(todo, w)
    return out


def smooth_e0(e0, e0_sd, centre_days, method="ffill"):
    """Fill/smooth the per-window E0 (section 5.2).  Returns (e0, sd, filled mask)."""
    fin = np.isfinite(e0)
    nfin = int(fin.sum())
    if nfin < 5 and nfin < 0.1 * e0.size:
        raise InputError(f"DT: night-time E0 could be estimated in only {nfin} of {e0.size} windows")
    sd = np.where(np.isfinite(e0_sd) & (e0_sd > 0), e0_sd, np.nan)
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
    valid = is_night & np.isfinite(prep["nee"]) & np.isfinite(prep["ta"]) & (prep["ta"] > -40.0)
    idx, m = lrc.pad_windows(starts, stops, valid)
    t = lrc.gather(prep["ta"], idx, tref_degc)
    y = lrc.gather(prep["nee"], idx, 0.0)
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
    base = (is_day & np.isfinite(prep["nee"]) & np.isfinite(prep["ta"]) & (prep["ta"] > -40.0)
            & np.isfinite(prep["rg"]))
    if use_rh:
        base &= np.isfinite(prep["rh"])
    idx, m = lrc.pad_windows(starts, stops, base)
    vpd = lrc.gather(prep["vpd"], idx)
    mv = m & np.isfinite(vpd)
    neglect = mv.sum(axis=1) < min_records
    mask = np.where(neglect[:, None], m, mv)
    mask &= (mask.sum(axis=1) >= min_records)[:, None]
    vpd = np.where(neglect[:, None], 0.0, vpd)
    nee = lrc.gather(prep["nee"], idx)
    sd = lrc.window_sd(nee, lrc.gather(prep["sd"], idx), mask, sd_replace, sd_floor_quantile)
    data = lrc.LRCData(lrc.gather(prep["rg"], idx), vpd, lrc.gather(prep["ta"], idx), nee, sd, mask,
                       rh=lrc.gather(prep["rh"], idx) if use_rh else None,
                       rh_ref=rh_ref if use_rh else 0.0, vpd0_hpa=vpd0_hpa, tref_degc=tref_degc,
                       rh_function=rh_function)
    k0 = neglect | ~np.any(mask & (vpd >= vpd0_hpa), axis=1)
    return data, np.where(mask, idx, -1), k0, neglect


def window_locations(rec_idx, ok):
    """Rounded mean position of the records of each accepted window; -1 where not used
    (rejected windows and later duplicates of a position)."""
    m = rec_idx >= 0
    with np.errstate(invalid="ignore"):
        loc = np.round(np.sum(np.where(m, rec_idx, 0), axis=1) / m.sum(axis=1))
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
    t, rg = prep["ta"], prep["rg"]
    vpd = prep["vpd"]
    rh = prep["rh"]
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


def fit_and_interpolate(prep, is_day, starts, stops, e0_w, rref_prior_w, gamma=0.0, rh_ref=None,
                        rh_function="exp", vpd0_hpa=10.0, tref_degc=TREF_DEGC, min_records=10,
                        use_priors=True, alpha_max=0.22, beta_max=250.0, sd_replace=(0.2, 0.7),
                        sd_floor_quantile=0.3, max_gap_days=14.0):
    """Steps 4-5: LRC fits per window and interpolated predictions.  Returns a dict."""
    data, rec_idx, k0, neglect = day_window_data(prep, is_day, starts, stops, vpd0_hpa, tref_degc, rh_ref,
                                                 rh_function, min_records, sd_replace, sd_floor_quantile)
    fit = lrc.fit_lrc_windows(data, e0_w, rref_prior_w, gamma, use_priors, alpha_max, beta_max, k_fixed0=k0)
    fit["code"] = np.where(data.n < min_records, lrc.CODE_TOO_FEW, fit["code"])
    ok = fit["code"] == lrc.CODE_OK
    loc = window_locations(rec_idx, ok)
    used = np.nonzero(loc >= 0)[0]
    if used.size == 0:
        raise InputError("DT: no light-response window could be fitted")
    prev, nxt, w_next, dist, nearest = interpolation_weights(loc[used], prep["n"])
    theta = fit["theta"][used]
    reco, gpp_m, rref = predict_windows(prep, theta, prev, nxt, w_next, vpd0_hpa, tref_degc,
                                        rh_ref if rh_ref is not None else 0.0, rh_function)
    qc = np.where(fit["refit"][used][nearest], 1, 0)
    qc = np.where(dist > max_gap_days * prep["rpd"], 2, qc)
    return {"fit": fit, "loc": loc, "used": used, "reco": reco, "gpp_model": gpp_m, "rref": rref,
            "qc": qc, "k0": k0, "neglect": neglect, "data": data}


def windows_frame(prep, starts, stops, centre, fit, loc, extra=None):
    idx = prep["index"]
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
def partition_daytime(df, tref_degc=15.0, vpd0_hpa=10.0, day_rg_min=4.0, window_days=4, step_days=2,
                      night_window_days=12, night_extend=(24, 48), e0_bounds=(50.0, 400.0),
                      e0_smoothing="ffill", min_night_records=10, min_day_records=10, use_priors=True,
                      alpha_max=0.22, beta_max=250.0, sd_replace=(0.2, 0.7), sd_floor_quantile=0.3,
                      max_gap_days=14.0):
    """DT partitioning (Lasslop et al. 2010) of one site-year; see the module docstring.

    Returns a DaytimeResult: reco (RECO_DT), gpp (GPP_DT = RECO_DT - NEE), qc (FP_qc 0/1/2),
    windows (one row per 4-day window), e0_series (night E0 per window centre), options,
    flags, gpp_model (LRC GPP) and rref_day (interpolated daytime Rref at ``tref_degc``).
    """
    options = {k: v for k, v in locals().items() if k != "df"}
    prep = prepare(df)
    is_day, is_night = day_night(prep, day_rg_min)
    starts, stops, centre = ref_windows(prep["n"], prep["rpd"], window_days, step_days)
    ne = night_e0(prep, is_night, centre, night_window_days, night_extend, e0_bounds, min_night_records)
    e0, e0_sd, filled = smooth_e0(ne["e0"], ne["e0_sd"], centre / prep["rpd"], e0_smoothing)
    rref_fit = np.where(np.isfinite(ne["rref_fit"]), ne["rref_fit"], np.nan)
    rn = night_rref(prep, is_night, starts, stops, e0, rref_fit, ne["tref_fit"], tref_degc)
    res = fit_and_interpolate(prep, is_day, starts, stops, e0, rn, 0.0, None, "exp", vpd0_hpa, tref_degc,
                              min_day_records, use_priors, alpha_max, beta_max, sd_replace,
                              sd_floor_quantile, max_gap_days)
    fit = res["fit"]
    fit["neglect"] = res["neglect"]
    idx = prep["index"]
    reco = pd.Series(res["reco"], index=idx, name="RECO_DT")
    gpp = pd.Series(res["reco"] - prep["nee_all"], index=idx, name="GPP_DT")
    flags = []
    nfail = int((ne["width"] == 0).sum())
    next_ = int((ne["width"] > night_window_days).sum())
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
                        {"rref_night": rn, "e0_sd": e0_sd, "e0_filled": filled, "night_width_days": ne["width"]})
    return DaytimeResult(reco=reco, gpp=gpp, qc=pd.Series(res["qc"], index=idx, name="FP_qc"), windows=win,
                         e0_series=pd.Series(e0, index=idx[centre], name="E0_night"), options=options,
                         flags=flags, gpp_model=pd.Series(res["gpp_model"], index=idx, name="GPP_DT_model"),
                         rref_day=pd.Series(res["rref"], index=idx, name="RREF_DT"))
