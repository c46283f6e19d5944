"""Segmenting from the panel, per release (tests/slicer_gui): seeds placed in the seed widgets,
Segment clicked, the result corrected in the embedded Segment Editor, Propagate clicked - on real
images (breast1 MRI, a BUSI ultrasound frame), through the module's own slots.
"""

from __future__ import annotations

import numpy as np
from slicer_gui import driver


def _open(session, slicer_tmp):
    session.app.temporaryPath = str(slicer_tmp)
    widget = session.open_module()
    assert widget is not None, "\n".join(session.problems())
    session.assert_clean("opening the panel")
    return widget, widget.ui


def _segment(session, ui, volume, seed_ras, selector="t1cVolumeSelector"):
    getattr(ui, selector).harnessChoose(volume)
    ui.tumorSeedsWidget.harnessPlacePoint(seed_ras)
    assert session.user_click(ui.segmentButton), "Segment cannot be clicked with a volume and a seed"
    assert session.dialogs.errors() == [], [str(d) for d in session.dialogs.errors()]
    session.assert_clean("Segment")
    segmentation = driver.parameter(session, "segmentation")
    assert segmentation is not None and segmentation != "", "Segment left no segmentation in the parameter node"
    return segmentation


def test_undefined_control_points_are_not_used_as_seeds(slicer_session, slicer_tmp, breast1_image, breast1_label):
    """A point the user skipped while placing (position missing) or cleared (undefined) sits at (0, 0, 0)
    in the point list; it must not become a seed (defect 13): Segment gives the same result as with the
    defined point alone, and no error."""
    import vtk

    s = slicer_session
    _, ui = _open(s, slicer_tmp)
    t1c = driver.load_volume(s, breast1_image, "T1C")
    ui.t1cVolumeSelector.harnessChoose(t1c)
    points = ui.tumorSeedsWidget.currentNode()
    ui.tumorSeedsWidget.harnessPlacePoint(driver.breast1_seed_ras(breast1_label))
    skipped = points.AddControlPoint(vtk.vtkVector3d(0.0, 0.0, 0.0))
    points.SetNthControlPointPositionMissing(skipped)
    cleared = points.AddControlPoint(vtk.vtkVector3d(0.0, 0.0, 0.0))
    points.UnsetNthControlPointPosition(cleared)
    assert s.user_click(ui.segmentButton)
    assert s.dialogs.errors() == [], f"Segment with a skipped point failed: {[str(d) for d in s.dialogs.errors()]}"
    s.assert_clean("Segment with skipped / undefined points")
    segmentation = driver.parameter(s, "segmentation")
    with_undefined = driver.segment_mask(segmentation, "tumor", t1c)

    points.RemoveNthControlPoint(cleared)
    points.RemoveNthControlPoint(skipped)
    assert s.user_click(ui.segmentButton)
    s.assert_clean("Segment with the defined point only")
    alone = driver.segment_mask(driver.parameter(s, "segmentation"), "tumor", t1c)
    assert alone.sum() > 50
    assert np.array_equal(with_undefined, alone), "undefined control points changed the segmentation (used as seeds)"


