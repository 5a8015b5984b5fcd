"""DT-RH as a tested hypothesis (evidence, docs/methods.md section 20): model selection on
synthetic truths, bootstrap reproducibility and intervals, the no-bootstrap path (likelihood-ratio
tests), and the perturbation test of issue 13 (rounding noise changes the estimates by less than
their bootstrap SE)."""

import glob
import os

import numpy as np
import pytest
from scipy import stats

from ecoresp_core.io.towers import TowerData, read_tower, split_years
from ecoresp_core.partitioning import evidence as ev
from ecoresp_core.partitioning import jointfit as jf
from ecoresp_core.partitioning.synthetic import make_site_year

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "data", "flux")

TRUTHS = {
    "DT": dict(e0_night=150.0, e0_day=150.0, gamma=0.0, inhibition=0.15),
    "DTASYM": dict(e0_night=150.0, e0_day=250.0, gamma=0.0, inhibition=0.15),
    "DTRHONLY": dict(e0_night=150.0, e0_day=150.0, gamma=0.015, inhibition=0.15),
    "DTRH": dict(e0_night=150.0, e0_day=250.0, gamma=0.015, inhibition=0.15),
}
QUANTITIES = ("JOINT_E0_NIGHT_K", "JOINT_E0_DAY_K", "JOINT_E0_DIFF_K", "JOINT_GAMMA", "JOINT_ER_DAY_DTRH",
              "JOINT_ER_DAY_DT", "JOINT_ER_DAY_NT", "JOINT_ER_DAY_RATIO_DTRH_NT", "JOINT_ER_DAY_RATIO_DTRH_DT")


@pytest.fixture(scope="module")
def two_months():
    """June-July of a synthetic DTRH site-year (15 blocks): small enough for the fast suite."""
    df, truth = make_site_year(4, e0_night=150.0, e0_day=250.0, gamma=0.015)
    sub = df.loc["2015-06-01":"2015-07-31 23:30"]
    return sub, truth, jf.joint_data(sub)


@pytest.fixture(scope="module")
def boot_runs(two_months):
    """Evidence with seed 7 and 12 replicates, seed 7 and 4 replicates, seed 8 and 4 replicates
    (~1-2 s each): replicate i depends only on the draws before it, so the 4 replicates of seed 7
    must be the first 4 of the 12."""
    sub, _, data = two_months
    run = lambda seed, n: ev.site_year_evidence(sub, {"n_boot": n, "seed": seed}, data=data)  # noqa: E731
    return run(7, 12), run(7, 4), run(8, 4)


# ----------------------------------------------------------------------------- bootstrap
def test_day_weights_resample_days_within_blocks(two_months):
    """Rescaled bootstrap of Rao and Wu (1988): per block of n days, n - 1 draws with replacement,
    each drawn day weighted n / (n - 1); every record has its day's weight; the weight of a day has
    mean 1 and variance 1 (the plain bootstrap: (n - 1) / n, 0.75 for 4-day blocks)."""
    _, _, data = two_months
    w1 = ev.day_weights(data, np.random.default_rng(3))
    w2 = ev.day_weights(data, (3, 0))
    np.testing.assert_array_equal(w2, ev.day_weights(data, (3, 0)))
    assert not np.array_equal(w2, ev.day_weights(data, (3, 1)))
    for b in range(data.nblock):
        m = data.block == b
        days, first = np.unique(data.day_number[m], return_index=True)
        n = days.size
        wd = w1[m][first]
        if n == 1:                                              # the last block: one day, weight 1
            assert wd[0] == 1.0 and b == data.nblock - 1
            continue
        assert n == 4
        np.testing.assert_allclose(wd.sum(), n)                  # the block keeps its n days
        counts = wd * (n - 1) / n
        np.testing.assert_allclose(counts, np.round(counts), atol=1e-12)
        assert counts.sum() == pytest.approx(n - 1)
        for d, c in zip(days, wd):
            assert np.all(w1[m][data.day_number[m] == d] == c)
    full = data.block < data.nblock - 1
    first_of_day = np.unique(data.day_number[full], return_index=True)[1]
    draws = np.array([ev.day_weights(data, (11, i))[full][first_of_day] for i in range(800)])
    assert draws.mean() == pytest.approx(1.0, abs=0.02)
    assert draws.var(axis=0).mean() == pytest.approx(1.0, abs=0.06)


