"""What the panel needs from the Logic (issue 12), headless on a real MRML scene (slicer-core):
colour ultrasound frames (vector volumes), only defined control points as seeds, the Segment
Editor node after a scene close, identifiers from the subject hierarchy, propagation without
registration, cancellation that leaves the scene as it was, the N4 warm-up (thread count pinned,
stoppable), parallel extractions with an in-process fallback, unset path parameters."""

from __future__ import annotations

import threading
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from helpers import simulated_t2_adc

from alnpredictor.imaging.coords import ijk_to_ras_matrix, ras_lps
from alnpredictor.imaging.io import ImageDimensionError, read_volume

BUSI_FRAME = "busi-dev/images/busi_benign_008.png"


def _vector_node(logic, array_kji_c, geometry, name="frame"):
    import slicer

    node = logic.scene.AddNewNodeByClass("vtkMRMLVectorVolumeNode", name)
    node.SetIJKToRASMatrix(slicer.util.vtkMatrixFromArray(ijk_to_ras_matrix(geometry)))
    slicer.util.updateVolumeFromArray(node, array_kji_c)
    return node


# -- defect 10: RGB / JPEG / DICOM ultrasound frames load as vtkMRMLVectorVolumeNode ------------------
def test_a_colour_frame_is_grey_as_the_file_reader_makes_it(logic, shared_dir):
    path = shared_dir / "data" / BUSI_FRAME
    rgb = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))  # (rows, columns, 3) uint8
    reference = read_volume(path)  # the package's reader: BT.601 luminance, one slice
    node = _vector_node(logic, rgb[np.newaxis], reference)
    assert node.IsA("vtkMRMLVectorVolumeNode") and node.IsA("vtkMRMLScalarVolumeNode")  # the selector lists it
    image = logic.imageFromVolumeNode(node)
    assert image.GetNumberOfComponentsPerPixel() == 1 and image.GetSize() == reference.GetSize()
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), sitk.GetArrayFromImage(reference))
    np.testing.assert_allclose(image.GetOrigin(), reference.GetOrigin())
    np.testing.assert_allclose(image.GetSpacing(), reference.GetSpacing())


def test_a_vector_volume_that_is_not_colour_is_refused(logic):
    geometry = sitk.Image(8, 8, 2, sitk.sitkFloat32)
    node = _vector_node(logic, np.ones((2, 8, 8, 5), np.float32), geometry, "DWI-like")
    with pytest.raises(ImageDimensionError, match="5 components"):
        logic.imageFromVolumeNode(node)


def test_segment_and_predict_input_on_a_colour_frame(logic):
    """The ultrasound Segment button on an RGB frame: the pathway's 2-D grow-cut of the lesion."""
    from alnpredictor.synthetic.us_cohort import generate_cohort
    from ALNPredictorLib.selftest import colour_frame_node

    case = generate_cohort(1, seed=3)[0]
    frame = colour_frame_node(logic, case.image, case.spacing, "US frame")
    seeds = logic.newPointList("tumor seeds", [case.seed_ras])
    seg, summary = logic.segmentFromSeeds(frame, seeds, pathway="us")
    grown = logic.arrayFromSegment(seg, "tumor", frame)[0] > 0
    dice = 2 * (grown & case.mask).sum() / (grown.sum() + case.mask.sum())
    assert dice > 0.7, dice
    assert "Segmented: tumor" in logic.segmentationSummary(summary)
    assert not seg.GetSegmentation().GetSegmentIdBySegmentName("nodes") or not logic.arrayFromSegment(
        seg, "nodes", frame).any()


# -- defect 13: undefined / skipped control points ----------------------------------------------------
def test_only_defined_control_points_are_seeds(logic):
    node = logic.newPointList("seeds", [[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]])
    node.UnsetNthControlPointPosition(1)  # PositionUndefined (its coordinates must not be used)
    node.SetNthControlPointPositionMissing(2)  # PositionMissing (skipped)
    node.AddControlPoint(13, 14, 15)
    node.SetNthControlPointPosition(4, 13, 14, 15, node.PositionPreview)  # being placed
    np.testing.assert_array_equal(logic.pointsFromMarkups(node), [[1, 2, 3], [10, 11, 12]])
    node.UnsetNthControlPointPosition(0)
    node.UnsetNthControlPointPosition(3)
    assert logic.pointsFromMarkups(node).shape == (0, 3)


