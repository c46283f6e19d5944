"""What a radiologist does with the panel, as harness calls, and the data they load.

Everything goes through the widgets the module's ``.ui`` created (or Slicer's own loaders), never
through the module's Python internals: a test that passes here passes because the panel works.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

MODULE = "ALNPredictor"


# -- the module's parameter node, as stored in the scene (parameterNodeWrapper's serialisation) ------
def parameter_node(session):
    """The module's singleton vtkMRMLScriptedModuleNode (ScriptedLoadableModuleLogic.getParameterNode)."""
    return session.scene.GetSingletonNode(MODULE, "vtkMRMLScriptedModuleNode")


def parameter(session, name: str):
    """A parameter as the scene holds it: a node reference, or the serialised text (None if absent)."""
    node = parameter_node(session)
    if node is None:
        return None
    ref = node.GetNodeReference(name)
    if ref is not None:
        return ref
    return node.GetParameter(name) if node.HasParameter(name) else None


# -- user actions -----------------------------------------------------------------------------------
def choose_text(combo, text: str) -> None:
    """Pick an item of a QComboBox by its text, as the user does."""
    from PySide6 import QtWidgets

    index = QtWidgets.QComboBox.findText(combo, text)
    assert index >= 0, f"{combo.objectName} has no item {text!r}"
    QtWidgets.QComboBox.setCurrentIndex(combo, index)
    combo.activated.emit(index)


def type_text(line_edit, text: str) -> None:
    """Type into a QLineEdit (textEdited + textChanged + editingFinished)."""
    from PySide6 import QtWidgets

    QtWidgets.QLineEdit.setText(line_edit, text)
    line_edit.textEdited.emit(text)
    line_edit.editingFinished.emit()


def browse(session, path_edit, path) -> None:
    """Click the browse button of a ctkPathLineEdit and pick ``path`` in the file dialog."""
    session.dialogs.answer(str(path))
    path_edit.browse()
    session.process_events()


def toggle(session, checkbox, checked: bool) -> None:
    from PySide6 import QtWidgets

    if QtWidgets.QAbstractButton.isChecked(checkbox) != checked:
        assert session.user_click(checkbox), f"{checkbox.objectName} cannot be clicked"


def visible(session, widget) -> bool:
    return bool(widget.isVisibleTo(session.main_window))


# -- data, loaded as Slicer loads it ------------------------------------------------------------------
def load_volume(session, path, name: str):
    """File > Add Data of a volume file: the Volumes module logic's AddArchetypeVolume
    (vtkSlicerVolumesLogic, with the scene's storage node reading the file)."""
    node = session.context.logic("Volumes").AddArchetypeVolume(str(path), name, 0)
    assert node is not None, f"Slicer could not read {path}"
    return node


def load_rgb_frame(session, path, name: str = "US frame"):
    """A colour ultrasound frame (PNG) as Slicer loads it: a vtkMRMLVectorVolumeNode with three
    components, ITK's geometry of the file (spacing 1 mm, origin 0) converted LPS -> RAS as the
    archetype storage node does. (The wheel's archetype reader has no PNG IO, so the voxels are read
    with SimpleITK - the same ITK PNG reader Slicer uses.)"""
    import SimpleITK as sitk
    import slicer
    import vtk

    image = sitk.ReadImage(str(path))
    assert image.GetNumberOfComponentsPerPixel() == 3, f"{path} is not an RGB frame"
    array = sitk.GetArrayFromImage(image)[np.newaxis]  # k, j, i, rgb
    node = session.scene.AddNewNodeByClass("vtkMRMLVectorVolumeNode", name)
    matrix = vtk.vtkMatrix4x4()
    sx, sy = image.GetSpacing()
    ox, oy = image.GetOrigin()
    for row, value in enumerate((-sx, -sy, 1.0)):
        matrix.SetElement(row, row, value)
    matrix.SetElement(0, 3, -ox)
    matrix.SetElement(1, 3, -oy)
    node.SetIJKToRASMatrix(matrix)
    slicer.util.updateVolumeFromArray(node, array)
    node.CreateDefaultDisplayNodes()
    # Add Data leaves the file's storage node on the volume (vtkMRMLStorableNode::AddDefaultStorageNode)
    storage = session.scene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
    storage.SetFileName(str(path))
    node.SetAndObserveStorageNodeID(storage.GetID())
    return node


def ras_of_voxel(volume_node, kji) -> np.ndarray:
    """RAS of a voxel (k, j, i) of a volume node."""
    import vtk

    matrix = vtk.vtkMatrix4x4()
    volume_node.GetIJKToRASMatrix(matrix)
    k, j, i = (float(v) for v in kji)
    return np.array(matrix.MultiplyPoint((i, j, k, 1.0))[:3])


def segment_voxels(segmentation_node, segment_name: str, volume_node) -> int:
    import slicer

    segment_id = segmentation_node.GetSegmentation().GetSegmentIdBySegmentName(segment_name)
    if not segment_id:
        return 0
    return int(np.count_nonzero(slicer.util.arrayFromSegmentBinaryLabelmap(segmentation_node, segment_id,
                                                                             volume_node)))


def segment_mask(segmentation_node, segment_name: str, volume_node) -> np.ndarray:
    import slicer

    segment_id = segmentation_node.GetSegmentation().GetSegmentIdBySegmentName(segment_name)
    assert segment_id, f"no segment {segment_name!r} in {segmentation_node.GetName()}"
    return np.asarray(slicer.util.arrayFromSegmentBinaryLabelmap(segmentation_node, segment_id, volume_node)) > 0


