"""The safe model file: bit-identical round trip, ecoresp's own evaluator (no scikit-learn at
prediction), and every kind of tampering rejected without executing anything (no pickle is ever
loaded)."""

import io
import json
import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from ecoresp_core.errors import InputError
from ecoresp_core.upscaling.model import (FORMAT_VERSION, UpscalerModel, _digest, load_model, save_model,
                                          validate_model_file)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

META = {"features": ["ta", "sw", "vpd"], "categorical": {}, "units": {"ta": "degC", "sw": "W m-2", "vpd": "hPa"},
        "ranges": {"ta": [-20.0, 30.0], "sw": [0.0, 400.0], "vpd": [0.0, 40.0]}, "target": "ER",
        "target_unit": "g C m-2 d-1", "seed": 3}


def data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.uniform(-20, 30, n), rng.uniform(0, 400, n), rng.uniform(0, 40, n)])
    y = 1.5 * np.exp(0.07 * X[:, 0]) + 0.002 * X[:, 1] - 0.02 * X[:, 2] + rng.normal(0, 0.2, n)
    return X, y


def estimators():
    return [RandomForestRegressor(n_estimators=15, min_samples_leaf=2, random_state=1),
            GradientBoostingRegressor(n_estimators=30, max_depth=3, random_state=1),
            Pipeline([("scale", StandardScaler()),
                      ("mlp", MLPRegressor(hidden_layer_sizes=(16, 8), max_iter=200, random_state=1))])]


def mlp_reference(m, X):
    """The network in plain Python floats (IEEE double, one operation at a time), in the order the
    model promises: (x - mean) / scale; per unit x0*w0 + x1*w1 + ... then + intercept; relu."""
    a_ = m.arrays
    nl = m.meta["n_layers"]
    out = []
    for row in np.asarray(X, dtype=np.float64):
        a = [(float(x) - float(mu)) / float(sd) for x, mu, sd in zip(row, a_["scaler_mean"], a_["scaler_scale"])]
        for i in range(nl):
            w, b = a_[f"coef_{i}"], a_[f"intercept_{i}"]
            z = []
            for k in range(w.shape[1]):
                acc = a[0] * float(w[0, k])
                for j in range(1, w.shape[0]):
                    acc = acc + a[j] * float(w[j, k])
                acc = acc + float(b[k])
                z.append(max(acc, 0.0) if i != nl - 1 else acc)
            a = z
        out.append(a[0])
    return np.asarray(out)


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("est", estimators(), ids=["rf", "gbr", "mlp"])
def test_round_trip_bit_identical(est, tmp_path):
    X, y = data()
    est.fit(X, y)
    path = save_model(UpscalerModel.from_estimator(est, META), tmp_path / "m.npz")
    meta = validate_model_file(path)
    assert meta["features"] == ["ta", "sw", "vpd"] and meta["units"]["sw"] == "W m-2"
    assert meta["ranges"]["ta"] == [-20.0, 30.0] and meta["seed"] == 3
    assert meta["versions"]["sklearn"] and meta["versions"]["numpy"] and meta["format_version"] == 1
    m = load_model(path)
    Xt, _ = data(40000, seed=7)
    p = m.predict_encoded(Xt)
    if isinstance(est, Pipeline):
        # our forward pass sums in a fixed order without BLAS: equal to scikit-learn's up to
        # rounding, and bit for bit to the same sums in plain Python floats
        np.testing.assert_allclose(p, est.predict(Xt), rtol=1e-9, atol=1e-12)
        np.testing.assert_array_equal(p[:300], mlp_reference(m, Xt[:300]))
    else:
        np.testing.assert_array_equal(p, est.predict(Xt))
    m.n_threads = 2  # row chunks on threads: same numbers
    np.testing.assert_array_equal(m.predict_encoded(Xt), p)
    if not isinstance(est, Pipeline):  # a float32 matrix (as the raster path gives) too
        np.testing.assert_array_equal(m.predict_encoded(Xt.astype(np.float32)), est.predict(Xt.astype(np.float32)))