def test_segment_refuses_a_list_of_undefined_points(logic, breast1_image):
    volume = logic.loadVolume(str(breast1_image), "breast1")
    seeds = logic.newPointList("seeds", [[0, 0, 0]])
    seeds.UnsetNthControlPointPosition(0)
    with pytest.raises(ValueError, match="no seeds"):
        logic.segmentFromSeeds(volume, seeds)


# -- defect 7: the Segment Editor node after Close Scene -----------------------------------------------
def test_segment_editor_node_is_overwrite_none_again_after_scene_close(logic, slicer_scene):
    node = logic.segmentEditorNode()
    assert node.GetOverwriteMode() == node.OverwriteNone
    assert node.GetSingletonTag() == "ALNPredictor"
    slicer_scene.Clear(0)  # File > Close Scene: singletons stay but are reset to their defaults
    assert node.GetOverwriteMode() == node.OverwriteAllSegments
    again = logic.segmentEditorNode()
    assert again.GetID() == node.GetID() and again.GetOverwriteMode() == again.OverwriteNone
    assert len([n for n in _nodes(slicer_scene, "vtkMRMLSegmentEditorNode")
                if n.GetSingletonTag() == "ALNPredictor"]) == 1


def _nodes(scene, cls):
    import slicer

    return slicer.util.getNodesByClass(cls, scene)


# -- defect 9: identifiers live on the subject hierarchy's patient and study items ---------------------
def test_identifiers_come_from_the_subject_hierarchy(logic, slicer_scene):
    import slicer

    volume = slicer_scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "T1C")
    volume.SetAttribute("DICOM.PatientID", "NOT-HERE")  # Slicer does not keep them on the volume
    assert logic.patientIdentifiers(volume) == {"volume": "T1C"}  # no subject-hierarchy item yet

    c = slicer.vtkMRMLSubjectHierarchyConstants
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer_scene)
    patient = sh.CreateSubjectItem(sh.GetSceneItemID(), "Doe^Jane")
    sh.SetItemAttribute(patient, c.GetDICOMPatientNameAttributeName(), "Doe^Jane")
    sh.SetItemAttribute(patient, c.GetDICOMPatientIDAttributeName(), "PAT-0042")
    sh.SetItemAttribute(patient, c.GetDICOMPatientBirthDateAttributeName(), "19700101")
    study = sh.CreateStudyItem(patient, "MR breast")
    sh.SetItemAttribute(study, c.GetDICOMStudyDateAttributeName(), "20240102")
    sh.SetItemAttribute(study, c.GetDICOMStudyDescriptionAttributeName(), "MR breast bilateral")
    item = sh.GetItemByDataNode(volume) or sh.CreateItem(study, volume)
    sh.SetItemParent(item, study)
    assert logic.patientIdentifiers(volume) == {
        "volume": "T1C", "PatientName": "Doe^Jane", "PatientID": "PAT-0042", "PatientBirthDate": "19700101",
        "StudyDate": "20240102", "StudyDescription": "MR breast bilateral"}


# -- defect 4: Propagate with Register unchecked ---------------------------------------------------------
@pytest.fixture()
def breast1_study(logic, breast1_image, breast1_label):
    t1c = logic.loadVolume(str(breast1_image), "T1C")
    label = sitk.ReadImage(str(breast1_label))
    centre = np.argwhere(sitk.GetArrayFromImage(label) > 0)[:, ::-1].mean(axis=0)
    seed = ras_lps(np.array(label.TransformContinuousIndexToPhysicalPoint(centre.tolist())))
    t2, adc = simulated_t2_adc(logic.imageFromVolumeNode(t1c))
    seg = logic.loadLabelAsSegmentation(str(breast1_label), t1c)
    return {"T1C": t1c, "T2": logic.volumeNodeFromImage(t2, "T2"), "ADC": logic.volumeNodeFromImage(adc, "ADC"),
            "seg": seg, "seed": seed}


