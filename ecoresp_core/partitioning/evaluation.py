"""Model-evaluation statistics (docs/methods.md section 10) at several time scales.

With ``e = sim - obs`` over the n pairs where both are finite:

- ``ME``   = mean(e)                          (bias; > 0: the model overestimates)
- ``MAE``  = mean(|e|)
- ``RMSE`` = sqrt(mean(e^2))
- ``EF``   = 1 - sum(e^2) / sum((obs - mean(obs))^2)   (Nash-Sutcliffe efficiency = sklearn r2_score)
- ``R2``   = Pearson correlation(obs, sim) squared  -- NOT the EF; the two differ
- ``RMSLE``= sqrt(mean((ln(1 + sim) - ln(1 + obs))^2)) over the pairs where neither value is
  negative; the number of pairs left out is ``n_negative_masked``.

Time scales of :func:`evaluate` (fluxes in umol CO2 m-2 s-1 on a regular DatetimeIndex of interval
starts):

- ``native``: the records as given (half-hourly or hourly);
- ``hourly``: hourly means (half-hourly records are paired into clock hours; an hour counts only
  when both halves are present); hourly input is used as is;
- ``daytime``: the hourly scale restricted to hours whose every record is daytime in
  ``daytime_mask``;
- ``daily``, ``monthly``, ``annual``: means over complete periods, i.e. periods in which at least
  ``min_coverage`` (default 1.0: all) of the expected records hold a finite obs-sim pair (the means
  are taken over those pairs);
- ``annual`` also reports the mean annual sums in g C m-2 yr-1 (mean rate x days in the year x
  1.0377504 g C m-2 d-1 per umol CO2 m-2 s-1, with M_C = 12.011 g mol-1) and their difference in %.
"""

import numpy as np
import pandas as pd

from ..common.metrics import METRIC_KEYS, metrics  # noqa: F401  (part of this module's API)
from ..common.units import UMOL_M2_S_TO_GC_M2_D as UMOL_TO_GC_PER_DAY
from ..common.fluxvalues import EMPTY as _EMPTY, MISSING_CODE, flux_values  # noqa: F401 - re-exported
from ..errors import InputError

SCALES = ("native", "hourly", "daytime", "daily", "monthly", "annual")


def _first_unreadable(text):
    """(row, value) of the first stamp in ``text`` that is no date-time (the whole column failed
    to parse: found one by one, only on this error path)."""
    for i, value in enumerate(text):
        try:
            pd.Timestamp(value)
        except (ValueError, TypeError, OverflowError):
            return i, value
    return 0, text.iloc[0]


def time_index(values, what):
    """The DatetimeIndex of interval starts given as date-times, date-time text ('2015-01-01 00:30')
    or FLUXNET YYYYMMDDHHMM stamps (text or numbers).  InputError naming ``what`` (e.g. the time
    field) and the first empty, unreadable or duplicated stamp."""
    raw = pd.Series(values).reset_index(drop=True)
    if pd.api.types.is_datetime64_any_dtype(raw):
        stamps = pd.DatetimeIndex(raw)
    else:
        text = raw.astype(str).str.strip().str.replace(r"\.0$", "", regex=True)
        empty = raw.isna().to_numpy() | text.isin(_EMPTY).to_numpy()
        if empty.any():
            i = int(np.flatnonzero(empty)[0])
            raise InputError(f"{what}: row {i + 1} has no time stamp ({int(empty.sum())} row(s) without one)")
        fluxnet = text.str.fullmatch(r"\d{12}")
        if not fluxnet.all() and pd.to_numeric(text, errors="coerce").notna().any():
            i = int(np.flatnonzero(~fluxnet.to_numpy())[0])
            raise InputError(f"{what}: {text.iloc[i]!r} in row {i + 1} is a number, not a time stamp "
                             "(YYYY-MM-DD HH:MM or YYYYMMDDHHMM)")
        try:
            stamps = pd.DatetimeIndex(pd.to_datetime(text, format="%Y%m%d%H%M" if fluxnet.all() else None))
        except (ValueError, TypeError, OverflowError):
            i, value = _first_unreadable(text)
            raise InputError(f"{what}: {value!r} in row {i + 1} is not a time stamp "
                             "(YYYY-MM-DD HH:MM or YYYYMMDDHHMM)") from None
    if stamps.tz is not None:
        stamps = stamps.tz_localize(None)
    dup = stamps.duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise InputError(f"{what}: duplicated time stamp {stamps[i]} (row {i + 1}; {int(dup.sum())} duplicate(s)); "
                         "give one record per time step")
    return stamps.rename("TIMESTAMP_START")


