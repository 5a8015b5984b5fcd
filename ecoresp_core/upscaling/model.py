"""The upscaling model and its file format: a safe, verified ``.npz``, evaluated by ecoresp itself.

Why this format is safe
-----------------------
A pickle (or joblib) file is a program: loading it runs whatever code it carries. The model
file written here holds only plain numeric numpy arrays and one UTF-8 JSON text (stored as a
``uint8`` array) in a ``.npz`` (zip) archive. It is read with ``numpy.load(allow_pickle=False)``,
so numpy refuses any object array or pickled member instead of unpickling it, and the archive
members are checked against a fixed list (names, dtypes, shapes) before use. A SHA-256 over the
metadata and every array (name, dtype, shape, bytes) is stored and re-computed on load, so a file
changed after it was written (an edited threshold, a swapped array) is rejected. The structure is
then checked (every child index inside its own tree and after its parent, features in range,
finite thresholds and leaf values, consistent layer shapes), because the evaluator below indexes
with these numbers. Nothing in the file is ever executed or imported.

How a model is evaluated
------------------------
The model is evaluated by plain numpy code in this module, never through scikit-learn (whose
private Cython ``Tree`` layout changes between versions: a file must predict the same on every
supported QGIS/Debian, numpy 1 and 2, scikit-learn 1.2 .. 1.9). scikit-learn is only needed to
fit and to write a model (``from_estimator`` reads the fitted trees' public ``tree_`` arrays).

- Trees (``rf``, ``gbr``): the rows of a chunk walk a tree together, level by level, with numpy
  gathers (node tables, then the chunk's float32 values stored feature after feature); a leaf
  points to itself, and rows that reached a leaf are dropped from the walk at a few levels
  chosen from the training samples' leaf depths (``_Forest``). The test
  is scikit-learn's: ``X[i, feature] <= threshold`` with X cast to float32 and the float64
  threshold (C promotes the float32 value to double). It is done exactly in float32 against the
  largest float32 not above the threshold (for a float32 x, ``x <= t`` exactly when that holds).
  A NaN value goes to the right child (as in scikit-learn < 1.3; the callers predict only rows
  with every driver valid). Forest = sum of the float64 leaf values in tree order, divided by
  the number of trees; boosting = init constant, then ``+= learning_rate * leaf value`` stage by
  stage: the same IEEE operations in the same order as scikit-learn's ``predict`` (``n_jobs=1``),
  so predictions are bit-identical to it, on any platform and numpy version.
- ``mlp``: (X - mean) / scale, then per layer ``a = sum_j x[:, j] * W[j]`` accumulated in input
  order with elementwise multiply and add (no BLAS matrix product, whose summation order depends
  on the BLAS build and CPU), plus the intercept, then the hidden activation; identity output.
  relu and identity networks are bit-identical across platforms and numpy versions (but not to
  scikit-learn's BLAS-based ``predict``, from which they differ by rounding only); tanh and
  logistic go through the platform's math library (numpy's ``tanh``, scipy's ``expit``) and are
  not guaranteed bit-identical across platforms.

Model kinds: ``rf`` (random forest: mean of trees), ``gbr`` (gradient boosting, squared error:
constant + learning_rate * sum of trees), ``mlp`` (StandardScaler + MLPRegressor, relu/tanh/
logistic/identity hidden layers, identity output).

Format versions: ``format_version`` (now 1) is raised whenever a file could not be read
correctly by an older ecoresp; a file of a newer format is refused with a message asking to
update ecoresp, older formats stay readable.

Metadata (JSON): format and version, kind, raw feature names in order, units, categorical
features with their categories (one-hot encoded in that order) and optional integer codes for
rasters, training ranges (min/max of each numeric feature), target and unit, seed, CV metrics,
library versions (``versions``: ecoresp, numpy, scikit-learn, ... of the writer).
"""

import hashlib
import json
import os
import zipfile

import numpy as np

from ..errors import InputError
from ..io.atomic import atomic_path

