"""The core stays QGIS-free, and `make zip` builds a plugins.qgis.org-valid archive."""

import ast
import configparser
import os
import subprocess
import sys
import zipfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FORBIDDEN = ("qgis", "processing", "PyQt5", "PyQt6", "qgis_process")


def test_core_never_imports_qgis():
    offenders = []
    for root, _, files in os.walk(os.path.join(REPO, "ecoresp_core")):
        for f in files:
            if not f.endswith(".py"):
                continue
            path = os.path.join(root, f)
            for node in ast.walk(ast.parse(open(path).read(), path)):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    names = [node.module or ""]
                offenders += [f"{path}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []
    code = ("import sys, pkgutil, importlib, ecoresp_core\n"
            "for m in pkgutil.walk_packages(ecoresp_core.__path__, 'ecoresp_core.'):\n"
            "    importlib.import_module(m.name)\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('qgis', 'PyQt5', 'processing')]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


REQUIRED = ["name", "qgisMinimumVersion", "description", "about", "version", "author", "email",
            "tracker", "repository"]


def test_metadata_fields():
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(REPO, "metadata.txt"))
    g = cfg["general"]
    for key in REQUIRED:
        assert g.get(key, "").strip(), key
    assert g["hasProcessingProvider"] == "yes" and g["qgisMinimumVersion"] == "3.22"


@pytest.mark.skipif(not os.path.isdir(os.path.join(REPO, ".git")), reason="needs the git checkout")
def test_make_zip_is_plugin_repository_valid(tmp_path):
    subprocess.run(["make", "-s", "zip"], cwd=REPO, check=True, capture_output=True)
    path = os.path.join(REPO, "dist", "ecoresp.zip")
    assert os.path.getsize(path) < 25 * 2 ** 20
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert zf.testzip() is None
    assert all(n.startswith("ecoresp/") for n in names)
    for required in ("ecoresp/metadata.txt", "ecoresp/__init__.py", "ecoresp/LICENSE",
                     "ecoresp/provider/provider.py", "ecoresp/ecoresp_core/trends/trend.py"):
        assert required in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or "/.git" in n]
    assert not [n for n in names if n.startswith("ecoresp/tests/")]
