"""Bad inputs of the table algorithms (ecoresp:evaluate, ecoresp:isotopepartition,
ecoresp:sitemonthtable) through qgis_process: each case must end with exit 1, a message naming the
parameter and the problem, no traceback, nothing left behind and nothing changed (harness.py).
Cases that fail today because the product lacks a check are marked xfail(strict) with the defect."""

import gzip
import os
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import DATA, monthly_dates, write_stack
from harness import Case, needs_qgis_process, run_case, table

pytestmark = needs_qgis_process



def build_inputs(folder):
    """Valid tables (an ER series with a reference, an isotope table, a partition output of DE-Hai)
    and broken ones, written into ``folder``; returns {placeholder: path}."""
    names = {"er": "er.csv", "iso": "iso.csv", "part": "DE-Hai_partition.csv", "ref": "iso_er.csv",
             "empty": "empty.csv", "garbage": "garbage.csv", "truncated": "truncated.csv.gz", "raster": "raster.tif",
             "header_only": "header_only.csv", "one_row": "one_row.csv", "sim_text": "sim_text.csv",
             "sim_nan": "sim_nan.csv", "sim_inf": "sim_inf.csv", "time_text": "time_text.csv",
             "ref_text": "ref_text.csv", "iso_nee_text": "iso_nee_text.csv", "iso_nee_nan": "iso_nee_nan.csv",
             "iso_dn_inf": "iso_dn_inf.csv", "part_er_text": "DE-Hai_er_text.csv",
             "part_no_time": "DE-Hai_no_time.csv", "part_nan": "DE-Hai_nan.csv"}
    paths = {k: str(folder / v) for k, v in names.items()}
    idx = pd.date_range("2015-06-01", periods=48 * 20, freq="30min")
    hour = idx.hour.values + idx.minute.values / 60
    truth = 3 + 0.5 * np.sin(2 * np.pi * hour / 24)
    sim = truth * 1.05 + np.random.default_rng(15).normal(0, 0.3, len(idx))
    er = pd.DataFrame({"TIMESTAMP_START": idx.strftime("%Y-%m-%d %H:%M:%S"), "RECO_X": sim, "ER_REF": truth,
                       "IS_DAY": ((hour > 7) & (hour < 18)).astype(int), "LABEL": "x"})
    er.to_csv(paths["er"], index=False)
    pd.DataFrame({"TIMESTAMP": idx.strftime("%Y-%m-%d %H:%M"), "ER": truth}).to_csv(paths["ref"], index=False)
    pd.DataFrame({"TIMESTAMP": idx.strftime("%Y-%m-%d %H:%M"), "ER": "n/a"}).to_csv(paths["ref_text"], index=False)
    er.assign(RECO_X="n/a").to_csv(paths["sim_text"], index=False)
    er.assign(RECO_X=np.nan).to_csv(paths["sim_nan"], index=False)
    er.assign(RECO_X=np.inf).to_csv(paths["sim_inf"], index=False)
    er.assign(TIMESTAMP_START="yesterday").to_csv(paths["time_text"], index=False)
    er.iloc[:1].to_csv(paths["one_row"], index=False)
    er.iloc[:0].to_csv(paths["header_only"], index=False)
    iso = pd.DataFrame({"TIMESTAMP_START": idx[:48].strftime("%Y-%m-%d %H:%M"), "NEE": -10.0 + np.arange(48) * 0.1,
                        "dN": -28.25, "dR": -26.0, "dA": -27.5})
    iso.to_csv(paths["iso"], index=False)
    iso.assign(NEE="n/a").to_csv(paths["iso_nee_text"], index=False)
    iso.assign(NEE=np.nan).to_csv(paths["iso_nee_nan"], index=False)
    iso.assign(dN=np.inf).to_csv(paths["iso_dn_inf"], index=False)
    hai = pd.read_csv(os.path.join(DATA, "flux", "FLX_DE-Hai_FLUXNET2015_zarrsubset_HH_2007-2008.csv.gz"))
    hai = hai[(hai.TIMESTAMP_START >= 200706010000) & (hai.TIMESTAMP_START < 200708010000)]
    stamps = pd.to_datetime(hai.TIMESTAMP_START.astype(str), format="%Y%m%d%H%M").dt.strftime("%Y-%m-%dT%H:%M:%S")
    part = pd.DataFrame({"TIMESTAMP_START": stamps.to_numpy(), "NEE_QC": hai.NEE_VUT_REF_QC.to_numpy(),
                         "RECO_NT": hai.RECO_NT_DERIVED.to_numpy()})
    part.to_csv(paths["part"], index=False)
    part.assign(RECO_NT="n/a").to_csv(paths["part_er_text"], index=False)
    part.assign(RECO_NT=np.nan).to_csv(paths["part_nan"], index=False)
    part.drop(columns=["TIMESTAMP_START"]).to_csv(paths["part_no_time"], index=False)
    open(paths["empty"], "w").close()
    open(paths["garbage"], "wb").write(b"not a table at all\n\x00\x01\x02\xff\xfe\n")
    blob = gzip.compress(open(paths["er"], "rb").read())
    open(paths["truncated"], "wb").write(blob[: len(blob) // 2])
    write_stack(paths["raster"], np.ones((2, 3, 4)), monthly_dates(2007, 2))
    shutil.copy(os.path.join(DATA, "sites", "fluxnet2015_site_month.csv"), folder / "site_month.csv")
    paths["site_month"] = str(folder / "site_month.csv")
    return paths


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return build_inputs(tmp_path_factory.mktemp("table-inputs"))


def table_cases(base, out):
    """The cases every algorithm reading one table in INPUT shares; ``base``: its other parameters."""
    return {
        "missing-file": Case({**base, "INPUT": "{out}/nothere.csv", **out}, ["(INPUT)", "nothere.csv"]),
        "empty-file": Case({**base, "INPUT": "{empty}", **out}, ["(INPUT)", "empty.csv"]),
        "binary-garbage": Case({**base, "INPUT": "{garbage}", **out}, ["(INPUT)", "garbage.csv"]),
        "truncated-gzip": Case({**base, "INPUT": "{truncated}", **out}, ["(INPUT)", "truncated.csv.gz"]),
        "raster-as-table": Case({**base, "INPUT": "{raster}", **out}, ["(INPUT)", "raster.tif"]),
        "output-folder-missing": Case({**base, "OUTPUT": "{out}/no/such/o.csv"}, ["(OUTPUT)", "does not exist"]),
        "output-is-a-folder": Case({**base, "OUTPUT": "{out}"}, ["(OUTPUT)", "is a folder"]),
    }


EVAL_OUT = {"OUTPUT": "{out}/metrics.csv"}
EVAL = {"INPUT": "{er}", "TIME_FIELD": "TIMESTAMP_START", "SIM_FIELD": "RECO_X", "OBS_FIELD": "ER_REF"}
EVAL_FILE = {"INPUT": "{er}", "TIME_FIELD": "TIMESTAMP_START", "SIM_FIELD": "RECO_X", "REFERENCE_FILE": "{ref}",
             "REF_TIME_COLUMN": "TIMESTAMP", "REF_VALUE_COLUMN": "ER"}
EVALUATE_CASES = {
    **table_cases(EVAL, EVAL_OUT),
    "header-only": Case({**EVAL, "INPUT": "{header_only}", **EVAL_OUT},
                        ["(INPUT)", "header_only.csv", "at least 2 time steps"]),
    "single-time-step": Case({**EVAL, "INPUT": "{one_row}", **EVAL_OUT},
                             ["(INPUT)", "one_row.csv", "at least 2 time steps"]),
    "sim-field-missing": Case({**EVAL, "SIM_FIELD": "NOPE", **EVAL_OUT}, ["(INPUT)", "has no field(s) NOPE"]),
    "obs-field-missing": Case({**EVAL, "OBS_FIELD": "NOPE", **EVAL_OUT}, ["(INPUT)", "has no field(s) NOPE"]),
    "sim-field-text": Case({**EVAL, "INPUT": "{sim_text}", **EVAL_OUT}, ["(INPUT)", "field RECO_X", "not numbers"]),
    "sim-field-is-label-column": Case({**EVAL, "SIM_FIELD": "LABEL", **EVAL_OUT},
                                       ["(INPUT)", "field LABEL", "not numbers"]),
    "sim-all-nan": Case({**EVAL, "INPUT": "{sim_nan}", **EVAL_OUT},
                        ["(SIM_FIELD)", "field RECO_X", "sim_nan.csv", "holds no number"]),
    "sim-all-inf": Case({**EVAL, "INPUT": "{sim_inf}", **EVAL_OUT},
                        ["(SIM_FIELD)", "field RECO_X", "sim_inf.csv", "960 value(s) are infinite"]),
    "time-field-missing": Case({**EVAL, "TIME_FIELD": "NOPE", **EVAL_OUT}, ["(INPUT)", "has no field(s) NOPE"]),
    "time-field-garbage": Case({**EVAL, "INPUT": "{time_text}", **EVAL_OUT}, ["(TIME_FIELD)", "yesterday"]),
    "day-field-missing": Case({**EVAL, "DAY_FIELD": "NOPE", **EVAL_OUT}, ["(DAY_FIELD)", "NOPE"]),
    "no-reference": Case({k: v for k, v in EVAL.items() if k != "OBS_FIELD"} | EVAL_OUT, ["Give a reference"]),
    "reference-file-missing": Case({**EVAL_FILE, "REFERENCE_FILE": "{out}/nothere.csv", **EVAL_OUT},
                                   ["(REFERENCE_FILE)", "nothere.csv"]),
    "reference-file-empty": Case({**EVAL_FILE, "REFERENCE_FILE": "{empty}", **EVAL_OUT},
                                 ["(REFERENCE_FILE)", "empty.csv"]),
    "reference-file-is-raster": Case({**EVAL_FILE, "REFERENCE_FILE": "{raster}", **EVAL_OUT},
                                     ["(REFERENCE_FILE)", "raster.tif"]),
    "reference-time-column-missing": Case({**EVAL_FILE, "REF_TIME_COLUMN": "NOPE", **EVAL_OUT},
                                          ["(REF_TIME_COLUMN)", "iso_er.csv", "'NOPE' not found"]),
    "reference-value-column-missing": Case({**EVAL_FILE, "REF_VALUE_COLUMN": "NOPE", **EVAL_OUT},
                                           ["(REF_VALUE_COLUMN)", "iso_er.csv", "'NOPE' not found"]),
    "reference-values-text": Case({**EVAL_FILE, "REFERENCE_FILE": "{ref_text}", **EVAL_OUT},
                                  ["(REF_VALUE_COLUMN)", "ref_text.csv", "column 'ER'", "not numbers"]),
    "ref-time-convention-out-of-range": Case({**EVAL_FILE, "REF_TIME_CONVENTION": "5", **EVAL_OUT},
                                             ["(REF_TIME_CONVENTION)", "'5'"]),
    "ref-utc-offset-out-of-range": Case({**EVAL_FILE, "REF_UTC_OFFSET": "99", **EVAL_OUT},
                                        ["(REF_UTC_OFFSET)", "99"]),
    "ref-utc-offset-text": Case({**EVAL_FILE, "REF_UTC_OFFSET": "one", **EVAL_OUT}, ["(REF_UTC_OFFSET)", "one"]),
    "output-is-input": Case({**EVAL, "OUTPUT": "{er}"}, ["(OUTPUT)", "destroy the input"]),
    "report-is-reference-file": Case({**EVAL_FILE, "REPORT": "{ref}", **EVAL_OUT},
                                     ["(REPORT)", "destroy the input"]),
    "report-equal-output": Case({**EVAL, "REPORT": "{out}/metrics.csv", **EVAL_OUT},
                                ["(REPORT)", "also the output"]),
    "report-folder-missing": Case({**EVAL, "REPORT": "{out}/no/r.html", **EVAL_OUT}, ["(REPORT)", "does not exist"]),
    "disk-full-report": Case({**EVAL, "REPORT": "{out}/r.html", **EVAL_OUT},
                             ["(REPORT)", "r.html", "cannot be written"], fsize=2000),
}

ISO_OUT = {"OUTPUT": "{out}/iso_out.csv"}
ISO = {"INPUT": "{iso}", "TIME_FIELD": "TIMESTAMP_START", "NEE_FIELD": "NEE", "DELTA_N_FIELD": "dN",
       "DELTA_R": "-26", "DELTA_A": "-27.5"}
ISOTOPE_CASES = {
    **table_cases(ISO, ISO_OUT),
    "header-only": Case({**ISO, "INPUT": "{header_only}", **ISO_OUT}, ["(INPUT)", "header_only.csv"]),
    "nee-field-missing": Case({**ISO, "NEE_FIELD": "NOPE", **ISO_OUT}, ["(INPUT)", "has no field(s) NOPE"]),
    "nee-field-text": Case({**ISO, "INPUT": "{iso_nee_text}", **ISO_OUT},
                           ["(INPUT)", "field NEE has no numeric value"]),
    "nee-all-nan": Case({**ISO, "INPUT": "{iso_nee_nan}", **ISO_OUT},
                        ["(INPUT)", "field NEE has no numeric value"]),
    "delta-n-inf": Case({**ISO, "INPUT": "{iso_dn_inf}", **ISO_OUT},
                        ["(DELTA_N_FIELD)", "field dN", "iso_dn_inf.csv", "48 value(s) are infinite"]),
    "delta-n-field-missing": Case({**ISO, "DELTA_N_FIELD": "NOPE", **ISO_OUT}, ["(INPUT)", "has no field(s) NOPE"]),
    "no-delta-n-nor-isoflux": Case({k: v for k, v in ISO.items() if k != "DELTA_N_FIELD"} | ISO_OUT,
                                   ["(DELTA_N_FIELD)", "(ISOFLUX_FIELD)"]),
    "delta-n-and-isoflux": Case({**ISO, "ISOFLUX_FIELD": "dN", **ISO_OUT}, ["(DELTA_N_FIELD)", "(ISOFLUX_FIELD)"]),
    "delta-r-field-missing": Case({**ISO, "DELTA_R_FIELD": "NOPE", **ISO_OUT}, ["(INPUT)", "has no field(s) NOPE"]),
    "delta-a-field-missing": Case({**ISO, "DELTA_A_FIELD": "NOPE", **ISO_OUT}, ["(INPUT)", "has no field(s) NOPE"]),
    "delta-r-text": Case({**ISO, "DELTA_R": "minus26", **ISO_OUT}, ["(DELTA_R)", "minus26"]),
    "no-disequilibrium": Case({**ISO, "DELTA_R": "-27.5", **ISO_OUT}, ["(MIN_DISEQUILIBRIUM)"]),
    "min-disequilibrium-negative": Case({**ISO, "MIN_DISEQUILIBRIUM": "-1", **ISO_OUT},
                                        ["(MIN_DISEQUILIBRIUM)", "-1"]),
    "output-is-input": Case({**ISO, "OUTPUT": "{iso}"}, ["(OUTPUT)", "destroy the input"]),
    "disk-full": Case({**ISO, **ISO_OUT}, ["iso_out.csv", "cannot be written"], fsize=1000),
}

SMT_OUT = {"OUTPUT": "{out}/sm.csv"}
SMT = {"INPUTS": "{part}", "ER_FIELD": "RECO_NT", "QC_FIELD": "NEE_QC"}
SITEMONTH_CASES = {
    "no-input": Case({"ER_FIELD": "RECO_NT", **SMT_OUT}, ["(INPUTS)", "(INPUT_TABLE)"]),
    "missing-file": Case({**SMT, "INPUTS": "{out}/DE-Hai_nothere.csv", **SMT_OUT},
                         ["(INPUTS)", "DE-Hai_nothere.csv", "not found"]),
    "empty-file": Case({**SMT, "INPUTS": "{empty}", **SMT_OUT}, ["(INPUTS)", "empty.csv"]),
    "binary-garbage": Case({**SMT, "INPUTS": "{garbage}", **SMT_OUT}, ["(INPUTS)", "garbage.csv"]),
    "raster-as-table": Case({**SMT, "INPUTS": "{raster}", **SMT_OUT}, ["(INPUTS)", "raster.tif"]),
    "input-table-is-raster": Case({"INPUT_TABLE": "{raster}", "ER_FIELD": "RECO_NT", "SITE_IDS": "DE-Hai",
                                   **SMT_OUT}, ["(INPUT_TABLE)", "raster.tif"]),
    "er-field-missing": Case({**SMT, "ER_FIELD": "NOPE", **SMT_OUT},
                             ["(ER_FIELD)", "NOPE missing", "DE-Hai_partition.csv"]),
    "er-field-text": Case({**SMT, "INPUTS": "{part_er_text}", **SMT_OUT},
                          ["(ER_FIELD)", "column RECO_NT", "DE-Hai_er_text.csv", "not numbers", "'n/a'"]),
    "er-all-nan": Case({**SMT, "INPUTS": "{part_nan}", **SMT_OUT},
                       ["(ER_FIELD)", "column RECO_NT", "DE-Hai_nan.csv", "holds no number"]),
    "no-time-column": Case({**SMT, "INPUTS": "{part_no_time}", **SMT_OUT}, ["(INPUTS)", "DE-Hai_no_time.csv"]),
    "qc-field-missing": Case({**SMT, "QC_FIELD": "NOPE", **SMT_OUT},
                             ["(QC_FIELD)", "NOPE missing", "DE-Hai_partition.csv"]),
    "site-ids-wrong-count": Case({**SMT, "SITE_IDS": "DE-Hai,FR-Pue", **SMT_OUT}, ["(SITE_IDS)", "2"]),
    "sites-is-raster": Case({**SMT, "SITES": "{raster}", **SMT_OUT}, ["(SITES)", "raster.tif"]),
    "driver-is-table": Case({**SMT, "DRIVERS": "{er}", **SMT_OUT}, ["(DRIVERS)", "er.csv"]),
    "driver-files-not-name-source": Case({**SMT, "DRIVER_FILES": "tmp {raster}", **SMT_OUT},
                                         ["(DRIVER_FILES)", "is not name=source"]),
    "driver-files-missing-file": Case({**SMT, "DRIVER_FILES": "tmp={out}/nothere.tif", **SMT_OUT},
                                      ["(DRIVER_FILES)", "driver tmp", "nothere.tif", "not found"]),
    "driver-files-table": Case({**SMT, "DRIVER_FILES": "tmp={er}", **SMT_OUT}, ["(DRIVER_FILES)", "er.csv"]),
    "append-missing-file": Case({**SMT, "APPEND": "{out}/nothere.csv", **SMT_OUT}, ["(APPEND)", "nothere.csv"]),
    "append-is-raster": Case({**SMT, "APPEND": "{raster}", **SMT_OUT}, ["(APPEND)", "raster.tif"]),
    "append-er-field-missing": Case({**SMT, "APPEND": "{site_month}", "APPEND_ER_FIELD": "NOPE", **SMT_OUT},
                                    ["(APPEND_ER_FIELD)", "NOPE missing", "site_month.csv"]),
    "min-coverage-above-1": Case({**SMT, "MIN_COVERAGE": "2", **SMT_OUT}, ["(MIN_COVERAGE)", "2"]),
    "min-coverage-text": Case({**SMT, "MIN_COVERAGE": "most", **SMT_OUT}, ["(MIN_COVERAGE)", "most"]),
    "output-is-input": Case({**SMT, "OUTPUT": "{part}"}, ["(OUTPUT)", "destroy the input"]),
    "output-folder-missing": Case({**SMT, "OUTPUT": "{out}/no/such/sm.csv"}, ["(OUTPUT)", "does not exist"]),
    "output-is-a-folder": Case({**SMT, "OUTPUT": "{out}"}, ["(OUTPUT)", "is a folder"]),
    "disk-full": Case({**SMT, **SMT_OUT}, ["sm.csv", "cannot be written"], fsize=200),
}


@pytest.mark.parametrize(**table({"evaluate": EVALUATE_CASES, "isotopepartition": ISOTOPE_CASES,
                                 "sitemonthtable": SITEMONTH_CASES}))
def test_bad_input(inputs, algorithm, case, tmp_path):
    run_case(algorithm, case, inputs, tmp_path)