FORMAT = "ecoresp-upscaler"
FORMAT_VERSION = 1
KINDS = ("rf", "gbr", "mlp")
TREE_ARRAYS = {  # name -> dtype of the concatenated node arrays of every tree
    "left_child": "<i8", "right_child": "<i8", "feature": "<i8", "threshold": "<f8",
    "impurity": "<f8", "n_node_samples": "<i8", "weighted_n_node_samples": "<f8",
    "value": "<f8", "node_offsets": "<i8", "max_depth": "<i8",
}
MAX_LAYERS = 16
CHUNK_ROWS = 65536  # rows walked together through the trees (one chunk per thread at a time)
MLP_CHUNK_ROWS = 4096

# MODIS MCD12Q1 LC_Type1 (IGBP) codes, the usual land-cover raster encoding
IGBP_CODES = {1: "ENF", 2: "EBF", 3: "DNF", 4: "DBF", 5: "MF", 6: "CSH", 7: "OSH", 8: "WSA",
              9: "SAV", 10: "GRA", 11: "WET", 12: "CRO", 13: "URB", 14: "CVM", 15: "SNO", 16: "BSV"}


def _encoded_names(features, categorical):
    out = []
    for f in features:
        if f in categorical:
            out.extend(f"{f}={c}" for c in categorical[f])
        else:
            out.append(f)
    return out


