"""Published linear signatures: a coefficient table (``feature,coefficient``, optional intercept
row) turned into a model that scores a feature table like the paper's signature does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from alnpredictor.errors import InputError
from alnpredictor.models.fitted import INTENDED_USE, RESEARCH_USE, SCHEMA, SCHEMA_VERSION, FittedModel

#: Names (case-insensitive) of the intercept row in a coefficient table.
INTERCEPT_NAMES = {"(intercept)", "intercept", "const", "constant", "(const)", "bias"}
_FEATURE_COLS = ("feature", "name", "variable", "term")
_COEF_COLS = ("coefficient", "coef", "beta", "estimate", "weight")


def read_coefficient_table(path: str | Path) -> tuple[list[str], list[float], float | None]:
    """Features, coefficients and intercept (None if absent) from a coefficient CSV."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"signature coefficient table not found: {path}")
    try:
        table = pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001 - pandas raises many parser errors
        raise InputError(f"cannot read signature table {path}: {exc}") from exc
    lower = {str(c).strip().lower(): c for c in table.columns}
    fcol = next((lower[c] for c in _FEATURE_COLS if c in lower), None)
    ccol = next((lower[c] for c in _COEF_COLS if c in lower), None)
    if fcol is None or ccol is None:
        raise InputError(
            f"signature table {path.name} needs columns 'feature' and 'coefficient' (found {list(table.columns)})")
    names = table[fcol].astype(str).str.strip()
    coefs = pd.to_numeric(table[ccol], errors="coerce")
    if coefs.isna().any():
        bad = names[coefs.isna()].tolist()[:5]
        raise InputError(f"signature table {path.name}: non-numeric coefficient(s) for {bad}")
    is_icpt = names.str.lower().isin(INTERCEPT_NAMES)
    if is_icpt.sum() > 1:
        raise InputError(f"signature table {path.name} has {int(is_icpt.sum())} intercept rows; keep one")
    intercept = float(coefs[is_icpt].iloc[0]) if is_icpt.any() else None
    feats, vals = names[~is_icpt].tolist(), coefs[~is_icpt].astype(float).tolist()
    dup = sorted({f for f in feats if feats.count(f) > 1})
    if dup:
        raise InputError(f"signature table {path.name} lists feature(s) more than once: {dup[:5]}")
    if not feats:
        raise InputError(f"signature table {path.name} has no feature rows")
    if not np.all(np.isfinite(vals)):
        raise InputError(f"signature table {path.name} has infinite coefficients")
    return feats, vals, intercept


def signature_spec(features: list[str], coefficients: list[float], intercept: float | None, name: str) -> dict:
    """The model spec of a fixed linear signature (no training cohort)."""
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "name": name,
        "recipe": "linear-signature",
        "created": None,
        "intended_use": INTENDED_USE,
        "research_use": RESEARCH_USE,
        "label": None,
        "inputs": {"features": list(features), "clinical": []},
        "signature": None,
        "design": list(features),
        "predictor": {"kind": "linear", "intercept": float(intercept or 0.0),
                      "coefficients": [float(c) for c in coefficients], "covariance": None},
        "has_intercept": intercept is not None,
        "cutoff": None,
        "training": None,
        "metrics": None,
        "feature_stats": {},
        "points": None,
        "details": {"source": "published coefficient table"},
    }


def load_signature(path: str | Path, name: str | None = None) -> FittedModel:
    """A published signature from its coefficient table, ready for ``validate``/``predict``.

    It has no training cohort: no cut-off, no training statistics (train it with the
    ``linear-signature`` recipe on a cohort to add them)."""
    feats, coefs, icpt = read_coefficient_table(path)
    return FittedModel(signature_spec(feats, coefs, icpt, name or Path(path).stem))
