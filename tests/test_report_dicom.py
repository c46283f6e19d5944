"""DICOM results that go back to PACS: breast1 (real breast MRI) written as a DICOM MR series, its
ROIs stored as a DICOM SEG, the report as an Encapsulated PDF and the key results as a
Comprehensive 3D SR — read back voxel for voxel, validated by highdicom and by dicom3tools'
dciodvfy when it is installed, identifiers copied from the source only."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from dicom_series import write_mr_series

from alnpredictor.errors import InputError
from alnpredictor.imaging.io import read_mask, read_volume
from alnpredictor.report import dicom

PREDICTION = {"probability": 0.731, "class": "metastasis", "cutoff": 0.42, "total_points": 118.5}


@pytest.fixture(scope="module")
def study(tmp_path_factory, breast1_image, breast1_label):
    """breast1 as a DICOM series (files in shuffled order), the series read back by the product's
    reader, and the tumor label plus a peritumoral shell ("nodes") on that grid."""
    folder = tmp_path_factory.mktemp("dicom") / "T1C"
    write_mr_series(read_volume(breast1_image), folder)
    image = read_volume(folder)
    tumor = read_mask(breast1_label, reference=image)
    shell = sitk.And(sitk.BinaryDilate(tumor, [3, 3, 1]), sitk.Not(tumor))
    return folder, image, {"tumor": tumor, "nodes": shell}


@pytest.fixture(scope="module")
def results(study, tmp_path_factory):
    folder, _, masks = study
    pdf = tmp_path_factory.mktemp("pdf") / "report.pdf"
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(pdf))
    c.drawString(72, 720, "ALNPredictor report")
    c.save()
    out = tmp_path_factory.mktemp("out")
    written = dicom.write_dicom_results(out, {"T1C": dicom.read_series(folder)}, {"T1C": masks}, PREDICTION, pdf,
                                        "demo-nomogram", "1.0")
    return out, written


def test_seg_round_trip_is_identical_voxel_for_voxel(study, results):
    folder, image, masks = study
    _, written = results
    datasets = dicom.read_series(folder)
    back = dicom.read_segmentation_masks(written["seg"]["T1C"], datasets)
    assert set(back) == {"tumor (T1C)", "nodes (T1C)"}
    for name, mask in masks.items():
        frames = back[f"{name} (T1C)"]
        expected = dicom.mask_frames(datasets, mask)
        assert frames.sum() == sitk.GetArrayViewFromImage(mask).sum() > 0
        assert np.array_equal(frames, expected), name
    # and the frames are where the source frames are: the SEG's k-th frame is the mask at that position
    seg = pydicom.dcmread(written["seg"]["T1C"])
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == datasets[0].SeriesInstanceUID
    assert seg.SegmentSequence[0].SegmentedPropertyTypeCodeSequence[0].CodeValue == "108369006"  # SCT Neoplasm
    assert seg.SegmentSequence[1].SegmentedPropertyTypeCodeSequence[0].CodeValue == "59441001"  # SCT Lymph node


def test_identifiers_come_from_the_source_and_file_names_hold_none(study, results):
    folder, _, _ = study
    _, written = results
    source = dicom.read_series(folder)[0]
    paths = [*written["seg"].values(), written["pdf"], written["sr"]]
    for path in paths:
        ds = pydicom.dcmread(path)
        for key in ("PatientName", "PatientID", "StudyInstanceUID", "AccessionNumber"):
            assert ds[key].value == source[key].value, (path, key)
        assert ds.SeriesInstanceUID != source.SeriesInstanceUID
        assert "P001" not in str(path) and "Patient" not in str(path)


def test_sr_holds_the_key_results_and_references_the_seg(results):
    _, written = results
    import highdicom as hd

    sr = hd.sr.srread(written["sr"])
    text = str(sr)
    assert "Probability of axillary lymph node metastasis" in text and "0.731" in text
    assert "Metastasis" in text and "Nomogram total points" in text
    seg = pydicom.dcmread(written["seg"]["T1C"])
    assert seg.SOPInstanceUID in text, "the volumes do not reference the SEG"
    groups = sr.content.get_volumetric_roi_measurement_groups() if hasattr(sr.content, "get_volumetric_roi_measurement_groups") else None
    if groups is not None:
        assert len(groups) == 2
    pdf = pydicom.dcmread(written["pdf"])
    assert pdf.MIMETypeOfEncapsulatedDocument == "application/pdf"
    assert bytes(pdf.EncapsulatedDocument)[:4] == b"%PDF"


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dicom3tools' dciodvfy is not installed")
def test_objects_pass_dciodvfy(results):
    _, written = results
    for path in [*written["seg"].values(), written["pdf"], written["sr"]]:
        out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
        errors = [ln for ln in (out.stdout + out.stderr).splitlines() if ln.startswith("Error")]
        assert not errors, f"{path}:\n" + "\n".join(errors)


def test_a_mask_from_another_grid_is_refused(study, tmp_path, breast1_image):
    folder, image, masks = study
    other = sitk.Image(image.GetSize()[0] // 2, image.GetSize()[1], image.GetSize()[2], sitk.sitkUInt8)
    other[5, 5, 5] = 1
    with pytest.raises(InputError, match="own grid"):
        dicom.segmentation(dicom.read_series(folder), {"tumor": other}, "T1C")
    with pytest.raises(InputError, match="no DICOM image series"):
        dicom.read_series(tmp_path)
