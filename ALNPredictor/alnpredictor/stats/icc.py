"""Intraclass correlation per feature: ICC(3,1) and ICC(2,1) for thousands of features at once.

The ultrasound study keeps features with ICC > 0.80 between readers/segmentations (Cicchetti).
pingouin's ``intraclass_corr`` computes one feature per call through a long-format ANOVA (about
10 ms each: minutes for the 2,592 US features or 5,106 MRI features); here the same two-way ANOVA
mean squares are computed for all features with array operations. The formulas and confidence
intervals are pingouin's (validated there against R ``psych::ICC``; McGraw & Wong 1996), and the
tests compare every number with pingouin.

Definitions (n subjects, k raters/segmentations; MSR subjects, MSC raters, MSE residual):

* ICC(3,1) — two-way mixed, consistency, single rater (pingouin ``ICC(C,1)``; Shrout–Fleiss ICC3):
  ``(MSR − MSE) / (MSR + (k − 1) MSE)``
* ICC(2,1) — two-way random, absolute agreement, single rater (pingouin ``ICC(A,1)``; ICC2):
  ``(MSR − MSE) / (MSR + (k − 1) MSE + k (MSC − MSE) / n)``

Missing values: a subject with any missing rating of a feature is left out for that feature
(pingouin's ``nan_policy="omit"``). A feature with no between-subject or residual variance
(constant values) has an undefined ICC: NaN, never kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from alnpredictor.errors import InputError

COLUMNS = (
    "icc3_1", "icc3_1_ci_low", "icc3_1_ci_high",
    "icc2_1", "icc2_1_ci_low", "icc2_1_ci_high",
    "F", "df1", "df2", "pval", "n_subjects", "n_raters",
)


def _mean_squares(x: np.ndarray) -> tuple[np.ndarray, ...]:
    """Two-way ANOVA mean squares of ``x`` (n, k, p) with no missing values; arrays of length p."""
    n, k = x.shape[0], x.shape[1]
    grand = x.mean(axis=(0, 1))
    subj = x.mean(axis=1)  # (n, p)
    rater = x.mean(axis=0)  # (k, p)
    ssr = k * ((subj - grand) ** 2).sum(axis=0)
    ssc = n * ((rater - grand) ** 2).sum(axis=0)
    resid = x - subj[:, None, :] - rater[None, :, :] + grand
    sse = (resid**2).sum(axis=0).sum(axis=0)
    msr = ssr / (n - 1)
    msc = ssc / (k - 1)
    mse = sse / ((n - 1) * (k - 1))
    return msr, msc, mse


def _icc_complete(x: np.ndarray, alpha: float) -> np.ndarray:
    """Table rows (p, len(COLUMNS)) for complete data (n, k, p)."""
    n, k, p = x.shape
    msr, msc, mse = _mean_squares(x.astype(np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        icc3 = (msr - mse) / (msr + (k - 1) * mse)
        icc2 = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
        f3 = msr / mse
        df1, df2 = n - 1, (n - 1) * (k - 1)
        pval = sps.f.sf(f3, df1, df2)
        # ICC(3,1): exact F-based interval.
        f3l = f3 / sps.f.ppf(1 - alpha / 2, df1, df2)
        f3u = f3 * sps.f.ppf(1 - alpha / 2, df2, df1)
        l3 = (f3l - 1) / (f3l + (k - 1))
        u3 = (f3u - 1) / (f3u + (k - 1))
        # ICC(2,1): Satterthwaite-approximated degrees of freedom (McGraw & Wong).
        fj = msc / mse
        vn = df2 * (k * icc2 * fj + n * (1 + (k - 1) * icc2) - k * icc2) ** 2
        vd = df1 * k**2 * icc2**2 * fj**2 + (n * (1 + (k - 1) * icc2) - k * icc2) ** 2
        v = vn / vd
        f2u = sps.f.ppf(1 - alpha / 2, n - 1, v)
        f2l = sps.f.ppf(1 - alpha / 2, v, n - 1)
        l2 = n * (msr - f2u * mse) / (f2u * (k * msc + (k * n - k - n) * mse) + n * msr)
        u2 = n * (f2l * msr - mse) / (k * msc + (k * n - k - n) * mse + n * f2l * msr)
    undefined = ~(np.isfinite(icc3) & (msr + mse > 0))
    out = np.column_stack([icc3, l3, u3, icc2, l2, u2, f3, np.full(p, df1), np.full(p, df2), pval,
                           np.full(p, n), np.full(p, k)]).astype(np.float64)
    out[undefined, :6] = np.nan
    return out


def icc(values: np.ndarray, feature_names: Sequence[str] | None = None, *, alpha: float = 0.05) -> pd.DataFrame:
    """ICC(3,1) and ICC(2,1) with (1 − alpha) confidence intervals, one row per feature.

    :param values: ratings, shape ``(n_subjects, n_raters)`` for one feature or
        ``(n_subjects, n_raters, n_features)``; NaN marks a missing rating.
    :param feature_names: row labels (default ``0..p-1``).
    :param alpha: 0.05 gives 95 % intervals.
    :returns: DataFrame indexed by feature with columns :data:`COLUMNS`.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim == 2:
        x = x[:, :, None]
    if x.ndim != 3:
        raise InputError(f"ICC needs ratings shaped (subjects, raters[, features]); got shape {x.shape}")
    n, k, p = x.shape
    if k < 2 or n < 2:
        raise InputError(f"ICC needs at least 2 subjects and 2 raters; got {n} subjects, {k} raters")
    names = list(feature_names) if feature_names is not None else list(range(p))
    if len(names) != p:
        raise InputError(f"{len(names)} feature names for {p} features")
    out = np.full((p, len(COLUMNS)), np.nan)
    complete = ~np.isnan(x).any(axis=(0, 1))
    if complete.any():
        out[complete] = _icc_complete(x[:, :, complete], alpha)
    for j in np.flatnonzero(~complete):
        keep = ~np.isnan(x[:, :, j]).any(axis=1)
        if keep.sum() >= 2:
            out[j] = _icc_complete(x[keep][:, :, [j]], alpha)[0]
        else:
            out[j, -2:] = (keep.sum(), k)
    table = pd.DataFrame(out, index=pd.Index(names, name="feature"), columns=list(COLUMNS))
    for col in ("df1", "df2", "n_subjects", "n_raters"):
        table[col] = table[col].astype("Int64")
    return table


