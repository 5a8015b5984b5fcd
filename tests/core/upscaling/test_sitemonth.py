"""Site-month table: agreement with the real FLUXNET2015 site-month table, FLUXNET2015 MM files,
driver sampling (exact cell values, synthetic and real CRU), bad inputs."""

import os

import numpy as np
import pandas as pd
import pytest
from conftest import DATA, FLUX, FLUXNET_FILES, monthly_dates, write_stack

from ecoresp_core.errors import InputError
from ecoresp_core.io.series import open_series
from ecoresp_core.io.towers import read_tower
from ecoresp_core.partitioning.evaluation import UMOL_TO_GC_PER_DAY
from ecoresp_core.jobs.sample import sample_drivers
from ecoresp_core.upscaling.sitemonth import attach_tower_meteorology, read_fluxnet_monthly, site_month_table

REF = os.path.join(DATA, "sites", "fluxnet2015_site_month.csv")
IBERIA = os.path.join(DATA, "cru_ts400_iberia_1981-2010_monthly.nc")
KEYS = ["site_id", "year", "month"]


@pytest.fixture(scope="module")
def towers():
    return {s: read_tower(os.path.join(FLUX, FLUXNET_FILES[s])) for s in ("DE-Hai", "FR-Pue")}


@pytest.fixture(scope="module")
def reference():
    return pd.read_csv(REF)


@pytest.mark.parametrize("site", ["DE-Hai", "FR-Pue"])
def test_agrees_with_real_site_month_table(towers, reference, site):
    df = towers[site]
    t = attach_tower_meteorology(site_month_table(df, er_column="RECO_NT_REF", min_coverage=0.75), [df])
    m = t.merge(reference, on=KEYS, suffixes=("", "_ref"))
    assert len(t) == 24 and len(m) == 24          # two full years, all in the real table
    # counts exact, fractions to the 4 decimals of the real table
    np.testing.assert_array_equal(m["n_records"], m["n_records_ref"])
    np.testing.assert_array_equal(m["n_expected"], m["n_expected_ref"])
    np.testing.assert_allclose(m["frac_present"], m["frac_present_ref"], atol=1e-12)
    np.testing.assert_allclose(m["frac_measured"], m["frac_measured_ref"], atol=5.1e-5)
    # monthly means: RECO_NT to 1e-4 g C m-2 d-1, TA / VPD to 1e-3, SW_IN to 1e-2 (rounding of the table)
    np.testing.assert_allclose(m["RECO_NT_gC_m2_d"], m["RECO_NT_gC_m2_d_ref"], atol=5.1e-5)
    np.testing.assert_allclose(m["TA_F_degC"], m["TA_F_degC_ref"], atol=5.1e-4)
    np.testing.assert_allclose(m["VPD_F_hPa"], m["VPD_F_hPa_ref"], atol=5.1e-4)
    np.testing.assert_allclose(m["SW_IN_F_W_m2"], m["SW_IN_F_W_m2_ref"], atol=5.1e-3)
    for c in ("TA_F_frac_measured", "SW_IN_F_frac_measured", "VPD_F_frac_measured"):
        np.testing.assert_allclose(m[c], m[f"{c}_ref"], atol=5.1e-5)
    assert (m["resolution"] == m["resolution_ref"]).all()
    # site metadata from the shipped site list
    np.testing.assert_allclose(m["latitude"], m["latitude_ref"], atol=1e-4)
    np.testing.assert_allclose(m["longitude"], m["longitude_ref"], atol=1e-4)
    assert (m["IGBP"] == m["IGBP_ref"]).all()
    np.testing.assert_allclose(m["MAT_degC"], m["MAT_degC_ref"])
    # monthly sum = rate x real days (2008 is a leap year: February has 29 days)
    feb = t[(t.year == 2008) & (t.month == 2)] if site == "DE-Hai" else t[(t.year == 2009) & (t.month == 2)]
    days = 29 if site == "DE-Hai" else 28
    assert feb["ER_gC_m2_month"].iloc[0] == pytest.approx(feb["ER_gC_m2_d"].iloc[0] * days, rel=1e-14)
    assert ((t["quality_ok"] == 1) == (t["frac_good"] >= 0.75)).all()


