"""Caliper line, box and correction prompts in the panel, per release (tests/slicer_gui): on real
BUSI frames with expert masks, through the module's own slots. The radiologist clicks Draw, the slice
views go into place mode for a markups line (or ROI) node, the line is drawn (its two control points
set, as the markups widget does on two clicks), Segment is pressed.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from helpers import dice
from slicer_gui import driver

from alnpredictor.imaging import evaluate as ev

#: A real frame where one click is refused (the image does not tell the lesion's size).
REFUSED_FRAME = "busi_benign_384"
#: A frame where the caliper line reaches Dice ≥ 0.85 (tests/test_prompts_busi.py).
LINE_FRAME = "busi_malignant_070"


def _open(session, slicer_tmp):
    session.app.temporaryPath = str(slicer_tmp)
    widget = session.open_module()
    assert widget is not None, "\n".join(session.problems())
    session.assert_clean("opening the panel")
    return widget.ui


def _frame(session, shared_dir, case_id):
    busi = shared_dir / "data" / "busi-dev"
    mask = sitk.GetArrayFromImage(sitk.ReadImage(str(busi / "masks" / f"{case_id}_mask.png")))
    return driver.load_rgb_frame(session, busi / "images" / f"{case_id}.png"), (mask[..., 0] if mask.ndim == 3
                                                                                 else mask) > 0


def _ras(frame, rows_cols) -> list[np.ndarray]:
    return [driver.ras_of_voxel(frame, (0, r, c)) for r, c in rows_cols]


def _place_mode(session):
    """(interaction mode is Place, the active place node ID) — what the slice views are doing."""
    app_logic = session.app.applicationLogic()
    interaction, selection = app_logic.GetInteractionNode(), app_logic.GetSelectionNode()
    return interaction.GetCurrentInteractionMode() == interaction.Place, selection.GetActivePlaceNodeID()


def _ultrasound(session, ui, frame):
    driver.choose_text(ui.pathwayComboBox, "Ultrasound")
    ui.usVolumeSelector.harnessChoose(frame)


def _no_errors(session, what):
    assert session.dialogs.errors() == [], [str(d) for d in session.dialogs.errors()]
    session.assert_clean(what)


def test_a_refused_click_switches_the_panel_to_the_caliper_line(slicer_session, slicer_tmp, shared_dir):
    """One click on a frame where it is refused: no error box; the panel says to draw the caliper line,
    creates the line node and puts the views in place mode for it. Drawing the line and pressing
    Segment again segments the lesion (the click is kept as a correction)."""
    s = slicer_session
    ui = _open(s, slicer_tmp)
    frame, truth = _frame(s, shared_dir, REFUSED_FRAME)
    _ultrasound(s, ui, frame)
    ui.tumorSeedsWidget.harnessPlacePoint(_ras(frame, [ev.deepest_point(truth)])[0])
    assert s.user_click(ui.segmentButton)
    _no_errors(s, "a refused click")
    line = ui.tumorLineSelector.currentNode()
    assert line is not None and line.IsA("vtkMRMLMarkupsLineNode"), "the panel did not switch to the caliper line"
    assert driver.parameter(s, "tumorLine").GetID() == line.GetID()
    assert _place_mode(s) == (True, line.GetID()), "the views are not placing the caliper line"
    assert "caliper" in ui.promptHintLabel.text.lower()
    segmentation = driver.parameter(s, "segmentation")
    assert segmentation in (None, "") or driver.segment_voxels(segmentation, "tumor", frame) == 0, \
        "a refused click left a lesion"

    for point in _ras(frame, ev.caliper_line(truth)):  # the two clicks of the line
        line.AddControlPointWorld(*point)
    assert s.user_click(ui.segmentButton)
    _no_errors(s, "Segment from the caliper line")
    tumor = driver.segment_mask(driver.parameter(s, "segmentation"), "tumor", frame)[0]
    assert dice(tumor, truth) >= 0.85, dice(tumor, truth)
    assert "caliper" not in ui.promptHintLabel.text.lower()


def test_draw_buttons_place_a_line_and_a_box(slicer_session, slicer_tmp, shared_dir):
    """Draw (line) then Draw (box): each creates its node, binds it to the parameter node and puts the
    views in place mode for it; a box drawn alone segments the lesion better than its inscribed
    ellipse; redrawing the line empties it for two new clicks."""
    s = slicer_session
    ui = _open(s, slicer_tmp)
    frame, truth = _frame(s, shared_dir, LINE_FRAME)
    _ultrasound(s, ui, frame)

    assert s.user_click(ui.drawLineButton)
    line = ui.tumorLineSelector.currentNode()
    assert line is not None and _place_mode(s) == (True, line.GetID())
    assert "two ends" in ui.promptHintLabel.text
    for point in _ras(frame, ev.caliper_line(truth)):
        line.AddControlPointWorld(*point)
    assert s.user_click(ui.drawLineButton), "Draw cannot be clicked again"
    assert ui.tumorLineSelector.currentNode() is line and line.GetNumberOfDefinedControlPoints() == 0
    ui.tumorLineSelector.harnessChoose(None)  # the user sets the line to None: the box alone

    assert s.user_click(ui.drawBoxButton)
    roi = ui.tumorBoxSelector.currentNode()
    assert roi is not None and roi.IsA("vtkMRMLMarkupsROINode") and _place_mode(s) == (True, roi.GetID())
    assert driver.parameter(s, "tumorBox").GetID() == roi.GetID()
    lo, hi = ev.bounding_box(truth)
    corners = np.array(_ras(frame, [lo, hi]))
    roi.SetCenterWorld(*corners.mean(axis=0).tolist())
    roi.SetSizeWorld(*(np.abs(corners[1] - corners[0]) + [0, 0, 1.0]).tolist())
    assert s.user_click(ui.segmentButton)
    _no_errors(s, "Segment from the box")
    tumor = driver.segment_mask(driver.parameter(s, "segmentation"), "tumor", frame)[0]
    assert dice(tumor, truth) >= 0.8
    assert dice(tumor, truth) > dice(ev.ellipse_in_box(truth.shape, lo, hi), truth)


def test_a_correction_click_improves_the_line_result(slicer_session, slicer_tmp, shared_dir):
    """Line → Segment, then one correction at the largest error (a tumor seed where the lesion was
    missed, a background seed where it leaked) → Segment again: the lesion gets closer to the expert's."""
    s = slicer_session
    ui = _open(s, slicer_tmp)
    frame, truth = _frame(s, shared_dir, LINE_FRAME)
    _ultrasound(s, ui, frame)
    assert s.user_click(ui.drawLineButton)
    line = ui.tumorLineSelector.currentNode()
    for point in _ras(frame, ev.caliper_line(truth, ev.frame_rng(0, LINE_FRAME))):
        line.AddControlPointWorld(*point)
    assert s.user_click(ui.segmentButton)
    _no_errors(s, "Segment from the line")
    segmentation = driver.parameter(s, "segmentation")
    first = driver.segment_mask(segmentation, "tumor", frame)[0]
    point, positive = ev.correction_click(first, truth)
    widget = ui.tumorSeedsWidget if positive else ui.backgroundSeedsWidget
    widget.harnessPlacePoint(_ras(frame, [point])[0])
    assert s.user_click(ui.segmentButton)
    _no_errors(s, "Segment with a correction")
    corrected = driver.segment_mask(segmentation, "tumor", frame)[0]
    assert dice(corrected, truth) > dice(first, truth), (dice(first, truth), dice(corrected, truth))


