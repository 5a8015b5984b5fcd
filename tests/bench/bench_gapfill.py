"""MDS gap-filling speed on one half-hourly site-year (DE-Tha 2011, FLUXNET2015 NEE_VUT_REF with QC 0
as measured, TA_F, SW_IN_F, VPD_F as drivers): ecoresp's ``mds_gapfill`` against hesseflux's
``gapfill`` (5.0, installed by make bench; it needs np.int/np.float shims on numpy 1.24) in the same
run, for filling the gaps only and for looking up every record (the random uncertainty: ecoresp
``fill_all``, hesseflux ``err=True``).  Times are best of 3 (hesseflux's uncertainty run: 1) on one
core; REddyProc's sMDSGapFill takes ~3.8 s per site-year on this kind of machine (measured elsewhere)."""

# bench_partition first: it pins BLAS threads to one core before numpy loads and puts the repository
# on sys.path; its site-year (DE-Tha 2011-2012) is this bench's too
from bench_partition import SITE_YEAR, best_of  # noqa: I001
import numpy as np
import pandas as pd

from ecoresp_core.gapfilling.mds import MDSOptions, mds_gapfill


def site_year():
    raw = pd.read_csv(SITE_YEAR, na_values=[-9999])
    raw.index = pd.to_datetime(raw["TIMESTAMP_START"].astype(str), format="%Y%m%d%H%M")
    raw = raw[raw.index.year == 2011]
    return pd.DataFrame({"NEE": raw["NEE_VUT_REF"].where(raw["NEE_VUT_REF_QC"] == 0), "TA": raw["TA_F"],
                         "SW_IN": raw["SW_IN_F"], "VPD": raw["VPD_F"]}, index=raw.index)


def hesseflux_peer(df):
    try:
        np.int, np.float, np.bool = int, float, bool  # hesseflux 5.0 still uses the removed aliases
        import hesseflux
    except Exception as exc:  # not installable or broken: say why
        return None, f"hesseflux not available ({type(exc).__name__}: {exc})"
    inp = df.fillna(-9999.0)
    inp.index = df.index.to_pydatetime()
    flag = pd.DataFrame(0, index=inp.index, columns=inp.columns)
    flag.loc[df["NEE"].isna().to_numpy(), "NEE"] = 2
    t_fill, filled = best_of(lambda: hesseflux.gapfill(inp, flag=flag, undef=-9999))
    t_err, _ = best_of(lambda: hesseflux.gapfill(inp, flag=flag, undef=-9999, err=True), n=1)
    return {"fill": t_fill, "err": t_err, "values": filled[0]["NEE"].to_numpy()}, "hesseflux 5.0"


def run():
    df = site_year()
    t_fill, ours = best_of(lambda: mds_gapfill(df, options=MDSOptions.reddyproc(fill_all=False)))
    t_all, _ = best_of(lambda: mds_gapfill(df))
    peer, note = hesseflux_peer(df)
    gaps = int(df["NEE"].isna().sum())
    print(f"site-year: DE-Tha 2011, {len(df)} half-hours, {gaps} gaps (best of 3, one core)")
    print(f"{'task':<40}{'ecoresp s':>10}{'peer s':>10}{'peer/ecoresp':>14}")
    for name, t, p in (("fill the gaps", t_fill, peer and peer["fill"]),
                       ("look up every record (uncertainty)", t_all, peer and peer["err"])):
        ratio = f"{p / t:14.1f}" if p else f"{'-':>14}"
        print(f"{name:<40}{t:10.3f}{(p or float('nan')):10.3f}{ratio}")
    if peer:
        a, b = ours["NEE_F"].to_numpy(), peer["values"]
        gap = df["NEE"].isna().to_numpy() & np.isfinite(a) & (b != -9999)
        print(f"ecoresp vs hesseflux fills: RMSE {np.sqrt(np.mean((a[gap] - b[gap]) ** 2)):.3f} umol m-2 s-1, "
              f"same within 0.001 on {100 * np.mean(np.abs(a[gap] - b[gap]) < 1e-3):.0f} % of the gaps")
    print(f"peer: {note}; REddyProc sMDSGapFill: ~3.8 s per site-year (measured elsewhere)")


if __name__ == "__main__":
    run()
