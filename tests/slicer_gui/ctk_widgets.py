"""Stand-ins for the CTK widgets a Slicer module meets: the ``ctk`` module of a harness session.

Each class is a real PySide6 widget written from its CTK header (commontk/CTK, ``Libs/Widgets/``;
the header is named in each class): same Q_PROPERTY names (as PySide6 ``Property``, so that
Designer's loader sets them from the ``.ui`` and Python reads them as attributes), same signals
and slots (C++ signatures in ``CPP_SIGNALS`` / ``CPP_SLOTS``), and the behaviour a module relies
on (value clamping, ``currentPathChanged`` only on change ...). Classes that the parameter-node
GUI connectors only compare against (``type(widget) in (..., ctk.ctkCheckBox)``) and that the
module does not use are "type only": the class exists with its C++ base, nothing more.
"""

from __future__ import annotations

import math
import types

from PySide6 import QtCore, QtWidgets
from PySide6.QtCore import Property, Signal, Slot

from . import pythonqt


def build_ctk_module(qt: types.ModuleType) -> tuple[types.ModuleType, dict[str, type]]:
    """The session's ``ctk`` module (classes derive from the session's ``qt`` wrappers)."""

    @pythonqt.standin_namespace_check
    class ctkCollapsibleButton(qt.QAbstractButton):  # noqa: N801
        """Libs/Widgets/ctkCollapsibleButton.h: a checkable button that shows / hides its contents."""

        CPP_SIGNALS = ("contentsCollapsed(bool)",)
        CPP_SLOTS = ("setCollapsed(bool)",)
        contentsCollapsed = Signal(bool)

        def __init__(self, *args):
            text = args[0] if args and isinstance(args[0], str) else ""
            parent = args[-1] if args and not isinstance(args[-1], str) else None
            super().__init__(parent)
            QtWidgets.QAbstractButton.setText(self, text)
            QtWidgets.QAbstractButton.setCheckable(self, True)
            QtWidgets.QAbstractButton.setChecked(self, True)
            self._collapsed = False
            self._collapsedHeight = 14
            self._flat = False

        def paintEvent(self, event):  # noqa: N802 - QAbstractButton::paintEvent is pure virtual
            pass

        def _getCollapsed(self):
            return self._collapsed

        @Slot(bool)
        def setCollapsed(self, collapsed):
            collapsed = bool(collapsed)
            if collapsed == self._collapsed:
                return
            self._collapsed = collapsed
            QtWidgets.QAbstractButton.setChecked(self, not collapsed)
            for child in QtCore.QObject.children(self):
                if isinstance(child, QtWidgets.QWidget):
                    child.setVisible(not collapsed)
            self.contentsCollapsed.emit(collapsed)

        collapsed = Property(bool, _getCollapsed, setCollapsed)
        collapsedHeight = Property(int, lambda s: s._collapsedHeight, lambda s, v: setattr(s, "_collapsedHeight", v))
        flat = Property(bool, lambda s: s._flat, lambda s, v: setattr(s, "_flat", bool(v)))

    @pythonqt.standin_namespace_check
    class ctkPathLineEdit(qt.QWidget):  # noqa: N801
        """Libs/Widgets/ctkPathLineEdit.h: a line edit + browse button for a file or folder path.

        ``currentPath`` is the text; ``currentPathChanged`` is emitted when the text changes
        (``updateHasValidInput``, ctkPathLineEdit.cpp); ``browse()`` asks ``QFileDialog`` (a
        folder for ``Dirs`` filters, a file otherwise) and sets the chosen path.
        """

        # enum Filter (ctkPathLineEdit.h)
        Dirs, Files, Drives, NoSymLinks = 0x001, 0x002, 0x004, 0x008
        AllEntries, TypeMask = 0x007, 0x00F
        Readable, Writable, Executable, PermissionMask = 0x010, 0x020, 0x040, 0x070
        Modified, Hidden, System, AccessMask = 0x080, 0x100, 0x200, 0x3F0
        AllDirs, CaseSensitive, NoDotAndDotDot, NoDot, NoDotDot, NoFilter = 0x400, 0x800, 0x1000, 0x2000, 0x4000, -1
        # enum SizeAdjustPolicy
        AdjustToContents, AdjustToContentsOnFirstShow, AdjustToMinimumContentsLength = 0, 1, 2

        CPP_SIGNALS = ("validInputChanged(bool)", "currentPathChanged(QString)")
        CPP_SLOTS = ("setCurrentPath(QString)", "browse()", "retrieveHistory()", "addCurrentPathToHistory()",
                     "setCurrentDirectory(QString)", "updateHasValidInput()")
        validInputChanged = Signal(bool)
        currentPathChanged = Signal(str)

        def __init__(self, parent=None):
            super().__init__(parent)
            self._lineEdit = qt.QLineEdit(self)
            self._lineEdit.setObjectName("LineEdit")
            QtWidgets.QLineEdit.textChanged.__get__(self._lineEdit).connect(self._onTextChanged)
            self._filters = self.AllEntries | self.NoDotAndDotDot | self.Readable
            self._label = ""
            self._settingKey = ""
            self._nameFilters = []
            self._showBrowse = True
            self._showHistory = True
            self._hasValidInput = False

        def _onTextChanged(self, _text):
            self.updateHasValidInput()

        @Slot()
        def updateHasValidInput(self):
            old = self._hasValidInput
            self._hasValidInput = True  # no validator for folders; any text is acceptable input
            self.currentPathChanged.emit(self._getCurrentPath())
            if old != self._hasValidInput:
                self.validInputChanged.emit(self._hasValidInput)

        def _getCurrentPath(self):
            return QtWidgets.QLineEdit.text(self._lineEdit)

        @Slot(str)
        def setCurrentPath(self, path):
            QtWidgets.QLineEdit.setText(self._lineEdit, str(path))

        @Slot()
        def browse(self):
            current = self._getCurrentPath()
            if self._filters & self.Files:
                if self._filters & self.Writable:
                    path = qt.QFileDialog.getSaveFileName(self, "Select a file to save ", current,
                                                          ";;".join(self._nameFilters))
                else:
                    path = qt.QFileDialog.getOpenFileName(self, "Open a file", current, ";;".join(self._nameFilters))
            else:
                path = qt.QFileDialog.getExistingDirectory(self, "Select a directory...", current)
            if not path:
                return
            self.setCurrentPath(path)

        @Slot()
        def retrieveHistory(self):
            pass

        @Slot()
        def addCurrentPathToHistory(self):
            pass

        @Slot(str)
        def setCurrentDirectory(self, directory):
            self._currentDirectory = directory

        currentPath = Property(str, _getCurrentPath, setCurrentPath, user=True)
        filters = Property(int, lambda s: s._filters, lambda s, v: setattr(s, "_filters", int(v)))
        label = Property(str, lambda s: s._label, lambda s, v: setattr(s, "_label", v))
        settingKey = Property(str, lambda s: s._settingKey, lambda s, v: setattr(s, "_settingKey", v))
        nameFilters = Property("QStringList", lambda s: list(s._nameFilters), lambda s, v: setattr(s, "_nameFilters", list(v)))
        showBrowseButton = Property(bool, lambda s: s._showBrowse, lambda s, v: setattr(s, "_showBrowse", bool(v)))
        showHistoryButton = Property(bool, lambda s: s._showHistory, lambda s, v: setattr(s, "_showHistory", bool(v)))

    @pythonqt.standin_namespace_check
    class ctkSliderWidget(qt.QWidget):  # noqa: N801
        """Libs/Widgets/ctkSliderWidget.h: a slider + spin box for a double, clamped to
        [minimum, maximum] and rounded to ``decimals`` (ctkDoubleSpinBox)."""

        CPP_SIGNALS = ("valueChanged(double)", "valueIsChanging(double)", "decimalsChanged(int)")
        CPP_SLOTS = ("setValue(double)", "setMinimum(double)", "setMaximum(double)", "setRange(double,double)",
                     "reset()", "setDecimals(int)")
        valueChanged = Signal(float)
        valueIsChanging = Signal(float)
        decimalsChanged = Signal(int)

        def __init__(self, parent=None):
            super().__init__(parent)
            self._min, self._max, self._value = 0.0, 99.0, 0.0
            self._decimals, self._singleStep, self._pageStep = 2, 1.0, 10.0
            self._prefix = self._suffix = ""
            self._tracking = True

        def _round(self, value):
            if math.isinf(value):
                return value
            return round(value, self._decimals)

        @Slot(float)
        def setValue(self, value):
            value = self._round(min(max(float(value), self._min), self._max))
            if value != self._value:
                self._value = value
                self.valueChanged.emit(value)

        @Slot(float)
        def setMinimum(self, value):
            self.setRange(value, max(self._max, value))

        @Slot(float)
        def setMaximum(self, value):
            self.setRange(min(self._min, value), value)

        @Slot(float, float)
        def setRange(self, minimum, maximum):
            self._min, self._max = float(minimum), float(maximum)
            self.setValue(self._value)

        @Slot()
        def reset(self):
            self.setValue(0.0)

        @Slot(int)
        def setDecimals(self, decimals):
            if decimals != self._decimals:
                self._decimals = int(decimals)
                self.decimalsChanged.emit(self._decimals)
                self.setValue(self._value)

        value = Property(float, lambda s: s._value, setValue)
        minimum = Property(float, lambda s: s._min, setMinimum)
        maximum = Property(float, lambda s: s._max, setMaximum)
        decimals = Property(int, lambda s: s._decimals, setDecimals)
        singleStep = Property(float, lambda s: s._singleStep, lambda s, v: setattr(s, "_singleStep", float(v)))
        pageStep = Property(float, lambda s: s._pageStep, lambda s, v: setattr(s, "_pageStep", float(v)))
        prefix = Property(str, lambda s: s._prefix, lambda s, v: setattr(s, "_prefix", v))
        suffix = Property(str, lambda s: s._suffix, lambda s, v: setattr(s, "_suffix", v))
        tracking = Property(bool, lambda s: s._tracking, lambda s, v: setattr(s, "_tracking", bool(v)))

    class ctkMessageBox(qt.QMessageBox):  # noqa: N801
        """Libs/Widgets/ctkMessageBox.h: QMessageBox with a "Don't show again" check box. With a
        ``dontShowAgainSettingsKey`` whose QSettings value is set, it is not shown and that
        value is returned (ctkMessageBox::setVisible auto-accepts)."""

        def __init__(self, parent=None):
            super().__init__(parent)
            self._dontShowAgain = False
            self._settingsKey = ""
            self._dontShowAgainVisible = False

        def exec(self):
            if self._settingsKey:
                stored = qt.QSettings().value(self._settingsKey)
                if stored not in (None, "", 0, "0"):
                    from .qt_module import ShownDialog, recorder

                    recorder().shown.append(ShownDialog(kind="ctkMessageBox (auto-accepted)", text=self.text,
                                                        answer=int(stored)))
                    return int(stored)
            result = super().exec()
            if self._settingsKey and self._dontShowAgain:
                qt.QSettings().setValue(self._settingsKey, int(result))
            return result

        exec_ = exec

        def _setKey(self, key):
            self._settingsKey = key
            self._dontShowAgainVisible = bool(key) or self._dontShowAgainVisible

        dontShowAgain = Property(bool, lambda s: s._dontShowAgain, lambda s, v: setattr(s, "_dontShowAgain", bool(v)))
        dontShowAgainSettingsKey = Property(str, lambda s: s._settingsKey, _setKey)
        dontShowAgainVisible = Property(bool, lambda s: s._dontShowAgainVisible,
                                        lambda s, v: setattr(s, "_dontShowAgainVisible", bool(v)))

    # -- type only (parameter-node GUI connectors compare widget types against them) --
    def type_only(name: str, base: type, header: str) -> type:
        return type(name, (base,), {"__doc__": f"{header} (type only: not used by the module's .ui).",
                                    "__module__": "ctk"})

    classes = {
        "ctkCollapsibleButton": ctkCollapsibleButton,
        "ctkPathLineEdit": ctkPathLineEdit,
        "ctkSliderWidget": ctkSliderWidget,
        "ctkMessageBox": ctkMessageBox,
        "ctkCheckBox": type_only("ctkCheckBox", qt.QCheckBox, "Libs/Widgets/ctkCheckBox.h"),
        "ctkPushButton": type_only("ctkPushButton", qt.QPushButton, "Libs/Widgets/ctkPushButton.h"),
        "ctkComboBox": type_only("ctkComboBox", qt.QComboBox, "Libs/Widgets/ctkComboBox.h"),
        "ctkDoubleSlider": type_only("ctkDoubleSlider", qt.QWidget, "Libs/Widgets/ctkDoubleSlider.h"),
        "ctkDoubleSpinBox": type_only("ctkDoubleSpinBox", qt.QWidget, "Libs/Widgets/ctkDoubleSpinBox.h"),
        "ctkRangeWidget": type_only("ctkRangeWidget", qt.QWidget, "Libs/Widgets/ctkRangeWidget.h"),
        "ctkDoubleRangeSlider": type_only("ctkDoubleRangeSlider", qt.QWidget, "Libs/Widgets/ctkDoubleRangeSlider.h"),
        "ctkDirectoryButton": type_only("ctkDirectoryButton", qt.QWidget, "Libs/Widgets/ctkDirectoryButton.h"),
        "ctkColorPickerButton": type_only("ctkColorPickerButton", qt.QPushButton, "Libs/Widgets/ctkColorPickerButton.h"),
    }
    classes["ctkCheckablePushButton"] = type_only("ctkCheckablePushButton", classes["ctkPushButton"],
                                                  "Libs/Widgets/ctkCheckablePushButton.h")
    module = types.ModuleType("ctk", "CTK widgets (harness stand-ins written from the CTK headers)")
    for name, cls in classes.items():
        cls.__module__ = "ctk"
        cls.__qualname__ = name
        setattr(module, name, cls)
    return module, classes
