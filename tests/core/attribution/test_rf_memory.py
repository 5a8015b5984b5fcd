"""rfattribution's memory budget (issue 15): trees store only their occupied nodes, so a forest's
size grows with depth times steps, not 2**depth; the estimate (``pixel_bytes``) sizes the chunks
and refuses up front a forest of which one pixel does not fit; a run's resident memory stays within
its budget (slow test, measured in a subprocess)."""

import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from ecoresp_core.attribution import rfattribution as rf
from ecoresp_core.errors import InputError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def test_tree_nodes_bounded_by_steps():
    assert rf.tree_nodes(6, 30) == 1 + 2 + 4 + 8 + 16 + 30 + 30
    assert rf.tree_nodes(16, 30) == 1 + 2 + 4 + 8 + 16 + 30 * 12  # not 2**17 - 1
    # the stored forest has exactly those nodes (interior ones in feat/thr, leaves in leaf)
    rng = np.random.default_rng(1)
    B, t, m = 20, 30, 3
    xb = rng.normal(size=(B, t, m))
    wb = np.ones((B, t))
    rank = np.argsort(np.argsort(xb, axis=1), axis=1)
    ids = np.arange(B)
    forest, leaf = rf._grow(xb, xb[:, :, 0], wb, rank, 16, 1, m, 0, ids, ids)
    assert forest.feat.shape == (B, rf.tree_nodes(15, t)) and forest.leaf.shape == (B, t)
    # grown fully on distinct values: every sample alone in its leaf, predicted exactly
    np.testing.assert_allclose(forest.values(leaf), xb[:, :, 0])


def test_refused_up_front_when_one_pixel_does_not_fit():
    er = np.random.default_rng(0).normal(size=(26, 4))
    x = np.random.default_rng(1).normal(size=(3, 26, 4))
    need = rf.pixel_bytes(5000, 16, 26, 3) / 2 ** 20
    assert 60 < need < 120  # tens of MB per pixel (complete trees of depth 16 needed ~8 GB)
    t0 = time.perf_counter()
    with pytest.raises(InputError, match=r"one pixel's random forest \(5000 trees of depth up to 16 on 26 time "
                                         rf"steps, 3 drivers\) needs about {need:.0f} MB of working memory, more than "
                                         r"the memory budget of 32 MB for it: lower the number of trees or the "
                                         r"maximum depth, or raise the memory budget"):
        rf.rf_importance(er, x, n_trees=5000, max_depth=16, budget_mb=32)
    assert time.perf_counter() - t0 < 0.5  # before any tree is grown
    with pytest.raises(InputError, match="more than the memory budget of 16 MB"):
        rf.check_memory(1000, 16, 360, 3, 16)
    assert rf.check_memory(100, 6, 30, 3, 16) == rf.pixel_bytes(100, 6, 30, 3)


def test_estimate_covers_the_measured_peak():
    import tracemalloc

    rng = np.random.default_rng(2)
    for trees, depth, t, m, share in [(300, 16, 30, 4, 1.0), (200, 12, 120, 3, 1.0), (200, 16, 30, 6, 0.5)]:
        er, x = rng.normal(size=(t, 1)), rng.normal(size=(m, t, 1))
        tracemalloc.start()
        rf.rf_importance(er, x, n_trees=trees, max_depth=depth, max_features=share, budget_mb=None)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        est = rf.pixel_bytes(trees, depth, t, m, share < 1)
        assert 0.5 * est < peak <= est, (trees, depth, t, m, peak / est)


def test_chunks_fit_the_budget():
    rng = np.random.default_rng(3)
    er, x = rng.normal(size=(30, 40)), rng.normal(size=(3, 30, 40))
    per = rf.pixel_bytes(200, 8, 30, 3) / 2 ** 20
    calls = []
    rf.rf_importance(er, x, n_trees=200, max_depth=8, budget_mb=3.5 * per, progress=calls.append)
    assert len(calls) == 14  # chunks of 3 pixels: 40 pixels in 14 chunks
    a = rf.rf_importance(er, x, n_trees=200, max_depth=8, budget_mb=None)["importance"]
    b = rf.rf_importance(er, x, n_trees=200, max_depth=8, budget_mb=3.5 * per)["importance"]
    np.testing.assert_array_equal(a, b)


PEAK = textwrap.dedent("""
    import json, sys
    import numpy as np
    sys.path.insert(0, sys.argv[1])
    from ecoresp_core.attribution import rfattribution as rf

    def hwm_mb():  # peak resident memory of this process image (ru_maxrss would include the parent's at exec)
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) / 1024

    rng = np.random.default_rng(0)
    er, x = rng.normal(size=(30, 8)), rng.normal(size=(3, 30, 8))
    rf.rf_importance(er[:, :1], x[:, :, :1], n_trees=20, max_depth=16)  # warm-up: code paths loaded
    before = hwm_mb()
    rf.rf_importance(er, x, n_trees=int(sys.argv[2]), max_depth=16, budget_mb=float(sys.argv[3]))
    print(json.dumps({"before_mb": before, "growth_mb": hwm_mb() - before}))
""")


@pytest.mark.slow  # a few seconds of forests in a fresh process
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads VmHWM from /proc")
def test_resident_memory_stays_within_budget():
    """The tester's settings (depth 16; 2000 trees here, to keep it short) with a 48 MB budget:
    the peak resident memory grows by at most the budget plus 16 MB (allocator, small arrays);
    the same run with complete trees of depth 16 needed about 2000 * 2**17 * 24 bytes = 6 GB."""
    budget, margin = 48, 16
    proc = subprocess.run([sys.executable, "-c", PEAK, REPO, "2000", str(budget)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    growth = json.loads(proc.stdout)["growth_mb"]
    assert rf.pixel_bytes(2000, 16, 30, 3) < budget * 2 ** 20 < 2 * rf.pixel_bytes(2000, 16, 30, 3)  # 1 pixel
    assert 5 < growth <= budget + margin, proc.stdout
