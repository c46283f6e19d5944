"""Classification metrics at a cut-off with exact (Clopper–Pearson) confidence intervals, and
the Youden-optimal cut-off.

Rule used everywhere: a case is called positive when its probability is ``>= cutoff``.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import binomtest
from sklearn.metrics import roc_curve

from alnpredictor.errors import InputError


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float] | None:
    """Exact binomial CI for ``k`` successes out of ``n`` (None when ``n`` is 0)."""
    if n <= 0:
        return None
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="exact")
    return (float(ci.low), float(ci.high))


def proportion(k: int, n: int, level: float = 0.95) -> dict:
    """``{value, ci, k, n, method}`` for a proportion; value and ci are None when n is 0."""
    ci = clopper_pearson(k, n, level)
    return {
        "value": (k / n) if n else None,
        "ci": list(ci) if ci else None,
        "k": int(k),
        "n": int(n),
        "method": "Clopper-Pearson",
    }


def confusion(y, prob, cutoff: float) -> dict[str, int]:
    """Counts of true/false positives/negatives at ``prob >= cutoff``."""
    yb = np.asarray(y).astype(bool)
    called = np.asarray(prob, dtype=float) >= cutoff
    return {
        "tp": int(np.sum(called & yb)),
        "fp": int(np.sum(called & ~yb)),
        "tn": int(np.sum(~called & ~yb)),
        "fn": int(np.sum(~called & yb)),
    }


def binary_metrics(y, prob, cutoff: float, level: float = 0.95) -> dict:
    """Accuracy, sensitivity, specificity, PPV and NPV at ``cutoff``, each with its exact CI."""
    c = confusion(y, prob, cutoff)
    tp, fp, tn, fn = c["tp"], c["fp"], c["tn"], c["fn"]
    return {
        "cutoff": float(cutoff),
        "confusion": c,
        "accuracy": proportion(tp + tn, tp + fp + tn + fn, level),
        "sensitivity": proportion(tp, tp + fn, level),
        "specificity": proportion(tn, tn + fp, level),
        "ppv": proportion(tp, tp + fp, level),
        "npv": proportion(tn, tn + fn, level),
    }


def youden_cutoff(y, prob) -> dict:
    """The cut-off maximising Youden's J = sensitivity + specificity − 1.

    The cut-off is placed half-way between the two neighbouring observed values (pROC's
    convention), so that it classifies this cohort exactly as the optimal threshold does while not
    sitting on a training value. Ties in J are resolved towards the higher cut-off.
    """
    yb = np.asarray(y).astype(bool)
    p = np.asarray(prob, dtype=float)
    if yb.all() or not yb.any():
        raise InputError("a Youden cut-off needs both positive and negative cases")
    fpr, tpr, thr = roc_curve(yb, p, drop_intermediate=False)
    j = tpr - fpr
    i = int(np.argmax(j))  # first maximum = highest threshold among ties
    if not np.isfinite(thr[i]):  # the "call nobody" point: only reachable when J is 0 everywhere
        i = 1
    cut = float(thr[i])
    if i + 1 < thr.size:
        cut = float((thr[i] + thr[i + 1]) / 2.0)
    return {
        "cutoff": cut,
        "youden": float(j[i]),
        "sensitivity": float(tpr[i]),
        "specificity": float(1.0 - fpr[i]),
        "method": "Youden index (midpoint between neighbouring values)",
    }
