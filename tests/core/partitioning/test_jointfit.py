"""The joint respiration model of a site-year (jointfit, docs/methods.md section 20): closed loop on
synthetic data, nesting of the four models, likelihood / AIC / BIC formulas, agreement with an
independent optimiser, input errors."""

import numpy as np
import pytest
from scipy import optimize, stats

from ecoresp_core.errors import InputError
from ecoresp_core.partitioning import evidence as ev
from ecoresp_core.partitioning import jointfit as jf
from ecoresp_core.partitioning.lightresponse import PRIOR_ALPHA, PRIOR_K, PRIOR_SD
from ecoresp_core.partitioning.synthetic import make_site_year

E0_N, E0_D, GAMMA = 150.0, 250.0, 0.015


@pytest.fixture(scope="module")
def rh_year():
    """Seed 1, E0_n 150, E0_d 250, gamma 0.015, RH at night: all four models (~1.5 s)."""
    df, truth = make_site_year(1, e0_night=E0_N, e0_day=E0_D, gamma=GAMMA, rh_at_night=True)
    data = jf.joint_data(df)
    return df, truth, data, jf.fit_models(data)


@pytest.fixture(scope="module")
def asym_year():
    """Seed 1, E0_n 150, E0_d 250, gamma 0 (no humidity effect)."""
    df, truth = make_site_year(1, e0_night=E0_N, e0_day=E0_D, gamma=0.0, rh_at_night=True)
    data = jf.joint_data(df)
    return df, truth, data, jf.fit(data, "DTRH")


# ----------------------------------------------------------------------------- closed loop
def test_closed_loop_dtrh_recovers_e0_and_gamma(rh_year):
    # measured (seed 1, full year, 9797 records, 92 blocks): E0_n 140.5 +- 11.5 K, E0_d 237.6 +- 12.6 K,
    # gamma 0.0140 +- 0.00065 (curvature SE): -0.8, -1.0 and -1.5 SE from the truth
    _, truth, data, fits = rh_year
    f = fits["DTRH"]
    assert f.converged
    assert data.rh_ref == pytest.approx(truth["rh_ref"])       # the generator's and the estimator's RH_ref
    for name, true in (("e0_night", E0_N), ("e0_day", E0_D), ("gamma", GAMMA)):
        se = f.se[name]
        assert 0 < se < (15.0 if name != "gamma" else 0.001), (name, se)
        assert abs(getattr(f, name) - true) < 3.0 * se, (name, getattr(f, name), se)
    # the asymmetry and the humidity effect are resolved: E0_d - E0_n and gamma far from 0
    assert f.e0_day - f.e0_night > 4.0 * np.hypot(f.se["e0_day"], f.se["e0_night"])
    assert f.gamma > 10.0 * f.se["gamma"]


def test_closed_loop_without_humidity_effect(asym_year):
    # measured (seed 1, gamma 0): E0_n 136.7 +- 11.5 K, E0_d 236.1 +- 12.8 K, gamma -0.0007 +- 0.0006:
    # -1.2, -1.1 and -1.2 SE from the truth
    _, _, _, f = asym_year
    assert f.converged
    for name, true in (("e0_night", E0_N), ("e0_day", E0_D), ("gamma", 0.0)):
        assert abs(getattr(f, name) - true) < 3.0 * f.se[name], (name, getattr(f, name), f.se[name])


def test_closed_loop_day_er(rh_year):
    # the mean day-time ER of DTRH over the used day records against the generator's ER there:
    # measured (seed 1): DTRH 2.076 against the true 2.045 umol m-2 s-1 (+1.5 %); DT 2.228 (+9 %)
    _, truth, data, fits = rh_year
    er_fit, _ = ev.day_er_means(fits["DTRH"], data)
    er_true = float(truth["reco"].reindex(data.index).to_numpy()[data.day].mean())
    assert er_fit == pytest.approx(er_true, rel=0.03)
    # DT (no humidity, one E0) is misspecified here and misses the day-time ER by more
    er_dt, _ = ev.day_er_means(fits["DT"], data)
    assert abs(er_dt - er_true) > abs(er_fit - er_true)


# ----------------------------------------------------------------------------- nesting, likelihood
def test_nested_models_never_fit_worse(rh_year):
    _, _, data, fits = rh_year
    tol = 1e-9 * fits["DT"].ssr
    ssr = {m: f.ssr for m, f in fits.items()}
    assert ssr["DTASYM"] <= ssr["DT"] + tol
    assert ssr["DTRHONLY"] <= ssr["DT"] + tol
    assert ssr["DTRH"] <= ssr["DTASYM"] + tol
    assert ssr["DTRH"] <= ssr["DTRHONLY"] + tol
    # the constrained models keep their constraints
    assert fits["DT"].e0_day == fits["DT"].e0_night and fits["DT"].gamma == 0.0
    assert fits["DTASYM"].gamma == 0.0
    assert fits["DTRHONLY"].e0_day == fits["DTRHONLY"].e0_night
    # free parameters: 5 per block (all used blocks have day and night records) + the shared ones
    nb = data.nblock
    assert {m: f.n_par for m, f in fits.items()} == {"DT": 1 + 5 * nb, "DTASYM": 2 + 5 * nb,
                                                      "DTRHONLY": 2 + 5 * nb, "DTRH": 3 + 5 * nb}
    assert all(f.n == data.n for f in fits.values())


