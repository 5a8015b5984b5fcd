"""ecoresp:trend — per-pixel Mann-Kendall test and Theil-Sen slope of a raster time series."""

from qgis.core import (
    QgsProcessing,
    QgsProcessingOutputNumber,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
)

from ..ecoresp_core.jobs.trend import TREND_CLASSES, trend_raster
from ..ecoresp_core.trends.trend import TREND_BANDS
from .base import Choices, TimeSeriesAlgorithm, TimeSeriesInput
from .qgiscompat import FLAG_ADVANCED, NUMBER_DOUBLE, NUMBER_INTEGER, add_flags

# the keys are the core's VARIANTS, in their order
VARIANT_CHOICES = Choices({
    "original": "Original Mann-Kendall (default)",
    "hamed_rao": "Hamed-Rao (1998) variance correction",
    "yue_wang": "Yue-Wang (2004) variance correction",
    "pre_whitening": "Pre-whitening (Yue & Wang 2002)",
    "trend_free_pre_whitening": "Trend-free pre-whitening",
    "seasonal": "Seasonal Mann-Kendall (monthly series)",
})
SLOPE_UNIT_CHOICES = Choices({"year": "per year", "step": "per time step"})
AGGREGATE_CHOICES = Choices({None: "no aggregation", "mean": "annual mean", "sum": "annual sum"})


class TrendAlgorithm(TimeSeriesAlgorithm):
    NAME = "trend"
    DISPLAY = "Trend: Mann-Kendall test and Theil-Sen slope"
    GROUP = "3 Trends and attribution"
    GROUP_ID = "trends"
    TAGS = ("Mann-Kendall", "Theil-Sen", "Sen slope", "trend", "time series", "significance", "raster",
            "climate", "CRU TS")
    HELP = (
        "<p>Per-pixel Mann-Kendall trend test and Theil-Sen (Sen's) slope of a raster time "
        "series, following pymannkendall's conventions exactly: S and var(S) on the series "
        "without its gaps (tie-corrected), Sen's slope on the original positions, intercept at "
        "the first time step.</p>"
        + TimeSeriesInput.HELP +
        "<p><b>Trend statistics</b>: a raster with the bands " + ", ".join(TREND_BANDS) + ". "
        "trend is -1/0/+1 at the chosen significance level; slope_lower and slope_upper are the "
        "Gilbert (1987) confidence bounds of the slope at the same level (from the tie-corrected "
        "var(S) of the original series). Pixels with fewer valid values than the minimum number of "
        "valid time steps (advanced) are nodata; when no pixel has that many, the run fails and says how "
        "many the best pixel has. <b>Trend significance classes</b> (optional): 5 "
        "classes (" + "; ".join(label for _, label, _ in TREND_CLASSES) + ") with a ready style.</p>"
        "<p>The series is tested in date order: bands whose dates are out of order are read sorted by "
        "date (the log says so); two bands with the same date stop the run.</p>"
        "<p><b>Slope unit</b>: per year (needs a regular annual, monthly or daily axis; a daily series has "
        "the days per year of its NetCDF calendar: 360, 365, 366, or 365.25) or per time step. "
        "A monthly series can be aggregated to annual means or sums before the test; the seasonal "
        "test uses the monthly series and its slope is the median of within-month slopes per year.</p>"
        "<p>Outputs record the method, options and library versions in their metadata. Equations, "
        "variants and worked examples: methods guide shipped with the plugin (docs/methods.md), "
        "section \u201cTrend analysis: Mann\u2013Kendall and Theil\u2013Sen\u201d.</p>"
    )
    VARIANT = "VARIANT"
    ALPHA = "ALPHA"
    MIN_VALID = "MIN_VALID"
    SLOPE_UNIT = "SLOPE_UNIT"
    AGGREGATE = "AGGREGATE"
    OUTPUT = "OUTPUT"
    CLASSES = "CLASSES"

    def initAlgorithm(self, config=None):  # noqa: N802
        TimeSeriesInput.add_parameters(self)
        self.addParameter(VARIANT_CHOICES.parameter(self.VARIANT, "Test"))
        self.addParameter(QgsProcessingParameterNumber(
            self.ALPHA, "Significance level (alpha)", NUMBER_DOUBLE, 0.05, False, 1e-6, 0.5))
        self.addParameter(add_flags(QgsProcessingParameterNumber(
            self.MIN_VALID, "Minimum number of valid time steps", NUMBER_INTEGER, 10, False, 3), FLAG_ADVANCED))
        self.addParameter(SLOPE_UNIT_CHOICES.parameter(self.SLOPE_UNIT, "Slope unit"))
        self.addParameter(AGGREGATE_CHOICES.parameter(self.AGGREGATE, "Aggregate a monthly series before the test"))
        TimeSeriesInput.add_memory_parameter(self)
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT, "Trend statistics", defaultValue=QgsProcessing.TEMPORARY_OUTPUT))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.CLASSES, "Trend significance classes", optional=True, createByDefault=True))
        self.addOutput(QgsProcessingOutputNumber("N_TESTED", "Pixels tested"))
        self.addOutput(QgsProcessingOutputNumber("N_INCREASING", "Pixels with a significant increase"))
        self.addOutput(QgsProcessingOutputNumber("N_DECREASING", "Pixels with a significant decrease"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        src = TimeSeriesInput.open(self, parameters, context)
        variant = VARIANT_CHOICES.key(self, parameters, self.VARIANT, context)
        out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        classes = self.parameterAsOutputLayer(parameters, self.CLASSES, context) or None
        feedback.pushInfo(f"{src.label}: {src.count} time steps {src.date_strings()[0]} .. "
                          f"{src.date_strings()[-1]}, {src.grid.describe()}")
        if src.order_note:
            feedback.pushInfo(src.order_note)
        progress, cancelled = self.hooks(feedback)
        summary = self.run_core(
            trend_raster, src, out, variant=variant,
            alpha=self.parameterAsDouble(parameters, self.ALPHA, context),
            min_valid=self.parameterAsInt(parameters, self.MIN_VALID, context),
            slope_per=SLOPE_UNIT_CHOICES.key(self, parameters, self.SLOPE_UNIT, context),
            aggregate=AGGREGATE_CHOICES.key(self, parameters, self.AGGREGATE, context),
            classes_path=classes,
            budget_mb=self.parameterAsInt(parameters, TimeSeriesInput.MEMORY_MB, context),
            progress=progress, cancelled=cancelled)
        feedback.pushInfo(f"tested {summary['tested']} pixels: {summary['increasing']} significant increases, "
                          f"{summary['decreasing']} significant decreases (alpha {summary['alpha']})")
        if summary["helper_blocks"]:
            feedback.pushInfo(f"{summary['helper_blocks']} pixel blocks computed in a helper process")
        for msg in summary["helper_failures"]:  # the blocks were computed in QGIS's own process
            feedback.pushWarning(f"helper process not used: {msg}")
        results = {self.OUTPUT: out, "N_TESTED": summary["tested"],
                   "N_INCREASING": summary["increasing"], "N_DECREASING": summary["decreasing"]}
        if classes:
            results[self.CLASSES] = classes
        return results
