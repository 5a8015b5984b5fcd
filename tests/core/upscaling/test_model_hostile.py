"""Hostile model files (crafted on purpose, not merely corrupted): every member's declared size and
.npy header are checked before any array is read, and the metadata's types before any of it is
used; each is refused with an InputError naming the model file and what is wrong, never a
traceback or a huge allocation. Driver names that the lists and stored names cannot hold are
refused when the model is fitted."""

import re

import numpy as np
import pytest
from hostile_models import N_ROWS, members, npy, npy_header, rehashed, table, valid_model, with_member, zip_bomb

from ecoresp_core.errors import InputError
from ecoresp_core.upscaling.fit import fit_upscaler
from ecoresp_core.upscaling.model import load_model, validate_model_file
from ecoresp_core.upscaling.predict import predict_table


@pytest.fixture(scope="module")
def rf(tmp_path_factory):
    return valid_model(tmp_path_factory.mktemp("m") / "rf.npz")


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    return valid_model(tmp_path_factory.mktemp("m") / "mlp.npz", kind="mlp")


def refused(path, pattern):
    with pytest.raises(InputError) as exc:
        load_model(path)
    text = str(exc.value)
    assert text.startswith(f"model file {path}: rejected ("), text
    assert re.search(pattern, text), text
    return text


def test_valid_model_loads_and_predicts(rf):
    m = load_model(rf)
    out = predict_table(m, table(20, seed=4))
    assert out["ER_pred"].notna().all() and m.meta["n_train_rows"] == N_ROWS


@pytest.mark.parametrize("changes, pattern", [
    ({"ranges": {"ta": "abc", "sw": [0.0, 400.0], "vpd": [0.0, 40.0]}},
     r"metadata field ranges: 'ta' must be \[min, max\] \(two finite numbers, min <= max\), got 'abc'"),
    ({"ranges": {"ta": {"min": -20, "max": 30}}},
     r"metadata field ranges: 'ta' must be \[min, max\] .*got \{'max': 30, 'min': -20\}"),
    ({"ranges": {"ta": ["-20", "30"]}}, r"metadata field ranges: 'ta' must be \[min, max\] .*got \['-20', '30'\]"),
    ({"ranges": {"ta": [30.0, -20.0]}}, r"metadata field ranges: 'ta' must be \[min, max\]"),
    ({"ranges": {"lc": [0.0, 1.0]}}, r"metadata field ranges: 'lc' is not a numeric feature of the model"),
    ({"ranges": [[-20.0, 30.0]]}, r"metadata field ranges must be a mapping \(JSON object\), got a list"),
    ({"categorical": {"lc": "DBF"}}, r"metadata field categorical: 'lc' must be a non-empty list of distinct "
                                     r"category names \(text\), got 'DBF'"),
    ({"categorical": {"lc": [1, 4]}}, r"metadata field categorical: 'lc' must be a non-empty list .*got \[1, 4\]"),
    ({"categorical": {"lc": {"DBF": 1}}}, r"metadata field categorical: 'lc' must be a non-empty list"),
    ({"categorical": {"lc": ["DBF", "ENF"], "xx": ["A"]}}, r"metadata field categorical: 'xx' is not a feature"),
    ({"category_codes": {"lc": ["ENF", "DBF"]}},
     r"metadata field category_codes: 'lc' must map integer codes to category names, got \['ENF', 'DBF'\]"),
    ({"category_codes": {"lc": {"one": "ENF"}}},
     r"metadata field category_codes: 'lc' must map integer codes to category names, got \{'one': 'ENF'\}"),
    ({"units": {"ta": 5}}, r"metadata field units: 'ta' must be text, got 5"),
    ({"units": "degC"}, r"metadata field units must be a mapping \(JSON object\), got a str"),
    ({"target": ["ER"]}, r"metadata field target must be text, got \['ER'\]"),
    ({"n_train_rows": "200"}, r"metadata field n_train_rows must be a whole number >= 1, got '200'"),
])
def test_metadata_of_wrong_type_is_refused(rf, tmp_path, changes, pattern):
    """A re-hashed file (so the checksum matches) whose metadata has the wrong types."""
    refused(rehashed(rf, tmp_path / "bad.npz", changes), pattern)


@pytest.mark.parametrize("changes, pattern", [
    ({"n_layers": True}, r"metadata field n_layers must be a whole number from 1 to 16, got True"),
    ({"activation": ["relu"]}, r"metadata field activation must be one of relu, tanh, logistic, identity, "
                               r"got \['relu'\]"),
])
def test_network_metadata_of_wrong_type_is_refused(mlp, tmp_path, changes, pattern):
    refused(rehashed(mlp, tmp_path / "bad.npz", changes), pattern)


@pytest.mark.parametrize("member, pattern", [
    ("left_child.npy", r"member left_child\.npy: its header claims shape \(10000000000000,\): "
                       r"more than the 5 trees of 399 nodes at most \(n_train_rows 200\)"),
    ("metadata_json.npy", r"member metadata_json\.npy: its header claims shape \(10000000000000,\): "
                          r"more than 16777216 bytes of metadata"),
])
def test_header_claiming_1e13_elements_is_refused_before_reading(rf, tmp_path, member, pattern):
    descr = "|u1" if member.startswith("metadata") else "<i8"
    bad = with_member(rf, tmp_path / "huge.npz", member, npy_header((10**13,), descr))
    refused(bad, pattern)


