"""Site-month ER table for upscaling (docs/methods.md sections 11-12).

One row per site and calendar month (of the interval START, local standard time), with the
columns of the FLUXNET2015 site-month table shipped with the project where they overlap
(``site_id, year, month, n_records, n_expected, frac_present, frac_measured, TA_F_degC,
SW_IN_F_W_m2, VPD_F_hPa, TA_F_frac_measured, ..., RECO_<M>_gC_m2_d, resolution, latitude, longitude,
IGBP, MAT_degC, utc_offset_h``) plus

- ``ER_gC_m2_d``: the monthly mean rate of the chosen ER column (g C m-2 d-1): mean of the
  available half-hourly values (umol CO2 m-2 s-1) x 1.0377504 (C = 12.011 g mol-1);
- ``ER_gC_m2_month``: the rate x the real number of days of the month (leap Februaries);
- ``frac_present``: records with an ER value / records expected for the month;
- ``frac_measured``: records with NEE QC == 0 (measured) / records expected;
- ``frac_good``: records with NEE QC 0 or 1 (measured or good gap-fill) / records expected, the
  FLUXNET2015 meaning of the aggregated ``NEE_VUT_REF_QC`` (section 11);
- ``quality_ok``: 1 when ``frac_good >= min_coverage`` and the rate is defined, else 0.

``read_fluxnet_monthly`` reads FLUXNET2015 MM files into the same columns (there the rate is the
file's value, ``frac_good`` the file's NEE QC fraction and ``frac_measured`` / ``n_records`` are
unknown).  ``attach_tower_meteorology`` adds the monthly means of the tower's TA, SW_IN and VPD;
driver values sampled from monthly raster series at each site's point are added by the job
``ecoresp_core.jobs.sample.sample_drivers``.
"""

import os
import re
from dataclasses import replace

import numpy as np
import pandas as pd

from ..errors import InputError
from ..common.fluxvalues import EMPTY, finite_values, flux_values
from ..io.towers import TowerData, as_tower, read_tower, site_id_from_name, site_info
from ..common.timeaxis import days_in_month
from ..common.units import UMOL_M2_S_TO_GC_M2_D as UMOL_TO_GC_PER_DAY

KEYS = ["site_id", "year", "month"]
MET = {"TA": "TA_F_degC", "SW_IN": "SW_IN_F_W_m2", "VPD": "VPD_F_hPa"}
SITE_COLUMNS = ["latitude", "longitude", "IGBP", "MAT_degC", "utc_offset_h"]
MONTHLY_MET = {"TA_F": "TA_F_degC", "SW_IN_F": "SW_IN_F_W_m2", "VPD_F": "VPD_F_hPa"}


def er_label(er_column):
    """'RECO_NT_REF' -> 'RECO_NT', 'RECO_NT_VUT_REF' -> 'RECO_NT', 'RECO_DTRH' -> 'RECO_DTRH'."""
    name = re.sub(r"(_VUT|_CUT)?_REF$", "", str(er_column))
    name = re.sub(r"_DERIVED$", "", name)
    return name


def _site_meta(site_id, attrs=None):
    attrs = attrs or {}
    info = site_info(site_id) or {}
    lat = attrs.get("latitude", info.get("latitude"))
    lon = attrs.get("longitude", info.get("longitude"))
    return {"latitude": np.nan if lat is None else float(lat),
            "longitude": np.nan if lon is None else float(lon),
            "IGBP": info.get("IGBP") or "",
            "MAT_degC": np.nan if info.get("MAT") is None else float(info["MAT"]),
            "utc_offset_h": np.nan if attrs.get("utc_offset_h", info.get("utc_offset_h")) is None
            else float(attrs.get("utc_offset_h", info.get("utc_offset_h")))}


def _about(label, text):
    """``text`` with ``label`` (what chose the column, e.g. a parameter's label) in front, when given."""
    return f"{label}: {text}" if label else text


