"""Compare the outputs of tests/crossversion/jobs.sh from two QGIS installations.

    python tests/crossversion/compare.py DIR_A DIR_B [--tolerance REL]

Prints, per output and column (or band), the number of values compared, how many differ at all,
the largest absolute and relative difference (relative to the column's largest magnitude), and
whether missing values coincide. Exits 1 when missing values or row counts differ, or a difference
exceeds its tolerance: ``--tolerance`` (default 1e-12) for the trend, closed-form; ``--model-tolerance``
(default 1e-12) for the upscaling model's CV metrics, importances and table prediction, which the
same scikit-learn builds identically from the same seed and folds, while another scikit-learn may
grow slightly different trees (1.9 against 1.2/1.4: 0.1 % of the predictions, by up to 0.4 %);
``--fit-tolerance`` (default 1e-7) for the partitioning, whose nonlinear least-squares fits (scipy)
may stop a last iteration apart on another scipy or BLAS; their standard-error columns (``*_SE``,
``*_SE_*``) within ``SE_TOLERANCE`` (1e-5)."""

import argparse
import os
import sys

import numpy as np
import pandas as pd

TABLES = {"cv.csv": ["fold", "part"], "importance.csv": ["feature"], "predicted.csv": None,
          "partitioned.csv": None, "summary.csv": None}
FITTED = ("partitioned.csv", "summary.csv")  # nonlinear fits: --fit-tolerance
#: standard errors of the fits (curvature SEs from a pseudo-inverse, SDs of bootstrap replicates) are
#: second-order quantities: another scipy/BLAS moves them by up to ~1e-6 relative (QGIS 3.40 against
#: 3.22: JOINT_GAMMA_SE 9.5e-7) while every estimate and interval stays within --fit-tolerance
SE_TOLERANCE = 1e-5


def _is_se(col):
    return col.endswith("_SE") or "_SE_" in col
MODEL = ("cv.csv", "importance.csv", "predicted.csv")  # scikit-learn fits: --model-tolerance


def _raster(path):
    from osgeo import gdal
    ds = gdal.Open(path)
    out = {}
    for i in range(ds.RasterCount):
        b = ds.GetRasterBand(i + 1)
        out[b.GetDescription() or f"band {i + 1}"] = b.ReadAsArray().astype("float64").ravel()
    return out


def _table(path, keys):
    df = pd.read_csv(path)
    if keys:
        df = df.sort_values(keys).reset_index(drop=True)
    return {c: pd.to_numeric(df[c], errors="coerce").to_numpy("float64") for c in df.columns
            if pd.api.types.is_numeric_dtype(df[c])}


def compare(a, b, tolerance, fit_tolerance, model_tolerance):
    rows, bad = [], []
    names = ["trend.tif"] + list(TABLES)
    for name in names:
        pa, pb = os.path.join(a, name), os.path.join(b, name)
        if not (os.path.exists(pa) and os.path.exists(pb)):
            bad.append(f"{name}: missing in {'A' if not os.path.exists(pa) else 'B'}")
            continue
        ca = _raster(pa) if name.endswith(".tif") else _table(pa, TABLES[name])
        cb = _raster(pb) if name.endswith(".tif") else _table(pb, TABLES[name])
        for col in ca:
            if col not in cb:
                bad.append(f"{name}:{col}: missing in B")
                continue
            x, y = ca[col], cb[col]
            if x.shape != y.shape:
                bad.append(f"{name}:{col}: {x.size} values in A, {y.size} in B")
                continue
            nx, ny = np.isnan(x), np.isnan(y)
            both = ~nx & ~ny
            d = np.abs(x[both] - y[both])
            scale = max(np.max(np.abs(x[both])) if both.any() else 0.0, 1e-300)
            rel = float(d.max() / scale) if d.size else 0.0
            row = dict(output=name, column=col, n=int(both.sum()), n_differing=int((d > 0).sum()),
                       max_abs=float(d.max()) if d.size else 0.0, max_rel=rel,
                       nan_mismatch=int((nx != ny).sum()))
            rows.append(row)
            tol = fit_tolerance if name in FITTED else model_tolerance if name in MODEL else tolerance
            if name in FITTED and _is_se(col):
                tol = max(tol, SE_TOLERANCE)
            if row["nan_mismatch"] or rel > tol:
                bad.append(f"{name}:{col}: max relative difference {rel:.3g}, "
                           f"{row['nan_mismatch']} missing-value mismatches")
    return pd.DataFrame(rows), bad


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--tolerance", type=float, default=1e-12)
    ap.add_argument("--fit-tolerance", type=float, default=1e-7)
    ap.add_argument("--model-tolerance", type=float, default=1e-12)
    ns = ap.parse_args(argv)
    for d in (ns.a, ns.b):
        v = os.path.join(d, "versions.txt")
        print(f"{d}: {open(v).read().strip() if os.path.exists(v) else '?'}")
    table, bad = compare(ns.a, ns.b, ns.tolerance, ns.fit_tolerance, ns.model_tolerance)
    with pd.option_context("display.max_rows", 500, "display.width", 160):
        print(table.to_string(index=False))
    summary = table.groupby("output").agg(values=("n", "sum"), differing=("n_differing", "sum"),
                                          max_rel=("max_rel", "max"))
    print(summary.to_string())
    for line in bad:
        print("DIFFERS:", line)
    print("compare: " + ("the same within the tolerance" if not bad else f"{len(bad)} columns differ"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
