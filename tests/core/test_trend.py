"""Tests of ecoresp_core.trends.trend against pymannkendall, scipy and docs/science.md section 14."""

import os
import warnings

import numpy as np
import pytest
from scipy import stats

from ecoresp_core.errors import Cancelled
from ecoresp_core.jobs.parallel import Workers
from ecoresp_core.trends.trend import TREND_BANDS, VARIANTS, mann_kendall

mk = pytest.importorskip("pymannkendall")

HERE = os.path.dirname(os.path.abspath(__file__))
CRU_NAME = "cru_ts400_iberia_1981-2010_monthly.nc"
CRU_PATHS = [os.path.join(HERE, "..", "data", CRU_NAME),
             os.path.join("/work/shared/data/grids/cru_ts400_iberia", CRU_NAME)]

PMK = {
    "original": lambda x, a, lag: mk.original_test(x, a),
    "hamed_rao": lambda x, a, lag: mk.hamed_rao_modification_test(x, a, lag),
    "yue_wang": lambda x, a, lag: mk.yue_wang_modification_test(x, a, lag),
    "pre_whitening": lambda x, a, lag: mk.pre_whitening_modification_test(x, a),
    "trend_free_pre_whitening": lambda x, a, lag: mk.trend_free_pre_whitening_modification_test(x, a),
    "seasonal": lambda x, a, lag: mk.seasonal_test(x, 12, a),
}
TREND_CODE = {"increasing": 1.0, "decreasing": -1.0, "no trend": 0.0}


