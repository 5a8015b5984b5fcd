"""Physical constants and unit conversions (docs/methods.md sections 11-13)."""

import numpy as np

from ..errors import InputError
from .timeaxis import days_in_month

KELVIN = 273.15  # K at 0 degC
M_C = 12.011  # g mol-1, molar mass of carbon
UMOL_M2_S_TO_GC_M2_D = 1e-6 * M_C * 86400.0  # 1.0377504 g C m-2 d-1 per umol CO2 m-2 s-1


def kelvin_to_celsius(t_k):
    """Temperature K -> degC."""
    return np.asarray(t_k, dtype="float64") - KELVIN


def celsius_to_kelvin(t_degc):
    """Temperature degC -> K."""
    return np.asarray(t_degc, dtype="float64") + KELVIN


def j_m2_to_w_m2(j_m2, seconds=86400.0):
    """Mean flux density (W m-2) from an energy sum (J m-2) accumulated over ``seconds``
    (86400 for ERA5 daily sums, 3600 for hourly accumulations)."""
    seconds = np.asarray(seconds, dtype="float64")
    if np.any(seconds <= 0):
        raise InputError(f"accumulation period must be positive seconds (got {seconds})")
    return np.asarray(j_m2, dtype="float64") / seconds


def w_m2_to_j_m2(w_m2, seconds=86400.0):
    """Energy sum (J m-2) over ``seconds`` from a mean flux density (W m-2)."""
    return np.asarray(w_m2, dtype="float64") * np.asarray(seconds, dtype="float64")


def mm_month_to_mm_day(mm_month, year, month):
    """Monthly total (mm/month) -> mean daily rate (mm/day) with the real days of the month."""
    return np.asarray(mm_month, dtype="float64") / days_in_month(year, month)


def mm_day_to_mm_month(mm_day, year, month):
    """Mean daily rate (mm/day) -> monthly total (mm/month)."""
    return np.asarray(mm_day, dtype="float64") * days_in_month(year, month)
