"""Synthetic half-hourly (or hourly) site-years generated from the DT-RH model (section 7.2),
for closed-loop tests of NT, DT and DT-RH.  Deterministic for a given seed.

Drivers
- SW_IN_POT: extraterrestrial radiation on a horizontal surface from a simple solar geometry
  (Cooper declination, hour angle at the record mid-time, local standard time = mean solar
  time, i.e. the site sits on its time-zone meridian; no equation of time).
- SW_IN: 0.75*SW_IN_POT scaled by a daily cloudiness (beta distributed, persistent from day
  to day) with sub-daily fluctuation.
- TA: seasonal cosine + AR(1) synoptic anomaly (daily, smoothly interpolated) + a diurnal
  cosine peaking at 15 h whose amplitude shrinks on cloudy days.
- RH, VPD: from a dew point that follows the daily mean temperature minus a random,
  persistent dew-point depression; e_a = e_sat(T_d), RH = 100 e_a/e_sat(T) (<= 100 %),
  VPD = e_sat(T) - e_a in hPa, with e_sat(T) = 6.1078 exp(17.08085 T/(234.175 + T)) (section 11).

Fluxes (NEE = ER - GPP, umol CO2 m-2 s-1)
- phenology p(doy) in [0, 1] (logistic green-up and senescence);
- Rref_n = rref_min + (rref_max - rref_min) p  (at 15 degC, RH_ref), Rref_d = (1 - inhibition) Rref_n;
- GPP = rectangular hyperbola (lightresponse.gpp_rect) with alpha, beta following p, fixed k, VPD0;
- ER  = Rref_d f_T(E0_d) f_RH(gamma) by day (SW_IN > 4 & SW_IN_POT > 0), else
        Rref_n f_T(E0_n) [f_RH(gamma) if rh_at_night];
  RH_ref is the median RH of the generated year (the estimator's default).
- noise: Gaussian with sd = noise_a + noise_b |NEE| (Richardson et al. 2006-like scaling);
- gaps: NEE_QC = 1 (not measured) at random, with probability ``gap_night`` at night (u* filter)
  and ``gap_day`` by day, plus a few multi-day outages; the NEE column keeps a noisy value at
  gaps as a stand-in for gap-filled NEE.
"""

import numpy as np
import pandas as pd

from ..common.meteorology import esat_hpa
from .lightresponse import gpp_rect, rh_factor
from .respiration import lt_factor

SOLAR_CONSTANT = 1367.0


def potential_radiation(index, lat_deg):
    """Extraterrestrial radiation on a horizontal surface (W m-2) at the mid-time of each
    record of ``index`` (interval starts, local standard = mean solar time)."""
    step = (index[1] - index[0]) if len(index) > 1 else pd.Timedelta(minutes=30)
    mid = index + step / 2
    doy = mid.dayofyear.values.astype(float)
    hour = mid.hour.values + mid.minute.values / 60.0
    decl = np.deg2rad(23.45) * np.sin(2 * np.pi * (284.0 + doy) / 365.0)
    lat = np.deg2rad(lat_deg)
    omega = np.deg2rad(15.0 * (hour - 12.0))
    cosz = np.sin(lat) * np.sin(decl) + np.cos(lat) * np.cos(decl) * np.cos(omega)
    ecc = 1.0 + 0.033 * np.cos(2 * np.pi * doy / 365.0)
    return np.maximum(SOLAR_CONSTANT * ecc * cosz, 0.0)


def _ar1(rng, n, rho, sd):
    x = np.empty(n)
    x[0] = rng.normal(0, sd)
    e = rng.normal(0, sd * np.sqrt(1 - rho ** 2), n)
    for i in range(1, n):
        x[i] = rho * x[i - 1] + e[i]
    return x


