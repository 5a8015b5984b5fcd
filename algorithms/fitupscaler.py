"""ecoresp:fitupscaler — fit the upscaling model on a site-month table with site-grouped CV."""

import os

from qgis.core import (QgsProcessingException, QgsProcessingOutputNumber, QgsProcessingParameterFeatureSink,
                       QgsProcessingParameterFeatureSource, QgsProcessingParameterField,
                       QgsProcessingParameterFileDestination, QgsProcessingParameterNumber,
                       QgsProcessingParameterExpression, QgsProcessingParameterString)

from ..ecoresp_core.errors import OutputError
from ..ecoresp_core.upscaling.drivers import missing_codes_as_nan
from ..ecoresp_core.upscaling.fit import fit_upscaler, prepare
from ..ecoresp_core.upscaling.model import check_driver_name, save_model
from .base import Choices, EcorespAlgorithm, TimeSeriesInput
from .checks import expression_problem
from .destinations import input_files
from .qgiscompat import (FIELD_NUMERIC, FLAG_ADVANCED, NUMBER_INTEGER, SOURCE_VECTOR, add_flags,
                         parameter_as_strings)
from .tables import source_to_dataframe, write_table

MODELS = Choices({"rf": "Random forest (default)",
                  "search": "Search: random forest, gradient boosting, neural network (nested hyper-parameter "
                            "search)"})


# the ER column of the site-month table (ecoresp:sitemonthtable; ecoresp_core/upscaling/sitemonth.py)
DEFAULT_TARGET = "ER_gC_m2_d"
# site-month columns that are never a target: keys, counts, coordinates, coverage
NOT_TARGETS = {"site_id", "year", "month", "n_records", "n_expected", "latitude", "longitude", "utc_offset_h",
               "quality_ok", "resolution", "date", "time", "timestamp", "doy", "fid", "id"}


def not_a_target(name, group="site_id"):
    """Whether field ``name`` of a site-month table cannot be the ER target: a key (site, year,
    month), the site field ``group``, a count, a coordinate or a coverage fraction."""
    low = str(name).strip().lower()
    return (low in {n.lower() for n in NOT_TARGETS} or low == str(group).strip().lower()
            or low.startswith("frac_") or low.endswith("_frac_measured"))


def looks_binary(path):
    """Whether ``path``, a file of a text table format (.csv, .tsv, .txt), holds binary data (a NUL
    byte in its first 64 KiB): a damaged file or one of another format, which OGR still reads as
    text with a garbled header."""
    if os.path.splitext(path)[1].lower() not in (".csv", ".tsv", ".txt"):
        return False
    try:
        with open(path, "rb") as fh:
            return b"\0" in fh.read(65536)
    except OSError:
        return False


def respiration_field(names):
    """The field of a site-month table to fit by default: the ER column of an ecoresp table, else the
    first RECO_* / ER_* column (night-time partitioning first, as in FLUXNET2015); None if none."""
    names = [str(n) for n in names]
    if DEFAULT_TARGET in names:
        return DEFAULT_TARGET
    for prefix in ("RECO_NT", "RECO_", "ER_", "RECO", "ER"):
        for name in names:
            if name.upper().startswith(prefix) and not not_a_target(name):
                return name
    return None


