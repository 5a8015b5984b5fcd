"""Tower readers: the four FLUXNET2015 files, the REddyProc DE-Tha 1998 example, AmeriFlux-style files
generated from a FLUXNET one, unit handling, site lookup and every bad-input error."""

import gzip
import os

import numpy as np
import pandas as pd
import pytest

from ecoresp_core.errors import InputError
from ecoresp_core.common.meteorology import rh_from_vpd
from ecoresp_core.io.towers import (UNITS, SiteInfo, TowerData, complete, detect_format, read_raw, read_tower,
                                    site_id_from_name, site_info, split_years, standardise)

FLUX = os.path.join(os.path.dirname(__file__), "..", "..", "data", "flux")
FILES = {
    "DE-Hai": ("FLX_DE-Hai_FLUXNET2015_zarrsubset_HH_2007-2008.csv.gz", (2007, 2008), 1.0),
    "DE-Tha": ("FLX_DE-Tha_FLUXNET2015_zarrsubset_HH_2011-2012.csv.gz", (2011, 2012), 1.0),
    "FR-Pue": ("FLX_FR-Pue_FLUXNET2015_zarrsubset_HH_2009-2010.csv.gz", (2009, 2010), 1.0),
    "US-Var": ("FLX_US-Var_FLUXNET2015_zarrsubset_HH_2013-2014.csv.gz", (2013, 2014), -8.0),
}
REDDY = os.path.join(FLUX, "Example_DETha98.txt")
ATTRS = ("site_id", "latitude", "longitude", "utc_offset_h", "step_minutes", "records_per_day", "source",
         "format", "units")


@pytest.fixture(scope="module")
def towers():
    return {s: read_tower(os.path.join(FLUX, f)) for s, (f, _, _) in FILES.items()}


@pytest.fixture(scope="module")
def raw_hai():
    return pd.read_csv(os.path.join(FLUX, FILES["DE-Hai"][0]), dtype={"TIMESTAMP_START": str, "TIMESTAMP_END": str})


@pytest.mark.parametrize("site", sorted(FILES))
def test_fluxnet_files(towers, site):
    name, years, utc = FILES[site]
    df = towers[site].data
    ndays = sum(366 if pd.Timestamp(y, 1, 1).is_leap_year else 365 for y in years)
    assert len(df) == ndays * 48
    assert df.index.name == "TIMESTAMP_START" and df.index.is_monotonic_increasing and df.index.is_unique
    assert df.index[0] == pd.Timestamp(years[0], 1, 1) and df.index[-1] == pd.Timestamp(years[1], 12, 31, 23, 30)
    assert (df["TIMESTAMP_END"] - df.index == pd.Timedelta("30min")).all()
    for col in ("NEE", "NEE_QC", "TA", "SW_IN", "SW_IN_POT", "VPD", "RH", "GPP_NT_REF", "GPP_DT_REF",
                "RECO_NT_REF"):
        assert df[col].dtype == np.float64, col
    assert not (df.drop(columns="TIMESTAMP_END") == -9999).any().any()
    assert set(np.unique(df["NEE_QC"].dropna())) <= {0.0, 1.0, 2.0, 3.0}
    assert 0.1 < (df["NEE_QC"] == 0).mean() < 0.6
    assert (df["SW_IN"] >= 0).all() and (df["SW_IN_POT"] >= 0).all()
    assert df["RH"].between(0, 100).all() and df["RH"].notna().mean() > 0.99
    a = towers[site].site.as_dict()
    assert all(k in a for k in ATTRS)
    info = site_info(site)
    assert a["site_id"] == site and a["format"] == "fluxnet2015"
    assert a["latitude"] == info["latitude"] and a["longitude"] == info["longitude"]
    assert a["utc_offset_h"] == utc and a["step_minutes"] == 30 and a["records_per_day"] == 48
    assert a["units"]["VPD"] == "hPa" and a["units"]["NEE"] == UNITS["NEE"]
    assert any(d.startswith("SW_IN_POT: computed") for d in a["derived"])
    assert any(d.startswith("RH: from VPD") for d in a["derived"])
    assert a["columns_used"]["NEE"] == "NEE_VUT_REF" and a["columns_used"]["RECO_NT_REF"] == "RECO_NT_DERIVED"


