"""Partitioning speed: NT, DT and DT-RH on one half-hourly site-year, with hesseflux's
reichstein (NT) and lasslop (DT) as peers in the same run when hesseflux is installed
(make bench installs hesseflux 5.0 into .venv; it needs np.int/np.float shims on numpy 1.24).
Times are best of 3 on one core (BLAS threads pinned to 1)."""

import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, REPO)

import numpy as np  # noqa: E402

from ecoresp_core.io.towers import read_tower, split_years  # noqa: E402
from ecoresp_core.partitioning import daytime, dtrh, nighttime  # noqa: E402

SITE_YEAR = os.path.join(REPO, "tests", "data", "flux", "FLX_DE-Tha_FLUXNET2015_zarrsubset_HH_2011-2012.csv.gz")


def best_of(fn, n=3):
    best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def hesseflux_peer(dfy):
    try:
        np.int, np.float, np.bool = int, float, bool  # hesseflux 5.0 still uses the removed aliases
        import hesseflux
    except Exception as exc:  # not installable or broken: say why
        return None, f"hesseflux not available ({type(exc).__name__}: {exc})"
    import pandas as pd
    inp = pd.DataFrame({"NEE": dfy["NEE"].values, "TA": dfy["TA"].values + 273.15,
                        "SW_IN": dfy["SW_IN"].values, "VPD": dfy["VPD"].values * 100.0},
                       index=dfy.index.to_pydatetime())
    flag = pd.DataFrame(0, index=inp.index, columns=inp.columns)
    flag.loc[(dfy["NEE_QC"] != 0).values, "NEE"] = 2
    isday = (dfy["SW_IN"] > 10.0).values
    out = {}
    for method in ("reichstein", "lasslop"):
        out[method] = best_of(lambda: hesseflux.nee2gpp(inp, flag=flag, isday=isday, undef=-9999,
                                                        method=method))[0]
    return out, "hesseflux 5.0"


def run():
    df = read_tower(SITE_YEAR)
    year, site_year = split_years(df)[0]
    dfy = site_year.data
    t_nt, nt = best_of(lambda: nighttime.partition_nighttime(site_year))
    t_dt, _ = best_of(lambda: daytime.partition_daytime(site_year))
    t_rh, _ = best_of(lambda: dtrh.partition_dtrh(site_year, nt_result=nt))
    print(f"site-year: DE-Tha {year}, {len(dfy)} half-hours (best of 3, one core)")
    print(f"{'method':<28}{'ecoresp s':>10}{'peer s':>10}{'peer/ecoresp':>14}")
    peer, note = hesseflux_peer(dfy)
    rows = [("NT (Reichstein 2005)", t_nt, peer and peer["reichstein"]),
            ("DT (Lasslop 2010)", t_dt, peer and peer["lasslop"]),
            ("DT-RH", t_rh, None)]
    for name, t, p in rows:
        ratio = f"{p / t:14.1f}" if p else f"{'-':>14}"
        print(f"{name:<28}{t:10.3f}{(p or float('nan')):10.3f}{ratio}")
    print(f"NT + DT + DT-RH together: {t_nt + t_dt + t_rh:.2f} s (target: under ~3 s; REddyProc: "
          "NT 0.3 s, DT 5.7 s without bootstrap, measured elsewhere on this kind of machine)")
    print(f"peer: {note}")


if __name__ == "__main__":
    run()
