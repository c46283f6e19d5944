"""Bad-input catalogue, images and parameter files (issue 14, items 10 and 12 and the ``--params`` /
constant-image tracebacks): every row is a real file written with SimpleITK (breast1, a busi-dev
frame) or by hand where ITK cannot write the fault, driven through the CLI as typed, and must be
refused with exit 2 and one ``error:`` line naming the input (``tests/bad_inputs.py``).

Good-input rows at the end check that the new checks refuse nothing real: an intact DICOM series,
a detached NRRD header beside its data, breast1 extracted as before, parameter files parsed to the
dictionaries PyRadiomics' own validator builds."""

from __future__ import annotations

import functools
import gzip
import os
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from bad_inputs import assert_refused, run_cli, run_cli_process, snapshot
from dicom_series import write_mr_series

from alnpredictor.config import shared_data

SMALL_PARAMS = """imageType:
  Original: {}
featureClass:
  shape:
  firstorder:
setting:
  binWidth: 25
  label: 1
"""


@functools.cache
def _breast1() -> tuple[sitk.Image, sitk.Image]:
    cases = shared_data("pyradiomics-cases")
    image = sitk.ReadImage(str(cases / "breast1_image.nrrd"))
    label = sitk.Cast(sitk.ReadImage(str(cases / "breast1_label.nrrd")) > 0, sitk.sitkUInt8)
    return image, label


def _image() -> sitk.Image:
    return sitk.Image(_breast1()[0])


def _label() -> sitk.Image:
    return sitk.Image(_breast1()[1])


def _like(array: np.ndarray, ref: sitk.Image) -> sitk.Image:
    out = sitk.GetImageFromArray(array)
    out.CopyInformation(ref)
    return out


def _tumour_ras() -> str:
    """A point inside breast1's tumour, RAS mm as typed on the command line."""
    x, y, z = _image().TransformIndexToPhysicalPoint((25, 70, 9))
    return f"{-x:.3f},{-y:.3f},{z:.3f}"


def write_dicom_series(image: sitk.Image, folder: Path) -> list[Path]:
    """``image`` as a DICOM MR series, one file per slice; the files in slice order."""
    return write_mr_series(image, folder, series_description="bad-input test", shuffle_files=False)


def _edit_header(path: Path, old: str, new: str) -> None:
    """Replace one header line of an uncompressed (raw) NRRD/MHA file, keeping its data bytes."""
    data = path.read_bytes()
    assert old.encode() in data, f"{old!r} not in {path.name}"
    path.write_bytes(data.replace(old.encode(), new.encode(), 1))


def _header_line(path: Path, key: str) -> str:
    head = path.read_bytes()[:4096].decode("latin-1")
    return next(line for line in head.splitlines() if line.startswith(key))


def _write_raw(image: sitk.Image, path: Path) -> None:
    sitk.WriteImage(image, str(path), useCompression=False)


# ---------------------------------------------------------------------------------------------------
# extract --case-dir: one bad T1C (or mask) per row; the mask is breast1's tumour unless replaced
# ---------------------------------------------------------------------------------------------------
def _sheared_nrrd(case: Path) -> None:
    img = _image()
    img.SetDirection((1, 0.3, 0, 0, 1, 0, 0, 0, 1))
    _write_raw(img, case / "T1C.nrrd")


def _sheared_nifti(case: Path) -> None:
    # ITK refuses to write a sheared sform; set it in the header as a scanner export would carry it
    sitk.WriteImage(_image(), str(case / "T1C.nii.gz"))
    data = bytearray(gzip.open(case / "T1C.nii.gz").read())
    srow_x = struct.unpack_from("<4f", data, 280)
    struct.pack_into("<4f", data, 280, srow_x[0], 0.3, 0.0, srow_x[3])
    struct.pack_into("<h", data, 254, 1)  # sform_code: scanner
    (case / "T1C.nii.gz").write_bytes(gzip.compress(bytes(data)))


