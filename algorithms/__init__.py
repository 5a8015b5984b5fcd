"""Processing algorithms, one per file; each is thin: read and check parameters, call
``ecoresp_core``, write outputs.

The modules are imported one by one: a module that cannot be imported because a third-party Python
package is missing (pandas, scipy, ...) becomes an algorithm with the same id, name and group that
says which package it needs and how to install it (it cannot run); the provider loads all the same.
Any other import error is a bug and is raised."""

import ast
import importlib
import os

from qgis.core import QgsProcessingAlgorithm, QgsProcessingException

from .dependencies import RUN_TIME, missing_message, missing_package, unavailable
from .helpdocs import algorithm_tags, help_url
from .icons import algorithm_icon, algorithm_icon_path

# (module, class) in pipeline order: u* threshold -> gap filling -> site partitioning -> upscaling ->
# trends and attribution
MODULES = [("ustarthreshold", "UstarThresholdAlgorithm"), ("gapfill", "GapfillAlgorithm"),
           ("partition", "PartitionAlgorithm"), ("isotopepartition", "IsotopePartitionAlgorithm"),
           ("evaluate", "EvaluateAlgorithm"),
           ("sitemonthtable", "SiteMonthTableAlgorithm"), ("derivedriver", "DeriveDriverAlgorithm"),
           ("fitupscaler", "FitUpscalerAlgorithm"), ("predictupscaler", "PredictUpscalerAlgorithm"),
           ("integrate", "IntegrateAlgorithm"),
           ("trend", "TrendAlgorithm"), ("detrend", "DetrendAlgorithm"),
           ("partialcorrelation", "PartialCorrelationAlgorithm"), ("rfattribution", "RfAttributionAlgorithm"),
           ("attributionzones", "AttributionZonesAlgorithm")]

_HERE = os.path.dirname(os.path.abspath(__file__))
_OWN = (__name__.split(".")[0], "ecoresp", "ecoresp_core")


def class_info(module, cls_name):
    """NAME, DISPLAY, GROUP, GROUP_ID and TAGS of class ``cls_name``, read from the source of
    ``module`` without importing it (its imports are what failed)."""
    info = {"NAME": module, "DISPLAY": module, "GROUP": "ecoresp", "GROUP_ID": "", "TAGS": ()}
    with open(os.path.join(_HERE, f"{module}.py"), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == cls_name:
            for stmt in node.body:
                if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 \
                        and isinstance(stmt.targets[0], ast.Name) and stmt.targets[0].id in info:
                    try:
                        info[stmt.targets[0].id] = ast.literal_eval(stmt.value)
                    except ValueError:
                        pass
    return info


class MissingPackageAlgorithm(QgsProcessingAlgorithm):
    """Stands for an algorithm whose module needs a Python package that is not installed: same id,
    name, group and icon; cannot run, and says which package to install and how."""

    def __init__(self, info, packages):
        super().__init__()
        self.info, self.packages = info, list(packages)
        self.message = f"{info['DISPLAY']} {missing_message(self.packages)}"

    def createInstance(self):  # noqa: N802
        return MissingPackageAlgorithm(self.info, self.packages)

    def name(self):
        return self.info["NAME"]

    def displayName(self):  # noqa: N802
        return self.info["DISPLAY"]

    def group(self):
        return self.info["GROUP"]

    def groupId(self):  # noqa: N802
        return self.info["GROUP_ID"]

    def tags(self):
        return algorithm_tags(tuple(self.info["TAGS"]))

    def helpUrl(self):  # noqa: N802
        return help_url(self.info["NAME"])

    def icon(self):
        return algorithm_icon(self.info["GROUP_ID"])

    def svgIconPath(self):  # noqa: N802
        return algorithm_icon_path(self.info["GROUP_ID"])

    def shortHelpString(self):  # noqa: N802
        return f"<p><b>Not available</b>: {self.message}.</p>"

    def initAlgorithm(self, config=None):  # noqa: N802
        pass

    def canExecute(self):  # noqa: N802
        return False, self.message

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        raise QgsProcessingException(self.message)


def _needs_at_run_time(cls, packages):
    """``cls`` (which imported) unable to run because ``packages`` it imports when running are missing:
    the dialog keeps its parameters; canExecute and a run say what to install."""
    message = f"{cls.DISPLAY} {missing_message(packages)}"

    def can_execute(self):
        return False, message

    def check(self, parameters, context):  # before the parameters' own checks: the message that matters
        return False, message

    def process(self, parameters, context, feedback):
        raise QgsProcessingException(message)

    return type(cls.__name__, (cls,), {"canExecute": can_execute, "checkParameterValues": check,
                                       "processAlgorithm": process, "MISSING_PACKAGES": tuple(packages)})


def load(module, cls_name):
    """The algorithm class of ``module``, or a factory of a MissingPackageAlgorithm when the module
    needs a package that is missing; errors that are not a missing third-party package are raised."""
    try:
        cls = getattr(importlib.import_module(f"{__name__}.{module}"), cls_name)
    except ModuleNotFoundError as exc:
        package = missing_package(exc, own=_OWN)
        if package is None:
            raise
        info = class_info(module, cls_name)

        def factory():
            return MissingPackageAlgorithm(info, [package])
        factory.NAME, factory.MISSING_PACKAGES = info["NAME"], (package,)
        return factory
    missing = unavailable(RUN_TIME.get(cls.NAME, ()))
    return _needs_at_run_time(cls, missing) if missing else cls


# each entry is called without arguments to make the algorithm (provider.loadAlgorithms)
ALGORITHMS = [load(module, cls_name) for module, cls_name in MODULES]
globals().update({cls_name: alg for (_, cls_name), alg in zip(MODULES, ALGORITHMS)})
