"""Seeded segmentation of the tumor and the axillary nodes: one click per structure.

**Entry points.** A segmenter is chosen by name and given :class:`Prompts` (RAS mm)::

    from alnpredictor.imaging.segment import Prompts, get_segmenter

    result = get_segmenter("grow-cut", smoothing_mm=1.0).segment(image, Prompts({"tumor": [[-12.5, 40, 3]]}))
    result.masks["tumor"], result.summary(), result.provenance.as_record()

The seam (:class:`~alnpredictor.imaging.segmentation.Segmenter`, :class:`SegmentationResult`,
:class:`Provenance`) is :mod:`alnpredictor.imaging.segmentation`; the prompts are
:mod:`alnpredictor.imaging.prompts`; :data:`SEGMENTERS` lists the engines. :func:`segment_structures`
and :func:`segment` are the earlier call shapes, kept as thin wrappers over grow-cut.

**Grow-cut** (:class:`GrowCutSegmenter`, options in :class:`GrowCutSettings`) is Slicer's own
filter (:mod:`alnpredictor.imaging.growcut`), so the Slicer panel and headless runs agree.
Caliper lines, boxes, correction clicks and one click on a 2-D (ultrasound) frame are turned into
seeds by the rules of :mod:`alnpredictor.imaging.prompted` (``docs/segmentation.md``); a click that
does not determine the lesion raises :class:`ClickRefusedError`, whose message ends with what to
do next (draw the caliper line). What this module adds for clicks on 3-D images:

**Automatic background** when the user gives no background points: background and core seeds
placed from the half-maximum edge around each click (:mod:`alnpredictor.imaging.background`
states the rules).

**One grow-cut for all structures.** Every structure gets its own label in a single run, so
each voxel belongs to exactly one structure: one segment never overwrites another.

**Post-processing** per structure: keep the connected components that contain a seed of
that structure (several node seeds can give several nodes in one ``nodes`` segment), fill
holes, optionally smooth (Gaussian of ``smoothing_mm`` on the mask). Post-processing may only
add voxels grow-cut gave to background, never voxels of another structure. In automatic mode a
structure stays within its estimated extent plus the gap.

**Checks**, each with a named error that says what to do: a seed outside the image
(:class:`SeedOutsideImageError`); a seed that is not on a distinct structure (automatic
background, see :mod:`alnpredictor.imaging.background`) or, with user-given background, a
result filling more than ``max_fraction`` of the region searched (:class:`SegmentationLeakError`);
an image that is not a 2-D or 3-D scalar image
(:class:`~alnpredictor.imaging.io.ImageDimensionError`); a bad setting
(:class:`~alnpredictor.errors.InputError` from :class:`GrowCutSettings`).
"""

from __future__ import annotations

import logging
import math
import numbers
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from alnpredictor.errors import InputError
from alnpredictor.imaging.background import AutoBackground
from alnpredictor.imaging.coords import VoxelGrid, ras_lps
from alnpredictor.imaging.growcut import engine_version, grow_cut, grow_cut_box
from alnpredictor.imaging.io import ImageDimensionError, check_not_constant, check_voxels, ensure_3d_scalar
from alnpredictor.imaging.prompted import fill_holes as fill_holes_3d_and_slices
from alnpredictor.imaging.prompted import segment_click_2d, segment_prompted
from alnpredictor.imaging.prompts import (
    Correction,
    Prompts,
    SeedOutsideImageError,
    UnsupportedPromptError,
    prompt_indices,
)
from alnpredictor.imaging.segmentation import (
    ClickRefusedError,
    Provenance,
    SegmentationLeakError,
    SegmentationResult,
    Segmenter,
)

log = logging.getLogger(__name__)

__all__ = [
    "Prompts",
    "Correction",
    "Segmenter",
    "SegmentationResult",
    "Provenance",
    "GrowCutSettings",
    "GrowCutSegmenter",
    "SEGMENTERS",
    "get_segmenter",
    "SeedOutsideImageError",
    "SegmentationLeakError",
    "ClickRefusedError",
    "UnsupportedPromptError",
    "ImageDimensionError",
    "segment_structures",
    "segment",
]


