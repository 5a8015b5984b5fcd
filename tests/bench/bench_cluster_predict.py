"""Benchmark: the global prediction (ecoresp_core.cube.upscaling.predict + files.write_cube to Zarr)
on a one- against a two-worker dask LocalCluster (processes, one thread each, BLAS/OpenMP threads 1,
as ``--workers N`` starts them).

    .venv/bin/python tests/bench/bench_cluster_predict.py [--quick] [--trees N] [--forest-rows N]

The model: a random forest (``upscaling.fit.fit_upscaler``, model 'rf', ``--trees`` trees, default 50)
of monthly ER (RECO_NT, g C m-2 d-1) from air temperature (TA, degC) and land cover (IGBP), fitted
on the FLUXNET2015 site-month table (tests/data/sites/fluxnet2015_site_month.csv).

The drivers, on the global 0.5-degree grid (360 x 720): TA for 1989-2018 (360 months; ``--quick``:
1989-1993, 60 months) from CRU TS 4.04 (tests/data/cru_ts4.04.1901.2019.tmp.dat.nc, variable tmp).
That test file holds only every 100th CRU cell (4 x 8 cells, 6 on land), so every 0.5-degree cell
takes the monthly series of its nearest CRU land cell, shifted by the difference of a zonal
mean-temperature profile (28 - 0.0075 lat^2 degC) between its latitude and that cell's; written
once, slab by slab, as a float32 Zarr store in a temporary folder.  Land cover and land mask:
MODIS MCD12C1 2019 (tests/data/MCD12C1_2019_IGBP_0p5deg.nc: ``igbp_dominant``, and
``land_fraction_percent`` > 0 as the land mask).

Prints the sizes, the wall time of predict + write (the counts of what is left out, then the
prediction) on each cluster, the two-worker speed-up, and whether the two Zarr outputs are
identical (bit for bit, NaN where not predicted).

``--forest-rows N`` sets ``upscaling.model.CHUNK_ROWS`` (rows walked through the trees together) in
the workers: dask.distributed starts its workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which
makes glibc map and unmap every array above 128 KiB, and the walk's arrays of 65536 rows (512 KiB
each, several per tree level) then cost a page fault per 4 KiB (the forest ~3x slower); with
16000 rows they stay in the heap.  The numbers do not depend on it.
"""

import argparse
import os
import sys
import tempfile
import time

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"  # before numpy is imported, here and in the workers (inherited)

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(REPO, "tests", "data")
sys.path[:0] = [REPO]
os.environ["PYTHONPATH"] = REPO + os.pathsep + os.environ.get("PYTHONPATH", "")

CRU = os.path.join(DATA, "cru_ts4.04.1901.2019.tmp.dat.nc")
MODIS = os.path.join(DATA, "MCD12C1_2019_IGBP_0p5deg.nc")
SITES = os.path.join(DATA, "sites", "fluxnet2015_site_month.csv")
NY, NX = 360, 720
SLAB = 30  # rows of the driver store's chunks (and of each slab written)


def fit_model(path, trees):
    """A random forest of RECO (g C m-2 d-1) from TA (degC) and IGBP on the site-month table."""
    import pandas as pd

    from ecoresp_core.upscaling.fit import fit_upscaler
    from ecoresp_core.upscaling.model import save_model
    t = pd.read_csv(SITES)
    t = t.rename(columns={"TA_F_degC": "TA", "RECO_NT_gC_m2_d": "RECO"})
    t = t[["site_id", "TA", "IGBP", "RECO"]].dropna()
    res = fit_upscaler(t, "RECO", ["TA", "IGBP"], model="rf", n_estimators=trees, n_splits=3, importance_repeats=1,
                       units={"TA": "degC"}, target_unit="g C m-2 d-1")
    save_model(res["model"], path)
    return res["model"], len(t)


def zonal(lat):
    """A zonal profile of mean annual air temperature (degC) at latitude ``lat`` (degrees)."""
    return 28.0 - 0.0075 * np.asarray(lat, dtype="float64") ** 2


