"""Recipe ``linear-signature``: a published signature's fixed coefficients on a training cohort.

Nothing is fitted: the coefficient table (or a linear FittedModel) is kept as is; training on a
cohort adds what a published table lacks — a cut-off, training metrics and feature statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from alnpredictor.errors import InputError
from alnpredictor.models.recipes.base import FeatureSelection, Recipe, RecipeFit, RecipeOptions, TrainingData

if TYPE_CHECKING:
    import pandas as pd

NAME = "linear-signature"
DESCRIPTION = "published linear signature (coefficient table)"


@dataclass(frozen=True)
class Options(RecipeOptions):
    """``signature``: a coefficient table (CSV path) or a FittedModel (required)."""

    signature: Any = None

    def validate(self) -> None:
        if self.signature is None:
            raise InputError("the linear-signature recipe needs signature= (a coefficient table)")


def select_features(df: pd.DataFrame, options: Options) -> FeatureSelection:
    """The signature's features."""
    from alnpredictor.models.fitted import FittedModel
    from alnpredictor.models.signature import load_signature

    model = options.signature if isinstance(options.signature, FittedModel) else load_signature(options.signature)
    return FeatureSelection(list(model.features), signature=model)


def fit(data: TrainingData, options: Options) -> RecipeFit:
    """The signature's own predictor, unchanged."""
    sig = data.signature
    source = "coefficient table" if sig.recipe == NAME else sig.recipe
    return RecipeFit(features=list(data.features), x_raw=data.x_raw, design=list(data.features),
                     predictor=dict(sig.spec["predictor"]), details={"source": source},
                     has_intercept=sig.spec.get("has_intercept", True))


RECIPE = Recipe(name=NAME, description=DESCRIPTION, options=Options, fit=fit, select_features=select_features,
                accepts_clinical=False)
