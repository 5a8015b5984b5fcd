"""Bad inputs of the attribution algorithms (ecoresp:partialcorrelation, ecoresp:rfattribution,
ecoresp:attributionzones, ecoresp:derivedriver) through qgis_process: each case must end with exit
1, a message naming the parameter and the problem, no traceback, nothing left behind and nothing
changed (harness.py). Cases that fail today because the product lacks a check are marked
xfail(strict) with the defect."""

import os
import shutil

import numpy as np
import pytest
from conftest import DATA, monthly_dates, write_stack
from harness import Case, needs_qgis_process, run_case, table
from osgeo import gdal

pytestmark = needs_qgis_process

YEARS = 12
GRID_B = (-5.0, 0.5, 0, 40.0, 0, -0.5)  # another grid of the same size



def _series(folder, paths):
    """Monthly ER and drivers TA, pre, SM (12 years on a 3 x 4 grid) and broken variants."""
    rng = np.random.default_rng(15)
    n = 12 * YEARS
    dates = monthly_dates(1990, n)
    er = rng.uniform(1, 5, (n, 3, 4))
    drivers = {"TA": rng.uniform(-5, 25, (n, 3, 4)), "pre": rng.uniform(0, 200, (n, 3, 4)),
               "SM": rng.uniform(10, 40, (n, 3, 4))}
    paths["er"] = write_stack(folder / "er.tif", er, dates)
    for name, v in drivers.items():
        paths[name] = write_stack(folder / f"{name}.tif", v, dates)
    paths["vap"] = write_stack(folder / "vap.tif", rng.uniform(2, 10, (n, 3, 4)), dates)      # hPa
    paths["tmp"] = write_stack(folder / "tmp.tif", rng.uniform(10, 25, (n, 3, 4)), dates)     # degC
    paths["er_single"] = write_stack(folder / "er_single.tif", er[:1], dates[:1])
    paths["er_undated"] = write_stack(folder / "er_undated.tif", er, None)
    paths["er_nodata"] = write_stack(folder / "er_nodata.tif", np.full(er.shape, np.nan), dates, nodata=-9999)
    paths["ta_other_grid"] = write_stack(folder / "ta_other_grid.tif", drivers["TA"], dates, geotransform=GRID_B)
    paths["ta_small"] = write_stack(folder / "ta_small.tif", drivers["TA"][:, :2, :2], dates)
    paths["ta_other_crs"] = write_stack(folder / "ta_other_crs.tif", drivers["TA"], dates, epsg=3035)
    paths["ta_other_dates"] = write_stack(folder / "ta_other_dates.tif", drivers["TA"], monthly_dates(1950, n))
    paths["ta_short"] = write_stack(folder / "ta_short.tif", drivers["TA"][:24], dates[:24])
    paths["ta_nodata"] = write_stack(folder / "ta_nodata.tif", np.full(er.shape, np.nan), dates, nodata=-9999)


def _dominant(path, codes, class_names="0=none;1=TA;2=pre;3=SM", geotransform=(10.0, 0.5, 0, 50.0, 0, -0.5)):
    write_stack(path, codes[None], ["dominant"], geotransform=geotransform, dtype="Byte")
    if class_names:
        ds = gdal.Open(str(path), gdal.GA_Update)
        ds.GetRasterBand(1).SetMetadataItem("CLASS_NAMES", class_names)
        ds = None
    return str(path)


