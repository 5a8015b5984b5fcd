"""ecoresp:fitupscaler's model search (MODEL=1) through qgis_process when the first ``python3`` on
PATH is not this installation's Python (issue 15).

Embedded in qgis_process, Python takes the first ``python3`` on PATH as ``sys.executable``; joblib
started its worker processes (a forest inside scikit-learn's search) with it and every worker
died (TerminatedWorkerError, exit 1).  Here PATH starts with a folder whose ``python3`` and
``python`` start a Python without its packages (``-I -S``): the search must run on workers of
this installation's Python (ecoresp_core.common.joblib_workers), or in threads with a note in
the log when worker processes are disabled."""

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
from conftest import DATA, HAS_QGIS_PROCESS, QP

pytestmark = [pytest.mark.skipif(not HAS_QGIS_PROCESS or os.name == "nt", reason="needs qgis_process (POSIX)"),
              pytest.mark.slow]  # a qgis_process start-up and a nested search, ~15-20 s each
FEATURES = ["TA_F_degC", "SW_IN_F_W_m2", "VPD_F_hPa", "IGBP"]
THREADS_NOTE = "scikit-learn's parallel work runs in threads, not worker processes"


@pytest.fixture(scope="module")
def site_month(tmp_path_factory):
    df = pd.read_csv(os.path.join(DATA, "sites", "fluxnet2015_site_month.csv"))
    df = df[df["frac_measured"] >= 0.2]
    sites = sorted(df["site_id"].unique())[::12]  # 15 sites
    path = tmp_path_factory.mktemp("sm") / "site_month.csv"
    df[df["site_id"].isin(sites)][["site_id", "RECO_NT_gC_m2_d"] + FEATURES].to_csv(path, index=False)
    return str(path)


@pytest.fixture(scope="module")
def bare_python_first(tmp_path_factory):
    """Environment whose PATH starts with a python3/python that lacks every installed package."""
    folder = tmp_path_factory.mktemp("fakebin")
    real = os.path.realpath(sys.executable)
    for name in ("python3", "python"):
        path = folder / name
        path.write_text(f'#!/bin/sh\nexec "{real}" -I -S "$@"\n')
        path.chmod(0o755)
    return dict(os.environ, PATH=f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")


def fit_search(env, site_month, out):
    proc = subprocess.run([QP, "--json", "run", "ecoresp:fitupscaler", "--", f"INPUT={site_month}",
                           "TARGET=RECO_NT_gC_m2_d", f"FEATURES={';'.join(FEATURES)}", "GROUP=site_id",
                           "MODEL=1", "FOLDS=3", "SEED=1", "TREES=8", "N_ITER=1", "THREADS=2", f"OUTPUT={out}"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "TerminatedWorkerError" not in proc.stderr
    return json.loads(proc.stdout)


def check_model(path):
    from ecoresp_core.upscaling.model import validate_model_file
    meta = validate_model_file(path)
    assert meta["features"] == FEATURES and meta["selection"] == "search"
    assert meta["chosen"] in ("rf", "gbr", "mlp") and meta["cv"]["n_splits"] == 3
    return meta


def test_search_runs_on_workers_of_this_python(bare_python_first, site_month, tmp_path):
    probe = subprocess.run(["python3", "-c", "import numpy"], env=bare_python_first, capture_output=True)
    assert probe.returncode != 0  # the python3 on that PATH has no packages indeed
    res = fit_search(bare_python_first, site_month, tmp_path / "search.npz")
    check_model(res["results"]["OUTPUT"])
    assert 0.0 < res["results"]["CV_R2"] <= 1.0
    assert not any(THREADS_NOTE in line for line in res["log"]["info"])  # worker processes were used


def test_search_in_threads_reports_it(bare_python_first, site_month, tmp_path):
    env = dict(bare_python_first, ECORESP_HELPERS="0")
    res = fit_search(env, site_month, tmp_path / "threads.npz")
    check_model(res["results"]["OUTPUT"])
    assert f"{THREADS_NOTE}: worker processes are disabled (ECORESP_HELPERS=0)" in res["log"]["info"]
