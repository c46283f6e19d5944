"""``alnpredictor analyze survival``: survival of a model's high- vs low-risk groups.

The MRI study reports the disease-free survival of its high- and low-risk groups (hazard ratio
0.43); this is that analysis for any cohort with follow-up. Patients are split at a cut-off of a
risk score (a model bundle's probability at its stored cut-off, or a score column), then:

* Kaplan–Meier curves per group with pointwise 95% confidence limits on the log scale (R's
  ``survfit`` default ``conf.type = "log"``), survival at chosen times, medians with CIs read off
  the curve and its confidence limits as ``print(survfit)`` does;
* the log-rank test (R's ``survdiff``);
* the Cox hazard ratio high vs low (Efron ties, R's ``coxph`` default) with Wald CI and p and the
  likelihood-ratio test, optionally adjusted for covariates;
* Harrell's C of the groups and of the continuous score.

The estimators are statsmodels' (``SurvfuncRight``, ``survdiff``, ``PHReg``) and scikit-survival's
(``concordance_index_censored``); ``tools/r/survival_reference.R`` computes the same numbers in R
and ``tests/test_analysis_survival.py`` matches them to 1e-4.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alnpredictor.errors import InputError

#: At most this many rows are named in an error (the count says how many more).
MAX_ROWS_NAMED = 5
#: R's tolerance for "exactly one half" (``sqrt(.Machine$double.eps)``).
R_TOLERANCE = math.sqrt(np.finfo(float).eps)


# ---------------------------------------------------------------------------------------------
# input checks
# ---------------------------------------------------------------------------------------------

def _rows(mask: np.ndarray) -> str:
    """'rows 3, 7 (and 2 more)': 1-based data rows of the table as read."""
    idx = np.flatnonzero(mask) + 1
    text = ", ".join(str(i) for i in idx[:MAX_ROWS_NAMED])
    more = idx.size - MAX_ROWS_NAMED
    return f"row{'s' if idx.size > 1 else ''} {text}" + (f" (and {more} more)" if more > 0 else "")


def _column(table: pd.DataFrame, name: str, option: str) -> pd.Series:
    if name not in table.columns:
        shown = ", ".join(map(str, list(table.columns)[:15])) + (" ..." if table.shape[1] > 15 else "")
        raise InputError(f"{option} column {name!r} is not in the table (columns: {shown}); give the column "
                         f"that holds it with {option}")
    return table[name]


def follow_up(table: pd.DataFrame, time: str, event: str) -> tuple[np.ndarray, np.ndarray]:
    """The follow-up times and event indicators (0 censored, 1 event) of every row, checked.

    Refuses — naming the column, the rows and what to do — a missing column, a time that is not a
    number, missing or negative, and an event that is missing or not 0/1 (True/False accepted)."""
    t_raw = _column(table, time, "--time")
    e_raw = _column(table, event, "--event")
    t = pd.to_numeric(t_raw, errors="coerce").to_numpy(dtype=float)
    text = np.isnan(t) & t_raw.notna().to_numpy()
    if text.any():
        raise InputError(f"time column {time!r} has values that are not numbers ({_rows(text)}, e.g. "
                         f"{t_raw[text].iloc[0]!r}): give follow-up times as numbers (days, months or years)")
    if np.isnan(t).any():
        raise InputError(f"time column {time!r} has missing values ({_rows(np.isnan(t))}): fill in the follow-up "
                         "time or remove those patients")
    if np.isinf(t).any():
        raise InputError(f"time column {time!r} has infinite values ({_rows(np.isinf(t))}): give finite times")
    if (t < 0).any():
        raise InputError(f"time column {time!r} has negative follow-up times ({_rows(t < 0)}, e.g. "
                         f"{t[t < 0][0]:g}): times run from the start of follow-up; check the dates")
    if e_raw.dtype == bool:
        e = e_raw.to_numpy(dtype=float)
    else:
        e = pd.to_numeric(e_raw, errors="coerce").to_numpy(dtype=float)
    if np.isnan(e).any():
        bad = np.isnan(e)
        raise InputError(f"event column {event!r} has missing or non-numeric values ({_rows(bad)}): code every "
                         "patient 1 (event) or 0 (censored)")
    bad = ~np.isin(e, (0.0, 1.0))
    if bad.any():
        found = sorted(set(np.unique(e[bad]).tolist()))[:5]
        raise InputError(f"event column {event!r} must be 0 (censored) or 1 (event); found "
                         f"{', '.join(f'{v:g}' for v in found)} ({_rows(bad)}): recode it (R's 1/2 coding: "
                         "1 censored → 0, 2 event → 1)")
    if not e.any():
        raise InputError(f"event column {event!r} has no events (all 0): survival cannot be compared without "
                         "events")
    return t, e.astype(int)


def risk_groups(score: np.ndarray, cutoff: float, what: str) -> np.ndarray:
    """``score >= cutoff`` (high risk), refused when every patient falls on one side."""
    high = score >= cutoff
    if high.all() or not high.any():
        side = "at or above" if high.all() else "below"
        raise InputError(
            f"all {score.size} patients are {side} the cut-off {cutoff:g} of {what} (scores "
            f"{np.min(score):g}–{np.max(score):g}): there is a single group; give a --cutoff inside that range")
    return high


# ---------------------------------------------------------------------------------------------
# estimators (statsmodels, scikit-survival), read out as R reports them
# ---------------------------------------------------------------------------------------------

def r_median(times: np.ndarray, curve: np.ndarray, tol: float = R_TOLERANCE) -> float | None:
    """The first time ``curve`` (survival, or one of its confidence limits, at each event time) is at
    or below one half, as ``print(survfit)`` reports it (``survival:::survmean``): where the curve
    sits exactly at one half, half-way to the time it drops below; ``None`` if it never gets there."""
    keep = ~np.isnan(curve) & (curve < 0.5 + tol)
    if not keep.any():
        return None
    x, y = times[keep], curve[keep]
    below = np.flatnonzero(y < y[0])
    if abs(y[0] - 0.5) < tol and below.size:
        return float((x[0] + x[below[0]]) / 2)
    return float(x[0])


def kaplan_meier(time: np.ndarray, event: np.ndarray, *, level: float = 0.95,
                 at: Sequence[float] = ()) -> dict[str, Any]:
    """Kaplan–Meier estimate (statsmodels ``SurvfuncRight``) with log-transformed pointwise limits
    (Greenwood), as R's ``survfit(conf.type = "log")``.

    Keys: ``n``, ``events``, ``curve`` (at each event time: ``time, n_risk, n_event, survival,
    ci_low, ci_high``), ``at`` (the same at the times asked), ``median`` and ``median_ci`` (None
    where not reached)."""
    from scipy.stats import norm
    from statsmodels.duration.survfunc import SurvfuncRight

    fit = SurvfuncRight(time, event)
    s = np.asarray(fit.surv_prob, dtype=float)
    z = norm.ppf(0.5 + level / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        se_log = np.asarray(fit.surv_prob_se, dtype=float) / s  # standard error of log S
        low = np.where(s > 0, s * np.exp(-z * se_log), np.nan)
        high = np.where(s > 0, np.minimum(1.0, s * np.exp(z * se_log)), np.nan)
    times = np.asarray(fit.surv_times, dtype=float)
    curve = {"time": times, "n_risk": np.asarray(fit.n_risk, dtype=int), "n_event": np.asarray(fit.n_events, dtype=int),
             "survival": s, "ci_low": low, "ci_high": high}
    at_rows = []
    for t in at:
        i = int(np.searchsorted(times, t, side="right")) - 1  # the last event at or before t
        at_rows.append({"time": float(t), "n_risk": int((time >= t).sum()),
                        "survival": 1.0 if i < 0 else float(s[i]),
                        "ci_low": 1.0 if i < 0 else float(low[i]), "ci_high": 1.0 if i < 0 else float(high[i])})
    return {
        "n": int(time.size), "events": int(event.sum()), "curve": curve, "at": at_rows,
        "median": r_median(times, s),
        # the lower confidence curve reaches one half first: it gives the lower limit
        "median_ci": [r_median(times, low), r_median(times, high)],
    }


def _cox(time: np.ndarray, event: np.ndarray, x: np.ndarray) -> tuple[Any, Any]:
    from statsmodels.duration.hazard_regression import PHReg

    model = PHReg(time, x, status=event, ties="efron")
    return model, model.fit(disp=False)


def cox_hazard_ratio(time: np.ndarray, event: np.ndarray, high: np.ndarray, covariates: pd.DataFrame | None = None,
                     *, level: float = 0.95) -> dict[str, Any]:
    """Cox hazard ratio of the high- vs the low-risk group (statsmodels ``PHReg``, Efron ties as R's
    ``coxph``): ``hr``, ``hr_ci`` (Wald), ``coef``, ``se``, ``wald_z``, ``wald_p``, the
    likelihood-ratio test of the group (``lr_chisq``, ``lr_df``, ``lr_p``; given the covariates
    when adjusted), ``concordance`` (Harrell's C of the model's linear predictor) and, when
    adjusted, ``covariates`` and ``covariate_hr``."""
    from scipy.stats import chi2, norm

    names = [] if covariates is None else [str(c) for c in covariates.columns]
    x = high.astype(float)[:, None]
    if names:
        x = np.column_stack([x, covariates.to_numpy(dtype=float)])
    model, fit = _cox(time, event, x)
    if names:  # the likelihood-ratio test of the group given the covariates (R: anova(base, full))
        ll0 = _cox(time, event, x[:, 1:])[1].llf
    else:
        ll0 = model.loglike(np.zeros(1))
    coef, se = float(fit.params[0]), float(fit.bse[0])
    z = norm.ppf(0.5 + level / 2)
    lr = max(0.0, 2.0 * (float(fit.llf) - float(ll0)))
    out = {
        "coef": coef, "hr": math.exp(coef), "se": se,
        "hr_ci": [math.exp(coef - z * se), math.exp(coef + z * se)],
        "wald_z": coef / se, "wald_p": float(2 * norm.sf(abs(coef / se))),
        "lr_chisq": lr, "lr_df": 1, "lr_p": float(chi2.sf(lr, 1)),
        "loglik": [float(model.loglike(np.zeros(x.shape[1]))), float(fit.llf)],
        "concordance": harrell_c(time, event, x @ np.asarray(fit.params, dtype=float)),
        "ties": "efron",
    }
    if names:
        out["covariates"] = names
        out["covariate_hr"] = {n: math.exp(float(b)) for n, b in zip(names, fit.params[1:])}
        out["n"] = int(time.size)
    return out


def harrell_c(time: np.ndarray, event: np.ndarray, risk: np.ndarray) -> float:
    """Harrell's C (scikit-survival): higher ``risk`` should mean an earlier event; ties in risk
    count one half (as R's ``concordance(..., reverse = TRUE)``)."""
    from sksurv.metrics import concordance_index_censored

    return float(concordance_index_censored(event.astype(bool), time.astype(float), risk.astype(float))[0])


def logrank(time: np.ndarray, event: np.ndarray, high: np.ndarray) -> dict[str, Any]:
    """Log-rank test of the two groups (statsmodels ``survdiff``, as R's ``survdiff``)."""
    from statsmodels.duration.survfunc import survdiff

    chisq, p = survdiff(time, event, high.astype(int))
    return {"chisq": float(chisq), "df": 1, "p": float(p),
            "observed": {"low": int(event[~high].sum()), "high": int(event[high].sum())}}


def survival_analysis(time: np.ndarray, event: np.ndarray, score: np.ndarray, cutoff: float, *,
                      covariates: pd.DataFrame | None = None, at: Sequence[float] = (), level: float = 0.95,
                      what: str = "the score") -> dict[str, Any]:
    """Risk groups (``score >= cutoff`` = high) compared: Kaplan–Meier per group, log-rank, Cox HR
    (unadjusted and, with ``covariates``, adjusted; rows with a missing covariate are left out of the
    adjusted model only), Harrell's C of the groups and of the score. JSON-ready dict."""
    time, event, score = (np.asarray(a) for a in (time, event, score))
    high = risk_groups(score.astype(float), float(cutoff), what)
    warnings = []
    groups = {"high": kaplan_meier(time[high], event[high], level=level, at=at),
              "low": kaplan_meier(time[~high], event[~high], level=level, at=at)}
    out: dict[str, Any] = {
        "n": int(time.size), "events": int(event.sum()), "cutoff": float(cutoff), "confidence_level": level,
        "groups": groups, "logrank": logrank(time, event, high),
        "concordance": {"groups": harrell_c(time, event, high.astype(float)),
                        "score": harrell_c(time, event, score.astype(float))},
        "cox": None, "cox_adjusted": None,
    }
    empty = [name for name, g in groups.items() if g["events"] == 0]
    if empty:  # the partial likelihood has no maximum: no finite hazard ratio
        warnings.append({"code": "group_without_events",
                         "message": f"the {' and '.join(empty)}-risk group has no events: the hazard ratio is not "
                                    "finite and is not reported (Kaplan–Meier and log-rank still are)"})
    else:
        out["cox"] = cox_hazard_ratio(time, event, high, level=level)
        if covariates is not None:
            complete = covariates.notna().all(axis=1).to_numpy()
            if (~complete).any():
                warnings.append({"code": "covariates_missing",
                                 "message": f"{int((~complete).sum())} patients with a missing covariate are left "
                                            "out of the adjusted Cox model"})
            out["cox_adjusted"] = cox_hazard_ratio(time[complete], event[complete], high[complete],
                                                   covariates.loc[complete], level=level)
    out["warnings"] = warnings
    return out


# ---------------------------------------------------------------------------------------------
# figure
# ---------------------------------------------------------------------------------------------

def _fmt_time(value: float | None) -> str:
    return "not reached" if value is None else f"{value:g}"


def survival_figure(result: dict[str, Any], *, time_label: str = "time", title: str | None = None):
    """Kaplan–Meier curves of both groups with their confidence bands, censoring marks, the
    numbers at risk under the plot, medians, HR and log-rank p. Returns a matplotlib Figure (Agg)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from alnpredictor.report.figures import RESEARCH_NOTE, plain

    fig = Figure(figsize=(7.0, 5.6))
    FigureCanvasAgg(fig)
    ax, table_ax = fig.subplots(2, 1, gridspec_kw={"height_ratios": [4.2, 1.0], "hspace": 0.32}, sharex=True)
    colours = {"high": "tab:red", "low": "tab:blue"}
    labels = result.get("group_labels", {"high": "high risk", "low": "low risk"})
    t_max = 0.0
    for name in ("high", "low"):
        g = result["groups"][name]
        c = g["curve"]
        t = np.concatenate([[0.0], np.asarray(c["time"], dtype=float), [g["last_time"]]])
        s = np.concatenate([[1.0], np.asarray(c["survival"], dtype=float)])
        s = np.concatenate([s, s[-1:]])
        lo = np.concatenate([[1.0], np.asarray(c["ci_low"], dtype=float)])
        hi = np.concatenate([[1.0], np.asarray(c["ci_high"], dtype=float)])
        lo, hi = np.concatenate([lo, lo[-1:]]), np.concatenate([hi, hi[-1:]])
        t_max = max(t_max, g["last_time"])
        med, (mlo, mhi) = g["median"], g["median_ci"]
        ax.step(t, s, where="post", color=colours[name], linewidth=1.8,
                label=plain(f"{labels[name]} (n {g['n']}, {g['events']} events; median {_fmt_time(med)}, "
                            f"95% CI {_fmt_time(mlo)}–{_fmt_time(mhi)})"))
        ax.fill_between(t, lo, hi, step="post", color=colours[name], alpha=0.15, linewidth=0)
        cens = np.asarray(g["censored_times"], dtype=float)
        if cens.size:
            idx = np.searchsorted(t[:-1], cens, side="right") - 1
            ax.plot(cens, s[idx], "|", color=colours[name], markersize=4, markeredgewidth=0.6, alpha=0.6)
    cox, lr = result.get("cox"), result["logrank"]
    text = f"log-rank χ² {lr['chisq']:.2f}, p {lr['p']:.2g}"
    if cox:
        text = (f"HR {plain(labels['high'])} vs {plain(labels['low'])} {cox['hr']:.2f} "
                f"(95% CI {cox['hr_ci'][0]:.2f}–{cox['hr_ci'][1]:.2f}), "
                f"Wald p {cox['wald_p']:.2g}\n" + text)
    ax.text(0.02, 0.03, text, transform=ax.transAxes, fontsize=8, va="bottom")
    ax.set(ylim=(0, 1.02), ylabel="Survival probability", title=plain(title) if title else "Kaplan–Meier")
    ax.legend(loc="upper right", fontsize=7.5)
    ax.grid(alpha=0.25)
    ticks = [tk for tk in ax.get_xticks() if 0 <= tk <= t_max]
    ax.set_xlim(0, t_max * 1.02)
    table_ax.set_xticks(ticks)
    for row, name in enumerate(("high", "low")):
        times = np.asarray(result["groups"][name]["all_times"], dtype=float)
        for tk in ticks:
            table_ax.text(tk, row, str(int((times >= tk).sum())), ha="center", va="center", fontsize=8,
                          color=colours[name])
    table_ax.set(ylim=(-0.6, 1.6), xlabel=plain(time_label))
    table_ax.set_yticks([0, 1], [plain(labels["high"]), plain(labels["low"])], fontsize=8)
    table_ax.set_title("Number at risk", fontsize=8, loc="left")
    for side in ("top", "right", "left"):
        table_ax.spines[side].set_visible(False)
    table_ax.tick_params(axis="y", length=0, pad=16)  # clear of the counts at time 0
    fig.text(0.01, 0.005, RESEARCH_NOTE, fontsize=6, color="grey")
    return fig


# ---------------------------------------------------------------------------------------------
# command
# ---------------------------------------------------------------------------------------------

def _times(text: str) -> list[float]:
    """argparse type of ``--at``: follow-up times separated by commas."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--at needs times separated by commas (e.g. 365,1095,1826), not {text!r}") from None
    if not values or any(not math.isfinite(v) or v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"--at needs non-negative times separated by commas, not {text!r}")
    return values


