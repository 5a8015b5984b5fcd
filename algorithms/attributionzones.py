"""ecoresp:attributionzones — area shares of a dominant-driver map per climate zone, and the
share of water-related vs thermal drivers (docs/methods.md sections 13 and 15)."""

import pandas as pd
from qgis.core import (
    QgsProcessingException,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)

from ..ecoresp_core.jobs.attribution import zones_table
from ..ecoresp_core.attribution.zones import parse_groups
from ..ecoresp_core.io.series import split_source
from ..ecoresp_core.upscaling.integrate import check_zone_names
from .base import ZONE_TYPES, EcorespAlgorithm, zone_names_parameter
from .qgiscompat import FLAG_ADVANCED, SOURCE_VECTOR, add_flags
from .tables import write_table


class AttributionZonesAlgorithm(EcorespAlgorithm):
    NAME = "attributionzones"
    DISPLAY = "Attribution: dominant-driver area shares per climate zone"
    GROUP = "3 Trends and attribution"
    GROUP_ID = "trends"
    TAGS = ("attribution", "dominant driver", "climate zones", "area share", "water", "thermal", "zonal statistics")
    HELP = (
        "<p>Summarises a dominant-driver raster of <i>Attribution: partial correlation and dominant "
        "driver</i> or <i>Attribution: random-forest driver importance</i>: "
        "the share of area (exact spherical cell areas on a latitude/longitude grid, authalic sphere "
        "R = 6 371 007.181 m; cell size on a projected grid) dominated by each driver, by 'none', and by "
        "each driver group (water, thermal, other), per zone and for all pixels (zone 0, 'all').</p>"
        "<p><b>Zones</b> (same grid): mean annual temperature in degC (boreal &lt; 2, temperate 2-17 "
        "inclusive, tropical &gt; 17) or a categorical raster of integer codes (0 or nodata = no zone).</p>"
        "<p><b>Groups</b> come from the driver names (precipitation, wet days, vapour pressure, humidity, "
        "VPD, soil moisture, SPEI: water; temperature, diurnal range, frost days: thermal; others: other); "
        "<i>Driver groups</i> (advanced) overrides them, e.g. <i>rad=other; SM=water</i>.</p>"
        "<p><b>Output</b>: <i>Dominant-driver area shares per zone</i>, one row per zone and class with "
        "area_km2, share_of_zone (denominator: the zone's pixels with a result, 'none' included) and "
        "share_of_attributed (denominator: the zone's pixels with a dominant driver). Methods guide "
        "shipped with the plugin (docs/methods.md), sections \u201cGrid integration\u201d and "
        "\u201cInterannual variability: detrending, partial correlation, dominant driver\u201d.</p>"
    )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer("DOMINANT", "Dominant-driver raster"))
        self.addParameter(QgsProcessingParameterRasterLayer("ZONES", "Zones raster (same grid)", optional=True))
        self.addParameter(ZONE_TYPES.parameter("ZONE_TYPE", "Zones raster holds", optional=True))
        self.addParameter(QgsProcessingParameterString(
            "ZONE_NAMES", "Names of the zone codes (code=name, comma separated)", optional=True))
        self.addParameter(add_flags(QgsProcessingParameterString(
            "GROUPS", "Driver groups (name=water|thermal|other, ';' separated; default from names)",
            optional=True), FLAG_ADVANCED))
        self.addParameter(QgsProcessingParameterFeatureSink("OUTPUT", "Dominant-driver area shares per zone",
                                                            SOURCE_VECTOR))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        dom = self.parameterAsRasterLayer(parameters, "DOMINANT", context)
        if dom is None:
            raise QgsProcessingException(f"{self.parameter_label('DOMINANT')}: cannot load raster layer "
                                         f"{parameters.get('DOMINANT')!r}")
        dom_path = split_source(dom.source())[0]
        zl = self.parameterAsRasterLayer(parameters, "ZONES", context)
        zones_path = split_source(zl.source())[0] if zl is not None else None
        dom = zl = None  # keep no layer alive beyond this point
        groups = self.run_core(parse_groups, self.parameterAsString(parameters, "GROUPS", context),
                               self.parameter_label("GROUPS"))
        zone_names = zone_names_parameter(self, parameters, context)
        self.run_core(check_zone_names, zone_names, self.parameter_label("ZONE_NAMES"))
        rows = self.run_core(zones_table, dom_path, zones_path,
                             ZONE_TYPES.key(self, parameters, "ZONE_TYPE", context), groups or None, zone_names,
                             groups_what=self.parameter_label("GROUPS"))
        df = pd.DataFrame(rows)
        for r in rows:
            if r["kind"] == "group" and r["name"] in ("water", "thermal"):
                feedback.pushInfo(f"{r['zone_name']}: {r['name']} {r['share_of_attributed']:.3f} of the "
                                  "attributed area")
        return {"OUTPUT": write_table(self, parameters, "OUTPUT", context, df, feedback)}
