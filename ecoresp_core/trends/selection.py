"""Exact order statistics of the Theil-Sen pair slopes: Sen's slope and its confidence bounds.

For every pixel the slopes ``(x_j - x_i) / (j - i)`` of all valid pairs i < j (float64,
exactly as pymannkendall computes them; within each season for the seasonal test, in
input units per time step, per cycle for seasons) are ranked, and the values at four
0-based target ranks are selected (:func:`_targets`): the two middle ranks (their mean is
the median, Sen's slope) and the ranks of the confidence bounds of Gilbert (1987).  The
selected values are the exact float64 order statistics, bit for bit those of sorting
all slopes; cheaper arithmetic is used only where its outcome is provably the same.
The entry point is :func:`block_sen`; :mod:`.statistic` calls it per pixel block.

Two paths, chosen by the number of pairs of a gap-free series (:data:`LONG_PAIRS`):

Short slope sets (at most ``LONG_PAIRS`` pairs, e.g. 30 annual values)
    The slopes are materialised per pixel block (:func:`_pair_slopes`); per pixel they
    are mapped to 16-bit keys by a monotone function (linear in the pixel's slope range,
    in float32, clamped, truncated), the keys are radix-sorted, and the slope of rank r
    is the unique slope carrying the key of rank r, or is selected exactly in float64
    among the slopes sharing it (:func:`_select_cols`).
Long slope sets (e.g. 360 monthly values, 64 620 pairs; 30 years of seasonal data, 5 220)
    ONE dense float32 pass over all pairs of a chunk of pixels, laid out as a folded
    (Y/2, Y) array per series (:func:`_fold_layout`: a copy of a strided view, a
    subtraction and a multiplication give every slope).  A bracket [L, U] around all
    target ranks comes from a seeded sample of these slopes (sorted as float32 chunks of
    128), tight first and wide for the pixels it misses; with thresholds widened beyond
    every float32 rounding error (bound in :func:`_sen_fold`) slopes surely below L are
    only counted, slopes surely above U skipped, and the rest ("kept") is bucketed per
    pixel by a monotone key; only the few kept slopes whose key lies within the error
    band of a target's bucket are recomputed exactly in float64 and sorted.  A pixel is
    accepted only if every target rank falls among its kept slopes and every selected
    slope lies in [L, U] (which proves its value); otherwise, or when the pixel holds a
    value of magnitude above 1e37 or a non-finite one, the exact float64 bracketing pass
    (:func:`_sen_long`) and its per-pixel fallback are used.  For series of float32
    values the signs of the dense float32 slopes also give the Mann-Kendall S (exact
    there, see :func:`_sen_fold`).

Working arrays are per-thread scratch buffers (:func:`_scratch`, about 20 MB for 30-step
blocks of ~3000 pixels, a few MB per chunk of a 360-step block), reused from block to
block instead of allocating (and page-faulting) fresh big arrays;
:func:`release_scratch` frees those of the calling thread.  Everything here is
deterministic: the samples use the fixed seed ``_SEED``.
"""

from __future__ import annotations

import functools
import threading

import numpy as np

__all__ = ["LONG_PAIRS", "block_sen", "release_scratch"]

#: slope sets with more pairs than this (gap-free series) use the long, bracketing path
LONG_PAIRS = 2000
_SAMPLE_PAIRS = 3000  # sampled pairs of the bracket of _sen_long
_ZQ = 3.5  # bracket half-width in standard errors of the sample quantiles (retry)
_ZQ_TIGHT = 2.5  # first, tight bracket of the long path (misses are retried with _ZQ)
_SEED = 20240607  # seed of the pair samples (same pairs for every pixel and run)

# folded pair layout of the long path (_sen_fold)
_FOLD_NB = 2048  # buckets per pixel for the kept slopes
_FOLD_CHUNK = 1 << 20  # pairs per chunk of pixels of the dense pass
_FOLD_SAMPLE_CHUNKS = 17  # sample of the bracket: chunks of 128 slopes per pixel
_FOLD_MK_MIN = 1 << 14  # pairs per pixel from which the dense pass also counts the MK signs
_FOLD_XMAX = 1e37  # pixels with a larger |x| (or non-finite values) take _sen_long
_ALPHA = 2.0 ** -21  # relative error bound of the float32 slopes