def _step_minutes(index):
    d = np.diff(index.values).astype("timedelta64[s]").astype("int64")
    if d.size == 0:
        raise InputError(f"evaluation needs at least 2 time steps; the series has {len(index)}")
    return float(np.median(d)) / 60.0


def _aggregate(frame, freq, step_min, min_coverage):
    """Means of obs/sim over calendar periods with enough finite pairs; returns (obs, sim, n_total)."""
    grp = frame.groupby(frame.index.to_period(freq))
    means = grp[["obs", "sim"]].mean()
    n_ok = grp["pair"].sum()
    periods = means.index
    start = periods.start_time
    end = (periods + 1).start_time
    expected = ((end - start).total_seconds() / 60.0 / step_min).astype(float)
    cover = n_ok.to_numpy(dtype="float64") / np.asarray(expected)
    ok = cover >= min_coverage - 1e-12
    return means[ok], len(periods)


def evaluate(obs_series, sim_series, scales=("hourly", "daytime", "daily", "monthly", "annual"),
             daytime_mask=None, min_coverage=1.0):
    """One row per scale with the :func:`metrics` keys plus ``n_periods`` (periods available before
    the coverage rule) and, for 'annual', ``obs_sum_gC_m2_yr``, ``sim_sum_gC_m2_yr`` (mean over the
    complete years) and ``annual_diff_pct`` = 100 (sim - obs) / |obs|.

    ``obs_series``/``sim_series``: pandas Series on the same regular DatetimeIndex (interval starts),
    umol CO2 m-2 s-1.  ``daytime_mask``: boolean Series/array on that index (needed for 'daytime';
    without it the daytime row has n = 0)."""
    if not isinstance(obs_series, pd.Series) or not isinstance(sim_series, pd.Series):
        raise InputError("evaluate() needs pandas Series for obs and sim")
    if not isinstance(obs_series.index, pd.DatetimeIndex):
        raise InputError("evaluate(): obs needs a DatetimeIndex")
    if not obs_series.index.equals(sim_series.index):
        sim_series = sim_series.reindex(obs_series.index)
    unknown = [s for s in scales if s not in SCALES]
    if unknown:
        raise InputError(f"unknown evaluation scale(s) {unknown}; use {', '.join(SCALES)}")
    idx = obs_series.index
    step = _step_minutes(idx)
    frame = pd.DataFrame({"obs": obs_series.to_numpy(dtype="float64"),
                          "sim": sim_series.to_numpy(dtype="float64")}, index=idx)
    pair = np.isfinite(frame["obs"].values) & np.isfinite(frame["sim"].values)
    frame.loc[~pair, ["obs", "sim"]] = np.nan
    frame["pair"] = pair.astype("int64")
    if daytime_mask is not None:
        dm = np.asarray(daytime_mask.reindex(idx).fillna(False) if isinstance(daytime_mask, pd.Series)
                        else daytime_mask, dtype=bool)
        if dm.shape[0] != len(idx):
            raise InputError(f"daytime_mask has {dm.shape[0]} values for {len(idx)} records")
        frame["day"] = dm.astype("int64")

    def hourly():
        if step >= 60:
            h = frame.copy()
            h["n_rec"] = 1
            return h
        g = frame.groupby(idx.floor("60min"))
        h = g[["obs", "sim"]].mean()
        h["pair"] = g["pair"].sum()
        h["n_rec"] = g["pair"].size()
        need = int(round(60 / step))
        h.loc[h["pair"] < need, ["obs", "sim"]] = np.nan
        if "day" in frame:
            h["day"] = g["day"].sum()
        return h

    rows = []
    for scale in scales:
        extra = {}
        if scale == "native":
            o, s, nper = frame["obs"], frame["sim"], len(frame)
        elif scale in ("hourly", "daytime"):
            h = hourly()
            nper = len(h)
            if scale == "daytime":
                if "day" not in h:
                    o = s = pd.Series([], dtype="float64")
                    extra["note"] = "no daytime_mask given"
                else:
                    sel = h["day"] == h["n_rec"]
                    o, s = h.loc[sel, "obs"], h.loc[sel, "sim"]
            else:
                o, s = h["obs"], h["sim"]
        else:
            freq = {"daily": "D", "monthly": "M", "annual": "Y"}[scale]  # period aliases
            agg, nper = _aggregate(frame, freq, step, min_coverage)
            o, s = agg["obs"], agg["sim"]
            if scale == "annual":
                if len(agg):
                    days = np.array([366.0 if p.start_time.is_leap_year else 365.0 for p in agg.index])
                    so = float(np.mean(o.values * days * UMOL_TO_GC_PER_DAY))
                    ss = float(np.mean(s.values * days * UMOL_TO_GC_PER_DAY))
                    extra.update(obs_sum_gC_m2_yr=so, sim_sum_gC_m2_yr=ss,
                                 annual_diff_pct=100.0 * (ss - so) / abs(so) if so != 0 else np.nan)
                else:
                    extra.update(obs_sum_gC_m2_yr=np.nan, sim_sum_gC_m2_yr=np.nan, annual_diff_pct=np.nan)
        row = {"scale": scale}
        row.update(metrics(o.values, s.values))
        row["n_periods"] = int(nper)
        row.update(extra)
        rows.append(row)
    out = pd.DataFrame(rows).set_index("scale")
    return out