def _zones(folder, paths):
    codes = np.array([[0, 1, 2, 3], [1, 1, 2, 2], [3, 3, 0, 1]], dtype=float)
    paths["dominant"] = _dominant(folder / "dominant.tif", codes)
    paths["dominant_unnamed"] = _dominant(folder / "dominant_unnamed.tif", codes, class_names=None)
    paths["dominant_bad_names"] = _dominant(folder / "dominant_bad_names.tif", codes, class_names="one;two")
    paths["dominant_other_grid"] = _dominant(folder / "dominant_other_grid.tif", codes, geotransform=GRID_B)
    paths["zones"] = write_stack(folder / "zones.tif", np.array([[[1.0] * 4, [2.0] * 4, [3.0] * 4]]), ["zones"])
    paths["mat"] = write_stack(folder / "mat.tif", np.array([[[0.0] * 4, [10.0] * 4, [25.0] * 4]]), ["mat"])
    paths["zones_other_grid"] = write_stack(folder / "zones_other_grid.tif", np.ones((1, 3, 4)), ["zones"],
                                            geotransform=GRID_B)
    paths["zones_other_crs"] = write_stack(folder / "zones_other_crs.tif", np.ones((1, 3, 4)), ["zones"], epsg=3035)
    paths["zones_nodata"] = write_stack(folder / "zones_nodata.tif", np.full((1, 3, 4), np.nan), ["zones"],
                                        nodata=-1)


