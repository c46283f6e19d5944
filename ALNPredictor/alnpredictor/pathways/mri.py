"""The MRI pathway for one patient (Yu et al. 2021 data flow) — the one place it is assembled.

contrast T1 (the reference) + seeds or masks → grow-cut of ``tumor`` and ``nodes`` on the
reference → rigid registration of every other sequence (T2WI, ADC, any sequence registered in
:mod:`alnpredictor.study`) to the reference and the ROIs resampled onto its own grid → N4 →
PyRadiomics per ROI×sequence → one feature row ``{ROI}{SEQ}_{name}``.

Verbs (the same as :mod:`alnpredictor.pathways.us`):

* :func:`run_case` — in-memory images (and masks/seeds) → :class:`MRICaseResult`; the Slicer Logic
  calls it with the scene's volumes, its segments and any hand-corrected propagated segments;
* :func:`process_case` — one manifest case (``Case.to_dict()``) → JSON-ready record: what the cohort
  runner calls per row, and what ``extract --case-dir`` calls on a one-row manifest;
* :func:`load_model` / :func:`predict` — a model bundle and the clinical checks + prediction.

Every front door passes :class:`~alnpredictor.settings.MRISettings` and gets bit-identical features
for the same inputs (the library thread count is pinned per case, see :mod:`alnpredictor.runtime`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import SimpleITK as sitk

from alnpredictor import study
from alnpredictor.errors import InputError
from alnpredictor.runtime import library_threads
from alnpredictor.settings import MRISettings, as_record

Points = Sequence[Sequence[float]]
Progress = Callable[[float, str], None]


@dataclass
class MRICaseResult:
    """Features of one patient plus what a reviewer needs to trust them.

    :ivar features: ``{ROI}{SEQ}_{name}`` → value, blocks in study order (NaN blocks recorded in ``errors``).
    :ivar masks: (ROI, SEQ) → the mask used, on that sequence's grid.
    :ivar quality: ``segmentation`` summary, ``registration`` per moving sequence.
    :ivar provenance: parameter file, versions, N4, settings.
    :ivar errors: block (``TT2``) → why it is NaN.
    :ivar diagnostics: block → PyRadiomics diagnostics.
    """

    features: dict[str, float]
    masks: dict[tuple[str, str], sitk.Image]
    quality: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    diagnostics: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0


def _report(progress: Progress | None, fraction: float, message: str) -> None:
    if progress is not None:
        progress(fraction, message)


def segment_reference(
    reference: sitk.Image,
    seeds_ras: Mapping[str, Points],
    background_ras: Points | None = None,
    settings: MRISettings | None = None,
    **options: Any,
) -> tuple[dict[str, sitk.Image], dict[str, Any]]:
    """Segment the structures that have seeds on the reference with the settings' segmenter
    (grow-cut by default; ``options`` are further segmenter settings, e.g. ``skip_bad_seeds``);
    masks by structure and a summary that names the engine and its version."""
    from alnpredictor.imaging.segment import Prompts, get_segmenter

    settings = settings or MRISettings()
    seeds = {name: pts for name, pts in seeds_ras.items() if pts is not None and len(pts)}
    if not seeds:
        return {}, {}
    background = background_ras if background_ras is not None and len(background_ras) else None
    with library_threads(settings.threads):
        result = get_segmenter(settings.segmenter, **{"smoothing_mm": settings.smoothing_mm, **options}).segment(
            reference, Prompts(seeds, background=background))
    return dict(result.masks), {**result.summary(), **result.provenance.as_record()}


def propagate(
    reference: sitk.Image,
    moving: Mapping[str, sitk.Image],
    ref_masks: Mapping[str, sitk.Image],
    settings: MRISettings | None = None,
) -> tuple[dict[tuple[str, str], sitk.Image], dict[str, Any]]:
    """The reference ROIs on each moving sequence's grid (registered unless ``settings.register``
    is off) and the registration quality per sequence."""
    from alnpredictor.imaging.propagate import propagate_masks

    settings = settings or MRISettings()
    out: dict[tuple[str, str], sitk.Image] = {}
    quality: dict[str, Any] = {}
    with library_threads(settings.threads):
        for seq, image in moving.items():
            res = propagate_masks(reference, image, dict(ref_masks), register=settings.register)
            for name, mask in res.masks.items():
                out[(study.roi_code(name), seq)] = mask
            quality[seq] = res.summary()
    return out, quality


def run_case(
    images: Mapping[str, sitk.Image],
    settings: MRISettings | None = None,
    *,
    masks: Mapping[str, sitk.Image] | None = None,
    seeds_ras: Mapping[str, Points] | None = None,
    background_ras: Points | None = None,
    explicit_masks: Mapping[tuple[str, str], sitk.Image] | None = None,
    progress: Progress | None = None,
) -> MRICaseResult:
    """The whole MRI chain on in-memory images (sequence code → image; the reference must be there).

    :param masks: structure → mask on the reference grid, used as given.
    :param seeds_ras: structure → seed points (RAS mm) for the structures without a mask (grow-cut).
    :param background_ras: background seed points (placed automatically when None).
    :param explicit_masks: (ROI, SEQ) → mask on that sequence's grid, replacing propagation for
        that pair (e.g. a propagated segment the radiologist corrected by hand).
    """
    t0 = time.perf_counter()
    settings = settings or MRISettings()  # built now: it reads the vocabulary's current sequences
    sequences = settings.sequences
    missing = [s for s in sequences if s not in images]
    if missing:
        raise InputError("MRI study lacks sequence(s) " + ", ".join(f"{s} ({study.sequence_description(s)})"
                                                                 for s in missing) + ": load them first")
    ref_code = sequences[0]
    reference = images[ref_code]
    masks_ref = {k: v for k, v in (masks or {}).items() if k in settings.structures}
    quality: dict[str, Any] = {}
    errors: dict[str, str] = {}
    todo = {k: v for k, v in (seeds_ras or {}).items() if k in settings.structures and k not in masks_ref}
    if todo:
        _report(progress, 0.05, "segmenting " + ", ".join(todo))
    grown, seg_summary = segment_reference(reference, todo, background_ras, settings)
    masks_ref.update(grown)
    if seg_summary:
        quality["segmentation"] = seg_summary
    for name in settings.structures:
        if name not in masks_ref:
            message = f"no {name} ROI: give a mask_{name} or seeds_{name}"
            if settings.on_roi_error == "raise":
                raise InputError(message)
            errors.update({study.block_name(study.roi_code(name), s): message for s in sequences})
    used: dict[tuple[str, str], sitk.Image] = {(study.roi_code(s), ref_code): m for s, m in masks_ref.items()}
    explicit = {k: v for k, v in (explicit_masks or {}).items() if k[1] in sequences}
    to_move = {seq: images[seq] for seq in sequences[1:]
               if any((study.roi_code(s), seq) not in explicit for s in masks_ref)}
    if to_move and masks_ref:
        _report(progress, 0.15, "propagating the ROIs to " + ", ".join(to_move))
        propagated, quality["registration"] = propagate(reference, to_move, masks_ref, settings)
        used.update(propagated)
    used.update(explicit)
    _report(progress, 0.35, f"N4 and {len(used)} PyRadiomics extractions")
    feats = _extract(images, used, settings) if used else None
    features, diagnostics, provenance = _rows(feats, settings, errors)
    provenance["settings"] = as_record(settings)
    _report(progress, 0.85, "features extracted")
    return MRICaseResult(features, used, quality, provenance, errors, diagnostics, time.perf_counter() - t0)


def _extract(images: Mapping[str, sitk.Image], masks: Mapping[tuple[str, str], sitk.Image], settings: MRISettings):
    from alnpredictor.features.radiomics import extract_case

    n4_step: Any = settings.n4
    if settings.n4 and settings.n4_iterations:
        from alnpredictor.imaging.preprocess import N4Settings, n4_correct

        n4_step = partial(n4_correct, cache_dir=settings.cache_dir,
                          settings=N4Settings(iterations=tuple(settings.n4_iterations)))
    with library_threads(settings.threads):
        return extract_case(images, masks, settings.params, workers=settings.extract_workers, n4=n4_step,
                            n4_cache_dir=settings.cache_dir, diagnostics=settings.diagnostics,
                            allow_border=settings.allow_border, on_roi_error=settings.on_roi_error)


def _rows(feats, settings: MRISettings, errors: dict[str, str]):
    """Features in study order with a NaN block for every ROI×sequence that has no mask."""
    from alnpredictor.features.radiomics import feature_names, load_params

    got = feats.features if feats is not None else {}
    if feats is not None:
        errors.update(feats.errors)
    features: dict[str, float] = {}
    template: list[str] | None = None
    for name in settings.structures:
        roi = study.roi_code(name)
        for seq in settings.sequences:
            block = study.block_name(roi, seq)
            names = [k for k in got if k.startswith(block + "_")]
            if names:
                features.update({k: got[k] for k in names})
                continue
            if template is None:
                template = feature_names(load_params(settings.params))
            features.update({study.feature_name(roi, seq, n): math.nan for n in template})
            errors.setdefault(block, "no mask for this ROI and sequence")
    provenance = dict(feats.provenance) if feats is not None else dict(load_params(settings.params).provenance())
    return features, (feats.diagnostics if feats is not None else {}), provenance


def read_case(case: Mapping[str, Any], settings: MRISettings) -> dict[str, Any]:
    """Read a manifest case's files: images, reference masks, explicit (ROI, SEQ) masks, seeds.

    Returns the keyword arguments of :func:`run_case` (``images``, ``masks``, ``seeds_ras``,
    ``background_ras``, ``explicit_masks``). Empty masks are read as they are: the extraction names
    the ROI and applies ``on_roi_error``.
    """
    from alnpredictor.imaging.io import read_mask, read_volume

    sequences = settings.sequences
    paths = case.get("images", {})
    ref_code = sequences[0]
    if ref_code not in paths:
        raise InputError(f"MRI case without image_{ref_code} ({study.sequence_description(ref_code)})")
    images = {seq: read_volume(paths[seq]) for seq in sequences if seq in paths}
    labels = case.get("labels") or {}
    mask_paths = case.get("masks", {})
    masks = {s: read_mask(mask_paths[s], reference=images[ref_code], label=labels.get(study.roi_code(s)),
                          allow_empty=True)
             for s in settings.structures if s in mask_paths}
    explicit = {}
    for key, path in mask_paths.items():
        if key in study.structure_names():
            continue
        roi, seq = key.split("_", 1)
        if seq in images and study.structure_of_roi(roi) in settings.structures:
            explicit[(roi, seq)] = read_mask(path, reference=images[seq], label=labels.get(roi), allow_empty=True)
    seeds = case.get("seeds", {})
    return {"images": images, "masks": masks,
            "seeds_ras": {k: v for k, v in seeds.items() if k in settings.structures},
            "background_ras": seeds.get("background"), "explicit_masks": explicit}


def process_case(case: Mapping[str, Any], settings: MRISettings) -> dict[str, Any]:
    """Cohort-runner entry point: one manifest case (dict) → JSON-ready record."""
    result = run_case(settings=settings, **read_case(case, settings))
    return {
        "features": result.features,
        "clinical": dict(case.get("clinical", {})),
        "quality": result.quality,
        "provenance": result.provenance,
        "errors": result.errors,
        "diagnostics": result.diagnostics,
        "seconds": round(result.seconds, 3),
    }


def load_model(path: str | Path):
    """A model bundle for MRI features (refuses tampered, unknown-schema or other-pathway bundles)."""
    from alnpredictor.models import load_bundle

    model = load_bundle(path)
    foreign = [f for f in model.features if study.is_us_feature(f)]
    if foreign:
        raise InputError(f"model '{model.name}' ({path}) was trained on ultrasound features (e.g. {foreign[0]}); "
                         "choose an MRI model, or the Ultrasound pathway")
    return model


def predict(model: Any, features: Mapping[str, float], clinical: Mapping[str, Any] | None = None):
    """Clinical values checked against the model's fields (every problem at once), then the
    probability, class at the model's cut-off and points per predictor (a ``Prediction``; the range
    warnings of the clinical values are in its context, ``clinical_warnings``)."""
    from alnpredictor.models.clinical import predict_checked

    return predict_checked(model, features, clinical,
                           produced_by="this MRI study (ROIs, sequences, parameter file)")