def _nan_origin_nrrd(case: Path) -> None:
    _write_raw(_image(), case / "T1C.nrrd")  # ITK cannot write a NaN origin; the header says it by hand
    _edit_header(case / "T1C.nrrd", _header_line(case / "T1C.nrrd", "space origin:"), "space origin: (nan,nan,nan)")


def _nan_origin_mha(case: Path) -> None:
    img = _image()
    img.SetOrigin((float("nan"), 0.0, 0.0))
    _write_raw(img, case / "T1C.mha")  # ITK writes "Offset = nan 0 0" and reads it back as 0


def _nan_origin_nifti(case: Path) -> None:
    img = _image()
    img.SetOrigin((float("nan"),) * 3)
    sitk.WriteImage(img, str(case / "T1C.nii.gz"))


def _spacing(value: float) -> Callable[[Path], None]:
    def build(case: Path) -> None:
        img = _image()
        img.SetSpacing((value,) * 3)
        lab = _label()
        lab.CopyInformation(img)
        _write_raw(img, case / "T1C.nrrd")
        _write_raw(lab, case / "mask_tumor.nrrd")
    return build


def _dicom_missing_slice(case: Path) -> None:
    files = write_dicom_series(_image(), case / "T1C")
    files[9].unlink()  # the tumour's middle slice: ITK only warns and stretches 20 slices over 21


def _dicom_truncated_last(case: Path) -> None:
    files = write_dicom_series(_image(), case / "T1C")
    data = files[-1].read_bytes()
    files[-1].write_bytes(data[: len(data) - 3000])  # GDCM skips it without a word: the gap check cannot see it


def _dicom_repeated_slice(case: Path) -> None:
    files = write_dicom_series(_image(), case / "T1C")
    shutil.copy(files[8], files[9])  # slice 8 twice (same position), slice 9 gone


def _voxels(value: float, n: int = 5) -> Callable[[Path], None]:
    def build(case: Path) -> None:
        arr = sitk.GetArrayFromImage(_image()).astype(np.float32)
        roi = np.argwhere(sitk.GetArrayFromImage(_label()) > 0)[:n]
        arr[tuple(roi.T)] = value
        _write_raw(_like(arr, _image()), case / "T1C.nrrd")
    return build


def _constant(case: Path) -> None:
    _write_raw(_like(np.full(sitk.GetArrayFromImage(_image()).shape, 100, np.int16), _image()), case / "T1C.nrrd")


def _two_d(case: Path) -> None:
    _write_raw(_image()[:, :, 9], case / "T1C.nrrd")
    _write_raw(_label()[:, :, 9], case / "mask_tumor.nrrd")


def _secret(case: Path) -> Path:
    """A file outside the case folder that a hostile header tries to read as voxels."""
    secret = case.parent / "secret.bin"
    secret.write_bytes(bytes(range(256)) * 8)
    return secret


def _small_mask(case: Path) -> None:
    m = np.zeros((8, 8, 8), np.uint8)
    m[3:5, 3:5, 3:5] = 1
    _write_raw(sitk.GetImageFromArray(m), case / "mask_tumor.nrrd")


_NHDR = ("NRRD0004\ntype: unsigned char\ndimension: 3\nsizes: 8 8 8\nspace: left-posterior-superior\n"
         "space directions: (1,0,0) (0,1,0) (0,0,1)\nspace origin: (0,0,0)\nencoding: raw\n")


def _nrrd_data_file(target: Callable[[Path], str]) -> Callable[[Path], None]:
    def build(case: Path) -> None:
        (case / "T1C.nrrd").write_text(_NHDR + f"data file: {target(case)}\n")
        _small_mask(case)
    return build


def _nrrd_list(case: Path) -> None:
    (case / "part0.raw").write_bytes(bytes(256))
    (case / "T1C.nrrd").write_text(_NHDR + f"data file: LIST 2\npart0.raw\n{_secret(case)}\n")
    _small_mask(case)


