"""Multivariable logistic regression (statsmodels) and nomogram points (R ``rms`` convention).

Points: each predictor's linear effect is placed on a 0–100 scale where 100 points equal the
largest effect range among the predictors (range of a continuous predictor = its display range,
quantiles q … 1−q with q = 10/max(n, 200); categorical = all levels). A patient's total points map
back to the linear predictor and hence to the probability: ``lp = offset + total · scale / 100``.

The ``nomogram`` recipe (:mod:`alnpredictor.models.recipes.nomogram`) fits with
:func:`fit_logistic`; ``train_model`` builds the points scale of every linear model with
:func:`build_points`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import statsmodels.api as sm
import statsmodels.tools.sm_exceptions as smx
from scipy.special import expit, logit

from alnpredictor.errors import InputError


def fit_logistic(x: np.ndarray, y: np.ndarray, names: Sequence[str], level: float = 0.95) -> dict:
    """Unpenalised logistic regression; per predictor: coefficient, SE, OR with CI, p (Table 3)."""
    design = sm.add_constant(np.asarray(x, dtype=float), has_constant="add")
    with warnings.catch_warnings():
        warnings.simplefilter("error", smx.PerfectSeparationWarning)
        warnings.simplefilter("ignore", smx.ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            res = sm.Logit(np.asarray(y, dtype=float), design).fit(disp=0, maxiter=200)
        except (smx.PerfectSeparationWarning, smx.PerfectSeparationError, np.linalg.LinAlgError) as exc:
            raise InputError(
                f"the logistic model cannot be fitted ({exc}); a predictor separates the classes perfectly "
                "or predictors are collinear — drop or merge them") from exc
    if not res.mle_retvals.get("converged", True):
        raise InputError("the logistic model did not converge; check for (quasi-)separation or collinearity")
    ci = res.conf_int(alpha=1.0 - level)
    rows = []
    for j, name in enumerate(["(Intercept)", *names]):
        rows.append({
            "predictor": name,
            "coefficient": float(res.params[j]),
            "se": float(res.bse[j]),
            "z": float(res.tvalues[j]),
            "p_value": float(res.pvalues[j]),
            "odds_ratio": float(np.exp(res.params[j])),
            "or_ci": [float(np.exp(ci[j, 0])), float(np.exp(ci[j, 1]))],
        })
    return {
        "intercept": float(res.params[0]),
        "coefficients": [float(v) for v in res.params[1:]],
        "covariance": np.asarray(res.cov_params()).tolist(),
        "table": rows,
        "level": level,
        "log_likelihood": float(res.llf),
        "aic": float(res.aic),
        "pseudo_r2": float(res.prsquared),
        "method": "statsmodels Logit (maximum likelihood), Wald CIs",
    }


def build_points(predictors: Sequence[Mapping], intercept: float) -> dict:
    """Points scale from predictors described as

    ``{"name", "kind": "continuous", "columns": [col], "coefficients": [b], "range": [lo, hi]}`` or
    ``{"name", "kind": "categorical", "columns": [...], "coefficients": [...], "levels": [...]}``
    (categorical: first level is the reference, one column per other level).
    """
    out = []
    for p in predictors:
        b = np.asarray(p["coefficients"], dtype=float)
        if p["kind"] == "continuous":
            lo, hi = p["range"]
            effects = [b[0] * lo, b[0] * hi]
        else:
            effects = [0.0, *b.tolist()]
        out.append({**p, "effect_min": float(min(effects)), "effect_max": float(max(effects))})
    widest = max((q["effect_max"] - q["effect_min"] for q in out), default=0.0)
    if widest <= 0:
        raise InputError("every predictor has zero effect; a nomogram cannot be drawn")
    return {
        "predictors": out,
        "scale": float(widest),  # linear-predictor units per 100 points
        "offset": float(intercept + sum(q["effect_min"] for q in out)),  # lp at 0 total points
        "convention": "rms: 100 points = largest effect range; ranges q..1-q, q = 10/max(n,200)",
    }


def predictor_effect(pred: Mapping, design_row: Mapping[str, float]) -> float:
    """Linear effect of one predictor for one case (design values by column name)."""
    return float(sum(b * design_row[c] for c, b in zip(pred["columns"], pred["coefficients"])))


def points_for(points: Mapping, design_row: Mapping[str, float]) -> dict[str, float]:
    """Points per predictor for one case."""
    out = {}
    for pred in points["predictors"]:
        eff = predictor_effect(pred, design_row)
        out[pred["name"]] = 100.0 * (eff - pred["effect_min"]) / points["scale"]
    return out


def total_points_to_probability(points: Mapping, total) -> np.ndarray:
    """Probability for total points (array-like)."""
    return expit(points["offset"] + np.asarray(total, dtype=float) * points["scale"] / 100.0)


def probability_to_total_points(points: Mapping, prob) -> np.ndarray:
    """Total points giving probability ``prob`` (for the probability axis of the chart)."""
    return (logit(np.asarray(prob, dtype=float)) - points["offset"]) * 100.0 / points["scale"]

