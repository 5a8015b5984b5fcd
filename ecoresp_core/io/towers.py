"""Eddy-covariance tower files -> the project's tower table (one site, half-hourly or hourly).

The tower table (the contract every partitioning method consumes):

- index: ``pandas.DatetimeIndex`` named ``TIMESTAMP_START``, the START of each interval in local
  standard time, regular step of 30 or 60 min, sorted, unique, without missing rows;
  ``TIMESTAMP_END`` is kept as a column.
- standard columns, float64, NaN for -9999 / missing (see :data:`UNITS`): ``NEE``, ``NEE_QC``
  (0 measured, 1..3 gap-filled; 0 wherever NEE is present when the file has no QC), ``TA``,
  ``SW_IN`` (negatives -> 0), ``SW_IN_POT`` (computed with :mod:`ecoresp_core.common.solar`
  when absent), ``VPD`` (hPa), ``RH`` (%; derived from VPD and TA when absent, docs/methods.md section 11);
  optional ``TS``, ``SWC``, ``WS``, ``USTAR``, ``NIGHT``, the driver QC flags ``TA_QC``,
  ``SW_IN_QC``, ``VPD_QC`` and the reference partitioning ``GPP_NT_REF``, ``GPP_DT_REF``,
  ``RECO_NT_REF``, ``RECO_DT_REF``.
- the site information travels with the table as a :class:`TowerData` (``data``, the table;
  ``site``, a :class:`SiteInfo`: site id, coordinates, UTC offset and where each came from, step,
  records per day, source file, format, units, columns used, derived columns, unit conversions).

Reading is three steps, each usable on its own: :func:`read_raw` (format, parsing, time axis) ->
:func:`standardise` (standard names, QC, units) -> :func:`complete` (site location, SW_IN_POT, RH);
:func:`read_tower` composes them.

Formats: ``fluxnet2015`` (FULLSET/SUBSET HH/HR csv or csv.gz, site id from ``FLX_<SITE>_...``;
also ICOS ``ICOSETC_<SITE>_FLUXNET_...`` files), ``ameriflux`` (AmeriFlux BASE / ONEFlux csv with
TIMESTAMP_START/END, '#' comment lines allowed, positional qualifiers such as ``TA_1_1_1``; raw
``FC`` plus storage ``SC`` gives NEE = FC + SC), ``reddyproc`` (tab- or comma-separated text, row 1
names, an optional units row, time as Year/DoY/Hour or as one ``DateTime`` column, both the END of
the interval) and ``eddypro`` (EddyPro full output: ``date`` + ``time`` = END of the averaging
interval, a units row, ``co2_flux``, ``u*``, ``air_temperature`` in K, ``VPD`` in Pa).

Units are checked by name and by magnitude (:func:`standardise`): a VPD, temperature or RH column
whose values contradict its stated or conventional unit is an error that says how to state the
unit; a declared unit is converted and the conversion is recorded.  Every bad input raises
:class:`~ecoresp_core.errors.InputError` naming the file, the column and the problem.

NEE QC: the file's QC column is used when there is one.  Without one, NEE is taken as measured
only where the file is known to be raw (:data:`RAW_NEE`: REddyProc input, AmeriFlux BASE, EddyPro);
:func:`check_nee_for_fitting` refuses a file whose NEE looks gap-filled but has no QC.
"""

import csv
import gzip
import io
import os
import re
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd

from ..common.fluxvalues import MISSING_CODE
from ..common.meteorology import esat_hpa, rh_from_vpd, vpd_from_rh
from ..errors import InputError

MISSING = MISSING_CODE  # FLUXNET's missing code (common.fluxvalues)
REQUIRED = ("NEE", "TA", "SW_IN")
FORMATS = ("fluxnet2015", "ameriflux", "reddyproc", "eddypro")

UNITS = {
    "NEE": "umol CO2 m-2 s-1", "NEE_QC": "-", "TA": "degC", "SW_IN": "W m-2", "SW_IN_POT": "W m-2",
    "VPD": "hPa", "RH": "%", "TS": "degC", "SWC": "%", "WS": "m s-1", "USTAR": "m s-1", "NIGHT": "-",
    "TA_QC": "-", "SW_IN_QC": "-", "VPD_QC": "-",
    "GPP_NT_REF": "umol CO2 m-2 s-1", "GPP_DT_REF": "umol CO2 m-2 s-1",
    "RECO_NT_REF": "umol CO2 m-2 s-1", "RECO_DT_REF": "umol CO2 m-2 s-1",
}

@dataclass
class SiteInfo:
    """What is known about the site and the file of a tower table.

    Attributes
    ----------
    site_id : str or None
        FLUXNET-style id, e.g. 'DE-Tha'.
    site_id_source : str or None
        'argument', 'file name' or 'file header'.
    latitude, longitude : float or None
        Degrees north / east.
    coordinates_source : str or None
        'argument' or 'FLUXNET2015 site list'.
    utc_offset_h : float or None
        Hours local standard time is ahead of UTC.
    utc_offset_source : str or None
        'argument', 'FLUXNET2015 site list' or 'derived: round(longitude / 15)'.
    step_minutes : int or None
        30 or 60.
    records_per_day : int or None
        48 or 24.
    source : str or None
        The file read (or a description of the table's origin).
    format : str or None
        One of :data:`FORMATS`.
    units : dict
        {standard column: unit}, see :data:`UNITS`.
    columns_used : dict
        {standard name: file column}.
    time_column : str or None
        Where the time axis was read from.
    derived : list of str
        Columns computed by the reader, with how.
    conversions : list of str
        Unit conversions applied.
    warnings : list of str
        Anything a reader wants the user to know.
    nee_qc_source : str or None
        Where NEE_QC comes from: 'QC column', 'unfilled twin', 'raw file' (no QC column, NEE known
        to be unfilled: 0 where present) or 'none' (no QC column and NEE may be gap-filled: 0 where
        present, see :func:`check_nee_for_fitting`).
    year : int or None
        Calendar year of a site-year (:func:`split_years`).
    complete_year : bool or None
        True when a site-year holds every interval of its year.
    """
    site_id: str = None
    site_id_source: str = None
    latitude: float = None
    longitude: float = None
    coordinates_source: str = None
    utc_offset_h: float = None
    utc_offset_source: str = None
    step_minutes: int = None
    records_per_day: int = None
    source: str = None
    format: str = None
    units: dict = field(default_factory=dict)
    columns_used: dict = field(default_factory=dict)
    time_column: str = None
    derived: list = field(default_factory=list)
    conversions: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    nee_qc_source: str = None
    year: int = None
    complete_year: bool = None

    def as_dict(self):
        """The fields as a plain dict (for provenance and reports)."""
        return asdict(self)

    @property
    def label(self):
        """Site id, else the source, else 'the input' (for messages)."""
        return self.site_id or self.source or "the input"


