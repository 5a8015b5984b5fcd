"""ecoresp:partition — NEE into ER and GPP with several methods side by side."""

import json
import os

import pandas as pd

from qgis.core import (QgsProcessingException, QgsProcessingParameterBoolean, QgsProcessingParameterEnum,
                       QgsProcessingParameterFeatureSink,
                       QgsProcessingParameterFileDestination, QgsProcessingParameterNumber)

from ..ecoresp_core.common.keyvalue import parse_list
from ..ecoresp_core.errors import InputError
from ..ecoresp_core.io.towers import check_nee_for_fitting
from ..ecoresp_core.common.versions import versions
from ..ecoresp_core.io.textfiles import write_text_atomic
from ..ecoresp_core.jobs.parallel import Workers
from ..ecoresp_core.jobs.tower import raw_to_partitioned
from ..ecoresp_core.partitioning.messages import WARNING, partition_messages
from ..ecoresp_core.partitioning.methods import get as method, methods as registered_methods
from ..ecoresp_core.partitioning.sitepartition import default_methods, parse_methods, partition_site, report_html
from .base import Choices, EcorespAlgorithm
from .qgiscompat import FLAG_ADVANCED, NUMBER_INTEGER, SOURCE_VECTOR, SOURCE_VECTOR_POINT, add_flags
from .tables import write_table
from .towerinput import TowerInput


def methods_parameter(name, description="Partitioning methods"):
    """The multiple-choice parameter of the registered methods: its options are the method codes
    (static strings: a model or a command line passes 'NT,DT,DTRH', which stays valid when methods
    are added); the default methods ticked."""
    p = QgsProcessingParameterEnum(name, description, [m.code for m in registered_methods()], allowMultiple=True,
                                   defaultValue=list(default_methods()))
    p.setUsesStaticStrings(True)
    return p


def methods_help():
    """The registered partitioning methods as an HTML list (code: label, help)."""
    return "".join(f"<li><b>{m.code}</b>: {m.label}" + (f". {m.help}" if m.help else "") + "</li>"
                   for m in registered_methods())


#: the humidity modifier of DT-RH and of the joint model (methods guide section 7.2)
RH_FUNCTIONS = Choices({"exp": "exp: f_RH = exp(gamma (RH - RH_ref))",
                        "linear": "linear: f_RH = 1 + gamma (RH - RH_ref), floored at 0.05"})


def dtrh_family(methods):
    """The requested methods that are DT-RH variants (DTRH, DTASYM, DTRHONLY: options['DTRH'])."""
    return [m for m in methods if method(m).option_key == "DTRH"]


def check_site_location(path, site):
    """QgsProcessingException naming the file and what is missing when the site's coordinates or
    UTC offset are unknown (possible when the file has SW_IN_POT but no known site id)."""
    missing = [name for name, value in (("latitude", site.latitude), ("longitude", site.longitude),
                                        ("UTC offset", site.utc_offset_h)) if value is None]
    if missing:
        what = missing[0] if len(missing) == 1 else ", ".join(missing[:-1]) + " and " + missing[-1]
        raise QgsProcessingException(
            f"{path}: the site {what} {'is' if len(missing) == 1 else 'are'} unknown "
            f"(site id {site.site_id!r} is not in the shipped FLUXNET2015 site list and the file gives no "
            "coordinates); give the Latitude and Longitude (LATITUDE, LONGITUDE; and the UTC offset, UTC_OFFSET) "
            "or a FLUXNET2015 Site id (SITE_ID) among the Advanced parameters: the site-year summary is a point "
            "layer at the site")


