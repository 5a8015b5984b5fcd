"""Light-response curve (LRC) of daytime NEE (docs/methods.md sections 5.1, 5.3 and 7.2).

Model (Lasslop et al. 2010, rectangular hyperbola with VPD limitation; sign: NEP = -NEE)::

    GPP    = alpha*beta_v*Rg / (alpha*Rg + beta_v)
    beta_v = beta*exp(-k*(VPD - VPD0))  if VPD > VPD0 else beta          (VPD0 = 10 hPa)
    Reco   = Rref * f_T(T; E0) * f_RH(RH; gamma)                          (Tref = 15 degC)
    NEP    = GPP - Reco

f_T is Lloyd & Taylor (respiration.lt_factor).  f_RH is the DT-RH humidity modifier of
section 7.2: ``exp(gamma*(RH - RH_ref))`` ("exp") or ``max(0.05, 1 + gamma*(RH - RH_ref))``
("linear", gamma in %-1 in both forms); gamma = 0 gives plain Lasslop.

Parameter vector, in this order everywhere: theta = (k, beta, alpha, rref, e0, gamma).
Units: k in hPa-1, beta in umol CO2 m-2 s-1, alpha in umol CO2 J-1 (Rg in W m-2 is used
directly, as in REddyProc), rref in umol CO2 m-2 s-1 at Tref, e0 in K, gamma in %-1.

Fall-backs (fit_lrc_windows): REddyProc's k / alpha rules, plus (optional, used by the day-time
partitioning) ONEFlux's respiration-only refit of windows without a resolvable light response.

Cost (section 5.3): ``sum(((NEP_mod - NEP_obs)/sdNEE)**2) + sum_p ((theta_p - prior_p)/sd_p)**2``
over the *free* parameters that carry a prior.  It is a least-squares problem, so windows are
fitted with a vectorised (batched) Levenberg-Marquardt with the analytic Jacobian: all
windows of a site-year (and all starting points) are iterated together in numpy.  Parameter
covariances are the inverse of
J'J (prior rows included) scaled by the reduced chi-square of the data residuals when it
exceeds 1 (i.e. when the stated sdNEE under-states the scatter).
"""

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from .respiration import KELVIN, T0_K, TREF_DEGC

PARAM_NAMES = ("k", "beta", "alpha", "rref", "e0", "gamma")
IK, IBETA, IALPHA, IRREF, IE0, IGAMMA = range(6)
NPAR = 6

#: Lasslop priors (isLasslopPriorsApplied): means for k and alpha, sds for all four
PRIOR_K, PRIOR_ALPHA = 0.05, 0.1
PRIOR_SD = {"k": 50.0, "beta": 600.0, "alpha": 10.0, "rref": 80.0}

# window result codes (REddyProc numbering where it has one)
CODE_OK = 0
CODE_NOT_CONVERGED = 1002      # optimiser did not converge / parameters out of range
CODE_BETA_UNCERTAIN = 1003     # beta > 100 and sd(beta) >= beta (REddyProc folds it into 1002)
CODE_NO_E0 = 1010
CODE_TOO_FEW = 1011

RH_LINEAR_FLOOR = 0.05


