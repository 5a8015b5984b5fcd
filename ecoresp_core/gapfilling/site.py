"""Gap filling of one site's tower table: optional u* filtering of night-time NEE, then MDS for each
variable (``mds.py``), as REddyProc's ``sMDSGapFillAfterUstar`` / ``sMDSGapFill`` do."""

from dataclasses import replace

import numpy as np
import pandas as pd

from ..errors import InputError
from ..common.turbulence import low_turbulence_flag
from .mds import MDSOptions, mds_gapfill, records_per_day

#: variables the tower table may hold and that can be filled; fluxes are looked up at every record
#: (REddyProc FillAll = TRUE: the random uncertainty ``_F_SD``), drivers only at their gaps
FLUXES = ("NEE", "LE", "H")
DRIVERS = ("TA", "VPD", "SW_IN")
VARIABLES = FLUXES + DRIVERS


def fluxnet_timestamps(index):
    """``TIMESTAMP_START`` and ``TIMESTAMP_END`` (int64 YYYYMMDDHHMM, FLUXNET2015) of a regular index
    of interval starts."""
    step = pd.Timedelta(days=1) / records_per_day(index)

    def stamp(t):
        # each part as int64 first: pandas 2 gives int32 date parts, whose sum overflows
        parts = [np.asarray(p, dtype="int64") for p in (t.year, t.month, t.day, t.hour, t.minute)]
        return parts[0] * 10 ** 8 + parts[1] * 10 ** 6 + parts[2] * 10 ** 4 + parts[3] * 100 + parts[4]

    return stamp(index), stamp(index + step)


def gapfill_table(df, variables=("NEE",), ustar_threshold=None, options=None, rpd=None):
    """Fill the gaps of ``variables`` of a tower table.

    Parameters
    ----------
    df : DataFrame
        Tower table (``ecoresp_core.io.towers``): regular DatetimeIndex of interval starts, ``SW_IN``
        (W m-2), ``TA`` (degC), ``VPD`` (hPa) as drivers, the variables and their ``<VAR>_QC``
        (0 = measured; other records are gaps) when present, ``USTAR`` (m s-1) for u* filtering.
    variables : sequence of str
        Any of :data:`VARIABLES`.
    ustar_threshold : float or None
        u* threshold (m s-1): night NEE records (SW_IN < 10 W m-2 or missing) with u* below it or
        u* missing are gaps (REddyProc ``sMDSGapFillAfterUstar``); needs a ``USTAR`` column.
    options : MDSOptions or None
        For the fluxes; the drivers use the same with ``fill_all`` off (REddyProc's examples).

    Returns
    -------
    (DataFrame, dict)
        The ``mds_gapfill`` columns of every variable (plus ``USTAR_FLAG``: 0 kept, 1 u* below the
        threshold, 4 u* missing, when u* filtering ran), and the provenance (per variable the
        ``attrs["mds"]`` of its fill, records measured and filled per quality class).
    """
    opt = options or MDSOptions.reddyproc()
    unknown = [v for v in variables if v not in VARIABLES]
    if unknown or not variables:
        raise InputError(f"variables {unknown or '(none)'}: choose from {', '.join(VARIABLES)}")
    missing = [v for v in variables if v not in df.columns]
    if missing:
        raise InputError(f"the tower table has no column {', '.join(missing)} to fill")
    rpd = rpd or records_per_day(df.index)
    work = df.copy()
    parts, info = [], {"variables": {}, "ustar_threshold": ustar_threshold}
    if ustar_threshold is not None and "NEE" in variables:
        if "USTAR" not in work.columns:
            raise InputError("a u* threshold was given but the tower table has no USTAR column")
        flag = low_turbulence_flag(work["USTAR"], work["SW_IN"] if "SW_IN" in work.columns else np.nan,
                                   float(ustar_threshold))
        nee = work["NEE"].to_numpy(dtype="float64", copy=True)
        nee[flag != 0] = np.nan
        work["NEE"] = nee
        parts.append(pd.DataFrame({"USTAR_FLAG": flag.astype("int64")}, index=df.index))
        measured = np.isfinite(df["NEE"].to_numpy(dtype="float64"))
        if "NEE_QC" in df.columns:
            measured &= df["NEE_QC"].to_numpy(dtype="float64") == 0
        info["ustar_removed"] = int(np.sum((flag != 0) & measured))  # measured records removed
    for var in variables:
        qc = f"{var}_QC" if f"{var}_QC" in work.columns else None
        o = opt if var in FLUXES else replace(opt, fill_all=False)
        out = mds_gapfill(work, var, qc=qc, options=o, rpd=rpd)
        q = out[f"{var}_F_QC"]
        info["variables"][var] = {**out.attrs["mds"], "measured": int((q == 0).sum()),
                                  **{f"filled_qc{k}": int((q == k).sum()) for k in (1, 2, 3)},
                                  "unfilled": int(q.isna().sum())}
        parts.append(out)
    table = pd.concat(parts, axis=1)
    table.attrs = {}
    return table, info
