"""Light-response curve (science.md 5.1, 5.3): model values, cost, Jacobian, one-window fits
and every fall-back rule on data built to trigger it."""

import math

import numpy as np
import pytest

from ecoresp_core.partitioning import lightresponse as lrc
from ecoresp_core.partitioning.lightresponse import (fit_lrc_window, gpp_rect, lrc_cost, nee_lrc, reco_lrc,
                                                     rh_factor)
from ecoresp_core.partitioning.respiration import lt_factor


def test_model_hand_values():
    # VPD below VPD0: no limitation; 0.04*25*500/(0.04*500 + 25) = 500/45
    assert gpp_rect(500.0, 5.0, 0.04, 25.0, 0.05) == pytest.approx(500.0 / 45.0, rel=1e-12)
    bv = 25.0 * math.exp(-0.05 * (20.0 - 10.0))
    assert gpp_rect(500.0, 20.0, 0.04, 25.0, 0.05) == pytest.approx(0.04 * bv * 500.0 / (0.04 * 500.0 + bv), rel=1e-12)
    assert gpp_rect(0.0, 20.0, 0.04, 25.0, 0.05) == 0.0
    # Lloyd-Taylor part: worked value of science.md section 2.1
    assert reco_lrc(25.0, 2.0, 200.0) == pytest.approx(3.172922, abs=5e-7)
    th = [0.05, 25.0, 0.04, 2.0, 200.0, 0.0]
    assert nee_lrc(th, 500.0, 20.0, 25.0) == pytest.approx(3.172922 - 0.04 * bv * 500.0 / (20.0 + bv), abs=5e-7)
    # RH modifier: exp and linear (floored at 0.05)
    assert rh_factor(80.0, 0.015, 60.0) == pytest.approx(math.exp(0.3))
    assert rh_factor(80.0, 0.015, 60.0, "linear") == pytest.approx(1.3)
    assert rh_factor(0.0, 0.05, 60.0, "linear") == pytest.approx(0.05)
    th_rh = [0.05, 25.0, 0.04, 2.0, 200.0, 0.015]
    assert nee_lrc(th_rh, 500.0, 20.0, 25.0, rh=80.0, rh_ref=60.0) == pytest.approx(
        3.172922 * math.exp(0.3) - 0.04 * bv * 500.0 / (20.0 + bv), abs=5e-6)


def test_cost_equals_direct_computation():
    rng = np.random.default_rng(3)
    rg, vpd, t = rng.uniform(10, 900, 40), rng.uniform(0, 25, 40), rng.uniform(5, 30, 40)
    nee, sd = rng.normal(-5, 3, 40), rng.uniform(0.7, 2.0, 40)
    th = np.array([0.03, 20.0, 0.05, 2.5, 180.0])
    pm = np.array([0.05, 15.0, 0.1, 2.0, np.nan])
    ps = np.array([50.0, 600.0, 10.0, 80.0, np.inf])
    direct = 0.0
    for i in range(40):
        bv = th[1] * math.exp(-th[0] * max(vpd[i] - 10.0, 0.0))
        gpp = th[2] * bv * rg[i] / (th[2] * rg[i] + bv)
        reco = th[3] * math.exp(th[4] * (1 / (288.15 - 227.13) - 1 / (t[i] + 273.15 - 227.13)))
        direct += ((gpp - reco) - (-nee[i])) ** 2 / sd[i] ** 2
    direct += sum(((th[j] - pm[j]) / ps[j]) ** 2 for j in range(4))
    assert lrc_cost(th, nee, sd, rg, vpd, t, pm, ps) == pytest.approx(direct, rel=1e-12)
    # a fixed parameter carries no prior term
    free = np.array([True, True, False, True, False])
    assert lrc_cost(th, nee, sd, rg, vpd, t, pm, ps, free) == pytest.approx(
        direct - ((th[2] - pm[2]) / ps[2]) ** 2, rel=1e-12)


@pytest.mark.parametrize("form", ["exp", "linear"])
def test_analytic_jacobian(form):
    rng = np.random.default_rng(4)
    n = 30
    m = np.ones((1, n), bool)
    data = lrc.LRCData(rng.uniform(10, 900, (1, n)), rng.uniform(0, 25, (1, n)), rng.uniform(5, 30, (1, n)),
                       rng.normal(-5, 3, (1, n)), np.ones((1, n)), m, rh=rng.uniform(30, 95, (1, n)),
                       rh_ref=65.0, rh_function=form)
    th = np.array([[0.03, 20.0, 0.05, 2.5, 180.0, 0.01]])
    r, J = data.residuals(th, np.array([0]))
    for p in range(6):
        h = 1e-6 * max(abs(th[0, p]), 1e-3)
        tp, tm = th.copy(), th.copy()
        tp[0, p] += h
        tm[0, p] -= h
        num = (data.residuals(tp, np.array([0]))[0] - data.residuals(tm, np.array([0]))[0]) / (2 * h)
        np.testing.assert_allclose(J[0, :, p], num[0], rtol=1e-5, atol=1e-7)


