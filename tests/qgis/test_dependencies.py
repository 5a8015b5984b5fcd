"""Declared dependencies (issue 14, item 7): with a third-party Python package missing, the provider
still loads every algorithm and model; the algorithms that need the package say which one and how to
install it (canExecute, and a run through processing.run fails with that message); the others run.

Each case runs in a fresh Python with the package made unimportable (sys.modules[name] = None before
anything is imported), as on a QGIS installation without it. Also: the icons exist."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import REPO, _plugin_parent

pytestmark = pytest.mark.qgis

SCRIPT = textwrap.dedent(r"""
    import json, os, sys
    for name in sys.argv[1].split(","):
        if name:
            sys.modules[name] = None   # import name -> ModuleNotFoundError, as when not installed
    sys.path[:0] = [sys.argv[2], sys.argv[3]]
    sys.path.append("/usr/share/qgis/python/plugins")
    from qgis.core import (QgsApplication, QgsProcessingContext, QgsProcessingException,
                           QgsProcessingFeedback, QgsProcessingModelAlgorithm)
    app = QgsApplication([], False)
    app.initQgis()
    from processing.core.Processing import Processing
    Processing.initialize()
    import processing
    from ecoresp.provider.provider import EcorespProvider
    provider = EcorespProvider()
    QgsApplication.processingRegistry().addProvider(provider)
    out = {"algorithms": {}, "runs": {}, "provider_icon": not provider.icon().isNull()}
    for alg in provider.algorithms():
        ok, message = alg.canExecute()
        out["algorithms"][alg.id()] = {"ok": ok, "message": message, "svg": alg.svgIconPath(),
                                       "group": alg.group(), "display": alg.displayName(),
                                       "parameters": len(alg.parameterDefinitions()),
                                       "model": isinstance(alg, QgsProcessingModelAlgorithm)}

    def run(alg_id, params):
        try:
            processing.run(alg_id, params, context=QgsProcessingContext(), feedback=QgsProcessingFeedback())
            return "ran"
        except QgsProcessingException as exc:
            return str(exc)

    for alg_id, info in out["algorithms"].items():
        if not info["ok"] and not info["model"]:
            out["runs"][alg_id] = run(alg_id, {"OUTPUT": os.path.join(sys.argv[4], alg_id[8:] + ".tif")})
    # a small annual stack: trend runs without pandas and scikit-learn
    import numpy as np
    from osgeo import gdal
    src = os.path.join(sys.argv[4], "stack.tif")
    ds = gdal.GetDriverByName("GTiff").Create(src, 4, 3, 12, gdal.GDT_Float32)
    ds.SetGeoTransform((10.0, 0.5, 0, 50.0, 0, -0.5))
    for i in range(12):
        band = ds.GetRasterBand(i + 1)
        band.WriteArray(np.full((3, 4), 1.0 + 0.1 * i) + np.arange(12).reshape(3, 4) % 5 * 0.01 * i)
        band.SetDescription(f"{1990 + i}-01-01")
    ds = None
    out["runs"]["ecoresp:trend (runs)"] = run("ecoresp:trend", {
        "INPUT": src, "MIN_VALID": 10, "OUTPUT": os.path.join(sys.argv[4], "trend.tif"),
        "CLASSES": os.path.join(sys.argv[4], "classes.tif")})
    print("RESULT " + json.dumps(out), flush=True)
    os._exit(0)   # no QGIS shutdown: its exit is not under test
