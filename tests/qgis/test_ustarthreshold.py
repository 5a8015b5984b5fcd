"""ecoresp:ustarthreshold inside QGIS: a small synthetic tower file through the algorithm."""

import os

import numpy as np
import pytest

pytestmark = pytest.mark.qgis


def _tower_file(tmp_path):
    """A REddyProc-style text file (Year, DoY, Hour = END of the half hour) of a synthetic year with
    a u* threshold of 0.3 m s-1 (ecoresp_core.ustar.synthetic)."""
    from ecoresp_core.ustar.synthetic import synthetic_year

    df = synthetic_year(2019, threshold=0.3, seed=3)
    end = df.index + np.timedelta64(30, "m")
    hour = end.hour + end.minute / 60.0
    doy = end.dayofyear.to_numpy().copy()
    year = end.year.to_numpy().copy()
    midnight = hour == 0                       # REddyProc: 24.0 of the day before
    hour = np.where(midnight, 24.0, hour)
    shifted = end[midnight] - np.timedelta64(1, "D")
    doy[midnight], year[midnight] = shifted.dayofyear, shifted.year
    path = tmp_path / "XX-Syn_2019.txt"
    with open(path, "w") as fh:
        fh.write("Year\tDoY\tHour\tNEE\tTair\tRg\tUstar\n--\t--\t--\tumolm-2s-1\tdegC\tWm-2\tms-1\n")
        for row in zip(year, doy, hour, df["NEE"].fillna(-9999), df["TA"], df["SW_IN"], df["USTAR"]):
            fh.write("%d\t%d\t%.1f\t%.4f\t%.3f\t%.2f\t%.4f\n" % row)
    return str(path)


def test_ustarthreshold_algorithm(provider, tmp_path):
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsVectorLayer

    src = _tower_file(tmp_path)
    out = str(tmp_path / "ustar.csv")
    res = processing.run("ecoresp:ustarthreshold", {"INPUT": src, "METHOD": 0, "BOOTSTRAP": 5, "SEED": 3,
                                                    "LATITUDE": 50.0, "LONGITUDE": 10.0, "OUTPUT": out},
                         feedback=QgsProcessingFeedback(), context=QgsProcessingContext())
    layer = QgsVectorLayer(res["OUTPUT"], "u", "ogr")
    assert layer.isValid() and layer.featureCount() == 6      # the year and its five seasons
    names = layer.fields().names()
    for c in ("year", "season", "method", "USTAR_TH", "USTAR_TH_05", "USTAR_TH_16", "USTAR_TH_50",
              "USTAR_TH_84", "USTAR_TH_95", "n_boot_ok", "reason", "source_file", "ecoresp_versions"):
        assert c in names
    rows = {f["season"]: f for f in layer.getFeatures()}
    annual = rows["annual"]
    assert 0.27 < float(annual["USTAR_TH"]) < 0.45
    assert int(annual["n_boot_ok"]) == 5 and annual["method"] == "mpt"
    assert float(annual["USTAR_TH_05"]) <= float(annual["USTAR_TH_95"])
    assert os.path.basename(src) in annual["source_file"]


def test_ustarthreshold_missing_ustar(provider, tmp_path):
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingException, QgsProcessingFeedback

    bad = tmp_path / "XX-Bad_2019.txt"
    bad.write_text("Year\tDoY\tHour\tNEE\tTair\tRg\n--\t--\t--\tumolm-2s-1\tdegC\tWm-2\n"
                   + "".join(f"2019\t1\t{h / 2:.1f}\t1.0\t2.0\t0\n" for h in range(1, 49)))
    with pytest.raises(QgsProcessingException, match="USTAR"):
        processing.run("ecoresp:ustarthreshold", {"INPUT": str(bad), "BOOTSTRAP": 1, "LATITUDE": 50.0,
                                                  "LONGITUDE": 10.0, "OUTPUT": str(tmp_path / "o.csv")},
                       feedback=QgsProcessingFeedback(), context=QgsProcessingContext())


def test_ustarthreshold_dialog_tags_and_help(dialog_surface):
    """Issue 14: the seed and the file overrides under Advanced, search tags, help by dialog labels."""
    alg, advanced, tags, text = dialog_surface("ecoresp:ustarthreshold")
    assert advanced == {"FORMAT", "SITE_ID", "LATITUDE", "LONGITUDE", "UTC_OFFSET", "COLUMNS", "UNITS", "SEED"}
    assert {"u*", "u* threshold", "friction velocity", "moving point test", "change-point detection",
            "eddy covariance"} <= set(tags)
    for word in ("BOOTSTRAP", "SEED", "OUTPUT", "COLUMNS", "section 17"):
        assert word not in text, word
    assert "<b>Bootstrap samples</b>" in text and "<i>Random seed</i> (Advanced)" in text
    assert "section 'u* threshold (low-turbulence filtering)'" in text