def test_hai_january_2007_by_hand(towers, reference):
    df = towers["DE-Hai"]
    jan = df.data.loc["2007-01"]
    t = site_month_table(df, er_column="RECO_NT_REF")
    row = t[(t.year == 2007) & (t.month == 1)].iloc[0]
    assert row.n_expected == 31 * 48 == 1488
    assert row.ER_gC_m2_d == pytest.approx(jan["RECO_NT_REF"].mean() * 1.0377504, rel=1e-12)
    assert row.ER_gC_m2_month == pytest.approx(row.ER_gC_m2_d * 31, rel=1e-14)
    assert row.frac_measured == pytest.approx((jan["NEE_QC"] == 0).sum() / 1488, rel=1e-14)
    ref = reference[(reference.site_id == "DE-Hai") & (reference.year == 2007) & (reference.month == 1)].iloc[0]
    assert abs(row.ER_gC_m2_d - ref.RECO_NT_gC_m2_d) < 5e-5      # 1.37716 vs 1.3772
    assert abs(row.frac_measured - ref.frac_measured) < 5e-5      # 0.450941 vs 0.4509


def test_from_partition_output_table(towers):
    """A partition output table read back from CSV (TIMESTAMP_START column, site_id column)."""
    df = towers["DE-Hai"].data.loc["2007-06":"2007-07"]
    part = pd.DataFrame({"TIMESTAMP_START": df.index.strftime("%Y-%m-%d %H:%M:%S"), "site_id": "DE-Hai",
                         "NEE_QC": df["NEE_QC"].to_numpy(), "RECO_NT": df["RECO_NT_REF"].to_numpy()})
    part.loc[:99, "RECO_NT"] = np.nan                      # 100 missing ER records in June
    t = site_month_table(part, er_column="RECO_NT", min_coverage=0.5)
    assert list(t.month) == [6, 7] and "RECO_NT_gC_m2_d" in t
    assert t.n_records.tolist() == [1440 - 100, 1488]
    assert t.frac_present.iloc[0] == pytest.approx(1340 / 1440, rel=1e-14)
    assert t.ER_gC_m2_d.iloc[0] == pytest.approx(df["RECO_NT_REF"].iloc[100:1440].mean() * UMOL_TO_GC_PER_DAY,
                                                 rel=1e-12)
    assert t.latitude.iloc[0] == pytest.approx(51.0792) and t.IGBP.iloc[0] == "DBF"


def test_missing_columns_are_named(towers):
    df = towers["DE-Hai"].with_data(towers["DE-Hai"].data.iloc[:500])
    with pytest.raises(InputError, match=r"column\(s\) RECO_DTRH missing"):
        site_month_table(df)                                # default ER column is absent
    with pytest.raises(InputError, match=r"RECO_X, QC_X missing"):
        site_month_table(df, er_column="RECO_X", qc_column="QC_X")
    with pytest.raises(InputError, match="TIMESTAMP_START"):
        site_month_table(pd.DataFrame({"RECO_NT": [1.0, 2.0], "NEE_QC": [0, 0], "site_id": "DE-Hai"}), "RECO_NT")
    with pytest.raises(InputError, match="site id is unknown"):
        site_month_table(pd.DataFrame({"TIMESTAMP_START": ["200701010000", "200701010030"], "RECO_NT": [1.0, 2.0],
                                       "NEE_QC": [0, 0]}), "RECO_NT")
    with pytest.raises(InputError, match="minimum coverage"):
        site_month_table(df, "RECO_NT_REF", min_coverage=75)


def _write_mm(path, rows):
    cols = ["TIMESTAMP", "TA_F", "SW_IN_F", "VPD_F", "NEE_VUT_REF", "NEE_VUT_REF_QC", "RECO_NT_VUT_REF",
            "GPP_NT_VUT_REF"]
    pd.DataFrame(rows, columns=cols).to_csv(path, index=False)
    return str(path)


