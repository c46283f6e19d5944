"""Report: JSON + PDF with escaped user strings, identifiers only on request, non-blank key images."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk
from pypdf import PdfReader

from alnpredictor.models.prediction import Interval, Prediction
from alnpredictor.report.document import build_report, write_json_report, write_pdf_report
from alnpredictor.report.keyimages import centroid_slice, render_key_images


@pytest.fixture()
def breast1(breast1_image, breast1_label):
    image = sitk.ReadImage(str(breast1_image))
    label = sitk.ReadImage(str(breast1_label)) > 0
    return image, sitk.Cast(label, sitk.sitkUInt8)


def _prediction():
    return {"probability": 0.62, "class": "ALNM", "cutoff": 0.407, "total_points": 133.5,
            "points": {"signature": 88.0, "age": 12.5, "us_aln": 33.0}, "values": {"signature": 0.4, "age": 51, "us_aln": 1}}


def test_key_image_through_breast1_tumor_is_not_blank(breast1, tmp_path):
    image, mask = breast1
    assert centroid_slice(mask) == int(np.nonzero(sitk.GetArrayFromImage(mask))[0].mean().round())
    paths = render_key_images(image, {"tumor": mask}, tmp_path)
    assert [p.name for p in paths] == ["key-tumor.png"]
    png = sitk.GetArrayFromImage(sitk.ReadImage(str(paths[0])))
    assert png.std() > 20  # real picture content, not a blank canvas
    # the red tumor outline is drawn
    red = (png[..., 0] > 200) & (png[..., 1] < 90) & (png[..., 2] < 90)
    assert red.sum() > 20


def test_pdf_and_json_escape_user_strings_and_hide_identifiers(breast1, tmp_path):
    image, mask = breast1
    images = render_key_images(image, {"tumor": mask}, tmp_path)
    hostile = "<b>O'Neil & Co</b> <font size=40>x</font>"
    card = {"recipe": "lasso-logistic", "intended_use": hostile, "training": {"n": 621, "prevalence": 0.346}}
    ids = {"patient_name": hostile, "study_id": "ACC-123"}

    hidden = build_report(_prediction(), card, identifiers=ids, key_images=images, features={"DL_1": 0.5})
    assert hidden["identifiers"] is None
    write_pdf_report(hidden, tmp_path / "hidden.pdf")
    text = "".join(p.extract_text() for p in PdfReader(str(tmp_path / "hidden.pdf")).pages)
    assert "ACC-123" not in text

    shown = build_report(_prediction(), card, identifiers=ids, include_identifiers=True, key_images=images,
                         features={"DL_1": 0.5, "US_bad": float("nan")})
    write_json_report(shown, tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert data["identifiers"]["study_id"] == "ACC-123"
    assert data["features"]["US_bad"] is None  # NaN never reaches JSON
    write_pdf_report(shown, tmp_path / "r.pdf")
    reader = PdfReader(str(tmp_path / "r.pdf"))
    assert len(reader.pages) >= 3  # summary, model card, features appendix
    text = "".join(p.extract_text() for p in reader.pages)
    assert "ALNM probability" in text and "0.620" in text and "cut-off 0.407" in text
    assert "<b>O'Neil & Co</b>" in text  # printed literally: markup was escaped, not interpreted
    assert "Model card" in text and "Features appendix" in text
    assert "not be used" in text  # research-use statement


def test_report_takes_a_prediction_or_its_stored_form(tmp_path):
    pred = Prediction(probability=0.62, cutoff=0.407, predicted_class=1, model_name="DLRN", recipe="nomogram",
                      points={"signature": 88.0, "age": 12.5}, total_points=100.5,
                      interval=Interval(low=0.5, high=0.7, method="Wald interval on the log-odds scale"),
                      values={"signature": 0.4, "age": 51.0}).with_context(mask_source="grow-cut")
    card = {"recipe": "nomogram"}
    stored = pred.to_dict()
    legacy = {**{k: v for k, v in stored.items() if k != "class"}, "prediction": "metastasis"}
    reports = [build_report(p, card) for p in (pred, stored, legacy)]
    assert reports[0]["prediction"] == reports[1]["prediction"] == reports[2]["prediction"] == stored
    assert reports[0]["prediction"]["class"] == "metastasis" and reports[0]["prediction"]["mask_source"] == "grow-cut"
    write_pdf_report(reports[2], tmp_path / "r.pdf")
    text = "".join(p.extract_text() for p in PdfReader(str(tmp_path / "r.pdf")).pages)
    assert "metastasis (cut-off 0.407)" in text and "0.500–0.700" in text
