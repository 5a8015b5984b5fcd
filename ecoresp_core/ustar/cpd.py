"""Change-point detection (CPD) u* threshold of Barr et al. (2013), as ONEFlux runs it.

Barr, A.G., Richardson, A.D., Hollinger, D.Y., et al. (2013) Use of change-point detection for
friction-velocity threshold evaluation in eddy-covariance studies. Agric. For. Meteorol.
171-172, 31-45.

This module follows the MATLAB code ONEFlux runs for its CUT/VUT thresholds
(``fluxnet/ONEFlux``, ``oneflux_steps/ustar_cp/``, commit 44ac0400):

* ``launch.m``: night is ``Rg < 5`` W m-2 (``fNight=Rg<5``).
* ``cpdBootstrapUStarTh4Season20100901.m`` / ``cpdEvaluateUStarTh4Season20100901.m``: u* outside
  [0, 3] m s-1 is missing; a year needs ``nSeasons*nStrataN*nBins*nPerBin`` valid night records
  (4*4*50*5 = 4000 half-hourly, 4*4*50*3 = 2400 hourly); December is moved to the start of the year;
  the valid night records are split into 4 windows ("seasons") of equal record count, each into
  ``floor(n/(nBins*nPerBin))`` (clipped to 4..8) temperature strata bounded by percentiles of TA.
* ``fcBin.m``: within a stratum, NEE and u* are averaged over u* bins of ``nPerBin`` records
  (bin borders at u* percentiles, both borders inclusive, bins with fewer records dropped).
* ``cpdFindChangePoint20100901.m``: 4-sd outliers of a straight-line fit are dropped (needs
  n >= 10 bins); for every candidate bin ``i`` the operational two-parameter model
  ``NEE = b0 + b1*min(u*, u*_i)`` (2 connected segments, the second one flat) is fitted and scored
  with ``F = (SSE_red - SSE_full)/(SSE_full/(n-2))`` against the constant model; the change point
  is the u* at F max; it is kept only when ``p <= 0.05`` and not within ``max(3, floor(0.05 n))``
  bins of either end.
* ``cpdFmax2pCp2.m``: p of Fmax from Barr's table of critical Fmax values (after Wang 2003),
  interpolated with pchip in n and in Fmax, F(3, n) extrapolation outside the table.
* ``cpdAssignUStarTh20100901.m``: significant change points are split by mode, D (deficit,
  b1 >= 0) and E (excess, b1 < 0); the dominant mode is selected; no threshold when fewer than 10 %
  of the attempted strata give a selected change point; change points more than 5 IQR from the
  median (of Cp, b1 and the b1 confidence half width) are excluded; at least 4 must remain; the
  annual threshold is the mean of the selected change points.

The bootstrap ONEFlux wraps around this (100 draws, percentiles of the annual values) is in
:mod:`ecoresp_core.ustar.bootstrap`; this module does one draw: one year of records in, one
:class:`~ecoresp_core.ustar.estimate.UstarEstimate` out.

Deviations, all explicit in :class:`CPDOptions`:

* ``outlier_normalisation="each"`` (default) normalises each column by its own median and IQR, as
  ONEFlux's Python port (``ustar_cp_python``) does; the MATLAB ``cpdAssignUStarTh20100901`` writes
  ``xNorm(:,i)=(x(:,1)-mx(i))/sx(i)``, i.e. normalises Cp against the median/IQR of every column,
  available as ``"column1"``.
* ``min_selected=4``: ``nSelectN = nWindowsN*nStrataN*nBoot`` for a 3-D (window x stratum x draw)
  Stats array with one draw; MATLAB collapses a one-draw array to 2-D and would ask for 16.
* The records per day come from the median positive time step (bootstrap draws repeat records),
  not the plain median of ``diff(t)``.
* As in ONEFlux only the operational 2-parameter model gives the threshold; the diagnostic
  3-parameter model (``cpdFmax2pCp3``) is fitted for ``details`` (``cp3``, ``p3``) only.
"""

