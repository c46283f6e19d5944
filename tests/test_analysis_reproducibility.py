"""``alnpredictor analyze reproducibility``: readers' clicks → the whole ultrasound pathway per reader →
ICC / Bland–Altman / class flips, on real busi-dev frames (expert masks, BUSI's 0.1 mm per pixel).

The ICC numbers are checked against R ``psych::ICC`` (``tools/r/icc_reference.R`` computed
``tests/fixtures/r/icc_reference.json`` from ``icc_input.json``; CI has no R) at 1e-6. The model of
the end-to-end tests is a logistic signature of four handcrafted features fitted to ten busi-dev frames
(benign vs malignant; PyRadiomics texture off, untrained ResNet50 backbone: nothing to download).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from bad_inputs import assert_refused, run_cli, snapshot

from alnpredictor.analysis import reproducibility as rep
from alnpredictor.stats.icc import icc

FIXTURES = Path(__file__).parent / "fixtures" / "r"
ICC_INPUT, ICC_REFERENCE = FIXTURES / "icc_input.json", FIXTURES / "icc_reference.json"
SPACING = 0.1  # BUSI's nominal pixel spacing (busi-dev README)
MODEL_FEATURES = ["US_circularity", "US_echo_contrast", "US_margin_irregularity", "US_aspect_ratio"]
READER_FRAMES = ["busi_malignant_165", "busi_benign_253", "busi_benign_020"]


# --------------------------------------------------------------------------- the R fixtures
def icc_tables() -> dict[str, dict]:
    """The tables ``icc_input.json`` holds: Shrout & Fleiss (1979) 6 subjects × 4 judges; 24 patients'
    probabilities from 3 readers (true logit N(−0.4, 1.2²), reader offsets 0 / +0.15 / −0.10, reading
    noise N(0, 0.35²), generator seed 16, one missing reading); a feature 2 readers measure with much
    noise (log-normal area, 30 lesions, ICC about 0.5)."""
    rng = np.random.default_rng(16)
    truth = rng.normal(-0.4, 1.2, 24)
    logits = truth[:, None] + np.array([0.0, 0.15, -0.10]) + rng.normal(0, 0.35, (24, 3))
    probs = np.round(1 / (1 + np.exp(-logits)), 6).tolist()
    probs[6][2] = None
    area = rng.lognormal(4.0, 0.5, 30)
    measured = np.round(area[:, None] * np.exp(rng.normal(0, 0.35, (30, 2))), 4).tolist()
    return {
        "shrout_fleiss_1979": {"raters": ["J1", "J2", "J3", "J4"],
                               "ratings": [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9],
                                           [6, 2, 4, 7]]},
        "reader_probabilities": {"raters": ["R1", "R2", "R3"], "ratings": probs},
        "noisy_area": {"raters": ["R1", "R2"], "ratings": measured},
    }


def _write_icc_input() -> None:  # pragma: no cover - run by hand, then Rscript tools/r/icc_reference.R
    ICC_INPUT.write_text(json.dumps({"tables": icc_tables()}, indent=1) + "\n")


def _ratings(table: dict) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in row] for row in table["ratings"]], dtype=float)


def test_icc_input_is_the_documented_tables():
    assert json.loads(ICC_INPUT.read_text())["tables"] == json.loads(json.dumps(icc_tables()))


@pytest.mark.parametrize("name", list(icc_tables()))
def test_icc_and_bland_altman_match_r_psych(name):
    """ICC(2,1) and ICC(3,1), their 95% bounds, F, df and p as psych::ICC (complete cases), and the
    Bland–Altman numbers of the first two raters, to 1e-6."""
    ref = json.loads(ICC_REFERENCE.read_text())["tables"][name]
    x = _ratings(json.loads(ICC_INPUT.read_text())["tables"][name])
    row = icc(x).iloc[0]
    assert int(row["n_subjects"]) == ref["n_subjects"]
    for ours, theirs in (("icc2_1", "ICC2"), ("icc3_1", "ICC3")):
        r = ref[theirs]
        for key, rkey in ((ours, "ICC"), (f"{ours}_ci_low", "lower"), (f"{ours}_ci_high", "upper")):
            assert math.isclose(row[key], r[rkey], abs_tol=1e-6), (name, key, row[key], r[rkey])
        assert math.isclose(row["F"], r["F"], rel_tol=1e-9) and math.isclose(row["pval"], r["p"], abs_tol=1e-6)
        assert (int(row["df1"]), int(row["df2"])) == (r["df1"], r["df2"])
    ba = rep.bland_altman(x[:, :2], ["a", "b"])[0]
    for key in ("n", "bias", "sd", "loa_low", "loa_high", "bias_ci_low", "bias_ci_high"):
        assert math.isclose(ba[key], ref["bland_altman"][key], abs_tol=1e-6), (name, key)


# --------------------------------------------------------------------------- the simulated readers' rule
def test_jittered_clicks_stay_within_the_distance_and_inside_the_mask():
    mask = np.zeros((200, 300), bool)
    mask[80:120, 100:220] = True  # 4 mm × 12 mm at 0.1 mm per pixel
    ref = (100.0, 160.0)
    clicks, fell = rep.jittered_clicks(ref, 400, 3.0, (SPACING, SPACING), mask.shape, rep.case_rng(0, "c1"), mask)
    assert fell == 0 and clicks.shape == (400, 2)
    dist_mm = np.hypot(*(clicks - ref).T) * SPACING
    assert dist_mm.max() <= 3.0 + 1e-9
    assert all(mask[int(round(r)), int(round(c))] for r, c in clicks)
    assert np.ptp(clicks[:, 1]) * SPACING > 5  # spread along the lesion (uniform over the disc ∩ mask)
    assert np.ptp(clicks[:, 0]) * SPACING < 4.1  # and never out of it across
    free, _ = rep.jittered_clicks(ref, 2000, 3.0, (SPACING, SPACING), mask.shape, rep.case_rng(0, "c1"))
    assert np.mean(np.hypot(*(free - ref).T) * SPACING) == pytest.approx(2.0, abs=0.1)  # E[r] = 2/3 X
    again, _ = rep.jittered_clicks(ref, 400, 3.0, (SPACING, SPACING), mask.shape, rep.case_rng(0, "c1"), mask)
    np.testing.assert_array_equal(again, clicks)  # fixed by seed and case id
    other, _ = rep.jittered_clicks(ref, 400, 3.0, (SPACING, SPACING), mask.shape, rep.case_rng(1, "c1"), mask)
    assert not np.array_equal(other, clicks)
    tiny = np.zeros_like(mask)
    tiny[10, 10] = True  # no draw within 3 mm can land there
    clicks, fell = rep.jittered_clicks(ref, 2, 3.0, (SPACING, SPACING), mask.shape, rep.case_rng(0, "c2"), tiny)
    assert fell == 2 and np.array_equal(clicks, [ref, ref])


def test_simulated_caliper_lines_jitter_both_ends():
    """--simulate-prompt line: each reader's end points within X mm of the expert caliper line's."""
    from alnpredictor.imaging.coords import VoxelGrid
    from alnpredictor.imaging.evaluate import caliper_line, to_ras

    mask = np.zeros((200, 300), bool)
    mask[80:120, 100:220] = True
    image = sitk.JoinSeries(sitk.GetImageFromArray(np.zeros((200, 300), np.float32)))
    image.SetSpacing((SPACING, SPACING, 1.0))
    case = rep.ReaderCase("c1", Path("frame.png"))
    prompts, fell = rep.simulate_prompts(case, image, mask, ["A", "B", "C"], 2.0, seed=0, prompt="line")
    reference = to_ras(VoxelGrid(image), np.array(caliper_line(mask)))
    assert fell == 0 and sorted(prompts) == ["A", "B", "C"]
    lines = np.array([prompts[r]["line"] for r in "ABC"])  # (reader, end, RAS)
    assert np.all(np.linalg.norm(lines - reference[None], axis=2) <= 2.0 + 1e-9)
    assert len({tuple(map(tuple, line)) for line in lines}) == 3  # three different readers
    again, _ = rep.simulate_prompts(case, image, mask, ["A", "B", "C"], 2.0, seed=0, prompt="line")
    assert again == prompts


def test_class_flips_and_fleiss_kappa():
    from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

    classes = np.array([[1, 1, 1], [0, 0, 0], [1, 0, 1], [0, 0, 1], [np.nan, 1, 1], [1, 1, 1]])
    out = rep.class_flips(classes, ["A", "B", "C"])
    assert (out["n"], out["n_flipped"]) == (5, 2) and out["fraction_flipped"] == pytest.approx(0.4)
    assert [p["n_disagree"] for p in out["pairs"]] == [1, 1, 2]
    complete = classes[~np.isnan(classes).any(axis=1)].astype(int)
    assert out["fleiss_kappa"] == pytest.approx(fleiss_kappa(aggregate_raters(complete)[0]))


# --------------------------------------------------------------------------- the whole workflow on busi-dev
def _busi(shared_dir: Path) -> Path:
    return shared_dir / "data" / "busi-dev"


@pytest.fixture(scope="module")
def model_path(tmp_path_factory, shared_dir):
    """A logistic signature of four handcrafted features, fitted to ten busi-dev frames (expert masks)."""
    from sklearn.linear_model import LogisticRegression

    from alnpredictor.features import ultrasound
    from alnpredictor.imaging.io import read_mask
    from alnpredictor.models import save_bundle, train_model
    from alnpredictor.pathways import us

    root = _busi(shared_dir)
    cases = pd.read_csv(root / "cases.csv")
    chosen = pd.concat([cases[cases["class"] == c].head(5) for c in ("benign", "malignant")])
    rows = []
    for _, c in chosen.iterrows():
        image = us.read_frame(root / c["image"], SPACING)
        feats = ultrasound.handcrafted_features(image, read_mask(root / c["mask"], reference=image), radiomics=False)
        rows.append({**{f: feats[f] for f in MODEL_FEATURES}, "label": int(c["class"] == "malignant")})
    table = pd.DataFrame(rows)
    x = table[MODEL_FEATURES].to_numpy()
    mean, sd = x.mean(axis=0), x.std(axis=0)
    fit = LogisticRegression(C=1.0).fit((x - mean) / sd, table["label"])
    coef = fit.coef_[0] / sd
    folder = tmp_path_factory.mktemp("model")
    pd.DataFrame({"feature": ["(intercept)", *MODEL_FEATURES],
                  "coefficient": [fit.intercept_[0] - float(coef @ mean), *coef]}).to_csv(folder / "sig.csv", index=False)
    model = train_model(table, "label", "linear-signature", signature=folder / "sig.csv", name="busi signature")
    return save_bundle(model, folder / "busi.alnmodel")


def _manifest(tmp_path: Path, shared_dir: Path, frames=READER_FRAMES, **columns) -> Path:
    root = _busi(shared_dir)
    rows = [{"case_id": f, "image_US": str(root / "images" / f"{f}.png"), "spacing_mm": SPACING,
             "mask_tumor": str(root / "masks" / f"{f}_mask.png"),
             **{k: v[i] for k, v in columns.items()}} for i, f in enumerate(frames)]
    path = tmp_path / "readers.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_simulated_readers_run_the_whole_workflow(tmp_path, capsys, shared_dir, model_path):
    """Two simulated readers clicking within 2 mm of each lesion's centre, inside the expert mask:
    grow-cut per click → features → probability; ICCs, Bland–Altman, flips, JSON and both figures.
    busi_malignant_007 is a frame where a click at the centre is refused (the lesion's size is
    ambiguous): a refused jittered click is a missing reading with the segmenter's message, not a crash."""
    from alnpredictor.imaging.evaluate import deepest_point

    frames = [*READER_FRAMES, "busi_malignant_007"]
    manifest = _manifest(tmp_path, shared_dir, frames)
    out = tmp_path / "out"
    result = run_cli(["analyze", "reproducibility", "--manifest", manifest, "--simulate-readers", 2,
                      "--jitter-mm", 2, "--model", model_path, "--json", out / "r.json", "--plots", out / "plots"],
                     capsys)
    assert result.rc == 0, result.err
    with capsys.disabled():
        print("\n" + result.out)
    data = json.loads((out / "r.json").read_text())
    assert data["readers"] == ["sim1", "sim2"] and data["mode"] == "simulated" and data["n_cases"] == 4
    assert data["settings"]["radiomics"] is False
    root = _busi(shared_dir)
    for case in data["cases"]:
        mask = sitk.GetArrayFromImage(sitk.ReadImage(str(root / "masks" / f"{case['case_id']}_mask.png")))
        mask = (mask[..., 0] if mask.ndim == 3 else mask) > 0
        centre = deepest_point(mask)
        for entry in case["readers"].values():
            r, a, _ = entry["click_ras"][0]
            rc = np.array([-a, -r]) / SPACING  # RAS → LPS → (row, column) on the documented 2-D grid
            assert np.hypot(*(rc - centre)) * SPACING <= 2.0 + 0.01
            assert mask[int(round(rc[0])), int(round(rc[1]))]
    readings = {(c["case_id"], r): e for c in data["cases"] for r, e in c["readers"].items()}
    for entry in readings.values():
        assert ("probability" in entry) != ("error" in entry)
    assert all("probability" in readings[(f, r)] for f in READER_FRAMES for r in ("sim1", "sim2"))
    assert data["n_complete"] >= 3
    p = data["probability"]
    assert p["n_subjects"] == data["n_complete"] and p["icc2_1"] is not None
    assert [f["feature"] for f in data["features"]] == MODEL_FEATURES
    ba = data["bland_altman"][0]
    assert ba["readers"] == ["sim1", "sim2"] and ba["loa_low"] <= ba["bias"] <= ba["loa_high"]
    assert data["classes"]["n"] == data["n_complete"] and 0 <= data["classes"]["fraction_flipped"] <= 1
    assert sorted(p.name for p in (out / "plots").iterdir()) == [
        "reproducibility-bland-altman.png", "reproducibility-bland-altman.svg",
        "reproducibility-icc.png", "reproducibility-icc.svg"]
    assert "probability ICC(2,1)" in result.out and "class flips" in result.out


