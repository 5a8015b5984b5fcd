"""ecoresp:rfattribution — exploratory per-pixel random-forest importance of the drivers of
ER's interannual variability (docs/methods.md section 15)."""

import time

from qgis.core import (
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
)

from ..ecoresp_core.errors import InputError
from ..ecoresp_core.jobs.attribution import check_inputs, rf_raster
from ..ecoresp_core.attribution.rfattribution import DEFAULT_DEPTH, DEFAULT_TREES, FOREST_MB_MAX, pixel_bytes
from .base import Choices, TimeSeriesInput
from .partialcorrelation import AttributionAlgorithm, AttributionInputs
from .qgiscompat import FLAG_ADVANCED, NUMBER_DOUBLE, NUMBER_INTEGER, add_flags

# the keys are the core's IMPORTANCES, in their order
IMPORTANCE_CHOICES = Choices({
    "oob": "Out-of-bag permutation importance (Breiman)",
    "train": "Permutation importance on the training data (as scikit-learn's permutation_importance)"})


class RfAttributionAlgorithm(AttributionAlgorithm):
    NAME = "rfattribution"
    DISPLAY = "Attribution: random-forest driver importance (exploratory)"
    GROUP = "3 Trends and attribution"
    GROUP_ID = "trends"
    TAGS = ("attribution", "random forest", "permutation importance", "dominant driver", "driver importance",
            "interannual variability", "machine learning")
    HELP = (
        "<p><b>Exploratory.</b> Per pixel, a random forest of regression trees (bootstrap samples, "
        "squared-error splits, as scikit-learn's RandomForestRegressor) predicts detrended ER from the "
        "detrended drivers, and each driver's permutation importance (increase of the mean squared error "
        "when its values are shuffled, in units of ER's variance) measures its role. With ~30 years per "
        "pixel the importances are noisy, and collinear drivers share importance: read the maps as "
        "exploratory (methods guide shipped with the plugin, docs/methods.md, section \u201cInterannual "
        "variability: detrending, partial correlation, dominant driver\u201d). All trees of many pixels are "
        "grown at once (vectorised), and the random seed (advanced) makes the output reproducible, "
        "independent of the memory budget.</p>"
        + AttributionInputs.HELP + TimeSeriesInput.HELP +
        "<p><b>Compute budget</b>: the number of trees per pixel and the maximum tree depth set the cost; "
        "the compute budget in seconds (0 = no limit) stops the run, writing nothing, when the estimate "
        "after the first block exceeds it or when the time runs out (checked after each group of pixels). "
        "A run whose forest of a single pixel does not fit the memory budget (advanced) is refused before "
        "it starts: lower the number of trees or the depth.</p>"
        "<p><b>Outputs</b>: <i>Driver importances</i>, bands rel_&lt;driver&gt; (relative importance, "
        "summing to 1) and imp_&lt;driver&gt; (raw importance); <i>Most important driver</i>, the driver "
        "with the largest importance (0 none when no importance is positive, 255 nodata) with a ready "
        "style.</p>"
    )
    SEED = "SEED"
    N_TREES = "N_TREES"
    MAX_DEPTH = "MAX_DEPTH"
    MIN_SAMPLES_LEAF = "MIN_SAMPLES_LEAF"
    MAX_FEATURES = "MAX_FEATURES"
    IMPORTANCE = "IMPORTANCE"
    MAX_SECONDS = "MAX_SECONDS"
    MIN_BUDGET_S = 1.0  # reading, preparing and fitting the first block alone takes longer
    OUTPUT = "OUTPUT"
    DOMINANT = "DOMINANT"

    def initAlgorithm(self, config=None):  # noqa: N802
        AttributionInputs.add_parameters(self)
        self.addParameter(QgsProcessingParameterNumber(
            self.N_TREES, "Number of trees per pixel", NUMBER_INTEGER, DEFAULT_TREES,
            True, 1, 5000))
        self.addParameter(QgsProcessingParameterNumber(
            self.MAX_DEPTH, "Maximum tree depth", NUMBER_INTEGER, DEFAULT_DEPTH, True, 1, 16))
        self.addParameter(add_flags(QgsProcessingParameterNumber(
            self.SEED, "Random seed", NUMBER_INTEGER, 42, True, 0), FLAG_ADVANCED))
        self.addParameter(add_flags(IMPORTANCE_CHOICES.parameter(self.IMPORTANCE, "Importance", optional=True),
                                    FLAG_ADVANCED))
        self.addParameter(QgsProcessingParameterNumber(
            self.MAX_SECONDS, "Compute budget in seconds (0 = no limit)", NUMBER_DOUBLE,
            0.0, True, 0.0))
        for p in (QgsProcessingParameterNumber(self.MIN_SAMPLES_LEAF, "Minimum samples per leaf",
                                               NUMBER_INTEGER, 1, True, 1),
                  QgsProcessingParameterNumber(self.MAX_FEATURES, "Share of drivers tried at each split",
                                               NUMBER_DOUBLE, 1.0, True, 0.01, 1.0)):
            add_flags(p, FLAG_ADVANCED)
            self.addParameter(p)
        TimeSeriesInput.add_memory_parameter(self)
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT, "Driver importances, random forest (exploratory)",
            defaultValue=QgsProcessing.TEMPORARY_OUTPUT))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.DOMINANT, "Most important driver, random forest (exploratory)",
            defaultValue=QgsProcessing.TEMPORARY_OUTPUT))
        self.addOutput(QgsProcessingOutputNumber("N_COMPUTED", "Pixels computed"))

    def checkParameterValues(self, parameters, context):  # noqa: N802
        """Besides the shared checks: a compute budget that no run can meet is refused (the budget
        is checked against the estimate after the first block of rows)."""
        budget = parameters.get(self.MAX_SECONDS)
        if isinstance(budget, (int, float, str)) and budget != "":
            try:
                seconds = float(budget)
            except ValueError:
                seconds = None
            if seconds is not None and 0 < seconds < self.MIN_BUDGET_S:
                return False, (f"{self.parameter_label(self.MAX_SECONDS)}: {budget} s is less than any run takes; "
                               f"give 0 (no limit) or at least {self.MIN_BUDGET_S:g} s")
        return super().checkParameterValues(parameters, context)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        src, drivers, names, options = AttributionInputs.open(self, parameters, context, feedback)
        out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        dom = self.parameterAsOutputLayer(parameters, self.DOMINANT, context)
        progress, cancelled = self.hooks(feedback)
        max_seconds = self.parameterAsDouble(parameters, self.MAX_SECONDS, context)
        self.check_memory(parameters, context, src, drivers, names, options)
        progress = self.within_budget(progress, max_seconds)
        s = self.run_core(rf_raster, src, drivers, names, out, dom,
                          n_trees=self.parameterAsInt(parameters, self.N_TREES, context),
                          max_depth=self.parameterAsInt(parameters, self.MAX_DEPTH, context),
                          min_samples_leaf=self.parameterAsInt(parameters, self.MIN_SAMPLES_LEAF, context),
                          max_features=self.parameterAsDouble(parameters, self.MAX_FEATURES, context),
                          importance=IMPORTANCE_CHOICES.key(self, parameters, self.IMPORTANCE, context),
                          seed=self.parameterAsInt(parameters, self.SEED, context),
                          max_seconds=max_seconds if max_seconds > 0 else None,
                          progress=progress, cancelled=cancelled, **options)
        feedback.pushInfo(f"{s['computed']} pixels in {s['seconds']:.1f} s; most important driver: "
                          + ", ".join(f"{k} {v}" for k, v in s["by_driver"].items()) + " (exploratory)")
        return {self.OUTPUT: out, self.DOMINANT: dom, "N_COMPUTED": s["computed"]}

    def check_memory(self, parameters, context, src, drivers, names, options):
        """Refuses up front a forest of which one pixel does not fit the memory the job gives the
        forests of a block (``min(FOREST_MB_MAX, MEMORY_MB)``), naming the parameters."""
        try:
            n_steps = check_inputs(src, drivers, names, options["mode"], options["detrend"], options["min_valid"])
        except InputError:
            return  # the job reports it, with the input's name
        n_trees = self.parameterAsInt(parameters, self.N_TREES, context)
        depth = self.parameterAsInt(parameters, self.MAX_DEPTH, context)
        draw = round(self.parameterAsDouble(parameters, self.MAX_FEATURES, context) * len(names)) < len(names)
        need = pixel_bytes(n_trees, depth, n_steps, len(names), draw) / 2 ** 20
        memory = options["budget_mb"]
        allowed = min(FOREST_MB_MAX, memory)
        if need <= allowed:
            return
        raise_it = (f"or raise {self.parameter_label(TimeSeriesInput.MEMORY_MB)} to at least {int(need) + 1}"
                    if need <= FOREST_MB_MAX else
                    f"the forests of a block get at most {FOREST_MB_MAX} MB whatever the memory budget")
        raise QgsProcessingException(
            f"{self.parameter_label(self.N_TREES)} {n_trees} with {self.parameter_label(self.MAX_DEPTH)} {depth}: "
            f"the random forest of one pixel ({n_steps} time steps, {len(names)} drivers) needs about {need:.0f} MB "
            f"of working memory, more than the {allowed:.0f} MB that "
            f"{self.parameter_label(TimeSeriesInput.MEMORY_MB)} = {memory} gives it; nothing was computed: lower "
            f"N_TREES or MAX_DEPTH ({raise_it})")

    def within_budget(self, progress, max_seconds):
        """``progress`` that also stops the run (QgsProcessingException naming MAX_SECONDS) once the
        compute budget is spent; the core calls it after each group of pixels, so a block that
        holds the whole grid is stopped too."""
        if not max_seconds or max_seconds <= 0:
            return progress
        t0 = time.perf_counter()
        label = self.parameter_label(self.MAX_SECONDS)

        def hook(fraction):
            if progress is not None:
                progress(fraction)
            spent = time.perf_counter() - t0
            if fraction < 1.0 and spent > max_seconds:
                raise QgsProcessingException(
                    f"{label}: the budget of {max_seconds:g} s was spent after {100 * fraction:.1f} % of the run "
                    f"(the whole run would take about {spent / max(fraction, 1e-3):.0f} s); stopped, no output was "
                    "written: lower the number of trees or the depth, or raise the budget")
        return hook