def test_read_fluxnet_monthly(tmp_path):
    p = _write_mm(tmp_path / "FLX_DE-Hai_FLUXNET2015_FULLSET_MM_2007-2008_1-4.csv",
                  [["200801", 2.5, 30.1, 1.2, 1.1, 0.9, 1.5, 0.4],
                   ["200802", 3.0, 55.0, 1.9, 0.8, 0.5, 2.0, 1.2],
                   ["200803", -9999, -9999, -9999, -9999, -9999, -9999, -9999]])
    t = read_fluxnet_monthly(p, min_coverage=0.75)
    assert t.site_id.tolist() == ["DE-Hai"] * 3 and t.month.tolist() == [1, 2, 3]
    np.testing.assert_array_equal(t.RECO_NT_gC_m2_d.to_numpy()[:2], [1.5, 2.0])
    np.testing.assert_array_equal(t.ER_gC_m2_month.to_numpy()[:2], [1.5 * 31, 2.0 * 29])  # leap Feb 2008
    assert np.isnan(t.ER_gC_m2_d.iloc[2]) and np.isnan(t.TA_F_degC.iloc[2])
    assert t.quality_ok.tolist() == [1, 0, 0]
    assert t.frac_good.iloc[0] == 0.9 and t.TA_F_degC.iloc[1] == 3.0
    bad = _write_mm(tmp_path / "FLX_DE-Hai_x_MM.csv", [["2008-01", 1, 1, 1, 1, 1, 1, 1]])
    with pytest.raises(InputError, match="TIMESTAMP.*'2008-01'.*not YYYYMM"):
        read_fluxnet_monthly(bad)
    with pytest.raises(InputError, match="RECO_DT_VUT_REF missing"):
        read_fluxnet_monthly(p, er_column="RECO_DT_VUT_REF")


def _table(sites):
    rows = []
    for sid, lat, lon, months in sites:
        for y, m in months:
            rows.append({"site_id": sid, "year": y, "month": m, "latitude": lat, "longitude": lon})
    return pd.DataFrame(rows)


def test_sample_drivers_synthetic_exact(tmp_path):
    # grid: x 10..12 (4 cols of 0.5), y 50..48.5 (3 rows of -0.5); value = 1000 t + 10 row + col
    t, r, c = np.meshgrid(np.arange(4), np.arange(3), np.arange(4), indexing="ij")
    vals = 1000.0 * t + 10 * r + c
    vals[2, 1, 2] = np.nan
    a = write_stack(tmp_path / "tmp.tif", vals, monthly_dates(2001, 4), nodata=-9999.0)
    b = write_stack(tmp_path / "pre.tif", vals * 2, monthly_dates(2001, 4), nodata=-9999.0)
    table = _table([("S1", 49.3, 11.2, [(2001, 1), (2001, 3), (2001, 4), (2001, 5)]),   # row 1, col 2
                    ("S2", 49.99, 10.01, [(2001, 2)]),                                 # row 0, col 0
                    ("S3", 48.51, 11.99, [(2001, 4)])])                                # row 2, col 3
    out = sample_drivers(table, {"tmp": open_series(a), "pre": open_series(b)})
    np.testing.assert_array_equal(out["tmp"].to_numpy()[[0, 2, 4, 5]], [12.0, 3012.0, 1000.0, 3023.0])
    assert np.isnan(out["tmp"].iloc[1])           # nodata cell
    assert np.isnan(out["tmp"].iloc[3])           # 2001-05 not in the series
    np.testing.assert_array_equal(out["pre"].to_numpy()[[0, 2]], [24.0, 6024.0])
    assert any("1 site-month(s) outside its dates" in w for w in out.attrs["warnings"])