# --------------------------------------------------------------------------------------------
# grow-cut settings
# --------------------------------------------------------------------------------------------
def _number(settings: object, name: str, *, low: float, high: float = math.inf, low_open: bool = False,
            optional: bool = False) -> None:
    value = getattr(settings, name)
    if optional and value is None:
        return
    ok = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and value <= high
    if not ok:
        bounds = f"{'>' if low_open else '≥'} {low:g}" + (f" and ≤ {high:g}" if math.isfinite(high) else "")
        raise InputError(f"grow-cut setting {name} must be a finite number {bounds}"
                         f"{' or None' if optional else ''} (got {value!r})")
    object.__setattr__(settings, name, float(value))


def _flag(settings: object, name: str) -> None:
    value = getattr(settings, name)
    if not isinstance(value, (bool, np.bool_)):
        raise InputError(f"grow-cut setting {name} must be True or False (got {value!r})")
    object.__setattr__(settings, name, bool(value))


def _choice(settings: object, name: str, allowed: tuple[str, ...]) -> None:
    value = getattr(settings, name)
    if value not in allowed:
        raise InputError(f"grow-cut setting {name} must be one of {', '.join(allowed)} (got {value!r})")


@dataclass(frozen=True)
class GrowCutSettings:
    """Options of :class:`GrowCutSegmenter` — one definition of every default.

    :param smoothing_mm: Gaussian smoothing (sigma, mm) of each final mask (0 = off).
    :param distance_penalty: grow-cut "seed locality" (intensity units per mm; Slicer's
        default 0).
    :param fill_holes: fill enclosed holes in each structure.
    :param max_radius_mm: how far from a seed the automatic background search looks; in
        automatic mode a structure cannot extend further than this from its seeds.
    :param max_elongation: a ray's edge may lie at most this many times the median edge
        distance from the seed (longer bright runs are attached vessels/ducts); at least 1.
    :param min_gap_mm: minimum margin between the estimated edge and the background seeds.
    :param profile_sigma_mm: smoothing of the image used for the edge estimate (default
        ``None``: one in-plane voxel, at least 0.5 mm).
    :param min_cnr: minimum seed-to-surroundings contrast, in units of the image noise.
    :param min_contrast: minimum contrast as a fraction of the surroundings' level.
    :param min_enclosed: minimum fraction (0..1) of directions in which background is reached.
    :param max_fraction: with given background seeds: a structure filling more than this
        fraction (0..1] of the region searched is a leak.
    :param skip_bad_seeds: drop (with a warning in ``result.warnings``) an automatic-mode seed
        that is not on a distinct structure instead of failing, as long as its structure keeps
        at least one seed — for batch runs on many cases.
    :param prefilter: speckle-reducing filter before grow-cut from lines, boxes and 2-D clicks:
        ``bilateral`` (default), ``gaussian`` or ``none`` (:mod:`alnpredictor.imaging.prompted`).
    :param range_fraction: the bilateral filter's range sigma, as a fraction of the crop's
        interquartile intensity range.
    :param line_core: the centred fraction of a caliper line whose voxels are foreground seeds.
    :param line_background: background lies beyond this many line lengths from the line's midpoint.
    :param box_core: foreground seeds fill the box's inscribed ellipse scaled by this fraction.
    :param working_pixels: a line or box spans at most this many voxels of the working grid.
    :param min_prompt_fraction: a result smaller than this fraction of the area a line or box
        implies (on its slice) comes with a warning.
    :param click_mode: one click on a 2-D frame: ``scale`` (searched scale, default) or
        ``half-max`` (the automatic background of 3-D images); 3-D clicks always use half-max.
    :param click_refuse_ratio: a 2-D click is refused when an outline of a very different size
        scores this fraction of the best one (it does not tell the lesion's size).
    :param click_warn_ratio: ... and comes with a warning from this fraction on.
    :param island_ratio: a 3-D click whose grown component, as an equivalent sphere, has a radius
        below this fraction of the median distance to the edge the image shows around the click
        comes with a warning (a small island, not the lesion).
    :raises InputError: a value out of range or of the wrong type, naming the setting.
    """

    smoothing_mm: float = 0.0
    distance_penalty: float = 0.0
    fill_holes: bool = True
    max_radius_mm: float = 40.0
    max_elongation: float = 2.5
    min_gap_mm: float = 1.0
    profile_sigma_mm: float | None = None
    min_cnr: float = 3.0
    min_contrast: float = 0.15
    min_enclosed: float = 0.8
    max_fraction: float = 0.5
    skip_bad_seeds: bool = False
    prefilter: str = "bilateral"
    range_fraction: float = 0.4
    line_core: float = 0.8
    line_background: float = 0.65
    box_core: float = 0.5
    working_pixels: float = 200.0
    min_prompt_fraction: float = 0.15
    click_mode: str = "scale"
    click_refuse_ratio: float = 0.85
    click_warn_ratio: float = 0.5
    island_ratio: float = 0.4

    def __post_init__(self) -> None:
        _number(self, "smoothing_mm", low=0.0)
        _number(self, "distance_penalty", low=0.0)
        _flag(self, "fill_holes")
        _number(self, "max_radius_mm", low=0.0, low_open=True)
        _number(self, "max_elongation", low=1.0)
        _number(self, "min_gap_mm", low=0.0)
        _number(self, "profile_sigma_mm", low=0.0, optional=True)
        _number(self, "min_cnr", low=0.0)
        _number(self, "min_contrast", low=0.0)
        _number(self, "min_enclosed", low=0.0, high=1.0)
        _number(self, "max_fraction", low=0.0, high=1.0, low_open=True)
        _flag(self, "skip_bad_seeds")
        _choice(self, "prefilter", ("bilateral", "gaussian", "none"))
        _number(self, "range_fraction", low=0.0, low_open=True)
        _number(self, "line_core", low=0.0, high=1.0, low_open=True)
        _number(self, "line_background", low=0.5)
        _number(self, "box_core", low=0.0, high=1.0, low_open=True)
        _number(self, "working_pixels", low=16.0)
        _number(self, "min_prompt_fraction", low=0.0, high=1.0)
        _choice(self, "click_mode", ("scale", "half-max"))
        _number(self, "click_refuse_ratio", low=0.0, high=math.inf, low_open=True)
        _number(self, "click_warn_ratio", low=0.0)
        _number(self, "island_ratio", low=0.0, high=2.0)

    @classmethod
    def from_options(cls, base: GrowCutSettings | None = None, **options) -> GrowCutSettings:
        """Settings from keyword options (over ``base``); an unknown option is an InputError."""
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise InputError(f"unknown grow-cut option{'s' if len(unknown) > 1 else ''} "
                             f"{', '.join(unknown)}: the options are {', '.join(known)}")
        return replace(base, **options) if base is not None else cls(**options)

    def as_record(self) -> dict:
        """JSON-ready dict of every setting (provenance)."""
        return asdict(self)


