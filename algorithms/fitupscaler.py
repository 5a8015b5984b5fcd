"""ecoresp:fitupscaler — fit the upscaling model on a site-month table with site-grouped CV."""

from qgis.core import (QgsProcessingException, QgsProcessingOutputNumber, QgsProcessingParameterFeatureSink,
                       QgsProcessingParameterFeatureSource, QgsProcessingParameterField,
                       QgsProcessingParameterFileDestination, QgsProcessingParameterNumber,
                       QgsProcessingParameterExpression, QgsProcessingParameterString)

from ..ecoresp_core.upscaling.fit import fit_upscaler
from ..ecoresp_core.upscaling.model import save_model
from .base import Choices, EcorespAlgorithm
from .qgiscompat import (FIELD_NUMERIC, FLAG_ADVANCED, NUMBER_INTEGER, SOURCE_VECTOR, add_flags,
                         parameter_as_strings)
from .tables import source_to_dataframe, write_table

MODELS = Choices({"rf": "Random forest (default)",
                  "search": "Search: random forest, gradient boosting, neural network (nested hyper-parameter "
                            "search)"})


class FitUpscalerAlgorithm(EcorespAlgorithm):
    NAME = "fitupscaler"
    DISPLAY = "Fit upscaling model (site-grouped cross-validation)"
    GROUP = "2 Upscaling"
    GROUP_ID = "upscaling"
    HELP = (
        "<p>Fits a model of ER (e.g. site-month RECO in g C m-2 d-1) from drivers (temperature, "
        "radiation, VPD, land cover, ...) on a site-month table. Text features (e.g. IGBP) are "
        "one-hot encoded; their categories are stored in the model.</p>"
        "<p><b>Model</b>: a random forest (100-500 trees, min_samples_leaf 3), or a randomized "
        "hyper-parameter search over a random forest, gradient boosting and a neural network "
        "(StandardScaler + MLP); the search is nested inside each training part with its own "
        "site-grouped folds.</p>"
        "<p><b>Cross-validation</b> is grouped by the GROUP field (the site): a site is never split "
        "between training and test (random splits of site-months inflate the scores). METRICS gets "
        "one row per fold and part (train/test), the mean over folds and the pooled out-of-fold "
        "predictions: R2 (Pearson r squared), EF (Nash-Sutcliffe, sklearn r2_score), RMSE, MAE, ME, "
        "RMSLE (negative values left out and counted). IMPORTANCE: permutation importances on the "
        "held-out folds (mean drop of EF when one feature is shuffled). FILTER selects the rows used "
        "(e.g. a coverage threshold: to_real(\"frac_measured\") &gt;= 0.2 or \"quality_ok\" = 1).</p>"
        "<p><b>Model file</b> (.npz): numeric arrays and a JSON record (features, units, order, "
        "categories, training ranges, target, seed, CV metrics, library versions) with a SHA-256 "
        "checksum. It is not a pickle: loading it never runs code carried in the file, and a "
        "changed file is refused.</p>"
    )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterFeatureSource(
            "INPUT", "Site-month table", [SOURCE_VECTOR]))
        self.addParameter(QgsProcessingParameterField("TARGET", "Target field (ER)", None, "INPUT",
                                                      FIELD_NUMERIC))
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
        self.addParameter(QgsProcessingParameterNumber("SEED", "Random seed",
                                                       NUMBER_INTEGER, 0, False, 0))
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
            "OUTPUT", "Model file", "ecoresp upscaling model (*.npz)"))
        self.addParameter(QgsProcessingParameterFeatureSink("METRICS", "Cross-validation metrics",
                                                            SOURCE_VECTOR, optional=True,
                                                            createByDefault=True))
        self.addParameter(QgsProcessingParameterFeatureSink("IMPORTANCE", "Permutation importances",
                                                            SOURCE_VECTOR, optional=True,
                                                            createByDefault=True))
        self.addOutput(QgsProcessingOutputNumber("CV_R2", "Mean test R2 over the folds"))
        self.addOutput(QgsProcessingOutputNumber("CV_RMSE", "Mean test RMSE over the folds"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        source = self.parameterAsSource(parameters, "INPUT", context)
        if source is None:
            raise QgsProcessingException("INPUT: cannot read the table")
        target = self.parameterAsString(parameters, "TARGET", context)
        features = parameter_as_strings(self, parameters, "FEATURES", context)
        group = self.parameterAsString(parameters, "GROUP", context)
        if not features:
            raise QgsProcessingException("FEATURES: choose at least one feature field")
        units = dict(self.pairs(parameters, "UNITS", context, "name=unit"))
        df = source_to_dataframe(source, [target, group] + [f for f in features if f not in (target, group)],
                                 numeric_text=True,
                                 expression=self.parameterAsExpression(parameters, "FILTER", context))
        if df.empty:
            raise QgsProcessingException("INPUT: no site-month left after FILTER")
        model = MODELS.key(self, parameters, "MODEL", context)
        out = self.parameterAsFileOutput(parameters, "OUTPUT", context)
        feedback.pushInfo(f"{len(df)} rows, {df[group].nunique()} sites; target {target}; features "
                          f"{', '.join(features)}; model {model}")
        progress, cancelled = self.hooks(feedback)
        res = self.run_core(fit_upscaler, df, target, features, group=group, model=model,
                            seed=self.parameterAsInt(parameters, "SEED", context),
                            n_splits=self.parameterAsInt(parameters, "FOLDS", context),
                            units=units, target_unit=self.parameterAsString(parameters, "TARGET_UNIT", context),
                            n_estimators=self.parameterAsInt(parameters, "TREES", context),
                            n_iter=self.parameterAsInt(parameters, "N_ITER", context),
                            n_jobs=self.parameterAsInt(parameters, "THREADS", context) or -1,
                            progress=progress, cancelled=cancelled)
        self.run_core(save_model, res["model"], out)
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
