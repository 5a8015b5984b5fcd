"""Trends and their causes: per-pixel Mann-Kendall / Theil-Sen (``trend``: the driver;
``statistic``: the test, its variants and the block kernel; ``selection``: the exact
Sen-slope order statistics), detrending (``detrend``); attribution of interannual
variability follows here.  docs/methods.md sections 14-15."""
