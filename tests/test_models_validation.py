"""``validate`` and ``compare_models``: the US study's Table 2 (EVC1 signature row) from the real
cohort, the sanity warnings for inverted labels, missing data and cut-off sources."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alnpredictor.errors import InputError, ModelBundleError
from alnpredictor.models import compare_models, load_signature, train_model, validate

OUT_KEYS = {"n", "n_positive", "auc", "auc_ci", "cutoff", "accuracy", "sensitivity", "specificity", "ppv", "npv",
            "brier", "calibration_slope", "calibration_intercept", "warnings"}


@pytest.fixture(scope="module")
def evc1(shared_dir):
    d = shared_dir / "data" / "us-dlr-evc1"
    return pd.read_csv(d / "EVC1.csv"), d / "published_signature.csv"


def codes(res: dict) -> set[str]:
    return {w["code"] for w in res["warnings"]}


def test_published_signature_reproduces_table_2(evc1):
    table, sig = evc1
    res = validate(sig, table, "ALN_status")
    assert OUT_KEYS <= set(res)
    assert (res["n"], res["n_positive"]) == (112, 45)
    assert f"{res['auc']:.3f}" == "0.886"
    assert [f"{v:.3f}" for v in res["auc_ci"]] == ["0.815", "0.958"]
    assert res["auc_method"] == "DeLong"
    # the published row's percentages at the Youden cut-off (chosen on this cohort, flagged)
    expected = {"accuracy": (87, 79, 92), "sensitivity": (87, 73, 95), "specificity": (87, 76, 94),
                "ppv": (81, 67, 91), "npv": (91, 81, 96)}
    for key, (v, lo, hi) in expected.items():
        m = res[key]
        assert (round(100 * m["value"]), round(100 * m["ci"][0]), round(100 * m["ci"][1])) == (v, lo, hi)
    assert res["cutoff_source"] == "Youden index on this cohort"
    assert codes(res) == {"cutoff_from_validation_cohort", "signature_without_intercept"}
    assert res["decision_curve"]["treat_all"][0] == pytest.approx(45 / 112 - 67 / 112 * 0.01 / 0.99)
    # a fixed cut-off is used as given
    fixed = validate(sig, table, "ALN_status", cutoff=0.5)
    assert fixed["cutoff"] == 0.5 and fixed["cutoff_source"] == "given"
    assert "cutoff_from_validation_cohort" not in codes(fixed)


def test_inverted_validation_labels_are_reported_not_flipped(evc1):
    """Acceptance: trained on a cohort, validated where labels are inverted -> auc_below_chance and
    effect_direction_disagreement (real EVC1 features; training statistics from EVC1 itself)."""
    table, sig = evc1
    model = train_model(table, "ALN_status", "linear-signature", signature=sig, name="DLR signature")
    inverted = table.assign(ALN_status=1 - table["ALN_status"])
    res = validate(model, inverted, "ALN_status")
    assert res["auc"] == pytest.approx(1 - 0.8862354892205638)
    assert {"auc_below_chance", "effect_direction_disagreement", "prevalence_shift"} <= codes(res)
    eff = next(w for w in res["warnings"] if w["code"] == "effect_direction_disagreement")
    assert eff["details"]["spearman_rho"] == pytest.approx(-1.0)
    # the same labels read with the right positive value are fine
    ok = validate(model, inverted, "ALN_status", positive=0)
    assert ok["auc"] == pytest.approx(0.8862354892205638) and not codes(ok) & {"auc_below_chance",
                                                                               "effect_direction_disagreement"}


def _synthetic(n, seed, invert=False):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    df = pd.DataFrame({f"US_f{j}": rng.normal(size=n) + (0.9, -0.7, 0.5, 0, 0, 0)[j] * y for j in range(6)})
    df["age"] = rng.integers(30, 80, n) - 5 * y
    df["ALN"] = np.where((1 - y if invert else y) == 1, "R", "N")
    return df


def test_svm_model_on_an_inverted_cohort():
    model = train_model(_synthetic(200, 1), "ALN", "svm-rbf", positive="R", clinical=["age"])
    good = validate(model, _synthetic(150, 2), "ALN", positive="R")
    assert good["auc"] > 0.7 and not codes(good)
    bad = validate(model, _synthetic(150, 3, invert=True), "ALN", positive="R")
    assert bad["auc_ci"][1] < 0.5
    assert {"auc_below_chance", "effect_direction_disagreement"} <= codes(bad)
    assert bad["cutoff_source"] == "model (training cohort)" and bad["cutoff"] == model.cutoff


def test_missing_values_and_missing_columns():
    model = train_model(_synthetic(200, 4), "ALN", "lasso-logistic", positive="R", n_lambda=30, n_folds=5)
    val = _synthetic(120, 5)
    val.loc[[0, 5, 7], model.features[0]] = np.nan
    res = validate(model, val, "ALN", positive="R")
    assert res["n"] == 117 and res["n_excluded_missing"] == 3
    w = next(w for w in res["warnings"] if w["code"] == "missing_features")
    assert w["details"]["per_feature"] == {model.features[0]: 3}
    with pytest.raises(ModelBundleError, match="lacks"):
        validate(model, val.drop(columns=model.features[:1]), "ALN", positive="R")
    with pytest.raises(InputError, match="positive value"):
        validate(model, val, "ALN", positive="yes")


def test_out_of_range_features_are_flagged():
    model = train_model(_synthetic(200, 6), "ALN", "svm-rbf", positive="R")
    val = _synthetic(100, 7)
    val["US_f0"] = val["US_f0"] * 50
    res = validate(model, val, "ALN", positive="R")
    w = next(w for w in res["warnings"] if w["code"] == "feature_out_of_training_range")
    assert "US_f0" in w["details"]["features"]


def test_compare_nomogram_with_clinical_model_and_subgroups():
    train, val = _synthetic(300, 8), _synthetic(250, 9)
    val["site"] = np.resize(["A", "B"], len(val))
    clin = train_model(train, "ALN", "nomogram", positive="R", clinical=["age"], features=[], name="CLI")
    dlrn = train_model(train, "ALN", "nomogram", positive="R", clinical=["age"], n_lambda=30, n_folds=5,
                       name="DLRN")
    cmp = compare_models(clin, dlrn, val, "ALN", positive="R")
    assert cmp["delong"]["difference"] < 0 and cmp["delong"]["p_value"] < 0.01  # DLRN beats clinical model
    assert cmp["auc_gain"] == pytest.approx(cmp["auc_b"] - cmp["auc_a"]) and cmp["auc_gain"] > 0
    assert cmp["nri_continuous"]["nri"] > 0 and cmp["idi"]["idi"] > 0
    assert cmp["nri_categorical"]["cutoffs"] == [dlrn.cutoff]
    res = validate(dlrn, val, "ALN", positive="R", subgroup="site")
    groups = {g["group"]: g for g in res["subgroups"]["groups"]}
    assert set(groups) == {"A", "B"} and groups["A"]["n"] + groups["B"]["n"] == res["n"]
    boot = validate(dlrn, val, "ALN", positive="R", auc_method="bootstrap", n_boot=300)
    assert boot["auc"] == pytest.approx(res["auc"]) and boot["auc_method"].startswith("bootstrap")


def test_signature_from_path_and_from_object_agree(evc1):
    table, sig = evc1
    a = validate(sig, table, "ALN_status")
    b = validate(load_signature(sig), table, "ALN_status")
    assert a["auc_ci"] == b["auc_ci"] and a["accuracy"] == b["accuracy"]
