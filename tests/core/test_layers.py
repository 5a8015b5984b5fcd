"""The layer order of the code base, enforced on every import statement (also those inside functions).

    errors < common < io < science < jobs < cube < algorithms
    science: partitioning | upscaling | trends | attribution | ustar | gapfilling

A module may import its own layer and the layers below it, never one above.  The science
packages are independent of one another (what two of them share lives in ``common``), they hold
kernels on arrays and tables and never open rasters (no GDAL, no ``io.series``).  Nothing in
``ecoresp_core`` imports QGIS or Qt, nor the plugin's ``algorithms``/``provider``.
"""

import ast
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORE = "ecoresp_core"
SCIENCE = ("partitioning", "upscaling", "trends", "attribution", "gapfilling", "ustar")
RANK = {"": 0, "errors": 0, "common": 1, "io": 2, **{s: 3 for s in SCIENCE}, "jobs": 4, "cube": 5,
        "__main__": 6}
QGIS_PREFIXES = ("qgis", "PyQt5", "PyQt6", "sip", "processing", "algorithms", "provider")


def _modules():
    for root, _, files in os.walk(os.path.join(REPO, CORE)):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(root, name)
                rel = os.path.relpath(path, REPO)[:-3].replace(os.sep, ".")
                yield path, rel[:-9] if rel.endswith(".__init__") else rel, name == "__init__.py"


def _imports(path, module, is_package):
    """(line, absolute module name) of every import in the file."""
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [target] if node.module else [f"{target}.{a.name}" for a in node.names]
            for n in names:
                yield node.lineno, n


def _layer(module):
    """Layer key of an ecoresp_core module: '' for the package itself, else its first sub-name."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _violations():
    bad = []
    for path, module, is_package in _modules():
        own = _layer(module)
        if own not in RANK:
            bad.append(f"{module}: not in any layer (add it to a package of tests/core/test_layers.py's order)")
            continue
        for line, target in _imports(path, module, is_package):
            where = f"{os.path.relpath(path, REPO)}:{line} imports {target}"
            if target.split(".")[0] in QGIS_PREFIXES:
                bad.append(f"{where}: the core never imports QGIS, Qt or the plugin")
            if not target.startswith(CORE):
                if own in SCIENCE and target.split(".")[0] == "osgeo":
                    bad.append(f"{where}: science kernels do not open rasters (the job layer does)")
                continue
            other = _layer(target)
            if other == "errors" or target == CORE or other == "__version__":
                continue
            if other not in RANK:
                bad.append(f"{where}: unknown layer {other!r}")
            elif RANK[other] > RANK[own]:
                bad.append(f"{where}: {own or CORE} may not import the higher layer {other}")
            elif own in SCIENCE and other in SCIENCE and other != own:
                bad.append(f"{where}: science packages are independent (share through common)")
            elif own in SCIENCE and target.startswith(f"{CORE}.io.series"):
                bad.append(f"{where}: science kernels do not open rasters (the job layer does)")
    return bad


def test_layer_order():
    bad = _violations()
    assert not bad, "layer order broken:\n" + "\n".join(bad)


def test_the_rule_catches_a_violation(tmp_path, monkeypatch):
    """The checker itself: an upward and a sideways import are found."""
    pkg = tmp_path / CORE
    (pkg / "common").mkdir(parents=True)
    (pkg / "trends").mkdir()
    for d in (pkg, pkg / "common", pkg / "trends"):
        (d / "__init__.py").write_text("")
    (pkg / "common" / "x.py").write_text("from ..jobs import runner\n")
    (pkg / "trends" / "y.py").write_text("def f():\n    from ..attribution import zones\n")
    monkeypatch.setattr(__import__(__name__), "REPO", str(tmp_path))
    bad = _violations()
    assert any("common/x.py:1 imports ecoresp_core.jobs" in b for b in bad), bad
    assert any("trends/y.py:2 imports ecoresp_core.attribution" in b for b in bad), bad


@pytest.mark.parametrize("layer", sorted(RANK))
def test_every_layer_exists(layer):
    if layer in ("", "errors"):
        return
    path = os.path.join(REPO, CORE, layer)
    assert os.path.isdir(path) or os.path.isfile(path + ".py"), f"ecoresp_core/{layer} missing"
