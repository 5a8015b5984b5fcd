"""A run stopped by SIGTERM or SIGINT (Ctrl+C, kill, a batch scheduler's time limit) leaves no
partial output, no helper process and the older output untouched; the temporary file of a run
killed by SIGKILL (which nothing can catch) is removed by the next run to the same place."""

import glob
import os
import signal
import subprocess
import time

import numpy as np
import pytest
from conftest import HAS_QGIS_PROCESS, QP, monthly_dates, write_stack

pytestmark = [pytest.mark.skipif(not HAS_QGIS_PROCESS, reason="needs qgis_process"), pytest.mark.slow]


@pytest.fixture(scope="module")
def big_stack(tmp_path_factory):
    """A stack whose trend takes several seconds (360 months x 120 x 120)."""
    rng = np.random.default_rng(3)
    v = (rng.normal(size=(360, 120, 120)) + 0.01 * np.arange(360)[:, None, None]).astype("float32")
    return write_stack(tmp_path_factory.mktemp("big") / "big.tif", v, monthly_dates(1981, 360))


def _partials(folder):
    return glob.glob(os.path.join(folder, ".*partial*"))


def _start_and_wait_for_partial(stack, out, timeout=120):
    proc = subprocess.Popen([QP, "run", "ecoresp:trend", "--", f"INPUT={stack}", "SLOPE_UNIT=1", f"OUTPUT={out}"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    t0 = time.monotonic()
    while not _partials(os.path.dirname(out)):
        assert proc.poll() is None, f"ended before writing: {proc.stdout.read()[-2000:]}"
        assert time.monotonic() - t0 < timeout, "no partial output appeared"
        time.sleep(0.1)
    return proc


def _processes():
    """{pid: (parent pid, process group)} of the running processes, from /proc (no procps needed)."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":  # zombies are dead
                out[int(entry)] = (int(fields[1]), int(fields[2]))
    return out


def _descendants(pid):
    return [p for p, (parent, _) in _processes().items() if parent == pid]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_cleanly(big_stack, tmp_path, signum):
    out = str(tmp_path / "t.tif")
    with open(out, "wb") as fh:
        fh.write(b"older output")
    proc = _start_and_wait_for_partial(big_stack, out)
    group = os.getpgid(proc.pid)
    qgis = _descendants(proc.pid) or [proc.pid]  # the wrapper script's qgis_process.bin
    for pid in qgis:
        os.kill(pid, signum)
    text = proc.communicate(timeout=120)[0]
    assert proc.returncode == 1, text[-2000:]
    assert f"stopped by {signal.Signals(signum).name}" in text and "Traceback" not in text, text[-2000:]
    assert _partials(str(tmp_path)) == []
    assert open(out, "rb").read() == b"older output"
    time.sleep(0.5)
    alive = [p for p, (_, g) in _processes().items() if g == group]
    assert alive == [], f"processes of the run still alive: {alive}"


def test_killed_run_partials_removed_by_next_run(big_stack, tmp_path):
    out = str(tmp_path / "t.tif")
    proc = _start_and_wait_for_partial(big_stack, out)
    os.killpg(os.getpgid(proc.pid), signal.SIGKILL)
    proc.communicate(timeout=60)
    stale = _partials(str(tmp_path))
    assert stale, "SIGKILL leaves the temporary file (nothing can remove it then)"
    done = subprocess.run([QP, "run", "ecoresp:trend", "--", f"INPUT={big_stack}", "SLOPE_UNIT=1", f"OUTPUT={out}"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert _partials(str(tmp_path)) == [] and os.path.getsize(out) > 0
