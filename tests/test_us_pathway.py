"""The ultrasound pathway end to end: seed click → grow-cut → crop → deep + handcrafted features →
DLR signature (lasso-logistic) → nomogram (DLRN, one self-sufficient bundle), trained and validated on
a synthetic cohort; the pathway's verbs (run_case, process_case, load_model, predict)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from alnpredictor.errors import InputError, ModelBundleError
from alnpredictor.features import deep
from alnpredictor.pathways import us, us_model
from alnpredictor.settings import USSettings
from alnpredictor.synthetic.us_cohort import generate_cohort, to_sitk, write_cohort

NO_TEXTURE = USSettings(radiomics=False)


@pytest.fixture(scope="module")
def few_cases():
    return generate_cohort(4, seed=21)


def _frame(case):
    return sitk.JoinSeries(to_sitk(case.image, case.spacing)), sitk.JoinSeries(to_sitk(case.mask.astype(np.uint8), case.spacing))


def test_case_features_names_and_values(few_cases):
    image, mask = _frame(few_cases[0])
    f = us.case_features(image, mask)
    dl = [k for k in f if k.startswith("DL_")]
    hand = [k for k in f if k.startswith("US_")]
    assert len(dl) == 2048 and dl[0] == "DL_0" and dl[-1] == "DL_2047"
    assert len(f) == len(dl) + len(hand)  # nothing without the DESIGN.md prefixes
    assert {"US_orientation_deg", "US_spicule_count", "US_LBP_0", "US_LBP_255", "US_posterior_contrast"} <= set(hand)
    assert "US_original_shape2D_PixelSurface" in f and "US_lbp-2D_firstorder_Mean" in f  # PyRadiomics force2D
    area_px = float(few_cases[0].mask.sum())
    assert f["US_original_shape2D_PixelSurface"] == pytest.approx(area_px * few_cases[0].spacing[0] ** 2, rel=1e-6)
    assert f["US_area_mm2"] == pytest.approx(f["US_original_shape2D_PixelSurface"], rel=1e-6)
    assert all(np.isfinite(v) for v in f.values())
    # the deep part equals the extractor on the same crop
    direct = deep.DeepFeatureExtractor().extract([few_cases[0].image], [few_cases[0].mask])[0]
    np.testing.assert_array_equal(np.array([f[k] for k in dl], dtype=np.float32), direct)


def _as_dict(prediction):
    return prediction.to_dict()


def test_seed_click_grows_the_lesion(tmp_path, few_cases):
    """Grow-cut from the seed click alone (automatic background) recovers the drawn lesion; reading
    the file (load_case) and run_case on the in-memory frame grow the same mask."""
    manifest = write_cohort(few_cases, tmp_path, masks=False)
    row = pd.read_csv(manifest).iloc[0]
    seeds = [[float(v) for v in row["seeds_tumor"].split(",")]]
    image, mask, source = us.load_case(tmp_path / row["image_US"], seeds_ras=seeds)
    assert source == "grow-cut"
    grown = sitk.GetArrayFromImage(mask)[0] > 0
    truth = few_cases[0].mask
    dice = 2 * (grown & truth).sum() / (grown.sum() + truth.sum())
    assert dice > 0.85, dice
    result = us.run_case(image, NO_TEXTURE, seeds_ras=seeds)
    assert result.mask_source == "grow-cut" and "segmentation" in result.quality
    np.testing.assert_array_equal(sitk.GetArrayFromImage(result.mask), sitk.GetArrayFromImage(mask))
    assert result.features == us.case_features(image, mask, NO_TEXTURE)


def test_process_case_records_the_untrained_backbone(tmp_path, few_cases):
    """The cohort runner's per-case function gives the same features as run_case on the same frame
    (every front door: same values) and records the deep backbone and the settings."""
    from alnpredictor.imaging.io import read_mask

    manifest = write_cohort(few_cases[:1], tmp_path, seeds=False)
    row = pd.read_csv(manifest).iloc[0]
    case = {"case_id": "X", "images": {"US": str(tmp_path / row["image_US"])}, "masks": {"tumor": str(tmp_path / row["mask_tumor"])},
            "seeds": {}, "clinical": {"age": 50}}
    rec = us.process_case(case, NO_TEXTURE)
    assert rec["provenance"]["deep"]["weights"] == deep.UNTRAINED and rec["mask_source"] == "file"
    assert rec["provenance"]["settings"]["radiomics"] is False and rec["provenance"]["radiomics_params"] is None
    assert rec["clinical"] == {"age": 50} and not any("original_" in k for k in rec["features"])
    json.dumps(rec)  # a shard is JSON
    image = us.read_frame(tmp_path / row["image_US"])
    direct = us.run_case(image, NO_TEXTURE, mask=read_mask(tmp_path / row["mask_tumor"], reference=image))
    assert direct.mask_source == "given" and direct.features == rec["features"]


def test_bad_inputs(tmp_path, few_cases):
    from alnpredictor.cli.extract_us import cohort_settings

    vol = tmp_path / "vol.nrrd"
    sitk.WriteImage(sitk.Image(20, 20, 3, sitk.sitkUInt8), str(vol))
    with pytest.raises(InputError, match="slices"):
        us.load_case(vol, seeds_ras=[[0, 0, 0]])
    frame = tmp_path / "f.nrrd"
    sitk.WriteImage(to_sitk(few_cases[0].image, few_cases[0].spacing), str(frame))
    with pytest.raises(InputError, match="seed"):
        us.load_case(frame)
    with pytest.raises(InputError, match="seed"):
        us.run_case(us.read_frame(frame), NO_TEXTURE)
    with pytest.raises(InputError, match="no ultrasound image"):
        us.process_case({"case_id": "Y", "images": {}, "masks": {}, "seeds": {}}, NO_TEXTURE)
    with pytest.raises(InputError, match="weights file not found"):
        cohort_settings(USSettings(weights=str(tmp_path / "none.pt")))
    with pytest.raises(InputError, match="threads"):
        USSettings(threads=0)


@pytest.mark.slow
def test_extract_cli_short_manifest_columns(tmp_path, few_cases):
    """`alnpredictor extract --pathway us` through the cohort runner, manifest with the short names
    (image, seed_ras); a corrupt image fails its case only (recorded, exit code 1)."""
    from alnpredictor.cli import main

    write_cohort(few_cases, tmp_path / "c", masks=False)
    m = pd.read_csv(tmp_path / "c" / "manifest.csv").rename(
        columns={"image_US": "image", "seeds_tumor": "seed_ras"}).drop(columns=["pathway"])
    (tmp_path / "c" / "images" / "broken.nrrd").write_bytes(b"NRRD0004\nnot really\n")
    broken = m.iloc[[0]].assign(case_id="BROKEN", image="images/broken.nrrd")
    pd.concat([m, broken]).to_csv(tmp_path / "c" / "short.csv", index=False)
    out = tmp_path / "f.csv"
    rc = main(["extract", "--pathway", "us", "--manifest", str(tmp_path / "c" / "short.csv"), "--out", str(out),
               "--workers", "1", "--params", "us-liu2024"])
    assert rc == 1
    df = pd.read_csv(out)
    assert list(df.case_id) == [c.case_id for c in few_cases]
    assert {"DL_0", "DL_2047", "US_LBP_0", "US_original_glcm_Contrast", "age", "birads", "label"} <= set(df.columns)
    failures = pd.read_csv(tmp_path / "f.failures.csv")
    assert list(failures.case_id) == ["BROKEN"] and "broken.nrrd" in failures.error[0]
    prov = json.loads((tmp_path / "f.provenance.json").read_text())
    assert prov["deep_backbone"] == deep.UNTRAINED and prov["weights_sha256"] is None
    assert prov["settings"]["params"].endswith("us-liu2024.yaml") and prov["radiomics_params_sha256"]
    run = json.loads((tmp_path / "f.run" / "run.json").read_text())
    assert run["settings"]["weights"] is None and run["settings"]["torch_threads"] >= 1
    # the features of a case equal run_case's with the same settings (here: a grown mask)
    case = few_cases[1]
    row = m.set_index("case_id").loc[case.case_id]
    image = us.read_frame(tmp_path / "c" / row["image"])
    settings = USSettings(**{k: v for k, v in run["settings"].items() if k != "cache_dir"})
    direct = us.run_case(image, settings, seeds_ras=[[float(v) for v in row["seed_ras"].split(",")]])
    got = df.set_index("case_id").loc[case.case_id]
    assert all(got[k] == v for k, v in direct.features.items())


# --------------------------------------------------------------------------- models (tables, no images)
def _table(n=160, seed=3):
    """A feature table with the pathway's column names: signal in DL_0, US_a, a PyRadiomics texture
    feature and the clinical columns."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6))
    age = rng.integers(30, 80, n)
    birads = rng.integers(3, 6, n)
    risk = 1.2 * x[:, 0] - 0.9 * x[:, 1] + 0.8 * x[:, 5] + 0.04 * (age - 55) + 0.5 * (birads - 4)
    label = (rng.random(n) < 1 / (1 + np.exp(-risk))).astype(int)
    table = pd.DataFrame(x, columns=["DL_0", "US_a", "DL_1", "DL_2", "US_b", "US_original_glcm_Contrast"])
    return table.assign(age=age, birads=birads, nuclear_grade=rng.integers(1, 4, n), us_aln=rng.integers(0, 2, n),
                        label=label)


