"""Derived drivers: RH/VPD from vap and tmp against hand-computed values, exact unit conversions
(leap February), and the raster job with its bad-input messages."""

import numpy as np
import pytest
from conftest import monthly_dates, write_stack

from ecoresp_core.common import meteorology as met
from ecoresp_core.common import timeaxis, units
from ecoresp_core.errors import InputError
from ecoresp_core.io.series import open_series
from ecoresp_core.upscaling import drivers as d


def test_esat_and_rh_hand_computed():
    # e_sat(20) = 6.1078 exp(17.08085*20/254.175) = 6.1078 * 3.834438 = 23.4200 hPa
    assert met.esat_hpa(20.0) == pytest.approx(6.1078 * np.exp(17.08085 * 20 / 254.175), rel=1e-15)
    assert met.esat_hpa(20.0) == pytest.approx(23.4200, abs=5e-4)
    assert met.esat_hpa(0.0) == pytest.approx(6.1078, rel=1e-15)
    # RH = 100 * 10 / 23.4200 = 42.699 %
    assert met.rh_from_vap_tmp(10.0, 20.0) == pytest.approx(42.699, abs=2e-3)
    assert met.rh_from_vap_tmp(6.1078 / 2, 0.0) == pytest.approx(50.0, abs=1e-12)
    # supersaturated -> clipped at 100; negative vap -> 0
    assert met.rh_from_vap_tmp(30.0, 20.0) == 100.0
    assert met.rh_from_vap_tmp(-1.0, 20.0) == 0.0
    # VPD = e_sat - vap; clipped at 0
    assert met.vpd_from_vap_tmp(10.0, 20.0) == pytest.approx(13.4200, abs=5e-4)
    assert met.vpd_from_vap_tmp(30.0, 20.0) == 0.0
    # consistent with the tower inversion of section 11 (RH from VPD and TA)
    from ecoresp_core.common.meteorology import rh_from_vpd
    assert rh_from_vpd(met.vpd_from_vap_tmp(10.0, 20.0), 20.0) == pytest.approx(met.rh_from_vap_tmp(10.0, 20.0), rel=1e-12)
    np.testing.assert_array_equal(np.isnan(met.rh_from_vap_tmp([np.nan, 5.0], [10.0, np.nan])), [True, True])


def test_vpd_from_minimum_temperature():
    # e_sat(20) - e_sat(10) = 23.4200 - 12.2939 = 11.1261 hPa; tmn above tmp (bad data) -> 0
    assert met.esat_hpa(10.0) == pytest.approx(12.2939, abs=5e-4)
    assert met.vpd_from_tmn_tmp(10.0, 20.0) == pytest.approx(met.esat_hpa(20.0) - met.esat_hpa(10.0), rel=1e-15)
    assert met.vpd_from_tmn_tmp(10.0, 20.0) == pytest.approx(11.1261, abs=1e-3)
    assert met.vpd_from_tmn_tmp(21.0, 20.0) == 0.0
    # equals the vap route with vap = e_sat(tmn)
    assert met.vpd_from_tmn_tmp(5.0, 12.0) == pytest.approx(met.vpd_from_vap_tmp(met.esat_hpa(5.0), 12.0), rel=1e-15)


