"""Recipes: glmnet-like LASSO (vs statsmodels), e1071-like SVM, the MRI selection, the nomogram
(vs statsmodels Logit, rms points), published signatures, clinical fields and single-case output."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.special import expit

from alnpredictor.errors import ClinicalDataError, InputError
from alnpredictor.models import load_signature, train_model
from alnpredictor.models.design import display_range, infer_clinical_fields
from alnpredictor.models.lasso import cv_lasso, fit_l1_logistic, lambda_max, lambda_sequence, standardise
from alnpredictor.models.nomogram import probability_to_total_points, total_points_to_probability
from alnpredictor.models.signature import read_coefficient_table


def cohort(n: int = 160, seed: int = 0, groups=("TT1C", "TT2", "LADC"), per_group: int = 6) -> pd.DataFrame:
    """Synthetic radiomics + clinical table; labels 'R' (metastasis) / 'N'."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    cols = {"id": np.arange(n)}
    for g in groups:
        for j in range(per_group):
            effect = (0.9, -0.7)[j] if j < 2 else 0.0
            cols[f"{g}_feat{j}"] = rng.normal(10, 2, n) + 2 * effect * y
    df = pd.DataFrame(cols)
    df["age"] = rng.integers(30, 80, n) - 4 * y
    df["birads"] = rng.integers(3, 6, n) + (rng.random(n) < 0.3 * y)
    df["subtype"] = rng.choice(["LumA", "LumB", "HER2", "TN"], n)
    df["ALN"] = np.where(y == 1, "R", "N")
    return df


# --- LASSO ---------------------------------------------------------------------------------------

def test_l1_fit_matches_statsmodels_at_fixed_lambda():
    rng = np.random.default_rng(1)
    n, p = 150, 12
    x = rng.normal(3, 2, size=(n, p))
    y = (rng.random(n) < expit(0.8 * (x[:, 0] - 3) - 0.5 * (x[:, 1] - 3) - 0.3)).astype(float)
    lam = 0.02
    beta, b0 = fit_l1_logistic(x, y, lam)
    # statsmodels: minimise -loglik + sum(alpha_j |b_j|) with alpha = lambda * n, intercept unpenalised
    z, mean, sd = standardise(x)
    ref = sm.Logit(y, sm.add_constant(z)).fit_regularized(alpha=np.r_[0.0, np.full(p, lam * n)], disp=0,
                                                         acc=1e-12, trim_mode="size", size_trim_tol=1e-6)
    ref_beta = ref.params[1:] / sd
    ref_b0 = ref.params[0] - np.sum(ref_beta * mean)
    assert np.allclose(beta, ref_beta, atol=1e-4)
    assert b0 == pytest.approx(ref_b0, abs=1e-3)
    assert set(np.flatnonzero(beta)) == set(np.flatnonzero(np.abs(ref_beta) > 1e-6))


def test_cv_lasso_follows_glmnet_conventions():
    rng = np.random.default_rng(2)
    n, p = 140, 20
    x = rng.normal(size=(n, p)) * rng.uniform(0.5, 20, p)
    y = (rng.random(n) < expit(1.0 * x[:, 0] / x[:, 0].std() - 0.8 * x[:, 3] / x[:, 3].std())).astype(float)
    lmax = lambda_max(x, y)
    assert not np.any(fit_l1_logistic(x, y, lmax * 1.0001)[0])  # nothing enters above lambda_max
    seq = lambda_sequence(x, y)
    assert seq.size == 100 and seq[0] == pytest.approx(lmax) and seq[-1] == pytest.approx(lmax * 1e-4)
    res = cv_lasso(x, y, n_folds=5, n_lambda=40, seed=0)
    cv = np.asarray(res["cv"]["deviance"])
    lams = np.asarray(res["cv"]["lambda"])
    assert res["lambda_min"] == lams[np.flatnonzero(cv <= cv.min())[0]]
    assert res["lambda_1se"] >= res["lambda_min"]
    nz = set(np.flatnonzero(res["coefficients"]))
    assert {0, 3} <= nz
    # the reported coefficients are the full-data fit at lambda.min, on the original scale
    beta, b0 = fit_l1_logistic(x, y, res["lambda_min"])
    assert np.array_equal(res["coefficients"], beta) and res["intercept"] == b0
    # rescaling a feature rescales its coefficient only (standardisation inside the fit)
    x2 = x.copy()
    x2[:, 0] *= 10
    res2 = cv_lasso(x2, y, n_folds=5, n_lambda=40, seed=0)
    assert res2["coefficients"][0] == pytest.approx(res["coefficients"][0] / 10, rel=1e-4)


