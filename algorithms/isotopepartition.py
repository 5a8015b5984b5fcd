"""ecoresp:isotopepartition — ER and GPP from NEE and 13C (delta_N or isoflux, delta_R, delta_A)."""

import pandas as pd
from qgis.core import (QgsProcessingException, QgsProcessingParameterBoolean,
                       QgsProcessingParameterFeatureSink, QgsProcessingParameterFeatureSource,
                       QgsProcessingParameterField, QgsProcessingParameterNumber)

from ..ecoresp_core.common.fluxvalues import finite_values
from ..ecoresp_core.partitioning.isotopes import MIN_DISEQUILIBRIUM, isotope_partition
from ..ecoresp_core.partitioning.messages import WARNING, describe
from .base import EcorespAlgorithm
from .checks import number_problem  # before the disequilibrium check, which reads the numbers
from .destinations import source_path
from .qgiscompat import FLAG_ADVANCED, NUMBER_DOUBLE, SOURCE_VECTOR, add_flags
from .tables import source_to_dataframe, write_table


class IsotopePartitionAlgorithm(EcorespAlgorithm):
    NAME = "isotopepartition"
    DISPLAY = "Isotopic partitioning of NEE"
    GROUP = "1 Site partitioning"
    GROUP_ID = "partitioning"
    TAGS = ("isotopes", "13C", "carbon isotopes", "isoflux", "Keeling plot", "flux partitioning", "partitioning",
            "NEE", "GPP", "respiration", "eddy covariance")
    HELP = (
        "<p>Solves the carbon and 13C balances (Bowling et al. 2001; Wehr et al. 2016):</p>"
        "<pre>NEE = ER - GPP;   delta_N NEE = delta_R ER - delta_A GPP\n"
        "GPP = NEE (delta_N - delta_R) / D;   ER = NEE (delta_N - delta_A) / D;   D = delta_R - delta_A</pre>"
        "<p>Inputs per record of the <i>Table</i>: NEE (umol CO2 m-2 s-1) and either the <i>delta_N field</i> "
        "(permil) or the <i>isoflux field</i> delta_N*NEE (one of the two); delta_R (respired CO2, e.g. from "
        "night-time Keeling plots) and delta_A (assimilated carbon), each as a field or a constant (permil; "
        "one of the two). Records whose |D| is below the <i>Minimum |delta_R - delta_A|</i> (Advanced) are "
        "left empty, because errors in delta_R or delta_A are amplified by 1/D; their number is reported. "
        "<i>Exact ratio form</i> (Advanced) uses 13C/12C ratios (VPDB 0.0111802) instead of the first-order "
        "delta form.</p><p><b>Isotope-partitioned fluxes</b>: the time, NEE, ER_ISO, GPP_ISO and "
        "DISEQUILIBRIUM (D, permil) per record; compare ER_ISO with a partitioning result with the "
        "evaluation algorithm. Theory: the methods guide shipped with the plugin (docs/methods.md in the "
        "plugin folder), section 'Isotopic partitioning (validation data)'.</p>"
    )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterFeatureSource("INPUT", "Table", [SOURCE_VECTOR]))
        # optional with a default: QGIS 3.22 rejects an absent field value even when it has a default
        self.addParameter(add_flags(QgsProcessingParameterField("TIME_FIELD", "Time field", "TIMESTAMP_START",
                                                                "INPUT", optional=True), FLAG_ADVANCED))
        self.addParameter(QgsProcessingParameterField("NEE_FIELD", "NEE field", "NEE", "INPUT", optional=True))
        self.addParameter(QgsProcessingParameterField("DELTA_N_FIELD", "delta_N field (permil)", None, "INPUT",
                                                      optional=True))
        self.addParameter(QgsProcessingParameterField("ISOFLUX_FIELD", "or isoflux field (permil umol m-2 s-1)",
                                                      None, "INPUT", optional=True))
        self.addParameter(QgsProcessingParameterField("DELTA_R_FIELD", "delta_R field (permil)", None, "INPUT",
                                                      optional=True))
        self.addParameter(QgsProcessingParameterNumber("DELTA_R", "or constant delta_R (permil)",
                                                       NUMBER_DOUBLE, None, True))
        self.addParameter(QgsProcessingParameterField("DELTA_A_FIELD", "delta_A field (permil)", None, "INPUT",
                                                      optional=True))
        self.addParameter(QgsProcessingParameterNumber("DELTA_A", "or constant delta_A (permil)",
                                                       NUMBER_DOUBLE, None, True))
        for p in (QgsProcessingParameterNumber("MIN_DISEQUILIBRIUM", "Minimum |delta_R - delta_A| (permil)",
                                               NUMBER_DOUBLE, MIN_DISEQUILIBRIUM, False, 0.0),
                  QgsProcessingParameterBoolean("EXACT", "Exact ratio form", False)):
            self.addParameter(add_flags(p, FLAG_ADVANCED))
        self.addParameter(QgsProcessingParameterFeatureSink("OUTPUT", "Isotope-partitioned fluxes",
                                                            SOURCE_VECTOR))

    def checkParameterValues(self, parameters, context):  # noqa: N802
        problem = number_problem(self, parameters) or self.disequilibrium_problem(parameters, context)
        if problem:
            return False, problem
        if bool(parameters.get("DELTA_N_FIELD")) == bool(parameters.get("ISOFLUX_FIELD")):
            return False, (f"Give exactly one of {self.parameter_label('DELTA_N_FIELD')} and "
                           f"{self.parameter_label('ISOFLUX_FIELD')}")
        for name in ("DELTA_R", "DELTA_A"):
            if not parameters.get(f"{name}_FIELD") and parameters.get(name) in (None, ""):
                return False, (f"Give {self.parameter_label(name + '_FIELD')} or "
                               f"{self.parameter_label(name)}")
        return super().checkParameterValues(parameters, context)

    def disequilibrium_problem(self, parameters, context):
        """The message when constant delta_R and delta_A leave no disequilibrium to solve with."""
        if parameters.get("DELTA_R_FIELD") or parameters.get("DELTA_A_FIELD"):
            return None
        if parameters.get("DELTA_R") in (None, "") or parameters.get("DELTA_A") in (None, ""):
            return None
        delta_r = self.parameterAsDouble(parameters, "DELTA_R", context)
        delta_a = self.parameterAsDouble(parameters, "DELTA_A", context)
        guard = self.parameterAsDouble(parameters, "MIN_DISEQUILIBRIUM", context)
        d = abs(delta_r - delta_a)
        if d > 0 and d >= guard:
            return None
        return (f"{self.parameter_label('DELTA_R')} {delta_r:g} and {self.parameter_label('DELTA_A')} {delta_a:g}: "
                f"their disequilibrium |delta_R - delta_A| = {d:g} permil is below the "
                f"{self.parameter_label('MIN_DISEQUILIBRIUM')} {guard:g}, so no record could be partitioned (ER "
                "and GPP are NEE scaled by 1/D); give the delta_R of respired CO2 and the delta_A of assimilated "
                "carbon, which differ")

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        source = self.parameterAsSource(parameters, "INPUT", context)
        if source is None:
            raise QgsProcessingException(f"{self.parameter_label('INPUT')}: cannot be read")
        names = {k: self.parameterAsString(parameters, k, context)
                 for k in ("TIME_FIELD", "NEE_FIELD", "DELTA_N_FIELD", "ISOFLUX_FIELD", "DELTA_R_FIELD",
                           "DELTA_A_FIELD")}
        names["TIME_FIELD"] = names["TIME_FIELD"] or "TIMESTAMP_START"
        names["NEE_FIELD"] = names["NEE_FIELD"] or "NEE"
        df = source_to_dataframe(source, [v for v in names.values() if v], what=self.parameter_label("INPUT"))
        layer = self.parameterAsVectorLayer(parameters, "INPUT", context)
        where = (source_path(layer.source()) or layer.name()) if layer is not None else str(parameters.get("INPUT"))

        def column(key):
            f = names[key]
            if not f:
                return None
            values = pd.to_numeric(df[f], errors="coerce").astype(float)
            if values.notna().sum() == 0:
                raise QgsProcessingException(f"{self.parameter_label('INPUT')}: field {f} has no numeric value")
            # infinite values would give infinite ER and GPP: refused, naming the field's parameter
            return self.run_core(finite_values, values.to_numpy(), f"{self.parameter_label(key)}: field {f} of {where}")

        def value_or_field(name):
            col = column(f"{name}_FIELD")
            return col if col is not None else self.parameterAsDouble(parameters, name, context)

        res = self.run_core(isotope_partition, column("NEE_FIELD"), delta_n=column("DELTA_N_FIELD"),
                            isoflux=column("ISOFLUX_FIELD"), delta_r=value_or_field("DELTA_R"),
                            delta_a=value_or_field("DELTA_A"),
                            min_disequilibrium=self.parameterAsDouble(parameters, "MIN_DISEQUILIBRIUM", context),
                            exact=self.parameterAsBool(parameters, "EXACT", context))
        for level, text in (describe(flag) for flag in res.flags):
            (feedback.pushWarning if level == WARNING else feedback.pushInfo)(text)
        out = pd.DataFrame({names["TIME_FIELD"]: df[names["TIME_FIELD"]],
                            "NEE": column("NEE_FIELD"), "ER_ISO": res.er, "GPP_ISO": res.gpp,
                            "DISEQUILIBRIUM": res.disequilibrium})
        return {"OUTPUT": write_table(self, parameters, "OUTPUT", context, out, feedback)}
