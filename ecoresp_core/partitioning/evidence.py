"""Which respiration model do the data of a site-year support?  DT-RH as a tested hypothesis
(docs/methods.md section 20).

The four nested models of :mod:`.jointfit` (DT, DTASYM, DTRHONLY, DTRH) are fitted to all measured
NEE of the site-year and compared by

- likelihood: Gaussian log-likelihood with the errors sdNEE times one fitted scale, AIC, BIC, and
  likelihood-ratio and F tests of each model against those nested in it.  Half-hourly residuals
  are autocorrelated, so the tests are also given with the effective number of records
  n (1 - rho) / (1 + rho) (rho the lag-1 autocorrelation of the DTRH residuals, >= 0);
- prediction: blocked cross-validation by days (day d in fold d mod ``folds``; each block keeps
  its other days), the held-out weighted squared error sum(min(((NEE_mod - NEE)/sdNEE)^2, 25)) (each
  record capped at 5 sdNEE, :data:`CV_CAP`) and the
  RMSE of held-out day-time and night-time NEE (umol CO2 m-2 s-1);
- uncertainty: a bootstrap that resamples days within each block (with replacement, ``seed``; the
  rescaled bootstrap of Rao and Wu 1988, which keeps the variance of few days per block), with
  DT and DTRH refitted to every replicate: percentile intervals of E0_n, E0_d, E0_d - E0_n, gamma,
  the mean day-time ER of DTRH, of DT and of the night-time model (NT: the night part of DTRH
  extrapolated to day-time temperatures), and the ratios DTRH/NT and DTRH/DT.

Decision (``select``): an effect is supported when all three say so: its bootstrap interval
excludes zero (asymmetry: E0_d - E0_n; humidity: gamma; skipped without bootstrap), the
autocorrelation-corrected likelihood-ratio test of DTRH against the model without it rejects at
``test_level`` (asymmetry: against DTRHONLY; humidity: against DTASYM), and adding it improves the
held-out fit (asymmetry: DTRHONLY -> DTRH; humidity: DTASYM -> DTRH).  The supported model is DT plus
the supported effects, unless it predicts the held-out day-time NEE worse than DT by more than twice
the SE of the difference (days as units): DT-RH is a hypothesis about day-time respiration.
Requiring the three keeps the false support of an absent effect at a few per cent (on synthetic
site-years without it: docs/validation/dtrh_evidence.md).
"""

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ..common.progress import Progress
from ..errors import InputError
from . import jointfit as jf

#: held-out records count at most CV_CAP^2 in the held-out chi2: flux data have heavy tails (single
#: records 20 sdNEE off), and one such record would otherwise decide between models (DE-Hai 2007:
#: one winter record moved the held-out chi2 of DTRH against DT by 500)
CV_CAP = 5.0

#: pairs (larger, smaller) of the likelihood-ratio and F tests
TESTS = (("DTRH", "DT"), ("DTRH", "DTASYM"), ("DTRH", "DTRHONLY"), ("DTASYM", "DT"), ("DTRHONLY", "DT"))


@dataclass(frozen=True)
class EvidenceOptions:
    """Settings of :func:`site_year_evidence`.

    Attributes
    ----------
    n_boot : int
        Bootstrap replicates (0: no intervals; the decision then uses the corrected LR tests).
    seed : int
        Seed of the bootstrap.
    folds : int
        Cross-validation folds (days assigned by day number modulo ``folds``).
    level : float
        Confidence level of the intervals.
    test_level : float
        Significance level of the tests (decision without bootstrap).
    """
    n_boot: int = 100
    seed: int = 20240613
    folds: int = 4
    level: float = 0.95
    test_level: float = 0.05

    def __post_init__(self):
        if int(self.n_boot) < 0:
            raise InputError(f"n_boot must be 0 or more, not {self.n_boot}")
        if int(self.folds) < 2:
            raise InputError(f"folds must be at least 2, not {self.folds}")
        if not 0.5 < float(self.level) < 1.0:
            raise InputError(f"level must lie between 0.5 and 1, not {self.level}")


