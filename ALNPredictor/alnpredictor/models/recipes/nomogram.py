"""Recipe ``nomogram``: multivariable logistic regression of a signature and clinical predictors.

The signature predictor is, in this order of precedence: ``signature`` (a FittedModel, a
``.alnmodel`` bundle or a coefficient CSV; an imaging model without clinical variables),
``signature_column`` (a precomputed score in the table), or — with neither — a ``lasso-logistic``
signature trained here on the feature columns (``features=[]`` gives a clinical-only model). With
``cross_fit`` (default) that signature's coefficient in the nomogram is fitted on out-of-fold
scores. The fit is statsmodels' unpenalised Logit; ``train_model`` adds the rms-style points.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alnpredictor.errors import InputError
from alnpredictor.models.recipes import lasso_logistic
from alnpredictor.models.recipes.base import FeatureSelection, Recipe, RecipeFit, TrainingData

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from alnpredictor.models.fitted import FittedModel

log = logging.getLogger(__name__)

NAME = "nomogram"
DESCRIPTION = ("multivariable logistic regression of signature and clinical predictors (statsmodels) "
               "with rms-style points")


@dataclass(frozen=True)
class Options(lasso_logistic.Options):
    """``signature`` or ``signature_column`` (else a LASSO signature with the ``lasso-logistic``
    options here), ``signature_name`` ('signature'), ``cross_fit`` (True)."""

    signature: Any = None
    signature_column: str | None = None
    signature_name: str | None = None
    cross_fit: bool = True

    def validate(self) -> None:
        super().validate()
        if self.signature_name is not None and not str(self.signature_name).strip():
            raise InputError("option signature_name must not be empty")


def resolve_signature(sig: Any) -> FittedModel:
    """The signature model from a FittedModel, a bundle folder or a coefficient table; refuses a
    nomogram or a model with clinical variables."""
    from alnpredictor.models.bundle import load_bundle
    from alnpredictor.models.fitted import FittedModel
    from alnpredictor.models.recipes import RECIPES
    from alnpredictor.models.signature import load_signature

    if isinstance(sig, FittedModel):
        model = sig
    elif isinstance(sig, (str, Path)):
        path = Path(sig)
        model = load_bundle(path) if path.is_dir() else load_signature(path)
    else:
        raise InputError("signature must be a FittedModel, a .alnmodel bundle or a coefficient table (CSV)")
    if model.recipe == NAME or model.clinical_fields or model.spec.get("signature"):
        usable = [name for name in RECIPES if name != NAME]
        raise InputError(
            f"a nomogram's signature must be an imaging signature without clinical variables (a model of recipe "
            f"{', '.join(usable[:-1])} or {usable[-1]}, or a coefficient table); {model.name!r} is a "
            f"{model.recipe} model"
            + (" with clinical fields" if model.clinical_fields else ""))
    return model


def select_features(df: pd.DataFrame, options: Options) -> FeatureSelection | None:
    """The given signature's features, or the signature column; None: the standard candidates."""
    if options.signature is not None:
        model = resolve_signature(options.signature)
        return FeatureSelection(list(model.features), signature=model)
    if options.signature_column:
        if options.signature_column not in df.columns:
            raise InputError(f"signature column {options.signature_column!r} not in the training table")
        return FeatureSelection([options.signature_column])
    return None


def cross_fitted_signature(table: pd.DataFrame, label: str, positive: Any, features: list[str], seed: int,
                           lasso_opts: dict[str, Any], n_splits: int = 5) -> np.ndarray:
    """Out-of-fold LASSO signature scores (log-odds) of every training case.

    Each fold's signature is trained on the other folds (inner CV folds capped by the class sizes
    there), then scores the held-out cases; the full-data signature is what predictions use.
    """
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    from alnpredictor.models.labels import binary_labels
    from alnpredictor.models.train import train_model

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
            fold_model = train_model(part, label, lasso_logistic.NAME, positive=positive, features=list(features),
                                     seed=seed, name="cross-fit fold", **opts)
            out[test_idx] = fold_model.decision_function(table.iloc[test_idx])
        except InputError:  # the fold's LASSO kept nothing: its signature is the fold's base rate
            rate = float(np.clip(y[train_idx].mean(), 1e-3, 1 - 1e-3))
            out[test_idx] = np.log(rate / (1 - rate))
    return out


def fit(data: TrainingData, options: Options) -> RecipeFit:
    """Logistic regression of [signature score | signature column] + encoded clinical values."""
    import numpy as np

    from alnpredictor.models import nomogram as nomo
    from alnpredictor.models.design import numeric_block
    from alnpredictor.models.train import train_model

    features, x_raw, sig_model = list(data.features), data.x_raw, data.signature
    details: dict[str, Any] = {}
    signature: dict[str, Any] | None = None
    sig_estimator = None
    sig_name = options.signature_name
    cross_fit_values = None
    if sig_model is None and not options.signature_column and features:
        log.info("nomogram: training a LASSO signature on %d feature columns first", len(features))
        lasso_opts = options.lasso_options()
        candidates = list(features)
        sig_model = train_model(data.table, data.label, lasso_logistic.NAME, positive=data.positive,
                                features=features, seed=data.seed,
                                name=f"{NAME if data.name is None else data.name} signature", **lasso_opts)
        details["signature_training"] = sig_model.spec["details"]
        features = list(sig_model.features)
        x_raw = numeric_block(data.table, features)
        if options.cross_fit:
            cross_fit_values = cross_fitted_signature(data.table, data.label, data.positive, candidates, data.seed,
                                                      lasso_opts)
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
        sig_values = sig_model.decision_function(data.table) if cross_fit_values is None else cross_fit_values
        x_design = np.hstack([sig_values[:, None], data.x_clin])
        design = [sig_name] + list(data.clinical_columns)
    elif options.signature_column:
        design = list(features) + list(data.clinical_columns)
        x_design = np.hstack([x_raw, data.x_clin])
    else:
        design = list(data.clinical_columns)
        x_design = data.x_clin
    if not design:
        raise InputError("a nomogram needs a signature and/or clinical variables (--clinical)")
    if len(set(design)) != len(design):
        raise InputError(f"predictor names collide: {design}; rename the signature (signature_name)")
    res = nomo.fit_logistic(x_design, data.y, design)
    details["table"] = res["table"]
    details["logistic"] = {k: res[k] for k in ("log_likelihood", "aic", "pseudo_r2", "method", "level")}
    return RecipeFit(features=features, x_raw=x_raw, design=design, details=details, signature=signature,
                     signature_estimator=sig_estimator,
                     predictor={"kind": "linear", "intercept": res["intercept"],
                                "coefficients": res["coefficients"], "covariance": res["covariance"]})


RECIPE = Recipe(name=NAME, description=DESCRIPTION, options=Options, fit=fit, select_features=select_features,
                needs_features=False)
