"""Grow-cut from geometric prompts: caliper lines, boxes, one click on a 2-D frame, corrections.

One click carries the lesion's position but not its size; on speckled ultrasound that is often not
enough (a click's "surroundings" are measured inside the lesion's own texture). A **caliper line**
(the long-axis measurement radiologists make anyway) or a **box** carries the size too. This module
turns such prompts into grow-cut seeds by fixed, documented rules — nothing is tuned per image —
and runs Slicer's grow-cut (:mod:`alnpredictor.imaging.growcut`) on a speckle-filtered crop.

**Rules** (``L`` = the line's length; every fraction is a
:class:`~alnpredictor.imaging.segment.GrowCutSettings` field):

* *Working grid.* The crop around the prompt is resampled in-plane so that the prompt spans at
  most ``working_pixels`` (200) voxels (never finer than the image; Gaussian anti-aliasing of half
  a working voxel first). Slices are kept as they are.
* *Pre-filter (speckle).* A bilateral filter: spatial sigma ``L / 60`` (at least 1.5 working
  voxels), range sigma ``range_fraction`` (0.4) × the interquartile range of the crop's
  intensities — edges well above the speckle's spread are kept, the speckle is averaged.
* *Caliper line* (two end points on one slice): foreground seeds on the inner ``line_core``
  (80 %) of the line and in a thin ellipse around it (half-width ``0.05 L``) on the line's slice;
  background is everything further than ``line_background`` × L (0.65 L) from the line's midpoint
  (a circle on a 2-D frame, a sphere in a 3-D volume: the same rule extends through slices).
* *Box* (two opposite corners; a box drawn on one slice of a volume gets a through-slice
  half-extent equal to its smaller in-plane half-side): foreground seeds inside the inscribed
  ellipse (ellipsoid) scaled by ``box_core`` (0.5); background is everything outside the box.
* *Extra seed points* of a structure that has a line or a box, and *positive correction clicks*:
  foreground discs (spheres) of radius ``0.03 × the prompt's size`` (at least 1.5 voxels); a
  positive click beyond the background limit also frees a disc of ``0.25 ×`` the size around it
  from the background rule.
  *Negative correction clicks*: background discs of the same radius. A correction re-segments
  with every other prompt unchanged.
* *Post-processing:* each structure keeps the connected components of grow-cut's result that
  touch its foreground seeds; enclosed holes are filled (in 3-D and slice by slice). No convex
  hull, no smoothing beyond ``smoothing_mm`` (0 by default): a lobulated or spiculated margin
  stays as grow-cut found it. The result is brought back to the image grid by linear
  interpolation of the mask (threshold 0.5).
* *Size check:* on the prompt's slice, a result smaller than ``min_prompt_fraction`` (15 %) of the
  area the prompt implies (``π/4 · L²`` for a line, the inscribed ellipse for a box), or spanning
  less than half of the line (half of either side of the box), comes with a warning — never a
  silent island.

**One click on a 2-D frame** (:func:`segment_click_2d`): the click's scale is searched. For radii
``r`` from ``max(1.5 mm, 8 pixels)`` up to ``max_radius_mm`` in steps of ×1.33, grow-cut runs with
foreground on a disc of ``0.15 r`` around the click and background beyond ``r`` (working grid:
``r`` spans 36 voxels). Each outline is scored by how it stands out: the contrast between its
inside and a 3-voxel band outside it (as a fraction of the crop's 10–90 % intensity range) times
the mean gradient on its boundary (relative to the crop's median gradient). The best-scoring
outline is returned. When an outline of a very different size (less than half or more than twice
the area) scores nearly as well, the click is ambiguous: at ``click_refuse_ratio`` (0.85) of the
best score it is refused (:class:`ClickRefusedError`, which says to draw the caliper line), at
``click_warn_ratio`` (0.5) the result comes with a warning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from alnpredictor.imaging.coords import VoxelGrid, ras_lps
from alnpredictor.imaging.growcut import grow_cut
from alnpredictor.imaging.prompts import Prompts, prompt_indices
from alnpredictor.imaging.segmentation import NEXT_ACTION, ClickRefusedError, SegmentationLeakError

__all__ = ["ClickRefusedError", "NEXT_ACTION", "segment_prompted", "segment_click_2d", "PromptedOutcome"]

#: Fixed geometry of the seeds (documented in the module docstring).
_LINE_CORE_WIDTH = 0.05  # half-width of the foreground ellipse around the line's inner part, × L
_CORRECTION_RADIUS = 0.03  # radius of a correction / extra-seed disc, × the prompt's size
_CORRECTION_FREE = 0.25  # a positive click frees this radius (× size) from the background rule
_FILTER_SCALE = 60.0  # bilateral spatial sigma = size / 60
_CLICK_CORE = 0.15  # click: foreground disc radius, × the scale r
_CLICK_PIXELS = 36.0  # click: r spans this many working voxels
_CLICK_STEP = 1.33  # click: ratio between successive scales
_CLICK_MIN_MM = 1.5  # click: smallest scale (mm), at least 8 pixels
_CLICK_MIN_PIXELS = 8.0


@dataclass
class PromptedOutcome:
    """Masks on the image grid (uint8 arrays z, y, x) and what was used."""

    masks: dict[str, np.ndarray]
    details: dict[str, dict] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    background_ras: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    seeds_ras: dict[str, np.ndarray] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# prompt shapes, in LPS millimetres
# --------------------------------------------------------------------------------------------
class _Shape:
    """A prompt's seeds: ``core`` (foreground), ``inside`` (not background), ``size`` (mm)."""

    size: float
    centre: np.ndarray
    reach: float  # radius (mm) of the region it needs around its centre

    def core(self, X: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def inside(self, X: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def samples(self) -> np.ndarray:
        """Points (LPS) that must be foreground voxels whatever the grid (thin prompts)."""
        return self.centre[None]


class _Line(_Shape):
    kind = "line"

    def __init__(self, p: np.ndarray, q: np.ndarray, normal: np.ndarray, slab: float, core: float,
                 background: float) -> None:
        self.p, self.q = np.asarray(p, float), np.asarray(q, float)
        self.size = float(np.linalg.norm(self.q - self.p))
        self.centre = 0.5 * (self.p + self.q)
        self.u = (self.q - self.p) / self.size
        n = np.asarray(normal, float)
        n = n - (n @ self.u) * self.u  # the slice normal, made orthogonal to the line
        self.n = n / np.linalg.norm(n)
        self.v = np.cross(self.n, self.u)
        self.slab, self.core_fraction, self.radius = slab, core, background * self.size
        self.reach = self.radius

    def _coords(self, X):
        d = X - self.centre
        return d @ self.u, d @ self.v, d @ self.n

    def core(self, X):
        a, b, c = self._coords(X)
        half = 0.5 * self.core_fraction * self.size
        return ((a / half) ** 2 + (b / (_LINE_CORE_WIDTH * self.size)) ** 2 <= 1.0) & (np.abs(c) <= self.slab)

    def inside(self, X):
        return np.linalg.norm(X - self.centre, axis=-1) <= self.radius

    def samples(self):
        t = np.linspace(0.5 - self.core_fraction / 2, 0.5 + self.core_fraction / 2, 64)
        return self.p[None] + t[:, None] * (self.q - self.p)[None]

    def in_plane(self, X):
        """Whether points lie on the line's slice."""
        return np.abs(self._coords(X)[2]) <= self.slab


class _Box(_Shape):
    kind = "box"

    def __init__(self, lo: np.ndarray, hi: np.ndarray, thin: np.ndarray, core: float) -> None:
        lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
        self.centre = 0.5 * (lo + hi)
        half = 0.5 * (hi - lo)
        flat = half <= thin  # sides thinner than the image's voxels there: drawn on one slice
        if np.all(flat):
            raise ValueError("box has no extent")
        if np.any(flat):
            half = np.where(flat, np.min(half[~flat]), half)
        self.half, self.flat = half, flat
        self.core_fraction = core
        self.size = float(2 * np.max(half))
        self.reach = float(np.linalg.norm(half))

    def core(self, X):
        return np.sum(((X - self.centre) / (self.core_fraction * self.half)) ** 2, axis=-1) <= 1.0

    def inside(self, X):
        return np.all(np.abs(X - self.centre) <= self.half, axis=-1)


class _Disc(_Shape):
    """A sphere (disc on a 2-D frame): foreground within ``r_core``, not background within ``r_free``."""

    kind = "disc"

    def __init__(self, centre: np.ndarray, r_core: float, r_free: float, size: float) -> None:
        self.centre = np.asarray(centre, float)
        self.r_core, self.r_free, self.size = r_core, r_free, size
        self.reach = r_free

    def core(self, X):
        return np.linalg.norm(X - self.centre, axis=-1) <= self.r_core

    def inside(self, X):
        return np.linalg.norm(X - self.centre, axis=-1) <= self.r_free


# --------------------------------------------------------------------------------------------
# the working grid
# --------------------------------------------------------------------------------------------
def _slice_axis(grid: VoxelGrid) -> int:
    """The image axis that is "through slices": the flat one of a 2-D frame, else the coarsest."""
    if grid.flat_axes:
        return grid.flat_axes[0]
    return int(np.argmax(grid.spacing))


@dataclass
class _Work:
    """A crop of the image resampled onto the working grid, with its filtered intensities."""

    lo: np.ndarray  # crop start (x, y, z) index in the image
    hi: np.ndarray  # crop end (inclusive)
    crop: sitk.Image  # the native crop
    image: sitk.Image  # the working image (resampled crop)
    grid: VoxelGrid
    raw: np.ndarray  # working intensities (z, y, x), before the speckle filter
    filtered: np.ndarray  # after it
    points: np.ndarray  # (z, y, x, 3) LPS of every working voxel
    resampled: bool


def _crop_box(grid: VoxelGrid, centres: list[np.ndarray], reaches: list[float], margin: float):
    """Index box (x, y, z, inclusive) covering every centre ± reach + margin (mm), clipped."""
    los, his = [], []
    for c, r in zip(centres, reaches):
        r = r + margin
        corners = np.array([[c[0] + sx * r, c[1] + sy * r, c[2] + sz * r]
                            for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
        idx = grid.to_index(corners)
        los.append(idx.min(0))
        his.append(idx.max(0))
    lo = np.clip(np.floor(np.min(los, 0)) - 1, 0, grid.size - 1).astype(int)
    hi = np.clip(np.ceil(np.max(his, 0)) + 1, 0, grid.size - 1).astype(int)
    return lo, hi


def _working(image: sitk.Image, grid: VoxelGrid, lo: np.ndarray, hi: np.ndarray, target_mm: float,
             filter_mm: float, prefilter: str, range_fraction: float) -> _Work:
    """Crop, resample in-plane to ``target_mm`` voxels (never finer than the image), filter."""
    crop = sitk.RegionOfInterest(image, [int(v) for v in hi - lo + 1], [int(v) for v in lo])
    crop = sitk.Cast(crop, sitk.sitkFloat32)
    axis = _slice_axis(grid)
    spacing = np.array(crop.GetSpacing(), float)
    size = np.array(crop.GetSize())
    new_spacing = spacing.copy()
    for a in range(3):
        if a != axis and size[a] > 1:
            new_spacing[a] = max(spacing[a], target_mm)
    resampled = bool(np.any(new_spacing > spacing * (1 + 1e-6)))
    if resampled:
        arr = sitk.GetArrayFromImage(crop)
        sigma = [0.0 if (2 - ax) == axis or arr.shape[ax] == 1 else 0.5 * new_spacing[2 - ax] / spacing[2 - ax]
                 for ax in range(3)]
        sigma = [s if s > 0.5 else 0.0 for s in sigma]
        smooth = sitk.GetImageFromArray(ndimage.gaussian_filter(arr, sigma, mode="nearest"))
        smooth.CopyInformation(crop)
        new_size = [max(1, int(math.floor((n - 1) * s / ns)) + 1) for n, s, ns in zip(size, spacing, new_spacing)]
        work = sitk.Resample(smooth, new_size, sitk.Transform(), sitk.sitkLinear, crop.GetOrigin(),
                             tuple(float(v) for v in new_spacing), crop.GetDirection(), 0.0, sitk.sitkFloat32)
    else:
        work = crop
    raw = sitk.GetArrayFromImage(work)
    filtered = _prefilter(work, raw, filter_mm, prefilter, range_fraction)
    wgrid = VoxelGrid(work)
    zz, yy, xx = np.meshgrid(*[np.arange(n) for n in raw.shape], indexing="ij")
    points = wgrid.to_lps(np.stack([xx, yy, zz], axis=-1).astype(float))
    return _Work(lo, hi, crop, work, wgrid, raw, filtered, points, resampled)


def _prefilter(work: sitk.Image, raw: np.ndarray, sigma_mm: float, kind: str, range_fraction: float) -> np.ndarray:
    """Speckle-reducing filter of the working crop (see the module docstring)."""
    if kind == "none":
        return raw
    spacing = np.array(work.GetSpacing(), float)
    flat = [a for a in range(3) if raw.shape[2 - a] == 1]
    if kind == "gaussian":
        sigma = [0.0 if raw.shape[ax] == 1 else sigma_mm / spacing[2 - ax] for ax in range(3)]
        return ndimage.gaussian_filter(raw, sigma, mode="nearest")
    q25, q75 = np.percentile(raw, [25, 75])
    range_sigma = max(float(q75 - q25) * range_fraction, 1e-6)
    if flat:  # a 2-D frame: filter the plane (a 3-D kernel would only add cost)
        squeezed = np.squeeze(raw, axis=2 - flat[0])
        img = sitk.GetImageFromArray(squeezed)
        img.SetSpacing(tuple(float(spacing[a]) for a in range(3) if a != flat[0]))
        out = sitk.GetArrayFromImage(sitk.Bilateral(img, domainSigma=float(sigma_mm), rangeSigma=range_sigma))
        return np.expand_dims(out, axis=2 - flat[0]).astype(np.float32)
    return sitk.GetArrayFromImage(sitk.Bilateral(work, domainSigma=float(sigma_mm), rangeSigma=range_sigma))


def _paint_samples(mask: np.ndarray, grid: VoxelGrid, samples: np.ndarray) -> None:
    idx = np.floor(grid.to_index(samples) + 0.5).astype(int)
    shape = np.array(mask.shape[::-1])
    ok = np.all((idx >= 0) & (idx < shape), axis=1)
    idx = idx[ok]
    mask[idx[:, 2], idx[:, 1], idx[:, 0]] = True


def _fill_and_keep(mask: np.ndarray, anchors: np.ndarray, spacing_xyz: np.ndarray) -> np.ndarray:
    """Components touching ``anchors``, holes filled in 3-D and slice by slice (thickest axis)."""
    if not np.any(mask):
        return mask
    lab, _ = ndimage.label(mask, structure=np.ones((3, 3, 3), bool))
    ids = np.unique(lab[anchors & mask])
    mask = np.isin(lab, ids[ids > 0])
    if not np.any(mask):
        return mask
    return fill_holes(mask, spacing_xyz)


def fill_holes(mask: np.ndarray, spacing_xyz) -> np.ndarray:
    """Holes filled in 3-D and then slice by slice across the thickest axis: holes that open through
    thick slices (and every hole of a single-slice ultrasound frame) are not closed in 3-D."""
    if min(mask.shape) > 1:
        mask = ndimage.binary_fill_holes(mask)
    spacing_zyx = np.asarray(spacing_xyz)[::-1]
    axis = int(np.argmax(np.where(np.array(mask.shape) == 1, np.inf, spacing_zyx)))
    for i in range(mask.shape[axis]):
        index = [slice(None)] * 3
        index[axis] = i
        mask[tuple(index)] = ndimage.binary_fill_holes(mask[tuple(index)])
    return mask


def _smooth(mask: np.ndarray, spacing_xyz: np.ndarray, smoothing_mm: float, anchors: np.ndarray) -> np.ndarray:
    if smoothing_mm <= 0 or not np.any(mask):
        return mask
    spacing_zyx = np.asarray(spacing_xyz)[::-1]
    sigma = [0.0 if n == 1 else smoothing_mm / s for n, s in zip(mask.shape, spacing_zyx)]
    grown = ndimage.gaussian_filter(mask.astype(np.float32), sigma) >= 0.5
    return _fill_and_keep(grown | (anchors & mask), anchors, spacing_xyz)


@dataclass
class _Structure:
    name: str
    shapes: list[_Shape]  # lines, boxes, discs: define core and inside
    extra: list[_Disc]  # extra seed points / positive corrections
    negative: list[_Disc]  # negative corrections

    @property
    def size(self) -> float:
        return max(s.size for s in self.shapes)


def _labels(work: _Work, structures: list[_Structure]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Seed labels on the working grid: 1..n for the structures, n + 1 for background."""
    X = work.points
    free = np.zeros(X.shape[:-1], bool)
    cores = []
    for st in structures:
        core = np.zeros(X.shape[:-1], bool)
        for shape in [*st.shapes, *st.extra]:
            free |= shape.inside(X)
            core |= shape.core(X)
            _paint_samples(core, work.grid, shape.samples())
        cores.append(core)
    labels = np.where(free, 0, len(structures) + 1).astype(np.int16)
    for k, core in enumerate(cores, start=1):
        labels[core] = k
    for st in structures:
        for neg in st.negative:
            m = neg.core(X)
            _paint_samples(m, work.grid, neg.samples())
            labels[m] = len(structures) + 1
    return labels, cores


def _run(work: _Work, structures: list[_Structure], smoothing_mm: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Grow-cut on the working grid; per structure its post-processed mask and its seeds."""
    labels, cores = _labels(work, structures)
    if not np.any((labels > 0) & (labels <= len(structures))):
        raise SegmentationLeakError("the prompt has no foreground inside the image: draw it on the lesion")
    result = grow_cut(work.filtered, labels, tuple(work.grid.spacing))
    masks = []
    for k, core in enumerate(cores, start=1):
        anchors = core & (labels == k)
        mask = _fill_and_keep(result == k, anchors, work.grid.spacing)
        masks.append(_smooth(mask, work.grid.spacing, smoothing_mm, anchors))
    return masks, cores


def _to_image_grid(work: _Work, masks: list[np.ndarray], structures: list[_Structure], full_shape: tuple,
                   smoothing_mm: float) -> list[np.ndarray]:
    """Working-grid masks back onto the image grid (linear interpolation, ≥ 0.5), no overlaps."""
    out = []
    claimed = None
    crop_grid = VoxelGrid(work.crop)
    native_points = None
    for mask, st in zip(masks, structures):
        if work.resampled:
            m = sitk.GetImageFromArray(mask.astype(np.float32))
            m.CopyInformation(work.image)
            back = sitk.Resample(m, work.crop, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
            native = sitk.GetArrayFromImage(back) >= 0.5
            if native_points is None:
                zz, yy, xx = np.meshgrid(*[np.arange(n) for n in native.shape], indexing="ij")
                native_points = crop_grid.to_lps(np.stack([xx, yy, zz], axis=-1).astype(float))
            anchors = np.zeros(native.shape, bool)
            for shape in [*st.shapes, *st.extra]:
                anchors |= shape.core(native_points)
                _paint_samples(anchors, crop_grid, shape.samples())
            native = _fill_and_keep(native | (anchors & native), anchors, crop_grid.spacing)
        else:
            native = mask
        if claimed is None:
            claimed = np.zeros(native.shape, bool)
        native = native & ~claimed
        claimed |= native
        full = np.zeros(full_shape, np.uint8)
        lo, hi = work.lo, work.hi
        full[lo[2]:hi[2] + 1, lo[1]:hi[1] + 1, lo[0]:hi[0] + 1] = native
        out.append(full)
    return out


# --------------------------------------------------------------------------------------------
# lines and boxes
# --------------------------------------------------------------------------------------------
def _structures(grid: VoxelGrid, prompts: Prompts, settings) -> list[_Structure]:
    """One :class:`_Structure` per structure with a line or a box (points and corrections added)."""
    axis = _slice_axis(grid)
    normal = grid.direction[:, axis]
    slab = 0.5 * float(grid.spacing[axis])
    thin = 0.5 * np.abs(grid.index_to_lps) @ np.ones(3)  # half a voxel along each LPS axis
    out = []
    names = list(dict.fromkeys([*prompts.lines, *prompts.boxes]))
    others = [n for n in prompts.structures() if n not in names]
    if others:
        from alnpredictor.errors import InputError

        raise InputError(f"structure(s) {', '.join(others)} have only clicks while others have a caliper line or "
                         "a box: give every structure a line or a box, or segment them in separate calls")
    for name in names:
        shapes: list[_Shape] = []
        for p, q in prompts.lines.get(name, ()):
            ends = ras_lps(np.array([p, q], float))
            prompt_indices(grid, np.array([p, q], float), f"caliper line of '{name}'")
            if np.linalg.norm(ends[1] - ends[0]) < 2 * float(np.min(grid.spacing[[a for a in range(3) if a != axis]])):
                from alnpredictor.errors import InputError

                raise InputError(f"the caliper line of '{name}' is shorter than two pixels: draw it across the "
                                 "lesion, from one edge to the other along its longest axis")
            shapes.append(_Line(ends[0], ends[1], normal, slab, settings.line_core, settings.line_background))
        for a, b in prompts.boxes.get(name, ()):
            corners = ras_lps(np.array([a, b], float))
            prompt_indices(grid, np.array([a, b], float), f"box corner of '{name}'")
            try:
                shapes.append(_Box(corners[0], corners[1], thin, settings.box_core))
            except ValueError:
                from alnpredictor.errors import InputError

                raise InputError(f"the box of '{name}' has no extent: give two opposite corners around the "
                                 "lesion") from None
        size = max(s.size for s in shapes)
        radius = max(_CORRECTION_RADIUS * size, 1.5 * float(np.max(grid.spacing[[a for a in range(3) if a != axis]])))
        extra = []
        for pt in prompts.points.get(name, ()):
            c = ras_lps(np.array(pt, float))
            prompt_indices(grid, np.array([pt], float), name)
            extra.append(_Disc(c, radius, radius, size))
        negative = []
        for corr in prompts.corrections:
            if corr.structure != name:
                continue
            c = ras_lps(np.array(corr.point, float))
            prompt_indices(grid, np.array([corr.point], float), f"correction click of '{name}'")
            if corr.positive:
                # a click beyond the background limit frees its surroundings; inside it, nothing more
                beyond = not any(bool(shape.inside(c[None])[0]) for shape in shapes)
                extra.append(_Disc(c, radius, max(_CORRECTION_FREE * size, radius) if beyond else radius, size))
            else:
                negative.append(_Disc(c, radius, radius, size))
        out.append(_Structure(name, shapes, extra, negative))
    return out


def segment_prompted(image: sitk.Image, grid: VoxelGrid, prompts: Prompts, settings) -> PromptedOutcome:
    """Grow-cut from caliper lines and boxes (plus points and corrections) — the module's rules.

    :param image: 3-D scalar image (a 2-D frame as one slice), LPS geometry.
    :param prompts: lines and/or boxes per structure; seed points of those structures and
        correction clicks are added as seeds.
    :param settings: :class:`~alnpredictor.imaging.segment.GrowCutSettings`.
    """
    structures = _structures(grid, prompts, settings)
    size = max(st.size for st in structures)
    margin = 3.0 * float(np.max(grid.spacing))
    shapes = [s for st in structures for s in [*st.shapes, *st.extra, *st.negative]]
    lo, hi = _crop_box(grid, [s.centre for s in shapes], [s.reach for s in shapes], margin)
    work = _working(image, grid, lo, hi, size / settings.working_pixels, 0.0, "none", settings.range_fraction)
    filter_mm = max(1.5 * float(np.min(work.grid.spacing[[a for a in range(3) if a != _slice_axis(grid)]])),
                    size / _FILTER_SCALE)
    work.filtered = _prefilter(work.image, work.raw, filter_mm, settings.prefilter, settings.range_fraction)
    masks, _ = _run(work, structures, settings.smoothing_mm)
    full_shape = tuple(int(v) for v in grid.size[::-1])
    final = _to_image_grid(work, masks, structures, full_shape, settings.smoothing_mm)
    outcome = PromptedOutcome(masks={st.name: m for st, m in zip(structures, final)})
    pixel_mm2 = float(np.prod(grid.spacing[[a for a in range(3) if a != _slice_axis(grid)]]))
    for st, mask in zip(structures, final):
        detail, warn = _size_check(st, mask, grid, pixel_mm2, settings.min_prompt_fraction)
        outcome.details[st.name] = {**detail, "working_spacing_mm": [round(float(v), 4) for v in work.grid.spacing],
                                    "filter_sigma_mm": round(filter_mm, 3)}
        outcome.warnings.extend(warn)
        outcome.seeds_ras[st.name] = ras_lps(np.vstack([s.samples() for s in [*st.shapes, *st.extra]]))
    # Representative background points: the circles / box corners that bound each structure.
    bg = []
    for st in structures:
        for s in st.shapes:
            if isinstance(s, _Line):
                theta = np.linspace(0, 2 * np.pi, 16, endpoint=False)
                bg.append(s.centre + s.radius * (np.cos(theta)[:, None] * s.u + np.sin(theta)[:, None] * s.v))
            elif isinstance(s, _Box):
                bg.append(np.array([s.centre + s.half * np.array(sg) for sg in
                                    [(-1, -1, -1), (1, 1, 1), (-1, 1, -1), (1, -1, 1)]]))
        for s in st.negative:
            bg.append(s.centre[None])
    outcome.background_ras = ras_lps(np.vstack(bg)) if bg else np.zeros((0, 3))
    return outcome


def _size_check(st: _Structure, mask: np.ndarray, grid: VoxelGrid, pixel_mm2: float, min_fraction: float):
    """Area on the prompt's slice vs the area the prompt implies; a warning for a small island."""
    shape = st.shapes[0]
    axis = _slice_axis(grid)
    centre_idx = grid.to_index(shape.centre)
    k = int(np.clip(np.floor(centre_idx[axis] + 0.5), 0, grid.size[axis] - 1))
    index = [slice(None)] * 3
    index[2 - axis] = slice(k, k + 1)
    plane = mask[tuple(index)] > 0
    area = float(plane.sum()) * pixel_mm2
    detail = {"prompt": shape.kind, "prompt_size_mm": round(shape.size, 2), "slice_area_mm2": round(area, 2)}
    if isinstance(shape, _Line):
        implied = math.pi / 4 * shape.size ** 2
    else:
        in_plane = sorted(shape.half, reverse=True)
        implied = math.pi * in_plane[0] * in_plane[1]
    detail["implied_area_mm2"] = round(implied, 2)
    warnings = []
    what = "caliper line" if isinstance(shape, _Line) else "box"
    if not plane.any():
        warnings.append(f"'{st.name}' came out empty on the {what}'s slice: check that the {what} is on the lesion")
        return detail, warnings
    fraction = area / implied
    detail["implied_fraction"] = round(fraction, 3)
    # Span of the result on the prompt's slice.
    zyx = np.argwhere(plane)
    zyx[:, 2 - axis] = k
    plane_axes = [a for a in range(3) if a != axis]
    pts = grid.to_lps(zyx[:, ::-1].astype(float))
    if isinstance(shape, _Line):
        along = (pts - shape.centre) @ shape.u
        span = float(along.max() - along.min() + float(np.min(grid.spacing[plane_axes]))) / shape.size
        detail["span_fraction"] = round(span, 3)
        small = span < 0.5
    else:
        ext = pts.max(0) - pts.min(0) + np.abs(grid.index_to_lps) @ np.ones(3)  # voxel edges included
        sides = 2 * shape.half
        across = int(np.argmax(np.abs(grid.direction[:, axis])))  # the LPS axis through the slices
        ratios = [ext[a] / sides[a] for a in range(3) if a != across and sides[a] > 0]
        span = float(min(ratios)) if ratios else 1.0
        detail["span_fraction"] = round(span, 3)
        small = span < 0.5
    if fraction < min_fraction or small:
        warnings.append(
            f"'{st.name}' covers only {100 * fraction:.0f}% of the area the {what} implies and "
            f"{100 * span:.0f}% of its {'length' if isinstance(shape, _Line) else 'sides'} on its slice: a small "
            f"island, not the whole lesion? Check that the {what} spans the lesion, or add "
            "positive correction clicks inside the lesion"
        )
    return detail, warnings


# --------------------------------------------------------------------------------------------
# one click on a 2-D frame
# --------------------------------------------------------------------------------------------
def _click_score(work: _Work, mask: np.ndarray) -> tuple[float, float, float]:
    """(score, inside level, band level) of an outline on the working grid (module docstring)."""
    raw = np.squeeze(work.raw)
    m = np.squeeze(mask)
    if m.sum() < 5:
        return 0.0, float("nan"), float("nan")
    band = ndimage.binary_dilation(m, iterations=3) & ~m
    if band.sum() < 5:
        return 0.0, float("nan"), float("nan")
    inside, outside = float(np.median(raw[m])), float(np.median(raw[band]))
    p10, p90 = np.percentile(raw, [10, 90])
    contrast = abs(inside - outside) / max(float(p90 - p10), 1e-9)
    grad = ndimage.gaussian_gradient_magnitude(ndimage.median_filter(raw, 3), 1.5)
    edge = m & ~ndimage.binary_erosion(m)
    boundary = float(grad[edge].mean()) / max(float(np.median(grad)), 1e-9) if edge.any() else 0.0
    return contrast * boundary, inside, outside


def segment_click_2d(image: sitk.Image, grid: VoxelGrid, prompts: Prompts, settings) -> PromptedOutcome:
    """One click per structure on a 2-D frame, its scale searched (module docstring).

    :raises ClickRefusedError: no outline, or outlines of very different sizes fit about equally.
    """
    axis = _slice_axis(grid)
    plane_axes = [a for a in range(3) if a != axis]
    pixel = float(np.max(grid.spacing[plane_axes]))
    r_min = max(_CLICK_MIN_MM, _CLICK_MIN_PIXELS * pixel)
    lo_b, hi_b = grid.ras_bounds()
    r_max = min(settings.max_radius_mm, 0.5 * float(np.linalg.norm(hi_b - lo_b)))
    radii = []
    r = r_min
    while r <= r_max * (1 + 1e-9):
        radii.append(r)
        r *= _CLICK_STEP
    if not radii:
        radii = [r_max]
    full_shape = tuple(int(v) for v in grid.size[::-1])
    outcome = PromptedOutcome(masks={})
    claimed = np.zeros(full_shape, bool)
    for name, pts in prompts.points.items():
        pts_lps = ras_lps(np.asarray(pts, float))
        prompt_indices(grid, np.asarray(pts, float), name)
        centre = pts_lps[0]
        corr_pos = [ras_lps(np.array(c.point)) for c in prompts.corrections if c.structure == name and c.positive]
        corr_neg = [ras_lps(np.array(c.point)) for c in prompts.corrections if c.structure == name and not c.positive]
        candidates = []
        for r in radii:
            radius = max(_CORRECTION_RADIUS * 2 * r, 1.5 * pixel)
            st = _Structure(name, [_Disc(centre, max(_CLICK_CORE * r, 1.5 * pixel), r, 2 * r)],
                            [_Disc(p, radius, radius, 2 * r) for p in pts_lps[1:]]
                            + [_Disc(p, radius, max(_CORRECTION_FREE * 2 * r, radius), 2 * r) for p in corr_pos],
                            [_Disc(p, radius, radius, 2 * r) for p in corr_neg])
            shapes = [*st.shapes, *st.extra, *st.negative]
            lo, hi = _crop_box(grid, [s.centre for s in shapes], [1.15 * s.reach for s in shapes], 2 * pixel)
            work = _working(image, grid, lo, hi, r / _CLICK_PIXELS, 0.0, "none", settings.range_fraction)
            wpix = float(np.min(work.grid.spacing[plane_axes]))
            filter_mm = max(1.5 * wpix, 2 * r / _FILTER_SCALE)
            work.filtered = _prefilter(work.image, work.raw, filter_mm, settings.prefilter, settings.range_fraction)
            (mask,), _ = _run(work, [st], 0.0)
            score, inside, outside = _click_score(work, mask)
            area = float(mask.sum()) * float(np.prod(work.grid.spacing[plane_axes]))
            candidates.append({"r": r, "score": score, "area": area, "work": work, "mask": mask, "st": st,
                               "inside": inside, "outside": outside})
        best = max(candidates, key=lambda c: c["score"])
        if best["score"] <= 0:
            raise ClickRefusedError(f"one click at RAS ({', '.join(f'{v:.1f}' for v in pts[0])}) found no outline that "
                                    f"stands out from its surroundings: {NEXT_ACTION}")
        others = [c for c in candidates if c["area"] > 2 * best["area"] or c["area"] < 0.5 * best["area"]]
        rival = max(others, key=lambda c: c["score"]) if others else None
        ratio = rival["score"] / best["score"] if rival else 0.0
        if ratio >= settings.click_refuse_ratio:
            raise ClickRefusedError(
                f"one click at RAS ({', '.join(f'{v:.1f}' for v in pts[0])}) does not tell the lesion's size here: "
                f"outlines of {math.sqrt(best['area'] / math.pi) * 2:.1f} mm and "
                f"{math.sqrt(rival['area'] / math.pi) * 2:.1f} mm (equivalent diameters) fit the image about equally "
                f"well: {NEXT_ACTION}"
            )
        (mask,) = _to_image_grid(best["work"], [best["mask"]], [best["st"]], full_shape, 0.0)
        mask = (mask > 0) & ~claimed
        if settings.smoothing_mm > 0:
            anchors = np.zeros(mask.shape, bool)
            idx = np.floor(grid.to_index(centre) + 0.5).astype(int)
            anchors[idx[2], idx[1], idx[0]] = True
            mask = _smooth(mask, grid.spacing, settings.smoothing_mm, anchors) & ~claimed
        claimed |= mask
        outcome.masks[name] = mask.astype(np.uint8)
        outcome.seeds_ras[name] = ras_lps(pts_lps)
        outcome.details[name] = {
            "prompt": "click", "scale_mm": round(best["r"], 3), "seed_level": [round(best["inside"], 3)],
            "background_level": [round(best["outside"], 3)], "score": round(best["score"], 4),
            "ambiguity": round(ratio, 3),
        }
        if ratio >= settings.click_warn_ratio:
            outcome.warnings.append(
                f"'{name}': one click leaves the lesion's size uncertain (an outline "
                f"{'larger' if rival['area'] > best['area'] else 'smaller'} by ×{max(rival['area'], best['area']) / max(min(rival['area'], best['area']), 1e-9):.1f} "
                f"in area scores {100 * ratio:.0f}% as well): check the outline, or {NEXT_ACTION}"
            )
        theta = np.linspace(0, 2 * np.pi, 16, endpoint=False)
        u, v = grid.direction[:, plane_axes[0]], grid.direction[:, plane_axes[1]]
        ring = centre + best["r"] * (np.cos(theta)[:, None] * u + np.sin(theta)[:, None] * v)
        outcome.background_ras = np.vstack([outcome.background_ras, ras_lps(ring)])
    return outcome
