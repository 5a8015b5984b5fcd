"""The help a user sees in QGIS: every ecoresp algorithm's Help button (helpUrl) opens its section
of the guide shipped in the plugin (docs/html), and its help text and parameter labels name no file
that the plugin zip does not contain (the scanner of tests/core/test_user_text.py)."""

import importlib.util
import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _user_text():
    path = os.path.join(REPO, "tests", "core", "test_user_text.py")
    spec = importlib.util.spec_from_file_location("ecoresp_test_user_text", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _ecoresp_algorithms(provider):
    from ecoresp.algorithms.base import EcorespAlgorithm

    return [a for a in provider.algorithms() if isinstance(a, EcorespAlgorithm)]


def test_every_algorithm_help_link_opens_its_guide_section(provider):
    user_text = _user_text()
    algs = _ecoresp_algorithms(provider)
    assert set(user_text.ALGORITHMS) <= {a.name() for a in algs}
    for alg in algs:
        url = alg.helpUrl()
        assert url.startswith("file://"), (alg.name(), url)
        path, anchor = user_text.resolve_help(url)  # the forwarding page's target
        # the guide is inside the plugin folder, so the zip carries it
        assert os.path.realpath(path).startswith(os.path.join(os.path.realpath(REPO), "docs", "html") + os.sep)
        assert anchor == f"alg-{alg.name()}", (url, anchor)
        with open(path, encoding="utf-8") as fh:
            assert f'id="{anchor}"' in fh.read(), f"{alg.name()}: no section #{anchor} in {path}"


def test_help_texts_name_only_files_the_zip_contains(provider):
    """shortHelpString, helpString and every parameter and output label of every algorithm."""
    user_text = _user_text()
    bad = []
    for alg in _ecoresp_algorithms(provider):
        texts = [("shortHelpString", alg.shortHelpString() or ""), ("helpString", alg.helpString() or "")]
        texts += [(f"parameter {p.name()}", p.description() or "") for p in alg.parameterDefinitions()]
        texts += [(f"parameter {p.name()} help", getattr(p, "help", lambda: "")() or "")
                  for p in alg.parameterDefinitions()]
        texts += [(f"output {o.name()}", o.description() or "") for o in alg.outputDefinitions()]
        for where, text in texts:
            bad += [f"{alg.name()} {where}: {ref}" for _, ref in user_text.checker().offenders(text)]
    assert not bad, f"{len(bad)} references to files users do not have:\n" + "\n".join(bad)


def test_algorithms_have_the_common_search_tags(provider):
    from ecoresp.algorithms.helpdocs import COMMON_TAGS

    for alg in _ecoresp_algorithms(provider):
        assert set(COMMON_TAGS) <= set(alg.tags()), alg.name()