from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

from .estimate import UstarEstimate

# Critical Fmax of the operational 2-parameter model (cpdFmax2pCp2.m, Barr after Wang 2003):
# rows n, columns the 0.80, 0.90, 0.95, 0.99 quantiles of Fmax under the null hypothesis.
FMAX2_P = np.array([0.80, 0.90, 0.95, 0.99])
FMAX2_N = np.array([10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 700, 1000], dtype=float)
FMAX2_TABLE = np.array([
    [3.9293, 6.2992, 9.1471, 18.2659],
    [3.7734, 5.6988, 7.8770, 13.8100],
    [3.7516, 5.5172, 7.4426, 12.6481],
    [3.7538, 5.3224, 7.0306, 11.4461],
    [3.7941, 5.3030, 6.8758, 10.6635],
    [3.8548, 5.3480, 6.8883, 10.5026],
    [3.9798, 5.4465, 6.9184, 10.4527],
    [4.0732, 5.5235, 6.9811, 10.3859],
    [4.1467, 5.6136, 7.0624, 10.5596],
    [4.2770, 5.7391, 7.2005, 10.6871],
    [4.4169, 5.8733, 7.3421, 10.6751],
    [4.5556, 6.0591, 7.5627, 11.0072],
    [4.7356, 6.2738, 7.7834, 11.2319],
])

# Critical Fmax of the diagnostic 3-parameter model (cpdFmax2pCp3.m, Wang 2003): quantiles 0.90, 0.95, 0.99.
FMAX3_P = np.array([0.90, 0.95, 0.99])
FMAX3_N = np.array(list(range(10, 101, 10)) + list(range(150, 601, 50)) + [800, 1000, 2500], dtype=float)
FMAX3_TABLE = np.array([
    [11.646, 15.559, 28.412], [9.651, 11.948, 18.043], [9.379, 11.396, 16.249], [9.261, 11.148, 15.750],
    [9.269, 11.068, 15.237], [9.296, 11.072, 15.252], [9.296, 11.059, 14.985], [9.341, 11.072, 15.013],
    [9.397, 11.080, 14.891], [9.398, 11.085, 14.874], [9.506, 11.127, 14.828], [9.694, 11.208, 14.898],
    [9.691, 11.310, 14.975], [9.790, 11.406, 14.998], [9.794, 11.392, 15.044], [9.840, 11.416, 14.980],
    [9.872, 11.474, 15.072], [9.929, 11.537, 15.115], [9.955, 11.552, 15.086], [9.995, 11.549, 15.164],
    [10.102, 11.673, 15.292], [10.169, 11.749, 15.154], [10.478, 12.064, 15.519],
])


