"""Report figures: ROC with DeLong AUC CI, calibration, decision curve, nomogram points chart."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from alnpredictor.errors import InputError
from alnpredictor.models import load_signature, train_model
from alnpredictor.report.figures import (
    calibration_figure,
    decision_curve_figure,
    nomogram_figure,
    roc_figure,
    save_figure,
    validation_figures,
)


def cohort(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    df = pd.DataFrame({f"US_f{j}": rng.normal(size=n) + (0.9, -0.6, 0.0)[j] * y for j in range(3)})
    df["age"] = rng.integers(30, 80, n) - 5 * y
    df["grade"] = rng.integers(1, 4, n) + (rng.random(n) < 0.3 * y)
    df["subtype"] = rng.choice(["LumA", "LumB", "TN"], n)
    df["ALN"] = y
    return df


@pytest.fixture(scope="module")
def nomogram():
    df = cohort(250, 0)
    return train_model(df, "ALN", "nomogram", clinical=["age", "grade", "subtype"], n_lambda=30, n_folds=5), df


def _check_files(paths):
    png, svg = paths
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert ET.parse(svg).getroot().tag.endswith("svg")


def test_roc_figure_shows_the_delong_ci(shared_dir, tmp_path):
    d = shared_dir / "data" / "us-dlr-evc1"
    table = pd.read_csv(d / "EVC1.csv")
    sig = load_signature(d / "published_signature.csv")
    fig = roc_figure(table["ALN_status"], sig.decision_function(table), n_boot=100)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "AUC 0.886 (0.815–0.958, DeLong)" in labels
    band = fig.axes[0].collections[0].get_paths()[0].vertices
    assert band[:, 1].min() >= 0 and band[:, 1].max() <= 1
    _check_files(save_figure(fig, tmp_path / "roc"))


def test_calibration_and_decision_curve_figures(nomogram, tmp_path):
    model, df = nomogram
    p = model.predict_proba(df)
    _check_files(save_figure(calibration_figure(df["ALN"], p), tmp_path / "cal"))
    fig = decision_curve_figure(df["ALN"], {"DLRN": p, "coin": np.full(len(p), 0.5)})
    names = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert names == ["DLRN", "coin", "treat all", "treat none"]
    _check_files(save_figure(fig, tmp_path / "dca"))


def test_nomogram_marks_the_patient_where_the_points_are(nomogram, tmp_path):
    model, df = nomogram
    row = df.iloc[4].to_dict()
    case = model.predict_case(row)
    fig = nomogram_figure(model, row)
    ax = fig.axes[0]
    marks = sorted((-line.get_ydata()[0], line.get_xdata()[0]) for line in ax.get_lines()
                    if line.get_marker() == "v")
    preds = model.spec["points"]["predictors"]
    assert len(marks) == len(preds) + 1  # one per predictor + total points
    for i, ((row, x), pred) in enumerate(zip(marks, preds), start=1):
        assert row == i  # predictor rows top-down, in model order
        assert x == pytest.approx(case.points[pred["name"]] / 100.0)
    total_max = sum(100 * (p["effect_max"] - p["effect_min"]) / model.spec["points"]["scale"] for p in preds)
    assert marks[-1][1] == pytest.approx(case.total_points / total_max)
    texts = [t.get_text() for t in ax.texts]
    assert f"p = {case.probability:.2f}" in texts
    assert {"Points", "Total points", "Probability of ALN metastasis", "signature", "age", "grade",
            "subtype"} <= set(texts)
    _check_files(save_figure(fig, tmp_path / "nomogram"))


def test_validation_figures_and_models_without_points(nomogram, tmp_path):
    model, _ = nomogram
    paths = validation_figures(model, cohort(150, 1), "ALN", tmp_path / "plots")
    assert sorted(p.name for p in paths) == sorted(
        f"{stem}.{ext}" for stem in ("roc", "calibration", "decision_curve", "nomogram") for ext in ("png", "svg"))
    svm = train_model(cohort(120, 2), "ALN", "svm-rbf")
    with pytest.raises(InputError, match="no nomogram points scale"):
        nomogram_figure(svm)
    assert len(validation_figures(svm, cohort(80, 3), "ALN", tmp_path / "svm")) == 6
