"""The module's Python dependencies inside Slicer (issue 12, defect 6), checked headless:
``Resources/requirements.txt`` is version-checked the way ``slicer.packaging.pip_check`` does;
torch without torchvision is not ready; a declined or failed installation is a falsy result with a
message (never an exception into a Qt slot); ``slicer.packaging.pip_ensure`` is used where Slicer
has it (5.12+) and ``slicer.util.pip_install`` on 5.10; the PyRadiomics that SlicerRadiomics builds
from its master branch gets a clear warning when it is not the model's version."""

from __future__ import annotations

import importlib.metadata
import sys
import types

import pytest

from ALNPredictorLib import dependencies


def test_the_requirements_file_is_met_here_and_names_no_slicer_package():
    reqs = dependencies.load_requirements()
    names = {r.split(">")[0].split("=")[0].split("<")[0].strip().lower() for r in reqs}
    assert {"scikit-learn", "skops", "statsmodels", "reportlab", "threadpoolctl", "psutil"} <= names
    # Slicer ships numpy/SimpleITK/vtk; SlicerRadiomics ships PyRadiomics; PyTorchUtils installs torch
    assert not names & {"numpy", "simpleitk", "vtk", "pyradiomics", "torch", "torchvision"}
    # lower bounds only, and the development environment (requirements.txt pins) satisfies them
    assert all("==" not in r for r in reqs)
    assert dependencies.unmet_requirements() == []


def test_unmet_requirements_are_version_checked(tmp_path):
    numpy_version = importlib.metadata.version("numpy")
    path = tmp_path / "requirements.txt"
    path.write_text("# comment\n--index-url https://example.invalid\nnumpy>=1.0  # ok\n"
                    "numpy<1.0\nno-such-package-alnpredictor>=1\n"
                    "numpy<1.0; sys_platform == 'no-such-platform'\n", encoding="utf-8")
    reqs = dependencies.load_requirements(path)
    assert reqs == ["numpy>=1.0", "numpy<1.0", "no-such-package-alnpredictor>=1",
                    "numpy<1.0; sys_platform == 'no-such-platform'"]
    assert dependencies.unmet_requirements(reqs) == ["numpy<1.0", "no-such-package-alnpredictor>=1"], numpy_version


