"""Raw tower inputs (issue 12): REddyProc's DE-Geb example with a DateTime column, AmeriFlux BASE
(FC + SC, positional qualifiers) and EddyPro full output (synthetic fixtures, tests/data/README.md),
units checked by magnitude as well as by name, and the NEE QC rule for fitting."""

import os

import numpy as np
import pandas as pd
import pytest
from conftest import flux_file

from ecoresp_core.common.meteorology import esat_hpa, rh_from_vpd, vpd_from_rh
from ecoresp_core.errors import InputError
from ecoresp_core.io.towers import detect_format, read_raw, read_tower

DEGEB, AMF, EDDYPRO = flux_file("DEGeb"), flux_file("AMF"), flux_file("EddyPro")
HAI, VAR = flux_file("DE-Hai"), flux_file("US-Var")
SYN = {"latitude": 45.0, "longitude": 10.0}


@pytest.fixture(scope="module")
def geb():
    return read_tower(DEGEB)


@pytest.fixture(scope="module")
def hai_raw():
    return pd.read_csv(HAI, dtype={"TIMESTAMP_START": str, "TIMESTAMP_END": str}, nrows=48 * 60)


# ------------------------------------------------------------------------------ REddyProc DateTime

def test_degeb_datetime_file_auto(geb):
    """DateTime = END of the half hour: the interval start is DateTime - 30 min."""
    df, site = geb.data, geb.site
    assert detect_format(DEGEB) == "reddyproc" and site.format == "reddyproc"
    assert len(df) == (366 + 365 + 365) * 48 == 52608
    assert df.index[0] == pd.Timestamp("2004-01-01 00:00") and df.index[-1] == pd.Timestamp("2006-12-31 23:30")
    assert df["TIMESTAMP_END"].iloc[0] == pd.Timestamp("2004-01-01 00:30")
    assert site.step_minutes == 30 and site.records_per_day == 48 and site.time_column.startswith("DateTime")
    assert site.site_id == "DE-Geb" and site.latitude == pytest.approx(51.0997)
    first = df.iloc[0]
    assert first["USTAR"] == 0.092 and first["TA"] == -0.06 and first["RH"] == 96.13 and np.isnan(first["NEE"])
    assert site.columns_used["USTAR"] == "Ustar" and site.columns_used["RH"] == "rH"
    # VPD derived from RH and TA, and said so
    np.testing.assert_allclose(df["VPD"].values, vpd_from_rh(df["RH"].values, df["TA"].values))
    assert first["VPD"] == pytest.approx(esat_hpa(-0.06) * (1 - 0.9613))
    assert any(d.startswith("VPD: from RH and TA") for d in site.derived)
    assert any("VPD derived from RH and TA" in w for w in site.warnings)
    # raw NEE with gaps, no QC: measured where present
    assert site.nee_qc_source == "raw file" and 0.3 < df["NEE"].isna().mean() < 0.7
    assert (df["NEE_QC"].dropna() == 0).all() and df["NEE_QC"].notna().sum() == df["NEE"].notna().sum()


def test_degeb_datetime_file_reddyproc_format(geb):
    t = read_tower(DEGEB, fmt="reddyproc")
    pd.testing.assert_frame_equal(t.data, geb.data, check_exact=True)
    raw = read_raw(DEGEB, fmt="reddyproc")
    assert raw.file_units == {"DateTime": "", "NEE": "", "Ustar": "", "Tair": "", "rH": "", "Rg": ""}
    assert (raw.end - raw.start == pd.Timedelta("30min")).all()


def test_vpd_rh_both_directions():
    ta = np.array([-5.0, 0.0, 10.0, 25.0, 35.0])
    rh = np.array([100.0, 80.0, 55.5, 30.0, 5.0])
    vpd = vpd_from_rh(rh, ta)
    np.testing.assert_allclose(rh_from_vpd(vpd, ta), rh, atol=1e-10)
    assert vpd[0] == 0.0 and vpd[-1] == pytest.approx(0.95 * esat_hpa(35.0))
    assert vpd_from_rh(120.0, 20.0) == 0.0 and vpd_from_rh(-5.0, 20.0) == pytest.approx(esat_hpa(20.0))
    assert np.isnan(vpd_from_rh(np.nan, 20.0))


# ------------------------------------------------------------------------------ AmeriFlux BASE

def test_ameriflux_base_fc_plus_sc():
    raw = pd.read_csv(AMF, comment="#", na_values=["-9999"])
    t = read_tower(AMF, **SYN)
    df, site = t.data, t.site
    assert site.format == "ameriflux" and site.site_id == "XX-Syn" and site.site_id_source == "file name"
    fc, sc = raw["FC"].to_numpy(), raw["SC"].to_numpy()
    expected = np.where(np.isfinite(sc), fc + sc, fc)
    np.testing.assert_allclose(df["NEE"].values, expected, rtol=0, atol=1e-12)
    assert site.columns_used["NEE"] == "FC+SC"
    assert any(w.startswith("NEE = FC+SC") and "storage" in w and "without SC" in w for w in site.warnings)
    # qualifiers: the first position is used, the others named
    assert site.columns_used["TA"] == "TA_1_1_1" and site.columns_used["VPD"] == "VPD_PI_1_1_1"
    assert any("TA_1_1_1 used of TA_1_1_1, TA_1_2_1" in w for w in site.warnings)
    np.testing.assert_array_equal(df["USTAR"].values, raw["USTAR"].values)
    assert site.nee_qc_source == "raw file" and (df["NEE_QC"].dropna() == 0).all()
    # mapped explicitly: the flux alone
    alone = read_tower(AMF, columns={"NEE": "FC"}, **SYN)
    np.testing.assert_array_equal(alone.data["NEE"].values, fc)


