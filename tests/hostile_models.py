"""Hostile upscaling model files, crafted from a small valid one (tests/core/upscaling/
test_model_hostile.py and tests/qgis/test_model_files.py): a re-hashed file with edited metadata,
an .npy member whose header lies about its shape, a member that decompresses to far more than the
model needs, extra bytes after an array."""

import io
import json
import struct
import zipfile

import numpy as np

FEATURES = ["ta", "sw", "vpd", "lc"]
CATEGORIES = ["DBF", "ENF"]
N_ROWS = 200
META = {"features": FEATURES, "categorical": {"lc": CATEGORIES},
        "category_codes": {"lc": {"1": "ENF", "4": "DBF"}},
        "units": {"ta": "degC", "sw": "W m-2", "vpd": "hPa", "lc": ""},
        "ranges": {"ta": [-20.0, 30.0], "sw": [0.0, 400.0], "vpd": [0.0, 40.0]}, "target": "ER",
        "target_unit": "g C m-2 d-1", "seed": 3, "n_train_rows": N_ROWS}


def table(n=N_ROWS, seed=0):
    """A table with the model's drivers (lc as text) and an ER column."""
    import pandas as pd
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"ta": rng.uniform(-20, 30, n), "sw": rng.uniform(0, 400, n), "vpd": rng.uniform(0, 40, n),
                       "lc": rng.choice(CATEGORIES, n)})
    df["ER"] = 1.5 * np.exp(0.07 * df["ta"]) + 0.002 * df["sw"] + (df["lc"] == "ENF") + rng.normal(0, 0.2, n)
    return df


def encoded(df):
    """The model's encoded matrix: ta, sw, vpd, lc=DBF, lc=ENF."""
    return np.column_stack([df["ta"], df["sw"], df["vpd"]] + [(df["lc"] == c).astype(float) for c in CATEGORIES])


def valid_model(path, kind="rf"):
    """A small valid model file (random forest of 5 trees, or a 2-layer network) at ``path``."""
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from ecoresp_core.upscaling.model import UpscalerModel, save_model
    df = table()
    if kind == "rf":
        est = RandomForestRegressor(n_estimators=5, min_samples_leaf=2, random_state=1)
    else:
        est = Pipeline([("scale", StandardScaler()),
                        ("mlp", MLPRegressor(hidden_layer_sizes=(8,), max_iter=50, random_state=1))])
    est.fit(encoded(df), df["ER"].to_numpy())
    return str(save_model(UpscalerModel.from_estimator(est, META), path))


def members(path):
    """{member name: raw bytes} of a model file, in archive order."""
    with zipfile.ZipFile(path) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def write_members(path, content):
    """A zip (deflated) with ``content`` {member name: bytes}; returns path."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in content.items():
            zf.writestr(name, data)
    return str(path)


def npy(array):
    buf = io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    return buf.getvalue()


def npy_header(shape, descr="<i8"):
    """An .npy (format 1.0) header claiming ``shape`` and ``descr``, without data."""
    text = repr({"descr": descr, "fortran_order": False, "shape": tuple(shape)}).encode("latin1")
    pad = 64 - (10 + len(text) + 1) % 64
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text) + pad + 1) + text + b" " * pad + b"\n"


def rehashed(src, dst, meta_changes=(), arrays=None):
    """A copy of model ``src`` with metadata keys changed (a value None removes the key) and arrays
    replaced, with a re-computed checksum: what someone editing the file on purpose would write."""
    from ecoresp_core.upscaling.model import _digest
    with np.load(src, allow_pickle=False) as npz:
        meta = json.loads(npz["metadata_json"].tobytes())
        data = {k: npz[k] for k in npz.files if k not in ("metadata_json", "sha256")}
    for k, v in dict(meta_changes).items():
        if v is None:
            meta.pop(k, None)
        else:
            meta[k] = v
    data.update(arrays or {})
    meta_bytes = json.dumps(meta, sort_keys=True).encode("utf-8")
    digest = _digest(data, meta_bytes)
    np.savez_compressed(dst, metadata_json=np.frombuffer(meta_bytes, dtype=np.uint8),
                        sha256=np.frombuffer(digest.encode("ascii"), dtype=np.uint8), **data)
    return str(dst)


def with_member(src, dst, name, data):
    """A copy of model ``src`` whose member ``name`` (e.g. 'left_child.npy') holds ``data``."""
    content = members(src)
    content[name] = data
    return write_members(dst, content)


def zip_bomb(src, dst, name="left_child.npy", n=2_000_000, descr="<i8"):
    """A copy of ``src`` whose member ``name`` is a valid array of ``n`` zeros: a few kB on disk,
    ``n`` * 8 bytes once decompressed, streamed so that the test never holds it in memory."""
    content = members(src)
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zf:
        for member, data in content.items():
            if member != name:
                zf.writestr(member, data)
                continue
            with zf.open(member, "w", force_zip64=True) as fh:
                fh.write(npy_header((n,), descr))
                block = bytes(2**22)
                left = n * np.dtype(descr).itemsize
                while left > 0:
                    fh.write(block[:min(left, len(block))])
                    left -= len(block)
    return str(dst)
