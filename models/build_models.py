"""Build the graphical models shipped in models/*.model3 (the provider loads them, so they appear
in the toolbox as ecoresp:<name> and run through qgis_process).

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 models/build_models.py

The models are written by code, not by hand, so that every child parameter is explicit and the
files can be rebuilt after a parameter changes; a test checks that the committed files equal
what this script builds and that each model validates and runs headless. The inputs are listed in
pipeline order (the model's parameterOrder), default to the example data of the plugin's example/
folder (EXAMPLE below), and the components sit on a grid without overlaps (layout()).

- ``site_partitioning``: tower file -> partition (NT, DT, DT-RH) -> evaluate DT-RH against NT ->
  site-month table of the tower, optionally appended to a network table (FLUXNET2015).
- ``upscaling``: site-month table (by default the FLUXNET2015 table, screened and trained on
  RECO_NT) -> fitupscaler -> VPD from tasmin/tas -> predictupscaler (monthly ER) -> integrate
  (annual totals per zone).
- ``trends_attribution``: monthly ER series -> trend of annual sums -> partial correlation and
  random-forest attribution against the drivers -> dominant-driver shares per zone.
- ``whole_chain``: all of the above in one model, from a tower file to maps.
- ``tower_to_fluxes``: a raw tower file -> partition with RAW_CHAIN on (u* thresholds with the
  bootstrap, gap filling and partitioning per u* scenario 05/50/95 inside the one step) plus
  ustarthreshold's table of the thresholds as a second, independent step (same method, samples and
  seed, so the same thresholds). Deliberately not ustarthreshold -> gapfill -> partition: a model
  cannot pick a threshold per year and scenario out of a table and loop over scenarios, and steps
  that read no other step's output need no mandatory intermediate outputs on qgis_process 3.22-3.44.
"""

import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FEATURES = ["TA_F_degC", "VPD_F_hPa", "IGBP"]


def _qgis():
    from qgis.core import QgsApplication
    app = QgsApplication([], False)
    app.initQgis()
    import tempfile
    parent = tempfile.mkdtemp(prefix="ecoresp-plugin-")  # the checkout importable as the package 'ecoresp'
    os.symlink(os.path.dirname(HERE), os.path.join(parent, "ecoresp"))
    sys.path.insert(0, parent)
    import ecoresp
    from ecoresp.provider.provider import EcorespProvider
    from qgis.analysis import QgsNativeAlgorithms
    QgsApplication.processingRegistry().addProvider(QgsNativeAlgorithms())
    provider = EcorespProvider()
    QgsApplication.processingRegistry().addProvider(provider)
    return app, provider, ecoresp