def _nrrd_symlink(case: Path) -> None:
    (case / "T1C.raw").symlink_to(_secret(case))
    (case / "T1C.nrrd").write_text(_NHDR + "data file: T1C.raw\n")
    _small_mask(case)


def _mhd_data_file(case: Path) -> None:
    _secret(case)
    (case / "T1C.mhd").write_text("ObjectType = Image\nNDims = 3\nDimSize = 8 8 8\nElementType = MET_UCHAR\n"
                                  "ElementSpacing = 1 1 1\nElementDataFile = ../secret.bin\n")
    _small_mask(case)


def _nrrd_pattern(case: Path) -> None:
    _secret(case)
    (case / "T1C.nrrd").write_text(_NHDR + "data file: ../secret%d.bin 1 2 1 2\n")
    _small_mask(case)


def _mask_data_file(case: Path) -> None:
    _write_raw(_image(), case / "T1C.nrrd")
    shape = " ".join(str(s) for s in _image().GetSize())
    header = (_NHDR.replace("sizes: 8 8 8", f"sizes: {shape}")
              .replace("space directions: (1,0,0) (0,1,0) (0,0,1)", _header_line(case / "T1C.nrrd", "space directions"))
              .replace("space origin: (0,0,0)", _header_line(case / "T1C.nrrd", "space origin")))
    (case / "mask_tumor.nrrd").write_text(header + "data file: /etc/passwd\n")


EXTRACT_ROWS = {
    # row id: (build the case folder, texts the one error line must hold)
    "sheared direction (NRRD)": (_sheared_nrrd, ("T1C.nrrd", "not orthonormal")),
    "sheared sform (NIfTI)": (_sheared_nifti, ("T1C.nii.gz", "sheared")),
    "NaN origin in an NRRD header (ITK reads 0)": (_nan_origin_nrrd, ("T1C.nrrd", "space origin", "nan")),
    "NaN origin in a MetaImage header (ITK reads 0)": (_nan_origin_mha, ("T1C.mha", "offset", "nan")),
    "NaN origin (NIfTI)": (_nan_origin_nifti, ("T1C.nii.gz", "origin", "not a finite")),
    "spacing 1e6 mm": (_spacing(1e6), ("T1C.nrrd", "spacing", "1e+06")),
    "spacing 1e-9 mm": (_spacing(1e-9), ("T1C.nrrd", "spacing", "1e-09")),
    "DICOM series, slice missing": (_dicom_missing_slice, ("T1C", "incomplete", "20 slices", "imply 21")),
    "DICOM series, last slice truncated": (_dicom_truncated_last, ("T1C", "_0020.dcm", "could not be read")),
    "DICOM series, slice repeated": (_dicom_repeated_slice, ("T1C", "same position")),
    "NaN voxels inside the ROI": (_voxels(np.nan), ("T1C.nrrd", "5 NaN voxel(s)")),
    "+inf voxels inside the ROI": (_voxels(np.inf), ("T1C.nrrd", "5 infinite voxel(s)")),
    "constant image": (_constant, ("T1C", "constant", "texture is undefined")),
    "2-D image to 3-D extraction": (_two_d, ("T1C", "single 2-D slice", "--pathway us")),
    "NRRD data file /etc/passwd": (_nrrd_data_file(lambda c: "/etc/passwd"), ("T1C.nrrd", "/etc/passwd", "outside")),
    "NRRD data file ../ (traversal)": (_nrrd_data_file(lambda c: (_secret(c), "../secret.bin")[1]),
                                       ("T1C.nrrd", "../secret.bin", "outside")),
    "NRRD data file LIST with an outside file": (_nrrd_list, ("T1C.nrrd", "secret.bin", "outside")),
    "NRRD data file: a link leading outside": (_nrrd_symlink, ("T1C.nrrd", "T1C.raw", "outside")),
    "MetaImage ElementDataFile ../": (_mhd_data_file, ("T1C.mhd", "../secret.bin", "outside")),
    "NRRD data file pattern ../%d": (_nrrd_pattern, ("T1C.nrrd", "../secret1.bin", "outside")),
    "mask header with data file /etc/passwd": (_mask_data_file, ("mask_tumor.nrrd", "/etc/passwd", "outside")),
}


