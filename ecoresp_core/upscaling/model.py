"""The upscaling model and its file format: a safe, verified ``.npz``, evaluated by ecoresp itself.

Why this format is safe
-----------------------
A pickle (or joblib) file is a program: loading it runs whatever code it carries. The model
file written here holds only plain numeric numpy arrays and one UTF-8 JSON text (stored as a
``uint8`` array) in a ``.npz`` (zip) archive, and nothing in it is ever executed or imported. It
is read in this order, so that a hostile file is refused before it can cost memory or reach code
that trusts it (``_read``):

1. every member of the zip: a ``.npy`` file of an expected name, once; its .npy header (read with
   a bounded size, ``numpy.lib.format.read_array_header_1_0/2_0``) gives the dtype (checked
   against a fixed list: an object or pickled array is never read) and the shape; the declared
   uncompressed size (``ZipInfo.file_size``) must be exactly the header plus the data it
   describes, and a member above 16 MB compressed more than ``MAX_RATIO``-fold (a zip bomb) is
   refused;
2. the metadata (at most ``MAX_METADATA_BYTES``) and its schema: the type of every field the
   plugin uses (features, categories and their codes, units, training ranges, target, kind,
   layers), with a message naming the field;
3. the shapes of every array from the headers alone, against the metadata and sane bounds
   (trees: at most 2n - 1 nodes per tree grown on n = ``n_train_rows`` rows, ``MAX_NODES`` in any
   case; networks: layer widths chained from the features, ``MAX_WEIGHTS`` per layer), so that no
   array larger than the model needs is ever allocated;
4. the arrays (``numpy.lib.format.read_array(allow_pickle=False)``), then the SHA-256 over the
   metadata and every array (name, dtype, shape, bytes), stored in the file and re-computed;
5. the structure (every child index inside its own tree and after its parent, features in range,
   finite thresholds and leaf values, consistent layer shapes), because the evaluator below
   indexes with these numbers.

The checksum detects a file damaged or changed by accident (a truncated copy, an edited number);
it is not a signature: whoever edits a model on purpose can store a new checksum, and such a file
is read like any other (it can predict anything, e.g. 42 everywhere). Checks 1-3 and 5 make sure
that even such a file cannot run code, exhaust memory or crash the evaluator; where a model file
comes from is for the user to trust.

Driver (feature) names cannot hold ``" ; = ,`` or control characters (``check_driver_name``): they
separate names in driver lists (``name=source;...``), units and encoded categories
(``feature=category``); such names are refused when a model is fitted (and loaded), not escaped.

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
import io
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
ACTIVATIONS = ("relu", "tanh", "logistic", "identity")
# bounds checked on the members' headers before any array is read (a hostile header or zip member
# would otherwise make the loader allocate what it claims)
MAX_METADATA_BYTES = 16 * 2**20
MAX_NPY_HEADER = 10000  # numpy's own limit for headers it parses safely
MAX_TREES = 100_000
MAX_NODES = 2**27  # all trees together (8 node arrays of 8 bytes: 8.6 GB at most)
MAX_WEIGHTS = 2**26  # per network layer
MAX_FEATURES = 10_000
MAX_RATIO, MAX_RATIO_FROM = 500, 16 * 2**20  # compression ratio refused in members above 16 MB
MAX_CATEGORIES = 10_000  # per categorical feature (fitupscaler allows 50)
BAD_NAME_CHARACTERS = '";=,'  # separators of driver lists, units and encoded categories
# rows walked together through the trees (one chunk per thread at a time); 16384: arrays of 128 KiB
# that stay in malloc's heap (at 65536, dask.distributed workers, which trim freed memory above
# 64 KiB, took 2.7x as long, refaulting pages); the predictions do not depend on it
CHUNK_ROWS = 16384
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
        for f in self.features:
            check_driver_name(f)
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

    def category_index(self, name, values, mapping=None):
        """Index (int64, -1 where unknown) into the categories of driver ``name`` for ``values``:
        category names (text), or integer codes (``category_codes``; NaN = missing). ``mapping``
        ({from: to category}, from a category name or an integer code written as text) replaces
        categories the model does not know, e.g. {'BSV': 'OSH', '0': 'GRA'}."""
        cats = self.categorical[name]
        lookup = {c: i for i, c in enumerate(cats)}
        mapping = mapping or {}
        v = np.asarray(values)
        n = v.shape[0]
        if v.dtype.kind not in "fiu":
            if mapping:
                v = np.asarray([None if x is None else mapping.get(str(x).strip(), x) for x in v], dtype=object)
            return _category_index(v, cats)
        idx = np.full(n, -1, dtype=np.int64)
        codes = self.category_codes(name)
        for code, category in codes.items():
            target = mapping.get(str(code), mapping.get(category, category))
            if target in lookup:
                idx[v == code] = lookup[target]
        for key, target in mapping.items():
            if key.lstrip("-").isdigit() and int(key) not in codes and target in lookup:
                idx[v == int(key)] = lookup[target]
        return idx

    def encode_columns(self, columns, n, mappings=None):
        """(X float64 (n, encoded), valid bool (n,), outside bool (n,)) from a mapping name ->
        1-D values (numbers; categories as strings or as integer codes). ``valid``: every numeric
        driver finite and every category known to the model (after ``mappings``: {driver: {from:
        to}}, see ``category_index``); ``outside``: a numeric driver outside the training range."""
        X = np.zeros((n, len(self.encoded_features)), dtype=np.float64)
        valid = np.ones(n, dtype=bool)
        outside = np.zeros(n, dtype=bool)
        ranges = self.meta.get("ranges", {})
        mappings = mappings or {}
        j = 0
        for f in self.features:
            v = columns[f]
            if f in self.categorical:
                cats = self.categorical[f]
                idx = self.category_index(f, v, mappings.get(f))
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
    members = {"metadata_json": np.frombuffer(meta_bytes, dtype=np.uint8),
               "sha256": np.frombuffer(digest.encode("ascii"), dtype=np.uint8), **arrays}
    # the archive np.savez_compressed writes, in a with block: numpy leaves its ZipFile open when a
    # write fails (a full disk), and its __del__ then prints a traceback ('seek of closed file')
    with atomic_path(path, ".npz") as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, value in members.items():
            with zf.open(f"{name}.npy", "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, value, allow_pickle=False)
    return path


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def _expected_arrays(meta):
    """({member name: dtype}, number of encoded features) of a model of valid metadata."""
    kind = meta["kind"]
    n_enc = len(_encoded_names(meta["features"], meta.get("categorical", {})))
    if kind in ("rf", "gbr"):
        names = dict(TREE_ARRAYS)
        if kind == "gbr":
            names["init"] = "<f8"
        return names, n_enc
    names = {"scaler_mean": "<f8", "scaler_scale": "<f8"}
    for i in range(meta["n_layers"]):
        names[f"coef_{i}"] = "<f8"
        names[f"intercept_{i}"] = "<f8"
    return names, n_enc


# -- metadata schema ----------------------------------------------------------------------
def check_driver_name(name):
    """InputError unless ``name`` can be a driver (feature) name: it must survive the lists that
    name drivers (``name=source;...`` driver files, comma-separated driver names and units) and the
    encoded column names (``feature=category``), so it cannot hold these characters; ecoresp
    refuses such names rather than escaping them, in every list alike."""
    if not isinstance(name, str) or not name.strip() or any(ch in name for ch in BAD_NAME_CHARACTERS) \
            or any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise InputError(f"feature field {name!r}: a driver name cannot be empty or hold "
                         + ", ".join(f"'{ch}'" for ch in BAD_NAME_CHARACTERS)
                         + " or control characters (they separate the names in driver lists, units and "
                         "encoded categories): rename the field")


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_count(v, lo=1, hi=None):
    return isinstance(v, int) and not isinstance(v, bool) and v >= lo and (hi is None or v <= hi)


def _mapping(meta, key):
    """meta[key] (default {}) if it is a JSON object; ValueError otherwise."""
    value = meta.get(key, {})
    if not isinstance(value, dict):
        raise ValueError(f"metadata field {key} must be a mapping (JSON object), got a {type(value).__name__}")
    return value


def _check_features(meta):
    features = meta.get("features")
    if not isinstance(features, list) or not features or len(features) > MAX_FEATURES:
        raise ValueError(f"metadata field features must be a list of 1 to {MAX_FEATURES} driver names")
    for f in features:
        try:
            check_driver_name(f)
        except InputError as exc:
            raise ValueError(str(exc)) from None
    if len(set(features)) != len(features):
        raise ValueError("metadata field features names a driver twice")


def _check_categories(meta):
    features = meta["features"]
    cats = _mapping(meta, "categorical")
    for f, values in cats.items():
        if f not in features:
            raise ValueError(f"metadata field categorical: {f!r} is not a feature")
        if (not isinstance(values, list) or not 0 < len(values) <= MAX_CATEGORIES
                or not all(isinstance(v, str) for v in values) or len(set(values)) != len(values)):
            raise ValueError(f"metadata field categorical: {f!r} must be a non-empty list of distinct category "
                             f"names (text), got {values!r:.80}")
    for f, codes in _mapping(meta, "category_codes").items():
        if f not in cats:
            raise ValueError(f"metadata field category_codes: {f!r} is not a categorical feature")
        if not isinstance(codes, dict) or not all(_is_integer_text(k) and isinstance(v, str) for k, v in codes.items()):
            raise ValueError(f"metadata field category_codes: {f!r} must map integer codes to category names, "
                             f"got {codes!r:.80}")
    n_enc = len(_encoded_names(features, cats))
    if n_enc > MAX_FEATURES:
        raise ValueError(f"metadata: {n_enc} encoded features (numbers and categories), at most {MAX_FEATURES}")


def _is_integer_text(text):
    if len(text) > 20:
        return False
    try:
        int(text)
    except ValueError:
        return False
    return True


def _check_ranges_and_texts(meta):
    numeric = [f for f in meta["features"] if f not in meta.get("categorical", {})]
    for f, r in _mapping(meta, "ranges").items():
        if f not in numeric:
            raise ValueError(f"metadata field ranges: {f!r} is not a numeric feature of the model")
        if not (isinstance(r, list) and len(r) == 2 and all(_is_number(v) and np.isfinite(v) for v in r)
                and r[0] <= r[1]):
            raise ValueError(f"metadata field ranges: {f!r} must be [min, max] (two finite numbers, min <= max), "
                             f"got {r!r:.80}")
    for f, unit in _mapping(meta, "units").items():
        if not isinstance(unit, str):
            raise ValueError(f"metadata field units: {f!r} must be text, got {unit!r:.80}")
    for key in ("target", "target_unit"):
        if key in meta and not isinstance(meta[key], str):
            raise ValueError(f"metadata field {key} must be text, got {meta[key]!r:.80}")
    if "n_train_rows" in meta and not _is_count(meta["n_train_rows"]):
        raise ValueError(f"metadata field n_train_rows must be a whole number >= 1, got {meta['n_train_rows']!r:.80}")


def _check_kind(meta):
    kind = meta.get("kind")
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r:.80}")
    if kind == "mlp":
        if not _is_count(meta.get("n_layers"), 1, MAX_LAYERS):
            raise ValueError(f"metadata field n_layers must be a whole number from 1 to {MAX_LAYERS}, "
                             f"got {meta.get('n_layers')!r:.80}")
        if meta.get("activation") not in ACTIVATIONS:
            raise ValueError(f"metadata field activation must be one of {', '.join(ACTIVATIONS)}, "
                             f"got {meta.get('activation')!r:.80}")


def _check_meta(meta):
    """ValueError naming the metadata field of a wrong type or value (the fields the plugin uses)."""
    _check_kind(meta)
    _check_features(meta)
    _check_categories(meta)
    _check_ranges_and_texts(meta)


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
        if meta.get("activation") not in ACTIVATIONS:
            raise ValueError(f"unknown activation {meta.get('activation')!r}")
    for k, a in arrays.items():
        if a.dtype.kind == "f" and k != "value" and not np.all(np.isfinite(a)) and k not in ("threshold", "impurity"):
            raise ValueError(f"{k} holds non-finite values")


# -- reading: every member checked (declared size, .npy header) before any array is read --------
def _npy_header(zf, info):
    """(shape, dtype, data offset) from the .npy header of member ``info``, reading at most
    MAX_NPY_HEADER bytes of it (any numpy version)."""
    with zf.open(info) as fh:
        head = fh.read(12)
        if len(head) < 10 or head[:6] != b"\x93NUMPY":
            raise ValueError("not a numpy .npy array")
        major, minor = head[6], head[7]
        if (major, minor) not in ((1, 0), (2, 0)):
            raise ValueError(f".npy format version {major}.{minor} is not supported")
        start = 10 if major == 1 else 12
        size = int.from_bytes(head[8:start], "little")
        if size > MAX_NPY_HEADER:
            raise ValueError(f".npy header of {size} bytes (at most {MAX_NPY_HEADER})")
        raw = head[:start + size] + fh.read(max(0, start + size - len(head)))
    buf = io.BytesIO(raw)
    version = np.lib.format.read_magic(buf)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    try:
        shape, _, dtype = read(buf)
    except (ValueError, SyntaxError, TypeError) as exc:
        raise ValueError(f"bad .npy header ({exc})") from None
    return tuple(int(n) for n in shape), dtype, start + size


def _header_of(zf, info, dtype):
    """(shape, what is wrong with its declared size or '') of member ``info`` after checking its
    dtype: its declared (uncompressed) size must be the header's plus the data the header describes."""
    shape, found, offset = _npy_header(zf, info)
    if found.str != dtype:
        raise ValueError(f"dtype {found.str}, expected {dtype}")
    size = offset + int(np.prod(shape, dtype=object)) * found.itemsize
    if info.file_size != size:
        return shape, f"declares {info.file_size} bytes but its header describes {size} (shape {shape}, {found.str})"
    if size > MAX_RATIO_FROM and size > MAX_RATIO * max(info.compress_size, 1):
        return shape, (f"{size} bytes compressed {size // max(info.compress_size, 1)}-fold (a zip bomb: arrays "
                       f"written by ecoresp compress at most a few ten-fold)")
    return shape, ""


