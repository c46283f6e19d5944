"""What a recipe is: its options, the data it is fitted on, and what its fit returns.

``train_model`` does the steps every recipe shares (option and input checks, feature columns,
complete cases, labels, clinical encoding, then cut-off, metrics, statistics, points, model
card); a :class:`Recipe` supplies only what differs: a description, its options, optionally
which feature columns it reads, and ``fit``.

This module imports nothing heavy (no numpy/pandas/scikit-learn at import time), so the
command line can list the registered recipes without loading the model stack.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from alnpredictor.errors import InputError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from alnpredictor.models.fitted import FittedModel


@dataclass(frozen=True)
class RecipeOptions:
    """Base of a recipe's options: a frozen dataclass, one field (with its default) per option.

    Subclasses add fields and extend :meth:`validate`; ``train_model`` refuses option names that
    are neither a field here nor a common training option.
    """

    @classmethod
    def names(cls) -> frozenset[str]:
        """The option names (the dataclass fields)."""
        return frozenset(f.name for f in dataclasses.fields(cls))

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Default value of every option that has one."""
        return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}

    def validate(self) -> None:
        """Raise :class:`InputError` naming the option when a value cannot work (no options here)."""


@dataclass(frozen=True)
class FeatureSelection:
    """The feature columns a recipe reads when it does not use the standard candidates.

    :ivar features: feature columns, in order.
    :ivar notes: what the selection did (goes into the model's ``details``).
    :ivar signature: a model whose score the recipe uses (nomogram, linear-signature), or None.
    """

    features: list[str]
    notes: dict[str, Any] = field(default_factory=dict)
    signature: FittedModel | None = None


@dataclass(frozen=True)
class TrainingData:
    """The complete training cases, ready for ``fit``.

    :ivar table: complete cases (every feature and clinical value present), index 0..n-1.
    :ivar y: 0/1 outcome (1 = ``label == positive``).
    :ivar features: feature columns (standard candidates or the recipe's own selection).
    :ivar x_raw: their values, one row per case.
    :ivar fields: clinical field descriptions (name, type, values or range).
    :ivar x_clin: encoded clinical values (one column per number, one per non-reference level).
    :ivar clinical_columns: names of the ``x_clin`` columns.
    :ivar signature: the model from :class:`FeatureSelection`, if any.
    :ivar name: the model name the caller asked for (None when not given).
    """

    table: pd.DataFrame
    y: np.ndarray
    label: str
    positive: Any
    features: list[str]
    x_raw: np.ndarray
    fields: list[dict]
    x_clin: np.ndarray
    clinical_columns: list[str]
    seed: int = 0
    signature: FittedModel | None = None
    name: str | None = None


@dataclass(frozen=True)
class RecipeFit:
    """What a recipe's ``fit`` hands back to ``train_model``.

    :ivar features: feature columns the fitted model reads (after the recipe's own selection).
    :ivar x_raw: their training values (display ranges of the nomogram points scale).
    :ivar design: model-matrix column names (signature or features, then encoded clinical).
    :ivar predictor: ``{"kind": "linear", "intercept", "coefficients", "covariance"}`` or
        ``{"kind": "sklearn", "file": "estimator.skops", "n_features"}``.
    :ivar details: recipe-specific training details for the model card.
    :ivar estimator: fitted scikit-learn estimator (``predictor.kind == "sklearn"``).
    :ivar signature: description of a signature used as the first predictor (nomogram), or None.
    :ivar signature_estimator: fitted estimator of a non-linear signature, or None.
    :ivar has_intercept: False for a published signature without an intercept.
    :ivar n_candidate_features: candidates the recipe selected from (training summary), or None.
    """

    features: list[str]
    x_raw: np.ndarray
    design: list[str]
    predictor: dict[str, Any]
    details: dict[str, Any] = field(default_factory=dict)
    estimator: Any = None
    signature: dict[str, Any] | None = None
    signature_estimator: Any = None
    has_intercept: bool = True
    n_candidate_features: int | None = None


#: ``fit(data, options) -> RecipeFit``
FitFunction = Callable[[TrainingData, Any], RecipeFit]
#: ``select_features(df, options) -> FeatureSelection | None`` (None: the standard candidates)
SelectFunction = Callable[["pd.DataFrame", Any], "FeatureSelection | None"]


@dataclass(frozen=True)
class Recipe:
    """One model recipe, as registered in :data:`alnpredictor.models.recipes.RECIPES`.

    :ivar name: the name users type (``--recipe``) and bundles record.
    :ivar description: one line for the model card and ``--help``.
    :ivar options: the options dataclass (subclass of :class:`RecipeOptions`).
    :ivar fit: fits the model on :class:`TrainingData` with validated options.
    :ivar select_features: which feature columns the recipe reads, when not the standard
        candidates (numeric columns other than label, clinical and ids); None = standard.
    :ivar accepts_clinical: False for imaging-only signatures (clinical variables are refused).
    :ivar needs_features: False when a model may have no feature column (clinical-only nomogram).
    :ivar skops_trusted_types: types in its saved estimators that skops does not trust by
        default; bundle loading trusts exactly the union of these over the registry.
    """

    name: str
    description: str
    options: type[RecipeOptions]
    fit: FitFunction
    select_features: SelectFunction | None = None
    accepts_clinical: bool = True
    needs_features: bool = True
    skops_trusted_types: tuple[str, ...] = ()

    def make_options(self, values: Mapping[str, Any]) -> RecipeOptions:
        """The validated options from ``values`` (names must be option names of this recipe)."""
        unknown = set(values) - self.options.names()
        if unknown:
            raise InputError(f"option(s) {sorted(unknown)} do not apply to recipe {self.name!r}; allowed: "
                             f"{sorted(self.options.names())}")
        options = self.options(**values)
        options.validate()
        return options


# --- small validators shared by the recipes' ``validate`` ------------------------------------------

def check_number(name: str, value: Any, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, integer: bool = False) -> None:
    """Refuse ``value`` unless it is a number (an integer with ``integer``) within the bounds."""
    kind = "an integer" if integer else "a number"
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"option {name}={value!r} must be {kind}") from None
    if isinstance(value, bool) or number != number or (integer and number != int(number)):
        raise InputError(f"option {name}={value!r} must be {kind}")
    if low is not None and (number <= low if low_open else number < low):
        raise InputError(f"option {name}={value!r} must be {'>' if low_open else '≥'} {low:g}")
    if high is not None and number > high:
        raise InputError(f"option {name}={value!r} must be ≤ {high:g}")


def check_cutoff(value: Any) -> float:
    """``value`` as a probability cut-off: a number with 0 < cut-off < 1 (0 or 1 would put every case in
    one class, NaN none); raises :class:`InputError` otherwise."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, bool) or not 0.0 < number < 1.0:
        raise InputError(f"cut-off {value!r} is not a probability between 0 and 1 (exclusive); give e.g. 0.5")
    return number
