"""Night-time partitioning (Reichstein et al. 2005) with the REddyProc rules (docs/methods.md sections 3, 4).

For ONE site-year of the tower table (:func:`ecoresp_core.io.towers.read_tower`,
:func:`~ecoresp_core.io.towers.split_years`):

1. Night records: ``SW_IN <= night_rg_max`` and ``SW_IN_POT <= 0``; only measured NEE
   (``NEE_QC == 0``) and finite TA are fitted.  A record with missing SW_IN is excluded
   (``missing_rg_rule='exclude'``, as REddyProc) or classified by SW_IN_POT alone (``'pot_only'``).
2. Short-term temperature sensitivity: windows of ``2*7+1 = 15`` days centred on day 7, 12, 17, ...
   (0-based day of the site-year), fitted when they hold more than 6 night records spanning at least
   ``min_temp_range`` K.  Least-squares fit of ``NEE = Rref f(T; E0)`` (Lloyd-Taylor, started at
   Rref 2, E0 200), residuals outside their [5 %, 95 %] quantiles dropped and the fit repeated.
   A window is valid if ``E0 - SE > 30`` and ``E0 + SE < 450`` K; E0 = mean of the ``n_best = 3``
   valid windows with the smallest SE (rounded to 0.01 K).
   Fallback: fewer than 3 valid windows -> retry with ``fallback_temp_range`` (3 K), flagged; still
   fewer -> ``InputError('too little night data for a temperature-sensitivity fit in <site> <year>')``.
3. Rref: windows of 7 days centred every 4 days, more than 2 night records, least squares through the
   origin of night NEE on f(T; E0); Rref < 0 -> NaN; each estimate sits at the rounded mean record
   index of its records; linear interpolation between estimates, constant beyond the first and last.
4. RECO_NT = Rref(t) f(TA(t); E0) for every record (gap-filled TA); GPP_NT = RECO_NT - NEE with the
   gap-filled NEE of the table (as REddyProc).
5. QC (:mod:`~ecoresp_core.partitioning.qc`): 0; 1 on every record when E0 came from the
   ``fallback_temp_range`` retry; 2 where the nearest valid Rref window is more than ``max_gap_days``
   (14) days away (Rref extrapolated); RECO is NaN (QC 9 in the site table) where TA is missing.

Implementation notes.  Rref enters the model linearly, so each window's least-squares problem is
reduced to one dimension (variable projection): for a given E0 the best Rref is
``sum(y f) / sum(f^2)``.  All windows are minimised together over E0 (a coarse grid brackets the
minimum, golden-section search refines it, vectorised over windows), and the standard errors are the
usual Gauss-Newton ones, ``sqrt(diag(s^2 (J'J)^-1))`` with ``s^2 = SSE / (n - 2)``, as reported by R's
``nls``.  The E0 search interval is [-1000, 3000] K, far outside the validity interval, so bounds
never decide a valid window.
"""

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ..errors import InputError
from ..io.towers import as_tower
from .qc import EXTRAPOLATED, FALLBACK, GOOD, MAX_GAP_DAYS, extrapolated
from .respiration import KELVIN, T0_K, T_MIN_DEGC, TREF_DEGC, apparent_q10, lt_factor

E0_SEARCH = (-1000.0, 3000.0)
_GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0


@dataclass
class NighttimeResult:
    """Outputs of :func:`partition_nighttime` for one site-year.

    ``e0`` (K): mean of the selected windows' E0, rounded to 0.01 K; ``e0_se_mean`` (K): mean of their
    standard errors (output column E0_NT_SD_K) (the per-window uncertainty; ``e0_spread`` is the SD
    of the selected E0 values);
    ``q10_10_20``: apparent Q10 between 10 and 20 degC for ``e0``.
    ``reco``/``gpp``/``rref`` are Series on the input index (umol CO2 m-2 s-1; Rref at ``tref_degc``).
    ``e0_windows``: one row per 15-day window (centre_day, start, n, n_trim, t_range, E0, SD, rref,
    fitted, valid, selected).  ``rref_windows``: centre_day, n, rref, index_pos, time.
    ``flags``: fallbacks and problems, e.g. "E0 regression failed ...".  ``options``: the settings.
    ``qc``: 0 good, 1 E0 from the relaxed temperature-range retry, 2 nearest valid Rref window more
    than ``max_gap_days`` away (module docstring, step 5)."""
    e0: float
    e0_se_mean: float
    q10_10_20: float
    tref_degc: float
    reco: pd.Series
    gpp: pd.Series
    rref: pd.Series
    e0_windows: pd.DataFrame
    rref_windows: pd.DataFrame
    flags: list = field(default_factory=list)
    options: dict = field(default_factory=dict)
    night: pd.Series = None
    e0_spread: float = float("nan")
    qc: pd.Series = None

    def to_frame(self):
        """RECO_NT, GPP_NT, RREF_NT (at tref), NIGHT_FIT (records used in the fits) as a DataFrame."""
        out = pd.DataFrame({"RECO_NT": self.reco, "GPP_NT": self.gpp, "RREF_NT": self.rref})
        if self.night is not None:
            out["NIGHT_FIT"] = self.night.astype("int8")
        out.attrs.update({"E0_K": self.e0, "E0_SE_MEAN_K": self.e0_se_mean, "Q10_10_20": self.q10_10_20,
                          "TREF_degC": self.tref_degc, "flags": list(self.flags)})
        return out


