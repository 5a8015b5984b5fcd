"""Marginal distribution sampling (MDS) gap filling (Reichstein et al. 2005) exactly as REddyProc.

The rules are those of REddyProc ``R/EddyGapfilling.R`` (bgctw/REddyProc, functions
``sEddyProc_sMDSGapFill``, ``sEddyProc_sFillInit``, ``sEddyProc_sFillLUT``, ``sEddyProc_sFillMDC``,
``calculate_gapstats_Reichstein05`` and ``calculate_gapstats_Vekuri23``); ONEFlux's gap filling is
the same algorithm.  Each record to fill ("gap") is replaced by the mean of the *measured* records

* LUT (look-up table, method 1): within +-W days (records ``i - W*rpd .. i + W*rpd``, clipped at
  the ends of the series) whose radiation, VPD and air temperature all lie within the tolerances
  of the gap's own values: ``|dRg| < max(20, min(50, Rg_gap))`` W m-2, ``|dVPD| < 5`` hPa,
  ``|dTA| < 2.5`` degC (strict ``<``; a driver missing at the gap or at a record excludes it);
* LUT with radiation only (method 2);
* MDC (mean diurnal course, method 3): the records ``i + d*rpd + (-2..2)`` for d in -W..W (the same
  time of day +- 2 records, i.e. +- 1 h in half-hourly and +- 2 h in hourly data, as REddyProc),

whenever at least two such records exist, in this order (the first step that finds >= 2 records
wins; steps only see measured records, never earlier fills):

=====  ==========================  ============  =======================================
step   look-up                     window W (d)  quality (fwin = full window, days)
=====  ==========================  ============  =======================================
1, 2   LUT Rg, VPD, TA             7, 14         fwin = 2W: 1 if <= 14, 2 if <= 56, else 3
3      LUT Rg                      7             fwin = 2W: 1 if <= 14, 2 if <= 28, else 3
4, 5   MDC                         0, 1, 2       fwin = 2W+1: 1 if <= 1, 2 if <= 5, else 3
6      LUT Rg, VPD, TA             21, 28 .. 70
7      LUT Rg                      14, 21 .. 70
8      MDC                         7, 14 .. 210
=====  ==========================  ============  =======================================

Steps with all three drivers run only when all three are given and hold data (REddyProc
``Met.n == 3``), steps with Rg only when Rg holds data; a driver that is the variable being filled is
dropped (so TA and VPD are filled by LUT-Rg and MDC, Rg by MDC only).  Gaps longer than 60 days
are not filled.  With ``fill_all`` (REddyProc ``FillAll = TRUE``, the default for fluxes) every
record, measured ones included, is looked up as if it were a gap: its look-up includes itself, and
``_F_SD`` (REddyProc ``VAR_fsd``: SD, ddof 1, of the records used) is the random uncertainty of
every record; ``_F`` keeps the measured values.

``MDSOptions.oneflux()`` follows ONEFlux ``gf_mds``/``gapfill`` (oneflux_steps/common/common.c), which
made the FLUXNET2015 fills: LUT windows ``i - W*rpd + 1 .. i + W*rpd - 1`` (Reichstein's PV-Wave
code), LUT steps up to 77 days, MDC +- 1 h and MDC windows of 3, 6, 9 ... days until the series is
covered, no gap-length limit.

The look-ups of one step are independent of one another, so each step is computed for all its
gaps at once on a (gaps x window) gather of the arrays, in blocks within a memory budget: a
site-year with every record looked up takes ~0.4-0.6 s (REddyProc ~3.8 s).  Checked against
REddyProc's own regression values (tests/testthat/test_gapfilling.R) in
tests/core/gapfilling/test_mds.py and against the FLUXNET2015 fills in
tests/validation/mds_vs_fluxnet.py.
"""

from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd

from ..errors import InputError

#: (kind, half window in days) of REddyProc's sMDSGapFill, in order; kind "lut3" = LUT Rg, VPD,
#: TA (method 1), "lut1" = LUT Rg (method 2), "mdc" = mean diurnal course (method 3)
STEPS_FULL = ((("lut3", 7), ("lut3", 14), ("lut1", 7), ("mdc", 0), ("mdc", 1), ("mdc", 2))
              + tuple(("lut3", w) for w in range(21, 71, 7))
              + tuple(("lut1", w) for w in range(14, 71, 7))
              + tuple(("mdc", w) for w in range(7, 211, 7)))
