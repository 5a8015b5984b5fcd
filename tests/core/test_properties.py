"""Property-based tests (hypothesis) of the statistical kernels against independent references.

- trends (``ecoresp_core.trends.trend.mann_kendall``): pymannkendall's ``original_test`` per
  pixel and ``scipy.stats.theilslopes``, on series with ties, gaps, constant runs, all-constant
  series, magnitudes from 1e-6 to 1e9, integer values and lengths near ``min_valid``; invariance
  under y -> a y + b (a > 0);
- partial correlation (``ecoresp_core.attribution.partialcorr``): the correlation of numpy
  ``lstsq`` residuals; a constant series gives NaN (the documented degenerate case);
- cell areas (``ecoresp_core.common.geometry``): a global grid sums to 4 pi R^2 (authalic
  sphere), areas are positive, symmetric about the equator and additive;
- Lloyd-Taylor (``ecoresp_core.partitioning.respiration`` and the night-time window fit);
- evaluation metrics (``ecoresp_core.common.metrics``): sklearn / numpy on the finite pairs.

QGIS-free: ``pytest -c tests/pytest.ini -p no:pytest_qgis tests/core/test_properties.py``.
Every test is derandomized (the same examples on every run) and bounded in examples.
"""

import numpy as np
import pymannkendall
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn import metrics as skm

from ecoresp_core.attribution.partialcorr import NODATA, partial_correlation
from ecoresp_core.common.geometry import R_AUTHALIC_M, cell_areas, row_areas_m2
from ecoresp_core.common.metrics import metrics
from ecoresp_core.partitioning.nighttime import _fit_lt_windows
from ecoresp_core.partitioning.respiration import (KELVIN, T0_K, apparent_q10, convert_rref,
                                                   e0_from_q10, lloyd_taylor)
from ecoresp_core.trends.trend import TREND_BANDS, mann_kendall

EPS = np.finfo("float64").eps
TREND_CODE = {"increasing": 1.0, "decreasing": -1.0, "no trend": 0.0}


def _settings(n):
    """``n`` examples, reproducible (derandomized, no example database), no deadline."""
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ---------------------------------------------------------------------------
# value strategies
# ---------------------------------------------------------------------------

# value families (one per series): heavy ties (small integers), large integers, +-1e-6..1e9
# floats (mixed magnitudes), float32 values (the kernel's float32 comparison path)
_FAMILIES = (
    st.integers(-3, 3).map(float),
    st.integers(-10 ** 9, 10 ** 9).map(float),
    st.tuples(st.floats(1e-6, 1e9), st.booleans()).map(lambda vs: -vs[0] if vs[1] else vs[0]),
    st.floats(-1e3, 1e3, width=32).map(float),
)


