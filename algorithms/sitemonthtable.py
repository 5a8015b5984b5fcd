"""ecoresp:sitemonthtable — one row per site-month: ER (mean rate and monthly sum), coverage,
a quality flag, site metadata and driver values sampled from monthly rasters at the sites."""

import os

from qgis.core import (QgsCoordinateReferenceSystem, QgsCoordinateTransform,
                       QgsProcessingException, QgsProcessingParameterBoolean,
                       QgsProcessingParameterFeatureSink, QgsProcessingParameterFeatureSource,
                       QgsProcessingParameterField, QgsProcessingParameterMultipleLayers,
                       QgsProcessingParameterNumber, QgsProcessingParameterString, QgsProject,
                       QgsVectorLayer)

from ..ecoresp_core.io.series import open_series, split_source
from ..ecoresp_core.jobs.sample import sample_drivers
from ..ecoresp_core.upscaling.sitemonth import (append_site_months, combine_site_months, name_input_table,
                                                read_site_input, set_site_coordinates)
from .base import DriverSources, EcorespAlgorithm
from .destinations import source_path
from .qgiscompat import (FLAG_ADVANCED, NUMBER_DOUBLE, SOURCE_FILE, SOURCE_RASTER, SOURCE_VECTOR,
                         SOURCE_VECTOR_POINT, add_flags)
from .tables import source_to_dataframe, write_table


def _layer_dataframe(layer, what):
    return source_to_dataframe(layer, layer.fields().names(), what)


NO_INPUT = "Give input files (INPUTS) or a table layer (INPUT_TABLE)"


