"""ML estimates of daytime ER (science.md section 8): a closed loop on a synthetic site-year with
known ER, the blocked cross-validation, the driver rules, bit-reproducibility, and a real check
on CZ-Lnz (14 days, openeddy) against its REddyProc night-time Reco."""

import os
import time

import numpy as np
import pandas as pd
import pytest

from ecoresp_core.errors import InputError
from ecoresp_core.partitioning.evaluation import metrics
from ecoresp_core.partitioning.mldaytime import MLDaytimeResult, fit_ml_daytime_er
from ecoresp_core.partitioning.respiration import lt_factor

HERE = os.path.dirname(os.path.abspath(__file__))
LNZ_NAME = "CZ-Lnz_2023-07-23_2023-08-05.csv"  # copied into tests/data/flux
LNZ_CANDIDATES = [os.path.join(HERE, "..", "..", "data", "flux", LNZ_NAME)]


def _potential_radiation(index, lat_deg, lon_deg=None, utc_offset_h=None, step_min=30):
    """Extraterrestrial radiation (W m-2) at interval middles; solar time from longitude if given."""
    mid = index + pd.Timedelta(minutes=step_min / 2)
    doy = mid.dayofyear.to_numpy()
    h = (mid.hour + mid.minute / 60).to_numpy().astype(float)
    if lon_deg is not None:
        h = h + (lon_deg - 15.0 * utc_offset_h) / 15.0
    decl = np.deg2rad(23.45) * np.sin(2 * np.pi * (284 + doy) / 365)
    lat = np.deg2rad(lat_deg)
    cosz = np.sin(lat) * np.sin(decl) + np.cos(lat) * np.cos(decl) * np.cos(np.deg2rad(15 * (h - 12)))
    return np.clip(1367.0 * cosz, 0.0, None)


def ml_site_year(seed=0, freq=30, rref=3.0, e0=200.0):
    """Synthetic site-year with ER = Rref f_T(TA) g(SWC) known for every record, g logistic in SWC;
    NEE = ER - GPP + noise; NEE_QC = 1 for half of the night and a fifth of the day records.
    Returns (df, true ER Series)."""
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2019-01-01", "2020-01-01", freq=f"{freq}min", inclusive="left", name="TIMESTAMP_START")
    n, rpd = len(idx), 1440 // freq
    d = np.arange(n) // rpd
    nd = d.max() + 1
    mid = idx + pd.Timedelta(minutes=freq / 2)
    h, doy = (mid.hour + mid.minute / 60).to_numpy(), mid.dayofyear.to_numpy()
    pot = _potential_radiation(idx, 48.0, step_min=freq)
    cloud = rng.beta(2, 2, nd)[d]
    sw = 0.75 * pot * (1 - 0.7 * cloud)

    def ar1(rho, sd, m):
        x, e = np.zeros(m), rng.normal(0, sd * np.sqrt(1 - rho ** 2), m)
        for i in range(1, m):
            x[i] = rho * x[i - 1] + e[i]
        return x

    t_syn = np.interp(np.arange(n) / rpd, np.arange(nd) + 0.5, ar1(0.8, 3.0, nd))
    ta = 10 - 10 * np.cos(2 * np.pi * (doy - 20) / 365) + t_syn + 4 * np.cos(2 * np.pi * (h - 15) / 24) \
        + rng.normal(0, 0.3, n)
    swc_d, s = np.empty(nd), 30.0
    for i in range(nd):                                   # rain pulses and dry-downs
        s = min(max(0.97 * s + (rng.uniform(5, 15) if rng.random() < 0.12 else 0.0), 8.0), 42.0)
        swc_d[i] = s
    swc = np.interp(np.arange(n) / rpd, np.arange(nd) + 0.5, swc_d)
    es = 6.1078 * np.exp(17.08085 * ta / (234.175 + ta))
    td = ta - np.clip(3 + 4 * (1 - cloud) + rng.normal(0, 1, n), 0.5, None)
    ea = np.minimum(6.1078 * np.exp(17.08085 * td / (234.175 + td)), es)
    ws = np.clip(2 + ar1(0.95, 1.0, n), 0.1, None)
    er = rref * lt_factor(ta, e0) / (1 + np.exp(-(swc - 18) / 4))
    gpp = np.where(pot > 0, 0.0844 * sw * 20 / (0.0844 * sw + 20), 0.0)
    nee = er - gpp + rng.normal(0, 1, n) * (0.3 + 0.1 * er)
    night = (sw <= 10) & (pot <= 0)
    qc = np.where(night, rng.random(n) < 0.5, rng.random(n) < 0.2).astype(float)
    df = pd.DataFrame({"NEE": nee, "NEE_QC": qc, "TA": ta, "SW_IN": sw, "SW_IN_POT": pot, "VPD": es - ea,
                       "RH": 100 * ea / es, "WS": ws, "SWC": swc}, index=idx)
    return df, pd.Series(er, index=idx, name="ER_true")


