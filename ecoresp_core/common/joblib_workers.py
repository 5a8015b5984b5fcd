"""Worker processes of scikit-learn/joblib started with the interpreter of this installation.

scikit-learn runs ``n_jobs != 1`` work through joblib.  A forest asks for threads, but inside
another joblib call (a forest in ``RandomizedSearchCV`` or ``cross_validate``) it inherits the
outer backend, loky, which starts worker *processes* with ``sys.executable``.  Inside
``qgis_process`` and QGIS desktop that is not this Python: embedded, Python takes the first
``python3`` on PATH (another Python without these packages, or anything named so), or the
application itself (``qgis-bin.exe``, ``QGIS.app``), and every worker dies
(``TerminatedWorkerError``).

:func:`process_workers` is the context manager to put around such calls.  It picks the interpreter
once per process (:func:`worker_python`): ``sys.executable`` when it is named like a Python, else
:func:`helper_python`, each kept only when a probe run of it (with the environment and
``sys.path`` a loky worker gets) imports the same Python, joblib, numpy and scikit-learn versions.
Within the context the executables joblib starts processes with (``sys.executable``, loky's
``spawn._python_exe``, multiprocessing's ``spawn.set_executable``) point at it, and a first
parallel call (the worker handshake, once per process) shows that the workers start.  When no
interpreter passes, or the handshake fails, or ``ECORESP_HELPERS=0`` is set, joblib runs in
threads instead and the context yields a note saying why (for the caller's log).  The choice does
not change the results: scikit-learn seeds every tree, fold and candidate itself (a forest's
``n_jobs`` moves the last bits of its summed predictions, whatever runs the jobs).

Pure Python and joblib; works on Linux, macOS and Windows (nothing platform-specific beyond
``CREATE_NO_WINDOW`` for the probe on Windows).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading

__all__ = ["helper_python", "process_workers", "worker_python"]

PROBE_TIMEOUT = 120.0  # seconds for the probe run of a candidate interpreter
HANDSHAKE_TIMEOUT = 120.0  # seconds for the first tasks of the worker processes
# run by a candidate: boot as a loky worker does (joblib from the default path), then take this
# process's sys.path (a loky worker receives it before it unpickles anything) and report versions
_PROBE = ("import sys, json, joblib; jv = joblib.__version__; sys.path = json.loads(sys.stdin.read()); "
          "import numpy, sklearn; print(json.dumps([list(sys.version_info[:3]), jv, numpy.__version__, "
          "sklearn.__version__]))")

_lock = threading.Lock()
_chosen = {}  # "python" -> (path or None, reason or None), the choice of this process
_handshakes = {}  # python -> None (workers start) or the reason they do not
_patch = {"depth": 0, "saved": None}


def _named_python(path):
    """True when the file name of ``path`` is a Python's (python, python3.11, python.exe)."""
    return os.path.basename(path or "").lower().startswith("python")


def helper_python():
    """Path of a Python interpreter of this installation (or None): the one of
    ``sys.exec_prefix`` with this version, then ``sys.executable`` if it is a Python."""
    ver = "%d.%d" % sys.version_info[:2]
    cands = []
    for prefix in dict.fromkeys([sys.exec_prefix, sys.base_exec_prefix]):
        cands += [os.path.join(prefix, "bin", "python" + ver), os.path.join(prefix, "bin", "python3"),
                  os.path.join(prefix, "python.exe")]
    if _named_python(sys.executable):
        cands.append(sys.executable)
    for c in cands:
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


def _versions():
    """[python version, joblib, numpy, scikit-learn versions] of this process (as the probe prints)."""
    import joblib
    import numpy
    import sklearn
    return [list(sys.version_info[:3]), joblib.__version__, numpy.__version__, sklearn.__version__]


