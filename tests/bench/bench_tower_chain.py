"""The whole raw-to-partitioned chain (ecoresp_core.jobs.tower.raw_to_partitioned) for one raw
site-year on one core: DE-Geb 2004 of REddyProc's example (tests/data/flux/DEGebExample_2004-2006.csv),
time per stage: u* thresholds with the bootstrap (100 samples, moving point test), driver gap
filling, u* filtering and NEE gap filling of the 3 u* scenarios (05, 50, 95), and partitioning (NT,
DT, DT-RH) of the 3 scenarios.  Target: < 10 s per site-year (printed; no assertion).  REddyProc
takes about 3.8 s per site-year for one MDS fill with every record looked up and minutes for its
bootstrap; its whole chain on this site-year is not timed here."""

# bench_partition first: it pins BLAS threads to one core before numpy loads and puts the repository
# on sys.path
import bench_partition  # noqa: F401,I001
import sys
import time

from ecoresp_core.io.towers import read_tower
from ecoresp_core.jobs.tower import raw_to_partitioned

from bench_partition import REPO

GEB = f"{REPO}/tests/data/flux/DEGebExample_2004-2006.csv"


def run(n_boot=100, methods=("NT", "DT", "DTRH")):
    tower = read_tower(GEB, site_id="DE-Geb")
    tower = tower.rows("2004")
    t0 = time.perf_counter()
    res = raw_to_partitioned(tower, methods, ustar_method="mpt", n_boot=n_boot, seed=1)
    total = time.perf_counter() - t0
    sec = res.info["seconds"]
    print(f"DE-Geb 2004 raw ({len(tower.data)} records), {', '.join(methods)}, {n_boot} bootstrap samples, "
          f"scenarios {', '.join(res.scenarios)}, one core:")
    print(f"  u* thresholds with the bootstrap     {sec['ustar']:6.2f} s")
    print(f"  driver gap filling (SW_IN, TA, VPD)  {sec['drivers']:6.2f} s")
    print(f"  u* filter + NEE MDS, 3 scenarios     {sec['fill']:6.2f} s")
    print(f"  partitioning, 3 scenarios            {sec['partition']:6.2f} s")
    print(f"  whole chain                          {total:6.2f} s  (target < 10 s per site-year: "
          f"{'met' if total < 10 else 'not met'})")
    return total


if __name__ == "__main__":
    run(n_boot=20 if "--quick" in sys.argv else 100)