@pytest.fixture()
def small_params(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SMALL_PARAMS)
    return path


def _extract(case: Path, out: Path, params: Path, capsys):
    return run_cli(["extract", "--case-dir", case, "--sequences", "T1C", "--rois", "T", "--params", params,
                    "--out", out / "features.csv"], capsys)


@pytest.mark.parametrize("row", list(EXTRACT_ROWS))
def test_extract_refuses_bad_image(row: str, tmp_path: Path, small_params: Path, capsys):
    build, names = EXTRACT_ROWS[row]
    case = tmp_path / "cases" / "case1"
    case.mkdir(parents=True)
    _write_raw(_label(), case / "mask_tumor.nrrd")
    build(case)
    inputs = snapshot(case)
    result = _extract(case, tmp_path / "out", small_params, capsys)
    assert_refused(result, *names)
    assert snapshot(case) == inputs
    assert not (tmp_path / "out" / "features.csv").exists()


def test_metaimage_format_string_is_refused_not_run(tmp_path: Path):
    """``ElementDataFile = %s...`` makes ITK's MetaImage reader call sprintf with an integer: the process
    dies with SIGSEGV (exit -11). Run as a separate process, so that a regression cannot kill the suite."""
    header = tmp_path / "T1C.mhd"
    header.write_text("ObjectType = Image\nNDims = 3\nDimSize = 4 4 2\nElementType = MET_UCHAR\n"
                      "ElementDataFile = %s%s%s%s%s%s%s%s.raw 1 2 1\n")
    out = tmp_path / "out"
    result = run_cli_process(["segment", "--image", header, "--seed-ras", "-1,-1,0", "--out", out / "m.nrrd"])
    assert_refused(result, "T1C.mhd", "%s", "sprintf", before={}, folder=out)


# ---------------------------------------------------------------------------------------------------
# --params: never run, a clear "not a valid parameter file" naming the file
# ---------------------------------------------------------------------------------------------------
PARAMS_ROWS = {
    "malformed YAML": ("p.yaml", "setting: [binWidth: 25\n  label: 1\n", ("p.yaml", "malformed YAML")),
    "YAML list, not a mapping": ("p.yaml", "- setting\n- imageType\n", ("p.yaml", "a list, not a mapping")),
    "empty file": ("p.yaml", "", ("p.yaml", "empty")),
    "unknown key (PyRadiomics' schema)": ("p.yaml", "setting:\n  binWidht: 25\n",
                                          ("p.yaml", "binWidht", "was not defined")),
    "python/object tag": ("p.yaml", "setting: !!python/object/apply:os.system ['touch PWNED']\n",
                          ("p.yaml", "python/object/apply:os.system", "not allowed")),
    "malformed JSON": ("p.json", '{"setting": ', ("p.json", "malformed JSON")),
    "2 MB file": ("p.yaml", "# " + "x" * (2 << 20) + "\nsetting: {}\n", ("p.yaml", "2,097,", "bytes")),
    "alias bomb": ("p.yaml", "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{k}: &{k} [{', '.join(['*' + p] * 10)}]\n" for p, k in zip("abcde", "bcdef")), ("p.yaml", "expands")),
}


@pytest.mark.parametrize("row", list(PARAMS_ROWS))
def test_extract_refuses_bad_params(row: str, tmp_path: Path, capsys, monkeypatch):
    name, text, names = PARAMS_ROWS[row]
    case = tmp_path / "case1"
    case.mkdir()
    _write_raw(_image(), case / "T1C.nrrd")
    _write_raw(_label(), case / "mask_tumor.nrrd")
    params = tmp_path / name
    params.write_text(text)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    result = _extract(case, out, params, capsys)
    assert_refused(result, "not a valid parameter file", *names, before={}, folder=out)
    assert not (tmp_path / "PWNED").exists()


