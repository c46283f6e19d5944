"""The module's Logic end to end, headless on a real MRML scene (slicer-core) with breast1:
load → seed → segment → propagate → extract → predict with a bundle trained here → results in a
table node that survives saving and reopening the scene → PDF + JSON report.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from helpers import simulated_t2_adc, train_feature_bundle
from pypdf import PdfReader

from alnpredictor.errors import ClinicalDataError, InputError
from alnpredictor.imaging.coords import ras_lps
from alnpredictor.models import save_bundle, train_model

PARAMS = "pyradiomics-baseline"  # original features only: keeps the test fast; the demo runs mri-yu2021


@pytest.fixture()
def study(logic, breast1_image, breast1_label):
    """breast1 as contrast T1, plus T2-like and ADC-like sequences of the same examination with
    patient motion and their own grids; one tumor seed at the label's centroid."""
    t1c = logic.loadVolume(str(breast1_image), "T1C")
    label = sitk.ReadImage(str(breast1_label))
    centre = np.argwhere(sitk.GetArrayFromImage(label) > 0)[:, ::-1].mean(axis=0)
    seed = ras_lps(np.array(label.TransformContinuousIndexToPhysicalPoint(centre.tolist())))
    t2, adc = simulated_t2_adc(logic.imageFromVolumeNode(t1c))
    return {"T1C": t1c, "T2": logic.volumeNodeFromImage(t2, "T2"), "ADC": logic.volumeNodeFromImage(adc, "ADC"),
            "seeds": logic.newPointList("tumor seeds", [seed])}



