"""What users read names only what they have: the guide shipped in the plugin (docs/html, built from
docs/*.md) is up to date and holds a section per algorithm, and no help text, message, README or
guide page names a file that the plugin zip does not contain (science.md, tests/..., .ci/..., a
source file of the repository that is not shipped). The algorithms' own help strings and parameter
labels, which need QGIS, are checked by tests/qgis/test_help.py with the same scanner."""

import ast
import importlib.util
import os
import re
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ALGORITHMS = ("ustarthreshold", "gapfill", "partition", "isotopepartition", "evaluate", "sitemonthtable",
              "derivedriver", "fitupscaler", "predictupscaler", "integrate", "trend", "detrend",
              "partialcorrelation", "rfattribution", "attributionzones")
EXTENSIONS = ("py", "md", "csv", "txt", "model3", "qml", "json", "nc", "tif", "html", "sh", "ini", "toml",
              "cfg", "npz", "gz", "zip", "R", "m", "ipynb", "yml", "yaml")


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def plugin_entries():
    """The top-level entries of the plugin zip: the Makefile's PLUGIN_FILES (an example folder added
    there is picked up)."""
    with open(os.path.join(REPO, "Makefile"), encoding="utf-8") as fh:
        m = re.search(r"^PLUGIN_FILES\s*:?=\s*(.+)$", fh.read(), re.M)
    return m.group(1).split()


def _repository_files():
    try:
        out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
        files = out.split()
    except (OSError, subprocess.CalledProcessError):
        files = []
    for root, dirs, names in os.walk(REPO):  # new, not yet committed files too
        dirs[:] = [d for d in dirs if not d.startswith(".") or d == ".ci"]
        dirs[:] = [d for d in dirs if d not in ("__pycache__", "dist", "node_modules")]
        files += [os.path.relpath(os.path.join(root, n), REPO) for n in names]
    return sorted(set(f.replace(os.sep, "/") for f in files))


class Checker:
    """Finds references to files in a text and tells those that the zip does not contain."""

    def __init__(self):
        self.entries = plugin_entries()
        self.files = _repository_files()
        top = {f.split("/")[0] for f in self.files if "/" in f} | {"shared", "calc", "work", "dist", "demo_output"}
        tops = "|".join(sorted(map(re.escape, top), key=len, reverse=True))
        # a path under one of the repository's folders, or a user-less absolute /work/... path
        self.dir_ref = re.compile(r"(?<![\w.@/-])/?(?:work/)?(?:" + tops + r")/[\w./*<>{}-]*")
        self.file_ref = re.compile(r"(?<![\w./@-])[\w-]+(?:\.[\w-]+)*\.(?:" + "|".join(EXTENSIONS) + r")(?![\w/])")
        self.by_name = {}
        for f in self.files:
            self.by_name.setdefault(f.rsplit("/", 1)[-1], []).append(f)

    def shipped(self, path):
        """Whether ``path`` (relative to the plugin folder) is in the zip."""
        path = path.strip("/")
        if not path:
            return False
        first = path.split("/")[0]
        if first not in self.entries:
            return False
        # a pattern (tests/data/*.csv, RECO_<M>/...) is checked up to its first wildcard
        concrete = re.split(r"[*<{]", path)[0].rstrip("/")
        if concrete != path:
            concrete = concrete.rsplit("/", 1)[0] if "/" in concrete else concrete
        return os.path.exists(os.path.join(REPO, concrete))

    def offenders(self, text):
        """The file references in ``text`` that users do not have: [(offset, reference)]."""
        found = []
        spans = []
        for m in self.dir_ref.finditer(text):
            ref = m.group(0).rstrip(".,;:)`'\"")
            spans.append(m.span())
            path = re.sub(r"^/?(?:work/)?", "", ref) if ref.startswith("/") else ref
            if ref.startswith("/") or not self.shipped(path):
                found.append((m.start(), ref))
        for m in self.file_ref.finditer(text):
            if any(a <= m.start() < b for a, b in spans):
                continue
            name = m.group(0)
            if name == "science.md":
                found.append((m.start(), name))
                continue
            where = self.by_name.get(name)
            if where and not any(self.shipped(f) for f in where):
                found.append((m.start(), name))
        return found