@dataclass
class TowerData:
    """A tower table (module docstring) with its site information.

    Attributes
    ----------
    data : pandas.DataFrame
        Index TIMESTAMP_START (local standard time), standard columns and units.
    site : SiteInfo
    """
    data: pd.DataFrame
    site: SiteInfo = field(default_factory=SiteInfo)

    def __len__(self):
        return len(self.data)

    @property
    def index(self):
        return self.data.index

    def rows(self, key):
        """The records selected by ``data.loc[key]`` (e.g. '2007' or a time slice), same site."""
        return TowerData(self.data.loc[key], self.site)

    def with_data(self, data):
        """Another table with this tower's site information (e.g. after renaming a column)."""
        return TowerData(data, self.site)


def records_per_day_of(index):
    """Records per day from the median step of a DatetimeIndex (None for fewer than 2 records)."""
    if not isinstance(index, pd.DatetimeIndex) or len(index) < 2:
        return None
    step = float(np.median(np.diff(index.values).astype("timedelta64[s]").astype("int64")))
    return int(round(86400 / step)) if step > 0 else None


def as_tower(obj, **site):
    """``obj`` as a :class:`TowerData`: itself when it is one, else a DataFrame wrapped with a
    :class:`SiteInfo` holding ``site`` (keyword fields) and the step inferred from the index."""
    if isinstance(obj, TowerData):
        return obj
    rpd = records_per_day_of(getattr(obj, "index", None))
    info = {"records_per_day": rpd, "step_minutes": None if not rpd else int(1440 // rpd), **site}
    return TowerData(obj, SiteInfo(**info))


# Candidate file columns per standard name, in order of preference.
_FLUXNET = {
    "NEE": ["NEE_VUT_REF", "NEE_CUT_REF", "NEE_VUT_USTAR50", "NEE_CUT_USTAR50", "NEE"],
    "TA": ["TA_F", "TA_F_MDS", "TA"],
    "SW_IN": ["SW_IN_F", "SW_IN_F_MDS", "SW_IN"],
    "SW_IN_POT": ["SW_IN_POT"],
    "VPD": ["VPD_F", "VPD_F_MDS", "VPD"],
    "RH": ["RH"],
    "TS": ["TS_F_MDS_1", "TS_1"],
    "SWC": ["SWC_F_MDS_1", "SWC_1"],
    "WS": ["WS_F", "WS"],
    "USTAR": ["USTAR"],
    "NIGHT": ["NIGHT"],
    "GPP_NT_REF": ["GPP_NT_VUT_REF", "GPP_NT_CUT_REF"],
    "GPP_DT_REF": ["GPP_DT_VUT_REF", "GPP_DT_CUT_REF"],
    "RECO_NT_REF": ["RECO_NT_VUT_REF", "RECO_NT_DERIVED", "RECO_NT_CUT_REF"],
    "RECO_DT_REF": ["RECO_DT_VUT_REF", "RECO_DT_CUT_REF"],
}
_AMERIFLUX = dict(_FLUXNET)
_AMERIFLUX.update({
    # gap-filled variants first: NEE_QC is then derived from the unfilled twin when present
    "NEE": ["NEE_VUT_REF", "NEE_PI_F", "NEE_F", "NEE_PI", "NEE", "FC_PI_F", "FC_F", "FC_PI", "FC"],
    "TA": ["TA_F", "TA_PI_F", "TA_PI", "TA"],
    "SW_IN": ["SW_IN_F", "SW_IN_PI_F", "SW_IN_PI", "SW_IN"],
    "VPD": ["VPD_F", "VPD_PI_F", "VPD_PI", "VPD"],
    "RH": ["RH_PI_F", "RH_F", "RH_PI", "RH"],
    "TS": ["TS_F_MDS_1", "TS_PI_F_1", "TS_F_1", "TS_1", "TS"],
    "SWC": ["SWC_F_MDS_1", "SWC_PI_F_1", "SWC_F_1", "SWC_1", "SWC"],
    "WS": ["WS_F", "WS_PI_F", "WS"],
    "USTAR": ["USTAR_PI_F", "USTAR"],
})
_REDDYPROC = {
    "NEE": ["NEE_f", "NEE"], "TA": ["Tair_f", "Tair"], "SW_IN": ["Rg_f", "Rg"], "VPD": ["VPD_f", "VPD"],
    "RH": ["rH", "RH"], "TS": ["Tsoil_f", "Tsoil"], "USTAR": ["Ustar", "uStar", "USTAR", "u*"],
    "SW_IN_POT": ["PotRad", "PotRad_NEW"], "SWC": ["SWC"], "WS": ["WS", "wind_speed"],
    "NEE_QC": ["NEE_fqc"], "TA_QC": ["Tair_fqc"], "SW_IN_QC": ["Rg_fqc"], "VPD_QC": ["VPD_fqc"],
}
_EDDYPRO = {
    "NEE": ["co2_flux"], "TA": ["air_temperature", "TA", "Ta"], "SW_IN": ["SW_IN", "SWIN", "Rg", "RG"],
    "VPD": ["VPD"], "RH": ["RH"], "USTAR": ["u*"], "WS": ["wind_speed"], "TS": ["TS", "Ts"], "SWC": ["SWC"],
}
_CANDIDATES = {"fluxnet2015": _FLUXNET, "ameriflux": _AMERIFLUX, "reddyproc": _REDDYPROC, "eddypro": _EDDYPRO}
_UNFILLED_TWIN = {"NEE_PI_F": ("NEE_PI", "NEE"), "NEE_F": ("NEE",), "FC_PI_F": ("FC_PI", "FC"), "FC_F": ("FC",)}
# formats whose columns may carry AmeriFlux positional qualifiers (TA_1_1_1, SWIN_1_1_1 in EddyPro biomet)
_QUALIFIED = ("ameriflux", "eddypro")
_QUALIFIER = r"(?:_\d+){1,3}"

#: NEE columns known to hold unfilled (raw) fluxes, by format, without positional qualifiers: without
#: a QC column their values are taken as measured (NEE_QC = 0 where present).  FLUXNET products are
#: gap-filled and always have a QC column, so no fluxnet2015 column is raw.
RAW_NEE = {"fluxnet2015": (), "reddyproc": ("NEE", "FC"), "eddypro": ("co2_flux",),
           "ameriflux": ("NEE", "NEE_PI", "FC", "FC_PI")}
_STORAGE = ("SC", "SC_PI")  # AmeriFlux CO2 storage flux, added to a raw FC
#: share of records without NEE above which a raw file without QC gets a warning in
#: :func:`check_nee_for_fitting` (raw files have gaps; the methods fit only what is measured)
RAW_GAP_WARN = 0.01

_SITE_LIST = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data",
                          "fluxnet2015_site_list.csv")
_sites_cache = None


# ----------------------------------------------------------------------------------------------
# site metadata

def site_table():
    """The shipped FLUXNET2015 site list as {site_id: {latitude, longitude, utc_offset_h, IGBP, ...}}."""
    global _sites_cache
    if _sites_cache is None:
        out = {}
        with open(_SITE_LIST, newline="") as fh:
            for row in csv.DictReader(fh):
                rec = dict(row)
                for key in ("latitude", "longitude", "altitude", "MAT", "MAP", "utc_offset_h"):
                    val = rec.get(key, "")
                    rec[key] = float(val) if val not in ("", None) else None
                out[row["id"]] = rec
        _sites_cache = out
    return _sites_cache


def site_info(site_id):
    """Metadata of a FLUXNET2015 site id (e.g. 'DE-Tha') or None when it is not in the list."""
    return site_table().get(site_id)


def site_id_from_name(path):
    """Site id from a file name: ``FLX_<SITE>_...`` / ``AMF_<SITE>_...``, or a known id written with
    or without its hyphen (``Example_DETha98.txt`` -> 'DE-Tha').  None when nothing matches."""
    name = os.path.basename(str(path))
    m = re.match(r"(?:FLX|AMF|ICOSETC)_([A-Z]{2}-[A-Za-z0-9]{3})_", name)
    if m:
        return m.group(1)
    sites = site_table()
    for m in re.finditer(r"(?<![A-Za-z])([A-Z]{2})-?([A-Z][A-Za-z0-9]{2})(?![a-z])", name):
        cand = f"{m.group(1)}-{m.group(2)}"
        if cand in sites:
            return cand
    return None


# ----------------------------------------------------------------------------------------------
# format detection and raw reading

def _open_text(path):
    if str(path).endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", errors="replace")
    return open(path, encoding="utf-8-sig", errors="replace")


def _head_lines(path, n=4):
    lines = []
    with _open_text(path) as fh:
        for line in fh:
            lines.append(line.rstrip("\r\n"))
            if len(lines) >= 40:
                break
    comments = [line for line in lines if line.startswith("#")]
    body = [line for line in lines if not line.startswith("#") and line.strip()]
    return comments, body[:n]


def _split_header(line):
    """Column names of a header line: tab-, comma- or whitespace-separated."""
    if "\t" in line:
        return [c.strip().strip('"') for c in line.split("\t")]
    if "," in line:
        return [c.strip().strip('"') for c in line.split(",")]
    return line.split()


def _eddypro_header_row(body):
    """Index of the EddyPro names row (``filename, date, time, ..., co2_flux``) in ``body``, or None."""
    for i, line in enumerate(body[:3]):
        names = set(_split_header(line))
        if {"date", "time", "co2_flux"} <= names:
            return i
    return None


def detect_format(path):
    """One of :data:`FORMATS` from the file name and header; InputError otherwise."""
    if not os.path.isfile(path):
        raise InputError(f"{path}: file not found")
    try:
        comments, body = _head_lines(path)
    except (OSError, UnicodeError, EOFError) as exc:
        raise InputError(f"{path}: cannot be read as a text table ({exc})") from None
    if not body:
        raise InputError(f"{path}: empty file, no header line")
    header = body[0]
    names_tab = [c.strip() for c in re.split(r"\t|\s{2,}", header.strip())]
    names_tab_ws = header.split()
    if {"Year", "DoY", "Hour"} <= set(names_tab) or {"Year", "DoY", "Hour"} <= set(names_tab_ws):
        return "reddyproc"
    names = [c.strip().strip('"') for c in header.split(",")]
    if "TIMESTAMP_START" in names:
        base = os.path.basename(str(path))
        if base.startswith("FLX_") or (base.startswith("ICOSETC_") and "_FLUXNET_" in base):
            return "fluxnet2015"
        return "ameriflux"
    if "DateTime" in _split_header(header):
        return "reddyproc"
    if _eddypro_header_row(body) is not None:
        return "eddypro"
    raise InputError(f"{path}: unknown tower file format (header starts {header[:80]!r}); expected a "
                     "FLUXNET2015 or AmeriFlux csv with TIMESTAMP_START, a REddyProc text file with "
                     "Year, DoY, Hour or DateTime, or an EddyPro full output (date, time, co2_flux); "
                     "give fmt= one of " + ", ".join(FORMATS))


def _read_csv_table(path):
    comments, _ = _head_lines(path)
    try:
        raw = pd.read_csv(path, na_values=["-9999", "-9999.0", "-9999.00", "NA", "NaN", ""], low_memory=False,
                          skip_blank_lines=True, dtype={"TIMESTAMP_START": str, "TIMESTAMP_END": str},
                          **({"comment": "#"} if comments else {}))
    except (pd.errors.ParserError, ValueError, OSError, UnicodeError, EOFError) as exc:
        raise InputError(f"{path}: cannot be parsed as csv ({exc})") from None
    raw.columns = [str(c).strip().strip('"') for c in raw.columns]
    return raw, comments


_NA = ["-9999", "-9999.0", "-9999.00", "NA", "NaN", ""]
_TIME_COLUMNS = ("Year", "DoY", "Hour", "DateTime", "date", "time", "filename")


def _is_units_row(names, fields):
    """True when the line after the names is a units row: no value outside the time columns is a number."""
    for name, value in zip(names, fields):
        if name in _TIME_COLUMNS or value.strip() in _NA:
            continue
        try:
            float(value)
            return False
        except ValueError:
            continue
    return True


def _read_reddyproc_table(path):
    try:
        with _open_text(path) as fh:
            header = fh.readline().rstrip("\r\n")
            units_line = fh.readline().rstrip("\r\n")
        sep = "\t" if "\t" in header else ("," if "," in header else r"\s+")
        names = [c.strip().strip('"') for c in (header.split() if sep == r"\s+" else header.split(sep))]
        units = [c.strip().strip('"') for c in (units_line.split() if sep == r"\s+" else units_line.split(sep))]
        has_units = _is_units_row(names, units)
        raw = pd.read_csv(path, sep=sep, skiprows=2 if has_units else 1, header=None, names=names,
                          engine="python" if sep == r"\s+" else "c", na_values=_NA)
    except (pd.errors.ParserError, ValueError, OSError, UnicodeError, EOFError) as exc:
        raise InputError(f"{path}: cannot be parsed as a REddyProc text table ({exc})") from None
    unit_map = {n: (units[i] if has_units and i < len(units) else "") for i, n in enumerate(names)}
    return raw, unit_map


def _read_eddypro_table(path):
    """EddyPro full output: an optional group row (``file_info, ...``), the names row, the units row."""
    try:
        _, body = _head_lines(path, n=3)
        at = _eddypro_header_row(body)
        names = _split_header(body[at])
        units = _split_header(body[at + 1]) if len(body) > at + 1 else []
        raw = pd.read_csv(path, skiprows=at + 2, header=None, names=names, na_values=_NA, low_memory=False,
                          dtype={"date": str, "time": str, "filename": str})
    except (pd.errors.ParserError, ValueError, OSError, UnicodeError, EOFError, TypeError) as exc:
        raise InputError(f"{path}: cannot be parsed as an EddyPro full output ({exc})") from None
    return raw, {n: (units[i] if i < len(units) else "") for i, n in enumerate(names)}


def _parse_datetime(path, values, column):
    """Date-times such as '2004-01-01 00:30' (also with seconds, or 'T' between date and time)."""
    s = pd.Series(values).astype(str).str.strip().str.replace("T", " ", regex=False)
    for form in ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M", "%d.%m.%Y %H:%M"):
        ts = pd.to_datetime(s, format=form, errors="coerce")
        if ts.notna().all():
            return ts
    ts = pd.to_datetime(s, format="%Y-%m-%d %H:%M", errors="coerce")
    i = int(np.flatnonzero(ts.isna())[0])
    raise InputError(f"{path}: column {column}: time stamp {s.iloc[i]!r} in data row {i + 1} is not "
                     "'YYYY-MM-DD HH:MM'")


# ----------------------------------------------------------------------------------------------
# time axis

def _check_time_axis(path, start, column):
    """Sorted, unique, regular 30/60-min axis without gaps; returns the step in minutes."""
    if start.isna().any():
        i = int(np.flatnonzero(start.isna())[0])
        raise InputError(f"{path}: column {column}: unreadable time stamp in data row {i + 1}")
    if len(start) < 2:
        raise InputError(f"{path}: column {column}: fewer than 2 records")
    dup = start.duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise InputError(f"{path}: column {column}: duplicated time stamp {start.iloc[i]} "
                         f"(data row {i + 1}; {int(dup.sum())} duplicate(s))")
    d = np.diff(start.values).astype("timedelta64[s]").astype("int64") / 60.0
    if (d < 0).any():
        i = int(np.flatnonzero(d < 0)[0])
        raise InputError(f"{path}: column {column}: time stamps are not sorted "
                         f"({start.iloc[i]} is followed by {start.iloc[i + 1]}, data row {i + 2})")
    step = float(np.median(d))
    if step not in (30.0, 60.0):
        raise InputError(f"{path}: column {column}: time step is {step:g} min; only half-hourly (30) "
                         "and hourly (60) records are supported")
    bad = np.flatnonzero(d != step)
    if bad.size:
        i = int(bad[0])
        gap = d[i]
        if gap > step and gap % step == 0:
            missing = int(gap / step) - 1
            raise InputError(f"{path}: column {column}: gap in the time axis: {missing} missing "
                             f"record(s) between {start.iloc[i]} and {start.iloc[i + 1]} "
                             f"(data rows {i + 1}-{i + 2}; {bad.size} irregularity(ies) in all); "
                             "the file must hold every interval, with -9999 for missing values")
        raise InputError(f"{path}: column {column}: irregular time step of {gap:g} min between "
                         f"{start.iloc[i]} and {start.iloc[i + 1]} (expected {step:g} min)")
    return int(step)


def _parse_stamp(path, values, column):
    s = pd.Series(values).astype(str).str.strip().str.replace(r"\.0$", "", regex=True)
    ts = pd.to_datetime(s, format="%Y%m%d%H%M", errors="coerce")
    if ts.isna().any():
        i = int(np.flatnonzero(ts.isna())[0])
        raise InputError(f"{path}: column {column}: time stamp {s.iloc[i]!r} in data row {i + 1} "
                         "is not YYYYMMDDHHMM")
    return ts


# ----------------------------------------------------------------------------------------------
# units

#: Unit checks by magnitude (no silent guess: a contradiction is an InputError saying how to state the
#: unit; a declared unit is converted and the conversion recorded).
#: VPD: the ratio r = VPD / e_sat(TA) of daytime records (SW_IN > 10 W m-2) is 1 - RH/100 when VPD is
#: in hPa; its 99th percentile is 0.68-0.93 over the bundled FLUXNET2015 site-years and at least 0.29
#: in any 40-day window of them (0.16 in 10-day windows: humid spells), because daytime RH falls
#: well below 90 % at times; in kPa r cannot exceed 0.1.  So, over >= VPD_CHECK_DAYS days with
#: daytime records, a 99th percentile below VPD_RATIO_KPA means kPa; above VPD_RATIO_MAX (VPD above
#: saturation) the values are not hPa at all (Pa?), whatever the label.  Over VPD_SHORT_DAYS to
#: VPD_CHECK_DAYS days a humid spell can keep r low in hPa, so kPa needs both r below
#: VPD_RATIO_KPA_SHORT (the ceiling of r in kPa: RH >= 0) and a 95th percentile of daytime VPD below
#: VPD_KPA_P95 (hPa has daytime maxima of 10-60 outside humid winters): no 14-day window of the
#: bundled site-years (lowest r 0.15) passes both, while 10-day windows go down to r = 0.05.
#: Any file: 99th percentile of VPD < 0.5 (hPa would be an air saturated all the time).
VPD_RATIO_KPA = 0.12
VPD_RATIO_MAX = 1.5
VPD_CHECK_DAYS = 30
VPD_SHORT_DAYS = 14
VPD_RATIO_KPA_SHORT = 0.1
VPD_KPA_P95 = 6.0
#: TA/TS: a median above 200 is K (no air or soil temperature in degC comes near); unlabelled TA
#: whose 99th percentile is above 60 (hotter than any air temperature measured in degC) with a median
#: below 200 looks like degF (not applied to TS: a desert soil surface can pass 60 degC).
KELVIN_MEDIAN = 200.0
FAHRENHEIT_P99 = 60.0
#: RH: a 99th percentile <= 1 is a fraction (RH in % is never below 1 % for 99 % of the records).
RH_FRACTION_P99 = 1.0

_HPA = ("hpa", "mbar", "mb")
_KELVIN = ("k", "kelvin", "degk")
_CELSIUS = ("", "degc", "c", "celsius", "degreec", "degreesc", "degreecelsius")
_FAHRENHEIT = ("f", "degf", "fahrenheit", "degreef", "degreesf")


def _norm_unit(u):
    return re.sub(r"[\s_\-\*\^\[\]]", "", str(u or "")).lower().replace("°", "deg")


def _state(name, unit):
    """How to state a unit, in the words of the algorithm and of the core."""
    return f"UNITS {name}={unit} (units={{'{name}': '{unit}'}} in Python)"


def _looks_like_kpa(ratio_p99, days, day_values):
    """Daytime VPD / e_sat(TA) (99th percentile ``ratio_p99``) over ``days`` days of daytime records
    with VPD ``day_values`` that can only be kPa (module constants above)."""
    if days >= VPD_CHECK_DAYS:
        return ratio_p99 < VPD_RATIO_KPA
    return (days >= VPD_SHORT_DAYS and ratio_p99 < VPD_RATIO_KPA_SHORT
            and np.percentile(day_values, 95) < VPD_KPA_P95)


def _convert_vpd(path, col, values, unit, stated_by_user, conversions, ta=None, sw_in=None, rpd=48):
    u = _norm_unit(unit) or "hpa"  # no unit (or '-') given: the FLUXNET/AmeriFlux/REddyProc convention
    if u in ("kpa",):
        conversions.append(f"VPD ({col}) converted from kPa to hPa (x10)")
        values = values * 10.0
    elif u in ("pa",):
        conversions.append(f"VPD ({col}) converted from Pa to hPa (/100)")
        values = values / 100.0
    elif u not in _HPA:
        raise InputError(f"{path}: column {col} (VPD): unit {unit!r} is not understood; "
                         f"state it with {_state('VPD', 'hPa')}, or kPa or Pa")
    said = (f"{'stated' if stated_by_user else 'labelled'} {unit}" if _norm_unit(unit)
            else "no unit given (hPa by convention)")
    ok = np.isfinite(values)
    if ta is not None and sw_in is not None:
        es = esat_hpa(ta)
        day = ok & np.isfinite(es) & (es > 1.0) & (np.nan_to_num(sw_in, nan=-1.0) > 10.0)
        if day.sum() >= 20:
            r = np.percentile(values[day] / es[day], 99)
            if r > VPD_RATIO_MAX:
                raise InputError(f"{path}: column {col} (VPD): {said}, but the 99th percentile of VPD / e_sat(TA) "
                                 f"in daytime records is {r:.3g}: VPD cannot exceed the saturation vapour "
                                 f"pressure, so the unit is wrong (Pa?); state it with {_state('VPD', 'Pa')} "
                                 "or the unit it is in")
            days = len(np.unique(np.flatnonzero(day) // max(int(rpd), 1)))
            if not stated_by_user and _looks_like_kpa(r, days, values[day]):
                raise InputError(f"{path}: column {col} (VPD): {said}, but the 99th percentile of VPD / e_sat(TA) "
                                 f"over {days} days of daytime records is {r:.3g} (in hPa daytime RH would never "
                                 f"fall below {100 * (1 - r):.0f} %), which looks like kPa; state the unit: "
                                 f"{_state('VPD', 'kPa')} (or VPD=hPa if hPa is right)")
    if not stated_by_user and u in _HPA:
        finite = values[ok]
        if finite.size and np.percentile(finite, 99) < 0.5:
            raise InputError(f"{path}: column {col} (VPD): {said} but its 99th percentile is "
                             f"{np.percentile(finite, 99):.3g}, which looks like kPa; state the unit "
                             f"explicitly with {_state('VPD', 'kPa')} (or VPD=hPa if hPa is right)")
    return values


def _convert_temperature(path, name, col, values, unit, stated, conversions):
    u = _norm_unit(unit)
    finite = values[np.isfinite(values)]
    median = float(np.median(finite)) if finite.size else np.nan
    p99 = float(np.percentile(finite, 99)) if finite.size else np.nan
    if u in _KELVIN:
        conversions.append(f"{name} ({col}) converted from K to degC (-273.15)")
        return values - 273.15
    if u in _FAHRENHEIT:
        conversions.append(f"{name} ({col}) converted from degF to degC ((F - 32) * 5 / 9)")
        return (values - 32.0) * 5.0 / 9.0
    if u not in _CELSIUS:
        raise InputError(f"{path}: column {col} ({name}): unit {unit!r} is not understood; use degC, K or degF")
    if median > KELVIN_MEDIAN:
        if u == "" and not stated:
            conversions.append(f"{name} ({col}) converted from K to degC (-273.15): no unit given "
                               f"and the median is {median:.5g} > {KELVIN_MEDIAN:g}")
            return values - 273.15
        raise InputError(f"{path}: column {col} ({name}): labelled degC but its median is {median:.5g} "
                         f"> {KELVIN_MEDIAN:g}, which looks like K; state {_state(name, 'K')}")
    if name == "TA" and u == "" and not stated and p99 > FAHRENHEIT_P99:
        raise InputError(f"{path}: column {col} ({name}): no unit given and its 99th percentile is {p99:.4g}, "
                         f"too warm for degC, which looks like degF; state the unit: {_state(name, 'degF')} "
                         f"(or {name}=degC if degC is right)")
    return values


def _convert_rh(path, col, values, unit, stated, conversions):
    u = _norm_unit(unit)
    if u in ("fraction", "frac", "1", "01", "ratio"):
        conversions.append(f"RH ({col}) converted from a fraction (0-1) to % (x100)")
        return values * 100.0
    if u not in ("", "%", "percent", "pct"):
        raise InputError(f"{path}: column {col} (RH): unit {unit!r} is not understood; "
                         f"use % or fraction ({_state('RH', 'fraction')})")
    finite = values[np.isfinite(values)]
    if not stated and finite.size >= 10 and np.percentile(finite, 99) <= RH_FRACTION_P99:
        raise InputError(f"{path}: column {col} (RH): {'labelled %' if u else 'no unit given'} but its 99th "
                         f"percentile is {np.percentile(finite, 99):.3g}, which looks like a fraction (0-1); "
                         f"state the unit: {_state('RH', 'fraction')} (or RH=% if % is right)")
    return values


# ----------------------------------------------------------------------------------------------
# reader

def _qualified(raw_cols, name):
    """Columns ``name`` with AmeriFlux positional qualifiers (``TA_1_1_1``, ``TS_2``), lowest first."""
    pat = re.compile(re.escape(name) + _QUALIFIER)
    found = [c for c in raw_cols if pat.fullmatch(str(c))]
    return sorted(found, key=lambda c: tuple(int(x) for x in c[len(name) + 1:].split("_")))


def _base_name(col):
    """A column name without its positional qualifier (``FC_1_1_1`` -> ``FC``)."""
    return re.sub(_QUALIFIER + "$", "", str(col))


def _pick(raw_cols, candidates, qualified=False):
    """The first candidate in the file; with ``qualified``, a candidate's qualified variants
    (:func:`_qualified`) count too, right after the candidate itself."""
    cols = set(raw_cols)
    for c in candidates:
        if c in cols:
            return c
        if qualified:
            variants = _qualified(raw_cols, c)
            if variants:
                return variants[0]
    return None


@dataclass
class RawTower:
    """A tower file as read, before any renaming or unit conversion (:func:`read_raw`).

    Attributes
    ----------
    path, fmt : str
        The file and its format ('fluxnet2015', 'ameriflux' or 'reddyproc').
    table : pandas.DataFrame
        The file's columns as parsed (missing-value codes already NaN).
    file_units : dict
        {file column: unit} from a REddyProc units row ({} for csv files).
    comments : list of str
        The file's '#' header lines (csv files).
    start, end : pandas.Series
        Interval start and end of every record (local standard time).
    step_minutes : int
        30 or 60.
    time_column : str
        The column(s) the time axis was read from.
    """
    path: str
    fmt: str
    table: pd.DataFrame
    file_units: dict
    comments: list
    start: pd.Series
    end: pd.Series
    step_minutes: int
    time_column: str


def _end_stamps(path, raw, *columns):
    """Interval ends from a date-time column (or a date and a time column joined), the step and
    the name of the time axis; InputError naming the column when one is missing or unreadable."""
    for c in columns:
        if c not in raw.columns:
            raise InputError(f"{path}: column {c} is missing")
        if raw[c].isna().any():
            i = int(np.flatnonzero(raw[c].isna().values)[0])
            raise InputError(f"{path}: column {c}: missing or unreadable value in data row {i + 1}")
    label = "+".join(columns)
    text = raw[columns[0]].astype(str)
    for c in columns[1:]:
        text = text.str.strip() + " " + raw[c].astype(str).str.strip()
    end = _parse_datetime(path, text, label)
    step = _check_time_axis(path, end, label)
    return end, step, f"{label} (end of the interval)"


def read_raw(path, fmt="auto"):
    """Read a tower file into a :class:`RawTower`: format detection, parsing and the time axis
    checks (regular 30/60-min step, sorted, unique, no gaps)."""
    path = str(path)
    if not os.path.isfile(path):
        raise InputError(f"{path}: file not found")
    if fmt in (None, "auto"):
        fmt = detect_format(path)
    if fmt not in FORMATS:
        raise InputError(f"{path}: unknown format {fmt!r}; use 'auto' or one of {', '.join(FORMATS)}")
    comments = []
    if fmt in ("reddyproc", "eddypro"):
        raw, file_units = (_read_reddyproc_table if fmt == "reddyproc" else _read_eddypro_table)(path)
    if fmt == "eddypro" or (fmt == "reddyproc" and "DateTime" in raw.columns):
        end, step, stamp_col = _end_stamps(path, raw, *(("date", "time") if fmt == "eddypro" else ("DateTime",)))
        start = end - pd.Timedelta(minutes=step)
    elif fmt == "reddyproc":
        for c in ("Year", "DoY", "Hour"):
            if c not in raw.columns:
                raise InputError(f"{path}: column {c} is missing (a REddyProc file needs Year, DoY, Hour)")
            if raw[c].isna().any():
                i = int(np.flatnonzero(raw[c].isna())[0])
                raise InputError(f"{path}: column {c}: missing or unreadable value in data row {i + 1}")
        end = (pd.to_datetime(raw["Year"].astype(int).astype(str), format="%Y")
               + pd.to_timedelta(raw["DoY"].astype(float) - 1.0, unit="D")
               + pd.to_timedelta(raw["Hour"].astype(float), unit="h")).dt.round("min")
        step = _check_time_axis(path, end, "Year/DoY/Hour")
        start = end - pd.Timedelta(minutes=step)
        stamp_col = "Year/DoY/Hour"
    else:
        raw, comments = _read_csv_table(path)
        file_units = {}
        for c in ("TIMESTAMP_START",):
            if c not in raw.columns:
                raise InputError(f"{path}: column {c} is missing")
        start = _parse_stamp(path, raw["TIMESTAMP_START"], "TIMESTAMP_START")
        step = _check_time_axis(path, start, "TIMESTAMP_START")
        if "TIMESTAMP_END" in raw.columns:
            end = _parse_stamp(path, raw["TIMESTAMP_END"], "TIMESTAMP_END")
            bad = (end - start) != pd.Timedelta(minutes=step)
            if bad.any():
                i = int(np.flatnonzero(bad.values)[0])
                raise InputError(f"{path}: column TIMESTAMP_END: {end.iloc[i]} in data row {i + 1} is not "
                                 f"TIMESTAMP_START + {step} min")
        else:
            end = start + pd.Timedelta(minutes=step)
        stamp_col = "TIMESTAMP_START"
    return RawTower(path=path, fmt=fmt, table=raw, file_units=file_units, comments=comments, start=start,
                    end=end, step_minutes=int(step), time_column=stamp_col)


def _check_mapping(path, columns):
    unknown = sorted(set(columns) - set(UNITS))
    if unknown:
        raise InputError(f"{path}: columns= maps unknown standard name(s) {unknown}; "
                         f"known: {', '.join(UNITS)}")


def standardise(raw, columns=None, units=None):
    """Standard names, NEE and driver QC, units (VPD in hPa, TA/TS in degC) and SW_IN >= 0.

    Parameters
    ----------
    raw : RawTower
        From :func:`read_raw`.
    columns : dict, optional
        {standard name: file column} for anything the built-in names do not find.
    units : dict, optional
        {standard name: unit} stating units explicitly (VPD 'hPa'/'kPa'/'Pa'; TA/TS 'degC'/'K'/'degF';
        RH '%'/'fraction'); a stated unit is trusted over the file's units row and the magnitude checks
        (except VPD above saturation).

    Returns
    -------
    TowerData
        The standard columns found in the file (no derived SW_IN_POT/RH/VPD yet); its ``site`` holds
        the file, format, step, columns used, conversions, how NEE_QC was obtained
        (``nee_qc_source``), warnings and the site id read from the file name or header (if any).

    Notes
    -----
    AmeriFlux: a raw ``FC`` (found by name, not mapped with ``columns``) with a storage column
    ``SC`` gives NEE = FC + SC, as ONEFlux does (FC alone where SC is missing; both said in the
    warnings).  EddyPro: records with ``qc_co2_flux`` = 2 (the 0-1-2 flag system: bad) are set
    missing; the single-point storage ``co2_strg`` is not added.
    """
    path, fmt = raw.path, raw.fmt
    columns = dict(columns or {})
    units = dict(units or {})
    _check_mapping(path, columns)
    table, file_units = raw.table, raw.file_units
    cand = _CANDIDATES[fmt]
    qualified = fmt in _QUALIFIED
    used, warnings = {}, []
    for name in UNITS:
        if name in columns:
            col = columns[name]
            if col not in table.columns:
                raise InputError(f"{path}: column {col!r} (given for {name}) is not in the file")
            used[name] = col
            continue
        col = _pick(table.columns, cand.get(name, []), qualified)
        if col is not None:
            used[name] = col
            others = [c for c in _qualified(table.columns, _base_name(col)) if c != col] if qualified else []
            if others:
                warnings.append(f"{name}: {col} used of {', '.join([col] + others)}; map another with "
                                f"COLUMNS {name}=<column>")
    missing = [n for n in REQUIRED if n not in used]
    if missing:
        tried = "; ".join(f"{n}: tried {', '.join(cand.get(n, []))}" for n in missing)
        raise InputError(f"{path}: required column(s) {', '.join(missing)} missing ({tried}); "
                         "map them with columns={'NEE': '<file column>', ...}")

    def num(col):
        v = pd.to_numeric(table[col], errors="coerce").to_numpy(dtype="float64", copy=True)
        v[v == MISSING] = np.nan
        infinite = np.isinf(v)
        if infinite.any():
            i = int(np.flatnonzero(infinite)[0])
            raise InputError(f"{path}: column {col}: {int(infinite.sum())} non-finite value(s) ({table[col].iloc[i]!r} "
                             f"in data row {i + 1}); give -9999 for a missing value")
        return v

    idx = pd.DatetimeIndex(raw.start.values, name="TIMESTAMP_START")
    out = pd.DataFrame(index=idx)
    out["TIMESTAMP_END"] = pd.DatetimeIndex(raw.end.values)
    conversions, derived = [], []
    for name, col in used.items():
        out[name] = num(col)

    nee_col = used["NEE"]
    if fmt == "ameriflux" and "NEE" not in columns and _base_name(nee_col) in ("FC", "FC_PI"):
        sc = _pick(table.columns, _STORAGE, qualified=True)
        if sc is not None:
            storage = num(sc)
            nee = out["NEE"].values
            alone = int((np.isfinite(nee) & ~np.isfinite(storage)).sum())
            out["NEE"] = np.where(np.isfinite(storage), nee + storage, nee)
            used["NEE"] = nee_col = f"{nee_col}+{sc}"
            derived.append(f"NEE: {nee_col} (CO2 flux + storage, as ONEFlux)")
            warnings.append(f"NEE = {nee_col} (turbulent flux + CO2 storage, as ONEFlux does)"
                            + (f"; {alone} record(s) without {sc} take the flux alone" if alone else "")
                            + "; to use the flux without storage map COLUMNS NEE=" + nee_col.split("+")[0])
    if fmt == "eddypro" and "qc_" + nee_col in table.columns:
        bad = num("qc_" + nee_col) == 2
        if bad.any():
            out.loc[bad, "NEE"] = np.nan
            derived.append(f"NEE: {int(bad.sum())} record(s) with qc_{nee_col} = 2 (0-1-2 flags: bad) set missing")
        if "co2_strg" in table.columns:
            warnings.append(f"NEE = {nee_col} without co2_strg (EddyPro's single-point storage estimate)")

    # NEE QC: the file's flag, else from an unfilled twin, else 0 where NEE is present
    qc_col, qc_source = None, "QC column"
    if "NEE_QC" not in used:
        base, qual = _base_name(nee_col), nee_col[len(_base_name(nee_col)):]
        twins = [t + qual for t in _UNFILLED_TWIN.get(base, ())]
        for c in (nee_col + "_QC", nee_col + "_qc", nee_col + "_fqc"):
            if c in table.columns:
                qc_col = c
                break
        if qc_col is not None:
            out["NEE_QC"] = num(qc_col)
            used["NEE_QC"] = qc_col
        elif _pick(table.columns, twins) is not None:
            twin = _pick(table.columns, twins)
            measured = np.isfinite(num(twin))
            out["NEE_QC"] = np.where(measured, 0.0, np.where(np.isfinite(out["NEE"].values), 1.0, np.nan))
            derived.append(f"NEE_QC: 0 where {twin} is present, 1 where only {nee_col} is")
            qc_source = "unfilled twin"
        else:
            out["NEE_QC"] = np.where(np.isfinite(out["NEE"].values), 0.0, np.nan)
            derived.append("NEE_QC: no QC column, 0 where NEE is present")
            raw_names = RAW_NEE.get(fmt, ())
            qc_source = "raw file" if _base_name(nee_col.split("+")[0]) in raw_names else "none"
            if qc_source == "raw file":
                warnings.append(f"NEE ({nee_col}) is taken as raw, measured NEE ({fmt} file, no QC column): "
                                "not u*-filtered and not gap-filled")
    for name, src in (("TA", "TA_QC"), ("SW_IN", "SW_IN_QC"), ("VPD", "VPD_QC")):
        if name in used and src not in used:
            c = used[name] + "_QC"
            if c in table.columns:
                out[src] = num(c)
                used[src] = c

    # units
    bad_units = sorted(set(units) - {"TA", "TS", "VPD", "RH"})
    if bad_units:
        raise InputError(f"{path}: units= can state VPD, TA, TS and RH only, not {bad_units}")
    unit_row = {name: file_units.get(col, "") for name, col in used.items()} if file_units else {}
    for name in ("TA", "TS"):
        if name in out:
            stated = name in units
            unit = units.get(name, unit_row.get(name, ""))
            out[name] = _convert_temperature(path, name, used[name], out[name].values, unit, stated, conversions)
    if "RH" in out:
        out["RH"] = _convert_rh(path, used["RH"], out["RH"].values, units.get("RH", unit_row.get("RH", "")),
                                "RH" in units, conversions)
    if "VPD" in out:
        stated = "VPD" in units
        unit = units.get("VPD", unit_row.get("VPD") or "")
        out["VPD"] = _convert_vpd(path, used["VPD"], out["VPD"].values, unit, stated, conversions,
                                  ta=out["TA"].values, sw_in=out["SW_IN"].values, rpd=1440 // raw.step_minutes)

    sw = out["SW_IN"].values
    out["SW_IN"] = np.where(sw < 0.0, 0.0, sw)
    if "SW_IN_POT" in out:
        pot = out["SW_IN_POT"].values
        out["SW_IN_POT"] = np.where(pot < 0.0, 0.0, pot)

    site_id, site_src = site_id_from_name(path), None
    if site_id:
        site_src = "file name"
    else:
        for c in raw.comments:
            m = re.match(r"#\s*Site\s*[:=]\s*([A-Za-z]{2}-[A-Za-z0-9]{3})", c)
            if m:
                site_id, site_src = m.group(1), "file header"
                break
    step = raw.step_minutes
    site = SiteInfo(site_id=site_id, site_id_source=site_src, step_minutes=int(step),
                    records_per_day=int(1440 // step), source=path, format=fmt, columns_used=dict(used),
                    time_column=raw.time_column, derived=derived, conversions=conversions, warnings=warnings,
                    nee_qc_source=qc_source)
    return TowerData(out, site)


#: the ranges of the site overrides (UTC offsets of the world's time zones run from -12 to +14 h)
SITE_RANGES = {"latitude": (-90.0, 90.0), "longitude": (-180.0, 180.0), "UTC offset": (-12.0, 14.0)}


def check_site_overrides(path, latitude=None, longitude=None, utc_offset_h=None):
    """InputError naming the override that is not a finite number within SITE_RANGES."""
    for what, value in (("latitude", latitude), ("longitude", longitude), ("UTC offset", utc_offset_h)):
        low, high = SITE_RANGES[what]
        if value is not None and not low <= float(value) <= high:  # NaN fails too
            raise InputError(f"{path}: {what} {value} is out of range; give a number in the range {low:g} to {high:g}")


def complete(tower, site_id=None, latitude=None, longitude=None, utc_offset_h=None):
    """Site location and derived columns: SW_IN_POT (from the coordinates when the file has
    none), RH (from VPD and TA when absent, clipped to 0-100 % otherwise), VPD (from RH and TA when
    absent, NaN when both are); standard column order, float64.

    Parameters
    ----------
    tower : TowerData
        From :func:`standardise`.
    site_id : str, optional
        Overrides the site id of the file name / header.
    latitude, longitude : float, optional
        Degrees north / east; override the shipped FLUXNET2015 site list.
    utc_offset_h : float, optional
        Hours of local standard time ahead of UTC; else from the site list, else
        round(longitude / 15).

    Returns
    -------
    TowerData
        The tower table of the module docstring.
    """
    out = tower.data.copy()
    site = replace(tower.site, derived=list(tower.site.derived), conversions=list(tower.site.conversions),
                   warnings=list(tower.site.warnings))
    path, derived, step = site.source, site.derived, site.step_minutes
    check_site_overrides(path, latitude, longitude, utc_offset_h)
    site_src = "argument"
    if site_id is None:
        site_id, site_src = site.site_id, site.site_id_source
    info = site_info(site_id) if site_id else None
    coord_src = None
    if latitude is not None and longitude is not None:
        coord_src = "argument"
    elif latitude is not None or longitude is not None:
        raise InputError(f"{path}: give both latitude and longitude, or neither")
    elif info is not None and info["latitude"] is not None:
        latitude, longitude, coord_src = info["latitude"], info["longitude"], "FLUXNET2015 site list"
    utc_src = None
    if utc_offset_h is not None:
        utc_src = "argument"
    elif info is not None and info.get("utc_offset_h") is not None:
        utc_offset_h, utc_src = info["utc_offset_h"], "FLUXNET2015 site list"
    elif longitude is not None:
        utc_offset_h = float(round(float(longitude) / 15.0))
        utc_src = "derived: round(longitude / 15)"

    if "SW_IN_POT" not in out:
        if latitude is None or longitude is None or utc_offset_h is None:
            raise InputError(f"{path}: column SW_IN_POT is missing and the site location is unknown "
                             f"(site id {site_id!r}); pass latitude=, longitude= (and utc_offset_h=) or a "
                             "FLUXNET2015 site_id so that potential radiation can be computed")
        from ..common.solar import potential_radiation
        out["SW_IN_POT"] = potential_radiation(out.index, latitude, longitude, utc_offset_h, step_minutes=step)
        derived.append(f"SW_IN_POT: computed from the solar geometry at interval middles, lat {float(latitude):g}, "
                       f"lon {float(longitude):g}, UTC{float(utc_offset_h):+g}")
    if "RH" not in out:
        if "VPD" in out:
            out["RH"] = rh_from_vpd(out["VPD"].values, out["TA"].values)
            derived.append("RH: from VPD and TA (docs/methods.md section 11)")
        else:
            out["RH"] = np.nan
    else:
        out["RH"] = np.clip(out["RH"].values, 0.0, 100.0)
        if "VPD" not in out:
            out["VPD"] = vpd_from_rh(out["RH"].values, out["TA"].values)
            derived.append("VPD: from RH and TA, e_sat(TA) (1 - RH/100) (docs/methods.md section 11)")
            site.warnings.append("VPD derived from RH and TA (the file has no VPD)")
    if "VPD" not in out:
        out["VPD"] = np.nan

    order = ["TIMESTAMP_END"] + [n for n in UNITS if n in out.columns]
    out = out[order]
    for c in out.columns[1:]:
        out[c] = out[c].astype("float64")
    site = replace(site, site_id=site_id, site_id_source=site_src,
                   latitude=None if latitude is None else float(latitude),
                   longitude=None if longitude is None else float(longitude),
                   coordinates_source=coord_src,
                   utc_offset_h=None if utc_offset_h is None else float(utc_offset_h),
                   utc_offset_source=utc_src,
                   units={n: UNITS[n] for n in out.columns if n in UNITS})
    return TowerData(out, site)


def read_tower(path, fmt="auto", columns=None, site_id=None, latitude=None, longitude=None,
               utc_offset_h=None, units=None):
    """Read one tower file into the tower table (see the module docstring):
    ``complete(standardise(read_raw(path, fmt), columns, units), site_id, ...)``.

    Parameters
    ----------
    path : str
        The tower file.
    fmt : str
        'auto', 'fluxnet2015', 'ameriflux' or 'reddyproc'.
    columns : dict, optional
        {standard name: file column} for anything the built-in names do not find
        (e.g. ``{'TA': 'TA_1_1_1'}``).
    units : dict, optional
        {standard name: unit} stating units explicitly (VPD 'hPa'/'kPa'/'Pa'; TA/TS 'degC'/'K');
        it overrides a units row.
    site_id, latitude, longitude, utc_offset_h : optional
        Override what the file name and the shipped FLUXNET2015 site list give.

    Returns
    -------
    TowerData
    """
    path = str(path)
    if not os.path.isfile(path):
        raise InputError(f"{path}: file not found")
    _check_mapping(path, dict(columns or {}))
    raw = read_raw(path, fmt)
    return complete(standardise(raw, columns, units), site_id=site_id, latitude=latitude, longitude=longitude,
                    utc_offset_h=utc_offset_h)


def check_nee_for_fitting(tower, fit_qc_only=True):
    """Can the methods tell measured NEE from gap-filled NEE in this tower table?

    The rule (issue 12): with a QC column (or an unfilled twin) every method fits NEE_QC = 0.
    Without one, NEE is taken as measured only when the file is known to be raw
    (``site.nee_qc_source == 'raw file'``, see :data:`RAW_NEE`); a raw file's gaps stay gaps, and
    its night-time records are not u*-filtered, so a share of missing NEE above
    :data:`RAW_GAP_WARN` gives a warning pointing to u* filtering and gap filling.  Otherwise
    (e.g. a FLUXNET-like ``NEE_VUT_REF`` without ``NEE_VUT_REF_QC``) the filled values would be fitted
    as if measured (in a test night E0 fell from 210 K to 86 K), so this is an error, unless
    ``fit_qc_only`` is off (the user asked to fit gap-filled NEE too).

    Parameters
    ----------
    tower : TowerData
        From :func:`read_tower`.
    fit_qc_only : bool
        Whether the methods fit only NEE_QC = 0 (``ecoresp:partition`` FIT_QC_ONLY).

    Returns
    -------
    list of str
        Warnings for the user (empty when NEE comes with its QC).

    Raises
    ------
    InputError
        NEE may be gap-filled and there is no QC to tell the filled values (naming the file, the
        column and the ways out).
    """
    site, data = tower.site, tower.data
    source = site.nee_qc_source
    col = site.columns_used.get("NEE", "NEE")
    if source in (None, "QC column", "unfilled twin"):
        return []
    if source == "none":
        if not fit_qc_only:
            return [f"NEE ({col}) has no QC column and may be gap-filled: every NEE record is fitted as "
                    "measured (fit only measured NEE is off)"]
        raise InputError(f"{site.source or site.label}: NEE column {col} has no QC column and looks gap-filled "
                         f"({site.format} file, a column name of a processed product): gap-filled values cannot "
                         f"be told from measured ones, and fitting them biases the fits (night-time E0 fell "
                         f"from 210 K to 86 K in a test). Give the file's NEE QC column with COLUMNS "
                         f"NEE_QC=<column> (0 = measured), or start from the raw NEE: u* filtering "
                         f"(ecoresp:ustarthreshold) and gap filling (ecoresp:gapfill) give NEE with its QC")
    nee = data["NEE"].values
    missing = float(np.mean(~np.isfinite(nee))) if len(nee) else 0.0
    if missing > RAW_GAP_WARN:
        return [f"NEE ({col}) is raw with {100 * missing:.0f} % of the records missing and no QC column: the "
                "methods fit the measured records as they are, without u* filtering, and GPP and NEE stay "
                "missing in the gaps; for u*-filtered, gap-filled NEE with its QC run ecoresp:ustarthreshold "
                "and ecoresp:gapfill first"]
    return [f"NEE ({col}) is raw and has no QC column: the methods fit it without u* filtering; "
            "ecoresp:ustarthreshold and ecoresp:gapfill give u*-filtered NEE with its QC"]


def split_years(tower):
    """Site-years of a tower table, by the calendar year of TIMESTAMP_START (multi-year files are
    fitted year by year).

    Parameters
    ----------
    tower : TowerData or pandas.DataFrame
        A plain DataFrame gets the site information :func:`as_tower` infers.

    Returns
    -------
    list of (int, TowerData)
        Each site-year's ``site`` is the tower's plus ``year`` and ``complete_year`` (True when it
        holds every interval of the year).
    """
    tower = as_tower(tower)
    df = tower.data
    out = []
    for year, sub in df.groupby(df.index.year, sort=True):
        sub = sub.copy()
        ndays = 366 if pd.Timestamp(year=int(year), month=1, day=1).is_leap_year else 365
        rpd = tower.site.records_per_day or int(round(86400 / _step_seconds(df)))
        out.append((int(year), TowerData(sub, replace(tower.site, year=int(year),
                                                          complete_year=bool(len(sub) == ndays * rpd)))))
    return out


def _step_seconds(df):
    d = np.diff(df.index.values).astype("timedelta64[s]").astype("int64")
    return float(np.median(d)) if d.size else 1800.0
