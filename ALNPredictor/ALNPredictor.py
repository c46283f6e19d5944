"""ALNPredictor — 3D Slicer scripted module.

Segment-then-predict for axillary lymph node metastasis (ALNM) in breast cancer: load a breast
MRI study (contrast T1, T2WI, ADC) or a breast ultrasound image, click seeds in the tumor and the
axillary nodes, grow-cut, propagate to the other sequences, predict with a trained signature or
nomogram, export a report.

Layout (Slicer template): ``ALNPredictor`` (module), ``ALNPredictorParameterNode``
(parameterNodeWrapper), ``ALNPredictorWidget`` (thin Qt layer), ``ALNPredictorLogic`` (MRML <->
core ``alnpredictor`` package), ``ALNPredictorTest``.

The Logic needs only MRML, so it also runs headless on the ``slicer-core`` wheel (see
``ALNPredictorLib/headless.py``); the Qt classes are defined only inside the Slicer application.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np
import slicer

try:  # Qt and the scripted-module framework exist only inside the Slicer application.
    import qt  # noqa: F401
    from slicer.ScriptedLoadableModule import (
        ScriptedLoadableModule,
        ScriptedLoadableModuleLogic,
        ScriptedLoadableModuleTest,
        ScriptedLoadableModuleWidget,
    )
    from slicer.util import VTKObservationMixin

    IN_SLICER_APP = True
except ImportError:
    IN_SLICER_APP = False

SEGMENT_NAMES = ("tumor", "nodes")
#: Segment colours (tumor red, nodes green), as RGB in 0..1.
SEGMENT_COLORS = {"tumor": (0.90, 0.20, 0.20), "nodes": (0.20, 0.75, 0.30)}

#: Python packages the module needs inside Slicer; installed on first use, behind a confirmation.
REQUIRED_PACKAGES = {
    "SimpleITK": "SimpleITK",
    "radiomics": "pyradiomics==3.0.1",
    "sklearn": "scikit-learn",
    "statsmodels": "statsmodels",
    "skops": "skops",
    "skimage": "scikit-image",
    "reportlab": "reportlab",
    "matplotlib": "matplotlib",
    "pandas": "pandas",
    "tqdm": "tqdm",
    "psutil": "psutil",
}


def _module_dir() -> str:
    return os.path.dirname(os.path.abspath(__file__))


def missing_packages() -> list[str]:
    """pip requirement strings of the packages that cannot be imported yet."""
    import importlib.util

    return [req for mod, req in REQUIRED_PACKAGES.items() if importlib.util.find_spec(mod) is None]


def ensure_dependencies(confirm: bool = True) -> bool:
    """Install missing Python dependencies inside Slicer, after asking the user.

    Called on first use (never at import). Uses ``slicer.packaging.pip_ensure`` where the
    Slicer version has it, ``slicer.util.pip_install`` otherwise; torch comes from the PyTorch
    extension's ``PyTorchUtils`` so that the right CUDA build is chosen for the machine.
    Returns True when everything is importable.
    """
    missing = missing_packages()
    need_torch = False
    import importlib.util

    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("torchvision") is None:
        need_torch = True
    if not missing and not need_torch:
        return True
    if not IN_SLICER_APP:
        raise RuntimeError(
            "Missing Python packages: " + ", ".join(missing + (["torch", "torchvision"] if need_torch else []))
            + ". Run `make venv` (or pip install -r requirements.txt) outside Slicer."
        )
    if confirm and not slicer.util.confirmOkCancelDisplay(
        "ALNPredictor needs these Python packages, which will be downloaded and installed now:\n"
        + "\n".join(missing + (["torch + torchvision (via the PyTorch extension)"] if need_torch else [])),
        "Install ALNPredictor dependencies",
    ):
        return False
    with slicer.util.WaitCursor():
        if need_torch:
            import PyTorchUtils  # provided by the PyTorch extension (EXTENSION_DEPENDS)

            torch_logic = PyTorchUtils.PyTorchUtilsLogic()
            if not torch_logic.torchInstalled():
                torch_logic.installTorch(askConfirmation=False, torchvisionVersionRequirement=">=0.15")
        plain = [r for r in missing if not r.startswith("pyradiomics")]
        packaging = getattr(slicer, "packaging", None)
        if plain:
            if packaging is not None and hasattr(packaging, "pip_ensure"):
                packaging.pip_ensure(plain)
            else:
                slicer.util.pip_install(plain)
        if any(r.startswith("pyradiomics") for r in missing):
            # 3.0.1 must be built against the numpy already present (3.1.0 on PyPI is broken).
            slicer.util.pip_install(["--no-build-isolation", REQUIRED_PACKAGES["radiomics"]])
    return not missing_packages()


#
# Logic — MRML <-> core; no Qt. Runs in the app and headless (slicer-core).
#

_LogicBase = ScriptedLoadableModuleLogic if IN_SLICER_APP else object


class ALNPredictorLogic(_LogicBase):
    """Everything the panel does, without Qt.

    Converts MRML nodes (volumes, segmentations, markups, tables) to SimpleITK images / numpy
    arrays and back, and calls the ``alnpredictor`` core for the computation.

    :param scene: the MRML scene; defaults to ``slicer.mrmlScene`` (the application's scene, or
        the one created by ``ALNPredictorLib.headless.headless_context``).
    """

    def __init__(self, scene: Any = None) -> None:
        if IN_SLICER_APP:
            ScriptedLoadableModuleLogic.__init__(self)
        self.scene = scene if scene is not None else slicer.mrmlScene

    # -- parameter node (app only) ------------------------------------------------------------
    def getParameterNode(self):  # noqa: D401  (Slicer API name)
        """The module's parameter node wrapper (inside the app)."""
        return ALNPredictorParameterNode(super().getParameterNode())

    # -- module logics --------------------------------------------------------------------------
    def _moduleLogic(self, name: str):
        return getattr(slicer.modules, name.lower()).logic()

    # -- volumes --------------------------------------------------------------------------------
    def volumeNodeFromImage(self, image, name: str, node=None):
        """Create (or update) a ``vtkMRMLScalarVolumeNode`` from a 3-D SimpleITK image.

        2-D images (ultrasound) become single-slice volumes.
        """
        import SimpleITK as sitk

        from alnpredictor.imaging.coords import ijk_to_ras_matrix

        if image.GetDimension() == 2:
            image = sitk.JoinSeries(image)
        if image.GetNumberOfComponentsPerPixel() != 1:
            raise ValueError(f"volume '{name}' has {image.GetNumberOfComponentsPerPixel()} components; "
                             "a scalar image is needed (convert colour ultrasound to grey first)")
        if node is None:
            node = self.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name)
            node.CreateDefaultDisplayNodes()
        node.SetIJKToRASMatrix(slicer.util.vtkMatrixFromArray(ijk_to_ras_matrix(image)))
        slicer.util.updateVolumeFromArray(node, sitk.GetArrayFromImage(image))
        return node

    def imageFromVolumeNode(self, node):
        """SimpleITK image (LPS geometry) of a scalar volume node; the voxels are copied."""
        import SimpleITK as sitk

        from alnpredictor.imaging.coords import set_geometry_from_ijk_to_ras

        if node is None or node.GetImageData() is None:
            raise ValueError("no volume selected (or the volume has no image data): choose a volume first")
        import vtk

        m = vtk.vtkMatrix4x4()
        node.GetIJKToRASMatrix(m)
        matrix = slicer.util.arrayFromVTKMatrix(m)
        if node.GetParentTransformNode() is not None:
            raise ValueError(f"volume '{node.GetName()}' is under a transform: harden the transform first")
        image = sitk.GetImageFromArray(np.array(slicer.util.arrayFromVolume(node)))
        return set_geometry_from_ijk_to_ras(image, matrix)

    def loadVolume(self, path: str, name: str | None = None, seriesUID: str | None = None):
        """Load a scalar volume (NRRD, NIfTI, MHA, DICOM folder, 2-D ultrasound) into the scene.

        Reading goes through ``alnpredictor.imaging.io.read_volume``: a DICOM folder with several
        series needs ``seriesUID``; colour ultrasound becomes grey; 4-D images are refused.
        """
        from alnpredictor.imaging.io import read_volume

        image = read_volume(str(path), seriesUID)
        return self.volumeNodeFromImage(image, name or _node_name(path))

    # -- segmentations -------------------------------------------------------------------------
    def newSegmentationNode(self, referenceVolumeNode, name: str = "ALN segmentation"):
        """An empty segmentation on the reference volume's geometry with ``tumor`` and ``nodes``."""
        seg = self.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", name)
        seg.CreateDefaultDisplayNodes()
        seg.SetReferenceImageGeometryParameterFromVolumeNode(referenceVolumeNode)
        for segment_name in SEGMENT_NAMES:
            self._ensureSegment(seg, segment_name)
        return seg

    def _ensureSegment(self, segmentationNode, segmentName: str) -> str:
        segmentation = segmentationNode.GetSegmentation()
        segment_id = segmentation.GetSegmentIdBySegmentName(segmentName)
        if not segment_id:
            segment_id = segmentation.AddEmptySegment(segmentName, segmentName, SEGMENT_COLORS.get(segmentName, (1, 1, 0)))
        return segment_id

    def setSegmentFromArray(self, segmentationNode, segmentName: str, mask: np.ndarray, referenceVolumeNode) -> str:
        """Write a binary mask (array in the reference volume's k,j,i order) into a segment."""
        segment_id = self._ensureSegment(segmentationNode, segmentName)
        slicer.util.updateSegmentBinaryLabelmapFromArray(
            (np.asarray(mask) > 0).astype(np.uint8), segmentationNode, segment_id, referenceVolumeNode
        )
        return segment_id

    def arrayFromSegment(self, segmentationNode, segmentName: str, referenceVolumeNode) -> np.ndarray:
        """Binary mask (uint8, k,j,i order) of a named segment on the reference volume's grid."""
        segment_id = segmentationNode.GetSegmentation().GetSegmentIdBySegmentName(segmentName)
        if not segment_id:
            raise ValueError(f"segmentation '{segmentationNode.GetName()}' has no segment '{segmentName}': "
                             "segment it first (Segment button) or rename the segment")
        arr = slicer.util.arrayFromSegmentBinaryLabelmap(segmentationNode, segment_id, referenceVolumeNode)
        return (np.asarray(arr) > 0).astype(np.uint8)

    def maskImageFromSegment(self, segmentationNode, segmentName: str, referenceVolumeNode):
        """SimpleITK mask of a segment on the reference volume's geometry."""
        import SimpleITK as sitk

        ref = self.imageFromVolumeNode(referenceVolumeNode)
        mask = sitk.GetImageFromArray(self.arrayFromSegment(segmentationNode, segmentName, referenceVolumeNode))
        mask.CopyInformation(ref)
        return mask

    def loadLabelAsSegmentation(self, path: str, referenceVolumeNode, labelNames: dict[int, str] | None = None,
                                name: str = "ALN segmentation"):
        """Load a label map file into a segmentation node: label value -> segment name.

        Default: label 1 is ``tumor`` and label 2 is ``nodes`` (other values are ignored).
        """
        import SimpleITK as sitk

        from alnpredictor.imaging.coords import ijk_to_ras_matrix

        labelNames = labelNames or {1: "tumor", 2: "nodes"}
        label = sitk.ReadImage(str(path))
        ref = self.imageFromVolumeNode(referenceVolumeNode)
        if label.GetSize() != ref.GetSize() or not np.allclose(ijk_to_ras_matrix(label), ijk_to_ras_matrix(ref), atol=1e-4):
            raise ValueError(f"label '{path}' does not share the geometry of volume '{referenceVolumeNode.GetName()}': "
                             "resample it onto the volume (alnpredictor propagate --no-register) first")
        arr = sitk.GetArrayFromImage(label)
        seg = self.newSegmentationNode(referenceVolumeNode, name)
        found = False
        for value, segment_name in labelNames.items():
            if np.any(arr == value):
                self.setSegmentFromArray(seg, segment_name, arr == value, referenceVolumeNode)
                found = True
        if not found:
            raise ValueError(f"label '{path}' contains none of the values {sorted(labelNames)}: "
                             "check the label values or pass labelNames")
        return seg

    # -- markups ---------------------------------------------------------------------------------
    def pointsFromMarkups(self, markupsNode) -> np.ndarray:
        """Control points of a point list in RAS mm, shape (n, 3) (world coordinates)."""
        if markupsNode is None:
            return np.zeros((0, 3))
        return np.asarray(slicer.util.arrayFromMarkupsControlPoints(markupsNode, world=True), dtype=float).reshape(-1, 3)

    def newPointList(self, name: str, points_ras=()):
        """A markups point list with the given RAS points (seeds as the user would click them)."""
        node = self.scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", name)
        for p in points_ras:
            node.AddControlPoint(*[float(v) for v in p])
        return node

    # -- imaging: grow-cut, propagation, N4 -------------------------------------------------------
    def segmentFromSeeds(self, volumeNode, tumorSeedsNode=None, nodeSeedsNode=None, backgroundSeedsNode=None,
                         segmentationNode=None, **options):
        """Grow-cut the tumor and/or nodes from markups seeds into a segmentation node.

        Seeds are the control points (RAS, world) of the point lists; a list that is None or
        empty is skipped. Without background seeds they are placed automatically. Segments
        ``tumor`` / ``nodes`` of ``segmentationNode`` (created on the volume's geometry if None)
        are replaced by the result; a segment that is not re-segmented is left as it is and
        the new result never takes its voxels. ``options`` go to
        ``alnpredictor.imaging.segment.segment_structures`` (e.g. ``smoothing_mm``).

        :returns: (segmentationNode, summary dict: voxels/volume_ml per structure, seconds ...).
        """
        import SimpleITK as sitk
        from alnpredictor.imaging.segment import segment_structures

        seeds = {}
        for segmentName, markups in (("tumor", tumorSeedsNode), ("nodes", nodeSeedsNode)):
            points = self.pointsFromMarkups(markups)
            if len(points):
                seeds[segmentName] = points
        if not seeds:
            raise ValueError("no seeds: place at least one tumor or node seed point on the volume")
        background = self.pointsFromMarkups(backgroundSeedsNode)
        image = self.imageFromVolumeNode(volumeNode)
        result = segment_structures(image, seeds, background if len(background) else None, **options)
        if segmentationNode is None:
            segmentationNode = self.newSegmentationNode(volumeNode)
        segmentation = segmentationNode.GetSegmentation()
        # Voxels of segments that are kept as they are may not be taken by the new result.
        kept = np.zeros(sitk.GetArrayViewFromImage(image).shape, bool)
        for segmentName in SEGMENT_NAMES:
            if segmentName not in seeds and segmentation.GetSegmentIdBySegmentName(segmentName):
                kept |= self.arrayFromSegment(segmentationNode, segmentName, volumeNode) > 0
        for segmentName, mask in result.masks.items():
            arr = (sitk.GetArrayFromImage(mask) > 0) & ~kept
            self.setSegmentFromArray(segmentationNode, segmentName, arr, volumeNode)
        summary = result.summary()
        summary["segmentation"] = segmentationNode.GetName()
        return segmentationNode, summary

    def propagateSegmentation(self, segmentationNode, referenceVolumeNode, movingVolumeNodes, register: bool = True,
                              **options):
        """Copy the segments onto other volumes (T2, ADC), each on its own grid.

        Every moving volume is registered rigidly to the reference around the segments
        (``alnpredictor.imaging.propagate.propagate_masks``; ``register=False`` resamples in
        physical space only) and gets a new segmentation node named
        ``"<segmentation> → <volume>"`` whose reference geometry is that volume.

        :param movingVolumeNodes: one volume node or a list of them.
        :returns: list of (segmentation node, quality summary) in the order of the volumes;
            the summary holds the transform, metric, converged flag, motion and warnings.
        """
        import SimpleITK as sitk
        from alnpredictor.imaging.propagate import propagate_masks

        if not isinstance(movingVolumeNodes, (list, tuple)):
            movingVolumeNodes = [movingVolumeNodes]
        segmentation = segmentationNode.GetSegmentation()
        names = [segmentation.GetNthSegment(i).GetName() for i in range(segmentation.GetNumberOfSegments())]
        reference = self.imageFromVolumeNode(referenceVolumeNode)
        masks = {segmentName: self.maskImageFromSegment(segmentationNode, segmentName, referenceVolumeNode)
                 for segmentName in names}
        results = []
        for movingNode in movingVolumeNodes:
            moving = self.imageFromVolumeNode(movingNode)
            result = propagate_masks(reference, moving, masks, register=register, **options)
            outNode = self.scene.AddNewNodeByClass(
                "vtkMRMLSegmentationNode", f"{segmentationNode.GetName()} → {movingNode.GetName()}")
            outNode.CreateDefaultDisplayNodes()
            outNode.SetReferenceImageGeometryParameterFromVolumeNode(movingNode)
            for segmentName, mask in result.masks.items():
                self.setSegmentFromArray(outNode, segmentName, sitk.GetArrayFromImage(mask), movingNode)
            summary = result.summary()
            summary["volume"] = movingNode.GetName()
            results.append((outNode, summary))
        return results

    def n4Correct(self, volumeNode, cacheDir: str | None = None, name: str | None = None):
        """A new volume node with the N4 bias-field corrected volume (cached by content hash)."""
        from alnpredictor.imaging.preprocess import n4_correct

        corrected = n4_correct(self.imageFromVolumeNode(volumeNode), cache_dir=cacheDir)
        return self.volumeNodeFromImage(corrected, name or f"{volumeNode.GetName()} N4")