def test_torch_without_torchvision_is_not_ready(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torchvision" else real(name, *a))
    assert dependencies.torch_missing() == ["torchvision"]
    assert not dependencies.status(torch=True).ok
    assert dependencies.status(torch=False).ok  # the MRI steps do not need torch


def test_pytorchutils_decides_inside_slicer(monkeypatch):
    class Logic:
        @staticmethod
        def torchInstalled():
            return True

        @staticmethod
        def torchvisionInstalled():
            return False

    monkeypatch.setitem(sys.modules, "PyTorchUtils", types.SimpleNamespace(PyTorchUtilsLogic=Logic))
    assert dependencies.torch_missing() == ["torchvision"]


def test_radiomics_version_warning(monkeypatch):
    class Model:
        name = "nomogram"
        spec = {"software": {"numpy": "2.4.6"}}

    assert dependencies.radiomics_version_warning(Model(), installed="3.0.1") is None
    assert dependencies.radiomics_version_warning(Model(), installed="v3.0.1") is None
    text = dependencies.radiomics_version_warning(Model(), installed="3.1.1.dev12+g146e3bd")
    assert "PyRadiomics 3.1.1.dev12+g146e3bd is installed" in text and "SlicerRadiomics" in text
    assert "model 'nomogram' was trained on features from PyRadiomics 3.0.1" in text
    Model.spec = {"software": {"pyradiomics": "3.1.0"}}
    assert dependencies.radiomics_version_warning(Model(), installed="3.1.0") is None
    assert "3.1.0" in dependencies.radiomics_version_warning(Model(), installed="3.0.1")
    monkeypatch.setattr(dependencies, "installed_radiomics_version", lambda: None)
    assert "install the SlicerRadiomics extension" in dependencies.radiomics_version_warning(Model())


def test_the_logic_puts_the_warning_on_the_prediction(logic):
    from alnpredictor.models.prediction import Prediction
    from ALNPredictorLib.logic import _with_radiomics_warning

    assert logic.radiomicsVersionWarning(None, installed="3.0.1") is None
    warning = logic.radiomicsVersionWarning(None, installed="3.1.1")
    pred = _with_radiomics_warning(Prediction(0.4), warning)
    assert pred.to_dict()["warnings"][-1] == {"code": "pyradiomics_version", "message": warning}


def test_outside_slicer_missing_packages_raise_a_clear_error(monkeypatch):
    monkeypatch.setattr(dependencies, "unmet_requirements", lambda *a: ["skops>=0.9"])
    with pytest.raises(dependencies.DependencyError, match="skops>=0.9.*make venv"):
        dependencies.ensure()


def test_nothing_missing_is_ready_without_asking(monkeypatch):
    monkeypatch.setattr(dependencies, "unmet_requirements", lambda *a: [])
    assert dependencies.ensure(torch=False)


@pytest.fixture()
def fake_app(monkeypatch):
    """Inside Slicer: ``in_slicer_app()`` true and slicer.util's dialogs/pip recorded."""
    import slicer

    from ALNPredictorLib import headless

    calls = {"confirm": [], "pip_install": [], "pip_ensure": []}
    monkeypatch.setattr(headless, "in_slicer_app", lambda: True)
    monkeypatch.setattr(slicer.util, "confirmOkCancelDisplay",
                        lambda text, title=None, **kw: calls["confirm"].append(text) or calls.get("answer", True),
                        raising=False)
    monkeypatch.setattr(slicer.util, "pip_install", lambda reqs: calls["pip_install"].append(list(reqs)),
                        raising=False)
    monkeypatch.setattr(dependencies, "unmet_requirements", lambda *a: list(calls.get("unmet", ["skops>=0.9"])))
    return calls


def test_a_declined_installation_is_a_message_not_an_exception(fake_app):
    fake_app["answer"] = False
    result = dependencies.ensure()
    assert not result and "declined" in result.message and "skops>=0.9" in result.message
    assert len(fake_app["confirm"]) == 1 and not fake_app["pip_install"]


def test_slicer_5_10_installs_with_pip_install(fake_app, monkeypatch):
    monkeypatch.setitem(sys.modules, "slicer.packaging", None)  # 5.10.0 has no slicer/packaging.py
    fake_app["unmet"] = ["skops>=0.9"]

    def pip_install(reqs):
        fake_app["pip_install"].append(list(reqs))
        fake_app["unmet"] = []

    import slicer

    monkeypatch.setattr(slicer.util, "pip_install", pip_install, raising=False)
    result = dependencies.ensure()
    assert result and fake_app["pip_install"] == [["skops>=0.9"]]


def test_slicer_5_12_uses_pip_ensure_and_a_decline_there_is_handled(fake_app, monkeypatch):
    import slicer

    def pip_ensure(requirements, prompt_install=True, requester=None, skip_in_testing=True, **kw):
        fake_app["pip_ensure"].append((list(requirements), prompt_install, requester, skip_in_testing))
        if fake_app.get("decline_in_pip_ensure"):
            raise RuntimeError("User declined package installation")  # what pip_ensure raises
        fake_app["unmet"] = []

    packaging = types.ModuleType("slicer.packaging")
    packaging.pip_ensure = pip_ensure
    monkeypatch.setitem(sys.modules, "slicer.packaging", packaging)
    monkeypatch.setattr(slicer, "packaging", packaging, raising=False)
    assert dependencies.ensure(install_in_testing=True)
    assert fake_app["pip_ensure"] == [(["skops>=0.9"], False, "ALNPredictor", False)]
    assert len(fake_app["confirm"]) == 1 and not fake_app["pip_install"]  # one confirmation, ours

    fake_app["unmet"] = ["skops>=0.9"]
    fake_app["decline_in_pip_ensure"] = True
    result = dependencies.ensure()
    assert not result and "User declined" in result.message


def test_torch_comes_from_pytorchutils_for_both_packages(fake_app, monkeypatch):
    fake_app["unmet"] = []
    installs = []
    state = {"torchvision": False}

    class Logic:
        @staticmethod
        def torchInstalled():
            return True

        @staticmethod
        def torchvisionInstalled():
            return state["torchvision"]

        def installTorch(self, askConfirmation=False, torchVersionRequirement=None, torchvisionVersionRequirement=None,
                         **kw):
            installs.append((askConfirmation, torchVersionRequirement, torchvisionVersionRequirement))
            state["torchvision"] = True
            return types.SimpleNamespace(__version__="2.x")

    monkeypatch.setitem(sys.modules, "PyTorchUtils", types.SimpleNamespace(PyTorchUtilsLogic=Logic))
    assert dependencies.ensure(torch=True)
    assert installs == [(False, ">=2.0", ">=0.15")]  # torch present, torchvision missing: installed
    assert "torchvision" in fake_app["confirm"][0]


def test_missing_pyradiomics_points_to_slicerradiomics(fake_app, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "radiomics" else real(name, *a))
    result = dependencies.ensure()
    assert not result and "SlicerRadiomics" in result.message and not fake_app["confirm"]
