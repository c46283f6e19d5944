"""Prompts on real ultrasound (busi-dev): caliper line, box, one click, a correction click.

Fixed frames with per-frame Dice thresholds (a little under what the rules reach today), prompts
simulated from the expert mask by the rules of :mod:`alnpredictor.imaging.evaluate` (the ones
``bench/bench_segmentation.py`` reports on all 60 frames). The frames are read at BUSI's nominal
0.1 mm per pixel. Skipped when the shared data is not there.
"""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from alnpredictor.imaging import evaluate as ev
from alnpredictor.imaging.coords import VoxelGrid
from alnpredictor.imaging.segment import Prompts, get_segmenter
from alnpredictor.imaging.segmentation import NEXT_ACTION, ClickRefusedError

SPACING = 0.1
JITTER_SEED = 13  # bench_segmentation's seed: the same jittered lines

# frame: (caliper jittered, box, one click) Dice thresholds
FRAMES = {
    "busi_benign_070": (0.88, 0.87, 0.86),
    "busi_benign_355": (0.90, 0.91, 0.90),
    "busi_malignant_146": (0.87, 0.87, 0.80),
    "busi_malignant_162": (0.88, 0.89, 0.88),
}


def _frame(case_id: str):
    from alnpredictor.config import shared_data
    from alnpredictor.imaging.io import read_volume

    try:
        root = shared_data("busi-dev")
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    image = read_volume(root / "images" / f"{case_id}.png", spacing_mm=SPACING)
    mask = sitk.GetArrayFromImage(sitk.ReadImage(str(root / "masks" / f"{case_id}_mask.png")))
    return image, (mask[..., 0] if mask.ndim == 3 else mask) > 0


def _mask(result) -> np.ndarray:
    return sitk.GetArrayFromImage(result.masks["tumor"])[0] > 0


@pytest.mark.parametrize("case_id", sorted(FRAMES))
def test_caliper_line(case_id):
    image, truth = _frame(case_id)
    grid = VoxelGrid(image)
    line = ev.to_ras(grid, ev.caliper_line(truth, ev.frame_rng(JITTER_SEED, case_id)))
    result = get_segmenter("grow-cut").segment(image, Prompts(lines={"tumor": [line]}))
    dice = ev.dice(_mask(result), truth)
    assert dice >= FRAMES[case_id][0], dice
    # better than the ellipse drawn on the same line without looking at the image
    p, q = ev.caliper_line(truth, ev.frame_rng(JITTER_SEED, case_id))
    assert dice > ev.dice(ev.ellipse_on_line(truth.shape, p, q), truth)
    detail = result.details["tumor"]
    assert detail["prompt"] == "line" and detail["span_fraction"] > 0.8 and not result.warnings
    assert result.provenance.engine == "grow-cut" and result.provenance.settings["line_core"] == 0.8


@pytest.mark.parametrize("case_id", sorted(FRAMES))
def test_box(case_id):
    image, truth = _frame(case_id)
    lo, hi = ev.bounding_box(truth)
    result = get_segmenter("grow-cut").segment(image, Prompts(boxes={"tumor": [ev.to_ras(VoxelGrid(image), [lo, hi])]}))
    dice = ev.dice(_mask(result), truth)
    assert dice >= FRAMES[case_id][1], dice
    assert dice > ev.dice(ev.ellipse_in_box(truth.shape, lo, hi), truth)


@pytest.mark.parametrize("case_id", sorted(FRAMES))
def test_one_click(case_id):
    image, truth = _frame(case_id)
    click = ev.to_ras(VoxelGrid(image), ev.deepest_point(truth))
    result = get_segmenter("grow-cut").segment(image, Prompts({"tumor": click}))
    assert ev.dice(_mask(result), truth) >= FRAMES[case_id][2]
    detail = result.details["tumor"]
    assert detail["prompt"] == "click" and detail["scale_mm"] > 0 and 0 <= detail["ambiguity"] < 0.85


def test_a_refused_click_names_the_caliper_line():
    """A click inside a lesion whose size the image does not tell: refused, saying what to do next."""
    image, truth = _frame("busi_benign_384")
    click = ev.to_ras(VoxelGrid(image), ev.deepest_point(truth))
    with pytest.raises(ClickRefusedError, match=NEXT_ACTION) as info:
        get_segmenter("grow-cut").segment(image, Prompts({"tumor": click}))
    assert info.value.next_action == "caliper"
    # the caliper line then works
    line = ev.to_ras(VoxelGrid(image), ev.caliper_line(truth))
    result = get_segmenter("grow-cut").segment(image, Prompts(lines={"tumor": [line]}))
    assert ev.dice(_mask(result), truth) >= 0.85


@pytest.mark.parametrize(("case_id", "gain"), [("busi_malignant_070", 0.05), ("busi_malignant_108", 0.03)])
def test_a_correction_click_resegments_keeping_the_line(case_id, gain):
    image, truth = _frame(case_id)
    grid = VoxelGrid(image)
    line = ev.to_ras(grid, ev.caliper_line(truth, ev.frame_rng(JITTER_SEED, case_id)))
    seg = get_segmenter("grow-cut")
    first = _mask(seg.segment(image, Prompts(lines={"tumor": [line]})))
    point, positive = ev.correction_click(first, truth)
    corrected = seg.segment(image, Prompts(lines={"tumor": [line]},
                                           corrections=[(ev.to_ras(grid, point)[0], "tumor", positive)]))
    assert ev.dice(_mask(corrected), truth) >= ev.dice(first, truth) + gain
