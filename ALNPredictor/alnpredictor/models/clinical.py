"""Clinical values and feature values for prediction, checked the same way at every front door.

A model bundle lists its clinical fields (name, type ``number``/``integer``/``choice``, training
range or allowed values, required). :func:`check_clinical_values` turns what a user typed into
the values the model reads, and refuses — listing every problem at once — a missing required
value, text where a number is needed, an infinite or NaN number, a category the model does not
know, or a value outside the plausible range of that variable (:data:`PLAUSIBLE`: age −5 or 500,
Ki-67 above 100 % are typos, not patients). A value inside the plausible range but outside the
training range is accepted with a warning: the model extrapolates there.

:func:`check_feature_values` refuses infinite or missing feature values (and applies the same
plausible ranges to a feature that is a clinical variable, e.g. age listed as a feature).
:func:`predict_checked` does both, then predicts: the CLI ``predict``, the pathways and the Slicer
Logic call it; :func:`check_clinical_table` runs the same checks over a cohort table (``validate``,
``train``, manifests) and names the rows; :func:`check_clinical_record` checks values that no model
describes yet (a manifest's clinical columns) against the plausible ranges.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from alnpredictor.errors import ClinicalDataError, InputError

#: Plausible (hard) limits of the studies' clinical variables; outside them a value is a typo.
PLAUSIBLE = {
    "age": (18.0, 110.0),
    "ki67": (0.0, 100.0),
    "clinical_T": (0.0, 4.0),
    "clinical_N": (0.0, 3.0),
    "birads": (1.0, 6.0),
    "nuclear_grade": (1.0, 3.0),
    "us_aln": (0.0, 1.0),
}
#: At most this many rows are named in a cohort table's error (the count says how many more).
MAX_ROWS_NAMED = 5


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value) or str(value).strip() == ""


def _plausibility_problem(name: str, number: float) -> str | None:
    """Why ``number`` cannot be a value of variable ``name`` (not finite, outside :data:`PLAUSIBLE`)."""
    if not math.isfinite(number):
        return f"{name}: {number} is not a finite number"
    lo, hi = PLAUSIBLE.get(name, (None, None))
    if lo is not None and not lo <= number <= hi:
        return f"{name}: {number:g} is outside the plausible range {lo:g}–{hi:g}"
    return None


def check_clinical_values(fields: Sequence[Mapping[str, Any]], values: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Validate and coerce one patient's clinical values.

    :returns: (values the model reads, warnings). Raises :class:`ClinicalDataError` naming every
        problem.
    """
    from alnpredictor.models.labels import value_key

    out: dict[str, Any] = {}
    problems: list[str] = []
    warnings: list[str] = []
    for field in fields:
        name, kind = str(field["name"]), field.get("type", "number")
        raw = values.get(name)
        if _blank(raw):
            if field.get("required", True):
                problems.append(f"{name}: missing — the model needs it")
            continue
        if kind == "choice":
            allowed = [str(v) for v in field.get("values", [])]
            text = value_key(raw)  # 1, 1.0 and "1" are one category (as in training)
            if allowed and text not in allowed:
                problems.append(f"{name}: '{str(raw).strip()}' is not one of {allowed}")
                continue
            out[name] = text
            continue
        try:
            number = float(str(raw).strip())
        except ValueError:
            problems.append(f"{name}: '{raw}' is not a number")
            continue
        problem = _plausibility_problem(name, number)
        if problem:
            problems.append(problem)
            continue
        if kind == "integer":
            if not number.is_integer():
                problems.append(f"{name}: {raw} must be a whole number")
                continue
            number = int(number)
            listed = field.get("values")
            if listed and number not in [int(v) for v in listed]:
                problems.append(f"{name}: {number} is not one of the levels {listed} the model was trained on")
                continue
        tmin, tmax = field.get("min"), field.get("max")
        if tmin is not None and tmax is not None and not tmin <= number <= tmax:
            warnings.append(f"{name} = {number} is outside the training range {tmin}–{tmax}: the model extrapolates")
        out[name] = number
    if problems:
        raise ClinicalDataError("clinical data need correcting: " + "; ".join(problems))
    return out, warnings


def check_clinical_record(values: Mapping[str, Any]) -> None:
    """Clinical values no model describes yet (a manifest row): every number must be finite and, for
    the studies' variables, inside :data:`PLAUSIBLE`. Text and blanks are left to the model's
    fields. Raises :class:`ClinicalDataError` naming every problem."""
    problems = []
    for name, raw in values.items():
        if _blank(raw) or isinstance(raw, bool):
            continue
        try:
            number = float(str(raw).strip())
        except ValueError:
            if str(name) in PLAUSIBLE:
                problems.append(f"{name}: '{raw}' is not a number")
            continue
        problem = _plausibility_problem(str(name), number)
        if problem:
            problems.append(problem)
    if problems:
        raise ClinicalDataError("clinical data need correcting: " + "; ".join(problems))