def test_fluxnet_values(towers, raw_hai):
    df = towers["DE-Hai"].data
    first = df.iloc[0]
    assert first["NEE"] == 1.5996 and first["NEE_QC"] == 0 and first["TA"] == 6.66 and first["VPD"] == 0.6299
    assert first["GPP_NT_REF"] == -0.0037 and first["RECO_NT_REF"] == 1.5959
    assert first["RH"] == pytest.approx(100 * (1 - 0.6299 / (6.1078 * np.exp(17.08085 * 6.66 / (234.175 + 6.66)))))
    raw = raw_hai.replace(-9999, np.nan)
    np.testing.assert_array_equal(df["NEE"].values, raw["NEE_VUT_REF"].values)
    np.testing.assert_array_equal(df["TA"].values, raw["TA_F"].values)
    np.testing.assert_array_equal(df["SW_IN"].values, raw["SW_IN_F"].clip(lower=0).values)
    # utc offset of DE-Tha / US-Var is not in the list: derived from the longitude, and said so
    assert towers["DE-Tha"].site.utc_offset_source.startswith("derived")
    assert towers["FR-Pue"].site.utc_offset_source == "FLUXNET2015 site list"


def test_split_years(towers):
    parts = split_years(towers["DE-Tha"])
    assert [y for y, _ in parts] == [2011, 2012]
    assert [len(d) for _, d in parts] == [17520, 17568]
    assert all(isinstance(d, TowerData) for _, d in parts)
    assert all(d.site.complete_year and d.site.site_id == "DE-Tha" for _, d in parts)
    assert parts[1][1].site.year == 2012 and parts[1][1].index[0] == pd.Timestamp("2012-01-01")
    tha = towers["DE-Tha"]
    partial = split_years(tha.with_data(tha.data.iloc[100:20000]))
    assert [d.site.complete_year for _, d in partial] == [False, False]
    assert towers["DE-Tha"].site.year is None  # the site-years carry their own copy


def test_reddyproc_example():
    df_t = read_tower(REDDY)
    df = df_t.data
    assert detect_format(REDDY) == "reddyproc" and df_t.site.format == "reddyproc"
    assert len(df) == 17520
    assert df.index[0] == pd.Timestamp("1998-01-01 00:00") and df.index[-1] == pd.Timestamp("1998-12-31 23:30")
    assert df["TIMESTAMP_END"].iloc[0] == pd.Timestamp("1998-01-01 00:30")
    assert df["TIMESTAMP_END"].iloc[-1] == pd.Timestamp("1999-01-01 00:00")
    first = df.iloc[0]
    assert first["NEE"] == -1.21 and first["TA"] == 7.4 and first["RH"] == 55.27 and first["VPD"] == 4.6
    assert first["SW_IN"] == 0 and first["USTAR"] == 0.72 and first["TS"] == 4.19
    assert np.isnan(df["NEE"].iloc[2]) and np.isnan(df["NEE_QC"].iloc[2])
    assert (df["NEE_QC"].dropna() == 0).all() and df["NEE_QC"].notna().sum() == df["NEE"].notna().sum()
    assert 0.3 < df["NEE"].isna().mean() < 0.4  # "NEE has gaps (36 %)"
    a = df_t.site.as_dict()
    assert a["site_id"] == "DE-Tha" and a["site_id_source"] == "file name"
    assert a["latitude"] == pytest.approx(50.96, abs=0.01) and a["longitude"] == pytest.approx(13.57, abs=0.01)
    assert a["utc_offset_h"] == 1.0 and a["units"]["VPD"] == "hPa" and a["conversions"] == []
    assert "RH" not in " ".join(a["derived"])  # RH is measured in this file
    assert df["SW_IN_POT"].iloc[:14].eq(0).all() and df["SW_IN_POT"].max() > 900