def _time_index(df, what):
    if isinstance(df.index, pd.DatetimeIndex):
        return df.index
    if "TIMESTAMP_START" in df.columns:
        ts = df["TIMESTAMP_START"]
        if pd.api.types.is_datetime64_any_dtype(ts):
            return pd.DatetimeIndex(ts)
        text = ts.astype(str).str.strip()
        fmt = "%Y%m%d%H%M" if text.str.fullmatch(r"\d{12}").all() else None
        try:
            return pd.DatetimeIndex(pd.to_datetime(text, format=fmt))
        except (ValueError, TypeError):
            raise InputError(f"{what}: column TIMESTAMP_START cannot be read as date-times") from None
    raise InputError(f"{what}: has no TIMESTAMP_START (neither a date-time index nor a column); "
                     f"columns: {', '.join(map(str, df.columns))}")


def _one_site_months(df, er_column, qc_column, site_id, what, er_what=None, qc_what=None):
    tower = as_tower(df)
    df = tower.data
    attrs = {k: v for k, v in tower.site.as_dict().items() if v is not None}
    idx = _time_index(df, what)
    missing = [(c, label) for c, label in ((er_column, er_what), (qc_column, qc_what)) if c not in df.columns]
    if missing:
        labels = " and ".join(dict.fromkeys(label for _, label in missing if label))
        raise InputError(_about(labels, f"{what}: column(s) {', '.join(c for c, _ in missing)} missing (needed: "
                                        f"ER {er_column}, NEE QC {qc_column}); columns: "
                                        f"{', '.join(map(str, df.columns))}"))
    if site_id is None:
        site_id = attrs.get("site_id")
    if site_id is None and "site_id" in df.columns:
        ids = df["site_id"].dropna().unique()
        if len(ids) > 1:
            raise InputError(f"{what}: holds several sites ({', '.join(map(str, ids[:5]))}); give one table per site")
        site_id = ids[0] if len(ids) else None
    if not site_id:
        raise InputError(f"{what}: the site id is unknown: give a site_id column or name the site")
    if len(idx) < 2:
        raise InputError(f"{what}: fewer than 2 records")
    dup = idx.duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise InputError(f"{what}: site {site_id}: duplicated time stamp {idx[i]} (row {i + 1}; {int(dup.sum())} "
                         "duplicate(s)): each half-hour would count more than once; give one record per time step")
    step_s = float(np.median(np.diff(idx.values).astype("timedelta64[s]").astype("int64")))
    rpd = attrs.get("records_per_day") or (86400.0 / step_s if step_s > 0 else None)
    if not rpd or abs(rpd - round(rpd)) > 1e-9:
        raise InputError(f"{what}: cannot infer a regular time step from TIMESTAMP_START")
    rpd = int(round(rpd))
    about = _about(er_what, f"{what}: column {er_column} (ER)")
    er = finite_values(flux_values(df[er_column], about)[0], about)  # text, inf or no number: an error
    qc = pd.to_numeric(df[qc_column], errors="coerce").to_numpy(dtype="float64")
    work = pd.DataFrame({"year": idx.year, "month": idx.month, "er": er,
                         "present": np.isfinite(er), "measured": qc == 0, "good": (qc == 0) | (qc == 1)})
    for src in MET:
        if src in df.columns:
            work[src] = pd.to_numeric(df[src], errors="coerce").to_numpy(dtype="float64")
    g = work.groupby(["year", "month"], sort=True)
    out = g.agg(n_records=("present", "sum"), n_measured=("measured", "sum"), n_good=("good", "sum"),
                er_mean=("er", "mean")).reset_index()
    n_exp = days_in_month(out["year"], out["month"]) * rpd
    label = er_label(er_column)
    res = pd.DataFrame({"site_id": str(site_id), "year": out["year"].astype("int64"),
                        "month": out["month"].astype("int64"),
                        "resolution": {48: "HH", 24: "HR"}.get(rpd, f"{rpd}/d"),
                        "n_records": out["n_records"].astype("int64"), "n_expected": n_exp.astype("int64"),
                        "frac_present": out["n_records"] / n_exp, "frac_measured": out["n_measured"] / n_exp,
                        "frac_good": out["n_good"] / n_exp})
    res["ER_gC_m2_d"] = out["er_mean"].to_numpy() * UMOL_TO_GC_PER_DAY
    res[f"{label}_gC_m2_d"] = res["ER_gC_m2_d"]
    res["ER_gC_m2_month"] = res["ER_gC_m2_d"] * days_in_month(res["year"], res["month"])
    res["er_source"] = str(er_column)
    for k, v in _site_meta(site_id, attrs).items():
        res[k] = v
    return res


