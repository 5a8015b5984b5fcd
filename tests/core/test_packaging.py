"""The core stays QGIS-free, the plugin is ready for Qt 6 (Qt only through qgis.PyQt, QGIS enums
only through algorithms/qgiscompat.py), and `make zip` builds a plugins.qgis.org-valid archive."""

import ast
import configparser
import os
import re
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


def _plugin_py_files(folders=("algorithms", "provider", "models", "ecoresp_core")):
    """Every .py file of the plugin: the top-level __init__.py and those under ``folders``."""
    yield os.path.join(REPO, "__init__.py")
    for folder in folders:
        for root, dirs, files in os.walk(os.path.join(REPO, folder)):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for f in sorted(files):
                if f.endswith(".py"):
                    yield os.path.join(root, f)


def _parse(path):
    with open(path, encoding="utf-8") as fh:
        return ast.parse(fh.read(), path)


QT_BINDINGS = ("PyQt4", "PyQt5", "PyQt6", "sip", "PySide2", "PySide6")


def test_qt_only_through_qgis_pyqt():
    """A direct PyQt5/PyQt6/sip import breaks the plugin under the other Qt: qgis.PyQt picks the
    binding QGIS was built with (``from qgis.PyQt import sip`` is fine)."""
    offenders = []
    for path in _plugin_py_files():
        for node in ast.walk(_parse(path)):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            offenders += [f"{os.path.relpath(path, REPO)}:{node.lineno}: {n}"
                          for n in names if n.split(".")[0] in QT_BINDINGS]
    assert offenders == [], "import Qt through qgis.PyQt: " + "; ".join(offenders)


# Unscoped QGIS enums and the QVariant.Type API: deprecated in QGIS 3.36/3.38, gone with Qt 6
# (QGIS 4). Outside algorithms/qgiscompat.py the plugin takes these names from that module.
# QgsWkbTypes keeps its static functions (QgsWkbTypes.geometryType, ...): only its enum members
# (capitalised) are caught.
UNSCOPED = re.compile(r"QVariant|parameterAsFields|Flag[A-Z]|QgsWkbTypes\.[A-Z]|QgsProcessing\.Type|"
                      r"QgsFeatureSink\.|\.Double\b|\.Integer\b|\.Numeric|QgsProcessingAlgorithm\.Flag|"
                      r"\.(ChildOutput|ModelParameter|StaticValue)\b")


def _dotted(node):
    """``a.b.c`` for an attribute chain; a chain on a call or subscript starts with '.'."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    parts.append(node.id if isinstance(node, ast.Name) else "")
    return ".".join(reversed(parts))


def test_no_unscoped_qgis_enums_outside_qgiscompat():
    offenders = set()
    for path in _plugin_py_files(("algorithms", "provider", "models")):
        if os.path.basename(path) == "qgiscompat.py":
            continue
        for node in ast.walk(_parse(path)):  # code only: strings and comments may name anything
            if isinstance(node, ast.Attribute):
                text = _dotted(node)
            elif isinstance(node, ast.Name):
                text = node.id
            elif isinstance(node, ast.alias):
                text = node.name
            else:
                continue
            if UNSCOPED.search(text):
                offenders.add(f"{os.path.relpath(path, REPO)}:{getattr(node, 'lineno', '?')}: {text}")
    assert not offenders, ("use the names of algorithms/qgiscompat.py instead of: "
                           + "; ".join(sorted(offenders)))


def test_unscoped_enum_check_catches_the_old_names():
    code = ("p.setFlags(p.flags() | p.FlagAdvanced)\n"
            "QgsProcessingParameterNumber('n', 'n', QgsProcessingParameterNumber.Double)\n"
            "sink.addFeature(f, QgsFeatureSink.FastInsert)\n"
            "QgsField('x', QVariant.String)\n"
            "t = QgsWkbTypes.Point if lon else QgsWkbTypes.NoGeometry\n"
            "self.parameterAsFields(parameters, 'F', context)\n"
            "ok = s.source() == Src.ChildOutput\n")
    found = {_dotted(n) if isinstance(n, ast.Attribute) else n.id for n in ast.walk(ast.parse(code))
             if isinstance(n, (ast.Attribute, ast.Name)) and UNSCOPED.search(
                 _dotted(n) if isinstance(n, ast.Attribute) else n.id)}
    assert {"p.FlagAdvanced", "QgsProcessingParameterNumber.Double", "QgsFeatureSink.FastInsert",
            "QVariant.String", "QgsWkbTypes.Point", "QgsWkbTypes.NoGeometry", "self.parameterAsFields",
            "Src.ChildOutput"} <= found
    ok = ("add_flags(p, FLAG_ADVANCED)\nQgsWkbTypes.geometryType(t)\nhelp = 'QgsProcessing.TypeVector'\n")
    assert not [n for n in ast.walk(ast.parse(ok)) if isinstance(n, ast.Attribute) and UNSCOPED.search(_dotted(n))]


REQUIRED = ["name", "qgisMinimumVersion", "description", "about", "version", "author", "email",
            "tracker", "repository"]


def test_metadata_fields():
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(REPO, "metadata.txt"))
    g = cfg["general"]
    for key in REQUIRED:
        assert g.get(key, "").strip(), key
    assert g["hasProcessingProvider"] == "yes" and g["qgisMinimumVersion"] == "3.22"
    import ecoresp_core  # outputs record the core's version: it must be the plugin's
    assert g["version"] == ecoresp_core.__version__


def test_metadata_declares_qt6_support():
    """QGIS 4 (Qt 6) loads only plugins whose metadata.txt says supportsQt6=True."""
    with open(os.path.join(REPO, "metadata.txt"), encoding="utf-8") as fh:
        text = fh.read()
    assert re.search(r"^supportsQt6\s*=\s*True\s*$", text, re.M), "metadata.txt: add supportsQt6=True"


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
                     "ecoresp/provider/provider.py", "ecoresp/ecoresp_core/trends/trend.py",
                     "ecoresp/docs/methods.md"):
        assert required in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or "/.git" in n]
    assert not [n for n in names if n.startswith("ecoresp/tests/")]


def test_shipped_files_point_to_the_shipped_methods_guide():
    """Users get the plugin, not the team's specification: the code and help refer to the methods
    guide that ships with it (docs/methods.md), and every section they name exists there."""
    with open(os.path.join(REPO, "docs", "methods.md"), encoding="utf-8") as fh:
        sections = set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", fh.read(), re.M))
    assert {"2", "4.3", "7.2", "15"} <= sections
    texts = [p for p in _plugin_py_files()] + [os.path.join(REPO, "README.md")]
    named = []
    for path in texts:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        assert "science.md" not in text, f"{os.path.relpath(path, REPO)} points to science.md, which users never get"
        for m in re.finditer(r"docs/methods\.md`?,? (?:sections?|§) ?([\d.,\- and]+\d)", text):
            for n in re.findall(r"\d+(?:\.\d+)?", m.group(1)):
                named.append(n)
                assert n in sections, f"{os.path.relpath(path, REPO)}: methods guide section {n} does not exist"
    assert len(named) > 20
