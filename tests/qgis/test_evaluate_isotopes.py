"""ecoresp:isotopepartition and ecoresp:evaluate on CSV tables, as a user would load them."""

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.qgis


def run(alg, params):
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    return processing.run(f"ecoresp:{alg}", params, feedback=QgsProcessingFeedback(),
                          context=QgsProcessingContext())


def read(path):
    from qgis.core import QgsVectorLayer

    lyr = QgsVectorLayer(path, "t", "ogr")
    assert lyr.isValid()
    return pd.DataFrame([f.attributes() for f in lyr.getFeatures()], columns=lyr.fields().names())


def test_isotope_worked_example(provider, tmp_path):
    src = tmp_path / "iso.csv"
    pd.DataFrame({"TIMESTAMP_START": ["2016-07-01 12:00", "2016-07-01 12:30", "2016-07-01 13:00"],
                  "NEE": [-10.0, -10.0, -8.0], "dN": [-28.25, -28.25, -27.0]}).to_csv(src, index=False)
    out = str(tmp_path / "out.csv")
    run("isotopepartition", {"INPUT": str(src), "NEE_FIELD": "NEE", "DELTA_N_FIELD": "dN",
                             "DELTA_R": -26.0, "DELTA_A": -27.5, "OUTPUT": out})
    got = read(out)
    # science.md section 9: NEE -10, dR -26, dA -27.5 (D 1.5), dN -28.25 -> GPP 15, ER 5
    assert float(got["ER_ISO"][0]) == pytest.approx(5.0, abs=1e-9)
    assert float(got["GPP_ISO"][0]) == pytest.approx(15.0, abs=1e-9)
    np.testing.assert_allclose(got["GPP_ISO"].astype(float) - got["ER_ISO"].astype(float),
                               -got["NEE"].astype(float), atol=1e-9)


def test_evaluate_field_and_reference_file(provider, tmp_path):
    from ecoresp_core.partitioning.evaluation import evaluate

    idx = pd.date_range("2015-01-01", periods=48 * 365, freq="30min")
    rng = np.random.default_rng(3)
    hour = idx.hour.values + idx.minute.values / 60
    truth = 3 + 2 * np.sin(2 * np.pi * (idx.dayofyear.values - 100) / 365) + 0.5 * np.sin(2 * np.pi * hour / 24)
    sim = truth * 1.05 + rng.normal(0, 0.3, len(idx))
    day = ((hour > 7) & (hour < 18)).astype(int)
    table = tmp_path / "er.csv"
    pd.DataFrame({"TIMESTAMP_START": idx.strftime("%Y-%m-%d %H:%M:%S"), "RECO_X": sim, "ER_REF": truth,
                  "IS_DAY": day}).to_csv(table, index=False)
    out = str(tmp_path / "m.csv")
    res = run("evaluate", {"INPUT": str(table), "SIM_FIELD": "RECO_X", "OBS_FIELD": "ER_REF",
                           "OUTPUT": out, "REPORT": str(tmp_path / "r.html")})
    got = read(res["OUTPUT"]).set_index("scale")
    expect = evaluate(pd.Series(truth, idx), pd.Series(sim, idx), daytime_mask=pd.Series(day > 0, idx))
    for scale in ("hourly", "daytime", "daily", "monthly", "annual"):
        for k in ("n", "R2", "RMSE", "ME", "EF"):
            g = pd.to_numeric(pd.Series([got.loc[scale, k]]), errors="coerce")[0]
            e = float(expect.loc[scale, k])
            assert (np.isnan(g) and np.isnan(e)) or g == pytest.approx(e, rel=1e-9), (scale, k)
    assert float(got.loc["annual", "annual_diff_pct"]) == pytest.approx(5.0, abs=0.5)
    # the same reference as an isotope file stamped at the END of each half hour, in UTC+1 -> UTC
    ref = tmp_path / "iso_er.csv"
    end_utc = idx + pd.Timedelta("30min") - pd.Timedelta("1h")
    pd.DataFrame({"TIMESTAMP": end_utc.strftime("%Y-%m-%d %H:%M"), "ER": truth}).to_csv(ref, index=False)
    res2 = run("evaluate", {"INPUT": str(table), "SIM_FIELD": "RECO_X", "REFERENCE_FILE": str(ref),
                            "REF_TIME_CONVENTION": 1, "REF_UTC_OFFSET": 1.0, "OUTPUT": str(tmp_path / "m2.csv")})
    got2 = read(res2["OUTPUT"]).set_index("scale")
    assert float(got2.loc["daily", "RMSE"]) == pytest.approx(float(expect.loc["daily", "RMSE"]), rel=1e-9)


def test_evaluate_needs_a_reference(provider, tmp_path):
    from qgis.core import QgsProcessingException

    table = tmp_path / "t.csv"
    pd.DataFrame({"TIMESTAMP_START": ["2015-01-01 00:00", "2015-01-01 00:30"], "A": [1, 2]}).to_csv(table, index=False)
    with pytest.raises(QgsProcessingException, match="Give a reference"):
        run("evaluate", {"INPUT": str(table), "SIM_FIELD": "A", "OUTPUT": str(tmp_path / "o.csv")})


def test_isotope_and_evaluate_dialog_tags_and_messages(dialog_surface):
    """Issue 14: Advanced parameters, search tags, help and messages by dialog labels."""
    from qgis.core import QgsProcessingContext

    alg, advanced, tags, text = dialog_surface("ecoresp:isotopepartition")
    assert advanced == {"TIME_FIELD", "MIN_DISEQUILIBRIUM", "EXACT"}
    assert {"isotopes", "13C", "flux partitioning", "Keeling plot"} <= set(tags)
    for word in ("DELTA_N_FIELD", "ISOFLUX_FIELD", "MIN_DISEQUILIBRIUM", "OUTPUT"):
        assert word not in text, word
    ok, msg = alg.checkParameterValues({"INPUT": "x.csv", "OUTPUT": "memory:"}, QgsProcessingContext())
    assert not ok and msg == ("Give exactly one of delta_N field (permil) (DELTA_N_FIELD) and or isoflux field "
                              "(permil umol m-2 s-1) (ISOFLUX_FIELD)")
    alg, advanced, tags, text = dialog_surface("ecoresp:evaluate")
    assert advanced == {"TIME_FIELD", "DAY_FIELD", "REF_TIME_CONVENTION", "REF_UTC_OFFSET"}
    assert {"evaluation", "validation", "RMSE", "Nash-Sutcliffe", "respiration"} <= set(tags)
    for word in ("OBS_FIELD", "REFERENCE_FILE", "SIM_FIELD", "OUTPUT", "REPORT"):
        assert word not in text, word
    ok, msg = alg.checkParameterValues({"INPUT": "x.csv", "SIM_FIELD": "A", "OUTPUT": "memory:"},
                                       QgsProcessingContext())
    assert not ok and msg == ("Give a reference: Reference field in the same table (OBS_FIELD) or or reference "
                              "file (isotope ER, CSV) (REFERENCE_FILE)")
