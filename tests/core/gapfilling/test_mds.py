"""MDS gap filling (ecoresp_core/gapfilling/mds.py): REddyProc's own regression values, hand-checkable
look-ups (mean, SD, quality class, window widening), closed loop on synthetic data."""

import os

import numpy as np
import pandas as pd
import pytest

from ecoresp_core.errors import InputError
from ecoresp_core.common.turbulence import low_turbulence_flag
from ecoresp_core.gapfilling.mds import (MDSOptions, STEPS_FULL, fill_drivers, filter_long_runs, gap_lengths,
                                         mds_gapfill)
from ecoresp_core.partitioning.synthetic import make_site_year

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DETHA98 = os.path.join(REPO, "tests", "data", "flux", "Example_DETha98.txt")
RP = {"rg": "Rg", "vpd": "VPD", "ta": "Tair"}


@pytest.fixture(scope="module")
def detha():
    """REddyProc's tests/testthat/test_gapfilling.R set-up: Example_DETha98 with filterLongRuns('NEE'),
    QF = c(1,0,1,0,1,0,0,0,0,0) recycled, the first 90 days."""
    df = pd.read_csv(DETHA98, sep="\t", skiprows=[1], na_values=[-9999])
    df.index = pd.date_range("1998-01-01 00:30", periods=len(df), freq="30min")
    df["NEE"] = filter_long_runs(df["NEE"].to_numpy())
    df["QF"] = np.resize([1, 0, 1, 0, 1, 0, 0, 0, 0, 0], len(df))
    return df


def test_reddyproc_regression_values(detha):
    """The published regression values of REddyProc's test_gapfilling.R ('sMDSGapFill',
    'sMDSGapFill Vekuri23'): NEE_fnum[1] = 54, Tair_fnum[1] = 173, NEE_f[3] = 1.006569, hourly
    Tair_fnum[1] = 124, Vekuri23 NEE_f[19] = -1.857619."""
    sub = detha.iloc[:48 * 3 * 30]
    nee = mds_gapfill(sub, "NEE", **RP)
    assert nee["NEE_F_N"].iat[0] == 54
    assert nee["NEE_F"].iat[2] == pytest.approx(1.006569, abs=1e-6)
    tair = mds_gapfill(sub, "Tair", qc="QF", qc_good=0, **RP)
    assert tair["Tair_F_N"].iat[0] == 173 and tair["Tair_F_METH"].iat[0] == 2
    hourly = detha.iloc[1::2].iloc[:24 * 3 * 30]
    assert mds_gapfill(hourly, "Tair", qc="QF", **RP)["Tair_F_N"].iat[0] == 124
    vek = mds_gapfill(sub, "NEE", options=MDSOptions.reddyproc(method="Vekuri23"), **RP)
    assert vek["NEE_F_N"].iat[0] == 54
    assert vek["NEE_F"].iat[18] == pytest.approx(-1.857619, abs=1e-6)


def _frame(days=20, rpd=48):
    """Night-time drivers far from each other (no record is similar to another) and NEE = index."""
    n = days * rpd
    idx = pd.date_range("2020-01-01", periods=n, freq=f"{1440 // rpd}min")
    return pd.DataFrame({"NEE": np.arange(n, dtype=float), "SW_IN": np.zeros(n),
                         "VPD": np.zeros(n), "TA": 100.0 + 10.0 * np.arange(n)}, index=idx)


def test_lut_mean_sd_and_tolerances_exact():
    df = _frame()
    g = 480
    df.loc[df.index[g], ["NEE", "TA"]] = [np.nan, 10.0]
    near = {g - 200: 10.5, g - 3: 8.0, g + 300: 12.4, g + 301: 12.5, g + 336: 10.0, g + 337: 10.0}
    for j, t in near.items():
        df.iloc[j, df.columns.get_loc("TA")] = t
    out = mds_gapfill(df, options=MDSOptions.reddyproc(fill_all=False))
    used = [g - 200, g - 3, g + 300, g + 336]            # 12.5 is not < 2.5 away; g+337 is beyond 7 days
    r = out.iloc[g]
    assert r["NEE_F"] == pytest.approx(np.mean(used)) and r["NEE_F_SD"] == pytest.approx(np.std(used, ddof=1))
    assert (r["NEE_F_N"], r["NEE_F_QC"], r["NEE_F_METH"], r["NEE_F_WIN"]) == (4, 1, 1, 14)
    measured = out.drop(index=df.index[g])
    assert (measured["NEE_F"] == df["NEE"].drop(index=df.index[g])).all() and (measured["NEE_F_QC"] == 0).all()
    assert measured["NEE_F_SD"].isna().all()            # fill_all off: measured records not looked up