class UpscalerModel:
    """A fitted upscaling model: ``predict_encoded(X)`` on the encoded matrix, plus metadata.

    ``meta`` keys used here: kind, features, categorical ({name: [categories]}), units,
    ranges ({name: [min, max]}), target, target_unit, encoded_features."""

    def __init__(self, kind, arrays, meta):
        if kind not in KINDS:
            raise InputError(f"unknown model kind {kind!r}")
        self.kind = kind
        self.arrays = arrays
        self.meta = meta
        self.features = list(meta["features"])
        self.categorical = {k: list(v) for k, v in meta.get("categorical", {}).items()}
        self.encoded_features = _encoded_names(self.features, self.categorical)
        self.meta["encoded_features"] = self.encoded_features
        self._tables = None  # evaluation tables of the trees (_Forest), built on first use
        self.source = None  # the model file, when loaded from one
        self.n_threads = 1  # threads over row chunks (results do not change)

    # -- building from scikit-learn ------------------------------------------------------
    @classmethod
    def from_estimator(cls, est, meta):
        from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
        from sklearn.pipeline import Pipeline
        meta = dict(meta)
        if isinstance(est, RandomForestRegressor):
            arrays = _trees_to_arrays([e.tree_ for e in est.estimators_])
            kind = "rf"
        elif isinstance(est, GradientBoostingRegressor):
            if est.loss != "squared_error" or est.estimators_.shape[1] != 1:
                raise InputError("only squared-error gradient boosting can be stored")
            arrays = _trees_to_arrays([e.tree_ for e in est.estimators_[:, 0]])
            arrays["init"] = np.asarray([float(np.ravel(est.init_.constant_)[0]),
                                         float(est.learning_rate)], dtype="<f8")
            kind = "gbr"
        elif isinstance(est, Pipeline):
            scaler, mlp = est.steps[0][1], est.steps[-1][1]
            arrays = {"scaler_mean": np.asarray(scaler.mean_, "<f8"),
                      "scaler_scale": np.asarray(scaler.scale_, "<f8")}
            for i, (w, b) in enumerate(zip(mlp.coefs_, mlp.intercepts_)):
                arrays[f"coef_{i}"] = np.ascontiguousarray(w, "<f8")
                arrays[f"intercept_{i}"] = np.ascontiguousarray(b, "<f8")
            meta["activation"] = mlp.activation
            meta["n_layers"] = len(mlp.coefs_)
            kind = "mlp"
        else:
            raise InputError(f"cannot store a {type(est).__name__}")
        meta["kind"] = kind
        return cls(kind, arrays, meta)

    # -- encoding ---------------------------------------------------------------------
    def category_codes(self, name):
        """{integer code: category} used when a categorical driver comes as a raster."""
        codes = self.meta.get("category_codes", {}).get(name)
        if codes is None:
            return {}
        return {int(k): v for k, v in codes.items()}

    def encode_columns(self, columns, n):
        """(X float64 (n, encoded), valid bool (n,), outside bool (n,)) from a mapping name ->
        1-D values (numbers; categories as strings or as integer codes). ``valid``: every numeric
        driver finite and every category known to the model; ``outside``: a numeric driver outside
        the training range."""
        X = np.zeros((n, len(self.encoded_features)), dtype=np.float64)
        valid = np.ones(n, dtype=bool)
        outside = np.zeros(n, dtype=bool)
        ranges = self.meta.get("ranges", {})
        j = 0
        for f in self.features:
            v = columns[f]
            if f in self.categorical:
                cats = self.categorical[f]
                v = np.asarray(v)
                if v.dtype.kind in "fiu":
                    codes = self.category_codes(f)
                    lookup = {c: i for i, c in enumerate(cats)}
                    idx = np.full(n, -1, dtype=np.int64)
                    fin = np.isfinite(v.astype("float64"))
                    for code, name in codes.items():
                        if name in lookup:
                            idx[fin & (v == code)] = lookup[name]
                else:
                    idx = _category_index(v, cats)
                ok = idx >= 0
                valid &= ok
                rows = np.nonzero(ok)[0]
                X[rows, j + idx[ok]] = 1.0
                j += len(cats)
            else:
                v = np.asarray(v, dtype=np.float64)
                X[:, j] = v
                fin = np.isfinite(v)
                valid &= fin
                if f in ranges:
                    lo, hi = ranges[f]
                    outside |= fin & ((v < lo) | (v > hi))
                j += 1
        return X, valid, outside & valid

    # -- prediction -------------------------------------------------------------------
    def _forest(self):
        if self._tables is None:
            self._tables = _Forest(self.arrays)
        return self._tables

    def _trees_chunk(self, forest, X):
        """Same arithmetic as sklearn (n_jobs=1): forest = sum of trees in order / n_trees;
        boosting = init constant + learning_rate * tree, stage by stage."""
        n = X.shape[0]
        # X cast to float32 as sklearn does (round to nearest), column after column: feature f of
        # row r at f * n + r
        with np.errstate(over="ignore"):  # beyond float32: +-inf, as in sklearn's cast
            cols = np.array(X.T, dtype=np.float32, order="C").reshape(-1)
        rows = np.arange(n, dtype=np.intp)
        at = forest.feature * n  # where each node's feature column starts in ``cols``
        out = np.empty(n, dtype=np.float64)
        if self.kind == "rf":
            y = np.zeros(n, dtype=np.float64)
            for tree in forest.trees:
                forest.walk(tree, at, cols, rows, out)
                y += out
            y /= len(forest.trees)
            return y
        const, lr = self.arrays["init"]
        y = np.full(n, const, dtype=np.float64)
        for tree in forest.trees:
            forest.walk(tree, at, cols, rows, out)
            y += lr * out
        return y

    def _mlp_chunk(self, X):
        """Forward pass without BLAS: every product and sum in a fixed order (module docstring)."""
        a = np.array(X, dtype=np.float64, copy=True)
        a -= self.arrays["scaler_mean"]
        a /= self.arrays["scaler_scale"]
        nl = int(self.meta["n_layers"])
        act = self.meta["activation"]
        for i in range(nl):
            w = self.arrays[f"coef_{i}"]
            z = np.multiply(a[:, 0:1], w[0])
            tmp = np.empty_like(z)
            for j in range(1, w.shape[0]):
                np.multiply(a[:, j:j + 1], w[j], out=tmp)
                z += tmp
            z += self.arrays[f"intercept_{i}"]
            if i != nl - 1:
                if act == "relu":
                    np.maximum(z, 0, out=z)
                elif act == "tanh":
                    np.tanh(z, out=z)
                elif act == "logistic":
                    from scipy.special import expit
                    expit(z, out=z)
            a = z
        return a[:, 0]

    def predict_encoded(self, X):
        """Predictions (float64) for the encoded matrix X (n, len(encoded_features))."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != len(self.encoded_features):
            raise InputError(f"model expects {len(self.encoded_features)} encoded features, got {X.shape}")
        n = X.shape[0]
        if self.kind in ("rf", "gbr"):
            forest = self._forest()
            size = CHUNK_ROWS

            def part(a, b):
                return self._trees_chunk(forest, X[a:b])
        else:
            size = MLP_CHUNK_ROWS

            def part(a, b):
                return self._mlp_chunk(X[a:b])
        y = np.empty(n, dtype=np.float64)
        threads = max(1, int(self.n_threads or 1))
        k = -(-n // size)  # chunks, a multiple of the threads so that they share the rows evenly
        if threads > 1 and k > 1:
            k = -(-k // threads) * threads
        bounds = [n * i // k for i in range(k + 1)] if n else [0]
        chunks = list(zip(bounds[:-1], bounds[1:]))
        threads = min(threads, len(chunks))
        if threads <= 1:
            for a, b in chunks:
                y[a:b] = part(a, b)
        else:
            # rows split across threads (numpy's gathers and ufuncs release the GIL); every row is
            # computed alone and sums its trees in tree order, so results do not depend on threads
            from concurrent.futures import ThreadPoolExecutor

            def run(ab):
                y[ab[0]:ab[1]] = part(*ab)
            with ThreadPoolExecutor(threads) as ex:
                list(ex.map(run, chunks))
        return y


def _category_index(values, cats):
    lookup = {c: i for i, c in enumerate(cats)}
    return np.fromiter((lookup.get(str(x).strip(), -1) if x is not None else -1 for x in values),
                       dtype=np.int64, count=len(values))


def _float32_at_most(t):
    """The largest float32 not above each float64 ``t``: for a float32 x, ``x <= t`` (x promoted
    to double, as scikit-learn compares) exactly when ``x <= _float32_at_most(t)``."""
    t = np.asarray(t, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        t32 = t.astype(np.float32)
    above = t32.astype(np.float64) > t
    t32[above] = np.nextafter(t32[above], np.float32(-np.inf))
    return t32


def _node_depths(left, right, off):
    """Depth of every node (its longest path from the root; 0 for unreachable nodes)."""
    n = left.size
    start = np.repeat(off[:-1], np.diff(off))
    inner = left != -1
    depth = np.zeros(n, dtype=np.intp)
    frontier = np.asarray(off[:-1], dtype=np.intp)
    d = 0
    while frontier.size:  # children come after their parent: at most one level per node
        depth[frontier] = d
        p = frontier[inner[frontier]]
        frontier = np.unique(np.concatenate([left[p] + start[p], right[p] + start[p]]))
        d += 1
    return depth


class _Forest:
    """The trees of a model as flat tables over all nodes, for ``walk``.

    A row's state is s = 2 * node (node numbered within its tree); slot s + c of ``next`` is the
    next state, c = 1 when ``x[feature] <= threshold`` (left child) and 0 otherwise (right
    child); a leaf leads to itself. ``feature``, ``threshold`` (float32, see
    ``_float32_at_most``), ``value`` and ``leaf`` are repeated twice so that s indexes them too.
    ``trees``: per tree (first slot, end slot, levels to walk, levels at which to drop the rows
    that reached a leaf)."""

    def __init__(self, arrays):
        off = np.asarray(arrays["node_offsets"], dtype=np.intp)
        left = np.asarray(arrays["left_child"], dtype=np.intp)
        right = np.asarray(arrays["right_child"], dtype=np.intp)
        leaf = left == -1
        n = left.size
        local = np.arange(n, dtype=np.intp) - np.repeat(off[:-1], np.diff(off))
        self.next = np.empty(2 * n, dtype=np.intp)
        self.next[0::2] = 2 * np.where(leaf, local, right)
        self.next[1::2] = 2 * np.where(leaf, local, left)
        self.feature = np.repeat(np.where(leaf, 0, arrays["feature"]).astype(np.intp), 2)
        self.threshold = np.repeat(_float32_at_most(np.where(leaf, np.inf, arrays["threshold"])), 2)
        self.value = np.repeat(np.asarray(arrays["value"], dtype=np.float64), 2)
        self.leaf = np.repeat(leaf, 2)
        depth = _node_depths(left, right, off)
        samples = np.maximum(np.asarray(arrays["n_node_samples"], dtype=np.float64), 0.0)
        self.trees = []
        for i in range(off.size - 1):
            a, b = int(off[i]), int(off[i + 1])
            levels = int(depth[a:b].max())
            ends = np.bincount(depth[a:b][leaf[a:b]], weights=samples[a:b][leaf[a:b]], minlength=levels + 1)
            self.trees.append((2 * a, 2 * b, levels, _drop_levels(ends)))

    def walk(self, tree, at, cols, rows, out):
        """Leaf values (float64) of one tree for every row into ``out``: the rows walk the tree
        level by level together. ``cols``: the chunk's float32 values column after column (n rows);
        ``at``: ``feature * n``; ``rows``: arange(n)."""
        a, b, levels, drop = tree
        nxt, at, thr, val, leaf = self.next[a:b], at[a:b], self.threshold[a:b], self.value[a:b], self.leaf[a:b]
        if not levels:  # a single leaf
            out[:] = val[0]
            return
        # level 0: every row at the root, one feature column, no gathers
        f = int(at[0])
        s = nxt.take((cols[f:f + rows.size] <= thr[0]).astype(np.intp))
        every = True  # no row dropped yet
        for level in range(1, levels):
            if level in drop:
                done = leaf.take(s)
                fin = np.flatnonzero(done)
                if fin.size:
                    keep = np.flatnonzero(~done)
                    out[rows.take(fin)] = val.take(s.take(fin))
                    if not keep.size:
                        return
                    s = s.take(keep)
                    rows = rows.take(keep)
                    every = False
            i = at.take(s)
            i += rows
            s += cols.take(i) <= thr.take(s)
            s = nxt.take(s)
        if every:
            out[:] = val.take(s)
        else:
            out[rows] = val.take(s)


def _drop_levels(at):
    """Levels at which ``_Forest.walk`` drops the rows that reached a leaf, chosen to minimise
    its modelled cost, with the training samples' leaf depths (``at[d]``: samples ending at depth
    d) standing for the rows; only the speed depends on it. Costs per row, in units of one gather:
    a level 6, looking for finished rows 4, keeping the others 2; a level's Python overhead 0.25."""
    levels = at.size - 1
    total = at.sum()
    if levels < 2 or not total > 0:
        return frozenset()
    active = 1.0 - np.cumsum(at) / total  # share of the rows still walking after d levels
    step = active * 6.0 + 0.25
    best = np.zeros(levels)  # cheapest cost of levels 0..q-1 with a drop at q
    came = np.zeros(levels, dtype=np.intp)
    for q in range(1, levels):
        p = np.arange(q)
        cost = best[:q] + (q - p) * step[:q] + active[:q] * 4.0 + active[q] * 2.0
        came[q] = int(np.argmin(cost))
        best[q] = cost[came[q]]
    end = best + (levels - np.arange(levels)) * step[:levels]
    q = int(np.argmin(end))
    drop = []
    while q > 0:
        drop.append(q)
        q = int(came[q])
    return frozenset(drop)


