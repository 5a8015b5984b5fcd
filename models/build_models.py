"""Build the graphical models shipped in models/*.model3 (the provider loads them, so they appear
in the toolbox as ecoresp:<name> and run through qgis_process).

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 models/build_models.py

The models are written by code, not by hand, so that every child parameter is explicit and the
files can be rebuilt after a parameter changes; a test checks that the committed files equal
what this script builds and that each model validates and runs headless.

- ``site_partitioning``: tower file -> partition (NT, DT, DT-RH) -> evaluate DT-RH against NT ->
  site-month table of the tower, optionally appended to a network table (FLUXNET2015).
- ``upscaling``: site-month table -> fitupscaler -> VPD from tmn/tmp -> predictupscaler (monthly
  ER) -> integrate (annual totals per zone).
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
        self.y = 60

    def input(self, param):
        from qgis.core import QgsProcessingModelParameter
        comp = QgsProcessingModelParameter(param.name())
        comp.setPosition(_point(120, self.y))
        self.y += 70
        self.model.addModelParameter(param, comp)
        return param.name()

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

    def child(self, alg_id, child_id, sources, outputs=None, x=420):
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
        child.setPosition(_point(x, self.y))
        self.y += 90

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
        return child_id

    def save(self, path):
        _child_output_names(self.model)
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


# -- inputs shared by the models ------------------------------------------------------------
def _tower_inputs(b):
    from qgis.core import (QgsProcessingParameterFile, QgsProcessingParameterString,
                           QgsProcessingParameterVectorLayer)
    b.input(QgsProcessingParameterFile("tower_file", "Tower file (FLUXNET2015, AmeriFlux, REddyProc text)"))
    b.input(QgsProcessingParameterString("methods", "Partitioning methods", "NT,DT,DTRH"))
    b.input(QgsProcessingParameterString("er_field", "ER of the method used for upscaling", "RECO_DTRH"))
    b.input(QgsProcessingParameterVectorLayer("network_table", "Network site-month table to train with "
                                              "(e.g. FLUXNET2015, tests/data/sites)"))
    b.input(QgsProcessingParameterString("network_filter", "Network site-months to keep (expression)",
                                         'to_real("frac_measured") >= 0.2'))


def _grid_inputs(b):
    from ecoresp.algorithms.qgiscompat import NUMBER_INTEGER  # importable once _qgis() ran
    from qgis.core import (QgsProcessingParameterFile, QgsProcessingParameterNumber,
                           QgsProcessingParameterRasterLayer, QgsProcessingParameterString)
    b.input(QgsProcessingParameterFile("climate_file", "Monthly climate NetCDF (e.g. CRU TS)"))
    b.input(QgsProcessingParameterString("tmp_variable", "Mean temperature variable (degC)", "tmp"))
    b.input(QgsProcessingParameterString("tmn_variable", "Minimum temperature variable (degC)", "tmn"))
    b.input(QgsProcessingParameterString("pre_variable", "Precipitation variable (mm/month)", "pre"))
    b.input(QgsProcessingParameterRasterLayer("land_cover", "Land cover (MODIS IGBP codes, same grid)"))
    b.input(QgsProcessingParameterRasterLayer("land_fraction", "Land fraction in percent (same grid)"))
    b.input(QgsProcessingParameterRasterLayer("zones", "Zones: category codes (same grid)", optional=True))
    b.input(QgsProcessingParameterString("zone_names", "Zone names (code=name, comma separated)", "",
                                         optional=True))
    b.input(QgsProcessingParameterNumber("seed", "Random seed", NUMBER_INTEGER, 1))


def _nc(b, var_input):
    """Expression for NETCDF:"<climate_file>":<variable input>."""
    return f"""'NETCDF:"' || @climate_file || '":' || {b.value(var_input)}"""


def _upscaling_children(b, table_source):
    b.child("ecoresp:fitupscaler", "fit", {
        "INPUT": table_source, "TARGET": "ER_gC_m2_d", "FEATURES": ";".join(FEATURES), "GROUP": "site_id",
        "FILTER": '"quality_ok" = 1', "UNITS": "TA_F_degC=degC,VPD_F_hPa=hPa", "MODEL": 0, "FOLDS": 5,
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
    from qgis.core import QgsProcessingParameterRasterLayer, QgsProcessingParameterVectorLayer
    paths = []

    b = ModelBuilder("site_partitioning", "A tower file partitioned by NT, DT and DT-RH, DT-RH compared "
                     "with NT, and the tower's site-month table joined to a screened network table.")
    _tower_inputs(b)
    _site_children(b)
    paths.append(b.save(os.path.join(folder, "site_partitioning.model3")))

    b = ModelBuilder("upscaling", "Fit an ER model on a site-month table (site-grouped CV), predict monthly "
                     "ER from a climate NetCDF (temperature, VPD from minimum temperature) and land cover, and "
                     "sum it to annual totals per zone.")
    b.input(QgsProcessingParameterVectorLayer("site_months", "Site-month table (ER_gC_m2_d, TA_F_degC, "
                                              "VPD_F_hPa, IGBP, quality_ok)"))
    _grid_inputs(b)
    _upscaling_children(b, ("input", "site_months"))
    paths.append(b.save(os.path.join(folder, "upscaling.model3")))

    b = ModelBuilder("trends_attribution", "Trend of annual ER and attribution of its interannual "
                     "variability to temperature, precipitation and VPD (partial correlation and random "
                     "forest), with dominant-driver shares per zone.")
    b.input(QgsProcessingParameterRasterLayer("er_series", "Monthly ER series (GeoTIFF with dated bands)"))
    _grid_inputs(b)
    b.child("ecoresp:derivedriver", "vpd", {
        "KIND": 8, "FIRST_FILE": ("input", "climate_file"), "FIRST_VARIABLE": ("input", "tmn_variable"),
        "SECOND_FILE": ("input", "climate_file"), "SECOND_VARIABLE": ("input", "tmp_variable")})
    _attribution_children(b, ("input", "er_series"))
    paths.append(b.save(os.path.join(folder, "trends_attribution.model3")))

    b = ModelBuilder("whole_chain", "The whole programme in one run: a tower file partitioned (NT, DT, DT-RH), "
                     "its site-months with a network table, an ER model with site-grouped CV, monthly ER maps, "
                     "annual totals per zone, the ER trend and the attribution of its variability.")
    _tower_inputs(b)
    _grid_inputs(b)
    _site_children(b)
    _upscaling_children(b, ("child", "sitemonths", "OUTPUT"))
    _attribution_children(b, ("child", "predict", "OUTPUT"))
    paths.append(b.save(os.path.join(folder, "whole_chain.model3")))

    b = ModelBuilder("tower_to_fluxes", "A raw tower file (REddyProc text, AmeriFlux BASE, EddyPro) to "
                     "partitioned fluxes with their uncertainty in one run: u* thresholds with the bootstrap, "
                     "night-time u* filtering and MDS gap filling per u* scenario (5th, 50th, 95th percentile), "
                     "partitioning of each scenario, and the table of the u* thresholds.")
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
    from qgis.core import (QgsProcessingParameterEnum, QgsProcessingParameterFile, QgsProcessingParameterNumber,
                           QgsProcessingParameterString)
    b.input(QgsProcessingParameterFile("tower_file", "Raw tower file (REddyProc text, AmeriFlux BASE, EddyPro)"))
    b.input(QgsProcessingParameterString("methods", "Partitioning methods", "NT,DT,DTRH"))
    b.input(QgsProcessingParameterEnum("ustar_method", "u* threshold method",
                                       ["moving point test", "change-point detection"], defaultValue=0))
    b.input(QgsProcessingParameterNumber("bootstrap", "u* bootstrap samples", NUMBER_INTEGER, 100, False, 1, 10000))
    b.input(QgsProcessingParameterNumber("seed", "Random seed of the u* bootstrap", NUMBER_INTEGER, 1, False, 0))


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