def test_propagate_without_registration_has_a_summary(logic, breast1_study):
    results = logic.propagateSegmentation(breast1_study["seg"], breast1_study["T1C"],
                                          [breast1_study["T2"], breast1_study["ADC"]], register=False)
    summaries = [q for _, q in results]
    assert all(q["metric"] is None and not q["registered"] for q in summaries)
    text = logic.registrationSummary(summaries)
    assert text.splitlines() == ["T2: resampled in physical space (not registered)",
                                 "ADC: resampled in physical space (not registered)"]


def test_registration_summary_formats_what_is_there():
    from ALNPredictorLib.logic import ALNPredictorLogic

    text = ALNPredictorLogic.registrationSummary(None, [
        {"volume": "T2", "registered": True, "translation_mm": 2.04, "rotation_deg": 1.26, "metric": -0.51234},
        {"volume": "ADC", "registered": True, "translation_mm": None, "rotation_deg": float("nan"), "metric": None,
         "warnings": ["did not converge"]}])
    assert text.splitlines() == ["T2: moved 2.0 mm / 1.3°, metric -0.512",
                                 "ADC: moved — mm / —°, metric — — did not converge"]


# -- defect 11: Cancel stops a step and leaves the scene as it was ----------------------------------------
class _CancelAt:
    """A progress callback that raises Cancelled at its n-th call (as the panel's Cancel button)."""

    def __init__(self, n: int) -> None:
        self.n, self.calls = n, []

    def __call__(self, fraction: float, message: str) -> None:
        from ALNPredictorLib.logic import Cancelled

        self.calls.append((fraction, message))
        if len(self.calls) == self.n:
            raise Cancelled()


def _scene_nodes(scene) -> set[str]:
    """The data nodes of the scene (display nodes of temporary label maps that slicer.util's segment
    export leaves behind are not results)."""
    nodes = (scene.GetNthNode(i) for i in range(scene.GetNumberOfNodes()))
    return {n.GetID() for n in nodes if n.IsA("vtkMRMLDisplayableNode") or n.IsA("vtkMRMLTableNode")}


def test_cancelled_propagation_leaves_the_scene_as_it_was(logic, slicer_scene, breast1_study):
    from ALNPredictorLib.logic import Cancelled

    before = _scene_nodes(slicer_scene)
    for n in (1, 2, 3):
        cancel = _CancelAt(n)
        with pytest.raises(Cancelled):
            logic.propagateSegmentation(breast1_study["seg"], breast1_study["T1C"],
                                        [breast1_study["T2"], breast1_study["ADC"]], register=False, progress=cancel)
        assert _scene_nodes(slicer_scene) == before, cancel.calls
    # past the point where the scene changes, a late Cancel is ignored: the step completes
    results = logic.propagateSegmentation(breast1_study["seg"], breast1_study["T1C"], [breast1_study["T2"]],
                                          register=False, progress=_CancelAt(4))
    assert len(results) == 1 and _scene_nodes(slicer_scene) - before


