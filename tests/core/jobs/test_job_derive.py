"""Derived-driver job (ecoresp_core.jobs.derive): RH and mm/day series against the formulas,
dates kept, and the bad-input messages (grid, CRS, dates, number of inputs)."""

import numpy as np
import pytest
from conftest import monthly_dates, write_stack

from ecoresp_core.common import meteorology as met
from ecoresp_core.errors import InputError
from ecoresp_core.io.series import open_series
from ecoresp_core.jobs import derive as d


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