METHOD_CODE = {"lut3": 1, "lut1": 2, "mdc": 3}
SUFFIXES = ("_F", "_F_QC", "_F_ALL", "_F_ALL_QC", "_F_SD", "_F_N", "_F_METH", "_F_WIN")


@dataclass(frozen=True)
class MDSOptions:
    """Options of the MDS gap filling; the defaults (``MDSOptions.reddyproc()``) are REddyProc's.

    Attributes
    ----------
    tol_rg : float
        Radiation tolerance (W m-2), limited per gap to ``max(tol_rg_min, min(tol_rg, Rg_gap))``.
    tol_rg_min : float
        Lower limit of the radiation tolerance (W m-2); None: the constant ``tol_rg``.
    tol_vpd : float
        VPD tolerance (hPa; the VPD column must be in hPa).
    tol_ta : float
        Air temperature tolerance (degC).
    mdc_records : int
        MDC takes the records within +- this many time steps of the gap's time of day.
    max_gap_days : float or None
        Runs of missing records longer than this (days) are not filled (None: all are filled).
    lut_trim : int
        Records left out at each end of a LUT window: 0 as REddyProc (``i - W*rpd .. i + W*rpd``), 1 as
        ONEFlux ``gapfill`` (common.c) and Reichstein's PV-Wave code (``i - W*rpd + 1 .. i + W*rpd - 1``).
    mdc_hours : float or None
        If given, the MDC half-width in hours (ONEFlux: 1 h, i.e. 2 half-hours or 1 hour), overriding
        ``mdc_records``.
    schedule : str
        "reddyproc" (``STEPS_FULL``) or "oneflux" (``gf_mds``: LUT3 7, 14; LUT1 7; MDC 0, 1, 2; LUT3
        21 .. 77; LUT1 14 .. 77; MDC 3, 6, ... until the window spans the series).
    min_records : int
        A look-up needs more than ``min_records - 1`` records (REddyProc: ``length > 1``).
    fill_all : bool
        Look up every record, measured ones too (REddyProc ``FillAll``), for ``_F_SD`` everywhere.
    method : str
        "Reichstein05" (mean of the records) or "Vekuri23" (daytime LUT: mean of the means of the
        records with Rg <= and > the gap's Rg, against the skewness bias; REddyProc ``method``).
    night_rg : float
        Vekuri23: gaps with Rg below this (W m-2) are night-time and use the plain mean.
    block_elements : int
        Memory budget of one gathered block (elements of gaps x window).
    """

    tol_rg: float = 50.0
    tol_rg_min: float = 20.0
    tol_vpd: float = 5.0
    tol_ta: float = 2.5
    mdc_records: int = 2
    mdc_hours: float = None
    lut_trim: int = 0
    schedule: str = "reddyproc"
    max_gap_days: float = 60.0
    min_records: int = 2
    fill_all: bool = True
    method: str = "Reichstein05"
    night_rg: float = 10.0
    block_elements: int = 2_000_000

    def __post_init__(self):
        if self.method not in ("Reichstein05", "Vekuri23"):
            raise InputError(f"MDS method {self.method!r}: use 'Reichstein05' or 'Vekuri23'")
        if self.schedule not in ("reddyproc", "oneflux"):
            raise InputError(f"MDS schedule {self.schedule!r}: use 'reddyproc' or 'oneflux'")
        if self.min_records < 1 or self.mdc_records < 0:
            raise InputError("MDS options: min_records >= 1 and mdc_records >= 0 required")

    @classmethod
    def reddyproc(cls, **changes):
        """REddyProc ``sMDSGapFill`` defaults (FillAll = TRUE, method Reichstein05)."""
        return replace(cls(), **changes)

    @classmethod
    def oneflux(cls, **changes):
        """ONEFlux ``gf_mds`` (oneflux_steps/common/common.c, the FLUXNET2015 fills): LUT windows one
        record shorter at each end, MDC +- 1 h, its step schedule, no gap-length limit."""
        return replace(cls(lut_trim=1, mdc_hours=1.0, schedule="oneflux", max_gap_days=None), **changes)

    def as_dict(self):
        return asdict(self)