@dataclass(frozen=True)
class CPDOptions:
    """Statistical choices of the change-point u* threshold; defaults = ONEFlux (see module doc).

    Attributes
    ----------
    night_sw_in : float
        Night is ``SW_IN < night_sw_in`` (W m-2); ``launch.m``: ``fNight=Rg<5``.
    ustar_min, ustar_max : float
        u* outside [ustar_min, ustar_max] (m s-1) is treated as missing (``cpdEvaluate...``: [0, 3]).
    n_seasons : int
        Time windows of equal valid-record count per year (``nSeasons=4``).
    n_strata_min, n_strata_max : int
        Bounds of the number of temperature strata per window (``nStrataN=4``, ``nStrataX=8``).
    n_bins : int
        u* bins per stratum (``nBins=50``).
    n_per_bin : int or None
        Records per u* bin; None: 5 for 48 records a day, 3 for 24, else 5 (``nPerBin``).
    december_first : bool
        Move the records from the first December record on to the start of the year before splitting
        into windows (the frame is taken in time order).
    records_per_day : int or None
        Override the records per day inferred from the index.
    regression_outlier_sd : float
        Bins further than this many standard deviations from a straight-line fit are dropped
        before the change-point search (``cpdFindChangePoint``: ns=4).
    min_points : int
        Fewest bins a change-point search needs (10).
    end_fraction, min_end_points : float, int
        A change point within ``max(min_end_points, floor(end_fraction*n))`` bins of either end is
        rejected (0.05, 3).
    p_significance : float
        Change points with p > p_significance are not significant (0.05).
    min_fraction_selected : float
        No threshold when fewer than this fraction of the attempted strata give a selected change
        point (0.10, ``cpdAssignUStarTh``).
    outlier_iqr : float
        Selected change points whose normalised Cp/b1/b1-CI score exceeds this many IQR are
        excluded (5).
    outlier_normalisation : str
        ``"each"``: each column by its own median and IQR (ONEFlux Python port); ``"column1"``:
        Cp against the median and IQR of every column (ONEFlux MATLAB).
    min_selected : int
        Fewest selected change points for an annual threshold (4).
    aggregate : str
        ``"mean"`` (ONEFlux) or ``"median"`` of the selected change points.
    """

    night_sw_in: float = 5.0
    ustar_min: float = 0.0
    ustar_max: float = 3.0
    n_seasons: int = 4
    n_strata_min: int = 4
    n_strata_max: int = 8
    n_bins: int = 50
    n_per_bin: Optional[int] = None
    december_first: bool = True
    records_per_day: Optional[int] = None
    regression_outlier_sd: float = 4.0
    min_points: int = 10
    end_fraction: float = 0.05
    min_end_points: int = 3
    p_significance: float = 0.05
    min_fraction_selected: float = 0.10
    outlier_iqr: float = 5.0
    outlier_normalisation: str = "each"
    min_selected: int = 4
    aggregate: str = "mean"

    @classmethod
    def oneflux(cls):
        """The ONEFlux choices (= the defaults)."""
        return cls()


# ----------------------------------------------------------------------------------------------
# Significance of Fmax (cpdFmax2pCp2.m)

def fmax2_critical(n):
    """Critical Fmax of the 2-parameter model at sample size n (pchip in n, as ``cpdFmax2pCp2``).

    Parameters
    ----------
    n : int
        Number of points (u* bins) in the change-point search.

    Returns
    -------
    numpy.ndarray
        Critical Fmax at the 0.80, 0.90, 0.95 and 0.99 quantiles (``FMAX2_P``).
    """
    from scipy.interpolate import PchipInterpolator
    return np.array([float(PchipInterpolator(FMAX2_N, FMAX2_TABLE[:, j])(n)) for j in range(FMAX2_P.size)])


def fmax2_pvalue(fmax, n):
    """p value of Fmax of the operational 2-parameter change-point model (``cpdFmax2pCp2.m``).

    Inside the table, p is interpolated (pchip) between the critical values; below the 0.80 value
    and above the 0.99 value it is extrapolated with the F(3, n) distribution scaled to the table,
    exactly as the MATLAB code (including its use of the 0.95 column above the 0.99 one).

    Parameters
    ----------
    fmax : float
        Maximum F score over the candidate change points.
    n : int
        Number of points (u* bins).

    Returns
    -------
    float
        p in [0, 1]; NaN when fmax or n is NaN or n < 10.
    """
    if not np.isfinite(fmax) or not np.isfinite(n) or n < 10:
        return float("nan")
    crit = fmax2_critical(n)
    return _table_pvalue(fmax, n, crit, FMAX2_P, low_quantile=0.90, high_crit=crit[2])


def _table_pvalue(fmax, n, crit, p_levels, low_quantile, high_crit):
    """p of ``fmax`` from critical values ``crit`` at levels ``p_levels``: pchip inside the table,
    the F(3, n) distribution scaled to the table below ``crit[0]`` (at ``low_quantile``) and above
    ``crit[-1]`` (at 0.995, scaled by ``high_crit``), as cpdFmax2pCp2.m / cpdFmax2pCp3.m."""
    from scipy.interpolate import PchipInterpolator
    from scipy.stats import f as fdist
    if fmax < crit[0]:
        fadj = fdist.ppf(low_quantile, 3, n) * fmax / crit[0]
        return float(min(1.0, 2.0 * (1.0 - fdist.cdf(fadj, 3, n))))
    if fmax > crit[-1]:
        fadj = fdist.ppf(0.995, 3, n) * fmax / high_crit
        return float(max(0.0, 2.0 * (1.0 - fdist.cdf(fadj, 3, n))))
    return float(PchipInterpolator(crit, 1.0 - p_levels)(fmax))


