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
from .qgiscompat import NUMBER_DOUBLE

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
    variable = alg.parameterAsString(parameters, var_name, context) or variable
    dates = alg.parameterAsString(parameters, dates_name, context) or None
    if not os.path.exists(path):
        raise QgsProcessingException(f"{what}: {path}: file not found")
    return EcorespAlgorithm.run_core(open_series, path, variable, dates)


class DeriveDriverAlgorithm(EcorespAlgorithm):
    NAME = "derivedriver"
    DISPLAY = "Derive a driver series (RH, VPD, DTR, unit conversions)"
    GROUP = "2 Upscaling"
    GROUP_ID = "upscaling"
    HELP = (
        "<p>Derives a monthly driver series for upscaling from one or two raster series with one band "
        "per month (dates in the band descriptions or a CF time axis). Two-input derivations need both "
        "series on the same grid, CRS and dates; otherwise the error names both layers.</p><ul>"
        + "".join(f"<li><b>{k}</b>: {v[2]} -> {v[1]}</li>" for k, v in DERIVATIONS.items()) +
        "</ul><p>e_sat(T) = 6.1078 exp(17.08085 T / (234.175 + T)) hPa (REddyProc). FIRST is vap (RH, VPD), "
        "tmn (VPD from tmn), "
        "tmx (DTR) or the single input; SECOND is tmp (RH, VPD) or tmn (DTR). Each input is a raster "
        "layer or a file (e.g. a CRU TS NetCDF) with its variable name. mm/month and mm/day use the real "
        "days of each month (leap Februaries); J m-2 -> W m-2 divides by the accumulation period "
        "(SECONDS, 86400 for daily sums).</p>"
    )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(KINDS.parameter("KIND", "Derived driver"))
        for pre, label in (("FIRST", "First input (vap / tmx / single input)"),
                           ("SECOND", "Second input (tmp / tmn)")):
            self.addParameter(QgsProcessingParameterRasterLayer(pre, f"{label}, raster layer", optional=True))
            self.addParameter(QgsProcessingParameterFile(
                f"{pre}_FILE", f"or {label}, file", optional=True,
                fileFilter="Raster time series (*.nc *.nc4 *.tif *.tiff *.vrt);;All files (*.*)"))
            self.addParameter(QgsProcessingParameterString(f"{pre}_VARIABLE", f"{label}: NetCDF variable",
                                                           optional=True))
            self.addParameter(QgsProcessingParameterString(f"{pre}_DATES", f"{label}: dates (override)",
                                                           optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            "SECONDS", "Accumulation period for J m-2 -> W m-2 (s)", NUMBER_DOUBLE,
            86400.0, False, 1e-6))
        TimeSeriesInput.add_memory_parameter(self)
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", "Derived driver series"))

    def checkParameterValues(self, parameters, context):  # noqa: N802
        kind = KINDS.key(self, parameters, "KIND", context)
        n_in = DERIVATIONS[kind][0]
        for pre in ("FIRST", "SECOND")[:n_in]:
            if bool(parameters.get(pre)) == bool(parameters.get(f"{pre}_FILE")):
                return False, f"{kind}: give either {pre} (raster layer) or {pre}_FILE (file), not both or neither"
        if n_in == 1 and (parameters.get("SECOND") or parameters.get("SECOND_FILE")):
            return False, f"{kind} takes one input: leave SECOND empty"
        return super().checkParameterValues(parameters, context)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        kind = KINDS.key(self, parameters, "KIND", context)
        first = open_layer_or_file(self, parameters, context, "FIRST", "FIRST_FILE", "FIRST_VARIABLE",
                                   "FIRST_DATES", "FIRST")
        second = open_layer_or_file(self, parameters, context, "SECOND", "SECOND_FILE", "SECOND_VARIABLE",
                                    "SECOND_DATES", "SECOND")
        out = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        progress, cancelled = self.hooks(feedback)
        res = self.run_core(derive_raster, kind, first, out, second,
                            seconds=self.parameterAsDouble(parameters, "SECONDS", context),
                            budget_mb=self.parameterAsInt(parameters, TimeSeriesInput.MEMORY_MB, context),
                            progress=progress, cancelled=cancelled)
        feedback.pushInfo(f"{kind}: {res['formula']}; {len(first.dates)} bands, {res['valid']} of "
                          f"{res['pixels']} pixels with a value, units {res['units']}")
        return {"OUTPUT": out}
