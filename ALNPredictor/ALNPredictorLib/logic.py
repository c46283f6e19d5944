"""The module's Logic: MRML nodes <-> the ``alnpredictor`` core, and nothing else.

Everything the panel does, without Qt: volumes, segmentations, markups and table nodes are
converted to SimpleITK images / numpy arrays (and back), and the work on them is done by the
pathways (:mod:`alnpredictor.pathways`) — the same functions the command line, the cohort runner
and the demo call, so the panel gives the same features, bit for bit, as ``alnpredictor extract``.

Runs inside the Slicer application and headless on the ``slicer-core`` wheel
(:mod:`ALNPredictorLib.headless`), so tests exercise it on a real MRML scene.
"""

from __future__ import annotations

import logging
import os
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

    # -- parameter node (app only) ------------------------------------------------------------
    def getParameterNode(self):  # noqa: D401  (Slicer API name)
        """The module's parameter node wrapper (inside the app)."""
        from ALNPredictor import ALNPredictorParameterNode

        return ALNPredictorParameterNode(super().getParameterNode())

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

        labelNames = labelNames or {s.label: s.name for s in study.STRUCTURES}
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
        the new result never takes its voxels. ``options`` are segmenter settings
        (``alnpredictor.imaging.segment.GrowCutSettings``, e.g. ``smoothing_mm``); the work is the
        MRI pathway's segmentation step (:func:`alnpredictor.pathways.mri.segment_reference`).

        :returns: (segmentationNode, summary dict: voxels/volume_ml per structure, engine, seconds ...).
        """
        import SimpleITK as sitk

        from alnpredictor.pathways import mri

        seeds = {}
        for segmentName, markups in (("tumor", tumorSeedsNode), ("nodes", nodeSeedsNode)):
            points = self.pointsFromMarkups(markups)
            if len(points):
                seeds[segmentName] = points
        if not seeds:
            raise ValueError("no seeds: place at least one tumor or node seed point on the volume")
        background = self.pointsFromMarkups(backgroundSeedsNode)
        image = self.imageFromVolumeNode(volumeNode)
        grown, summary = mri.segment_reference(image, seeds, background, **options)
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
        summary["segmentation"] = segmentationNode.GetName()
        return segmentationNode, summary

    def propagateSegmentation(self, segmentationNode, referenceVolumeNode, movingVolumeNodes, register: bool = True,
                              **options):
        """Copy the segments onto other volumes (T2, ADC), each on its own grid.

        Every moving volume is registered rigidly to the reference around the segments (the MRI
        pathway's propagation step, :func:`alnpredictor.pathways.mri.propagate`; ``register=False``
        resamples in physical space only) and gets a new segmentation node named
        ``"<segmentation> → <volume>"`` whose reference geometry is that volume.

        :param movingVolumeNodes: one volume node or a list of them.
        :returns: list of (segmentation node, quality summary) in the order of the volumes;
            the summary holds the transform, metric, converged flag, motion and warnings.
        """
        from alnpredictor.pathways import mri
        from alnpredictor.settings import MRISettings

        if not isinstance(movingVolumeNodes, (list, tuple)):
            movingVolumeNodes = [movingVolumeNodes]
        reference = self.imageFromVolumeNode(referenceVolumeNode)
        masks = self.masksFromSegmentation(segmentationNode, referenceVolumeNode)
        if not masks:
            raise ValueError(f"segmentation '{segmentationNode.GetName()}' has no non-empty "
                             f"{' / '.join(SEGMENT_NAMES)} segment: segment first")
        settings = MRISettings(register=register, **options)
        results = []
        for movingNode in movingVolumeNodes:
            propagated, quality = mri.propagate(reference, {"moving": self.imageFromVolumeNode(movingNode)}, masks,
                                                settings)
            outNode = self.segmentationNodeFromMasks(
                {study.structure_of_roi(roi): mask for (roi, _), mask in propagated.items()}, movingNode,
                f"{segmentationNode.GetName()} → {movingNode.GetName()}")
            summary = quality["moving"]
            summary["volume"] = movingNode.GetName()
            results.append((outNode, summary))
        return results

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
        """A new volume node with the N4 bias-field corrected volume (cached by content hash)."""
        from alnpredictor.imaging.preprocess import n4_correct

        corrected = n4_correct(self.imageFromVolumeNode(volumeNode), cache_dir=cacheDir)
        return self.volumeNodeFromImage(corrected, name or f"{volumeNode.GetName()} N4")

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
            the non-empty segments.
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
        result = mri.run_case(images, settings, masks=masks, explicit_masks=explicit, progress=report)
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
                           cacheDir: str | None = None, workers: int | None = 1, onRoiError: str = "raise",
                           progress=None):
        """The study's radiomics of one patient from the scene: ``T``/``L`` ROIs x T1C/T2/ADC.

        ROIs come from ``segmentationNode`` (on contrast T1). ``propagatedNodes`` maps ``"T2"`` /
        ``"ADC"`` to segmentation nodes already propagated (e.g. corrected by hand); missing ones
        are propagated now (registration unless ``register=False``).

        :returns: (features dict ``{ROI}{SEQ}_{name}``, quality dict, provenance dict).
        """
        from alnpredictor.settings import MRISettings

        settings = MRISettings(params=params, register=register, n4=n4, cache_dir=cacheDir,
                               extract_workers=max(1, int(workers or 1)), on_roi_error=onRoiError)
        nodes = dict(zip(settings.sequences, (t1cNode, t2Node, adcNode)))
        result, _ = self.extractFeatures(nodes, segmentationNode, propagatedNodes, settings, progress)
        quality = {**result.quality.get("registration", {}), **{}}
        return result.features, {"registration": quality, "roi_errors": result.errors}, result.provenance

    # -- models and prediction -----------------------------------------------------------------------
    def loadModel(self, path: str, pathway: str | None = None):
        """Load a model bundle (``NAME.alnmodel``); refuses tampered or unknown bundles, and with
        ``pathway`` (``mri``/``us``) a bundle made for the other pathway's features."""
        if pathway is not None:
            from alnpredictor.pathways import get_pathway

            return get_pathway(pathway).load_model(path)
        from alnpredictor.models import load_bundle

        return load_bundle(path)

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

    def nomogramImage(self, model, values: dict, path: str):
        """PNG of the model's nomogram with this patient's points marked (None for models
        without a points scale, e.g. SVM signatures)."""
        from alnpredictor.report.export import nomogram_png

        png = nomogram_png(model, values, path)
        return str(png) if png else None

    def predictMRI(self, t1cNode, t2Node, adcNode, segmentationNode, modelPath: str, clinical: dict | None = None,
                   progress=None, tableNode=None, **extractOptions) -> dict:
        """What the Predict button does: extract, predict, store in a table node.

        :returns: dict with ``prediction``, ``features``, ``quality``, ``model`` and ``table``.
        """
        report = _progress(progress)
        from alnpredictor.models.clinical import check_clinical_values

        report(0.0, "loading the model")
        model = self.loadModel(modelPath, "mri")
        check_clinical_values(model.clinical_fields, clinical or {})  # before minutes of extraction
        features, quality, provenance = self.extractMRIFeatures(
            t1cNode, t2Node, adcNode, segmentationNode, progress=progress, **extractOptions)
        report(0.9, "predicting")
        prediction = self.predict(model, features, clinical).with_context(
            provenance={"params_sha256": provenance.get("params_sha256"),
                        "pyradiomics": provenance.get("pyradiomics_version")})
        table = self.storeResults(prediction, modelPath, tableNode)
        report(1.0, "done")
        return {"prediction": prediction.to_dict(), "features": features, "quality": quality, "model": model, "table": table}

    def predictUltrasound(self, volumeNode, seedsNode, modelPath: str, clinical: dict | None = None,
                          weights: str | None = None, segmentationNode=None, tableNode=None, progress=None,
                          radiomics: bool = True) -> dict:
        """What Predict does on the Ultrasound pathway: the ``tumor`` segment of ``segmentationNode``
        (or grow-cut from the seeds) → deep + handcrafted features → the model (one bundle: the
        DLR signature inside the nomogram) → probability, class, points; stored in a table node.

        :param weights: ResNet50 weights file the model was trained with (None: untrained backbone).
        :param radiomics: PyRadiomics 2-D texture among the handcrafted features (as the model was trained).
        :returns: dict with ``prediction`` (stored form), ``features``, ``quality``, ``model``, ``table``.
        """
        from alnpredictor.models.clinical import check_clinical_values
        from alnpredictor.pathways import us
        from alnpredictor.settings import USSettings

        report = _progress(progress)
        settings = USSettings(weights=weights, radiomics=radiomics)
        report(0.0, "loading the model")
        model = us.load_model(modelPath, settings)  # refuses other deep weights / features before extraction
        check_clinical_values(model.clinical_fields, clinical or {})
        image = self.imageFromVolumeNode(volumeNode)
        mask = None
        if segmentationNode is not None:
            mask = self.masksFromSegmentation(segmentationNode, volumeNode).get("tumor")
        seeds = self.pointsFromMarkups(seedsNode)
        report(0.2, "segmenting and extracting features")
        case = us.run_case(image, settings, mask=mask, seeds_ras=seeds if len(seeds) else None)
        report(0.9, "predicting")
        prediction = us.predict(model, case.features, clinical).with_context(mask_source=case.mask_source)
        table = self.storeResults(prediction, modelPath, tableNode)
        report(1.0, "done")
        return {"prediction": prediction.to_dict(), "features": case.features, "quality": case.quality,
                "model": model, "table": table}

    # -- report ------------------------------------------------------------------------------------------
    def exportReport(self, outDir: str, prediction: dict, model, volumeNode, segmentationNode,
                     features: dict | None = None, clinical: dict | None = None, identifiers: dict | None = None,
                     includeIdentifiers: bool = False, quality: dict | None = None) -> dict:
        """PDF + JSON report with key images (axial slices through the tumor and nodes with ROI
        outlines), the nomogram with this patient's points, the model card and the features.

        Identifiers are written only with ``includeIdentifiers``; user text is escaped.
        """
        from alnpredictor.report.export import export_patient_report

        return export_patient_report(
            outDir, prediction, model, self.imageFromVolumeNode(volumeNode),
            self.masksFromSegmentation(segmentationNode, volumeNode), features=features, clinical=clinical,
            identifiers=identifiers, include_identifiers=includeIdentifiers, quality=quality,
            image_label=volumeNode.GetName() if includeIdentifiers else "reference image")



def _any(mask) -> bool:
    import SimpleITK as sitk

    return bool(np.any(sitk.GetArrayViewFromImage(mask)))


def _progress(callback):
    """A progress reporter: ``report(fraction, message)``; logs when no callback is given."""

    def report(fraction: float, message: str) -> None:
        if callback is not None:
            callback(float(fraction), message)
        else:
            logging.info("ALNPredictor: %3.0f%% %s", 100 * fraction, message)

    return report


def _node_name(path: str) -> str:
    base = os.path.basename(os.path.normpath(str(path)))
    for ext in (".nii.gz", ".seg.nrrd", ".nrrd", ".nii", ".mha", ".mhd", ".png", ".jpg", ".jpeg", ".dcm"):
        if base.lower().endswith(ext):
            return base[: -len(ext)]
    return base


