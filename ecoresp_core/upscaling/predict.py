"""Prediction with a fitted upscaling model on a table (points or site-months with driver
columns), with the flag of rows outside the training range.  Prediction on driver rasters is the
job ``ecoresp_core.jobs.predict``.
"""

import numpy as np
import pandas as pd

from ..errors import InputError
from .model import UpscalerModel, load_model


def as_model(model):
    """``model`` itself when it is an UpscalerModel, else the model file at that path loaded."""
    if isinstance(model, UpscalerModel):
        return model
    return load_model(model)


def predict_table(model, df, column="ER_pred", outside_column="outside_training_range"):
    """A copy of ``df`` with the prediction ``column`` (NaN where a driver is missing or a
    category is unknown to the model) and a 0/1 ``outside_column`` (a numeric driver outside the
    training range). InputError naming the missing columns."""
    model = as_model(model)
    missing = [f for f in model.features if f not in df.columns]
    if missing:
        raise InputError(f"the table has no column(s) {', '.join(missing)} needed by the model "
                         f"(features: {', '.join(model.features)}); columns: {', '.join(map(str, df.columns))}")
    n = len(df)
    cols = {}
    for f in model.features:
        v = df[f]
        if f in model.categorical:
            if pd.api.types.is_numeric_dtype(v) and model.category_codes(f):
                cols[f] = v.to_numpy(dtype="float64")
            else:
                cols[f] = np.asarray([None if pd.isna(x) else str(x) for x in v], dtype=object)
        else:
            if not pd.api.types.is_numeric_dtype(v):
                v = pd.to_numeric(v, errors="coerce")
            cols[f] = v.to_numpy(dtype="float64")
    X, valid, outside = model.encode_columns(cols, n)
    pred = np.full(n, np.nan)
    if valid.any():
        pred[valid] = model.predict_encoded(X[valid])
    out = df.copy()
    out[column] = pred
    out[outside_column] = outside.astype("int64")
    return out
