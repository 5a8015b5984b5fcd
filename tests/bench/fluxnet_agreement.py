"""Agreement with the FLUXNET2015 (ONEFlux) partitioning on the bundled site-years, next to
what REddyProc 1.3.3 and hesseflux 5.0 reach on the same site-years (tests/data/flux/peer_scores.csv).
GPP_NT against GPP_NT_VUT_REF and GPP_DT against GPP_DT_VUT_REF, half-hourly R2 and RMSE, and
the annual-sum difference (%), each method fitted on NEE_VUT_REF_QC == 0, year by year."""

import glob
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, REPO)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ecoresp_core.io.towers import read_tower  # noqa: E402
from ecoresp_core.partitioning.sitepartition import partition_site  # noqa: E402

FLUX = os.path.join(REPO, "tests", "data", "flux")


def run():
    peers = pd.read_csv(os.path.join(FLUX, "peer_scores.csv"))
    rows = []
    t0 = time.perf_counter()
    for path in sorted(glob.glob(os.path.join(FLUX, "FLX_*_HH_*.csv.gz"))):
        df = read_tower(path)
        s = partition_site(df, "NT,DT").summary
        for _, r in s.iterrows():
            for m in ("NT", "DT"):
                p = peers[(peers.site == r.site_id) & (peers.year == r.year) & (peers.variable == "GPP")
                          & (peers.reference == f"GPP_{m}_VUT_REF")]
                rp = p[p.tool.str.startswith("REddyProc")]
                hp = p[p.tool.str.startswith("hesseflux")]
                rows.append({"site": r.site_id, "year": r.year, "method": m,
                             "R2": r[f"GPP_{m}_vs_REF_R2"], "RMSE": r[f"GPP_{m}_vs_REF_RMSE"],
                             "annual_%": r[f"GPP_{m}_vs_REF_annual_pct"],
                             "REddyProc_R2": rp.R2.iloc[0] if len(rp) else np.nan,
                             "REddyProc_annual_%": rp.annual_pct_diff.iloc[0] if len(rp) else np.nan,
                             "hesseflux_R2": hp.R2.iloc[0] if len(hp) else np.nan,
                             "hesseflux_annual_%": hp.annual_pct_diff.iloc[0] if len(hp) else np.nan})
    t = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print(t.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    for m in ("NT", "DT"):
        sub = t[t.method == m]
        print(f"{m}: median R2 {sub.R2.median():.4f} (REddyProc {sub.REddyProc_R2.median():.4f}, hesseflux "
              f"{sub.hesseflux_R2.median():.4f}); median |annual| {sub['annual_%'].abs().median():.2f} % "
              f"(REddyProc {sub['REddyProc_annual_%'].abs().median():.2f} %, hesseflux "
              f"{sub['hesseflux_annual_%'].abs().median():.2f} %)")
    print(f"({len(t) // 2} site-years, NT + DT, {time.perf_counter() - t0:.1f} s including reading)")
    return t


if __name__ == "__main__":
    run()
