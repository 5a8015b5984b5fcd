"""The bootstrap table (REddyProc sEstimateUstarScenarios) and the u* filter (sMDSGapFillAfterUstar)."""

import importlib.util

import numpy as np
import pandas as pd
import pytest

from ecoresp_core.errors import Cancelled, InputError
from ecoresp_core.ustar.bootstrap import COLUMNS, aggregate, ustar_thresholds
from ecoresp_core.ustar.estimate import UstarEstimate
from ecoresp_core.ustar.filtering import FLAG, apply_ustar_filter, thresholds_per_record
from ecoresp_core.ustar.synthetic import synthetic_year

QUANTILES = ["USTAR_TH_05", "USTAR_TH_16", "USTAR_TH_50", "USTAR_TH_84", "USTAR_TH_95"]


@pytest.fixture(scope="module")
def year():
    return synthetic_year(threshold=0.3, seed=5)


@pytest.fixture(scope="module")
def table(year):
    return ustar_thresholds(year, n_boot=12, seed=7)


def test_table_columns_and_rows(table):
    assert list(table.columns) == COLUMNS
    assert table["season"].tolist() == ["annual", "2020001", "2020003", "2020006", "2020009", "2020012"]
    assert (table["year"] == 2020).all() and (table["method"] == "mpt").all()
    assert (table["n_boot_ok"] == 12).all()


def test_quantiles_ordered_and_bracket_the_estimate(table):
    q = table[QUANTILES].to_numpy()
    assert np.isfinite(q).all()
    assert (np.diff(q, axis=1) >= 0).all()
    annual = table.iloc[0]
    assert annual["USTAR_TH_05"] <= annual["USTAR_TH"] <= annual["USTAR_TH_95"]
    assert annual["USTAR_TH"] == pytest.approx(table["USTAR_TH"].iloc[1:].max())


def test_reproducible_with_seed(year, table):
    again = ustar_thresholds(year, n_boot=12, seed=7)
    pd.testing.assert_frame_equal(table, again)
    other = ustar_thresholds(year, n_boot=12, seed=8)
    assert not np.allclose(other[QUANTILES].to_numpy(), table[QUANTILES].to_numpy())
    # the original estimate does not depend on the seed
    np.testing.assert_allclose(other["USTAR_TH"], table["USTAR_TH"])


def test_no_bootstrap_and_progress_and_cancel(year):
    seen = []
    t = ustar_thresholds(year, n_boot=1, progress=seen.append)
    np.testing.assert_allclose(t["USTAR_TH_05"], t["USTAR_TH"])
    assert seen[-1] == pytest.approx(1.0)
    with pytest.raises(Cancelled):
        ustar_thresholds(year, n_boot=5, cancelled=lambda: True)
    with pytest.raises(InputError):
        ustar_thresholds(year, method="xyz")
    with pytest.raises(InputError):
        ustar_thresholds(year.drop(columns="SW_IN"))


def test_cross_year_fallbacks():
    ok = UstarEstimate(0.3, {"2001003": 0.3, "2001006": float("nan")}, 4000, "",
                       {"season_reasons": {"2001006": "too few records"}})
    none = UstarEstimate(float("nan"), {"2002003": float("nan")}, 10, "no valid night records")
    other = UstarEstimate(0.5, {"2003003": 0.5}, 4000, "")
    agg = aggregate({2001: ok, 2002: none, 2003: other})
    assert agg[(2002, "annual")][0] == pytest.approx(0.4)          # median over years
    assert "median over years" in agg[(2002, "annual")][1]
    assert agg[(2002, "2002003")][0] == pytest.approx(0.4)         # season <- its year
    assert agg[(2001, "2001006")] == (pytest.approx(0.3), "too few records; year's threshold")


def test_too_few_records_give_nan_and_reason():
    df = synthetic_year(seed=6)
    night = df[df["SW_IN"] < 10].iloc[:40]
    t = ustar_thresholds(night, n_boot=5)
    assert t["USTAR_TH"].isna().all()
    assert t[QUANTILES].isna().all().all()
    assert (t["n_boot_ok"] == 0).all()
    assert "bootstrap: 0 of 5" in t["reason"].iloc[0] and "pooled estimate failed" in t["reason"].iloc[0]


def test_two_years_december_season_belongs_to_next_year():
    df = pd.concat([synthetic_year(2004, seed=1), synthetic_year(2005, seed=2)])
    t = ustar_thresholds(df, n_boot=1)
    by = dict(zip(t["season"], t["year"]))
    assert by["2004001"] == 2004 and by["2004012"] == 2005 and by["2005012"] == 2005
    assert t[t["season"] == "annual"]["year"].tolist() == [2004, 2005]


@pytest.mark.slow
def test_closed_loop_bootstrap_covers_the_truth():
    t = ustar_thresholds(synthetic_year(threshold=0.25, seed=9), n_boot=50, seed=1)
    seasons = t[t["season"] != "annual"]
    inside = (seasons["USTAR_TH_05"] <= 0.25 * 1.1) & (seasons["USTAR_TH_95"] >= 0.25 * 0.9)
    assert inside.mean() >= 0.6


def test_cpd_path(year):
    if importlib.util.find_spec("ecoresp_core.ustar.cpd") is None:
        pytest.skip("ecoresp_core/ustar/cpd.py not written yet")
    t = ustar_thresholds(year.iloc[: 48 * 120], method="cpd", n_boot=1)
    assert list(t.columns) == COLUMNS and (t["method"] == "cpd").all()


def test_apply_ustar_filter_night_only():
    idx = pd.date_range("2020-06-01", periods=6, freq="30min")
    df = pd.DataFrame({"NEE": [1.0, 2, 3, 4, 5, 6], "USTAR": [0.1, 0.5, 0.1, np.nan, 0.1, 0.5],
                       "SW_IN": [0.0, 0, 500, 0, np.nan, 0]}, index=idx)
    out = apply_ustar_filter(df, 0.3)
    assert out[FLAG].tolist() == [1, 0, 0, 4, 1, 0]        # day-time low u* kept; missing SW_IN = night
    assert out["NEE"].isna().tolist() == [True, False, False, True, True, False]
    assert df["NEE"].notna().all()                          # the input is not changed
    after = apply_ustar_filter(df, 0.3, flag_after_low=True)
    assert after[FLAG].tolist() == [1, 2, 0, 4, 1, 2]
    day = apply_ustar_filter(df, 0.3, filter_daytime=True)
    assert day[FLAG].tolist()[2] == 1
    per = apply_ustar_filter(df, [0.05, 0.05, 0.05, 0.05, np.nan, 0.05])
    assert per[FLAG].tolist() == [0, 0, 0, 4, 3, 0]


def test_thresholds_per_record(table):
    idx = pd.DatetimeIndex(["2020-01-10", "2020-07-01", "2020-12-24"])
    annual = thresholds_per_record(idx, table)
    assert np.allclose(annual, table["USTAR_TH"].iloc[0])
    seasonal = thresholds_per_record(idx, table, seasonal=True, column="USTAR_TH_50")
    s = table.set_index("season")["USTAR_TH_50"]
    np.testing.assert_allclose(seasonal, [s["2020001"], s["2020006"], s["2020012"]])