def test_bootstrap_reproducible_with_seed(boot_runs):
    a, b, c = boot_runs
    assert len(a.boot) == 12 and len(b.boot) == 4
    np.testing.assert_array_equal(a.boot.to_numpy()[:4], b.boot.to_numpy())
    assert np.all(np.isfinite(a.boot.to_numpy()))
    # the replicates differ from each other
    assert a.boot["e0_night"].nunique() == 12
    # another seed: other replicates, the same fit to all data
    assert not np.any(np.isclose(b.boot["e0_night"].to_numpy(), c.boot["e0_night"].to_numpy()))
    point = [k for k, v in a.summary.items() if k.startswith("JOINT_") and k[-3:] not in ("_SE", "_LO", "_HI")
             and k not in ("JOINT_SEED", "JOINT_N_BOOT")]
    assert {k: a.summary[k] for k in point} == {k: c.summary[k] for k in point}
    assert b.summary["JOINT_E0_NIGHT_K_SE"] != c.summary["JOINT_E0_NIGHT_K_SE"]
    assert a.summary["JOINT_SEED"] == 7 and c.summary["JOINT_SEED"] == 8 and a.summary["JOINT_N_BOOT"] == 12


def test_intervals_around_the_point_estimate(boot_runs, two_months):
    """Each 95 % interval holds the point estimate; its width is that of a normal interval of the
    bootstrap SE to within a factor of 2 (12 replicates); the SE is of the order of the curvature
    SE (synthetic records are independent).  Measured (site-year seed 4, June-July, bootstrap seed 7,
    Rao-Wu day weights): E0_n 94.1, SE 18.0 (curvature 21.8), E0_d 250.7, SE 16.7 (20.6), gamma 0.0141,
    SE 0.00083 (0.00103); interval width / (3.92 SE) 0.73-0.82."""
    a = boot_runs[0]
    s = a.summary
    for q in QUANTITIES:
        lo, hi, se, pt = s[f"{q}_CI_LO"], s[f"{q}_CI_HI"], s[f"{q}_SE"], s[q]
        assert lo <= pt <= hi, (q, lo, pt, hi)
        assert se > 0 and 0.5 * 3.92 * se < hi - lo < 2.0 * 3.92 * se, (q, lo, hi, se)
        assert np.isclose(se, np.std(a.boot[{v: k for k, v in ev._STEMS.items()}[q]], ddof=1))
    f = a.fits["DTRH"]
    for q, name in (("JOINT_E0_NIGHT_K", "e0_night"), ("JOINT_E0_DAY_K", "e0_day"), ("JOINT_GAMMA", "gamma")):
        assert 0.33 < s[f"{q}_SE"] / f.se[name] < 3.0, (q, s[f"{q}_SE"], f.se[name])
    # point estimates are the DTRH and DT fits to all data
    assert s["JOINT_E0_NIGHT_K"] == f.e0_night and s["JOINT_E0_DAY_K"] == f.e0_day
    assert s["JOINT_E0_DIFF_K"] == pytest.approx(f.e0_day - f.e0_night)
    er_rh, er_nt = ev.day_er_means(f, a.data)
    assert s["JOINT_ER_DAY_DTRH"] == er_rh and s["JOINT_ER_DAY_NT"] == er_nt
    assert s["JOINT_ER_DAY_RATIO_DTRH_DT"] == pytest.approx(er_rh / s["JOINT_ER_DAY_DT"])