def _trees_to_arrays(trees):
    """Concatenated node arrays of fitted scikit-learn trees, from their public ``tree_``
    attributes (children, feature, threshold, value, ...)."""
    parts = {k: [] for k in ("left_child", "right_child", "feature", "threshold", "impurity",
                             "n_node_samples", "weighted_n_node_samples")}
    public = {"left_child": "children_left", "right_child": "children_right"}
    values, offsets, depths = [], [0], []
    for t in trees:
        for k in parts:
            parts[k].append(np.asarray(getattr(t, public.get(k, k))))
        v = np.asarray(t.value)
        if v.ndim != 3 or v.shape[1:] != (1, 1):
            raise InputError("only single-output regression trees can be stored")
        values.append(v[:, 0, 0])
        offsets.append(offsets[-1] + int(t.node_count))
        depths.append(int(t.max_depth))
    out = {k: np.concatenate(v).astype(TREE_ARRAYS[k]) for k, v in parts.items()}
    out["value"] = np.concatenate(values).astype("<f8")
    out["node_offsets"] = np.asarray(offsets, "<i8")
    out["max_depth"] = np.asarray(depths, "<i8")
    return out


# -- file I/O ---------------------------------------------------------------------------
def _digest(arrays, meta_bytes):
    h = hashlib.sha256()
    h.update(meta_bytes)
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def save_model(model, path):
    """Write ``model`` to ``path`` (.npz) under a temporary name, then rename. Returns path."""
    from ..common.versions import versions
    meta = {k: v for k, v in model.meta.items() if k != "sha256"}  # the checksum is stored beside
    meta.update(format=FORMAT, format_version=FORMAT_VERSION, kind=model.kind)
    meta.setdefault("versions", versions())
    meta_bytes = json.dumps(meta, sort_keys=True, default=_json_default).encode("utf-8")
    arrays = {k: np.ascontiguousarray(v) for k, v in model.arrays.items()}
    digest = _digest(arrays, meta_bytes)
    path = str(path)
    with atomic_path(path, ".npz") as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, metadata_json=np.frombuffer(meta_bytes, dtype=np.uint8),
                            sha256=np.frombuffer(digest.encode("ascii"), dtype=np.uint8), **arrays)
    return path


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def _expected_arrays(meta):
    kind = meta.get("kind")
    n_enc = len(_encoded_names(meta["features"], meta.get("categorical", {})))
    if kind in ("rf", "gbr"):
        names = dict(TREE_ARRAYS)
        if kind == "gbr":
            names["init"] = "<f8"
        return names, n_enc
    if kind == "mlp":
        nl = meta.get("n_layers")
        if not isinstance(nl, int) or not 1 <= nl <= MAX_LAYERS:
            raise ValueError(f"bad number of layers {nl!r}")
        names = {"scaler_mean": "<f8", "scaler_scale": "<f8"}
        for i in range(nl):
            names[f"coef_{i}"] = "<f8"
            names[f"intercept_{i}"] = "<f8"
        return names, n_enc
    raise ValueError(f"unknown model kind {kind!r}")


