"""DT (Lasslop 2010, science.md section 5) closed loop on synthetic plain-Lasslop data."""

import numpy as np
import pytest

from ecoresp_core.errors import InputError
from ecoresp_core.io.towers import as_tower
from ecoresp_core.partitioning import daytime as dt
from ecoresp_core.partitioning.daytime import partition_daytime
from ecoresp_core.partitioning.synthetic import make_site_year

GC = 1800 * 12.011e-6          # umol m-2 s-1 per half hour -> g C m-2


def r2(est, truth):
    e, t = np.asarray(est), np.asarray(truth)
    return 1.0 - np.sum((e - t) ** 2) / np.sum((t - t.mean()) ** 2)


@pytest.fixture(scope="module")
def lasslop_year():
    # plain Lasslop model: one E0 by day and night, no RH effect, no inhibition;
    # realistic noise (sd = 0.5 + 0.1 |NEE|), ~43 % gaps (60 % at night, 25 % by day, outages)
    return make_site_year(3, e0_night=180.0, e0_day=180.0, gamma=0.0, inhibition=0.0)


@pytest.fixture(scope="module")
def dt_result(lasslop_year):
    df, _ = lasslop_year
    return partition_daytime(df)


def test_closed_loop_recovers_reco_and_gpp(lasslop_year, dt_result):
    df, truth = lasslop_year
    r = dt_result
    assert r2(r.reco, truth["reco"]) > 0.95
    assert r2(r.gpp, truth["gpp"]) > 0.95
    assert r.reco.sum() * GC == pytest.approx(truth["reco"].sum() * GC, rel=0.05)
    assert r.gpp.sum() * GC == pytest.approx(truth["gpp"].sum() * GC, rel=0.05)
    # the modelled LRC GPP also tracks the truth
    assert r2(r.gpp_model, truth["gpp"]) > 0.95
    # default GPP_DT = RECO_DT - NEE exactly (project convention); the light-response-curve GPP
    # (FLUXNET2015 GPP_DT_VUT_REF / REddyProc GPP_DT definition) is gpp_model: 0 at night, >= 0
    np.testing.assert_allclose(r.gpp.values, r.reco.values - df["NEE"].values)
    np.testing.assert_allclose(r.gpp_residual.values, r.gpp.values)
    night = (df["SW_IN"] <= 4.0) & (df["SW_IN_POT"] <= 0.0)
    assert (r.gpp_model[night] == 0.0).all() and (r.gpp_model >= 0.0).all()
    # night E0 windows: inside the bounds, centred near the truth
    assert r.e0_series.between(50, 400).all()
    assert abs(r.e0_series.median() - 180.0) < 30.0


def test_windows_table_and_flags(dt_result, lasslop_year):
    df, _ = lasslop_year
    w = dt_result.windows
    assert len(w) == 182                                     # 4-day windows stepping 2 days
    for c in ("centre", "n", "alpha", "beta", "k", "rref_day", "rref_night", "e0", "flags", "cost", "code"):
        assert c in w.columns
    ok = w[w.code == 0]
    assert len(ok) > 0.9 * len(w)
    assert (ok.alpha <= 0.22).all() and (ok.alpha >= 0).all() and (ok.beta < 250).all()
    assert (ok.k >= 0).all() and (ok.rref_day >= 0).all()
    assert set(dt_result.qc.unique()) <= {0, 1, 2}
    # refitted windows are flagged, and qc = 1 only near refitted windows
    assert (w["refit"] == w["flags"].str.contains("k0_refit|alpha_fixed")).all()
    assert dt_result.qc.index.equals(df.index)


def test_long_gap_gives_qc2():
    df, truth = make_site_year(4, e0_night=180.0, e0_day=180.0, gamma=0.0, inhibition=0.0,
                               long_gap=(150, 50))
    r = partition_daytime(df)
    gap = (df.index.dayofyear >= 150) & (df.index.dayofyear < 200)
    mid = (df.index.dayofyear >= 166) & (df.index.dayofyear < 184)   # > 14 days from any window
    assert (r.qc[mid] == 2).all()
    assert (r.qc[~gap] != 2).all()
    assert any(f.startswith("records_far_from_window") for f in r.flags)
    assert np.isfinite(r.reco).all()


