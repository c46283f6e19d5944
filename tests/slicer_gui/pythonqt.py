"""PythonQt's Python API, over real PySide6 objects.

Slicer exposes Qt to Python through PythonQt (commontk/PythonQt, branch ``patched-10``), not
PySide. What a scripted module sees differs from PySide in a few ways that matter for a test
that wants to fail where Slicer fails; this module reproduces them on top of real PySide6
widgets, from PythonQt's sources:

* **Properties are attributes** (``label.text``, ``button.enabled = False``) and a property
  shadows the getter of the same name (``label.text()`` raises ``TypeError: 'str' object is
  not callable``): ``PythonQtClassInfo::member`` looks for a property first
  (``lookForPropertyAndCache``), then methods (src/PythonQtClassInfo.cpp). ``name`` maps to
  ``objectName`` (``PYTHONQT_SUPPORT_NAME_PROPERTY``, which Slicer defines). ``QTimer`` has no
  ``singleShot`` property there (same function).
* **Attribute lookup order** (``PythonQtInstanceWrapper_getattro``, src/PythonQtInstanceWrapper.cpp):
  Python attributes, then properties / slots / signals / enums, then dynamic properties, then
  a child object whose ``objectName`` is the attribute name; otherwise ``AttributeError``
  "``<Class> has no attribute named '<name>'``".
* **String connections** ``obj.connect("clicked(bool)", callable)`` and ``disconnect``
  (``PythonQtStdDecorators::connect``, src/PythonQtStdDecorators.cpp): the signature is looked up
  in the object's meta-object after ``QMetaObject::normalizedSignature``; an unknown signal prints
  "PythonQt: QObject::connect() signal '...' does not exist on ..." and returns False (no
  exception). Here that warning is also recorded in the session's log so that tests can fail on it.
* **Arguments are trimmed to what the Python callable takes** (``PythonQtSignalTarget::call``,
  src/PythonQtSignalReceiver.cpp): for a function or bound method without ``*args`` only its
  first ``co_argcount`` (minus ``self``) signal arguments are passed.
* **Errors in Python slots do not propagate**: ``PythonQt::self()->handleError()`` prints the
  traceback and the signal emission (or the C++ caller: ``qSlicerPythonCppAPI::callMethod``)
  goes on. The harness records each such error (:class:`PythonQtLog`), so tests can assert that
  none happened - the equivalent of reading Slicer's Python console.

C++ signatures of stand-in classes (CTK / qMRML / qSlicer widgets written in Python) contain
types PySide6 cannot marshal (``vtkMRMLNode*``); each stand-in lists its C++ signals and slots
(``CPP_SIGNALS`` / ``CPP_SLOTS``) and the bridge translates them to the PySide6 signatures
(pointer arguments become ``PyObject``). A signature a header does not declare is unknown here,
as in Slicer.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import traceback
import types
from typing import Any

from PySide6 import QtCore

# -- the session's log (what Slicer's Python console / application log would show) ------------------


@dataclasses.dataclass
class LoggedError:
    """One Python error that PythonQt's ``handleError`` (or Slicer's C++ caller) would print."""

    where: str
    exc_type: str
    message: str
    traceback: str

    def __str__(self) -> str:
        return f"[{self.where}] {self.exc_type}: {self.message}\n{self.traceback}"

    def short(self) -> str:
        """One line: where, the error, and the innermost frame of the traceback."""
        frames = [line.strip() for line in self.traceback.splitlines() if line.strip().startswith("File ")]
        at = f" (at {frames[-1]})" if frames else ""
        return f"[{self.where}] {self.exc_type}: {self.message}{at}"


@dataclasses.dataclass
class PythonQtLog:
    """Errors and warnings of one session: Python errors swallowed by PythonQt, PythonQt's own
    warnings (unknown signal, ...) and Qt's warning messages (qWarning / qCritical)."""

    errors: list[LoggedError] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)
    qt_messages: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    def record_error(self, where: str, exc: BaseException) -> None:
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.errors.append(LoggedError(where, type(exc).__name__, str(exc), tb))
        # PythonQt prints the traceback on the console; so do we (pytest shows it on failure).
        sys.stderr.write(f"PythonQt (harness) - error in {where}:\n{tb}")

    def record_warning(self, text: str) -> None:
        self.warnings.append(text)
        sys.stderr.write(text + "\n")