def test_loglik_ssr_aic_bic_formulas(rh_year):
    """ssr and loglik from the ``predict`` residuals, independently: the Gaussian log density with
    sigma_i = s sdNEE_i at the maximum-likelihood scale s^2 = ssr / n."""
    _, _, data, fits = rh_year
    for m, f in fits.items():
        nee, er, gpp = jf.predict(f.x, data)
        np.testing.assert_allclose(nee, er - gpp)
        z = (nee - data.nee) / data.sd
        ssr = float(np.sum(z ** 2))
        assert f.ssr == pytest.approx(ssr, rel=1e-10)
        s = np.sqrt(ssr / data.n)
        ll = float(np.sum(stats.norm.logpdf(data.nee, loc=nee, scale=s * data.sd)))
        assert f.loglik == pytest.approx(ll, rel=1e-10, abs=1e-6)
        # the scale is the maximum-likelihood one: any other scale gives less
        assert np.sum(stats.norm.logpdf(data.nee, nee, 1.05 * s * data.sd)) < ll
        assert np.sum(stats.norm.logpdf(data.nee, nee, 0.95 * s * data.sd)) < ll
        k = f.n_par + 1                       # the error scale counts as a parameter
        assert ev.aic(f) == pytest.approx(2 * k - 2 * ll, rel=1e-10)
        assert ev.bic(f) == pytest.approx(np.log(data.n) * k - 2 * ll, rel=1e-10)


def test_weights_leave_records_out(rh_year):
    """Weight 0 leaves a record out: n, ssr and loglik count the weighted records only."""
    _, _, data, fits = rh_year
    w = (data.day_number % 3 != 0).astype(float)
    f = jf.fit(data, "DT", weights=w, start=fits["DT"])
    on = w > 0
    nee, _, _ = jf.predict(f.x, data)
    ssr = float(np.sum(((nee - data.nee)[on] / data.sd[on]) ** 2))
    assert f.n == int(on.sum())
    assert f.ssr == pytest.approx(ssr, rel=1e-10)
    ll = -0.5 * f.n * (1 + np.log(2 * np.pi * ssr / f.n)) - np.sum(np.log(data.sd[on]))
    assert f.loglik == pytest.approx(ll, rel=1e-10)


# ----------------------------------------------------------------------------- independent optimiser
def _objective_parts(data):
    """Residual vector of the full penalised least-squares problem for scipy: data residuals
    (NEE_mod - NEE)/sdNEE and the priors of section 5.3 on k, beta, alpha and on Rref_d
    (N(start Rref, 80)), written from the documented constants."""
    nb = data.nblock
    b = np.arange(nb)
    pcols = np.concatenate([data.col("k", b), data.col("beta", b), data.col("alpha", b), data.col("rref_day", b)])
    pmean = np.concatenate([np.full(nb, PRIOR_K), data.prior_beta, np.full(nb, PRIOR_ALPHA), data.start_rref])
    psd = np.concatenate([np.full(nb, PRIOR_SD["k"]), np.full(nb, PRIOR_SD["beta"]),
                          np.full(nb, PRIOR_SD["alpha"]), np.full(nb, PRIOR_SD["rref"])])

    def resid(x):
        nee, _, _ = jf.predict(x, data)
        return np.concatenate([(nee - data.nee) / data.sd, (x[pcols] - pmean) / psd])

    o = data.options
    lo, hi = np.zeros(data.npar), np.full(data.npar, 1e3)
    lo[[jf.IE0N, jf.IE0D]], hi[[jf.IE0N, jf.IE0D]] = o.e0_bounds
    lo[jf.IGAM], hi[jf.IGAM] = o.gamma_bounds
    hi[data.col("alpha", b)], hi[data.col("k", b)] = o.alpha_max, o.k_max
    lo[data.col("beta", b)], hi[data.col("beta", b)] = jf.BETA_MIN, o.beta_max
    return resid, lo, hi


@pytest.fixture(scope="module")
def three_blocks():
    df, _ = make_site_year(3, e0_night=E0_N, e0_day=E0_D, gamma=GAMMA, rh_at_night=True)
    data = jf.joint_data(df.loc["2015-06-02":"2015-06-13 23:30"])
    assert data.nblock == 3
    return data


