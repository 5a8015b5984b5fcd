"""MDS gap filling (ecoresp_core/gapfilling/mds.py) against the FLUXNET2015 (ONEFlux) fills of the
bundled site-years, and on artificial gaps in measured data.  Runs in about a minute; prints tables.

For each calendar year of tests/data/flux/FLX_*_FLUXNET2015_zarrsubset_HH_*.csv.gz (ONEFlux fills
each year on its own): NEE_VUT_REF with NEE_VUT_REF_QC == 0 is measured, TA_F, SW_IN_F and VPD_F
(hPa) are the drivers.

1. Filled vs FLUXNET's own MDS fills, on records with QC 1 (FLUXNET's best fills) and on all
   filled records (QC >= 1): r2 (squared Pearson correlation), RMSE (umol m-2 s-1), the share of
   fills equal to FLUXNET's within 0.001 and the median absolute difference, and the annual NEE
   difference ours - FLUXNET (g C m-2 yr-1; sum of umol m-2 s-1 x 12.011e-6 g umol-1 x 1800 s);
   with the REddyProc rules (default) and the ONEFlux preset (``MDSOptions.oneflux()``: the code
   that made the FLUXNET2015 fills).
2. Artificial gaps cut from the measured records (seeded, SEED below) and refilled: single records
   (10 % of the measured ones), 1-day gaps (20 of them) and 14-day gaps (3): RMSE against the
   removed measurements by gap length.
3. The time of one fill per site-year (fill_all, i.e. every record looked up as REddyProc does).

Usage: .venv/bin/python tests/validation/mds_vs_fluxnet.py
"""

import glob
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, REPO)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ecoresp_core.gapfilling.mds import MDSOptions, mds_gapfill  # noqa: E402

SEED = 20260312
GC_PER_RECORD = 12.011e-6 * 1800.0  # g C m-2 per (umol CO2 m-2 s-1) and half hour
FILES = sorted(glob.glob(os.path.join(REPO, "tests", "data", "flux", "FLX_*_FLUXNET2015_zarrsubset_HH_*.csv.gz")))


def read_site_years(path):
    """(site, year, DataFrame NEE, NEE_QC, NEE_REF, TA, SW_IN, VPD) for each complete calendar year."""
    raw = pd.read_csv(path, na_values=[-9999, -9999.0])
    raw.index = pd.to_datetime(raw["TIMESTAMP_START"].astype(str), format="%Y%m%d%H%M")
    site = os.path.basename(path).split("_")[1]
    df = pd.DataFrame({"NEE_REF": raw["NEE_VUT_REF"], "NEE_QC": raw["NEE_VUT_REF_QC"], "TA": raw["TA_F"],
                       "SW_IN": raw["SW_IN_F"], "VPD": raw["VPD_F"]}, index=raw.index)
    df["NEE"] = df["NEE_REF"].where(df["NEE_QC"] == 0)
    for year, d in df.groupby(df.index.year):
        if len(d) >= 365 * 48:
            yield site, year, d


def r2_rmse(a, b):
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return np.nan, np.nan
    return np.corrcoef(a[ok], b[ok])[0, 1] ** 2, float(np.sqrt(np.mean((a[ok] - b[ok]) ** 2)))