@dataclass
class Evidence:
    """Output of :func:`site_year_evidence`.

    Attributes
    ----------
    summary : dict
        One site-year row (the ``JOINT_*`` and ``SUPPORTED_*`` columns, see :func:`summary_columns`).
    models : pandas.DataFrame
        One row per model: parameters, curvature SEs, n, n_par, weighted SSR, log-likelihood, AIC,
        BIC, cross-validation scores.
    tests : pandas.DataFrame
        One row per nested pair: LR statistic, df, p, p with the effective n, F, p(F).
    boot : pandas.DataFrame
        One row per bootstrap replicate.
    fits : dict
        {model: JointFit} fitted to all data.
    data : jointfit.JointData
    options : dict
    by_month : pandas.DataFrame
        Where in the year the evidence comes from: per month the records (day, night) and each
        model's weighted squared residuals, fitted (``chi2_<M>``) and held out (``cv_chi2_<M>``).
    """
    summary: dict
    models: pd.DataFrame
    tests: pd.DataFrame
    boot: pd.DataFrame
    fits: dict
    data: object = None
    options: dict = field(default_factory=dict)
    by_month: pd.DataFrame = None


def day_weights(data, rng):
    """Bootstrap weights of the used records: the days of each block resampled within the block
    by the rescaled bootstrap of Rao and Wu (1988): n - 1 draws with replacement from the block's
    n days, each drawn day weighted n / (n - 1) per draw.  The plain bootstrap (n draws) would
    understate the variance by (n - 1) / n, a quarter for 4-day blocks; a block with one day keeps
    weight 1.  A record's weight is that of its day.  ``rng``: a numpy Generator or a seed (e.g.
    ``(seed, replicate)``)."""
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    weight = np.ones(int(data.day_number.max()) + 1)
    for b in range(data.nblock):
        days = np.unique(data.day_number[data.block == b])
        n = days.size
        if n < 2:
            continue
        counts = np.zeros(n)
        np.add.at(counts, rng.integers(0, n, size=n - 1), 1.0)
        weight[days] = counts * n / (n - 1.0)
    return weight[data.day_number]


def day_er_means(fit, data):
    """Mean day-time ER (umol CO2 m-2 s-1) over the used day-time records: of the fitted model,
    and of its night part at day-time temperatures (the NT extrapolation)."""
    x = fit.x
    _, er, _ = jf.predict(x, data)
    day = data.day
    o = data.options
    rn = x[data.col("rref_night", data.block[day])]
    frh = jf._frh(x[jf.IGAM], data.drh[day], o.rh_function)[0] if o.rh_at_night else 1.0
    er_nt = rn * np.exp(x[jf.IE0N] * data.xt[day]) * frh
    return float(np.mean(er[day])), float(np.mean(er_nt))


def _boot_row(fits, data):
    dtrh, dt = fits["DTRH"], fits["DT"]
    er_rh, er_nt = day_er_means(dtrh, data)
    er_dt, _ = day_er_means(dt, data)
    return {"e0_night": dtrh.e0_night, "e0_day": dtrh.e0_day, "e0_diff": dtrh.e0_day - dtrh.e0_night,
            "gamma": dtrh.gamma, "er_day_DTRH": er_rh, "er_day_DT": er_dt, "er_day_NT": er_nt,
            "ratio_DTRH_NT": er_rh / er_nt if er_nt else np.nan, "ratio_DTRH_DT": er_rh / er_dt if er_dt else np.nan}