# --------------------------------------------------------------------------------------------
# the grow-cut segmenter
# --------------------------------------------------------------------------------------------
class GrowCutSegmenter:
    """Slicer's grow-cut (``vtkImageGrowCutSegment``) behind the segmenter seam.

    Handles seed points per structure and, optionally, background points; without background
    points it places them itself (:mod:`alnpredictor.imaging.background`; on a 2-D frame the
    click's scale is searched, :mod:`alnpredictor.imaging.prompted`). Caliper lines, boxes and
    correction clicks: :mod:`alnpredictor.imaging.prompted`.

    ``GrowCutSegmenter(settings)``, or ``GrowCutSegmenter(**options)`` with
    :class:`GrowCutSettings` fields as options (over ``settings`` when both are given).
    """

    name = "grow-cut"
    prompt_kinds = frozenset({"points", "background", "lines", "boxes", "corrections"})

    def __init__(self, settings: GrowCutSettings | None = None, **options) -> None:
        if settings is not None and not isinstance(settings, GrowCutSettings):
            raise InputError(f"grow-cut settings must be GrowCutSettings (got {type(settings).__name__})")
        self.settings = GrowCutSettings.from_options(settings, **options) if options or settings is None else settings

    def __repr__(self) -> str:
        return f"GrowCutSegmenter({self.settings!r})"

    @property
    def version(self) -> str:
        """The build of Slicer's filter in this process (see :func:`~alnpredictor.imaging.growcut.engine_version`)."""
        return engine_version()

    def provenance(self) -> Provenance:
        """Engine, build and settings, as recorded on every result."""
        return Provenance(engine=self.name, engine_version=self.version, settings=self.settings.as_record())

    def segment(self, image: sitk.Image, prompts: Prompts) -> SegmentationResult:
        """Grow-cut of every prompted structure in one run.

        :param image: 3-D scalar image (or 2-D / single-slice ultrasound), LPS geometry.
        :param prompts: seed points per structure (RAS mm) and optional background points.
        :returns: :class:`SegmentationResult` with uint8 masks on the image grid and provenance.
        :raises ClickRefusedError: a click that does not determine the lesion (draw the caliper line).
        :raises SeedOutsideImageError: a seed (or background point) outside the image.
        :raises SegmentationLeakError: a seed not on a distinct structure, or a structure that
            fills the region searched.
        :raises ImageDimensionError: the image is not a 2-D or 3-D scalar image.
        :raises ConstantImageError: every voxel has one value (nothing to segment).
        :raises VoxelValueError: NaN or infinite voxels.
        """
        t0 = time.perf_counter()
        if not isinstance(prompts, Prompts):
            raise TypeError(f"prompts must be alnpredictor.imaging.prompts.Prompts (got {type(prompts).__name__})")
        prompts.require(self.prompt_kinds, self.name)
        image, grid = _checked_image(image)
        return self._dispatch(image, grid, prompts, t0)

    def _dispatch(self, image: sitk.Image, grid: VoxelGrid, prompts: Prompts, t0: float) -> SegmentationResult:
        """Lines/boxes → prompted grow-cut; clicks on a 2-D frame → searched scale; else half-max."""
        corrected = {c.structure for c in prompts.corrections}
        first = set(prompts.points) | set(prompts.lines) | set(prompts.boxes)
        if corrected - first:
            raise InputError(f"correction clicks for {', '.join(sorted(corrected - first))} without a first prompt: "
                             "segment the structure first (a click, a caliper line or a box), then correct it")
        if prompts.lines or prompts.boxes:
            if prompts.background:
                raise InputError("background points are not used with a caliper line or a box (the line or box "
                                 "bounds the lesion): give negative correction clicks instead")
            outcome = segment_prompted(image, grid, prompts, self.settings)
            return self._result(image, outcome, t0, auto_background=False)
        if len(grid.flat_axes) == 1 and not prompts.background and self.settings.click_mode == "scale":
            outcome = segment_click_2d(image, grid, prompts, self.settings)
            return self._result(image, outcome, t0, auto_background=True)
        return self._segment(image, grid, prompts, t0)

    def _result(self, image: sitk.Image, outcome, t0: float, *, auto_background: bool) -> SegmentationResult:
        masks = {}
        for name, arr in outcome.masks.items():
            out = sitk.GetImageFromArray(np.ascontiguousarray(arr, np.uint8))
            out.CopyInformation(image)
            masks[name] = out
            if not np.any(arr):
                outcome.warnings.append(f"structure '{name}' came out empty: check its prompt")
        for w in outcome.warnings:
            log.warning(w)
        return SegmentationResult(
            masks=masks, background_ras=outcome.background_ras, seconds=time.perf_counter() - t0,
            auto_background=auto_background, seeds_ras=outcome.seeds_ras, details=outcome.details,
            warnings=outcome.warnings, provenance=self.provenance(),
        )

    def _segment(self, image: sitk.Image, grid: VoxelGrid, prompts: Prompts, t0: float) -> SegmentationResult:
        settings = self.settings
        seeds = {name: np.asarray(pts, float) for name, pts in prompts.points.items()}
        # Correction clicks on the half-max path: positive ones are more seeds of their structure,
        # negative ones background seeds painted into the seed labels.
        for corr in prompts.corrections:
            if corr.positive:
                seeds[corr.structure] = np.vstack([seeds[corr.structure], np.asarray(corr.point, float)[None]])
        negatives = np.array([c.point for c in prompts.corrections if not c.positive], float).reshape(-1, 3)
        names = list(seeds)
        seed_idx = {name: prompt_indices(grid, pts, name) for name, pts in seeds.items()}
        bg_given = len(prompts.background) > 0
        warnings: list[str] = []
        details: dict[str, dict] = {}
        allowed: dict[str, np.ndarray] | None = None
        if bg_given:
            bg_ras = np.asarray(prompts.background, float).reshape(-1, 3)
            bg_idx = prompt_indices(grid, bg_ras, "background")
            all_idx = np.floor(np.vstack([*seed_idx.values(), bg_idx]) + 0.5)
            box_lo, box_hi = grow_cut_box(grid.size, all_idx.min(0), all_idx.max(0), 0.2)
            labels = np.zeros(tuple(int(v) for v in (box_hi - box_lo + 1)[::-1]), np.int16)
            _paint_points(labels, bg_idx - box_lo, len(names) + 1)
        else:
            auto = AutoBackground(
                image, grid, max_radius_mm=settings.max_radius_mm, max_elongation=settings.max_elongation,
                min_gap_mm=settings.min_gap_mm, profile_sigma_mm=settings.profile_sigma_mm, min_cnr=settings.min_cnr,
                min_contrast=settings.min_contrast, min_enclosed=settings.min_enclosed,
            )
            auto.prepare(np.vstack(list(seed_idx.values())))
            estimates = {}
            for name in names:
                kept = []
                for idx in seed_idx[name]:
                    try:
                        kept.append((idx, auto.estimate(idx, name)))
                    except SegmentationLeakError as exc:
                        if not settings.skip_bad_seeds:
                            raise
                        warnings.append(f"seed skipped: {exc}")
                if not kept:
                    raise SegmentationLeakError(f"no usable seed for '{name}': " + " | ".join(warnings[-len(seeds[name]):]))
                seed_idx[name] = np.array([k[0] for k in kept])
                seeds[name] = ras_lps(grid.to_lps(seed_idx[name]))
                estimates[name] = [k[1] for k in kept]
            labels, box_lo, box_hi, allowed, bg_ras = auto.seed_labels(estimates)
            details = {name: auto.describe(ests) for name, ests in estimates.items()}
        for k, name in enumerate(names, start=1):
            _paint_points(labels, seed_idx[name] - box_lo, k)
        if len(negatives):
            _paint_points(labels, prompt_indices(grid, negatives, "negative correction") - box_lo, len(names) + 1)

        sl = tuple(slice(int(box_lo[a]), int(box_hi[a]) + 1) for a in (2, 1, 0))
        intensity = sitk.GetArrayViewFromImage(image)[sl]
        result = grow_cut(intensity, labels, tuple(grid.spacing), distance_penalty=settings.distance_penalty)

        masks: dict[str, sitk.Image] = {}
        claimed = np.zeros(result.shape, bool)
        structure_labels = (result > 0) & (result <= len(names))
        for k, name in enumerate(names, start=1):
            local_seeds = np.floor(seed_idx[name] + 0.5).astype(int) - box_lo
            raw = result == k
            if allowed is not None:  # automatic mode: stay within the estimated extent (+ gap)
                raw &= allowed[name]
            mask = _postprocess(raw, local_seeds, grid.spacing, fill_holes=settings.fill_holes,
                               smoothing_mm=settings.smoothing_mm)
            # Post-processing may add background voxels, never another structure's voxels.
            mask &= ~(structure_labels & (result != k)) & ~claimed
            if allowed is not None:
                mask &= allowed[name]
            mask = _seed_components(mask, local_seeds)
            claimed |= mask
            fraction = float(mask.mean())
            if bg_given and fraction > settings.max_fraction:
                raise SegmentationLeakError(
                    f"'{name}' grew into {100 * fraction:.0f}% of the region searched: a {name} seed is probably on "
                    "background, or background seeds are inside the structure. Move the seed onto the lesion, or "
                    "place background seeds around it just outside its edge"
                )
            if not np.any(mask):
                warnings.append(f"structure '{name}' came out empty: check its seeds")
            elif not bg_given:
                warnings += _island_warnings(name, mask, local_seeds, seeds[name], estimates[name], grid,
                                             settings.island_ratio, details[name])
            full = np.zeros(sitk.GetArrayViewFromImage(image).shape, np.uint8)
            full[sl] = mask
            out = sitk.GetImageFromArray(full)
            out.CopyInformation(image)
            masks[name] = out
        for w in warnings:
            log.warning(w)
        return SegmentationResult(
            masks=masks, background_ras=bg_ras, seconds=time.perf_counter() - t0, auto_background=not bg_given,
            seeds_ras=seeds, details=details, warnings=warnings, provenance=self.provenance(),
        )