# ---------------------------------------------------------------------------
# scratch buffers and small helpers
# ---------------------------------------------------------------------------

_TLS = threading.local()  # per-thread scratch buffers


def _scratch(name, size, dtype):
    """Per-thread reusable 1-D scratch array of ``size`` entries of ``dtype`` (contents
    undefined): big working arrays are reused from block to block instead of
    being allocated and page-faulted anew."""
    d = getattr(_TLS, "bufs", None)
    if d is None:
        d = _TLS.bufs = {}
    a = d.get(name)
    if a is None or a.size < size or a.dtype != dtype:
        a = d[name] = np.empty(max(int(size), 1), dtype)
    return a[:size]


def release_scratch():
    """Free the scratch buffers of the calling thread (:func:`_scratch`).

    The driver calls it at the end of a computation, so that the buffers (tens of MB)
    do not outlive it in a long-lived thread; pool threads free theirs when they end."""
    _TLS.__dict__.pop("bufs", None)


def _clamp(a, lo, hi):
    """np.clip without its Python-level checks (which run an import per call: slow under
    QGIS's import hook); a, lo, hi broadcast, lo <= hi."""
    return np.minimum(np.maximum(a, lo), hi)


# ---------------------------------------------------------------------------
# exact selection of order statistics
# ---------------------------------------------------------------------------

def _distinct_ranks(ranks):
    """Split the columns of ranks (B, K) into those to select (``todo``) and pairs
    ``(j, jj)`` where column j equals the earlier column jj (e.g. both middle ranks of an
    odd number of slopes): their values are copied instead of selected twice."""
    todo, copies = [], []
    for j in range(ranks.shape[1]):
        same = [jj for jj in todo if np.array_equal(ranks[:, jj], ranks[:, j])]
        if same:
            copies.append((j, same[0]))
        else:
            todo.append(j)
    return todo, copies


def _select(v64, ranks):
    """Exact order statistics of each column by a float32 sort and a float64 refinement.

    Parameters
    ----------
    v64 : ndarray, shape (W, B), float64
        Values per column (NaN = absent).
    ranks : ndarray, shape (B, K), int64
        0-based ranks among the non-NaN entries of each column (valid ranks).

    Returns
    -------
    ndarray, shape (B, K), float64
        The exact order statistics.

    Notes
    -----
    A float32 copy is sorted per column; rounding to float32 is monotone, so the exact
    value lies in the float32 tie class of the float32 order statistic and is selected
    exactly in float64 inside that class.  Used where the 16-bit keys of
    :func:`_select_cols` do not apply (non-finite or huge ranges) and for the gathered
    slopes of :func:`_sen_long`.
    """
    W, B = v64.shape
    K = ranks.shape[1]
    v32 = np.empty((B, W), np.float32)
    with np.errstate(over="ignore"):
        v32[...] = v64.T
    part = np.sort(v32, axis=1)
    rows = np.arange(B)
    res = np.empty((B, K))
    todo, copies = _distinct_ranks(ranks)
    for j in todo:
        r = ranks[:, j]
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
    for j, jj in copies:
        res[:, j] = res[:, jj]
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
    """0-based target ranks of the selection: median low, median high, CI low, CI high.

    Parameters
    ----------
    nprime : ndarray, shape (B,), int64
        Number of valid slopes N' (>= 1).
    var_ci : ndarray, shape (B,), float64
        Variance of S for the interval half-width ``C = zci sqrt(var_ci)``.
    zci : float
        Standard normal quantile of the interval.

    Returns
    -------
    ndarray, shape (B, 4), int64
        ``(N'-1)//2``, ``N'//2`` and the 1-based ranks ``round((N'-C)/2)`` and
        ``round((N'+C)/2) + 1`` (round half to even, clipped to [1, N']) minus 1;
        a non-finite C gives the extreme ranks.
    """
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
    """Sen's slope from the two middle order statistics ``vals[:, 0]``, ``vals[:, 1]``
    (B, K): the lower one for an odd number ``nprime`` of slopes, else their mean (as
    np.median computes it)."""
    a, b = vals[:, 0], vals[:, 1]
    return np.where(nprime % 2 == 1, a, (a + b) / 2)


