"""QC codes of the partitioned fluxes, one set for every method (docs/methods.md section 16).

Per record, QC_<M> of RECO_<M> and GPP_<M>:

- 0 (:data:`GOOD`): estimated from parameters fitted near the record;
- 1 (:data:`FALLBACK`): parameters refitted by a fall-back rule (DT/DT-RH light-response windows:
  k = 0, alpha fixed, respiration only), or a fall-back for the site-year (NT: E0 from the relaxed
  temperature-range rule; DT-RH variants: plain DT because stage B failed);
- 2 (:data:`EXTRAPOLATED`): the nearest fitting window (NT Rref window, DT/DT-RH light-response
  window, DT-RH night Rref window for night records) or, for RF/NN, the nearest training record
  is more than :data:`MAX_GAP_DAYS` (14) days away;
- 9 (:data:`NO_VALUE`): no RECO: the method failed for the site-year, or a driver (e.g. TA) is
  missing on that record.  RECO is missing exactly where QC is 9; GPP (= RECO - NEE) is also
  missing where NEE is.

The partitioning core never fills a driver: gap-fill TA, VPD, RH, SW_IN first (MDS, section 18).
"""

import numpy as np

GOOD, FALLBACK, EXTRAPOLATED, NO_VALUE = 0, 1, 2, 9
MAX_GAP_DAYS = 14.0


def distance_to_nearest(positions, n):
    """Distance in records from every record 0..n-1 to the nearest of ``positions`` (inf if none)."""
    p = np.unique(np.asarray(positions, dtype="float64"))
    p = p[np.isfinite(p)]
    if p.size == 0:
        return np.full(n, np.inf)
    r = np.arange(n, dtype="float64")
    j = np.searchsorted(p, r)
    left = p[np.clip(j - 1, 0, p.size - 1)]
    right = p[np.clip(j, 0, p.size - 1)]
    return np.minimum(np.abs(r - left), np.abs(right - r))


def extrapolated(positions, n, records_per_day, max_gap_days=MAX_GAP_DAYS):
    """True where the nearest of ``positions`` (record numbers of fitting windows or training records)
    is more than ``max_gap_days`` away (the DT rule of section 5.4, FP_qc = 2)."""
    return distance_to_nearest(positions, n) > float(max_gap_days) * float(records_per_day)


def no_value(qc, reco):
    """``qc`` (int16) with :data:`NO_VALUE` wherever ``reco`` is not finite."""
    reco = np.asarray(reco, dtype="float64")
    return np.where(np.isfinite(reco), qc, NO_VALUE).astype("int16")
