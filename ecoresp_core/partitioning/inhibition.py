"""Light inhibition of daytime respiration (docs/methods.md section 6; Keenan et al. 2019).

(a) From reference respirations (section 6.1), per window where both are valid::

    Inhibition (%) = (Rref_night - Rref_day) / Rref_night * 100

Negative values mean stimulation.  Both Rref must share Tref (and, for a Tref-independent index, E0):
always state Tref (15 degC by default).  :func:`summarise_inhibition` gives the median and IQR per
month, season (DJF, MAM, JJA, SON by calendar month), year, any column (e.g. a PFT column) or overall.

(b) Ecosystem-scale Kok method (section 6.2, a PROPOSAL of this project).  Per window of
``window_days`` stepping ``step_days`` (placed as the DT reference windows: from the first record,
centre at the start of the third day), on measured (``NEE_QC == 0``) daytime records
(``SW_IN_POT > 0`` when the column exists) whose PPFD lies in the open band ``ppfd_band``:

- ``NEE = a + b PPFD`` by OLS: ``a`` = R_day at the window's mean temperature of the fitted records,
  ``b`` < 0 (GPP rises with light); SE from the usual OLS formulas (``s^2 = SSE/(n-2)``).
- ``temperature_normalise="divide"`` (default, the better option of section 6.2): OLS of
  ``NEE / f_T(TA)`` on PPFD; its intercept is Rref_day at ``tref_degc`` directly.
  ``"mean_t"``: ``Rref_day = a / f_T(mean TA)``.  ``"regress"`` (this project's addition): OLS
  without intercept of ``NEE = Rref_day f_T(TA) + b' PPFD``, the model the synthetic tests are built
  on; unlike "divide" it does not divide the GPP term by f_T, which biases "divide" when TA and PPFD
  co-vary inside the band (morning/evening, overcast middays).  ``f_T`` is the Lloyd-Taylor
  factor with the night E0 (:func:`~ecoresp_core.partitioning.respiration.lt_factor`).
- valid: n >= ``min_points``, slope b < 0, intercept a > 0, and for "divide"/"regress" also the
  slope of the normalised fit < 0 and Rref_day > 0; otherwise ``reason`` says why.
- PPFD: ``PPFD_IN`` where present and finite, else ``SW_IN * rg_to_ppfd`` (2.11 umol J-1 by default;
  the "~2.1" of section 6.2).
- With ``rref_night`` (e.g. the NT ``rref`` Series, Rref at the same Tref), the window's night Rref
  is the mean over the window's records, and the window gets ``inhibition`` and
  ``inhibition_se = 100 * rref_day_se / rref_night`` (the night Rref taken as exact).

UNVERIFIED (open question Q3): Keenan et al. (2019) were read only in the abstract; their PPFD band,
window length, temperature normalisation and Rg-to-PPFD factor are unknown.  The defaults here
(4-day windows, 2-day step, PPFD 40-150 umol m-2 s-1, 2.11, >= 10 points, division by f_T) are this
project's proposal and are all configurable.  On synthetic data with TA and PPFD co-varying in the
band, "divide" over-estimated a true 30 % inhibition by ~5 points, "mean_t" by ~3, "regress" by <1
(tests/core/partitioning/test_inhibition.py, 12 synthetic years).

:func:`pooled_inhibition` pools the window estimates (inverse-variance weighted by default), with an
SE inflated for the overlap of the windows (4-day windows stepping 2 days share half their records).
"""

import numpy as np
import pandas as pd

from ..errors import InputError
from ..io.towers import as_tower
from .respiration import TREF_DEGC, lt_factor

KOK_DEFAULTS_UNVERIFIED = {"window_days": 4, "step_days": 2, "ppfd_band": (40.0, 150.0), "rg_to_ppfd": 2.11,
                           "min_points": 10, "temperature_normalise": "divide"}
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
        ppfd[ppfd == -9999.0] = np.nan
    from_rg = np.isnan(ppfd)
    if from_rg.any():
        if "SW_IN" not in df.columns:
            raise InputError("tower table: neither PPFD_IN nor SW_IN available for the Kok method")
        rg = df["SW_IN"].to_numpy(dtype="float64", na_value=np.nan)
        ppfd = np.where(from_rg, rg * rg_to_ppfd, ppfd)
        from_rg &= np.isfinite(ppfd)
    return ppfd, int(from_rg.sum())