def test_fit_agrees_with_scipy_least_squares(three_blocks):
    """DTRH on 3 blocks (18 parameters): the variable-projection fit reaches the optimum that
    scipy.optimize.least_squares (trf, all parameters at once, bounds) finds from an independent
    start and from the jointfit solution.  Measured (371 records): penalised cost 245.0952327217,
    equal to 1e-14 relative; E0_n 96.5633, E0_d 240.2440, gamma 0.0140308 equal to 1e-5 K / 1e-9."""
    data = three_blocks
    f = jf.fit(data, "DTRH")
    resid, lo, hi = _objective_parts(data)
    cost_jf = float(np.sum(resid(f.x) ** 2))
    b = np.arange(data.nblock)
    x0 = np.zeros(data.npar)
    x0[[jf.IE0N, jf.IE0D, jf.IGAM]] = 100.0, 100.0, 0.0
    x0[data.col("rref_night", b)] = x0[data.col("rref_day", b)] = data.start_rref
    x0[data.col("alpha", b)], x0[data.col("beta", b)], x0[data.col("k", b)] = 0.05, data.prior_beta, 0.02
    x0 = np.clip(x0, lo, hi)
    best, x_best = np.inf, None
    for start in (x0, np.clip(f.x, lo, hi)):
        ls = optimize.least_squares(resid, start, bounds=(lo, hi), method="trf", x_scale="jac",
                                    ftol=1e-14, xtol=1e-14, gtol=1e-12, max_nfev=20000)
        if 2.0 * ls.cost < best:
            best, x_best = 2.0 * ls.cost, ls.x
    assert cost_jf <= best * (1 + 1e-9)
    assert cost_jf == pytest.approx(best, rel=1e-9)
    assert f.e0_night == pytest.approx(x_best[jf.IE0N], abs=0.01)
    assert f.e0_day == pytest.approx(x_best[jf.IE0D], abs=0.01)
    assert f.gamma == pytest.approx(x_best[jf.IGAM], abs=1e-6)
    # the SSR reported is the data part
    nee, _, _ = jf.predict(f.x, data)
    assert f.ssr == pytest.approx(float(np.sum(((nee - data.nee) / data.sd) ** 2)), rel=1e-12)


def test_rh_ref_only_rescales_rref_with_exp(three_blocks):
    """exp modifier: RH_ref 50 % instead of the median gives the same model NEE when both Rref are
    multiplied by exp(gamma (50 - median)), so the likelihood cannot depend on RH_ref."""
    data = three_blocks
    f = jf.fit(data, "DTRH")
    x = f.x.copy()
    b = np.arange(data.nblock)
    s = np.exp(f.gamma * (50.0 - data.rh_ref))
    x[data.col("rref_night", b)] *= s
    x[data.col("rref_day", b)] *= s
    moved = jf.JointData(**{**data.__dict__, "drh": data.rh - 50.0, "rh_ref": 50.0})
    np.testing.assert_allclose(jf.predict(x, moved)[0], jf.predict(f.x, data)[0], rtol=1e-12)


# ----------------------------------------------------------------------------- input errors
def test_too_few_blocks_is_an_input_error():
    df, _ = make_site_year(2)
    with pytest.raises(InputError, match="fewer than 2 blocks of 4 days"):
        jf.joint_data(df.loc["2015-06-01":"2015-06-04 23:30"])       # 4 days: one block
    with pytest.raises(InputError, match="fewer than 2 blocks of 8 days"):
        jf.joint_data(df.loc["2015-06-01":"2015-06-08 23:30"], block_days=8)
    short = df.loc["2015-06-01":"2015-06-30 23:30"].copy()
    short["NEE_QC"] = 1.0                                            # nothing measured
    with pytest.raises(InputError, match="10 measured day and 5 night records"):
        jf.joint_data(short)


def test_option_and_model_errors(three_blocks):
    df, _ = make_site_year(2)
    part = df.loc["2015-06-01":"2015-06-30 23:30"]
    with pytest.raises(InputError, match="block_days"):
        jf.joint_data(part, block_days=0)
    with pytest.raises(InputError, match="rh_function"):
        jf.joint_data(part, rh_function="power")
    with pytest.raises(InputError, match="joint model must be one of DT, DTASYM, DTRHONLY, DTRH"):
        jf.fit(three_blocks, "NT")
    no_rh = part.drop(columns=["RH", "VPD"])
    with pytest.raises(InputError, match="RH|VPD"):
        jf.joint_data(no_rh)


def test_rh_derived_from_vpd_where_missing():
    df, truth = make_site_year(2)
    part = df.loc["2015-06-01":"2015-06-30 23:30"].copy()
    full = jf.joint_data(part)
    part.loc[part.index[:48], "RH"] = np.nan
    d = jf.joint_data(part, rh_ref=full.rh_ref)
    assert any(f.startswith("rh_from_vpd_ta:") for f in d.flags)
    # RH from VPD and TA (Magnus form of the generator): the same RH to rounding
    np.testing.assert_allclose(d.rh, full.rh, atol=0.5)
