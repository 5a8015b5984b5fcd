"""Bad parameters and bad contents refused up front (issue 15, item 3): each case runs one
algorithm through qgis_process, as a user would, with one thing wrong, and must end with exit 1,
a message naming the parameter by its label (or the file and column) and what is wrong, and no
Python traceback. Missing-value codes (-9999) are read as missing, never as numbers."""

import json
import os

import numpy as np
import pandas as pd
import pytest
from conftest import DATA, FLUX, HAS_QGIS_PROCESS, annual_dates, monthly_dates, write_stack

pytestmark = [pytest.mark.qgis, pytest.mark.skipif(not HAS_QGIS_PROCESS, reason="needs qgis_process")]
THA = os.path.join(FLUX, "Example_DETha98.txt")
SITE_MONTH = os.path.join(DATA, "sites", "fluxnet2015_site_month.csv")
FEATURES = ["TA_F_degC", "SW_IN_F_W_m2", "VPD_F_hPa"]


def tha_slice(path, days=16, first_day=120, vpd_scale=1.0, nee=None):
    """A REddyProc slice of DE-Tha 1998 (no units row: no unit stated), VPD times ``vpd_scale``,
    NEE replaced by the text ``nee`` when given."""
    with open(THA) as fh:
        lines = fh.read().splitlines()
    head = lines[0].split("\t")
    rows = [line.split("\t") for line in lines[2 + first_day * 48:2 + (first_day + days) * 48]]
    for r in rows:
        if r[head.index("VPD")] != "-9999":
            r[head.index("VPD")] = f"{float(r[head.index('VPD')]) * vpd_scale:.4g}"
        if nee is not None:
            r[head.index("NEE")] = nee
    path.write_text("\n".join([lines[0]] + ["\t".join(r) for r in rows]) + "\n")
    return str(path)


