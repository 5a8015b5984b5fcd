"""ecoresp:partialcorrelation — per-pixel partial correlation of detrended ER with each
driver given the others, and the dominant driver (docs/methods.md section 15).

``AttributionInputs`` (the ER series, the drivers and the preparation options) is shared
with ecoresp:rfattribution."""


from qgis.core import (
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterString,
)

from ..ecoresp_core.attribution.partialcorr import aggregations_for
from ..ecoresp_core.jobs.attribution import check_inputs, partialcorr_raster
from ..ecoresp_core.io.series import open_series
from .base import Choices, DriverSources, EcorespAlgorithm, TimeSeriesAlgorithm, TimeSeriesInput
from .qgiscompat import FLAG_ADVANCED, NUMBER_DOUBLE, NUMBER_INTEGER, SOURCE_RASTER, add_flags

# the keys are the core's MODES and DETRENDS, in their order
MODE_CHOICES = Choices({
    "annual": "Annual: ER summed, drivers summed (precipitation, wet and frost days) or averaged (monthly or daily "
              "input)",
    "monthly": "Monthly anomalies (mean seasonal cycle removed)",
    "asis": "Series as given (e.g. already annual)",
})
DETREND_CHOICES = Choices({"linear": "Linear (remove the per-pixel least-squares line)", "diff": "First differences",
                           "none": "None"})


class AttributionInputs:
    """ER series, driver rasters and the preparation options shared by the attribution
    algorithms."""

    DRIVERS = "DRIVERS"
    DRIVER_NAMES = "DRIVER_NAMES"
    MODE = "MODE"
    DETREND = "DETREND"
    AGGREGATION = "AGGREGATION"
    MIN_VALID = "MIN_VALID"

    HELP = (
        "<p><b>Inputs</b>: the ER series (a raster layer, or a file and its variable) and at least 2 "
        "driver series (<i>Driver series</i>, raster layers; the layer name is the driver name, or give "
        "<i>Driver names in layer order</i>, comma separated; " + DriverSources.HELP_FILES + ") on the "
        "same grid and with the same dates as ER (<i>Dates (override)</i>, when given, applies to ER and "
        "to every driver). Collinear drivers (tmp/tmx/tmn/dtr/frs; vap/RH) should be reduced to one per "
        "group first.</p>"
        "<p><b>Time scale</b>: annual values (ER sum of months; drivers named like pre, precipitation, "
        "pr, tp, wet, frs summed, all others averaged; the advanced <i>Annual aggregation overrides</i> "
        "change this, e.g. <i>SM=mean; snow=sum</i>), monthly anomalies from the mean seasonal cycle, or "
        "the series as given. Each series is then set to nodata where ER or any driver is missing and "
        "detrended per pixel (<i>Detrending</i>: linear by default, or first differences). Pixels need "
        "the minimum number of valid time steps (advanced) after preparation. Methods guide shipped "
        "with the plugin (docs/methods.md), section \u201cInterannual variability: detrending, partial "
        "correlation, dominant driver\u201d.</p>"
    )

    @classmethod
    def add_parameters(cls, alg):
        TimeSeriesInput.add_parameters(alg, "ER series")
        alg.addParameter(QgsProcessingParameterMultipleLayers(
            cls.DRIVERS, "Driver series (raster layers, one band per time step)", SOURCE_RASTER,
            optional=True))
        alg.addParameter(QgsProcessingParameterString(
            cls.DRIVER_NAMES, "Driver names in layer order (default: layer names)", optional=True))
        DriverSources.add_files_parameter(alg)
        alg.addParameter(MODE_CHOICES.parameter(cls.MODE, "Time scale", optional=True))
        alg.addParameter(DETREND_CHOICES.parameter(cls.DETREND, "Detrending", optional=True))
        alg.addParameter(add_flags(QgsProcessingParameterString(
            cls.AGGREGATION, "Annual aggregation overrides (name=sum or name=mean, ';' separated)",
            optional=True), FLAG_ADVANCED))
        alg.addParameter(add_flags(QgsProcessingParameterNumber(
            cls.MIN_VALID, "Minimum number of valid time steps (years) per pixel",
            NUMBER_INTEGER, 10, True, 4), FLAG_ADVANCED))

    @classmethod
    def check(cls, alg, parameters, context):
        ok, msg = TimeSeriesInput.check(alg, parameters, context)
        if not ok:
            return ok, msg
        if not DriverSources.given(parameters):
            return False, (f"Give at least 2 driver series ('{alg.parameter_label(cls.DRIVERS)}' and/or "
                           f"'{alg.parameter_label(DriverSources.FILES)}')")
        return True, ""

    @classmethod
    def open(cls, alg, parameters, context, feedback):
        """(ER series, driver series, names, options dict for the core); the options are checked
        against the series here, so that errors name their parameters."""
        src = TimeSeriesInput.open(alg, parameters, context)
        names = alg.names(parameters, cls.DRIVER_NAMES, context)
        dates = alg.parameterAsString(parameters, TimeSeriesInput.DATES, context) or None
        drivers, dnames = [], []
        for name, path, variable in DriverSources.sources(alg, parameters, context, names or None):
            drivers.append(EcorespAlgorithm.run_core(open_series, path, variable, dates))
            dnames.append(name)
        if len(drivers) < 2:
            raise QgsProcessingException(f"attribution needs at least 2 drivers (got {len(drivers)}: "
                                         f"{', '.join(dnames) or 'none'})")
        aggs = {k: v.lower() for k, v in alg.pairs(parameters, cls.AGGREGATION, context, "name=sum or name=mean")}
        feedback.pushInfo(f"ER {src.label}: {src.count} time steps {src.date_strings()[0]} .. "
                          f"{src.date_strings()[-1]}, {src.grid.describe()}; drivers {', '.join(dnames)}")
        options = dict(mode=MODE_CHOICES.key(alg, parameters, cls.MODE, context),
                       detrend=DETREND_CHOICES.key(alg, parameters, cls.DETREND, context),
                       min_valid=alg.parameterAsInt(parameters, cls.MIN_VALID, context),
                       aggregations=aggs or None,
                       budget_mb=alg.parameterAsInt(parameters, TimeSeriesInput.MEMORY_MB, context))
        alg.run_core(check_inputs, src, drivers, dnames, options["mode"], options["detrend"], options["min_valid"],
                     min_valid_what=alg.parameter_label(cls.MIN_VALID))
        if aggs:  # checked in every mode: an override that names no driver or no rule is a mistake
            alg.read_input(alg.parameter_label(cls.AGGREGATION), aggregations_for, dnames, aggs)
        return src, drivers, dnames, options


