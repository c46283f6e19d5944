"""Shared fixtures: the shared data folder and a headless Slicer scene (slicer-core).

Shared data is found through ALNPREDICTOR_SHARED (default ../shared). When it is missing the
tests that need it fail loudly (never skip): CI must run them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULE_DIR = ROOT / "ALNPredictor"
# The Slicer module folder is on Slicer's module path; mirror that for ALNPredictor.py and ALNPredictorLib.
if str(MODULE_DIR) not in sys.path:
    sys.path.insert(0, str(MODULE_DIR))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    from alnpredictor.config import shared_dir as _shared

    path = _shared()
    if not (path / "data").is_dir():
        pytest.fail(f"shared data folder missing: {path}/data — set ALNPREDICTOR_SHARED (default ../shared)")
    return path


@pytest.fixture(scope="session")
def cases_dir(shared_dir: Path) -> Path:
    return shared_dir / "data" / "pyradiomics-cases"


@pytest.fixture(scope="session")
def breast1_image(cases_dir: Path) -> Path:
    return cases_dir / "breast1_image.nrrd"


@pytest.fixture(scope="session")
def breast1_label(cases_dir: Path) -> Path:
    return cases_dir / "breast1_label.nrrd"


@pytest.fixture(scope="session")
def breast1(breast1_image: Path, breast1_label: Path):
    """breast1 as (image, binary tumor mask) read through the package's io."""
    from alnpredictor.imaging.io import read_mask, read_volume

    image = read_volume(breast1_image)
    return image, read_mask(breast1_label, image)


@pytest.fixture()
def slicer_scene():
    """A real, empty MRML scene with the module logics registered (headless slicer-core)."""
    from ALNPredictorLib.headless import headless_context

    ctx = headless_context(new_scene=True)
    return ctx.scene


@pytest.fixture()
def logic(slicer_scene):
    """The module's own Logic on the headless scene."""
    import ALNPredictor

    return ALNPredictor.ALNPredictorLogic(slicer_scene)


# GUI harness (tests/slicer_gui): the per-release Slicer session fixtures of tests/test_widget_*.py.
from slicer_gui.fixtures import (  # noqa: E402,F401
    old_slicer_session,
    slicer_release,
    slicer_session,
    slicer_tmp,
    study_files,
)
