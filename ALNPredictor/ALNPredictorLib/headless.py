"""A headless Slicer application context on the ``slicer-core`` wheel.

Inside the Slicer application, ``slicer.mrmlScene``, ``slicer.app.applicationLogic()`` and
``slicer.modules.<name>.logic()`` are set up by the application at start-up. The ``slicer-core``
wheel ships the same MRML scene and module logics (compiled from Slicer's sources) but no
application, so nothing wires them together. :func:`headless_context` does that wiring once:

* a real ``vtkMRMLScene`` with a ``vtkSlicerApplicationLogic`` and the default color nodes;
* the Colors, Volumes, Segmentations, Markups and SubjectHierarchy module logics,
  created, attached to the scene and registered with the application logic (the Volumes logic
  asks the application logic for "Colors" when it creates label map display nodes);
* a cache / data I/O manager, so that scene bundles (``.mrb``) can be read back;
* ``slicer.mrmlScene`` and ``slicer.modules.<volumes|segmentations|markups|colors>.logic()``
  so that ``slicer.util`` array helpers (``arrayFromVolume``,
  ``updateSegmentBinaryLabelmapFromArray`` ...) work unchanged.

Only attributes the application would set are set; nothing of ``slicer`` is replaced. In the
Slicer application this function is never needed (``in_slicer_app()`` is True) and returns the
application's own scene.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any


@dataclass
class HeadlessContext:
    """The scene and module logics of a headless Slicer session."""

    scene: Any
    app_logic: Any
    logics: dict[str, Any] = field(default_factory=dict)

    def logic(self, name: str) -> Any:
        """Module logic by Slicer module name (``"Volumes"``, ``"Segmentations"``, ...)."""
        return self.logics[name]


_CONTEXT: HeadlessContext | None = None


def in_slicer_app() -> bool:
    """True inside the Slicer application (it provides ``slicer.app``)."""
    import slicer

    return hasattr(slicer, "app") and not isinstance(getattr(slicer, "modules", None), SimpleNamespace)


class _ModuleHandle:
    """What ``slicer.modules.<name>`` offers headless code: ``logic()``."""

    def __init__(self, logic: Any) -> None:
        self._logic = logic

    def logic(self) -> Any:
        return self._logic


def headless_context(new_scene: bool = False) -> HeadlessContext:
    """Create (once) and return the headless context; ``new_scene=True`` clears the scene.

    Raises ``RuntimeError`` inside the Slicer application, where the application owns the scene.
    """
    global _CONTEXT
    import slicer
    import vtk

    if in_slicer_app():
        raise RuntimeError("headless_context() is for scripts and tests; in Slicer use slicer.mrmlScene")
    if _CONTEXT is not None:
        if new_scene:
            _CONTEXT.scene.Clear(0)
        return _CONTEXT

    scene = slicer.vtkMRMLScene()
    # Reading a saved scene bundle (.mrb) unpacks it through the data I/O manager's cache, as
    # the application's does.
    cache = slicer.vtkCacheManager()
    cache.SetRemoteCacheDirectory(tempfile.mkdtemp(prefix="alnpredictor-scene-cache-"))
    data_io = slicer.vtkDataIOManager()
    data_io.SetCacheManager(cache)
    scene.SetCacheManager(cache)
    scene.SetDataIOManager(data_io)
    app_logic = slicer.vtkSlicerApplicationLogic()
    app_logic.SetMRMLScene(scene)
    app_logic.GetColorLogic().SetMRMLScene(scene)
    app_logic.GetColorLogic().AddDefaultColorNodes()
    # No views headless: empty collections keep the application logic's view bookkeeping valid.
    app_logic.SetSliceLogics(vtk.vtkCollection())
    app_logic.SetViewLogics(vtk.vtkCollection())

    # The application logic's MRML color logic serves as the Colors module logic: Slicer's
    # vtkSlicerColorLogic would look for color files under an application home that the wheel
    # does not have. Terminologies are left out for the same reason (segments get names/colors).
    logics: dict[str, Any] = {"Colors": app_logic.GetColorLogic()}
    app_logic.SetModuleLogic("Colors", logics["Colors"])
    for name, cls in (
        ("SubjectHierarchy", slicer.vtkSlicerSubjectHierarchyModuleLogic),
        ("Volumes", slicer.vtkSlicerVolumesLogic),
        ("Segmentations", slicer.vtkSlicerSegmentationsModuleLogic),
        ("Markups", slicer.vtkSlicerMarkupsLogic),
    ):
        logic = cls()
        logic.SetMRMLApplicationLogic(app_logic)
        logic.SetMRMLScene(scene)
        app_logic.SetModuleLogic(name, logic)
        logics[name] = logic

    slicer.mrmlScene = scene
    slicer.modules = SimpleNamespace(
        **{name.lower(): _ModuleHandle(logic) for name, logic in logics.items()}
    )
    _CONTEXT = HeadlessContext(scene=scene, app_logic=app_logic, logics=logics)
    return _CONTEXT