def _node_name(path: str) -> str:
    base = os.path.basename(os.path.normpath(str(path)))
    for ext in (".nii.gz", ".seg.nrrd", ".nrrd", ".nii", ".mha", ".mhd", ".png", ".jpg", ".jpeg", ".dcm"):
        if base.lower().endswith(ext):
            return base[: -len(ext)]
    return base


#
# Application classes — defined only inside Slicer (they need Qt).
#

if IN_SLICER_APP:
    from slicer.parameterNodeWrapper import parameterNodeWrapper

    class ALNPredictor(ScriptedLoadableModule):
        """Module metadata shown in Slicer."""

        def __init__(self, parent):
            ScriptedLoadableModule.__init__(self, parent)
            self.parent.title = "ALNPredictor"
            self.parent.categories = ["Quantification"]
            self.parent.dependencies = ["Segmentations", "Markups"]
            self.parent.contributors = ["ALNPredictor developers"]
            self.parent.helpText = (
                "Preoperative prediction of axillary lymph node metastasis from breast MRI (contrast T1, "
                "T2WI, ADC) or ultrasound: seed, grow-cut, propagate, predict, export a report. "
                "Research software: not for diagnostic use."
            )
            self.parent.acknowledgementText = (
                "Implements Yu et al., EBioMedicine 2021 (MRI radiomics) and Liu et al., npj Breast Cancer "
                "2024 (ultrasound deep-learning radiomics nomogram)."
            )

    @parameterNodeWrapper
    class ALNPredictorParameterNode:
        """Parameters of the panel (saved with the scene)."""

        pathway: str = "MRI"
        t1cVolume: slicer.vtkMRMLScalarVolumeNode
        t2Volume: slicer.vtkMRMLScalarVolumeNode
        adcVolume: slicer.vtkMRMLScalarVolumeNode
        usVolume: slicer.vtkMRMLScalarVolumeNode
        tumorSeeds: slicer.vtkMRMLMarkupsFiducialNode
        nodeSeeds: slicer.vtkMRMLMarkupsFiducialNode
        backgroundSeeds: slicer.vtkMRMLMarkupsFiducialNode
        segmentation: slicer.vtkMRMLSegmentationNode
        modelPath: str = ""
        results: slicer.vtkMRMLTableNode

    class ALNPredictorWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
        """Thin Qt layer: binds the .ui to the parameter node and calls the Logic."""

        def __init__(self, parent=None) -> None:
            ScriptedLoadableModuleWidget.__init__(self, parent)
            VTKObservationMixin.__init__(self)
            self.logic = None
            self._parameterNode = None
            self._parameterNodeGuiTag = None

        def setup(self) -> None:
            ScriptedLoadableModuleWidget.setup(self)
            uiWidget = slicer.util.loadUI(self.resourcePath("UI/ALNPredictor.ui"))
            self.layout.addWidget(uiWidget)
            self.ui = slicer.util.childWidgetVariables(uiWidget)
            uiWidget.setMRMLScene(slicer.mrmlScene)
            self.logic = ALNPredictorLogic()
            self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
            self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
            self.ui.installDependenciesButton.connect("clicked(bool)", lambda _=False: ensure_dependencies(True))
            self.initializeParameterNode()

        def cleanup(self) -> None:
            self.removeObservers()

        def enter(self) -> None:
            self.initializeParameterNode()

        def exit(self) -> None:
            if self._parameterNode:
                self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
                self._parameterNodeGuiTag = None

        def onSceneStartClose(self, caller, event) -> None:
            self.setParameterNode(None)

        def onSceneEndClose(self, caller, event) -> None:
            if self.parent.isEntered:
                self.initializeParameterNode()

        def initializeParameterNode(self) -> None:
            self.setParameterNode(self.logic.getParameterNode())

        def setParameterNode(self, inputParameterNode) -> None:
            if self._parameterNode:
                self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNode = inputParameterNode
            if self._parameterNode:
                self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)

    class ALNPredictorTest(ScriptedLoadableModuleTest):
        """In-app test: the same scenario as the headless tests, on the application's scene."""

        def setUp(self):
            slicer.mrmlScene.Clear()

        def runTest(self):
            self.setUp()
            self.test_load_breast1()

        def test_load_breast1(self):
            from alnpredictor.config import shared_data

            logic = ALNPredictorLogic()
            volume = logic.loadVolume(str(shared_data("pyradiomics-cases", "breast1_image.nrrd")), "breast1")
            seg = logic.loadLabelAsSegmentation(str(shared_data("pyradiomics-cases", "breast1_label.nrrd")), volume)
            self.assertEqual(int(logic.arrayFromSegment(seg, "tumor", volume).sum()), 143)
            self.delayDisplay("ALNPredictor: breast1 loaded")