# ------------------------------------------------------------------------------ EddyPro

def test_eddypro_full_output():
    names = pd.read_csv(EDDYPRO, skiprows=1, nrows=0).columns
    raw = pd.read_csv(EDDYPRO, skiprows=[0, 2], na_values=["-9999"])
    assert list(raw.columns) == list(names)
    assert detect_format(EDDYPRO) == "eddypro"
    t = read_tower(EDDYPRO, **SYN)
    df, site = t.data, t.site
    assert site.format == "eddypro" and len(df) == len(raw) == 192
    end = pd.to_datetime(raw["date"] + " " + raw["time"])
    assert (df["TIMESTAMP_END"].values == end.values).all() and df.index[0] == pd.Timestamp("2023-07-01 00:00")
    assert site.columns_used == {"NEE": "co2_flux", "TA": "air_temperature", "SW_IN": "SWIN_1_1_1", "VPD": "VPD",
                                 "RH": "RH", "WS": "wind_speed", "USTAR": "u*"}
    np.testing.assert_allclose(df["TA"].values, raw["air_temperature"].values - 273.15)
    np.testing.assert_allclose(df["VPD"].values, raw["VPD"].values / 100.0)
    assert "TA (air_temperature) converted from K to degC (-273.15)" in site.conversions
    assert "VPD (VPD) converted from Pa to hPa (/100)" in site.conversions
    bad = raw["qc_co2_flux"] == 2
    assert bad.sum() > 0 and df["NEE"][bad.values].isna().all()
    np.testing.assert_array_equal(df["NEE"][~bad.values].values, raw["co2_flux"][~bad].values)
    assert site.nee_qc_source == "raw file"
    np.testing.assert_array_equal(df["USTAR"].values, raw["u*"].values)
    # consistent with the AmeriFlux twin of the same synthetic site: RH and VPD agree
    amf = read_tower(AMF, **SYN).data
    np.testing.assert_allclose(df["VPD"].values, amf["VPD"].values, atol=0.01)


# ------------------------------------------------------------------------------ units by magnitude

def _fluxnet_year(tmp_path, path, name, nrows=17520, **change):
    raw = pd.read_csv(path, dtype={"TIMESTAMP_START": str, "TIMESTAMP_END": str}, nrows=nrows)
    raw = raw[["TIMESTAMP_START", "TIMESTAMP_END", "NEE_VUT_REF", "NEE_VUT_REF_QC", "TA_F", "SW_IN_F", "VPD_F"]]
    for col, f in change.items():
        raw[col] = np.where(raw[col] == -9999, -9999, f(raw[col]))
    out = tmp_path / name
    raw.to_csv(out, index=False)
    return out


def test_vpd_in_kpa_without_units_is_an_error(tmp_path):
    """A dry site's year in kPa: 99th percentile 5.9 (the old 'p99 < 0.5' rule let it through)."""
    path = _fluxnet_year(tmp_path, VAR, "FLX_US-Var_FLUXNET2015_FULLSET_HH_2013-2013_1-4.csv",
                         VPD_F=lambda v: v / 10.0)
    with pytest.raises(InputError, match=r"FLX_US-Var_FLUXNET2015_FULLSET_HH_2013-2013_1-4.csv: column VPD_F \(VPD\): "
                                         r"no unit given \(hPa by convention\).*looks like kPa.*UNITS VPD=kPa"):
        read_tower(path)
    t = read_tower(path, units={"VPD": "kPa"})
    ref = read_tower(VAR).data.iloc[:17520]
    np.testing.assert_allclose(t.data["VPD"].values, ref["VPD"].values, atol=1e-9)
    assert t.site.conversions == ["VPD (VPD_F) converted from kPa to hPa (x10)"]


def test_vpd_in_pa_labelled_hpa_is_an_error(tmp_path):
    path = _fluxnet_year(tmp_path, HAI, "FLX_DE-Hai_FLUXNET2015_FULLSET_HH_2007-2007_1-4.csv", nrows=48 * 20,
                         VPD_F=lambda v: v * 100.0)
    with pytest.raises(InputError, match=r"column VPD_F \(VPD\):.*cannot exceed the saturation vapour pressure"):
        read_tower(path)
    with pytest.raises(InputError, match=r"column VPD_F \(VPD\): stated kPa.*cannot exceed"):
        read_tower(path, units={"VPD": "kPa"})
    assert read_tower(path, units={"VPD": "Pa"}).site.conversions == ["VPD (VPD_F) converted from Pa to hPa (/100)"]


