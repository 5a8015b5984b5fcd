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
    total per zone code when ``zones`` is given, and what the totals leave out.

    Feed row blocks with ``add(block (t, rows, cols), row0)`` (every band of the rows); the
    series' ``dates`` give year and month of each band.  ``land_fraction`` (rows x cols, 0..1)
    and ``zones`` (integer, 0 = no zone) are full-grid arrays or None.

    Land: the cells with a land fraction above 0, or without a land fraction those with a value
    in some month of the series. A pixel-month on land without a value is left out of the totals
    (counted as zero): ``missing_pixel_months`` counts them, ``missing_area_km2`` is the land area
    (cell area x land fraction) they stand for, averaged over the year's months, and
    ``missing_share`` that area over the zone's ``land_area_km2``."""

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
        self.missing = {(int(y), c): 0 for y in self.uyears for c in codes}
        self.missing_m2 = {(int(y), c): 0.0 for y in self.uyears for c in codes}  # area-months
        self.land_m2 = {c: 0.0 for c in codes}
        self.nmonths = {int(y): int(np.sum(self.years == y)) for y in self.uyears}

    def _zone_index(self, rows, row0):
        """Position of each cell's zone in ``codes`` (rows x cols; 0 for cells without a zone)."""
        if self.zones is None:
            return None
        z = self.zones[row0:row0 + rows]
        pos = np.zeros(z.shape, dtype=np.intp)
        for i, c in enumerate(self.codes[1:], start=1):
            pos[z == c] = i
        return pos.ravel()

    def _by_zone(self, index, values):
        """{zone code: sum of ``values`` (rows x cols) over the zone's cells} (0: every cell)."""
        out = {0: float(values.sum())}
        if index is not None:
            sums = np.bincount(index, weights=values.ravel(), minlength=len(self.codes))
            out.update({c: float(sums[i]) for i, c in enumerate(self.codes) if i})
        return out

    def add(self, block, row0):
        """Add the monthly ER of rows [row0, row0 + rows) of every band."""
        block = np.asarray(block, dtype="float64")
        rows = block.shape[1]
        w = self.areas[row0:row0 + rows, None] * np.ones((1, block.shape[2]))
        if self.land is not None:
            frac = np.nan_to_num(self.land[row0:row0 + rows])
            w = w * frac
            on_land = frac > 0
        else:
            on_land = np.any(np.isfinite(block), axis=0)
        land_w = np.where(on_land, w, 0.0)
        index = self._zone_index(rows, row0)
        for c, v in self._by_zone(index, land_w).items():
            self.land_m2[c] += v
        for k in range(block.shape[0]):
            y, m = int(self.years[k]), int(self.months[k])
            amount = monthly_amount(block[k], y, m, self.unit, self.calendar)
            finite = np.isfinite(amount)
            gap = on_land & ~finite
            for c, v in self._by_zone(index, gap.astype("int64")).items():
                self.missing[(y, c)] += int(v)
            for c, v in self._by_zone(index, np.where(gap, land_w, 0.0)).items():
                self.missing_m2[(y, c)] += v
            contrib = np.where(finite, amount, 0.0) * w
            for c, v in self._by_zone(index, contrib).items():
                self.total[(y, c)] += v

    def annual_totals(self, complete_only=True):
        """[{year, zone, total_PgC, n_months, land_area_km2, missing_pixel_months,
        missing_area_km2, missing_share}] (grams -> Pg: 1e-15; m2 -> km2: 1e-6)."""
        out = []
        for y in self.uyears:
            y = int(y)
            if complete_only and self.nmonths[y] < 12:
                continue
            for c in self.codes:
                land = self.land_m2[c] * 1e-6
                gap = self.missing_m2[(y, c)] * 1e-6 / self.nmonths[y]
                out.append({"year": y, "zone": c, "total_PgC": self.total[(y, c)] * 1e-15,
                            "n_months": self.nmonths[y], "land_area_km2": land,
                            "missing_pixel_months": self.missing[(y, c)], "missing_area_km2": gap,
                            "missing_share": gap / land if land > 0 else float("nan")})
        return out


def totals_summary(rows, product, zone_names=None):
    """Mean and standard deviation (ddof=1) of annual totals per zone: the comparison table of
    the programme (product, zone, period, mean, sd, n_years), with the largest share of the
    zone's land left out in a year (``missing_share_max``, when the rows hold it)."""
    out = []
    zone_names = zone_names or {}
    for c in sorted({r["zone"] for r in rows}):
        t = np.array([r["total_PgC"] for r in rows if r["zone"] == c])
        yrs = [r["year"] for r in rows if r["zone"] == c]
        row = {"product": product, "zone": zone_name(c, zone_names),
               "period": f"{min(yrs)}-{max(yrs)}", "mean_PgC_yr": float(t.mean()),
               "sd_PgC_yr": float(t.std(ddof=1)) if len(t) > 1 else float("nan"), "n_years": len(t)}
        shares = [r["missing_share"] for r in rows if r["zone"] == c and "missing_share" in r]
        if shares:
            row["missing_share_max"] = float(np.nanmax(shares)) if np.isfinite(shares).any() else float("nan")
        out.append(row)
    return out


def large_gaps(rows, zone_names=None, threshold=0.05):
    """One sentence per zone whose land is left out above ``threshold`` (share of the land
    area-months without ER) in some year: the totals count those pixel-months as zero."""
    out = []
    for c in sorted({r["zone"] for r in rows}):
        years = [r for r in rows if r["zone"] == c]
        big = [r for r in years if np.isfinite(r.get("missing_share", np.nan)) and r["missing_share"] > threshold]
        if not big:
            continue
        worst = max(big, key=lambda r: r["missing_share"])
        span = f"{big[0]['year']}" if len(big) == 1 else f"{len(big)} of {len(years)} years ({big[0]['year']}-" \
            f"{big[-1]['year']})"
        out.append(f"{zone_name(c, zone_names)}: up to {100 * worst['missing_share']:.1f} % of the land "
                   f"({worst['missing_area_km2']:.6g} of {worst['land_area_km2']:.6g} km2, "
                   f"{worst['missing_pixel_months']} pixel-months in {worst['year']}) has no ER in {span}: "
                   "left out of the totals (counted as zero)")
    return out