def test_unit_conversions_exact():
    assert met.dtr_from_tmx_tmn(25.5, 12.25) == 13.25
    assert units.kelvin_to_celsius(273.15) == 0.0
    assert units.kelvin_to_celsius(300.0) == pytest.approx(26.85, abs=1e-12)
    assert units.celsius_to_kelvin(units.kelvin_to_celsius(288.4)) == pytest.approx(288.4, abs=1e-12)
    assert units.j_m2_to_w_m2(8640000.0) == 100.0            # daily sum
    assert units.j_m2_to_w_m2(360000.0, seconds=3600) == 100.0  # hourly accumulation
    assert units.w_m2_to_j_m2(100.0) == 8640000.0
    with pytest.raises(InputError, match="positive seconds"):
        units.j_m2_to_w_m2(1.0, seconds=0)
    # leap February: 29 days in 2000 and 2016, 28 in 1900 and 2019
    assert timeaxis.days_in_month(2000, 2) == 29 and timeaxis.days_in_month(1900, 2) == 28
    assert units.mm_month_to_mm_day(58.0, 2016, 2) == 2.0
    assert units.mm_month_to_mm_day(56.0, 2019, 2) == 2.0
    assert units.mm_day_to_mm_month(2.0, 2016, 2) == 58.0
    assert units.mm_month_to_mm_day(93.0, 2019, 1) == 3.0
    np.testing.assert_array_equal(units.mm_month_to_mm_day(np.array([30.0, 29.0, 28.0]), [2019, 2020, 2021], [4, 2, 2]),
                                  [1.0, 1.0, 1.0])
    with pytest.raises(InputError, match="month must be 1..12"):
        timeaxis.days_in_month(2000, 13)


def _pair(tmp_path, n=3, **kw2):
    rng = np.random.default_rng(3)
    tmp = rng.uniform(-5, 30, (n, 3, 4))
    vap = rng.uniform(1, 20, (n, 3, 4))
    vap[0, 0, 0] = np.nan
    dates = monthly_dates(2016, n)
    a = write_stack(tmp_path / "vap.tif", vap, dates, nodata=-9999.0, dtype="Float64")
    b = write_stack(tmp_path / "tmp.tif", tmp, kw2.pop("dates", dates), nodata=-9999.0, dtype="Float64", **kw2)
    return a, b, vap, tmp


def test_derive_raster_rh_and_mm_per_day(tmp_path):
    a, b, vap, tmp = _pair(tmp_path)
    out = str(tmp_path / "rh.tif")
    res = d.derive_raster("rh", open_series(a), out, open_series(b))
    got = open_series(out)
    assert [x.month for x in got.dates] == [1, 2, 3]
    np.testing.assert_allclose(got.read_block(0, 3), np.float32(met.rh_from_vap_tmp(vap, tmp)), rtol=1e-6)
    assert np.isnan(got.read_block(0, 1)[0, 0, 0])
    assert res["units"] == "%"
    # mm/month -> mm/day with 31, 29 (leap Feb 2016), 31 days
    out2 = str(tmp_path / "pre_day.tif")
    d.derive_raster("mm_month_to_mm_day", open_series(a), out2)
    np.testing.assert_allclose(open_series(out2).read_block(0, 3)[:, 1, 1],
                               vap[:, 1, 1] / np.array([31.0, 29.0, 31.0]), rtol=1e-6)


def test_derive_raster_bad_inputs(tmp_path):
    a, b, _, _ = _pair(tmp_path, geotransform=(10.0, 1.0, 0, 50.0, 0, -1.0))
    with pytest.raises(InputError, match=r"grids differ: .*vap\.tif.*tmp\.tif"):
        d.derive_raster("rh", open_series(a), str(tmp_path / "o.tif"), open_series(b))
    a, b, _, _ = _pair(tmp_path, epsg=3035)
    with pytest.raises(InputError, match=r"CRS differ: .*vap\.tif.*tmp\.tif"):
        d.derive_raster("vpd", open_series(a), str(tmp_path / "o.tif"), open_series(b))
    a, b, _, _ = _pair(tmp_path, dates=monthly_dates(2017, 3))
    with pytest.raises(InputError, match=r"dates differ: .*vap\.tif.*tmp\.tif.*step 1"):
        d.derive_raster("dtr", open_series(a), str(tmp_path / "o.tif"), open_series(b))
    with pytest.raises(InputError, match="needs two input series"):
        d.derive_raster("rh", open_series(a), str(tmp_path / "o.tif"))
    with pytest.raises(InputError, match="unknown derived driver"):
        d.derive_raster("foo", open_series(a), str(tmp_path / "o.tif"))
    assert not (tmp_path / "o.tif").exists()