@pytest.fixture(scope="module")
def trained():
    table = _table()
    return table, us_model.train_us_model(table.iloc[:110], provenance=USSettings(), n_folds=5)


def test_training_gives_one_self_sufficient_bundle(tmp_path, trained):
    """The DLRN holds the DLR signature's coefficients: its one bundle predicts a case from the
    features and the clinical values, as load_bundle and us.load_model read it."""
    from alnpredictor.models import load_bundle, save_bundle, train_model, validate

    table, model = trained
    assert model.recipe == "nomogram" and model.design_columns[0] == us.SIGNATURE
    signature = train_model(table.iloc[:110], "label", "lasso-logistic", features=us_model.feature_columns(table),
                            seed=0, name="DLRN DLR signature", n_folds=5)
    assert model.features == signature.features and model.spec["signature"]["coefficients"] == signature.spec[
        "predictor"]["coefficients"]
    inputs = us.trained_inputs(model)
    assert inputs["deep_backbone"] == deep.UNTRAINED and inputs["signature"]["cutoff"] == signature.cutoff
    path = save_bundle(model, tmp_path / "dlrn.alnmodel")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dlrn.alnmodel"]
    for loaded in (load_bundle(path), us.load_model(path), us.load_model(path, USSettings())):
        row = table.iloc[[120]]
        features = {f: float(row[f].iloc[0]) for f in us_model.feature_columns(table)}
        clinical = {c: row[c].iloc[0] for c in us.CLINICAL}
        prediction = us.predict(loaded, features, clinical)
        out = _as_dict(prediction)
        warnings = prediction.context["clinical_warnings"]
        assert out["probability"] == pytest.approx(model.predict_proba(row)[0], abs=1e-12)
        assert set(out["points"]) == {us.SIGNATURE, *us.CLINICAL} and isinstance(warnings, list)
    # the signature's own validation, at its training cut-off, as validating the signature model itself
    valid = table.iloc[110:]
    result = us_model.validate_us_model(model, valid)
    direct = validate(signature, valid, "label", 1)
    for key in ("n", "auc", "auc_ci", "cutoff", "cutoff_source", "sensitivity", "specificity"):
        assert result["signature"][key] == direct[key], key
    assert result["nomogram"]["n"] == len(valid)
    # signature only
    sig_only = us_model.train_us_model(table.iloc[:110], clinical=[], n_folds=5)
    assert sig_only.recipe == "lasso-logistic" and set(us_model.validate_us_model(sig_only, valid)) == {"signature"}


