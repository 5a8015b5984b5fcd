"""Prediction with a fitted upscaling model on a table (points or site-months with driver
columns), with the flag of rows outside the training range, and the accounting shared with the
raster job (``ecoresp_core.jobs.predict``) of what is left out.

What is not predicted is counted and reported, never silently dropped (``LeftOut``):

- a driver without a value (nodata, empty cell) on a pixel-month or row that is considered (the
  land mask, or any time-series driver with a value when there is no mask; every row of a table);
- a category the model never saw (MODIS BSV, CVM, URB, water code 0, ...), counted per driver and
  category where every driver has a value. ``unknown``: 'leave_out' (nodata, reported; the
  default), 'map' (a table of driver, from, to: ``read_category_mapping``; categories it does not
  map are still left out and reported) or 'refuse' (InputError naming the driver, the categories
  and the counts);
- a numeric driver outside the training range of the model (e.g. ice sheets far colder than any
  training month), counted per driver below the minimum and above the maximum. ``out_of_range``:
  'flag' (predicted and flagged; the default), 'leave_out' (nodata, reported) or 'refuse'.
"""

import csv
import json
import os
from collections import Counter

import numpy as np
import pandas as pd

from ..errors import InputError
from .model import IGBP_CODES, UpscalerModel, load_model

UNKNOWN_MODES = ("leave_out", "map", "refuse")
RANGE_MODES = ("flag", "leave_out", "refuse")
MISSING_TEXT = {"", "na", "nan", "n/a", "null", "none"}  # text read as a missing value in a table


def as_model(model):
    """``model`` itself when it is an UpscalerModel, else the model file at that path loaded."""
    if isinstance(model, UpscalerModel):
        return model
    return load_model(model)


def check_modes(unknown, out_of_range, mappings):
    if unknown not in UNKNOWN_MODES:
        raise InputError(f"unknown categories: {unknown!r} is not one of {', '.join(UNKNOWN_MODES)}")
    if out_of_range not in RANGE_MODES:
        raise InputError(f"out-of-range drivers: {out_of_range!r} is not one of {', '.join(RANGE_MODES)}")
    if unknown == "map" and not mappings:
        raise InputError("unknown categories are to be mapped, but no category mapping table is given")


def read_category_mapping(path, model, what="category mapping table"):
    """{driver: {from: to}} from a CSV file with the columns driver, from, to (one row per
    mapping, e.g. ``IGBP,BSV,OSH``; ``from`` a category name or an integer raster code such as 0
    for water). InputError naming ``what``, the file and the row: a missing file, missing columns,
    a driver that is not a categorical driver of the model, a ``to`` the model does not know, a
    ``from`` given twice. ``model``: an UpscalerModel or the metadata of a model file."""
    categorical = model.categorical if isinstance(model, UpscalerModel) else (model.get("categorical") or {})
    path = str(path)
    if not os.path.isfile(path):
        raise InputError(f"{what} {path}: not found")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{what} {path}: cannot be read as a CSV text file ({exc})") from None
    rows = [r for r in rows if any(c.strip() for c in r)]
    header = [c.strip().lower() for c in rows[0]] if rows else []
    if header[:3] != ["driver", "from", "to"]:
        raise InputError(f"{what} {path}: the first row must be the header driver,from,to "
                         f"(found: {','.join(rows[0]) if rows else 'an empty file'})")
    if len(rows) < 2:
        raise InputError(f"{what} {path}: no mapping rows below the header driver,from,to")
    out = {}
    for i, r in enumerate(rows[1:], start=2):
        cells = [c.strip() for c in r] + ["", "", ""]
        driver, source, target = cells[:3]
        where = f"{what} {path}, row {i} ({','.join(c.strip() for c in r)})"
        if not driver or not source or not target:
            raise InputError(f"{where}: needs a driver, a from and a to category")
        if driver not in categorical:
            known = ", ".join(categorical) or "none"
            raise InputError(f"{where}: {driver} is not a categorical driver of the model "
                             f"(categorical drivers: {known})")
        cats = list(categorical[driver])
        if target not in cats:
            raise InputError(f"{where}: {target} is not a category the model knows for {driver} "
                             f"(known: {', '.join(map(str, cats))})")
        if source in out.get(driver, {}):
            raise InputError(f"{where}: {driver} {source} is mapped twice")
        out.setdefault(driver, {})[source] = target
    return out


