"""ecoresp:sitemonthtable — one row per site-month: ER (mean rate and monthly sum), coverage,
a quality flag, site metadata and driver values sampled from monthly rasters at the sites."""

import os

import numpy as np
import pandas as pd
from qgis.core import (QgsCoordinateReferenceSystem, QgsCoordinateTransform,
                       QgsProcessingException, QgsProcessingParameterBoolean,
                       QgsProcessingParameterFeatureSink, QgsProcessingParameterFeatureSource,
                       QgsProcessingParameterField, QgsProcessingParameterMultipleLayers,
                       QgsProcessingParameterNumber, QgsProcessingParameterString, QgsProject,
                       QgsVectorLayer)

from ..ecoresp_core.io.series import open_series
from ..ecoresp_core.io.towers import read_tower, site_id_from_name
from ..ecoresp_core.upscaling.sitemonth import (append_site_months, attach_tower_meteorology, er_label,
                                                is_fluxnet_monthly,
                                                read_fluxnet_monthly, sample_drivers, site_month_table)
from .base import DriverSources, EcorespAlgorithm
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
    HELP = (
        "<p>Builds one row per site and calendar month (local standard time) for training an upscaling "
        "model: <b>ER_gC_m2_d</b>, the monthly mean ER rate in g C m-2 d-1 (mean of the half-hourly "
        "umol CO2 m-2 s-1 x 1.0377504, C = 12.011 g/mol), <b>ER_gC_m2_month</b> (rate x the real days "
        "of the month), n_records / n_expected, <b>frac_present</b> (records with ER), "
        "<b>frac_measured</b> (NEE QC = 0), <b>frac_good</b> (NEE QC 0 or 1; for FLUXNET2015 MM files the "
        "file's NEE_VUT_REF_QC fraction) and <b>quality_ok</b> (frac_good &gt;= MIN_COVERAGE), plus "
        "latitude, longitude, IGBP and MAT from the FLUXNET2015 site list or the SITES layer. Column "
        "names follow the FLUXNET2015 site-month table (RECO_NT_gC_m2_d, TA_F_degC, SW_IN_F_W_m2, "
        "VPD_F_hPa, ...).</p>"
        "<p><b>Inputs</b>: files, each a partition output table (CSV or GeoPackage from ecoresp:partition, "
        "with TIMESTAMP_START, the ER field and NEE_QC), a FLUXNET2015 half-hourly file (ER field "
        "RECO_NT_REF / RECO_DT_REF or the file's RECO_NT_VUT_REF) or a FLUXNET2015 MM file (TIMESTAMP = "
        "YYYYMM, ER field e.g. RECO_NT_VUT_REF in g C m-2 d-1); or one table layer. The site id comes from "
        "SITE_IDS (comma separated, in input order), a site_id field or the file name (FLX_&lt;SITE&gt;_...).</p>"
        "<p><b>Drivers</b>: raster layers, each a monthly series with one dated band per month; the layer "
        "name is the column name. Each site takes the value of the cell holding it for the row's year and "
        "month; NaN outside the grid (with a warning naming the driver and the site) or for months the "
        "series lacks. Drivers must share grid, CRS and dates (use ecoresp:derivedriver for RH, VPD, DTR "
        "and unit conversions). " + DriverSources.HELP_FILES + " TOWER_MET adds the tower's monthly mean TA, SW_IN and VPD instead of, or "
        "besides, gridded drivers (the methods guide, docs/methods.md, section 12, recommends gridded drivers for training).</p>"
        "<p><b>APPEND</b> adds the rows of an existing site-month table (e.g. the FLUXNET2015 table of "
        "175 sites), its APPEND_ER_FIELD becoming ER_gC_m2_d, so that your towers train together with "
        "the network; where both give the same site-month, your input wins. Appended rows get "
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
        self.addParameter(QgsProcessingParameterField(
            "SITE_ID_FIELD", "Site id field of the site points", "site_id", "SITES", optional=True))
        self.addParameter(QgsProcessingParameterMultipleLayers(
            "DRIVERS", "Driver rasters (monthly series; layer name = driver name)", SOURCE_RASTER,
            optional=True))
        DriverSources.add_files_parameter(self)
        self.addParameter(QgsProcessingParameterFeatureSource(
            "APPEND", "Append a site-month table (e.g. FLUXNET2015, screened beforehand)",
            [SOURCE_VECTOR], optional=True))
        self.addParameter(QgsProcessingParameterString(
            "APPEND_ER_FIELD", "ER field of the appended table (g C m-2 d-1)", "RECO_NT_gC_m2_d", optional=True))
        self.addParameter(QgsProcessingParameterBoolean(
            "TOWER_MET", "Add the tower's monthly TA, SW_IN, VPD", False))
        self.addParameter(QgsProcessingParameterNumber(
            "MIN_COVERAGE", "Minimum fraction of measured or good gap-filled NEE (quality_ok)",
            NUMBER_DOUBLE, 0.75, False, 0.0, 1.0))
        self.addParameter(QgsProcessingParameterFeatureSink(
            "OUTPUT", "Site-month table", SOURCE_VECTOR_POINT))

    def checkParameterValues(self, parameters, context):  # noqa: N802
        if not parameters.get("INPUTS") and not parameters.get("INPUT_TABLE"):
            return False, NO_INPUT
        return super().checkParameterValues(parameters, context)

    # -- reading ---------------------------------------------------------------------------------
    def _read_file(self, path, er, qc, site_id, min_cov):
        """('monthly', table) or ('halfhourly', DataFrame)."""
        if not os.path.isfile(path):
            raise QgsProcessingException(f"{path}: file not found")
        low = path.lower()
        if low.endswith((".csv", ".csv.gz", ".txt")):
            if is_fluxnet_monthly(path):
                return "monthly", self.run_core(read_fluxnet_monthly, path, er_column=er, site_id=site_id,
                                                min_coverage=min_cov)
            try:
                head = pd.read_csv(path, nrows=2)
            except (pd.errors.ParserError, ValueError, OSError, UnicodeError, EOFError):
                head = pd.DataFrame()
            if er in head.columns and "TIMESTAMP_START" in head.columns:
                df = pd.read_csv(path)
                df.attrs["source"] = path
            else:
                df = self.run_core(read_tower, path, site_id=site_id)
                if er not in df.columns and f"{er_label(er)}_REF" in df.columns:
                    df = df.rename(columns={f"{er_label(er)}_REF": er})
        else:
            layer = QgsVectorLayer(path, os.path.basename(path), "ogr")
            if not layer.isValid():
                raise QgsProcessingException(f"{path}: cannot be opened as a table")
            df = _layer_dataframe(layer, path)
            df.attrs["source"] = path
        if site_id:
            df.attrs["site_id"] = site_id
        elif "site_id" not in df.columns and not df.attrs.get("site_id"):
            sid = site_id_from_name(path)
            if not sid:
                raise QgsProcessingException(f"{path}: the site id is unknown: name the file with the site id "
                                             "(e.g. FLX_DE-Hai_...), add a site_id field or give SITE_IDS")
            df.attrs["site_id"] = sid
        return "halfhourly", df

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        er = self.parameterAsString(parameters, "ER_FIELD", context).strip()
        qc = self.parameterAsString(parameters, "QC_FIELD", context).strip() or "NEE_QC"
        min_cov = self.parameterAsDouble(parameters, "MIN_COVERAGE", context)
        paths = self.parameterAsFileList(parameters, "INPUTS", context) if parameters.get("INPUTS") else []
        ids = [s.strip() for s in self.parameterAsString(parameters, "SITE_IDS", context).split(",") if s.strip()]
        n_inputs = len(paths) + (1 if parameters.get("INPUT_TABLE") else 0)
        if n_inputs == 0:  # also checked before the run, but a model step's input may not have been produced
            raise QgsProcessingException(NO_INPUT)
        if ids and len(ids) != n_inputs:
            raise QgsProcessingException(f"SITE_IDS: {len(ids)} site ids for {n_inputs} inputs")
        monthly, halfhourly = [], []
        for i, path in enumerate(paths):
            kind, obj = self._read_file(path, er, qc, ids[i] if ids else None, min_cov)
            (monthly if kind == "monthly" else halfhourly).append(obj)
            feedback.pushInfo(f"{os.path.basename(path)}: {'FLUXNET2015 MM' if kind == 'monthly' else 'half-hourly'}"
                              f" table, {len(obj)} rows")
        if parameters.get("INPUT_TABLE"):
            src = self.parameterAsSource(parameters, "INPUT_TABLE", context)
            if src is None:
                raise QgsProcessingException("INPUT_TABLE: cannot be read")
            df = _layer_dataframe(src, "INPUT_TABLE")
            df.attrs["source"] = f"INPUT_TABLE {src.sourceName()}"
            if ids:
                df.attrs["site_id"] = ids[-1]
            if "site_id" not in df.columns and not df.attrs.get("site_id"):
                raise QgsProcessingException("INPUT_TABLE: has no site_id field; give SITE_IDS")
            halfhourly.append(df)
        parts = list(monthly)
        if halfhourly:
            table = self.run_core(site_month_table, halfhourly, er_column=er, qc_column=qc, min_coverage=min_cov)
            if self.parameterAsBool(parameters, "TOWER_MET", context):
                towers = [d for d in halfhourly if "TA" in d.columns or "SW_IN" in d.columns or "VPD" in d.columns]
                if towers:
                    sids = [d.attrs.get("site_id") or d["site_id"].iloc[0] for d in towers]
                    table = self.run_core(attach_tower_meteorology, table, dict(zip(sids, towers)))
                else:
                    feedback.pushWarning("TOWER_MET: no input table has TA, SW_IN or VPD")
            parts.append(table)
        table = pd.concat(parts, ignore_index=True).sort_values(["site_id", "year", "month"], ignore_index=True)
        if table.duplicated(["site_id", "year", "month"]).any():
            r = table[table.duplicated(["site_id", "year", "month"])].iloc[0]
            raise QgsProcessingException(f"site {r.site_id}: month {r.year}-{r.month:02d} comes from more than one input")

        table = self._apply_sites(parameters, context, table, feedback)
        if parameters.get("APPEND"):
            src = self.parameterAsSource(parameters, "APPEND", context)
            if src is None:
                raise QgsProcessingException("APPEND: cannot be read")
            other = source_to_dataframe(src, [f for f in src.fields().names() if f.lower() != "fid"],
                                        what="APPEND", numeric_text=True)
            er_field = self.parameterAsString(parameters, "APPEND_ER_FIELD", context) or "RECO_NT_gC_m2_d"
            table, n_dup = self.run_core(append_site_months, table, other, er_field, f"APPEND {src.sourceName()}")
            feedback.pushInfo(f"APPEND: {len(other) - n_dup} site-months appended"
                              + (f"; {n_dup} left out because the inputs give the same site-month" if n_dup else ""))
        drivers = {}
        for name, source, variable in DriverSources.sources(self, parameters, context):
            if name in table.columns:
                raise QgsProcessingException(f"DRIVERS: driver {name!r} has the name of a table column; rename it")
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

    def _apply_sites(self, parameters, context, table, feedback):
        if parameters.get("SITES"):
            src = self.parameterAsSource(parameters, "SITES", context)
            field = self.parameterAsString(parameters, "SITE_ID_FIELD", context) or "site_id"
            if field not in src.fields().names():
                raise QgsProcessingException(f"SITES: has no field {field!r}; fields: "
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
            hit = table["site_id"].isin(coords)
            table.loc[hit, "latitude"] = [coords[s][0] for s in table.loc[hit, "site_id"]]
            table.loc[hit, "longitude"] = [coords[s][1] for s in table.loc[hit, "site_id"]]
            missing = sorted(set(table.loc[~hit, "site_id"]))
            if missing:
                feedback.pushWarning(f"SITES: no point for site(s) {', '.join(missing)}; using the FLUXNET2015 "
                                     "site list")
        nocoord = sorted(set(table.loc[~np.isfinite(table["latitude"].astype(float)), "site_id"]))
        if nocoord:
            feedback.pushWarning(f"no coordinates for site(s) {', '.join(nocoord)} (not in the FLUXNET2015 "
                                 "site list and not in SITES)")
        return table