class ModelBuilder:
    """A thin helper over QgsProcessingModelAlgorithm: inputs, children and outputs by name."""

    def __init__(self, name, description):
        from qgis.core import QgsProcessingModelAlgorithm
        self.model = QgsProcessingModelAlgorithm(name, "ecoresp chains")
        self.model.setHelpContent({"ALG_DESC": description, "ALG_CREATOR": "ecoresp",
                                   "ALG_VERSION": "1"})
        self.order = []  # model inputs in pipeline order (the dialog's order)
        self.steps = []  # child ids in pipeline order

    def input(self, param):
        from qgis.core import QgsProcessingModelParameter
        self.model.addModelParameter(param, QgsProcessingModelParameter(param.name()))
        self.order.append(param.name())
        return param.name()

    def inputs(self, *names):
        """The shared inputs ``names`` (INPUTS), in this order."""
        for name in names:
            self.input(INPUTS[name]())

    def value(self, name):
        """Expression for the value of model input ``name``. qgis_process (3.22 to 3.44) does not
        apply a model input's default when the input is not given, so an input with a default reaches
        the steps as ``coalesce(@name, default)``: the same value in the dialog, in a model run from
        Python and on the command line."""
        default = self.model.parameterDefinition(name).defaultValue()
        if default is None or default == "":
            return f"@{name}"
        literal = repr(default) if isinstance(default, (int, float)) else "'" + str(default).replace("'", "''") + "'"
        return f"coalesce(@{name}, {literal})"

    def child(self, alg_id, child_id, sources, outputs=None):
        """``sources``: {param: value}; a value is ('input', name), ('child', id, output),
        ('expr', expression), a list of those (multiple layers) or a static value.
        ``outputs``: {child output name: model output description}."""
        from qgis.core import (QgsApplication, QgsProcessing, QgsProcessingModelChildAlgorithm,
                               QgsProcessingModelChildParameterSource as Src, QgsProcessingModelOutput)
        alg = QgsApplication.processingRegistry().algorithmById(alg_id)
        if alg is None:
            raise RuntimeError(f"unknown algorithm {alg_id}")
        names = {p.name() for p in alg.parameterDefinitions()}
        child = QgsProcessingModelChildAlgorithm(alg_id)
        child.setChildId(child_id)
        child.setDescription(alg.displayName())

        def one(v):
            if isinstance(v, tuple) and v[0] == "input":
                value = self.value(v[1])
                return Src.fromModelParameter(v[1]) if value == f"@{v[1]}" else Src.fromExpression(value)
            if isinstance(v, tuple) and v[0] == "child":
                return Src.fromChildOutput(v[1], v[2])
            if isinstance(v, tuple) and v[0] == "expr":
                return Src.fromExpression(v[1])
            return Src.fromStaticValue(v)

        for key, value in sources.items():
            if key not in names:
                raise RuntimeError(f"{alg_id} has no parameter {key}")
            values = value if isinstance(value, list) else [value]
            child.addParameterSources(key, [one(v) for v in values])
        for p in alg.parameterDefinitions():  # every other parameter at its default, as the modeller does
            if p.name() not in sources and not p.isDestination() and p.defaultValue() is not None:
                child.addParameterSources(p.name(), [Src.fromStaticValue(p.defaultValue())])
        outs = {}
        for out_name, desc in (outputs or {}).items():
            key = re.sub(r"[^a-z0-9]+", "_", desc.lower()).strip("_")  # qgis_process: <child>:<key>=...
            o = QgsProcessingModelOutput(key, desc)
            o.setChildOutputName(out_name)
            o.setChildId(child_id)
            o.setMandatory(False)
            o.setDefaultValue(QgsProcessing.TEMPORARY_OUTPUT)  # outputs not asked for go to temporary files
            outs[key] = o
        child.setModelOutputs(outs)
        self.model.addChildAlgorithm(child)
        self.steps.append(child_id)
        return child_id

    def save(self, path):
        _child_output_names(self.model)
        if hasattr(self.model, "setParameterOrder"):  # the dialog's order (QGIS 3.22.16 here, 3.26+)
            self.model.setParameterOrder(self.order)
        from ecoresp.algorithms.qgiscompat import FLAG_OPTIONAL, SOURCE_OF_CHILD_OUTPUT
        consumed = {(s.outputChildId(), s.outputName()) for c in self.model.childAlgorithms().values()
                    for sources in c.parameterSources().values() for s in sources
                    if s.source() == SOURCE_OF_CHILD_OUTPUT}
        # A model output that a later step reads is mandatory, without a default: qgis_process
        # (3.40, 3.44) skips an output not asked for, and the later step would fail part-way; so it
        # must be given (the dialog offers a temporary file). Any other output is optional: not
        # asked for, not written.
        for child in self.model.childAlgorithms().values():
            outs = child.modelOutputs()
            for o in outs.values():
                if (child.childId(), o.childOutputName()) in consumed:
                    o.setMandatory(True)
                    o.setDefaultValue(None)
            child.setModelOutputs(outs)
            self.model.setChildAlgorithm(child)
        self.model.updateDestinationParameters()  # the model outputs become destination parameters
        mandatory = {c.childId() + ":" + o.name() for c in self.model.childAlgorithms().values()
                     for o in c.modelOutputs().values() if o.isMandatory()}
        for p in self.model.destinationParameterDefinitions():
            if p.name() not in mandatory:
                self.model.parameterDefinition(p.name()).setFlags(p.flags() | FLAG_OPTIONAL)
        layout(self.model, self.order, self.steps)
        ok, errors = self.model.validate()
        if not ok:
            raise RuntimeError(f"{self.model.name()}: " + "; ".join(errors))
        if not self.model.toFile(path):
            raise RuntimeError(f"cannot write {path}")
        return path