@pytest.fixture(scope="module")
def site_year():
    return ml_site_year(seed=0)


@pytest.mark.slow  # a forest and a neural network with 12 folds on a synthetic site-year
@pytest.mark.parametrize("model,kw", [("rf", {"n_estimators": 50}), ("nn", {})])
def test_closed_loop_daytime_er(site_year, model, kw):
    df, er = site_year
    t = time.time()
    res = fit_ml_daytime_er(df, model=model, seed=0, reference=er, **kw)
    dt = time.time() - t
    assert isinstance(res, MLDaytimeResult)
    assert res.drivers_used == ["TA", "VPD", "RH", "WS", "SWC"] and res.feature_names == res.drivers_used
    assert "SW_IN" in res.dropped_drivers and "no information" in res.dropped_drivers["SW_IN"]
    # leave-one-month-out: 12 folds, each holding one whole calendar month
    tgt = res.cv_metrics[(res.cv_metrics.scope == "target") & (res.cv_metrics.fold != "all")]
    assert len(tgt) == 12 and sorted(tgt.held_out) == [f"2019{m:02d}" for m in range(1, 13)]
    assert (tgt.n_train + tgt.n == res.n_train).all()
    # blocked-CV daytime ER against the true ER
    pooled = res.cv_metrics[(res.cv_metrics.scope == "reference_day") & (res.cv_metrics.fold == "all")].iloc[0]
    m_cv = metrics(er[res.reco_day_cv.index], res.reco_day_cv)
    m_fit = metrics(er[res.reco_day.index], res.reco_day)
    assert pooled.R2 == pytest.approx(m_cv["R2"]) and pooled.n == res.n_day
    per_fold = res.cv_metrics[(res.cv_metrics.scope == "reference_day") & (res.cv_metrics.fold != "all")]
    print(f"{model}: blocked-CV daytime ER vs truth R2 {m_cv['R2']:.3f} RMSE {m_cv['RMSE']:.3f} "
          f"ME {m_cv['ME']:.3f} (folds R2 {per_fold.R2.min():.3f}-{per_fold.R2.max():.3f}); final model R2 "
          f"{m_fit['R2']:.3f}; night-NEE CV R2 {res.cv_metrics.iloc[-2].R2:.3f}; {dt:.1f} s")
    assert m_cv["R2"] > 0.8 and m_fit["R2"] > 0.8
    assert abs(m_cv["ME"]) < 0.15 and (per_fold.R2 > 0.6).all()
    # extrapolation report: the warm daytime TA lies partly above the night training range
    ext = res.extrapolation.set_index("driver")
    assert ext.loc["TA", "share_above"] > 0 and ext.loc["TA", "train_max"] < ext.loc["TA", "day_max"]
    assert 0 < ext.loc["any", "share_outside"] < 0.1
    assert res.reco.index.equals(df.index) and res.reco_day.index.isin(df.index).all()


