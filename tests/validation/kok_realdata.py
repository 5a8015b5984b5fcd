"""The Kok method (docs/methods.md section 6.2) on the bundled real half-hourly data, before and after
issue 13: per site-year the reference windows, the valid windows and the pooled inhibition +- SE with
its 95 % interval, for the "legacy" rules (fixed 4-day windows, division by f_T, no filters) and the
"keenan2019" rules (the default: windows extended to 8 and 12 days where a 4-day window has fewer than
10 records, Rref f_T(TA) regression, Keenan et al. 2019 filters).

- CZ-Lnz 2023-07-23 to 2023-08-05 (openeddy output; PPFD_IN = PAR).  The file is not a tower format of
  read_tower: NEE_QC = 0 (measured) where openeddy's qc_NEE_forGF_UF is 0, or 0-1 (REddyProc kept both as
  measured); night Rref at 15 degC from REddyProc's NT Reco with an assumed E0 of 200 K; no GPP filter.
- FLUXNET2015 site-years (tests/data/flux/FLX_*_FLUXNET2015_*.csv.gz, PPFD = 2.11 SW_IN) and DE-Tha 1998
  (REddyProc's example, Rg only): through the NT method of ``partition_site`` (the summary columns
  INHIB_KOK_pct, INHIB_KOK_SE_pct, INHIB_KOK_CI_LO_pct, INHIB_KOK_CI_HI_pct, KOK_valid_windows).
- Both columns are pooled by ``pooled_inhibition_ci`` (the legacy mean is the one the old code gave; its
  SE now carries the window-overlap correlation and the over-dispersion factor).
- Bootstrap column: the circular block-bootstrap 95 % interval (2000 replicates, seed 1) of the keenan2019
  pooled estimate, beside the normal interval of the summary.

Usage: PYTHONPATH=. .venv/bin/python tests/validation/kok_realdata.py
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

from ecoresp_core.io.towers import read_tower  # noqa: E402
from ecoresp_core.partitioning.inhibition import kok_windows, pooled_inhibition_ci  # noqa: E402
from ecoresp_core.partitioning.respiration import lt_factor  # noqa: E402
from ecoresp_core.partitioning.sitepartition import partition_site  # noqa: E402

DATA = os.path.join(REPO, "tests", "data", "flux")
LNZ = os.path.join(DATA, "CZ-Lnz_2023-07-23_2023-08-05.csv")
FILES = sorted(glob.glob(os.path.join(DATA, "FLX_*_FLUXNET2015_*.csv.gz")))
FILES.append(os.path.join(DATA, "Example_DETha98.txt"))


def fmt(p, valid, total):
    if not np.isfinite(p["mean"]):
        return f"{valid:4d}/{total:<4d} {'-':>30s}"
    se = f"{p['se']:5.1f}" if np.isfinite(p["se"]) else "  nan"
    return (f"{valid:4d}/{total:<4d} {p['mean']:7.1f} +- {se} [{p['ci_lo']:7.1f}, {p['ci_hi']:7.1f}]")


def boot(kok):
    b = pooled_inhibition_ci(kok, n_boot=2000, seed=1)
    return f"[{b['ci_lo']:7.1f}, {b['ci_hi']:7.1f}]" if b["interval"] != "normal" else "(too few windows)"


def lnz_rows():
    raw = pd.read_csv(LNZ, skiprows=[1], na_values=[-9999, "NA"])
    idx = pd.DatetimeIndex(pd.to_datetime(raw["timestamp"]) - pd.Timedelta(minutes=30), name="TIMESTAMP_START")
    q = raw["qc_NEE_forGF_UF"].to_numpy(dtype=float)
    rn = raw["Reco_uStar"].to_numpy() / lt_factor(raw["Tair"].to_numpy(), 200.0)
    for lab, flags in (("CZ-Lnz 2023 (flag 0)", (0,)), ("CZ-Lnz 2023 (flags 0-1)", (0, 1))):
        df = pd.DataFrame({"NEE": raw["NEE"].to_numpy(), "NEE_QC": np.where(np.isin(q, flags), 0.0, 1.0),
                           "TA": raw["Tair"].to_numpy(), "SW_IN": raw["GR"].to_numpy(),
                           "PPFD_IN": raw["PAR"].to_numpy()}, index=idx).astype("float64")
        old = kok_windows(df, 200.0, rref_night=rn, rules="legacy")
        new = kok_windows(df, 200.0, rref_night=rn)
        po, pn = pooled_inhibition_ci(old), pooled_inhibition_ci(new)
        yield lab, fmt(po, int(po["k"]), len(old)), fmt(pn, int(pn["k"]), len(new)), boot(new), new


def fluxnet_rows():
    for path in FILES:
        tower = read_tower(path)
        sp_old = partition_site(tower, "NT", options={"KOK": {"rules": "legacy"}})
        sp_new = partition_site(tower, "NT")
        for (_, r_old), (_, r_new) in zip(sp_old.summary.iterrows(), sp_new.summary.iterrows()):
            year = int(r_new["year"])
            res = sp_new.results.get((year, "NT"))
            kok = getattr(getattr(res, "native", None), "kok", None)
            if kok is None:
                continue
            po = {"mean": r_old.INHIB_KOK_pct, "se": r_old.INHIB_KOK_SE_pct, "ci_lo": r_old.INHIB_KOK_CI_LO_pct,
                  "ci_hi": r_old.INHIB_KOK_CI_HI_pct}
            pn = {"mean": r_new.INHIB_KOK_pct, "se": r_new.INHIB_KOK_SE_pct, "ci_lo": r_new.INHIB_KOK_CI_LO_pct,
                  "ci_hi": r_new.INHIB_KOK_CI_HI_pct}
            yield (f"{r_new['site_id'] or 'DE-Tha'} {year}",
                   fmt(po, int(r_old.KOK_valid_windows), int(r_old.KOK_windows)),
                   fmt(pn, int(r_new.KOK_valid_windows), int(r_new.KOK_windows)), boot(kok), kok)


def main():
    t0 = time.time()
    print(f"{'site-year':24s} {'legacy: valid/windows, inhibition % +- SE [95 %]':50s} "
          f"{'keenan2019: valid/windows, inhibition % +- SE [95 %]':50s} bootstrap 95 %   window days 4/8/12   "
          "PPFD source")
    for lab, old, new, b, kok in list(lnz_rows()) + list(fluxnet_rows()):
        lens = kok.window_days.value_counts()
        lens = "/".join(str(int(lens.get(d, 0))) for d in (4, 8, 12))
        print(f"{lab:24s} {old:50s} {new:50s} {b:18s} {lens:12s} {kok.attrs['ppfd_source']}")
    print(f"({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
