"""Ultrasound pixel spacing: PNG with and without a given spacing, DICOM PixelSpacing and
SequenceOfUltrasoundRegions, the documented 2-D geometry, refusal of features without a spacing,
the manifest's spacing_mm column, and the lesion-parts warning (once, only above a few pixels).

The DICOM files are written here byte by byte (explicit VR little endian; regions with defined and
undefined lengths): pydicom is not a dependency and GDCM does not write ultrasound regions.
"""

from __future__ import annotations

import logging
import struct

import numpy as np
import pytest
import SimpleITK as sitk

from alnpredictor.errors import InputError
from alnpredictor.imaging.coords import ras_lps
from alnpredictor.imaging.io import (
    NO_SPACING,
    read_mask,
    read_volume,
    require_spacing,
    spacing_source,
    ultrasound_region_spacing,
)

_LONG_VR = {b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN", b"OD", b"OL", b"UC", b"UR"}


def _el(group, elem, vr, value, undefined=False):
    vr = vr.encode()
    if isinstance(value, str):
        value = value.encode()
        pad = b"\0" if vr == b"UI" else b" "
        if len(value) % 2:
            value += pad
    if vr in _LONG_VR:
        length = 0xFFFFFFFF if undefined else len(value)
        return struct.pack("<HH2sHI", group, elem, vr, 0, length) + value
    return struct.pack("<HH2sH", group, elem, vr, len(value)) + value
def _item(body, undefined=False):
    if undefined:
        return struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF) + body + struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
    return struct.pack("<HHI", 0xFFFE, 0xE000, len(body)) + body
def write_us_dicom(path, pixels, regions=(), pixel_spacing=None, undefined=False):
    """A single-frame Ultrasound Image Storage file; regions are (delta x, delta y, units) in cm."""
    rows, cols = pixels.shape
    sop = "1.2.840.10008.5.1.4.1.1.6.1"
    inst = "1.2.826.0.1.3680043.8.498.1"
    meta = (_el(2, 1, "OB", b"\0\1") + _el(2, 2, "UI", sop) + _el(2, 3, "UI", inst)
            + _el(2, 0x10, "UI", "1.2.840.10008.1.2.1") + _el(2, 0x12, "UI", "1.2.826.0.1.3680043.8.498.2"))
    meta = _el(2, 0, "UL", struct.pack("<I", len(meta))) + meta
    ds = _el(8, 0x16, "UI", sop) + _el(8, 0x18, "UI", inst) + _el(8, 0x60, "CS", "US") + _el(0x10, 0x10, "PN", "Test^US")
    if regions:
        items = b""
        for (dx, dy, units) in regions:
            body = (_el(0x18, 0x6012, "US", struct.pack("<H", 1)) + _el(0x18, 0x6014, "US", struct.pack("<H", 1))
                    + _el(0x18, 0x6018, "UL", struct.pack("<I", 0)) + _el(0x18, 0x601A, "UL", struct.pack("<I", 0))
                    + _el(0x18, 0x601C, "UL", struct.pack("<I", cols - 1)) + _el(0x18, 0x601E, "UL", struct.pack("<I", rows - 1))
                    + _el(0x18, 0x6024, "US", struct.pack("<H", units)) + _el(0x18, 0x6026, "US", struct.pack("<H", units))
                    + _el(0x18, 0x602C, "FD", struct.pack("<d", dx)) + _el(0x18, 0x602E, "FD", struct.pack("<d", dy)))
            items += _item(body, undefined)
        if undefined:
            items += struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
        ds += _el(0x18, 0x6011, "SQ", items, undefined)
    ds += _el(0x20, 0xD, "UI", "1.2.826.0.1.3680043.8.498.3") + _el(0x20, 0xE, "UI", "1.2.826.0.1.3680043.8.498.4")
    ds += _el(0x20, 0x13, "IS", "1")
    ds += (_el(0x28, 2, "US", struct.pack("<H", 1)) + _el(0x28, 4, "CS", "MONOCHROME2")
           + _el(0x28, 0x10, "US", struct.pack("<H", rows)) + _el(0x28, 0x11, "US", struct.pack("<H", cols)))
    if pixel_spacing is not None:
        ds += _el(0x28, 0x30, "DS", f"{pixel_spacing[0]}\\{pixel_spacing[1]}")
    ds += (_el(0x28, 0x100, "US", struct.pack("<H", 8)) + _el(0x28, 0x101, "US", struct.pack("<H", 8))
           + _el(0x28, 0x102, "US", struct.pack("<H", 7)) + _el(0x28, 0x103, "US", struct.pack("<H", 0)))
    data = np.ascontiguousarray(pixels, np.uint8).tobytes()
    if len(data) % 2:
        data += b"\0"
    ds += _el(0x7FE0, 0x10, "OB", data)
    with open(path, "wb") as fh:
        fh.write(b"\0" * 128 + b"DICM" + meta + ds)


def _png(path, arr):
    sitk.WriteImage(sitk.GetImageFromArray(arr.astype(np.uint8)), str(path))
    return path


@pytest.fixture()
def frame():
    rng = np.random.default_rng(0)
    return (rng.integers(0, 255, (40, 60))).astype(np.uint8)


def test_png_without_spacing_is_refused_for_features(tmp_path, frame):
    from alnpredictor.pathways import us

    path = _png(tmp_path / "f.png", frame)
    image = read_volume(path)
    assert image.GetSpacing()[:2] == (1.0, 1.0) and spacing_source(image) == NO_SPACING
    with pytest.raises(InputError, match=r"no pixel spacing .*--spacing-mm .*spacing_mm column"):
        require_spacing(image, "frame f.png")
    mask = np.zeros((40, 60), np.uint8)
    mask[10:30, 20:40] = 1
    with pytest.raises(InputError, match="no pixel spacing"):
        us.run_case(image, seeds_ras=None, mask=sitk.JoinSeries(sitk.GetImageFromArray(mask)))


