"""Saturation vapour pressure and humidity (docs/methods.md sections 11-12).

e_sat(T) = 6.1078 exp(17.08085 T / (234.175 + T)) hPa, T in degC (the REddyProc form)."""

import numpy as np


def esat_hpa(t_degc):
    """Saturation vapour pressure (hPa) over water at ``t_degc``."""
    t = np.asarray(t_degc, dtype="float64")
    return 6.1078 * np.exp(17.08085 * t / (234.175 + t))


def rh_from_vpd(vpd_hpa, ta_degc):
    """Relative humidity (%) from VPD (hPa) and air temperature (degC), clipped to [0, 100]:
    RH = 100 (1 - VPD / e_sat(TA)) (section 11)."""
    rh = 100.0 * (1.0 - np.asarray(vpd_hpa, dtype="float64") / esat_hpa(ta_degc))
    return np.clip(rh, 0.0, 100.0)


def vpd_from_rh(rh_pct, ta_degc):
    """Vapour pressure deficit from relative humidity and air temperature, the inverse of
    :func:`rh_from_vpd`: VPD = e_sat(TA) (1 - RH / 100) (section 11).

    Parameters
    ----------
    rh_pct : array_like
        Relative humidity (%); clipped to [0, 100] first.
    ta_degc : array_like
        Air temperature (degC).

    Returns
    -------
    numpy.ndarray
        VPD (hPa), between 0 and e_sat(TA); NaN where either input is NaN.
    """
    rh = np.clip(np.asarray(rh_pct, dtype="float64"), 0.0, 100.0)
    return esat_hpa(ta_degc) * (1.0 - rh / 100.0)


def rh_from_vap_tmp(vap_hpa, tmp_degc):
    """Relative humidity (%) = 100 vap / e_sat(tmp), clipped to [0, 100] (section 12)."""
    rh = 100.0 * np.asarray(vap_hpa, dtype="float64") / esat_hpa(tmp_degc)
    return np.clip(rh, 0.0, 100.0)


def vpd_from_vap_tmp(vap_hpa, tmp_degc):
    """Vapour pressure deficit (hPa) = e_sat(tmp) - vap, clipped at 0."""
    return np.maximum(esat_hpa(tmp_degc) - np.asarray(vap_hpa, dtype="float64"), 0.0)


def vpd_from_tmn_tmp(tmn_degc, tmp_degc):
    """Vapour pressure deficit (hPa) with the daily minimum temperature as dew point:
    e_sat(tmp) - e_sat(tmn), clipped at 0.  For grids without humidity (e.g. CRU tmp/tmn only);
    an approximation that holds where nights reach saturation and overestimates humidity in arid
    climates (Kimball et al. 1997, Agric. For. Meteorol. 85:87-98)."""
    return np.maximum(esat_hpa(tmp_degc) - esat_hpa(tmn_degc), 0.0)


def dtr_from_tmx_tmn(tmx_degc, tmn_degc):
    """Diurnal temperature range (degC) = tmx - tmn."""
    return np.asarray(tmx_degc, dtype="float64") - np.asarray(tmn_degc, dtype="float64")
