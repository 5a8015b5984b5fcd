"""One joint respiration model of a whole site-year: night-time and day-time measured NEE together,
with shared temperature sensitivities and humidity response (docs/methods.md section 20).

    night:  NEE = Rref_n(t) f_T(T; E0_n) [f_RH(RH; gamma) if rh_at_night]
    day:    NEE = Rref_d(t) f_T(T; E0_d) f_RH(RH; gamma) - GPP_b(Rg, VPD; alpha_b, beta_b, k_b)

f_T is Lloyd & Taylor (Tref 15 degC), f_RH the humidity modifier of section 7.2 (exp or linear,
RH_ref the site median RH), GPP the rectangular hyperbola with VPD limitation of section 5.1.  The
year is cut into blocks of ``block_days`` days; each block has its own night and day reference
respiration (Rref_n, Rref_d, constant in the block) and its own light response (alpha, beta, k).
E0_n, E0_d and gamma are shared by the whole site-year.  Every parameter comes from one weighted
least-squares fit (weights 1/sdNEE, the
Lasslop priors of section 5.3 on the light-response parameters as in DT), so the estimates change
smoothly with the data: there is no discrete choice of "the best windows" as in stage B of DT-RH.

The four nested models of the comparison (:mod:`.evidence`):

=========  ======================  ============
model      E0 by day               gamma
=========  ======================  ============
DT         = E0_n                  0
DTASYM     free                    0
DTRHONLY   = E0_n                  free
DTRH       free                    free
=========  ======================  ============

Records: measured NEE (NEE_QC == 0 unless ``fit_qc_only=False``), day = Rg > 4 W m-2 (ONEFlux;
``day_night_rule="reddyproc"``: also SW_IN_POT > 0), night = the others (REddyProc rule: Rg <= 4 and
SW_IN_POT <= 0); a block is used when it has ``min_day_records`` day and ``min_night_records``
night records.  RH is taken from the RH column, from VPD and TA where it is missing.

The fit (:func:`fit`) is variable projection: Gauss-Newton steps on the shared parameters, the
block parameters refitted for each (all blocks at once), so that a site-year (~10^4 records, ~460
parameters) fits in about a second and a warm-started refit (bootstrap, cross-validation) in a
fraction of it.
"""

import threading
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from types import SimpleNamespace

import numpy as np
import pandas as pd
from scipy import sparse

from ..common.meteorology import rh_from_vpd
from ..errors import InputError
from . import daytime as dt, lightresponse as lrc
from .lightresponse import PRIOR_ALPHA, PRIOR_K, PRIOR_SD, RH_LINEAR_FLOOR, _x_temp
from .respiration import TREF_DEGC

MODELS = ("DT", "DTASYM", "DTRHONLY", "DTRH")
#: (E0_d free, gamma free) of each model
FREE = {"DT": (False, False), "DTASYM": (True, False), "DTRHONLY": (False, True), "DTRH": (True, True)}
#: the DT-RH partitioning variants and their model
VARIANT_MODEL = {"DTRH": "DTRH", "DT-asym": "DTASYM", "DT-RHonly": "DTRHONLY"}

IE0N, IE0D, IGAM = 0, 1, 2
NSHARED = 3
BETA_MIN = 0.01
#: iterations of the block fits per profile evaluation (warm-started; the outer loop only accepts decreases)
INNER_MAX_ITER = 40
#: per-block parameters, in this order after the shared ones
BLOCK_PARAMS = ("rref_night", "rref_day", "alpha", "beta", "k")


