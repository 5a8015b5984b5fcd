"""Evaluation statistics (science.md section 10) and their aggregation to hourly, daytime, daily, monthly
and annual scales."""

import os

import numpy as np
import pandas as pd
import pytest

from ecoresp_core.common.fluxvalues import finite_values
from ecoresp_core.errors import InputError
from ecoresp_core.io.towers import read_tower, split_years
from ecoresp_core.partitioning.evaluation import UMOL_TO_GC_PER_DAY, annual_sums, evaluate, metrics

OBS = [2.0, 3.5, 1.2, 4.8, 3.3, 0.9]
SIM = [2.4, 3.1, 1.0, 4.1, 3.9, 1.1]
FLUX = os.path.join(os.path.dirname(__file__), "..", "..", "data", "flux")


def test_worked_example():
    m = metrics(OBS, SIM)
    assert list(m) == ["n", "R2", "RMSE", "MAE", "ME", "EF", "RMSLE", "n_negative_masked"]
    assert m["n"] == 6 and m["n_negative_masked"] == 0
    for key, val in (("RMSE", 0.456435), ("MAE", 0.416667), ("ME", -0.016667), ("EF", 0.889852),
                     ("R2", 0.892737), ("RMSLE", 0.113311)):
        assert m[key] == pytest.approx(val, abs=5e-7), key


def test_r2_is_pearson_not_ef():
    o = np.array(OBS)
    m = metrics(o, 2 * o + 1)
    assert m["R2"] == pytest.approx(1.0) and m["EF"] < 0
    assert m["ME"] == pytest.approx(o.mean() + 1)
    assert metrics(o, o)["EF"] == 1.0 and metrics(o, o)["RMSE"] == 0.0


def test_nan_pairs_and_negative_values():
    o = np.array(OBS + [np.nan, 1.0, -0.5, 2.0])
    s = np.array(SIM + [1.0, np.nan, 0.3, -0.2])
    m = metrics(o, s)
    assert m["n"] == 8 and m["n_negative_masked"] == 2
    assert m["RMSLE"] == pytest.approx(0.113311, abs=5e-7)  # the two negative pairs are left out
    e = s[[0, 1, 2, 3, 4, 5, 8, 9]] - o[[0, 1, 2, 3, 4, 5, 8, 9]]
    assert m["RMSE"] == pytest.approx(np.sqrt(np.mean(e ** 2)))
    try:
        from sklearn.metrics import mean_squared_log_error
        assert m["RMSLE"] == pytest.approx(np.sqrt(mean_squared_log_error(OBS, SIM)))
    except ImportError:  # pragma: no cover
        pass


def test_degenerate_inputs():
    m = metrics([], [])
    assert m["n"] == 0 and np.isnan(m["RMSE"]) and np.isnan(m["R2"])
    m = metrics([1.0, 1.0], [1.0, 2.0])
    assert m["n"] == 2 and np.isnan(m["EF"]) and np.isnan(m["R2"]) and m["ME"] == 0.5
    with pytest.raises(InputError, match="differ in length"):
        metrics([1, 2], [1])


def test_finite_values_refuses_infinite_and_empty_columns():
    """The check evaluate and isotopepartition make on each flux field: values pass unchanged,
    NaN among numbers is allowed; any infinite value, or no number at all, is an error naming the
    column, the count and the first row."""
    out = finite_values([1.0, np.nan, -2.5], "SIM: field X")
    np.testing.assert_array_equal(out, [1.0, np.nan, -2.5])
    with pytest.raises(InputError, match=r"^SIM: field X: 2 value\(s\) are infinite \(e\.g\. -inf in row 2\)"):
        finite_values([1.0, -np.inf, np.inf], "SIM: field X")
    with pytest.raises(InputError, match=r"^SIM: field X: holds no number \(all 3 value\(s\) are empty or missing\)"):
        finite_values([np.nan] * 3, "SIM: field X")
    with pytest.raises(InputError, match=r"all 0 value\(s\)"):
        finite_values([], "SIM: field X")


def test_evaluate_needs_two_time_steps():
    with pytest.raises(InputError, match="at least 2 time steps; the series has 1"):
        evaluate(_series([1.0]), _series([1.0]))


def _series(values, start="2011-01-01", freq="30min"):
    idx = pd.date_range(start, periods=len(values), freq=freq, name="TIMESTAMP_START")
    return pd.Series(np.asarray(values, dtype="float64"), index=idx)