def test_zip_bomb_member_is_refused_before_decompressing(rf, tmp_path):
    """2 million nodes (16 MB once decompressed, a few kB on disk) where 5 trees of 200 training
    rows have at most 5 * 399."""
    bomb = zip_bomb(rf, tmp_path / "bomb.npz")
    refused(bomb, r"member left_child\.npy: its header claims shape \(2000000,\): more than the 5 trees "
                  r"of 399 nodes at most")


def test_network_layer_too_wide_is_refused(mlp, tmp_path):
    bad = with_member(mlp, tmp_path / "wide.npz", "coef_0.npy", npy_header((5, 10**9), "<f8"))
    refused(bad, r"member coef_0\.npy: its header claims shape \(5, 1000000000\): more than 67108864 weights")


def test_declared_size_must_match_the_header(rf, tmp_path):
    """Bytes after the array (the header describes fewer than the member holds) are refused."""
    value = members(rf)["value.npy"]
    bad = with_member(rf, tmp_path / "tail.npz", "value.npy", value + b"\0" * 4096)
    refused(bad, r"member value\.npy: declares \d+ bytes but its header describes \d+ "
                 r"\(shape \(\d+,\), <f8\)")


@pytest.mark.parametrize("member, data, pattern", [
    ("left_child.npy", npy(np.zeros(3, dtype="<f4")), r"member left_child\.npy: dtype <f4, expected <i8"),
    ("left_child.npy", b"PK not an array", r"member left_child\.npy: not a numpy \.npy array"),
    ("left_child.npy", b"\x93NUMPY\x03\x00" + b"\0" * 10, r"member left_child\.npy: \.npy format version 3\.0 "
                                                         r"is not supported"),
    ("left_child.npy", b"\x93NUMPY\x02\x00" + (2**31).to_bytes(4, "little"),
     r"member left_child\.npy: \.npy header of 2147483648 bytes"),
])
def test_malformed_members_are_refused(rf, tmp_path, member, data, pattern):
    refused(with_member(rf, tmp_path / "bad.npz", member, data), pattern)


def test_nodes_not_matching_between_arrays_are_refused(rf, tmp_path):
    """node arrays of different lengths: refused from the headers."""
    n = int(np.load(rf)["value"].size)
    bad = with_member(rf, tmp_path / "short.npz", "threshold.npy", npy(np.zeros(n - 1)))
    refused(bad, rf"member threshold\.npy: its header claims shape \({n - 1},\): expected \({n},\) "
                 r"\(the nodes of left_child\)")


def test_deeply_nested_metadata_is_refused(rf, tmp_path):
    text = b"[" * 200000 + b"]" * 200000
    bad = with_member(rf, tmp_path / "deep.npz", "metadata_json.npy", npy(np.frombuffer(text, dtype=np.uint8)))
    refused(bad, r"member metadata_json\.npy: not valid JSON")


# -- driver names ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ['lc"x', "lc;x", "lc=x", "lc,x", "lc\nx", " "])
def test_driver_names_that_lists_cannot_hold_are_refused_at_fit(name):
    df = table().rename(columns={"vpd": name})
    df["site_id"] = np.arange(len(df)) % 10
    with pytest.raises(InputError, match=re.escape(f"feature field {name!r}: ")
                       + r"a driver name cannot be empty or hold '\"', ';', '=', ',' or control characters"):
        fit_upscaler(df, "ER", ["ta", "sw", name, "lc"], n_estimators=3, n_splits=2, importance_repeats=1)


@pytest.mark.parametrize("name", ["lc=x", 'lc"x'])
def test_driver_names_that_lists_cannot_hold_are_refused_at_load(rf, tmp_path, name):
    features = ["ta", "sw", name, "lc"]
    bad = rehashed(rf, tmp_path / "name.npz", {"features": features})
    refused(bad, re.escape(f"feature field {name!r}: a driver name cannot"))


def test_validate_reports_the_same(rf, tmp_path):
    bad = rehashed(rf, tmp_path / "bad.npz", {"units": {"ta": 5}})
    with pytest.raises(InputError, match="metadata field units"):
        validate_model_file(bad)


def test_zip_bomb_within_the_bounds_is_refused_by_its_compression_ratio(rf, tmp_path):
    """Without n_train_rows (older files) nodes are only bounded by MAX_NODES: a member of 24 MB of
    zeros (1000-fold compressed) is still refused before it is decompressed."""
    plain = rehashed(rf, tmp_path / "plain.npz", {"n_train_rows": None})
    bomb = zip_bomb(plain, tmp_path / "bomb.npz", n=3_000_000)
    refused(bomb, r"member left_child\.npy: 24000128 bytes compressed \d{3,}-fold \(a zip bomb")


def test_member_twice_is_refused(rf, tmp_path):
    """Two value.npy members (zipfile reads the last one, which one is meant is unclear): refused."""
    import warnings
    import zipfile
    bad = str(tmp_path / "twice.npz")
    content = members(rf)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        with zipfile.ZipFile(bad, "w") as zf:
            for name, data in content.items():
                zf.writestr(name, data)
            zf.writestr("value.npy", npy(np.full(np.load(rf)["value"].size, 42.0)))
    refused(bad, r"member value\.npy appears twice")
