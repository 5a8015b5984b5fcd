"""DT-RH (science.md section 7.2) on the 8 real FLUXNET2015 site-years in tests/data/flux (fitted on
NEE_VUT_REF_QC == 0), against the project's DT (``gpp_output="model"``), NT, and the FLUXNET2015
references GPP_DT_VUT_REF / GPP_NT_VUT_REF / RECO_NT_VUT_REF.

There is no truth for E0_d and gamma on real data, so the tests check (a) that the day-time fits of
DT-RH, which share DT's ONEFlux-consistent rules (sdNEE look-up, Rg-only day/night masks, GPP = 0
refit of windows without a light response, parameters at the window centre), give a light-response
GPP close to GPP_DT_VUT_REF, (b) that E0_n, E0_d and gamma of the joint model (stage B,
``stage_b="joint"``, the default since issue 13) are finite and inside their bounds, and (c) that
RECO and the day-time ER stay within measured distances of DT and NT.

Measured with the joint stage B (in brackets the previous stage B in 15-day windows, best 3 by SE):

    site-year   GPP_DTRH(model) vs GPP_DT_REF  E0_n   E0_d +- SE   gamma +- SE        RECO vs DT  dayER vs NT
                R2              annual %       K      K            %-1                R2          %
    DE-Hai 2007 0.990 [0.986]   +2.1 [+3.0]    41     44 +- 14     -0.0045 +- 0.0009  0.75 [0.76] +21 [+25]
    DE-Hai 2008 0.990 [0.988]   -0.4 [+1.9]    52     34 +- 17     -0.0023 +- 0.0009  0.70 [0.67] +13 [+17]
    DE-Tha 2011 0.985 [0.990]   -1.9 [-2.3]    147    38 +- 12     +0.0004 +- 0.0005  0.79 [0.79]  -3 [-4]
    DE-Tha 2012 0.990 [0.989]   +0.1 [+1.4]    111    103 +- 14    -0.0000 +- 0.0006  0.88 [0.88]  -4 [-1]
    FR-Pue 2009 0.961 [0.947]   +3.8 [+8.4]    138    450 (bound)  -0.0018 +- 0.0006  0.63 [0.57] +10 [+20]
    FR-Pue 2010 0.994 [0.983]   -2.1 [+2.4]    109    44 +- 14     +0.0029 +- 0.0004  0.81 [0.79]  -0 [+7]
    US-Var 2013 0.967 [0.968]   -3.3 [-8.9]    178    152 +- 26    +0.0080 +- 0.0013  0.67 [0.64]  +3 [-7]
    US-Var 2014 0.983 [0.979]   +1.6 [-1.4]    181    146 +- 27    +0.0070 +- 0.0015  0.64 [0.63] -10 [-21]
    median      0.988 [0.985]   |2.0| [|2.3|]                                         0.73 [0.71]

(DT itself: median R2 0.991, |annual| 0.9 %; REddyProc 1.3.3 GL: 0.984, 2.1 %.)  "dayER vs NT" is
the day-time (Rg > 4) sum of DT-RH RECO relative to the project's NT (nighttime.partition_nighttime).
The SEs are the curvature SEs of the joint fit (records taken as independent); honest intervals come
from the bootstrap of ``evidence.site_year_evidence``.  E0_d is weakly determined by day-time NEE
at several site-years (at its upper bound at FR-Pue 2009): which of the four models the data support
is the job of ``evidence``, not of these tests.  The day-time ER of DT-RH is not systematically
below NT on these site-years (median +3 %), unlike the 16-37 % reported on the slides for the
original method.
"""

import os

import numpy as np
import pandas as pd
import pytest
from conftest import FLUX, FLUXNET_FILES

from ecoresp_core.io.towers import read_tower, split_years
from ecoresp_core.partitioning.daytime import partition_daytime
from ecoresp_core.partitioning.dtrh import partition_dtrh
from ecoresp_core.partitioning.evaluation import metrics
from ecoresp_core.partitioning.nighttime import partition_nighttime

FILES = FLUXNET_FILES
pytestmark = pytest.mark.slow  # every FLUXNET2015 site-year, three methods each

# (site, year): minimum R2 and maximum |annual difference| (%) of the DT-RH light-response GPP
# against GPP_DT_VUT_REF, just below / above what was measured (module docstring)
THRESHOLDS = {
    ("DE-Hai", 2007): (0.988, 2.6),
    ("DE-Hai", 2008): (0.988, 1.0),
    ("DE-Tha", 2011): (0.983, 2.4),
    ("DE-Tha", 2012): (0.988, 0.6),
    ("FR-Pue", 2009): (0.955, 4.3),
    ("FR-Pue", 2010): (0.992, 2.6),
    ("US-Var", 2013): (0.963, 3.8),
    ("US-Var", 2014): (0.980, 2.1),
}


def annual_pct(sim, ref):
    ok = np.isfinite(sim) & np.isfinite(ref)
    return 100.0 * (sim[ok].sum() / ref[ok].sum() - 1.0)


