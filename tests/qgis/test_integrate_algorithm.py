"""ecoresp:integrate: a constant 1 g C m-2 d-1 over the real 0.5-degree land fraction gives the
analytic total (leap years counted); zones add up; grids must match."""

import numpy as np
import pandas as pd
import pytest
from conftest import DATA, write_stack
from osgeo import gdal

from ecoresp_core.common.geometry import row_areas_m2

pytestmark = pytest.mark.qgis
ZONES_NC = f"{DATA}/climate_zones_landmask_0p5deg.nc"
GT = (-180.0, 0.5, 0.0, 90.0, 0.0, -0.5)


def extract(tmp_path, var):
    out = str(tmp_path / f"{var}.tif")
    gdal.Translate(out, f'NETCDF:"{ZONES_NC}":{var}', outputSRS="EPSG:4326")
    return out


def run(params):
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    return processing.run("ecoresp:integrate", params, feedback=QgsProcessingFeedback(),
                          context=QgsProcessingContext())


def read(path):
    from qgis.core import QgsVectorLayer

    lyr = QgsVectorLayer(path, "t", "ogr")
    return pd.DataFrame([f.attributes() for f in lyr.getFeatures()], columns=lyr.fields().names())


def test_constant_rate_over_real_land_fraction(provider, tmp_path):
    dates = [f"{y}-{m:02d}-15" for y in (2000, 2001) for m in range(1, 13)]
    stack = write_stack(tmp_path / "er.tif", np.ones((24, 360, 720)), dates, geotransform=GT)
    land_tif = extract(tmp_path, "land_fraction_globe")
    ds = gdal.Open(land_tif)
    land = np.nan_to_num(ds.GetRasterBand(1).ReadAsArray().astype(float))
    ds = None
    land_area = (row_areas_m2(GT, 360)[:, None] * land).sum()
    res = run({"INPUT": stack, "UNIT": 0, "LAND_FRACTION": land_tif, "OUTPUT": str(tmp_path / "t.csv"),
               "SUMMARY": str(tmp_path / "s.csv"), "ANNUAL": str(tmp_path / "annual.tif")})
    t = read(res["OUTPUT"]).astype({"year": int, "total_PgC": float})
    tot = dict(zip(t["year"], t["total_PgC"]))
    assert tot[2000] == pytest.approx(land_area * 366e-15, rel=1e-9)
    assert tot[2001] == pytest.approx(land_area * 365e-15, rel=1e-9)
    assert 1.3e14 < land_area < 1.6e14  # Earth's land area incl. Antarctica ~1.49e14 m2
    ads = gdal.Open(res["ANNUAL"])
    assert ads.RasterCount == 2 and ads.GetRasterBand(1).GetDescription() == "2000-01-01"
    assert float(ads.GetRasterBand(1).ReadAsArray()[100, 100]) == pytest.approx(366.0)
    s = read(res["SUMMARY"])
    assert s["period"][0] == "2000-2001"


def test_zones_add_up_and_grid_mismatch(provider, tmp_path, stack_factory):
    from qgis.core import QgsProcessingException

    dates = [f"2001-{m:02d}-15" for m in range(1, 13)]
    rng = np.random.default_rng(1)
    stack = write_stack(tmp_path / "er.tif", rng.random((12, 360, 720)) * 3, dates, geotransform=GT)
    zones = extract(tmp_path, "koppen_dominant")
    res_all = run({"INPUT": stack, "OUTPUT": str(tmp_path / "a.csv"), "SUMMARY": str(tmp_path / "as.csv")})
    res_z = run({"INPUT": stack, "ZONES": zones, "ZONE_NAMES": "1=A tropical, 3=C temperate",
                 "OUTPUT": str(tmp_path / "z.csv"), "SUMMARY": str(tmp_path / "zs.csv")})
    a = read(res_all["OUTPUT"]).astype({"total_PgC": float})
    z = read(res_z["OUTPUT"]).astype({"total_PgC": float, "zone": int})
    ds = gdal.Open(zones)
    zarr = ds.GetRasterBand(1).ReadAsArray()
    ds = None
    outside = np.where(zarr[None] > 0, 0, 1)  # pixels without a zone are not in any zone total
    ds = gdal.Open(stack)
    vals = ds.ReadAsArray().astype(float)
    ds = None
    days = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[:, None, None]
    missing = (vals * days * outside * row_areas_m2(GT, 360)[None, :, None]).sum() * 1e-15
    assert sorted(z["zone"].unique()) == [0, 1, 2, 3, 4, 5]
    zones_only = z[z["zone"] > 0]
    assert zones_only["total_PgC"].sum() + missing == pytest.approx(a["total_PgC"].sum(), rel=1e-9)
    # zone 0 ('all') equals the run without zones
    assert z[z["zone"] == 0]["total_PgC"].sum() == pytest.approx(a["total_PgC"].sum(), rel=1e-12)
    names = dict(zip(z["zone"], z["zone_name"]))
    assert names[0] == "all" and names[3] == "C temperate"
    small = stack_factory(np.ones((12, 3, 4)), dates=dates, name="small.tif")
    with pytest.raises(QgsProcessingException, match="grids differ: zones"):
        run({"INPUT": small, "ZONES": zones, "OUTPUT": str(tmp_path / "x.csv"), "SUMMARY": str(tmp_path / "y.csv")})