@dataclass(frozen=True)
class JointOptions:
    """Settings of the joint model.

    Attributes
    ----------
    block_days : int
        Length of the blocks with their own Rref and light response (days).
    rh_function : str
        "exp" or "linear" humidity modifier (section 7.2).
    rh_ref : float or None
        Reference RH (%); None: the site-year median of the measured RH.
    rh_at_night : bool
        The humidity modifier applies to night-time respiration too.
    day_night_rule : str
        "oneflux" (day = Rg > 4 W m-2) or "reddyproc" (also SW_IN_POT > 0).
    day_rg_min : float
        Day / night threshold of SW_IN (W m-2).
    sd_nee : str
        "lookup" (MDS look-up of sdNEE when the table has none, as DT) or "replace" (max(0.7, 0.2 |NEE|)).
    min_day_records, min_night_records : int
        Measured records a block needs by day and by night to be used.
    e0_bounds : tuple of float
        Bounds of E0_n and E0_d (K).
    gamma_bounds : tuple of float
        Bounds of gamma (%-1).
    alpha_max, beta_max, k_max : float
        Upper bounds of the light-response parameters (umol J-1, umol m-2 s-1, hPa-1).
    vpd0_hpa, tref_degc : float
        VPD threshold of the light response (hPa); reference temperature of Rref (degC).
    fit_qc_only : bool
        Fit measured NEE only.
    max_iter : int
        Gauss-Newton iterations of the shared parameters.
    """
    block_days: int = 4
    rh_function: str = "exp"
    rh_ref: float = None
    rh_at_night: bool = True
    day_night_rule: str = "oneflux"
    day_rg_min: float = 4.0
    sd_nee: str = "lookup"
    min_day_records: int = 10
    min_night_records: int = 5
    e0_bounds: tuple = (30.0, 450.0)
    gamma_bounds: tuple = (-0.05, 0.05)
    alpha_max: float = 0.22
    beta_max: float = 250.0
    k_max: float = 1.0
    vpd0_hpa: float = 10.0
    tref_degc: float = TREF_DEGC
    fit_qc_only: bool = True
    max_iter: int = 60

    def __post_init__(self):
        dt.check_choice("rh_function", self.rh_function, ("exp", "linear"))
        dt.check_choice("day_night_rule", self.day_night_rule, ("oneflux", "reddyproc"))
        dt.check_choice("sd_nee", self.sd_nee, ("lookup", "replace"))
        if int(self.block_days) < 1:
            raise InputError(f"block_days must be at least 1, not {self.block_days}")


def site_rh(prep):
    """RH per record (%): the RH column, from VPD and TA where it is missing; the number of
    derived records.  InputError when no RH can be had."""
    rh = np.asarray(prep.rh, dtype="float64") if prep.rh is not None else np.full(prep.n, np.nan)
    miss = ~np.isfinite(rh)
    derived = 0
    if miss.any():
        with np.errstate(invalid="ignore", over="ignore"):
            rh_vpd = rh_from_vpd(prep.vpd, prep.ta)
        rh = np.where(miss, rh_vpd, rh)
        derived = int((miss & np.isfinite(rh)).sum())
    if not np.isfinite(rh).any():
        raise InputError("RH: the column has no finite value (and none can be derived from VPD and TA)")
    return rh, derived


@dataclass
class JointData:
    """The records of one site-year the joint model fits (one entry per used record) and its
    parameter layout.  Build it with :func:`joint_data`."""
    index: pd.DatetimeIndex
    pos: np.ndarray          # record position in the site-year
    day: np.ndarray          # bool: day-time record
    day_number: np.ndarray   # day of the site-year (0-based), the unit of resampling
    block: np.ndarray        # block of the record (0..nblock-1, used blocks only)
    nee: np.ndarray
    sd: np.ndarray
    xt: np.ndarray           # 1/(Tref-T0) - 1/(T-T0)
    drh: np.ndarray          # RH - RH_ref (%)
    rg: np.ndarray
    dv: np.ndarray           # max(VPD - VPD0, 0) (hPa)
    ta: np.ndarray           # degC
    vpd: np.ndarray          # hPa (0 at night)
    rh: np.ndarray           # %
    nblock: int
    block_start: np.ndarray  # first time stamp of each used block
    rh_ref: float
    options: JointOptions
    prior_beta: np.ndarray
    start_rref: np.ndarray
    flags: list = field(default_factory=list)

    @property
    def n(self):
        return self.nee.size

    @property
    def npar(self):
        return NSHARED + len(BLOCK_PARAMS) * self.nblock

    def col(self, name, block):
        """Column of a block parameter."""
        return NSHARED + BLOCK_PARAMS.index(name) * self.nblock + np.asarray(block)


