"""Multivariable logistic regression (statsmodels) and nomogram points (R ``rms`` convention).

Points follow ``rms::nomogram`` (rms 6.5): each predictor's linear effect is placed on a 0–100
scale where 100 points equal the largest effect range among the predictors. The range of a
predictor is its axis: a categorical predictor's levels; a numeric predictor with at most 10
distinct training values (``datadist``'s ``n.unique``) its values; any other numeric predictor
``pretty(range(x), 10)`` of its full training range (``value.chk(type.range = "full")``), so a patient
inside the training range never gets more than 100 points for one predictor. A patient's total
points map back to the linear predictor and hence to the probability:
``lp = offset + total · scale / 100``. :func:`pretty` is R's ``pretty()`` (base R 4.2, ``R_pretty``).

The ``nomogram`` recipe (:mod:`alnpredictor.models.recipes.nomogram`) fits with
:func:`fit_logistic`; ``train_model`` builds the points scale of every linear model with
:func:`build_points`.
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import statsmodels.api as sm
import statsmodels.tools.sm_exceptions as smx
from scipy.special import expit, logit

from alnpredictor.errors import InputError

#: rms::nomogram's ``nint``: intervals ``pretty`` aims for on a continuous axis.
NINT = 10
#: rms::datadist's ``n.unique``: a numeric predictor with at most this many values is drawn at its values.
N_UNIQUE = 10


def pretty(lo: float, hi: float, n: int = 5, min_n: int | None = None, shrink_sml: float = 0.75,
           high_u_bias: float = 1.5, u5_bias: float | None = None, f_min: float = 2.0 ** -20) -> np.ndarray:
    """R's ``pretty(c(lo, hi), n)`` (base R 4.2: ``pretty.default`` → C ``R_pretty`` with bounds,
    then ``seq.int(l, u, length.out = ndiv + 1)`` with near-zero values zapped): about ``n + 1``
    equally spaced round values (steps 1, 2 or 5 × 10^k) covering ``[lo, hi]``."""
    lo, hi = float(min(lo, hi)), float(max(lo, hi))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise InputError(f"pretty() needs a finite range; got [{lo}, {hi}]")
    min_n = n // 3 if min_n is None else int(min_n)
    h = high_u_bias
    h5 = 0.5 + 1.5 * h if u5_bias is None else u5_bias
    eps = sys.float_info.epsilon
    rounding_eps = 1e-10
    dx = hi - lo
    if dx == 0 and hi == 0:
        cell, i_small = 1.0, True
    else:
        cell = max(abs(lo), abs(hi))
        u_bound = (1 + (1 / (1 + h) if h5 >= 1.5 * h + 0.5 else 1.5 / (1 + h5))) * max(1, n) * eps
        i_small = dx < cell * u_bound * 3
    if i_small:
        if cell > 10:
            cell = 9 + cell / 10
        cell *= shrink_sml
        if min_n > 1:
            cell /= min_n
    else:
        cell = dx / n if n > 1 else dx
    subsmall = f_min * sys.float_info.min or sys.float_info.min
    cell = min(max(cell, subsmall), sys.float_info.max / 1.25)
    base = 10.0 ** math.floor(math.log10(cell))
    unit = base
    if 2 * base - cell < h * (cell - unit):
        unit = 2 * base
        if 5 * base - cell < h5 * (cell - unit):
            unit = 5 * base
            if 10 * base - cell < h * (cell - unit):
                unit = 10 * base
    ns = math.floor(lo / unit + rounding_eps)
    nu = math.ceil(hi / unit - rounding_eps)
    while ns * unit > lo + rounding_eps * unit:
        ns -= 1
    while nu * unit < hi - rounding_eps * unit:
        nu += 1
    k = int(0.5 + nu - ns)
    if k < min_n:
        k = min_n - k
        if ns >= 0:
            nu += k // 2
            ns -= k // 2 + k % 2
        else:
            ns -= k // 2
            nu += k // 2 + k % 2
        ndiv = min_n
    else:
        ndiv = k
    # bounds = TRUE: the ends are the round values, unless rounding left the data end outside them
    first = ns * unit if ns * unit < lo else lo
    last = nu * unit if nu * unit > hi else hi
    if ndiv == 0:
        return np.asarray([first])
    # seq.int(l, u, length.out = m): ends exact, the first half stepped from l, the second from u
    m = ndiv + 1
    step = (last - first) / ndiv
    i = np.arange(m)
    out = np.where(i < m // 2, first + i * step, last - (m - 1 - i) * step)
    out[0], out[-1] = first, last
    out[np.abs(out) < 1e-14 * (last / ndiv - first / ndiv)] = 0.0
    return out


def axis_values(values, nint: int = NINT, n_unique: int = N_UNIQUE) -> np.ndarray:
    """The values a nomogram axis of ``values`` (training data of one numeric predictor) spans, as
    rms draws it: the distinct values when there are at most ``n_unique`` of them, else
    ``pretty(range(values), nint)``."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise InputError("a nomogram axis needs at least one finite training value")
    distinct = np.unique(v)
    if distinct.size <= n_unique:
        return distinct
    return pretty(float(v.min()), float(v.max()), nint)


def axis_range(values, nint: int = NINT, n_unique: int = N_UNIQUE) -> tuple[float, float]:
    """First and last value of :func:`axis_values`: the range that sets the predictor's points."""
    ax = axis_values(values, nint, n_unique)
    return float(ax[0]), float(ax[-1])


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
    (categorical: first level is the reference, one column per other level). ``range`` is the
    predictor's axis (:func:`axis_range` of its training values, as ``rms::nomogram`` draws it).
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
        "convention": "rms::nomogram: 100 points = largest effect range; numeric axes pretty(range(x), 10) of the "
                      "training range (at most 10 distinct values: those values), categorical axes all levels",
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

