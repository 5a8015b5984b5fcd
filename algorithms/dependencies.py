"""The Python packages ecoresp needs beyond QGIS itself, and what a user reads when one is missing.

QGIS ships numpy and GDAL; scipy, pandas and scikit-learn (and, for NetCDF files, cftime and netCDF4)
may be missing from a QGIS installation. An algorithm whose package is missing stays in the toolbox and
says which package it needs and how to install it (algorithms/__init__.py); the README lists them all."""

import importlib.util
import sys

# import name -> (name to install with pip, Debian/Ubuntu package, what needs it)
PACKAGES = {
    "numpy": ("numpy", "python3-numpy", "every algorithm (shipped with QGIS)"),
    "osgeo": ("GDAL", "python3-gdal", "every algorithm (shipped with QGIS)"),
    "scipy": ("scipy", "python3-scipy", "trends, partitioning, u* threshold, attribution"),
    "pandas": ("pandas", "python3-pandas", "tower data, partitioning, upscaling, attribution tables"),
    "sklearn": ("scikit-learn", "python3-sklearn",
                "fitting upscaling models, random-forest attribution, ML daytime partitioning"),
    "cftime": ("cftime", "python3-cftime", "NetCDF inputs with a CF time axis"),
    "netCDF4": ("netCDF4", "python3-netcdf4", "NetCDF outputs"),
}

# packages an algorithm imports only when it runs (its module imports without them)
RUN_TIME = {"fitupscaler": ("sklearn",), "rfattribution": ("sklearn",)}

_STDLIB = getattr(sys, "stdlib_module_names", frozenset())  # Python 3.10+; QGIS 3.22 on Windows has 3.9


def pip_name(module):
    """What to install for the importable top-level ``module`` (sklearn -> scikit-learn)."""
    return PACKAGES.get(module, (module,))[0]


def install_hint(module):
    """How to install the package of ``module``, on one line."""
    pip = pip_name(module)
    debian = PACKAGES.get(module, (None, f"python3-{pip.lower()}"))[1]
    return (f"install it with 'python -m pip install {pip}' in the OSGeo4W Shell (Windows) or with the "
            f"Python of the QGIS application (macOS), or 'sudo apt install {debian}' (Debian, Ubuntu), "
            "then restart QGIS")


def missing_message(modules):
    """'needs the Python package pandas: install it with ...' for the missing ``modules``."""
    modules = list(modules)
    names = ", ".join(pip_name(m) for m in modules)
    which = "package" if len(modules) == 1 else "packages"
    hints = "; ".join(f"{pip_name(m)}: {install_hint(m)}" for m in modules) if len(modules) > 1 \
        else install_hint(modules[0])
    return f"needs the Python {which} {names}, not installed in this QGIS: {hints}"


def missing_package(exc, own=("ecoresp", "ecoresp_core")):
    """The top-level module name of the third-party package whose absence raised ``exc`` (a
    ModuleNotFoundError); None when it is not one (a module of the plugin itself, or of the Python
    standard library: that is a bug, not a missing package)."""
    if not isinstance(exc, ModuleNotFoundError) or not exc.name:
        return None
    top = exc.name.split(".")[0]
    if top in own or top in _STDLIB:
        return None
    return top


def unavailable(modules):
    """Those of ``modules`` (top-level import names) that cannot be imported."""
    out = []
    for module in modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            out.append(module)
    return out