def _check_structure(arrays, meta, n_enc):
    kind = meta["kind"]
    if kind in ("rf", "gbr"):
        off = arrays["node_offsets"]
        total = int(off[-1]) if off.size else -1
        if off.ndim != 1 or off.size < 2 or off[0] != 0 or np.any(np.diff(off) < 1):
            raise ValueError("node_offsets are not increasing from 0")
        for k in ("left_child", "right_child", "feature", "threshold", "impurity", "n_node_samples",
                  "weighted_n_node_samples", "value"):
            if arrays[k].shape != (total,):
                raise ValueError(f"{k} has shape {arrays[k].shape}, expected ({total},)")
        if arrays["max_depth"].shape != (off.size - 1,):
            raise ValueError("max_depth does not match the number of trees")
        # every child index inside its own tree and after its parent (so every walk ends in a
        # leaf), features within range, finite thresholds and leaf values: the evaluator
        # (``_Forest.walk``) indexes with these numbers
        for i in range(off.size - 1):
            a, b = int(off[i]), int(off[i + 1])
            left, right, feat = arrays["left_child"][a:b], arrays["right_child"][a:b], arrays["feature"][a:b]
            leaf = left == -1
            if np.any(leaf != (right == -1)) or np.any(feat[leaf] != -2):
                raise ValueError(f"tree {i}: inconsistent leaves")
            inner = ~leaf
            n = b - a
            if np.any((left[inner] <= np.nonzero(inner)[0]) | (left[inner] >= n)
                      | (right[inner] <= np.nonzero(inner)[0]) | (right[inner] >= n)):
                raise ValueError(f"tree {i}: child index out of range")
            if np.any((feat[inner] < 0) | (feat[inner] >= n_enc)):
                raise ValueError(f"tree {i}: feature index out of range")
            if not np.all(np.isfinite(arrays["threshold"][a:b][inner])):
                raise ValueError(f"tree {i}: non-finite threshold")
            if not np.all(np.isfinite(arrays["value"][a:b][leaf])):
                raise ValueError(f"tree {i}: non-finite leaf value")
        if kind == "gbr" and arrays["init"].shape != (2,):
            raise ValueError("init must hold (constant, learning rate)")
    else:
        if arrays["scaler_mean"].shape != (n_enc,) or arrays["scaler_scale"].shape != (n_enc,):
            raise ValueError("scaler arrays do not match the number of features")
        width = n_enc
        nl = meta["n_layers"]
        for i in range(nl):
            w, b = arrays[f"coef_{i}"], arrays[f"intercept_{i}"]
            if w.ndim != 2 or w.shape[0] != width or b.shape != (w.shape[1],):
                raise ValueError(f"layer {i} has inconsistent shapes {w.shape} / {b.shape}")
            width = w.shape[1]
        if width != 1:
            raise ValueError("the network must have one output")
        if meta.get("activation") not in ("relu", "tanh", "logistic", "identity"):
            raise ValueError(f"unknown activation {meta.get('activation')!r}")
    for k, a in arrays.items():
        if a.dtype.kind == "f" and k != "value" and not np.all(np.isfinite(a)) and k not in ("threshold", "impurity"):
            raise ValueError(f"{k} holds non-finite values")


