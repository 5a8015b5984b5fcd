"""The night-time u* filter of NEE, as REddyProc's ``sEddyProc_sMDSGapFillAfterUstar`` applies it
before gap filling."""

import numpy as np
import pandas as pd

from ..common.turbulence import low_turbulence_flag
from ..errors import InputError
from .mpt import season_factor

FLAG = "USTAR_FLAG"


def thresholds_per_record(index, table, column="USTAR_TH", seasonal=False):
    """The u* threshold (m s-1) of every record from a :func:`ustar_thresholds` table.

    Parameters
    ----------
    index : pandas.DatetimeIndex
        Record times.
    table : pandas.DataFrame
        Output of :func:`ecoresp_core.ustar.bootstrap.ustar_thresholds`.
    column : str
        ``USTAR_TH`` or a quantile column (``USTAR_TH_05`` ... ``USTAR_TH_95``).
    seasonal : bool
        False (REddyProc's default, ``usGetAnnualSeasonUStarMap``): the year's threshold for all its
        seasons; True (``useSeaonsalUStarThresholds``): each season's own.

    Returns
    -------
    numpy.ndarray
        NaN for records of seasons the table does not hold.
    """
    seasons = season_factor(index)
    rows = table[table["season"] != "annual"]
    if seasonal:
        lookup = dict(zip(rows["season"], rows[column]))
    else:
        annual = table[table["season"] == "annual"].set_index("year")[column]
        lookup = {s: annual.get(y, np.nan) for s, y in zip(rows["season"], rows["year"])}
    return np.array([lookup.get(s, np.nan) for s in seasons], dtype=float)


def apply_ustar_filter(df, threshold, sw_thr=10.0, filter_daytime=False, flag_after_low=False,
                       columns=("NEE",)):
    """NEE set to missing where u* is below the threshold at night (REddyProc
    ``sMDSGapFillAfterUstar``).

    Parameters
    ----------
    df : pandas.DataFrame
        Records with USTAR (m s-1), SW_IN (W m-2) and the flux columns.
    threshold : float or array-like
        u* threshold (m s-1), one value or one per record (:func:`thresholds_per_record`).
    sw_thr : float
        Night: SW_IN below this (W m-2) or missing (``swThr``, 10).
    filter_daytime : bool
        Filter day-time records too (``isFilterDayTime``, False).
    flag_after_low : bool
        Also flag the first record after a period of low turbulence (``isFlagEntryAfterLowTurbulence``,
        False; Papale et al. 2006).
    columns : sequence of str
        Columns set to NaN where the flag is not 0.

    Returns
    -------
    pandas.DataFrame
        A copy with the columns filtered and ``USTAR_FLAG``: 0 kept, 1 u* below the threshold,
        2 first record after low turbulence, 3 no threshold, 4 u* missing (REddyProc's ``Ustar_fqc``).
    """
    for c in ("USTAR", "SW_IN"):
        if c not in df.columns and not (c == "SW_IN" and filter_daytime):
            raise InputError(f"u* filter: the records have no {c} column")
    out = df.copy()
    n = len(out)
    thr = np.broadcast_to(np.asarray(threshold, dtype=float), (n,)) if np.ndim(threshold) == 0 \
        else np.asarray(threshold, dtype=float)
    if len(thr) != n:
        raise InputError(f"u* filter: {len(thr)} thresholds for {n} records")
    sw = out["SW_IN"].to_numpy(dtype=float) if "SW_IN" in out.columns else np.nan
    flag = low_turbulence_flag(out["USTAR"].to_numpy(dtype=float), sw, thr, sw_thr, filter_daytime, flag_after_low)
    for c in columns:
        if c in out.columns:
            out[c] = out[c].where(pd.Series(flag == 0, index=out.index))
    out[FLAG] = flag
    return out