@pytest.mark.slow
def test_lasso_recipe_on_real_evc1_with_icc_keep_list(shared_dir):
    d = shared_dir / "data" / "us-dlr-evc1"
    table = pd.read_csv(d / "EVC1.csv")
    published = pd.read_csv(d / "published_signature.csv")["feature"].tolist()
    keep = published + [f"f_{i}" for i in range(1, 30)]
    model = train_model(table, "ALN_status", "lasso-logistic", icc_keep=keep, n_lambda=30, seed=1)
    det = model.spec["details"]
    assert det["icc_keep"]["kept"] == len(set(keep)) and det["lasso"]["n_candidates"] == len(set(keep))
    assert 0 < len(model.features) < len(set(keep)) and set(model.features) <= set(keep)
    assert model.spec["training"]["n"] == 112 and model.spec["training"]["prevalence"] == pytest.approx(45 / 112)
    # coefficients on the original scale reproduce the standardised fit
    z = (table[model.features] - table[model.features].mean()) / table[model.features].std(ddof=0)
    std = np.asarray([r["coefficient_standardised"] for r in det["table"]])
    lp_std = z.to_numpy() @ std
    lp = model.decision_function(table)
    assert np.allclose(lp - lp_std, (lp - lp_std)[0])  # same up to the intercept shift
    coefs = np.asarray(model.spec["predictor"]["coefficients"])
    assert np.allclose(lp, table[model.features].to_numpy() @ coefs + model.spec["predictor"]["intercept"])
    assert model.spec["metrics"]["auc"] > 0.8


# --- SVM / MRI selection -------------------------------------------------------------------------

def test_svm_rbf_uses_e1071_defaults_and_platt_scaling():
    df = cohort(150, 3)
    model = train_model(df, "ALN", "svm-rbf", positive="R", clinical=["age"])
    pipe = model.estimator
    assert [name for name, _ in pipe.steps] == ["zscore", "svm"]
    cal = pipe.named_steps["svm"]
    assert cal.method == "sigmoid" and cal.ensemble is False and len(cal.calibrated_classifiers_) == 1
    svc = cal.calibrated_classifiers_[0].estimator
    assert svc.kernel == "rbf" and svc.C == 1.0
    assert svc._gamma == pytest.approx(1.0 / len(model.design_columns))  # e1071: 1 / ncol(x)
    # e1071 scale = TRUE is R's scale(): the sample SD (n - 1), not StandardScaler's population SD
    x_design = model.design_matrix(df)
    assert np.allclose(pipe.named_steps["zscore"].scale_, x_design.std(axis=0, ddof=1), rtol=1e-12)
    assert model.design_columns[-1] == "age" and "id" not in model.features
    # Platt: p = 1 / (1 + exp(a·f + b)) of the single SVM's decision value f
    x = model.design_matrix(df)
    f = svc.decision_function(pipe.named_steps["zscore"].transform(x))
    sig = cal.calibrated_classifiers_[0].calibrators[0]
    assert np.allclose(model.predict_proba(df), 1 / (1 + np.exp(sig.a_ * f + sig.b_)))
    assert model.spec["metrics"]["auc"] > 0.85


def test_mri_yu2021_selects_top_k_per_group_after_t_test():
    df = cohort(180, 4, per_group=8)
    model = train_model(df, "ALN", "mri-yu2021", positive="R", clinical=["age", "subtype"], exclude=["birads"],
                        k=2, n_trees=60)
    sel = model.spec["details"]["selection"]
    assert sel["groups"] == ["LADC", "TT1C", "TT2"]
    # the two informative features of each group pass the t-test and win the forest ranking
    assert set(model.features) == {f"{g}_feat{j}" for g in ("TT1C", "TT2", "LADC") for j in (0, 1)}
    assert all(p < 0.05 for p in sel["ttest_p"].values())
    assert sel["n_passed_ttest"] < sel["n_candidates"]
    assert model.design_columns[-4:] == ["age", "subtype=LumA", "subtype=LumB", "subtype=TN"]
    with pytest.raises(InputError, match="no feature differs"):
        noise = cohort(100, 5).assign(ALN=lambda t: np.random.default_rng(0).choice(["R", "N"], len(t)))
        train_model(noise, "ALN", "mri-yu2021", positive="R", alpha=1e-6, n_trees=10)


# --- nomogram --------------------------------------------------------------------------------------

