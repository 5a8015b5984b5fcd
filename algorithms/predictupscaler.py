"""ecoresp:predictupscaler — monthly ER rasters (or a table column) from a fitted model."""


from qgis.core import (QgsProcessingException, QgsProcessingOutputNumber,
                       QgsProcessingParameterFeatureSink, QgsProcessingParameterFeatureSource,
                       QgsProcessingParameterFile, QgsProcessingParameterMultipleLayers,
                       QgsProcessingParameterRasterDestination, QgsProcessingParameterRasterLayer,
                       QgsProcessingParameterString)

from ..ecoresp_core.errors import InputError
from ..ecoresp_core.upscaling.model import load_model, validate_model_file
from ..ecoresp_core.jobs.inputs import open_driver
from ..ecoresp_core.jobs.predict import predict_rasters
from ..ecoresp_core.upscaling.predict import predict_table
from .base import DriverSources, EcorespAlgorithm, TimeSeriesInput
from .qgiscompat import SOURCE_RASTER, SOURCE_VECTOR
from .tables import source_to_dataframe, write_table


class PredictUpscalerAlgorithm(EcorespAlgorithm):
    NAME = "predictupscaler"
    DISPLAY = "Predict ER with an upscaling model (rasters or table)"
    GROUP = "2 Upscaling"
    GROUP_ID = "upscaling"
    HELP = (
        "<p>Applies a model of ecoresp:fitupscaler. The model file is checked before the run "
        "(format, checksum, array shapes); it is never executed.</p>"
        "<p><b>Rasters</b> (DRIVERS): one layer per model feature, all on one grid and CRS; time "
        "series (GeoTIFF with one band per month and the date in each band description, or NetCDF "
        "with a time axis) must have the same dates; a single-band raster is a static driver (e.g. "
        "land cover as MODIS IGBP codes 1-16). A driver's name is its layer name (the file name "
        "without extension when loaded from a file), or give DRIVER_NAMES (comma separated, in the "
        "order of the layers). " + DriverSources.HELP_FILES + " Output: a monthly GeoTIFF with dated bands; "
        "pixel-months with a missing "
        "driver, an unknown land-cover code or outside LAND_MASK (zero or nodata) are nodata. "
        "OUTSIDE_SHARE: share of the predicted months per pixel with a driver outside the training "
        "range.</p>"
        "<p><b>Table</b> (TABLE): points or site-months with one column per feature; OUTPUT_TABLE gets "
        "the table's fields plus the prediction and a 0/1 outside_training_range column, so that "
        "independent sites can be scored (ecoresp:evaluate).</p>"
    )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterFile("MODEL", "Model file (ecoresp:fitupscaler)",
                                                     extension="npz"))
        self.addParameter(QgsProcessingParameterMultipleLayers(
            "DRIVERS", "Driver rasters (one per feature)", SOURCE_RASTER, optional=True))
        self.addParameter(QgsProcessingParameterString(
            "DRIVER_NAMES", "Driver names in layer order (default: layer names)", optional=True))
        DriverSources.add_files_parameter(self)
        self.addParameter(QgsProcessingParameterFeatureSource(
            "TABLE", "or a table with the feature columns", [SOURCE_VECTOR], optional=True))
        self.addParameter(QgsProcessingParameterString("PREDICTION_FIELD", "Prediction field name", "ER_pred"))
        self.addParameter(QgsProcessingParameterRasterLayer("LAND_MASK", "Land mask (non-zero = land)",
                                                            optional=True))
        TimeSeriesInput.add_memory_parameter(self)
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTPUT", "Monthly ER", optional=True, createByDefault=True))
        self.addParameter(QgsProcessingParameterRasterDestination(
            "OUTSIDE_SHARE", "Share of months outside the training range", optional=True,
            createByDefault=False))
        self.addParameter(QgsProcessingParameterFeatureSink(
            "OUTPUT_TABLE", "Table with predictions", SOURCE_VECTOR, optional=True,
            createByDefault=False))
        self.addOutput(QgsProcessingOutputNumber("N_PREDICTED", "Predicted pixel-months or rows"))

    def checkParameterValues(self, parameters, context):  # noqa: N802
        path = self.parameterAsFile(parameters, "MODEL", context)
        try:
            validate_model_file(path)
        except InputError as exc:
            return False, str(exc)
        has_drivers = DriverSources.given(parameters)
        has_table = bool(parameters.get("TABLE"))
        if has_drivers == has_table:
            return False, "Give either driver rasters (DRIVERS / DRIVER_FILES) or a table (TABLE), not both"
        if has_table and not parameters.get("OUTPUT_TABLE"):
            return False, "Predicting a table needs OUTPUT_TABLE"
        return super().checkParameterValues(parameters, context)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        model = self.run_core(load_model, self.parameterAsFile(parameters, "MODEL", context))
        feedback.pushInfo(f"model {model.kind}: features {', '.join(model.features)}; target "
                          f"{model.meta.get('target')} [{model.meta.get('target_unit')}]")
        column = self.parameterAsString(parameters, "PREDICTION_FIELD", context) or "ER_pred"
        source = self.parameterAsSource(parameters, "TABLE", context)
        if source is not None:
            names = source.fields().names()
            df = source_to_dataframe(source, names, what="TABLE", numeric_text=True)
            missing = [f for f in model.features if f not in names]
            if missing:
                raise QgsProcessingException(f"TABLE: has no column(s) {', '.join(missing)} needed by the model "
                                             f"(features: {', '.join(model.features)}); fields: {', '.join(names)}")
            out = self.run_core(predict_table, model, df, column=column)
            n = int(out[column].notna().sum())
            feedback.pushInfo(f"{n} of {len(out)} rows predicted; {int(out['outside_training_range'].sum())} "
                              "outside the training range")
            return {"OUTPUT_TABLE": write_table(self, parameters, "OUTPUT_TABLE", context, out, feedback),
                    "N_PREDICTED": n}
        names = self.names(parameters, "DRIVER_NAMES", context)
        drivers = {}
        for name, path, variable in DriverSources.sources(self, parameters, context, names):
            drivers[name] = self.run_core(open_driver, path, name, variable=variable)
        mask = self.parameterAsRasterLayer(parameters, "LAND_MASK", context)
        out = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        share = self.parameterAsOutputLayer(parameters, "OUTSIDE_SHARE", context) or None
        if not out:
            raise QgsProcessingException("OUTPUT: give the monthly ER raster to write")
        progress, cancelled = self.hooks(feedback)
        stats = self.run_core(predict_rasters, model, drivers, out,
                              land_mask_path=mask.source() if mask is not None else None,
                              outside_share_path=share,
                              budget_mb=self.parameterAsInt(parameters, TimeSeriesInput.MEMORY_MB, context),
                              progress=progress, cancelled=cancelled,
                              options={"drivers": list(drivers)})
        feedback.pushInfo(f"{stats['predicted']} pixel-months predicted ({stats['months']} months "
                          f"{stats['first_date']} .. {stats['last_date']}); share outside the training "
                          f"range {stats['outside_share']:.3f}")
        results = {"OUTPUT": out, "N_PREDICTED": stats["predicted"]}
        if share:
            results["OUTSIDE_SHARE"] = share
        return results
