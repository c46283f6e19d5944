"""The report a radiologist signs (issue 15 items 1-3): page 1 the clinical answer, page 2 the
quality in words, no JSON in the PDF, key images per sequence, and a nomogram whose labels never
overlap and whose patient markers are always visible — for a demo-like nomogram over a radiomic
signature, an SVM-signature nomogram and a clinical-only nomogram.

The patient is breast1 (real breast MRI; T2/ADC simulated from it with motion) run through the MRI
pathway as the ``report`` command does; the models are trained on cohorts built around its features.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from helpers import breast1_inputs
from pypdf import PdfReader

from alnpredictor import study
from alnpredictor.models import train_model
from alnpredictor.report.figures import nomogram_figure, nomogram_text_overlaps

FEATURES = ["TT1C_original_firstorder_Mean", "TT2_original_shape_Sphericity", "LT1C_original_firstorder_Median",
            "TADC_original_glcm_Contrast", "LT2_original_firstorder_Energy"]
CLINICAL = {"age": 42, "clinical_N": "N1", "ki67": 56}  # Ki-67 56: beyond every model's range below


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """breast1 through the MRI pathway (given masks, registration, no N4: seconds)."""
    from alnpredictor.cohort.manifest import load_manifest
    from alnpredictor.pathways import mri
    from alnpredictor.settings import MRISettings

    manifest = breast1_inputs(tmp_path_factory.mktemp("breast1"))
    settings = MRISettings(n4=False)
    inputs = mri.read_case(load_manifest(manifest).cases[0].to_dict(), settings)
    return inputs["images"], mri.run_case(settings=settings, **inputs), settings


def cohort(features: dict[str, float], n: int = 120, seed: int = 0) -> pd.DataFrame:
    """A training cohort around one patient's features: each varies log-normally; metastasis follows
    two of them, age and Ki-67 (Ki-67 drawn 1-50, so 56 lies outside)."""
    rng = np.random.default_rng(seed)
    base = np.array([features[f] for f in FEATURES])
    rows = base * np.exp(rng.normal(0, 0.15, (n, len(FEATURES))))
    df = pd.DataFrame(rows, columns=FEATURES)
    signal = np.log(rows[:, 0] / base[0]) - np.log(rows[:, 1] / base[1])
    df["age"] = rng.integers(30, 80, n)
    df["clinical_N"] = rng.choice(["N0", "N1", "N2", "N3"], n, p=[0.5, 0.3, 0.15, 0.05])
    df["ki67"] = np.clip(rng.normal(25, 10, n), 1, 50).round()
    df["subtype"] = rng.choice(["Luminal A", "Luminal B", "HER2-enriched", "Triple-negative"], n)
    df["label"] = (signal * 12 - 0.02 * (df["age"] - 55) + 0.04 * (df["ki67"] - 25)
                   + rng.normal(0, 1, n) > 0).astype(int)
    return df


@pytest.fixture(scope="module")
def models(case):
    _, result, _ = case
    df = cohort(result.features)
    svm = train_model(df, "label", "svm-rbf", features=FEATURES[:4], name="SVM signature")
    clinical = ["age", "clinical_N", "ki67"]
    return {
        "demo-like": train_model(df, "label", "nomogram", clinical=clinical, features=FEATURES, n_folds=5,
                                 name="Radiomic nomogram (demo)", site="A", intended_use="Demonstration only."),
        "svm-signature": train_model(df, "label", "nomogram", clinical=[*clinical, "subtype"], signature=svm,
                                     name="SVM-signature nomogram"),
        "clinical-only": train_model(df, "label", "nomogram", clinical=[*clinical, "subtype"], features=[],
                                     name="Clinical nomogram"),
    }


def _row(result, **clinical) -> dict:
    return {**result.features, **CLINICAL, "subtype": "Luminal B", **clinical}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["demo-like", "svm-signature", "clinical-only"])
@pytest.mark.parametrize("patient", ["inside", "outside"])
def test_nomogram_labels_never_overlap_and_every_marker_shows(kind, patient, models, case):
    """Before: signature ticks printed as ``0.50.51.5``, age as ``6642``, a Ki-67 beyond the axis had
    no marker and the total and probability fell off the chart."""
    model = models[kind]
    row = _row(case[1], **({"ki67": 20, "age": 50} if patient == "inside" else {"ki67": 56, "age": 95}))
    fig = nomogram_figure(model, row)
    fig.canvas.draw()
    assert nomogram_text_overlaps(fig) == [], "tick labels, names or notes overlap"
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    preds = model.spec["points"]["predictors"]
    for pred in preds:
        if pred["kind"] == "categorical":  # every level is labelled (alone or sharing a label)
            shown = " / ".join(texts)
            assert all(str(level) in shown for level in pred["levels"]), pred["levels"]
    marks = [line for line in ax.get_lines() if line.get_marker() == "v"]
    assert len(marks) == len(preds) + 1, "one marker per predictor and the total"
    x0, x1 = ax.get_xlim()
    assert all(x0 <= line.get_xdata()[0] <= x1 for line in marks), "a marker off the chart"
    outside = [t for t in texts if "outside the training range" in t]
    if patient == "outside":
        assert outside and any(t.startswith("56") for t in outside), texts
    else:
        assert not outside
    continuous = [p for p in preds if p["kind"] == "continuous" and p["effect_max"] > p["effect_min"]]
    directions = [t for t in texts if t in ("higher →", "← higher")]
    assert len(directions) == len(continuous), "each continuous axis says which way its values grow"


def _export(case, model, out, **options):
    from alnpredictor.pathways import mri
    from alnpredictor.report.export import export_patient_report

    images, result, settings = case
    ref = settings.sequences[0]

    def on(seq):
        return {s: result.masks[(study.roi_code(s), seq)] for s in settings.structures
                if (study.roi_code(s), seq) in result.masks}

    prediction = mri.predict(model, result.features, {**CLINICAL, "subtype": "Luminal B"})
    sequences = options.pop("sequences", None) or {s: (images[s], on(s)) for s in settings.sequences}
    return export_patient_report(out, prediction, model, images[ref], on(ref), features=result.features,
                                 clinical={**CLINICAL, "subtype": "Luminal B"}, identifiers={"patient_id": "PAT-77"}, quality=result.quality,
                                 image_label=ref, sequences=sequences, provenance=result.provenance, **options)


def _pages(pdf) -> list[str]:
    return [" ".join(p.extract_text().split()) for p in PdfReader(str(pdf)).pages]


JSON_TEXT = re.compile(r'[{}]|"\w+":|\w+ › \w+')


@pytest.mark.slow
def test_demo_like_report_clinical_part_on_two_pages_in_words(case, models, tmp_path):
    paths = _export(case, models["demo-like"], tmp_path / "report", demo=True)
    pages = _pages(paths["pdf"])
    one, two = pages[0], pages[1]
    data = json.loads(open(paths["json"], encoding="utf-8").read())
    p = data["prediction"]
    # page 1: the answer, how it is computed, points, warnings, nomogram and key images
    assert f"{p['probability']:.3f}" in one and f"cut-off {p['cutoff']:.3f}" in one
    assert "95% interval" in one and "Wald interval on the log-odds scale" in one and "How it is computed" in one
    assert all(name in one for name in p["points"]) and "outside the training range" in one
    assert "Warnings" in one and "Synthetic-data model" in one and "ki67 = 56" in one
    assert "Nomogram" in one and "Key images" in one
    assert all(f"{seq} — {s}" in one for seq in ("T1C", "T2", "ADC") for s in ("tumor", "nodes"))
    # page 2: quality in words, one sentence per sequence, volumes, N4, parameter file and versions
    q = data["quality"]["registration"]["T2"]
    assert (f"T2: registered to T1C, moved {q['translation_mm']:.1f} mm / {q['rotation_deg']:.1f}°, converged, "
            f"metric {q['metric']:.2f}".replace("-", "−")) in two
    assert "ROI volumes (mL)" in two and "N4 bias-field correction not applied" in two
    assert "mri-yu2021.yaml" in two and "PyRadiomics v3.0.1" in two
    assert "Model card" not in one + two and "Appendix A — Model card summary" in pages[2]
    assert "Training cohort" in pages[2] and "Cut-off" in pages[2] and "Intended use" in pages[2]
    # no JSON and no raw key/value dumps anywhere; identifiers only when asked
    for i, text in enumerate(pages):
        assert not JSON_TEXT.search(text), f"page {i + 1}: {JSON_TEXT.search(text).group(0)!r}"
    assert "Euler3DTransform" not in " ".join(pages) and "PAT-77" not in " ".join(pages)
    assert data["identifiers"] is None and data["quality"]["registration"]["T2"]["transform"]  # the JSON keeps them
    # the key images and the nomogram embedded in page 1 are pictures, not blank
    embedded = [np.asarray(_image(img.data)) for img in PdfReader(paths["pdf"]).pages[0].images]
    assert len(embedded) == 7, "six key images (3 sequences × 2 ROIs) and the nomogram"
    assert all(a.std() > 10 for a in embedded)
    key = sitk.GetArrayFromImage(sitk.ReadImage(paths["key_images"][0]))
    red = (key[..., 0] > 180) & (key[..., 1] < 100) & (key[..., 2] < 100)
    assert red.sum() > 10, "the tumor outline is drawn on the T1C key image"


def _image(data: bytes):
    from PIL import Image

    return Image.open(io.BytesIO(data)).convert("L")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("pdftoppm") is None,
                    reason="pdftoppm (Debian poppler-utils) is not installed: the page raster check needs it; the "
                           "embedded pictures are checked without it")
def test_report_pages_render_with_pictures_where_they_belong(case, models, tmp_path):
    """Rendered as a reader sees it: page 1's lower half (key images) and middle (nomogram) are not blank."""
    paths = _export(case, models["svm-signature"], tmp_path / "report")
    subprocess.run(["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "2", paths["pdf"], str(tmp_path / "page")],
                   check=True, timeout=60)
    one = np.asarray(_image((tmp_path / "page-1.png").read_bytes()), dtype=float)
    two = np.asarray(_image((tmp_path / "page-2.png").read_bytes()), dtype=float)
    h = one.shape[0]
    assert one[int(0.35 * h):int(0.6 * h)].std() > 20, "no nomogram in the middle of page 1"
    assert one[int(0.6 * h):int(0.95 * h)].std() > 20, "no key images at the bottom of page 1"
    assert (two < 128).mean() > 0.005, "page 2 is empty"


@pytest.mark.slow
def test_report_warns_in_words_about_border_rejected_registration_and_untrained_backbone(case, models, tmp_path):
    from alnpredictor.report.document import build_report

    images, result, settings = case
    quality = json.loads(json.dumps(result.quality))
    quality["registration"]["ADC"].update(registered=False, rejected=True, warnings=[
        "registration moved 14.0 mm / 3.0° at the ROIs, more than the limit of 10 mm / 10°; rejected, masks "
        "resampled without registration"])
    quality["registration"]["T2"].update(translation_mm=7.5)
    card = {**models["demo-like"].card, "details": {"us_pathway": {"deep_backbone": "untrained backbone"}}}
    report = build_report(models["demo-like"].predict_case(_row(result)), card, quality=quality,
                          findings=["ROI touching the image border: tumor on T2 reaches the edge along z; the "
                                    "structure may be cut off by the field of view."], reference="T1C")
    warnings = " ".join(report["warnings"])
    assert "Registration rejected on ADC" in warnings and "Large motion on T2: registration moved 7.5 mm" in warnings
    assert "ROI touching the image border" in warnings and "Untrained deep backbone" in warnings
    assert "ADC: registration rejected" in " ".join(report["quality_summary"])
    # a mask that reaches the edge of its image is found by export_patient_report itself
    from alnpredictor.report.keyimages import touches_border

    t2 = images["T2"]
    edge = sitk.Image(t2.GetSize(), sitk.sitkUInt8)
    edge.CopyInformation(t2)
    edge[0:3, 10:14, 2:4] = 1
    assert touches_border(edge) == ["x"] and touches_border(result.masks[("T", "T1C")]) == []
    paths = _export(case, models["clinical-only"], tmp_path / "r", sequences={
        "T1C": (images["T1C"], {"tumor": result.masks[("T", "T1C")]}), "T2": (t2, {"tumor": edge})})
    text = " ".join(_pages(paths["pdf"])[:1])
    assert "ROI touching the image border: tumor on T2 reaches the edge along x" in text


@pytest.mark.slow
def test_logic_report_shows_every_sequence_and_fits_two_pages(logic, slicer_scene, breast1_image, breast1_label,
                                                              tmp_path):
    """The panel's Export report: the Logic's report, with the propagated segmentations of the scene."""
    import slicer
    from helpers import simulated_t2_adc, train_feature_bundle

    t1c = logic.loadVolume(str(breast1_image), "T1C")
    t2, adc = simulated_t2_adc(logic.imageFromVolumeNode(t1c))
    t2, adc = logic.volumeNodeFromImage(t2, "T2"), logic.volumeNodeFromImage(adc, "ADC")
    label = sitk.ReadImage(str(breast1_label)) > 0
    shell = sitk.And(sitk.BinaryDilate(label, (3, 3, 1)), sitk.Not(label))
    seg = logic.segmentationNodeFromMasks({"tumor": label, "nodes": shell}, t1c, "ROIs")
    features, quality, provenance = logic.extractMRIFeatures(t1c, t2, adc, seg, params="pyradiomics-baseline",
                                                             n4=False)
    propagated = {n.GetName(): n for n in slicer.util.getNodesByClass("vtkMRMLSegmentationNode", slicer_scene)}
    model = logic.loadModel(train_feature_bundle(features, tmp_path / "m.alnmodel"))
    prediction = logic.predict(model, features, {"age": 61}).to_dict()
    out = logic.exportReport(str(tmp_path / "report"), prediction, model, t1c, seg, features=features,
                             clinical={"age": 61}, quality=quality, provenance=provenance,
                             sequenceNodes={"T1C": (t1c, seg), "T2": (t2, propagated["ROIs → T2"]),
                                            "ADC": (adc, propagated["ROIs → ADC"])})
    pages = _pages(out["pdf"])
    assert f"{prediction['probability']:.3f}" in pages[0] and "Key images" in pages[0]
    assert all(f"{seq} — {s}" in pages[0] for seq in ("T1C", "T2", "ADC") for s in ("tumor", "nodes"))
    assert "T2: registered to T1C" in pages[1] and "ADC: registered to T1C" in pages[1]
    assert "pyradiomics-baseline" in pages[1] and "ROI volumes (mL)" in pages[1]
    assert "Appendix A — Model card summary" in pages[2] and "Appendix" not in pages[0] + pages[1], \
        "the clinical part is not pages 1-2"
    assert not any(JSON_TEXT.search(text) for text in pages)
    assert len(out["key_images"]) == 6 and all(
        sitk.GetArrayFromImage(sitk.ReadImage(p)).std() > 10 for p in out["key_images"])


@pytest.mark.slow
def test_ultrasound_frame_report_gives_areas_and_warns_of_an_untrained_backbone(shared_dir, tmp_path):
    """A single-slice frame (BUSI, real ultrasound): areas in mm² instead of volumes, no "axial"
    slices, and the untrained-backbone warning in words, from the model or the case's provenance."""
    from alnpredictor.report.export import export_patient_report

    busi = shared_dir / "data" / "busi-dev"
    image = sorted((busi / "images").glob("*.png"))[3]
    frame = sitk.JoinSeries(sitk.ReadImage(str(image), sitk.sitkFloat32))  # one slice, 0.1 mm pixels
    frame.SetSpacing((0.1, 0.1, 1.0))
    mask = sitk.ReadImage(str(busi / "masks" / f"{image.stem}_mask.png"))
    if mask.GetNumberOfComponentsPerPixel() > 1:
        mask = sitk.VectorIndexSelectionCast(mask, 0)
    mask = sitk.JoinSeries(sitk.Cast(mask > 0, sitk.sitkUInt8))
    mask.CopyInformation(frame)
    rng = np.random.default_rng(0)
    y = (rng.random(150) < 0.4).astype(int)
    df = pd.DataFrame({"US_a": rng.normal(size=150) + y, "DL_5": rng.normal(size=150) - 0.6 * y,
                       "age": rng.integers(30, 80, 150), "birads": rng.choice(["3", "4a", "4b", "4c", "5"], 150),
                       "us_aln": rng.choice(["negative", "positive"], 150), "ALN": y})
    model = train_model(df, "ALN", "nomogram", clinical=["age", "birads", "us_aln"], features=["US_a", "DL_5"],
                        name="DLRN (test)", n_folds=5)
    row = df.iloc[0].to_dict()
    paths = export_patient_report(tmp_path, model.predict_case(row), model, frame, {"tumor": mask},
                                  features={k: row[k] for k in model.features},
                                  clinical={k: row[k] for k in ("age", "birads", "us_aln")},
                                  image_label="ultrasound frame",
                                  provenance={"deep": {"backbone": "torchvision resnet50", "untrained": True,
                                                       "weights": "untrained backbone (random initialisation)"}})
    pages = _pages(paths["pdf"])
    area = float(np.count_nonzero(sitk.GetArrayFromImage(mask))) * 0.01
    assert "Untrained deep backbone" in pages[0] and "axial" not in pages[0]
    assert "ROI areas (mm²)" in pages[1] and f"{area:.1f}" in pages[1] and "ROI volumes" not in pages[1]
    assert "weights: untrained backbone" in pages[1]
    assert not any(JSON_TEXT.search(text) for text in pages)
