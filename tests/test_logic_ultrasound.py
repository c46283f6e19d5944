"""The panel's Ultrasound Predict through the Logic on a real MRML scene: the one bundle that
ultrasound training saves loads in the Logic and predicts a frame loaded as a volume, the same
probability as the pathway gives on the file; an MRI bundle is refused for ultrasound."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from alnpredictor.errors import InputError
from alnpredictor.models import save_bundle
from alnpredictor.pathways import us, us_model
from alnpredictor.settings import USSettings
from alnpredictor.synthetic.us_cohort import generate_cohort, to_sitk

pytestmark = pytest.mark.slow
NO_TEXTURE = USSettings(radiomics=False)


@pytest.fixture(scope="module")
def cohort_and_bundle(tmp_path_factory):
    """70 synthetic frames → pathway features (given masks, no PyRadiomics texture: faster) →
    train_us_model → one bundle on disk."""
    folder = tmp_path_factory.mktemp("us")
    cases = generate_cohort(70, seed=7)
    rows = []
    for case in cases:
        image = sitk.JoinSeries(to_sitk(case.image, case.spacing))
        mask = sitk.JoinSeries(to_sitk(case.mask.astype(np.uint8), case.spacing))
        feats = us.run_case(image, NO_TEXTURE, mask=mask).features
        rows.append({**feats, **case.clinical, "label": case.label})
    table = pd.DataFrame(rows)
    model = us_model.train_us_model(table, provenance=NO_TEXTURE, n_folds=5)
    return cases, save_bundle(model, folder / "dlrn.alnmodel"), folder


def test_ultrasound_bundle_predicts_a_frame_in_the_logic(logic, cohort_and_bundle, tmp_path):
    cases, bundle, folder = cohort_and_bundle
    case = cases[0]
    path = tmp_path / "frame.nrrd"
    sitk.WriteImage(to_sitk(case.image, case.spacing), str(path), True)
    volume = logic.loadVolume(str(path), "US frame")
    seeds = logic.newPointList("tumor seeds", [case.seed_ras])

    model = logic.loadModel(str(bundle), "us")
    assert [f["name"] for f in logic.clinicalFields(model)] == list(us.CLINICAL)
    result = logic.predictUltrasound(volume, seeds, str(bundle), case.clinical, radiomics=False)
    pred = result["prediction"]
    assert 0.0 <= pred["probability"] <= 1.0 and pred["class"] in ("metastasis", "no metastasis")
    assert set(pred["points"]) == {us.SIGNATURE, *us.CLINICAL} and pred["mask_source"] == "grow-cut"
    assert logic.resultsFromTable(result["table"])["probability"] == pred["probability"]

    # the same frame and click through the pathway on the file: the same answer
    direct = us.run_case(us.read_frame(path), NO_TEXTURE, seeds_ras=[case.seed_ras])
    expected = us.predict(us.load_model(bundle, NO_TEXTURE), direct.features, case.clinical)
    assert pred["probability"] == pytest.approx(expected.probability, abs=1e-12)
    assert direct.features == result["features"]


def test_an_mri_bundle_is_refused_for_ultrasound(logic, tmp_path):
    from alnpredictor.models import train_model

    rng = np.random.default_rng(0)
    label = np.array([0, 1] * 20)
    table = pd.DataFrame({"TT1C_original_firstorder_Mean": label + rng.normal(size=40), "label": label})
    bundle = save_bundle(train_model(table, "label", "lasso-logistic", n_folds=5), tmp_path / "mri.alnmodel")
    with pytest.raises(InputError, match="MRI"):
        logic.loadModel(str(bundle), "us")


def test_deep_weights_follow_the_model_and_default_to_imagenet(logic, cohort_and_bundle, tmp_path):
    """The panel's ResNet50 weights (Logic.ultrasoundSettings with weights=None): torchvision's named
    weights when the model was trained on them, ImageNet when the model does not record its backbone,
    nothing (the untrained backbone it was trained on) otherwise — and a weights file named by the model
    is found next to the bundle."""
    import copy

    from ALNPredictorLib.logic import PANEL_DEFAULT_WEIGHTS

    _, bundle, folder = cohort_and_bundle
    model = logic.loadModel(str(bundle), "us")
    assert any(f.startswith("DL_") for f in model.features)
    assert logic.ultrasoundSettings(model, str(bundle)).weights is None  # trained on the untrained backbone

    def with_backbone(record):
        other = copy.deepcopy(model)
        details = other.spec.setdefault("details", {})
        if record is None:
            details.pop(us.DETAILS_KEY, None)
        else:
            details[us.DETAILS_KEY] = {**details.get(us.DETAILS_KEY, {}), **record}
        return other

    imagenet = with_backbone({"deep_backbone": "torchvision ResNet50_Weights.IMAGENET1K_V1", "weights_sha256": "x"})
    assert logic.ultrasoundSettings(imagenet, str(bundle)).weights == "imagenet1k_v1"
    assert logic.ultrasoundSettings(with_backbone(None), str(bundle)).weights == PANEL_DEFAULT_WEIGHTS == "imagenet"
    (folder / "finetuned.pt").write_bytes(b"not read here")
    filed = with_backbone({"deep_backbone": "weights file finetuned.pt", "weights_sha256": "y"})
    assert logic.ultrasoundSettings(filed, str(bundle)).weights == str(folder / "finetuned.pt")
    assert logic.ultrasoundSettings(filed, str(bundle), weights="imagenet").weights == "imagenet"  # the user's choice
