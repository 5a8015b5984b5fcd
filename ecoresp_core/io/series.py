"""Reading and writing raster time series with GDAL, block by block.

Inputs (``open_series``):
- a multiband raster (GeoTIFF, VRT, ...) with one band per time step and the date in
  each band's description (or dates given explicitly);
- a single-variable NetCDF file with a CF time axis;
- a multi-variable NetCDF file plus the variable name (e.g. CRU TS ``tmp``).

The series is always read in date order: bands whose dates are out of order are read sorted by
date (``RasterSeries.dates``, ``read_block`` and ``band_numbers`` follow that order, and
``order_note`` says that the bands were reordered), so every job (trend, detrend, ...) sees time
running forward and writes its dated outputs in date order.  Two bands with the same date are an
InputError naming both bands and the date.
Nodata and fill values (CRU's 9.96921e36) and non-finite values become NaN.
Outputs (``SeriesWriter``) are GeoTIFFs written under a temporary name in the
destination folder and renamed only by ``commit()``; ``abort()`` removes them.  A destination
ending in .nc is written as a CF NetCDF (time axis from dated bands) at commit.
"""

import json
import os
import re

import numpy as np

from ..errors import InputError
from ..common.timeaxis import (STANDARD_CALENDARS, calendar_of, decode_cf_time, expand_dates_spec, format_date,
                               parse_date)
from .atomic import check_output_folder, partial_path, remove_stale_partials, write_error
from .netcdf import geotiff_to_netcdf, is_netcdf_path

try:  # GDAL is an edge dependency: the numeric core works without it
    from osgeo import gdal, osr
    gdal.UseExceptions()
except ImportError:  # pragma: no cover - exercised only without GDAL
    gdal = osr = None

WGS84_WKT = None


def _wgs84_wkt():
    global WGS84_WKT
    if WGS84_WKT is None:
        srs = osr.SpatialReference()
        srs.ImportFromEPSG(4326)
        WGS84_WKT = srs.ExportToWkt()
    return WGS84_WKT


class Grid:
    """Size, geotransform and CRS (WKT, may be empty) of a raster."""

    def __init__(self, width, height, geotransform, crs_wkt=""):
        self.width, self.height = int(width), int(height)
        self.geotransform = tuple(float(v) for v in geotransform)
        self.crs_wkt = crs_wkt or ""

    def same_as(self, other, tol=1e-9):
        if (self.width, self.height) != (other.width, other.height):
            return False
        atol = tol * max(1.0, abs(self.geotransform[1]))
        if not np.allclose(self.geotransform, other.geotransform, rtol=0, atol=atol):
            return False
        if self.crs_wkt and other.crs_wkt:
            a, b = osr.SpatialReference(), osr.SpatialReference()
            a.ImportFromWkt(self.crs_wkt)
            b.ImportFromWkt(other.crs_wkt)
            return bool(a.IsSame(b))
        return True

    def describe(self):
        gt = self.geotransform
        return f"{self.width}x{self.height} cells, origin ({gt[0]:g}, {gt[3]:g}), cell ({gt[1]:g}, {gt[5]:g})"


# GDAL data types whose every value is exactly a float32
_FLOAT32_EXACT = ("Byte", "Int8", "UInt16", "Int16", "Float32")


def _packing(bands):
    """(scale, offset) float64 arrays of the bands (GDAL's scale/offset, i.e. NetCDF's
    scale_factor/add_offset of packed data), or None when every band is unpacked."""
    scale = np.array([b.GetScale() if b.GetScale() is not None else 1.0 for b in bands], np.float64)
    offset = np.array([b.GetOffset() if b.GetOffset() is not None else 0.0 for b in bands], np.float64)
    if np.all(scale == 1.0) and np.all(offset == 0.0):
        return None
    return scale, offset


def _netcdf_variables(path):
    ds = gdal.Open(path)
    subs = ds.GetSubDatasets() if ds is not None else []
    names = [s[0].rsplit(":", 1)[-1] for s in subs]
    return names, ds


