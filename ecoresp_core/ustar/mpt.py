"""The moving point test for the u* threshold, as REddyProc's default ``sEddyProc_sEstUstarThold``
(``usEstUstarThreshold`` with ``usEstUstarThresholdSingleFw2Binned``; Papale et al. 2006,
Wutzler et al. 2018), on numpy arrays.

Rules followed (REddyProc 1.3.x, R/EddyUStarFilterDP.R):

* valid records (``usGetValidUstarIndices``): NEE, TA, USTAR and SW_IN finite and SW_IN < ``sw_thr``
  (10 W m-2);
* seasons (``usCreateSeasonFactorMonth``): starts in March, June, September and December of each
  year, plus 1 January of the first year; December belongs to the season that goes on with the
  following January and February (labels ``YYYYMMM`` of the season start, e.g. ``"2004012"`` for
  Dec 2004 - Feb 2005, ``"2004001"`` for Jan - Feb of the first year); a season belongs to the year
  of the middle between its first and last record (``usGetYearOfSeason``);
* per season (``.estimateUStarSeason``): NaN when fewer than ``min_records_season`` (160) valid
  records or fewer than ``ta_classes * min_records_temp`` (7 x 100); records sorted by TA (stable)
  and cut into 7 classes of ``floor(n / 7)`` records, equal temperatures kept in one class
  (``.binWithEqualValuesBalanced``); a class is skipped when |cor(u*, TA)| >= ``corr_check`` (0.5);
  within a class records sorted by u* and cut into 20 classes of ``floor(n / 20)`` records, equal
  u* kept together, a last short class (< 90 %) merged into the previous one
  (``.binWithEqualValuesMinRec``); the class is skipped when the mean u* of the first u* class is
  > ``first_ustar_mean_check`` (0.2 m s-1);
* plateau (``usEstUstarThresholdSingleFw2Binned``, "FW2"): the threshold is the mean u* of the
  first u* class ``i`` (``i <= n_classes - max(2, min_n_plateau)``) whose mean NEE is >=
  ``plateau_crit`` (0.95) x the mean NEE of the following ``plateau_fwd`` (10) classes *and* whose
  next class passes the same test; none found: NaN (``isOmitNoThresholdBins``);
* season threshold: median over the temperature classes, NaN when a threshold was found in fewer
  than ``min_valid_temp_prop`` (20 %) of them;
* year threshold: the maximum of the seasonal thresholds; when there is none, or when the year has
  fewer than ``min_records_year`` (3000) valid records (``isUsingOneBigSeasonOnFewRecords``), the
  estimate on the year's records pooled into one season replaces it (when finite).

The cross-year fall-backs (a year without estimate takes the median over the years; a season
without estimate takes its year's) are applied by :func:`ecoresp_core.ustar.bootstrap.ustar_thresholds`,
which sees all years.
"""

from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd

from .estimate import UstarEstimate

REQUIRED = ("USTAR", "NEE", "TA", "SW_IN")


