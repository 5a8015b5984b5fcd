"""Methods side by side per site-year: table layout, summary, failures per method, report."""

import os

import numpy as np
import pytest

from ecoresp_core.errors import InputError
from ecoresp_core.io.towers import read_tower
from ecoresp_core.partitioning.sitepartition import (annual_sum_gc, parse_methods, partition_site,
                                                     report_html)
from ecoresp_core.partitioning.synthetic import make_site_year

FLUX = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "data", "flux")


def test_parse_methods():
    assert parse_methods("nt, DT-RH ,dt-asym") == ("NT", "DTRH", "DTASYM")
    assert parse_methods(None) == ("NT", "DT", "DTRH")
    with pytest.raises(InputError, match="unknown method 'GL'"):
        parse_methods("NT,GL")


def test_annual_sum_units():
    # 1 umol m-2 s-1 for a 365-day year = 378.7789 g C m-2 (science.md section 1)
    assert annual_sum_gc(np.ones(17520), 1800.0) == pytest.approx(378.7789, abs=5e-4)
    v = np.ones(17520)
    v[:100] = np.nan
    assert annual_sum_gc(v, 1800.0) == pytest.approx(378.7789, abs=5e-4)
    v[:5000] = np.nan
    assert np.isnan(annual_sum_gc(v, 1800.0))


@pytest.mark.slow  # two FLUXNET2015 site-years, three methods
def test_fluxnet_two_years_three_methods():
    df = read_tower(os.path.join(FLUX, "FLX_DE-Hai_FLUXNET2015_zarrsubset_HH_2007-2008.csv.gz"))
    sp = partition_site(df, "NT,DT,DTRH")
    assert len(sp.table) == len(df) and list(sp.summary["year"]) == [2007, 2008]
    for m in ("NT", "DT", "DTRH"):
        assert sp.table[f"RECO_{m}"].notna().mean() > 0.99
    np.testing.assert_allclose(sp.table["GPP_NT"], sp.table["RECO_NT"] - sp.table["NEE"], atol=1e-9)
    # DT and DT-RH: the light-response-curve GPP (FLUXNET2015 definition): never negative, zero at
    # night; RECO - NEE under its own name
    night = sp.table["SW_IN"] <= 4
    for m in ("DT", "DTRH"):
        assert (sp.table[f"GPP_{m}"].dropna() >= 0).all()
        assert (sp.table.loc[night, f"GPP_{m}"] == 0).mean() > 0.95
        np.testing.assert_allclose(sp.table[f"GPP_{m}_RECO_MINUS_NEE"], sp.table[f"RECO_{m}"] - sp.table["NEE"],
                                   atol=1e-9)
        # how RECO - GPP fits the measured day-time NEE, computed independently
        day = (sp.table["SW_IN"] > 4) & (sp.table["SW_IN_POT"] > 0) & (sp.table["NEE_QC"] == 0)
        for year, g in sp.table[day].groupby(sp.table[day].index.year):
            rmse = np.sqrt(np.nanmean((g[f"RECO_{m}"] - g[f"GPP_{m}"] - g["NEE"]) ** 2))
            assert sp.summary.set_index("year").loc[year, f"NEE_{m}_DAY_RMSE"] == pytest.approx(rmse, rel=1e-9)
    s = sp.summary.set_index("year")
    assert (s["GPP_NT_vs_REF_R2"] > 0.99).all() and (s["GPP_DT_vs_REF_R2"] > 0.99).all()
    assert (s["E0_DAY_DTRH_K"] > 0).all() and s["GAMMA_DTRH"].abs().max() <= 0.05
    w = sp.windows
    assert set(w["method"]) == {"NT", "DT", "DTRH"}
    stages = set(w.loc[w["method"] == "DTRH", "stage"])
    assert stages == {"light-response window", "joint-model block"}
    sel = w[(w["method"] == "NT") & (w["stage"] == "E0 night-time window") & (w["SELECTED"] == 1)]
    assert len(sel) == 6  # best 3 E0 windows per site-year
    np.testing.assert_allclose(sel.groupby("year")["E0_K"].mean().round(2).values,
                               sp.summary["E0_NT_K"].values, atol=0.011)
    lr = w[(w["method"] == "DTRH") & (w["stage"] == "light-response window")]
    assert lr["RH_DAY_MEAN"].between(0, 100).mean() > 0.95 and lr["TA_DAY_MEAN"].notna().mean() > 0.95
    html = report_html(sp, "DE-Hai")
    assert html.count("<svg") == 4 and "Daytime ER by method" in html


