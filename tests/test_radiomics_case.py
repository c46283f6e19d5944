"""extract_case: naming, order, parallel == in-process, labels, N4 hook, provenance."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from alnpredictor.features.radiomics import extract_case, extract_roi, load_params
from alnpredictor.study import mri_sequences, roi_codes
from alnpredictor.synthetic.mri_study import make_study

PARAMS = {"setting": {"binWidth": 25}, "imageType": {"Original": {}, "Wavelet": {}},
          "featureClass": {"firstorder": None, "glszm": None, "shape": None}}


@pytest.fixture(scope="module")
def study():
    return make_study(scale=0.3, seed=11)


def test_row_naming_order_and_parallel_equals_in_process(study):
    masks = {f"{roi}_{seq}": m for (roi, seq), m in reversed(list(study.masks.items()))}  # any key style/order
    parallel = extract_case(study.images, masks, PARAMS, workers=3)
    serial = extract_case(study.images, study.masks, PARAMS, workers=1)
    assert parallel.features == serial.features
    blocks = [f"{r}{s}" for r in roi_codes() for s in mri_sequences()]
    assert list(parallel.diagnostics) == blocks == parallel.provenance["blocks"]
    seen = []
    for name in parallel.features:
        block = name.split("_", 1)[0]
        if not seen or seen[-1] != block:
            seen.append(block)
    assert seen == blocks  # contiguous blocks in canonical order
    assert "TT1C_original_firstorder_Mean" in parallel.features
    assert "LADC_wavelet-HHH_glszm_ZoneEntropy" in parallel.features
    one, _ = extract_roi(study.images["T2"], study.masks[("L", "T2")], PARAMS)
    assert {k: parallel.features[f"LT2_{k}"] for k in one} == one
    prov = parallel.provenance
    assert prov["params_sha256"] == load_params(PARAMS).sha256 and prov["pyradiomics_version"]
    assert prov["n4"] == {"applied": False} and prov["workers"] == 3
    assert parallel.errors == {} and parallel.seconds > 0


def test_one_label_map_for_both_rois(study):
    seq = "T1C"
    both = sitk.GetArrayFromImage(study.masks[("T", seq)]) + 2 * sitk.GetArrayFromImage(study.masks[("L", seq)])
    labelmap = sitk.GetImageFromArray(both.astype(np.uint8))
    labelmap.CopyInformation(study.masks[("T", seq)])
    shared = extract_case({seq: study.images[seq]}, {("T", seq): labelmap, ("L", seq): labelmap}, PARAMS,
                          labels={"T": 1, "L": 2}, workers=1)
    separate = extract_case({seq: study.images[seq]}, {("T", seq): study.masks[("T", seq)],
                                                       ("L", seq): study.masks[("L", seq)]}, PARAMS, workers=1)
    assert shared.features == separate.features


def test_n4_hook_is_applied_once_per_sequence_before_extraction(study):
    calls = []

    def fake_bias_correction(image: sitk.Image) -> sitk.Image:
        calls.append(image.GetSize())
        return sitk.Cast(image, sitk.sitkFloat32) * 1.5

    out = extract_case(study.images, study.masks, PARAMS, workers=1, n4=fake_bias_correction)
    assert len(calls) == 3
    corrected = {s: sitk.Cast(i, sitk.sitkFloat32) * 1.5 for s, i in study.images.items()}
    assert out.features == extract_case(corrected, study.masks, PARAMS, workers=1).features
    assert out.provenance["n4"]["applied"] and out.provenance["n4"]["function"] == "fake_bias_correction"


@pytest.mark.slow
def test_real_n4_from_the_imaging_module_with_cache(tmp_path):
    from alnpredictor.imaging.preprocess import n4_correct

    small = make_study(scale=0.2, seed=5)
    images = {"T2": small.images["T2"]}
    masks = {("T", "T2"): small.masks[("T", "T2")]}
    first = extract_case(images, masks, PARAMS, workers=1, n4=True, n4_cache_dir=tmp_path)
    assert first.provenance["n4"]["applied"] and any(tmp_path.iterdir())
    again = extract_case(images, masks, PARAMS, workers=1, n4=True, n4_cache_dir=tmp_path)
    assert again.features == first.features
    direct = extract_case({"T2": n4_correct(images["T2"])}, masks, PARAMS, workers=1)
    assert direct.features == first.features
    plain = extract_case(images, masks, PARAMS, workers=1)
    assert plain.features["TT2_original_firstorder_Mean"] != first.features["TT2_original_firstorder_Mean"]
