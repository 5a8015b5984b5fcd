"""Fitting the upscaling model on a site-month table, with cross-validation grouped by site.

``fit_upscaler`` trains a random forest (default) or searches over random forest, gradient
boosting and a neural network (StandardScaler + MLP) with a randomized hyper-parameter search.
Cross-validation is always grouped by the site column: a site is entirely in the training or
in the test part of a fold (random splits of site-months inflate the scores, docs/methods.md §12).
The folds are assigned here (``folds.grouped_folds``), not by scikit-learn's GroupKFold, whose tie order
follows numpy's sort and changed with numpy 2 (other folds, other CV scores for the same data).
With the search, the search is nested: it runs inside every outer training part with its own
inner site folds, so the outer test folds never take part in the choice.

Metrics per fold on the training and test part (docs/methods.md §10, ``partitioning.evaluation.metrics``):
R2 (Pearson r squared), EF (= sklearn r2_score), RMSE, MAE, ME, RMSLE (negative values masked
and counted in ``n_negative_masked``). Permutation importances are computed on the held-out
folds (drop of EF when one raw feature, e.g. the whole land-cover column, is shuffled).
Categorical features (e.g. IGBP strings) are one-hot encoded; the categories are recorded in the
model file.
"""

import numpy as np
import pandas as pd

from ..common.progress import Progress
from ..errors import InputError
from ..common.folds import grouped_folds
from ..common.joblib_workers import process_workers
from ..common.metrics import metrics
from .model import IGBP_CODES, UpscalerModel

MODELS = ("rf", "search")
MAX_CATEGORIES = 50  # a text feature with more distinct values is almost surely a number column read as text
METRIC_COLUMNS = ["R2", "EF", "RMSE", "MAE", "ME", "RMSLE", "n", "n_negative_masked"]


def _candidates(seed, n_estimators, n_jobs):
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    return {
        "rf": (RandomForestRegressor(n_estimators=n_estimators, random_state=seed, n_jobs=n_jobs),
               {"min_samples_leaf": [1, 3, 5, 10], "max_features": [1.0, 0.6, 0.33]}),
        "gbr": (GradientBoostingRegressor(n_estimators=n_estimators, random_state=seed),
                {"learning_rate": [0.03, 0.1], "max_depth": [3, 5], "subsample": [0.8, 1.0],
                 "min_samples_leaf": [5, 20]}),
        "mlp": (Pipeline([("scale", StandardScaler()),
                          ("mlp", MLPRegressor(max_iter=400, random_state=seed, early_stopping=False))]),
                {"mlp__hidden_layer_sizes": [(32,), (64, 32), (32, 16)], "mlp__alpha": [1e-4, 1e-2, 1.0],
                 "mlp__learning_rate_init": [1e-3, 3e-3]}),
    }


def _default_rf(seed, n_estimators, n_jobs):
    from sklearn.ensemble import RandomForestRegressor
    return RandomForestRegressor(n_estimators=n_estimators, min_samples_leaf=3, random_state=seed,
                                 n_jobs=n_jobs)


def _search(X, y, groups, seed, n_estimators, n_jobs, n_iter, inner_splits, families):
    """Best estimator (unfitted clone with the best parameters) over the families, chosen by the
    inner site-fold RMSE; returns (estimator, family, params, inner_rmse).  Inside the search a forest
    with ``n_jobs != 1`` runs on joblib's worker processes (see ``fit_upscaler``)."""
    from sklearn.base import clone
    from sklearn.model_selection import ParameterGrid, RandomizedSearchCV
    best = None
    k = min(inner_splits, len(np.unique(groups)))
    if k < 2:
        raise InputError("the search needs at least 2 sites in every training part")
    for fam in families:
        est, grid = _candidates(seed, n_estimators, n_jobs)[fam]
        n = min(int(n_iter), len(ParameterGrid(grid)))
        rs = RandomizedSearchCV(est, grid, n_iter=n, cv=grouped_folds(groups, k), random_state=seed,
                                scoring="neg_root_mean_squared_error", n_jobs=1, refit=False,
                                error_score="raise")
        with np.errstate(all="ignore"):
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rs.fit(X, y)
        score = -rs.best_score_
        if best is None or score < best[3]:
            best = (clone(est).set_params(**rs.best_params_), fam, rs.best_params_, score)
    return best


