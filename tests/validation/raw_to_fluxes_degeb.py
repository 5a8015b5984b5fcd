"""The raw REddyProc example DE-Geb 2004-2006 to partitioned fluxes in one run, beside FLUXNET2015.

``tests/data/flux/DEGebExample_2004-2006.csv`` (raw NEE with gaps, Ustar, Tair, rH, Rg; DateTime = end of
the half hour, local standard time) goes through :func:`ecoresp_core.jobs.tower.raw_to_partitioned`:
u* thresholds by the moving point test with the bootstrap (REddyProc's default seasons), night-time u*
filtering and MDS gap filling per u* scenario (05, 50, 95), and NT, DT and DTRH per scenario.  Printed:

- the u* thresholds per year and scenario, and the gap-filling counts;
- annual NEE with its random uncertainty (REddyProc's sqrt(sum sd^2 / n / (n_eff - 1)), and without the
  autocorrelation correction), and annual RECO and GPP per method for the median scenario with the
  range over the u* scenarios;
- missing RECO/GPP where the drivers exist (must be 0);
- agreement with FLUXNET2015 (ONEFlux, VUT) DE-Geb (``tests/data/flux/FLX_DE-Geb_FLUXNET2015_zarrsubset_HH_
  2004-2006.csv.gz``): half-hourly R2 and RMSE of GPP_NT vs GPP_NT_VUT_REF, GPP_DT vs GPP_DT_VUT_REF,
  RECO_NT vs RECO_NT_DERIVED (= GPP_NT_VUT_REF + NEE_VUT_REF), RECO_DT vs GPP_DT_VUT_REF + NEE_VUT_REF
  (the file has no RECO_DT), and the annual sums side by side.  Both files are in local standard
  time; the tower reader moves DateTime (end) to the interval start, which is aligned with
  TIMESTAMP_START; the alignment is checked by the R2 of GPP at shifts of -1, 0, +1 records.

Differences to expect: FLUXNET2015 uses ONEFlux's u* (CPD and MPT, VUT, 40 percentiles), its own MDS
rules and filled drivers (ERA-Interim downscaled for long gaps), and its DT is Lasslop with ONEFlux's
choices; DE-Geb is a crop rotation (harvests, bare soil) where the partitioning is hardest.  The
last part separates inputs from method: the measured night-time NEE of the REddyProc example and
of FLUXNET2015 (two processings of the same tower) compared on the records both have, and ecoresp's
NT run on FLUXNET2015's own NEE against its RECO_NT.

Usage: .venv/bin/python tests/validation/raw_to_fluxes_degeb.py [--boot N]   (default 100)
"""

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, REPO)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ecoresp_core.common.metrics import metrics  # noqa: E402
from ecoresp_core.io.towers import read_tower  # noqa: E402
from ecoresp_core.jobs.tower import raw_to_partitioned  # noqa: E402
from ecoresp_core.partitioning.sitepartition import annual_sum_gc  # noqa: E402

DATA = os.path.join(REPO, "tests", "data", "flux")
GEB = os.path.join(DATA, "DEGebExample_2004-2006.csv")
FLX = os.path.join(DATA, "FLX_DE-Geb_FLUXNET2015_zarrsubset_HH_2004-2006.csv.gz")
METHODS = ("NT", "DT", "DTRH")
STEP_S = 1800.0


def fluxnet_reference():
    """The FLUXNET2015 DE-Geb records on their TIMESTAMP_START, with RECO_DT = GPP_DT + NEE."""
    ref = pd.read_csv(FLX, na_values=[-9999])
    ref.index = pd.to_datetime(ref["TIMESTAMP_START"].astype(str), format="%Y%m%d%H%M")
    ref["RECO_NT_REF"] = ref["RECO_NT_DERIVED"]
    ref["RECO_DT_REF"] = ref["GPP_DT_VUT_REF"] + ref["NEE_VUT_REF"]
    ref["GPP_NT_REF"], ref["GPP_DT_REF"] = ref["GPP_NT_VUT_REF"], ref["GPP_DT_VUT_REF"]
    return ref