def test_painting_one_structure_never_erases_the_other_after_close_scene(slicer_session, slicer_tmp, breast1_image,
                                                                          breast1_label):
    """Segment, Close Scene, segment again, then paint "nodes" over part of the tumor in the embedded
    Segment Editor: the tumor keeps every voxel (defect 7: Close Scene reset the module's singleton
    Segment Editor node to overwrite mode "all segments"). The edit is made by Slicer's own
    vtkSlicerSegmentEditorLogic with the editor node the panel set."""
    s = slicer_session
    _, ui = _open(s, slicer_tmp)
    seed = driver.breast1_seed_ras(breast1_label)
    _segment(s, ui, driver.load_volume(s, breast1_image, "T1C"), seed)
    s.close_scene()
    s.assert_clean("Close Scene")
    t1c = driver.load_volume(s, breast1_image, "T1C")
    segmentation = _segment(s, ui, t1c, seed)

    tumor = driver.segment_mask(segmentation, "tumor", t1c)
    assert tumor.sum() > 50
    k, j, i = np.argwhere(tumor).mean(axis=0).round().astype(int)
    stroke = np.zeros_like(tumor)
    stroke[k, max(j - 6, 0):j + 6, :i + 1] = True  # from the tumor's centre outwards, into the background
    nodes_before = driver.segment_voxels(segmentation, "nodes", t1c)
    ui.segmentEditorWidget.harnessPaint("nodes", stroke)
    s.assert_clean("painting in the Segment Editor")
    assert driver.segment_voxels(segmentation, "nodes", t1c) > nodes_before, "painting did not reach 'nodes'"
    after = driver.segment_mask(segmentation, "tumor", t1c)
    assert after.sum() == tumor.sum(), (
        f"painting 'nodes' erased {int(tumor.sum() - after.sum())} 'tumor' voxels: the Segment Editor node's overwrite "
        f"mode is {ui.segmentEditorWidget.mrmlSegmentEditorNode().GetOverwriteMode()} after Close Scene")


def test_propagate_with_and_without_registration(slicer_session, slicer_tmp, study_files, breast1_label):
    """Propagate to T2 / ADC with Register unchecked, then checked: no error either way and each
    sequence gets its segmentation (defect 4: the quality text formatted a None metric,
    TypeError outside the error handler)."""
    s = slicer_session
    _, ui = _open(s, slicer_tmp)
    volumes = {seq: driver.load_volume(s, path, seq) for seq, path in study_files.items()}
    ui.t2VolumeSelector.harnessChoose(volumes["T2"])
    ui.adcVolumeSelector.harnessChoose(volumes["ADC"])
    _segment(s, ui, volumes["T1C"], driver.breast1_seed_ras(breast1_label))
    for register in (False, True):
        driver.toggle(s, ui.registerCheckBox, register)
        assert driver.parameter(s, "register") == str(register)
        assert s.user_click(ui.propagateButton), "Propagate cannot be clicked"
        assert s.dialogs.errors() == [], [str(d) for d in s.dialogs.errors()]
        s.assert_clean(f"Propagate with Register {'on' if register else 'off'}")
        for seq, name in (("T2", "t2Segmentation"), ("ADC", "adcSegmentation")):
            propagated = driver.parameter(s, name)
            assert propagated not in (None, ""), f"no {seq} segmentation after Propagate (register={register})"
            assert driver.segment_voxels(propagated, "tumor", volumes[seq]) > 10
        assert "T2" in ui.registrationQualityLabel.text


def test_segment_a_colour_ultrasound_frame(slicer_session, slicer_tmp, shared_dir):
    """A real BUSI frame (RGB PNG) loaded as a vtkMRMLVectorVolumeNode: the ultrasound pathway segments
    it from one click in the lesion (defect 10: only scalar volumes worked)."""
    import SimpleITK as sitk

    s = slicer_session
    _, ui = _open(s, slicer_tmp)
    busi = shared_dir / "data" / "busi-dev"
    frame_path = sorted((busi / "images").glob("busi_malignant_*.png"))[0]  # a real frame of the development set
    mask_path = busi / "masks" / (frame_path.stem + "_mask.png")
    frame = driver.load_rgb_frame(s, frame_path)
    mask = sitk.GetArrayFromImage(sitk.ReadImage(str(mask_path)))
    mask = (mask[..., 0] if mask.ndim == 3 else mask) > 0
    j, i = np.argwhere(mask).mean(axis=0)
    driver.choose_text(ui.pathwayComboBox, "Ultrasound")
    segmentation = _segment(s, ui, frame, driver.ras_of_voxel(frame, (0, j, i)), selector="usVolumeSelector")
    tumor = driver.segment_mask(segmentation, "tumor", frame)[0]
    assert tumor.sum() > 0, "Segment gave an empty lesion"
    assert (tumor & mask).sum() > 0.5 * tumor.sum(), (
        f"the segmented lesion ({int(tumor.sum())} px) is not where the user clicked (expert mask {int(mask.sum())} px)")
