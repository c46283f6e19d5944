"""Area under the ROC curve with confidence intervals: DeLong (fast algorithm), paired DeLong
test between two correlated scores, and a stratified bootstrap as an alternative.

The DeLong variance follows DeLong, DeLong & Clarke-Pearson (Biometrics 1988), computed with the
midrank algorithm of Sun & Xu (IEEE Signal Process. Lett. 2014), which is what R's pROC uses.
Confidence limits are ``AUC ± z·SE`` clipped to [0, 1], as ``pROC::ci.auc`` reports them.

The score is never re-oriented: an AUC below 0.5 is reported as such (a label or score
orientation problem must be seen, not silently flipped; see ``stats.checks``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import norm, rankdata

from alnpredictor.errors import InputError


@dataclass(frozen=True)
class AUCResult:
    """An AUC with its standard error and confidence interval."""

    auc: float
    se: float
    ci_low: float
    ci_high: float
    level: float
    method: str
    n_positive: int
    n_negative: int

    @property
    def ci(self) -> tuple[float, float]:
        return (self.ci_low, self.ci_high)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["ci"] = [self.ci_low, self.ci_high]
        return out

    def __str__(self) -> str:
        return f"{self.auc:.3f} ({self.ci_low:.3f}–{self.ci_high:.3f}, {self.method})"


@dataclass(frozen=True)
class PairedAUCTest:
    """DeLong's test for two correlated AUCs (same cases, two scores)."""

    auc1: float
    auc2: float
    difference: float
    se: float
    z: float
    p_value: float
    ci_low: float
    ci_high: float
    level: float
    correlation: float

    def to_dict(self) -> dict:
        out = asdict(self)
        out["ci"] = [self.ci_low, self.ci_high]
        out["method"] = "DeLong paired"
        return out


def _as_binary(y, name: str = "labels") -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise InputError(f"{name} must be one-dimensional (got shape {arr.shape})")
    values = set(np.unique(arr).tolist())
    if not values <= {0, 1}:  # booleans compare equal to 0/1
        raise InputError(f"{name} must be coded 0/1 (got values {sorted(values)[:5]}); map the label first")
    return arr.astype(bool)


def _check_scores(scores: np.ndarray, n: int) -> np.ndarray:
    scores = np.atleast_2d(np.asarray(scores, dtype=float))
    if scores.shape[1] != n:
        raise InputError(f"scores have {scores.shape[1]} values but there are {n} labels")
    if not np.all(np.isfinite(scores)):
        raise InputError("scores contain NaN or infinite values; drop those cases before computing the AUC")
    return scores


def _delong_components(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, int]:
    """AUCs and DeLong covariance matrix for k scores (rows of ``scores``) on the same cases."""
    pos, neg = scores[:, y], scores[:, ~y]
    m, n = pos.shape[1], neg.shape[1]
    if m < 2 or n < 2:
        raise InputError(
            f"need at least 2 positive and 2 negative cases for a DeLong AUC (got {m} positive, {n} negative)"
        )
    tx = rankdata(pos, axis=1)  # midranks among positives
    ty = rankdata(neg, axis=1)  # midranks among negatives
    tz = rankdata(np.concatenate([pos, neg], axis=1), axis=1)  # midranks among all
    aucs = (tz[:, :m].sum(axis=1) / m - (m + 1) / 2.0) / n
    v10 = (tz[:, :m] - tx) / n  # structural components of positives
    v01 = 1.0 - (tz[:, m:] - ty) / m  # structural components of negatives
    s10 = np.atleast_2d(np.cov(v10))
    s01 = np.atleast_2d(np.cov(v01))
    return aucs, s10 / m + s01 / n, m, n


def delong_auc(y, score, level: float = 0.95) -> AUCResult:
    """AUC of ``score`` for binary ``y`` (1 = positive) with its DeLong confidence interval."""
    yb = _as_binary(y)
    scores = _check_scores(score, yb.size)
    aucs, cov, m, n = _delong_components(yb, scores)
    auc = float(aucs[0])
    se = float(np.sqrt(max(cov[0, 0], 0.0)))
    z = norm.ppf(0.5 + level / 2.0)
    return AUCResult(auc, se, float(max(0.0, auc - z * se)), float(min(1.0, auc + z * se)), level, "DeLong", m, n)