def test_land_without_er_is_reported(provider, tmp_path):
    """Cells on land never predicted (and single gaps) are counted per year and zone, with the land
    area they stand for, against numpy; a large share is a warning in the log."""
    import math

    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    import processing

    gt = (10.0, 0.5, 0.0, 50.0, 0.0, -0.5)
    rng = np.random.default_rng(5)
    land = rng.uniform(0.2, 1.0, (3, 4))
    land[0, 0] = 0.0                    # ocean
    er = rng.uniform(1.0, 2.0, (12, 3, 4))
    er[:, 0, 0] = np.nan
    er[:, :, 2] = np.nan                # never predicted on land
    er[5, 1, 1] = np.nan                # one gap
    dates = [f"2003-{m:02d}-15" for m in range(1, 13)]
    stack = write_stack(tmp_path / "er.tif", er, dates, nodata=-9999, geotransform=gt)
    lf = write_stack(tmp_path / "land.tif", land[None], ["land"], geotransform=gt)
    zones = write_stack(tmp_path / "zones.tif", np.array([[[1, 1, 2, 2]] * 3], dtype=float), ["zones"],
                        geotransform=gt)
    logged = []

    class Feedback(QgsProcessingFeedback):
        def pushWarning(self, text):  # noqa: N802
            logged.append(text)

    res = processing.run("ecoresp:integrate", {"INPUT": stack, "LAND_FRACTION": lf, "ZONES": zones,
                                               "OUTPUT": str(tmp_path / "t.csv"), "SUMMARY": str(tmp_path / "s.csv")},
                         feedback=Feedback(), context=QgsProcessingContext())
    t = read(res["OUTPUT"]).astype({"zone": int, "missing_pixel_months": int, "land_area_km2": float,
                                     "missing_area_km2": float, "missing_share": float})
    lat_n = 50.0 - 0.5 * np.arange(3)
    area = (6371007.181 ** 2 * math.radians(0.5) * (np.sin(np.radians(lat_n)) - np.sin(np.radians(lat_n - 0.5))))
    w = area[:, None] * land * 1e-6
    gap = (land > 0)[None] & np.isnan(er)
    for zone, inz in [(0, np.ones((3, 4), bool)), (1, np.arange(4)[None] < 2), (2, np.arange(4)[None] >= 2)]:
        inz = np.broadcast_to(inz, (3, 4))
        row = t[t["zone"] == zone].iloc[0]
        assert row["missing_pixel_months"] == int((gap & inz[None]).sum())
        assert row["land_area_km2"] == pytest.approx((w * inz * (land > 0)).sum(), rel=1e-6)
        assert row["missing_area_km2"] == pytest.approx((gap * (w * inz)[None]).sum() / 12, rel=1e-6)
        assert row["missing_share"] == pytest.approx(row["missing_area_km2"] / row["land_area_km2"], rel=1e-9)
    assert t[t["zone"] == 1].iloc[0]["missing_pixel_months"] == 1
    assert t[t["zone"] == 2].iloc[0]["missing_pixel_months"] == 36
    assert any(line.startswith("2: up to ") and line.endswith("in 2003) has no ER in 2003: left out of the totals "
                                                               "(counted as zero)") for line in logged)
    assert read(res["SUMMARY"]).astype({"missing_share_max": float})["missing_share_max"].max() > 0.4