def _names(text: str) -> list[str]:
    names = [v.strip() for v in text.split(",") if v.strip()]
    if not names:
        raise argparse.ArgumentTypeError("--covariates needs column names separated by commas")
    return names


def register(kinds: argparse._SubParsersAction) -> None:
    """Add ``analyze survival``."""
    p = kinds.add_parser(
        "survival", help="Kaplan–Meier, log-rank, Cox HR and Harrell's C of high- vs low-risk groups",
        description="Split patients at a cut-off of a model's probability (its stored cut-off unless --cutoff) "
                    "or of a score column, and compare the groups' survival: Kaplan–Meier with 95%% CIs and "
                    "numbers at risk, medians with CIs, log-rank test, Cox hazard ratio high vs low (Wald and "
                    "likelihood-ratio; optionally adjusted for covariates) and Harrell's C.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", metavar="M.alnmodel", help="model bundle: its probability is the risk score")
    src.add_argument("--score", metavar="COL", help="a column of the table that is the risk score (higher = worse)")
    p.add_argument("--features", required=True, metavar="F.csv", help="table: one row per patient")
    p.add_argument("--time", required=True, metavar="COL", help="follow-up time column (any unit)")
    p.add_argument("--event", required=True, metavar="COL", help="event column: 1 event (e.g. recurrence), 0 censored")
    p.add_argument("--cutoff", type=float, metavar="X",
                   help="risk cut-off (score >= X is high risk); default: the model's stored cut-off, "
                        "with --score the median score (said in the output)")
    p.add_argument("--covariates", type=_names, metavar="C1,C2",
                   help="numeric columns to adjust the Cox hazard ratio for (code categories as 0/1 columns)")
    p.add_argument("--at", type=_times, default=[], metavar="T1,T2",
                   help="also report survival at these times (e.g. 365,1095,1826 for 1, 3, 5 years in days)")
    p.add_argument("--json", metavar="OUT.json", help="write all results as JSON")
    p.add_argument("--plots", metavar="DIR", help="write the Kaplan–Meier figure (survival-km.png and .svg)")
    p.set_defaults(func=_run)


