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


def _fold_rows(start, values):
    """``start`` plus the rows of ``values`` (rows, ...) added one after the other in row order
    (``np.add.accumulate`` is a strict left fold): the same bits however the rows were blocked."""
    if values.shape[0] == 0:
        return start
    return np.add.accumulate(np.concatenate([start[None], values]), axis=0)[-1]


def row_sums(block, areas, year_pos, n_years, months, years, unit, calendar, land=None, zone_pos=None, n_codes=1):
    """Per-row sums of a block of whole grid rows, the kernel of :class:`Integrator` (the QGIS job
    and ``ecoresp_core.cube.upscaling`` both call it).

    ``block`` (t, rows, cols): monthly ER of every band of the rows (whole rows: the sums are over
    the full width); ``areas`` (rows,): cell area (m2) of each row; ``year_pos`` (t,): position of
    each band's year (0 .. ``n_years``-1); ``months``/``years`` (t,): month and year of each band;
    ``land`` (rows, cols): land fraction 0..1 or None; ``zone_pos`` (rows, cols): position of each
    cell's zone in the zone codes (0: none) or None.  Returns a dict of arrays per row and zone
    position: ``land_m2`` (rows, n_codes) land area (m2); per year ``total`` (n_years, rows, n_codes)
    g C, ``missing`` (int64) pixel-months on land without a value and ``missing_m2`` their area
    (m2 x months).  Within a row the cells are summed in column order (position 0, all cells:
    numpy's pairwise sum of the contiguous row; zones: in cell order), a year's months in band order;
    the rows are then added in row order by :class:`Integrator` (``_fold_rows``), so that totals do
    not depend on how the grid was cut into blocks."""
    block = np.ascontiguousarray(block, dtype="float64")
    nt, rows, cols = block.shape
    w = np.ascontiguousarray(np.asarray(areas, dtype="float64")[:, None] * np.ones((1, cols)))
    if land is not None:
        frac = np.nan_to_num(np.asarray(land, dtype="float64"))
        w = w * frac
        on_land = frac > 0
    else:
        on_land = np.any(np.isfinite(block), axis=0)
    bins = None
    if zone_pos is not None:
        bins = (np.asarray(zone_pos, dtype=np.intp) + n_codes * np.arange(rows, dtype=np.intp)[:, None]).ravel()

    def by_zone(values):
        out = np.zeros((rows, n_codes), dtype=values.dtype if values.dtype.kind in "iu" else np.float64)
        out[:, 0] = np.ascontiguousarray(values).sum(axis=1)
        if bins is not None:
            sums = np.bincount(bins, weights=values.ravel(), minlength=rows * n_codes).reshape(rows, n_codes)
            out[:, 1:] = sums[:, 1:] if out.dtype.kind == "f" else np.rint(sums[:, 1:]).astype(out.dtype)
        return out

    land_w = np.where(on_land, w, 0.0)
    res = {"land_m2": by_zone(land_w),
           "total": np.zeros((n_years, rows, n_codes)), "missing": np.zeros((n_years, rows, n_codes), dtype=np.int64),
           "missing_m2": np.zeros((n_years, rows, n_codes)), "valid": int(np.isfinite(block).any(axis=0).sum())}
    for k in range(nt):
        i = int(year_pos[k])
        amount = monthly_amount(block[k], int(years[k]), int(months[k]), unit, calendar)
        finite = np.isfinite(amount)
        gap = on_land & ~finite
        res["missing"][i] += by_zone(gap.astype("int64"))
        res["missing_m2"][i] += by_zone(np.where(gap, land_w, 0.0))
        res["total"][i] += by_zone(np.where(finite, amount, 0.0) * w)
    return res


