"""The job layer: jobs that combine the science kernels, between them and the QGIS algorithms.

    errors < common < io < science < jobs < cube < algorithms

``runner.RasterJob`` is the frame every raster job shares (provenance, Progress and Cancel,
the row-block walk within a memory budget of ``blocks``, outputs committed together through
``io.series.SeriesWriter``, QGIS styles, lanes of ``parallel.Workers``); ``inputs`` opens and
aligns the input layers.  The jobs are thin modules on top of it: ``trend``, ``detrend``,
``integrate``, ``attribution``, ``predict``, ``derive`` and ``sample`` (driver values at
sites); ``ecoresp_core.cube``, the layer above, runs the same kernels on xarray/dask arrays.
``tower`` chains the site-level science packages on one tower table: u* thresholds (``ustar``),
u* filtering and MDS gap filling (``gapfilling``) per u* scenario, then partitioning
(``partitioning``).  Science packages never import this layer.
"""
