"""ecoresp:partition with the model evidence (DT, DT-asym, DT-RHonly and DT-RH compared per site-year,
docs/methods.md section 20): its parameters, its two tables, the summary columns, the report section,
progress and Cancel through the bootstrap, and errors naming the parameter.  A 60-day slice of
REddyProc's DE-Tha 1998 example and a few replicates keep it fast."""

import csv
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DETHA98 = os.path.join(REPO, "tests", "data", "flux", "Example_DETha98.txt")
pytestmark = pytest.mark.qgis


def sixty_days(tmp_path):
    """June and July 1998 of DE-Tha (REddyProc text; the file name keeps the site id)."""
    with open(DETHA98) as fh:
        lines = fh.read().splitlines()
    first = 2 + 151 * 48
    path = tmp_path / "Example_DETha98.txt"
    path.write_text("\n".join(lines[:2] + lines[first:first + 60 * 48]) + "\n")
    return str(path)


def rows(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


class Recorder:
    """A QgsProcessingFeedback that records the progress and cancels above ``cancel_at`` (%)."""

    def __new__(cls, cancel_at=None):
        from qgis.core import QgsProcessingFeedback
        fb = QgsProcessingFeedback()
        fb.values = []

        def seen(p):
            fb.values.append(p)
            if cancel_at is not None and p > cancel_at:
                fb.cancel()
        fb.progressChanged.connect(seen)
        return fb


def test_partition_evidence_tables_summary_and_report(provider, tmp_path):
    import processing
    from qgis.core import QgsProcessingContext

    src = sixty_days(tmp_path)
    out = {n: str(tmp_path / f) for n, f in (("OUTPUT", "hh.csv"), ("SUMMARY", "summary.csv"),
                                             ("EVIDENCE_MODELS", "models.csv"), ("EVIDENCE_TESTS", "tests.csv"),
                                             ("REPORT", "report.html"))}
    fb = Recorder()
    res = processing.run("ecoresp:partition", {"INPUT": src, "METHODS": "NT,DTRH", "EVIDENCE_BOOTSTRAP": 10,
                                               "SEED": 2, **out}, feedback=fb, context=QgsProcessingContext())
    assert set(res) == set(out)
    models = rows(out["EVIDENCE_MODELS"])
    assert [r["MODEL"] for r in models] == ["DT", "DTASYM", "DTRHONLY", "DTRH"]
    assert {"site_id", "year", "E0_NIGHT_K", "E0_DAY_K", "GAMMA", "AIC", "BIC", "CV_CHI2", "CV_RMSE_DAY",
            "DAIC"} <= set(models[0])
    assert models[0]["site_id"] == "DE-Tha" and models[0]["year"] == "1998"
    assert models[0]["E0_NIGHT_K"] == models[0]["E0_DAY_K"] and float(models[0]["GAMMA"]) == 0  # DT
    tests = rows(out["EVIDENCE_TESTS"])
    assert {(r["MODEL"], r["AGAINST"]) for r in tests} >= {("DTRH", "DT"), ("DTRH", "DTASYM"), ("DTRH", "DTRHONLY")}
    assert all(0 <= float(r["P_EFF"]) <= 1 and float(r["N_EFF"]) > 0 for r in tests)
    srow = rows(out["SUMMARY"])[0]
    assert srow["SUPPORTED_MODEL"] in ("DT", "DTASYM", "DTRHONLY", "DTRH")
    assert srow["EVIDENCE"].startswith(srow["SUPPORTED_MODEL"] + ":")
    assert srow["JOINT_N_BOOT"] == "10" and srow["JOINT_SEED"] == "2" and srow["JOINT_BLOCK_DAYS"] == "4"
    for stem in ("JOINT_E0_NIGHT_K", "JOINT_E0_DAY_K", "JOINT_E0_DIFF_K", "JOINT_GAMMA", "JOINT_ER_DAY_DTRH",
                 "JOINT_ER_DAY_RATIO_DTRH_NT"):
        assert float(srow[f"{stem}_CI_LO"]) <= float(srow[f"{stem}_CI_HI"])
    assert "'block_days': 4" in srow["option_evidence"] and "'joint_block_days': 4" in srow["option_DTRH"]
    assert float(srow["NEE_DTRH_DAY_RMSE"]) > 0
    # one joint-model setting for both: the DTRH method's stage B is the comparison's DTRH fit
    for own, joint in (("E0_NIGHT_DTRH_K", "JOINT_E0_NIGHT_K"), ("E0_DAY_DTRH_K", "JOINT_E0_DAY_K"),
                       ("GAMMA_DTRH", "JOINT_GAMMA")):
        assert float(srow[own]) == pytest.approx(float(srow[joint]), rel=1e-9)
    hh = rows(out["OUTPUT"])
    assert {"GPP_DTRH", "GPP_DTRH_RECO_MINUS_NEE"} <= set(hh[0])
    html = open(out["REPORT"]).read()
    first = html.index("<h2>")
    assert html[first:].startswith("<h2>Model evidence: DT, DT-asym, DT-RHonly and DT-RH per site-year")
    assert f"supported model <b>{srow['SUPPORTED_MODEL']}</b>" in html and "LR p vs DT (effective n)" in html
    assert html.index("Temperature sensitivity by night and by day") < html.index("Mean diurnal ER")
    assert "1998: " + srow["SUPPORTED_MODEL"] in fb.textLog()
    # progress: rising; the model comparison (from 11 %) reports its fits, its cross-validation and
    # each chunk of 5 replicates
    p = fb.values
    assert p == sorted(p) and p[-1] == 100 and len({v for v in p if 11.2 < v < 100}) >= 3


def test_partition_evidence_settings_reach_the_core(provider, tmp_path):
    """No replicates (decision by the LR tests), 8-day blocks, linear f_RH without RH at night: recorded in
    the summary and given to DT-RH too; NT alone: no comparison, a note in the log, no evidence tables."""
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    src = sixty_days(tmp_path)
    summ = str(tmp_path / "s.csv")
    processing.run("ecoresp:partition", {"INPUT": src, "METHODS": "NT,DTASYM", "EVIDENCE_BOOTSTRAP": 0,
                                         "JOINT_BLOCK_DAYS": 8, "RH_AT_NIGHT": False, "RH_FUNCTION": 1,
                                         "OUTPUT": str(tmp_path / "o.csv"), "SUMMARY": summ},
                   feedback=QgsProcessingFeedback(), context=QgsProcessingContext())
    srow = rows(summ)[0]
    assert srow["JOINT_N_BOOT"] == "0" and srow["JOINT_BLOCK_DAYS"] == "8"
    assert srow["JOINT_RH_FUNCTION"] == "linear" and srow["JOINT_RH_AT_NIGHT"] in ("False", "0", "false")
    assert "likelihood-ratio test against DTRHONLY (effective n) p = " in srow["EVIDENCE"]
    assert not srow.get("JOINT_E0_DAY_K_CI_LO")
    assert "'rh_function': 'linear'" in srow["option_DTRH"] and "'joint_block_days': 8" in srow["option_DTRH"]
    fb = QgsProcessingFeedback()
    res = processing.run("ecoresp:partition", {"INPUT": src, "METHODS": "NT", "OUTPUT": str(tmp_path / "o2.csv"),
                                               "SUMMARY": str(tmp_path / "s2.csv"),
                                               "EVIDENCE_MODELS": str(tmp_path / "m2.csv")},
                         feedback=fb, context=QgsProcessingContext())
    assert "EVIDENCE_MODELS" not in res and not (tmp_path / "m2.csv").exists()
    assert "Model evidence not computed: METHODS has no DT-RH variant" in fb.textLog()
    assert "SUPPORTED_MODEL" not in rows(str(tmp_path / "s2.csv"))[0]


@pytest.mark.parametrize("name,value,label", [
    ("EVIDENCE_BOOTSTRAP", -5, r"Model evidence: bootstrap replicates \(0 = no intervals\) \(EVIDENCE_BOOTSTRAP\)"),
    ("JOINT_BLOCK_DAYS", 0, r"DT-RH joint model: block length \(days\) \(JOINT_BLOCK_DAYS\)")])
def test_partition_evidence_bad_values_name_the_parameter(provider, tmp_path, name, value, label):
    import processing
    from qgis.core import QgsApplication, QgsProcessingContext, QgsProcessingException, QgsProcessingFeedback

    params = {"INPUT": DETHA98, "METHODS": "NT,DTRH", name: value, "OUTPUT": str(tmp_path / "o.csv")}
    with pytest.raises(QgsProcessingException, match=label + ".*not valid"):
        processing.run("ecoresp:partition", params, feedback=QgsProcessingFeedback(), context=QgsProcessingContext())
    alg = QgsApplication.processingRegistry().createAlgorithmById("ecoresp:partition")
    ok, msg = alg.checkParameterValues(params, QgsProcessingContext())
    assert not ok and name in msg
    assert not (tmp_path / "o.csv").exists()


def test_partition_evidence_cancel_in_the_bootstrap(provider, tmp_path):
    """Cancel while the bootstrap runs (200 replicates; the methods take the first 1.5 %, the fits and the
    cross-validation up to 26 %, each chunk of 5 replicates 1.8 %; cancelled past 30 %) stops the run
    at the next chunk; nothing is written."""
    import time

    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingException

    src = sixty_days(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    fb = Recorder(cancel_at=30)
    t0 = time.perf_counter()
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        processing.run("ecoresp:partition", {"INPUT": src, "METHODS": "NT,DTRH", "EVIDENCE_BOOTSTRAP": 200,
                                             "OUTPUT": str(out / "o.csv"), "SUMMARY": str(out / "s.csv"),
                                             "REPORT": str(out / "r.html")},
                       feedback=fb, context=QgsProcessingContext())
    assert time.perf_counter() - t0 < 30  # 200 replicates take a minute
    assert 30 < max(fb.values) < 35 and os.listdir(out) == []


@pytest.mark.slow  # the raw chain on a whole site-year
def test_partition_evidence_with_the_raw_chain(provider, tmp_path):
    """RAW_CHAIN on: the models are compared for the median u* scenario (USTAR_SCENARIO 50) only."""
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    out = {n: str(tmp_path / f) for n, f in (("OUTPUT", "hh.csv"), ("SUMMARY", "summary.csv"),
                                             ("EVIDENCE_MODELS", "models.csv"), ("EVIDENCE_TESTS", "tests.csv"),
                                             ("REPORT", "report.html"))}
    processing.run("ecoresp:partition", {"INPUT": DETHA98, "METHODS": "NT,DTRH", "RAW_CHAIN": 1, "BOOTSTRAP": 3,
                                         "EVIDENCE_BOOTSTRAP": 0, **out},
                   feedback=QgsProcessingFeedback(), context=QgsProcessingContext())
    models = rows(out["EVIDENCE_MODELS"])
    assert {r["USTAR_SCENARIO"] for r in models} == {"50"} and len(models) == 4
    assert {r["USTAR_SCENARIO"] for r in rows(out["EVIDENCE_TESTS"])} == {"50"}
    srow = rows(out["SUMMARY"])[0]
    m50 = {r["MODEL"]: r for r in models if r["USTAR_SCENARIO"] == "50"}
    assert float(srow["JOINT_AIC_DTRH"]) == pytest.approx(float(m50["DTRH"]["AIC"]))
    assert "Model evidence" in open(out["REPORT"]).read()