def joint_data(df, options=None, prep=None, **overrides):
    """The :class:`JointData` of one site-year (TowerData or DataFrame with NEE, NEE_QC, TA,
    SW_IN, SW_IN_POT, VPD and RH (or VPD and TA to derive it); sdNEE used when present).
    ``prep``: the site-year already prepared (daytime.prepare; its sdNEE is used when finite)."""
    o = dt.make_options(JointOptions, options, overrides)
    if prep is None:
        prep = dt.prepare(df, need_rh=False, fit_qc_only=o.fit_qc_only)
    if prep.rh is None:
        src = df.data if hasattr(df, "data") else df
        prep.rh = src["RH"].to_numpy(dtype="float64", na_value=np.nan) if "RH" in src else None
    rh, derived = site_rh(prep)
    flags = [f"rh_from_vpd_ta:{derived}"] if derived else []
    measured_rh = np.asarray(prep.rh, dtype="float64") if prep.rh is not None else np.full(prep.n, np.nan)
    rh_ref = o.rh_ref
    if rh_ref is None:
        rh_ref = float(np.nanmedian(measured_rh)) if np.isfinite(measured_rh).any() else float(np.nanmedian(rh))
    is_day, is_night = dt.day_night(prep, o.day_rg_min, use_pot=o.day_night_rule == "reddyproc")
    # night records: the REddyProc rule whichever day rule (twilight records are not night)
    is_night = is_night & ~(prep.pot > 0)
    sd = np.asarray(prep.sd, dtype="float64")
    if not np.isfinite(sd).any():
        if o.sd_nee == "lookup":
            sd = dt.sd_nee_lookup(prep, is_day | is_night)
            flags.append("sdNEE_from_lookup")
        else:
            sd = np.full(prep.n, np.nan)
    sd = np.where(np.isfinite(sd) & (sd > 0), sd, np.maximum(0.7, 0.2 * np.abs(prep.nee)))
    with np.errstate(invalid="ignore"):
        base = np.isfinite(prep.nee) & np.isfinite(prep.ta) & (prep.ta > -40.0) & np.isfinite(rh)
        use_day = base & is_day & np.isfinite(prep.rg) & np.isfinite(prep.vpd)
        use_night = base & is_night
    dayno = np.arange(prep.n) // prep.rpd
    blk = dayno // int(o.block_days)
    nb_all = int(blk.max()) + 1
    nd = np.bincount(blk[use_day], minlength=nb_all)
    nn = np.bincount(blk[use_night], minlength=nb_all)
    keep = (nd >= o.min_day_records) & (nn >= o.min_night_records)
    if keep.sum() < 2:
        raise InputError(f"joint respiration model: fewer than 2 blocks of {o.block_days} days with "
                         f"{o.min_day_records} measured day and {o.min_night_records} night records")
    dropped = int((~keep & ((nd > 0) | (nn > 0))).sum())
    if dropped:
        flags.append(f"blocks_without_enough_day_or_night_records:{dropped}")
    renum = np.cumsum(keep) - 1
    used = (use_day | use_night) & keep[blk]
    pos = np.flatnonzero(used)
    b = renum[blk[pos]]
    nblock = int(keep.sum())
    day = is_day[pos]
    nee = prep.nee[pos]
    prior_beta = np.full(nblock, 10.0)
    start_rref = np.full(nblock, 1.0)
    for i in range(nblock):
        m = b == i
        yd = nee[m & day]
        yn = nee[m & ~day]
        if yd.size >= 2:
            q = np.quantile(yd, [0.03, 0.97])
            prior_beta[i] = max(abs(q[1] - q[0]), 1.0)
        if yn.size:
            start_rref[i] = max(float(np.mean(yn)), 0.1)
    drh = rh[pos] - rh_ref
    return JointData(index=prep.index[pos], pos=pos, day=day, day_number=dayno[pos], block=b, nee=nee,
                     sd=sd[pos], xt=_x_temp(prep.ta[pos], o.tref_degc), drh=drh,
                     rg=np.where(day, prep.rg[pos], 0.0),
                     dv=np.where(day, np.maximum(np.nan_to_num(prep.vpd[pos]) - o.vpd0_hpa, 0.0), 0.0),
                     ta=prep.ta[pos], vpd=np.where(day, np.nan_to_num(prep.vpd[pos]), 0.0), rh=rh[pos],
                     nblock=nblock,
                     block_start=prep.index[np.flatnonzero(keep) * o.block_days * prep.rpd],
                     rh_ref=float(rh_ref), options=o, prior_beta=prior_beta, start_rref=start_rref, flags=flags)


@dataclass
class JointFit:
    """A fitted joint model (see the module docstring).

    Attributes
    ----------
    model : str
        DT, DTASYM, DTRHONLY or DTRH.
    x : numpy.ndarray
        All parameters (shared, then per block: Rref_n, Rref_d at Tref and RH_ref in umol CO2
        m-2 s-1, alpha in umol CO2 J-1, beta in umol CO2 m-2 s-1, k in hPa-1).
    e0_night, e0_day : float
        E0 (K); gamma (%-1).
    se : dict
        Standard errors of e0_night, e0_day, gamma from the curvature of the fit (records taken as
        independent; the bootstrap of :mod:`.evidence` gives honest intervals).
    ssr : float
        Weighted sum of squared residuals sum(w ((model - NEE)/sdNEE)^2).
    n, n_par : int
        Records with a weight, free parameters (the scale of the errors not included).
    loglik : float
        Gaussian log-likelihood with the errors sdNEE times one scale fitted: -n/2 (1 + log(2 pi
        ssr/n)) - sum(log sdNEE) over the weighted records (weights 1 or 0).
    converged : bool
    niter : int
    """
    model: str
    x: np.ndarray
    e0_night: float
    e0_day: float
    gamma: float
    se: dict
    ssr: float
    n: int
    n_par: int
    loglik: float
    converged: bool
    niter: int
    rho1: float = np.nan

    def block_values(self, data, name):
        """One block parameter per block."""
        return self.x[data.col(name, np.arange(data.nblock))]