# --------------------------------------------------------------------------------------------
# registry and entry points
# --------------------------------------------------------------------------------------------
#: Segmentation engines by name; each takes its settings (or options) and implements
#: :class:`~alnpredictor.imaging.segmentation.Segmenter`.
SEGMENTERS: dict[str, type] = {GrowCutSegmenter.name: GrowCutSegmenter}


def get_segmenter(name: str = "grow-cut", **options) -> Segmenter:
    """The segmenter registered as ``name``, built with ``options`` (its settings' fields, or
    ``settings=`` a settings object); e.g. ``get_segmenter("grow-cut", smoothing_mm=1.0)``.

    :raises InputError: an unknown engine, or an unknown or out-of-range option.
    """
    try:
        factory = SEGMENTERS[name]
    except (KeyError, TypeError):
        raise InputError(f"unknown segmenter {name!r}: choose one of {', '.join(SEGMENTERS)}") from None
    return factory(**options)


def segment_structures(
    image: sitk.Image,
    seeds_ras: Mapping[str, Sequence[Sequence[float]]],
    background_ras: Sequence[Sequence[float]] | None = None,
    **options,
) -> SegmentationResult:
    """Grow-cut segmentation of one or more structures from seed points (the earlier call shape
    of ``get_segmenter("grow-cut", **options).segment(image, Prompts(seeds_ras, background_ras))``;
    same result).

    :param image: 3-D scalar image (or 2-D / single-slice ultrasound), LPS geometry.
    :param seeds_ras: structure name → seed points (R, A, S mm), e.g.
        ``{"tumor": [[-12.5, 40, 3]], "nodes": [[30, 10, 5], [35, 22, 4]]}``.
    :param background_ras: background points (RAS mm); ``None`` or empty places them
        automatically (:mod:`alnpredictor.imaging.background`).
    :param options: :class:`GrowCutSettings` fields (``smoothing_mm``, ``skip_bad_seeds`` ...).
    :returns: :class:`SegmentationResult` with uint8 masks on the image grid.
    :raises SeedOutsideImageError: a seed (or background point) outside the image.
    :raises SegmentationLeakError: a seed not on a distinct structure, or a structure that
        fills the region searched.
    :raises ImageDimensionError: the image is not a 2-D or 3-D scalar image.
    """
    t0 = time.perf_counter()
    segmenter = GrowCutSegmenter(**options)
    image, grid = _checked_image(image)  # the image first, then the points, as before
    return segmenter._dispatch(image, grid, Prompts(seeds_ras, background_ras), t0)


