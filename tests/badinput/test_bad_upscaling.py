"""Bad inputs of the upscaling algorithms (ecoresp:fitupscaler, ecoresp:predictupscaler,
ecoresp:integrate) through qgis_process: each case must end with exit 1, a message naming the
parameter and the problem, no traceback, nothing left behind and nothing changed (harness.py).
Cases that fail today because the product lacks a check are marked xfail(strict) with the defect."""

import os
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import DATA, monthly_dates, write_stack
from harness import Case, needs_qgis_process, run_case, table

pytestmark = needs_qgis_process

FEATURES = ["TA_F_degC", "SW_IN_F_W_m2", "VPD_F_hPa", "IGBP"]  # those of tests/data/models/rf_debian12.npz
GRID_B = (-5.0, 0.5, 0, 40.0, 0, -0.5)                            # another grid of the same size


def driver_files(**override):
    """DRIVER_FILES naming the four model drivers, with ``override`` {name: placeholder} replacing some."""
    return "; ".join(f"{n}={{{override.get(n, n)}}}" for n in FEATURES)



def _site_month_tables(folder, paths):
    df = pd.read_csv(os.path.join(DATA, "sites", "fluxnet2015_site_month.csv"))
    df = df[df["frac_measured"] >= 0.2]
    sites = sorted(df["site_id"].unique())[::12]
    sm = df[df["site_id"].isin(sites)][["site_id", "year", "month", "RECO_NT_gC_m2_d"] + FEATURES]
    sm = sm.dropna().reset_index(drop=True)
    tables = {"sm": sm, "sm_target_text": sm.assign(RECO_NT_gC_m2_d="n/a"),
              "sm_target_nan": sm.assign(RECO_NT_gC_m2_d=np.nan), "sm_target_inf": sm.assign(RECO_NT_gC_m2_d=np.inf),
              "sm_feature_text": sm.assign(TA_F_degC="warm"), "sm_one_site": sm[sm.site_id == sites[0]],
              "sm_one_row": sm.iloc[:1], "sm_header_only": sm.iloc[:0],
              "sm_no_vpd": sm.drop(columns=["VPD_F_hPa"])}
    for key, frame in tables.items():
        paths[key] = str(folder / f"{key}.csv")
        frame.to_csv(paths[key], index=False)


def _driver_rasters(folder, paths):
    rng = np.random.default_rng(15)
    dates = monthly_dates(2010, 12)
    values = {"TA_F_degC": rng.uniform(-5, 25, (12, 3, 4)), "SW_IN_F_W_m2": rng.uniform(20, 300, (12, 3, 4)),
              "VPD_F_hPa": rng.uniform(0, 40, (12, 3, 4))}
    for name, v in values.items():
        paths[name] = write_stack(folder / f"{name}.tif", v, dates)
    paths["IGBP"] = write_stack(folder / "IGBP.tif", np.full((1, 3, 4), 4.0), ["lc"], dtype="Byte")
    paths["ta_other_grid"] = write_stack(folder / "ta_other_grid.tif", values["TA_F_degC"], dates, geotransform=GRID_B)
    paths["ta_other_dates"] = write_stack(folder / "ta_other_dates.tif", values["TA_F_degC"], monthly_dates(1990, 12))
    paths["ta_other_crs"] = write_stack(folder / "ta_other_crs.tif", values["TA_F_degC"], dates, epsg=3035)
    paths["ta_nodata"] = write_stack(folder / "ta_nodata.tif", np.full((12, 3, 4), np.nan), dates, nodata=-9999)
    paths["ta_small"] = write_stack(folder / "ta_small.tif", values["TA_F_degC"][:, :2, :2], dates)
    paths["land"] = write_stack(folder / "land.tif", np.ones((1, 3, 4)), ["land"])
    paths["land_other_grid"] = write_stack(folder / "land_other_grid.tif", np.ones((1, 3, 4)), ["land"],
                                           geotransform=GRID_B)
    paths["land_percent"] = write_stack(folder / "land_percent.tif", np.full((1, 3, 4), 80.0), ["land"])
    paths["land_nodata"] = write_stack(folder / "land_nodata.tif", np.full((1, 3, 4), np.nan), ["land"], nodata=-1)
    paths["zones"] = write_stack(folder / "zones.tif", np.array([[[1.0] * 4, [2.0] * 4, [3.0] * 4]]), ["zones"])
    paths["zones_other_grid"] = write_stack(folder / "zones_other_grid.tif", np.ones((1, 3, 4)), ["zones"],
                                            geotransform=GRID_B)


