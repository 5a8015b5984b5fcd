"""Where a cube computation runs: dask's local threaded scheduler within a memory budget, or a
``dask.distributed`` cluster (a scheduler address, or a ``Client`` the caller made).

Every step of :mod:`ecoresp_core.cube` builds a lazy, chunked xarray object from the same
kernels the QGIS algorithms call; :func:`run_on` decides where it is computed:

    with run_on(memory_mb=2048) as where:            # this machine, threads, 2 GB for the blocks
        ...
    with run_on("tcp://10.0.0.5:8786") as where:      # a cluster (dask-jobqueue, Kubernetes, ...)
        ...

Chunks are sized from the memory budget (:func:`chunk_pixels`): on the local scheduler the
``threads`` chunks in flight share the budget; on a cluster each worker holds one chunk per
thread, so the budget is per worker (a worker's ``memory_limit``).  Results never depend on where
or how they are chunked: every kernel is per pixel (or per site-year), and random numbers are
seeded by pixel or site-year, never by chunk.

The QGIS desktop's helper processes (``jobs.parallel.Workers``) are not used here.
"""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass, field

from ..errors import InputError

DEFAULT_MEMORY_MB = 1024
MIN_MEMORY_MB = 32
# the part of the budget given to chunks in flight; the rest is for the interpreter, the
# libraries, the scheduler's bookkeeping and the input/output buffers (measured on the trend
# and predict steps, tests/core/cube/test_cube_memory.py)
CHUNK_SHARE = 0.5


@dataclass
class Where:
    """Where and with what a cube step is computed (from :func:`run_on`)."""

    memory_mb: float = DEFAULT_MEMORY_MB
    threads: int = 1
    client: object = None  # a dask.distributed.Client, or None for the local threaded scheduler
    address: str | None = None
    details: dict = field(default_factory=dict)
    chunks: dict | None = None  # {"y": rows, "x": cols}: the user's spatial chunks, instead of the budget's

    @property
    def distributed(self):
        return self.client is not None

    def chunk_budget_mb(self):
        """Memory (MB) one chunk in flight may take: the budget's chunk share divided among
        the chunks computed at the same time (local threads, or one worker's threads)."""
        return max(self.memory_mb * CHUNK_SHARE / max(self.threads, 1), 1.0)

    def compute(self, *objects):
        """dask.compute of ``objects`` here (their numpy/pandas values, in order)."""
        import dask
        if self.client is not None:
            return tuple(self.client.compute(list(objects), sync=True))
        return dask.compute(*objects, scheduler="threads", num_workers=self.threads)

    def persist(self, objects):
        """The dask ``objects`` computed and kept where they are (worker memory on a cluster), as
        lazy objects later tasks take without recomputing them."""
        import dask
        if self.client is not None:
            return list(self.client.persist(list(objects)))
        return list(dask.persist(*objects, scheduler="threads", num_workers=self.threads))

    def describe(self):
        if self.client is not None:
            n = self.details.get("workers", "?")
            kind = "local cluster" if self.details.get("local_cluster") else f"cluster {self.address or ''}".strip()
            return (f"dask.distributed {kind}: {n} workers, {self.threads} threads each, "
                    f"{self.memory_mb:g} MB per worker")
        return f"dask local threads ({self.threads}), memory budget {self.memory_mb:g} MB"


