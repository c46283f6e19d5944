"""Stand-ins for Slicer's qMRML / qSlicer widgets, written from their headers (Slicer repository at
tag v5.12.3; the members a module uses are the same in v5.8.1, v5.10.0 and main-583e9b3 unless a
class says otherwise). Each is a real PySide6 widget on the session's real MRML scene:

* ``qMRMLWidget`` (Libs/MRML/Widgets/qMRMLWidget.h), ``qSlicerWidget`` (Base/QTGUI/qSlicerWidget.h);
* ``qMRMLNodeComboBox`` (Libs/MRML/Widgets/qMRMLNodeComboBox.h): lists the scene's nodes that
  pass ``qMRMLSortFilterProxyModel::filterAcceptsNode`` (node types with ``IsA``, child types,
  ``HideFromEditors`` unless ``showHidden``, attribute filters) in scene order, keeps the current
  node as QComboBox does when rows come and go, and emits ``currentNodeChanged`` as
  ``qMRMLNodeComboBox::emitCurrentNodeChanged`` does;
* ``qSlicerSimpleMarkupsWidget`` (Modules/Loadable/Markups/Widgets/qSlicerSimpleMarkupsWidget.h):
  a point-list selector (the real widget's ``MarkupsNodeComboBox``) and the points table;
* ``qMRMLSegmentEditorWidget`` (Modules/Loadable/Segmentations/Widgets/qMRMLSegmentEditorWidget.h):
  like the real 5.12 widget it delegates to the real C++ ``vtkSlicerSegmentEditorLogic`` (in the
  slicer-core wheel), so the segment editor node's overwrite / masking settings are applied by
  Slicer's own code when the harness paints (:meth:`qMRMLSegmentEditorWidget.harnessPaint`).

``qMRMLSliderWidget``, ``qMRMLSpinBox``, ``qMRMLRangeWidget`` are type only (the parameter-node GUI
connectors compare widget types against them; the module does not use them).
"""

from __future__ import annotations

import types

import vtk
from PySide6 import QtCore, QtWidgets
from PySide6.QtCore import Property, Signal, Slot

from . import pythonqt


class _SceneObserver:
    """VTK observations held by a stand-in; all removed on :meth:`detach` (scene changes and
    session end), as qvtkConnect / qvtkDisconnect do."""

    def __init__(self) -> None:
        self._tags: list[tuple[object, int]] = []

    def observe(self, obj, event, callback, object_calldata: bool = False) -> None:
        if object_calldata:
            def call(caller, ev, calldata=None, _cb=callback):
                _cb(caller, ev, calldata)

            call.CallDataType = vtk.VTK_OBJECT
            tag = obj.AddObserver(event, call)
        else:
            tag = obj.AddObserver(event, lambda caller, ev, _cb=callback: _cb(caller, ev))
        self._tags.append((obj, tag))

    def detach(self, obj=None) -> None:
        keep = []
        for o, tag in self._tags:
            if obj is None or o is obj:
                o.RemoveObserver(tag)
            else:
                keep.append((o, tag))
        self._tags = keep