@pytest.mark.slow
def test_segment_then_predict_then_report(logic, slicer_scene, study, tmp_path):
    import slicer

    # segment (tumor only: breast1 has no axillary nodes in its field of view)
    seg, summary = logic.segmentFromSeeds(study["T1C"], study["seeds"])
    assert summary["structures"]["tumor"]["voxels"] > 50

    # extract: propagation to T2/ADC with registration, N4, 3 PyRadiomics extractions
    features, quality, provenance = logic.extractMRIFeatures(study["T1C"], study["T2"], study["ADC"], seg,
                                                             params=PARAMS, cacheDir=str(tmp_path / "n4"))
    assert {k[:4] for k in features} == {"TT1C", "TT2_", "TADC"}
    assert len(features) == 3 * 107 and all(np.isfinite(v) for v in features.values())
    assert set(quality["registration"]) == {"T2", "ADC"}
    assert provenance["params_sha256"]
    propagated = [n for n in slicer.util.getNodesByClass("vtkMRMLSegmentationNode", slicer_scene) if "→" in n.GetName()]
    assert len(propagated) == 2

    bundle = train_feature_bundle(features, tmp_path / "test.alnmodel")
    model = logic.loadModel(bundle)
    assert [f["name"] for f in logic.clinicalFields(model)] == ["age"]

    # clinical data are checked before anything is predicted
    with pytest.raises(ClinicalDataError, match="age: missing"):
        logic.predictMRI(study["T1C"], study["T2"], study["ADC"], seg, bundle, clinical={}, params=PARAMS)
    with pytest.raises(ClinicalDataError, match="plausible range"):
        logic.predictMRI(study["T1C"], study["T2"], study["ADC"], seg, bundle, clinical={"age": 300}, params=PARAMS)

    steps = []
    t0 = time.perf_counter()
    result = logic.predictMRI(study["T1C"], study["T2"], study["ADC"], seg, bundle, clinical={"age": 61},
                              params=PARAMS, cacheDir=str(tmp_path / "n4"),
                              progress=lambda f, m: steps.append((f, m)))
    seconds = time.perf_counter() - t0
    print(f"Predict → result on breast1: {seconds:.1f} s")
    pred = result["prediction"]
    assert 0.0 < pred["probability"] < 1.0
    assert pred["class"] in ("metastasis", "no metastasis")
    assert pred["class"] == ("metastasis" if pred["probability"] >= pred["cutoff"] else "no metastasis")
    assert set(pred["points"]) == {"signature", "age"} and pred["total_points"] == pytest.approx(sum(pred["points"].values()))
    assert steps[0][0] == 0.0 and steps[-1] == (1.0, "done")
    assert all(a[0] <= b[0] for a, b in zip(steps, steps[1:]))
    # the same features give the same prediction through the core
    assert pred["probability"] == pytest.approx(model.predict_case({**features, "age": 61}).probability, abs=1e-12)
    # the panel's nomogram picture: the model reads the patient's features and clinical values
    png = logic.nomogramImage(model, pred["values"], str(tmp_path / "nomogram.png"), features=result["features"],
                              clinical={"age": 61})
    assert png and sitk.GetArrayFromImage(sitk.ReadImage(png)).std() > 10

    # results live in a table node that survives saving and reopening the scene
    table = result["table"]
    assert table.IsA("vtkMRMLTableNode") and table.GetTable().GetNumberOfRows() >= 6
    mrb = tmp_path / "scene.mrb"
    assert slicer_scene.WriteToMRB(str(mrb))
    slicer_scene.Clear(0)
    assert slicer_scene.ReadFromMRB(str(mrb))
    reopened = slicer_scene.GetFirstNodeByName("ALNPredictor results")
    assert reopened is not None
    restored = logic.resultsFromTable(reopened)
    assert restored["probability"] == pred["probability"] and restored["points"] == pred["points"]

    # report: PDF + JSON, key image not blank, identifiers only on request
    t1c = slicer_scene.GetFirstNodeByName("T1C")
    seg2 = slicer_scene.GetFirstNodeByName(seg.GetName())
    out = logic.exportReport(str(tmp_path / "report"), restored, model, t1c, seg2, features=features,
                             clinical={"age": 61}, identifiers={"patient_id": "PAT-0042 <i>x</i>"},
                             includeIdentifiers=False, quality=result["quality"])
    text = "".join(p.extract_text() for p in PdfReader(out["pdf"]).pages)
    assert "ALNM probability" in text and f"{pred['probability']:.3f}" in text
    assert "Model card" in text and "Features appendix" in text and "PAT-0042" not in text
    key = sitk.GetArrayFromImage(sitk.ReadImage(out["key_images"][0]))
    assert key.std() > 20
    assert out["nomogram"] and sitk.GetArrayFromImage(sitk.ReadImage(out["nomogram"])).std() > 10
    data = json.loads(open(out["json"], encoding="utf-8").read())
    assert data["identifiers"] is None and data["prediction"]["probability"] == pred["probability"]

    out = logic.exportReport(str(tmp_path / "report-ids"), restored, model, t1c, seg2, features=features,
                             clinical={"age": 61}, identifiers={"patient_id": "PAT-0042 <i>x</i>"},
                             includeIdentifiers=True)
    text = "".join(p.extract_text() for p in PdfReader(out["pdf"]).pages)
    assert "PAT-0042 <i>x</i>" in text  # shown, escaped (printed literally)


@pytest.mark.slow
def test_model_for_other_features_is_refused(logic, study, tmp_path):
    seg, _ = logic.segmentFromSeeds(study["T1C"], study["seeds"])
    table = pd.DataFrame({"LT1C_original_firstorder_Mean": np.r_[np.zeros(20), np.ones(20)] + np.random.default_rng(0).normal(0, 1, 40),
                          "label": [0] * 20 + [1] * 20})
    bundle = save_bundle(train_model(table, "label", "lasso-logistic", n_folds=5), tmp_path / "nodes.alnmodel")
    with pytest.raises(InputError, match="trained on other features"):
        logic.predictMRI(study["T1C"], study["T2"], study["ADC"], seg, str(bundle), params=PARAMS,
                         cacheDir=str(tmp_path / "n4"))