@dataclass
class Start:
    """A warm start of :func:`fit`: the parameter vector of an earlier fit of the same data."""
    x: np.ndarray


def pack(data):
    """``data`` (JointData) as plain numpy/pandas values and dicts, e.g. for a helper process that
    imports this package under another name; :func:`unpack` rebuilds it."""
    out = {f.name: getattr(data, f.name) for f in fields(data)}
    out["options"] = asdict(data.options)
    return out


def unpack(packed):
    """The JointData of :func:`pack`."""
    return JointData(**{**packed, "options": JointOptions(**packed["options"])})


def _rref(x, data, name):
    """Rref of each record: that of its block."""
    return x[data.col(name, data.block)]


def _terms(x, d):
    """The model's pieces on the used records of ``d`` for the parameters ``x``: f_T, f_RH and its
    gamma derivative (1 and 0 where RH does not act), Rref, ER, the light response (alpha, exp(-k dv),
    beta_v, 1/(alpha Rg + beta_v) by day, else 0) and GPP."""
    o = d.options
    day = d.day
    ft = np.exp(np.where(day, x[IE0D], x[IE0N]) * d.xt)
    frh, dfrh = _frh(x[IGAM], d.drh, o.rh_function)
    rh_on = day | o.rh_at_night
    frh, dfrh = np.where(rh_on, frh, 1.0), np.where(rh_on, dfrh, 0.0)
    rref = np.where(day, _rref(x, d, "rref_day"), _rref(x, d, "rref_night"))
    alpha, beta, k = x[d.col("alpha", d.block)], x[d.col("beta", d.block)], x[d.col("k", d.block)]
    ev = np.exp(-k * d.dv)
    bv = beta * ev
    den = alpha * d.rg + bv
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(day & (den > 0), 1.0 / den, 0.0)
    return SimpleNamespace(ft=ft, frh=frh, dfrh=dfrh, rref=rref, er=rref * ft * frh, alpha=alpha, ev=ev, bv=bv,
                           inv=inv, gpp=alpha * bv * d.rg * inv)


def predict(x, data):
    """(NEE, ER, GPP) of the used records for the parameter vector ``x``."""
    t = _terms(x, data)
    return t.er - t.gpp, t.er, t.gpp


def _frh(gamma, drh, form):
    """(f_RH, d f_RH / d gamma)."""
    if form == "exp":
        f = np.exp(gamma * drh)
        return f, drh * f
    lin = 1.0 + gamma * drh
    return np.maximum(RH_LINEAR_FLOOR, lin), np.where(lin > RH_LINEAR_FLOOR, drh, 0.0)


