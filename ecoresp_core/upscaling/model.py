"""The upscaling model and its file format: a safe, verified ``.npz``.

Why this format is safe
-----------------------
A pickle (or joblib) file is a program: loading it runs whatever code it carries. The model
file written here holds only plain numeric numpy arrays and one UTF-8 JSON text (stored as a
``uint8`` array) in a ``.npz`` (zip) archive. It is read with ``numpy.load(allow_pickle=False)``,
so numpy refuses any object array or pickled member instead of unpickling it, and the archive
members are checked against a fixed list (names, dtypes, shapes) before use. A SHA-256 over the
metadata and every array (name, dtype, shape, bytes) is stored and re-computed on load, so a file
changed after it was written (an edited threshold, a swapped array) is rejected. The estimator is
then rebuilt from the verified arrays: scikit-learn's Cython ``Tree`` objects are created with
``Tree(n_features, [1], 1)`` and filled with ``__setstate__`` from a dict of numpy arrays (no
unpickling); the neural network is a numpy forward pass over the stored weights. Nothing in the
file is ever executed or imported.

Model kinds: ``rf`` (random forest: mean of trees), ``gbr`` (gradient boosting, squared error:
constant + learning_rate * sum of trees), ``mlp`` (StandardScaler + MLPRegressor, relu/tanh/
logistic/identity hidden layers, identity output). Predictions of a rebuilt model are
bit-identical to scikit-learn's ``predict`` of the fitted estimator (``n_jobs=1``) for trees.

Metadata (JSON): format and version, kind, raw feature names in order, units, categorical
features with their categories (one-hot encoded in that order) and optional integer codes for
rasters, training ranges (min/max of each numeric feature), target and unit, seed, CV metrics,
library versions.
"""

import hashlib
import json
import os
import zipfile

import numpy as np

from ..errors import InputError