def _child_output_names(model):
    """Keep the model outputs' parameter names ``<child id>:<output>`` (``partition:partitioned_fluxes``)
    whatever QGIS builds the model. QGIS >= 3.34 names the outputs of a new model after their
    descriptions (``partitioned_fluxes``: the model's internal version 2) but reads and keeps the
    child-id form in models of internal version 1 (all files QGIS 3.22 writes). Users' command lines
    and scripts name these parameters, so the shipped models stay of version 1."""
    v = model.toVariant()
    if v.get("internal_version", "Version1") != "Version1":
        v["internal_version"] = "Version1"
        model.loadVariant(v)


def model_signature(model):
    """What a user and a command line see of a model, independent of the QGIS that wrote the file:
    its parameters (name, type, default, optional), its steps (child id, algorithm, parameter
    sources) and the model outputs of each step."""
    from ecoresp.algorithms.qgiscompat import FLAG_OPTIONAL
    params = sorted((p.name(), p.type(), str(p.defaultValue()), bool(p.flags() & FLAG_OPTIONAL))
                    for p in model.parameterDefinitions())
    steps = {}
    for cid, child in model.childAlgorithms().items():
        sources = {k: sorted(str(s.toVariant()) for s in v) for k, v in child.parameterSources().items()}
        outputs = sorted((k, o.childOutputName()) for k, o in child.modelOutputs().items())
        steps[cid] = (child.algorithmId(), sorted(sources.items()), outputs)
    return params, sorted(steps.items())


def _point(x, y):
    from qgis.PyQt.QtCore import QPointF
    return QPointF(x, y)


# the modeller's grid (centres of the 200 x 60 boxes): the inputs in one column, in pipeline order;
# each step in the column of its depth (1 + the deepest step it reads), its outputs to its right
INPUT_X, STEP_X, COLUMN_W, OUTPUT_DX, ROW_H, TOP = 120, 460, 560, 260, 80, 60


def layout(model, order, steps):
    """Place the inputs, steps and outputs of ``model`` on a grid, pipeline left to right, so that
    no two boxes overlap (tests/qgis/test_models.py checks it)."""
    from ecoresp.algorithms.qgiscompat import SOURCE_OF_CHILD_OUTPUT
    params = model.parameterComponents()
    for i, name in enumerate(order):
        comp = params[name]
        comp.setPosition(_point(INPUT_X, TOP + i * ROW_H))
        model.setParameterComponent(comp)
    children = model.childAlgorithms()
    reads = {cid: {s.outputChildId() for sources in c.parameterSources().values() for s in sources
                   if s.source() == SOURCE_OF_CHILD_OUTPUT} for cid, c in children.items()}
    depth = {}

    def depth_of(cid):
        if cid not in depth:
            depth[cid] = 1 + max((depth_of(r) for r in reads[cid]), default=-1)
        return depth[cid]

    column_y = {}
    for cid in steps:
        child, d = children[cid], depth_of(cid)
        y = column_y.get(d, TOP)
        x = STEP_X + d * COLUMN_W
        child.setPosition(_point(x, y))
        outs = child.modelOutputs()
        for j, key in enumerate(sorted(outs)):
            outs[key].setPosition(_point(x + OUTPUT_DX, y + j * ROW_H))
        child.setModelOutputs(outs)
        model.setChildAlgorithm(child)
        column_y[d] = y + max(1, len(outs)) * ROW_H + ROW_H // 2


