"""Reading volumes (NRRD, NIfTI, MHA, DICOM series, 2-D ultrasound), masks and Slicer .seg.nrrd."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from dicom_series import write_mr_series

from alnpredictor.errors import GeometryError, InputError, MaskError
from alnpredictor.imaging.io import (
    ImageDimensionError,
    list_dicom_series,
    read_mask,
    read_segmentation,
    read_volume,
    write_mask,
    write_segmentation,
)


def write_dicom_series(image: sitk.Image, folder, series_uid: str, description: str = "test") -> None:
    """One file per slice, with the tags a scanner writes (series UID, position, orientation)."""
    write_mr_series(image, folder, series_uid=series_uid, series_description=description)


@pytest.fixture(scope="module")
def breast1(breast1_image):
    return read_volume(breast1_image)


def test_nrrd_nifti_mha_give_the_same_volume(breast1, tmp_path):
    assert breast1.GetDimension() == 3 and breast1.GetSize() == (45, 120, 21)
    for ext in ("nii.gz", "mha", "nrrd"):
        path = tmp_path / f"b.{ext}"
        sitk.WriteImage(breast1, str(path))
        again = read_volume(path)
        assert np.array_equal(sitk.GetArrayViewFromImage(again), sitk.GetArrayViewFromImage(breast1))
        assert np.allclose(again.GetOrigin(), breast1.GetOrigin(), atol=1e-4)
        assert np.allclose(again.GetSpacing(), breast1.GetSpacing(), atol=1e-5)


def test_dicom_folder_one_series_and_a_choice_among_several(breast1, tmp_path):
    one = tmp_path / "one"
    write_dicom_series(breast1, one, "1.2.826.0.1.3680043.2.1125.7001")
    vol = read_volume(one)
    assert vol.GetSize() == breast1.GetSize()
    assert np.allclose(vol.GetSpacing(), breast1.GetSpacing(), atol=1e-3)
    assert np.allclose(vol.GetOrigin(), breast1.GetOrigin(), atol=1e-3)
    assert np.array_equal(sitk.GetArrayViewFromImage(vol), sitk.GetArrayViewFromImage(breast1))

    two = tmp_path / "two"
    write_dicom_series(breast1, two, "1.2.826.0.1.3680043.2.1125.7001", "T1C")
    other = 300 - sitk.Cast(breast1, sitk.sitkInt16)  # another contrast, same grid
    write_dicom_series(other, two, "1.2.826.0.1.3680043.2.1125.7002", "T2")
    assert list_dicom_series(two) == {"1.2.826.0.1.3680043.2.1125.7001": 21, "1.2.826.0.1.3680043.2.1125.7002": 21}
    with pytest.raises(InputError, match="2 DICOM series: choose one with --series-uid.*7001.*7002"):
        read_volume(two)
    chosen = read_volume(two, "1.2.826.0.1.3680043.2.1125.7002")
    assert np.array_equal(sitk.GetArrayViewFromImage(chosen), sitk.GetArrayViewFromImage(other))
    with pytest.raises(InputError, match="is not in folder"):
        read_volume(two, "1.2.3")


def test_clear_errors_for_bad_files(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="is empty"):
        read_volume(empty)
    junk_dir = tmp_path / "junk"
    junk_dir.mkdir()
    (junk_dir / "notes.txt").write_text("not dicom")
    with pytest.raises(InputError, match="no readable DICOM series"):
        read_volume(junk_dir)
    corrupt = tmp_path / "corrupt.nrrd"
    corrupt.write_bytes(b"NRRD0004\ntype: short\ndimension: 3\nsizes: 10 10 10\nencoding: raw\n\n\x00\x01")
    with pytest.raises(InputError, match="cannot read image .*corrupt"):
        read_volume(corrupt)
    with pytest.raises(InputError, match="does not exist"):
        read_volume(tmp_path / "missing.nrrd")


def test_four_d_and_vector_images_are_refused(breast1, tmp_path):
    four = tmp_path / "four.nrrd"
    sitk.WriteImage(sitk.JoinSeries([sitk.Cast(breast1, sitk.sitkFloat32)] * 3), str(four))
    with pytest.raises(ImageDimensionError, match="4-D"):
        read_volume(four)
    vec = tmp_path / "vec.nrrd"
    sitk.WriteImage(sitk.Compose([sitk.Cast(breast1, sitk.sitkFloat32)] * 2), str(vec))
    with pytest.raises(ImageDimensionError, match="2 components"):
        read_volume(vec)


def test_ultrasound_png_colour_to_grey_with_spacing(tmp_path):
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 255, (60, 80)).astype(np.uint8)
    rgb = np.stack([grey, grey, grey], axis=-1)
    rgb[0, 0] = (255, 0, 0)  # a coloured annotation pixel
    img = sitk.GetImageFromArray(rgb, isVector=True)
    img.SetSpacing((0.1, 0.1))
    path = tmp_path / "us.png"
    sitk.WriteImage(img, str(path))
    vol = read_volume(path)
    assert vol.GetSize() == (80, 60, 1) and vol.GetNumberOfComponentsPerPixel() == 1
    assert np.allclose(vol.GetSpacing()[:2], (0.1, 0.1), atol=1e-4)  # PNG pHYs carries the spacing
    arr = sitk.GetArrayViewFromImage(vol)[0]
    assert np.allclose(arr[1:, 1:], grey[1:, 1:], atol=0.5)
    assert arr[0, 0] == pytest.approx(0.299 * 255, abs=0.5)
    jpg = tmp_path / "us.jpg"
    sitk.WriteImage(img, str(jpg))
    assert read_volume(jpg, spacing_mm=0.07).GetSpacing()[:2] == pytest.approx((0.07, 0.07))


def test_single_frame_ultrasound_dicom(tmp_path):
    arr = np.random.default_rng(1).integers(0, 255, (1, 50, 70)).astype(np.int16)
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing((0.08, 0.08, 1.0))
    folder = tmp_path / "us"
    write_dicom_series(img, folder, "1.2.826.0.1.3680043.2.1125.9001")
    vol = read_volume(folder)
    assert vol.GetSize() == (70, 50, 1)
    assert np.allclose(vol.GetSpacing()[:2], (0.08, 0.08), atol=1e-4)


def test_masks_geometry_and_labels(breast1, breast1_label, tmp_path):
    mask = read_mask(breast1_label, breast1)
    assert mask.GetPixelID() == sitk.sitkUInt8 and int(sitk.GetArrayViewFromImage(mask).sum()) == 143
    out = write_mask(mask, tmp_path / "m.nii.gz")
    assert np.array_equal(sitk.GetArrayFromImage(read_mask(out, breast1)), sitk.GetArrayViewFromImage(mask))
    shifted = sitk.Image(mask)
    shifted.SetOrigin([v + 2.0 for v in mask.GetOrigin()])
    write_mask(shifted, tmp_path / "s.nrrd")
    with pytest.raises(GeometryError, match=r"origin .* Resample it onto the image first"):
        read_mask(tmp_path / "s.nrrd", breast1)
    multi = sitk.Cast(mask, sitk.sitkUInt8) * 2
    multi[0, 0, 0] = 1
    sitk.WriteImage(multi, str(tmp_path / "multi.nrrd"))
    with pytest.raises(MaskError, match="several labels"):
        read_mask(tmp_path / "multi.nrrd")
    assert int(sitk.GetArrayFromImage(read_mask(tmp_path / "multi.nrrd", label=2)).sum()) == 143
    empty = sitk.Image(mask.GetSize(), sitk.sitkUInt8)
    empty.CopyInformation(mask)
    write_mask(empty, tmp_path / "e.nrrd")
    with pytest.raises(MaskError, match="empty"):
        read_mask(tmp_path / "e.nrrd")
    assert read_mask(tmp_path / "e.nrrd", allow_empty=True).GetSize() == mask.GetSize()


def _masks(breast1, overlap: bool):
    arr = np.zeros(sitk.GetArrayViewFromImage(breast1).shape, np.uint8)
    a, b = arr.copy(), arr.copy()
    a[5:9, 10:20, 10:20] = 1
    b[7:11, 15:25, 15:25] = 1
    if not overlap:
        b[:9] = 0
    out = {}
    for name, x in (("tumor", a), ("nodes", b)):
        out[name] = sitk.GetImageFromArray(x)
        out[name].CopyInformation(breast1)
    return out


@pytest.mark.parametrize("overlap", [False, True])
def test_seg_nrrd_round_trip_and_slicer_reads_it(breast1, tmp_path, overlap, logic):
    """Our .seg.nrrd is read by Slicer's own segmentation storage node (real MRML)."""
    import slicer

    masks = _masks(breast1, overlap)
    path = write_segmentation(masks, tmp_path / "s.seg.nrrd")
    back = read_segmentation(path)
    assert list(back) == ["tumor", "nodes"]
    for name in masks:
        assert np.array_equal(sitk.GetArrayViewFromImage(back[name]), sitk.GetArrayViewFromImage(masks[name]))
    seg = logic.scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    storage = slicer.vtkMRMLSegmentationStorageNode()
    logic.scene.AddNode(storage)
    storage.SetFileName(str(path))
    assert storage.ReadData(seg)
    segmentation = seg.GetSegmentation()
    names = [segmentation.GetNthSegment(i).GetName() for i in range(segmentation.GetNumberOfSegments())]
    assert names == ["tumor", "nodes"]
    assert segmentation.GetNthSegment(0).GetColor() == pytest.approx((0.9, 0.2, 0.2))
    volume = logic.volumeNodeFromImage(breast1, "b")
    for name in masks:
        assert np.array_equal(logic.arrayFromSegment(seg, name, volume), sitk.GetArrayViewFromImage(masks[name]))


def test_we_read_what_slicer_writes(breast1, tmp_path, logic):
    import slicer

    masks = _masks(breast1, overlap=True)
    volume = logic.volumeNodeFromImage(breast1, "b")
    seg = logic.newSegmentationNode(volume)
    for name, m in masks.items():
        logic.setSegmentFromArray(seg, name, sitk.GetArrayFromImage(m), volume)
    storage = slicer.vtkMRMLSegmentationStorageNode()
    logic.scene.AddNode(storage)
    storage.SetFileName(str(tmp_path / "slicer.seg.nrrd"))
    assert storage.WriteData(seg)
    back = read_segmentation(tmp_path / "slicer.seg.nrrd")
    for name in masks:
        got = back[name]
        assert np.array_equal(sitk.GetArrayViewFromImage(got), sitk.GetArrayViewFromImage(masks[name]))
        assert np.allclose(got.GetOrigin(), breast1.GetOrigin(), atol=1e-4)