# ---------------------------------------------------------------------------------------------------
# segment: the imaging side (constant image was a ZeroDivisionError)
# ---------------------------------------------------------------------------------------------------
def _seg_constant(folder: Path) -> list[str]:
    _constant(folder)
    return ["--image", folder / "T1C.nrrd", "--seed-ras", _tumour_ras()]


def _seg_nan(folder: Path) -> list[str]:
    _voxels(np.nan)(folder)
    return ["--image", folder / "T1C.nrrd", "--seed-ras", _tumour_ras()]


def _seg_sheared(folder: Path) -> list[str]:
    _sheared_nrrd(folder)
    return ["--image", folder / "T1C.nrrd", "--seed-ras", _tumour_ras()]


def _seg_passwd(folder: Path) -> list[str]:
    (folder / "T1C.nrrd").write_text(_NHDR + "data file: /etc/passwd\n")
    return ["--image", folder / "T1C.nrrd", "--seed-ras", "-4,-4,4"]


def _seg_dicom_gap(folder: Path) -> list[str]:
    _dicom_missing_slice(folder)
    return ["--image", folder / "T1C", "--seed-ras", _tumour_ras()]


def _seg_us_spacing(folder: Path) -> list[str]:
    frame = shared_data("busi-dev") / "images" / "busi_benign_070.png"
    return ["--image", frame, "--spacing-mm", "1e-9", "--seed-ras", "-100,-100,0"]


SEGMENT_ROWS = {
    "constant image": (_seg_constant, ("image to segment", "constant")),
    "NaN voxels": (_seg_nan, ("T1C.nrrd", "NaN")),
    "sheared direction": (_seg_sheared, ("T1C.nrrd", "not orthonormal")),
    "NRRD data file /etc/passwd": (_seg_passwd, ("T1C.nrrd", "/etc/passwd", "outside")),
    "DICOM series, slice missing": (_seg_dicom_gap, ("T1C", "incomplete")),
    "ultrasound frame, --spacing-mm 1e-9": (_seg_us_spacing, ("busi_benign_070.png", "pixel spacing", "1e-09")),
}


@pytest.mark.parametrize("row", list(SEGMENT_ROWS))
def test_segment_refuses_bad_image(row: str, tmp_path: Path, capsys):
    build, names = SEGMENT_ROWS[row]
    inputs = tmp_path / "in"
    inputs.mkdir()
    argv = build(inputs)
    out = tmp_path / "out"
    result = run_cli(["segment", *argv, "--out", out / "tumor.nrrd"], capsys)
    assert_refused(result, *names, before={}, folder=out)


# ---------------------------------------------------------------------------------------------------
# good input: nothing real refused, nothing changed
# ---------------------------------------------------------------------------------------------------
def test_intact_dicom_series_reads_as_the_volume(tmp_path: Path):
    from alnpredictor.imaging.io import read_volume

    write_dicom_series(_image(), tmp_path / "T1C")
    (tmp_path / "T1C" / "notes.txt").write_text("not DICOM: ignored")
    volume = read_volume(tmp_path / "T1C")
    assert np.array_equal(sitk.GetArrayFromImage(volume), sitk.GetArrayFromImage(_image()))
    assert np.allclose(volume.GetSpacing(), _image().GetSpacing(), atol=1e-4)
    assert np.allclose(volume.GetOrigin(), _image().GetOrigin(), atol=1e-4)


