"""Friction-velocity (u*) thresholds for the night-time u* filter of eddy-covariance NEE:
the moving point test (Papale et al. 2006, REddyProc ``sEstUstarThold``), the change-point
detection (Barr et al. 2013, ``cpd``), the bootstrap of either, and the filter itself."""
