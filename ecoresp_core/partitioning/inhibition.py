"""Light inhibition of daytime respiration (docs/methods.md section 6; Keenan et al. 2019).

(a) From reference respirations (section 6.1), per window where both are valid::

    Inhibition (%) = (Rref_night - Rref_day) / Rref_night * 100

Negative values mean stimulation.  Both Rref must share Tref (and, for a Tref-independent index, E0):
always state Tref (15 degC by default).  :func:`summarise_inhibition` gives the median and IQR per
month, season (DJF, MAM, JJA, SON by calendar month), year, any column (e.g. a PFT column) or overall.

(b) Ecosystem-scale Kok method (section 6.2: this project's adaptation, rule set ``rules``).
Per reference window (``window_days`` stepping ``step_days``, placed as the DT reference windows: from
the first record, centre at the start of the third day), on measured (``NEE_QC == 0``) daytime records
(``SW_IN_POT > 0`` when the column exists, ``SW_IN > rg_day_min``) whose PPFD lies in the open band
``ppfd_band``:

- Window extension: a window with fewer than ``min_points`` records is widened to each of
  ``extend_days`` in turn around the same centre (REddyProc 1.3.3 does so for its night windows, 12 ->
  24 -> 48 days); the shortest length reaching ``min_points`` is used (column ``window_days``).  The
  choice depends on the record count only, never on the fit.
- ``NEE = a + b PPFD`` by OLS: ``a`` = R_day at the window's mean temperature of the fitted records,
  ``b`` < 0 (GPP rises with light); SE from the usual OLS formulas (``s^2 = SSE/(n-2)``).
- ``temperature_normalise="regress"``: OLS without intercept of ``NEE = Rref_day f_T(TA) + b' PPFD``,
  the form of the light-response fit of Keenan et al. (2019) (respiration ``Rref f_T(T)`` with the
  night E0, GPP not scaled by f_T); unbiased when TA and PPFD co-vary inside the band.
  ``"divide"``: OLS of ``NEE / f_T(TA)`` on PPFD, intercept = Rref_day; ``"mean_t"``:
  ``Rref_day = a / f_T(mean TA)``.  ``f_T`` is the Lloyd-Taylor factor with the night E0
  (:func:`~ecoresp_core.partitioning.respiration.lt_factor`).
- valid: n >= ``min_points``, b < 0, a > 0, normalised slope < 0, 0 < Rref_day (<= ``rref_max``), the
  inhibition within ``inhibition_bounds`` and, with ``gpp``, the window centre in the growing season
  (:func:`growing_season_mask`); otherwise ``reason`` says why.
- PPFD: ``PPFD_IN`` where present and finite, else ``SW_IN * rg_to_ppfd`` (2.11 umol J-1 by default;
  ``attrs['ppfd_source']`` says which was used).
- With ``rref_night`` (e.g. the NT ``rref`` Series, Rref at the same Tref), the window's night Rref
  is the mean over the window's records, and the window gets ``inhibition`` and
  ``inhibition_se = 100 * rref_day_se / rref_night`` (the night Rref taken as exact); a night Rref
  outside (0, ``rref_max``] gives no inhibition.

:data:`KOK_RULES`: ``"keenan2019"`` (default) takes from Keenan et al. (2019)'s published code
(github.com/trevorkeenan/inhibitionPaperCode and their REddyProc fork) and REddyProc 1.3.3 what they
state: 4-day windows stepping 2 days, measured NEE, day = Rg > 4 W m-2 and potential radiation > 0,
at least 10 records, the ``Rref f_T(T)`` form ("regress"), Rref in (0, 40], inhibition in [-200, 200] %,
growing season from the running 95th percentile of GPP; plus windows extended to 8 and 12 days (12 =
their night-window length).  Their published inhibition came from the DT light-response fit, not
from a Kok regression: the PPFD band (40-150) and the Rg-to-PPFD factor remain this project's
UNVERIFIED choices, all configurable.  ``"legacy"``: the rules before issue 13 (fixed 4-day windows,
"divide", no filters; :data:`KOK_DEFAULTS_UNVERIFIED`).  On synthetic data with TA and PPFD co-varying
in the band, "divide" over-estimated a true 30 % inhibition by ~5 points, "mean_t" by ~3, "regress"
by <1 (tests/core/partitioning/test_inhibition.py, 12 synthetic years).  A straight line over a band
where GPP already bends biases R_day low (spurious inhibition of several points; section 6.2).

:func:`pooled_inhibition_ci` pools the window estimates (inverse-variance weighted by default) with
an SE for the overlap of the windows (correlation from their shared time) and their over-dispersion,
and a 95 % interval (normal, or a seeded block bootstrap); :func:`pooled_inhibition` returns its
(mean, se, k).
"""

