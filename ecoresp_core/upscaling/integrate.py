"""Grid integration of ER (docs/methods.md section 13): exact spherical cell areas and totals in
Pg C per year, globally and per zone.

Cell area of a regular latitude/longitude grid on a sphere of radius R (exact):

    A = R^2 * dlon[rad] * (sin(lat_north) - sin(lat_south))

with the authalic radius R = 6 371 007.181 m (the cells of a global grid sum to 4 pi R^2).

Totals: ``ER_total[Pg C] = 1e-15 * sum_cells A_i * f_i * sum_months ER_i,m[g C m-2 month-1]`` where
``f_i`` is the land fraction (0..1, optional) and monthly amounts come from a mean daily rate
times the real number of days of the month (leap Februaries counted), or from a rate in
umol CO2 m-2 s-1 (x 1e-6 x 12.011 g mol-1 x 86400 s).
"""

import numpy as np

from ..common.geometry import R_AUTHALIC_M, row_areas_m2
from ..common.timeaxis import calendar_of, days_in_month
from ..common.units import UMOL_M2_S_TO_GC_M2_D
from ..errors import InputError

UNITS = ("gC_m2_d", "gC_m2_month", "umol_m2_s")
#: the name of the total over every cell (zone code 0 in the rows); no zone code can rename it
TOTAL = "all"


def check_zone_names(zone_names, what="zone names"):
    """InputError naming ``what`` when a name is given for a code below 1: 0 marks the cells outside
    every zone (and the total row), negative codes are never totalled."""
    bad = [code for code in (zone_names or {}) if int(code) < 1]
    if bad:
        raise InputError(f"{what}: {bad[0]}={zone_names[bad[0]]} names code {bad[0]}; zone codes are 1 or more "
                         f"(0 marks cells outside every zone; the total over all cells is the row '{TOTAL}')")


def zone_name(code, zone_names=None):
    """The name of a totals row: TOTAL for code 0, else the given name or the code."""
    return TOTAL if code == 0 else (zone_names or {}).get(code, str(code))


def monthly_amount(values, year, month, unit, calendar="standard"):
    """ER of one month in g C m-2 month-1 from ``values`` in ``unit``: 'gC_m2_d' (mean daily rate,
    e.g. FLUXNET2015 MM), 'gC_m2_month' (already a monthly amount) or 'umol_m2_s' (mean flux);
    the month has its days in the CF ``calendar`` of the series (30 in '360_day')."""
    if unit == "gC_m2_month":
        return values
    if unit == "gC_m2_d":
        return values * days_in_month(year, month, calendar)
    if unit == "umol_m2_s":
        return values * UMOL_M2_S_TO_GC_M2_D * days_in_month(year, month, calendar)
    raise InputError(f"unknown ER unit {unit!r}; use one of {', '.join(UNITS)}")


class Integrator:
    """Accumulates monthly ER blocks into annual totals (Pg C): zone 0 = all cells, plus one
    total per zone code when ``zones`` is given.

    Feed row blocks with ``add(block (t, rows, cols), row0)``; the series' ``dates`` give
    year and month of each band.  ``land_fraction`` (rows x cols, 0..1) and ``zones`` (integer,
    0 = no zone) are full-grid arrays or None."""

    def __init__(self, dates, geotransform, height, unit="gC_m2_d", land_fraction=None, zones=None,
                 radius=R_AUTHALIC_M):
        if unit not in UNITS:
            raise InputError(f"unknown ER unit {unit!r}; use one of {', '.join(UNITS)}")
        self.years = np.array([d.year for d in dates])
        self.months = np.array([d.month for d in dates])
        self.calendar = calendar_of(dates)
        self.unit = unit
        self.areas = row_areas_m2(geotransform, height, radius)
        self.land = None if land_fraction is None else np.asarray(land_fraction, dtype="float64")
        if self.land is not None and (np.nanmin(self.land) < 0 or np.nanmax(self.land) > 1.0 + 1e-9):
            raise InputError("land fraction must lie in 0..1 (divide a percentage by 100)")
        self.zones = None if zones is None else np.asarray(zones)
        # zone 0 is the total over every cell (with or without a zone)
        codes = [0] if self.zones is None else [0] + [int(z) for z in np.unique(self.zones) if z > 0]
        self.codes = codes
        self.uyears = np.unique(self.years)
        self.total = {(int(y), c): 0.0 for y in self.uyears for c in codes}
        self.missing = {int(y): 0 for y in self.uyears}
        self.nmonths = {int(y): int(np.sum(self.years == y)) for y in self.uyears}

    def add(self, block, row0):
        """Add the monthly ER of rows [row0, row0 + rows) of every band."""
        block = np.asarray(block, dtype="float64")
        rows = block.shape[1]
        w = self.areas[row0:row0 + rows, None] * np.ones((1, block.shape[2]))
        if self.land is not None:
            w = w * np.nan_to_num(self.land[row0:row0 + rows])
        valid_any = np.any(np.isfinite(block), axis=0)
        for k in range(block.shape[0]):
            y, m = int(self.years[k]), int(self.months[k])
            amount = monthly_amount(block[k], y, m, self.unit, self.calendar)
            self.missing[y] += int(np.sum(valid_any & ~np.isfinite(amount)))
            contrib = np.where(np.isfinite(amount), amount, 0.0) * w
            self.total[(y, 0)] += float(contrib.sum())
            if self.zones is not None:
                z = self.zones[row0:row0 + rows]
                for c in self.codes[1:]:
                    self.total[(y, c)] += float(contrib[z == c].sum())

    def annual_totals(self, complete_only=True):
        """[{year, zone, total_PgC, n_months, missing_pixel_months}] (grams -> Pg: 1e-15)."""
        out = []
        for y in self.uyears:
            y = int(y)
            if complete_only and self.nmonths[y] < 12:
                continue
            for c in self.codes:
                out.append({"year": y, "zone": c, "total_PgC": self.total[(y, c)] * 1e-15,
                            "n_months": self.nmonths[y], "missing_pixel_months": self.missing[y]})
        return out


def totals_summary(rows, product, zone_names=None):
    """Mean and standard deviation (ddof=1) of annual totals per zone: the comparison table of
    the programme (product, zone, period, mean, sd, n_years)."""
    out = []
    zone_names = zone_names or {}
    for c in sorted({r["zone"] for r in rows}):
        t = np.array([r["total_PgC"] for r in rows if r["zone"] == c])
        yrs = [r["year"] for r in rows if r["zone"] == c]
        out.append({"product": product, "zone": zone_name(c, zone_names),
                    "period": f"{min(yrs)}-{max(yrs)}", "mean_PgC_yr": float(t.mean()),
                    "sd_PgC_yr": float(t.std(ddof=1)) if len(t) > 1 else float("nan"), "n_years": len(t)})
    return out
