"""The application side of a harness session: ``slicer.app`` (a qSlicerApplication subset), the
module manager / factory manager, module objects, the module panel and the main window.

What Slicer's C++ does is followed from its sources (tag v5.12.3 unless said otherwise):

* instantiation of a scripted module: ``ctkFactoryScriptedItem::instanciator``
  (Base/QTGUI/qSlicerScriptedLoadableModuleFactory.cxx) -> ``qSlicerScriptedLoadableModule::
  setPythonSource`` (Base/QTGUI/qSlicerScriptedLoadableModule.cxx): the ``.py`` is executed with
  ``importlib.util.spec_from_file_location`` / ``exec_module`` under its file name
  (``qSlicerScriptedUtils::loadSourceAsModule``, Base/QTCore/qSlicerScriptedUtils.cxx), the class
  of that name is called with the C++ module as ``parent``, ``slicer.modules.<Name>Instance`` is
  set, and without a ``<Name>Widget`` class the module has no panel. Any Python error is printed
  by PythonQt and the module is missing.
* loading: ``qSlicerModuleFactoryManager::loadModule`` (Base/QTCore/qSlicerModuleFactoryManager.cxx):
  dependencies first, then ``initialize`` -> ``setup()``, a module without a title is not loaded,
  ``moduleLoaded`` -> ``slicer.modules.<name>`` (slicerqt.py ``_Internal.setSlicerModules``).
* the panel: ``qSlicerAbstractCoreModule::createNewWidgetRepresentation``
  (Base/QTCore/qSlicerAbstractCoreModule.cxx): the widget's ``setModule`` calls ``setup()``, then
  ``setMRMLScene``; ``qSlicerModulePanel::addModule`` / ``removeModule`` (Base/QTGUI/
  qSlicerModulePanel.cxx) call ``enter()`` / ``exit()``; the Python methods are called through
  ``qSlicerPythonCppAPI::callMethod`` (errors printed, not raised;
  Base/QTGUI/qSlicerScriptedLoadableModuleWidget.cxx).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types

from PySide6 import QtCore, QtWidgets
from PySide6.QtCore import Property, Signal, Slot

from . import pythonqt
from .releases import Release


class HarnessLimitation(NotImplementedError):
    """Something Slicer has that this harness does not provide (a test needing it must say so)."""


def build_application_classes(qt: types.ModuleType, widgets: dict[str, type]) -> types.SimpleNamespace:
    qSlicerWidget = widgets["qSlicerWidget"]  # noqa: N806

    class qSlicerAbstractCoreModule(qt.QObject):  # noqa: N801
        """Base/QTCore/qSlicerAbstractCoreModule.h (a loadable module: logic from the headless context)."""

        def __init__(self, name, path="", logic=None, title=None, dependencies=()):
            super().__init__()
            self._name = name
            self._title = title if title is not None else name
            self._path = path
            self._logic = logic
            self._dependencies = list(dependencies)
            self._categories: list[str] = []
            self._contributors: list[str] = []
            self._helpText = ""
            self._acknowledgementText = ""
            self._hidden = False
            self._index = -1
            self._widgetCreationEnabled = True
            self._associatedNodeTypes: list[str] = []
            self._scene = None
            self._widget = None

        def logic(self):
            return self._logic

        def mrmlScene(self):
            return self._scene

        @Slot(object)
        def setMRMLScene(self, scene):
            self._scene = scene

        def setup(self):
            pass

        def widgetRepresentation(self):
            raise HarnessLimitation(f"the harness has no panel for module {self._name}")

        def createNewWidgetRepresentation(self):
            raise HarnessLimitation(f"the harness has no panel for module {self._name}")

        name = Property(str, lambda s: s._name)
        title = Property(str, lambda s: s._title)
        categories = Property("QStringList", lambda s: list(s._categories))
        contributors = Property("QStringList", lambda s: list(s._contributors))
        dependencies = Property("QStringList", lambda s: list(s._dependencies))
        helpText = Property(str, lambda s: s._helpText)
        acknowledgementText = Property(str, lambda s: s._acknowledgementText)
        path = Property(str, lambda s: s._path)
        hidden = Property(bool, lambda s: s._hidden)
        index = Property(int, lambda s: s._index)
        associatedNodeTypes = Property("QStringList", lambda s: list(s._associatedNodeTypes))
        widgetRepresentationCreationEnabled = Property(bool, lambda s: s._widgetCreationEnabled,
                                                       lambda s, v: setattr(s, "_widgetCreationEnabled", bool(v)))
        isInstalled = Property(bool, lambda s: True)
        isBuiltIn = Property(bool, lambda s: s._path == "")

    class qSlicerScriptedLoadableModule(qSlicerAbstractCoreModule):  # noqa: N801
        """Base/QTGUI/qSlicerScriptedLoadableModule.h: the C++ side of a Python module."""

        def __init__(self, path):
            super().__init__(os.path.splitext(os.path.basename(path))[0], path=path)
            self._self = None  # the Python module object (ScriptedLoadableModule subclass)
            self._extensions = {}
            import slicer

            self._logic = slicer.vtkSlicerScriptedLoadableModuleLogic()

        def setPythonSource(self, session) -> bool:
            """qSlicerScriptedLoadableModule::setPythonSource."""
            moduleName = className = self._name
            module = sys.modules.get(moduleName)
            cls = getattr(module, className, None) if module is not None else None
            if cls is None:
                if not session.load_source_as_module(moduleName, self._path):
                    return False
                module = sys.modules.get(moduleName)
                cls = getattr(module, className, None)
            if cls is None:
                session.log.record_error(
                    f"{moduleName} (setPythonSource)",
                    RuntimeError(f"qSlicerScriptedLoadableModule::setPythonSource - Failed to load scripted loadable "
                                 f"module: class {className} was not found in file {self._path}"))
                return False
            try:
                self._self = cls(self)
            except BaseException as exc:  # noqa: BLE001 - qSlicerPythonCppAPI::instantiateClass
                session.log.record_error(f"{className}.__init__ (qSlicerPythonCppAPI::instantiateClass)", exc)
                session.log.qt_messages.append(
                    ("critical", f"qSlicerPythonCppAPI::instantiateClass - [{className}] - Failed to instantiate "
                                 f"scripted pythonqt class {className}"))
                return False
            import slicer

            setattr(slicer.modules, moduleName + "Instance", self._self)
            if not hasattr(module, className + "Widget"):
                self._widgetCreationEnabled = False
            return True

        def setup(self):
            # registerFileDialog / registerIO: the module defines no file dialog, reader or writer class.
            method = getattr(self._self, "setup", None)
            if method is not None:
                try:
                    method()
                except BaseException as exc:  # noqa: BLE001
                    pythonqt.handle_error(f"{self._name}.setup", exc)

        def widgetRepresentation(self):
            if self._widget is None:
                self._widget = self.createNewWidgetRepresentation()
            return self._widget

        def createNewWidgetRepresentation(self):
            if not self._widgetCreationEnabled:
                return None
            widget = qSlicerScriptedLoadableModuleWidget()
            if not widget.setPythonSource(self._path, self._session):
                return None
            widget.setModule(self)
            widget.setMRMLScene(self.mrmlScene())
            return widget

        def self_(self):
            return self._self

        title = Property(str, lambda s: s._title, lambda s, v: setattr(s, "_title", v))
        categories = Property("QStringList", lambda s: list(s._categories), lambda s, v: setattr(s, "_categories", list(v)))
        contributors = Property("QStringList", lambda s: list(s._contributors),
                                lambda s, v: setattr(s, "_contributors", list(v)))
        dependencies = Property("QStringList", lambda s: list(s._dependencies),
                                lambda s, v: setattr(s, "_dependencies", list(v)))
        associatedNodeTypes = Property("QStringList", lambda s: list(s._associatedNodeTypes),
                                       lambda s, v: setattr(s, "_associatedNodeTypes", list(v)))
        helpText = Property(str, lambda s: s._helpText, lambda s, v: setattr(s, "_helpText", v))
        acknowledgementText = Property(str, lambda s: s._acknowledgementText,
                                       lambda s, v: setattr(s, "_acknowledgementText", v))
        hidden = Property(bool, lambda s: s._hidden, lambda s, v: setattr(s, "_hidden", bool(v)))
        index = Property(int, lambda s: s._index, lambda s, v: setattr(s, "_index", int(v)))
        extensions = Property("QVariantMap", lambda s: dict(s._extensions), lambda s, v: setattr(s, "_extensions", dict(v)))

        def _getIcon(self):
            return getattr(self, "_icon", None) or qt.QIcon()

        icon = Property("QIcon", _getIcon, lambda s, v: setattr(s, "_icon", v))

    @pythonqt.standin_namespace_check
    class qSlicerScriptedLoadableModuleWidget(qSlicerWidget):  # noqa: N801
        """Base/QTGUI/qSlicerScriptedLoadableModuleWidget.h (+ qSlicerAbstractModuleWidget.h): the
        panel widget; its layout is a QVBoxLayout created in the constructor."""

        def __init__(self, parent=None):
            super().__init__(parent)
            qt.QVBoxLayout(self)
            self._isEntered = False
            self._module = None
            self._self = None
            self._moduleName = ""

        def setPythonSource(self, path, session) -> bool:
            """qSlicerScriptedLoadableModuleWidget::setPythonSource."""
            moduleName = os.path.splitext(os.path.basename(path))[0]
            className = moduleName if moduleName.endswith("Widget") else moduleName + "Widget"
            module = sys.modules.get(moduleName)
            cls = getattr(module, className, None) if module is not None else None
            if cls is None:
                if not session.load_source_as_module(moduleName, path):
                    return False
                cls = getattr(sys.modules.get(moduleName), className, None)
            if cls is None:
                session.log.record_error(f"{className} (setPythonSource)", RuntimeError(
                    f"qSlicerScriptedLoadableModuleWidget::setPythonSource - Failed to load scripted loadable module "
                    f"widget: class {className} was not found in {path}"))
                return False
            try:
                self._self = cls(self)
            except BaseException as exc:  # noqa: BLE001
                session.log.record_error(f"{className}.__init__ (qSlicerPythonCppAPI::instantiateClass)", exc)
                return False
            import slicer

            setattr(slicer.modules, className, self._self)
            self._moduleName = moduleName
            return True

        def _call(self, method: str):
            """qSlicerPythonCppAPI::callMethod: only if the Python object has the method; errors printed."""
            func = getattr(self._self, method, None)
            if func is None:
                return None
            try:
                return func()
            except BaseException as exc:  # noqa: BLE001
                pythonqt.handle_error(f"{type(self._self).__name__}.{method}", exc)
                return None

        def setModule(self, module):
            self._module = module
            self.setup()

        def module(self):
            return self._module

        def logic(self):
            return self._module.logic() if self._module is not None else None

        def setup(self):
            if self._module is not None:
                QtCore.QObject.setObjectName(self, f"{self._module.name}ModuleWidget")
                QtWidgets.QWidget.setWindowTitle(self, self._module.title)
            self._call("setup")

        @Slot()
        def enter(self):
            assert not self._isEntered, "qSlicerAbstractModuleWidget::enter: already entered"
            self._isEntered = True
            self._call("enter")

        @Slot()
        def exit(self):
            assert self._isEntered, "qSlicerAbstractModuleWidget::exit: not entered"
            self._isEntered = False
            self._call("exit")

        def self(self):  # noqa: A003 - Q_INVOKABLE PyObject* self() const
            return self._self

        def reload(self):
            raise HarnessLimitation("reload() is not supported by the harness")

        isEntered = Property(bool, lambda s: s._isEntered)
        moduleName = Property(str, lambda s: s._moduleName)

    class qSlicerAbstractModuleFactoryManager(qt.QObject):  # noqa: N801
        """Base/QTCore/qSlicerAbstractModuleFactoryManager.h (+ qSlicerModuleFactoryManager.h)."""

        CPP_SIGNALS = ("modulesRegistered(QStringList)", "moduleRegistered(QString)", "modulesInstantiated(QStringList)",
                       "moduleAboutToBeInstantiated(QString)", "moduleInstantiated(QString)",
                       "moduleLoaded(QString)", "moduleAboutToBeUnloaded(QString)")
        modulesRegistered = Signal("QStringList")
        moduleRegistered = Signal(str)
        modulesInstantiated = Signal("QStringList")
        moduleAboutToBeInstantiated = Signal(str)
        moduleInstantiated = Signal(str)
        moduleLoaded = Signal(str)
        moduleAboutToBeUnloaded = Signal(str)

        def __init__(self):
            super().__init__()
            self.registered: dict[str, object] = {}  # name -> factory item (callable returning a module or None)
            self.instances: dict[str, object] = {}
            self.loaded: list[str] = []

        def registeredModuleNames(self):
            return sorted(self.registered)

        def instantiatedModuleNames(self):
            return sorted(self.instances)

        def loadedModuleNames(self):
            return list(self.loaded)

        def isRegistered(self, name):
            return name in self.registered

        def isInstantiated(self, name):
            return name in self.instances

        def isLoaded(self, name):
            return name in self.loaded

        def moduleInstance(self, name):
            return self.instances.get(name)

    class qSlicerModuleManager(qt.QObject):  # noqa: N801
        """Base/QTCore/qSlicerModuleManager.h."""

        CPP_SIGNALS = ("moduleLoaded(QString)", "moduleAboutToBeUnloaded(QString)")
        moduleLoaded = Signal(str)
        moduleAboutToBeUnloaded = Signal(str)

        def __init__(self, factory):
            super().__init__()
            self._factory = factory

        def factoryManager(self):
            return self._factory

        def modulesNames(self):
            return list(self._factory.loaded)

        def module(self, name):
            return self._factory.instances.get(name) if name in self._factory.loaded else None

    class qSlicerApplication(qt.QObject):  # noqa: N801
        """Base/QTCore/qSlicerCoreApplication.h + Base/QTGUI/qSlicerApplication.h (subset); static
        QApplication functions go to the one real QApplication."""

        CPP_SIGNALS = ("startupCompleted()", "mrmlSceneChanged(vtkMRMLScene*)", "renderPaused(bool)")
        startupCompleted = Signal()
        mrmlSceneChanged = Signal(object)
        renderPaused = Signal(bool)

        def __init__(self, release: Release, scene, app_logic, module_manager, temporary_path, home, settings_file):
            super().__init__()
            self._release = release
            self._scene = scene
            self._appLogic = app_logic
            self._moduleManager = module_manager
            self._temporaryPath = temporary_path
            self._cachePath = os.path.join(temporary_path, "cache")
            self._home = home
            self._settingsFile = settings_file
            self.processEventsHooks: list = []  # harness: called after each processEvents()
            self.restartRequested = False

        # qSlicerCoreApplication
        def mrmlScene(self):
            return self._scene

        def applicationLogic(self):
            return self._appLogic

        def moduleManager(self):
            return self._moduleManager

        def moduleLogic(self, name):
            module = self._moduleManager.module(name)
            return module.logic() if module is not None else None

        def settings(self):
            return qt.QSettings()

        def userSettings(self):
            return qt.QSettings()

        def revisionUserSettings(self):
            return qt.QSettings()

        def moduleDocumentationUrl(self, moduleName):
            return f"{self.documentationBaseUrl}/user_guide/modules/{moduleName.lower()}.html"

        def startupEnvironment(self):
            return QtCore.QProcessEnvironment.systemEnvironment()

        def environment(self):
            return QtCore.QProcessEnvironment.systemEnvironment()

        def isEmbeddedModule(self, path):
            return False

        def showConsoleMessage(self, message, error=True):
            (sys.stderr if error else sys.stdout).write(str(message) + "\n")

        @staticmethod
        def testingEnabled():  # qSlicerBaseQTCorePythonQtDecorators: testAttribute(AA_EnableTesting)
            return False

        @Slot()
        def restart(self):
            self.restartRequested = True

        # qSlicerApplication
        def layoutManager(self):
            return None  # the harness has no views; see HarnessLimitation in the report

        def ioManager(self):
            raise HarnessLimitation("slicer.app.ioManager() is not provided by the harness")

        def pauseRender(self):
            pass

        def resumeRender(self):
            pass

        def setRenderPaused(self, pause):
            self.renderPaused.emit(bool(pause))

        # QApplication / QCoreApplication (static in C++; PythonQt exposes them on slicer.app)
        def processEvents(self, *args):
            QtWidgets.QApplication.processEvents(*args)
            for hook in list(self.processEventsHooks):
                hook()

        def topLevelWidgets(self):
            return QtWidgets.QApplication.topLevelWidgets()

        def translate(self, context, text, *args):
            return QtCore.QCoreApplication.translate(context, text, *args)

        def setOverrideCursor(self, cursor):
            QtWidgets.QApplication.setOverrideCursor(cursor)

        def restoreOverrideCursor(self):
            QtWidgets.QApplication.restoreOverrideCursor()

        def overrideCursor(self):
            return QtWidgets.QApplication.overrideCursor()

        def keyboardModifiers(self):
            return QtWidgets.QApplication.keyboardModifiers()

        def clipboard(self):
            return QtWidgets.QApplication.clipboard()

        def style(self):
            return QtWidgets.QApplication.style()

        def palette(self):
            return QtWidgets.QApplication.palette()

        def activeWindow(self):
            return QtWidgets.QApplication.activeWindow()

        def quit(self):
            raise HarnessLimitation("slicer.app.quit() during a test")

        exit = quit

        slicerHome = Property(str, lambda s: s._home)
        temporaryPath = Property(str, lambda s: s._temporaryPath, lambda s, v: setattr(s, "_temporaryPath", v))
        cachePath = Property(str, lambda s: s._cachePath, lambda s, v: setattr(s, "_cachePath", v))
        defaultScenePath = Property(str, lambda s: s._temporaryPath)
        slicerSharePath = Property(str, lambda s: f"share/Slicer-{s._release.major}.{s._release.minor}")
        intDir = Property(str, lambda s: "")
        isInstalled = Property(bool, lambda s: True)
        releaseType = Property(str, lambda s: s._release.release_type)
        repositoryUrl = Property(str, lambda s: "https://github.com/Slicer/Slicer")
        repositoryBranch = Property(str, lambda s: "main")
        repositoryRevision = Property(str, lambda s: s._release.repository_revision)
        revision = Property(str, lambda s: s._release.repository_revision)
        majorVersion = Property(int, lambda s: s._release.major)
        minorVersion = Property(int, lambda s: s._release.minor)
        mainApplicationName = Property(str, lambda s: "Slicer")
        mainApplicationDisplayName = Property(str, lambda s: "3D Slicer")
        mainApplicationMajorVersion = Property(int, lambda s: s._release.major)
        mainApplicationMinorVersion = Property(int, lambda s: s._release.minor)
        mainApplicationPatchVersion = Property(int, lambda s: s._release.patch)
        isCustomMainApplication = Property(bool, lambda s: False)
        documentationBaseUrl = Property(str, lambda s: "https://slicer.readthedocs.io/en/" + (
            "latest" if s._release.release_type != "Stable" else f"{s._release.major}.{s._release.minor}"))
        documentationVersion = Property(str, lambda s: f"{s._release.major}.{s._release.minor}")
        platform = Property(str, lambda s: "linux-amd64")
        os = Property(str, lambda s: "linux")
        arch = Property(str, lambda s: "amd64")
        slicerUserSettingsFilePath = Property(str, lambda s: s._settingsFile)
        slicerRevisionUserSettingsFilePath = Property(str, lambda s: s._settingsFile)
        # QCoreApplication properties
        applicationName = Property(str, lambda s: "Slicer")
        applicationVersion = Property(str, lambda s: s._release.version_string)
        organizationName = Property(str, lambda s: "NA-MIC")
        organizationDomain = Property(str, lambda s: "www.na-mic.org")

    class qSlicerModulePanel:
        """Base/QTGUI/qSlicerModulePanel.cxx: shows one module widget and calls enter()/exit()."""

        def __init__(self, container):
            self.container = container
            self.module = None

        def setModule(self, module):
            if self.module is module:
                return
            if self.module is not None:
                self.removeModule(self.module)
            self.module = module
            if module is not None:
                self.addModule(module)

        def addModule(self, module):
            widget = module.widgetRepresentation()
            if widget is None:
                return
            layout = widget.layout()
            if layout is not None:
                layout.setContentsMargins(0, 0, 0, 0)
            self.container.layout().insertWidget(1, widget, 1)
            widget.setVisible(True)
            widget.enter()

        def removeModule(self, module):
            widget = module.widgetRepresentation()
            if widget is None or self.container.layout().indexOf(widget) == -1:
                return
            widget.exit()
            self.container.layout().removeWidget(widget)
            widget.setVisible(False)
            widget.setParent(None)

    return types.SimpleNamespace(
        qSlicerAbstractCoreModule=qSlicerAbstractCoreModule,
        qSlicerScriptedLoadableModule=qSlicerScriptedLoadableModule,
        qSlicerScriptedLoadableModuleWidget=qSlicerScriptedLoadableModuleWidget,
        qSlicerAbstractModuleFactoryManager=qSlicerAbstractModuleFactoryManager,
        qSlicerModuleManager=qSlicerModuleManager,
        qSlicerApplication=qSlicerApplication,
        qSlicerModulePanel=qSlicerModulePanel,
    )


def load_source_as_module(module_name: str, path: str) -> None:
    """qSlicerScriptedUtils::loadSourceAsModule (raises what the Python code raises)."""
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