class _Problem:
    """Residuals, sparse Jacobian and priors of the joint model for one :class:`JointData`."""

    def __init__(self, data):
        self.d = data
        n, nb = data.n, data.nblock
        rows = np.arange(n)
        day = data.day
        c = data.col
        # columns per record: e0 (night or day), gamma, Rref (night or day), alpha, beta, k
        cr = NSHARED + np.where(day, 1, 0) * nb + data.block       # rref_night, rref_day
        self.cols = np.column_stack([np.where(day, IE0D, IE0N), np.full(n, IGAM), cr,
                                     c("alpha", data.block), c("beta", data.block), c("k", data.block)])
        self.rows = np.repeat(rows, self.cols.shape[1])
        self.shape = (n, data.npar)
        # priors on the light-response parameters (section 5.3) and on Rref_d (N(start Rref_n, 80))
        pm = np.zeros(data.npar)
        ps = np.full(data.npar, np.inf)
        blocks = np.arange(nb)
        pm[c("k", blocks)], ps[c("k", blocks)] = PRIOR_K, PRIOR_SD["k"]
        pm[c("beta", blocks)], ps[c("beta", blocks)] = data.prior_beta, PRIOR_SD["beta"]
        pm[c("alpha", blocks)], ps[c("alpha", blocks)] = PRIOR_ALPHA, PRIOR_SD["alpha"]
        pm[c("rref_day", blocks)], ps[c("rref_day", blocks)] = data.start_rref, PRIOR_SD["rref"]
        self.prior_mean, self.prior_w = pm, 1.0 / ps ** 2
        o = data.options
        lo = np.zeros(data.npar)
        hi = np.full(data.npar, 1e3)
        lo[[IE0N, IE0D]], hi[[IE0N, IE0D]] = o.e0_bounds
        lo[IGAM], hi[IGAM] = o.gamma_bounds
        hi[c("alpha", blocks)] = o.alpha_max
        hi[c("beta", blocks)] = o.beta_max
        lo[c("beta", blocks)] = BETA_MIN
        hi[c("k", blocks)] = o.k_max
        self.lo, self.hi = lo, hi
        # the day records of each block, padded (block order = time order)
        dpos = np.flatnonzero(day)
        db = data.block[dpos]
        a = np.searchsorted(db, blocks, "left")
        z = np.searchsorted(db, blocks, "right")
        nmax = max(int((z - a).max()), 1)
        j = np.arange(nmax)
        self.dmask = j[None, :] < (z - a)[:, None]
        self.didx = np.where(self.dmask, dpos[np.minimum(a[:, None] + j[None, :], max(dpos.size - 1, 0))], -1)
        nb = data.nblock
        self.lrc_free = np.array([True, True, True, True, False, False])
        self.lrc_pm = np.column_stack([np.full(nb, PRIOR_K), data.prior_beta, np.full(nb, PRIOR_ALPHA),
                                       data.start_rref, np.zeros(nb), np.zeros(nb)])
        self.lrc_ps = np.tile([PRIOR_SD["k"], PRIOR_SD["beta"], PRIOR_SD["alpha"], PRIOR_SD["rref"], np.inf, np.inf],
                              (nb, 1))
        # beta >= 0.01: at alpha = beta = 0 the light response has no gradient (a saddle a fit
        # cannot leave); 0.01 umol m-2 s-1 of maximum GPP is no photosynthesis for any purpose
        self.lrc_lo = np.tile([0.0, BETA_MIN, 0.0, 0.0, -np.inf, -np.inf], (nb, 1))
        self.lrc_hi = np.tile([o.k_max, o.beta_max, o.alpha_max, 1e3, np.inf, np.inf], (nb, 1))

    def start(self, e0=150.0):
        d = self.d
        x = np.zeros(d.npar)
        x[IE0N] = x[IE0D] = e0
        blocks = np.arange(d.nblock)
        x[d.col("rref_night", blocks)] = d.start_rref
        x[d.col("rref_day", blocks)] = d.start_rref
        x[d.col("alpha", blocks)] = 0.05
        x[d.col("beta", blocks)] = np.minimum(d.prior_beta, 0.9 * d.options.beta_max)
        x[d.col("k", blocks)] = 0.02
        return np.clip(x, self.lo, self.hi)

    def free_mask(self, free_e0d, free_g, w):
        """Free parameters of a fit with record weights ``w``: block parameters only where the
        block has weighted records of their kind."""
        d = self.d
        free = np.ones(d.npar, bool)
        free[IE0D] = free_e0d
        free[IGAM] = free_g
        blocks = np.arange(d.nblock)
        has_day = np.bincount(d.block[(w > 0) & d.day], minlength=d.nblock) > 0
        has_night = np.bincount(d.block[(w > 0) & ~d.day], minlength=d.nblock) > 0
        for name in ("rref_day", "alpha", "beta", "k"):
            free[d.col(name, blocks)] &= has_day
        free[d.col("rref_night", blocks)] &= has_night
        return free

    def inner(self, e0n, e0d, gamma, w, x_prev, cold=False):
        """The block parameters for given shared ones: (parameter vector, profile cost)."""
        d, o = self.d, self.d.options
        x = x_prev.copy()
        x[IE0N], x[IE0D], x[IGAM] = e0n, e0d, gamma
        # night: Rref_n per block, weighted regression through the origin, >= 0
        nm = ~d.day
        frh = _frh(gamma, d.drh[nm], o.rh_function)[0] if o.rh_at_night else 1.0
        f = np.exp(e0n * d.xt[nm]) * frh
        wt = w[nm] / d.sd[nm] ** 2
        b = d.block[nm]
        sfy = np.bincount(b, wt * f * d.nee[nm], minlength=d.nblock)
        sff = np.bincount(b, wt * f * f, minlength=d.nblock)
        keep = sff > 0
        cols = d.col("rref_night", np.arange(d.nblock))
        rn = np.where(keep, np.maximum(sfy / np.where(keep, sff, 1.0), 0.0), x[cols])
        x[cols] = rn
        night_cost = float(np.sum(wt * (rn[b] * f - d.nee[nm]) ** 2))
        # day: (k, beta, alpha, rref) per block with E0_d and gamma fixed
        didx, dmask = self.didx, self.dmask & (lrc.gather(w, self.didx, 0.0) > 0)
        sd = lrc.gather(d.sd, didx, 1.0) / np.sqrt(np.maximum(lrc.gather(w, didx, 1.0), 1e-300))
        data = lrc.LRCData(rg=lrc.gather(d.rg, didx, 0.0), vpd=lrc.gather(d.vpd, didx, 0.0),
                           temp=lrc.gather(d.ta, didx, o.tref_degc), nee=lrc.gather(d.nee, didx, 0.0), sd=sd,
                           mask=dmask, rh=lrc.gather(d.rh, didx, d.rh_ref), rh_ref=d.rh_ref, vpd0_hpa=o.vpd0_hpa,
                           tref_degc=o.tref_degc, rh_function=o.rh_function)
        B = d.nblock
        blocks = np.arange(B)
        warm = np.column_stack([x[d.col("k", blocks)], x[d.col("beta", blocks)], x[d.col("alpha", blocks)],
                                x[d.col("rref_day", blocks)], np.full(B, e0d), np.full(B, gamma)])
        starts = [warm]
        if cold:
            for bf in (1.0, 1.3, 0.8):
                st = warm.copy()
                st[:, lrc.IK], st[:, lrc.IALPHA] = 0.02, 0.05
                st[:, lrc.IBETA] = np.minimum(d.prior_beta * bf, 0.9 * o.beta_max)
                st[:, lrc.IRREF] = d.start_rref
                starts.append(st)
        S = len(starts)
        th0 = np.concatenate(starts)
        rows = np.tile(blocks, S)
        fr = np.tile(np.broadcast_to(self.lrc_free, (B, self.lrc_free.size)), (S, 1))
        fr[~np.tile(dmask.any(axis=1), S)] = False
        res = lrc.batched_lm(lambda th, i: data.residuals(th, rows[i]), th0, fr, np.tile(self.lrc_pm, (S, 1)),
                             np.tile(self.lrc_ps, (S, 1)), lower=self.lrc_lo[0], upper=self.lrc_hi[0], rtol=1e-10,
                             scale_cov=False, max_iter=INNER_MAX_ITER)
        c = np.where(np.isfinite(res["cost"]), res["cost"], np.inf).reshape(S, B)
        pick = np.argmin(c, axis=0) * B + blocks
        th = res["theta"][pick]
        x[d.col("k", blocks)], x[d.col("beta", blocks)] = th[:, lrc.IK], th[:, lrc.IBETA]
        x[d.col("alpha", blocks)], x[d.col("rref_day", blocks)] = th[:, lrc.IALPHA], th[:, lrc.IRREF]
        return x, night_cost + float(np.sum(c[np.argmin(c, axis=0), blocks]))

    @staticmethod
    def shared_columns(J, names):
        """Dense Jacobian columns of the named shared parameters ('e0' = E0_n and E0_d tied)."""
        Js = J[:, :NSHARED].toarray()
        cols = {"e0_night": Js[:, IE0N], "e0_day": Js[:, IE0D], "gamma": Js[:, IGAM], "e0": Js[:, IE0N] + Js[:, IE0D]}
        return np.column_stack([cols[n] for n in names])

    def shared_se(self, J, free, free_e0d, free_g, ssr, n):
        """Curvature standard errors of E0_n, E0_d and gamma (records taken as independent),
        scaled by the residual variance ssr / (n - p)."""
        se = {"e0_night": np.nan, "e0_day": np.nan, "gamma": np.nan}
        if not free_e0d:
            J = J.tolil()
            J[:, IE0N] = J[:, IE0N] + J[:, IE0D]
            J = J.tocsr()
            free = free.copy()
            free[IE0D] = False
        idx = np.flatnonzero(free)
        A = (J.T @ J).toarray()
        A[np.diag_indices_from(A)] += np.where(free, self.prior_w, 0.0)
        try:
            cov = np.linalg.pinv(A[np.ix_(idx, idx)]) * ssr / max(n - idx.size, 1)
        except np.linalg.LinAlgError:
            return se
        at = {j: i for i, j in enumerate(idx)}
        se["e0_night"] = float(np.sqrt(cov[at[IE0N], at[IE0N]]))
        se["e0_day"] = float(np.sqrt(cov[at[IE0D], at[IE0D]])) if free_e0d else se["e0_night"]
        se["gamma"] = float(np.sqrt(cov[at[IGAM], at[IGAM]])) if free_g else 0.0
        return se

    def residuals(self, x, sw):
        """Weighted residuals sqrt(w)(NEE_mod - NEE)/sd and the sparse Jacobian (CSR)."""
        d = self.d
        t = _terms(x, d)
        wt = sw / d.sd
        r = (t.er - t.gpp - d.nee) * wt
        dg_dbv = (t.alpha * d.rg * t.inv) ** 2
        vals = np.column_stack([t.er * d.xt, t.rref * t.ft * t.dfrh, t.ft * t.frh, -(t.bv * t.inv) ** 2 * d.rg,
                                -dg_dbv * t.ev, dg_dbv * t.bv * d.dv]) * wt[:, None]
        J = sparse.csr_matrix((vals.ravel(), (self.rows, self.cols.ravel())), shape=self.shape)
        return r, J