@dataclass(frozen=True)
class MPTOptions:
    """Controls of the moving point test (REddyProc ``usControlUstarSubsetting`` and
    ``usControlUstarEst``; names of REddyProc in brackets).

    Attributes
    ----------
    ta_classes : int
        Number of air-temperature classes per season (``taClasses``, 7).
    ustar_classes : int
        Number of u* classes per temperature class (``UstarClasses``, 20).
    sw_thr : float
        Night: incoming short-wave radiation below this (W m-2) (``swThr``, 10).
    min_records_temp : int
        Minimum valid records per temperature class (``minRecordsWithinTemp``, 100).
    min_records_season : int
        Minimum valid records per season (``minRecordsWithinSeason``, 160).
    min_records_year : int
        Below this many valid records in a year the seasons are pooled (``minRecordsWithinYear``, 3000).
    one_big_season_on_few_records : bool
        Pool the seasons of a year with few records (``isUsingOneBigSeasonOnFewRecords``, True).
    plateau_fwd : int
        Number of following u* classes forming the plateau (``ustPlateauFwd``, 10).
    plateau_crit : float
        Fraction of the plateau mean NEE a class must reach (``plateauCrit``, 0.95).
    corr_check : float
        Temperature classes with |cor(u*, TA)| at or above this are skipped (``corrCheck``, 0.5).
    first_ustar_mean_check : float
        Temperature classes whose first u* class mean exceeds this (m s-1) are skipped
        (``firstUStarMeanCheck``, 0.2).
    min_valid_temp_prop : float
        A season needs a threshold in at least this fraction of its temperature classes
        (``minValidUStarTempClassesProp``, 0.2).
    min_n_plateau : int
        The threshold class must be followed by at least ``max(2, min_n_plateau)`` classes
        (``minNuStarPlateau``, 3).
    min_valid_boot_prop : float
        Bootstrap quantiles are NaN when fewer than this fraction of the samples gave a threshold
        (``minValidBootProp``, 0.4).
    """

    ta_classes: int = 7
    ustar_classes: int = 20
    sw_thr: float = 10.0
    min_records_temp: int = 100
    min_records_season: int = 160
    min_records_year: int = 3000
    one_big_season_on_few_records: bool = True
    plateau_fwd: int = 10
    plateau_crit: float = 0.95
    corr_check: float = 0.5
    first_ustar_mean_check: float = 0.2
    min_valid_temp_prop: float = 0.2
    min_n_plateau: int = 3
    min_valid_boot_prop: float = 0.4

    @classmethod
    def reddyproc(cls):
        """REddyProc's defaults (``usControlUstarSubsetting()``, ``usControlUstarEst()``)."""
        return cls()

    def with_(self, **changes):
        """A copy with ``changes``."""
        return replace(self, **changes)

    def as_dict(self):
        return asdict(self)


# --------------------------------------------------------------------------- seasons

def season_factor(index, start_months=(3, 6, 9, 12)):
    """REddyProc's ``usCreateSeasonFactorMonth``: the season label of every record.

    Parameters
    ----------
    index : pandas.DatetimeIndex
        Record times (start or middle of the interval: both fall in the same month).
    start_months : sequence of int
        First month of each season (1-12).

    Returns
    -------
    numpy.ndarray of str
        ``"YYYYMMM"`` labels: year and month of the season start (``"1998001"``, ``"1998003"``,
        ... ``"1998012"``); December - February of the next year share one label.
    """
    index = pd.DatetimeIndex(index)
    years = np.asarray(index.year, dtype=np.int64)
    key = years * 1000 + np.asarray(index.month, dtype=np.int64)
    months = sorted(set(int(m) for m in start_months))
    uyears = np.unique(years)
    starts = [y * 1000 + m for y in uyears for m in months]
    if months[0] != 1 and len(uyears):
        starts = [int(uyears[0]) * 1000 + 1] + starts
    starts = np.asarray(sorted(starts), dtype=np.int64)
    pos = np.searchsorted(starts, key, side="right") - 1
    pos = np.clip(pos, 0, len(starts) - 1)
    return np.array([f"{s // 1000}{s % 1000:03d}" for s in starts], dtype=object)[pos]


def season_factor_within_year(index, start_months=(3, 6, 9, 12)):
    """REddyProc's ``usCreateSeasonFactorMonthWithinYear``: seasons that stay in their calendar year
    (January and February go with December of the same year, label ``"YYYY012"``).

    Parameters
    ----------
    index : pandas.DatetimeIndex
    start_months : sequence of int

    Returns
    -------
    numpy.ndarray of str
    """
    index = pd.DatetimeIndex(index)
    months = sorted(set(int(m) for m in start_months))
    month = np.asarray(index.month, dtype=np.int64)
    month = np.where(month < months[0], month + 12, month)
    bounds = np.asarray(months + [months[0] + 12])
    start = bounds[np.clip(np.searchsorted(bounds, month, side="right") - 1, 0, len(months) - 1)]
    return np.array([f"{y}{m:03d}" for y, m in zip(index.year, start)], dtype=object)