def _write_amf(path, raw, comments=True, **renames):
    """An AmeriFlux BASE-style file from FLUXNET columns: NEE_PI measured only, NEE_PI_F gap-filled."""
    out = pd.DataFrame({"TIMESTAMP_START": raw["TIMESTAMP_START"], "TIMESTAMP_END": raw["TIMESTAMP_END"]})
    nee = raw["NEE_VUT_REF"].where(raw["NEE_VUT_REF"] != -9999)
    out["NEE_PI"] = nee.where(raw["NEE_VUT_REF_QC"] == 0)
    out["NEE_PI_F"] = nee
    out["TA"] = raw["TA_F"]
    out["SW_IN"] = raw["SW_IN_F"]
    out["VPD"] = raw["VPD_F"]
    out = out.rename(columns=renames)
    with open(path, "w") as fh:
        if comments:
            fh.write("# Site: DE-Hai\n# Version: 1-5 (generated from FLUXNET2015 for a test)\n")
        out.fillna(-9999).to_csv(fh, index=False)
    return path


def test_ameriflux_generated(tmp_path, towers, raw_hai):
    raw = raw_hai.iloc[:48 * 40]
    ref = towers["DE-Hai"].data.iloc[:48 * 40]
    path = _write_amf(tmp_path / "AMF_DE-Hai_BASE_HH_1-5.csv", raw)
    assert detect_format(str(path)) == "ameriflux"
    df_t = read_tower(path)
    df = df_t.data
    assert df_t.site.format == "ameriflux" and df_t.site.site_id == "DE-Hai"
    assert df_t.site.columns_used["NEE"] == "NEE_PI_F"
    np.testing.assert_array_equal(df["NEE"].values, ref["NEE"].values)
    np.testing.assert_array_equal(df["NEE_QC"].values == 0, ref["NEE_QC"].values == 0)
    assert set(np.unique(df["NEE_QC"])) == {0.0, 1.0}
    assert "NEE_QC: 0 where NEE_PI is present" in df_t.site.derived[0]
    np.testing.assert_allclose(df["SW_IN_POT"].values, ref["SW_IN_POT"].values)
    np.testing.assert_allclose(df["RH"].values, ref["RH"].values)
    # site id from the '# Site:' header when the file name has none
    path2 = _write_amf(tmp_path / "tower.csv", raw)
    d2_t = read_tower(path2)
    assert d2_t.site.site_id == "DE-Hai" and d2_t.site.site_id_source == "file header"


def test_ameriflux_units_and_mapping(tmp_path, towers, raw_hai):
    raw = raw_hai.iloc[:48 * 40].copy()
    ref = towers["DE-Hai"].data.iloc[:48 * 40]
    kpa = raw.copy()
    kpa["VPD_F"] = np.where(raw["VPD_F"] == -9999, -9999, raw["VPD_F"] / 10.0)
    kpa["TA_F"] = np.where(raw["TA_F"] == -9999, -9999, raw["TA_F"] + 273.15)
    path = _write_amf(tmp_path / "AMF_DE-Hai_BASE_HH_2-5.csv", kpa)
    with pytest.raises(InputError, match=r"AMF_DE-Hai_BASE_HH_2-5.csv: column VPD \(VPD\).*kPa"):
        read_tower(path)
    df_t = read_tower(path, units={"VPD": "kPa"})
    df = df_t.data
    np.testing.assert_allclose(df["VPD"].values, ref["VPD"].values, atol=1e-9)
    np.testing.assert_allclose(df["TA"].values, ref["TA"].values, atol=1e-9)
    assert any("kPa" in c for c in df_t.site.conversions) and any("from K" in c for c in df_t.site.conversions)
    with pytest.raises(InputError, match=r"column TA \(TA\): labelled degC"):
        read_tower(path, units={"VPD": "kPa", "TA": "degC"})
    # positional-qualifier names: found by their AmeriFlux qualifiers, or mapped with columns=
    path3 = _write_amf(tmp_path / "AMF_DE-Hai_BASE_HH_3-5.csv", raw, TA="TA_1_1_1", SW_IN="SW_IN_1_1_1")
    found = read_tower(path3)
    assert found.site.columns_used["TA"] == "TA_1_1_1" and found.site.columns_used["SW_IN"] == "SW_IN_1_1_1"
    d3_t = read_tower(path3, columns={"TA": "TA_1_1_1", "SW_IN": "SW_IN_1_1_1"})
    d3 = d3_t.data
    np.testing.assert_array_equal(d3["TA"].values, ref["TA"].values)
    np.testing.assert_array_equal(found.data["TA"].values, ref["TA"].values)
    with pytest.raises(InputError, match="'TA_9' \\(given for TA\\) is not in the file"):
        read_tower(path3, columns={"TA": "TA_9"})


