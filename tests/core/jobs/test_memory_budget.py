"""The memory budget of a raster job holds with GDAL's block cache counted in it: a detrend and a
trend of a 360-band stack larger than the budget, each in a fresh process (GDAL's default cache
is 5 % of the machine's memory), peak at most the budget above the process's size before the
job (VmHWM - VmRSS from /proc, Linux), plus a fixed allowance of 64 MB for what no budget
holds (GDAL's tile decompression buffers, thread stacks, numpy's temporaries of the kernels).
Before the cache was counted (issue 15) the detrend grew by 1.1 GB with a 128 MB budget."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="Linux /proc")]

CHILD = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import numpy  # noqa: F401  (the imports count in the base size, not in the job)
from osgeo import gdal  # noqa: F401
from ecoresp_core.io.series import open_series
from ecoresp_core.jobs.detrend import detrend_raster
from ecoresp_core.jobs.trend import trend_raster

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024.0
src = open_series(sys.argv[2])
base = status("VmRSS")
job = {"detrend": detrend_raster, "trend": trend_raster}[sys.argv[4]]
job(src, sys.argv[3], budget_mb=float(sys.argv[5]))
print(json.dumps({"base_mb": base, "peak_mb": status("VmHWM")}))
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """360 monthly bands of 240 x 720 float32 cells (250 MB of values)."""
    from osgeo import gdal
    path = str(tmp_path_factory.mktemp("mem") / "stack.tif")
    t, rows, cols = 360, 240, 720
    options = ["TILED=YES", "COMPRESS=LZW", "INTERLEAVE=BAND"]
    ds = gdal.GetDriverByName("GTiff").Create(path, cols, rows, t, gdal.GDT_Float32, options)
    ds.SetGeoTransform((-180, 0.5, 0, 60, 0, -0.5))
    rng = np.random.default_rng(1)
    for i in range(t):
        b = ds.GetRasterBand(i + 1)
        b.WriteArray((rng.normal(size=(rows, cols)) + 0.01 * i).astype("float32"))
        b.SetDescription(f"{1981 + i // 12}-{i % 12 + 1:02d}-15")
    ds = None
    return path


@pytest.mark.parametrize("job", ["detrend", "trend"])
def test_budget_holds_with_gdal_cache(stack, tmp_path, job):
    budget = 128
    env = dict(os.environ, ECORESP_HELPERS="0")  # the helper processes' memory is their own
    proc = subprocess.run([sys.executable, "-c", CHILD, REPO, stack, str(tmp_path / "out.tif"), job, str(budget)],
                          capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    mem = json.loads(proc.stdout.strip().splitlines()[-1])
    grown = mem["peak_mb"] - mem["base_mb"]
    assert grown <= budget + 64, f"{job}: grew {grown:.0f} MB with a {budget} MB budget ({mem})"