def artificial_gaps(meas, rng, kind):
    """Boolean mask of measured records to remove."""
    n = meas.size
    cut = np.zeros(n, bool)
    if kind == "single":
        idx = np.nonzero(meas)[0]
        cut[rng.choice(idx, size=idx.size // 10, replace=False)] = True
    else:
        length, count = {"1 day": (48, 20), "14 days": (14 * 48, 3)}[kind]
        starts = np.sort(rng.choice(np.arange(0, n - length, length), size=count, replace=False))
        for a in starts:
            cut[a:a + length] = True
        cut &= meas
    return cut


def main():
    rng = np.random.default_rng(SEED)
    rows, gaps = [], []
    t_total = time.perf_counter()
    for path in FILES:
        for site, year, d in read_site_years(path):
            for preset, opt in (("REddyProc", MDSOptions.reddyproc()), ("ONEFlux", MDSOptions.oneflux())):
                t0 = time.perf_counter()
                out = mds_gapfill(d, "NEE", options=opt)
                elapsed = time.perf_counter() - t0
                f, ref, qc = out["NEE_F"].to_numpy(), d["NEE_REF"].to_numpy(), d["NEE_QC"].to_numpy()
                r2_1, rmse_1 = r2_rmse(f[qc == 1], ref[qc == 1])
                r2_a, rmse_a = r2_rmse(f[qc >= 1], ref[qc >= 1])
                both = np.isfinite(f) & np.isfinite(ref)
                rows.append({"site-year": f"{site} {year}", "rules": preset, "measured %": 100.0 * np.mean(qc == 0),
                             "n QC1": int(np.sum(qc == 1)), "r2 QC1": r2_1, "RMSE QC1": rmse_1,
                             "r2 QC>=1": r2_a, "RMSE QC>=1": rmse_a,
                             "same % QC>=1": 100.0 * np.mean(np.abs(f[qc >= 1] - ref[qc >= 1]) < 1e-3),
                             "median |d| QC>=1": np.nanmedian(np.abs(f[qc >= 1] - ref[qc >= 1])),
                             "NEE FLUXNET": np.sum(ref[both]) * GC_PER_RECORD,
                             "dNEE gC/m2/yr": np.sum(f[both] - ref[both]) * GC_PER_RECORD,
                             "unfilled": int(np.sum(~np.isfinite(f))), "time s": elapsed})
            meas = np.isfinite(d["NEE"].to_numpy())
            row = {"site-year": f"{site} {year}"}
            for kind in ("single", "1 day", "14 days"):
                cut = artificial_gaps(meas, rng, kind)
                dd = d.copy()
                dd.loc[cut, "NEE"] = np.nan
                refill = mds_gapfill(dd, "NEE")["NEE_F"].to_numpy()
                truth = d["NEE"].to_numpy()
                row[f"RMSE {kind}"] = r2_rmse(refill[cut], truth[cut])[1]
                row[f"bias {kind}"] = float(np.nanmean(refill[cut] - truth[cut]))
                row[f"n {kind}"] = int(cut.sum())
            gaps.append(row)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 30)
    t1 = pd.DataFrame(rows).set_index(["rules", "site-year"]).sort_index()
    print("1. MDS (REddyProc rules; ONEFlux preset) vs FLUXNET2015 NEE_VUT_REF fills (umol m-2 s-1; g C m-2 yr-1)")
    print(t1.round(3).assign(**{"median |d| QC>=1": t1["median |d| QC>=1"].round(5)}).to_string())
    for preset, t in t1.groupby(level=0):
        print(f"{preset}: mean r2 QC1 {t['r2 QC1'].mean():.3f}, mean RMSE QC1 {t['RMSE QC1'].mean():.3f}, "
              f"same {t['same % QC>=1'].mean():.0f} %, mean |dNEE| {t['dNEE gC/m2/yr'].abs().mean():.1f} "
              "g C m-2 yr-1")
    t2 = pd.DataFrame(gaps).set_index("site-year")
    print(f"\n2. Artificial gaps in measured NEE (seed {SEED}; REddyProc rules): RMSE and bias against the "
          "removed records")
    print(t2.round(3).to_string())
    print("\nmean RMSE: " + ", ".join(f"{k} {t2[f'RMSE {k}'].mean():.3f}" for k in ("single", "1 day", "14 days")))
    tt = t1.loc["REddyProc", "time s"]
    print(f"\n3. time per site-year (REddyProc rules, one fill, every record looked up): mean {tt.mean():.2f} s, "
          f"max {tt.max():.2f} s; whole script {time.perf_counter() - t_total:.0f} s")


if __name__ == "__main__":
    main()
