"""Small raster-series inputs for the series-validation tests (tests/core/test_series_validation.py,
tests/qgis/test_series_inputs.py): a CF NetCDF with any calendar, and a unit on GeoTIFF bands."""

import numpy as np


def write_cf_series(path, values, days, calendar="360_day", units=None, variable="er",
                    time_units="days since 2000-01-01"):
    """Write ``values`` (t, rows, cols) as a CF NetCDF variable on a 1-degree lat/lon grid with the
    time axis ``days`` (numbers in ``time_units``) in ``calendar``; ``units``: the variable's
    unit attribute.  Returns the path as text."""
    import netCDF4

    values = np.asarray(values, dtype="float64")
    t, rows, cols = values.shape
    with netCDF4.Dataset(str(path), "w") as nc:
        nc.createDimension("time", t)
        nc.createDimension("lat", rows)
        nc.createDimension("lon", cols)
        time = nc.createVariable("time", "f8", ("time",))
        time.units, time.calendar, time.standard_name = time_units, calendar, "time"
        time[:] = np.asarray(days, dtype="float64")
        lat = nc.createVariable("lat", "f8", ("lat",))
        lat.units, lat.standard_name = "degrees_north", "latitude"
        lat[:] = 40.5 - np.arange(rows)
        lon = nc.createVariable("lon", "f8", ("lon",))
        lon.units, lon.standard_name = "degrees_east", "longitude"
        lon[:] = 0.5 + np.arange(cols)
        var = nc.createVariable(variable, "f4", ("time", "lat", "lon"), fill_value=np.float32(-9999.0))
        if units:
            var.units = units
        var[:] = np.ma.masked_invalid(values)
    return str(path)


def mid_months_360(n):
    """Day numbers of the 15th of ``n`` consecutive months in a 360_day calendar (30-day months)."""
    return [30 * i + 14 for i in range(n)]


def set_band_units(path, unit):
    """Set ``unit`` as the unit type of every band of a GeoTIFF (what QGIS and GDAL show)."""
    from osgeo import gdal

    ds = gdal.Open(str(path), gdal.GA_Update)
    for i in range(ds.RasterCount):
        ds.GetRasterBand(i + 1).SetUnitType(unit)
    ds = None
    return str(path)