def test_detached_header_beside_its_data_reads(tmp_path: Path):
    from alnpredictor.imaging.io import read_volume

    arr = np.arange(512, dtype=np.uint8).reshape(8, 8, 8)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "v.raw").write_bytes(arr.tobytes())
    (tmp_path / "v.nhdr").write_text(_NHDR + "data file: data/v.raw\n")
    (tmp_path / "v.mhd").write_text("ObjectType = Image\nNDims = 3\nDimSize = 8 8 8\nElementType = MET_UCHAR\n"
                                    "ElementSpacing = 1 1 1\nElementDataFile = data/v.raw\n")
    for k in range(8):  # one file per slice, named by a %03d pattern
        (tmp_path / "data" / f"s{k + 1:03d}.raw").write_bytes(arr[k].tobytes())
    (tmp_path / "p.nhdr").write_text(_NHDR + "data file: data/s%03d.raw 1 8 1 2\n")
    (tmp_path / "p.mhd").write_text("ObjectType = Image\nNDims = 3\nDimSize = 8 8 8\nElementType = MET_UCHAR\n"
                                    "ElementSpacing = 1 1 1\nElementDataFile = data/s%03d.raw 1 8 1\n")
    for name in ("v.nhdr", "v.mhd", "p.nhdr", "p.mhd"):
        assert np.array_equal(sitk.GetArrayFromImage(read_volume(tmp_path / name)), arr), name


def test_breast1_case_still_extracts(tmp_path: Path, small_params: Path, capsys):
    """The checks pass real data: breast1 (int16, NRRD, a DICOM series of it) extracts as before."""
    from alnpredictor.features.radiomics import extract_roi

    case = tmp_path / "case1"
    case.mkdir()
    _write_raw(_image(), case / "T1C.nrrd")
    _write_raw(_label(), case / "mask_tumor.nrrd")
    result = _extract(case, tmp_path / "out", small_params, capsys)
    assert result.rc == 0, result.err
    import pandas as pd

    row = pd.read_csv(tmp_path / "out" / "features.csv").iloc[0]
    direct, _ = extract_roi(_image(), _label(), small_params)
    assert row["TT1C_original_firstorder_Mean"] == direct["original_firstorder_Mean"]


@pytest.mark.parametrize("name", ["mri-yu2021", "us-liu2024", "pyradiomics-baseline", "exponent"])
def test_params_parse_as_pykwalify_does(name: str, tmp_path: Path):
    """The safe parse gives the dictionary PyRadiomics' own validator loads from the path."""
    import pykwalify.core
    from radiomics import getParameterValidationFiles

    from alnpredictor.features.params import load_params, resolve_params_path

    if name == "exponent":  # YAML 1.2 reads 1e-3 as a number (PyYAML's 1.1 would read a string)
        path = tmp_path / "exponent.yaml"
        path.write_text("setting:\n  binWidth: 1e-3\n  label: 1\nimageType:\n  Original: {}\n")
    else:
        path = resolve_params_path(name)
    schema, funcs = getParameterValidationFiles()
    theirs = pykwalify.core.Core(source_file=str(path), schema_files=[schema], extensions=[funcs]).validate()
    ours = load_params(path).params
    assert ours == dict(theirs)
    assert repr(ours) == repr(dict(theirs))  # same types too (1 vs 1.0, lists vs tuples)
    if name == "exponent":
        assert ours["setting"]["binWidth"] == 0.001


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_extraction_entry_refuses_bad_voxels_in_memory(value: float):
    """Images from the Slicer scene never pass the file readers: the extraction entry checks them too,
    and says how many bad voxels lie inside the ROI."""
    from alnpredictor.features.radiomics import extract_case, extract_roi
    from alnpredictor.imaging.io import VoxelValueError

    arr = sitk.GetArrayFromImage(_image()).astype(np.float32)
    roi = np.argwhere(sitk.GetArrayFromImage(_label()) > 0)[:5]
    arr[tuple(roi.T)] = value
    arr[0, 0, 0] = value  # and one outside
    image = _like(arr, _image())
    params = {"imageType": {"Original": {}}, "featureClass": {"firstorder": None}}
    with pytest.raises(VoxelValueError, match="6 .* voxel.*5 of them inside the ROI"):
        extract_roi(image, _label(), params, name="ROI T on T1C")
    with pytest.raises(VoxelValueError, match="image T1C has 6"):  # before N4 spreads them
        extract_case({"T1C": image}, {("T", "T1C"): _label()}, params, workers=1, n4=True)