def test_decision_with_bootstrap_follows_intervals_tests_and_heldout_fit(boot_runs):
    """An effect is supported when its bootstrap interval excludes 0, the likelihood-ratio test
    (effective n) rejects at 0.05 and adding it improves the held-out chi2; a model other than DT
    whose held-out day-time NEE is worse than DT's by more than 2 SE is not supported."""
    e = boot_runs[0]
    s = e.summary
    t = e.tests.set_index(["model", "against"])["p_eff"]
    asym = ((s["JOINT_E0_DIFF_K_CI_LO"] > 0 or s["JOINT_E0_DIFF_K_CI_HI"] < 0) and t[("DTRH", "DTRHONLY")] < 0.05
            and s["JOINT_CV_GAIN_ASYM"] > 0)
    rh = ((s["JOINT_GAMMA_CI_LO"] > 0 or s["JOINT_GAMMA_CI_HI"] < 0) and t[("DTRH", "DTASYM")] < 0.05
          and s["JOINT_CV_GAIN_RH"] > 0)
    assert "bootstrap interval" in s["EVIDENCE"]
    # the truth of this site-year is DTRH, two months suffice to see it, and DTRH predicts the
    # held-out day-time NEE better than DT (the do-no-harm rule does not apply)
    assert (asym, rh) == (True, True)
    assert (s["SUPPORTED_ASYMMETRY"], s["SUPPORTED_RH"], s["SUPPORTED_MODEL"]) == (True, True, "DTRH")
    assert s["JOINT_CV_DAY_MSE_DIFF_DTRH_DT"] < 0 and "DT kept" not in s["EVIDENCE"]
    assert s["JOINT_CV_GAIN_ASYM"] == pytest.approx(s["JOINT_CV_CHI2_DTRHONLY"] - s["JOINT_CV_CHI2_DTRH"])
    assert s["JOINT_CV_GAIN_RH"] == pytest.approx(s["JOINT_CV_CHI2_DTASYM"] - s["JOINT_CV_CHI2_DTRH"])


def test_select_do_no_harm_rule(boot_runs):
    """The same summary with DTRH's held-out day-time NEE made worse than DT's (MSE +1 with SE 0.1):
    DT is kept and the text says why."""
    e = boot_runs[0]
    cv = ev.cross_validate(e.data, e.fits)
    day = cv["DT"]["day_sq"]
    cv["DTRH"] = {**cv["DTRH"], "day_sq": day + 1.0 + 0.1 * np.resize([1.0, -1.0], len(day)),
                  "rmse_day": float(np.sqrt(cv["DT"]["rmse_day"] ** 2 + 1.0))}
    model, asym, rh, text, _, _ = ev.select(e.summary, cv, e.tests, ev.EvidenceOptions(n_boot=12))
    assert (model, asym, rh) == ("DT", False, False)
    assert "DT kept" in text and "worse than DT" in text


# ----------------------------------------------------------------------------- no bootstrap
@pytest.fixture(scope="module")
def no_boot(two_months):
    sub, _, data = two_months
    return ev.site_year_evidence(sub, {"n_boot": 0}, data=data)


def test_no_bootstrap_decides_by_lr_tests(no_boot):
    e = no_boot
    s = e.summary
    assert len(e.boot) == 0 and s["JOINT_N_BOOT"] == 0
    assert "JOINT_E0_DIFF_K_CI_LO" not in s and "JOINT_GAMMA_SE" not in s
    assert "bootstrap interval" not in s["EVIDENCE"]
    assert "likelihood-ratio test against DTRHONLY (effective n)" in s["EVIDENCE"]
    assert "likelihood-ratio test against DTASYM (effective n)" in s["EVIDENCE"]
    t = e.tests.set_index(["model", "against"])
    asym = t.loc[("DTRH", "DTRHONLY"), "p_eff"] < 0.05 and s["JOINT_CV_GAIN_ASYM"] > 0
    rh = t.loc[("DTRH", "DTASYM"), "p_eff"] < 0.05 and s["JOINT_CV_GAIN_RH"] > 0
    assert (s["SUPPORTED_ASYMMETRY"], s["SUPPORTED_RH"]) == (asym, rh)
    assert s["SUPPORTED_MODEL"] == "DTRH"
    assert s["JOINT_LR_P_DTRH_VS_DT"] == t.loc[("DTRH", "DT"), "p_eff"]