def delong_paired(y, score1, score2, level: float = 0.95) -> PairedAUCTest:
    """DeLong's two-sided test that two scores measured on the same cases have equal AUCs."""
    yb = _as_binary(y)
    scores = _check_scores(np.vstack([np.asarray(score1, float), np.asarray(score2, float)]), yb.size)
    aucs, cov, _, _ = _delong_components(yb, scores)
    diff = float(aucs[0] - aucs[1])
    var = float(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1])
    se = float(np.sqrt(max(var, 0.0)))
    if se == 0.0:  # identical (or perfectly concordant) scores: no evidence of a difference
        z_stat, p = 0.0, 1.0
    else:
        z_stat = diff / se
        p = float(2.0 * norm.sf(abs(z_stat)))
    zq = norm.ppf(0.5 + level / 2.0)
    denom = np.sqrt(cov[0, 0] * cov[1, 1])
    corr = float(cov[0, 1] / denom) if denom > 0 else float("nan")
    return PairedAUCTest(float(aucs[0]), float(aucs[1]), diff, se, float(z_stat), p,
                         diff - zq * se, diff + zq * se, level, corr)


def _rank_auc(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC for each row of (pos, neg) matrices (ties count one half)."""
    m, n = pos.shape[1], neg.shape[1]
    ranks = rankdata(np.concatenate([pos, neg], axis=1), axis=1)
    return (ranks[:, :m].sum(axis=1) - m * (m + 1) / 2.0) / (m * n)


#: Fewest bootstrap replicates accepted: a 95% percentile interval needs its 2.5% tails populated.
MIN_BOOTSTRAP = 100


def check_bootstrap_replicates(n_boot) -> int:
    """``n_boot`` as a number of bootstrap replicates (a whole number ≥ :data:`MIN_BOOTSTRAP`)."""
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < MIN_BOOTSTRAP:
        raise InputError(f"bootstrap replicates {n_boot!r}: give a whole number of at least {MIN_BOOTSTRAP} "
                         "(2000 is usual)")
    return int(n_boot)


def bootstrap_auc(y, score, n_boot: int = 2000, level: float = 0.95, seed: int = 0,
                  stratified: bool = True) -> AUCResult:
    """AUC with a percentile bootstrap CI (stratified resampling by default, as pROC does)."""
    n_boot = check_bootstrap_replicates(n_boot)
    yb = _as_binary(y)
    s = _check_scores(score, yb.size)[0]
    pos, neg = s[yb], s[~yb]
    m, n = pos.size, neg.size
    if m < 1 or n < 1:
        raise InputError(f"need positive and negative cases for an AUC (got {m} positive, {n} negative)")
    rng = np.random.default_rng(seed)
    if stratified:
        bp = pos[rng.integers(0, m, size=(n_boot, m))]
        bn = neg[rng.integers(0, n, size=(n_boot, n))]
        boots = _rank_auc(bp, bn)
    else:  # unstratified: case mix varies; replicates with a single class are skipped
        boots = []
        for _ in range(n_boot):
            idx = rng.integers(0, yb.size, size=yb.size)
            yy = yb[idx]
            if yy.all() or not yy.any():
                continue
            boots.append(_rank_auc(s[idx][yy][None, :], s[idx][~yy][None, :])[0])
        boots = np.asarray(boots)
    auc = float(_rank_auc(pos[None, :], neg[None, :])[0])
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(boots, [alpha, 1.0 - alpha])
    return AUCResult(auc, float(np.std(boots, ddof=1)), float(lo), float(hi), level,
                     f"bootstrap ({len(boots)} {'stratified ' if stratified else ''}replicates)", m, n)


def auc_ci(y, score, method: str = "delong", level: float = 0.95, **kwargs) -> AUCResult:
    """AUC with a CI by ``method`` ('delong' or 'bootstrap'; bootstrap takes n_boot, seed)."""
    if method == "delong":
        return delong_auc(y, score, level)
    if method == "bootstrap":
        return bootstrap_auc(y, score, level=level, **kwargs)
    raise InputError(f"unknown AUC CI method {method!r}; use 'delong' or 'bootstrap'")
