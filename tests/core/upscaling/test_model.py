"""The safe model file: bit-identical round trip, and every kind of tampering rejected without
executing anything (no pickle is ever loaded)."""

import io
import json
import os
import pickle
import zipfile

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from ecoresp_core.errors import InputError
from ecoresp_core.upscaling.model import UpscalerModel, load_model, save_model, validate_model_file

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
                      ("mlp", MLPRegressor((16, 8), max_iter=200, random_state=1))])]


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
    np.testing.assert_array_equal(m.predict_encoded(Xt), est.predict(Xt))
    m.n_threads = 2  # row chunks on threads: same numbers
    np.testing.assert_array_equal(m.predict_encoded(Xt), est.predict(Xt))


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
    structure checks (child and feature indices) before the Cython tree ever sees it."""
    from ecoresp_core.upscaling.model import _digest

    def forge(a):
        a["left_child"] = a["left_child"].copy()
        inner = np.nonzero(a["left_child"] != -1)[0][0]
        a["left_child"][inner] = 10 ** 9
        arrays = {k: v for k, v in a.items() if k not in ("metadata_json", "sha256")}
        a["sha256"] = np.frombuffer(_digest(arrays, a["metadata_json"].tobytes()).encode(), dtype=np.uint8)
    rewrite(saved, forge)
    with pytest.raises(InputError, match="child index out of range"):
        load_model(saved)
