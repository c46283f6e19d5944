"""The segmenter seam: what every segmentation engine takes, returns and records.

A segmenter (grow-cut today; a random walker or a deep interactive model later) is one class with
a ``name``, a ``version``, the kinds of prompt it handles and one method,
``segment(image, prompts) -> SegmentationResult`` (:class:`Segmenter`). Engines are listed in
:data:`alnpredictor.imaging.segment.SEGMENTERS` and built by
:func:`alnpredictor.imaging.segment.get_segmenter`. Callers — the Slicer Logic, the CLI, the
pathways — depend on this module and :mod:`alnpredictor.imaging.prompts` only, never on an
engine's internals.

Every result carries :class:`Provenance`: the engine's registry name, the build that ran and
its settings, so a result can be traced and reproduced (``get_segmenter(p.engine,
**p.settings)``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import SimpleITK as sitk

from alnpredictor.errors import SegmentationError
from alnpredictor.imaging.prompts import Prompts


def mask_size(mask: sitk.Image) -> dict[str, Any]:
    """``voxels`` and ``volume_ml`` (voxels × voxel volume, 4 decimals) of a binary mask: the figures
    every summary, report and DICOM SR gives for a structure."""
    voxels = int(np.count_nonzero(sitk.GetArrayViewFromImage(mask)))
    return {"voxels": voxels, "volume_ml": round(voxels * float(np.prod(mask.GetSpacing())) / 1000.0, 4)}

__all__ = ["Segmenter", "SegmentationResult", "Provenance", "SegmentationLeakError", "ClickRefusedError",
           "NEXT_ACTION"]

#: What the user is told to do when a click alone does not determine the lesion (the Slicer
#: panel then switches to the caliper line).
NEXT_ACTION = "draw the caliper line across the lesion"


class SegmentationLeakError(SegmentationError):
    """A seed is not on a distinct structure, or the result grew into the whole region."""


class ClickRefusedError(SegmentationLeakError):
    """A click alone did not determine the structure; the message ends with :data:`NEXT_ACTION`.

    ``next_action`` is ``"caliper"``: the front end offers the caliper line next."""

    next_action = "caliper"


@dataclass(frozen=True)
class Provenance:
    """Which engine produced a result: registry name, build, settings (JSON-ready)."""

    engine: str
    engine_version: str
    settings: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def as_record(self) -> dict:
        """A plain dict for run.json / report provenance."""
        return {"engine": self.engine, "engine_version": self.engine_version, "settings": dict(self.settings)}


@dataclass
class SegmentationResult:
    """Masks per structure on the image grid, plus what was used to get them."""

    masks: dict[str, sitk.Image]
    background_ras: np.ndarray  # (n, 3) background seeds used (auto-placed or given), RAS mm
    seconds: float
    auto_background: bool = True
    seeds_ras: dict[str, np.ndarray] = field(default_factory=dict)
    details: dict[str, dict] = field(default_factory=dict)  # per structure: levels, radii
    warnings: list[str] = field(default_factory=list)
    provenance: Provenance | None = None

    def summary(self) -> dict:
        """JSON-ready summary: voxels and volume (ml) per structure, seconds, background mode."""
        out: dict = {"seconds": round(self.seconds, 3), "auto_background": self.auto_background,
                     "n_background_seeds": int(len(self.background_ras)), "structures": {},
                     "warnings": list(self.warnings)}
        for name, mask in self.masks.items():
            out["structures"][name] = {**mask_size(mask), "seeds": int(len(self.seeds_ras.get(name, ())))}
        return out


@runtime_checkable
class Segmenter(Protocol):
    """One segmentation engine behind the seam.

    ``name`` is its key in the registry; ``version`` the build that runs (recorded in
    provenance); ``prompt_kinds`` the :class:`~alnpredictor.imaging.prompts.Prompts` fields it
    handles — it refuses the others (``prompts.require(self.prompt_kinds, self.name)``).
    ``segment`` returns uint8 masks on the image's grid, one per prompted structure, each voxel
    in at most one structure, with :class:`Provenance`.
    """

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def prompt_kinds(self) -> frozenset[str]: ...

    def segment(self, image: sitk.Image, prompts: Prompts) -> SegmentationResult: ...