def records_per_day(index):
    """Records per day (48 half-hourly, 24 hourly) of a regular DatetimeIndex; InputError else."""
    if not isinstance(index, pd.DatetimeIndex) or len(index) < 2:
        raise InputError("MDS gap filling needs a DatetimeIndex of at least two records")
    step = np.diff(index.asi8)
    if step.min() != step.max() or step[0] <= 0:
        raise InputError("MDS gap filling needs regular time steps (complete the series first)")
    rpd = 86400e9 / step[0]
    if abs(rpd - round(rpd)) > 1e-9 or round(rpd) < 6:
        raise InputError(f"MDS gap filling: time step of {step[0] / 60e9:g} min does not divide a day")
    return int(round(rpd))


def gap_lengths(missing):
    """Length of the run of missing records each record belongs to (0 where not missing)."""
    missing = np.asarray(missing, bool)
    out = np.zeros(missing.size, np.int64)
    if not missing.any():
        return out
    d = np.diff(np.r_[0, missing.astype(np.int8), 0])
    length = np.nonzero(d == -1)[0] - np.nonzero(d == 1)[0]
    run = np.cumsum(d[:-1] == 1) - 1
    out[missing] = length[run[missing]]
    return out


def filter_long_runs(x, min_run=8):
    """Values in runs of >= ``min_run`` numerically equal values set to NaN, missing values not
    interrupting a run (REddyProc ``filterLongRunsInVector``, default 8 = 4 h of half hours)."""
    x = np.array(x, dtype="float64")
    ok = np.nonzero(np.isfinite(x))[0]
    if ok.size == 0:
        return x
    y = x[ok]
    brk = np.r_[True, y[1:] != y[:-1]]
    run_id = np.cumsum(brk) - 1
    length = np.bincount(run_id)[run_id]
    x[ok[length >= min_run]] = np.nan
    return x


def _quality(kind, half_days):
    """(method code, fwin in days, quality class) of one step (REddyProc sFillLUT / sFillMDC)."""
    if kind == "mdc":
        fwin = 2 * half_days + 1
        return 3, fwin, 1 if fwin <= 1 else (2 if fwin <= 5 else 3)
    fwin = 2 * half_days
    mid = 56 if kind == "lut3" else 28
    return METHOD_CODE[kind], fwin, 1 if fwin <= 14 else (2 if fwin <= mid else 3)