def fit(data, model="DTRH", weights=None, start=None, problem=None, rtol=1e-10):
    """Fit one of :data:`MODELS` to ``data`` (:class:`JointData`).

    The shared parameters (E0_n, E0_d, gamma; those free in ``model``) are found by Gauss-Newton
    steps on the profile cost (variable projection, with backtracking and the bounds): for given
    shared parameters the night Rref of each block is a weighted regression through the origin and
    the day parameters of each block (Rref_d, alpha, beta, k) a bounded Levenberg-Marquardt fit with
    the Lasslop priors, all blocks at once (lightresponse.batched_lm).  The gradient of the profile
    cost is that of the full cost at the block optimum (envelope theorem), its Gauss-Newton Hessian
    the Schur complement of the block parameters.

    Parameters
    ----------
    weights : array, optional
        Per used record (e.g. bootstrap counts of its day; 0 leaves it out); default 1.
    start : JointFit or Start, optional
        Warm start (shared and block parameters), e.g. the fit to all data for a bootstrap refit.
    problem : optional
        A prepared ``_Problem`` of ``data`` (saves its set-up in repeated fits).

    Returns
    -------
    JointFit
    """
    if model not in FREE:
        raise InputError(f"joint model must be one of {', '.join(MODELS)}, not {model!r}")
    p = problem or _Problem(data)
    free_e0d, free_g = FREE[model]
    w = np.ones(data.n) if weights is None else np.asarray(weights, dtype="float64")
    o = data.options
    x0 = p.start() if start is None else np.array(start.x, dtype="float64")
    names = ["e0"] if not free_e0d else ["e0_night", "e0_day"]
    if free_g:
        names.append("gamma")
    scale = np.array([0.01 if n == "gamma" else 100.0 for n in names])
    e0_start = x0[IE0N] if free_e0d else (x0[IE0N] + x0[IE0D]) / 2.0    # equal unless warm from a free E0_d
    theta0 = {"e0": e0_start, "e0_night": x0[IE0N], "e0_day": x0[IE0D], "gamma": x0[IGAM] if free_g else 0.0}
    u0 = np.array([theta0[n] for n in names]) / scale
    bounds = [tuple(np.array(o.gamma_bounds if n == "gamma" else o.e0_bounds) / sc) for n, sc in zip(names, scale)]
    state = {"x": x0.copy(), "cold": start is None}

    def shared(u):
        t = dict(zip(names, u * scale))
        e0n = t.get("e0_night", t.get("e0"))
        e0d = t.get("e0_day", t.get("e0"))
        return e0n, e0d, t.get("gamma", 0.0)

    def profile(u):
        e0n, e0d, g = shared(u)
        x, cost = p.inner(e0n, e0d, g, w, state["x"], cold=state["cold"])
        state["cold"] = False
        state["x"] = x
        r, J = p.residuals(x, np.sqrt(w))
        return cost, x, r, J

    lo = np.array([b[0] for b in bounds])
    hi = np.array([b[1] for b in bounds])
    u = np.clip(u0, lo, hi)
    cost, x, r, J = profile(u)
    converged, nit = False, 0
    for nit in range(1, o.max_iter + 1):
        # Gauss-Newton step of the profile (variable projection): the reduced Hessian
        # Js'Js - Js'Jb (Jb'Jb + P)^-1 Jb'Js with the block parameters not at a bound
        Js = p.shared_columns(J, names) * scale
        bfree = p.free_mask(free_e0d, free_g, w) & (x > p.lo) & (x < p.hi)
        bfree[:NSHARED] = False
        ib = np.flatnonzero(bfree)
        Jb = J[:, ib]
        A = (Jb.T @ Jb).toarray()
        A[np.diag_indices_from(A)] += p.prior_w[ib]
        C = (Jb.T @ Js)
        C = C.toarray() if sparse.issparse(C) else np.asarray(C)
        H = (Js.T @ Js) - C.T @ np.linalg.solve(A + 1e-12 * np.eye(ib.size), C)
        g = Js.T @ r
        at_lo, at_hi = (u <= lo) & (g > 0), (u >= hi) & (g < 0)
        act = ~(at_lo | at_hi)
        step = np.zeros_like(u)
        if act.any():
            Ha = H[np.ix_(act, act)]
            step[act] = -np.linalg.lstsq(Ha + 1e-10 * np.diag(np.diag(Ha)), g[act], rcond=None)[0]
        t = 1.0
        accepted = False
        for _ in range(30):
            ut = np.clip(u + t * step, lo, hi)
            ct, xt, rt, Jt = profile(ut)
            if np.isfinite(ct) and ct <= cost:
                accepted = True
                break
            t *= 0.5
        if not accepted:
            converged = True            # no descent along the Gauss-Newton direction: a minimum
            break
        # done: a negligible decrease or a step below 1e-5 K in E0 and 1e-9 in gamma
        done = (cost - ct) <= rtol * (1.0 + cost) or np.all(np.abs(ut - u) < 1e-7)
        u, cost, x, r, J = ut, ct, xt, rt, Jt
        if done:
            converged = True
            break
    e0n, e0d, g = shared(u)
    ssr = float(r @ r)
    on = w > 0
    n = int(on.sum())
    free = p.free_mask(free_e0d, free_g, w)
    se = p.shared_se(J, free, free_e0d, free_g, ssr, n)
    loglik = float(-0.5 * n * (1.0 + np.log(2.0 * np.pi * ssr / max(n, 1))) - np.sum(np.log(data.sd[on])))
    return JointFit(model=model, x=x, e0_night=float(e0n), e0_day=float(e0d), gamma=float(g), se=se, ssr=ssr, n=n,
                    n_par=int(free.sum()), loglik=loglik,
                    converged=bool(converged), niter=nit, rho1=_lag1(r, data, on))


