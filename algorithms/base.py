"""What every ecoresp algorithm shares: the group/help surface, the raster time-series
input parameters, the parameter helpers (enum options as one key -> label table, key=value
lists through the core's one parser), and running the core with progress, Cancel and clear
errors: one error boundary around every processAlgorithm."""

import contextlib
import functools
import os
import signal
import threading
import traceback

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)

from ..ecoresp_core.common.keyvalue import BOTH, parse_list, parse_pairs
from ..ecoresp_core.errors import Cancelled, EcorespError
from ..ecoresp_core.io.series import open_series, split_source
from .helpdocs import algorithm_tags, help_url
from .icons import algorithm_icon, algorithm_icon_path
from .checks import number_problem
from .dependencies import missing_message, missing_package
from .destinations import check_destinations, check_input_files, check_values, name_the_input
from .loading import DEFAULT_TITLES, INPUT_TYPES, attach, input_subject
from .qgiscompat import FLAG_ADVANCED, NUMBER_INTEGER, add_flags
from .staging import staged_tables


def processing_error(exc, feedback=None):
    """The QgsProcessingException that reports ``exc``: the core's errors (EcorespError) with their
    own text, Cancel and memory exhaustion with what to do; any other exception is a bug in
    ecoresp: it is named, and its traceback goes to the log (``feedback``)."""
    if isinstance(exc, QgsProcessingException):
        return exc
    if isinstance(exc, StoppedBySignal):
        return QgsProcessingException(f"{exc}; no output was written")
    if isinstance(exc, Cancelled):
        return QgsProcessingException("Cancelled by the user; no output was written")
    if isinstance(exc, EcorespError):
        return QgsProcessingException(str(exc))
    if isinstance(exc, MemoryError):
        return QgsProcessingException("Out of memory: lower the advanced parameter 'Memory budget for raster "
                                      "blocks (MB)' (MEMORY_MB)")
    if isinstance(exc, OSError) and exc.filename:  # a file that cannot be read or written
        return QgsProcessingException(f"{exc.filename}: {exc.strerror or exc}")
    package = missing_package(exc)  # a package needed only by this run's options (cftime for NetCDF, ...)
    if package is not None:
        return QgsProcessingException(f"This run {missing_message([package])}")
    if feedback is not None:
        feedback.reportError(traceback.format_exc(), False)
    return QgsProcessingException(f"internal error, please report it with the log: {type(exc).__name__}: {exc}")


class StoppedBySignal(Cancelled):
    """The run was stopped by SIGINT or SIGTERM (Ctrl+C, kill, a scheduler's time limit)."""