def cross_validate(data, fits, folds=4):
    """Held-out scores of each fitted model: {model: {'chi2', 'rmse_day', 'rmse_night', 'n_day',
    'n_night'}} plus the per-day squared errors of day-time records ('day_sq': {day: mean sq})."""
    fold = data.day_number % folds
    out = {m: {"chi2": 0.0, "sq_day": np.zeros(data.n), "sq_night": np.zeros(data.n), "z2": np.full(data.n, np.nan)}
           for m in fits}
    held_all = np.zeros(data.n, bool)
    for f in range(folds):
        w = (fold != f).astype("float64")
        held = fold == f
        # held-out records count only where their block still has training records of their kind
        has_day = np.bincount(data.block[(w > 0) & data.day], minlength=data.nblock) > 0
        has_night = np.bincount(data.block[(w > 0) & ~data.day], minlength=data.nblock) > 0
        held &= np.where(data.day, has_day[data.block], has_night[data.block])
        held_all |= held
        refits = jf.fit_models(data, tuple(fits), weights=w, starts=fits)
        for m, ft in refits.items():
            nee, _, _ = jf.predict(ft.x, data)
            e = nee - data.nee
            z2 = np.minimum((e[held] / data.sd[held]) ** 2, CV_CAP ** 2)
            out[m]["chi2"] += float(np.sum(z2))
            out[m]["z2"][held] = z2
            out[m]["sq_day"][held & data.day] = e[held & data.day] ** 2
            out[m]["sq_night"][held & ~data.day] = e[held & ~data.day] ** 2
    hd, hn = held_all & data.day, held_all & ~data.day
    res = {}
    for m, o in out.items():
        res[m] = {"chi2": o["chi2"], "rmse_day": float(np.sqrt(np.mean(o["sq_day"][hd]))) if hd.any() else np.nan,
                  "rmse_night": float(np.sqrt(np.mean(o["sq_night"][hn]))) if hn.any() else np.nan,
                  "n_day": int(hd.sum()), "n_night": int(hn.sum()), "z2": o["z2"],
                  "day_sq": pd.Series(o["sq_day"][hd]).groupby(data.day_number[hd]).mean()}
    return res


def day_mse_difference(cv, model, base="DT"):
    """Held-out day-time NEE: MSE of ``model`` minus that of ``base`` (umol2 m-4 s-2) and its SE,
    the days being the independent units (SE of the mean per-day difference)."""
    d = (cv[model]["day_sq"] - cv[base]["day_sq"]).dropna()
    diff = float(cv[model]["rmse_day"] ** 2 - cv[base]["rmse_day"] ** 2)
    return diff, float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else np.nan


def lr_tests(fits, rho):
    """Likelihood-ratio and F tests of the nested pairs (:data:`TESTS`)."""
    rows = []
    for big, small in TESTS:
        if big not in fits or small not in fits:
            continue
        b, s = fits[big], fits[small]
        q = b.n_par - s.n_par
        n = b.n
        lr = max(n * np.log(s.ssr / b.ssr), 0.0)
        neff = n * (1.0 - rho) / (1.0 + rho) if np.isfinite(rho) else n
        lr_eff = lr * neff / n
        fstat = ((s.ssr - b.ssr) / q) / (b.ssr / max(n - b.n_par, 1))
        rows.append({"model": big, "against": small, "df": q, "LR": lr, "p": float(stats.chi2.sf(lr, q)),
                     "n_eff": neff, "LR_eff": lr_eff, "p_eff": float(stats.chi2.sf(lr_eff, q)),
                     "F": fstat, "p_F": float(stats.f.sf(max(fstat, 0.0), q, max(n - b.n_par, 1)))})
    return pd.DataFrame(rows)