@pytest.fixture(scope="module")
def scores():
    rows = []
    for site, fname in FILES.items():
        df = read_tower(os.path.join(FLUX, fname))
        for year, site_year in split_years(df):
            sub = site_year.data
            if (site, year) not in THRESHOLDS:
                continue
            nt = partition_nighttime(sub)
            d = partition_daytime(sub, gpp_output="model")
            r = partition_dtrh(sub, nt_result=nt)
            ref_dt = sub["GPP_DT_REF"].to_numpy(dtype=float)
            gm = r.gpp_model.to_numpy(dtype=float)
            reco = r.reco.to_numpy(dtype=float)
            day = (sub["SW_IN"] > 4.0).to_numpy()
            rows.append({
                "site": site, "year": year, "result": r, "nee": sub["NEE"].to_numpy(dtype=float),
                "table": sub, "nt": nt,
                "R2": metrics(ref_dt, gm)["R2"], "annual_pct": annual_pct(gm, ref_dt),
                "R2_vs_dt_gpp": metrics(d.gpp.to_numpy(dtype=float), gm)["R2"],
                "R2_nt_ref": metrics(sub["GPP_NT_REF"].to_numpy(dtype=float), gm)["R2"],
                "reco_R2_vs_dt": metrics(d.reco.to_numpy(dtype=float), reco)["R2"],
                "reco_annual_vs_dt": annual_pct(reco, d.reco.to_numpy(dtype=float)),
                "day_er_vs_nt": annual_pct(reco[day], nt.reco.to_numpy(dtype=float)[day]),
                "day_er_vs_dt": annual_pct(reco[day], d.reco.to_numpy(dtype=float)[day]),
            })
    return pd.DataFrame(rows)


def test_all_site_years_run_without_fallback(scores):
    assert len(scores) == 8
    for r, nee in zip(scores["result"], scores["nee"]):
        assert not any("fallback" in f for f in r.flags), r.flags
        assert "sdNEE_from_lookup" in r.flags
        assert np.isfinite(r.reco).all() and np.isfinite(r.gpp).all() and np.isfinite(r.gpp_model).all()
        assert (r.gpp_model >= 0).all()
        np.testing.assert_allclose(r.gpp.values, r.reco.values - nee)          # default: residual GPP
        np.testing.assert_allclose(r.gpp_residual.values, r.gpp.values)
        assert "stage_b_joint" in r.flags and r.windows_b["selected"].all() and len(r.windows_b) >= 40


def test_e0_and_gamma_finite_and_inside_bounds(scores):
    for r in scores["result"]:
        o = r.options
        lo, hi = o["e0d_bounds"]
        glo, ghi = o["gamma_bounds"]
        assert np.isfinite([r.e0_day, r.e0_day_se, r.gamma, r.gamma_se, r.e0_night, r.e0_night_se]).all()
        assert lo <= r.e0_day <= hi and lo <= r.e0_night <= hi                      # 30-450 K
        assert 0.0 < r.e0_night_se < 0.5 * r.e0_night and r.e0_day_se > 0.0
        assert glo < r.gamma - r.gamma_se and r.gamma + r.gamma_se < ghi           # +-0.05 %-1
        assert 0.0 < r.gamma_se < 0.005
        # the joint blocks carry the shared E0_d and gamma
        assert (r.windows_b["e0_day"] == r.e0_day).all() and (r.windows_b["gamma"] == r.gamma).all()
    e0d = np.array([r.e0_day for r in scores["result"]])
    assert 30.0 < np.median(e0d) < 250.0                                            # 74 K measured


@pytest.mark.parametrize("key", sorted(THRESHOLDS))
def test_site_year_gpp_against_fluxnet_dt(scores, key):
    s = scores[(scores.site == key[0]) & (scores.year == key[1])].iloc[0]
    r2_min, annual_max = THRESHOLDS[key]
    assert s["R2"] >= r2_min, f"{key}: R2 {s['R2']:.4f}"
    assert abs(s["annual_pct"]) <= annual_max, f"{key}: annual {s['annual_pct']:+.2f} %"
    assert s["R2_vs_dt_gpp"] >= 0.95, f"{key}: R2 against DT {s['R2_vs_dt_gpp']:.4f}"


def test_medians(scores):
    # DT-RH light-response GPP against GPP_DT_VUT_REF: median R2 0.988 (REddyProc GL 0.984), |annual| 2.0 %
    assert scores["R2"].median() >= 0.985
    assert scores["annual_pct"].abs().median() <= 2.5
    assert scores["R2_vs_dt_gpp"].median() >= 0.99                                   # 0.992 measured
    assert scores["R2_nt_ref"].median() >= 0.89                                      # 0.905 measured
    # RECO: night ER is NT-like (Rref_n f_T(E0_n)), day ER has its own E0_d and gamma, so RECO
    # differs from DT's (R2 median 0.73), but the annual totals agree within 11 % (10.7 % at US-Var 2014)
    assert scores["reco_R2_vs_dt"].median() >= 0.70
    assert (scores["reco_R2_vs_dt"] >= 0.6).all()
    assert (scores["reco_annual_vs_dt"].abs() <= 11.0).all()


def test_daytime_er_relative_to_nt_and_dt(scores):
    # day-time ER of DT-RH within -25 % .. +30 % of NT at every site-year (measured -21 .. +25 %)
    assert (scores["day_er_vs_nt"] > -25.0).all() and (scores["day_er_vs_nt"] < 30.0).all()
    assert abs(scores["day_er_vs_nt"].median()) < 15.0
    assert (scores["day_er_vs_dt"].abs() < 20.0).all()


def test_stage_b_ignores_windows_without_respiration(scores):
    """A stage-B window whose Rref_d ends at 0 carries no information on E0_d or gamma; the
    pseudo-inverse gave it SE = 0, so it used to be ranked first (DT-asym at US-Var 2014, dry
    season: E0_d 143 K with SE 0)."""
    s = scores[(scores.site == "US-Var") & (scores.year == 2014)].iloc[0]
    r = partition_dtrh(s["table"], variant="DT-asym", nt_result=s["nt"], stage_b="windows")
    assert not any("fallback" in f for f in r.flags)
    sel = r.windows_b[r.windows_b["selected"]]
    assert len(sel) == 3 and (sel.rref_day > 0).all() and (sel.se_e0_day > 0).all()
    assert r.e0_day_se > 10.0 and 30.0 < r.e0_day - r.e0_day_se and r.e0_day + r.e0_day_se < 450.0