def steps(options, n, rpd):
    """The (kind, half window in days) look-up steps of ``options.schedule`` for n records."""
    if options.schedule == "reddyproc":
        return STEPS_FULL
    last = -(-n // rpd) + 3
    return ((("lut3", 7), ("lut3", 14), ("lut1", 7), ("mdc", 0), ("mdc", 1), ("mdc", 2))
            + tuple(("lut3", w) for w in range(21, 78, 7)) + tuple(("lut1", w) for w in range(14, 78, 7))
            + tuple(("mdc", w) for w in range(3, last + 1, 3)))


def _offsets(kind, half_days, rpd, options):
    if kind == "mdc":
        k = options.mdc_records if options.mdc_hours is None else int(round(options.mdc_hours * rpd / 24.0))
        days = np.arange(-half_days, half_days + 1) * rpd
        return (days[:, None] + np.arange(-k, k + 1)[None, :]).ravel()
    h = half_days * rpd - options.lut_trim
    return np.arange(-h, h + 1)


def window_stats(y, todo, offsets, conds=(), split=None, min_records=2, block_elements=2_000_000):
    """Mean, count and SD (ddof 1) of the measured ``y`` at ``todo + offsets`` meeting the conditions.

    Parameters
    ----------
    y : ndarray (n,)
        The variable, NaN where not measured.
    todo : ndarray of int (m,)
        Records to look up.
    offsets : ndarray of int (k,)
        Record offsets of the look-up window (records outside the series are skipped).
    conds : sequence of (x, tol)
        Condition ``|x[j] - x[i]| < tol[i]``: ``x`` (n,) a driver, ``tol`` (m,) the tolerance per
        looked-up record; NaN in ``x`` (at j or i) fails the condition.
    split : (x, day) or None
        Vekuri23: where ``day`` (m,) and both groups are non-empty, the mean is that of the means
        of the records with ``x[j] <= x[i]`` and with ``x[j] > x[i]``.
    min_records : int
        Look-ups with fewer records give NaN mean and SD.

    Returns
    -------
    mean, n, sd : ndarray (m,)
    """
    y = np.asarray(y, "float64")
    n = y.size
    meas = np.isfinite(y)
    y0 = np.where(meas, y, 0.0)
    m_all = todo.size
    mean, sd = np.full(m_all, np.nan), np.full(m_all, np.nan)
    cnt = np.zeros(m_all, np.int64)
    rows = max(1, block_elements // max(offsets.size, 1))
    for a in range(0, m_all, rows):
        ii = todo[a:a + rows]
        J = ii[:, None] + offsets[None, :]
        ok = (J >= 0) & (J < n)
        np.clip(J, 0, n - 1, out=J)
        ok &= meas[J]
        with np.errstate(invalid="ignore"):
            for x, tol in conds:
                ok &= np.abs(x[J] - x[ii, None]) < tol[a:a + rows, None]
        c = ok.sum(axis=1)
        v = np.where(ok, y0[J], 0.0)
        s = v.sum(axis=1)
        mu = s / np.maximum(c, 1)
        ss = np.einsum("ij,ij->i", v - mu[:, None], np.where(ok, v - mu[:, None], 0.0))
        good = c >= min_records
        if split is not None:
            x, day = split
            with np.errstate(invalid="ignore"):
                low = ok & (x[J] <= x[ii, None])
            cl = low.sum(axis=1)
            sl = np.where(low, v, 0.0).sum(axis=1)
            ch = c - cl
            both = day[a:a + rows] & (cl >= 1) & (ch >= 1)
            mu = np.where(both, (sl / np.maximum(cl, 1) + (s - sl) / np.maximum(ch, 1)) / 2.0, mu)
        mean[a:a + rows] = np.where(good, mu, np.nan)
        sd[a:a + rows] = np.where(good & (c > 1), np.sqrt(ss / np.maximum(c - 1, 1)), np.nan)
        cnt[a:a + rows] = c
    return mean, cnt, sd


def _column(df, name):
    if not name or name not in df.columns:
        return None
    x = pd.to_numeric(df[name], errors="coerce").to_numpy("float64", na_value=np.nan)
    return x if np.isfinite(x).any() else None


def mds_gapfill(df, var="NEE", rg="SW_IN", vpd="VPD", ta="TA", qc=None, qc_good=0, options=None,
                rpd=None):
    """Fill the gaps of ``df[var]`` by MDS exactly as REddyProc ``sMDSGapFill``.

    Parameters
    ----------
    df : DataFrame
        Regular half-hourly or hourly records on a DatetimeIndex (or give ``rpd``).
    var : str
        Column to fill (any unit; NaN = gap).
    rg, vpd, ta : str or None
        Driver columns: incoming short-wave radiation (W m-2), VPD (hPa), air temperature (degC);
        None or absent: not used.  The drivers are used as they are (REddyProc uses the unfilled
        drivers); a driver equal to ``var`` is dropped.
    qc : str or None
        Quality column of ``var``: records with ``qc != qc_good`` (or missing) are gaps.
    options : MDSOptions or None
        Defaults to ``MDSOptions.reddyproc()``.
    rpd : int or None
        Records per day; default from the index.

    Returns
    -------
    DataFrame on ``df.index`` with ``<var>_F`` (measured or filled), ``<var>_F_QC`` (0 measured, 1-3
    quality of the fill, NaN unfilled; REddyProc ``VAR_fqc``), ``<var>_F_ALL`` and ``<var>_F_ALL_QC``
    (the look-up of every record, REddyProc ``VAR_fall``/``VAR_fall_qc``), ``<var>_F_SD`` (SD of the
    records used, unit of ``var``; ``VAR_fsd``), ``<var>_F_N`` (records used; ``VAR_fnum``),
    ``<var>_F_METH`` (1 LUT Rg-VPD-TA, 2 LUT Rg, 3 MDC; ``VAR_fmeth``) and ``<var>_F_WIN`` (full
    window in days; ``VAR_fwin``).  ``attrs["mds"]`` records the method and options.
    """
    opt = options or MDSOptions.reddyproc()
    if var not in df.columns:
        raise InputError(f"MDS gap filling: no column {var!r}")
    rpd = rpd or records_per_day(df.index)
    y = pd.to_numeric(df[var], errors="coerce").to_numpy("float64", na_value=np.nan).copy()
    if qc:
        if qc not in df.columns:
            raise InputError(f"MDS gap filling: no quality column {qc!r}")
        y[~(pd.to_numeric(df[qc], errors="coerce").to_numpy("float64", na_value=np.nan) == qc_good)] = np.nan
    n = y.size
    meas = np.isfinite(y)
    if not meas.any():
        raise InputError(f"MDS gap filling: {var} holds no measured record")
    x_rg, x_vpd, x_ta = (None if c == var else _column(df, c) for c in (rg, vpd, ta))
    met = 3 if all(x is not None for x in (x_rg, x_vpd, x_ta)) else (1 if x_rg is not None else 0)
    long_gap = gap_lengths(~meas) > (np.inf if opt.max_gap_days is None else opt.max_gap_days * rpd)
    todo = np.nonzero(~long_gap if opt.fill_all else (~meas & ~long_gap))[0]
    res = {k: np.full(n, np.nan) for k in ("all", "qc", "sd", "n", "meth", "win")}
    if x_rg is not None:
        tol = np.full(n, opt.tol_rg) if opt.tol_rg_min is None else np.fmax(np.fmin(opt.tol_rg, x_rg), opt.tol_rg_min)
        night = x_rg < opt.night_rg
    for kind, half in steps(opt, n, rpd):
        if todo.size == 0:
            break
        if (kind == "lut3" and met != 3) or (kind == "lut1" and met < 1):
            continue
        conds, split = (), None
        if kind != "mdc":
            conds = [(x_rg, tol[todo])]
            if kind == "lut3":
                conds += [(x_vpd, np.full(todo.size, opt.tol_vpd)), (x_ta, np.full(todo.size, opt.tol_ta))]
            if opt.method == "Vekuri23":
                split = (x_rg, ~night[todo])
        mean, cnt, sd = window_stats(y, todo, _offsets(kind, half, rpd, opt), conds, split,
                                     opt.min_records, opt.block_elements)
        got = np.isfinite(mean)
        idx = todo[got]
        meth, fwin, fqc = _quality(kind, half)
        res["all"][idx], res["sd"][idx], res["n"][idx] = mean[got], sd[got], cnt[got]
        res["meth"][idx], res["win"][idx], res["qc"][idx] = meth, fwin, fqc
        todo = todo[~got]
    filled = np.where(meas, y, res["all"])
    out = pd.DataFrame({
        f"{var}_F": filled,
        f"{var}_F_QC": np.where(meas, 0.0, res["qc"]),
        f"{var}_F_ALL": res["all"] if opt.fill_all else np.where(meas, y, res["all"]),
        f"{var}_F_ALL_QC": res["qc"],
        f"{var}_F_SD": res["sd"],
        f"{var}_F_N": res["n"],
        f"{var}_F_METH": res["meth"],
        f"{var}_F_WIN": res["win"],
    }, index=df.index)
    out.attrs["mds"] = {"variable": var, "method": f"MDS {opt.method} (REddyProc sMDSGapFill)",
                        "drivers": {"rg": rg if x_rg is not None else None,
                                    "vpd": vpd if x_vpd is not None else None,
                                    "ta": ta if x_ta is not None else None},
                        "lookup_level": met, "qc": qc, "qc_good": qc_good, "options": opt.as_dict()}
    return out


def fill_drivers(df, rg="SW_IN", vpd="VPD", ta="TA", options=None, rpd=None):
    """Fill the meteorological drivers as REddyProc's examples do (``sMDSGapFill('Rg' | 'Tair' |
    'VPD', FillAll = FALSE)``): Rg by MDC only; TA and VPD by LUT on Rg and MDC (each driver is
    dropped as a condition of itself, so REddyProc's ``Met.n`` is 1).

    Returns a DataFrame with ``<name>_F``, ``<name>_F_QC`` (0 measured, 1-3 filled, NaN unfilled)
    and the other ``mds_gapfill`` columns for each driver present."""
    opt = replace(options or MDSOptions.reddyproc(), fill_all=False)
    parts = [mds_gapfill(df, var=c, rg=rg, vpd=vpd, ta=ta, options=opt, rpd=rpd)
             for c in (rg, ta, vpd) if c and _column(df, c) is not None]
    if not parts:
        raise InputError("fill_drivers: none of the driver columns holds data")
    return pd.concat(parts, axis=1)