def fmax3_pvalue(fmax, n):
    """p value of Fmax of the diagnostic 3-parameter change-point model (``cpdFmax2pCp3.m``).

    Pchip interpolation in Wang's (2003) table of critical Fmax (quantiles 0.90, 0.95, 0.99), F(3, n)
    extrapolation outside it, as the MATLAB code.

    Parameters
    ----------
    fmax : float
        Maximum F score of the 3-parameter model.
    n : int
        Number of points (u* bins).

    Returns
    -------
    float
        p in [0, 1]; NaN when fmax or n is NaN or n < 10.
    """
    from scipy.interpolate import PchipInterpolator
    if not np.isfinite(fmax) or not np.isfinite(n) or n < 10:
        return float("nan")
    crit = np.array([float(PchipInterpolator(FMAX3_N, FMAX3_TABLE[:, j])(n)) for j in range(FMAX3_P.size)])
    return _table_pvalue(fmax, n, crit, FMAX3_P, low_quantile=0.95, high_crit=crit[-1])


# ----------------------------------------------------------------------------------------------
# Two-phase regression (cpdFindChangePoint20100901.m, operational model)

def two_phase_sse(x, y):
    """SSE of the two-phase model ``y = b0 + b1*x1(i)`` for every candidate i, by cumulative sums.

    ``x1(i)`` is x with every element after position i replaced by ``x[i]`` (MATLAB:
    ``x1=x; x1((i+1):n)=x(i)``), i.e. ``min(x, x[i])`` for sorted x.  Both segments' sums follow
    from cumulative sums, O(n) for all candidates.

    Parameters
    ----------
    x, y : numpy.ndarray
        Points in search order (binned u*, m s-1, ascending; binned NEE, umol m-2 s-1).

    Returns
    -------
    sse : numpy.ndarray
        SSE of the full model per candidate (length n; the last candidate, not searched by
        ONEFlux, is NaN).
    b0, b1 : numpy.ndarray
        Intercept and slope of the full model per candidate (NaN where x1 is constant).
    """
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    n = x.size
    mx, my = x.mean(), y.mean()
    xc, yc = x - mx, y - my                       # centring: better conditioned sums
    above = n - 1 - np.arange(n)                  # points after candidate i
    cx, cxx, cxy, cy = np.cumsum(xc), np.cumsum(xc * xc), np.cumsum(xc * yc), np.cumsum(yc)
    sx = cx + above * xc
    sxx = cxx + above * xc * xc
    sxy = cxy + xc * (cy[-1] - cy)
    syy = np.sum(yc * yc)
    # sum(yc) = 0, so the centred normal equations are sxx_c = sxx - sx^2/n, sxy_c = sxy
    sxx_c = sxx - sx * sx / n
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = sxx_c > 1e-12 * max(np.sum(xc * xc), 1e-300)
        b1 = np.where(ok, sxy / sxx_c, np.nan)
        sse = np.where(ok, syy - sxy * sxy / sxx_c, syy)
    b0 = my - b1 * (sx / n + mx)
    sse = np.maximum(sse, 0.0)
    sse[-1] = np.nan
    b0[-1] = b1[-1] = np.nan
    return sse, b0, b1


