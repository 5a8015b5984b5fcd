"""Lloyd & Taylor against the worked values of science.md section 2."""

import numpy as np
import pytest

from ecoresp_core.partitioning.respiration import (apparent_q10, convert_rref, e0_from_q10,
                                                   lloyd_taylor)


def test_worked_values():
    r = lloyd_taylor([25.0, 5.0, 15.0], 2.0, 200.0)
    np.testing.assert_allclose(r, [3.172922, 1.052039, 2.0], atol=5e-7)
    assert lloyd_taylor(25.0, 2.0, 200.0, tref_degc=10.0) == pytest.approx(4.251163, abs=5e-7)
    assert convert_rref(1.0, 200.0, 10.0, 15.0) == pytest.approx(1.33983, abs=5e-6)


def test_q10_equivalence():
    np.testing.assert_allclose(apparent_q10(200.0, np.array([0.0, 10.0, 20.0])), [2.1723, 1.7173, 1.4896], atol=5e-5)
    assert e0_from_q10(2.0) == pytest.approx(256.36, abs=5e-3)
    assert apparent_q10(e0_from_q10(1.7)) == pytest.approx(1.7, rel=1e-12)


def test_guard_below_minus_40():
    assert np.isnan(lloyd_taylor(-45.0, 2.0, 200.0)) and np.isfinite(lloyd_taylor(-39.0, 2.0, 200.0))
