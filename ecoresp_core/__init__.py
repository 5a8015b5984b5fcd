"""ecoresp_core: the computations of the ecoresp plugin, free of any QGIS import.

Pipeline (one module per step, see README): site partitioning -> upscaling ->
trends and attribution.  Arrays are time-first ``(t, rows, cols)``; NaN marks
missing values everywhere inside the core.
"""

__version__ = "0.1.1"