""")


def provider_state(tmp_path, blocked):
    """The provider as a fresh QGIS Python sees it with the ``blocked`` packages unimportable."""
    script = tmp_path / "dependencies_probe.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", QGIS_CUSTOM_CONFIG_PATH=str(tmp_path / "profile"))
    proc = subprocess.run([sys.executable, str(script), ",".join(blocked), _plugin_parent, REPO, str(tmp_path)],
                          capture_output=True, text=True, timeout=300, env=env, cwd=str(tmp_path))
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, f"probe failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return json.loads(lines[-1][len("RESULT "):])


@pytest.fixture(scope="module")
def complete(tmp_path_factory):
    return provider_state(tmp_path_factory.mktemp("deps-none"), [])


def test_every_algorithm_runs_and_has_an_icon_when_nothing_is_missing(complete):
    algs = complete["algorithms"]
    own = [a for a in algs if a.count(":") == 1 and a.startswith("ecoresp:")]
    assert complete["provider_icon"]
    assert len(own) == 15 + 5, sorted(algs)  # 15 algorithms and the 5 shipped models
    assert sum(info["model"] for info in algs.values()) == 5
    for alg_id, info in algs.items():
        assert info["ok"], (alg_id, info["message"])
    for alg_id, info in algs.items():
        if not info["model"]:  # the algorithms: one icon per toolbox group
            assert info["svg"] and os.path.exists(info["svg"]), alg_id
    assert complete["runs"]["ecoresp:trend (runs)"] == "ran"


@pytest.mark.parametrize("package, install", [("pandas", "pandas"), ("sklearn", "scikit-learn")])
def test_a_missing_package_is_named_by_the_algorithms_that_need_it(complete, tmp_path, package, install):
    state = provider_state(tmp_path, [package])
    algs = state["algorithms"]
    assert set(algs) == set(complete["algorithms"])  # the same algorithms and models are listed
    for alg_id, info in algs.items():  # same names, groups and icons
        for key in ("display", "group", "svg"):
            assert info[key] == complete["algorithms"][alg_id][key], (alg_id, key)
    needing = {a for a, info in algs.items() if not info["ok"] and not info["model"]}
    if package == "pandas":
        assert {"ecoresp:partition", "ecoresp:gapfill", "ecoresp:sitemonthtable"} <= needing
        assert "ecoresp:trend" not in needing
    else:
        assert {"ecoresp:fitupscaler", "ecoresp:rfattribution"} <= needing
        assert "ecoresp:predictupscaler" not in needing and "ecoresp:partition" not in needing
        # an algorithm whose module imports keeps its dialog's parameters
        assert algs["ecoresp:fitupscaler"]["parameters"] == complete["algorithms"]["ecoresp:fitupscaler"]["parameters"]
    for alg_id in needing:
        message = algs[alg_id]["message"]
        assert f"Python package {install}" in message and "pip install" in message and "apt install" in message
        assert install in state["runs"][alg_id], (alg_id, state["runs"][alg_id])
    assert state["runs"]["ecoresp:trend (runs)"] == "ran"


def test_an_import_error_that_is_not_a_missing_package_is_raised():
    """A broken import inside the plugin (or of the standard library) is a bug, not a missing package."""
    from ecoresp.algorithms.dependencies import missing_package

    assert missing_package(ModuleNotFoundError("x", name="pandas")) == "pandas"
    assert missing_package(ModuleNotFoundError("x", name="sklearn.ensemble")) == "sklearn"
    assert missing_package(ModuleNotFoundError("x", name="ecoresp.ecoresp_core.nothing")) is None
    assert missing_package(ModuleNotFoundError("x", name="ecoresp_core.nothing")) is None
    assert missing_package(ImportError("cannot import name 'x'")) is None
    if hasattr(sys, "stdlib_module_names"):
        assert missing_package(ModuleNotFoundError("x", name="json.nothing")) is None


def test_metadata_declares_the_icon_and_the_packages():
    import configparser

    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(os.path.join(REPO, "metadata.txt"), encoding="utf-8")
    general = cfg["general"]
    icon = general["icon"]
    assert not os.path.isabs(icon) and os.path.exists(os.path.join(REPO, icon)), icon
    assert icon.split("/")[0] in ("algorithms", "provider"), "the icon must be in a folder the zip ships"
    from ecoresp.algorithms.dependencies import PACKAGES

    for pip, debian, _ in PACKAGES.values():
        assert pip in general["about"], pip
        with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
            readme = f.read()
        assert pip in readme and debian in readme, (pip, debian)
