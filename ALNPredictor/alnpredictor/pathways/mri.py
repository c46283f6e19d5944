"""The MRI pathway for one patient (Yu et al. 2021 data flow).

contrast T1 + seeds (or masks) → grow-cut of ``tumor`` and ``nodes`` on T1C → rigid registration
of T2WI and ADC to T1C and the ROIs resampled onto each sequence's own grid → N4 → the six
PyRadiomics extractions (ROI ``T``/``L`` × ``T1C``/``T2``/``ADC``) → one feature row.

:func:`process_case` is what the cohort runner calls per manifest row (a plain dict, see
:mod:`alnpredictor.cohort.manifest`); :func:`run_mri_case` is the same chain on in-memory images,
used by the Slicer Logic and the demo.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import SimpleITK as sitk

from alnpredictor.errors import InputError

ROI_OF = {"tumor": "T", "nodes": "L"}
MOVING = ("T2", "ADC")


@dataclass
class MRICaseResult:
    """Features of one patient plus what a reviewer needs to trust them."""

    features: dict[str, float]
    masks: dict[tuple[str, str], sitk.Image]  # (ROI, SEQ) → mask on that sequence's grid
    quality: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def segment_reference(
    reference: sitk.Image,
    seeds_ras: Mapping[str, Sequence[Sequence[float]]],
    background_ras: Sequence[Sequence[float]] | None = None,
    *,
    smoothing_mm: float = 0.0,
) -> tuple[dict[str, sitk.Image], dict[str, Any]]:
    """Grow-cut the structures that have seeds; returns masks by structure and a summary."""
    from alnpredictor.imaging.segment import segment_structures

    seeds = {name: pts for name, pts in seeds_ras.items() if pts}
    if not seeds:
        return {}, {}
    result = segment_structures(reference, seeds, background_ras or None, smoothing_mm=smoothing_mm)
    return dict(result.masks), result.summary()


def propagate_rois(
    reference: sitk.Image,
    moving: Mapping[str, sitk.Image],
    ref_masks: Mapping[str, sitk.Image],
    *,
    register: bool = True,
) -> tuple[dict[tuple[str, str], sitk.Image], dict[str, Any]]:
    """Masks on each moving sequence's grid (registered to the reference) and their quality."""
    from alnpredictor.imaging.propagate import propagate_masks

    out: dict[tuple[str, str], sitk.Image] = {}
    quality: dict[str, Any] = {}
    for seq, image in moving.items():
        res = propagate_masks(reference, image, dict(ref_masks), register=register)
        for structure, mask in res.masks.items():
            out[(ROI_OF[structure], seq)] = mask
        quality[seq] = res.summary()
    return out, quality


def run_mri_case(
    images: Mapping[str, sitk.Image],
    *,
    ref_masks: Mapping[str, sitk.Image] | None = None,
    seeds_ras: Mapping[str, Sequence[Sequence[float]]] | None = None,
    background_ras: Sequence[Sequence[float]] | None = None,
    explicit_masks: Mapping[tuple[str, str], sitk.Image] | None = None,
    params: Any = "mri-yu2021",
    register: bool = True,
    n4: bool = True,
    n4_iterations: Sequence[int] | None = None,
    cache_dir: str | None = None,
    workers: int | None = 1,
    smoothing_mm: float = 0.0,
    on_roi_error: str = "raise",
) -> MRICaseResult:
    """The whole MRI chain on in-memory images (``{"T1C", "T2", "ADC"}`` → features).

    Structures with a mask in ``ref_masks`` (on T1C) are used as given; the others are grown from
    ``seeds_ras``. ``explicit_masks[(ROI, SEQ)]`` replaces propagation for that pair.
    ``n4_iterations`` overrides the N4 fitting schedule (default: ``imaging.preprocess.N4Settings``).
    """
    from alnpredictor.features.radiomics import extract_case

    missing = [s for s in ("T1C", *MOVING) if s not in images]
    if missing:
        raise InputError(f"MRI study lacks sequence(s) {missing}: load contrast T1, T2WI and ADC")
    reference = images["T1C"]
    masks_ref = dict(ref_masks or {})
    todo = {k: v for k, v in (seeds_ras or {}).items() if k not in masks_ref}
    quality: dict[str, Any] = {}
    grown, seg_summary = segment_reference(reference, todo, background_ras, smoothing_mm=smoothing_mm)
    masks_ref.update(grown)
    if seg_summary:
        quality["segmentation"] = seg_summary
    for structure in ROI_OF:
        if structure not in masks_ref:
            raise InputError(f"no {structure} ROI: give a mask_{structure} or seeds_{structure}")
    masks: dict[tuple[str, str], sitk.Image] = {(ROI_OF[s], "T1C"): m for s, m in masks_ref.items() if s in ROI_OF}
    explicit = dict(explicit_masks or {})
    to_move = {seq: images[seq] for seq in MOVING}
    propagated, reg_quality = propagate_rois(reference, to_move, {s: masks_ref[s] for s in ROI_OF}, register=register)
    quality["registration"] = reg_quality
    for key, mask in propagated.items():
        masks[key] = explicit.get(key, mask)
    n4_step: Any = n4
    if n4 and n4_iterations:
        from alnpredictor.imaging.preprocess import N4Settings, n4_correct

        n4_step = partial(n4_correct, cache_dir=cache_dir, settings=N4Settings(iterations=tuple(n4_iterations)))
    feats = extract_case(images, masks, params, workers=workers, n4=n4_step, n4_cache_dir=cache_dir,
                         on_roi_error=on_roi_error)
    return MRICaseResult(feats.features, masks, quality, feats.provenance, feats.errors)


def process_case(case: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """Cohort-runner entry point: one manifest row (dict) → JSON-ready result."""
    from alnpredictor.imaging.io import read_mask, read_volume

    images = {seq: read_volume(path) for seq, path in case["images"].items()}
    if "T1C" not in images:
        raise InputError("MRI case without image_T1C")
    labels = case.get("labels") or {}
    # Empty masks are read as they are: extract_case names the ROI and applies on_roi_error.
    ref_masks = {s: read_mask(case["masks"][s], reference=images["T1C"], label=labels.get(ROI_OF[s]), allow_empty=True)
                 for s in ROI_OF if s in case.get("masks", {})}
    explicit = {}
    for key, path in case.get("masks", {}).items():
        if key in ROI_OF:
            continue
        roi, seq = key.split("_", 1)
        explicit[(roi, seq)] = read_mask(path, reference=images[seq], label=labels.get(roi), allow_empty=True)
    seeds = case.get("seeds", {})
    result = run_mri_case(
        images,
        ref_masks=ref_masks,
        seeds_ras={k: v for k, v in seeds.items() if k in ROI_OF},
        background_ras=seeds.get("background"),
        explicit_masks=explicit,
        params=settings.get("params", "mri-yu2021"),
        register=bool(settings.get("register", True)),
        n4=bool(settings.get("n4", True)),
        n4_iterations=settings.get("n4_iterations"),
        cache_dir=settings.get("cache_dir"),
        workers=int(settings.get("extract_workers", 1)),
        smoothing_mm=float(settings.get("smoothing_mm", 0.0)),
        on_roi_error=str(settings.get("on_roi_error", "raise")),
    )
    return {
        "features": result.features,
        "clinical": dict(case.get("clinical", {})),
        "quality": result.quality,
        "provenance": result.provenance,
        "errors": result.errors,
    }
