"""What every ecoresp algorithm shares: the group/help surface, the raster time-series
input parameters, and running the core with progress, Cancel and clear errors."""

import os

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)

from ..ecoresp_core.errors import Cancelled, EcorespError
from ..ecoresp_core.io.series import open_series


class EcorespAlgorithm(QgsProcessingAlgorithm):
    """Base class: subclasses set NAME, DISPLAY, GROUP, GROUP_ID and HELP."""

    NAME = DISPLAY = GROUP = GROUP_ID = HELP = ""

    def name(self):
        return self.NAME

    def displayName(self):  # noqa: N802
        return self.DISPLAY

    def group(self):
        return self.GROUP

    def groupId(self):  # noqa: N802
        return self.GROUP_ID

    def shortHelpString(self):  # noqa: N802
        return self.HELP

    def createInstance(self):  # noqa: N802
        return type(self)()

    # -- running the core ----------------------------------------------------------
    @staticmethod
    def hooks(feedback):
        """(progress(fraction 0..1), cancelled()) callables for the core."""
        if feedback is None:
            return None, None
        return (lambda f: feedback.setProgress(100.0 * f)), feedback.isCanceled

    @staticmethod
    def run_core(func, *args, **kwargs):
        """Call the core; its errors become QgsProcessingException with the same text."""
        try:
            return func(*args, **kwargs)
        except Cancelled:
            raise QgsProcessingException("Cancelled by the user; no output was written") from None
        except EcorespError as exc:
            raise QgsProcessingException(str(exc)) from None
        except MemoryError:
            raise QgsProcessingException("Out of memory: lower the memory budget (MEMORY_MB)") from None


class TimeSeriesInput:
    """The raster time-series input: a raster layer, or a file (multi-variable NetCDF)
    with a variable name, and optional explicit dates."""

    INPUT = "INPUT"
    INPUT_FILE = "INPUT_FILE"
    VARIABLE = "VARIABLE"
    DATES = "DATES"
    MEMORY_MB = "MEMORY_MB"

    HELP = (
        "<p><b>Time series input</b>: either a raster layer (GeoTIFF with one band per time step "
        "and the date YYYY-MM-DD in each band description, or a single-variable NetCDF with a CF "
        "time axis) or a file (e.g. a multi-variable NetCDF such as CRU TS) with its variable name. "
        "Dates come from the band descriptions or the NetCDF time axis; DATES overrides them with a "
        "list (1981-01-15, 1981-02-15, ...) or a start and step (1981-01/P1M, 1989/P1Y). "
        "Nodata and fill values are honoured.</p>"
    )

    @classmethod
    def add_parameters(cls, alg, what="time series"):
        alg.addParameter(QgsProcessingParameterRasterLayer(
            cls.INPUT, f"Input {what} (raster, one band per time step)", optional=True))
        alg.addParameter(QgsProcessingParameterFile(
            cls.INPUT_FILE, f"or input {what} file (e.g. multi-variable NetCDF)", optional=True,
            fileFilter="Raster time series (*.nc *.nc4 *.tif *.tiff *.vrt);;All files (*.*)"))
        alg.addParameter(QgsProcessingParameterString(
            cls.VARIABLE, "NetCDF variable name (for a multi-variable file)", optional=True))
        alg.addParameter(QgsProcessingParameterString(
            cls.DATES, "Dates (override): list, or start/step such as 1981-01/P1M", optional=True))

    @classmethod
    def add_memory_parameter(cls, alg):
        p = QgsProcessingParameterNumber(cls.MEMORY_MB, "Memory budget for raster blocks (MB)",
                                         QgsProcessingParameterNumber.Integer, 1024, False, 16, 65536)
        p.setFlags(p.flags() | p.FlagAdvanced)
        alg.addParameter(p)

    @classmethod
    def check(cls, alg, parameters, context):
        """(ok, message) for checkParameterValues: exactly one of INPUT / INPUT_FILE."""
        has_layer = bool(parameters.get(cls.INPUT))
        has_file = bool(parameters.get(cls.INPUT_FILE))
        if has_layer == has_file:
            return False, "Give either an input raster layer (INPUT) or an input file (INPUT_FILE), not both"
        return True, ""

    @classmethod
    def open(cls, alg, parameters, context):
        """Open the input series through the core; errors name the file and the problem."""
        path = alg.parameterAsFile(parameters, cls.INPUT_FILE, context)
        if not path:
            layer = alg.parameterAsRasterLayer(parameters, cls.INPUT, context)
            if layer is None:
                raise QgsProcessingException(f"INPUT: cannot load raster layer {parameters.get(cls.INPUT)!r}")
            path = layer.source()
            if path.upper().startswith("NETCDF:"):
                # NETCDF:"file":var -> file + variable
                body = path[len("NETCDF:"):]
                file_part, var = body.rsplit(":", 1)
                path = file_part.strip('"')
                variable = var
            else:
                variable = None
        else:
            variable = None
        variable = alg.parameterAsString(parameters, cls.VARIABLE, context) or variable
        dates = alg.parameterAsString(parameters, cls.DATES, context) or None
        if not os.path.exists(path):
            raise QgsProcessingException(f"{path}: file not found")
        return EcorespAlgorithm.run_core(open_series, path, variable, dates)


class TimeSeriesAlgorithm(EcorespAlgorithm):
    """An algorithm whose input is one raster time series (TimeSeriesInput)."""

    def checkParameterValues(self, parameters, context):  # noqa: N802
        ok, msg = TimeSeriesInput.check(self, parameters, context)
        if not ok:
            return ok, msg
        return super().checkParameterValues(parameters, context)