def _broken_files(folder, paths):
    for key, name, content in [("empty", "empty.tif", b""), ("text", "text.tif", b"this is not a raster\n"),
                               ("table", "table.csv", b"date,value\n2000-01-01,1\n")]:
        paths[key] = str(folder / name)
        open(paths[key], "wb").write(content)
    raw = open(paths["er"], "rb").read()
    paths["truncated"] = str(folder / "truncated.tif")
    open(paths["truncated"], "wb").write(raw[: len(raw) // 3])
    paths["nc"] = str(folder / "cru.nc")
    shutil.copy(os.path.join(DATA, "cru_ts400_iberia_1981-2010_monthly.nc"), paths["nc"])


def build_inputs(folder):
    """Valid and broken rasters for the attribution algorithms, written into ``folder``."""
    paths = {"nothere": str(folder / "nothere.tif")}
    _series(folder, paths)
    _zones(folder, paths)
    _broken_files(folder, paths)
    return paths


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return build_inputs(tmp_path_factory.mktemp("attribution-inputs"))


def driver_files(**override):
    """DRIVER_FILES naming the drivers TA, pre, SM, with ``override`` {name: placeholder} replacing some."""
    return "; ".join(f"{n}={{{override.get(n, n)}}}" for n in ("TA", "pre", "SM"))


ATTR = {"INPUT": "{er}", "DRIVER_FILES": driver_files()}
ATTR_OUT = {"OUTPUT": "{out}/a.tif", "DOMINANT": "{out}/dom.tif"}
# the cases the two per-pixel attribution algorithms share: ER series, drivers, options, outputs
ATTRIBUTION_CASES = {
    "no-input": Case({"DRIVER_FILES": driver_files(), **ATTR_OUT}, ["exactly one of the two", "none is given"]),
    "missing-file": Case({**ATTR, "INPUT": "{nothere}", **ATTR_OUT}, ["(INPUT)", "nothere.tif"]),
    "empty-file": Case({**ATTR, "INPUT": "{empty}", **ATTR_OUT}, ["(INPUT)", "empty.tif"]),
    "truncated-geotiff": Case({**ATTR, "INPUT": "{truncated}", **ATTR_OUT}, ["(INPUT)", "truncated.tif"]),
    "text-file": Case({**ATTR, "INPUT": "{text}", **ATTR_OUT}, ["(INPUT)", "text.tif", "is not a raster"]),
    "table-as-raster": Case({**ATTR, "INPUT": "{table}", **ATTR_OUT}, ["(INPUT)", "table.csv", "is not a raster"]),
    "netcdf-unknown-variable": Case({"INPUT_FILE": "{nc}", "VARIABLE": "nee", "DRIVER_FILES": driver_files(),
                                     **ATTR_OUT}, ["nee", "tas"]),
    "single-time-step": Case({**ATTR, "INPUT": "{er_single}", **ATTR_OUT}, ["(INPUT)", "er_single.tif"]),
    "no-dates": Case({**ATTR, "INPUT": "{er_undated}", **ATTR_OUT}, ["er_undated.tif", "date"]),
    "dates-garbage": Case({**ATTR, "DATES": "yesterday", **ATTR_OUT}, ["(DATES)", "cannot read 'yesterday' as a date"]),
    "er-all-nodata": Case({**ATTR, "INPUT": "{er_nodata}", **ATTR_OUT}, ["(INPUT)", "er_nodata.tif"]),
    "no-drivers": Case({"INPUT": "{er}", **ATTR_OUT}, ["(DRIVERS)", "(DRIVER_FILES)"]),
    "driver-layer-is-table": Case({"INPUT": "{er}", "DRIVERS": "{table}", **ATTR_OUT}, ["(DRIVERS)", "table.csv"]),
    "driver-files-not-name-source": Case({**ATTR, "DRIVER_FILES": "TA {TA}", **ATTR_OUT},
                                         ["(DRIVER_FILES)", "is not name=source"]),
    "driver-file-missing": Case({**ATTR, "DRIVER_FILES": driver_files(SM="nothere"), **ATTR_OUT},
                                ["(DRIVER_FILES)", "nothere.tif"]),
    "driver-file-is-text": Case({**ATTR, "DRIVER_FILES": driver_files(SM="text"), **ATTR_OUT},
                                ["(DRIVER_FILES)", "text.tif"]),
    "driver-names-wrong-count": Case({"INPUT": "{er}", "DRIVERS": "{TA}", "DRIVER_NAMES": "a,b", **ATTR_OUT},
                                     ["(DRIVER_NAMES)", "2"]),
    "driver-other-grid": Case({**ATTR, "DRIVER_FILES": driver_files(TA="ta_other_grid"), **ATTR_OUT},
                              ["ta_other_grid.tif", "grid"]),
    "driver-other-size": Case({**ATTR, "DRIVER_FILES": driver_files(TA="ta_small"), **ATTR_OUT},
                              ["ta_small.tif", "grid"]),
    "driver-other-crs": Case({**ATTR, "DRIVER_FILES": driver_files(TA="ta_other_crs"), **ATTR_OUT},
                             ["ta_other_crs.tif"]),
    "driver-other-dates": Case({**ATTR, "DRIVER_FILES": driver_files(TA="ta_other_dates"), **ATTR_OUT},
                               ["ta_other_dates.tif", "date"]),
    "driver-fewer-time-steps": Case({**ATTR, "DRIVER_FILES": driver_files(TA="ta_short"), **ATTR_OUT},
                                    ["ta_short.tif", "24"]),
    "driver-all-nodata": Case({**ATTR, "DRIVER_FILES": driver_files(TA="ta_nodata"), **ATTR_OUT},
                              ["ta_nodata.tif"]),
    "mode-out-of-range": Case({**ATTR, "MODE": "5", **ATTR_OUT}, ["Time scale (MODE)", "'5'"]),
    "detrend-out-of-range": Case({**ATTR, "DETREND": "5", **ATTR_OUT}, ["Detrending (DETREND)", "'5'"]),
    "aggregation-unknown-rule": Case({**ATTR, "AGGREGATION": "TA=median", **ATTR_OUT}, ["(AGGREGATION)", "median"]),
    "aggregation-unknown-driver": Case({**ATTR, "AGGREGATION": "XX=sum", **ATTR_OUT}, ["(AGGREGATION)", "XX"]),
    "min-valid-below-3": Case({**ATTR, "MIN_VALID": "2", **ATTR_OUT}, ["(MIN_VALID)", "2"]),
    "min-valid-above-years": Case({**ATTR, "MIN_VALID": "50", **ATTR_OUT}, ["(MIN_VALID)", "50"]),
    "memory-budget-below-minimum": Case({**ATTR, "MEMORY_MB": "1", **ATTR_OUT}, ["(MEMORY_MB)", "16 to 65536"]),
    "output-is-input": Case({**ATTR, **ATTR_OUT, "OUTPUT": "{er}"}, ["(OUTPUT)", "destroy the input"]),
    "output-is-driver": Case({**ATTR, **ATTR_OUT, "OUTPUT": "{SM}"}, ["(OUTPUT)", "destroy the input"]),
    "dominant-equal-output": Case({**ATTR, **ATTR_OUT, "DOMINANT": "{out}/a.tif"}, ["(DOMINANT)", "also the output"]),
    "output-folder-missing": Case({**ATTR, **ATTR_OUT, "OUTPUT": "{out}/no/such/a.tif"},
                                  ["(OUTPUT)", "does not exist"]),
    "output-is-a-folder": Case({**ATTR, **ATTR_OUT, "OUTPUT": "{out}"}, ["(OUTPUT)", "is a folder"]),
    "disk-full": Case({**ATTR, **ATTR_OUT}, ["a.tif", "cannot be written"], fsize=2000),
}
PC_OUT = {**ATTR_OUT, "DOMINANT_R": "{out}/domr.tif"}
PARTIAL_CASES = {
    **{k: Case({**c.params, "DOMINANT_R": "{out}/domr.tif"}, c.expect, c.fsize) for k, c in ATTRIBUTION_CASES.items()},
    "alpha-too-large": Case({**ATTR, "ALPHA": "0.9", **PC_OUT}, ["(ALPHA)", "0.9"]),
    "alpha-text": Case({**ATTR, "ALPHA": "five", **PC_OUT}, ["(ALPHA)", "five"]),
    "dominant-r-is-input": Case({**ATTR, **PC_OUT, "DOMINANT_R": "{er}"}, ["(DOMINANT_R)", "destroy the input"]),
    "dominant-r-equal-dominant": Case({**ATTR, **PC_OUT, "DOMINANT_R": "{out}/dom.tif"},
                                      ["(DOMINANT_R)", "also the output"]),
}
RF_CASES = {
    **{k: Case({**c.params, "N_TREES": "10"}, c.expect, c.fsize) for k, c in ATTRIBUTION_CASES.items()},
    "trees-zero": Case({**ATTR, "N_TREES": "0", **ATTR_OUT}, ["(N_TREES)", "0"]),
    "max-depth-zero": Case({**ATTR, "MAX_DEPTH": "0", **ATTR_OUT}, ["(MAX_DEPTH)", "0"]),
    "importance-out-of-range": Case({**ATTR, "IMPORTANCE": "5", **ATTR_OUT}, ["(IMPORTANCE)", "'5'"]),
    "max-seconds-negative": Case({**ATTR, "MAX_SECONDS": "-1", **ATTR_OUT}, ["(MAX_SECONDS)", "-1"]),
    "min-samples-leaf-zero": Case({**ATTR, "MIN_SAMPLES_LEAF": "0", **ATTR_OUT}, ["(MIN_SAMPLES_LEAF)", "0"]),
    "max-features-above-1": Case({**ATTR, "MAX_FEATURES": "1.5", **ATTR_OUT}, ["(MAX_FEATURES)", "1.5"]),
    "seed-text": Case({**ATTR, "SEED": "lucky", **ATTR_OUT}, ["(SEED)", "lucky"]),
}

ZONES_OUT = {"OUTPUT": "{out}/zones.csv"}
ZONES = {"DOMINANT": "{dominant}", "ZONES": "{zones}", "ZONE_TYPE": "0"}
ZONES_CASES = {
    "dominant-missing": Case({**ZONES, "DOMINANT": "{nothere}", **ZONES_OUT}, ["(DOMINANT)", "nothere.tif"]),
    "dominant-empty": Case({**ZONES, "DOMINANT": "{empty}", **ZONES_OUT}, ["(DOMINANT)", "empty.tif"]),
    "dominant-text": Case({**ZONES, "DOMINANT": "{text}", **ZONES_OUT}, ["(DOMINANT)", "text.tif"]),
    "dominant-truncated": Case({**ZONES, "DOMINANT": "{truncated}", **ZONES_OUT}, ["(DOMINANT)", "truncated.tif"]),
    "dominant-is-table": Case({**ZONES, "DOMINANT": "{table}", **ZONES_OUT}, ["(DOMINANT)", "table.csv"]),
    "dominant-without-class-names": Case({**ZONES, "DOMINANT": "{dominant_unnamed}", **ZONES_OUT},
                                         ["(DOMINANT)", "dominant_unnamed.tif", "CLASS_NAMES"]),
    "dominant-bad-class-names": Case({**ZONES, "DOMINANT": "{dominant_bad_names}", **ZONES_OUT},
                                     ["(DOMINANT)", "dominant_bad_names.tif", "CLASS_NAMES"]),
    "dominant-is-a-series": Case({**ZONES, "DOMINANT": "{er}", **ZONES_OUT}, ["(DOMINANT)", "er.tif"]),
    "zones-missing": Case({**ZONES, "ZONES": "{nothere}", **ZONES_OUT}, ["(ZONES)", "nothere.tif"]),
    "zones-is-table": Case({**ZONES, "ZONES": "{table}", **ZONES_OUT}, ["(ZONES)", "table.csv"]),
    "zones-text": Case({**ZONES, "ZONES": "{text}", **ZONES_OUT}, ["(ZONES)", "text.tif"]),
    "zones-other-grid": Case({**ZONES, "ZONES": "{zones_other_grid}", **ZONES_OUT}, ["(ZONES)", "grid"]),
    "dominant-other-grid": Case({**ZONES, "DOMINANT": "{dominant_other_grid}", **ZONES_OUT}, ["(ZONES)", "grid"]),
    "zones-other-crs": Case({**ZONES, "ZONES": "{zones_other_crs}", **ZONES_OUT}, ["(ZONES)", "zones_other_crs.tif"]),
    "zones-all-nodata": Case({**ZONES, "ZONES": "{zones_nodata}", **ZONES_OUT},
                             ["(ZONES)", "zones_nodata.tif", "has no value"]),
    "zone-type-out-of-range": Case({**ZONES, "ZONE_TYPE": "5", **ZONES_OUT}, ["(ZONE_TYPE)", "'5'"]),
    "zone-names-garbage": Case({**ZONES, "ZONE_NAMES": "1 boreal", **ZONES_OUT}, ["(ZONE_NAMES)", "1 boreal"]),
    "groups-unknown-group": Case({**ZONES, "GROUPS": "TA=hot", **ZONES_OUT}, ["(GROUPS)", "hot"]),
    "groups-without-equals": Case({**ZONES, "GROUPS": "TA", **ZONES_OUT}, ["(GROUPS)", "TA"]),
    "groups-unknown-driver": Case({**ZONES, "GROUPS": "XX=water", **ZONES_OUT}, ["(GROUPS)", "XX"]),
    "output-is-input": Case({**ZONES, "OUTPUT": "{dominant}"}, ["(OUTPUT)", "destroy the input"]),
    "output-folder-missing": Case({**ZONES, "OUTPUT": "{out}/no/such/zones.csv"}, ["(OUTPUT)", "does not exist"]),
    "output-is-a-folder": Case({**ZONES, "OUTPUT": "{out}"}, ["(OUTPUT)", "is a folder"]),
    "disk-full": Case({**ZONES, **ZONES_OUT}, ["zones.csv", "cannot be written"], fsize=200),
}

DD_OUT = {"OUTPUT": "{out}/d.tif"}
DD = {"KIND": "0", "FIRST": "{vap}", "SECOND": "{tmp}"}   # rh from vap (hPa) and tmp (degC)
DERIVE_CASES = {
    "no-first-input": Case({"KIND": "0", "SECOND": "{tmp}", **DD_OUT}, ["(FIRST)", "(FIRST_FILE)"]),
    "first-and-first-file": Case({**DD, "FIRST_FILE": "{nc}", "FIRST_VARIABLE": "tas", **DD_OUT},
                                 ["(FIRST)", "(FIRST_FILE)", "exactly one"]),
    "first-missing": Case({**DD, "FIRST": "{nothere}", **DD_OUT}, ["(FIRST)", "nothere.tif"]),
    "first-empty": Case({**DD, "FIRST": "{empty}", **DD_OUT}, ["(FIRST)", "empty.tif"]),
    "first-text": Case({**DD, "FIRST": "{text}", **DD_OUT}, ["(FIRST)", "text.tif"]),
    "first-truncated": Case({**DD, "FIRST": "{truncated}", **DD_OUT}, ["(FIRST)", "truncated.tif"]),
    "first-is-table": Case({**DD, "FIRST": "{table}", **DD_OUT}, ["(FIRST)", "table.csv"]),
    "first-file-missing": Case({"KIND": "3", "FIRST_FILE": "{nothere}", **DD_OUT}, ["(FIRST_FILE)", "nothere.tif"]),
    "first-file-unknown-variable": Case({"KIND": "3", "FIRST_FILE": "{nc}", "FIRST_VARIABLE": "nee", **DD_OUT},
                                        ["nee", "tas"]),
    "first-no-dates": Case({"KIND": "3", "FIRST": "{er_undated}", **DD_OUT}, ["er_undated.tif", "date"]),
    "first-dates-garbage": Case({**DD, "FIRST_DATES": "yesterday", **DD_OUT},
                                ["(FIRST_DATES)", "cannot read 'yesterday' as a date"]),
    "second-dates-wrong-count": Case({**DD, "SECOND_DATES": "2000-01-01, 2001-01-01", **DD_OUT},
                                     ["(SECOND_DATES)", "2 dates"]),
    "second-missing-for-rh": Case({"KIND": "0", "FIRST": "{vap}", **DD_OUT}, ["(SECOND)", "(SECOND_FILE)"]),
    "second-other-grid": Case({**DD, "SECOND": "{ta_other_grid}", **DD_OUT}, ["ta_other_grid.tif", "grid"]),
    "second-other-size": Case({**DD, "SECOND": "{ta_small}", **DD_OUT}, ["ta_small.tif", "grid"]),
    "second-other-crs": Case({**DD, "SECOND": "{ta_other_crs}", **DD_OUT}, ["ta_other_crs.tif"]),
    "second-other-dates": Case({**DD, "SECOND": "{ta_other_dates}", **DD_OUT}, ["ta_other_dates.tif", "date"]),
    "second-fewer-time-steps": Case({**DD, "SECOND": "{ta_short}", **DD_OUT}, ["ta_short.tif", "24"]),
    "first-all-nodata": Case({**DD, "FIRST": "{ta_nodata}", **DD_OUT}, ["(FIRST)", "ta_nodata.tif"]),
    "kind-out-of-range": Case({**DD, "KIND": "12", **DD_OUT}, ["Derived driver (KIND)", "'12'"]),
    "seconds-zero": Case({"KIND": "5", "FIRST": "{pre}", "SECONDS": "0", **DD_OUT}, ["(SECONDS)", "0"]),
    "seconds-text": Case({"KIND": "5", "FIRST": "{pre}", "SECONDS": "a day", **DD_OUT}, ["(SECONDS)", "a day"]),
    "memory-budget-below-minimum": Case({**DD, "MEMORY_MB": "1", **DD_OUT}, ["(MEMORY_MB)", "16 to 65536"]),
    "output-is-first": Case({**DD, "OUTPUT": "{vap}"}, ["(OUTPUT)", "destroy the input"]),
    "output-is-second": Case({**DD, "OUTPUT": "{tmp}"}, ["(OUTPUT)", "destroy the input"]),
    "output-folder-missing": Case({**DD, "OUTPUT": "{out}/no/such/d.tif"}, ["(OUTPUT)", "does not exist"]),
    "output-is-a-folder": Case({**DD, "OUTPUT": "{out}"}, ["(OUTPUT)", "is a folder"]),
    "disk-full": Case({**DD, **DD_OUT}, ["d.tif", "cannot be written"], fsize=2000),
}


@pytest.mark.parametrize(**table({"partialcorrelation": PARTIAL_CASES, "rfattribution": RF_CASES,
                                 "attributionzones": ZONES_CASES, "derivedriver": DERIVE_CASES}))
def test_bad_input(inputs, algorithm, case, tmp_path):
    run_case(algorithm, case, inputs, tmp_path)
