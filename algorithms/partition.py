"""ecoresp:partition — NEE into ER and GPP with several methods side by side."""

import json
import os

import pandas as pd

from qgis.core import (QgsProcessingException, QgsProcessingParameterBoolean, QgsProcessingParameterEnum,
                       QgsProcessingParameterFeatureSink,
                       QgsProcessingParameterFileDestination, QgsProcessingParameterNumber,
                       QgsProcessingParameterString)

from ..ecoresp_core.io.towers import check_nee_for_fitting
from ..ecoresp_core.common.versions import versions
from ..ecoresp_core.io.textfiles import write_text_atomic
from ..ecoresp_core.jobs.parallel import Workers
from ..ecoresp_core.jobs.tower import raw_to_partitioned
from ..ecoresp_core.partitioning.methods import get as method, methods as registered_methods
from ..ecoresp_core.partitioning.sitepartition import default_methods, parse_methods, partition_site, report_html
from .base import Choices, EcorespAlgorithm
from .qgiscompat import FLAG_ADVANCED, NUMBER_INTEGER, SOURCE_VECTOR, SOURCE_VECTOR_POINT, add_flags
from .tables import write_table
from .towerinput import TowerInput


def methods_help():
    """The registered partitioning methods as an HTML list (code: label, help)."""
    return "".join(f"<li><b>{m.code}</b>: {m.label}" + (f". {m.help}" if m.help else "") + "</li>"
                   for m in registered_methods())


#: the humidity modifier of DT-RH and of the joint model (docs/methods.md section 7.2)
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
            "coordinates); give LATITUDE and LONGITUDE (and UTC_OFFSET) or a FLUXNET2015 SITE_ID: the "
            "site-year summary is a point layer at the site")


