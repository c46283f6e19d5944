"""The module's Logic: MRML nodes <-> the ``alnpredictor`` core, and nothing else.

Everything the panel does, without Qt: volumes, segmentations, markups and table nodes are
converted to SimpleITK images / numpy arrays (and back), and the work on them is done by the
pathways (:mod:`alnpredictor.pathways`) — the same functions the command line, the cohort runner
and the demo call, so the panel gives the same features, bit for bit, as ``alnpredictor extract``.

Runs inside the Slicer application and headless on the ``slicer-core`` wheel
(:mod:`ALNPredictorLib.headless`), so tests exercise it on a real MRML scene.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import slicer

from alnpredictor import study
from alnpredictor.settings import MRI_PARAMS
from ALNPredictorLib.headless import in_slicer_app

if in_slicer_app():
    from slicer.ScriptedLoadableModule import ScriptedLoadableModuleLogic as _LogicBase
else:  # headless slicer-core: the scripted-module framework (Qt) is not there, and not needed
    _LogicBase = object

#: Segment names of the structures the user segments (``tumor``, ``nodes``).
SEGMENT_NAMES = study.structure_names()
#: Singleton tag of the module's own Segment Editor parameter node (Segment Editor uses "SegmentEditor").
SEGMENT_EDITOR_SINGLETON_TAG = "ALNPredictor"
#: Pathway codes of the panel's choices.
PATHWAY_CODES = {"MRI": "mri", "Ultrasound": "us"}
#: ResNet50 weights the panel uses for a model that does not record its backbone: torchvision's ImageNet
#: weights, downloaded once into torch's verified cache (``alnpredictor.features.deep.resolve_weights``).
PANEL_DEFAULT_WEIGHTS = "imagenet"
#: Volume attribute holding the pixel spacing (mm) the user gave a frame read without one.
SPACING_ATTRIBUTE = "ALNPredictor.spacingMm"
#: How the deep-feature provenance names torchvision's weights (``deep.resolve_weights``).
TORCHVISION_WEIGHTS = "torchvision ResNet50_Weights."

#: One computation at a time in this process: the pathways pin the library thread count (ITK, BLAS)
#: process-wide for the duration of a step (``alnpredictor.runtime.library_threads``), so the
#: background N4 warm-up and a step of the panel must not overlap, or one could restore the other's
#: thread count mid-step and the features would no longer be bit-identical to the command line's.
_COMPUTE_LOCK = threading.RLock()
#: Set when worker processes cannot be started in this process (then extractions run in-process).
_POOL_UNUSABLE = False


class Cancelled(Exception):
    """Raised by a progress callback to stop a long Logic step (the Cancel button). The Logic lets it
    through before it writes anything to the scene, so a cancelled step leaves the scene as it was."""


class ALNPredictorLogic(_LogicBase):
    """Everything the panel does, without Qt.

    Converts MRML nodes (volumes, segmentations, markups, tables) to SimpleITK images / numpy
    arrays and back, and calls the ``alnpredictor`` core for the computation.

    :param scene: the MRML scene; defaults to ``slicer.mrmlScene`` (the application's scene, or
        the one created by ``ALNPredictorLib.headless.headless_context``).
    """

    def __init__(self, scene: Any = None) -> None:
        if _LogicBase is not object:
            _LogicBase.__init__(self)
        self.scene = scene if scene is not None else slicer.mrmlScene
        self.lastSegmentationNodes: dict = {}  # sequence → segmentation node of the last MRI extraction

    # -- parameter node (app only) ------------------------------------------------------------
    def getParameterNode(self):  # noqa: D401  (Slicer API name)
        """The module's parameter node wrapper (inside the app). The wrapper class is defined on first
        use (``ALNPredictor.parameterNodeClass``), after every module has registered its MRML classes."""
        from ALNPredictor import parameterNodeClass

        return parameterNodeClass()(super().getParameterNode())

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

    # -- ultrasound pixel spacing ---------------------------------------------------------------------
    def frameSpacingUnknown(self, volumeNode) -> bool:
        """Whether a frame's pixel spacing is unknown: read from a file format that carries none (PNG,
        JPEG, BMP, TIFF: Slicer then shows 1 mm per pixel) and not set by the user since
        (:meth:`setFrameSpacing`). Features need mm: areas would otherwise be pixel counts."""
        from alnpredictor.imaging.io import PLAIN_2D_SUFFIXES

        if volumeNode is None or volumeNode.GetAttribute(SPACING_ATTRIBUTE):
            return False
        storage = volumeNode.GetStorageNode()
        name = (storage.GetFileName() or "") if storage is not None else ""
        return name.lower().endswith(PLAIN_2D_SUFFIXES)

    def setFrameSpacing(self, volumeNode, spacingMm, attachedNodes=()) -> float:
        """Set a frame's in-plane pixel spacing (mm per pixel, e.g. from the scanner's depth scale) and
        remember that the user gave it. Origin and directions are kept: pixel (column i, row j) is at
        RAS (−i·s, −j·s, 0) for a frame read from a PNG (docs/segmentation.md).

        Markups and segmentations already drawn on the frame (``attachedNodes``; those lying in the
        frame's plane and inside it) are scaled with it about its origin, so that they stay on the same
        pixels; other nodes are left alone.

        :raises ValueError: not a number, or outside the plausible range (it names the range)."""
        import vtk

        from alnpredictor.imaging.io import MAX_SPACING_MM, MIN_SPACING_MM

        text = str(spacingMm if spacingMm is not None else "").strip().replace(",", ".")
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not (MIN_SPACING_MM <= value <= MAX_SPACING_MM):
            raise ValueError(f"pixel spacing of '{volumeNode.GetName()}' must be a number of mm per pixel between "
                             f"{MIN_SPACING_MM:g} and {MAX_SPACING_MM:g} (got {text!r}): read it from the "
                             "frame's depth scale (e.g. 40 mm over 400 pixels is 0.1)")
        old = volumeNode.GetSpacing()
        onFrame = [n for n in attachedNodes if n is not None and self._liesOnFrame(n, volumeNode)]
        volumeNode.SetSpacing(value, value, old[2])
        volumeNode.SetAttribute(SPACING_ATTRIBUTE, repr(value))
        if onFrame:
            # RAS' = O + D·diag(s/old_i, s/old_j, 1)·D⁻¹·(RAS − O): the same pixels under the new spacing
            ijkToRas = vtk.vtkMatrix4x4()
            volumeNode.GetIJKToRASDirectionMatrix(ijkToRas)
            direction = slicer.util.arrayFromVTKMatrix(ijkToRas)[:3, :3]
            linear = direction @ np.diag([value / old[0], value / old[1], 1.0]) @ direction.T
            origin = np.array(volumeNode.GetOrigin())
            matrix = np.eye(4)
            matrix[:3, :3], matrix[:3, 3] = linear, origin - linear @ origin
            transform = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "ALN spacing")
            transform.SetMatrixTransformToParent(slicer.util.vtkMatrixFromArray(matrix))
            for node in onFrame:
                node.SetAndObserveTransformNodeID(transform.GetID())
                node.HardenTransform()
            slicer.mrmlScene.RemoveNode(transform)
        return value

    def _liesOnFrame(self, node, volumeNode) -> bool:
        """Whether a markups or segmentation node lies inside a 2-D frame (within half a slice of its
        plane): it was drawn on that frame."""
        bounds, frame = [0.0] * 6, [0.0] * 6
        volumeNode.GetRASBounds(frame)
        if node.IsA("vtkMRMLMarkupsNode") and node.GetNumberOfDefinedControlPoints() == 0:
            return False
        node.GetRASBounds(bounds)
        if bounds[0] > bounds[1]:  # empty
            return False
        tolerance = [0.5 * abs(v) + 1e-3 for v in volumeNode.GetSpacing()]
        return all(frame[2 * a] - tolerance[a] <= bounds[2 * a] and bounds[2 * a + 1] <= frame[2 * a + 1] + tolerance[a]
                   for a in range(3))

    def requireFrameSpacing(self, volumeNode) -> None:
        """Refuse feature extraction from a frame whose pixel spacing is unknown (names what to do)."""
        if self.frameSpacingUnknown(volumeNode):
            raise ValueError(f"'{volumeNode.GetName()}' has no pixel spacing (its file is a PNG/JPEG export): areas "
                             "would be pixel counts, not mm². Enter the spacing in mm per pixel when the panel asks "
                             "(choose the frame again), or load a DICOM export of the frame")

    def imageFromVolumeNode(self, node):
        """SimpleITK image (LPS geometry) of a volume node; the voxels are copied.

        A ``vtkMRMLVectorVolumeNode`` (RGB/RGBA ultrasound frames from PNG/JPEG or DICOM load as one)
        becomes grey with the luminance rule of :func:`alnpredictor.imaging.io.to_grey` — the same
        image as reading the file with ``alnpredictor.imaging.io.read_volume``. Other multi-component
        volumes (e.g. DWI) are refused with a message.
        """
        import SimpleITK as sitk
        import vtk

        from alnpredictor.imaging.coords import set_geometry_from_ijk_to_ras
        from alnpredictor.imaging.io import ensure_3d_scalar

        if node is None or node.GetImageData() is None:
            raise ValueError("no volume selected (or the volume has no image data): choose a volume first")
        m = vtk.vtkMatrix4x4()
        node.GetIJKToRASMatrix(m)
        matrix = slicer.util.arrayFromVTKMatrix(m)
        if node.GetParentTransformNode() is not None:
            raise ValueError(f"volume '{node.GetName()}' is under a transform: harden the transform first")
        array = np.array(slicer.util.arrayFromVolume(node))
        components = node.GetImageData().GetNumberOfScalarComponents()
        if components > 1:  # arrayFromVolume gives (k, j, i, component) for vector volumes
            image = set_geometry_from_ijk_to_ras(sitk.GetImageFromArray(array, isVector=True), matrix)
            return ensure_3d_scalar(image, f"volume '{node.GetName()}'")  # refuses non-colour vector volumes
        return set_geometry_from_ijk_to_ras(sitk.GetImageFromArray(array), matrix)

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
            color = study.structure(segmentName).color if segmentName in SEGMENT_NAMES else (1.0, 1.0, 0.0)
            segment_id = segmentation.AddEmptySegment(segmentName, segmentName, color)
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

    def hasSegment(self, segmentationNode, segmentName: str, referenceVolumeNode) -> bool:
        """Whether ``segmentationNode`` has a non-empty segment ``segmentName`` on the volume's grid."""
        if segmentationNode is None or referenceVolumeNode is None:
            return False
        if not segmentationNode.GetSegmentation().GetSegmentIdBySegmentName(segmentName):
            return False
        return bool(self.arrayFromSegment(segmentationNode, segmentName, referenceVolumeNode).any())

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

        Default: the structures' label values (1 ``tumor``, 2 ``nodes``; other values are ignored).
        """
        import SimpleITK as sitk

        from alnpredictor.imaging.coords import ijk_to_ras_matrix
        from alnpredictor.imaging.io import check_header

        labelNames = labelNames or {s.label: s.name for s in study.STRUCTURES}
        check_header(path)  # a hostile header (data file outside its folder, %s pattern) is refused first
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
        """Defined control points of a point list in RAS mm, shape (n, 3) (world coordinates).

        Only points whose position status is ``PositionDefined`` count: a point being placed
        (``PositionPreview``), an undefined one (``PositionUndefined``, its coordinates must not be
        used) or a skipped one (``PositionMissing``) is never a seed (position statuses:
        ``Libs/MRML/Core/vtkMRMLMarkupsNode.h``, ``GetNthControlPointPositionStatus``).
        """
        if markupsNode is None:
            return np.zeros((0, 3))
        points = []
        for index in range(markupsNode.GetNumberOfControlPoints()):
            if markupsNode.GetNthControlPointPositionStatus(index) != markupsNode.PositionDefined:
                continue
            position = [0.0, 0.0, 0.0]
            markupsNode.GetNthControlPointPositionWorld(index, position)
            points.append(position)
        return np.asarray(points, dtype=float).reshape(-1, 3)

    def newPointList(self, name: str, points_ras=()):
        """A markups point list with the given RAS points (seeds as the user would click them)."""
        node = self.scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", name)
        for p in points_ras:
            node.AddControlPoint(*[float(v) for v in p])
        return node

    # -- scene helpers: Segment Editor parameter node, patient identifiers ----------------------------
    def segmentEditorNode(self):
        """The module's own Segment Editor parameter node (a singleton), overwrite mode ``OverwriteNone``.

        Editing one segment must never erase another (painting ``nodes`` over ``tumor``). Closing the
        scene resets singleton nodes to their defaults (overwrite mode back to "all segments"), so the
        panel calls this again on scene end-close and on enter. Created as Segment Editor creates its own
        (``Modules/Scripted/SegmentEditor/SegmentEditor.py``, ``selectParameterNode``): singleton tag set
        before the node is added, so a saved scene's node is reused.
        """
        node = self.scene.GetSingletonNode(SEGMENT_EDITOR_SINGLETON_TAG, "vtkMRMLSegmentEditorNode")
        if node is None:
            node = slicer.vtkMRMLSegmentEditorNode()
            node.SetSingletonTag(SEGMENT_EDITOR_SINGLETON_TAG)
            node = self.scene.AddNode(node)
        if node.GetOverwriteMode() != node.OverwriteNone:
            node.SetOverwriteMode(node.OverwriteNone)
        return node

    def patientIdentifiers(self, volumeNode) -> dict:
        """Patient and study identifiers of a volume, read where Slicer keeps them: the DICOM attributes
        of the subject-hierarchy *Patient* and *Study* items above the volume (DICOM import puts them
        there, not on the volume node; ``vtkMRMLSubjectHierarchyConstants``). Empty values are left out;
        ``volume`` is the volume's name."""
        identifiers = {"volume": volumeNode.GetName()}
        shNode = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(self.scene)
        itemID = shNode.GetItemByDataNode(volumeNode) if shNode is not None else 0
        if not itemID:
            return identifiers
        constants = slicer.vtkMRMLSubjectHierarchyConstants
        levels = {"Patient": constants.GetDICOMLevelPatient(), "Study": constants.GetDICOMLevelStudy()}
        wanted = (
            ("PatientName", "Patient", constants.GetDICOMPatientNameAttributeName()),
            ("PatientID", "Patient", constants.GetDICOMPatientIDAttributeName()),
            ("PatientBirthDate", "Patient", constants.GetDICOMPatientBirthDateAttributeName()),
            ("PatientSex", "Patient", constants.GetDICOMPatientSexAttributeName()),
            ("StudyDate", "Study", constants.GetDICOMStudyDateAttributeName()),
            ("StudyTime", "Study", constants.GetDICOMStudyTimeAttributeName()),
            ("StudyID", "Study", constants.GetDICOMStudyIDAttributeName()),
            ("StudyDescription", "Study", constants.GetDICOMStudyDescriptionAttributeName()),
        )
        for key, level, attribute in wanted:
            value = shNode.GetAttributeFromItemAncestor(itemID, attribute, levels[level])
            if value:
                identifiers[key] = value
        patientItem = shNode.GetItemAncestorAtLevel(itemID, levels["Patient"])
        if patientItem and "PatientName" not in identifiers and shNode.GetItemName(patientItem):
            identifiers["PatientName"] = shNode.GetItemName(patientItem)  # a patient item created by hand
        return identifiers

    # -- imaging: grow-cut, propagation, N4 -------------------------------------------------------
    def segmentFromSeeds(self, volumeNode, tumorSeedsNode=None, nodeSeedsNode=None, backgroundSeedsNode=None,
                         segmentationNode=None, pathway: str = "mri", progress=None, **options):
        """Grow-cut the tumor and/or nodes from markups seeds into a segmentation node.

        Seeds are the defined control points (RAS, world) of the point lists
        (:meth:`pointsFromMarkups`); a list that is None or empty is skipped. Without background seeds
        they are placed automatically. Segments ``tumor`` / ``nodes`` of ``segmentationNode`` (created on
        the volume's geometry if None) are replaced by the result; a segment that is not re-segmented is
        left as it is and the new result never takes its voxels. ``options`` are segmenter settings
        (``alnpredictor.imaging.segment.GrowCutSettings``, e.g. ``smoothing_mm``); the work is the MRI
        pathway's segmentation step (:func:`alnpredictor.pathways.mri.segment_reference`), or with
        ``pathway="us"`` the ultrasound pathway's 2-D grow-cut of the lesion
        (:func:`alnpredictor.pathways.us.segment_frame`, what Predict grows when there is no segment).

        :returns: (segmentationNode, summary dict: voxels/volume_ml per structure, engine, seconds ...).
        """
        import SimpleITK as sitk

        report = _progress(progress)
        seeds = {}
        markupsBySegment = (("tumor", tumorSeedsNode),) if pathway == "us" else (("tumor", tumorSeedsNode),
                                                                                ("nodes", nodeSeedsNode))
        for segmentName, markups in markupsBySegment:
            points = self.pointsFromMarkups(markups)
            if len(points):
                seeds[segmentName] = points
        if not seeds:
            raise ValueError("no seeds: place at least one tumor" + ("" if pathway == "us" else " or node")
                             + " seed point on the image")
        background = self.pointsFromMarkups(backgroundSeedsNode)
        report(0.0, "reading the image")
        image = self.imageFromVolumeNode(volumeNode)
        with _exclusive(report, 0.1):
            report(0.1, "growing " + " and ".join(seeds))
            if pathway == "us":
                from alnpredictor.pathways import us

                mask, summary = us.segment_frame(image, seeds["tumor"], background if len(background) else None)
                grown = {"tumor": mask}
            else:
                from alnpredictor.pathways import mri

                grown, summary = mri.segment_reference(image, seeds, background, **options)
        report(0.9, "writing the segments")
        report.commit()  # from here on the scene changes: no cancellation
        if segmentationNode is None:
            segmentationNode = self.newSegmentationNode(volumeNode)
        segmentation = segmentationNode.GetSegmentation()
        # Voxels of segments that are kept as they are may not be taken by the new result.
        kept = np.zeros(sitk.GetArrayViewFromImage(image).shape, bool)
        for segmentName in SEGMENT_NAMES:
            if segmentName not in seeds and segmentation.GetSegmentIdBySegmentName(segmentName):
                kept |= self.arrayFromSegment(segmentationNode, segmentName, volumeNode) > 0
        for segmentName, mask in grown.items():
            arr = (sitk.GetArrayFromImage(mask) > 0) & ~kept
            self.setSegmentFromArray(segmentationNode, segmentName, arr, volumeNode)
        summary = dict(summary)
        summary["segmentation"] = segmentationNode.GetName()
        report(1.0, "done")
        return segmentationNode, summary

    def segment(self, volumeNode, tumorSeedsNode=None, nodeSeedsNode=None, backgroundSeedsNode=None,
                segmentationNode=None, tumorLineNode=None, tumorBoxNode=None, pathway: str = "mri", progress=None,
                **options):
        """What the panel's Segment does: the tumor from its caliper line and/or box when one is drawn
        (:meth:`segmentFromPrompts`; tumor seeds then are positive corrections, background seeds
        negative ones), otherwise grown from the seeds (:meth:`segmentFromSeeds`); the nodes (MRI)
        always from their seeds. A line or box that is chosen but not drawn yet is an error that says
        so (never a silent fall-back to the click).

        :raises ClickRefusedError: one click did not determine the tumor (``next_action`` "caliper").
        :returns: (segmentationNode, summary).
        """
        drawn = {}
        for what, node in (("caliper line", tumorLineNode), ("box", tumorBoxNode)):
            if node is None:
                continue
            if node.GetNumberOfDefinedControlPoints() == 0:
                raise ValueError(f"the tumor {what} '{node.GetName()}' is not drawn yet: click Draw and "
                                 + ("click the two ends of the lesion's long axis" if what == "caliper line"
                                    else "drag a box around the lesion") + " in a slice view, or choose None")
            drawn[what] = node
        if not drawn:
            return self.segmentFromSeeds(volumeNode, tumorSeedsNode, nodeSeedsNode, backgroundSeedsNode,
                                         segmentationNode, pathway=pathway, progress=progress, **options)
        segmentationNode, summary = self.segmentFromPrompts(
            volumeNode, "tumor", drawn.get("caliper line"), drawn.get("box"), tumorSeedsNode, backgroundSeedsNode,
            segmentationNode, progress=progress)
        summary = {"structures": {"tumor": self._segmentVolume(segmentationNode, "tumor", volumeNode)},
                   "tumor": summary}
        if pathway != "us" and len(self.pointsFromMarkups(nodeSeedsNode)):
            segmentationNode, nodes = self.segmentFromSeeds(volumeNode, None, nodeSeedsNode, backgroundSeedsNode,
                                                            segmentationNode, pathway=pathway, progress=progress,
                                                            **options)
            summary["structures"].update(nodes.get("structures") or {})
            summary["nodes"] = nodes
        return segmentationNode, summary

    def _segmentVolume(self, segmentationNode, segmentName: str, volumeNode) -> dict:
        """Voxel count and volume (mL) of one segment on the volume's grid."""
        from alnpredictor.imaging.segmentation import mask_size

        return mask_size(self.maskImageFromSegment(segmentationNode, segmentName, volumeNode))

    def startPlacing(self, className: str, markupsNode=None, name: str = "tumor caliper"):
        """Put the slice views in place mode for a markups node of ``className`` (a caliper line or an ROI
        box): the given node is emptied to be drawn again, or a new one is created. What the Markups
        module's place button does, through the application's selection and interaction nodes.

        :returns: the node being drawn."""
        scene = slicer.mrmlScene
        if markupsNode is None or not markupsNode.IsA(className):
            markupsNode = scene.AddNewNodeByClass(className, scene.GenerateUniqueName(name))
            markupsNode.CreateDefaultDisplayNodes()
        else:
            markupsNode.RemoveAllControlPoints()
        appLogic = slicer.app.applicationLogic()
        selectionNode, interactionNode = appLogic.GetSelectionNode(), appLogic.GetInteractionNode()
        selectionNode.SetReferenceActivePlaceNodeClassName(className)
        selectionNode.SetActivePlaceNodeID(markupsNode.GetID())
        interactionNode.SetPlaceModePersistence(0)
        interactionNode.SetCurrentInteractionMode(interactionNode.Place)
        return markupsNode

    def segmentationSummary(self, summary: dict) -> str:
        """One line for the panel: the volume of each segmented structure."""
        structures = (summary or {}).get("structures") or {}
        parts = [f"{name} {_number(values.get('volume_ml'), '.2f')} ml" for name, values in structures.items()]
        return "Segmented: " + (", ".join(parts) if parts else "—")

    def promptsFromMarkups(self, structure: str = "tumor", lineNode=None, roiNode=None, positiveNode=None,
                           negativeNode=None):
        """Segmentation prompts (``alnpredictor.imaging.prompts.Prompts``) from markups nodes: a
        caliper line (``vtkMRMLMarkupsLineNode``: its two defined control points, world RAS), a box
        (``vtkMRMLMarkupsROINode``: centre, size and orientation in world coordinates) and
        correction clicks (point lists: positive = belongs to the structure, negative = does not)."""
        from alnpredictor.imaging.prompts import Prompts, box_from_roi, caliper_line, with_corrections

        lines, boxes = {}, {}
        if lineNode is not None:
            lines[structure] = [caliper_line(self.pointsFromMarkups(lineNode))]
        if roiNode is not None:
            center, size = [0.0] * 3, [0.0] * 3
            roiNode.GetCenterWorld(center)
            roiNode.GetSizeWorld(size)
            matrix = slicer.util.arrayFromVTKMatrix(roiNode.GetObjectToWorldMatrix())[:3, :3]
            axes = matrix / np.maximum(np.linalg.norm(matrix, axis=0), 1e-12)
            boxes[structure] = [box_from_roi(center, size, axes)]
        if not lines and not boxes:
            raise ValueError("no prompt: draw a caliper line across the lesion (or an ROI box around it)")
        prompts = Prompts(lines=lines, boxes=boxes)
        positive, negative = self.pointsFromMarkups(positiveNode), self.pointsFromMarkups(negativeNode)
        if len(positive) or len(negative):
            prompts = with_corrections(prompts, structure, positive=positive, negative=negative)
        return prompts

    def segmentFromPrompts(self, volumeNode, structure: str = "tumor", lineNode=None, roiNode=None,
                           positiveNode=None, negativeNode=None, segmentationNode=None, progress=None):
        """Segment one structure from a caliper line and/or a box, with optional correction clicks
        (:meth:`promptsFromMarkups`), through the segmenter seam (``get_segmenter("grow-cut")``); the
        segment ``structure`` of ``segmentationNode`` (created if None) is replaced, other segments
        keep their voxels. Works on MRI volumes (the line on one slice sets the in-plane scale) and
        ultrasound frames.

        :returns: (segmentationNode, summary with the engine, warnings and the prompt kinds used).
        """
        import SimpleITK as sitk

        from alnpredictor.imaging.segment import get_segmenter
        from alnpredictor.runtime import library_threads

        report = _progress(progress)
        prompts = self.promptsFromMarkups(structure, lineNode, roiNode, positiveNode, negativeNode)
        report(0.0, "reading the image")
        image = self.imageFromVolumeNode(volumeNode)
        with _exclusive(report, 0.1):
            report(0.1, f"segmenting {structure} from the " + " and ".join(sorted(prompts.kinds())))
            with library_threads(1):
                result = get_segmenter("grow-cut").segment(image, prompts)
        report(0.9, "writing the segment")
        report.commit()  # from here on the scene changes: no cancellation
        if segmentationNode is None:
            segmentationNode = self.newSegmentationNode(volumeNode)
        kept = np.zeros(sitk.GetArrayViewFromImage(image).shape, bool)
        for other in SEGMENT_NAMES:
            if other != structure and segmentationNode.GetSegmentation().GetSegmentIdBySegmentName(other):
                kept |= self.arrayFromSegment(segmentationNode, other, volumeNode) > 0
        arr = (sitk.GetArrayFromImage(result.masks[structure]) > 0) & ~kept
        self.setSegmentFromArray(segmentationNode, structure, arr, volumeNode)
        summary = {**result.summary(), **result.provenance.as_record(), "prompts": sorted(prompts.kinds()),
                   "segmentation": segmentationNode.GetName()}
        report(1.0, "done")
        return segmentationNode, summary

    def propagateSegmentation(self, segmentationNode, referenceVolumeNode, movingVolumeNodes, register: bool = True,
                              progress=None, **options):
        """Copy the segments onto other volumes (T2, ADC), each on its own grid.

        Every moving volume is registered rigidly to the reference around the segments (the MRI
        pathway's propagation step, :func:`alnpredictor.pathways.mri.propagate`; ``register=False``
        resamples in physical space only) and gets a new segmentation node named
        ``"<segmentation> → <volume>"`` whose reference geometry is that volume.

        :param movingVolumeNodes: one volume node or a list of them.
        :returns: list of (segmentation node, quality summary) in the order of the volumes;
            the summary holds the transform, metric (None without registration), converged flag,
            motion and warnings.
        """
        from alnpredictor.pathways import mri
        from alnpredictor.settings import MRISettings

        report = _progress(progress)
        if not isinstance(movingVolumeNodes, (list, tuple)):
            movingVolumeNodes = [movingVolumeNodes]
        report(0.0, "reading the volumes")
        reference = self.imageFromVolumeNode(referenceVolumeNode)
        masks = self.masksFromSegmentation(segmentationNode, referenceVolumeNode)
        if not masks:
            raise ValueError(f"segmentation '{segmentationNode.GetName()}' has no non-empty "
                             f"{' / '.join(SEGMENT_NAMES)} segment: segment first")
        settings = MRISettings(register=register, **options)
        computed = []
        with _exclusive(report, 0.05):
            for index, movingNode in enumerate(movingVolumeNodes):
                report(0.05 + 0.9 * index / len(movingVolumeNodes),
                       f"{'registering' if register else 'resampling'} {movingNode.GetName()}")
                propagated, quality = mri.propagate(reference, {"moving": self.imageFromVolumeNode(movingNode)},
                                                    masks, settings)
                computed.append((movingNode, propagated, quality["moving"]))
        report(0.95, "writing the segmentations")
        report.commit()
        results = []
        for movingNode, propagated, summary in computed:
            outNode = self.segmentationNodeFromMasks(
                {study.structure_of_roi(roi): mask for (roi, _), mask in propagated.items()}, movingNode,
                f"{segmentationNode.GetName()} → {movingNode.GetName()}")
            summary = dict(summary)
            summary["volume"] = movingNode.GetName()
            results.append((outNode, summary))
        report(1.0, "done")
        return results

    def registrationSummary(self, summaries) -> str:
        """The panel's text for propagation results: per volume the motion found, the metric and the
        warnings. Works for propagation without registration (no metric: it is None)."""
        lines = []
        for summary in summaries:
            name = summary.get("volume", "")
            if summary.get("registered"):
                text = (f"{name}: moved {_number(summary.get('translation_mm'), '.1f')} mm / "
                        f"{_number(summary.get('rotation_deg'), '.1f')}°, metric {_number(summary.get('metric'), '.3f')}")
            else:
                text = f"{name}: resampled in physical space (not registered)"
            if summary.get("warnings"):
                text += " — " + "; ".join(str(w) for w in summary["warnings"])
            lines.append(text)
        return "\n".join(lines)

    def segmentationNodeFromMasks(self, masks: dict, volumeNode, name: str):
        """A new segmentation node on ``volumeNode``'s geometry with one segment per structure mask."""
        import SimpleITK as sitk

        outNode = self.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", name)
        outNode.CreateDefaultDisplayNodes()
        outNode.SetReferenceImageGeometryParameterFromVolumeNode(volumeNode)
        for segmentName, mask in masks.items():
            self.setSegmentFromArray(outNode, segmentName, sitk.GetArrayFromImage(mask), volumeNode)
        return outNode

    def n4Correct(self, volumeNode, cacheDir: str | None = None, name: str | None = None):
        """A new volume node with the N4 bias-field corrected volume (cached by content hash), computed
        as the MRI pathway does it (the settings' library thread count)."""
        from alnpredictor.imaging.preprocess import n4_correct
        from alnpredictor.runtime import library_threads
        from alnpredictor.settings import MRISettings

        image = self.imageFromVolumeNode(volumeNode)
        with _exclusive(_progress(None), 0.0), library_threads(MRISettings().threads):
            corrected = n4_correct(image, cache_dir=cacheDir)
        return self.volumeNodeFromImage(corrected, name or f"{volumeNode.GetName()} N4")

    def startN4Warmup(self, volumeNodes, cacheDir: str):
        """Start N4 of these volumes in a background thread, into the content-addressed cache that the
        MRI pathway reads (Predict then finds the corrected series there). Images are read here, on
        the calling (GUI) thread; the thread never touches MRML. N4 runs with the pathway's library
        thread count and never alongside another Logic step, so the cached result is bit-identical to
        what Predict would compute. Returns an :class:`N4Warmup` (``running()``, ``stop()``)."""
        images = [(node.GetName(), self.imageFromVolumeNode(node)) for node in volumeNodes if node is not None]
        return N4Warmup(images, cacheDir)

    # -- features ----------------------------------------------------------------------------------
    def masksFromSegmentation(self, segmentationNode, volumeNode) -> dict:
        """``{"tumor": mask, "nodes": mask}`` (SimpleITK, on the volume's grid) of the non-empty segments."""
        masks = {}
        segmentation = segmentationNode.GetSegmentation()
        for segmentName in SEGMENT_NAMES:
            if segmentation.GetSegmentIdBySegmentName(segmentName):
                mask = self.maskImageFromSegment(segmentationNode, segmentName, volumeNode)
                if _any(mask):
                    masks[segmentName] = mask
        return masks

    def extractFeatures(self, volumeNodes: dict, segmentationNode, propagatedNodes: dict | None = None,
                        settings=None, progress=None):
        """The MRI pathway on the scene's nodes: ROIs of ``segmentationNode`` (on the reference
        sequence) → propagation → N4 → PyRadiomics (:func:`alnpredictor.pathways.mri.run_case`).

        :param volumeNodes: sequence code → volume node (every sequence of the settings).
        :param propagatedNodes: sequence code → segmentation node already on that sequence (e.g.
            corrected by hand): used as explicit masks; the other sequences are propagated now and
            get a new segmentation node in the scene.
        :param settings: :class:`~alnpredictor.settings.MRISettings`; its structures are narrowed to
            the non-empty segments. With ``extract_workers > 1`` the ROI×sequence extractions run in
            worker processes (features identical to one process); if worker processes cannot be
            started here, they run in this process.
        :param progress: ``progress(fraction, message)``; it may raise :class:`Cancelled`, which stops
            the step before anything is written to the scene.
        :returns: (``MRICaseResult``, sequence code → the propagated segmentation node created now).
        """
        from dataclasses import replace

        from alnpredictor.pathways import mri
        from alnpredictor.settings import MRISettings

        settings = settings or MRISettings()
        report = _progress(progress)
        missing = [seq for seq in settings.sequences if volumeNodes.get(seq) is None]
        if missing:
            raise ValueError("missing sequence(s) " + ", ".join(f"{s} ({study.sequence_description(s)})" for s in missing)
                             + ": choose them in Study")
        report(0.05, "reading volumes")
        images = {seq: self.imageFromVolumeNode(volumeNodes[seq]) for seq in settings.sequences}
        ref_code = settings.sequences[0]
        masks = self.masksFromSegmentation(segmentationNode, volumeNodes[ref_code])
        if not masks:
            raise ValueError(f"segmentation '{segmentationNode.GetName()}' has no non-empty "
                             f"{' / '.join(SEGMENT_NAMES)} segment: segment first")
        settings = replace(settings, structures=tuple(s for s in settings.structures if s in masks))
        explicit = {}
        for seq, node in (propagatedNodes or {}).items():
            if seq in settings.sequences[1:] and node is not None:
                for name, mask in self.masksFromSegmentation(node, volumeNodes[seq]).items():
                    explicit[(study.roi_code(name), seq)] = mask
        with _exclusive(report, 0.05):
            result = _run_with_worker_fallback(
                lambda s: mri.run_case(images, s, masks=masks, explicit_masks=explicit, progress=report), settings)
        created = {}
        for seq in settings.sequences[1:]:
            if seq in (propagatedNodes or {}) and propagatedNodes[seq] is not None:
                continue
            created[seq] = self.segmentationNodeFromMasks(
                {study.structure_of_roi(roi): m for (roi, s), m in result.masks.items() if s == seq},
                volumeNodes[seq], f"{segmentationNode.GetName()} → {volumeNodes[seq].GetName()}")
        return result, created

    def extractMRIFeatures(self, t1cNode, t2Node, adcNode, segmentationNode, propagatedNodes: dict | None = None,
                           params: str = MRI_PARAMS, register: bool = True, n4: bool = True,
                           cacheDir: str | None = None, workers: int | None = None, onRoiError: str = "raise",
                           progress=None):
        """The study's radiomics of one patient from the scene: ``T``/``L`` ROIs x T1C/T2/ADC.

        ROIs come from ``segmentationNode`` (on contrast T1). ``propagatedNodes`` maps ``"T2"`` /
        ``"ADC"`` to segmentation nodes already propagated (e.g. corrected by hand); missing ones
        are propagated now (registration unless ``register=False``).

        :param workers: processes for the ROI×sequence extractions (default: one per extraction, at
            most one per CPU core — the 6 extractions of a patient use every core); ``1`` runs them
            one after another in this process. The features are the same either way.
        :returns: (features dict ``{ROI}{SEQ}_{name}``, quality dict, provenance dict); afterwards
            ``lastSegmentationNodes`` maps each sequence to its segmentation node (given or created now).
        """
        from alnpredictor.settings import MRISettings

        settings = MRISettings(params=params, register=register, n4=n4, cache_dir=cacheDir, on_roi_error=onRoiError)
        settings = dataclasses.replace(settings, extract_workers=_extract_workers(workers, settings))
        nodes = dict(zip(settings.sequences, (t1cNode, t2Node, adcNode)))
        result, created = self.extractFeatures(nodes, segmentationNode, propagatedNodes, settings, progress)
        self.lastSegmentationNodes = {settings.sequences[0]: segmentationNode, **(propagatedNodes or {}), **created}
        return result.features, {"registration": dict(result.quality.get("registration", {})),
                                 "roi_errors": result.errors}, result.provenance

    # -- models and prediction -----------------------------------------------------------------------
    def loadModel(self, path: str, pathway: str | None = None):
        """Load a model bundle (``NAME.alnmodel``); refuses tampered or unknown bundles, and with
        ``pathway`` (``mri``/``us``, or the panel's ``MRI``/``Ultrasound``) a bundle made for the other
        pathway's features."""
        if not _path_set(path):
            raise ValueError("no model chosen: choose a NAME.alnmodel folder")
        if pathway is not None:
            from alnpredictor.pathways import get_pathway

            return get_pathway(PATHWAY_CODES.get(pathway, pathway)).load_model(str(path))
        from alnpredictor.models import load_bundle

        return load_bundle(str(path))

    def modelCardText(self, model) -> str:
        """The model card as the panel shows it (name, recipe, training, AUC, cut-off, intended use)."""
        card = model.card
        metrics = card.get("metrics") or {}
        auc = metrics.get("auc")
        ci = metrics.get("auc_ci") or []
        auc_text = _number(auc, ".3f") + (f" (95% CI {_number(ci[0], '.3f')}–{_number(ci[1], '.3f')})" if len(ci) == 2 else "")
        cutoff = card.get("cutoff")
        cutoff = cutoff.get("value") if isinstance(cutoff, dict) else cutoff
        return (f"{card.get('name')} ({card.get('recipe')})\n{card.get('description') or ''}\n"
                f"Training: {card.get('training')}\nAUC: {auc_text}\nCut-off: {_number(cutoff, '.3f')}\n"
                f"Intended use: {card.get('intended_use')}\n{card.get('research_use')}")

    def radiomicsVersionWarning(self, model=None, installed: str | None = None) -> str | None:
        """A warning when the installed PyRadiomics (inside Slicer: SlicerRadiomics' build from its
        master branch) is not the version the model's features were computed with; None if it is."""
        from ALNPredictorLib.dependencies import radiomics_version_warning

        return radiomics_version_warning(model, installed)

    def clinicalFields(self, model) -> list:
        """The model's clinical fields: name, type (number/integer/choice), range or values, required."""
        return list(model.clinical_fields)

    def predict(self, model, features: dict, clinical: dict | None = None, pathway: str = "mri"):
        """Probability, class at the model's cut-off, points per predictor and total points (a
        ``Prediction``; its ``values`` include the checked clinical values, its context the warnings).

        Clinical values are checked against the model's fields first (every problem at once).
        """
        from alnpredictor.pathways import get_pathway

        return get_pathway(pathway).predict(model, features, clinical)

    def storeResults(self, prediction, modelPath: str = "", tableNode=None):
        """Write a prediction (a ``Prediction`` or its stored dict form) into a table node (two
        columns, item/value) so the scene keeps it."""
        import json

        import vtk

        from alnpredictor.models.prediction import prediction_dict

        prediction = prediction_dict(prediction)

        if tableNode is None:
            tableNode = self.scene.AddNewNodeByClass("vtkMRMLTableNode", "ALNPredictor results")
        table = tableNode.GetTable()
        table.Initialize()
        items, values = vtk.vtkStringArray(), vtk.vtkStringArray()
        items.SetName("item")
        values.SetName("value")
        rows = [("model", prediction.get("model", "")), ("model_path", modelPath),
                ("probability", prediction.get("probability")), ("cutoff", prediction.get("cutoff")),
                ("class", prediction.get("class")), ("total_points", prediction.get("total_points"))]
        interval = prediction.get("interval") or {}
        if interval:
            rows += [("interval_low", interval.get("low")), ("interval_high", interval.get("high"))]
        rows += [(f"points:{k}", v) for k, v in (prediction.get("points") or {}).items()]
        for key, value in rows:
            items.InsertNextValue(str(key))
            values.InsertNextValue("" if value is None else str(value))
        table.AddColumn(items)
        table.AddColumn(values)
        tableNode.SetAttribute("ALNPredictor.prediction", json.dumps(prediction))
        tableNode.Modified()
        return tableNode

    def resultsFromTable(self, tableNode) -> dict:
        """The prediction stored by :meth:`storeResults` (e.g. after reopening a saved scene)."""
        import json

        text = tableNode.GetAttribute("ALNPredictor.prediction")
        if not text:
            raise ValueError(f"table '{tableNode.GetName()}' holds no ALNPredictor results")
        from alnpredictor.models.prediction import prediction_dict

        return prediction_dict(json.loads(text))  # scenes saved earlier: label "prediction" -> "class"

    def nomogramImage(self, model, values: dict, path: str, features: dict | None = None,
                      clinical: dict | None = None):
        """PNG of the model's nomogram with this patient's points marked (None for models
        without a points scale, e.g. SVM signatures). The model reads the patient's row from the
        features and clinical values (as the report does: ``values`` — a prediction's design values —
        alone lack the features of a signature inside a nomogram)."""
        from alnpredictor.report.export import nomogram_png

        png = nomogram_png(model, {**(features or {}), **(clinical or {}), **(values or {})}, path)
        return str(png) if png else None

    def predictMRI(self, t1cNode, t2Node, adcNode, segmentationNode, modelPath: str, clinical: dict | None = None,
                   progress=None, tableNode=None, **extractOptions) -> dict:
        """What the Predict button does: extract, predict, store in a table node.

        ``progress(fraction, message)`` may raise :class:`Cancelled`: the step stops and the scene is
        left as it was (no propagated segmentation, no results table).

        :returns: dict with ``prediction``, ``features``, ``quality``, ``model``, ``table``,
            ``provenance`` (N4, parameter file, versions: page 2 of the report) and ``segmentations``
            (sequence code → the segmentation node on that sequence, given or propagated now).
        """
        report = _progress(progress)
        from alnpredictor.models.clinical import check_clinical_values

        report(0.0, "loading the model")
        model = self.loadModel(modelPath, "mri")
        check_clinical_values(model.clinical_fields, clinical or {})  # before minutes of extraction
        features, quality, provenance = self.extractMRIFeatures(
            t1cNode, t2Node, adcNode, segmentationNode, progress=report, **extractOptions)
        report.commit()  # the propagated segmentations are in the scene now
        report(0.9, "predicting")
        prediction = self.predict(model, features, clinical).with_context(
            provenance={"params_sha256": provenance.get("params_sha256"),
                        "pyradiomics": provenance.get("pyradiomics_version")})
        prediction = _with_radiomics_warning(prediction, self.radiomicsVersionWarning(
            model, installed=provenance.get("radiomics_module_version") or None))
        table = self.storeResults(prediction, str(modelPath), tableNode)
        report(1.0, "done")
        segmentations = dict(self.lastSegmentationNodes)
        return {"prediction": prediction.to_dict(), "features": features, "quality": quality, "model": model,
                "table": table, "provenance": provenance, "segmentations": segmentations}

    def ultrasoundSettings(self, model, modelPath: str, weights: str | None = None, radiomics: bool | None = None):
        """The ultrasound settings that reproduce the model's features: PyRadiomics texture on exactly
        when the model uses texture features (``radiomics=None``), and the ResNet50 weights file the
        model was trained with (``weights=None``: torchvision's named weights when the model records
        them, a file of that name next to the bundle or inside it when it was trained with a file, and
        :data:`PANEL_DEFAULT_WEIGHTS` for a model that does not record its backbone)."""
        from pathlib import Path

        from alnpredictor.pathways import us
        from alnpredictor.settings import USSettings

        if radiomics is None:
            radiomics = any(us.is_radiomics_feature(f) for f in model.features)
        if weights is None:
            trained = us.trained_inputs(model)
            backbone = str(trained.get("deep_backbone") or "")
            if backbone.startswith(TORCHVISION_WEIGHTS):  # torchvision's, through torch's verified cache
                weights = backbone[len(TORCHVISION_WEIGHTS):].lower()
            elif not trained and any(f.startswith("DL_") for f in model.features):
                weights = PANEL_DEFAULT_WEIGHTS  # a model trained elsewhere does not say: ImageNet
            elif trained.get("weights_sha256") and backbone.startswith("weights file "):
                name = backbone[len("weights file "):]
                bundle = Path(modelPath)
                for candidate in (bundle / name, bundle.parent / name):
                    if candidate.is_file():
                        weights = str(candidate)
                        break
        return USSettings(weights=weights, radiomics=bool(radiomics))

    def predictUltrasound(self, volumeNode, seedsNode, modelPath: str, clinical: dict | None = None,
                          weights: str | None = None, segmentationNode=None, tableNode=None, progress=None,
                          radiomics: bool | None = None) -> dict:
        """What Predict does on the Ultrasound pathway: the ``tumor`` segment of ``segmentationNode``
        (or grow-cut from the seeds) → deep + handcrafted features → the model (one bundle: the
        DLR signature inside the nomogram) → probability, class, points; stored in a table node.

        The frame may be a scalar or an RGB vector volume (converted to grey as the file reader does).

        :param weights: ResNet50 weights file the model was trained with (None: as the model records it,
            see :meth:`ultrasoundSettings`; an untrained backbone if the model used one).
        :param radiomics: PyRadiomics 2-D texture among the handcrafted features (None: as the model was trained).
        :returns: dict with ``prediction`` (stored form), ``features``, ``quality``, ``model``, ``table``.
        """
        from alnpredictor.models.clinical import check_clinical_values
        from alnpredictor.pathways import us

        report = _progress(progress)
        report(0.0, "loading the model")
        model = self.loadModel(modelPath, "us")
        settings = self.ultrasoundSettings(model, modelPath, weights, radiomics)
        us.check_settings(model, settings)  # refuses other deep weights / features before extraction
        check_clinical_values(model.clinical_fields, clinical or {})
        self.requireFrameSpacing(volumeNode)
        image = self.imageFromVolumeNode(volumeNode)
        mask = None
        if segmentationNode is not None:
            mask = self.masksFromSegmentation(segmentationNode, volumeNode).get("tumor")
        seeds = self.pointsFromMarkups(seedsNode)
        with _exclusive(report, 0.2):
            report(0.2, "segmenting and extracting features" if mask is None else "extracting features")
            case = us.run_case(image, settings, mask=mask, seeds_ras=seeds if len(seeds) else None)
        report(0.9, "predicting")
        report.commit()
        prediction = us.predict(model, case.features, clinical).with_context(mask_source=case.mask_source)
        if settings.radiomics:
            prediction = _with_radiomics_warning(prediction, self.radiomicsVersionWarning(model))
        table = self.storeResults(prediction, str(modelPath), tableNode)
        report(1.0, "done")
        return {"prediction": prediction.to_dict(), "features": case.features, "quality": case.quality,
                "model": model, "table": table}

    # -- report ------------------------------------------------------------------------------------------
    def exportReport(self, outDir: str, prediction: dict, model, volumeNode, segmentationNode,
                     features: dict | None = None, clinical: dict | None = None, identifiers: dict | None = None,
                     includeIdentifiers: bool = False, quality: dict | None = None,
                     sequenceNodes: dict | None = None, provenance: dict | None = None) -> dict:
        """PDF + JSON report with key images (axial slices through the tumor and nodes with ROI
        outlines), the nomogram with this patient's points, the model card and the features.

        ``sequenceNodes`` (sequence code → (volume node, segmentation node on it), the reference
        first) gives a key image per sequence with the ROIs as propagated there; ``provenance``
        (what ``extractMRIFeatures`` returns) puts N4 and the parameter file on page 2.
        Identifiers are written only with ``includeIdentifiers``; user text is escaped.
        """
        from alnpredictor.report.export import export_patient_report

        if not _path_set(outDir):
            raise ValueError("no report folder chosen: choose a folder")
        return export_patient_report(
            str(outDir), prediction, model, self.imageFromVolumeNode(volumeNode),
            self.masksFromSegmentation(segmentationNode, volumeNode), features=features, clinical=clinical,
            identifiers=identifiers, include_identifiers=includeIdentifiers, quality=_pruned(quality),
            image_label=volumeNode.GetName() if includeIdentifiers else "reference image",
            sequences={seq: (self.imageFromVolumeNode(v), self.masksFromSegmentation(seg, v))
                       for seq, (v, seg) in (sequenceNodes or {}).items() if v is not None and seg is not None} or None,
            provenance=provenance)

    def dicomSource(self, volumeNode) -> list:
        """The DICOM datasets a volume was loaded from, sorted along the slice normal: the instances
        Slicer's DICOM module recorded (``DICOM.instanceUIDs`` + the DICOM database), else the series
        of the file its storage node read.

        :raises ValueError: the volume was not loaded from DICOM (it names the volume)."""
        from alnpredictor.report import dicom

        files = []
        uids = (volumeNode.GetAttribute("DICOM.instanceUIDs") or "").split()
        database = getattr(slicer, "dicomDatabase", None)
        if uids and database is not None:
            files = [database.fileForInstance(uid) for uid in uids]
        if files and all(files):
            return dicom.read_datasets(files)
        storage = volumeNode.GetStorageNode()
        first = storage.GetFileName() if storage is not None else None
        series_uid = dicom.series_uid_of(first) if first else None
        if series_uid is None:
            raise ValueError(f"'{volumeNode.GetName()}' was not loaded from DICOM: DICOM results need the study "
                             "loaded through the DICOM module (or untick 'DICOM for PACS')")
        return dicom.read_series(Path(first).parent, series_uid)

    def exportDicom(self, outDir: str, prediction: dict, model, sequenceNodes: dict, pdfPath: str | None) -> dict:
        """DICOM SEG per sequence (its ROIs on that sequence's own voxels), the report as Encapsulated
        PDF and the SR, in the study the volumes were loaded from (``alnpredictor.report.dicom``).

        :param sequenceNodes: sequence code → (volume node, segmentation node on it)."""
        from alnpredictor.report.dicom import model_identity, write_dicom_results

        if not _path_set(outDir):
            raise ValueError("no report folder chosen: choose a folder")
        sources, masks = {}, {}
        for seq, (volume, segmentation) in sequenceNodes.items():
            if volume is None or segmentation is None:
                continue
            sources[seq] = self.dicomSource(volume)
            masks[seq] = self.masksFromSegmentation(segmentation, volume)
        if model is None:
            raise ValueError("no model: choose the model bundle and press Predict first")
        return write_dicom_results(Path(outDir) / "dicom", sources, masks, prediction, pdfPath, *model_identity(model))


class N4Warmup:
    """N4 bias-field correction of some images in a background thread, into the pathway's N4 cache.

    ``running()`` while it works; ``stop()`` asks it to stop after the image in progress and joins
    the thread (the panel's ``cleanup``); ``done`` / ``errors`` say what happened. Each image is
    corrected holding the Logic's compute lock and with the MRI pathway's library thread count.
    """

    def __init__(self, images, cacheDir: str) -> None:
        self.total = len(images)
        self.done = 0
        self.errors: dict[str, str] = {}
        self._images = list(images)
        self._cacheDir = cacheDir
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="ALNPredictor N4", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        from alnpredictor.imaging.preprocess import n4_correct
        from alnpredictor.runtime import library_threads
        from alnpredictor.settings import MRISettings

        threads = MRISettings().threads
        for name, image in self._images:
            if self._stop.is_set():
                break
            try:
                with _COMPUTE_LOCK, library_threads(threads):
                    if self._stop.is_set():
                        break
                    n4_correct(image, cache_dir=self._cacheDir)
                self.done += 1
            except Exception as exc:  # noqa: BLE001 - reported by the panel, never lost in a thread
                logging.exception("ALNPredictor: N4 of %s failed", name)
                self.errors[name] = str(exc)
        self._images = []

    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, wait: bool = True, timeout: float | None = None) -> None:
        """Stop after the image in progress; with ``wait``, join the thread."""
        self._stop.set()
        if wait and self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def status(self) -> str:
        """One line for the panel."""
        if self.running():
            return f"N4: correcting in the background ({self.done}/{self.total} done)…"
        if self.errors:
            return "N4 failed for " + ", ".join(f"{k} ({v})" for k, v in self.errors.items())
        if self._stop.is_set() and self.done < self.total:
            return f"N4: stopped ({self.done}/{self.total} done)"
        return f"N4: done ({self.done} series cached for Predict)"


