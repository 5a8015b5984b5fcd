"""Physical constants and unit conversions (docs/methods.md sections 11-13)."""

import re

import numpy as np

from ..errors import InputError
from .meteorology import esat_hpa
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


def mm_month_to_mm_day(mm_month, year, month, calendar="standard"):
    """Monthly total (mm/month) -> mean daily rate (mm/day) with the days of the month in the CF
    ``calendar`` (leap Februaries in the standard calendar, 30 days in ``360_day``)."""
    return np.asarray(mm_month, dtype="float64") / days_in_month(year, month, calendar)


def mm_day_to_mm_month(mm_day, year, month, calendar="standard"):
    """Mean daily rate (mm/day) -> monthly total (mm/month), days as :func:`mm_month_to_mm_day`."""
    return np.asarray(mm_day, dtype="float64") * days_in_month(year, month, calendar)


# ----------------------------------------------------------------------------------------------
# units of raster series (a band's or NetCDF variable's ``units`` attribute) and their magnitudes

#: recognised unit attributes (lower case, without blanks, '_', '-', '°' -> 'deg') -> canonical unit
UNIT_NAMES = {
    **dict.fromkeys(("degc", "c", "celsius", "degreec", "degreesc", "degreecelsius", "degreescelsius"), "degC"),
    **dict.fromkeys(("k", "kelvin", "degk", "degreek", "degreesk", "degreeskelvin"), "K"),
    **dict.fromkeys(("hpa", "mbar", "mb", "millibar", "millibars"), "hPa"),
    "kpa": "kPa",
    "pa": "Pa",
}
#: canonical unit -> (quantity, scale, offset) with value_in_base = value * scale + offset; the base
#: units are degC (temperature) and hPa (vapour pressure)
_TO_BASE = {"degC": ("temperature", 1.0, 0.0), "K": ("temperature", 1.0, -KELVIN),
            "hPa": ("pressure", 1.0, 0.0), "kPa": ("pressure", 10.0, 0.0), "Pa": ("pressure", 0.01, 0.0)}
#: a temperature series in degC has a median below this (K: above 180); a series in K above it
TEMPERATURE_MEDIAN_SPLIT = 100.0
#: vapour pressure: the 99th percentile of vap / e_sat(tmp) over a grid is near 1 in hPa (somewhere
#: the air is near saturation) but at most 0.1 in kPa; above VAP_RATIO_MAX the values exceed
#: saturation everywhere (Pa)
VAP_RATIO_KPA = 0.12
VAP_RATIO_MAX = 3.0


def canonical_unit(text):
    """The canonical unit (a key of ``_TO_BASE``) of a unit attribute, or None when it is empty or
    not one of UNIT_NAMES."""
    key = re.sub(r"[\s_\-\*\^\[\]]", "", str(text or "")).lower().replace("°", "deg")
    return UNIT_NAMES.get(key)


def conversion_to(unit_text, expected, what):
    """``(scale, offset, note)`` turning values labelled ``unit_text`` into the unit ``expected``
    ('degC', 'K' or 'hPa'): ``(1, 0, None)`` when the label is empty, not understood or already
    ``expected``; otherwise the conversion and a sentence saying it (``what`` names the input).
    InputError when the label is a unit of another quantity."""
    have = canonical_unit(unit_text)
    if have is None or have == expected:
        return 1.0, 0.0, None
    q_have, s_have, o_have = _TO_BASE[have]
    q_want, s_want, o_want = _TO_BASE[expected]
    if q_have != q_want:
        raise InputError(f"{what}: its unit is {unit_text!r}, but a {q_want} in {expected} is expected")
    scale = s_have / s_want
    offset = (o_have - o_want) / s_want
    how = f"{offset:+g}" if scale == 1.0 else f"x{scale:g}"
    return scale, offset, f"{what}: unit {unit_text!r}, converted to {expected} ({how})"


def _median(values):
    finite = np.asarray(values, dtype="float64")
    finite = finite[np.isfinite(finite)]
    return float(np.median(finite)) if finite.size else None


def check_temperature(values, unit, what):
    """InputError naming ``what`` when the temperatures ``values`` (a sample, already in ``unit``:
    'degC' or 'K') are implausible for it: a median above TEMPERATURE_MEDIAN_SPLIT for degC (K?),
    below it for K (degC?).  Returns the median (None without values)."""
    median = _median(values)
    if median is None:
        return None
    if unit == "degC" and median > TEMPERATURE_MEDIAN_SPLIT:
        raise InputError(f"{what}: median {median:.5g} is implausible for a temperature in degC; it looks like "
                         "K: set the unit attribute to K (it is then converted), or convert with k_to_c first")
    if unit == "K" and median < TEMPERATURE_MEDIAN_SPLIT:
        raise InputError(f"{what}: median {median:.5g} is implausible for a temperature in K; it looks like "
                         "degC already")
    return median


def check_vapour_pressure(vap_hpa, tmp_degc, what):
    """InputError naming ``what`` when the vapour pressures ``vap_hpa`` (a sample) do not look like
    hPa against the saturation vapour pressure of the temperatures ``tmp_degc`` of the same cells
    and times: a 99th percentile of vap / e_sat(tmp) below VAP_RATIO_KPA (kPa) or a median above
    VAP_RATIO_MAX (Pa).  Returns the 99th percentile (None without values)."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        ratio = np.asarray(vap_hpa, dtype="float64") / esat_hpa(tmp_degc)
    ratio = ratio[np.isfinite(ratio)]
    if not ratio.size:
        return None
    p99, median = float(np.percentile(ratio, 99)), float(np.median(ratio))
    if p99 < VAP_RATIO_KPA:
        raise InputError(f"{what}: vapour pressure over its saturation value e_sat(tmp) has a 99th percentile of "
                         f"{p99:.3g} (in hPa the air would never come near saturation), which looks like kPa; "
                         "set the unit attribute to kPa (it is then converted) or convert to hPa (x10)")
    if median > VAP_RATIO_MAX:
        raise InputError(f"{what}: vapour pressure is {median:.3g} times its saturation value e_sat(tmp) in the "
                         "median, impossible in hPa; it looks like Pa: set the unit attribute to Pa "
                         "(it is then converted) or convert to hPa (/100)")
    return p99