class Integrator:
    """Accumulates monthly ER blocks into annual totals (Pg C): zone 0 = all cells, plus one
    total per zone code when ``zones`` is given, and what the totals leave out.

    Feed row blocks with ``add(block (t, rows, cols), row0)`` (every band of the rows), or their
    :func:`row_sums` with ``add_sums(sums, row0)``; the series' ``dates`` give year and month of
    each band.  ``land_fraction`` (rows x cols, 0..1) and ``zones`` (integer, 0 = no zone) are
    full-grid arrays or None.  Sums do not depend on the blocks: each row is summed whole, then
    the rows are added in row order (blocks given out of order wait for the rows before them).

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
        self.year_pos = np.searchsorted(self.uyears, self.years)
        self.nmonths = {int(y): int(np.sum(self.years == y)) for y in self.uyears}
        ny, nc = len(self.uyears), len(codes)
        self._land = np.zeros(nc)
        self._total, self._missing_m2 = np.zeros((ny, nc)), np.zeros((ny, nc))
        self._missing = np.zeros((ny, nc), dtype=np.int64)
        self.valid = 0  # cells with a value in some month
        self._next_row, self._pending = 0, {}

    def zone_positions(self, row0, row1):
        """Position of each cell's zone in ``codes`` (rows x cols; 0 for cells without a zone),
        None without zones."""
        if self.zones is None:
            return None
        z = self.zones[row0:row1]
        pos = np.zeros(z.shape, dtype=np.intp)
        for i, c in enumerate(self.codes[1:], start=1):
            pos[z == c] = i
        return pos

    def row_sums(self, block, row0):
        """:func:`row_sums` of rows [row0, row0 + rows) of every band."""
        rows = np.shape(block)[1]
        land = None if self.land is None else self.land[row0:row0 + rows]
        return row_sums(block, self.areas[row0:row0 + rows], self.year_pos, len(self.uyears), self.months,
                        self.years, self.unit, self.calendar, land, self.zone_positions(row0, row0 + rows),
                        len(self.codes))

    def add(self, block, row0):
        """Add the monthly ER of rows [row0, row0 + rows) of every band."""
        self.add_sums(self.row_sums(block, row0), row0)

    def add_sums(self, sums, row0):
        """Add the :func:`row_sums` of rows starting at ``row0``."""
        self._pending[int(row0)] = sums
        while self._next_row in self._pending:
            self._fold(self._pending.pop(self._next_row))

    def _fold(self, sums):
        self._land = _fold_rows(self._land, sums["land_m2"])
        self._total = _fold_rows(self._total, np.moveaxis(sums["total"], 1, 0))
        self._missing_m2 = _fold_rows(self._missing_m2, np.moveaxis(sums["missing_m2"], 1, 0))
        self._missing = self._missing + sums["missing"].sum(axis=1)
        self.valid += int(sums["valid"])
        self._next_row += sums["land_m2"].shape[0]

    def _flush(self):
        """Fold the blocks still waiting (rows not given before them), in row order."""
        for row0 in sorted(self._pending):
            self._fold(self._pending.pop(row0))

    def _by_year_zone(self, values, kind):
        """{(year, zone code): value} of a (years, zones) accumulator, every block folded in."""
        self._flush()
        return {(int(y), c): kind(values[i, j]) for i, y in enumerate(self.uyears) for j, c in enumerate(self.codes)}

    @property
    def total(self):
        return self._by_year_zone(self._total, float)

    @property
    def missing(self):
        return self._by_year_zone(self._missing, int)

    @property
    def missing_m2(self):
        return self._by_year_zone(self._missing_m2, float)

    @property
    def land_m2(self):
        self._flush()
        return {c: float(self._land[j]) for j, c in enumerate(self.codes)}

    def annual_totals(self, complete_only=True):
        """[{year, zone, total_PgC, n_months, land_area_km2, missing_pixel_months,
        missing_area_km2, missing_share}] (grams -> Pg: 1e-15; m2 -> km2: 1e-6)."""
        out = []
        totals, missing, missing_m2, land_m2 = self.total, self.missing, self.missing_m2, self.land_m2
        for y in self.uyears:
            y = int(y)
            if complete_only and self.nmonths[y] < 12:
                continue
            for c in self.codes:
                land = land_m2[c] * 1e-6
                gap = missing_m2[(y, c)] * 1e-6 / self.nmonths[y]
                out.append({"year": y, "zone": c, "total_PgC": totals[(y, c)] * 1e-15,
                            "n_months": self.nmonths[y], "land_area_km2": land,
                            "missing_pixel_months": missing[(y, c)], "missing_area_km2": gap,
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