def _read(path):
    """(arrays, meta) of a verified model file; raises InputError otherwise."""
    path = str(path)
    if not os.path.isfile(path):
        raise InputError(f"model file {path}: not found")
    if not zipfile.is_zipfile(path):
        raise InputError(f"model file {path}: not an ecoresp model (.npz written by ecoresp:fitupscaler); "
                         "pickle/joblib files are refused because loading them would run code")
    try:
        with np.load(path, allow_pickle=False) as npz:
            members = list(npz.files)
            if "metadata_json" not in members or "sha256" not in members:
                raise ValueError("no metadata or checksum")
            meta_bytes = npz["metadata_json"]
            if meta_bytes.dtype != np.uint8 or meta_bytes.ndim != 1:
                raise ValueError("metadata is not a byte array")
            meta_bytes = meta_bytes.tobytes()
            meta = json.loads(meta_bytes.decode("utf-8"))
            if not isinstance(meta, dict) or meta.get("format") != FORMAT:
                raise ValueError("not an ecoresp upscaler model")
            version = meta.get("format_version")
            if not isinstance(version, int) or isinstance(version, bool) or version < 1:
                raise ValueError(f"format version {version!r} is not valid")
            if version > FORMAT_VERSION:
                writer = meta.get("versions")
                writer = writer.get("ecoresp") if isinstance(writer, dict) else None
                raise InputError(f"model file {path} was written by a newer ecoresp (model format {version}"
                                 + (f", ecoresp {writer}" if writer else "")
                                 + f"); this plugin reads formats up to {FORMAT_VERSION}: update ecoresp")
            if not isinstance(meta.get("features"), list) or not all(isinstance(f, str) for f in meta["features"]):
                raise ValueError("feature list missing")
            cat = meta.get("categorical", {})
            if not isinstance(cat, dict) or not all(isinstance(v, list) for v in cat.values()):
                raise ValueError("bad categorical entry")
            expected, n_enc = _expected_arrays(meta)
            extra = sorted(set(members) - set(expected) - {"metadata_json", "sha256"})
            missing = sorted(set(expected) - set(members))
            if extra or missing:
                raise ValueError(f"unexpected members {extra}" if extra else f"missing arrays {missing}")
            arrays = {}
            for name, dt in expected.items():
                a = npz[name]  # allow_pickle=False: an object array raises here, never unpickles
                if a.dtype.str != dt:
                    raise ValueError(f"array {name} has dtype {a.dtype.str}, expected {dt}")
                arrays[name] = a
            stored = npz["sha256"].tobytes().decode("ascii", "replace")
    except InputError:
        raise
    except (ValueError, KeyError, OSError, zipfile.BadZipFile, UnicodeDecodeError, TypeError) as exc:
        raise InputError(f"model file {path}: rejected ({exc})") from None
    if _digest(arrays, meta_bytes) != stored:
        raise InputError(f"model file {path}: rejected (checksum mismatch: the file was changed "
                         "after ecoresp wrote it)")
    try:
        _check_structure(arrays, meta, n_enc)
    except ValueError as exc:
        raise InputError(f"model file {path}: rejected ({exc})") from None
    meta["sha256"] = stored
    return arrays, meta


def validate_model_file(path):
    """Metadata of a valid model file; InputError with the reason otherwise."""
    return _read(path)[1]


def load_model(path):
    """The verified UpscalerModel of ``path`` (see the module docstring for why this is safe)."""
    arrays, meta = _read(path)
    model = UpscalerModel(meta["kind"], arrays, meta)
    model.source = str(path)
    return model
