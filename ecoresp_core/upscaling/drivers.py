"""Derived drivers for upscaling (docs/methods.md sections 11-12), pure numpy with units in the names,
and ``derive_raster``: two (or one) monthly raster series on the same grid and dates -> a derived
series written block by block.

- saturation vapour pressure: e_sat(T) = 6.1078 exp(17.08085 T / (234.175 + T)) hPa, T in degC
  (the REddyProc formula of section 11, also used for CRU TS RH in section 12);
- RH = 100 vap / e_sat(tmp), clipped to [0, 100]; VPD = e_sat(tmp) - vap, clipped at 0 (hPa);
- VPD without humidity data: e_sat(tmp) - e_sat(tmn) (minimum temperature as dew point);
- DTR = tmx - tmn (degC);
- K <-> degC (273.15), accumulated J m-2 -> mean W m-2 (divide by the accumulation seconds),
  mm/month <-> mm/day with the real number of days of each month (leap Februaries).
"""


import numpy as np

from ..blocks import DEFAULT_BUDGET_MB, Progress, run_row_blocks
from ..errors import InputError
from ..common.meteorology import dtr_from_tmx_tmn, rh_from_vap_tmp, vpd_from_tmn_tmp, vpd_from_vap_tmp
from ..common.timeaxis import days_in_month
from ..common.units import celsius_to_kelvin, j_m2_to_w_m2, kelvin_to_celsius
from ..io.series import SeriesWriter
from ..provenance import provenance

# ----------------------------------------------------------------------------------------------
# raster job

# name -> (number of inputs, output units, description)
DERIVATIONS = {
    "rh": (2, "%", "RH = 100 vap / e_sat(tmp), clipped to 0..100 (inputs: vap hPa, tmp degC)"),
    "vpd": (2, "hPa", "VPD = e_sat(tmp) - vap, >= 0 (inputs: vap hPa, tmp degC)"),
    "dtr": (2, "degC", "DTR = tmx - tmn (inputs: tmx, tmn degC)"),
    "k_to_c": (1, "degC", "temperature K -> degC"),
    "c_to_k": (1, "K", "temperature degC -> K"),
    "j_to_w": (1, "W m-2", "energy sum J m-2 over the accumulation period -> mean W m-2"),
    "mm_month_to_mm_day": (1, "mm/day", "mm/month -> mm/day (real days per month)"),
    "mm_day_to_mm_month": (1, "mm/month", "mm/day -> mm/month (real days per month)"),
    "vpd_tmn": (2, "hPa", "VPD = e_sat(tmp) - e_sat(tmn), >= 0: minimum temperature as dew point, for grids "
                "without humidity (inputs: tmn, tmp degC)"),
}


def _ym(dates):
    return [(d.year, d.month) if hasattr(d, "month") else (int(d.year), 1) for d in dates]


def check_same_series(a, b):
    """InputError naming both layers when grids, CRS or dates differ."""
    if (a.grid.width, a.grid.height) != (b.grid.width, b.grid.height) or not np.allclose(
            a.grid.geotransform, b.grid.geotransform, rtol=0, atol=1e-9 * max(1.0, abs(a.grid.geotransform[1]))):
        raise InputError(f"grids differ: {a.label} is {a.grid.describe()}, {b.label} is {b.grid.describe()}")
    if not a.grid.same_as(b.grid):
        raise InputError(f"CRS differ: {a.label} and {b.label} are on the same cells but in different "
                         "coordinate reference systems")
    da, db = list(a.dates), list(b.dates)
    if len(da) != len(db) or _ym(da) != _ym(db):
        first = next((i for i, (x, y) in enumerate(zip(_ym(da), _ym(db))) if x != y), min(len(da), len(db)))
        raise InputError(f"dates differ: {a.label} has {len(da)} time steps, {b.label} has {len(db)}; "
                         f"first difference at step {first + 1}")


def derive_raster(kind, first, out_path, second=None, seconds=86400.0, budget_mb=DEFAULT_BUDGET_MB,
                  progress=None, cancelled=None):
    """Derive ``kind`` (see DERIVATIONS) from the RasterSeries ``first`` (vap / tmx / the single
    input) and ``second`` (tmp / tmn) and write a GeoTIFF series with the same grid and dates
    (band descriptions = ISO dates).  Returns a summary dict."""
    if kind not in DERIVATIONS:
        raise InputError(f"unknown derived driver {kind!r}; use one of {', '.join(DERIVATIONS)}")
    n_in, units, text = DERIVATIONS[kind]
    if n_in == 2:
        if second is None:
            raise InputError(f"{kind}: needs two input series ({text})")
        check_same_series(first, second)
    elif second is not None:
        raise InputError(f"{kind}: takes one input series, two were given ({text})")
    ym = np.array(_ym(first.dates), dtype="int64")
    ndays = days_in_month(ym[:, 0], ym[:, 1])[:, None, None] if len(ym) else None

    def compute(a, b):
        if kind == "rh":
            return rh_from_vap_tmp(a, b)
        if kind == "vpd":
            return vpd_from_vap_tmp(a, b)
        if kind == "vpd_tmn":
            return vpd_from_tmn_tmp(a, b)
        if kind == "dtr":
            return dtr_from_tmx_tmn(a, b)
        if kind == "k_to_c":
            return kelvin_to_celsius(a)
        if kind == "c_to_k":
            return celsius_to_kelvin(a)
        if kind == "j_to_w":
            return j_m2_to_w_m2(a, seconds)
        if kind == "mm_month_to_mm_day":
            return a / ndays
        return a * ndays

    options = dict(kind=kind, formula=text, units=units)
    if kind == "j_to_w":
        options["seconds"] = float(seconds)
    inputs = {"first": first.label}
    if second is not None:
        inputs["second"] = second.label
    meta = provenance("derivedriver", options, inputs)
    names = first.date_strings()
    progress = Progress(progress, cancelled)
    counts = dict(pixels=0, valid=0)
    writer = SeriesWriter(out_path, first.grid, names, metadata=meta,
                          band_metadata=[{"DATE": n, "units": units} for n in names])
    with writer:  # SeriesWriter removes the temporary file unless committed

        def work(r0, r1, sub):
            a = first.read_block(r0, r1)
            b = second.read_block(r0, r1) if second is not None else None
            with np.errstate(invalid="ignore", over="ignore"):
                out = compute(a, b)
            counts["pixels"] += a.shape[1] * a.shape[2]
            counts["valid"] += int(np.any(np.isfinite(out), axis=0).sum())
            writer.write_block(r0, out)

        run_row_blocks(first.grid.height, first.grid.width, 8 * 4 * max(first.count, 1), work,
                       progress, budget_mb)
        writer.commit()
    counts.update(options)
    counts["output"] = out_path
    return counts