@pytest.mark.slow
def test_readers_from_the_manifest_match_the_pathway(tmp_path, capsys, shared_dir, model_path):
    """Three readers from the manifest: R1 clicks the lesion's centre, R2 gives the expert outline,
    R3 an outline 3 pixels wider. Each reading equals the pathway's own run_case + predict."""
    from alnpredictor.imaging.coords import VoxelGrid
    from alnpredictor.imaging.evaluate import deepest_point, to_ras
    from alnpredictor.imaging.io import read_mask
    from alnpredictor.pathways import us
    from alnpredictor.settings import USSettings

    root = _busi(shared_dir)
    clicks, wide = [], []
    for f in READER_FRAMES[:2]:
        image = us.read_frame(root / "images" / f"{f}.png", SPACING)
        mask = read_mask(root / "masks" / f"{f}_mask.png", reference=image)
        ras = to_ras(VoxelGrid(image), deepest_point(sitk.GetArrayFromImage(mask)[0] > 0))[0]
        clicks.append(",".join(f"{v:.3f}" for v in ras))
        path = tmp_path / f"{f}_wide.nrrd"
        sitk.WriteImage(sitk.BinaryDilate(mask, (3, 3, 0)), str(path))
        wide.append(str(path))
    masks = [str(root / "masks" / f"{f}_mask.png") for f in READER_FRAMES[:2]]
    manifest = _manifest(tmp_path, shared_dir, READER_FRAMES[:2], seeds_tumor_R1=clicks, mask_tumor_R2=masks,
                         mask_tumor_R3=wide)
    result = run_cli(["analyze", "reproducibility", "--manifest", manifest, "--readers", "R1,R2,R3", "--model",
                      model_path, "--json", tmp_path / "r.json"], capsys)
    assert result.rc == 0, result.err
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["mode"] == "manifest" and data["n_complete"] == 2 and len(data["bland_altman"]) == 3
    model = us.load_model(model_path)
    first = data["cases"][0]
    image = us.read_frame(root / "images" / f"{READER_FRAMES[0]}.png", SPACING)
    direct = us.run_case(image, USSettings(radiomics=False), seeds_ras=[[float(v) for v in clicks[0].split(",")]])
    expected = us.predict(model, direct.features, {}).probability
    assert first["readers"]["R1"]["probability"] == pytest.approx(expected, abs=1e-12)
    assert first["readers"]["R1"]["mask_source"] == "grow-cut" and first["readers"]["R2"]["mask_source"] == "given"
    assert 0.5 < first["mask_dice_mean"] < 1


