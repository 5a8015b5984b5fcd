"""Partial correlation and dominant driver (science.md section 15)."""

import datetime as dt

import numpy as np
import pytest
from scipy import optimize

from ecoresp_core.attribution import partialcorr as pc
from ecoresp_core.errors import InputError

# science.md 15 worked example [CALC]: n = 30, drivers TA and P (one control each)
R_TA, P_TA = 0.838422, 1.36719e-08
R_P, P_P = 0.650601, 1.32858e-04


def _series_with_partials(n=30, r_yx=R_TA, r_yz=R_P, c=0.3, seed=3):
    """ER, TA, P (n,) whose *sample* partial correlations after linear detrending are exactly
    r_yx and r_yz: columns orthonormal to [1, t] coloured with the Cholesky factor of a
    correlation matrix solved for the targets, plus linear trends (removed again by detrending).
    (The calc/ script behind science.md's example series was not available; the example's
    r_p and p values are reproduced exactly through this construction.)"""
    def partials(ab):
        a, b = ab
        return [(a - b * c) / np.sqrt((1 - b * b) * (1 - c * c)) - r_yx,
                (b - a * c) / np.sqrt((1 - a * a) * (1 - c * c)) - r_yz]
    a, b = optimize.fsolve(partials, [0.7, 0.5], xtol=1e-14)
    corr = np.array([[1, a, b], [a, 1, c], [b, c, 1]])
    t = np.arange(n, dtype=float)
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(np.column_stack([np.ones(n), t, rng.normal(size=(n, 3))]))
    z = q[:, 2:] @ np.linalg.cholesky(corr).T
    trends = np.array([[100.0, 2.0], [8.0, 0.05], [900.0, -3.0]])
    return [z[:, i] * s + trends[i, 0] + trends[i, 1] * t for i, s in enumerate((40.0, 0.8, 120.0))]


def test_worked_example_numbers():
    er, ta, p = _series_with_partials()
    er_d, drv, _ = pc.prepare_series(er, [ta, p], names=["TA", "P"], mode="asis", detrend="linear")
    res = pc.partial_correlation(er_d, drv)
    assert res["r"][0] == pytest.approx(R_TA, abs=1e-9)
    assert res["r"][1] == pytest.approx(R_P, abs=1e-9)
    assert res["p"][0] == pytest.approx(P_TA, rel=2e-5)
    assert res["p"][1] == pytest.approx(P_P, rel=2e-5)
    assert res["df"] == 27 and res["n_valid"] == 30
    assert res["dominant"] == 1 and res["dominant_r"] == pytest.approx(R_TA, abs=1e-9)


def _ols_partial(y, x, j):
    """Independent route: residuals of OLS on [1, Z] with numpy.linalg.lstsq."""
    z = np.column_stack([np.ones(len(y))] + [x[:, k] for k in range(x.shape[1]) if k != j])
    ey = y - z @ np.linalg.lstsq(z, y, rcond=None)[0]
    ex = x[:, j] - z @ np.linalg.lstsq(z, x[:, j], rcond=None)[0]
    return np.corrcoef(ey, ex)[0, 1]


def test_agrees_with_lstsq_residuals_with_gaps():
    rng = np.random.default_rng(11)
    t, m, ny, nx = 30, 4, 6, 7
    mix = rng.normal(size=(m, m)) * 0.5 + np.eye(m)
    drivers = np.einsum("ij,jtyx->ityx", mix, rng.normal(size=(m, t, ny, nx)))
    er = 0.8 * drivers[0] - 0.5 * drivers[2] + rng.normal(size=(t, ny, nx))
    er[rng.random(er.shape) < 0.05] = np.nan
    drivers[1][rng.random(er.shape) < 0.05] = np.nan
    res = pc.partial_correlation(er, drivers)
    from scipy import stats
    for (iy, ix) in [(0, 0), (2, 3), (5, 6), (4, 1), (1, 5)]:
        y = er[:, iy, ix]
        x = drivers[:, :, iy, ix].T
        ok = np.isfinite(y) & np.all(np.isfinite(x), axis=1)
        assert res["n_valid"][iy, ix] == ok.sum()
        for j in range(m):
            r = _ols_partial(y[ok], x[ok], j)
            assert res["r"][j, iy, ix] == pytest.approx(r, abs=1e-10)
            df = ok.sum() - 2 - (m - 1)
            tt = r * np.sqrt(df / (1 - r * r))
            assert res["p"][j, iy, ix] == pytest.approx(2 * stats.t.sf(abs(tt), df), rel=1e-8)