def prepare(table, target, features, group, categorical=None):
    """(X encoded, y, groups, encoding info, n_dropped) from the table; InputError naming
    missing columns."""
    if not isinstance(table, pd.DataFrame):
        table = pd.DataFrame(table)
    features = list(features)
    if not features:
        raise InputError("no feature columns given")
    need = [target, group] + features
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise InputError(f"the table has no column(s) {', '.join(missing)}; "
                         f"columns: {', '.join(map(str, table.columns))}")
    for name, role in ((target, "target"), (group, "site (group)")):
        if name in features:
            raise InputError(f"column {name} is the {role} column: it cannot be a feature too")
    if categorical is None:
        categorical = [f for f in features if not pd.api.types.is_numeric_dtype(table[f])]
    df = table[need].copy()
    df[target] = pd.to_numeric(df[target], errors="coerce")
    for f in features:
        if f in categorical:
            df[f] = df[f].where(df[f].notna(), None).map(lambda v: None if v is None else str(v).strip())
            df.loc[df[f] == "", f] = None
        else:
            if not pd.api.types.is_numeric_dtype(df[f]):
                raise InputError(f"feature column {f} is not numeric")
            df[f] = df[f].astype("float64")
    ok = df[target].notna() & df[group].notna()
    for f in features:
        ok &= df[f].notna() & (np.isfinite(df[f]) if f not in categorical else True)
    n_dropped = int((~ok).sum())
    df = df[ok].reset_index(drop=True)
    if len(df) < 10:
        raise InputError(f"only {len(df)} complete rows (target {target}, features {', '.join(features)})")
    cats = {f: sorted(df[f].unique().tolist()) for f in categorical}
    for f, values in cats.items():
        if len(values) > MAX_CATEGORIES:
            raise InputError(f"feature column {f} is text with {len(values)} distinct values (e.g. "
                             f"{', '.join(map(str, values[:3]))}): a categorical feature may have at most "
                             f"{MAX_CATEGORIES}; if it holds numbers, fix the values that are not numbers")
    return df, cats, n_dropped


def _model_for(features, cats, units, ranges, target, target_unit, extra=None):
    meta = {"features": list(features), "categorical": cats, "units": units, "ranges": ranges,
            "target": target, "target_unit": target_unit}
    codes = {}
    for f, c in cats.items():
        if set(c) <= set(IGBP_CODES.values()):
            codes[f] = {str(k): v for k, v in IGBP_CODES.items()}
    meta["category_codes"] = codes
    meta.update(extra or {})
    return meta


class _Encoder:
    def __init__(self, features, cats):
        self.m = UpscalerModel("rf", {}, {"features": features, "categorical": cats})

    def __call__(self, df):
        X, valid, _ = self.m.encode_columns({f: df[f].to_numpy() for f in self.m.features}, len(df))
        return X


def fit_upscaler(table, target, features, group="site_id", model="rf", seed=0, n_splits=5,
                 categorical=None, units=None, target_unit="", n_estimators=200, n_jobs=1,
                 n_iter=8, inner_splits=3, families=("rf", "gbr", "mlp"), importance_repeats=5,
                 progress=None, cancelled=None):
    """Fit with site-grouped CV. Returns a dict: ``model`` (UpscalerModel fitted on all rows),
    ``metrics`` (DataFrame: one row per fold and part, plus the mean over folds and the pooled
    out-of-fold test predictions), ``importances`` (DataFrame: feature, importance mean and SD
    over folds and repeats), ``folds`` (list of dicts: test sites, chosen model), ``oof``
    (out-of-fold predictions aligned with the used rows), ``n_used``, ``n_dropped``, ``notes`` (sentences
    for the log, e.g. that the search ran its forests in threads because no worker process could start).

    With the search and ``n_jobs != 1``, a forest inside scikit-learn's search inherits joblib's
    process backend: ``common.joblib_workers.process_workers`` starts those workers with this
    installation's Python (not the first ``python3`` on PATH, as inside qgis_process), or runs
    them in threads."""
    with process_workers(n_jobs if model == "search" else 1) as note:
        res = _fit(table, target, features, group, model, seed, n_splits, categorical, units, target_unit,
                   n_estimators, n_jobs, n_iter, inner_splits, families, importance_repeats, progress, cancelled)
    res["notes"] = [note] if note else []
    return res


