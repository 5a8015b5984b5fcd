"""ecoresp:partition — NEE into ER and GPP with several methods side by side."""

import json
import os

from qgis.core import (QgsProcessingException, QgsProcessingParameterBoolean, QgsProcessingParameterEnum,
                       QgsProcessingParameterFeatureSink,
                       QgsProcessingParameterFileDestination, QgsProcessingParameterNumber,
                       QgsProcessingParameterString)

from ..ecoresp_core.io.towers import check_nee_for_fitting
from ..ecoresp_core.common.versions import versions
from ..ecoresp_core.io.textfiles import write_text_atomic
from ..ecoresp_core.jobs.tower import raw_to_partitioned
from ..ecoresp_core.partitioning.methods import methods as registered_methods
from ..ecoresp_core.partitioning.sitepartition import default_methods, parse_methods, partition_site, report_html
from .base import EcorespAlgorithm
from .qgiscompat import NUMBER_INTEGER, SOURCE_VECTOR, SOURCE_VECTOR_POINT
from .tables import write_table
from .towerinput import TowerInput


def methods_help():
    """The registered partitioning methods as an HTML list (code: label, help)."""
    return "".join(f"<li><b>{m.code}</b>: {m.label}" + (f". {m.help}" if m.help else "") + "</li>"
                   for m in registered_methods())


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
        "value: method failed or a driver missing; methods guide section 16); SUMMARY, "
        "one row per site-year (a point layer at the site): E0 night and day, Q10, gamma, inhibition, "
        "annual sums (g C m-2 yr-1), agreement with the FLUXNET reference partitioning when present, "
        "and every fallback flag; WINDOWS, one row per fitting window (night E0 windows, light-response "
        "windows with day and night Rref and their inhibition, DT-RH day-time E0 and gamma windows, Kok "
        "low-light windows) with the window's mean daytime TA, RH and VPD; REPORT, an HTML page with "
        "diurnal and seasonal ER by method, day "
        "versus night temperature response and inhibition by month.</p>"
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
    RAW_CHOICES = ("off", "moving point test", "change-point detection")
    OUTPUT = "OUTPUT"
    SUMMARY = "SUMMARY"
    WINDOWS = "WINDOWS"
    REPORT = "REPORT"

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
            self.SEED, "Random seed of the u* bootstrap (raw input)", NUMBER_INTEGER, 1, False, 0))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT, "Partitioned fluxes", SOURCE_VECTOR))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.SUMMARY, "Site-year summary", SOURCE_VECTOR_POINT, optional=True, createByDefault=True))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.WINDOWS, "Fitting windows", SOURCE_VECTOR, optional=True, createByDefault=True))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.REPORT, "Report", "HTML files (*.html)", optional=True, createByDefault=True))

    def checkParameterValues(self, parameters, context):  # noqa: N802
        try:
            parse_methods(self.parameterAsString(parameters, self.METHODS, context))
        except Exception as exc:  # InputError from the core
            return False, str(exc)
        return super().checkParameterValues(parameters, context)

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
        options = {"NT": {"fit_qc_only": qc_only}}  # recorded in the summary (option_NT)
        progress, cancelled = self.hooks(feedback)
        if raw:
            sp = self.run_core(raw_to_partitioned, tower, methods, ustar_method=("mpt", "cpd")[raw - 1],
                               n_boot=self.parameterAsInt(parameters, self.BOOTSTRAP, context),
                               seed=self.parameterAsInt(parameters, self.SEED, context), options=options,
                               fit_qc_only=qc_only, progress=progress, cancelled=cancelled)
            for s, v in sp.info["filled"].items():
                feedback.pushInfo(f"u* scenario {s}: {v['ustar_removed']} night records below the threshold "
                                  f"removed, {v['measured']} measured, {v['filled']} filled, {v['unfilled']} unfilled")
        else:
            sp = self.run_core(partition_site, tower, methods, options=options, fit_qc_only=qc_only,
                               progress=progress, cancelled=cancelled)
        for flags in sp.summary.filter(like="flags_").itertuples(index=False):
            for f in flags:
                if isinstance(f, str) and f:
                    feedback.pushWarning(f)
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
        report = self.parameterAsFileOutput(parameters, self.REPORT, context)
        if report:
            write_text_atomic(report, report_html(sp.partitions[sp.info["median_scenario"]] if raw else sp,
                                                  f"ecoresp partitioning: {a.site_id}"))
            results[self.REPORT] = report
        return results
