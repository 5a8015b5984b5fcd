"""Batch site partitioning on dask.distributed (issue 16): the bundled FLUXNET2015 site-years
(tests/data/flux/FLX_*_FLUXNET2015_zarrsubset_HH_*.csv.gz, 11 site-years) partitioned with the
default methods NT, DT and DT-RH (model evidence off), one task per site-year
(ecoresp_core.cube.sites.partition_sites), on a one-worker against a two-worker LocalCluster
(processes, one thread each, BLAS pinned to one thread, started as ``partition --workers N`` starts
them: ``scheduler.local_cluster``, malloc "tasks").  Prints the wall times (best of
``--repeat``, cluster start-up and the workers' first imports excluded), the speed-up (goal: at
least 1.7x on two workers) and checks that both give the same summary bit for bit.

    .venv/bin/python tests/bench/bench_cluster_sites.py [--quick] [--repeat N]

``--quick``: two files (four site-years), one repeat.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported here or in the workers (they inherit it)
os.environ.setdefault("ECORESP_HELPERS", "0")

import argparse  # noqa: E402
import glob  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, REPO)

FILES = sorted(glob.glob(os.path.join(REPO, "tests", "data", "flux", "FLX_*_FLUXNET2015_zarrsubset_HH_*.csv.gz")))
METHODS = ("NT", "DT", "DTRH")
OPTIONS = {"NT": {"fit_qc_only": True}, "DTRH": {"joint_block_days": 4, "rh_at_night": True, "rh_function": "exp"}}


def _warm():
    """Imports of a partitioning task, done once per worker before the timing."""
    import ecoresp_core.cube.sites  # noqa: F401
    import ecoresp_core.partitioning.dtrh  # noqa: F401
    import ecoresp_core.partitioning.jointfit  # noqa: F401
    import scipy.optimize  # noqa: F401
    return os.environ.get("OMP_NUM_THREADS")


def run_cluster(n_workers, files, repeat):
    """(best wall time s, BatchPartition, OMP_NUM_THREADS of the workers, {task key: compute
    seconds} of the best run: reads, site-years, joins) of the batch on an ``n_workers`` LocalCluster."""
    from distributed import Client, get_task_stream

    from ecoresp_core.cube.scheduler import local_cluster, run_on
    from ecoresp_core.cube.sites import partition_sites
    with local_cluster(n_workers, 1, 1536, "tasks") as cluster, Client(cluster) as client:
        pinned = set(client.run(_warm).values())
        best, batch, tasks = float("inf"), None, None
        for _ in range(repeat):
            with run_on(client) as where, get_task_stream(client) as stream:
                t0 = time.perf_counter()
                batch = partition_sites(files, methods=METHODS, options=OPTIONS, where=where)
                wall = time.perf_counter() - t0
            if wall < best:
                best = wall
                tasks = {t["key"]: sum(s["stop"] - s["start"] for s in t["startstops"] if s["action"] == "compute")
                         for t in stream.data}
    return best, batch, pinned, tasks


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="two files (four site-years), one repeat")
    ap.add_argument("--repeat", type=int, default=None, help="repeats, best kept (default 2, --quick 1)")
    args = ap.parse_args(argv)
    import pandas as pd
    files = FILES[:2] if args.quick else FILES
    repeat = args.repeat or (1 if args.quick else 2)
    if not files:
        sys.exit("no FLUXNET2015 site-years found under tests/data/flux")
    load0 = os.getloadavg()[0]
    t1, b1, pin1, tasks1 = run_cluster(1, files, repeat)
    t2, b2, pin2, tasks2 = run_cluster(2, files, repeat)
    busy1, busy2 = sum(tasks1.values()), sum(tasks2.values())
    years1 = sorted(v for k, v in tasks1.items() if str(k).startswith("partition-"))
    load1 = os.getloadavg()[0]
    pd.testing.assert_frame_equal(b1.summary, b2.summary, check_exact=True)
    for label in b1.sources:
        pd.testing.assert_frame_equal(b1.partitions[label].table, b2.partitions[label].table, check_exact=True)
    n = len(b1.site_years)
    print(f"batch partitioning: {len(files)} FLUXNET2015 files, {n} site-years, methods {', '.join(METHODS)} "
          f"(model evidence off), one task per site-year; LocalCluster processes, 1 thread each, "
          f"OMP_NUM_THREADS in the workers {sorted(pin1 | pin2)}; best of {repeat}")
    print(f"{'workers':<10}{'wall s':>10}{'s per site-year':>18}{'task s':>10}{'workers busy':>14}")
    print(f"{1:<10}{t1:10.2f}{t1 / n:18.2f}{busy1:10.2f}{busy1 / t1:14.0%}")
    print(f"{2:<10}{t2:10.2f}{t2 / n:18.2f}{busy2:10.2f}{busy2 / (2 * t2):14.0%}")
    speed = t1 / t2
    print(f"site-year tasks on one worker: {years1[0]:.2f} to {years1[-1]:.2f} s ({n} tasks: were they equal, "
          f"one of two workers would run {-(-n // 2)} of them, {n / -(-n // 2):.2f}x)")
    print(f"speed-up on two workers: {speed:.2f}x (goal >= 1.7x): {'met' if speed >= 1.7 else 'NOT met'}; "
          "the two runs' summaries and tables equal bit for bit")
    print(f"task seconds 2 workers / 1 worker: {busy2 / busy1:.2f} (above 1: the tasks ran slower on two workers, "
          f"cores shared with other processes); load average {load0:.1f} before, {load1:.1f} after "
          f"({os.cpu_count()} cores)")
    return speed


if __name__ == "__main__":
    main()
