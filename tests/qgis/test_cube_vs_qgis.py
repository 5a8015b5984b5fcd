"""Issue 16: every heavy step gives the same numbers in QGIS (``qgis_process``), on dask's local
scheduler and on a two-worker dask.distributed ``LocalCluster`` (``dask_cluster`` of conftest.py), with
the inputs chunked two different ways: ``python -m ecoresp_core STEP`` with ``--chunks`` and
``--scheduler``.  Outputs are compared bit for bit (the kernels are per pixel or per site-year and
random numbers are keyed by pixel or site-year, never by chunk)."""

import os
import subprocess
import sys

import numpy as np
import pytest

from osgeo import gdal

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(REPO, "example")
ER = os.path.join(EXAMPLE, "iberia_er_monthly_example.tif")
CRU = os.path.join(EXAMPLE, "cru_ts400_iberia_1981-2010_monthly.nc")
# two chunkings of the 16 x 26 Iberian grid: small odd blocks (local threads), whole rows (cluster)
CHUNKS_LOCAL, CHUNKS_CLUSTER = "y=5,x=7", "y=3,x=26"


def two_dask_runs(dask_cluster, chunked=True):
    """(name, keywords of :func:`cli`) of the two dask runs: local threads and the session's
    two-worker cluster (its scheduler's address), chunked two ways or (``chunked=False``) as the
    step chooses."""
    address = dask_cluster.scheduler.address
    if not chunked:
        return ("local", {}), ("cluster", dict(scheduler=address))
    return ("local", dict(chunks=CHUNKS_LOCAL)), ("cluster", dict(scheduler=address, chunks=CHUNKS_CLUSTER))


def cli(step, *args, scheduler=None, chunks=None):
    """``python -m ecoresp_core STEP args`` (the interpreter of the tests); CompletedProcess."""
    cmd = [sys.executable, "-m", "ecoresp_core", step, *map(str, args)]
    if scheduler:
        cmd += ["--scheduler", scheduler]
    else:
        cmd += ["--threads", "2"]
    if chunks:
        cmd += ["--chunks", chunks]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    return proc


def raster(path):
    ds = gdal.Open(str(path))
    return ds.ReadAsArray(), [ds.GetRasterBand(i + 1).GetDescription() for i in range(ds.RasterCount)]


def assert_same_rasters(reference, *others):
    ref, names = raster(reference)
    assert np.isfinite(ref).any()
    for other in others:
        got, got_names = raster(other)
        assert got_names == names, other
        np.testing.assert_array_equal(got, ref, err_msg=str(other))


def drivers_cli():
    return ["--drivers", f'tas=NETCDF:"{CRU}":tas', f'pr=NETCDF:"{CRU}":pr']


DRIVER_FILES = f'DRIVER_FILES=tas=NETCDF:"{CRU}":tas; pr=NETCDF:"{CRU}":pr'


def run_three_ways(qgis_process, tmp_path, dask_cluster, alg, qgis_args, step, cli_args, outputs):
    """The step through qgis_process, the CLI on local threads and on the cluster; the outputs
    ``outputs`` (QGIS names -> CLI options) compared bit for bit."""
    q = {name: tmp_path / f"qgis_{name.lower()}.tif" for name in outputs}
    proc = qgis_process("run", f"ecoresp:{alg}", "--", *qgis_args, *(f"{n}={p}" for n, p in q.items()))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    for how, kw in two_dask_runs(dask_cluster):
        paths = {name: tmp_path / f"{how}_{name.lower()}.tif" for name in outputs}
        args = [a for name, opt in outputs.items() for a in (opt, paths[name])]
        out = cli(step, *cli_args, *args, **kw)
        assert ("dask.distributed cluster" if how == "cluster" else "dask local threads") in out.stdout
        for name in outputs:
            assert_same_rasters(q[name], paths[name])


def test_partial_correlation_three_ways(qgis_process, tmp_path, dask_cluster):
    run_three_ways(qgis_process, tmp_path, dask_cluster, "partialcorrelation", [f"INPUT={ER}", DRIVER_FILES],
                   "partialcorrelation", ["--input", ER, *drivers_cli()],
                   {"OUTPUT": "--output", "DOMINANT": "--dominant", "DOMINANT_R": "--dominant-r"})


