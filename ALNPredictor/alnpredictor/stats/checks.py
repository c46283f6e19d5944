"""Sanity checks run when a model meets a new cohort, reported as warnings with stable codes.

Codes (stable; reports and the Slicer panel key on them):

* ``auc_below_chance`` — the AUC's CI lies entirely below 0.5: labels or score orientation are
  probably inverted (the score is never flipped silently).
* ``effect_direction_disagreement`` — per-feature effect directions (standardised mean difference,
  positive minus negative cases) in the new cohort are anti-correlated with those stored from the
  training cohort.
* ``prevalence_shift`` — the training prevalence lies outside the exact 95% CI of the new
  cohort's prevalence (PPV, NPV and calibration-in-the-large do not transfer).
* ``feature_out_of_training_range`` — features with a large share of values outside the training
  minimum–maximum (different acquisition, extraction settings or units).
* ``missing_features`` — cases lacking values for features the model needs (they are left out).
* ``cutoff_from_validation_cohort`` — no cut-off was stored or given, so it was chosen (Youden) on
  the cohort being validated: threshold metrics are optimistic.
* ``signature_without_intercept`` — a coefficient table without intercept ranks cases correctly
  but its probabilities are not calibrated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from alnpredictor.stats.auc import AUCResult
from alnpredictor.stats.metrics import clopper_pearson

CODES = (
    "auc_below_chance",
    "effect_direction_disagreement",
    "prevalence_shift",
    "feature_out_of_training_range",
    "missing_features",
    "cutoff_from_validation_cohort",
    "signature_without_intercept",
)

#: Effects smaller than this (|standardised mean difference|) carry no direction worth comparing.
MIN_EFFECT = 0.1
#: A feature is flagged when more than this share of its values lies outside the training range.
MAX_OUT_OF_RANGE_SHARE = 0.10


@dataclass(frozen=True)
class Finding:
    """One sanity warning: a stable ``code``, a message for people, details for programs."""

    code: str
    message: str
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def standardized_difference(x: np.ndarray, y: np.ndarray) -> float | None:
    """(mean in positives − mean in negatives) / pooled SD; None when undefined."""
    x = np.asarray(x, dtype=float)
    yb = np.asarray(y).astype(bool)
    ok = np.isfinite(x)
    a, b = x[ok & yb], x[ok & ~yb]
    if a.size < 2 or b.size < 2:
        return None
    pooled = np.sqrt(((a.size - 1) * a.var(ddof=1) + (b.size - 1) * b.var(ddof=1)) / (a.size + b.size - 2))
    if not np.isfinite(pooled) or pooled == 0:
        return None
    return float((a.mean() - b.mean()) / pooled)


def feature_statistics(table: pd.DataFrame, y, columns: Sequence[str]) -> dict[str, dict]:
    """Per numeric feature: mean, sd, min, max, missing count, standardised effect and direction.

    Stored in model bundles (training cohort) and compared with new cohorts by the checks here.
    """
    yb = np.asarray(y).astype(bool)
    out: dict[str, dict] = {}
    for col in columns:
        x = pd.to_numeric(table[col], errors="coerce").to_numpy(dtype=float)
        ok = np.isfinite(x)
        if not ok.any():
            continue
        d = standardized_difference(x, yb)
        out[col] = {
            "mean": float(np.mean(x[ok])),
            "sd": float(np.std(x[ok], ddof=1)) if ok.sum() > 1 else 0.0,
            "min": float(np.min(x[ok])),
            "max": float(np.max(x[ok])),
            "n_missing": int((~ok).sum()),
            "effect": d,
            "direction": 0 if d is None or abs(d) < MIN_EFFECT else int(np.sign(d)),
        }
    return out


def check_auc_below_chance(result: AUCResult) -> Finding | None:
    """Flag an AUC whose whole confidence interval is below 0.5."""
    if result.ci_high < 0.5:
        return Finding(
            "auc_below_chance",
            f"AUC {result.auc:.3f} (95% CI {result.ci_low:.3f}–{result.ci_high:.3f}) is below chance: the "
            "label coding (which value means metastasis, --positive) or the score orientation is probably "
            "inverted. The score was NOT flipped; check the label column.",
            {"auc": result.auc, "ci": [result.ci_low, result.ci_high]},
        )
    return None


def check_effect_directions(training: Mapping[str, dict], table: pd.DataFrame, y,
                            min_effect: float = MIN_EFFECT) -> Finding | None:
    """Compare per-feature effect directions with the training cohort's.

    Features with a training effect of at least ``min_effect`` are compared. With 3 or more, the
    check fires when the Spearman correlation between training and new effects is negative and
    significant (one-sided p < 0.05) and most directions disagree; with 1–2 features, when every
    direction flips with a new effect of at least ``min_effect``.
    """
    yb = np.asarray(y).astype(bool)
    names, d_train, d_new = [], [], []
    for name, st in training.items():
        dt = st.get("effect")
        if dt is None or abs(dt) < min_effect or name not in table.columns:
            continue
        dn = standardized_difference(pd.to_numeric(table[name], errors="coerce").to_numpy(float), yb)
        if dn is None:
            continue
        names.append(name)
        d_train.append(dt)
        d_new.append(dn)
    if not names:
        return None
    d_train, d_new = np.asarray(d_train), np.asarray(d_new)
    disagree = np.sign(d_train) != np.sign(d_new)
    share = float(disagree.mean())
    details = {"n_features": len(names), "share_disagreeing": share,
               "disagreeing": [n for n, dis in zip(names, disagree) if dis][:20]}
    if len(names) >= 3:
        rho, p_two = spearmanr(d_train, d_new)
        if not np.isfinite(rho):
            return None
        p_one = p_two / 2 if rho < 0 else 1 - p_two / 2
        details.update({"spearman_rho": float(rho), "p_value": float(p_one)})
        fire = rho < 0 and p_one < 0.05 and share > 0.5
    else:
        details["effects_new"] = d_new.tolist()
        fire = bool(disagree.all() and np.all(np.abs(d_new) >= min_effect))
    if not fire:
        return None
    corr = f", Spearman rho {details['spearman_rho']:.2f}" if "spearman_rho" in details else ""
    return Finding(
        "effect_direction_disagreement",
        f"{share:.0%} of {len(names)} features point the opposite way from the training cohort{corr}: "
        "the label coding may be inverted, or the features were computed differently.",
        details,
    )


def check_prevalence_shift(training_prevalence: float | None, n_positive: int, n: int,
                           level: float = 0.95) -> Finding | None:
    """Flag a training prevalence outside the exact CI of the new cohort's prevalence."""
    if training_prevalence is None or n == 0:
        return None
    lo, hi = clopper_pearson(n_positive, n, level)
    if lo <= training_prevalence <= hi:
        return None
    return Finding(
        "prevalence_shift",
        f"prevalence {n_positive / n:.3f} (95% CI {lo:.3f}–{hi:.3f}) differs from the training cohort's "
        f"{training_prevalence:.3f}: PPV, NPV and calibration-in-the-large will not transfer.",
        {"prevalence": n_positive / n, "ci": [lo, hi], "training_prevalence": training_prevalence},
    )