def _window(theta, n=150, seed=0, vpd_range=(2, 25), rg_range=(10, 900), noise=0.0):
    rng = np.random.default_rng(seed)
    rg = rng.uniform(*rg_range, n)
    vpd = rng.uniform(*vpd_range, n)
    t = rng.uniform(10, 28, n)
    nee = nee_lrc(np.r_[theta, 0.0], rg, vpd, t) + rng.normal(0, noise, n)
    return nee, rg, vpd, t


def test_fit_noise_free_window_recovers_parameters():
    truth = np.array([0.04, 25.0, 0.04, 3.0, 150.0])
    nee, rg, vpd, t = _window(truth)
    r = fit_lrc_window(nee, rg, vpd, t, 150.0, 2.0, sd_nee=np.ones(nee.size))
    assert r["code"] == 0 and not r["refit"] and r["flags"] == []
    np.testing.assert_allclose(r["theta"][:4], truth[:4], rtol=2e-3)
    assert r["theta"][4] == 150.0 and r["theta"][5] == 0.0
    # with noise, the estimates stay within ~3 standard errors
    nee, rg, vpd, t = _window(truth, seed=1, noise=1.0)
    r = fit_lrc_window(nee, rg, vpd, t, 150.0, 2.0)
    assert r["code"] == 0
    assert np.all(np.abs(r["theta"][:4] - truth[:4]) < 3 * r["se"][:4])


def test_fallback_k_negative_refit_with_k0():
    nee, rg, vpd, t = _window(np.array([-0.05, 20.0, 0.04, 3.0, 150.0]), seed=2)
    r = fit_lrc_window(nee, rg, vpd, t, 150.0, 2.0)
    assert "k0_refit" in r["flags"] and r["refit"] and r["theta"][0] == 0.0 and r["code"] == 0


def test_fallback_alpha_too_large_fixed_to_last_good():
    nee, rg, vpd, t = _window(np.array([0.03, 20.0, 0.5, 3.0, 150.0]), seed=3)
    r = fit_lrc_window(nee, rg, vpd, t, 150.0, 2.0, alpha_last_good=0.05)
    assert "alpha_fixed" in r["flags"] and r["refit"]
    assert r["theta"][2] == 0.05          # (the refit itself may then be rejected: a bad window)
    r = fit_lrc_window(nee, rg, vpd, t, 150.0, 2.0)          # no last good window: 0.22
    assert r["theta"][2] == 0.22


def test_fallback_k_negative_then_alpha_fixed():
    nee, rg, vpd, t = _window(np.array([-0.05, 20.0, 0.5, 3.0, 150.0]), seed=4)
    r = fit_lrc_window(nee, rg, vpd, t, 150.0, 2.0, alpha_last_good=0.06)
    assert {"k0_refit", "alpha_fixed"} <= set(r["flags"])
    assert r["theta"][0] == 0.0 and r["theta"][2] == 0.06


def test_fallback_low_vpd_and_neglect_vpd():
    nee, rg, vpd, t = _window(np.array([0.04, 20.0, 0.04, 3.0, 150.0]), seed=5, vpd_range=(1, 9))
    r = fit_lrc_window(nee, rg, vpd, t, 150.0, 2.0)
    assert "k0_low_vpd" in r["flags"] and r["theta"][0] == 0.0 and r["code"] == 0 and not r["refit"]
    vpd2 = np.full(vpd.size, np.nan)
    vpd2[:5] = 12.0
    r = fit_lrc_window(nee, rg, vpd2, t, 150.0, 2.0)
    assert "neglect_vpd" in r["flags"] and r["theta"][0] == 0.0 and r["n"] == nee.size


def test_too_few_records_and_missing_e0():
    nee, rg, vpd, t = _window(np.array([0.04, 20.0, 0.04, 3.0, 150.0]), n=9, seed=6)
    assert fit_lrc_window(nee, rg, vpd, t, 150.0, 2.0)["code"] == lrc.CODE_TOO_FEW
    nee, rg, vpd, t = _window(np.array([0.04, 20.0, 0.04, 3.0, 150.0]), seed=6)
    assert fit_lrc_window(nee, rg, vpd, t, np.nan, 2.0)["code"] == lrc.CODE_NO_E0


