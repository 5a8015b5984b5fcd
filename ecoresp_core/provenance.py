"""What every output records about how it was made: method, options, inputs, versions."""

import json
import platform

from . import __version__


def versions():
    """Versions of ecoresp and of the libraries that shape its numbers."""
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


def provenance(algorithm, options, inputs=None):
    """A flat dict of strings for raster metadata or table headers."""
    return {
        "ECORESP_ALGORITHM": algorithm,
        "ECORESP_OPTIONS": json.dumps(options, sort_keys=True, default=str),
        "ECORESP_INPUTS": json.dumps(inputs or {}, sort_keys=True, default=str),
        "ECORESP_VERSIONS": json.dumps(versions(), sort_keys=True),
    }