def _finish(table, min_coverage):
    q = (table["frac_good"] >= float(min_coverage)) & np.isfinite(table["ER_gC_m2_d"])
    table["quality_ok"] = q.astype("int64")
    return table


def site_month_table(tables, er_column="RECO_DTRH", qc_column="NEE_QC", min_coverage=0.75, site_ids=None,
                     er_what=None, qc_what=None):
    """Site-month table (module docstring) from half-hourly/hourly tables: tower tables
    (``read_tower``), ``partition_site(...).table`` or partition output read back from a file
    (``TIMESTAMP_START`` as index or column).  ``tables``: one table (TowerData or DataFrame), a
    list of them, or a dict {site_id: table}.  The site id comes from ``site_ids`` (same order as
    the list), the dict key, the TowerData's ``site.site_id`` or a ``site_id`` column; coordinates,
    IGBP and MAT from the TowerData's ``site`` or the shipped FLUXNET2015 site list.  ``er_what`` /
    ``qc_what``: what chose the ER / QC column (e.g. a parameter's label), put in front of the errors
    about that column."""
    if not 0.0 <= float(min_coverage) <= 1.0:
        raise InputError(f"minimum coverage must be a fraction 0..1 (got {min_coverage})")
    if isinstance(tables, (pd.DataFrame, TowerData)):
        items = [(None, tables)]
    elif isinstance(tables, dict):
        items = list(tables.items())
    else:
        items = [(None, t) for t in tables]
    if site_ids is not None:
        if len(site_ids) != len(items):
            raise InputError(f"{len(site_ids)} site ids given for {len(items)} tables")
        items = [(s, t) for s, (_, t) in zip(site_ids, items)]
    if not items:
        raise InputError("no input tables")
    parts = []
    for i, (sid, df) in enumerate(items):
        what = as_tower(df).site.source or f"table {i + 1}" + (
            f" ({sid})" if sid else "")
        parts.append(_one_site_months(df, er_column, qc_column, sid, what, er_what, qc_what))
    table = pd.concat(parts, ignore_index=True)
    dup = table.duplicated(KEYS)
    if dup.any():
        r = table[dup].iloc[0]
        raise InputError(f"site {r.site_id}: month {r.year}-{r.month:02d} comes from more than one table")
    return _finish(table.sort_values(KEYS, ignore_index=True), min_coverage)


def append_site_months(table, other, er_column="RECO_NT_gC_m2_d", what="appended table", er_what=None):
    """``table`` plus the rows of another site-month table ``other`` (e.g. the FLUXNET2015 site-month
    table of 175 sites), whose ``er_column`` (g C m-2 d-1) becomes ``ER_gC_m2_d``.  Rows of ``other``
    for a site-month already in ``table`` are dropped (the table's own ER wins).  Appended rows get
    ``er_source = 'appended:<er_column>'`` and ``quality_ok = 1``: screen ``other`` before appending
    (e.g. frac_measured >= 0.2).  ``er_what``: what chose ``er_column`` (e.g. a parameter's label),
    in front of the error when the column is missing.  Returns (combined table, number of rows
    dropped as duplicates)."""
    for columns, label in ((KEYS, None), ([er_column], er_what)):
        missing = [c for c in columns if c not in other.columns]
        if missing:
            raise InputError(_about(label, f"{what}: column(s) {', '.join(missing)} missing; columns: "
                                           f"{', '.join(map(str, other.columns))}"))
    add = other.copy()
    add["site_id"] = add["site_id"].astype(str)
    for c in ("year", "month"):
        add[c] = pd.to_numeric(add[c], errors="coerce")
    bad = add["year"].isna() | add["month"].isna() | ~add["month"].between(1, 12)
    if bad.any():
        r = other[bad].iloc[0]
        raise InputError(f"{what}: row {int(np.flatnonzero(bad.to_numpy())[0]) + 1} has no valid year/month "
                         f"({r['year']!r}, {r['month']!r})")
    add["year"] = add["year"].astype("int64")
    add["month"] = add["month"].astype("int64")
    add["ER_gC_m2_d"] = pd.to_numeric(add[er_column], errors="coerce").astype("float64")
    add["ER_gC_m2_month"] = add["ER_gC_m2_d"] * days_in_month(add["year"], add["month"])
    add["er_source"] = f"appended:{er_column}"
    add["quality_ok"] = np.isfinite(add["ER_gC_m2_d"]).astype("int64")
    if len(table):
        own = pd.MultiIndex.from_frame(table[KEYS].astype({"site_id": str}))
        dup = pd.MultiIndex.from_frame(add[KEYS]).isin(own)
    else:
        dup = np.zeros(len(add), dtype=bool)
    add = add[~dup]
    combined = pd.concat([table, add], ignore_index=True, sort=False)
    return combined.sort_values(KEYS, ignore_index=True), int(dup.sum())