def check_feature_values(names: Sequence[str], values: Mapping[str, Any], *, produced_by: str = "the input") -> dict[str, float]:
    """The feature values a model reads, as floats: every one present, numeric and finite (an
    infinite feature would give a probability of 0 or 1), and inside :data:`PLAUSIBLE` for a feature
    that is a clinical variable (age listed as a feature). Raises :class:`InputError` naming every
    feature that is wrong and what made it (``produced_by``)."""
    out: dict[str, float] = {}
    problems: list[str] = []
    for name in names:
        raw = values.get(name)
        if _blank(raw):
            problems.append(f"{name}: missing")
            continue
        try:
            number = float(raw)
        except (TypeError, ValueError):
            problems.append(f"{name}: {raw!r} is not a number")
            continue
        problem = _plausibility_problem(str(name), number)
        if problem:
            problems.append(problem)
            continue
        out[name] = number
    if problems:
        raise InputError(f"feature value(s) from {produced_by} cannot be used: " + "; ".join(problems[:10])
                         + (f" (and {len(problems) - 10} more)" if len(problems) > 10 else "")
                         + "; fix the table or extract the features again")
    return out


def check_clinical_table(fields: Sequence[Mapping[str, Any]], table: Any, *, features: Sequence[str] = (),
                         what: str = "the table") -> list[str]:
    """:func:`check_clinical_values` (and :func:`check_feature_values` for ``features``) on every row
    of a cohort table (pandas); the rows that fail are named (1-based data rows of the table as read).

    :returns: the training-range warnings, each once, with the number of rows it concerns.
    :raises ClinicalDataError: listing up to :data:`MAX_ROWS_NAMED` failing rows and how many fail.
    """
    import numpy as np

    present = [f for f in fields if str(f["name"]) in table.columns]  # absent ones: the caller's error
    columns = [str(f["name"]) for f in present] + [f for f in features if f in table.columns]
    failures: list[str] = []
    n_failed = 0
    warned: dict[str, int] = {}
    records = table[list(dict.fromkeys(columns))].to_dict("records")
    for label, record in zip(table.index, records):
        row = f"row {label + 1}" if isinstance(label, (int, np.integer)) else f"row {label!r}"
        try:
            _, warnings = check_clinical_values(present, record)
            if features:
                check_feature_values(features, record, produced_by=what)
        except InputError as exc:
            n_failed += 1
            if len(failures) < MAX_ROWS_NAMED:
                failures.append(f"{row}: {str(exc).split(': ', 1)[-1]}")
            continue
        for w in warnings:
            key = w.split(" = ", 1)[0]
            warned[key] = warned.get(key, 0) + 1
    if failures:
        more = f" (and {n_failed - len(failures)} more row(s))" if n_failed > len(failures) else ""
        raise ClinicalDataError(f"{what} has values no patient can have — " + "; ".join(failures) + more
                                + "; correct them or remove those cases")
    return [f"{name}: {n} case(s) outside the training range (the model extrapolates)" for name, n in warned.items()]


def predict_checked(model: Any, features: Mapping[str, float], clinical: Mapping[str, Any] | None, *,
                    produced_by: str):
    """What every front door's Predict does: the clinical values checked against the model's fields
    (every problem at once), the model's features looked up and checked (present, numeric, finite,
    plausible), then the prediction.

    :param produced_by: what made ``features`` (e.g. "this MRI study"), for the error when the model
        needs features it does not hold or a value cannot be used.
    :returns: the model's ``Prediction`` with the checked clinical values among its ``values`` and
        the range warnings in its context (``clinical_warnings``).
    """
    import dataclasses

    values, warnings = check_clinical_values(model.clinical_fields, dict(clinical or {}))
    missing = [f for f in model.features if f not in features]
    if missing:
        raise InputError(f"model '{model.name}' needs {len(missing)} feature(s) {produced_by} did not produce "
                         f"(e.g. {missing[:3]}): it was trained on other features")
    checked = check_feature_values(model.features, features, produced_by=produced_by)
    prediction = model.predict_case({**checked, **values})
    prediction = dataclasses.replace(prediction, values={**values, **prediction.values})
    return prediction.with_context(clinical_warnings=warnings)