def test_temperatures_in_kelvin(tmp_path):
    """No unit and a median > 200: K, converted and said so, even with a few bad zeros (the old
    'every value > 200' rule took such a file as degC); labelled degC: an error."""
    path = _fluxnet_year(tmp_path, HAI, "FLX_DE-Hai_FLUXNET2015_FULLSET_HH_2007-2007_1-4.csv", nrows=48 * 20,
                         TA_F=lambda v: v + 273.15)
    text = path.read_text().splitlines()
    row = text[5].split(",")
    row[4] = "0"  # a bad value in TA_F
    text[5] = ",".join(row)
    path.write_text("\n".join(text) + "\n")
    t = read_tower(path)
    ref = read_tower(HAI).data.iloc[:48 * 20]
    np.testing.assert_allclose(t.data["TA"].values[5:], ref["TA"].values[5:], atol=1e-9)
    assert t.data["TA"].values[4] == -273.15
    assert t.site.conversions[0].startswith("TA (TA_F) converted from K to degC (-273.15): no unit given and the "
                                            "median is")
    with pytest.raises(InputError, match=r"column TA_F \(TA\): labelled degC but its median is .* looks like K"):
        read_tower(path, units={"TA": "degC"})


def test_temperatures_in_fahrenheit(tmp_path):
    path = _fluxnet_year(tmp_path, VAR, "FLX_US-Var_FLUXNET2015_FULLSET_HH_2013-2013_1-4.csv",
                         TA_F=lambda v: v * 9 / 5 + 32)
    with pytest.raises(InputError, match=r"column TA_F \(TA\): no unit given and its 99th percentile is .*degF"
                                         r".*UNITS TA=degF"):
        read_tower(path)
    t = read_tower(path, units={"TA": "degF"})
    np.testing.assert_allclose(t.data["TA"].values, read_tower(VAR).data["TA"].values[:17520], atol=1e-9)


def test_rh_as_fraction(tmp_path):
    lines = open(AMF).read().splitlines()
    names = lines[2].split(",")
    i = names.index("RH_1_1_1")
    body = []
    for line in lines[3:]:
        v = line.split(",")
        v[i] = repr(float(v[i]) / 100.0) if v[i] != "-9999" else v[i]
        body.append(",".join(v))
    path = tmp_path / "AMF_XX-Syn_BASE_HH_2-5.csv"
    path.write_text("\n".join(lines[:3] + body) + "\n")
    with pytest.raises(InputError, match=r"AMF_XX-Syn_BASE_HH_2-5.csv: column RH_1_1_1 \(RH\): no unit given but "
                                         r"its 99th percentile is .*fraction.*UNITS RH=fraction"):
        read_tower(path, columns={"TA": "TA_1_1_1", "SW_IN": "SW_IN_1_1_1"}, **SYN)
    t = read_tower(path, units={"RH": "fraction"}, **SYN)
    np.testing.assert_allclose(t.data["RH"].values, read_tower(AMF, **SYN).data["RH"].values, atol=1e-9)
    assert "RH (RH_1_1_1) converted from a fraction (0-1) to % (x100)" in t.site.conversions


def test_bundled_units_unchanged():
    """The bundled files pass the magnitude checks without a stated unit and without conversions."""
    for path in (flux_file("DETha98"), HAI, VAR, DEGEB):
        assert read_tower(path).site.conversions == [], os.path.basename(path)


# ------------------------------------------------------------------------------ NEE QC for fitting

def test_gap_filled_nee_without_qc_is_refused(tmp_path, hai_raw):
    from ecoresp_core.io.towers import check_nee_for_fitting

    path = tmp_path / "FLX_DE-Hai_FLUXNET2015_FULLSET_HH_2007-2007_1-4.csv"
    hai_raw.drop(columns=["NEE_VUT_REF_QC"]).to_csv(path, index=False)
    t = read_tower(path)
    assert t.site.nee_qc_source == "none"
    with pytest.raises(InputError, match=r"FLX_DE-Hai.*NEE column NEE_VUT_REF has no QC column and looks "
                                         r"gap-filled.*COLUMNS NEE_QC=.*ecoresp:ustarthreshold.*ecoresp:gapfill"):
        check_nee_for_fitting(t)
    assert "every NEE record is fitted" in check_nee_for_fitting(t, fit_qc_only=False)[0]
    # the QC column given by name: fine
    hai_raw.rename(columns={"NEE_VUT_REF_QC": "my_qc"}).to_csv(path, index=False)
    t = read_tower(path, columns={"NEE_QC": "my_qc"})
    assert t.site.nee_qc_source == "QC column" and check_nee_for_fitting(t) == []
    assert check_nee_for_fitting(read_tower(HAI)) == []


def test_raw_nee_without_qc_warns(geb):
    from ecoresp_core.io.towers import check_nee_for_fitting

    notes = check_nee_for_fitting(geb)
    assert len(notes) == 1 and "% of the records missing" in notes[0] and "ecoresp:gapfill" in notes[0]
    filled = geb.with_data(geb.data.fillna({"NEE": 0.0}))
    assert "without u* filtering" in check_nee_for_fitting(filled)[0]
