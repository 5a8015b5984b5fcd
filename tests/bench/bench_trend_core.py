"""Benchmark of the vectorised trend core (ecoresp_core.trends.trend.mann_kendall).

    python tests/bench/bench_trend_core.py [--quick] [--baseline GIT_REF] [--repeat R]

1. 360 x 720 x 30 float32 cube (ER-like, ~30 % all-NaN ocean, rounded to 0.1 so
   there are ties, ~5 % random gaps): the core for every variant, and a
   per-pixel pymannkendall loop on a random sample of land pixels, scaled to all
   land pixels -> speed ratio (original test + Sen slope + CI).
2. 360 x 720 x 360 monthly cube: original (S, Sen slope and CI over 64 620
   pairs per pixel) on two lanes (``Workers()``: a thread and a helper process), the
   same with two threads only, and the seasonal variant.
Every call gets its ``Workers`` explicitly (``mann_kendall`` alone runs serially).
The baseline imports only trend.py of the git ref: for refs after the split of
ecoresp_core/trends (issue 11) its statistic and selection modules are today's.
Peak memory is the process's ru_maxrss after the row, and the helper process's own
peak (VmHWM, read before it is closed) (baseline rows run last so
they do not inflate the other rows).  Every timed call follows an untimed warm-up
call on a thin slice of the cube; --repeat R times every row R times and keeps the
fastest (for a shared, noisy machine).  --quick uses smaller cubes.  --baseline REF
also times ecoresp_core/trends/trend.py as of git REF (e.g. HEAD) on the same cubes in
the same run (original and seasonal), for a fair before/after comparison on a shared
machine.
``run(quick=False, baseline=None, repeat=1)`` returns the rows as a list of dicts.
"""

import argparse
import importlib.util
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from ecoresp_core.jobs.parallel import Workers  # noqa: E402
from ecoresp_core.trends.trend import VARIANTS, mann_kendall  # noqa: E402

SEED = 42
PMK_SAMPLE = 300