def test_sample_drivers_bad_inputs(tmp_path):
    vals = np.arange(2 * 3 * 4, dtype=float).reshape(2, 3, 4)
    a = open_series(write_stack(tmp_path / "tmp.tif", vals, monthly_dates(2001, 2)))
    table = _table([("S1", 49.3, 11.2, [(2001, 1)]), ("FAR", 10.0, 100.0, [(2001, 1)])])
    out = sample_drivers(table, {"tmp": a})
    assert out["tmp"].iloc[0] == 6.0 and np.isnan(out["tmp"].iloc[1])
    assert any("driver tmp" in w and "site FAR" in w and "outside the grid" in w for w in out.attrs["warnings"])
    with pytest.raises(InputError, match=r"driver tmp .*tmp\.tif.*site FAR at lat 10, lon 100 lies outside the grid"):
        sample_drivers(table, {"tmp": a}, outside="error")
    other = {"grid": write_stack(tmp_path / "g.tif", vals, monthly_dates(2001, 2), geotransform=(0, 1, 0, 60, 0, -1)),
             "crs": write_stack(tmp_path / "c.tif", vals, monthly_dates(2001, 2), epsg=3035),
             "dates": write_stack(tmp_path / "d.tif", vals, monthly_dates(2002, 2))}
    for kind, msg in (("grid", r"grids differ: .*tmp\.tif.*g\.tif"), ("crs", r"CRS differ: .*tmp\.tif.*c\.tif"),
                      ("dates", r"dates differ: .*tmp\.tif.*d\.tif")):
        with pytest.raises(InputError, match=msg):
            sample_drivers(table, {"tmp": a, kind: open_series(other[kind])})
    with pytest.raises(InputError, match=r"column\(s\) latitude, longitude missing"):
        sample_drivers(table.drop(columns=["latitude", "longitude"]), {"tmp": a})
    dup = open_series(write_stack(tmp_path / "dup.tif", vals, ["2001-01-01", "2001-01-15"]))
    with pytest.raises(InputError, match=r"dup\.tif.*two bands for 2001-01"):
        sample_drivers(table, {"dup": dup})


def test_sample_drivers_real_cru_iberia(tmp_path):
    """Values equal the CRU TS cell holding the point, read independently through GDAL's
    multidimensional API (lat ascending in the file)."""
    from osgeo import gdal
    md = gdal.OpenEx(IBERIA, gdal.OF_MULTIDIM_RASTER).GetRootGroup()
    lat = md.OpenMDArray("lat").ReadAsArray()
    lon = md.OpenMDArray("lon").ReadAsArray()
    tas = md.OpenMDArray("tas").ReadAsArray()          # (time, lat, lon)
    pts = [("ES-LJu", 36.9266, -2.7521), ("ES-Amo", 36.8336, -2.2523), ("P3", 38.6394, -8.6018),
           ("MADRID", 40.41, -3.70)]
    months = [(1981, 1), (1995, 7), (2008, 2), (2010, 12)]
    table = _table([(s, la, lo, months) for s, la, lo in pts])
    out = sample_drivers(table, {"tas": open_series(IBERIA, "tas"), "pr": open_series(IBERIA, "pr")})
    for _, row in out.iterrows():
        i = int(np.argmin(np.abs(lat - row.latitude)))
        j = int(np.argmin(np.abs(lon - row.longitude)))
        k = (row.year - 1981) * 12 + row.month - 1
        assert row.tas == float(tas[k, i, j]), (row.site_id, row.year, row.month)
    assert out.tas.notna().all() and out.pr.notna().all()
    # Madrid, July 1995: a hot month
    assert 20 < out[(out.site_id == "MADRID") & (out.month == 7)].tas.iloc[0] < 30


def test_own_nt_partitioning_against_real_table(towers, reference):
    """partition_site(..., 'NT') on DE-Hai 2007, then the site-month table of RECO_NT, against the
    FLUXNET2015 RECO_NT of the real table (a different NT implementation: agreement is close, not exact)."""
    from ecoresp_core.partitioning.sitepartition import partition_site
    sp = partition_site(towers["DE-Hai"].rows("2007"), "NT", options={"kok": False})
    t = site_month_table(sp.table, er_column="RECO_NT", site_ids=["DE-Hai"])
    m = t.merge(reference, on=KEYS, suffixes=("", "_ref"))
    assert len(m) == 12
    diff = m["RECO_NT_gC_m2_d"] - m["RECO_NT_gC_m2_d_ref"]
    assert np.abs(diff).max() < 0.5                                     # g C m-2 d-1 (measured 0.45)
    assert np.median(np.abs(diff) / m["RECO_NT_gC_m2_d_ref"]) < 0.05     # measured 2.8 %
    assert abs(m["ER_gC_m2_month"].sum() / (m["RECO_NT_gC_m2_d_ref"] * m["n_expected"] / 48).sum() - 1) < 0.06


