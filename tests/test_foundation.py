"""Foundation: the extension layout, the headless Slicer context, the CLI entry point."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

ROOT = Path(__file__).resolve().parents[1]
MODULE = ROOT / "ALNPredictor"


def _cmake_listed_files() -> set[str]:
    text = (MODULE / "CMakeLists.txt").read_text()
    listed = set()
    for block in ("MODULE_PYTHON_SCRIPTS", "MODULE_PYTHON_RESOURCES"):
        m = re.search(rf"set\({block}\s+(.*?)\)", text, re.S)
        assert m, f"{block} block missing from ALNPredictor/CMakeLists.txt"
        for token in m.group(1).split():
            listed.add(token.replace("${MODULE_NAME}", "ALNPredictor"))
    return listed


def test_every_module_file_is_listed_in_cmake():
    """The Slicer build packages only what CMakeLists lists: every .py and resource must be there."""
    listed = _cmake_listed_files()
    on_disk = set()
    for path in MODULE.rglob("*"):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        rel = path.relative_to(MODULE).as_posix()
        if rel.startswith("Testing/") or rel == "CMakeLists.txt":
            continue
        on_disk.add(rel)
    missing = sorted(on_disk - listed)
    stale = sorted(f for f in listed - on_disk)
    assert not missing, f"files not listed in ALNPredictor/CMakeLists.txt: {missing}"
    assert not stale, f"CMakeLists lists files that do not exist: {stale}"


def test_extension_metadata_is_consistent():
    top = (ROOT / "CMakeLists.txt").read_text()
    for needed in ("find_package(Slicer", "add_subdirectory(ALNPredictor)", "Slicer_EXTENSION_GENERATE_CONFIG",
                   "Slicer_EXTENSION_CPACK", "EXTENSION_DEPENDS", "Quantification"):
        assert needed in top, needed
    s4ext = dict(
        line.split(" ", 1) for line in (ROOT / "ALNPredictor.s4ext").read_text().splitlines()
        if line and not line.startswith("#") and " " in line
    )
    for field in ("scm", "scmurl", "depends", "build_subdirectory", "homepage", "contributors", "category",
                  "iconurl", "status", "description", "screenshoturls", "enabled"):
        assert field in s4ext, field
    index = json.loads((ROOT / "ALNPredictor.json").read_text())
    assert index["category"] == s4ext["category"].strip() == "Quantification"
    assert set(index["build_dependencies"]) == set(s4ext["depends"].split())
    icon = sitk.ReadImage(str(MODULE / "Resources" / "Icons" / "ALNPredictor.png"))
    assert icon.GetSize() == (128, 128)
    pixels = sitk.GetArrayFromImage(icon)
    assert pixels.std() > 10, "icon looks blank"


def test_cli_version_and_help():
    exe = Path(sys.executable).with_name("alnpredictor")
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True)
    import alnpredictor

    assert out.stdout.strip() == f"alnpredictor {alnpredictor.__version__}"
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=True)
    assert "usage: alnpredictor" in out.stdout


def test_no_fake_slicer_module():
    """`slicer` must be the slicer-core wheel, not a stand-in from this repository."""
    import slicer

    assert "site-packages" in slicer.__file__
    for path in ROOT.rglob("slicer*.py"):
        assert ".venv" in path.parts, f"a module named like slicer in the repo: {path}"
    assert hasattr(slicer, "vtkImageGrowCutSegment") and hasattr(slicer, "vtkMRMLScene")


def test_logic_loads_breast1_into_real_nodes(logic, slicer_scene, breast1_image, breast1_label):
    import slicer

    volume = logic.loadVolume(str(breast1_image), "breast1")
    assert volume.IsA("vtkMRMLScalarVolumeNode")
    assert slicer_scene.GetNodeByID(volume.GetID()) is volume
    ref = sitk.ReadImage(str(breast1_image))
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(volume), sitk.GetArrayFromImage(ref))
    # RAS geometry: the LPS origin flips its first two signs.
    origin = np.array(volume.GetOrigin())
    np.testing.assert_allclose(origin, np.array(ref.GetOrigin()) * [-1, -1, 1], atol=1e-5)

    seg = logic.loadLabelAsSegmentation(str(breast1_label), volume)
    assert seg.IsA("vtkMRMLSegmentationNode")
    assert seg.GetSegmentation().GetSegmentIdBySegmentName("tumor")
    mask = logic.arrayFromSegment(seg, "tumor", volume)
    truth = sitk.GetArrayFromImage(sitk.ReadImage(str(breast1_label)))
    np.testing.assert_array_equal(mask, (truth == 1).astype(np.uint8))
    # and back to SimpleITK with the same physical geometry
    back = logic.imageFromVolumeNode(volume)
    np.testing.assert_allclose(back.GetOrigin(), ref.GetOrigin(), atol=1e-5)
    np.testing.assert_allclose(back.GetSpacing(), ref.GetSpacing(), atol=1e-6)
    np.testing.assert_allclose(back.GetDirection(), ref.GetDirection(), atol=1e-6)


def test_logic_refuses_label_on_other_geometry(logic, breast1_image, tmp_path):
    import pytest

    volume = logic.loadVolume(str(breast1_image), "breast1")
    other = sitk.Image(10, 10, 10, sitk.sitkUInt8)
    other[5, 5, 5] = 1
    path = tmp_path / "other.nrrd"
    sitk.WriteImage(other, str(path))
    with pytest.raises(ValueError, match="does not share the geometry"):
        logic.loadLabelAsSegmentation(str(path), volume)


# -- issue 12, defect 15: what the extension index checks ------------------------------------------------
def test_licence_file_at_the_root_matches_pyproject():
    """The index's check_license_file looks for LICENSE (or LICENSE.txt, COPYING ...) at the root
    (Slicer/ExtensionsIndex scripts/check_description_files.py)."""
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text
    assert 'license = "Apache-2.0"' in (ROOT / "pyproject.toml").read_text()


def test_cmake_minimum_is_what_slicerconfig_requires():
    """SlicerConfig.cmake of 5.10.0, 5.12.3 and main requires CMake >= 3.20.6; the 5.8 template's
    3.16.3 floor is gone."""
    top = (ROOT / "CMakeLists.txt").read_text()
    m = re.search(r"^cmake_minimum_required\(VERSION (\d+)\.(\d+)\.(\d+)(?:\.\.\.(\d+)\.(\d+)\.(\d+))?", top, re.M)
    assert m, "no cmake_minimum_required at the top of CMakeLists.txt"
    assert tuple(map(int, m.group(1, 2, 3))) >= (3, 20, 6)
    # the index reads the project name and the icon/screenshot URLs with these patterns
    assert re.findall(r"project\s*\(\s*([^\s\)\n\r]+)", top)[0] == "ALNPredictor"
    assert re.findall(r'set\s*\(EXTENSION_SCREENSHOTURLS\s*"([^"]+)"\)', top)
    assert re.findall(r'set\s*\(EXTENSION_ICONURL\s*"([^"]+)"[ ]*\)', top)


def test_contributors_are_name_and_organisation_everywhere():
    """'Firstname Lastname (Org)' as the template asks, the same in CMakeLists, .s4ext and the module."""
    form = re.compile(r"^[^,()]+ \([^()]+\)(, [^,()]+ \([^()]+\))*$")
    cmake = re.search(r'set\(EXTENSION_CONTRIBUTORS "([^"]+)"\)', (ROOT / "CMakeLists.txt").read_text()).group(1)
    s4ext = re.search(r"^contributors (.+)$", (ROOT / "ALNPredictor.s4ext").read_text(), re.M).group(1)
    module = re.search(r"self\.parent\.contributors = \[\"([^\"]+)\"\]", (MODULE / "ALNPredictor.py").read_text()).group(1)
    assert cmake == s4ext.strip() == module
    assert form.match(cmake), cmake


def test_catalog_entry_is_valid_against_the_extensions_index_schema():
    """ALNPredictor.json against the schema it names (Slicer Schemas/slicer-extension-catalog-entry-
    schema-v1.0.1.json: required $schema, category, scm_url; no other keys than these; types), with
    LF-only line endings and a scm_url scheme the index accepts."""
    raw = (ROOT / "ALNPredictor.json").read_bytes()
    assert b"\r" not in raw
    entry = json.loads(raw)
    assert entry["$schema"].startswith(
        "https://raw.githubusercontent.com/Slicer/Slicer/main/Schemas/slicer-extension-catalog-entry-schema-v1.0.")
    types = {"$schema": str, "category": str, "scm_url": str, "scm_revision": str, "scm_type": str,
             "build_dependencies": list, "build_subdirectory": str, "enabled": bool, "tier": int}
    assert {"$schema", "category", "scm_url"} <= set(entry) <= set(types), sorted(entry)
    for key, value in entry.items():
        assert isinstance(value, types[key]), key
    assert all(isinstance(d, str) for d in entry.get("build_dependencies", []))
    assert 1 <= entry.get("tier", 1) <= 5 and entry.get("scm_type", "git") in ("git", "local")
    assert entry["scm_url"].split("://")[0] in ("git", "https")
    repo = entry["scm_url"].rstrip("/").split("/")[-1].removesuffix(".git")
    assert repo.startswith("Slicer") and not "ALNPredictor".lower().startswith("slicer")


def test_the_module_loads_on_an_old_slicer_python():
    """Slicer 5.8 runs Python 3.9: what it reads before the version check must parse there (the
    panel then says it needs 5.10); the rest of the module is for 3.12."""
    import ast

    for path in (MODULE / "ALNPredictor.py", MODULE / "ALNPredictorLib" / "headless.py",
                 MODULE / "ALNPredictorLib" / "__init__.py"):
        ast.parse(path.read_text(encoding="utf-8"), str(path), feature_version=(3, 9))
    text = (MODULE / "ALNPredictor.py").read_text(encoding="utf-8")
    top_imports = re.findall(r"^(?:from|import) (\S+)", text, re.M)
    assert set(top_imports) <= {"__future__", "logging", "os", "functools", "slicer", "vtk", "ALNPredictorLib.headless"}


def test_the_unsupported_message_and_version_gate():
    import ALNPredictor

    assert ALNPredictor.is_supported(None) and ALNPredictor.is_supported((5, 10)) and ALNPredictor.is_supported((6, 0))
    assert not ALNPredictor.is_supported((5, 8)) and not ALNPredictor.is_supported((5, 9))
    assert "ALNPredictor needs 3D Slicer 5.10 or later; this is Slicer 5.8." in ALNPredictor.unsupported_message((5, 8))
    assert ALNPredictor.path_is_set(Path("model.alnmodel")) and not ALNPredictor.path_is_set(Path())
    assert not ALNPredictor.path_is_set("") and not ALNPredictor.path_is_set(None)


def test_readme_says_the_panel_picture_is_a_mock_up():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/panel.png" in text and "mock-up" in text.lower()


def test_the_parameter_node_class_is_not_made_at_import():
    """Defect 1: the class names Markups' MRML classes, which do not exist yet when Slicer instantiates
    ALNPredictor (alphabetical order); it is defined on first use, inside the application only."""
    import ALNPredictor

    assert ALNPredictor._PARAMETER_NODE_CLASS is None
    assert not hasattr(ALNPredictor, "ALNPredictorParameterNode")  # headless: no Qt, no wrapper
    source = (MODULE / "ALNPredictor.py").read_text(encoding="utf-8")
    head = source[: source.index("def parameterNodeClass")]
    assert "vtkMRMLMarkupsFiducialNode" not in head