def test_nomogram_matches_statsmodels_and_recovers_table_3_coefficients():
    """Simulate a cohort from the US study's Table 3 clinical model and refit it."""
    rng = np.random.default_rng(6)
    n = 4000
    age = rng.integers(25, 80, n)
    birads = rng.integers(3, 7, n)
    grade = rng.integers(1, 4, n)
    us_aln = rng.integers(0, 2, n)
    truth = {"age": -0.0184, "birads": 0.3811, "grade": 0.3896, "us_aln": 0.7001}
    lp = -2.2 + truth["age"] * age + truth["birads"] * birads + truth["grade"] * grade + truth["us_aln"] * us_aln
    y = (rng.random(n) < expit(lp)).astype(int)
    df = pd.DataFrame({"age": age, "birads": birads, "grade": grade, "us_aln": us_aln, "ALN": y})
    model = train_model(df, "ALN", "nomogram", clinical=list(truth), features=[])
    ref = sm.Logit(y, sm.add_constant(df[list(truth)].to_numpy(float))).fit(disp=0)
    table = {r["predictor"]: r for r in model.spec["details"]["table"]}
    ci = np.exp(ref.conf_int())
    for j, name in enumerate(truth, start=1):
        assert table[name]["coefficient"] == pytest.approx(ref.params[j], rel=1e-6)
        assert table[name]["or_ci"] == pytest.approx(ci[j], rel=1e-6)
        assert table[name]["p_value"] == pytest.approx(ref.pvalues[j], rel=1e-4)
        assert abs(table[name]["coefficient"] - truth[name]) < 3 * table[name]["se"]
    assert model.card["predictors_table"][0]["predictor"] == "(Intercept)"
    # rms points: the widest-effect predictor spans exactly 0..100
    pts = model.spec["points"]
    spans = [100 * (p["effect_max"] - p["effect_min"]) / pts["scale"] for p in pts["predictors"]]
    assert max(spans) == pytest.approx(100.0)
    assert {p["name"]: p["range"] for p in pts["predictors"]}["birads"] == [3, 6]  # integer: all levels


def test_nomogram_points_and_probability_are_consistent():
    df = cohort(220, 7)
    model = train_model(df, "ALN", "nomogram", positive="R", clinical=["age", "birads", "subtype"],
                        n_lambda=30, n_folds=5)
    assert model.design_columns[0] == "signature" and model.spec["signature"]["source"] == "lasso-logistic"
    assert "signature_training" in model.spec["details"]
    pts = model.spec["points"]
    sig_pred = pts["predictors"][0]
    assert sig_pred["range"] == pytest.approx(list(display_range(model.design_matrix(df)[:, 0])))
    prob = model.predict_proba(df)
    for i in range(5):
        case = model.predict_case(df.iloc[i].to_dict())
        assert case.probability == pytest.approx(prob[i])
        assert case.total_points == pytest.approx(sum(case.points.values()))
        assert total_points_to_probability(pts, case.total_points) == pytest.approx(prob[i], rel=1e-9)
        assert case.interval.low < case.probability < case.interval.high
        assert case.predicted_class == int(prob[i] >= model.cutoff)
        assert set(case.points) == {"signature", "age", "birads", "subtype"}
    assert probability_to_total_points(pts, 0.5) == pytest.approx(-pts["offset"] * 100 / pts["scale"])
    # subtype reference level gets 0 points relative to its own minimum effect
    sub = next(p for p in pts["predictors"] if p["name"] == "subtype")
    assert sub["levels"][0] == "HER2" and len(sub["columns"]) == 3


def test_nomogram_with_published_signature_and_signature_column(tmp_path):
    df = cohort(200, 8)
    coef = tmp_path / "sig.csv"
    coef.write_text("feature,coefficient\n(Intercept),-1.0\nTT1C_feat0,0.4\nTT2_feat1,-0.3\n")
    m = train_model(df, "ALN", "nomogram", positive="R", clinical=["age"], signature=coef,
                    signature_name="radiomics score")
    assert m.features == ["TT1C_feat0", "TT2_feat1"] and m.design_columns == ["radiomics score", "age"]
    score = -1.0 + 0.4 * df["TT1C_feat0"] - 0.3 * df["TT2_feat1"]
    ref = sm.Logit((df["ALN"] == "R").astype(int), sm.add_constant(np.c_[score, df["age"]])).fit(disp=0)
    assert m.spec["predictor"]["coefficients"] == pytest.approx(ref.params[1:], rel=1e-6)
    svm_multi = train_model(df, "ALN", "svm-rbf", positive="R", clinical=["age"])
    with pytest.raises(InputError, match="without clinical variables"):
        train_model(df, "ALN", "nomogram", positive="R", clinical=["age"], signature=svm_multi)
    df["score"] = score
    m2 = train_model(df, "ALN", "nomogram", positive="R", clinical=["age"], signature_column="score")
    assert m2.spec["predictor"]["coefficients"] == pytest.approx(ref.params[1:], rel=1e-6)
    assert np.allclose(m.predict_proba(df), m2.predict_proba(df))


