"""Vectorised, exact per-pixel Mann-Kendall trend test and Theil-Sen slope.

The reference is ``pymannkendall`` 1.4.x: for every pixel the bands returned by
:func:`mann_kendall` equal what the pymannkendall function of the chosen variant
returns for that pixel's 1-D series (converted to float64), with the same NaN
conventions.  Only numpy and scipy are used; no QGIS import.

Conventions (identical to pymannkendall, see docs/docs/methods.md section 14)
-----------------------------------------------------------------------
* ``values`` is time first, ``(t, ...)``; NaN marks a missing value.
* ``s``, ``var_s``, ``tau``, ``z``, ``p_value`` are computed on the series with
  the NaNs removed ("skip"): S depends only on the order of the valid values,
  ``n`` is the number of valid values.  ``var_s`` carries the tie correction
  ``[n(n-1)(2n+5) - sum t(t-1)(2t+5)] / 18``.
* ``z = (S-1)/sqrt(var_s)`` if S > 0, ``0`` if S == 0, ``(S+1)/sqrt(var_s)`` if S < 0;
  ``p_value = 2 (1 - Phi(|z|))``; ``tau = S / (n(n-1)/2)`` (tau-a).
* ``trend`` is +1 / -1 when ``|z| > Phi^-1(1 - alpha/2)`` and z > 0 / z < 0
  (pymannkendall's 'increasing' / 'decreasing'), else 0 (also when z is NaN).
* ``slope`` is the Theil-Sen slope on the ORIGINAL positions: the median of
  ``(x_j - x_i)/(j - i)`` over all i < j with both values valid, in units of
  the input per time step.  Gaps keep their time distance.
* ``intercept = nanmedian(x) - median(indices of the valid values) * slope``
  with indices starting at 0: the value of the Kendall-Theil line at the FIRST
  time step of the input (index 0), even if that step is missing.  For
  calendar years ``b_year = intercept - slope * first_year``.
* ``n_valid`` is the number of non-NaN values of the input series (always set).
  Pixels with ``n_valid < min_valid`` get NaN in every other band.

Variants (``variant=``)
-----------------------
``original``
    ``pymannkendall.original_test``.
``hamed_rao``
    ``hamed_rao_modification_test(x, alpha, lag)``: the valid values are
    compressed (NaNs removed), detrended with ``x_c - slope * (1..n)`` where
    the slope is the Sen slope on the original positions, ranked (average
    ranks), and the ACF of the ranks is screened at ``z_{1-alpha/2}/sqrt(n)``;
    ``var_s`` is multiplied by ``1 + 2/(n(n-1)(n-2)) sum (n-i)(n-i-1)(n-i-2) rho_i``.
    ``lag=None`` uses all lags; ``lag=L`` uses lags 1..L (capped at n-1,
    where pymannkendall would raise IndexError).  n_valid < 3 gives NaN
    ``var_s``/``z``/``p_value`` (pymannkendall divides by zero).  A constant
    detrended series gives a NaN ACF, hence NaN ``var_s`` (and NaN z unless
    S == 0), exactly as pymannkendall.
``yue_wang``
    ``yue_wang_modification_test``: ACF of the Sen-detrended compressed series,
    no screening, ``var_s *= 1 + 2 sum_{k=1}^{L} (1 - k/n) rho_k``.
``pre_whitening``
    ``pre_whitening_modification_test``: on the compressed series,
    ``x'_t = x_{t+1} - r1 x_t`` (r1 = lag-1 ACF); S, var_s, tau, z, p on the
    n-1 values (``n`` in tau and var_s is n_valid - 1; a NaN r1 makes every
    x' NaN, which gives S = 0 and the untied variance, as pymannkendall).
    slope/intercept are the original Sen values.
``trend_free_pre_whitening``
    ``trend_free_pre_whitening_modification_test``: detrend the compressed
    series with the Sen slope, pre-whiten with r1 of the detrended series,
    add ``slope * (1..n-1)`` back, then MK on the n-1 values.
    For PW and TFPW n_valid < 3 gives NaN s/var_s/tau/z/p (pymannkendall
    divides by zero).
``seasonal``
    ``seasonal_test(x, period, alpha)``: the series is padded with NaN to a
    multiple of ``period`` and reshaped to (cycles, period); S, var_s and the
    tau denominator are summed over the ``period`` seasons (each with its own
    NaNs removed); the slope is the median of all within-season slopes
    ``(x[y2, m] - x[y1, m]) / (y2 - y1)``, i.e. **per cycle** (per year for
    monthly data with period=12), and
    ``intercept = nanmedian(x) - median(valid flat indices)/period * slope``
    (the line's value at the first cycle, in per-cycle time units).
    ``n_valid`` counts all valid values; ``min_valid`` applies to that count.

Confidence interval of the slope (``slope_lower``, ``slope_upper``)
------------------------------------------------------------------
Gilbert (1987) / Sen (1968), at confidence ``1 - ci_alpha`` (``ci_alpha``
defaults to ``alpha``): ``C = z_{1-ci_alpha/2} sqrt(Var(S))`` with Var(S) the
tie-corrected variance of the ORIGINAL valid series (for every non-seasonal
variant, i.e. not the pre-whitened or autocorrelation-corrected one; for
``seasonal`` the sum of the per-season variances), ``N'`` the number of valid
slopes (within-season slopes for ``seasonal``), ``M1 = (N' - C)/2``,
``M2 = (N' + C)/2``; the bounds are the sorted slopes at 1-based ranks
``round(M1)`` and ``round(M2) + 1`` (numpy round-half-even), clipped to
``[1, N']``.  For a gap-free series and the original variant this equals
``scipy.stats.theilslopes(x, alpha=1 - ci_alpha)``.

Exactness and speed
-------------------
Slopes are computed exactly as pymannkendall does (``(x_j - x_i)/(j - i)`` in
float64) and the order statistics are selected exactly; every band equals the
pure float64 computation bit for bit.  Cheaper arithmetic is only used where its
outcome is provably the same:

* S counts ``x[t+k] > x[t]`` minus ``x[t+k] < x[t]`` lag by lag (comparisons with
  NaN are False); the tie term uses run lengths of the sorted values.  Both run in
  float32 when every value of the block is exactly a float32 (checked), since then
  the comparisons are exact.  For long non-seasonal series of float32 values the
  dense slope pass below yields S from the signs of its float32 slopes instead
  (exact there, see :func:`_sen_fold`).
* Short slope sets (at most ``_LONG_PAIRS`` pairs, e.g. 30 annual values) are
  materialised per pixel block; per pixel the slopes are mapped to 16-bit keys by a
  monotone function (linear in the pixel's slope range, in float32, clamped,
  truncated), the keys are radix-sorted, and the slope of rank r is the unique slope
  carrying the key of rank r, or is selected exactly in float64 among the slopes
  sharing it.
* Long slope sets (e.g. 360 monthly values, 64 620 pairs; 30 years of seasonal
  data, 5 220) take ONE dense float32 pass over all pairs of a chunk of pixels,
  laid out as a folded (Y/2, Y) array per series (:func:`_fold_layout`: a copy of a
  strided view, a subtraction and a multiplication give every slope).  A bracket
  [L, U] around all target ranks comes from a seeded sample of these slopes (sorted
  as float32 chunks of 128), tight first and wide for the pixels it misses; with
  thresholds widened beyond every float32 rounding error (bound in
  :func:`_sen_fold`) slopes surely below L are only counted, slopes surely above U
  skipped, and the rest ("kept") is bucketed per pixel by a monotone key; only the
  few kept slopes whose key lies within the error band of a target's bucket are
  recomputed exactly in float64 and sorted.  A pixel is accepted only if every
  target rank falls among its kept slopes and every selected slope lies in [L, U]
  (which proves its value); otherwise, or when the pixel holds a value of magnitude
  above 1e37 or a non-finite one, the exact float64 bracketing pass
  (:func:`_sen_long`) and its per-pixel fallback are used.
Pixel blocks are processed on the lanes of :class:`ecoresp_core.parallel.Workers`:
threads, and for large long-path jobs a helper process as the second lane (the long
path's many medium numpy calls keep two threads waiting for the GIL; a process has
its own).  Working arrays are per-thread scratch
buffers (about 20 MB for 30-step blocks of ~3000 pixels, a few MB per chunk of a
360-step block).  Blocks are large so that numpy calls are few and long: threads
then rarely wait for the GIL.
"""

from __future__ import annotations

import functools
import threading