def default_threads():
    """Threads of the local scheduler: the cores this process may use (at most 8 by default)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


@contextlib.contextmanager
def run_on(scheduler=None, memory_mb=DEFAULT_MEMORY_MB, threads=None, workers=None, malloc="chunks"):
    """Context for cube computations (yields a :class:`Where`).

    ``scheduler``: None (dask's local threaded scheduler, ``threads`` threads, default
    :func:`default_threads`), an address ``'tcp://host:8786'`` (a running dask.distributed
    scheduler: connected here, closed at the end), or a ``dask.distributed.Client`` (used as is,
    left open).  ``workers``: without ``scheduler``, start a ``LocalCluster`` of that many worker
    processes on this machine for the run (``threads`` threads each, default 1; each worker's
    memory limit ``memory_mb``), stopped at the end.  ``memory_mb``: the budget the chunks are
    sized for (on a cluster, per worker; default: the smallest worker memory limit, else
    ``DEFAULT_MEMORY_MB``).  ``malloc``: "chunks" (the gridded steps) or "tasks" (site
    partitioning), glibc's settings for what the step allocates (``MALLOC``) in the processes this
    run starts or, on local threads, in this one; a cluster given by address or Client keeps its own.
    """
    if malloc not in MALLOC:
        raise ValueError(f"malloc: {malloc!r} is not one of {sorted(MALLOC)}")
    if memory_mb is not None and float(memory_mb) < MIN_MEMORY_MB:
        raise InputError(f"memory budget (memory_mb): {memory_mb} MB is too small; give at least {MIN_MEMORY_MB} MB")
    if scheduler is None and workers:
        if int(workers) < 1:
            raise InputError(f"workers: {workers} is not a positive number of worker processes")
        from distributed import Client
        mb = float(memory_mb or DEFAULT_MEMORY_MB)
        with local_cluster(int(workers), int(threads or 1), mb, malloc) as cluster, \
                Client(cluster, set_as_default=False) as client, \
                run_on(client, memory_mb=mb) as where:
            where.details["local_cluster"] = int(workers)
            yield where
        return
    if scheduler is None:
        import dask
        n = default_threads() if threads is None else int(threads)
        if n < 1:
            raise InputError(f"threads: {threads} is not a positive number of threads")
        where = Where(memory_mb=float(memory_mb or DEFAULT_MEMORY_MB), threads=n)
        _set_malloc(malloc)
        with dask.config.set(scheduler="threads", num_workers=n):
            yield where
        return
    try:
        from distributed import Client
    except ImportError as exc:  # pragma: no cover - distributed is a Debian package of the setup
        raise InputError("a cluster needs the Python package 'distributed' (dask.distributed)") from exc
    own = isinstance(scheduler, str)
    if own:
        try:
            client = Client(scheduler, timeout="20s", set_as_default=False)
        except OSError as exc:
            raise InputError(f"scheduler: cannot reach the dask scheduler at {scheduler} ({exc})") from exc
    else:
        client = scheduler
    try:
        info = client.scheduler_info()
        workers = info.get("workers", {}).values()
        per_worker = [w.get("nthreads", 1) for w in workers] or [1]
        limits = [w.get("memory_limit") or 0 for w in workers]
        if memory_mb is None:
            positive = [m for m in limits if m]
            memory_mb = min(positive) / 2 ** 20 if positive else DEFAULT_MEMORY_MB
        where = Where(memory_mb=float(memory_mb), threads=max(per_worker), client=client,
                      address=getattr(client.scheduler, "address", None) if own else None,
                      details={"workers": len(per_worker), "threads": sum(per_worker)})
        with client.as_current():
            yield where
    finally:
        if own:
            client.close()


# glibc malloc settings of a run's processes, by what its step allocates: "chunks" (the gridded
# steps: chunk arrays of megabytes) maps blocks of 1 MiB and more and hands them back to the system
# when freed, so that a run stays near its memory budget (by default the threshold grows as big
# arrays are freed, and freed chunks then stay in each thread's heap,
# tests/core/cube/test_cube_memory.py); "tasks" (site partitioning: many arrays of a site-year's
# length and more made and freed by every fit) keeps blocks up to 32 MiB in the heap (batch
# partitioning in half the time, tests/bench/bench_cluster_sites.py).  dask's nanny sets
# MALLOC_TRIM_THRESHOLD_=64 KiB, which also fixes the mmap threshold at its 128 KiB floor: every
# array from 128 KiB (a site-year column of 17 520 float64 is 137 KiB) is then a fresh mapping,
# zero-filled page by page.  Workers get them in their environment before they start; a local run
# sets them in its own process (mallopt).
MALLOC = {"chunks": {"MALLOC_MMAP_THRESHOLD_": 1 << 20},
          "tasks": {"MALLOC_MMAP_THRESHOLD_": 32 << 20, "MALLOC_TRIM_THRESHOLD_": 32 << 20}}
_MALLOPT = {"MALLOC_MMAP_THRESHOLD_": -3, "MALLOC_TRIM_THRESHOLD_": -1}  # M_MMAP_THRESHOLD, M_TRIM_THRESHOLD


def local_cluster(workers, threads=1, memory_mb=DEFAULT_MEMORY_MB, malloc="chunks"):
    """A ``dask.distributed.LocalCluster`` of ``workers`` processes with ``threads`` threads and
    ``memory_mb`` MB each, on this machine, no dashboard, the workers' malloc set for the step
    (``MALLOC[malloc]``; a MALLOC_* variable set in this process's environment wins, as it does in
    dask): the cluster ``run_on(workers=...)`` starts (a context manager)."""
    import dask
    from distributed import LocalCluster
    own = {k: v for k, v in MALLOC[malloc].items() if k not in os.environ}
    environ = {**dask.config.get("distributed.nanny.pre-spawn-environ", {}), **own}
    before = {k: os.environ.get(k) for k in environ}
    try:
        with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
            return LocalCluster(n_workers=int(workers), threads_per_worker=int(threads), processes=True,
                                dashboard_address=None, memory_limit=int(float(memory_mb) * 2 ** 20))
    finally:
        # the nannies copy their settings into this process's environment before they start a
        # worker, where they would override the next cluster's (dask reads the environment first)
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def sizing(where):
    """``where``, or what a lazy step sizes its chunks for when its caller gives no ``where``: the
    local scheduler's defaults (:func:`default_threads`, ``DEFAULT_MEMORY_MB``)."""
    return where if where is not None else Where(threads=default_threads())


