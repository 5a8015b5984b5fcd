"""The result of one u* threshold estimate on one year of records, shared by every method.

``UstarEstimate`` is returned by :func:`ecoresp_core.ustar.mpt.mpt_threshold` (moving point
test) and :func:`ecoresp_core.ustar.cpd.cpd_threshold` (change-point detection); the bootstrap
in :mod:`ecoresp_core.ustar.bootstrap` only relies on these fields.
"""

from dataclasses import dataclass, field


@dataclass
class UstarEstimate:
    """One u* threshold estimate.

    Attributes
    ----------
    threshold : float
        Annual u* threshold (m s-1); NaN when none was found.
    seasonal : dict of str to float
        Threshold per season label (m s-1, NaN where none was found), e.g. ``{"2004-DJF": 0.31}``.
    n_records : int
        Number of records the estimate used (after the night-time and validity selection).
    reason : str
        Empty when a threshold was found, else why not (e.g. ``"too few records"``).
    details : dict
        Method-specific diagnostics (per-class thresholds, counts, ...).
    """

    threshold: float
    seasonal: dict = field(default_factory=dict)
    n_records: int = 0
    reason: str = ""
    details: dict = field(default_factory=dict)
