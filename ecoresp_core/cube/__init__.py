"""ecoresp beyond one QGIS process: the heavy steps on xarray objects, numpy- or dask-backed,
computed on dask's local scheduler within a memory budget or on a dask.distributed cluster.

    errors < common < io < science < jobs < cube

``scheduler`` (where a computation runs, chunk sizes from the memory budget), ``files`` (cubes in
and out of GeoTIFF, NetCDF and Zarr with the plugin's conventions), one module per step calling
the same kernels as the QGIS algorithms, and ``cli`` (``python -m ecoresp_core STEP ...``).
Nothing below this package imports it.
"""
