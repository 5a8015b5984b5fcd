"""Derived drivers: RH/VPD from vap and tmp against hand-computed values, exact unit conversions
(leap February), and the ``derive`` kernel on arrays (the raster job: tests/core/jobs/test_job_derive.py)."""

import numpy as np
import pytest

from ecoresp_core.common import meteorology as met
from ecoresp_core.common import timeaxis, units
from ecoresp_core.errors import InputError
from ecoresp_core.upscaling.drivers import DERIVATIONS, derive


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
    assert rh_from_vpd(met.vpd_from_vap_tmp(10.0, 20.0), 20.0) == pytest.approx(met.rh_from_vap_tmp(10.0, 20.0),
                                                                       rel=1e-12)
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


def test_derive_kernel_matches_the_formulas():
    rng = np.random.default_rng(5)
    a, b = rng.uniform(1, 20, (3, 2, 2)), rng.uniform(-5, 30, (3, 2, 2))
    ndays = np.array([31.0, 29.0, 31.0])[:, None, None]
    np.testing.assert_array_equal(derive("rh", a, b), met.rh_from_vap_tmp(a, b))
    np.testing.assert_array_equal(derive("vpd_tmn", a, b), met.vpd_from_tmn_tmp(a, b))
    np.testing.assert_array_equal(derive("j_to_w", a, seconds=3600.0), units.j_m2_to_w_m2(a, 3600.0))
    np.testing.assert_array_equal(derive("mm_month_to_mm_day", a, ndays=ndays), a / ndays)
    np.testing.assert_array_equal(derive("mm_day_to_mm_month", a, ndays=ndays), a * ndays)
    assert {k for k, v in DERIVATIONS.items() if v[0] == 2} == {"rh", "vpd", "dtr", "vpd_tmn"}
