"""Tests of the change-point detection u* threshold (ecoresp_core.ustar.cpd; Barr et al. 2013, ONEFlux)."""

import os

import numpy as np
import pandas as pd
import pytest

from ecoresp_core.ustar.cpd import (CPDOptions, bin_by_quantile, cpd_threshold, find_change_point, fmax2_critical,
                                    fmax2_pvalue, fmax3_pvalue, three_phase_sse, two_phase_sse)
from ecoresp_core.ustar.estimate import UstarEstimate

DATA = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "data", "flux")


def synthetic_year(threshold, seed=0, k=1.0, noise=0.5, year=2010, freq="30min", ustar_mean=0.35):
    """One synthetic year: night NEE = R(TA) * min(1, u*/threshold)**k + noise, day SW_IN > 0."""
    rng = np.random.default_rng(seed)
    idx = pd.date_range(f"{year}-01-01", f"{year + 1}-01-01", freq=freq, inclusive="left")
    doy = idx.dayofyear.to_numpy()
    hour = (idx.hour + idx.minute / 60.0).to_numpy()
    season = 0.7 + 0.3 * np.sin(2 * np.pi * (doy - 80) / 365)
    sw = np.maximum(0.0, 700.0 * np.sin(2 * np.pi * (hour - 6.0) / 24.0) * season)
    ta = 10.0 - 10.0 * np.cos(2 * np.pi * (doy - 15) / 365.0) + 3.0 * np.sin(2 * np.pi * (hour - 9) / 24) \
        + rng.normal(0.0, 2.0, idx.size)
    ustar = rng.gamma(3.0, ustar_mean / 3.0, idx.size)
    resp = 2.0 * np.exp(0.069 * ta)
    nee = resp * np.minimum(1.0, ustar / threshold) ** k + rng.normal(0.0, noise, idx.size)
    nee[sw > 0] = -5.0 + rng.normal(0.0, noise, int((sw > 0).sum()))
    nee[rng.random(idx.size) < 0.2] = np.nan
    return pd.DataFrame({"USTAR": ustar, "NEE": nee, "TA": ta, "SW_IN": sw}, index=idx)


def test_two_phase_sse_matches_lstsq():
    rng = np.random.default_rng(1)
    x = np.sort(rng.uniform(0.05, 0.8, 30))
    y = 3.0 * np.minimum(x, 0.3) + rng.normal(0, 0.1, x.size)
    sse, b0, b1 = two_phase_sse(x, y)
    for i in range(1, x.size - 1):
        x1 = x.copy()
        x1[i + 1:] = x[i]                       # MATLAB: x1((i+1):n) = x(i)
        a, res, *_ = np.linalg.lstsq(np.column_stack([np.ones_like(x1), x1]), y, rcond=None)
        direct = np.sum((y - a[0] - a[1] * x1) ** 2)
        assert sse[i] == pytest.approx(direct, rel=1e-9, abs=1e-12)
        assert b0[i] == pytest.approx(a[0], rel=1e-9, abs=1e-12)
        assert b1[i] == pytest.approx(a[1], rel=1e-9, abs=1e-12)
    assert sse[0] == pytest.approx(np.sum((y - y.mean()) ** 2))   # first candidate: x1 constant
    assert np.isnan(sse[-1])                                       # not searched by ONEFlux


def test_three_phase_sse_matches_lstsq():
    rng = np.random.default_rng(8)
    x = np.sort(rng.uniform(0.05, 0.8, 25))
    y = 3.0 * np.minimum(x, 0.3) + 0.5 * x + rng.normal(0, 0.1, x.size)
    sse, b0, b1, b2 = three_phase_sse(x, y)
    line = np.polyfit(x, y, 1)
    assert sse[0] == pytest.approx(np.sum((y - np.polyval(line, x)) ** 2))   # z = x - x[0]: collinear
    for i in range(1, x.size - 1):
        z = np.where(np.arange(x.size) > i, x - x[i], 0.0)   # MATLAB: x2=(x-x(i)).*zAbv
        a, *_ = np.linalg.lstsq(np.column_stack([np.ones_like(x), x, z]), y, rcond=None)
        direct = np.sum((y - a[0] - a[1] * x - a[2] * z) ** 2)
        assert sse[i] == pytest.approx(direct, rel=1e-8, abs=1e-12)
        np.testing.assert_allclose([b0[i], b1[i], b2[i]], a, rtol=1e-7, atol=1e-9)
    assert np.isnan(sse[-1])