def icc_from_raters(ratings: Mapping[str, pd.DataFrame], *, alpha: float = 0.05) -> pd.DataFrame:
    """ICC per feature from one table per rater/segmentation (rows subjects, columns features).

    Subjects and features present in every table are used (others are reported as missing
    via ``n_subjects``); rows are matched by index, columns by name.
    """
    if len(ratings) < 2:
        raise InputError("ICC needs the tables of at least two raters/segmentations")
    frames = list(ratings.values())
    subjects = frames[0].index
    features = frames[0].columns
    for f in frames[1:]:
        subjects = subjects.intersection(f.index, sort=False)
        features = features.intersection(f.columns, sort=False)
    if len(subjects) < 2:
        raise InputError("fewer than 2 subjects are rated by every rater: check the tables' indexes (case ids)")
    cube = np.stack([f.loc[subjects, features].to_numpy(dtype=np.float64) for f in frames], axis=1)
    return icc(cube, list(features), alpha=alpha)


def keep_features(table: pd.DataFrame, threshold: float = 0.8, kind: str = "icc3_1") -> list[str]:
    """Features whose ICC is strictly above ``threshold`` (the study: ICC > 0.80), in table order."""
    if kind not in ("icc3_1", "icc2_1", "icc3_1_ci_low", "icc2_1_ci_low"):
        raise InputError(f"kind must be icc3_1, icc2_1 or their _ci_low; got {kind!r}")
    column = table[kind].to_numpy(dtype=np.float64)
    return [name for name, value in zip(table.index, column) if np.isfinite(value) and value > threshold]
