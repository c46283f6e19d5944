"""One Slicer session: a release's Python layer + the module, started the way Slicer starts.

:class:`SlicerSession` isolates everything it changes and restores it on :meth:`stop`:

* ``sys.modules``: ``qt``, ``ctk``, ``slicer.*`` submodules of the Python layer, ``sitkUtils``,
  ``ALNPredictor`` and ``ALNPredictorLib*`` are removed before the session and the previous
  entries put back afterwards, so that a release never leaks into another or into the rest of the
  suite (where ``ALNPredictorLib.logic`` runs headless);
* the ``slicer`` package of the slicer-core wheel: its attributes (``app``, ``modules``,
  ``mrmlScene``, ``util``, the qMRML classes, loadable-module classes hidden until their module is
  instantiated) and ``__path__`` (the release's ``Base/Python/slicer`` first, so that lazy
  imports such as ``slicer.packaging`` come from the release);
* ``sys.path``, ``sys.excepthook``, Qt's message handler, QSettings' default format and folder
  (a folder of the session's own), the application-wide override cursor.

Each session has its own MRML scene, made by the module's own
``ALNPredictorLib.headless.headless_context`` (a fresh import, before ``slicer.app`` exists), with
the Colors / Markups / Segmentations / SubjectHierarchy / Volumes logics registered on the
application logic. Start-up then follows Slicer (see :mod:`.application`): register, instantiate
alphabetically (a loadable module's Python classes appear when it is instantiated), load with
dependencies, ``startupCompleted``.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import time
import types
import weakref
from pathlib import Path

from . import application, ctk_widgets, mrml_widgets, pythonqt, qt_module
from .releases import Release

ROOT = Path(__file__).resolve().parents[2]
MODULE_FILE = ROOT / "ALNPredictor" / "ALNPredictor.py"

#: sys.modules entries a session replaces (exact names, and names below them).
_MANAGED = ("qt", "ctk", "sitkUtils", "slicerqt", "ALNPredictor", "ALNPredictorLib", "slicer.util",
            "slicer.parameterNodeWrapper", "slicer.ScriptedLoadableModule", "slicer.i18n", "slicer.packaging",
            "slicer.cli", "slicer.testing", "slicer.logic", "slicer.modules", "slicer.moduleNames",
            "slicer.slicerqt", "slicer.kits")

#: Standard-library modules that exist on Unix only (hidden by ``simulate_windows``).
_UNIX_ONLY = ("resource", "fcntl", "termios")

#: Loadable modules of the harness application (their logics come from headless_context) and
#: their titles (qSlicer<Name>Module::title()).
LOADABLE_MODULES = {"Colors": "Colors", "Markups": "Markups", "Segmentations": "Segmentations",
                    "SubjectHierarchy": "Subject hierarchy", "Volumes": "Volumes"}

#: Qt messages that say nothing about the module (offscreen platform plugin chatter).
IGNORED_QT_MESSAGES = (
    re.compile(r"This plugin does not support"),
    re.compile(r"^QFont::"),
    re.compile(r"propagateSizeHints"),
    re.compile(r"Populating font family aliases"),
)

_QAPP = None


def qapplication():
    """The process's one QApplication (offscreen)."""
    global _QAPP
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6 import QtWidgets

    _QAPP = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["slicer-harness"])
    return _QAPP


def _managed(name: str) -> bool:
    return any(name == m or name.startswith(m + ".") for m in _MANAGED)


def _loadable_module_classes() -> dict[str, set[str]]:
    """Class names of the slicer-core wheel that belong to a loadable module's libraries
    (``vtkSlicer<Module>Module{MRML,Logic,...}``) -> module name."""
    import slicer_core

    out: dict[str, set[str]] = {}
    pattern = re.compile(r"^vtkSlicer(\w+?)Module(MRML|Logic|MRMLDisplayableManager|VTKWidgets)$")
    for name in dir(slicer_core):
        match = pattern.match(name)
        sub = getattr(slicer_core, name)
        if match and isinstance(sub, types.ModuleType):
            out.setdefault(match.group(1), set()).update(n for n in dir(sub) if n.startswith("vtk"))
    return out