def _probe(python):
    """None when ``python`` can run this process's loky workers, else the reason it cannot."""
    path = [p if p else os.getcwd() for p in sys.path]
    try:
        proc = subprocess.run([python, "-c", _PROBE], input=json.dumps(path), capture_output=True, text=True,
                              timeout=PROBE_TIMEOUT, creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
    except (OSError, subprocess.SubprocessError) as exc:
        return f"cannot run it ({exc})"
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        err = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        return f"it fails: {err[:300]}"
    try:
        theirs = json.loads(lines[-1])
    except ValueError:
        return f"unexpected answer {lines[-1][:200]!r}"
    ours = _versions()
    if theirs != ours:
        names = ("Python", "joblib", "numpy", "scikit-learn")
        diff = [f"{n} {t} (this process {o})" for n, t, o in zip(names, theirs, ours) if t != o]
        return "it has other versions: " + ", ".join(diff or [str(theirs)])
    return None


def _candidates():
    """Interpreters to try, in order: ``sys.executable`` when it is named like a Python, then
    :func:`helper_python`."""
    cands = [sys.executable] if _named_python(sys.executable) else []
    helper = helper_python()
    if helper:
        cands.append(helper)
    return list(dict.fromkeys(cands))


def worker_python():
    """(path, None) of the interpreter for joblib's worker processes, or (None, reason) when no
    interpreter of this installation can run them.  Chosen once per process."""
    with _lock:
        if "python" not in _chosen:
            reasons = []
            for python in _candidates():
                why = _probe(python)
                if why is None:
                    _chosen["python"] = (python, None)
                    break
                reasons.append(f"{python}: {why}")
            else:
                _chosen["python"] = (None, "; ".join(reasons) or "no Python interpreter of this installation found")
        return _chosen["python"]


def _executable_settings():
    """[(get, set)] of the executables joblib's processes start with: ``sys.executable`` (loky's
    workers on POSIX), loky's ``spawn._python_exe`` (its resource tracker; its workers on Windows)
    and multiprocessing's ``spawn.set_executable`` (multiprocessing's resource tracker, which loky
    starts too)."""
    import multiprocessing.spawn as mp_spawn
    settings = [(lambda: sys.executable, lambda v: setattr(sys, "executable", v)),
                (mp_spawn.get_executable, lambda v: v and mp_spawn.set_executable(v))]
    try:
        from joblib.externals.loky.backend import spawn
    except ImportError:
        spawn = None
    if hasattr(spawn, "_python_exe"):
        settings.append((spawn.get_executable, lambda v: setattr(spawn, "_python_exe", v)))
    return settings


def _stop_workers():
    """Stop loky's reusable worker processes, if any, and delete joblib's temporary folders (what
    joblib's exit handler does; private names of joblib 1.2 to 1.5, skipped when absent)."""
    try:
        from joblib.externals.loky import reusable_executor
    except ImportError:
        return
    executor = getattr(reusable_executor, "_executor", None)
    if executor is not None:
        getattr(executor, "terminate", executor.shutdown)()  # terminate: joblib's executor, folders too


@contextlib.contextmanager
def _joblib_executables(python):
    """joblib's executables (:func:`_executable_settings`) point at ``python`` within the context
    (nested and concurrent uses share one change; the last one out restores the old values).  When
    ``sys.executable`` had to change (an embedding host: qgis_process, QGIS), the last one out also
    stops the workers: such a host ends without Python's exit handlers, which would stop them, and
    a worker started later, after the restore, could not start."""
    settings = _executable_settings()
    with _lock:
        if _patch["depth"] == 0:
            _patch["saved"] = [get() for get, _ in settings]
            for _, put in settings:
                put(python)
        _patch["depth"] += 1
    try:
        yield
    finally:
        with _lock:
            _patch["depth"] -= 1
            if _patch["depth"] == 0:
                if _patch["saved"][0] != python:
                    _stop_workers()
                for (_, put), value in zip(settings, _patch["saved"]):
                    put(value)


def _handshake(python, n_jobs):
    """None when loky's worker processes start and answer, else the reason (once per interpreter)."""
    with _lock:
        if python in _handshakes:
            return _handshakes[python]
    import joblib
    try:
        pids = joblib.Parallel(n_jobs=n_jobs, backend="loky", timeout=HANDSHAKE_TIMEOUT)(
            joblib.delayed(os.getpid)() for _ in range(2))
        why = None if os.getpid() not in pids else "the tasks ran in this process"
    except Exception as exc:  # noqa: BLE001 - any failure of the workers means: use threads
        first = (str(exc).splitlines() or [""])[0][:200]
        why = f"the worker processes failed ({type(exc).__name__}: {first})"
    with _lock:
        _handshakes[python] = why
    return why


def _threads():
    import joblib
    config = getattr(joblib, "parallel_config", None) or joblib.parallel_backend  # parallel_config: joblib >= 1.3
    return config("threading")


def _helpers_disabled():
    return os.environ.get("ECORESP_HELPERS", "1").strip().lower() in ("0", "false", "no")


@contextlib.contextmanager
def process_workers(n_jobs):
    """Context for scikit-learn/joblib calls with ``n_jobs``: worker processes run the interpreter
    of :func:`worker_python`, or joblib runs in threads.  Yields None, or the note (one sentence)
    saying that threads are used and why."""
    import joblib
    if n_jobs is None or joblib.effective_n_jobs(n_jobs) == 1:
        yield None
        return
    if _helpers_disabled():
        why = "worker processes are disabled (ECORESP_HELPERS=0)"
    else:
        python, why = worker_python()
        if python is not None:
            with _joblib_executables(python):
                why = _handshake(python, n_jobs)
                if why is None:
                    yield None
                    return
    with _threads():
        yield f"scikit-learn's parallel work runs in threads, not worker processes: {why}"