# -- inputs shared by the models ------------------------------------------------------------
# Defaults are the example data shipped in the plugin's example/ folder (example/README.md): the
# files hold EXAMPLE, which the plugin replaces by that folder's path when it loads the models
# (provider/actions.py resolve_example_paths), in the inputs' defaults and in the steps' expressions.
EXAMPLE = "{ecoresp_example}"
TOWER = "Example_DETha98.txt"
NETWORK = "fluxnet2015_site_month.csv"
CLIMATE = "cru_ts400_iberia_1981-2010_monthly.nc"
LAND_COVER = "iberia_igbp_2019.tif"
LAND_FRACTION = "iberia_land_fraction_percent.tif"
ZONES = "iberia_koppen_dominant.tif"
ER_SERIES = "iberia_er_monthly_example.tif"
ZONE_NAMES = "1=A tropical,2=B arid,3=C temperate,4=D cold,5=E polar"


def _example(name):
    return f"{EXAMPLE}/{name}"


def _file(name, label, default, ext=""):
    from qgis.core import QgsProcessingParameterFile
    return QgsProcessingParameterFile(name, label, extension=ext, defaultValue=_example(default))


def _string(name, label, default, optional=False):
    from qgis.core import QgsProcessingParameterString
    return QgsProcessingParameterString(name, label, default, optional=optional)


def _raster(name, label, default, optional=False):
    from qgis.core import QgsProcessingParameterRasterLayer
    return QgsProcessingParameterRasterLayer(name, label, default and _example(default), optional)


def _vector(name, label, default):
    from qgis.core import QgsProcessingParameterVectorLayer
    return QgsProcessingParameterVectorLayer(name, label, defaultValue=_example(default))


def _seed(label="Random seed (forests)"):
    from ecoresp.algorithms.qgiscompat import NUMBER_INTEGER  # importable once _qgis() ran
    from qgis.core import QgsProcessingParameterNumber
    return QgsProcessingParameterNumber("seed", label, NUMBER_INTEGER, 1, False, 0)


# every input a model may take, by name; labels start with what the input is, then what it is for
INPUTS = {
    "tower_file": lambda: _file("tower_file", "Tower file: half-hourly FLUXNET2015, AmeriFlux or REddyProc text",
                                TOWER),
    "methods": lambda: _string("methods", "Partitioning methods (comma separated: NT, DT, DTRH, ...)",
                               "NT,DT,DTRH"),
    "er_field": lambda: _string("er_field", "ER of the method used for upscaling (a RECO_<method> column)",
                                "RECO_DTRH"),
    "network_table": lambda: _vector("network_table", "Network site-month table to train with (FLUXNET2015 "
                                     "table of 175 sites)", NETWORK),
    "network_filter": lambda: _string("network_filter", "Network site-months to keep (expression)",
                                      'to_real("frac_measured") >= 0.2'),
    "site_months": lambda: _vector("site_months", "Site-month table to train with (a site_partitioning "
                                   "table, or the FLUXNET2015 table)", NETWORK),
    "target_field": lambda: _string("target_field", "ER field of the table (g C m-2 d-1): RECO_NT_gC_m2_d in "
                                    "FLUXNET2015, ER_gC_m2_d in a site_partitioning table", "RECO_NT_gC_m2_d"),
    "site_filter": lambda: _string("site_filter", "Site-months to train with (expression; \"quality_ok\" = 1 "
                                   "for a site_partitioning table)", 'to_real("frac_measured") >= 0.2'),
    "er_series": lambda: _raster("er_series", "Monthly ER series (GeoTIFF with dated bands, e.g. Monthly ER "
                                 "of upscaling)", ER_SERIES),
    "climate_file": lambda: _file("climate_file", "Monthly climate NetCDF (e.g. CRU TS, same grid as the "
                                  "rasters below)", CLIMATE),
    "tmp_variable": lambda: _string("tmp_variable", "Mean temperature variable of the climate file (degC)", "tas"),
    "tmn_variable": lambda: _string("tmn_variable", "Minimum temperature variable of the climate file (degC)",
                                    "tasmin"),
    "pre_variable": lambda: _string("pre_variable", "Precipitation variable of the climate file (mm/month)", "pr"),
    "land_cover": lambda: _raster("land_cover", "Land cover (MODIS IGBP codes, grid of the climate file)",
                                  LAND_COVER),
    "land_fraction": lambda: _raster("land_fraction", "Land fraction in percent (grid of the climate file)",
                                     LAND_FRACTION),
    # optional without a default: left empty, no zone totals (a default would come back through
    # coalesce() when a user empties the field); the example folder has zones for the example grid
    "zones": lambda: _raster("zones", f"Zones: category codes, grid of the climate file (example: {ZONES})",
                             None, optional=True),
    "zone_names": lambda: _string("zone_names", f"Zone names, code=name comma separated (example: {ZONE_NAMES})",
                                  None, optional=True),
    "seed": _seed,
}