# --------------------------------------------------------------------------- bad input (catalogue rows)
BAD = {
    "fewer than 2 readers": (["--readers", "R1"], {"seeds_tumor_R1": ["1,2,0"] * 3}, ["--readers", "at least 2"]),
    "a reader named twice": (["--readers", "R1,R1"], {"seeds_tumor_R1": ["1,2,0"] * 3}, ["R1", "more than once"]),
    "a reader column missing": (["--readers", "R1,R2"], {"seeds_tumor_R1": ["1,2,0"] * 3},
                                ["R2", "seeds_tumor_R2", "readers.csv"]),
    "one simulated reader": (["--simulate-readers", "1", "--jitter-mm", "2"], {}, ["--simulate-readers", "2"]),
    "simulated readers without a distance": (["--simulate-readers", "3"], {}, ["--jitter-mm"]),
    "a caliper line of one point": (["--readers", "R1,R2"], {"line_tumor_R1": ["1,2,0"] * 3,
                                                              "seeds_tumor_R2": ["1,2,0"] * 3},
                                    ["line_tumor_R1", "two end points"]),
    "two prompts for one reader": (["--readers", "R1,R2"], {"seeds_tumor_R1": ["1,2,0"] * 3,
                                                            "line_tumor_R1": ["1,2,0;3,4,0"] * 3,
                                                            "seeds_tumor_R2": ["1,2,0"] * 3},
                                   ["R1", "one prompt per reader"]),
    "a malformed click": (["--readers", "R1,R2"], {"seeds_tumor_R1": ["1,2"] * 3, "seeds_tumor_R2": ["1,2,0"] * 3},
                          ["seeds_tumor_R1", "R,A,S"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_refused_by_name(tmp_path, capsys, shared_dir, case):
    """Refused before any frame is processed (the model path is not even read)."""
    argv, columns, names = BAD[case]
    manifest = _manifest(tmp_path, shared_dir, **columns)
    out = tmp_path / "out"
    out.mkdir()
    before = snapshot(out)
    result = run_cli(["analyze", "reproducibility", "--manifest", manifest, *argv, "--model", tmp_path / "m.alnmodel",
                      "--json", out / "r.json", "--plots", out / "plots"], capsys)
    assert_refused(result, *names, before=before, folder=out)


def test_a_single_case_is_refused(tmp_path, capsys, shared_dir):
    manifest = _manifest(tmp_path, shared_dir, READER_FRAMES[:1])
    result = run_cli(["analyze", "reproducibility", "--manifest", manifest, "--simulate-readers", "2", "--jitter-mm",
                      "1", "--model", tmp_path / "m.alnmodel"], capsys)
    assert_refused(result, "1 case", "at least 2 cases")