def out_of_range_shares(training: Mapping[str, dict], table: pd.DataFrame) -> dict[str, float]:
    """Share of (non-missing) values outside the training [min, max], per feature present."""
    shares = {}
    for name, st in training.items():
        if name not in table.columns or "min" not in st:
            continue
        x = pd.to_numeric(table[name], errors="coerce").to_numpy(float)
        x = x[np.isfinite(x)]
        if x.size:
            shares[name] = float(np.mean((x < st["min"]) | (x > st["max"])))
    return shares


def check_feature_ranges(training: Mapping[str, dict], table: pd.DataFrame,
                         max_share: float = MAX_OUT_OF_RANGE_SHARE) -> Finding | None:
    """Flag features with more than ``max_share`` of values outside the training range."""
    shares = out_of_range_shares(training, table)
    flagged = {k: v for k, v in sorted(shares.items(), key=lambda kv: -kv[1]) if v > max_share}
    if not flagged:
        return None
    top = ", ".join(f"{k} {v:.0%}" for k, v in list(flagged.items())[:5])
    return Finding(
        "feature_out_of_training_range",
        f"{len(flagged)} of {len(shares)} features have more than {max_share:.0%} of values outside the "
        f"training range ({top}): check acquisition, extraction settings and units.",
        {"features": flagged, "threshold": max_share},
    )


def case_out_of_range(training: Mapping[str, dict], row: Mapping[str, float]) -> Finding | None:
    """For one case: the features whose value lies outside the training range."""
    outside = {}
    for name, st in training.items():
        if name in row and "min" in st:
            v = row[name]
            if v is not None and np.isfinite(v) and (v < st["min"] or v > st["max"]):
                outside[name] = {"value": float(v), "min": st["min"], "max": st["max"]}
    if not outside:
        return None
    names = ", ".join(list(outside)[:5])
    return Finding(
        "feature_out_of_training_range",
        f"{len(outside)} value(s) lie outside the training range ({names}{'…' if len(outside) > 5 else ''}): "
        "the prediction extrapolates.",
        {"features": outside},
    )


def check_missing(table: pd.DataFrame, columns: Sequence[str]) -> Finding | None:
    """Flag cases with missing values in required columns (they are excluded by the caller)."""
    sub = table[list(columns)]
    counts = {c: int(n) for c, n in sub.isna().sum().items() if n}
    if not counts:
        return None
    n_cases = int(sub.isna().any(axis=1).sum())
    names = ", ".join(f"{k} ({v})" for k, v in list(counts.items())[:5])
    return Finding(
        "missing_features",
        f"{n_cases} of {len(table)} cases lack values the model needs ({names}); they were left out.",
        {"n_cases": n_cases, "per_feature": counts},
    )
