"""Every algorithm's and shipped model's desktop dialog builds on this QGIS (offscreen Qt), with
the parameter widgets of its enums, flags and outputs, and ecoresp:trend runs from its dialog as
when a user clicks Run (tests/crossversion/dialogs.py)."""

import os
import subprocess
import sys

import pytest
from conftest import REPO

pytestmark = pytest.mark.qgis


def test_every_dialog_builds(tmp_path, provider):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([sys.executable, os.path.join(REPO, "tests", "crossversion", "dialogs.py"), str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ids = sorted(a.id() for a in provider.algorithms())
    assert len(ids) == 20  # 15 algorithms (with ustarthreshold and gapfill) + 5 models
    assert f"dialogs: {len(ids)} built, 0 failed" in proc.stdout
    for alg_id in ids:
        png = tmp_path / (alg_id.replace(":", "_") + ".png")
        assert png.stat().st_size > 10_000, alg_id  # a drawn dialog, not an empty picture
    # the run from the dialog: 290 of the 330 Iberian land cells warm significantly (as in the demo)
    assert "trend dialog run: ok=True" in proc.stdout
    assert "'N_TESTED': 330" in proc.stdout and "'N_INCREASING': 290" in proc.stdout
    assert "layers=['tas: trend classes', 'tas: trend slope [degC per year]']" in proc.stdout
    # styled and grouped per run as the dialog loads them (algorithms/loading.py)
    assert "loaded in 'ecoresp trend tas': 'tas: trend slope [degC per year]' as singlebandpseudocolor" in proc.stdout
    assert "loaded in 'ecoresp trend tas': 'tas: trend classes' as paletted" in proc.stdout
    # Run with the output on the input: the dialog's message box names the parameter and the file
    refused = [ln for ln in proc.stdout.splitlines() if ln.startswith("trend dialog refused: ")]
    assert len(refused) == 1, proc.stdout[-3000:]
    assert "Unable to execute algorithm: " in refused[0] and "(OUTPUT)" in refused[0], refused
    assert "series_copy.nc" in refused[0] and refused[0].endswith("input unchanged: True"), refused
    from osgeo import gdal
    ds = gdal.Open(str(tmp_path / "tas_trend.tif"))
    assert ds.RasterCount == 11 and ds.GetRasterBand(1).GetDescription() == "slope"