@pytest.mark.parametrize("kind", ["rf", "gbr"])
def test_trees_bit_identical_at_and_around_thresholds(kind, tmp_path):
    """The float32 test against float64 thresholds, at the thresholds themselves and one float32 /
    float64 step either side, coarse values with ties, huge values (inf in float32), one-hot columns
    and single-leaf trees."""
    rng = np.random.default_rng(5)
    n = 600
    X = np.column_stack([np.round(rng.uniform(-5, 5, n), 1), rng.uniform(0, 1e-3, n),
                         rng.integers(0, 2, n).astype(float), rng.normal(0, 1e6, n)])
    y = X[:, 0] ** 2 + 1e3 * X[:, 1] + 2 * X[:, 2] + 1e-6 * X[:, 3] + rng.normal(0, 0.1, n)
    if kind == "rf":
        est = RandomForestRegressor(n_estimators=12, random_state=2, max_features=0.7).fit(X, y)
        trees = [e.tree_ for e in est.estimators_]
        const = RandomForestRegressor(n_estimators=3, random_state=0).fit(X, np.full(n, 2.5))
        m0 = load_model(save_model(UpscalerModel.from_estimator(const, dict(META, features=list("abcd"), ranges={})),
                                   tmp_path / "c.npz"))
        assert [t[2] for t in m0._forest().trees] == [0, 0, 0]  # single leaves
        np.testing.assert_array_equal(m0.predict_encoded(X), const.predict(X))
    else:
        est = GradientBoostingRegressor(n_estimators=40, max_depth=4, subsample=0.8, random_state=2).fit(X, y)
        trees = [e.tree_ for e in est.estimators_[:, 0]]
    meta = dict(META, features=list("abcd"), ranges={})
    m = load_model(save_model(UpscalerModel.from_estimator(est, meta), tmp_path / "m.npz"))
    probe = []
    for t in trees:
        inner = t.feature >= 0
        for f, thr in zip(t.feature[inner], t.threshold[inner]):
            t32 = np.float32(thr)
            for v in (thr, np.nextafter(thr, -np.inf), np.nextafter(thr, np.inf), float(t32),
                      float(np.nextafter(t32, np.float32(-np.inf))), float(np.nextafter(t32, np.float32(np.inf)))):
                row = X[rng.integers(0, n)].copy()
                row[f] = v
                probe.append(row)
    big = float(np.finfo(np.float32).max)
    probe = np.vstack([np.asarray(probe), X, [[0, 0, 0, big], [-big, big, 1, -big], [-0.0, -0.0, -0.0, -0.0]]])
    np.testing.assert_array_equal(m.predict_encoded(probe), est.predict(probe))
    np.testing.assert_array_equal(m.predict_encoded(probe[:0]), np.zeros(0))
    # beyond float32 (scikit-learn refuses these): +-inf after the cast, beyond every threshold
    np.testing.assert_array_equal(m.predict_encoded([[0, 0, 0, 1e300], [-1e300, 1e39, 1, -1e39]]),
                                  est.predict([[0, 0, 0, big], [-big, big, 1, -big]]))


