"""Locations the package needs: shipped resources and the shared test data.

Shared data (real test cases, published cohort tables) is found through one setting:
the environment variable ``ALNPREDICTOR_SHARED``, defaulting to ``../shared`` beside the
repository root.
"""

from __future__ import annotations

import os
from pathlib import Path

#: ALNPredictor/ (the Slicer module folder that holds this package and Resources/)
MODULE_DIR = Path(__file__).resolve().parents[1]
#: Repository root (one level above the module folder in a source checkout).
REPO_ROOT = MODULE_DIR.parent


def resources_dir() -> Path:
    """The module's ``Resources/`` folder (parameter files, icons, UI)."""
    return MODULE_DIR / "Resources"


def shared_dir() -> Path:
    """The shared data folder (``$ALNPREDICTOR_SHARED`` or ``../shared`` beside the repo)."""
    env = os.environ.get("ALNPREDICTOR_SHARED")
    return Path(env).expanduser().resolve() if env else (REPO_ROOT.parent / "shared").resolve()


def shared_data(*parts: str) -> Path:
    """A path under ``shared/data``; raises FileNotFoundError naming the setting if absent."""
    path = shared_dir().joinpath("data", *parts)
    if not path.exists():
        raise FileNotFoundError(
            f"shared data not found: {path}. Set ALNPREDICTOR_SHARED to the folder that holds "
            "data/ (default: ../shared beside the repository)."
        )
    return path
