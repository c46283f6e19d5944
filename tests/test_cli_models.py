"""``alnpredictor train / validate / predict`` — including the acceptance command of issue 5."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from alnpredictor.cli import main


def test_acceptance_published_signature_on_evc1(shared_dir):
    """`alnpredictor validate --signature published_signature.csv --features EVC1.csv --label ALN_status`
    prints AUC 0.886 with DeLong CI 0.815–0.958 (Liu et al. 2024, Table 2)."""
    d = shared_dir / "data" / "us-dlr-evc1"
    res = subprocess.run(
        [sys.executable, "-m", "alnpredictor", "validate", "--signature", str(d / "published_signature.csv"),
         "--features", str(d / "EVC1.csv"), "--label", "ALN_status"],
        capture_output=True, text=True, encoding="utf-8", timeout=300)
    assert res.returncode == 0, res.stderr
    assert "AUC 0.886 (95% CI 0.815–0.958, DeLong)" in res.stdout
    assert "n 112 (45 positive" in res.stdout
    assert "sensitivity  0.867 (0.732–0.949)" in res.stdout
    assert "warning [cutoff_from_validation_cohort]" in res.stdout


def _cohort(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    df = pd.DataFrame({"id": [f"case{i:03d}" for i in range(n)]})
    for j in range(8):
        df[f"DL_{j}"] = rng.normal(size=n) + (0.9, -0.7, 0.5, 0, 0, 0, 0, 0)[j] * y
    df["age"] = rng.integers(30, 80, n) - 5 * y
    df["birads"] = rng.integers(3, 6, n) + (rng.random(n) < 0.3 * y)
    df["us_aln"] = (rng.random(n) < 0.2 + 0.4 * y).astype(int)
    df["ALN"] = np.where(y == 1, "R", "N")
    return df


@pytest.mark.slow
def test_train_validate_predict_round_trip(tmp_path, capsys):
    train_csv, val_csv, row_csv = tmp_path / "train.csv", tmp_path / "val.csv", tmp_path / "row.csv"
    _cohort(220, 1).to_csv(train_csv, index=False)
    val = _cohort(150, 2)
    val.to_csv(val_csv, index=False)
    val.iloc[[0]].to_csv(row_csv, index=False)
    bundle = tmp_path / "dlrn.alnmodel"
    rc = main(["train", "--features", str(train_csv), "--label", "ALN", "--positive", "R", "--recipe", "nomogram",
               "--clinical", "age", "birads", "us_aln", "--folds", "5", "--site", "hospital I", "--out", str(bundle)])
    out = capsys.readouterr().out
    assert rc == 0 and (bundle / "model.json").is_file()
    assert "apparent AUC" in out and "OR (95% CI)" in out and "us_aln" in out

    clin = tmp_path / "cli.alnmodel"
    assert main(["train", "--features", str(train_csv), "--label", "ALN", "--positive", "R", "--recipe",
                 "nomogram", "--clinical", "age", "birads", "us_aln", "--no-signature", "--out", str(clin)]) == 0
    capsys.readouterr()
    # no --positive: the value the model was trained with ('R') is used
    rc = main(["validate", "--model", str(bundle), "--features", str(val_csv), "--label", "ALN",
               "--json", str(tmp_path / "out.json"), "--plots", str(tmp_path / "plots"), "--subgroup", "us_aln",
               "--compare", str(clin)])
    out = capsys.readouterr().out
    assert rc == 0 and "AUC 0." in out and "cut-off" in out and "us_aln=1" in out
    assert "vs cli: AUC 0." in out and "gain +" in out
    res = json.loads((tmp_path / "out.json").read_text())
    for key in ("n", "n_positive", "auc", "auc_ci", "cutoff", "accuracy", "sensitivity", "specificity", "ppv",
                "npv", "brier", "calibration_slope", "calibration_intercept", "warnings"):
        assert key in res, key
    assert res["n"] == 150 and res["cutoff_source"] == "model (training cohort)"
    assert res["label"] == {"column": "ALN", "positive": "R"}
    cmp = res["comparison"]
    assert cmp["auc_gain"] == pytest.approx(-cmp["delong"]["difference"]) and cmp["auc_gain"] > 0
    assert cmp["model_a"] == "cli" and cmp["model_b"] == "dlrn" and cmp["idi"]["idi"] > 0
    assert set(res["accuracy"]) >= {"value", "ci"} and len(res["auc_ci"]) == 2
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == sorted(
        f"{s}.{e}" for s in ("roc", "calibration", "decision_curve", "nomogram", "forest") for e in ("png", "svg"))

    rc = main(["predict", "--model", str(bundle), "--features", str(row_csv), "--nomogram", str(tmp_path / "case")])
    case = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert 0 < case["probability"] < 1 and case["predicted_class"] in (0, 1)
    assert set(case["points"]) == {"signature", "age", "birads", "us_aln"}
    assert case["total_points"] == pytest.approx(sum(case["points"].values()))
    assert case["interval"]["low"] < case["probability"] < case["interval"]["high"]
    assert "case000" not in json.dumps(case)  # identifiers stay out of the output
    assert (tmp_path / "case.png").is_file() and (tmp_path / "case.svg").is_file()

    # several rows -> a JSON list
    rc = main(["predict", "--model", str(bundle), "--features", str(val_csv)])
    assert rc == 0 and len(json.loads(capsys.readouterr().out)) == 150


def test_inverted_labels_warn_on_the_command_line(tmp_path, capsys):
    train_csv, val_csv = tmp_path / "train.csv", tmp_path / "val.csv"
    _cohort(200, 3).to_csv(train_csv, index=False)
    _cohort(150, 4).to_csv(val_csv, index=False)
    bundle = tmp_path / "svm"
    assert main(["train", "--features", str(train_csv), "--label", "ALN", "--positive", "R", "--recipe", "svm-rbf",
                 "--out", str(bundle)]) == 0
    capsys.readouterr()
    # "N" declared as metastasis: the labels are read inverted
    assert main(["validate", "--model", str(bundle) + ".alnmodel", "--features", str(val_csv), "--label", "ALN",
                 "--positive", "N"]) == 0
    out = capsys.readouterr().out
    assert "warning [auc_below_chance]" in out and "warning [effect_direction_disagreement]" in out


def test_user_errors_exit_2_with_a_message(tmp_path, capsys, shared_dir):
    d = shared_dir / "data" / "us-dlr-evc1"
    rc = main(["validate", "--signature", str(d / "published_signature.csv"), "--features", str(d / "EVC1.csv"),
               "--label", "ALN"])
    assert rc == 2 and "label column 'ALN' not found" in capsys.readouterr().err
    rc = main(["validate", "--model", str(tmp_path / "missing.alnmodel"), "--features", str(d / "EVC1.csv"),
               "--label", "ALN_status"])
    assert rc == 2 and "model bundle not found" in capsys.readouterr().err
    rc = main(["train", "--features", str(tmp_path / "none.csv"), "--label", "y", "--recipe", "svm-rbf",
               "--out", str(tmp_path / "m")])
    assert rc == 2 and "feature table not found" in capsys.readouterr().err


@pytest.mark.slow
def test_real_evc1_table_trains_only_on_the_features_asked_for(tmp_path, capsys, shared_dir):
    """EVC1's columns follow the paper's names, not ours: ``train`` does not guess which numeric
    columns are features (it refuses, saying why each column is not one); with the published
    signature's features as --feature-list it trains on those, and model.json lists every other column."""
    d = shared_dir / "data" / "us-dlr-evc1"
    published = pd.read_csv(d / "published_signature.csv")["feature"].tolist()
    listing = tmp_path / "features.txt"
    listing.write_text("\n".join(published) + "\n")
    out = tmp_path / "evc1.alnmodel"
    argv = ["train", "--features", str(d / "EVC1.csv"), "--label", "ALN_status", "--recipe", "lasso-logistic",
            "--folds", "5", "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "no feature columns to train on" in err and "not an imaging feature name" in err and "sNRV" in err
    assert not out.exists()
    assert main([*argv, "--feature-list", str(listing)]) == 0
    summary = capsys.readouterr().out
    spec = json.loads((out / "model.json").read_text())
    assert set(spec["inputs"]["features"]) <= set(published) and spec["training"]["n"] == 112
    columns = set(pd.read_csv(d / "EVC1.csv", nrows=1).columns)
    dropped = spec["details"]["dropped_columns"]
    assert set(dropped) == columns - set(published) - {"ALN_status"}
    assert f"columns not used ({len(dropped)}" in summary and "not in the feature list: id, sNRV" in summary
