"""ecoresp:fitupscaler and ecoresp:predictupscaler through Processing: the model file, the
metrics and importance tables, raster and table prediction, and the checks before a run."""

import os

import numpy as np
import pandas as pd
import pytest
from conftest import DATA, monthly_dates, write_stack
from osgeo import gdal

pytestmark = pytest.mark.qgis
SITE_MONTH = os.path.join(DATA, "sites", "fluxnet2015_site_month.csv")
FEATURES = ["TA_F_degC", "SW_IN_F_W_m2", "VPD_F_hPa", "IGBP"]


def algs():
    from ecoresp.algorithms.fitupscaler import FitUpscalerAlgorithm
    from ecoresp.algorithms.predictupscaler import PredictUpscalerAlgorithm
    return FitUpscalerAlgorithm().create(), PredictUpscalerAlgorithm().create()  # initialised instances


def run(alg, params):
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback
    return processing.run(alg, params, feedback=QgsProcessingFeedback(), context=QgsProcessingContext())


def csv_layer(path):
    from qgis.core import QgsVectorLayer
    lyr = QgsVectorLayer(f"file://{path}?delimiter=,&detectTypes=yes", "t", "delimitedtext")
    assert lyr.isValid()
    return lyr


def read(path):
    from qgis.core import QgsVectorLayer
    lyr = QgsVectorLayer(path, "t", "ogr")
    df = pd.DataFrame([f.attributes() for f in lyr.getFeatures()], columns=lyr.fields().names())
    for c in df.columns:  # CSV fields come back as text
        num = pd.to_numeric(df[c], errors="coerce")
        if num.notna().sum() == df[c].notna().sum() and c not in ("fold",):
            df[c] = num
    return df


@pytest.fixture(scope="module")
def subset(tmp_path_factory):
    df = pd.read_csv(SITE_MONTH)
    df = df[df["frac_measured"] >= 0.2]
    sites = sorted(df["site_id"].unique())[::4]          # 44 sites: a light Processing run
    sub = df[df["site_id"].isin(sites)][["site_id", "year", "month", "RECO_NT_gC_m2_d"] + FEATURES]
    path = tmp_path_factory.mktemp("sm") / "site_month.csv"
    sub.to_csv(path, index=False)
    return str(path), sub


@pytest.fixture
def fitted(provider, subset, tmp_path):
    fit, _ = algs()
    res = run(fit, {"INPUT": csv_layer(subset[0]), "TARGET": "RECO_NT_gC_m2_d", "FEATURES": FEATURES,
                    "GROUP": "site_id", "UNITS": "TA_F_degC=degC,SW_IN_F_W_m2=W m-2,VPD_F_hPa=hPa",
                    "MODEL": 0, "FOLDS": 4, "SEED": 2, "TREES": 30, "OUTPUT": str(tmp_path / "er.npz"),
                    "METRICS": str(tmp_path / "metrics.csv"), "IMPORTANCE": str(tmp_path / "imp.csv")})
    return res, tmp_path


def test_fit_writes_model_metrics_importances(fitted):
    from ecoresp_core.upscaling.model import validate_model_file
    res, tmp = fitted
    meta = validate_model_file(res["OUTPUT"])
    assert meta["features"] == FEATURES and meta["units"]["SW_IN_F_W_m2"] == "W m-2"
    assert meta["seed"] == 2 and meta["cv"]["grouped_by"] == "site_id"
    m = read(res["METRICS"])
    assert set(m["part"]) == {"train", "test"} and {"1", "2", "3", "4", "mean", "pooled"} <= set(m["fold"].astype(str))
    test = m[(m["fold"].astype(str) == "mean") & (m["part"] == "test")].iloc[0]
    assert 0.3 < test["R2"] < 0.9 and test["RMSE"] < 2.5 and test["RMSLE"] < 0.6
    assert res["CV_R2"] == pytest.approx(test["R2"])
    assert res["CV_RMSE"] == pytest.approx(test["RMSE"])
    # the numbers are declared outputs (a model's next step can take them)
    fit, _ = algs()
    assert {"CV_R2", "CV_RMSE"} <= {o.name() for o in fit.outputDefinitions()}
    imp = read(res["IMPORTANCE"])
    assert imp["feature"].iloc[0] == "TA_F_degC" and set(imp["feature"]) == set(FEATURES)