class SiteMonthTableAlgorithm(EcorespAlgorithm):
    NAME = "sitemonthtable"
    DISPLAY = "Site-month ER table with drivers"
    GROUP = "2 Upscaling"
    GROUP_ID = "upscaling"
    TAGS = ("upscaling", "site-month", "monthly", "training data", "FLUXNET", "eddy covariance", "drivers",
            "sampling", "respiration", "random forest", "machine learning")
    HELP = (
        "<p>Builds one row per site and calendar month (local standard time) for training an upscaling "
        "model: <b>ER_gC_m2_d</b>, the monthly mean ER rate in g C m-2 d-1 (mean of the half-hourly "
        "umol CO2 m-2 s-1 x 1.0377504, C = 12.011 g/mol), <b>ER_gC_m2_month</b> (rate x the real days "
        "of the month), n_records / n_expected, <b>frac_present</b> (records with ER), "
        "<b>frac_measured</b> (NEE QC = 0), <b>frac_good</b> (NEE QC 0 or 1; for FLUXNET2015 MM files the "
        "file's NEE_VUT_REF_QC fraction) and <b>quality_ok</b> (frac_good at least the <i>Minimum fraction of "
        "measured or good gap-filled NEE</i>, Advanced), plus latitude, longitude, IGBP and MAT from the "
        "FLUXNET2015 site list shipped with the plugin or the <i>Site points</i> layer. Column "
        "names follow the FLUXNET2015 site-month table (RECO_NT_gC_m2_d, TA_F_degC, SW_IN_F_W_m2, "
        "VPD_F_hPa, ...).</p>"
        "<p><b>Inputs</b>, one of two: files, each a table of partitioned fluxes (CSV or GeoPackage written "
        "by the partitioning algorithm, with TIMESTAMP_START, the ER field and NEE_QC), a FLUXNET2015 "
        "half-hourly file (ER field RECO_NT_REF / RECO_DT_REF or the file's RECO_NT_VUT_REF) or a FLUXNET2015 "
        "MM file (TIMESTAMP = YYYYMM, ER field e.g. RECO_NT_VUT_REF in g C m-2 d-1); or one table layer. The "
        "site id comes from the <i>Site ids</i> (comma separated, in input order), a site_id field or the "
        "file name (FLX_&lt;SITE&gt;_...).</p>"
        "<p><b>Drivers</b>: raster layers, each a monthly series with one dated band per month; the layer "
        "name is the column name. Each site takes the value of the cell holding it for the row's year and "
        "month; NaN outside the grid (with a warning naming the driver and the site) or for months the "
        "series lacks. Drivers must share grid, CRS and dates (use ecoresp:derivedriver for RH, VPD, DTR "
        "and unit conversions). <i>Driver files</i>: <i>name=source</i> entries separated by ';', where "
        "source is a raster file or NETCDF:\"file.nc\":variable (e.g. TA=NETCDF:\"cru_ts4.04.tmp.dat.nc\":tmp). "
        "<i>Add the tower's monthly TA, SW_IN, VPD</i> instead of, or besides, gridded drivers (the methods "
        "guide shipped with the plugin, docs/methods.md in the plugin folder, section 'Global upscaling', "
        "recommends gridded drivers for training).</p>"
        "<p><b>Append a site-month table</b> (optional, nothing is appended unless you choose a table) adds "
        "the rows of an existing site-month table (e.g. the FLUXNET2015 table of 175 sites), its ER field "
        "(<i>ER field of the appended table</i>, Advanced) becoming ER_gC_m2_d, so that your towers train "
        "together with the network; where both give the same site-month, your input wins. Appended rows get "
        "quality_ok = 1: screen them first (e.g. Extract by expression frac_measured &gt;= 0.2).</p>"
    )

    def initAlgorithm(self, config=None):  # noqa: N802
        self.addParameter(QgsProcessingParameterMultipleLayers(
            "INPUTS", "Partition output tables / FLUXNET2015 HH or MM files", SOURCE_FILE,
            optional=True))
        self.addParameter(QgsProcessingParameterFeatureSource(
            "INPUT_TABLE", "or one table layer (e.g. ecoresp:partition output)", [SOURCE_VECTOR],
            optional=True))
        self.addParameter(QgsProcessingParameterString("ER_FIELD", "ER field", "RECO_DTRH"))
        p = QgsProcessingParameterString("QC_FIELD", "NEE QC field (half-hourly tables)", "NEE_QC")
        add_flags(p, FLAG_ADVANCED)
        self.addParameter(p)
        self.addParameter(QgsProcessingParameterString("SITE_IDS", "Site ids (comma separated, input order)",
                                                       optional=True))
        self.addParameter(QgsProcessingParameterFeatureSource(
            "SITES", "Site points (else the FLUXNET2015 site list)", [SOURCE_VECTOR_POINT],
            optional=True))
        self.addParameter(add_flags(QgsProcessingParameterField(
            "SITE_ID_FIELD", "Site id field of the site points", "site_id", "SITES", optional=True), FLAG_ADVANCED))
        self.addParameter(QgsProcessingParameterMultipleLayers(
            "DRIVERS", "Driver rasters (monthly series; layer name = driver name)", SOURCE_RASTER,
            optional=True))
        DriverSources.add_files_parameter(self)
        self.addParameter(QgsProcessingParameterFeatureSource(
            "APPEND", "Append a site-month table (e.g. FLUXNET2015, screened beforehand)",
            [SOURCE_VECTOR], optional=True))
        self.addParameter(add_flags(QgsProcessingParameterString(
            "APPEND_ER_FIELD", "ER field of the appended table (g C m-2 d-1)", "RECO_NT_gC_m2_d", optional=True),
            FLAG_ADVANCED))
        self.addParameter(QgsProcessingParameterBoolean(
            "TOWER_MET", "Add the tower's monthly TA, SW_IN, VPD", False))
        self.addParameter(add_flags(QgsProcessingParameterNumber(
            "MIN_COVERAGE", "Minimum fraction of measured or good gap-filled NEE (quality_ok)",
            NUMBER_DOUBLE, 0.75, False, 0.0, 1.0), FLAG_ADVANCED))
        self.addParameter(QgsProcessingParameterFeatureSink(
            "OUTPUT", "Site-month table", SOURCE_VECTOR_POINT))

    def checkParameterValues(self, parameters, context):  # noqa: N802
        if not parameters.get("INPUTS") and not parameters.get("INPUT_TABLE"):
            return False, NO_INPUT
        problem = self.missing_file_problem(parameters, context)
        if problem:
            return False, problem
        return super().checkParameterValues(parameters, context)

    def input_paths(self, parameters, context):
        """The files of INPUTS."""
        return self.parameterAsFileList(parameters, "INPUTS", context) if parameters.get("INPUTS") else []

    def missing_file_problem(self, parameters, context):
        """The message naming the first file of INPUTS or DRIVER_FILES that does not exist (QGIS's
        own checks look at neither: a list of layers, a text), or None."""
        for path in self.input_paths(parameters, context):
            if not os.path.isfile(path):
                return f"{self.parameter_label('INPUTS')}: file not found: {path}"
        if str(parameters.get(DriverSources.FILES) or "").strip():
            try:
                entries = self.pairs(parameters, DriverSources.FILES, context, "name=source", ";")
            except QgsProcessingException as exc:  # an entry that is not name=source
                return str(exc)
            for name, source in entries:
                path, _ = split_source(source)
                if path and not os.path.exists(path):
                    return f"{self.parameter_label(DriverSources.FILES)}: driver {name}: file not found: {path}"
        return None

    def source_file(self, parameters, name, context):
        """The file of the table layer parameter ``name`` (its layer name when it is no file)."""
        layer = self.parameterAsVectorLayer(parameters, name, context)
        if layer is None:
            return str(parameters.get(name))
        return source_path(layer.source()) or layer.name()

    @staticmethod
    def _read_layer_file(path):
        """A table file other than CSV (e.g. a GeoPackage from ecoresp:partition) through QGIS."""
        layer = QgsVectorLayer(path, os.path.basename(path), "ogr")
        if not layer.isValid():
            raise QgsProcessingException(f"{path}: cannot be opened as a table")
        return _layer_dataframe(layer, path)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        er = self.parameterAsString(parameters, "ER_FIELD", context).strip()
        qc = self.parameterAsString(parameters, "QC_FIELD", context).strip() or "NEE_QC"
        min_cov = self.parameterAsDouble(parameters, "MIN_COVERAGE", context)
        paths = self.input_paths(parameters, context)
        problem = self.missing_file_problem(parameters, context)  # checked before the run, but not in a model step
        if problem:
            raise QgsProcessingException(problem)
        er_what, qc_what = self.parameter_label("ER_FIELD"), self.parameter_label("QC_FIELD")
        ids = self.names(parameters, "SITE_IDS", context)
        n_inputs = len(paths) + (1 if parameters.get("INPUT_TABLE") else 0)
        if n_inputs == 0:  # also checked before the run, but a model step's input may not have been produced
            raise QgsProcessingException(NO_INPUT)
        if ids and len(ids) != n_inputs:
            raise QgsProcessingException(f"{self.parameter_label('SITE_IDS')}: {len(ids)} site ids for {n_inputs} "
                                         "inputs")
        monthly, halfhourly = [], []
        for i, path in enumerate(paths):
            kind, obj = self.run_core(read_site_input, path, er, ids[i] if ids else None, min_cov,
                                      read_other=self._read_layer_file, er_what=er_what)
            (monthly if kind == "monthly" else halfhourly).append(obj)
            feedback.pushInfo(f"{os.path.basename(path)}: {'FLUXNET2015 MM' if kind == 'monthly' else 'half-hourly'}"
                              f" table, {len(obj)} rows")
        if parameters.get("INPUT_TABLE"):
            src = self.parameterAsSource(parameters, "INPUT_TABLE", context)
            if src is None:
                raise QgsProcessingException(f"{self.parameter_label('INPUT_TABLE')}: cannot be read")
            halfhourly.append(self.run_core(name_input_table, _layer_dataframe(src, "INPUT_TABLE"),
                                            f"INPUT_TABLE {src.sourceName()}", ids[-1] if ids else None))
        table, warnings = self.run_core(combine_site_months, monthly, halfhourly, er, qc, min_cov,
                                        tower_met=self.parameterAsBool(parameters, "TOWER_MET", context),
                                        er_what=er_what, qc_what=qc_what)
        table, more = self.run_core(set_site_coordinates, table, self._site_points(parameters, context))
        for w in warnings + more:
            feedback.pushWarning(w)
        if parameters.get("APPEND"):
            src = self.parameterAsSource(parameters, "APPEND", context)
            if src is None:
                raise QgsProcessingException(f"{self.parameter_label('APPEND')}: cannot be read")
            other = source_to_dataframe(src, [f for f in src.fields().names() if f.lower() != "fid"],
                                        what="APPEND", numeric_text=True)
            er_field = self.parameterAsString(parameters, "APPEND_ER_FIELD", context) or "RECO_NT_gC_m2_d"
            table, n_dup = self.run_core(append_site_months, table, other, er_field,
                                         self.source_file(parameters, "APPEND", context),
                                         er_what=self.parameter_label("APPEND_ER_FIELD"))
            feedback.pushInfo(f"Appended table: {len(other) - n_dup} site-months appended"
                              + (f"; {n_dup} left out because the inputs give the same site-month" if n_dup else ""))
        drivers = {}
        for name, source, variable in DriverSources.sources(self, parameters, context):
            if name in table.columns:
                raise QgsProcessingException(f"{self.parameter_label('DRIVERS')}: driver {name!r} has the name of a "
                                             "table column; rename it")
            drivers[name] = self.run_core(open_series, source, variable)
        if drivers:
            table = self.run_core(sample_drivers, table, drivers)
            for w in table.attrs.get("warnings", []):
                feedback.pushWarning(w)
        n_ok = int(table["quality_ok"].sum())
        feedback.pushInfo(f"{len(table)} site-months of {table['site_id'].nunique()} site(s); {n_ok} with "
                          f"frac_good >= {min_cov:g}")
        table.attrs = {}
        return {"OUTPUT": write_table(self, parameters, "OUTPUT", context, table, feedback,
                                      lon="longitude", lat="latitude")}

    def _site_points(self, parameters, context):
        """{site_id: (lat, lon)} (WGS84) of the SITES points, or None without SITES."""
        if not parameters.get("SITES"):
            return None
        src = self.parameterAsSource(parameters, "SITES", context)
        field = self.parameterAsString(parameters, "SITE_ID_FIELD", context) or "site_id"
        if field not in src.fields().names():
            raise QgsProcessingException(f"{self.parameter_label('SITES')}: has no field {field!r}; fields: "
                                         f"{', '.join(src.fields().names())}")
        ct = QgsCoordinateTransform(src.sourceCrs(), QgsCoordinateReferenceSystem("EPSG:4326"),
                                    QgsProject.instance())
        coords = {}
        for f in src.getFeatures():
            g = f.geometry()
            if g is None or g.isEmpty():
                continue
            p = ct.transform(g.centroid().asPoint())
            coords[str(f[field])] = (p.y(), p.x())
        return coords

