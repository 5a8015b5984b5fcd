"""ecoresp:predictupscaler — monthly ER rasters (or a table column) from a fitted model."""


import os

from qgis.core import (QgsProcessingException, QgsProcessingOutputNumber, QgsProcessingOutputString,
                       QgsProcessingParameterFeatureSink, QgsProcessingParameterFeatureSource,
                       QgsProcessingParameterFile, QgsProcessingParameterMultipleLayers,
                       QgsProcessingParameterRasterDestination, QgsProcessingParameterRasterLayer,
                       QgsProcessingParameterString)

from ..ecoresp_core.errors import InputError
from ..ecoresp_core.io.series import split_source
from ..ecoresp_core.upscaling.model import load_model, validate_model_file
from ..ecoresp_core.jobs.inputs import open_driver
from ..ecoresp_core.jobs.predict import predict_rasters
from ..ecoresp_core.upscaling.predict import LeftOut, predict_table, read_category_mapping
from .base import Choices, DriverSources, EcorespAlgorithm, TimeSeriesInput
from .qgiscompat import FLAG_ADVANCED, SOURCE_RASTER, SOURCE_VECTOR, add_flags
from .tables import source_to_dataframe, write_table


# the keys are those of the core (upscaling.predict UNKNOWN_MODES, RANGE_MODES), in their order
UNKNOWN_CHOICES = Choices({"leave_out": "leave them out (nodata) and report them",
                           "map": "map them with the category mapping table",
                           "refuse": "refuse the run"})
RANGE_CHOICES = Choices({"flag": "predict them and flag them (share of months outside)",
                         "leave_out": "leave them out (nodata) and report them",
                         "refuse": "refuse the run"})


def expected_drivers(meta):
    """[(name, unit, categories or None), ...]: the drivers a model expects, in model order, from its
    metadata (the JSON record of the model file)."""
    units = meta.get("units") or {}
    cats = meta.get("categorical") or {}
    return [(f, str(units.get(f) or ""), list(cats[f]) if f in cats else None) for f in meta["features"]]


def driver_text(name, unit, categories):
    """'TA_F_degC [degC]', 'IGBP [categories: CRO, DBF, ...]', 'X [unit not recorded]'."""
    if categories is not None:
        shown = ", ".join(map(str, categories[:8])) + (", ..." if len(categories) > 8 else "")
        return f"{name} [categories: {shown}]"
    return f"{name} [{unit or 'unit not recorded'}]"


def describe_drivers(meta):
    """What a model expects, for the dialog and the log: its drivers (names and units, in model order)
    and its target."""
    drivers = expected_drivers(meta)
    target = meta.get("target") or "ER"
    unit = meta.get("target_unit")
    return (f"The model expects {len(drivers)} driver(s), in this order: "
            + "; ".join(driver_text(*d) for d in drivers)
            + f". It predicts {target}" + (f" [{unit}]" if unit else "") + ".")