def _select_cols(v64, ranks):
    """Exact order statistics of each column by 16-bit radix keys (short slope sets).

    Parameters and result as :func:`_select`: ``v64`` (W, B) float64 values per column
    (NaN = absent), ``ranks`` (B, K) 0-based ranks among the non-NaN entries; returns
    the (B, K) float64 order statistics.

    Notes
    -----
    Each column is quantised to 16-bit keys ``floor((v - min) * 65534 / (max - min))``
    computed in float32 (rounding to float32, subtraction of a constant, multiplication
    by a non-negative constant, clamping and truncation are all monotone non-decreasing,
    so the keys never invert the order of the values; NaN gets the key 65535 and sorts
    last).  The keys are sorted per pixel with numpy's 16-bit radix sort
    (``kind='stable'``); the exact value of rank r is the unique value carrying the key
    of rank r or, when that key is shared, selected exactly in float64 among the values
    sharing it.  Columns with a non-finite range or values beyond 1e38 use
    :func:`_select` (float32 sort and exact refinement).
    """
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
    todo, copies = _distinct_ranks(ranks)
    for j in todo:
        r = ranks[:, j]
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
    for j, jj in copies:
        res[:, j] = res[:, jj]
    bad = np.flatnonzero(~good)
    if bad.size:
        res[bad] = _select(np.ascontiguousarray(v64[:, bad]), ranks[bad])
    return res


# ---------------------------------------------------------------------------
# long slope sets: exact float64 bracketing pass (fallback of the folded pass)
# ---------------------------------------------------------------------------

def _sen_long(xs, ranks, nprime, rng_seed=_SEED):
    """Exact order statistics of long slope sets by one float64 bracketing pass.

    Parameters
    ----------
    xs : ndarray, shape (B, G, Y), float64
        Pixel-major values, G groups of Y steps (NaN = missing).
    ranks : ndarray, shape (B, K), int64
        0-based target ranks among the valid within-group slopes.
    nprime : ndarray, shape (B,), int64
        Number of valid within-group slopes.
    rng_seed : int
        Seed of the pair sample (the same pairs for every pixel).

    Returns
    -------
    ndarray, shape (B, K), float64
        The exact slopes of the target ranks.

    Notes
    -----
    A seeded sample of ``_SAMPLE_PAIRS`` pairs gives a bracket [L, U] around all
    targets (5 standard errors of the sample quantiles, plus 3 ranks); one pass over
    the lags computes every slope in float64, counts those below L and gathers those in
    [L, U]; the targets are selected among the gathered ones (:func:`_select`).
    Pixels whose targets fall outside the gathered slopes, or whose gathering
    overflows its buffer, are redone one at a time from all their slopes.  Used for
    the pixels the folded float32 pass (:func:`_sen_fold`) cannot take.
    """
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


