"""Clinical values for one patient, checked against the model's clinical fields.

A model bundle lists its clinical fields (name, type ``number``/``integer``/``choice``, training
range or allowed values, required). :func:`check_clinical_values` turns what a user typed into
the values the model reads, and refuses — listing every problem at once — a missing required
value, text where a number is needed, a category the model does not know, or a value outside the
plausible range of that variable. A value inside the plausible range but outside the training
range is accepted with a warning: the model extrapolates there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from alnpredictor.errors import ClinicalDataError

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


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value) or str(value).strip() == ""


def check_clinical_values(fields: Sequence[Mapping[str, Any]], values: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Validate and coerce one patient's clinical values.

    :returns: (values the model reads, warnings). Raises :class:`ClinicalDataError` naming every
        problem.
    """
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
            text = str(raw).strip()
            if allowed and text not in allowed:
                problems.append(f"{name}: '{text}' is not one of {allowed}")
                continue
            out[name] = text
            continue
        try:
            number = float(str(raw).strip())
        except ValueError:
            problems.append(f"{name}: '{raw}' is not a number")
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
        lo, hi = PLAUSIBLE.get(name, (None, None))
        if lo is not None and not lo <= number <= hi:
            problems.append(f"{name}: {number} is outside the plausible range {lo:g}–{hi:g}")
            continue
        tmin, tmax = field.get("min"), field.get("max")
        if tmin is not None and tmax is not None and not tmin <= number <= tmax:
            warnings.append(f"{name} = {number} is outside the training range {tmin}–{tmax}: the model extrapolates")
        out[name] = number
    if problems:
        raise ClinicalDataError("clinical data need correcting: " + "; ".join(problems))
    return out, warnings


def predict_checked(model: Any, features: Mapping[str, float], clinical: Mapping[str, Any] | None, *,
                    produced_by: str):
    """What every front door's Predict does: the clinical values checked against the model's fields
    (every problem at once), the model's features looked up, then the prediction.

    :param produced_by: what made ``features`` (e.g. "this MRI study"), for the error when the model
        needs features it does not hold.
    :returns: the model's ``Prediction`` with the checked clinical values among its ``values`` and
        the range warnings in its context (``clinical_warnings``).
    """
    import dataclasses

    from alnpredictor.errors import InputError

    values, warnings = check_clinical_values(model.clinical_fields, dict(clinical or {}))
    missing = [f for f in model.features if f not in features]
    if missing:
        raise InputError(f"model '{model.name}' needs {len(missing)} feature(s) {produced_by} did not produce "
                         f"(e.g. {missing[:3]}): it was trained on other features")
    prediction = model.predict_case({**{f: features[f] for f in model.features}, **values})
    prediction = dataclasses.replace(prediction, values={**values, **prediction.values})
    return prediction.with_context(clinical_warnings=warnings)