def _nc(b, var_input):
    """Expression for NETCDF:"<climate_file>":<variable input>."""
    return f"""'NETCDF:"' || {b.value("climate_file")} || '":' || {b.value(var_input)}"""


def _upscaling_children(b, table_source, target="ER_gC_m2_d", keep='"quality_ok" = 1'):
    b.child("ecoresp:fitupscaler", "fit", {
        "INPUT": table_source, "TARGET": target, "FEATURES": ";".join(FEATURES), "GROUP": "site_id",
        "FILTER": keep, "UNITS": "TA_F_degC=degC,VPD_F_hPa=hPa", "MODEL": 0, "FOLDS": 5,
        "SEED": ("input", "seed"), "TREES": 100},
        {"OUTPUT": "ER model file", "METRICS": "Cross-validation metrics", "IMPORTANCE": "Permutation importances"})
    b.child("ecoresp:derivedriver", "vpd", {
        "KIND": 8, "FIRST_FILE": ("input", "climate_file"), "FIRST_VARIABLE": ("input", "tmn_variable"),
        "SECOND_FILE": ("input", "climate_file"), "SECOND_VARIABLE": ("input", "tmp_variable")})
    b.child("ecoresp:predictupscaler", "predict", {
        "MODEL": ("child", "fit", "OUTPUT"),
        "DRIVERS": [("child", "vpd", "OUTPUT"), ("input", "land_cover")],
        "DRIVER_NAMES": "VPD_F_hPa,IGBP",
        "DRIVER_FILES": ("expr", "'TA_F_degC=' || " + _nc(b, "tmp_variable")),
        "LAND_MASK": ("input", "land_fraction")},
        {"OUTPUT": "Monthly ER", "OUTSIDE_SHARE": "Share of months outside the training range"})
    b.child("ecoresp:integrate", "integrate", {
        "INPUT": ("child", "predict", "OUTPUT"), "UNIT": 0, "LAND_FRACTION": ("input", "land_fraction"),
        "LAND_SCALE": 1, "ZONES": ("input", "zones"), "ZONE_TYPE": 0, "ZONE_NAMES": ("input", "zone_names"),
        "PRODUCT": "ecoresp ER"},
        {"OUTPUT": "Annual ER totals", "SUMMARY": "ER totals summary", "ANNUAL": "Annual ER sums"})