def kok_windows(df, e0_k, window_days=4, step_days=2, ppfd_band=(40.0, 150.0), rg_to_ppfd=2.11, min_points=10,
                tref_degc=TREF_DEGC, temperature_normalise="divide", rref_night=None, use_qc=True):
    """Kok-method daytime respiration per window (module docstring, part b).

    ``e0_k``: night E0 (K), scalar or one value per record (array/Series on ``df.index``).
    ``temperature_normalise``: "divide" (default), "mean_t" or "regress" (module docstring).
    ``rref_night``: optional night Rref at ``tref_degc`` (scalar or per record) for the inhibition.
    Returns a DataFrame, one row per window: start, end, centre, centre_day, n, t_mean, ppfd_mean,
    e0_k, a (R_day at t_mean), a_se, b, b_se, r2, rref_day (at tref_degc), rref_day_se,
    [rref_night, inhibition, inhibition_se], valid, reason.  ``attrs``: options, n_ppfd_from_sw_in,
    and the note that the Keenan 2019 settings are unverified.
    """
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
    lo, hi = (float(v) for v in ppfd_band)
    if not (0 <= lo < hi):
        raise InputError(f"ppfd_band must be (lower, upper) with 0 <= lower < upper, not {ppfd_band!r}")
    if window_days <= 0 or step_days <= 0 or min_points < 3:
        raise InputError("kok_windows: window_days and step_days must be > 0 and min_points >= 3")
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
    use = np.isfinite(nee) & np.isfinite(ta) & np.isfinite(e0) & (ppfd > lo) & (ppfd < hi) & (nee != -9999.0)
    if use_qc:
        use &= df["NEE_QC"].to_numpy(dtype="float64", na_value=np.nan) == 0
    if "SW_IN_POT" in df.columns:
        use &= df["SW_IN_POT"].to_numpy(dtype="float64", na_value=np.nan) > 0
    rn = _per_record("rref_night", rref_night, n, idx) if rref_night is not None else None

    # windows as the DT reference windows: start every step_days from the first record
    pos = np.round(((idx - idx[0]) / step).to_numpy(dtype="float64")).astype(np.int64)  # position on the grid
    day = pos // rpd
    nday = int(day.max()) + 1
    starts_d = np.arange(0, max(nday - window_days + step_days, 1), step_days)
    rows = []
    for s in starts_d:
        inw = (day >= s) & (day < s + window_days)
        m = inw & use
        cpos = s * rpd + (window_days // 2) * rpd
        centre = idx[0] + step * int(min(cpos, pos.max()))
        wi = np.flatnonzero(inw)
        r = {"start": idx[wi[0]] if wi.size else pd.NaT, "end": idx[wi[-1]] if wi.size else pd.NaT,
             "centre": centre, "centre_day": s + window_days // 2, "n": int(m.sum())}
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
        r["valid"] = not reasons
        r["reason"] = "; ".join(reasons)
        if rn is not None:
            rnw = rn[inw]
            rnw = float(np.nanmean(rnw)) if np.isfinite(rnw).any() else np.nan
            r["rref_night"] = rnw
            ok = r["valid"] and np.isfinite(rnw) and rnw > 0
            r["inhibition"] = inhibition_from_rref(rnw, rr) if ok else np.nan
            r["inhibition_se"] = 100.0 * rr_se / rnw if ok else np.nan
        rows.append(r)
    out = pd.DataFrame(rows)
    out.attrs.update({"tref_degc": tref_degc, "n_ppfd_from_sw_in": n_from_rg,
                      "options": {"window_days": window_days, "step_days": step_days, "ppfd_band": (lo, hi),
                                  "rg_to_ppfd": rg_to_ppfd, "min_points": min_points, "tref_degc": tref_degc,
                                  "temperature_normalise": temperature_normalise, "use_qc": use_qc},
                      "note": "Kok settings of Keenan et al. 2019 are unverified (docs/methods.md Q3); "
                              "these are the project's configurable proposal"})
    return out


def pooled_inhibition(windows, method="weighted"):
    """Inhibition (%) pooled over the valid windows of :func:`kok_windows` (called with ``rref_night``).

    ``method="mean"``: plain mean, SE = SD / sqrt(k_eff); ``"weighted"``: inverse-variance weighted
    mean of the window estimates (weights 1/inhibition_se^2), SE = 1/sqrt(sum of weights) scaled by
    sqrt(k/k_eff).  Overlapping windows share records, so k_eff = k * step_days / window_days
    (at most k): 4-day windows stepping 2 days count as half as many independent estimates.
    Returns (mean, se, k) with k the number of windows used."""
    if "inhibition" not in windows.columns:
        raise InputError("Kok windows: no 'inhibition' column (call kok_windows with rref_night)")
    if method not in ("mean", "weighted"):
        raise InputError(f"method must be 'mean' or 'weighted', not {method!r}")
    w = windows[windows["valid"].astype(bool)]
    v, se = w["inhibition"].to_numpy(float), w["inhibition_se"].to_numpy(float)
    ok = np.isfinite(v) & np.isfinite(se) & (se > 0)
    k = int(ok.sum())
    if k < 2:
        return (float(v[ok][0]) if k else float("nan")), float("nan"), k
    opt = windows.attrs.get("options", {})
    overlap = min(1.0, opt.get("step_days", 1) / opt.get("window_days", 1))
    k_eff = max(1.0, k * overlap)
    if method == "mean":
        return float(v[ok].mean()), float(v[ok].std(ddof=1) / np.sqrt(k_eff)), k
    wt = 1.0 / se[ok] ** 2
    return float((wt * v[ok]).sum() / wt.sum()), float(np.sqrt(k / k_eff) / np.sqrt(wt.sum())), k