def _fit(table, target, features, group, model, seed, n_splits, categorical, units, target_unit,
         n_estimators, n_jobs, n_iter, inner_splits, families, importance_repeats, progress, cancelled):
    """The body of :func:`fit_upscaler` (same arguments and result, without ``notes``)."""
    from sklearn.base import clone
    from sklearn.metrics import r2_score
    if model not in MODELS:
        raise InputError(f"unknown model {model!r}; use one of {', '.join(MODELS)}")
    prog = Progress(progress, cancelled)
    features = list(features)
    unknown = [f for f in (units or {}) if f not in features]
    if unknown:
        raise InputError(f"a unit for {', '.join(map(str, unknown))}, which is not a feature; the features are "
                         f"{', '.join(map(str, features))}")
    df, cats, n_dropped = prepare(table, target, features, group, categorical)
    enc = _Encoder(features, cats)
    X = enc(df)
    y = df[target].to_numpy(dtype="float64")
    groups = df[group].astype(str).to_numpy()
    n_sites = len(np.unique(groups))
    if n_sites < n_splits:
        raise InputError(f"{n_sites} sites in column {group}: need at least {n_splits} for {n_splits}-fold "
                         "site-grouped cross-validation")
    rng = np.random.default_rng(seed)
    rows, imp_rows, folds = [], [], []
    oof = np.full(len(y), np.nan)
    for k, (tr, te) in enumerate(grouped_folds(groups, n_splits)):
        prog.step(k / (n_splits + 1))
        train_sites, test_sites = set(groups[tr]), set(groups[te])
        if train_sites & test_sites:  # never: grouped_folds keeps sites whole; guard anyway
            raise AssertionError(f"fold {k + 1} splits sites {sorted(train_sites & test_sites)}")
        if model == "rf":
            est, fam, params = _default_rf(seed, n_estimators, n_jobs), "rf", {}
        else:
            est, fam, params, _ = _search(X[tr], y[tr], groups[tr], seed, n_estimators, n_jobs,
                                          n_iter, inner_splits, families)
        est.fit(X[tr], y[tr])
        p_tr, p_te = est.predict(X[tr]), est.predict(X[te])
        oof[te] = p_te
        for part, obs, sim, sites in (("train", y[tr], p_tr, train_sites), ("test", y[te], p_te, test_sites)):
            m = metrics(obs, sim)
            rows.append({"fold": str(k + 1), "part": part, "model": fam, "n_sites": len(sites),
                         **{c: m[c] for c in METRIC_COLUMNS}})
        folds.append({"fold": k + 1, "test_sites": sorted(test_sites), "model": fam, "params": params})
        base = r2_score(y[te], p_te)
        dte = df.iloc[te].reset_index(drop=True)
        for f in features:
            drops = []
            for _ in range(importance_repeats):
                prog.check()
                shuffled = dte.copy()
                shuffled[f] = dte[f].to_numpy()[rng.permutation(len(dte))]
                drops.append(base - r2_score(y[te], est.predict(enc(shuffled))))
            imp_rows.append({"feature": f, "fold": k + 1, "drops": drops})
    res = pd.DataFrame(rows)
    for part in ("train", "test"):
        sub = res[res["part"] == part]
        mean = {c: float(sub[c].mean()) for c in METRIC_COLUMNS}
        mean.update(fold="mean", part=part, model=model, n_sites=int(sub["n_sites"].mean()))
        rows.append(mean)
    m = metrics(y, oof)
    rows.append({"fold": "pooled", "part": "test", "model": model, "n_sites": n_sites,
                 **{c: m[c] for c in METRIC_COLUMNS}})
    res = pd.DataFrame(rows)[["fold", "part", "model", "n_sites"] + METRIC_COLUMNS]
    imps = []
    for f in features:
        d = np.concatenate([r["drops"] for r in imp_rows if r["feature"] == f])
        imps.append({"feature": f, "importance": float(d.mean()),
                     "importance_sd": float(d.std(ddof=1)) if d.size > 1 else 0.0, "n_permutations": int(d.size)})
    imps = pd.DataFrame(imps).sort_values("importance", ascending=False).reset_index(drop=True)
    prog.step(n_splits / (n_splits + 1))
    # final model on all rows
    if model == "rf":
        final, fam, params = _default_rf(seed, n_estimators, n_jobs), "rf", {}
    else:
        final, fam, params, _ = _search(X, y, groups, seed, n_estimators, n_jobs, n_iter, inner_splits, families)
    final = clone(final).fit(X, y)
    ranges = {f: [float(df[f].min()), float(df[f].max())] for f in features if f not in cats}
    units = dict(units or {})
    cv_summary = {f"{r['part']}_{r['fold']}": {c: r[c] for c in METRIC_COLUMNS}
                  for r in res.to_dict("records") if r["fold"] in ("mean", "pooled")}
    meta = _model_for(features, cats, {f: units.get(f, "") for f in features}, ranges, target, target_unit,
                      {"seed": int(seed), "group": group, "cv": {"n_splits": n_splits, "grouped_by": group,
                                                                   "metrics": cv_summary},
                       "selection": model, "chosen": fam, "params": {k: str(v) for k, v in params.items()},
                       "n_train_rows": int(len(y)), "n_sites": n_sites})
    fitted = UpscalerModel.from_estimator(final, meta)
    fitted.estimator = final
    prog.step(1.0)
    return {"model": fitted, "metrics": res, "importances": imps, "folds": folds, "oof": oof,
            "rows": df, "n_used": int(len(y)), "n_dropped": n_dropped}
