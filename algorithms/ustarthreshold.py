"""ecoresp:ustarthreshold — u* thresholds per year and season with their bootstrap distribution."""

import os

from qgis.core import QgsProcessingParameterFeatureSink, QgsProcessingParameterNumber

from ..ecoresp_core.jobs.provenance import provenance
from ..ecoresp_core.ustar.bootstrap import ustar_thresholds
from .base import Choices, EcorespAlgorithm
from .qgiscompat import FLAG_ADVANCED, NUMBER_INTEGER, SOURCE_VECTOR, add_flags
from .tables import write_table
from .towerinput import TowerInput

METHODS = Choices({"mpt": "Moving point test (REddyProc, Papale et al. 2006)",
                   "cpd": "Change-point detection (Barr et al. 2013, as ONEFlux)"})


class UstarThresholdAlgorithm(EcorespAlgorithm):
    NAME = "ustarthreshold"
    DISPLAY = "u* threshold (moving point test or change-point detection, with bootstrap)"
    GROUP = "1 Site partitioning"
    GROUP_ID = "partitioning"
    TAGS = ("eddy covariance", "u*", "ustar", "friction velocity", "u* threshold", "u* filtering",
            "moving point test", "change-point detection", "bootstrap", "NEE", "REddyProc", "ONEFlux", "FLUXNET",
            "Papale", "Barr")
    HELP = (
        "<p>Estimates the friction-velocity (u*) threshold below which night-time NEE of one tower "
        "file is underestimated, per year and per season, with its bootstrap distribution.</p>"
        "<p><b>Moving point test</b> (default) as REddyProc's sEstUstarThold (Papale et al. 2006): "
        "night records (SW_IN &lt; 10 W m-2) with NEE, TA and u*; seasons Jan-Feb of the first year, "
        "Mar-May, Jun-Aug, Sep-Nov and Dec-Feb (December goes on into the next January); 7 temperature "
        "classes of equal size, 20 u* classes in each; a class's threshold is the mean u* of the first "
        "u* class whose NEE reaches 95 % of the mean of the next 10 classes (and the next one too); "
        "season = median over temperature classes, year = maximum over seasons (seasons pooled when the "
        "year has fewer than 3000 night records or no seasonal threshold); a year without threshold "
        "takes the median over years, a season without threshold its year's.</p>"
        "<p><b>Change-point detection</b>: Barr et al. (2013) as ONEFlux runs it.</p>"
        "<p><b>Bootstrap samples</b>: the number of samples in all (the first the original data, as "
        "REddyProc's nSample), records resampled with replacement within each season, reproducible with the "
        "<i>Random seed</i> (Advanced).</p>"
        "<p><b>u* thresholds</b>: one row per year (season 'annual') and per season (REddyProc label: year and "
        "month of the season start, e.g. 2004012 = Dec 2004 - Feb 2005): USTAR_TH (estimate on the "
        "original data, m s-1), USTAR_TH_05, _16, _50, _84, _95 (bootstrap quantiles; empty when fewer "
        "than 40 % of the samples gave a threshold), n_boot_ok, reason (fall-backs taken or why there "
        "is none), and the provenance (source file, options, versions).</p>"
        "<p>Needs NEE, TA, SW_IN and USTAR. The thresholds feed the gap-filling algorithm (its u* threshold "
        "for night-time NEE) or, all in one, the partitioning algorithm's raw input chain. Rules in detail: "
        "the methods guide shipped with the plugin (docs/methods.md in the plugin folder), section 'u* "
        "threshold (low-turbulence filtering)'.</p>" + TowerInput.HELP
    )
    METHOD = "METHOD"
    BOOTSTRAP = "BOOTSTRAP"
    SEED = "SEED"
    OUTPUT = "OUTPUT"

    def initAlgorithm(self, config=None):  # noqa: N802
        TowerInput.add_parameters(self)
        self.addParameter(METHODS.parameter(self.METHOD, "Method"))
        self.addParameter(QgsProcessingParameterNumber(
            self.BOOTSTRAP, "Bootstrap samples (including the original data; 1: none)",
            NUMBER_INTEGER, 100, False, 1, 10000))
        self.addParameter(add_flags(QgsProcessingParameterNumber(self.SEED, "Random seed", NUMBER_INTEGER, 1, False,
                                                                 0), FLAG_ADVANCED))
        self.addParameter(QgsProcessingParameterFeatureSink(self.OUTPUT, "u* thresholds", SOURCE_VECTOR))

    def checkParameterValues(self, parameters, context):  # noqa: N802
        return super().checkParameterValues(parameters, context)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        path, tower = TowerInput.read(self, parameters, context)
        method = METHODS.key(self, parameters, self.METHOD, context)
        n_boot = self.parameterAsInt(parameters, self.BOOTSTRAP, context)
        seed = self.parameterAsInt(parameters, self.SEED, context)
        site = tower.site
        feedback.pushInfo(f"{os.path.basename(path)}: site {site.site_id}, {len(tower.data)} records, "
                          f"{tower.index[0]} .. {tower.index[-1]}; u* threshold by {method}, "
                          f"{n_boot} bootstrap samples, seed {seed}")
        progress, cancelled = self.hooks(feedback)
        table = self.run_core(ustar_thresholds, tower.data, method=method, n_boot=n_boot, seed=seed,
                              progress=progress, cancelled=cancelled)
        for r in table.itertuples(index=False):
            feedback.pushInfo(f"  {r.year} {r.season:>8}: {r.USTAR_TH:.3f} m s-1 "
                              f"[{r.USTAR_TH_05:.3f} .. {r.USTAR_TH_95:.3f}] {r.reason}")
        meta = provenance("ustarthreshold", {"method": method, "n_boot": n_boot, "seed": seed},
                          {"INPUT": path})
        table.insert(0, "site_id", str(site.site_id or ""))
        table["source_file"] = path
        table["options"] = meta["ECORESP_OPTIONS"]
        table["ecoresp_versions"] = meta["ECORESP_VERSIONS"]
        return {self.OUTPUT: write_table(self, parameters, self.OUTPUT, context, table, feedback)}
