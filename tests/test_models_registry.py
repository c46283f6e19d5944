"""The recipe registry is the one place that lists recipes: train_model, the CLI, the model card and
bundle loading (trusted skops types) all read it, so registering a recipe is all it takes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin

from alnpredictor.cli import build_parser
from alnpredictor.errors import InputError, ModelBundleError
from alnpredictor.models import load_bundle, save_bundle, train_model
from alnpredictor.models.recipes import (
    RECIPES,
    Recipe,
    RecipeFit,
    RecipeOptions,
    TrainingData,
    get_recipe,
    recipe_names,
    register,
    trusted_skops_types,
    unregister,
)
from alnpredictor.models.recipes.base import check_number


def cohort(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    df = pd.DataFrame({"id": np.arange(n)})
    for j in range(4):
        df[f"TT1C_f{j}"] = rng.normal(0, 1, n) + (0.9 if j == 0 else 0.0) * y
    df["age"] = rng.integers(30, 80, n) - 4 * y
    df["ALN"] = y
    return df


def _recipe_choices() -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    train = sub.choices["train"]
    return list(next(a for a in train._actions if a.dest == "recipe").choices)


def test_the_registry_lists_the_studies_recipes_and_the_cli_reads_it():
    assert recipe_names() == ("svm-rbf", "mri-yu2021", "lasso-logistic", "nomogram", "linear-signature")
    assert _recipe_choices() == list(RECIPES)
    for name, recipe in RECIPES.items():
        assert recipe.name == name and recipe.description
        assert set(recipe.options.defaults()) == recipe.options.names()  # every option has a default
    assert {"sklearn.calibration._CalibratedClassifier",
            "sklearn.calibration._SigmoidCalibration"} <= trusted_skops_types()
    with pytest.raises(InputError, match="unknown recipe 'forest'; choose one of svm-rbf, mri-yu2021"):
        get_recipe("forest")


def test_recipe_options_are_validated_with_the_option_named():
    df = cohort(80, 1)
    with pytest.raises(InputError, match="option C=0"):
        train_model(df, "ALN", "svm-rbf", C=0)
    with pytest.raises(InputError, match="option k=2.5 must be an integer"):
        train_model(df, "ALN", "mri-yu2021", k=2.5)
    with pytest.raises(InputError, match="lambda rule 'max' unknown"):
        train_model(df, "ALN", "nomogram", lambda_rule="max")
    with pytest.raises(InputError, match="do not apply to recipe 'lasso-logistic'"):
        train_model(df, "ALN", "lasso-logistic", k=3)
    assert get_recipe("nomogram").options.defaults()["n_folds"] == get_recipe("lasso-logistic").options().n_folds


class _MeanDifference(ClassifierMixin, BaseEstimator):
    """A toy classifier of a type skops does not trust unless a registered recipe declares it."""

    def __init__(self, shrink: float = 1.0):
        self.shrink = shrink

    def fit(self, x, y):
        x, y = np.asarray(x, float), np.asarray(y)
        self.mean_ = x.mean(axis=0)
        self.scale_ = x.std(axis=0) + 1e-9
        self.weights_ = self.shrink * ((x[y == 1].mean(axis=0) - x[y == 0].mean(axis=0)) / self.scale_)
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = x.shape[1]
        return self

    def predict_proba(self, x):
        p = expit(((np.asarray(x, float) - self.mean_) / self.scale_) @ self.weights_)
        return np.column_stack([1 - p, p])


TOY_TYPE = f"{_MeanDifference.__module__}.{_MeanDifference.__qualname__}"


@dataclass(frozen=True)
class _ToyOptions(RecipeOptions):
    shrink: float = 1.0

    def validate(self) -> None:
        check_number("shrink", self.shrink, low=0, high=1, low_open=True)


def _toy_fit(data: TrainingData, options: _ToyOptions) -> RecipeFit:
    design = list(data.features) + list(data.clinical_columns)
    est = _MeanDifference(shrink=float(options.shrink)).fit(np.hstack([data.x_raw, data.x_clin]), data.y)
    return RecipeFit(features=list(data.features), x_raw=data.x_raw, design=design, estimator=est,
                     predictor={"kind": "sklearn", "file": "estimator.skops", "n_features": len(design)},
                     details={"toy": {"shrink": options.shrink}})


TOY = Recipe(name="toy-mean-difference", description="standardised mean difference (test recipe)",
             options=_ToyOptions, fit=_toy_fit, skops_trusted_types=(TOY_TYPE,))


@pytest.fixture()
def toy_recipe():
    register(TOY)
    try:
        yield TOY
    finally:
        if TOY.name in RECIPES:
            unregister(TOY.name)


def test_registering_a_recipe_is_all_it_takes(toy_recipe, tmp_path):
    train, test = cohort(120, 2), cohort(50, 3)
    assert _recipe_choices()[-1] == toy_recipe.name  # the CLI offers it
    assert TOY_TYPE in trusted_skops_types()
    with pytest.raises(InputError, match="option shrink=2"):
        train_model(train, "ALN", toy_recipe.name, shrink=2)
    model = train_model(train, "ALN", toy_recipe.name, clinical=["age"], shrink=0.5, name="toy")
    assert model.recipe == toy_recipe.name and model.card["description"] == toy_recipe.description
    assert model.spec["details"]["toy"] == {"shrink": 0.5} and model.spec["cutoff"]["source"] == "training cohort"
    assert model.spec["training"]["n"] == 120 and model.features == [f"TT1C_f{j}" for j in range(4)]
    path = save_bundle(model, tmp_path / "toy")
    loaded = load_bundle(path)
    assert np.array_equal(loaded.predict_proba(test), model.predict_proba(test))
    assert loaded.predict_case(test.iloc[0].to_dict()).probability == model.predict_proba(test)[0]

    unregister(toy_recipe.name)  # what the registry does not declare is not trusted, nor trainable
    assert toy_recipe.name not in _recipe_choices() and TOY_TYPE not in trusted_skops_types()
    with pytest.raises(ModelBundleError, match="not trusted"):
        load_bundle(path)
    with pytest.raises(InputError, match="unknown recipe"):
        train_model(train, "ALN", toy_recipe.name)


def test_register_refuses_duplicates_and_non_recipes():
    with pytest.raises(ValueError, match="already registered"):
        register(RECIPES["svm-rbf"])
    with pytest.raises(TypeError):
        register("svm-rbf")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="unknown recipe"):
        unregister("no-such-recipe")