@pytest.mark.filterwarnings("ignore")
def test_prediction_imports_no_sklearn(tmp_path):
    """A model file is read and evaluated without scikit-learn (or scipy for relu networks)."""
    X, y = data()
    paths = []
    for i, est in enumerate(estimators()):
        est.fit(X, y)
        paths.append(str(save_model(UpscalerModel.from_estimator(est, META), tmp_path / f"m{i}.npz")))
    Xt, _ = data(5000, seed=9)
    np.save(tmp_path / "X.npy", Xt)
    code = (
        "import sys\n"
        "sys.modules['sklearn'] = None\n"
        "sys.modules['scipy'] = None\n"
        f"sys.path.insert(0, {REPO!r})\n"
        "import numpy as np\n"
        "from ecoresp_core.upscaling.model import load_model\n"
        "X = np.load(sys.argv[1])\n"
        "for p in sys.argv[2:]:\n"
        "    np.save(p + '.pred.npy', load_model(p).predict_encoded(X))\n"
        "assert not any(k.startswith(('sklearn.', 'scipy.')) for k in sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "X.npy"), *paths], check=True, cwd=str(tmp_path))
    for p in paths:
        np.testing.assert_array_equal(np.load(p + ".pred.npy"), load_model(p).predict_encoded(Xt))



@pytest.fixture
def saved(tmp_path):
    X, y = data()
    est = RandomForestRegressor(n_estimators=5, random_state=0).fit(X, y)
    return save_model(UpscalerModel.from_estimator(est, META), tmp_path / "m.npz")


def rewrite(path, change):
    """Rewrite the npz with ``change(dict of arrays)`` applied (keeps the stored hash)."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    change(arrays)
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def test_changed_array_is_rejected(saved):
    def bump(a):
        a["threshold"] = a["threshold"].copy()
        a["threshold"][0] += 1.0
    rewrite(saved, bump)
    with pytest.raises(InputError, match="checksum"):
        load_model(saved)


def test_changed_hash_is_rejected(saved):
    rewrite(saved, lambda a: a.__setitem__("sha256", np.frombuffer(b"0" * 64, dtype=np.uint8)))
    with pytest.raises(InputError, match="checksum"):
        validate_model_file(saved)


def test_changed_metadata_is_rejected(saved):
    def edit(a):
        meta = json.loads(a["metadata_json"].tobytes())
        meta["ranges"]["ta"] = [-50.0, 50.0]
        a["metadata_json"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    rewrite(saved, edit)
    with pytest.raises(InputError, match="checksum"):
        validate_model_file(saved)


class Boom:
    """Unpickling this would create a file: proof that nothing was executed."""
    marker = None

    def __reduce__(self):
        return (open, (Boom.marker, "w"))


def test_object_array_is_rejected_without_unpickling(saved, tmp_path):
    Boom.marker = str(tmp_path / "EXECUTED")
    obj = np.empty(1, dtype=object)
    obj[0] = Boom()
    rewrite(saved, lambda a: a.__setitem__("threshold", obj))
    with pytest.raises(InputError, match="rejected"):
        load_model(saved)
    assert not os.path.exists(Boom.marker)


def test_pickle_member_and_pickle_file_are_rejected(saved, tmp_path):
    Boom.marker = str(tmp_path / "EXECUTED")
    with zipfile.ZipFile(saved, "a") as z:
        z.writestr("payload.pkl", pickle.dumps(Boom()))
    with pytest.raises(InputError, match="unexpected members"):
        load_model(saved)
    plain = tmp_path / "model.pkl"
    plain.write_bytes(pickle.dumps(Boom()))
    with pytest.raises(InputError, match="pickle/joblib files are refused"):
        validate_model_file(plain)
    # a .npy holding a pickle, named like an expected member
    buf = io.BytesIO()
    np.save(buf, np.array([Boom()], dtype=object), allow_pickle=True)
    with np.load(saved, allow_pickle=False) as z:
        names = [k for k in z.files]
    tam = tmp_path / "tam.npz"
    with zipfile.ZipFile(saved) as src, zipfile.ZipFile(tam, "w") as dst:
        for n in src.namelist():
            if n == "payload.pkl":
                continue
            dst.writestr(n, buf.getvalue() if n == "value.npy" else src.read(n))
    assert "value" in names
    with pytest.raises(InputError, match="rejected"):
        load_model(tam)
    assert not os.path.exists(Boom.marker)


def test_wrong_dtype_and_bad_structure_rejected(saved, tmp_path):
    rewrite(saved, lambda a: a.__setitem__("feature", a["feature"].astype("<f8")))
    with pytest.raises(InputError, match="dtype"):
        load_model(saved)


def test_missing_file_and_not_a_model(tmp_path):
    with pytest.raises(InputError, match="not found"):
        validate_model_file(tmp_path / "nope.npz")
    other = tmp_path / "other.npz"
    np.savez(other, a=np.arange(3))
    with pytest.raises(InputError, match="rejected"):
        validate_model_file(other)


def test_recomputed_hash_still_needs_a_valid_tree(saved):
    """The hash catches accidents; a forged file with a re-computed hash must still pass the
    structure checks (child and feature indices) before the evaluator ever indexes with them."""

    def forge(a):
        a["left_child"] = a["left_child"].copy()
        inner = np.nonzero(a["left_child"] != -1)[0][0]
        a["left_child"][inner] = 10 ** 9
        arrays = {k: v for k, v in a.items() if k not in ("metadata_json", "sha256")}
        a["sha256"] = np.frombuffer(_digest(arrays, a["metadata_json"].tobytes()).encode(), dtype=np.uint8)
    rewrite(saved, forge)
    with pytest.raises(InputError, match="child index out of range"):
        load_model(saved)


def resign(a):
    """Re-compute the stored hash after an edit (what a forger would do)."""
    arrays = {k: v for k, v in a.items() if k not in ("metadata_json", "sha256")}
    a["sha256"] = np.frombuffer(_digest(arrays, a["metadata_json"].tobytes()).encode(), dtype=np.uint8)


@pytest.mark.parametrize("edit, message", [
    (lambda a: a["feature"].__setitem__(np.nonzero(a["left_child"] != -1)[0][0], 3), "feature index out of range"),
    (lambda a: a["threshold"].__setitem__(np.nonzero(a["left_child"] != -1)[0][0], np.nan), "non-finite threshold"),
    (lambda a: a["value"].__setitem__(np.nonzero(a["left_child"] == -1)[0][0], np.inf), "non-finite leaf value"),
    (lambda a: a["right_child"].__setitem__(np.nonzero(a["left_child"] != -1)[0][1], 0), "child index out of range"),
])
def test_forged_trees_rejected(saved, edit, message):
    def forge(a):
        for k in ("feature", "threshold", "value", "right_child"):
            a[k] = a[k].copy()
        edit(a)
        resign(a)
    rewrite(saved, forge)
    with pytest.raises(InputError, match=message):
        load_model(saved)


def test_newer_format_asks_for_an_update(saved):
    def newer(a):
        meta = json.loads(a["metadata_json"].tobytes())
        meta["format_version"] = FORMAT_VERSION + 1
        meta["versions"]["ecoresp"] = "9.1.0"
        meta["new_thing"] = {"kind": "something this version does not know"}
        a["metadata_json"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        a["new_array"] = np.arange(3.0)
        resign(a)
    rewrite(saved, newer)
    msg = (f"model file {saved} was written by a newer ecoresp (model format {FORMAT_VERSION + 1}, ecoresp 9.1.0); "
           f"this plugin reads formats up to {FORMAT_VERSION}: update ecoresp")
    with pytest.raises(InputError) as e:
        validate_model_file(saved)
    assert str(e.value) == msg

    def no_versions(a):
        meta = json.loads(a["metadata_json"].tobytes())
        del meta["versions"]
        a["metadata_json"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        resign(a)
    rewrite(saved, no_versions)
    with pytest.raises(InputError, match=r"newer ecoresp \(model format 2\); this plugin reads formats up to 1"):
        load_model(saved)


@pytest.mark.parametrize("version", [0, "1", 1.0, None, True])
def test_bad_format_version_rejected(saved, version):
    def edit(a):
        meta = json.loads(a["metadata_json"].tobytes())
        meta["format_version"] = version
        a["metadata_json"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        resign(a)
    rewrite(saved, edit)
    with pytest.raises(InputError, match="format version .* is not valid"):
        load_model(saved)
