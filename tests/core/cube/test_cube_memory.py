"""Cubes larger than memory (issue 16): trend and predict on an input about three times the memory
a run is allowed complete within it (the peak resident memory of the whole process, interpreter
and libraries included, measured by the kernel: the high-water mark ``VmHWM`` of the process), with the numbers of
the in-memory path (the numpy kernels on sample rows).

The inputs are written to disk slab by slab (never whole in memory, neither here nor in the run);
each run is a child process ``python -m ecoresp_core STEP ... --memory-mb CHUNK_MB`` (the budget
the chunks are sized for, ``scheduler.run_on``), and the assertion is on the child's peak."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest

from ecoresp_core.trends.trend import TREND_BANDS, mann_kendall

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
# peak resident memory allowed to the whole child process, interpreter and libraries included (those
# alone take 181 MB on Debian 12's Python 3.11, 230 MB on sid's Python 3.13 with numpy 2.4 and zarr 3)
LIMIT_MB = 480
CHUNK_MB = 80  # --memory-mb: the budget the chunks are sized for (the rest: interpreter, libraries, I/O)

# trend: 44 monthly float64 steps on a 3000 x 1440 grid: 1450 MB, 3x LIMIT_MB (a narrow grid: a row of
# output tiles fits the GDAL cache of the budget, jobs.blocks.gdal_cache_mb)
T_TREND, H, W = 44, 3000, 1440
ROWS_PER_SLAB = 16
SAMPLE_ROWS = (0, 1, 1717, 2999)


def cube_rows(r0, r1, nt=T_TREND, seed=11):
    """Rows [r0, r1) of the synthetic cube (nt, H, W): a trend that varies in space, a seasonal
    cycle, noise rounded to 0.05 (ties) and a third of the pixels without data (sea), each row
    drawn from its own seed, so that any rows can be made again without the rest."""
    out = np.empty((nt, r1 - r0, W))
    t = np.arange(nt)[:, None]
    cols = np.arange(W)
    for i, r in enumerate(range(r0, r1)):
        rng = np.random.default_rng([seed, r])
        slope = 0.02 * np.sin(cols / 300.0 + r / 200.0)
        v = 10 + slope[None] * t + 3 * np.sin(t * 2 * np.pi / 12) + rng.normal(0, 1, (nt, W))
        v = np.round(v * 20) / 20
        v[:, ((cols // 160 + r // 160) % 3) == 0] = np.nan
        out[:, i] = v
    return out


def write_zarr_cube(path, nt, make_rows, name, units="", height=H, start="2001-01-15"):
    """A (time, y, x) float64 Zarr store of ``height`` rows written slab by slab of ROWS_PER_SLAB rows
    (dask's synchronous scheduler computes and stores one chunk at a time)."""
    import dask
    import dask.array as dsa
    import pandas as pd
    import xarray as xr

    def block(block_info=None):
        (_, _), (r0, r1), (_, _) = block_info[None]["array-location"]
        return make_rows(r0, r1)

    rows = (ROWS_PER_SLAB,) * (height // ROWS_PER_SLAB) + ((height % ROWS_PER_SLAB,) if height % ROWS_PER_SLAB else ())
    data = dsa.map_blocks(block, chunks=((nt,), rows, (W,)), dtype="float64",
                          meta=np.empty((0, 0, 0)))
    x = -180 + (np.arange(W) + 0.5) * 360 / W
    y = 90 - (np.arange(height) + 0.5) * 180 / height
    da = xr.DataArray(data, dims=("time", "y", "x"), name=name, attrs={"units": units},
                      coords={"time": pd.date_range(start, periods=nt, freq="MS") + pd.Timedelta(days=14),
                              "y": y, "x": x})
    with dask.config.set(scheduler="synchronous"):
        da.to_dataset().to_zarr(path, mode="w")
    return path


# the child reports its own high-water mark (VmHWM of /proc/self/status, which belongs to the process's
# memory map since its exec) when it exits; ru_maxrss of wait4 would not do: Linux carries the RSS of
# the forking process (this pytest worker, several hundred MB after other tests) across fork and exec
_MEASURED = """import atexit, runpy, sys
PEAK_FILE = sys.argv[1]
def _peak():
    with open('/proc/self/status') as f:
        kb = next(line.split()[1] for line in f if line.startswith('VmHWM:'))
    with open(PEAK_FILE, 'w') as f:
        f.write(kb)
atexit.register(_peak)
sys.argv = ['ecoresp_core'] + sys.argv[2:]
runpy.run_module('ecoresp_core', run_name='__main__', alter_sys=True)
"""


def run_measured(args, tmp_path):
    """Run ``python -m ecoresp_core ARGS`` as a child; returns (peak RSS of the child in MB, seconds,
    its stdout).  The peak is the kernel's high-water mark of the child's own memory map."""
    out, err = open(tmp_path / "stdout.txt", "w+"), open(tmp_path / "stderr.txt", "w+")
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    peak_file = tmp_path / "peak_kb.txt"
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", _MEASURED, str(peak_file), *args], stdout=out, stderr=err,
                          env=env, cwd=REPO)
    seconds = time.monotonic() - t0
    out.seek(0)
    err.seek(0)
    text, errors = out.read(), err.read()
    assert proc.returncode == 0, errors[-3000:]
    return int(peak_file.read_text()) / 1024, seconds, text


def read_rows(path, rows):
    from osgeo import gdal
    ds = gdal.Open(str(path))
    got = np.stack([ds.ReadAsArray(0, r, W, 1)[:, 0] for r in rows], axis=1)  # (bands, rows, W)
    ds = None
    return got


@pytest.mark.slow
def test_trend_of_a_cube_three_times_the_memory_limit(tmp_path):
    src = write_zarr_cube(str(tmp_path / "er.zarr"), T_TREND, cube_rows, "er", "g C m-2 d-1")
    size_mb = T_TREND * H * W * 8 / 2 ** 20
    assert size_mb > 2.95 * LIMIT_MB
    out = tmp_path / "trend.tif"
    peak, seconds, _ = run_measured(["trend", "--input", src, "--output", str(out), "--memory-mb", str(CHUNK_MB),
                                     "--threads", "2"], tmp_path)
    print(f"trend: input {size_mb:.0f} MB, limit {LIMIT_MB} MB, peak {peak:.0f} MB, {seconds:.0f} s")
    assert peak < LIMIT_MB
    got = read_rows(out, SAMPLE_ROWS)
    want = mann_kendall(np.concatenate([cube_rows(r, r + 1) for r in SAMPLE_ROWS], axis=1), min_valid=10)
    for i, b in enumerate(TREND_BANDS):
        expect = want[b] * (12.0 if b.startswith("slope") else 1.0)
        np.testing.assert_array_equal(got[i], expect.astype("float32"), err_msg=b)
    assert np.isfinite(got[TREND_BANDS.index("slope")]).mean() > 0.6  # two thirds of the pixels are land


# predict: TA and SW, 44 monthly float64 steps on a 1500 x 1440 grid (725 MB each, 1450 MB together:
# 3x LIMIT_MB), and a static IGBP raster (Byte); a 5-tree random forest fitted here
T_PRED, H_PRED = 44, 1500
PRED_SAMPLE_ROWS = (0, 1, 777, 1499)
IGBP_PATTERN = np.array([1, 4, 10, 4, 1, 10, 0, 1, 4, 10, 16])  # ENF DBF GRA; 0 water and 16 BSV: unknown


def _sea(r):
    """Columns of row ``r`` without data (sea): a third of the grid, in bands."""
    cols = np.arange(W)
    return ((cols // 160 + r // 160) % 3) == 0


def ta_rows(r0, r1, nt=T_PRED):
    """Rows [r0, r1) of air temperature (degC, (nt, rows, W)): a seasonal cycle and a gradient
    from -10 to 32 degC (beyond the training range -5..25), noise, sea and a few gaps."""
    out = np.empty((nt, r1 - r0, W))
    t = np.arange(nt)[:, None]
    for i, r in enumerate(range(r0, r1)):
        rng = np.random.default_rng([21, r])
        base = -10 + 42 * (1 - abs(r - H_PRED / 2) / (H_PRED / 2))
        v = base + 6 * np.sin(t * 2 * np.pi / 12) + rng.normal(0, 2, (nt, W))
        v[:, _sea(r)] = np.nan
        v[rng.random((nt, W)) < 0.01] = np.nan
        out[:, i] = v
    return out


def sw_rows(r0, r1, nt=T_PRED):
    """Rows [r0, r1) of incoming shortwave radiation (W m-2, (nt, rows, W)) with sea."""
    out = np.empty((nt, r1 - r0, W))
    t = np.arange(nt)[:, None]
    for i, r in enumerate(range(r0, r1)):
        rng = np.random.default_rng([22, r])
        v = 160 + 120 * np.sin(t * 2 * np.pi / 12 + r / 300.0) + rng.normal(0, 15, (nt, W))
        v[:, _sea(r)] = np.nan
        out[:, i] = v
    return out


def igbp_rows(r0, r1):
    """Rows [r0, r1) of the land cover (MODIS IGBP codes, (rows, W))."""
    cols = np.arange(W)
    return np.stack([IGBP_PATTERN[(cols // 7 + r // 5) % IGBP_PATTERN.size] for r in range(r0, r1)]).astype(float)


def write_igbp(path):
    """The static IGBP layer on the grid of the driver cubes (Byte GeoTIFF, written in slabs)."""
    from osgeo import gdal, osr
    ds = gdal.GetDriverByName("GTiff").Create(str(path), W, H_PRED, 1, gdal.GDT_Byte, ["TILED=YES"])
    ds.SetGeoTransform((-180.0, 360.0 / W, 0.0, 90.0, 0.0, -180.0 / H_PRED))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    ds.SetProjection(srs.ExportToWkt())
    for r0 in range(0, H_PRED, 256):
        r1 = min(r0 + 256, H_PRED)
        ds.GetRasterBand(1).WriteArray(igbp_rows(r0, r1).astype(np.uint8), 0, r0)
    ds = None
    return str(path)


@pytest.mark.slow
def test_predict_on_drivers_three_times_the_memory_limit(tmp_path):
    from conftest import monthly_dates, training_table, write_stack

    from ecoresp_core.io.series import open_series
    from ecoresp_core.jobs.inputs import open_driver
    from ecoresp_core.jobs.predict import predict_rasters
    from ecoresp_core.upscaling.fit import fit_upscaler
    from ecoresp_core.upscaling.model import save_model

    res = fit_upscaler(training_table(), "ER", ["TA", "SW", "IGBP"], n_splits=3, n_estimators=5,
                       importance_repeats=1, units={"TA": "degC", "SW": "W m-2"}, target_unit="g C m-2 d-1")
    model = str(save_model(res["model"], tmp_path / "model.npz"))
    ta = write_zarr_cube(str(tmp_path / "ta.zarr"), T_PRED, ta_rows, "TA", "degC", H_PRED, "2001-01-01")
    sw = write_zarr_cube(str(tmp_path / "sw.zarr"), T_PRED, sw_rows, "SW", "W m-2", H_PRED, "2001-01-01")
    igbp = write_igbp(tmp_path / "igbp.tif")
    size_mb = 2 * T_PRED * H_PRED * W * 8 / 2 ** 20
    assert size_mb > 2.95 * LIMIT_MB
    out = tmp_path / "er.tif"
    peak, seconds, text = run_measured(["predict", "--model", model, "--driver-files", f"TA={ta}; SW={sw}; IGBP={igbp}",
                                        "--output", str(out), "--memory-mb", str(CHUNK_MB), "--threads", "2"],
                                       tmp_path)
    print(f"predict: drivers {size_mb:.0f} MB, limit {LIMIT_MB} MB, peak {peak:.0f} MB, {seconds:.0f} s")
    assert peak < LIMIT_MB

    # the QGIS job on the sample rows alone (every pixel-month is predicted alone)
    dates = monthly_dates(2001, T_PRED)
    rows = list(PRED_SAMPLE_ROWS)
    small = {"TA": write_stack(tmp_path / "ta_rows.tif", np.concatenate([ta_rows(r, r + 1) for r in rows], axis=1),
                               dates, nodata=-9999, dtype="Float64"),
             "SW": write_stack(tmp_path / "sw_rows.tif", np.concatenate([sw_rows(r, r + 1) for r in rows], axis=1),
                               dates, nodata=-9999, dtype="Float64"),
             "IGBP": write_stack(tmp_path / "igbp_rows.tif", np.concatenate([igbp_rows(r, r + 1) for r in rows])[None],
                                 ["static"], dtype="Byte")}
    job_out = tmp_path / "job_er.tif"
    stats = predict_rasters(model, {"TA": open_series(small["TA"]), "SW": open_series(small["SW"]),
                                    "IGBP": open_driver(small["IGBP"], "IGBP")}, str(job_out))
    from osgeo import gdal
    want = gdal.Open(str(job_out)).ReadAsArray()
    got = read_rows(out, rows)
    np.testing.assert_array_equal(got, want)
    assert stats["predicted"] > 0 and stats["outside"] > 0  # flagged months (TA beyond -5..25) are predicted
    assert 0.3 < np.isfinite(got).mean() < 0.7  # sea, water/BSV (unknown) and gaps are not
    mine, job_ds = gdal.Open(str(out)), gdal.Open(str(job_out))
    assert [mine.GetRasterBand(i + 1).GetDescription() for i in range(T_PRED)] == \
        [job_ds.GetRasterBand(i + 1).GetDescription() for i in range(T_PRED)]
