"""The tower-file input of the site algorithms (ecoresp:ustarthreshold; ecoresp:partition and
ecoresp:gapfill declare the same parameters and may take them from here): the file, its format,
the column and unit mapping and the site overrides, read by the core's ``read_tower``."""

from qgis.core import (QgsProcessingParameterEnum, QgsProcessingParameterFile, QgsProcessingParameterNumber,
                       QgsProcessingParameterString)

from ..ecoresp_core.io.towers import FORMATS, read_tower
from .base import EcorespAlgorithm
from .qgiscompat import FLAG_ADVANCED, NUMBER_DOUBLE, add_flags


class TowerInput:
    """Parameters INPUT, FORMAT, SITE_ID, LATITUDE, LONGITUDE, UTC_OFFSET, COLUMNS, UNITS."""

    INPUT = "INPUT"
    FORMAT = "FORMAT"
    SITE_ID = "SITE_ID"
    LATITUDE = "LATITUDE"
    LONGITUDE = "LONGITUDE"
    UTC_OFFSET = "UTC_OFFSET"
    COLUMNS = "COLUMNS"
    UNITS = "UNITS"

    HELP = (
        "<p><b>Input</b>: FLUXNET2015 FULLSET/SUBSET HH or HR CSV (.csv or .csv.gz; also "
        "ICOS ICOSETC_..._FLUXNET_ files), AmeriFlux BASE / ONEFlux-style CSV (positional qualifiers such "
        "as TA_1_1_1 found; a raw FC with storage SC gives NEE = FC + SC), REddyProc text (Year, DoY, Hour "
        "or DateTime, both the end of the interval; optional units row) or an EddyPro full output (date, "
        "time, co2_flux, u*, air_temperature in K, VPD in Pa; records with qc_co2_flux = 2 dropped). "
        "Columns are found by their standard names; map others with the <i>Column mapping</i> (e.g. "
        "TA=TA_1_2_1;NEE=FC) and state units with <i>Units</i> (VPD=kPa;TA=K;RH=fraction). The file format, "
        "the site overrides (site id, latitude, longitude, UTC offset), the column mapping and the units are "
        "among the Advanced parameters. Units are also checked by magnitude: VPD in "
        "kPa, temperatures in degF or RH as a fraction without a stated unit stop with a message naming "
        "the column (K without a unit is converted and said so). RH is derived from VPD and TA when absent "
        "and VPD from RH and TA, potential radiation from the site coordinates when SW_IN_POT is absent, "
        "and coordinates come from the FLUXNET2015 site list shipped with the plugin when the file has "
        "none.</p>"
    )

    @classmethod
    def add_parameters(cls, alg):
        alg.addParameter(QgsProcessingParameterFile(
            cls.INPUT, "Tower file (FLUXNET2015, AmeriFlux, REddyProc, EddyPro)",
            fileFilter="Tower files (*.csv *.csv.gz *.txt *.gz);;All files (*.*)"))
        # rarely changed (the format, columns and site are found in the file): under Advanced
        advanced = [QgsProcessingParameterEnum(cls.FORMAT, "File format", ["detect"] + list(FORMATS), defaultValue=0),
                    QgsProcessingParameterString(cls.SITE_ID, "Site id (override)", optional=True)]
        for name, label, low, high in ((cls.LATITUDE, "Latitude (degrees north, override)", -90.0, 90.0),
                                       (cls.LONGITUDE, "Longitude (degrees east, override)", -180.0, 180.0),
                                       (cls.UTC_OFFSET, "UTC offset of local standard time (hours, override)",
                                        -12.0, 14.0)):
            advanced.append(QgsProcessingParameterNumber(name, label, NUMBER_DOUBLE, None, True, low, high))
        advanced += [QgsProcessingParameterString(cls.COLUMNS, "Column mapping (standard=file column; ...)",
                                                  optional=True),
                     QgsProcessingParameterString(cls.UNITS, "Units (e.g. VPD=kPa;TA=K)", optional=True)]
        for p in advanced:
            alg.addParameter(add_flags(p, FLAG_ADVANCED))

    @classmethod
    def read(cls, alg, parameters, context):
        """(path, TowerData) of the chosen file; the core's errors name the file and the problem."""
        path = alg.parameterAsFile(parameters, cls.INPUT, context)
        fmt = (["auto"] + list(FORMATS))[alg.parameterAsEnum(parameters, cls.FORMAT, context)]
        tower = EcorespAlgorithm.read_input(
            alg.parameter_label(cls.INPUT), read_tower, path, fmt=fmt,
            columns=dict(alg.pairs(parameters, cls.COLUMNS, context, "NAME=COLUMN")),
            units=dict(alg.pairs(parameters, cls.UNITS, context, "NAME=UNIT")),
            site_id=alg.parameterAsString(parameters, cls.SITE_ID, context) or None,
            latitude=alg.optional_number(parameters, cls.LATITUDE, context),
            longitude=alg.optional_number(parameters, cls.LONGITUDE, context),
            utc_offset_h=alg.optional_number(parameters, cls.UTC_OFFSET, context))
        return path, tower