_CHECKER = None


def checker():
    global _CHECKER
    if _CHECKER is None:
        _CHECKER = Checker()
    return _CHECKER


def _line(text, offset):
    return text.count("\n", 0, offset) + 1


def python_messages(path):
    """The string constants of a Python file that are not docstrings: (line, text). Comments are not
    strings; docstrings (and the module's) are for developers."""
    with open(path, encoding="utf-8") as fh:
        tree = ast.parse(fh.read(), path)
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value


def _python_files(*folders):
    for folder in folders:
        for root, dirs, names in os.walk(os.path.join(REPO, folder)):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for n in sorted(names):
                if n.endswith(".py"):
                    yield os.path.join(root, n)


def _text_files():
    """metadata.txt (the plugin manager shows it), the README when the zip ships it (the repository's
    front page, for developers, does not), every markdown page of docs/ and the shipped models (their
    descriptions are help)."""
    if "README.md" in plugin_entries():
        yield os.path.join(REPO, "README.md")
    yield os.path.join(REPO, "metadata.txt")
    for folder, ext in (("docs", ".md"), ("models", ".model3")):
        for root, _, names in os.walk(os.path.join(REPO, folder)):
            for n in sorted(names):
                if n.endswith(ext):
                    yield os.path.join(root, n)


def scan_text(label, text, first_line=1):
    """``label:line: reference`` for every offender in ``text``."""
    return [f"{label}:{first_line + _line(text, off) - 1}: {ref}" for off, ref in checker().offenders(text)]


def test_the_checker_tells_shipped_from_unshipped_files():
    found = [ref for _, ref in checker().offenders(
        "see science.md §4, tests/data/flux/x.csv, .ci/setup and /work/shared/docs/science.md; "
        "docs/methods.md section 18, ecoresp_core/partitioning/qc.py, the guide docs/html/user_guide.html, "
        "README.md, run_demo.sh, R/EddyPartitioning.R, src/hesseflux/nee2gpp.py, 1 g/mol, 1981-01/P1M")]
    assert sorted(found) == sorted(["tests/data/flux/x.csv", ".ci/setup", "/work/shared/docs/science.md",
                                    "science.md", "run_demo.sh"]), found


def test_no_user_text_names_a_file_the_plugin_zip_does_not_contain():
    """README, metadata.txt, docs/*.md, the shipped models and the string literals (not docstrings) of
    the plugin's Python code name only files the zip holds."""
    bad = []
    for path in _text_files():
        with open(path, encoding="utf-8") as fh:
            bad += scan_text(os.path.relpath(path, REPO), fh.read())
    for path in _python_files("algorithms", "ecoresp_core", "provider"):
        rel = os.path.relpath(path, REPO)
        for line, text in python_messages(path):
            bad += scan_text(rel, text, line)
    assert not bad, f"{len(bad)} references to files users do not have:\n" + "\n".join(bad)


def _build_docs():
    return _load(os.path.join(REPO, "docs", "build_docs.py"), "ecoresp_build_docs")


def test_committed_html_guide_is_the_build_output():
    """docs/html/ is what docs/build_docs.py makes of docs/*.md (run it after editing the markdown), and
    holds nothing else."""
    markdown = pytest.importorskip("markdown")
    build = _build_docs()
    expected = build.outputs()
    for page, text in sorted(expected.items()):
        path = os.path.join(build.HTML_DIR, page)
        assert os.path.exists(path), f"docs/html/{page} missing: run docs/build_docs.py"
        with open(path, encoding="utf-8") as fh:
            committed = fh.read()
        m = re.search(r"Python-Markdown ([\d.]+)", committed)
        if committed != text and m and m.group(1).split(".")[:2] != markdown.__version__.split(".")[:2]:
            pytest.skip(f"docs/html/{page} was built with Python-Markdown {m.group(1)}, "
                        f"this is {markdown.__version__}")
        assert committed == text, f"docs/html/{page} is stale: run docs/build_docs.py (make docs)"
    present = {os.path.relpath(os.path.join(root, n), build.HTML_DIR)
               for root, _, names in os.walk(build.HTML_DIR) for n in names}
    assert present <= set(expected), f"not made by docs/build_docs.py: {sorted(present - set(expected))}"


