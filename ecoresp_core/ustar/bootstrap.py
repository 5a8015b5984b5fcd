"""u* thresholds of every year and season with their bootstrap distribution, for the moving point
test and the change-point detection alike (REddyProc ``sEddyProc_sEstimateUstarScenarios``).

Rules followed (REddyProc 1.3.x, R/EddyUStarFilterDP.R):

* seasons are REddyProc's ``usCreateSeasonFactorMonth`` over the whole record (December goes on
  into the next January and February), each season belongs to one year (``usGetYearOfSeason``),
  and every year is estimated on its seasons (``usEstUstarThreshold``);
* a year without a threshold takes the median of the other years' thresholds, a season without
  one takes its year's (the ``uStarAggr`` column of REddyProc);
* the bootstrap resamples the records with replacement *within each season* (all records, also
  the day-time and invalid ones, as REddyProc does), ``n_boot`` samples in all of which the first
  is the original data (REddyProc: ``nSample`` including the original), each replicate from its
  own child of ``numpy.random.SeedSequence(seed)``;
* quantiles 5, 16, 50, 84, 95 % (type 7, numpy's linear) over the finite estimates; NaN when fewer
  than ``min_valid_boot_prop`` (40 %) of the samples gave a threshold.

The change-point detection estimates calendar years (ONEFlux): with ``method="cpd"`` the seasons
are REddyProc's ``usCreateSeasonFactorMonthWithinYear`` (December with the same year's January and
February), which only stratify the resampling and group the years.

Deviation: REddyProc recomputes the year of each season on the resampled (unordered) records, so a
December-February season may change year between samples; here the year of every season is that
of the original record.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..common.progress import Progress
from ..errors import InputError
from .mpt import MPTOptions, REQUIRED, mpt_threshold, season_factor, season_factor_within_year, season_years

COLUMNS = ["year", "season", "method", "USTAR_TH", "USTAR_TH_05", "USTAR_TH_16", "USTAR_TH_50",
           "USTAR_TH_84", "USTAR_TH_95", "n_boot_ok", "reason"]
PROBS = (0.05, 0.16, 0.50, 0.84, 0.95)
ANNUAL = "annual"          # the season label of a year's row
METHODS = ("mpt", "cpd")


def estimator(method):
    """The per-year estimator ``f(frame, options) -> UstarEstimate`` of ``method`` ('mpt' or 'cpd')."""
    if method == "mpt":
        return mpt_threshold
    if method == "cpd":
        from .cpd import cpd_threshold
        return cpd_threshold
    raise InputError(f"u* threshold method {method!r}: expected one of {', '.join(METHODS)}")


def prepare(df, seasons=None, within_year=False):
    """The columns the estimators use (USTAR, NEE, TA, SW_IN as float) and REddyProc's ``SEASON``
    label of every record (``seasons`` when given, one per row of ``df``, else
    :func:`~ecoresp_core.ustar.mpt.season_factor`, or with ``within_year``
    :func:`~ecoresp_core.ustar.mpt.season_factor_within_year`), in time order; and the year of every
    season.

    Returns
    -------
    (pandas.DataFrame, dict of str to int)
    """
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise InputError(f"u* threshold: the records have no {', '.join(missing)} column "
                         f"(needed: {', '.join(REQUIRED)})")
    if not isinstance(df.index, pd.DatetimeIndex):
        raise InputError("u* threshold: the records need a DatetimeIndex")
    frame = df[list(REQUIRED)].astype(float)
    if seasons is not None:
        if len(seasons) != len(df):
            raise InputError(f"u* threshold: {len(seasons)} season labels for {len(df)} records")
        frame["SEASON"] = np.asarray(seasons).astype(str)
        frame = frame.sort_index(kind="stable")
    else:
        frame = frame.sort_index(kind="stable")
        frame["SEASON"] = (season_factor_within_year if within_year else season_factor)(frame.index)
    return frame, season_years(frame.index, frame["SEASON"].to_numpy())


def _by_year(frame, years_of):
    """{year: positions of its records} with the season -> year map."""
    year = frame["SEASON"].map(years_of).to_numpy()
    return {int(y): np.flatnonzero(year == y) for y in sorted(set(years_of.values()))}


def _estimate_all(frame, by_year, estimate, options):
    """{year: UstarEstimate} on ``frame``."""
    return {y: estimate(frame.iloc[pos], options) for y, pos in by_year.items()}


def aggregate(estimates):
    """REddyProc's ``uStarAggr``: the thresholds of every year and season with the cross-year
    fall-backs, and why each fall-back was taken.

    Parameters
    ----------
    estimates : dict of int to UstarEstimate

    Returns
    -------
    dict of (int, str) to (float, str)
        ``(year, "annual")`` and ``(year, season)`` -> (threshold m s-1, reason).
    """
    finite = [e.threshold for e in estimates.values() if np.isfinite(e.threshold)]
    across = float(np.median(finite)) if finite else float("nan")
    out = {}
    for y, e in estimates.items():
        value, reason = e.threshold, e.reason
        if not np.isfinite(value):
            value = across
            note = "median over years" if np.isfinite(across) else "no threshold in any year"
            reason = f"{reason}; {note}" if reason else note
        out[(y, ANNUAL)] = (float(value), reason)
        season_reasons = e.details.get("season_reasons", {}) if isinstance(e.details, dict) else {}
        for s, v in sorted(e.seasonal.items()):
            why = season_reasons.get(s, "")
            if not np.isfinite(v):
                v = value
                why = f"{why}; year's threshold" if why else "year's threshold"
            out[(y, s)] = (float(v), why)
    return out


def _resample(frame, season_pos, rng):
    """One bootstrap sample: records drawn with replacement within each season, kept in time order
    (as ONEFlux's ``sort(randsample(nt, nt, true))``; the moving point test does not depend on it,
    the change-point detection's time windows do)."""
    take = np.concatenate([np.sort(pos[rng.integers(0, len(pos), len(pos))]) for pos in season_pos])
    return frame.iloc[take]


@dataclass
class BootstrapRecords:
    """The records of one u* bootstrap, prepared once (:func:`bootstrap_records`) and shared by the
    original estimate and every replicate, whatever runs them (the loop of :func:`ustar_thresholds`
    or one task per group of replicates on dask, ``ecoresp_core.cube.sites``).

    Attributes
    ----------
    frame : pandas.DataFrame
        USTAR (m s-1), NEE (umol m-2 s-1), TA (degC), SW_IN (W m-2) and the ``SEASON`` label of
        every record, in time order (:func:`prepare`).
    years_of : dict of str to int
        The year of every season.
    by_year : dict of int to numpy.ndarray
        Positions in ``frame`` of every year's records.
    season_pos : list of numpy.ndarray
        Positions of every season's records, seasons in time order (the resampling strata).
    method : {'mpt', 'cpd'}
        The estimator.
    options : MPTOptions, the cpd method's options, or None
        The estimator's options.
    """
    frame: pd.DataFrame
    years_of: dict
    by_year: dict
    season_pos: list
    method: str
    options: object = None


def bootstrap_records(df, method="mpt", options=None, seasons=None):
    """Prepare the records of a u* bootstrap (see :func:`ustar_thresholds` for the arguments).

    Parameters
    ----------
    df : pandas.DataFrame
        Records with USTAR (m s-1), NEE (umol m-2 s-1), TA (degC), SW_IN (W m-2), DatetimeIndex.
    method : {'mpt', 'cpd'}
        Moving point test or change-point detection.
    options : MPTOptions, the cpd method's options, or None
        The method's defaults when None (REddyProc's for 'mpt').
    seasons : array-like of str or None
        User-defined season label of every record.

    Returns
    -------
    BootstrapRecords
    """
    estimator(method)
    if options is None and method == "mpt":
        options = MPTOptions.reddyproc()
    frame, years_of = prepare(df, seasons, within_year=method == "cpd")
    if frame.empty:
        raise InputError("u* threshold: no records")
    labels = frame["SEASON"].to_numpy()
    season_pos = sorted((np.flatnonzero(labels == s) for s in years_of), key=lambda pos: pos[0])
    return BootstrapRecords(frame=frame, years_of=years_of, by_year=_by_year(frame, years_of),
                            season_pos=season_pos, method=method, options=options)


def original_thresholds(records):
    """The thresholds on the original records (:func:`aggregate` of every year's estimate).

    Parameters
    ----------
    records : BootstrapRecords

    Returns
    -------
    dict of (int, str) to (float, str)
        ``(year, "annual")`` and ``(year, season)`` -> (threshold m s-1, reason); its keys, in
        order, are the columns of the bootstrap samples.
    """
    return aggregate(_estimate_all(records.frame, records.by_year, estimator(records.method), records.options))


def replicate_thresholds(records, b, seed, keys):
    """The thresholds of bootstrap replicate ``b``: the records resampled within each season with
    child ``b - 1`` of ``numpy.random.SeedSequence(seed)`` (``SeedSequence(seed, spawn_key=(b - 1,))``,
    the ``b``-th of ``SeedSequence(seed).spawn(n)``), so the replicate does not depend on which
    process or task computes it.

    Parameters
    ----------
    records : BootstrapRecords
    b : int
        Replicate number, 1 .. n_boot - 1 (sample 0 is the original data).
    seed : int
        Seed of the bootstrap.
    keys : sequence of (int, str)
        (year, season) of the columns (the keys of :func:`original_thresholds`).

    Returns
    -------
    numpy.ndarray
        float64, one threshold (m s-1, NaN where the replicate gave none) per key.
    """
    child = np.random.SeedSequence(seed, spawn_key=(b - 1,))
    boot = _resample(records.frame, records.season_pos, np.random.default_rng(child))
    agg = aggregate(_estimate_all(boot, _by_year(boot, records.years_of), estimator(records.method),
                                  records.options))
    return np.array([agg.get(k, (np.nan, ""))[0] for k in keys], dtype="float64")


def threshold_table(records, original, samples):
    """The threshold table of :func:`ustar_thresholds` from the original estimate and the samples.

    Parameters
    ----------
    records : BootstrapRecords
    original : dict
        :func:`original_thresholds`.
    samples : numpy.ndarray
        (n_boot, keys) thresholds (m s-1): row 0 the original data, row b replicate b
        (:func:`replicate_thresholds`).

    Returns
    -------
    pandas.DataFrame
        The table of :func:`ustar_thresholds` (quantiles over the finite samples, NaN below
        ``min_valid_boot_prop`` of them, with the reason).
    """
    n_boot = len(samples)
    min_prop = float(getattr(records.options, "min_valid_boot_prop", MPTOptions().min_valid_boot_prop))
    rows = []
    for j, (year, season) in enumerate(original):
        col = samples[:, j]
        ok = np.isfinite(col)
        value, reason = original[(year, season)]
        if ok.sum() and ok.mean() >= min_prop:
            q = np.quantile(col[ok], PROBS)
        else:
            q = np.full(len(PROBS), np.nan)
            if n_boot > 1:
                note = f"bootstrap: {int(ok.sum())} of {n_boot} samples gave a threshold (< {min_prop:.0%})"
                reason = f"{reason}; {note}" if reason else note
        rows.append([year, season, records.method, value, *q, int(ok.sum()), reason])
    return pd.DataFrame(rows, columns=COLUMNS)


def ustar_thresholds(df, method="mpt", n_boot=100, seed=1, options=None, progress=None, cancelled=None,
                     seasons=None):
    """u* thresholds per year and season with bootstrap quantiles (REddyProc
    ``sEstimateUstarScenarios`` with ``probs = c(0.05, 0.16, 0.5, 0.84, 0.95)``).

    Parameters
    ----------
    df : pandas.DataFrame
        Half-hourly or hourly records (DatetimeIndex), one or several years, with USTAR (m s-1),
        NEE (umol m-2 s-1), TA (degC) and SW_IN (W m-2).
    method : {'mpt', 'cpd'}
        Moving point test (:func:`ecoresp_core.ustar.mpt.mpt_threshold`) or change-point detection
        (``ecoresp_core.ustar.cpd.cpd_threshold``).
    n_boot : int
        Number of samples including the original data (REddyProc ``nSample``); 1: no bootstrap.
    seed : int
        Seed of ``numpy.random.SeedSequence``; the same seed gives the same table.
    options : MPTOptions, the cpd method's options, or None
        The method's defaults when None.
    progress, cancelled : callable or None
        Progress (fraction 0..1) and Cancel hooks (:class:`ecoresp_core.common.progress.Progress`).
    seasons : array-like of str or None
        User-defined season label of every record (REddyProc ``seasonFactor``, e.g. from
        :func:`~ecoresp_core.ustar.mpt.season_factor_yday`). When None: REddyProc's default seasons
        for 'mpt'; for 'cpd' seasons within the calendar year (``usCreateSeasonFactorMonthWithinYear``),
        so that every year is the calendar year ONEFlux estimates (its December moved first by
        ``cpd_threshold`` itself).

    Returns
    -------
    pandas.DataFrame
        One row per year (``season`` = ``"annual"``) and per season of that year (REddyProc labels,
        ``"YYYYMMM"`` of the season start), columns ``year``, ``season``, ``method``, ``USTAR_TH``
        (estimate on the original data with the fall-backs, m s-1), ``USTAR_TH_05`` ...
        ``USTAR_TH_95`` (bootstrap quantiles, m s-1), ``n_boot_ok`` (samples with a threshold, of
        ``n_boot``), ``reason`` (fall-backs taken or why there is none).
    """
    if method not in METHODS:
        raise InputError(f"u* threshold method {method!r}: expected one of {', '.join(METHODS)}")
    n_boot = int(n_boot)
    if n_boot < 1:
        raise InputError(f"u* threshold: n_boot must be at least 1, got {n_boot}")
    records = bootstrap_records(df, method, options, seasons)
    tracker = Progress(progress, cancelled)
    original = original_thresholds(records)
    keys = list(original)
    samples = np.full((n_boot, len(keys)), np.nan)
    samples[0] = [original[k][0] for k in keys]
    tracker.step(1.0 / n_boot)
    for b in range(1, n_boot):
        samples[b] = replicate_thresholds(records, b, seed, keys)
        tracker.step((b + 1) / n_boot)
    return threshold_table(records, original, samples)
