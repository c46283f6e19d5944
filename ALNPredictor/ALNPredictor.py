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
import vtk

try:  # Qt and the scripted-module framework exist only inside the Slicer application.
    import qt
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
#: Feature-name ROI codes of the segments (DESIGN.md: ``{ROI}{SEQ}_{name}``).
ROI_CODES = {"tumor": "T", "nodes": "L"}
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

    def extractMRIFeatures(self, t1cNode, t2Node, adcNode, segmentationNode, propagatedNodes: dict | None = None,
                           params: str = "mri-yu2021", register: bool = True, n4: bool = True,
                           cacheDir: str | None = None, workers: int | None = 1, onRoiError: str = "raise",
                           progress=None):
        """The study's radiomics of one patient from the scene: ``T``/``L`` ROIs x T1C/T2/ADC.

        ROIs come from ``segmentationNode`` (on contrast T1). ``propagatedNodes`` maps ``"T2"`` /
        ``"ADC"`` to segmentation nodes already propagated (e.g. corrected by hand); missing ones
        are propagated now (registration unless ``register=False``).

        :returns: (features dict ``{ROI}{SEQ}_{name}``, quality dict, provenance dict).
        """
        from alnpredictor.features.radiomics import extract_case

        report = _progress(progress)
        volumes = {"T1C": t1cNode, "T2": t2Node, "ADC": adcNode}
        missing = [seq for seq, node in volumes.items() if node is None]
        if missing:
            raise ValueError(f"missing sequence(s) {missing}: choose contrast T1, T2WI and ADC volumes in Study")
        report(0.05, "reading volumes")
        images = {seq: self.imageFromVolumeNode(node) for seq, node in volumes.items()}
        masks = {}
        for name, mask in self.masksFromSegmentation(segmentationNode, t1cNode).items():
            masks[(ROI_CODES[name], "T1C")] = mask
        if not masks:
            raise ValueError(f"segmentation '{segmentationNode.GetName()}' has no non-empty tumor/nodes segment: "
                             "segment first")
        quality = {}
        propagatedNodes = dict(propagatedNodes or {})
        todo = [seq for seq in ("T2", "ADC") if seq not in propagatedNodes]
        if todo:
            report(0.15, "propagating the ROIs to " + ", ".join(todo))
            for seq, (node, summary) in zip(todo, self.propagateSegmentation(
                    segmentationNode, t1cNode, [volumes[s] for s in todo], register=register)):
                propagatedNodes[seq] = node
                quality[seq] = summary
        for seq in ("T2", "ADC"):
            for name, mask in self.masksFromSegmentation(propagatedNodes[seq], volumes[seq]).items():
                masks[(ROI_CODES[name], seq)] = mask
        report(0.35, f"N4 and {len(masks)} PyRadiomics extractions")
        feats = extract_case(images, masks, params, workers=workers, n4=n4, n4_cache_dir=cacheDir,
                             on_roi_error=onRoiError)
        report(0.85, "features extracted")
        return feats.features, {"registration": quality, "roi_errors": feats.errors}, feats.provenance

    # -- models and prediction -----------------------------------------------------------------------
    def loadModel(self, path: str):
        """Load a model bundle (``NAME.alnmodel``); refuses tampered or unknown bundles."""
        from alnpredictor.models import load_bundle

        return load_bundle(path)

    def clinicalFields(self, model) -> list:
        """The model's clinical fields: name, type (number/integer/choice), range or values, required."""
        return list(model.clinical_fields)

    def predict(self, model, features: dict, clinical: dict | None = None) -> dict:
        """Probability, class at the model's cut-off, points per predictor and total points.

        Clinical values are checked against the model's fields first (every problem at once).
        """
        from alnpredictor.models.clinical import check_clinical_values

        values, warnings = check_clinical_values(model.clinical_fields, clinical or {})
        missing = [f for f in model.features if f not in features]
        if missing:
            raise ValueError(f"model '{model.name}' needs {len(missing)} feature(s) this study did not produce "
                             f"(e.g. {missing[:3]}): it was trained on other features or ROIs")
        prediction = model.predict_case({**{f: features[f] for f in model.features}, **values})
        prediction["values"] = {**{k: values[k] for k in values}, **(prediction.get("values") or {})}
        prediction["clinical_warnings"] = warnings
        prediction["class"] = prediction.get("prediction")
        return prediction

    def storeResults(self, prediction: dict, modelPath: str = "", tableNode=None):
        """Write a prediction into a table node (two columns, item/value) so the scene keeps it."""
        import json

        import vtk

        if tableNode is None:
            tableNode = self.scene.AddNewNodeByClass("vtkMRMLTableNode", "ALNPredictor results")
        table = tableNode.GetTable()
        table.Initialize()
        items, values = vtk.vtkStringArray(), vtk.vtkStringArray()
        items.SetName("item")
        values.SetName("value")
        rows = [("model", prediction.get("model", "")), ("model_path", modelPath),
                ("probability", prediction.get("probability")), ("cutoff", prediction.get("cutoff")),
                ("class", prediction.get("prediction")), ("total_points", prediction.get("total_points"))]
        interval = prediction.get("interval") or {}
        if interval:
            rows += [("interval_low", interval.get("low")), ("interval_high", interval.get("high"))]
        rows += [(f"points:{k}", v) for k, v in (prediction.get("points") or {}).items()]
        for key, value in rows:
            items.InsertNextValue(str(key))
            values.InsertNextValue("" if value is None else str(value))
        table.AddColumn(items)
        table.AddColumn(values)
        tableNode.SetAttribute("ALNPredictor.prediction", json.dumps(prediction, default=str))
        tableNode.Modified()
        return tableNode

    def resultsFromTable(self, tableNode) -> dict:
        """The prediction stored by :meth:`storeResults` (e.g. after reopening a saved scene)."""
        import json

        text = tableNode.GetAttribute("ALNPredictor.prediction")
        if not text:
            raise ValueError(f"table '{tableNode.GetName()}' holds no ALNPredictor results")
        return json.loads(text)

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
        model = self.loadModel(modelPath)
        check_clinical_values(model.clinical_fields, clinical or {})  # before minutes of extraction
        features, quality, provenance = self.extractMRIFeatures(
            t1cNode, t2Node, adcNode, segmentationNode, progress=progress, **extractOptions)
        report(0.9, "predicting")
        prediction = self.predict(model, features, clinical)
        prediction["provenance"] = {"params_sha256": provenance.get("params_sha256"),
                                    "pyradiomics": provenance.get("pyradiomics_version")}
        table = self.storeResults(prediction, modelPath, tableNode)
        report(1.0, "done")
        return {"prediction": prediction, "features": features, "quality": quality, "model": model, "table": table}

    def predictUltrasound(self, volumeNode, seedsNode, modelDir: str, clinical: dict | None = None,
                          weights: str | None = None, segmentationNode=None, tableNode=None) -> dict:
        """Ultrasound pathway for one image: grow-cut from the seed (or the ``tumor`` segment of
        ``segmentationNode``) → deep + handcrafted features → DLR signature → nomogram."""
        from alnpredictor.pathways.us import predict_case

        image = self.imageFromVolumeNode(volumeNode)
        mask = None
        if segmentationNode is not None:
            mask = self.masksFromSegmentation(segmentationNode, volumeNode).get("tumor")
        seeds = self.pointsFromMarkups(seedsNode)
        result = predict_case(modelDir, image, mask=mask, seeds_ras=seeds if len(seeds) else None,
                              clinical=clinical or {}, weights=weights)
        table = self.storeResults(result, modelDir, tableNode)
        return {"prediction": result, "table": table}

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
        t2Segmentation: slicer.vtkMRMLSegmentationNode
        adcSegmentation: slicer.vtkMRMLSegmentationNode
        smoothingMm: float = 0.0
        register: bool = True
        modelPath: str = ""
        results: slicer.vtkMRMLTableNode
        includeIdentifiers: bool = False
        reportDir: str = ""

    class ALNPredictorWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
        """Thin Qt layer: binds the .ui to the parameter node and calls the Logic.

        No computation here: every button calls one Logic method; long steps report progress
        through a callback that drives the progress bar; errors reach the user as a message box
        with the core's message.
        """

        def __init__(self, parent=None) -> None:
            ScriptedLoadableModuleWidget.__init__(self, parent)
            VTKObservationMixin.__init__(self)
            self.logic = None
            self._parameterNode = None
            self._parameterNodeGuiTag = None
            self._model = None
            self._lastPrediction = None
            self._lastFeatures = None
            self._lastQuality = None
            self._clinicalEditors = {}
            self._n4Thread = None

        # -- set-up ------------------------------------------------------------------------------
        def setup(self) -> None:
            ScriptedLoadableModuleWidget.setup(self)
            uiWidget = slicer.util.loadUI(self.resourcePath("UI/ALNPredictor.ui"))
            self.layout.addWidget(uiWidget)
            self.ui = slicer.util.childWidgetVariables(uiWidget)
            uiWidget.setMRMLScene(slicer.mrmlScene)
            self.logic = ALNPredictorLogic()
            self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
            self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
            for widget in (self.ui.tumorSeedsWidget, self.ui.nodeSeedsWidget, self.ui.backgroundSeedsWidget):
                widget.tableWidget().hide()
            self.ui.segmentEditorWidget.setMRMLSegmentEditorNode(self._segmentEditorNode())
            self.ui.pathwayComboBox.connect("currentTextChanged(QString)", self.updateGUIFromParameterNode)
            self.ui.n4Button.connect("clicked(bool)", self.onN4)
            self.ui.segmentButton.connect("clicked(bool)", self.onSegment)
            self.ui.propagateButton.connect("clicked(bool)", self.onPropagate)
            self.ui.modelPathLineEdit.connect("currentPathChanged(QString)", self.onModelChanged)
            self.ui.predictButton.connect("clicked(bool)", self.onPredict)
            self.ui.exportButton.connect("clicked(bool)", self.onExport)
            self.ui.installDependenciesButton.connect("clicked(bool)", lambda _=False: ensure_dependencies(True))
            for selector in (self.ui.t1cVolumeSelector, self.ui.t2VolumeSelector, self.ui.adcVolumeSelector):
                selector.connect("currentNodeChanged(vtkMRMLNode*)", lambda _node: self.onN4(automatic=True))
            self.initializeParameterNode()

        def _segmentEditorNode(self):
            node = slicer.mrmlScene.GetSingletonNode("ALNPredictor", "vtkMRMLSegmentEditorNode")
            if node is None:
                node = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentEditorNode")
                node.SetSingletonTag("ALNPredictor")
            # Editing one segment must never erase another (tumor vs nodes).
            node.SetOverwriteMode(slicer.vtkMRMLSegmentEditorNode.OverwriteNone)
            return node

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
            p = self._parameterNode
            for name in ("tumorSeeds", "nodeSeeds", "backgroundSeeds"):
                if not getattr(p, name):
                    node = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", f"ALN {name}")
                    setattr(p, name, node)
            if p.results:
                self.showResults(self.logic.resultsFromTable(p.results))

        def setParameterNode(self, inputParameterNode) -> None:
            if self._parameterNode:
                self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
                self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateGUIFromParameterNode)
            self._parameterNode = inputParameterNode
            if self._parameterNode:
                self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
                self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateGUIFromParameterNode)
                self.updateGUIFromParameterNode()

        def updateGUIFromParameterNode(self, *_args) -> None:
            p = self._parameterNode
            if p is None:
                return
            mri = p.pathway == "MRI"
            for w in (self.ui.t1cLabel, self.ui.t1cVolumeSelector, self.ui.t2Label, self.ui.t2VolumeSelector,
                      self.ui.adcLabel, self.ui.adcVolumeSelector, self.ui.nodeSeedsLabel, self.ui.nodeSeedsWidget,
                      self.ui.propagateButton, self.ui.registerLabel, self.ui.registerCheckBox):
                w.setVisible(mri)
            self.ui.usLabel.setVisible(not mri)
            self.ui.usVolumeSelector.setVisible(not mri)
            reference = self._reference()
            self.ui.segmentButton.enabled = reference is not None
            self.ui.propagateButton.enabled = bool(mri and p.segmentation and p.t2Volume and p.adcVolume)
            self.ui.predictButton.enabled = bool(reference and p.segmentation and self._model is not None)
            self.ui.exportButton.enabled = self._lastPrediction is not None
            if p.segmentation and reference:
                self.ui.segmentEditorWidget.setSegmentationNode(p.segmentation)
                self.ui.segmentEditorWidget.setSourceVolumeNode(reference)

        def _reference(self):
            p = self._parameterNode
            return (p.t1cVolume if p.pathway == "MRI" else p.usVolume) if p else None

        # -- long steps ------------------------------------------------------------------------------
        def _progress(self, fraction: float, message: str) -> None:
            self.ui.progressBar.setValue(int(round(100 * fraction)))
            self.ui.progressBar.setFormat(f"%p% — {message}")
            slicer.app.processEvents()

        def onN4(self, automatic: bool = False) -> None:
            """Warm the N4 cache in a background thread (SimpleITK releases the GIL); Predict then
            finds the corrected series in the cache."""
            import threading

            p = self._parameterNode
            if p is None or p.pathway != "MRI" or (self._n4Thread and self._n4Thread.is_alive()):
                return
            nodes = [n for n in (p.t1cVolume, p.t2Volume, p.adcVolume) if n is not None]
            if not nodes or (automatic and len(nodes) < 3):
                return
            images = [self.logic.imageFromVolumeNode(n) for n in nodes]  # MRML read on the main thread
            cacheDir = self._cacheDir()

            def work():
                from alnpredictor.imaging.preprocess import n4_correct

                for image in images:
                    n4_correct(image, cache_dir=cacheDir)

            self._n4Thread = threading.Thread(target=work, daemon=True)
            self._n4Thread.start()
            self.ui.n4StatusLabel.text = f"N4: correcting {len(images)} series in the background…"
            self._n4Timer = qt.QTimer()
            self._n4Timer.setInterval(500)
            self._n4Timer.connect("timeout()", self._pollN4)
            self._n4Timer.start()

        def _pollN4(self) -> None:
            if self._n4Thread is not None and not self._n4Thread.is_alive():
                self._n4Timer.stop()
                self.ui.n4StatusLabel.text = "N4: done (cached for Predict)"

        def _cacheDir(self) -> str:
            return os.path.join(slicer.app.temporaryPath, "ALNPredictor", "n4-cache")

        def _run(self, what: str, func, *args, **kwargs):
            """Run a Logic call with a wait cursor; core errors become a message box."""
            try:
                with slicer.util.WaitCursor():
                    return func(*args, **kwargs)
            except Exception as exc:  # the core's message is what the user needs to read
                logging.exception("ALNPredictor: %s failed", what)
                slicer.util.errorDisplay(f"{what} failed:\n{exc}")
                return None
            finally:
                self.updateGUIFromParameterNode()

        # -- buttons ---------------------------------------------------------------------------------
        def onSegment(self) -> None:
            p = self._parameterNode
            result = self._run("Segmentation", self.logic.segmentFromSeeds, self._reference(), p.tumorSeeds,
                               p.nodeSeeds if p.pathway == "MRI" else None, p.backgroundSeeds, p.segmentation,
                               smoothing_mm=float(p.smoothingMm))
            if result:
                p.segmentation = result[0]
                p.segmentation.CreateClosedSurfaceRepresentation()
                structures = result[1].get("structures", {})
                self.ui.registrationQualityLabel.text = "Segmented: " + ", ".join(
                    f"{k} {v.get('volume_ml', 0):.2f} ml" for k, v in structures.items())

        def onPropagate(self) -> None:
            p = self._parameterNode
            result = self._run("Propagation", self.logic.propagateSegmentation, p.segmentation, p.t1cVolume,
                               [p.t2Volume, p.adcVolume], register=bool(p.register))
            if result:
                (p.t2Segmentation, q2), (p.adcSegmentation, q3) = result
                lines = []
                for seq, q in (("T2WI", q2), ("ADC", q3)):
                    text = (f"{seq}: moved {q.get('translation_mm', 0):.1f} mm / {q.get('rotation_deg', 0):.1f}°, "
                            f"metric {q.get('metric', float('nan')):.3f}")
                    if q.get("warnings"):
                        text += " — " + "; ".join(q["warnings"])
                    lines.append(text)
                self.ui.registrationQualityLabel.text = "\n".join(lines)

        def onModelChanged(self, path: str) -> None:
            self._model = None
            if not path:
                return
            model = self._run("Loading the model", self.logic.loadModel, path)
            if model is None:
                return
            self._model = model
            card = model.card
            auc = (card.get("metrics") or {}).get("auc")
            self.ui.modelCardBrowser.setPlainText(
                f"{card.get('name')} ({card.get('recipe')})\n{card.get('description', '')}\n"
                f"Training: {card.get('training')}\nAUC: {auc}\nCut-off: {card.get('cutoff')}\n"
                f"Intended use: {card.get('intended_use')}\n{card.get('research_use')}")
            self._buildClinicalForm(self.logic.clinicalFields(model))
            self.updateGUIFromParameterNode()

        def _buildClinicalForm(self, fields) -> None:
            layout = self.ui.clinicalFormLayout
            while layout.rowCount() > 0:
                layout.removeRow(0)
            self._clinicalEditors = {}
            for field in fields:
                name = field["name"]
                if field.get("type") == "choice" or field.get("values"):
                    editor = qt.QComboBox()
                    editor.addItem("")
                    for value in field.get("values", []):
                        editor.addItem(str(value))
                else:
                    editor = qt.QLineEdit()
                    if field.get("min") is not None:
                        editor.placeholderText = f"training range {field['min']}–{field['max']}"
                label = name + (" *" if field.get("required", True) else "")
                layout.addRow(label, editor)
                self._clinicalEditors[name] = editor
            self.ui.clinicalHintLabel.text = ("* required. Values are checked against the model's fields."
                                              if fields else "This model uses no clinical data.")

        def _clinicalValues(self) -> dict:
            values = {}
            for name, editor in self._clinicalEditors.items():
                values[name] = editor.currentText if isinstance(editor, qt.QComboBox) else editor.text
            return values

        def onPredict(self) -> None:
            p = self._parameterNode
            if p.pathway == "MRI":
                propagated = {}
                if p.t2Segmentation:
                    propagated["T2"] = p.t2Segmentation
                if p.adcSegmentation:
                    propagated["ADC"] = p.adcSegmentation
                result = self._run("Prediction", self.logic.predictMRI, p.t1cVolume, p.t2Volume, p.adcVolume,
                                   p.segmentation, p.modelPath, self._clinicalValues(), progress=self._progress,
                                   tableNode=p.results, propagatedNodes=propagated, register=bool(p.register),
                                   cacheDir=self._cacheDir())
            else:
                result = self._run("Prediction", self.logic.predictUltrasound, p.usVolume, p.tumorSeeds,
                                   p.modelPath, self._clinicalValues(), segmentationNode=p.segmentation,
                                   tableNode=p.results)
            if result:
                p.results = result["table"]
                self._lastFeatures = result.get("features")
                self._lastQuality = result.get("quality")
                self.showResults(result["prediction"])

        def showResults(self, prediction: dict) -> None:
            self._lastPrediction = prediction
            prob = prediction.get("probability")
            interval = prediction.get("interval") or {}
            text = f"{prob:.3f}" if prob is not None else "—"
            if interval:
                text += f"  ({interval.get('low', 0):.3f}–{interval.get('high', 0):.3f})"
            self.ui.probabilityLabel.text = text
            self.ui.classLabel.text = f"{prediction.get('prediction') or '—'} (cut-off {prediction.get('cutoff')})"
            points = prediction.get("points") or {}
            values = prediction.get("values") or {}
            table = self.ui.pointsTable
            table.setRowCount(len(points) + (1 if points else 0))
            for row, (name, pts) in enumerate(points.items()):
                for col, value in enumerate((name, values.get(name, ""), f"{pts:.1f}")):
                    table.setItem(row, col, qt.QTableWidgetItem(str(value)))
            if points:
                table.setItem(len(points), 0, qt.QTableWidgetItem("Total points"))
                table.setItem(len(points), 2, qt.QTableWidgetItem(f"{prediction.get('total_points', 0):.1f}"))
            if self._model is not None and points:
                png = self.logic.nomogramImage(self._model, values, os.path.join(slicer.app.temporaryPath, "ALNPredictor",
                                                                                  "nomogram.png"))
                if png:
                    self.ui.nomogramLabel.setPixmap(qt.QPixmap(png).scaledToWidth(380))
            self.updateGUIFromParameterNode()

        def onExport(self) -> None:
            p = self._parameterNode
            outDir = p.reportDir or qt.QFileDialog.getExistingDirectory(None, "Report folder")
            if not outDir:
                return
            identifiers = None
            if p.includeIdentifiers and self._reference() is not None:
                volume = self._reference()
                identifiers = {"volume": volume.GetName()}
                for tag in ("DICOM.PatientName", "DICOM.PatientID", "DICOM.StudyDate"):
                    if volume.GetAttribute(tag):
                        identifiers[tag.split(".", 1)[1]] = volume.GetAttribute(tag)
            result = self._run("Report export", self.logic.exportReport, outDir, self._lastPrediction, self._model,
                               self._reference(), p.segmentation, features=self._lastFeatures,
                               clinical=self._clinicalValues(), identifiers=identifiers,
                               includeIdentifiers=bool(p.includeIdentifiers), quality=self._lastQuality)
            if result:
                slicer.util.infoDisplay(f"Report written:\n{result['pdf']}\n{result['json']}")

    class ALNPredictorTest(ScriptedLoadableModuleTest):
        """In-app test: the headless end-to-end scenario on the application's scene."""

        def setUp(self):
            slicer.mrmlScene.Clear()

        def runTest(self):
            self.setUp()
            self.test_load_breast1()
            self.setUp()
            self.test_segment_predict_report()

        def test_load_breast1(self):
            from alnpredictor.config import shared_data

            logic = ALNPredictorLogic()
            volume = logic.loadVolume(str(shared_data("pyradiomics-cases", "breast1_image.nrrd")), "breast1")
            seg = logic.loadLabelAsSegmentation(str(shared_data("pyradiomics-cases", "breast1_label.nrrd")), volume)
            self.assertEqual(int(logic.arrayFromSegment(seg, "tumor", volume).sum()), 143)
            self.delayDisplay("ALNPredictor: breast1 loaded")

        def test_segment_predict_report(self):
            """Seed → segment → propagate → extract → predict (bundle trained here) → report."""
            import tempfile

            import numpy as np
            import pandas as pd
            import SimpleITK as sitk

            from alnpredictor.config import shared_data
            from alnpredictor.imaging.coords import ras_lps
            from alnpredictor.models import save_bundle, train_model
            from alnpredictor.synthetic.motion import image_center, random_rigid_motion, simulate_sequence

            logic = ALNPredictorLogic()
            t1c = logic.loadVolume(str(shared_data("pyradiomics-cases", "breast1_image.nrrd")), "T1C")
            label = sitk.ReadImage(str(shared_data("pyradiomics-cases", "breast1_label.nrrd")))
            centre = np.argwhere(sitk.GetArrayFromImage(label) > 0)[:, ::-1].mean(axis=0)
            seed = ras_lps(np.array(label.TransformContinuousIndexToPhysicalPoint(centre.tolist())))
            ref = logic.imageFromVolumeNode(t1c)
            rng = np.random.default_rng(1)
            t2, _ = simulate_sequence(ref, random_rigid_motion(rng, image_center(ref), 2.0, 2.0), rng=rng, inset_mm=2)
            adc, _ = simulate_sequence(ref, random_rigid_motion(rng, image_center(ref), 2.0, 2.0),
                                       spacing=(1.4, 1.4, 3.0), rng=rng, inset_mm=2)
            t2n, adcn = logic.volumeNodeFromImage(t2, "T2"), logic.volumeNodeFromImage(adc, "ADC")
            seg, _ = logic.segmentFromSeeds(t1c, logic.newPointList("tumor seeds", [seed]))
            features, _, _ = logic.extractMRIFeatures(t1c, t2n, adcn, seg, params="pyradiomics-baseline")
            names = sorted(features)
            base = np.array([features[n] for n in names])
            rows = base * np.exp(rng.normal(0, 0.15, (80, len(names))))
            table = pd.DataFrame(rows, columns=names)
            table["age"] = rng.integers(30, 80, 80)
            table["label"] = (np.log(rows[:, names.index("TT1C_original_firstorder_Mean")] /
                                     base[names.index("TT1C_original_firstorder_Mean")]) * 12
                              + rng.normal(0, 1, 80) > 0).astype(int)
            folder = tempfile.mkdtemp()
            bundle = str(save_bundle(train_model(table, "label", "nomogram", clinical=["age"], n_folds=5),
                                     os.path.join(folder, "test.alnmodel")))
            result = logic.predictMRI(t1c, t2n, adcn, seg, bundle, {"age": 61}, params="pyradiomics-baseline")
            self.assertTrue(0 < result["prediction"]["probability"] < 1)
            out = logic.exportReport(folder, result["prediction"], result["model"], t1c, seg,
                                     features=result["features"], clinical={"age": 61})
            self.assertTrue(os.path.getsize(out["pdf"]) > 10000)
            self.delayDisplay(f"ALNPredictor: report written to {out['pdf']}")
