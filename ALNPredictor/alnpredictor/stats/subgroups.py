"""AUC (DeLong CI) within subgroups of a cohort (molecular subtype, age band, Ki-67, T stage,
menopausal status) and a test of heterogeneity between subgroups.

Subgroups hold different patients, so their AUCs are independent:

* **two subgroups** — pROC's ``roc.test(paired=FALSE, method="delong")``:
  ``D = (AUC1 − AUC2) / sqrt(var1 + var2)`` with DeLong variances, referred (as pROC does) to a t
  distribution with Welch–Satterthwaite degrees of freedom
  ``(var1 + var2)² / (var1² / (n1 − 1) + var2² / (n2 − 1))`` (n = patients in the subgroup), two-sided;
* **three or more** — Cochran's Q of a fixed-effect inverse-variance analysis (as
  ``metafor::rma(method="FE")``): ``Q = Σ w_i (AUC_i − AUC_w)²`` with ``w_i = 1 / var_i`` and
  ``AUC_w = Σ w_i AUC_i / Σ w_i``, referred to χ² with k − 1 degrees of freedom; I² = (Q − df) / Q.

(For two subgroups Q equals D², and the χ² p is the normal-reference p of D; the t reference is a
little more conservative in small subgroups.) Subgroups without an AUC (a class with
fewer than 2 patients) or with a zero DeLong variance (perfect separation) take no part.

Warnings (stable codes): ``subgroup_few_events`` — a subgroup with fewer than
:data:`MIN_EVENTS` events or non-events: its AUC CI is unreliable (the DeLong variance is a
large-sample result); ``subgroup_single_class`` — a subgroup with (almost) only one outcome has no
AUC; ``subgroup_many_levels`` — a column with more than :data:`MAX_LEVELS` values is probably
continuous (bin it first, e.g. age ≤ 50 / > 50).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import chi2, t

from alnpredictor.errors import InputError
from alnpredictor.stats.auc import delong_auc

#: Fewer events (or non-events) than this in a subgroup: its AUC CI is flagged as unreliable.
MIN_EVENTS = 10
#: More subgroup values than this: the column is probably continuous.
MAX_LEVELS = 10

SUBGROUP_CODES = ("subgroup_few_events", "subgroup_single_class", "subgroup_many_levels")


def _group_label(value) -> int | float | str:
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return int(value) if float(value).is_integer() else float(value)
    return str(value)


def subgroup_aucs(groups, y, score, level: float = 0.95, min_per_class: int = 2) -> list[dict]:
    """One row per subgroup value: n, positives, AUC with DeLong CI and SE (None, with a note, when a
    subgroup has fewer than ``min_per_class`` cases of either class), and ``few_events`` (fewer than
    :data:`MIN_EVENTS` events or non-events). Missing group values form no subgroup."""
    g = pd.Series(np.asarray(groups, dtype=object))
    yb = np.asarray(y).astype(bool)
    s = np.asarray(score, dtype=float)
    if not (len(g) == yb.size == s.size):
        raise InputError("subgroup column, labels and scores must have the same length")
    rows = []
    for value in sorted(g.dropna().unique(), key=str):
        sel = (g == value).to_numpy()
        n_pos, n_neg = int(yb[sel].sum()), int((~yb[sel]).sum())
        row = {"group": _group_label(value), "n": int(sel.sum()), "n_positive": n_pos, "n_negative": n_neg,
               "auc": None, "auc_ci": None, "auc_se": None, "note": None,
               "few_events": n_pos < MIN_EVENTS or n_neg < MIN_EVENTS}
        if n_pos < min_per_class or n_neg < min_per_class:
            row["note"] = f"too few cases of one class ({n_pos} positive, {n_neg} negative) for an AUC"
        else:
            r = delong_auc(yb[sel], s[sel], level)
            row["auc"], row["auc_ci"], row["auc_se"] = r.auc, [r.ci_low, r.ci_high], r.se
            if row["few_events"]:
                row["note"] = (f"fewer than {MIN_EVENTS} events or non-events ({n_pos} positive, {n_neg} negative): "
                               "AUC CI unreliable")
        rows.append(row)
    return rows


def heterogeneity(rows: list[dict]) -> dict:
    """Test that the subgroups' AUCs are equal (rows from :func:`subgroup_aucs`): DeLong z test for
    two subgroups, Cochran's Q (χ², k − 1 df) for more. ``p_value`` is None, with ``reason``, when
    fewer than two subgroups can take part."""
    used = [r for r in rows if r["auc"] is not None and r["auc_se"] and r["auc_se"] > 0]
    left_out = [r["group"] for r in rows if r not in used]
    why = [f"{r['group']} ({'no AUC' if r['auc'] is None else 'AUC ' + format(r['auc'], '.3f') + ', DeLong variance 0'})"
           for r in rows if r not in used]
    out: dict = {"groups": [r["group"] for r in used], "left_out": left_out, "k": len(used),
                 "method": None, "statistic": None, "df": None, "p_value": None, "reason": None}
    if len(used) < 2:
        out["reason"] = ("fewer than two subgroups have an AUC with a non-zero DeLong variance"
                         + (f" (left out: {', '.join(why)})" if why else ""))
        return out
    auc = np.array([r["auc"] for r in used])
    var = np.array([r["auc_se"] for r in used]) ** 2
    w = 1.0 / var
    pooled = float(np.sum(w * auc) / np.sum(w))
    q = float(np.sum(w * (auc - pooled) ** 2))
    df = len(used) - 1
    out.update({"q": q, "df": df, "pooled_auc": pooled,
                "pooled_se": float(np.sqrt(1.0 / np.sum(w))),
                "i2": float(max(0.0, (q - df) / q)) if q > 0 else 0.0})
    if len(used) == 2:
        d = float((auc[0] - auc[1]) / np.sqrt(var.sum()))
        n = np.array([r["n"] for r in used], dtype=float)
        dof = float(var.sum() ** 2 / np.sum(var ** 2 / (n - 1)))
        out.update({"method": "DeLong test for two independent AUCs, t reference with Welch-Satterthwaite df "
                              "(pROC roc.test, paired=FALSE)",
                    "statistic": d, "df": dof, "difference": float(auc[0] - auc[1]),
                    "p_value": float(2.0 * t.sf(abs(d), dof))})
    else:
        out.update({"method": "Cochran's Q, inverse-variance (DeLong) weights, chi-square with k-1 df",
                    "statistic": q, "p_value": float(chi2.sf(q, df))})
    return out


def subgroup_warnings(column: str, rows: list[dict]) -> list[tuple[str, str, dict]]:
    """The ``(code, message, details)`` warnings of a subgroup analysis (see the module docstring)."""
    out = []
    single = [r for r in rows if r["auc"] is None]
    few = [r for r in rows if r["auc"] is not None and r["few_events"]]
    if single:
        out.append(("subgroup_single_class",
                    f"subgroup(s) of {column!r} with (almost) only one outcome have no AUC and take no part in "
                    "the heterogeneity test: " + "; ".join(f"{r['group']} ({r['n_positive']} positive, "
                                                           f"{r['n_negative']} negative)" for r in single),
                    {"column": column, "groups": [r["group"] for r in single]}))
    if few:
        out.append(("subgroup_few_events",
                    f"subgroup(s) of {column!r} with fewer than {MIN_EVENTS} events or non-events: their AUC CIs "
                    "are unreliable: " + "; ".join(f"{r['group']} ({r['n_positive']} positive, "
                                                   f"{r['n_negative']} negative)" for r in few),
                    {"column": column, "groups": [r["group"] for r in few], "min_events": MIN_EVENTS}))
    if len(rows) > MAX_LEVELS:
        out.append(("subgroup_many_levels",
                    f"subgroup column {column!r} has {len(rows)} values; it looks continuous: bin it first "
                    "(e.g. age <= 50 / > 50) and pass the binned column",
                    {"column": column, "n_levels": len(rows)}))
    return out
