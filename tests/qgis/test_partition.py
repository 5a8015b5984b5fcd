"""ecoresp:partition inside QGIS and through qgis_process: the three outputs, real files."""

import csv
import json
import os
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FLUX = os.path.join(REPO, "tests", "data", "flux")
DETHA98 = os.path.join(FLUX, "Example_DETha98.txt")
FLX_HAI = os.path.join(FLUX, "FLX_DE-Hai_FLUXNET2015_zarrsubset_HH_2007-2008.csv.gz")
pytestmark = pytest.mark.qgis


def test_partition_fluxnet_in_qgis(provider, tmp_path):
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsVectorLayer

    out, summ, rep, win = (str(tmp_path / n) for n in ("hh.gpkg", "summary.gpkg", "report.html", "w.csv"))
    res = processing.run("ecoresp:partition", {"INPUT": FLX_HAI, "METHODS": "NT", "OUTPUT": out,
                                               "SUMMARY": summ, "REPORT": rep, "WINDOWS": win},
                         feedback=QgsProcessingFeedback(), context=QgsProcessingContext())
    assert set(res) == {"OUTPUT", "SUMMARY", "REPORT", "WINDOWS"}
    w = QgsVectorLayer(res["WINDOWS"], "w", "ogr")
    assert w.isValid() and w.featureCount() > 100 and "RH_DAY_MEAN" in w.fields().names()
    hh = QgsVectorLayer(res["OUTPUT"], "hh", "ogr")
    assert hh.isValid() and hh.featureCount() == 2 * 17520 + 48  # 2007 + leap 2008
    names = hh.fields().names()
    for c in ("TIMESTAMP_START", "NEE", "RECO_NT", "GPP_NT", "QC_NT", "GPP_NT_REF"):
        assert c in names
    s = QgsVectorLayer(res["SUMMARY"], "s", "ogr")
    feats = list(s.getFeatures())
    assert len(feats) == 2 and feats[0].geometry().asPoint().y() == pytest.approx(51.0792, abs=1e-3)
    r2 = [f["GPP_NT_vs_REF_R2"] for f in feats]
    assert "numpy" in feats[0]["ecoresp_versions"] and feats[0]["option_methods"] == "['NT']"
    assert min(r2) > 0.99
    assert "Mean diurnal ER" in open(rep).read()


def test_partition_bad_input(provider, tmp_path):
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingException, QgsProcessingFeedback

    bad = tmp_path / "bad.csv"
    bad.write_text("TIMESTAMP_START,TIMESTAMP_END,NEE_VUT_REF,TA_F\n201101010000,201101010030,1.0,2.0\n"
                   "201101010030,201101010100,1.5,2.1\n")
    with pytest.raises(QgsProcessingException, match="bad.csv.*SW_IN"):
        processing.run("ecoresp:partition", {"INPUT": str(bad), "METHODS": "NT",
                                             "OUTPUT": str(tmp_path / "o.csv"), "SUMMARY": str(tmp_path / "s.csv")},
                       feedback=QgsProcessingFeedback(), context=QgsProcessingContext())
    with pytest.raises(QgsProcessingException, match="unknown method 'XX'"):
        processing.run("ecoresp:partition", {"INPUT": FLX_HAI, "METHODS": "NT,XX",
                                             "OUTPUT": str(tmp_path / "o.csv"), "SUMMARY": str(tmp_path / "s.csv")},
                       feedback=QgsProcessingFeedback(), context=QgsProcessingContext())
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.parametrize("path,site,year,rows", [(DETHA98, "DE-Tha", "1998", 17520),
                                                 (FLX_HAI, "DE-Hai", "2007", 2 * 17520 + 48)])