class RasterSeries:
    """A raster time series opened for block reading.

    Attributes: ``path``, ``variable`` (NetCDF variable or None), ``label`` (for messages),
    ``dates`` (list of dates, in date order), ``band_numbers`` (the file's 1-based band of each
    date), ``order_note`` (None, or the text saying that the bands were read in date order),
    ``calendar`` (CF calendar of the dates), ``grid`` (Grid), ``count`` (time steps), ``nodata``,
    ``units``, ``name`` (variable or file stem)."""

    def __init__(self, path, variable=None, dates=None, dates_what="DATES"):
        if gdal is None:
            raise InputError("GDAL's Python bindings (osgeo) are not installed")
        self.path = str(path)
        self.variable = (variable or "").strip() or None
        self.label = self.path + (f" (variable {self.variable})" if self.variable else "")
        self.dates_what = dates_what
        if not os.path.exists(self.path):
            raise InputError(f"{self.path}: file not found")
        self._ds = self._open()
        ds = self._ds
        self.count = ds.RasterCount
        if self.count < 2:
            raise InputError(f"{self.label}: has {self.count} band(s); a time series needs "
                             "one band per time step and at least 2 bands")
        crs = ds.GetProjection() or ""
        if not crs and self._is_netcdf and self._geographic_netcdf():
            crs = _wgs84_wkt()
        self.grid = Grid(ds.RasterXSize, ds.RasterYSize, ds.GetGeoTransform(), crs)
        band = ds.GetRasterBand(1)
        self.nodata = band.GetNoDataValue()
        self.units = band.GetUnitType() or ""
        self.dtype = gdal.GetDataTypeName(band.DataType)
        self.name = self.variable or os.path.splitext(os.path.basename(self.path))[0]
        file_dates = self._read_dates(dates)
        self.band_numbers, self.order_note = date_order(file_dates, self.label)
        self.dates = [file_dates[b - 1] for b in self.band_numbers]
        self.calendar = calendar_of(self.dates)
        self._band_list = None if self.order_note is None else list(self.band_numbers)
        self._packing = _packing([ds.GetRasterBand(b) for b in self.band_numbers])

    # -- opening -----------------------------------------------------------------
    def _open(self):
        self._is_netcdf = False
        try:
            if self.variable:
                names, ds = _netcdf_variables(self.path)
                if not names and ds is not None and ds.RasterCount:
                    names = [n for n in [self._single_nc_name(ds)] if n]
                    if self.variable in names:
                        self._is_netcdf = ds.GetDriver().ShortName == "netCDF"
                        return ds
                if self.variable not in names:
                    listed = ", ".join(names) if names else "none found"
                    raise InputError(f"{self.path}: has no variable {self.variable!r} (variables: {listed})")
                self._is_netcdf = True
                return gdal.Open(f'NETCDF:"{self.path}":{self.variable}')
            ds = gdal.Open(self.path)
        except RuntimeError as exc:
            raise InputError(f"{self.path}: cannot be read as a raster ({exc})") from None
        if ds is None:
            raise InputError(f"{self.path}: cannot be read as a raster")
        self._is_netcdf = ds.GetDriver().ShortName == "netCDF"
        subs = ds.GetSubDatasets()
        if ds.RasterCount == 0 and subs:
            names = [s[0].rsplit(":", 1)[-1] for s in subs]
            if len(names) == 1:
                self.variable = names[0]
                return gdal.Open(subs[0][0])
            raise InputError(f"{self.path}: holds several variables ({', '.join(names)}); "
                             "name one with VARIABLE")
        return ds

    @staticmethod
    def _single_nc_name(ds):
        return ds.GetRasterBand(1).GetMetadataItem("NETCDF_VARNAME") if ds.RasterCount else None

    def _geographic_netcdf(self):
        md = self._ds.GetMetadata()
        return any(k.endswith("#units") and str(v).startswith("degrees_north") for k, v in md.items())

    # -- dates -------------------------------------------------------------------
    def _read_dates(self, spec):
        if spec is not None and str(spec).strip():
            if isinstance(spec, (list, tuple)):
                if len(spec) != self.count:
                    raise InputError(f"{self.label}: {len(spec)} dates given for {self.count} bands")
                return [parse_date(d, f"{self.label} date {i + 1}") if isinstance(d, str) else d
                        for i, d in enumerate(spec)]
            return expand_dates_spec(str(spec), self.count, what=f"{self.dates_what} for {self.label}")
        if self._is_netcdf:
            return self._netcdf_dates()
        return self._band_description_dates()

    def _netcdf_dates(self):
        md = self._ds.GetMetadata()
        extra = md.get("NETCDF_DIM_EXTRA", "").strip("{}")
        dims = [d for d in extra.split(",") if d]
        if not dims:
            return self._band_description_dates()
        if len(dims) > 1:
            raise InputError(f"{self.label}: has extra dimensions {dims}; only a single time axis "
                             "is supported (select one level first, e.g. with gdal_translate)")
        dim = dims[0]
        values = md.get(f"NETCDF_DIM_{dim}_VALUES")
        if values is None:
            values = [self._ds.GetRasterBand(i + 1).GetMetadataItem(f"NETCDF_DIM_{dim}")
                      for i in range(self.count)]
        else:
            values = values.strip("{}").split(",")
        units = md.get(f"{dim}#units")
        if not units or " since " not in units:
            raise InputError(f"{self.label}: the {dim!r} axis has no CF units like 'days since 1900-01-01' "
                             f"(found {units!r}); give DATES")
        try:
            nums = [float(v) for v in values]
        except (TypeError, ValueError):
            raise InputError(f"{self.label}: the {dim!r} axis values cannot be read") from None
        if len(nums) != self.count:
            raise InputError(f"{self.label}: {len(nums)} {dim} values for {self.count} bands")
        return decode_cf_time(nums, units, md.get(f"{dim}#calendar"), what=f"{self.label} {dim} axis")

    def _band_description_dates(self):
        """Dates of the band descriptions (or DATE items), in the calendar of the bands' CALENDAR
        items (written by :func:`dated_band_metadata`; Gregorian without one)."""
        dates = []
        for i in range(self.count):
            band = self._ds.GetRasterBand(i + 1)
            text = (band.GetDescription() or "").strip() or (band.GetMetadataItem("DATE") or "").strip()
            if not text:
                raise InputError(f"{self.label}: band {i + 1} has no date in its description; "
                                 "set band descriptions to dates (YYYY-MM-DD) or give DATES")
            dates.append(parse_date(text, f"{self.label} band {i + 1} description", band.GetMetadataItem("CALENDAR")))
        return dates

    # -- data --------------------------------------------------------------------
    @property
    def value_dtype(self):
        """'float32' when every value of the series is exactly a float32 (float32 or small
        integer bands, not packed), else 'float64': the dtype that reads it without loss
        in half the memory where possible."""
        return "float32" if self.dtype in _FLOAT32_EXACT and self._packing is None else "float64"

    def read_block(self, row0, row1, dtype="float64"):
        """Values of rows [row0, row1) of every band, in date order, as (t, rows, cols), NaN where
        missing; packed values (scale_factor / add_offset) are unpacked."""
        return self._read(row0, row1, self._band_list, np.arange(self.count), dtype)

    def sample(self, max_rows=16, max_bands=24):
        """Values of up to ``max_rows`` evenly spaced rows and ``max_bands`` evenly spaced time
        steps, as (bands, rows, cols) float64 with NaN where missing: a cheap look at the
        magnitudes of a series (unit checks).  The rows depend only on the grid, so two series on
        the same grid and dates give values of the same cells."""
        rows = np.unique(np.linspace(0, self.grid.height - 1, min(max_rows, self.grid.height)).round().astype(int))
        steps = np.unique(np.linspace(0, self.count - 1, min(max_bands, self.count)).round().astype(int))
        bands = [self.band_numbers[i] for i in steps]
        return np.concatenate([self._read(r, r + 1, bands, steps, "float64") for r in rows], axis=1)

    def _read(self, row0, row1, band_list, steps, dtype):
        """Rows [row0, row1) of the file's bands ``band_list`` (None: all, in file order), which
        are the time steps ``steps`` (for the packing), as (bands, rows, cols) of ``dtype``."""
        try:
            arr = self._ds.ReadAsArray(0, int(row0), self.grid.width, int(row1 - row0), band_list=band_list)
        except RuntimeError as exc:
            raise InputError(f"{self.label}: read failed at rows {row0}-{row1} ({exc})") from None
        if arr is None:
            raise InputError(f"{self.label}: read failed at rows {row0}-{row1}")
        arr = np.asarray(arr).reshape(len(steps), int(row1 - row0), self.grid.width)
        out = arr.astype(dtype, copy=True)
        if self.nodata is not None and np.isfinite(self.nodata):
            out[arr == arr.dtype.type(self.nodata)] = np.nan
        if self._packing is not None:
            scale, offset = (p[steps] for p in self._packing)
            out *= scale[:, None, None].astype(out.dtype)
            out += offset[:, None, None].astype(out.dtype)
        out[~np.isfinite(out)] = np.nan
        return out

    def date_strings(self):
        return [format_date(d) for d in self.dates]

    def close(self):
        self._ds = None


