"""LASSO logistic regression the way R's glmnet does it (cv.glmnet, family = "binomial").

* features standardised (population SD) inside each fit, coefficients reported on the original
  scale;
* lambda sequence: 100 values, log-spaced from lambda_max (smallest lambda with all coefficients
  zero) down to lambda_max × (0.01 if n < p else 1e-4);
* K-fold cross-validation (stratified here, so small cohorts keep both classes in every fold)
  with the binomial deviance; lambda.min = the largest lambda reaching the minimum mean deviance,
  lambda.1se the largest within one standard error of it.

One deliberate difference from ``cv.glmnet`` (glmnet 4.1): every fold is fitted *at the full-data
lambdas* (where a fold's path stops early, later lambdas keep its last fit, as glmnet does).
``cv.glmnet`` fits each fold on that fold's own lambda sequence (from the fold's lambda_max) and
predicts at the full-data lambdas by linear interpolation between the fold's neighbouring lambdas
(``buildPredmat``, ``predict(s = lambda)``). Ours is the exact fold deviance at each lambda; the
interpolated curve is slightly different, so on the same folds about 1 run in 10 picks a
neighbouring lambda.min (and its coefficients) — expect that, not a bug, when comparing with R.

glmnet's objective is ``−loglik/n + λ‖β‖₁``; scikit-learn's L1 logistic regression minimises
``C·Σ logloss + ‖β‖₁``, so ``C = 1 / (λ n)``.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from alnpredictor.errors import InputError

#: Scale of liblinear's synthetic intercept feature (see ``_path``).
INTERCEPT_SCALING = 1e4
#: glmnet.control defaults that end a lambda path early (devmax, fdev).
DEVIANCE_RATIO_MAX = 0.999
FDEV = 1e-5


def standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Columns z-scored with the population SD (as glmnet); returns (z, mean, sd), sd 1 for constant columns."""
    mean = x.mean(axis=0)
    sd = x.std(axis=0)  # population SD, as glmnet
    sd[sd == 0] = 1.0
    return (x - mean) / sd, mean, sd


def lambda_max(x: np.ndarray, y: np.ndarray) -> float:
    """Smallest lambda at which every (standardised) coefficient is zero."""
    z, _, _ = standardise(x)
    return float(np.max(np.abs(z.T @ (y - y.mean()))) / y.size)


def lambda_sequence(x: np.ndarray, y: np.ndarray, n_lambda: int = 100,
                    min_ratio: float | None = None) -> np.ndarray:
    """glmnet's default decreasing lambda sequence."""
    n, p = x.shape
    ratio = min_ratio if min_ratio is not None else (0.01 if n < p else 1e-4)
    lmax = lambda_max(x, y)
    return lmax * np.exp(np.linspace(0.0, np.log(ratio), n_lambda))


def _path(z: np.ndarray, y: np.ndarray, lambdas: np.ndarray, tol: float, max_iter: int,
          early_stop: bool = False):
    """Fit the L1 path on standardised ``z``, one fit per lambda.

    liblinear (coordinate descent, glmnet's algorithm family) is fast; it penalises its
    intercept term, so the intercept column is scaled by ``INTERCEPT_SCALING`` which makes that
    penalty negligible (coefficients match an unpenalised-intercept solver to ~1e-5).
    With ``early_stop`` the path ends as glmnet's does (glmnet.control defaults): once the
    deviance explained exceeds 0.999 or grows by less than 1e-5 (relative), after 5 lambdas.
    """
    n = y.size
    p0 = np.clip(y.mean(), 1e-12, 1 - 1e-12)
    null_dev = -2.0 * np.sum(y * np.log(p0) + (1 - y) * np.log(1 - p0))
    coefs, intercepts, not_converged = [], [], 0
    prev_ratio = 0.0
    for k, lam in enumerate(lambdas):
        model = LogisticRegression(l1_ratio=1.0, solver="liblinear", C=1.0 / (lam * n), tol=tol,
                                   max_iter=max_iter, intercept_scaling=INTERCEPT_SCALING,
                                   random_state=0)  # liblinear shuffles coordinates: fix it
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            model.fit(z, y)
        not_converged += any(issubclass(w.category, ConvergenceWarning) for w in caught)
        coefs.append(model.coef_[0].copy())
        intercepts.append(float(model.intercept_[0]))
        if early_stop and null_dev > 0:
            eta = z @ coefs[-1] + intercepts[-1]
            ratio = 1.0 - n * float(_deviance(y, eta[:, None])[0]) / null_dev
            if k >= 4 and (ratio > DEVIANCE_RATIO_MAX or ratio - prev_ratio < FDEV * ratio):
                break
            prev_ratio = ratio
    return np.asarray(coefs), np.asarray(intercepts), not_converged