def half_hours(n, start="2015-01-01"):
    return pd.date_range(start, periods=n, freq="30min")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Valid and broken inputs of every case, written once."""
    d = tmp_path_factory.mktemp("bad-parameters")
    p = {"out": str(d)}
    p["tha"] = tha_slice(d / "tha.txt")
    p["tha_kpa"] = tha_slice(d / "tha_kpa.txt", vpd_scale=0.1)
    p["tha_inf"] = tha_slice(d / "tha_inf.txt", nee="inf")
    # isotope table
    pd.DataFrame({"TIMESTAMP_START": ["2016-07-01 12:00", "2016-07-01 12:30", "2016-07-01 13:00"],
                  "NEE": [-10.0, -10.0, -8.0], "dN": [-28.25, -28.25, -27.0]}).to_csv(d / "iso.csv", index=False)
    p["iso"] = str(d / "iso.csv")
    # evaluation tables: four days of half-hours
    idx = half_hours(4 * 48)
    er = 3 + np.sin(np.arange(len(idx)) / 7.0)
    stamps = idx.strftime("%Y-%m-%d %H:%M")
    pd.DataFrame({"TIMESTAMP_START": stamps, "RECO_A": er, "RECO_B": er * 1.1,
                  "WHEN": ["noon"] * len(idx)}).to_csv(d / "ev.csv", index=False)
    p["ev"] = str(d / "ev.csv")
    dup = pd.DataFrame({"TIMESTAMP_START": stamps, "RECO_A": er, "RECO_B": er * 1.1})
    pd.concat([dup.iloc[:50], dup.iloc[49:]]).to_csv(d / "ev_dup.csv", index=False)
    p["ev_dup"] = str(d / "ev_dup.csv")
    p["ev_dup_stamp"] = stamps[49]
    # site-month inputs: a partition output of one site, one month
    idx = half_hours(31 * 48)
    part = pd.DataFrame({"TIMESTAMP_START": idx.strftime("%Y%m%d%H%M"), "site_id": "DE-Hai",
                         "RECO_X": 2.0, "NEE_QC": 0})
    part.assign(RECO_X=["abc"] * len(idx)).to_csv(d / "sm_text.csv", index=False)
    p["sm_text"] = str(d / "sm_text.csv")
    pd.concat([part, part.iloc[100:120]]).sort_values("TIMESTAMP_START").to_csv(d / "sm_dup.csv", index=False)
    p["sm_dup"] = str(d / "sm_dup.csv")
    p["sm_dup_stamp"] = str(idx[100])
    # site-month table with an all -9999 target
    sm = pd.read_csv(SITE_MONTH)
    sm = sm[sm["site_id"].isin(sorted(sm["site_id"].unique())[:8])][["site_id", "RECO_NT_gC_m2_d"] + FEATURES]
    sm = sm.dropna()
    sm.assign(RECO_NT_gC_m2_d=-9999.0).to_csv(d / "sm_9999.csv", index=False)
    p["sm_9999"] = str(d / "sm_9999.csv")
    sm.to_csv(d / "sm.csv", index=False)
    p["sm"] = str(d / "sm.csv")
    # rasters: ER and two drivers (annual), a global monthly ER grid in metres, a truncated driver
    rng = np.random.default_rng(15)
    p["er_y"] = write_stack(d / "er_y.tif", rng.normal(size=(12, 3, 4)), annual_dates(2000, 12))
    p["ta_y"] = write_stack(d / "TA.tif", rng.normal(size=(12, 3, 4)), annual_dates(2000, 12))
    p["pre_y"] = write_stack(d / "pre.tif", rng.normal(size=(12, 3, 4)), annual_dates(2000, 12))
    p["er_m"] = write_stack(d / "er_m.tif", np.ones((12, 4, 8)), monthly_dates(2001, 12),
                            geotransform=(-180.0, 45.0, 0, 90.0, 0, -45.0))
    p["er_merc"] = write_stack(d / "er_merc.tif", np.ones((12, 4, 8)), monthly_dates(2001, 12),
                               geotransform=(0.0, 50000.0, 0, 5e6, 0, -50000.0), epsg=3857)
    p["zones"] = write_stack(d / "zones.tif", np.array([[[0, 1] * 4] * 4]), ["z"],
                             geotransform=(-180.0, 45.0, 0, 90.0, 0, -45.0), dtype="Byte")
    return p


def fitted_model(qgis_process, inputs):
    """A model file of the valid site-month table (fitted once)."""
    path = os.path.join(inputs["out"], "m.npz")
    if not os.path.exists(path):
        proc = qgis_process("run", "ecoresp:fitupscaler", "--", f"INPUT={inputs['sm']}", "TARGET=RECO_NT_gC_m2_d",
                            *[f"FEATURES={f}" for f in FEATURES], "GROUP=site_id", "FOLDS=2", "TREES=5",
                            f"OUTPUT={path}")
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return path


# (algorithm, parameters with {input} placeholders, substrings of the message)
CASES = {
    "partition VPD in kPa without a unit": (
        "partition", {"INPUT": "{tha_kpa}", "SITE_ID": "DE-Tha", "METHODS": "NT", "OUTPUT": "{out}/p.csv"},
        ["column VPD", "looks like kPa", "UNITS VPD=kPa"]),
    "partition UTC offset out of range": (
        "partition", {"INPUT": "{tha}", "SITE_ID": "DE-Tha", "UTC_OFFSET": 99, "METHODS": "NT",
                      "OUTPUT": "{out}/p.csv"},
        ["UTC offset of local standard time (hours, override) (UTC_OFFSET)", "99", "-12 to 14"]),
    "partition NEE infinite": (
        "partition", {"INPUT": "{tha_inf}", "SITE_ID": "DE-Tha", "METHODS": "NT", "OUTPUT": "{out}/p.csv"},
        ["column NEE", "768 non-finite"]),
    "isotopes without disequilibrium": (
        "isotopepartition", {"INPUT": "{iso}", "DELTA_N_FIELD": "dN", "DELTA_R": -27.5, "DELTA_A": -27.5,
                             "OUTPUT": "{out}/i.csv"},
        ["or constant delta_R (permil) (DELTA_R)", "or constant delta_A (permil) (DELTA_A)", "disequilibrium"]),
    "isotopes delta_R not a number": (
        "isotopepartition", {"INPUT": "{iso}", "DELTA_N_FIELD": "dN", "DELTA_R": "nan", "DELTA_A": -27.5,
                             "OUTPUT": "{out}/i.csv"},
        ["or constant delta_R (permil) (DELTA_R): nan is not a finite number"]),
    "evaluate reference UTC offset out of range": (
        "evaluate", {"INPUT": "{ev}", "SIM_FIELD": "RECO_A", "REFERENCE_FILE": "{iso}", "REF_TIME_COLUMN":
                     "TIMESTAMP_START", "REF_VALUE_COLUMN": "NEE", "REF_UTC_OFFSET": 1000, "OUTPUT": "{out}/e.csv"},
        ["(REF_UTC_OFFSET)", "1000", "-12 to 14"]),
    "evaluate a field against itself": (
        "evaluate", {"INPUT": "{ev}", "SIM_FIELD": "RECO_A", "OBS_FIELD": "RECO_A", "OUTPUT": "{out}/e.csv"},
        ["Reference field in the same table (OBS_FIELD)", "ER field to evaluate (SIM_FIELD)", "RECO_A"]),
    "evaluate a time field holding text": (
        "evaluate", {"INPUT": "{ev}", "TIME_FIELD": "WHEN", "SIM_FIELD": "RECO_A", "OBS_FIELD": "RECO_B",
                     "OUTPUT": "{out}/e.csv"},
        ["Time field (interval start) (TIME_FIELD)", "WHEN", "'noon'"]),
    "evaluate duplicated time stamps": (
        "evaluate", {"INPUT": "{ev_dup}", "SIM_FIELD": "RECO_A", "OBS_FIELD": "RECO_B", "OUTPUT": "{out}/e.csv"},
        ["Time field (interval start) (TIME_FIELD)", "duplicated time stamp {ev_dup_stamp}"]),
    "evaluate a daytime field that does not exist": (
        "evaluate", {"INPUT": "{ev}", "SIM_FIELD": "RECO_A", "OBS_FIELD": "RECO_B", "DAY_FIELD": "DAYTIME",
                     "OUTPUT": "{out}/e.csv"},
        ["Daytime flag field (1 = day) (DAY_FIELD)", "DAYTIME", "not a field"]),
    "sitemonthtable text in the ER field": (
        "sitemonthtable", {"INPUTS": "{sm_text}", "ER_FIELD": "RECO_X", "OUTPUT": "{out}/s.csv"},
        ["column RECO_X", "'abc'", "not numbers"]),
    "sitemonthtable duplicated half-hours": (
        "sitemonthtable", {"INPUTS": "{sm_dup}", "ER_FIELD": "RECO_X", "OUTPUT": "{out}/s.csv"},
        ["site DE-Hai", "duplicated time stamp {sm_dup_stamp}"]),
    "sitemonthtable coverage above 1": (
        "sitemonthtable", {"INPUTS": "{sm_dup}", "ER_FIELD": "RECO_X", "MIN_COVERAGE": 2, "OUTPUT": "{out}/s.csv"},
        ["Minimum fraction of measured or good gap-filled NEE (quality_ok) (MIN_COVERAGE): 2 is out of range; "
         "give a number in the range 0 to 1"]),
    "fitupscaler target all -9999": (
        "fitupscaler", {"INPUT": "{sm_9999}", "TARGET": "RECO_NT_gC_m2_d", "FEATURES": FEATURES,
                        "GROUP": "site_id", "FOLDS": 2, "TREES": 5, "OUTPUT": "{out}/m9.npz"},
        ["Target field (ER) (TARGET)", "-9999", "valid"]),
    "fitupscaler no trees": (
        "fitupscaler", {"INPUT": "{sm}", "TARGET": "RECO_NT_gC_m2_d", "FEATURES": FEATURES, "GROUP": "site_id",
                        "TREES": 0, "OUTPUT": "{out}/mt.npz"},
        ["Trees (forest) / boosting stages (TREES)"]),
    "fitupscaler folds as text": (
        "fitupscaler", {"INPUT": "{sm}", "TARGET": "RECO_NT_gC_m2_d", "FEATURES": FEATURES, "GROUP": "site_id",
                        "FOLDS": "three", "OUTPUT": "{out}/mt.npz"},
        ["Cross-validation folds (grouped by site) (FOLDS): 'three' is not a number; give a number in the "
         "range 2 to 50"]),
    "fitupscaler filter with a syntax error": (
        "fitupscaler", {"INPUT": "{sm}", "TARGET": "RECO_NT_gC_m2_d", "FEATURES": FEATURES, "GROUP": "site_id",
                        "FILTER": '"TA_F_degC" >', "OUTPUT": "{out}/mf.npz"},
        # the parser's own words differ by version (3.22: "syntax error", 3.44: "Incomplete expression")
        ["(FILTER)", "is not a valid expression: "]),
    "rfattribution no trees": (
        "rfattribution", {"INPUT": "{er_y}", "DRIVERS": ["{ta_y}", "{pre_y}"], "MODE": 2, "N_TREES": 0,
                          "OUTPUT": "{out}/rf.tif", "DOMINANT": "{out}/rfd.tif"},
        ["Number of trees per pixel (N_TREES)"]),
    "rfattribution impossible compute budget": (
        "rfattribution", {"INPUT": "{er_y}", "DRIVERS": ["{ta_y}", "{pre_y}"], "MODE": 2, "MAX_SECONDS": 0.001,
                          "OUTPUT": "{out}/rf.tif", "DOMINANT": "{out}/rfd.tif"},
        ["Compute budget in seconds (0 = no limit) (MAX_SECONDS)", "0.001"]),
    "integrate a projected grid": (
        "integrate", {"INPUT": "{er_merc}", "OUTPUT": "{out}/t.csv"},
        ["(INPUT)", "er_merc.tif", "WGS 84 / Pseudo-Mercator", "latitude/longitude"]),
    "integrate a zone named for code 0": (
        "integrate", {"INPUT": "{er_m}", "ZONES": "{zones}", "ZONE_NAMES": "0=ocean,1=land", "OUTPUT": "{out}/t.csv"},
        ["Names of the zone codes (code=name, comma separated) (ZONE_NAMES)", "0=ocean", "1 or more"]),
    "attributionzones a zone named for code 0": (
        "attributionzones", {"DOMINANT": "{zones}", "ZONES": "{zones}", "ZONE_NAMES": "0=ocean",
                             "OUTPUT": "{out}/z.csv"},
        ["(ZONE_NAMES)", "0=ocean", "1 or more"]),
}


def arguments(params, inputs):
    out = []
    for key, value in params.items():
        for v in value if isinstance(value, list) else [value]:
            out.append(f"{key}={str(v).format(**inputs)}")
    return out


@pytest.mark.parametrize("case", list(CASES))
def test_bad_parameter_refused(qgis_process, inputs, case):
    alg, params, expect = CASES[case]
    proc = qgis_process("run", f"ecoresp:{alg}", "--", *arguments(params, inputs))
    text = proc.stdout + proc.stderr
    assert proc.returncode == 1, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    for part in expect:
        assert part.format(**inputs) in text, (part, text[-3000:])


def test_truncated_driver_refused(qgis_process, inputs, tmp_path):
    """A driver GeoTIFF cut short: the failed read names the driver and its file."""
    model = fitted_model(qgis_process, inputs)
    rng = np.random.default_rng(0)
    dates = monthly_dates(2010, 12)
    paths = [write_stack(tmp_path / f"driver{i}.tif", rng.uniform(1, 20, (12, 40, 50)), dates) for i in range(3)]
    with open(paths[2], "rb") as fh:
        raw = fh.read()
    with open(paths[2], "wb") as fh:
        fh.write(raw[:len(raw) // 2])
    proc = qgis_process("run", "ecoresp:predictupscaler", "--", f"MODEL={model}",
                        *[f"DRIVERS={p}" for p in paths], f"DRIVER_NAMES={','.join(FEATURES)}",
                        f"OUTPUT={tmp_path / 'er.tif'}")
    text = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "Traceback" not in text, text[-3000:]
    assert f"driver VPD_F_hPa: {paths[2]}" in text, text[-3000:]
    assert not (tmp_path / "er.tif").exists()


def test_evaluate_reads_minus_9999_as_missing(qgis_process, tmp_path):
    """FLUXNET's missing code in the reference is not a value: the metrics leave those records out
    and the log says how many."""
    idx = half_hours(4 * 48)
    sim = 3 + np.sin(np.arange(len(idx)) / 7.0)
    obs = sim + 0.5
    obs[10:20] = -9999.0
    obs[30] = -9999
    src = tmp_path / "ev.csv"
    pd.DataFrame({"TIMESTAMP_START": idx.strftime("%Y-%m-%d %H:%M"), "SIM": sim, "OBS": obs}).to_csv(src, index=False)
    out = tmp_path / "m.csv"
    proc = qgis_process("--json", "run", "ecoresp:evaluate", "--", f"INPUT={src}", "SIM_FIELD=SIM", "OBS_FIELD=OBS",
                        f"OUTPUT={out}")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    log = json.loads(proc.stdout)["log"]["info"]
    assert "OBS: 11 value(s) of -9999 (missing) left out" in log
    hourly = pd.read_csv(out).set_index("scale").loc["hourly"]
    assert float(hourly["RMSE"]) == pytest.approx(0.5, abs=1e-9)
    assert int(hourly["n"]) == 96 - 6  # hours 5-9 and 15 lose a half