def test_lr_tests_formulas(no_boot):
    """LR = n log(ssr_small / ssr_big) with df the difference of free parameters; the effective-n
    version scales it by (1 - rho) / (1 + rho); F test from the SSRs."""
    e = no_boot
    f = e.fits
    rho = e.summary["JOINT_RHO1"]
    assert 0 <= rho < 1
    assert rho == pytest.approx(max(f["DTRH"].rho1, 0.0))
    df_expected = {("DTRH", "DT"): 2, ("DTRH", "DTASYM"): 1, ("DTRH", "DTRHONLY"): 1, ("DTASYM", "DT"): 1,
                   ("DTRHONLY", "DT"): 1}
    assert len(e.tests) == len(df_expected)
    for _, r in e.tests.iterrows():
        big, small = f[r["model"]], f[r["against"]]
        assert r["df"] == df_expected[(r["model"], r["against"])] == big.n_par - small.n_par
        n = big.n
        lr = n * np.log(small.ssr / big.ssr)
        assert r["LR"] == pytest.approx(max(lr, 0.0), rel=1e-10, abs=1e-9)
        assert r["p"] == pytest.approx(stats.chi2.sf(r["LR"], r["df"]), rel=1e-8, abs=1e-300)
        assert r["n_eff"] == pytest.approx(n * (1 - rho) / (1 + rho))
        assert r["LR_eff"] == pytest.approx(r["LR"] * (1 - rho) / (1 + rho))
        fst = ((small.ssr - big.ssr) / r["df"]) / (big.ssr / (n - big.n_par))
        assert r["F"] == pytest.approx(fst, rel=1e-10)
        # the 2 log-likelihood difference of the fitted-scale Gaussian is the LR statistic
        assert 2 * (big.loglik - small.loglik) == pytest.approx(lr, rel=1e-8, abs=1e-6)
    models = e.models.set_index("model")
    for m, ft in f.items():
        assert models.loc[m, "AIC"] == pytest.approx(2 * (ft.n_par + 1) - 2 * ft.loglik)
    assert models["dAIC"].min() == 0.0


def test_cross_validation_scores(no_boot):
    """The held-out chi2 is the sum of the capped held-out z^2; the day RMSE of DT and DTRH and the
    MSE difference agree with the per-day squared errors."""
    e = no_boot
    cv = ev.cross_validate(e.data, {m: e.fits[m] for m in ("DT", "DTRH")})
    s = e.summary
    for m in ("DT", "DTRH"):
        assert cv[m]["chi2"] == pytest.approx(s[f"JOINT_CV_CHI2_{m}"], rel=1e-9)
        assert cv[m]["rmse_day"] == pytest.approx(s[f"JOINT_CV_RMSE_DAY_{m}"], rel=1e-9)
        assert cv[m]["n_day"] > 0.9 * e.data.day.sum()
    assert s["JOINT_CV_DAY_MSE_DIFF_DTRH_DT"] == pytest.approx(cv["DTRH"]["rmse_day"] ** 2 - cv["DT"]["rmse_day"] ** 2)
    d = cv["DTRH"]["day_sq"] - cv["DT"]["day_sq"]
    assert s["JOINT_CV_DAY_MSE_DIFF_SE"] == pytest.approx(d.std(ddof=1) / np.sqrt(len(d)))
    # truth DTRH: DTRH predicts held-out day-time NEE better than DT
    assert s["JOINT_CV_DAY_MSE_DIFF_DTRH_DT"] < 0


def test_options_errors():
    from ecoresp_core.errors import InputError
    with pytest.raises(InputError, match="n_boot"):
        ev.EvidenceOptions(n_boot=-1)
    with pytest.raises(InputError, match="folds"):
        ev.EvidenceOptions(folds=1)
    with pytest.raises(InputError, match="level"):
        ev.EvidenceOptions(level=0.2)


# ----------------------------------------------------------------------------- selection (slow)
SELECTION_SEEDS = (1, 2, 3)


