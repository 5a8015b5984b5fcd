"""Cross-version fixtures of the upscaling model file (tests/core/upscaling/test_model_portability.py).

    python tests/data/models/make_model_fixtures.py --tag debian12

Fits three small seeded models on a few hundred rows of the real site-month table
(tests/data/sites/fluxnet2015_site_month.csv: RECO_NT from TA, SW_IN, VPD and the categorical
IGBP, one-hot encoded) through ecoresp's own path (``fit.prepare``, its encoder and metadata,
``UpscalerModel.from_estimator``, ``save_model``) and writes next to this script, per kind
(``rf``: random forest, ``gbr``: gradient boosting, ``mlp``: relu network):

- ``<kind>_<tag>.npz``: the model file, exactly as ecoresp:fitupscaler writes it;
- ``<kind>_<tag>_expected.npz``: ``X`` (the encoded input matrix, float64: held-out rows of the
  table plus, for the trees, rows with a feature set to split thresholds and their neighbours),
  ``expected`` (ecoresp's prediction on this installation), ``sklearn`` (scikit-learn's own
  ``predict`` of the fitted estimator here, ``n_jobs=1``) and ``versions`` (JSON of the library
  versions, as bytes).

For the trees ``expected`` equals ``sklearn`` bit for bit (checked here: the script stops
otherwise). For the network ``expected`` is ecoresp's BLAS-free forward pass, which scikit-learn's
BLAS matrix products match only up to rounding (checked to 1e-9 relative). The test loads every
``*_expected.npz`` here (any tag) and asserts the model file still predicts ``expected`` bit for
bit, so a file written on one Debian (numpy, scikit-learn) must predict identically on the
others. Run it once per installation with its own tag (debian12, trixie, sid, ...).
"""

import argparse
import json
import os
import sys
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path[:0] = [REPO]

TABLE = os.path.join(REPO, "tests", "data", "sites", "fluxnet2015_site_month.csv")
TARGET = "RECO_NT_gC_m2_d"
FEATURES = ["TA_F_degC", "SW_IN_F_W_m2", "VPD_F_hPa", "IGBP"]
UNITS = {"TA_F_degC": "degC", "SW_IN_F_W_m2": "W m-2", "VPD_F_hPa": "hPa", "IGBP": ""}
N_TRAIN = 400
N_TEST = 600
SEED = 0


def estimators():
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    return {
        "rf": RandomForestRegressor(n_estimators=20, min_samples_leaf=3, random_state=SEED, n_jobs=1),
        "gbr": GradientBoostingRegressor(n_estimators=40, max_depth=3, subsample=0.8, random_state=SEED),
        "mlp": Pipeline([("scale", StandardScaler()),
                         ("mlp", MLPRegressor(hidden_layer_sizes=(16, 8), activation="relu", max_iter=300,
                                              random_state=SEED))]),
    }


def tables():
    """(training rows, held-out rows, categories): every k-th complete row of the table, so the
    choice depends on no random generator."""
    import pandas as pd
    from ecoresp_core.upscaling.fit import prepare
    df = pd.read_csv(TABLE)
    rows, cats, _ = prepare(df, TARGET, FEATURES, "site_id")
    step = len(rows) // (N_TRAIN + N_TEST)
    picked = rows.iloc[::step].iloc[:N_TRAIN + N_TEST].reset_index(drop=True)
    return picked.iloc[:N_TRAIN].reset_index(drop=True), picked.iloc[N_TRAIN:].reset_index(drop=True), cats


def threshold_rows(model, X, n=200):
    """Rows of X with one feature set to a split threshold of the model, or one float32 or float64
    step either side of it (where the float32 cast and the test against a float64 threshold decide)."""
    a = model.arrays
    inner = np.nonzero(a["left_child"] != -1)[0]
    pick = inner[np.linspace(0, inner.size - 1, n // 5).astype(int)]
    out = []
    for k, node in enumerate(pick):
        f, t = int(a["feature"][node]), float(a["threshold"][node])
        t32 = np.float32(t)
        for v in (t, np.nextafter(t, -np.inf), np.nextafter(t, np.inf),
                  float(np.nextafter(t32, np.float32(-np.inf))), float(np.nextafter(t32, np.float32(np.inf)))):
            row = X[k % len(X)].copy()
            row[f] = v
            out.append(row)
    return np.asarray(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tag", required=True, help="names the installation, e.g. debian12, trixie, sid")
    ap.add_argument("--out", default=HERE, help="folder (default: next to this script)")
    args = ap.parse_args(argv)
    if not args.tag.replace("-", "").isalnum():
        ap.error("the tag may hold letters, digits and '-' only")
    from ecoresp_core.common.versions import versions
    from ecoresp_core.upscaling.fit import _Encoder, _model_for
    from ecoresp_core.upscaling.model import UpscalerModel, load_model, save_model
    train, test, cats = tables()
    enc = _Encoder(FEATURES, cats)
    X, y = enc(train), train[TARGET].to_numpy(dtype="float64")
    Xt = enc(test)
    ranges = {f: [float(train[f].min()), float(train[f].max())] for f in FEATURES if f not in cats}
    written = []
    for kind, est in estimators().items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the network's convergence warning
            est.fit(X, y)
        meta = _model_for(FEATURES, cats, UNITS, ranges, TARGET, "g C m-2 d-1",
                          {"seed": SEED, "chosen": kind, "fixture": f"make_model_fixtures.py --tag {args.tag}"})
        path = os.path.join(args.out, f"{kind}_{args.tag}.npz")
        save_model(UpscalerModel.from_estimator(est, meta), path)
        model = load_model(path)
        Xp = Xt if kind == "mlp" else np.vstack([Xt, threshold_rows(model, Xt)])
        expected = model.predict_encoded(Xp)
        sk = est.predict(Xp)
        if kind == "mlp":
            np.testing.assert_allclose(expected, sk, rtol=1e-9, atol=1e-12)
        elif not np.array_equal(expected, sk):
            raise SystemExit(f"{kind}: ecoresp's prediction differs from scikit-learn's on this installation "
                             f"({int((expected != sk).sum())} of {len(sk)} rows): not writing a fixture")
        exp_path = os.path.join(args.out, f"{kind}_{args.tag}_expected.npz")
        np.savez_compressed(exp_path, X=np.ascontiguousarray(Xp, dtype=np.float64), expected=expected,
                            sklearn=np.asarray(sk, dtype=np.float64),
                            versions=np.frombuffer(json.dumps(versions(), sort_keys=True).encode(), dtype=np.uint8))
        written += [path, exp_path]
    for p in written:
        print(f"{os.path.relpath(p, REPO)}  {os.path.getsize(p) / 1024:.0f} KB")


if __name__ == "__main__":
    main()
