"""``validate``: a model (bundle, fitted model or published signature) against a labelled cohort,
with the statistics the studies publish (Table 2 of the ultrasound study) and sanity warnings.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from alnpredictor.errors import InputError
from alnpredictor.models.clinical import PLAUSIBLE, check_clinical_table
from alnpredictor.models.design import numeric_block
from alnpredictor.models.fitted import FittedModel
from alnpredictor.models.labels import binary_labels
from alnpredictor.models.recipes.base import check_cutoff
from alnpredictor.stats import checks
from alnpredictor.stats.auc import auc_ci, check_bootstrap_replicates, delong_paired
from alnpredictor.stats.calibration import calibration
from alnpredictor.stats.decision import decision_curve
from alnpredictor.stats.metrics import binary_metrics, youden_cutoff
from alnpredictor.stats.readers import compare_reader, parse_reading
from alnpredictor.stats.reclassification import idi, nri
from alnpredictor.stats.subgroups import MIN_EVENTS, heterogeneity, subgroup_aucs, subgroup_warnings

log = logging.getLogger(__name__)


def resolve_model(model_or_signature: FittedModel | str | Path) -> FittedModel:
    """A FittedModel from itself, a ``.alnmodel`` bundle folder or a coefficient table (CSV)."""
    if isinstance(model_or_signature, FittedModel):
        return model_or_signature
    if isinstance(model_or_signature, (str, Path)):
        path = Path(model_or_signature)
        if path.is_dir() or path.name.endswith(".alnmodel"):
            from alnpredictor.models.bundle import load_bundle

            return load_bundle(path)
        from alnpredictor.models.signature import load_signature

        return load_signature(path)
    raise InputError("validate needs a FittedModel, a model bundle path or a signature coefficient table")


def resolve_positive(model: FittedModel, positive: Any) -> Any:
    """The label value meaning metastasis: as given, else the one the model was trained with, else 1."""
    if positive is not None:
        return positive
    stored = (model.spec.get("label") or {}).get("positive")
    return 1 if stored is None else stored


def _check_extra_columns(df: pd.DataFrame, subgroup: str | None, readers: list[str],
                         thresholds: dict[str | None, float]) -> None:
    """Refuse, before any work, a subgroup or reader column the table lacks and a threshold for a
    column that is not a reader."""
    columns = list(getattr(df, "columns", []))
    hint = f"the table's columns start with {columns[:6]}"
    if subgroup is not None and subgroup not in columns:
        raise InputError(f"subgroup column {subgroup!r} is not in the table ({hint}); pass --subgroup with a column "
                         "of the table")
    for column in readers:
        if column not in columns:
            raise InputError(f"reader column {column!r} is not in the table ({hint}); pass --reader with the column "
                             "holding the radiologist's reading")
    if len(set(readers)) != len(readers):
        raise InputError(f"reader columns {readers} name a column twice; give each reader once")
    if thresholds and not readers:
        raise InputError("--reader-threshold applies to --reader columns, and none was given; add --reader COL "
                         "(the column with the radiologist's reading)")
    for column in thresholds:
        if column is not None and column not in readers:
            raise InputError(f"--reader-threshold names {column!r}, which is not a --reader column ({readers})")


def _scored_cohort(model: FittedModel, df: pd.DataFrame, label: str, positive: Any):
    """Labels, probabilities and log-odds for the complete cases, plus the missing-data finding."""
    if not isinstance(df, pd.DataFrame) or df.empty:
        raise InputError("the validation table is empty")
    incomplete = model.incomplete_rows(df)
    finding = checks.check_missing(df, model.required_columns) if incomplete.any() else None
    complete = df.loc[~incomplete]
    if complete.empty:
        raise InputError("no case has every value the model needs")
    # the checks of a single prediction, on every case, naming the rows of the table as read
    numeric_block(complete, model.features)
    check_clinical_table(model.clinical_fields, complete, features=[f for f in model.features if f in PLAUSIBLE],
                         what="the validation table")
    table = complete.reset_index(drop=True)
    y = binary_labels(table, label, positive)
    return table, y, model.predict_proba(table), model.decision_function(table), finding


def validate(model_or_signature: FittedModel | str | Path, df: pd.DataFrame, label: str, positive: Any = None,
             cutoff: float | None = None, *, level: float = 0.95, auc_method: str = "delong",
             n_boot: int = 2000, seed: int = 0, subgroup: str | None = None, bins: int = 10,
             readers: list[str] | None = None, reader_thresholds: dict[str | None, float] | None = None) -> dict:
    """Validation statistics of a model in a labelled cohort (JSON-ready dict).

    Keys: ``n``, ``n_positive``, ``prevalence``, ``auc``, ``auc_ci`` (DeLong unless
    ``auc_method='bootstrap'``), ``cutoff`` (+ ``cutoff_source``), ``accuracy``, ``sensitivity``,
    ``specificity``, ``ppv``, ``npv`` (each ``{value, ci}``, Clopper–Pearson), ``confusion``,
    ``brier``, ``calibration_slope``, ``calibration_intercept`` (calibration-in-the-large, also as
    ``calibration_in_the_large``), ``val_prob`` (rms::val.prob's ``Intercept``, ``Slope``, ``Emax`` ...),
    ``hosmer_lemeshow``,
    ``calibration_curve``, ``decision_curve``, ``roc``, ``subgroups`` (if asked: per-subgroup AUCs
    and ``heterogeneity``, see :mod:`alnpredictor.stats.subgroups`), ``readers`` (if asked: the model
    against each reader column, see :mod:`alnpredictor.stats.readers`) and ``warnings``
    (``[{code, message, details}]``). The cut-off is the one given, else the model's stored
    (training) cut-off, else Youden's on this cohort (with a warning: optimistic).
    ``positive`` defaults to the label value the model was trained with (else 1).
    ``reader_thresholds`` maps a reader column (or None: every ordinal reader) to its stated
    threshold (positive at ``level >= threshold``).
    """
    model = resolve_model(model_or_signature)
    readers, reader_thresholds = list(readers or []), dict(reader_thresholds or {})
    _check_extra_columns(df, subgroup, readers, reader_thresholds)
    if cutoff is not None:
        cutoff = check_cutoff(cutoff)
    if auc_method == "bootstrap":
        check_bootstrap_replicates(n_boot)
    positive = resolve_positive(model, positive)
    table, y, prob, lp, missing = _scored_cohort(model, df, label, positive)
    findings: list[checks.Finding] = [missing] if missing else []

    auc = auc_ci(y, lp, method=auc_method, level=level, **({"n_boot": n_boot, "seed": seed}
                                                          if auc_method == "bootstrap" else {}))
    if cutoff is not None:
        cut, source = float(cutoff), "given"
    elif model.cutoff is not None:
        cut, source = float(model.cutoff), "model (training cohort)"
    else:
        cut, source = youden_cutoff(y, prob)["cutoff"], "Youden index on this cohort"
        findings.append(checks.Finding(
            "cutoff_from_validation_cohort",
            "the model has no stored cut-off, so it was chosen (Youden) on the cohort being validated: "
            "accuracy, sensitivity, specificity, PPV and NPV are optimistic. Pass --cutoff to fix one.",
            {"cutoff": cut}))
    metrics = binary_metrics(y, prob, cut, level)
    cal = calibration(y, prob, lp, bins=bins)

    for f in (
        checks.check_auc_below_chance(auc),
        checks.check_effect_directions(model.feature_stats, table, y),
        checks.check_prevalence_shift(model.training_prevalence, int(y.sum()), int(y.size), level),
        checks.check_feature_ranges(model.feature_stats, table),
    ):
        if f:
            findings.append(f)
    if not model.spec.get("has_intercept", True):
        findings.append(checks.Finding(
            "signature_without_intercept",
            "the signature has no intercept: it ranks cases (AUC) but its probabilities are not calibrated, "
            "so calibration and decision-curve results do not describe a usable risk.", {}))

    from sklearn.metrics import roc_curve

    fpr, tpr, thr = roc_curve(y, lp)
    out: dict[str, Any] = {
        "model": {"name": model.name, "recipe": model.recipe, "n_features": len(model.features)},
        "label": {"column": label, "positive": positive},
        "n": int(y.size),
        "n_positive": int(y.sum()),
        "n_excluded_missing": int(len(df) - y.size),
        "prevalence": float(y.mean()),
        "auc": auc.auc,
        "auc_ci": [auc.ci_low, auc.ci_high],
        "auc_se": auc.se,
        "auc_method": auc.method,
        "confidence_level": level,
        "cutoff": cut,
        "cutoff_source": source,
        "confusion": metrics["confusion"],
        **{k: metrics[k] for k in ("accuracy", "sensitivity", "specificity", "ppv", "npv")},
        "brier": cal["brier"],
        "calibration_slope": cal["slope"],
        "calibration_intercept": cal["intercept"],
        # both intercepts under the names R users read: calibration-in-the-large (slope fixed at 1)
        # and rms::val.prob's Intercept/Slope (recalibration with the slope estimated), Emax, Brier
        "calibration_in_the_large": cal.get("calibration_in_the_large"),
        "val_prob": cal.get("val_prob"),
        "calibration_method": cal["method"],
        "hosmer_lemeshow": cal["hosmer_lemeshow"],
        "calibration_curve": cal["curve"],
        "decision_curve": decision_curve(y, {model.name: prob}),
        "roc": {"fpr": fpr.tolist(), "tpr": tpr.tolist()},
        "warnings": [f.to_dict() for f in findings],
    }
    # readings are parsed (and refused) before any result is built
    readings = [parse_reading(table[c], c) for c in readers]
    if readings:
        out["readers"] = []
        for reading in readings:
            given = reader_thresholds.get(reading.column, reader_thresholds.get(None))
            result, notes = compare_reader(y, reading, prob, lp, cut, given, level)
            out["readers"].append(result)
            findings += [checks.Finding(*note) for note in notes]
    if subgroup is not None:
        rows = subgroup_aucs(table[subgroup], y, lp, level)
        out["subgroups"] = {"column": subgroup, "n_missing": int(table[subgroup].isna().sum()),
                            "min_events": MIN_EVENTS, "groups": rows, "heterogeneity": heterogeneity(rows)}
        findings += [checks.Finding(*note) for note in subgroup_warnings(subgroup, rows)]
    out["warnings"] = [f.to_dict() for f in findings]
    for f in findings:
        log.debug("%s: %s", f.code, f.message)
    return out


def compare_models(model_a: FittedModel | str | Path, model_b: FittedModel | str | Path, df: pd.DataFrame,
                   label: str, positive: Any = None, cutoffs: list[float] | None = None,
                   level: float = 0.95) -> dict:
    """Old model ``a`` vs new model ``b`` on the same cases: paired DeLong test, NRI (categorical
    at ``cutoffs`` — default b's cut-off — and continuous) and IDI."""
    a, b = resolve_model(model_a), resolve_model(model_b)
    positive = resolve_positive(b, positive)
    complete = ~(a.incomplete_rows(df) | b.incomplete_rows(df))
    for m in (a, b):
        numeric_block(df.loc[complete], m.features)
        check_clinical_table(m.clinical_fields, df.loc[complete], features=[f for f in m.features if f in PLAUSIBLE],
                             what="the validation table")
    table = df.loc[complete].reset_index(drop=True)
    if table.empty:
        raise InputError("no case has every value both models need")
    y = binary_labels(table, label, positive)
    pa, pb = a.predict_proba(table), b.predict_proba(table)
    test = delong_paired(y, a.decision_function(table), b.decision_function(table), level)
    cuts = cutoffs if cutoffs is not None else ([b.cutoff] if b.cutoff is not None else None)
    return {
        "model_a": a.name, "model_b": b.name, "n": int(y.size), "n_positive": int(y.sum()),
        "auc_a": test.auc1, "auc_b": test.auc2, "auc_gain": test.auc2 - test.auc1,  # new minus old
        "delong": test.to_dict(),
        "nri_categorical": nri(y, pa, pb, cuts, level) if cuts else None,
        "nri_continuous": nri(y, pa, pb, None, level),
        "idi": idi(y, pa, pb, level),
    }