def _scores(args: argparse.Namespace, table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, dict, float, str]:
    """(usable rows, score of those rows, source description, cut-off, where the cut-off came from)."""
    if args.model:
        from alnpredictor.models import resolve_model
        from alnpredictor.models.clinical import PLAUSIBLE, check_clinical_table
        from alnpredictor.models.design import numeric_block
        from alnpredictor.models.recipes.base import check_cutoff

        model = resolve_model(args.model)
        usable = ~np.asarray(model.incomplete_rows(table), dtype=bool)
        if not usable.any():
            raise InputError(f"no patient in {args.features} has every value model {model.name!r} needs "
                             f"({', '.join(model.required_columns[:10])})")
        complete = table.loc[usable]
        numeric_block(complete, model.features)
        check_clinical_table(model.clinical_fields, complete,
                             features=[f for f in model.features if f in PLAUSIBLE], what="the survival table")
        score = np.asarray(model.predict_proba(complete), dtype=float)
        source = {"model": model.name, "recipe": model.recipe, "score": "predicted probability"}
        if args.cutoff is not None:
            cut, how = check_cutoff(args.cutoff), "given"
        elif model.cutoff is not None:
            cut, how = float(model.cutoff), "model (training cohort)"
        else:
            cut, how = float(np.median(score)), "median of the predicted probabilities (the model has no cut-off)"
        return usable, score, source, cut, how
    raw = _column(table, args.score, "--score")
    values = pd.to_numeric(raw, errors="coerce")
    text = (values.isna() & raw.notna()).to_numpy()
    if text.any():
        raise InputError(f"score column {args.score!r} has values that are not numbers ({_rows(text)}): give a "
                         "numeric risk score")
    usable = values.notna().to_numpy() & np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
    if not usable.any():
        raise InputError(f"score column {args.score!r} has no values")
    score = values.to_numpy(dtype=float)[usable]
    if args.cutoff is not None:
        if not math.isfinite(args.cutoff):
            raise InputError(f"--cutoff must be a finite number, not {args.cutoff}")
        cut, how = float(args.cutoff), "given"
    else:
        cut, how = float(np.median(score)), "median of the score (no --cutoff given)"
    return usable, score, {"score": args.score}, cut, how


