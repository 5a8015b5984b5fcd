"""Machine-learning estimates of daytime ecosystem respiration (docs/methods.md section 8, a PROPOSAL).

Target (open question Q4 is unresolved, so it is an option):

- ``target="night_nee"`` (default, option a of section 8): measured night NEE is ER.  Training
  records: night (``SW_IN <= night_rg_max & SW_IN_POT <= 0``, the NT rule of section 3),
  ``NEE_QC == 0``, finite NEE.  SW_IN is dropped from the drivers: it is ~0 at night and carries no
  information (``allow_rg_at_night=True`` keeps it, at the user's risk).
- ``target=<column>``: any column of the table (e.g. a DT/DT-RH ER, option b, which is circular, or
  an aligned isotope ER, option c); training records are those where it is finite; SW_IN may be a
  driver.

Drivers: TA, VPD, RH, WS, SWC (+ SW_IN when the target is not night NEE), or the ``drivers`` given;
a driver is used only if present and finite in at least ``min_driver_coverage`` of the training
records and of the daytime records, and not constant in the training records; every dropped driver
is listed with its reason.  Records with a missing used driver are neither trained on nor predicted.

Models: ``"rf"`` = sklearn RandomForestRegressor(n_estimators, min_samples_leaf=5, n_jobs=1,
random_state=seed); ``"nn"`` = Pipeline(StandardScaler, MLPRegressor(hidden_layer_sizes=(32, 16),
early_stopping=True, max_iter=500, random_state=seed)).  ``rf_params``/``nn_params`` override any of
these.  Results are bit-reproducible for a given seed.

Blocked cross-validation (never a random split of half-hours, which leaks through autocorrelation):
``cv="month"`` groups records by calendar month (year-month) and runs grouped folds
(``folds.grouped_folds``: GroupKFold's rule, independent of library versions) with one fold per
group (leave-one-month-out; ``n_splits`` caps the number of folds); ``cv="site"`` groups by
``site_column``; ``cv="none"`` skips it.  For each fold the model trained on the other groups predicts
the held-out group's training records (-> ``cv_metrics``, scope "target") and its daytime records
(-> ``reco_day_cv``, out-of-fold daytime ER).  With ``reference`` (a Series on the table's index,
e.g. an isotope ER), the out-of-fold daytime ER is also scored against it (scope "reference_day").
Metrics (section 10): R2 = Pearson r squared, RMSE, MAE, ME = mean(sim - obs), EF (Nash-Sutcliffe).

Daytime records: ``SW_IN > day_rg_min & SW_IN_POT > 0`` (the DT rule; a missing SW_IN is decided by
SW_IN_POT alone, as in daytime.py); night training records need a measured SW_IN.  Without a SW_IN_POT column
both masks use SW_IN alone (flagged).  ``reco_day`` comes from the model trained on all training
records.  ``extrapolation`` reports, per driver, the share of daytime records outside the training
range (trees predict a constant there; networks extrapolate freely).
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..common.fluxvalues import MISSING_CODE
from ..errors import InputError
from ..io.towers import as_tower
from ..common.folds import grouped_folds
from ..common.metrics import metrics as _metrics

CANDIDATE_DRIVERS = ("TA", "VPD", "RH", "WS", "SWC")
RG = "SW_IN"
RF_DEFAULTS = {"min_samples_leaf": 5, "max_features": 1.0}
NN_DEFAULTS = {"hidden_layer_sizes": (32, 16), "early_stopping": True, "max_iter": 500, "alpha": 1e-3,
               "learning_rate_init": 1e-3, "validation_fraction": 0.1, "n_iter_no_change": 20}


@dataclass
class MLDaytimeResult:
    """Output of :func:`fit_ml_daytime_er`.

    ``reco_day``: predicted ER (umol CO2 m-2 s-1) for the daytime records (index = their time stamps),
    from the model trained on all training records; ``reco_day_cv``: the same records predicted by
    the fold models that did not see their group (NaN if a group was never held out);
    ``reco``: predictions for every record with complete drivers (full index);
    ``cv_metrics``: one row per fold and scope (fold, held_out, n_train, n, R2, RMSE, MAE, ME, EF)
    plus a pooled row (fold = "all"); ``cv_predictions``: out-of-fold predictions on the training
    records; ``feature_names`` (the model's input columns, in order), ``drivers_used``,
    ``dropped_drivers`` {driver: reason}; ``extrapolation``: per driver train_min, train_max,
    share_below, share_above, share_outside of the daytime records (plus an "any" row);
    ``n_train``, ``n_day``; ``model``: the fitted estimator; ``flags``; ``options``."""
    reco_day: pd.Series
    reco_day_cv: pd.Series
    reco: pd.Series
    cv_metrics: pd.DataFrame
    cv_predictions: pd.Series
    feature_names: list
    drivers_used: list
    dropped_drivers: dict
    extrapolation: pd.DataFrame
    n_train: int
    n_day: int
    model: object = None
    flags: list = field(default_factory=list)
    options: dict = field(default_factory=dict)


def make_model(model="rf", seed=0, n_estimators=200, rf_params=None, nn_params=None):
    """The unfitted sklearn estimator for ``model`` ("rf" or "nn"); see the module docstring."""
    if model == "rf":
        from sklearn.ensemble import RandomForestRegressor
        p = dict(RF_DEFAULTS, n_estimators=int(n_estimators))
        p.update(rf_params or {})
        p.update(n_jobs=1, random_state=seed)
        return RandomForestRegressor(**p)
    if model == "nn":
        from sklearn.neural_network import MLPRegressor
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler
        p = dict(NN_DEFAULTS)
        p.update(nn_params or {})
        p.update(random_state=seed)
        return Pipeline([("scale", StandardScaler()), ("mlp", MLPRegressor(**p))])
    raise InputError(f"model must be 'rf' or 'nn', not {model!r}")


def _col(df, name):
    v = df[name].to_numpy(dtype="float64", na_value=np.nan).copy()
    v[v == MISSING_CODE] = np.nan
    return v


def _masks(df, night_rg_max, day_rg_min, flags):
    rg = _col(df, RG)
    if "SW_IN_POT" in df.columns:
        pot = _col(df, "SW_IN_POT")
        night = (rg <= night_rg_max) & (pot <= 0)
        day = ~(rg <= day_rg_min) & (pot > 0)          # a missing SW_IN is decided by SW_IN_POT
    else:
        flags.append("no SW_IN_POT column: night = SW_IN <= night_rg_max, day = SW_IN > day_rg_min")
        night = rg <= night_rg_max
        day = rg > day_rg_min
    return night, day


def _fit_predict(est, x_train, y_train, x_pred):
    import warnings
    from sklearn.exceptions import ConvergenceWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(x_train, y_train)
    return [est.predict(x) if len(x) else np.empty(0) for x in x_pred]


def fit_ml_daytime_er(df, model="rf", target="night_nee", drivers=None, cv="month", seed=0, n_estimators=200,
                      night_rg_max=10.0, day_rg_min=4.0, min_driver_coverage=0.8, allow_rg_at_night=False,
                      site_column="site", n_splits=None, reference=None, rf_params=None, nn_params=None,
                      min_train=50, fit_qc_only=True):
    """Train an RF or NN on ``target`` and predict daytime ER (module docstring).

    ``df``: tower table (index TIMESTAMP_START; NEE, NEE_QC, SW_IN, SW_IN_POT and the drivers).
    Returns an :class:`MLDaytimeResult`.
    """
    options = {k: v for k, v in locals().items() if k not in ("df", "reference")}
    tower = as_tower(df)
    df = tower.data
    if not isinstance(df, pd.DataFrame) or not isinstance(df.index, pd.DatetimeIndex):
        raise InputError("tower table: expected a pandas DataFrame with a DatetimeIndex (TIMESTAMP_START)")
    site = tower.site.site_id or ""
    if model not in ("rf", "nn"):
        raise InputError(f"model must be 'rf' or 'nn', not {model!r}")
    if cv not in ("month", "site", "none"):
        raise InputError(f"cv must be 'month', 'site' or 'none', not {cv!r}")
    if RG not in df.columns:
        raise InputError(f"tower table {site}: column SW_IN is missing (needed for the day/night split)")
    flags = []
    night, day = _masks(df, night_rg_max, day_rg_min, flags)
    night_target = target == "night_nee"
    if night_target:
        miss = [c for c in ("NEE", "NEE_QC") if c not in df.columns]
        if miss:
            raise InputError(f"tower table {site}: missing column(s) {', '.join(miss)} for the night-NEE target")
        y = _col(df, "NEE")
        train = night & np.isfinite(y)
        if fit_qc_only:                                 # measured NEE only
            train &= _col(df, "NEE_QC") == 0
    else:
        if not isinstance(target, str) or target not in df.columns:
            raise InputError(f"tower table {site}: target column {target!r} not found "
                             "(use 'night_nee' or the name of a column)")
        y = _col(df, target)
        train = np.isfinite(y)

    # ---- drivers
    if drivers is None:
        cand = list(CANDIDATE_DRIVERS) + ([] if night_target else [RG])
    else:
        cand = [drivers] if isinstance(drivers, str) else list(drivers)
    dropped, used = {}, []
    if drivers is None and night_target:
        dropped[RG] = "night-NEE target: SW_IN is ~0 at night and carries no information"
    for c in cand:
        if c == RG and night_target and not allow_rg_at_night:
            dropped[c] = "night-NEE target: SW_IN is ~0 at night and carries no information"
            continue
        if c not in df.columns:
            dropped[c] = "column not in the table"
            continue
        v = _col(df, c)
        cov_t = np.isfinite(v[train]).mean() if train.any() else 0.0
        cov_d = np.isfinite(v[day]).mean() if day.any() else 0.0
        if cov_t < min_driver_coverage:
            dropped[c] = f"finite in {cov_t:.0%} of the training records (< {min_driver_coverage:.0%})"
        elif cov_d < min_driver_coverage:
            dropped[c] = f"finite in {cov_d:.0%} of the daytime records (< {min_driver_coverage:.0%})"
        elif not np.nanstd(v[train]) > 0:
            dropped[c] = "constant in the training records"
        else:
            used.append(c)
    if not used:
        raise InputError(f"tower table {site}: no usable driver among {', '.join(cand)} "
                         f"({'; '.join(f'{k}: {v}' for k, v in dropped.items())})")
    x_all = np.column_stack([_col(df, c) for c in used])
    complete = np.isfinite(x_all).all(axis=1)
    n_incomplete = int((train & ~complete).sum())
    if n_incomplete:
        flags.append(f"{n_incomplete} training record(s) with a missing driver left out")
    train &= complete
    pred_day = day & complete
    if (day & ~complete).any():
        flags.append(f"{int((day & ~complete).sum())} daytime record(s) with a missing driver not predicted")
    n_train = int(train.sum())
    if n_train < min_train:
        raise InputError(f"tower table {site}: only {n_train} training records for target {target!r} "
                         f"(need >= {min_train})")
    xt, yt = x_all[train], y[train]
    xd = x_all[pred_day]

    # ---- blocked CV
    idx = df.index
    cv_rows, oof = [], np.full(len(df), np.nan)
    day_cv = np.full(len(df), np.nan)
    ref = None
    if reference is not None:
        ref = reference.reindex(idx).to_numpy(dtype="float64") if isinstance(reference, pd.Series) \
            else np.asarray(reference, dtype="float64")
        if ref.shape != (len(df),):
            raise InputError(f"reference: expected {len(df)} values on the table's index, got {ref.size}")
    if cv != "none":
        if cv == "month":
            groups = np.asarray(idx.year * 100 + idx.month)
        else:
            if site_column not in df.columns:
                raise InputError(f"tower table {site}: cv='site' needs a {site_column!r} column")
            groups = df[site_column].astype(str).to_numpy()
        g_train = groups[train]
        ug = np.unique(g_train)
        if ug.size < 2:
            flags.append(f"cross-validation skipped: training data in only {ug.size} {cv} group(s)")
        else:
            k = ug.size if n_splits is None else max(2, min(int(n_splits), ug.size))
            pos_train = np.flatnonzero(train)
            pos_day = np.flatnonzero(pred_day)
            g_day = groups[pred_day]
            for fold, (tr, te) in enumerate(grouped_folds(g_train, k, what=f"{cv} groups")):
                held = np.unique(g_train[te])
                dsel = np.isin(g_day, held)
                est = make_model(model, seed, n_estimators, rf_params, nn_params)
                p_te, p_day = _fit_predict(est, xt[tr], yt[tr], [xt[te], xd[dsel]])
                oof[pos_train[te]] = p_te
                day_cv[pos_day[dsel]] = p_day
                label = ",".join(map(str, held))
                m = _metrics(yt[te], p_te)
                cv_rows.append({"fold": fold, "scope": "target", "held_out": label, "n_train": len(tr), **m})
                if ref is not None:
                    m = _metrics(ref[pos_day[dsel]], p_day)
                    cv_rows.append({"fold": fold, "scope": "reference_day", "held_out": label,
                                    "n_train": len(tr), **m})
            cv_rows.append({"fold": "all", "scope": "target", "held_out": "pooled", "n_train": n_train,
                            **_metrics(y[train], oof[train])})
            if ref is not None:
                cv_rows.append({"fold": "all", "scope": "reference_day", "held_out": "pooled",
                                "n_train": n_train, **_metrics(ref[pred_day], day_cv[pred_day])})
    cols = ["fold", "scope", "held_out", "n_train", "n", "R2", "RMSE", "MAE", "ME", "EF"]
    cv_metrics = pd.DataFrame(cv_rows, columns=cols + ["RMSLE", "n_negative_masked"])[cols] if cv_rows \
        else pd.DataFrame(columns=cols)

    # ---- final model on all training records
    est = make_model(model, seed, n_estimators, rf_params, nn_params)
    (p_all,) = _fit_predict(est, xt, yt, [x_all[complete]])
    reco = np.full(len(df), np.nan)
    reco[complete] = p_all

    # ---- extrapolation of the daytime drivers
    ext = []
    out_any = np.zeros(int(pred_day.sum()), dtype=bool)
    for j, c in enumerate(used):
        lo, hi = float(xt[:, j].min()), float(xt[:, j].max())
        v = xd[:, j]
        below, above = v < lo, v > hi
        out_any |= below | above
        nd = max(v.size, 1)
        ext.append({"driver": c, "train_min": lo, "train_max": hi,
                    "day_min": float(v.min()) if v.size else np.nan, "day_max": float(v.max()) if v.size else np.nan,
                    "share_below": below.sum() / nd, "share_above": above.sum() / nd,
                    "share_outside": (below | above).sum() / nd})
    ext.append({"driver": "any", "share_outside": out_any.sum() / max(out_any.size, 1)})
    extrapolation = pd.DataFrame(ext)
    share_any = float(extrapolation["share_outside"].iloc[-1])
    if share_any > 0.05:
        flags.append(f"{share_any:.0%} of the daytime records have a driver outside the training range")
    n_neg = int((reco[pred_day] < 0).sum())
    if n_neg:
        flags.append(f"{n_neg} negative daytime ER prediction(s)")

    day_idx = idx[pred_day]
    name = f"RECO_ML_{model.upper()}"
    return MLDaytimeResult(
        reco_day=pd.Series(reco[pred_day], index=day_idx, name=name),
        reco_day_cv=pd.Series(day_cv[pred_day], index=day_idx, name=name + "_CV"),
        reco=pd.Series(reco, index=idx, name=name),
        cv_metrics=cv_metrics,
        cv_predictions=pd.Series(oof[train], index=idx[train], name=name + "_OOF"),
        feature_names=list(used), drivers_used=list(used), dropped_drivers=dropped,
        extrapolation=extrapolation, n_train=n_train, n_day=int(pred_day.sum()), model=est, flags=flags,
        options=options)
