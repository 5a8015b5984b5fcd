"""Isotopic partitioning of NEE and alignment of isotope-derived ER series (docs/methods.md section 9).

Two balances, total carbon and 13C (first-order delta form, Bowling et al. 2001)::

    NEE         = ER - GPP
    delta_N NEE = delta_R ER - delta_A GPP          (the left side is the isoflux, permil umol m-2 s-1)

with the isotopic disequilibrium ``D = delta_R - delta_A`` (permil)::

    GPP = NEE (delta_N - delta_R) / D  = (isoflux - delta_R NEE) / D
    ER  = NEE (delta_N - delta_A) / D  = (isoflux - delta_A NEE) / D

The isoflux form is used whenever the isoflux is given, so NEE = 0 is no problem there.

Exact form (``exact=True``): with r = 13C/12C = R_VPDB (1 + delta/1000) and the 13C mole fraction
x = r / (1 + r), the 13C balance is ``x_N NEE = x_R ER - x_A GPP`` and, exactly,
``ER = NEE (x_N - x_A)/(x_R - x_A)``, ``GPP = NEE (x_N - x_R)/(x_R - x_A)``.  Given an isoflux, x_N
is taken from delta_N = isoflux / NEE (undefined, hence NaN, where NEE = 0).  R_VPDB = 0.0111802.

Guard: where ``|D| < min_disequilibrium`` (permil) ER and GPP are NaN; the number of such records is
reported (``n_small_disequilibrium``), because errors in delta_R or delta_A are amplified by 1/D
(a -0.1 permil error in delta_R at D = 1.5 permil moves GPP by +2.4 %, ER by +7 %).

:func:`align_isotope_series` puts a published isotope-ER series on the tower's TIMESTAMP_START index
(interval start, local standard time): END or MIDDLE stamps become START stamps, UTC stamps become
local standard time, finer series are averaged to the tower step, coarser ones are repeated over the
tower records they cover (their mean over the coarse interval is unchanged).
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..common.fluxvalues import EMPTY, finite_values, flux_values
from ..errors import InputError

R_VPDB = 0.0111802  # 13C/12C of the VPDB standard
MIN_DISEQUILIBRIUM = 0.5  # permil; the default guard (docs/methods.md is silent on the value)
TIME_COLUMNS = ("TIMESTAMP_START", "TIMESTAMP_END", "TIMESTAMP", "timestamp", "datetime", "DateTime",
                "date_time", "time", "Time", "date")


@dataclass
class IsotopePartition:
    """Result of :func:`isotope_partition`; unpacks as ``er, gpp = isotope_partition(...)``.

    ``er``/``gpp``: umol CO2 m-2 s-1 (Series when ``nee`` was a Series, else ndarray);
    ``disequilibrium``: D = delta_R - delta_A (permil, broadcast to the shape of ``nee``);
    ``n_small_disequilibrium``: records set to NaN by the guard; ``n_nee_zero``: records undefined
    because NEE = 0 in the exact form with an isoflux; ``n_missing``: records with a missing input;
    ``flags``: the same as text; ``options``: the settings used."""
    er: object
    gpp: object
    disequilibrium: np.ndarray
    n_small_disequilibrium: int = 0
    n_nee_zero: int = 0
    n_missing: int = 0
    flags: list = field(default_factory=list)
    options: dict = field(default_factory=dict)

    def __iter__(self):
        return iter((self.er, self.gpp))


def delta_to_ratio(delta, r_std=R_VPDB):
    """13C/12C ratio from delta (permil)."""
    return r_std * (1.0 + np.asarray(delta, dtype="float64") / 1000.0)


def ratio_to_delta(ratio, r_std=R_VPDB):
    """delta (permil) from a 13C/12C ratio."""
    return (np.asarray(ratio, dtype="float64") / r_std - 1.0) * 1000.0


def _mole_fraction(delta, r_std):
    r = delta_to_ratio(delta, r_std)
    return r / (1.0 + r)


def _as_array(name, value, shape):
    try:
        a = np.asarray(value.to_numpy(dtype="float64", na_value=np.nan) if isinstance(value, pd.Series)
                       else value, dtype="float64")
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}: not numeric ({exc})") from None
    try:
        return np.broadcast_to(a, shape).astype("float64")
    except ValueError:
        raise InputError(f"{name}: length {a.size} does not match NEE ({int(np.prod(shape))} values)") from None


def isotope_partition(nee, delta_n=None, isoflux=None, delta_r=None, delta_a=None,
                      min_disequilibrium=MIN_DISEQUILIBRIUM, exact=False, r_std=R_VPDB):
    """ER and GPP from NEE and either delta_N (permil) or the isoflux delta_N*NEE (permil umol m-2 s-1).

    ``delta_r`` (respired CO2) and ``delta_a`` (assimilated carbon) are arrays or scalars in permil.
    Series inputs are used by position (they must have NEE's length); a Series NEE gives Series
    outputs on its index.  See the module docstring for the equations, the guard and ``exact``.
    Returns an :class:`IsotopePartition`, which unpacks as ``(er, gpp)``.
    """
    if (delta_n is None) == (isoflux is None):
        raise InputError("isotope partitioning: give exactly one of delta_n (permil) or isoflux "
                         "(delta_N*NEE, permil umol m-2 s-1)")
    if delta_r is None or delta_a is None:
        raise InputError("isotope partitioning: delta_r and delta_a (permil) are required")
    if min_disequilibrium is None:
        min_disequilibrium = 0.0
    if not np.isfinite(min_disequilibrium) or min_disequilibrium < 0:
        raise InputError(f"min_disequilibrium must be >= 0 permil, not {min_disequilibrium!r}")
    index = nee.index if isinstance(nee, pd.Series) else None
    inputs = {"NEE": nee, "delta_r": delta_r, "delta_a": delta_a, "delta_n": delta_n, "isoflux": isoflux}
    try:
        shape = np.broadcast_shapes(*(np.shape(np.asarray(v)) for v in inputs.values() if v is not None))
    except ValueError:
        sizes = ", ".join(f"{k} {np.size(v)}" for k, v in inputs.items() if v is not None)
        raise InputError(f"isotope partitioning: inputs differ in length ({sizes})") from None
    if index is not None and shape != (len(index),):
        raise InputError(f"isotope partitioning: inputs differ in length (NEE {len(index)}, broadcast {shape})")
    n = _as_array("NEE", nee, shape)
    dr = _as_array("delta_r", delta_r, shape)
    da = _as_array("delta_a", delta_a, shape)
    dn = _as_array("delta_n", delta_n, shape) if delta_n is not None else None
    iso = _as_array("isoflux", isoflux, shape) if isoflux is not None else None
    d = dr - da
    measured = iso if iso is not None else dn
    missing = ~(np.isfinite(n) & np.isfinite(dr) & np.isfinite(da) & np.isfinite(measured))
    small = ~missing & (np.abs(d) < min_disequilibrium) if min_disequilibrium > 0 else ~missing & (d == 0)
    nee_zero = np.zeros(shape, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        if not exact:
            if iso is not None:
                er = (iso - da * n) / d
                gpp = (iso - dr * n) / d
            else:
                er = n * (dn - da) / d
                gpp = n * (dn - dr) / d
        else:
            if iso is not None:
                nee_zero = ~missing & (n == 0)
                dn = np.where(nee_zero, np.nan, iso / np.where(n == 0, np.nan, n))
            xr, xa, xn = _mole_fraction(dr, r_std), _mole_fraction(da, r_std), _mole_fraction(dn, r_std)
            er = n * (xn - xa) / (xr - xa)
            gpp = n * (xn - xr) / (xr - xa)
    bad = missing | small | nee_zero
    if small.any() and small.sum() == (~missing).sum():
        raise InputError(f"isotope partitioning: every record with all inputs has |delta_R - delta_A| below "
                         f"the minimum disequilibrium ({min_disequilibrium:g} permil; largest "
                         f"{float(np.max(np.abs(d[small]))):g}): no record can be partitioned; check delta_R "
                         "(respired CO2) and delta_A (assimilated carbon)")
    er = np.where(bad, np.nan, er)
    gpp = np.where(bad, np.nan, gpp)
    flags = []
    if small.any():
        flags.append(f"small_disequilibrium:{int(small.sum())} record(s) with |delta_R - delta_A| < "
                     f"{min_disequilibrium:g} permil set to NaN")
    if nee_zero.any():
        flags.append(f"nee_zero:{int(nee_zero.sum())} record(s) with NEE = 0 (exact form with isoflux) set to NaN")
    if missing.any():
        flags.append(f"missing_input:{int(missing.sum())} record(s)")
    if index is not None:
        er = pd.Series(er, index=index, name="ER_ISO")
        gpp = pd.Series(gpp, index=index, name="GPP_ISO")
    elif er.ndim == 0:
        er, gpp = float(er), float(gpp)
    return IsotopePartition(er=er, gpp=gpp, disequilibrium=d, n_small_disequilibrium=int(small.sum()),
                            n_nee_zero=int(nee_zero.sum()), n_missing=int(missing.sum()), flags=flags,
                            options={"min_disequilibrium": min_disequilibrium, "exact": bool(exact),
                                     "r_std": r_std, "input": "isoflux" if iso is not None else "delta_n"})


# --------------------------------------------------------------------------------------- alignment
def _step_of(index, what):
    if len(index) < 2:
        raise InputError(f"{what}: fewer than 2 time stamps, the time step cannot be inferred")
    d = pd.Series(np.diff(index.values).astype("timedelta64[s]").astype(np.int64))
    if (d <= 0).any():
        raise InputError(f"{what}: time stamps must be strictly increasing (duplicates or disorder found)")
    return pd.Timedelta(seconds=int(d.mode().iloc[0]))


def _about(label, text):
    """``text`` with ``label`` (e.g. the parameter that chose a column) in front, when given."""
    return f"{label}: {text}" if label else text


def _read_reference(ref, time_column, time_what=None):
    name = "isotope series"
    if isinstance(ref, (str, Path)):
        name = str(ref)
        try:  # missing values as in the tower tables (common.fluxvalues.EMPTY); other text is text
            ref = pd.read_csv(ref, keep_default_na=False, na_values=list(EMPTY))
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            raise InputError(f"{name}: cannot read the CSV file ({exc})") from None
    elif isinstance(ref, pd.Series):
        ref = ref.to_frame(ref.name or "ER")
    if not isinstance(ref, pd.DataFrame):
        raise InputError(f"{name}: expected a DataFrame, Series or CSV path, not {type(ref).__name__}")
    name = ref.attrs.get("source", name)
    if time_column is None:
        if isinstance(ref.index, pd.DatetimeIndex):
            stamps = ref.index
            time_column = ref.index.name or "<index>"
        else:
            hits = [c for c in TIME_COLUMNS if c in ref.columns]
            if not hits:
                raise InputError(f"{name}: no timestamp column found (looked for {', '.join(TIME_COLUMNS)}); "
                                 "name it with time_column=")
            time_column = hits[0]
            stamps = ref[time_column]
    else:
        if time_column not in ref.columns:
            raise InputError(_about(time_what, f"{name}: timestamp column {time_column!r} not found (columns: "
                                               f"{', '.join(map(str, ref.columns))})"))
        stamps = ref[time_column]
    try:
        if not isinstance(stamps, pd.DatetimeIndex):
            s = stamps
            if pd.api.types.is_integer_dtype(s) or pd.api.types.is_float_dtype(s):
                s = s.astype("Int64").astype(str)                         # FLUXNET YYYYMMDDHHMM
                stamps = pd.DatetimeIndex(pd.to_datetime(s, format="%Y%m%d%H%M"))
            else:
                stamps = pd.DatetimeIndex(pd.to_datetime(s))
    except (ValueError, TypeError) as exc:
        raise InputError(_about(time_what, f"{name}: column {time_column!r} holds values that are not time "
                                           f"stamps ({exc})")) from None
    if stamps.isna().any():
        raise InputError(_about(time_what, f"{name}: column {time_column!r} has {int(stamps.isna().sum())} "
                                           "missing time stamp(s)"))
    return name, time_column, stamps, ref.reset_index(drop=True)


def align_isotope_series(ref_df, tower_index, time_convention="start", utc_offset_h=None,
                         value_columns="ER", time_column=None, min_coverage=1.0, time_what=None,
                         value_what=None):
    """Align an isotope-derived series on the tower's TIMESTAMP_START index.

    ``ref_df``: DataFrame (timestamp column or DatetimeIndex), Series, or CSV path.
    ``tower_index``: the tower DatetimeIndex (interval starts, local standard time) or a tower table.
    ``time_convention``: what the reference stamps mark: ``"start"``, ``"end"`` or ``"middle"`` of the
    interval (the reference step is the most frequent stamp difference).
    ``utc_offset_h``: ``None`` if the reference stamps are already local standard time; otherwise
    the stamps are UTC and local standard time = UTC + ``utc_offset_h`` (tz-aware stamps are converted
    to UTC first, and then need ``utc_offset_h``).  Daylight-saving local time is not supported.
    ``value_columns``: column name or list (default "ER").
    A finer reference is averaged to the tower step; a tower interval gets a value only where at
    least ``min_coverage`` of its expected reference records are finite.  A coarser reference is
    repeated on the tower records it covers.  Steps must be integer multiples of each other.
    Values: numbers; empty cells, NA, NaN, NULL and -9999 are missing; other text, infinite values
    and a column without any number are errors.  ``time_what`` / ``value_what``: what chose the time
    / value column (e.g. a parameter's label), put in front of the errors about that column.

    Returns a DataFrame on ``tower_index`` (NaN where there is no reference value); ``attrs`` hold
    the shift applied, both steps, counts and the overlap period.
    """
    if isinstance(tower_index, pd.DataFrame):
        tower_index = tower_index.index
    if not isinstance(tower_index, pd.DatetimeIndex):
        raise InputError("tower_index: expected a DatetimeIndex (TIMESTAMP_START)")
    if tower_index.tz is not None:
        raise InputError("tower_index: expected naive local standard time stamps, got a time zone "
                         f"({tower_index.tz})")
    if time_convention not in ("start", "end", "middle"):
        raise InputError(f"time_convention must be 'start', 'end' or 'middle', not {time_convention!r}")
    if not 0.0 < float(min_coverage) <= 1.0:
        raise InputError(f"min_coverage must be in (0, 1], not {min_coverage!r}")
    if utc_offset_h is not None and not -12.0 <= float(utc_offset_h) <= 14.0:  # NaN fails too
        raise InputError(f"utc_offset_h {utc_offset_h!r} is out of range; give a number in the range -12 to 14")
    name, tcol, stamps, frame = _read_reference(ref_df, time_column, time_what)
    cols = [value_columns] if isinstance(value_columns, str) else list(value_columns)
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise InputError(_about(value_what, f"{name}: value column(s) {', '.join(map(repr, missing))} not found "
                                            f"(columns: {', '.join(map(str, frame.columns))})"))
    values = {}
    for c in cols:
        what = _about(value_what, f"{name}: column {c!r}")
        values[c] = finite_values(flux_values(frame[c], what)[0], what)  # -9999 missing; text an error

    notes = []
    if stamps.tz is not None:
        if utc_offset_h is None:
            raise InputError(f"{name}: time stamps carry a time zone ({stamps.tz}); give utc_offset_h of the "
                             "tower's local standard time")
        stamps = stamps.tz_convert("UTC").tz_localize(None)
    order = np.argsort(stamps.values, kind="stable")
    if np.any(order != np.arange(len(order))):
        stamps = stamps[order]
        values = {c: v[order] for c, v in values.items()}
        notes.append("reference sorted by time")
    ref_step = _step_of(stamps, f"{name} ({tcol})")
    tower_step = _step_of(tower_index, "tower index")
    shift = pd.Timedelta(0)
    if time_convention == "end":
        shift -= ref_step
    elif time_convention == "middle":
        shift -= ref_step / 2
    if utc_offset_h is not None:
        shift += pd.Timedelta(hours=float(utc_offset_h))
    starts = stamps + shift

    t0, t1 = tower_index[0], tower_index[-1] + tower_step
    r0, r1 = starts[0], starts[-1] + ref_step
    if r1 <= t0 or r0 >= t1:
        raise InputError(f"{name}: no overlap with the tower period after alignment: reference "
                         f"{r0} to {r1} (interval starts, local standard time, shift {shift}), tower "
                         f"{t0} to {t1}; check time_convention and utc_offset_h")
    ts, rs = tower_step.value, ref_step.value
    out = pd.DataFrame(index=tower_index)
    tpos = (tower_index.values.astype("int64") - t0.value)
    if rs <= ts:
        if ts % rs:
            raise InputError(f"{name}: reference step {ref_step} does not divide the tower step {tower_step}")
        per = ts // rs
        rel = starts.values.astype("int64") - t0.value
        if np.any(rel % rs):
            notes.append("reference stamps are not on the tower grid: binned by interval start")
        bins = np.floor_divide(rel, ts)
        for c, v in values.items():
            ok = np.isfinite(v)
            s = pd.DataFrame({"b": bins[ok], "v": v[ok]}).groupby("b")["v"].agg(["sum", "count"])
            key = np.floor_divide(tpos, ts)
            sums = s["sum"].reindex(key).to_numpy()
            cnt = s["count"].reindex(key).fillna(0).to_numpy()
            out[c] = np.where(cnt >= min_coverage * per - 1e-9, sums / np.where(cnt > 0, cnt, np.nan), np.nan)
        how = "identical steps" if per == 1 else f"averaged {per} reference records per tower record"
    else:
        if rs % ts:
            raise InputError(f"{name}: tower step {tower_step} does not divide the reference step {ref_step}")
        rel_t = tower_index.values.astype("int64")
        pos = np.searchsorted(starts.values.astype("int64"), rel_t, side="right") - 1
        inside = (pos >= 0) & (rel_t < starts.values.astype("int64")[np.clip(pos, 0, None)] + rs)
        for c, v in values.items():
            out[c] = np.where(inside, v[np.clip(pos, 0, None)], np.nan)
        how = f"reference value repeated on the {rs // ts} tower records of each reference interval"
    n_al = {c: int(np.isfinite(out[c].to_numpy()).sum()) for c in cols}
    out.attrs.update({"source": name, "time_column": tcol, "time_convention": time_convention,
                      "utc_offset_h": utc_offset_h, "shift": str(shift), "reference_step": str(ref_step),
                      "tower_step": str(tower_step), "aggregation": how, "n_reference": len(stamps),
                      "n_aligned": n_al, "overlap": (str(max(t0, r0)), str(min(t1, r1))), "notes": notes})
    return out
