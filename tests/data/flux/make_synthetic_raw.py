"""Writes the two SYNTHETIC raw tower files of tests/data/flux (we have no real AmeriFlux BASE or
EddyPro full output to bundle): 4 July days, half-hourly, of an invented site XX-Syn at 45 N 10 E
(UTC+1), with realistic headers and magnitudes.  The values are made up (fixed seed): a Lloyd-Taylor
respiration, a rectangular light response, a storage flux, noise, gaps (-9999) and, in the EddyPro
file, a few records flagged 2.  Used only to test the readers; never presented as measured.

    .venv/bin/python tests/data/flux/make_synthetic_raw.py
"""

import os

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
AMERIFLUX = os.path.join(HERE, "AMF_XX-Syn_BASE_HH_1-5.csv")
EDDYPRO = os.path.join(HERE, "eddypro_XX-Syn_full_output_2023-07-05T000000_synthetic.csv")
LAT, LON, UTC = 45.0, 10.0, 1.0


def synthetic_site(seed=12):
    """Half-hourly records (interval start, local standard time) of the invented site.

    Returns
    -------
    pandas.DataFrame
        TA (degC), RH (%), VPD (hPa), SW_IN (W m-2), PPFD_IN (umol m-2 s-1), USTAR (m s-1),
        NEE, FC, SC (umol CO2 m-2 s-1), WS (m s-1).
    """
    rng = np.random.default_rng(seed)
    start = pd.date_range("2023-07-01 00:00", periods=4 * 48, freq="30min")
    hour = (start.hour + start.minute / 60.0 + 0.25).to_numpy()
    doy = start.dayofyear.to_numpy()
    decl = np.radians(23.44) * np.sin(2 * np.pi * (284 + doy) / 365.0)
    ha = np.radians(15.0 * (hour + (LON / 15.0 - UTC) - 12.0))
    sin_el = (np.sin(np.radians(LAT)) * np.sin(decl) + np.cos(np.radians(LAT)) * np.cos(decl) * np.cos(ha))
    sw = np.clip(900.0 * sin_el, 0.0, None) * rng.uniform(0.7, 1.0, hour.size)
    ta = 21.0 + 6.5 * np.sin(2 * np.pi * (hour - 9.0) / 24.0) + rng.normal(0, 0.3, hour.size)
    rh = np.clip(62.0 - 22.0 * np.sin(2 * np.pi * (hour - 9.0) / 24.0) + rng.normal(0, 2, hour.size), 15, 100)
    esat = 6.1078 * np.exp(17.08085 * ta / (234.175 + ta))
    vpd = esat * (1 - rh / 100.0)
    reco = 4.0 * np.exp(308.56 * (1 / 56.02 - 1 / (ta + 46.02)))
    gpp = 30.0 * 0.04 * sw * 2.11 / (0.04 * sw * 2.11 + 30.0) * np.exp(-0.03 * np.clip(vpd - 10, 0, None))
    nee = reco - gpp + rng.normal(0, 0.8, hour.size)
    sc = np.where(sw > 0, -0.6, 0.4) + rng.normal(0, 0.2, hour.size)
    ustar = np.clip(0.12 + 0.0006 * sw + rng.normal(0, 0.06, hour.size), 0.02, None)
    df = pd.DataFrame({"TA": ta, "RH": rh, "VPD": vpd, "SW_IN": sw, "PPFD_IN": 2.11 * sw, "USTAR": ustar,
                       "NEE": nee, "FC": nee - sc, "SC": sc, "WS": 1.0 + 8 * ustar}, index=start)
    gaps = rng.random(hour.size) < 0.15
    df.loc[gaps, "FC"] = np.nan
    df.loc[rng.random(hour.size) < 0.03, "SC"] = np.nan
    return df


