"""ecoresp:partition's REPORT as the dialog writes it: the header (input file, site, years, methods,
options, plugin version, date) and the annual sums of RECO and GPP, equal to the SUMMARY's numbers."""

import configparser
import csv
import os
import sys
from datetime import datetime, timedelta, timezone

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "core"))
from test_report import Tables, table  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FLX_HAI = os.path.join(REPO, "tests", "data", "flux", "FLX_DE-Hai_FLUXNET2015_zarrsubset_HH_2007-2008.csv.gz")
pytestmark = pytest.mark.qgis


def test_partition_report_header_and_annual_sums(provider, tmp_path):
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    rep, summ = str(tmp_path / "report.html"), str(tmp_path / "summary.csv")
    res = processing.run("ecoresp:partition", {"INPUT": FLX_HAI, "METHODS": "NT,DT", "FIT_QC_ONLY": True,
                                               "OUTPUT": str(tmp_path / "hh.csv"), "SUMMARY": summ, "REPORT": rep},
                         feedback=QgsProcessingFeedback(), context=QgsProcessingContext())
    assert res["REPORT"] == rep
    page = open(rep, encoding="utf-8").read()
    assert page.index('<table class="header">') < page.index("<h2>")
    header = {r[0]: r[1] for r in next(rows for cls, rows in Tables(page).tables if cls == "header")}
    meta = configparser.ConfigParser()
    meta.read(os.path.join(REPO, "metadata.txt"))
    assert header["Input file"] == os.path.basename(FLX_HAI)
    assert header["Site"].startswith("DE-Hai (latitude 51.0792")
    assert header["Years"].startswith("2007, 2008;")
    assert header["Methods"].startswith("NT: night-time") and "; DT: day-time" in header["Methods"]
    assert "fit only measured NEE: yes" in header["Options"]
    assert header["Software"].startswith(f"ecoresp {meta['general']['version']} (")
    created = datetime.strptime(header["Created"], "%Y-%m-%d %H:%M UTC").replace(tzinfo=timezone.utc)
    assert abs(datetime.now(timezone.utc) - created) < timedelta(hours=1)
    # RECO and GPP per method and year: the SUMMARY layer's numbers
    with open(summ, newline="") as fh:
        rows = {int(r["year"]): r for r in csv.DictReader(fh)}
    sums = table(page, "annual-sums")
    assert sorted(rows) == [2007, 2008] and list(sums.columns) == ["2007", "2008"]
    for flux in ("RECO", "GPP"):
        for code in ("NT", "DT"):
            for year, r in rows.items():
                assert float(sums.loc[f"{flux} {code}", str(year)]) == pytest.approx(float(r[f"{flux}_{code}_gC"]),
                                                                                     abs=0.05)


def test_partition_report_of_the_raw_chain_says_which_scenario(provider, tmp_path):
    """With RAW_CHAIN the report is the median u* scenario's, and its header says so."""
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    detha98 = os.path.join(REPO, "tests", "data", "flux", "Example_DETha98.txt")
    rep = str(tmp_path / "report.html")
    processing.run("ecoresp:partition", {"INPUT": detha98, "METHODS": "NT", "RAW_CHAIN": 1, "BOOTSTRAP": 3, "SEED": 2,
                                         "OUTPUT": str(tmp_path / "hh.csv"), "SUMMARY": str(tmp_path / "s.csv"),
                                         "REPORT": rep},
                   feedback=QgsProcessingFeedback(), context=QgsProcessingContext())
    page = open(rep, encoding="utf-8").read()
    header = {r[0]: r[1] for r in next(rows for cls, rows in Tables(page).tables if cls == "header")}
    assert header["Input file"] == "Example_DETha98.txt" and header["Years"].startswith("1998;")
    assert header["Raw input"] == ("u* filtered (moving point test, 3 bootstrap samples, seed 2) and gap-filled per u* "
                                   "scenario (05, 50, 95); this report shows the median scenario (50), the site-year "
                                   "summary the annual sums of every scenario")
    assert float(table(page, "annual-sums").loc["RECO NT", "1998"]) > 0
