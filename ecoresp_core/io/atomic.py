"""Outputs written under a temporary name in their destination folder and renamed only when they
are complete, so that a failed, cancelled or killed run never leaves a half-written file under
the destination's name and never changes an older file there.

A temporary file is named ``.<name>.<pid>-<random>.partial<suffix>``: hidden, beside its
destination (the rename stays on one file system), and carrying the id of the process writing
it, so that the next run to the same destination removes the ones whose process is gone (a run
killed by SIGKILL cannot clean up after itself).
"""

import contextlib
import glob
import os
import uuid

from ..errors import OutputError

PARTIAL = ".partial"


def partial_path(path, suffix=""):
    """A new temporary name for ``path`` (same folder, this process's id in it)."""
    folder, base = os.path.split(os.path.abspath(str(path)))
    return os.path.join(folder, f".{base}.{os.getpid()}-{uuid.uuid4().hex[:8]}{PARTIAL}{suffix}")


def _process_alive(pid):
    if os.name == "nt":  # no cheap liveness test: leave the file
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_partials(path):
    """Remove the temporary files of ``path`` left by processes that no longer run; returns
    their number."""
    folder, base = os.path.split(os.path.abspath(str(path)))
    removed = 0
    for tmp in glob.glob(os.path.join(glob.escape(folder), f".{glob.escape(base)}.*{PARTIAL}*")):
        tag = os.path.basename(tmp)[len(base) + 2:].split(PARTIAL, 1)[0]
        pid = tag.split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _process_alive(int(pid)):
            with contextlib.suppress(OSError):
                os.remove(tmp)
                removed += 1
    return removed


def check_output_folder(path):
    """Raise OutputError unless the folder of ``path`` exists and ``path`` is not a folder."""
    path = str(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise OutputError(f"{path}: output folder {folder} does not exist")
    if os.path.isdir(path):
        raise OutputError(f"{path}: is a folder, not a file name")


def write_error(path, exc):
    """The OutputError reporting that ``path`` could not be written (``exc``: the OSError or
    GDAL error, e.g. a full disk or a read-only folder)."""
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return OutputError(f"{path}: cannot be written ({reason}); nothing was written there")


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """Yield a temporary path for ``path``; rename it to ``path`` when the block ends without an
    error, else remove it. Write errors (OSError) become OutputError naming ``path``."""
    check_output_folder(path)
    remove_stale_partials(path)
    tmp = partial_path(path, suffix)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        raise write_error(path, exc) from None
    finally:
        if os.path.exists(tmp):
            with contextlib.suppress(OSError):
                os.remove(tmp)
