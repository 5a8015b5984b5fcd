"""Cell areas of raster grids (docs/methods.md section 13).

Cell area of a regular latitude/longitude grid on a sphere of radius R (exact):

    A = R^2 * dlon[rad] * (sin(lat_north) - sin(lat_south))

with the authalic radius R = 6 371 007.181 m (the cells of a global grid sum to 4 pi R^2)."""

import numpy as np

from ..errors import InputError

R_AUTHALIC_M = 6371007.181


def row_areas_m2(geotransform, height, radius=R_AUTHALIC_M):
    """Area (m2) of one cell in each row of a north-up regular lat/lon grid (degrees), exact
    on the sphere.  ``geotransform`` as GDAL's (x0, dx, 0, y0, 0, dy) with dy < 0."""
    x0, dx, rx, y0, ry, dy = geotransform
    if rx or ry:
        raise InputError("the grid is rotated; cell areas need a north-up latitude/longitude grid")
    edges = y0 + dy * np.arange(height + 1)
    if np.nanmax(np.abs(edges)) > 90.0 + 1e-9:
        raise InputError(f"latitudes reach {np.nanmax(np.abs(edges)):.3f} degrees: the grid is not in "
                         "geographic degrees (reproject to EPSG:4326 first)")
    north, south = np.maximum(edges[:-1], edges[1:]), np.minimum(edges[:-1], edges[1:])
    return radius ** 2 * np.deg2rad(abs(dx)) * (np.sin(np.deg2rad(north)) - np.sin(np.deg2rad(south)))


def cell_areas(geotransform, height, width, geographic=True):
    """Cell areas (m2) as (rows, cols): exact spherical areas on a lat/lon grid, |dx dy| on a
    projected grid (map units squared)."""
    if geographic:
        return np.repeat(row_areas_m2(geotransform, height)[:, None], width, axis=1)
    return np.full((height, width), abs(geotransform[1] * geotransform[5]))
