"""Partition flags in plain language (issue 14): every flag code the core can emit has a sentence,
and the sentences say how many of how many windows, why, and what to do."""

import ast
import os
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import ecoresp_core.partitioning as partitioning
from ecoresp_core.errors import InputError
from ecoresp_core.partitioning import messages
from ecoresp_core.partitioning.methods.base import FitWindows, MethodResult
from ecoresp_core.partitioning.sitepartition import partition_site
from ecoresp_core.partitioning.synthetic import make_site_year

PKG = os.path.dirname(partitioning.__file__)


def _template(node):
    """The text of a str constant or f-string, '{}' for each interpolated value; None otherwise."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


def _is_flags(node):
    """A name or attribute called flags (or the per-window list ``f`` of daytime.windows_frame)."""
    return (isinstance(node, ast.Name) and node.id in ("flags", "f")) or \
        (isinstance(node, ast.Attribute) and node.attr == "flags")


def emitted_flags():
    """{(file, template)} of every flag the partitioning core appends to or puts in a flags list
    (or writes into a flags_<M> summary column)."""
    found = set()
    for root, _, files in os.walk(PKG):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(root, name)
            tree = ast.parse(open(path, encoding="utf-8").read())
            rel = os.path.relpath(path, PKG)
            for node in ast.walk(tree):
                items = []
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                        and node.func.attr == "append" and _is_flags(node.func.value) and node.args:
                    items = [node.args[0]]
                elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) and _is_flags(node.left) \
                        and isinstance(node.right, ast.List):
                    items = node.right.elts
                elif isinstance(node, (ast.Assign, ast.AugAssign)) and isinstance(node.value, ast.List):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    if any(_is_flags(t) for t in targets):
                        items = node.value.elts
                elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Subscript):
                    key = _template(node.targets[0].slice) or ""
                    if key.startswith("flags_"):
                        items = [node.value]
                for item in items:
                    text = _template(item)
                    if text is not None:
                        found.add((rel, text))
    return found


def _code_has_sentence(template):
    """True when a flag made from ``template`` gets a sentence: the code part (before ':') with
    '{}' either matching a code of messages.FLAGS (e.g. stage_a_{}) or, with a number in its
    place, a pattern (nt_e0_fewer_than_{}_windows, code{})."""
    head = template.split(":", 1)[0]
    if "{}" in head:
        rx = re.compile(re.escape(head).replace(r"\{\}", ".+"))
        if any(rx.fullmatch(code) for code in messages.FLAGS):
            return True
        head = head.replace("{}", "7")
    return messages.split_flag(head + template[len(template.split(":", 1)[0]):].replace("{}", "7"))[0] \
        is not None


def test_every_flag_code_the_core_emits_has_a_sentence():
    found = emitted_flags()
    codes = {t for _, t in found if re.fullmatch(r"[A-Za-z{}][A-Za-z0-9_{}]*", t.split(":", 1)[0])}
    # the scan finds the flags it must (so that this test cannot pass on an empty scan)
    heads = {c.split(":", 1)[0] for c in codes}
    assert {"lrc_windows_rejected", "lrc_windows_refitted", "sdNEE_from_lookup", "records_far_from_rref_window",
            "records_far_from_training_data", "stage_b_valid_windows", "joint_model_failed", "rh_from_vpd_ta",
            "stage_a_{}", "nt_e0_fewer_than_{}_windows", "code{}", "failed", "small_disequilibrium",
            "blocks_without_enough_day_or_night_records", "neglect_vpd", "too_few_records"} <= heads
    assert len(codes) >= 30
    missing = sorted(t for t in codes if not _code_has_sentence(t))
    assert not missing, f"flag codes without a sentence in messages.FLAGS: {missing}"
    # the flags that are sentences already are passed on as they are
    sentences = {t for _, t in found} - codes
    assert any(t.startswith("E0 regression failed") for t in sentences)
    assert all(messages.has_sentence(t) for t in sentences)


def test_no_sentence_names_a_code_or_a_file():
    for key, (level, text) in messages.FLAGS.items():
        assert level in (messages.INFO, messages.WARNING)
        assert not re.search(r"\b[a-z]+_[a-z_]+\b", re.sub(r"\{\w+\}", "", text)), (key, text)
        assert ".py" not in text and ".md" not in text


def _lrc_windows(codes):
    start = pd.date_range("2011-01-01", periods=len(codes), freq="4D").values
    return [FitWindows("light-response window", start, start, {"CODE": np.asarray(codes, dtype=float)})]


def test_rejected_windows_say_how_many_of_how_many_why_and_what_to_do():
    windows = _lrc_windows([0] * 81 + [1011] * 7 + [1002] * 4)
    level, text = messages.describe("lrc_windows_rejected:11", "DT", windows)
    assert level == messages.WARNING
    assert text.startswith("11 of 92 light-response windows rejected (7: too few measured daytime records; "
                           "4: the fit did not converge or gave parameters out of range); their days use the "
                           "parameters of the neighbouring accepted windows")
    assert "'Fitting windows' layer (column CODE) and the QC_DT column" in text
    # without the windows: no total, still a sentence
    assert messages.describe("lrc_windows_rejected:11")[1].startswith("11 light-response windows rejected")
    level, text = messages.describe("stage_b_valid_windows:3<5:fallback_plain_DT", "DTRH")
    assert "only 3 15-day windows" in text and "(5 needed)" in text and "plain DT" in text
    assert messages.describe("nt_e0_fewer_than_3_windows:2")[1].startswith("only 2 night-time E0 windows "
                                                                          "could be fitted (3 wanted)")
    assert messages.describe("sdNEE_from_lookup")[0] == messages.INFO
    assert messages.describe("code1011")[1] == "rejected: too few measured daytime records"
    # a sentence, and a code without a sentence, come back unchanged
    assert messages.describe("E0 regression failed with min_temp_range 5 K") == \
        (messages.WARNING, "E0 regression failed with min_temp_range 5 K")
    assert messages.describe("no_such_code:3") == (messages.WARNING, "no_such_code:3")
    assert not messages.has_sentence("no_such_code:3")


def test_partition_messages_of_a_run():
    ok = MethodResult(reco=pd.Series([1.0]), gpp=pd.Series([1.0]),
                      flags=["lrc_windows_rejected:2", "records_far_from_window:96"],
                      windows=_lrc_windows([0, 0, 1011, 1003]))
    results = {(2011, "DT"): ok, (2011, "NT"): InputError("too little night data"), (2012, "NT"): ok,
               (2011, "RF"): ok}
    sp = SimpleNamespace(methods=("NT", "DT"), results=results,
                         summary=pd.DataFrame({"year": [2011], "flags_EVIDENCE": ["failed: singular matrix"]}))
    out = messages.partition_messages(sp)
    texts = [t for _, t in out]
    assert texts[0] == ("NT 2011: NT could not be fitted for this year: too little night data. Its RECO and GPP "
                        "are empty for the year (QC 9); the other methods are not affected")
    assert texts[1].startswith("DT 2011: 2 of 4 light-response windows rejected (1: too few measured daytime "
                               "records; 1: the light saturation could not be determined")
    assert texts[2].startswith("DT 2011: 96 records lie more than 14 days from the nearest accepted")
    assert texts[3].startswith("NT 2012: ")                       # years in order, RF not requested
    assert not any(t.startswith("RF") for t in texts)
    assert texts[-1] == ("model evidence 2011: the comparison of DT, DT-asym, DT-RHonly and DT-RH failed "
                         "(singular matrix); the partitioned fluxes are not affected")
    assert all(level == messages.WARNING for level, _ in out)


@pytest.mark.parametrize("methods", ["NT,DT,DTRH"])
def test_real_run_every_flag_has_a_sentence(methods):
    """A synthetic site-year through the methods: every flag they raise reads as a sentence."""
    df, _ = make_site_year(seed=4, outages=3)
    sp = partition_site(df, methods)
    flags = [f for (_, c), r in sp.results.items() if not isinstance(r, Exception) for f in r.flags]
    assert any(f == "sdNEE_from_lookup" for f in flags)
    assert all(messages.has_sentence(f) for f in flags), flags
    out = messages.partition_messages(sp)
    assert len(out) >= len([f for (_, c), r in sp.results.items() if c in sp.methods for f in r.flags])
    assert all(re.match(r"(NT|DT|DTRH) 2015: \S", t) for _, t in out)
    assert not any(re.search(r"\b[a-z]+(_[a-zA-Z]+)+:\d", t) for _, t in out)   # no raw code:count