def test_append_network_table(towers, reference):
    """DE-Hai 2007-2008 from the tower file plus the real 175-site table: the tower's own 24
    site-months replace the table's, every other row is kept with its RECO as ER."""
    from ecoresp_core.upscaling.sitemonth import append_site_months
    own = site_month_table(towers["DE-Hai"], er_column="RECO_NT_REF", qc_column="NEE_QC")
    ref = reference.copy()
    ref["year"] = ref["year"].astype(str)  # as a CSV read without types gives them
    combined, n_dup = append_site_months(own, ref, "RECO_NT_gC_m2_d")
    assert n_dup == 24 and len(combined) == len(reference)
    assert not combined.duplicated(["site_id", "year", "month"]).any()
    hai = combined[(combined.site_id == "DE-Hai") & (combined.year == 2007)]
    assert (hai["er_source"] == "RECO_NT_REF").all()
    other = combined[combined.site_id == "AR-SLu"].iloc[0]
    assert other["er_source"] == "appended:RECO_NT_gC_m2_d" and other["quality_ok"] == 1
    assert other["ER_gC_m2_d"] == pytest.approx(3.7139) and other["ER_gC_m2_month"] == pytest.approx(3.7139 * 31)
    with pytest.raises(InputError, match="appended table: column\\(s\\) RECO_X missing"):
        append_site_months(own, reference, "RECO_X")
    bad = reference.head(3).copy()
    bad.loc[bad.index[1], "month"] = 13
    with pytest.raises(InputError, match="row 2 has no valid year/month"):
        append_site_months(own, bad, "RECO_NT_gC_m2_d")


def test_inputs_of_the_site_month_algorithm(tmp_path):
    """What ecoresp:sitemonthtable does with its inputs: read_site_input tells MM files from
    half-hourly tables and names the site, combine_site_months joins them (a site-month given
    twice is an error), set_site_coordinates takes the SITES points and names the sites without."""
    from ecoresp_core.upscaling.sitemonth import (combine_site_months, name_input_table, read_site_input,
                                                  set_site_coordinates)
    mm = _write_mm(tmp_path / "FLX_FR-Pue_FLUXNET2015_FULLSET_MM_2007-2008_1-4.csv",
                   [["200801", 2.5, 30.1, 1.2, 1.1, 0.9, 1.5, 0.4]])
    kind, monthly = read_site_input(mm, "RECO_NT_VUT_REF")
    assert kind == "monthly" and monthly.site_id.tolist() == ["FR-Pue"]
    stamps = pd.date_range("2007-06-01", "2007-07-31 23:30", freq="30min")
    part = tmp_path / "my_tower.csv"
    pd.DataFrame({"TIMESTAMP_START": stamps.strftime("%Y%m%d%H%M"), "NEE_QC": 0, "RECO_NT": 2.0,
                  "TA": 15.0}).to_csv(part, index=False)
    with pytest.raises(InputError, match="my_tower.csv: the site id is unknown"):
        read_site_input(str(part), "RECO_NT")
    kind, hh = read_site_input(str(part), "RECO_NT", site_id="DE-Hai")
    assert kind == "halfhourly" and len(hh) == 61 * 48
    with pytest.raises(InputError, match="INPUT_TABLE: has no site_id field; give SITE_IDS"):
        name_input_table(pd.DataFrame({"RECO_NT": [1.0]}), "INPUT_TABLE layer")
    table, warnings = combine_site_months([monthly], [hh], "RECO_NT", tower_met=True)
    assert table[KEYS].values.tolist() == [["DE-Hai", 2007, 6], ["DE-Hai", 2007, 7], ["FR-Pue", 2008, 1]]
    assert warnings == [] and table.TA_F_degC.tolist()[:2] == [15.0, 15.0]
    assert table.ER_gC_m2_d.iloc[0] == pytest.approx(2.0 * UMOL_TO_GC_PER_DAY, rel=1e-14)
    assert combine_site_months([], [hh], "RECO_NT", tower_met=True)[1] == []
    with pytest.raises(InputError, match="site FR-Pue: month 2008-01 comes from more than one input"):
        combine_site_months([monthly, monthly], [hh], "RECO_NT")
    table, warnings = set_site_coordinates(table, {"DE-Hai": (51.0, 10.0)})
    assert table.latitude.tolist()[:2] == [51.0, 51.0] and table.longitude.iloc[2] == pytest.approx(3.5957)
    assert warnings == ["SITES: no point for site(s) FR-Pue; using the FLUXNET2015 site list"]


