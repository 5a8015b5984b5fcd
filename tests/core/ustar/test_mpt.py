"""The moving point test (REddyProc sEstUstarThold): binning, plateau, seasons, reasons, closed loop."""

import numpy as np
import pandas as pd
import pytest

from ecoresp_core.errors import InputError
from ecoresp_core.ustar.mpt import (MPTOptions, bins_balanced, bins_min_records, mpt_threshold,
                                    plateau_threshold, season_estimate, season_factor,
                                    season_factor_within_year, season_factor_yday, season_years,
                                    valid_records)
from ecoresp_core.ustar.synthetic import synthetic_year

# REddyProc tests/testthat/test_UStarFilter.R, "usEstUstarThresholdSingleFw2Binned": expect 0.46
REDDYPROC_BINS_U = [0.276666666666667, 0.326666666666667, 0.341111111111111, 0.363333333333333,
                    0.384444444444444, 0.401111111111111, 0.417777777777778, 0.434444444444444,
                    0.462222222222222, 0.495555555555556, 0.521111111111111, 0.553333333333333,
                    0.587777777777778, 0.602222222222222, 0.624444444444444, 0.654444444444444,
                    0.693333333333333, 0.77, 0.936666666666667, 2.11]
REDDYPROC_BINS_NEE = [1.105, 1.26888888888889, 1.22444444444444, 0.908888888888889, 0.888888888888889,
                      1.13333333333333, 1.85888888888889, 1.46777777777778, 2.30222222222222, 1.95,
                      0.948888888888889, 1.09888888888889, 2.36666666666667, 0.985555555555556,
                      1.30777777777778, 1.63555555555556, 1.75777777777778, 1.84222222222222, 1.59,
                      -0.316666666666667]


def test_plateau_reddyproc_regression_case():
    assert plateau_threshold(REDDYPROC_BINS_U, REDDYPROC_BINS_NEE) == pytest.approx(0.462222222222222)


def test_plateau_hand_made():
    u = np.arange(1, 21) / 10.0
    nee = np.minimum(u, 0.6)                 # saturates at class 6 (u = 0.6)
    # class 5 (0.5): 0.5 < 0.95 * 0.6; class 6: 0.6 >= 0.95 * 0.6 and class 7 too
    assert plateau_threshold(u, nee) == pytest.approx(0.6)
    # a plateau test needs the next class to pass too: a single spike is skipped
    nee2 = nee.copy()
    nee2[1] = 5.0
    assert plateau_threshold(u, nee2) == pytest.approx(0.6)
    # plateauCrit 0.8: class 5 (0.5 < 0.48?) no; 0.5 >= 0.8 * 0.6 = 0.48 yes, class 6 yes
    assert plateau_threshold(u, nee, MPTOptions(plateau_crit=0.8)) == pytest.approx(0.5)
    # still rising at the end: none (the last max(2, minNuStarPlateau) = 3 classes are no candidates)
    assert np.isnan(plateau_threshold(u, u))
    assert np.isnan(plateau_threshold(u[:3], nee[:3]))


def test_bins_balanced_keeps_equal_values_together():
    x = np.array([1, 2, 3, 3, 3, 3, 4, 5, 6, 7], dtype=float)
    # size floor(10 / 3) = 3: class 2 starts at the first new value at or after position 3 (0-based),
    # the 4 (position 6); class 3 at the first new value at or after position 6: the same 4, so
    # class 2 stays empty (REddyProc's .binWithEqualValuesBalanced does the same)
    assert bins_balanced(x, 3).tolist() == [1, 1, 1, 1, 1, 1, 3, 3, 3, 3]
    x = np.array([1, 2, 3, 3, 4, 5, 6, 7, 8, 9], dtype=float)
    assert bins_balanced(x, 3).tolist() == [1, 1, 1, 1, 2, 2, 3, 3, 3, 3]
    assert bins_balanced(np.arange(14.0), 7).tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7]


def test_bins_min_records():
    # size floor(10 / 3) = 3; the runs of equal values extend a class
    x = np.array([1, 1, 1, 1, 2, 3, 4, 5, 6, 7], dtype=float)
    assert bins_min_records(x, 3).tolist() == [1, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    # a short last class (< 90 % of the size) joins the previous one
    x = np.arange(11.0)
    assert bins_min_records(x, 4).tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 4, 4, 4]
    # never more than n_bins classes
    assert bins_min_records(np.arange(25.0), 4).max() == 4