def write_ta(path, first_year, months):
    """The TA driver (time, y, x) float32 on the 0.5-degree grid, from the decimated CRU file,
    written slab by slab of SLAB rows (module docstring)."""
    import dask
    import dask.array as dsa
    import pandas as pd
    import xarray as xr
    cru = xr.open_dataset(CRU)["tmp"].sel(time=slice(f"{first_year}-01-01", None)).isel(time=slice(0, months))
    assert cru.sizes["time"] == months, f"CRU file: {cru.sizes['time']} months from {first_year}"
    vals = cru.values.astype("float64")  # (t, 4, 8)
    land = np.isfinite(vals).all(axis=0)
    ci, cj = np.nonzero(land)
    clat, clon = cru["lat"].values[ci].astype("float64"), cru["lon"].values[cj].astype("float64")
    series = vals[:, ci, cj]  # (t, cells)
    y = 90 - (np.arange(NY) + 0.5) * 0.5
    x = -180 + (np.arange(NX) + 0.5) * 0.5
    dlon = np.abs(x[None, :, None] - clon[None, None, :])
    dlon = np.minimum(dlon, 360 - dlon) * np.cos(np.radians(y))[:, None, None]
    nearest = np.argmin(np.hypot(y[:, None, None] - clat[None, None, :], dlon), axis=2)  # (NY, NX)
    shift = zonal(y)[:, None] - zonal(clat)[nearest]

    def block(block_info=None):
        (_, _), (r0, r1), (_, _) = block_info[None]["array-location"]
        return (series[:, nearest[r0:r1]] + shift[None, r0:r1]).astype("float32")

    data = dsa.map_blocks(block, chunks=((months,), (SLAB,) * (NY // SLAB), (NX,)), dtype="float32",
                          meta=np.empty((0, 0, 0), "float32"))
    dates = pd.date_range(f"{first_year}-01-01", periods=months, freq="MS") + pd.Timedelta(days=14)
    da = xr.DataArray(data, dims=("time", "y", "x"), name="TA", attrs={"units": "degC"},
                      coords={"time": dates, "y": y, "x": x})
    with dask.config.set(scheduler="synchronous"):
        da.to_dataset().to_zarr(path, mode="w")
    return path


def cluster(n):
    """``n`` workers of one thread and 2 GiB as ``--workers n`` starts them (scheduler.local_cluster)."""
    from distributed import Client

    from ecoresp_core.cube.scheduler import local_cluster
    lc = local_cluster(n, 1, 2048)
    return lc, Client(lc)


def set_forest_rows(rows):
    import ecoresp_core.upscaling.model as model
    model.CHUNK_ROWS = int(rows)
    return model.CHUNK_ROWS


def run(model, ta_path, out, client, forest_rows=None):
    """Seconds of predict + write_cube (Zarr) on ``client``'s cluster; the LeftOut counts."""
    from ecoresp_core.cube.files import open_cube, open_static, write_cube
    from ecoresp_core.cube.scheduler import run_on
    from ecoresp_core.cube.upscaling import predict
    if forest_rows:
        client.run(set_forest_rows, forest_rows)
    t0 = time.perf_counter()
    with run_on(client) as where:
        drivers = {"TA": open_cube(ta_path), "IGBP": open_static(f'NETCDF:"{MODIS}":igbp_dominant')}
        mask = open_static(f'NETCDF:"{MODIS}":land_fraction_percent')
        ds = predict(model, drivers, land_mask=mask, where=where)
        acc = ds.attrs["left_out"]
        ds.attrs = {}
        write_cube(ds, out, where, "upscaling.predict")
        chunks = ds[next(iter(ds.data_vars))].chunks
    return time.perf_counter() - t0, acc, chunks


def same_zarr(a, b):
    """Whether two Zarr outputs hold the same variables with the same values (NaN = NaN), compared
    slab by slab."""
    import xarray as xr
    da, db = xr.open_zarr(a), xr.open_zarr(b)
    if sorted(da.data_vars) != sorted(db.data_vars):
        return False
    for v in da.data_vars:
        if da[v].shape != db[v].shape:
            return False
        if "time" not in da[v].dims:
            if not np.array_equal(da[v].values, db[v].values, equal_nan=True):
                return False
            continue
        for t0 in range(0, da[v].sizes["time"], 60):
            sl = {"time": slice(t0, t0 + 60)}
            if not np.array_equal(da[v].isel(sl).values, db[v].isel(sl).values, equal_nan=True):
                return False
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="60 months (1989-1993) instead of 360 (1989-2018)")
    ap.add_argument("--trees", type=int, default=50, help="trees of the random forest (default 50)")
    ap.add_argument("--forest-rows", type=int, default=None,
                    help="upscaling.model.CHUNK_ROWS in the workers (default: the module's)")
    args = ap.parse_args()
    months = 60 if args.quick else 360
    with tempfile.TemporaryDirectory(prefix="ecoresp-bench-") as tmp:
        t0 = time.perf_counter()
        model, n_rows = fit_model(os.path.join(tmp, "model.npz"), args.trees)
        t_fit = time.perf_counter() - t0
        t0 = time.perf_counter()
        ta = write_ta(os.path.join(tmp, "ta.zarr"), 1989, months)
        t_ta = time.perf_counter() - t0
        print(f"model: random forest of {args.trees} trees on {n_rows} site-months, features "
              f"{', '.join(model.encoded_features)} ({t_fit:.1f} s); TA driver {months} x {NY} x {NX} float32 "
              f"({months * NY * NX * 4 / 2 ** 20:.0f} MB, {t_ta:.1f} s to write); {os.cpu_count()} cores", flush=True)
        times = {}
        for n in (1, 2):
            lc, client = cluster(n)
            try:
                times[n], acc, chunks = run(model, ta, os.path.join(tmp, f"er{n}.zarr"), client, args.forest_rows)
            finally:
                client.close()
                lc.close()
            print(f"predict + write, {n} worker(s): {times[n]:.1f} s ({len(chunks[1])} x {len(chunks[2])} chunks of "
                  f"{max(chunks[1])} x {max(chunks[2])} cells; {acc.predicted} pixel-months predicted, "
                  f"{acc.left_out} left out, {acc.outside} flagged outside the training range; "
                  f"{acc.predicted / times[n] / 1e6:.2f} M pixel-months/s)", flush=True)
        same = same_zarr(os.path.join(tmp, "er1.zarr"), os.path.join(tmp, "er2.zarr"))
        print(f"speed-up on two workers: {times[1] / times[2]:.2f}x; one- and two-worker outputs "
              f"{'identical' if same else 'DIFFERENT'}")


if __name__ == "__main__":
    main()