def _known_driver_cube(seed, t=30, m=5, ny=20, nx=25, collinear=0.6, noise=0.6):
    """Drivers with pairwise correlation ~collinear; ER = driver k(pixel) + 0.25 * another + noise."""
    rng = np.random.default_rng(seed)
    common = rng.normal(size=(t, ny, nx))
    drivers = np.stack([np.sqrt(collinear) * common + np.sqrt(1 - collinear) * rng.normal(size=(t, ny, nx))
                        for _ in range(m)])
    truth = rng.integers(0, m, size=(ny, nx))
    other = (truth + 1 + rng.integers(0, m - 1, size=(ny, nx))) % m
    sign = rng.choice([-1.0, 1.0], size=(ny, nx))
    pick = lambda k: np.take_along_axis(drivers, k[None, None], axis=0)[0]  # noqa: E731
    er = sign * pick(truth) + 0.25 * pick(other) + noise * rng.normal(size=(t, ny, nx))
    # trends on top: removed by detrending
    tt = np.arange(t)[:, None, None]
    return er + 0.05 * tt, drivers + 0.02 * tt, truth + 1, sign


def test_known_dominant_driver_map():
    er, drivers, truth, sign = _known_driver_cube(5)
    e, d, _ = pc.prepare_series(er, list(drivers), mode="asis")
    res = pc.partial_correlation(e, d)
    share = np.mean(res["dominant"] == truth)
    assert share >= 0.95, share
    right = res["dominant"] == truth
    assert np.all(np.sign(res["dominant_r"][right]) == sign[right])


def test_nan_handling_and_nodata():
    rng = np.random.default_rng(2)
    er = rng.normal(size=(20, 2, 2))
    d = rng.normal(size=(3, 20, 2, 2))
    er[:, 0, 0] = np.nan                 # all missing -> nodata
    er[:15, 0, 1] = np.nan               # 5 valid < min_valid 10 -> nodata
    d[1, :, 1, 0] = 7.0                  # constant driver -> nodata
    d[2, 3:6, 1, 1] = np.nan             # gaps in one driver only: the 17 common steps are used
    res = pc.partial_correlation(er, d, min_valid=10)
    assert res["dominant"][0, 0] == pc.NODATA and res["dominant"][0, 1] == pc.NODATA
    assert res["dominant"][1, 0] == pc.NODATA and np.all(np.isnan(res["r"][:, 1, 0]))
    assert res["n_valid"][1, 1] == 17 and np.all(np.isfinite(res["r"][:, 1, 1]))
    keep = np.r_[0:3, 6:20]
    ref = pc.partial_correlation(er[keep, 1:, 1:], d[:, keep, 1:, 1:])
    np.testing.assert_allclose(res["r"][:, 1, 1], ref["r"][:, 0, 0], atol=1e-12)


def test_exactly_collinear_drivers_are_nodata():
    rng = np.random.default_rng(4)
    a = rng.normal(size=(25, 1))
    res = pc.partial_correlation(rng.normal(size=(25, 1)), np.stack([a, 2 * a + 1, rng.normal(size=(25, 1))]))
    assert res["dominant"][0] == pc.NODATA and np.isnan(res["r"]).all()


def test_not_significant_is_none():
    rng = np.random.default_rng(8)
    res = pc.partial_correlation(rng.normal(size=(30, 200)), rng.normal(size=(3, 30, 200)), alpha=0.01)
    none = res["dominant"] == pc.NONE
    assert 0.9 < none.mean() < 1.0  # ~3 % false positives expected at alpha 0.01 with 3 drivers
    assert np.all(np.isnan(res["dominant_r"][none]))
    assert np.all(res["p"][:, none] >= 0.01)