def _label(df, site_info):
    site = site_info.label
    years = sorted(set(df.index.year)) if isinstance(df.index, pd.DatetimeIndex) and len(df) else []
    year = str(years[0]) if len(years) == 1 else (f"{years[0]}-{years[-1]}" if years else "")
    return site, year


def night_mask(df, night_rg_max=10.0, missing_rg_rule="exclude"):
    """Boolean night mask (docs/methods.md section 3): SW_IN <= night_rg_max and SW_IN_POT <= 0.
    ``missing_rg_rule``: 'exclude' (missing SW_IN is never night, REddyProc) or 'pot_only'
    (missing SW_IN: night where SW_IN_POT <= 0)."""
    rg = df["SW_IN"].to_numpy(dtype="float64")
    pot = df["SW_IN_POT"].to_numpy(dtype="float64")
    dark = pot <= 0.0
    if missing_rg_rule == "exclude":
        return (rg <= night_rg_max) & dark
    if missing_rg_rule == "pot_only":
        return np.where(np.isnan(rg), dark, (rg <= night_rg_max) & dark)
    raise InputError(f"missing_rg_rule must be 'exclude' or 'pot_only', not {missing_rg_rule!r}")


def _window_members(day, centres, half):
    """Stacked membership of sorted records (day numbers ``day``) in windows [c-half, c+half]:
    returns (record positions, window ids, counts per window)."""
    lo = np.searchsorted(day, centres - half, side="left")
    hi = np.searchsorted(day, centres + half, side="right")
    counts = hi - lo
    wid = np.repeat(np.arange(centres.size), counts)
    offs = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    pos = np.repeat(lo, counts) + offs
    return pos, wid, counts


def _profile_sse(e0, x, y, wid, nwin):
    """SSE of the best Rref for E0 = e0[wid] (vectorised over windows); x = 1/(Tref-T0) - 1/(T-T0)."""
    f = np.exp(e0[wid] * x)
    syf = np.bincount(wid, y * f, nwin)
    sff = np.bincount(wid, f * f, nwin)
    syy = np.bincount(wid, y * y, nwin)
    with np.errstate(invalid="ignore", divide="ignore"):
        return syy - syf * syf / sff, syf / sff


