"""Scoring a segmenter against expert masks of 2-D frames, with prompts simulated from the mask.

The prompts a user would give are derived from the expert mask by fixed rules (the ones the
evaluation in ``bench/bench_segmentation.py`` uses on ``busi-dev``):

* **click** — the mask's deepest interior point (maximum of its distance transform);
* **caliper line** — the end points of the mask's longest diameter, each moved 5 % of the
  line's length inward; *jittered*: each end point then moved by a uniform random offset of up
  to ±3 % of the line's length along each image axis (a generator seeded per frame);
* **box** — the mask's bounding box (pixel edges), each side moved out by 5 % of the box's
  extent along that axis;
* **correction click** — at the deepest point of the largest error region of a first result
  (positive where the result missed lesion, negative where it took background).

Prompt-only baselines, which do not look at the image: the **ellipse on the line** (major axis the
line, minor axis 0.6 × the major) and the **box's inscribed ellipse**. Dice and the 95th
percentile Hausdorff distance (HD95, mm on the frame's grid) compare masks.

Points are (row, column) pixel positions here; :func:`to_ras` turns them into the RAS
millimetres a segmenter takes, on a frame read with the documented 2-D geometry (pixel
(column i, row j) at LPS (i·s, j·s, 0)).
"""

from __future__ import annotations

import zlib

import numpy as np
from scipy import ndimage

from alnpredictor.imaging.coords import VoxelGrid, ras_lps

__all__ = [
    "deepest_point", "longest_diameter", "caliper_line", "bounding_box", "correction_click",
    "ellipse_on_line", "ellipse_in_box", "dice", "hd95", "to_ras", "frame_rng",
]

#: Rules of the simulated prompts (module docstring).
CALIPER_INWARD = 0.05
CALIPER_JITTER = 0.03
BOX_MARGIN = 0.05
ELLIPSE_RATIO = 0.6


def frame_rng(seed: int, case_id: str) -> np.random.Generator:
    """A generator fixed by ``seed`` and the frame's id (the same jitter whatever else is run)."""
    return np.random.default_rng([int(seed), zlib.crc32(case_id.encode())])


def deepest_point(mask: np.ndarray) -> np.ndarray:
    """(row, column) of the mask's deepest interior pixel (first one on ties)."""
    dist = ndimage.distance_transform_edt(np.pad(mask > 0, 1))[1:-1, 1:-1]
    return np.array(np.unravel_index(int(np.argmax(dist)), dist.shape), float)


def longest_diameter(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) end points of the longest distance between two mask pixels."""
    from scipy.spatial import ConvexHull

    pts = np.argwhere(mask > 0).astype(float)
    if len(pts) >= 3:
        try:
            pts = pts[ConvexHull(pts).vertices]
        except Exception:  # noqa: BLE001 - collinear pixels: all points are candidates
            pass
    d = ((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1)
    i, j = np.unravel_index(int(np.argmax(d)), d.shape)
    return pts[i], pts[j]


def caliper_line(mask: np.ndarray, rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The simulated caliper line (module docstring); jittered when ``rng`` is given."""
    p, q = longest_diameter(mask)
    v = q - p
    p, q = p + CALIPER_INWARD * v, q - CALIPER_INWARD * v
    if rng is not None:
        length = float(np.linalg.norm(v))
        p = p + rng.uniform(-CALIPER_JITTER, CALIPER_JITTER, 2) * length
        q = q + rng.uniform(-CALIPER_JITTER, CALIPER_JITTER, 2) * length
    limit = np.array(mask.shape, float) - 1
    return np.clip(p, 0, limit), np.clip(q, 0, limit)


def bounding_box(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) corners of the mask's bounding box grown by 5 % per side (pixel centres)."""
    rows, cols = np.nonzero(mask > 0)
    lo = np.array([rows.min(), cols.min()], float) - 0.5
    hi = np.array([rows.max(), cols.max()], float) + 0.5
    ext = hi - lo
    lo, hi = lo - BOX_MARGIN * ext, hi + BOX_MARGIN * ext
    limit = np.array(mask.shape, float) - 1
    return np.clip(lo, 0, limit), np.clip(hi, 0, limit)


def correction_click(result: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, bool] | None:
    """(row, column, positive) at the deepest point of the largest error region; None if none."""
    missed, extra = (truth > 0) & ~(result > 0), (result > 0) & ~(truth > 0)
    best = None
    for err, positive in ((missed, True), (extra, False)):
        lab, n = ndimage.label(err)
        if n == 0:
            continue
        sizes = ndimage.sum(err, lab, range(1, n + 1))
        k = int(np.argmax(sizes)) + 1
        if best is None or sizes[k - 1] > best[0]:
            best = (sizes[k - 1], lab == k, positive)
    if best is None:
        return None
    return deepest_point(best[1]), best[2]


def _ellipse(shape, centre, u, a, b) -> np.ndarray:
    rr, cc = np.mgrid[: shape[0], : shape[1]].astype(float)
    d0, d1 = rr - centre[0], cc - centre[1]
    x = d0 * u[0] + d1 * u[1]
    y = -d0 * u[1] + d1 * u[0]
    return (x / a) ** 2 + (y / b) ** 2 <= 1.0


def ellipse_on_line(shape, p, q, ratio: float = ELLIPSE_RATIO) -> np.ndarray:
    """The prompt-only baseline of a line: major axis the line, minor ``ratio`` × major."""
    p, q = np.asarray(p, float), np.asarray(q, float)
    length = float(np.linalg.norm(q - p))
    return _ellipse(shape, 0.5 * (p + q), (q - p) / length, length / 2, ratio * length / 2)


def ellipse_in_box(shape, lo, hi) -> np.ndarray:
    """The prompt-only baseline of a box: its inscribed ellipse."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    half = (hi - lo) / 2
    return _ellipse(shape, lo + half, np.array([1.0, 0.0]), half[0], half[1])


def dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0, b > 0
    total = int(a.sum() + b.sum())
    return 2.0 * float((a & b).sum()) / total if total else 1.0


def hd95(a: np.ndarray, b: np.ndarray, spacing: float | tuple[float, float] = 1.0) -> float:
    """95th percentile of the symmetric surface distance (mm with ``spacing`` mm per pixel)."""
    a, b = a > 0, b > 0
    if not a.any() or not b.any():
        return float("inf")
    sampling = (spacing, spacing) if np.isscalar(spacing) else tuple(spacing)
    edge_a = a & ~ndimage.binary_erosion(a)
    edge_b = b & ~ndimage.binary_erosion(b)
    da = ndimage.distance_transform_edt(~edge_b, sampling=sampling)[edge_a]
    db = ndimage.distance_transform_edt(~edge_a, sampling=sampling)[edge_b]
    return float(max(np.percentile(da, 95), np.percentile(db, 95)))


def to_ras(grid: VoxelGrid, rows_cols: np.ndarray, slice_index: int = 0) -> np.ndarray:
    """RAS (mm) of (row, column) pixel positions on slice ``slice_index`` of ``grid``."""
    rc = np.atleast_2d(np.asarray(rows_cols, float))
    idx = np.stack([rc[:, 1], rc[:, 0], np.full(len(rc), float(slice_index))], axis=1)
    return ras_lps(grid.to_lps(idx))