def test_fmax_table_and_pvalue():
    # cpdFmax2pCp2.m table rows, n = 50: 3.7941 5.3030 6.8758 10.6635 (p = 0.20, 0.10, 0.05, 0.01)
    np.testing.assert_allclose(fmax2_critical(50), [3.7941, 5.3030, 6.8758, 10.6635], rtol=1e-12)
    assert fmax2_pvalue(6.8758, 50) == pytest.approx(0.05, abs=1e-9)
    assert fmax2_pvalue(10.6635, 50) == pytest.approx(0.01, abs=1e-9)
    assert fmax2_pvalue(7.7834, 1000) == pytest.approx(0.05, abs=1e-9)   # n = 1000 row, 0.95 column
    assert 0.05 < fmax2_pvalue(6.0, 50) < 0.10
    assert fmax2_pvalue(1.0, 50) > 0.5 and fmax2_pvalue(40.0, 50) < 1e-4
    assert np.isnan(fmax2_pvalue(10.0, 9))
    # cpdFmax2pCp3.m (Wang 2003), n = 50: 9.269 11.068 15.237 (p = 0.10, 0.05, 0.01)
    assert fmax3_pvalue(11.068, 50) == pytest.approx(0.05, abs=1e-9)
    assert fmax3_pvalue(15.237, 50) == pytest.approx(0.01, abs=1e-9)
    assert fmax3_pvalue(2.0, 50) > 0.5


def test_find_change_point_known_case():
    rng = np.random.default_rng(2)
    x = np.linspace(0.02, 1.0, 50)
    y = 2.0 + 10.0 * np.minimum(x, 0.4) + rng.normal(0, 0.2, x.size)
    r = find_change_point(x, y)
    assert r["p"] < 0.01 and r["b1"] > 0
    assert r["cp"] == pytest.approx(0.4, abs=0.05)
    # the F statistic at the change point, recomputed directly
    i = r["i"]
    x1 = np.where(np.arange(x.size) > i, x[i], x)
    a = np.polyfit(x1, y, 1)
    sse_full = np.sum((y - np.polyval(a, x1)) ** 2)
    sse_red = np.sum((y - y.mean()) ** 2)
    assert r["fmax"] == pytest.approx((sse_red - sse_full) / (sse_full / (x.size - 2)), rel=1e-9)
    flat = find_change_point(x, 5.0 + rng.normal(0, 0.2, x.size))
    assert np.isnan(flat["cp"])


def test_bin_by_quantile():
    x = np.arange(100.0)
    mx, my = bin_by_quantile(x, 2 * x, 5)
    assert mx.size == 20
    np.testing.assert_allclose(my, 2 * mx)
    assert np.all(np.diff(mx) > 0)


@pytest.mark.parametrize("threshold", [0.15, 0.3])
def test_closed_loop_recovery(threshold):
    est = cpd_threshold(synthetic_year(threshold, seed=int(threshold * 100)))
    assert isinstance(est, UstarEstimate)
    assert est.reason == ""
    assert est.threshold == pytest.approx(threshold, abs=0.05)
    assert est.details["mode"] == "D"
    assert len(est.seasonal) == 4


def test_hourly_closed_loop():
    frame = synthetic_year(0.25, seed=5, freq="60min")
    est = cpd_threshold(frame)
    assert est.details["n_per_bin"] == 3 and est.details["records_per_day"] == 24
    assert est.threshold == pytest.approx(0.25, abs=0.06)


def test_no_change_point_flat():
    frame = synthetic_year(1e-6, seed=3)            # NEE independent of u*
    est = cpd_threshold(frame)
    assert np.isnan(est.threshold)
    assert "successful change-point detections" in est.reason or "too few selected" in est.reason


def test_too_few_records():
    frame = synthetic_year(0.2, seed=4).iloc[: 48 * 100]
    est = cpd_threshold(frame)
    assert np.isnan(est.threshold) and est.reason.startswith("too few valid night records")
    assert est.n_records < 4000


def test_options_preset():
    assert CPDOptions.oneflux() == CPDOptions()
    assert CPDOptions().night_sw_in == 5.0 and CPDOptions().n_bins == 50


def test_bootstrap_draw_with_repeated_records():
    frame = synthetic_year(0.3, seed=6)
    rng = np.random.default_rng(7)
    draw = frame.iloc[np.sort(rng.integers(0, len(frame), len(frame)))]   # cpdBootstrap...: sort(randi(nt,nt,1))
    est = cpd_threshold(draw)
    assert est.details["records_per_day"] == 48
    assert est.threshold == pytest.approx(0.3, abs=0.05)


def test_de_tha_1998():
    """REddyProc example DE-Tha 1998: a CPD threshold exists (regression value 0.519 m s-1, mode D)."""
    path = os.path.join(DATA, "Example_DETha98.txt")
    if not os.path.isfile(path):
        pytest.skip("Example_DETha98.txt not shipped")
    from ecoresp_core.io.towers import read_tower
    frame = read_tower(path).data[["USTAR", "NEE", "TA", "SW_IN"]]
    est = cpd_threshold(frame)
    assert est.reason == "" and est.details["mode"] == "D"
    assert est.threshold == pytest.approx(0.519, abs=0.01)
    assert est.n_records == 5422