def main(n_boot):
    tower = read_tower(GEB, site_id="DE-Geb")
    print(f"{GEB}: {len(tower.data)} records, {tower.index[0]} .. {tower.index[-1]}, "
          f"NEE measured {tower.data['NEE'].notna().mean():.1%}, NEE QC from: {tower.site.nee_qc_source}")
    t0 = time.perf_counter()
    res = raw_to_partitioned(tower, METHODS, ustar_method="mpt", n_boot=n_boot, seed=1)
    print(f"raw_to_partitioned: {time.perf_counter() - t0:.1f} s ({n_boot} bootstrap samples, 3 scenarios, "
          f"{', '.join(METHODS)})\n")
    s = res.summary.set_index("year")
    print("u* thresholds (m s-1), the year's bootstrap percentiles:")
    print(s[[f"USTAR_TH_{k}" for k in res.scenarios]].round(3).to_string(), "\n")
    for k, v in res.info["filled"].items():
        print(f"scenario {k}: {v['ustar_removed']} night records removed by u*, {v['measured']} measured, "
              f"{v['filled']} filled, {v['unfilled']} unfilled")
    print("\nannual NEE (g C m-2 yr-1): median scenario [min, max over u* scenarios] +- random (1 SD; "
          "without the autocorrelation correction, n_eff)")
    for y, r in s.iterrows():
        print(f"  {y}: {r['NEE_gC']:7.1f} [{r['NEE_gC_min']:7.1f}, {r['NEE_gC_max']:7.1f}] +- {r['NEE_50_rand_gC']:.1f}"
              f" ({r['NEE_50_rand_indep_gC']:.1f}, n_eff {r['NEE_50_n_eff']:.0f})")
    print("\nannual RECO and GPP (g C m-2 yr-1): median scenario [min, max over u* scenarios]")
    for m in METHODS:
        for flux in ("RECO", "GPP"):
            cells = [f"{y}: {r[f'{flux}_{m}_gC']:6.0f} [{r[f'{flux}_{m}_gC_min']:6.0f}, {r[f'{flux}_{m}_gC_max']:6.0f}]"
                     for y, r in s.iterrows()]
            print(f"  {flux}_{m:5s} " + "   ".join(cells))
    t = res.table
    drivers = tower.data[["TA", "SW_IN", "VPD"]].notna().all(axis=1).to_numpy()
    print("\nmissing where the raw drivers exist (must be 0):")
    for m in METHODS:
        for k in res.scenarios:
            n_r = int(np.sum(~np.isfinite(t[f"RECO_{m}_{k}"].to_numpy()[drivers])))
            n_g = int(np.sum(~np.isfinite(t[f"GPP_{m}_{k}"].to_numpy()[drivers])))
            print(f"  {m} {k}: RECO {n_r}, GPP {n_g}", end=";")
    print(f"\n  NEE_F missing: {int(sum(t[f'NEE_{k}_F'].isna().sum() for k in res.scenarios))}, "
          f"drivers missing after filling: {int(t[['TA', 'SW_IN', 'VPD']].isna().sum().sum())}")

    ref = fluxnet_reference()
    common = t.index.intersection(ref.index)
    print(f"\nFLUXNET2015 DE-Geb: {len(ref)} records, {len(common)} in common")
    a, b = t["GPP_NT"], ref["GPP_NT_REF"]
    for shift in (-1, 0, 1):
        bb = b.shift(shift).reindex(common)
        print(f"  alignment: R2 GPP_NT vs GPP_NT_VUT_REF shifted by {shift:+d} records: "
              f"{metrics(bb.values, a.reindex(common).values)['R2']:.3f}")
    print("\nhalf-hourly agreement with FLUXNET2015 (median u* scenario vs VUT_REF):")
    print(f"  {'ours':8s} {'reference':24s} {'R2':>6s} {'RMSE':>6s}")
    pairs = [(f"{f}_{m}", f"{f}_{r}_REF") for m, r in (("NT", "NT"), ("DT", "DT"), ("DTRH", "NT"))
             for f in ("RECO", "GPP")]
    for ours, theirs in pairs:
        mm = metrics(ref[theirs].reindex(common).values, t[ours].reindex(common).values)
        print(f"  {ours:8s} {theirs:24s} {mm['R2']:6.3f} {mm['RMSE']:6.2f}")
    print("\nannual sums (g C m-2 yr-1), ours [u* range] | FLUXNET2015:")
    ref_sums = {y: g for y, g in ref.groupby(ref.index.year)}
    for y, r in s.iterrows():
        g = ref_sums.get(y)
        if g is None:
            continue
        print(f"  {y}: NEE {r['NEE_gC']:6.0f} [{r['NEE_gC_min']:5.0f}, {r['NEE_gC_max']:5.0f}] | "
              f"{annual_sum_gc(g['NEE_VUT_REF'], STEP_S):6.0f}")
        for m, rr in (("NT", "NT"), ("DT", "DT"), ("DTRH", "NT")):
            for f in ("RECO", "GPP"):
                print(f"        {f}_{m:5s} {r[f'{f}_{m}_gC']:6.0f} [{r[f'{f}_{m}_gC_min']:5.0f}, "
                      f"{r[f'{f}_{m}_gC_max']:5.0f}] | {f}_{rr}_REF {annual_sum_gc(g[f'{f}_{rr}_REF'], STEP_S):6.0f}")
    inputs_and_method_apart(tower)
    return res