class PartitionAlgorithm(TowerInput, EcorespAlgorithm):
    NAME = "partition"
    DISPLAY = "Partition NEE into ecosystem respiration and GPP"
    GROUP = "1 Site partitioning"
    GROUP_ID = "partitioning"
    HELP = (
        "<p>Partitions half-hourly or hourly net ecosystem exchange (NEE = ER - GPP) of one tower "
        "file into ecosystem respiration (ER) and gross primary production (GPP) with several "
        "methods side by side, fitted site-year by site-year on measured NEE (QC = 0):</p><ul>"
        "{methods}</ul>" + TowerInput.HELP + (
        "<p><b>NEE QC</b>: the file's QC column tells measured from gap-filled NEE. Without one, NEE is "
        "taken as measured only in a raw file (REddyProc input, AmeriFlux BASE FC/NEE, EddyPro): its gaps "
        "stay gaps and it is not u*-filtered (a warning says so; ecoresp:ustarthreshold and ecoresp:gapfill "
        "prepare it). NEE that looks gap-filled without a QC column (e.g. NEE_VUT_REF without "
        "NEE_VUT_REF_QC) is refused: give its QC with COLUMNS NEE_QC=&lt;column&gt;.</p>"
        "<p><b>Outputs</b>: OUTPUT, one row per record with RECO_&lt;M&gt;, GPP_&lt;M&gt; and QC_&lt;M&gt; "
        "(0 good, 1 refitted or fallback, 2 nearest fitting window or training record &gt; 14 days away, 9 no "
        "value: method failed or a driver missing; methods guide section 16); GPP_&lt;M&gt; of DT, DTRH, "
        "DTASYM and DTRHONLY is the light-response GPP (as FLUXNET2015's GPP_DT) and their RECO - NEE is "
        "GPP_&lt;M&gt;_RECO_MINUS_NEE; for NT, RF and NN GPP = RECO - NEE; SUMMARY, "
        "one row per site-year (a point layer at the site): E0 night and day, Q10, gamma, inhibition, "
        "annual sums (g C m-2 yr-1), agreement with the FLUXNET reference partitioning when present, "
        "NEE_&lt;M&gt;_DAY_RMSE (how RECO - GPP of DT and the DT-RH variants fits the measured daytime NEE, "
        "umol CO2 m-2 s-1), the model evidence (below) and every fallback flag; WINDOWS, one row per fitting "
        "window (night E0 windows, light-response "
        "windows with day and night Rref and their inhibition, DT-RH day-time E0 and gamma windows, Kok "
        "low-light windows) with the window's mean daytime TA, RH and VPD; REPORT, an HTML page with "
        "diurnal and seasonal ER by method, day "
        "versus night temperature response and inhibition by month, the model evidence first when "
        "computed.</p>"
        "<p><b>Model evidence</b> (EVIDENCE, default on; it runs when METHODS holds a DT-RH variant, DTRH, "
        "DTASYM or DTRHONLY): DT-RH as a tested hypothesis (methods guide, docs/methods.md, section 20). Per "
        "site-year one joint model of all measured NEE (night and day, Rref and light response per block of "
        "JOINT_BLOCK_DAYS days, E0 night, E0 day and gamma shared) is fitted as DT, DT-asym, DT-RHonly and "
        "DT-RH and compared by AIC, BIC, likelihood-ratio tests corrected for autocorrelation and blocked "
        "cross-validation; EVIDENCE_BOOTSTRAP replicates (days resampled within blocks, SEED) give 95 % "
        "intervals of E0 night and day, their difference, gamma and the daytime ER of DT-RH, DT and NT. An "
        "effect (asymmetry, humidity) is supported when its interval excludes 0 and it improves the "
        "held-out fit (with 0 replicates: the corrected LR test at 0.05). SUMMARY gets SUPPORTED_MODEL, "
        "SUPPORTED_ASYMMETRY, SUPPORTED_RH, EVIDENCE (why, in words) and the JOINT_* columns (E0 in K, gamma "
        "in %-1, ER in umol CO2 m-2 s-1, each with _SE, _CI_LO, _CI_HI); EVIDENCE_MODELS one row per "
        "site-year and model (E0_NIGHT_K, E0_DAY_K, GAMMA, AIC, BIC, CV_CHI2, CV_RMSE_DAY, ...); "
        "EVIDENCE_TESTS one row per nested pair (LR, P, N_EFF, P_EFF, F, P_F). It costs about 10 s plus "
        "0.6 to 0.9 s per replicate per site-year (1 to 1.5 min at 100 replicates, on two cores about half); "
        "with the raw chain it runs for the median (50) u* scenario only (the tables then have USTAR_SCENARIO). "
        "The block length, "
        "RH_AT_NIGHT and RH_FUNCTION (advanced) set both the DT-RH methods and the joint model.</p>"
        "<p><b>Raw input</b> (RAW_CHAIN, default off): on, the raw NEE is first u*-filtered and gap-filled "
        "per u* scenario, as REddyProc's sEstimateUstarScenarios and sApplyUStarScen and FLUXNET2015's VUT "
        "percentiles: u* thresholds per year by the moving point test or the change-point detection with "
        "BOOTSTRAP samples (SEED); SW_IN, TA and VPD MDS-filled; for each scenario (the 5th, 50th and 95th "
        "percentile of the bootstrap thresholds) night-time NEE below the threshold removed, NEE MDS-filled and "
        "partitioned (fits on the measured records only). OUTPUT then also holds NEE_&lt;S&gt;_F, _F_QC, _RANDUNC "
        "(random uncertainty), USTAR_TH_&lt;S&gt;, RECO_&lt;M&gt;_&lt;S&gt;, GPP_&lt;M&gt;_&lt;S&gt; and "
        "QC_&lt;M&gt;_&lt;S&gt; for S = 05, 50, 95 (the plain RECO_&lt;M&gt;, GPP_&lt;M&gt;, QC_&lt;M&gt; and NEE "
        "are the 50 scenario's, as WINDOWS and REPORT), and SUMMARY the annual sums per scenario, their range "
        "over the scenarios "
        "(_gC_min, _gC_max: the u* uncertainty) and the random uncertainty of annual NEE (NEE_&lt;S&gt;_rand_gC, "
        "REddyProc's sqrt(sum sd^2 / n / (n_eff - 1)) over the measured records with the autocorrelation "
        "correction; methods guide, docs/methods.md, section 19).</p>"
        "<p>Tref is 15 degC, T0 227.13 K, C = 12.011 g mol-1. DT-RH follows the programme's proposal "
        "(methods guide, docs/methods.md in the plugin folder, section 7.2): its options are documented in "
        "ecoresp_core/partitioning/dtrh.py.</p>"
        "<p><b>Fit only measured NEE</b> (FIT_QC_ONLY, default on): every method fits records with "
        "NEE_QC = 0 only; off, gap-filled NEE is fitted too: NT's night-time Lloyd-Taylor fits, DT's "
        "night E0, Rref and light-response fits and its sdNEE look-up, the same fits of DT-RH, the "
        "training records of RF and NN, and the Kok low-light regressions.</p>")
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
        self.addParameter(QgsProcessingParameterString(
            self.METHODS, f"Methods (comma separated: {', '.join(m.code for m in registered_methods())})",
            defaultValue=",".join(default_methods())))
        self.addParameter(QgsProcessingParameterBoolean(
            self.FIT_QC_ONLY, "Fit only measured NEE (QC = 0)", True))
        self.addParameter(QgsProcessingParameterEnum(
            self.RAW_CHAIN, "Raw input: u* filtering and gap filling first", list(self.RAW_CHOICES),
            defaultValue=0))
        self.addParameter(QgsProcessingParameterNumber(
            self.BOOTSTRAP, "u* bootstrap samples (raw input)", NUMBER_INTEGER, 100, False, 1, 10000))
        self.addParameter(QgsProcessingParameterNumber(
            self.SEED, "Random seed (u* bootstrap of raw input, model-evidence bootstrap)", NUMBER_INTEGER, 1,
            False, 0))
        self.addParameter(QgsProcessingParameterBoolean(
            self.EVIDENCE, "Compare DT, DT-asym, DT-RHonly and DT-RH per site-year (model evidence)", True))
        self.addParameter(QgsProcessingParameterNumber(
            self.EVIDENCE_BOOTSTRAP, "Model evidence: bootstrap replicates (0 = no intervals)", NUMBER_INTEGER,
            100, False, 0, 100000))
        for p in (QgsProcessingParameterNumber(self.JOINT_BLOCK_DAYS, "DT-RH joint model: block length (days)",
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
            parse_methods(self.parameterAsString(parameters, self.METHODS, context))
        except Exception as exc:  # InputError from the core
            return False, str(exc)
        try:
            self.check_numbers(parameters, context)
        except QgsProcessingException as exc:
            return False, str(exc)
        return super().checkParameterValues(parameters, context)

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
        methods = self.run_core(parse_methods, self.parameterAsString(parameters, self.METHODS, context))
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
        for flags in sp.summary.filter(like="flags_").itertuples(index=False):
            for f in flags:
                if isinstance(f, str) and f:
                    feedback.pushWarning(f)
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
            write_text_atomic(report, report_html(sp.partitions[sp.info["median_scenario"]] if raw else sp,
                                                  f"ecoresp partitioning: {a.site_id}"))
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
