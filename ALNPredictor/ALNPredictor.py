"""ALNPredictor — 3D Slicer scripted module.

Segment-then-predict for axillary lymph node metastasis (ALNM) in breast cancer: load a breast
MRI study (contrast T1, T2WI, ADC) or a breast ultrasound image, click seeds in the tumor and the
axillary nodes, grow-cut, propagate to the other sequences, predict with a trained signature or
nomogram, export a report.

Layout (Slicer template): ``ALNPredictor`` (module), ``ALNPredictorParameterNode``
(parameterNodeWrapper, defined on first use: see :func:`parameterNodeClass`), ``ALNPredictorWidget``
(thin Qt layer), ``ALNPredictorLogic`` (MRML <-> core ``alnpredictor`` package, in
``ALNPredictorLib/logic.py``), ``ALNPredictorTest``.

Supported: 3D Slicer 5.10 and later (Python 3.12). On an older Slicer the module loads and its
panel shows one message saying so (this file and what it imports first parse on Python 3.9).

The Logic needs only MRML, so it also runs headless on the ``slicer-core`` wheel (see
``ALNPredictorLib/headless.py``); the Qt classes are defined only inside the Slicer application.
"""

from __future__ import annotations

import logging
import os
from functools import partial

import slicer
import vtk

from ALNPredictorLib.headless import in_slicer_app

#: The oldest Slicer release the module supports (major, minor).
MINIMUM_SLICER = (5, 10)
#: The one "are we in the app" check (ALNPredictorLib.headless.in_slicer_app), read once.
IN_SLICER_APP = in_slicer_app()


def slicer_version():
    """(major, minor) of the running Slicer application (``qSlicerCoreApplication`` properties
    ``majorVersion``/``minorVersion``, ``Base/QTCore/qSlicerCoreApplication.h``); None headless."""
    app = getattr(slicer, "app", None) if IN_SLICER_APP else None
    if app is None:
        return None
    return int(app.majorVersion), int(app.minorVersion)


def is_supported(version) -> bool:
    """Whether this Slicer (``(major, minor)``, None headless) can run the module."""
    return version is None or tuple(version) >= MINIMUM_SLICER


SLICER_VERSION = slicer_version()
SUPPORTED = is_supported(SLICER_VERSION)


def unsupported_message(version) -> str:
    """The one message an older Slicer shows instead of the panel."""
    major, minor = version or (0, 0)
    return (f"ALNPredictor needs 3D Slicer {MINIMUM_SLICER[0]}.{MINIMUM_SLICER[1]} or later; this is Slicer "
            f"{major}.{minor}. Install a current release from https://download.slicer.org (the module's "
            "parameter bindings, Segment Editor calls and Python 3.12 code need it).")


UNSUPPORTED_MESSAGE = unsupported_message(SLICER_VERSION)

if SUPPORTED:
    # Imported only where the module can run: the core package needs Python >= 3.10.
    from ALNPredictorLib.logic import PATHWAY_CODES, ALNPredictorLogic, Cancelled  # noqa: F401

if IN_SLICER_APP:  # Qt and the scripted-module framework exist only inside the Slicer application.
    import qt
    from slicer.ScriptedLoadableModule import (
        ScriptedLoadableModule,
        ScriptedLoadableModuleTest,
        ScriptedLoadableModuleWidget,
    )
    from slicer.util import VTKObservationMixin

if IN_SLICER_APP and SUPPORTED:
    # Names the parameter node's annotations use (evaluated by typing.get_type_hints in this
    # module's namespace when the class is defined, see parameterNodeClass).
    import pathlib  # noqa: F401
    from typing import Annotated  # noqa: F401

    from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper  # noqa: F401

#: The panel's pathway choices (parameter ``pathway``).
PATHWAY_CHOICES = ("MRI", "Ultrasound")
#: Seed point lists and the qSlicerSimpleMarkupsWidget that shows each. No parameter-node GUI
#: connector exists for qSlicerSimpleMarkupsWidget (guiConnectors.py of 5.10.0, 5.12.3, main), so
#: these are bound by hand (setCurrentNode / markupsNodeChanged(),
#: Modules/Loadable/Markups/Widgets/qSlicerSimpleMarkupsWidget.h).
SEED_WIDGETS = {"tumorSeeds": "tumorSeedsWidget", "nodeSeeds": "nodeSeedsWidget",
                "backgroundSeeds": "backgroundSeedsWidget"}

_PARAMETER_NODE_CLASS = None


