"""The prompt rules of :mod:`alnpredictor.imaging.prompted` on synthetic images: a caliper line on
one slice extends through slices, the margin is kept (no convex hull), small islands come with a
warning, corrections, and the refusals that say what to do."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from helpers import dice
from scipy import ndimage

from alnpredictor.errors import InputError
from alnpredictor.imaging.coords import VoxelGrid, ras_lps
from alnpredictor.imaging.prompts import SeedOutsideImageError
from alnpredictor.imaging.segment import GrowCutSettings, Prompts, get_segmenter


def _frame(lesion: np.ndarray, inside=40.0, outside=130.0, seed=0, spacing=0.1) -> sitk.Image:
    rng = np.random.default_rng(seed)
    arr = ndimage.gaussian_filter(np.where(lesion, inside, outside) * rng.rayleigh(1.0, lesion.shape), 1.0)
    image = sitk.GetImageFromArray(arr.astype(np.float32)[None])
    image.SetSpacing((spacing, spacing, 1.0))
    return image


def _ras(image: sitk.Image, x: float, y: float, z: float = 0.0) -> list[float]:
    return [float(v) for v in ras_lps(np.array(image.TransformContinuousIndexToPhysicalPoint((x, y, z))))]


def test_line_on_one_slice_extends_through_slices():
    """3-D (MRI-like): the line on the middle slice sets the scale; the sphere rule spans the slices."""
    rng = np.random.default_rng(1)
    z, y, x = np.mgrid[:20, :90, :100]
    lesion = ((x - 50) / 22.0) ** 2 + ((y - 45) / 14.0) ** 2 + ((z - 10) / 5.0) ** 2 < 1  # 1 mm pixels, 2 mm slices
    arr = np.where(lesion, 800.0, 300.0) + rng.normal(0, 40, lesion.shape)
    image = sitk.GetImageFromArray(arr.astype(np.float32))
    image.SetSpacing((0.8, 0.8, 2.0))
    line = [_ras(image, 29, 45, 10), _ras(image, 71, 45, 10)]
    result = get_segmenter("grow-cut").segment(image, Prompts(lines={"tumor": [line]}))
    mask = sitk.GetArrayFromImage(result.masks["tumor"]) > 0
    assert dice(mask, lesion) > 0.85
    assert mask[6].any() and mask[14].any()  # slices away from the line's
    assert result.details["tumor"]["prompt"] == "line" and not result.warnings


def test_margin_is_kept_no_convex_hull():
    """A lobulated lesion keeps its concavities (a convex hull would add the notches)."""
    yy, xx = np.mgrid[:200, :240]
    r, theta = np.hypot(yy - 100, xx - 120), np.arctan2(yy - 100, xx - 120)
    lesion = r < 45 * (1 + 0.3 * np.cos(5 * theta))
    image = _frame(lesion)
    line = [_ras(image, 120 - 56, 100), _ras(image, 120 + 56, 100)]
    mask = sitk.GetArrayFromImage(get_segmenter("grow-cut").segment(image, Prompts(lines={"tumor": [line]}))
                                  .masks["tumor"])[0] > 0
    from skimage.morphology import convex_hull_image

    assert dice(mask, lesion) > 0.85
    assert mask.sum() < 0.85 * convex_hull_image(mask).sum()  # concave, like the truth
    assert abs(mask.sum() / lesion.sum() - 1) < 0.2


def test_box_in_2d_and_3d():
    yy, xx = np.mgrid[:150, :200]
    lesion = ((yy - 70) / 30.0) ** 2 + ((xx - 100) / 50.0) ** 2 < 1
    image = _frame(lesion)
    box = [_ras(image, 45, 35), _ras(image, 155, 105)]
    result = get_segmenter("grow-cut").segment(image, Prompts(boxes={"tumor": [box]}))
    assert dice(sitk.GetArrayFromImage(result.masks["tumor"])[0], lesion) > 0.85
    assert result.details["tumor"]["prompt"] == "box" and not result.warnings


def test_small_results_are_never_silent():
    """Seeds cover 80 % of the line (and half the box's inscribed ellipse), so a result cannot shrink
    to a tiny island unseen; the size check still compares every result with the prompt's implied
    area and warns below ``min_prompt_fraction`` (forced here to show the message)."""
    yy, xx = np.mgrid[:150, :200]
    lesion = ((yy - 75) / 20.0) ** 2 + ((xx - 100) / 50.0) ** 2 < 1
    image = _frame(lesion)
    line = [_ras(image, 55, 75), _ras(image, 145, 75)]
    result = get_segmenter("grow-cut").segment(image, Prompts(lines={"tumor": [line]}))
    fraction = result.details["tumor"]["implied_fraction"]
    assert 0.3 < fraction < 0.7 and not result.warnings
    strict = get_segmenter("grow-cut", min_prompt_fraction=0.8).segment(image, Prompts(lines={"tumor": [line]}))
    assert any("covers only" in w and "island" in w for w in strict.warnings)


def test_negative_correction_removes_a_region_and_positive_adds_one():
    yy, xx = np.mgrid[:160, :220]
    main_lesion = ((yy - 80) / 25.0) ** 2 + ((xx - 90) / 40.0) ** 2 < 1
    blob = np.hypot(yy - 47, xx - 90) < 12  # a dark structure touching the lesion's upper edge
    image = _frame(main_lesion | blob)
    line = [_ras(image, 54, 80), _ras(image, 126, 80)]
    seg = get_segmenter("grow-cut")
    first = sitk.GetArrayFromImage(seg.segment(image, Prompts(lines={"tumor": [line]})).masks["tumor"])[0] > 0
    assert first[47, 90]  # took the neighbour
    neg = Prompts(lines={"tumor": [line]}, corrections=[(_ras(image, 90, 45), "tumor", False)])
    corrected = sitk.GetArrayFromImage(seg.segment(image, neg).masks["tumor"])[0] > 0
    assert not corrected[45, 90] and corrected[80, 90]
    assert dice(corrected, main_lesion) > dice(first, main_lesion)
    far = np.hypot(yy - 80, xx - 185) < 10  # a second dark spot beyond the background limit
    image2 = _frame(main_lesion | far)
    pos = Prompts(lines={"tumor": [line]}, corrections=[(_ras(image2, 185, 80), "tumor", True)])
    added = sitk.GetArrayFromImage(seg.segment(image2, pos).masks["tumor"])[0] > 0
    assert added[80, 185] and added[80, 90]


def test_two_d_click_modes():
    yy, xx = np.mgrid[:200, :240]
    lesion = ((yy - 100) / 30.0) ** 2 + ((xx - 120) / 45.0) ** 2 < 1
    image = _frame(lesion)
    click = Prompts({"tumor": [_ras(image, 120, 100)]})
    scale = get_segmenter("grow-cut").segment(image, click)
    assert dice(sitk.GetArrayFromImage(scale.masks["tumor"])[0], lesion) > 0.85
    assert scale.details["tumor"]["prompt"] == "click"
    half_max = get_segmenter("grow-cut", click_mode="half-max").segment(image, click)
    assert "half_max_level" in half_max.details["tumor"]


def test_prompt_refusals_say_what_to_do():
    yy, xx = np.mgrid[:100, :120]
    image = _frame(np.hypot(yy - 50, xx - 60) < 20)
    seg = get_segmenter("grow-cut")
    line = [_ras(image, 40, 50), _ras(image, 80, 50)]
    with pytest.raises(InputError, match="only clicks while others have a caliper line"):
        seg.segment(image, Prompts({"nodes": [_ras(image, 10, 10)]}, lines={"tumor": [line]}))
    with pytest.raises(InputError, match="background points are not used with a caliper line"):
        seg.segment(image, Prompts(lines={"tumor": [line]}, background=[_ras(image, 5, 5)]))
    with pytest.raises(InputError, match="without a first prompt"):
        seg.segment(image, Prompts(lines={"tumor": [line]}, corrections=[(_ras(image, 60, 50), "nodes", True)]))
    with pytest.raises(InputError, match="shorter than two pixels"):
        seg.segment(image, Prompts(lines={"tumor": [[_ras(image, 60, 50), _ras(image, 60.5, 50)]]}))
    with pytest.raises(InputError, match="has no extent"):
        seg.segment(image, Prompts(boxes={"tumor": [[_ras(image, 60, 50), _ras(image, 60, 50)]]}))
    with pytest.raises(SeedOutsideImageError, match="caliper line of 'tumor'"):
        seg.segment(image, Prompts(lines={"tumor": [[_ras(image, 60, 50), _ras(image, 500, 50)]]}))
    with pytest.raises(InputError, match="prefilter must be one of bilateral, gaussian, none"):
        GrowCutSettings(prefilter="median")
    assert VoxelGrid(image).flat_axes == [2]


def test_front_end_helpers_line_roi_corrections():
    """What the Slicer Logic calls: a markups line's two points, an ROI's centre/size/axes, point lists."""
    from alnpredictor.imaging.prompts import box_from_roi, caliper_line, with_corrections

    line = caliper_line([[-1.0, -2.0, 0.0], [-9.0, -2.5, 0.0]])
    assert line == ((-1.0, -2.0, 0.0), (-9.0, -2.5, 0.0))
    with pytest.raises(InputError, match="two points"):
        caliper_line([[0, 0, 0]])
    with pytest.raises(InputError, match="same point"):
        caliper_line([[0, 0, 0], [0, 0, 0]])
    assert box_from_roi([1, 2, 3], [10, 20, 0]) == ((-4.0, -8.0, 3.0), (6.0, 12.0, 3.0))
    c = np.cos(np.pi / 4)
    lo, hi = box_from_roi([0, 0, 0], [10, 10, 4], [[c, -c, 0], [c, c, 0], [0, 0, 1]])
    assert np.allclose(hi, (10 * c, 10 * c, 2)) and np.allclose(lo, (-10 * c, -10 * c, -2))
    with pytest.raises(InputError, match="at least two axes"):
        box_from_roi([0, 0, 0], [10, 0, 0])
    first = Prompts(lines={"tumor": [line]})
    corrected = with_corrections(first, "tumor", positive=[[-5, -2, 0]], negative=[[-20, -2, 0], [-21, -2, 0]])
    assert corrected.lines == first.lines and len(corrected.corrections) == 3
    assert [c.positive for c in corrected.corrections] == [True, False, False]
    again = with_corrections(corrected, "tumor", negative=[[-22, -2, 0]])
    assert len(again.corrections) == 4 and first.corrections == ()
