"""Potential (extraterrestrial, top-of-atmosphere) short-wave radiation on a horizontal surface.

    SW_IN_POT = S0 * E(doy) * max(0, cos(zenith))
    cos(zenith) = sin(lat) sin(decl) + cos(lat) cos(decl) cos(hour angle)

- S0 = 1367 W m-2 (WMO solar constant; the FLUXNET and REddyProc values differ by < 0.5 %).
- E (eccentricity correction), the declination and the equation of time follow the Fourier series of
  Spencer (1971, Search 2:172), evaluated with the fractional day of the year.
- Time stamps are clock times in local *standard* time (no daylight saving) with a fixed offset
  ``utc_offset_h`` from UTC; they are turned into true solar time with the longitude correction
  ``(lon - 15 * utc_offset_h) / 15`` h and the equation of time.
- Tower records are intervals.  :func:`potential_radiation` evaluates the middle of each interval when
  ``step_minutes`` is given (the index is the interval START, as in the project's tower table), and the
  instant itself otherwise.

Used to separate night from day (docs/methods.md section 3: night = SW_IN <= 10 and SW_IN_POT <= 0).
"""

import numpy as np
import pandas as pd

from ..errors import InputError

SOLAR_CONSTANT = 1367.0  # W m-2


def _day_and_hour(times_local):
    """Day of year, local clock hour (decimal) and the length of the year in days."""
    t = pd.DatetimeIndex(times_local)
    hour = t.hour.values + t.minute.values / 60.0 + t.second.values / 3600.0
    doy = t.dayofyear.values.astype("float64")
    ndays = np.where(t.is_leap_year, 366.0, 365.0)
    return doy, hour, ndays


def solar_geometry(times_local, latitude, longitude, utc_offset_h):
    """cos(solar zenith angle) and the eccentricity factor E at the given local-standard-time instants.

    Returns ``(cos_zenith, eccentricity, solar_time_h)`` as float64 arrays."""
    doy, hour, ndays = _day_and_hour(times_local)
    gamma = 2.0 * np.pi * (doy - 1.0 + (hour - float(utc_offset_h) - 12.0) / 24.0) / ndays
    decl = (0.006918 - 0.399912 * np.cos(gamma) + 0.070257 * np.sin(gamma)
            - 0.006758 * np.cos(2 * gamma) + 0.000907 * np.sin(2 * gamma)
            - 0.002697 * np.cos(3 * gamma) + 0.00148 * np.sin(3 * gamma))
    ecc = (1.000110 + 0.034221 * np.cos(gamma) + 0.001280 * np.sin(gamma)
           + 0.000719 * np.cos(2 * gamma) + 0.000077 * np.sin(2 * gamma))
    eot_min = 229.18 * (0.000075 + 0.001868 * np.cos(gamma) - 0.032077 * np.sin(gamma)
                        - 0.014615 * np.cos(2 * gamma) - 0.040849 * np.sin(2 * gamma))
    solar_time = hour + (float(longitude) - 15.0 * float(utc_offset_h)) / 15.0 + eot_min / 60.0
    omega = np.deg2rad(15.0 * (solar_time - 12.0))
    lat = np.deg2rad(float(latitude))
    cosz = np.sin(lat) * np.sin(decl) + np.cos(lat) * np.cos(decl) * np.cos(omega)
    return cosz, ecc, solar_time


def potential_radiation(times_local, latitude, longitude, utc_offset_h, step_minutes=None,
                        solar_constant=SOLAR_CONSTANT):
    """Potential radiation SW_IN_POT (W m-2, >= 0) for local-standard-time stamps.

    ``times_local``: anything ``pandas.DatetimeIndex`` accepts (naive, local standard time).
    ``step_minutes``: when given, the stamps are interval starts and the middle of each interval
    (start + step/2) is evaluated.  Latitude and longitude in decimal degrees (east positive),
    ``utc_offset_h`` in hours (UTC+1 -> 1)."""
    lat = float(latitude)
    if not -90.0 <= lat <= 90.0:
        raise InputError(f"latitude {latitude} is outside [-90, 90]")
    if not -180.0 <= float(longitude) <= 360.0:
        raise InputError(f"longitude {longitude} is outside [-180, 360]")
    t = pd.DatetimeIndex(times_local)
    if t.tz is not None:
        raise InputError("time stamps must be naive local standard time, not time-zone aware")
    if step_minutes:
        t = t + pd.Timedelta(minutes=float(step_minutes) / 2.0)
    lon = float(longitude)
    if lon > 180.0:
        lon -= 360.0
    cosz, ecc, _ = solar_geometry(t, lat, lon, utc_offset_h)
    return solar_constant * ecc * np.clip(cosz, 0.0, None)


def solar_noon_clock_h(date, longitude, utc_offset_h):
    """Local-standard clock hour of solar noon on ``date`` (decimal hours)."""
    t = pd.DatetimeIndex([pd.Timestamp(date).normalize() + pd.Timedelta(hours=12)])
    _, _, st = solar_geometry(t, 0.0, longitude, utc_offset_h)
    return float(12.0 - (st[0] - 12.0))