def breast1_seed_ras(label_path: Path) -> np.ndarray:
    """The tumor's centroid in RAS (where the radiologist clicks)."""
    import SimpleITK as sitk

    from alnpredictor.imaging.coords import ras_lps

    label = sitk.ReadImage(str(label_path))
    centre = np.argwhere(sitk.GetArrayFromImage(label) > 0)[:, ::-1].mean(axis=0)
    return ras_lps(np.array(label.TransformContinuousIndexToPhysicalPoint(centre.tolist())))


def write_simulated_mri(folder: Path, breast1_image: Path) -> dict[str, Path]:
    """breast1 as contrast T1 plus T2-like and ADC-like sequences of the same examination with patient
    motion and their own grids (as tests/test_logic_end_to_end.py simulates them), written as NRRD
    files the user then loads."""
    import SimpleITK as sitk

    from alnpredictor.imaging.io import read_volume
    from alnpredictor.synthetic.motion import image_center, random_rigid_motion, simulate_sequence

    folder.mkdir(parents=True, exist_ok=True)
    ref = read_volume(str(breast1_image))
    rng = np.random.default_rng(1)
    t2, _ = simulate_sequence(ref, random_rigid_motion(rng, image_center(ref), 2.0, 2.0), spacing=(0.8, 0.8, 3.0),
                              rng=rng, inset_mm=2)
    adc, _ = simulate_sequence(ref, random_rigid_motion(rng, image_center(ref), 2.0, 2.0), spacing=(1.4, 1.4, 3.0),
                               rng=rng, inset_mm=2)
    paths = {"T1C": Path(breast1_image), "T2": folder / "T2.nrrd", "ADC": folder / "ADC.nrrd"}
    sitk.WriteImage(t2, str(paths["T2"]), True)
    sitk.WriteImage(adc, str(paths["ADC"]), True)
    return paths


def clinical_form(ui) -> dict:
    """The clinical form the panel built from the model: field name -> editor (QLineEdit / QComboBox),
    read from the form layout as the user reads it (labels ``name`` or ``name *``)."""
    from PySide6 import QtWidgets

    layout = ui.clinicalFormLayout
    fields = {}
    for row in range(QtWidgets.QFormLayout.rowCount(layout)):
        label = QtWidgets.QFormLayout.itemAt(layout, row, QtWidgets.QFormLayout.LabelRole)
        field = QtWidgets.QFormLayout.itemAt(layout, row, QtWidgets.QFormLayout.FieldRole)
        if label is None or field is None or label.widget() is None or field.widget() is None:
            continue
        name = QtWidgets.QLabel.text(label.widget()).rstrip(" *").strip()
        fields[name] = field.widget()
    return fields


def fill_clinical_form(ui, values: dict) -> dict:
    """Type / choose each clinical value the form asks for; returns the form's editors."""
    from PySide6 import QtWidgets

    form = clinical_form(ui)
    for name, editor in form.items():
        assert name in values, f"the form asks for {name!r}, the test has {sorted(values)}"
        if isinstance(editor, QtWidgets.QComboBox):
            choose_text(editor, str(values[name]))
        else:
            type_text(editor, str(values[name]))
    return form


def train_mri_bundle(features: dict, path) -> str:
    """A nomogram (LASSO signature + age) trained on a cohort built around one study's features (as
    tests/test_logic_end_to_end.py does): each feature varies log-normally between patients and
    metastasis follows two of them."""
    from helpers import train_feature_bundle

    return train_feature_bundle(features, path, "harness nomogram")


def train_us_bundle(path, n_cases: int = 40):
    """The ultrasound pathway's one DLRN bundle, trained on synthetic frames (default settings: the
    texture features on, untrained ResNet50 backbone). Returns the bundle path and the first synthetic
    case (``image``, ``spacing``, ``seed_ras``, ``clinical``: a valid record for the form)."""
    import pandas as pd
    import SimpleITK as sitk

    from alnpredictor.models import save_bundle
    from alnpredictor.pathways import us, us_model
    from alnpredictor.settings import USSettings
    from alnpredictor.synthetic.us_cohort import generate_cohort, to_sitk

    settings = USSettings()
    cases = generate_cohort(n_cases, seed=7)
    rows = []
    for case in cases:
        image = sitk.JoinSeries(to_sitk(case.image, case.spacing))
        mask = sitk.JoinSeries(to_sitk(case.mask.astype(np.uint8), case.spacing))
        rows.append({**us.run_case(image, settings, mask=mask).features, **case.clinical, "label": case.label})
    model = us_model.train_us_model(pd.DataFrame(rows), provenance=settings, n_folds=5)
    return str(save_bundle(model, path)), cases[0]


def export_report(s, ui, report_dir, what: str = "Export") -> list:
    """Choose ``report_dir`` and click Export as the user does; waits for "Report written", checks that
    no error was shown and the console stayed clean. Returns the files written under ``report_dir``."""
    browse(s, ui.reportDirLineEdit, report_dir)
    assert s.user_click(ui.exportButton), "Export cannot be clicked after Predict"
    assert s.wait_until(lambda: any("Report written" in t for t in s.dialogs.texts()) or s.dialogs.errors(),
                        timeout=300)
    assert s.dialogs.errors() == [], [str(d) for d in s.dialogs.errors()]
    s.assert_clean(what)
    return list(report_dir.rglob("*"))