def _lag1(r, data, on):
    """Lag-1 autocorrelation of the weighted residuals of consecutive used records."""
    pos = data.pos
    pair = (np.diff(pos) == 1) & on[1:] & on[:-1]
    if pair.sum() < 10:
        return np.nan
    a, b = r[1:][pair], r[:-1][pair]
    with np.errstate(invalid="ignore"):
        return float(np.corrcoef(a, b)[0, 1])


_BLAS_LOCK = threading.Lock()
_BLAS_USERS = {"n": 0, "limits": None}


@contextmanager
def single_thread_blas():
    """Linear algebra on one thread while fitting: a multi-threaded BLAS sums in another order
    from run to run and machine to machine, and the iterative fits carry such last-bit differences
    to ~1e-6 of the estimates; on one thread the same data give the same bits in this process, in a
    helper process and on another core count.  (The 460 x 460 systems need no threads.)

    BLAS's thread count is global to the process: when fits run in several threads at once (dask's
    local threads), the first one in sets it to 1 and the last one out restores it, so no fit ever
    runs while another thread has put the threads back."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:            # scikit-learn's dependency; without it BLAS keeps its threads
        yield
        return
    with _BLAS_LOCK:
        if _BLAS_USERS["n"] == 0:
            _BLAS_USERS["limits"] = threadpool_limits(limits=1, user_api="blas")
        _BLAS_USERS["n"] += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS_USERS["n"] -= 1
            if _BLAS_USERS["n"] == 0:
                _BLAS_USERS["limits"].restore_original_limits()
                _BLAS_USERS["limits"] = None


def fit_models(data, models=MODELS, weights=None, starts=None):
    """{model: JointFit} of ``models`` (all four by default).  Nested models start from the fit of
    the model they extend (DTASYM and DTRHONLY from DT, DTRH from the better of those two), so that
    a larger model never fits worse than the one nested in it; ``starts`` ({model: JointFit})
    gives warm starts instead (e.g. the fits to all data for bootstrap or cross-validation)."""
    p = _Problem(data)
    out = {}
    with single_thread_blas():
        for m in MODELS:
            need = m in models or any(m in NESTED.get(x, ()) and x not in (starts or {}) for x in models)
            if not need:
                continue
            st = (starts or {}).get(m)
            if st is None:
                base = [out[b] for b in NESTED.get(m, ()) if b in out]
                st = min(base, key=lambda f: f.ssr) if base else None
            out[m] = fit(data, m, weights=weights, start=st, problem=p)
    return {m: out[m] for m in models}


#: the models each model extends directly (its warm starts)
NESTED = {"DTASYM": ("DT",), "DTRHONLY": ("DT",), "DTRH": ("DTASYM", "DTRHONLY")}


def options_dict(options):
    """The options as a plain dict (for provenance)."""
    return asdict(options)
