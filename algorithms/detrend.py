"""ecoresp:detrend — per-pixel linear detrending or seasonal anomalies of a raster time series."""

from qgis.core import (
    QgsProcessing,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterRasterDestination,
)

from ..ecoresp_core.jobs.detrend import detrend_raster
from .base import Choices, TimeSeriesAlgorithm, TimeSeriesInput

# the keys are the core's METHODS, in their order
METHOD_CHOICES = Choices({
    "linear": "Linear (remove the per-pixel least-squares line)",
    "seasonal": "Anomalies from the mean seasonal cycle (monthly)",
    "seasonal_linear": "Seasonal anomalies, then linear",
})


class DetrendAlgorithm(TimeSeriesAlgorithm):
    NAME = "detrend"
    DISPLAY = "Detrend a time series"
    GROUP = "3 Trends and attribution"
    GROUP_ID = "trends"
    TAGS = ("detrend", "anomalies", "seasonal cycle", "time series", "raster")
    HELP = (
        "<p>Removes, per pixel, the ordinary least-squares line fitted to the valid values "
        "(time = the index of the time step in date order), or the mean seasonal cycle of a monthly series "
        "(each calendar month's mean over all years), or both. The output has the same dates as the input "
        "(band descriptions YYYY-MM-DD), in date order: bands whose dates are out of order are read sorted "
        "by date (the log says so), and two bands with the same date stop the run; nodata stays nodata. "
        "A run in which no pixel has enough valid values fails and says so. With <i>Keep each pixel's mean</i> "
        "the mean is added back.</p>" + TimeSeriesInput.HELP +
        "<p>Methods guide shipped with the plugin (docs/methods.md), section \u201cInterannual variability: "
        "detrending, partial correlation, dominant driver\u201d.</p>"
    )
    METHOD = "METHOD"
    KEEP_MEAN = "KEEP_MEAN"
    OUTPUT = "OUTPUT"

    def initAlgorithm(self, config=None):  # noqa: N802
        TimeSeriesInput.add_parameters(self)
        self.addParameter(METHOD_CHOICES.parameter(self.METHOD, "Method"))
        self.addParameter(QgsProcessingParameterBoolean(self.KEEP_MEAN, "Keep each pixel's mean", False))
        TimeSeriesInput.add_memory_parameter(self)
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT, "Detrended series", defaultValue=QgsProcessing.TEMPORARY_OUTPUT))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        src = TimeSeriesInput.open(self, parameters, context)
        out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        if src.order_note:
            feedback.pushInfo(src.order_note)
        progress, cancelled = self.hooks(feedback)
        self.run_core(detrend_raster, src, out,
                      method=METHOD_CHOICES.key(self, parameters, self.METHOD, context),
                      keep_mean=self.parameterAsBool(parameters, self.KEEP_MEAN, context),
                      budget_mb=self.parameterAsInt(parameters, TimeSeriesInput.MEMORY_MB, context),
                      progress=progress, cancelled=cancelled)
        return {self.OUTPUT: out}
