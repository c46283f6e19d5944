"""Calibration of predicted probabilities: Brier score, logistic calibration slope and
intercepts, Hosmer–Lemeshow test, and calibration curves (risk groups or loess).

Conventions (Steyerberg, *Clinical Prediction Models*; R ``rms::val.prob``), ``lp`` = the model's
log-odds:

* ``calibration_in_the_large``: ``a`` in ``logit P(y=1) = a + lp`` (slope fixed at 1; what
  Steyerberg and ``CalibrationCurves::val.prob.ci.2`` call the "calibration intercept");
* ``val_prob``: the numbers ``rms::val.prob`` prints under R's names — ``Intercept`` and ``Slope``
  (``a`` and ``b`` of ``logit P(y=1) = a + b·lp``, both estimated: the recalibration intercept),
  ``Brier``, and ``Emax`` / ``E90`` / ``Eavg`` (max, 90th percentile and mean of
  ``|p − lowess(p, y)|``, R ``lowess(iter = 0)``); checked against rms 6.5 in
  ``tests/test_r_reference.py``;
* ``slope`` = ``val_prob["Slope"]``; ``intercept`` = ``calibration_in_the_large`` (the name earlier
  reports used) and ``intercept_with_slope`` = ``val_prob["Intercept"]`` are kept for existing readers;
* Hosmer–Lemeshow: ``g`` groups cut at quantiles (type 7) of the predicted risk, tied quantiles
  merged (``unique(quantile())``), chi-square summed over both outcome columns, with
  **groups formed − 2** degrees of freedom (``ResourceSelection::hoslem.test`` since 0.3-6, 2023;
  equals ``g − 2`` unless tied risks merge groups).
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
    """Calibration slope and intercepts (see module notes); ``lp`` defaults to logit(prob).

    :returns: ``calibration_in_the_large`` (slope fixed at 1), ``val_prob_intercept`` /
        ``val_prob_slope`` (rms::val.prob's ``Intercept`` and ``Slope``) and the older names
        ``intercept`` (= calibration-in-the-large), ``intercept_with_slope``, ``slope``; None where
        the fit is impossible (e.g. separation).
    """
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
    out["calibration_in_the_large"] = out["intercept"]
    out["val_prob_intercept"] = out["intercept_with_slope"]
    out["val_prob_slope"] = out["slope"]
    return out


def smoothed_errors(y, prob) -> dict:
    """``Emax``, ``E90``, ``Eavg`` of ``rms::val.prob``: max, 90th percentile (type 7) and mean of
    ``|p − s(p)|``, ``s`` = R ``lowess(p, y, iter = 0)`` (f = 2/3, delta = 1 % of the range)."""
    from statsmodels.nonparametric.smoothers_lowess import lowess

    yb, p = _inputs(y, prob)
    if np.ptp(p) == 0:  # val.prob: a constant prediction against the observed rate
        err = np.full(p.size, abs(p[0] - yb.mean()))
    else:
        smooth = lowess(yb, p, frac=2.0 / 3.0, it=0, delta=0.01 * float(np.ptp(p)), return_sorted=False)
        err = np.abs(p - smooth)
    return {"Emax": float(err.max()), "E90": float(np.quantile(err, 0.9)), "Eavg": float(err.mean())}


def val_prob(y, prob, lp=None) -> dict:
    """The calibration numbers of ``rms::val.prob`` under R's names: ``Intercept``, ``Slope``
    (logistic recalibration, both estimated), ``Brier``, ``Emax``, ``E90``, ``Eavg``."""
    return _val_prob(slope_intercept(y, prob, lp), y, prob)


def _val_prob(si: dict, y, prob) -> dict:
    return {"Intercept": si["val_prob_intercept"], "Slope": si["val_prob_slope"], "Brier": brier_score(y, prob),
            **smoothed_errors(y, prob)}


def _risk_groups(p: np.ndarray, g: int) -> np.ndarray:
    """Group index per case: cut at quantiles of p (R: cut(p, unique(quantile(p)), include.lowest))."""
    breaks = np.unique(np.quantile(p, np.linspace(0.0, 1.0, g + 1)))
    if breaks.size < 2:
        return np.zeros(p.size, dtype=int)
    # right-closed intervals (a, b], the first one closed on the left as well
    idx = np.searchsorted(breaks, p, side="left") - 1
    return np.clip(idx, 0, breaks.size - 2)


def hosmer_lemeshow(y, prob, g: int = 10) -> dict:
    """Hosmer–Lemeshow goodness-of-fit statistic, degrees of freedom and p-value.

    ``df`` = groups formed − 2 (``groups`` < ``g`` when tied risks merge quantile groups), as
    ``ResourceSelection::hoslem.test`` (0.3-6, 2023); ``p_value`` is None when fewer than 3 groups form.
    """
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
    """Everything a calibration section reports: Brier, calibration-in-the-large, val.prob's
    Intercept / Slope / Emax / E90 / Eavg (R names), HL, decile curve (keys: module notes)."""
    si = slope_intercept(y, prob, lp)
    vp = _val_prob(si, y, prob)
    return {
        "brier": vp["Brier"],
        "calibration_in_the_large": si["calibration_in_the_large"],
        "val_prob": vp,
        "slope": si["slope"],
        "intercept": si["intercept"],
        "intercept_with_slope": si["intercept_with_slope"],
        "hosmer_lemeshow": hosmer_lemeshow(y, prob, g=bins),
        "curve": calibration_curve(y, prob, bins=bins),
        "method": "calibration_in_the_large: a of logit(y)=a+lp (slope fixed at 1; 'intercept' is the same "
                  "number); val_prob: rms::val.prob's Intercept and Slope (a, b of logit(y)=a+b*lp, both "
                  "estimated), Brier, Emax/E90/Eavg (lowess); Hosmer-Lemeshow df = groups formed - 2",
    }
