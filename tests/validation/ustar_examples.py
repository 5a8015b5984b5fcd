"""u* thresholds of REddyProc's two example data sets beside REddyProc's published values.

1. DE-Tha 1998 (tests/data/flux/Example_DETha98.txt), REddyProc's default seasons: the moving point
   test (ecoresp_core/ustar/mpt.py) per season and year against REddyProc's ``sEstUstarThold`` output
   printed in ``vignettes/uStarCases.md`` (seasons, year) and the bootstrap quantiles of
   ``sEstimateUstarScenarios(nSample = 100, probs = c(0.05, 0.5, 0.95))`` printed in
   ``vignettes/useCase.md`` and ``vignettes/uStarCases.md`` (github.com/bgctw/REddyProc, commit
   43eea8d, 2024-05-03; ``tests/testthat/test_UStarFilter.R`` expects 0.42 for the year).
2. DE-Geb 2004-2006 (tests/data/flux/DEGebExample_2004-2006.csv) with the vignette's user-defined
   seasons (``usCreateSeasonFactorYdayYear`` with the starts below) against the ``sEstUstarThold``
   output and the 10 % / 90 % quantiles of ``sEstimateUstarScenarios(nSample = 30, probs = c(0.1, 0.9))``
   printed in ``vignettes/DEGebExample.md``; and with REddyProc's default seasons (no published value).
3. The change-point detection (ecoresp_core/ustar/cpd.py, Barr et al. 2013 as ONEFlux) on the same
   site-years when the module is there (no published REddyProc value: REddyProc's own CPT variant is
   a different algorithm).

The bootstrap uses n_boot = 100 (REddyProc's nSample: 99 resamples plus the original) and seed 1;
REddyProc's published quantiles come from R's random stream, so they agree in distribution only.

Usage: .venv/bin/python tests/validation/ustar_examples.py [--quick]
"""

import importlib.util
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, REPO)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ecoresp_core.io.towers import read_tower  # noqa: E402
from ecoresp_core.ustar.bootstrap import ustar_thresholds  # noqa: E402
from ecoresp_core.ustar.mpt import season_factor_yday  # noqa: E402

DATA = os.path.join(REPO, "tests", "data", "flux")
THA = os.path.join(DATA, "Example_DETha98.txt")
GEB = os.path.join(DATA, "DEGebExample_2004-2006.csv")

# REddyProc vignettes/uStarCases.md, "Single uStar threshold estimate" (sEstUstarThold on DE-Tha 1998)
THA_PUBLISHED = {"annual": 0.41625, "1998001": 0.41625, "1998003": 0.41625, "1998006": 0.3520000,
                 "1998009": 0.3369231, "1998012": 0.1740000}
# bootstrap 5 / 50 / 95 % of the year, nSample = 100: vignettes/useCase.md and vignettes/uStarCases.md
THA_BOOT = {"useCase.md": (0.3855867, 0.4479808, 0.5768934), "uStarCases.md": (0.378475, 0.4524588, 0.6209465)}
# uStarCases.md seasonal 5 / 50 / 95 %
THA_BOOT_SEASONS = {"1998001": (0.3784750, 0.4524588, 0.6209465), "1998003": (0.3289559, 0.4000000, 0.5890722),
                    "1998006": (0.3318286, 0.3864683, 0.4483500), "1998009": (0.2297673, 0.4044653, 0.5360426),
                    "1998012": (0.1849500, 0.4325682, 0.5890722)}

# REddyProc vignettes/DEGebExample.md: the user-defined season starts (day of year, year) ...
GEB_STARTS = [(70, 2004), (210, 2004), (320, 2004), (70, 2005), (180, 2005), (320, 2005), (120, 2006), (305, 2006)]
# ... sEstUstarThold with them (year rows, then season rows) ...
GEB_PUBLISHED = {(2004, "annual"): 0.135, (2005, "annual"): 0.16041176, (2006, "annual"): 0.25094444,
                 (2004, "2004001"): 0.135, (2004, "2004070"): 0.120375, (2004, "2004210"): 0.08925,
                 (2005, "2004320"): 0.16041176, (2005, "2005070"): 0.12533333, (2005, "2005180"): 0.13473214,
                 (2006, "2005320"): 0.04842361, (2006, "2006120"): 0.06966667, (2006, "2006305"): 0.25094444}
# ... and sEstimateUstarScenarios(nSample = 30, probs = c(0.1, 0.9)): U10, U90 per season
GEB_BOOT = {"2004001": (0.10174, 0.1603), "2004070": (0.096325, 0.12268889), "2004210": (0.10499293, 0.19000727),
            "2004320": (0.09918212, 0.1743805), "2005070": (0.11512857, 0.17554643),
            "2005180": (0.08448929, 0.14519), "2005320": (0.05055, 0.08105208), "2006120": (0.06480909, 0.0869535),
            "2006305": (0.10060806, 0.26186553)}