def _fit_lt_windows(x, y, wid, nwin, grid_n=81, iters=60):
    """Least-squares Lloyd-Taylor fit in every window: returns E0, Rref, SE(E0), SE(Rref), n."""
    lo, hi = E0_SEARCH
    grid = np.linspace(lo, hi, grid_n)
    sse = np.empty((grid_n, nwin))
    for k, g in enumerate(grid):
        sse[k], _ = _profile_sse(np.full(nwin, g), x, y, wid, nwin)
    sse = np.where(np.isfinite(sse), sse, np.inf)
    kbest = np.argmin(sse, axis=0)
    a = grid[np.clip(kbest - 1, 0, grid_n - 1)]
    b = grid[np.clip(kbest + 1, 0, grid_n - 1)]
    c = b - _GOLDEN * (b - a)
    d = a + _GOLDEN * (b - a)
    fc, _ = _profile_sse(c, x, y, wid, nwin)
    fd, _ = _profile_sse(d, x, y, wid, nwin)
    for _ in range(iters):
        left = fc < fd  # minimum in [a, d]
        b = np.where(left, d, b)
        a = np.where(left, a, c)
        newc = b - _GOLDEN * (b - a)
        newd = a + _GOLDEN * (b - a)
        c_next = np.where(left, newc, d)
        d_next = np.where(left, c, newd)
        fc_next = np.where(left, np.nan, fd)
        fd_next = np.where(left, fc, np.nan)
        e_new = np.where(left, c_next, d_next)
        f_new, _ = _profile_sse(e_new, x, y, wid, nwin)
        fc = np.where(left, f_new, fc_next)
        fd = np.where(left, fd_next, f_new)
        c, d = c_next, d_next
    e0 = 0.5 * (a + b)
    sse, rref = _profile_sse(e0, x, y, wid, nwin)
    # Gauss-Newton standard errors at the optimum: J = [f, Rref x f]
    f = np.exp(e0[wid] * x)
    j1, j2 = f, rref[wid] * x * f
    a11 = np.bincount(wid, j1 * j1, nwin)
    a12 = np.bincount(wid, j1 * j2, nwin)
    a22 = np.bincount(wid, j2 * j2, nwin)
    n = np.bincount(wid, minlength=nwin).astype("float64")
    det = a11 * a22 - a12 * a12
    with np.errstate(invalid="ignore", divide="ignore"):
        s2 = np.maximum(sse, 0.0) / (n - 2.0)  # a perfect fit's SSE can round below 0
        se_e0 = np.sqrt(s2 * a11 / det)
        se_rref = np.sqrt(s2 * a22 / det)
    edge = (e0 <= lo + 1.0) | (e0 >= hi - 1.0)
    bad = ~np.isfinite(se_e0) | edge | (n <= 2) | (det <= 0)
    e0 = np.where(bad, np.nan, e0)
    se_e0 = np.where(bad, np.nan, se_e0)
    return e0, rref, se_e0, se_rref, n


def _e0_windows(day, temp, y, ndays, e0_window_days, e0_step_days, min_temp_range, trim_percent,
                e0_bounds, tref_degc):
    half = (e0_window_days - 1) // 2
    centres = np.arange(half, ndays, e0_step_days)
    pos, wid, counts = _window_members(day, centres, half)
    nwin = centres.size
    tw = temp[pos]
    tmax = np.full(nwin, -np.inf)
    tmin = np.full(nwin, np.inf)
    np.maximum.at(tmax, wid, tw)
    np.minimum.at(tmin, wid, tw)
    trange = np.where(counts > 0, tmax - tmin, np.nan)
    fitted = (counts > 6) & (trange >= min_temp_range)
    keep = fitted[wid]
    pos, wid = pos[keep], wid[keep]
    x = 1.0 / (tref_degc + KELVIN - T0_K) - 1.0 / (temp[pos] + KELVIN - T0_K)
    yy = y[pos]
    e0a, rrefa, _, _, _ = _fit_lt_windows(x, yy, wid, nwin)
    # trim residuals outside the [p, 100-p] quantiles of each window, then refit
    with np.errstate(invalid="ignore", over="ignore"):
        resid = yy - rrefa[wid] * np.exp(e0a[wid] * x)
    keep = np.zeros(resid.size, dtype=bool)
    order = np.argsort(wid, kind="stable")
    bounds = np.searchsorted(wid[order], np.arange(nwin + 1))
    for w in range(nwin):
        sel = order[bounds[w]:bounds[w + 1]]
        if sel.size == 0 or not np.isfinite(e0a[w]):
            continue
        r = resid[sel]
        ql, qh = np.percentile(r, [trim_percent, 100.0 - trim_percent])
        keep[sel] = (r >= ql) & (r <= qh)
    e0, rref, se, _, ntrim = _fit_lt_windows(x[keep], yy[keep], wid[keep], nwin)
    fitted &= np.isfinite(e0a)
    e0 = np.where(fitted, e0, np.nan)
    valid = fitted & np.isfinite(se) & (e0 - se > e0_bounds[0]) & (e0 + se < e0_bounds[1])
    return pd.DataFrame({"centre_day": centres, "n": counts, "n_trim": ntrim.astype(int),
                         "t_range": trange, "E0": e0, "SD": se, "rref": rref,
                         "fitted": fitted, "valid": valid})