@contextlib.contextmanager
def signals_cancel():
    """Within the block, SIGINT and SIGTERM stop the run as Cancel does: the exception unwinds
    through the core, which removes its temporary outputs and closes its helper processes. Only
    where Python can take signals (the main thread: qgis_process; the desktop runs algorithms in
    a worker thread and has its Cancel button)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise StoppedBySignal(f"stopped by {signal.Signals(signum).name}")
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[signum] = signal.signal(signum, stop)
        except (ValueError, OSError):  # not allowed here
            pass
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


def _error_boundary(process):
    """``process`` (a processAlgorithm) with every exception it raises reported by processing_error
    (with the label of the input the message is about in front: destinations.name_the_input).
    The exception is raised outside the ``except`` block: the traceback of the original one, which
    may hold layers (freed late, they crash QGIS 3.22 at exit), is released first."""
    @functools.wraps(process)
    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        # the checks again: a model runs its children without checkParameterValues (QGIS's
        # QgsProcessingModelAlgorithm), and a bad value must be refused there with the same message
        ok, message = self.checkParameterValues(parameters, context)
        if not ok:
            raise QgsProcessingException(message)
        try:
            # tables written to files are renamed to their destinations only if the whole run succeeds
            with signals_cancel(), staged_tables(self):
                results = process(self, parameters, context, feedback)
        except Exception as exc:  # noqa: BLE001 - the one boundary: everything is reported
            error = processing_error(exc, feedback)
            try:
                error = QgsProcessingException(name_the_input(self, parameters, context, str(error)))
            except Exception:  # noqa: BLE001 - the message as it is
                pass
        else:
            self.prepare_loading(parameters, context, feedback, results)
            return results
        raise error
    processAlgorithm.error_boundary = True
    return processAlgorithm


class Choices:
    """The options of an enum parameter in one table, ``{key: label}``: the key is what the core
    takes, the label what the dialog shows; the order is the parameter's (a saved model stores
    the index)."""

    def __init__(self, table):
        self.keys, self.labels = list(table), list(table.values())

    def parameter(self, name, description, default=0, **kwargs):
        """The QgsProcessingParameterEnum offering the labels."""
        return QgsProcessingParameterEnum(name, description, self.labels, defaultValue=default, **kwargs)

    def key(self, alg, parameters, name, context):
        """The key of the chosen option."""
        return self.keys[alg.parameterAsEnum(parameters, name, context)]


# what a zones raster holds (ecoresp:integrate, ecoresp:attributionzones)
ZONE_TYPES = Choices({"categorical": "category codes", "mat": "mean annual temperature (degC)"})


class EcorespAlgorithm(QgsProcessingAlgorithm):
    """Base class: subclasses set NAME, DISPLAY, GROUP, GROUP_ID and HELP, and define initAlgorithm
    and processAlgorithm; every subclass's processAlgorithm runs inside one error boundary
    (processing_error), so no core error, Cancel or bug leaves it as a raw Python exception."""

    NAME = DISPLAY = GROUP = GROUP_ID = HELP = ""
    TAGS = ()  # words the toolbox search finds this algorithm by (besides the common ones, algorithms/helpdocs.py)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        process = cls.__dict__.get("processAlgorithm")
        if process is not None and not getattr(process, "error_boundary", False):
            cls.processAlgorithm = _error_boundary(process)

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

    def helpUrl(self):  # noqa: N802
        return help_url(self.NAME)

    def tags(self):
        return algorithm_tags(self.TAGS)

    def icon(self):
        return algorithm_icon(self.GROUP_ID)

    def svgIconPath(self):  # noqa: N802
        return algorithm_icon_path(self.GROUP_ID)

    def checkParameterValues(self, parameters, context):  # noqa: N802
        """Numbers in their ranges (algorithms/checks.py), values each parameter accepts, inputs
        that exist and can be read, outputs that can be written and overwrite no input
        (algorithms/destinations.py), then QGIS's own checks."""
        problem = number_problem(self, parameters)
        if problem:
            return False, problem
        for check in (check_input_files, check_values, check_destinations):
            ok, message = check(self, parameters, context)
            if not ok:
                return ok, message
        return super().checkParameterValues(parameters, context)

    def createInstance(self):  # noqa: N802
        return type(self)()

    # -- how the results load into the project (algorithms/loading.py) ---------------------------
    LAYER_TITLES = {}  # {output name: layer title}, e.g. {"OUTPUT": "trend slope"}

    def layer_subject(self, parameters, context):
        """What the run is about, the first part of its layer names ("tas" in "tas: trend slope"):
        the NetCDF variable, the site id, or the subject of the input (algorithms/loading.py
        input_subject: the layer's name, the file's name or a FLUXNET site id in it, for an earlier
        step's temporary output the subject in its provenance). Override for another subject."""
        for name in ("VARIABLE", "SITE_ID"):
            if self.parameterDefinition(name) is not None and parameters.get(name):
                text = self.parameterAsString(parameters, name, context).strip()
                if text:
                    return text
        for name in ("INPUT", "INPUT_FILE", "INPUTS", "DOMINANT", "MODEL"):
            value = parameters.get(name)
            if isinstance(value, (list, tuple)):  # several inputs: a subject only when there is one
                value = value[0] if len(value) == 1 else None
            definition = self.parameterDefinition(name)
            if definition is not None and definition.type() in INPUT_TYPES and value not in (None, ""):
                subject = input_subject(value, context)
                if subject:
                    return subject
        return ""

    def layer_title(self, output):
        """The second part of the layer name of ``output`` ("trend slope"): LAYER_TITLES, the
        defaults of algorithms/loading.py, else the output's description."""
        titles = {**DEFAULT_TITLES.get(self.NAME, {}), **self.LAYER_TITLES}
        if output in titles:
            return titles[output]
        definition = self.parameterDefinition(output) or self.outputDefinition(output)
        return definition.description() if definition is not None else output

    def run_group_name(self, subject):
        """The layer-tree group of a run with several loaded outputs ("ecoresp trend tas")."""
        return f"ecoresp {self.NAME} {subject}".strip()

    def prepare_loading(self, parameters, context, feedback, results):
        """Name, style and group the outputs QGIS will load (algorithms/loading.py); a failure here
        is reported and never fails the run."""
        try:
            attach(self, parameters, context, results)
        except Exception as exc:  # noqa: BLE001 - loading hints must never lose a result
            if feedback is not None:
                feedback.pushWarning(f"results are loaded without their ecoresp names and styles ({exc})")

    # -- running the core ----------------------------------------------------------
    @staticmethod
    def hooks(feedback):
        """(progress(fraction 0..1), cancelled()) callables for the core."""
        if feedback is None:
            return None, None
        return (lambda f: feedback.setProgress(100.0 * f)), feedback.isCanceled

    @staticmethod
    def run_core(func, *args, **kwargs):
        """Call the core; its errors become QgsProcessingException with the same text (as at the
        boundary; also for core calls made outside processAlgorithm, e.g. checkParameterValues)."""
        try:
            return func(*args, **kwargs)
        except (EcorespError, MemoryError) as exc:
            error = processing_error(exc)
        raise error

    @staticmethod
    def read_input(label, func, *args, **kwargs):
        """Call a core reader of the input parameter ``label`` ('Label (NAME)'); its errors become
        QgsProcessingException with the label in front, so the message says which input is wrong."""
        try:
            return func(*args, **kwargs)
        except (EcorespError, MemoryError) as exc:
            error = processing_error(exc)
        raise QgsProcessingException(f"{label}: {error}")

    # -- parameter helpers -----------------------------------------------------------------------
    def pairs(self, parameters, name, context, form="name=value", separators=BOTH):
        """``[(key, value), ...]`` of a ``key=value`` list parameter (ecoresp_core.common.keyvalue);
        an entry without '=' is an error naming the parameter."""
        return self.run_core(parse_pairs, self.parameterAsString(parameters, name, context),
                             self.parameter_label(name), form, separators)

    def parameter_label(self, name):
        """'Label (NAME)' of a parameter, as error messages name it."""
        definition = self.parameterDefinition(name)
        return f"{definition.description()} ({name})" if definition is not None else name

    def names(self, parameters, name, context, separators=BOTH):
        """The items of a list parameter given as text ('DE-Hai, FR-Pue')."""
        return parse_list(self.parameterAsString(parameters, name, context), separators)

    def optional_number(self, parameters, name, context):
        """The value of an optional number parameter without a default; None when not given."""
        if parameters.get(name) in (None, ""):
            return None
        return self.parameterAsDouble(parameters, name, context)