# --- published signature, clinical fields, errors -------------------------------------------------

def test_published_signature_table(shared_dir, tmp_path):
    feats, coefs, icpt = read_coefficient_table(shared_dir / "data" / "us-dlr-evc1" / "published_signature.csv")
    assert len(feats) == 49 and icpt is None and feats[0] == "LBP_38"
    assert sum(f.startswith("LBP_") for f in feats) == 4  # 4 handcrafted LBP + 45 deep features
    sig = load_signature(shared_dir / "data" / "us-dlr-evc1" / "published_signature.csv")
    assert sig.recipe == "linear-signature" and sig.cutoff is None and not sig.spec["has_intercept"]
    bad = tmp_path / "bad.csv"
    bad.write_text("feature,coefficient\na,1\na,2\n")
    with pytest.raises(InputError, match="more than once"):
        read_coefficient_table(bad)
    bad.write_text("name,weight\nIntercept,0.5\nb,x\n")
    with pytest.raises(InputError, match="non-numeric"):
        read_coefficient_table(bad)
    bad.write_text("feat,value\nb,1\n")
    with pytest.raises(InputError, match="'feature' and 'coefficient'"):
        read_coefficient_table(bad)
    ok = tmp_path / "ok.csv"
    ok.write_text("Feature,Coef\nINTERCEPT,0.5\nb,2\n")
    assert read_coefficient_table(ok) == (["b"], [2.0], 0.5)


def test_clinical_fields_describe_a_form():
    df = cohort(100, 9)
    df["ki67"] = np.linspace(5, 60, 100)
    df["subtype_code"] = np.random.default_rng(0).integers(1, 5, 100)
    fields = {f["name"]: f for f in infer_clinical_fields(df, ["age", "ki67", "subtype", "subtype_code"],
                                                          {"subtype_code": "choice"})}
    assert fields["age"]["type"] == "integer" and fields["age"]["min"] == df["age"].min()
    assert fields["ki67"] == {"name": "ki67", "type": "number", "required": True, "min": 5.0, "max": 60.0}
    assert fields["subtype"]["values"] == ["HER2", "LumA", "LumB", "TN"] and fields["subtype"]["reference"] == "HER2"
    assert fields["subtype_code"]["type"] == "choice" and fields["subtype_code"]["values"] == ["1", "2", "3", "4"]
    with pytest.raises(ClinicalDataError, match="not found"):
        infer_clinical_fields(df, ["bmi"])


def test_predict_case_refuses_bad_clinical_values_and_warns_out_of_range():
    df = cohort(200, 10)
    model = train_model(df, "ALN", "nomogram", positive="R", clinical=["age", "subtype"], n_lambda=30, n_folds=5)
    row = df.iloc[0].to_dict()
    with pytest.raises(ClinicalDataError, match="subtype"):
        model.predict_case({**row, "subtype": "Luminal C"})
    with pytest.raises(InputError, match="lacks value"):
        model.predict_case({**row, "age": None})
    with pytest.raises(ClinicalDataError, match="number"):
        model.predict_case({**row, "age": "old"})
    far = model.predict_case({**row, "age": 130})
    assert far.warnings[0]["code"] == "feature_out_of_training_range"
    assert "age" in far.warnings[0]["details"]["features"]
    assert model.predict_case(pd.DataFrame([row])).probability == pytest.approx(model.predict_case(row).probability)


def test_train_model_refuses_bad_requests():
    df = cohort(120, 11)
    with pytest.raises(InputError, match="unknown recipe"):
        train_model(df, "ALN", "random-forest", positive="R")
    with pytest.raises(InputError, match="do not apply"):
        train_model(df, "ALN", "svm-rbf", positive="R", n_folds=5)
    with pytest.raises(InputError, match="positive value 1 does not occur"):
        train_model(df, "ALN", "svm-rbf")
    with pytest.raises(InputError, match="nomogram recipe"):
        train_model(df, "ALN", "lasso-logistic", positive="R", clinical=["age"])
    with pytest.raises(InputError, match="label column 'status' not found"):
        train_model(df, "status", "svm-rbf", positive="R")
    three = df.assign(ALN=np.resize(["R", "N", "X"], len(df)))
    with pytest.raises(InputError, match="3 distinct values"):
        train_model(three, "ALN", "svm-rbf", positive="R")