import numpy as np
import pandas as pd
from scipy.special import ndtri

from ..common.fluxvalues import MISSING_CODE
from ..errors import InputError
from ..io.towers import as_tower
from .respiration import TREF_DEGC, lt_factor

KOK_DEFAULTS_UNVERIFIED = {"window_days": 4, "step_days": 2, "ppfd_band": (40.0, 150.0), "rg_to_ppfd": 2.11,
                           "min_points": 10, "temperature_normalise": "divide"}
#: Rule sets of :func:`kok_windows` (module docstring): "keenan2019" (default) and "legacy" (the
#: behaviour before issue 13: fixed 4-day windows, division by f_T, no filters).
KOK_RULES = {
    "keenan2019": {"window_days": 4, "step_days": 2, "extend_days": (8, 12), "ppfd_band": (40.0, 150.0),
                   "rg_to_ppfd": 2.11, "min_points": 10, "temperature_normalise": "regress", "rg_day_min": 4.0,
                   "rref_max": 40.0, "inhibition_bounds": (-200.0, 200.0), "growing_season_fraction": 0.10},
    "legacy": {**KOK_DEFAULTS_UNVERIFIED, "extend_days": (), "rg_day_min": None, "rref_max": None,
               "inhibition_bounds": None, "growing_season_fraction": None},
}
SEASONS = {12: "DJF", 1: "DJF", 2: "DJF", 3: "MAM", 4: "MAM", 5: "MAM", 6: "JJA", 7: "JJA", 8: "JJA",
           9: "SON", 10: "SON", 11: "SON"}


