"""The whole MRI click sequence in the panel, per release (tests/slicer_gui): breast1 as contrast T1
with simulated T2WI / ADC loaded as files, pathway, volumes, a tumor seed, Segment, a correction in
the Segment Editor, Propagate with Register off and on, the model bundle, the clinical form, Predict
(busy state, Cancel), Export - then the same Predict with the imports of a Windows Python.

Slow: PyRadiomics and N4 run (N4 is cached under one slicer.app.temporaryPath for the module).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from slicer_gui import driver

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mri_bundle(tmp_path_factory, study_files, breast1_label, slicer_tmp):
    """A nomogram bundle trained around this study's features, extracted headless by the module's
    Logic from the same files with its default settings (those the panel's Predict uses); N4 results
    land in the cache the panel's sessions use."""
    from ALNPredictorLib.headless import headless_context
    from ALNPredictorLib.logic import ALNPredictorLogic

    context = headless_context(new_scene=True)
    logic = ALNPredictorLogic(context.scene)
    volumes = {seq: context.logic("Volumes").AddArchetypeVolume(str(path), seq, 0) for seq, path in study_files.items()}
    seeds = logic.newPointList("tumor seeds", [driver.breast1_seed_ras(breast1_label)])
    segmentation, _ = logic.segmentFromSeeds(volumes["T1C"], seeds)
    features, _, _ = logic.extractMRIFeatures(volumes["T1C"], volumes["T2"], volumes["ADC"], segmentation,
                                              cacheDir=str(slicer_tmp / "ALNPredictor" / "n4-cache"))
    bundle = driver.train_mri_bundle(features, tmp_path_factory.mktemp("model") / "harness.alnmodel")
    context.scene.Clear(0)
    return bundle


@pytest.fixture(scope="module")
def dicom_study(tmp_path_factory, study_files):
    """The same study as DICOM series of one study (what a radiologist loads from PACS): sequence →
    the first file of its series (Add Data reads the whole series from one file)."""
    import pydicom
    from dicom_series import write_mr_series

    from alnpredictor.imaging.io import read_volume

    root, uid = tmp_path_factory.mktemp("dicom-study"), pydicom.uid.generate_uid()
    return {seq: write_mr_series(read_volume(path), root / seq, series_description=seq, study_uid=uid,
                                 shuffle_files=False)[0] for seq, path in study_files.items()}


def _ready_to_predict(s, slicer_tmp, study_files, breast1_label, mri_bundle):
    """Everything up to Predict, as the user does it; returns (widget ui, volumes)."""
    s.app.temporaryPath = str(slicer_tmp)
    widget = s.open_module()
    assert widget is not None, "\n".join(s.problems())
    s.assert_clean("opening the panel")
    ui = widget.ui
    driver.choose_text(ui.pathwayComboBox, "MRI")
    volumes = {seq: driver.load_volume(s, path, seq) for seq, path in study_files.items()}
    ui.t1cVolumeSelector.harnessChoose(volumes["T1C"])
    ui.t2VolumeSelector.harnessChoose(volumes["T2"])
    ui.adcVolumeSelector.harnessChoose(volumes["ADC"])
    ui.tumorSeedsWidget.harnessPlacePoint(driver.breast1_seed_ras(breast1_label))
    assert s.user_click(ui.segmentButton), "Segment cannot be clicked"
    s.assert_clean("Segment")
    driver.browse(s, ui.modelPathLineEdit, mri_bundle)
    s.assert_clean("choosing the model bundle")
    assert ui.modelCardBrowser.toPlainText().strip(), "no model card shown for the chosen bundle"
    form = driver.fill_clinical_form(ui, {"age": 61})
    assert list(form) == ["age"], f"clinical form fields: {list(form)}"
    assert s.dialogs.errors() == [], [str(d) for d in s.dialogs.errors()]
    return ui, volumes


def _probability(ui) -> float | None:
    match = re.match(r"\s*([01]\.\d+)", ui.probabilityLabel.text)
    return float(match.group(1)) if match else None


def test_mri_click_sequence(slicer_session, slicer_tmp, dicom_study, breast1_label, mri_bundle, tmp_path):
    """A DICOM study: pathway -> volumes -> seed -> Segment -> correct -> Propagate (Register off, on)
    -> model -> clinical form -> Predict -> Export with "DICOM for PACS" ticked, with no error box and
    nothing on the console; the SEG of contrast T1 holds the panel's tumor voxel for voxel."""
    s = slicer_session
    ui, volumes = _ready_to_predict(s, slicer_tmp, dicom_study, breast1_label, mri_bundle)
    t1c = volumes["T1C"]
    segmentation = driver.parameter(s, "segmentation")
    tumor = driver.segment_mask(segmentation, "tumor", t1c)
    assert tumor.sum() > 50

    # correct: the radiologist paints the rim the grow-cut missed on the central slice (Segment Editor)
    from scipy import ndimage

    k = int(np.argwhere(tumor)[:, 0].mean().round())
    rim = np.zeros_like(tumor)
    rim[k] = ndimage.binary_dilation(tumor[k]) & ~tumor[k]
    ui.segmentEditorWidget.harnessPaint("tumor", rim)
    corrected = driver.segment_mask(segmentation, "tumor", t1c)
    assert corrected.sum() == tumor.sum() + rim.sum() and (corrected & tumor).sum() == tumor.sum()
    s.assert_clean("correcting in the Segment Editor")

    for register in (False, True):
        driver.toggle(s, ui.registerCheckBox, register)
        assert s.user_click(ui.propagateButton), "Propagate cannot be clicked"
        assert s.dialogs.errors() == [], [str(d) for d in s.dialogs.errors()]
        s.assert_clean(f"Propagate (Register {'on' if register else 'off'})")
    for seq, name in (("T2", "t2Segmentation"), ("ADC", "adcSegmentation")):
        assert driver.segment_voxels(driver.parameter(s, name), "tumor", volumes[seq]) > 10, f"{seq} not propagated"

    assert s.user_click(ui.predictButton), "Predict cannot be clicked with volumes, segmentation, model and age"
    assert s.wait_until(lambda: _probability(ui) is not None or s.dialogs.errors(), timeout=600)
    assert s.dialogs.errors() == [], [str(d) for d in s.dialogs.errors()]
    s.assert_clean("Predict")
    probability = _probability(ui)
    assert probability is not None and 0.0 < probability < 1.0, ui.probabilityLabel.text
    assert "metastasis" in ui.classLabel.text
    assert ui.pointsTable.rowCount >= 2  # signature, age (+ total)
    results = driver.parameter(s, "results")
    assert results not in (None, "") and results.GetTable().GetNumberOfRows() >= 6

    driver.toggle(s, ui.exportDicomCheckBox, True)
    written = driver.export_report(s, ui, tmp_path / "report", "Export")
    assert sorted(p.suffix for p in written if p.suffix in (".pdf", ".json"))[:2] == [".json", ".pdf"]
    names = sorted(p.name.split("_")[0] for p in written if p.suffix == ".dcm")
    assert names == ["DOC", "SEG", "SEG", "SEG", "SR"], names  # a SEG per sequence, the PDF, the SR
    from alnpredictor.report import dicom

    t1c_series = dicom.read_series(dicom_study["T1C"].parent)
    seg = next(p for p in written if p.name.startswith("SEG_") and _references(p, t1c_series))
    frames = dicom.read_segmentation_masks(seg, t1c_series)["tumor (T1C)"]  # frames along the slice normal
    panel = driver.segment_mask(segmentation, "tumor", t1c)  # k, j, i of the volume Slicer loaded
    assert panel.sum() > 0 and np.array_equal(frames, panel), "the DICOM SEG is not the panel's tumor"


def _references(path, series) -> bool:
    import pydicom

    return pydicom.dcmread(path).ReferencedSeriesSequence[0].SeriesInstanceUID == series[0].SeriesInstanceUID


def _clickable(s, button) -> bool:
    return bool(button.isVisibleTo(s.main_window) and button.isEnabled())


def _cancel_button(s):
    from PySide6 import QtWidgets

    panel = s.panel_widget()
    buttons = [b for b in QtWidgets.QWidget.findChildren(panel, QtWidgets.QPushButton)
               if "cancel" in QtWidgets.QAbstractButton.text(b).lower()]
    return buttons[0] if buttons else None


def test_predict_shows_busy_state_and_can_be_cancelled(slicer_session, slicer_tmp, study_files, breast1_label,
                                                       mri_bundle):
    """While Predict runs the user cannot start Segment / Propagate / Predict / Export again, a Cancel
    button is offered and stops the run without a result or an error; Predict then runs to the end
    (defect 11: Predict ran on the GUI thread with processEvents() and every button stayed clickable)."""
    s = slicer_session
    ui, _ = _ready_to_predict(s, slicer_tmp, study_files, breast1_label, mri_bundle)
    segmentations_before = s.scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode")
    running = {"on": False, "cancel": False}
    snapshots = []

    def watch():  # runs whenever the module lets Qt process events (the user's chance to click)
        if not running["on"]:
            return
        cancel = _cancel_button(s)
        snapshots.append({name: _clickable(s, getattr(ui, name))
                          for name in ("segmentButton", "propagateButton", "predictButton", "exportButton")}
                         | {"cancel": cancel is not None and _clickable(s, cancel)})
        if running["cancel"] and cancel is not None and _clickable(s, cancel):
            running["cancel"] = False
            cancel.click()

    s.app.processEventsHooks.append(watch)
    try:
        running.update(on=True, cancel=True)
        assert s.user_click(ui.predictButton), "Predict cannot be clicked"
        s.wait_until(lambda: _clickable(s, ui.predictButton), timeout=600)
        running["on"] = False
    finally:
        s.app.processEventsHooks.remove(watch)

    assert snapshots, "Predict never let the user interact (no event processing while it ran)"
    busy = snapshots[0]
    assert busy["cancel"], f"no Cancel button offered while Predict runs: {busy}"
    clickable = [name for name, ok in busy.items() if ok and name != "cancel"]
    assert not clickable, f"while Predict runs the user can still click {clickable}"
    assert not running["cancel"], "Cancel was never clickable during the run"
    assert _probability(ui) is None, f"Cancel did not stop Predict: {ui.probabilityLabel.text}"
    assert s.dialogs.errors() == [], f"Cancel showed an error: {[str(d) for d in s.dialogs.errors()]}"
    assert s.scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode") == segmentations_before, (
        "a cancelled Predict left propagated segmentations in the scene")
    s.assert_clean("Predict cancelled")

    assert s.user_click(ui.predictButton), "Predict cannot be clicked again after Cancel"
    assert s.wait_until(lambda: _probability(ui) is not None or s.dialogs.errors(), timeout=600)
    assert s.dialogs.errors() == [], [str(d) for d in s.dialogs.errors()]
    assert 0.0 < _probability(ui) < 1.0
    s.assert_clean("Predict after Cancel")


def test_mri_predict_with_windows_imports(slicer_release, tmp_path, shared_dir, slicer_tmp, study_files,
                                          breast1_label, mri_bundle):
    """The same panel Predict where Unix-only modules cannot be imported (defect 3: ``import resource``
    at the top of features/radiomics.py and cohort/runner.py made every MRI Predict fail on Windows)."""
    from slicer_gui import SlicerSession

    with SlicerSession(slicer_release, tmp_path / "slicer", shared=shared_dir, simulate_windows=True) as s:
        ui, _ = _ready_to_predict(s, slicer_tmp, study_files, breast1_label, mri_bundle)
        assert s.user_click(ui.predictButton), "Predict cannot be clicked"
        assert s.wait_until(lambda: _probability(ui) is not None or s.dialogs.errors(), timeout=600)
        assert s.dialogs.errors() == [], [str(d) for d in s.dialogs.errors()]
        assert 0.0 < _probability(ui) < 1.0
        s.assert_clean("Predict without Unix-only modules")
