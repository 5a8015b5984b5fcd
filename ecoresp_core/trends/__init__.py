"""Trends and their causes: per-pixel Mann-Kendall / Theil-Sen (``trend``), detrending
(``detrend``); attribution of interannual variability follows here.  docs/methods.md
sections 14-15."""