@st.composite
def _series(draw, t, family=None, gaps=True, max_run=None, gap_tenths=5, min_runs=2):
    """A length-``t`` series of one value family: at least ``min_runs`` constant runs of up to
    ``max_run`` steps (default t // 3; runs of one value make an all-constant series) repeated
    cyclically; NaN gaps at about ``gap_tenths``/10 of the steps in half of the series (none
    if ``gaps`` is False)."""
    values = _FAMILIES[draw(st.integers(0, len(_FAMILIES) - 1)) if family is None else family]
    runs = draw(st.lists(st.tuples(values, st.integers(1, max_run or max(1, t // 3))),
                         min_size=min(min_runs, t), max_size=t))
    y = np.resize(np.array([v for v, k in runs for _ in range(k)], dtype="float64"), t)
    if gaps and draw(st.booleans()):
        y[np.array(draw(st.lists(st.integers(0, 9), min_size=t, max_size=t))) < gap_tenths] = np.nan
    return y


@st.composite
def _cube(draw, lengths=st.integers(2, 30), gaps=True, max_side=3):
    """A (t, rows, cols) stack of independent :func:`_series`, t drawn from ``lengths``."""
    t = draw(lengths)
    rows, cols = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    pixels = [draw(_series(t, gaps=gaps)) for _ in range(rows * cols)]
    return np.stack(pixels, axis=1).reshape(t, rows, cols)


def _spread(v):
    """Range of ``v`` relative to its largest magnitude (0 for a constant)."""
    v = v[np.isfinite(v)]
    top = np.max(np.abs(v)) if v.size else 0.0
    return float(np.ptp(v) / top) if top > 0 else 0.0


# ---------------------------------------------------------------------------
# trends: Mann-Kendall and Theil-Sen
# ---------------------------------------------------------------------------

def _pixels(cube):
    """(index, series) for every pixel of a (t, rows, cols) stack."""
    t = cube.shape[0]
    for ix in np.ndindex(cube.shape[1:]):
        yield ix, cube[(slice(0, t),) + ix]


def _assert_close(got, want, rtol=1e-9, atol=0.0, what=""):
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


# long series (more than LONG_PAIRS = 2000 slope pairs, up to the dense pass that also counts
# the Mann-Kendall signs from 16384 pairs) take the kernel's other selection paths
_LONG = st.integers(64, 200)


@_settings(120)
@given(cube=_cube(), data=st.data())
def test_trend_equals_pymannkendall_per_pixel(cube, data):
    """Every band of every pixel equals pymannkendall's original_test on that pixel's series;
    pixels below min_valid are NaN but for n_valid; p in [0, 1]."""
    _assert_trend_equals_pymannkendall(cube, data.draw(st.integers(2, cube.shape[0] + 1), label="min_valid"))


@_settings(30)
@given(cube=_cube(lengths=_LONG, max_side=2))
def test_long_trend_equals_pymannkendall_per_pixel(cube):
    """The same on long series (the long slope-selection paths of the kernel)."""
    _assert_trend_equals_pymannkendall(cube, 3)


def _assert_trend_equals_pymannkendall(cube, min_valid):
    res = mann_kendall(cube, min_valid=min_valid)
    assert set(res) == set(TREND_BANDS)
    for ix, y in _pixels(cube):
        n = int(np.count_nonzero(~np.isnan(y)))
        assert res["n_valid"][ix] == n
        if n < min_valid:
            event("trend: pixel below min_valid")
            assert all(np.isnan(res[b][ix]) for b in TREND_BANDS if b != "n_valid"), (ix, y)
            continue
        event(f"trend: compared, {'constant' if np.nanmax(y) == np.nanmin(y) else 'varying'}, "
              f"{'gaps' if n < y.size else 'no gaps'}, n_valid {'==' if n == min_valid else '>'} min_valid")
        ref = pymannkendall.original_test(y)
        what = f"pixel {ix} series {y.tolist()}"
        assert res["s"][ix] == ref.s and res["var_s"][ix] == pytest.approx(ref.var_s, rel=1e-12), what
        for band, want in (("z", ref.z), ("p_value", ref.p), ("tau", ref.Tau)):
            _assert_close(res[band][ix], want, atol=1e-12, what=f"{band} {what}")
        scale = np.nanmax(np.abs(y))
        _assert_close(res["slope"][ix], ref.slope, rtol=1e-12, what=f"slope {what}")
        _assert_close(res["intercept"][ix], ref.intercept, rtol=1e-12, atol=4 * EPS * scale * len(y),
                      what=f"intercept {what}")
        assert res["trend"][ix] == TREND_CODE[ref.trend], what
        assert 0.0 <= res["p_value"][ix] <= 1.0, what


@_settings(80)
@given(cube=_cube(gaps=False), ci_alpha=st.floats(0.01, 0.4))
def test_sen_slope_and_interval_equal_scipy_theilslopes(cube, ci_alpha):
    """Gap-free series: slope, intercept and the 1 - ci_alpha slope interval equal
    scipy.stats.theilslopes (Sen 1968, tie-corrected variance)."""
    res = mann_kendall(cube, min_valid=2, ci_alpha=ci_alpha)
    for ix, y in _pixels(cube):
        ref = stats.theilslopes(y, np.arange(y.size, dtype="float64"), alpha=1.0 - ci_alpha)
        what = f"pixel {ix} series {y.tolist()} ci_alpha {ci_alpha}"
        atol = 4 * EPS * np.max(np.abs(y)) * y.size
        _assert_close(res["slope"][ix], ref.slope, rtol=1e-12, what=what)
        _assert_close(res["intercept"][ix], ref.intercept, rtol=1e-12, atol=atol, what=what)
        _assert_close(res["slope_lower"][ix], ref.low_slope, rtol=1e-12, what=what)
        _assert_close(res["slope_upper"][ix], ref.high_slope, rtol=1e-12, what=what)
        assert res["slope_lower"][ix] <= res["slope"][ix] <= res["slope_upper"][ix], what


def _pair_signs(y):
    """Sign of y_j - y_i for every pair of valid values."""
    v = y[~np.isnan(y)]
    return np.sign(v[None, :] - v[:, None])


@_settings(100)
@given(cube=_cube(), a=st.floats(1e-3, 1e3), b=st.floats(-1e6, 1e6))
def test_trend_under_affine_transform(cube, a, b):
    """y -> a y + b with a > 0: S, var_s, z and p do not change when the transform keeps the
    order of every pair (it may merge values by rounding); the slope scales by a and the
    intercept maps to a i + b, within the rounding of the transformed values."""
    y2 = a * cube + b
    r1, r2 = mann_kendall(cube, min_valid=2), mann_kendall(y2, min_valid=2)
    for ix, y in _pixels(cube):
        what = f"pixel {ix} series {y.tolist()} a={a} b={b}"
        if np.count_nonzero(~np.isnan(y)) < 2:
            continue
        assert 0.0 <= r2["p_value"][ix] <= 1.0, what
        same_order = np.array_equal(_pair_signs(y), _pair_signs(y2[(slice(None),) + ix]))
        event(f"affine: pair order {'kept' if same_order else 'changed by rounding'}")
        if same_order:
            for band in ("s", "var_s", "z", "p_value", "tau", "trend"):
                assert r2[band][ix] == r1[band][ix], f"{band} {what}"
        # every transformed value is a y + b to within delta; pair slopes move by <= 2 delta
        delta = 2 * EPS * (a * np.nanmax(np.abs(y)) + abs(b))
        tol = 4 * delta + 8 * EPS * a * np.nanmax(np.abs(y))
        assert abs(r2["slope"][ix] - a * r1["slope"][ix]) <= tol, what
        if abs(a * r1["slope"][ix]) > tol:
            assert np.sign(r2["slope"][ix]) == np.sign(r1["slope"][ix]), what
        icpt_tol = delta + tol * y.size + 4 * EPS * (abs(a * r1["intercept"][ix]) + abs(b))
        assert abs(r2["intercept"][ix] - (a * r1["intercept"][ix] + b)) <= icpt_tol, what


@_settings(30)
@given(t=st.integers(2, 40), c=st.one_of(st.integers(-10 ** 9, 10 ** 9).map(float), st.floats(-1e9, 1e9)))
def test_constant_series_has_no_trend(t, c):
    """An all-constant series: S = 0, var_s = 0, z = 0, p = 1, no trend, slope 0, intercept c."""
    res = mann_kendall(np.full((t, 1, 1), c), min_valid=2)
    assert (res["s"][0, 0], res["var_s"][0, 0], res["z"][0, 0], res["p_value"][0, 0]) == (0, 0, 0, 1)
    assert (res["trend"][0, 0], res["slope"][0, 0], res["intercept"][0, 0]) == (0, 0, c)


# ---------------------------------------------------------------------------
# partial correlation
# ---------------------------------------------------------------------------

def _lstsq_partial(y, x, j):
    """Partial correlation of y with x[j] given the other drivers: residuals of numpy
    least squares on [1, others], then their Pearson correlation (independent route).  The
    columns are scaled to unit norm first (same residuals): lstsq's default rcond would
    otherwise drop a column of values near 1e-6 next to one near 1e8."""
    z = np.column_stack([np.ones(y.size)] + [x[k] for k in range(len(x)) if k != j])
    z = z / np.linalg.norm(z, axis=0)
    ey = y - z @ np.linalg.lstsq(z, y, rcond=None)[0]
    ex = x[j] - z @ np.linalg.lstsq(z, x[j], rcond=None)[0]
    return float(ey @ ex / np.sqrt((ey @ ey) * (ex @ ex)))


@st.composite
def _attribution_cube(draw):
    """ER and m drivers over P pixels: (m + 1, t, P) with a few NaN gaps, ties and short
    constant runs (the common valid steps of m + 1 series must leave a sample)."""
    t, m, npix = draw(st.integers(4, 25)), draw(st.integers(2, 4)), draw(st.integers(1, 4))
    cols = [[draw(_series(t, family=draw(st.sampled_from([0, 2, 3])), max_run=2, gap_tenths=1,
                                 min_runs=t // 2))
             for _ in range(npix)] for _ in range(m + 1)]
    return np.array(cols).transpose(0, 2, 1)


@_settings(90)
@given(stack=_attribution_cube())
def test_partial_correlation_equals_lstsq_residuals(stack):
    """r equals the correlation of lstsq residuals (within the conditioning of the drivers'
    correlation matrix); r in [-1, 1], p in [0, 1]; pixels with too few common steps, a
    constant series or collinear series are NaN / NODATA, never a finite number."""
    er, x = stack[0], stack[1:]
    m = x.shape[0]
    res = partial_correlation(er, x)
    for p in range(er.shape[1]):
        ok = np.all(np.isfinite(stack[:, :, p]), axis=0)
        s = stack[:, ok, p]
        what = f"pixel {p}: {s.tolist()}"
        assert res["n_valid"][p] == ok.sum(), what
        r = res["r"][:, p]
        if ok.sum() < m + 2 or np.any(np.ptp(s, axis=1) == 0):
            event("partial correlation: too few steps or a constant series")
            assert np.all(np.isnan(r)) and res["dominant"][p] == NODATA, what
            continue
        if min(_spread(row) for row in s) < 1e-6:
            event("partial correlation: skipped, spread at rounding level")
            continue  # spread at the rounding level of the values: no reference is exact
        corr = np.corrcoef(s)
        det = np.linalg.det(corr)
        if det < 1e-10:  # at or near the documented collinearity cut (det < 1e-12): either outcome
            event("partial correlation: skipped, near-collinear")
            continue
        event("partial correlation: compared")
        assert np.all(np.isfinite(r)), what
        assert np.all(np.abs(r) <= 1.0) and np.all((res["p"][:, p] >= 0) & (res["p"][:, p] <= 1)), what
        want = [_lstsq_partial(s[0], s[1:], j) for j in range(m)]
        np.testing.assert_allclose(r, want, rtol=0, atol=1e-12 + 1e3 * EPS * np.linalg.cond(corr),
                                   err_msg=what)
        assert res["df"][p] == ok.sum() - 2 - (m - 1), what


_PC_EXAMPLE = np.array([[1.0, 3, 2, 5, 4, 6], [2, 1, 4, 3, 6, 5], [0, 1, 0, 2, 1, 3]])[:, :, None]


@_settings(40)
@given(stack=_attribution_cube(), which=st.integers(0, 4), c=st.floats(-1e9, 1e9))
@example(stack=_PC_EXAMPLE, which=2, c=0.1)  # was r = [0.486, -0.0]: the mean's rounding error
@example(stack=_PC_EXAMPLE, which=0, c=2.2)  # was r = [-0.0, -0.0]  (fixed by a second centring)
def test_constant_series_gives_nan_partial_correlation(stack, which, c):
    """ER or one driver constant over the pixel's steps: every r and p of the pixel is NaN and
    the dominant driver is NODATA (documented), never a finite number from rounding noise."""
    which = which % stack.shape[0]
    stack[which, :, 0] = c
    res = partial_correlation(stack[0], stack[1:])
    assert np.all(np.isnan(res["r"][:, 0])) and np.all(np.isnan(res["p"][:, 0])), stack[:, :, 0].tolist()
    assert res["dominant"][0] == NODATA and np.isnan(res["dominant_r"][0])


# ---------------------------------------------------------------------------
# cell areas
# ---------------------------------------------------------------------------

SPHERE_M2 = 4.0 * np.pi * R_AUTHALIC_M ** 2


def _global_gt(height, width):
    return (-180.0, 360.0 / width, 0.0, 90.0, 0.0, -180.0 / height)


@_settings(60)
@given(height=st.integers(1, 2000), width=st.integers(1, 400))
def test_global_grid_covers_the_sphere(height, width):
    """Cells of a global grid of any resolution: positive, symmetric about the equator,
    summing to 4 pi R^2 of the authalic sphere (the documented Earth model)."""
    areas = cell_areas(_global_gt(height, width), height, width)
    assert areas.shape == (height, width)
    assert np.all(areas > 0)
    assert areas.sum() == pytest.approx(SPHERE_M2, rel=1e-11)
    np.testing.assert_allclose(areas, areas[::-1], rtol=1e-9)


@_settings(60)
@given(south=st.floats(-90, 89), span=st.floats(1e-3, 180), rows=st.integers(1, 500),
       merge=st.integers(1, 10), dx=st.floats(1e-3, 360))
def test_cell_areas_are_additive(south, span, rows, merge, dx):
    """Merging ``merge`` rows gives the cell of the merged rows; the rows of a band sum to the
    band's area R^2 dlon (sin north - sin south)."""
    span = min(span, 90.0 - south)
    dy = span / (rows * merge)
    north = south + rows * merge * dy
    fine = row_areas_m2((0.0, dx, 0.0, north, 0.0, -dy), rows * merge)
    coarse = row_areas_m2((0.0, dx, 0.0, north, 0.0, -dy * merge), rows)
    scale = R_AUTHALIC_M ** 2 * np.deg2rad(dx)
    np.testing.assert_allclose(fine.reshape(rows, merge).sum(axis=1), coarse, rtol=1e-9,
                               atol=1e-12 * scale * merge)
    band = scale * (np.sin(np.deg2rad(north)) - np.sin(np.deg2rad(south)))
    assert fine.sum() == pytest.approx(band, rel=1e-9, abs=1e-12 * scale * rows * merge)
    assert np.all(fine > 0)


# ---------------------------------------------------------------------------
# Lloyd-Taylor
# ---------------------------------------------------------------------------

@_settings(60)
@given(tref=st.floats(-30, 40), rref=st.floats(1e-3, 100), e0=st.floats(0, 1000),
       temps=st.lists(st.floats(-39.9, 60), min_size=2, max_size=30))
def test_lloyd_taylor_reference_and_monotone(tref, rref, e0, temps):
    """R(Tref) = Rref exactly; R is non-decreasing in T for E0 >= 0 (strictly increasing over
    a range of 1 K when E0 > 1 K); Rref converts back and forth between reference temperatures;
    apparent Q10 and E0 are inverse."""
    assert lloyd_taylor(tref, rref, e0, tref) == rref
    temps = np.sort(temps)
    r = lloyd_taylor(temps, rref, e0, tref)
    assert np.all(r > 0) and np.all(np.diff(r) >= 0), (temps.tolist(), r.tolist())
    if e0 > 1 and temps[-1] - temps[0] > 1:
        assert r[-1] > r[0]
    back = convert_rref(convert_rref(rref, e0, tref, 25.0), e0, 25.0, tref)
    assert back == pytest.approx(rref, rel=1e-12)
    assert e0_from_q10(apparent_q10(e0)) == pytest.approx(e0, rel=1e-12, abs=1e-9)


@_settings(40)
@given(rref=st.floats(0.2, 20), e0=st.floats(50, 450),
       temps=st.lists(st.floats(-20, 35), min_size=8, max_size=60))
@example(rref=3.0, e0=50.0, temps=[0.0] * 8 + [3.0])  # was E0 NaN: the perfect fit's SSE rounded below 0
def test_lloyd_taylor_fit_recovers_parameters(rref, e0, temps):
    """The night-time window fit (profile least squares over E0) recovers Rref and E0 from
    noise-free Lloyd-Taylor data spanning at least 3 K."""
    temps = np.array(temps)
    if np.ptp(temps) < 3.0:
        temps = np.append(temps, temps.min() + 3.0)
    y = lloyd_taylor(temps, rref, e0)
    x = 1.0 / (15.0 + KELVIN - T0_K) - 1.0 / (temps + KELVIN - T0_K)
    e0_fit, rref_fit, _, _, n = _fit_lt_windows(x, y, np.zeros(temps.size, dtype=int), 1)
    assert n[0] == temps.size
    assert e0_fit[0] == pytest.approx(e0, abs=1e-3), temps.tolist()
    assert rref_fit[0] == pytest.approx(rref, rel=1e-5), temps.tolist()


# ---------------------------------------------------------------------------
# evaluation metrics
# ---------------------------------------------------------------------------

@st.composite
def _obs_sim(draw, min_pairs=0):
    """obs and sim of equal length with NaN / inf gaps in either."""
    n = draw(st.integers(max(1, min_pairs), 40))
    value = st.one_of(st.floats(-1e4, 1e4), st.integers(-3, 3).map(float))
    gap = st.sampled_from([np.nan, np.inf, -np.inf])
    pair = st.one_of(st.tuples(value, value), st.tuples(gap, value), st.tuples(value, gap))
    pairs = draw(st.lists(pair, min_size=n, max_size=n))
    return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])


def _finite_pairs(obs, sim):
    keep = np.isfinite(obs) & np.isfinite(sim)
    return obs[keep], sim[keep]


@_settings(120)
@given(pair=_obs_sim())
def test_metrics_equal_sklearn_on_finite_pairs(pair):
    """n, ME, MAE, RMSE, EF (= sklearn r2_score), R2 (Pearson r squared) and RMSLE (over the
    pairs where neither value is negative) equal the references over the finite pairs;
    undefined statistics are NaN."""
    obs, sim = pair
    got = metrics(obs, sim)
    o, s = _finite_pairs(obs, sim)
    what = f"obs {obs.tolist()} sim {sim.tolist()}"
    assert got["n"] == o.size and got["n_negative_masked"] == int(np.sum((o < 0) | (s < 0))), what
    if o.size == 0:
        assert all(np.isnan(got[k]) for k in ("ME", "MAE", "RMSE", "EF", "R2", "RMSLE")), what
        return
    scale = max(np.max(np.abs(o)), np.max(np.abs(s)))
    assert got["ME"] == pytest.approx(np.mean(s - o), rel=1e-12, abs=4 * EPS * scale), what
    assert got["MAE"] == pytest.approx(skm.mean_absolute_error(o, s), rel=1e-12, abs=4 * EPS * scale), what
    assert got["RMSE"] == pytest.approx(np.sqrt(skm.mean_squared_error(o, s)), rel=1e-12,
                                        abs=4 * EPS * scale), what
    assert got["RMSE"] >= got["MAE"] - 1e-12 * scale and got["MAE"] >= abs(got["ME"]) - 1e-12 * scale, what
    if np.ptp(o) == 0:
        assert np.isnan(got["EF"]), f"EF of a constant obs: {got['EF']} for {what}"
    elif _spread(o) > 1e-6:
        want = skm.r2_score(o, s)
        assert got["EF"] == pytest.approx(want, rel=1e-9, abs=1e-9), what
    if o.size < 2 or np.ptp(o) == 0 or np.ptp(s) == 0:
        assert np.isnan(got["R2"]), f"R2 of a constant series: {got['R2']} for {what}"
    elif min(_spread(o), _spread(s)) > 1e-6:
        assert 0.0 <= got["R2"] <= 1.0, what
        assert got["R2"] == pytest.approx(np.corrcoef(o, s)[0, 1] ** 2, abs=1e-9), what
    pos = (o >= 0) & (s >= 0)
    if pos.any():
        want = np.sqrt(skm.mean_squared_log_error(o[pos], s[pos]))
        assert got["RMSLE"] == pytest.approx(want, rel=1e-9, abs=1e-12), what
    else:
        assert np.isnan(got["RMSLE"]), what


@_settings(80)
@given(pair=_obs_sim(min_pairs=3), a=st.floats(1e-3, 1e3), b=st.floats(-1e3, 1e3), seed=st.integers(0, 2 ** 16))
def test_metrics_invariances(pair, a, b, seed):
    """Reordering the pairs changes nothing; swapping obs and sim negates ME and keeps RMSE,
    MAE and R2; y -> a y + b on both scales RMSE, MAE and ME by a and keeps EF and R2."""
    obs, sim = pair
    o, s = _finite_pairs(obs, sim)
    if o.size < 3 or min(_spread(o), _spread(s)) < 1e-6:
        return
    base = metrics(obs, sim)
    perm = np.random.default_rng(seed).permutation(obs.size)
    shuffled = metrics(obs[perm], sim[perm])
    for k in ("n", "ME", "MAE", "RMSE", "EF", "R2", "RMSLE"):
        assert shuffled[k] == pytest.approx(base[k], rel=1e-9, abs=1e-9, nan_ok=True), k
    swapped = metrics(sim, obs)
    assert swapped["ME"] == -base["ME"]
    for k in ("MAE", "RMSE", "R2"):
        assert swapped[k] == pytest.approx(base[k], rel=1e-12, abs=1e-12, nan_ok=True), k
    scale = max(np.max(np.abs(o)), np.max(np.abs(s)))
    moved = metrics(a * obs + b, a * sim + b)
    shift = 8 * EPS * (a * scale + abs(b))  # rounding of the transformed values
    for k in ("ME", "MAE", "RMSE"):
        assert moved[k] == pytest.approx(a * base[k], rel=1e-9, abs=2 * shift), k
    # EF and R2 are ratios of sums of squares about the means: values moved by d = shift / a
    # (in the original units) change them by at most about n d (scale + d) / (sum of squares)
    d = shift / a
    ss = min(np.sum((o - o.mean()) ** 2), np.sum((s - s.mean()) ** 2))
    for k in ("EF", "R2"):
        assert moved[k] == pytest.approx(base[k], rel=1e-9, abs=1e-9 + 16 * o.size * d * (scale + d) / ss,
                                         nan_ok=True), k


@_settings(40)
@given(n=st.integers(1, 30), c=st.floats(-1e9, 1e9), sim=st.lists(st.floats(-1e4, 1e4), min_size=30, max_size=30))
@example(n=13, c=330382100.1899686, sim=[0.0] * 30)  # was EF = -3.07e31 (rounding noise of the mean)
@example(n=6, c=0.1, sim=[0.0, 1, 2, 3, 4, 5] + [0.0] * 24)  # was EF = -4.5e34 and R2(sim, obs) = 0.0
def test_metrics_of_constant_obs_are_nan_not_noise(n, c, sim):
    """A constant obs series has no variance: EF and R2 are NaN (never a finite number made of
    rounding noise); RMSE, MAE and ME stay defined."""
    obs = np.full(n, c)
    s = np.array(sim[:n])
    got = metrics(obs, s)
    assert np.isnan(got["EF"]) and np.isnan(got["R2"]), (c, s.tolist(), got)
    assert got["RMSE"] == pytest.approx(np.sqrt(np.mean((s - c) ** 2)), rel=1e-12, abs=1e-12)
    flat = metrics(s, obs)
    assert np.isnan(flat["R2"]), (c, s.tolist(), flat)
