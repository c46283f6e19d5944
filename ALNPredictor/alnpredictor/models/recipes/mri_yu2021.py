"""Recipe ``mri-yu2021`` (Yu et al., EBioMedicine 2021): the MRI study's selection, then ``svm-rbf``.

z-score → Welch t-test p < ``alpha`` → random forest per ROI×sequence group (feature-name prefix
before ``group_separator``), top ``k`` by mean decrease in impurity → RBF SVM (see
:func:`alnpredictor.models.svm.select_yu2021`). With clinical columns this is the study's
multiomic signature.
"""

from __future__ import annotations

from dataclasses import dataclass

from alnpredictor.errors import InputError
from alnpredictor.models.recipes import svm_rbf
from alnpredictor.models.recipes.base import Recipe, RecipeFit, TrainingData, check_number

NAME = "mri-yu2021"
DESCRIPTION = ("z-score → Welch t-test p<0.05 → random-forest top-k per ROI×sequence group → RBF SVM "
               "(Yu et al., EBioMedicine 2021)")


@dataclass(frozen=True)
class Options(svm_rbf.Options):
    """The ``svm-rbf`` options plus ``alpha`` (0.05), ``k`` (30), ``n_trees`` (500), ``group_separator`` ('_')."""

    alpha: float = 0.05
    k: int = 30
    n_trees: int = 500
    group_separator: str = "_"

    def validate(self) -> None:
        super().validate()
        check_number("alpha", self.alpha, low=0, high=1, low_open=True)
        check_number("k", self.k, low=1, integer=True)
        check_number("n_trees", self.n_trees, low=1, integer=True)
        if not str(self.group_separator):
            raise InputError("option group_separator must not be empty")


def fit(data: TrainingData, options: Options) -> RecipeFit:
    """Select features the study's way, then fit the calibrated RBF SVM on them."""
    from alnpredictor.models.svm import select_yu2021

    sel = select_yu2021(data.x_raw, data.y, data.features, alpha=float(options.alpha), k=int(options.k),
                        n_trees=int(options.n_trees), seed=data.seed, sep=str(options.group_separator))
    details = {"selection": {k: v for k, v in sel.items() if k != "selected"}}
    idx = [data.features.index(f) for f in sel["selected"]]
    return svm_rbf.fit_svm(data, options, sel["selected"], data.x_raw[:, idx], details)


RECIPE = Recipe(name=NAME, description=DESCRIPTION, options=Options, fit=fit,
                skops_trusted_types=svm_rbf.SKOPS_TRUSTED_TYPES)