_LOG: PythonQtLog | None = None


def set_log(log: PythonQtLog | None) -> None:
    global _LOG
    _LOG = log


def current_log() -> PythonQtLog:
    if _LOG is None:  # pragma: no cover - only reached when the harness is misused
        raise RuntimeError("no Slicer session is active")
    return _LOG


def handle_error(where: str, exc: BaseException) -> None:
    """PythonQt::self()->handleError(): print (here: record) and swallow."""
    current_log().record_error(where, exc)


# -- signatures ---------------------------------------------------------------------------------

_POINTER_ARG = re.compile(r"^(const\s+)?[A-Za-z_][A-Za-z0-9_:]*\s*\*$")


def normalized(signature: str) -> str:
    """``QMetaObject::normalizedSignature``."""
    return bytes(QtCore.QMetaObject.normalizedSignature(signature).data()).decode()


def split_signature(signature: str) -> tuple[str, list[str]]:
    name, _, rest = signature.partition("(")
    args = rest.rsplit(")", 1)[0].strip()
    return name.strip(), [a.strip() for a in args.split(",")] if args else []


def pyside_signature(cpp_signature: str) -> str:
    """The PySide6 meta-object signature of a stand-in's C++ signal or slot: pointer arguments
    (``vtkMRMLNode*``, ``vtkMRMLScene*`` ...) are carried as ``PyObject``."""
    name, args = split_signature(normalized(cpp_signature))
    out = []
    for arg in args:
        if _POINTER_ARG.match(arg):
            out.append("PyObject")
        else:
            out.append(arg)
    return f"{name}({','.join(out)})"


def _declared(cls: type, attr: str) -> set[str]:
    found: set[str] = set()
    for klass in cls.__mro__:
        found.update(normalized(s) for s in klass.__dict__.get(attr, ()))
    return found


def resolve_signal(obj: QtCore.QObject, signature: str) -> str | None:
    """The meta-object signature to connect for ``signature`` (a C++ signature as written in
    Slicer code), or None when ``obj`` has no such signal."""
    sig = normalized(signature)
    if sig in _declared(type(obj), "CPP_SIGNALS"):
        sig = pyside_signature(sig)
    meta = obj.metaObject()
    index = meta.indexOfSignal(sig)
    return sig if index >= 0 else None


def resolve_slot(obj: QtCore.QObject, signature: str) -> str | None:
    sig = normalized(signature)
    if sig in _declared(type(obj), "CPP_SLOTS"):
        sig = pyside_signature(sig)
    meta = obj.metaObject()
    index = meta.indexOfSlot(sig)
    if index < 0:
        index = meta.indexOfMethod(sig)
    return sig if index >= 0 else None


def python_arg_count(callable_: Any) -> int | None:
    """How many signal arguments PythonQt passes to ``callable_`` (``PythonQtSignalTarget::call``):
    ``co_argcount`` of a function, minus one for a bound method; None (all) otherwise or with *args."""
    if isinstance(callable_, types.FunctionType):
        code = callable_.__code__
        return None if code.co_flags & 0x04 else code.co_argcount  # CO_VARARGS
    if isinstance(callable_, types.MethodType) and isinstance(callable_.__func__, types.FunctionType):
        code = callable_.__func__.__code__
        return None if code.co_flags & 0x04 else code.co_argcount - 1
    return None


def make_target(callable_: Any, description: str):
    """The receiver PythonQt creates for a Python callable: trims arguments, swallows errors."""
    count = python_arg_count(callable_)

    def target(*args):
        if count is not None:
            args = args[:count]
        try:
            callable_(*args)
        except BaseException as exc:  # noqa: BLE001 - PythonQt prints and continues
            handle_error(description, exc)

    target.__name__ = f"pythonqt_target_{getattr(callable_, '__name__', 'callable')}"
    return target


# -- the wrapper types ----------------------------------------------------------------------------

_ShibokenType = type(QtCore.QObject)


