"""One JSON-safe conversion for every file the package writes (bundles, reports, provenance, run.json)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from pathlib import PurePath
from typing import Any

import numpy as np


def json_safe(obj: Any) -> Any:
    """A copy that ``json.dumps(..., allow_nan=False)`` accepts.

    Mappings → dicts with string keys, tuples/lists/arrays → lists, numpy scalars → Python numbers,
    NaN/±inf → None, paths → strings, objects with a ``to_dict()`` (e.g. ``Prediction``) → their
    stored form, other dataclasses → dicts; anything else → ``str(obj)``.
    """
    if callable(getattr(obj, "to_dict", None)) and not isinstance(obj, type):
        return json_safe(obj.to_dict())
    if is_dataclass(obj) and not isinstance(obj, type):
        return json_safe(asdict(obj))
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if obj is None or isinstance(obj, (int, str)):
        return obj
    if isinstance(obj, PurePath):
        return str(obj)
    return str(obj)