def _date_key(d):
    return (d.year, d.month, d.day, getattr(d, "hour", 0), getattr(d, "minute", 0), getattr(d, "second", 0))


def date_order(dates, label):
    """``(band_numbers, note)``: the 1-based bands of ``dates`` sorted by date, and None when they
    already are in date order, else a sentence naming the first band that is out of order.
    InputError naming both bands when two bands have the same date."""
    keys = [_date_key(d) for d in dates]
    order = sorted(range(len(keys)), key=keys.__getitem__)
    for i, j in zip(order, order[1:]):
        if keys[i] == keys[j]:
            a, b = sorted((i, j))
            raise InputError(f"{label}: bands {a + 1} and {b + 1} have the same date {format_date(dates[a])}; "
                             "a time series needs one band per date (fix the band dates or give DATES)")
    if order == list(range(len(keys))):
        return [i + 1 for i in order], None
    k = next(k for k in range(1, len(keys)) if keys[k] < keys[k - 1])
    note = (f"{label}: the bands are not in date order (band {k + 1}, {format_date(dates[k])}, follows band {k}, "
            f"{format_date(dates[k - 1])}); the series is read in date order, and dated outputs are written in "
            "date order")
    return [i + 1 for i in order], note


def dated_band_metadata(dates, units):
    """Band metadata of an output dated ``dates``: ``DATE`` and ``units`` per band, and ``CALENDAR``
    when the dates' calendar is not the standard one, so that the output is read back in its
    calendar (30-day months of '360_day', ...)."""
    calendar = calendar_of(dates)
    extra = {} if calendar in STANDARD_CALENDARS else {"CALENDAR": calendar}
    return [{"DATE": format_date(d), "units": units, **extra} for d in dates]