def segment(
    image: sitk.Image,
    seeds_ras: Sequence[Sequence[float]],
    background_ras: Sequence[Sequence[float]] | None = None,
    structure: str = "tumor",
    **kw,
) -> sitk.Image:
    """One structure from its seed points; returns its uint8 mask (see :func:`segment_structures`)."""
    return segment_structures(image, {structure: seeds_ras}, background_ras, **kw).masks[structure]


# --------------------------------------------------------------------------------------------
# internals
# --------------------------------------------------------------------------------------------
def _checked_image(image: sitk.Image) -> tuple[sitk.Image, VoxelGrid]:
    """The image as a 3-D scalar image and its grid; ImageDimensionError unless 2-D or 3-D;
    GeometryError for an impossible geometry; VoxelValueError for NaN/inf voxels; ConstantImageError
    for an image with one value (nothing to segment: no contrast for grow-cut or the background search)."""
    image = ensure_3d_scalar(image, "image to segment")
    grid = VoxelGrid(image)
    if len(grid.flat_axes) > 1:
        raise ImageDimensionError(f"image of size {tuple(int(v) for v in grid.size)} is not a 2-D or 3-D image")
    check_voxels(image, "image to segment")
    check_not_constant(image, "image to segment", use="segment")
    return image, grid


def _paint_points(labels_zyx: np.ndarray, idx_xyz: np.ndarray, value: int) -> None:
    """Set the voxels nearest to (x, y, z) indices (relative to the array) to ``value``."""
    ijk = np.floor(np.asarray(idx_xyz, float).reshape(-1, 3) + 0.5).astype(int)
    shape = np.array(labels_zyx.shape[::-1])
    ok = np.all((ijk >= 0) & (ijk < shape), axis=1)
    ijk = ijk[ok]
    labels_zyx[ijk[:, 2], ijk[:, 1], ijk[:, 0]] = value