def test_gp_smoothing_option(lasslop_year):
    df, truth = lasslop_year
    r = partition_daytime(df, e0_smoothing="gp")
    assert r.e0_series.std() < 40.0                          # smoothed
    assert r2(r.reco, truth["reco"]) > 0.95


def test_hourly_data_and_helpers():
    df, truth = make_site_year(5, freq_min=60, e0_night=180.0, e0_day=180.0, gamma=0.0, inhibition=0.0)
    assert as_tower(df).site.records_per_day == 24
    r = partition_daytime(df)
    # half as many records per window: winter windows are poorly constrained (as in REddyProc)
    assert r2(r.reco, truth["reco"]) > 0.8 and r2(r.gpp, truth["gpp"]) > 0.9
    # interpolation weights: a record half-way between two windows weighs both by 0.5
    prev, nxt, w, dist, nearest = dt.interpolation_weights(np.array([10, 20]), 30)
    assert w[15] == pytest.approx(0.5) and prev[15] == 0 and nxt[15] == 1
    assert prev[0] == nxt[0] == 0 and prev[29] == nxt[29] == 1 and dist[29] == 9


def test_input_errors():
    df, _ = make_site_year(6)
    with pytest.raises(InputError, match="VPD"):
        partition_daytime(df.drop(columns="VPD"))
    with pytest.raises(InputError, match="regular"):
        partition_daytime(df.drop(df.index[100]))
    with pytest.raises(InputError, match="e0_smoothing"):
        partition_daytime(df, e0_smoothing="spline")
    bad = df.copy()
    bad["NEE_QC"] = 1.0                                      # nothing measured
    with pytest.raises(InputError):
        partition_daytime(bad)


def test_sd_nee_lookup_matches_brute_force():
    # the MDS look-up of sdNEE (ONEFlux uncert_via_gapFill / REddyProc NEE_fsd), vectorised,
    # against a direct loop for the first pass (+-7 days, Rg/TA/VPD tolerances, >= 10 records)
    df, _ = make_site_year(7, e0_night=180.0, e0_day=180.0, gamma=0.0, inhibition=0.0)
    prep = dt.prepare(df)
    sd = dt.sd_nee_lookup(prep)
    nee, ta, rg, vpd = prep.nee, prep.ta, prep.rg, prep.vpd
    meas = np.isfinite(nee)
    assert np.isfinite(sd[meas]).all() and np.isnan(sd[~meas]).all()
    rng = np.random.default_rng(0)
    checked = 0
    for i in rng.choice(np.nonzero(meas)[0], 60, replace=False):
        j = np.arange(max(i - 335, 0), min(i + 336, prep.n))
        tol = max(min(50.0, rg[i]), 20.0)
        m = (meas[j] & (np.abs(ta[j] - ta[i]) < 2.5) & (np.abs(rg[j] - rg[i]) < tol)
             & (np.abs(vpd[j] - vpd[i]) < 5.0))
        if m.sum() >= 10:
            assert sd[i] == pytest.approx(np.std(nee[j][m], ddof=1), rel=1e-9)
            checked += 1
    assert checked > 40
    # only the requested records are looked up
    t = np.zeros(prep.n, bool)
    t[:500] = True
    sd2 = dt.sd_nee_lookup(prep, t)
    np.testing.assert_allclose(sd2[:500][meas[:500]], sd[:500][meas[:500]])
    assert np.isnan(sd2[500:]).all()


def test_day_night_rules_and_options(lasslop_year):
    df, _ = lasslop_year
    prep = dt.prepare(df)
    d1, n1 = dt.day_night(prep)                      # REddyProc: Rg and potential radiation
    d2, n2 = dt.day_night(prep, use_pot=False)       # ONEFlux: Rg alone
    assert not (d1 & n1).any() and not (d2 & n2).any() and (d2 | n2).all()
    assert (d1 <= d2).all() and (n1 <= n2).all()
    r = partition_daytime(df, gpp_output="model", day_night_rule="reddyproc", sd_nee="replace",
                          resp_only_fallback=False, window_location="mean")
    assert "sdNEE_from_lookup" not in r.flags
    assert (r.gpp >= 0).all()
    for kw in ({"sd_nee": "x"}, {"gpp_output": "x"}, {"day_night_rule": "x"}, {"window_location": "x"}):
        with pytest.raises(InputError):
            partition_daytime(df, **kw)
