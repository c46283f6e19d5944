"""From a feature table to the numbers a model sees.

* which columns are features (named as imaging features — ``{ROI}{SEQ}_...``, ``US_...``, ``DL_<i>`` —
  or listed explicitly; never the label, a clinical variable or an identifier), and why each other
  column is not;
* clinical fields: their type and allowed values, inferred on the training cohort and stored in
  the bundle (a Slicer form is built from them), and their encoding (numbers as they are,
  categories as 0/1 indicators against the first level, R's treatment coding);
* per-predictor display ranges for nomogram points (R ``rms::datadist`` convention).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alnpredictor import study
from alnpredictor.errors import ClinicalDataError, InputError
from alnpredictor.models.labels import value_key

#: Column names (case-insensitive) never used as features: they identify cases.
ID_COLUMNS = {"id", "case", "case_id", "caseid", "patient", "patient_id", "patientid", "subject",
              "subject_id", "accession", "mrn", "name"}
#: Integer-valued clinical fields with at most this many levels list their allowed values.
MAX_LISTED_LEVELS = 12


#: Why a column of a training table is not a feature (model.json ``details.dropped_columns`` and the
#: ``train`` summary group the columns by these reasons).
DROP_REASONS = {
    "excluded": "excluded (--exclude)",
    "identifier": "identifier column",
    "clinical": "clinical variable: give it with --clinical, or name it in --feature-list to use it as a feature",
    "not_feature_name": "not an imaging feature name ({ROI}{SEQ}_..., US_..., DL_<i>): name it in --feature-list "
                        "to use it",
    "not_listed": "not in the feature list",
    "not_icc_kept": "not in the ICC keep-list",
    "missing": "has missing values: fill them in, or name it in --feature-list to leave out those cases instead",
    "constant": "constant (one value in every case)",
}


def is_feature_name(column: str) -> bool:
    """Whether ``column`` is named as an imaging feature (:func:`alnpredictor.study.is_mri_feature`
    or :func:`~alnpredictor.study.is_us_feature`)."""
    return study.is_mri_feature(str(column)) or study.is_us_feature(str(column))


def candidate_features(table: pd.DataFrame, label: str, clinical: Sequence[str] = (),
                       exclude: Sequence[str] = (), dropped: dict[str, str] | None = None) -> list[str]:
    """Columns named as imaging features (``{ROI}{SEQ}_...``, ``US_...``, ``DL_<i>``) other than the
    label, the clinical fields, identifiers, the study's clinical variables and ``exclude``.

    A table column is never a feature because it happens to be numeric: age or Ki-67 must not enter
    an imaging signature unnoticed. Every other column's reason is added to ``dropped``
    (``{column: reason}``) when given."""
    skip = {label, *clinical}
    excluded = set(exclude)
    out = []
    for col in table.columns:
        name = str(col)
        if col in skip:
            continue
        if col in excluded:
            reason = "excluded"
        elif name.strip().lower() in ID_COLUMNS:
            reason = "identifier"
        elif study.is_clinical_column(name):
            reason = "clinical"
        elif not is_feature_name(name):
            reason = "not_feature_name"
        else:
            out.append(name)
            continue
        if dropped is not None:
            dropped[name] = DROP_REASONS[reason]
    return out


def _row_name(table: pd.DataFrame, position: int) -> str:
    """How a user finds a table row: the 1-based data row of the table as read (index label + 1)."""
    label = table.index[position]
    return f"row {label + 1}" if isinstance(label, (int, np.integer)) else f"row {label!r}"


def numeric_block(table: pd.DataFrame, columns: Sequence[str], what: str = "feature") -> np.ndarray:
    """``table[columns]`` as floats; text that is not a number or an infinite value is an error naming
    the column and the row (missing values stay NaN: callers decide about them)."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InputError(f"{what} column(s) missing from the table: {missing[:10]}")
    block = np.empty((len(table), len(columns)), dtype=float)
    for j, col in enumerate(columns):
        values = pd.to_numeric(table[col], errors="coerce")
        bad = (values.isna() & table[col].notna()).to_numpy()
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise InputError(f"{what} column {col!r} holds a non-numeric value ({table[col].iloc[pos]!r} in "
                             f"{_row_name(table, pos)}); fix the table")
        block[:, j] = values.to_numpy(dtype=float)
        infinite = np.isinf(block[:, j])
        if infinite.any():
            pos = int(np.flatnonzero(infinite)[0])
            raise InputError(f"{what} column {col!r} holds an infinite value ({block[pos, j]} in "
                             f"{_row_name(table, pos)}; {int(infinite.sum())} case(s) in all): fix the table "
                             "(an infinite feature usually means a failed extraction)")
    return block


