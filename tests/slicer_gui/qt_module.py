"""The ``qt`` module of a harness session: real PySide6 classes with PythonQt's API.

Every ``qt.<QObject class>`` is a PySide6 subclass built by :func:`pythonqt.make_wrapper` (Q_PROPERTYs
as attributes, ``connect("signal(args)", callable)``, ...). Classes that are not QObjects
(``qt.QColor``, ``qt.QPixmap``, ``qt.Qt`` ...) are PySide6's own: PythonQt wraps them without
changing their API in a way a module could notice, and PySide6 accepts the enum spellings PythonQt
uses (``qt.QMessageBox.Ok``, ``qt.Qt.AlignCenter``).

Modal dialogs do not block: ``exec()`` / ``exec_()`` of a message box (and the static
``QFileDialog`` / ``QInputDialog`` / ``QMessageBox`` helpers) record what would have been shown in the
session's :class:`DialogRecorder` and return the answer the test queued (or the "dismiss"
answer: Ok for a message with only Ok, otherwise the escape button / an empty path). Everything
up to the Qt call is Slicer's real code (``slicer.util.errorDisplay`` -> ``_messageDisplay`` ->
``messageBox`` -> ``ctk.ctkMessageBox(...).exec_()``).

``qt.QUiLoader`` loads a ``.ui`` as Qt Designer's loader does (QFormBuilder underneath), creating
``qt.*`` wrappers for Qt classes and the session's stand-ins for CTK / qMRML / qSlicer classes.
Two parts of the file are handled here instead of by QFormBuilder because PySide6 cannot express
them for classes written in Python: ``<enum>`` / ``<set>`` values of stand-in properties
(``ctkPathLineEdit::Dirs``: resolved on the stand-in class) and the ``<connections>`` section
(made through the same signature bridge as ``connect()``). Unknown classes, unresolvable values
and missing signals or slots are recorded as Qt warnings, as Designer / QObject::connect print them.
"""

from __future__ import annotations

import collections
import dataclasses
import types
import xml.etree.ElementTree as ET
from typing import Any

from PySide6 import QtCore, QtGui, QtUiTools, QtWidgets

from . import pythonqt

# -- dialogs ------------------------------------------------------------------------------------------


@dataclasses.dataclass
class ShownDialog:
    """A dialog that the module opened (modal in Slicer; answered at once here)."""

    kind: str
    title: str = ""
    text: str = ""
    informative: str = ""
    detailed: str = ""
    icon: str = ""
    buttons: list[str] = dataclasses.field(default_factory=list)
    answer: Any = None
    queued: bool = False  # True when the test gave the answer, False for the default dismissal

    def __str__(self) -> str:
        return f"{self.kind} [{self.icon}] {self.title!r}: {self.text!r} -> {self.answer!r}"


class DialogRecorder:
    """What the user was shown, and the answers the test gives (first in, first out)."""

    def __init__(self) -> None:
        self.shown: list[ShownDialog] = []
        self._answers: collections.deque = collections.deque()

    def answer(self, *answers) -> None:
        """Queue answers: a ``qt.QMessageBox`` standard button, a path (file dialogs), a
        ``(text, ok)`` pair (input dialogs), or a callable ``f(ShownDialog) -> answer``."""
        self._answers.extend(answers)

    def _take(self, shown: ShownDialog, default):
        if self._answers:
            value = self._answers.popleft()
            if callable(value):
                value = value(shown)
            shown.queued = True
            return value
        return default

    def message_boxes(self, icon: str | None = None) -> list[ShownDialog]:
        return [d for d in self.shown if d.kind.endswith("MessageBox") and (icon is None or d.icon == icon)]

    def errors(self) -> list[ShownDialog]:
        return self.message_boxes("Critical")

    def texts(self) -> list[str]:
        return [d.text for d in self.shown]


_RECORDER: DialogRecorder | None = None


def set_recorder(recorder: DialogRecorder | None) -> None:
    global _RECORDER
    _RECORDER = recorder


