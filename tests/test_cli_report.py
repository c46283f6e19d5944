"""``alnpredictor report`` as typed: a real breast MRI study (breast1 as contrast T1, T2 and ADC
simulated from it with patient motion) stored as DICOM series of one study → the pathway → the
model → PDF + JSON report and the DICOM results for PACS, read back and checked."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
import SimpleITK as sitk
from bad_inputs import assert_refused, run_cli, snapshot
from dicom_series import write_mr_series
from helpers import simulated_t2_adc, train_feature_bundle

from alnpredictor.imaging.io import read_mask, read_volume
from alnpredictor.report import dicom

FIXTURES = Path(__file__).parent / "fixtures" / "regression"


@pytest.fixture(scope="module")
def dicom_study(tmp_path_factory, breast1_image, breast1_label):
    """One DICOM study (three series, shuffled file names, one folder) + masks on the reference."""
    root = tmp_path_factory.mktemp("study")
    study_dir = root / "STUDY"
    t1c = read_volume(breast1_image)
    t2, adc = simulated_t2_adc(t1c)
    uid = pydicom.uid.generate_uid()
    for image, description, number in ((t1c, "T1C post-contrast", 5), (t2, "Ax T2 TSE", 3), (adc, "ADC map", 7)):
        write_mr_series(image, study_dir / f"s{number}", series_description=description, study_uid=uid,
                        series_number=number)
    reference = read_volume(study_dir / "s5")
    tumor = read_mask(breast1_label, reference=reference)
    shell = sitk.And(sitk.BinaryDilate(tumor, [4, 4, 1]), sitk.Not(tumor))
    masks = root / "masks"
    masks.mkdir()
    sitk.WriteImage(tumor, str(masks / "mask_tumor.nrrd"), True)
    sitk.WriteImage(shell, str(masks / "mask_nodes.nrrd"), True)
    features = pd.read_csv(FIXTURES / "breast1.csv").drop(columns="case_id").iloc[0].to_dict()
    # a small model (first-order and shape features of the tumor on T1C and T2): quick to train
    features = {k: v for k, v in features.items() if k.startswith(("TT1C_original_", "TT2_original_"))
                and ("_firstorder_" in k or "_shape_" in k)}
    bundle = train_feature_bundle(features, root / "model.alnmodel")
    return study_dir, masks, bundle, tumor


@pytest.mark.slow
def test_report_from_a_dicom_study_writes_the_report_and_dicom_results(dicom_study, tmp_path, capsys):
    study_dir, masks, bundle, tumor = dicom_study
    out, dicom_out = tmp_path / "report", tmp_path / "pacs"
    result = run_cli(["report", "--dicom", study_dir, "--masks", masks, "--model", bundle, "--out", out,
                      "--dicom-out", dicom_out, "--clinical", "age=54", "--no-n4"], capsys)
    assert result.rc == 0, result.err
    summary = json.loads(result.out)
    report = json.loads(Path(summary["files"]["json"]).read_text())
    assert Path(summary["files"]["pdf"]).read_bytes()[:4] == b"%PDF"
    assert summary["probability"] == pytest.approx(report["prediction"]["probability"])
    assert summary["class"] in ("metastasis", "no metastasis")

    written = summary["files"]["dicom"]
    assert set(written["seg"]) == {"T1C", "T2", "ADC"}
    series = {s["description"]: s["uid"] for s in dicom.list_series(study_dir)}
    t1c = dicom.read_series(study_dir, series["T1C post-contrast"])
    back = dicom.read_segmentation_masks(written["seg"]["T1C"], t1c)
    assert np.array_equal(back["tumor (T1C)"], dicom.mask_frames(t1c, tumor)), "the reference SEG is not the mask given"
    for seq, description in (("T2", "Ax T2 TSE"), ("ADC", "ADC map")):
        seg = pydicom.dcmread(written["seg"][seq])
        assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == series[description]
        assert dicom.read_segmentation_masks(written["seg"][seq], dicom.read_series(study_dir, series[description])
                                             )["tumor (" + seq + ")"].sum() > 0, f"empty propagated tumor on {seq}"
    pdf = pydicom.dcmread(written["pdf"])
    assert bytes(pdf.EncapsulatedDocument).rstrip(b"\0") == Path(summary["files"]["pdf"]).read_bytes()
    sr = pydicom.dcmread(written["sr"])
    assert sr.StudyInstanceUID == t1c[0].StudyInstanceUID
    assert _numeric(sr, "ALNM-P") == pytest.approx(summary["probability"], abs=1e-12)
    assert _numeric(sr, "ALNM-CUT") == pytest.approx(summary["cutoff"], abs=1e-12)
    assert "Test^Patient" not in json.dumps(report) and "P001" not in json.dumps(report), \
        "identifiers written without asking"


def _numeric(dataset, code: str) -> float | None:
    """The numeric value of the SR content item whose concept name has ``code`` (depth first)."""
    for item in dataset.get("ContentSequence", []):
        name = item.get("ConceptNameCodeSequence")
        if name and name[0].CodeValue == code and "MeasuredValueSequence" in item:
            return float(item.MeasuredValueSequence[0].NumericValue)
        found = _numeric(item, code)
        if found is not None:
            return found
    return None


def test_a_study_whose_series_do_not_name_the_sequences_is_refused(tmp_path, capsys, breast1_image):
    study_dir = tmp_path / "STUDY"
    write_mr_series(read_volume(breast1_image), study_dir, series_description="dyn_3")
    out = tmp_path / "out"
    result = run_cli(["report", "--dicom", study_dir, "--model", tmp_path / "m.alnmodel", "--out", out,
                      "--seed", "tumor=0,0,0"], capsys)
    assert_refused(result, "named T1C", "--series T1C=", "dyn_3", before={}, folder=out)
    assert snapshot(out) == {}


def test_dicom_out_without_a_dicom_study_is_refused(tmp_path, capsys):
    result = run_cli(["report", "--case-dir", tmp_path, "--model", tmp_path / "m", "--out", tmp_path / "o",
                      "--dicom-out", tmp_path / "d"], capsys)
    assert_refused(result, "--dicom-out", "--dicom STUDY_DIR")


def test_a_structure_without_mask_or_seed_names_what_to_give(tmp_path, capsys, breast1_image):
    """A case folder with the images but no tumor mask and no --seed: one line naming the structure and
    both ways to give it (a seed, or the mask file by its name)."""
    import shutil

    case = tmp_path / "case"
    case.mkdir()
    shutil.copy(breast1_image, case / "T1C.nrrd")
    result = run_cli(["report", "--case-dir", case, "--model", tmp_path / "m.alnmodel", "--out", tmp_path / "o"],
                     capsys)
    assert_refused(result, "tumor", "--seed tumor=R,A,S", "mask_tumor file", before={}, folder=tmp_path / "o")
