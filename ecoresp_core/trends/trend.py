"""Vectorised, exact per-pixel Mann-Kendall trend test and Theil-Sen slope.

The reference is ``pymannkendall`` 1.4.x: for every pixel the bands returned by
:func:`mann_kendall` equal what the pymannkendall function of the chosen variant
returns for that pixel's 1-D series (converted to float64), with the same NaN
conventions.  Only numpy and scipy are used; no QGIS import.

Conventions (identical to pymannkendall, see docs/science.md section 14)
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
Everything is float64; slopes are computed exactly as pymannkendall does
(``(x_j - x_i)/(j - i)``), and the order statistics are selected exactly:
short slope sets are materialised per pixel block and selected with a float32
sort followed by an exact float64 refinement inside the float32 tie class; long
slope sets (e.g. 360 monthly values, 64 620 pairs) use a seeded random sample
of pairs to bracket the needed ranks, one pass over all lags that counts the
slopes below the bracket and gathers those inside it, an exact selection among
the gathered slopes, and an exact per-pixel fallback for the (rare) pixels whose
bracket missed.  Pixel blocks are processed by a thread pool.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy.stats import norm

from ..errors import Cancelled

__all__ = ["TREND_BANDS", "VARIANTS", "mann_kendall", "Cancelled"]

TREND_BANDS = ("slope", "intercept", "p_value", "z", "tau", "s", "var_s", "n_valid",
               "trend", "slope_lower", "slope_upper")
VARIANTS = ("original", "hamed_rao", "yue_wang", "pre_whitening",
            "trend_free_pre_whitening", "seasonal")

# slope sets larger than this use the bracketing selection (per pixel)
_LONG_PAIRS = 6000
# memory budget (bytes) of one materialised slope block
_SLOPE_BLOCK_BYTES = 8 * 2 ** 20
_SAMPLE_PAIRS = 3000
_SEED = 20240607
_MAX_KTH = 0  # partition only with at most this many ranks, else sort


# ---------------------------------------------------------------------------
# small vectorised building blocks (time-major arrays (n, B) unless noted)
# ---------------------------------------------------------------------------

def _sort_info(x):
    """Sort each column of x (n, B) (NaN last); return (order, sorted, valid count)."""
    order = np.argsort(x, axis=0, kind="stable")
    srt = np.take_along_axis(x, order, axis=0)
    return order, srt


def _tie_term(srt):
    """sum over tie groups of t(t-1)(2t+5) for sorted columns (NaN never tied), int64 (B,)."""
    n, B = srt.shape
    if n < 2:
        return np.zeros(B, np.int64)
    eq = srt[1:] == srt[:-1]
    if not eq.any():
        return np.zeros(B, np.int64)
    idx = np.arange(n, dtype=np.int64)[:, None]
    start = np.zeros((n, B), np.int64)
    start[1:] = np.where(eq, 0, idx[1:])
    np.maximum.accumulate(start, axis=0, out=start)
    c = idx - start + 1  # 1-based position inside its run
    # f(c) - f(c-1) with f(t) = t(t-1)(2t+5)  ->  6c^2 - 6c ... computed directly
    term = c * (c - 1) * (2 * c + 5) - (c - 1) * (c - 2) * (2 * c + 3)
    return term.sum(axis=0)


def _dense_ranks(x, order, srt):
    """Dense ranks (ties share a rank) of the valid values, BIG for NaN; int16/int32."""
    n, B = x.shape
    dt = np.int16 if n < 32000 else np.int32
    big = np.iinfo(dt).max
    newrun = np.ones((n, B), dtype=dt)
    newrun[0] = 0
    if n > 1:
        np.not_equal(srt[1:], srt[:-1], out=newrun[1:], casting="unsafe")
    dr = np.cumsum(newrun, axis=0, dtype=dt)
    dr[np.isnan(srt)] = big
    r = np.empty_like(dr)
    np.put_along_axis(r, order, dr, axis=0)
    return r, big


def _mk_score(x, order=None, srt=None):
    """Mann-Kendall S of each column of x (n, B), pairs with a NaN ignored. int64 (B,)."""
    n, B = x.shape
    if n < 2:
        return np.zeros(B, np.int64)
    if order is None:
        order, srt = _sort_info(x)
    r, big = _dense_ranks(x, order, srt)
    acc = np.zeros((n - 1, B), dtype=r.dtype)
    tmp = np.empty((n - 1, B), dtype=r.dtype)
    for k in range(1, n):
        m = n - k
        t = tmp[:m]
        np.subtract(r[k:], r[:-k], out=t)
        np.sign(t, out=t)
        np.add(acc[:m], t, out=acc[:m])
    s_comp = acc.sum(axis=0, dtype=np.int64)
    # NaN entries carry rank BIG: pair (valid i, NaN j>i) gave +1, (NaN i, valid j>i) gave -1
    nanm = np.isnan(x)
    if nanm.any():
        valid = ~nanm
        cumv = np.cumsum(valid, axis=0, dtype=np.int64)  # valid values up to and incl. t
        nv = cumv[-1]
        before = np.where(nanm, cumv, 0).sum(axis=0)
        after = np.where(nanm, nv[None, :] - cumv, 0).sum(axis=0)
        s_comp = s_comp - before + after
    return s_comp


def _variance(nv, tie):
    nv = nv.astype(np.float64)
    return (nv * (nv - 1) * (2 * nv + 5) - tie.astype(np.float64)) / 18


def _z_score(s, var_s):
    s = s.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        sd = np.sqrt(var_s)
        z = np.where(s > 0, (s - 1) / sd, np.where(s < 0, (s + 1) / sd, 0.0))
    return z


def _p_trend(z, alpha):
    p = 2 * (1 - norm.cdf(np.abs(z)))
    h = np.abs(z) > norm.ppf(1 - alpha / 2)
    trend = np.where(h & (z > 0), 1.0, np.where(h & (z < 0), -1.0, 0.0))
    return p, trend


def _median_sorted(srt, cnt):
    """numpy median of the first cnt entries of each sorted column (cnt >= 1)."""
    B = srt.shape[1]
    cols = np.arange(B)
    lo = srt[(cnt - 1) // 2, cols]
    hi = srt[cnt // 2, cols]
    return np.where(cnt % 2 == 1, lo, (lo + hi) / 2)


def _median_valid_index(valid, divisor=None):
    """np.median(np.arange(n)[valid]) per column of the bool array valid (n, B)."""
    cumv = np.cumsum(valid, axis=0, dtype=np.int64)
    cnt = cumv[-1]
    k1 = (cnt - 1) // 2 + 1  # 1-based rank among valid
    k2 = cnt // 2 + 1
    i1 = np.argmax(cumv >= k1[None, :], axis=0)
    i2 = np.argmax(cumv >= k2[None, :], axis=0)
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


def _pair_slopes(x3):
    """All within-group pair slopes of x3 (Y, G, B) (time-major) as (G*Y*(Y-1)/2, B)."""
    Y, G, B = x3.shape
    T = G * Y * (Y - 1) // 2
    out = np.empty((T, B))
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
    lo = np.clip(m1, 1, npf).astype(np.int64) - 1
    hi = np.clip(m2, 1, npf).astype(np.int64) - 1
    return np.stack([(nprime - 1) // 2, nprime // 2, lo, hi], axis=1)


def _finish_median(vals, nprime):
    a, b = vals[:, 0], vals[:, 1]
    return np.where(nprime % 2 == 1, a, (a + b) / 2)


def _sen_short(xs, ranks):
    x3 = np.ascontiguousarray(xs.transpose(2, 1, 0))
    return _select(_pair_slopes(x3), ranks)


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
    L = np.where(il >= 0, samp[rows, np.clip(il, 0, ns - 1)].astype(np.float64), -np.inf)
    U = np.where(ih < v, samp[rows, np.clip(ih, 0, ns - 1)].astype(np.float64), np.inf)
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


def _sen_select(x3, ranks, nprime):
    """x3 (Y, G, B) time-major."""
    Y, G, B = x3.shape
    T = G * Y * (Y - 1) // 2
    if T <= _LONG_PAIRS:
        return _select(_pair_slopes(np.ascontiguousarray(x3)), ranks)
    return _sen_long(np.ascontiguousarray(x3.transpose(2, 1, 0)), ranks, nprime)


# ---------------------------------------------------------------------------
# per-block processing
# ---------------------------------------------------------------------------

def _block_sen(xb, var_ci, zci, period=None):
    """Sen slope, CI and N' for the time-major block xb (n, B)."""
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
    ok = np.flatnonzero(nprime >= 1)
    if ok.size:
        ranks = _targets(nprime[ok], var_ci[ok], zci)
        vals = _sen_select(x3[:, :, ok] if ok.size < B else x3, ranks, nprime[ok])
        slope[ok] = _finish_median(vals, nprime[ok])
        lower[ok] = vals[:, 2]
        upper[ok] = vals[:, 3]
    return slope, lower, upper


