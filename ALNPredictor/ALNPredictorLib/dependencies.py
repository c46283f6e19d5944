"""Python dependencies of the module inside 3D Slicer: checked, installed on first use, versions compared.

* ``Resources/requirements.txt`` lists the pip packages (lower bounds). They are checked the way
  ``slicer.packaging.pip_check`` does (installed distribution version against the specifier, markers
  evaluated) and installed, after one confirmation, with ``slicer.packaging.pip_ensure`` — Slicer
  5.12 and later (``Base/Python/slicer/packaging.py``; it does not exist in 5.10.0, where
  ``slicer.util.pip_install`` is used after the same check).
* torch **and** torchvision come from the PyTorch extension's ``PyTorchUtils`` (it picks the CUDA or
  CPU build for the machine): ``PyTorchUtilsLogic.torchInstalled()`` and ``torchvisionInstalled()``
  must both hold (fepegar/SlicerPyTorch ``PyTorchUtils/PyTorchUtils.py``). Only the ultrasound pathway
  needs them.
* PyRadiomics comes from the SlicerRadiomics extension, which builds it from a commit of its master
  branch (AIM-Harvard/SlicerRadiomics ``SuperBuild/External_python-pyradiomics.cmake``), not from the
  release our models were trained with: :func:`radiomics_version_warning` says so clearly.

Nothing here runs at import time; a declined installation is a ``False`` return, never an exception
into a Qt slot.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: The requirements file shipped with the module (listed in ALNPredictor/CMakeLists.txt).
REQUIREMENTS_FILE = Path(__file__).resolve().parents[1] / "Resources" / "requirements.txt"
#: The PyRadiomics release the package is validated with (requirements-radiomics.txt at the
#: repository root pins it; the regression fixtures were written with it). Used when a model bundle
#: does not record the version its features were computed with.
VALIDATED_PYRADIOMICS = "3.0.1"
#: torch / torchvision lower bounds passed to PyTorchUtils (torchvision's ResNet50 weights API).
TORCH_REQUIREMENT = ">=2.0"
TORCHVISION_REQUIREMENT = ">=0.15"
REQUESTER = "ALNPredictor"


class DependencyError(RuntimeError):
    """A dependency that cannot be installed from here (e.g. outside Slicer, or an extension missing)."""


def load_requirements(path: str | Path = REQUIREMENTS_FILE) -> list[str]:
    """Requirement strings of a requirements file (comments, blank lines and pip options skipped,
    as ``slicer.packaging.load_requirements`` does)."""
    reqs = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            reqs.append(line)
    return reqs


def requirement_met(requirement: str) -> bool:
    """Whether an installed distribution satisfies ``requirement`` (version specifier and markers;
    the check ``slicer.packaging.pip_check`` makes, without the extras recursion we do not use)."""
    from packaging.requirements import Requirement

    req = Requirement(requirement)
    if req.marker is not None and not req.marker.evaluate():
        return True
    try:
        installed = importlib.metadata.version(req.name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return req.specifier.contains(installed, prereleases=True)


def unmet_requirements(requirements: list[str] | None = None) -> list[str]:
    """The requirements (default: ``Resources/requirements.txt``) that are not installed, or not in
    the required version."""
    importlib.invalidate_caches()
    reqs = load_requirements() if requirements is None else list(requirements)
    return [r for r in reqs if not requirement_met(r)]


def torch_missing() -> list[str]:
    """``torch`` / ``torchvision`` when they cannot be imported (PyTorchUtils' own checks, inside Slicer)."""
    try:
        import PyTorchUtils  # the PyTorch extension's module (inside Slicer)

        logic = PyTorchUtils.PyTorchUtilsLogic
        missing = [name for name, ok in (("torch", logic.torchInstalled()), ("torchvision", logic.torchvisionInstalled()))
                   if not ok]
        return missing
    except ImportError:
        return [name for name in ("torch", "torchvision") if importlib.util.find_spec(name) is None]


def installed_radiomics_version() -> str | None:
    """The installed PyRadiomics distribution's version (None when it is not installed)."""
    for dist in ("pyradiomics", "PyRadiomics"):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    if importlib.util.find_spec("radiomics") is not None:  # importable without metadata (a build tree)
        import radiomics

        return str(getattr(radiomics, "__version__", "unknown"))
    return None


def model_radiomics_version(model: Any) -> str:
    """The PyRadiomics version a model's features were computed with: the bundle's ``software``
    record when it holds one, else the release the package is validated with."""
    spec = getattr(model, "spec", None) or {}
    software = spec.get("software") or {}
    for key in ("pyradiomics", "radiomics", "pyradiomics_version"):
        if software.get(key):
            return str(software[key])
    for detail in (spec.get("details") or {}).values():
        if isinstance(detail, dict):
            for key in ("pyradiomics_version", "radiomics_module_version"):
                if detail.get(key):
                    return str(detail[key])
    return VALIDATED_PYRADIOMICS


def _same_version(a: str, b: str) -> bool:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a.strip() == b.strip()


def radiomics_version_warning(model: Any = None, installed: str | None = None) -> str | None:
    """A clear warning when the installed PyRadiomics is not the version the model's features were
    computed with (None when they match). ``installed`` defaults to the installed version."""
    expected = model_radiomics_version(model) if model is not None else VALIDATED_PYRADIOMICS
    installed = installed if installed is not None else installed_radiomics_version()
    trained = (f"model '{getattr(model, 'name', 'model')}' was" if model is not None
               else "ALNPredictor's models were")
    if installed is None:
        return (f"PyRadiomics is not installed: install the SlicerRadiomics extension (Extensions Manager), "
                f"restart Slicer, and check that it provides PyRadiomics {expected}.")
    if _same_version(installed, expected):
        return None
    return (f"PyRadiomics {installed} is installed (SlicerRadiomics builds PyRadiomics from its master "
            f"branch), but {trained} trained on features from PyRadiomics {expected}. Feature values can "
            f"differ between PyRadiomics versions, so this probability is not validated. For a validated "
            f"result extract the features with PyRadiomics {expected} (`alnpredictor extract` outside Slicer).")


@dataclass
class DependencyStatus:
    """What is missing: pip requirements, torch/torchvision, PyRadiomics."""

    requirements: list[str] = field(default_factory=list)
    torch: list[str] = field(default_factory=list)
    radiomics: bool = False

    @property
    def ok(self) -> bool:
        return not (self.requirements or self.torch or self.radiomics)

    def describe(self) -> list[str]:
        lines = list(self.requirements)
        if self.torch:
            lines.append(" + ".join(self.torch) + " (through the PyTorch extension's PyTorchUtils)")
        if self.radiomics:
            lines.append("PyRadiomics (install the SlicerRadiomics extension)")
        return lines


def status(torch: bool = False) -> DependencyStatus:
    """What is missing for the MRI steps (``torch=False``) or also for the ultrasound pathway."""
    return DependencyStatus(unmet_requirements(), torch_missing() if torch else [],
                            importlib.util.find_spec("radiomics") is None)


@dataclass
class EnsureResult:
    """The outcome of :func:`ensure`: truthy when everything is importable; ``message`` says what
    is missing and what to do otherwise."""

    ok: bool
    message: str = ""

    def __bool__(self) -> bool:
        return self.ok


def ensure(torch: bool = False, confirm: bool = True, install_in_testing: bool = False) -> EnsureResult:
    """Make the dependencies importable inside Slicer, installing what is missing after one
    confirmation. Never raises for a declined or failed installation: the result is falsy and its
    message says what is missing. Outside Slicer it raises :class:`DependencyError` (install with
    ``make venv`` / pip instead).

    :param torch: also torch + torchvision (the ultrasound pathway).
    :param confirm: ask before installing (False: the in-app self-test).
    :param install_in_testing: install even in Slicer's testing mode (``pip_ensure`` skips
        installation there by default; the in-app self-test needs the packages).
    """
    import slicer

    from ALNPredictorLib.headless import in_slicer_app

    missing = status(torch)
    if missing.ok:
        return EnsureResult(True)
    what = "; ".join(missing.describe())
    if not in_slicer_app():
        raise DependencyError(f"Missing Python packages: {what}. Outside Slicer install them with "
                              "`make venv` or `pip install -e .`.")
    if missing.radiomics:
        # SlicerRadiomics is a declared dependency of the extension (EXTENSION_DEPENDS); a pip build of
        # PyRadiomics 3.0.1 is no substitute inside Slicer (no wheel for Python 3.12; needs a compiler).
        return EnsureResult(False, "ALNPredictor needs PyRadiomics, which the SlicerRadiomics extension "
                                   "provides: install SlicerRadiomics from the Extensions Manager and restart Slicer.")
    if confirm and not slicer.util.confirmOkCancelDisplay(
            "ALNPredictor needs these Python packages, which will be downloaded and installed into "
            "Slicer's Python environment now (this can take a few minutes):\n\n" + "\n".join(missing.describe()),
            f"{REQUESTER} - Install Python Packages"):
        log.info("ALNPredictor: installation of %s declined", what)
        return EnsureResult(False, f"Not installed (declined): {what}. The step that needs them was not run.")
    try:
        if missing.requirements:
            _pip_ensure(missing.requirements, install_in_testing)
        if missing.torch:
            _install_torch()
    except Exception as exc:  # noqa: BLE001 - RuntimeError (declined in pip_ensure), CalledProcessError, DependencyError
        log.warning("ALNPredictor: dependencies not installed: %s", exc)
        return EnsureResult(False, f"Installing {what} failed: {exc}")
    importlib.invalidate_caches()
    left = status(torch)
    if not left.ok:
        return EnsureResult(False, "Still missing after installation: " + "; ".join(left.describe())
                            + ". Restart Slicer and try again.")
    return EnsureResult(True, f"Installed: {what}")


def _pip_ensure(requirements: list[str], install_in_testing: bool) -> None:
    """``slicer.packaging.pip_ensure`` where Slicer has it (5.12+), ``slicer.util.pip_install`` on 5.10."""
    import slicer

    try:
        import slicer.packaging as packaging  # Base/Python/slicer/packaging.py (Slicer >= 5.12)
    except ImportError:
        packaging = None
    if packaging is not None and hasattr(packaging, "pip_ensure"):
        # We asked already; pip_ensure checks the versions again and installs what is unmet.
        packaging.pip_ensure(requirements, prompt_install=False, requester=REQUESTER,
                             skip_in_testing=not install_in_testing)
    else:  # Slicer 5.10: no slicer.packaging (Base/Python/slicer/util.py pip_install only)
        slicer.util.pip_install(list(requirements))


def _install_torch() -> None:
    try:
        import PyTorchUtils
    except ImportError as exc:
        raise DependencyError("the PyTorch extension is not installed: install it from the Extensions "
                              "Manager (ALNPredictor declares it as a dependency) and restart Slicer") from exc
    logic = PyTorchUtils.PyTorchUtilsLogic()
    # installTorch installs torch and torchvision together; called when either is missing.
    if logic.installTorch(askConfirmation=False, torchVersionRequirement=TORCH_REQUIREMENT,
                          torchvisionVersionRequirement=TORCHVISION_REQUIREMENT) is None:
        raise RuntimeError("PyTorch was not installed")