def three_phase_sse(x, y):
    """SSE of the diagnostic model ``y = b0 + b1*x + b2*z(i)`` for every candidate i, by cumulative sums.

    ``z(i)`` is ``x - x[i]`` after position i and 0 up to it (``cpdFindChangePoint20100901``:
    ``x2=(x-x(i)).*zAbv``): two connected segments, both sloped.

    Parameters
    ----------
    x, y : numpy.ndarray
        Points in search order.

    Returns
    -------
    sse, b0, b1, b2 : numpy.ndarray
        Per candidate (length n).  Where the design is singular (first candidate: z is x - x[0]) the
        coefficients are NaN and sse is that of the straight line (F = 0); the last candidate is NaN.
    """
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    n = x.size
    mx, my = x.mean(), y.mean()
    xc, yc = x - mx, y - my
    m = n - 1 - np.arange(n)                             # points above candidate i

    def above(v):                                        # sum over j > i
        c = np.cumsum(v)
        return c[-1] - c

    ax, axx, axy, ay = above(xc), above(xc * xc), above(xc * yc), above(yc)
    sz = ax - m * xc
    szz = axx - 2 * xc * ax + m * xc * xc
    sxz = axx - xc * ax
    szy = axy - xc * ay
    cxx = np.sum(xc * xc)
    cxz = sxz                                            # sum(xc) = 0
    czz = szz - sz * sz / n
    sxy = np.sum(xc * yc)
    det = cxx * czz - cxz * cxz
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = det > 1e-12 * max(cxx * max(np.max(czz), 0.0), 1e-300)
        b1 = np.where(ok, (czz * sxy - cxz * szy) / det, np.nan)
        b2 = np.where(ok, (cxx * szy - cxz * sxy) / det, np.nan)
        sse_lin = np.sum(yc * yc) - sxy * sxy / cxx if cxx > 0 else np.sum(yc * yc)
        sse = np.maximum(np.where(ok, np.sum(yc * yc) - b1 * sxy - b2 * szy, sse_lin), 0.0)
    b0 = my - b1 * mx - b2 * sz / n
    sse[-1] = np.nan
    return sse, b0, b1, b2