def test_cancelled_predict_leaves_no_table_and_no_segmentation(logic, slicer_scene, breast1_study, tmp_path):
    from alnpredictor.models import save_bundle, train_model
    from ALNPredictorLib.logic import Cancelled

    rng = np.random.default_rng(0)
    label = np.array([0, 1] * 20)
    table = {"TT1C_original_firstorder_Mean": label + rng.normal(size=40), "label": label}
    import pandas as pd

    bundle = str(save_bundle(train_model(pd.DataFrame(table), "label", "lasso-logistic", n_folds=5),
                             tmp_path / "m.alnmodel"))
    before = _scene_nodes(slicer_scene)
    steps = []
    logic.extractMRIFeatures(breast1_study["T1C"], breast1_study["T2"], breast1_study["ADC"], breast1_study["seg"],
                             params="pyradiomics-baseline", register=False, n4=False,
                             progress=lambda f, m: steps.append(m))
    created = _scene_nodes(slicer_scene) - before
    assert len(created) == 2  # the run above propagated to T2 and ADC
    before = _scene_nodes(slicer_scene)
    n_steps = len(steps) + 1  # predictMRI reports "loading the model" first
    for n in (1, 2, n_steps):  # the model, the volumes, "features extracted" (the last before the scene)
        with pytest.raises(Cancelled):
            logic.predictMRI(breast1_study["T1C"], breast1_study["T2"], breast1_study["ADC"], breast1_study["seg"],
                             bundle, params="pyradiomics-baseline", register=False, n4=False, progress=_CancelAt(n))
        assert _scene_nodes(slicer_scene) == before
    result = logic.predictMRI(breast1_study["T1C"], breast1_study["T2"], breast1_study["ADC"], breast1_study["seg"],
                              bundle, params="pyradiomics-baseline", register=False, n4=False,
                              progress=_CancelAt(n_steps + 1))  # after the commit point: completes
    assert 0 <= result["prediction"]["probability"] <= 1 and result["table"].GetID() not in before


# -- defect 12: the N4 warm-up -----------------------------------------------------------------------------
@pytest.mark.slow
def test_n4_warmup_fills_the_cache_as_the_pathway_would_and_stops(logic, tmp_path):
    from alnpredictor.imaging.preprocess import n4_correct
    from alnpredictor.runtime import library_threads
    from alnpredictor.settings import MRISettings
    from alnpredictor.synthetic.motion import synthetic_volume
    from ALNPredictorLib import logic as logic_module

    images = [synthetic_volume((48, 40, 12), (1.5, 1.5, 3.0), rng=np.random.default_rng(s))[0] for s in (1, 2)]
    nodes = [logic.volumeNodeFromImage(image, f"S{i}") for i, image in enumerate(images)]
    cache = tmp_path / "n4"
    warmup = logic.startN4Warmup(nodes, str(cache))
    deadline = time.time() + 300
    while warmup.running() and time.time() < deadline:
        time.sleep(0.1)
    assert not warmup.running() and warmup.done == 2 and not warmup.errors, warmup.status()
    assert warmup.status().startswith("N4: done")
    assert len(list(cache.glob("n4-*.nrrd"))) == 2
    # the cached result is what the pathway computes (its thread count), bit for bit
    with library_threads(MRISettings().threads):
        expected = n4_correct(logic.imageFromVolumeNode(nodes[0]))
    cached = n4_correct(logic.imageFromVolumeNode(nodes[0]), cache_dir=cache)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(cached), sitk.GetArrayFromImage(expected))
    # the lock is free again, and stopping a finished warm-up is harmless
    assert logic_module._COMPUTE_LOCK.acquire(timeout=1)
    logic_module._COMPUTE_LOCK.release()
    warmup.stop(wait=True)


def test_n4_warmup_stops_between_images_and_joins(logic, tmp_path):
    from alnpredictor.synthetic.motion import synthetic_volume
    from ALNPredictorLib import logic as logic_module

    image = synthetic_volume((40, 40, 10), (1.5, 1.5, 3.0), rng=np.random.default_rng(3))[0]
    nodes = [logic.volumeNodeFromImage(image, f"S{i}") for i in range(3)]
    logic_module._COMPUTE_LOCK.acquire()  # a panel step is running: the warm-up waits
    try:
        warmup = logic.startN4Warmup(nodes, str(tmp_path / "n4"))
        time.sleep(0.3)
        assert warmup.running() and warmup.done == 0
        stopper = threading.Thread(target=warmup.stop, kwargs={"wait": True})
        stopper.start()
    finally:
        logic_module._COMPUTE_LOCK.release()
    stopper.join(120)
    assert not warmup.running() and warmup.done <= 1
    assert warmup.status().startswith(("N4: stopped", "N4: done"))