def test_seed_reproducibility():
    df, er = ml_site_year(seed=3, freq=60)
    df = df.loc["2019-04-01":"2019-06-30"]
    for model, kw in (("rf", {"n_estimators": 20}), ("nn", {"nn_params": {"max_iter": 100}})):
        a = fit_ml_daytime_er(df, model=model, seed=7, **kw)
        b = fit_ml_daytime_er(df, model=model, seed=7, **kw)
        np.testing.assert_array_equal(a.reco_day.to_numpy(), b.reco_day.to_numpy())
        np.testing.assert_array_equal(a.reco_day_cv.to_numpy(), b.reco_day_cv.to_numpy())
        pd.testing.assert_frame_equal(a.cv_metrics, b.cv_metrics)
        c = fit_ml_daytime_er(df, model=model, seed=8, **kw)
        assert not np.array_equal(a.reco_day.to_numpy(), c.reco_day.to_numpy())
        assert len(a.cv_metrics) == 4                   # 3 months + pooled


def test_driver_rules_and_targets():
    df, er = ml_site_year(seed=1, freq=60)
    df = df.loc["2019-05-01":"2019-07-31"].copy()
    full_swc = df["SWC"].copy()
    df["SWC"] = np.where(np.arange(len(df)) % 3 == 0, df["SWC"], np.nan)   # 33 % coverage
    df["WS"] = 2.0                                                            # constant
    res = fit_ml_daytime_er(df, drivers=["TA", "VPD", "SWC", "WS", "SW_IN", "USTAR"], n_estimators=10, cv="none")
    assert res.drivers_used == ["TA", "VPD"]
    assert set(res.dropped_drivers) == {"SWC", "WS", "SW_IN", "USTAR"}
    assert "33%" in res.dropped_drivers["SWC"] and "constant" in res.dropped_drivers["WS"]
    assert "not in the table" in res.dropped_drivers["USTAR"] and res.cv_metrics.empty
    # allowed explicitly, night Rg is still useless: constant (0) over the night training records
    r = fit_ml_daytime_er(df, drivers=["TA", "SW_IN"], allow_rg_at_night=True, n_estimators=10, cv="none")
    assert r.drivers_used == ["TA"] and "constant" in r.dropped_drivers["SW_IN"]
    # SW_IN is a default driver for a column target (e.g. DT or isotope ER)
    df["ER_ISO"] = np.where(df.index.hour % 2 == 0, er.loc[df.index], np.nan)
    res = fit_ml_daytime_er(df, target="ER_ISO", n_estimators=10)
    assert res.drivers_used == ["TA", "VPD", "RH", "SW_IN"] and res.n_train == int(df.ER_ISO.notna().sum())
    df["SWC"] = full_swc
    res = fit_ml_daytime_er(df, target="ER_ISO", n_estimators=10)
    assert res.drivers_used == ["TA", "VPD", "RH", "SWC", "SW_IN"]
    assert metrics(er[res.reco_day.index], res.reco_day)["R2"] > 0.8
    # a driver missing in some records: those records are neither trained on nor predicted
    df2 = df.drop(columns="ER_ISO")
    df2.iloc[:100, df2.columns.get_loc("VPD")] = np.nan
    res = fit_ml_daytime_er(df2, drivers=["TA", "VPD"], n_estimators=10, cv="none")
    assert res.reco.iloc[:100].isna().all() and any("missing driver" in f for f in res.flags)
    # without SW_IN_POT, day and night are told by SW_IN alone (flagged)
    res = fit_ml_daytime_er(df2.drop(columns="SW_IN_POT"), drivers=["TA"], n_estimators=10, cv="none")
    assert any("no SW_IN_POT" in f for f in res.flags) and res.n_day == int((df2.SW_IN > 4).sum())


def test_cv_by_site_and_errors():
    a, _ = ml_site_year(seed=1, freq=60)
    b, _ = ml_site_year(seed=2, freq=60)
    c, _ = ml_site_year(seed=4, freq=60)
    df = pd.concat([x.loc["2019-06-01":"2019-07-15"].assign(site=s) for x, s in ((a, "A"), (b, "B"), (c, "C"))])
    res = fit_ml_daytime_er(df, cv="site", n_estimators=10)
    tgt = res.cv_metrics[(res.cv_metrics.scope == "target") & (res.cv_metrics.fold != "all")]
    assert sorted(tgt.held_out) == ["A", "B", "C"]
    with pytest.raises(InputError, match="'site'"):
        fit_ml_daytime_er(a.iloc[:2000], cv="site")
    with pytest.raises(InputError, match="model"):
        fit_ml_daytime_er(a, model="xgb")
    with pytest.raises(InputError, match="cv"):
        fit_ml_daytime_er(a, cv="random")
    with pytest.raises(InputError, match="target column 'RECO'"):
        fit_ml_daytime_er(a, target="RECO")
    with pytest.raises(InputError, match="no usable driver"):
        fit_ml_daytime_er(a, drivers=["SW_IN"])
    with pytest.raises(InputError, match="training records"):
        fit_ml_daytime_er(a.assign(NEE_QC=1.0))