def split_source(source):
    """``(path, variable)`` of a raster source as GDAL and QGIS write it:
    ``NETCDF:"file.nc":var`` -> ``("file.nc", "var")``; a plain path (without a QGIS ``|option``
    suffix) -> ``(path, None)``."""
    text = str(source).strip()
    if text.upper().startswith("NETCDF:"):
        body = text[len("NETCDF:"):]
        if ":" in body:
            file_part, variable = body.rsplit(":", 1)
            return file_part.strip().strip('"'), variable.strip() or None
        return body.strip().strip('"'), None
    return text.split("|")[0], None  # QGIS sources may carry '|layername=...


def open_series(path, variable=None, dates=None, dates_what="DATES"):
    """Open a raster time series (see module docstring); raises InputError on bad input, naming a
    dates override that is wrong by ``dates_what`` (e.g. the override parameter's label)."""
    return RasterSeries(path, variable, dates, dates_what)


def check_same_grid(series_list):
    """Raise InputError naming the layers when grids (size, transform, CRS) differ."""
    first = series_list[0]
    for other in series_list[1:]:
        if not first.grid.same_as(other.grid):
            raise InputError(f"grids differ: {first.label} is {first.grid.describe()}, "
                             f"{other.label} is {other.grid.describe()}")


def _values_per_band(data, nodata):
    """Cells of each band of a (bands, rows, cols) block with a value (finite, not ``nodata``)."""
    has = np.isfinite(data) if data.dtype.kind == "f" else np.ones(data.shape, bool)
    if nodata is not None and not np.isnan(nodata):
        has &= data != nodata
    return has.reshape(has.shape[0], -1).sum(axis=1)


