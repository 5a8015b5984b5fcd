"""Per-pixel random-forest relative importance of the drivers of ER's interannual
variability (docs/methods.md section 15, "per-pixel RF alternative").  EXPLORATORY ONLY:
with ~30 samples per pixel a forest's importances are noisy; docs/methods.md asks that the
output be reported as exploratory, and collinear drivers (tmp/tmx/tmn/dtr/frs; vap/RH)
share importance between them, so reduce them first (one per group, or a VIF < 10 screen).

What is computed, per pixel, from the prepared series (``partialcorr.prepare_series``:
annual or monthly anomalies, detrended; the common valid steps of ER and all drivers):

- a random forest of ``n_trees`` CART regression trees (squared error), each grown on a
  bootstrap sample (``n`` draws with replacement from the ``n`` valid steps) to
  ``max_depth`` with ``min_samples_leaf`` and ``max_features`` as in scikit-learn's
  ``RandomForestRegressor`` (best split over the candidate features, threshold at the
  midpoint between neighbouring in-bag values of the node);
- permutation importance: for driver ``j``, the increase of the mean squared error when
  ``j``'s values are permuted.  ``importance='oob'`` (default; Breiman 2001): per tree, on
  that tree's out-of-bag steps, ``j`` permuted among them, averaged over the trees that
  have out-of-bag steps; ``importance='train'``: the whole forest on all steps, ``j``
  permuted over the steps, ``n_repeats`` permutations (what
  ``sklearn.inspection.permutation_importance`` does on the training data).
  ER is standardised per pixel first, so the raw importance is an MSE increase in units
  of ER's (detrended) variance; ``relative`` = importances clipped at 0 and divided by
  their sum (NaN when none is positive).
- dominant driver: ``argmax`` of the importance (code ``j + 1``), ``NONE`` (0) when no
  importance is positive, ``NODATA`` (255) where the pixel has fewer than ``min_valid``
  valid steps or a constant ER.

Why not scikit-learn per pixel: that route fits one forest per pixel and permutes through its
``predict``, a Python-level call chain per pixel.  Here every tree of every pixel of a
chunk is grown at once, level by level, with numpy: at each level and for each driver the
in-bag samples of every tree are sorted by (node, driver rank), and cumulative weighted
sums give the squared-error gain of every split position of every node; segment
reductions pick each node's best split.  A tree stores only the nodes that hold in-bag
samples (at most ``min(2**level, n)`` per level, ``_Forest``; a node that does not split sends
everything left), so its size grows with ``max_depth`` times the number of steps, not with
``2**max_depth``; the in-bag samples of each tree are compacted first, and pixels go in
chunks of at most 16 (arrays stay in cache) that fit the memory budget (``pixel_bytes``).
Defaults: 100 trees, ``max_depth`` 6 (with ~19 distinct in-bag years per tree, deeper levels
split few nodes; the agreement with the naive loop, which grows trees fully, was the same at
depths 5, 6 and 8), ``min_samples_leaf`` 1, all drivers tried at each split (scikit-learn's
regression default).

Speed and agreement with the naive per-pixel scikit-learn loop (rank correlation of the
importances, same dominant driver) are measured by ``make bench`` (tests/bench/bench_attribution.py).

Random numbers come from a counter-based hash (splitmix64) of ``(seed, pixel id, tree,
sample, stream)``, so a pixel's result depends only on SEED and its position in the grid,
not on block sizes, memory budget or chunking.  The same SEED gives the same output.
"""

import numpy as np

from ..errors import InputError
from .partialcorr import NODATA, NONE

IMPORTANCES = ("oob", "train")
DEFAULT_TREES = 100
DEFAULT_DEPTH = 6
# the most a block's forests get of the memory budget (jobs.attribution.rf_raster passes
# min(FOREST_MB_MAX, budget) to rf_importance; the rest holds the block's series and GDAL's cache)
FOREST_MB_MAX = 256
_BIG = np.iinfo(np.int64).max // 4
_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix(x):
    x = (x + np.uint64(0x9E3779B97F4A7C15)) & _M64
    x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _M64
    x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _M64
    return x ^ (x >> np.uint64(31))


