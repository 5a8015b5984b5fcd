"""u* threshold speed per site-year, with its bootstrap (100 samples): the moving point test
(ecoresp_core/ustar/mpt.py, REddyProc's rules) and the change-point detection (cpd.py, when there)
on REddyProc's two examples (DE-Tha 1998; DE-Geb 2004-2006, three years in one call, time per
year), against hesseflux's ``ustarfilter`` (5.0, its own moving point test, installed by make bench)
in the same run.  Best of 3 (bootstrap runs: 1) on one core.  REddyProc's sEstimateUstarScenarios
with 100 samples takes tens of seconds per site-year in R (not measured here)."""

import importlib.util
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "tests", "validation"))

import numpy as np  # noqa: E402

from bench_partition import best_of  # noqa: E402
from ecoresp_core.io.towers import read_tower  # noqa: E402
from ecoresp_core.ustar.bootstrap import ustar_thresholds  # noqa: E402
from ustar_examples import THA, read_geb  # noqa: E402


def hesseflux_peer(df, nboot):
    """(seconds, annual threshold) of hesseflux.ustarfilter, or (None, why)."""
    try:
        np.int, np.float, np.bool = int, float, bool  # hesseflux 5.0 still uses the removed aliases
        import hesseflux
    except Exception as exc:  # not installable or broken: say why
        return None, f"hesseflux not available ({type(exc).__name__}: {exc})"
    inp = df[["NEE", "USTAR", "TA", "SW_IN"]].fillna(-9999.0)
    inp.index = df.index.to_pydatetime()
    t0 = time.perf_counter()
    try:
        res = hesseflux.ustarfilter(inp, undef=-9999, nboot=nboot)
    except Exception as exc:
        return None, f"hesseflux.ustarfilter failed ({type(exc).__name__}: {exc})"
    return time.perf_counter() - t0, np.atleast_2d(res[0])


def run(quick=False):
    n_boot = 20 if quick else 100
    methods = ["mpt"] + (["cpd"] if importlib.util.find_spec("ecoresp_core.ustar.cpd") else [])
    tha = read_tower(THA).data
    geb, _ = read_geb()
    print(f"{'site-years':<22}{'method':>7}{'n_boot':>7}{'s per site-year':>17}{'annual u*_th (m s-1)':>40}")
    for name, df, years in (("DE-Tha 1998", tha, 1), ("DE-Geb 2004-2006", geb, 3)):
        for method in methods:
            for nb in (1, n_boot):
                t, table = best_of(lambda: ustar_thresholds(df, method, n_boot=nb, seed=1), n=3 if nb == 1 else 1)
                annual = table[table["season"] == "annual"]
                vals = ", ".join(f"{v:.3f} [{lo:.3f}-{hi:.3f}]" if nb > 1 else f"{v:.3f}" for v, lo, hi in
                                 zip(annual["USTAR_TH"], annual["USTAR_TH_05"], annual["USTAR_TH_95"]))
                print(f"{name:<22}{method:>7}{nb:>7}{t / years:17.2f}   {vals}")
    for nb in (1, n_boot):
        t, res = hesseflux_peer(tha, nb)
        if t is None:
            print(f"peer: {res}")
            break
        print(f"{'DE-Tha 1998':<22}{'hesse':>7}{nb:>7}{t:17.2f}   hesseflux ustarfilter 5.0: "
              f"{np.array2string(res.ravel(), precision=3)}")


if __name__ == "__main__":
    run(quick="--quick" in sys.argv)