def _island_warnings(name: str, mask: np.ndarray, local_seeds: np.ndarray, seeds_ras: np.ndarray, estimates, grid,
                     ratio: float, detail: dict) -> list[str]:
    """A click grown in 3-D that stopped far inside the edge the image shows around it (a small
    island, not the lesion) gets a warning, never silence: each seed's component is compared, as an
    equivalent sphere, with the median distance of the half-maximum edge along the rays cast from
    that seed (the same estimate that placed the background). Records both radii in ``detail``."""
    labels, _ = ndimage.label(mask, structure=np.ones((3, 3, 3), bool))
    voxel_mm3 = float(np.prod(grid.spacing))
    radii, edges, out = [], [], []
    for seed, ras, estimate in zip(local_seeds, seeds_ras, estimates):
        x, y, z = (int(v) for v in seed)
        inside = all(0 <= v < n for v, n in zip((z, y, x), labels.shape))
        component = labels[z, y, x] if inside else 0
        volume = float(np.count_nonzero(labels == component)) * voxel_mm3 if component else 0.0
        radius = (3.0 * volume / (4.0 * math.pi)) ** (1.0 / 3.0)
        edge = float(np.median(estimate.edge_mm))
        radii.append(round(radius, 2))
        edges.append(round(edge, 2))
        if edge > 0 and radius < ratio * edge:
            where = ", ".join(f"{v:.1f}" for v in ras)
            out.append(f"'{name}' grown from the click at RAS ({where}) is a small island: "
                       f"{volume / 1000.0:.2f} ml, an equivalent diameter of {2 * radius:.1f} mm, while the image shows "
                       f"an edge about {edge:.1f} mm from the click. Check the outline; draw the caliper line across "
                       "the lesion on its largest slice, or add background seeds just outside it")
    detail["equivalent_radius_mm"] = radii
    detail["edge_radius_mm"] = edges
    return out