def test_window_widening_and_quality_classes():
    df = _frame(days=40)
    g = 960
    df.loc[df.index[g], ["NEE", "TA"]] = [np.nan, 10.0]
    for j in (g - 10 * 48, g + 10 * 48):                  # similar only 10 days away: LUT +-14 d
        df.iloc[j, df.columns.get_loc("TA")] = 10.0
    r = mds_gapfill(df, options=MDSOptions.reddyproc(fill_all=False)).iloc[g]
    assert (r["NEE_F"], r["NEE_F_N"], r["NEE_F_METH"], r["NEE_F_WIN"], r["NEE_F_QC"]) == (g, 2, 1, 28, 2)
    # 30 days away: LUT Rg-only +-7 d comes first (every night record has the same Rg)
    df2 = _frame(days=80)
    g = 1920
    df2.loc[df2.index[g], ["NEE", "TA"]] = [np.nan, 10.0]
    r = mds_gapfill(df2, options=MDSOptions.reddyproc(fill_all=False)).iloc[g]
    assert (r["NEE_F_METH"], r["NEE_F_WIN"], r["NEE_F_QC"], r["NEE_F_N"]) == (2, 14, 1, 14 * 48)
    assert r["NEE_F"] == pytest.approx(g)                 # symmetric window around g
    # Rg only, radiation tolerance max(20, min(50, Rg)): Rg at the gap 30 -> tolerance 30
    df3 = _frame()
    g = 480
    df3["SW_IN"] = 500.0
    df3.iloc[g, :2] = [np.nan, 30.0]
    df3.loc[df3.index[[g - 5, g + 5, g + 6]], "SW_IN"] = [59.0, 0.5, 61.0]
    df3.loc[df3.index[g], "VPD"] = np.nan                 # no LUT with three drivers for this gap
    r = mds_gapfill(df3, options=MDSOptions.reddyproc(fill_all=False)).iloc[g]
    assert (r["NEE_F"], r["NEE_F_N"], r["NEE_F_METH"], r["NEE_F_QC"]) == (g, 2, 2, 1)


def test_mdc_steps():
    df = _frame().drop(columns=["SW_IN"])                 # no Rg: MDC only
    g = 480
    df.iloc[g, 0] = np.nan
    r = mds_gapfill(df, options=MDSOptions.reddyproc(fill_all=False)).iloc[g]
    assert (r["NEE_F"], r["NEE_F_N"], r["NEE_F_METH"], r["NEE_F_WIN"], r["NEE_F_QC"]) == (g, 4, 3, 1, 1)
    assert r["NEE_F_SD"] == pytest.approx(np.std([g - 2, g - 1, g + 1, g + 2], ddof=1))
    df.iloc[g - 2:g + 3, 0] = np.nan                      # the same day empty -> +-1 day, +-2 records
    r = mds_gapfill(df, options=MDSOptions.reddyproc(fill_all=False)).iloc[g]
    assert (r["NEE_F"], r["NEE_F_N"], r["NEE_F_WIN"], r["NEE_F_QC"]) == (g, 10, 3, 2)


def test_long_gaps_not_filled_and_fill_all():
    df = _frame(days=140, rpd=24)
    df.iloc[10 * 24: 10 * 24 + 60 * 24, 0] = np.nan      # exactly 60 days: filled
    df.iloc[71 * 24: 71 * 24 + 60 * 24 + 1, 0] = np.nan  # 60 days + 1 record: not filled
    out = mds_gapfill(df)
    assert out["NEE_F"].iloc[240:240 + 1440].notna().all()
    assert out["NEE_F"].iloc[71 * 24: 71 * 24 + 1441].isna().all()
    assert out["NEE_F_QC"].iloc[71 * 24: 71 * 24 + 1441].isna().all()
    meas = df["NEE"].notna()
    assert (out["NEE_F"][meas] == df["NEE"][meas]).all() and out["NEE_F_SD"][meas].notna().all()
    assert gap_lengths(np.array([0, 1, 1, 0, 1], bool)).tolist() == [0, 2, 2, 0, 1]


def test_steps_and_options():
    assert STEPS_FULL[:6] == (("lut3", 7), ("lut3", 14), ("lut1", 7), ("mdc", 0), ("mdc", 1), ("mdc", 2))
    assert len(STEPS_FULL) == 6 + 8 + 9 + 30 and STEPS_FULL[-1] == ("mdc", 210)
    assert MDSOptions.reddyproc() == MDSOptions()
    with pytest.raises(InputError, match="Vekuri23"):
        MDSOptions(method="median")
    df = _frame()
    with pytest.raises(InputError, match="regular"):
        mds_gapfill(df.drop(index=df.index[5]))


def test_helpers():
    x = np.array([1, 2, 2, np.nan, 2, 2, 3, 4])
    assert np.isnan(filter_long_runs(x, 4)[[1, 2, 4, 5]]).all() and filter_long_runs(x, 5)[1] == 2
    f = low_turbulence_flag([0.1, 0.3, np.nan, 0.1, 0.1], [0, 0, 0, 500, np.nan], 0.2)
    assert f.tolist() == [1, 0, 4, 0, 1]
    assert low_turbulence_flag([0.1], [500], 0.2, filter_daytime=True).tolist() == [1]


