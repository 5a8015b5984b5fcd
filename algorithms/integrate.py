"""ecoresp:integrate — annual ER totals in Pg C per year from a monthly ER raster series."""

import pandas as pd
from qgis.core import (QgsProcessingParameterFeatureSink, QgsProcessingParameterRasterDestination,
                       QgsProcessingParameterRasterLayer, QgsProcessingParameterString)

from ..ecoresp_core.jobs.integrate import check_lat_lon_grid, integrate_raster
from ..ecoresp_core.upscaling.integrate import check_zone_names, large_gaps
from .base import ZONE_TYPES, Choices, TimeSeriesAlgorithm, TimeSeriesInput, zone_names_parameter
from .qgiscompat import FLAG_ADVANCED, SOURCE_VECTOR, add_flags
from .tables import write_table

# the keys are the core's UNITS, in their order
UNIT_CHOICES = Choices({"gC_m2_d": "g C m-2 d-1 (mean daily rate, e.g. FLUXNET2015 MM)",
                        "gC_m2_month": "g C m-2 month-1", "umol_m2_s": "umol CO2 m-2 s-1 (mean flux)"})
LAND_SCALES = Choices({1.0: "fraction 0-1", 0.01: "percent 0-100"})


class IntegrateAlgorithm(TimeSeriesAlgorithm):
    NAME = "integrate"
    DISPLAY = "Integrate ER to annual totals (Pg C per year)"
    GROUP = "2 Upscaling"
    GROUP_ID = "upscaling"
    TAGS = ("global total", "Pg C", "annual total", "integration", "cell area", "zonal statistics",
            "upscaling", "carbon budget")
    HELP = (
        "<p>Sums a monthly ER raster series on a regular latitude/longitude grid to annual totals "
        "in Pg C per year, globally or per zone, with exact spherical cell areas (authalic sphere, "
        "R = 6 371 007.181 m: A = R^2 dlon (sin lat_n - sin lat_s)), the real number of days of "
        "each month (leap Februaries) and an optional land fraction. Zones come from a categorical "
        "raster (IGBP, Koppen, ...) or from mean annual temperature (boreal &lt; 2 degC, temperate "
        "2-17 degC inclusive, tropical &gt; 17 degC). Only complete calendar years are totalled.</p>"
        "<p><b>What the totals leave out</b>: a pixel-month on land without ER (e.g. a land-cover class the "
        "model never saw, or a driver missing) adds nothing to the total. Per year and zone the table "
        "gives the land area (<i>land_area_km2</i>: cell areas x land fraction), the pixel-months on land "
        "without ER (<i>missing_pixel_months</i>), the land area they stand for averaged over the year's "
        "months (<i>missing_area_km2</i>) and its share of the land (<i>missing_share</i>); a share above "
        "5 % is a warning in the log. Land: cells with a land fraction above 0, or without a land "
        "fraction the cells with a value in some month.</p>" + TimeSeriesInput.HELP +
        "<p><b>Outputs</b>: <i>Annual ER totals</i>, one row per year and zone (Pg C per year); "
        "<i>Comparison table</i>, per product, zone and period the mean and standard deviation of the "
        "annual totals; <i>Annual ER sums per pixel</i> (optional), one band per year in "
        "g C m-2 yr-1. Equations: methods guide shipped with the plugin (docs/methods.md), section "
        "\u201cGrid integration\u201d.</p>"
    )

    def initAlgorithm(self, config=None):  # noqa: N802
        TimeSeriesInput.add_parameters(self, "monthly ER series")
        self.addParameter(UNIT_CHOICES.parameter("UNIT", "ER unit"))
        self.addParameter(QgsProcessingParameterRasterLayer("LAND_FRACTION", "Land fraction (same grid)",
                                                            optional=True))
        self.addParameter(add_flags(LAND_SCALES.parameter("LAND_SCALE", "Land fraction is given as"), FLAG_ADVANCED))
        self.addParameter(QgsProcessingParameterRasterLayer("ZONES", "Zones (same grid)", optional=True))
        self.addParameter(ZONE_TYPES.parameter("ZONE_TYPE", "Zones raster holds"))
        self.addParameter(QgsProcessingParameterString(
            "ZONE_NAMES", "Names of the zone codes (code=name, comma separated)", optional=True))
        self.addParameter(add_flags(QgsProcessingParameterString(
            "PRODUCT", "Product name (in the comparison table)", "ecoresp ER"), FLAG_ADVANCED))
        TimeSeriesInput.add_memory_parameter(self)
        self.addParameter(QgsProcessingParameterFeatureSink("OUTPUT", "Annual ER totals (Pg C per year)",
                                                            SOURCE_VECTOR))
        self.addParameter(QgsProcessingParameterFeatureSink(
            "SUMMARY", "Comparison table (mean and SD of the annual totals)", SOURCE_VECTOR,
            optional=True, createByDefault=True))
        self.addParameter(QgsProcessingParameterRasterDestination(
            "ANNUAL", "Annual ER sums per pixel (g C m-2 yr-1)", optional=True, createByDefault=False))

    def checkParameterValues(self, parameters, context):  # noqa: N802
        return super().checkParameterValues(parameters, context)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        src = TimeSeriesInput.open(self, parameters, context)

        def layer_path(name):
            lyr = self.parameterAsRasterLayer(parameters, name, context)
            return lyr.source() if lyr is not None else None

        given = TimeSeriesInput.INPUT_FILE if parameters.get(TimeSeriesInput.INPUT_FILE) else TimeSeriesInput.INPUT
        land_path = layer_path("LAND_FRACTION")
        self.run_core(check_lat_lon_grid, src.grid, f"{self.parameter_label(given)} {src.label}")
        annual = self.parameterAsOutputLayer(parameters, "ANNUAL", context) or None
        zone_names = zone_names_parameter(self, parameters, context)
        self.run_core(check_zone_names, zone_names, self.parameter_label("ZONE_NAMES"))
        progress, cancelled = self.hooks(feedback)
        rows, summary = self.run_core(
            integrate_raster, src, unit=UNIT_CHOICES.key(self, parameters, "UNIT", context),
            land_fraction_path=land_path,
            land_scale=LAND_SCALES.key(self, parameters, "LAND_SCALE", context),
            zones_path=layer_path("ZONES"),
            zone_type=ZONE_TYPES.key(self, parameters, "ZONE_TYPE", context),
            product=self.parameterAsString(parameters, "PRODUCT", context), annual_path=annual,
            zone_names=zone_names,
            budget_mb=self.parameterAsInt(parameters, TimeSeriesInput.MEMORY_MB, context),
            progress=progress, cancelled=cancelled,
            land_what=f"{self.parameter_label('LAND_FRACTION')} {land_path}" if land_path else None,
            scale_what=self.parameter_label("LAND_SCALE"))
        for r in summary:
            feedback.pushInfo(f"{r['zone']}: {r['mean_PgC_yr']:.4g} +- {r['sd_PgC_yr']:.2g} Pg C/yr ({r['period']})"
                              + (f"; at most {100 * r['missing_share_max']:.2f} % of its land left out in a year"
                                 if r.get("missing_share_max", 0) > 0 else ""))
        left = sum(r["missing_pixel_months"] for r in rows if r["zone"] == 0)
        feedback.pushInfo(f"pixel-months on land without ER (left out, counted as zero): {left}")
        for line in large_gaps(rows, {r["zone"]: r["zone_name"] for r in rows}):
            feedback.pushWarning(line)
        results = {"OUTPUT": write_table(self, parameters, "OUTPUT", context, pd.DataFrame(rows), feedback),
                   "SUMMARY": write_table(self, parameters, "SUMMARY", context, pd.DataFrame(summary), feedback)}
        if results["SUMMARY"] is None:
            del results["SUMMARY"]
        if annual:
            results["ANNUAL"] = annual
        return results