@dataclass(frozen=True)
class NighttimeOptions:
    """Settings of :func:`partition_nighttime`; the defaults are REddyProc's (:meth:`reddyproc`).

    Attributes
    ----------
    tref_degc : float
        Reference temperature of Rref (degC).
    night_rg_max : float
        Night: SW_IN <= this (W m-2) and SW_IN_POT <= 0.
    e0_window_days, e0_step_days : int
        E0 windows: length (odd, days) and step (days).
    min_temp_range : float
        Temperature range a window needs (K).
    trim_percent : float
        Residuals outside [p, 100 - p] % dropped before the refit.
    e0_bounds : tuple of float
        Valid window: E0 - SE > lower and E0 + SE < upper (K).
    n_best : int
        Valid windows averaged (lowest SE).
    rref_window_days, rref_step_days : int
        Rref windows: length (odd, days) and step (days).
    fit_qc_only : bool
        Fit measured NEE (NEE_QC == 0) only; False fits gap-filled NEE too.
    missing_rg_rule : str
        "exclude" (no SW_IN: not night) or "pot_only" (decided by SW_IN_POT).
    fallback_temp_range : float or None
        ``min_temp_range`` of the retry when fewer than ``n_best`` windows are valid (K).
    temperature : str
        Column driving Lloyd-Taylor ("TA" or "TS").
    fit_ta_qc_only : bool
        Also require TA_QC == 0.
    max_gap_days : float
        QC 2 where the nearest valid Rref window is more than this many days away.
    """
    tref_degc: float = TREF_DEGC
    night_rg_max: float = 10.0
    e0_window_days: int = 15
    e0_step_days: int = 5
    min_temp_range: float = 5.0
    trim_percent: float = 5.0
    e0_bounds: tuple = (30.0, 450.0)
    n_best: int = 3
    rref_window_days: int = 7
    rref_step_days: int = 4
    fit_qc_only: bool = True
    missing_rg_rule: str = "exclude"
    fallback_temp_range: float = 3.0
    temperature: str = "TA"
    fit_ta_qc_only: bool = False
    max_gap_days: float = MAX_GAP_DAYS

    @classmethod
    def reddyproc(cls, **changes):
        """REddyProc's night-time partitioning (partitionNEE.R): the defaults."""
        return cls(**changes)


