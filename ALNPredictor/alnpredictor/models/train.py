"""``train_model``: fit one of the studies' recipes on a feature table and describe the result.

Recipes: ``svm-rbf``, ``mri-yu2021``, ``lasso-logistic``, ``nomogram``, ``linear-signature``
(see ``fitted.RECIPE_DESCRIPTIONS``). Every recipe ends the same way: cut-off by Youden's index on
the training cohort (unless given), apparent training metrics with DeLong CI, per-feature
training statistics for the sanity checks, and (linear models) a nomogram points scale.
"""

from __future__ import annotations

import datetime as _dt
import logging
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alnpredictor import __version__
from alnpredictor.errors import ClinicalDataError, InputError
from alnpredictor.models import nomogram as nomo
from alnpredictor.models.design import (
    candidate_features,
    clinical_columns,
    display_range,
    encode_clinical,
    infer_clinical_fields,
    numeric_block,
)
from alnpredictor.models.fitted import INTENDED_USE, RESEARCH_USE, SCHEMA, SCHEMA_VERSION, FittedModel
from alnpredictor.models.labels import binary_labels, value_key
from alnpredictor.stats.auc import delong_auc
from alnpredictor.stats.calibration import brier_score, slope_intercept
from alnpredictor.stats.checks import feature_statistics
from alnpredictor.stats.metrics import binary_metrics, youden_cutoff

log = logging.getLogger(__name__)

RECIPES = ("svm-rbf", "mri-yu2021", "lasso-logistic", "nomogram", "linear-signature")

_COMMON_OPTS = {"features", "exclude", "name", "site", "seed", "cutoff", "clinical_types", "icc_keep",
                "intended_use"}
_RECIPE_OPTS = {
    "svm-rbf": {"C", "gamma", "calibration_folds"},
    "mri-yu2021": {"C", "gamma", "calibration_folds", "alpha", "k", "n_trees", "group_separator"},
    "lasso-logistic": {"n_folds", "n_lambda", "lambda_min_ratio", "lambda_rule"},
    "nomogram": {"signature", "signature_column", "signature_name", "n_folds", "n_lambda",
                 "lambda_min_ratio", "lambda_rule", "cross_fit"},
    "linear-signature": {"signature"},
}


def software_versions() -> dict[str, str]:
    """Versions of the libraries that produced a model (recorded in the bundle)."""
    import scipy
    import sklearn
    import skops
    import statsmodels

    return {"alnpredictor": __version__, "python": platform.python_version(), "numpy": np.__version__,
            "scipy": scipy.__version__, "pandas": pd.__version__, "scikit-learn": sklearn.__version__,
            "statsmodels": statsmodels.__version__, "skops": skops.__version__}


def _read_keep_list(keep: Any) -> list[str]:
    """ICC keep-list: a list of names, or a file (one name per line, or a CSV with 'feature')."""
    if isinstance(keep, (str, Path)):
        path = Path(keep)
        if not path.is_file():
            raise InputError(f"ICC keep-list not found: {path}")
        text = path.read_text(encoding="utf-8").splitlines()
        if text and "," in text[0]:
            table = pd.read_csv(path)
            col = next((c for c in table.columns if str(c).lower() in ("feature", "name")), None)
            if col is None:
                raise InputError(f"ICC keep-list {path.name} needs a 'feature' column")
            return table[col].astype(str).str.strip().tolist()
        return [t.strip() for t in text if t.strip() and not t.startswith("#")]
    return [str(k) for k in keep]


def _select_candidates(df: pd.DataFrame, label: str, clinical: Sequence[str], opts: dict) -> tuple[list[str], dict]:
    notes: dict[str, Any] = {}
    explicit = opts.get("features")
    if explicit is not None:
        feats = [str(f) for f in explicit]
        missing = [f for f in feats if f not in df.columns]
        if missing:
            raise InputError(f"feature column(s) not in the training table: {missing[:8]}")
    else:
        feats = candidate_features(df, label, clinical, opts.get("exclude") or ())
        with_missing = [f for f in feats if df[f].isna().any()]
        if with_missing:
            notes["excluded_missing_values"] = with_missing
            feats = [f for f in feats if f not in set(with_missing)]
    if opts.get("icc_keep") is not None:
        keep = set(_read_keep_list(opts["icc_keep"]))
        kept = [f for f in feats if f in keep]
        if not kept:
            raise InputError("the ICC keep-list names none of the table's feature columns; check the names")
        notes["icc_keep"] = {"listed": len(keep), "kept": len(kept), "removed": len(feats) - len(kept)}
        feats = kept
    constant = [f for f in feats if pd.to_numeric(df[f], errors="coerce").nunique(dropna=True) <= 1]
    if constant:
        notes["excluded_constant"] = constant
        feats = [f for f in feats if f not in set(constant)]
    return feats, notes