def test_location_from_arguments(tmp_path, raw_hai):
    path = _write_amf(tmp_path / "tower.csv", raw_hai.iloc[:480], comments=False)
    with pytest.raises(InputError, match=r"tower.csv: column SW_IN_POT is missing and the site location is unknown"):
        read_tower(path)
    df_t = read_tower(path, latitude=51.08, longitude=10.45)
    df = df_t.data
    assert df_t.site.utc_offset_h == 1.0 and df_t.site.utc_offset_source == "derived: round(longitude / 15)"
    assert df_t.site.coordinates_source == "argument" and df_t.site.site_id is None
    d2_t = read_tower(path, site_id="DE-Hai", utc_offset_h=2.0)
    d2 = d2_t.data
    assert d2_t.site.latitude == 51.0792 and d2_t.site.utc_offset_source == "argument"
    assert (d2["SW_IN_POT"].values > 0).argmax() == (df["SW_IN_POT"].values > 0).argmax() + 2


def test_reddyproc_units(tmp_path):
    lines = open(REDDY).read().splitlines()
    names = lines[0].split("\t")
    units = lines[1].split("\t")
    units[names.index("VPD")] = "kPa"
    units[names.index("Tair")] = "K"
    body = []
    for line in lines[2:2 + 480]:
        v = line.split("\t")
        for col, f in (("VPD", lambda x: x / 10), ("Tair", lambda x: x + 273.15)):
            i = names.index(col)
            if float(v[i]) != -9999:
                v[i] = repr(f(float(v[i])))
        body.append("\t".join(v))
    p = tmp_path / "DE-Tha_1998_converted.txt"
    p.write_text("\n".join([lines[0], "\t".join(units)] + body) + "\n")
    df_t = read_tower(p)
    df = df_t.data
    ref = read_tower(REDDY).data.iloc[:480]
    np.testing.assert_allclose(df["VPD"].values, ref["VPD"].values, atol=1e-9)
    np.testing.assert_allclose(df["TA"].values, ref["TA"].values, atol=1e-9)
    assert len(df_t.site.conversions) == 2


def test_rh_from_vpd():
    assert rh_from_vpd(0.0, 20.0) == 100.0
    esat20 = 6.1078 * np.exp(17.08085 * 20 / (234.175 + 20))
    assert rh_from_vpd(esat20 / 2, 20.0) == pytest.approx(50.0)
    assert rh_from_vpd(100.0, 5.0) == 0.0  # clipped


def test_site_id_from_name():
    assert site_id_from_name("FLX_US-Var_FLUXNET2015_FULLSET_HH_2000-2014_1-4.csv") == "US-Var"
    assert site_id_from_name("/x/Example_DETha98.txt") == "DE-Tha"
    assert site_id_from_name("my_tower.csv") is None


# ---------------------------------------------------------------------------------- errors