def recorder() -> DialogRecorder:
    if _RECORDER is None:  # pragma: no cover
        raise RuntimeError("no Slicer session is active")
    return _RECORDER


_SB = QtWidgets.QMessageBox.StandardButton
_ESCAPE_ORDER = (_SB.Cancel, _SB.No, _SB.Abort, _SB.Close, _SB.Ignore, _SB.NoToAll, _SB.Discard)


def _buttons_of(box: QtWidgets.QMessageBox) -> list:
    mask = int(QtWidgets.QMessageBox.standardButtons(box))
    seen, out = set(), []
    for b in _SB:
        if b.value and b.value not in seen and (mask & b.value) == b.value and b.name not in ("FirstButton", "LastButton",
                                                                                          "ButtonMask", "Default",
                                                                                          "Escape", "FlagMask"):
            seen.add(b.value)
            out.append(b)
    return out


def _exec_message_box(box: QtWidgets.QMessageBox, kind: str) -> int:
    rec = recorder()
    buttons = _buttons_of(box)
    icon = QtWidgets.QMessageBox.icon(box)
    shown = ShownDialog(kind=kind, title=QtWidgets.QMessageBox.windowTitle(box), text=QtWidgets.QMessageBox.text(box),
                        informative=QtWidgets.QMessageBox.informativeText(box),
                        detailed=QtWidgets.QMessageBox.detailedText(box),
                        icon=getattr(icon, "name", str(icon)), buttons=[b.name for b in buttons])
    rec.shown.append(shown)
    if len(buttons) <= 1:
        default = buttons[0] if buttons else _SB.Ok
    else:
        default = next((b for b in _ESCAPE_ORDER if b in buttons), buttons[-1])
    answer = rec._take(shown, default)
    answer = _SB(int(answer)) if not isinstance(answer, _SB) else answer
    shown.answer = answer
    button = QtWidgets.QMessageBox.button(box, answer)
    if button is not None:
        # Let Qt do what a click does (clickedButton(), buttonClicked, finished) without a window.
        box.setAttribute(QtCore.Qt.WA_DontShowOnScreen, True)
        QtWidgets.QMessageBox.show(box)
        button.click()
    return answer


def _exec_dialog(dialog: QtWidgets.QDialog, kind: str) -> int:
    rec = recorder()
    shown = ShownDialog(kind=kind, title=QtWidgets.QDialog.windowTitle(dialog))
    rec.shown.append(shown)
    answer = rec._take(shown, QtWidgets.QDialog.DialogCode.Rejected)
    shown.answer = answer
    return int(answer)


def _message_box_extra() -> dict[str, Any]:
    def exec_(self):
        return _exec_message_box(self, type(self).__name__)

    def static(icon_name: str):
        def f(parent, title, text, buttons=None, defaultButton=None):  # noqa: ARG001
            rec = recorder()
            if buttons is None:
                buttons = _SB.Yes | _SB.No if icon_name == "Question" else _SB.Ok
            mask = int(buttons)
            names = [b for b in _SB if b.value and (mask & b.value) == b.value and b.name in _SB.__members__]
            shown = ShownDialog(kind="QMessageBox", title=title, text=text, icon=icon_name,
                                buttons=[b.name for b in names])
            rec.shown.append(shown)
            default = names[0] if len(names) <= 1 else next((b for b in _ESCAPE_ORDER if b in names), names[-1])
            answer = rec._take(shown, default)
            shown.answer = answer
            return _SB(int(answer))

        return staticmethod(f)

    return {"exec": exec_, "exec_": exec_, "critical": static("Critical"), "warning": static("Warning"),
            "information": static("Information"), "question": static("Question")}