class PredictUpscalerAlgorithm(EcorespAlgorithm):
    NAME = "predictupscaler"
    DISPLAY = "Predict ER with an upscaling model (rasters or table)"
    GROUP = "2 Upscaling"
    GROUP_ID = "upscaling"
    TAGS = ("upscaling", "prediction", "random forest", "machine learning", "monthly ER", "global map", "drivers")
    HELP = (
        "<p>Applies a model written by <i>Fit upscaling model</i>. The dialog shows the drivers the chosen "
        "model expects (names and units, in model order) below the model file, and the run checks the "
        "given drivers against them. The model file is checked before the run (format, checksum, array "
        "shapes); it is never executed.</p>"
        "<p><b>Rasters</b> (<i>Driver rasters</i> and/or <i>Driver files</i>): one per model driver, all on "
        "one grid and CRS; time series (GeoTIFF with one band per month and the date in each band "
        "description, or NetCDF with a time axis) must have the same dates; a single-band raster is a "
        "static driver (e.g. land cover as MODIS IGBP codes 1-16). A driver's name is its layer name (the "
        "file name without extension when loaded from a file), or give <i>Driver names in layer order</i> "
        "(comma separated). " + DriverSources.HELP_FILES + " <i>Monthly ER</i>: a GeoTIFF with one dated "
        "band per month; pixel-months with a missing driver, an unknown land-cover code or outside the "
        "land mask (zero or nodata) are nodata. <i>Share of months outside the training range</i>: per "
        "pixel, the share of the predicted months with a driver outside the training range.</p>"
        "<p><b>What is left out is counted and reported</b> (the log, the output's metadata item "
        "ECORESP_LEFT_OUT and the outputs <i>Pixel-months or rows left out</i> and <i>Left-out "
        "counts</i>): per driver the pixel-months (rows) without a value, per category those with a land-cover "
        "class the model never saw (e.g. BSV, CVM, URB or water code 0 when no training site had them), "
        "and those with a driver outside the training range (e.g. ice sheets colder than any training "
        "month). Pixel-months counted are those on land (the land mask), or without a mask those with a "
        "time-series driver value. <i>Unknown categories</i>: leave them out (nodata, reported; the "
        "default), map them with a <i>Category mapping table</i> (CSV with the header "
        "<code>driver,from,to</code>, one row per mapping, e.g. <code>IGBP,BSV,OSH</code>; <code>from</code> "
        "a category or a raster code such as 0 for water, <code>to</code> a category the model knows), "
        "or refuse the run (naming the driver, categories and counts). <i>Drivers outside the training "
        "range</i>: predict and flag them (the default), leave them out (reported) or refuse the run. "
        "Mask permanent ice and open water in the land mask rather than predicting them.</p>"
        "<p><b>Table</b>: points or site-months with one column per driver; <i>Table with predictions</i> "
        "gets the table's fields plus the prediction and a 0/1 outside_training_range column, so that "
        "independent sites can be scored (<i>Evaluate ER against a reference series</i>). Methods guide "
        "shipped with the plugin (docs/methods.md), section \u201cGlobal upscaling (1989\u20132018, "
        "0.5\u00b0, monthly)\u201d.</p>"
    )

    def initAlgorithm(self, config=None):  # noqa: N802
        p = QgsProcessingParameterFile("MODEL", "Upscaling model file (from Fit upscaling model)", extension="npz")
        p.setMetadata(TimeSeriesInput.dialog_widget("ModelFileWidgetWrapper"))
        self.addParameter(p)
        self.addParameter(QgsProcessingParameterMultipleLayers(
            "DRIVERS", "Driver rasters (one per model driver)", SOURCE_RASTER, optional=True))
        self.addParameter(QgsProcessingParameterString(
            "DRIVER_NAMES", "Driver names in layer order (default: layer names)", optional=True))
        DriverSources.add_files_parameter(self)
        self.addParameter(QgsProcessingParameterFeatureSource(
            "TABLE", "... or a table with one column per model driver", [SOURCE_VECTOR], optional=True))
        self.addParameter(add_flags(QgsProcessingParameterString("PREDICTION_FIELD", "Prediction field name (table)",
                                                                 "ER_pred"), FLAG_ADVANCED))
        self.addParameter(QgsProcessingParameterRasterLayer("LAND_MASK", "Land mask (non-zero = land)",
                                                            optional=True))
        self.addParameter(UNKNOWN_CHOICES.parameter("UNKNOWN_CATEGORIES", "Unknown categories (classes the model "
                                                                          "never saw)"))
        self.addParameter(QgsProcessingParameterFile(
            "CATEGORY_MAPPING", "Category mapping table (CSV: driver,from,to)", extension="csv", optional=True))
        self.addParameter(RANGE_CHOICES.parameter("OUT_OF_RANGE", "Drivers outside the training range"))
        TimeSeriesInput.add_memory_parameter(self)
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTPUT", "Monthly ER (predicted)", optional=True, createByDefault=True))
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTSIDE_SHARE", "Share of months outside the training range", optional=True,
            createByDefault=False))
        self.addParameter(QgsProcessingParameterFeatureSink(
            "OUTPUT_TABLE", "Table with predictions", SOURCE_VECTOR, optional=True,
            createByDefault=False))
        self.addOutput(QgsProcessingOutputNumber("N_PREDICTED", "Predicted pixel-months or rows"))
        self.addOutput(QgsProcessingOutputNumber("N_LEFT_OUT", "Pixel-months or rows left out"))
        self.addOutput(QgsProcessingOutputString("LEFT_OUT", "Left-out counts (JSON)"))

    def given_driver_names(self, parameters, context):
        """The names of the drivers given (rasters, then files), as the run names them."""
        names = self.names(parameters, "DRIVER_NAMES", context)
        layers = self.parameterAsLayerList(parameters, "DRIVERS", context) if parameters.get("DRIVERS") else []
        out = names if names else [layer.name() for layer in layers]
        if parameters.get("DRIVER_FILES"):
            out = out + [name for name, _ in self.pairs(parameters, DriverSources.FILES, context, "name=source", ";")]
        return out

    def missing_drivers(self, meta, given, what):
        """The message for the model drivers missing from ``given`` (names), or ''."""
        missing = [d for d in expected_drivers(meta) if d[0] not in given]
        if not missing:
            return ""
        return (f"{what}: no driver for " + "; ".join(driver_text(*d) for d in missing)
                + f" (given: {', '.join(given) or 'none'}). " + describe_drivers(meta)
                + " Name each raster as its driver (layer name or driver names in layer order).")

    def checkParameterValues(self, parameters, context):  # noqa: N802
        path = self.parameterAsFile(parameters, "MODEL", context)
        try:
            meta = validate_model_file(path)
        except InputError as exc:
            return False, f"{self.parameter_label('MODEL')}: {exc}"
        has_drivers = DriverSources.given(parameters)
        has_table = bool(parameters.get("TABLE"))
        if has_drivers == has_table:
            return False, (f"Give either driver rasters ('{self.parameter_label('DRIVERS')}' and/or "
                           f"'{self.parameter_label('DRIVER_FILES')}') or a table "
                           f"('{self.parameter_label('TABLE')}'), not both")
        if has_table and not parameters.get("OUTPUT_TABLE"):
            return False, f"Predicting a table needs '{self.parameter_label('OUTPUT_TABLE')}'"
        try:
            if has_drivers:
                msg = self.missing_drivers(meta, self.given_driver_names(parameters, context),
                                           self.parameter_label("DRIVERS"))
            else:
                source = self.parameterAsSource(parameters, "TABLE", context)
                msg = "" if source is None else self.missing_drivers(
                    meta, source.fields().names(), self.parameter_label("TABLE"))
        except QgsProcessingException as exc:
            return False, str(exc)
        if msg:
            return False, msg
        try:
            self.category_mappings(parameters, context, meta)
        except QgsProcessingException as exc:
            return False, str(exc)
        return super().checkParameterValues(parameters, context)

    def category_mappings(self, parameters, context, model):
        """{driver: {from: to}} of the category mapping table (None unless unknown categories are
        mapped); QgsProcessingException naming the parameters when the table and the choice do
        not go together, or naming the table's file and row when a row is wrong. ``model``: an
        UpscalerModel or the metadata of its file."""
        mode = UNKNOWN_CHOICES.key(self, parameters, "UNKNOWN_CATEGORIES", context)
        path = self.parameterAsFile(parameters, "CATEGORY_MAPPING", context) if parameters.get("CATEGORY_MAPPING") \
            else ""
        label, choice = self.parameter_label("CATEGORY_MAPPING"), self.parameter_label("UNKNOWN_CATEGORIES")
        if mode == "map" and not path:
            raise QgsProcessingException(f"{choice} is 'map them with the category mapping table': give the {label}")
        if path and mode != "map":
            raise QgsProcessingException(f"{label} is given but {choice} is "
                                         f"'{UNKNOWN_CHOICES.labels[UNKNOWN_CHOICES.keys.index(mode)]}': choose "
                                         "'map them with the category mapping table' or leave the table empty")
        if not path:
            return None
        return self.read_input(label, read_category_mapping, path, model, what="file")

    def left_out(self, parameters, context, model, unit):
        """The LeftOut of the run: the choices for unknown categories and drivers out of range."""
        return LeftOut(model, unit, UNKNOWN_CHOICES.key(self, parameters, "UNKNOWN_CATEGORIES", context),
                       RANGE_CHOICES.key(self, parameters, "OUT_OF_RANGE", context),
                       self.category_mappings(parameters, context, model),
                       labels={"unknown": self.parameter_label("UNKNOWN_CATEGORIES"),
                               "range": self.parameter_label("OUT_OF_RANGE")})

    @staticmethod
    def report(feedback, acc):
        """The counts of what was left out or flagged, in the log: warnings when anything was left
        out, or when more than 1 % of the predictions are outside the training range."""
        lines = acc.lines()
        feedback.pushInfo(lines[0])
        for line in lines[1:]:
            if line.startswith("categories mapped") or ("predicted and flagged" in line
                                                        and acc.outside <= 0.01 * acc.predicted):
                feedback.pushInfo(line)
            else:
                feedback.pushWarning(line)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        model = self.run_core(load_model, self.parameterAsFile(parameters, "MODEL", context))
        feedback.pushInfo(f"model {model.kind}: {describe_drivers(model.meta)}")
        column = self.parameterAsString(parameters, "PREDICTION_FIELD", context) or "ER_pred"
        source = self.parameterAsSource(parameters, "TABLE", context)
        if source is not None:
            names = source.fields().names()
            df = source_to_dataframe(source, names, what="TABLE", numeric_text=True)
            missing = [f for f in model.features if f not in names]
            if missing:
                raise QgsProcessingException(f"{self.parameter_label('TABLE')}: has no column(s) {', '.join(missing)} "
                                             "needed by the model "
                                             f"(features: {', '.join(model.features)}); fields: {', '.join(names)}")
            acc = self.left_out(parameters, context, model, "rows")
            out = self.run_core(predict_table, model, df, column=column, report=acc,
                                what=self.parameter_label("TABLE"))
            self.report(feedback, acc)
            return {"OUTPUT_TABLE": write_table(self, parameters, "OUTPUT_TABLE", context, out, feedback),
                    "N_PREDICTED": acc.predicted, "N_LEFT_OUT": acc.left_out, "LEFT_OUT": acc.json()}
        names = self.names(parameters, "DRIVER_NAMES", context)
        files = dict(self.pairs(parameters, DriverSources.FILES, context, "name=source", ";")) \
            if parameters.get(DriverSources.FILES) else {}
        for name, source in files.items():  # a missing file named with its parameter (sources() does not)
            path = split_source(source)[0]
            if path and not os.path.exists(path):
                raise QgsProcessingException(f"{self.parameter_label(DriverSources.FILES)}: driver {name}: {path}: "
                                             "file not found")
        drivers = {}
        for name, path, variable in DriverSources.sources(self, parameters, context, names):
            given = DriverSources.FILES if name in files else "DRIVERS"
            drivers[name] = self.read_input(self.parameter_label(given), open_driver, path, name, variable=variable)
        mask = self.parameterAsRasterLayer(parameters, "LAND_MASK", context)
        out = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        share = self.parameterAsOutputLayer(parameters, "OUTSIDE_SHARE", context) or None
        if not out:
            raise QgsProcessingException(f"{self.parameter_label('OUTPUT')}: give the monthly ER raster to write")
        acc = self.left_out(parameters, context, model, "pixel-months")
        progress, cancelled = self.hooks(feedback)
        stats = self.run_core(predict_rasters, model, drivers, out,
                              land_mask_path=mask.source() if mask is not None else None,
                              outside_share_path=share,
                              budget_mb=self.parameterAsInt(parameters, TimeSeriesInput.MEMORY_MB, context),
                              progress=progress, cancelled=cancelled,
                              options={"drivers": list(drivers)}, report=acc)
        feedback.pushInfo(f"{stats['predicted']} pixel-months predicted ({stats['months']} months "
                          f"{stats['first_date']} .. {stats['last_date']}); share outside the training "
                          f"range {stats['outside_share']:.3f}")
        self.report(feedback, acc)
        results = {"OUTPUT": out, "N_PREDICTED": stats["predicted"], "N_LEFT_OUT": acc.left_out,
                   "LEFT_OUT": acc.json()}
        if share:
            results["OUTSIDE_SHARE"] = share
        return results