def parameterNodeClass():
    """The module's parameter node wrapper class, defined on first use.

    Not at import: Slicer instantiates modules in alphabetical order (the keys of a QMap in
    ``Base/QTCore/qSlicerAbstractModuleFactoryManager.cxx``, ``instantiateModules``), so this file is
    executed before the Markups module imports its Python wrapping
    (``qSlicerLoadableModuleFactory.cxx``, ``importModulePythonExtensions``) — at import time
    ``slicer.vtkMRMLMarkupsFiducialNode`` may not exist yet. The Widget's ``setup`` (after start-up)
    is the first user.

    Bindings (connectors in ``Base/Python/slicer/parameterNodeWrapper/guiConnectors.py``, 5.10.0 to
    main): ``pathway`` — QComboBox needs ``Choice`` (QComboBoxToStringableConnector);
    ``smoothingMm`` — ctkSliderWidget needs a bounded float (``WithinRange``,
    QDoubleSpinBoxCtkSliderWidgetToFloatIntConnector); ``modelPath``/``reportDir`` — ctkPathLineEdit
    binds ``pathlib.Path`` (ctkPathLineEditToPathConnector; unset is ``Path(".")``); volumes —
    qMRMLNodeComboBox, as are the tumor's caliper line and box (markups line / ROI nodes); ``register``/``includeIdentifiers`` — QCheckBox. The seed lists have no
    connector (bound by hand, see ``SEED_WIDGETS``).
    """
    global _PARAMETER_NODE_CLASS
    if _PARAMETER_NODE_CLASS is None:
        if not (IN_SLICER_APP and SUPPORTED):
            raise RuntimeError("the parameter node exists only inside 3D Slicer >= 5.10")

        @parameterNodeWrapper
        class ALNPredictorParameterNode:
            """Parameters of the panel (saved with the scene)."""

            pathway: Annotated[str, Choice(list(PATHWAY_CHOICES))] = "MRI"
            t1cVolume: slicer.vtkMRMLScalarVolumeNode
            t2Volume: slicer.vtkMRMLScalarVolumeNode
            adcVolume: slicer.vtkMRMLScalarVolumeNode
            # vtkMRMLVectorVolumeNode (RGB ultrasound frames) is a vtkMRMLScalarVolumeNode subclass
            # (Libs/MRML/Core/vtkMRMLVectorVolumeNode.h -> vtkMRMLTensorVolumeNode -> scalar), and the
            # selector lists child types (qMRMLSortFilterProxyModel.cxx, ShowChildNodeTypes true), so
            # colour frames are offered; the Logic converts them to grey.
            usVolume: slicer.vtkMRMLScalarVolumeNode
            tumorSeeds: slicer.vtkMRMLMarkupsFiducialNode
            nodeSeeds: slicer.vtkMRMLMarkupsFiducialNode
            backgroundSeeds: slicer.vtkMRMLMarkupsFiducialNode
            tumorLine: slicer.vtkMRMLMarkupsLineNode
            tumorBox: slicer.vtkMRMLMarkupsROINode
            segmentation: slicer.vtkMRMLSegmentationNode
            t2Segmentation: slicer.vtkMRMLSegmentationNode
            adcSegmentation: slicer.vtkMRMLSegmentationNode
            smoothingMm: Annotated[float, WithinRange(0.0, 5.0)] = 0.0
            register: bool = True
            modelPath: pathlib.Path
            results: slicer.vtkMRMLTableNode
            includeIdentifiers: bool = False
            exportDicom: bool = False
            reportDir: pathlib.Path

        _PARAMETER_NODE_CLASS = ALNPredictorParameterNode
    return _PARAMETER_NODE_CLASS


def __getattr__(name):  # PEP 562: ``ALNPredictor.ALNPredictorParameterNode`` as in the template
    if name == "ALNPredictorParameterNode" and IN_SLICER_APP and SUPPORTED:
        return parameterNodeClass()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def path_is_set(path) -> bool:
    """A ``pathlib.Path`` parameter is ``Path(".")`` when unset, and ``Path(".")`` is truthy: "", "."
    and None all mean unset."""
    return path is not None and str(path).strip() not in ("", ".")


#
# Application classes — defined only inside Slicer (they need Qt).
#

if IN_SLICER_APP:

    class ALNPredictor(ScriptedLoadableModule):
        """Module metadata shown in Slicer."""

        def __init__(self, parent):
            ScriptedLoadableModule.__init__(self, parent)
            self.parent.title = "ALNPredictor"
            self.parent.categories = ["Quantification"]
            self.parent.dependencies = ["Segmentations", "Markups", "SubjectHierarchy"]
            self.parent.contributors = ["ALNPredictor maintainers (SlicerALNPredictor project)"]
            self.parent.helpText = (
                "Preoperative prediction of axillary lymph node metastasis from breast MRI (contrast T1, "
                "T2WI, ADC) or ultrasound: seed, grow-cut, propagate, predict, export a report. "
                "Research software: not for diagnostic use."
            )
            if not SUPPORTED:
                self.parent.helpText = UNSUPPORTED_MESSAGE
                logging.error(UNSUPPORTED_MESSAGE)
            self.parent.acknowledgementText = (
                "Implements Yu et al., EBioMedicine 2021 (MRI radiomics) and Liu et al., npj Breast Cancer "
                "2024 (ultrasound deep-learning radiomics nomogram)."
            )