def test_a_folder_of_two_bundles_from_earlier_versions_loads_its_dlrn(tmp_path, trained):
    from alnpredictor.models import save_bundle, train_model

    table, model = trained
    signature = train_model(table.iloc[:110], "label", "lasso-logistic", features=us_model.feature_columns(table),
                            n_folds=5)
    save_bundle(signature, tmp_path / "old" / "dlr-signature.alnmodel")
    save_bundle(model, tmp_path / "old" / "dlrn.alnmodel")
    assert us.load_model(tmp_path / "old").recipe == "nomogram"


def test_load_model_refuses_an_mri_bundle(tmp_path):
    from alnpredictor.models import save_bundle, train_model

    table = _table().rename(columns={"DL_0": "TT1C_original_firstorder_Mean", "US_a": "LADC_original_glcm_Contrast"})
    mri = train_model(table, "label", "lasso-logistic", features=["TT1C_original_firstorder_Mean",
                                                                  "LADC_original_glcm_Contrast"], n_folds=5)
    path = save_bundle(mri, tmp_path / "mri.alnmodel")
    with pytest.raises(InputError, match="trained on MRI features") as err:
        us.load_model(path)
    assert "mri.alnmodel" in str(err.value) and "MRI pathway" in str(err.value)


def test_the_model_refuses_settings_that_cannot_give_its_features(tmp_path, trained):
    """Other deep weights, another input size, texture off, another parameter file: refused before
    any extraction (us.load_model(path, settings) runs the same check)."""
    _, model = trained
    assert {"DL_0", "US_original_glcm_Contrast"} <= set(model.features)
    other = tmp_path / "other.pt"
    other.write_bytes(b"not the training weights")
    with pytest.raises(ModelBundleError, match="same --weights"):
        us.check_settings(model, USSettings(weights=str(other), radiomics=False))
    with pytest.raises(ModelBundleError, match="input size"):
        us.check_settings(model, USSettings(input_size=112, radiomics=False))
    with pytest.raises(ModelBundleError, match="same --weights"):
        us.check_deep_weights(model, {"weights": "weights file other.pt", "weights_sha256": "0" * 64})
    us.check_deep_weights(model, us.feature_provenance(NO_TEXTURE))
    # trained on texture computed with the shipped parameter file (its SHA-256 is in the model)
    us.check_settings(model, USSettings())
    with pytest.raises(InputError, match="PyRadiomics texture"):
        us.check_settings(model, NO_TEXTURE)
    params = tmp_path / "my-params.yaml"
    params.write_text(us.radiomics_params(USSettings()).read_text() + "\n# changed\n")
    with pytest.raises(InputError, match="parameter file"):
        us.check_settings(model, USSettings(params=str(params)))
    assert us.is_radiomics_feature("US_original_glcm_Contrast") and not us.is_radiomics_feature("US_LBP_0")


