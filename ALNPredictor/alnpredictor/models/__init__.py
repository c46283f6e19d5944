"""Models: recipes, the Prediction result, Youden cut-off, and safe model bundles (skops, no pickle).

Layout::

    recipes/      the recipe registry (RECIPES, get_recipe) and one module per recipe:
                  svm_rbf, mri_yu2021, lasso_logistic, nomogram, linear_signature
    train.py      train_model: the steps every recipe shares (checks, features, complete cases,
                  labels, cut-off, metrics, statistics, points, model card) around recipe.fit
    fitted.py     FittedModel: predict_proba / predict_case / card for any recipe
    prediction.py Prediction: one patient's result (to_dict / from_dict)
    bundle.py     save_bundle / load_bundle (hashes, schema, trusted skops types from the registry)
    signature.py  published coefficient tables; validation.py validate / compare_models
    svm.py, lasso.py, nomogram.py, design.py, labels.py, clinical.py: the numerical building blocks

Public API (what the Slicer Logic, the CLI and the report call)::

    train_model(df, label, recipe, clinical=None, positive=1, **opts) -> FittedModel
    save_bundle(model, path) -> Path
    load_bundle(path) -> FittedModel
    load_signature(csv_path) -> FittedModel
    validate(model_or_signature, df, label, positive=1, cutoff=None) -> dict
    compare_models(model_a, model_b, df, label, positive=1) -> dict
    FittedModel.predict_proba(df) / .predict_case(row) -> Prediction / .card
    RECIPES, get_recipe(name) -> Recipe

Names are imported on first use, so ``import alnpredictor.models.recipes`` (the command line
listing recipes) does not load pandas, scikit-learn or statsmodels.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "RECIPES": "alnpredictor.models.recipes",
    "get_recipe": "alnpredictor.models.recipes",
    "Prediction": "alnpredictor.models.prediction",
    "FittedModel": "alnpredictor.models.fitted",
    "compare_models": "alnpredictor.models.validation",
    "load_bundle": "alnpredictor.models.bundle",
    "load_signature": "alnpredictor.models.signature",
    "read_bundle_spec": "alnpredictor.models.bundle",
    "resolve_model": "alnpredictor.models.validation",
    "save_bundle": "alnpredictor.models.bundle",
    "train_model": "alnpredictor.models.train",
    "validate": "alnpredictor.models.validation",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