def test_fill_drivers_flags():
    df, _ = make_site_year(seed=3, outages=0)
    df = df.copy()
    rng = np.random.default_rng(0)
    drop = rng.random(len(df)) < 0.1
    truth = df.loc[drop, "TA"].copy()
    df.loc[drop, ["TA", "VPD", "SW_IN"]] = np.nan
    out = fill_drivers(df)
    for c in ("SW_IN", "TA", "VPD"):
        assert out[f"{c}_F"].notna().all() and (out[f"{c}_F_QC"][~drop] == 0).all()
        assert (out[f"{c}_F_QC"][drop] > 0).all()
    assert set(out["SW_IN_F_METH"].dropna()) == {3} and out["TA_F_METH"][drop].max() == 3
    assert np.sqrt(np.mean((out.loc[drop, "TA_F"] - truth) ** 2)) < 1.5


def test_closed_loop_synthetic():
    df, truth = make_site_year(seed=7)
    out = mds_gapfill(df, qc="NEE_QC")
    gap = df["NEE_QC"].to_numpy() != 0
    err = out["NEE_F"].to_numpy()[gap] - truth["nee"].to_numpy()[gap]
    assert np.isfinite(err).all()
    assert np.sqrt(np.mean(err ** 2)) < 1.6 and abs(err.mean()) < 0.3
    qc = out["NEE_F_QC"].to_numpy()
    assert (qc[~gap] == 0).all() and set(np.unique(qc[gap])) <= {1, 2, 3}
    sd = out["NEE_F_SD"].to_numpy()
    assert np.isfinite(sd).all() and 0.3 < np.median(sd) < 5


def test_oneflux_preset_windows_and_steps():
    from ecoresp_core.gapfilling.mds import steps

    opt = MDSOptions.oneflux()
    assert (opt.lut_trim, opt.mdc_hours, opt.schedule, opt.max_gap_days) == (1, 1.0, "oneflux", None)
    s = steps(opt, 365 * 48, 48)
    assert s[:6] == STEPS_FULL[:6] and ("lut3", 77) in s and ("lut1", 77) in s and s[-1] == ("mdc", 366)
    df = _frame()
    g = 480
    df.loc[df.index[g], ["NEE", "TA"]] = [np.nan, 10.0]
    for j in (g - 336, g - 335, g + 335, g + 336):       # +-7 days exactly: only REddyProc's window has them
        df.iloc[j, df.columns.get_loc("TA")] = 10.0
    r = mds_gapfill(df, options=MDSOptions.reddyproc(fill_all=False)).iloc[g]
    assert (r["NEE_F_N"], r["NEE_F_WIN"]) == (4, 14)
    r = mds_gapfill(df, options=MDSOptions.oneflux(fill_all=False)).iloc[g]
    assert (r["NEE_F_N"], r["NEE_F"], r["NEE_F_WIN"]) == (2, g, 14)
    hourly = _frame(rpd=24).drop(columns=["SW_IN"])       # ONEFlux MDC: +-1 h = +-1 record in hourly data
    hourly.iloc[240, 0] = np.nan
    assert mds_gapfill(hourly, options=MDSOptions.oneflux(fill_all=False))["NEE_F_N"].iat[240] == 2
    assert mds_gapfill(hourly, options=MDSOptions.reddyproc(fill_all=False))["NEE_F_N"].iat[240] == 4


def test_gapfill_table_ustar_and_timestamps():
    from ecoresp_core.gapfilling.site import fluxnet_timestamps, gapfill_table

    df, _ = make_site_year(seed=5, outages=0)
    df = df.copy()
    df["USTAR"] = np.random.default_rng(1).uniform(0.0, 0.6, len(df))
    table, info = gapfill_table(df, ["NEE", "TA"], ustar_threshold=0.2)
    night = ~(df["SW_IN"] >= 10)
    low = night & (df["USTAR"] < 0.2)
    assert (table["USTAR_FLAG"][low] == 1).all() and (table["USTAR_FLAG"][~low] == 0).all()
    assert (table["NEE_F_QC"][low] > 0).all() and info["ustar_removed"] == int((low & (df["NEE_QC"] == 0)).sum())
    assert info["variables"]["TA"]["options"]["fill_all"] is False and table["TA_F_SD"].isna().all()
    start, end = fluxnet_timestamps(df.index[:2])
    assert list(start) == [201501010000, 201501010030] and list(end) == [201501010030, 201501010100]
    with pytest.raises(InputError, match="choose from"):
        gapfill_table(df, ["CO2"])
    with pytest.raises(InputError, match="USTAR"):
        gapfill_table(df.drop(columns=["USTAR"]), ["NEE"], ustar_threshold=0.2)
