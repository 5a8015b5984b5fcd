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


@pytest.mark.slow
def test_workers_start_a_local_cluster_with_the_steps_malloc(stack, tmp_path, monkeypatch):
    """``--workers N`` (run_on(workers=N)) starts N worker processes with glibc's settings for the
    step in their environment before they start (scheduler.MALLOC: gridded steps map blocks from
    1 MiB, partitioning keeps blocks up to 32 MiB in the heap); the trend there equals the trend on
    local threads bit for bit."""
    from osgeo import gdal

    from ecoresp_core.cube.scheduler import run_on
    from ecoresp_core.cube.trends import trend_files
    names = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
    for n in names:  # as set in a user's environment they would win (another cluster's nannies set them here)
        monkeypatch.delenv(n, raising=False)

    def malloc_environ():
        return tuple(os.environ.get(n) for n in names)

    with run_on(workers=2, memory_mb=256) as where:
        chunks = where.client.run(malloc_environ)
        trend_files(stack, str(tmp_path / "cluster.tif"), where=where)
    with run_on(workers=1, memory_mb=256, malloc="tasks") as where:
        tasks = where.client.run(malloc_environ)
    assert list(chunks.values()) == [("1048576", "65536")] * 2  # the trim threshold: dask's own
    assert list(tasks.values()) == [("33554432", "33554432")]
    assert [os.environ.get(n) for n in names] == [None, None]  # nothing left in this process's environment
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "4194304")
    with run_on(workers=1, memory_mb=256, malloc="tasks") as where:
        assert list(where.client.run(malloc_environ).values()) == [("4194304", "33554432")]
    trend_files(stack, str(tmp_path / "local.tif"))
    a, b = gdal.Open(str(tmp_path / "cluster.tif")), gdal.Open(str(tmp_path / "local.tif"))
    assert a.RasterCount == b.RasterCount > 3
    np.testing.assert_array_equal(a.ReadAsArray(), b.ReadAsArray())
    with pytest.raises(ValueError, match="malloc"):
        with run_on(malloc="heap"):
            pass