def _attribution_children(b, er_source):
    drivers = ("expr", "'TA=' || " + _nc(b, "tmp_variable") + " || ';PRE=' || " + _nc(b, "pre_variable"))
    b.child("ecoresp:trend", "trend", {"INPUT": er_source, "AGGREGATE": 2, "VARIANT": 0, "MIN_VALID": 10},
            {"OUTPUT": "ER trend", "CLASSES": "ER trend classes"})
    common = {"INPUT": er_source, "DRIVERS": [("child", "vpd", "OUTPUT")], "DRIVER_NAMES": "VPD",
              "DRIVER_FILES": drivers, "MODE": 0, "DETREND": 0}
    b.child("ecoresp:partialcorrelation", "partialcorrelation", dict(common),
            {"OUTPUT": "Partial correlations", "DOMINANT": "Dominant driver (partial correlation)",
             "DOMINANT_R": "Partial correlation of the dominant driver"})
    b.child("ecoresp:rfattribution", "rfattribution", dict(common, SEED=("input", "seed")),
            {"OUTPUT": "RF importances", "DOMINANT": "Dominant driver (random forest)"})
    b.child("ecoresp:attributionzones", "attributionzones", {
        "DOMINANT": ("child", "partialcorrelation", "DOMINANT"), "ZONES": ("input", "zones"), "ZONE_TYPE": 0,
        "ZONE_NAMES": ("input", "zone_names")},
        {"OUTPUT": "Dominant-driver shares per zone"})


def build_all(folder=HERE):
    paths = []

    b = ModelBuilder("site_partitioning", "A tower file partitioned by NT, DT and DT-RH, DT-RH compared "
                     "with NT, and the tower's site-month table joined to a screened network table. The "
                     "defaults are the example data shipped with the plugin (DE-Tha 1998, FLUXNET2015).")
    b.inputs("tower_file", "methods", "er_field", "network_table", "network_filter")
    _site_children(b)
    paths.append(b.save(os.path.join(folder, "site_partitioning.model3")))

    b = ModelBuilder("upscaling", "Fit an ER model on a site-month table (site-grouped CV), predict monthly "
                     "ER from a climate NetCDF (temperature, VPD from minimum temperature) and land cover, and "
                     "sum it to annual totals per zone. The defaults are the example data shipped with the "
                     "plugin (FLUXNET2015 site-months, CRU TS over Iberia 1981-2010, MODIS land cover).")
    b.inputs("site_months", "target_field", "site_filter", "climate_file", "tmp_variable", "tmn_variable",
             "land_cover", "land_fraction", "zones", "zone_names", "seed")
    _upscaling_children(b, ("input", "site_months"), ("input", "target_field"), ("input", "site_filter"))
    paths.append(b.save(os.path.join(folder, "upscaling.model3")))

    b = ModelBuilder("trends_attribution", "Trend of annual ER and attribution of its interannual "
                     "variability to temperature, precipitation and VPD (partial correlation and random "
                     "forest), with dominant-driver shares per zone. The defaults are the example data "
                     "shipped with the plugin (an ER series of upscaling, CRU TS over Iberia 1981-2010).")
    b.inputs("er_series", "climate_file", "tmp_variable", "tmn_variable", "pre_variable", "zones", "zone_names",
             "seed")
    b.child("ecoresp:derivedriver", "vpd", {
        "KIND": 8, "FIRST_FILE": ("input", "climate_file"), "FIRST_VARIABLE": ("input", "tmn_variable"),
        "SECOND_FILE": ("input", "climate_file"), "SECOND_VARIABLE": ("input", "tmp_variable")})
    _attribution_children(b, ("input", "er_series"))
    paths.append(b.save(os.path.join(folder, "trends_attribution.model3")))

    b = ModelBuilder("whole_chain", "The whole programme in one run: a tower file partitioned (NT, DT, DT-RH), "
                     "its site-months with a network table, an ER model with site-grouped CV, monthly ER maps, "
                     "annual totals per zone, the ER trend and the attribution of its variability. The defaults "
                     "are the example data shipped with the plugin (DE-Tha 1998, FLUXNET2015 site-months, CRU TS "
                     "over Iberia 1981-2010, MODIS land cover, Koppen zones).")
    b.inputs("tower_file", "methods", "er_field", "network_table", "network_filter", "climate_file",
             "tmp_variable", "tmn_variable", "pre_variable", "land_cover", "land_fraction", "zones", "zone_names",
             "seed")
    _site_children(b)
    _upscaling_children(b, ("child", "sitemonths", "OUTPUT"))
    _attribution_children(b, ("child", "predict", "OUTPUT"))
    paths.append(b.save(os.path.join(folder, "whole_chain.model3")))

    b = ModelBuilder("tower_to_fluxes", "A raw tower file (REddyProc text, AmeriFlux BASE, EddyPro) to "
                     "partitioned fluxes with their uncertainty in one run: u* thresholds with the bootstrap, "
                     "night-time u* filtering and MDS gap filling per u* scenario (5th, 50th, 95th percentile), "
                     "partitioning of each scenario, and the table of the u* thresholds. The default tower file "
                     "is the example shipped with the plugin (REddyProc's DE-Tha 1998).")
    _raw_tower_inputs(b)
    b.child("ecoresp:ustarthreshold", "ustar", {
        "INPUT": ("input", "tower_file"), "METHOD": ("input", "ustar_method"),
        "BOOTSTRAP": ("input", "bootstrap"), "SEED": ("input", "seed")},
        {"OUTPUT": "u* thresholds"})
    b.child("ecoresp:partition", "partition", {
        "INPUT": ("input", "tower_file"), "METHODS": ("input", "methods"),
        "RAW_CHAIN": ("expr", f"{b.value('ustar_method')} + 1"),
        "BOOTSTRAP": ("input", "bootstrap"), "SEED": ("input", "seed")},
        {"OUTPUT": "Partitioned fluxes", "SUMMARY": "Site-year summary", "WINDOWS": "Fitting windows",
         "REPORT": "Partitioning report"})
    paths.append(b.save(os.path.join(folder, "tower_to_fluxes.model3")))
    return paths


