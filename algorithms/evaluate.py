"""ecoresp:evaluate — an ER series against a reference (isotope ER or another method)."""

import contextlib

import pandas as pd
from qgis.core import (QgsProcessingException, QgsProcessingParameterEnum,
                       QgsProcessingParameterFeatureSink, QgsProcessingParameterFeatureSource,
                       QgsProcessingParameterField, QgsProcessingParameterFile,
                       QgsProcessingParameterFileDestination, QgsProcessingParameterNumber,
                       QgsProcessingParameterString)

from ..ecoresp_core.common.fluxvalues import finite_values
from ..ecoresp_core.errors import OutputError
from ..ecoresp_core.io.atomic import atomic_path
from ..ecoresp_core.partitioning.evaluation import evaluate, evaluation_report_html, flux_values, time_index
from ..ecoresp_core.partitioning.isotopes import align_isotope_series
from .base import EcorespAlgorithm
from .destinations import source_path
from .qgiscompat import FLAG_ADVANCED, NUMBER_DOUBLE, SOURCE_VECTOR, add_flags
from .tables import source_to_dataframe, write_table

CONVENTIONS = ["start", "end", "middle"]


class EvaluateAlgorithm(EcorespAlgorithm):
    NAME = "evaluate"
    DISPLAY = "Evaluate ER against a reference series"
    GROUP = "1 Site partitioning"
    GROUP_ID = "partitioning"
    TAGS = ("evaluation", "validation", "comparison", "metrics", "R2", "RMSE", "bias", "Nash-Sutcliffe",
            "model efficiency", "respiration", "isotopes", "eddy covariance", "flux partitioning")
    HELP = (
        "<p>Compares an ER series (the <i>ER field to evaluate</i>, e.g. RECO_DTRH of the partitioned "
        "fluxes) with a reference, one of two: the <i>Reference field in the same table</i> (e.g. RECO_NT, "
        "or an isotope ER column), or a <i>reference file</i> of isotope-derived ER (CSV with a time column "
        "and an ER column, named in <i>Reference file: time column</i> and <i>ER column</i>) aligned on the "
        "table's time stamps (under Advanced: whether its stamps mark the start, end or middle of the "
        "interval, and its UTC offset when they are in UTC; finer series are averaged to the tower step). "
        "The <i>Time field</i> (interval start) and the <i>Daytime flag field</i> are under Advanced.</p>"
        "<p>Metrics per scale (hourly, daytime hours, daily, monthly, annual means over complete "
        "periods): n, R2 (Pearson r squared), RMSE, MAE, ME (mean error = bias, sim - obs), EF "
        "(Nash-Sutcliffe modelling efficiency), RMSLE (negative values left out and counted), and "
        "for the annual scale the annual sums in g C m-2 yr-1 and their difference in %: the <i>Metrics per "
        "scale</i> table, and the <i>Plot</i>, an HTML page. Statistics: the methods guide shipped with the "
        "plugin (docs/methods.md in the plugin folder), section 'Model-evaluation statistics'.</p>"
    )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterFeatureSource(
            "INPUT", "Table with the ER series (e.g. partition output)", [SOURCE_VECTOR]))
        self.addParameter(add_flags(QgsProcessingParameterField(
            "TIME_FIELD", "Time field (interval start)", "TIMESTAMP_START", "INPUT", optional=True), FLAG_ADVANCED))
        self.addParameter(QgsProcessingParameterField("SIM_FIELD", "ER field to evaluate", None, "INPUT"))
        self.addParameter(QgsProcessingParameterField(
            "OBS_FIELD", "Reference field in the same table", None, "INPUT", optional=True))
        self.addParameter(add_flags(QgsProcessingParameterField(
            "DAY_FIELD", "Daytime flag field (1 = day)", "IS_DAY", "INPUT", optional=True), FLAG_ADVANCED))
        self.addParameter(QgsProcessingParameterFile(
            "REFERENCE_FILE", "or reference file (isotope ER, CSV)", optional=True,
            fileFilter="CSV (*.csv *.txt);;All files (*.*)"))
        self.addParameter(QgsProcessingParameterString(
            "REF_TIME_COLUMN", "Reference file: time column", "TIMESTAMP", optional=True))
        self.addParameter(QgsProcessingParameterString(
            "REF_VALUE_COLUMN", "Reference file: ER column", "ER", optional=True))
        for p in (QgsProcessingParameterEnum("REF_TIME_CONVENTION", "Reference time stamps mark the interval's",
                                             CONVENTIONS, defaultValue=0),
                  QgsProcessingParameterNumber("REF_UTC_OFFSET", "Reference stamps are UTC: offset of local "
                                               "standard time (h)", NUMBER_DOUBLE, None, True, -12.0, 14.0)):
            self.addParameter(add_flags(p, FLAG_ADVANCED))
        self.addParameter(QgsProcessingParameterFeatureSink(
            "OUTPUT", "Metrics per scale", SOURCE_VECTOR))
        self.addParameter(QgsProcessingParameterFileDestination(
            "REPORT", "Plot (HTML)", "HTML files (*.html)", optional=True, createByDefault=True))

    def checkParameterValues(self, parameters, context):  # noqa: N802
        if not parameters.get("OBS_FIELD") and not parameters.get("REFERENCE_FILE"):
            return False, (f"Give a reference: {self.parameter_label('OBS_FIELD')} or "
                           f"{self.parameter_label('REFERENCE_FILE')}")
        problem = self.same_field_problem(parameters)
        if problem:
            return False, problem
        return super().checkParameterValues(parameters, context)

    def same_field_problem(self, parameters):
        """The message when the reference field is the evaluated field itself."""
        sim, obs = parameters.get("SIM_FIELD"), parameters.get("OBS_FIELD")
        if isinstance(sim, str) and sim and sim == obs:
            return (f"{self.parameter_label('OBS_FIELD')} is {sim}, the {self.parameter_label('SIM_FIELD')} "
                    "itself: choose another reference field (or a reference file)")
        return None

    def day_field(self, parameters, context, names):
        """The daytime flag field, or '' when none: the default IS_DAY may be absent (no daytime
        scale then), a field named by the user must exist."""
        day_f = self.parameterAsString(parameters, "DAY_FIELD", context)
        if not day_f or day_f in names:
            return day_f
        if parameters.get("DAY_FIELD") not in (None, "", "IS_DAY"):
            raise QgsProcessingException(f"{self.parameter_label('DAY_FIELD')}: {day_f} is not a field of "
                                         f"{self.parameter_label('INPUT')}; fields: {', '.join(names)}")
        return ""

    def input_file(self, parameters, context):
        """The file of the INPUT table (its layer name when it is no file), for messages."""
        layer = self.parameterAsVectorLayer(parameters, "INPUT", context)
        if layer is None:
            return str(parameters.get("INPUT"))
        return source_path(layer.source()) or layer.name()

    def fluxes(self, df, field, name, where, feedback):
        """The values of ``field`` (chosen by the parameter ``name``) of the table ``where``: -9999
        read as missing (counted in the log); text, infinite values or no number at all an error."""
        values, codes = self.run_core(flux_values, df[field], f"{self.parameter_label('INPUT')}: field {field}")
        self.run_core(finite_values, values, f"{self.parameter_label(name)}: field {field} of {where}")
        if codes:
            feedback.pushInfo(f"{field}: {codes} value(s) of -9999 (missing) left out")
        return pd.Series(values, index=df.index)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        source = self.parameterAsSource(parameters, "INPUT", context)
        if source is None:
            raise QgsProcessingException(f"{self.parameter_label('INPUT')}: cannot be read")
        tfield = self.parameterAsString(parameters, "TIME_FIELD", context) or "TIMESTAMP_START"
        sim_f = self.parameterAsString(parameters, "SIM_FIELD", context)
        obs_f = self.parameterAsString(parameters, "OBS_FIELD", context)
        day_f = self.day_field(parameters, context, source.fields().names())
        fields = list(dict.fromkeys([tfield, sim_f] + [f for f in (obs_f, day_f) if f]))
        df = source_to_dataframe(source, fields, what=self.parameter_label("INPUT"))
        where = self.input_file(parameters, context)
        if len(df) < 2:
            raise QgsProcessingException(f"{self.parameter_label('INPUT')}: {where} has {len(df)} record(s); the "
                                         "evaluation needs at least 2 time steps")
        df.index = self.run_core(time_index, df[tfield], f"{self.parameter_label('TIME_FIELD')}: field {tfield}")
        # the values are checked in the table's order (rows as in the file), then sorted by time
        ref_file = self.parameterAsFile(parameters, "REFERENCE_FILE", context)
        sim = self.fluxes(df, sim_f, "SIM_FIELD", where, feedback).sort_index()
        obs = None if ref_file else self.fluxes(df, obs_f, "OBS_FIELD", where, feedback).sort_index()
        df = df.sort_index()
        if ref_file:
            value_col = self.parameterAsString(parameters, "REF_VALUE_COLUMN", context) or "ER"
            aligned = self.run_core(
                align_isotope_series, ref_file, df.index,
                time_convention=CONVENTIONS[self.parameterAsEnum(parameters, "REF_TIME_CONVENTION", context)],
                utc_offset_h=self.optional_number(parameters, "REF_UTC_OFFSET", context),
                value_columns=value_col,
                time_column=self.parameterAsString(parameters, "REF_TIME_COLUMN", context) or None,
                time_what=self.parameter_label("REF_TIME_COLUMN"), value_what=self.parameter_label("REF_VALUE_COLUMN"))
            obs = aligned[value_col].astype(float)
            obs_label = f"{value_col} ({ref_file})"
        else:
            obs_label = obs_f
        day = (pd.to_numeric(df[day_f], errors="coerce").fillna(0) > 0) if day_f else None
        table = self.run_core(evaluate, obs, sim, daytime_mask=day)
        if int(table["n"].max()) == 0:
            raise QgsProcessingException(f"{self.parameter_label('SIM_FIELD')} {sim_f} and the reference "
                                         f"{obs_label} have no time step in common (both values finite)")
        out = table.reset_index()
        out.insert(1, "reference", obs_label)
        out.insert(2, "evaluated", sim_f)
        report = self.parameterAsFileOutput(parameters, "REPORT", context)
        try:
            with contextlib.ExitStack() as stack:
                # the report is written first, under a temporary name renamed only after the table
                # is written: a failure of either leaves neither
                if report:
                    tmp = stack.enter_context(atomic_path(report))
                    with open(tmp, "w", encoding="utf-8") as fh:
                        fh.write(evaluation_report_html(obs, sim, table, f"{sim_f} against {obs_label}", obs_label,
                                                        sim_f))
                results = {"OUTPUT": write_table(self, parameters, "OUTPUT", context, out, feedback)}
        except OutputError as exc:  # the report's (the table's errors name OUTPUT themselves)
            raise QgsProcessingException(f"{self.parameter_label('REPORT')}: {exc}") from None
        if report:
            results["REPORT"] = report
        for _, r in table.iterrows():
            feedback.pushInfo(f"{r.name:>8}: n={int(r['n'])} R2={r['R2']:.3f} RMSE={r['RMSE']:.3f} "
                              f"ME={r['ME']:.3f} EF={r['EF']:.3f}")
        return results