def season_factor_yday(index, starts):
    """REddyProc's ``usCreateSeasonFactorYdayYear``: user-defined seasons starting at given days.

    Parameters
    ----------
    index : pandas.DatetimeIndex
        Record times (REddyProc: the middle of the interval).
    starts : sequence of (int, int)
        ``(day of year 1-366, year)`` of every season start, in time order; 1 January of the first
        year is added when missing.

    Returns
    -------
    numpy.ndarray of str
        ``"YYYYDDD"`` labels (year and day of year of the season start).
    """
    index = pd.DatetimeIndex(index)
    key = np.asarray(index.year, dtype=np.int64) * 1000 + np.asarray(index.dayofyear, dtype=np.int64)
    keys = sorted(int(y) * 1000 + int(d) for d, y in starts)
    if keys and keys[0] % 1000 != 1:
        keys = [(keys[0] // 1000) * 1000 + 1] + keys
    keys = np.asarray(keys, dtype=np.int64)
    pos = np.clip(np.searchsorted(keys, key, side="right") - 1, 0, len(keys) - 1)
    return np.array([f"{k // 1000}{k % 1000:03d}" for k in keys], dtype=object)[pos]


def season_years(index, seasons):
    """REddyProc's ``usGetYearOfSeason``: the year of each season, that of the middle between the
    season's first and last record.

    Parameters
    ----------
    index : pandas.DatetimeIndex
        Record times, in time order.
    seasons : array-like of str
        Season label of every record.

    Returns
    -------
    dict of str to int
    """
    s = pd.Series(pd.DatetimeIndex(index), index=np.asarray(seasons))
    first = s.groupby(level=0, sort=True).first()
    last = s.groupby(level=0, sort=True).last()
    middle = first + (last - first) / 2
    return {str(k): int(v.year) for k, v in middle.items()}


def valid_records(frame, sw_thr=10.0):
    """REddyProc's ``usGetValidUstarIndices``: boolean array, True for night records (SW_IN <
    ``sw_thr``, W m-2) with finite NEE, TA, USTAR and SW_IN."""
    arrays = [np.asarray(frame[c], dtype=float) for c in REQUIRED]
    ok = np.logical_and.reduce([np.isfinite(a) for a in arrays])
    with np.errstate(invalid="ignore"):
        return ok & (arrays[3] < sw_thr)


# --------------------------------------------------------------------------- binning

def _first_at_least(values, threshold, start):
    """0-based index of the first element of sorted ``values`` at or after ``start`` that is >=
    ``threshold`` (REddyProc ``.whichValueGreaterEqual``), None when there is none."""
    i = max(int(np.searchsorted(values, threshold, side="left")), start)
    return i if i < len(values) else None


def _runs(x, n_bins, tol):
    """(length, class size ``floor(n / n_bins)``, positions where sorted ``x`` changes value:
    0-based index of the new value = 1-based index of the last of the run)."""
    x = np.asarray(x, dtype=float)
    return len(x), len(x) // n_bins, np.flatnonzero(np.diff(x) > tol) + 1


def bins_balanced(x, n_bins, tol=1e-8):
    """REddyProc's ``.binWithEqualValuesBalanced`` (temperature classes) on sorted ``x``.

    Class ``k`` (1-based) starts at the first change of value at or after record
    ``(k - 1) * floor(len(x) / n_bins)``, so equal values stay in one class.

    Returns
    -------
    numpy.ndarray of int
        Class 1..n_bins of every element.
    """
    n, size, breaks = _runs(x, n_bins, tol)         # breaks: 0-based starts of new values
    ids = np.ones(n, dtype=np.int64)
    if n_bins == 1 or n == 0:
        return ids
    ib = 0
    for k in range(2, int(n_bins) + 1):
        start0 = (k - 1) * size                     # 0-based (R: round((k-1)*size) + 1)
        found = _first_at_least(breaks, start0, ib)
        if found is None:
            break
        ib = found
        ids[breaks[ib]:] = k
    return ids


def bins_min_records(x, n_bins, tol=1e-14):
    """REddyProc's ``.binWithEqualValuesMinRec`` (u* classes) on sorted ``x``.

    Classes of at least ``floor(len(x) / n_bins)`` records, extended to the end of a run of equal
    values; a last class shorter than 90 % of that size joins the previous one; classes beyond
    ``n_bins`` join the last.

    Returns
    -------
    numpy.ndarray of int
        Class 1..n_bins of every element.
    """
    n, size, ends = _runs(x, n_bins, tol)           # ends: 1-based last positions of runs of values
    ids = np.zeros(n, dtype=np.int64)
    ib, end, b = -1, 0, 0
    while end < n:
        b += 1
        start = end + 1                             # 1-based
        end += size
        found = _first_at_least(ends, end, ib + 1)
        if found is None:
            if (n + 1 - start) < size * 0.9 and b != 1:
                b -= 1
            ids[start - 1:] = b
            break
        ib = found
        end = int(ends[ib])
        ids[start - 1:end] = b
    ids[ids > n_bins] = n_bins
    return ids


def bin_means(nee, ustar, n_classes):
    """REddyProc's ``.binUstar``: mean u* (m s-1), mean NEE and count of each u* class.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray, numpy.ndarray, numpy.ndarray)
        Mean u*, mean NEE and number of records per class, and the class of every record (input order).
    """
    order = np.argsort(ustar, kind="stable")
    ids = bins_min_records(ustar[order], n_classes)
    counts = np.bincount(ids)[1:]
    keep = counts > 0
    u_mean = (np.bincount(ids, weights=ustar[order])[1:])[keep] / counts[keep]
    nee_mean = (np.bincount(ids, weights=nee[order])[1:])[keep] / counts[keep]
    classes = np.empty_like(ids)
    classes[order] = ids
    return u_mean, nee_mean, counts[keep], classes


def plateau_threshold(u_mean, nee_mean, options=MPTOptions()):
    """REddyProc's ``usEstUstarThresholdSingleFw2Binned``: the u* threshold (m s-1) of one
    temperature class from its u* class means, NaN when no class reaches the plateau.

    Class ``i`` qualifies when ``nee[i] >= plateau_crit * mean(nee[i+1 : i+1+plateau_fwd])`` and
    ``nee[i+1] >= plateau_crit * mean(nee[i+2 : i+2+plateau_fwd])`` (the windows cut at the last
    class), for ``i`` up to ``n - max(2, min_n_plateau)`` (1-based); the first that qualifies gives
    ``u_mean[i]``.
    """
    nee = [float(v) for v in nee_mean]              # ~20 values: plain Python is fastest
    n = len(nee)
    fwd, crit = int(options.plateau_fwd), float(options.plateau_crit)
    umax = n - max(2, int(options.min_n_plateau))   # last 1-based candidate
    for i in range(umax):                           # 0-based i = u - 1
        nxt = nee[i + 1:i + 1 + fwd]
        nxt2 = nee[i + 2:i + 2 + fwd]
        if nee[i] >= crit * sum(nxt) / len(nxt) and nee[i + 1] >= crit * sum(nxt2) / len(nxt2):
            return float(u_mean[i])
    return float("nan")


# --------------------------------------------------------------------------- estimates

def _cor(x, y):
    """Pearson correlation, NaN when either is constant."""
    dx, dy = x - x.mean(), y - y.mean()
    den = np.sqrt(np.dot(dx, dx) * np.dot(dy, dy))
    return float(np.dot(dx, dy) / den) if den > 0 else float("nan")


def season_estimate(ustar, nee, ta, options=MPTOptions()):
    """REddyProc's ``.estimateUStarSeason``: u* thresholds of the temperature classes of one season.

    Parameters
    ----------
    ustar, nee, ta : numpy.ndarray
        Valid night records of the season: u* (m s-1), NEE (umol m-2 s-1), air temperature (degC).
    options : MPTOptions

    Returns
    -------
    (numpy.ndarray, str)
        Threshold per temperature class (``ta_classes`` values, NaN where none) and the reason when
        the season was not estimated ('' otherwise).
    """
    n = len(ustar)
    nta = int(options.ta_classes)
    out = np.full(nta, np.nan)
    if n < options.min_records_season:
        return out, f"too few records in the season ({n} < {options.min_records_season})"
    if n / nta < options.min_records_temp:
        return out, f"too few records for {nta} temperature classes ({n} < {nta * options.min_records_temp})"
    order = np.argsort(ta, kind="stable")
    u, f, t = ustar[order], nee[order], ta[order]
    tid = bins_balanced(t, nta)
    for k in range(1, nta + 1):
        sel = tid == k
        if sel.sum() < 2:
            continue
        uk, fk, tk = u[sel], f[sel], t[sel]
        if not abs(_cor(uk, tk)) < options.corr_check:
            continue                                # NaN (a constant) too: REddyProc skips the class
        u_mean, nee_mean, _, _ = bin_means(fk, uk, int(options.ustar_classes))
        if u_mean[0] > options.first_ustar_mean_check:
            continue
        out[k - 1] = plateau_threshold(u_mean, nee_mean, options)
    return out, ""


def aggregate_classes(per_class, options=MPTOptions()):
    """Season (or pooled-year) threshold: median of the finite class thresholds, NaN when fewer than
    ``min_valid_temp_prop`` of the classes have one (REddyProc ``usEstUstarThreshold``)."""
    finite = np.isfinite(per_class)
    if not finite.any() or finite.sum() / len(per_class) < options.min_valid_temp_prop:
        return float("nan")
    return float(np.median(per_class[finite]))


def _arrays(frame):
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        from ..errors import InputError
        raise InputError(f"u* threshold: missing column(s) {', '.join(missing)}")
    return {c: np.asarray(frame[c], dtype=float) for c in REQUIRED}


def mpt_threshold(frame, options=None, seasons=None):
    """u* threshold of one year of records by the moving point test (REddyProc ``sEstUstarThold``
    for one season-year, before the cross-year fall-back).

    Parameters
    ----------
    frame : pandas.DataFrame
        One year's records (DatetimeIndex) with USTAR (m s-1), NEE (umol m-2 s-1), TA (degC) and
        SW_IN (W m-2); all records, the night-time and validity selection is done here.
    options : MPTOptions or None
        ``MPTOptions.reddyproc()`` when None.
    seasons : array-like of str or None
        Season label of every record; else the frame's ``SEASON`` column when present, else
        :func:`season_factor` of its index.

    Returns
    -------
    UstarEstimate
        ``threshold``: the year's u* threshold (m s-1), NaN when none; ``seasonal``: per season
        (NaN where none); ``n_records``: valid night records; ``reason``: why there is none or which
        fall-back gave it; ``details``: ``per_class`` (season -> 7 class thresholds),
        ``n_season`` (season -> valid records), ``season_reasons``, ``max_season``, ``pooled``.
    """
    options = options or MPTOptions.reddyproc()
    a = _arrays(frame)
    if seasons is None:
        seasons = frame["SEASON"].to_numpy() if "SEASON" in frame.columns else season_factor(frame.index)
    codes, labels = pd.factorize(np.asarray(seasons).astype(str), sort=True)
    ok = valid_records(frame, options.sw_thr)
    n_valid = int(ok.sum())
    per_class, seasonal, n_season, reasons = {}, {}, {}, {}
    for code, s in enumerate(labels):
        sel = ok & (codes == code)
        n_season[s] = int(sel.sum())
        pc, why = season_estimate(a["USTAR"][sel], a["NEE"][sel], a["TA"][sel], options)
        per_class[s] = pc
        seasonal[s] = aggregate_classes(pc, options)
        if why:
            reasons[s] = why
        elif not np.isfinite(seasonal[s]):
            reasons[s] = (f"threshold found in {int(np.isfinite(pc).sum())} of {len(pc)} temperature "
                          "classes")
    finite = [v for v in seasonal.values() if np.isfinite(v)]
    max_season = max(finite) if finite else float("nan")
    threshold, reason, pooled = max_season, "", float("nan")
    few = n_valid < options.min_records_year
    if n_valid > 0 and (not np.isfinite(max_season) or (few and options.one_big_season_on_few_records)):
        pc, why = season_estimate(a["USTAR"][ok], a["NEE"][ok], a["TA"][ok], options)
        pooled = aggregate_classes(pc, options)
        per_class["pooled"] = pc
        cause = (f"few records ({n_valid} < {options.min_records_year})" if few
                 else "no seasonal threshold")
        if np.isfinite(pooled):
            threshold, reason = pooled, f"{cause}: seasons pooled"
        elif np.isfinite(max_season):
            reason = f"{cause}: pooled estimate failed, maximum of seasons kept"
        else:
            reason = f"{cause}: pooled estimate failed" + (f" ({why})" if why else "")
    elif n_valid == 0:
        reason = "no valid night records"
    return UstarEstimate(
        threshold=float(threshold), seasonal=seasonal, n_records=n_valid, reason=reason,
        details={"per_class": per_class, "n_season": n_season, "season_reasons": reasons,
                 "max_season": float(max_season), "pooled": float(pooled), "method": "mpt"})
