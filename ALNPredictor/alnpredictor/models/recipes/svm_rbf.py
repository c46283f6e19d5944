"""Recipe ``svm-rbf``: z-score + RBF support-vector machine with e1071's defaults, Platt-scaled.

e1071's defaults: ``scale = TRUE`` (centre, divide by the sample SD, n − 1), radial kernel,
``cost = 1``, ``gamma = 1 / ncol(x)``. Bundles trained before the sample-SD scaler keep the
``StandardScaler`` (population SD) they were fitted with.

The features (and encoded clinical values, if any) go straight into the pipeline of
:func:`alnpredictor.models.svm.make_svm_rbf`; the fitted pipeline is saved with skops.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from alnpredictor.errors import InputError
from alnpredictor.models.recipes.base import Recipe, RecipeFit, RecipeOptions, TrainingData, check_number

NAME = "svm-rbf"
DESCRIPTION = ("z-score (sample SD, as e1071 scale=TRUE) + RBF support-vector machine (e1071 defaults C=1, "
               "gamma=1/p), Platt-scaled probabilities (CalibratedClassifierCV sigmoid)")

#: Types inside the fitted pipeline that skops does not trust by default; we create them ourselves.
SKOPS_TRUSTED_TYPES = (
    "alnpredictor.models.svm.SampleZScore",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
)


@dataclass(frozen=True)
class Options(RecipeOptions):
    """``C`` (1), ``gamma`` ('auto' = 1/p, 'scale', or a number > 0), ``calibration_folds`` (5)."""

    C: float = 1.0
    gamma: float | str = "auto"
    calibration_folds: int = 5

    def validate(self) -> None:
        check_number("C", self.C, low=0, low_open=True)
        if isinstance(self.gamma, str):
            if self.gamma not in ("auto", "scale"):
                raise InputError(f"option gamma={self.gamma!r} must be 'auto', 'scale' or a number > 0")
        else:
            check_number("gamma", self.gamma, low=0, low_open=True)
        check_number("calibration_folds", self.calibration_folds, low=2, integer=True)


def fit_svm(data: TrainingData, options: Options, features: list[str], x_raw: Any,
            details: dict[str, Any]) -> RecipeFit:
    """Fit the calibrated RBF SVM on ``features`` (values ``x_raw``) plus the encoded clinical columns."""
    import numpy as np

    from alnpredictor.models.svm import make_svm_rbf

    folds = int(options.calibration_folds)
    smallest = int(np.bincount(np.asarray(data.y, dtype=int), minlength=2).min())
    if smallest < folds:
        raise InputError(f"{NAME} calibrates its probabilities with {folds}-fold cross-validation, which needs at "
                         f"least {folds} cases of each class; the smallest class has {smallest} (n {len(data.y)}): "
                         "train on more cases")
    estimator = make_svm_rbf(C=float(options.C), gamma=options.gamma,
                             calibration_folds=int(options.calibration_folds))
    estimator.fit(np.hstack([x_raw, data.x_clin]), data.y)
    design = list(features) + list(data.clinical_columns)
    return RecipeFit(features=list(features), x_raw=x_raw, design=design, estimator=estimator, details=details,
                     predictor={"kind": "sklearn", "file": "estimator.skops", "n_features": len(design)})


def fit(data: TrainingData, options: Options) -> RecipeFit:
    """The SVM on every candidate feature."""
    return fit_svm(data, options, data.features, data.x_raw, {})


RECIPE = Recipe(name=NAME, description=DESCRIPTION, options=Options, fit=fit,
                skops_trusted_types=SKOPS_TRUSTED_TYPES)