def write_ameriflux(df, path=AMERIFLUX):
    """AmeriFlux BASE layout: '# Site' and '# Version' lines, TIMESTAMP_START/END, qualifiers, -9999."""
    out = pd.DataFrame({
        "TIMESTAMP_START": df.index.strftime("%Y%m%d%H%M"),
        "TIMESTAMP_END": (df.index + pd.Timedelta("30min")).strftime("%Y%m%d%H%M"),
        "FC": df["FC"].round(3), "SC": df["SC"].round(3), "USTAR": df["USTAR"].round(3),
        "TA_1_1_1": df["TA"].round(2), "TA_1_2_1": (df["TA"] - 0.4).round(2), "RH_1_1_1": df["RH"].round(1),
        "VPD_PI_1_1_1": df["VPD"].round(2), "SW_IN_1_1_1": df["SW_IN"].round(1),
        "PPFD_IN_1_1_1": df["PPFD_IN"].round(1), "WS_1_1_1": df["WS"].round(2)})
    with open(path, "w", newline="") as fh:
        fh.write("# Site: XX-Syn\n# Version: 1-5 (SYNTHETIC test file, not measured data)\n")
        out.fillna(-9999).to_csv(fh, index=False, lineterminator="\n")


def write_eddypro(df, path=EDDYPRO, seed=13):
    """EddyPro full output layout: group row, names row, units row; date/time = END of the interval."""
    rng = np.random.default_rng(seed)
    end = df.index + pd.Timedelta("30min")
    n = len(df)
    qc = rng.choice([0, 0, 0, 1], n)
    co2 = df["FC"].to_numpy().copy()
    bad = rng.random(n) < 0.04
    qc[bad] = 2
    co2[bad] = co2[bad] + rng.normal(0, 15, bad.sum())
    ta_k = df["TA"].to_numpy() + 273.15
    cols = [  # (name, unit, values)
        ("filename", "", [f"{t:%Y-%m-%dT%H%M%S}_AIU-0000.ghg" for t in df.index]),
        ("date", "[yyyy-mm-dd]", end.strftime("%Y-%m-%d")), ("time", "[HH:MM]", end.strftime("%H:%M")),
        ("DOY", "[ddd.ddd]", np.round(end.dayofyear + (end.hour * 60 + end.minute) / 1440.0, 3)),
        ("daytime", "[1=daytime]", (df["SW_IN"].to_numpy() > 10).astype(int)),
        ("file_records", "[#]", np.full(n, 18000)), ("used_records", "[#]", np.full(n, 18000)),
        ("Tau", "[kg+1m-1s-2]", np.round(-1.2 * df["USTAR"].to_numpy() ** 2, 4)), ("qc_Tau", "[#]", qc),
        ("H", "[W+1m-2]", np.round(0.35 * df["SW_IN"].to_numpy() - 15, 2)), ("qc_H", "[#]", qc),
        ("co2_flux", "[µmol+1s-1m-2]", np.round(co2, 3)), ("qc_co2_flux", "[#]", qc),
        ("co2_strg", "[µmol+1s-1m-2]", np.round(df["SC"].to_numpy(), 3)),
        ("air_temperature", "[K]", np.round(ta_k, 3)), ("air_pressure", "[Pa]", np.full(n, 98500.0)),
        ("RH", "[%]", np.round(df["RH"].to_numpy(), 2)), ("VPD", "[Pa]", np.round(100 * df["VPD"].to_numpy(), 1)),
        ("wind_speed", "[m+1s-1]", np.round(df["WS"].to_numpy(), 3)), ("u*", "[m+1s-1]", np.round(df["USTAR"], 3)),
        ("(z-d)/L", "[#]", np.round(rng.normal(0, 0.3, n), 3)),
        ("SWIN_1_1_1", "[W+1m-2]", np.round(df["SW_IN"].to_numpy(), 1)),
    ]
    table = pd.DataFrame({name: values for name, _, values in cols})
    table = table.where(pd.notna(table), -9999)
    group = ["file_info"] + [""] * 6 + ["corrected_fluxes_and_quality_flags"] + [""] * (len(cols) - 8)
    with open(path, "w", newline="") as fh:
        fh.write(",".join(group) + "\n")
        fh.write(",".join(name for name, _, _ in cols) + "\n")
        fh.write(",".join(unit for _, unit, _ in cols) + "\n")
        table.to_csv(fh, index=False, header=False, lineterminator="\n")


if __name__ == "__main__":
    site = synthetic_site()
    write_ameriflux(site)
    write_eddypro(site)
