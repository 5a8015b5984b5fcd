"""Benchmark of the attribution core (ecoresp_core.attribution), with peers timed in the
same run:

    python tests/bench/bench_attribution.py [--quick]

1. Partial correlation over a 0.5-degree grid (360 x 720, ~30 % all-nodata ocean, 30 annual
   steps, 5 collinear drivers with a known dominant driver per pixel): the core on arrays
   (linear detrending + partial correlation, row blocks of 60 rows), the whole file-to-file
   job on GeoTIFFs (``jobs.partialcorr_raster``: read, prepare, compute, write 3 rasters), and
   a per-pixel numpy loop of the OLS-residual definition (``numpy.linalg.lstsq``) on a sample
   of land pixels, scaled to all land pixels -> speed ratio; share of pixels whose dominant
   driver is the true one.
2. Random-forest importance: seconds per pixel of ``rf_importance`` (100 trees, defaults) on
   a sample of pixels vs the naive per-pixel scikit-learn loop (RandomForestRegressor with 100
   trees + ``permutation_importance``, ``rfattribution.sklearn_reference``) on a smaller timed
   sample -> ratio, and the agreement on the common pixels: mean Spearman rank correlation of
   the driver importances and the share of pixels with the same dominant driver.  The same
   figures for two runs of the naive loop with different seeds give the ceiling that the
   forest's own randomness allows.

``run(quick=False)`` returns the rows as a list of dicts.
"""

import argparse
import os
import resource
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from ecoresp_core.attribution import partialcorr as pc  # noqa: E402
from ecoresp_core.attribution import rfattribution as rfa  # noqa: E402

SEED = 42
M = 5


def known_driver_cube(nt, ny, nx, m=M, seed=SEED, ocean=True, dtype="float32"):
    """(er (nt, ny, nx), drivers (m, nt, ny, nx), truth codes 1..m): drivers share a common
    signal (pairwise correlation ~0.5), ER = sign * driver_k + 0.3 * another + noise, linear
    trends on top; ~30 % of the grid is all-NaN ocean."""
    rng = np.random.default_rng(seed)
    common = rng.normal(size=(nt, ny, nx)).astype(dtype)
    drivers = np.empty((m, nt, ny, nx), dtype=dtype)
    for j in range(m):
        drivers[j] = np.sqrt(0.5) * common + np.sqrt(0.5) * rng.normal(size=(nt, ny, nx)).astype(dtype)
    truth = rng.integers(0, m, size=(ny, nx))
    other = (truth + 1 + rng.integers(0, m - 1, size=(ny, nx))) % m
    sign = rng.choice([-1.0, 1.0], size=(ny, nx)).astype(dtype)
    er = np.empty((nt, ny, nx), dtype=dtype)
    for i in range(nt):
        d = drivers[:, i]
        er[i] = (sign * np.take_along_axis(d, truth[None], 0)[0] + 0.3 * np.take_along_axis(d, other[None], 0)[0]
                 + 0.6 * rng.normal(size=(ny, nx)) + 0.03 * i)
    if ocean:
        yy, xx = np.mgrid[0:ny, 0:nx]
        sea = (np.sin(xx / nx * 6.3) * np.cos(yy / ny * 3.1) + 0.1 * rng.normal(size=(ny, nx))) > 0.27
        er[:, sea] = np.nan
        drivers[:, :, sea] = np.nan
    return er, drivers, truth + 1


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _pc_core(er, drivers, rows=60):
    dom = np.empty(er.shape[1:], dtype="uint8")
    for r0 in range(0, er.shape[1], rows):
        e, d, _ = pc.prepare_series(er[:, r0:r0 + rows], list(drivers[:, :, r0:r0 + rows]), mode="asis")
        dom[r0:r0 + rows] = pc.partial_correlation(e, d)["dominant"]
    return dom


def _lstsq_loop(er, drivers, pixels):
    """Per-pixel OLS residuals with numpy.linalg.lstsq (detrending included)."""
    nt = er.shape[0]
    t = np.column_stack([np.ones(nt), np.arange(nt)])
    for iy, ix in pixels:
        y = er[:, iy, ix].astype(float)
        x = drivers[:, :, iy, ix].T.astype(float)
        y = y - t @ np.linalg.lstsq(t, y, rcond=None)[0]
        x = x - t @ np.linalg.lstsq(t, x, rcond=None)[0]
        for j in range(x.shape[1]):
            z = np.column_stack([np.ones(nt), np.delete(x, j, axis=1)])
            ey = y - z @ np.linalg.lstsq(z, y, rcond=None)[0]
            ex = x[:, j] - z @ np.linalg.lstsq(z, x[:, j], rcond=None)[0]
            np.corrcoef(ey, ex)


def _write_annual(path, cube):
    from run_bench import write_geotiff  # same folder
    write_geotiff(path, cube, start_year=1989)


