"""Recipe ``lasso-logistic``: cross-validated L1 logistic regression, glmnet-like (a linear signature).

Features are standardised inside the fit, lambda is chosen by K-fold CV (lambda.min or
lambda.1se) and the kept coefficients are reported on the original feature scale (see
:func:`alnpredictor.models.lasso.cv_lasso`). Imaging only: clinical variables join a signature in
the ``nomogram`` recipe.
"""

from __future__ import annotations

from dataclasses import dataclass

from alnpredictor.errors import InputError
from alnpredictor.models.recipes.base import (
    Recipe,
    RecipeFit,
    RecipeOptions,
    TrainingData,
    check_number,
)

NAME = "lasso-logistic"
DESCRIPTION = ("standardised L1 logistic regression, 10-fold CV, lambda.min (glmnet-like); "
               "linear signature on the original feature scale")


@dataclass(frozen=True)
class Options(RecipeOptions):
    """``n_folds`` (10), ``n_lambda`` (100), ``lambda_min_ratio`` (None: glmnet's), ``lambda_rule`` ('min')."""

    n_folds: int = 10
    n_lambda: int = 100
    lambda_min_ratio: float | None = None
    lambda_rule: str = "min"

    def validate(self) -> None:
        check_number("n_folds", self.n_folds, low=2, integer=True)
        check_number("n_lambda", self.n_lambda, low=1, integer=True)
        if self.lambda_min_ratio is not None:
            check_number("lambda_min_ratio", self.lambda_min_ratio, low=0, high=1, low_open=True)
        if self.lambda_rule not in ("min", "1se"):
            raise InputError(f"lambda rule {self.lambda_rule!r} unknown; use 'min' or '1se'")

    def lasso_options(self) -> dict:
        """These options as ``train_model`` keywords (a nomogram passes them to its signature)."""
        return {"n_folds": self.n_folds, "n_lambda": self.n_lambda, "lambda_min_ratio": self.lambda_min_ratio,
                "lambda_rule": self.lambda_rule}


def fit(data: TrainingData, options: Options) -> RecipeFit:
    """CV LASSO on the candidates; the signature keeps the features with a non-zero coefficient."""
    import numpy as np

    from alnpredictor.models.lasso import cv_lasso

    res = cv_lasso(data.x_raw, data.y, n_folds=int(options.n_folds), n_lambda=int(options.n_lambda),
                   min_ratio=options.lambda_min_ratio, seed=data.seed, rule=options.lambda_rule)
    nz = np.flatnonzero(res["coefficients"])
    if nz.size == 0:
        raise InputError("LASSO kept no feature at the chosen lambda: the features carry no detectable signal "
                         "for this label in this cohort")
    details = {"lasso": {k: res[k] for k in ("lambda", "lambda_rule", "lambda_min", "lambda_1se",
                                             "not_converged_fits")}}
    details["lasso"].update({"n_candidates": len(data.features), "n_selected": int(nz.size)})
    details["cv"] = res["cv"]
    features = [data.features[j] for j in nz]
    details["table"] = [{"predictor": f, "coefficient": float(c), "coefficient_standardised": float(cs)}
                        for f, c, cs in zip(features, res["coefficients"][nz], res["coefficients_standardised"][nz])]
    return RecipeFit(features=features, x_raw=data.x_raw[:, nz], design=list(features), details=details,
                     predictor={"kind": "linear", "intercept": res["intercept"],
                                "coefficients": res["coefficients"][nz].tolist(), "covariance": None},
                     n_candidate_features=len(data.features))


RECIPE = Recipe(name=NAME, description=DESCRIPTION, options=Options, fit=fit, accepts_clinical=False)