class FitUpscalerAlgorithm(EcorespAlgorithm):
    NAME = "fitupscaler"
    DISPLAY = "Fit upscaling model (site-grouped cross-validation)"
    GROUP = "2 Upscaling"
    GROUP_ID = "upscaling"
    TAGS = ("upscaling", "random forest", "machine learning", "cross-validation", "gradient boosting",
            "neural network", "site-month", "FLUXNET", "permutation importance")
    HELP = (
        "<p>Fits a model of ER (e.g. site-month RECO in g C m-2 d-1) from drivers (temperature, "
        "radiation, VPD, land cover, ...) on a site-month table (e.g. the output of <i>Site-month ER "
        "table with drivers</i>). The <b>target field</b> is the respiration column: ER_gC_m2_d of an "
        "ecoresp site-month table by default, or RECO_NT_gC_m2_d / RECO_DT_gC_m2_d of a FLUXNET2015 one; a time "
        "or site column (year, month, site_id, ...) is refused. Text features (e.g. IGBP) are "
        "one-hot encoded; their categories are stored in the model.</p>"
        "<p><b>Model</b>: a random forest (100-500 trees, min_samples_leaf 3), or a randomized "
        "hyper-parameter search over a random forest, gradient boosting and a neural network "
        "(StandardScaler + MLP); the search is nested inside each training part with its own "
        "site-grouped folds.</p>"
        "<p><b>Cross-validation</b> is grouped by the <i>Site field</i>: a site is never split "
        "between training and test (random splits of site-months inflate the scores). <i>Cross-validation "
        "metrics</i> gets one row per fold and part (train/test), the mean over folds and the pooled "
        "out-of-fold predictions: R2 (Pearson r squared), EF (Nash-Sutcliffe, sklearn r2_score), RMSE, MAE, "
        "ME, RMSLE (negative values left out and counted). <i>Permutation importances</i>: on the "
        "held-out folds (mean drop of EF when one feature is shuffled). <i>Use only the site-months "
        "where</i> selects the rows used (e.g. a coverage threshold: to_real(\"frac_measured\") &gt;= 0.2 "
        "or \"quality_ok\" = 1).</p>"
        "<p><b>Model file</b> (.npz): numeric arrays and a JSON record (features, units, order, "
        "categories, training ranges, target, seed, CV metrics, library versions) with a SHA-256 "
        "checksum. It is not a pickle: loading it never runs code carried in the file, and a file "
        "damaged by accident is refused (the checksum is not a signature: an edited, re-hashed model is "
        "used as it is; see the user guide). Give the <i>units of the features</i>: <i>Predict ER with an upscaling "
        "model</i> shows them with the drivers the model expects. Methods guide shipped with the plugin "
        "(docs/methods.md), section \u201cGlobal upscaling (1989\u20132018, 0.5\u00b0, monthly)\u201d.</p>"
    )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterFeatureSource(
            "INPUT", "Site-month table", [SOURCE_VECTOR]))
        p = QgsProcessingParameterField("TARGET", "Target field (ER)", DEFAULT_TARGET, "INPUT", FIELD_NUMERIC)
        p.setMetadata(TimeSeriesInput.dialog_widget("TargetFieldWidgetWrapper"))
        self.addParameter(p)
        self.addParameter(QgsProcessingParameterField("FEATURES", "Feature fields (drivers)", None, "INPUT",
                                                      allowMultiple=True))
        self.addParameter(QgsProcessingParameterField("GROUP", "Site field (CV groups)", "site_id", "INPUT"))
        self.addParameter(QgsProcessingParameterExpression(
            "FILTER", "Use only the site-months where (expression, e.g. \"quality_ok\" = 1)", None, "INPUT",
            optional=True))
        self.addParameter(QgsProcessingParameterString(
            "UNITS", "Units of the features (name=unit, comma separated)", optional=True))
        self.addParameter(QgsProcessingParameterString("TARGET_UNIT", "Unit of the target", "g C m-2 d-1",
                                                       optional=True))
        self.addParameter(MODELS.parameter("MODEL", "Model"))
        self.addParameter(QgsProcessingParameterNumber("FOLDS", "Cross-validation folds (grouped by site)",
                                                       NUMBER_INTEGER, 5, False, 2, 50))
        self.addParameter(add_flags(QgsProcessingParameterNumber("SEED", "Random seed",
                                                                 NUMBER_INTEGER, 0, False, 0), FLAG_ADVANCED))
        p = QgsProcessingParameterNumber("TREES", "Trees (forest) / boosting stages",
                                         NUMBER_INTEGER, 200, False, 5, 5000)
        add_flags(p, FLAG_ADVANCED)
        self.addParameter(p)
        p = QgsProcessingParameterNumber("N_ITER", "Search: parameter sets tried per model family",
                                         NUMBER_INTEGER, 8, False, 1, 200)
        add_flags(p, FLAG_ADVANCED)
        self.addParameter(p)
        p = QgsProcessingParameterNumber("THREADS", "Threads for the forests (0 = all cores; results do not "
                                         "depend on it)", NUMBER_INTEGER, 0, False, 0, 256)
        add_flags(p, FLAG_ADVANCED)
        self.addParameter(p)
        self.addParameter(QgsProcessingParameterFileDestination(
            "OUTPUT", "Upscaling model file", "ecoresp upscaling model (*.npz)"))
        self.addParameter(QgsProcessingParameterFeatureSink("METRICS", "Cross-validation metrics (per fold)",
                                                            SOURCE_VECTOR, optional=True,
                                                            createByDefault=True))
        self.addParameter(QgsProcessingParameterFeatureSink("IMPORTANCE", "Permutation importances of the drivers",
                                                            SOURCE_VECTOR, optional=True,
                                                            createByDefault=True))
        self.addOutput(QgsProcessingOutputNumber("CV_R2", "Mean test R2 over the folds"))
        self.addOutput(QgsProcessingOutputNumber("CV_RMSE", "Mean test RMSE over the folds"))

    def checkParameterValues(self, parameters, context):  # noqa: N802
        problem = expression_problem(self, parameters, "FILTER")
        if problem:
            return False, problem
        target = parameters.get("TARGET")
        target = target[0] if isinstance(target, (list, tuple)) and target else target
        if isinstance(target, str) and target:
            group = parameters.get("GROUP") or "site_id"
            group = group[0] if isinstance(group, (list, tuple)) and group else group
            if not_a_target(target, group):
                return False, (f"{self.parameter_label('TARGET')}: {target!r} is a time, site or coverage "
                               f"column, not a respiration; choose the ER column ({DEFAULT_TARGET} of an "
                               "ecoresp site-month table, RECO_NT_gC_m2_d of a FLUXNET2015 one)")
        return super().checkParameterValues(parameters, context)

    def _table_name(self, source, parameters, context, fields):
        """'Site-month table (INPUT): <file>' (the label alone for a layer that is no file), as the
        messages about the table name it; refuses a file of binary content read as a text table
        whose fields are missing (a damaged file, or one of another format)."""
        label = self.parameter_label("INPUT")
        path = dict(input_files(self, parameters, context)).get("INPUT", "")
        if not path:
            return label
        names = source.fields().names()
        if any(f not in names for f in fields) and looks_binary(path):
            raise QgsProcessingException(f"{label}: {path} is not a table: it holds binary data, not text "
                                         "(a damaged file, or one of another format?)")
        return f"{label}: {path}"

    def save(self, model, path):
        """Write the model file; a write that fails (a full disk) names the output by its label."""
        try:
            save_model(model, path)
        except OutputError as exc:
            error = QgsProcessingException(f"{self.parameter_label('OUTPUT')}: {exc}")
        else:
            return
        raise error

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        source = self.parameterAsSource(parameters, "INPUT", context)
        if source is None:
            raise QgsProcessingException(f"{self.parameter_label('INPUT')}: cannot read the table")
        target = self.parameterAsString(parameters, "TARGET", context)
        features = parameter_as_strings(self, parameters, "FEATURES", context)
        group = self.parameterAsString(parameters, "GROUP", context)
        if not features:
            raise QgsProcessingException(f"{self.parameter_label('FEATURES')}: choose at least one feature field")
        for name in features:
            self.read_input(self.parameter_label("FEATURES"), check_driver_name, name)
        for name, role in ((target, "TARGET"), (group, "GROUP")):
            if name in features:
                raise QgsProcessingException(
                    f"{self.parameter_label('FEATURES')}: {name} is the field of '{self.parameter_label(role)}'; "
                    "it cannot be a feature too: leave it out of the features")
        units = dict(self.pairs(parameters, "UNITS", context, "name=unit"))
        unknown = [name for name in units if name not in features]
        if unknown:
            raise QgsProcessingException(
                f"{self.parameter_label('UNITS')}: a unit for {', '.join(unknown)}, which is not a feature "
                f"field; the features are {', '.join(features)}")
        fields = [target, group] + [f for f in features if f not in (target, group)]
        what = self._table_name(source, parameters, context, fields)
        df = source_to_dataframe(source, fields, what=what, numeric_text=True,
                                 expression=self.parameterAsExpression(parameters, "FILTER", context))
        if df.empty:
            raise QgsProcessingException(f"{what}: no site-month left after the filter "
                                         f"'{self.parameter_label('FILTER')}'")
        df, codes = self.run_core(missing_codes_as_nan, df, target, features,
                                  f"{self.parameter_label('TARGET')}: field {target}")
        for column, n in codes.items():
            feedback.pushInfo(f"{column}: {n} value(s) of -9999 (missing) left out")
        model = MODELS.key(self, parameters, "MODEL", context)
        n_splits = self.parameterAsInt(parameters, "FOLDS", context)
        complete, _, _ = self.run_core(prepare, df, target, features, group)
        n_sites = complete[group].astype(str).nunique()
        if n_sites < n_splits:
            raise QgsProcessingException(
                f"{self.parameter_label('GROUP')}: {n_sites} site(s) in field {group} (in the rows with a "
                f"target and every feature): need at least {n_splits} for {n_splits}-fold site-grouped "
                f"cross-validation; lower '{self.parameter_label('FOLDS')}' or add sites")
        out = self.parameterAsFileOutput(parameters, "OUTPUT", context)
        feedback.pushInfo(f"{len(df)} rows, {df[group].nunique()} sites; target {target}; features "
                          f"{', '.join(features)}; model {model}")
        progress, cancelled = self.hooks(feedback)
        res = self.run_core(fit_upscaler, df, target, features, group=group, model=model,
                            seed=self.parameterAsInt(parameters, "SEED", context),
                            n_splits=n_splits,
                            units=units, target_unit=self.parameterAsString(parameters, "TARGET_UNIT", context),
                            n_estimators=self.parameterAsInt(parameters, "TREES", context),
                            n_iter=self.parameterAsInt(parameters, "N_ITER", context),
                            n_jobs=self.parameterAsInt(parameters, "THREADS", context) or -1,
                            progress=progress, cancelled=cancelled)
        for note in res["notes"]:  # e.g. the search's forests ran in threads (no worker process could start)
            feedback.pushInfo(note)
        self.save(res["model"], out)
        m = res["metrics"].set_index(["fold", "part"])
        t = m.loc[("mean", "test")]
        feedback.pushInfo(f"{res['n_used']} rows used ({res['n_dropped']} with missing values left out); "
                          f"model {res['model'].meta['chosen']}")
        feedback.pushInfo(f"site-grouped CV, mean over test folds: R2 {t['R2']:.3f}, RMSE {t['RMSE']:.3f}, "
                          f"MAE {t['MAE']:.3f}, RMSLE {t['RMSLE']:.3f}")
        results = {"OUTPUT": out, "CV_R2": float(t["R2"]), "CV_RMSE": float(t["RMSE"]),
                   "METRICS": write_table(self, parameters, "METRICS", context, res["metrics"], feedback),
                   "IMPORTANCE": write_table(self, parameters, "IMPORTANCE", context, res["importances"], feedback)}
        return {k: v for k, v in results.items() if v is not None}
