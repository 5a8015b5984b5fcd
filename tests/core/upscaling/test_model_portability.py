"""Model files predict the same on every supported installation (Debian 12 / 13 / sid: numpy 1 and 2,
scikit-learn 1.2 .. 1.9): the committed fixtures in tests/data/models, written by
``make_model_fixtures.py --tag TAG`` on each installation, must be predicted bit for bit here,
whatever installation this is (no scikit-learn involved in the prediction)."""

import glob
import json
import os

import numpy as np
import pytest

from ecoresp_core.upscaling.model import FORMAT_VERSION, load_model

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                        "data", "models")
EXPECTED = sorted(glob.glob(os.path.join(FIXTURES, "*_expected.npz")))


def test_fixtures_present():
    kinds = {os.path.basename(p).split("_")[0] for p in EXPECTED}
    assert kinds >= {"rf", "gbr", "mlp"}, f"model fixtures missing in {FIXTURES}: found {EXPECTED}"


@pytest.mark.parametrize("expected_path", EXPECTED, ids=[os.path.basename(p)[:-len("_expected.npz")] for p in EXPECTED])
def test_fixture_predicts_bit_identically(expected_path):
    model_path = expected_path[:-len("_expected.npz")] + ".npz"
    with np.load(expected_path, allow_pickle=False) as z:
        X, expected, sk = z["X"], z["expected"], z["sklearn"]
        written_with = json.loads(z["versions"].tobytes())
    model = load_model(model_path)
    assert model.meta["format_version"] <= FORMAT_VERSION
    assert expected.dtype == np.float64 and X.shape == (len(expected), len(model.encoded_features))
    got = model.predict_encoded(X)
    assert got.dtype == np.float64
    # bit for bit (also the sign of zeros): a model must not change its numbers between installations
    same = got.view(np.uint64) == expected.view(np.uint64)
    assert same.all(), (f"{os.path.basename(model_path)} (written with {written_with}): {int((~same).sum())} of "
                        f"{len(same)} predictions differ, max |diff| {np.max(np.abs(got - expected)):.3g}")
    m2 = load_model(model_path)
    m2.n_threads = 2
    assert np.array_equal(m2.predict_encoded(X), expected)
    if model.kind in ("rf", "gbr"):
        assert np.array_equal(expected, sk)  # as scikit-learn's own predict where the fixture was written
    else:
        np.testing.assert_allclose(expected, sk, rtol=1e-9, atol=1e-12)  # BLAS: rounding only
