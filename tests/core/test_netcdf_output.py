"""NetCDF outputs: a dated series written through SeriesWriter to .nc reads back through
open_series with the same dates and values; named bands become variables."""

import numpy as np
import pytest
from conftest import monthly_dates

from ecoresp_core.io.series import Grid, SeriesWriter, open_series

GT = (-9.5, 0.5, 0.0, 44.0, 0.0, -0.5)


def test_dated_series_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    data = rng.normal(2.0, 1.0, (14, 4, 5)).astype("float32")
    data[3, 1, 2] = np.nan
    dates = monthly_dates(2001, 14)
    out = tmp_path / "er_monthly.nc"
    with SeriesWriter(out, Grid(5, 4, GT), dates, metadata={"ECORESP_ALGORITHM": "test"},
                      band_metadata=[{"units": "g C m-2 d-1"}] * 14) as w:
        w.write_block(0, data[:, :2])
        w.write_block(2, data[:, 2:])
        w.commit()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["er_monthly.nc"]  # no temporary left
    src = open_series(str(out))
    assert src.date_strings() == list(dates)
    assert src.grid.same_as(Grid(5, 4, GT))
    back = src.read_block(0, 4)
    np.testing.assert_array_equal(np.isnan(back), np.isnan(data))
    np.testing.assert_allclose(back[np.isfinite(back)], data[np.isfinite(data)], rtol=0)
    import netCDF4
    with netCDF4.Dataset(out) as nc:
        assert nc.Conventions == "CF-1.8" and nc.ECORESP_ALGORITHM == "test"
        assert nc["er_monthly"].units == "g C m-2 d-1" and nc["time"].units == "days since 1900-01-01"
        assert nc["lat"][0] == pytest.approx(43.75) and nc["lon"][-1] == pytest.approx(-7.25)


def test_named_bands_become_variables_and_abort_leaves_nothing(tmp_path):
    out = tmp_path / "trend.nc"
    with SeriesWriter(out, Grid(3, 2, GT), ["slope", "p_value"],
                      band_metadata=[{"units": "degC per year"}, {}]) as w:
        w.write_block(0, np.array([np.full((2, 3), 0.02), np.full((2, 3), 0.5)]))
        w.commit()
    import netCDF4
    with netCDF4.Dataset(out) as nc:
        assert set(nc.variables) >= {"slope", "p_value", "lat", "lon"}
        assert nc["slope"].units == "degC per year"
        np.testing.assert_allclose(nc["slope"][:], 0.02, rtol=1e-6)
    bad = tmp_path / "bad.nc"
    with pytest.raises(RuntimeError):
        with SeriesWriter(bad, Grid(3, 2, GT), ["a", "b"]) as w:
            raise RuntimeError("cancelled half-way")
    assert not bad.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["trend.nc"]
