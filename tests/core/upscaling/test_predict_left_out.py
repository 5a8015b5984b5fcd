"""What a prediction leaves out is counted exactly (upscaling.predict.LeftOut): pixel-months and
rows without a driver, with a land-cover class the model never saw, or with a driver outside the
training range; the three choices for unknown categories (leave out, map, refuse) and for drivers
out of range (flag, leave out, refuse); the category mapping table's checks."""

import json
import os

import numpy as np
import pandas as pd
import pytest
from conftest import DATA, monthly_dates, write_stack
from osgeo import gdal

from ecoresp_core.errors import InputError
from ecoresp_core.jobs.predict import predict_rasters
from ecoresp_core.upscaling.model import load_model
from ecoresp_core.upscaling.predict import LeftOut, predict_table, read_category_mapping

MODEL = os.path.join(DATA, "models", "rf_debian12.npz")  # TA_F_degC, SW_IN_F_W_m2, VPD_F_hPa, IGBP
# its training range of TA_F_degC is -22.759 .. 30.647; IGBP known: CRO CSH DBF EBF ENF GRA MF OSH SAV SNO WET WSA


@pytest.fixture(scope="module")
def model():
    return load_model(MODEL)


def table():
    """10 rows: 3 BSV, 2 URB (unknown classes), 1 without TA, 2 colder than any training month."""
    igbp = ["ENF", "BSV", "BSV", "BSV", "URB", "URB", "DBF", "GRA", "OSH", "ENF"]
    ta = [5.0, 5.0, 6.0, 7.0, 8.0, 9.0, np.nan, -40.0, -30.0, 12.0]
    return pd.DataFrame({"TA_F_degC": ta, "SW_IN_F_W_m2": [150.0] * 10, "VPD_F_hPa": [5.0] * 10, "IGBP": igbp})


def test_table_counts_are_exact(model):
    out = predict_table(model, table())
    rec = out.attrs["left_out"]
    assert rec["considered"] == 10 and rec["predicted"] == 4 and rec["left_out"] == 6
    assert rec["missing_driver"] == {"TA_F_degC": 1}
    assert rec["unknown_categories"] == {"IGBP": {"BSV": 3, "URB": 2}}
    assert rec["below_training_min"] == {"TA_F_degC": 2} and rec["outside_training_range"] == 2
    assert out["ER_pred"].notna().tolist() == [True, False, False, False, False, False, False, True, True, True]
    assert out["outside_training_range"].tolist() == [0, 0, 0, 0, 0, 0, 0, 1, 1, 0]
    # the predicted rows are those of a table without the left-out rows
    known = table().iloc[[0, 7, 8, 9]].reset_index(drop=True)
    np.testing.assert_array_equal(out["ER_pred"].dropna().to_numpy(), predict_table(model, known)["ER_pred"])


def test_table_out_of_range_left_out_or_refused(model):
    out = predict_table(model, table(), out_of_range="leave_out")
    assert out["ER_pred"].notna().tolist() == [True] + [False] * 8 + [True]
    rec = out.attrs["left_out"]
    assert rec["predicted"] == 2 and rec["left_out_out_of_range"] == 2 and rec["left_out"] == 8
    with pytest.raises(InputError, match=r"outside the training range \(refused\): TA_F_degC: 2 below the "
                                         r"training minimum -22\.76 \(lowest -40\) rows"):
        predict_table(model, table(), out_of_range="refuse")


def test_table_unknown_categories_mapped_or_refused(model):
    mapped = predict_table(model, table(), unknown="map", mappings={"IGBP": {"BSV": "OSH", "URB": "CRO"}})
    rec = mapped.attrs["left_out"]
    assert rec["predicted"] == 9 and rec["unknown_categories"] == {}
    as_known = table().assign(IGBP=["ENF", "OSH", "OSH", "OSH", "CRO", "CRO", "DBF", "GRA", "OSH", "ENF"])
    np.testing.assert_array_equal(mapped["ER_pred"].to_numpy(), predict_table(model, as_known)["ER_pred"].to_numpy())
    # a partial mapping leaves the rest out, reported
    part = predict_table(model, table(), unknown="map", mappings={"IGBP": {"BSV": "OSH"}})
    assert part.attrs["left_out"]["unknown_categories"] == {"IGBP": {"URB": 2}}
    with pytest.raises(InputError, match=r"Unknown categories \(UNKNOWN_CATEGORIES\): categories the model does not "
                                         r"know \(refused\): IGBP: BSV 3, URB 2 rows"):
        predict_table(model, table(), report=LeftOut(model, "rows", "refuse",
                                                      labels={"unknown": "Unknown categories (UNKNOWN_CATEGORIES)"}))


