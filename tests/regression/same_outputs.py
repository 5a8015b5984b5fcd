"""Are the outputs of two versions of ecoresp bit-identical?  (issue 11: a refactor changes no number)

    python tests/regression/same_outputs.py run OUT        # demo + bench-input jobs into OUT
    python tests/regression/same_outputs.py compare A B    # exit 1 unless every output is the same

``run`` executes, through qgis_process as a user would:
  * the demo (tests/demo/run_demo.sh): partitioning, trends, detrending, the whole chain model;
  * the bench inputs (tests/bench, quick sizes): the trend cube of bench_trend_core, the known-driver
    cube of bench_attribution (partial correlation and random-forest attribution) and the driver
    rasters of bench_upscaler (fit on the FLUXNET2015 site-month table, then raster prediction).

``compare`` walks every output of A and requires the same file in B with
  * rasters (.tif, .nc): the same bands, band names, nodata and bit-identical pixels (NaN == NaN),
    and the same metadata apart from the versions and paths in the provenance and GDAL's cached
    statistics;
  * tables (.csv, .gpkg attributes): identical cells; models (.npz): identical arrays;
  * styles (.qml) and text: identical text once temporary paths and times are removed.
Reports (.html) and qgis_process answers (.json, .log) hold times and paths and are not compared.
"""

import json
import os
import re
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
QP = os.path.join(REPO, ".ci", "qgis_process.sh")
SKIP = (".html", ".json", ".log", ".md", ".aux.xml")


def _qp(out, alg, *repeated, **params):
    """Run ecoresp:ALG; ``repeated`` are (KEY, value) pairs for multiple-layer parameters."""
    pairs = list(repeated) + list(params.items())
    args = [QP, "run", f"ecoresp:{alg}", "--"] + [f"{k}={v}" for k, v in pairs]
    p = subprocess.run(args, capture_output=True, text=True, cwd=REPO)
    with open(os.path.join(out, f"{alg}.log"), "w") as f:
        f.write(p.stdout + p.stderr)
    if p.returncode:
        raise SystemExit(f"{alg} failed:\n{p.stdout[-2000:]}{p.stderr[-2000:]}")


def run_bench_jobs(out):
    sys.path.insert(0, os.path.join(REPO, "tests", "bench"))
    sys.path.insert(0, REPO)
    from bench_attribution import M, known_driver_cube
    from bench_trend_core import synthetic_cube
    from bench_upscaler import FEATURES
    from run_bench import write_geotiff
    os.makedirs(out, exist_ok=True)
    # trend cube of bench_trend_core (quick size), annual bands
    write_geotiff(os.path.join(out, "cube.tif"), synthetic_cube(30, 90, 180))
    _qp(out, "trend", INPUT=os.path.join(out, "cube.tif"), OUTPUT=os.path.join(out, "trend.tif"),
        CLASSES=os.path.join(out, "trend_classes.tif"), MIN_VALID=10)
    # known-driver cube of bench_attribution (quick size)
    er, drivers, _ = known_driver_cube(30, 90, 180)
    write_geotiff(os.path.join(out, "er.tif"), er)
    paths = []
    for j in range(M):
        paths.append(os.path.join(out, f"x{j + 1}.tif"))
        write_geotiff(paths[-1], drivers[j])
    names = ",".join(f"x{j + 1}" for j in range(M))
    layers = [("DRIVERS", p) for p in paths]
    _qp(out, "partialcorrelation", *layers, INPUT=os.path.join(out, "er.tif"),
        DRIVER_NAMES=names, MODE=2, OUTPUT=os.path.join(out, "pc.tif"), DOMINANT=os.path.join(out, "pc_dom.tif"),
        DOMINANT_R=os.path.join(out, "pc_dom_r.tif"))
    _qp(out, "rfattribution", *layers, INPUT=os.path.join(out, "er.tif"), DRIVER_NAMES=names,
        MODE=2, SEED=42, N_TREES=20, OUTPUT=os.path.join(out, "rf.tif"), DOMINANT=os.path.join(out, "rf_dom.tif"))
    # driver rasters of bench_upscaler (quick size); the model fitted on the site-month table
    drv = os.path.join(out, "drivers")
    os.makedirs(drv, exist_ok=True)
    subprocess.run([sys.executable, os.path.join(REPO, "tests", "bench", "bench_upscaler.py"), "--write", drv,
                    "45", "90", "24"], check=True, cwd=REPO)
    _qp(out, "fitupscaler", INPUT="tests/data/sites/fluxnet2015_site_month.csv", TARGET="RECO_NT_gC_m2_d",
        FEATURES=";".join(FEATURES), FILTER='to_real("frac_measured") >= 0.2', GROUP="site_id", SEED=1,
        TREES=30, OUTPUT=os.path.join(out, "er_model.npz"), METRICS=os.path.join(out, "cv.csv"),
        IMPORTANCE=os.path.join(out, "importance.csv"))
    _qp(out, "predictupscaler", *[("DRIVERS", os.path.join(drv, f"{f}.tif")) for f in FEATURES],
        MODEL=os.path.join(out, "er_model.npz"),
        DRIVER_NAMES=",".join(FEATURES), LAND_MASK=os.path.join(drv, "land.tif"),
        OUTPUT=os.path.join(out, "er_pred.tif"), OUTSIDE_SHARE=os.path.join(out, "er_outside.tif"))


