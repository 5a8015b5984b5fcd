"""The shipped model ecoresp:tower_to_fluxes (models/tower_to_fluxes.model3): a raw tower file to
partitioned fluxes per u* scenario plus the u* threshold table, run headless and through qgis_process.
Its equality with models/build_models.py and its validation are in test_models.py (MODELS)."""

import json
import os

import pandas as pd
import pytest
from conftest import FLUX

pytestmark = pytest.mark.qgis
DETHA98 = os.path.join(FLUX, "Example_DETha98.txt")
OUTPUTS = {"ustar:u_thresholds": "ustar.csv", "partition:partitioned_fluxes": "hh.csv",
           "partition:site_year_summary": "summary.csv", "partition:fitting_windows": "windows.csv",
           "partition:partitioning_report": "report.html"}


def _check(tmp_path, res):
    for k, v in OUTPUTS.items():
        assert os.path.exists(tmp_path / v), k
    ustar = pd.read_csv(tmp_path / "ustar.csv")
    hh = pd.read_csv(tmp_path / "hh.csv")
    summary = pd.read_csv(tmp_path / "summary.csv")
    annual = ustar[ustar["season"] == "annual"].iloc[0]
    # the partition step's own bootstrap (same method, samples and seed) gives the table's thresholds
    for s in ("05", "50", "95"):
        assert summary[f"USTAR_TH_{s}"].iloc[0] == pytest.approx(annual[f"USTAR_TH_{s}"])
        assert hh[f"NEE_{s}_F"].notna().all() and f"RECO_NT_{s}" in hh
    assert (hh["RECO_NT"] == hh["RECO_NT_50"]).all()


def test_tower_to_fluxes_model_runs(provider, tmp_path):
    import processing
    from qgis.core import QgsApplication, QgsProcessingContext, QgsProcessingFeedback
    alg = QgsApplication.processingRegistry().algorithmById("ecoresp:tower_to_fluxes")
    assert alg is not None
    assert sorted(p.name() for p in alg.destinationParameterDefinitions()) == sorted(OUTPUTS)
    params = {"tower_file": DETHA98, "methods": "NT", "ustar_method": 0, "bootstrap": 3, "seed": 2,
              **{k: str(tmp_path / v) for k, v in OUTPUTS.items()}}
    res = processing.run(alg, params, feedback=QgsProcessingFeedback(), context=QgsProcessingContext())
    _check(tmp_path, res)


@pytest.mark.slow  # a qgis_process start-up
def test_tower_to_fluxes_through_qgis_process(qgis_process, tmp_path):
    """On the command line, with the inputs left at their defaults except the samples (coalesce)."""
    args = [f"tower_file={DETHA98}", "methods=NT", "bootstrap=3"] + [f"{k}={tmp_path / v}" for k, v in OUTPUTS.items()]
    proc = qgis_process("--json", "run", "ecoresp:tower_to_fluxes", "--", *args)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = json.loads(proc.stdout[proc.stdout.index("{"):])["results"]
    _check(tmp_path, res)
