"""Integration job: annual totals (Pg C yr-1) of a monthly ER raster series on a regular
lat/lon grid, globally or per zone (``upscaling.integrate``), with an optional GeoTIFF of annual
sums per cell."""

import numpy as np

from ..common.timeaxis import time_step
from ..common.units import M_C
from ..common.zones import ZONE_NAMES, climate_zones_from_mat
from ..errors import InputError
from ..io.series import read_band
from ..upscaling import integrate as _integrate
from .blocks import DEFAULT_BUDGET_MB
from .runner import RasterJob


def check_lat_lon_grid(grid, what):
    """InputError naming ``what`` when ``grid`` is not a latitude/longitude grid: a projected CRS
    (cell areas in metres would be taken for degrees), or without a CRS an extent beyond +-90
    degrees of latitude or 540 degrees of longitude."""
    if grid.crs_wkt:
        from osgeo import osr

        srs = osr.SpatialReference()
        srs.ImportFromWkt(grid.crs_wkt)
        if not srs.IsGeographic():
            raise InputError(f"{what}: its CRS is {srs.GetName()} (projected, in {srs.GetLinearUnitsName()}); the "
                             "cell areas are computed for a regular latitude/longitude grid: reproject it to a "
                             "geographic CRS (e.g. EPSG:4326 with GDAL's Warp (reproject))")
        return
    x0, dx, _, y0, _, dy = grid.geotransform
    lats = (y0, y0 + dy * grid.height)
    lons = (x0, x0 + dx * grid.width)
    if max(abs(v) for v in lats) > 90 + 1e-6 or max(abs(v) for v in lons) > 540:
        raise InputError(f"{what}: it has no CRS and its extent (x {min(lons):g} to {max(lons):g}, y "
                         f"{min(lats):g} to {max(lats):g}) is not in degrees; the cell areas are computed for a "
                         "regular latitude/longitude grid (e.g. EPSG:4326)")


def land_fraction_values(values, land_scale, land_what, scale_what="the land scale"):
    """The land fraction (0..1, float64) of a raster's ``values`` times ``land_scale`` (0.01 for
    percent); InputError naming ``land_what`` and ``scale_what`` when it has no value or lies
    outside 0..1 after scaling."""
    land = np.asarray(values, dtype="float64") * float(land_scale)
    if not np.isfinite(land).any():
        raise InputError(f"{land_what}: nodata in every cell; give a land fraction with values (0..1 or percent)")
    top, low = float(np.nanmax(land)), float(np.nanmin(land))
    if low < 0 or top > 1.0 + 1e-9:
        hint = (f"values up to {top / float(land_scale):g} look like a percentage: choose 'percent 0-100' for "
                f"{scale_what}" if top <= 100.0 * float(land_scale) + 1e-9 and low >= 0 else
                "values outside 0..1 and 0..100")
        raise InputError(f"{land_what}: a land fraction must lie in 0..1 after {scale_what} "
                         f"(x {float(land_scale):g}), found {low:g} .. {top:g}: {hint}")
    return land


def zone_values(values, zone_type="categorical", zone_names=None):
    """(zone codes int64 (rows, cols), {code: name}) of a zones raster's ``values``: integer codes
    (``'categorical'``, NaN -> 0) or climate zones from mean annual temperature (``'mat'``)."""
    if zone_type == "mat":
        return climate_zones_from_mat(values), dict(ZONE_NAMES)
    if zone_type == "categorical":
        return (np.where(np.isfinite(values), values, 0).astype("int64"),
                {int(k): str(v) for k, v in (zone_names or {}).items()})
    raise InputError(f"zone type must be 'categorical' or 'mat', not {zone_type!r}")


def integrate_raster(src, unit="gC_m2_d", land_fraction_path=None, land_scale=1.0, zones_path=None,
                     zone_type="categorical", product="ER", annual_path=None, zone_names=None,
                     budget_mb=DEFAULT_BUDGET_MB, progress=None, cancelled=None, land_what=None,
                     scale_what="the land scale"):
    """Annual totals (Pg C yr-1) of a monthly ER raster series on a regular lat/lon grid, globally
    or per zone, with exact spherical cell areas (``upscaling.integrate``).

    ``land_fraction_path``: optional raster on the same grid, multiplied by ``land_scale`` (0.01
    for percent).  ``zones_path``: optional raster on the same grid, either integer codes
    (``zone_type='categorical'``, e.g. IGBP or Koppen) or mean annual temperature in degC
    (``'mat'``: boreal < 2, temperate 2..17, tropical > 17).  ``annual_path``: optional GeoTIFF of
    annual sums (g C m-2 yr-1), one band per complete year.  ``zone_names``: {code: name} for
    categorical zones.  Zone 0 ('all') is the total over every cell.  Each totals row also holds
    the zone's land area and what the total leaves out (``upscaling.integrate.Integrator``:
    land_area_km2, missing_pixel_months, missing_area_km2, missing_share).  ``land_what`` /
    ``scale_what``: how messages name the land fraction (default: 'land fraction <path>') and
    its scale.  Returns (totals rows, summary rows)."""
    if time_step(src.dates) != "monthly":
        raise InputError(f"{src.label}: integration needs a regular monthly series")
    check_lat_lon_grid(src.grid, src.label)
    _integrate.check_zone_names(zone_names)
    land = None
    if land_fraction_path:
        land_what = land_what or f"land fraction {land_fraction_path}"
        land = land_fraction_values(read_band(land_fraction_path, src.grid, what="land fraction"), land_scale,
                                    land_what, scale_what)
    zones, names = None, None
    if zones_path:
        zones, names = zone_values(read_band(zones_path, src.grid, what="zones"), zone_type, zone_names)
    integ = _integrate.Integrator(src.dates, src.grid.geotransform, src.grid.height, unit, land, zones)
    years = [int(y) for y in integ.uyears if integ.nmonths[int(y)] == 12]
    if not years:
        raise InputError(f"{src.label}: no complete calendar year (12 months) in the series")
    options = dict(unit=unit, land_fraction=land_fraction_path, land_scale=land_scale, zones=zones_path,
                   zone_type=zone_type, product=product, cell_area="authalic sphere R=6371007.181 m",
                   carbon_molar_mass=M_C)
    ymask = np.array([d.year in years for d in src.dates])
    counts = {"valid": 0}
    with RasterJob("integrate", options, {"input": src.label}, progress, cancelled, budget_mb) as job:
        writer = None
        if annual_path:
            writer = job.output(annual_path, src.grid, [f"{y}-01-01" for y in years],
                                band_metadata=[{"units": "g C m-2 yr-1", "DATE": f"{y}-01-01"} for y in years])

        def work(r0, r1, sub):
            data = src.read_block(r0, r1)
            counts["valid"] += int(np.isfinite(data).any(axis=0).sum())
            integ.add(data, r0)
            if writer is not None:
                out = []
                for y in years:
                    sel = np.nonzero((integ.years == y) & ymask)[0]
                    amounts = np.stack([_integrate.monthly_amount(data[k], y, integ.months[k], unit, integ.calendar)
                                        for k in sel])
                    out.append(np.where(np.isfinite(amounts).all(axis=0), amounts.sum(axis=0), np.nan))
                writer.write_block(r0, np.stack(out))

        job.walk(src.grid, 8 * 3 * len(src.dates), work)
        if counts["valid"] == 0:
            raise InputError(f"{src.label}: every pixel is nodata in every band")
        job.commit()
    rows = integ.annual_totals()
    for r in rows:
        r["zone_name"] = _integrate.zone_name(r["zone"], names)
        r["product"] = product
    return rows, _integrate.totals_summary(rows, product, names)