def test_png_with_spacing_geometry_rule(tmp_path, frame):
    """Pixel (column i, row j) is at LPS (i·s, j·s, 0), RAS (−i·s, −j·s, 0); a PNG mask takes the grid."""
    path = _png(tmp_path / "f.png", frame)
    image = read_volume(path, spacing_mm=0.08)
    assert spacing_source(image) == "given" and image.GetSize() == (60, 40, 1)
    assert np.allclose(image.GetSpacing()[:2], (0.08, 0.08))
    assert image.GetOrigin() == (0.0, 0.0, 0.0) and image.GetDirection() == (1, 0, 0, 0, 1, 0, 0, 0, 1)
    i, j = 17, 5
    lps = np.array(image.TransformIndexToPhysicalPoint((i, j, 0)))
    assert np.allclose(lps, (i * 0.08, j * 0.08, 0.0)) and np.allclose(ras_lps(lps), (-i * 0.08, -j * 0.08, 0.0))
    mask = np.zeros((40, 60), np.uint8)
    mask[10:30, 20:40] = 255
    m = read_mask(_png(tmp_path / "m.png", mask), reference=image)
    assert m.GetSpacing() == image.GetSpacing()
    require_spacing(image)  # fine
    with pytest.raises(InputError, match="positive number of mm"):
        read_volume(path, spacing_mm=-1)


@pytest.mark.parametrize("undefined", [False, True])
def test_dicom_ultrasound_regions(tmp_path, frame, undefined):
    path = tmp_path / "us.dcm"
    write_us_dicom(path, frame, regions=[(0.012, 0.015, 3)], undefined=undefined)
    assert ultrasound_region_spacing(path) == pytest.approx((0.12, 0.15))
    image = read_volume(path)
    assert spacing_source(image) == "DICOM ultrasound regions"
    assert np.allclose(image.GetSpacing()[:2], (0.12, 0.15))  # (column, row)
    assert np.array_equal(sitk.GetArrayFromImage(image)[0], frame)
    # a spacing given explicitly wins over the file's
    assert spacing_source(read_volume(path, spacing_mm=0.2)) == "given"


def test_dicom_regions_not_in_cm_and_pixel_spacing(tmp_path, frame):
    path = tmp_path / "seconds.dcm"
    write_us_dicom(path, frame, regions=[(0.01, 0.01, 4), (0.02, 0.03, 3)])  # first region in seconds: skipped
    assert ultrasound_region_spacing(path) == pytest.approx((0.2, 0.3))
    ps = tmp_path / "ps.dcm"
    write_us_dicom(ps, frame, pixel_spacing=(0.2, 0.25))  # row spacing \\ column spacing
    image = read_volume(ps)
    assert spacing_source(image) == "DICOM PixelSpacing" and np.allclose(image.GetSpacing()[:2], (0.25, 0.2))
    none = tmp_path / "none.dcm"
    write_us_dicom(none, frame)
    assert ultrasound_region_spacing(none) is None and spacing_source(read_volume(none)) == NO_SPACING
    assert ultrasound_region_spacing(_png(tmp_path / "f.png", frame)) is None


def test_manifest_spacing_column(tmp_path, frame):
    from alnpredictor.cohort.manifest import ManifestError, load_manifest

    _png(tmp_path / "f.png", frame)
    good = tmp_path / "good.csv"
    good.write_text("case_id,pathway,image_US,seeds_tumor,spacing_mm\nA,us,f.png,\"-1,-1,0\",0.07\nB,us,f.png,\"-1,-1,0\",\n")
    cases = load_manifest(good).cases
    assert cases[0].spacing_mm == 0.07 and cases[1].spacing_mm is None
    assert cases[0].to_dict()["spacing_mm"] == 0.07
    bad = tmp_path / "bad.csv"
    bad.write_text("case_id,pathway,image_US,seeds_tumor,spacing_mm\nA,us,f.png,\"-1,-1,0\",zero\n")
    with pytest.raises(ManifestError, match="spacing_mm 'zero' is not a positive number"):
        load_manifest(bad)


def test_extract_takes_spacing_mm():
    from alnpredictor.cli import build_parser
    from alnpredictor.cli.extract_us import settings_from_args

    args = build_parser().parse_args(["extract", "--pathway", "us", "--manifest", "m.csv", "--out", "o.csv",
                                      "--spacing-mm", "0.09", "--no-radiomics"])
    assert settings_from_args(args).spacing_mm == 0.09


def test_lesion_parts_warning_once_and_only_for_real_parts(caplog):
    from alnpredictor.features import ultrasound

    frame = np.full((60, 80), 100.0, np.float32)
    mask = np.zeros((60, 80), np.uint8)
    mask[15:45, 20:50] = 1
    frame[mask > 0] = 40.0
    image = sitk.JoinSeries(sitk.GetImageFromArray(frame))
    image.SetSpacing((0.1, 0.1, 1.0))

    def run(m):
        mk = sitk.JoinSeries(sitk.GetImageFromArray(m))
        mk.CopyInformation(image)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="alnpredictor.features.ultrasound"):
            ultrasound.handcrafted_features(image, mk, radiomics=False)
        return [r.getMessage() for r in caplog.records if "separate parts" in r.getMessage()]

    stray = mask.copy()
    stray[2:4, 2:4] = 1  # 4 pixels of stray labelling: dropped silently
    assert run(stray) == []
    second = mask.copy()
    second[50:56, 60:70] = 1  # a real second part (60 pixels): said once
    messages = run(second)
    assert len(messages) == 1 and "2 separate parts" in messages[0] and "60 dropped" in messages[0]