def _file_dialog_extra() -> dict[str, Any]:
    def static(kind: str):
        # PythonQt returns the path(s) only (the selected filter is an out-argument it drops).
        def f(parent=None, caption="", directory="", *args, **kwargs):  # noqa: ARG001
            rec = recorder()
            shown = ShownDialog(kind=f"QFileDialog.{kind}", title=caption, text=str(directory))
            rec.shown.append(shown)
            answer = rec._take(shown, "" if kind != "getOpenFileNames" else [])
            shown.answer = answer
            return answer

        return staticmethod(f)

    def exec_(self):
        return _exec_dialog(self, "QFileDialog")

    return {"getExistingDirectory": static("getExistingDirectory"),
            "getOpenFileName": static("getOpenFileName"),
            "getOpenFileNames": static("getOpenFileNames"),
            "getSaveFileName": static("getSaveFileName"),
            "exec": exec_, "exec_": exec_}


def _input_dialog_extra() -> dict[str, Any]:
    def static(kind: str):
        def f(parent, title, label, *args, **kwargs):  # noqa: ARG001
            rec = recorder()
            shown = ShownDialog(kind=f"QInputDialog.{kind}", title=title, text=label)
            rec.shown.append(shown)
            answer = rec._take(shown, "")
            shown.answer = answer
            return answer  # PythonQt: the value; "ok" is an out-argument it does not return

        return staticmethod(f)

    def exec_(self):
        return _exec_dialog(self, "QInputDialog")

    return {"getText": static("getText"), "getInt": static("getInt"), "getDouble": static("getDouble"),
            "getItem": static("getItem"), "exec": exec_, "exec_": exec_}


def _dialog_extra() -> dict[str, Any]:
    def exec_(self):
        return _exec_dialog(self, type(self).__name__)

    return {"exec": exec_, "exec_": exec_}


# -- the loader ---------------------------------------------------------------------------------------


