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
