"""joblib's worker processes start with this installation's Python, or joblib runs in threads with a
note (ecoresp_core.common.joblib_workers; issue 15).

``sys.executable`` is set to a fake ``python3`` (a shell script), as inside qgis_process where the
embedded Python takes the first ``python3`` on PATH.  A forest inside a cross-validation inherits
joblib's process backend (the case of the upscaling search), so it is the probe used here."""

import json
import multiprocessing.spawn
import os
import sys

import joblib
import numpy as np
import pytest
from joblib.externals.loky.backend import spawn

from ecoresp_core.common import joblib_workers as jw

pytestmark = pytest.mark.skipif(os.name == "nt", reason="the fake interpreters are shell scripts")


@pytest.fixture(autouse=True)
def fresh_choice():
    """Every test chooses the interpreter anew (the choice is cached per process)."""
    jw._chosen.clear()
    jw._handshakes.clear()
    yield
    jw._chosen.clear()
    jw._handshakes.clear()


def fake_python(folder, body):
    path = os.path.join(str(folder), "python3")
    with open(path, "w") as fh:
        fh.write("#!/bin/sh\n" + body + "\n")
    os.chmod(path, 0o755)
    return path


@pytest.fixture
def dead_python(tmp_path, monkeypatch):
    """sys.executable is a 'python3' that exits 1, as the first python3 on PATH of a user may."""
    path = fake_python(tmp_path, 'echo "not this python" >&2; exit 1')
    monkeypatch.setattr(sys, "executable", path)
    return path


def nested_forest_predictions(X, y, n_jobs=2):
    """Out-of-fold predictions of a forest inside a 1-job cross-validation (the search's case: with
    ``n_jobs != 1`` the forest inherits the process backend; with a dead ``sys.executable`` and no
    ``process_workers`` it raises TerminatedWorkerError)."""
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.model_selection import cross_val_predict
    forest = RandomForestRegressor(n_estimators=8, random_state=0, n_jobs=n_jobs)
    return cross_val_predict(forest, X, y, cv=2, n_jobs=1)


def data():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 3))
    return X, X[:, 0] * 2.0 + rng.normal(0, 0.1, 60)


def test_this_python_is_kept():
    python, why = jw.worker_python()
    assert why is None and python == sys.executable


def test_workers_start_with_this_installation_when_sys_executable_is_another(dead_python):
    X, y = data()
    expected = nested_forest_predictions(X, y, n_jobs=1)
    before = (spawn.get_executable(), multiprocessing.spawn.get_executable())
    with jw.process_workers(2) as note:
        assert note is None
        assert sys.executable == spawn.get_executable() == jw.helper_python() != dead_python
        assert os.fsdecode(multiprocessing.spawn.get_executable()) == sys.executable
        pids = joblib.Parallel(n_jobs=2)(joblib.delayed(os.getpid)() for _ in range(4))
        got = nested_forest_predictions(X, y)
    assert os.getpid() not in pids  # the tasks ran in worker processes
    np.testing.assert_allclose(got, expected, rtol=1e-12)  # forest sums in thread order
    assert sys.executable == dead_python  # restored
    assert (spawn.get_executable(), multiprocessing.spawn.get_executable()) == before
    assert jw._chosen["python"] == (jw.helper_python(), None)


def test_threads_with_a_note_when_no_interpreter_can_run_workers(dead_python, monkeypatch):
    monkeypatch.setattr(jw, "helper_python", lambda: None)
    X, y = data()
    expected = nested_forest_predictions(X, y, n_jobs=1)
    with jw.process_workers(-1) as note:
        backend, _ = joblib.parallel.get_active_backend()
        got = nested_forest_predictions(X, y)
        assert sys.executable == dead_python
    assert type(backend).__name__ == "ThreadingBackend"
    np.testing.assert_allclose(got, expected, rtol=1e-12)  # forest sums in thread order
    assert note.startswith("scikit-learn's parallel work runs in threads, not worker processes: ")
    assert f"{dead_python}: it fails: not this python" in note


def test_an_interpreter_with_other_versions_is_refused(tmp_path, monkeypatch):
    answer = json.dumps([list(sys.version_info[:3]), joblib.__version__, "0.1", jw._versions()[3]])
    other = fake_python(tmp_path, f"echo '{answer}'")
    monkeypatch.setattr(sys, "executable", other)
    monkeypatch.setattr(jw, "helper_python", lambda: None)
    python, why = jw.worker_python()
    import numpy
    assert python is None
    assert why == f"{other}: it has other versions: numpy 0.1 (this process {numpy.__version__})"


@pytest.mark.filterwarnings("ignore::UserWarning")  # loky: "resource_tracker: process died unexpectedly"
def test_threads_when_the_workers_do_not_start(tmp_path, monkeypatch):
    """The probe passes but the interpreter cannot run a loky worker: the handshake fails."""
    answer = json.dumps(jw._versions())
    liar = fake_python(tmp_path, f'case "$2" in *sklearn.__version__*) echo \'{answer}\';; *) exit 1;; esac')
    monkeypatch.setattr(sys, "executable", liar)
    monkeypatch.setattr(jw, "helper_python", lambda: None)
    with jw.process_workers(2) as note:
        backend, _ = joblib.parallel.get_active_backend()
    assert type(backend).__name__ == "ThreadingBackend"
    assert note.startswith("scikit-learn's parallel work runs in threads, not worker processes: "
                           "the worker processes failed (TerminatedWorkerError")
    assert jw._handshakes == {liar: note.split("worker processes: ", 1)[1]}


def test_helpers_disabled_or_one_job(dead_python, monkeypatch):
    monkeypatch.setattr(jw, "_probe", lambda python: pytest.fail("no probe for one job"))
    with jw.process_workers(1) as note:
        assert note is None and sys.executable == dead_python
    monkeypatch.setenv("ECORESP_HELPERS", "0")
    with jw.process_workers(2) as note:
        backend, _ = joblib.parallel.get_active_backend()
    assert type(backend).__name__ == "ThreadingBackend"
    assert note.endswith("worker processes are disabled (ECORESP_HELPERS=0)")


@pytest.mark.filterwarnings("ignore")
def test_search_fit_runs_and_reports_the_fallback(dead_python, monkeypatch):
    """fit_upscaler's search with 2 jobs: the same model with processes, threads or one job."""
    from ecoresp_core.upscaling.fit import fit_upscaler
    rng = np.random.default_rng(0)
    import pandas as pd
    rows = [{"site_id": f"S{s}", "ta": ta, "er": np.exp(0.07 * ta) + rng.normal(0, 0.1)}
            for s in range(6) for ta in rng.uniform(-5, 25, 15)]
    table = pd.DataFrame(rows)

    def fit(n_jobs):
        res = fit_upscaler(table, "er", ["ta"], model="search", seed=1, n_splits=3, n_estimators=6, n_iter=1,
                           inner_splits=2, families=("rf",), importance_repeats=1, n_jobs=n_jobs)
        return res["notes"], res["metrics"]["RMSE"].to_numpy()

    notes1, rmse1 = fit(1)
    notes2, rmse2 = fit(2)  # worker processes of this installation's Python
    monkeypatch.setattr(jw, "helper_python", lambda: None)
    jw._chosen.clear()
    notes3, rmse3 = fit(2)  # threads
    assert notes1 == notes2 == [] and len(notes3) == 1 and dead_python in notes3[0]
    np.testing.assert_allclose(rmse2, rmse1, rtol=1e-12)
    np.testing.assert_allclose(rmse3, rmse1, rtol=1e-12)