class WrapperMeta(_ShibokenType):
    """Metaclass of the ``qt.*`` classes. Each is a PySide6 subclass (so that ``type(widget) ==
    qt.QCheckBox`` - as the parameter-node GUI connectors test - holds for widgets the loader
    creates); ``isinstance(obj, qt.QWidget)`` is true for any QWidget, as in PythonQt where
    ``qt.QWidget`` is the one wrapper of the C++ class.

    PySide6 resolves ``connect`` / ``disconnect`` of a QObject to its own methods unless the
    object's *own* class defines them, so every class made with this metaclass (wrappers,
    stand-ins and their subclasses) gets PythonQt's methods in its namespace."""

    def __new__(mcs, name, bases, namespace, **kwargs):
        for attr in _PYTHONQT_METHODS:
            if attr not in namespace:
                namespace[attr] = PythonQtObject.__dict__[attr]
        return super().__new__(mcs, name, bases, namespace, **kwargs)

    def __instancecheck__(cls, obj):
        base = cls.__dict__.get("_qt_base")
        if base is not None:
            return isinstance(obj, base)
        return super().__instancecheck__(obj)

    def __subclasscheck__(cls, sub):
        base = cls.__dict__.get("_qt_base")
        if base is not None:
            return issubclass(sub, base)
        return super().__subclasscheck__(sub)


class MetaProperty:
    """A Q_PROPERTY as a Python attribute (``PythonQtInstanceWrapper_getattro`` / ``setattro``)."""

    def __init__(self, name: str, fallback: Any = None) -> None:
        self.name = name
        self.fallback = fallback  # what the PySide class has under that name (class-level access)

    def __get__(self, obj, cls=None):
        if obj is None:
            return self.fallback if self.fallback is not None else self
        return obj.property(self.name)

    def __set__(self, obj, value):
        if not obj.setProperty(self.name, value):
            raise AttributeError(
                f"Property '{self.name}' of type '{_property_type(obj, self.name)}' does not accept an object "
                f"of type {type(value).__name__} ({value!r})")


def _property_type(obj, name: str) -> str:
    meta = obj.metaObject()
    index = meta.indexOfProperty(name)
    return meta.property(index).typeName() if index >= 0 else "?"


class PythonQtObject:
    """Mixin of every ``qt.*`` wrapper and every stand-in: PythonQt's extra methods and lookup."""

    # -- PythonQt decorators on QObject (src/PythonQtStdDecorators.h) --
    def connect(self, signal: str, receiver_or_callable, slot: str | None = None, *_type) -> bool:
        if not signal:
            current_log().record_warning("PythonQt: QObject::connect() signal is empty.")
            return False
        sig = resolve_signal(self, signal)
        if sig is None:
            current_log().record_warning(
                f"PythonQt: QObject::connect() signal '{signal}' does not exist on {self.metaObject().className()}")
            return False
        if slot is not None:  # connect(signal, receiver QObject, slot signature)
            receiver = receiver_or_callable
            slot_sig = resolve_slot(receiver, slot)
            if slot_sig is None:
                current_log().record_warning(
                    f"QObject::connect: No such slot {receiver.metaObject().className()}::{slot}")
                return False
            return bool(QtCore.QObject.connect(self, QtCore.SIGNAL(sig), receiver, QtCore.SLOT(slot_sig)))
        if not callable(receiver_or_callable):
            raise TypeError(f"connect(): {receiver_or_callable!r} is not callable")
        where = f"{self.metaObject().className()}.{normalized(signal)} -> " \
                f"{getattr(receiver_or_callable, '__qualname__', repr(receiver_or_callable))}"
        target = make_target(receiver_or_callable, where)
        QtCore.QObject.connect(self, QtCore.SIGNAL(sig), target)
        self.__dict__.setdefault("_pythonqt_targets", []).append((sig, receiver_or_callable, target))
        return True

    def disconnect(self, signal: str, receiver_or_callable=None, slot: str | None = None) -> bool:
        sig = resolve_signal(self, signal)
        if sig is None:
            current_log().record_warning(
                f"PythonQt: QObject::disconnect() signal '{signal}' does not exist on {self.metaObject().className()}")
            return False
        if slot is not None:
            slot_sig = resolve_slot(receiver_or_callable, slot)
            return bool(QtCore.QObject.disconnect(self, QtCore.SIGNAL(sig), receiver_or_callable,
                                                  QtCore.SLOT(slot_sig or slot)))
        targets = self.__dict__.get("_pythonqt_targets", [])
        found = False
        for entry in list(targets):
            esig, callable_, target = entry
            if esig == sig and (receiver_or_callable is None or callable_ == receiver_or_callable):
                QtCore.QObject.disconnect(self, QtCore.SIGNAL(sig), target)
                targets.remove(entry)
                found = True
        return found

    def className(self) -> str:
        return self.metaObject().className()

    def findChildren(self, type_=None, name: str = "", *args):
        base = getattr(type_, "__dict__", {}).get("_qt_base", type_) if type_ is not None else _qt_base_of(self)
        if base is None:
            base = QtCore.QObject
        return _pyside_find_children(self, base, name, *args)

    def findChild(self, type_=None, name: str = "", *args):
        base = getattr(type_, "__dict__", {}).get("_qt_base", type_) if type_ is not None else QtCore.QObject
        return _pyside_find_child(self, base, name, *args)

    def __getattr__(self, name: str):
        # Only reached when normal lookup failed (PythonQtInstanceWrapper_getattro, NotFound branch).
        if name.startswith("__") or name.startswith("_pythonqt"):
            raise AttributeError(name)
        try:
            value = QtCore.QObject.property(self, name)
        except (RuntimeError, TypeError):
            value = None
        if value is not None:
            return value
        try:
            children = QtCore.QObject.children(self)
        except RuntimeError:
            children = []
        for child in children:
            if QtCore.QObject.objectName(child) == name:
                return child
        raise AttributeError(f"{type(self).__name__} has no attribute named '{name}'")


