"""Block work on several cores: threads, plus helper processes for heavy numpy loops.

Threads suffice when every numpy call is long (the GIL is released inside it); work
made of many medium-sized numpy calls (the long Theil-Sen path of :mod:`ecoresp_core.trends.trend`)
spends much of its time waiting for the GIL, so two threads give far less than twice
the speed.  A helper *process* has its own GIL.  :class:`Workers` therefore runs ``n`` lanes, each
driven by one thread of a pool: lane 0 computes in this process, the other lanes hand
their block to a helper process when the work is marked heavy (else they compute
locally too).

The helper is a plain ``python -c`` child of the same interpreter (no
``multiprocessing``: no spawn of the host application's executable, no atexit
machinery, no resource tracker; this matters inside ``qgis_process`` and QGIS
desktop, where ``sys.executable`` is not a Python).  It imports only
``ecoresp_core``, reads pickled ``(module, function, args)`` requests from its stdin
and writes pickled results to its stdout, and exits at end of input.  It is started
lazily, checked by a handshake (same Python and numpy versions, else it is not used),
and closed by :meth:`Workers.close` (``with Workers(...)``): stdin closed, waited for,
killed if it does not end.  Any failure of a helper (cannot start, dies, protocol
error) disables it and its lane computes locally from then on, so results never
depend on helpers: block functions are deterministic, and the same block gives the
same bits in either place.

``ECORESP_HELPERS=0`` in the environment disables helper processes.
"""

from __future__ import annotations

import importlib
import os
import pickle
import queue
import struct
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor

from ..common.joblib_workers import helper_python  # the interpreter of this installation

__all__ = ["Workers", "helper_python"]

_LEN = struct.Struct("<Q")
# the folder holding ecoresp_core/ (this file is ecoresp_core/jobs/parallel.py)
_CORE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); "
         "from ecoresp_core.jobs.parallel import _helper_main; _helper_main()")


def _core_module(name):
    """Module name relative to the core package ('x.ecoresp_core.a.b' -> 'ecoresp_core.a.b')."""
    parts = name.split(".")
    if "ecoresp_core" not in parts:
        raise ValueError(f"{name} is not a module of ecoresp_core")
    return ".".join(parts[parts.index("ecoresp_core"):])


def _send(f, obj):
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    f.write(_LEN.pack(len(data)))
    f.write(data)
    f.flush()


def _recv(f):
    head = f.read(_LEN.size)
    if len(head) < _LEN.size:
        raise EOFError("helper stream closed")
    (size,) = _LEN.unpack(head)
    data = f.read(size)
    if len(data) < size:
        raise EOFError("helper stream truncated")
    return pickle.loads(data)


def _versions():
    import numpy
    return tuple(sys.version_info[:3]), numpy.__version__