def test_annual_mode_aggregates_by_name_and_detrends():
    dates = [dt.datetime(2000 + i // 12, i % 12 + 1, 15) for i in range(36)]
    er = np.tile(np.arange(1, 13, dtype=float), 3)[:, None] * np.array([1.0, 2.0])
    er[:12] += 1.0  # year sums 90, 78, 78 (first pixel)
    pre = np.ones((36, 2))
    tmp = np.ones((36, 2)) * np.repeat([1.0, 5.0, 3.0], 12)[:, None]
    e, d, dts = pc.prepare_series(er, [tmp, pre], dates, names=["tmp", "pre"], mode="annual",
                                  detrend="none")
    assert [x.year for x in dts] == [2000, 2001, 2002]
    np.testing.assert_allclose(e[:, 0], [90, 78, 78])
    np.testing.assert_allclose(d[0][:, 0], [1, 5, 3])   # temperature: mean
    np.testing.assert_allclose(d[1][:, 0], [12, 12, 12])  # precipitation: sum
    e, d, _ = pc.prepare_series(er, [tmp, pre], dates, names=["tmp", "pre"], mode="annual",
                                aggregations={"tmp": "sum"}, detrend="linear")
    # sums minus the OLS line
    np.testing.assert_allclose(d[0][:, 0], np.array([12, 60, 36]) - (24 + 12 * np.arange(3)), atol=1e-9)
    e, d, dts = pc.prepare_series(er, [tmp, pre], dates, names=["tmp", "pre"], mode="annual", detrend="diff")
    np.testing.assert_allclose(e[:, 0], [-12, 0])
    assert [x.year for x in dts] == [2001, 2002]


def test_default_aggregation_names():
    for n in ("pre", "PRE", "precip", "precipitation", "pr", "tp", "wet", "frs", "rain_mm", "cru_pre"):
        assert pc.default_aggregation(n) == "sum", n
    for n in ("tmp", "TA", "vap", "pet", "pressure", "rh", "spei", "ssrd", "swvl1", "dtr"):
        assert pc.default_aggregation(n) == "mean", n


def test_monthly_mode_removes_seasonal_cycle():
    dates = [dt.datetime(2000 + i // 12, i % 12 + 1, 15) for i in range(48)]
    rng = np.random.default_rng(1)
    season = 10 * np.sin(np.arange(48) * 2 * np.pi / 12)[:, None]
    x = rng.normal(size=(2, 48, 3))
    er = season + x[0] + rng.normal(size=(48, 3)) * 0.1
    e, d, _ = pc.prepare_series(er, [x[0] + season, x[1] + season], dates, names=["TA", "SM"], mode="monthly")
    res = pc.partial_correlation(e, d)
    assert np.all(res["dominant"] == 1) and np.all(res["r"][0] > 0.95)


def test_errors():
    er = np.zeros((10, 2))
    with pytest.raises(InputError, match="at least 2 drivers"):
        pc.prepare_series(er, [er], names=["TA"], mode="asis")
    with pytest.raises(InputError, match="two drivers are named 'TA'"):
        pc.prepare_series(er, [er, er], names=["TA", "TA"], mode="asis")
    with pytest.raises(InputError, match="driver P: shape"):
        pc.prepare_series(er, [er, er[:5]], names=["TA", "P"], mode="asis")
    with pytest.raises(InputError, match="unknown mode"):
        pc.prepare_series(er, [er, er], mode="weekly")
    with pytest.raises(InputError, match="unknown detrending"):
        pc.prepare_series(er, [er, er], mode="asis", detrend="quadratic")
    with pytest.raises(InputError, match="aggregation given for unknown"):
        pc.aggregations_for(["TA", "P"], {"SM": "sum"})
    with pytest.raises(InputError, match="significance level"):
        pc.partial_correlation(er, np.zeros((2, 10, 2)), alpha=1.5)
    with pytest.raises(InputError, match="do not match"):
        pc.partial_correlation(er, np.zeros((2, 9, 2)))


def test_prepared_linear_detrending_equals_trends_detrend():
    from ecoresp_core.common.detrend import detrend
    rng = np.random.default_rng(12)
    er = rng.normal(size=(25, 3, 4)) + 0.1 * np.arange(25)[:, None, None]
    d = [rng.normal(size=(25, 3, 4)) * (k + 1) + k * np.arange(25)[:, None, None] for k in range(3)]
    d[1][[2, 7, 8], 1, 2] = np.nan
    er[:, 0, 0] = np.nan
    er[:24, 2, 3] = np.nan  # one valid step: NaN after detrending
    e, dd, _ = pc.prepare_series(er, d, names=["a", "b", "c"], mode="asis")
    common = np.isfinite(er) & np.all(np.isfinite(np.stack(d)), axis=0)
    for got, x in zip([e] + list(dd), [er] + d):
        ref = detrend(np.where(common, x, np.nan))
        np.testing.assert_allclose(got, ref, atol=1e-10, equal_nan=True)