def find_change_point(x, y, options=None):
    """Operational change point of one stratum (``cpdFindChangePoint20100901``, 2-parameter model).

    Parameters
    ----------
    x, y : array_like
        Binned u* (m s-1) and binned NEE (umol m-2 s-1); NaN pairs are dropped.
    options : CPDOptions, optional

    Returns
    -------
    dict
        ``cp`` (m s-1, NaN unless significant and away from the ends), ``cp_raw`` (u* at Fmax),
        ``n``, ``fmax``, ``p``, ``b0``, ``b1``, ``cib0``, ``cib1`` (95 % CI half widths), ``i``
        (index of Fmax), ``at_end``; Fmax, p, b* are NaN when the stratum had too few points.  The
        diagnostic 3-parameter model (``cpdFmax2pCp3``) adds ``cp3``, ``p3``, ``fmax3``, ``b1_3``
        and ``c2_3`` (slope above the change point); it is not used for the threshold, as in ONEFlux.
    """
    from scipy.stats import t as tdist
    o = options or CPDOptions()
    out = dict(cp=np.nan, cp_raw=np.nan, n=0, fmax=np.nan, p=np.nan, b0=np.nan, b1=np.nan,
               cib0=np.nan, cib1=np.nan, i=-1, at_end=False, cp3=np.nan, p3=np.nan, fmax3=np.nan, b1_3=np.nan,
               c2_3=np.nan)
    x = np.asarray(x, float).ravel()
    y = np.asarray(y, float).ravel()
    keep = np.isfinite(x + y)
    x, y = x[keep], y[keep]
    n = x.size
    out["n"] = n
    if n < o.min_points:
        return out
    a = np.polyfit(x, y, 1)
    dy = y - np.polyval(a, x)
    keep = np.abs(dy - dy.mean()) <= o.regression_outlier_sd * dy.std(ddof=1)
    x, y = x[keep], y[keep]
    n = x.size
    out["n"] = n
    if n < o.min_points:
        return out
    sse_red = np.sum((y - y.mean()) ** 2)
    sse, b0, b1 = two_phase_sse(x, y)
    with np.errstate(invalid="ignore", divide="ignore"):
        fc = (sse_red - sse) / (sse / (n - 2))
    if not np.any(np.isfinite(fc)):
        return out
    a3 = np.polyfit(x, y, 1)
    sse_red3 = np.sum((y - np.polyval(a3, x)) ** 2)
    sse3, _, b13, b23 = three_phase_sse(x, y)
    with np.errstate(invalid="ignore", divide="ignore"):
        fc3 = (sse_red3 - sse3) / (sse3 / (n - 3))
    if np.any(np.isfinite(fc3)):
        i3 = int(np.nanargmax(fc3))
        n_end3 = max(o.min_end_points, int(np.floor(o.end_fraction * n)))
        if n_end3 < i3 + 1 < n - n_end3:
            p3 = fmax3_pvalue(float(fc3[i3]), n)
            out.update(cp3=float(x[i3]) if p3 <= o.p_significance else np.nan, p3=p3, fmax3=float(fc3[i3]),
                       b1_3=float(b13[i3]), c2_3=float(b13[i3] + b23[i3]))
    i = int(np.nanargmax(fc))
    fmax = float(fc[i])
    p = fmax2_pvalue(fmax, n)
    n_end = max(o.min_end_points, int(np.floor(o.end_fraction * n)))
    at_end = not (n_end < i + 1 < n - n_end)       # MATLAB 1-based iCp2>nEndPts & iCp2<n-nEndPts
    out.update(cp_raw=float(x[i]), i=i, at_end=at_end)
    if at_end:
        return out
    x1 = np.where(np.arange(n) > i, x[i], x)
    sxx_c = np.sum((x1 - x1.mean()) ** 2)
    s2 = sse[i] / (n - 2)
    tq = tdist.ppf(0.975, n - 2)
    cib1 = tq * np.sqrt(s2 / sxx_c)
    cib0 = tq * np.sqrt(s2 * (1.0 / n + x1.mean() ** 2 / sxx_c))
    out.update(fmax=fmax, p=p, b0=float(b0[i]), b1=float(b1[i]), cib0=float(cib0), cib1=float(cib1))
    if p <= o.p_significance:
        out["cp"] = float(x[i])
    return out


# ----------------------------------------------------------------------------------------------
# Stratification (cpdEvaluateUStarTh4Season20100901.m, fcBin.m)

def _prctile(x, q):
    """MATLAB ``prctile`` (midpoint plotting positions, linear interpolation, clamped)."""
    return np.percentile(np.asarray(x, float), q, method="hazen")


def bin_by_quantile(x, y, n_per_bin):
    """Means of x and y in x bins of ``n_per_bin`` points (``fcBin.m`` with empty dx).

    ``floor(n/n_per_bin)`` bins with borders at x percentiles, both borders inclusive; bins with
    fewer than ``n_per_bin`` points are dropped.

    Parameters
    ----------
    x, y : numpy.ndarray
        u* (m s-1) and NEE (umol m-2 s-1) of one stratum.
    n_per_bin : int

    Returns
    -------
    mx, my : numpy.ndarray
        Bin means, ascending in x.
    """
    ok = np.isfinite(x + y)
    x, y = np.asarray(x, float)[ok], np.asarray(y, float)[ok]
    nb = x.size // n_per_bin
    if nb < 1:
        return np.empty(0), np.empty(0)
    edges = _prctile(x, np.linspace(0.0, 100.0, nb + 1))
    order = np.argsort(x, kind="stable")
    xs, ys = x[order], y[order]
    lo = np.searchsorted(xs, edges[:-1], side="left")
    hi = np.searchsorted(xs, edges[1:], side="right")
    cx = np.concatenate([[0.0], np.cumsum(xs)])
    cy = np.concatenate([[0.0], np.cumsum(ys)])
    cnt = hi - lo
    use = cnt >= n_per_bin
    return (cx[hi] - cx[lo])[use] / cnt[use], (cy[hi] - cy[lo])[use] / cnt[use]