def _pmk(variant, x, alpha=0.05, lag=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = PMK[variant](np.asarray(x, dtype=float), alpha, lag)
    return {"s": r.s, "var_s": r.var_s, "z": r.z, "p_value": r.p, "tau": r.Tau,
            "slope": r.slope, "intercept": r.intercept, "trend": TREND_CODE[r.trend]}


def _close(a, b, rtol=1e-9, atol=1e-12):
    a = float(a)
    b = float(b)
    if np.isnan(a) or np.isnan(b):
        return np.isnan(a) and np.isnan(b)
    return abs(a - b) <= atol + rtol * abs(b)


def assert_matches_pmk(X, variant, alpha=0.05, lag=None, min_valid=3):
    """Every pixel (column of X) against the pymannkendall function of the variant."""
    res = mann_kendall(X, variant=variant, alpha=alpha, lag=lag, min_valid=min_valid)
    checked = 0
    for p in range(X.shape[1]):
        x = X[:, p].astype(float)
        nv = int(np.count_nonzero(~np.isnan(x)))
        assert res["n_valid"][p] == nv
        if nv < min_valid:
            assert all(np.isnan(res[b][p]) for b in TREND_BANDS if b != "n_valid")
            continue
        exp = _pmk(variant, x, alpha, lag)
        got = {b: res[b][p] for b in exp}
        # S and the untouched variances are exact (integer-based)
        if variant in ("original", "seasonal", "pre_whitening", "trend_free_pre_whitening"):
            assert got["s"] == exp["s"], (variant, p, got["s"], exp["s"])
            assert got["var_s"] == exp["var_s"], (variant, p, got["var_s"], exp["var_s"])
        else:
            assert got["s"] == exp["s"]
            assert _close(got["var_s"], exp["var_s"], rtol=1e-12), (variant, p)
        for b in ("z", "p_value", "tau", "slope", "intercept"):
            assert _close(got[b], exp[b]), (variant, p, b, got[b], exp[b])
        assert got["trend"] == exp["trend"], (variant, p)
        checked += 1
    return checked


def _random_series(rng, n, npix, decimals=1, gap=0.08):
    X = np.round(rng.normal(size=(n, npix)) * 2 + np.arange(n)[:, None] * rng.normal(0, 0.2, npix),
                 decimals)
    X[rng.random(X.shape) < gap] = np.nan
    return X


# --------------------------------------------------------------------------- worked examples

E_ROWS = [
    # series, S, Var(S), Z, p, Tau, slope, intercept, trend
    ([1, 2, 3, 4, 5], 10, 16.666667, 2.204541, 0.027486, 1.0, 1.0, 1.0, 1),
    ([2, 1, 3, 3, 5, 4, 6, 6, 7, 9], 39, 123.0, 3.426345, 0.000612, 0.866667, 0.777778, 1.0, 1),
    ([10.0, 9.5, 9.8, 8.7, 8.9, 8.1, 7.6, 7.9], -22, 65.333333, -2.598076, 0.009375, -0.785714,
     -0.373333, 10.106667, -1),
    ([3, 1, 4, 1, 5, 9], 8, 27.333333, 1.338911, 0.180600, 0.533333, 1.2, 0.5, 0),
    ([1, np.nan, 2, 4, 3, np.nan, 6], 8, 16.666667, 1.714643, 0.086411, 0.8, 0.75, 0.75, 0),
    ([1, 1, 2, 2, 3, 3], 12, 25.333333, 2.185478, 0.028854, 0.8, 0.5, 0.75, 1),
]


@pytest.mark.parametrize("row", E_ROWS, ids=[f"E{i + 1}" for i in range(len(E_ROWS))])
def test_worked_examples(row):
    x, S, V, Z, P, TAU, SLOPE, INTER, TR = row
    r = mann_kendall(np.array(x, dtype=float))
    assert r["s"] == S
    assert r["var_s"] == pytest.approx(V, abs=1e-6)
    assert r["z"] == pytest.approx(Z, abs=1e-6)
    assert r["p_value"] == pytest.approx(P, abs=1e-6)
    assert r["tau"] == pytest.approx(TAU, abs=1e-6)
    assert r["slope"] == pytest.approx(SLOPE, abs=1e-6)
    assert r["intercept"] == pytest.approx(INTER, abs=1e-6)
    assert r["trend"] == TR
    assert r["n_valid"] == np.count_nonzero(~np.isnan(np.array(x, dtype=float)))
    assert r["slope_lower"] <= r["slope"] <= r["slope_upper"]


E2 = [2, 1, 3, 3, 5, 4, 6, 6, 7, 9]
E3 = [10.0, 9.5, 9.8, 8.7, 8.9, 8.1, 7.6, 7.9]


def test_modified_variants_table():
    r = mann_kendall(np.array(E2, float), "hamed_rao")
    assert r["var_s"] == pytest.approx(123.0, abs=1e-9)
    assert r["p_value"] == pytest.approx(0.000612, abs=1e-6)
    r = mann_kendall(np.array(E2, float), "yue_wang")
    assert r["var_s"] == pytest.approx(13.9106, abs=1e-4)
    assert r["z"] == pytest.approx(10.188510, abs=1e-6)
    r = mann_kendall(np.array(E2, float), "pre_whitening")
    assert (r["s"], r["var_s"]) == (22, 92)
    assert r["p_value"] == pytest.approx(0.028568, abs=1e-6)
    r = mann_kendall(np.array(E2, float), "trend_free_pre_whitening")
    assert r["s"] == 34
    assert r["p_value"] == pytest.approx(0.000581, abs=1e-6)

    r = mann_kendall(np.array(E3), "hamed_rao")
    assert r["var_s"] == pytest.approx(8.458333, abs=1e-6)
    assert r["z"] == pytest.approx(-7.220660, abs=1e-6)
    r = mann_kendall(np.array(E3), "yue_wang")
    assert r["var_s"] == pytest.approx(9.082075, abs=1e-6)
    r = mann_kendall(np.array(E3), "pre_whitening")
    assert r["s"] == -9
    assert r["p_value"] == pytest.approx(0.229556, abs=1e-6)
    assert r["trend"] == 0
    r = mann_kendall(np.array(E3), "trend_free_pre_whitening")
    assert r["s"] == -17
    assert r["p_value"] == pytest.approx(0.016261, abs=1e-6)


def test_er_like_pixel():
    t = np.arange(30)
    er = 800 + 2 * t + 15 * np.sin(1.3 * t) + 8 * np.cos(0.7 * t)
    np.testing.assert_allclose(er[:5], [808.0, 822.5721, 813.0923, 791.6447, 787.2104], atol=1e-4)
    r = mann_kendall(er)
    assert r["s"] == 265
    assert r["var_s"] == pytest.approx(3141.6667, abs=1e-4)
    assert r["z"] == pytest.approx(4.710032, abs=1e-6)
    assert r["p_value"] == pytest.approx(2.47678e-06, rel=1e-5)
    assert r["tau"] == pytest.approx(0.609195, abs=1e-6)
    assert r["trend"] == 1
    assert r["slope"] == pytest.approx(1.914815, abs=1e-6)
    assert r["slope_lower"] == pytest.approx(1.350661, abs=1e-6)
    assert r["slope_upper"] == pytest.approx(2.485278, abs=1e-6)
    # the intercept is the line's value at index 0, i.e. at 1989
    assert r["intercept"] == pytest.approx(802.619700, abs=1e-6)
    b_year = r["intercept"] - r["slope"] * 1989
    assert b_year + r["slope"] * 1989 == pytest.approx(802.619700, abs=1e-6)


# --------------------------------------------------------------------------- vs pymannkendall

@pytest.mark.parametrize("variant", [v for v in VARIANTS if v != "seasonal"])
def test_random_series_match_pymannkendall(variant):
    rng = np.random.default_rng(11)
    n_checked = 0
    for n, npix, dec in ((30, 200, 1), (30, 60, 0), (12, 80, 0), (7, 60, 1), (45, 40, 2)):
        X = _random_series(rng, n, npix, dec)
        X[:, :3] = np.nan          # ocean pixels
        X[:-2, 3] = np.nan         # below min_valid
        X[:, 4] = 5.0              # constant
        X[:, 5] = np.arange(n)     # perfectly linear
        n_checked += assert_matches_pmk(X, variant)
    assert n_checked > 350


@pytest.mark.parametrize("lag", [1, 3])
@pytest.mark.parametrize("variant", ["hamed_rao", "yue_wang"])
def test_lag_argument(variant, lag):
    rng = np.random.default_rng(5)
    X = _random_series(rng, 30, 80, 1)
    assert assert_matches_pmk(X, variant, lag=lag, alpha=0.1) == 80


def test_seasonal_matches_pymannkendall():
    rng = np.random.default_rng(3)
    X = _random_series(rng, 120, 120, 1)
    X += 5 * np.sin(np.arange(120) * np.pi / 6)[:, None]
    X[:36, 0] = np.nan                 # leading missing years
    assert assert_matches_pmk(X, "seasonal") > 110
    # length not a multiple of the period (padded with NaN like pymannkendall)
    X = _random_series(rng, 125, 40, 0)
    assert assert_matches_pmk(X, "seasonal") == 40


def _cru():
    path = next((p for p in CRU_PATHS if os.path.exists(p)), None)
    if path is None:
        pytest.skip("CRU test file not available")
    netCDF4 = pytest.importorskip("netCDF4")
    with netCDF4.Dataset(path) as ds:
        tas = np.ma.filled(ds["tas"][:].astype(np.float64), np.nan)
    land = np.isfinite(tas).all(axis=0)
    return tas[:, land]  # (360, n_land)


@pytest.mark.parametrize("variant", VARIANTS)
def test_cru_iberia_matches_pymannkendall(variant):
    monthly = _cru()
    if variant == "seasonal":
        X = monthly[:, ::2]
    else:
        X = monthly.reshape(30, 12, -1).mean(axis=1)  # annual means 1981-2010
    assert X.shape[1] > 50
    assert assert_matches_pmk(X, variant) == X.shape[1]


# --------------------------------------------------------------------------- confidence interval

@pytest.mark.parametrize("n", [10, 30, 100])
@pytest.mark.parametrize("ci_alpha", [0.05, 0.1])
def test_ci_equals_scipy_theilslopes(n, ci_alpha):
    rng = np.random.default_rng(n)
    X = np.round(rng.normal(size=(n, 40)) + 0.05 * np.arange(n)[:, None], 1)
    r = mann_kendall(X, ci_alpha=ci_alpha)
    for p in range(X.shape[1]):
        ts = stats.theilslopes(X[:, p], np.arange(n), alpha=1 - ci_alpha)
        assert r["slope"][p] == pytest.approx(ts[0], rel=1e-12, abs=1e-15)
        assert r["slope_lower"][p] == ts[2]
        assert r["slope_upper"][p] == ts[3]


def _brute(x, var_s, zci, period=None):
    """Reference: every slope materialised and sorted (original positions)."""
    if period is None:
        cols = [x]
    else:
        ny = -(-x.size // period)
        xp = np.concatenate([x, np.full(ny * period - x.size, np.nan)])
        cols = list(xp.reshape(ny, period).T)
    d = []
    for c in cols:
        i, j = np.triu_indices(c.size, 1)
        d.append((c[j] - c[i]) / (j - i))
    d = np.sort(np.concatenate(d))
    d = d[~np.isnan(d)]
    N = d.size
    C = zci * np.sqrt(var_s)
    lo = int(np.clip(np.round((N - C) / 2), 1, N)) - 1
    hi = int(np.clip(np.round((N + C) / 2) + 1, 1, N)) - 1
    med = d[(N - 1) // 2] if N % 2 else (d[N // 2 - 1] + d[N // 2]) / 2
    return med, d[lo], d[hi]


@pytest.mark.parametrize("kind", ["decimal", "integer", "continuous"])
def test_long_series_bracketing_exact(kind):
    rng = np.random.default_rng({"decimal": 1, "integer": 2, "continuous": 3}[kind])
    n, npix = 240, 120
    if kind == "integer":
        X = rng.integers(0, 6, size=(n, npix)).astype(float)          # heavy ties
        X += (np.arange(n)[:, None] * rng.integers(0, 2, npix) // 60)
    elif kind == "decimal":
        X = np.round(800 + rng.normal(0, 5, (n, npix)) + 0.02 * np.arange(n)[:, None], 1)
    else:
        X = rng.normal(size=(n, npix)).cumsum(axis=0)
    X[rng.random(X.shape) < 0.05] = np.nan
    X[:50, 0] = np.nan
    X[:, 1] = 3.0
    r = mann_kendall(X)
    zci = stats.norm.ppf(0.975)
    for p in range(npix):
        med, lo, hi = _brute(X[:, p], r["var_s"][p], zci)
        assert r["slope"][p] == med, (p, r["slope"][p], med)
        assert r["slope_lower"][p] == lo
        assert r["slope_upper"][p] == hi
    # and the rest of the bands against pymannkendall on a few pixels
    assert assert_matches_pmk(X[:, :12], "original") == 12


def test_seasonal_ci_brute_force():
    rng = np.random.default_rng(9)
    X = np.round(rng.normal(size=(120, 50)) + 0.01 * np.arange(120)[:, None], 1)
    X[rng.random(X.shape) < 0.05] = np.nan
    r = mann_kendall(X, "seasonal", ci_alpha=0.1)
    zci = stats.norm.ppf(0.95)
    for p in range(X.shape[1]):
        med, lo, hi = _brute(X[:, p], r["var_s"][p], zci, period=12)
        assert r["slope"][p] == med
        assert r["slope_lower"][p] == lo
        assert r["slope_upper"][p] == hi


# --------------------------------------------------------------------------- edge cases

def test_constant_series():
    r = mann_kendall(np.full(20, 7.5))
    assert (r["s"], r["var_s"], r["z"], r["p_value"], r["slope"], r["intercept"]) == \
        (0, 0, 0, 1, 0, 7.5)
    assert r["trend"] == 0
    assert r["slope_lower"] == r["slope_upper"] == 0


def test_two_values():
    r = mann_kendall(np.array([1.0, 2.0]), min_valid=2)
    assert (r["s"], r["var_s"], r["z"], r["p_value"], r["slope"]) == (1, 1, 0, 1, 1)
    assert r["intercept"] == 1.0
    r = mann_kendall(np.array([1.0, 2.0]))  # default min_valid=3
    assert np.isnan(r["slope"]) and r["n_valid"] == 2


def test_leading_nans_intercept():
    r = mann_kendall(np.array([np.nan, np.nan, 1.0, 2.0]), min_valid=2)
    assert r["intercept"] == -1.0
    assert r["slope"] == 1.0


def test_guards_and_shapes():
    rng = np.random.default_rng(0)
    cube = np.round(rng.normal(size=(15, 4, 5)), 1)
    cube[:, 0, 0] = np.nan
    cube[1:, 1, 1] = np.nan  # n = 1 must not raise
    r = mann_kendall(cube)
    for b in TREND_BANDS:
        assert r[b].shape == (4, 5) and r[b].dtype == np.float64
    assert r["n_valid"][0, 0] == 0 and r["n_valid"][1, 1] == 1
    for b in TREND_BANDS:
        if b != "n_valid":
            assert np.isnan(r[b][0, 0]) and np.isnan(r[b][1, 1])
    flat = mann_kendall(cube.reshape(15, 20))
    one = mann_kendall(cube[:, 2, 3])
    for b in TREND_BANDS:
        np.testing.assert_array_equal(flat[b].reshape(4, 5), r[b])
        assert one[b].shape == ()
        assert one[b] == r[b][2, 3]
    with pytest.raises(ValueError):
        mann_kendall(cube, min_valid=1)
    with pytest.raises(ValueError):
        mann_kendall(cube, variant="nope")


def test_threads_progress_cancel():
    """The default (serial, in the calling thread) and two thread lanes give the same
    bits; both report monotone progress up to 1 and honour Cancel."""
    rng = np.random.default_rng(1)
    X = np.round(rng.normal(size=(30, 3000)), 1)
    serial_seen = []
    a = mann_kendall(X, block_pixels=256, progress=serial_seen.append)
    assert len(serial_seen) == 12 and serial_seen[-1] == 1.0 and serial_seen == sorted(serial_seen)
    seen = []
    with Workers(2, helpers=False) as w:
        b = mann_kendall(X, block_pixels=256, progress=seen.append, workers=w)
    for band in TREND_BANDS:
        np.testing.assert_array_equal(a[band], b[band])
    assert seen and seen[-1] == pytest.approx(1.0) and seen == sorted(seen)
    with pytest.raises(Cancelled):
        mann_kendall(X, block_pixels=256, cancelled=lambda: True)
    for workers in (None, Workers(2, helpers=False)):
        calls = []

        def cancel_later():
            calls.append(1)
            return len(calls) > 3

        done = []
        with pytest.raises(Cancelled):
            mann_kendall(X, block_pixels=128, cancelled=cancel_later, progress=done.append,
                         workers=workers)
        assert done and done[-1] < 1.0  # stopped before the last of the 24 blocks


def test_no_blocks_reports_done():
    seen = []
    r = mann_kendall(np.full((10, 4), np.nan), progress=seen.append)
    assert seen == [1.0] and np.all(r["n_valid"] == 0)


def test_kernel_importable_by_name_and_no_scheduler_import():
    """Helper processes import the block kernel by module and function name; the
    trends package itself imports no scheduler (the caller passes its workers)."""
    import ast
    import importlib
    import subprocess
    import sys

    from ecoresp_core.trends import statistic
    fn = statistic.process_block
    assert getattr(importlib.import_module(fn.__module__), fn.__name__) is fn
    code = ("import importlib, sys; m = importlib.import_module(sys.argv[1]); "
            "getattr(m, sys.argv[2]); import ecoresp_core.trends.trend; "
            "assert not [k for k in sys.modules if k.startswith('ecoresp_core') and ('parallel' in k or 'jobs' in k)]")
    subprocess.run([sys.executable, "-c", code, fn.__module__, fn.__name__], check=True,
                   cwd=os.path.dirname(os.path.dirname(HERE)))
    pkg = os.path.dirname(statistic.__file__)
    for name in os.listdir(pkg):
        if name.endswith(".py"):
            tree = ast.parse(open(os.path.join(pkg, name)).read())
            mods = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
            mods += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
            assert not [m for m in mods if "parallel" in m or "jobs" in m], (name, mods)


# --------------------------------------------------------------------------- fast paths

def _check_brute(X, r, zci=None, period=None):
    zci = stats.norm.ppf(0.975) if zci is None else zci
    for p in range(X.shape[1]):
        if np.count_nonzero(~np.isnan(X[:, p])) < 3:
            continue
        med, lo, hi = _brute(X[:, p], r["var_s"][p], zci, period=period)
        assert r["slope"][p] == med, (p, r["slope"][p], med)
        assert r["slope_lower"][p] == lo, (p, r["slope_lower"][p], lo)
        assert r["slope_upper"][p] == hi, (p, r["slope_upper"][p], hi)


@pytest.mark.parametrize("kind", ["huge", "tiny", "mixed_scale", "offset", "subnormal_mix",
                                  "edge_ties", "inf_slopes"])
def test_long_series_float32_screening_adversarial(kind):
    """Long path (float32 screening + exact float64 recompute) on adversarial data:
    magnitudes near and beyond the float32 screening limits (1e30 / 1e-30), a large
    offset (float32 cannot resolve the differences: everything is recomputed), a mix
    of subnormal and normal values, many slopes exactly tied at the bracket ends, and
    overflowing (infinite) slopes."""
    rng = np.random.default_rng(hash(kind) % 2 ** 32)
    n, npix = 150, 24
    base = rng.integers(0, 7, size=(n, npix)).astype(float) + 0.01 * np.arange(n)[:, None]
    if kind == "huge":
        X = base * np.array([1e29, 3e29, 1e30, 2e30, 1e31, 1e35] * 4)[None, :]
    elif kind == "tiny":
        X = base * np.array([1e-29, 3e-30, 1e-30, 5e-31, 1e-33, 1e-40] * 4)[None, :]
    elif kind == "mixed_scale":
        X = base * 10.0 ** rng.integers(-30, 30, size=(1, npix))
        X[::7, ::2] *= 1e20
    elif kind == "offset":
        X = 1e6 + np.round(rng.normal(size=(n, npix)), 1) + 0.001 * np.arange(n)[:, None]
    elif kind == "subnormal_mix":
        X = base * 1e-30
        X[rng.random(X.shape) < 0.3] = 5e-324 * rng.integers(1, 50)
    elif kind == "edge_ties":
        # integer steps: slopes take few distinct values, with huge multiplicities
        X = np.repeat(rng.integers(0, 3, size=(n // 10, npix)), 10, axis=0).astype(float)
        X += (np.arange(n)[:, None] // 30)
    else:  # inf_slopes: differences overflow float64
        X = rng.choice([-1.7e308, 1.7e308, 0.0, 1.0], size=(n, npix))
    X[rng.random(X.shape) < 0.05] = np.nan
    r = mann_kendall(X)
    _check_brute(X, r)


def test_long_series_bracket_miss_falls_back(monkeypatch):
    """Brackets that miss the targets (negative width) or overflow the gather cap
    must fall back to the exact float64 path and give the same answer."""
    from ecoresp_core.trends import selection as tr
    rng = np.random.default_rng(4)
    X = np.round(800 + rng.normal(0, 5, (200, 30)) + 0.03 * np.arange(200)[:, None], 1)
    X[rng.random(X.shape) < 0.05] = np.nan
    ref = mann_kendall(X)
    _check_brute(X, ref)
    called = []
    orig = tr._sen_long

    def spy(*a, **k):
        called.append(a[0].shape[0])
        return orig(*a, **k)

    monkeypatch.setattr(tr, "_sen_long", spy)
    monkeypatch.setattr(tr, "_ZQ", -6.0)
    monkeypatch.setattr(tr, "_ZQ_TIGHT", -6.0)
    miss = mann_kendall(X)
    assert called and sum(called) > 0
    for b in TREND_BANDS:
        np.testing.assert_array_equal(miss[b], ref[b])


def test_seasonal_long_path_matches():
    """30 years of monthly values: the seasonal slope set (5220 pairs) uses the
    bracketing path."""
    rng = np.random.default_rng(12)
    X = np.round(rng.normal(size=(360, 24)) * 3 + 0.01 * np.arange(360)[:, None]
                 + 5 * np.sin(np.arange(360) * np.pi / 6)[:, None], 1)
    X[rng.random(X.shape) < 0.05] = np.nan
    X[:48, 0] = np.nan
    X[:, 1] = 2.0
    r = mann_kendall(X, "seasonal", ci_alpha=0.1)
    _check_brute(X, r, zci=stats.norm.ppf(0.95), period=12)
    assert assert_matches_pmk(X[:, :8], "seasonal") == 8


@pytest.mark.parametrize("kind", ["inf_slopes", "tiny_range", "ties"])
def test_short_series_radix_select_edge_cases(kind):
    """Short path (16-bit radix keys): non-finite or degenerate slope ranges."""
    rng = np.random.default_rng(21)
    n, npix = 25, 40
    if kind == "inf_slopes":
        X = rng.choice([-1.7e308, 1.7e308, 0.0, 3.0], size=(n, npix))
    elif kind == "tiny_range":
        X = 1.0 + rng.integers(0, 3, size=(n, npix)) * 2.0 ** -52
        X[:, :5] = 5e-324 * rng.integers(0, 4, size=(n, 5))
    else:
        X = rng.integers(0, 2, size=(n, npix)).astype(float)
    X[rng.random(X.shape) < 0.1] = np.nan
    r = mann_kendall(X)
    _check_brute(X, r)


@pytest.mark.parametrize("chunk,nb", [(1, 16), (1 << 12, 2048), (1 << 19, 4096), (1 << 30, 64)])
@pytest.mark.parametrize("kind", ["noise", "edge_ties", "gaps", "seasonal"])
def test_long_path_chunks_and_buckets(monkeypatch, kind, chunk, nb):
    """The long path's dense pass runs over chunks of pixels and buckets the kept
    slopes: every chunk size (one pixel per chunk up to the whole block) and bucket
    count gives the brute-force slopes, bit for bit the same result, and the folded
    float32 pass (not its float64 fallback) does the work.  Data with heavy ties (many
    slopes exactly at the bracket ends), long gaps and the seasonal layout (12 groups)
    are covered."""
    from ecoresp_core.trends import selection as tr
    rng = np.random.default_rng(31)
    n, npix = 130, 17
    if kind == "noise":
        X = np.round(800 + rng.normal(0, 5, (n, npix)) + 0.05 * np.arange(n)[:, None], 1)
    elif kind == "edge_ties":
        X = np.repeat(rng.integers(0, 3, size=(n // 10, npix)), 10, axis=0).astype(float)
        X += np.arange(n)[:, None] // 40
    elif kind == "gaps":
        X = rng.integers(0, 50, size=(n, npix)).astype(float) * 0.25 + 0.1 * np.arange(n)[:, None]
        X[10:60, ::3] = np.nan
        X[-30:, 1::4] = np.nan
    else:
        n = 360
        X = np.round(rng.normal(size=(n, npix)) * 3 + 0.01 * np.arange(n)[:, None]
                     + 5 * np.sin(np.arange(n) * np.pi / 6)[:, None], 1)
        X[:37, 0] = np.nan
    X[rng.random(X.shape) < 0.05] = np.nan
    period = 12 if kind == "seasonal" else None
    variant = "seasonal" if period else "original"
    ref = mann_kendall(X, variant)
    called = []
    orig = tr._sen_long

    def spy(*a, **k):
        called.append(a[0].shape[0])
        return orig(*a, **k)

    monkeypatch.setattr(tr, "_sen_long", spy)
    monkeypatch.setattr(tr, "_FOLD_CHUNK", chunk)
    monkeypatch.setattr(tr, "_FOLD_NB", nb)
    r = mann_kendall(X, variant, block_pixels=5)
    _check_brute(X, r, period=period)
    for b in TREND_BANDS:
        np.testing.assert_array_equal(r[b], ref[b])
    if kind != "edge_ties":  # heavy ties may legitimately miss the sampled bracket
        assert sum(called) <= 1


def test_long_series_mk_score_from_slope_signs(monkeypatch):
    """Long series: the Mann-Kendall S comes from the signs of the float32 slopes of the
    dense pass for pixels whose values are all float32 (and not tiny), from the lag-wise
    count for the others; both equal the brute-force S, and the mix in one block too.
    Pixels without a trend (0 inside the bracket) count the positive slopes from the
    classification instead of a dense pass: equal too."""
    rng = np.random.default_rng(17)
    n, npix = 200, 30
    t = np.arange(n)[:, None]
    X = np.round(rng.normal(size=(n, npix)) * 3 + 0.01 * t, 1).astype(np.float32).astype(float)
    X[:, 5:10] = np.round(rng.normal(size=(n, 5)) + 0.005 * t, 3)  # not float32
    X[:, 10:13] = X[:, 10:13] * 1e-32  # below 2**-100 (signs not trusted)
    X[:, 13:16] = rng.integers(0, 3, size=(n, 3))  # heavy ties
    X[::7, 16] = 0.0
    X[:, 20:26] = np.round(rng.normal(size=(n, 6)) * 3, 1)  # no trend: 0 inside the bracket
    X[:, 26:28] = rng.integers(0, 4, size=(n, 2))  # no trend, heavy ties
    X[rng.random(X.shape) < 0.05] = np.nan
    from ecoresp_core.trends import selection as tr
    seen = []
    orig = tr._fold_pick

    def spy(*a, **k):
        if k.get("pos") is not None:
            seen.append(int(np.count_nonzero(k["pos"])))
        return orig(*a, **k)

    monkeypatch.setattr(tr, "_fold_pick", spy)
    r = mann_kendall(X)
    assert sum(seen) >= 8  # the no-trend pixels took S from the classification counts
    for p in range(npix):
        x = X[:, p]
        i, j = np.triu_indices(n, 1)
        ok = ~np.isnan(x[i]) & ~np.isnan(x[j])
        assert r["s"][p] == np.sign(x[j][ok] - x[i][ok]).sum(), p
    assert assert_matches_pmk(X[:, ::5], "original") == 6


def test_long_path_open_bracket(monkeypatch):
    """Brackets open at one or both ends (infinite L / U) keep every slope on that
    side: the folded pass still selects exactly, without the float64 fallback."""
    from ecoresp_core.trends import selection as tr
    rng = np.random.default_rng(8)
    X = np.round(800 + rng.normal(0, 5, (120, 12)) + 0.04 * np.arange(120)[:, None], 1)
    X[rng.random(X.shape) < 0.05] = np.nan
    ref = mann_kendall(X)
    orig_bracket = tr._chunk_bracket
    orig_long = tr._sen_long
    called = []

    def wide(*a, **k):
        L, U = orig_bracket(*a, **k)
        L[::2] = -np.inf
        U[::3] = np.inf
        return L, U

    def spy(*a, **k):
        called.append(a[0].shape[0])
        return orig_long(*a, **k)

    monkeypatch.setattr(tr, "_chunk_bracket", wide)
    monkeypatch.setattr(tr, "_sen_long", spy)
    r = mann_kendall(X)
    assert sum(called) == 0
    _check_brute(X, r)
    for b in TREND_BANDS:
        np.testing.assert_array_equal(r[b], ref[b])


@pytest.mark.parametrize("n", [12, 30, 45])
def test_short_series_tied_key_classes(n):
    """Short path: slopes with huge multiplicities (few distinct values, gaps), so
    the target ranks fall inside, at the start and at the end of runs of equal
    16-bit keys; every pixel equals brute force and pymannkendall."""
    rng = np.random.default_rng(n)
    npix = 300
    X = rng.integers(0, 4, size=(n, npix)).astype(float)
    X[:, ::3] = np.round(X[:, ::3] * 0.1 + 0.05 * np.arange(n)[:, None], 2)
    X[:, 1::5] = 1e-3 * rng.integers(0, 2, size=(n, 1))  # two values only
    X[rng.random(X.shape) < 0.15] = np.nan
    X[: n // 2, 7] = np.nan
    r = mann_kendall(X, ci_alpha=0.3)
    _check_brute(X, r, zci=stats.norm.ppf(0.85))
    assert assert_matches_pmk(X[:, :12], "original") == 12
