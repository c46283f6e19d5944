"""RBF support-vector classifier as R's e1071 fits it, and the MRI study's feature selection.

``svm-rbf``: z-score → ``SVC(kernel='rbf', C=1, gamma=1/n_features)`` (e1071's defaults) with
Platt-scaled probabilities. The z-score is e1071's ``scale = TRUE`` (R's ``scale()``): centre by the
mean, divide by the *sample* SD (n − 1) — :class:`SampleZScore`; scikit-learn's ``StandardScaler``
divides by the population SD, which moves decision values by up to 0.01 and can swap ranks. The
decision values agree with ``e1071::svm`` to 1e-6 (``tests/test_r_reference.py``); positive =
metastasis, as e1071 reports them for the ``"1/0"`` orientation. libsvm/e1071 fit Platt's sigmoid on
cross-validated decision values and the final SVM on all cases; scikit-learn's maintained route
for exactly that is ``CalibratedClassifierCV(method='sigmoid', ensemble=False)`` (not the
deprecated ``SVC(probability=True)``).

``mri-yu2021`` (Yu et al., EBioMedicine 2021): z-score → two-sample t-test (Welch, R's
``t.test`` default) p < 0.05 → random forest per ROI×sequence group (feature-name prefix before
the first ``_``: ``TT1C``, ``LADC`` …), top k = 30 by mean decrease in impurity (Gini) → svm-rbf.

The recipes that use these (options, skops trusted types, fit) are
:mod:`alnpredictor.models.recipes.svm_rbf` and :mod:`alnpredictor.models.recipes.mri_yu2021`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import ttest_ind
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from alnpredictor.errors import InputError


class SampleZScore(StandardScaler):
    """``StandardScaler`` dividing by the sample SD (n − 1), as R's ``scale()`` and e1071's
    ``scale = TRUE``; constant columns keep scale 1 (e1071 leaves them unscaled: same distances)."""

    def fit(self, X, y=None, sample_weight=None):  # noqa: N803 - scikit-learn's argument name
        """Fit as ``StandardScaler``, then rescale the variance by n / (n − 1)."""
        super().fit(X, y, sample_weight)
        n = np.asarray(self.n_samples_seen_, dtype=float)
        if np.all(n > 1) and self.var_ is not None:
            constant = np.sqrt(self.var_) != self.scale_  # the columns StandardScaler gave scale 1
            self.var_ = self.var_ * n / (n - 1.0)
            self.scale_ = np.where(constant, 1.0, np.sqrt(self.var_))
        return self


def make_svm_rbf(C: float = 1.0, gamma: float | str = "auto", calibration_folds: int = 5) -> Pipeline:
    """Unfitted z-score (sample SD) + RBF SVM + Platt-scaling pipeline (e1071 defaults)."""
    svc = SVC(kernel="rbf", C=C, gamma=gamma)
    return Pipeline([
        ("zscore", SampleZScore()),
        ("svm", CalibratedClassifierCV(svc, method="sigmoid", cv=calibration_folds, ensemble=False)),
    ])


def welch_filter(z: np.ndarray, y: np.ndarray, alpha: float = 0.05) -> np.ndarray:
    """p-values of Welch's two-sample t-test per column (NaN for constant columns)."""
    yb = np.asarray(y).astype(bool)
    with np.errstate(all="ignore"):
        res = ttest_ind(z[yb], z[~yb], axis=0, equal_var=False)
    return np.asarray(res.pvalue, dtype=float)


def feature_group(name: str, sep: str = "_") -> str:
    """ROI×sequence group of a feature: its name up to the first separator (``TT1C_...`` → ``TT1C``)."""
    return name.split(sep, 1)[0] if sep in name else ""


def grouped_forest_top_k(z: np.ndarray, y: np.ndarray, names: Sequence[str], k: int = 30,
                         n_trees: int = 500, seed: int = 0, sep: str = "_") -> dict[str, dict]:
    """Per group, fit a random forest (R randomForest defaults: 500 trees, mtry = √p) and keep the
    ``k`` features with the largest mean decrease in impurity. Returns ``{name: {group, importance}}``
    of the kept features."""
    names = list(names)
    groups: dict[str, list[int]] = {}
    for j, name in enumerate(names):
        groups.setdefault(feature_group(name, sep), []).append(j)
    kept: dict[str, dict] = {}
    for group, idx in sorted(groups.items()):
        forest = RandomForestClassifier(n_estimators=n_trees, max_features="sqrt", random_state=seed, n_jobs=1)
        forest.fit(z[:, idx], y)
        imp = forest.feature_importances_
        order = np.argsort(-imp, kind="stable")[:k]
        for o in order:
            kept[names[idx[o]]] = {"group": group, "importance": float(imp[o])}
    return kept


def select_yu2021(x: np.ndarray, y: np.ndarray, names: Sequence[str], alpha: float = 0.05, k: int = 30,
                  n_trees: int = 500, seed: int = 0, sep: str = "_") -> dict:
    """The MRI study's selection; returns kept names (training-table order) and the evidence."""
    names = list(names)
    mean, sd = x.mean(axis=0), x.std(axis=0, ddof=1)
    sd[~np.isfinite(sd) | (sd == 0)] = 1.0
    z = (x - mean) / sd
    pvals = welch_filter(z, y, alpha)
    passed = [j for j, p in enumerate(pvals) if np.isfinite(p) and p < alpha]
    if not passed:
        raise InputError(
            f"no feature differs between positive and negative cases (Welch t-test p < {alpha}); "
            "the training table carries no usable signal or the label is wrong")
    kept = grouped_forest_top_k(z[:, passed], y, [names[j] for j in passed], k, n_trees, seed, sep)
    selected = [n for n in names if n in kept]
    return {
        "selected": selected,
        "n_candidates": len(names),
        "n_passed_ttest": len(passed),
        "alpha": alpha,
        "k": k,
        "n_trees": n_trees,
        "groups": sorted({v["group"] for v in kept.values()}),
        "ttest_p": {names[j]: float(pvals[j]) for j in passed if names[j] in kept},
        "importance": {n: kept[n] for n in selected},
    }