def attach_tower_meteorology(table, tower_tables):
    """Add (or replace) TA_F_degC, SW_IN_F_W_m2, VPD_F_hPa: monthly means of the tower's TA, SW_IN
    and VPD.  ``tower_tables``: dict {site_id: table} or a list of tables (TowerData or DataFrame)
    whose ``site.site_id`` or ``site_id`` column names the site."""
    items = list(tower_tables.items()) if isinstance(tower_tables, dict) else [(None, t) for t in tower_tables]
    parts = []
    for sid, df in items:
        tower = as_tower(df)
        df = tower.data
        sid = sid or tower.site.site_id or (df["site_id"].iloc[0] if "site_id" in df else None)
        if not sid:
            raise InputError("tower meteorology: a table has no site id")
        present = [c for c in MET if c in df.columns]
        if not present:
            raise InputError(f"tower meteorology of {sid}: none of the columns {', '.join(MET)} is present")
        idx = _time_index(df, f"tower table of {sid}")
        m = pd.DataFrame({c: pd.to_numeric(df[c], errors="coerce").to_numpy("float64") for c in present})
        qcs = [c for c in present if f"{c}_QC" in df.columns]
        for c in qcs:  # share of records whose driver was measured (QC 0), as in the FLUXNET2015 table
            m[f"{c}_F_frac_measured"] = (
                pd.to_numeric(df[f"{c}_QC"], errors="coerce").to_numpy("float64") == 0).astype("float64")
        m["year"], m["month"] = idx.year, idx.month
        m = m.groupby(["year", "month"]).mean().reset_index().rename(columns=MET)
        m["site_id"] = str(sid)
        parts.append(m)
    met = pd.concat(parts, ignore_index=True)
    out = table.drop(columns=[c for c in met.columns if c in table.columns and c not in KEYS])
    return out.merge(met, on=KEYS, how="left")


