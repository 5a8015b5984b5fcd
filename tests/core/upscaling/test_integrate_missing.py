"""What the annual totals leave out (upscaling.integrate.Integrator, jobs.integrate): land area and
pixel-months on land without ER per year and zone, against an independent numpy computation;
cells never predicted on land are counted; the land fraction's checks."""

import datetime as dt
import math

import numpy as np
import pytest
from conftest import write_stack

from ecoresp_core.errors import InputError
from ecoresp_core.io.series import open_series
from ecoresp_core.jobs.integrate import integrate_raster
from ecoresp_core.upscaling.integrate import Integrator, large_gaps, totals_summary

GT = (10.0, 1.0, 0.0, 50.0, 0.0, -1.0)  # 1-degree cells, 50 N .. 46 N
R = 6371007.181


def cell_areas_km2(ny, nx):
    """Spherical cell areas computed here from the formula (not from the package)."""
    lat_n = 50.0 - np.arange(ny)
    a = R ** 2 * math.radians(1.0) * (np.sin(np.radians(lat_n)) - np.sin(np.radians(lat_n - 1.0)))
    return np.repeat(a[:, None], nx, axis=1) * 1e-6


def scene(seed=4):
    """ER 24 months on 4 x 5 cells: a column never predicted (on land), 10 % random gaps, the
    ocean (land fraction 0 or NaN) without ER; zones 1 and 2."""
    rng = np.random.default_rng(seed)
    land = rng.uniform(0.1, 1.0, (4, 5))
    land[0, :2] = 0.0
    land[3, 4] = np.nan
    er = rng.uniform(0.5, 3.0, (24, 4, 5))
    er[:, ~(land > 0)] = np.nan
    er[:, :, 3] = np.nan                           # never predicted (e.g. an unknown land-cover class)
    er[rng.random((24, 4, 5)) < 0.1] = np.nan
    zones = np.array([[1, 1, 2, 2, 2]] * 4)
    return er, land, zones


def expected(er, land, zones, year_index):
    """Per zone code (0 = all): land area, missing pixel-months and area of one year (numpy)."""
    a = cell_areas_km2(*land.shape)
    f = np.nan_to_num(land)
    on_land = f > 0
    months = er[12 * year_index:12 * (year_index + 1)]
    gap = on_land[None] & np.isnan(months)
    out = {}
    for c in (0, 1, 2):
        inz = np.ones_like(on_land) if c == 0 else zones == c
        land_km2 = (a * f * (on_land & inz)).sum()
        out[c] = {"land_area_km2": land_km2, "missing_pixel_months": int((gap & inz[None]).sum()),
                  "missing_area_km2": (gap * (a * f * inz)[None]).sum() / 12}
        out[c]["missing_share"] = out[c]["missing_area_km2"] / land_km2
    return out


def test_missing_land_against_numpy():
    er, land, zones = scene()
    dates = [dt.datetime(y, m, 15) for y in (2001, 2002) for m in range(1, 13)]
    integ = Integrator(dates, GT, 4, unit="gC_m2_d", land_fraction=land, zones=zones)
    integ.add(er[:, :2], 0)
    integ.add(er[:, 2:], 2)  # two row blocks
    rows = integ.annual_totals()
    assert len(rows) == 6
    for r in rows:
        want = expected(er, land, zones, r["year"] - 2001)[r["zone"]]
        assert r["missing_pixel_months"] == want["missing_pixel_months"]
        for key in ("land_area_km2", "missing_area_km2", "missing_share"):
            assert r[key] == pytest.approx(want[key], rel=1e-9), key
    # the never-predicted column alone is 4 cells x 12 months per year
    assert min(r["missing_pixel_months"] for r in rows if r["zone"] == 0) >= 48
    assert all(r["missing_share"] > 0.2 for r in rows if r["zone"] == 0)
    summary = {s["zone"]: s for s in totals_summary(rows, "t")}
    assert summary["all"]["missing_share_max"] == pytest.approx(max(r["missing_share"] for r in rows
                                                                    if r["zone"] == 0))
    lines = large_gaps(rows)
    worst = max((r for r in rows if r["zone"] == 0), key=lambda r: r["missing_share"])
    assert len(lines) == 3 and lines[0].startswith(f"all: up to {100 * worst['missing_share']:.1f} % of the land (")
    assert lines[0].endswith(f"pixel-months in {worst['year']}) has no ER in 2 of 2 years (2001-2002): left out of "
                             "the totals (counted as zero)")
    assert large_gaps(rows, threshold=0.99) == []


def test_without_land_fraction_land_is_where_er_has_a_value():
    er, land, _ = scene()
    dates = [dt.datetime(y, m, 15) for y in (2001, 2002) for m in range(1, 13)]
    integ = Integrator(dates, GT, 4, unit="gC_m2_d")
    integ.add(er, 0)
    seen = np.isfinite(er).any(axis=0)
    a = cell_areas_km2(4, 5)
    for r in integ.annual_totals():
        months = er[12 * (r["year"] - 2001):12 * (r["year"] - 2000)]
        gap = seen[None] & np.isnan(months)
        assert r["missing_pixel_months"] == int(gap.sum())
        assert r["land_area_km2"] == pytest.approx((a * seen).sum(), rel=1e-9)
        assert r["missing_area_km2"] == pytest.approx((gap * a[None]).sum() / 12, rel=1e-9)


def test_job_reports_missing_area(tmp_path):
    er, land, zones = scene(7)
    dates = [f"{y}-{m:02d}-15" for y in (2001, 2002) for m in range(1, 13)]
    src = open_series(write_stack(tmp_path / "er.tif", er, dates, nodata=-9999, geotransform=GT))
    lf = write_stack(tmp_path / "land.tif", (land * 100)[None], ["land"], nodata=-1, geotransform=GT)
    zf = write_stack(tmp_path / "zones.tif", zones[None].astype(float), ["zones"], geotransform=GT)
    rows, summary = integrate_raster(src, land_fraction_path=lf, land_scale=0.01, zones_path=zf)
    for r in rows:
        want = expected(er.astype("float32").astype("float64"), (land * 100).astype("float32") * 0.01, zones,
                        r["year"] - 2001)[r["zone"]]
        assert r["missing_pixel_months"] == want["missing_pixel_months"]
        assert r["missing_area_km2"] == pytest.approx(want["missing_area_km2"], rel=1e-6)
        assert r["missing_share"] == pytest.approx(want["missing_share"], rel=1e-6)
    assert {s["zone"] for s in summary} == {"all", "1", "2"}
    with pytest.raises(InputError, match=r"land fraction .*land\.tif: a land fraction must lie in 0\.\.1 after the "
                                         r"land scale \(x 1\), found 0 \.\. 9\d\.\d+: values up to 9\d\.\d+ look "
                                         r"like a percentage"):
        integrate_raster(src, land_fraction_path=lf, land_scale=1.0)
    empty = write_stack(tmp_path / "empty.tif", np.full((1, 4, 5), np.nan), ["land"], nodata=-1, geotransform=GT)
    with pytest.raises(InputError, match=r"land fraction .*empty\.tif: nodata in every cell"):
        integrate_raster(src, land_fraction_path=empty)
