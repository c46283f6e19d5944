"""``Prediction``: what predict_case returns, its one stored form (class under "class") and reading it back."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from alnpredictor.errors import InputError
from alnpredictor.models import Prediction, train_model
from alnpredictor.models.prediction import CLASS_LABELS, Interval, prediction_dict


def cohort(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    df = pd.DataFrame({f"TT1C_f{j}": rng.normal(0, 1, n) + (0.9 if j == 0 else 0.0) * y for j in range(6)})
    df["age"] = rng.integers(30, 80, n) - 4 * y
    df["subtype"] = rng.choice(["LumA", "LumB", "TN"], n)
    df["ALN"] = np.where(y == 1, "R", "N")
    return df


@pytest.fixture(scope="module")
def nomogram():
    df = cohort(200, 1)
    return train_model(df, "ALN", "nomogram", positive="R", clinical=["age", "subtype"], n_lambda=20, n_folds=5,
                       name="DLRN"), df


def test_predict_case_returns_a_prediction_with_everything_the_dict_had(nomogram):
    model, df = nomogram
    pred = model.predict_case(df.iloc[0].to_dict())
    assert isinstance(pred, Prediction)
    assert pred.probability == pytest.approx(model.predict_proba(df.iloc[[0]])[0], abs=1e-15)
    assert pred.cutoff == model.cutoff and pred.predicted_class == int(pred.probability >= model.cutoff)
    assert pred.label == CLASS_LABELS[pred.predicted_class]
    assert pred.model_name == "DLRN" and pred.recipe == "nomogram" and pred.positive_label == "R"
    assert pred.total_points == pytest.approx(sum(pred.points.values()))
    assert set(pred.points) == {"signature", "age", "subtype"} and set(pred.values) == set(model.design_columns)
    assert isinstance(pred.interval, Interval) and pred.interval.low < pred.probability < pred.interval.high
    assert pred.research_use and pred.warnings == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        pred.probability = 0.5  # type: ignore[misc]

    stored = pred.to_dict()
    assert stored["class"] == pred.label and "prediction" not in stored
    assert list(stored) == ["model", "recipe", "probability", "cutoff", "predicted_class", "class", "positive_label",
                            "linear_predictor", "points", "total_points", "interval", "warnings", "research_use",
                            "values"]
    assert stored["interval"] == {"level": 0.95, "low": pred.interval.low, "high": pred.interval.high,
                                  "method": "Wald interval on the log-odds scale"}
    assert Prediction.from_dict(json.loads(json.dumps(stored, allow_nan=False))) == pred


def test_context_and_signature_round_trip(nomogram):
    model, df = nomogram
    pred = model.predict_case(df.iloc[1].to_dict())
    sig = dataclasses.replace(pred, points=None, total_points=None, interval=None, model_name="signature")
    full = dataclasses.replace(pred, signature=sig).with_context(mask_source="grow-cut", deep={"weights": "x"})
    stored = full.to_dict()
    assert stored["mask_source"] == "grow-cut" and stored["signature"]["model"] == "signature"
    back = Prediction.from_dict(json.loads(json.dumps(stored)))
    assert back == full and back.context == {"mask_source": "grow-cut", "deep": {"weights": "x"}}
    with pytest.raises(InputError, match="own fields"):
        pred.with_context(probability=0.1)


def test_results_stored_before_the_type_existed_read_back():
    legacy = {"model": "m", "recipe": "nomogram", "probability": 0.62, "cutoff": 0.407, "predicted_class": 1,
              "prediction": "metastasis", "class": "metastasis", "points": {"age": 12.5}, "total_points": 12.5,
              "interval": None, "warnings": [], "values": {"age": 51.0}, "clinical_warnings": []}
    pred = Prediction.from_dict(legacy)
    assert pred.label == "metastasis" and pred.context == {"clinical_warnings": []}
    assert Prediction.from_dict({"probability": 0.2, "prediction": "no metastasis"}).predicted_class == 0
    assert prediction_dict({"probability": 0.2, "prediction": "no metastasis"}) == {"probability": 0.2,
                                                                                     "class": "no metastasis"}
    assert prediction_dict(pred) == pred.to_dict()
    with pytest.raises(InputError, match="probability"):
        Prediction.from_dict({"class": "metastasis"})
    with pytest.raises(InputError, match="not one of"):
        Prediction.from_dict({"probability": 0.3, "class": "ALNM"})
    nan = Prediction(probability=0.3, values={"x": float("nan")}).to_dict()
    assert nan["values"] == {"x": None} and nan["class"] is None
