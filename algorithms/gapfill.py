"""ecoresp:gapfill — MDS gap filling of tower fluxes and drivers (REddyProc sMDSGapFill rules)."""

import json
import os

import numpy as np
import pandas as pd
from qgis.core import (QgsProcessingParameterEnum, QgsProcessingParameterFeatureSink,
                       QgsProcessingParameterFileDestination, QgsProcessingParameterNumber,
                       QgsProcessingParameterString)

from ..ecoresp_core.common.versions import versions
from ..ecoresp_core.errors import InputError
from ..ecoresp_core.gapfilling.mds import MDSOptions
from ..ecoresp_core.gapfilling.site import VARIABLES, fluxnet_timestamps, gapfill_table
from ..ecoresp_core.io.textfiles import write_text_atomic
from ..ecoresp_core.io.towers import FORMATS, read_raw
from .base import EcorespAlgorithm
from .qgiscompat import FLAG_ADVANCED, NUMBER_DOUBLE, SOURCE_VECTOR, add_flags
from .tables import write_table
from .towerinput import TowerInput

RULES = [("REddyProc (sMDSGapFill)", MDSOptions.reddyproc), ("ONEFlux (gf_mds, FLUXNET2015)", MDSOptions.oneflux)]
METHODS = ["Reichstein05", "Vekuri23"]
#: file columns tried for the energy fluxes, which the tower table does not carry (unfilled first)
ENERGY_COLUMNS = {"LE": ("LE", "LE_PI", "LE_F_MDS", "LE_F"), "H": ("H", "H_PI", "H_F_MDS", "H_F")}


def energy_columns(path, fmt, index, wanted, mapping):
    """{name: Series on ``index``} of LE/H (and ``<name>_QC`` from a ``<column>_QC`` file column)
    read from the file's raw columns: ``mapping[name]`` or the first of :data:`ENERGY_COLUMNS`."""
    raw = read_raw(path, fmt)
    table = raw.table.set_index(pd.DatetimeIndex(raw.start))
    out = {}
    for name in wanted:
        col = mapping.get(name) or next((c for c in ENERGY_COLUMNS[name] if c in table.columns), None)
        if col is None or col not in table.columns:
            raise InputError(f"{path}: no {name} column (tried {', '.join(ENERGY_COLUMNS[name])}); "
                             f"map it with the Column mapping (COLUMNS), e.g. {name}={name}_1_1_1")
        out[name] = pd.to_numeric(table[col], errors="coerce").reindex(index)
        if f"{col}_QC" in table.columns:
            out[f"{name}_QC"] = pd.to_numeric(table[f"{col}_QC"], errors="coerce").reindex(index)
    return out