def run(out):
    os.makedirs(out, exist_ok=True)
    subprocess.run(["bash", "tests/demo/run_demo.sh", os.path.join(os.path.abspath(out), "demo")], check=True,
                   cwd=REPO)
    run_bench_jobs(os.path.join(os.path.abspath(out), "bench"))


def _clean_meta(md):
    out = {}
    for k, v in md.items():
        # versions differ by nature; STATISTICS_* is GDAL's cache of min/max/mean/SD of the pixels
        # (compared bit for bit anyway), present only when something (QGIS loading the layer as an
        # input of the next step) happened to compute it before the process ended
        if k == "ECORESP_VERSIONS" or k.startswith("STATISTICS_"):
            continue
        out[k] = _clean_text(v)
    return out


def _clean_text(s):
    s = re.sub(r"/tmp/processing_\w+/\w+/", "<TMP>/", s)
    s = re.sub(r"/[^\s\"',;]*?(demo|bench|snap[^/]*)/", "<OUT>/", s)
    s = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?", "<TIME>", s)
    return s


def _clean_json(s):
    try:
        d = json.loads(s)
    except ValueError:
        return _clean_text(s)
    if isinstance(d, dict):
        d = {k: v for k, v in d.items() if "version" not in k.lower()}
    return _clean_text(json.dumps(d, sort_keys=True))