def annual_sums(series, min_coverage=1.0):
    """Annual sums (g C m-2 yr-1) of a flux Series (umol CO2 m-2 s-1) over years with enough
    coverage (mean rate x days x 1.0377504); a Series indexed by year."""
    idx = series.index
    step = _step_minutes(idx)
    frame = pd.DataFrame({"obs": series.to_numpy(dtype="float64")}, index=idx)
    frame["sim"] = frame["obs"]
    frame["pair"] = np.isfinite(frame["obs"].values).astype("int64")
    agg, _ = _aggregate(frame, "Y", step, min_coverage)
    days = np.array([366.0 if p.start_time.is_leap_year else 365.0 for p in agg.index])
    return pd.Series(agg["obs"].values * days * UMOL_TO_GC_PER_DAY,
                     index=pd.Index([p.year for p in agg.index], name="year"), name="sum_gC_m2_yr")


def evaluation_report_html(obs_series, sim_series, table, title, obs_label="reference", sim_label="model"):
    """HTML page: the metrics table per scale, a scatter of daily means and the monthly means
    of both series."""
    from ..io import report

    frame = pd.DataFrame({"obs": obs_series, "sim": sim_series.reindex(obs_series.index)})
    frame = frame[np.isfinite(frame["obs"]) & np.isfinite(frame["sim"])]
    daily = frame.resample("D").mean().dropna()
    monthly = frame.groupby(frame.index.to_period("M")).mean()  # calendar months, any pandas
    x = np.arange(len(monthly))
    sections = [
        ("Metrics by time scale", report.table_html(table.reset_index())),
        ("Daily means", report.scatter_chart({"days": (daily["obs"].values, daily["sim"].values)},
                                             "daily mean ER", f"{obs_label} (umol m-2 s-1)",
                                             f"{sim_label} (umol m-2 s-1)")),
        ("Monthly means", report.line_chart({obs_label: (x, monthly["obs"].values),
                                             sim_label: (x, monthly["sim"].values)},
                                            "monthly mean ER", "month since "
                                            + (str(monthly.index[0]) if len(monthly) else "-"),
                                            "umol CO2 m-2 s-1", markers=True)),
        ("Definitions", "<p>R2 is Pearson's r squared; EF is the Nash-Sutcliffe modelling efficiency; "
                        "ME is the mean error (sim - obs, the bias); RMSLE uses ln(1 + x) and leaves out "
                        "negative values (n_negative_masked). Aggregates are means over complete periods.</p>"),
    ]
    return report.page(title, sections)