def test_table_every_row_left_out_says_why(model):
    with pytest.raises(InputError, match=r"the table: 0 of 10 rows predicted: left out for categories the model "
                                         r"does not know: IGBP: BSV 10 rows \(the model knows IGBP: CRO"):
        predict_table(model, table().assign(IGBP="BSV", TA_F_degC=5.0))


def test_table_numeric_column_of_text_is_refused(model):
    df = table().assign(TA_F_degC=["warm"] + ["NA"] + ["3.5"] * 8)
    with pytest.raises(InputError, match=r"the table: column TA_F_degC holds text where the model expects numbers "
                                         r"\[degC\]: 'warm' in 1 of 10 rows"):
        predict_table(model, df)
    ok = predict_table(model, df.iloc[1:])  # 'NA' is a missing value, '3.5' a number
    assert ok.attrs["left_out"]["missing_driver"] == {"TA_F_degC": 1}


@pytest.fixture
def rasters(tmp_path):
    """2 x 3 cells, 12 months; land cover BSV, URB, DBF / water, SNO, DBF; the SNO cell 40 degC
    colder than the training minimum; TA missing in one month of the DBF cell (0, 2); land mask
    without the water cell."""
    dates = monthly_dates(2010, 12)
    ta = np.full((12, 2, 3), 10.0)
    ta[:, 1, 1] = -45.0
    ta[3, 0, 2] = np.nan
    igbp = np.array([[[16, 13, 4], [0, 15, 4]]], dtype=float)
    paths = {"TA_F_degC": write_stack(tmp_path / "ta.tif", ta, dates, nodata=-9999),
             "SW_IN_F_W_m2": write_stack(tmp_path / "sw.tif", np.full((12, 2, 3), 150.0), dates),
             "VPD_F_hPa": write_stack(tmp_path / "vpd.tif", np.full((12, 2, 3), 5.0), dates),
             "IGBP": write_stack(tmp_path / "igbp.tif", igbp, ["lc"], dtype="Byte")}
    land = write_stack(tmp_path / "land.tif", np.array([[[1, 1, 1], [0, 1, 1]]], dtype=float), ["land"], dtype="Byte")
    return paths, land


def test_raster_counts_are_exact_and_recorded(model, rasters, tmp_path):
    paths, land = rasters
    out = str(tmp_path / "er.tif")
    stats = predict_rasters(model, dict(paths), out, land_mask_path=land)
    acc = stats["left_out"]
    # land: 5 cells x 12 months; BSV and URB left out (12 each), TA missing once, the SNO cell flagged
    assert acc.considered == 60 and acc.missing["TA_F_degC"] == 1
    assert dict(acc.unknown["IGBP"]) == {"BSV (16)": 12, "URB (13)": 12}
    assert acc.predicted == 35 == stats["predicted"] and acc.left_out == 25
    assert acc.below["TA_F_degC"] == 12 and acc.outside == 12
    ds = gdal.Open(out)
    er = ds.ReadAsArray()
    assert np.isfinite(er).sum() == 35
    assert np.isnan(er[:, 0, :2]).all() and np.isnan(er[:, 1, 0]).all() and np.isfinite(er[:, 1, 1]).all()
    rec = json.loads(ds.GetMetadataItem("ECORESP_LEFT_OUT"))
    assert rec == acc.record() and rec["unknown_categories"] == {"IGBP": {"BSV (16)": 12, "URB (13)": 12}}
    # without a land mask the water cell (code 0, not a class of the model) is counted too
    stats = predict_rasters(model, dict(paths), str(tmp_path / "er_all.tif"))
    assert stats["considered"] == 72 and dict(stats["left_out"].unknown["IGBP"]) == {
        "BSV (16)": 12, "URB (13)": 12, "water (0)": 12}