def _small_fluxnet(tmp_path, raw, name="FLX_DE-Hai_FLUXNET2015_FULLSET_HH_2007-2007_1-4.csv"):
    path = tmp_path / name
    raw.to_csv(path, index=False)
    return str(path)


@pytest.mark.parametrize("drop", ["NEE_VUT_REF", "TA_F", "SW_IN_F"])
def test_missing_required_column(tmp_path, raw_hai, drop):
    path = _small_fluxnet(tmp_path, raw_hai.iloc[:96].drop(columns=drop))
    std = {"NEE_VUT_REF": "NEE", "TA_F": "TA", "SW_IN_F": "SW_IN"}[drop]
    with pytest.raises(InputError, match=rf"FLX_DE-Hai.*required column\(s\) {std} missing.*{drop}"):
        read_tower(path)


def test_duplicated_time_stamps(tmp_path, raw_hai):
    raw = pd.concat([raw_hai.iloc[:50], raw_hai.iloc[49:96]])
    with pytest.raises(InputError, match=r"FLX_DE-Hai.*TIMESTAMP_START: duplicated time stamp 2007-01-02 00:30"):
        read_tower(_small_fluxnet(tmp_path, raw))


def test_unsorted_time_stamps(tmp_path, raw_hai):
    raw = raw_hai.iloc[:96].iloc[[*range(0, 10), 11, 10, *range(12, 96)]]
    with pytest.raises(InputError, match=r"TIMESTAMP_START: time stamps are not sorted "
                                         r"\(2007-01-01 05:30:00 is followed by 2007-01-01 05:00"):
        read_tower(_small_fluxnet(tmp_path, raw))


def test_gap_in_time_axis(tmp_path, raw_hai):
    raw = raw_hai.iloc[:96].drop(index=[20, 21, 22])
    with pytest.raises(InputError, match=r"TIMESTAMP_START: gap in the time axis: 3 missing record\(s\) between "
                                         r"2007-01-01 09:30:00 and 2007-01-01 11:30:00"):
        read_tower(_small_fluxnet(tmp_path, raw))


def test_gap_in_reddyproc_file(tmp_path):
    lines = open(REDDY).read().splitlines()
    p = tmp_path / "gappy.txt"
    p.write_text("\n".join(lines[:100] + lines[101:300]) + "\n")
    with pytest.raises(InputError, match=r"gappy.txt: column Year/DoY/Hour: gap in the time axis: 1 missing"):
        read_tower(p, latitude=50.96, longitude=13.57)


def test_bad_stamp_and_end(tmp_path, raw_hai):
    raw = raw_hai.iloc[:96].copy()
    raw.loc[5, "TIMESTAMP_START"] = "2007-01-01 02:30"
    with pytest.raises(InputError, match=r"column TIMESTAMP_START: time stamp '2007-01-01 02:30' in data row 6"):
        read_tower(_small_fluxnet(tmp_path, raw))
    raw = raw_hai.iloc[:96].copy()
    raw.loc[5, "TIMESTAMP_END"] = "200701010330"
    with pytest.raises(InputError, match=r"column TIMESTAMP_END: .* data row 6 is not TIMESTAMP_START \+ 30 min"):
        read_tower(_small_fluxnet(tmp_path, raw))


def test_unknown_format(tmp_path):
    p = tmp_path / "weird.csv"
    p.write_text("date,flux\n2007-01-01,1.0\n")
    with pytest.raises(InputError, match=r"weird.csv: unknown tower file format"):
        read_tower(p)
    with pytest.raises(InputError, match=r"unknown format 'toa5'"):
        read_tower(REDDY, fmt="toa5")
    with pytest.raises(InputError, match="file not found"):
        read_tower(tmp_path / "nope.csv")


