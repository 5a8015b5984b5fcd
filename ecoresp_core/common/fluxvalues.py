"""Flux columns of tower and partition tables as numbers: text numbers read, FLUXNET's missing
code -9999 and empty cells as NaN, any other text an error naming the column."""

import numpy as np
import pandas as pd

from ..errors import InputError

MISSING_CODE = -9999.0  # FLUXNET's code of a missing value
EMPTY = ("", "nan", "NaN", "NA", "NaT", "None", "NULL")  # cells read as missing


def flux_values(values, what):
    """(float64 array, number of -9999 codes set missing) of a flux column: numbers, text numbers;
    -9999 (FLUXNET's missing code) and empty values are NaN; other text is an InputError naming
    ``what`` and an example value."""
    raw = pd.Series(values).reset_index(drop=True)
    numbers = pd.to_numeric(raw, errors="coerce")
    given = raw.notna() & ~raw.astype(str).str.strip().isin(EMPTY)
    text = given & numbers.isna()
    if text.any():
        i = int(np.flatnonzero(text.to_numpy())[0])
        raise InputError(f"{what}: {int(text.sum())} value(s) are not numbers (e.g. {raw.iloc[i]!r} in row {i + 1})")
    v = numbers.to_numpy(dtype="float64", copy=True)
    code = v == MISSING_CODE
    v[code] = np.nan
    return v, int(code.sum())


def finite_values(values, what):
    """``values`` as a float64 array when none is infinite and at least one is a number; else an
    InputError naming ``what``: the number of infinite values and the row (1-based) of the first,
    or that there is no number at all (every value empty or missing)."""
    v = np.asarray(values, dtype="float64")
    infinite = np.isinf(v)
    if infinite.any():
        i = int(np.flatnonzero(infinite)[0])
        raise InputError(f"{what}: {int(infinite.sum())} value(s) are infinite (e.g. {v[i]} in row {i + 1}); "
                         "give finite numbers and leave missing values empty")
    if not np.isfinite(v).any():
        raise InputError(f"{what}: holds no number (all {v.size} value(s) are empty or missing)")
    return v
