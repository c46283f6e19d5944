"""Pathways: THE orchestration of one patient's work — the only place it is assembled.

Every front door (Slicer Logic, CLI, cohort runner, demo) is a thin adapter over a pathway. Both
pathways expose the same verbs:

* ``run_case(...)`` — in-memory images (+ masks or prompts) → a case result (features, masks, quality);
* ``process_case(case, settings)`` — one manifest case → JSON-ready record (the cohort runner's
  per-case function; ``extract --case-dir`` is a one-row manifest through it);
* ``load_model(path)`` — a model bundle checked to be for this pathway's features;
* ``predict(model, features, clinical)`` — clinical checks, probability, class, points.

``mri``: contrast T1 + T2WI + ADC → grow-cut → propagation → N4 → PyRadiomics (Yu et al. 2021).
``us``: one ultrasound frame → grow-cut → ResNet50 deep + handcrafted features (Liu et al. 2024).

:data:`PATHWAYS` is the one table of them; the runner is given the per-case function by the caller
and imports no pathway itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from alnpredictor.errors import InputError
from alnpredictor.pathways import mri, us
from alnpredictor.settings import MRISettings, USSettings


@dataclass(frozen=True)
class Pathway:
    """One pathway's verbs and its settings type."""

    name: str
    description: str
    settings: type
    run_case: Callable[..., Any]
    process_case: Callable[[dict[str, Any], Any], dict[str, Any]]
    load_model: Callable[[Any], Any]
    predict: Callable[..., Any]


PATHWAYS: dict[str, Pathway] = {
    "mri": Pathway("mri", "breast MRI: contrast T1, T2WI, ADC (Yu et al. 2021)", MRISettings,
                   mri.run_case, mri.process_case, mri.load_model, mri.predict),
    "us": Pathway("us", "breast ultrasound: one frame (Liu et al. 2024)", USSettings,
                  us.run_case, us.process_case, us.load_model, us.predict),
}


def get_pathway(name: str) -> Pathway:
    """The pathway called ``name`` (``mri`` or ``us``); a clear error otherwise."""
    try:
        return PATHWAYS[name]
    except KeyError:
        raise InputError(f"unknown pathway {name!r}; choose one of {', '.join(PATHWAYS)}") from None
