"""``python -m ecoresp_core STEP``: options from the step's file function, bad input as one line
``ecoresp: error: ...`` with exit status 1 (never a traceback), a JSON summary on success."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import monthly_dates, write_stack
from ecoresp_core.cube import cli

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def run(*args):
    return subprocess.run([sys.executable, "-m", "ecoresp_core", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    rng = np.random.default_rng(5)
    values = rng.normal(0, 1, (24, 6, 8)) + np.arange(24)[:, None, None] * 0.1
    return write_stack(tmp_path_factory.mktemp("cli") / "er.tif", values, monthly_dates(2001, 24), nodata=-9999)


def test_every_step_has_its_options():
    for step in cli.STEPS:
        fn, parser = cli.step_parser(step)
        flags = {a.dest for a in parser._actions}
        assert {"scheduler", "memory_mb", "threads", "workers", "chunks"} <= flags, step
        assert "where" not in flags and "progress" not in flags
    _, parser = cli.step_parser("predict")
    assert any(a.dest == "driver_files" for a in parser._actions)


def test_a_run_prints_its_summary(stack, tmp_path):
    out = tmp_path / "trend.tif"
    proc = run("trend", "--input", stack, "--output", out, "--slope-unit", "step", "--chunks", "y=2,x=3",
               "--threads", "2", "--memory-mb", "64")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["step"] == "trend" and summary["output"] == str(out)
    assert summary["where"] == "dask local threads (2), memory budget 64 MB"
    from ecoresp_core.io.series import open_series
    from ecoresp_core.trends.trend import mann_kendall
    from osgeo import gdal
    expect = mann_kendall(open_series(stack).read_block(0, 6), min_valid=10)["slope"]
    ds = gdal.Open(str(out))  # kept: a band of a closed dataset crashes GDAL
    np.testing.assert_array_equal(ds.GetRasterBand(1).ReadAsArray(), expect.astype("float32"))


@pytest.mark.parametrize("args, message", [
    (["nostep"], "unknown step 'nostep'; choose one of trend, detrend"),
    (["trend", "--output", "x.tif"], "the following arguments are required: --input"),
    (["trend", "--input", "missing.tif", "--output", "x.tif"], "input: missing.tif: file not found"),
    (["trend", "--input", "{stack}", "--output", "x.tif", "--chunks", "y=0"], "--chunks: 'y=0' is not y=ROWS"),
    (["trend", "--input", "{stack}", "--output", "x.tif", "--workers", "2", "--scheduler", "tcp://h:1"],
     "give --workers (a local cluster) or --scheduler (a running one), not both"),
    (["trend", "--input", "{stack}", "--output", "x.tif", "--memory-mb", "4"],
     "memory budget (memory_mb): 4.0 MB is too small"),
    (["trend", "--input", "{stack}", "--output", "x.tif", "--min-valid", "ten"], "--min-valid: invalid int value"),
    (["trend", "--input", "{stack}", "--output", "x.tif", "--variant", "nope"], "unknown trend test 'nope'"),
    (["trend", "--input", "{stack}", "--output", "/no/such/folder/x.tif"], "/no/such/folder"),
    (["partialcorrelation", "--input", "{stack}", "--drivers", "tas", "--output", "x.tif"],
     "--drivers: 'tas' is not NAME=VALUE"),
    (["partition", "--input", "{stack}", "--output-folder", "x", "--chunks", "y=2"],
     "--chunks does not apply to the step partition"),
])
def test_bad_input_is_one_line(stack, tmp_path, args, message):
    proc = run(*[a.replace("{stack}", stack) for a in args])
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not os.path.exists(os.path.join(REPO, "x.tif"))


def test_an_unreachable_scheduler_is_named(stack, tmp_path):
    proc = run("trend", "--input", stack, "--output", tmp_path / "t.tif", "--scheduler", "tcp://127.0.0.1:9")
    assert proc.returncode == 1
    assert "scheduler: cannot reach the dask scheduler at tcp://127.0.0.1:9" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "t.tif").exists()