def make_site_year(seed=0, year=2015, freq_min=30, lat_deg=46.0, site_id="XX-Syn",
                   e0_night=150.0, e0_day=250.0, gamma=0.015, inhibition=0.15, rh_at_night=True,
                   rh_function="exp", tref_degc=15.0, rref_min=0.8, rref_max=3.5,
                   alpha_min=0.02, alpha_max=0.045, beta_min=3.0, beta_max=30.0, k=0.04,
                   vpd0_hpa=10.0, t_mean=10.0, t_amp=10.0, synoptic_sd=3.0,
                   noise_a=0.5, noise_b=0.1, gap_day=0.25, gap_night=0.6, outages=3,
                   long_gap=None, with_sd=False):
    """One synthetic site-year.  Returns ``(df, truth)``.

    ``df`` follows the tower-table contract (index TIMESTAMP_START; NEE, NEE_QC, TA, SW_IN,
    SW_IN_POT, VPD, RH [, sdNEE]; a plain DataFrame, whose step the methods infer from the index;
    wrap it with ``towers.as_tower(df, site_id=truth["site_id"])`` to name the site).  ``truth`` is a
    dict with site_id, the parameters (e0_night, e0_day, gamma, rh_ref, inhibition, k, vpd0_hpa, tref_degc,
    rh_function, rh_at_night) and Series reco, gpp, nee, rref_night, rref_day, alpha, beta,
    is_day.  ``long_gap = (start_doy, n_days)`` removes all measurements in that period.
    Plain Lasslop data: ``e0_day = e0_night, gamma = 0, inhibition = 0``.
    """
    rng = np.random.default_rng(seed)
    idx = pd.date_range(f"{year}-01-01", f"{year + 1}-01-01", freq=f"{freq_min}min", inclusive="left",
                        name="TIMESTAMP_START")
    n = len(idx)
    rpd = int(round(24 * 60 / freq_min))
    nday = n // rpd
    dayi = np.arange(n) // rpd
    step = pd.Timedelta(minutes=freq_min)
    mid = idx + step / 2
    doy = mid.dayofyear.values.astype(float)
    hour = mid.hour.values + mid.minute.values / 60.0
    tday = dayi + hour / 24.0                      # fractional day since start

    pot = potential_radiation(idx, lat_deg)
    cloud_d = np.clip(0.5 + _ar1(rng, nday, 0.6, 0.3), 0.0, 1.0)
    cloud = np.clip(cloud_d[dayi] + rng.normal(0, 0.1, n), 0.0, 1.0)
    rg = 0.75 * pot * (1.0 - 0.72 * cloud)

    def daily_smooth(x):                           # daily values at noon -> every record
        return np.interp(tday, np.arange(nday) + 0.5, x)

    season = t_mean - t_amp * np.cos(2 * np.pi * (doy - 20.0) / 365.0)
    anom = daily_smooth(_ar1(rng, nday, 0.75, synoptic_sd))
    dtr = daily_smooth(5.0 + 8.0 * (1.0 - cloud_d))
    ta = season + anom + 0.5 * dtr * np.cos(2 * np.pi * (hour - 15.0) / 24.0) + rng.normal(0, 0.3, n)
    dep = daily_smooth(np.clip(3.0 + 4.0 * (1.0 - cloud_d) + _ar1(rng, nday, 0.7, 2.0), 0.5, None))
    td = season + anom - dep
    es = esat_hpa(ta)
    ea = np.minimum(esat_hpa(td), es)
    rh = 100.0 * ea / es
    vpd = es - ea
    rh_ref = float(np.median(rh))

    phen = 1.0 / (1.0 + np.exp(-(doy - 125.0) / 10.0)) - 1.0 / (1.0 + np.exp(-(doy - 285.0) / 12.0))
    phen = np.clip(phen, 0.0, 1.0)
    rref_n = rref_min + (rref_max - rref_min) * phen
    rref_d = (1.0 - inhibition) * rref_n
    alpha = alpha_min + (alpha_max - alpha_min) * phen
    beta = beta_min + (beta_max - beta_min) * phen
    gpp = gpp_rect(rg, vpd, alpha, beta, k, vpd0_hpa)
    is_day = (rg > 4.0) & (pot > 0.0)
    frh = rh_factor(rh, gamma, rh_ref, rh_function)
    er_d = rref_d * lt_factor(ta, e0_day, tref_degc) * frh
    er_n = rref_n * lt_factor(ta, e0_night, tref_degc) * (frh if rh_at_night else 1.0)
    reco = np.where(is_day, er_d, er_n)
    nee_true = reco - gpp
    sd = noise_a + noise_b * np.abs(nee_true)
    nee = nee_true + rng.normal(0.0, 1.0, n) * sd

    gap = np.where(is_day, rng.random(n) < gap_day, rng.random(n) < gap_night)
    for _ in range(int(outages)):
        a = int(rng.integers(0, n - 4 * rpd))
        gap[a: a + int(rng.integers(rpd // 2, 4 * rpd))] = True
    if long_gap is not None:
        a = int((long_gap[0] - 1) * rpd)
        gap[a: a + int(long_gap[1] * rpd)] = True

    df = pd.DataFrame({"NEE": nee, "NEE_QC": gap.astype(float), "TA": ta, "SW_IN": rg,
                       "SW_IN_POT": pot, "VPD": vpd, "RH": rh}, index=idx)
    if with_sd:
        df["sdNEE"] = sd
    s = lambda a: pd.Series(a, index=idx)  # noqa: E731
    truth = {"site_id": site_id, "e0_night": e0_night, "e0_day": e0_day, "gamma": gamma, "rh_ref": rh_ref,
             "inhibition": inhibition, "k": k, "vpd0_hpa": vpd0_hpa, "tref_degc": tref_degc,
             "rh_function": rh_function, "rh_at_night": rh_at_night, "noise_a": noise_a, "noise_b": noise_b,
             "reco": s(reco), "gpp": s(gpp), "nee": s(nee_true), "rref_night": s(rref_n),
             "rref_day": s(rref_d), "alpha": s(alpha), "beta": s(beta), "is_day": s(is_day)}
    return df, truth
