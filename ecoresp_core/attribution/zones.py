"""Zone summaries of a dominant-driver map (docs/methods.md sections 13 and 15): the share of
area (exact spherical cell areas, ``upscaling.integrate.row_areas_m2``) whose IAV is
dominated by each driver, and by each driver group (water-related vs thermal), per
climate zone.

Zones: boreal / temperate / tropical from a mean-annual-temperature raster (< 2 degC,
2..17 degC inclusive, > 17 degC: ``common.zones.climate_zones_from_mat``), or any categorical
raster (integer codes; 0 or nodata = no zone).  A row ``zone = 0, zone_name = 'all'`` covers
every pixel with a result, in a zone or not.

Denominators: ``share_of_zone`` = class area / area of the zone's pixels *with a result*
(dominant driver or 'none'; nodata pixels are left out); ``share_of_attributed`` = class area
/ area of the zone's pixels with a significant dominant driver (NaN for the 'none' row), so
the water and thermal group shares of ``share_of_attributed`` say which kind of driver
dominates where one does.

Groups by driver name (``default_group``; overridable per driver): *water* for
precipitation (P, pre, pr, tp, ...), wet days, vapour pressure, humidity, VPD, soil moisture, SPEI/SPI,
evapotranspiration; *thermal* for temperature (mean, min, max, diurnal range), frost days,
soil and surface temperature; *other* for everything else (radiation, cloud, CO2, ...).
"""

import re

import numpy as np

from ..common.keyvalue import parse_pairs
from ..common.zones import ZONE_NAMES, climate_zones_from_mat
from ..errors import InputError
from .partialcorr import NODATA, NONE

GROUPS = ("water", "thermal", "other")
_WATER = {"p", "pre", "pr", "prcp", "precip", "precipitation", "rain", "rainfall", "tp", "ppt", "wet", "wetdays",
          "vap", "vp", "ea", "rh", "hurs", "humidity", "vpd", "sm", "swc", "swvl", "swvl1", "swvl2", "soilmoisture",
          "spei", "spi", "pdsi", "pet", "et", "aet", "evap", "evapotranspiration", "q", "huss", "moisture"}
_THERMAL = {"tmp", "ta", "tas", "tair", "t2m", "tmn", "tmx", "tasmin", "tasmax", "tmin", "tmax", "tmean", "dtr",
            "frs", "frost", "frostdays", "temperature", "temp", "ts", "tsoil", "stl1", "skt", "lst", "mat"}


def default_group(name):
    """'water', 'thermal' or 'other' from a driver name (see the module docstring)."""
    text = str(name).lower()
    tokens = [t for t in re.split(r"[^a-z0-9]+", text) if t]
    for t in tokens:
        if t in _WATER or t.startswith("precip") or t.startswith("rain") or t.startswith("swvl"):
            return "water"
        if t in _THERMAL or t.startswith("temp"):
            return "thermal"
    return "other"


def parse_groups(text, what="driver groups"):
    """``'TA=thermal; SM=water'`` (',' or ';' separated) -> dict; empty text -> {}."""
    out = {}
    for name, group in parse_pairs(text, what, f"name=group (groups: {', '.join(GROUPS)})"):
        if group.lower() not in GROUPS:
            raise InputError(f"{what}: driver {name}: unknown group {group!r}; use one of {', '.join(GROUPS)}")
        out[name] = group.lower()
    return out


def driver_groups(names, overrides=None, what="driver groups"):
    """Group of every driver: ``default_group`` unless ``overrides`` names it; errors name
    ``what`` (the parameter of the overrides)."""
    overrides = dict(overrides or {})
    unknown = [k for k in overrides if k not in names]
    if unknown:
        raise InputError(f"{what}: group given for unknown driver(s) {', '.join(unknown)}; drivers are "
                         f"{', '.join(names)}")
    for k, g in overrides.items():
        if g not in GROUPS:
            raise InputError(f"{what}: driver {k}: unknown group {g!r}; use one of {', '.join(GROUPS)}")
    return {n: overrides.get(n, default_group(n)) for n in names}