def _uniform(seed, pixel_ids, tree, sample, stream):
    """Uniform [0, 1) numbers for the broadcast of ``pixel_ids``, ``tree`` and ``sample``
    indices, from a hash of (seed, pixel, tree, sample, stream)."""
    with np.errstate(over="ignore"):
        h = _splitmix(np.uint64(seed % 2 ** 63) * np.uint64(0x100000001B3) + np.uint64(stream))
        h = _splitmix(h ^ np.asarray(pixel_ids, dtype="uint64"))
        h = _splitmix(h ^ (np.asarray(tree, dtype="uint64") * np.uint64(0x9E3779B1)))
        h = _splitmix(h ^ np.asarray(sample, dtype="uint64"))
    return (h >> np.uint64(11)).astype("float64") * (1.0 / 2 ** 53)


def check_options(n_trees, max_depth, min_samples_leaf, max_features, importance, n_repeats):
    """Refuses forest options outside their ranges (InputError naming the option); used before a
    raster job starts so that a bad option fails before any block is computed."""
    if int(n_trees) < 1:
        raise InputError(f"number of trees must be at least 1 (got {n_trees})")
    if not 1 <= int(max_depth) <= 16:
        raise InputError(f"maximum tree depth must be 1..16 (got {max_depth})")
    if int(min_samples_leaf) < 1:
        raise InputError(f"minimum samples per leaf must be at least 1 (got {min_samples_leaf})")
    if not 0 < float(max_features) <= 1:
        raise InputError(f"max_features must be a fraction in (0, 1] (got {max_features})")
    if importance not in IMPORTANCES:
        raise InputError(f"unknown importance {importance!r}; use one of {', '.join(IMPORTANCES)}")
    if int(n_repeats) < 1:
        raise InputError(f"n_repeats must be at least 1 (got {n_repeats})")


class _Forest:
    """All trees of a chunk of pixels, stored compactly: the nodes of level ``l`` of a tree are the
    ones that hold in-bag samples, at most ``min(2**l, K)`` (``K`` the largest number of distinct
    in-bag samples of a tree), numbered in heap order.  ``feat``/``thr`` (B, nodes of all levels,
    root first) hold each node's split, ``left``/``right`` the number of its children at the next
    level (of ``leaf`` (B, leaves) after the last level).  A node that does not split sends
    everything left (threshold +inf).  An out-of-bag or permuted sample only ever reaches nodes
    that hold in-bag samples (both children of a split hold some), so nothing is lost against
    complete binary trees, whose ``2**max_depth`` nodes per tree made deep forests need tens of GB.
    Gathers use flat indices (``np.take``), much faster than ``take_along_axis`` here."""

    def __init__(self, xb, depth, k):
        self.xb = xb  # (B, n, m)
        self.depth = depth
        B, n, m = xb.shape
        self.xflat = xb.reshape(-1)
        self.sample_m = ((np.arange(B)[:, None] * n + np.arange(n)[None, :]) * m)
        self.sizes = [min(2 ** level, k) for level in range(depth + 1)]
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes[:-1])]).astype("int64")
        n_int = int(sum(self.sizes[:-1]))
        self.feat = np.zeros((B, n_int), dtype="int32")
        self.thr = np.full((B, n_int), np.inf)
        self.left = np.zeros((B, n_int), dtype="int32")
        self.right = np.zeros((B, n_int), dtype="int32")
        self.leaf = None  # (B, sizes[depth])

    def route(self, perm_feature=None, perm_col=None):
        """Leaf (its number in ``leaf``) of every sample of every tree; with ``perm_feature`` j,
        driver j's values are replaced by ``perm_col`` (B, n)."""
        B, n, m = self.xb.shape
        row_int = (np.arange(B) * self.feat.shape[1])[:, None]
        node = np.zeros((B, n), dtype="int64")
        for level in range(self.depth):
            at = node + (self.offsets[level] + row_int)
            xv = np.take(self.xflat, self.sample_m + np.take(self.feat, at))
            if perm_feature is not None:
                xv = np.where(np.take(self.feat, at) == perm_feature, perm_col, xv)
            node = np.where(xv > np.take(self.thr, at), np.take(self.right, at), np.take(self.left, at))
        return node

    def values(self, leaves):
        """The leaf values of ``leaves`` (B, n) (as returned by ``route``)."""
        return np.take(self.leaf, leaves + (np.arange(self.leaf.shape[0]) * self.leaf.shape[1])[:, None])

    def predict(self, **kw):
        return self.values(self.route(**kw))