def _er_series(folder, paths):
    rng = np.random.default_rng(16)
    values = rng.uniform(0.5, 5, (24, 3, 4))
    paths["er"] = write_stack(folder / "er.tif", values, monthly_dates(2000, 24))
    paths["er_single"] = write_stack(folder / "er_single.tif", values[:1], monthly_dates(2000, 1))
    paths["er_undated"] = write_stack(folder / "er_undated.tif", values, None)
    paths["er_nodata"] = write_stack(folder / "er_nodata.tif", np.full((24, 3, 4), np.nan), monthly_dates(2000, 24),
                                     nodata=-9999)
    paths["er_inf"] = write_stack(folder / "er_inf.tif", np.full((24, 3, 4), np.inf), monthly_dates(2000, 24))


def _broken_files(folder, paths):
    model = open(paths["model"], "rb").read()
    for key, name, content in [("empty", "empty.csv", b""), ("empty_npz", "empty.npz", b""),
                               ("garbage", "garbage.csv", b"not a table\n\x00\x01\x02\xff\n"),
                               ("text_npz", "text.npz", b"this is not a model\n"),
                               ("text_tif", "text.tif", b"this is not a raster\n"),
                               ("truncated_npz", "truncated.npz", model[: len(model) // 2])]:
        paths[key] = str(folder / name)
        open(paths[key], "wb").write(content)
    with np.load(paths["model"], allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["threshold"] = arrays["threshold"] + 0.5
    paths["tampered"] = str(folder / "tampered.npz")
    np.savez(paths["tampered"], **arrays)


def _predict_inputs(folder, paths):
    """Rasters with land-cover codes the model never saw and a driver below its training range, a
    table whose rows all have an unknown class, and category mapping tables (good and bad)."""
    igbp = np.array([[[16.0] * 4, [0.0] * 4, [4.0] * 4]])  # BSV (unknown), water (unknown), DBF
    paths["igbp_unknown"] = write_stack(folder / "igbp_unknown.tif", igbp, ["lc"], dtype="Byte")
    paths["ta_cold"] = write_stack(folder / "ta_cold.tif", np.full((12, 3, 4), -40.0), monthly_dates(2010, 12))
    sm = pd.read_csv(paths["sm"])
    paths["sm_unknown_class"] = str(folder / "sm_unknown_class.csv")
    sm.iloc[:24].assign(IGBP="BSV").to_csv(paths["sm_unknown_class"], index=False)
    for key, text in [("map_ok", "driver,from,to\nIGBP,BSV,OSH\nIGBP,0,GRA\n"),
                      ("map_bad_driver", "driver,from,to\nLC,BSV,OSH\n"),
                      ("map_bad_target", "driver,from,to\nIGBP,BSV,XYZ\n")]:
        paths[key] = str(folder / f"{key}.csv")
        open(paths[key], "w").write(text)


def build_inputs(folder):
    """A site-month table, a model file (bundled rf_debian12.npz: drivers TA_F_degC, SW_IN_F_W_m2,
    VPD_F_hPa, IGBP), driver rasters, a monthly ER series with land fraction and zones on a 3 x 4
    grid, and broken versions of each, written into ``folder``; returns {placeholder: path}."""
    paths = {"model": str(folder / "rf.npz"), "nothere": str(folder / "nothere.tif")}
    shutil.copy(os.path.join(DATA, "models", "rf_debian12.npz"), paths["model"])
    _site_month_tables(folder, paths)
    _driver_rasters(folder, paths)
    _er_series(folder, paths)
    _broken_files(folder, paths)
    _predict_inputs(folder, paths)
    return paths


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return build_inputs(tmp_path_factory.mktemp("upscaling-inputs"))


FIT_OUT = {"OUTPUT": "{out}/model.npz", "METRICS": "{out}/metrics.csv", "IMPORTANCE": "{out}/imp.csv"}
FIT = {"INPUT": "{sm}", "TARGET": "RECO_NT_gC_m2_d", "FEATURES": ";".join(FEATURES), "GROUP": "site_id",
       "FOLDS": "3", "TREES": "10", "SEED": "1"}
FIT_CASES = {
    "missing-file": Case({**FIT, "INPUT": "{out}/nothere.csv", **FIT_OUT}, ["(INPUT)", "nothere.csv"]),
    "empty-file": Case({**FIT, "INPUT": "{empty}", **FIT_OUT}, ["(INPUT)", "empty.csv"]),
    "binary-garbage": Case({**FIT, "INPUT": "{garbage}", **FIT_OUT},
                           ["Site-month table (INPUT)", "garbage.csv", "is not a table"]),
    "raster-as-table": Case({**FIT, "INPUT": "{TA_F_degC}", **FIT_OUT}, ["(INPUT)", "TA_F_degC.tif"]),
    "header-only": Case({**FIT, "INPUT": "{sm_header_only}", **FIT_OUT}, ["(INPUT)", "sm_header_only.csv"]),
    "single-row": Case({**FIT, "INPUT": "{sm_one_row}", **FIT_OUT}, ["(TARGET)", "only 1 valid", "at least 10"]),
    "one-site-fewer-than-folds": Case({**FIT, "INPUT": "{sm_one_site}", **FIT_OUT},
                                      ["(GROUP)", "1 site(s) in field site_id", "at least 3"]),
    "target-missing": Case({**FIT, "TARGET": "NOPE", **FIT_OUT},
                           ["Site-month table (INPUT)", "sm.csv", "has no field(s) NOPE"]),
    "target-text": Case({**FIT, "INPUT": "{sm_target_text}", **FIT_OUT}, ["(TARGET)", "RECO_NT_gC_m2_d"]),
    "target-all-nan": Case({**FIT, "INPUT": "{sm_target_nan}", **FIT_OUT}, ["(TARGET)", "RECO_NT_gC_m2_d"]),
    "target-all-inf": Case({**FIT, "INPUT": "{sm_target_inf}", **FIT_OUT}, ["(TARGET)", "RECO_NT_gC_m2_d"]),
    "feature-missing": Case({**FIT, "INPUT": "{sm_no_vpd}", **FIT_OUT},
                            ["Site-month table (INPUT)", "sm_no_vpd.csv", "has no field(s) VPD_F_hPa"]),
    "target-among-features": Case({**FIT, "FEATURES": "TA_F_degC;RECO_NT_gC_m2_d", **FIT_OUT},
                                  ["(FEATURES)", "RECO_NT_gC_m2_d", "(TARGET)", "cannot be a feature"]),
    "group-missing": Case({**FIT, "GROUP": "NOPE", **FIT_OUT},
                          ["Site-month table (INPUT)", "sm.csv", "has no field(s) NOPE"]),
    "filter-invalid": Case({**FIT, "FILTER": '"quality_ok" = = 1', **FIT_OUT}, ["(FILTER)"]),
    "filter-selects-nothing": Case({**FIT, "FILTER": '"year" > 3000', **FIT_OUT}, ["(FILTER)", "no"]),
    "units-without-equals": Case({**FIT, "UNITS": "degC", **FIT_OUT}, ["(UNITS)", "degC"]),
    "units-unknown-feature": Case({**FIT, "UNITS": "XYZ=degC", **FIT_OUT}, ["(UNITS)", "XYZ", "not a feature"]),
    "model-out-of-range": Case({**FIT, "MODEL": "5", **FIT_OUT}, ["(MODEL)", "'5'"]),
    "folds-one": Case({**FIT, "FOLDS": "1", **FIT_OUT}, ["(FOLDS)", "1"]),
    "folds-text": Case({**FIT, "FOLDS": "three", **FIT_OUT}, ["(FOLDS)", "three"]),
    "trees-zero": Case({**FIT, "TREES": "0", **FIT_OUT}, ["(TREES)", "0"]),
    "threads-negative": Case({**FIT, "THREADS": "-1", **FIT_OUT}, ["(THREADS)", "-1"]),
    "output-is-input": Case({**FIT, **FIT_OUT, "OUTPUT": "{sm}"}, ["(OUTPUT)", "destroy the input"]),
    "metrics-equal-output": Case({**FIT, **FIT_OUT, "METRICS": "{out}/model.npz"}, ["(METRICS)", "also the output"]),
    "importance-equal-metrics": Case({**FIT, **FIT_OUT, "IMPORTANCE": "{out}/metrics.csv"},
                                     ["(IMPORTANCE)", "also the output"]),
    "output-folder-missing": Case({**FIT, **FIT_OUT, "OUTPUT": "{out}/no/such/model.npz"},
                                  ["(OUTPUT)", "does not exist"]),
    "output-is-a-folder": Case({**FIT, **FIT_OUT, "OUTPUT": "{out}"}, ["(OUTPUT)", "is a folder"]),
    "disk-full": Case({**FIT, **FIT_OUT}, ["(OUTPUT)", "model.npz", "cannot be written"], fsize=4000),
}

PRED_OUT = {"OUTPUT": "{out}/er.tif"}
PRED = {"MODEL": "{model}", "DRIVER_FILES": driver_files()}
PRED_TABLE = {"MODEL": "{model}", "TABLE": "{sm}", "OUTPUT_TABLE": "{out}/pred.csv"}
PREDICT_CASES = {
    "model-missing": Case({**PRED, "MODEL": "{out}/nothere.npz", **PRED_OUT}, ["(MODEL)", "nothere.npz"]),
    "model-empty": Case({**PRED, "MODEL": "{empty_npz}", **PRED_OUT}, ["(MODEL)", "empty.npz"]),
    "model-text": Case({**PRED, "MODEL": "{text_npz}", **PRED_OUT}, ["(MODEL)", "text.npz"]),
    "model-truncated": Case({**PRED, "MODEL": "{truncated_npz}", **PRED_OUT}, ["(MODEL)", "truncated.npz"]),
    "model-is-table": Case({**PRED, "MODEL": "{sm}", **PRED_OUT}, ["(MODEL)", "sm.csv"]),
    "model-tampered": Case({**PRED, "MODEL": "{tampered}", **PRED_OUT}, ["(MODEL)", "checksum"]),
    "no-drivers-nor-table": Case({"MODEL": "{model}", **PRED_OUT}, ["(DRIVERS)", "(TABLE)"]),
    "driver-missing": Case({"MODEL": "{model}", "DRIVER_FILES": "TA_F_degC={TA_F_degC}", **PRED_OUT},
                           ["no driver for SW_IN_F_W_m2"]),
    "driver-files-not-name-source": Case({"MODEL": "{model}", "DRIVER_FILES": "TA_F_degC {TA_F_degC}", **PRED_OUT},
                                         ["(DRIVER_FILES)", "is not name=source"]),
    "driver-file-missing": Case({**PRED, "DRIVER_FILES": driver_files(IGBP="nothere"), **PRED_OUT},
                                ["(DRIVER_FILES)", "nothere.tif"]),
    "driver-file-is-table": Case({**PRED, "DRIVER_FILES": driver_files(TA_F_degC="sm"), **PRED_OUT},
                                 ["(DRIVER_FILES)", "sm.csv"]),
    "driver-file-is-text": Case({**PRED, "DRIVER_FILES": driver_files(TA_F_degC="text_tif"), **PRED_OUT},
                                ["(DRIVER_FILES)", "text.tif"]),
    "driver-layer-is-table": Case({"MODEL": "{model}", "DRIVERS": "{sm}", **PRED_OUT}, ["(DRIVERS)", "sm.csv"]),
    "driver-other-grid": Case({**PRED, "DRIVER_FILES": driver_files(TA_F_degC="ta_other_grid"), **PRED_OUT},
                              ["ta_other_grid.tif", "grid"]),
    "driver-other-size": Case({**PRED, "DRIVER_FILES": driver_files(TA_F_degC="ta_small"), **PRED_OUT},
                              ["ta_small.tif", "grid"]),
    "driver-other-crs": Case({**PRED, "DRIVER_FILES": driver_files(TA_F_degC="ta_other_crs"), **PRED_OUT},
                             ["ta_other_crs.tif"]),
    "driver-other-dates": Case({**PRED, "DRIVER_FILES": driver_files(TA_F_degC="ta_other_dates"), **PRED_OUT},
                               ["ta_other_dates.tif", "date"]),
    "driver-all-nodata": Case({**PRED, "DRIVER_FILES": driver_files(TA_F_degC="ta_nodata"), **PRED_OUT},
                              ["ta_nodata.tif", "TA_F_degC"]),
    "table-missing-column": Case({**PRED_TABLE, "TABLE": "{sm_no_vpd}"}, ["(TABLE)", "no driver for VPD_F_hPa"]),
    "table-column-text": Case({**PRED_TABLE, "TABLE": "{sm_feature_text}"}, ["(TABLE)", "TA_F_degC"]),
    "table-is-raster": Case({**PRED_TABLE, "TABLE": "{TA_F_degC}"}, ["(TABLE)", "TA_F_degC.tif"]),
    "land-mask-other-grid": Case({**PRED, "LAND_MASK": "{land_other_grid}", **PRED_OUT},
                                 ["(LAND_MASK)", "land_other_grid.tif"]),
    "land-mask-is-table": Case({**PRED, "LAND_MASK": "{sm}", **PRED_OUT}, ["(LAND_MASK)", "sm.csv"]),
    "memory-budget-below-minimum": Case({**PRED, "MEMORY_MB": "1", **PRED_OUT}, ["(MEMORY_MB)", "16 to 65536"]),
    "output-is-input": Case({**PRED, "OUTPUT": "{TA_F_degC}"}, ["(OUTPUT)", "destroy the input"]),
    "output-is-model": Case({**PRED, "OUTPUT": "{model}"}, ["(OUTPUT)", "destroy the input"]),
    "share-equal-output": Case({**PRED, **PRED_OUT, "OUTSIDE_SHARE": "{out}/er.tif"},
                               ["(OUTSIDE_SHARE)", "also the output"]),
    "output-table-is-input": Case({**PRED_TABLE, "OUTPUT_TABLE": "{sm}"}, ["(OUTPUT_TABLE)", "destroy the input"]),
    "output-folder-missing": Case({**PRED, "OUTPUT": "{out}/no/such/er.tif"}, ["(OUTPUT)", "does not exist"]),
    "output-is-a-folder": Case({**PRED, "OUTPUT": "{out}"}, ["(OUTPUT)", "is a folder"]),
    "disk-full": Case({**PRED, **PRED_OUT}, ["er.tif", "cannot be written"], fsize=2000),
    "mapping-file-missing": Case({**PRED, "UNKNOWN_CATEGORIES": "1", "CATEGORY_MAPPING": "{out}/nothere.csv",
                                  **PRED_OUT}, ["(CATEGORY_MAPPING)", "nothere.csv"]),
    "mapping-unknown-driver": Case({**PRED, "UNKNOWN_CATEGORIES": "1", "CATEGORY_MAPPING": "{map_bad_driver}",
                                    **PRED_OUT}, ["(CATEGORY_MAPPING)", "map_bad_driver.csv", "row 2",
                                                  "LC is not a categorical driver"]),
    "mapping-unknown-target": Case({**PRED, "UNKNOWN_CATEGORIES": "1", "CATEGORY_MAPPING": "{map_bad_target}",
                                    **PRED_OUT}, ["(CATEGORY_MAPPING)", "map_bad_target.csv", "row 2",
                                                  "XYZ is not a category the model knows"]),
    "mapping-chosen-without-table": Case({**PRED, "UNKNOWN_CATEGORIES": "1", **PRED_OUT},
                                         ["(UNKNOWN_CATEGORIES)", "(CATEGORY_MAPPING)"]),
    "mapping-table-not-chosen": Case({**PRED, "CATEGORY_MAPPING": "{map_ok}", **PRED_OUT},
                                     ["(CATEGORY_MAPPING)", "(UNKNOWN_CATEGORIES)"]),
    "unknown-categories-refused": Case({**PRED, "DRIVER_FILES": driver_files(IGBP="igbp_unknown"),
                                        "UNKNOWN_CATEGORIES": "2", **PRED_OUT},
                                       ["(UNKNOWN_CATEGORIES)", "IGBP", "BSV (16) 48", "water (0) 48"]),
    "out-of-range-refused": Case({**PRED, "DRIVER_FILES": driver_files(TA_F_degC="ta_cold"), "OUT_OF_RANGE": "2",
                                  **PRED_OUT}, ["(OUT_OF_RANGE)", "TA_F_degC", "144 below the training minimum"]),
    "table-every-row-unknown-class": Case({**PRED_TABLE, "TABLE": "{sm_unknown_class}"},
                                          ["(TABLE)", "0 of 24 rows predicted", "IGBP: BSV 24 rows"]),
}

INT_OUT = {"OUTPUT": "{out}/totals.csv"}
INT = {"INPUT": "{er}"}
INTEGRATE_CASES = {
    "no-input": Case(INT_OUT, ["exactly one of the two", "none is given"]),
    "missing-file": Case({"INPUT": "{out}/nothere.tif", **INT_OUT}, ["(INPUT)", "nothere.tif"]),
    "missing-input-file": Case({"INPUT_FILE": "{out}/nothere.nc", **INT_OUT}, ["(INPUT_FILE)", "nothere.nc"]),
    "empty-file": Case({"INPUT": "{empty}", **INT_OUT}, ["(INPUT)", "empty.csv"]),
    "text-file": Case({"INPUT": "{text_tif}", **INT_OUT}, ["(INPUT)", "text.tif", "is not a raster"]),
    "table-as-raster": Case({"INPUT": "{sm}", **INT_OUT}, ["(INPUT)", "sm.csv", "is not a raster"]),
    "single-time-step": Case({"INPUT": "{er_single}", **INT_OUT}, ["(INPUT)", "er_single.tif"]),
    "no-dates": Case({"INPUT": "{er_undated}", **INT_OUT}, ["er_undated.tif", "date"]),
    "dates-garbage": Case({**INT, "DATES": "yesterday", **INT_OUT}, ["(DATES)", "cannot read 'yesterday' as a date"]),
    "all-nodata": Case({"INPUT": "{er_nodata}", **INT_OUT}, ["(INPUT)", "er_nodata.tif"]),
    "all-inf": Case({"INPUT": "{er_inf}", **INT_OUT}, ["(INPUT)", "er_inf.tif"]),
    "unit-out-of-range": Case({**INT, "UNIT": "7", **INT_OUT}, ["ER unit (UNIT)", "'7'"]),
    "land-fraction-other-grid": Case({**INT, "LAND_FRACTION": "{land_other_grid}", **INT_OUT},
                                     ["(LAND_FRACTION)", "grid"]),
    "land-fraction-is-table": Case({**INT, "LAND_FRACTION": "{sm}", **INT_OUT}, ["(LAND_FRACTION)", "sm.csv"]),
    "land-fraction-percent-as-fraction": Case({**INT, "LAND_FRACTION": "{land_percent}", "LAND_SCALE": "0",
                                               **INT_OUT}, ["(LAND_FRACTION)", "(LAND_SCALE)"]),
    "land-fraction-all-nodata": Case({**INT, "LAND_FRACTION": "{land_nodata}", **INT_OUT},
                                     ["(LAND_FRACTION)", "land_nodata.tif"]),
    "land-scale-out-of-range": Case({**INT, "LAND_SCALE": "5", **INT_OUT}, ["(LAND_SCALE)", "'5'"]),
    "zones-other-grid": Case({**INT, "ZONES": "{zones_other_grid}", **INT_OUT}, ["(ZONES)", "grid"]),
    "zone-type-out-of-range": Case({**INT, "ZONES": "{zones}", "ZONE_TYPE": "3", **INT_OUT}, ["(ZONE_TYPE)", "'3'"]),
    "zone-names-garbage": Case({**INT, "ZONES": "{zones}", "ZONE_NAMES": "1 boreal", **INT_OUT},
                               ["(ZONE_NAMES)", "1 boreal"]),
    "memory-budget-below-minimum": Case({**INT, "MEMORY_MB": "1", **INT_OUT}, ["(MEMORY_MB)", "16 to 65536"]),
    "output-is-input": Case({**INT, "OUTPUT": "{er}"}, ["(OUTPUT)", "destroy the input"]),
    "annual-is-input": Case({**INT, **INT_OUT, "ANNUAL": "{er}"}, ["(ANNUAL)", "destroy the input"]),
    "summary-equal-output": Case({**INT, **INT_OUT, "SUMMARY": "{out}/totals.csv"}, ["(SUMMARY)", "also the output"]),
    "output-folder-missing": Case({**INT, "OUTPUT": "{out}/no/such/totals.csv"}, ["(OUTPUT)", "does not exist"]),
    "output-is-a-folder": Case({**INT, "OUTPUT": "{out}"}, ["(OUTPUT)", "is a folder"]),
    "disk-full-annual": Case({**INT, **INT_OUT, "ANNUAL": "{out}/annual.tif"}, ["annual.tif", "cannot be written"],
                             fsize=300),
}


@pytest.mark.parametrize(**table({"fitupscaler": FIT_CASES, "predictupscaler": PREDICT_CASES,
                                 "integrate": INTEGRATE_CASES}))
def test_bad_input(inputs, algorithm, case, tmp_path):
    run_case(algorithm, case, inputs, tmp_path)
