"""The night-time low-turbulence flag of REddyProc's u* filter (``sMDSGapFillAfterUstar``), shared by
the u* package (which filters NEE with it) and gap filling (which turns flagged NEE into gaps)."""

import numpy as np


def low_turbulence_flag(ustar, rg, threshold, sw_threshold=10.0, filter_daytime=False, flag_after_low=False):
    """REddyProc's u* filter flag (``Ustar_fqc``) on night records (Rg < ``sw_threshold`` W m-2 or Rg
    missing; all records with ``filter_daytime``): 1 where u* < threshold, 2 the first record after a
    low-turbulence period (only with ``flag_after_low``), 3 where no threshold is defined, 4 where u*
    is missing; 0 elsewhere.

    Parameters
    ----------
    ustar, rg : array_like (n,)
        Friction velocity (m s-1) and incoming short-wave radiation (W m-2; a scalar NaN: every
        record counts as night).
    threshold : float or array_like (n,)
        u* threshold (m s-1), one value or one per record (NaN: not defined).
    flag_after_low : bool
        REddyProc's ``isFlagEntryAfterLowTurbulence``, as Papale et al. (2006) describe it: the record
        after a low-turbulence period (REddyProc's ``which(diff(qf) == 1) + 1`` relabels the first low
        record instead).

    Returns
    -------
    numpy.ndarray of int8 (n,)
    """
    ustar = np.asarray(ustar, "float64")
    rg = np.broadcast_to(np.asarray(rg, "float64"), ustar.shape)
    th = np.broadcast_to(np.asarray(threshold, "float64"), ustar.shape)
    rows = np.ones(ustar.size, bool) if filter_daytime else ~(rg >= sw_threshold)
    flag = np.zeros(ustar.size, np.int8)
    with np.errstate(invalid="ignore"):
        flag[rows & np.isfinite(th) & (ustar < th)] = 1
    if flag_after_low:
        flag[np.flatnonzero((flag[:-1] == 1) & (flag[1:] == 0)) + 1] = 2
    flag[rows & ~np.isfinite(th)] = 3
    flag[rows & ~np.isfinite(ustar)] = 4
    return flag