if IN_SLICER_APP and not SUPPORTED:

    class ALNPredictorWidget(ScriptedLoadableModuleWidget):
        """On a Slicer older than 5.10: one clear message instead of the panel."""

        def setup(self) -> None:
            ScriptedLoadableModuleWidget.setup(self)
            label = qt.QLabel(UNSUPPORTED_MESSAGE)
            label.setObjectName("unsupportedLabel")
            label.setWordWrap(True)
            self.layout.addWidget(label)
            self.layout.addStretch(1)

if IN_SLICER_APP and SUPPORTED:

    class ALNPredictorWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
        """Thin Qt layer: binds the .ui to the parameter node and calls the Logic.

        No computation here: every button calls one Logic method through :meth:`_run`, which
        disables the panel while the step runs (Cancel stays enabled), drives the progress bar and
        turns the core's errors into a message box. Dependencies are installed before the first
        step that needs them (after a confirmation).
        """

        def __init__(self, parent=None) -> None:
            ScriptedLoadableModuleWidget.__init__(self, parent)
            VTKObservationMixin.__init__(self)
            self.logic = None
            self._parameterNode = None
            self._parameterNodeGuiTag = None
            self._model = None
            self._modelKey = None
            self._lastPrediction = None
            self._lastFeatures = None
            self._lastQuality = None
            self._lastProvenance = None
            self._lastSegmentations = {}  # sequence → segmentation node the last Predict used on it
            self._clinicalEditors = {}
            self._n4 = None
            self._n4Timer = None
            self._busy = False
            self._cancelRequested = False
            self._updatingGUI = False
            self._dependenciesReady = set()  # "base" (Resources/requirements.txt, PyRadiomics), "torch"

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
            self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndImportEvent, self.onSceneEndImport)
            for widgetName in SEED_WIDGETS.values():
                getattr(self.ui, widgetName).tableWidget().hide()
            for name, widgetName in SEED_WIDGETS.items():
                getattr(self.ui, widgetName).connect("markupsNodeChanged()", partial(self.onSeedsWidgetChanged, name))
            self._n4Timer = qt.QTimer()
            self._n4Timer.setInterval(500)
            self._n4Timer.connect("timeout()", self._pollN4)
            self._selectSegmentEditorNode()
            self.ui.n4Button.connect("clicked(bool)", self.onN4Button)
            self.ui.segmentButton.connect("clicked(bool)", self.onSegment)
            self.ui.drawLineButton.connect("clicked(bool)", self.onDrawLine)
            self.ui.drawBoxButton.connect("clicked(bool)", self.onDrawBox)
            self.ui.propagateButton.connect("clicked(bool)", self.onPropagate)
            self.ui.predictButton.connect("clicked(bool)", self.onPredict)
            self.ui.exportButton.connect("clicked(bool)", self.onExport)
            self.ui.cancelButton.connect("clicked(bool)", self.onCancel)
            self.ui.installDependenciesButton.connect("clicked(bool)", self.onInstallDependencies)
            self.ui.usVolumeSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.confirmFrameSpacing)
            for selector in (self.ui.t1cVolumeSelector, self.ui.t2VolumeSelector, self.ui.adcVolumeSelector):
                selector.connect("currentNodeChanged(vtkMRMLNode*)", self.onMRIVolumeChanged)
            self.initializeParameterNode()

        def _selectSegmentEditorNode(self) -> None:
            """The module's Segment Editor node, re-applied with overwrite mode "none": closing the scene
            resets singleton nodes (Logic.segmentEditorNode), so this runs on setup, enter and scene
            end-close/import (as SegmentEditor.py's selectParameterNode)."""
            node = self.logic.segmentEditorNode()
            editor = self.ui.segmentEditorWidget
            if not _sameNode(editor.mrmlSegmentEditorNode(), node):
                editor.setMRMLSegmentEditorNode(node)
            editor.updateWidgetFromMRML()

        def cleanup(self) -> None:
            """Application closes: observers off, N4 timer stopped and its thread joined."""
            self.removeObservers()
            if self._n4Timer is not None:
                self._n4Timer.stop()
            if self._n4 is not None:
                self._n4.stop(wait=True)

        def enter(self) -> None:
            """As Segment Editor does for its editor (Modules/Scripted/SegmentEditor/SegmentEditor.py,
            ``enter``): keyboard shortcuts on, parameter node selected, editor updated from MRML."""
            self.ui.segmentEditorWidget.installKeyboardShortcuts()
            self._selectSegmentEditorNode()
            self.initializeParameterNode()

        def exit(self) -> None:
            """As SegmentEditor.py's ``exit``: no active effect, shortcuts and view observations removed;
            the GUI is no longer bound to the parameter node."""
            editor = self.ui.segmentEditorWidget
            editor.setActiveEffect(None)
            editor.uninstallKeyboardShortcuts()
            editor.removeViewObservations()
            self._unbindParameterNode()

        def _unbindParameterNode(self) -> None:
            """Disconnect the GUI from the parameter node and stop observing it (once: exit() then
            enter() would otherwise remove the observer twice, which VTKObservationMixin warns about)."""
            if self._parameterNode:
                self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
                self._parameterNodeGuiTag = None
                if self.hasObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateGUIFromParameterNode):
                    self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent,
                                        self.updateGUIFromParameterNode)

        def onSceneStartClose(self, caller, event) -> None:
            self.setParameterNode(None)
            self.ui.segmentEditorWidget.setSegmentationNode(None)
            self.ui.segmentEditorWidget.removeViewObservations()
            self._resetResults()

        def onSceneEndClose(self, caller, event) -> None:
            self._selectSegmentEditorNode()
            if self.parent.isEntered:
                self.initializeParameterNode()

        def onSceneEndImport(self, caller, event) -> None:
            self._selectSegmentEditorNode()
            if self.parent.isEntered:
                self.initializeParameterNode()

        def initializeParameterNode(self) -> None:
            self.setParameterNode(self.logic.getParameterNode())
            p = self._parameterNode
            for name in SEED_WIDGETS:
                if not getattr(p, name):
                    setattr(p, name, slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", f"ALN {name}"))
            if p.results and p.results.GetAttribute("ALNPredictor.prediction"):
                self.showResults(self.logic.resultsFromTable(p.results))

        def setParameterNode(self, inputParameterNode) -> None:
            self._unbindParameterNode()
            self._parameterNode = inputParameterNode
            if self._parameterNode:
                # Controls with the "SlicerParameterName" property in the .ui are bound here.
                self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
                self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateGUIFromParameterNode)
                self.updateGUIFromParameterNode()

        # -- GUI <-> parameter node (what the connectors do not do) -------------------------------------
        def onSeedsWidgetChanged(self, name: str) -> None:
            """A seed widget now shows another point list: store it in the parameter node."""
            p = self._parameterNode
            if p is None or self._updatingGUI:
                return
            node = getattr(self.ui, SEED_WIDGETS[name]).currentNode()
            if not _sameNode(getattr(p, name), node):
                setattr(p, name, node)

        def updateGUIFromParameterNode(self, *_args) -> None:
            p = self._parameterNode
            if p is None or self._updatingGUI:
                return
            self._updatingGUI = True
            try:
                for name, widgetName in SEED_WIDGETS.items():
                    widget = getattr(self.ui, widgetName)
                    if not _sameNode(widget.currentNode(), getattr(p, name)):
                        widget.setCurrentNode(getattr(p, name))
                mri = p.pathway == "MRI"
                for w in (self.ui.t1cLabel, self.ui.t1cVolumeSelector, self.ui.t2Label, self.ui.t2VolumeSelector,
                          self.ui.adcLabel, self.ui.adcVolumeSelector, self.ui.nodeSeedsLabel, self.ui.nodeSeedsWidget,
                          self.ui.propagateButton, self.ui.registerLabel, self.ui.registerCheckBox, self.ui.n4Button,
                          self.ui.n4StatusLabel):
                    w.setVisible(mri)
                self.ui.usLabel.setVisible(not mri)
                self.ui.usVolumeSelector.setVisible(not mri)
                if not self._busy and self._modelKey != self._currentModelKey():
                    self._loadModel()  # a new model path, or another pathway: the model must fit it
                reference = self._reference()
                self.ui.segmentButton.enabled = reference is not None
                self.ui.propagateButton.enabled = bool(mri and p.segmentation and p.t1cVolume and p.t2Volume
                                                       and p.adcVolume)
                # Ultrasound: the lesion is the tumor segment or is grown from the tumor seeds at Predict
                # (placing a point does not modify the parameter node; the Logic names what is missing).
                ready = bool(reference and p.segmentation and p.t2Volume and p.adcVolume) if mri else bool(reference)
                self.ui.predictButton.enabled = ready and self._model is not None
                self.ui.exportButton.enabled = self._lastPrediction is not None and reference is not None
                if p.segmentation and reference:
                    editor = self.ui.segmentEditorWidget
                    if not _sameNode(editor.segmentationNode(), p.segmentation):
                        editor.setSegmentationNode(p.segmentation)
                    if not _sameNode(editor.sourceVolumeNode(), reference):
                        editor.setSourceVolumeNode(reference)
            finally:
                self._updatingGUI = False

        def _reference(self):
            p = self._parameterNode
            return (p.t1cVolume if p.pathway == "MRI" else p.usVolume) if p else None

        # -- long steps: busy state, progress, Cancel ---------------------------------------------------
        def _setBusy(self, busy: bool, what: str = "") -> None:
            self._busy = busy
            self._cancelRequested = False
            for section in (self.ui.studyCollapsibleButton, self.ui.segmentCollapsibleButton,
                            self.ui.clinicalCollapsibleButton, self.ui.predictCollapsibleButton,
                            self.ui.reportCollapsibleButton, self.ui.installDependenciesButton):
                section.enabled = not busy
            self.ui.cancelButton.enabled = busy
            if busy:
                self.ui.progressBar.setValue(0)
                self.ui.progressBar.setFormat(f"{what}: %p%")

        def onCancel(self) -> None:
            if self._busy:
                self._cancelRequested = True
                self.ui.cancelButton.enabled = False
                self.ui.progressBar.setFormat("cancelling…")

        def _progress(self, fraction: float, message: str) -> None:
            """The Logic's progress callback: shows the step, lets Qt process events (the Cancel button),
            and raises Cancelled when Cancel was pressed (the Logic lets it through cleanly)."""
            self.ui.progressBar.setValue(int(round(100 * fraction)))
            self.ui.progressBar.setFormat(f"%p% — {message}")
            slicer.app.processEvents()
            if self._cancelRequested:
                raise Cancelled()

        def _run(self, what: str, func, *args, **kwargs):
            """Run a Logic call with the panel disabled and Cancel enabled; core errors become a
            message box, a cancellation a note in the progress bar. Never raises into a Qt slot."""
            if self._busy:
                return None
            self._setBusy(True, what)
            try:
                return func(*args, **kwargs)
            except Cancelled:
                self.ui.progressBar.setValue(0)
                self.ui.progressBar.setFormat(f"{what} cancelled")
                return None
            except Exception as exc:  # the core's message is what the user needs to read
                if getattr(exc, "next_action", None) == "caliper":  # ClickRefusedError: guide, not an error
                    self.ui.progressBar.setFormat(f"{what}: draw the caliper line")
                    self._askForCaliper(str(exc))
                    return None
                logging.exception("ALNPredictor: %s failed", what)
                self.ui.progressBar.setFormat(f"{what} failed")
                slicer.util.errorDisplay(f"{what} failed:\n{exc}")
                return None
            finally:
                self._setBusy(False)
                self.updateGUIFromParameterNode()

        def _ensureDependencies(self, torch: bool = False) -> bool:
            """Python packages installed before the first Logic call that needs them (behind a
            confirmation); a declined or failed installation is a message, not an exception."""
            need = {"base", "torch"} if torch else {"base"}
            if need <= self._dependenciesReady:
                return True
            from ALNPredictorLib import dependencies

            try:
                result = dependencies.ensure(torch=torch, confirm=True)
            except Exception as exc:  # noqa: BLE001 - e.g. the PyTorch extension missing
                logging.exception("ALNPredictor: dependency installation failed")
                slicer.util.errorDisplay(f"ALNPredictor could not install its Python dependencies:\n{exc}")
                return False
            if not result:
                slicer.util.warningDisplay(result.message or "Python dependencies missing.",
                                           windowTitle="ALNPredictor — Python dependencies")
                return False
            self._dependenciesReady |= need
            return True

        def onInstallDependencies(self) -> None:
            p = self._parameterNode
            self._ensureDependencies(torch=bool(p is not None and p.pathway != "MRI"))

        # -- N4 warm-up --------------------------------------------------------------------------------
        def onMRIVolumeChanged(self, _node=None) -> None:
            self.startN4(automatic=True)

        def onN4Button(self) -> None:
            self.startN4(automatic=False)

        def startN4(self, automatic: bool = False) -> None:
            """N4 of the MRI series in a background thread (Logic.startN4Warmup): Predict then finds them
            in the cache. Automatic once all three series are chosen."""
            p = self._parameterNode
            if p is None or p.pathway != "MRI" or self._busy or (self._n4 is not None and self._n4.running()):
                return
            nodes = [n for n in (p.t1cVolume, p.t2Volume, p.adcVolume) if n is not None]
            if not nodes or (automatic and len(nodes) < 3):
                return
            if automatic and "base" not in self._dependenciesReady:
                from ALNPredictorLib import dependencies

                if not dependencies.status().ok:  # no installation dialog on a selector change
                    self.ui.n4StatusLabel.text = "N4: starts after the Python dependencies are installed"
                    return
                self._dependenciesReady.add("base")
            elif not self._ensureDependencies():
                return
            try:
                self._n4 = self.logic.startN4Warmup(nodes, self._cacheDir())
            except Exception as exc:  # noqa: BLE001 - e.g. a volume that is not a scalar image
                logging.exception("ALNPredictor: N4 not started")
                self.ui.n4StatusLabel.text = f"N4 not started: {exc}"
                return
            self.ui.n4StatusLabel.text = self._n4.status()
            self._n4Timer.start()

        def _pollN4(self) -> None:
            if self._n4 is None:
                self._n4Timer.stop()
                return
            self.ui.n4StatusLabel.text = self._n4.status()
            if not self._n4.running():
                self._n4Timer.stop()

        def _cacheDir(self) -> str:
            return os.path.join(slicer.app.temporaryPath, "ALNPredictor", "n4-cache")

        # -- buttons ---------------------------------------------------------------------------------
        def onSegment(self) -> bool:
            """The tumor from its caliper line / box (seeds as corrections) or from one click, the nodes
            from their seeds (Logic.segment); a refused click switches to the caliper line."""
            p = self._parameterNode
            if p is None or not self._ensureDependencies():
                return False
            mri = p.pathway == "MRI"
            result = self._run("Segmentation", self.logic.segment, self._reference(), p.tumorSeeds,
                               p.nodeSeeds if mri else None, p.backgroundSeeds, p.segmentation,
                               tumorLineNode=p.tumorLine, tumorBoxNode=p.tumorBox,
                               pathway=PATHWAY_CODES[p.pathway], progress=self._progress,
                               smoothing_mm=float(p.smoothingMm))
            if not result:
                return False
            segmentation, summary = result
            p.segmentation = segmentation
            segmentation.CreateClosedSurfaceRepresentation()
            self.ui.registrationQualityLabel.text = self.logic.segmentationSummary(summary)
            warnings = (summary.get("tumor") or {}).get("warnings") or summary.get("warnings") or []
            self.ui.promptHintLabel.text = "Check the outline: " + "; ".join(map(str, warnings)) if warnings else ""
            return True

        def confirmFrameSpacing(self, node=None) -> bool:
            """A frame read from a PNG/JPEG has no pixel spacing (Slicer shows 1 mm per pixel): ask for it
            once, when the frame is chosen and again before Segment / Predict if it is still missing.
            Returns whether the frame has a known spacing."""
            node = node if node is not None else (self._parameterNode.usVolume if self._parameterNode else None)
            if node is None or self._updatingGUI or not self.logic.frameSpacingUnknown(node):
                return True
            # PythonQt returns the text only ("" when cancelled): getText, not getDouble, tells cancel apart.
            text = qt.QInputDialog.getText(
                slicer.util.mainWindow(), "ALNPredictor — pixel spacing",
                f"'{node.GetName()}' was read from an image file without a pixel spacing.\n"
                "Millimetres per pixel (from the depth scale on the frame, e.g. 40 mm over 400 pixels = 0.1):")
            if not str(text or "").strip():
                self.ui.promptHintLabel.text = ("No pixel spacing: Segment works in pixels, Predict needs mm and will "
                                                "ask again.")
                return False
            p = self._parameterNode
            drawn = [p.tumorSeeds, p.backgroundSeeds, p.tumorLine, p.tumorBox, p.segmentation] if p else []
            try:
                spacing = self.logic.setFrameSpacing(node, text, attachedNodes=drawn)
            except ValueError as exc:
                slicer.util.errorDisplay(str(exc))
                return False
            self.ui.promptHintLabel.text = f"Pixel spacing of '{node.GetName()}': {spacing:g} mm."
            return True

        def onDrawLine(self) -> None:
            """Draw (or redraw) the tumor's caliper line: the slice views go into place mode for it."""
            p = self._parameterNode
            if p is not None:
                p.tumorLine = self.logic.startPlacing("vtkMRMLMarkupsLineNode", p.tumorLine, "tumor caliper")
                self.ui.promptHintLabel.text = ("Click the two ends of the lesion's long axis in a slice view, then "
                                                "press Segment.")

        def onDrawBox(self) -> None:
            """Draw (or redraw) a box around the tumor."""
            p = self._parameterNode
            if p is not None:
                p.tumorBox = self.logic.startPlacing("vtkMRMLMarkupsROINode", p.tumorBox, "tumor box")
                self.ui.promptHintLabel.text = "Drag a box around the lesion in a slice view, then press Segment."

        def _askForCaliper(self, message: str) -> None:
            """A click was refused: say why and what to do, and put the views in place mode for the
            tumor's caliper line (a new one unless an undrawn line is already chosen)."""
            p = self._parameterNode
            if p is None:
                return
            self.ui.segmentCollapsibleButton.collapsed = False
            line = p.tumorLine if p.tumorLine and p.tumorLine.GetNumberOfDefinedControlPoints() == 0 else None
            p.tumorLine = self.logic.startPlacing("vtkMRMLMarkupsLineNode", line, "tumor caliper")
            self.ui.promptHintLabel.text = (f"{message}\nClick the two ends of the lesion's long axis in a slice "
                                            "view, then press Segment (the click stays as a correction).")

        def onPropagate(self) -> None:
            p = self._parameterNode
            if p is None or not self._ensureDependencies():
                return
            result = self._run("Propagation", self.logic.propagateSegmentation, p.segmentation, p.t1cVolume,
                               [p.t2Volume, p.adcVolume], register=bool(p.register), progress=self._progress)
            if result:
                (p.t2Segmentation, q2), (p.adcSegmentation, q3) = result
                self.ui.registrationQualityLabel.text = self.logic.registrationSummary([q2, q3])

        def _currentModelKey(self):
            p = self._parameterNode
            return (str(p.modelPath), p.pathway) if p is not None and path_is_set(p.modelPath) else None

        def _loadModel(self) -> None:
            """Load the bundle of ``modelPath`` for the chosen pathway; the clinical form follows it.
            Called from updateGUIFromParameterNode when the path (bound to its line edit) or the
            pathway changed; an unset path (``Path(".")``) clears the model."""
            p = self._parameterNode
            key = self._currentModelKey()
            if key == self._modelKey and (self._model is not None or key is None):
                return
            self._model, self._modelKey = None, key
            self.ui.modelCardBrowser.setPlainText("")
            self._buildClinicalForm([])
            if key is None:
                self.ui.clinicalHintLabel.text = "Choose a model: its clinical predictors appear here."
                return
            if not self._ensureDependencies():
                return
            model = self._run("Loading the model", self.logic.loadModel, p.modelPath, p.pathway)
            if model is None:
                return
            self._model = model
            text = self.logic.modelCardText(model)
            warning = self.logic.radiomicsVersionWarning(model)
            if warning:
                text += "\n\nWARNING: " + warning
                slicer.util.warningDisplay(warning, windowTitle="ALNPredictor — PyRadiomics version")
            self.ui.modelCardBrowser.setPlainText(text)
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
            if p is None or not self._ensureDependencies(torch=p.pathway != "MRI"):
                return
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
                if not self.confirmFrameSpacing(p.usVolume):
                    return
                drawn = [n for n in (p.tumorLine, p.tumorBox) if n and n.GetNumberOfDefinedControlPoints()]
                if drawn and not self.logic.hasSegment(p.segmentation, "tumor", p.usVolume) and not self.onSegment():
                    return  # the lesion comes from the drawn line / box, as Segment makes it
                result = self._run("Prediction", self.logic.predictUltrasound, p.usVolume, p.tumorSeeds,
                                   p.modelPath, self._clinicalValues(), segmentationNode=p.segmentation,
                                   tableNode=p.results, progress=self._progress)
            if result:
                p.results = result["table"]
                self._lastFeatures = result.get("features")
                self._lastQuality = result.get("quality")
                self._lastProvenance = result.get("provenance")
                self._lastSegmentations = dict(result.get("segmentations") or {})
                self.showResults(result["prediction"])

        def _resetResults(self) -> None:
            self._lastPrediction = self._lastFeatures = self._lastQuality = self._lastProvenance = None
            self._lastSegmentations = {}
            self.ui.probabilityLabel.text = "—"
            self.ui.classLabel.text = "—"
            self.ui.pointsTable.setRowCount(0)

        def showResults(self, prediction: dict) -> None:
            self._lastPrediction = prediction
            prob = prediction.get("probability")
            interval = prediction.get("interval") or {}
            text = f"{prob:.3f}" if prob is not None else "—"
            if interval and interval.get("low") is not None and interval.get("high") is not None:
                text += f"  ({interval['low']:.3f}–{interval['high']:.3f})"
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
                table.setItem(len(points), 2, qt.QTableWidgetItem(f"{prediction.get('total_points') or 0:.1f}"))
            if self._model is not None and points and self._lastFeatures is not None:
                try:
                    png = self.logic.nomogramImage(self._model, values, os.path.join(
                        slicer.app.temporaryPath, "ALNPredictor", "nomogram.png"), features=self._lastFeatures,
                        clinical=self._clinicalValues())
                except Exception:  # noqa: BLE001 - the picture is optional; the numbers are shown
                    logging.exception("ALNPredictor: nomogram picture not drawn")
                    png = None
                if png:
                    self.ui.nomogramLabel.setPixmap(qt.QPixmap(png).scaledToWidth(380))
            self.updateGUIFromParameterNode()

        def onExport(self) -> None:
            p = self._parameterNode
            if p is None or self._lastPrediction is None or not self._ensureDependencies():
                return
            outDir = str(p.reportDir) if path_is_set(p.reportDir) else qt.QFileDialog.getExistingDirectory(
                None, "Report folder")
            if not outDir:
                return
            reference = self._reference()
            identifiers = self.logic.patientIdentifiers(reference) if p.includeIdentifiers and reference else None
            sequenceNodes = self._sequenceNodes()
            result = self._run("Report export", self.logic.exportReport, outDir, self._lastPrediction, self._model,
                               reference, p.segmentation, features=self._lastFeatures,
                               clinical=self._clinicalValues(), identifiers=identifiers,
                               includeIdentifiers=bool(p.includeIdentifiers), quality=self._lastQuality,
                               sequenceNodes=sequenceNodes, provenance=self._lastProvenance)
            if not result:
                return
            written = [result["pdf"], result["json"]]
            if p.exportDicom:
                dicom = self._run("DICOM export", self.logic.exportDicom, outDir, self._lastPrediction, self._model,
                                  sequenceNodes or {"reference": (reference, p.segmentation)}, result["pdf"])
                if not dicom:
                    return
                written += [*dicom["seg"].values(), dicom["pdf"], dicom["sr"]]
            slicer.util.infoDisplay("Report written:\n" + "\n".join(str(w) for w in written if w))

        def _sequenceNodes(self) -> dict:
            """Sequence → (volume, its segmentation) of the last prediction: the reference with the
            panel's segmentation, T2/ADC with the segmentations Predict used (MRI); {} otherwise."""
            p = self._parameterNode
            if p is None or p.pathway != "MRI" or not self._lastSegmentations:
                return {}
            from alnpredictor import study

            codes = study.mri_sequences()
            volumes = dict(zip(codes, (p.t1cVolume, p.t2Volume, p.adcVolume)))
            nodes = {codes[0]: (p.t1cVolume, p.segmentation)}
            for seq, segmentation in self._lastSegmentations.items():
                if seq in volumes and seq != codes[0] and volumes[seq] is not None and segmentation is not None:
                    nodes[seq] = (volumes[seq], segmentation)
            return nodes

    def _sameNode(a, b) -> bool:
        if a is None or b is None:
            return a is None and b is None
        return a.GetID() == b.GetID()

    class ALNPredictorTest(ScriptedLoadableModuleTest):
        """In-app test: the Logic's whole MRI and ultrasound sequences on data the package generates
        itself (``alnpredictor.synthetic``), after the dependencies are installed — no shared data."""

        def setUp(self):
            slicer.mrmlScene.Clear()

        def runTest(self):
            from ALNPredictorLib import dependencies

            self.setUp()
            ready = dependencies.ensure(torch=True, confirm=False, install_in_testing=True)
            self.assertTrue(ready, getattr(ready, "message", ""))
            self.test_mri_scenario()
            self.setUp()
            self.test_ultrasound_scenario()

        def test_mri_scenario(self):
            import tempfile

            from ALNPredictorLib.selftest import mri_scenario

            out = mri_scenario(ALNPredictorLogic(), tempfile.mkdtemp(prefix="ALNPredictorTest-"))
            self.assertTrue(0.0 < out["probability"] < 1.0)
            self.assertGreater(os.path.getsize(out["pdf"]), 10000)
            self.delayDisplay(f"ALNPredictor MRI: probability {out['probability']:.3f}, report {out['pdf']}")

        def test_ultrasound_scenario(self):
            import tempfile

            from ALNPredictorLib.selftest import ultrasound_scenario

            out = ultrasound_scenario(ALNPredictorLogic(), tempfile.mkdtemp(prefix="ALNPredictorTest-"))
            self.assertTrue(0.0 <= out["probability"] <= 1.0)
            self.delayDisplay(f"ALNPredictor ultrasound: probability {out['probability']:.3f}")

if IN_SLICER_APP and not SUPPORTED:

    class ALNPredictorTest(ScriptedLoadableModuleTest):
        """On a Slicer older than 5.10 there is nothing to test but the message."""

        def runTest(self):
            self.delayDisplay(UNSUPPORTED_MESSAGE)