@pytest.mark.slow  # full site-years through qgis_process
def test_partition_through_qgis_process(tmp_path, path, site, year, rows):
    out, summ, rep = tmp_path / "hh.csv", tmp_path / "summary.csv", tmp_path / "report.html"
    proc = subprocess.run([os.path.join(REPO, ".ci", "qgis_process.sh"), "--json", "run", "ecoresp:partition",
                           "--", f"INPUT={path}", "METHODS=NT,DT,DTRH", f"OUTPUT={out}",
                           f"SUMMARY={summ}", f"REPORT={rep}"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    res = json.loads(proc.stdout)["results"]
    assert set(res) >= {"OUTPUT", "SUMMARY", "REPORT"}
    with open(out) as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == rows
    assert {"RECO_NT", "GPP_NT", "RECO_DT", "GPP_DT", "RECO_DTRH", "GPP_DTRH"} <= set(table[0])
    with open(summ) as fh:
        srow = next(csv.DictReader(fh))
    assert srow["site_id"] == site and srow["year"] == year
    assert 50 < float(srow["E0_NT_K"]) < 450
    assert float(srow["RECO_NT_gC"]) > 0 and float(srow["E0_DAY_DTRH_K"]) > 0
    assert os.path.getsize(rep) > 5000


def test_partition_cancel_writes_nothing(provider, tmp_path):
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingException, QgsProcessingFeedback

    fb = QgsProcessingFeedback()
    fb.cancel()
    params = {"INPUT": FLX_HAI, "METHODS": "NT,DT", "OUTPUT": str(tmp_path / "o.csv"),
              "SUMMARY": str(tmp_path / "s.csv"), "REPORT": str(tmp_path / "r.html")}
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        processing.run("ecoresp:partition", params, feedback=fb, context=QgsProcessingContext())
    assert os.listdir(tmp_path) == []


def test_partition_offers_and_runs_a_registered_method(provider, tmp_path):
    """A method defined outside the plugin (tests/core/partitioning/toymethod.py) and registered at
    run time (no other edit) is listed in the help and the METHODS parameter, accepted by the
    validation and written to the outputs."""
    import processing
    from qgis.core import QgsApplication, QgsProcessingContext, QgsProcessingException, QgsProcessingFeedback

    from core.partitioning.toymethod import night_mean_method
    from ecoresp.ecoresp_core.partitioning import methods as registry

    registry.register(night_mean_method(registry))
    try:
        alg = QgsApplication.processingRegistry().createAlgorithmById("ecoresp:partition")
        assert ("<b>NIGHTMEAN</b>: constant ER = mean measured night-time NEE (toy). A test method: constant ER"
                in alg.shortHelpString())
        assert "NIGHTMEAN" in alg.parameterDefinition("METHODS").options()
        ok, msg = alg.checkParameterValues({"INPUT": DETHA98, "METHODS": "NT,night-mean",
                                            "OUTPUT": str(tmp_path / "x.csv")}, QgsProcessingContext())
        assert ok, msg
        out, summ = tmp_path / "hh.csv", tmp_path / "summary.csv"
        processing.run("ecoresp:partition", {"INPUT": DETHA98, "METHODS": "NT,NIGHTMEAN", "OUTPUT": str(out),
                                             "SUMMARY": str(summ)},
                       feedback=QgsProcessingFeedback(), context=QgsProcessingContext())
        with open(out) as fh:
            rows = list(csv.DictReader(fh))
        assert {"RECO_NIGHTMEAN", "GPP_NIGHTMEAN", "QC_NIGHTMEAN", "RECO_NT"} <= set(rows[0])
        assert len({r["RECO_NIGHTMEAN"] for r in rows}) == 1
        with open(summ) as fh:
            srow = next(csv.DictReader(fh))
        assert float(srow["ER_NIGHTMEAN"]) == pytest.approx(float(rows[0]["RECO_NIGHTMEAN"]))
        assert float(srow["RECO_NIGHTMEAN_gC"]) > 0
    finally:
        registry.unregister("NIGHTMEAN")
    with pytest.raises(QgsProcessingException, match="unknown method 'NIGHTMEAN'"):
        processing.run("ecoresp:partition", {"INPUT": DETHA98, "METHODS": "NT,NIGHTMEAN",
                                             "OUTPUT": str(tmp_path / "o.csv")},
                       feedback=QgsProcessingFeedback(), context=QgsProcessingContext())


def test_partition_file_with_pot_but_no_coordinates(provider, tmp_path):
    """SW_IN_POT in the file but no known site: a clear message naming the file and what is
    missing (it used to be a raw TypeError from the log line)."""
    import pandas as pd
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingException, QgsProcessingFeedback

    src = tmp_path / "tower.csv"
    with open(DETHA98) as fh:
        lines = fh.read().splitlines()
    names = lines[0].split("\t")
    out = ["TIMESTAMP_START,TIMESTAMP_END,NEE,TA,SW_IN,SW_IN_POT,VPD"]
    t0 = pd.Timestamp("1998-01-01")
    for i, line in enumerate(lines[2:2 + 480]):
        v = dict(zip(names, line.split("\t")))
        a, b = t0 + pd.Timedelta(minutes=30 * i), t0 + pd.Timedelta(minutes=30 * (i + 1))
        pot = "0" if not 7 <= a.hour < 16 else "300"
        out.append(f"{a:%Y%m%d%H%M},{b:%Y%m%d%H%M},{v['NEE']},{v['Tair']},{v['Rg']},{pot},{v['VPD']}")
    src.write_text("\n".join(out) + "\n")
    with pytest.raises(QgsProcessingException,
                       match=r"tower.csv: the site latitude, longitude and UTC offset are unknown.*LATITUDE"):
        processing.run("ecoresp:partition", {"INPUT": str(src), "METHODS": "NT",
                                             "OUTPUT": str(tmp_path / "o.csv")},
                       feedback=QgsProcessingFeedback(), context=QgsProcessingContext())
    assert not (tmp_path / "o.csv").exists()


def test_partition_refuses_gap_filled_nee_without_qc(provider, tmp_path):
    """NEE_VUT_REF (gap-filled) without NEE_VUT_REF_QC: filled values cannot be told from measured
    ones, so the run stops with what to do (it used to fit them as measured)."""
    import pandas as pd
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingException, QgsProcessingFeedback

    src = tmp_path / "FLX_DE-Hai_FLUXNET2015_FULLSET_HH_2007-2007_1-4.csv"
    raw = pd.read_csv(FLX_HAI, dtype={"TIMESTAMP_START": str, "TIMESTAMP_END": str}, nrows=48 * 30)
    raw.drop(columns=["NEE_VUT_REF_QC"]).to_csv(src, index=False)
    with pytest.raises(QgsProcessingException, match=r"FLX_DE-Hai.*NEE column NEE_VUT_REF has no QC column and "
                                                     r"looks gap-filled.*NEE_QC=.*ecoresp:gapfill"):
        processing.run("ecoresp:partition", {"INPUT": str(src), "METHODS": "NT", "OUTPUT": str(tmp_path / "o.csv")},
                       feedback=QgsProcessingFeedback(), context=QgsProcessingContext())
    assert not (tmp_path / "o.csv").exists()


def test_partition_accepts_raw_reddyproc_datetime_file(provider, tmp_path):
    """A 30-day slice of REddyProc's DE-Geb example (DateTime = end of the half hour, raw NEE with
    gaps, no QC): read, partitioned, and the log says the NEE is raw with gaps."""
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    with open(os.path.join(FLUX, "DEGebExample_2004-2006.csv")) as fh:
        lines = fh.read().splitlines()
    first = 1 + (31 + 29 + 31 + 30) * 48  # the record ending 2004-05-01 00:30
    src = tmp_path / "DEGebExample_2004-05.csv"
    src.write_text("\n".join([lines[0]] + lines[first:first + 30 * 48]) + "\n")
    out, summ = tmp_path / "hh.csv", tmp_path / "summary.csv"
    fb = QgsProcessingFeedback()
    processing.run("ecoresp:partition", {"INPUT": str(src), "METHODS": "NT", "OUTPUT": str(out), "SUMMARY": str(summ)},
                   feedback=fb, context=QgsProcessingContext())
    with open(out) as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 30 * 48 and rows[0]["TIMESTAMP_START"].replace("/", "-").startswith("2004-05-01 00:00")
    with open(summ) as fh:
        srow = next(csv.DictReader(fh))
    assert srow["site_id"] == "DE-Geb" and 50 < float(srow["E0_NT_K"]) < 450
    log = fb.textLog()
    assert "NEE (NEE) is raw with" in log and "ecoresp:gapfill" in log and "VPD derived from RH and TA" in log


def _geb_slice(tmp_path, days=30):
    """A 30-day slice of REddyProc's DE-Geb example (raw NEE, May 2004): a quick partitioning input."""
    with open(os.path.join(FLUX, "DEGebExample_2004-2006.csv")) as fh:
        lines = fh.read().splitlines()
    first = 1 + (31 + 29 + 31 + 30) * 48  # the record ending 2004-05-01 00:30
    src = tmp_path / "DEGebExample_2004-05.csv"
    src.write_text("\n".join([lines[0]] + lines[first:first + days * 48]) + "\n")
    return src


def test_partition_dialog_methods_enum_advanced_and_tags(provider):
    """Issue 14: the methods are a multiple choice of the registered codes (static strings, so that
    'NT,DT,DTRH' of models and command lines stays valid), the rarely changed parameters are under
    Advanced, and the toolbox search finds the algorithm by 'flux partitioning'."""
    from qgis.core import QgsApplication, QgsProcessingContext, QgsProcessingParameterEnum
    from qgis.gui import QgsProcessingToolboxProxyModel

    from ecoresp.algorithms.qgiscompat import FLAG_ADVANCED

    alg = QgsApplication.processingRegistry().createAlgorithmById("ecoresp:partition")
    p = alg.parameterDefinition("METHODS")
    assert isinstance(p, QgsProcessingParameterEnum) and p.allowMultiple() and p.usesStaticStrings()
    assert p.options()[:7] == ["NT", "DT", "DTRH", "DTASYM", "DTRHONLY", "RF", "NN"]
    assert p.defaultValue() == ["NT", "DT", "DTRH"] and p.description() == "Partitioning methods"
    ctx = QgsProcessingContext()
    assert p.checkValueIsAcceptable("NT,DT,DTRH") and p.checkValueIsAcceptable(["NT", "DT"])
    assert not p.checkValueIsAcceptable("0,1")        # option numbers: accepted by the algorithm's own check
    base = {"INPUT": DETHA98, "OUTPUT": "memory:"}
    assert alg.method_codes(dict(base, METHODS="NT,DT,DTRH"), ctx) == ("NT", "DT", "DTRH")
    assert alg.method_codes(dict(base, METHODS=["DT", "NT"]), ctx) == ("DT", "NT")
    assert alg.method_codes(dict(base, METHODS="0,2"), ctx) == ("NT", "DTRH")      # option numbers
    assert alg.method_codes(dict(base, METHODS=[1]), ctx) == ("DT",)
    assert alg.method_codes(dict(base, METHODS="dt-rh,nt"), ctx) == ("DTRH", "NT")
    assert alg.method_codes(base, ctx) == ("NT", "DT", "DTRH")                       # the default
    for value in ("NT,DT,DTRH", "0,1", ["NT", "DT"], "nt,dt-rh"):
        ok, msg = alg.checkParameterValues(dict(base, METHODS=value), ctx)
        assert ok, (value, msg)
    ok, msg = alg.checkParameterValues(dict(base, METHODS="NT,XX"), ctx)
    assert not ok and msg.startswith("Partitioning methods (METHODS): unknown method 'XX'; use any of NT, DT")
    ok, msg = alg.checkParameterValues(dict(base, METHODS="0,9"), ctx)
    assert not ok and "unknown method '9'" in msg

    advanced = {d.name() for d in alg.parameterDefinitions() if d.flags() & FLAG_ADVANCED}
    main = {d.name() for d in alg.parameterDefinitions() if not d.flags() & FLAG_ADVANCED and not d.isDestination()}
    assert main == {"INPUT", "METHODS", "RAW_CHAIN", "EVIDENCE"}
    assert advanced == {"FORMAT", "SITE_ID", "LATITUDE", "LONGITUDE", "UTC_OFFSET", "COLUMNS", "UNITS",
                        "FIT_QC_ONLY", "BOOTSTRAP", "SEED", "EVIDENCE_BOOTSTRAP", "JOINT_BLOCK_DAYS",
                        "RH_AT_NIGHT", "RH_FUNCTION"}

    for tag in ("flux partitioning", "eddy covariance", "NEE", "GPP", "respiration", "Reichstein", "Lasslop",
                "REddyProc", "FLUXNET"):
        assert tag in alg.tags(), tag
    # the toolbox search matches the tags: 'flux partitioning' finds partition (and not, e.g., trend)
    proxy = QgsProcessingToolboxProxyModel(None, QgsApplication.processingRegistry())
    proxy.setFilterString("flux partitioning")

    def found(parent):
        out = []
        for row in range(proxy.rowCount(parent)):
            idx = proxy.index(row, 0, parent)
            a = proxy.toolboxModel().algorithmForIndex(proxy.mapToSource(idx))
            out += [a.id()] if a is not None else found(idx)
        return out
    hits = found(proxy.index(-1, -1))
    assert "ecoresp:partition" in hits and "ecoresp:trend" not in hits


def test_partition_help_uses_labels_not_ids(provider):
    from qgis.core import QgsApplication

    text = QgsApplication.processingRegistry().createAlgorithmById("ecoresp:partition").shortHelpString()
    for word in ("RAW_CHAIN", "EVIDENCE_BOOTSTRAP", "JOINT_BLOCK_DAYS", "FIT_QC_ONLY", "RH_FUNCTION", "COLUMNS",
                 "UNITS", "OUTPUT", "WINDOWS", "REPORT", "EVIDENCE_MODELS", ".py", "science.md"):
        assert word not in text, word
    for label in ("<i>Column mapping</i>", "<i>Partitioned fluxes</i>", "<i>Site-year summary</i>",
                  "<i>Fitting windows</i>", "Raw input: u* filtering and gap filling first", "Fit only measured NEE",
                  "'DT-RH as a tested hypothesis'"):
        assert label in text, label


def test_partition_warnings_in_plain_language(provider, tmp_path):
    """The log explains each fall-back in words with what to do ('DT 2004: 3 of 14 light-response
    windows refitted ...'), while the summary keeps the codes (flags_DT: lrc_windows_refitted:3)."""
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    src = _geb_slice(tmp_path)
    fb = QgsProcessingFeedback()
    summ = tmp_path / "s.csv"
    processing.run("ecoresp:partition", {"INPUT": str(src), "METHODS": ["NT", "DT"], "EVIDENCE": False,
                                         "OUTPUT": str(tmp_path / "o.csv"), "SUMMARY": str(summ)},
                   feedback=fb, context=QgsProcessingContext())
    with open(summ) as fh:
        srow = next(csv.DictReader(fh))
    assert srow["flags_DT"] == "sdNEE_from_lookup; lrc_windows_refitted:3"
    log = fb.textLog()
    assert ("DT 2004: 3 of 14 light-response windows refitted with a parameter fixed (no VPD limitation, or the "
            "light-use efficiency of the window before), as REddyProc and ONEFlux do; their records have QC 1"
            in log)
    assert "DT 2004: the file has no NEE uncertainty (sdNEE)" in log
    assert "lrc_windows_refitted" not in log and "sdNEE_from_lookup" not in log


@pytest.mark.parametrize("methods", ["NT,DT", "0,1"])
def test_partition_methods_through_qgis_process(qgis_process, tmp_path, methods):
    """qgis_process takes the methods as codes (as the demo and the shipped models pass them) and as
    option numbers; an unknown code stops before the run with the parameter's label."""
    src = _geb_slice(tmp_path)
    out = tmp_path / "o.csv"
    proc = qgis_process("--json", "run", "ecoresp:partition", "--", f"INPUT={src}", f"METHODS={methods}",
                        "EVIDENCE=false", f"OUTPUT={out}")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    with open(out) as fh:
        header = next(csv.reader(fh))
    assert {"RECO_NT", "RECO_DT", "QC_DT"} <= set(header) and "RECO_DTRH" not in header
    if methods == "0,1":
        bad = qgis_process("run", "ecoresp:partition", "--", f"INPUT={src}", "METHODS=NT,XX",
                           f"OUTPUT={tmp_path / 'x.csv'}")
        assert bad.returncode != 0
        assert "Partitioning methods (METHODS): unknown method 'XX'" in bad.stdout + bad.stderr
