"""What the user gives a segmenter: points in RAS millimetres, per structure.

:class:`Prompts` is what every segmenter takes (see :mod:`alnpredictor.imaging.segmentation`).
Each kind of prompt is one field, so a new kind is a new optional field and no caller breaks:

* ``points`` — foreground clicks per structure (``"tumor"``, ``"nodes"``): the seeds;
* ``background`` — clicks on background; none lets a segmenter that can place background itself
  do so (grow-cut does, :mod:`alnpredictor.imaging.background`);
* ``lines`` — caliper lines per structure (two end points: a lesion's longest diameter, a
  Slicer markups line);
* ``boxes`` — boxes per structure (two opposite corners: a Slicer markups ROI);
* ``corrections`` — correction clicks after a first result: positive (this belongs to the
  structure) or negative (this does not).

A segmenter lists the kinds it handles in ``prompt_kinds`` and refuses the others with
:class:`UnsupportedPromptError`, naming them — it never ignores a prompt silently.

Points are validated here (three finite numbers each); whether they fall on the image is checked
by :func:`prompt_indices` against the image's grid. One coordinate rule: RAS in, as Slicer shows
them (:func:`alnpredictor.imaging.coords.ras_lps` converts).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from alnpredictor.errors import InputError
from alnpredictor.imaging.coords import VoxelGrid, ras_lps

__all__ = [
    "Point",
    "Correction",
    "Prompts",
    "PROMPT_KINDS",
    "SeedOutsideImageError",
    "UnsupportedPromptError",
    "prompt_indices",
    "caliper_line",
    "box_from_roi",
    "with_corrections",
]

#: A point (R, A, S) in millimetres.
Point = tuple[float, float, float]

#: Every kind of prompt, as the name of its :class:`Prompts` field, with what it is called.
PROMPT_KINDS: dict[str, str] = {
    "points": "seed points",
    "background": "background points",
    "lines": "caliper lines",
    "boxes": "boxes",
    "corrections": "correction clicks",
}


class SeedOutsideImageError(InputError):
    """A seed point lies outside the image volume."""


class UnsupportedPromptError(InputError):
    """A prompt of a kind that the chosen segmenter does not handle."""


@dataclass(frozen=True)
class Correction:
    """One correction click: ``point`` does (``positive``) or does not belong to ``structure``."""

    point: Point
    structure: str
    positive: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "point", _points(self.point, f"correction of '{self.structure}'", single=True)[0])
        object.__setattr__(self, "structure", str(self.structure))
        if not isinstance(self.positive, (bool, np.bool_)):
            raise InputError(f"a correction click is positive (True) or negative (False); got {self.positive!r}")
        object.__setattr__(self, "positive", bool(self.positive))


@dataclass(frozen=True)
class Prompts:
    """Prompts for one segmentation, in RAS millimetres (see the module docstring).

    Built from plain lists or arrays and normalised to tuples of float triples; a structure with
    no points is dropped. At least one prompt must be given.

    >>> Prompts({"tumor": [[-12.5, 40, 3]], "nodes": [[30, 10, 5], [35, 22, 4]]})  # doctest: +SKIP
    >>> Prompts({"tumor": [-12.5, 40, 3]}, background=[[0, 40, 3], [-25, 40, 3]])  # doctest: +SKIP

    :param points: structure name → its seed points (one point, or a sequence of points).
    :param background: background points; empty or ``None``: placed by the segmenter.
    :param lines: structure name → caliper lines, each two end points.
    :param boxes: structure name → boxes, each two opposite corners.
    :param corrections: correction clicks (:class:`Correction`, or ``(point, structure,
        positive)`` tuples).
    """

    points: Mapping[str, tuple[Point, ...]] = field(default_factory=dict, hash=False)
    background: tuple[Point, ...] = ()
    lines: Mapping[str, tuple[tuple[Point, Point], ...]] = field(default_factory=dict, hash=False)
    boxes: Mapping[str, tuple[tuple[Point, Point], ...]] = field(default_factory=dict, hash=False)
    corrections: tuple[Correction, ...] = ()

    def __post_init__(self) -> None:
        points = self.points
        if points is not None and not isinstance(points, Mapping):
            raise InputError(f"seed points must be given per structure, e.g. {{'tumor': [[R, A, S]]}}; got {points!r}")
        parsed = {}
        for name, pts in (points or {}).items():
            arr = _points(pts, f"seeds of '{name}'")
            if arr:
                parsed[str(name)] = arr
        object.__setattr__(self, "points", parsed)
        background = () if self.background is None else self.background
        object.__setattr__(self, "background", _points(background, "background points", flat=True))
        object.__setattr__(self, "lines", _pairs(self.lines, "caliper line"))
        object.__setattr__(self, "boxes", _pairs(self.boxes, "box"))
        corrections = tuple(_correction(c) for c in (self.corrections or ()))
        object.__setattr__(self, "corrections", corrections)
        if not (parsed or self.lines or self.boxes or self.corrections):
            if not points:
                raise InputError("no seeds given: give at least one seed point (R,A,S in mm) for 'tumor' or 'nodes'")
            raise InputError("every structure has an empty seed list: give at least one seed point")

    def kinds(self) -> frozenset[str]:
        """The kinds of prompt given (names of the non-empty fields)."""
        return frozenset(kind for kind in PROMPT_KINDS if getattr(self, kind))

    def structures(self) -> tuple[str, ...]:
        """Structure names prompted, in order of first appearance (points, lines, boxes, corrections)."""
        names = [*self.points, *self.lines, *self.boxes, *(c.structure for c in self.corrections)]
        return tuple(dict.fromkeys(names))

    def require(self, supported: frozenset[str] | set[str], segmenter: str) -> None:
        """Refuse prompt kinds outside ``supported`` with :class:`UnsupportedPromptError`."""
        extra = sorted(self.kinds() - set(supported), key=list(PROMPT_KINDS).index)
        if extra:
            given = ", ".join(f"{PROMPT_KINDS[k]} ('{k}')" for k in extra)
            handled = ", ".join(f"{PROMPT_KINDS[k]} ('{k}')" for k in PROMPT_KINDS if k in supported)
            raise UnsupportedPromptError(
                f"the {segmenter} segmenter does not handle {given}: it takes {handled}. Give seed points "
                "inside each structure instead, or choose a segmenter that handles them"
            )


def prompt_indices(grid: VoxelGrid, points_ras: np.ndarray, what: str) -> np.ndarray:
    """Continuous (x, y, z) indices of RAS points on ``grid``; :class:`SeedOutsideImageError`
    (naming ``what`` and the image's extent) for a point outside the image."""
    idx = grid.to_index(ras_lps(points_ras).reshape(-1, 3))
    lo, hi = grid.ras_bounds()
    for point, inside in zip(points_ras, grid.contains(idx)):
        if not inside:
            raise SeedOutsideImageError(
                f"{what} seed at RAS ({', '.join(f'{v:.1f}' for v in point)}) mm is outside the image, "
                f"which spans R {lo[0]:.1f}..{hi[0]:.1f}, A {lo[1]:.1f}..{hi[1]:.1f}, "
                f"S {lo[2]:.1f}..{hi[2]:.1f} mm: place the seed on the image (RAS coordinates, as "
                "Slicer shows them)"
            )
    return idx


def _points(pts, what: str, *, single: bool = False, flat: bool = False) -> tuple[Point, ...]:
    """Normalise one point or a sequence of points to a tuple of float triples.

    ``flat``: a flat run of numbers is read three at a time (background points, as before)."""
    try:
        arr = np.asarray(pts, float)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be points R,A,S (3 finite numbers each); got {pts!r}") from None
    if flat and arr.ndim == 1 and arr.size % 3 == 0:
        arr = arr.reshape(-1, 3)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.size == 0 and not single:
        return ()
    if arr.ndim != 2 or arr.shape[1] != 3 or not np.all(np.isfinite(arr)) or (single and len(arr) != 1):
        raise InputError(f"{what} must be points R,A,S (3 finite numbers each); got {pts!r}")
    return tuple((float(r), float(a), float(s)) for r, a, s in arr)


def _pairs(by_structure, what: str) -> dict[str, tuple[tuple[Point, Point], ...]]:
    """Structure → pairs of points (caliper end points, box corners)."""
    if not by_structure:
        return {}
    if not isinstance(by_structure, Mapping):
        raise InputError(f"{what}s must be given per structure, e.g. {{'tumor': [[[R, A, S], [R, A, S]]]}}")
    out = {}
    for name, items in by_structure.items():
        try:
            arr = np.asarray(items, float) if len(items) else np.zeros((0, 2, 3))
        except (TypeError, ValueError):
            arr = np.zeros(0)
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim != 3 or arr.shape[1:] != (2, 3) or not np.all(np.isfinite(arr)):
            raise InputError(f"a {what} of '{name}' is two points R,A,S (3 finite numbers each); got {items!r}")
        if len(arr):
            out[str(name)] = tuple(tuple(tuple(float(v) for v in p) for p in pair) for pair in arr)
    return out


def _correction(c) -> Correction:
    if isinstance(c, Correction):
        return c
    if isinstance(c, Sequence) and not isinstance(c, str) and len(c) in (2, 3):
        return Correction(*c)
    raise InputError(f"a correction click is (point R,A,S, structure, positive); got {c!r}")


# --------------------------------------------------------------------------------------------
# what a front end builds prompts from (the Slicer Logic: markups line, ROI, point lists)
# --------------------------------------------------------------------------------------------
def caliper_line(points_ras) -> tuple[Point, Point]:
    """The two end points (RAS mm) of a caliper line — e.g. a ``vtkMRMLMarkupsLineNode``'s two
    control points (``GetNthControlPointPositionWorld(0/1)``); :class:`InputError` otherwise."""
    arr = _points(points_ras, "a caliper line")
    if len(arr) != 2:
        raise InputError(f"a caliper line is two points (its end points across the lesion); got {len(arr)}")
    if arr[0] == arr[1]:
        raise InputError("the caliper line's two end points are the same point: draw it across the lesion")
    return arr[0], arr[1]


def box_from_roi(center_ras, size_mm, axes_ras=None) -> tuple[Point, Point]:
    """Two opposite corners (RAS mm) of a box given as a Slicer ROI: ``center_ras`` (``GetCenterWorld``),
    ``size_mm`` (``GetSizeWorld``, full side lengths) and optionally ``axes_ras``, the ROI's 3×3
    orientation (columns = its axes in RAS, e.g. from ``GetObjectToWorldMatrix``). A rotated ROI
    gives the axis-aligned box that holds it (prompts' boxes are axis-aligned in RAS). A side of
    size 0 (an ROI drawn on one slice) is allowed: the segmenter extends it through slices."""
    center = np.asarray(_points(center_ras, "the box's centre", single=True)[0])
    try:
        size = np.abs(np.asarray(size_mm, float).reshape(3))
    except (TypeError, ValueError):
        raise InputError(f"the box's size is three side lengths in mm; got {size_mm!r}") from None
    if not np.all(np.isfinite(size)) or np.count_nonzero(size) < 2:
        raise InputError(f"the box needs a size along at least two axes (mm); got {size_mm!r}")
    axes = np.eye(3) if axes_ras is None else np.asarray(axes_ras, float).reshape(3, 3)
    half = 0.5 * np.abs(axes) @ size  # half-extent along R, A, S of the rotated box
    lo, hi = center - half, center + half
    return tuple(float(v) for v in lo), tuple(float(v) for v in hi)


def with_corrections(prompts: Prompts, structure: str, positive=(), negative=()) -> Prompts:
    """The same prompts plus correction clicks for ``structure`` — positive points (this belongs to
    it) and negative points (this does not), RAS mm, e.g. two markups point lists. Re-segmenting
    with the result keeps every other prompt as it was."""
    from dataclasses import replace

    added = [Correction(p, structure, True) for p in _points(positive, "positive corrections", flat=True)]
    added += [Correction(p, structure, False) for p in _points(negative, "negative corrections", flat=True)]
    return replace(prompts, points=dict(prompts.points), lines=dict(prompts.lines), boxes=dict(prompts.boxes),
                   corrections=(*prompts.corrections, *added))

