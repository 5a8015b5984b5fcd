"""Derived drivers for upscaling (docs/methods.md sections 11-12): the table of derivations and
``derive``, their kernel on arrays (the formulas are in ``common.meteorology`` and
``common.units``).  Deriving a whole raster series is the job ``ecoresp_core.jobs.derive``.

- saturation vapour pressure: e_sat(T) = 6.1078 exp(17.08085 T / (234.175 + T)) hPa, T in degC
  (the REddyProc formula of section 11, also used for CRU TS RH in section 12);
- RH = 100 vap / e_sat(tmp), clipped to [0, 100]; VPD = e_sat(tmp) - vap, clipped at 0 (hPa);
- VPD without humidity data: e_sat(tmp) - e_sat(tmn) (minimum temperature as dew point);
- DTR = tmx - tmn (degC);
- K <-> degC (273.15), accumulated J m-2 -> mean W m-2 (divide by the accumulation seconds),
  mm/month <-> mm/day with the real number of days of each month (leap Februaries).
"""

import numpy as np
import pandas as pd

from ..common.fluxvalues import MISSING_CODE
from ..errors import InputError
from ..common.meteorology import dtr_from_tmx_tmn, rh_from_vap_tmp, vpd_from_tmn_tmp, vpd_from_vap_tmp
from ..common.units import celsius_to_kelvin, j_m2_to_w_m2, kelvin_to_celsius

# name -> (number of inputs, output units, description)
DERIVATIONS = {
    "rh": (2, "%", "RH = 100 vap / e_sat(tmp), clipped to 0..100 (inputs: vap hPa, tmp degC)"),
    "vpd": (2, "hPa", "VPD = e_sat(tmp) - vap, >= 0 (inputs: vap hPa, tmp degC)"),
    "dtr": (2, "degC", "DTR = tmx - tmn (inputs: tmx, tmn degC)"),
    "k_to_c": (1, "degC", "temperature K -> degC"),
    "c_to_k": (1, "K", "temperature degC -> K"),
    "j_to_w": (1, "W m-2", "energy sum J m-2 over the accumulation period -> mean W m-2"),
    "mm_month_to_mm_day": (1, "mm/day", "mm/month -> mm/day (real days per month)"),
    "mm_day_to_mm_month": (1, "mm/month", "mm/day -> mm/month (real days per month)"),
    "vpd_tmn": (2, "hPa", "VPD = e_sat(tmp) - e_sat(tmn), >= 0: minimum temperature as dew point, for grids "
                "without humidity (inputs: tmn, tmp degC)"),
}


def derive(kind, a, b=None, ndays=None, seconds=86400.0):
    """The derived driver ``kind`` (a key of DERIVATIONS) from arrays ``a`` and ``b``.

    Parameters
    ----------
    kind : str
        Key of DERIVATIONS.
    a, b : ndarray
        First input (vap, tmx, tmn for ``vpd_tmn``, or the single input) and second input (tmp,
        or tmn for ``dtr``), in the units of DERIVATIONS; ``b`` is None for one-input kinds.
    ndays : ndarray or None
        Days of each time step's month, broadcastable to ``a`` (e.g. shape (t, 1, 1)); needed by
        the mm/month <-> mm/day conversions.
    seconds : float
        Accumulation period of ``j_to_w`` (s; 86400 for daily sums).
    """
    if kind == "rh":
        return rh_from_vap_tmp(a, b)
    if kind == "vpd":
        return vpd_from_vap_tmp(a, b)
    if kind == "vpd_tmn":
        return vpd_from_tmn_tmp(a, b)
    if kind == "dtr":
        return dtr_from_tmx_tmn(a, b)
    if kind == "k_to_c":
        return kelvin_to_celsius(a)
    if kind == "c_to_k":
        return celsius_to_kelvin(a)
    if kind == "j_to_w":
        return j_m2_to_w_m2(a, seconds)
    if kind == "mm_month_to_mm_day":
        return a / ndays
    return a * ndays


#: fewer valid targets than this cannot train or cross-validate a model
MIN_TARGETS = 10


def missing_codes_as_nan(table, target, columns, what_target):
    """``table`` with -9999 (FLUXNET's missing code) in ``target`` and the numeric ``columns`` set
    to NaN, and {column: number of codes}; InputError naming ``what_target`` when fewer than
    MIN_TARGETS site-months keep a target value."""
    table = table.copy()
    codes = {}
    for c in dict.fromkeys([target] + list(columns)):
        if not pd.api.types.is_numeric_dtype(table[c]):
            continue
        hit = table[c].to_numpy(dtype="float64") == MISSING_CODE
        if hit.any():
            table.loc[hit, c] = np.nan
            codes[c] = int(hit.sum())
    n = int(np.isfinite(pd.to_numeric(table[target], errors="coerce").to_numpy(dtype="float64")).sum())
    if n < MIN_TARGETS:
        read = f" ({codes[target]} value(s) of -9999, the missing code, left out)" if codes.get(target) else ""
        raise InputError(f"{what_target}: only {n} valid value(s) of {len(table)}{read}; at least "
                         f"{MIN_TARGETS} site-months with a target are needed to fit and cross-validate a model")
    return table, codes