# ------------------------------------------------------------------------------ (a) Rref-based index
def inhibition_from_rref(rref_night, rref_day):
    """(Rref_n - Rref_d) / Rref_n * 100 where both are finite and Rref_n > 0, else NaN.
    Pass NaN for windows whose fit is not valid (section 6.1: only where both fits are valid).

    Scalars, arrays or Series (a Series result keeps the index of ``rref_night``, or of
    ``rref_day`` when only that one is a Series; two Series are aligned on their index)."""
    if isinstance(rref_night, pd.Series) and isinstance(rref_day, pd.Series):
        rref_night, rref_day = rref_night.align(rref_day, join="outer")
    index = next((s.index for s in (rref_night, rref_day) if isinstance(s, pd.Series)), None)
    n = np.asarray(rref_night, dtype="float64")
    d = np.asarray(rref_day, dtype="float64")
    try:
        n, d = np.broadcast_arrays(n, d)
    except ValueError:
        raise InputError(f"rref_night and rref_day differ in length ({n.size} and {d.size})") from None
    ok = np.isfinite(n) & np.isfinite(d) & (n > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        inh = np.where(ok, (n - d) / n * 100.0, np.nan)
    if index is not None:
        return pd.Series(inh, index=index, name="inhibition_pct")
    return float(inh) if inh.ndim == 0 else inh


def _times_of(obj):
    if isinstance(obj.index, pd.DatetimeIndex):
        return obj.index
    if isinstance(obj, pd.DataFrame):
        for c in ("centre", "time", "TIMESTAMP_START", "timestamp"):
            if c in obj.columns:
                return pd.DatetimeIndex(pd.to_datetime(obj[c]))
    return None


def summarise_inhibition(series_or_df, by=("month", "season"), column="inhibition", valid_column="valid"):
    """Median, quartiles and IQR of an inhibition series (%).

    ``series_or_df``: a Series with a DatetimeIndex, or a DataFrame with ``column`` and a time
    (DatetimeIndex or a ``centre``/``time`` column, e.g. the output of :func:`kok_windows`); rows with
    a False ``valid_column`` are left out.  ``by``: any of "month", "season" (DJF/MAM/JJA/SON),
    "year", "all", or the name of a DataFrame column (e.g. a PFT column).
    Returns a DataFrame with columns by, group, n, median, q25, q75, iqr (NaN rows dropped first)."""
    if isinstance(by, str):
        by = (by,)
    if isinstance(series_or_df, pd.Series):
        frame = series_or_df.to_frame(column)
    elif isinstance(series_or_df, pd.DataFrame):
        if column not in series_or_df.columns:
            raise InputError(f"inhibition table: column {column!r} not found "
                             f"(columns: {', '.join(map(str, series_or_df.columns))})")
        frame = series_or_df
        if valid_column in frame.columns:
            frame = frame[frame[valid_column].astype(bool)]
    else:
        raise InputError("summarise_inhibition: expected a Series or a DataFrame")
    times = _times_of(frame)
    vals = pd.to_numeric(frame[column], errors="coerce")
    rows = []
    for b in by:
        if b in ("month", "season", "year"):
            if times is None:
                raise InputError(f"inhibition table: grouping by {b!r} needs a DatetimeIndex or a 'centre' column")
            key = {"month": times.month, "season": times.month.map(SEASONS), "year": times.year}[b]
            key = np.asarray(key)
        elif b == "all":
            key = np.full(len(frame), "all", dtype=object)
        elif isinstance(frame, pd.DataFrame) and b in frame.columns:
            key = frame[b].to_numpy()
        else:
            raise InputError(f"summarise_inhibition: cannot group by {b!r} (not month/season/year/all "
                             "nor a column of the table)")
        g = pd.DataFrame({"k": key, "v": vals.to_numpy()}).dropna().groupby("k")["v"]
        q = g.quantile([0.25, 0.5, 0.75]).unstack()
        part = pd.DataFrame({"by": b, "group": q.index, "n": g.size().reindex(q.index).to_numpy(),
                             "median": q[0.5].to_numpy(), "q25": q[0.25].to_numpy(), "q75": q[0.75].to_numpy()})
        if b == "season":
            part = part.set_index("group").reindex([s for s in ("DJF", "MAM", "JJA", "SON")
                                                    if s in set(part["group"])]).reset_index()
            part = part[["by", "group", "n", "median", "q25", "q75"]]
        rows.append(part)
    out = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["by", "group", "n", "median", "q25", "q75"])
    out["iqr"] = out["q75"] - out["q25"]
    return out


# ------------------------------------------------------------------------------------- (b) Kok
def _ols(x, y):
    """Intercept, its SE, slope, its SE, n, R2 of y = a + b x (arrays without NaN)."""
    n = x.size
    if n < 3:
        return (np.nan,) * 4 + (n, np.nan)
    xm, ym = x.mean(), y.mean()
    sxx = ((x - xm) ** 2).sum()
    if sxx <= 0:
        return (np.nan,) * 4 + (n, np.nan)
    b = ((x - xm) * (y - ym)).sum() / sxx
    a = ym - b * xm
    res = y - a - b * x
    s2 = (res ** 2).sum() / (n - 2)
    syy = ((y - ym) ** 2).sum()
    r2 = 1.0 - (res ** 2).sum() / syy if syy > 0 else np.nan
    return a, np.sqrt(s2 * (1.0 / n + xm * xm / sxx)), b, np.sqrt(s2 / sxx), n, r2