import numpy as np
from scipy.special import ndtr
from scipy.stats import norm

from ..errors import Cancelled
from ..parallel import Workers

__all__ = ["TREND_BANDS", "VARIANTS", "mann_kendall", "Cancelled"]

TREND_BANDS = ("slope", "intercept", "p_value", "z", "tau", "s", "var_s", "n_valid",
               "trend", "slope_lower", "slope_upper")
VARIANTS = ("original", "hamed_rao", "yue_wang", "pre_whitening",
            "trend_free_pre_whitening", "seasonal")

# slope sets larger than this use the bracketing selection (per pixel)
_LONG_PAIRS = 2000
# slope pairs of a call from which the long path also uses helper processes
_HELPER_MIN_PAIRS = 3 * 10 ** 8
# memory budget (bytes) of one materialised slope block (about 3000 pixels of 30 values:
# large blocks mean few, large numpy calls, so that two threads rarely wait for the GIL)
_SLOPE_BLOCK_BYTES = 10 * 2 ** 20
_SAMPLE_PAIRS = 3000
_ZQ = 3.5  # bracket half-width in standard errors of the sample quantiles (retry)
_ZQ_TIGHT = 2.5  # first, tight bracket of the long path (misses are retried with _ZQ)
_SEED = 20240607
_MAX_KTH = 0  # partition only with at most this many ranks, else sort


# ---------------------------------------------------------------------------
# small vectorised building blocks (time-major arrays (n, B) unless noted)
# ---------------------------------------------------------------------------

def _exact_f32(x):
    """x as float32 if that conversion is exact for every value (NaN kept), else None."""
    with np.errstate(over="ignore", invalid="ignore"):
        x32 = x.astype(np.float32)
    return x32 if np.array_equal(x32, x, equal_nan=True) else None


_AUTO = object()


def _clamp(a, lo, hi):
    """np.clip without its Python-level checks (which run an import per call: slow under
    QGIS's import hook); a, lo, hi broadcast, lo <= hi."""
    return np.minimum(np.maximum(a, lo), hi)


def _sorted_rows(x, x32=_AUTO):
    """The values of each column of x (n, B) sorted ascending (NaN last) as rows (B, n).

    Sorted in float32 when that is exact (numpy's SIMD sort), else in float64
    (x32: the result of :func:`_exact_f32` if already known)."""
    if x32 is _AUTO:
        x32 = _exact_f32(x)
    return np.sort((x32 if x32 is not None else x).T, axis=1)