def fit_l1_logistic(x: np.ndarray, y: np.ndarray, lam: float, tol: float = 1e-7,
                    max_iter: int = 10000) -> tuple[np.ndarray, float]:
    """L1 logistic fit at one glmnet ``lam`` on standardised ``x``; original-scale (coef, intercept)."""
    z, mean, sd = standardise(x)
    coefs, intercepts, _ = _path(z, y, np.asarray([lam]), tol, max_iter)
    beta = coefs[0] / sd
    return beta, float(intercepts[0] - np.sum(beta * mean))


def _deviance(y: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """Mean binomial deviance per column of linear predictors ``eta``."""
    p = np.clip(1.0 / (1.0 + np.exp(-eta)), 1e-5, 1 - 1e-5)  # glmnet clips the same way
    return -2.0 * np.mean(y[:, None] * np.log(p) + (1 - y[:, None]) * np.log(1 - p), axis=0)


def cv_lasso(x: np.ndarray, y: np.ndarray, n_folds: int = 10, n_lambda: int = 100,
             min_ratio: float | None = None, seed: int = 0, rule: str = "min",
             tol: float = 1e-7, max_iter: int = 10000) -> dict:
    """Cross-validated LASSO logistic path; coefficients at lambda.min (or lambda.1se).

    Returns the coefficients and intercept on the original feature scale, the chosen lambda,
    lambda.min / lambda.1se and the CV curve.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if rule not in ("min", "1se"):
        raise InputError(f"lambda rule {rule!r} unknown; use 'min' or '1se'")
    n_min = int(min(y.sum(), (1 - y).sum()))
    if n_min < n_folds:
        raise InputError(
            f"{n_folds}-fold cross-validation needs at least {n_folds} cases of each class (smallest class: "
            f"{n_min}); lower n_folds")
    lambdas = lambda_sequence(x, y, n_lambda, min_ratio)
    # full-data path first: it fixes where the sequence ends (glmnet's early stop)
    z, mean, sd = standardise(x)
    full_coefs, full_b0, not_converged = _path(z, y, lambdas, tol, max_iter, early_stop=True)
    lambdas = lambdas[: len(full_coefs)]
    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    dev = np.zeros((n_folds, lambdas.size))
    weights = np.zeros(n_folds)
    for k, (tr, te) in enumerate(folds.split(x, y)):
        z_tr, mean_tr, sd_tr = standardise(x[tr])
        coefs, b0, nc = _path(z_tr, y[tr], lambdas, tol, max_iter, early_stop=True)
        not_converged += nc
        if len(coefs) < lambdas.size:  # fold path ended early: later lambdas keep its last fit (glmnet)
            pad = lambdas.size - len(coefs)
            coefs = np.vstack([coefs, np.repeat(coefs[-1:], pad, axis=0)])
            b0 = np.concatenate([b0, np.repeat(b0[-1:], pad)])
        eta = ((x[te] - mean_tr) / sd_tr) @ coefs.T + b0[None, :]
        dev[k] = _deviance(y[te], eta)
        weights[k] = te.size
    cvm = np.average(dev, axis=0, weights=weights)
    cvsd = np.sqrt(np.average((dev - cvm) ** 2, axis=0, weights=weights) / (n_folds - 1))
    i_min = int(np.flatnonzero(cvm <= cvm.min())[0])  # lambdas decrease: first = largest
    lambda_min = float(lambdas[i_min])
    i_1se = int(np.flatnonzero(cvm <= cvm[i_min] + cvsd[i_min])[0])
    lambda_1se = float(lambdas[i_1se])
    chosen = lambda_min if rule == "min" else lambda_1se
    i_chosen = i_min if rule == "min" else i_1se
    beta_std = full_coefs[i_chosen]
    beta = beta_std / sd
    intercept = float(full_b0[i_chosen] - np.sum(beta * mean))
    return {
        "coefficients": beta,
        "coefficients_standardised": beta_std,
        "intercept": intercept,
        "lambda": chosen,
        "lambda_rule": rule,
        "lambda_min": lambda_min,
        "lambda_1se": lambda_1se,
        "cv": {"lambda": lambdas.tolist(), "deviance": cvm.tolist(), "deviance_se": cvsd.tolist(),
               "n_folds": n_folds, "measure": "binomial deviance"},
        "not_converged_fits": int(not_converged),
    }