def test_rf_attribution_three_ways(qgis_process, tmp_path, dask_cluster):
    forest = dict(N_TREES=30, MAX_DEPTH=4, SEED=7, MIN_VALID=10)
    run_three_ways(qgis_process, tmp_path, dask_cluster, "rfattribution",
                   [f"INPUT={ER}", DRIVER_FILES, *(f"{k}={v}" for k, v in forest.items())],
                   "rfattribution", ["--input", ER, *drivers_cli(), "--n-trees", 30, "--max-depth", 4,
                                     "--seed", 7, "--min-valid", 10],
                   {"OUTPUT": "--output", "DOMINANT": "--dominant"})


@pytest.fixture(scope="module")
def er_model(tmp_path_factory):
    """A small upscaling model of TA (CRU tas) and IGBP, fitted on a site-month table whose ER
    rises exponentially with TA and differs by land cover."""
    import pandas as pd

    from ecoresp_core.upscaling.fit import fit_upscaler
    from ecoresp_core.upscaling.model import save_model
    rng = np.random.default_rng(11)
    rows = [{"site_id": f"S{s}", "TA": ta, "IGBP": lc, "ER": np.exp(0.07 * ta) * (1.3 if lc == "ENF" else 1.0)}
            for s in range(12) for lc in [["ENF", "GRA", "CRO", "SAV"][s % 4]]
            for ta in rng.uniform(-2, 24, 30)]
    res = fit_upscaler(pd.DataFrame(rows), "ER", ["TA", "IGBP"], n_splits=3, n_estimators=25,
                       importance_repeats=1, units={"TA": "degC"}, target_unit="g C m-2 d-1")
    return str(save_model(res["model"], tmp_path_factory.mktemp("model") / "er_model.npz"))


def test_predict_and_integrate_three_ways(qgis_process, tmp_path, dask_cluster, er_model):
    igbp = os.path.join(EXAMPLE, "iberia_igbp_2019.tif")
    run_three_ways(qgis_process, tmp_path, dask_cluster, "predictupscaler",
                   [f"MODEL={er_model}", f'DRIVER_FILES=TA=NETCDF:"{CRU}":tas; IGBP={igbp}'],
                   "predict", ["--model", er_model, "--driver-files", f'TA=NETCDF:"{CRU}":tas; IGBP={igbp}'],
                   {"OUTPUT": "--output", "OUTSIDE_SHARE": "--outside-share"})
    # the totals of the QGIS prediction, by QGIS and by the command line (Pg C per year and zone)
    import pandas as pd
    er = tmp_path / "qgis_output.tif"
    land, zones = os.path.join(EXAMPLE, "iberia_land_fraction_percent.tif"), os.path.join(EXAMPLE,
                                                                                           "iberia_koppen_dominant.tif")
    proc = qgis_process("run", "ecoresp:integrate", "--", f"INPUT={er}", "UNIT=0", f"LAND_FRACTION={land}",
                        "LAND_SCALE=1", f"ZONES={zones}", f"OUTPUT={tmp_path / 'qgis_totals.csv'}")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    ref = pd.read_csv(tmp_path / "qgis_totals.csv")
    assert len(ref) > 30 and (ref["total_PgC"] > 0).all()
    for how, kw in two_dask_runs(dask_cluster):
        out = tmp_path / f"{how}_totals.csv"
        cli("integrate", "--input", er, "--unit", "gC_m2_d", "--land-fraction", land, "--land-scale", 0.01,
            "--zones", zones, "--output", out, **kw)
        got = pd.read_csv(out)
        assert list(got.columns) == list(ref.columns)
        # the same float64 totals: QGIS's CSV writer rounds them to 15-16 digits, the CLI writes all 17
        pd.testing.assert_frame_equal(got, ref, check_exact=False, rtol=5e-14, atol=0)
    # local threads and the cluster, chunked differently, agree to the last bit (all 17 digits)
    assert (tmp_path / "local_totals.csv").read_bytes() == (tmp_path / "cluster_totals.csv").read_bytes()