def _linear_predictors(features: Sequence[str], x_raw: np.ndarray, fields: Sequence[dict],
                       coefs: Sequence[float], design: Sequence[str], table: pd.DataFrame,
                       signature: dict | None, sig_values: np.ndarray | None) -> list[dict]:
    """Points predictors for a linear model (one per feature / signature / clinical field)."""
    coef_of = dict(zip(design, coefs))
    preds = []
    if signature is not None:
        preds.append({"name": signature["name"], "kind": "continuous", "columns": [signature["name"]],
                      "coefficients": [coef_of[signature["name"]]], "range": list(display_range(sig_values))})
    else:
        for j, f in enumerate(features):
            preds.append({"name": f, "kind": "continuous", "columns": [f], "coefficients": [coef_of[f]],
                          "range": list(display_range(x_raw[:, j]))})
    for f in fields:
        if f["type"] == "choice":
            cols = [f"{f['name']}={lev}" for lev in f["values"][1:]]
            preds.append({"name": f["name"], "kind": "categorical", "columns": cols,
                          "coefficients": [coef_of[c] for c in cols], "levels": list(f["values"])})
        else:
            vals = pd.to_numeric(table[f["name"]], errors="coerce").to_numpy(float)
            rng = [f["min"], f["max"]] if "values" in f else list(display_range(vals))
            preds.append({"name": f["name"], "kind": "continuous", "columns": [f["name"]],
                          "coefficients": [coef_of[f["name"]]], "range": [float(r) for r in rng],
                          "integer": f["type"] == "integer", "values": f.get("values")})
    return preds


def _resolve_signature(sig: Any) -> FittedModel:
    from alnpredictor.models.bundle import load_bundle
    from alnpredictor.models.signature import load_signature

    if isinstance(sig, FittedModel):
        model = sig
    elif isinstance(sig, (str, Path)):
        path = Path(sig)
        model = load_bundle(path) if path.is_dir() else load_signature(path)
    else:
        raise InputError("signature must be a FittedModel, a .alnmodel bundle or a coefficient table (CSV)")
    if model.recipe == "nomogram" or model.clinical_fields or model.spec.get("signature"):
        raise InputError(
            f"a nomogram's signature must be an imaging signature without clinical variables (lasso-logistic, "
            f"svm-rbf, mri-yu2021 or a coefficient table); {model.name!r} is a {model.recipe} model"
            + (" with clinical fields" if model.clinical_fields else ""))
    return model


def _cross_fitted_signature(table: pd.DataFrame, label: str, positive: Any, features: Sequence[str], seed: int,
                            lasso_opts: dict[str, Any], n_splits: int = 5) -> np.ndarray:
    """Out-of-fold LASSO signature scores (log-odds) of every training case.

    Each fold's signature is trained on the other folds (inner CV folds capped by the class sizes
    there), then scores the held-out cases; the full-data signature is what predictions use.
    """
    from sklearn.model_selection import StratifiedKFold

    y = binary_labels(table, label, positive)
    n_splits = int(min(n_splits, np.bincount(y.astype(int), minlength=2).min()))
    if n_splits < 2:
        raise InputError("cross-fitting the signature needs at least 2 cases of each class")
    out = np.empty(len(table))
    folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    for train_idx, test_idx in folds.split(np.zeros(len(y)), y):
        part = table.iloc[train_idx]
        smallest = int(np.bincount(y[train_idx].astype(int), minlength=2).min())
        opts = dict(lasso_opts)
        opts["n_folds"] = max(2, min(int(opts.get("n_folds", 10)), smallest))
        try:
            fold_model = train_model(part, label, "lasso-logistic", positive=positive, features=list(features),
                                     seed=seed, name="cross-fit fold", **opts)
            out[test_idx] = fold_model.decision_function(table.iloc[test_idx])
        except InputError:  # the fold's LASSO kept nothing: its signature is the fold's base rate
            rate = float(np.clip(y[train_idx].mean(), 1e-3, 1 - 1e-3))
            out[test_idx] = np.log(rate / (1 - rate))
    return out