def test_evaluate_scales_and_annual_sums():
    n = 48 * 365
    rng = np.random.default_rng(1)
    obs = _series(2.0 + np.sin(np.arange(n) / 48 * 2 * np.pi / 365) + rng.normal(0, 0.3, n))
    sim = obs + 0.1
    ev = evaluate(obs, sim, scales=("native", "hourly", "daily", "monthly", "annual"))
    assert list(ev.index) == ["native", "hourly", "daily", "monthly", "annual"]
    assert list(ev.loc["daily", ["n", "n_periods"]]) == [365, 365]
    assert ev.loc["hourly", "n"] == 8760 and ev.loc["monthly", "n"] == 12 and ev.loc["annual", "n"] == 1
    assert (ev["ME"] - 0.1).abs().max() < 1e-12 and (ev["RMSE"] - 0.1).abs().max() < 1e-12
    assert ev.loc["annual", "obs_sum_gC_m2_yr"] == pytest.approx(obs.mean() * 365 * 1.0377504)
    assert ev.loc["annual", "annual_diff_pct"] == pytest.approx(10.0 / obs.mean())
    daily = obs.resample("D").mean()
    ev_d = evaluate(obs, obs * 1.1, scales=("daily",))
    assert ev_d.loc["daily", "ME"] == pytest.approx((0.1 * daily).mean())
    # an incomplete day and month drop out of the daily / monthly / annual scales
    gappy = sim.copy()
    gappy.iloc[48 * 40 + 5] = np.nan
    ev2 = evaluate(obs, gappy, scales=("hourly", "daily", "monthly", "annual"))
    assert ev2.loc["daily", "n"] == 364 and ev2.loc["monthly", "n"] == 11 and ev2.loc["annual", "n"] == 0
    assert ev2.loc["hourly", "n"] == 8759 and np.isnan(ev2.loc["annual", "obs_sum_gC_m2_yr"])
    ev3 = evaluate(obs, gappy, scales=("daily", "annual"), min_coverage=0.97)
    assert ev3.loc["daily", "n"] == 365 and ev3.loc["annual", "n"] == 1


def test_unit_conversion_constants():
    assert UMOL_TO_GC_PER_DAY == pytest.approx(1.037750, abs=5e-7)
    s = annual_sums(_series(np.ones(48 * 366), start="2012-01-01"))
    assert s.loc[2012] == pytest.approx(366 * 1.0377504)
    s = annual_sums(_series(np.ones(48 * 365)))
    assert s.loc[2011] == pytest.approx(378.7789, abs=5e-4)  # science.md section 1


def test_daytime_scale():
    n = 48 * 10
    obs = _series(np.arange(n) % 48 / 10.0)
    sim = obs * 1.2
    mask = pd.Series((obs.index.hour >= 8) & (obs.index.hour < 16), index=obs.index)
    ev = evaluate(obs, sim, scales=("hourly", "daytime"), daytime_mask=mask)
    assert ev.loc["daytime", "n"] == 80 and ev.loc["hourly", "n"] == 240
    ev = evaluate(obs, sim, scales=("daytime",))
    assert ev.loc["daytime", "n"] == 0 and ev.loc["daytime", "note"] == "no daytime_mask given"
    hourly = evaluate(_series(obs.values[::2], freq="60min"), _series(sim.values[::2], freq="60min"),
                      scales=("hourly",))
    assert hourly.loc["hourly", "n"] == 240
    with pytest.raises(InputError, match="unknown evaluation scale"):
        evaluate(obs, sim, scales=("weekly",))


def test_reference_annual_sum_matches_peer_table():
    """GPP_NT_VUT_REF of DE-Tha 2011 sums to the peer table's 2102 g C m-2 yr-1."""
    df = read_tower(os.path.join(FLUX, "FLX_DE-Tha_FLUXNET2015_zarrsubset_HH_2011-2012.csv.gz"))
    (_, y2011), (_, y2012) = ((y, t.data) for y, t in split_years(df))
    assert annual_sums(y2011["GPP_NT_REF"]).loc[2011] == pytest.approx(2102, abs=1.0)
    assert annual_sums(y2012["GPP_NT_REF"]).loc[2012] == pytest.approx(2026, abs=1.0)
    ev = evaluate(y2011["GPP_NT_REF"], y2011["GPP_DT_REF"], daytime_mask=y2011["SW_IN"] > 10)
    assert list(ev.index) == ["hourly", "daytime", "daily", "monthly", "annual"]
    assert (ev["n"] > 0).all() and (ev["R2"].iloc[:4] > 0.85).all() and np.isnan(ev.loc["annual", "R2"])
    assert ev.loc["annual", "obs_sum_gC_m2_yr"] == pytest.approx(2102, abs=1.0)