def test_gzip_and_hourly(tmp_path, raw_hai):
    """Hourly (HR) records: every second half-hour, read from a .csv.gz."""
    raw = raw_hai.iloc[:96 * 5:2].copy()
    raw["TIMESTAMP_END"] = (pd.to_datetime(raw["TIMESTAMP_START"], format="%Y%m%d%H%M")
                            + pd.Timedelta("60min")).dt.strftime("%Y%m%d%H%M")
    p = tmp_path / "FLX_DE-Hai_FLUXNET2015_FULLSET_HR_2007-2007_1-4.csv.gz"
    with gzip.open(p, "wt") as fh:
        raw.to_csv(fh, index=False)
    df_t = read_tower(p)
    df = df_t.data
    assert df_t.site.step_minutes == 60 and df_t.site.records_per_day == 24 and len(df) == 240


def test_reddyproc_unlabelled_vpd_is_hpa(tmp_path):
    lines = open(REDDY).read().splitlines()
    names, units = lines[0].split("\t"), lines[1].split("\t")
    units[names.index("VPD")] = "-"
    p = tmp_path / "DE-Tha_1998_nounit.txt"
    p.write_text("\n".join([lines[0], "\t".join(units)] + lines[2:482]) + "\n")
    df_t = read_tower(p)
    df = df_t.data
    assert df["VPD"].iloc[0] == 4.6 and df_t.site.units["VPD"] == "hPa" and df_t.site.conversions == []
    units[names.index("VPD")] = "psi"
    p.write_text("\n".join([lines[0], "\t".join(units)] + lines[2:482]) + "\n")
    with pytest.raises(InputError, match=r"DE-Tha_1998_nounit.txt: column VPD \(VPD\): unit 'psi' is not understood"):
        read_tower(p)


def test_read_standardise_complete(tmp_path, raw_hai):
    """read_tower = complete(standardise(read_raw(...))): each step on its own."""
    raw = read_raw(REDDY)
    assert raw.fmt == "reddyproc" and raw.step_minutes == 30 and "Tair" in raw.table.columns
    assert raw.file_units["VPD"] == "hPa"
    std = standardise(raw)
    assert isinstance(std, TowerData) and "RH" in std.data and "SW_IN_POT" not in std.data
    assert std.site.site_id == "DE-Tha" and std.site.latitude is None and std.site.columns_used["TA"] == "Tair"
    full = complete(std)
    assert "SW_IN_POT" in full.data and full.site.latitude == pytest.approx(50.96, abs=0.01)
    assert "SW_IN_POT" not in std.data and not any("SW_IN_POT" in d for d in std.site.derived)  # not mutated
    ref = read_tower(REDDY)
    pd.testing.assert_frame_equal(full.data, ref.data, check_exact=True)
    assert full.site == ref.site
    # a file with SW_IN_POT needs no location: the site information says what is unknown
    path = _write_amf(tmp_path / "tower.csv", raw_hai.iloc[:480], comments=False)
    t = read_tower(path, latitude=51.08, longitude=10.45)
    t.data.to_csv(tmp_path / "with_pot.csv")
    out = pd.read_csv(tmp_path / "with_pot.csv")
    out["TIMESTAMP_START"] = pd.to_datetime(out["TIMESTAMP_START"]).dt.strftime("%Y%m%d%H%M")
    out = out.drop(columns=["TIMESTAMP_END"]).fillna(-9999)
    out.to_csv(tmp_path / "pot.csv", index=False)
    p = read_tower(tmp_path / "pot.csv")
    assert p.site.latitude is None and p.site.utc_offset_h is None and p.site.site_id is None


def test_as_tower_infers_the_step():
    from ecoresp_core.io.towers import as_tower
    idx = pd.date_range("2020-01-01", periods=96, freq="60min", name="TIMESTAMP_START")
    t = as_tower(pd.DataFrame({"NEE": np.zeros(96)}, index=idx), site_id="XX-One")
    assert t.site == SiteInfo(site_id="XX-One", records_per_day=24, step_minutes=60)
    assert as_tower(t) is t and len(t) == 96
    assert t.rows("2020-01-02").index[0] == pd.Timestamp("2020-01-02") and t.rows("2020-01-02").site is t.site