def inputs_and_method_apart(raw):
    """Where a difference from FLUXNET2015 comes from: the measured NEE of the REddyProc example
    against FLUXNET2015's measured NEE (QC 0) on the records both have, and ecoresp's NT run on
    FLUXNET2015's own NEE_VUT_REF (with its QC) against FLUXNET2015's RECO_NT."""
    from ecoresp_core.partitioning.sitepartition import partition_site
    flx = read_tower(FLX)
    j = raw.data.join(flx.data, lsuffix="_raw", rsuffix="_flx", how="inner")
    both = j[np.isfinite(j["NEE_raw"]) & (j["NEE_QC_flx"] == 0)]
    print("\ninputs: measured NEE of the REddyProc example vs FLUXNET2015 (QC 0), records in both:")
    for y, g in both.groupby(both.index.year):
        night = g[g["SW_IN_flx"] < 10]
        r2 = np.corrcoef(g["NEE_raw"], g["NEE_flx"])[0, 1] ** 2
        r2n = np.corrcoef(night["NEE_raw"], night["NEE_flx"])[0, 1] ** 2
        mr, mf = night["NEE_raw"].mean(), night["NEE_flx"].mean()
        print(f"  {y}: all n {len(g)}, R2 {r2:.3f}, mean {g['NEE_raw'].mean():.3f} vs {g['NEE_flx'].mean():.3f}; "
              f"night (SW_IN < 10) n {len(night)}, R2 {r2n:.3f}, mean {mr:.3f} vs {mf:.3f} umol m-2 s-1 "
              f"({100 * (mr / mf - 1):+.0f} %)")
    sp = partition_site(flx, ("NT",))
    print("method: ecoresp NT on FLUXNET2015's own NEE_VUT_REF vs its RECO_NT (g C m-2 yr-1):")
    for _, r in sp.summary.iterrows():
        g = flx.data[flx.data.index.year == r["year"]]
        ref = annual_sum_gc(g["RECO_NT_REF"], STEP_S) if "RECO_NT_REF" in g else float("nan")
        print(f"  {r['year']}: {r['RECO_NT_gC']:6.0f} | {ref:6.0f} ({100 * (r['RECO_NT_gC'] / ref - 1):+.1f} %)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--boot", type=int, default=100, help="bootstrap samples (REddyProc nSample)")
    main(ap.parse_args().boot)