def _close(a, b):
    if isinstance(a, dict) and isinstance(b, dict):
        # a model's sha256 covers its metadata, and so the noise in its CV metrics
        return a.keys() == b.keys() and all(k == "sha256" or _close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(u, v) for u, v in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and a != b:
        if abs(a - b) <= 1e-13 * max(1.0, abs(a), abs(b)):
            ULP_NOTES.append("metadata")
            return True
    return a == b


def _json_close(x, y):
    """Equal strings, or JSON documents equal apart from run-to-run noise (see _same_within_ulp)."""
    if x == y:
        return True
    try:
        return _close(json.loads(x), json.loads(y))
    except (TypeError, ValueError):
        return False


def _raster(path):
    from osgeo import gdal
    ds = gdal.Open(path)
    bands = []
    for i in range(ds.RasterCount):
        b = ds.GetRasterBand(i + 1)
        bands.append((b.GetDescription(), repr(b.GetNoDataValue()), _clean_meta(b.GetMetadata()), b.ReadAsArray()))
    return ds.GetGeoTransform(), _clean_meta(ds.GetMetadata()), bands


def _same_array(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind == "f":
        return bool(np.array_equal(a.view(f"u{a.itemsize}"), b.view(f"u{b.itemsize}"))
                    or np.array_equal(a, b, equal_nan=True))
    return bool(np.array_equal(a, b))


def compare_file(pa, pb):
    """None when the same, else what differs."""
    ext = os.path.splitext(pa)[1].lower()
    if ext in (".tif", ".nc"):
        ga, ma, ba = _raster(pa)
        gb, mb, bb = _raster(pb)
        if ga != gb:
            return "geotransform"
        keys = sorted(k for k in set(ma) | set(mb) if not _json_close(ma.get(k), mb.get(k)))
        if keys:
            return f"metadata {keys}"
        if len(ba) != len(bb):
            return f"{len(ba)} vs {len(bb)} bands"
        for i, (x, y) in enumerate(zip(ba, bb)):
            if x[:3] != y[:3]:
                return f"band {i + 1} name/nodata/metadata"
            if not _same_array(x[3], y[3]):
                d = np.nanmax(np.abs(x[3].astype("float64") - y[3].astype("float64")))
                return f"band {i + 1} ({x[0]}) pixels differ, max |diff| {d:g}"
        return None
    if ext == ".npz":
        a, b = np.load(pa, allow_pickle=False), np.load(pb, allow_pickle=False)
        if sorted(a.files) != sorted(b.files):
            return "arrays"
        for k in a.files:
            x, y = a[k], b[k]
            if k == "sha256":  # covers the metadata: see _close
                continue
            if k.endswith("_json"):  # JSON metadata (bytes): paths and versions differ by nature
                x, y = _clean_json(x.tobytes().decode()), _clean_json(y.tobytes().decode())
                if not _json_close(x, y):
                    return f"{k}: {x[:200]} vs {y[:200]}"
                continue
            if not _same_array(x, y):
                return f"array {k}"
        return None
    if ext == ".gpkg":
        from osgeo import ogr
        ra, rb = [], []
        for p, rows in ((pa, ra), (pb, rb)):
            ds = ogr.Open(p)
            for li in range(ds.GetLayerCount()):
                lyr = ds.GetLayerByIndex(li)
                for f in lyr:
                    g = f.GetGeometryRef()
                    rows.append((lyr.GetName(), json.dumps(f.items(), sort_keys=True, default=str),
                                 g.ExportToWkt() if g else None))
        return None if ra == rb else "features differ"
    with open(pa, "rb") as f:
        ta = f.read()
    with open(pb, "rb") as f:
        tb = f.read()
    if ta == tb:
        return None
    try:
        la = [ln for ln in _clean_text(ta.decode()).splitlines() if "versions" not in ln.lower()]
        lb = [ln for ln in _clean_text(tb.decode()).splitlines() if "versions" not in ln.lower()]
    except UnicodeDecodeError:
        return "bytes differ"
    if la == lb:
        return None
    if len(la) != len(lb):
        return f"{len(la)} vs {len(lb)} lines"
    for i, (x, y) in enumerate(zip(la, lb)):
        if x != y and not _same_within_ulp(x, y):
            return f"line {i + 1}: {x[:120]!r} vs {y[:120]!r}"
    ULP_NOTES.append(os.path.basename(pa))
    return None


ULP_NOTES = []


def _same_within_ulp(x, y):
    """Text lines equal apart from numbers a few units in the last place apart: scikit-learn averages
    the trees of a forest fitted with n_jobs > 1 in the order the threads finish, so two runs of the
    SAME code differ there (measured: cv_metrics.csv of the demo, 2e-17 on a bias of 2e-3)."""
    fx, fy = x.split(","), y.split(",")
    if len(fx) != len(fy):
        return False
    for u, v in zip(fx, fy):
        if u == v:
            continue
        try:
            a, b = float(u), float(v)
        except ValueError:
            return False
        if abs(a - b) > 1e-13 * max(1.0, abs(a), abs(b)):
            return False
    return True


def compare(a, b):
    n, bad = 0, []
    for root, _, files in os.walk(a):
        for name in sorted(files):
            if name.endswith(SKIP):
                continue
            pa = os.path.join(root, name)
            rel = os.path.relpath(pa, a)
            pb = os.path.join(b, rel)
            n += 1
            if not os.path.exists(pb):
                bad.append(f"{rel}: missing in {b}")
                continue
            why = compare_file(pa, pb)
            if why:
                bad.append(f"{rel}: {why}")
    for line in bad:
        print("DIFFERENT", line)
    for name in sorted(set(ULP_NOTES)):
        print(f"note: {name}: numbers equal to the printed digits but the last (run-to-run noise of "
              f"threaded forest averaging)")
    print(f"{n} outputs compared, {n - len(bad)} identical, {len(bad)} different")
    return 1 if bad or n == 0 else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "run":
        run(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "compare":
        sys.exit(compare(sys.argv[2], sys.argv[3]))
    else:
        raise SystemExit(__doc__)
