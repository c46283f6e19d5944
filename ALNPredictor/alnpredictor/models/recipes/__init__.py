"""The recipe registry: the one place that knows which model recipes exist.

Each recipe is one module here declaring ``NAME``, ``DESCRIPTION``, an ``Options`` dataclass (its
options with defaults and ``validate``), ``fit`` and, if its estimators need them, the skops types
to trust; the module's ``RECIPE`` object is registered below. Everything else reads
:data:`RECIPES`: ``train_model`` (option names, clinical and feature rules), the model card's
description, ``alnpredictor train --recipe`` choices and help, and bundle loading (the trusted
skops types are the union over the registry).

Registered recipes: ``svm-rbf``, ``mri-yu2021``, ``lasso-logistic``, ``nomogram``,
``linear-signature``. To add one, see ``docs/architecture.md`` ("A model recipe").

This package imports nothing heavy at import time (the recipes import numpy/scikit-learn inside
``fit``), so listing recipes is cheap.
"""

from __future__ import annotations

from alnpredictor.errors import InputError
from alnpredictor.models.recipes import lasso_logistic, linear_signature, mri_yu2021, nomogram, svm_rbf
from alnpredictor.models.recipes.base import FeatureSelection, Recipe, RecipeFit, RecipeOptions, TrainingData

#: Registered recipes by name, in the order they are offered to users.
RECIPES: dict[str, Recipe] = {}


def register(recipe: Recipe, *, replace: bool = False) -> Recipe:
    """Add ``recipe`` to the registry (``replace=True`` to swap a recipe of the same name); returns it."""
    if not isinstance(recipe, Recipe):
        raise TypeError(f"register() takes a Recipe, not {type(recipe).__name__}")
    if recipe.name in RECIPES and not replace:
        raise ValueError(f"a recipe named {recipe.name!r} is already registered")
    RECIPES[recipe.name] = recipe
    return recipe


def unregister(name: str) -> Recipe:
    """Remove the recipe ``name`` from the registry; returns it."""
    return RECIPES.pop(get_recipe(name).name)


def get_recipe(name: str) -> Recipe:
    """The registered recipe ``name``; an :class:`InputError` naming the known recipes otherwise."""
    try:
        return RECIPES[name]
    except (KeyError, TypeError):
        raise InputError(f"unknown recipe {name!r}; choose one of {', '.join(RECIPES)}") from None


def recipe_names() -> tuple[str, ...]:
    """Names of the registered recipes, in registry order."""
    return tuple(RECIPES)


def recipe_description(name: str) -> str:
    """One-line description of ``name`` (the name itself for a recipe that is not registered)."""
    recipe = RECIPES.get(name)
    return recipe.description if recipe is not None else str(name)


def trusted_skops_types() -> frozenset[str]:
    """Every type a registered recipe declares in ``skops_trusted_types`` (for bundle loading)."""
    return frozenset(t for recipe in RECIPES.values() for t in recipe.skops_trusted_types)


for _module in (svm_rbf, mri_yu2021, lasso_logistic, nomogram, linear_signature):
    register(_module.RECIPE)
del _module

__all__ = [
    "RECIPES",
    "FeatureSelection",
    "Recipe",
    "RecipeFit",
    "RecipeOptions",
    "TrainingData",
    "get_recipe",
    "recipe_description",
    "recipe_names",
    "register",
    "trusted_skops_types",
    "unregister",
]