def category_label(model, driver, value):
    """How an unknown category is reported: its text, or for a raster code its category name
    and code ('BSV (16)'; MODIS IGBP names for codes the model does not record, 'water (0)')."""
    if isinstance(value, str):
        return value
    code = int(value) if float(value).is_integer() else value
    name = model.category_codes(driver).get(code)
    if name is None and driver.upper().startswith("IGBP"):
        name = "water" if code == 0 else IGBP_CODES.get(code)
    return f"{name} ({code})" if name else str(code)


def _missing_values(v):
    v = np.asarray(v)
    if v.dtype.kind == "f":
        return ~np.isfinite(v)
    if v.dtype.kind in "iu":
        return np.zeros(v.shape, dtype=bool)
    return np.fromiter((x is None or (isinstance(x, float) and np.isnan(x)) or str(x).strip().lower() in MISSING_TEXT
                        for x in v), dtype=bool, count=len(v))


class LeftOut:
    """Counts of what a run left out or flagged (pixel-months or rows, ``unit``), per driver.

    ``considered``: pixel-months (rows) on which a prediction was wanted; ``predicted``;
    ``missing`` {driver: count without a value}; ``unknown`` {driver: {category: count}};
    ``below`` / ``above`` {driver: count outside the training range} and ``extremes`` {driver:
    [lowest, highest] value seen}; ``left_out_range``: left out for a driver out of range."""

    def __init__(self, model, unit="pixel-months", unknown="leave_out", out_of_range="flag", mappings=None,
                 labels=None):
        check_modes(unknown, out_of_range, mappings)
        self.labels = labels or {}  # {'unknown': ..., 'range': ...}: how a caller names the two choices
        self.model, self.unit = model, unit
        self.unknown_mode, self.range_mode = unknown, out_of_range
        self.mappings = mappings or {}
        self.considered = self.predicted = self.left_out_range = self.outside = 0
        self.missing = Counter()
        self.unknown = {f: Counter() for f in model.categorical}
        self.below, self.above = Counter(), Counter()
        self.extremes = {}

    def count_missing(self, cols, considered):
        """Count the considered values without a value per driver; returns the mask of those with
        every driver given."""
        self.considered += int(np.count_nonzero(considered))
        every = considered.copy()
        for f in self.model.features:
            miss = _missing_values(cols[f]) & considered
            self.missing[f] += int(np.count_nonzero(miss))
            every &= ~miss
        return every

    def encode(self, cols, n):
        """(X, ok, outside) for ``n`` values with every driver given (``model.encode_columns``
        with the mappings), counting the unknown categories and the drivers out of range; ``ok``
        excludes what the out-of-range mode leaves out."""
        model = self.model
        X, ok, outside = model.encode_columns(cols, n, self.mappings)
        for f in model.categorical:
            v = np.asarray(cols[f])
            unknown = model.category_index(f, v, self.mappings.get(f)) < 0
            if unknown.any():
                labels, counts = np.unique(v[unknown].astype(str) if v.dtype.kind not in "fiu" else v[unknown],
                                           return_counts=True)
                for lab, c in zip(labels, counts):
                    self.unknown[f][category_label(model, f, lab.item() if hasattr(lab, "item") else lab)] += int(c)
        ranges = model.meta.get("ranges", {})
        for f in model.features:
            if f in model.categorical or f not in ranges:
                continue
            v = np.asarray(cols[f], dtype="float64")[ok]
            lo, hi = ranges[f]
            self.below[f] += int(np.count_nonzero(v < lo))
            self.above[f] += int(np.count_nonzero(v > hi))
            if v.size:
                e = self.extremes.get(f, [np.inf, -np.inf])
                self.extremes[f] = [min(e[0], float(v.min())), max(e[1], float(v.max()))]
        self.outside += int(np.count_nonzero(outside))
        if self.range_mode == "leave_out":
            self.left_out_range += int(np.count_nonzero(outside & ok))
            ok = ok & ~outside
            outside = np.zeros_like(outside)
        self.predicted += int(np.count_nonzero(ok))
        return X, ok, outside

    @property
    def left_out(self):
        return self.considered - self.predicted

    def n_unknown(self):
        return sum(sum(c.values()) for c in self.unknown.values())

    def describe_unknown(self):
        """'IGBP: water (0) 20520, CVM (14) 1440 pixel-months' per driver with unknown categories."""
        parts = []
        for f, c in self.unknown.items():
            if c:
                parts.append(f"{f}: " + ", ".join(f"{k} {v}" for k, v in sorted(c.items(), key=lambda kv: -kv[1]))
                             + f" {self.unit}")
        return "; ".join(parts)

    def describe_range(self):
        ranges = self.model.meta.get("ranges", {})
        parts = []
        for f in self.model.features:
            if self.below[f] or self.above[f]:
                lo, hi = ranges[f]
                e = self.extremes.get(f, [lo, hi])
                bits = []
                if self.below[f]:
                    bits.append(f"{self.below[f]} below the training minimum {lo:.4g} (lowest {e[0]:.4g})")
                if self.above[f]:
                    bits.append(f"{self.above[f]} above the training maximum {hi:.4g} (highest {e[1]:.4g})")
                parts.append(f"{f}: " + ", ".join(bits))
        return "; ".join(parts)

    def check_refuse(self):
        """InputError when the refuse modes meet unknown categories or drivers out of range."""
        if self.unknown_mode == "refuse" and self.n_unknown():
            raise InputError(self._prefix("unknown") + "categories the model does not know (refused): "
                             + self.describe_unknown() + self._known()
                             + ". Choose to leave them out (reported) or map them with a category mapping table "
                             "(driver,from,to), or mask them out (land mask)")
        if self.range_mode == "refuse" and self.outside:
            raise InputError(self._prefix("range") + f"drivers outside the training range (refused): "
                             f"{self.describe_range()} {self.unit}. "
                             "Choose to predict and flag them, or to leave them out (reported)")

    def _prefix(self, key):
        return f"{self.labels[key]}: " if self.labels.get(key) else ""

    def _known(self):
        return "".join(f" (the model knows {f}: {', '.join(map(str, self.model.categorical[f]))})"
                       for f, c in self.unknown.items() if c)

    def why_nothing(self):
        """Why nothing was predicted, from the counts (for an all-nodata result)."""
        reasons = []
        if not self.considered:
            reasons.append(f"no {self.unit} to predict (outside the land mask, or no driver with a value)")
        for f in self.model.features:
            if self.missing[f] == self.considered and self.considered:
                reasons.append(f"driver {f} has no value in any of them")
        if self.n_unknown():
            reasons.append("left out for categories the model does not know: " + self.describe_unknown()
                           + self._known() + " (map them with a category mapping table, or use a model that "
                           "was trained with them)")
        if self.left_out_range:
            reasons.append(f"{self.left_out_range} left out outside the training range: {self.describe_range()}")
        miss = ", ".join(f"{f} {n}" for f, n in self.missing.items() if 0 < n < self.considered)
        if miss:
            reasons.append(f"left out, a driver without a value: {miss}")
        return f"0 of {self.considered} {self.unit} predicted: " + "; ".join(r for r in reasons if r)

    def lines(self):
        """The report, one sentence per kind, for a log."""
        out = [f"{self.predicted} of {self.considered} {self.unit} predicted, {self.left_out} left out"]
        miss = ", ".join(f"{f} {n}" for f, n in self.missing.items() if n)
        if miss:
            out.append(f"left out, a driver without a value: {miss} {self.unit}")
        if self.n_unknown():
            out.append("left out, categories the model does not know: " + self.describe_unknown())
        if self.mappings:
            out.append("categories mapped: " + "; ".join(
                f"{f}: " + ", ".join(f"{a}->{b}" for a, b in m.items()) for f, m in self.mappings.items()))
        if self.outside:
            verb = "left out" if self.range_mode == "leave_out" else "predicted and flagged"
            out.append(f"{self.outside} {self.unit} with a driver outside the training range ({verb}): "
                       + self.describe_range())
        return out

    def record(self):
        """A JSON-able record of the counts (the outputs' metadata ECORESP_LEFT_OUT)."""
        return {"unit": self.unit, "considered": self.considered, "predicted": self.predicted,
                "left_out": self.left_out, "missing_driver": {f: n for f, n in self.missing.items() if n},
                "unknown_categories": {f: dict(c) for f, c in self.unknown.items() if c},
                "unknown_mode": self.unknown_mode, "mappings": self.mappings,
                "outside_training_range": self.outside, "out_of_range_mode": self.range_mode,
                "left_out_out_of_range": self.left_out_range,
                "below_training_min": {f: n for f, n in self.below.items() if n},
                "above_training_max": {f: n for f, n in self.above.items() if n}}

    def json(self):
        return json.dumps(self.record(), sort_keys=True)