def _tie_term(srt, pairs=False):
    """(sum over tie groups of t(t-1)(2t+5), and with pairs=True the number of tied pairs,
    sum of t(t-1)/2, else None) for the sorted rows srt (B, n) (NaN never tied).

    Runs of equal values are delimited by the positions where a row changes; with a
    delimiter also at both ends of every row, consecutive delimiters give the run
    lengths (a row end and the next row start make a spurious run of length 1, and
    f(1) = 0), so the sum is a bincount of f(length) by row.  int64 (B,)."""
    B, n = srt.shape
    eq = srt[:, 1:] == srt[:, :-1] if n >= 2 else None
    if eq is None or not eq.any():
        zero = np.zeros(B, np.int64)
        return zero, (zero.copy() if pairs else None)
    cut = np.ones((B, n + 1), bool)
    np.logical_not(eq, out=cut[:, 1:n])
    pos = np.flatnonzero(cut)
    t = np.diff(pos)
    f = t * (t - 1) * (2 * t + 5)
    keep = np.flatnonzero(f)
    row = pos[keep] // (n + 1)
    tie = np.bincount(row, weights=f[keep], minlength=B).astype(np.int64)
    if not pairs:
        return tie, None
    tk = t[keep]
    return tie, np.bincount(row, weights=tk * (tk - 1) // 2, minlength=B).astype(np.int64)


def _mk_score(x, x32=_AUTO):
    """Mann-Kendall S of each column of x (n, B), pairs with a NaN ignored. int64 (B,).

    S = sum over lags k of count(x[t+k] > x[t]) - count(x[t+k] < x[t]); comparisons
    with NaN are False, so such pairs drop out.  Compared in float32 when exact.  The
    per-position counts accumulate in int8 (every operation on equal 1-byte types, the
    fast SIMD loops), flushed to int64 every 127 lags."""
    n, B = x.shape
    if n < 2:
        return np.zeros(B, np.int64)
    if x32 is _AUTO:
        x32 = _exact_f32(x)
    xs = x32 if x32 is not None else x
    acc = np.zeros((n - 1, B), np.int8)
    gt = np.empty((n - 1, B), bool)
    lt = np.empty((n - 1, B), bool)
    t8 = np.empty((n - 1, B), np.int8)
    s = np.zeros(B, np.int64)
    for k in range(1, n):
        m = n - k
        g = np.greater(xs[k:], xs[:-k], out=gt[:m])
        l_ = np.less(xs[k:], xs[:-k], out=lt[:m])
        np.subtract(g.view(np.int8), l_.view(np.int8), out=t8[:m])
        np.add(acc[:m], t8[:m], out=acc[:m])
        if k % 127 == 0:
            s += acc.sum(axis=0, dtype=np.int64)
            acc[...] = 0
    return s + acc.sum(axis=0, dtype=np.int64)


def _variance(nv, tie):
    nv = nv.astype(np.float64)
    return (nv * (nv - 1) * (2 * nv + 5) - tie.astype(np.float64)) / 18


def _z_score(s, var_s):
    s = s.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        sd = np.sqrt(var_s)
        z = np.where(s > 0, (s - 1) / sd, np.where(s < 0, (s + 1) / sd, 0.0))
    return z


@functools.lru_cache(maxsize=64)
def _z_crit(alpha):
    return norm.ppf(1 - alpha / 2)


def _p_trend(z, alpha):
    p = 2 * (1 - ndtr(np.abs(z)))  # ndtr is what norm.cdf evaluates (identical values)
    h = np.abs(z) > _z_crit(alpha)
    trend = np.where(h & (z > 0), 1.0, np.where(h & (z < 0), -1.0, 0.0))
    return p, trend


def _median_sorted(srt, cnt):
    """numpy median of the first cnt entries of each sorted row of srt (B, n) (cnt >= 1)."""
    B = srt.shape[0]
    rows = np.arange(B)
    lo = srt[rows, (cnt - 1) // 2].astype(np.float64)
    hi = srt[rows, cnt // 2].astype(np.float64)
    return np.where(cnt % 2 == 1, lo, (lo + hi) / 2)


def _median_partition(x, cnt):
    """numpy median of the valid values of each column of x (n, B) (cnt >= 1 valid):
    the same order statistics as :func:`_median_sorted`, found by np.partition (NaN
    goes last) at the few distinct ranks of the block."""
    B = x.shape[1]
    k1 = (cnt - 1) // 2
    k2 = cnt // 2
    part = np.partition(x, np.unique(np.concatenate([k1, k2])), axis=0)
    cols = np.arange(B)
    lo = part[k1, cols]
    hi = part[k2, cols]
    return np.where(cnt % 2 == 1, lo, (lo + hi) / 2)


def _median_valid_index(valid, divisor=None):
    """np.median(np.arange(n)[valid]) per column of the bool array valid (n, B)."""
    n, B = valid.shape
    cnt = np.count_nonzero(valid, axis=0)
    # 0-based positions of the valid entries, invalid ones pushed past the end
    idx = np.where(valid, np.arange(n)[:, None], n).T
    k1 = (cnt - 1) // 2
    k2 = cnt // 2
    part = np.partition(idx, np.unique(np.concatenate([k1, k2])), axis=1)
    rows = np.arange(B)
    i1 = part[rows, k1]
    i2 = part[rows, k2]
    return np.where(cnt % 2 == 1, i1.astype(np.float64), (i1 + i2) / 2)


def _acf(y, nv, nlags):
    """pymannkendall ``__acf`` of the compressed columns y (n, B) (first nv[b] entries valid).

    Returns rho (nlags+1, B); entries beyond nv-1 are 0.  To reproduce
    pymannkendall bit for bit (the pre-whitened series can contain values that
    are equal in exact arithmetic, so the last bit decides S), the columns are
    grouped by their length and the sums are formed as numpy does them: the mean
    by a row-wise ``sum`` (pairwise summation, as ``ndarray.mean``), the lagged
    products by row-wise ``matmul`` (the BLAS dot behind ``np.correlate``), and
    the lag-0 sum of squares sequentially for series of at most 11 values
    (what ``np.correlate`` does there on this numpy/BLAS)."""
    n, B = y.shape
    acov = np.zeros((nlags + 1, B))
    for L in np.unique(nv):
        L = int(L)
        cols = np.flatnonzero(nv == L)
        yg = np.ascontiguousarray(y[:L, cols].T)  # (Bg, L)
        mean = yg.sum(axis=1) / L
        yc = yg - mean[:, None]
        if L <= 11:
            c0 = np.zeros(cols.size)
            for t in range(L):
                c0 = c0 + yc[:, t] * yc[:, t]
        else:
            c0 = np.matmul(yc[:, None, :], yc[:, :, None])[:, 0, 0]
        acov[0, cols] = c0 / L
        for k in range(1, min(nlags, L - 1) + 1):
            a = np.ascontiguousarray(yc[:, k:])
            b = np.ascontiguousarray(yc[:, :L - k])
            acov[k, cols] = np.matmul(a[:, None, :], b[:, :, None])[:, 0, 0] / L
    with np.errstate(divide="ignore", invalid="ignore"):
        return acov / acov[0]


def _compress(x):
    """Move the valid values of each column to the front (order kept), NaN padding after."""
    order = np.argsort(np.isnan(x), axis=0, kind="stable")
    return np.take_along_axis(x, order, axis=0)


def _average_ranks(y, nv):
    """scipy.stats.rankdata (average) of the first nv entries of each column; NaN elsewhere."""
    n, B = y.shape
    valid = np.arange(n)[:, None] < nv[None, :]
    yv = np.where(valid, y, np.nan)
    order = np.argsort(yv, axis=0, kind="stable")
    srt = np.take_along_axis(yv, order, axis=0)
    idx = np.arange(n, dtype=np.int64)[:, None]
    eq = np.zeros((n, B), bool)
    eq[1:] = srt[1:] == srt[:-1]
    start = np.where(eq, 0, idx)
    np.maximum.accumulate(start, axis=0, out=start)
    endm = np.zeros((n, B), bool)  # position whose successor is tied
    endm[:-1] = eq[1:]
    end = np.where(endm, n, idx)
    end = np.minimum.accumulate(end[::-1], axis=0)[::-1]
    rk = (start + 1 + end + 1) / 2.0
    out = np.empty_like(rk)
    np.put_along_axis(out, order, rk, axis=0)
    return np.where(valid, out, np.nan)


# ---------------------------------------------------------------------------
# exact selection of order statistics
# ---------------------------------------------------------------------------

def _select(v64, ranks):
    """Exact order statistics of each column of v64 (W, B) float64 (NaN = absent).

    ranks (B, K): 0-based ranks among the non-NaN entries of each column (valid).
    Returns (B, K) float64.  A float32 copy is partitioned (or sorted) at the
    needed ranks and their neighbours; rounding to float32 is monotone, so the
    exact value lies in the float32 tie class of the float32 order statistic and
    is selected exactly in float64 inside that class."""
    W, B = v64.shape
    K = ranks.shape[1]
    v32 = np.empty((B, W), np.float32)
    with np.errstate(over="ignore"):
        v32[...] = v64.T
    kth = np.unique(np.concatenate([ranks.ravel() - 1, ranks.ravel(), ranks.ravel() + 1]))
    kth = kth[(kth >= 0) & (kth < W)]
    if kth.size > _MAX_KTH:
        part = np.sort(v32, axis=1)
    else:
        part = np.partition(v32, kth, axis=1)
    rows = np.arange(B)
    res = np.empty((B, K))
    for j in range(K):
        r = ranks[:, j]
        prev = [jj for jj in range(j) if np.array_equal(ranks[:, jj], r)]
        if prev:
            res[:, j] = res[:, prev[0]]
            continue
        t = part[rows, r]
        eq = v32 == t[:, None]
        first = np.argmax(eq, axis=1)
        res[:, j] = v64[first, rows]
        left = part[rows, np.maximum(r - 1, 0)]
        right = part[rows, np.minimum(r + 1, W - 1)]
        multi = np.flatnonzero(((left == t) & (r > 0)) | ((right == t) & (r + 1 < W)))
        if multi.size:
            tm = t[multi, None]
            sub32 = v32[multi]
            lo = np.count_nonzero(sub32 < tm, axis=1)
            rr, cc = np.nonzero(sub32 == tm)
            vals = v64[cc, multi[rr]]
            o = np.lexsort((vals, rr))
            vals = vals[o]
            starts = np.searchsorted(rr[o], np.arange(multi.size))
            res[multi, j] = vals[starts + (r[multi] - lo)]
    return res


def _pair_slopes(x3, scratch=False):
    """All within-group pair slopes of x3 (Y, G, B) (time-major) as (G*Y*(Y-1)/2, B).

    With scratch=True the result lives in a per-thread buffer (valid until the next call)."""
    Y, G, B = x3.shape
    T = G * Y * (Y - 1) // 2
    out = _scratch("slopes", T * B, np.float64).reshape(T, B) if scratch else np.empty((T, B))
    off = 0
    for k in range(1, Y):
        m = G * (Y - k)
        seg = out[off:off + m].reshape(Y - k, G, B)
        np.subtract(x3[k:], x3[:-k], out=seg)
        np.divide(seg, k, out=seg)
        off += m
    return out


def _targets(nprime, var_ci, zci):
    """0-based ranks (B, 4): median low, median high, CI low, CI high (nprime >= 1)."""
    npf = nprime.astype(np.float64)
    c = zci * np.sqrt(var_ci)
    m1 = np.round((npf - c) / 2)
    m2 = np.round((npf + c) / 2) + 1
    m1 = np.where(np.isfinite(m1), m1, 1)
    m2 = np.where(np.isfinite(m2), m2, npf)
    lo = _clamp(m1, 1, npf).astype(np.int64) - 1
    hi = _clamp(m2, 1, npf).astype(np.int64) - 1
    return np.stack([(nprime - 1) // 2, nprime // 2, lo, hi], axis=1)


def _finish_median(vals, nprime):
    a, b = vals[:, 0], vals[:, 1]
    return np.where(nprime % 2 == 1, a, (a + b) / 2)


def _select_cols(v64, ranks):
    """Exact order statistics of each column of v64 (W, B) float64 (NaN = absent).

    ranks (B, K): 0-based ranks among the non-NaN entries.  Each column is quantised
    to 16-bit keys ``floor((v - min) * 65534 / (max - min))`` computed in float32
    (rounding to float32, subtraction of a constant, multiplication by a non-negative
    constant, clamping and truncation are all monotone non-decreasing, so the keys
    never invert the order of the values; NaN gets the key 65535 and sorts last).  The keys are sorted per pixel with
    numpy's 16-bit radix sort (``kind='stable'``); the exact value of rank r is the
    unique value carrying the key of rank r or, when that key is shared, selected
    exactly in float64 among the values sharing it.  Columns with a non-finite range
    or values beyond 1e38 use :func:`_select` (float32 sort and exact refinement)."""
    W, B = v64.shape
    K = ranks.shape[1]
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        lo = np.fmin.reduce(v64, axis=0)
        hi = np.fmax.reduce(v64, axis=0)
        span = hi - lo
        sc = np.where(span > 0, 65534.0 / span, 0.0)
        good = (np.isfinite(lo) & np.isfinite(hi) & np.isfinite(span) & (sc < 1e38)
                & (np.abs(lo) < 1e38) & (np.abs(hi) < 1e38))
        lo32 = np.where(good, lo, 0.0).astype(np.float32)[:, None]
        sc32 = np.where(good, sc, 0.0).astype(np.float32)[:, None]
        # keys in float32, pixel-major: fl32 and the float32 operations below are monotone,
        # so the keys stay a monotone function of the exact values
        t = _scratch("sel_t", W * B, np.float32).reshape(B, W)
        t[...] = v64.T
        np.subtract(t, lo32, out=t)
        t *= sc32
        np.minimum(t, np.float32(65534.0), out=t)
        # NaN -> 65535 without a masked copy: |t| clears the sign bit of NaN, and the
        # int32 view of a non-negative float is monotone with NaN above every number
        np.abs(t, out=t)
        ti = t.view(np.int32)
        np.minimum(ti, np.array(65535.0, np.float32).view(np.int32), out=ti)
        key = _scratch("sel_key", W * B, np.uint16).reshape(B, W)
        key[...] = t  # columns with a non-finite or huge range are redone below
    srt = np.sort(key, axis=1, kind="stable")  # 16-bit radix sort
    rows = np.arange(B)
    res = np.empty((B, K))
    eq = _scratch("sel_eq", W * B, bool).reshape(B, W)
    for j in range(K):
        r = ranks[:, j]
        prev = [jj for jj in range(j) if np.array_equal(ranks[:, jj], r)]
        if prev:
            res[:, j] = res[:, prev[0]]
            continue
        tk = srt[rows, r]
        np.equal(key, tk[:, None], out=eq)
        # entries carrying the key tk, row by row (every row holds tk at least once,
        # since tk is one of its sorted keys): f row-major, so rows ascend
        f = np.flatnonzero(eq)
        fr = f // W
        fc = f - fr * W
        st = np.flatnonzero(np.concatenate(([True], fr[1:] != fr[:-1])))  # (B,) run starts
        res[:, j] = v64[fc[st], rows]  # the value, if it is the only one with key tk
        csize = np.diff(np.append(st, f.size))
        multi = np.flatnonzero(csize > 1)
        if multi.size:
            # rank of the first key tk in the sorted row (the keys below it), by bisection
            # on the sorted keys: first p in [0, r] with srt[p] >= tk (srt[r] == tk)
            rm = r[multi]
            tkm = tk[multi]
            phi = rm.astype(np.int64)
            plo = np.maximum(phi - (csize[multi] - 1), 0)  # the run of tk holds r
            while True:
                act = plo < phi
                if not act.any():
                    break
                mid = (plo + phi) // 2
                hit = srt[multi, mid] >= tkm
                phi = np.where(hit, mid, phi)
                plo = np.where(hit, plo, mid + 1)
            sel = np.flatnonzero((csize > 1)[fr])
            rr = fr[sel]
            vals = v64[fc[sel], rr]
            o = np.lexsort((vals, rr))
            vals = vals[o]
            starts = np.searchsorted(rr[o], multi)
            res[multi, j] = vals[starts + (rm - plo)]
    bad = np.flatnonzero(~good)
    if bad.size:
        res[bad] = _select(np.ascontiguousarray(v64[:, bad]), ranks[bad])
    return res


def _sen_long(xs, ranks, nprime, rng_seed=_SEED):
    """Bracketing exact selection for long slope sets; xs (B, G, Y) pixel-major."""
    B, G, Y = xs.shape
    T = G * Y * (Y - 1) // 2
    # 1. sample of pairs (same for every pixel), bracket [L, U] around all targets
    rng = np.random.default_rng(rng_seed)
    ns = min(_SAMPLE_PAIRS, T)
    g = rng.integers(0, G, ns)
    i = rng.integers(0, Y, ns)
    j = rng.integers(0, Y - 1, ns)
    j = np.where(j >= i, j + 1, j)
    i, j = np.minimum(i, j), np.maximum(i, j)
    samp = (xs[:, g, j] - xs[:, g, i]) / (j - i)
    with np.errstate(over="ignore"):
        samp = np.sort(samp.astype(np.float32), axis=1)
    v = np.count_nonzero(~np.isnan(samp), axis=1)
    npf = np.maximum(nprime, 1).astype(np.float64)
    rmin = ranks.min(axis=1).astype(np.float64)
    rmax = ranks.max(axis=1).astype(np.float64)
    ql = rmin / npf
    qh = (rmax + 1) / npf
    zq = 5.0
    il = np.floor(ql * v - zq * np.sqrt(v * ql * (1 - ql)) - 3).astype(np.int64)
    ih = np.ceil(qh * v + zq * np.sqrt(v * qh * (1 - qh)) + 3).astype(np.int64)
    rows = np.arange(B)
    L = np.where(il >= 0, samp[rows, _clamp(il, 0, ns - 1)].astype(np.float64), -np.inf)
    U = np.where(ih < v, samp[rows, _clamp(ih, 0, ns - 1)].astype(np.float64), np.inf)
    L = np.where(np.isnan(L), -np.inf, L)
    U = np.where(np.isnan(U), np.inf, U)
    # expected number of gathered slopes per pixel, with headroom
    frac = (np.minimum(ih, v) - np.maximum(il, 0) + 1) / np.maximum(v, 1)
    cap = int(min(T, np.max(frac * nprime) * 1.25 + 256))
    gath = np.full((cap, B), np.nan)
    fill = np.zeros(B, np.int64)
    below = np.zeros(B, np.int64)
    overflow = np.zeros(B, bool)
    Lc = L[:, None]
    Uc = U[:, None]
    buf = np.empty(B * G * (Y - 1))
    mb = np.empty(B * G * (Y - 1), bool)
    mb2 = np.empty(B * G * (Y - 1), bool)
    for k in range(1, Y):
        m = G * (Y - k)
        s = buf[:B * m].reshape(B, m)
        s3 = s.reshape(B, G, Y - k)
        np.subtract(xs[:, :, k:], xs[:, :, :-k], out=s3)
        np.divide(s, k, out=s)
        lt = np.less(s, Lc, out=mb[:B * m].reshape(B, m))
        below += np.count_nonzero(lt, axis=1)
        inb = np.greater_equal(s, Lc, out=lt)
        np.logical_and(inb, np.less_equal(s, Uc, out=mb2[:B * m].reshape(B, m)), out=inb)
        flat = np.flatnonzero(inb)
        if flat.size == 0:
            continue
        rr = flat // m
        cnt = np.bincount(rr, minlength=B)
        segstart = np.cumsum(cnt) - cnt
        pos = fill[rr] + (np.arange(flat.size) - segstart[rr])
        ok = pos < cap
        if not ok.all():
            overflow[rr[~ok]] = True
            rr, pos, flat = rr[ok], pos[ok], flat[ok]
        gath[pos, rr] = s.ravel()[flat]
        fill += cnt
    rel = ranks - below[:, None]
    good = (~overflow) & np.all((rel >= 0) & (rel < fill[:, None]), axis=1)
    out = np.empty(ranks.shape)
    gi = np.flatnonzero(good)
    if gi.size:
        width = int(max(1, fill[gi].max()))
        out[gi] = _select(gath[:width, gi], rel[gi])
    bi = np.flatnonzero(~good)
    for b in bi:  # exact fallback, one pixel at a time (rare)
        v1 = _pair_slopes(np.ascontiguousarray(xs[b:b + 1].transpose(2, 1, 0)))
        out[b] = _select(v1, ranks[b:b + 1])[0]
    return out


_TLS = threading.local()  # per-thread scratch buffers


def _scratch(name, size, dtype):
    """Per-thread reusable 1-D scratch array (avoids page faults of fresh big arrays)."""
    d = getattr(_TLS, "bufs", None)
    if d is None:
        d = _TLS.bufs = {}
    a = d.get(name)
    if a is None or a.size < size or a.dtype != dtype:
        a = d[name] = np.empty(max(int(size), 1), dtype)
    return a[:size]


def _chunk_bracket(s32, ranks, nprime, zq):
    """Bracket [L, U] (float64, +-inf allowed) around all target ranks of each pixel
    from its float32 sample slopes s32 (B, nchunk, 128), each chunk sorted (NaN last):
    the medians over the chunks of the chunk quantiles at q_min - delta and
    q_max + delta (delta = zq standard errors of the sample quantile).  The bracket
    only decides speed: the caller verifies every selected value against it."""
    B, nchunk, C = s32.shape
    vc = C - np.count_nonzero(np.isnan(s32), axis=2)  # (B, nchunk)
    vbar = np.maximum(vc.mean(axis=1), 1.0)
    npf = np.maximum(nprime, 1).astype(np.float64)
    ql = ranks.min(axis=1) / npf
    qh = (ranks.max(axis=1) + 1) / npf
    se = 1.2533 / np.sqrt(vbar * nchunk)
    dl = zq * se * np.sqrt(ql * (1 - ql))
    dh = zq * se * np.sqrt(qh * (1 - qh))
    il = np.floor((ql - dl)[:, None] * vc).astype(np.int64)
    ih = np.ceil((qh + dh)[:, None] * vc).astype(np.int64)
    lv = np.take_along_axis(s32, _clamp(il, 0, C - 1)[:, :, None], axis=2)[:, :, 0].astype(np.float64)
    uv = np.take_along_axis(s32, _clamp(ih, 0, C - 1)[:, :, None], axis=2)[:, :, 0].astype(np.float64)
    lv = np.where(il < 0, -np.inf, lv)
    uv = np.where(ih >= vc, np.inf, uv)
    lv = np.where(vc > 0, lv, np.nan)
    uv = np.where(vc > 0, uv, np.nan)
    with np.errstate(invalid="ignore"):
        lv.sort(axis=1)
        uv.sort(axis=1)
    nvc = np.count_nonzero(vc > 0, axis=1)
    rows = np.arange(B)
    L = lv[rows, np.maximum(nvc - 1, 0) // 2]  # lower median of the valid chunks
    U = uv[rows, nvc // 2]  # upper median
    L = np.where(np.isnan(L), -np.inf, L)
    U = np.where(np.isnan(U), np.inf, U)
    return L, U


def _f32_thresholds(t64, up):
    """float32 thresholds rounded toward -inf (up=False) or +inf (up=True) from float64."""
    with np.errstate(over="ignore", invalid="ignore"):
        t32 = t64.astype(np.float32)
        if up:
            return np.where(t32 < t64, np.nextafter(t32, np.float32(np.inf)), t32)
        return np.where(t32 > t64, np.nextafter(t32, np.float32(-np.inf)), t32)


# folded pair layout of the long path (_sen_fold)
_FOLD_NB = 2048  # buckets per pixel for the kept slopes
_FOLD_CHUNK = 1 << 20  # pairs per chunk of pixels of the dense pass
_FOLD_SAMPLE_CHUNKS = 17  # sample of the bracket: chunks of 128 slopes per pixel
_FOLD_MK_MIN = 1 << 14  # pairs per pixel from which the dense pass also counts the MK signs
_FOLD_XMAX = 1e37  # pixels with a larger |x| (or non-finite values) take _sen_long
_ALPHA = 2.0 ** -21  # relative error bound of the float32 slopes


def _mask_rows(n, width):
    """Per-thread bool scratch (n, width) whose rows start every P bytes, P a multiple
    of 8 * 255 (the padding bytes zeroed), for :func:`_row_counts`."""
    P = -(-width // 2040) * 2040
    buf = _scratch("rows_mask", n * P, bool).reshape(n, P)
    buf[:, width:] = False
    return buf[:, :width]


def _row_counts(mask):
    """Number of True entries per row of a mask from :func:`_mask_rows` (int64 (n,)).

    The rows are summed as 64-bit words (eight 0/1 bytes each): 255 words per partial
    sum keep every byte lane below 256, then the lanes are added up, so the whole count
    takes two numpy calls, whatever the number of rows."""
    n = mask.shape[0]
    P = mask.strides[0]
    buf = np.lib.stride_tricks.as_strided(mask, shape=(n, P), strides=(P, 1))
    part = np.add.reduce(buf.view(np.uint64).reshape(n, P // 2040, 255), axis=2)
    return part.view(np.uint8).reshape(n, -1).sum(axis=1, dtype=np.int64)


@functools.lru_cache(maxsize=16)
def _fold_layout(Y):
    """Folded layout of the Y(Y-1)/2 pairs of a series of length Y: row r (1..R,
    R = Y // 2), column p pairs the circular neighbours p and (p + r) mod Y, i.e. lag r
    for p < Y - r and lag Y - r (earlier element (p + r) - Y, later element p) for
    the other r columns; with Y even the second half of row R repeats the first and is
    masked.  Returns R and the (R, Y) float32 multipliers fl32(+-1/lag) (negative for
    the second part, whose circular difference is x_earlier - x_later; NaN where masked),
    so that (x[(p + r) mod Y] - x[p]) * mult is the pair's slope."""
    R = Y // 2
    p = np.arange(Y)
    r = np.arange(1, R + 1)[:, None]
    first = p < Y - r
    mult = np.where(first, 1.0 / r, -1.0 / (Y - r)).astype(np.float32)
    if Y % 2 == 0:
        mult[R - 1, Y - R:] = np.nan
    mult.setflags(write=False)
    return R, mult


def _fold_pairs(pos, R, Y):
    """(group, i, j) of the folded positions pos (within one pixel's (G, R, Y) array)."""
    g, rem = np.divmod(pos, R * Y)
    r, p = np.divmod(rem, Y)
    r += 1
    first = p < Y - r
    i = np.where(first, p, p - (Y - r))
    j = np.where(first, p + r, p)
    return g, i, j


@functools.lru_cache(maxsize=16)
def _fold_sample(G, Y, nchunk, rng_seed=_SEED):
    """Seeded sample of nchunk * 128 folded positions (within one pixel's (G, R, Y)
    array, masked cells excluded): the same pairs for every pixel."""
    R, mult = _fold_layout(Y)
    valid = np.flatnonzero(np.isfinite(np.broadcast_to(mult, (G, R, Y))).ravel())
    ns = nchunk * 128
    rng = np.random.default_rng(rng_seed)
    idx = rng.choice(valid, ns, replace=ns > valid.size)
    idx.setflags(write=False)
    return idx


def _fold_params(L, U, beta, nb):
    """Per-pixel parameters of :func:`_fold_pick` for the brackets [L, U] and error terms
    beta (see :func:`_sen_fold`): the float32 thresholds tlo and thi, the bucket key
    origin tk and scale F (float32), and the candidate half-width d (in buckets)."""
    a4 = 4 * _ALPHA
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        tlo = _f32_thresholds(L - a4 * np.abs(L) - 4 * beta, up=False)
        thi = _f32_thresholds(U + a4 * np.abs(U) + 4 * beta, up=True)
        t64 = tlo.astype(np.float64)
        h64 = thi.astype(np.float64)
        fin = np.isfinite(t64) & np.isfinite(h64)
        F = np.where(fin, (nb - 1) * (1 - 2.0 ** -20) / (h64 - t64), 0.0)
        F = np.where(np.isfinite(F), np.minimum(F, 1e30), 0.0).astype(np.float32)
        E = 2.0 ** -20 * np.maximum(np.abs(t64), np.abs(h64)) + 2 * beta
        d = np.where(fin & (F > 0), np.minimum(np.ceil(2 * E * F + 2.0 ** -8), nb), nb).astype(np.int64)
    tk = np.where(fin, tlo, np.float32(0))
    return tlo, thi, tk, F, d


def _fold_pick(S2, xsub, ranks, L, U, params, Y, nb, pos=None):
    """Exact order statistics at ranks (n, K) from the float32 slopes S2 (n, G*R*Y) of
    the folded layout (NaN = no pair) and the float64 series xsub (n, G, Y), given the
    bracket [L, U] of each pixel and its :func:`_fold_params` (see :func:`_sen_fold`).
    Returns (values (n, K), ok (n,), below (n,), kept (n,), kept_pos (n,)): the counts
    of slopes below the threshold tlo and kept in [tlo, thi] (exact, whatever ok), and
    for the rows where the bool array pos is True the kept slopes > 0 (else 0)."""
    n, GRY = S2.shape
    K = ranks.shape[1]
    G = xsub.shape[1]
    R = GRY // (G * Y)
    tlo, thi, tk, F, d = params
    # classify: below (counted), kept, above (dropped)
    N = n * GRY
    lt = np.less(S2, tlo[:, None], out=_mask_rows(n, GRY))
    # the kept mask is followed by N // 8 True entries: numpy's nonzero takes a slow
    # memchr path for bool arrays with at most 10 % True, which kept masks often are
    pad = N // 8
    kbuf = _scratch("fold_kp", N + pad, bool)
    kbuf[N:] = True
    kp = np.less_equal(S2, thi[:, None], out=kbuf[:N].reshape(n, GRY))
    np.greater(kp, lt, out=kp)
    below = _row_counts(lt)
    idx = np.flatnonzero(kbuf)
    idx = idx[:idx.size - pad]
    st = np.searchsorted(idx, np.arange(n + 1) * GRY)
    cnt = np.diff(st)
    rel = ranks - below[:, None]
    ok = np.all((rel >= 0) & (rel < cnt[:, None]), axis=1)
    res = np.full((n, K), np.nan)
    key = np.take(S2.reshape(-1), idx)
    kpos = np.zeros(n, np.int64)
    if pos is not None:
        for q in np.flatnonzero(pos):
            kpos[q] = np.count_nonzero(key[st[q]:st[q + 1]] > 0)
    if not ok.any():
        return res, ok, below, cnt, kpos
    # bucket keys of the kept slopes (pixel q: q * nb + key), in float32 (|q * nb + key|
    # < 2**24, so the addition errs by < 2**-10 bucket)
    for q in range(n):
        seg = key[st[q]:st[q + 1]]
        np.subtract(seg, tk[q], out=seg)
        np.multiply(seg, F[q], out=seg)
        np.add(seg, np.float32(q * nb), out=seg)
    ki = key.astype(np.intp)
    cum = np.cumsum(np.bincount(ki, minlength=n * nb).reshape(n, nb), axis=1)
    relc = _clamp(rel, 0, np.maximum(cnt - 1, 0)[:, None])
    rowoff = np.arange(n, dtype=np.int64)[:, None]
    big = int(cnt.max()) + 1
    jb = np.searchsorted((cum + rowoff * big).ravel(), (relc + rowoff * big).ravel(),
                         side="right").reshape(n, K) - rowoff * nb
    lo = np.maximum(jb - d[:, None], 0) + rowoff * nb  # key ranges of the candidates
    hi = np.minimum(jb + d[:, None], nb - 1) + rowoff * nb
    before = np.where(lo > rowoff * nb, cum.ravel()[np.maximum(lo - 1, 0)], 0)
    mark = np.zeros(n * nb + 1, np.int32)
    np.add.at(mark, lo[ok].ravel(), 1)
    np.add.at(mark, hi[ok].ravel() + 1, -1)
    np.cumsum(mark, out=mark)
    sel = np.flatnonzero(np.take(mark.astype(bool), ki))
    ck = ki[sel]
    cq = ck // nb
    g, i, j = _fold_pairs(idx[sel] - cq * GRY, R, Y)
    row = cq * G + g
    xg = xsub.reshape(n * G, Y)
    cv = (xg[row, j] - xg[row, i]) / (j - i)  # exactly as pymannkendall
    # exact selection among the candidates of every (pixel, target)
    ci, ct = np.nonzero((ck[:, None] >= lo[cq]) & (ck[:, None] <= hi[cq]))
    grp = cq[ci] * K + ct
    vv = cv[ci]
    o = np.lexsort((vv, grp))
    vv = vv[o]
    starts = np.searchsorted(grp[o], np.arange(n * K)).reshape(n, K)
    want = _clamp(starts + (relc - before), 0, max(vv.size - 1, 0))
    if vv.size:
        res = vv[want]
    with np.errstate(invalid="ignore"):
        ok &= np.all((res >= L[:, None]) & (res <= U[:, None]), axis=1)
    return res, ok, below, cnt, kpos


def _sen_fold(xs, ranks, nprime, zpairs):
    """Bracketing exact selection for long slope sets; xs (B, G, Y) pixel-major float64.

    Returns (values (B, K), ok (B,) bool, s (B,) int64, s_ok (B,) bool): rows with ok
    False must be recomputed (:func:`_sen_long`); s is the Mann-Kendall S (within-group
    pairs) where s_ok, from the signs of the float32 slopes of step 1 (exact there):
    with V = nprime valid pairs, Z = zpairs tied pairs (slope 0) and P pairs of
    positive slope, S = P - (V - P - Z) = 2P + Z - V.  P is counted over the dense
    slopes, or, where 0 lies in the pixel's thresholds [tlo, thi] of step 3 (no
    significant trend), it is the slopes above thi plus the kept ones > 0, which the
    classification counts anyway.  Per chunk of pixels (a cache-friendly working set):

    1. Dense pass: every pair slope in float32,
       ``S = fl32(fl32(x32_j - x32_i) * fl32(1/k))`` over the folded layout
       (:func:`_fold_layout`: one subtraction and one multiplication over a strided
       view cover all lags).  With x32 = fl32(x) and s the float64 slope
       ``fl((x_j - x_i)/k)`` of pymannkendall, ``|S - s| <= a |s| + b`` with
       a = 2**-21 and b = 2**-147 (+ 2**-22 M if some value of the pixel is not a
       float32; M = max |x| <= 1e37, so nothing overflows): each float32 rounding
       errs by at most 2**-24 relative (2**-150 absolute when subnormal), and the
       conversion of x by 2**-24 |x|.
    2. A bracket [L, U] around all target ranks from a seeded sample of the S
       (:func:`_chunk_bracket`; sampled for the whole block before the chunks), first a
       tight one; pixels whose targets it misses (known from the exact counts below)
       are redone with a wide one.
    3. Thresholds tlo <= L - 4a|L| - 4b and thi >= U + 4a|U| + 4b (float32, rounded
       outward) give: S < tlo implies s < L ("below", only counted), S > thi implies
       s > U ("above", dropped), and every slope in [L, U] is "kept" (NaN slopes,
       i.e. pairs with a gap, are neither).
    4. Kept slopes are bucketed per pixel by the monotone key
       ``floor(fl32(fl32(S - tlo) * F))`` in [0, nb) (F = (nb - 1)/(thi - tlo), a bit
       less, at most 1e30).  The relative rank r - below of target rank r falls in
       bucket j of the kept S.  Every kept slope has |S - s| <= E =
       2**-20 max(|tlo|, |thi|) + 2b, so the exact slope of that relative rank, and
       every slope equal to it, has its key in j - d .. j + d with
       d = ceil(2 E F + 2**-8) (the key's own rounding moves it by less than 2**-9
       buckets), every kept slope with a lower key is smaller and every one with a
       higher key larger.  Only these candidates are recomputed in float64, exactly
       as pymannkendall does, and sorted (:func:`_fold_pick`).
    5. The selected value v is the slope of rank r if it lies in [L, U] (below slopes
       are < L <= v, above slopes > U >= v); checked per pixel and target (else the
       pixel is not ok)."""
    B, G, Y = xs.shape
    T = G * Y * (Y - 1) // 2
    R, mult = _fold_layout(Y)
    GRY = G * R * Y
    nchunk = int(min(_FOLD_SAMPLE_CHUNKS, max(3, T // 640))) | 1
    sidx = _fold_sample(G, Y, nchunk)
    xf = xs.reshape(B, G * Y)
    with np.errstate(invalid="ignore", over="ignore"):
        M = np.nanmax(np.abs(xf), axis=1)
        x32 = xf.astype(np.float32)
    exact = np.all((x32 == xf) | np.isnan(xf), axis=1)
    elig = np.isfinite(M) & (M <= _FOLD_XMAX)
    beta = np.where(exact, 0.0, 2.0 ** -22 * np.where(elig, M, 0.0)) + 2.0 ** -147
    # the signs of the float32 slopes are exact (Mann-Kendall S for free) when every
    # value is a float32 and every non-zero |x| >= 2**-100: then x_j - x_i is exact in
    # sign, and a non-zero difference (>= 2**-123) times 1/k (> 2**-16) stays non-zero
    with np.errstate(invalid="ignore"):
        ax = np.abs(xf)
        minnz = np.nanmin(np.where(ax > 0, ax, np.inf), axis=1)
    s_ok = elig & exact & (minnz >= 2.0 ** -100) & (GRY >= _FOLD_MK_MIN)
    s_mk = np.zeros(B, np.int64)
    out = np.full(ranks.shape, np.nan)
    ok = np.zeros(B, bool)
    ei = np.flatnonzero(elig)
    if ei.size == 0:
        return out, ok, s_mk, s_ok
    # buckets per pixel: about 4 kept slopes per bucket (a tight bracket keeps ~10 %)
    nb = int(min(_FOLD_NB, max(16, 1 << int(np.ceil(np.log2(max(2.0, T / 40)))))))
    xc = np.empty((ei.size, G, 2 * Y), np.float32)
    xc[:, :, :Y] = x32.reshape(B, G, Y)[ei]
    xc[:, :, Y:] = xc[:, :, :Y]
    # bracket sample: the slopes at the sampled folded positions, computed with the
    # same float32 operations as the dense pass, for all pixels of the block at once
    g, rem = np.divmod(sidx, R * Y)
    r, p = np.divmod(rem, Y)
    xc2 = xc.reshape(ei.size, G * 2 * Y)
    samp = np.take(xc2, g * 2 * Y + p + r + 1, axis=1)
    with np.errstate(invalid="ignore", over="ignore"):
        samp -= np.take(xc2, g * 2 * Y + p, axis=1)
        samp *= mult[r, p]
    samp = samp.reshape(ei.size * nchunk, 128)
    samp.sort(axis=1)
    samp = samp.reshape(ei.size, nchunk, 128)
    rke = ranks[ei]
    npe = nprime[ei]
    Lt, Ut = _chunk_bracket(samp, rke, npe, _ZQ_TIGHT)
    pt = _fold_params(Lt, Ut, beta[ei], nb)
    c = max(1, _FOLD_CHUNK // GRY)
    sbuf = _scratch("fold_s", min(c, ei.size) * GRY, np.float32)
    s0, s1, s2 = xc.strides
    for a in range(0, ei.size, c):
        px = ei[a:a + c]
        n = px.size
        xa = xc[a:a + n]
        later = np.lib.stride_tricks.as_strided(xa[:, :, 1:], shape=(n, G, R, Y),
                                                strides=(s0, s1, s2, s2), writeable=False)
        S = sbuf[:n * GRY].reshape(n, G, R, Y)
        np.copyto(S, later)  # (a copy, then in-place arithmetic, beats reading the strided view)
        with np.errstate(invalid="ignore", over="ignore"):
            np.subtract(S, xa[:, :, None, :Y], out=S)
            np.multiply(S, mult, out=S)
        S2 = S.reshape(n, GRY)
        ptc = [v[a:a + n] for v in pt]
        sok = s_ok[px]
        in0 = sok & (ptc[0] <= 0) & (ptc[1] >= 0)  # P from the classification counts
        npos = np.zeros(n, np.int64)
        dense = np.flatnonzero(sok & ~in0)
        if dense.size == n:
            npos = _row_counts(np.greater(S2, 0, out=_mask_rows(n, GRY)))
        else:
            for q in dense:
                npos[q] = np.count_nonzero(S2[q] > 0)
        rk = rke[a:a + n]
        res, okc, below, kept, kpos = _fold_pick(S2, xs[px], rk, Lt[a:a + n], Ut[a:a + n], ptc, Y, nb,
                                                 pos=in0 if in0.any() else None)
        # above thi (the valid pairs neither below nor kept) plus the kept ones > 0
        npos[in0] = (npe[a:a + n] - below - kept + kpos)[in0]
        s_mk[px] = np.where(sok, 2 * npos + zpairs[px] - npe[a:a + n], 0)
        bad = np.flatnonzero(~okc)
        if bad.size:  # retry with a wide bracket
            L, U = _chunk_bracket(samp[a + bad], rk[bad], npe[a + bad], _ZQ)
            res[bad], okc[bad] = _fold_pick(np.ascontiguousarray(S2[bad]), xs[px[bad]], rk[bad],
                                            L, U, _fold_params(L, U, beta[px[bad]], nb), Y, nb)[:2]
        out[px[okc]] = res[okc]
        ok[px] = okc
    return out, ok, s_mk, s_ok

def _sen_select(x3, ranks, nprime, zpairs):
    """Order statistics at ranks of the within-group slopes of x3 (Y, G, B) time-major
    (zpairs: tied within-group pairs per pixel, for the Mann-Kendall S of the long path).

    Returns (values (B, K), s (B,) int64, s_ok (B,) bool): the long path also yields
    the Mann-Kendall S (within-group pairs) of the pixels with s_ok."""
    Y, G, B = x3.shape
    T = G * Y * (Y - 1) // 2
    if T <= _LONG_PAIRS:
        out = _select_cols(_pair_slopes(np.ascontiguousarray(x3), scratch=True), ranks)
        return out, np.zeros(B, np.int64), np.zeros(B, bool)
    xs = np.ascontiguousarray(x3.transpose(2, 1, 0))  # (B, G, Y) for the float64 path
    out, ok, s, s_ok = _sen_fold(xs, ranks, nprime, zpairs)
    bad = np.flatnonzero(~ok)
    if bad.size:  # float64 pass (and its exact per-pixel fallback)
        out[bad] = _sen_long(np.ascontiguousarray(xs[bad]), ranks[bad], nprime[bad])
    return out, s, s_ok


# ---------------------------------------------------------------------------
# per-block processing
# ---------------------------------------------------------------------------

def _block_sen(xb, var_ci, zci, zpairs, period=None):
    """Sen slope, CI bounds for the time-major block xb (n, B), and the Mann-Kendall S
    (summed over the seasons if period) where the long path yields it: returns
    slope, lower, upper, s (int64), s_ok (bool).  zpairs: tied pairs per pixel (within
    the seasons if period), see :func:`_tie_term`; needed by the long path only (else
    None)."""
    n, B = xb.shape
    if period is None:
        x3 = xb.reshape(n, 1, B)
    else:
        ny = -(-n // period)
        pad = ny * period - n
        if pad:
            xb = np.concatenate([xb, np.full((pad, B), np.nan)], axis=0)
        x3 = xb.reshape(ny, period, B)
    nvg = np.count_nonzero(~np.isnan(x3), axis=0).astype(np.int64).T  # (B, G)
    nprime = (nvg * (nvg - 1) // 2).sum(axis=1)
    slope = np.full(B, np.nan)
    lower = np.full(B, np.nan)
    upper = np.full(B, np.nan)
    s = np.zeros(B, np.int64)
    s_ok = np.zeros(B, bool)
    ok = np.flatnonzero(nprime >= 1)
    if ok.size:
        ranks = _targets(nprime[ok], var_ci[ok], zci)
        vals, s[ok], s_ok[ok] = _sen_select(x3[:, :, ok] if ok.size < B else x3, ranks, nprime[ok],
                                            None if zpairs is None else zpairs[ok])
        slope[ok] = _finish_median(vals, nprime[ok])
        lower[ok] = vals[:, 2]
        upper[ok] = vals[:, 3]
    return slope, lower, upper, s, s_ok


def _process_block(xb, variant, alpha, period, lag, zci):
    n, B = xb.shape
    res = {}
    long = _pairs(n, variant, period) > _LONG_PAIRS  # the slope path that also yields S
    isn = np.isnan(xb)
    valid = ~isn
    nv = np.count_nonzero(valid, axis=0).astype(np.int64)
    if variant == "seasonal":
        medx = _median_partition(xb, nv)
        ny = -(-n // period)
        pad = ny * period - n
        xp = np.concatenate([xb, np.full((pad, B), np.nan)], axis=0) if pad else xb
        x3 = xp.reshape(ny, period, B)
        # seasons as separate columns: (ny, period*B)
        xsea = x3.reshape(ny, period * B)
        xsea32 = _exact_f32(xsea)
        tie, zp = _tie_term(_sorted_rows(xsea, xsea32), pairs=long)
        tie = tie.reshape(period, B)
        nvs = np.count_nonzero(~np.isnan(x3), axis=0).astype(np.int64)  # (period, B)
        var_s = _variance(nvs, tie).sum(axis=0)
        if long:
            zp = zp.reshape(period, B).sum(axis=0)
        slope, lower, upper, s, s_ok = _block_sen(xb, var_s, zci, zp, period=period)
        rest = np.flatnonzero(~s_ok)
        if rest.size == B:
            s = _mk_score(xsea, xsea32).reshape(period, B).sum(axis=0)
        elif rest.size:  # S summed over the seasons, for the pixels the long path left
            cols = (np.arange(period)[:, None] * B + rest).ravel()
            xr = np.ascontiguousarray(xsea[:, cols])
            s[rest] = _mk_score(xr).reshape(period, rest.size).sum(axis=0)
        denom = (0.5 * nvs * (nvs - 1)).sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            tau = s / denom
        z = _z_score(s, var_s)
        p, trend = _p_trend(z, alpha)
        midx = _median_valid_index(valid)
        intercept = medx - midx / period * slope
        res.update(s=s.astype(np.float64), var_s=var_s, tau=tau, z=z, p_value=p, trend=trend,
                   slope=slope, slope_lower=lower, slope_upper=upper, intercept=intercept)
        return res

    xb32 = _exact_f32(xb)
    srt = _sorted_rows(xb, xb32)
    medx = _median_sorted(srt, nv)
    tie, zp = _tie_term(srt, pairs=long)
    var0 = _variance(nv, tie)
    slope, lower, upper, s0, s_ok = _block_sen(xb, var0, zci, zp)
    rest = np.flatnonzero(~s_ok)
    if variant in ("pre_whitening", "trend_free_pre_whitening"):
        pass  # their S is that of the pre-whitened series (below)
    elif rest.size == B:
        s0 = _mk_score(xb, xb32)
    elif rest.size:  # S for the pixels the long path left
        s0[rest] = _mk_score(np.ascontiguousarray(xb[:, rest]),
                             None if xb32 is None else np.ascontiguousarray(xb32[:, rest]))
    midx = _median_valid_index(valid)
    intercept = medx - midx * slope
    res.update(slope=slope, slope_lower=lower, slope_upper=upper, intercept=intercept)
    nvf = nv.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        tau0 = s0 / (0.5 * nvf * (nvf - 1))

    if variant == "original":
        s, var_s, tau = s0, var0, tau0
    elif variant in ("hamed_rao", "yue_wang"):
        xc = _compress(xb)
        pos = np.arange(1, n + 1, dtype=np.float64)[:, None]
        xd = xc - pos * slope[None, :]
        maxlag = n - 1 if lag is None else min(int(lag), n - 1)
        lagcap = (nv - 1) if lag is None else np.minimum(int(lag), nv - 1)
        ii = np.arange(maxlag + 1)[:, None]
        use = (ii >= 1) & (ii <= lagcap[None, :])
        if variant == "hamed_rao":
            rk = _average_ranks(xd, nv)
            rho = _acf(rk, nv, maxlag)
            interval = _z_crit(alpha) / np.sqrt(nvf)
            inside = (rho <= interval[None, :]) & (rho >= -interval[None, :])
            w = (nvf - ii) * (nvf - ii - 1) * (nvf - ii - 2)
            with np.errstate(invalid="ignore"):
                sni = np.where(use & ~inside, w * rho, 0.0).sum(axis=0)
                n_ns = 1 + (2 / (nvf * (nvf - 1) * (nvf - 2))) * sni
        else:
            rho = _acf(xd, nv, maxlag)
            with np.errstate(invalid="ignore", divide="ignore"):
                sni = np.where(use, (1 - ii / nvf) * rho, 0.0).sum(axis=0)
            n_ns = 1 + 2 * sni
        var_s = var0 * n_ns
        s, tau = s0, tau0
        if variant == "hamed_rao":
            var_s = np.where(nv >= 3, var_s, np.nan)
    else:  # pre-whitening variants
        xc = _compress(xb)
        if variant == "trend_free_pre_whitening":
            pos = np.arange(1, n + 1, dtype=np.float64)[:, None]
            xc = xc - pos * slope[None, :]
        r1 = _acf(xc, nv, 1)[1]
        xw = xc[1:] - xc[:-1] * r1[None, :]
        # entries at or beyond the n-1 pre-whitened values are padding
        vm = np.arange(n - 1)[:, None] < (nv - 1)[None, :]
        if variant == "trend_free_pre_whitening":
            xw = xw + np.arange(1, n, dtype=np.float64)[:, None] * slope[None, :]
        xw = np.where(vm, xw, np.nan)
        n1 = nv - 1
        s = _mk_score(xw)
        var_s = _variance(n1, _tie_term(_sorted_rows(xw))[0])
        n1f = n1.astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            tau = s / (0.5 * n1f * (n1f - 1))
        bad = nv < 3
        s = np.where(bad, np.nan, s.astype(np.float64))
        var_s = np.where(bad, np.nan, var_s)
        tau = np.where(bad, np.nan, tau)
    s = np.asarray(s, dtype=np.float64)
    z = _z_score(np.nan_to_num(s), var_s)
    z = np.where(np.isnan(s), np.nan, z)
    p, trend = _p_trend(z, alpha)
    res.update(s=s, var_s=var_s, tau=tau, z=z, p_value=p, trend=trend)
    return res


def _pairs(n, variant, period):
    """Number of slope pairs of a gap-free series of n steps."""
    if variant == "seasonal":
        ny = -(-n // period)
        return period * ny * (ny - 1) // 2
    return n * (n - 1) // 2


def _block_pixels(n, variant, period):
    T = _pairs(n, variant, period)
    if T <= _LONG_PAIRS:
        b = _SLOPE_BLOCK_BYTES // max(1, 8 * T)
        return int(min(4096, max(64, b)))
    return 256


def mann_kendall(values, variant="original", alpha=0.05, min_valid=3, period=12, lag=None,
                 ci_alpha=None, n_threads=None, progress=None, cancelled=None,
                 block_pixels=None, workers=None, helpers=None):
    """Per-pixel Mann-Kendall test and Theil-Sen slope, exactly as pymannkendall.

    Parameters
    ----------
    values : array_like, shape (t,), (t, P) or (t, rows, cols)
        Time first; float (any float dtype, computed in float64); NaN = missing.
    variant : one of :data:`VARIANTS` (see the module docstring).
    alpha : significance level of the test (two-sided), default 0.05.
    min_valid : pixels with fewer valid values get NaN bands (``n_valid`` is
        always the count).  Must be >= 2.
    period : season length for ``variant='seasonal'`` (12 for monthly data).
    lag : number of lags for ``hamed_rao`` / ``yue_wang`` (None = all lags).
    ci_alpha : the slope confidence interval is at 1 - ci_alpha (default alpha).
    n_threads : parallel lanes over pixel blocks (default min(2, cpu count)).
    workers : a :class:`ecoresp_core.parallel.Workers` to use (kept open by the caller
        across calls, e.g. per raster block); default: one for this call, of
        ``n_threads`` lanes.
    helpers : for the default workers: False computes in threads only; None lets the
        long slope path use helper processes (see :mod:`ecoresp_core.parallel`).
    progress : optional callable receiving the done fraction 0..1.
    cancelled : optional callable; when it returns True, :class:`Cancelled` is raised.
    block_pixels : pixels per block (default chosen from the series length).

    Returns
    -------
    dict band -> float64 array of shape ``values.shape[1:]`` for every name in
    :data:`TREND_BANDS`.  Units: ``slope``, ``slope_lower``, ``slope_upper`` in
    input units per time step (per cycle for ``seasonal``); ``intercept`` in
    input units at time index 0; ``trend`` in {-1, 0, +1}; ``n_valid`` a count.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    if not (0 < alpha < 1):
        raise ValueError("alpha must be in (0, 1)")
    if ci_alpha is None:
        ci_alpha = alpha
    if not (0 < ci_alpha < 1):
        raise ValueError("ci_alpha must be in (0, 1)")
    if int(min_valid) < 2:
        raise ValueError("min_valid must be >= 2")
    min_valid = int(min_valid)
    if variant == "seasonal" and (period is None or int(period) < 1):
        raise ValueError("period must be a positive integer")
    period = int(period)
    if lag is not None and int(lag) < 1:
        raise ValueError("lag must be >= 1 or None")
    x = np.asarray(values)
    if x.ndim == 0:
        raise ValueError("values must have a time axis")
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    n = x.shape[0]
    pix_shape = x.shape[1:]
    x2 = x.reshape(n, -1)
    P = x2.shape[1]
    zci = float(norm.ppf(1 - ci_alpha / 2))

    nvalid = np.zeros(P, np.int64)
    step = max(1, (1 << 24) // max(n, 1))
    for a in range(0, P, step):
        nvalid[a:a + step] = n - np.count_nonzero(np.isnan(x2[:, a:a + step]), axis=0)
    out = {b: np.full(P, np.nan) for b in TREND_BANDS}
    out["n_valid"] = nvalid.astype(np.float64)
    todo = np.flatnonzero(nvalid >= min_valid)
    # blocks of similar n_valid share their target ranks (cheaper selection)
    todo = todo[np.argsort(nvalid[todo], kind="stable")]
    bp = int(block_pixels) if block_pixels else _block_pixels(n, variant, period)
    blocks = [todo[a:a + bp] for a in range(0, todo.size, bp)]

    def make_args(ix):
        return (np.ascontiguousarray(x2[:, ix], dtype=np.float64),  # C order: time-major rows
                variant, alpha, period, lag, zci)

    def deliver(ix, res):
        for bname, arr in res.items():
            out[bname][ix] = arr

    def check():
        if cancelled is not None and cancelled():
            raise Cancelled("trend computation cancelled")

    # the long slope path is made of many medium numpy calls: helper processes (own GIL),
    # when the work (~3 ns per pair) outweighs a helper's start (~0.3 s)
    T = _pairs(n, variant, period)
    heavy = T > _LONG_PAIRS and todo.size * T >= _HELPER_MIN_PAIRS and len(blocks) >= 4
    own = workers is None
    if own:
        workers = Workers(n_threads, helpers=helpers)
    try:
        if blocks:
            workers.run(_process_block, blocks, make_args, deliver, heavy=heavy,
                        progress=progress, check=check)
        elif progress is not None:
            progress(1.0)
    finally:
        if own:
            workers.close()
        _TLS.__dict__.pop("bufs", None)  # scratch of the calling thread (pool threads end)
    return {b: out[b].reshape(pix_shape) for b in TREND_BANDS}