def test_reject_beta_out_of_range():
    # no light saturation within the observed Rg: beta runs far above 250 -> code 1002
    nee, rg, vpd, t = _window(np.array([0.0, 5000.0, 0.05, 2.0, 150.0]), seed=7, vpd_range=(1, 9))
    r = fit_lrc_window(nee, rg, vpd, t, 150.0, 2.0, sd_nee=np.full(nee.size, 0.5))
    assert r["code"] == lrc.CODE_NOT_CONVERGED and "rejected" in r["flags"] and r["theta"][1] >= 250


def test_reject_uncertain_large_beta():
    # beta ~ 200 seen only at low light (Rg < 200 W m-2): beta > 100 with sd(beta) >= beta -> 1003
    nee, rg, vpd, t = _window(np.array([0.0, 200.0, 0.04, 2.0, 150.0]), n=40, seed=0, vpd_range=(1, 9),
                              rg_range=(5, 200), noise=0.1)
    r = fit_lrc_window(nee, rg, vpd, t, 150.0, 2.0)
    assert 100 < r["theta"][1] < 250 and r["se"][1] >= r["theta"][1]
    assert r["code"] == lrc.CODE_BETA_UNCERTAIN and "rejected" in r["flags"]


def test_respiration_only_fallback():
    # dormant window: NEE is respiration only (GPP = 0) plus noise, which an LRC can only fit with
    # a negative alpha or beta.  REddyProc rejects the window; with resp_only_fallback (ONEFlux's
    # "LloydT_E0fix") it is refitted with alpha = beta = k = 0 and Rref free, and accepted.
    rng = np.random.default_rng(11)
    n = 120
    rg = rng.uniform(10, 600, n)
    vpd = rng.uniform(2, 8, n)
    t = rng.uniform(0, 8, n)
    reco = 1.5 * lt_factor(t, 150.0)
    nee = reco + 0.002 * rg + rng.normal(0, 0.1, n)      # slight apparent "negative GPP"
    r = fit_lrc_window(nee, rg, vpd, t, 150.0, 1.5)
    assert r["code"] != lrc.CODE_OK and "resp_only" not in r["flags"]
    r = fit_lrc_window(nee, rg, vpd, t, 150.0, 1.5, resp_only_fallback=True)
    assert r["code"] == lrc.CODE_OK and "resp_only" in r["flags"] and r["refit"]
    assert r["theta"][0] == r["theta"][1] == r["theta"][2] == 0.0
    # Rref is the day-time NEE level at 15 degC: close to the least-squares value
    f = lt_factor(t, 150.0)
    assert r["theta"][3] == pytest.approx(np.sum(f * nee) / np.sum(f * f), rel=1e-3)
    assert gpp_rect(rg, vpd, r["theta"][2], r["theta"][1], r["theta"][0]).max() == 0.0


def test_alpha_rule_after_respiration_only_window():
    # ONEFlux: after a respiration-only window (alpha = 0) an alpha > 0.22 is not replaced by the
    # alpha of an older window: the window is rejected.  Without the fall-back (REddyProc) the
    # alpha of the last good window (here the default 0.22) is imposed.
    rng = np.random.default_rng(11)
    n = 120
    rg0, vpd0, t0 = rng.uniform(10, 600, n), rng.uniform(2, 8, n), rng.uniform(0, 8, n)
    nee0 = 1.5 * lt_factor(t0, 150.0) + 0.002 * rg0 + rng.normal(0, 0.1, n)     # dormant
    nee1, rg1, vpd1, t1 = _window(np.array([0.03, 20.0, 0.5, 3.0, 150.0]), n=n, seed=3)
    stack = lambda a, b: np.vstack([a, b])  # noqa: E731
    m = np.ones((2, n), bool)
    data = lrc.LRCData(stack(rg0, rg1), stack(vpd0, vpd1), stack(t0, t1), stack(nee0, nee1),
                       np.full((2, n), 0.7), m)
    on = lrc.fit_lrc_windows(data, 150.0, np.array([1.5, 3.0]), resp_only_fallback=True)
    off = lrc.fit_lrc_windows(data, 150.0, np.array([1.5, 3.0]))
    assert on["resp_only"][0] and on["code"][0] == lrc.CODE_OK and on["theta"][0, lrc.IALPHA] == 0.0
    assert on["code"][1] == lrc.CODE_NOT_CONVERGED
    assert off["alpha_fixed"][1] and off["theta"][1, lrc.IALPHA] == 0.22 and not off["resp_only"].any()