class TimeSeriesInput:
    """The raster time-series input: a raster layer, or a file (multi-variable NetCDF)
    with a variable name, and optional explicit dates."""

    INPUT = "INPUT"
    INPUT_FILE = "INPUT_FILE"
    VARIABLE = "VARIABLE"
    DATES = "DATES"
    MEMORY_MB = "MEMORY_MB"

    HELP = (
        "<p><b>Time series input</b>: exactly one of the two inputs is required: either a raster "
        "layer (GeoTIFF with one band per time step and the date YYYY-MM-DD in each band description, "
        "or a single-variable NetCDF with a CF time axis), or a file (e.g. a multi-variable NetCDF "
        "such as CRU TS) and the variable in it, chosen from the file's variables in the list. "
        "Dates come from the band descriptions or the NetCDF time axis; the advanced parameter "
        "<i>Dates (override)</i> replaces them with a list (1981-01-15, 1981-02-15, ...) or a start "
        "and step (1981-01/P1M, 1989/P1Y). Nodata and fill values are honoured.</p>"
    )

    @staticmethod
    def dialog_widget(class_name, **options):
        """Parameter metadata giving the parameter the dialog widget ``class_name`` of
        algorithms/widgets.py (imported by the Processing dialogs only, never by qgis_process)."""
        return {"widget_wrapper": {"class": f"{__name__.rpartition('.')[0]}.widgets.{class_name}", **options}}

    @classmethod
    def add_parameters(cls, alg, what="time series"):
        alg.addParameter(QgsProcessingParameterRasterLayer(
            cls.INPUT, f"Input {what} (raster layer, one band per time step)", optional=True))
        alg.addParameter(QgsProcessingParameterFile(
            cls.INPUT_FILE, "... or a file instead (multi-variable NetCDF such as CRU TS)",
            optional=True,
            fileFilter="Raster time series (*.nc *.nc4 *.tif *.tiff *.vrt);;All files (*.*)"))
        p = QgsProcessingParameterString(cls.VARIABLE, "Variable in the file (for a multi-variable NetCDF)",
                                         optional=True)
        p.setMetadata(cls.dialog_widget("VariableWidgetWrapper", file_parameter=cls.INPUT_FILE))
        alg.addParameter(p)
        p = QgsProcessingParameterString(
            cls.DATES, "Dates (override): list, or start/step such as 1981-01/P1M", optional=True)
        add_flags(p, FLAG_ADVANCED)
        alg.addParameter(p)

    @classmethod
    def add_memory_parameter(cls, alg):
        p = QgsProcessingParameterNumber(cls.MEMORY_MB, "Memory budget for raster blocks (MB)",
                                         NUMBER_INTEGER, 1024, False, 16, 65536)
        add_flags(p, FLAG_ADVANCED)
        alg.addParameter(p)

    @classmethod
    def check(cls, alg, parameters, context):
        """(ok, message) for checkParameterValues: exactly one of INPUT / INPUT_FILE."""
        has_layer = bool(parameters.get(cls.INPUT))
        has_file = bool(parameters.get(cls.INPUT_FILE))
        if has_layer == has_file:
            return False, (f"Give either an input raster layer ('{alg.parameter_label(cls.INPUT)}') or an "
                           f"input file ('{alg.parameter_label(cls.INPUT_FILE)}'): exactly one of the two, "
                           + ("not both" if has_layer else "none is given"))
        return True, ""

    @classmethod
    def open(cls, alg, parameters, context):
        """Open the input series through the core; errors name the file and the problem."""
        path = alg.parameterAsFile(parameters, cls.INPUT_FILE, context)
        if not path:
            layer = alg.parameterAsRasterLayer(parameters, cls.INPUT, context)
            if layer is None:
                raise QgsProcessingException(f"{alg.parameter_label(cls.INPUT)}: cannot load raster layer "
                                             f"{parameters.get(cls.INPUT)!r}")
            path, variable = split_source(layer.source())
        else:
            variable = None
        variable = alg.parameterAsString(parameters, cls.VARIABLE, context) or variable
        dates = alg.parameterAsString(parameters, cls.DATES, context) or None
        label = alg.parameter_label(cls.INPUT_FILE if parameters.get(cls.INPUT_FILE) else cls.INPUT)
        if not os.path.exists(path):
            raise QgsProcessingException(f"{label}: file not found: {path}")
        return EcorespAlgorithm.read_input(label, open_series, path, variable, dates, alg.parameter_label(cls.DATES))


