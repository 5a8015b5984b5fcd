"""The bad-input and fault suite: each case runs one algorithm through ``qgis_process`` as a user
would, with one thing wrong, and asserts what a user must get (issue 15):

- exit status 1 (never 0, never a crash);
- a message naming the parameter by its label, and the file, column, band or layer and what is
  wrong (the case's ``expect`` substrings, compared without case);
- no Python traceback;
- no file left behind and no existing file changed: every file under the case's folders (its
  inputs and its output folder) has the same name and content afterwards (beside the inputs,
  the GDAL statistics sidecar .aux.xml QGIS writes when it loads a raster layer is allowed).

Cases are tables {algorithm: {id: Case}} in the ``test_bad_*.py`` modules (``table``,
``run_case``): ``Case(params, expect)`` with ``{name}`` placeholders filled from the module's
inputs (``{out}`` is the case's output folder).
With ECORESP_BADINPUT_SAMPLE=k, one case in k runs (a fixed choice: the CRC of the algorithm
and parameters), which CI uses in the Debian roots of the newer QGIS versions.
``fsize`` runs the process with a file-size limit, which makes every write past that size fail
as on a full disk (EFBIG; SIGXFSZ ignored), also for root.
"""

import hashlib
import os
import resource
import signal
import subprocess
import zlib

import pytest
from conftest import HAS_QGIS_PROCESS, QP

needs_qgis_process = pytest.mark.skipif(not HAS_QGIS_PROCESS, reason="needs qgis_process")


class Case:
    """One bad input: ``params`` (KEY: value with {placeholders}), ``expect`` (substrings of the
    message), ``fsize`` (a file-size limit in bytes: a full disk)."""

    def __init__(self, params, expect, fsize=None):
        self.params, self.expect, self.fsize = params, expect, fsize


def table(cases, known_defects=None):
    """``pytest.mark.parametrize`` arguments ("algorithm, case") of the cases {algorithm: {id:
    Case}}, with ids 'algorithm:id'; a case named in ``known_defects`` {'algorithm:id': what the
    product does wrong today} is a strict xfail with that reason: the suite passes now and fails
    when the defect is fixed, until the mark is removed."""
    known_defects = known_defects or {}
    # strict where the whole suite runs (the reference QGIS); a sample in another QGIS may pass a
    # case whose defect lies in the QGIS of the reference (its own parameter checks)
    strict = int(os.environ.get("ECORESP_BADINPUT_SAMPLE") or 1) == 1
    ids = [f"{alg}:{k}" for alg, per in cases.items() for k in per]
    values = [(alg, c) for alg, per in cases.items() for c in per.values()]
    return {"argnames": "algorithm, case", "ids": ids,
            "argvalues": [pytest.param(*v, marks=pytest.mark.xfail(strict=strict, reason=known_defects[i]))
                          if i in known_defects else v for i, v in zip(ids, values)]}


def snapshot(*folders):
    """{path: sha256} of every file under ``folders`` (hidden temporary files included)."""
    out = {}
    for folder in folders:
        for root, _, files in os.walk(folder):
            for name in files:
                path = os.path.join(root, name)
                with open(path, "rb") as fh:
                    out[path] = hashlib.sha256(fh.read()).hexdigest()
    return out


def _limit_file_size(limit):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def run_qgis_process(args, fsize=None, timeout=300, env=None):
    return subprocess.run([QP, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env,
                          preexec_fn=_limit_file_size(fsize) if fsize else None)


def run_case(algorithm, case, inputs, tmp_path):
    """Run the case and assert the suite's four promises; returns the process's text.
    ``inputs``: {placeholder: path} of the module's valid inputs (their folder is watched too);
    the case writes into ``tmp_path``/out ({out})."""
    sample = int(os.environ.get("ECORESP_BADINPUT_SAMPLE") or 1)
    key = zlib.crc32(f"{algorithm} {sorted(case.params.items())}".encode())
    if key % sample:
        pytest.skip(f"ECORESP_BADINPUT_SAMPLE={sample}: one case in {sample} runs")
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    values = {**inputs, "out": str(out)}
    params = {k: str(v).format(**values) for k, v in case.params.items()}
    folders = sorted({os.path.dirname(str(p)) for p in inputs.values() if os.path.exists(str(p))} | {str(out)})
    before = snapshot(*folders)
    proc = run_qgis_process(["run", f"ecoresp:{algorithm}", "--", *[f"{k}={v}" for k, v in params.items()]],
                            fsize=case.fsize)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 1, f"exit {proc.returncode}, expected 1:\n{text[-3000:]}"
    assert "Traceback" not in text, text[-3000:]
    for expected in case.expect:
        assert expected.format(**values).lower() in text.lower(), f"{expected!r} not in:\n{text[-3000:]}"
    after = snapshot(*folders)
    # QGIS itself writes GDAL's statistics sidecar beside a raster it loads as a layer
    left = sorted(p for p in set(after) - set(before) if not p.endswith(".aux.xml") or p.startswith(str(out)))
    assert left == [], f"files left behind: {left}; the run said:\n{text[-2000:]}"
    assert sorted(p for p in before if after.get(p) != before[p]) == [], "files changed or removed"
    return text
