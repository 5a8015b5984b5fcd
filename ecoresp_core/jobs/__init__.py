"""The job layer: file-to-file raster jobs, between the science kernels and the QGIS algorithms.

    errors < common < io < science (partitioning | upscaling | trends | attribution) < jobs < algorithms

``runner.RasterJob`` is the frame every raster job shares (provenance, Progress and Cancel,
the row-block walk within a memory budget of ``blocks``, outputs committed together through
``io.series.SeriesWriter``, QGIS styles, lanes of ``parallel.Workers``); ``inputs`` opens and
aligns the input layers.  The jobs are thin modules on top of it: ``trend``, ``detrend``,
``integrate``, ``attribution``, ``predict``, ``derive``, ``sample`` (driver values at sites), and
``gridded`` (the same kernels on xarray/dask arrays).  Science packages never import this layer.
"""