class _UiLoaderBase(QtUiTools.QUiLoader):
    """Designer's loader creating ``qt.*`` wrappers and stand-ins (see module docstring)."""

    qt_module: types.ModuleType  # set on the per-session subclass
    standins: dict[str, type]  # class name -> stand-in class, filled by the session

    def createWidget(self, className, parent=None, name=""):  # noqa: N802 - Qt override
        cls = self.standins.get(className)
        if cls is None and hasattr(QtWidgets, className):
            cls = getattr(self.qt_module, className)
        if cls is None:
            widget = super().createWidget(className, parent, name)
            if widget is None or type(widget).__name__ != className:
                pythonqt.current_log().qt_messages.append(
                    ("warning", f"QFormBuilder was unable to create a widget of the class '{className}'."))
            return widget
        widget = cls(parent) if parent is not None else cls()
        widget.setObjectName(name)
        return widget

    def createLayout(self, className, parent=None, name=""):  # noqa: N802 - Qt override
        cls = getattr(self.qt_module, className, None)
        if cls is None:
            return super().createLayout(className, parent, name)
        layout = cls() if (parent is None or isinstance(parent, QtWidgets.QLayout)) else cls(parent)
        layout.setObjectName(name)
        return layout

    def load(self, device, parentWidget=None):  # noqa: N802,N803 - Qt API
        if isinstance(device, str):
            file = QtCore.QFile(device)
            file.open(QtCore.QIODevice.ReadOnly)
            device = file
        data = bytes(device.readAll().data())
        root = ET.fromstring(data)
        deferred = self._take_standin_enum_properties(root)
        connections = root.find("connections")
        if connections is not None:
            root.remove(connections)
        buffer = QtCore.QBuffer()
        buffer.setData(ET.tostring(root, encoding="utf-8"))
        buffer.open(QtCore.QIODevice.ReadOnly)
        widget = super().load(buffer, parentWidget)
        if widget is None:
            return None
        self._apply_deferred(widget, deferred)
        if connections is not None:
            self._connect(widget, connections)
        return widget

    # <enum>/<set> values of stand-in properties
    def _take_standin_enum_properties(self, root) -> list[tuple[str, str, str, str]]:
        deferred = []
        for w in root.iter("widget"):
            if w.get("class") not in self.standins:
                continue
            for prop in list(w.findall("property")):
                value = prop.find("enum")
                if value is None:
                    value = prop.find("set")
                if value is not None:
                    deferred.append((w.get("name"), w.get("class"), prop.get("name"), value.text or ""))
                    w.remove(prop)
        return deferred

    def _apply_deferred(self, top, deferred) -> None:
        for widget_name, class_name, prop, text in deferred:
            widget = top if QtCore.QObject.objectName(top) == widget_name else QtCore.QObject.findChild(top, QtCore.QObject, widget_name)
            cls = self.standins[class_name]
            total = 0
            ok = True
            for part in text.split("|"):
                key = part.strip().split("::")[-1]
                value = getattr(cls, key, None)
                if not isinstance(value, int):
                    ok = False
                    break
                total |= int(value)
            if not ok or widget is None or not widget.setProperty(prop, total):
                pythonqt.current_log().qt_messages.append(
                    ("warning", f"Designer: The value \"{text}\" of the property {prop} could not be read."))

    def _connect(self, top, connections) -> None:
        for conn in connections.findall("connection"):
            names = {child.tag: (child.text or "") for child in conn}
            sender = top if QtCore.QObject.objectName(top) == names.get("sender") else \
                QtCore.QObject.findChild(top, QtCore.QObject, names.get("sender", ""))
            receiver = top if QtCore.QObject.objectName(top) == names.get("receiver") else \
                QtCore.QObject.findChild(top, QtCore.QObject, names.get("receiver", ""))
            if sender is None or receiver is None:
                pythonqt.current_log().qt_messages.append(
                    ("warning", f"Designer: connection: no object {names.get('sender')!r} / {names.get('receiver')!r}"))
                continue
            sig = pythonqt.resolve_signal(sender, names.get("signal", ""))
            slot = pythonqt.resolve_slot(receiver, names.get("slot", ""))
            if sig is None or slot is None:
                pythonqt.current_log().qt_messages.append(
                    ("warning", f"QObject::connect: No such {'signal' if sig is None else 'slot'} "
                                f"{names.get('signal') if sig is None else names.get('slot')} "
                                f"({sender.metaObject().className()} -> {receiver.metaObject().className()})"))
                continue
            QtCore.QObject.connect(sender, QtCore.SIGNAL(sig), receiver, QtCore.SLOT(slot))


# -- the module ---------------------------------------------------------------------------------------

_SOURCES = (QtWidgets, QtGui, QtCore, QtUiTools)
_SPECIAL = {
    "QMessageBox": _message_box_extra,
    "QFileDialog": _file_dialog_extra,
    "QInputDialog": _input_dialog_extra,
    "QDialog": _dialog_extra,
}


def build_qt_module() -> types.ModuleType:
    """A fresh ``qt`` module (one per session: its classes are the session's own)."""
    mod = types.ModuleType("qt", "PythonQt's Qt module (harness: PySide6 underneath)")
    cache: dict[str, Any] = {}

    def lookup(name: str):
        if name in cache:
            return cache[name]
        if name.startswith("__"):
            raise AttributeError(name)
        for source in _SOURCES:
            if hasattr(source, name):
                obj = getattr(source, name)
                break
        else:
            raise AttributeError(f"module 'qt' has no attribute '{name}'")
        if isinstance(obj, type) and issubclass(obj, QtCore.QObject) and name != "QUiLoader":
            extra = _SPECIAL.get(name, lambda: {})()
            obj = pythonqt.make_wrapper(obj, extra)
        cache[name] = obj
        setattr(mod, name, obj)
        return obj

    mod.__getattr__ = lookup  # PEP 562: qt.<Name> is built on first use

    loader_cls = type("QUiLoader", (_UiLoaderBase,), {"qt_module": mod, "standins": {}, "__module__": "qt"})
    mod.QUiLoader = loader_cls
    cache["QUiLoader"] = loader_cls
    return mod