def select(summary, cv, tests, options):
    """The supported model and the reasons (see the module docstring): (model, asym, rh, text)."""
    def interval_excludes_zero(name):
        lo, hi = summary.get(f"{name}_CI_LO"), summary.get(f"{name}_CI_HI")
        return lo is not None and np.isfinite(lo) and (lo > 0 or hi < 0)

    def p_eff(model, against):
        row = tests[(tests["model"] == model) & (tests["against"] == against)]
        return float(row["p_eff"].iloc[0]) if len(row) else np.nan

    gain_asym = cv["DTRHONLY"]["chi2"] - cv["DTRH"]["chi2"]
    gain_rh = cv["DTASYM"]["chi2"] - cv["DTRH"]["chi2"]
    p_a, p_r = p_eff("DTRH", "DTRHONLY"), p_eff("DTRH", "DTASYM")
    lr_asym = f"likelihood-ratio test against DTRHONLY (effective n) p = {p_a:.2g}"
    lr_rh = f"likelihood-ratio test against DTASYM (effective n) p = {p_r:.2g}"
    sig_asym, sig_rh = p_a < options.test_level, p_r < options.test_level
    if options.n_boot > 0:
        in_asym = interval_excludes_zero("JOINT_E0_DIFF_K")
        in_rh = interval_excludes_zero("JOINT_GAMMA")
        sig_asym, sig_rh = sig_asym and in_asym, sig_rh and in_rh

        def why(stem, what, excl, fmt):
            lo, hi = summary[f"{stem}_CI_LO"], summary[f"{stem}_CI_HI"]
            return (f"{options.level:.0%} bootstrap interval of {what} [{fmt.format(lo)}, {fmt.format(hi)}] "
                    f"{'excludes' if excl else 'includes'} 0")
        why_asym = why("JOINT_E0_DIFF_K", "E0_d - E0_n", in_asym, "{:.0f}") + f" K; {lr_asym}"
        why_rh = why("JOINT_GAMMA", "gamma", in_rh, "{:.4f}") + f" %-1; {lr_rh}"
    else:
        why_asym, why_rh = lr_asym, lr_rh
    asym = bool(sig_asym and gain_asym > 0)
    rh = bool(sig_rh and gain_rh > 0)
    model = {(False, False): "DT", (True, False): "DTASYM", (False, True): "DTRHONLY", (True, True): "DTRH"}[(asym, rh)]

    def held(gain):
        return f"held-out chi2 {'improves' if gain > 0 else 'worsens'} by {abs(gain):.1f}"
    text = (f"day/night asymmetry {'supported' if asym else 'not supported'} ({why_asym}; "
            f"{held(gain_asym)}); humidity response {'supported' if rh else 'not supported'} ({why_rh}; "
            f"{held(gain_rh)})")
    if model != "DT":
        # do no harm by day: DT-RH is a hypothesis about day-time respiration, so a model that
        # predicts the held-out day-time NEE worse than DT by more than the noise is not supported
        diff, se = day_mse_difference(cv, model)
        if np.isfinite(diff) and diff > 2.0 * se:
            text += (f"; but its held-out day-time NEE is worse than DT's (MSE +{diff:.3f} +- {se:.3f} "
                     f"umol2 m-4 s-2, > 2 SE): DT kept")
            model, asym, rh = "DT", False, False
    text = f"{model}: {text}"
    return model, asym, rh, text, gain_asym, gain_rh


#: bootstrap replicates per unit of work (a chunk on a lane of ``workers``)
BOOT_CHUNK = 5


def bootstrap_replicates(data, starts, seed, replicates):
    """Refit DT and DTRH to the day-resampled replicates ``replicates`` (numbers); one
    :func:`_boot_row` dict per replicate.  ``data``: a JointData or its :func:`jointfit.pack`;
    ``starts``: {model: parameter vector} of the fits to all data.  Module-level, with plain
    arguments, so that helper processes (which import ``ecoresp_core`` under its own name) can run it."""
    if isinstance(data, dict):
        data = jf.unpack(data)
    starts = {m: jf.Start(np.asarray(x, dtype="float64")) for m, x in starts.items()}
    out = []
    with jf.single_thread_blas():
        for i in replicates:
            w = day_weights(data, (seed, i))
            rep = jf.fit_models(data, ("DT", "DTRH"), weights=w, starts=starts)
            out.append(_boot_row(rep, data))
    return out


