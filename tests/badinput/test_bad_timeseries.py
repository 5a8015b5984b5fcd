"""Bad inputs of ecoresp:trend and ecoresp:detrend (the raster time-series algorithms) through
qgis_process: each case must end with exit 1, a message naming the parameter and the problem, no
traceback, nothing left behind and nothing changed (harness.py)."""

import os
import shutil

import numpy as np
import pytest
from conftest import DATA, annual_dates, write_stack
from harness import Case, needs_qgis_process, run_case, table

pytestmark = needs_qgis_process

OUT = {"OUTPUT": "{out}/t.tif"}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Valid and broken time-series inputs, written once for the module."""
    folder = tmp_path_factory.mktemp("timeseries-inputs")
    rng = np.random.default_rng(15)
    values = rng.normal(size=(12, 3, 4)) + 0.3 * np.arange(12)[:, None, None]
    stack = write_stack(folder / "stack.tif", values, annual_dates(2000, 12))
    raw = open(stack, "rb").read()
    paths = {"stack": stack, "nc": str(folder / "cru.nc"), "empty": str(folder / "empty.tif"),
             "truncated": str(folder / "truncated.tif"), "text": str(folder / "text.tif"),
             "table": str(folder / "table.csv"), "nodata": str(folder / "nodata.tif"),
             "single": str(folder / "single.tif"), "undated": str(folder / "undated.tif")}
    shutil.copy(os.path.join(DATA, "cru_ts400_iberia_1981-2010_monthly.nc"), paths["nc"])
    open(paths["empty"], "wb").close()
    open(paths["truncated"], "wb").write(raw[: len(raw) // 3])
    open(paths["text"], "w").write("this is not a raster\n")
    open(paths["table"], "w").write("date,value\n2000-01-01,1\n")
    write_stack(paths["nodata"], np.full((12, 3, 4), np.nan), annual_dates(2000, 12), nodata=-9999)
    write_stack(paths["single"], values[:1], annual_dates(2000, 1))
    write_stack(paths["undated"], values, None)
    return paths


# the cases every raster time-series algorithm shares (TimeSeriesInput): input, dates, outputs
TIME_SERIES_CASES = {
    "no-input": Case(OUT, ["exactly one of the two", "none is given"]),
    "both-inputs": Case({"INPUT": "{stack}", "INPUT_FILE": "{nc}", **OUT}, ["exactly one of the two", "not both"]),
    "missing-file": Case({"INPUT": "{out}/nothere.tif", **OUT}, ["(INPUT)", "file not found", "nothere.tif"]),
    "missing-input-file": Case({"INPUT_FILE": "{out}/nothere.nc", **OUT}, ["(INPUT_FILE)", "file not found"]),
    "empty-file": Case({"INPUT": "{empty}", **OUT}, ["(INPUT)", "empty.tif", "is not a raster"]),
    "truncated-geotiff": Case({"INPUT": "{truncated}", **OUT}, ["(INPUT)", "truncated.tif"]),
    "text-file": Case({"INPUT": "{text}", **OUT}, ["(INPUT)", "text.tif", "is not a raster"]),
    "table-as-raster": Case({"INPUT": "{table}", **OUT}, ["(INPUT)", "table.csv", "is not a raster"]),
    "netcdf-without-variable": Case({"INPUT_FILE": "{nc}", **OUT}, ["variable", "tas"]),
    "netcdf-unknown-variable": Case({"INPUT_FILE": "{nc}", "VARIABLE": "nee", **OUT}, ["nee", "tas"]),
    "single-time-step": Case({"INPUT": "{single}", **OUT}, ["(INPUT)", "single.tif", "1 band"]),
    "no-dates": Case({"INPUT": "{undated}", **OUT}, ["undated.tif", "date"]),
    "dates-override-garbage": Case({"INPUT": "{stack}", "DATES": "yesterday", **OUT},
                                   ["(DATES)", "cannot read 'yesterday' as a date"]),
    "dates-override-wrong-count": Case({"INPUT": "{stack}", "DATES": "2000-01-01, 2001-01-01", **OUT},
                                       ["(DATES)", "2 dates", "12 bands"]),
    "output-is-input": Case({"INPUT": "{stack}", "OUTPUT": "{stack}"}, ["(OUTPUT)", "destroy the input"]),
    "output-folder-missing": Case({"INPUT": "{stack}", "OUTPUT": "{out}/no/such/folder/t.tif"},
                                  ["(OUTPUT)", "does not exist"]),
    "output-is-a-folder": Case({"INPUT": "{stack}", "OUTPUT": "{out}"}, ["(OUTPUT)", "is a folder"]),
    "memory-budget-below-minimum": Case({"INPUT": "{stack}", "MEMORY_MB": "1", **OUT},
                                        ["Memory budget for raster blocks (MB) (MEMORY_MB)", "16 to 65536"]),
    "disk-full": Case({"INPUT": "{stack}", **OUT}, ["t.tif", "cannot be written"], fsize=2000),
}

TREND_CASES = {
    **TIME_SERIES_CASES,
    "classes-equal-output": Case({"INPUT": "{stack}", "OUTPUT": "{out}/t.tif", "CLASSES": "{out}/t.tif"},
                                 ["Trend significance classes (CLASSES)", "also the output"]),
    "classes-equal-input": Case({"INPUT": "{stack}", "CLASSES": "{stack}", **OUT}, ["(CLASSES)", "destroy the input"]),
    "alpha-too-large": Case({"INPUT": "{stack}", "ALPHA": "0.9", **OUT},
                            ["Significance level (alpha) (ALPHA)", "0.9", "to 0.5"]),
    "alpha-text": Case({"INPUT": "{stack}", "ALPHA": "five", **OUT}, ["(ALPHA)", "five"]),
    "min-valid-below-3": Case({"INPUT": "{stack}", "MIN_VALID": "2", **OUT},
                              ["Minimum number of valid time steps (MIN_VALID)", "give 3 or more"]),
    "variant-out-of-range": Case({"INPUT": "{stack}", "VARIANT": "9", **OUT}, ["Test (VARIANT)", "'9'"]),
}
DETREND_CASES = {
    **TIME_SERIES_CASES,
    "method-out-of-range": Case({"INPUT": "{stack}", "METHOD": "5", **OUT}, ["Method (METHOD)", "'5'"]),
}


@pytest.mark.parametrize(**table({"trend": TREND_CASES, "detrend": DETREND_CASES}))
def test_bad_input(inputs, algorithm, case, tmp_path):
    run_case(algorithm, case, inputs, tmp_path)
