"""Hostile model files given to ecoresp:predictupscaler through qgis_process, as a user would: a
message naming the model file and what is wrong, exit status 1, never a traceback or an abort
(tests/hostile_models.py crafts the files; tests/core/upscaling/test_model_hostile.py has every case)."""

import os

import pytest
from conftest import HAS_QGIS_PROCESS
from hostile_models import npy_header, rehashed, table, valid_model, with_member, zip_bomb

pytestmark = pytest.mark.skipif(not HAS_QGIS_PROCESS, reason="needs qgis_process")


def header_1e13(model, tmp_path):
    return with_member(model, tmp_path / "huge.npz", "left_child.npy", npy_header((10**13,)))


def ranges_as_dict(model, tmp_path):
    return rehashed(model, tmp_path / "ranges.npz", {"ranges": {"ta": {"min": -20, "max": 30}}})


def bomb(model, tmp_path):
    return zip_bomb(model, tmp_path / "bomb.npz", n=3_000_000)


@pytest.mark.parametrize("craft, message", [
    (header_1e13, "rejected (member left_child.npy: its header claims shape (10000000000000,): more than the 5 trees"),
    (ranges_as_dict, "rejected (metadata field ranges: 'ta' must be [min, max] (two finite numbers, min <= max), "
                     "got {'max': 30, 'min': -20})"),
    (bomb, "rejected (member left_child.npy: its header claims shape (3000000,): more than the 5 trees"),
])
def test_hostile_model_file_is_refused_with_a_message(qgis_process, tmp_path, craft, message):
    model = valid_model(tmp_path / "valid.npz")
    bad = craft(model, tmp_path)
    points = tmp_path / "points.csv"
    table(20, seed=4).drop(columns=["ER"]).to_csv(points, index=False)
    out = tmp_path / "pred.csv"
    proc = qgis_process("run", "ecoresp:predictupscaler", "--", f"MODEL={bad}", f"TABLE={points}",
                        f"OUTPUT_TABLE={out}")
    text = proc.stdout + proc.stderr
    assert proc.returncode == 1, text[-3000:]
    assert f"Upscaling model file (from Fit upscaling model) (MODEL): model file {bad}: {message}" in text, text[-3000:]
    assert "Traceback" not in text
    assert not os.path.exists(out)


def test_fit_refuses_a_feature_name_the_driver_lists_cannot_hold(qgis_process, tmp_path):
    """A field named 'vpd=x' could never be given as a driver file (name=file;...): refused when the
    model is fitted, naming the parameter and the field, before any fitting."""
    df = table().rename(columns={"vpd": "vpd=x"})
    df["site_id"] = [f"S{i % 10}" for i in range(len(df))]
    sites = tmp_path / "sites.csv"
    df.to_csv(sites, index=False)
    out = tmp_path / "never.npz"
    proc = qgis_process("run", "ecoresp:fitupscaler", "--", f"INPUT={sites}", "TARGET=ER", "FEATURES=ta",
                        "FEATURES=sw", "FEATURES=vpd=x", "GROUP=site_id", "FOLDS=2", "TREES=5", f"OUTPUT={out}")
    text = proc.stdout + proc.stderr
    assert proc.returncode == 1, text[-3000:]
    assert ("Feature fields (drivers) (FEATURES): feature field 'vpd=x': a driver name cannot be empty or hold "
            "'\"', ';', '=', ',' or control characters") in text, text[-3000:]
    assert "Traceback" not in text and "rows, 10 sites" not in text
    assert not os.path.exists(out)