def test_predict_table_and_rasters(fitted, subset, tmp_path):
    from ecoresp_core.upscaling.model import load_model
    from ecoresp_core.upscaling.predict import predict_table
    res, _ = fitted
    _, pred = algs()
    out = run(pred, {"MODEL": res["OUTPUT"], "TABLE": csv_layer(subset[0]),
                     "OUTPUT_TABLE": str(tmp_path / "pred.csv")})
    t = read(out["OUTPUT_TABLE"])
    expect = predict_table(load_model(res["OUTPUT"]), subset[1].reset_index(drop=True))
    np.testing.assert_allclose(t["ER_pred"].astype(float), expect["ER_pred"], rtol=1e-12)
    assert out["N_PREDICTED"] == len(subset[1])
    # rasters: 12 months of drivers on a 3 x 4 grid, land cover as IGBP codes
    rng = np.random.default_rng(0)
    dates = monthly_dates(2010, 12)
    ta = write_stack(tmp_path / "TA_F_degC.tif", rng.uniform(-5, 25, (12, 3, 4)), dates)
    sw = write_stack(tmp_path / "SW_IN_F_W_m2.tif", rng.uniform(20, 300, (12, 3, 4)), dates)
    vpd = write_stack(tmp_path / "VPD_F_hPa.tif", rng.uniform(0, 40, (12, 3, 4)), dates)
    lc = write_stack(tmp_path / "IGBP.tif", np.full((1, 3, 4), 4.0), ["lc"], dtype="Byte")  # DBF
    out = run(pred, {"MODEL": res["OUTPUT"], "DRIVERS": [ta, sw, vpd, lc],
                     "OUTPUT": str(tmp_path / "er.tif"), "OUTSIDE_SHARE": str(tmp_path / "share.tif")})
    ds = gdal.Open(out["OUTPUT"])
    assert ds.RasterCount == 12 and ds.GetRasterBand(1).GetDescription() == "2010-01-15"
    assert out["N_PREDICTED"] == 144
    er = ds.ReadAsArray()
    assert np.isfinite(er).all() and 0 < er.mean() < 10
    assert gdal.Open(out["OUTSIDE_SHARE"]).RasterCount == 1
    # wrong driver names: checked before the run, the missing driver named with what the model expects
    from qgis.core import QgsProcessingException
    with pytest.raises(QgsProcessingException, match=r"\(DRIVERS\): no driver for IGBP \[categories: [A-Z, .]+\] "
                                                     r"\(given: TA_F_degC, SW_IN_F_W_m2, VPD_F_hPa, landcover\)\. "
                                                     r"The model expects 4 driver\(s\), in this order: "
                                                     r"TA_F_degC \[degC\]; SW_IN_F_W_m2 \[W m-2\]; VPD_F_hPa \[hPa\]"):
        run(pred, {"MODEL": res["OUTPUT"], "DRIVERS": [ta, sw, vpd, lc],
                   "DRIVER_NAMES": "TA_F_degC,SW_IN_F_W_m2,VPD_F_hPa,landcover", "OUTPUT": str(tmp_path / "x.tif")})
    # a table without the needed columns
    bad = tmp_path / "bad.csv"
    subset[1].drop(columns=["VPD_F_hPa"]).to_csv(bad, index=False)
    with pytest.raises(QgsProcessingException, match=r"\(TABLE\): no driver for VPD_F_hPa \[hPa\] \(given: site_id, "):
        run(pred, {"MODEL": res["OUTPUT"], "TABLE": csv_layer(str(bad)), "OUTPUT_TABLE": str(tmp_path / "p2.csv")})


def test_tampered_model_rejected_before_the_run(provider, fitted, tmp_path):
    from qgis.core import QgsProcessingException
    res, _ = fitted
    with np.load(res["OUTPUT"], allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["threshold"] = arrays["threshold"] + 0.5
    bad = str(tmp_path / "tampered.npz")
    np.savez(bad, **arrays)
    _, pred = algs()
    with pytest.raises(QgsProcessingException, match="checksum"):
        run(pred, {"MODEL": bad, "TABLE": csv_layer(SITE_MONTH), "OUTPUT_TABLE": str(tmp_path / "p.csv")})


@pytest.mark.slow  # two qgis_process start-ups
def test_netcdf_driver_files_through_qgis_process(provider, qgis_process, subset, iberia_nc, tmp_path):
    """A multi-variable NetCDF (CRU TS Iberia, variable tas) and a static land-cover GeoTIFF given as
    DRIVER_FILES to qgis_process, as a user would; the result equals the core's prediction."""
    from ecoresp_core.jobs.predict import predict_rasters
    fit, _ = algs()
    model = str(tmp_path / "ta_lc.npz")
    run(fit, {"INPUT": csv_layer(subset[0]), "TARGET": "RECO_NT_gC_m2_d", "FEATURES": ["TA_F_degC", "IGBP"],
              "GROUP": "site_id", "MODEL": 0, "FOLDS": 3, "SEED": 3, "TREES": 10, "OUTPUT": model,
              "METRICS": str(tmp_path / "m.csv"), "IMPORTANCE": str(tmp_path / "i.csv")})
    igbp = os.path.join(DATA, "iberia", "iberia_igbp_2019.tif")
    land = os.path.join(DATA, "iberia", "iberia_land_fraction_percent.tif")
    out = str(tmp_path / "er_iberia.tif")
    proc = qgis_process("--json", "run", "ecoresp:predictupscaler", "--", f"MODEL={model}",
                        f'DRIVER_FILES=TA_F_degC=NETCDF:"{iberia_nc}":tas; IGBP={igbp}', f"LAND_MASK={land}",
                        f"OUTPUT={out}")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    from ecoresp_core.io.series import open_series
    expect_path = str(tmp_path / "core.tif")
    predict_rasters(model, {"TA_F_degC": open_series(iberia_nc, "tas"), "IGBP": igbp}, expect_path,
                    land_mask_path=land)
    ds, ref = gdal.Open(out), gdal.Open(expect_path)
    assert ds.RasterCount == 360 and ds.GetRasterBand(1).GetDescription() == "1981-01-16"
    got, want = ds.ReadAsArray(), ref.ReadAsArray()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got[np.isfinite(got)], want[np.isfinite(want)], rtol=1e-6)
    assert 200 < np.isfinite(got[0]).sum() < 330  # land cells with a known land-cover class
    assert '"sha256"' in ds.GetMetadataItem("ECORESP_MODEL")
    # a bad entry is named
    proc = qgis_process("run", "ecoresp:predictupscaler", "--", f"MODEL={model}",
                        f"DRIVER_FILES=TA_F_degC {iberia_nc}", f"OUTPUT={tmp_path / 'x.tif'}")
    assert proc.returncode != 0 and "is not name=source" in proc.stdout + proc.stderr
    assert not os.path.exists(tmp_path / "x.tif")


