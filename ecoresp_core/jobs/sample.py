"""Sampling job: driver values from monthly raster series at the sites of a site-month table
(``upscaling.sitemonth``), the grid cell holding each site for each row's year and month."""

import numpy as np
import pandas as pd

from ..errors import InputError
from ..io.series import osr
from .inputs import check_aligned


def _month_index(series):
    out = {}
    for i, d in enumerate(series.dates):
        key = (d.year, d.month)
        if key in out:
            raise InputError(f"{series.label}: two bands for {key[0]}-{key[1]:02d} (bands {out[key] + 1} and "
                             f"{i + 1}); a monthly driver needs one band per month")
        out[key] = i
    return out


def _to_grid_xy(series, lon, lat):
    """Site lon/lat (WGS84) -> x/y in the series CRS (identity for geographic grids)."""
    wkt = series.grid.crs_wkt
    if not wkt:
        return lon, lat
    dst = osr.SpatialReference()
    dst.ImportFromWkt(wkt)
    if dst.IsGeographic():
        return lon, lat
    src = osr.SpatialReference()
    src.ImportFromEPSG(4326)
    for s in (src, dst):
        s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    ct = osr.CoordinateTransformation(src, dst)
    xy = np.array([ct.TransformPoint(float(x), float(y))[:2] if np.isfinite(x) and np.isfinite(y)
                   else (np.nan, np.nan) for x, y in zip(lon, lat)]).reshape(-1, 2)
    return xy[:, 0], xy[:, 1]


def check_drivers(driver_series):
    """Drivers must share grid, CRS and dates: InputError naming the two layers otherwise."""
    items = list(driver_series.items())
    for name, s in items[1:]:
        check_aligned(items[0][1], s, by="month")


def sample_drivers(table, driver_series, lat_col="latitude", lon_col="longitude", outside="nan",
                   same_grid=True):
    """Add one column per driver (name -> RasterSeries) with the value of the grid cell holding each
    site (nearest cell centre) for the row's year and month.  NaN when the month is not in the
    series or the cell is nodata.  A site outside the grid gets NaN and a warning naming the
    driver and the site (``outside='nan'``, warnings in ``result.attrs['warnings']``) or raises
    InputError (``outside='error'``).  With ``same_grid`` the drivers must share grid, CRS and
    dates (InputError naming the layers otherwise)."""
    if outside not in ("nan", "error"):
        raise InputError(f"outside must be 'nan' or 'error', not {outside!r}")
    missing = [c for c in ("site_id", "year", "month", lat_col, lon_col) if c not in table.columns]
    if missing:
        raise InputError(f"site-month table: column(s) {', '.join(missing)} missing; "
                         f"columns: {', '.join(map(str, table.columns))}")
    if not driver_series:
        return table.copy()
    if same_grid:
        check_drivers(driver_series)
    out = table.copy()
    warnings = list(table.attrs.get("warnings", []))
    sites = out.drop_duplicates("site_id")[["site_id", lon_col, lat_col]]
    lon = pd.to_numeric(sites[lon_col], errors="coerce").to_numpy("float64")
    lat = pd.to_numeric(sites[lat_col], errors="coerce").to_numpy("float64")
    years = out["year"].to_numpy("int64")
    months = out["month"].to_numpy("int64")
    for name, series in driver_series.items():
        gt = series.grid.geotransform
        if gt[2] != 0 or gt[4] != 0:
            raise InputError(f"driver {name} ({series.label}): rotated grids are not supported")
        x, y = _to_grid_xy(series, lon, lat)
        col = np.floor((np.asarray(x) - gt[0]) / gt[1]).astype("float64")
        row = np.floor((np.asarray(y) - gt[3]) / gt[5]).astype("float64")
        cell = {}
        for sid, c, r, lo, la in zip(sites["site_id"], col, row, lon, lat):
            ok = np.isfinite(c) and np.isfinite(r) and 0 <= c < series.grid.width and 0 <= r < series.grid.height
            if not ok:
                msg = (f"driver {name} ({series.label}): site {sid} at lat {la:g}, lon {lo:g} lies outside "
                       f"the grid ({series.grid.describe()})" if np.isfinite(lo) and np.isfinite(la) else
                       f"driver {name} ({series.label}): site {sid} has no coordinates")
                if outside == "error":
                    raise InputError(msg)
                warnings.append(msg)
                cell[sid] = None
            else:
                cell[sid] = (int(r), int(c))
        bands = _month_index(series)
        values = np.full(len(out), np.nan)
        rows_needed = sorted({rc[0] for rc in cell.values() if rc is not None})
        cache = {r: series.read_block(r, r + 1)[:, 0, :] for r in rows_needed}
        for i, (sid, y_, m_) in enumerate(zip(out["site_id"], years, months)):
            rc = cell.get(sid)
            b = bands.get((int(y_), int(m_)))
            if rc is None or b is None:
                continue
            values[i] = cache[rc[0]][b, rc[1]]
        n_missing_month = int(sum((int(y_), int(m_)) not in bands for y_, m_ in zip(years, months)))
        if n_missing_month:
            warnings.append(f"driver {name} ({series.label}): {n_missing_month} site-month(s) outside its "
                            "dates get NaN")
        out[name] = values
    out.attrs["warnings"] = warnings
    return out