def _anchors(path):
    with open(path, encoding="utf-8") as fh:
        return set(re.findall(r'\sid="([^"]+)"', fh.read()))


def resolve_help(url):
    """(file, anchor) that a help URL shows: its file, or the target of the page's forward."""
    assert url.startswith("file://"), url
    path, _, anchor = url[len("file://"):].partition("#")
    if re.match(r"/[A-Za-z]:/", path):  # file:///C:/...
        path = path[1:]
    assert os.path.isfile(path), url
    with open(path, encoding="utf-8") as fh:
        m = re.search(r'<meta http-equiv="refresh" content="0; url=([^"]+)"', fh.read())
    if m:
        target, _, anchor = m.group(1).partition("#")
        path = os.path.normpath(os.path.join(os.path.dirname(path), target))
        assert os.path.isfile(path), f"{url} forwards to {m.group(1)}, which does not exist"
    return path, anchor


def test_every_algorithm_links_to_its_section_of_the_shipped_guide():
    helpdocs = _load(os.path.join(REPO, "algorithms", "helpdocs.py"), "ecoresp_helpdocs")
    names = set()
    for path in _python_files("algorithms"):
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "NAME" for t in node.targets) \
                    and isinstance(node.value, ast.Constant) and node.value.value:
                names.add(node.value.value)
    assert set(ALGORITHMS) <= names
    docs_html = os.path.join(os.path.realpath(REPO), "docs", "html") + os.sep
    for name in sorted(names):
        url = helpdocs.help_url(name)
        assert url, f"{name}: no help page (a {{#alg-{name}}} section in docs/user_guide.md, then make docs)"
        path, anchor = resolve_help(url)
        assert os.path.realpath(path).startswith(docs_html), url  # inside the plugin folder: in the zip
        assert anchor == f"alg-{name}" and anchor in _anchors(path), f"{name}: no section #{anchor} in {path}"


def test_guide_links_between_pages_resolve():
    """Every link of the shipped HTML to another page or section of the guide reaches it."""
    html_dir = os.path.join(REPO, "docs", "html")
    bad = []
    pages = sorted(os.path.join(root, n) for root, _, names in os.walk(html_dir) for n in names)
    assert pages
    for page in pages:
        with open(page, encoding="utf-8") as fh:
            text = fh.read()
        for target in re.findall(r'(?:href="|content="0; url=)([^"]+)"', text):
            if re.match(r"[a-z]+:", target):
                continue
            file_part, _, anchor = target.partition("#")
            path = os.path.normpath(os.path.join(os.path.dirname(page), file_part)) if file_part else page
            where = os.path.relpath(page, html_dir)
            if not os.path.exists(path):
                bad.append(f"{where}: {target} (no such file)")
            elif anchor and path.endswith(".html") and anchor not in _anchors(path):
                bad.append(f"{where}: {target} (no such section)")
    assert not bad, "\n".join(bad)


def test_common_search_tags():
    helpdocs = _load(os.path.join(REPO, "algorithms", "helpdocs.py"), "ecoresp_helpdocs")
    tags = helpdocs.algorithm_tags(("Mann-Kendall", "eddy covariance"))
    assert {"ecoresp", "ecosystem respiration", "eddy covariance", "Mann-Kendall"} <= set(tags)
    assert len(tags) == len(set(tags))
