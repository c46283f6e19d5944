"""The ultrasound click sequence in the panel, per release (tests/slicer_gui): a real BUSI frame
(RGB PNG) loaded as Slicer loads it - a vtkMRMLVectorVolumeNode - the Ultrasound pathway, a click in
the lesion, Segment, the DLRN model bundle, the clinical form, Predict, Export.

Slow: the bundle is trained once per module on synthetic frames (deep + handcrafted features).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import SimpleITK as sitk
from slicer_gui import driver

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def us_bundle(tmp_path_factory):
    return driver.train_us_bundle(tmp_path_factory.mktemp("us-model") / "dlrn.alnmodel")


@pytest.fixture(scope="module")
def busi_frame(shared_dir):
    """A malignant frame of the development set and the centre of its expert mask (row, column)."""
    busi = shared_dir / "data" / "busi-dev"
    frame = sorted((busi / "images").glob("busi_malignant_*.png"))[0]
    mask = sitk.GetArrayFromImage(sitk.ReadImage(str(busi / "masks" / (frame.stem + "_mask.png"))))
    mask = (mask[..., 0] if mask.ndim == 3 else mask) > 0
    return frame, np.argwhere(mask).mean(axis=0)


def _probability(ui) -> float | None:
    match = re.match(r"\s*([01](?:\.\d+)?)", ui.probabilityLabel.text)
    return float(match.group(1)) if match else None


def test_ultrasound_click_sequence_on_a_colour_frame(slicer_session, busi_frame, us_bundle, tmp_path):
    """Pathway Ultrasound -> RGB frame -> seed -> Segment -> model -> clinical form -> Predict -> Export
    (defect 5: ultrasound Predict could never run from the panel; defect 10: colour frames are vector
    volumes the Logic refused)."""
    s = slicer_session
    s.app.temporaryPath = str(tmp_path / "slicer-tmp")
    widget = s.open_module()
    assert widget is not None, "\n".join(s.problems())
    s.assert_clean("opening the panel")
    ui = widget.ui
    bundle, case = us_bundle
    clinical = dict(case.clinical)
    frame_path, (row, col) = busi_frame

    driver.choose_text(ui.pathwayComboBox, "Ultrasound")
    assert driver.visible(s, ui.usVolumeSelector) and not driver.visible(s, ui.t1cVolumeSelector)
    frame = driver.load_rgb_frame(s, frame_path)
    ui.usVolumeSelector.harnessChoose(frame)  # a PNG has no pixel spacing: asked, and dismissed here
    assert [d.kind for d in s.dialogs.shown] == ["QInputDialog.getText"] and "spacing" in s.dialogs.shown[0].title
    assert "Predict" in ui.promptHintLabel.text
    ui.tumorSeedsWidget.harnessPlacePoint(driver.ras_of_voxel(frame, (0, row, col)))
    assert s.user_click(ui.segmentButton), "Segment cannot be clicked"
    assert s.dialogs.errors() == [], [str(d) for d in s.dialogs.errors()]
    s.assert_clean("Segment on the colour frame")
    segmentation = driver.parameter(s, "segmentation")
    pixels = driver.segment_mask(segmentation, "tumor", frame)
    assert pixels.sum() > 0

    driver.browse(s, ui.modelPathLineEdit, bundle)
    assert s.dialogs.errors() == [], [str(d) for d in s.dialogs.errors()]
    s.assert_clean("choosing the ultrasound bundle")
    form = driver.fill_clinical_form(ui, clinical)
    assert set(form) == set(clinical), f"clinical form {sorted(form)} vs the model's {sorted(clinical)}"

    s.dialogs.answer("0.08")  # Predict needs mm: asked again, answered from the frame's depth scale
    assert s.user_click(ui.predictButton), "Predict cannot be clicked on the ultrasound pathway"
    assert s.wait_until(lambda: _probability(ui) is not None or s.dialogs.errors(), timeout=600)
    assert s.dialogs.errors() == [], [str(d) for d in s.dialogs.errors()]
    s.assert_clean("ultrasound Predict")
    assert frame.GetSpacing()[:2] == (0.08, 0.08)
    assert np.array_equal(driver.segment_mask(segmentation, "tumor", frame), pixels), \
        "the lesion drawn before the spacing was given moved off its pixels"
    seed = [0.0] * 3
    ui.tumorSeedsWidget.currentNode().GetNthControlPointPositionWorld(0, seed)
    assert np.allclose(seed, driver.ras_of_voxel(frame, (0, row, col)), atol=1e-6)
    probability = _probability(ui)
    assert probability is not None and 0.0 <= probability <= 1.0, ui.probabilityLabel.text
    assert "metastasis" in ui.classLabel.text

    written = driver.export_report(s, ui, tmp_path / "report", "ultrasound Export")
    assert {p.suffix for p in written} >= {".pdf", ".json"}


def test_ultrasound_predict_from_the_panel_on_a_grey_frame(slicer_session, us_bundle, tmp_path):
    """A greyscale frame (NRRD, a scalar volume with its own pixel spacing), one click, Segment, the DLRN
    bundle, the clinical form, Predict: a probability (defect 5: ultrasound Predict could never run from the
    panel). Same steps as the colour-frame sequence without its conversion, so the two defects show
    apart."""
    from alnpredictor.synthetic.us_cohort import to_sitk

    s = slicer_session
    s.app.temporaryPath = str(tmp_path / "slicer-tmp")
    widget = s.open_module()
    assert widget is not None, "\n".join(s.problems())
    s.assert_clean("opening the panel")
    ui = widget.ui
    bundle, case = us_bundle
    path = tmp_path / "frame.nrrd"
    sitk.WriteImage(to_sitk(case.image, case.spacing), str(path), True)

    driver.choose_text(ui.pathwayComboBox, "Ultrasound")
    frame = driver.load_volume(s, path, "US frame")
    ui.usVolumeSelector.harnessChoose(frame)
    ui.tumorSeedsWidget.harnessPlacePoint(case.seed_ras)
    assert s.user_click(ui.segmentButton), "Segment cannot be clicked"
    assert s.dialogs.errors() == [], [str(d) for d in s.dialogs.errors()]
    driver.browse(s, ui.modelPathLineEdit, bundle)
    assert s.dialogs.errors() == [], [str(d) for d in s.dialogs.errors()]
    driver.fill_clinical_form(ui, dict(case.clinical))
    s.assert_clean("choosing the ultrasound bundle")
    assert s.user_click(ui.predictButton), "Predict cannot be clicked with a frame, its segmentation, the model and the form"
    assert s.wait_until(lambda: _probability(ui) is not None or s.dialogs.errors(), timeout=600)
    assert s.dialogs.errors() == [], [str(d) for d in s.dialogs.errors()]
    s.assert_clean("ultrasound Predict")
    assert 0.0 <= _probability(ui) <= 1.0
