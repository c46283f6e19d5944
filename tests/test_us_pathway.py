"""The ultrasound pathway end to end: seed click → grow-cut → crop → deep + handcrafted features →
DLR signature (lasso-logistic) → nomogram, trained and validated on a synthetic cohort."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from alnpredictor.errors import InputError
from alnpredictor.features import deep
from alnpredictor.pathways import us
from alnpredictor.synthetic.us_cohort import generate_cohort, to_sitk, write_cohort


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


def test_seed_click_grows_the_lesion(tmp_path, few_cases):
    """Grow-cut from the seed click alone (automatic background) recovers the drawn lesion."""
    manifest = write_cohort(few_cases, tmp_path, masks=False)
    row = pd.read_csv(manifest).iloc[0]
    seeds = [[float(v) for v in row["seeds_tumor"].split(",")]]
    image, mask, source = us.load_case(tmp_path / row["image_US"], seeds_ras=seeds)
    assert source == "grow-cut"
    grown = sitk.GetArrayFromImage(mask)[0] > 0
    truth = few_cases[0].mask
    dice = 2 * (grown & truth).sum() / (grown.sum() + truth.sum())
    assert dice > 0.85, dice


def test_process_case_records_the_untrained_backbone(tmp_path, few_cases):
    manifest = write_cohort(few_cases[:1], tmp_path, seeds=False)
    row = pd.read_csv(manifest).iloc[0]
    case = {"case_id": "X", "images": {"US": str(tmp_path / row["image_US"])}, "masks": {"tumor": str(tmp_path / row["mask_tumor"])},
            "seeds": {}, "clinical": {"age": 50}}
    rec = us.process_case(case, us.extraction_settings(radiomics=False))
    assert rec["deep"]["weights"] == deep.UNTRAINED and rec["mask_source"] == "file"
    assert rec["clinical"] == {"age": 50} and not any("original_" in k for k in rec["features"])


def test_bad_inputs(tmp_path, few_cases):
    vol = tmp_path / "vol.nrrd"
    sitk.WriteImage(sitk.Image(20, 20, 3, sitk.sitkUInt8), str(vol))
    with pytest.raises(InputError, match="slices"):
        us.load_case(vol, seeds_ras=[[0, 0, 0]])
    frame = tmp_path / "f.nrrd"
    sitk.WriteImage(to_sitk(few_cases[0].image, few_cases[0].spacing), str(frame))
    with pytest.raises(InputError, match="seed"):
        us.load_case(frame)
    with pytest.raises(InputError, match="weights file not found"):
        us.extraction_settings(weights=tmp_path / "none.pt")


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
    assert prov["us_deep_backbone"] == deep.UNTRAINED and prov["us_params"].endswith("us-liu2024.yaml")
    run = json.loads((tmp_path / "f.run" / "run.json").read_text())
    assert run["settings"]["us_deep_backbone"] == deep.UNTRAINED


@pytest.mark.slow
def test_end_to_end_seed_click_to_nomogram(tmp_path, capsys):
    """Synthetic cohort (default label model), seed clicks only → grow-cut → features → ICC filter →
    DLR signature → DLRN on 60 %, validated on the other 40 % with DeLong CIs; one patient predicted
    from a saved model."""
    from alnpredictor.cohort.manifest import parse_points
    from alnpredictor.errors import ALNPredictorError, ModelBundleError

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
    feats = us.features_table(frames, radiomics=False)
    table = rows.set_index("case_id")[list(us.CLINICAL) + ["label"]].join(feats, how="inner").reset_index()
    n_train = int(0.6 * len(table))
    train, valid = table.iloc[:n_train], table.iloc[n_train:]

    icc = us.robust_features(frames[:12], shifts=False, radiomics=False)
    assert 0 < len(icc.keep) < len(icc.table)  # some features do not survive a one-pixel outline change
    model = us.train_us_model(train, icc_keep=icc.keep, provenance=us.extraction_settings(radiomics=False))
    assert set(model.signature.features) <= set(icc.keep)
    assert model.nomogram.design_columns[0] == us.SIGNATURE

    result = us.validate_us_model(model, valid)
    sig, dlrn = result["signature"], result["nomogram"]
    with capsys.disabled():
        print(f"\nUS pathway, synthetic cohort: train n={len(train)}, validation n={sig['n']} "
              f"({sig['n_positive']} positive); signature {len(model.signature.features)} features "
              f"AUC {sig['auc']:.3f} (DeLong 95% CI {sig['auc_ci'][0]:.3f}-{sig['auc_ci'][1]:.3f}); "
              f"DLRN AUC {dlrn['auc']:.3f} ({dlrn['auc_ci'][0]:.3f}-{dlrn['auc_ci'][1]:.3f})")
    assert sig["auc_ci"][0] > 0.6 and dlrn["auc_ci"][0] > 0.6  # clearly better than chance
    assert dlrn["auc"] >= sig["auc"] - 0.02  # clinical predictors do not hurt

    # one patient from a saved model: image + seed click + clinical values -> probability and points
    folder = model.save(tmp_path / "model")
    loaded = us.USModel.load(folder)
    r = rows.set_index("case_id").loc[valid.case_id.iloc[0]]
    clinical = {c: r[c] for c in us.CLINICAL}
    out = us.predict_case(folder, manifest.parent / r.image_US, seeds_ras=parse_points(r.seeds_tumor), clinical=clinical)
    expected = loaded.nomogram.predict_proba(valid.iloc[[0]])[0]
    assert out["probability"] == pytest.approx(expected, abs=1e-9)
    assert set(out["points"]) == {us.SIGNATURE, *us.CLINICAL}
    assert out["total_points"] == pytest.approx(sum(out["points"].values()))
    assert out["predicted_class"] == int(out["probability"] >= loaded.nomogram.cutoff)
    assert out["deep"]["weights"] == deep.UNTRAINED and out["mask_source"] == "grow-cut"

    if any(f.startswith("DL_") for f in loaded.signature.features):
        wrong = tmp_path / "other.pt"
        import torch
        import torchvision

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(99)
            torch.save(torchvision.models.resnet50(weights=None).state_dict(), wrong)
        with pytest.raises(ModelBundleError, match="same --weights"):
            us.predict_case(loaded, manifest.parent / r.image_US, seeds_ras=parse_points(r.seeds_tumor),
                            clinical=clinical, weights=wrong)
