"""Synthetic tower records with a known u* threshold, for tests, benchmarks and closed-loop checks.

Never measured data: seeded and generated here."""

import numpy as np
import pandas as pd


def synthetic_year(year=2020, threshold=0.3, seed=0, step_minutes=30, noise=0.3, gap_fraction=0.2):
    """One year of records whose night NEE decouples below a known u* threshold.

    Night NEE = R(TA) x min(1, u* / threshold) + noise, R(TA) = 2 exp(0.07 (TA - 15))
    (umol m-2 s-1); u* ~ Gamma(2, 0.2) (m s-1, mean 0.4) independent of TA; TA (degC) with a
    seasonal and a daily cycle; SW_IN (W m-2) a clear-sky-like daily cycle.

    Parameters
    ----------
    year : int
    threshold : float
        The u* threshold built into the data (m s-1).
    seed : int
        Seed of ``numpy.random.default_rng``.
    step_minutes : int
        30 (half-hourly) or 60.
    noise : float
        Standard deviation of the NEE noise (umol m-2 s-1).
    gap_fraction : float
        Fraction of NEE set missing at random.

    Returns
    -------
    pandas.DataFrame
        DatetimeIndex (interval start) and columns NEE, TA, SW_IN, USTAR.
    """
    rng = np.random.default_rng(seed)
    index = pd.date_range(f"{year}-01-01", f"{year + 1}-01-01", freq=f"{step_minutes}min", inclusive="left")
    n = len(index)
    doy = index.dayofyear.to_numpy() + (index.hour.to_numpy() + index.minute.to_numpy() / 60.0) / 24.0
    hour = index.hour.to_numpy() + index.minute.to_numpy() / 60.0
    ta = (9.0 - 10.0 * np.cos(2 * np.pi * (doy - 15) / 365.0) + 4.0 * np.sin(2 * np.pi * (hour - 9) / 24.0)
          + rng.normal(0, 2.0, n))
    daylen = 12.0 - 4.0 * np.cos(2 * np.pi * (doy + 10) / 365.0)
    elev = np.cos(np.pi * (hour - 12.0) / daylen)
    sw = np.where(elev > 0, 900.0 * elev * (0.6 + 0.4 * np.sin(np.pi * doy / 365.0)), 0.0)
    ustar = rng.gamma(2.0, 0.2, n)
    resp = 2.0 * np.exp(0.07 * (ta - 15.0))
    nee = resp * np.minimum(1.0, ustar / threshold) - 0.02 * sw + rng.normal(0, noise, n)
    nee[rng.random(n) < gap_fraction] = np.nan
    return pd.DataFrame({"NEE": nee, "TA": ta, "SW_IN": sw, "USTAR": ustar}, index=index)