def _ols_ft(f, x, y):
    """y = c f + b x (no intercept): c (= Rref at Tref), its SE and b."""
    n = y.size
    if n < 3:
        return np.nan, np.nan, np.nan
    X = np.column_stack([f, x])
    xtx = X.T @ X
    if not np.linalg.matrix_rank(xtx) == 2:
        return np.nan, np.nan, np.nan
    inv = np.linalg.inv(xtx)
    c, b = inv @ (X.T @ y)
    res = y - X @ np.array([c, b])
    s2 = (res @ res) / (n - 2)
    return c, np.sqrt(s2 * inv[0, 0]), b


def _per_record(name, value, n, index):
    if isinstance(value, pd.Series):
        if len(value) == n and value.index.equals(index):
            return value.to_numpy(dtype="float64", na_value=np.nan)
        return value.reindex(index).to_numpy(dtype="float64", na_value=np.nan)
    a = np.asarray(value, dtype="float64")
    if a.ndim == 0:
        return np.full(n, float(a))
    if a.size != n:
        raise InputError(f"{name}: expected a scalar or {n} values (one per record), got {a.size}")
    return a


def kok_ppfd(df, rg_to_ppfd=2.11):
    """PPFD (umol m-2 s-1): PPFD_IN where finite, else SW_IN * rg_to_ppfd; and the count from SW_IN."""
    n = len(df)
    ppfd = np.full(n, np.nan)
    if "PPFD_IN" in df.columns:
        ppfd = df["PPFD_IN"].to_numpy(dtype="float64", na_value=np.nan).copy()
        ppfd[ppfd == MISSING_CODE] = np.nan
    from_rg = np.isnan(ppfd)
    if from_rg.any():
        if "SW_IN" not in df.columns:
            raise InputError("tower table: neither PPFD_IN nor SW_IN available for the Kok method")
        rg = df["SW_IN"].to_numpy(dtype="float64", na_value=np.nan)
        ppfd = np.where(from_rg, rg * rg_to_ppfd, ppfd)
        from_rg &= np.isfinite(ppfd)
    return ppfd, int(from_rg.sum())


