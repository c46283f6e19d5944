"""Turning a label column into metastasis yes/no (1/0) without guessing.

The positive value (the one meaning "axillary lymph node metastasis") is given explicitly;
labels such as ``R``/``N`` or ``pN+``/``pN0`` need it. Values are matched exactly, then as text
(so ``--positive 1`` on the command line matches the integer 1 and the float 1.0).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from alnpredictor.errors import InputError


def value_key(value: Any) -> str:
    """Text form used to compare label / category values (1, 1.0 and '1' are the same)."""
    if isinstance(value, (bool, np.bool_)):
        return str(int(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else repr(number)


def binary_labels(table: pd.DataFrame, column: str, positive: Any = 1) -> np.ndarray:
    """0/1 labels (1 = ``positive``) from ``table[column]``; refuses missing or ambiguous labels."""
    if column not in table.columns:
        raise InputError(
            f"label column {column!r} not found in the table (columns start with "
            f"{list(table.columns[:6])}); pass the right --label"
        )
    series = table[column]
    if series.isna().any():
        raise InputError(
            f"label column {column!r} has {int(series.isna().sum())} missing value(s); "
            "remove those cases or fill in the outcome"
        )
    keys = series.map(value_key)
    levels = sorted(keys.unique())
    pos = value_key(positive)
    if pos not in levels:
        raise InputError(
            f"positive value {positive!r} does not occur in label column {column!r} (values: {levels[:10]}); "
            "pass --positive with the value that means metastasis"
        )
    if len(levels) > 2:
        raise InputError(
            f"label column {column!r} has {len(levels)} distinct values ({levels[:10]}); it must be binary"
        )
    if len(levels) < 2:
        raise InputError(f"label column {column!r} has only the value {levels[0]!r}; both classes are needed")
    return (keys == pos).to_numpy(dtype=int)


def parse_label_value(text: str | None) -> Any:
    """A label value typed on the command line: ``"1"`` → 1, ``"0.5"`` → 0.5, ``"R"`` → "R"."""
    if text is None:
        return None
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() else number