def test_raster_choices(model, rasters, tmp_path):
    paths, land = rasters
    # ice left out as out of range, unknown classes mapped (BSV as OSH, URB as CRO)
    out = str(tmp_path / "er.tif")
    stats = predict_rasters(model, dict(paths), out, land_mask_path=land, unknown="map",
                            mappings={"IGBP": {"BSV": "OSH", "13": "CRO"}}, out_of_range="leave_out")
    acc = stats["left_out"]
    assert acc.predicted == 47 and acc.left_out_range == 12 and acc.n_unknown() == 0
    er = gdal.Open(out).ReadAsArray()
    assert np.isfinite(er[:, 0, :2]).all() and np.isnan(er[:, 1, 1]).all()
    # mapped cells predict as the class they are mapped to
    as_osh = table().iloc[[0]].assign(TA_F_degC=10.0, IGBP="OSH")
    assert er[0, 0, 0] == pytest.approx(predict_table(model, as_osh)["ER_pred"].iloc[0], rel=1e-6)
    for kw, pattern in [({"unknown": "refuse"}, r"IGBP: (BSV \(16\) 12, URB \(13\) 12|URB \(13\) 12, BSV \(16\) 12) "
                                                r"pixel-months"),
                        ({"out_of_range": "refuse"}, r"TA_F_degC: 12 below the training minimum -22\.76 "
                                                     r"\(lowest -45\) pixel-months")]:
        bad = str(tmp_path / "refused.tif")
        with pytest.raises(InputError, match=pattern):
            predict_rasters(model, dict(paths), bad, land_mask_path=land, **kw)
        assert not os.path.exists(bad)


def test_raster_nothing_predicted_says_why(model, rasters, tmp_path):
    paths, _ = rasters
    only_bsv = write_stack(tmp_path / "bsv.tif", np.full((1, 2, 3), 16.0), ["lc"], dtype="Byte")
    out = str(tmp_path / "er.tif")
    with pytest.raises(InputError, match=r"every pixel of it would be nodata: 0 of 72 pixel-months predicted: left "
                                         r"out for categories the model does not know: IGBP: BSV \(16\) 71 "
                                         r"pixel-months .*; left out, a driver without a value: TA_F_degC 1$"):
        predict_rasters(model, dict(paths, IGBP=only_bsv), out)
    assert not os.path.exists(out)


def test_mapping_table_checks(model, tmp_path):
    def table_file(text, name="map.csv"):
        p = tmp_path / name
        p.write_text(text)
        return str(p)

    assert read_category_mapping(table_file("driver,from,to\nIGBP,BSV,OSH\nIGBP,0,GRA\n"), model) == {
        "IGBP": {"BSV": "OSH", "0": "GRA"}}
    assert read_category_mapping(table_file("Driver,From,To\nIGBP,URB,CRO\n"), model.meta) == {"IGBP": {"URB": "CRO"}}
    cases = [("driver,from,to\nLC,BSV,OSH\n", r"row 2 \(LC,BSV,OSH\): LC is not a categorical driver of the model "
                                             r"\(categorical drivers: IGBP\)"),
             ("driver,from,to\nIGBP,BSV,OSH\nIGBP,URB,XYZ\n", r"row 3 \(IGBP,URB,XYZ\): XYZ is not a category the "
                                                              r"model knows for IGBP \(known: CRO, CSH"),
             ("driver,from,to\nIGBP,BSV,OSH\nIGBP,BSV,GRA\n", r"row 3 .*: IGBP BSV is mapped twice"),
             ("driver,from,to\nIGBP,BSV\n", r"row 2 \(IGBP,BSV\): needs a driver, a from and a to"),
             ("IGBP,BSV,OSH\n", r"the first row must be the header driver,from,to"),
             ("driver,from,to\n", r"no mapping rows"),
             ("", r"the first row must be the header")]
    for text, pattern in cases:
        path = table_file(text)
        with pytest.raises(InputError, match=f"mapping table {path}.*{pattern}"):
            read_category_mapping(path, model)
    with pytest.raises(InputError, match=r"category mapping table .*nothere\.csv: not found"):
        read_category_mapping(str(tmp_path / "nothere.csv"), model)