def read_fluxnet_monthly(path, er_column="RECO_NT_VUT_REF", qc_column="NEE_VUT_REF_QC", site_id=None,
                         min_coverage=0.75, er_what=None):
    """FLUXNET2015 MM file -> site-month table.  ``TIMESTAMP`` = YYYYMM; carbon fluxes in
    g C m-2 d-1 (mean daily rate); ``NEE_VUT_REF_QC`` is the fraction of measured and good-quality
    gap-filled records (kept as ``frac_good``).  -9999 -> NaN.  ``er_what``: what chose
    ``er_column``, in front of the error when it is missing."""
    path = str(path)
    if not os.path.isfile(path):
        raise InputError(f"{path}: file not found")
    try:
        raw = pd.read_csv(path, na_values=["-9999", "-9999.0", "-9999.00"], dtype={"TIMESTAMP": str},
                          comment=None)
    except (pd.errors.ParserError, ValueError, OSError, UnicodeError, EOFError) as exc:
        raise InputError(f"{path}: cannot be parsed as csv ({exc})") from None
    raw.columns = [str(c).strip() for c in raw.columns]
    missing = [c for c in ("TIMESTAMP", er_column, qc_column) if c not in raw.columns]
    if missing:
        raise InputError(_about(er_what if er_column in missing else None,
                                f"{path}: column(s) {', '.join(missing)} missing (a FLUXNET2015 MM file has "
                                f"TIMESTAMP = YYYYMM, {er_column}, {qc_column}); columns: "
                                f"{', '.join(raw.columns[:20])}"))
    stamp = raw["TIMESTAMP"].astype(str).str.strip()
    bad = ~stamp.str.fullmatch(r"\d{6}")
    if bad.any():
        i = int(np.flatnonzero(bad.values)[0])
        raise InputError(f"{path}: column TIMESTAMP: {stamp.iloc[i]!r} in data row {i + 1} is not YYYYMM "
                         "(is this a monthly MM file?)")
    year = stamp.str[:4].astype("int64").to_numpy()
    month = stamp.str[4:].astype("int64").to_numpy()
    if ((month < 1) | (month > 12)).any():
        raise InputError(f"{path}: column TIMESTAMP: month outside 1..12")
    site_id = site_id or site_id_from_name(path)
    if not site_id:
        raise InputError(f"{path}: site id unknown (name the file FLX_<SITE>_... or give site_id)")
    rate = pd.to_numeric(raw[er_column], errors="coerce").to_numpy("float64")
    qc = pd.to_numeric(raw[qc_column], errors="coerce").to_numpy("float64")
    label = er_label(er_column)
    res = pd.DataFrame({"site_id": str(site_id), "year": year, "month": month, "resolution": "MM",
                        "n_records": np.nan, "n_expected": np.nan,
                        "frac_present": np.isfinite(rate).astype("float64"), "frac_measured": np.nan,
                        "frac_good": qc})
    res["ER_gC_m2_d"] = rate
    res[f"{label}_gC_m2_d"] = rate
    res["ER_gC_m2_month"] = rate * days_in_month(year, month)
    res["er_source"] = er_column
    for src, dst in MONTHLY_MET.items():
        if src in raw.columns:
            res[dst] = pd.to_numeric(raw[src], errors="coerce").to_numpy("float64")
    for k, v in _site_meta(site_id).items():
        res[k] = v
    return _finish(res, min_coverage)


def is_fluxnet_monthly(path):
    """True for a FLUXNET2015 MM csv (TIMESTAMP column with YYYYMM values)."""
    try:
        head = pd.read_csv(path, nrows=3, dtype=str)
    except Exception:  # noqa: BLE001 - any unreadable file is simply not MM
        return False
    return "TIMESTAMP" in head.columns and head["TIMESTAMP"].astype(str).str.fullmatch(r"\d{6}").all()


# ----------------------------------------------------------------------------------------------
# the inputs of ecoresp:sitemonthtable: files, tables, site points

def _name_site(tower, what, site_id=None, path=None):
    """``tower`` (a TowerData) with its site named: ``site_id`` when given, else its ``site_id``
    column or ``site.site_id``, else (for a file) the site id in the file name."""
    if site_id:
        tower.site = replace(tower.site, site_id=site_id)
    elif "site_id" not in tower.data.columns and not tower.site.site_id:
        sid = site_id_from_name(path) if path else None
        if not sid:
            raise InputError(f"{what}: the site id is unknown: name the file with the site id (e.g. FLX_DE-Hai_...), "
                             "add a site_id field or give SITE_IDS" if path else
                             f"{what}: has no site_id field; give SITE_IDS")
        tower.site = replace(tower.site, site_id=sid)
    return tower