def test_failed_method_gets_qc9_and_a_flag():
    df, _ = make_site_year(seed=2)
    no_night = {"NT": {"night_rg_max": -1.0}}  # NT sees no night record: it cannot be fitted
    sp = partition_site(df, "NT,DT", options=no_night)
    assert (sp.table["QC_NT"] == 9).all() and sp.table["RECO_NT"].isna().all()
    assert "failed" in sp.summary["flags_NT"].iloc[0]
    assert sp.table["RECO_DT"].notna().all()
    with pytest.raises(InputError, match="no method could be fitted.*too little night data"):
        partition_site(df, "NT", options=no_night)


def test_evidence_tables_progress_and_report_section():
    """options['evidence']: SUPPORTED_MODEL and the JOINT_* columns in the summary, the model and test
    tables in FLUXNET style, progress that keeps rising through the bootstrap, Cancel inside it, and
    the report's evidence section first (synthetic site-year, 120 days, 12 replicates)."""
    from ecoresp_core.errors import Cancelled
    from ecoresp_core.io import report

    df, _ = make_site_year(seed=3)
    df = df.iloc[: 120 * 48]
    ticks = []
    sp = partition_site(df, "NT,DTRH", options={"evidence": {"n_boot": 12, "seed": 1}}, progress=ticks.append)
    s = sp.summary.iloc[0]
    assert s["SUPPORTED_MODEL"] in ("DT", "DTASYM", "DTRHONLY", "DTRH")
    assert s["EVIDENCE"].startswith(s["SUPPORTED_MODEL"])
    assert s["JOINT_N_BOOT"] == 12 and s["JOINT_SEED"] == 1
    assert s["JOINT_E0_NIGHT_K_CI_LO"] <= s["JOINT_E0_NIGHT_K_CI_HI"]
    assert list(sp.evidence.columns[:3]) == ["site_id", "year", "MODEL"]
    assert {"E0_NIGHT_K", "E0_DAY_K", "GAMMA", "AIC", "BIC", "CV_CHI2", "CV_RMSE_DAY"} <= set(sp.evidence.columns)
    assert list(sp.evidence["MODEL"]) == ["DT", "DTASYM", "DTRHONLY", "DTRH"]
    assert {"MODEL", "AGAINST", "P_EFF", "N_EFF"} <= set(sp.evidence_tests.columns)
    # progress rises monotonically to 1; the model comparison (after the two methods: 2 of 2 + 10 + 0.6 x 12
    # units) reports its fits, its cross-validation and each chunk of bootstrap replicates
    assert ticks == sorted(ticks) and ticks[-1] == 1.0
    assert len({t for t in ticks if 2 / 19.2 < t < 1}) >= 4
    html = report_html(sp, "synthetic")
    first = html.index("<h2>")
    assert html.index("Model evidence", first) == first + 4
    assert html.index("Model comparison: fit, held-out fit and tests") < html.index("Mean diurnal and seasonal")
    assert f"supported model <b>{s['SUPPORTED_MODEL']}</b>" in html and "LR p vs DT (effective n)" in html
    assert html.count("<svg") == 6  # E0 and daytime ER intervals + the four charts
    assert "no data" in report.interval_chart([], {}, "empty", "y")
    # Cancel during the model comparison stops the run
    calls = {"n": 0}

    def cancelled():
        calls["n"] += 1
        return calls["n"] > 8  # inside the bootstrap (two checks per chunk of replicates)

    with pytest.raises(Cancelled):
        partition_site(df, "NT", options={"evidence": {"n_boot": 50}}, cancelled=cancelled)
    with pytest.raises(InputError, match="n_boot must be 0 or more"):
        partition_site(df, "NT", options={"evidence": {"n_boot": -1}})