def partition_nighttime(df, options=None, **overrides):
    """Night-time (Reichstein 2005) partitioning of ONE site-year; see the module docstring.

    Parameters
    ----------
    df : TowerData or pandas.DataFrame
        One site-year of the tower table (NEE, NEE_QC, TA, SW_IN, SW_IN_POT).
    options : NighttimeOptions, optional
        Default ``NighttimeOptions()`` (REddyProc).
    **overrides
        Fields of :class:`NighttimeOptions` to change, e.g. ``temperature="TS"`` (the column driving
        Lloyd-Taylor) or ``fit_ta_qc_only=True`` (also require TA_QC == 0, as REddyProc does when given
        a flag; the default fits gap-filled TA, which matches fitting a gap-free driver).

    Returns
    -------
    NighttimeResult
    """
    o = options if options is not None else NighttimeOptions()
    if not isinstance(o, NighttimeOptions):
        raise InputError(f"options must be a NighttimeOptions, not {type(o).__name__}")
    o = replace(o, **overrides) if overrides else o
    tref_degc, night_rg_max = o.tref_degc, o.night_rg_max
    e0_window_days, e0_step_days = o.e0_window_days, o.e0_step_days
    min_temp_range, trim_percent, e0_bounds, n_best = o.min_temp_range, o.trim_percent, o.e0_bounds, o.n_best
    rref_window_days, rref_step_days, fit_qc_only = o.rref_window_days, o.rref_step_days, o.fit_qc_only
    missing_rg_rule, fallback_temp_range, temperature = o.missing_rg_rule, o.fallback_temp_range, o.temperature
    fit_ta_qc_only = o.fit_ta_qc_only
    tower = as_tower(df)
    df = tower.data
    site, year = _label(df, tower.site)
    src = tower.site.source or "input table"
    for col in ("NEE", "SW_IN", "SW_IN_POT", temperature):
        if col not in df.columns:
            raise InputError(f"{src}: column {col} is missing (night-time partitioning needs NEE, "
                             f"{temperature}, SW_IN, SW_IN_POT)")
    if fit_qc_only and "NEE_QC" not in df.columns:
        raise InputError(f"{src}: column NEE_QC is missing (needed by fit_qc_only=True)")
    if not isinstance(df.index, pd.DatetimeIndex):
        raise InputError(f"{src}: the table needs a DatetimeIndex (TIMESTAMP_START)")
    if len(df) < 2:
        raise InputError(f"{src}: fewer than 2 records")
    if e0_window_days % 2 != 1 or rref_window_days % 2 != 1:
        raise InputError("e0_window_days and rref_window_days must be odd (windows are centred on a day)")
    rpd = tower.site.records_per_day
    if not rpd:
        step = np.median(np.diff(df.index.values).astype("timedelta64[s]").astype("int64"))
        rpd = int(round(86400 / step))
    options = dict(tref_degc=tref_degc, night_rg_max=night_rg_max, e0_window_days=e0_window_days,
                   e0_step_days=e0_step_days, min_temp_range=min_temp_range, trim_percent=trim_percent,
                   e0_bounds=tuple(e0_bounds), n_best=n_best, rref_window_days=rref_window_days,
                   rref_step_days=rref_step_days, fit_qc_only=fit_qc_only, missing_rg_rule=missing_rg_rule,
                   fallback_temp_range=fallback_temp_range, temperature=temperature,
                   fit_ta_qc_only=fit_ta_qc_only, records_per_day=int(rpd), t0_k=T0_K,
                   max_gap_days=float(o.max_gap_days))
    flags = []
    nyears = len(set(df.index.year))
    if nyears > 1:
        flags.append(f"input spans {nyears} calendar years: one E0 is fitted for all of them; "
                     "REddyProc/ONEFlux practice is one site-year at a time (towers.split_years)")

    nee = df["NEE"].to_numpy(dtype="float64")
    temp = df[temperature].to_numpy(dtype="float64")
    night = night_mask(df, night_rg_max, missing_rg_rule)
    use = night & np.isfinite(nee) & np.isfinite(temp) & (temp > T_MIN_DEGC)
    if fit_qc_only:
        use &= df["NEE_QC"].to_numpy(dtype="float64") == 0
    if fit_ta_qc_only and "TA_QC" in df.columns and temperature == "TA":
        use &= df["TA_QC"].to_numpy(dtype="float64") == 0
    n = len(df)
    rec = np.arange(n)
    day_all = rec // rpd
    ndays = int(day_all[-1]) + 1
    idx = rec[use]
    day, tn, yn = day_all[idx], temp[idx], nee[idx]

    # --- E0 from short-term windows
    e0w = _e0_windows(day, tn, yn, ndays, e0_window_days, e0_step_days, min_temp_range, trim_percent,
                      e0_bounds, tref_degc)
    used_range = min_temp_range
    if e0w["valid"].sum() < n_best and fallback_temp_range is not None and fallback_temp_range < min_temp_range:
        flags.append(f"E0 regression failed with min_temp_range {min_temp_range:g} K "
                     f"({int(e0w['valid'].sum())} valid window(s) of {n_best} needed); "
                     f"retried with min_temp_range {fallback_temp_range:g} K")
        e0w = _e0_windows(day, tn, yn, ndays, e0_window_days, e0_step_days, fallback_temp_range,
                          trim_percent, e0_bounds, tref_degc)
        used_range = fallback_temp_range
    nvalid = int(e0w["valid"].sum())
    if nvalid < n_best:
        raise InputError(f"too little night data for a temperature-sensitivity fit in {site} {year}: "
                         f"{nvalid} valid E0 window(s), {n_best} needed (E0 regression failed; "
                         f"{int(use.sum())} usable night records, min_temp_range {used_range:g} K)")
    best = e0w[e0w["valid"]].sort_values("SD", kind="stable").head(n_best)
    e0w["selected"] = e0w.index.isin(best.index)
    e0 = round(float(best["E0"].mean()), 2)
    e0_se_mean = float(best["SD"].mean())
    e0_spread = float(best["E0"].std(ddof=1)) if n_best > 1 else float("nan")
    e0w.insert(1, "start", df.index[np.minimum(e0w["centre_day"].to_numpy() * rpd, n - 1)])
    options["min_temp_range_used"] = used_range

    # --- Rref per short window with E0 fixed
    half = (rref_window_days - 1) // 2
    centres = np.arange(half, ndays, rref_step_days)
    pos, wid, counts = _window_members(day, centres, half)
    f = lt_factor(tn[pos], e0, tref_degc)
    nw = centres.size
    syf = np.bincount(wid, yn[pos] * f, nw)
    sff = np.bincount(wid, f * f, nw)
    mean_idx = np.bincount(wid, idx[pos].astype("float64"), nw)
    with np.errstate(invalid="ignore", divide="ignore"):
        rr = syf / sff
        mean_idx = mean_idx / counts
    ok = counts > 2
    rr = np.where(ok, rr, np.nan)
    rr = np.where(rr < 0, np.nan, rr)
    at = np.where(ok, np.floor(mean_idx + 0.5), np.nan)
    rrefw = pd.DataFrame({"centre_day": centres, "n": counts, "rref": rr, "index_pos": at})
    rrefw["time"] = pd.NaT
    good = np.isfinite(rr)
    rrefw.loc[good, "time"] = df.index[at[good].astype(int)]
    if not good.any():
        raise InputError(f"no Rref window: no 7-day window with more than 2 usable night records and a "
                         f"positive Rref in {site} {year}")
    n_neg = int((ok & ~good).sum())
    if n_neg:
        flags.append(f"{n_neg} Rref window(s) with Rref < 0 set to NaN")
    xp = at[good]
    fp = rr[good]
    xp_u, first = np.unique(xp, return_index=True)  # several windows on one record: keep the first
    rref_t = np.interp(rec.astype("float64"), xp_u, fp[first])

    reco = rref_t * lt_factor(temp, e0, tref_degc)
    gpp = reco - nee
    qc = np.full(n, FALLBACK if used_range != min_temp_range else GOOD, dtype="int16")
    far = extrapolated(xp_u, n, rpd, o.max_gap_days)
    qc[far] = EXTRAPOLATED
    if far.any():
        flags.append(f"records_far_from_rref_window:{int(far.sum())}")
    return NighttimeResult(
        e0=e0, e0_se_mean=e0_se_mean, q10_10_20=float(apparent_q10(e0, 10.0)), tref_degc=float(tref_degc),
        reco=pd.Series(reco, index=df.index, name="RECO_NT"),
        gpp=pd.Series(gpp, index=df.index, name="GPP_NT"),
        rref=pd.Series(rref_t, index=df.index, name="RREF_NT"),
        e0_windows=e0w, rref_windows=rrefw, flags=flags, options=options,
        night=pd.Series(use, index=df.index, name="NIGHT_FIT"), e0_spread=e0_spread,
        qc=pd.Series(qc, index=df.index, name="QC_NT"))