def test_column_errors_name_what_chose_the_column(tmp_path, reference):
    """er_what / qc_what (the parameters' labels in ecoresp:sitemonthtable) lead the errors about
    their columns.  A partition table (date-time stamps) without the ER column is said to lack it
    (not read as a FLUXNET file); in its ER column 'n/a' is text, an error, and an infinite value
    or no number at all is an error too."""
    from ecoresp_core.upscaling.sitemonth import append_site_months, combine_site_months, read_site_input
    stamps = pd.date_range("2007-06-01", "2007-06-30 23:30", freq="30min")
    part = pd.DataFrame({"TIMESTAMP_START": stamps.strftime("%Y-%m-%dT%H:%M:%S"), "NEE_QC": 0, "RECO_NT": 2.0})
    path = tmp_path / "DE-Hai_partition.csv"
    part.to_csv(path, index=False)
    labels = {"er_what": "ER (E)"}
    with pytest.raises(InputError, match=r"^ER \(E\): .*DE-Hai_partition\.csv: column\(s\) NOPE missing; columns: "
                                         r"TIMESTAMP_START, NEE_QC, RECO_NT$"):
        read_site_input(str(path), "NOPE", **labels)
    kind, hh = read_site_input(str(path), "RECO_NT", **labels)
    assert kind == "halfhourly" and hh.site.site_id == "DE-Hai"
    with pytest.raises(InputError, match=r"^QC \(Q\): .*DE-Hai_partition\.csv: column\(s\) NOPE missing"):
        combine_site_months([], [hh], "RECO_NT", "NOPE", er_what="ER (E)", qc_what="QC (Q)")
    table, _ = combine_site_months([], [hh], "RECO_NT", "NEE_QC", er_what="ER (E)", qc_what="QC (Q)")
    assert table.ER_gC_m2_d.tolist() == [pytest.approx(2.0 * UMOL_TO_GC_PER_DAY, rel=1e-14)]
    for value, expect in (("n/a", r"1440 value\(s\) are not numbers \(e\.g\. 'n/a' in row 1\)"),
                          (np.inf, r"1440 value\(s\) are infinite"),
                          (np.nan, r"holds no number \(all 1440 value\(s\) are empty or missing\)")):
        part.assign(RECO_NT=value).to_csv(path, index=False)
        _, bad = read_site_input(str(path), "RECO_NT", **labels)
        with pytest.raises(InputError, match=r"^ER \(E\): .*DE-Hai_partition\.csv: column RECO_NT \(ER\): " + expect):
            combine_site_months([], [bad], "RECO_NT", "NEE_QC", er_what="ER (E)")
    with pytest.raises(InputError, match=r"^APPEND_ER \(A\): sm\.csv: column\(s\) NOPE missing"):
        append_site_months(table, reference, "NOPE", "sm.csv", er_what="APPEND_ER (A)")
    with pytest.raises(InputError, match=r"^sm\.csv: column\(s\) site_id missing"):  # not the ER column's
        append_site_months(table, reference.drop(columns=["site_id"]), "NOPE", "sm.csv", er_what="APPEND_ER (A)")
