"""Versions of ecoresp and of the libraries that shape its numbers, recorded in every output
(raster metadata, table headers, model files) so that a result can be traced to its software."""

import platform

from .. import __version__


def versions():
    """Versions of ecoresp, Python and the numerical libraries that are importable.

    Returns
    -------
    dict
        Name -> version string (``ecoresp``, ``python``, ``numpy``, ``scipy``, ``sklearn``,
        ``xarray``, ``pymannkendall``, ``gdal``); libraries that are not installed are left out.
    """
    out = {"ecoresp": __version__, "python": platform.python_version()}
    for mod in ("numpy", "scipy", "sklearn", "xarray", "pymannkendall"):
        try:
            m = __import__(mod)
            out[mod] = getattr(m, "__version__", "unknown")
        except ImportError:
            continue
    try:
        from osgeo import gdal
        out["gdal"] = gdal.__version__
    except ImportError:
        pass
    return out