def _table_column(model, df, f, what):
    """Driver column ``f`` as numbers (numeric drivers; InputError naming the column when it holds
    text that is not a number or a missing value) or categories."""
    v = df[f]
    if f in model.categorical:
        if pd.api.types.is_numeric_dtype(v) and model.category_codes(f):
            return v.to_numpy(dtype="float64")
        return np.asarray([None if pd.isna(x) else str(x) for x in v], dtype=object)
    if pd.api.types.is_numeric_dtype(v):
        return v.to_numpy(dtype="float64")
    num = pd.to_numeric(v, errors="coerce")
    text = v[num.isna() & v.notna() & ~v.astype(str).str.strip().str.lower().isin(MISSING_TEXT)]
    if len(text):
        shown = ", ".join(repr(str(x)) for x in pd.unique(text)[:3])
        unit = (model.meta.get("units") or {}).get(f)
        raise InputError(f"{what}: column {f} holds text where the model expects numbers"
                         + (f" [{unit}]" if unit else "") + f": {shown} in {len(text)} of {len(v)} rows")
    return num.to_numpy(dtype="float64")


def predict_table(model, df, column="ER_pred", outside_column="outside_training_range", unknown="leave_out",
                  out_of_range="flag", mappings=None, report=None, what="the table"):
    """A copy of ``df`` with the prediction ``column`` (NaN where a driver is missing, a category
    is unknown to the model, or out of range with ``out_of_range='leave_out'``) and a 0/1
    ``outside_column`` (a numeric driver outside the training range). ``unknown``,
    ``out_of_range`` and ``mappings``: see the module docstring. ``report``: a LeftOut to fill
    (one is made when None; its counts are in ``out.attrs['left_out']``). InputError naming the
    missing columns, a numeric column holding text, or a refusal; when every row is left out,
    InputError saying why."""
    model = as_model(model)
    missing = [f for f in model.features if f not in df.columns]
    if missing:
        raise InputError(f"{what} has no column(s) {', '.join(missing)} needed by the model "
                         f"(features: {', '.join(model.features)}); columns: {', '.join(map(str, df.columns))}")
    n = len(df)
    acc = report if report is not None else LeftOut(model, "rows", unknown, out_of_range, mappings)
    cols = {f: _table_column(model, df, f, what) for f in model.features}
    every = acc.count_missing(cols, np.ones(n, dtype=bool))
    idx = np.nonzero(every)[0]
    X, ok, outside = acc.encode({f: c[idx] for f, c in cols.items()}, idx.size)
    acc.check_refuse()
    pred = np.full(n, np.nan)
    if ok.any():
        pred[idx[ok]] = model.predict_encoded(X[ok])
    elif n:
        raise InputError(f"{what}: {acc.why_nothing()}")
    flag = np.zeros(n, dtype="int64")
    flag[idx] = outside.astype("int64")
    out = df.copy()
    out[column] = pred
    out[outside_column] = flag
    out.attrs["left_out"] = acc.record()
    return out