def test_season_factor_december_goes_into_next_year():
    idx = pd.DatetimeIndex(["2004-01-15", "2004-02-28 23:30", "2004-03-01", "2004-06-10", "2004-09-30",
                            "2004-12-01", "2005-01-10", "2005-02-20", "2005-03-01", "2005-12-31 23:30"])
    s = season_factor(idx)
    assert s.tolist() == ["2004001", "2004001", "2004003", "2004006", "2004009",
                          "2004012", "2004012", "2004012", "2005003", "2005012"]
    full = pd.date_range("2004-01-01", "2006-01-01", freq="30min", inclusive="left")
    years = season_years(full, season_factor(full))
    assert years["2004001"] == 2004 and years["2004012"] == 2005 and years["2005012"] == 2005
    assert sorted(years) == ["2004001", "2004003", "2004006", "2004009", "2004012",
                             "2005003", "2005006", "2005009", "2005012"]


def test_other_season_factors():
    idx = pd.DatetimeIndex(["2004-01-15", "2004-03-01", "2004-11-30", "2004-12-01", "2005-02-01"])
    assert season_factor_within_year(idx).tolist() == ["2004012", "2004003", "2004009", "2004012", "2005012"]
    # REddyProc vignettes/DEGebExample: starts (day of year, year); 1 January of the first year added
    s = season_factor_yday(idx, [(70, 2004), (320, 2004), (70, 2005)])
    assert s.tolist() == ["2004001", "2004001", "2004320", "2004320", "2004320"]


def test_valid_records_night_and_finite():
    df = pd.DataFrame({"USTAR": [0.1, 0.2, np.nan, 0.3], "NEE": [1, 2, 3, np.nan],
                       "TA": [5, 5, 5, 5], "SW_IN": [0, 10, 0, 0]}, dtype=float)
    assert valid_records(df).tolist() == [True, False, False, False]


def test_reasons_on_too_few_records():
    rng = np.random.default_rng(3)
    pc, why = season_estimate(rng.random(100), rng.random(100), rng.random(100))
    assert np.isnan(pc).all() and "160" in why
    pc, why = season_estimate(rng.random(500), rng.random(500), rng.random(500))
    assert np.isnan(pc).all() and "700" in why
    df = synthetic_year(seed=2).iloc[:2000]          # January: < 3000 valid records, seasons pooled
    est = mpt_threshold(df)
    assert est.n_records < 3000
    assert "few records" in est.reason
    night = df[df["SW_IN"] < 10]
    est = mpt_threshold(night.iloc[:50])
    assert np.isnan(est.threshold) and "pooled estimate failed" in est.reason
    with pytest.raises(InputError):
        mpt_threshold(df.drop(columns="USTAR"))


def test_correlated_temperature_classes_are_skipped():
    df = synthetic_year(seed=4)
    df["USTAR"] = 0.02 * (df["TA"] + 30.0)           # u* follows TA: |cor| >= 0.5 in every class
    est = mpt_threshold(df)
    assert np.isnan(est.threshold)
    assert all(np.isnan(v).all() for v in est.details["per_class"].values())


@pytest.mark.parametrize("true", [0.2, 0.35])
def test_closed_loop_recovers_the_threshold(true):
    est = mpt_threshold(synthetic_year(threshold=true, seed=11))
    seasonal = np.array(list(est.seasonal.values()))
    assert np.isfinite(seasonal).all()
    assert np.median(seasonal) == pytest.approx(true, rel=0.12)
    # the annual value is the maximum of the seasons: at or above the truth, not far
    assert true * 0.9 <= est.threshold <= true * 1.5
    assert est.threshold == pytest.approx(np.nanmax(seasonal))
    assert est.reason == ""


def test_options_preset_is_reddyproc():
    o = MPTOptions.reddyproc()
    assert (o.ta_classes, o.ustar_classes, o.sw_thr, o.plateau_crit, o.plateau_fwd) == (7, 20, 10.0, 0.95, 10)
    assert (o.min_records_temp, o.min_records_season, o.min_records_year) == (100, 160, 3000)
    assert o.with_(ta_classes=5).ta_classes == 5
