"""Cell areas and global totals against science.md section 13."""

import datetime as dt
import math

import numpy as np
import pytest

from ecoresp_core.errors import InputError
from ecoresp_core.common.geometry import R_AUTHALIC_M, row_areas_m2
from ecoresp_core.common.zones import climate_zones_from_mat
from ecoresp_core.upscaling.integrate import Integrator, monthly_amount, totals_summary

GT_HALF = (-180.0, 0.5, 0.0, 90.0, 0.0, -0.5)


def test_band_areas_worked_values():
    a = row_areas_m2(GT_HALF, 360)
    assert a[179] == pytest.approx(3.091046e9, rel=5e-7)     # 0-0.5 N
    assert a[89] == pytest.approx(2.176162e9, rel=5e-7)      # 45-45.5 N
    assert a[0] == pytest.approx(1.348732e7, rel=5e-7)       # 89.5-90 N


@pytest.mark.parametrize("gt,shape", [(GT_HALF, (360, 720)), ((-180, 1.0, 0, 90, 0, -1.0), (180, 360)),
                                      ((0, 2.5, 0, 90, 0, -2.5), (72, 144)),
                                      ((-180, 0.25, 0, 90, 0, -0.25), (720, 1440))])
def test_global_grid_sums_to_sphere(gt, shape):
    total = row_areas_m2(gt, shape[0]).sum() * shape[1]
    assert total == pytest.approx(4 * math.pi * R_AUTHALIC_M ** 2, rel=1e-12)
    assert total == pytest.approx(5.100656e14, rel=1e-6)


def test_monthly_amounts_and_worked_cell():
    assert monthly_amount(np.array(3.0), 2001, 1, "gC_m2_d") == 93.0
    assert monthly_amount(np.array(1.0), 2000, 2, "gC_m2_d") == 29.0
    assert monthly_amount(np.array(1.0), 2001, 2, "umol_m2_s") == pytest.approx(1.0377504 * 28)
    # a 45 N 0.5-degree cell with 100 g C m-2 month-1 in every month -> 2.611395e-3 Pg C yr-1
    dates = [dt.datetime(2001, m, 15) for m in range(1, 13)]
    integ = Integrator(dates, (0, 0.5, 0, 45.5, 0, -0.5), 1, unit="gC_m2_month")
    integ.add(np.full((12, 1, 1), 100.0), 0)
    assert integ.annual_totals()[0]["total_PgC"] == pytest.approx(2.611395e-3, rel=5e-7)


def test_constant_rate_over_land_fraction_leap_years():
    rng = np.random.default_rng(0)
    land = np.clip(rng.random((360, 720)) * 1.6 - 0.5, 0, 1)
    dates = [dt.datetime(y, m, 15) for y in (2000, 2001) for m in range(1, 13)]
    integ = Integrator(dates, GT_HALF, 360, unit="gC_m2_d", land_fraction=land)
    block = np.ones((24, 360, 720))
    for r0 in range(0, 360, 100):  # row blocks give the same totals
        integ.add(block[:, r0:r0 + 100], r0)
    land_area = (row_areas_m2(GT_HALF, 360)[:, None] * land).sum()
    tot = {r["year"]: r["total_PgC"] for r in integ.annual_totals()}
    assert tot[2000] == pytest.approx(land_area * 366 * 1e-15, rel=1e-12)
    assert tot[2001] == pytest.approx(land_area * 365 * 1e-15, rel=1e-12)


def test_zones_and_summary():
    mat = np.array([[-5.0, 2.0, 10.0, 17.0, 17.5, np.nan]])
    z = climate_zones_from_mat(mat)
    assert z.tolist() == [[1, 2, 2, 2, 3, 0]]
    dates = [dt.datetime(y, m, 15) for y in (2001, 2002, 2003) for m in range(1, 13)]
    integ = Integrator(dates, (0, 1.0, 0, 1.0, 0, -1.0), 1, zones=z)
    vals = np.ones((36, 1, 6))
    vals[12:24] *= 2  # 2002 twice the rate
    integ.add(vals, 0)
    rows = integ.annual_totals()
    a = row_areas_m2((0, 1.0, 0, 1.0, 0, -1.0), 1)[0]
    by = {(r["year"], r["zone"]): r["total_PgC"] for r in rows}
    assert by[(2002, 2)] == pytest.approx(3 * a * 2 * 365 * 1e-15)
    assert by[(2001, 3)] == pytest.approx(a * 365 * 1e-15)
    # zone 0 is the total over every cell, also the one without a zone (NaN MAT)
    assert by[(2002, 0)] == pytest.approx(6 * a * 2 * 365 * 1e-15)
    assert by[(2001, 0)] == pytest.approx(sum(by[(2001, c)] for c in (1, 2, 3)) + a * 365 * 1e-15)
    summ = {r["zone"]: r for r in totals_summary(rows, "test", {1: "boreal", 2: "temperate", 3: "tropical"})}
    assert summ["temperate"]["mean_PgC_yr"] == pytest.approx(np.mean([3, 6, 3]) * a * 365 * 1e-15)
    assert summ["temperate"]["sd_PgC_yr"] == pytest.approx(np.std([3, 6, 3], ddof=1) * a * 365 * 1e-15)
    assert summ["boreal"]["period"] == "2001-2003"
    assert summ["all"]["mean_PgC_yr"] == pytest.approx(np.mean([6, 12, 6]) * a * 365 * 1e-15)


def test_bad_grids():
    with pytest.raises(InputError, match="not in geographic degrees"):
        row_areas_m2((500000.0, 1000.0, 0, 5500000.0, 0, -1000.0), 10)
    with pytest.raises(InputError, match="land fraction must lie in 0..1"):
        Integrator([dt.datetime(2001, 1, 1)], GT_HALF, 360, land_fraction=np.full((360, 720), 50.0))
