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
    FLUXNET2015 site-month table as it is (the upscaling model screens it and trains on RECO_NT by
    its defaults, given through coalesce() since qgis_process applies no model-input default) ->
    monthly ER over Iberia -> trend and attribution (the variables tas, tasmin, pr by default too)."""
    import json

    from osgeo import gdal
    iberia = os.path.join(DATA, "iberia")
    grid = [f"climate_file={iberia_nc}", f"zones={iberia}/iberia_koppen_dominant.tif",
            "zone_names=2=B arid,3=C temperate,4=D cold", "seed=3"]
    land = [f"land_cover={iberia}/iberia_igbp_2019.tif", f"land_fraction={iberia}/iberia_land_fraction_percent.tif"]

    def run(model, args, outputs):
        alg_outputs = [f"{k}={tmp_path / v}" for k, v in outputs.items()]
        proc = qgis_process("--json", "run", f"ecoresp:{model}", "--", *args, *alg_outputs)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        res = json.loads(proc.stdout[proc.stdout.index("{"):])["results"]
        for k, v in outputs.items():
            assert res[k] == str(tmp_path / v) and os.path.exists(tmp_path / v), k
        return res

    run("upscaling", [f"site_months={os.path.join(DATA, 'sites', 'fluxnet2015_site_month.csv')}"] + grid + land, {
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


# -- the shipped models in a user's hands (issue 14): pipeline order, example defaults, layout, copy --
EXAMPLE_DIR = os.path.join(REPO, "example")
ORDER = {  # the dialog's order: the pipeline's
    "site_partitioning": ["tower_file", "methods", "er_field", "network_table", "network_filter"],
    "upscaling": ["site_months", "target_field", "site_filter", "climate_file", "tmp_variable", "tmn_variable",
                  "land_cover", "land_fraction", "zones", "zone_names", "seed"],
    "trends_attribution": ["er_series", "climate_file", "tmp_variable", "tmn_variable", "pre_variable", "zones",
                           "zone_names", "seed"],
    "whole_chain": ["tower_file", "methods", "er_field", "network_table", "network_filter", "climate_file",
                    "tmp_variable", "tmn_variable", "pre_variable", "land_cover", "land_fraction", "zones",
                    "zone_names", "seed"],
    "tower_to_fluxes": ["tower_file", "methods", "ustar_method", "bootstrap", "seed"],
}


def _inputs(m):
    return [p.name() for p in m.parameterDefinitions() if not p.isDestination()]


@pytest.mark.parametrize("name", MODELS)
def test_model_inputs_in_pipeline_order_and_every_input_used(provider, name):
    """The inputs in pipeline order (the tower file first), where the QGIS reads the model's
    parameterOrder (3.22.16 here, 3.26+); and no input that no step reads (upscaling had an unused
    precipitation variable, trends_attribution unused land cover and land fraction)."""
    from ecoresp.algorithms.qgiscompat import SOURCE_OF_EXPRESSION, SOURCE_OF_MODEL_PARAMETER
    m = _load(os.path.join(REPO, "models", f"{name}.model3"))
    assert sorted(_inputs(m)) == sorted(ORDER[name])
    if hasattr(m, "setParameterOrder"):
        assert _inputs(m) == ORDER[name]
    used = set()
    for child in m.childAlgorithms().values():
        for sources in child.parameterSources().values():
            for s in sources:
                if s.source() == SOURCE_OF_MODEL_PARAMETER:
                    used.add(s.parameterName())
                elif s.source() == SOURCE_OF_EXPRESSION:
                    used |= {p for p in ORDER[name] if f"@{p}" in s.expression()}
    assert used == set(ORDER[name]), set(ORDER[name]) - used


@pytest.mark.parametrize("name", MODELS)
def test_model_defaults_are_the_shipped_example_data(provider, name):
    """Every path among the defaults and the steps' expressions names the plugin's example folder
    (shipped in the zip: Makefile PLUGIN_FILES), resolved by the plugin to where it is installed, and
    the file exists there; the variables are those of the bundled CRU TS file."""
    from ecoresp.provider.actions import EXAMPLE, resolve_example_paths
    assert "example" in open(os.path.join(REPO, "Makefile")).read().split("PLUGIN_FILES :=")[1].split("\n")[0]
    raw = open(os.path.join(REPO, "models", f"{name}.model3")).read()
    assert "tests/data" not in raw and "/work/" not in raw
    m = _load(os.path.join(REPO, "models", f"{name}.model3"))
    paths = [p.defaultValue() for p in m.parameterDefinitions() if EXAMPLE in str(p.defaultValue())]
    assert paths, name
    n = resolve_example_paths(m, EXAMPLE_DIR)
    assert n >= 2 * len(paths)  # each default also in the coalesce() of the steps that read it
    assert EXAMPLE not in str(m.toVariant())
    for p in m.parameterDefinitions():
        d = p.defaultValue()
        if isinstance(d, str) and "/" in d:
            assert d.startswith(EXAMPLE_DIR + "/") and os.path.isfile(d), (p.name(), d)
    variables = {p.name(): p.defaultValue() for p in m.parameterDefinitions() if p.name().endswith("_variable")}
    assert variables == {k: v for k, v in {"tmp_variable": "tas", "tmn_variable": "tasmin",
                                           "pre_variable": "pr"}.items() if k in ORDER[name]}


def test_example_folder_is_documented():
    """Every file of example/ is named in its README (provenance and attribution)."""
    readme = open(os.path.join(EXAMPLE_DIR, "README.md")).read()
    files = sorted(f for f in os.listdir(EXAMPLE_DIR) if f != "README.md" and not f.endswith(".aux.xml"))
    assert len(files) >= 7
    for f in files:
        assert f"`{f}`" in readme, f
    assert "CC-BY-4.0" in readme and "Open Government Licence" in readme


def _boxes(m):
    """(what, x0, y0, x1, y1) of every box the modeller draws: inputs, steps and model outputs."""
    out = []

    def box(what, comp):
        pos, size = comp.position(), comp.size()
        out.append((what, pos.x() - size.width() / 2, pos.y() - size.height() / 2,
                    pos.x() + size.width() / 2, pos.y() + size.height() / 2))

    for name, comp in m.parameterComponents().items():
        box(f"input {name}", comp)
    for cid, child in m.childAlgorithms().items():
        box(f"step {cid}", child)
        for key, o in child.modelOutputs().items():
            box(f"output {cid}:{key}", o)
    return out


@pytest.mark.parametrize("name", MODELS)
def test_model_layout_has_no_overlapping_boxes(provider, name):
    """A grid: the inputs in one column in pipeline order, each step right of the steps it reads,
    its outputs to its right; no two boxes overlap (they were one column of overlapping boxes)."""
    from ecoresp.algorithms.qgiscompat import SOURCE_OF_CHILD_OUTPUT
    m = _load(os.path.join(REPO, "models", f"{name}.model3"))
    boxes = _boxes(m)
    assert len(boxes) == len(_inputs(m)) + len(m.childAlgorithms()) + len(m.destinationParameterDefinitions())
    for i, a in enumerate(boxes):
        assert a[3] - a[1] >= 100 and a[4] - a[2] >= 30, a  # a real box
        for b in boxes[i + 1:]:
            assert a[3] <= b[1] or b[3] <= a[1] or a[4] <= b[2] or b[4] <= a[2], (a, b)
    ys = [m.parameterComponent(p).position().y() for p in ORDER[name]]
    assert ys == sorted(ys)
    inputs_right = max(b[3] for b in boxes if b[0].startswith("input"))
    for child in m.childAlgorithms().values():
        assert child.position().x() - child.size().width() / 2 > inputs_right
        for sources in child.parameterSources().values():
            for s in sources:
                if s.source() == SOURCE_OF_CHILD_OUTPUT:
                    assert m.childAlgorithm(s.outputChildId()).position().x() < child.position().x()


def test_whole_chain_dialog_order_defaults_and_no_current_layer(provider, no_iface, tmp_path):
    """The dialog as a user opens it, with a vector and a raster layer in the project: the inputs in
    pipeline order, the example files as defaults (not the project's layers), the optional zones
    left empty."""
    from processing.gui.AlgorithmDialog import AlgorithmDialog
    from qgis.core import QgsApplication, QgsProject, QgsRasterLayer, QgsVectorLayer

    vec = QgsVectorLayer("Point?crs=EPSG:4326&field=site_id:string", "my points", "memory")
    ras = QgsRasterLayer(os.path.join(DATA, "iberia", "iberia_koppen_dominant.tif"), "my raster")
    QgsProject.instance().addMapLayers([vec, ras])
    try:
        dlg = AlgorithmDialog(QgsApplication.processingRegistry().createAlgorithmById("ecoresp:whole_chain"),
                              False, None)
        panel = dlg.mainWidget()
        shown = [k for k in panel.wrappers if k in ORDER["whole_chain"]]
        if hasattr(dlg.algorithm(), "setParameterOrder"):
            assert shown == ORDER["whole_chain"]
        params = panel.createProcessingParameters()
        dlg.close()
    finally:
        QgsProject.instance().removeMapLayers([vec.id(), ras.id()])
    from ecoresp.provider.actions import EXAMPLE_DIR as installed  # the plugin as installed for the tests
    ex = installed + "/"
    assert params["tower_file"] == ex + "Example_DETha98.txt"
    assert params["network_table"] == ex + "fluxnet2015_site_month.csv"
    assert params["land_cover"] == ex + "iberia_igbp_2019.tif"
    assert params["land_fraction"] == ex + "iberia_land_fraction_percent.tif"
    assert params["climate_file"] == ex + "cru_ts400_iberia_1981-2010_monthly.nc"
    assert params.get("zones") in (None, "")
    assert (params["tmp_variable"], params["tmn_variable"], params["pre_variable"]) == ("tas", "tasmin", "pr")
    for key in ("tower_file", "network_table", "land_cover", "land_fraction", "climate_file"):
        assert os.path.isfile(params[key]), (key, params[key])  # shipped with the plugin


def test_open_a_copy_in_the_model_designer(provider, no_iface, tmp_path):
    """The toolbox action on an ecoresp model: a copy (example paths resolved) in the user's models
    folder under a new name, never over an existing file, the model provider refreshed, and the Model
    Designer opened on the copy."""
    from processing.modeler.ModelerDialog import ModelerDialog
    from qgis.core import QgsApplication

    from ecoresp.provider.actions import OpenModelCopyAction, register_actions, unregister_actions
    from processing.gui.ProviderActions import ProviderContextMenuActions
    alg = QgsApplication.processingRegistry().algorithmById("ecoresp:whole_chain")
    actions = register_actions()
    try:
        (action,) = [a for a in ProviderContextMenuActions.actions if isinstance(a, OpenModelCopyAction)]
        assert action is actions[0] and "Model Designer" in action.name
        action.setData(QgsApplication.processingRegistry().algorithmById("ecoresp:trend"), None)
        assert not action.isEnabled()  # only on the shipped models
        action.setData(alg, None)
        assert action.isEnabled()
        from processing.modeler.ModelerUtils import ModelerUtils
        folder = ModelerUtils.modelsFolders()[0]
        os.makedirs(folder, exist_ok=True)
        taken = os.path.join(folder, "whole_chain_copy.model3")
        with open(taken, "w") as fh:
            fh.write("a user's own file")
        try:
            action.execute()
            path, dlg = action.last
            assert os.path.dirname(path) == folder and os.path.basename(path) == "whole_chain_copy_2.model3"
            assert open(taken).read() == "a user's own file"
            assert isinstance(dlg, ModelerDialog)
            edited = dlg.model()
            assert edited.name() == "whole_chain_copy_2" and edited.sourceFilePath() == path
            assert sorted(edited.childAlgorithms()) == sorted(alg.childAlgorithms())
            assert "{ecoresp_example}" not in open(path).read()
            assert QgsApplication.processingRegistry().algorithmById("model:whole_chain_copy_2") is not None
            dlg.close()
        finally:
            for f in (taken, os.path.join(folder, "whole_chain_copy_2.model3")):
                if os.path.exists(f):
                    os.remove(f)
    finally:
        unregister_actions(actions)
    assert not [a for a in ProviderContextMenuActions.actions if isinstance(a, OpenModelCopyAction)]


def test_plugin_adds_and_removes_the_action(provider):
    """initGui registers the toolbox action (once), unload removes it."""
    from processing.gui.ProviderActions import ProviderContextMenuActions

    from ecoresp.provider.actions import OpenModelCopyAction
    from ecoresp.provider.plugin import EcorespPlugin

    def ours():
        return [a for a in ProviderContextMenuActions.actions if isinstance(a, OpenModelCopyAction)]
    plugin = EcorespPlugin(None)
    plugin.provider = provider  # the session's provider, already registered
    plugin.initGui()
    plugin.initGui()
    assert len(ours()) == 1
    plugin.provider = None  # unload() removes the actions but keeps the session's provider
    plugin.unload()
    assert ours() == []