def test_unknown_categories_refused_left_out_or_mapped_through_qgis_process(qgis_process, tmp_path):
    """Land cover the model never saw (BSV code 16, water code 0) through qgis_process: refused with
    the counts, left out and counted (log, outputs, metadata), or mapped with a table (then equal to
    the prediction with the classes mapped to)."""
    import json

    from ecoresp_core.jobs.predict import predict_rasters
    model = os.path.join(DATA, "models", "rf_debian12.npz")  # the drivers of FEATURES
    rng = np.random.default_rng(8)
    dates = monthly_dates(2010, 12)
    paths = {"TA_F_degC": write_stack(tmp_path / "ta.tif", rng.uniform(-5, 25, (12, 3, 4)), dates),
             "SW_IN_F_W_m2": write_stack(tmp_path / "sw.tif", rng.uniform(20, 300, (12, 3, 4)), dates),
             "VPD_F_hPa": write_stack(tmp_path / "vpd.tif", rng.uniform(0, 25, (12, 3, 4)), dates),
             "IGBP": write_stack(tmp_path / "lc.tif", np.array([[[16.0] * 4, [0.0] * 4, [4.0] * 4]]), ["lc"],
                                 dtype="Byte")}
    files = "DRIVER_FILES=" + "; ".join(f"{n}={p}" for n, p in paths.items())
    out = tmp_path / "er.tif"
    proc = qgis_process("run", "ecoresp:predictupscaler", "--", f"MODEL={model}", files, "UNKNOWN_CATEGORIES=2",
                        f"OUTPUT={out}")
    text = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "Traceback" not in text, text[-2000:]
    assert ("Unknown categories (classes the model never saw) (UNKNOWN_CATEGORIES): categories the model does not "
            "know (refused): IGBP: water (0) 48, BSV (16) 48 pixel-months") in text
    assert not out.exists()
    # the default: left out, counted
    proc = qgis_process("--json", "run", "ecoresp:predictupscaler", "--", f"MODEL={model}", files, f"OUTPUT={out}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(proc.stdout)["results"]
    assert res["N_PREDICTED"] == 48 and res["N_LEFT_OUT"] == 96
    assert json.loads(res["LEFT_OUT"])["unknown_categories"] == {"IGBP": {"BSV (16)": 48, "water (0)": 48}}
    meta = json.loads(gdal.Open(str(out)).GetMetadataItem("ECORESP_LEFT_OUT"))
    assert meta["left_out"] == 96 and meta["unknown_mode"] == "leave_out"
    # mapped: BSV as OSH, water as GRA
    table = tmp_path / "mapping.csv"
    table.write_text("driver,from,to\nIGBP,BSV,OSH\nIGBP,0,GRA\n")
    mapped = tmp_path / "er_mapped.tif"
    proc = qgis_process("--json", "run", "ecoresp:predictupscaler", "--", f"MODEL={model}", files,
                        "UNKNOWN_CATEGORIES=1", f"CATEGORY_MAPPING={table}", f"OUTPUT={mapped}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(proc.stdout)["results"]
    assert res["N_PREDICTED"] == 144 and res["N_LEFT_OUT"] == 0
    as_known = write_stack(tmp_path / "lc_known.tif", np.array([[[7.0] * 4, [10.0] * 4, [4.0] * 4]]), ["lc"],
                           dtype="Byte")  # OSH, GRA, DBF
    expect = str(tmp_path / "expect.tif")
    predict_rasters(model, dict(paths, IGBP=as_known), expect)
    np.testing.assert_array_equal(gdal.Open(str(mapped)).ReadAsArray(), gdal.Open(expect).ReadAsArray())
