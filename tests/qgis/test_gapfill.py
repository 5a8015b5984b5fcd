"""ecoresp:gapfill inside QGIS on a tiny FLUXNET2015-style file: parameters -> core, output columns,
provenance."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import FLUX, FLUXNET_FILES

pytestmark = pytest.mark.qgis


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """20 days of DE-Hai 2007 with a synthetic USTAR and LE (seeded)."""
    raw = pd.read_csv(f"{FLUX}/{FLUXNET_FILES['DE-Hai']}", nrows=20 * 48)
    rng = np.random.default_rng(12)
    raw["USTAR"] = np.round(rng.uniform(0.05, 0.8, len(raw)), 3)
    le = np.round(raw["SW_IN_F"] * 0.3 + rng.normal(0, 5, len(raw)), 2)
    raw["LE"] = np.where(rng.random(len(raw)) < 0.3, -9999, le)
    path = tmp_path_factory.mktemp("gf") / "FLX_DE-Hai_FLUXNET2015_SUBSET_HH_2007-2007_1-3.csv"
    raw.to_csv(path, index=False)
    return str(path), raw


def _run(params):
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback
    return processing.run("ecoresp:gapfill", params, feedback=QgsProcessingFeedback(), context=QgsProcessingContext())


def test_gapfill_maps_parameters_to_core(provider, tiny, tmp_path):
    from ecoresp.ecoresp_core.common.turbulence import low_turbulence_flag
    from ecoresp.ecoresp_core.gapfilling.mds import MDSOptions, mds_gapfill
    from ecoresp.ecoresp_core.io.towers import read_tower

    path, raw = tiny
    out, meta = str(tmp_path / "filled.csv"), str(tmp_path / "meta.json")
    res = _run({"INPUT": path, "VARIABLES": "nee, TA", "USTAR_THRESHOLD": 0.2, "OUTPUT": out, "METADATA": meta})
    assert set(res) == {"OUTPUT", "METADATA"}
    df = pd.read_csv(res["OUTPUT"])
    assert len(df) == 20 * 48
    assert df["TIMESTAMP_START"].iat[0] == 200701010000 and df["TIMESTAMP_END"].iat[0] == 200701010030
    for v in ("NEE", "TA"):
        for s in ("_F", "_F_QC", "_F_SD", "_F_N", "_F_METH", "_F_WIN"):
            assert f"{v}{s}" in df.columns
    # the same fill from the core: QC 0 measured, night u* < 0.2 removed, REddyProc rules
    tower = read_tower(path).data
    flag = low_turbulence_flag(tower["USTAR"], tower["SW_IN"], 0.2)
    assert (df["USTAR_FLAG"].to_numpy() == flag).all() and flag.sum() > 0
    t = tower.copy()
    t.loc[flag != 0, "NEE"] = np.nan
    core = mds_gapfill(t, "NEE", qc="NEE_QC", options=MDSOptions.reddyproc())
    np.testing.assert_allclose(df["NEE_F"].to_numpy(), core["NEE_F"].to_numpy(), rtol=1e-9)
    removed = (flag != 0) & (raw["NEE_VUT_REF_QC"].to_numpy() == 0)
    assert (df["NEE_F_QC"].to_numpy()[removed] > 0).all()
    m = json.load(open(meta))
    assert m["rules"].startswith("REddyProc") and m["options"]["fill_all"] is True
    assert m["ustar_threshold"] == 0.2 and m["variables"]["TA"]["options"]["fill_all"] is False
    assert "numpy" in m["versions"] and m["variables"]["NEE"]["unfilled"] == 0


def test_gapfill_energy_oneflux_and_bad_variable(provider, tiny, tmp_path):
    from qgis.core import QgsProcessingException

    path, raw = tiny
    meta = str(tmp_path / "m.json")
    res = _run({"INPUT": path, "VARIABLES": "LE", "RULES": 1, "METHOD": 1, "OUTPUT": str(tmp_path / "le.csv"),
                "METADATA": meta})
    df = pd.read_csv(res["OUTPUT"])
    le = raw["LE"].replace(-9999, np.nan).to_numpy()
    meas = np.isfinite(le)
    np.testing.assert_allclose(df["LE_F"].to_numpy()[meas], le[meas])
    assert df["LE_F"].notna().all() and (df["LE_F_QC"].to_numpy()[~meas] > 0).all()
    m = json.load(open(meta))
    assert m["options"]["schedule"] == "oneflux" and m["method"] == "Vekuri23"
    mapped = _run({"INPUT": path, "VARIABLES": "LE,NEE", "COLUMNS": "LE=LE;NEE=NEE_VUT_REF",
                   "OUTPUT": str(tmp_path / "le2.csv")})
    np.testing.assert_allclose(pd.read_csv(mapped["OUTPUT"])["LE_F"].to_numpy()[meas], le[meas])
    with pytest.raises(QgsProcessingException, match="CO2"):
        _run({"INPUT": path, "VARIABLES": "NEE,CO2", "OUTPUT": str(tmp_path / "x.csv")})


def test_gapfill_dialog_tags_and_help(dialog_surface):
    """Issue 14: rarely changed parameters under Advanced, search tags, help by dialog labels."""
    alg, advanced, tags, text = dialog_surface("ecoresp:gapfill")
    assert advanced == {"FORMAT", "SITE_ID", "LATITUDE", "LONGITUDE", "UTC_OFFSET", "COLUMNS", "UNITS", "METHOD"}
    assert {"gap filling", "MDS", "u*", "eddy covariance", "REddyProc", "ecoresp"} <= set(tags)
    for word in ("USTAR_THRESHOLD", "METADATA", "COLUMNS", "VARIABLES", "OUTPUT", "docs/methods.md, section"):
        assert word not in text, word
    for label in ("<b>u* threshold for night-time NEE</b>", "<i>Column mapping</i>", "<b>Gap-filled records</b>",
                  "section 'Gap filling: marginal distribution sampling (MDS)'"):
        assert label in text, label
