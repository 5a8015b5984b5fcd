"""Neutral building blocks shared by every science package (bottom layer, with ``io``).

units (constants and conversions), meteorology (saturation vapour pressure, humidity), solar
(potential radiation), geometry (cell areas), zones (temperature climate zones), timeaxis (dates
and days per month), temporal (annual aggregation, anomalies), detrend, metrics (model evaluation),
folds (site-grouped cross-validation folds), progress (progress and Cancel callbacks), versions
(library versions recorded with every output), turbulence (the night-time low-u* flag).
Nothing here imports a science package, the job layer or QGIS (tests/core/test_layers.py)."""