def zones_from_values(values, zone_type="mat", what="the zones raster"):
    """``(codes int (rows, cols), names {code: name})`` from a MAT raster (degC) or a
    categorical raster (integer codes; NaN/<= 0 -> 0 = no zone).  A raster without any value
    (every cell NaN: nodata) is an InputError naming ``what``."""
    v = np.asarray(values, dtype="float64")
    if not np.isfinite(v).any():
        raise InputError(f"{what} has no value: every cell is nodata")
    if zone_type == "mat":
        return climate_zones_from_mat(v).astype("int64"), dict(ZONE_NAMES)
    if zone_type == "categorical":
        finite = np.isfinite(v)
        if np.any(finite & (v != np.round(v))):
            raise InputError(f"{what} holds non-integer values: use the mean annual temperature "
                             "zone type, or a raster of integer zone codes")
        codes = np.where(finite & (v > 0), v, 0).astype("int64")
        return codes, {int(c): str(int(c)) for c in np.unique(codes) if c > 0}
    raise InputError(f"zone type must be 'mat' or 'categorical', not {zone_type!r}")


def zone_summary(dominant, names, areas, zones=None, zone_names=None, groups=None):
    """Area table of a dominant-driver map.

    ``dominant``: codes (rows, cols) as ``partialcorr`` writes them (1..m = ``names``,
    NONE, NODATA).  ``areas``: cell areas (rows, cols) in m2.  ``zones``: integer codes
    (0 = no zone) or None.  ``groups``: overrides of ``driver_groups``.
    Returns a list of dicts with zone, zone_name, kind ('driver' / 'group'), name, group,
    n_pixels, area_km2, share_of_zone, share_of_attributed."""
    dom = np.asarray(dominant)
    areas = np.asarray(areas, dtype="float64")
    if areas.shape != dom.shape:
        raise InputError(f"cell areas {areas.shape} do not match the dominant-driver map {dom.shape}")
    names = [str(n) for n in names]
    m = len(names)
    bad = ~np.isin(dom, [NONE, NODATA] + list(range(1, m + 1)))
    if bad.any():
        raise InputError(f"the dominant-driver map holds codes {sorted(set(np.unique(dom[bad]).tolist()))} "
                         f"outside 0..{m} and {NODATA} ({m} drivers: {', '.join(names)})")
    grp = driver_groups(names, groups)
    if zones is None:
        zones = np.zeros(dom.shape, dtype="int64")
    zones = np.asarray(zones)
    if zones.shape != dom.shape:
        raise InputError(f"zones {zones.shape} do not match the dominant-driver map {dom.shape}")
    zone_names = dict(zone_names or {})
    codes = [0] + [int(c) for c in np.unique(zones) if c > 0]
    has = dom != NODATA
    rows = []
    for z in codes:
        inz = has if z == 0 else has & (zones == z)
        total = float(areas[inz].sum())
        attributed = float(areas[inz & (dom != NONE)].sum())
        zname = "all" if z == 0 else zone_names.get(z, str(z))

        def row(kind, name, group, sel):
            a = float(areas[sel].sum())
            return {"zone": z, "zone_name": zname, "kind": kind, "name": name, "group": group,
                    "n_pixels": int(sel.sum()), "area_km2": a * 1e-6,
                    "share_of_zone": a / total if total > 0 else float("nan"),
                    "share_of_attributed": (a / attributed if attributed > 0 and name != "none" else float("nan"))}

        for j, n in enumerate(names):
            rows.append(row("driver", n, grp[n], inz & (dom == j + 1)))
        rows.append(row("driver", "none", "none", inz & (dom == NONE)))
        for g in GROUPS:
            codes_g = [j + 1 for j, n in enumerate(names) if grp[n] == g]
            rows.append(row("group", g, g, inz & np.isin(dom, codes_g)))
    return rows
