"""``alnpredictor extract`` on real files: case folder, manifest, failures, NaN blocks."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from alnpredictor.cli import main
from alnpredictor.features.radiomics import extract_case
from alnpredictor.synthetic.mri_study import make_study

PARAMS_YAML = """
setting: {binWidth: 25, label: 1}
imageType: {Original: {}, Wavelet: {}}
featureClass: {firstorder: , glcm: , shape: }
"""


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory):
    study = make_study(scale=0.25, seed=7)
    folder = tmp_path_factory.mktemp("cases") / "case001"
    folder.mkdir()
    for seq, image in study.images.items():
        sitk.WriteImage(image, str(folder / f"{seq}.nrrd"))
    for (roi, seq), mask in study.masks.items():
        sitk.WriteImage(mask, str(folder / f"mask_{roi}_{seq}.nrrd"), True)
    params = folder.parent / "small.yaml"
    params.write_text(PARAMS_YAML)
    return folder, study, params


def test_case_dir_equals_extract_case(case_dir, tmp_path):
    folder, study, params = case_dir
    out = tmp_path / "features.csv"
    assert main(["extract", "--case-dir", str(folder), "--params", str(params), "--out", str(out),
                 "--workers", "1"]) == 0
    table = pd.read_csv(out)
    assert list(table["case_id"]) == ["case001"]
    direct = extract_case(study.images, study.masks, params, workers=1)
    assert list(table.columns[1:]) == list(direct.features)
    np.testing.assert_array_equal(table.iloc[0, 1:].to_numpy(float), np.array(list(direct.features.values())))
    prov = json.loads((tmp_path / "features.provenance.json").read_text())
    assert prov["params_sha256"] == direct.provenance["params_sha256"] and prov["succeeded"] == 1
    diag = pd.read_csv(tmp_path / "features.diagnostics.csv")
    assert set(diag["block"]) == {"TT1C", "TT2", "TADC", "LT1C", "LT2", "LADC"}


@pytest.mark.slow
def test_manifest_with_a_failing_case_and_a_nan_block(case_dir, tmp_path):
    folder, study, params = case_dir
    empty = study.masks[("L", "ADC")] * 0
    sitk.WriteImage(empty, str(tmp_path / "empty.nrrd"))
    rows = []
    for cid in ("A", "B", "C"):
        row = {"case_id": cid, "site": "X"}
        for seq in ("T1C", "T2", "ADC"):
            row[f"image_{seq}"] = str(folder / f"{seq}.nrrd")
            for roi in ("T", "L"):
                row[f"mask_{roi}_{seq}"] = str(folder / f"mask_{roi}_{seq}.nrrd")
        rows.append(row)
    rows[1]["image_T2"] = "does-not-exist.nrrd"
    rows[2]["mask_L_ADC"] = "empty.nrrd"
    pd.DataFrame(rows).to_csv(tmp_path / "m.csv", index=False)
    out = tmp_path / "f.csv"
    code = main(["extract", "--manifest", str(tmp_path / "m.csv"), "--params", str(params), "--out", str(out),
                 "--workers", "2", "--no-n4", "--no-register", "--quiet"])
    assert code == 1
    table = pd.read_csv(out)
    assert list(table["case_id"]) == ["A"]
    failures = pd.read_csv(tmp_path / "f.failures.csv").set_index("case_id")
    assert sorted(failures.index) == ["B", "C"] and "does-not-exist" in failures.loc["B", "error"]
    assert "ROI L on ADC: mask is empty" in failures.loc["C", "error"]
    # ... and with --on-roi-error nan, case C's empty node mask on ADC becomes a NaN block.
    code = main(["extract", "--manifest", str(tmp_path / "m.csv"), "--params", str(params), "--out", str(out),
                 "--workers", "2", "--on-roi-error", "nan", "--no-n4", "--no-register", "--quiet", "--retry-failed"])
    assert code == 1  # B still fails (its image is missing)
    table = pd.read_csv(out).set_index("case_id")
    ladc = [c for c in table.columns if c.startswith("LADC_")]
    assert ladc and table.loc["C", ladc].isna().all() and table.loc["A", ladc].notna().all()
    prov = json.loads((tmp_path / "f.provenance.json").read_text())
    assert prov["params_sha256"] and prov["settings"]["on_roi_error"] == "nan"
    shard = next(json.loads(p.read_text()) for p in (tmp_path / "f.run" / "shards").glob("*.json")
                 if json.loads(p.read_text())["case_id"] == "C")
    assert "mask is empty" in shard["errors"]["LADC"]


def _partial_case(folder, tmp_path, name, left_out):
    partial = tmp_path / name
    partial.mkdir()
    for f in folder.iterdir():
        if f.name not in left_out:
            (partial / f.name).symlink_to(f)
    return partial


def test_case_dir_without_a_mask_on_t2_propagates_the_reference_roi(case_dir, tmp_path):
    """A case folder is a one-row manifest: a ROI with no mask on T2 is propagated from T1C."""
    folder, study, params = case_dir
    partial = _partial_case(folder, tmp_path, "case002", {"mask_L_T2.nrrd"})
    out = tmp_path / "p.csv"
    assert main(["extract", "--case-dir", str(partial), "--params", str(params), "--out", str(out),
                 "--workers", "1", "--no-register"]) == 0
    row = pd.read_csv(out).iloc[0]
    lt2 = [c for c in row.index if c.startswith("LT2_")]
    assert lt2 and all(math.isfinite(row[c]) for c in lt2)
    prov = json.loads((tmp_path / "p.provenance.json").read_text())
    assert set(prov["per_case"]["case002"]["quality"]["registration"]) == {"T2"}


def test_case_dir_without_a_reference_mask(case_dir, tmp_path, capsys):
    folder, study, params = case_dir
    partial = _partial_case(folder, tmp_path, "case003", {"mask_L_T1C.nrrd", "mask_L_T2.nrrd", "mask_L_ADC.nrrd"})
    out = tmp_path / "p.csv"
    assert main(["extract", "--case-dir", str(partial), "--params", str(params), "--out", str(out),
                 "--workers", "1"]) == 2
    assert "no nodes ROI" in capsys.readouterr().err and not out.exists()
    assert main(["extract", "--case-dir", str(partial), "--params", str(params), "--out", str(out),
                 "--workers", "1", "--on-roi-error", "nan"]) == 0
    row = pd.read_csv(out).iloc[0]
    nodes = [c for c in row.index if c[0] == "L"]
    assert nodes and all(math.isnan(row[c]) for c in nodes)
    assert all(math.isfinite(row[c]) for c in row.index if c[0] == "T")
