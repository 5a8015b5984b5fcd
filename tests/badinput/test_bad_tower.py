"""Bad inputs of the tower-file algorithms (ecoresp:partition, ecoresp:gapfill,
ecoresp:ustarthreshold) through qgis_process: each case must end with exit 1, a message naming
the parameter and the problem, no traceback, nothing left behind and nothing changed
(harness.py)."""

import gzip
import os
import shutil

import pytest
from conftest import FLUX
from harness import Case, needs_qgis_process, run_case, table

pytestmark = needs_qgis_process

OUT = {"OUTPUT": "{out}/fluxes.csv"}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A valid REddyProc tower file (DE-Tha 1998) and broken ones, written once for the module."""
    folder = tmp_path_factory.mktemp("tower-inputs")
    tower = str(folder / "DETha98.txt")
    shutil.copy(os.path.join(FLUX, "Example_DETha98.txt"), tower)
    lines = [ln + "\n" for ln in open(tower).read().splitlines()]
    paths = {"tower": tower, **{k: str(folder / v) for k, v in {
        "empty": "empty.csv", "text": "text.csv", "truncated": "truncated.csv.gz", "raster": "raster.tif",
        "no_nee": "no_nee.txt", "header_only": "header_only.txt", "text_nee": "text_nee.txt",
        "duplicated": "duplicated.txt"}.items()}}
    open(paths["empty"], "w").close()
    open(paths["text"], "w").write("not a tower file at all\n\x00\x01\x02\n")
    blob = gzip.compress("".join(lines).encode())
    open(paths["truncated"], "wb").write(blob[: len(blob) // 2])
    shutil.copy(os.path.join(os.path.dirname(FLUX), "iberia", sorted(os.listdir(os.path.join(
        os.path.dirname(FLUX), "iberia")))[0]), paths["raster"])
    header = lines[0].split("\t")
    drop = header.index("NEE")
    open(paths["no_nee"], "w").write("".join("\t".join(c for i, c in enumerate(ln.rstrip("\n").split("\t"))
                                                       if i != drop) + "\n" for ln in lines))
    open(paths["header_only"], "w").write("".join(lines[:2]))
    open(paths["text_nee"], "w").write("".join(lines[:2]) + "".join(
        "\t".join("n/a" if i == drop else c for i, c in enumerate(ln.rstrip("\n").split("\t"))) + "\n"
        for ln in lines[2:]))
    open(paths["duplicated"], "w").write("".join(lines[:2]) + "".join(ln for ln in lines[2:] for _ in (0, 1)))
    return paths


TOWER_CASES = {
    "missing-file": Case({"INPUT": "{out}/nothere.csv", **OUT}, ["(INPUT)", "file not found", "nothere.csv"]),
    "empty-file": Case({"INPUT": "{empty}", **OUT}, ["(INPUT)", "empty.csv", "empty"]),
    "binary-garbage": Case({"INPUT": "{text}", **OUT}, ["(INPUT)", "text.csv"]),
    "truncated-gzip": Case({"INPUT": "{truncated}", **OUT}, ["(INPUT)", "truncated.csv.gz"]),
    "raster-as-tower-file": Case({"INPUT": "{raster}", **OUT}, ["(INPUT)", ".tif"]),
    "no-nee-column": Case({"INPUT": "{no_nee}", **OUT}, ["(INPUT)", "no_nee.txt", "NEE"]),
    "header-only": Case({"INPUT": "{header_only}", **OUT}, ["(INPUT)", "header_only.txt"]),
    "nee-all-text": Case({"INPUT": "{text_nee}", **OUT}, ["(INPUT)", "text_nee.txt", "NEE"]),
    "duplicated-records": Case({"INPUT": "{duplicated}", **OUT}, ["(INPUT)", "duplicated.txt", "1998-01-01"]),
    "format-out-of-range": Case({"INPUT": "{tower}", "FORMAT": "9", **OUT}, ["File format (FORMAT)", "'9'"]),
    "latitude-out-of-range": Case({"INPUT": "{tower}", "LATITUDE": "95", **OUT},
                                  ["(LATITUDE)", "95", "-90 to 90"]),
    "utc-offset-out-of-range": Case({"INPUT": "{tower}", "UTC_OFFSET": "99", **OUT}, ["(UTC_OFFSET)", "99"]),
    "column-mapping-without-equals": Case({"INPUT": "{tower}", "COLUMNS": "NEE", **OUT},
                                          ["Column mapping", "(COLUMNS)", "NEE"]),
    "column-mapping-to-missing-column": Case({"INPUT": "{tower}", "COLUMNS": "NEE=FC_NOPE", **OUT},
                                             ["FC_NOPE"]),
    "unknown-unit": Case({"INPUT": "{tower}", "UNITS": "VPD=furlongs", **OUT}, ["(INPUT)", "furlongs"]),
    "output-is-input": Case({"INPUT": "{tower}", "OUTPUT": "{tower}"}, ["(OUTPUT)", "destroy the input"]),
    "output-folder-missing": Case({"INPUT": "{tower}", "OUTPUT": "{out}/no/such/fluxes.csv"},
                                  ["(OUTPUT)", "does not exist"]),
    "output-is-a-folder": Case({"INPUT": "{tower}", "OUTPUT": "{out}"}, ["(OUTPUT)", "is a folder"]),
}

PARTITION_CASES = {
    **TOWER_CASES,
    "methods-out-of-range": Case({"INPUT": "{tower}", "METHODS": "99", **OUT}, ["(METHODS)", "99"]),
    "summary-equal-output": Case({"INPUT": "{tower}", "SUMMARY": "{out}/fluxes.csv", **OUT},
                                 ["Site-year summary (SUMMARY)", "also the output"]),
    "report-is-input": Case({"INPUT": "{tower}", "REPORT": "{tower}", **OUT}, ["Report (REPORT)", "destroy the input"]),
    "report-folder-missing": Case({"INPUT": "{tower}", "REPORT": "{out}/no/report.html", **OUT},
                                  ["Report (REPORT)", "does not exist"]),
}
GAPFILL_CASES = {
    **TOWER_CASES,
    "unknown-variable": Case({"INPUT": "{tower}", "VARIABLES": "NEE,XYZ", **OUT}, ["(VARIABLES)", "XYZ"]),
    "negative-ustar-threshold": Case({"INPUT": "{tower}", "USTAR_THRESHOLD": "-0.1", **OUT},
                                     ["(USTAR_THRESHOLD)", "-0.1"]),
    "metadata-equal-output": Case({"INPUT": "{tower}", "METADATA": "{out}/fluxes.csv", **OUT},
                                  ["(METADATA)", "also the output"]),
}
USTAR_CASES = {
    **TOWER_CASES,
    "method-out-of-range": Case({"INPUT": "{tower}", "METHOD": "7", **OUT}, ["Method (METHOD)", "'7'"]),
    "bootstrap-zero": Case({"INPUT": "{tower}", "BOOTSTRAP": "0", **OUT}, ["(BOOTSTRAP)", "1 to 10000"]),
}


# partition with the night-time method only and no evidence figures (the fastest run)
PARTITION_FAST = {k: Case({"METHODS": "NT", "EVIDENCE": "false", **c.params}, c.expect, c.fsize)
                  for k, c in PARTITION_CASES.items()}


@pytest.mark.parametrize(**table({"partition": PARTITION_FAST, "gapfill": GAPFILL_CASES,
                                  "ustarthreshold": USTAR_CASES}))
def test_bad_input(inputs, algorithm, case, tmp_path):
    run_case(algorithm, case, inputs, tmp_path)
