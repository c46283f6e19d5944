"""The Slicer releases the harness runs, and what differs between them.

Slicer's Python layer of each release is read from ``<shared>/third-party/slicer-python/<folder>``
(read-only, never copied into the project; see its README). Facts about the C++ side that the
Python layer does not contain are written here, each with the source it was read from (Slicer
repository, at the release tag).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class Release:
    """One Slicer release: the folder of its Python layer and its version numbers."""

    folder: str
    major: int
    minor: int
    patch: int
    release_type: str  # qSlicerCoreApplication::releaseType ("Stable" for tags, "Preview" for main)
    repository_revision: str  # qSlicerCoreApplication::repositoryRevision (git commit of the tag)
    #: MRML classes that live in a *loadable module's* library in this release although the
    #: slicer-core wheel (built from a later main) has them in MRMLCore: module name -> class names.
    #: In Slicer, ``slicer.<class>`` of a loadable module exists only after that module was
    #: instantiated (qSlicerLoadableModuleFactoryItem::instanciator ->
    #: qSlicerScriptedUtils::importModulePythonExtensions, Base/QTCore/qSlicerLoadableModuleFactory.cxx
    #: and Base/QTCore/qSlicerScriptedUtils.cxx).
    moved_to_core_later: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)

    @property
    def version(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)

    @property
    def version_string(self) -> str:
        """``applicationVersion`` as Slicer sets it (Slicer_VERSION_FULL: preview builds carry the date)."""
        base = f"{self.major}.{self.minor}.{self.patch}"
        return base if self.release_type == "Stable" else f"{base}-2026-08-21"

    def python_dir(self, shared: Path) -> Path:
        return shared / "third-party" / "slicer-python" / self.folder / "Base" / "Python"

    def __str__(self) -> str:
        return self.folder


#: Headers of Modules/Loadable/Markups/MRML at tag v5.8.1 (``git ls-tree v5.8.1
#: Modules/Loadable/Markups/MRML``) whose classes are in Libs/MRML/Core from v5.10.0 on (commit
#: d919d2fd69 "COMP: Move classes from Modules/Loadable/Markups/MRML to Libs/MRML/Core").
_MARKUPS_MRML_5_8 = (
    "vtkCurveMeasurementsCalculator",
    "vtkMRMLMarkupsAngleNode",
    "vtkMRMLMarkupsClosedCurveNode",
    "vtkMRMLMarkupsCurveNode",
    "vtkMRMLMarkupsDisplayNode",
    "vtkMRMLMarkupsFiducialDisplayNode",
    "vtkMRMLMarkupsFiducialNode",
    "vtkMRMLMarkupsFiducialStorageNode",
    "vtkMRMLMarkupsLineNode",
    "vtkMRMLMarkupsNode",
    "vtkMRMLMarkupsPlaneDisplayNode",
    "vtkMRMLMarkupsPlaneNode",
    "vtkMRMLMarkupsROIDisplayNode",
    "vtkMRMLMarkupsROINode",
    "vtkMRMLMarkupsStorageNode",
    "vtkMRMLMeasurementAngle",
    "vtkMRMLMeasurementArea",
    "vtkMRMLMeasurementLength",
    "vtkMRMLMeasurementVolume",
    "vtkProjectMarkupsCurvePointsFilter",
)

V5_8_1 = Release("v5.8.1", 5, 8, 1, "Stable", "11eaf62e5a", {"Markups": _MARKUPS_MRML_5_8})
V5_10_0 = Release("v5.10.0", 5, 10, 0, "Stable", "a2b6d082be")
V5_12_3 = Release("v5.12.3", 5, 12, 3, "Stable", "9034c71a8f")
MAIN = Release("main-583e9b3", 5, 13, 0, "Preview", "583e9b37d5")

#: Releases the module supports (issue: Slicer 5.10, 5.12 and main).
SUPPORTED = (V5_10_0, V5_12_3, MAIN)
#: Older than supported: the module must load and say it needs Slicer >= 5.10.
UNSUPPORTED = (V5_8_1,)
ALL = UNSUPPORTED + SUPPORTED
