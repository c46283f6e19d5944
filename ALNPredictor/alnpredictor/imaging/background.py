"""Automatic background for seeded segmentation: where the structure around a click ends.

When the user gives no background points, grow-cut needs them placed for it; this module places
them — seeds on what is certainly background and on the structure's certain core — from the
image alone. For every seed (:meth:`AutoBackground.estimate`):

1. the seed's level ``s`` is the median of a lightly smoothed image (one in-plane voxel, at
   least 0.5 mm; ``profile_sigma_mm``) within one voxel of the click;
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
6. seeds then cover what is certain, as a user paints strokes (:meth:`AutoBackground.seed_labels`):
   background on every voxel beyond ``edge + gap`` that is closer to ``b`` than to the
   half-maximum level (a closed shell, so grow-cut cannot leak between sparse points, and no
   background seeds on partial-volume voxels or attached vessels), and the structure's core —
   closer to ``s`` than to the half-maximum level, reachable from the click without crossing
   clear background. ``gap`` is 1.5 voxel lengths along the ray, at least ``min_gap_mm``.
   Grow-cut's cost is the summed intensity change along a path, so it places the boundary in
   the band left between the seeded levels. Voxels inside any structure's estimate are never
   background, and a structure may reach no further than its estimate plus the gap (the
   ``allowed`` region returned with the labels).

**Checks** (:class:`~alnpredictor.imaging.segmentation.SegmentationLeakError`, saying what to
do): a seed is refused when it is not on a distinct structure — contrast to its surroundings
below ``min_cnr`` (3) times the noise or below ``min_contrast`` (15 %) of the surroundings'
level, no stable background level, or clear background reached in fewer than
``min_enclosed`` (80 %) of directions (it would grow into the whole image).

No threshold is tuned to a data set: the levels are fractions of the seed-to-background
contrast measured on the image itself. The grow-cut region is every estimate's extent plus two
gaps, grown by Slicer's 20 % rule (:func:`~alnpredictor.imaging.growcut.grow_cut_box`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from alnpredictor.imaging.coords import VoxelGrid, ras_lps
from alnpredictor.imaging.growcut import grow_cut_box
from alnpredictor.imaging.io import ImageDimensionError
from alnpredictor.imaging.segmentation import NEXT_ACTION, ClickRefusedError

__all__ = ["AutoBackground", "Estimate"]


def _directions(grid: VoxelGrid, n3d: int = 256, n2d: int = 96) -> np.ndarray:
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


def _voxel_length_along(grid: VoxelGrid, directions: np.ndarray) -> np.ndarray:
    """Length (mm) of one voxel step along each direction: 1 / |index change per mm|."""
    per_mm = directions @ grid.lps_to_index.T  # index units per mm along each ray
    flat = grid.flat_axes
    if flat:
        per_mm[:, flat] = 0.0
    return 1.0 / np.maximum(np.linalg.norm(per_mm, axis=1), 1e-9)


@dataclass
class Estimate:
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
    grid: VoxelGrid,
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
) -> Estimate:
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
        raise ClickRefusedError(
            f"the {what} seed at RAS ({', '.join(f'{v:.1f}' for v in ras_lps(grid.to_lps(seed_idx)))}) is not on "
            f"a structure that stands out from its surroundings (seed level {seed_level:.4g}, surroundings "
            f"{sol.background:.4g}: {'; '.join(reasons)}): it would grow into the whole image. Move the seed onto "
            f"the lesion, place background seeds around it, or {NEXT_ACTION}"
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
    return Estimate(seed_idx, dirs, edge, gap, seed_level, background, level, noise, crossed & (edge < limit))


def _noise_sigma(arr: np.ndarray, smooth: np.ndarray) -> float:
    """Robust noise level: MAD of the high-pass residual (image − smoothed image)."""
    resid = (arr - smooth).ravel()
    return 1.4826 * float(np.median(np.abs(resid - np.median(resid))))


class AutoBackground:
    """Edge estimates around seeds and the seed label volume they imply (module docstring).

    Use: :meth:`prepare` with every seed's (x, y, z) index (smooths one crop around them all),
    :meth:`estimate` per seed (:class:`SegmentationLeakError` for a seed not on a distinct
    structure), :meth:`seed_labels` with the estimates per structure (labels 1..n for the
    structures' cores in their order, n + 1 for background, in the grow-cut box), and
    :meth:`describe` for the levels found (``result.details``). The keyword options are the
    :class:`~alnpredictor.imaging.segment.GrowCutSettings` of the same names.
    """

    def __init__(self, image: sitk.Image, grid: VoxelGrid, *, max_radius_mm: float, max_elongation: float,
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
        self.crop_grid = VoxelGrid(crop)

    def estimate(self, seed_idx: np.ndarray, what: str) -> Estimate:
        """Edge estimate around one seed (continuous x, y, z index in the full image)."""
        self.prepare(np.atleast_2d(seed_idx))
        est = _estimate_extent(
            self.smooth, self.crop_grid, np.asarray(seed_idx) - self._crop_lo, max_radius_mm=self.max_radius_mm,
            max_elongation=self.max_elongation, min_gap_mm=self.min_gap_mm, noise=self.noise, what=what,
            **self.criteria,
        )
        est.seed_index = est.seed_index + self._crop_lo  # back to full-image indices
        return est

    def describe(self, ests: list[Estimate]) -> dict:
        return {
            "seed_level": [round(e.seed_level, 3) for e in ests],
            "background_level": [round(e.background_level, 3) for e in ests],
            "half_max_level": [round(e.threshold, 3) for e in ests],
            "median_edge_mm": [round(float(np.median(e.edge_mm)), 2) for e in ests],
            "noise": round(float(self.noise), 3),
        }

    def seed_labels(self, estimates: dict[str, list[Estimate]]):
        """(labels in the grow-cut box, box lo, box hi, allowed region per structure, bg points RAS)."""
        grid = self.grid
        names = list(estimates)
        all_est = [e for ests in estimates.values() for e in ests]
        self.prepare(np.array([e.seed_index for e in all_est]))
        # Grow-cut box: every estimate's extent plus two gaps, then Slicer's 20 % margin.
        ends = [grid.to_index(grid.to_lps(e.seed_index) + e.directions * (e.edge_mm + 2 * e.gap_mm)[:, None])
                for e in all_est]
        ends = np.vstack(ends + [np.array([e.seed_index for e in all_est])])
        lo, hi = grow_cut_box(grid.size, np.floor(ends.min(0)), np.ceil(ends.max(0)), 0.2)
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


def _nearest_ray(est: Estimate, grid: VoxelGrid, points_xyz: np.ndarray) -> np.ndarray:
    vec = grid.to_lps(points_xyz) - grid.to_lps(est.seed_index)
    return np.argmax(vec @ est.directions.T, axis=-1)


def _star_distance(est: Estimate, grid: VoxelGrid, points_xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance (mm) of points from the seed, and the edge distance of the nearest ray."""
    vec = grid.to_lps(points_xyz) - grid.to_lps(est.seed_index)
    return np.linalg.norm(vec, axis=-1), est.edge_mm[np.argmax(vec @ est.directions.T, axis=-1)]