def _helper_main():
    """Entry of a helper process (see the module docstring)."""
    fin = sys.stdin.buffer
    fout = sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but the protocol goes to the parent's pipe
    _send(fout, ("hello", _versions()))
    funcs = {}
    while True:
        try:
            mod, name, args = _recv(fin)
        except EOFError:
            return
        try:
            fn = funcs.get((mod, name))
            if fn is None:
                fn = funcs[(mod, name)] = getattr(importlib.import_module(mod), name)
            _send(fout, ("ok", fn(*args)))
        except BaseException as exc:  # reported to the parent, which computes locally
            import traceback
            _send(fout, ("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))


class HelperError(RuntimeError):
    """A helper process could not be used."""


class _Helper:
    """One helper process; :meth:`call` is used by one thread at a time."""

    def __init__(self, python):
        env = dict(os.environ)
        for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[k] = "1"
        self._err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([python, "-c", _BOOT, _CORE_ROOT], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._err, env=env,
                                     creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
        self._ready = False

    def _stderr(self):
        try:
            self._err.seek(0)
            return self._err.read().decode("utf-8", "replace").strip()[-2000:]
        except (OSError, ValueError):
            return ""

    def call(self, fn, args):
        try:
            if not self._ready:
                tag, ver = _recv(self.proc.stdout)
                if tag != "hello" or tuple(ver) != _versions():
                    raise HelperError(f"helper runs Python/numpy {ver}, this process {_versions()}")
                self._ready = True
            _send(self.proc.stdin, (_core_module(fn.__module__), fn.__name__, args))
            tag, res = _recv(self.proc.stdout)
        except HelperError:
            raise
        except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError) as exc:
            raise HelperError(f"helper process failed ({exc}); {self._stderr()}") from exc
        if tag != "ok":
            raise HelperError(f"helper raised {res}")
        return res

    def peak_mb(self):
        """Peak resident memory of the helper so far (MB; Linux /proc, else None)."""
        try:
            with open(f"/proc/{self.proc.pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024.0
        except (OSError, ValueError, IndexError):
            pass
        return None

    def close(self, timeout=10.0):
        p = self.proc
        try:
            if p.stdin:
                p.stdin.close()
        except OSError:
            pass
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        for f in (p.stdout, self._err):
            try:
                f.close()
            except OSError:
                pass


class Workers:
    """``n`` lanes for block work (default ``min(2, cpu count)``); see the module docstring.

    ``helpers``: None (default) uses helper processes for heavy work unless
    ``ECORESP_HELPERS=0``; False never.  Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, n=None, helpers=None):
        self.n = max(1, int(n if n is not None else min(2, os.cpu_count() or 1)))
        if helpers is None:
            helpers = os.environ.get("ECORESP_HELPERS", "1").strip() not in ("0", "false", "no")
        self.use_helpers = bool(helpers) and self.n > 1
        self._helpers = [None] * self.n  # lane -> _Helper (lanes >= 1), started lazily
        self._broken = [False] * self.n
        self.helper_failures = []  # messages of helpers that were given up (for the caller's log)
        self.helper_blocks = 0  # blocks computed by helper processes
        self.helper_peak_mb = None  # largest peak RSS of a closed helper (Linux)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        for i, h in enumerate(self._helpers):
            if h is not None:
                peak = h.peak_mb()
                if peak is not None:
                    self.helper_peak_mb = max(self.helper_peak_mb or 0.0, peak)
                h.close()
                self._helpers[i] = None

    def _lane_compute(self, lane, fn, args, heavy):
        if heavy and lane > 0 and self.use_helpers and not self._broken[lane]:
            try:
                h = self._helpers[lane]
                if h is None:
                    py = helper_python()
                    if py is None:
                        raise HelperError("no Python interpreter found for helper processes")
                    h = self._helpers[lane] = _Helper(py)
                res = h.call(fn, args)
                self.helper_blocks += 1
                return res
            except (HelperError, OSError) as exc:
                self._broken[lane] = True
                self.helper_failures.append(str(exc))
                h = self._helpers[lane]
                if h is not None:
                    h.close(timeout=1.0)
                    self._helpers[lane] = None
        return fn(*args)

    def run(self, fn, blocks, make_args, deliver, heavy=False, progress=None, check=None):
        """``deliver(block, fn(*make_args(block)))`` for every block, on the lanes.

        ``fn`` must be a module-level function of ``ecoresp_core`` (a helper imports it
        by name) whose arguments and result pickle.  ``deliver`` runs in the worker
        threads (under a lock); ``progress(done_fraction)`` and ``check()`` (which may
        raise, e.g. ``Cancelled``) run in the calling thread between blocks."""
        blocks = list(blocks)
        nb = len(blocks)
        if nb == 0:
            return
        lock = threading.Lock()
        if self.n == 1 or nb == 1:
            for i, b in enumerate(blocks):
                if check is not None:
                    check()
                deliver(b, fn(*make_args(b)))
                if progress is not None:
                    progress((i + 1) / nb)
            return
        lanes = queue.Queue()
        for lane in range(self.n):
            lanes.put(lane)

        def work(b):
            lane = lanes.get()
            try:
                res = self._lane_compute(lane, fn, make_args(b), heavy)
            finally:
                lanes.put(lane)
            with lock:
                deliver(b, res)

        if check is not None:
            check()
        with ThreadPoolExecutor(max_workers=self.n) as ex:
            pending = list(blocks)
            running = []
            done = 0
            try:
                while pending or running:
                    while pending and len(running) < 2 * self.n:
                        running.append(ex.submit(work, pending.pop(0)))
                    running.pop(0).result()
                    done += 1
                    if progress is not None:
                        progress(done / nb)
                    if check is not None:
                        check()
            except BaseException:
                for f in running:
                    f.cancel()
                raise
