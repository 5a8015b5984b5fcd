"""ecoresp:partition with RAW_CHAIN on: the raw REddyProc example DE-Tha 1998 u*-filtered, gap-filled and
partitioned per u* scenario in one run (few bootstrap samples to stay fast)."""

import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DETHA98 = os.path.join(REPO, "tests", "data", "flux", "Example_DETha98.txt")
pytestmark = pytest.mark.qgis


def test_partition_raw_chain(provider, tmp_path):
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsVectorLayer

    out, summ = str(tmp_path / "hh.csv"), str(tmp_path / "summary.gpkg")
    res = processing.run("ecoresp:partition", {"INPUT": DETHA98, "METHODS": "NT", "RAW_CHAIN": 1, "BOOTSTRAP": 3,
                                               "SEED": 2, "OUTPUT": out, "SUMMARY": summ},
                         feedback=QgsProcessingFeedback(), context=QgsProcessingContext())
    hh = QgsVectorLayer(res["OUTPUT"], "hh", "ogr")
    assert hh.isValid() and hh.featureCount() == 17520
    names = hh.fields().names()
    for s in ("05", "50", "95"):
        for c in ("NEE_{}_F", "NEE_{}_F_QC", "NEE_{}_RANDUNC", "USTAR_TH_{}", "RECO_NT_{}", "GPP_NT_{}", "QC_NT_{}"):
            assert c.format(s) in names
    assert {"RECO_NT", "GPP_NT", "QC_NT", "NEE"} <= set(names)
    nee = [f["NEE_50_F"] for f in hh.getFeatures()]
    assert all(v is not None and v == v for v in nee)  # every gap filled
    s = QgsVectorLayer(res["SUMMARY"], "s", "ogr")
    row = next(s.getFeatures())
    assert row["RECO_NT_gC_min"] <= row["RECO_NT_50_gC"] <= row["RECO_NT_gC_max"]
    assert row["NEE_50_rand_gC"] > 0 and "'n_boot': 3" in row["option_raw_chain"]


def test_partition_raw_warning_names_option(provider, tmp_path):
    """RAW_CHAIN off on a raw file: the warning about raw NEE names the RAW_CHAIN option."""
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    fb = QgsProcessingFeedback()
    processing.run("ecoresp:partition", {"INPUT": DETHA98, "METHODS": "NT", "OUTPUT": str(tmp_path / "o.csv")},
                   feedback=fb, context=QgsProcessingContext())
    assert "RAW_CHAIN" in fb.textLog(), fb.textLog()[-2000:]
