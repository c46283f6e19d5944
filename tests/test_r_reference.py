"""Numbers as R users know them: nomogram axes and points (base ``pretty``, ``rms::nomogram``),
e1071 SVM decision values, ``rms::val.prob`` calibration and the Hosmer–Lemeshow test.

The reference values are R 4.2 / rms 6.5 / e1071 1.7 outputs committed in ``tests/fixtures/r/``
by ``tools/r/models_reference.R`` (CI has no R); the inputs are the real cohorts in the shared data
folder (Rotterdam breast cancer, the EVC1 ultrasound cohort).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alnpredictor.models import train_model
from alnpredictor.models.nomogram import axis_values, pretty, total_points_to_probability
from alnpredictor.stats.calibration import calibration, hosmer_lemeshow, slope_intercept, val_prob

FIXTURES = Path(__file__).parent / "fixtures" / "r"
TOL = 1e-6


def _fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"models_{name}.json").read_text())


# --- pretty() ---------------------------------------------------------------------------------------

PRETTY = _fixture("pretty")["cases"]


@pytest.mark.parametrize("case", PRETTY, ids=[f"{c['lo']:.3g}..{c['hi']:.3g}/n{c['n']}" for c in PRETTY])
def test_pretty_matches_base_r(case):
    """Same number of values, each equal to R's (15 significant digits are stored)."""
    got = pretty(case["lo"], case["hi"], case["n"])
    want = np.atleast_1d(np.asarray(case["values"], dtype=float))
    assert got.shape == want.shape
    assert np.allclose(got, want, rtol=1e-13, atol=1e-13 * max(abs(case["lo"]), abs(case["hi"]), 1e-300))


# --- rms::nomogram ------------------------------------------------------------------------------------

NOMO = _fixture("nomogram")


@pytest.fixture(scope="module")
def rotterdam_nomogram(shared_dir, tmp_path_factory):
    """The fixture's model refitted here: signature score + age + size (3 levels) + grade (2/3)."""
    rot = pd.read_csv(shared_dir / "data" / "survival-breast" / "rotterdam.csv")
    df = rot[rot["pid"] <= 400][["pid", "age", "size", "grade", "nodes", "pgr", "er"]].copy()
    assert len(df) == NOMO["n"]
    df["node_positive"] = (df.pop("nodes") > 0).astype(int)
    sig = tmp_path_factory.mktemp("sig") / "signature.csv"
    coefs = NOMO["signature_coefficients"]
    sig.write_text("feature,coefficient\n" + "".join(f"{k},{v!r}\n" for k, v in coefs.items()))
    model = train_model(df, "node_positive", "nomogram", clinical=["age", "size", "grade"], signature=sig,
                        exclude=["pid"])
    return model, df


def test_nomogram_axes_follow_rms(rotterdam_nomogram):
    """Continuous axes are pretty(range, 10) of the full data (not 5–95 % quantiles); grade (2 values)
    spans its values; the widest effect (size) spans exactly 0–100 points as in rms."""
    model, df = rotterdam_nomogram
    preds = {p["name"]: p for p in model.spec["points"]["predictors"]}
    for name in ("signature", "age", "grade"):
        want = NOMO["axes"][name]["values"]
        assert preds[name]["range"] == pytest.approx([want[0], want[-1]], abs=1e-12)
    assert np.allclose(axis_values(df["age"]), NOMO["axes"]["age"]["values"])
    assert set(preds["size"]["levels"]) == set(NOMO["axes"]["size"]["values"])
    assert 100.0 / model.spec["points"]["scale"] == pytest.approx(NOMO["sc"], rel=1e-9)


def test_nomogram_points_and_probability_match_rms(rotterdam_nomogram):
    """Five patients (youngest, highest signature, a > 50 mm tumour, two others): points per predictor,
    total points and total points → probability within 1e-6 of rms."""
    model, df = rotterdam_nomogram
    for ref in NOMO["patients"]:
        row = df[df["pid"] == ref["pid"]].iloc[0].to_dict()
        case = model.predict_case(row)
        for name, pts in ref["points"].items():
            assert case.points[name] == pytest.approx(pts, abs=TOL), (ref["pid"], name)
        assert case.total_points == pytest.approx(ref["total_points"], abs=TOL)
        prob = float(total_points_to_probability(model.spec["points"], case.total_points))
        assert prob == pytest.approx(ref["probability"], abs=TOL)
        assert case.probability == pytest.approx(ref["predicted"], abs=TOL)


def test_no_training_patient_gets_more_than_100_points_for_one_predictor(rotterdam_nomogram):
    """rms: the axis covers the whole training range, so inside it a predictor gives 0–100 points."""
    model, df = rotterdam_nomogram
    pts = np.asarray([list(p.values()) for p in model.points(df)])
    assert pts.min() >= -1e-9 and pts.max() <= 100 + 1e-9


# --- e1071::svm ---------------------------------------------------------------------------------------

