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

import calendar

import numpy as np

from ..blocks import DEFAULT_BUDGET_MB, Progress, run_row_blocks
from ..errors import InputError
from ..io.series import SeriesWriter
from ..provenance import provenance

KELVIN = 273.15


def esat_hpa(tmp_degc):
    """Saturation vapour pressure (hPa) over water at ``tmp_degc`` (docs/methods.md section 11)."""
    t = np.asarray(tmp_degc, dtype="float64")
    return 6.1078 * np.exp(17.08085 * t / (234.175 + t))


def rh_from_vap_tmp(vap_hpa, tmp_degc):
    """Relative humidity (%) = 100 vap / e_sat(tmp), clipped to [0, 100] (docs/methods.md section 12)."""
    rh = 100.0 * np.asarray(vap_hpa, dtype="float64") / esat_hpa(tmp_degc)
    return np.clip(rh, 0.0, 100.0)


def vpd_from_vap_tmp(vap_hpa, tmp_degc):
    """Vapour pressure deficit (hPa) = e_sat(tmp) - vap, clipped at 0."""
    return np.maximum(esat_hpa(tmp_degc) - np.asarray(vap_hpa, dtype="float64"), 0.0)


def vpd_from_tmn_tmp(tmn_degc, tmp_degc):
    """Vapour pressure deficit (hPa) with the daily minimum temperature as dew point:
    e_sat(tmp) - e_sat(tmn), clipped at 0.  For grids without humidity (e.g. CRU tmp/tmn only);
    an approximation that holds where nights reach saturation and overestimates humidity in arid
    climates (Kimball et al. 1997, Agric. For. Meteorol. 85:87-98)."""
    return np.maximum(esat_hpa(tmp_degc) - esat_hpa(tmn_degc), 0.0)


def dtr_from_tmx_tmn(tmx_degc, tmn_degc):
    """Diurnal temperature range (degC) = tmx - tmn."""
    return np.asarray(tmx_degc, dtype="float64") - np.asarray(tmn_degc, dtype="float64")


def kelvin_to_celsius(t_k):
    return np.asarray(t_k, dtype="float64") - KELVIN


def celsius_to_kelvin(t_degc):
    return np.asarray(t_degc, dtype="float64") + KELVIN


def j_m2_to_w_m2(j_m2, seconds=86400.0):
    """Mean flux density (W m-2) from an energy sum (J m-2) accumulated over ``seconds``
    (86400 for ERA5 daily sums, 3600 for hourly accumulations)."""
    seconds = np.asarray(seconds, dtype="float64")
    if np.any(seconds <= 0):
        raise InputError(f"accumulation period must be positive seconds (got {seconds})")
    return np.asarray(j_m2, dtype="float64") / seconds


def w_m2_to_j_m2(w_m2, seconds=86400.0):
    return np.asarray(w_m2, dtype="float64") * np.asarray(seconds, dtype="float64")


def days_in_month(year, month):
    """Number of days (array-aware) of each (year, month)."""
    y = np.atleast_1d(np.asarray(year, dtype="int64"))
    m = np.atleast_1d(np.asarray(month, dtype="int64"))
    y, m = np.broadcast_arrays(y, m)
    if np.any((m < 1) | (m > 12)):
        raise InputError(f"month must be 1..12 (got {m[(m < 1) | (m > 12)][0]})")
    out = np.array([calendar.monthrange(int(a), int(b))[1] for a, b in zip(y.ravel(), m.ravel())],
                   dtype="float64").reshape(y.shape)
    return out if np.ndim(year) or np.ndim(month) else float(out.ravel()[0])


def mm_month_to_mm_day(mm_month, year, month):
    """Monthly total (mm/month) -> mean daily rate (mm/day) with the real days of the month."""
    return np.asarray(mm_month, dtype="float64") / days_in_month(year, month)


def mm_day_to_mm_month(mm_day, year, month):
    """Mean daily rate (mm/day) -> monthly total (mm/month)."""
    return np.asarray(mm_day, dtype="float64") * days_in_month(year, month)


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
