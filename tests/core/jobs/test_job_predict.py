"""Prediction on rasters equals prediction on the same pixels as a table; masks, the share of
months outside the training range, and every bad-input case."""

import numpy as np
import pandas as pd
import pytest
from conftest import monthly_dates, training_table, write_stack
from osgeo import gdal

from ecoresp_core.errors import Cancelled, InputError
from ecoresp_core.io.series import open_series
from ecoresp_core.upscaling.fit import fit_upscaler
from ecoresp_core.upscaling.model import load_model, save_model
from ecoresp_core.jobs.inputs import open_driver
from ecoresp_core.jobs.predict import predict_rasters
from ecoresp_core.upscaling.predict import predict_table

NT, NY, NX = 24, 6, 7
DATES = monthly_dates(2001, NT)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    res = fit_upscaler(training_table(), "ER", ["TA", "SW", "IGBP"], n_splits=3, n_estimators=20,
                       importance_repeats=1, units={"TA": "degC", "SW": "W m-2"}, target_unit="g C m-2 d-1")
    return save_model(res["model"], tmp_path_factory.mktemp("m") / "model.npz")


@pytest.fixture
def rasters(tmp_path):
    rng = np.random.default_rng(3)
    ta = rng.uniform(-10, 32, (NT, NY, NX))   # partly outside the training range (-5..25)
    sw = rng.uniform(20, 300, (NT, NY, NX))
    ta[0, 0, 0] = np.nan
    lc = np.array([[1, 4, 10, 4, 1, 10, 0]] * NY, dtype=float)  # 0 = water: unknown category
    paths = {"TA": write_stack(tmp_path / "ta.tif", ta, DATES, nodata=-9999),
             "SW": write_stack(tmp_path / "sw.tif", sw, DATES, nodata=-9999),
             "IGBP": write_stack(tmp_path / "lc.tif", lc[None], ["static"], dtype="Byte")}
    mask = np.ones((1, NY, NX))
    mask[0, -1, :] = 0
    paths["mask"] = write_stack(tmp_path / "mask.tif", mask, ["mask"], dtype="Byte")
    return paths, ta, sw, lc


def drivers(paths):
    return {"TA": open_series(paths["TA"]), "SW": open_series(paths["SW"]), "IGBP": open_driver(paths["IGBP"], "IGBP")}


def read_all(path):
    ds = gdal.Open(path)
    return ds.ReadAsArray().astype("float64"), [ds.GetRasterBand(i + 1).GetDescription() for i in range(ds.RasterCount)]


def test_rasters_equal_table_on_same_pixels(model_path, rasters, tmp_path, monkeypatch):
    import ecoresp_core.jobs.blocks as blocks
    monkeypatch.setattr(blocks, "row_blocks", lambda h, w, b, budget: [(r, min(r + 2, h)) for r in range(0, h, 2)])
    paths, ta, sw, lc = rasters
    out, share = str(tmp_path / "er.tif"), str(tmp_path / "share.tif")
    cache = gdal.GetCacheMax()
    gdal.SetCacheMax(2 ** 20)  # too small for a tile row: raised for the run, then restored
    try:
        stats = predict_rasters(model_path, drivers(paths), out, land_mask_path=paths["mask"],
                                outside_share_path=share)
        assert gdal.GetCacheMax() == 2 ** 20
    finally:
        gdal.SetCacheMax(cache)
    assert stats["blocks"] == 3
    pred, names = read_all(out)
    assert names == DATES
    # the same pixels as a table (IGBP as the land-cover codes of the raster, mapped by MODIS IGBP)
    code = {1: "ENF", 4: "DBF", 10: "GRA", 0: "WAT"}
    t, r, c = np.meshgrid(np.arange(NT), np.arange(NY), np.arange(NX), indexing="ij")
    tab = pd.DataFrame({"TA": ta.astype("float32").astype("float64").ravel(),
                        "SW": sw.astype("float32").astype("float64").ravel(),
                        "IGBP": [code[int(v)] for v in np.broadcast_to(lc, (NT, NY, NX)).ravel()]})
    expect = predict_table(load_model(model_path), tab)["ER_pred"].to_numpy().reshape(NT, NY, NX)
    expect[:, -1, :] = np.nan                      # land mask
    on = np.isfinite(pred)
    np.testing.assert_array_equal(on, np.isfinite(expect.astype("float32")))
    np.testing.assert_array_equal(pred[on], expect[on].astype("float32"))
    assert np.isnan(pred[0, 0, 0]) and np.isnan(pred[:, :, 6]).all()   # missing TA; water
    assert on.sum() == (NT * (NY - 1) * (NX - 1) - 1)
    # share of months outside the training range, per pixel
    sh = gdal.Open(share).ReadAsArray()
    m = load_model(model_path)
    lo, hi = m.meta["ranges"]["TA"]
    slo, shi = m.meta["ranges"]["SW"]
    outside = ((ta < lo) | (ta > hi) | (sw < slo) | (sw > shi)) & on
    np.testing.assert_allclose(sh[2, 3], outside[:, 2, 3].sum() / on[:, 2, 3].sum(), rtol=1e-6)
    assert np.isnan(sh[-1, 0]) and np.isnan(sh[0, 6]) and 0 < np.nanmean(sh) < 1
    assert stats["predicted"] == on.sum()
    # metadata: dated bands and provenance
    md = gdal.Open(out).GetMetadata()
    assert md["ECORESP_ALGORITHM"] == "upscaling.predict" and "g C m-2 d-1" in md["ECORESP_TARGET"]