# ----------------------------------------------------------------------------- model
def _x_temp(temp_degc, tref_degc=TREF_DEGC):
    """1/(Tref - T0) - 1/(T - T0): d ln f_T / d E0 (NaN at or below -40 degC)."""
    t = np.asarray(temp_degc, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        x = 1.0 / (tref_degc + KELVIN - T0_K) - 1.0 / (t + KELVIN - T0_K)
    return np.where(t > -40.0, x, np.nan)


def rh_factor(rh, gamma, rh_ref, form="exp", floor=RH_LINEAR_FLOOR):
    """Humidity modifier f_RH (section 7.2); 1 where gamma == 0."""
    d = np.asarray(rh, dtype="float64") - rh_ref
    if form == "exp":
        return np.exp(np.asarray(gamma, dtype="float64") * d)
    if form == "linear":
        return np.maximum(floor, 1.0 + np.asarray(gamma, dtype="float64") * d)
    raise InputError(f"rh_function must be 'exp' or 'linear', not {form!r}")


def gpp_rect(rg, vpd, alpha, beta, k, vpd0_hpa=10.0):
    """Rectangular-hyperbola GPP with the exponential VPD limitation of beta (0 where Rg <= 0)."""
    rg = np.asarray(rg, dtype="float64")
    dv = np.maximum(np.asarray(vpd, dtype="float64") - vpd0_hpa, 0.0)
    bv = np.asarray(beta, dtype="float64") * np.exp(-np.asarray(k, dtype="float64") * dv)
    den = alpha * rg + bv
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(den != 0.0, alpha * bv * rg / den, 0.0)
    return np.where(rg > 0.0, g, 0.0)


def reco_lrc(temp, rref, e0, gamma=0.0, rh=None, rh_ref=0.0, tref_degc=TREF_DEGC, rh_function="exp"):
    """Respiration term of the LRC: Rref * f_T(T; E0) * f_RH(RH; gamma)."""
    f = np.asarray(rref, dtype="float64") * np.exp(np.asarray(e0, dtype="float64") * _x_temp(temp, tref_degc))
    if rh is not None:
        f = f * rh_factor(rh, gamma, rh_ref, rh_function)
    return f


def nee_lrc(theta, rg, vpd, temp, rh=None, rh_ref=0.0, vpd0_hpa=10.0, tref_degc=TREF_DEGC,
            rh_function="exp"):
    """NEE = Reco - GPP for theta = (k, beta, alpha, rref, e0[, gamma])."""
    th = np.asarray(theta, dtype="float64")
    gamma = th[IGAMMA] if th.shape[0] > IGAMMA else 0.0
    gpp = gpp_rect(rg, vpd, th[IALPHA], th[IBETA], th[IK], vpd0_hpa)
    return reco_lrc(temp, th[IRREF], th[IE0], gamma, rh, rh_ref, tref_degc, rh_function) - gpp


def lrc_cost(theta, nee_obs, sd_nee, rg, vpd, temp, prior_mean=None, prior_sd=None, free=None,
             rh=None, rh_ref=0.0, vpd0_hpa=10.0, tref_degc=TREF_DEGC, rh_function="exp"):
    """Cost of section 5.3 for one window: weighted squared residuals plus Gaussian priors of
    the free parameters (``prior_sd`` inf or NaN = no prior).  Records with non-finite data are
    ignored."""
    th = np.zeros(NPAR)
    t_in = np.asarray(theta, dtype="float64")
    th[: t_in.shape[0]] = t_in
    res = (nee_lrc(th, rg, vpd, temp, rh, rh_ref, vpd0_hpa, tref_degc, rh_function)
           - np.asarray(nee_obs, dtype="float64")) / np.asarray(sd_nee, dtype="float64")
    cost = float(np.nansum(res ** 2))
    if prior_mean is not None:
        pm = np.asarray(prior_mean, dtype="float64")
        ps = np.asarray(prior_sd, dtype="float64")
        fr = np.ones(pm.shape[0], bool) if free is None else np.asarray(free, bool)
        use = fr & np.isfinite(ps) & np.isfinite(pm)
        cost += float(np.sum(((th[: pm.shape[0]][use] - pm[use]) / ps[use]) ** 2))
    return cost


# ---------------------------------------------------------------- batched least squares
def batched_lm(fun, theta0, free, prior_mean=None, prior_sd=None, lower=None, upper=None,
               max_iter=200, rtol=1e-9, scale_cov=True, cov_floor=1.0):
    """Levenberg-Marquardt on many independent least-squares problems at once.

    ``fun(theta, idx) -> (r, J)``: weighted data residuals (len(idx), n) and Jacobian
    (len(idx), n, p) of the problems ``idx`` at ``theta`` (len(idx), p); padded records have
    r = 0 and J = 0.  Priors add residuals (theta - mean)/sd for free parameters with a finite
    sd.  Fixed parameters (free False) keep their start value.  ``lower``/``upper`` (W, p),
    optional, are enforced by projecting every trial point (a projected LM).

    The covariance (J'J)^-1 is multiplied by max(chi2/dof, ``cov_floor``): ``cov_floor = 1`` for
    residuals weighted by a stated sd (never shrink below it), 0 for unweighted residuals
    (the usual residual-variance scaling of nls/curve_fit).

    Returns dict theta, cost (data + prior), chi2 (data only), converged, cov, se, niter.
    """
    theta = np.array(theta0, dtype="float64")
    W, p = theta.shape
    free = np.broadcast_to(np.asarray(free, bool), (W, p)).copy()
    pm = np.zeros((W, p)) if prior_mean is None else np.broadcast_to(prior_mean, (W, p)).astype("float64")
    psd = np.full((W, p), np.inf) if prior_sd is None else np.broadcast_to(prior_sd, (W, p)).astype("float64")
    with np.errstate(divide="ignore"):
        pw = np.where(free & np.isfinite(psd) & np.isfinite(pm) & (psd > 0), 1.0 / psd ** 2, 0.0)
    pm = np.where(pw > 0, pm, 0.0)
    lo = None if lower is None else np.broadcast_to(lower, (W, p)).astype("float64")
    hi = None if upper is None else np.broadcast_to(upper, (W, p)).astype("float64")

    def project(th, idx):
        if lo is not None:
            th = np.where(free[idx], np.maximum(th, lo[idx]), th)
        if hi is not None:
            th = np.where(free[idx], np.minimum(th, hi[idx]), th)
        return th

    all_idx = np.arange(W)
    theta = project(theta, all_idx)

    def costs(th, r, idx):
        with np.errstate(invalid="ignore", over="ignore"):
            chi2 = np.sum(r * r, axis=1)
            pc = np.sum(pw[idx] * (th - pm[idx]) ** 2, axis=1)
        c = chi2 + pc
        return np.where(np.isfinite(c), c, np.inf), chi2

    r, J = fun(theta, all_idx)
    cost, chi2 = costs(theta, r, all_idx)
    lam = np.full(W, 1e-3)
    converged = np.zeros(W, bool)
    active = np.isfinite(cost)
    niter = np.zeros(W, int)
    eye = np.eye(p)
    for _ in range(max_iter):
        idx = np.nonzero(active)[0]
        if idx.size == 0:
            break
        niter[idx] += 1
        fr = free[idx]
        Ja = J[idx] * fr[:, None, :]
        JaT = Ja.transpose(0, 2, 1)
        A = JaT @ Ja
        g = (JaT @ r[idx][..., None])[..., 0]
        A[:, range(p), range(p)] += pw[idx]
        g += pw[idx] * (theta[idx] - pm[idx])
        if lo is not None or hi is not None:   # active set: a parameter at a bound with the
            th = theta[idx]                     # gradient pointing outwards stays there
            blocked = np.zeros_like(fr)
            if lo is not None:
                blocked |= (th <= lo[idx]) & (g > 0)
            if hi is not None:
                blocked |= (th >= hi[idx]) & (g < 0)
            fr = fr & ~blocked
        d = A[:, range(p), range(p)].copy()
        d = np.where(fr, np.maximum(d, 1e-12 * (1.0 + d.max(axis=1, keepdims=True))), 1.0)
        A = A * (fr[:, :, None] & fr[:, None, :]) + eye * (~fr)[:, None, :]
        A[:, range(p), range(p)] += lam[idx, None] * d
        g = np.where(fr, g, 0.0)
        try:
            step = np.linalg.solve(A, -g[..., None])[..., 0]
        except np.linalg.LinAlgError:
            step = np.stack([np.linalg.lstsq(a, -b, rcond=None)[0] for a, b in zip(A, g)])
        trial = project(theta[idx] + np.where(fr, step, 0.0), idx)
        rt, Jt = fun(trial, idx)
        ct, chit = costs(trial, rt, idx)
        better = ct < cost[idx]
        small = (cost[idx] - ct) <= rtol * (1.0 + cost[idx])
        bi = idx[better]
        theta[bi], r[bi], J[bi], chi2[bi] = trial[better], rt[better], Jt[better], chit[better]
        cost[bi] = ct[better]
        lam[bi] = np.maximum(lam[bi] / 10.0, 1e-12)
        lam[idx[~better]] *= 10.0
        done = idx[(better & small) | (~better & (lam[idx] > 1e8))]
        converged[done] = True
        active[done] = False
    # covariance at the optimum (free parameters only)
    fr = free
    Ja = J * fr[:, None, :]
    A = Ja.transpose(0, 2, 1) @ Ja
    A[:, range(p), range(p)] += pw
    A = A * (fr[:, :, None] & fr[:, None, :]) + eye * (~fr)[:, None, :]
    cov = np.full((W, p, p), np.nan)
    ok = np.all(np.isfinite(A), axis=(1, 2))
    if ok.any():
        cov[ok] = np.linalg.pinv(A[ok])
    cov = cov * (fr[:, :, None] & fr[:, None, :])
    if scale_cov:
        nobs = np.sum(np.any(J != 0, axis=2), axis=1)
        dof = np.maximum(nobs - fr.sum(axis=1), 1)
        s2 = np.maximum(chi2 / dof, cov_floor)
        cov = cov * s2[:, None, None]
    se = np.sqrt(np.clip(np.diagonal(cov, axis1=1, axis2=2), 0.0, None))
    se = np.where(fr, se, 0.0)
    return {"theta": theta, "cost": cost, "chi2": chi2, "converged": converged & np.isfinite(cost),
            "cov": cov, "se": se, "niter": niter}


# ------------------------------------------------------------------ padded window data
@dataclass
class LRCData:
    """Day records of W windows, padded to a common length n (mask False = padding)."""
    rg: np.ndarray
    vpd: np.ndarray
    temp: np.ndarray
    nee: np.ndarray
    sd: np.ndarray
    mask: np.ndarray
    rh: np.ndarray = None
    rh_ref: float = 0.0
    vpd0_hpa: float = 10.0
    tref_degc: float = TREF_DEGC
    rh_function: str = "exp"
    xt: np.ndarray = field(init=False, default=None)
    dv: np.ndarray = field(init=False, default=None)
    drh: np.ndarray = field(init=False, default=None)
    w: np.ndarray = field(init=False, default=None)

    def __post_init__(self):
        m = np.asarray(self.mask, bool)
        self.mask = m
        fill = lambda a, v: np.where(m, np.asarray(a, dtype="float64"), v)  # noqa: E731
        self.rg, self.vpd, self.temp = fill(self.rg, 0.0), fill(self.vpd, 0.0), fill(self.temp, self.tref_degc)
        self.nee = fill(self.nee, 0.0)
        self.sd = fill(self.sd, 1.0)
        self.rh = fill(self.rh, self.rh_ref) if self.rh is not None else np.full(m.shape, float(self.rh_ref))
        self.xt = np.where(m, _x_temp(self.temp, self.tref_degc), 0.0)
        self.dv = np.maximum(self.vpd - self.vpd0_hpa, 0.0)
        self.drh = self.rh - self.rh_ref
        self.w = np.where(m, 1.0 / self.sd, 0.0)

    @property
    def n(self):
        return self.mask.sum(axis=1)

    def residuals(self, theta, idx):
        """Weighted residuals (NEP_mod - NEP_obs)/sd and the Jacobian, for ``batched_lm``."""
        th = theta[:, :, None]
        k, beta, alpha, rref, e0, gam = (th[:, i] for i in range(NPAR))
        rg, dv, xt, drh, w = self.rg[idx], self.dv[idx], self.xt[idx], self.drh[idx], self.w[idx]
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            ev = np.exp(-k * dv)
            bv = beta * ev
            den = alpha * rg + bv
            inv = np.where(den != 0.0, 1.0 / den, 0.0)
            gpp = alpha * bv * rg * inv
            ft = np.exp(e0 * xt)
            if self.rh_function == "exp":
                frh = np.exp(gam * drh)
                dfrh = drh * frh
            else:
                lin = 1.0 + gam * drh
                frh = np.maximum(RH_LINEAR_FLOOR, lin)
                dfrh = np.where(lin > RH_LINEAR_FLOOR, drh, 0.0)
            reco = rref * ft * frh
            r = (gpp - reco + self.nee[idx]) * w          # NEP_obs = -NEE
            dg_dbv = (alpha * rg * inv) ** 2
            J = np.empty(r.shape + (NPAR,))
            J[..., IK] = -dg_dbv * bv * dv
            J[..., IBETA] = dg_dbv * ev
            J[..., IALPHA] = (bv * inv) ** 2 * rg
            J[..., IRREF] = -ft * frh
            J[..., IE0] = -reco * xt
            J[..., IGAMMA] = -rref * ft * dfrh
            J *= w[..., None]
        return r, J


def pad_windows(starts, stops, valid):
    """Indices of the valid records of each window [start, stop) padded with -1: (W, nmax)."""
    pos = np.nonzero(np.asarray(valid, bool))[0]
    a = np.searchsorted(pos, starts)
    b = np.searchsorted(pos, stops)
    n = b - a
    nmax = max(int(n.max()) if n.size else 0, 1)
    j = np.arange(nmax)
    take = a[:, None] + j[None, :]
    m = j[None, :] < n[:, None]
    idx = np.where(m, pos[np.minimum(take, max(pos.size - 1, 0))] if pos.size else 0, -1)
    return idx, m


def gather(arr, idx, fill=np.nan):
    arr = np.asarray(arr, dtype="float64")
    return np.where(idx >= 0, arr[np.maximum(idx, 0)], fill)


def window_sd(nee, sd, mask, replace=(0.2, 0.7), floor_quantile=0.3):
    """sdNEE per record: missing -> max(replace[1], replace[0]*|NEE|), then floored at the
    ``floor_quantile`` quantile of the window (section 5.3)."""
    sd = np.where(np.isfinite(sd) & (sd > 0), sd, np.maximum(replace[1], replace[0] * np.abs(nee)))
    sd = np.where(mask, sd, np.nan)
    if floor_quantile is not None and mask.any():
        q = np.full(mask.shape[0], np.nan)
        rows = mask.any(axis=1)
        q[rows] = np.nanquantile(sd[rows], floor_quantile, axis=1)
        sd = np.maximum(sd, q[:, None])
    return np.where(mask, sd, 1.0)


# ------------------------------------------------------------ one sequence of windows
def _accept(theta, se, converged, alpha_max, beta_max):
    beta, alpha, rref = theta[:, IBETA], theta[:, IALPHA], theta[:, IRREF]
    finite = np.all(np.isfinite(theta), axis=1)
    code = np.full(theta.shape[0], CODE_OK)
    bad = ~converged | ~finite | (alpha < 0) | (rref < 0) | (beta < 0) | (beta >= beta_max)
    code[bad] = CODE_NOT_CONVERGED
    code[~bad & (beta > 100) & ~(se[:, IBETA] < beta)] = CODE_BETA_UNCERTAIN
    return code


def fit_lrc_windows(data, e0, rref_prior, gamma=0.0, use_priors=True, alpha_max=0.22,
                    beta_max=250.0, k_fixed0=None, alpha_default=0.22, beta_start_factors=(1.0, 1.3, 0.8),
                    max_iter=200, rtol=1e-9, resp_only_fallback=False):
    """Fit (k, beta, alpha, rref) in each window of ``data`` (time order) with E0 (and gamma)
    fixed, applying the REddyProc fall-back rules of section 5.3:

    1. k fixed at 0 where ``k_fixed0`` (no VPD >= VPD0 in the window, or VPD neglected);
    2. k < 0 or NaN -> refit with k = 0; if then alpha > alpha_max or NaN -> refit with alpha
       fixed to the last good window's alpha (``alpha_default`` if none);
    3. otherwise alpha > alpha_max or NaN -> refit with alpha fixed; if then k < 0 -> also k = 0;
    4. ``resp_only_fallback`` (ONEFlux): alpha < 0 or beta < 0 after rules 1-3 -> refit with
       GPP = 0 (alpha = beta = k = 0, only rref free, "LloydT_E0fix"); such a window counts as a
       good window with alpha = 0, and rule 2/3 then fixes alpha only to a positive last alpha
       (else the window is rejected, 1002);
    5. reject (1002) if not converged or alpha < 0, rref < 0, beta < 0, beta >= beta_max;
       reject (1003) if beta > 100 and sd(beta) >= beta.

    The priors (section 5.3) are k ~ N(0.05, 50), beta ~ N(|q97 - q03| of window NEE, 600),
    alpha ~ N(0.1, 10), rref ~ N(rref_prior, 80).  Three starts differing in beta; the lowest
    cost wins.  Windows with fewer than 1 record or a non-finite E0 get code 1011 / 1010.

    Returns a dict of arrays over windows: theta (W, 6), se (W, 6), cost, code, refit (bool),
    k0 (k fixed at 0 by a rule), alpha_fixed, n.
    """
    W = data.mask.shape[0]
    e0 = np.broadcast_to(np.asarray(e0, dtype="float64"), (W,)).copy()
    gamma = np.broadcast_to(np.asarray(gamma, dtype="float64"), (W,)).copy()
    rref_prior = np.broadcast_to(np.asarray(rref_prior, dtype="float64"), (W,)).copy()
    n = data.n
    neeq = np.where(data.mask, data.nee, np.nan)
    rows = n > 0
    bprior = np.full(W, np.nan)
    if rows.any():
        q = np.nanquantile(neeq[rows], [0.03, 0.97], axis=1)
        bprior[rows] = np.abs(q[1] - q[0])
    bprior = np.where(np.isfinite(bprior) & (bprior > 0), bprior, 10.0)
    rp = np.where(np.isfinite(rref_prior), np.maximum(rref_prior, 0.0), np.nan)
    nee_mean = np.full(W, np.nan)
    if rows.any():
        nee_mean[rows] = np.nanmean(neeq[rows], axis=1)
    rp_start = np.where(np.isfinite(rp), rp, nee_mean)
    rp_start = np.where(np.isfinite(rp_start), np.maximum(rp_start, 0.1), 1.0)
    prior_mean = np.column_stack([np.full(W, PRIOR_K), bprior, np.full(W, PRIOR_ALPHA), rp,
                                  e0, gamma])
    prior_sd = np.tile([PRIOR_SD["k"], PRIOR_SD["beta"], PRIOR_SD["alpha"], PRIOR_SD["rref"],
                        np.inf, np.inf], (W, 1)) if use_priors else np.full((W, NPAR), np.inf)
    if not use_priors:
        prior_mean[:] = np.nan
    k0 = np.zeros(W, bool) if k_fixed0 is None else np.asarray(k_fixed0, bool).copy()

    code = np.full(W, CODE_OK)
    code[~np.isfinite(e0)] = CODE_NO_E0
    code[(n < 1)] = CODE_TOO_FEW
    todo = code == CODE_OK

    theta = np.full((W, NPAR), np.nan)
    se = np.full((W, NPAR), np.nan)
    cost = np.full(W, np.nan)
    conv = np.zeros(W, bool)

    def run(sel, kfix, afix, alpha_val, gpp_zero=False):
        """Fit windows ``sel`` (indices) from the three starts; returns theta, se, cost, conv."""
        if sel.size == 0:
            return
        S = 1 if gpp_zero else len(beta_start_factors)
        th0 = np.column_stack([np.where(kfix, 0.0, PRIOR_K), bprior[sel] * (not gpp_zero),
                               np.where(afix, alpha_val, PRIOR_ALPHA), rp_start[sel], e0[sel], gamma[sel]])
        th0 = np.repeat(th0[None], S, axis=0)
        if not gpp_zero:
            th0[:, :, IBETA] *= np.asarray(beta_start_factors)[:, None]
        fr = np.ones((sel.size, NPAR), bool)
        fr[:, IE0] = fr[:, IGAMMA] = False
        fr[kfix, IK] = False
        fr[afix, IALPHA] = False
        if gpp_zero:
            fr[:, IBETA] = False
        rows_ = np.tile(sel, S)

        def fun(th, idx):
            return data.residuals(th, rows_[idx])

        res = batched_lm(fun, th0.reshape(-1, NPAR), np.tile(fr, (S, 1)),
                         np.tile(prior_mean[sel], (S, 1)), np.tile(prior_sd[sel], (S, 1)),
                         max_iter=max_iter, rtol=rtol)
        c = np.where(np.isfinite(res["cost"]), res["cost"], np.inf).reshape(S, -1)
        best = np.argmin(c, axis=0)
        pick = best * sel.size + np.arange(sel.size)
        theta[sel] = res["theta"][pick]
        se[sel] = res["se"][pick]
        cost[sel] = res["cost"][pick]
        conv[sel] = res["converged"][pick]

    sel = np.nonzero(todo)[0]
    run(sel, k0[sel], np.zeros(sel.size, bool), 0.0)
    kbad = lambda i: ~(theta[i, IK] >= 0)  # noqa: E731  (NaN counts as bad)
    abad = lambda i: ~(theta[i, IALPHA] <= alpha_max)  # noqa: E731
    refit = np.zeros(W, bool)
    afixed = np.zeros(W, bool)
    # rule 2: k < 0 -> k = 0
    s2 = sel[kbad(sel) & ~k0[sel]]
    k_rule = np.zeros(W, bool)
    k_rule[s2] = True
    run(s2, np.ones(s2.size, bool), np.zeros(s2.size, bool), 0.0)
    refit[s2] = True
    # rules 2b/3: alpha out of range -> alpha fixed to the last good window's alpha
    need_a = np.zeros(W, bool)
    need_a[sel[abad(sel)]] = True
    resp_only = np.zeros(W, bool)

    def resp_only_refit(cand):
        # ONEFlux (PV-Wave) rule: a window whose light response is not resolved (alpha < 0 or
        # beta < 0 even after the k / alpha rules) carries no detectable photosynthesis; its
        # day-time NEE is respiration, fitted with GPP = 0 (Rref free, E0 fixed).  Rejecting
        # such windows instead (REddyProc) interpolates GPP of distant windows into dormant or
        # drought-senescent periods (e.g. the dry summer of the US-Var grassland).
        s5 = cand[(theta[cand, IALPHA] < 0) | (theta[cand, IBETA] < 0)]
        run(s5, np.ones(s5.size, bool), np.ones(s5.size, bool), np.zeros(s5.size), gpp_zero=True)
        resp_only[s5] = True
        refit[s5] = True

    if resp_only_fallback:      # windows that need no alpha rule: settled before the alpha pass
        resp_only_refit(sel[~need_a[sel]])
    code_now = _accept(theta, se, conv, alpha_max, beta_max)
    good = todo & ~need_a & (code_now == CODE_OK)
    a_good = np.where(good, theta[:, IALPHA], np.nan)     # respiration-only windows: alpha = 0
    last = np.full(W, float(alpha_default))
    cur = float(alpha_default)
    for i in range(W):       # cheap scalar pass over ~180 windows
        last[i] = cur
        if np.isfinite(a_good[i]):
            cur = a_good[i]
    s3 = np.nonzero(need_a)[0]
    no_alpha = np.zeros(W, bool)
    if resp_only_fallback:
        # ONEFlux fixes alpha only to a positive alpha of the last accepted window: after a
        # respiration-only window (no photosynthesis resolved) an implausible alpha > alpha_max is
        # not replaced by the alpha of an older window (which put a spurious small GPP into the
        # whole dry season at US-Var); the window is rejected and interpolated instead.
        no_alpha[s3[~(last[s3] > 0)]] = True
        s3 = s3[last[s3] > 0]
    kf = k0[s3] | k_rule[s3]
    run(s3, kf, np.ones(s3.size, bool), last[s3])
    afixed[s3] = True
    refit[s3] = True
    s4 = s3[kbad(s3) & ~kf]
    run(s4, np.ones(s4.size, bool), np.ones(s4.size, bool), last[s4])
    k_rule[s4] = True
    if resp_only_fallback:
        resp_only_refit(s3)
        # sequential check in time order (ONEFlux walks the windows one by one): an alpha-fixed
        # window whose last accepted predecessor turned out respiration-only is rejected too
        ok_now = todo & (_accept(theta, se, conv, alpha_max, beta_max) == CODE_OK) & ~no_alpha
        cur = float(alpha_default)
        for i in range(W):
            if afixed[i] and not resp_only[i] and not cur > 0:
                no_alpha[i] = True
            elif ok_now[i]:
                cur = theta[i, IALPHA]
    code_fit = _accept(theta, se, conv, alpha_max, beta_max)
    code_fit[no_alpha] = CODE_NOT_CONVERGED
    code = np.where(todo, code_fit, code)
    return {"theta": theta, "se": se, "cost": cost, "code": code, "refit": refit & todo,
            "k0": k0 | k_rule, "k_rule": k_rule, "alpha_fixed": afixed, "n": n,
            "beta_prior": bprior, "converged": conv, "resp_only": resp_only & todo}


def fit_lrc_window(nee, rg, vpd, temp, e0, rref_night, sd_nee=None, rh=None, rh_ref=0.0, gamma=0.0,
                   vpd0_hpa=10.0, tref_degc=TREF_DEGC, rh_function="exp", alpha_last_good=0.22,
                   min_records=10, use_priors=True, alpha_max=0.22, beta_max=250.0,
                   sd_replace=(0.2, 0.7), sd_floor_quantile=0.3, resp_only_fallback=False):
    """Fit the LRC to the day records of ONE window (arrays of equal length; non-finite records
    are dropped), with the section 5.3 record rules and fall-backs.

    Record rules: with fewer than ``min_records`` records that have VPD, the VPD requirement is
    dropped and k fixed at 0 ("neglect_vpd"); still fewer -> code 1011.  No VPD >= VPD0 -> k = 0.
    Returns a dict: theta (6,), se (6,), cost, code, refit, flags (list of str), n.
    """
    nee, rg, vpd, temp = (np.asarray(a, dtype="float64").ravel() for a in (nee, rg, vpd, temp))
    sd = np.full(nee.shape, np.nan) if sd_nee is None else np.asarray(sd_nee, dtype="float64").ravel()
    rh_a = None if rh is None else np.asarray(rh, dtype="float64").ravel()
    base = np.isfinite(nee) & np.isfinite(rg) & np.isfinite(temp) & (temp > -40.0)
    if rh_a is not None:
        base &= np.isfinite(rh_a)
    flags = []
    valid = base & np.isfinite(vpd)
    neglect = False
    if valid.sum() < min_records:
        valid, neglect = base, True
        flags.append("neglect_vpd")
    if valid.sum() < min_records:
        return {"theta": np.full(NPAR, np.nan), "se": np.full(NPAR, np.nan), "cost": np.nan,
                "code": CODE_TOO_FEW, "refit": False, "flags": flags + ["too_few_records"],
                "n": int(valid.sum())}
    v = np.where(neglect, 0.0, vpd)
    m = valid[None, :]
    sdw = window_sd(nee[None, :], sd[None, :], m, sd_replace, sd_floor_quantile)
    data = LRCData(rg[None], v[None], temp[None], nee[None], sdw, m,
                   rh=None if rh_a is None else rh_a[None], rh_ref=rh_ref, vpd0_hpa=vpd0_hpa,
                   tref_degc=tref_degc, rh_function=rh_function)
    k0 = neglect or not np.any(v[valid] >= vpd0_hpa)
    if k0 and not neglect:
        flags.append("k0_low_vpd")
    res = fit_lrc_windows(data, e0, rref_night, gamma, use_priors, alpha_max, beta_max,
                          k_fixed0=np.array([k0]), alpha_default=alpha_last_good,
                          resp_only_fallback=resp_only_fallback)
    if res["k_rule"][0]:
        flags.append("k0_refit")
    if res["alpha_fixed"][0]:
        flags.append("alpha_fixed")
    if res["resp_only"][0]:
        flags.append("resp_only")
    if res["code"][0] == CODE_NO_E0:
        flags.append("no_e0")
    elif res["code"][0] != CODE_OK:
        flags.append("rejected")
    return {"theta": res["theta"][0], "se": res["se"][0], "cost": float(res["cost"][0]),
            "code": int(res["code"][0]), "refit": bool(res["refit"][0]), "flags": flags,
            "n": int(valid.sum())}