def _raw_tower_inputs(b):
    from ecoresp.algorithms.qgiscompat import NUMBER_INTEGER  # importable once _qgis() ran
    from qgis.core import QgsProcessingParameterEnum, QgsProcessingParameterNumber
    b.input(_file("tower_file", "Raw tower file (REddyProc text, AmeriFlux BASE, EddyPro)", TOWER))
    b.input(INPUTS["methods"]())
    b.input(QgsProcessingParameterEnum("ustar_method", "u* threshold method",
                                       ["moving point test", "change-point detection"], defaultValue=0))
    b.input(QgsProcessingParameterNumber("bootstrap", "u* bootstrap samples", NUMBER_INTEGER, 100, False, 1, 10000))
    b.input(_seed("Random seed of the u* bootstrap"))


def _site_children(b):
    b.child("ecoresp:partition", "partition", {
        "INPUT": ("input", "tower_file"), "METHODS": ("input", "methods")},
        {"OUTPUT": "Partitioned fluxes", "SUMMARY": "Site-year summary", "REPORT": "Partitioning report"})
    b.child("ecoresp:evaluate", "evaluate", {
        "INPUT": ("child", "partition", "OUTPUT"), "SIM_FIELD": ("input", "er_field"), "OBS_FIELD": "RECO_NT"},
        {"OUTPUT": "ER method comparison", "REPORT": "ER method comparison report"})
    b.child("native:extractbyexpression", "screen_network", {
        "INPUT": ("input", "network_table"), "EXPRESSION": ("input", "network_filter")})
    b.child("ecoresp:sitemonthtable", "sitemonths", {
        "INPUT_TABLE": ("child", "partition", "OUTPUT"), "ER_FIELD": ("input", "er_field"), "TOWER_MET": True,
        "APPEND": ("child", "screen_network", "OUTPUT")},
        {"OUTPUT": "Site-month table"})


if __name__ == "__main__":
    app, provider, _ = _qgis()
    for p in build_all(sys.argv[1] if len(sys.argv) > 1 else HERE):
        print(p)