class PartitionAlgorithm(TowerInput, EcorespAlgorithm):
    NAME = "partition"
    DISPLAY = "Partition NEE into ecosystem respiration and GPP"
    GROUP = "1 Site partitioning"
    GROUP_ID = "partitioning"
    TAGS = ("eddy covariance", "flux partitioning", "partitioning", "NEE", "GPP", "respiration", "Reco",
            "ecosystem respiration", "Reichstein", "Lasslop", "night-time", "day-time", "light response",
            "DT-RH", "humidity", "random forest", "neural network", "u*", "REddyProc", "ONEFlux", "FLUXNET")
    HELP = (
        "<p>Partitions half-hourly or hourly net ecosystem exchange (NEE = ER - GPP) of one tower "
        "file into ecosystem respiration (ER) and gross primary production (GPP) with several "
        "methods side by side, fitted site-year by site-year on measured NEE (QC = 0). "
        "<b>Partitioning methods</b> (tick one or more; on the command line and in models a list of "
        "codes such as NT,DT,DTRH):</p><ul>"
        "{methods}</ul>" + TowerInput.HELP + (
        "<p><b>Measured or gap-filled NEE</b>: the file's QC column tells measured from gap-filled NEE. "
        "Without one, NEE is taken as measured only in a raw file (REddyProc input, AmeriFlux BASE FC/NEE, "
        "EddyPro): its gaps stay gaps and it is not u*-filtered (a warning says so; set <i>Raw input: u* "
        "filtering and gap filling first</i>, or prepare it with the u* threshold and gap-filling "
        "algorithms). NEE that looks gap-filled without a QC column (e.g. NEE_VUT_REF without "
        "NEE_VUT_REF_QC) is refused: give its QC column in the <i>Column mapping</i>, "
        "NEE_QC=&lt;column&gt;.</p>"
        "<p><b>Outputs</b> (M is a method code, e.g. DT): <i>Partitioned fluxes</i>, one row per record with "
        "RECO_M, GPP_M and QC_M (0 good, 1 refitted or fall-back, 2 nearest fitting window or "
        "training record more than 14 days away, 9 no value: the method failed or a driver is missing); "
        "GPP_M of DT, DTRH, DTASYM and DTRHONLY is the light-response GPP (as FLUXNET2015's GPP_DT) and their "
        "RECO - NEE is GPP_M_RECO_MINUS_NEE; for NT, RF and NN GPP = RECO - NEE. "
        "<i>Site-year summary</i>, one row per site-year (a point layer at the site): E0 by night and by day, "
        "Q10, gamma, inhibition, annual sums (g C m-2 yr-1), agreement with the FLUXNET reference "
        "partitioning when present, NEE_M_DAY_RMSE (how RECO - GPP of DT and the DT-RH variants fits the "
        "measured daytime NEE, umol CO2 m-2 s-1), the model evidence (below) and, in flags_M, every fall-back "
        "of the method as a short code (the log explains each in words, with what to do). <i>Fitting "
        "windows</i>, one row per fitting window (night E0 windows, light-response windows with day and "
        "night Rref and their inhibition, DT-RH day-time E0 and gamma windows, Kok low-light windows) with "
        "the window's mean daytime TA, RH and VPD. <i>Report</i>, an HTML page: a header (input file, site, "
        "years, methods, options, plugin version, date), the model evidence when computed, annual sums of "
        "RECO and GPP per method and year, the shares of measured and gap-filled NEE and each method's "
        "quality flags, fallbacks (rejected fitting windows, flags in words), diurnal and seasonal ER, day "
        "versus night temperature response and inhibition by month.</p>"
        "<p><b>Model evidence: compare DT, DT-asym, DT-RHonly, DT-RH</b> (default on; "
        "it runs when the methods include a DT-RH variant, DTRH, DTASYM or DTRHONLY): DT-RH as a tested "
        "hypothesis. Per site-year one joint model of all measured NEE (night and day, Rref and light response "
        "per block of days, <i>DT-RH joint model: block length</i>; E0 night, E0 day and gamma shared) is "
        "fitted as DT, DT-asym, DT-RHonly and DT-RH and compared by AIC, BIC, likelihood-ratio tests "
        "corrected for autocorrelation and blocked cross-validation; the bootstrap replicates (<i>Model "
        "evidence: bootstrap replicates</i>; days resampled within blocks, <i>Random seed</i>) give 95 % "
        "intervals of E0 night and day, their difference, gamma and the daytime ER of DT-RH, DT and NT. An "
        "effect (asymmetry, humidity) is supported when its interval excludes 0 and it improves the "
        "held-out fit (with 0 replicates: the corrected LR test at 0.05). The site-year summary gets "
        "SUPPORTED_MODEL, SUPPORTED_ASYMMETRY, SUPPORTED_RH, EVIDENCE (why, in words) and the JOINT_* columns "
        "(E0 in K, gamma in %-1, ER in umol CO2 m-2 s-1, each with _SE, _CI_LO, _CI_HI); <i>Model evidence: "
        "models per site-year</i> has one row per site-year and model (E0_NIGHT_K, E0_DAY_K, GAMMA, AIC, BIC, "
        "CV_CHI2, CV_RMSE_DAY, ...), <i>Model evidence: likelihood-ratio tests</i> one row per nested pair "
        "(LR, P, N_EFF, P_EFF, F, P_F). It costs about 10 s plus 0.6 to 0.9 s per replicate per site-year "
        "(1 to 1.5 min at 100 replicates, on two cores about half); with the raw input chain it runs for the "
        "median (50) u* scenario only (the tables then have USTAR_SCENARIO). The block length and the two "
        "DT-RH humidity settings (Advanced parameters) set both the DT-RH methods and the joint model.</p>"
        "<p><b>Raw input: u* filtering and gap filling first</b> (default off): on, the raw NEE is first "
        "u*-filtered and gap-filled per u* scenario, as REddyProc's sEstimateUstarScenarios and "
        "sApplyUStarScen and FLUXNET2015's VUT percentiles: u* thresholds per year by the moving point test "
        "or the change-point detection with <i>u* bootstrap samples</i> (<i>Random seed</i>); SW_IN, TA and "
        "VPD MDS-filled; for each scenario (the 5th, 50th and 95th percentile of the bootstrap thresholds) "
        "night-time NEE below the threshold removed, NEE MDS-filled and partitioned (fits on the measured "
        "records only). The partitioned fluxes then also hold NEE_S_F, _F_QC, _RANDUNC (random "
        "uncertainty), USTAR_TH_S, RECO_M_S, GPP_M_S and QC_M_S for S = 05, 50, 95 (the plain RECO_M, GPP_M, "
        "QC_M and NEE are the 50 scenario's, as are the fitting windows and the report), and the site-year "
        "summary the annual sums per scenario, their range over the scenarios (_gC_min, _gC_max: the u* "
        "uncertainty) and the random uncertainty of annual NEE (NEE_S_rand_gC, REddyProc's "
        "sqrt(sum sd^2 / n / (n_eff - 1)) over the measured records with the autocorrelation correction).</p>"
        "<p><b>Fit only measured NEE</b> (default on): every method fits records with NEE_QC = 0 only; off, "
        "gap-filled NEE is fitted too: NT's night-time Lloyd-Taylor fits, DT's night E0, Rref and "
        "light-response fits and its sdNEE look-up, the same fits of DT-RH, the training records of RF and "
        "NN, and the Kok low-light regressions.</p>"
        "<p>Tref is 15 degC, T0 227.13 K, C = 12.011 g mol-1. The methods guide shipped with the plugin "
        "(docs/methods.md in the plugin folder) explains each method: sections 'Nighttime method', "
        "'Daytime method', 'DT-RH' ('Proposed DT-RH formulation'), 'ML partitioning of daytime ER', "
        "'DT-RH as a tested hypothesis', 'From a raw tower file to partitioned fluxes with uncertainty' and "
        "'ecoresp defaults' (the QC codes).</p>")
    )
    METHODS = "METHODS"  # the tower-file parameters (INPUT, FORMAT, ..., UNITS): TowerInput
    FIT_QC_ONLY = "FIT_QC_ONLY"
    RAW_CHAIN = "RAW_CHAIN"
    BOOTSTRAP = "BOOTSTRAP"
    SEED = "SEED"
    EVIDENCE = "EVIDENCE"
    EVIDENCE_BOOTSTRAP = "EVIDENCE_BOOTSTRAP"
    JOINT_BLOCK_DAYS = "JOINT_BLOCK_DAYS"
    RH_AT_NIGHT = "RH_AT_NIGHT"
    RH_FUNCTION = "RH_FUNCTION"
    RAW_CHOICES = ("off", "moving point test", "change-point detection")
    OUTPUT = "OUTPUT"
    SUMMARY = "SUMMARY"
    WINDOWS = "WINDOWS"
    REPORT = "REPORT"
    EVIDENCE_MODELS = "EVIDENCE_MODELS"
    EVIDENCE_TESTS = "EVIDENCE_TESTS"

    def shortHelpString(self):  # noqa: N802
        return self.HELP.replace("{methods}", methods_help())

    def initAlgorithm(self, config=None):  # noqa: N802
        TowerInput.add_parameters(self)
        self.addParameter(methods_parameter(self.METHODS))
        self.addParameter(QgsProcessingParameterEnum(
            self.RAW_CHAIN, "Raw input: u* filtering and gap filling first", list(self.RAW_CHOICES),
            defaultValue=0))
        self.addParameter(QgsProcessingParameterBoolean(
            self.EVIDENCE, "Model evidence: compare DT, DT-asym, DT-RHonly, DT-RH", True))
        for p in (QgsProcessingParameterBoolean(self.FIT_QC_ONLY, "Fit only measured NEE (QC = 0)", True),
                  QgsProcessingParameterNumber(self.BOOTSTRAP, "u* bootstrap samples (raw input)", NUMBER_INTEGER,
                                               100, False, 1, 10000),
                  QgsProcessingParameterNumber(self.SEED, "Random seed (u* bootstrap of raw input, model-evidence "
                                               "bootstrap)", NUMBER_INTEGER, 1, False, 0),
                  QgsProcessingParameterNumber(self.EVIDENCE_BOOTSTRAP, "Model evidence: bootstrap replicates "
                                               "(0 = no intervals)", NUMBER_INTEGER, 100, False, 0, 100000),
                  QgsProcessingParameterNumber(self.JOINT_BLOCK_DAYS, "DT-RH joint model: block length (days)",
                                               NUMBER_INTEGER, 4, False, 1, 366),
                  QgsProcessingParameterBoolean(self.RH_AT_NIGHT, "DT-RH: humidity modifier at night too", True),
                  RH_FUNCTIONS.parameter(self.RH_FUNCTION, "DT-RH: humidity modifier")):
            self.addParameter(add_flags(p, FLAG_ADVANCED))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT, "Partitioned fluxes", SOURCE_VECTOR))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.SUMMARY, "Site-year summary", SOURCE_VECTOR_POINT, optional=True, createByDefault=True))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.WINDOWS, "Fitting windows", SOURCE_VECTOR, optional=True, createByDefault=True))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.REPORT, "Report", "HTML files (*.html)", optional=True, createByDefault=True))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.EVIDENCE_MODELS, "Model evidence: models per site-year", SOURCE_VECTOR, optional=True,
            createByDefault=True))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.EVIDENCE_TESTS, "Model evidence: likelihood-ratio tests", SOURCE_VECTOR, optional=True,
            createByDefault=True))

    def checkParameterValues(self, parameters, context):  # noqa: N802
        try:
            codes = self.method_codes(parameters, context)
            self.check_numbers(parameters, context)
        except QgsProcessingException as exc:
            return False, str(exc)
        # the codes as the enum takes them (option numbers and 'dt-rh' spellings are accepted too)
        return super().checkParameterValues(dict(parameters, **{self.METHODS: list(codes)}), context)

    def method_codes(self, parameters, context):
        """The chosen method codes: the ticked options of the dialog, or on the command line and in
        models a list or text of codes ('NT,DT,DTRH'; case, '-' and '_' ignored) or of option numbers
        ('0,1'); none given: the default methods.  An unknown method is an error naming the parameter."""
        value = parameters.get(self.METHODS)
        if value is not None and not isinstance(value, (str, list, tuple, int)):
            value = self.parameterAsString(parameters, self.METHODS, context)  # e.g. a QgsProperty
        items = [value] if isinstance(value, int) else (
            parse_list(value) if isinstance(value, str) else list(value or []))
        options = self.parameterDefinition(self.METHODS).options()
        items = [options[int(i)] if str(i).strip().isdigit() and int(i) < len(options) else str(i) for i in items]
        try:
            return parse_methods(items or None)
        except InputError as exc:
            text = str(exc)
            text = text[len("METHODS: "):] if text.startswith("METHODS: ") else text
            raise QgsProcessingException(f"{self.parameter_label(self.METHODS)}: {text}") from None

    def check_numbers(self, parameters, context):
        """QgsProcessingException naming the parameter by its label when a count is below its minimum."""
        for name, low, what in ((self.EVIDENCE_BOOTSTRAP, 0, "0 (no intervals) or more replicates"),
                                (self.JOINT_BLOCK_DAYS, 1, "at least 1 day"),
                                (self.BOOTSTRAP, 1, "at least 1 sample"), (self.SEED, 0, "0 or more")):
            value = parameters.get(name)
            if value is None or value == "":
                continue
            try:
                number = float(self.parameterAsDouble(parameters, name, context))
            except Exception:  # noqa: BLE001 - an expression or text that is no number
                number = float("nan")
            if not number >= low or number != int(number):
                raise QgsProcessingException(f"{self.parameter_label(name)}: {value!r} is not valid; give {what} "
                                             "(a whole number)")

    def evidence_options(self, parameters, context, methods, qc_only, feedback):
        """(options['DTRH'], options['evidence']) from the parameters: the joint-model settings go to the
        DT-RH methods and to the model comparison alike; no comparison without a DT-RH variant."""
        family = dtrh_family(methods)
        joint = {"block_days": self.parameterAsInt(parameters, self.JOINT_BLOCK_DAYS, context),
                 "rh_at_night": self.parameterAsBool(parameters, self.RH_AT_NIGHT, context),
                 "rh_function": RH_FUNCTIONS.key(self, parameters, self.RH_FUNCTION, context),
                 "fit_qc_only": qc_only}
        dtrh = {"joint_block_days": joint["block_days"], "rh_at_night": joint["rh_at_night"],
                "rh_function": joint["rh_function"]} if family else None
        if not self.parameterAsBool(parameters, self.EVIDENCE, context):
            return dtrh, None
        if not family:
            feedback.pushInfo("Model evidence not computed: METHODS has no DT-RH variant (DTRH, DTASYM or "
                              "DTRHONLY); add one to compare DT, DT-asym, DT-RHonly and DT-RH")
            return dtrh, None
        n_boot = self.parameterAsInt(parameters, self.EVIDENCE_BOOTSTRAP, context)
        feedback.pushInfo(f"Model evidence (DT, DT-asym, DT-RHonly, DT-RH) per site-year with {n_boot} bootstrap "
                          f"replicates: about {10 + 0.75 * n_boot:.0f} s per site-year")
        return dtrh, {"n_boot": n_boot, "seed": self.parameterAsInt(parameters, self.SEED, context), "joint": joint}

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        methods = self.method_codes(parameters, context)
        path, tower = TowerInput.read(self, parameters, context)
        a = tower.site
        check_site_location(path, a)
        qc_only = self.parameterAsBool(parameters, self.FIT_QC_ONLY, context)
        raw = self.parameterAsEnum(parameters, self.RAW_CHAIN, context)
        nee_warnings = self.run_core(check_nee_for_fitting, tower, fit_qc_only=qc_only)  # refuses filled NEE
        if raw and a.nee_qc_source == "raw file":
            nee_warnings = []  # the raw chain does the u* filtering and gap filling the warning asks for
        elif a.nee_qc_source == "raw file":
            nee_warnings = [w + " (or set 'Raw input: u* filtering and gap filling first', RAW_CHAIN = 1 or 2, "
                            "to do both here)" for w in nee_warnings]
        feedback.pushInfo(f"{os.path.basename(path)}: site {a.site_id}, {len(tower.data)} records of "
                          f"{a.step_minutes} min, {tower.index[0]} .. {tower.index[-1]}, "
                          f"lat {a.latitude}, lon {a.longitude}, UTC{a.utc_offset_h:+g}")
        for note in a.conversions + [f"derived {c}" for c in a.derived]:
            feedback.pushInfo(f"  {note}")
        for note in a.warnings + nee_warnings:
            feedback.pushWarning(note)
        self.check_numbers(parameters, context)
        options = {"NT": {"fit_qc_only": qc_only}}  # recorded in the summary (option_NT)
        dtrh, evidence = self.evidence_options(parameters, context, methods, qc_only, feedback)
        if dtrh:
            options["DTRH"] = dtrh
        if evidence:
            options["evidence"] = evidence
        progress, cancelled = self.hooks(feedback)
        if raw:
            with Workers() as workers:
                sp = self.run_core(raw_to_partitioned, tower, methods, ustar_method=("mpt", "cpd")[raw - 1],
                                   n_boot=self.parameterAsInt(parameters, self.BOOTSTRAP, context),
                                   seed=self.parameterAsInt(parameters, self.SEED, context), options=options,
                                   fit_qc_only=qc_only, progress=progress, cancelled=cancelled, workers=workers)
            for s, v in sp.info["filled"].items():
                feedback.pushInfo(f"u* scenario {s}: {v['ustar_removed']} night records below the threshold "
                                  f"removed, {v['measured']} measured, {v['filled']} filled, {v['unfilled']} unfilled")
        else:
            with Workers() as workers:      # two lanes for the bootstrap of the model evidence
                sp = self.run_core(partition_site, tower, methods, options=options, fit_qc_only=qc_only,
                                   progress=progress, cancelled=cancelled, workers=workers)
        for msg in workers.helper_failures:  # those replicates were computed in this process instead
            feedback.pushWarning(f"helper process not used: {msg}")
        if raw:
            feedback.pushInfo(f"What the methods had to do (median u* scenario {sp.info['median_scenario']}; the "
                              "codes are in the flags_ columns of the site-year summary):")
        for level, text in partition_messages(sp.partitions[sp.info["median_scenario"]] if raw else sp):
            (feedback.pushWarning if level == WARNING else feedback.pushInfo)(text)
        if "SUPPORTED_MODEL" in sp.summary:
            for year, text in zip(sp.summary["year"], sp.summary["EVIDENCE"]):
                if isinstance(text, str):
                    feedback.pushInfo(f"{year}: {text}")
        results = {}
        table = sp.table
        if "site_id" not in table.columns and a.site_id:
            table = table.copy()
            table.insert(0, "site_id", str(a.site_id))  # so that site-month tables know the site
        results[self.OUTPUT] = write_table(self, parameters, self.OUTPUT, context, table, feedback)
        summary = sp.summary.copy()
        for k, v in sp.options.items():
            summary[f"option_{k}"] = str(v)
        summary["source_file"] = path
        summary["ecoresp_versions"] = json.dumps(versions(), sort_keys=True)
        if parameters.get(self.SUMMARY) is not None:
            results[self.SUMMARY] = write_table(self, parameters, self.SUMMARY, context, summary, feedback,
                                                lon="longitude", lat="latitude")
        if parameters.get(self.WINDOWS) is not None:
            results[self.WINDOWS] = write_table(self, parameters, self.WINDOWS, context, sp.windows, feedback)
        models, tests = evidence_tables(sp, raw)
        for name, table in ((self.EVIDENCE_MODELS, models), (self.EVIDENCE_TESTS, tests)):
            if table is not None and parameters.get(name) is not None:
                results[name] = write_table(self, parameters, name, context, table, feedback)
        report = self.parameterAsFileOutput(parameters, self.REPORT, context)
        if report:
            notes = {}
            if raw:
                i = sp.info
                scenarios = ", ".join(map(str, i["scenarios"]))
                notes["Raw input"] = (f"u* filtered ({self.RAW_CHOICES[raw]}, {i['n_boot']} bootstrap samples, seed "
                                      f"{i['seed']}) and gap-filled per u* scenario ({scenarios}); "
                                      f"this report shows the median scenario ({i['median_scenario']}), the site-year "
                                      "summary the annual sums of every scenario")
            write_text_atomic(report, report_html(sp.partitions[sp.info["median_scenario"]] if raw else sp,
                                                  f"ecoresp partitioning: {a.site_id or os.path.basename(path)}",
                                                  source=path, notes=notes))
            results[self.REPORT] = report
        return results


def evidence_tables(sp, raw):
    """(models, tests) of the model comparison, or (None, None) without one; with the raw chain the
    tables of the scenarios that have one (the median), with USTAR_SCENARIO."""
    if not raw:
        return sp.evidence, sp.evidence_tests
    out = []
    for attr in ("evidence", "evidence_tests"):
        parts = [getattr(p, attr).assign(USTAR_SCENARIO=s) for s, p in sp.partitions.items()
                 if getattr(p, attr, None) is not None]
        out.append(pd.concat(parts, ignore_index=True) if parts else None)
    return tuple(out)
