"""A GUI test harness that runs the ALNPredictor Slicer module against Slicer's own Python layer.

No Slicer application can run here, so the harness assembles one from real parts:

* **real**: Slicer's Python layer of the release under test (``slicer.util``,
  ``slicer.parameterNodeWrapper``, ``slicer.ScriptedLoadableModule``, ``slicer.i18n``,
  ``slicer.packaging``, ``sitkUtils``), loaded at test time from
  ``<shared>/third-party/slicer-python/<release>`` (never copied into the project); the MRML scene
  and module logics of the slicer-core wheel (made by the module's own
  ``ALNPredictorLib.headless.headless_context``); Qt widgets (PySide6, offscreen); the module's
  ``ALNPredictor.py`` and its ``.ui``; ``vtkSlicerSegmentEditorLogic`` for Segment Editor edits.
* **reproduced from Slicer's C++ / PythonQt sources** (cited where implemented): PythonQt's API
  (:mod:`.pythonqt`), module instantiation / loading / panel (:mod:`.application`), start-up and
  ``slicerqt.py``'s wiring (:mod:`.session`).
* **stand-ins written from their headers**: the CTK widgets (:mod:`.ctk_widgets`) and the qMRML /
  qSlicer widgets (:mod:`.mrml_widgets`); modal dialogs answer at once and are recorded
  (:mod:`.qt_module`).

Use it through the pytest fixtures of :mod:`.fixtures` (``slicer_session``: one session per test,
parametrised over :data:`.releases.SUPPORTED`).
"""

from .application import HarnessLimitation
from .releases import ALL, MAIN, SUPPORTED, UNSUPPORTED, V5_8_1, V5_10_0, V5_12_3, Release
from .session import MODULE_FILE, SlicerSession

__all__ = ["ALL", "MAIN", "MODULE_FILE", "SUPPORTED", "UNSUPPORTED", "V5_8_1", "V5_10_0", "V5_12_3",
           "HarnessLimitation", "Release", "SlicerSession"]
