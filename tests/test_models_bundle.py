"""Model bundles: identical predictions in a new process for every recipe, refusal of tampered,
unknown-schema, untrusted or mismatched bundles, and the model card's content."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

from alnpredictor.errors import ModelBundleError
from alnpredictor.models import FittedModel, load_bundle, load_signature, save_bundle, train_model
from alnpredictor.models.bundle import canonical_json, read_bundle_spec, sha256


def cohort(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    cols = {"id": np.arange(n)}
    for g in ("TT1C", "LADC"):
        for j in range(5):
            cols[f"{g}_feat{j}"] = rng.normal(0, 1, n) + (0.8 if j == 0 else 0.0) * y - (0.5 if j == 1 else 0.0) * y
    df = pd.DataFrame(cols)
    df["age"] = rng.integers(30, 80, n) - 4 * y
    df["subtype"] = rng.choice(["LumA", "LumB", "TN"], n)
    df["ALN"] = y
    return df


RECIPES = {
    "svm-rbf": dict(clinical=["age", "subtype"]),
    "mri-yu2021": dict(clinical=["age"], k=2, n_trees=40),
    "lasso-logistic": dict(n_lambda=30, n_folds=5),
    "nomogram": dict(clinical=["age", "subtype"], n_lambda=30, n_folds=5),
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, shared_dir):
    root = tmp_path_factory.mktemp("bundles")
    train, test = cohort(160, 1), cohort(60, 2)
    out = {}
    for recipe, opts in RECIPES.items():
        opts = dict(opts)
        clinical = opts.pop("clinical", None)
        model = train_model(train, "ALN", recipe, clinical=clinical, name=recipe, site="synthetic", **opts)
        out[recipe] = (model, save_bundle(model, root / recipe))
    # a nomogram on a non-linear (SVM) signature: two skops files in one bundle
    svm_sig = train_model(train, "ALN", "svm-rbf", name="svm signature")
    nomo_svm = train_model(train, "ALN", "nomogram", clinical=["age"], signature=svm_sig, name="nomogram-svm")
    out["nomogram-svm"] = (nomo_svm, save_bundle(nomo_svm, root / "nomogram-svm"))
    sig_csv = shared_dir / "data" / "us-dlr-evc1" / "published_signature.csv"
    evc1 = pd.read_csv(shared_dir / "data" / "us-dlr-evc1" / "EVC1.csv")
    sig = train_model(evc1, "ALN_status", "linear-signature", signature=sig_csv, name="DLR signature")
    out["linear-signature"] = (sig, save_bundle(sig, root / "dlr"))
    return out, test, evc1, root


@pytest.mark.slow
def test_every_recipe_predicts_identically_in_a_new_process(trained, tmp_path):
    models, test, evc1, root = trained
    test_csv, evc1_csv = tmp_path / "test.csv", tmp_path / "evc1.csv"
    test.to_csv(test_csv, index=False)
    evc1.to_csv(evc1_csv, index=False)
    script = (
        "import json, sys, pandas as pd\n"
        "from alnpredictor.models import load_bundle\n"
        "out = {}\n"
        "for name, path, table in json.loads(sys.argv[1]):\n"
        "    m = load_bundle(path)\n"
        "    out[name] = [float(v).hex() for v in m.predict_proba(pd.read_csv(table))]\n"
        "print(json.dumps(out))\n"
    )
    jobs = [(name, str(path), str(evc1_csv if name == "linear-signature" else test_csv))
            for name, (_, path) in models.items()]
    res = subprocess.run([sys.executable, "-c", script, json.dumps(jobs)], capture_output=True, text=True,
                         timeout=300, check=True)
    other = json.loads(res.stdout.strip().splitlines()[-1])
    for name, (model, _) in models.items():
        table = pd.read_csv(evc1_csv if name == "linear-signature" else test_csv)
        here = [float(v).hex() for v in model.predict_proba(table)]
        assert other[name] == here, name  # bit-identical
    assert set(other) == set(RECIPES) | {"linear-signature", "nomogram-svm"}


def test_bundle_layout_and_hashes(trained):
    models, *_ = trained
    _, path = models["svm-rbf"]
    assert path.name == "svm-rbf.alnmodel"
    assert sorted(p.name for p in path.iterdir()) == ["estimator.skops", "model.json"]
    doc = json.loads((path / "model.json").read_text())
    assert doc["schema"] == "alnpredictor.model" and doc["schema_version"] == 1
    assert doc["files"]["estimator.skops"] == sha256((path / "estimator.skops").read_bytes())
    assert doc["integrity"]["digest"] == sha256(canonical_json({k: v for k, v in doc.items() if k != "integrity"}))
    assert set(doc["software"]) >= {"scikit-learn", "skops", "numpy", "alnpredictor"}
    # linear models are plain numbers: no estimator file, nothing to deserialise
    _, npath = models["nomogram"]
    assert [p.name for p in npath.iterdir()] == ["model.json"]
    model, spath = models["nomogram-svm"]
    assert sorted(p.name for p in spath.iterdir()) == ["model.json", "signature.skops"]
    assert model.spec["signature"]["kind"] == "sklearn" and model.design_columns == ["signature", "age"]


def _copy(path: Path, tmp: Path) -> Path:
    import shutil

    dst = tmp / path.name
    shutil.copytree(path, dst)
    return dst


@pytest.mark.parametrize("name,target", [("svm-rbf", "model.json"), ("svm-rbf", "estimator.skops"),
                                         ("nomogram-svm", "signature.skops")])
def test_one_changed_byte_is_refused(trained, tmp_path, name, target):
    models, *_ = trained
    bundle = _copy(models[name][1], tmp_path)
    f = bundle / target
    data = bytearray(f.read_bytes())
    i = len(data) // 2
    data[i] = (data[i] + 1) % 256
    f.write_bytes(bytes(data))
    with pytest.raises(ModelBundleError, match="refused"):
        load_bundle(bundle)


def test_edits_that_keep_valid_json_are_refused(trained, tmp_path):
    models, *_ = trained
    bundle = _copy(models["nomogram"][1], tmp_path)
    f = bundle / "model.json"
    doc = json.loads(f.read_text())
    doc["cutoff"]["value"] = 0.01  # a plausible, malicious edit
    f.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    with pytest.raises(ModelBundleError, match="integrity digest"):
        load_bundle(bundle)
    # whitespace only: the content digest matches but the file is not what was saved
    doc["cutoff"]["value"] = models["nomogram"][0].cutoff
    f.write_bytes(canonical_json(doc).replace(b'"cutoff": {', b'"cutoff":  {', 1))
    with pytest.raises(ModelBundleError, match="byte-identical"):
        load_bundle(bundle)
    f.write_bytes(canonical_json(doc))
    assert load_bundle(bundle).cutoff == models["nomogram"][0].cutoff


def _resign(bundle: Path, doc: dict) -> None:
    """Rewrite model.json with a valid digest (what only a deliberate forger would do)."""
    body = {k: v for k, v in doc.items() if k != "integrity"}
    body["integrity"] = {"algorithm": "sha256", "digest": sha256(canonical_json(body))}
    (bundle / "model.json").write_bytes(canonical_json(body))


def test_unknown_schema_and_inconsistent_bundles_are_refused(trained, tmp_path):
    models, *_ = trained
    bundle = _copy(models["lasso-logistic"][1], tmp_path)
    doc = json.loads((bundle / "model.json").read_text())
    _resign(bundle, {**doc, "schema_version": 99})
    with pytest.raises(ModelBundleError, match="schema version 99 is not supported"):
        load_bundle(bundle)
    _resign(bundle, {**doc, "schema": "someone.else"})
    with pytest.raises(ModelBundleError, match="not an ALNPredictor model"):
        load_bundle(bundle)
    bad = json.loads(json.dumps(doc))
    bad["predictor"]["coefficients"] = bad["predictor"]["coefficients"][:-1]
    _resign(bundle, bad)
    with pytest.raises(ModelBundleError, match="inconsistent"):
        load_bundle(bundle)
    svm = _copy(models["svm-rbf"][1], tmp_path / "x")
    (svm / "estimator.skops").unlink()
    with pytest.raises(ModelBundleError, match="missing"):
        load_bundle(svm)
    with pytest.raises(ModelBundleError, match="not found"):
        load_bundle(tmp_path / "nothing.alnmodel")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelBundleError, match="not a model bundle"):
        load_bundle(tmp_path / "empty")


class _Sneaky(ClassifierMixin, BaseEstimator):
    """A class skops does not know: loading it could run arbitrary code, so it must be refused."""

    def fit(self, x, y):
        self.n_features_in_ = x.shape[1]
        return self

    def predict_proba(self, x):
        return np.full((len(x), 2), 0.5)


def test_untrusted_types_in_the_estimator_are_refused(trained, tmp_path):
    models, test, *_ = trained
    model = models["svm-rbf"][0]
    fake = FittedModel(model.spec, _Sneaky().fit(model.design_matrix(test), test["ALN"]))
    path = save_bundle(fake, tmp_path / "sneaky")
    with pytest.raises(ModelBundleError, match="not trusted"):
        load_bundle(path)


def test_input_tables_that_do_not_match_are_refused(trained):
    models, test, *_ = trained
    model = load_bundle(models["svm-rbf"][1])
    with pytest.raises(ModelBundleError, match="needs 1 column"):
        model.predict_proba(test.drop(columns=[model.features[0]]))
    with pytest.raises(ModelBundleError, match="subtype"):
        model.predict_proba(test.drop(columns=["subtype"]))


def test_model_card_has_what_a_report_needs(trained):
    models, *_ = trained
    card = load_bundle(models["nomogram"][1]).card
    assert card["training"]["n"] == 160 and card["training"]["site"] == "synthetic"
    assert 0 < card["training"]["prevalence"] < 1
    lo, hi = card["metrics"]["auc_ci"]
    assert lo < card["metrics"]["auc"] < hi and card["metrics"]["auc_method"] == "DeLong"
    assert card["cutoff"]["source"] == "training cohort" and 0 < card["cutoff"]["value"] < 1
    assert "Research use only" in card["research_use"] and "axillary" in card["intended_use"]
    fields = {f["name"]: f for f in card["clinical_fields"]}
    assert fields["age"]["type"] == "integer" and fields["age"]["required"] is True
    assert fields["subtype"] == {"name": "subtype", "type": "choice", "required": True,
                                 "values": ["LumA", "LumB", "TN"], "reference": "LumA"}
    stats = card["feature_stats"]
    for f in card["features"]:
        assert {"mean", "sd", "min", "max", "effect", "direction"} <= set(stats[f])
    assert stats["subtype"]["levels"]["LumA"]["n"] > 0
    assert [r["predictor"] for r in card["predictors_table"]] == ["(Intercept)", "signature", "age",
                                                                  "subtype=LumB", "subtype=TN"]
    assert all({"coefficient", "odds_ratio", "or_ci", "p_value"} <= set(r) for r in card["predictors_table"])
    sig_card = load_bundle(models["linear-signature"][1]).card
    assert sig_card["n_features"] == 49 and sig_card["training"]["n"] == 112


def test_published_signature_bundle_keeps_its_coefficients(trained, shared_dir):
    models, *_ = trained
    loaded = load_bundle(models["linear-signature"][1])
    direct = load_signature(shared_dir / "data" / "us-dlr-evc1" / "published_signature.csv")
    assert loaded.spec["predictor"]["coefficients"] == direct.spec["predictor"]["coefficients"]
    assert loaded.spec["has_intercept"] is False
    assert read_bundle_spec(models["linear-signature"][1])["recipe"] == "linear-signature"


def test_save_refuses_to_overwrite_other_folders(trained, tmp_path):
    models, *_ = trained
    (tmp_path / "data.alnmodel").mkdir()
    (tmp_path / "data.alnmodel" / "precious.txt").write_text("keep me")
    with pytest.raises(ModelBundleError, match="not a model bundle"):
        save_bundle(models["lasso-logistic"][0], tmp_path / "data.alnmodel")
    assert (tmp_path / "data.alnmodel" / "precious.txt").exists()
    p1 = save_bundle(models["lasso-logistic"][0], tmp_path / "m")
    p2 = save_bundle(models["lasso-logistic"][0], tmp_path / "m.alnmodel")  # replace an existing bundle
    assert p1 == p2 and load_bundle(p2).recipe == "lasso-logistic"
