"""pytest fixtures of the GUI harness (made available to every test by tests/conftest.py).

``slicer_session`` is one :class:`~.session.SlicerSession` per test, parametrised over the releases
the module supports; the test id carries the release folder (``test_x[v5.12.3]``).
``old_slicer_session`` is the same on the releases older than supported (v5.8.1). Nothing heavy is imported
until a test asks for a session.
"""

from __future__ import annotations

import pytest

from .releases import SUPPORTED, UNSUPPORTED


@pytest.fixture(params=SUPPORTED, ids=str)
def slicer_release(request):
    return request.param


@pytest.fixture()
def slicer_session(slicer_release, tmp_path, shared_dir):
    """Slicer (this release) started with the module; stopped and fully restored afterwards."""
    from .session import SlicerSession

    with SlicerSession(slicer_release, tmp_path / "slicer", shared=shared_dir) as session:
        yield session


@pytest.fixture(params=UNSUPPORTED, ids=str)
def old_slicer_session(request, tmp_path, shared_dir):
    from .session import SlicerSession

    with SlicerSession(request.param, tmp_path / "slicer", shared=shared_dir) as session:
        yield session
