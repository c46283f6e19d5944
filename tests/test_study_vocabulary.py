"""The study vocabulary is the one place: a sequence registered there, and nowhere else, flows
through the manifest, the MRI pathway, the feature names and the settings."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from alnpredictor import study
from alnpredictor.cohort.manifest import known_columns, load_manifest
from alnpredictor.errors import InputError
from alnpredictor.pathways import get_pathway
from alnpredictor.settings import MRISettings
from alnpredictor.synthetic.motion import image_center, random_rigid_motion, simulate_sequence
from alnpredictor.synthetic.mri_study import make_study

PARAMS = """
setting: {binWidth: 25, label: 1}
imageType: {Original: {}}
featureClass: {firstorder: , shape: }
"""


def test_feature_names_split_back_into_roi_sequence_and_name():
    name = study.feature_name("L", "ADC", "original_shape_Sphericity")
    assert name == "LADC_original_shape_Sphericity"
    assert study.split_feature_name(name) == ("L", "ADC", "original_shape_Sphericity")
    assert study.split_feature_name("age") is None and not study.is_mri_feature("US_area")
    assert study.is_us_feature("DL_17") and study.is_us_feature("US_lbp_3") and not study.is_us_feature("DL_x")
    assert [study.roi_code(s) for s in study.structure_names()] == ["T", "L"]


def test_a_sequence_code_with_an_underscore_is_refused():
    with pytest.raises(ValueError, match="no '_'|letters and digits"):
        study.register_sequence("DWI_800", "diffusion b=800")
    with pytest.raises(ValueError, match="already known"):
        study.register_sequence("T2", "again")


@pytest.mark.slow
def test_a_fourth_sequence_registered_in_the_vocabulary_only_runs_end_to_end(tmp_path):
    """DWI800 is added in study.py's registry and nowhere else: the manifest accepts its image and
    mask columns, the settings include it, and the pathway gives 8 ROI×sequence blocks named by the
    scheme, its masks propagated from the reference."""
    base = make_study(scale=0.4, seed=3)
    rng = np.random.default_rng(5)
    ref = base.images["T1C"]
    dwi, _ = simulate_sequence(ref, random_rigid_motion(rng, image_center(ref), 1.0, 1.0), spacing=(1.2, 1.2, 2.0),
                               rng=rng, inset_mm=0.5)
    (tmp_path / "P1").mkdir()
    row = {"case_id": "P1", "label": 1, "age": 50}
    for seq, image in {**base.images, "DWI800": dwi}.items():
        sitk.WriteImage(image, str(tmp_path / "P1" / f"{seq}.nrrd"), True)
        row[f"image_{seq}"] = f"P1/{seq}.nrrd"
    for name in study.structure_names():
        sitk.WriteImage(base.masks[(study.roi_code(name), "T1C")], str(tmp_path / "P1" / f"{name}.nrrd"), True)
        row[f"mask_{name}"] = f"P1/{name}.nrrd"
    pd.DataFrame([row]).to_csv(tmp_path / "manifest.csv", index=False)
    params = tmp_path / "small.yaml"
    params.write_text(PARAMS)

    assert "image_DWI800" not in known_columns()
    with pytest.raises(InputError, match="image_DWI800"):  # unknown before it is registered
        load_manifest(tmp_path / "manifest.csv")

    with study.extra_sequence("DWI800", "diffusion-weighted, b = 800 s/mm²"):
        assert study.mri_sequences() == ("T1C", "T2", "ADC", "DWI800")
        assert {"image_DWI800", "mask_T_DWI800", "mask_L_DWI800"} <= known_columns()
        case = load_manifest(tmp_path / "manifest.csv").cases[0]
        settings = MRISettings(params=str(params), n4=False, register=True)
        assert settings.sequences[-1] == "DWI800"
        record = get_pathway("mri").process_case(case.to_dict(), settings)
        blocks = sorted({study.split_feature_name(k)[:2] for k in record["features"]})
        assert blocks == sorted((r, s) for r in ("T", "L") for s in ("T1C", "T2", "ADC", "DWI800"))
        assert set(record["quality"]["registration"]) == {"T2", "ADC", "DWI800"}
        dwi_values = [v for k, v in record["features"].items() if k.startswith("TDWI800_")]
        assert dwi_values and all(math.isfinite(v) for v in dwi_values) and not record["errors"]
        assert record["features"]["TDWI800_original_shape_VoxelVolume"] == pytest.approx(
            record["features"]["TT1C_original_shape_VoxelVolume"], rel=0.35)
    assert study.mri_sequences() == ("T1C", "T2", "ADC")
    with pytest.raises(ValueError):
        study.unregister_sequence("ADC")
