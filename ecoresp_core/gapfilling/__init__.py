"""Gap filling of half-hourly and hourly tower records: the marginal distribution sampling (MDS)
of Reichstein et al. (2005) exactly as REddyProc ``sMDSGapFill`` (``mds.py``)."""