class SeriesWriter:
    """A multiband float32 GeoTIFF written block by block under a temporary name.

    ``band_names`` become band descriptions; ``metadata`` (dict) is stored in the
    dataset metadata (values that are not strings are JSON-encoded); ``band_metadata`` (one dict
    per band) in the bands' metadata, a ``units`` item also as the band's unit type. ``classes``
    ([(value, label, '#rrggbb'), ...]) makes band 1 categorical: its colour table and class
    names are set when the file is created, before any pixel is written (GDAL 3.10+ refuses
    to change a TIFF's colour interpretation once data are written). ``tile_rows``: the height
    of the file's tiles (a multiple of 16)."""

    def __init__(self, path, grid, band_names, metadata=None, nodata=np.nan,
                 dtype="Float32", band_metadata=None, classes=None, tile_rows=256):
        if gdal is None:
            raise InputError("GDAL's Python bindings (osgeo) are not installed")
        self.path = str(path)
        check_output_folder(self.path)
        remove_stale_partials(self.path)
        self.tmp = partial_path(self.path, ".tif")
        self.grid = grid
        self.nodata = nodata
        self.n = len(band_names)
        driver = gdal.GetDriverByName("GTiff")
        # tiles of 256 columns x tile_rows rows (a multiple of 16): a job whose row blocks are
        # shorter than a tile keeps the partial tiles of one tile row in GDAL's cache
        opts = ["COMPRESS=DEFLATE", "TILED=YES", "BLOCKXSIZE=256", f"BLOCKYSIZE={int(tile_rows)}", "BIGTIFF=IF_SAFER"]
        if dtype.startswith("Float"):
            opts.append("PREDICTOR=3")
        try:
            self._ds = driver.Create(self.tmp, grid.width, grid.height, self.n,
                                     gdal.GetDataTypeByName(dtype), opts)
        except RuntimeError as exc:
            raise InputError(f"{self.path}: cannot be created ({exc})") from None
        self._ds.SetGeoTransform(grid.geotransform)
        if grid.crs_wkt:
            self._ds.SetProjection(grid.crs_wkt)
        for i, name in enumerate(band_names):
            band = self._ds.GetRasterBand(i + 1)
            band.SetDescription(str(name))
            if nodata is not None:
                band.SetNoDataValue(float(nodata))
            if band_metadata and band_metadata[i]:
                band.SetMetadata({k: str(v) for k, v in band_metadata[i].items()})
                if band_metadata[i].get("units"):  # GDAL's unit type, which QGIS and gdalinfo show
                    band.SetUnitType(str(band_metadata[i]["units"]))
        if metadata:
            self._ds.SetMetadata({k: v if isinstance(v, str) else json.dumps(v, default=str)
                                  for k, v in metadata.items()})
        if classes:
            from .styles import apply_categories  # styles imports this module
            apply_categories(self._ds, classes)
        self.committed = False
        self.values_per_band = np.zeros(self.n, dtype="int64")

    @property
    def dataset(self):
        return self._ds

    def write_block(self, row0, data):
        """Write ``data`` (bands, rows, cols) at row ``row0``; NaN becomes nodata.  ``values_per_band``
        counts the cells of each band written with a value (not NaN, not nodata)."""
        data = np.asarray(data)
        self.values_per_band += _values_per_band(data, self.nodata)
        if self.nodata is not None and not np.isnan(self.nodata):
            data = np.where(np.isnan(data), self.nodata, data)
        for i in range(self.n):
            try:
                failed = self._ds.GetRasterBand(i + 1).WriteArray(data[i], 0, int(row0)) != 0
            except RuntimeError as exc:  # GDAL with exceptions enabled
                raise write_error(self.path, exc) from None
            if failed:
                raise write_error(self.path, gdal.GetLastErrorMsg())

    def commit(self):
        """Flush, close and rename to the final name (replacing an older file).  A destination
        ending in .nc gets the series as CF NetCDF (``io.netcdf``), converted block by block.
        A write error (full disk, ...) raises OutputError naming the destination."""
        self._close_checked()
        if is_netcdf_path(self.path):
            stem = re.sub(r"\W", "_", os.path.splitext(os.path.basename(self.path))[0]) or "value"
            tmp_nc = self.tmp[:-len(".tif")] + ".nc"
            try:
                geotiff_to_netcdf(self.tmp, tmp_nc, variable=stem if not stem[0].isdigit() else f"v{stem}")
                os.replace(tmp_nc, self.path)
            except (OSError, RuntimeError) as exc:  # a full disk, GDAL/netCDF4 write errors
                raise write_error(self.path, exc) from None
            finally:
                for p in (tmp_nc, self.tmp, self.tmp + ".aux.xml"):
                    if os.path.exists(p):
                        os.remove(p)
            self.committed = True
            return self.path
        # GDAL keeps what the TIFF cannot hold (category names, ...) in a .aux.xml sidecar
        if os.path.exists(self.tmp + ".aux.xml"):
            os.replace(self.tmp + ".aux.xml", self.path + ".aux.xml")
        elif os.path.exists(self.path + ".aux.xml"):
            os.remove(self.path + ".aux.xml")  # stale sidecar of an older file
        os.replace(self.tmp, self.path)
        self.committed = True
        return self.path

    def _close_checked(self):
        """Flush and close the temporary file; GDAL's write errors (reported at flush or close,
        not as exceptions) raise OutputError."""
        message = self._close_quietly()
        if message:
            raise write_error(self.path, message)

    def _close_quietly(self):
        """Flush and close the dataset with GDAL's exceptions off (an error raised by a dataset's
        destructor can only be printed, as a traceback); returns GDAL's error message or ''."""
        if self._ds is None:
            return ""
        exceptions = gdal.GetUseExceptions()
        gdal.DontUseExceptions()
        try:
            gdal.ErrorReset()
            self._ds.FlushCache()
            self._ds = None
            return gdal.GetLastErrorMsg() if gdal.GetLastErrorType() >= gdal.CE_Failure else ""
        finally:
            if exceptions:
                gdal.UseExceptions()

    def abort(self):
        """Close and delete the temporary file; the destination is left untouched."""
        self._close_quietly()
        for p in (self.tmp, self.tmp + ".aux.xml"):
            if os.path.exists(p):
                os.remove(p)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None or not self.committed:
            self.abort()
        return False