def _postprocess(raw: np.ndarray, seeds_xyz: np.ndarray, spacing_xyz: np.ndarray, *, fill_holes: bool,
                 smoothing_mm: float) -> np.ndarray:
    """Seed-connected components, hole filling, optional Gaussian smoothing (boolean array)."""
    inside = np.all((seeds_xyz >= 0) & (seeds_xyz < np.array(raw.shape[::-1])), axis=1)
    seeds = seeds_xyz[inside]
    if not np.any(raw):
        return raw
    mask = _seed_components(raw, seeds)
    if fill_holes and np.any(mask):
        mask = fill_holes_3d_and_slices(mask, spacing_xyz)
    if smoothing_mm > 0 and np.any(mask):
        spacing_zyx = np.asarray(spacing_xyz)[::-1]
        sigma_vox = [0.0 if n == 1 else smoothing_mm / s for n, s in zip(mask.shape, spacing_zyx)]
        grown = ndimage.gaussian_filter(mask.astype(np.float32), sigma_vox) >= 0.5
        grown[seeds[:, 2], seeds[:, 1], seeds[:, 0]] = True
        mask = _seed_components(grown, seeds)
    return mask


def _seed_components(mask: np.ndarray, seeds_xyz: np.ndarray) -> np.ndarray:
    """The 26-connected components of ``mask`` that contain a seed voxel (x, y, z)."""
    inside = np.all((seeds_xyz >= 0) & (seeds_xyz < np.array(mask.shape[::-1])), axis=1)
    lab, _ = ndimage.label(mask, structure=np.ones((3, 3, 3), bool))
    ids = {int(lab[z, y, x]) for x, y, z in seeds_xyz[inside]} - {0}
    return np.isin(lab, list(ids)) if ids else np.zeros_like(mask, dtype=bool)
