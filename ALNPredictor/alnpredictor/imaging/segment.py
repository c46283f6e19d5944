"""Seeded segmentation of the tumor and the axillary nodes: one click per structure.

The engine is Slicer's own grow-cut (:mod:`alnpredictor.imaging.growcut`), so the Slicer panel
and headless runs agree. What this module adds is what makes one click enough:

**Automatic background** (when the user gives no background points). For every seed:

1. the seed's level ``s`` is the median of a lightly smoothed image (one in-plane voxel)
   within one voxel of the click;
2. rays are cast from the seed in all directions (256 in 3-D, 96 in the plane of a 2-D image)
   and sampled on the smoothed image up to ``max_radius_mm``;
3. the edge on each ray is at the half-maximum level ``(s + b) / 2`` between the seed and the
   *local background* ``b``. This is the full-width-at-half-maximum rule: a step edge blurred
   by the scanner's symmetric point-spread function passes through the mid level at the true
   boundary, whatever the contrast, polarity (bright MRI lesion, dark ultrasound lesion) or
   blur. Edges use hysteresis: a ray ends at clear background (a quarter of the way from
   ``b`` to ``s``), and the edge is the first half-maximum crossing after the last voxel that
   is certainly structure (three quarters of the way) — dips inside the lesion that come back
   are not its edge, a layer of intermediate tissue outside it is not part of it;
4. ``b`` is a fixed point: the median level in a narrow band just outside the edges it
   implies (the tissue touching the structure). It is iterated from levels spread over the
   search ball and, among the solutions that pass the checks below, the one standing out most
   clearly from its band (contrast over the band's spread) is kept;
5. a ray's edge is limited to ``max_elongation`` times the median edge distance, and to 1.5×
   the median of the rays within 25° of it: thin attachments (vessels, ducts, ligaments) fill
   a small solid angle seen from the seed, the lesion's own outline changes slowly with
   direction;
6. seeds then cover what is certain, as a user paints strokes: background on every voxel
   beyond ``edge + gap`` that is closer to ``b`` than to the half-maximum level (a closed
   shell, so grow-cut cannot leak between sparse points, and no background seeds on
   partial-volume voxels or attached vessels), and the structure's core — closer to ``s``
   than to the half-maximum level, reachable from the click without crossing clear
   background. ``gap`` is 1.5 voxel lengths along the ray, at least ``min_gap_mm``. Grow-cut's
   cost is the summed intensity change along a path, so it places the boundary in the band
   left between the seeded levels. Voxels inside any structure's estimate are never
   background, and a structure stays within its estimate plus the gap.

No threshold is tuned to a data set: the levels are fractions of the seed-to-background
contrast measured on the image itself.

**One grow-cut for all structures.** Every structure gets its own label in a single run, so
each voxel belongs to exactly one structure: one segment never overwrites another.

**Post-processing** per structure: keep the connected components that contain a seed of
that structure (several node seeds can give several nodes in one ``nodes`` segment), fill
holes, optionally smooth (Gaussian of ``smoothing_mm`` on the mask). Post-processing may only
add voxels grow-cut gave to background, never voxels of another structure.

**Checks**, each with a named error that says what to do: a seed outside the image
(:class:`SeedOutsideImageError`); a seed that is not on a distinct structure — contrast to its
surroundings below 3× the noise or below 15 % of the surroundings' level, or background
reached in fewer than 80 % of directions (it would grow into the whole image) — or, with
user-given background, a result filling more than half the region searched
(:class:`SegmentationLeakError`); an image that is not a 2-D or 3-D scalar image
(:class:`~alnpredictor.imaging.io.ImageDimensionError`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from alnpredictor.errors import InputError, SegmentationError
from alnpredictor.imaging.coords import ras_lps
from alnpredictor.imaging.growcut import grow_cut
from alnpredictor.imaging.io import ImageDimensionError, ensure_3d_scalar

log = logging.getLogger(__name__)

__all__ = [
    "SegmentationResult",
    "SeedOutsideImageError",
    "SegmentationLeakError",
    "ImageDimensionError",
    "segment_structures",
    "segment",
]


class SeedOutsideImageError(InputError):
    """A seed point lies outside the image volume."""


class SegmentationLeakError(SegmentationError):
    """A seed is not on a distinct structure, or the result grew into the whole region."""


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

    def summary(self) -> dict:
        """JSON-ready summary: voxels and volume (ml) per structure, seconds, background mode."""
        out: dict = {"seconds": round(self.seconds, 3), "auto_background": self.auto_background,
                     "n_background_seeds": int(len(self.background_ras)), "structures": {},
                     "warnings": list(self.warnings)}
        for name, mask in self.masks.items():
            voxels = int(np.count_nonzero(sitk.GetArrayViewFromImage(mask)))
            voxel_ml = float(np.prod(mask.GetSpacing())) / 1000.0
            out["structures"][name] = {"voxels": voxels, "volume_ml": round(voxels * voxel_ml, 4),
                                       "seeds": int(len(self.seeds_ras.get(name, ())))}
        return out


# --------------------------------------------------------------------------------------------
# geometry helpers
# --------------------------------------------------------------------------------------------
class _Grid:
    """Index ↔ physical (LPS) mapping of an image, vectorised, in (x, y, z) order."""

    def __init__(self, image: sitk.Image) -> None:
        self.size = np.array(image.GetSize())
        self.spacing = np.array(image.GetSpacing(), float)
        self.origin = np.array(image.GetOrigin(), float)
        self.direction = np.array(image.GetDirection(), float).reshape(3, 3)
        self.index_to_lps = self.direction @ np.diag(self.spacing)
        self.lps_to_index = np.linalg.inv(self.index_to_lps)

    def to_index(self, lps: np.ndarray) -> np.ndarray:
        return (np.asarray(lps, float) - self.origin) @ self.lps_to_index.T

    def to_lps(self, index: np.ndarray) -> np.ndarray:
        return np.asarray(index, float) @ self.index_to_lps.T + self.origin

    @property
    def flat_axes(self) -> list[int]:
        return [i for i in range(3) if self.size[i] == 1]

    def ras_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        corners = np.array([[x, y, z] for x in (-0.5, self.size[0] - 0.5) for y in (-0.5, self.size[1] - 0.5)
                            for z in (-0.5, self.size[2] - 0.5)])
        ras = ras_lps(self.to_lps(corners))
        return ras.min(0), ras.max(0)


def _directions(grid: _Grid, n3d: int = 256, n2d: int = 96) -> np.ndarray:
    """Unit ray directions (LPS): a Fibonacci sphere in 3-D, a circle in the plane of a 2-D image."""
    flat = grid.flat_axes
    if len(flat) == 1:
        in_plane = [i for i in range(3) if i not in flat]
        u, v = grid.direction[:, in_plane[0]], grid.direction[:, in_plane[1]]
        theta = np.linspace(0, 2 * np.pi, n2d, endpoint=False)
        return np.cos(theta)[:, None] * u + np.sin(theta)[:, None] * v
    if flat:
        raise ImageDimensionError(f"image of size {tuple(grid.size)} is a line, not a 2-D or 3-D image")
    i = np.arange(n3d) + 0.5
    phi = np.arccos(1 - 2 * i / n3d)
    theta = np.pi * (1 + 5**0.5) * i
    return np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], axis=1)


def _voxel_length_along(grid: _Grid, directions: np.ndarray) -> np.ndarray:
    """Length (mm) of one voxel step along each direction: 1 / |index change per mm|."""
    per_mm = directions @ grid.lps_to_index.T  # index units per mm along each ray
    flat = grid.flat_axes
    if flat:
        per_mm[:, flat] = 0.0
    return 1.0 / np.maximum(np.linalg.norm(per_mm, axis=1), 1e-9)


# --------------------------------------------------------------------------------------------
# seeds
# --------------------------------------------------------------------------------------------
def _seed_indices(grid: _Grid, seeds_ras: np.ndarray, what: str) -> np.ndarray:
    """Continuous (x, y, z) indices of RAS seeds; raises SeedOutsideImageError if outside."""
    idx = grid.to_index(ras_lps(seeds_ras).reshape(-1, 3))
    lo, hi = grid.ras_bounds()
    for point, ci in zip(seeds_ras, idx):
        inside = np.all(ci >= -0.5) and np.all(ci <= grid.size - 0.5)
        if not inside:
            raise SeedOutsideImageError(
                f"{what} seed at RAS ({', '.join(f'{v:.1f}' for v in point)}) mm is outside the image, "
                f"which spans R {lo[0]:.1f}..{hi[0]:.1f}, A {lo[1]:.1f}..{hi[1]:.1f}, "
                f"S {lo[2]:.1f}..{hi[2]:.1f} mm: place the seed on the image (RAS coordinates, as "
                "Slicer shows them)"
            )
    return idx


def _parse_seeds(seeds_ras: Mapping[str, Sequence[Sequence[float]]]) -> dict[str, np.ndarray]:
    if not isinstance(seeds_ras, Mapping) or not seeds_ras:
        raise InputError("no seeds given: give at least one seed point (R,A,S in mm) for 'tumor' or 'nodes'")
    out = {}
    for name, pts in seeds_ras.items():
        arr = np.asarray(pts, float)
        if arr.ndim == 1:
            arr = arr[None]
        if arr.size == 0:
            continue
        if arr.ndim != 2 or arr.shape[1] != 3 or not np.all(np.isfinite(arr)):
            raise InputError(f"seeds of '{name}' must be points R,A,S (3 finite numbers each); got {pts!r}")
        out[str(name)] = arr
    if not out:
        raise InputError("every structure has an empty seed list: give at least one seed point")
    return out


# --------------------------------------------------------------------------------------------
# automatic background
# --------------------------------------------------------------------------------------------
@dataclass
class _Estimate:
    """A structure's estimated extent around one seed: edge distance per ray (mm)."""

    seed_index: np.ndarray  # (x, y, z) continuous index in the working crop
    directions: np.ndarray  # (n, 3) LPS unit vectors
    edge_mm: np.ndarray  # (n,) distance of the half-maximum edge, limited
    gap_mm: np.ndarray  # (n,) margin beyond the edge before background starts
    seed_level: float
    background_level: float
    threshold: float
    noise: float
    crossed: np.ndarray  # (n,) whether the ray crossed the level before the limit


