"""Benchmark of ecoresp_core.jobs.predict.predict_rasters (the ecoresp:predictupscaler core).

    python tests/bench/bench_upscaler.py [--quick]

A random forest (100 trees, min_samples_leaf 3) is fitted on the real FLUXNET2015 site-month
table (tests/data/sites, RECO_NT from TA, SW_IN, VPD, IGBP). The drivers are SYNTHETIC but
realistic monthly fields on the 0.5-degree global grid (360 x 720) for 30 years (360 months):
air temperature (degC, latitude and season with noise), incoming short-wave radiation (W m-2,
from solar declination), VPD (hPa, from e_sat(T) and a relative-humidity field), plus a static
IGBP land-cover raster (codes), on the real GLOBE land mask (tests/data, land fraction >= 0.5).
Measured in the same run:
- ours: predict_rasters block by block within a 512 MB budget (reading the GeoTIFFs, encoding,
  predicting the land pixel-months, writing the 360-band GeoTIFF), rows (pixel-months) per second;
- sklearn: RandomForestRegressor.predict of the same forest on an in-memory matrix of the same
  drivers (1 M rows), with n_jobs=1 and n_jobs=2;
and the ratios, plus the peak RSS of the process (resource.getrusage) right after our run (the
driver files are written by a child process; GDAL's block cache is set to 256 MB).
``run(quick=False)`` returns a dict of the figures.
"""

import os
import resource
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [REPO]