def read_band(path, grid=None, band=1, what="raster", variable=None):
    """One band of a raster as float64 with NaN for nodata; with ``grid`` given, the raster must
    be on that grid (InputError naming both otherwise)."""
    if gdal is None:
        raise InputError("GDAL's Python bindings (osgeo) are not installed")
    source = f'NETCDF:"{path}":{variable}' if variable else str(path)
    try:
        ds = gdal.Open(source)
    except RuntimeError as exc:
        raise InputError(f"{what} {path}: cannot be read ({exc})") from None
    if ds is None or ds.RasterCount < band:
        raise InputError(f"{what} {path}: has no band {band}")
    g = Grid(ds.RasterXSize, ds.RasterYSize, ds.GetGeoTransform(), ds.GetProjection() or "")
    if grid is not None and not grid.same_as(g):
        raise InputError(f"grids differ: {what} {path} is {g.describe()}, the series is {grid.describe()}")
    b = ds.GetRasterBand(band)
    raw = b.ReadAsArray()
    arr = raw.astype("float64")
    nd = b.GetNoDataValue()
    if nd is not None and np.isfinite(nd):
        arr[raw == raw.dtype.type(nd)] = np.nan
    packing = _packing([b])
    if packing is not None:
        arr = arr * packing[0][0] + packing[1][0]
    arr[~np.isfinite(arr)] = np.nan
    return arr