def infer_clinical_fields(table: pd.DataFrame, names: Sequence[str],
                          types: Mapping[str, str] | None = None) -> list[dict]:
    """Describe each clinical column from the training cohort.

    Types: ``number`` (continuous), ``integer`` (integer-valued, e.g. BI-RADS category, grade,
    0/1 status), ``choice`` (categories, e.g. molecular subtype). ``types`` forces a type per
    name (use ``choice`` for coded categories such as subtype 1–4).
    """
    types = dict(types or {})
    fields = []
    for name in names:
        if name not in table.columns:
            raise ClinicalDataError(f"clinical column {name!r} not found in the training table")
        col = table[name]
        if col.isna().all():
            raise ClinicalDataError(f"clinical column {name!r} is empty in the training table")
        forced = types.pop(name, None)
        numeric = pd.to_numeric(col, errors="coerce")
        is_numeric = bool(numeric.notna().sum() == col.notna().sum())
        kind = forced or ("choice" if not is_numeric else
                          "integer" if np.all(np.mod(numeric.dropna(), 1) == 0) else "number")
        if kind not in ("number", "integer", "choice"):
            raise ClinicalDataError(f"clinical type {kind!r} for {name!r} unknown; use number, integer or choice")
        field: dict[str, Any] = {"name": str(name), "type": kind, "required": True}
        if kind == "choice":
            levels = sorted({value_key(v) for v in col.dropna()}, key=_level_sort_key)
            if len(levels) < 2:
                raise ClinicalDataError(f"clinical column {name!r} has a single category {levels}; drop it")
            field.update({"values": levels, "reference": levels[0]})
        else:
            if not is_numeric:
                raise ClinicalDataError(f"clinical column {name!r} is not numeric; declare it as choice")
            vals = numeric.dropna()
            field.update({"min": float(vals.min()), "max": float(vals.max())})
            if kind == "integer":
                field.update({"min": int(vals.min()), "max": int(vals.max())})
                levels = sorted({int(v) for v in vals})
                if len(levels) <= MAX_LISTED_LEVELS:
                    field["values"] = levels
        fields.append(field)
    if types:
        raise ClinicalDataError(f"clinical types given for columns that are not clinical fields: {sorted(types)}")
    return fields


def _level_sort_key(level: str):
    try:
        return (0, float(level), level)
    except ValueError:
        return (1, 0.0, level)


def clinical_columns(fields: Sequence[Mapping]) -> list[str]:
    """Names of the model-matrix columns the clinical fields produce."""
    cols = []
    for f in fields:
        if f["type"] == "choice":
            cols += [f"{f['name']}={lev}" for lev in f["values"][1:]]
        else:
            cols.append(f["name"])
    return cols


def encode_clinical(table: pd.DataFrame, fields: Sequence[Mapping]) -> np.ndarray:
    """Clinical fields as numbers (treatment coding for categories); refuses unknown categories,
    text in numeric fields and missing values, naming the field."""
    blocks = []
    for f in fields:
        name = f["name"]
        if name not in table.columns:
            raise ClinicalDataError(f"clinical field {name!r} is missing from the input; the model needs it")
        col = table[name]
        if col.isna().any():
            raise ClinicalDataError(
                f"clinical field {name!r} is missing for {int(col.isna().sum())} case(s); it is required")
        if f["type"] == "choice":
            keys = col.map(value_key)
            unknown = sorted(set(keys) - set(f["values"]))
            if unknown:
                raise ClinicalDataError(
                    f"clinical field {name!r} has value(s) {unknown[:5]} the model does not know; "
                    f"allowed: {f['values']}")
            blocks.append(np.column_stack([(keys == lev).to_numpy(float) for lev in f["values"][1:]]))
        else:
            values = pd.to_numeric(col, errors="coerce")
            if values.isna().any():
                raise ClinicalDataError(
                    f"clinical field {name!r} must be a number (got {col[values.isna()].iloc[0]!r})")
            if np.isinf(values).any():
                raise ClinicalDataError(f"clinical field {name!r} holds an infinite value; fix the table")
            if f["type"] == "integer" and np.any(np.mod(values, 1) != 0):
                raise ClinicalDataError(f"clinical field {name!r} must be a whole number")
            blocks.append(values.to_numpy(float)[:, None])
    if not blocks:
        return np.empty((len(table), 0))
    return np.hstack(blocks)


def display_range(values: np.ndarray) -> tuple[float, float]:
    """Range a nomogram axis covers, as ``rms::nomogram`` draws it: ``pretty()`` of the full training
    range, or the values themselves when there are at most 10 (:func:`alnpredictor.models.nomogram.axis_range`)."""
    from alnpredictor.models.nomogram import axis_range

    return axis_range(values)


def read_table(path: str | Path, what: str = "feature table") -> pd.DataFrame:
    """A CSV (or tab-separated ``.tsv``/``.txt``) table; clear errors for missing/unreadable files."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} not found: {path}")
    sep = "\t" if path.suffix.lower() in (".tsv", ".txt", ".tab") else ","
    try:
        table = pd.read_csv(path, sep=sep)
    except Exception as exc:  # noqa: BLE001 - pandas parser errors vary
        raise InputError(f"cannot read {what} {path}: {exc}") from exc
    if table.empty:
        raise InputError(f"{what} {path} has no rows")
    return table