def partition_nighttime_years(df, on_error="raise", **options):
    """Night-time partitioning of a multi-year tower table, one calendar year at a time (as REddyProc
    and ONEFlux).  Returns ``(frame, results)``: the concatenated :meth:`NighttimeResult.to_frame`
    columns (RECO_NT, GPP_NT, RREF_NT, NIGHT_FIT, plus E0_NT per record) on ``df.index``, and
    {year: NighttimeResult}.  ``on_error``: 'raise' (default) or 'skip' (a year whose fit fails gets
    NaN and its message in ``frame.attrs['failed'][year]``).  ``options`` go to
    :func:`partition_nighttime`."""
    from ..io.towers import split_years

    if on_error not in ("raise", "skip"):
        raise InputError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
    tower = as_tower(df)
    parts, results, failed = [], {}, {}
    for year, sub in split_years(tower):
        try:
            res = partition_nighttime(sub, **options)
        except InputError as exc:
            if on_error == "raise":
                raise
            failed[year] = str(exc)
            parts.append(pd.DataFrame(np.nan, index=sub.data.index, columns=["RECO_NT", "GPP_NT", "RREF_NT", "E0_NT"]))
            continue
        results[year] = res
        fr = res.to_frame()
        fr["E0_NT"] = res.e0
        parts.append(fr)
    frame = pd.concat(parts).reindex(tower.data.index)
    if "NIGHT_FIT" in frame:
        frame["NIGHT_FIT"] = frame["NIGHT_FIT"].fillna(0).astype("int8")
    frame.attrs.update({"E0_K": {y: r.e0 for y, r in results.items()},
                        "E0_SE_MEAN_K": {y: r.e0_se_mean for y, r in results.items()},
                        "flags": {y: list(r.flags) for y, r in results.items()}, "failed": failed})
    return frame, results
