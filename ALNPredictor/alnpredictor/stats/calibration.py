"""Calibration of predicted probabilities: Brier score, logistic calibration slope and
intercept, Hosmer–Lemeshow test, and calibration curves (risk groups or loess).

Conventions (Steyerberg, *Clinical Prediction Models*; R ``rms::val.prob``):

* slope ``b`` from ``logit P(y=1) = a + b·lp`` (``lp`` = the model's log-odds);
* intercept = calibration-in-the-large: ``a`` in ``logit P(y=1) = a + lp`` (slope fixed at 1);
* Hosmer–Lemeshow: ``g`` groups cut at quantiles of the predicted risk (R
  ``ResourceSelection::hoslem.test``), chi-square with ``g − 2`` degrees of freedom.
"""

from __future__ import annotations

import warnings

import numpy as np
import statsmodels.api as sm
from scipy.special import logit
from scipy.stats import chi2
from sklearn.metrics import brier_score_loss

from alnpredictor.errors import InputError
from alnpredictor.stats.metrics import clopper_pearson

_EPS = 1e-12


def _inputs(y, prob) -> tuple[np.ndarray, np.ndarray]:
    yb = np.asarray(y).astype(float)
    p = np.asarray(prob, dtype=float)
    if yb.shape != p.shape or yb.ndim != 1:
        raise InputError(f"labels {yb.shape} and probabilities {p.shape} must be 1-D of equal length")
    if np.any((p < 0) | (p > 1)) or not np.all(np.isfinite(p)):
        raise InputError("probabilities must lie in [0, 1] and be finite")
    return yb, p


def brier_score(y, prob) -> float:
    """Mean squared difference between outcome (0/1) and predicted probability."""
    yb, p = _inputs(y, prob)
    return float(brier_score_loss(yb, p))


def slope_intercept(y, prob, lp=None) -> dict:
    """Calibration slope and intercept (see module notes); ``lp`` defaults to logit(prob)."""
    yb, p = _inputs(y, prob)
    x = logit(np.clip(p, _EPS, 1 - _EPS)) if lp is None else np.asarray(lp, dtype=float)
    out = {"slope": None, "intercept": None, "intercept_with_slope": None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # perfect separation etc. are reported as None below
        try:
            fit = sm.GLM(yb, sm.add_constant(x, has_constant="add"), family=sm.families.Binomial()).fit()
            out["intercept_with_slope"], out["slope"] = (float(v) for v in fit.params)
            citl = sm.GLM(yb, np.ones_like(x), family=sm.families.Binomial(), offset=x).fit()
            out["intercept"] = float(citl.params[0])
        except Exception:  # noqa: BLE001 - statsmodels raises several types on degenerate data
            pass
    for key, value in list(out.items()):
        if value is not None and not np.isfinite(value):
            out[key] = None
    return out


def _risk_groups(p: np.ndarray, g: int) -> np.ndarray:
    """Group index per case: cut at quantiles of p (R: cut(p, unique(quantile(p)), include.lowest))."""
    breaks = np.unique(np.quantile(p, np.linspace(0.0, 1.0, g + 1)))
    if breaks.size < 2:
        return np.zeros(p.size, dtype=int)
    # right-closed intervals (a, b], the first one closed on the left as well
    idx = np.searchsorted(breaks, p, side="left") - 1
    return np.clip(idx, 0, breaks.size - 2)


def hosmer_lemeshow(y, prob, g: int = 10) -> dict:
    """Hosmer–Lemeshow goodness-of-fit statistic, degrees of freedom and p-value."""
    yb, p = _inputs(y, prob)
    grp = _risk_groups(p, g)
    stat = 0.0
    groups = np.unique(grp)
    for k in groups:
        sel = grp == k
        n_k = sel.sum()
        obs1, exp1 = yb[sel].sum(), p[sel].sum()
        obs0, exp0 = n_k - obs1, n_k - exp1
        # sum over both outcome columns, as hoslem.test does
        stat += (obs1 - exp1) ** 2 / max(exp1, _EPS) + (obs0 - exp0) ** 2 / max(exp0, _EPS)
    dof = int(groups.size - 2)
    p_value = float(chi2.sf(stat, dof)) if dof > 0 else None
    return {"statistic": float(stat), "df": dof, "p_value": p_value, "groups": int(groups.size)}


def calibration_curve(y, prob, bins: int = 10, method: str = "deciles", level: float = 0.95) -> dict:
    """Observed vs predicted risk.

    ``deciles``: per risk group, mean predicted and observed proportion with its exact CI.
    ``loess``: lowess smooth of the outcome on the predicted risk (R ``lowess``, f = 2/3, no
    robustness iterations, as ``val.prob`` draws it), evaluated at the sorted predictions.
    """
    yb, p = _inputs(y, prob)
    if method == "deciles":
        grp = _risk_groups(p, bins)
        points = []
        for k in np.unique(grp):
            sel = grp == k
            n_k, k_pos = int(sel.sum()), int(yb[sel].sum())
            points.append({
                "n": n_k,
                "predicted": float(p[sel].mean()),
                "observed": k_pos / n_k,
                "ci": list(clopper_pearson(k_pos, n_k, level)),
            })
        return {"method": f"risk groups (quantiles, {bins})", "points": points}
    if method == "loess":
        from statsmodels.nonparametric.smoothers_lowess import lowess

        fit = lowess(yb, p, frac=2.0 / 3.0, it=0, return_sorted=True)
        return {"method": "loess (f=2/3)", "predicted": fit[:, 0].tolist(),
                "observed": np.clip(fit[:, 1], 0, 1).tolist()}
    raise InputError(f"unknown calibration curve method {method!r}; use 'deciles' or 'loess'")


def calibration(y, prob, lp=None, bins: int = 10) -> dict:
    """Everything a calibration section reports: Brier, slope, intercept, HL, decile curve."""
    si = slope_intercept(y, prob, lp)
    return {
        "brier": brier_score(y, prob),
        "slope": si["slope"],
        "intercept": si["intercept"],
        "intercept_with_slope": si["intercept_with_slope"],
        "hosmer_lemeshow": hosmer_lemeshow(y, prob, g=bins),
        "curve": calibration_curve(y, prob, bins=bins),
        "method": "logistic recalibration: slope b of logit(y)=a+b*lp; intercept = calibration-in-the-large "
                  "(a with b fixed at 1)",
    }