def test_extraction_entry_refuses_a_single_slice_unless_force2d():
    from alnpredictor.features.radiomics import extract_roi
    from alnpredictor.imaging.io import ImageDimensionError, ensure_3d_scalar

    image, mask = ensure_3d_scalar(_image()[:, :, 9]), ensure_3d_scalar(_label()[:, :, 9])
    with pytest.raises(ImageDimensionError, match="single 2-D slice"):
        extract_roi(image, mask, {"featureClass": {"shape": None}})
    features, _ = extract_roi(image, mask, {"setting": {"force2D": True}, "featureClass": {"shape2D": None}})
    assert features["original_shape2D_PixelSurface"] > 0


def test_no_run_of_hostile_params_even_through_the_api(tmp_path: Path):
    from alnpredictor.errors import InputError
    from alnpredictor.features.params import load_params

    marker = tmp_path / "PWNED"
    path = tmp_path / "p.yaml"
    path.write_text(f"setting: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(InputError, match="not a valid parameter file"):
        load_params(path)
    assert not marker.exists()
    assert os.path.exists(path)


@pytest.mark.slow
def test_cohort_runner_records_the_named_error(tmp_path: Path, small_params: Path, capsys):
    """The manifest path reads through the same readers: the bad case fails alone, with the reader's
    message in failures.csv; the good case is extracted."""
    import pandas as pd

    good, bad = tmp_path / "good", tmp_path / "bad"
    good.mkdir()
    _write_raw(_image(), good / "T1C.nrrd")
    _write_raw(_label(), good / "mask_tumor.nrrd")
    bad.mkdir()
    _dicom_missing_slice(bad)
    _write_raw(_label(), bad / "mask_tumor.nrrd")
    manifest = tmp_path / "manifest.csv"
    shell = sitk.And(sitk.BinaryDilate(_label(), (3, 3, 1)), sitk.Not(_label()))
    for folder in (good, bad):
        _write_raw(shell, folder / "mask_nodes.nrrd")
    rows = []
    for name in ("good", "bad"):
        image = f"{name}/T1C" + (".nrrd" if name == "good" else "")
        rows.append({"case_id": name, **{f"image_{s}": image for s in ("T1C", "T2", "ADC")},
                     "mask_tumor": f"{name}/mask_tumor.nrrd", "mask_nodes": f"{name}/mask_nodes.nrrd"})
    pd.DataFrame(rows).to_csv(manifest, index=False)
    result = run_cli(["extract", "--manifest", manifest, "--rois", "T", "--params", small_params, "--no-n4",
                      "--no-register", "--no-progress", "--out", tmp_path / "run"], capsys)
    assert result.rc == 1, result.err
    failures = pd.read_csv(tmp_path / "run" / "failures.csv")
    assert list(failures["case_id"]) == ["bad"]
    assert "is incomplete or unevenly spaced" in " ".join(map(str, failures.iloc[0]))
    assert list(pd.read_csv(tmp_path / "run" / "features.csv")["case_id"]) == ["good"]


@pytest.mark.parametrize("header", ["data file: /etc/passwd\n", "data file: ../secret%d.bin 1 2 1 2\n"])
def test_slicer_logic_label_loader_refuses_hostile_headers(header: str, logic, breast1_image: Path, tmp_path: Path):
    """The Logic's label-map loader reads through SimpleITK directly: it parses the header first too."""
    from alnpredictor.imaging.io import UnsafeHeaderError

    volume = logic.loadVolume(str(breast1_image), "breast1")
    path = tmp_path / "case" / "label.nrrd"
    path.parent.mkdir()
    path.write_text(_NHDR + header)
    with pytest.raises(UnsafeHeaderError, match="outside its own folder"):
        logic.loadLabelAsSegmentation(str(path), volume)
    with pytest.raises(UnsafeHeaderError, match="outside its own folder"):
        logic.loadVolume(str(path), "hostile")
