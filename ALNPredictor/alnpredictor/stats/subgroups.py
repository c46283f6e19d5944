"""AUC (DeLong CI) within subgroups of a cohort, e.g. by molecular subtype, age band, T stage."""

from __future__ import annotations

import numpy as np
import pandas as pd

from alnpredictor.errors import InputError
from alnpredictor.stats.auc import delong_auc


def subgroup_aucs(groups, y, score, level: float = 0.95, min_per_class: int = 2) -> list[dict]:
    """One row per subgroup value: n, positives, AUC with DeLong CI (None, with a note, when a
    subgroup has fewer than ``min_per_class`` cases of either class). Missing group values form
    no subgroup."""
    g = pd.Series(np.asarray(groups, dtype=object))
    yb = np.asarray(y).astype(bool)
    s = np.asarray(score, dtype=float)
    if not (len(g) == yb.size == s.size):
        raise InputError("subgroup column, labels and scores must have the same length")
    rows = []
    for value in sorted(g.dropna().unique(), key=str):
        sel = (g == value).to_numpy()
        n_pos, n_neg = int(yb[sel].sum()), int((~yb[sel]).sum())
        row = {"group": value if isinstance(value, (int, float, str)) else str(value),
               "n": int(sel.sum()), "n_positive": n_pos, "auc": None, "auc_ci": None, "note": None}
        if n_pos < min_per_class or n_neg < min_per_class:
            row["note"] = f"too few cases of one class ({n_pos} positive, {n_neg} negative) for an AUC"
        else:
            r = delong_auc(yb[sel], s[sel], level)
            row["auc"], row["auc_ci"] = r.auc, [r.ci_low, r.ci_high]
        rows.append(row)
    return rows