def read_geb():
    """The DE-Geb example with pandas: DateTime = END of the half hour (local standard time)."""
    raw = pd.read_csv(GEB, na_values=["NA", "-9999"])
    end = pd.to_datetime(raw["DateTime"])
    df = pd.DataFrame({"NEE": raw["NEE"].to_numpy(float), "USTAR": raw["Ustar"].to_numpy(float),
                       "TA": raw["Tair"].to_numpy(float), "SW_IN": raw["Rg"].to_numpy(float)},
                      index=pd.DatetimeIndex(end - pd.Timedelta(minutes=30), name="TIMESTAMP_START"))
    middle = end - pd.Timedelta(minutes=15)          # REddyProc: DateTime - 15 * 60
    return df, season_factor_yday(middle, GEB_STARTS)


def fmt(v, nd=3):
    return "    -" if v is None or not np.isfinite(v) else f"{v:.{nd}f}"


def show(title, table, published=None, boot=None, boot_cols=("USTAR_TH_05", "USTAR_TH_50", "USTAR_TH_95")):
    print(f"\n{title}")
    print(f"{'year':>5} {'season':>8} {'ours':>6} {'REddyProc':>9} {'diff':>7} | "
          f"{'q_lo':>6} {'q50':>6} {'q_hi':>6} | {'REddyProc q':>22} {'n_ok':>4}  reason")
    for r in table.itertuples(index=False):
        ref = (published or {}).get((r.year, r.season), (published or {}).get(r.season))
        diff = r.USTAR_TH - ref if ref is not None else None
        qs = [getattr(r, c) for c in boot_cols]
        bref = (boot or {}).get(r.season)
        bref_s = " / ".join(fmt(x) for x in bref) if bref else ""
        print(f"{r.year:>5} {r.season:>8} {fmt(r.USTAR_TH):>6} {fmt(ref):>9} {fmt(diff):>7} | "
              f"{fmt(qs[0]):>6} {fmt(qs[1]):>6} {fmt(qs[2]):>6} | {bref_s:>22} {r.n_boot_ok:>4}  {r.reason}")


def main(quick=False):
    n_boot = 20 if quick else 100
    has_cpd = importlib.util.find_spec("ecoresp_core.ustar.cpd") is not None
    tha = read_tower(THA).data
    t0 = time.perf_counter()
    t_tha = ustar_thresholds(tha, "mpt", n_boot=n_boot, seed=1)
    dt = time.perf_counter() - t0
    show(f"DE-Tha 1998, moving point test, default seasons, bootstrap {n_boot} ({dt:.1f} s); "
         "REddyProc: vignettes/uStarCases.md", t_tha, THA_PUBLISHED, THA_BOOT_SEASONS)
    annual = t_tha.iloc[0]
    for src, (q05, q50, q95) in THA_BOOT.items():
        print(f"   year 5/50/95 %: ours {fmt(annual.USTAR_TH_05)} / {fmt(annual.USTAR_TH_50)} / "
              f"{fmt(annual.USTAR_TH_95)}; REddyProc {src} {q05:.3f} / {q50:.3f} / {q95:.3f}")

    geb, geb_seasons = read_geb()
    t0 = time.perf_counter()
    t_geb = ustar_thresholds(geb, "mpt", n_boot=n_boot if not quick else 10, seed=1, seasons=geb_seasons)
    dt = time.perf_counter() - t0
    show(f"DE-Geb 2004-2006, moving point test, the vignette's seasons ({dt:.1f} s); "
         "REddyProc: vignettes/DEGebExample.md; ours q 5 / 50 / 95 %, REddyProc q 10 / 90 % of 30 samples",
         t_geb, GEB_PUBLISHED, GEB_BOOT, ("USTAR_TH_05", "USTAR_TH_50", "USTAR_TH_95"))
    t_geb_default = ustar_thresholds(geb, "mpt", n_boot=n_boot if not quick else 10, seed=1)
    show("DE-Geb 2004-2006, moving point test, REddyProc's default seasons (no published value)", t_geb_default)

    if has_cpd:
        for name, df in (("DE-Tha 1998", tha), ("DE-Geb 2004-2006", geb)):
            t0 = time.perf_counter()
            t = ustar_thresholds(df, "cpd", n_boot=n_boot if not quick else 10, seed=1)
            dt = time.perf_counter() - t0
            show(f"{name}, change-point detection ({dt:.1f} s; no published REddyProc value)",
                 t[t["season"] == "annual"])
    else:
        print("\n(ecoresp_core/ustar/cpd.py not there: change-point rows skipped)")
    return t_tha, t_geb


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
