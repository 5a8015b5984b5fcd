"""Trends and their causes: per-pixel Mann-Kendall / Theil-Sen (``trend``), detrending
(``detrend``); attribution of interannual variability follows here.  science.md
sections 14-15."""