SVM = _fixture("svm")


def _svm_decision_values(shared_dir, ids):
    evc = pd.read_csv(shared_dir / "data" / "us-dlr-evc1" / "EVC1.csv", usecols=["id", "ALN_status", *SVM["features"]])
    table = evc.set_index("id").loc[ids].reset_index()
    model = train_model(table, "ALN_status", "svm-rbf", features=list(SVM["features"]))
    pipe = model.estimator
    zscore = pipe.named_steps["zscore"]
    svc = pipe.named_steps["svm"].calibrated_classifiers_[0].estimator  # the SVM fitted on all cases
    return zscore, svc, svc.decision_function(zscore.transform(model.design_matrix(table)))


def test_svm_decision_values_match_e1071(shared_dir):
    """scale = TRUE divides by the sample SD (n − 1); gamma 1/p, cost 1; decision values within 1e-6
    (positive = metastasis) on the table with class 0 first (libsvm then visits the classes in the
    same order in e1071 and scikit-learn)."""
    ref = SVM["class0_first"]
    zscore, svc, dv = _svm_decision_values(shared_dir, ref["ids"])
    assert np.allclose(zscore.mean_, ref["center"], rtol=1e-12)
    assert np.allclose(zscore.scale_, ref["scale"], rtol=1e-12)
    assert svc._gamma == pytest.approx(ref["gamma"]) and svc.C == ref["cost"]
    assert int(svc.n_support_.sum()) == ref["n_sv"]
    assert np.max(np.abs(dv - np.asarray(ref["decision_values"]))) < TOL


def test_svm_in_file_order_agrees_within_libsvm_tolerance(shared_dir):
    """In the file's order (class 1 first) e1071 and scikit-learn's libsvm walk the classes in opposite
    orders and stop at different points within libsvm's tolerance (1e-3): same model, not same digits."""
    ref = SVM["file_order"]
    _, _, dv = _svm_decision_values(shared_dir, ref["ids"])
    want = np.asarray(ref["decision_values"])
    assert np.max(np.abs(dv - want)) < 2e-3
    assert np.array_equal(dv > 0, want > 0)


# --- rms::val.prob, calibration-in-the-large, Hosmer–Lemeshow --------------------------------------------

CAL = _fixture("calibration")


def _calibration_inputs(name: str, shared_dir) -> tuple[np.ndarray, np.ndarray]:
    if name.startswith("rotterdam"):
        y, p = np.asarray(CAL["rotterdam"]["y"], float), np.asarray(CAL["rotterdam"]["p"], float)
    else:
        evc = pd.read_csv(shared_dir / "data" / "us-dlr-evc1" / "EVC1.csv")
        sig = pd.read_csv(shared_dir / "data" / "us-dlr-evc1" / "published_signature.csv")
        lp = evc[sig["feature"]].to_numpy(float) @ sig["coefficient"].to_numpy(float)
        assert np.allclose(lp[:5], CAL["evc1"]["linear_predictor_head"], rtol=1e-12)
        y, p = evc["ALN_status"].to_numpy(float), 1.0 / (1.0 + np.exp(-lp))
    if name == "rotterdam_tied":
        p = np.round(p, 1)
    elif name == "evc1_tied":
        p = np.clip(np.round(p, 1), 0.05, 0.95)
    return y, p


@pytest.mark.parametrize("name", ["rotterdam", "rotterdam_tied", "evc1", "evc1_tied"])
def test_calibration_matches_val_prob_and_hoslem(name, shared_dir):
    """val.prob's Intercept and Slope (both estimated), Brier, Emax, E90, Eavg; the
    calibration-in-the-large (slope fixed at 1); Hosmer–Lemeshow statistic, df = groups formed − 2, p."""
    ref = CAL[name]
    y, p = _calibration_inputs(name, shared_dir)
    vp = val_prob(y, p)
    for key, want in ref["val_prob"].items():
        assert vp[key] == pytest.approx(want, abs=TOL), key
    si = slope_intercept(y, p)
    assert si["calibration_in_the_large"] == pytest.approx(ref["calibration_in_the_large"], abs=TOL)
    assert si["val_prob_intercept"] == pytest.approx(ref["val_prob"]["Intercept"], abs=TOL)
    hl = hosmer_lemeshow(y, p, g=10)
    assert hl["statistic"] == pytest.approx(ref["hosmer_lemeshow"]["statistic"], abs=TOL, rel=1e-9)
    assert hl["df"] == ref["hosmer_lemeshow"]["df"] and hl["groups"] == ref["hosmer_lemeshow"]["groups"]
    assert hl["p_value"] == pytest.approx(ref["hosmer_lemeshow"]["p_value"], abs=TOL)
    summary = calibration(y, p)
    assert summary["val_prob"]["Slope"] == pytest.approx(ref["val_prob"]["Slope"], abs=TOL)
    assert summary["calibration_in_the_large"] == summary["intercept"]
