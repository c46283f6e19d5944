"""The model against radiologists' readings of the same patients.

A reading is **binary** (``positive``/``negative``, ``yes``/``no``, or two numbers such as 0/1: the
higher is the positive call) or **ordinal** (three or more whole-number levels, e.g. BI-RADS-like
1–5, higher = more suspicious). Any other value is refused: recode first (e.g. BI-RADS 4a/4b/4c as
4/5/6).

For each reader, on the patients both the model and the reader scored:

* the reader's AUC with DeLong CI — for an ordinal reading its empirical ROC over the levels, for a
  binary one the single operating point (AUC = (sensitivity + specificity) / 2);
* the reader's sensitivity, specificity, PPV, NPV and accuracy at the reader's operating point, with
  Clopper–Pearson CIs: a binary reading's own call; an ordinal one is positive at ``level >=
  threshold`` (a stated threshold, else the Youden-optimal level on this cohort, with a warning);
* the model's same metrics at the model's cut-off, and exact McNemar tests of the paired
  sensitivities and specificities;
* paired DeLong test of model minus reader AUC (pROC's ``roc.test(paired=TRUE, method="delong")``);
* categorical NRI of the model's call over the reader's call, and IDI of the model's probability
  over the reader's (the event rate of each reading level in this cohort, i.e. a saturated logistic
  model of the reading — an upper bound of what the reading can tell);
* the reclassification table: per outcome, how many patients the model calls differently from the
  reader, in the right and in the wrong direction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from alnpredictor.errors import InputError
from alnpredictor.stats.auc import delong_auc, delong_paired
from alnpredictor.stats.metrics import binary_metrics, youden_cutoff
from alnpredictor.stats.reclassification import idi, nri

#: Text accepted for a binary reading (case-insensitive): the positive and the negative call.
POSITIVE_WORDS = frozenset({"positive", "pos", "yes", "y", "true", "+", "suspicious", "malignant"})
NEGATIVE_WORDS = frozenset({"negative", "neg", "no", "n", "false", "-", "benign"})

#: Warning codes of the reader comparison (stable).
READER_CODES = ("reader_threshold_from_validation_cohort", "reader_missing_values", "reader_single_level")


@dataclass(frozen=True)
class Reading:
    """One reader's column as scores (NaN where the reader gave no reading)."""

    column: str
    kind: str  # "binary" or "ordinal"
    levels: list[float]
    scores: np.ndarray
    coding: dict[str, int] = field(default_factory=dict)  # binary text -> 0/1

    @property
    def missing(self) -> np.ndarray:
        return np.isnan(self.scores)