def test_trend_three_ways(qgis_process, tmp_path, dask_cluster):
    """Annual means of the Iberian monthly ER, Mann-Kendall with the Hamed-Rao variance correction."""
    run_three_ways(qgis_process, tmp_path, dask_cluster, "trend", [f"INPUT={ER}", "AGGREGATE=1", "VARIANT=1"],
                   "trend", ["--input", ER, "--aggregate", "mean", "--variant", "hamed_rao"],
                   {"OUTPUT": "--output", "CLASSES": "--classes"})


def test_detrend_three_ways(qgis_process, tmp_path, dask_cluster):
    run_three_ways(qgis_process, tmp_path, dask_cluster, "detrend", [f"INPUT={ER}", "METHOD=2"],
                   "detrend", ["--input", ER, "--method", "seasonal_linear"], {"OUTPUT": "--output"})


def test_partition_three_ways(qgis_process, tmp_path, dask_cluster):
    """ecoresp:partition of a FLUXNET2015 file (two site-years, NT and DT) and the batch step, one task
    per site-year, on local threads and on the cluster.  Threads and worker processes give the same
    bytes.  Against QGIS: NT to the digits QGIS's CSV writer keeps (15 significant or 16 decimals);
    DT within 1e-6 umol m-2 s-1 (measured: 4.7e-8), because a QGIS process has GSL's reference CBLAS
    (libgslcblas, linked by QGIS) loaded before OpenBLAS, so some of numpy's matrix products in
    the DT light-response fits run in another BLAS there (the same difference appears when the core
    runs inside a QgsApplication, without dask)."""
    import pandas as pd
    tower = os.path.join(REPO, "tests", "data", "flux", "FLX_DE-Tha_FLUXNET2015_zarrsubset_HH_2011-2012.csv.gz")
    q_hh, q_sum = tmp_path / "qgis_hh.csv", tmp_path / "qgis_summary.csv"
    proc = qgis_process("run", "ecoresp:partition", "--", f"INPUT={tower}", "METHODS=NT,DT", f"OUTPUT={q_hh}",
                        f"SUMMARY={q_sum}")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    ref = pd.read_csv(q_hh, parse_dates=["TIMESTAMP_START", "TIMESTAMP_END"])
    ref_sum = pd.read_csv(q_sum)
    tables = {}
    for how, kw in two_dask_runs(dask_cluster, chunked=False):
        folder = tmp_path / how
        folder.mkdir()
        cli("partition", "--input", tower, "--methods", "NT,DT", "--output-folder", folder, **kw)
        got = pd.concat([pd.read_csv(folder / f"DE-Tha_{y}_partitioned.csv",
                                     parse_dates=["TIMESTAMP_START", "TIMESTAMP_END"]) for y in (2011, 2012)],
                        ignore_index=True)
        tables[how] = b"".join((folder / f"DE-Tha_{y}_partitioned.csv").read_bytes() for y in (2011, 2012))
        assert list(got.columns) == list(ref.columns) and len(got) == len(ref) == 35088
        for column in ref.columns:
            if ref[column].dtype.kind == "f" or got[column].dtype.kind == "f":
                atol = 1e-6 if "_DT" in column else 1e-15
                np.testing.assert_allclose(got[column].astype(float), ref[column].astype(float), rtol=5e-14,
                                           atol=atol, err_msg=column)
            else:
                assert (got[column] == ref[column]).all(), column
        assert np.isfinite(got["RECO_NT"]).mean() > 0.99 and np.isfinite(got["RECO_DT"]).mean() > 0.99
        summary = pd.read_csv(folder / "partition_summary.csv")
        for column in ("RECO_NT_gC", "GPP_NT_gC", "E0_NT_K"):
            np.testing.assert_allclose(summary[column], ref_sum[column], rtol=5e-14, err_msg=column)
        for column in ("RECO_DT_gC", "GPP_DT_gC"):
            np.testing.assert_allclose(summary[column], ref_sum[column], rtol=1e-8, err_msg=column)
    assert tables["local"] == tables["cluster"]  # threads and worker processes: the same bytes