def zone_names_parameter(alg, parameters, context, name="ZONE_NAMES"):
    """{code: name} from a 'code=name, code=name' string parameter."""
    out = {}
    for code, label in alg.pairs(parameters, name, context, "code=name"):
        try:
            out[int(code)] = label
        except ValueError:
            raise QgsProcessingException(f"{alg.parameter_label(name)}: entry {code + '=' + label!r} is not "
                                         "code=name with a whole number as code") from None
    return out


class DriverSources:
    """Driver rasters for algorithms that take several: raster layers (DRIVERS; the layer name is
    the driver name) and/or files given as text (DRIVER_FILES), which is how a multi-variable
    NetCDF such as a CRU TS or ERA5 file is passed (QGIS 3.22 does not accept
    ``NETCDF:"file":var`` as a layer)."""

    LAYERS = "DRIVERS"
    FILES = "DRIVER_FILES"
    HELP_FILES = ("<i>Driver files</i>: <i>name=source</i> entries separated by ';', where source is a raster "
                  "file or NETCDF:\"file.nc\":variable (e.g. TA=NETCDF:\"/data/climate.nc\":tmp for the "
                  "variable tmp of a multi-variable NetCDF such as CRU TS).")

    @classmethod
    def add_files_parameter(cls, alg):
        alg.addParameter(QgsProcessingParameterString(
            cls.FILES, "Driver files: name=file; name=NETCDF:\"file.nc\":variable; ...",
            optional=True))

    @classmethod
    def given(cls, parameters):
        return bool(parameters.get(cls.LAYERS)) or bool(str(parameters.get(cls.FILES) or "").strip())

    @classmethod
    def sources(cls, alg, parameters, context, names=None):
        """Ordered list of (name, path, variable): the layers first (named by ``names`` when
        given, else by their layer names), then the DRIVER_FILES entries.  Names must be unique."""
        out = []
        layers = alg.parameterAsLayerList(parameters, cls.LAYERS, context) if parameters.get(cls.LAYERS) else []
        if names and len(names) != len(layers):
            raise QgsProcessingException(f"{alg.parameter_label('DRIVER_NAMES')}: {len(names)} names for "
                                         f"{len(layers)} driver layers")
        given_in = []  # the parameter of each driver, for the messages
        for i, layer in enumerate(layers):
            path, variable = split_source(layer.source())
            out.append((names[i] if names else layer.name(), path, variable))
            given_in.append(cls.LAYERS)
        # ';' only: a file path may hold ','
        entries = alg.pairs(parameters, cls.FILES, context, "name=source", ";") \
            if parameters.get(cls.FILES) else []
        for name, source in entries:
            path, variable = split_source(source)
            if not name or not path:
                raise QgsProcessingException(f"{alg.parameter_label(cls.FILES)}: entry {name + '=' + source!r} "
                                             "lacks a name or a source")
            out.append((name, path, variable))
            given_in.append(cls.FILES)
        seen = set()
        for (name, path, _), parameter in zip(out, given_in):
            label = alg.parameter_label(parameter)
            if name in seen:
                raise QgsProcessingException(f"{label}: two drivers are named {name!r}; rename a layer or give "
                                             "other names")
            seen.add(name)
            if not os.path.exists(path):
                raise QgsProcessingException(f"{label}: driver {name}: {path}: file not found")
        return out


class TimeSeriesAlgorithm(EcorespAlgorithm):
    """An algorithm whose input is one raster time series (TimeSeriesInput)."""

    def checkParameterValues(self, parameters, context):  # noqa: N802
        ok, msg = TimeSeriesInput.check(self, parameters, context)
        if not ok:
            return ok, msg
        return super().checkParameterValues(parameters, context)
