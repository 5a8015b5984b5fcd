"""Model-evaluation statistics over finite obs-sim pairs (docs/methods.md section 10).

With ``e = sim - obs``: ME = mean(e) (bias), MAE = mean(|e|), RMSE = sqrt(mean(e^2)),
EF = 1 - sum(e^2) / sum((obs - mean(obs))^2) (Nash-Sutcliffe, = sklearn r2_score),
R2 = Pearson r squared (not EF), RMSLE over the pairs where neither value is negative."""

import numpy as np

from ..errors import InputError

METRIC_KEYS = ("n", "R2", "RMSE", "MAE", "ME", "EF", "RMSLE", "n_negative_masked")


def metrics(obs, sim):
    """Dict with exactly the keys n, R2 (Pearson r squared), RMSE, MAE, ME (mean(sim - obs)), EF
    (Nash-Sutcliffe), RMSLE (negative values masked) and n_negative_masked, over the finite pairs."""
    o = np.asarray(obs, dtype="float64").ravel()
    s = np.asarray(sim, dtype="float64").ravel()
    if o.shape != s.shape:
        raise InputError(f"obs and sim differ in length ({o.size} and {s.size})")
    m = np.isfinite(o) & np.isfinite(s)
    o, s = o[m], s[m]
    n = int(o.size)
    out = dict.fromkeys(METRIC_KEYS, float("nan"))
    out["n"] = n
    out["n_negative_masked"] = int(((o < 0) | (s < 0)).sum())
    if n == 0:
        return out
    e = s - o
    out["ME"] = float(e.mean())
    out["MAE"] = float(np.abs(e).mean())
    out["RMSE"] = float(np.sqrt((e * e).mean()))
    do, ds = _centred(o), _centred(s)
    ss_obs, ss_sim = float((do * do).sum()), float((ds * ds).sum())
    out["EF"] = 1.0 - float((e * e).sum()) / ss_obs if ss_obs > 0 else float("nan")
    if n > 1 and ss_obs > 0 and ss_sim > 0:
        out["R2"] = min(float((do * ds).sum() ** 2 / (ss_obs * ss_sim)), 1.0)  # rounding can pass 1
    pos = (o >= 0) & (s >= 0)
    if pos.any():
        d = np.log1p(s[pos]) - np.log1p(o[pos])
        out["RMSLE"] = float(np.sqrt((d * d).mean()))
    return out


def _centred(v):
    """``v - mean(v)`` with a second, corrected pass that removes the rounding error of the
    mean: a constant series gives exactly 0 (no variance), not rounding noise."""
    d = v - v.mean()
    return d - d.mean()