class SlicerSession:
    """A Slicer application of one release with the ALNPredictor module (see module docstring)."""

    def __init__(self, release: Release, workdir: Path, shared: Path | None = None,
                 scripted_modules: tuple[Path, ...] = (MODULE_FILE,), simulate_windows: bool = False) -> None:
        """
        :param simulate_windows: run as on Windows as far as Python imports go: the Unix-only standard
            modules (``resource``) cannot be imported, and the ``alnpredictor`` package is imported
            afresh inside the session so that its imports happen under that rule.
        """
        from alnpredictor.config import shared_dir

        self.release = release
        self.workdir = Path(workdir)
        self.shared = Path(shared) if shared is not None else shared_dir()
        self.python_dir = release.python_dir(self.shared)
        self.scripted_modules = tuple(Path(p) for p in scripted_modules)
        self.simulate_windows = simulate_windows
        self.log = pythonqt.PythonQtLog()
        self.dialogs = qt_module.DialogRecorder()
        self.started = False
        self._saved: dict = {}
        self._widgets: list = []  # stand-in instances (their observers are detached at the end)
        self._timers: list = []  # weak references to qt.QTimer objects created in the session

    # -- life cycle --------------------------------------------------------------------------------
    def __enter__(self) -> SlicerSession:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> SlicerSession:
        if not (self.python_dir / "slicer" / "util.py").is_file():
            raise FileNotFoundError(f"Slicer's Python layer for {self.release} not found at {self.python_dir} "
                                    "(set ALNPREDICTOR_SHARED to the folder holding third-party/slicer-python)")
        app = qapplication()
        import slicer

        if hasattr(slicer, "app"):
            raise RuntimeError("another Slicer session is active (slicer.app exists)")
        self._save_state(slicer)
        try:
            self._start(slicer, app)
        except BaseException:
            self.stop()
            raise
        self.started = True
        return self

    def _save_state(self, slicer) -> None:
        from PySide6 import QtCore

        self._saved = {
            "modules": {n: m for n, m in sys.modules.items() if _managed(n)},
            "slicer_dict": dict(slicer.__dict__),
            "slicer_path": list(slicer.__path__),
            "sys_path": list(sys.path),
            "excepthook": sys.excepthook,
            "settings_format": QtCore.QSettings.defaultFormat(),
            "org": (QtCore.QCoreApplication.organizationName(), QtCore.QCoreApplication.organizationDomain(),
                    QtCore.QCoreApplication.applicationName()),
        }
        for name in list(self._saved["modules"]):
            del sys.modules[name]
        if self.simulate_windows:
            self._saved["windows"] = {n: m for n, m in sys.modules.items()
                                      if n in _UNIX_ONLY or n == "alnpredictor" or n.startswith("alnpredictor.")}
            for name in self._saved["windows"]:
                del sys.modules[name]
            for name in _UNIX_ONLY:
                sys.modules[name] = None  # "import resource" raises ModuleNotFoundError, as on Windows

    def _start(self, slicer, qapp) -> None:
        from PySide6 import QtCore

        # logs and dialogs first: everything below may report into them
        pythonqt.set_log(self.log)
        qt_module.set_recorder(self.dialogs)

        def message_handler(mode, _context, message):
            kind = {QtCore.QtMsgType.QtWarningMsg: "warning", QtCore.QtMsgType.QtCriticalMsg: "critical",
                    QtCore.QtMsgType.QtFatalMsg: "fatal"}.get(mode, "debug")
            if kind != "debug" and not any(p.search(message) for p in IGNORED_QT_MESSAGES):
                self.log.qt_messages.append((kind, message))

        self._saved["message_handler"] = QtCore.qInstallMessageHandler(message_handler)

        def excepthook(exc_type, exc, tb):  # PySide6 reports exceptions raised in slots here
            self.log.record_error("Qt slot (PySide6 signal emission)", exc.with_traceback(tb))

        sys.excepthook = excepthook

        import threading

        def thread_excepthook(args):  # an uncaught error in a Python thread is printed on the console too
            self.log.record_error(f"Python thread {args.thread.name if args.thread else '?'}",
                                  args.exc_value.with_traceback(args.exc_traceback))

        self._saved["thread_excepthook"] = threading.excepthook
        threading.excepthook = thread_excepthook
        self._threads_before = set(threading.enumerate())

        # Python warnings of the module or of Slicer's Python layer (VTKObservationMixin's "does not
        # have observer" ...) are printed on Slicer's console: record them too.
        import warnings

        original_warn = warnings.warn
        watched = (str(self.python_dir), str(self.scripted_modules[0].parent))
        log = self.log

        def warn(message, category=None, stacklevel=1, source=None, **kwargs):
            frame = sys._getframe(1)
            if frame.f_code.co_filename.startswith(watched):
                log.warnings.append(f"Python warning ({frame.f_code.co_filename}:{frame.f_lineno} in "
                                    f"{frame.f_code.co_name}): {message}")
            return original_warn(message, category, stacklevel + 1, source, **kwargs)

        self._saved["warn"] = original_warn
        warnings.warn = warn

        settings_dir = self.workdir / "settings"
        settings_dir.mkdir(parents=True, exist_ok=True)
        QtCore.QSettings.setDefaultFormat(QtCore.QSettings.IniFormat)
        QtCore.QSettings.setPath(QtCore.QSettings.IniFormat, QtCore.QSettings.UserScope, str(settings_dir))
        QtCore.QCoreApplication.setOrganizationName("NA-MIC")
        QtCore.QCoreApplication.setOrganizationDomain("www.na-mic.org")
        QtCore.QCoreApplication.setApplicationName("Slicer")

        # 1. the scene: the module's own headless context, freshly imported (not yet "in the app")
        # (the module's folder is on Slicer's module path; ALNPredictorLib is imported from there)
        sys.path.insert(0, str(self.scripted_modules[0].parent))
        headless = importlib.import_module("ALNPredictorLib.headless")
        self.context = headless.headless_context()
        self.scene = self.context.scene

        # 2. the slicer namespace as the application has it before modules are instantiated
        self._hidden: dict[str, dict[str, object]] = {}
        by_module = _loadable_module_classes()
        for module, names in self.release.moved_to_core_later.items():
            by_module.setdefault(module, set()).update(names)
        for module, names in by_module.items():
            for name in names:
                if name in slicer.__dict__:
                    self._hidden.setdefault(module, {})[name] = slicer.__dict__.pop(name)
        for name in ("util", "modules", "moduleNames", "mrmlScene", "app", "selfTests"):
            slicer.__dict__.pop(name, None)
        slicer.__path__.insert(0, str(self.python_dir / "slicer"))
        sys.path.insert(0, str(self.python_dir))

        # Base/Python/slicer/__init__.py: slicer.modules and slicer.moduleNames are modules
        for sub in ("modules", "moduleNames"):
            mod = types.ModuleType(sub)
            sys.modules[f"slicer.{sub}"] = mod
            setattr(slicer, sub, mod)

        # 3. qt, ctk and the qMRML kit (PythonQt kits imported with slicer)
        self.qt = qt_module.build_qt_module()
        self._track_timers()
        sys.modules["qt"] = self.qt
        self.ctk, ctk_classes = ctk_widgets.build_ctk_module(self.qt)
        sys.modules["ctk"] = self.ctk
        self.widget_classes = mrml_widgets.build_mrml_widgets(self.qt, self._widgets)
        for name in mrml_widgets.KIT_CLASSES:
            setattr(slicer, name, self.widget_classes[name])
        self.qt.QUiLoader.standins = {**ctk_classes, **self.widget_classes}
        self.classes = application.build_application_classes(self.qt, self.widget_classes)

        # 4. the main window and the module panel (qSlicerMainWindow / qSlicerModulePanel)
        qt = self.qt
        self.main_window = qt.QMainWindow()
        self.main_window.setObjectName("qSlicerMainWindow")
        self.panel_container = qt.QWidget()
        self.panel_container.setObjectName("ModulePanel")
        layout = qt.QVBoxLayout(self.panel_container)
        layout.addWidget(qt.QLabel("Help & Acknowledgement"))
        self.main_window.setCentralWidget(self.panel_container)
        self.main_window.resize(500, 1200)
        self.main_window.show()
        self.panel = self.classes.qSlicerModulePanel(self.panel_container)

        # 5. the application and slicerqt.py's _Internal (Base/Python/slicerqt.py, identical in the
        #    four releases: v5.8.1 / v5.10.0 keep it as Base/Python/slicer/slicerqt.py)
        self.factory = self.classes.qSlicerAbstractModuleFactoryManager()
        self.module_manager = self.classes.qSlicerModuleManager(self.factory)
        (self.workdir / "tmp").mkdir(parents=True, exist_ok=True)
        self.app = self.classes.qSlicerApplication(
            self.release, self.scene, self.context.app_logic, self.module_manager, str(self.workdir / "tmp"),
            str(self.workdir / "slicer-home"), str(settings_dir / "NA-MIC" / "Slicer.ini"))
        slicer.app = self.app
        self.factory.connect("modulesRegistered(QStringList)", self._setSlicerModuleNames)
        self.module_manager.connect("moduleLoaded(QString)", self._setSlicerModules)
        self.module_manager.connect("moduleAboutToBeUnloaded(QString)", self._unsetSlicerModule)
        slicer.mrmlScene = self.app.mrmlScene()

        def _singleShot(msec, receiverOrCallable, member=None):
            timer = qt.QTimer(slicer.app.moduleManager())
            timer.setSingleShot(True)
            if callable(receiverOrCallable):
                timer.connect("timeout()", receiverOrCallable)
            else:
                timer.connect("timeout()", receiverOrCallable, member)
            timer.start(msec)

        qt.QTimer.singleShot = staticmethod(_singleShot)
        importlib.import_module("slicer.util")  # slicerqt.py: from slicer.util import *
        try:
            importlib.import_module("slicer.cli")
        except Exception:  # noqa: BLE001 - slicerqt.py: "try: import slicer.cli except: pass"
            pass

        # 6. start-up: register, instantiate (alphabetically), load
        self._register_modules()
        self._instantiate_modules()
        self._load_modules()
        self.app.startupCompleted.emit()
        self.process_events()

    # slicerqt.py _Internal
    def _setSlicerModuleNames(self, moduleNames):
        import slicer

        for name in moduleNames:
            setattr(slicer.moduleNames, name, name)

    def _setSlicerModules(self, moduleName):
        import slicer

        setattr(slicer.modules, moduleName.lower(), self.module_manager.module(moduleName))

    def _unsetSlicerModule(self, moduleName):
        import slicer

        for attr in (moduleName + "Instance", moduleName + "Widget"):
            if hasattr(slicer.modules, attr):
                delattr(slicer.modules, attr)
        if hasattr(slicer.moduleNames, moduleName):
            delattr(slicer.moduleNames, moduleName)
        if hasattr(slicer.modules, moduleName.lower()):
            delattr(slicer.modules, moduleName.lower())
        selfTests = getattr(slicer, "selfTests", {})
        selfTests.pop(moduleName, None)

    def _register_modules(self) -> None:
        for name in LOADABLE_MODULES:
            self.factory.registered[name] = ("loadable", name)
        for path in self.scripted_modules:
            # ctkFactoryScriptedItem::load: the module's folder is appended to the Python path
            if str(path.parent) not in sys.path:
                sys.path.append(str(path.parent))
            self.factory.registered[path.stem] = ("scripted", path)
        self.factory.modulesRegistered.emit(sorted(self.factory.registered))

    def _instantiate_modules(self) -> None:
        """qSlicerAbstractModuleFactoryManager::instantiateModules: RegisteredModules is a QMap,
        iterated in key order (QString::operator<, i.e. code-point order)."""
        import slicer

        for name in sorted(self.factory.registered):
            kind, item = self.factory.registered[name]
            self.factory.moduleAboutToBeInstantiated.emit(name)
            if kind == "loadable":
                # qSlicerLoadableModuleFactoryItem::instanciator -> importModulePythonExtensions
                for cls_name, cls in self._hidden.get(name, {}).items():
                    setattr(slicer, cls_name, cls)
                for cls_name in mrml_widgets.MODULE_CLASSES.get(name, ()):
                    setattr(slicer, cls_name, self.widget_classes[cls_name])
                module = self.classes.qSlicerAbstractCoreModule(name, logic=self.context.logics.get(name),
                                                                title=LOADABLE_MODULES[name])
            else:
                module = self.classes.qSlicerScriptedLoadableModule(str(item))
                module._session = self
                if not module.setPythonSource(self):
                    self.log.qt_messages.append(("critical", f"Fail to instantiate module {name}"))
                    continue
            self.factory.instances[name] = module
            self.factory.moduleInstantiated.emit(name)
        self.factory.modulesInstantiated.emit(self.factory.instantiatedModuleNames())

    def _load_modules(self) -> None:
        for name in self.factory.instantiatedModuleNames():
            self._load_module(name)

    def _load_module(self, name: str, dependee: str = "") -> bool:
        """qSlicerModuleFactoryManager::loadModule."""
        if name not in self.factory.instances:
            return False
        if name in self.factory.loaded:
            return True
        module = self.factory.instances[name]
        for dependency in module.dependencies:
            if not self._load_module(dependency, name):
                self.log.qt_messages.append(
                    ("warning", f"When loading module {name}, the dependency {dependency} failed to be loaded."))
                return False
        self.factory.loaded.append(name)
        if module.logic() is not None:
            self.context.app_logic.SetModuleLogic(name, module.logic())
        module.setup()
        if not module.title:
            self.context.app_logic.SetModuleLogic(name, None)
            self.factory.loaded.remove(name)
            self.log.qt_messages.append(
                ("warning", f"Failed to retrieve module title corresponding to module name: {name}"))
            return False
        module.setMRMLScene(self.scene)
        self.module_manager.moduleLoaded.emit(name)
        return True

    def load_source_as_module(self, module_name: str, path: str) -> bool:
        try:
            application.load_source_as_module(module_name, path)
        except BaseException as exc:  # noqa: BLE001 - PythonQt::self()->handleError()
            self.log.record_error(f"import {module_name} (qSlicerScriptedUtils::loadSourceAsModule)", exc)
            self.log.qt_messages.append(
                ("critical", f"loadSourceAsModule - Failed to load file {path} as module {module_name} !"))
            return False
        return True

    def _track_timers(self) -> None:
        timers = self._timers
        base = self.qt.QTimer

        def __init__(self_, *args, **kwargs):
            base.__bases__[-1].__init__(self_, *args, **kwargs)
            timers.append(weakref.ref(self_))

        # qt.QTimer instances are remembered so that a timer left running after the module's
        # cleanup() is reported (and stopped) when the session ends.
        base.__init__ = __init__

    def stop(self) -> None:
        """Unload the modules (``moduleAboutToBeUnloaded`` -> the widget's ``cleanup()``) and restore
        everything the session changed."""
        import slicer
        from PySide6 import QtCore, QtWidgets

        try:
            if getattr(self, "panel", None) is not None and self.started:
                try:
                    self.panel.setModule(None)
                except AssertionError:
                    pass
            if getattr(self, "module_manager", None) is not None and self.started:
                for name in reversed(self.factory.loaded):
                    self.module_manager.moduleAboutToBeUnloaded.emit(name)
                    if getattr(self, "context", None) is not None:
                        self.context.app_logic.SetModuleLogic(name, None)
            self.process_events()
            self._join_module_threads()
            for ref in self._timers:
                timer = ref()
                try:
                    active = timer is not None and QtCore.QTimer.isActive(timer)
                except RuntimeError:
                    active = False
                if active:
                    self.log.record_warning("harness: a QTimer created by the module is still active after "
                                            "the module's cleanup()")
                    QtCore.QTimer.stop(timer)
            for widget in self._widgets:
                try:
                    widget.harnessDetach()
                except RuntimeError:
                    pass
            if getattr(self, "main_window", None) is not None:
                self.main_window.close()
                self.main_window.deleteLater()
            while QtWidgets.QApplication.overrideCursor() is not None:
                QtWidgets.QApplication.restoreOverrideCursor()
            QtWidgets.QApplication.processEvents()
            QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.DeferredDelete)
        finally:
            self._restore(slicer)

    def _join_module_threads(self, timeout: float = 120.0) -> None:
        """Threads the module started (their target is code of the module's folder) and left running
        after cleanup(): reported, then waited for, so that what they print belongs to this session."""
        import threading

        folder = str(self.scripted_modules[0].parent)
        for thread in threading.enumerate():
            target = getattr(thread, "_target", None)
            code = getattr(target, "__code__", None) or getattr(getattr(target, "__func__", None), "__code__", None)
            if (thread in getattr(self, "_threads_before", ()) or not thread.is_alive() or code is None
                    or not code.co_filename.startswith(folder)):
                continue
            self.log.record_warning(f"harness: thread {thread.name} ({code.co_filename}:{code.co_name}) started by "
                                    "the module is still running after the module's cleanup()")
            thread.join(timeout)

    def _restore(self, slicer) -> None:
        from PySide6 import QtCore

        saved = self._saved
        if not saved:
            return
        for name in [n for n in sys.modules if _managed(n)]:
            del sys.modules[name]
        sys.modules.update(saved["modules"])
        if "windows" in saved:
            for name in [n for n in sys.modules
                         if n in _UNIX_ONLY or n == "alnpredictor" or n.startswith("alnpredictor.")]:
                del sys.modules[name]
            sys.modules.update(saved["windows"])
        slicer.__dict__.clear()
        slicer.__dict__.update(saved["slicer_dict"])
        slicer.__path__[:] = saved["slicer_path"]
        sys.path[:] = saved["sys_path"]
        sys.excepthook = saved["excepthook"]
        if "thread_excepthook" in saved:
            import threading

            threading.excepthook = saved["thread_excepthook"]
        if "warn" in saved:
            import warnings

            warnings.warn = saved["warn"]
        if "message_handler" in saved:
            QtCore.qInstallMessageHandler(saved["message_handler"])
        QtCore.QSettings.setDefaultFormat(saved["settings_format"])
        org, domain, app = saved["org"]
        QtCore.QCoreApplication.setOrganizationName(org)
        QtCore.QCoreApplication.setOrganizationDomain(domain)
        QtCore.QCoreApplication.setApplicationName(app)
        pythonqt.set_log(None)
        qt_module.set_recorder(None)
        self._saved = {}
        self.started = False

    # -- what the user does ------------------------------------------------------------------------
    def module(self, name: str = "ALNPredictor"):
        """The loaded module object (``slicer.modules.<name>``), or None."""
        return self.module_manager.module(name)

    def open_module(self, name: str = "ALNPredictor"):
        """Select the module in the module panel: the panel widget is created (setup) on first use,
        then entered. Returns the Python widget (``slicer.modules.<Name>Widget``) or None."""
        module = self.module(name)
        if module is None:
            return None
        self.panel.setModule(module)
        self.process_events()
        widget = module.widgetRepresentation() if hasattr(module, "widgetRepresentation") else None
        return widget.self() if widget is not None else None

    def leave_module(self) -> None:
        """Switch to another module: the panel calls exit()."""
        self.panel.setModule(None)
        self.process_events()

    def panel_widget(self, name: str = "ALNPredictor"):
        """The C++ side of the module panel (qSlicerScriptedLoadableModuleWidget)."""
        module = self.module(name)
        return module.widgetRepresentation() if module is not None else None

    def close_scene(self) -> None:
        """File > Close Scene (qSlicerCoreApplication / ioManager: ``mrmlScene()->Clear(false)``)."""
        self.scene.Clear(0)
        self.process_events()

    def process_events(self) -> None:
        """``slicer.app.processEvents()`` (timers fire, queued signals are delivered)."""
        if getattr(self, "app", None) is not None:
            self.app.processEvents()

    def wait_until(self, predicate, timeout: float = 60.0, interval: float = 0.02) -> bool:
        """Run the event loop until ``predicate()`` is true (timers fire, threads report)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.process_events()
            if predicate():
                return True
            time.sleep(interval)
        self.process_events()
        return bool(predicate())

    def user_click(self, button) -> bool:
        """A user's mouse click: nothing happens unless the button is visible and enabled.
        Returns True when the click was delivered."""
        if not (button.isVisibleTo(self.main_window) and button.isEnabled()):
            return False
        button.click()
        self.process_events()
        return True

    # -- what the console would show ---------------------------------------------------------------
    def qt_warnings(self) -> list[tuple[str, str]]:
        return list(self.log.qt_messages)

    def problems(self) -> list[str]:
        """Python errors, PythonQt / Python warnings and Qt warnings / criticals of the session so far
        (one line each; the full tracebacks are on stderr)."""
        out = [e.short() for e in self.log.errors]
        out += self.log.warnings
        out += [f"Qt {kind}: {text}" for kind, text in self.log.qt_messages]
        return out

    def assert_clean(self, what: str = "") -> None:
        problems = self.problems()
        assert not problems, (f"{what}: " if what else "") + f"[{self.release}] Slicer would print:\n" + \
            "\n".join(problems)
