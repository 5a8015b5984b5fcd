"""The fast trend engine (ecoresp_core.trends) against the brute-force oracle trend_reference.py:
random series with ties and gaps, sized to take every selection path (short radix keys,
long folded float32 pass with and without the Mann-Kendall S from the slope signs, the
exact float64 bracketing fallback, the float32-sort fallback for huge values)."""

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from trend_reference import reference, reference_cube  # noqa: E402

from ecoresp_core.trends import selection  # noqa: E402
from ecoresp_core.trends.trend import TREND_BANDS, mann_kendall  # noqa: E402

EXACT = ("s", "var_s", "tau", "z", "trend", "n_valid", "slope", "slope_lower", "slope_upper",
         "intercept")


def _series(seed, n, npix, decimals=1, gap=0.08, f32=False):
    """Random walks plus trends, rounded (ties), with random gaps and a few odd pixels."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None]
    X = rng.normal(size=(n, npix)).cumsum(axis=0) * 0.5 + t * rng.normal(0, 0.05, npix)
    X = np.round(X, decimals)
    X[rng.random(X.shape) < gap] = np.nan
    X[: n // 3, 0] = np.nan  # leading gap
    X[:, 1] = np.round(rng.integers(0, 3, n) * 0.5, 1)  # heavy ties
    if f32:
        X = X.astype(np.float32).astype(np.float64)
    return X


def _spy(monkeypatch, name):
    """Record the calls of selection.<name> (their first argument's row count and result)."""
    calls = []
    orig = getattr(selection, name)

    def spy(*a, **k):
        res = orig(*a, **k)
        calls.append((a[0].shape[0], res))
        return res

    monkeypatch.setattr(selection, name, spy)
    return calls


def _assert_equal_to_reference(X, variant="original", exact=EXACT, rtol=0.0, **kw):
    got = mann_kendall(X, variant, **kw)
    ref = reference_cube(X, variant, **kw)
    for b in TREND_BANDS:
        if b in exact:
            np.testing.assert_array_equal(got[b], ref[b], err_msg=f"{variant} {b}")
        else:
            np.testing.assert_allclose(got[b], ref[b], rtol=rtol or 1e-12, atol=1e-15,
                                       err_msg=f"{variant} {b}")
    return got


def test_reference_worked_examples():
    """The oracle itself on hand-checked values (docs/methods.md section 14.4)."""
    r = reference([2, 1, 3, 3, 5, 4, 6, 6, 7, 9])
    assert (r["s"], r["var_s"]) == (39, 123.0)
    assert r["slope"] == pytest.approx(0.777778, abs=1e-6) and r["intercept"] == 1.0
    r = reference([1, np.nan, 2, 4, 3, np.nan, 6])
    assert (r["s"], r["n_valid"], r["slope"], r["intercept"]) == (8, 5, 0.75, 0.75)
    assert r["z"] == pytest.approx(1.714643, abs=1e-6) and r["trend"] == 0
    r = reference([1.0, 2.0])
    assert np.isnan(r["slope"]) and r["n_valid"] == 2


@pytest.mark.parametrize("n", [7, 12, 30, 45])
def test_short_path_equals_reference(n):
    assert n * (n - 1) // 2 <= selection.LONG_PAIRS
    X = _series(n, n, 150, decimals=0 if n < 20 else 1)
    _assert_equal_to_reference(X, ci_alpha=0.1)


def test_short_path_huge_values_equal_reference(monkeypatch):
    """Values beyond the float32 range: the radix keys give way to the float32-sort
    selection (_select)."""
    calls = _spy(monkeypatch, "_select")
    X = _series(3, 30, 40)
    X[:, ::3] *= 1e300
    _assert_equal_to_reference(X)
    assert calls


@pytest.mark.parametrize("n,f32", [(80, False), (200, True), (200, False)])
def test_long_path_equals_reference(monkeypatch, n, f32):
    """Long slope sets: the folded float32 pass; with n = 200 float32 values the
    Mann-Kendall S comes from the slope signs (at least _FOLD_MK_MIN folded cells)."""
    assert n * (n - 1) // 2 > selection.LONG_PAIRS
    assert ((n // 2) * n >= selection._FOLD_MK_MIN) == (n == 200)
    fold = _spy(monkeypatch, "_sen_fold")
    long = _spy(monkeypatch, "_sen_long")
    X = _series(n + f32, n, 24, f32=f32)
    _assert_equal_to_reference(X)
    assert fold and sum(rows for rows, _ in long) <= 1  # the folded pass did the work (heavy ties may miss)
    s_from_signs = sum(int(np.count_nonzero(res[3])) for _, res in fold)
    assert (s_from_signs >= 20) == (n == 200 and f32)  # (pixel 1 holds float32 values anyway)


def test_long_path_fallbacks_equal_reference(monkeypatch):
    """Pixels with values above 1e37 go to the exact float64 bracketing pass; brackets
    that miss every target (negative widths) send all pixels there too."""
    long = _spy(monkeypatch, "_sen_long")
    X = _series(5, 90, 16)
    X[:, 2:6] *= 3e37
    _assert_equal_to_reference(X)
    assert sum(rows for rows, _ in long) == 4
    monkeypatch.setattr(selection, "_ZQ", -6.0)
    monkeypatch.setattr(selection, "_ZQ_TIGHT", -6.0)
    _assert_equal_to_reference(_series(6, 90, 12))
    assert sum(rows for rows, _ in long) >= 4 + 11


@pytest.mark.parametrize("n", [120, 245])
def test_seasonal_equals_reference(n):
    """Monthly data: 10 cycles (short path) and 21 cycles (long path, 2520 pairs)."""
    ny = -(-n // 12)
    assert (12 * ny * (ny - 1) // 2 > selection.LONG_PAIRS) == (n == 245)
    X = _series(n, n, 24)
    X += 3 * np.sin(np.arange(n) * np.pi / 6)[:, None]
    _assert_equal_to_reference(X, "seasonal", ci_alpha=0.1)


@pytest.mark.parametrize("lag", [None, 3])
@pytest.mark.parametrize("variant", ["yue_wang", "hamed_rao"])
@pytest.mark.parametrize("n", [30, 70])
def test_autocorrelation_variants_equal_reference(variant, lag, n):
    """The corrected variances sum the ACF in another order: equal to rounding (z, p
    follow); S, tau and the Sen slope are the original ones, exactly."""
    X = _series(n + 7, n, 30)
    X[:, 1] = np.nan  # keep away the constant-detrended tie pixels (NaN ACF by design)
    X[: n - 2, 2] = np.nan  # fewer than min_valid
    exact = ("s", "tau", "trend", "n_valid", "slope", "slope_lower", "slope_upper", "intercept")
    _assert_equal_to_reference(X, variant, exact=exact, rtol=1e-9, lag=lag)
