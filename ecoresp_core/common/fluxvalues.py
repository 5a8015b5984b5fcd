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