@pytest.mark.slow
def test_end_to_end_seed_click_to_nomogram(tmp_path, capsys):
    """Synthetic cohort (default label model), seed clicks only → grow-cut → features → ICC filter →
    DLR signature → DLRN on 60 %, validated on the other 40 % with DeLong CIs; one patient predicted
    from the saved bundle through the pathway's verbs (load_model → run_case → predict)."""
    from alnpredictor.cohort.manifest import parse_points
    from alnpredictor.errors import ALNPredictorError
    from alnpredictor.models import load_bundle, save_bundle

    cases = generate_cohort(110, seed=7)
    manifest = write_cohort(cases, tmp_path / "cohort", masks=False)
    rows = pd.read_csv(manifest)
    frames, failed = [], []
    for _, r in rows.iterrows():
        try:
            image, mask, source = us.load_case(manifest.parent / r.image_US, seeds_ras=parse_points(r.seeds_tumor))
            frames.append((r.case_id, image, mask))
        except ALNPredictorError:  # a failing case is recorded and skipped, as in a cohort run
            failed.append(r.case_id)
    assert len(failed) <= 3, failed
    feats = us_model.features_table(frames, NO_TEXTURE)
    table = rows.set_index("case_id")[list(us.CLINICAL) + ["label"]].join(feats, how="inner").reset_index()
    n_train = int(0.6 * len(table))
    train, valid = table.iloc[:n_train], table.iloc[n_train:]

    icc = us_model.robust_features(frames[:12], NO_TEXTURE, shifts=False)
    assert 0 < len(icc.keep) < len(icc.table)  # some features do not survive a one-pixel outline change
    model = us_model.train_us_model(train, icc_keep=icc.keep, provenance=NO_TEXTURE)
    assert set(model.features) <= set(icc.keep)
    assert model.design_columns[0] == us.SIGNATURE

    result = us_model.validate_us_model(model, valid)
    sig, dlrn = result["signature"], result["nomogram"]
    with capsys.disabled():
        print(f"\nUS pathway, synthetic cohort: train n={len(train)}, validation n={sig['n']} "
              f"({sig['n_positive']} positive); signature {len(model.features)} features "
              f"AUC {sig['auc']:.3f} (DeLong 95% CI {sig['auc_ci'][0]:.3f}-{sig['auc_ci'][1]:.3f}); "
              f"DLRN AUC {dlrn['auc']:.3f} ({dlrn['auc_ci'][0]:.3f}-{dlrn['auc_ci'][1]:.3f})")
    assert sig["auc_ci"][0] > 0.6 and dlrn["auc_ci"][0] > 0.6  # clearly better than chance
    assert dlrn["auc"] >= sig["auc"] - 0.02  # clinical predictors do not hurt

    # one patient from the saved bundle: image + seed click + clinical values -> probability and points
    path = save_bundle(model, tmp_path / "dlrn.alnmodel")
    assert load_bundle(path).features == model.features
    loaded = us.load_model(path, NO_TEXTURE)
    r = rows.set_index("case_id").loc[valid.case_id.iloc[0]]
    clinical = {c: r[c] for c in us.CLINICAL}
    case = us.run_case(us.read_frame(manifest.parent / r.image_US), NO_TEXTURE, seeds_ras=parse_points(r.seeds_tumor))
    prediction = us.predict(loaded, case.features, clinical)
    out = _as_dict(prediction)
    expected = loaded.predict_proba(valid.iloc[[0]])[0]
    assert out["probability"] == pytest.approx(expected, abs=1e-9)
    assert set(out["points"]) == {us.SIGNATURE, *us.CLINICAL}
    assert out["total_points"] == pytest.approx(sum(out["points"].values()))
    assert out["predicted_class"] == int(out["probability"] >= loaded.cutoff)
    assert case.provenance["deep"]["weights"] == deep.UNTRAINED and case.mask_source == "grow-cut"
    us.check_deep_weights(loaded, case.provenance["deep"])

    if any(f.startswith("DL_") for f in loaded.features):
        wrong = tmp_path / "other.pt"
        import torch
        import torchvision

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(99)
            torch.save(torchvision.models.resnet50(weights=None).state_dict(), wrong)
        with pytest.raises(ModelBundleError, match="same --weights"):
            us.load_model(path, USSettings(weights=str(wrong), radiomics=False))
