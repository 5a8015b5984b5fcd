"""Temperature response of ecosystem respiration (docs/methods.md section 2).

Lloyd & Taylor (1994) Eq. 11:  R(T) = Rref * exp(E0 * (1/(Tref - T0) - 1/(T - T0)))
with temperatures in K inside the formula, T0 = 227.13 K (fixed, never fitted), E0 in K,
Rref in the flux unit (umol CO2 m-2 s-1) at the reference temperature Tref.  The plugin's
default Tref is 15 degC (288.15 K); every Rref output states its Tref.
"""

import numpy as np

T0_K = 227.13
KELVIN = 273.15
TREF_DEGC = 15.0
T_MIN_DEGC = -40.0  # Lloyd-Taylor diverges as T -> T0 (-46.02 degC): mask below this


def lt_factor(temp_degc, e0_k, tref_degc=TREF_DEGC):
    """exp(E0 (1/(Tref-T0) - 1/(T-T0))): the factor R(T)/Rref.  NaN where T <= -40 degC."""
    t = np.asarray(temp_degc, dtype="float64") + KELVIN
    tref = tref_degc + KELVIN
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        f = np.exp(np.asarray(e0_k, dtype="float64") * (1.0 / (tref - T0_K) - 1.0 / (t - T0_K)))
    return np.where(np.asarray(temp_degc) > T_MIN_DEGC, f, np.nan)


def lloyd_taylor(temp_degc, rref, e0_k, tref_degc=TREF_DEGC):
    """Respiration at ``temp_degc`` (degC) from Rref at ``tref_degc`` and E0 (K)."""
    return np.asarray(rref, dtype="float64") * lt_factor(temp_degc, e0_k, tref_degc)


def convert_rref(rref, e0_k, from_tref_degc, to_tref_degc):
    """Rref at another reference temperature: Rref(T2) = Rref(T1) exp(E0 (1/(T1-T0) - 1/(T2-T0)))."""
    t1, t2 = from_tref_degc + KELVIN, to_tref_degc + KELVIN
    return np.asarray(rref, dtype="float64") * np.exp(np.asarray(e0_k) * (1.0 / (t1 - T0_K) - 1.0 / (t2 - T0_K)))


def apparent_q10(e0_k, t_low_degc=10.0):
    """Apparent Q10 of Lloyd-Taylor between t_low and t_low + 10 degC."""
    a, b = t_low_degc + KELVIN, t_low_degc + 10.0 + KELVIN
    return np.exp(np.asarray(e0_k, dtype="float64") * (1.0 / (a - T0_K) - 1.0 / (b - T0_K)))


def e0_from_q10(q10, t_low_degc=10.0):
    """E0 (K) whose apparent Q10 between t_low and t_low + 10 degC is ``q10``."""
    a, b = t_low_degc + KELVIN, t_low_degc + 10.0 + KELVIN
    return np.log(np.asarray(q10, dtype="float64")) / (1.0 / (a - T0_K) - 1.0 / (b - T0_K))
