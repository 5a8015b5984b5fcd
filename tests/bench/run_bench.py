"""make bench: speed as ratios against peers measured in the same run.

1. Site partitioning (NT, DT, DT-RH) against hesseflux (bench_partition), and the agreement with
   the FLUXNET2015 references against REddyProc and hesseflux (fluxnet_agreement); MDS gap
   filling against hesseflux's gapfill (bench_gapfill); u* thresholds with their bootstrap against
   hesseflux's ustarfilter (bench_ustar); the whole raw-to-partitioned chain per site-year, time per
   stage (bench_tower_chain).
2. The trend core against a per-pixel pymannkendall loop (bench_trend_core).
3. Upscaling: block-wise raster prediction against scikit-learn's predict (bench_upscaler).
4. Attribution: partial correlation over a 0.5-degree grid and the random-forest importance
   against the naive per-pixel scikit-learn loop, with their agreement (bench_attribution).
5. The whole ecoresp:trend run through qgis_process on the 360 x 720 x 30 and the
   360 x 720 x 360 cubes as GeoTIFFs, with the peak memory of the qgis_process child (the
   largest child: a helper process's own peak is far below it, see bench_trend_core).
Each section runs in its own interpreter (its own peak memory, no interference between
sections).  Use --quick for a small smoke run.
"""

import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

from bench_trend_core import synthetic_cube  # noqa: E402  (the same ER-like cube as the core rows)


def write_geotiff(path, cube, start_year=1989, monthly=False):
    from osgeo import gdal, osr
    nt, ny, nx = cube.shape
    ds = gdal.GetDriverByName("GTiff").Create(path, nx, ny, nt, gdal.GDT_Float32,
                                              ["TILED=YES", "COMPRESS=DEFLATE", "PREDICTOR=3"])
    ds.SetGeoTransform((-180, 360.0 / nx, 0, 90, 0, -180.0 / ny))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    ds.SetProjection(srs.ExportToWkt())
    for i in range(nt):
        b = ds.GetRasterBand(i + 1)
        b.SetNoDataValue(float("nan"))
        b.SetDescription(f"{start_year + i // 12}-{i % 12 + 1:02d}-15" if monthly else f"{start_year + i}-01-01")
        b.WriteArray(cube[i])
    ds = None


def qgis_process_trend(src, out):
    """Wall time and peak RSS (MB) of one ecoresp:trend run through qgis_process, measured in a
    fresh interpreter so that only that run's processes count."""
    qp = os.path.join(REPO, ".ci", "qgis_process.sh")
    probe = ("import resource, subprocess, sys, time\n"
             "t0 = time.perf_counter()\n"
             "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
             "dt = time.perf_counter() - t0\n"
             "sys.stdout.write(p.stdout)\n"
             "print(p.returncode, dt, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0)\n"
             "sys.stderr.write(p.stderr[-3000:] if p.returncode else '')\n")
    proc = subprocess.run([sys.executable, "-c", probe, qp, "run", "ecoresp:trend", "--",
                           f"INPUT={src}", f"OUTPUT={out}", "MIN_VALID=10"], capture_output=True, text=True)
    rc, dt, peak = proc.stdout.split("\n")[-2].split()
    if rc != "0":
        raise SystemExit(f"qgis_process failed:\n{proc.stderr}")
    helper = [ln.strip() for ln in proc.stdout.splitlines() if "helper process" in ln]
    return float(dt), float(peak), "; ".join(helper)


def section(title, module, *args):
    """Run one bench module in its own interpreter: its peak memory and caches are its own, and
    one section cannot slow the next."""
    print(f"== {title} ({module})", flush=True)
    subprocess.run([sys.executable, os.path.join(HERE, f"{module}.py"), *args], check=True)
    print(flush=True)


def main():
    quick = "--quick" in sys.argv
    q = ["--quick"] if quick else []
    section("site partitioning: NT, DT, DT-RH on one site-year vs hesseflux", "bench_partition")
    section("agreement with the FLUXNET2015 partitioning vs REddyProc and hesseflux", "fluxnet_agreement")
    section("MDS gap filling of one site-year vs hesseflux's gapfill", "bench_gapfill")
    section("u* threshold with its bootstrap (100) per site-year vs hesseflux's ustarfilter", "bench_ustar", *q)
    section("raw tower file to partitioned fluxes: u*, gap filling and partitioning of 3 u* scenarios per "
            "site-year", "bench_tower_chain", *q)
    section("trend core vs pymannkendall (best of 2 per row)", "bench_trend_core", *q, "--repeat", "2")
    section("upscaling: block-wise raster prediction vs scikit-learn's predict", "bench_upscaler", *q)
    section("attribution: partial correlation on a 0.5-degree grid; random forest vs the naive per-pixel "
            "scikit-learn loop", "bench_attribution", *q)
    section("beyond one machine: the trend step on a one- against a two-worker dask LocalCluster, and "
            "xarrayMannKendall on the same cluster", "bench_cluster_trend", *q)
    section("beyond one machine: the global monthly prediction on a one- against a two-worker LocalCluster",
            "bench_cluster_predict", *q)
    section("beyond one machine: batch partitioning of the bundled site-years, one task per site-year, on a "
            "one- against a two-worker LocalCluster", "bench_cluster_sites", *q)
    ny, nx = (90, 180) if quick else (360, 720)
    for nt in (30, 360):
        print(f"\n== ecoresp:trend through qgis_process on a {ny} x {nx} x {nt} float32 GeoTIFF "
              f"(DEFLATE, {'monthly' if nt == 360 else 'annual'} band dates)", flush=True)
        cube = synthetic_cube(nt, ny, nx)
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "cube.tif")
            write_geotiff(src, cube, monthly=nt == 360)
            size_mb = cube.nbytes / 2 ** 20
            del cube
            # the baseline of a qgis_process call: the same tool listing algorithms
            t0 = time.perf_counter()
            subprocess.run([os.path.join(REPO, ".ci", "qgis_process.sh"), "list"], capture_output=True, check=True)
            base = time.perf_counter() - t0
            dt, peak, helper = qgis_process_trend(src, os.path.join(tmp, "trend.tif"))
            print(f"input {size_mb:.0f} MB float32; qgis_process start-up (list) {base:.2f} s")
            print(f"ecoresp:trend whole run {dt:.2f} s (= {dt / base:.1f} x the start-up), "
                  f"peak RSS of qgis_process {peak:.0f} MB; {helper or 'no helper process'}", flush=True)


if __name__ == "__main__":
    main()
