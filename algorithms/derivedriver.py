"""ecoresp:derivedriver — derived monthly drivers (RH, VPD, DTR, unit conversions) from one or two
raster series on the same grid and dates."""

import os

from qgis.core import (QgsProcessingException, QgsProcessingParameterFile,
                       QgsProcessingParameterNumber, QgsProcessingParameterRasterDestination,
                       QgsProcessingParameterRasterLayer, QgsProcessingParameterString)

from ..ecoresp_core.io.series import open_series, split_source
from ..ecoresp_core.jobs.derive import derive_raster
from ..ecoresp_core.upscaling.drivers import DERIVATIONS
from .base import Choices, EcorespAlgorithm, TimeSeriesInput
from .qgiscompat import FLAG_ADVANCED, NUMBER_DOUBLE, add_flags

KINDS = Choices({k: f"{k}: {v[2]}" for k, v in DERIVATIONS.items()})


def open_layer_or_file(alg, parameters, context, layer_name, file_name, var_name, dates_name, what):
    """A RasterSeries from a raster layer or a file (+ NetCDF variable); None when neither is given."""
    path = alg.parameterAsFile(parameters, file_name, context)
    variable = None
    if not path:
        if not parameters.get(layer_name):
            return None
        layer = alg.parameterAsRasterLayer(parameters, layer_name, context)
        if layer is None:
            raise QgsProcessingException(f"{what}: cannot load raster layer {parameters.get(layer_name)!r}")
        path, variable = split_source(layer.source())
        layer = None
    variable = alg.parameterAsString(parameters, var_name, context) or variable
    dates = alg.parameterAsString(parameters, dates_name, context).strip() or None
    if not os.path.exists(path):
        raise QgsProcessingException(f"{what}: {path}: file not found")
    # a wrong dates override is named by its label (the core reads each date before counting them)
    return alg.run_core(open_series, path, variable, dates, alg.parameter_label(dates_name))


class DeriveDriverAlgorithm(EcorespAlgorithm):
    NAME = "derivedriver"
    DISPLAY = "Derive a driver series (RH, VPD, DTR, unit conversions)"
    GROUP = "2 Upscaling"
    GROUP_ID = "upscaling"
    TAGS = ("driver", "relative humidity", "VPD", "vapour pressure deficit", "diurnal temperature range",
            "unit conversion", "CRU TS", "upscaling")
    HELP = (
        "<p>Derives a monthly driver series for upscaling from one or two raster series with one band "
        "per month (dates in the band descriptions or a CF time axis). Two-input derivations need both "
        "series on the same grid, CRS and dates; otherwise the error names both layers.</p><ul>"
        + "".join(f"<li><b>{k}</b>: {v[2]} -> {v[1]}</li>" for k, v in DERIVATIONS.items()) +
        "</ul><p>e_sat(T) = 6.1078 exp(17.08085 T / (234.175 + T)) hPa (REddyProc). The <b>first input</b> "
        "is vap (RH, VPD), tmn (VPD from tmn), tmx (DTR) or the single input; the <b>second input</b> is "
        "tmp (RH, VPD) or tmn (DTR). Each input is given once: either a raster layer, or a file (e.g. a "
        "multi-variable CRU TS NetCDF) and the variable in it, chosen from the file's variables in the "
        "list. mm/month and mm/day use the days of each month in the input's calendar (leap Februaries; "
        "30 days in a NetCDF 360_day calendar, no 29 February in noleap); J m-2 -> W m-2 "
        "divides by the accumulation period (advanced; 86400 s for daily sums).</p>"
        "<p><b>Units</b>: temperatures are expected in degC (K for k_to_c) and vapour pressure in hPa. An "
        "input whose unit attribute (NetCDF <i>units</i>, GeoTIFF band unit) says K, kPa or Pa is converted "
        "(the log says so); an input whose values do not fit the expected unit (e.g. a temperature median "
        "above 100 for degC, or vap that only fits kPa or Pa against e_sat(tmp)) stops the run with a message "
        "naming it. A result without any value (e.g. the two inputs never have a value in the same cell and "
        "month) stops the run too.</p>"
    )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(KINDS.parameter("KIND", "Derived driver"))
        for pre, label, kinds in (("FIRST", "First input", " (vap / tmn / tmx / single input)"),
                                  ("SECOND", "Second input", " (tmp / tmn)")):
            self.addParameter(QgsProcessingParameterRasterLayer(pre, f"{label}{kinds}: raster layer", optional=True))
            self.addParameter(QgsProcessingParameterFile(
                f"{pre}_FILE", f"{label}: ... or a file instead (e.g. CRU TS NetCDF)", optional=True,
                fileFilter="Raster time series (*.nc *.nc4 *.tif *.tiff *.vrt);;All files (*.*)"))
            p = QgsProcessingParameterString(f"{pre}_VARIABLE", f"{label}: variable in the file", optional=True)
            p.setMetadata(TimeSeriesInput.dialog_widget("VariableWidgetWrapper", file_parameter=f"{pre}_FILE"))
            self.addParameter(p)
            self.addParameter(add_flags(QgsProcessingParameterString(
                f"{pre}_DATES", f"{label}: dates (override)", optional=True), FLAG_ADVANCED))
        self.addParameter(add_flags(QgsProcessingParameterNumber(
            "SECONDS", "Accumulation period for J m-2 -> W m-2 (s)", NUMBER_DOUBLE,
            86400.0, False, 1e-6), FLAG_ADVANCED))
        TimeSeriesInput.add_memory_parameter(self)
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", "Derived driver series"))

    def checkParameterValues(self, parameters, context):  # noqa: N802
        kind = KINDS.key(self, parameters, "KIND", context)
        n_in = DERIVATIONS[kind][0]
        for pre in ("FIRST", "SECOND")[:n_in]:
            if bool(parameters.get(pre)) == bool(parameters.get(f"{pre}_FILE")):
                return False, (f"{kind}: give exactly one of '{self.parameter_label(pre)}' and "
                               f"'{self.parameter_label(pre + '_FILE')}'")
        if n_in == 1 and (parameters.get("SECOND") or parameters.get("SECOND_FILE")):
            return False, (f"{kind} takes one input: leave '{self.parameter_label('SECOND')}' and "
                           f"'{self.parameter_label('SECOND_FILE')}' empty")
        return super().checkParameterValues(parameters, context)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        kind = KINDS.key(self, parameters, "KIND", context)
        first = open_layer_or_file(self, parameters, context, "FIRST", "FIRST_FILE", "FIRST_VARIABLE",
                                   "FIRST_DATES", self.parameter_label("FIRST"))
        second = open_layer_or_file(self, parameters, context, "SECOND", "SECOND_FILE", "SECOND_VARIABLE",
                                    "SECOND_DATES", self.parameter_label("SECOND"))
        out = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        for note in (series.order_note for series in (first, second) if series is not None):
            if note:
                feedback.pushInfo(note)
        progress, cancelled = self.hooks(feedback)
        res = self.run_core(derive_raster, kind, first, out, second,
                            seconds=self.parameterAsDouble(parameters, "SECONDS", context),
                            budget_mb=self.parameterAsInt(parameters, TimeSeriesInput.MEMORY_MB, context),
                            progress=progress, cancelled=cancelled)
        for note in res["notes"]:  # unit conversions of the inputs
            feedback.pushInfo(note)
        feedback.pushInfo(f"{kind}: {res['formula']}; {len(first.dates)} bands, {res['valid']} of "
                          f"{res['pixels']} pixels with a value, units {res['units']}")
        return {"OUTPUT": out}