def _grow(xb, yb, wb, rankb, depth, min_leaf, n_feat_try, seed, pix_ids, tree_ids):
    """Grow all trees level by level (see the module docstring).  ``wb`` bootstrap counts
    (B, n); ``rankb`` (B, n, m) ranks of the valid steps per driver (invalid: any).
    Returns ``(forest, leaf of every sample (B, n))``.

    The in-bag samples of each tree are first compacted to the left (``K`` columns, the
    largest number of distinct in-bag samples of a tree), so the level loop works on
    ``(B, K)`` arrays; out-of-bag samples are routed afterwards with ``_Forest.route``.
    The nodes of a level are the occupied ones only (``_Forest``), numbered in heap order,
    so the arrays of a level are at most ``(B, K)`` whatever the depth."""
    B, n, m = xb.shape
    inbag_full = wb > 0
    K = max(int(inbag_full.sum(axis=1).max()), 1)
    forest = _Forest(xb, depth, K)
    cols = np.argsort(~inbag_full, axis=1, kind="stable")[:, :K]
    flat = cols + (np.arange(B) * n)[:, None]
    inbag = np.take(inbag_full, flat)
    w = np.take(wb, flat)
    wy = w * np.take(yb, flat)
    xs_all = [np.take(xb[:, :, f].reshape(-1), flat) for f in range(m)]
    xc = np.stack(xs_all, axis=-1)  # (B, K, m)
    xc_flat = xc.reshape(-1)
    sample_m = (np.arange(B)[:, None] * K + np.arange(K)[None, :]) * m
    ranks = [np.take(rankb[:, :, f].reshape(-1), flat).astype("int32") for f in range(m)]
    w_flat, wy_flat = w.reshape(-1), wy.reshape(-1)
    xcols = [x.reshape(-1) for x in xs_all]
    row_k = (np.arange(B) * K)[:, None]
    node = np.zeros((B, K), dtype="int32")  # a sample's node: its number among the level's nodes
    heap = np.zeros((B, 1), dtype="int64")  # heap index (within the level) of each node
    big = np.int32((K + 2) * n)
    for level in range(depth):
        nodes = forest.sizes[level]
        row_nodes = (np.arange(B) * nodes)[:, None]
        idx = row_nodes + node
        W = np.bincount(idx[inbag], weights=w[inbag], minlength=B * nodes).reshape(B, nodes)
        S = np.bincount(idx[inbag], weights=wy[inbag], minlength=B * nodes).reshape(B, nodes)
        offW = (np.cumsum(W, axis=1) - W).reshape(-1)
        offS = (np.cumsum(S, axis=1) - S).reshape(-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            parent = np.where(W > 0, S * S / W, 0.0).reshape(-1)
        W, S = W.reshape(-1), S.reshape(-1)
        best = np.full(B * nodes, -np.inf)
        best_f = np.zeros(B * nodes, dtype="int32")
        best_t = np.full(B * nodes, np.inf)
        if n_feat_try < m:  # features drawn per node, as scikit-learn's max_features
            u = _uniform(seed, pix_ids[:, None, None], tree_ids[:, None, None],
                         (level * 65536 + heap)[:, :, None] * 64 + np.arange(m)[None, None, :], 7)
            allowed = (np.argsort(np.argsort(u, axis=2), axis=2) < n_feat_try).reshape(B * nodes, m)
            del u
        for f in range(m):
            key = np.where(inbag, node * np.int32(n) + ranks[f], big)
            fo = np.argsort(key, axis=1, kind="stable") + row_k
            ks = np.take(key, fo)
            del key
            ins = ks < big
            ns = np.where(ins, ks // n, 0) + row_nodes  # flat node index
            del ks
            xs = np.take(xcols[f], fo)
            cW = np.cumsum(np.take(w_flat, fo), axis=1)
            cS = np.cumsum(np.take(wy_flat, fo), axis=1)
            del fo
            WL = cW - np.take(offW, ns)
            SL = cS - np.take(offS, ns)
            WR = np.take(W, ns) - WL
            SR = np.take(S, ns) - SL
            del cW, cS
            xnext = np.empty_like(xs)
            xnext[:, :-1] = xs[:, 1:]
            xnext[:, -1] = np.inf
            ok = ins & (xs < xnext) & (WL >= min_leaf) & (WR >= min_leaf)
            if n_feat_try < m:
                ok &= np.take(allowed[:, f], ns)
            with np.errstate(invalid="ignore", divide="ignore"):
                gain = np.where(ok, SL * SL / WL + SR * SR / WR, -np.inf)  # + const per node
            del WL, SL, WR, SR, ok
            # best position per (tree, node): segments of equal node in the sorted rows
            start = np.ones((B, K), dtype=bool)
            start[:, 1:] = ns[:, 1:] != ns[:, :-1]
            starts = np.flatnonzero(start)
            g = gain.reshape(-1)
            segmax = np.maximum.reduceat(g, starts)
            snode = ns.reshape(-1)[starts]
            better = (segmax > best[snode]) & np.isfinite(segmax)
            if not better.any():
                continue
            seglen = np.diff(np.append(starts, g.size))
            hit = np.flatnonzero((g == np.repeat(np.where(better, segmax, np.nan), seglen)))
            seg = np.searchsorted(starts, hit, side="right") - 1
            firsthit = np.ones(hit.size, dtype=bool)
            firsthit[1:] = seg[1:] != seg[:-1]
            hit, seg = hit[firsthit], seg[firsthit]
            sn = snode[seg]
            best[sn] = segmax[seg]
            best_f[sn] = f
            best_t[sn] = 0.5 * (xs.reshape(-1)[hit] + xnext.reshape(-1)[hit])
        split = best - parent > 1e-12
        best_t = np.where(split, best_t, np.inf)
        best_f = np.where(split, best_f, 0)
        at = slice(forest.offsets[level], forest.offsets[level] + nodes)
        forest.feat[:, at] = best_f.reshape(B, nodes)
        forest.thr[:, at] = best_t.reshape(B, nodes)
        xv = np.take(xc_flat, sample_m + np.take(best_f, idx))
        child = 2 * node + (xv > np.take(best_t, idx))  # among the 2 * nodes children, in heap order
        # the occupied children of each tree, numbered in heap order, make the next level
        occ = np.zeros((B, 2 * nodes), dtype=bool)
        occ.reshape(-1)[(child + 2 * row_nodes)[inbag]] = True
        number = np.cumsum(occ, axis=1, dtype="int32") - 1
        left, right = number[:, 0::2], number[:, 1::2]
        forest.left[:, at] = np.where(occ[:, 0::2], left, 0)
        forest.right[:, at] = np.where(occ[:, 1::2], right, forest.left[:, at])
        nxt = forest.sizes[level + 1]
        heap_next = np.zeros((B, nxt), dtype="int64")
        rows, slots = np.nonzero(occ)
        heap_next[rows, number[rows, slots]] = 2 * heap[rows, slots // 2] + slots % 2
        heap = heap_next
        node = np.where(inbag, np.take(number, child + 2 * row_nodes), 0).astype("int32")
    nodes = forest.sizes[depth]
    idx = (np.arange(B) * nodes)[:, None] + node
    W = np.bincount(idx[inbag], weights=w[inbag], minlength=B * nodes).reshape(B, nodes)
    S = np.bincount(idx[inbag], weights=wy[inbag], minlength=B * nodes).reshape(B, nodes)
    with np.errstate(invalid="ignore", divide="ignore"):
        forest.leaf = np.where(W > 0, S / np.where(W > 0, W, 1.0), 0.0)
    return forest, forest.route()


def _chunk(y, x, pix_ids, n_trees, depth, min_leaf, n_feat_try, seed, importance, n_repeats, min_valid):
    """Importances for a chunk: y (P, t), x (P, t, m) -> (imp (P, m), ok (P,))."""
    P, t, m = x.shape
    valid = np.isfinite(y) & np.all(np.isfinite(x), axis=2)
    nv = valid.sum(axis=1)
    order = np.argsort(~valid, axis=1, kind="stable")  # valid steps first, in time order
    y = np.take_along_axis(y, order, axis=1)
    x = np.take_along_axis(x, order[..., None], axis=1)
    pos = np.arange(t)[None, :]
    inside = pos < nv[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = np.where(inside, y, 0.0).sum(axis=1) / nv
        sd = np.sqrt(np.where(inside, (y - mu[:, None]) ** 2, 0.0).sum(axis=1) / nv)
    ok = (nv >= max(int(min_valid), 2)) & (sd > 0)
    y = np.where(inside & ok[:, None], (y - mu[:, None]) / np.where(ok, sd, 1.0)[:, None], 0.0)
    x = np.where(inside[..., None], x, 0.0)
    rank = np.argsort(np.argsort(np.where(inside[..., None], x, np.inf), axis=1, kind="stable"), axis=1)
    T = n_trees
    B = P * T
    pb = np.repeat(np.arange(P), T)
    tree_ids = np.tile(np.arange(T), P)
    pidb = pix_ids[pb]
    nvb = nv[pb]
    # bootstrap: n_valid draws with replacement among the valid steps
    u = _uniform(seed, pidb[:, None], tree_ids[:, None], np.arange(t)[None, :], 1)
    draws = np.minimum((u * nvb[:, None]).astype("int64"), np.maximum(nvb[:, None] - 1, 0))
    draws = np.where(pos < nvb[:, None], draws, t)  # beyond n_valid: no draw
    rows_t = (np.arange(B) * t)[:, None]
    wb = np.bincount((draws + rows_t)[draws < t], minlength=B * t).reshape(B, t).astype("float64")  # counts
    del u, draws
    okb = ok[pb]
    wb[~okb] = 0.0
    xb = x[pb]
    yb = y[pb]
    forest, leaf_node = _grow(xb, yb, wb, rank[pb], depth, min_leaf, n_feat_try, seed, pidb, tree_ids)
    insideb = pos < nvb[:, None]
    imp = np.zeros((P, m))
    if importance == "oob":
        oob = (wb == 0) & insideb & okb[:, None]
        n_oob = oob.sum(axis=1)
        base_pred = forest.values(leaf_node)
        err0 = np.where(oob, (base_pred - yb) ** 2, 0.0).sum(axis=1)
        has = n_oob > 0
        ntree_px = np.bincount(pb, weights=has, minlength=P)
        for j in range(m):
            uu = _uniform(seed, pidb[:, None], tree_ids[:, None], np.arange(t)[None, :] + 4096 * j, 2)
            src = np.argsort(np.where(oob, uu, 2.0 + pos / t), axis=1)
            dst = np.argsort(np.where(oob, pos, t + pos), axis=1)
            col = xb[:, :, j]
            newcol = np.empty_like(col)
            np.put_along_axis(newcol, dst, np.take_along_axis(col, src, axis=1), axis=1)
            pj = forest.predict(perm_feature=j, perm_col=newcol)
            errj = np.where(oob, (pj - yb) ** 2, 0.0).sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                d = np.where(has, (errj - err0) / np.maximum(n_oob, 1), 0.0)
                imp[:, j] = np.bincount(pb, weights=d, minlength=P) / ntree_px
    else:
        def forest_mse(pred):
            fp = pred.reshape(P, T, t).mean(axis=1)
            return np.where(inside, (fp - y) ** 2, 0.0).sum(axis=1) / np.maximum(nv, 1)

        base = forest_mse(forest.values(leaf_node))
        for j in range(m):
            acc = np.zeros(P)
            for r in range(int(n_repeats)):
                uu = _uniform(seed, pix_ids[:, None], r, np.arange(t)[None, :] + 4096 * j, 3)
                src = np.argsort(np.where(inside, uu, 2.0 + pos / t), axis=1)
                newcol = np.take_along_axis(x[:, :, j], src, axis=1)
                acc += forest_mse(forest.predict(perm_feature=j, perm_col=newcol[pb])) - base
            imp[:, j] = acc / int(n_repeats)
    imp[~ok] = np.nan
    return imp, ok


def tree_nodes(max_depth, n_steps):
    """Nodes of one stored tree (``_Forest``): at most ``min(2**l, n_steps)`` at each level ``l`` of
    ``0..max_depth`` (the leaves at ``max_depth``), as a node only exists where in-bag samples are."""
    return sum(min(2 ** level, max(int(n_steps), 1)) for level in range(int(max_depth) + 1))


def pixel_bytes(n_trees, max_depth, n_steps, n_drivers, draw_features=False):
    """Working memory (bytes) of one pixel's forest at the peak of ``_chunk``, with a margin.

    Per tree of ``n_steps`` samples and ``n_drivers`` drivers: the bootstrap copies of the drivers
    and their ranks and the compacted in-bag columns (``n * m`` values, 36 bytes in all); about 24
    float64 arrays of ``(trees, n)`` alive at once in a level of ``_grow`` and in the permutation
    routes; the stored tree, 20 bytes per node (feature int32, threshold float64, two int32 child
    numbers) and 8 per leaf, ``tree_nodes`` of them; with ``draw_features`` (max_features < 1) the
    per-node feature draws (25 bytes per node and driver).  The sum is raised by 25 %.  The
    forests of a chunk are grown in this process, one thread (numpy), no joblib or thread copies.
    Measured peaks (tracemalloc, one pixel) were 68-83 % of this estimate over 100-1000 trees,
    depth 6-16, 30-360 steps, 3-8 drivers (tests/core/attribution/test_rf_budget.py measures the
    resident memory of a run against its budget)."""
    n, m = max(int(n_steps), 1), int(n_drivers)
    per_tree = n * m * 36 + n * 8 * 24 + tree_nodes(max_depth, n) * 20 + min(2 ** int(max_depth), n) * 8
    if draw_features:
        per_tree += min(2 ** int(max_depth), n) * m * 25
    return int(1.25 * int(n_trees) * per_tree)


def check_memory(n_trees, max_depth, n_steps, n_drivers, budget_mb, draw_features=False):
    """InputError when even one pixel's forest (``pixel_bytes``) does not fit ``budget_mb``."""
    need = pixel_bytes(n_trees, max_depth, n_steps, n_drivers, draw_features)
    if need > float(budget_mb) * 2 ** 20:
        raise InputError(f"one pixel's random forest ({int(n_trees)} trees of depth up to {int(max_depth)} on "
                         f"{int(n_steps)} time steps, {int(n_drivers)} drivers) needs about {need / 2 ** 20:.0f} MB "
                         f"of working memory, more than the memory budget of {float(budget_mb):.0f} MB for it: "
                         "lower the number of trees or the maximum depth, or raise the memory budget")
    return need


def rf_importance(er, drivers, n_trees=DEFAULT_TREES, max_depth=DEFAULT_DEPTH, min_samples_leaf=1,
                  max_features=1.0, min_valid=10, seed=42, importance="oob", n_repeats=5,
                  pixel_ids=None, chunk_pixels=None, budget_mb=FOREST_MB_MAX, progress=None):
    """Random-forest permutation importance per pixel of ``er`` ``(t, ...)`` for
    ``drivers`` ``(m, t, ...)`` (prepared series).  ``pixel_ids`` (ints of ER's pixel
    shape; default: 0..P-1) key the random numbers.  Returns a dict: ``importance`` (raw,
    (m, ...)), ``relative`` ((m, ...)), ``dominant`` uint8 and ``n_valid``.

    ``budget_mb``: working memory of the forests (``pixel_bytes`` per pixel); pixels go in chunks
    that fit it (at most 16, or ``chunk_pixels``), and InputError when one pixel alone does not
    (None: no limit).  ``progress(fraction)`` is called after each chunk."""
    check_options(n_trees, max_depth, min_samples_leaf, max_features, importance, n_repeats)
    er = np.asarray(er, dtype="float64")
    x = np.asarray(drivers, dtype="float64")
    if x.ndim < 2 or x.shape[1:] != er.shape:
        raise InputError(f"drivers of shape {x.shape} do not match ER {er.shape} (expected (m,) + ER shape)")
    m, t = x.shape[0], er.shape[0]
    if m < 2:
        raise InputError(f"attribution needs at least 2 drivers (got {m})")
    shape = er.shape[1:]
    y = er.reshape(t, -1).T
    xx = x.reshape(m, t, -1).transpose(2, 1, 0)
    P = y.shape[0]
    ids = np.arange(P) if pixel_ids is None else np.asarray(pixel_ids).reshape(-1).astype("int64")
    n_try = max(1, int(round(float(max_features) * m)))
    need = pixel_bytes(n_trees, max_depth, t, m, n_try < m)
    if budget_mb is not None:
        check_memory(n_trees, max_depth, t, m, budget_mb, n_try < m)
    if chunk_pixels is None:  # as many pixels as the budget holds, at most 16 (small chunks stay in cache)
        chunk_pixels = 16 if budget_mb is None else max(1, min(16, int(budget_mb * 2 ** 20 // need)))
    imp = np.full((P, m), np.nan)
    nv = (np.isfinite(y) & np.all(np.isfinite(xx), axis=2)).sum(axis=1)
    todo = np.flatnonzero(nv >= max(int(min_valid), 2))
    for k in range(0, todo.size, chunk_pixels):
        sel = todo[k:k + chunk_pixels]
        imp[sel], _ = _chunk(y[sel], xx[sel], ids[sel], int(n_trees), int(max_depth), int(min_samples_leaf),
                             n_try, int(seed), importance, int(n_repeats), min_valid)
        if progress is not None:
            progress((k + sel.size) / todo.size)
    computed = np.isfinite(imp).all(axis=1)
    pos = np.clip(np.where(computed[:, None], imp, 0.0), 0.0, None)
    tot = pos.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where((tot > 0)[:, None], pos / tot[:, None], np.nan)
    dom = np.where(tot > 0, np.argmax(np.where(computed[:, None], imp, -np.inf), axis=1) + 1, NONE)
    dom = np.where(computed, dom, NODATA).astype("uint8")
    rel[~computed] = np.nan
    return {"importance": imp.T.reshape((m,) + shape), "relative": rel.T.reshape((m,) + shape),
            "dominant": dom.reshape(shape), "n_valid": nv.reshape(shape)}


def sklearn_reference(er, drivers, n_trees=DEFAULT_TREES, max_depth=None, min_samples_leaf=1,
                      max_features=1.0, seed=42, n_repeats=5):
    """The naive route, for tests and the bench: per pixel (columns of ``er`` ``(t, P)`` and
    ``drivers`` ``(m, t, P)``), scikit-learn's RandomForestRegressor on the common valid steps
    (ER standardised) and ``sklearn.inspection.permutation_importance`` on the training data.
    Returns raw importances ``(m, P)``."""
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.inspection import permutation_importance

    er = np.asarray(er, dtype="float64")
    x = np.asarray(drivers, dtype="float64")
    m, t, P = x.shape
    out = np.full((m, P), np.nan)
    for p in range(P):
        X = x[:, :, p].T
        y = er[:, p]
        ok = np.isfinite(y) & np.all(np.isfinite(X), axis=1)
        if ok.sum() < 3 or np.std(y[ok]) == 0:
            continue
        yy = (y[ok] - y[ok].mean()) / y[ok].std()
        rf = RandomForestRegressor(n_estimators=n_trees, max_depth=max_depth, min_samples_leaf=min_samples_leaf,
                                   max_features=max_features, random_state=seed, n_jobs=1)
        rf.fit(X[ok], yy)
        res = permutation_importance(rf, X[ok], yy, n_repeats=n_repeats, random_state=seed,
                                     scoring="neg_mean_squared_error")
        out[:, p] = res.importances_mean
    return out