def _members(zf):
    """{array name: ZipInfo} of the archive; duplicate or non-.npy members are refused."""
    out = {}
    for info in zf.infolist():
        name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
        if not info.filename.endswith(".npy"):
            raise ValueError(f"unexpected members [{info.filename!r}]")
        if name in out:
            raise ValueError(f"member {info.filename} appears twice")
        out[name] = info
    return out


class _Member(ValueError):
    """A problem with one member: the message names it."""

    def __init__(self, name, text):
        super().__init__(f"member {name}.npy: {text}")


def _shape_checked(zf, members, name, dtype, bound):
    """Shape of member ``name`` after the dtype/size checks; ``bound(shape)`` returns what is wrong
    with it (or '')."""
    try:
        shape, size_problem = _header_of(zf, members[name], dtype)
        problem = bound(shape)
    except ValueError as exc:
        raise _Member(name, str(exc)) from None
    if problem:
        raise _Member(name, f"its header claims shape {shape}: {problem}")
    if size_problem:
        raise _Member(name, size_problem)
    return shape


def _read_meta(zf, members):
    """(metadata bytes, parsed metadata) of the metadata member."""
    if "metadata_json" not in members or "sha256" not in members:
        raise ValueError("no metadata or checksum")
    _shape_checked(zf, members, "metadata_json", "|u1",
                   lambda s: "not 1-D" if len(s) != 1 else (
                       f"more than {MAX_METADATA_BYTES} bytes of metadata" if s[0] > MAX_METADATA_BYTES else ""))
    meta_bytes = _array(zf, members, "metadata_json").tobytes()
    try:
        meta = json.loads(meta_bytes.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise _Member("metadata_json", f"not valid JSON ({str(exc)[:80]})") from None
    return meta_bytes, meta


def _array(zf, members, name):
    with zf.open(members[name]) as fh:
        return np.lib.format.read_array(fh, allow_pickle=False)


def _node_bound(meta, n_trees):
    """(most nodes the trees can have, how that was found): a tree grown on n rows has at most
    2n - 1 nodes; MAX_NODES in any case."""
    rows = meta.get("n_train_rows")
    if rows is None:
        return MAX_NODES, f"the {MAX_NODES} nodes a model may have"
    per = 2 * rows - 1
    if n_trees * per >= MAX_NODES:
        return MAX_NODES, f"the {MAX_NODES} nodes a model may have"
    return n_trees * per, f"the {n_trees} trees of {per} nodes at most (n_train_rows {rows}) hold"


def _check_tree_headers(zf, members, expected, meta):
    one_d = "not 1-D"
    off = _shape_checked(zf, members, "node_offsets", expected["node_offsets"],
                         lambda s: one_d if len(s) != 1 else (
                             f"not 2 to {MAX_TREES + 1} tree offsets" if not 2 <= s[0] <= MAX_TREES + 1 else ""))
    n_trees = off[0] - 1
    bound, why = _node_bound(meta, n_trees)
    nodes = _shape_checked(zf, members, "left_child", expected["left_child"],
                           lambda s: one_d if len(s) != 1 else (f"more than {why}" if s[0] > bound else ""))
    wanted = {"max_depth": ((n_trees,), "one per tree"), "init": ((2,), "constant, learning rate")}
    for name, dtype in expected.items():
        if name in ("node_offsets", "left_child"):
            continue
        shape, what = wanted.get(name, (nodes, "the nodes of left_child"))
        _shape_checked(zf, members, name, dtype,
                       lambda s, shape=shape, what=what: "" if s == shape else f"expected {shape} ({what})")


def _check_network_headers(zf, members, expected, meta, n_enc):
    width = (n_enc,)
    for name in ("scaler_mean", "scaler_scale"):
        _shape_checked(zf, members, name, "<f8", lambda s: "" if s == width else f"expected {width} (the features)")
    rows = n_enc
    for i in range(meta["n_layers"]):
        w = _shape_checked(zf, members, f"coef_{i}", "<f8", lambda s, rows=rows: _layer_problem(s, rows))
        rows = w[1]
        _shape_checked(zf, members, f"intercept_{i}", "<f8",
                       lambda s, rows=rows: "" if s == (rows,) else f"expected ({rows},) (the layer's units)")


def _layer_problem(shape, rows):
    if len(shape) != 2:
        return "not 2-D"
    if shape[0] * shape[1] > MAX_WEIGHTS:
        return f"more than {MAX_WEIGHTS} weights"
    return "" if shape[0] == rows else f"expected {rows} rows (the previous layer's units)"


def _check_headers(zf, members, expected, meta, n_enc):
    """Every array member's dtype, shape and declared size, from the headers alone."""
    _shape_checked(zf, members, "sha256", "|u1", lambda s: "" if s == (64,) else "expected (64,)")
    if meta["kind"] == "mlp":
        _check_network_headers(zf, members, expected, meta, n_enc)
    else:
        _check_tree_headers(zf, members, expected, meta)


def _read_zip(path):
    """(arrays, meta, meta bytes, stored checksum) of model file ``path``; ValueError naming what
    is wrong. No array is read before every member's header has been checked."""
    with zipfile.ZipFile(path) as zf:
        members = _members(zf)
        meta_bytes, meta = _read_meta(zf, members)
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ValueError("not an ecoresp upscaler model")
        _check_version(path, meta)
        _check_meta(meta)
        expected, n_enc = _expected_arrays(meta)
        extra = sorted(f"{m}.npy" for m in set(members) - set(expected) - {"metadata_json", "sha256"})
        missing = sorted(set(expected) - set(members))
        if extra or missing:
            raise ValueError(f"unexpected members {extra}" if extra else f"missing arrays {missing}")
        _check_headers(zf, members, expected, meta, n_enc)
        arrays = {name: _array(zf, members, name) for name in expected}
        stored = _array(zf, members, "sha256").tobytes().decode("ascii", "replace")
    return arrays, meta, meta_bytes, stored, n_enc


def _check_version(path, meta):
    version = meta.get("format_version")
    if not _is_count(version):
        raise ValueError(f"format version {version!r:.80} is not valid")
    if version > FORMAT_VERSION:
        writer = meta.get("versions")
        writer = writer.get("ecoresp") if isinstance(writer, dict) else None
        raise InputError(f"model file {path} was written by a newer ecoresp (model format {version}"
                         + (f", ecoresp {writer}" if writer else "")
                         + f"); this plugin reads formats up to {FORMAT_VERSION}: update ecoresp")


def _read(path):
    """(arrays, meta) of a verified model file; raises InputError otherwise."""
    path = str(path)
    if not os.path.isfile(path):
        raise InputError(f"model file {path}: not found")
    if not zipfile.is_zipfile(path):
        raise InputError(f"model file {path}: not an ecoresp model (.npz written by ecoresp:fitupscaler); "
                         "pickle/joblib files are refused because loading them would run code")
    try:
        arrays, meta, meta_bytes, stored, n_enc = _read_zip(path)
    except InputError:
        raise
    except (ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile, UnicodeDecodeError, TypeError,
            NotImplementedError, RuntimeError) as exc:
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