# -- Responsive Predict: the extractions of one patient in worker processes ----------------------------------
def test_extractions_use_every_core_by_default(monkeypatch):
    import os

    from alnpredictor.settings import MRISettings
    from ALNPredictorLib import logic as logic_module

    settings = MRISettings()
    monkeypatch.setattr(logic_module, "_POOL_UNUSABLE", False)
    assert logic_module._extract_workers(None, settings) == max(1, min(6, os.cpu_count() or 1))
    assert logic_module._extract_workers(1, settings) == 1
    monkeypatch.setattr(logic_module, "_POOL_UNUSABLE", True)
    assert logic_module._extract_workers(None, settings) == 1


def test_a_broken_worker_pool_falls_back_to_this_process(monkeypatch):
    from dataclasses import replace

    from alnpredictor.errors import FeatureError
    from alnpredictor.settings import MRISettings
    from ALNPredictorLib import logic as logic_module

    monkeypatch.setattr(logic_module, "_POOL_UNUSABLE", False)
    seen = []

    def run(settings):
        seen.append(settings.extract_workers)
        if settings.extract_workers > 1:
            try:
                raise BrokenProcessPool("worker died")
            except BrokenProcessPool:
                raise FeatureError("ROI T on T1C: a radiomics worker process died") from None
        return "features"

    assert logic_module._run_with_worker_fallback(run, replace(MRISettings(), extract_workers=2)) == "features"
    assert seen == [2, 1] and logic_module._POOL_UNUSABLE

    def bad_roi(settings):  # a bad ROI is an error of the input, never retried
        raise FeatureError("ROI T on T2: empty mask")

    monkeypatch.setattr(logic_module, "_POOL_UNUSABLE", False)
    with pytest.raises(FeatureError, match="empty mask"):
        logic_module._run_with_worker_fallback(bad_roi, replace(MRISettings(), extract_workers=2))
    assert not logic_module._POOL_UNUSABLE


# -- defect 2 (Logic side): path parameters are pathlib.Path, Path(".") when unset ----------------------------
def test_unset_paths_are_refused_with_a_message(logic):
    for unset in (Path(), Path(""), "", ".", None):
        with pytest.raises(ValueError, match="no model chosen"):
            logic.loadModel(unset)
        with pytest.raises(ValueError, match="no report folder"):
            logic.exportReport(unset, {}, None, None, None)


def test_the_model_card_text_and_pathway_names(logic, tmp_path):
    import pandas as pd

    from alnpredictor.errors import InputError
    from alnpredictor.models import save_bundle, train_model

    rng = np.random.default_rng(0)
    label = np.array([0, 1] * 20)
    table = pd.DataFrame({"TT1C_original_firstorder_Mean": label + rng.normal(size=40), "label": label})
    bundle = save_bundle(train_model(table, "label", "lasso-logistic", n_folds=5), tmp_path / "mri.alnmodel")
    model = logic.loadModel(bundle, "MRI")  # the panel's pathway name and a pathlib.Path
    text = logic.modelCardText(model)
    assert "lasso-logistic" in text and "AUC: 0." in text and "95% CI" in text and "Cut-off: 0." in text
    with pytest.raises(InputError, match="MRI"):
        logic.loadModel(bundle, "Ultrasound")


def test_parallel_extractions_give_the_features_of_one_process(logic, breast1_study):
    from ALNPredictorLib import logic as logic_module

    if logic_module._POOL_UNUSABLE:
        pytest.skip("worker processes unusable in this session")  # pragma: no cover
    args = (breast1_study["T1C"], breast1_study["T2"], breast1_study["ADC"], breast1_study["seg"])
    options = {"params": "pyradiomics-baseline", "register": False, "n4": False}
    parallel, _, prov_parallel = logic.extractMRIFeatures(*args, **options)
    serial, _, prov_serial = logic.extractMRIFeatures(*args, workers=1, **options)
    assert prov_serial["workers"] == 1
    assert prov_parallel["workers"] == logic_module._extract_workers(None, _settings())
    assert list(parallel) == list(serial)
    np.testing.assert_array_equal(np.array(list(parallel.values())), np.array(list(serial.values())))


def _settings():
    from alnpredictor.settings import MRISettings

    return MRISettings()