# ---------------------------------------------------------------------------
# long slope sets: dense float32 pass over the folded pair layout
# ---------------------------------------------------------------------------

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
    """Exact order statistics of long slope sets by a dense float32 pass (folded layout).

    Parameters
    ----------
    xs, ranks, nprime
        As for :func:`_sen_long` (``nprime``: V below).
    zpairs : ndarray, shape (B,), int64, or None
        Tied within-group pairs (Z below), for the Mann-Kendall S.

    Returns
    -------
    values : ndarray, shape (B, K), float64
        The exact slopes of the target ranks where ``ok``.
    ok : ndarray, shape (B,), bool
        Pixels done; the others must be recomputed (:func:`_sen_long`).
    s : ndarray, shape (B,), int64
        Mann-Kendall S (within-group pairs) where ``s_ok``.
    s_ok : ndarray, shape (B,), bool
        Pixels whose S comes from the signs of the float32 slopes of step 1 (exact
        there): every value a float32, every non-zero |x| >= 2**-100, and at least
        ``_FOLD_MK_MIN`` folded cells per pixel.

    Notes
    -----
    With V valid pairs, Z tied pairs (slope 0) and P pairs of positive slope,
    S = P - (V - P - Z) = 2P + Z - V.  P is counted over the dense slopes, or, where 0
    lies in the pixel's thresholds [tlo, thi] of step 3 (no significant trend), it is
    the slopes above thi plus the kept ones > 0, which the classification counts
    anyway.  Per chunk of pixels (a cache-sized working set):

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
       pixel is not ok).
    """
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
    """Order statistics at given ranks of the within-group slopes of a block.

    Parameters
    ----------
    x3 : ndarray, shape (Y, G, B), float64
        Time-major values, G groups (seasons; 1 without) of Y steps per pixel.
    ranks : ndarray, shape (B, K), int64
        0-based target ranks among the valid slopes (:func:`_targets`).
    nprime : ndarray, shape (B,), int64
        Number of valid within-group slopes per pixel (>= 1).
    zpairs : ndarray, shape (B,), int64, or None
        Tied within-group pairs per pixel (for the S of the long path).

    Returns
    -------
    values : ndarray, shape (B, K), float64
        The exact slopes of the target ranks.
    s : ndarray, shape (B,), int64
        Mann-Kendall S (within-group pairs) of the pixels with ``s_ok``.
    s_ok : ndarray, shape (B,), bool
        Pixels whose S the long path yielded (always False on the short path).
    """
    Y, G, B = x3.shape
    T = G * Y * (Y - 1) // 2
    if T <= LONG_PAIRS:
        out = _select_cols(_pair_slopes(np.ascontiguousarray(x3), scratch=True), ranks)
        return out, np.zeros(B, np.int64), np.zeros(B, bool)
    xs = np.ascontiguousarray(x3.transpose(2, 1, 0))  # (B, G, Y) for the float64 path
    out, ok, s, s_ok = _sen_fold(xs, ranks, nprime, zpairs)
    bad = np.flatnonzero(~ok)
    if bad.size:  # float64 pass (and its exact per-pixel fallback)
        out[bad] = _sen_long(np.ascontiguousarray(xs[bad]), ranks[bad], nprime[bad])
    return out, s, s_ok


# ---------------------------------------------------------------------------
# per-block entry
# ---------------------------------------------------------------------------

def block_sen(xb, var_ci, zci, zpairs, period=None):
    """Sen's slope, its confidence bounds and (where the long path yields it) the
    Mann-Kendall S of every pixel of a time-major block.

    Parameters
    ----------
    xb : ndarray, shape (n, B), float64
        Time-major values (NaN = missing).
    var_ci : ndarray, shape (B,), float64
        Tie-corrected variance of S of the original series (summed over the seasons),
        which sets the width of the confidence interval.
    zci : float
        Standard normal quantile ``z_{1-ci_alpha/2}``.
    zpairs : ndarray, shape (B,), int64, or None
        Tied pairs per pixel (within the seasons if ``period``), see
        ``statistic._tie_term``; needed by the long path only (else None).
    period : int, optional
        Season length: slopes are taken within seasons (NaN-padded to whole cycles)
        and are per cycle.  None: one series, slopes per time step.

    Returns
    -------
    slope, lower, upper : ndarray, shape (B,), float64
        Median of the valid pair slopes and the Gilbert (1987) bounds, in input units
        per time step (per cycle with ``period``); NaN where no pair is valid.
    s : ndarray, shape (B,), int64
        Mann-Kendall S (summed over the seasons), valid where ``s_ok``.
    s_ok : ndarray, shape (B,), bool
        Pixels whose S the long path computed (exact); the caller counts the others.
    """
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

