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


@pytest.fixture(scope="module")
def study_files(tmp_path_factory, breast1_image):
    """breast1 as contrast T1 + simulated T2 / ADC (files the user loads), once per test module."""
    from slicer_gui import driver

    return driver.write_simulated_mri(tmp_path_factory.mktemp("mri-study"), breast1_image)


@pytest.fixture(scope="module")
def slicer_tmp(tmp_path_factory):
    """One slicer.app.temporaryPath for a test module's sessions: the N4 cache is computed once."""
    return tmp_path_factory.mktemp("slicer-tmp")