def _records_per_day(index, options):
    if options.records_per_day:
        return int(options.records_per_day)
    t = np.asarray(index.values, dtype="datetime64[ns]").astype(np.int64)
    d = np.diff(np.sort(t))
    d = d[d > 0]
    if d.size == 0:
        return 48
    return int(round(86400e9 / np.median(d)))


def _n_per_bin(per_day, options):
    if options.n_per_bin:
        return int(options.n_per_bin)
    return {24: 3, 48: 5}.get(per_day, 5)


def _nan_iqr(v):
    """Interquartile range ignoring NaN; NaN with 3 values or fewer (``fcNaniqr.m``)."""
    v = v[np.isfinite(v)]
    if v.size <= 3:
        return np.nan
    q1, q3 = _prctile(v, [25.0, 75.0])
    return q3 - q1


def cpd_threshold(frame, options=None):
    """u* threshold of one year by change-point detection (Barr et al. 2013; ONEFlux ``ustar_cp``).

    Parameters
    ----------
    frame : pandas.DataFrame
        One year of records on a half-hourly or hourly DatetimeIndex (bootstrap draws with repeated
        timestamps are accepted), columns ``USTAR`` (m s-1), ``NEE`` (umol m-2 s-1, raw, NaN =
        missing), ``TA`` (degC) and ``SW_IN`` (W m-2).
    options : CPDOptions, optional
        Default ``CPDOptions.oneflux()``.

    Returns
    -------
    UstarEstimate
        ``threshold``: mean (or median) of the selected change points (m s-1), NaN with a ``reason``
        when there is none; ``seasonal``: mean selected change point per time window, labelled
        ``"<year>-W<k>"`` (W1 starts in December when ``december_first``); ``n_records``: valid
        night records; ``details``: per-stratum arrays (window x stratum) ``cp``, ``cp_raw``, ``p``,
        ``fmax``, ``b1``, ``cib1``, ``cp3``, ``p3`` (diagnostic model), ``n_bins``, ``selected``,
        ``mean_ta``, plus ``mode``,
        ``n_tried``, ``n_significant``, ``n_selected``, ``frac_selected``, ``windows`` (first and
        last timestamp), ``n_per_bin``, ``records_per_day``.
    """
    o = options or CPDOptions.oneflux()
    missing = [c for c in ("USTAR", "NEE", "TA", "SW_IN") if c not in frame.columns]
    if missing:
        raise ValueError(f"cpd_threshold: missing column(s) {missing}")
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise ValueError("cpd_threshold: frame needs a DatetimeIndex")
    idx = frame.index
    per_day = _records_per_day(idx, o)
    npb = _n_per_bin(per_day, o)
    ustar = frame["USTAR"].to_numpy(float).copy()
    ustar[(ustar < o.ustar_min) | (ustar > o.ustar_max)] = np.nan
    nee = frame["NEE"].to_numpy(float)
    ta = frame["TA"].to_numpy(float)
    night = frame["SW_IN"].to_numpy(float) < o.night_sw_in
    year = int(np.median(idx.year)) if len(idx) else 0
    details = dict(records_per_day=per_day, n_per_bin=npb)
    n_needed = o.n_seasons * o.n_strata_min * o.n_bins * npb

    order = np.arange(len(idx))
    dec = np.flatnonzero(np.asarray(idx.month == 12))
    if o.december_first and dec.size:
        # cpdEvaluateUStarTh4Season: itReOrder=[min(itD):nt 1:(min(itD)-1)] (records in time order)
        order = np.concatenate([order[dec[0]:], order[:dec[0]]])
    valid = night & np.isfinite(nee + ustar + ta)
    it = order[valid[order]]
    n_valid = int(it.size)
    details["n_needed"] = n_needed
    if n_valid < n_needed:
        return UstarEstimate(np.nan, {}, n_valid, f"too few valid night records: {n_valid} < {n_needed}", details)

    per_season = int(round(n_valid / o.n_seasons))
    n_seasons = int(round(n_valid / per_season))
    per_season = int(round(n_valid / n_seasons))
    shape = (n_seasons, o.n_strata_max)
    fields = ("cp", "cp_raw", "p", "fmax", "b1", "cib1", "cp3", "p3", "mean_ta")
    arr = {k: np.full(shape, np.nan) for k in fields}
    n_bins = np.zeros(shape, int)
    tried = np.zeros(shape, bool)
    windows = []
    for s in range(n_seasons):
        stop = n_valid if s == n_seasons - 1 else (s + 1) * per_season
        its = it[s * per_season:stop]
        windows.append((idx[its[0]], idx[its[-1]]))
        n_strata = min(max(its.size // (o.n_bins * npb), o.n_strata_min), o.n_strata_max)
        tth = _prctile(ta[its], np.linspace(0.0, 100.0, n_strata + 1))
        for k in range(n_strata):
            sel = its[(ta[its] >= tth[k]) & (ta[its] <= tth[k + 1])]
            mx, my = bin_by_quantile(ustar[sel], nee[sel], npb)
            r = find_change_point(mx, my, o)
            tried[s, k] = True
            n_bins[s, k] = r["n"]
            for key in ("cp", "cp_raw", "p", "fmax", "b1", "cib1", "cp3", "p3"):
                arr[key][s, k] = r[key]
            arr["mean_ta"][s, k] = float(np.mean(ta[sel])) if sel.size else np.nan
    details.update({k: v for k, v in arr.items()}, n_bins=n_bins, windows=windows)
    labels = [f"{year}-W{s + 1}" for s in range(n_seasons)]

    # --- cpdAssignUStarTh20100901: significance, mode, outliers, aggregation
    cp, b1, cib1, p = arr["cp"], arr["b1"], arr["cib1"], arr["p"]
    sig = (p <= o.p_significance) & np.isfinite(b1 + cp)
    mode_d = sig & (b1 >= 0.0)
    mode_e = sig & (b1 < 0.0)
    mode = "D" if mode_d.sum() >= mode_e.sum() else "E"
    select = mode_d if mode == "D" else mode_e
    n_tried = int(tried.sum())
    details.update(mode=mode, n_tried=n_tried, n_significant=int(sig.sum()))
    frac = select.sum() / n_tried if n_tried else 0.0
    seasonal_nan = {lab: np.nan for lab in labels}
    if frac < o.min_fraction_selected:
        details.update(selected=select, n_selected=int(select.sum()), frac_selected=frac)
        return UstarEstimate(np.nan, seasonal_nan, n_valid,
                             f"less than {o.min_fraction_selected:.0%} successful change-point detections "
                             f"({int(select.sum())}/{n_tried} strata)", details)
    cols = [cp, b1, cib1]
    score = np.zeros(shape)
    for c in cols:
        med, iqr = np.nanmedian(c) if np.any(np.isfinite(c)) else np.nan, _nan_iqr(c)
        num = (c if o.outlier_normalisation == "each" else cp) - med
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.abs(num / iqr)
        score = np.fmax(score, np.where(np.isfinite(z), z, 0.0))
    outlier = score > o.outlier_iqr
    select = select & ~outlier
    n_sel = int(select.sum())
    details.update(selected=select, outlier=outlier, n_selected=n_sel, frac_selected=n_sel / n_tried)
    if n_sel < o.min_selected:
        return UstarEstimate(np.nan, seasonal_nan, n_valid,
                             f"too few selected change points: {n_sel}/{o.min_selected}", details)
    agg = np.nanmean if o.aggregate == "mean" else np.nanmedian
    thr = float(agg(cp[select]))
    seasonal = {lab: (float(agg(cp[s][select[s]])) if select[s].any() else np.nan) for s, lab in enumerate(labels)}
    return UstarEstimate(thr, seasonal, n_valid, "", details)