def bench_partialcorr(quick=False, n_sample=300):
    ny, nx, nt = (90, 180, 30) if quick else (360, 720, 30)
    print(f"building {ny} x {nx} x {nt} cube with {M} drivers (seed {SEED}) ...", flush=True)
    er, drivers, truth = known_driver_cube(nt, ny, nx)
    land = np.argwhere(np.isfinite(er[0]))
    _pc_core(er[:, :4], drivers[:, :, :4])  # warm-up
    t0 = time.perf_counter()
    dom = _pc_core(er, drivers)
    core_s = time.perf_counter() - t0
    right = float(np.mean(dom[np.isfinite(er[0])] == truth[np.isfinite(er[0])]))
    rng = np.random.default_rng(SEED + 1)
    pick = land[rng.choice(len(land), size=min(n_sample, len(land)), replace=False)]
    t0 = time.perf_counter()
    _lstsq_loop(er, drivers, pick)
    loop_px = (time.perf_counter() - t0) / len(pick)
    from ecoresp_core.jobs import attribution as jobs
    from ecoresp_core.io.series import open_series
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "er.tif")
        _write_annual(src, er)
        paths = []
        for j in range(M):
            paths.append(os.path.join(tmp, f"x{j + 1}.tif"))
            _write_annual(paths[-1], drivers[j])
        del er, drivers
        t0 = time.perf_counter()
        s = jobs.partialcorr_raster(open_series(src), [open_series(p) for p in paths], [f"x{j + 1}" for j in range(M)],
                                    os.path.join(tmp, "pc.tif"), os.path.join(tmp, "dom.tif"),
                                    os.path.join(tmp, "domr.tif"), mode="asis")
        job_s = time.perf_counter() - t0
    row = {"bench": "partial correlation", "grid": f"{ny}x{nx}x{nt}, {M} drivers", "land_pixels": len(land),
           "core_s": core_s, "job_s": job_s, "peer": "numpy lstsq per pixel (scaled)",
           "peer_s": loop_px * len(land), "ratio": loop_px * len(land) / core_s,
           "dominant_right": right, "computed": s["computed"], "peak_mb": peak_mb()}
    print(f"  partial correlation {row['grid']}: core {core_s:.2f} s, file job {job_s:.2f} s, "
          f"lstsq loop scaled {row['peer_s']:.0f} s -> {row['ratio']:.0f}x; dominant right "
          f"{right:.3f} of {len(land)} land pixels; peak {row['peak_mb']:.0f} MB", flush=True)
    return row


def _agreement(a, b):
    from scipy.stats import spearmanr
    rho = [spearmanr(a[:, p], b[:, p])[0] for p in range(a.shape[1])]
    return float(np.nanmean(rho)), float(np.mean(np.argmax(a, axis=0) == np.argmax(b, axis=0)))


def bench_rf(quick=False):
    n_fast, n_naive = (200, 12) if quick else (2000, 60)
    er, drivers, truth = known_driver_cube(30, 1, n_fast, ocean=False, seed=SEED + 2, dtype="float64")
    er, drivers, truth = er[:, 0], drivers[:, :, 0], truth[0]
    e, d, _ = pc.prepare_series(er, list(drivers), mode="asis")
    rows = []
    rfa.rf_importance(e[:, :20], d[:, :, :20], n_trees=10)  # warm-up
    t0 = time.perf_counter()
    naive = rfa.sklearn_reference(e[:, :n_naive], d[:, :, :n_naive], n_trees=100, seed=SEED)
    naive_px = (time.perf_counter() - t0) / n_naive
    naive2 = rfa.sklearn_reference(e[:, :n_naive], d[:, :, :n_naive], n_trees=100, seed=SEED + 1)
    ceil_rho, ceil_dom = _agreement(naive2, naive)
    for importance in rfa.IMPORTANCES:
        t0 = time.perf_counter()
        res = rfa.rf_importance(e, d, n_trees=100, importance=importance, seed=SEED)
        fast_px = (time.perf_counter() - t0) / n_fast
        rho, same = _agreement(res["importance"][:, :n_naive], naive)
        row = {"bench": f"random forest ({importance})", "pixels": n_fast, "naive_pixels": n_naive,
               "fast_ms_per_px": fast_px * 1e3, "naive_ms_per_px": naive_px * 1e3, "ratio": naive_px / fast_px,
               "rank_corr_vs_naive": rho, "same_dominant_vs_naive": same,
               "naive_vs_naive_rank_corr": ceil_rho, "naive_vs_naive_same_dominant": ceil_dom,
               "dominant_right": float(np.mean(res["dominant"] == truth)),
               "naive_dominant_right": float(np.mean(np.argmax(naive, axis=0) + 1 == truth[:n_naive])),
               "max_depth": rfa.DEFAULT_DEPTH, "peak_mb": peak_mb()}
        rows.append(row)
        print(f"  RF {importance}: {row['fast_ms_per_px']:.1f} ms/pixel vs naive sklearn "
              f"{row['naive_ms_per_px']:.1f} ms/pixel -> {row['ratio']:.1f}x; agreement with naive on "
              f"{n_naive} pixels: rank corr {rho:.3f}, same dominant {same:.3f} (naive vs naive with "
              f"another seed: {ceil_rho:.3f}, {ceil_dom:.3f}); dominant right {row['dominant_right']:.3f} "
              f"(naive {row['naive_dominant_right']:.3f})", flush=True)
    return rows


def run(quick=False):
    """Run the benchmark, print a table and return its rows as dicts."""
    rows = [bench_partialcorr(quick)]
    rows += bench_rf(quick)
    return rows


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small grid and samples")
    a = ap.parse_args()
    run(quick=a.quick)
