"""Models: signature recipes (svm-rbf, mri-yu2021, lasso-logistic, nomogram, published linear
signatures), Youden cut-off, and safe model bundles (skops, no pickle).

Public API (what the Slicer Logic, the CLI and the report call)::

    train_model(df, label, recipe, clinical=None, positive=1, **opts) -> FittedModel
    save_bundle(model, path) -> Path
    load_bundle(path) -> FittedModel
    load_signature(csv_path) -> FittedModel
    validate(model_or_signature, df, label, positive=1, cutoff=None) -> dict
    compare_models(model_a, model_b, df, label, positive=1) -> dict
    FittedModel.predict_proba(df) / .predict_case(row) / .card
"""

from alnpredictor.models.bundle import load_bundle, read_bundle_spec, save_bundle
from alnpredictor.models.fitted import FittedModel
from alnpredictor.models.signature import load_signature
from alnpredictor.models.train import RECIPES, train_model
from alnpredictor.models.validation import compare_models, resolve_model, validate

__all__ = [
    "RECIPES",
    "FittedModel",
    "compare_models",
    "load_bundle",
    "load_signature",
    "read_bundle_spec",
    "resolve_model",
    "save_bundle",
    "train_model",
    "validate",
]