FORMAT = "ecoresp-upscaler"
FORMAT_VERSION = 1
KINDS = ("rf", "gbr", "mlp")
TREE_ARRAYS = {  # name -> dtype of the concatenated node arrays of every tree
    "left_child": "<i8", "right_child": "<i8", "feature": "<i8", "threshold": "<f8",
    "impurity": "<f8", "n_node_samples": "<i8", "weighted_n_node_samples": "<f8",
    "value": "<f8", "node_offsets": "<i8", "max_depth": "<i8",
}
MAX_LAYERS = 16
CHUNK_ROWS = 16384

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
        self._trees = None
        self.source = None  # the model file, when loaded from one
        self.n_threads = 1  # threads over row chunks for tree models (results do not change)

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
    def _tree_objects(self):
        if self._trees is None:
            self._trees = _arrays_to_trees(self.arrays, len(self.encoded_features))
        return self._trees

    def _trees_chunk(self, trees, X32):
        """Same arithmetic as sklearn (n_jobs=1): forest = sum of trees in order / n_trees;
        boosting = init constant + learning_rate * tree, stage by stage."""
        if self.kind == "rf":
            y = np.zeros(X32.shape[0], dtype=np.float64)
            for t in trees:
                y += _tree_out(t, X32)
            y /= len(trees)
            return y
        const, lr = self.arrays["init"]
        y = np.full(X32.shape[0], const, dtype=np.float64)
        for t in trees:
            y += lr * _tree_out(t, X32)
        return y

    def predict_encoded(self, X):
        """Predictions (float64) for the encoded matrix X (n, len(encoded_features))."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != len(self.encoded_features):
            raise InputError(f"model expects {len(self.encoded_features)} encoded features, got {X.shape}")
        n = X.shape[0]
        if self.kind in ("rf", "gbr"):
            X32 = np.ascontiguousarray(X, dtype=np.float32)
            trees = self._tree_objects()
            y = np.empty(n, dtype=np.float64)
            chunks = [(a, min(a + CHUNK_ROWS, n)) for a in range(0, n, CHUNK_ROWS)]
            threads = max(1, min(int(self.n_threads or 1), len(chunks)))
            if threads == 1:
                for a, b in chunks:
                    y[a:b] = self._trees_chunk(trees, X32[a:b])
            else:
                # rows split across threads (the Cython tree traversal releases the GIL); each
                # row still sums its trees in tree order, so results do not depend on threads
                from concurrent.futures import ThreadPoolExecutor

                def run(ab):
                    y[ab[0]:ab[1]] = self._trees_chunk(trees, X32[ab[0]:ab[1]])
                with ThreadPoolExecutor(threads) as ex:
                    list(ex.map(run, chunks))
            return y
        a = np.array(X, dtype=np.float64, copy=True)
        a -= self.arrays["scaler_mean"]
        a /= self.arrays["scaler_scale"]
        nl = int(self.meta["n_layers"])
        act = self.meta["activation"]
        for i in range(nl):
            a = a @ self.arrays[f"coef_{i}"]
            a += self.arrays[f"intercept_{i}"]
            if i != nl - 1:
                if act == "relu":
                    np.maximum(a, 0, out=a)
                elif act == "tanh":
                    np.tanh(a, out=a)
                elif act == "logistic":
                    from scipy.special import expit
                    expit(a, out=a)
        return a[:, 0]


def _category_index(values, cats):
    lookup = {c: i for i, c in enumerate(cats)}
    return np.fromiter((lookup.get(str(x).strip(), -1) if x is not None else -1 for x in values),
                       dtype=np.int64, count=len(values))


def _tree_out(tree, X32):
    out = tree.predict(X32)
    return out.reshape(out.shape[0], -1)[:, 0]


def _trees_to_arrays(trees):
    parts = {k: [] for k in ("left_child", "right_child", "feature", "threshold", "impurity",
                             "n_node_samples", "weighted_n_node_samples")}
    values, offsets, depths = [], [0], []
    for t in trees:
        st = t.__getstate__()
        nodes = st["nodes"]
        for k in parts:
            parts[k].append(np.asarray(nodes[k]))
        v = np.asarray(st["values"])
        if v.shape[1:] != (1, 1):
            raise InputError("only single-output regression trees can be stored")
        values.append(v[:, 0, 0])
        offsets.append(offsets[-1] + len(nodes))
        depths.append(int(st["max_depth"]))
    out = {k: np.concatenate(v).astype(TREE_ARRAYS[k]) for k, v in parts.items()}
    out["value"] = np.concatenate(values).astype("<f8")
    out["node_offsets"] = np.asarray(offsets, "<i8")
    out["max_depth"] = np.asarray(depths, "<i8")
    return out


def _arrays_to_trees(arrays, n_features):
    """Rebuild sklearn Cython trees from verified arrays (no unpickling)."""
    from sklearn.tree._tree import NODE_DTYPE, Tree
    off = arrays["node_offsets"]
    trees = []
    for i in range(len(off) - 1):
        a, b = int(off[i]), int(off[i + 1])
        nodes = np.zeros(b - a, dtype=NODE_DTYPE)
        for k in NODE_DTYPE.names:
            nodes[k] = arrays[k][a:b]
        t = Tree(int(n_features), np.array([1], dtype=np.intp), 1)
        t.__setstate__({"max_depth": int(arrays["max_depth"][i]), "node_count": b - a, "nodes": nodes,
                        "values": np.ascontiguousarray(arrays["value"][a:b].reshape(-1, 1, 1))})
        trees.append(t)
    return trees


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
    from ..provenance import versions
    meta = {k: v for k, v in model.meta.items() if k != "sha256"}  # the checksum is stored beside
    meta.update(format=FORMAT, format_version=FORMAT_VERSION, kind=model.kind)
    meta.setdefault("versions", versions())
    meta_bytes = json.dumps(meta, sort_keys=True, default=_json_default).encode("utf-8")
    arrays = {k: np.ascontiguousarray(v) for k, v in model.arrays.items()}
    digest = _digest(arrays, meta_bytes)
    path = str(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InputError(f"{path}: output folder {folder} does not exist")
    tmp = os.path.join(folder, f".{os.path.basename(path)}.partial.npz")
    with open(tmp, "wb") as fh:
        np.savez_compressed(fh, metadata_json=np.frombuffer(meta_bytes, dtype=np.uint8),
                            sha256=np.frombuffer(digest.encode("ascii"), dtype=np.uint8), **arrays)
    os.replace(tmp, path)
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
        # every node index inside its own tree, features within range: Cython trusts these
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
            if meta.get("format_version") != FORMAT_VERSION:
                raise ValueError(f"format version {meta.get('format_version')!r} is not supported "
                                 f"(this plugin reads version {FORMAT_VERSION})")
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