def _sample(arr_zyx: np.ndarray, idx_xyz: np.ndarray) -> np.ndarray:
    """Linear interpolation at (..., 3) x,y,z indices; NaN outside the array."""
    coords = np.moveaxis(idx_xyz[..., ::-1], -1, 0)
    shape = np.array(arr_zyx.shape)[:, None]
    flat = coords.reshape(3, -1)
    outside = np.any((flat < -0.5) | (flat > shape - 0.5), axis=0)
    vals = ndimage.map_coordinates(arr_zyx, np.clip(flat, 0, shape - 1), order=1, mode="nearest")
    vals[outside] = np.nan
    return vals.reshape(idx_xyz.shape[:-1])


def _edges(profiles: np.ndarray, seed_level: float, background: float, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Half-maximum edge distance (mm) on each ray, with hysteresis; and whether it was found.

    ``rel`` is 1 at the seed's level and 0 at the background's. A ray ends where it first
    reaches clear background (``rel <= 0.25``). Before that point, the last sample that is
    certainly structure (``rel >= 0.75``) is found, and the edge is the first half-maximum
    crossing after it. So a dip inside the lesion that comes back to lesion level (necrosis,
    heterogeneous enhancement, internal echoes) is not its edge, while a layer of intermediate
    tissue between the lesion and darker tissue (a node in fat next to gland) is outside it —
    the two-threshold hysteresis edge detectors use. A ray that leaves the image or the search
    radius without reaching background has no edge (``found`` False)."""
    rel = (profiles - background) / (seed_level - background)
    n_rays, n = rel.shape
    cols = np.arange(n)[None, :]
    clear = (rel <= 0.25) & ~np.isnan(rel)
    invalid = np.isnan(rel)
    first_clear = np.where(clear.any(axis=1), clear.argmax(axis=1), n)
    first_invalid = np.where(invalid.any(axis=1), invalid.argmax(axis=1), n)
    found = first_clear < first_invalid
    end = np.minimum(first_clear, first_invalid)
    certain = (rel >= 0.75) & (cols < end[:, None])
    last_certain = np.where(certain.any(axis=1), n - 1 - np.argmax(certain[:, ::-1], axis=1), 0)
    below = (rel < 0.5) & (cols > last_certain[:, None]) & (cols <= end[:, None]) | (cols >= end[:, None])
    first_below = np.minimum(np.argmax(below, axis=1), end)
    rows = np.arange(n_rays)
    prev = np.clip(first_below - 1, 0, n - 1)
    a = rel[rows, prev]
    b = rel[rows, np.clip(first_below, 0, n - 1)]
    b = np.where(np.isnan(b), 0.0, b)
    ok = (first_below > 0) & (a - b > 1e-12) & ~np.isnan(a)
    frac = np.where(ok, (a - 0.5) / np.where(ok, a - b, 1.0), 0.0)
    dist = (prev + np.clip(frac, 0, 1)) * step
    dist = np.where(first_below > 0, dist, 0.0)
    dist = np.where(found, dist, end * step)
    return dist, found


@dataclass
class _Solution:
    background: float
    edge: np.ndarray
    found: np.ndarray
    converged: bool
    separation: float  # contrast / spread of the band's levels (at least the noise)

    @property
    def enclosed(self) -> float:
        return float(np.mean(self.found))


def _fixed_point(profiles: np.ndarray, seed_level: float, background: float, step: float, vox: np.ndarray,
                 radii: np.ndarray, noise: float, max_iter: int = 12) -> _Solution:
    """Iterate background level → edges → band level until the level settles."""
    converged = False
    for _ in range(max_iter):
        edge, found = _edges(profiles, seed_level, background, step)
        # The band: from 1.5 voxels beyond the edge, 2 voxels (at least 1.5 mm) wide — the
        # tissue touching the structure, not tissue further out.
        inner = edge[:, None] + 1.5 * vox[:, None]
        band = (radii[None, :] >= inner) & (radii[None, :] <= inner + np.maximum(1.5, 2 * vox[:, None]))
        band &= found[:, None] & ~np.isnan(profiles)
        if not np.any(band):
            break
        new = float(np.median(profiles[band]))
        if abs(new - seed_level) < 1e-9:
            break
        done = abs(new - background) <= 0.02 * abs(seed_level - background)
        background = new
        if done:
            converged = True
            break
    edge, found = _edges(profiles, seed_level, background, step)
    inner = edge[:, None] + 1.5 * vox[:, None]
    band = (radii[None, :] >= inner) & (radii[None, :] <= inner + np.maximum(1.5, 2 * vox[:, None]))
    values = profiles[band & found[:, None] & ~np.isnan(profiles)]
    spread = 1.4826 * float(np.median(np.abs(values - np.median(values)))) if len(values) else np.inf
    return _Solution(background, edge, found, converged, abs(seed_level - background) / max(spread, noise))


def _check(sol: _Solution, seed_level: float, noise: float, min_cnr: float, min_contrast: float,
           min_enclosed: float) -> list[str]:
    """Reasons why a solution is not a distinct, enclosed structure ([] if it is).

    * contrast above ``min_cnr`` times the noise (Rose-type detectability) and at least
      ``min_contrast`` of the surroundings' level (Weber contrast; MRI and ultrasound
      intensities are zero-based);
    * clear background reached on at least ``min_enclosed`` of the rays (attached vessels or a
      border take a few directions; a click on fat or parenchyma finds no enclosure).
    """
    contrast = abs(seed_level - sol.background)
    reasons = []
    if not sol.converged:
        reasons.append("no stable background level")
    if contrast < min_cnr * noise:
        reasons.append(f"contrast-to-noise {contrast / max(noise, 1e-12):.1f} < {min_cnr:g}")
    if contrast < min_contrast * abs(sol.background):
        reasons.append(f"contrast {100 * contrast / max(abs(sol.background), 1e-12):.0f}% of the surroundings "
                       f"< {100 * min_contrast:.0f}%")
    if sol.enclosed < min_enclosed:
        reasons.append(f"enclosed on {100 * sol.enclosed:.0f}% of directions < {100 * min_enclosed:.0f}%")
    return reasons


def _estimate_extent(
    smooth: np.ndarray,
    grid: _Grid,
    seed_idx: np.ndarray,
    *,
    max_radius_mm: float,
    max_elongation: float,
    min_gap_mm: float,
    noise: float,
    what: str,
    neck_angle_deg: float = 25.0,
    neck_ratio: float = 1.5,
    min_cnr: float = 3.0,
    min_contrast: float = 0.15,
    min_enclosed: float = 0.8,
) -> _Estimate:
    """Half-maximum edge per ray around one seed (see the module docstring)."""
    dirs = _directions(grid)
    step = 0.5 * float(np.min(grid.spacing[[i for i in range(3) if i not in grid.flat_axes]]))
    radii = np.arange(0.0, max_radius_mm + step, step)
    pts_lps = grid.to_lps(seed_idx)[None, None, :] + dirs[:, None, :] * radii[None, :, None]
    profiles = _sample(smooth, grid.to_index(pts_lps))
    # Seed level: median within one in-plane voxel of the click (the first samples of every ray).
    near = 2.0 * step
    seed_level = float(np.nanmedian(profiles[:, radii <= near]))
    vox = _voxel_length_along(grid, dirs)
    valid = profiles[~np.isnan(profiles)]
    # The local background is a fixed point: the median level in a narrow band just outside
    # the half-maximum edges it implies. Several fixed points can exist (a node in fat next to
    # darker gland: the fat, or the gland); iterate from levels spread over the search ball
    # and keep, among the solutions that pass the checks below, the one that stands out most
    # clearly from what touches it (contrast over the spread of the band's levels): a boundary
    # drawn through a lesion's internal texture has heterogeneous tissue on its outside.
    starts = np.unique(np.percentile(valid, np.arange(5, 100, 10)))
    solutions = []
    for b0 in starts:
        if abs(b0 - seed_level) <= max(min_cnr * noise, 1e-9):
            continue
        solutions.append(_fixed_point(profiles, seed_level, float(b0), step, vox, radii, noise))
    if not solutions:
        solutions.append(_fixed_point(profiles, seed_level, float(np.median(valid)) - 1e-6, step, vox, radii, noise))
    checked = [(sol, _check(sol, seed_level, noise, min_cnr, min_contrast, min_enclosed)) for sol in solutions]
    good = [sol for sol, reasons in checked if not reasons]
    if not good:
        sol, reasons = max(checked, key=lambda c: c[0].enclosed)
        raise SegmentationLeakError(
            f"the {what} seed at RAS ({', '.join(f'{v:.1f}' for v in ras_lps(grid.to_lps(seed_idx)))}) is not on "
            f"a structure that stands out from its surroundings (seed level {seed_level:.4g}, surroundings "
            f"{sol.background:.4g}: {'; '.join(reasons)}): it would grow into the whole image. Move the seed onto "
            "the lesion, or place background seeds around it"
        )
    best = max(good, key=lambda sol: sol.separation)
    background, edge, crossed = best.background, best.edge, best.found
    level = 0.5 * (seed_level + background)
    limit = max_elongation * float(np.median(edge[crossed]))
    limit = max(limit, 2.0 * float(np.min(vox)))
    edge = np.minimum(np.where(crossed, edge, limit), limit)
    # Thin attachments (vessels, ducts, ligaments) fill a small solid angle seen from the seed,
    # the lesion's own outline changes slowly with direction: a ray may reach at most
    # ``neck_ratio`` times the median of the rays within ``neck_angle_deg`` of it.
    cosines = dirs @ dirs.T
    neighbours = cosines >= np.cos(np.deg2rad(neck_angle_deg))
    local = np.array([np.median(edge[row]) for row in neighbours])
    edge = np.minimum(edge, neck_ratio * local)
    gap = np.maximum(1.5 * vox, min_gap_mm)
    return _Estimate(seed_idx, dirs, edge, gap, seed_level, background, level, noise, crossed & (edge < limit))


# --------------------------------------------------------------------------------------------
# main entry points
# --------------------------------------------------------------------------------------------
def segment_structures(
    image: sitk.Image,
    seeds_ras: Mapping[str, Sequence[Sequence[float]]],
    background_ras: Sequence[Sequence[float]] | None = None,
    *,
    smoothing_mm: float = 0.0,
    distance_penalty: float = 0.0,
    fill_holes: bool = True,
    max_radius_mm: float = 40.0,
    max_elongation: float = 2.5,
    min_gap_mm: float = 1.0,
    profile_sigma_mm: float | None = None,
    min_cnr: float = 3.0,
    min_contrast: float = 0.15,
    min_enclosed: float = 0.8,
    max_fraction: float = 0.5,
    skip_bad_seeds: bool = False,
) -> SegmentationResult:
    """Grow-cut segmentation of one or more structures from seed points.

    :param image: 3-D scalar image (or 2-D / single-slice ultrasound), LPS geometry.
    :param seeds_ras: structure name → seed points (R, A, S mm), e.g.
        ``{"tumor": [[-12.5, 40, 3]], "nodes": [[30, 10, 5], [35, 22, 4]]}``.
    :param background_ras: background points (RAS mm); ``None`` or empty places them
        automatically (see the module docstring).
    :param smoothing_mm: Gaussian smoothing (sigma, mm) of each final mask (0 = off).
    :param distance_penalty: grow-cut "seed locality" (intensity units per mm; Slicer's
        default 0).
    :param fill_holes: fill enclosed holes in each structure.
    :param max_radius_mm: how far from a seed the automatic background search looks; in
        automatic mode a structure cannot extend further than this from its seeds.
    :param max_elongation: a ray's edge may lie at most this many times the median edge
        distance from the seed (longer bright runs are attached vessels/ducts).
    :param min_gap_mm: minimum margin between the estimated edge and the background seeds.
    :param profile_sigma_mm: smoothing of the image used for the edge estimate (default: one
        in-plane voxel, at least 0.5 mm).
    :param min_cnr: minimum seed-to-surroundings contrast, in units of the image noise.
    :param min_contrast: minimum contrast as a fraction of the surroundings' level.
    :param min_enclosed: minimum fraction of directions in which background is reached.
    :param max_fraction: with given background seeds: a structure filling more than this
        fraction of the region searched is a leak.
    :param skip_bad_seeds: drop (with a warning in ``result.warnings``) an automatic-mode seed
        that is not on a distinct structure instead of failing, as long as its structure keeps
        at least one seed — for batch runs on many cases.
    :returns: :class:`SegmentationResult` with uint8 masks on the image grid.
    :raises SeedOutsideImageError: a seed (or background point) outside the image.
    :raises SegmentationLeakError: a seed not on a distinct structure, or a structure that
        fills the region searched.
    :raises ImageDimensionError: the image is not a 2-D or 3-D scalar image.
    """
    t0 = time.perf_counter()
    image = ensure_3d_scalar(image, "image to segment")
    grid = _Grid(image)
    if len(grid.flat_axes) > 1:
        raise ImageDimensionError(f"image of size {tuple(int(v) for v in grid.size)} is not a 2-D or 3-D image")
    seeds = _parse_seeds(seeds_ras)
    names = list(seeds)
    seed_idx = {name: _seed_indices(grid, pts, name) for name, pts in seeds.items()}
    bg_given = background_ras is not None and len(background_ras) > 0
    warnings: list[str] = []
    details: dict[str, dict] = {}
    allowed: dict[str, np.ndarray] | None = None
    if bg_given:
        bg_ras = np.asarray(background_ras, float).reshape(-1, 3)
        bg_idx = _seed_indices(grid, bg_ras, "background")
        all_idx = np.floor(np.vstack([*seed_idx.values(), bg_idx]) + 0.5)
        box_lo, box_hi = _box_around(grid.size, all_idx.min(0), all_idx.max(0), 0.2)
        labels = np.zeros(tuple(int(v) for v in (box_hi - box_lo + 1)[::-1]), np.int16)
        _paint_points(labels, bg_idx - box_lo, len(names) + 1)
    else:
        auto = _AutoBackground(
            image, grid, max_radius_mm=max_radius_mm, max_elongation=max_elongation, min_gap_mm=min_gap_mm,
            profile_sigma_mm=profile_sigma_mm, min_cnr=min_cnr, min_contrast=min_contrast,
            min_enclosed=min_enclosed,
        )
        auto.prepare(np.vstack(list(seed_idx.values())))
        estimates = {}
        for name in names:
            kept = []
            for idx in seed_idx[name]:
                try:
                    kept.append((idx, auto.estimate(idx, name)))
                except SegmentationLeakError as exc:
                    if not skip_bad_seeds:
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

    sl = tuple(slice(int(box_lo[a]), int(box_hi[a]) + 1) for a in (2, 1, 0))
    intensity = sitk.GetArrayViewFromImage(image)[sl]
    result = grow_cut(intensity, labels, tuple(grid.spacing), distance_penalty=distance_penalty)

    masks: dict[str, sitk.Image] = {}
    claimed = np.zeros(result.shape, bool)
    structure_labels = (result > 0) & (result <= len(names))
    for k, name in enumerate(names, start=1):
        local_seeds = np.floor(seed_idx[name] + 0.5).astype(int) - box_lo
        raw = result == k
        if allowed is not None:  # automatic mode: stay within the estimated extent (+ gap)
            raw &= allowed[name]
        mask = _postprocess(raw, local_seeds, grid.spacing, fill_holes=fill_holes, smoothing_mm=smoothing_mm)
        # Post-processing may add background voxels, never another structure's voxels.
        mask &= ~(structure_labels & (result != k)) & ~claimed
        if allowed is not None:
            mask &= allowed[name]
        mask = _seed_components(mask, local_seeds)
        claimed |= mask
        fraction = float(mask.mean())
        if bg_given and fraction > max_fraction:
            raise SegmentationLeakError(
                f"'{name}' grew into {100 * fraction:.0f}% of the region searched: a {name} seed is probably on "
                "background, or background seeds are inside the structure. Move the seed onto the lesion, or "
                "place background seeds around it just outside its edge"
            )
        if not np.any(mask):
            warnings.append(f"structure '{name}' came out empty: check its seeds")
        full = np.zeros(sitk.GetArrayViewFromImage(image).shape, np.uint8)
        full[sl] = mask
        out = sitk.GetImageFromArray(full)
        out.CopyInformation(image)
        masks[name] = out
    for w in warnings:
        log.warning(w)
    return SegmentationResult(
        masks=masks, background_ras=bg_ras, seconds=time.perf_counter() - t0, auto_background=not bg_given,
        seeds_ras=seeds, details=details, warnings=warnings,
    )


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
def _box_around(size: np.ndarray, lo: np.ndarray, hi: np.ndarray, ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """Slicer's rule: the seed bounding box grown by ``ratio`` of its size (≥ 3 voxels), clipped."""
    margin = np.maximum(3, np.floor(ratio * (hi - lo)))
    lo = np.clip(lo - margin, 0, size - 1).astype(int)
    hi = np.clip(hi + margin, 0, size - 1).astype(int)
    return lo, hi