def _any(mask) -> bool:
    import SimpleITK as sitk

    return bool(np.any(sitk.GetArrayViewFromImage(mask)))


def _pruned(value):
    """A quality record without empty parts (``{"registration": {}, "roi_errors": {}}`` when the
    propagated segments were given): the report's quality table cannot be empty."""
    if isinstance(value, dict):
        out = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, {}, [], ())} or None
    return value


def _path_set(path) -> bool:
    """Whether a path parameter is set: a parameter node's ``pathlib.Path`` parameter is ``Path(".")``
    when unset (``Path("")`` is ``Path(".")``, and truthy), so ".", "" and None all mean unset."""
    return path is not None and str(path).strip() not in ("", ".")


def _number(value, spec: str) -> str:
    """A number for display; "—" for None, NaN or text that is not a number (e.g. no metric
    without registration)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return "—"
    return "—" if not np.isfinite(value) else format(value, spec)


def _with_radiomics_warning(prediction, warning: str | None):
    """The prediction with the PyRadiomics-version warning among its warnings (shown in the report)."""
    if not warning:
        return prediction
    return dataclasses.replace(prediction, warnings=tuple(prediction.warnings)
                               + ({"code": "pyradiomics_version", "message": warning},))


def _extract_workers(workers: int | None, settings) -> int:
    """Worker processes for the ROI×sequence extractions: ``workers`` if given, else one per
    extraction (structures × sequences) up to the CPU cores, 1 where processes cannot be started."""
    if workers is not None:
        return max(1, int(workers))
    if _POOL_UNUSABLE:
        return 1
    from alnpredictor.features.workers import default_workers

    return default_workers(len(settings.structures) * len(settings.sequences))


def _run_with_worker_fallback(run, settings):
    """``run(settings)``; if the extraction worker processes cannot be started or die (e.g. an
    embedding application whose executable cannot start Python children), run again in this process;
    when that works, extract in this process for the rest of the session."""
    global _POOL_UNUSABLE
    from alnpredictor.errors import FeatureError

    if settings.extract_workers <= 1:
        return run(settings)
    try:
        return run(settings)
    except (FeatureError, OSError, EOFError, BrokenProcessPool) as exc:
        if isinstance(exc, FeatureError) and not isinstance(exc.__context__, BrokenProcessPool):
            raise  # a bad ROI, not the pool
        logging.warning("ALNPredictor: radiomics worker processes failed (%s); extracting in this process", exc)
        result = run(dataclasses.replace(settings, extract_workers=1))  # raises again if it was not the pool
        _POOL_UNUSABLE = True
        return result


@contextmanager
def _exclusive(report, fraction: float):
    """Hold the compute lock (see ``_COMPUTE_LOCK``); while waiting for the background N4 the progress
    callback keeps being called, so the panel stays responsive and Cancel works."""
    said = False
    while not _COMPUTE_LOCK.acquire(timeout=0.1):
        report(fraction, "waiting for the background N4 correction" if not said else "waiting for N4…")
        said = True
    try:
        yield
    finally:
        _COMPUTE_LOCK.release()


class _Reporter:
    """``report(fraction, message)``: calls the progress callback (which may raise :class:`Cancelled`)
    or logs. After :meth:`commit` the step is past the point where it changes the scene and a
    cancellation is ignored, so a step is either cancelled with the scene untouched or done."""

    def __init__(self, callback) -> None:
        self.callback = callback
        self.committed = False

    def __call__(self, fraction: float, message: str) -> None:
        if self.callback is None:
            logging.info("ALNPredictor: %3.0f%% %s", 100 * fraction, message)
            return
        try:
            self.callback(float(fraction), message)
        except Cancelled:
            if not self.committed:
                raise

    def commit(self) -> None:
        self.committed = True


def _progress(callback) -> _Reporter:
    """A progress reporter for ``callback`` (the same one when it is already a reporter, so a step
    called by another shares its commit point)."""
    return callback if isinstance(callback, _Reporter) else _Reporter(callback)


def _node_name(path: str) -> str:
    base = os.path.basename(os.path.normpath(str(path)))
    for ext in (".nii.gz", ".seg.nrrd", ".nrrd", ".nii", ".mha", ".mhd", ".png", ".jpg", ".jpeg", ".dcm"):
        if base.lower().endswith(ext):
            return base[: -len(ext)]
    return base