def _covariates(table: pd.DataFrame, names: list[str] | None) -> pd.DataFrame | None:
    if not names:
        return None
    from alnpredictor.models.design import numeric_block

    for n in names:
        _column(table, n, "--covariates")
    try:
        block = numeric_block(table, names, what="covariate")
    except InputError as exc:
        raise InputError(f"{exc} (covariates must be numbers: code a category as 0/1 columns)") from None
    return pd.DataFrame(block, columns=names, index=table.index)


def _run(args: argparse.Namespace) -> int:
    from alnpredictor.models.design import read_table

    table = read_table(args.features, what="survival table")
    time, event = follow_up(table, args.time, args.event)
    covariates = _covariates(table, args.covariates)
    usable, score, source, cut, how = _scores(args, table)
    what = f"model {source['model']!r}" if "model" in source else f"score {args.score!r}"
    res = survival_analysis(time[usable], event[usable], score, cut, at=args.at, what=what,
                            covariates=None if covariates is None else covariates.loc[usable])
    n_missing = int((~usable).sum())
    if n_missing:
        res["warnings"].insert(0, {"code": "score_missing",
                                   "message": f"{n_missing} patients without a score (missing values) are left out"})
    if "median" in how:
        res["warnings"].insert(0, {"code": "cutoff_median",
                                   "message": f"no cut-off was given: the median {cut:g} is used, so the groups are "
                                              "halves of this cohort, not a pre-specified split"})
    if "model" not in source:  # a score column need not be a risk (e.g. a treatment): name the sides
        res["group_labels"] = {"high": f"{args.score} ≥ {cut:g}", "low": f"{args.score} < {cut:g}"}
    res = {"analysis": "survival", "source": source, "table": str(args.features), "time": args.time,
           "event": args.event, "cutoff_source": how, "n_excluded_missing": n_missing, **res}
    for name, mask in (("high", score >= cut), ("low", score < cut)):  # for the figure: every time, censoring
        t, e = time[usable][mask], event[usable][mask]
        res["groups"][name].update(last_time=float(t.max()), all_times=t, censored_times=np.unique(t[e == 0]))
    _print(res, args)
    if args.json or args.plots:
        _write_outputs(args, res)
    return 0


