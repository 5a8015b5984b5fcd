"""Tests of ecoresp_core.jobs.parallel: helper processes give the same bits as local
computation, fall back to local computation when they fail, and never outlive the call."""

import sys

import numpy as np
import pytest

from ecoresp_core.jobs import parallel
from ecoresp_core.errors import Cancelled
from ecoresp_core.jobs.parallel import Workers, helper_python
from ecoresp_core.trends.trend import TREND_BANDS, mann_kendall


@pytest.fixture(autouse=True)
def small_jobs_use_helpers(monkeypatch):
    """Small test cubes take the helper path too (the default threshold is ~1 s of work)."""
    from ecoresp_core.trends import trend
    monkeypatch.setattr(trend, "_HELPER_MIN_PAIRS", 0)


def _monthly(npix, seed=3):
    """360 monthly steps (the long slope path), ties (0.1 rounding) and 5 % gaps."""
    rng = np.random.default_rng(seed)
    t = np.arange(360)[:, None]
    x = 800 + rng.normal(0, 0.05, npix) * t + rng.normal(0, 5, (360, npix))
    x = np.round(x, 1).astype(np.float32)
    x[rng.random(x.shape) < 0.05] = np.nan
    return x


def test_helper_python_is_this_python():
    py = helper_python()
    assert py is not None
    import subprocess
    out = subprocess.run([py, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == str(tuple(sys.version_info[:2]))


def test_helpers_same_bits_as_threads_and_closed_after():
    X = _monthly(1200)
    with Workers(2, helpers=False) as threads:
        local = mann_kendall(X, workers=threads, block_pixels=100)
    with Workers(2) as w:
        assert w.use_helpers
        r = mann_kendall(X, workers=w, block_pixels=100)
        assert w.helper_blocks > 0 and not w.helper_failures
        procs = [h.proc for h in w._helpers if h is not None]
        assert procs and all(p.poll() is None for p in procs)  # kept across calls
        r2 = mann_kendall(X[:, :600], workers=w, block_pixels=100)
    assert all(p.poll() == 0 for p in procs)  # closed with the Workers, exit status 0
    for b in TREND_BANDS:
        np.testing.assert_array_equal(r[b], local[b], err_msg=b)
        np.testing.assert_array_equal(r2[b], local[b][:600], err_msg=b)


def test_short_series_and_small_jobs_stay_in_threads(monkeypatch):
    X = np.round(np.random.default_rng(0).normal(size=(30, 4000)), 1)
    with Workers(2) as w:
        mann_kendall(X, workers=w, block_pixels=256)
        assert w.helper_blocks == 0 and all(h is None for h in w._helpers)
    from ecoresp_core.trends import trend
    monkeypatch.setattr(trend, "_HELPER_MIN_PAIRS", 3 * 10 ** 8)
    with Workers(2) as w:  # 1200 pixels x 64 620 pairs: less than a helper's start-up is worth
        mann_kendall(_monthly(1200), workers=w, block_pixels=100)
        assert w.helper_blocks == 0 and all(h is None for h in w._helpers)


@pytest.mark.parametrize("python", ["/bin/false", None])
def test_failed_helper_falls_back_to_local(monkeypatch, python):
    monkeypatch.setattr(parallel, "helper_python", lambda: python)
    X = _monthly(600)
    with Workers(1) as one:
        local = mann_kendall(X, workers=one, block_pixels=100)
    with Workers(2) as w:
        r = mann_kendall(X, workers=w, block_pixels=100)
        assert w.helper_blocks == 0 and len(w.helper_failures) == 1
        assert ("no Python" in w.helper_failures[0]) if python is None else ("failed" in w.helper_failures[0])
    for b in TREND_BANDS:
        np.testing.assert_array_equal(r[b], local[b], err_msg=b)


def test_helper_runs_named_core_function():
    names = [f"pkg{i}.ecoresp_core.m{i}" for i in range(8)]
    res = {}
    with Workers(2) as w:
        w.run(parallel._core_module, names, lambda b: (b,), res.__setitem__, heavy=True)
        assert w.helper_blocks > 0
    assert res == {n: n.split(".", 1)[1] for n in names}


def test_error_in_helper_is_raised_as_the_local_error():
    """A block that fails in the helper is recomputed locally, so the caller sees the
    real exception (not a helper message)."""
    with Workers(2) as w:
        with pytest.raises(ValueError, match="not a module of ecoresp_core"):
            w.run(parallel._core_module, ["not_core"] * 6, lambda b: (b,), lambda b, r: None, heavy=True)


def test_cancel_closes_helpers():
    X = _monthly(1200)
    calls = []

    def cancel_later():
        calls.append(1)
        return len(calls) > 4

    with Workers(2) as w:
        with pytest.raises(Cancelled):
            mann_kendall(X, workers=w, block_pixels=50, cancelled=cancel_later)
        procs = [h.proc for h in w._helpers if h is not None]
        assert procs  # a helper was running when Cancel came
    assert all(p.poll() is not None for p in procs)


def test_env_disables_helpers(monkeypatch):
    monkeypatch.setenv("ECORESP_HELPERS", "0")
    assert not Workers(2).use_helpers
    monkeypatch.delenv("ECORESP_HELPERS")
    assert Workers(2).use_helpers and not Workers(1).use_helpers
