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

import slicer
import vtk

from ALNPredictorLib.headless import in_slicer_app
from ALNPredictorLib.logic import ALNPredictorLogic  # MRML <-> core; runs headless too

#: The one "are we in the app" check (ALNPredictorLib.headless.in_slicer_app), read once.
IN_SLICER_APP = in_slicer_app()
if IN_SLICER_APP:  # Qt and the scripted-module framework exist only inside the Slicer application.
    import qt
    from slicer.ScriptedLoadableModule import (
        ScriptedLoadableModule,
        ScriptedLoadableModuleTest,
        ScriptedLoadableModuleWidget,
    )
    from slicer.util import VTKObservationMixin

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
            self.ui.classLabel.text = f"{prediction.get('class') or '—'} (cut-off {prediction.get('cutoff')})"
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