class GapfillAlgorithm(EcorespAlgorithm):
    NAME = "gapfill"
    DISPLAY = "Gap-fill tower fluxes and drivers (MDS)"
    GROUP = "1 Site partitioning"
    GROUP_ID = "partitioning"
    TAGS = ("eddy covariance", "gap filling", "gap-filling", "MDS", "marginal distribution sampling", "NEE",
            "u*", "ustar", "REddyProc", "ONEFlux", "FLUXNET", "Reichstein")
    HELP = (
        "<p>Fills the gaps of half-hourly or hourly tower records by marginal distribution sampling "
        "(MDS, Reichstein et al. 2005) with the rules of REddyProc's sMDSGapFill (default) or of ONEFlux "
        "(the FLUXNET2015 fills): each gap gets the mean of the measured records under similar "
        "conditions (|dSW_IN| &lt; 20..50 W m-2, |dVPD| &lt; 5 hPa, |dTA| &lt; 2.5 degC) within +-7 days, "
        "then +-14 days, then with SW_IN alone, then the mean diurnal course of neighbouring days, then "
        "ever wider windows. Gaps longer than 60 days stay unfilled (REddyProc rules).</p>"
        "<p><b>Variables to fill</b>: NEE by default; records with &lt;VAR&gt;_QC other than 0 are gaps. The "
        "drivers SW_IN, TA and VPD are used as they are in the file. LE and H are read from the file's LE/H "
        "columns (or the <i>Column mapping</i>, e.g. LE=LE_1_1_1).</p>"
        "<p><b>u* threshold for night-time NEE</b> (m s-1, optional; e.g. from the u* threshold algorithm): "
        "night-time NEE records (SW_IN &lt; 10 W m-2) with u* below it or missing become gaps before filling "
        "(REddyProc sMDSGapFillAfterUstar; USTAR_FLAG in the output).</p>"
        "<p><b>Rules</b> and, under Advanced, the <b>Look-up mean</b> (Vekuri23 corrects the skewness bias "
        "of the daytime look-up).</p>"
        "<p><b>Gap-filled records</b>: TIMESTAMP_START, TIMESTAMP_END (YYYYMMDDHHMM) and per variable "
        "&lt;VAR&gt;_F "
        "(measured or filled), _F_QC (0 measured, 1-3 fill quality, REddyProc fqc), _F_ALL and _F_ALL_QC "
        "(the look-up of every record; fluxes only), _F_SD (SD of the records used: the random "
        "uncertainty), _F_N (records used), _F_METH (1 LUT with three drivers, 2 LUT SW_IN, 3 mean "
        "diurnal course) and _F_WIN (window, days). <b>Provenance</b>: a JSON file with the rules, options, "
        "counts per quality class and versions.</p><p>Rules in detail: the methods guide shipped with the "
        "plugin (docs/methods.md in the plugin folder), section 'Gap filling: marginal distribution "
        "sampling (MDS)'.</p>" + TowerInput.HELP
    )
    VARIABLES = "VARIABLES"
    USTAR_THRESHOLD = "USTAR_THRESHOLD"
    RULES = "RULES"
    METHOD = "METHOD"
    OUTPUT = "OUTPUT"
    METADATA = "METADATA"

    def initAlgorithm(self, config=None):  # noqa: N802
        TowerInput.add_parameters(self)
        self.addParameter(QgsProcessingParameterString(
            self.VARIABLES, f"Variables to fill (comma separated: {', '.join(VARIABLES)})", defaultValue="NEE"))
        self.addParameter(QgsProcessingParameterNumber(
            self.USTAR_THRESHOLD, "u* threshold for night-time NEE (m s-1)", NUMBER_DOUBLE, None, True, 0.0))
        self.addParameter(QgsProcessingParameterEnum(
            self.RULES, "Rules", [r[0] for r in RULES], defaultValue=0))
        self.addParameter(add_flags(QgsProcessingParameterEnum(
            self.METHOD, "Look-up mean (Vekuri23: against the skewness bias by day)", METHODS, defaultValue=0),
            FLAG_ADVANCED))
        self.addParameter(QgsProcessingParameterFeatureSink(self.OUTPUT, "Gap-filled records", SOURCE_VECTOR))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.METADATA, "Provenance (JSON)", "JSON files (*.json)", optional=True, createByDefault=True))

    def variables(self, parameters, context):
        wanted = [v.upper() for v in self.names(parameters, self.VARIABLES, context)]
        bad = [v for v in wanted if v not in VARIABLES]
        if bad or not wanted:
            raise InputError(f"Variables to fill (VARIABLES): {', '.join(bad) or 'none given'}; "
                             f"choose from {', '.join(VARIABLES)}")
        return list(dict.fromkeys(wanted))

    def checkParameterValues(self, parameters, context):  # noqa: N802
        try:
            self.variables(parameters, context)
        except InputError as exc:
            return False, str(exc)
        return super().checkParameterValues(parameters, context)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        wanted = self.variables(parameters, context)
        columns = self.pairs(parameters, TowerInput.COLUMNS, context, "NAME=COLUMN")
        energy_map = {k: v for k, v in columns if k in ("LE", "H")}  # not standard names of the tower table
        if energy_map:
            parameters = dict(parameters, **{TowerInput.COLUMNS: ";".join(
                f"{k}={v}" for k, v in columns if k not in energy_map)})
        path, tower = TowerInput.read(self, parameters, context)
        fmt = (["auto"] + list(FORMATS))[self.parameterAsEnum(parameters, TowerInput.FORMAT, context)]
        a = tower.site
        feedback.pushInfo(f"{os.path.basename(path)}: site {a.site_id}, {len(tower.data)} records of "
                          f"{a.step_minutes} min, {tower.index[0]} .. {tower.index[-1]}")
        df = tower.data
        energy = [v for v in wanted if v in ("LE", "H")]
        if energy:
            df = df.assign(**self.run_core(energy_columns, path, a.format or fmt, df.index, energy, energy_map))
        ustar = self.optional_number(parameters, self.USTAR_THRESHOLD, context)
        if ustar is not None and "USTAR" not in df.columns:
            feedback.pushWarning("u* threshold for night-time NEE given but the file has no USTAR column: no u* "
                                 "filtering; map the u* column with the Column mapping (USTAR=<column>)")
            ustar = None
        label, preset = RULES[self.parameterAsEnum(parameters, self.RULES, context)]
        options = preset(method=METHODS[self.parameterAsEnum(parameters, self.METHOD, context)])
        table, info = self.run_core(gapfill_table, df, wanted, ustar_threshold=ustar, options=options)
        for var, v in info["variables"].items():
            feedback.pushInfo(f"{var}: {v['measured']} measured, filled with quality 1/2/3: {v['filled_qc1']}/"
                              f"{v['filled_qc2']}/{v['filled_qc3']}, unfilled {v['unfilled']}")
        start, end = fluxnet_timestamps(table.index)
        table = table.reset_index(drop=True)
        table.insert(0, "TIMESTAMP_END", np.asarray(end))
        table.insert(0, "TIMESTAMP_START", np.asarray(start))
        results = {self.OUTPUT: write_table(self, parameters, self.OUTPUT, context, table, feedback)}
        meta_path = self.parameterAsFileOutput(parameters, self.METADATA, context)
        if meta_path:
            meta = {"algorithm": "ecoresp:gapfill", "source_file": path, "site_id": a.site_id,
                    "rules": label, "method": options.method, "options": options.as_dict(),
                    "reference": "Reichstein et al. (2005) GCB 11:1424; REddyProc R/EddyGapfilling.R sMDSGapFill",
                    **info, "versions": versions()}
            write_text_atomic(meta_path, json.dumps(meta, indent=1, sort_keys=True, default=str))
            results[self.METADATA] = meta_path
        return results