_PYTHONQT_METHODS = ("connect", "disconnect", "className", "findChildren", "findChild", "__getattr__")


def _qt_base_of(obj) -> type | None:
    for klass in type(obj).__mro__:
        base = klass.__dict__.get("_qt_base")
        if base is not None:
            return base
    return None


def _pyside_find_children(obj, base, name="", *args):
    return QtCore.QObject.findChildren(obj, base, name, *args)


def _pyside_find_child(obj, base, name="", *args):
    return QtCore.QObject.findChild(obj, base, name, *args)


#: Properties PythonQt hides (PythonQtClassInfo::lookForPropertyAndCache).
_HIDDEN_PROPERTIES = {"QTimer": {"singleShot"}}


def wrapper_namespace(qcls: type) -> dict[str, Any]:
    """Class attributes of the ``qt.<Class>`` wrapper of PySide6 class ``qcls``: one
    :class:`MetaProperty` per Q_PROPERTY of the class and its bases."""
    meta = qcls.staticMetaObject
    hidden = _HIDDEN_PROPERTIES.get(qcls.__name__, set())
    ns: dict[str, Any] = {"_qt_base": qcls, "__module__": "qt", "__qualname__": qcls.__name__}
    for i in range(meta.propertyCount()):
        name = meta.property(i).name()
        if name in hidden:
            continue
        ns[name] = MetaProperty(name, getattr(qcls, name, None))
    if "name" not in ns:
        ns["name"] = MetaProperty("objectName")
    return ns


def make_wrapper(qcls: type, extra: dict[str, Any] | None = None, name: str | None = None) -> type:
    """The ``qt.<Class>`` wrapper of a PySide6 QObject class."""
    ns = wrapper_namespace(qcls)
    ns.update(extra or {})
    return WrapperMeta(name or qcls.__name__, (PythonQtObject, qcls), ns)


def standin_namespace_check(cls: type) -> type:
    """Class decorator for stand-ins: checks that every declared C++ signal / slot has its
    PySide6 counterpart (so a typo in a stand-in cannot hide a module's mistake)."""
    meta = cls.staticMetaObject
    for sig in cls.__dict__.get("CPP_SIGNALS", ()):
        if meta.indexOfSignal(pyside_signature(sig)) < 0:
            raise TypeError(f"{cls.__name__}: C++ signal {sig} has no PySide6 counterpart {pyside_signature(sig)}")
    for sig in cls.__dict__.get("CPP_SLOTS", ()):
        if meta.indexOfMethod(pyside_signature(sig)) < 0:
            raise TypeError(f"{cls.__name__}: C++ slot {sig} has no PySide6 counterpart {pyside_signature(sig)}")
    return cls