def _paint_points(labels_zyx: np.ndarray, idx_xyz: np.ndarray, value: int) -> None:
    """Set the voxels nearest to (x, y, z) indices (relative to the array) to ``value``."""
    ijk = np.floor(np.asarray(idx_xyz, float).reshape(-1, 3) + 0.5).astype(int)
    shape = np.array(labels_zyx.shape[::-1])
    ok = np.all((ijk >= 0) & (ijk < shape), axis=1)
    ijk = ijk[ok]
    labels_zyx[ijk[:, 2], ijk[:, 1], ijk[:, 0]] = value


def _noise_sigma(arr: np.ndarray, smooth: np.ndarray) -> float:
    """Robust noise level: MAD of the high-pass residual (image − smoothed image)."""
    resid = (arr - smooth).ravel()
    return 1.4826 * float(np.median(np.abs(resid - np.median(resid))))


class _AutoBackground:
    """Edge estimates around seeds and the seed label volume they imply (module docstring)."""

    def __init__(self, image: sitk.Image, grid: _Grid, *, max_radius_mm: float, max_elongation: float,
                 min_gap_mm: float, profile_sigma_mm: float | None, min_cnr: float, min_contrast: float,
                 min_enclosed: float) -> None:
        self.image, self.grid = image, grid
        self.max_radius_mm, self.max_elongation, self.min_gap_mm = max_radius_mm, max_elongation, min_gap_mm
        self.criteria = {"min_cnr": min_cnr, "min_contrast": min_contrast, "min_enclosed": min_enclosed}
        in_plane = [grid.spacing[i] for i in range(3) if i not in grid.flat_axes]
        self.sigma_mm = profile_sigma_mm if profile_sigma_mm is not None else max(0.5, float(min(in_plane)))
        self._crop_lo: np.ndarray | None = None

    def prepare(self, seeds_idx: np.ndarray) -> None:
        """Smooth a crop around the seeds (search radius + margin) once: fast on large volumes."""
        grid = self.grid
        reach = (1.3 * self.max_radius_mm + 5.0) / grid.spacing
        lo = np.clip(np.floor(seeds_idx.min(0) - reach), 0, grid.size - 1).astype(int)
        hi = np.clip(np.ceil(seeds_idx.max(0) + reach), 0, grid.size - 1).astype(int)
        if self._crop_lo is not None and np.all(lo >= self._crop_lo) and np.all(hi <= self._crop_hi):
            return
        sl = tuple(slice(int(lo[a]), int(hi[a]) + 1) for a in (2, 1, 0))
        arr = sitk.GetArrayViewFromImage(self.image)[sl].astype(np.float32)
        sigma_vox = [0.0 if arr.shape[a] == 1 else self.sigma_mm / s for a, s in zip(range(3), grid.spacing[::-1])]
        self.smooth = ndimage.gaussian_filter(arr, sigma_vox, mode="nearest")
        self.noise = _noise_sigma(arr, self.smooth)
        self._crop_lo, self._crop_hi = lo, hi
        crop = sitk.RegionOfInterest(self.image, [int(v) for v in hi - lo + 1], [int(v) for v in lo])
        self.crop_grid = _Grid(crop)

    def estimate(self, seed_idx: np.ndarray, what: str) -> _Estimate:
        """Edge estimate around one seed (continuous x, y, z index in the full image)."""
        self.prepare(np.atleast_2d(seed_idx))
        est = _estimate_extent(
            self.smooth, self.crop_grid, np.asarray(seed_idx) - self._crop_lo, max_radius_mm=self.max_radius_mm,
            max_elongation=self.max_elongation, min_gap_mm=self.min_gap_mm, noise=self.noise, what=what,
            **self.criteria,
        )
        est.seed_index = est.seed_index + self._crop_lo  # back to full-image indices
        return est

    def describe(self, ests: list[_Estimate]) -> dict:
        return {
            "seed_level": [round(e.seed_level, 3) for e in ests],
            "background_level": [round(e.background_level, 3) for e in ests],
            "half_max_level": [round(e.threshold, 3) for e in ests],
            "median_edge_mm": [round(float(np.median(e.edge_mm)), 2) for e in ests],
            "noise": round(float(self.noise), 3),
        }

    def seed_labels(self, estimates: dict[str, list[_Estimate]]):
        """(labels in the grow-cut box, box lo, box hi, allowed region per structure, bg points RAS)."""
        grid = self.grid
        names = list(estimates)
        all_est = [e for ests in estimates.values() for e in ests]
        self.prepare(np.array([e.seed_index for e in all_est]))
        # Grow-cut box: every estimate's extent plus two gaps, then Slicer's 20 % margin.
        ends = [grid.to_index(grid.to_lps(e.seed_index) + e.directions * (e.edge_mm + 2 * e.gap_mm)[:, None])
                for e in all_est]
        ends = np.vstack(ends + [np.array([e.seed_index for e in all_est])])
        lo, hi = _box_around(grid.size, np.floor(ends.min(0)), np.ceil(ends.max(0)), 0.2)
        lo = np.maximum(lo, self._crop_lo)
        hi = np.minimum(hi, self._crop_hi)
        rel_sl = tuple(slice(int(lo[a] - self._crop_lo[a]), int(hi[a] - self._crop_lo[a]) + 1) for a in (2, 1, 0))
        smooth = self.smooth[rel_sl]
        shape = smooth.shape
        # Each estimate's star-shaped region (inside its edges) and the region it may reach (+ gap).
        allowed = {name: np.zeros(shape, bool) for name in names}
        star = {id(e): np.zeros(shape, bool) for e in all_est}
        yy, xx = np.mgrid[lo[1]:hi[1] + 1, lo[0]:hi[0] + 1]
        for zi in range(shape[0]):
            pts = np.stack([xx, yy, np.full_like(xx, lo[2] + zi)], axis=-1).astype(float)
            for name, ests in estimates.items():
                for e in ests:
                    dist, limit = _star_distance(e, grid, pts)
                    star[id(e)][zi] = dist <= limit
                    allowed[name][zi] |= dist <= limit + e.gap_mm[_nearest_ray(e, grid, pts)]
        inside_any = np.logical_or.reduce(list(allowed.values()))
        # Seeds cover what is certain — as a user paints strokes, not single voxels — and leave
        # the blurred edge band to grow-cut:
        # * background: beyond every estimate + gap, on voxels closer to the local background
        #   than to the half-maximum level (no seeds on partial-volume voxels or in attached
        #   vessels, which would compete with the lesion's rim);
        # * structure core: inside the estimate, closer to the seed's level than to the
        #   half-maximum level, and reachable from the click without crossing clear background
        #   (internal dark or bright spots do not split a lesion).
        # Grow-cut's cost is the summed intensity change along a path, so the boundary settles
        # between the seeded levels, near the half-maximum edge.
        labels = np.zeros(shape, np.int16)
        not_background = np.zeros(shape, bool)
        for k, ests in enumerate(estimates.values(), start=1):
            for e in ests:
                sign = 1.0 if e.seed_level > e.background_level else -1.0
                rel = sign * (smooth - e.background_level) / max(abs(e.seed_level - e.background_level), 1e-12)
                not_background |= rel > 0.25
                click = tuple(int(v) for v in np.floor(e.seed_index + 0.5 - lo)[::-1])
                comp, _ = ndimage.label(star[id(e)] & (rel > 0.25), structure=np.ones((3, 3, 3)))
                if comp[click]:
                    core = (comp == comp[click]) & (rel >= 0.75)
                    labels[core & (labels == 0)] = k
        labels[~inside_any & ~not_background & (labels == 0)] = len(names) + 1

        # Representative background points (display, reuse): the ray ends just beyond each edge.
        points = []
        for e in all_est:
            p = grid.to_lps(e.seed_index) + e.directions * (e.edge_mm + e.gap_mm + _voxel_length_along(
                grid, e.directions))[:, None]
            pidx = grid.to_index(p)
            ok = np.all((pidx >= -0.5) & (pidx <= grid.size - 0.5), axis=1)
            for o in all_est:
                if o is not e:
                    dist, limit = _star_distance(o, grid, pidx)
                    ok &= dist > limit + o.gap_mm[_nearest_ray(o, grid, pidx)]
            points.append(p[ok])
        bg_ras = ras_lps(np.vstack(points)) if points else np.zeros((0, 3))
        return labels, lo, hi, allowed, bg_ras