@contextlib.contextmanager
def here(where, memory_mb=None):
    """``where`` itself, or dask's local threads within ``memory_mb`` (default ``DEFAULT_MEMORY_MB``)
    for the block: how a file-to-file step runs when its caller gives no ``where``."""
    if where is not None:
        yield where
        return
    with run_on(memory_mb=memory_mb or DEFAULT_MEMORY_MB) as local:
        yield local


def _set_malloc(malloc):
    """This process's glibc malloc as ``MALLOC[malloc]`` (a local run); elsewhere a no-op."""
    import ctypes
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
        for name, value in MALLOC[malloc].items():
            mallopt(_MALLOPT[name], value)
    except (OSError, AttributeError):  # not glibc
        pass


def chunk_pixels(bytes_per_pixel, where):
    """Pixels per chunk such that one chunk's working memory (``bytes_per_pixel`` each: every
    time step of every input, the intermediates and the outputs) fits the chunk budget of
    ``where`` (at least 1)."""
    budget = where.chunk_budget_mb() * 2 ** 20
    return max(1, int(budget // max(float(bytes_per_pixel), 1.0)))


CHUNKS_PER_THREAD = 4


def min_chunks_pixels(n_pixels, where):
    """Pixels per chunk that give every thread (of all workers) at least ``CHUNKS_PER_THREAD``
    chunks, so that a cube smaller than the budget still keeps every worker busy and the last
    chunks do not leave workers idle (at least 1024 pixels: tiny chunks cost more to schedule
    than to compute)."""
    threads = max(int(where.details.get("threads", where.threads) or 1), 1)
    return max(1024, -(-int(n_pixels) // (CHUNKS_PER_THREAD * threads)))


def spatial_chunks(height, width, pixels):
    """(rows, cols) of a spatial chunk of at most ``pixels`` pixels: whole rows when a row fits
    (rows are what GeoTIFF strips and the QGIS jobs' blocks are made of), else part of one row."""
    pixels = max(1, int(pixels))
    if pixels >= width:
        return max(1, min(height, pixels // width)), width
    return 1, max(1, pixels)


def chunk_spec(da, bytes_per_pixel, where, y="y", x="x", time="time"):
    """A ``{dim: size}`` chunking of ``da``: the whole time axis in one chunk, space in chunks of
    :func:`chunk_pixels`, or as ``where.chunks`` says.  Explicit chunks of the caller may be kept
    instead (see ``rechunk``)."""
    pixels = min(chunk_pixels(bytes_per_pixel, where), min_chunks_pixels(da.sizes[y] * da.sizes[x], where))
    rows, cols = spatial_chunks(da.sizes[y], da.sizes[x], pixels)
    spec = {y: rows, x: cols}
    if where.chunks:  # the user's chunks (python -m ecoresp_core --chunks), each side within the cube
        spec.update({d: min(int(n), da.sizes[d]) for d, n in where.chunks.items() if d in (y, x)})
    if time in da.dims:
        spec[time] = -1
    return spec


def rechunk(da, bytes_per_pixel, where, keep=False, y="y", x="x", time="time"):
    """``da`` chunked for a per-pixel step: the time axis whole; space chunked by the memory
    budget, or, with ``keep`` and a dask-backed ``da``, as the caller chunked it (only the time
    axis joined).  numpy-backed ``da`` become dask-backed."""
    if keep and getattr(da, "chunks", None):
        return da.chunk({time: -1}) if time in da.dims else da
    return da.chunk(chunk_spec(da, bytes_per_pixel, where, y, x, time))


def n_chunks(da):
    """Number of chunks of a dask-backed DataArray (1 when numpy-backed)."""
    if not getattr(da, "chunks", None):
        return 1
    return math.prod(len(c) for c in da.chunks)