def test_table_outside_flag_and_unknown_category(model_path):
    tab = pd.DataFrame({"TA": [10.0, 40.0, 5.0, np.nan], "SW": [100.0, 100.0, 100.0, 100.0],
                        "IGBP": ["ENF", "ENF", "XXX", "GRA"], "site": list("abcd")})
    out = predict_table(model_path, tab)
    assert np.isfinite(out["ER_pred"][:2]).all() and out["ER_pred"][2:].isna().all()
    assert list(out["outside_training_range"]) == [0, 1, 0, 0]
    assert list(out["site"]) == list("abcd")


def test_table_without_columns(model_path):
    with pytest.raises(InputError, match=r"no column\(s\) SW, IGBP.*columns: TA"):
        predict_table(model_path, pd.DataFrame({"TA": [1.0]}))


def test_driver_grid_crs_dates_and_feature_mismatch(model_path, rasters, tmp_path):
    paths, ta, sw, lc = rasters
    out = str(tmp_path / "o.tif")
    shifted = write_stack(tmp_path / "sw_shift.tif", sw, DATES, geotransform=(11.0, 0.5, 0, 50.0, 0, -0.5))
    d = drivers(paths)
    d["SW"] = open_series(shifted)
    with pytest.raises(InputError, match=r"differ in grid or CRS: TA .*ta.tif.*SW .*sw_shift.tif"):
        predict_rasters(model_path, d, out)
    d["SW"] = open_series(write_stack(tmp_path / "sw_utm.tif", sw, DATES, epsg=3857))
    with pytest.raises(InputError, match=r"grid or CRS.*sw_utm.tif.*\(CRS differ\)"):
        predict_rasters(model_path, d, out)
    d["SW"] = open_series(write_stack(tmp_path / "sw_late.tif", sw, monthly_dates(2002, NT)))
    with pytest.raises(InputError, match=r"differ in dates: TA .* and SW .*sw_late.tif.*2001-01-15 and 2002-01-15"):
        predict_rasters(model_path, d, out)
    d["SW"] = open_series(write_stack(tmp_path / "sw_short.tif", sw[:12], DATES[:12]))
    with pytest.raises(InputError, match="24 and 12 time steps"):
        predict_rasters(model_path, d, out)
    d = drivers(paths)
    d["VPD"] = d.pop("SW")
    with pytest.raises(InputError, match=r"no driver for feature\(s\) SW; driver\(s\) VPD not used"):
        predict_rasters(model_path, d, out)
    d = drivers(paths)
    with pytest.raises(InputError, match="grids differ: land mask .*sw_shift.tif"):
        predict_rasters(model_path, d, out, land_mask_path=shifted)
    import os
    assert not os.path.exists(out) and not [f for f in os.listdir(tmp_path) if "partial" in f]


def test_cancel_leaves_no_file(model_path, rasters, tmp_path):
    paths = rasters[0]
    out = str(tmp_path / "c.tif")
    with pytest.raises(Cancelled):
        predict_rasters(model_path, drivers(paths), out, cancelled=lambda: True)
    import os
    assert not os.path.exists(out)