def _process_block(xb, variant, alpha, period, lag, zci):
    n, B = xb.shape
    res = {}
    isn = np.isnan(xb)
    valid = ~isn
    nv = np.count_nonzero(valid, axis=0).astype(np.int64)
    order, srt = _sort_info(xb)
    medx = _median_sorted(srt, nv)

    if variant == "seasonal":
        ny = -(-n // period)
        pad = ny * period - n
        xp = np.concatenate([xb, np.full((pad, B), np.nan)], axis=0) if pad else xb
        x3 = xp.reshape(ny, period, B)
        # seasons as separate columns: (ny, period*B)
        xsea = x3.reshape(ny, period * B)
        o2, s2 = _sort_info(xsea)
        s_sea = _mk_score(xsea, o2, s2).reshape(period, B)
        tie = _tie_term(s2).reshape(period, B)
        nvs = np.count_nonzero(~np.isnan(x3), axis=0).astype(np.int64)  # (period, B)
        var_s = _variance(nvs, tie).sum(axis=0)
        s = s_sea.sum(axis=0)
        denom = (0.5 * nvs * (nvs - 1)).sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            tau = s / denom
        z = _z_score(s, var_s)
        p, trend = _p_trend(z, alpha)
        slope, lower, upper = _block_sen(xb, var_s, zci, period=period)
        midx = _median_valid_index(valid)
        intercept = medx - midx / period * slope
        res.update(s=s.astype(np.float64), var_s=var_s, tau=tau, z=z, p_value=p, trend=trend,
                   slope=slope, slope_lower=lower, slope_upper=upper, intercept=intercept)
        return res

    s0 = _mk_score(xb, order, srt)
    var0 = _variance(nv, _tie_term(srt))
    slope, lower, upper = _block_sen(xb, var0, zci)
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
            interval = norm.ppf(1 - alpha / 2) / np.sqrt(nvf)
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
        o3, s3 = _sort_info(xw)
        var_s = _variance(n1, _tie_term(s3))
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


def _block_pixels(n, variant, period):
    if variant == "seasonal":
        ny = -(-n // period)
        T = period * ny * (ny - 1) // 2
    else:
        T = n * (n - 1) // 2
    if T <= _LONG_PAIRS:
        b = _SLOPE_BLOCK_BYTES // max(1, 8 * T)
        return int(min(4096, max(64, b)))
    return 256


def mann_kendall(values, variant="original", alpha=0.05, min_valid=3, period=12, lag=None,
                 ci_alpha=None, n_threads=None, progress=None, cancelled=None,
                 block_pixels=None):
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
    n_threads : worker threads over pixel blocks (default min(2, cpu count)).
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
    if n_threads is None:
        n_threads = min(2, os.cpu_count() or 1)
    n_threads = max(1, int(n_threads))

    def work(ix):
        xb = x2[:, ix].astype(np.float64)
        res = _process_block(xb, variant, alpha, period, lag, zci)
        for bname, arr in res.items():
            out[bname][ix] = arr

    def check():
        if cancelled is not None and cancelled():
            raise Cancelled("trend computation cancelled")

    nb = len(blocks)
    if nb:
        check()
        if n_threads == 1 or nb == 1:
            for i, ix in enumerate(blocks):
                check()
                work(ix)
                if progress is not None:
                    progress((i + 1) / nb)
        else:
            with ThreadPoolExecutor(max_workers=n_threads) as ex:
                pending = list(blocks)
                running = []
                done = 0
                try:
                    while pending or running:
                        while pending and len(running) < 2 * n_threads:
                            running.append(ex.submit(work, pending.pop(0)))
                        f = running.pop(0)
                        f.result()
                        done += 1
                        if progress is not None:
                            progress(done / nb)
                        check()
                except BaseException:
                    for f in running:
                        f.cancel()
                    raise
    elif progress is not None:
        progress(1.0)
    return {b: out[b].reshape(pix_shape) for b in TREND_BANDS}
