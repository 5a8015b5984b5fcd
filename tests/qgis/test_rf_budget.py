"""ecoresp:rfattribution's resource budgets through qgis_process (issue 15): a forest of which one
pixel does not fit the memory budget is refused before anything is computed, with a message naming
N_TREES, MAX_DEPTH and MEMORY_MB; the compute budget (MAX_SECONDS) stops a run whose single block
holds the whole grid (it used to be checked only between blocks), writing nothing."""

import os
import time

import numpy as np
import pytest
from conftest import HAS_QGIS_PROCESS, annual_dates, write_stack

pytestmark = [pytest.mark.qgis, pytest.mark.skipif(not HAS_QGIS_PROCESS, reason="needs qgis_process")]


def stacks(tmp_path, years=26, ny=16, nx=26):
    """Annual ER and 3 drivers on a 26 x 16 grid (the tester's case), ER driven by the first."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, years, ny, nx))
    er = 2 * x[0] + 0.5 * rng.normal(size=(years, ny, nx))
    dates = annual_dates(1990, years)
    drivers = [write_stack(tmp_path / f"d{j}.tif", x[j], dates) for j in range(3)]
    return write_stack(tmp_path / "er.tif", er, dates), drivers


def run(qgis_process, tmp_path, *extra):
    er, drivers = stacks(tmp_path)
    out, dom = tmp_path / "rf.tif", tmp_path / "dom.tif"
    t0 = time.perf_counter()
    proc = qgis_process("run", "ecoresp:rfattribution", "--", f"INPUT={er}", *[f"DRIVERS={d}" for d in drivers],
                        "MODE=2", "N_TREES=5000", "MAX_DEPTH=16", f"OUTPUT={out}", f"DOMINANT={dom}", *extra)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 1, text[-2000:]
    assert "Traceback" not in text, text[-3000:]
    inputs = ("er.tif", "d0.tif", "d1.tif", "d2.tif")
    left = [f for f in os.listdir(tmp_path) if f not in inputs and not f.endswith(".tif.aux.xml")]
    assert left == [], left  # no output, no partial file
    return text, time.perf_counter() - t0


def test_memory_refused_up_front(qgis_process, tmp_path):
    text, _ = run(qgis_process, tmp_path, "MEMORY_MB=32")
    assert "Number of trees per pixel (N_TREES) 5000 with Maximum tree depth (MAX_DEPTH) 16" in text, text[-2000:]
    assert "(26 time steps, 3 drivers) needs about 89 MB" in text, text[-2000:]
    assert "more than the 32 MB that Memory budget for raster blocks (MB) (MEMORY_MB) = 32 gives it" in text
    assert "raise Memory budget for raster blocks (MB) (MEMORY_MB) to at least 89" in text


def test_compute_budget_checked_within_a_block(qgis_process, tmp_path):
    # the whole 26 x 16 grid is one block; 5000 trees of depth 16 take about 2 s per pixel here
    text, seconds = run(qgis_process, tmp_path, "MEMORY_MB=1024", "MAX_SECONDS=1")
    assert "Compute budget in seconds (0 = no limit) (MAX_SECONDS): the budget of 1 s was spent after" in text, \
        text[-2000:]
    assert "stopped, no output was written" in text
    assert seconds < 60, seconds  # stopped after the first pixels, not after the 416 pixels (~15 min)