class AttributionAlgorithm(TimeSeriesAlgorithm):
    """An attribution algorithm: the ER series and its drivers (AttributionInputs)."""

    def checkParameterValues(self, parameters, context):  # noqa: N802
        ok, msg = AttributionInputs.check(self, parameters, context)
        if not ok:
            return ok, msg
        return super().checkParameterValues(parameters, context)


class PartialCorrelationAlgorithm(AttributionAlgorithm):
    NAME = "partialcorrelation"
    DISPLAY = "Attribution: partial correlation and dominant driver"
    GROUP = "3 Trends and attribution"
    GROUP_ID = "trends"
    TAGS = ("attribution", "partial correlation", "dominant driver", "interannual variability", "drivers",
            "detrend", "climate")
    HELP = (
        "<p>Per pixel, the partial correlation r_p of detrended ER with each driver, controlling for "
        "the other drivers (OLS residuals of ER and of the driver on the other drivers, correlated; "
        "computed through the inverse correlation matrix), with a two-sided t-test on n - 2 - k degrees "
        "of freedom (k = number of drivers - 1). The dominant driver is the one with the largest |r_p| "
        "among those with p below the significance level, else 'none'.</p>" + AttributionInputs.HELP +
        TimeSeriesInput.HELP +
        "<p><b>Outputs</b>: <i>Partial correlations and p-values</i>, bands r_&lt;driver&gt; and "
        "p_&lt;driver&gt; per driver and n_valid; <i>Dominant driver</i>, a categorical raster (0 none, "
        "1..m the drivers in input order, 255 nodata) with a colour table and a ready style naming the "
        "drivers; <i>Partial correlation of the dominant driver</i>, its signed r_p. Outputs record the "
        "method, options and library versions in their metadata.</p>"
    )
    ALPHA = "ALPHA"
    OUTPUT = "OUTPUT"
    DOMINANT = "DOMINANT"
    DOMINANT_R = "DOMINANT_R"

    def initAlgorithm(self, config=None):  # noqa: N802
        AttributionInputs.add_parameters(self)
        self.addParameter(QgsProcessingParameterNumber(
            self.ALPHA, "Significance level (alpha)", NUMBER_DOUBLE, 0.05, True, 1e-6, 0.5))
        TimeSeriesInput.add_memory_parameter(self)
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT, "Partial correlations and p-values", defaultValue=QgsProcessing.TEMPORARY_OUTPUT))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.DOMINANT, "Dominant driver (partial correlation)", defaultValue=QgsProcessing.TEMPORARY_OUTPUT))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.DOMINANT_R, "Partial correlation of the dominant driver", optional=True, createByDefault=True))
        self.addOutput(QgsProcessingOutputNumber("N_COMPUTED", "Pixels computed"))
        self.addOutput(QgsProcessingOutputNumber("N_DOMINANT", "Pixels with a significant dominant driver"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        src, drivers, names, options = AttributionInputs.open(self, parameters, context, feedback)
        out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        dom = self.parameterAsOutputLayer(parameters, self.DOMINANT, context)
        dom_r = self.parameterAsOutputLayer(parameters, self.DOMINANT_R, context) or None
        progress, cancelled = self.hooks(feedback)
        s = self.run_core(partialcorr_raster, src, drivers, names, out, dom, dom_r,
                          alpha=self.parameterAsDouble(parameters, self.ALPHA, context),
                          progress=progress, cancelled=cancelled, **options)
        feedback.pushInfo(f"{s['computed']} pixels computed, {s['with_dominant']} with a significant dominant "
                          "driver: " + ", ".join(f"{k} {v}" for k, v in s["by_driver"].items()))
        results = {self.OUTPUT: out, self.DOMINANT: dom, "N_COMPUTED": s["computed"],
                   "N_DOMINANT": s["with_dominant"]}
        if dom_r:
            results[self.DOMINANT_R] = dom_r
        return results