# --------------------------------------------------------------------------------- real data
def _read_lnz():
    path = next((p for p in LNZ_CANDIDATES if os.path.exists(p)), None)
    if path is None:
        pytest.fail(f"{LNZ_NAME} missing from tests/data/flux")
    raw = pd.read_csv(path, skiprows=[1], na_values=[-9999, "NA"])       # row 2 = units
    end = pd.DatetimeIndex(pd.to_datetime(raw["timestamp"]))
    idx = pd.DatetimeIndex(end - pd.Timedelta(minutes=30), name="TIMESTAMP_START")   # END -> START
    df = pd.DataFrame({"NEE": raw["NEE"].to_numpy(), "NEE_QC": raw["qc_NEE_forGF_UF"].to_numpy(),
                       "TA": raw["Tair"].to_numpy(), "SW_IN": raw["GR"].to_numpy(),
                       "SW_IN_POT": _potential_radiation(idx, 48.68, 16.95, 1.0),
                       "VPD": raw["VPD"].to_numpy(), "RH": raw["RH"].to_numpy(), "WS": raw["wind_speed"].to_numpy(),
                       "SWC": raw["SWC"].to_numpy(), "PPFD_IN": raw["PAR"].to_numpy(),
                       "USTAR": raw["ustar"].to_numpy()}, index=idx).astype("float64")
    return df, pd.Series(raw["Reco_uStar"].to_numpy(), index=idx), pd.Series(raw["Reco_DT_uStar"].to_numpy(), index=idx)


def test_cz_lnz_rf_daytime_er_vs_reddyproc():
    df, reco_nt, reco_dt = _read_lnz()
    t = time.time()
    res = fit_ml_daytime_er(df, model="rf", seed=0, reference=reco_nt)
    dt = time.time() - t
    rd = res.reco_day
    assert res.n_train > 100 and res.n_day > 300 and res.drivers_used == ["TA", "VPD", "RH", "WS", "SWC"]
    hh = metrics(reco_nt[rd.index], rd)
    day = pd.DataFrame({"ml": rd, "nt": reco_nt[rd.index], "dt": reco_dt[rd.index]}).groupby(rd.index.date).mean()
    dm = metrics(day.nt, day.ml)
    bias = day.ml.mean() / day.nt.mean() - 1.0
    bias_dt = day.ml.mean() / day.dt.mean() - 1.0
    ratio = day.ml / day.nt
    ext = res.extrapolation.set_index("driver").loc["any", "share_outside"]
    print(f"CZ-Lnz RF ({res.n_train} night records, {res.n_day} day records, {dt:.2f} s): daytime mean "
          f"{day.ml.mean():.2f} vs Reco_uStar {day.nt.mean():.2f} (bias {bias:+.1%}; vs Reco_DT {bias_dt:+.1%}); "
          f"daily means R2 {dm['R2']:.2f} RMSE {dm['RMSE']:.2f}; half-hourly R2 {hh['R2']:.2f} RMSE "
          f"{hh['RMSE']:.2f}; daily ratio {ratio.min():.2f}-{ratio.max():.2f}; {ext:.0%} of day records "
          "outside the night driver range")
    assert abs(bias) < 0.15                       # measured +1.0 %
    assert dm["RMSE"] < 1.0                       # measured 0.82 (daily means ~5.4)
    assert ratio.between(0.6, 1.4).all()          # measured 0.74-1.27
    assert hh["RMSE"] < 2.0                       # measured 1.48
