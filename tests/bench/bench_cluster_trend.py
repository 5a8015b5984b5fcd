"""Benchmark: the trend step (ecoresp_core.cube.trends) on a one- against a two-worker dask
LocalCluster (processes, one thread each, BLAS/OpenMP threads 1, as ``--workers N`` starts them),
and xarrayMannKendall on the same cube on the same two-worker cluster.

    .venv/bin/python tests/bench/bench_cluster_trend.py [--quick]

The cube: the 360 x 720 x 360 monthly float32 ER-like cube of tests/bench (``synthetic_cube``:
~30 % ocean, ties, ~5 % gaps), written as a GeoTIFF in a temporary folder; ``--quick``: 90 x 180.
Prints the wall times, the two-worker speed-up (goal >= 1.7x), xarrayMannKendall's time and the
ratio, and the largest difference between its Theil-Sen slope and ours on the pixels both computed.
xarrayMannKendall is installed if missing (``pip install -c .venv/constraints.txt xarrayMannKendall``).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"  # before numpy is imported, here and in the workers (inherited)

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [HERE, REPO]
os.environ["PYTHONPATH"] = REPO + os.pathsep + os.environ.get("PYTHONPATH", "")

from bench_trend_core import synthetic_cube  # noqa: E402
from run_bench import write_geotiff  # noqa: E402


def ensure_xarray_mann_kendall():
    try:
        import xarrayMannKendall  # noqa: F401
        return True
    except ImportError:
        pass
    cmd = [sys.executable, "-m", "pip", "install", "-c", os.path.join(REPO, ".venv", "constraints.txt"),
           "xarrayMannKendall"]
    print("installing xarrayMannKendall:", " ".join(cmd), flush=True)
    if subprocess.run(cmd).returncode != 0:
        print("xarrayMannKendall could not be installed: its comparison is skipped")
        return False
    return True


def cluster(n):
    """``n`` workers of one thread and 2 GiB as ``--workers n`` starts them (scheduler.local_cluster)."""
    from distributed import Client

    from ecoresp_core.cube.scheduler import local_cluster
    lc = local_cluster(n, 1, 2048)
    return lc, Client(lc)


def run_ours(src, out, client, rows):
    """Seconds of trend_files on ``client``'s cluster, in chunks of ``rows`` whole rows (the memory
    budget of a 2 GiB worker alone would give chunks of ~73 000 pixels: too few for two workers)."""
    from ecoresp_core.cube.scheduler import run_on
    from ecoresp_core.cube.trends import trend_files
    t0 = time.perf_counter()
    with run_on(client) as where:
        where.chunks = {"y": rows}
        trend_files(src, out, slope_unit="step", where=where)
    return time.perf_counter() - t0


def run_xmk(src, client, rows):
    """xarrayMannKendall (Theil-Sen slope, like ours) on the first ``rows`` rows of the same cube on
    ``client``'s cluster; (seconds, slope per time step (rows, x))."""
    from xarrayMannKendall import Mann_Kendall_test

    from ecoresp_core.cube.files import open_cube
    da = open_cube(src, chunks={"y": 8}).isel(y=slice(0, rows))
    da = da.assign_coords(time=np.arange(da.sizes["time"]))
    t0 = time.perf_counter()
    with client.as_current():
        ds = Mann_Kendall_test(da, "time", alpha=0.05, method="theilslopes",
                               coords_name={"time": "time", "y": "y", "x": "x"}).compute()
    return time.perf_counter() - t0, ds["trend"].values


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a 90 x 180 x 360 cube")
    ap.add_argument("--no-xmk", action="store_true", help="skip xarrayMannKendall")
    ap.add_argument("--xmk-rows", type=int, default=None,
                    help="rows of the cube given to xarrayMannKendall (default: all with --quick, else 90: "
                         "on the whole 360 x 720 cube it takes about 20 minutes); compared per pixel")
    args = ap.parse_args()
    ny, nx, nt = (90, 180, 360) if args.quick else (360, 720, 360)
    xmk_rows = min(ny, args.xmk_rows or (ny if args.quick else 90))
    have_xmk = not args.no_xmk and ensure_xarray_mann_kendall()
    from osgeo import gdal
    with tempfile.TemporaryDirectory(prefix="ecoresp-bench-") as tmp:
        src = os.path.join(tmp, "er.tif")
        write_geotiff(src, synthetic_cube(nt, ny, nx), start_year=1989, monthly=True)
        print(f"cube {nt} x {ny} x {nx} monthly float32 ({nt * ny * nx * 4 / 2 ** 20:.0f} MB), {os.cpu_count()} cores")
        times = {}
        for n in (1, 2):
            lc, client = cluster(n)
            try:
                times[n] = run_ours(src, os.path.join(tmp, f"trend{n}.tif"), client, max(1, ny // 24))
                print(f"ecoresp trend, {n} worker(s): {times[n]:.1f} s", flush=True)
                if n == 2 and have_xmk:
                    t_xmk, slope_xmk = run_xmk(src, client, xmk_rows)
            finally:
                client.close()
                lc.close()
        a = gdal.Open(os.path.join(tmp, "trend1.tif")).ReadAsArray()
        b = gdal.Open(os.path.join(tmp, "trend2.tif")).ReadAsArray()
        same = np.array_equal(a, b, equal_nan=True)
        print(f"speed-up on two workers: {times[1] / times[2]:.2f}x (goal >= 1.7x); one- and two-worker outputs "
              f"{'identical' if same else 'DIFFERENT'}")
        if have_xmk:
            from ecoresp_core.trends.trend import TREND_BANDS
            ours = b[TREND_BANDS.index("slope")][:xmk_rows].astype("float64")
            both = np.isfinite(ours) & np.isfinite(slope_xmk)
            diff = np.abs(ours[both] - slope_xmk[both].astype("float32").astype("float64"))
            ratio = (t_xmk / xmk_rows) / (times[2] / ny)  # per row of the cube: the same pixels per row
            print(f"xarrayMannKendall (theilslopes), 2 workers, {xmk_rows} of the {ny} rows: {t_xmk:.1f} s, "
                  f"{ratio:.1f}x ecoresp's time per pixel; "
                  f"Sen slope on {both.sum()} pixels computed by both: max |difference| {diff.max():.3g} "
                  f"(ours float32 in the GeoTIFF; pixels with gaps: xarrayMannKendall pairs the valid values "
                  f"by position in the gap-free series)")


if __name__ == "__main__":
    main()
