"""NetCDF outputs: a finished GeoTIFF series rewritten as a CF-1.8 NetCDF file, block by block.

A series whose band descriptions are all dates (YYYY-MM-DD) becomes one variable
``(time, lat, lon)`` with a CF time axis (``days since 1900-01-01``, standard calendar); any
other band set (e.g. the trend bands ``slope``, ``intercept``, ...) becomes one 2-D variable per
band.  Coordinates are the cell centres from the geotransform, rows north to south as in the
GeoTIFF: ``lat``/``lon`` in degrees for a geographic grid (or no CRS), else ``y``/``x`` with the
CRS WKT in a ``crs`` grid-mapping variable.  Band and dataset metadata become attributes
(``units`` on the variable, the ``ECORESP_*`` provenance items as global attributes).
NaN is written as the float32 fill value 9.96921e36 (``_FillValue``), as CRU TS does.
"""

import datetime as dt
import os
import re

import numpy as np

from ..errors import InputError

EPOCH = dt.date(1900, 1, 1)


def _day_numbers(iso_dates, calendar):
    """Days since EPOCH of ISO dates in a CF calendar (a band's CALENDAR item, e.g. '360_day')."""
    if calendar == "standard":
        return [(dt.date.fromisoformat(n) - EPOCH).days for n in iso_dates]
    import cftime

    dates = [cftime.datetime(*map(int, n.split("-")), calendar=calendar) for n in iso_dates]
    return cftime.date2num(dates, "days since 1900-01-01", calendar)
FILL = np.float32(9.96921e36)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _osr_geographic(wkt):
    if not wkt:
        return True
    from osgeo import osr
    srs = osr.SpatialReference()
    srs.ImportFromWkt(wkt)
    return bool(srs.IsGeographic())


def geotiff_to_netcdf(tif_path, nc_path, variable="value", rows_per_block=256):
    """Write the GeoTIFF ``tif_path`` as the CF NetCDF ``nc_path`` (see the module docstring)."""
    from osgeo import gdal
    try:
        import netCDF4
    except ImportError:
        raise InputError(f"{nc_path}: NetCDF output needs the netCDF4 Python package "
                         "(Debian: python3-netcdf4); write a GeoTIFF instead") from None
    ds = gdal.Open(tif_path)
    nb, ny, nx = ds.RasterCount, ds.RasterYSize, ds.RasterXSize
    x0, dx, _, y0, _, dy = ds.GetGeoTransform()
    wkt = ds.GetProjection() or ""
    names = [ds.GetRasterBand(i + 1).GetDescription() for i in range(nb)]
    band_meta = [ds.GetRasterBand(i + 1).GetMetadata() for i in range(nb)]
    dated = nb > 0 and all(_DATE.match(n) for n in names)
    geographic = _osr_geographic(wkt)
    ydim, xdim = ("lat", "lon") if geographic else ("y", "x")
    nc = netCDF4.Dataset(nc_path, "w", format="NETCDF4")
    try:
        nc.Conventions = "CF-1.8"
        for k, v in ds.GetMetadata().items():
            nc.setncattr(k, v)
        nc.createDimension(ydim, ny)
        nc.createDimension(xdim, nx)
        yv = nc.createVariable(ydim, "f8", (ydim,))
        xv = nc.createVariable(xdim, "f8", (xdim,))
        yv[:] = y0 + dy * (np.arange(ny) + 0.5)
        xv[:] = x0 + dx * (np.arange(nx) + 0.5)
        if geographic:
            yv.units, yv.standard_name = "degrees_north", "latitude"
            xv.units, xv.standard_name = "degrees_east", "longitude"
        else:
            yv.standard_name, xv.standard_name = "projection_y_coordinate", "projection_x_coordinate"
            crs = nc.createVariable("crs", "i4")
            crs.spatial_ref = wkt
            crs.crs_wkt = wkt
        if dated:
            nc.createDimension("time", nb)
            tv = nc.createVariable("time", "f8", ("time",))
            calendar = band_meta[0].get("CALENDAR", "standard") if band_meta else "standard"
            tv.units, tv.calendar, tv.standard_name = "days since 1900-01-01", calendar, "time"
            tv[:] = _day_numbers(names, calendar)
            var = nc.createVariable(variable, "f4", ("time", ydim, xdim), zlib=True, complevel=4,
                                    fill_value=FILL, chunksizes=(1, min(ny, 256), min(nx, 256)))
            units = band_meta[0].get("units") if band_meta else None
            if units:
                var.units = units
            if not geographic:
                var.grid_mapping = "crs"
            targets = [(var, i) for i in range(nb)]
        else:
            targets = []
            for i, name in enumerate(names):
                vname = re.sub(r"\W", "_", name) or f"band{i + 1}"
                v = nc.createVariable(vname, "f4", (ydim, xdim), zlib=True, complevel=4, fill_value=FILL)
                for k, val in band_meta[i].items():
                    v.setncattr(k, val)
                if not geographic:
                    v.grid_mapping = "crs"
                targets.append((v, None))
        for r0 in range(0, ny, rows_per_block):
            r1 = min(ny, r0 + rows_per_block)
            for i, (v, t) in enumerate(targets):
                b = ds.GetRasterBand(i + 1)
                a = b.ReadAsArray(0, r0, nx, r1 - r0).astype("float32")
                nd = b.GetNoDataValue()
                bad = ~np.isfinite(a) if nd is None or np.isnan(nd) else (a == nd) | ~np.isfinite(a)
                a[bad] = FILL
                if t is None:
                    v[r0:r1, :] = a
                else:
                    v[t, r0:r1, :] = a
    finally:
        nc.close()
        ds = None
    return nc_path


def is_netcdf_path(path):
    return os.path.splitext(str(path))[1].lower() in (".nc", ".nc4")