DATA = os.path.join(REPO, "tests", "data")
FEATURES = ["TA_F_degC", "SW_IN_F_W_m2", "VPD_F_hPa", "IGBP"]
GDAL_CACHE_MB = 256  # GDAL's block cache (default 5 % of RAM) is a process setting; QGIS has its own


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def land_mask(ny, nx):
    from osgeo import gdal
    ds = gdal.Open(f'NETCDF:"{DATA}/climate_zones_landmask_0p5deg.nc":land_fraction_globe')
    lf = ds.ReadAsArray().astype("float64")
    if (ny, nx) != lf.shape:
        lf = lf[:: lf.shape[0] // ny, :: lf.shape[1] // nx][:ny, :nx]
    return np.isfinite(lf) & (lf >= 0.5)


def e_sat_hpa(t):
    return 6.1078 * np.exp(17.27 * t / (t + 237.3))


def month_fields(i, lat, rng, rh, ny, nx):
    """TA (degC), SW (W m-2), VPD (hPa) of month i (0 = 1989-01)."""
    m = i % 12
    year = i // 12
    season = np.cos(2 * np.pi * (m - 6.5) / 12.0)  # +1 in July
    la = np.abs(lat)[:, None]
    ta = (30 * np.cos(np.radians(lat))[:, None] - 8 + 0.38 * la * season * np.sign(lat)[:, None]
          + 0.02 * year + rng.normal(0, 1.5, (ny, nx)))
    decl = 23.44 * np.sin(2 * np.pi * (m - 2.7) / 12.0)
    sw = np.clip(0.75 * 420 * np.cos(np.radians(lat - decl)), 5, None)[:, None] * rng.uniform(0.6, 1.0, (ny, nx))
    vpd = e_sat_hpa(ta) * (1 - rh)
    return ta.astype("float32"), sw.astype("float32"), vpd.astype("float32")


def igbp_codes(lat, ny, nx, rng):
    la = np.abs(lat)[:, None] * np.ones((1, nx))
    r = rng.random((ny, nx))
    code = np.where(la < 12, np.where(r < 0.6, 2, 9),                       # EBF / SAV
           np.where(la < 30, np.where(r < 0.5, 7, 10),                      # OSH / GRA
           np.where(la < 50, np.select([r < 0.35, r < 0.7], [4, 12], 5),    # DBF / CRO / MF
           np.where(la < 65, np.where(r < 0.7, 1, 11), 7))))                # ENF / WET ; OSH
    return code.astype("float32")


def write_drivers(folder, ny, nx, nt, seed=1):
    from osgeo import gdal, osr
    rng = np.random.default_rng(seed)
    lat = 90 - (np.arange(ny) + 0.5) * 180.0 / ny
    rh = np.clip(0.65 + 0.15 * np.cos(np.radians(lat))[:, None] + rng.normal(0, 0.08, (ny, nx)), 0.2, 0.95)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    gt = (-180, 360.0 / nx, 0, 90, 0, -180.0 / ny)
    paths, dss = {}, {}
    for name in FEATURES[:3]:
        paths[name] = os.path.join(folder, f"{name}.tif")
        ds = gdal.GetDriverByName("GTiff").Create(paths[name], nx, ny, nt, gdal.GDT_Float32,
                                                  ["INTERLEAVE=PIXEL", "BIGTIFF=YES"])
        ds.SetGeoTransform(gt)
        ds.SetProjection(srs.ExportToWkt())
        dss[name] = ds
    for i in range(nt):
        fields = month_fields(i, lat, rng, rh, ny, nx)
        for name, arr in zip(FEATURES[:3], fields):
            b = dss[name].GetRasterBand(i + 1)
            b.SetDescription(f"{1989 + i // 12}-{i % 12 + 1:02d}-15")
            b.SetNoDataValue(-9999)
            b.WriteArray(arr)
    dss.clear()
    for name, arr in (("IGBP", igbp_codes(lat, ny, nx, rng)), ("land", land_mask(ny, nx).astype("float32"))):
        paths[name] = os.path.join(folder, f"{name}.tif")
        ds = gdal.GetDriverByName("GTiff").Create(paths[name], nx, ny, 1, gdal.GDT_Byte)
        ds.SetGeoTransform(gt)
        ds.SetProjection(srs.ExportToWkt())
        ds.GetRasterBand(1).WriteArray(arr)
        ds = None
    return paths


def fit_model():
    import pandas as pd
    from sklearn.ensemble import RandomForestRegressor
    from ecoresp_core.upscaling.fit import _Encoder, _model_for, prepare
    from ecoresp_core.upscaling.model import UpscalerModel
    df = pd.read_csv(os.path.join(DATA, "sites", "fluxnet2015_site_month.csv"))
    df = df[df["frac_measured"] >= 0.2]
    rows, cats, _ = prepare(df, "RECO_NT_gC_m2_d", FEATURES, "site_id")
    X = _Encoder(FEATURES, cats)(rows)
    est = RandomForestRegressor(n_estimators=100, min_samples_leaf=3, random_state=0, n_jobs=2)
    est.fit(X, rows["RECO_NT_gC_m2_d"].to_numpy())
    ranges = {f: [float(rows[f].min()), float(rows[f].max())] for f in FEATURES[:3]}
    meta = _model_for(FEATURES, cats, {}, ranges, "RECO_NT_gC_m2_d", "g C m-2 d-1")
    return est, UpscalerModel.from_estimator(est, meta)


def run(quick=False):
    import subprocess
    from osgeo import gdal
    from ecoresp_core.io.series import open_series
    from ecoresp_core.jobs.inputs import open_driver
    from ecoresp_core.jobs.predict import predict_rasters
    ny, nx, nt = (90, 180, 36) if quick else (360, 720, 360)
    gdal.SetCacheMax(GDAL_CACHE_MB * 2 ** 20)
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        t0 = time.perf_counter()
        # the driver files are written by a child process, so that writing them does not count
        # in this process's peak memory
        subprocess.run([sys.executable, os.path.abspath(__file__), "--write", tmp, str(ny), str(nx), str(nt)],
                       check=True)
        paths = {f: os.path.join(tmp, f"{f}.tif") for f in FEATURES + ["land"]}
        t_write = time.perf_counter() - t0
        est, model = fit_model()
        drivers = {f: open_series(paths[f]) for f in FEATURES[:3]}
        drivers["IGBP"] = open_driver(paths["IGBP"], "IGBP")
        out = os.path.join(tmp, "er.tif")
        share = os.path.join(tmp, "outside.tif")
        # sklearn's own predict on the same forest, same drivers in memory (1 M land pixel-months),
        # timed before and after our run (the machine is shared: the mean of both is the peer)
        n_sample = 1_000_000
        k = min(nt, n_sample // int(land_mask(ny, nx).sum()) + 1)
        cols = {f: gdal.Open(paths[f]).ReadAsArray(band_list=list(range(1, k + 1))).astype("float32")
                for f in FEATURES[:3]}
        cols["IGBP"] = np.broadcast_to(drivers["IGBP"].read_rows(0, ny)[None], cols[FEATURES[0]].shape)
        land = np.broadcast_to(land_mask(ny, nx)[None], cols[FEATURES[0]].shape)
        X, ok, _ = model.encode_columns({f: a[land] for f, a in cols.items()}, int(land.sum()))
        X = np.ascontiguousarray(X[ok][:n_sample], dtype=np.float32)
        del cols, land
        sk = {1: [], 2: []}
        core = {1: [], 2: []}  # our tree evaluation on the same in-memory matrix

        def sklearn_rates():
            for nj in (1, 2):
                est.set_params(n_jobs=nj)
                t0 = time.perf_counter()
                est.predict(X)
                sk[nj].append(len(X) / (time.perf_counter() - t0))
                model.n_threads = nj
                t0 = time.perf_counter()
                model.predict_encoded(X)
                core[nj].append(len(X) / (time.perf_counter() - t0))
        sklearn_rates()
        t0 = time.perf_counter()
        stats = predict_rasters(model, drivers, out, land_mask_path=paths["land"],
                                outside_share_path=share, budget_mb=512, n_threads=2)
        t_ours = time.perf_counter() - t0
        peak = peak_mb()
        rows = stats["predicted"]
        sklearn_rates()
        print(f"sklearn rows/s before / after our run: n_jobs=1 {sk[1][0]:,.0f} / {sk[1][1]:,.0f}, "
              f"n_jobs=2 {sk[2][0]:,.0f} / {sk[2][1]:,.0f}")
        sk = {nj: float(np.mean(v)) for nj, v in sk.items()}
        core = {nj: float(np.mean(v)) for nj, v in core.items()}
    ours = rows / t_ours
    print(f"grid {ny} x {nx}, {nt} months, 4 drivers (synthetic, see docstring); {rows} land pixel-months "
          f"predicted in {stats['blocks']} blocks; driver files written in {t_write:.1f} s")
    print(f"ours (predict_rasters, block-wise, read+predict+write, 2 threads): {ours:,.0f} rows/s ({t_ours:.1f} s)")
    print(f"sklearn RandomForestRegressor.predict in memory: n_jobs=1 {sk[1]:,.0f} rows/s, "
          f"n_jobs=2 {sk[2]:,.0f} rows/s")
    print(f"ratio ours / sklearn: {ours / sk[1]:.2f} (n_jobs=1), {ours / sk[2]:.2f} (n_jobs=2); "
          f"peak RSS {peak:.0f} MB (budget 512 MB for blocks, GDAL cache {GDAL_CACHE_MB} MB)")
    print(f"same in-memory matrix, our tree evaluation (model.predict_encoded) / sklearn predict: "
          f"{core[1] / sk[1]:.2f} (1 thread), {core[2] / sk[2]:.2f} (2 threads); the job's remaining "
          f"cost is reading, encoding and writing the rasters")
    return {"rows": rows, "ours_rows_s": ours, "sklearn_rows_s_1": sk[1], "sklearn_rows_s_2": sk[2],
            "ratio_1": ours / sk[1], "ratio_2": ours / sk[2], "peak_mb": peak, "seconds": t_ours,
            "core_ratio_1": core[1] / sk[1], "core_ratio_2": core[2] / sk[2]}


if __name__ == "__main__":
    if sys.argv[1:2] == ["--write"]:
        write_drivers(sys.argv[2], *(int(v) for v in sys.argv[3:6]))
    else:
        run(quick="--quick" in sys.argv)
