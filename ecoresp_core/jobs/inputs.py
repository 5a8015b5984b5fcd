"""Opening and aligning the inputs of raster jobs.

Series are opened with ``io.series.open_series``; single-band rasters used as drivers that do
not change in time (land cover) with :func:`open_driver` as a :class:`StaticLayer`.  Whether
two layers can be combined cell by cell is decided here, once: :func:`grid_difference` (cells,
then CRS, by ``io.series.Grid.same_as``) and :func:`date_difference` (same dates, to the day
or to the month).  Each job words the error for its own inputs; :func:`check_aligned` raises
the common wording (``grids differ`` / ``CRS differ`` / ``dates differ``).
"""

import os

from ..common.timeaxis import format_date
from ..errors import InputError
from ..io.series import Grid, check_same_grid, gdal, open_series, read_band


def grid_difference(a, b):
    """How the grids of layers ``a`` and ``b`` (objects with ``.grid``) differ.

    Returns
    -------
    None, ``"cells"`` (size or geotransform differ, within ``Grid.same_as``'s tolerance) or
    ``"crs"`` (the same cells in different coordinate reference systems).
    """
    if a.grid.same_as(b.grid):
        return None
    cells_a = Grid(a.grid.width, a.grid.height, a.grid.geotransform)
    cells_b = Grid(b.grid.width, b.grid.height, b.grid.geotransform)
    return "crs" if cells_a.same_as(cells_b) else "cells"


def month_key(d):
    """(year, month) of a date; (year, 1) for an annual date given as a bare year."""
    return (d.year, d.month) if hasattr(d, "month") else (int(d.year), 1)


def _day_key(d):
    return d.year, d.month, d.day


_DATE_KEYS = {"time": format_date, "day": _day_key, "month": month_key}


def date_difference(dates_a, dates_b, by="day"):
    """Index of the first time step where two date lists differ, or None when they are equal.

    ``by``: ``"time"`` compares the ISO text (``common.timeaxis.format_date``: the day, and the
    time of day when not midnight), ``"day"`` year, month and day, ``"month"`` year and month
    only (monthly series dated on different days of the month are aligned).  When one list is a
    prefix of the other the index is the length of the shorter one.
    """
    key = _DATE_KEYS[by]
    ka, kb = [key(d) for d in dates_a], [key(d) for d in dates_b]
    if ka == kb:
        return None
    return next((i for i, (x, y) in enumerate(zip(ka, kb)) if x != y), min(len(ka), len(kb)))


def check_aligned(first, other, by="month"):
    """InputError naming both layers when ``other`` is not on the cells, CRS and dates of
    ``first`` (RasterSeries; dates compared ``by`` month or day, see :func:`date_difference`)."""
    if grid_difference(first, other) == "crs":
        raise InputError(f"CRS differ: {first.label} and {other.label} are on the same cells but in different "
                         "coordinate reference systems")
    check_same_grid([first, other])
    step = date_difference(first.dates, other.dates, by)
    if step is not None:
        raise InputError(f"dates differ: {first.label} has {len(first.dates)} time steps, {other.label} has "
                         f"{len(other.dates)}; first difference at step {step + 1}")


class StaticLayer:
    """A single-band raster used as a driver constant in time (e.g. land cover).

    Attributes: ``path``, ``label``, ``name``, ``count`` (bands), ``grid``; the band is read
    once, on the first :meth:`read_rows`.
    """

    def __init__(self, path, name=None):
        if gdal is None:
            raise InputError("GDAL's Python bindings (osgeo) are not installed")
        self.path = str(path)
        self.label = self.path
        try:
            ds = gdal.Open(self.path)
        except RuntimeError as exc:
            raise InputError(f"{self.path}: cannot be read as a raster ({exc})") from None
        if ds is None:
            raise InputError(f"{self.path}: cannot be read as a raster")
        self.count = ds.RasterCount
        self.grid = Grid(ds.RasterXSize, ds.RasterYSize, ds.GetGeoTransform(), ds.GetProjection() or "")
        self.name = name or os.path.splitext(os.path.basename(self.path))[0]
        self._data = None

    def read_rows(self, r0, r1):
        """Values of rows [r0, r1) as float64 (rows, cols), NaN where missing."""
        if self._data is None:
            self._data = read_band(self.path, self.grid, 1, what=f"driver {self.name}")
        return self._data[r0:r1]


def open_driver(path, name=None, dates=None, variable=None):
    """A RasterSeries for a multiband raster (or NetCDF ``variable`` with a time axis), a
    StaticLayer for a single-band raster or variable (e.g. land cover)."""
    source = f'NETCDF:"{path}":{variable}' if variable else str(path)
    if gdal is not None:
        try:
            ds = gdal.Open(source)
        except RuntimeError as exc:
            raise InputError(f"driver {name or path}: {source} cannot be read as a raster ({exc})") from None
        if ds is not None and ds.RasterCount == 1 and not ds.GetSubDatasets():
            return StaticLayer(source, name)
    return open_series(path, variable, dates=dates)
