"""Decision-curve analysis (Vickers & Elkin, Med Decis Making 2006).

Net benefit at threshold probability ``pt``: ``TP/n − FP/n · pt/(1 − pt)``; the reference
strategies are "treat all" (everyone called positive) and "treat none" (net benefit 0).
"""

from __future__ import annotations

import numpy as np

from alnpredictor.errors import InputError

DEFAULT_THRESHOLDS = np.round(np.arange(0.01, 1.0, 0.01), 2)


def net_benefit(y, prob, thresholds=DEFAULT_THRESHOLDS) -> np.ndarray:
    """Net benefit of calling ``prob >= pt`` positive, for each threshold ``pt`` in (0, 1)."""
    yb = np.asarray(y).astype(bool)
    p = np.asarray(prob, dtype=float)
    t = np.asarray(thresholds, dtype=float)
    if np.any((t <= 0) | (t >= 1)):
        raise InputError("decision-curve thresholds must lie strictly between 0 and 1")
    n = yb.size
    called = p[None, :] >= t[:, None]
    tp = (called & yb[None, :]).sum(axis=1)
    fp = (called & ~yb[None, :]).sum(axis=1)
    return tp / n - fp / n * t / (1.0 - t)


def treat_all(y, thresholds=DEFAULT_THRESHOLDS) -> np.ndarray:
    """Net benefit of treating everyone: ``prevalence − (1 − prevalence)·pt/(1 − pt)``."""
    prev = float(np.mean(np.asarray(y).astype(bool)))
    t = np.asarray(thresholds, dtype=float)
    return prev - (1.0 - prev) * t / (1.0 - t)


def decision_curve(y, models: dict[str, np.ndarray] | np.ndarray, thresholds=DEFAULT_THRESHOLDS) -> dict:
    """Net-benefit curves of one or more models with the treat-all / treat-none references.

    ``models`` is a probability array or a ``{name: probabilities}`` mapping.
    """
    if not isinstance(models, dict):
        models = {"model": models}
    t = np.asarray(thresholds, dtype=float)
    return {
        "thresholds": t.tolist(),
        "models": {name: net_benefit(y, p, t).tolist() for name, p in models.items()},
        "treat_all": treat_all(y, t).tolist(),
        "treat_none": [0.0] * t.size,
    }
