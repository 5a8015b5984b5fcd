"""File I/O at the core's edges: raster time series (GDAL), dates, styles."""