def read_site_input(path, er_column, site_id=None, min_coverage=0.75, read_other=None, er_what=None):
    """One input file of a site-month table: ``('monthly', site-month table)`` for a FLUXNET2015 MM
    file, else ``('halfhourly', TowerData)``: a partition output table (CSV with TIMESTAMP_START and
    ``er_column``), a tower file (``read_tower``; its ``<ER>_REF`` column taken as ``er_column``) or,
    for any other file, ``read_other(path)`` (e.g. a GeoPackage read through QGIS).  The site id comes
    from ``site_id``, a site_id column or the file name (FLX_<SITE>_...).  A partition table's
    empty cells, NA, NaN, NULL and -9999 are missing values, other text in the ER column an error.
    ``er_what``: what chose ``er_column`` (e.g. a parameter's label), in front of the errors about it."""
    if not os.path.isfile(path):
        raise InputError(f"{path}: file not found")
    if path.lower().endswith((".csv", ".csv.gz", ".txt")):
        if is_fluxnet_monthly(path):
            return "monthly", read_fluxnet_monthly(path, er_column=er_column, site_id=site_id,
                                                   min_coverage=min_coverage, er_what=er_what)
        try:
            head = pd.read_csv(path, nrows=2, dtype=str)
        except (pd.errors.ParserError, ValueError, OSError, UnicodeError, EOFError):
            head = pd.DataFrame()
        # a table with date-time stamps (not a tower file's YYYYMMDDHHMM): a partition output table
        partition = "TIMESTAMP_START" in head.columns and not (
            head["TIMESTAMP_START"].str.strip().str.fullmatch(r"\d{12}(\.0)?").all())
        if partition and er_column not in head.columns:
            raise InputError(_about(er_what, f"{path}: column(s) {er_column} missing; columns: "
                                             f"{', '.join(map(str, head.columns))}"))
        if er_column in head.columns and "TIMESTAMP_START" in head.columns:
            df = as_tower(pd.read_csv(path, keep_default_na=False, na_values=list(EMPTY)), source=path)
        else:
            df = read_tower(path, site_id=site_id)
            if er_column not in df.data.columns and f"{er_label(er_column)}_REF" in df.data.columns:
                df = df.with_data(df.data.rename(columns={f"{er_label(er_column)}_REF": er_column}))
    else:
        df = as_tower(read_other(path), source=path)
    return "halfhourly", _name_site(df, path, site_id, path)


def name_input_table(df, source, site_id=None):
    """A half-hourly table given as a layer (``source`` names it): its site from ``site_id`` or a
    site_id field.  Returns a TowerData."""
    return _name_site(as_tower(df, source=source), "INPUT_TABLE", site_id)


def combine_site_months(monthly, halfhourly, er_column="RECO_DTRH", qc_column="NEE_QC", min_coverage=0.75,
                        tower_met=False, er_what=None, qc_what=None):
    """One site-month table from site-month tables (``monthly``, e.g. FLUXNET2015 MM files) and
    half-hourly tables (``site_month_table``; with ``tower_met`` the towers' monthly TA, SW_IN and
    VPD added).  A site-month given by two inputs is an error.  ``er_what`` / ``qc_what``: as in
    ``site_month_table``.  Returns (table, warnings)."""
    parts, warnings = list(monthly), []
    if halfhourly:
        table = site_month_table(halfhourly, er_column=er_column, qc_column=qc_column, min_coverage=min_coverage,
                                 er_what=er_what, qc_what=qc_what)
        if tower_met:
            towers = [as_tower(d) for d in halfhourly]
            towers = [d for d in towers if "TA" in d.data or "SW_IN" in d.data or "VPD" in d.data]
            if towers:
                sids = [d.site.site_id or d.data["site_id"].iloc[0] for d in towers]
                table = attach_tower_meteorology(table, dict(zip(sids, towers)))
            else:
                warnings.append("TOWER_MET: no input table has TA, SW_IN or VPD")
        parts.append(table)
    table = pd.concat(parts, ignore_index=True).sort_values(KEYS, ignore_index=True)
    if table.duplicated(KEYS).any():
        r = table[table.duplicated(KEYS)].iloc[0]
        raise InputError(f"site {r.site_id}: month {r.year}-{r.month:02d} comes from more than one input")
    return table, warnings


def set_site_coordinates(table, coords=None):
    """Latitude and longitude of the sites in ``coords`` ({site_id: (lat, lon)}, WGS84, e.g. from a
    point layer) instead of the FLUXNET2015 site list's.  Returns (table, warnings naming the sites
    without a point or without any coordinates)."""
    warnings = []
    if coords is not None:
        hit = table["site_id"].isin(coords)
        table.loc[hit, "latitude"] = [coords[s][0] for s in table.loc[hit, "site_id"]]
        table.loc[hit, "longitude"] = [coords[s][1] for s in table.loc[hit, "site_id"]]
        missing = sorted(set(table.loc[~hit, "site_id"]))
        if missing:
            warnings.append(f"SITES: no point for site(s) {', '.join(missing)}; using the FLUXNET2015 site list")
    nocoord = sorted(set(table.loc[~np.isfinite(table["latitude"].astype(float)), "site_id"]))
    if nocoord:
        warnings.append(f"no coordinates for site(s) {', '.join(nocoord)} (not in the FLUXNET2015 "
                        "site list and not in SITES)")
    return table, warnings