def train_model(df: pd.DataFrame, label: str, recipe: str, clinical: Sequence[str] | None = None,
                positive: Any = 1, **opts: Any) -> FittedModel:
    """Train ``recipe`` on ``df`` (one row per case) to predict ``label == positive``.

    Common options: ``features`` (default: numeric columns other than label, clinical and ids),
    ``exclude``, ``icc_keep`` (names or file: restrict features to those passing ICC), ``name``,
    ``site``, ``seed`` (0), ``cutoff`` (fixed instead of Youden), ``clinical_types``
    ({column: 'number'|'integer'|'choice'}), ``intended_use``.
    Recipe options: svm-rbf ``C`` (1), ``gamma`` ('auto' = 1/p), ``calibration_folds`` (5);
    mri-yu2021 also ``alpha`` (0.05), ``k`` (30), ``n_trees`` (500), ``group_separator`` ('_');
    lasso-logistic ``n_folds`` (10), ``n_lambda`` (100), ``lambda_min_ratio``, ``lambda_rule``
    ('min'); nomogram ``signature`` (FittedModel, bundle or coefficient CSV) or
    ``signature_column`` (a precomputed score) — without either, a LASSO signature is trained on
    the feature columns first (pass ``features=[]`` for a clinical-only model) and, with ``cross_fit``
    (True), its coefficient is fitted on out-of-fold signature scores; ``signature_name``;
    linear-signature ``signature`` (coefficient CSV or FittedModel, fixed coefficients).
    """
    if recipe not in RECIPES:
        raise InputError(f"unknown recipe {recipe!r}; choose one of {', '.join(RECIPES)}")
    unknown = set(opts) - _COMMON_OPTS - _RECIPE_OPTS[recipe]
    if unknown:
        raise InputError(f"option(s) {sorted(unknown)} do not apply to recipe {recipe!r}; allowed: "
                         f"{sorted(_COMMON_OPTS | _RECIPE_OPTS[recipe])}")
    if not isinstance(df, pd.DataFrame) or df.empty:
        raise InputError("the training table is empty")
    clinical = [str(c) for c in (clinical or [])]
    if recipe in ("lasso-logistic", "linear-signature") and clinical:
        raise InputError(f"{recipe} builds an imaging signature without clinical variables; add clinical "
                         "variables with the nomogram recipe")
    seed = int(opts.get("seed", 0))
    missing_clin = [c for c in clinical if c not in df.columns]
    if missing_clin:
        raise ClinicalDataError(f"clinical column(s) {missing_clin} not in the training table")
    details: dict[str, Any] = {}
    signature: dict | None = None

    # --- which columns the model reads -------------------------------------------------------
    sig_model: FittedModel | None = None
    sig_column = opts.get("signature_column")
    if recipe == "nomogram" and opts.get("signature") is not None:
        sig_model = _resolve_signature(opts["signature"])
        features, notes = list(sig_model.features), {}
    elif recipe == "nomogram" and sig_column:
        if sig_column not in df.columns:
            raise InputError(f"signature column {sig_column!r} not in the training table")
        features, notes = [sig_column], {}
    elif recipe == "linear-signature":
        if opts.get("signature") is None:
            raise InputError("the linear-signature recipe needs signature= (a coefficient table)")
        sig_model = opts["signature"] if isinstance(opts["signature"], FittedModel) else None
        if sig_model is None:
            from alnpredictor.models.signature import load_signature

            sig_model = load_signature(opts["signature"])
        features, notes = list(sig_model.features), {}
    else:
        features, notes = _select_candidates(df, label, clinical, opts)
    details.update(notes)
    if recipe not in ("nomogram",) and not features:
        raise InputError("no feature columns to train on (numeric columns other than label, clinical, ids)")
    missing_cols = [c for c in features if c not in df.columns]
    if missing_cols:
        raise InputError(f"the training table lacks feature column(s) {missing_cols[:8]}")

    # --- complete cases ----------------------------------------------------------------------
    used_cols = features + clinical
    complete = ~df[used_cols].isna().any(axis=1) if used_cols else pd.Series(True, index=df.index)
    n_excluded = int((~complete).sum())
    table = df.loc[complete].reset_index(drop=True)
    if table.empty:
        raise InputError("no training case has every feature and clinical value; check the table for blanks")
    y = binary_labels(table, label, positive)
    fields = infer_clinical_fields(table, clinical, opts.get("clinical_types"))  # ranges of the cases used
    x_raw = numeric_block(table, features)
    x_clin = encode_clinical(table, fields)
    clin_cols = clinical_columns(fields)

    estimator = None
    sig_estimator = None
    predictor: dict[str, Any]
    if recipe in ("svm-rbf", "mri-yu2021"):
        from alnpredictor.models.svm import make_svm_rbf, select_yu2021

        if recipe == "mri-yu2021":
            sel = select_yu2021(x_raw, y, features, alpha=float(opts.get("alpha", 0.05)), k=int(opts.get("k", 30)),
                                n_trees=int(opts.get("n_trees", 500)), seed=seed,
                                sep=str(opts.get("group_separator", "_")))
            details["selection"] = {k: v for k, v in sel.items() if k != "selected"}
            idx = [features.index(f) for f in sel["selected"]]
            features, x_raw = sel["selected"], x_raw[:, idx]
        estimator = make_svm_rbf(C=float(opts.get("C", 1.0)), gamma=opts.get("gamma", "auto"),
                                 calibration_folds=int(opts.get("calibration_folds", 5)))
        estimator.fit(np.hstack([x_raw, x_clin]), y)
        design = features + clin_cols
        predictor = {"kind": "sklearn", "file": "estimator.skops", "n_features": len(design)}
    elif recipe == "lasso-logistic":
        from alnpredictor.models.lasso import cv_lasso

        res = cv_lasso(x_raw, y, n_folds=int(opts.get("n_folds", 10)), n_lambda=int(opts.get("n_lambda", 100)),
                       min_ratio=opts.get("lambda_min_ratio"), seed=seed, rule=opts.get("lambda_rule", "min"))
        nz = np.flatnonzero(res["coefficients"])
        if nz.size == 0:
            raise InputError("LASSO kept no feature at the chosen lambda: the features carry no detectable signal "
                             "for this label in this cohort")
        details["lasso"] = {k: res[k] for k in ("lambda", "lambda_rule", "lambda_min", "lambda_1se",
                                                "not_converged_fits")}
        details["lasso"].update({"n_candidates": len(features), "n_selected": int(nz.size)})
        details["cv"] = res["cv"]
        features = [features[j] for j in nz]
        x_raw = x_raw[:, nz]
        design = list(features)
        predictor = {"kind": "linear", "intercept": res["intercept"],
                     "coefficients": res["coefficients"][nz].tolist(), "covariance": None}
        details["table"] = [{"predictor": f, "coefficient": float(c),
                             "coefficient_standardised": float(cs)}
                            for f, c, cs in zip(features, res["coefficients"][nz],
                                                res["coefficients_standardised"][nz])]
    elif recipe == "linear-signature":
        design = list(features)
        predictor = dict(sig_model.spec["predictor"])
        details["source"] = "coefficient table" if sig_model.recipe == "linear-signature" else sig_model.recipe
    else:  # nomogram
        sig_name = opts.get("signature_name")
        sig_values = None
        cross_fit_values = None
        if sig_model is None and not sig_column and features:
            log.info("nomogram: training a LASSO signature on %d feature columns first", len(features))
            lasso_opts = {k: opts[k] for k in ("n_folds", "n_lambda", "lambda_min_ratio", "lambda_rule") if k in opts}
            candidates = list(features)
            sig_model = train_model(table, label, "lasso-logistic", positive=positive, features=features,
                                    seed=seed, name=f"{opts.get('name', 'nomogram')} signature", **lasso_opts)
            details["signature_training"] = sig_model.spec["details"]
            features = list(sig_model.features)
            x_raw = numeric_block(table, features)
            if opts.get("cross_fit", True):
                cross_fit_values = _cross_fitted_signature(table, label, positive, candidates, seed, lasso_opts)
                details["signature_values"] = ("out-of-fold (5-fold cross-fitting): the signature's coefficient "
                                               "in the nomogram is estimated on scores of cases it was not "
                                               "trained on, so in-sample overfitting of a p >> n signature "
                                               "cannot inflate it (or separate the classes)")
        if sig_model is not None:
            sig_name = sig_name or "signature"
            sp = sig_model.spec["predictor"]
            signature = {"name": sig_name, "source": sig_model.recipe, "model_name": sig_model.name,
                         "features": list(sig_model.features), "score": "log-odds"}
            if sig_model.is_linear:
                signature.update({"kind": "linear", "coefficients": list(sp["coefficients"]),
                                  "intercept": float(sp["intercept"])})
            else:
                signature.update({"kind": "sklearn", "file": "signature.skops"})
                sig_estimator = sig_model.estimator
            sig_values = sig_model.decision_function(table) if cross_fit_values is None else cross_fit_values
            x_design = np.hstack([sig_values[:, None], x_clin])
            design = [sig_name] + clin_cols
        elif sig_column:
            design = list(features) + clin_cols
            x_design = np.hstack([x_raw, x_clin])
        else:
            design = clin_cols
            x_design = x_clin
        if not design:
            raise InputError("a nomogram needs a signature and/or clinical variables (--clinical)")
        if len(set(design)) != len(design):
            raise InputError(f"predictor names collide: {design}; rename the signature (signature_name)")
        fit = nomo.fit_logistic(x_design, y, design)
        predictor = {"kind": "linear", "intercept": fit["intercept"], "coefficients": fit["coefficients"],
                     "covariance": fit["covariance"]}
        details["table"] = fit["table"]
        details["logistic"] = {k: fit[k] for k in ("log_likelihood", "aic", "pseudo_r2", "method", "level")}

    # --- cut-off, metrics, statistics --------------------------------------------------------
    spec: dict[str, Any] = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "name": str(opts.get("name") or recipe),
        "recipe": recipe,
        "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "intended_use": str(opts.get("intended_use") or INTENDED_USE),
        "research_use": RESEARCH_USE,
        "label": {"column": label, "positive": positive if isinstance(positive, (int, float, str)) else
                  value_key(positive)},
        "inputs": {"features": list(features), "clinical": fields},
        "signature": signature,
        "design": design,
        "predictor": predictor,
        "has_intercept": sig_model.spec.get("has_intercept", True) if recipe == "linear-signature" else True,
        "cutoff": None,
        "training": None,
        "metrics": None,
        "feature_stats": {},
        "points": None,
        "details": details,
        "software": software_versions(),
    }
    model = FittedModel(spec, estimator, sig_estimator)
    prob = model.predict_proba(table)
    lp = model.decision_function(table)
    if opts.get("cutoff") is not None:
        cut = {"value": float(opts["cutoff"]), "method": "given", "source": "user"}
    else:
        yc = youden_cutoff(y, prob)
        cut = {"value": yc["cutoff"], "method": yc["method"], "source": "training cohort",
               "sensitivity": yc["sensitivity"], "specificity": yc["specificity"]}
    spec["cutoff"] = cut
    auc = delong_auc(y, lp)
    spec["metrics"] = {
        "kind": "apparent (training cohort)",
        "auc": auc.auc, "auc_ci": [auc.ci_low, auc.ci_high], "auc_method": "DeLong",
        "brier": brier_score(y, prob),
        "calibration": slope_intercept(y, prob, lp),
        "at_cutoff": {k: v for k, v in binary_metrics(y, prob, cut["value"]).items()},
    }
    spec["training"] = {
        "n": int(y.size), "n_positive": int(y.sum()), "prevalence": float(y.mean()),
        "n_excluded_missing": n_excluded, "site": opts.get("site"),
        "label_column": label, "positive_value": spec["label"]["positive"],
        "n_candidate_features": int(details.get("lasso", {}).get("n_candidates", len(features)))
        if recipe == "lasso-logistic" else None,
    }
    numeric_clin = [f["name"] for f in fields if f["type"] != "choice"]
    spec["feature_stats"] = feature_statistics(table, y, list(features) + numeric_clin)
    for f in fields:
        if f["type"] == "choice":
            keys = table[f["name"]].map(value_key)
            spec["feature_stats"][f["name"]] = {
                "levels": {lev: {"n": int((keys == lev).sum()),
                                 "positive_rate": float(y[(keys == lev).to_numpy()].mean())
                                 if (keys == lev).any() else None}
                           for lev in f["values"]}}
    if model.is_linear:
        sig_scores = model.design_matrix(table)[:, 0] if signature else None
        preds = _linear_predictors(features, x_raw, fields, predictor["coefficients"], design, table, signature,
                                   sig_scores)
        spec["points"] = nomo.build_points(preds, float(predictor["intercept"]))
    return FittedModel(spec, estimator, sig_estimator)