def test_a_line_chosen_but_not_drawn_is_a_clear_message(slicer_session, slicer_tmp, shared_dir):
    """Draw pressed, nothing clicked, Segment pressed: one message that the line is not drawn yet and
    how to draw it — never a silent fall-back to the click, never a traceback."""
    s = slicer_session
    ui = _open(s, slicer_tmp)
    frame, truth = _frame(s, shared_dir, LINE_FRAME)
    _ultrasound(s, ui, frame)
    ui.tumorSeedsWidget.harnessPlacePoint(_ras(frame, [ev.deepest_point(truth)])[0])
    assert s.user_click(ui.drawLineButton)
    assert s.user_click(ui.segmentButton)
    errors = [str(d) for d in s.dialogs.errors()]
    assert len(errors) == 1 and "not drawn yet" in errors[0] and "two ends" in errors[0], errors


def test_a_png_frame_asks_for_its_pixel_spacing(slicer_session, slicer_tmp, shared_dir):
    """A frame read from a PNG has no pixel spacing (Slicer shows 1 mm): choosing it asks for mm per
    pixel; a value that is not a plausible spacing is one message naming the range and sets nothing; a
    good one sets the spacing with the origin kept: pixel (column i, row j) at RAS (−i·s, −j·s, 0)."""
    s = slicer_session
    ui = _open(s, slicer_tmp)
    driver.choose_text(ui.pathwayComboBox, "Ultrasound")
    bad, _ = _frame(s, shared_dir, LINE_FRAME)
    s.dialogs.answer("1e6")
    ui.usVolumeSelector.harnessChoose(bad)
    errors = [d.text for d in s.dialogs.errors()]
    assert len(errors) == 1 and "between" in errors[0] and "1e6" in errors[0], errors
    assert bad.GetSpacing()[:2] == (1.0, 1.0)

    good, _ = _frame(s, shared_dir, REFUSED_FRAME)
    s.dialogs.answer("0,1")  # a decimal comma, as typed on many keyboards
    ui.usVolumeSelector.harnessChoose(good)
    assert len(s.dialogs.errors()) == 1, "a good spacing gave an error"
    assert good.GetSpacing()[:2] == (0.1, 0.1) and "0.1 mm" in ui.promptHintLabel.text
    assert np.allclose(driver.ras_of_voxel(good, (0, 30, 20)), (-2.0, -3.0, 0.0))
    s.assert_clean("pixel spacing")