def synthetic_cube(nt, ny, nx, seed=SEED):
    """ER-like float32 cube with ~30 % all-NaN ocean, ties (rounded to 0.1), ~5 % gaps."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:ny, 0:nx]
    ocean = (np.sin(xx / nx * 6.3) * np.cos(yy / ny * 3.1) + 0.1 * rng.normal(size=(ny, nx))) > 0.45
    t = np.arange(nt, dtype="float32")[:, None, None]
    trend = rng.normal(0, 0.5, (ny, nx)).astype("float32")
    cube = np.empty((nt, ny, nx), dtype="float32")
    for i in range(nt):  # slice by slice to keep the peak memory low for 360 steps
        cube[i] = 800 + trend * t[i] + rng.normal(0, 5, (ny, nx)).astype("float32")
    np.round(cube, 1, out=cube)
    for i in range(nt):
        cube[i][rng.random((ny, nx)) < 0.05] = np.nan
    cube[:, ocean] = np.nan
    return cube


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0




def _pmk_loop(cube, variant, n_sample, seed=SEED):
    import pymannkendall as mk
    fn = {
        "original": lambda x: mk.original_test(x),
        "hamed_rao": lambda x: mk.hamed_rao_modification_test(x),
        "yue_wang": lambda x: mk.yue_wang_modification_test(x),
        "pre_whitening": lambda x: mk.pre_whitening_modification_test(x),
        "trend_free_pre_whitening": lambda x: mk.trend_free_pre_whitening_modification_test(x),
        "seasonal": lambda x: mk.seasonal_test(x, 12),
    }[variant]
    nt = cube.shape[0]
    flat = cube.reshape(nt, -1)
    land = np.flatnonzero(np.count_nonzero(~np.isnan(flat), axis=0) >= 10)
    rng = np.random.default_rng(seed + 1)
    pick = rng.choice(land, size=min(n_sample, land.size), replace=False)
    series = [flat[:, p].astype(np.float64) for p in pick]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        for x in series:
            fn(x)
        dt = time.perf_counter() - t0
    return dt / len(series), land.size


REPEAT = 1  # timed calls per row (the fastest counts), set by --repeat
HELPER_PEAK = None  # peak RSS (MB) of the helper process of the last timed row, if any


def _time_core(cube, variant, fn=None, n_threads=None, helpers=None):
    """Fastest of REPEAT timed calls of fn on cube, each on its own ``Workers(n_threads,
    helpers)`` (made and closed inside the timing, as a raster job does per call)."""
    fn = mann_kendall if fn is None else fn
    # untimed warm-up on a thin slice (thread pool, allocator, caches), so that the
    # first timed row and the baseline rows (which run later) start alike
    with Workers(n_threads, helpers=helpers) as w:
        fn(cube[:, :4], variant=variant, min_valid=10, workers=w)
    best = None
    global HELPER_PEAK
    HELPER_PEAK = None
    for _ in range(max(1, REPEAT)):
        res = None
        t0 = time.perf_counter()
        with Workers(n_threads, helpers=helpers) as w:
            res = fn(cube, variant=variant, min_valid=10, workers=w)
        dt = time.perf_counter() - t0
        HELPER_PEAK = max(HELPER_PEAK or 0.0, w.helper_peak_mb or 0.0) or None
        best = dt if best is None else min(best, dt)
    return best, res


def _load_baseline(ref):
    """mann_kendall of ecoresp_core/trends/trend.py at git ref (imported as a sibling module)."""
    src = subprocess.run(["git", "-C", REPO, "show", f"{ref}:ecoresp_core/trends/trend.py"],
                         check=True, capture_output=True, text=True).stdout
    path = os.path.join(tempfile.mkdtemp(), "trend_baseline.py")
    with open(path, "w") as fh:
        fh.write(src)
    spec = importlib.util.spec_from_file_location("ecoresp_core.trends.trend_baseline", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.mann_kendall


def run(quick=False, baseline=None, repeat=1):
    """Run the benchmark, print a table and return its rows as dicts."""
    global REPEAT
    REPEAT = int(repeat)
    rows = []
    base_fn = _load_baseline(baseline) if baseline else None
    pmk_cache = {}
    ny, nx = (90, 180) if quick else (360, 720)
    print(f"building {ny} x {nx} x 30 cube (seed {SEED}) ...", flush=True)
    cube = synthetic_cube(30, ny, nx)
    for variant in VARIANTS:
        if variant == "seasonal":
            continue
        dt, res = _time_core(cube, variant)
        row = {"cube": f"{ny}x{nx}x30", "variant": variant, "core_s": dt,
               "land_pixels": int(np.count_nonzero(res["n_valid"] >= 10))}
        n_sample = PMK_SAMPLE if variant == "original" else max(50, PMK_SAMPLE // 3)
        per_px, nland = _pmk_loop(cube, variant, n_sample)
        pmk_cache[(row["cube"], variant)] = per_px * nland
        row["pmk_scaled_s"] = per_px * nland
        row["ratio"] = row["pmk_scaled_s"] / dt
        row["peak_mb"] = peak_mb()
        rows.append(row)
        _print_row(row)
    if base_fn is not None:
        rows.append(_baseline_row(base_fn, baseline, cube, f"{ny}x{nx}x30", "original", pmk_cache))
    del cube
    ny, nx = (45, 90) if quick else (360, 720)
    nt = 360
    print(f"building {ny} x {nx} x {nt} monthly cube ...", flush=True)
    cube = synthetic_cube(nt, ny, nx)
    # the long slope path runs on two lanes: a thread here and a helper process; the
    # "threads only" row is the same call with two threads in this process
    for variant, label, kw in (("original", "original", {}),
                               ("original", "original [threads only]", {"helpers": False}),
                               ("seasonal", "seasonal", {})):
        dt, res = _time_core(cube, variant, **kw)
        row = {"cube": f"{ny}x{nx}x{nt}", "variant": label, "core_s": dt,
               "land_pixels": int(np.count_nonzero(res["n_valid"] >= 10))}
        if (row["cube"], variant) not in pmk_cache:
            n_sample = 20 if variant == "original" else 60
            per_px, nland = _pmk_loop(cube, variant, n_sample)
            pmk_cache[(row["cube"], variant)] = per_px * nland
        row["helper_peak_mb"] = HELPER_PEAK
        row["pmk_scaled_s"] = pmk_cache[(row["cube"], variant)]
        row["ratio"] = row["pmk_scaled_s"] / dt
        row["peak_mb"] = peak_mb()
        rows.append(row)
        _print_row(row)
        del res
    if base_fn is not None:
        for variant in ("original", "seasonal"):
            rows.append(_baseline_row(base_fn, baseline, cube, f"{ny}x{nx}x{nt}", variant, pmk_cache))
    print()
    print(f"{'cube':<14}{'variant':<34}{'core s':>9}{'pmk s (scaled)':>16}{'ratio':>9}{'peak MB':>10}")
    for r in rows:
        print(f"{r['cube']:<14}{r['variant']:<34}{r['core_s']:>9.2f}{r['pmk_scaled_s']:>16.1f}"
              f"{r['ratio']:>9.0f}{r['peak_mb']:>10.0f}")
    return rows


def _baseline_row(base_fn, ref, cube, cube_name, variant, pmk_cache):
    dt, res = _time_core(cube, variant, fn=base_fn)
    pmk = pmk_cache[(cube_name, variant)]
    row = {"cube": cube_name, "variant": f"{variant} [baseline {ref}]", "core_s": dt,
           "land_pixels": int(np.count_nonzero(res["n_valid"] >= 10)),
           "pmk_scaled_s": pmk, "ratio": pmk / dt, "peak_mb": peak_mb()}
    _print_row(row)
    return row


def _print_row(r):
    helper = f" (helper process {r['helper_peak_mb']:.0f} MB)" if r.get("helper_peak_mb") else ""
    print(f"  {r['cube']} {r['variant']:<26} core {r['core_s']:.2f} s, pymannkendall scaled "
          f"{r['pmk_scaled_s']:.1f} s, ratio {r['ratio']:.0f}x, land {r['land_pixels']}, "
          f"peak {r['peak_mb']:.0f} MB{helper}", flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small cubes")
    ap.add_argument("--baseline", metavar="GIT_REF", default=None,
                    help="also time trend.py as of this git ref (e.g. HEAD) in the same run")
    ap.add_argument("--repeat", type=int, default=1, metavar="R",
                    help="time every row R times and report the fastest (noisy machines)")
    a = ap.parse_args()
    run(quick=a.quick, baseline=a.baseline, repeat=a.repeat)