def _nearest_ray(est: _Estimate, grid: _Grid, points_xyz: np.ndarray) -> np.ndarray:
    vec = grid.to_lps(points_xyz) - grid.to_lps(est.seed_index)
    return np.argmax(vec @ est.directions.T, axis=-1)


def _star_distance(est: _Estimate, grid: _Grid, points_xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance (mm) of points from the seed, and the edge distance of the nearest ray."""
    vec = grid.to_lps(points_xyz) - grid.to_lps(est.seed_index)
    return np.linalg.norm(vec, axis=-1), est.edge_mm[np.argmax(vec @ est.directions.T, axis=-1)]


def _postprocess(raw: np.ndarray, seeds_xyz: np.ndarray, spacing_xyz: np.ndarray, *, fill_holes: bool,
                 smoothing_mm: float) -> np.ndarray:
    """Seed-connected components, hole filling, optional Gaussian smoothing (boolean array)."""
    inside = np.all((seeds_xyz >= 0) & (seeds_xyz < np.array(raw.shape[::-1])), axis=1)
    seeds = seeds_xyz[inside]
    if not np.any(raw):
        return raw
    mask = _seed_components(raw, seeds)
    if fill_holes and np.any(mask):
        if min(mask.shape) > 1:
            mask = ndimage.binary_fill_holes(mask)
        # Slice-wise filling too, across the thickest axis: holes that open through thick slices
        # (and every hole of a single-slice ultrasound image) are not closed in 3-D.
        spacing_zyx = np.asarray(spacing_xyz)[::-1]
        axis = int(np.argmax(np.where(np.array(mask.shape) == 1, np.inf, spacing_zyx)))
        for i in range(mask.shape[axis]):
            index = [slice(None)] * 3
            index[axis] = i
            mask[tuple(index)] = ndimage.binary_fill_holes(mask[tuple(index)])
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