@pytest.mark.slow
@pytest.mark.parametrize("truth", list(TRUTHS))
def test_supported_model_is_the_truth(truth):
    """Growing-season subsets (April-September, 46 blocks), 50 replicates, seeds 1-3 (~12 s per
    site-year; the settings of docs/validation/dtrh_evidence.md, whose 25 seeds per truth give the
    rates): the supported model is the one that generated the data in at least 2 of the 3.  The issue
    asks >= 90 %, at which all 3 are right with probability ~0.73, so "all 3" would test luck.
    Measured with the rescaled (Rao-Wu) day bootstrap: 3/3 for every truth.  With the plain day
    bootstrap (too narrow intervals for 4-day blocks) it was DT 2/3 and DTRHONLY 2/3, and with 30
    plain replicates DT 1/3."""
    got = {}
    for seed in SELECTION_SEEDS:
        df, _ = make_site_year(seed, rh_at_night=True, **TRUTHS[truth])
        e = ev.site_year_evidence(df.loc["2015-04-01":"2015-09-30"], {"n_boot": 50, "seed": seed})
        got[seed] = e.summary["SUPPORTED_MODEL"]
    assert sum(m == truth for m in got.values()) >= 2, (truth, got)


# ----------------------------------------------------------------------------- perturbation (slow)
def _perturbed(df, seed):
    """NEE, TA, RH, VPD and SW_IN plus uniform rounding noise of +- 0.005 (a rounding to 0.01)."""
    rng = np.random.default_rng(seed)
    out = df.copy()
    for c in ("NEE", "TA", "RH", "VPD", "SW_IN"):
        out[c] = out[c] + rng.uniform(-0.005, 0.005, len(out))
    return out


def _point(data):
    fits = jf.fit_models(data, ("DT", "DTRH"))
    er_rh, _ = ev.day_er_means(fits["DTRH"], data)
    f = fits["DTRH"]
    return {"JOINT_E0_NIGHT_K": f.e0_night, "JOINT_E0_DAY_K": f.e0_day, "JOINT_GAMMA": f.gamma,
            "JOINT_ER_DAY_DTRH": er_rh}


def _check_perturbation(site_year, label):
    e = ev.site_year_evidence(site_year, {"n_boot": 30, "seed": 1})
    s = e.summary
    for k in range(2):
        if isinstance(site_year, TowerData):
            pert = TowerData(_perturbed(site_year.data, k), site_year.site)
        else:
            pert = _perturbed(site_year, k)
        p = _point(jf.joint_data(pert))
        for q, v in p.items():
            assert abs(v - s[q]) < s[f"{q}_SE"], (label, k, q, v, s[q], s[f"{q}_SE"])


@pytest.mark.slow
def test_rounding_noise_changes_estimates_less_than_their_se_synthetic():
    """Issue 13 must-show, synthetic DTRH site-year (seed 5, full year, 30 replicates): two
    perturbations of NEE, TA, RH, VPD and SW_IN by +- 0.005; E0_n, E0_d, gamma and the mean day-time ER
    move by less than their bootstrap SE.  Measured |change| / SE: E0_n 0.06, 0.05; E0_d 0.14, 0.17;
    gamma 0.08, 0.09; day-time ER 0.33, 0.31 (the day / night split of records near SW_IN = 4 W m-2
    moves with the noise)."""
    df, _ = make_site_year(5, e0_night=150.0, e0_day=250.0, gamma=0.015)
    _check_perturbation(df, "synthetic seed 5")


@pytest.mark.slow
@pytest.mark.parametrize("path,year", [("FLX_DE-Tha_FLUXNET2015_zarrsubset_HH_2011-2012.csv.gz", 2011),
                                       ("FLX_FR-Pue_FLUXNET2015_zarrsubset_HH_2009-2010.csv.gz", 2010)])
def test_rounding_noise_changes_estimates_less_than_their_se_fluxnet(path, year):
    """The same on real FLUXNET2015 site-years (~25-30 s each).  Measured |change| / SE over the two
    perturbations: DE-Tha 2011 E0_n <= 0.08, E0_d <= 0.17, gamma <= 0.13, ER <= 0.13; FR-Pue 2010
    E0_n <= 0.02, E0_d <= 0.38, gamma <= 0.13, ER <= 0.17."""
    files = glob.glob(os.path.join(DATA, path))
    if not files:
        pytest.skip(f"{path} not bundled")
    sy = dict(split_years(read_tower(files[0])))[year]
    _check_perturbation(sy, f"{path} {year}")