def _level(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def parse_reading(series: pd.Series, column: str) -> Reading:
    """The reading in ``series`` as a :class:`Reading`; refuses values that are neither a binary
    call nor whole-number ordinal levels (naming the column and the values)."""
    present = series.dropna()
    if present.empty:
        raise InputError(f"reader column {column!r} has no readings; give a column with the readers' calls")
    if pd.api.types.is_bool_dtype(series.dtype):
        scores = series.map(lambda v: np.nan if pd.isna(v) else float(bool(v))).to_numpy(dtype=float)
        return Reading(column, "binary", [0, 1], scores, {"False": 0, "True": 1})
    numeric = pd.to_numeric(present, errors="coerce")
    if numeric.notna().all():
        values = numeric.to_numpy(dtype=float)
        bad = values[~np.isfinite(values) | (values != np.round(values))]
        if bad.size:
            raise InputError(
                f"reader column {column!r} has values that are not whole-number levels ({sorted(set(bad.tolist()))[:5]}); "
                "give binary calls (positive/negative, 0/1) or ordinal levels such as BI-RADS 1-5")
        scores = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
        levels = sorted({_level(v) for v in values})
        return Reading(column, "binary" if len(levels) <= 2 else "ordinal", levels, scores)
    text = present.astype(str).str.strip().str.lower()
    unknown = sorted(set(text) - POSITIVE_WORDS - NEGATIVE_WORDS)
    if unknown:
        raise InputError(
            f"reader column {column!r} has values that are neither a binary call nor ordinal numbers "
            f"({unknown[:5]}); use positive/negative (or yes/no, 0/1) or whole-number levels such as BI-RADS 1-5")
    coding = {v: int(v.strip().lower() in POSITIVE_WORDS) for v in present.astype(str).unique()}
    scores = series.map(lambda v: np.nan if pd.isna(v) else float(coding[str(v)])).to_numpy(dtype=float)
    return Reading(column, "binary", [0, 1], scores, coding)


def check_threshold(reading: Reading, threshold: float) -> float:
    """A stated ordinal threshold (positive at ``level >= threshold``) that splits the readings."""
    levels = reading.levels
    if not (levels[0] < threshold <= levels[-1]):
        raise InputError(
            f"--reader-threshold {threshold:g} for reader column {reading.column!r} does not split its levels "
            f"({levels[0]}–{levels[-1]}): give a level above the lowest, e.g. {levels[len(levels) // 2]} "
            "(positive at or above it)")
    return float(threshold)


def _exact_mcnemar(b: int, c: int) -> dict:
    """Exact McNemar test on the discordant pairs: ``b`` patients only the model calls correctly,
    ``c`` only the reader."""
    p = float(binomtest(b, b + c, 0.5).pvalue) if b + c else 1.0
    return {"model_correct_only": int(b), "reader_correct_only": int(c), "p_value": p,
            "method": "exact McNemar (binomial)"}


def _reclassification(yb: np.ndarray, model_call: np.ndarray, reader_call: np.ndarray) -> dict:
    """Per outcome: who both call alike, and whom the model moves right or wrong."""
    out = {}
    for name, sel, right in (("events", yb, model_call), ("nonevents", ~yb, ~model_call)):
        m, r = model_call[sel], reader_call[sel]
        out[name] = {
            "n": int(sel.sum()),
            "both_positive": int(np.sum(m & r)), "both_negative": int(np.sum(~m & ~r)),
            "model_positive_reader_negative": int(np.sum(m & ~r)),
            "model_negative_reader_positive": int(np.sum(~m & r)),
            # moved right: the model's call is correct where the reader's is not
            "moved_right": int(np.sum((m != r) & right[sel])),
            "moved_wrong": int(np.sum((m != r) & ~right[sel])),
        }
    out["net_moved_right"] = (out["events"]["moved_right"] - out["events"]["moved_wrong"]
                              + out["nonevents"]["moved_right"] - out["nonevents"]["moved_wrong"])
    return out


def _level_rates(yb: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Each reading replaced by the event rate among patients with the same reading."""
    rates = np.empty_like(s)
    for v in np.unique(s):
        rates[s == v] = yb[s == v].mean()
    return rates


def compare_reader(y, reading: Reading, model_prob, model_score, model_cutoff: float,
                   threshold: float | None = None, level: float = 0.95) -> tuple[dict, list[tuple[str, str, dict]]]:
    """Model vs one reader on the patients the reader read: ``(result, warnings)``.

    ``model_score`` is the model's ranking score (log-odds), ``model_prob`` its probability,
    ``model_cutoff`` the probability cut-off of its call. ``threshold`` applies to ordinal readings.
    Warnings are ``(code, message, details)``."""
    warnings: list[tuple[str, str, dict]] = []
    keep = ~reading.missing
    yb = np.asarray(y).astype(bool)[keep]
    s = reading.scores[keep]
    prob = np.asarray(model_prob, dtype=float)[keep]
    score = np.asarray(model_score, dtype=float)[keep]
    n_missing = int((~keep).sum())
    if n_missing:
        warnings.append(("reader_missing_values",
                         f"reader {reading.column!r}: {n_missing} patient(s) without a reading are left out of "
                         "this reader's comparison (the model's figures for this reader use the same patients)",
                         {"reader": reading.column, "n_missing": n_missing}))
    if yb.all() or not yb.any():
        raise InputError(f"the patients read in reader column {reading.column!r} are all of one outcome; "
                         "the comparison needs both positive and negative patients")
    if np.unique(s).size < 2:
        warnings.append(("reader_single_level",
                         f"reader {reading.column!r} gave the same reading to every patient: its AUC is 0.5",
                         {"reader": reading.column}))

    if reading.kind == "binary":
        cut, source = float(reading.levels[-1]), "the reader's own call"
        if threshold is not None:
            source = "the reader's own call (a binary reading takes no threshold)"
    elif threshold is not None:
        cut, source = check_threshold(reading, threshold), "given"
    else:
        youden = youden_cutoff(yb, s)["cutoff"]
        cut = float(min(v for v in reading.levels if v >= youden))
        source = "Youden index on this cohort"
        warnings.append(("reader_threshold_from_validation_cohort",
                         f"reader {reading.column!r}: no --reader-threshold was given, so its operating point "
                         f"(positive at >= {cut:g}) was chosen (Youden) on this cohort: its sensitivity and "
                         "specificity are optimistic. Pass --reader-threshold to state it.",
                         {"reader": reading.column, "threshold": cut}))
    reader_call, model_call = s >= cut, prob >= model_cutoff

    reader_auc = delong_auc(yb, s, level)
    model_auc = delong_auc(yb, score, level)
    test = delong_paired(yb, score, s, level)  # model minus reader
    keys = ("accuracy", "sensitivity", "specificity", "ppv", "npv")
    rm, mm = binary_metrics(yb, s, cut, level), binary_metrics(yb, prob, model_cutoff, level)
    rates = _level_rates(yb, s)
    roc = [{"threshold": lv, "sensitivity": float(np.mean(s[yb] >= lv)), "specificity": float(np.mean(s[~yb] < lv))}
           for lv in reading.levels[1:]]
    result = {
        "column": reading.column,
        "kind": reading.kind,
        "levels": reading.levels,
        "coding": reading.coding or None,
        "n": int(yb.size), "n_positive": int(yb.sum()), "n_excluded_missing": n_missing,
        "threshold": cut, "threshold_source": source,
        "reader_auc": reader_auc.to_dict(),
        "model_auc": model_auc.to_dict(),
        "reader_roc": roc,
        "reader": {"confusion": rm["confusion"], **{k: rm[k] for k in keys}},
        "model": {"cutoff": float(model_cutoff), "confusion": mm["confusion"], **{k: mm[k] for k in keys}},
        "mcnemar": {
            "sensitivity": _exact_mcnemar(int(np.sum(model_call[yb] & ~reader_call[yb])),
                                          int(np.sum(~model_call[yb] & reader_call[yb]))),
            "specificity": _exact_mcnemar(int(np.sum(~model_call[~yb] & reader_call[~yb])),
                                          int(np.sum(model_call[~yb] & ~reader_call[~yb]))),
        },
        "delong": {**test.to_dict(), "compared": "model minus reader"},
        "nri_categorical": nri(yb, reader_call.astype(float), model_call.astype(float), [0.5], level),
        "idi": {**idi(yb, rates, prob, level),
                "reader_probability": "event rate of each reading level in this cohort"},
        "reclassification": _reclassification(yb, model_call, reader_call),
    }
    return result, warnings