def site_year_evidence(df, options=None, joint_options=None, progress=None, cancelled=None, data=None,
                       workers=None):
    """Model comparison, bootstrap intervals and the supported model of one site-year.

    Parameters
    ----------
    df : TowerData or pandas.DataFrame
        One site-year of the tower table (NEE, NEE_QC, TA, SW_IN, SW_IN_POT, VPD, RH or VPD and TA).
    options : EvidenceOptions or dict, optional
    joint_options : jointfit.JointOptions or dict, optional
        The model formulation (block length, RH function, RH at night, reference RH, ...).
    progress, cancelled : callable, optional
        Progress (0-1) and cancellation hooks (the bootstrap is the long part).
    data : jointfit.JointData, optional
        Prepared data (skips :func:`jointfit.joint_data`).
    workers : object, optional
        Runs the bootstrap chunks on several cores (the ``run`` contract of
        ``ecoresp_core.jobs.parallel.Workers``); serial without.  The result does not depend on it.

    Returns
    -------
    Evidence
    """
    o = options if isinstance(options, EvidenceOptions) else EvidenceOptions(**(options or {}))
    jo = joint_options if isinstance(joint_options, jf.JointOptions) or joint_options is None \
        else jf.JointOptions(**joint_options)
    prog = Progress(progress, cancelled)
    data = data if data is not None else jf.joint_data(df, jo)
    with jf.single_thread_blas():
        fits = jf.fit_models(data)
        prog.step(0.1)
        cv = cross_validate(data, fits, o.folds)
    prog.step(0.25)
    rho = max(fits["DTRH"].rho1, 0.0) if np.isfinite(fits["DTRH"].rho1) else np.nan
    tests = lr_tests(fits, rho)
    point = _boot_row(fits, data)
    rows = []
    if o.n_boot > 0:
        # replicate i draws its days from the generator seeded (seed, i): the same replicates
        # whatever the scheduling (serial, or chunks on the lanes of ``workers``)
        starts = {m: fits[m].x for m in ("DT", "DTRH")}
        chunks = [list(range(a, min(a + BOOT_CHUNK, o.n_boot))) for a in range(0, int(o.n_boot), BOOT_CHUNK)]
        done = {}
        sub = prog.sub(0.25, 1.0)

        packed = jf.pack(data) if workers is not None else data

        def make_args(chunk):
            return packed, starts, int(o.seed), chunk

        def deliver(chunk, res):
            done.update(zip(chunk, res))

        if workers is None:
            for k, chunk in enumerate(chunks):
                sub.step(k / len(chunks))
                deliver(chunk, bootstrap_replicates(*make_args(chunk)))
        else:
            workers.run(bootstrap_replicates, chunks, make_args, deliver, heavy=True,
                        progress=sub.step, check=sub.check)
        rows = [done[i] for i in range(int(o.n_boot))]
    prog.step(1.0)
    boot = pd.DataFrame(rows, columns=list(point))
    summary = summary_columns(data, fits, cv, tests, point, boot, o, rho)
    model, asym, rh, text, g_a, g_r = select(summary, cv, tests, o)
    summary = {"SUPPORTED_MODEL": model, "SUPPORTED_ASYMMETRY": asym, "SUPPORTED_RH": rh, "EVIDENCE": text,
               "JOINT_CV_GAIN_ASYM": g_a, "JOINT_CV_GAIN_RH": g_r, **summary}
    models = pd.DataFrame([{
        "model": m, "e0_night_K": f.e0_night, "e0_day_K": f.e0_day, "gamma": f.gamma,
        "e0_night_se_K": f.se["e0_night"], "e0_day_se_K": f.se["e0_day"], "gamma_se": f.se["gamma"],
        "n": f.n, "n_par": f.n_par, "ssr": f.ssr, "loglik": f.loglik, "AIC": aic(f), "BIC": bic(f),
        "cv_chi2": cv[m]["chi2"], "cv_rmse_day": cv[m]["rmse_day"], "cv_rmse_night": cv[m]["rmse_night"],
        "converged": f.converged} for m, f in fits.items()])
    models["dAIC"] = models["AIC"] - models["AIC"].min()
    models["dBIC"] = models["BIC"] - models["BIC"].min()
    return Evidence(summary=summary, models=models, tests=tests, boot=boot, fits=fits, data=data,
                    options={"evidence": asdict(o), "joint": asdict(data.options)},
                    by_month=monthly(data, fits, cv))


def monthly(data, fits, cv):
    """Per calendar month: records by day and night, each model's weighted squared residuals of
    the fit to all data (``chi2_<M>``) and held out (``cv_chi2_<M>``, capped as the total)."""
    month = data.index.month
    out = pd.DataFrame({"n_day": pd.Series(data.day).groupby(month).sum(),
                        "n_night": pd.Series(~data.day).groupby(month).sum()})
    for m, f in fits.items():
        nee, _, _ = jf.predict(f.x, data)
        out[f"chi2_{m}"] = pd.Series(((nee - data.nee) / data.sd) ** 2).groupby(month).sum()
        out[f"cv_chi2_{m}"] = pd.Series(cv[m]["z2"]).groupby(month).sum(min_count=1)
    out.index.name = "month"
    return out.reset_index()