def _guard(where: str):
    """VTK observer callbacks run Python from C++: errors are printed, not raised (like a Qt slot)."""

    def deco(func):
        def wrapper(*args, **kwargs):
            try:
                return func(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001
                pythonqt.handle_error(where, exc)
                return None

        wrapper.__name__ = func.__name__
        return wrapper

    return deco


def build_mrml_widgets(qt: types.ModuleType, registry: list) -> dict[str, type]:
    """The session's qMRML / qSlicer stand-ins. ``registry`` collects every instance (the session
    detaches their scene observers at its end)."""

    @pythonqt.standin_namespace_check
    class qMRMLWidget(qt.QWidget):  # noqa: N801
        """Libs/MRML/Widgets/qMRMLWidget.h."""

        CPP_SIGNALS = ("mrmlSceneChanged(vtkMRMLScene*)",)
        CPP_SLOTS = ("setMRMLScene(vtkMRMLScene*)",)
        mrmlSceneChanged = Signal(object)

        def __init__(self, parent=None):
            super().__init__(parent)
            self._mrmlScene = None
            registry.append(self)

        def mrmlScene(self):
            return self._mrmlScene

        @Slot(object)
        def setMRMLScene(self, scene):
            if scene is self._mrmlScene:
                return
            self._mrmlScene = scene
            self.mrmlSceneChanged.emit(scene)

        def harnessDetach(self):
            pass

    @pythonqt.standin_namespace_check
    class qSlicerWidget(qt.QWidget):  # noqa: N801
        """Base/QTGUI/qSlicerWidget.h (a QWidget and a qSlicerObject, not a qMRMLWidget)."""

        CPP_SIGNALS = ("mrmlSceneChanged(vtkMRMLScene*)",)
        CPP_SLOTS = ("setMRMLScene(vtkMRMLScene*)",)
        mrmlSceneChanged = Signal(object)

        def __init__(self, parent=None):
            super().__init__(parent)
            self._mrmlScene = None
            registry.append(self)

        def mrmlScene(self):
            return self._mrmlScene

        @Slot(object)
        def setMRMLScene(self, scene):
            emit = scene is not self._mrmlScene
            self._mrmlScene = scene
            if emit:
                self.mrmlSceneChanged.emit(scene)

        def harnessDetach(self):
            pass

    @pythonqt.standin_namespace_check
    class qMRMLNodeComboBox(qt.QWidget):  # noqa: N801
        """Libs/MRML/Widgets/qMRMLNodeComboBox.h (see module docstring)."""

        CPP_SIGNALS = ("currentNodeChanged(vtkMRMLNode*)", "currentNodeChanged(bool)", "currentNodeIDChanged(QString)",
                       "nodeActivated(vtkMRMLNode*)", "nodeAdded(vtkMRMLNode*)", "nodeAddedByUser(vtkMRMLNode*)",
                       "nodeAddedByUserAction(vtkMRMLNode*)", "nodeAboutToBeRemoved(vtkMRMLNode*)",
                       "currentNodeRenamed(QString)", "nodeAboutToBeEdited(vtkMRMLNode*)")
        CPP_SLOTS = ("setMRMLScene(vtkMRMLScene*)", "setCurrentNode(vtkMRMLNode*)", "setCurrentNode(QString)",
                     "setCurrentNodeID(QString)", "setCurrentNodeIndex(int)", "addNode()", "addNode(QString)",
                     "removeCurrentNode()", "editCurrentNode()", "renameCurrentNode()")
        currentNodeChanged = Signal((object,), (bool,))
        currentNodeIDChanged = Signal(str)
        nodeActivated = Signal(object)
        nodeAdded = Signal(object)
        nodeAddedByUser = Signal(object)
        nodeAddedByUserAction = Signal(object)
        nodeAboutToBeRemoved = Signal(object)
        currentNodeRenamed = Signal(str)
        nodeAboutToBeEdited = Signal(object)

        def __init__(self, parent=None):
            super().__init__(parent)
            layout = qt.QHBoxLayout(self)
            layout.setContentsMargins(0, 0, 0, 0)
            self._combo = qt.QComboBox(self)
            self._combo.setObjectName("ComboBox")
            layout.addWidget(self._combo)
            self._combo.currentIndexChanged.connect(self._onComboIndexChanged)
            self._combo.activated.connect(self._onActivated)
            self._scene = None
            self._obs = _SceneObserver()
            self._items: list = []
            self._updating = False
            self._nodeTypes: list[str] = []
            self._showHidden = False
            self._showChildNodeTypes = True
            self._hideChildNodeTypes: list[str] = []
            self._noneEnabled = False
            self._addEnabled = True
            self._removeEnabled = True
            self._editEnabled = False
            self._renameEnabled = False
            self._selectNodeUponCreation = True
            self._baseName = ""
            self._noneDisplay = "None"
            self._interactionNodeSingletonTag = ""
            self._attributes: dict[str, tuple[str, object]] = {}
            self._requested = None
            self._pendingRefresh = False
            self._rebuild()
            registry.append(self)

        # -- filtering (qMRMLSortFilterProxyModel::filterAcceptsNode) --
        def _accepts(self, node) -> bool:
            if node is None or not node.GetID():
                return False
            if not self._showHidden and node.GetHideFromEditors():
                return False
            if not self._nodeTypes:
                return True
            for nodeType in self._nodeTypes:
                if not node.IsA(nodeType):
                    continue
                if not self._showChildNodeTypes and nodeType != node.GetClassName():
                    continue
                if self._showChildNodeTypes and any(node.IsA(t) for t in self._hideChildNodeTypes):
                    return False
                if nodeType in self._attributes:
                    name, value = self._attributes[nodeType]
                    attr = node.GetAttribute(name)
                    if attr is None:
                        return False
                    if value is not None and str(value) != attr:
                        return False
                return True
            return False

        def _sceneNodes(self) -> list:
            scene = self._scene
            if scene is None:
                return []
            return [scene.GetNthNode(i) for i in range(scene.GetNumberOfNodes())]

        def _rebuild(self) -> None:
            """Refresh the items; keep the current node as QComboBox keeps its current row."""
            old_items, old_index = self._items, QtWidgets.QComboBox.currentIndex(self._combo)
            current = old_items[old_index] if 0 <= old_index < len(old_items) else None
            nodes = [n for n in self._sceneNodes() if self._accepts(n)]
            items = ([None] if self._noneEnabled else []) + nodes
            if current is not None and any(current is n for n in items):
                index = next(i for i, n in enumerate(items) if n is current)
            elif current is not None:  # its row was removed: QComboBoxPrivate::_q_rowsRemoved
                index = min(len(items) - 1, old_index)
            elif self._noneEnabled:
                index = 0
            else:  # first row inserted into an empty combo box becomes current
                index = 0 if items else -1
            self._updating = True
            try:
                QtWidgets.QComboBox.clear(self._combo)
                for node in items:
                    QtWidgets.QComboBox.addItem(self._combo, self._noneDisplay if node is None else node.GetName())
                QtWidgets.QComboBox.setCurrentIndex(self._combo, index)
            finally:
                self._updating = False
            self._items = items
            new = items[index] if 0 <= index < len(items) else None
            if new is not current or (old_index == -1) != (index == -1):
                self._emitCurrentNodeChanged()

        def _emitCurrentNodeChanged(self) -> None:
            index = QtWidgets.QComboBox.currentIndex(self._combo)
            node = self._items[index] if 0 <= index < len(self._items) else None
            if node is None and ((not self._noneEnabled and index != -1) or (self._noneEnabled and index != 0)):
                last = self.nodeFromIndex(self.nodeCount() - 1)
                if last is not None:
                    self.setCurrentNode(last)
                return
            self.currentNodeChanged[object].emit(node)
            self.currentNodeChanged[bool].emit(node is not None)
            self.currentNodeIDChanged.emit(node.GetID() if node is not None else "")

        def _onComboIndexChanged(self, _index) -> None:
            if not self._updating:
                self._emitCurrentNodeChanged()

        def _onActivated(self, index) -> None:
            node = self._items[index] if 0 <= index < len(self._items) else None
            self.nodeActivated.emit(node)

        # -- scene --
        def mrmlScene(self):
            return self._scene

        @Slot(object)
        def setMRMLScene(self, scene):
            if scene is self._scene:
                return
            previous_valid = self.nodeCount() > 0
            old_id = self.currentNodeID()
            self._obs.detach()
            self._scene = scene
            if scene is not None:
                S = type(scene)
                self._obs.observe(scene, S.NodeAddedEvent, _guard("qMRMLNodeComboBox.nodeAdded")(self._onNodeAdded),
                                  object_calldata=True)
                self._obs.observe(scene, S.NodeAboutToBeRemovedEvent,
                                  _guard("qMRMLNodeComboBox.nodeAboutToBeRemoved")(self._onNodeAboutToBeRemoved),
                                  object_calldata=True)
                self._obs.observe(scene, S.NodeRemovedEvent, _guard("qMRMLNodeComboBox.nodeRemoved")(self._onNodeRemoved),
                                  object_calldata=True)
                for ev in (S.EndBatchProcessEvent, S.EndCloseEvent, S.EndImportEvent, S.EndRestoreEvent):
                    self._obs.observe(scene, ev, _guard("qMRMLNodeComboBox.sceneUpdate")(self._onSceneUpdated))
            # SceneSwitchingInProgress: no signals while the model is rebuilt
            self._updating = True
            try:
                self._items = []
                QtWidgets.QComboBox.clear(self._combo)
                nodes = [n for n in self._sceneNodes() if self._accepts(n)]
                self._items = ([None] if self._noneEnabled else []) + nodes
                for node in self._items:
                    QtWidgets.QComboBox.addItem(self._combo, self._noneDisplay if node is None else node.GetName())
                QtWidgets.QComboBox.setCurrentIndex(self._combo, 0 if self._items else -1)
            finally:
                self._updating = False
            if previous_valid:
                self.setCurrentNodeID(old_id)
            else:
                requested = self._requested
                self._requested = None
                self.setCurrentNodeID(requested if requested else self.currentNodeID())
            QtWidgets.QWidget.setEnabled(self, scene is not None)

        def _onNodeAdded(self, scene, _event, node):
            if scene.IsBatchProcessing():
                self._pendingRefresh = True
                return
            self._rebuild()
            if self._accepts(node):
                self.nodeAdded.emit(node)

        def _onNodeAboutToBeRemoved(self, _scene, _event, node):
            if any(node is n for n in self._items):
                self.nodeAboutToBeRemoved.emit(node)

        def _onNodeRemoved(self, scene, _event, _node):
            if scene.IsBatchProcessing():
                self._pendingRefresh = True
                return
            self._rebuild()

        def _onSceneUpdated(self, _scene, _event):
            self._pendingRefresh = False
            self._rebuild()

        def harnessDetach(self):
            self._obs.detach()

        # -- current node --
        def currentNode(self):
            index = QtWidgets.QComboBox.currentIndex(self._combo)
            return self._items[index] if 0 <= index < len(self._items) else None

        def currentNodeID(self):
            node = self.currentNode()
            return node.GetID() if node is not None else ""

        def currentNodeId(self):  # deprecated spelling (header)
            return self.currentNodeID()

        @Slot(object)
        @Slot(str)
        def setCurrentNode(self, node):
            if isinstance(node, str):
                return self.setCurrentNodeID(node)
            if self._scene is None:
                self._requested = node.GetID() if node is not None else None
            self._setCurrentNodeIDInternal(node.GetID() if node is not None else "")

        @Slot(str)
        def setCurrentNodeID(self, nodeID):
            if self._scene is None:
                self._requested = nodeID
            self._setCurrentNodeIDInternal(nodeID or "")

        def _setCurrentNodeIDInternal(self, nodeID: str) -> None:
            index = next((i for i, n in enumerate(self._items) if n is not None and n.GetID() == nodeID), -1) \
                if nodeID else -1
            if index == -1:
                index = 0 if self._noneEnabled else -1
            QtWidgets.QComboBox.setCurrentIndex(self._combo, index)

        @Slot(int)
        def setCurrentNodeIndex(self, index):
            QtWidgets.QComboBox.setCurrentIndex(self._combo, index + (1 if self._noneEnabled else 0))

        def nodeCount(self):
            return len([n for n in self._items if n is not None])

        def nodeFromIndex(self, index):
            nodes = [n for n in self._items if n is not None]
            return nodes[index] if 0 <= index < len(nodes) else None

        def nodes(self):
            return [n for n in self._items if n is not None]

        def addAttribute(self, nodeType, attributeName, attributeValue=None):
            self._attributes[nodeType] = (attributeName, attributeValue)
            self._rebuild()

        def removeAttribute(self, nodeType, attributeName):
            self._attributes.pop(nodeType, None)
            self._rebuild()

        @Slot()
        @Slot(str)
        def addNode(self, nodeType=None):
            if self._scene is None or not self._addEnabled and nodeType is None:
                return None
            nodeType = nodeType or (self._nodeTypes[0] if self._nodeTypes else None)
            if not nodeType:
                return None
            node = self._scene.AddNewNodeByClass(nodeType, self._baseName or "")
            self.nodeAddedByUser.emit(node)
            if self._selectNodeUponCreation:
                self.setCurrentNode(node)
            return node

        @Slot()
        def removeCurrentNode(self):
            node = self.currentNode()
            if node is not None and self._scene is not None:
                self._scene.RemoveNode(node)

        @Slot()
        def editCurrentNode(self):
            self.nodeAboutToBeEdited.emit(self.currentNode())

        @Slot()
        def renameCurrentNode(self):
            pass

        # -- harness helpers (what a user does with the mouse) --
        def harnessItems(self) -> list:
            """The nodes listed, as the user sees them (None = the "None" item)."""
            return list(self._items)

        def harnessChoose(self, node) -> None:
            """The user picks ``node`` in the drop-down (fails if it is not listed)."""
            for i, n in enumerate(self._items):
                if n is node:
                    QtWidgets.QComboBox.setCurrentIndex(self._combo, i)
                    self._combo.activated.emit(i)
                    return
            raise AssertionError(f"{node.GetName() if node else None!r} is not listed in {QtCore.QObject.objectName(self)} "
                                 f"(items: {[n.GetName() if n else None for n in self._items]})")

        # -- properties --
        def _setNodeTypes(self, value):
            self._nodeTypes = [t for t in list(value) if t]
            self._rebuild()

        def _setNoneEnabled(self, value):
            value = bool(value)
            if value == self._noneEnabled:
                return
            self._noneEnabled = value
            self._rebuild()

        def _setter(attr, rebuild=False):
            def set_(self, value):
                setattr(self, attr, value)
                if rebuild:
                    self._rebuild()

            return set_

        nodeTypes = Property("QStringList", lambda s: list(s._nodeTypes), _setNodeTypes)
        noneEnabled = Property(bool, lambda s: s._noneEnabled, _setNoneEnabled)
        showHidden = Property(bool, lambda s: s._showHidden, _setter("_showHidden", True))
        showChildNodeTypes = Property(bool, lambda s: s._showChildNodeTypes, _setter("_showChildNodeTypes", True))
        hideChildNodeTypes = Property("QStringList", lambda s: list(s._hideChildNodeTypes),
                                      _setter("_hideChildNodeTypes", True))
        addEnabled = Property(bool, lambda s: s._addEnabled, _setter("_addEnabled"))
        removeEnabled = Property(bool, lambda s: s._removeEnabled, _setter("_removeEnabled"))
        editEnabled = Property(bool, lambda s: s._editEnabled, _setter("_editEnabled"))
        renameEnabled = Property(bool, lambda s: s._renameEnabled, _setter("_renameEnabled"))
        selectNodeUponCreation = Property(bool, lambda s: s._selectNodeUponCreation, _setter("_selectNodeUponCreation"))
        baseName = Property(str, lambda s: s._baseName, _setter("_baseName"))
        noneDisplay = Property(str, lambda s: s._noneDisplay, _setter("_noneDisplay", True))
        interactionNodeSingletonTag = Property(str, lambda s: s._interactionNodeSingletonTag,
                                               _setter("_interactionNodeSingletonTag"))
        del _setter

    @pythonqt.standin_namespace_check
    class qSlicerSimpleMarkupsWidget(qSlicerWidget):  # noqa: N801
        """Modules/Loadable/Markups/Widgets/qSlicerSimpleMarkupsWidget.h: a point-list selector
        (``MarkupsNodeComboBox``: vtkMRMLMarkupsFiducialNode, showHidden, None enabled, as in
        Resources/UI/qSlicerSimpleMarkupsWidget.ui) and the control points table."""

        CPP_SIGNALS = ("markupsNodeChanged()", "markupsFiducialNodeChanged()",
                       "currentMarkupsControlPointSelectionChanged(int)", "currentMarkupsFiducialSelectionChanged(int)",
                       "activeMarkupsPlaceModeChanged(bool)", "activeMarkupsFiducialPlaceModeChanged(bool)",
                       "updateFinished()")
        CPP_SLOTS = ("setMRMLScene(vtkMRMLScene*)", "setCurrentNode(vtkMRMLNode*)", "setNodeBaseName(QString)",
                     "setEnterPlaceModeOnNodeChange(bool)", "setJumpToSliceEnabled(bool)",
                     "setNodeSelectorVisible(bool)", "setOptionsVisible(bool)", "activate()", "placeActive(bool)",
                     "highlightNthControlPoint(int)")
        markupsNodeChanged = Signal()
        markupsFiducialNodeChanged = Signal()
        currentMarkupsControlPointSelectionChanged = Signal(int)
        currentMarkupsFiducialSelectionChanged = Signal(int)
        activeMarkupsPlaceModeChanged = Signal(bool)
        activeMarkupsFiducialPlaceModeChanged = Signal(bool)
        updateFinished = Signal()

        def __init__(self, parent=None):
            super().__init__(parent)
            layout = qt.QVBoxLayout(self)
            self._selector = qMRMLNodeComboBox(self)
            self._selector.setObjectName("MarkupsNodeComboBox")
            self._selector.nodeTypes = ["vtkMRMLMarkupsFiducialNode"]
            self._selector.showHidden = True
            self._selector.noneEnabled = True
            self._table = qt.QTableWidget(self)
            self._table.setObjectName("MarkupsControlPointsTableWidget")
            self._table.setColumnCount(4)
            layout.addWidget(self._selector)
            layout.addWidget(self._table)
            self._current = None
            self._enterPlaceMode = True
            self._jumpToSlice = True
            self._nodeSelectorVisible = True
            self._optionsVisible = True
            self._placeActive = False
            self._obs = _SceneObserver()
            self.mrmlSceneChanged.connect(self._selector.setMRMLScene)
            self._selector.currentNodeChanged[object].connect(self._onMarkupsNodeChanged)

        @Slot(object)
        def setMRMLScene(self, scene):
            super().setMRMLScene(scene)

        def currentNode(self):
            return self._selector.currentNode()

        def getCurrentNode(self):
            return self.currentNode()

        def tableWidget(self):
            return self._table

        def markupsSelectorComboBox(self):
            return self._selector

        def _onMarkupsNodeChanged(self, node):
            self.setCurrentNode(node)
            if self._enterPlaceMode:
                self.placeActive(node is not None)

        @Slot(object)
        def setCurrentNode(self, node):
            if node is not None and not node.IsA("vtkMRMLMarkupsNode"):
                node = None
            if node is self._current:
                return
            blocked = self._selector.blockSignals(True)
            self._selector.setCurrentNode(node)
            self._selector.blockSignals(blocked)
            self._obs.detach()
            if node is not None:
                for ev in (vtk.vtkCommand.ModifiedEvent, node.PointAddedEvent, node.PointRemovedEvent,
                           node.PointModifiedEvent):
                    self._obs.observe(node, ev, _guard("qSlicerSimpleMarkupsWidget.updateWidget")(
                        lambda *_: self.updateWidget()))
            self._current = node
            self.updateWidget()
            self.markupsNodeChanged.emit()
            self.markupsFiducialNodeChanged.emit()

        def updateWidget(self):
            node = self._current
            n = node.GetNumberOfControlPoints() if node is not None else 0
            QtWidgets.QTableWidget.setRowCount(self._table, n)
            for i in range(n):
                pos = [0.0, 0.0, 0.0]
                node.GetNthControlPointPositionWorld(i, pos)
                for col, value in enumerate([node.GetNthControlPointLabel(i)] + [f"{v:.3f}" for v in pos]):
                    QtWidgets.QTableWidget.setItem(self._table, i, col, QtWidgets.QTableWidgetItem(str(value)))
            self.updateFinished.emit()

        @Slot(str)
        def setNodeBaseName(self, name):
            self._selector.baseName = name

        @Slot()
        def activate(self):
            self.placeActive(True)

        @Slot(bool)
        def placeActive(self, place):
            self._placeActive = bool(place)
            self.activeMarkupsPlaceModeChanged.emit(self._placeActive)
            self.activeMarkupsFiducialPlaceModeChanged.emit(self._placeActive)

        @Slot(int)
        def highlightNthControlPoint(self, n):
            pass

        def harnessDetach(self):
            self._obs.detach()

        def harnessPlacePoint(self, ras):
            """The user clicks at ``ras`` in a view with place mode on: a defined control point is
            added to the current point list (fails if no list is selected)."""
            node = self.currentNode()
            if node is None:
                raise AssertionError(f"{QtCore.QObject.objectName(self)}: no point list selected - nothing to place points into")
            return node.AddControlPointWorld(vtk.vtkVector3d(*[float(v) for v in ras]))

        @Slot(bool)
        def setEnterPlaceModeOnNodeChange(self, v):
            self._enterPlaceMode = bool(v)

        @Slot(bool)
        def setJumpToSliceEnabled(self, v):
            self._jumpToSlice = bool(v)

        @Slot(bool)
        def setNodeSelectorVisible(self, v):
            self._nodeSelectorVisible = bool(v)
            self._selector.setVisible(bool(v))

        @Slot(bool)
        def setOptionsVisible(self, v):
            self._optionsVisible = bool(v)

        enterPlaceModeOnNodeChange = Property(bool, lambda s: s._enterPlaceMode, setEnterPlaceModeOnNodeChange)
        jumpToSliceEnabled = Property(bool, lambda s: s._jumpToSlice, setJumpToSliceEnabled)
        nodeSelectorVisible = Property(bool, lambda s: s._nodeSelectorVisible, setNodeSelectorVisible)
        optionsVisible = Property(bool, lambda s: s._optionsVisible, setOptionsVisible)

    class _Effect(qt.QObject):
        """qSlicerSegmentEditorAbstractEffect as far as the widget API exposes it (name)."""

        def __init__(self, name, parent=None):
            super().__init__(parent)
            self._name = name

        # Q_PROPERTY(QString name READ name WRITE setName) (qSlicerSegmentEditorAbstractEffect.h)
        name = Property(str, lambda s: s._name, lambda s, v: setattr(s, "_name", v))

    #: Core effects registered by qSlicerSegmentEditorEffectFactory (C++ and Python effects of Slicer).
    effect_names = ("Paint", "Draw", "Erase", "Level tracing", "Grow from seeds", "Fill between slices", "Margin",
                    "Hollow", "Smoothing", "Scissors", "Islands", "Logical operators", "Mask volume", "Threshold")

    @pythonqt.standin_namespace_check
    class qMRMLSegmentEditorWidget(qMRMLWidget):  # noqa: N801
        """Modules/Loadable/Segmentations/Widgets/qMRMLSegmentEditorWidget.h (see module docstring)."""

        CPP_SIGNALS = ("currentSegmentIDChanged(QString)", "sourceVolumeNodeChanged(vtkMRMLVolumeNode*)",
                       "masterVolumeNodeChanged(vtkMRMLVolumeNode*)",
                       "segmentationNodeChanged(vtkMRMLSegmentationNode*)")
        CPP_SLOTS = ("setMRMLScene(vtkMRMLScene*)", "setMRMLSegmentEditorNode(vtkMRMLSegmentEditorNode*)",
                     "updateWidgetFromMRML()", "setSegmentationNode(vtkMRMLNode*)", "setSegmentationNodeID(QString)",
                     "setSourceVolumeNode(vtkMRMLNode*)", "setSourceVolumeNodeID(QString)",
                     "setMasterVolumeNode(vtkMRMLNode*)", "setCurrentSegmentID(QString)",
                     "setActiveEffectByName(QString)", "saveStateForUndo()", "undo()", "redo()",
                     "installKeyboardShortcuts(QWidget*)", "installKeyboardShortcuts()",
                     "uninstallKeyboardShortcuts()")
        currentSegmentIDChanged = Signal(str)
        sourceVolumeNodeChanged = Signal(object)
        masterVolumeNodeChanged = Signal(object)
        segmentationNodeChanged = Signal(object)

        def __init__(self, parent=None):
            super().__init__(parent)
            import slicer

            self._logic = slicer.vtkSlicerSegmentEditorLogic()
            self._editorNode = None
            self._obs = _SceneObserver()
            self._effects = {name: _Effect(name, self) for name in effect_names}
            self._props = {"segmentationNodeSelectorVisible": True, "sourceVolumeNodeSelectorVisible": True,
                           "maskingSectionVisible": True, "specifyGeometryButtonVisible": True,
                           "show3DButtonVisible": True, "addRemoveSegmentButtonsVisible": True,
                           "autoShowSourceVolumeNode": True, "switchToSegmentationsButtonVisible": True,
                           "undoEnabled": False, "readOnly": False, "unorderedEffectsVisible": True,
                           "jumpToSelectedSegmentEnabled": False}
            self.shortcutsInstalled = False  # harness-readable state (no C++ accessor)
            self.viewObservationsActive = False

        @Slot(object)
        def setMRMLScene(self, scene):
            if scene is self.mrmlScene():
                return
            super().setMRMLScene(scene)
            import slicer

            self._logic.SetMRMLApplicationLogic(slicer.app.applicationLogic())
            self._logic.SetMRMLScene(scene)
            self._obs.detach(None)
            if scene is not None:
                self._obs.observe(scene, type(scene).EndCloseEvent,
                                  _guard("qMRMLSegmentEditorWidget.onMRMLSceneEndCloseEvent")(
                                      lambda *_: self.updateWidgetFromMRML()))
            self.updateWidgetFromMRML()

        def mrmlSegmentEditorNode(self):
            return self._editorNode

        @Slot(object)
        def setMRMLSegmentEditorNode(self, node):
            if node is self._editorNode:
                return
            self._editorNode = node
            self._logic.SetSegmentEditorNode(node)
            self.updateWidgetFromMRML()

        @Slot()
        def updateWidgetFromMRML(self):
            pass

        def segmentationNode(self):
            return self._logic.GetSegmentationNode()

        def segmentationNodeID(self):
            node = self.segmentationNode()
            return node.GetID() if node is not None else ""

        @Slot(object)
        def setSegmentationNode(self, node):
            if self._logic.GetSegmentationNode() is node:
                return
            if self._editorNode is None:
                pythonqt.current_log().qt_messages.append(
                    ("critical", "qMRMLSegmentEditorWidget::setSegmentationNode: Invalid segment editor parameter set node"))
            self._logic.SetSegmentationNode(node)
            self.setActiveEffect(None)
            self.segmentationNodeChanged.emit(node)

        @Slot(str)
        def setSegmentationNodeID(self, nodeID):
            self.setSegmentationNode(self.mrmlScene().GetNodeByID(nodeID) if self.mrmlScene() else None)

        def sourceVolumeNode(self):
            return self._logic.GetSourceVolumeNode()

        def sourceVolumeNodeID(self):
            node = self.sourceVolumeNode()
            return node.GetID() if node is not None else ""

        @Slot(object)
        def setSourceVolumeNode(self, node):
            if self._editorNode is None:
                pythonqt.current_log().qt_messages.append(
                    ("critical", "qMRMLSegmentEditorWidget::setSourceVolumeNode: Invalid segment editor parameter set node"))
            self._logic.SetSourceVolumeNode(node)
            self.sourceVolumeNodeChanged.emit(node)

        @Slot(str)
        def setSourceVolumeNodeID(self, nodeID):
            self.setSourceVolumeNode(self.mrmlScene().GetNodeByID(nodeID) if self.mrmlScene() else None)

        @Slot(object)
        def setMasterVolumeNode(self, node):  # deprecated name
            self.setSourceVolumeNode(node)

        def masterVolumeNode(self):
            return self.sourceVolumeNode()

        def currentSegmentID(self):
            return self._logic.GetCurrentSegmentID()

        @Slot(str)
        def setCurrentSegmentID(self, segmentID):
            if self._editorNode is not None:
                self._editorNode.SetSelectedSegmentID(segmentID)
                self.currentSegmentIDChanged.emit(segmentID)

        def activeEffect(self):
            name = self._editorNode.GetActiveEffectName() if self._editorNode is not None else ""
            return self._effects.get(name) if name else None

        def setActiveEffect(self, effect):
            if self._editorNode is None:
                if effect is not None:
                    pythonqt.current_log().qt_messages.append(
                        ("critical", "qMRMLSegmentEditorWidget::setActiveEffect: Invalid segment editor parameter set node"))
                return
            self._editorNode.SetActiveEffectName(effect._name if effect is not None else "")

        def effectByName(self, name):
            return self._effects.get(name)

        def availableEffectNames(self):
            return list(self._effects)

        @Slot(str)
        def setActiveEffectByName(self, name):
            self.setActiveEffect(self.effectByName(name))

        def setupViewObservations(self):
            self.viewObservationsActive = True

        def removeViewObservations(self):
            self.viewObservationsActive = False

        @Slot()
        @Slot(object)
        def installKeyboardShortcuts(self, parent=None):
            self.shortcutsInstalled = True

        @Slot()
        def uninstallKeyboardShortcuts(self):
            self.shortcutsInstalled = False

        @Slot()
        def saveStateForUndo(self):
            pass

        @Slot()
        def undo(self):
            self._logic.Undo()

        @Slot()
        def redo(self):
            self._logic.Redo()

        def harnessDetach(self):
            self._obs.detach()

        def harnessPaint(self, segmentName: str, mask, erase: bool = False):
            """The user selects segment ``segmentName`` and paints (or erases) ``mask`` (a k,j,i array
            on the source volume's grid) with the Paint / Erase effect: the real
            vtkSlicerSegmentEditorLogic::ModifySegmentByLabelmap applies the editor node's overwrite
            and masking settings (qSlicerSegmentEditorAbstractEffect::modifySegmentByLabelmap)."""
            import numpy as np
            import slicer
            import vtk.util.numpy_support as ns

            seg = self.segmentationNode()
            volume = self.sourceVolumeNode()
            if self._editorNode is None or seg is None or volume is None:
                raise AssertionError("Segment Editor: no parameter node / segmentation / source volume set - "
                                     "the user cannot paint")
            segment_id = seg.GetSegmentation().GetSegmentIdBySegmentName(segmentName)
            if not segment_id:
                raise AssertionError(f"Segment Editor: no segment named {segmentName!r}")
            self.setCurrentSegmentID(segment_id)
            mask = (np.asarray(mask) > 0).astype(np.uint8)
            image = slicer.vtkOrientedImageData()
            dims = mask.shape[::-1]
            image.SetDimensions(*dims)
            image.AllocateScalars(vtk.VTK_UNSIGNED_CHAR, 1)
            matrix = vtk.vtkMatrix4x4()
            volume.GetIJKToRASMatrix(matrix)
            image.SetImageToWorldMatrix(matrix)
            ns.vtk_to_numpy(image.GetPointData().GetScalars())[:] = mask.ravel()
            image.Modified()
            mode = self._logic.ModificationModeRemove if erase else self._logic.ModificationModeAdd
            self._logic.ModifySegmentByLabelmap(seg, segment_id, image, mode, True, False)

        # properties (bool switches of the header)
        def _prop(name):
            return Property(bool, lambda s: s._props[name], lambda s, v: s._props.__setitem__(name, bool(v)))

        segmentationNodeSelectorVisible = _prop("segmentationNodeSelectorVisible")
        sourceVolumeNodeSelectorVisible = _prop("sourceVolumeNodeSelectorVisible")
        masterVolumeNodeSelectorVisible = _prop("sourceVolumeNodeSelectorVisible")
        maskingSectionVisible = _prop("maskingSectionVisible")
        specifyGeometryButtonVisible = _prop("specifyGeometryButtonVisible")
        show3DButtonVisible = _prop("show3DButtonVisible")
        addRemoveSegmentButtonsVisible = _prop("addRemoveSegmentButtonsVisible")
        autoShowSourceVolumeNode = _prop("autoShowSourceVolumeNode")
        switchToSegmentationsButtonVisible = _prop("switchToSegmentationsButtonVisible")
        undoEnabled = _prop("undoEnabled")
        readOnly = _prop("readOnly")
        unorderedEffectsVisible = _prop("unorderedEffectsVisible")
        jumpToSelectedSegmentEnabled = _prop("jumpToSelectedSegmentEnabled")
        del _prop

    def type_only(name: str, base: type, header: str) -> type:
        return type(name, (base,), {"__doc__": f"{header} (type only: not used by the module's .ui).",
                                    "__module__": "slicer"})

    classes = {
        "qMRMLWidget": qMRMLWidget,
        "qSlicerWidget": qSlicerWidget,
        "qMRMLNodeComboBox": qMRMLNodeComboBox,
        "qSlicerSimpleMarkupsWidget": qSlicerSimpleMarkupsWidget,
        "qMRMLSegmentEditorWidget": qMRMLSegmentEditorWidget,
        "qMRMLSliderWidget": type_only("qMRMLSliderWidget", qt.QWidget, "Libs/MRML/Widgets/qMRMLSliderWidget.h"),
        "qMRMLSpinBox": type_only("qMRMLSpinBox", qt.QWidget, "Libs/MRML/Widgets/qMRMLSpinBox.h"),
        "qMRMLRangeWidget": type_only("qMRMLRangeWidget", qt.QWidget, "Libs/MRML/Widgets/qMRMLRangeWidget.h"),
    }
    for name, cls in classes.items():
        cls.__module__ = "slicer"
        cls.__qualname__ = name
    return classes


#: Which Slicer library provides each stand-in: the qMRMLWidgets kit is imported with ``slicer``
#: (Base/Python/CMakeLists.txt, ``Slicer_PYTHON_MODULES_CONFIG``); module widgets come with their
#: loadable module's Python extensions (``importQtClassesFromDirectory(..., 'qSlicer*PythonQt.*')``).
KIT_CLASSES = ("qMRMLWidget", "qSlicerWidget", "qMRMLNodeComboBox", "qMRMLSliderWidget", "qMRMLSpinBox",
               "qMRMLRangeWidget")
MODULE_CLASSES = {"Markups": ("qSlicerSimpleMarkupsWidget",), "Segmentations": ("qMRMLSegmentEditorWidget",)}