def growing_season_mask(gpp, records_per_day, days=2.0, quantile=0.95, fraction=0.10):
    """Keenan et al. (2019) growing-season rule (their All1_compare_RefDay_RefNight.m): the running
    ``quantile`` of GPP over ``days`` days (centred; 96 half-hours in their code, the comment says
    5 days) must reach P5 + ``fraction`` (P95 - P5) of that running series.  Returns a bool array
    (False where GPP is missing)."""
    g = pd.Series(np.asarray(gpp, dtype="float64"))
    win = max(int(round(days * records_per_day)), 1)
    run = g.rolling(win, center=True, min_periods=max(win // 4, 1)).quantile(quantile).to_numpy()
    if not np.isfinite(run).any():
        return np.zeros(g.size, dtype=bool)
    p5, p95 = np.nanpercentile(run, [5.0, 95.0])
    with np.errstate(invalid="ignore"):
        return run >= p5 + fraction * (p95 - p5)


def _resolve_rules(rules, given):
    if rules not in KOK_RULES:
        raise InputError(f"rules must be one of {', '.join(map(repr, KOK_RULES))}, not {rules!r}")
    opt = dict(KOK_RULES[rules])
    opt.update({k: v for k, v in given.items() if v is not None})
    return opt


def kok_windows(df, e0_k, window_days=None, step_days=None, ppfd_band=None, rg_to_ppfd=None, min_points=None,
                tref_degc=TREF_DEGC, temperature_normalise=None, rref_night=None, use_qc=True, rules="keenan2019",
                extend_days=None, rg_day_min=None, rref_max=None, inhibition_bounds=None, gpp=None,
                growing_season_fraction=None):
    """Kok-method daytime respiration per window (module docstring, part b).

    ``rules``: "keenan2019" (default) or "legacy" (:data:`KOK_RULES`); any other keyword that is
    not None overrides the rule set.  ``e0_k``: night E0 (K), scalar or one value per record
    (array/Series on ``df.index``).  ``temperature_normalise``: "regress", "divide" or "mean_t".
    ``extend_days``: longer regression windows (days, centred on the reference window) tried in turn
    while a window has fewer than ``min_points`` records.  ``rref_night``: night Rref at
    ``tref_degc`` (scalar or per record) for the inhibition.  ``gpp``: GPP per record (e.g. the NT
    GPP) for the growing-season rule (:func:`growing_season_mask`; skipped when None or when
    ``growing_season_fraction`` is None).

    Returns a DataFrame, one row per reference window: start, end (records of the regression
    window), centre, centre_day, window_days (length used), n, t_mean, ppfd_mean, e0_k, a (R_day at
    t_mean), a_se, b, b_se, r2, rref_day (at tref_degc), rref_day_se, [rref_night, inhibition,
    inhibition_se], [growing_season], valid, reason.  ``attrs``: options, rules, n_ppfd_from_sw_in,
    ppfd_source, note.
    """
    opt = _resolve_rules(rules, {"window_days": window_days, "step_days": step_days, "ppfd_band": ppfd_band,
                                 "rg_to_ppfd": rg_to_ppfd, "min_points": min_points,
                                 "temperature_normalise": temperature_normalise, "extend_days": extend_days,
                                 "rg_day_min": rg_day_min, "rref_max": rref_max,
                                 "inhibition_bounds": inhibition_bounds,
                                 "growing_season_fraction": growing_season_fraction})
    window_days, step_days, min_points = opt["window_days"], opt["step_days"], opt["min_points"]
    temperature_normalise, rg_to_ppfd = opt["temperature_normalise"], opt["rg_to_ppfd"]
    extend = tuple(int(v) for v in (opt["extend_days"] or ()))
    rg_day_min, rref_max, bounds = opt["rg_day_min"], opt["rref_max"], opt["inhibition_bounds"]
    gs_fraction = opt["growing_season_fraction"]
    tower = as_tower(df)
    df = tower.data
    if not isinstance(df, pd.DataFrame) or not isinstance(df.index, pd.DatetimeIndex):
        raise InputError("tower table: expected a pandas DataFrame with a DatetimeIndex (TIMESTAMP_START)")
    need = ["NEE", "TA"] + (["NEE_QC"] if use_qc else [])
    miss = [c for c in need if c not in df.columns]
    if miss:
        raise InputError(f"tower table {tower.site.site_id or ''}: missing column(s) {', '.join(miss)} "
                         "for the Kok method")
    if temperature_normalise not in ("divide", "mean_t", "regress"):
        raise InputError("temperature_normalise must be 'divide', 'mean_t' or 'regress', "
                         f"not {temperature_normalise!r}")
    lo, hi = (float(v) for v in opt["ppfd_band"])
    if not (0 <= lo < hi):
        raise InputError(f"ppfd_band must be (lower, upper) with 0 <= lower < upper, not {opt['ppfd_band']!r}")
    if window_days <= 0 or step_days <= 0 or min_points < 3 or any(v <= window_days for v in extend):
        raise InputError("kok_windows: window_days and step_days must be > 0, min_points >= 3 and every "
                         "extend_days longer than window_days")
    n = len(df)
    idx = df.index
    if n < 2:
        raise InputError("tower table: fewer than 2 records")
    step = pd.Timedelta(np.diff(idx.values).astype("timedelta64[s]").astype(np.int64).min(), unit="s")
    if step <= pd.Timedelta(0):
        raise InputError("tower table: the time index must be increasing")
    rpd = int(tower.site.records_per_day or round(pd.Timedelta(days=1) / step))
    nee = df["NEE"].to_numpy(dtype="float64", na_value=np.nan)
    ta = df["TA"].to_numpy(dtype="float64", na_value=np.nan)
    e0 = _per_record("e0_k", e0_k, n, idx)
    ppfd, n_from_rg = kok_ppfd(df, rg_to_ppfd)
    use = np.isfinite(nee) & np.isfinite(ta) & np.isfinite(e0) & (ppfd > lo) & (ppfd < hi) & (nee != MISSING_CODE)
    if use_qc:
        use &= df["NEE_QC"].to_numpy(dtype="float64", na_value=np.nan) == 0
    if "SW_IN_POT" in df.columns:
        use &= df["SW_IN_POT"].to_numpy(dtype="float64", na_value=np.nan) > 0
    if rg_day_min is not None and "SW_IN" in df.columns:     # REddyProc day: Rg > 4 W m-2 (with PPFD_IN too)
        use &= df["SW_IN"].to_numpy(dtype="float64", na_value=np.nan) > rg_day_min
    rn = _per_record("rref_night", rref_night, n, idx) if rref_night is not None else None
    gs = None
    if gpp is not None and gs_fraction is not None:
        gs = growing_season_mask(_per_record("gpp", gpp, n, idx), rpd, fraction=gs_fraction)

    # reference windows as REddyProc's DT windows: start every step_days from the first record, centre at
    # start + window_days // 2; a longer regression window keeps that centre (REddyProc's night windows)
    pos = np.round(((idx - idx[0]) / step).to_numpy(dtype="float64")).astype(np.int64)  # position on the grid
    day = pos // rpd
    nday = int(day.max()) + 1
    starts_d = np.arange(0, max(nday - window_days + step_days, 1), step_days)
    centre_d = starts_d + window_days // 2
    # records usable per day -> n of any day range by cumulative sums, for every window and length at once
    cum = np.concatenate([[0], np.cumsum(np.bincount(day[use], minlength=nday))])
    lengths = np.array((window_days,) + extend)
    first = np.where(lengths == window_days, starts_d[:, None], centre_d[:, None] - lengths[None, :] // 2)
    d0 = np.clip(first, 0, nday)
    d1 = np.clip(first + lengths[None, :], 0, nday)
    n_len = cum[d1] - cum[d0]
    pick = np.argmax(n_len >= min_points, axis=1)               # shortest window reaching min_points ...
    pick[~(n_len >= min_points).any(axis=1)] = lengths.size - 1  # ... else the longest
    rows = []
    for i, s in enumerate(starts_d):
        j = pick[i]
        w0, w1 = d0[i, j], d1[i, j]
        inw = (day >= w0) & (day < w1)
        m = inw & use
        cpos = int(centre_d[i]) * rpd
        centre = idx[0] + step * int(min(cpos, pos.max()))
        wi = np.flatnonzero(inw)
        r = {"start": idx[wi[0]] if wi.size else pd.NaT, "end": idx[wi[-1]] if wi.size else pd.NaT,
             "centre": centre, "centre_day": int(centre_d[i]), "window_days": int(lengths[j]), "n": int(m.sum())}
        x, y, t, e = ppfd[m], nee[m], ta[m], e0[m]
        a, a_se, b, b_se, k, r2 = _ols(x, y)
        t_mean = float(t.mean()) if k else np.nan
        e_mean = float(e.mean()) if k else np.nan
        r.update({"t_mean": t_mean, "ppfd_mean": float(x.mean()) if k else np.nan, "e0_k": e_mean,
                  "a": a, "a_se": a_se, "b": b, "b_se": b_se, "r2": r2})
        if temperature_normalise == "divide":
            f = lt_factor(t, e, tref_degc)
            rr, rr_se, bn, _, _, _ = _ols(x, y / f) if k else (np.nan,) * 6
        elif temperature_normalise == "regress":
            rr, rr_se, bn = _ols_ft(lt_factor(t, e, tref_degc), x, y)
        else:
            fm = float(lt_factor(t_mean, e_mean, tref_degc)) if k else np.nan
            rr, rr_se, bn = a / fm, a_se / fm, b
        r.update({"rref_day": rr, "rref_day_se": rr_se})
        reasons = []
        if k < min_points:
            reasons.append(f"n<{min_points}")
        elif not np.isfinite(a):
            reasons.append("no PPFD spread")
        else:
            if not b < 0:
                reasons.append("slope b >= 0")
            elif not bn < 0:
                reasons.append("normalised slope >= 0")
            if not a > 0:
                reasons.append("intercept a <= 0")
            elif not rr > 0:
                reasons.append("rref_day <= 0")
            elif rref_max is not None and rr > rref_max:
                reasons.append(f"rref_day > {rref_max:g}")
        if gs is not None:
            r["growing_season"] = bool(gs[min(int(np.searchsorted(pos, cpos)), n - 1)])   # record at the centre
            if not r["growing_season"]:
                reasons.append("outside growing season")
        if rn is not None:
            rnw = rn[inw]
            rnw = float(np.nanmean(rnw)) if np.isfinite(rnw).any() else np.nan
            r["rref_night"] = rnw
            night_ok = np.isfinite(rnw) and rnw > 0 and (rref_max is None or rnw <= rref_max)
            inh = inhibition_from_rref(rnw, rr) if not reasons and night_ok else np.nan
            if bounds is not None and np.isfinite(inh) and not bounds[0] <= inh <= bounds[1]:
                reasons.append(f"inhibition outside [{bounds[0]:g}, {bounds[1]:g}]")
                inh = np.nan
            r["inhibition"] = inh
            r["inhibition_se"] = 100.0 * rr_se / rnw if np.isfinite(inh) else np.nan
        r["valid"] = not reasons
        r["reason"] = "; ".join(reasons)
        rows.append(r)
    out = pd.DataFrame(rows)
    src = ("PPFD_IN" if n_from_rg == 0 else
           f"SW_IN x {rg_to_ppfd:g}" if "PPFD_IN" not in df.columns else f"PPFD_IN, gaps SW_IN x {rg_to_ppfd:g}")
    out.attrs.update({"tref_degc": tref_degc, "n_ppfd_from_sw_in": n_from_rg, "ppfd_source": src, "rules": rules,
                      "record_step_s": step.total_seconds(),
                      "options": {"window_days": window_days, "step_days": step_days, "extend_days": extend,
                                  "ppfd_band": (lo, hi), "rg_to_ppfd": rg_to_ppfd, "min_points": min_points,
                                  "tref_degc": tref_degc, "temperature_normalise": temperature_normalise,
                                  "use_qc": use_qc, "rg_day_min": rg_day_min, "rref_max": rref_max,
                                  "inhibition_bounds": bounds, "growing_season_fraction": gs_fraction,
                                  "growing_season_applied": gs is not None},
                      "note": "Kok method at the ecosystem scale: this project's adaptation; the window, QC, "
                              "temperature and filter rules follow Keenan et al. 2019 / REddyProc 1.3.3 where "
                              "their code states them, the PPFD band is unverified (docs/methods.md 6.2)"})
    return out


def _overlap_corr(w):
    """Correlation of window estimates from shared time: overlap / sqrt(length_i length_j) of the
    regression windows (records taken as evenly spread)."""
    opt = w.attrs.get("options", {})
    if {"start", "end"} <= set(w.columns) and len(w):
        s = pd.to_datetime(w["start"]).to_numpy("datetime64[s]").astype("int64").astype("float64")
        e = pd.to_datetime(w["end"]).to_numpy("datetime64[s]").astype("int64").astype("float64")
        if np.isfinite(s).all() and np.isfinite(e).all() and len(w) > 1:
            e = e + float(w.attrs.get("record_step_s", 1.0))        # end of the last record
            ov = np.clip(np.minimum(e[:, None], e[None, :]) - np.maximum(s[:, None], s[None, :]), 0.0, None)
            ln = e - s
            return ov / np.sqrt(ln[:, None] * ln[None, :])
    k = len(w)
    overlap = min(1.0, opt.get("step_days", 1) / opt.get("window_days", 1))
    return np.eye(k) + (1.0 - overlap) * (np.abs(np.subtract.outer(np.arange(k), np.arange(k))) == 1)


def pooled_inhibition_ci(windows, method="weighted", level=0.95, n_boot=0, seed=None):
    """Pooled inhibition (%) over the valid windows of :func:`kok_windows` (called with ``rref_night``),
    with its SE and a ``level`` interval.

    ``method="weighted"`` (default): inverse-variance weighted mean (weights 1/inhibition_se^2);
    ``"mean"``: plain mean.  Overlapping windows share records, so the SE uses the correlation
    rho_ij = shared time / sqrt(len_i len_j) of the regression windows: k_eff = k^2 / sum_ij rho_ij;
    weighted, SE^2 = phi sum_ij rho_ij / (se_i se_j) / (sum 1/se^2)^2, with the over-dispersion
    factor phi = max(1, Q / (k (1 - 1/k_eff))), Q = sum (x_i - mean)^2 / se_i^2 (the window
    estimates scatter more than their OLS SEs say on real data: the inhibition varies in time and
    half-hourly residuals are not independent); mean, SE = SD / sqrt(k_eff).  Interval:
    mean +- z SE (normal), or with ``n_boot`` > 0 and at least 5 blocks a circular moving-block
    bootstrap of the window estimates in time order (block = k / k_eff windows; percentile interval,
    SE = SD of the replicates; ``seed`` for numpy's default_rng).
    Returns a dict: mean, se, ci_lo, ci_hi, k (windows used), k_eff, phi, method, interval."""
    if "inhibition" not in windows.columns:
        raise InputError("Kok windows: no 'inhibition' column (call kok_windows with rref_night)")
    if method not in ("mean", "weighted"):
        raise InputError(f"method must be 'mean' or 'weighted', not {method!r}")
    if not 0 < level < 1:
        raise InputError(f"level must be in (0, 1), not {level!r}")
    w = windows[windows["valid"].astype(bool)]
    v, se = w["inhibition"].to_numpy(float), w["inhibition_se"].to_numpy(float)
    ok = np.isfinite(v) & np.isfinite(se) & (se > 0)
    w, v, se = w[ok], v[ok], se[ok]
    w.attrs = windows.attrs
    k = int(ok.sum())
    out = {"mean": float(v[0]) if k == 1 else np.nan, "se": np.nan, "ci_lo": np.nan, "ci_hi": np.nan, "k": k,
           "k_eff": float(k), "phi": np.nan, "method": method, "interval": "normal"}
    if k < 2:
        return out
    rho = _overlap_corr(w)
    k_eff = float(k * k / rho.sum())
    if method == "mean":
        mean, sem, phi = float(v.mean()), float(v.std(ddof=1) / np.sqrt(k_eff)), np.nan
    else:
        iw = 1.0 / se
        mean = float((iw ** 2 * v).sum() / (iw ** 2).sum())
        q = float((((v - mean) * iw) ** 2).sum())
        phi = max(1.0, q / (k * (1.0 - 1.0 / k_eff))) if k_eff > 1 else 1.0
        sem = float(np.sqrt(phi * (iw @ rho @ iw)) / (iw ** 2).sum())
    z = float(ndtri(0.5 + level / 2))
    out.update(mean=mean, se=sem, ci_lo=mean - z * sem, ci_hi=mean + z * sem, k_eff=k_eff, phi=phi)
    blen = int(min(k, max(1, np.ceil(k / k_eff))))
    if n_boot and n_boot > 0 and k // blen >= 5:
        rng = np.random.default_rng(seed)
        nblk = int(np.ceil(k / blen))
        st = rng.integers(0, k, size=(int(n_boot), nblk))
        ii = ((st[:, :, None] + np.arange(blen)[None, None, :]) % k).reshape(int(n_boot), -1)[:, :k]
        if method == "mean":
            reps = v[ii].mean(axis=1)
        else:
            wt = 1.0 / se[ii] ** 2
            reps = (wt * v[ii]).sum(axis=1) / wt.sum(axis=1)
        a = (1 - level) / 2
        out.update(se=float(reps.std(ddof=1)), ci_lo=float(np.quantile(reps, a)),
                   ci_hi=float(np.quantile(reps, 1 - a)),
                   interval=f"circular block bootstrap ({int(n_boot)} replicates, block {blen} windows)")
    return out


def pooled_inhibition(windows, method="weighted"):
    """(mean, se, k) of :func:`pooled_inhibition_ci` (normal interval, no bootstrap)."""
    r = pooled_inhibition_ci(windows, method=method)
    return r["mean"], r["se"], r["k"]
