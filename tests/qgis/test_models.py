"""The shipped models (models/*.model3): rebuilt identically by models/build_models.py, loaded by the
provider, valid, and runnable headless with every declared output returned.  The whole chain runs
through qgis_process in `make demo` (tests/demo/run_demo.sh)."""

import os
import subprocess
import sys
from xml.etree.ElementTree import canonicalize

import pandas as pd
import pytest
from conftest import DATA, FLUX, REPO

pytestmark = pytest.mark.qgis
sys.path.insert(0, os.path.join(REPO, "models"))  # build_models.model_signature
MODELS = ["site_partitioning", "upscaling", "trends_attribution", "whole_chain", "tower_to_fluxes"]


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory):
    """The models as build_models.py writes them on this QGIS."""
    folder = tmp_path_factory.mktemp("models")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([sys.executable, os.path.join(REPO, "models", "build_models.py"), str(folder)],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return folder


def _load(path):
    from qgis.core import QgsProcessingModelAlgorithm
    m = QgsProcessingModelAlgorithm()
    assert m.fromFile(str(path)), path
    return m


@pytest.mark.parametrize("name", MODELS)
def test_committed_models_equal_the_builder(provider, rebuilt, name):
    """On every QGIS, the builder gives the committed model: the same parameters (names, types,
    defaults), steps and outputs, so the command-line names are those of the committed files
    (``partition:partitioned_fluxes``), also where QGIS >= 3.34 would name a new model's outputs
    otherwise. Where this QGIS writes the format of the committed files (3.22), byte for byte too
    (canonical XML: Qt writes attributes in a random order)."""
    from build_models import model_signature
    committed, built = os.path.join(REPO, "models", f"{name}.model3"), rebuilt / f"{name}.model3"
    a, b = _load(committed), _load(built)
    assert model_signature(a) == model_signature(b), f"models/{name}.model3 differs from the builder: rebuild it"
    outputs = [p.name() for p in a.destinationParameterDefinitions()]
    assert outputs and all(":" in o for o in outputs), outputs
    assert sorted(outputs) == sorted(p.name() for p in b.destinationParameterDefinitions())
    from qgis.core import QgsProcessingModelAlgorithm
    if "internal_version" not in QgsProcessingModelAlgorithm().toVariant():  # 3.22 writes none
        assert canonicalize(from_file=committed) == canonicalize(from_file=str(built)), \
            f"models/{name}.model3 differs from what build_models.py writes: rebuild it"


@pytest.mark.parametrize("name", MODELS)
def test_shipped_model_loads_and_validates(provider, name):
    from qgis.core import QgsApplication
    alg = QgsApplication.processingRegistry().algorithmById(f"ecoresp:{name}")
    assert alg is not None, f"ecoresp:{name} is not in the toolbox"
    ok, errors = alg.validate()
    assert ok, errors
    for child in alg.childAlgorithms().values():
        assert child.algorithm() is not None, f"{name}: step {child.childId()} ({child.algorithmId()}) unresolved"
    outputs = [p.name() for p in alg.destinationParameterDefinitions()]
    assert len(outputs) >= 5


def test_site_partitioning_model_runs_and_returns_every_output(provider, tmp_path):
    import processing
    from qgis.core import QgsApplication, QgsProcessingContext, QgsProcessingFeedback
    net = pd.read_csv(os.path.join(DATA, "sites", "fluxnet2015_site_month.csv"))
    sub = net[net["site_id"].isin(sorted(net["site_id"].unique())[:10])]
    sub.to_csv(tmp_path / "net.csv", index=False)
    alg = QgsApplication.processingRegistry().algorithmById("ecoresp:site_partitioning")
    params = {"tower_file": os.path.join(FLUX, "Example_DETha98.txt"), "methods": "NT,DT",
              "er_field": "RECO_DT", "network_table": str(tmp_path / "net.csv"),
              "network_filter": 'to_real("frac_measured") >= 0.2'}
    for p in alg.destinationParameterDefinitions():
        ext = {"outputHtml": "html"}.get(p.type(), "csv") if "report" not in p.name() else "html"
        params[p.name()] = str(tmp_path / f"{p.name().replace(':', '_')}.{ext}")
    res = processing.run(alg, params, feedback=QgsProcessingFeedback(), context=QgsProcessingContext())
    for p in alg.destinationParameterDefinitions():
        assert res.get(p.name()), f"{p.name()} not returned"
        assert os.path.exists(res[p.name()]), p.name()
    sm = pd.read_csv(res["sitemonths:site_month_table"])
    own = sm[sm["site_id"] == "DE-Tha"]
    assert len(own) == 12 and (own["er_source"] == "RECO_DT").all()
    assert set(sm["site_id"]) - {"DE-Tha"} == set(sub["site_id"][sub["frac_measured"] >= 0.2])


@pytest.mark.slow  # a chain of qgis_process start-ups on the Iberian cube
def test_upscaling_then_trends_attribution_through_qgis_process(qgis_process, tmp_path, iberia_nc):
    """The two regional models chained by hand through qgis_process, as a user would: the
    FLUXNET2015 site-months (screened) -> monthly ER over Iberia -> trend and attribution."""
    import json

    from osgeo import gdal
    net = pd.read_csv(os.path.join(DATA, "sites", "fluxnet2015_site_month.csv"))
    net = net[net["frac_measured"] >= 0.2].rename(columns={"RECO_NT_gC_m2_d": "ER_gC_m2_d"})
    net["quality_ok"] = 1
    net.to_csv(tmp_path / "sm.csv", index=False)
    iberia = os.path.join(DATA, "iberia")
    grid = [f"climate_file={iberia_nc}", "tmp_variable=tas", "tmn_variable=tasmin", "pre_variable=pr",
            f"land_cover={iberia}/iberia_igbp_2019.tif", f"land_fraction={iberia}/iberia_land_fraction_percent.tif",
            f"zones={iberia}/iberia_koppen_dominant.tif", "zone_names=2=B arid,3=C temperate,4=D cold", "seed=3"]

    def run(model, args, outputs):
        alg_outputs = [f"{k}={tmp_path / v}" for k, v in outputs.items()]
        proc = qgis_process("--json", "run", f"ecoresp:{model}", "--", *args, *alg_outputs)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        res = json.loads(proc.stdout[proc.stdout.index("{"):])["results"]
        for k, v in outputs.items():
            assert res[k] == str(tmp_path / v) and os.path.exists(tmp_path / v), k
        return res

    run("upscaling", [f"site_months={tmp_path / 'sm.csv'}"] + grid, {
        "fit:er_model_file": "m.npz",
        "predict:monthly_er": "er.tif",
        "predict:share_of_months_outside_the_training_range": "out.tif", "integrate:annual_er_totals": "tot.csv",
        "integrate:er_totals_summary": "sum.csv", "integrate:annual_er_sums": "annual.tif"})
    ds = gdal.Open(str(tmp_path / "er.tif"))
    assert ds.RasterCount == 360
    ds = None
    summary = pd.read_csv(tmp_path / "sum.csv").set_index("zone")
    # the regional total is the sum of the zones (every land cell of the crop has a Koppen class)
    assert summary.loc["all", "mean_PgC_yr"] == pytest.approx(
        summary.loc[["B arid", "C temperate", "D cold"], "mean_PgC_yr"].sum(), rel=1e-6)
    assert 0.3 < summary.loc["all", "mean_PgC_yr"] < 1.5  # ~1 kg C m-2 yr-1 over ~0.6 million km2
    run("trends_attribution", [f"er_series={tmp_path / 'er.tif'}"] + grid, {
        "trend:er_trend": "trend.tif",
        "trend:er_trend_classes": "classes.tif", "partialcorrelation:partial_correlations": "pc.tif",
        "partialcorrelation:dominant_driver_partial_correlation": "dom.tif",
        "rfattribution:rf_importances": "rf.tif", "rfattribution:dominant_driver_random_forest": "rfdom.tif",
        "attributionzones:dominant_driver_shares_per_zone": "zones.csv"})
    zones = pd.read_csv(tmp_path / "zones.csv")
    assert {"all", "B arid", "C temperate"} <= set(zones["zone_name"])
    ds = gdal.Open(str(tmp_path / "pc.tif"))
    names = [ds.GetRasterBand(i + 1).GetDescription() for i in range(ds.RasterCount)]
    assert {"r_TA", "p_TA", "r_PRE", "r_VPD"} <= set(names)


@pytest.mark.parametrize("name", MODELS)
def test_shipped_models_need_no_defaults_and_no_skipped_outputs(provider, name):
    """qgis_process (3.22 to 3.44) neither applies model-input defaults nor writes a model output
    that is not asked for; the shipped models depend on neither: an input with a default reaches
    the steps as coalesce(@input, default), and a model output that a later step reads is
    mandatory (asked for up front; QGIS 3.22 also asks for every output that its step requires)."""
    from ecoresp.algorithms.qgiscompat import (FLAG_OPTIONAL, SOURCE_OF_CHILD_OUTPUT, SOURCE_OF_EXPRESSION,
                                               SOURCE_OF_MODEL_PARAMETER)
    m = _load(os.path.join(REPO, "models", f"{name}.model3"))
    defaulted = {p.name(): p.defaultValue() for p in m.parameterDefinitions()
                 if not p.isDestination() and p.defaultValue() not in (None, "")}
    assert defaulted, name
    read, exprs = set(), []
    for child in m.childAlgorithms().values():
        for key, sources in child.parameterSources().items():
            for s in sources:
                if s.source() == SOURCE_OF_MODEL_PARAMETER:
                    assert s.parameterName() not in defaulted, f"{child.childId()}.{key} reads {s.parameterName()}"
                elif s.source() == SOURCE_OF_CHILD_OUTPUT:
                    read.add(f"{s.outputChildId()}:{s.outputName()}")
                elif s.source() == SOURCE_OF_EXPRESSION:
                    exprs.append(s.expression())
    for p in defaulted:  # (upscaling and trends_attribution share inputs that one of them does not use)
        uses = [e for e in exprs if f"@{p}" in e]
        assert all(f"coalesce(@{p}, " in e for e in uses), (p, uses)
    assert any("coalesce(@" in e for e in exprs)
    for child in m.childAlgorithms().values():
        for o in child.modelOutputs().values():
            param = m.parameterDefinition(f"{child.childId()}:{o.name()}")
            if f"{child.childId()}:{o.childOutputName()}" in read:
                assert not param.flags() & FLAG_OPTIONAL, param.name()