def aic(fit):
    """AIC with the error scale counted as a parameter."""
    return 2.0 * (fit.n_par + 1) - 2.0 * fit.loglik


def bic(fit):
    """BIC with the error scale counted as a parameter."""
    return np.log(fit.n) * (fit.n_par + 1) - 2.0 * fit.loglik


#: bootstrap quantities -> summary column stems
_STEMS = {"e0_night": "JOINT_E0_NIGHT_K", "e0_day": "JOINT_E0_DAY_K", "e0_diff": "JOINT_E0_DIFF_K",
          "gamma": "JOINT_GAMMA", "er_day_DTRH": "JOINT_ER_DAY_DTRH", "er_day_DT": "JOINT_ER_DAY_DT",
          "er_day_NT": "JOINT_ER_DAY_NT", "ratio_DTRH_NT": "JOINT_ER_DAY_RATIO_DTRH_NT",
          "ratio_DTRH_DT": "JOINT_ER_DAY_RATIO_DTRH_DT"}


def summary_columns(data, fits, cv, tests, point, boot, o, rho):
    """The site-year summary columns: point estimates with bootstrap SE and interval
    (``<stem>``, ``<stem>_SE``, ``<stem>_CI_LO``, ``<stem>_CI_HI``; E0 in K, gamma in %-1, ER in
    umol CO2 m-2 s-1, ratios), per model AIC, BIC, held-out chi2 and day-time RMSE, the LR tests
    against DT (p with the effective n), and the settings."""
    a = (1.0 - o.level) / 2.0
    out = {}
    for key, stem in _STEMS.items():
        out[stem] = point[key]
        if len(boot):
            v = boot[key].to_numpy(dtype="float64")
            v = v[np.isfinite(v)]
            out[f"{stem}_SE"] = float(np.std(v, ddof=1)) if v.size > 1 else np.nan
            out[f"{stem}_CI_LO"] = float(np.quantile(v, a)) if v.size else np.nan
            out[f"{stem}_CI_HI"] = float(np.quantile(v, 1.0 - a)) if v.size else np.nan
    for m, f in fits.items():
        out[f"JOINT_AIC_{m}"] = aic(f)
        out[f"JOINT_BIC_{m}"] = bic(f)
        out[f"JOINT_CV_CHI2_{m}"] = cv[m]["chi2"]
        out[f"JOINT_CV_RMSE_DAY_{m}"] = cv[m]["rmse_day"]
    for _, t in tests.iterrows():
        out[f"JOINT_LR_P_{t['model']}_VS_{t['against']}"] = t["p_eff"]
    # held-out day-time fit of DTRH against DT: difference of the mean squared error and its SE
    # over held-out days (days as the independent units)
    out["JOINT_CV_DAY_MSE_DIFF_DTRH_DT"], out["JOINT_CV_DAY_MSE_DIFF_SE"] = day_mse_difference(cv, "DTRH")
    # estimates of the full model at a bound: their intervals are cut there (say so)
    jo, f = data.options, fits["DTRH"]
    at = [name for name, v, (lo, hi) in (("E0_night", f.e0_night, jo.e0_bounds), ("E0_day", f.e0_day, jo.e0_bounds),
                                         ("gamma", f.gamma, jo.gamma_bounds)) if v <= lo or v >= hi]
    out["JOINT_AT_BOUND"] = ", ".join(at)
    out.update({"JOINT_RHO1": rho, "JOINT_N": fits["DTRH"].n, "JOINT_BLOCKS": data.nblock,
                "JOINT_BLOCK_DAYS": data.options.block_days, "JOINT_RH_REF": data.rh_ref,
                "JOINT_RH_FUNCTION": data.options.rh_function, "JOINT_RH_AT_NIGHT": data.options.rh_at_night,
                "JOINT_N_BOOT": int(o.n_boot), "JOINT_SEED": int(o.seed), "JOINT_LEVEL": o.level})
    return out