def _print(res: dict, args: argparse.Namespace) -> None:
    src = res["source"]
    who = f"model {src['model']} ({src['recipe']})" if "model" in src else f"score {src['score']}"
    print(f"risk-group survival: {who} on {Path(args.features).name} — research use only")
    print(f"n {res['n']}, {res['events']} events (time {args.time}, event {args.event})"
          + (f"; {res['n_excluded_missing']} excluded for missing values" if res["n_excluded_missing"] else ""))
    print(f"cut-off {res['cutoff']:g} ({res['cutoff_source']}); high risk = score >= cut-off")
    at = [r["time"] for r in res["groups"]["high"]["at"]]
    print(f"  {'group':6s} {'n':>6s} {'events':>7s}  {'median (95% CI)':28s}"
          + "".join(f" {f'S({t:g}) (95% CI)':20s}" for t in at))
    for name in ("high", "low"):
        g = res["groups"][name]
        lo, hi = g["median_ci"]
        med = f"{_fmt_time(g['median'])} ({_fmt_time(lo)}–{_fmt_time(hi)})"
        cells = "".join(f" {r['survival']:.3f} ({r['ci_low']:.3f}–{r['ci_high']:.3f})" for r in g["at"])
        print(f"  {name:6s} {g['n']:6d} {g['events']:7d}  {med:28s}{cells}")
    lr = res["logrank"]
    print(f"log-rank chi-square {lr['chisq']:.3f} (1 df), p {lr['p']:.3g}")
    for key, label in (("cox", "Cox HR high vs low"), ("cox_adjusted", "adjusted HR high vs low")):
        c = res.get(key)
        if c:
            extra = f" (for {', '.join(c['covariates'])}; n {c['n']})" if key == "cox_adjusted" else ""
            print(f"{label} {c['hr']:.3f} (95% CI {c['hr_ci'][0]:.3f}–{c['hr_ci'][1]:.3f}){extra}, Wald p "
                  f"{c['wald_p']:.3g}; likelihood-ratio chi-square {c['lr_chisq']:.3f}, p {c['lr_p']:.3g}")
    conc = res["concordance"]
    print(f"Harrell's C: risk groups {conc['groups']:.3f}, continuous score {conc['score']:.3f}")
    for w in res["warnings"]:
        print(f"warning [{w['code']}]: {w['message']}")


def _write_outputs(args: argparse.Namespace, res: dict) -> None:
    """The JSON and the figure, all or none (``alnpredictor.report.results``)."""
    from alnpredictor.jsonsafe import json_safe
    from alnpredictor.report.results import results_group

    payload = json_safe(res)
    for g in payload["groups"].values():  # per-patient times are the input, not a result
        g.pop("all_times", None)
    written = []
    with results_group(args.json, payload, args.plots) as (group, plots):
        if plots is not None:
            from alnpredictor.report.figures import save_figure

            src = res["source"]
            title = (f"{src['model']}: probability ≥ {res['cutoff']:.3g} (high risk) vs below" if "model" in src
                     else f"{src['score']} ≥ {res['cutoff']:.4g} (high) vs below (low)")
            fig = survival_figure(res, time_label=f"{args.time}", title=title)
            written = save_figure(fig, plots / "survival-km", group=group)
    if args.json:
        print(f"results written to {args.json}")
    if written:
        print(f"{len(written)} plot files written to {args.plots}")
