"""The closest thing to a user's command line: qgis_process.bin with the plugin enabled (once per
test session: the qgis_process fixture of tests/conftest.py)."""

import json
import os

import numpy as np
import pytest
from conftest import HAS_QGIS_PROCESS
from osgeo import gdal

pytestmark = pytest.mark.skipif(not HAS_QGIS_PROCESS, reason="needs qgis_process")


@pytest.fixture
def run_json(qgis_process):
    """run_json(alg, **params) -> (CompletedProcess, parsed --json answer or None)."""
    def run(alg, **params):
        proc = qgis_process("--json", "run", alg, "--", *[f"{k}={v}" for k, v in params.items()])
        return proc, (json.loads(proc.stdout) if proc.stdout.strip().startswith("{") else None)
    return run


def test_list_shows_algorithms(qgis_process):
    proc = qgis_process("list")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "ecoresp:trend" in proc.stdout and "ecoresp:detrend" in proc.stdout


def test_trend_geotiff_stack(run_json, stack_factory, tmp_path):
    v = np.random.default_rng(5).normal(size=(12, 4, 5)) + 0.2 * np.arange(12)[:, None, None]
    src = stack_factory(v)
    out = tmp_path / "t.tif"
    proc, res = run_json("ecoresp:trend", INPUT=src, MIN_VALID=5, OUTPUT=out, CLASSES=tmp_path / "c.tif")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert res["results"]["N_TESTED"] == 20
    assert gdal.Open(str(out)).RasterCount == 11 and (tmp_path / "c.qml").exists()


@pytest.mark.slow  # a 360 x 70 x 70 stack with a helper process
def test_trend_360_months_helper_process_ends(qgis_process, stack_factory, tmp_path):
    """A 360-month stack large enough for a helper process: qgis_process uses it, writes
    the same bands as the core in one process, and exits (an earlier multiprocessing
    attempt hung qgis_process at exit)."""
    from conftest import monthly_dates
    from ecoresp_core.trends.trend import TREND_BANDS, mann_kendall

    rng = np.random.default_rng(8)
    v = np.round(800 + rng.normal(0, 5, (360, 70, 70)) + 0.02 * np.arange(360)[:, None, None], 1)
    v[rng.random(v.shape) < 0.05] = np.nan
    src = stack_factory(v.astype("float32"), dates=monthly_dates(1989, 360))
    out = tmp_path / "t.tif"
    proc = qgis_process("run", "ecoresp:trend", "--", f"INPUT={src}", "SLOPE_UNIT=1", f"OUTPUT={out}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "pixel blocks computed in a helper process" in proc.stdout
    expect = mann_kendall(v.astype("float32"), min_valid=10)
    ds = gdal.Open(str(out))
    for i, b in enumerate(TREND_BANDS):
        np.testing.assert_array_equal(ds.GetRasterBand(i + 1).ReadAsArray(), expect[b].astype("float32"),
                                      err_msg=b)


@pytest.mark.slow  # two qgis_process start-ups on CRU TS files
def test_trend_and_detrend_cru_netcdf(run_json, cru_tmp_nc, iberia_nc, tmp_path):
    out = tmp_path / "cru.tif"
    proc, res = run_json("ecoresp:trend", INPUT_FILE=cru_tmp_nc, VARIABLE="tmp", AGGREGATE=1, OUTPUT=out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert res["results"]["N_TESTED"] == 6
    det = tmp_path / "det.tif"
    proc, res = run_json("ecoresp:detrend", INPUT_FILE=iberia_nc, VARIABLE="pr", METHOD=1, OUTPUT=det)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert gdal.Open(str(det)).RasterCount == 360


def test_failure_exit_code_message_and_no_file(run_json, iberia_nc, tmp_path):
    out = tmp_path / "never.tif"
    proc, _ = run_json("ecoresp:trend", INPUT_FILE=iberia_nc, VARIABLE="nope", OUTPUT=out)
    assert proc.returncode == 1
    assert "has no variable 'nope'" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert os.listdir(tmp_path) == []


@pytest.mark.slow  # two qgis_process start-ups on the Iberian cube
def test_netcdf_outputs_chain(run_json, iberia_nc, tmp_path):
    """A series written as CF NetCDF (.nc destination) is a raster layer for the next algorithm."""
    anom = tmp_path / "tas_anomalies.nc"
    proc, res = run_json("ecoresp:detrend", INPUT_FILE=iberia_nc, VARIABLE="tas", METHOD=1, OUTPUT=anom)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert res["results"]["OUTPUT"] == str(anom)
    proc, res = run_json("ecoresp:trend", INPUT=anom, OUTPUT=tmp_path / "trend.nc")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert res["results"]["N_TESTED"] == 330 and res["results"]["N_INCREASING"] > 250  # warming kept
    from osgeo import gdal
    ds = gdal.Open(f'NETCDF:"{tmp_path / "trend.nc"}":slope')
    slope = ds.GetRasterBand(1).ReadAsArray()
    ds = None
    assert 0.012 < float(np.median(slope[slope < 1e30])) < 0.035  # degC per year


def test_wrapper_leaves_no_temporary_folder(tmp_path):
    """.ci/qgis_process.sh removes the profile and runtime folders it makes, and keeps the exit status."""
    import subprocess

    from conftest import QP
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_RUNTIME_DIR", "ECORESP_QGIS_HOME")}
    env["TMPDIR"] = str(tmp_path)
    proc = subprocess.run([QP, "run", "ecoresp:trend", "--", f"INPUT={tmp_path}/none.tif"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert os.listdir(tmp_path) == []
