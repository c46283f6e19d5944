"""Bad input gets a named error that says what to do — never a crash deep inside PyRadiomics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import SimpleITK as sitk

from alnpredictor.errors import FeatureError, GeometryError, InputError, MaskError
from alnpredictor.features.radiomics import extract_case, extract_roi

PARAMS = {"setting": {"binWidth": 25}, "imageType": {"Original": {}, "Wavelet": {}},
          "featureClass": {"firstorder": None, "glcm": None, "shape": None}}


def _pair(mask_arr: np.ndarray | None = None, shape=(20, 30, 30)):
    rng = np.random.default_rng(0)
    image = sitk.GetImageFromArray(rng.normal(100, 20, shape).astype(np.float32))
    image.SetSpacing((0.8, 0.8, 2.0))
    if mask_arr is None:
        mask_arr = np.zeros(shape, np.uint8)
        mask_arr[8:12, 10:18, 12:19] = 1
    mask = sitk.GetImageFromArray(mask_arr)
    mask.CopyInformation(image)
    return image, mask


def test_empty_mask_names_the_roi_and_the_labels_present():
    m = np.zeros((20, 30, 30), np.uint8)
    m[5:8, 5:8, 5:8] = 2
    image, mask = _pair(m)
    with pytest.raises(MaskError, match=r"ROI T on T1C: mask is empty for label 1 \(labels present: \[2\]\)"):
        extract_roi(image, mask, PARAMS, name="ROI T on T1C")


def test_single_voxel_roi():
    m = np.zeros((20, 30, 30), np.uint8)
    m[10, 15, 15] = 1
    with pytest.raises(MaskError, match="single voxel"):
        extract_roi(*_pair(m), PARAMS)


def test_roi_with_too_few_dimensions():
    m = np.zeros((20, 30, 30), np.uint8)
    m[10, 15, 10:20] = 1  # a line
    with pytest.raises(MaskError, match="minimumROIDimensions=2"):
        extract_roi(*_pair(m), PARAMS)


def test_roi_smaller_than_minimum_size():
    params = {**PARAMS, "setting": {"binWidth": 25, "minimumROISize": 500}}
    with pytest.raises(MaskError, match="minimumROISize=500"):
        extract_roi(*_pair(), params)


def test_roi_touching_the_border_is_refused_unless_allowed():
    m = np.zeros((20, 30, 30), np.uint8)
    m[8:12, 10:18, 0:6] = 1
    image, mask = _pair(m)
    with pytest.raises(MaskError, match="touches the image border along x.*allow_border=True"):
        extract_roi(image, mask, PARAMS)
    features, _ = extract_roi(image, mask, PARAMS, allow_border=True)
    assert len(features) > 100


def test_size_mismatch():
    image, _ = _pair()
    _, mask = _pair(shape=(20, 30, 31))
    with pytest.raises(GeometryError, match="mask size .* differs from image size"):
        extract_roi(image, mask, PARAMS)


def test_geometry_mismatch_names_what_differs_and_the_fixes():
    image, mask = _pair()
    mask.SetOrigin((0.0, 0.0, 1.0))
    with pytest.raises(GeometryError, match=r"origin .* \(image\) vs .* \(mask\).*correctMask"):
        extract_roi(image, mask, PARAMS)


def test_geometry_within_tolerance_is_accepted_and_equal_to_the_aligned_mask():
    image, mask = _pair()
    reference, _ = extract_roi(image, mask, PARAMS)
    nudged = sitk.Image(mask)
    nudged.SetOrigin((1e-7, 0.0, 0.0))
    assert extract_roi(image, nudged, PARAMS)[0] == reference


def test_mask_outside_the_image_with_correct_mask():
    image, mask = _pair()
    mask.SetOrigin((0.0, 0.0, 200.0))  # 100 slices away
    params = {**PARAMS, "setting": {"binWidth": 25, "correctMask": True}}
    with pytest.raises(MaskError, match="ROI lies \\(partly\\) outside the image"):
        extract_roi(image, mask, params)


def test_correct_mask_resamples_a_shifted_mask_on_the_whole_image():
    image, mask = _pair()
    mask.SetOrigin((0.8, 0.0, 0.0))  # one voxel shift: PyRadiomics resamples it onto the image
    params = {**PARAMS, "setting": {"binWidth": 25, "correctMask": True}}
    features, diag = extract_roi(image, mask, params)
    assert diag["alnpredictor_crop"].startswith("whole image")
    assert "diagnostics_Mask-corrected_BoundingBox" in diag
    assert math.isfinite(features["original_firstorder_Mean"])


def test_not_images_and_wrong_dimensions():
    image, mask = _pair()
    with pytest.raises(InputError, match="SimpleITK images"):
        extract_roi(sitk.GetArrayFromImage(image), mask, PARAMS)
    vector = sitk.Compose(image, image)
    with pytest.raises(InputError, match="2 components"):
        extract_roi(vector, mask, PARAMS)


def test_bad_parameter_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("setting:\n  binWidht: 25\n")
    with pytest.raises(InputError, match="bad.yaml are invalid"):
        extract_roi(*_pair(), bad)
    with pytest.raises(InputError, match="not found.*shipped names"):
        extract_roi(*_pair(), "no-such-params")


def test_box_shaped_roi_with_original_only_is_identical_to_plain():
    """A crop without any background voxel would look 'empty' to PyRadiomics: the crop keeps a margin."""
    from radiomics import featureextractor

    image, mask = _pair()
    params = {**PARAMS, "imageType": {"Original": {}}}
    ours, _ = extract_roi(image, mask, params)
    ref = featureextractor.RadiomicsFeatureExtractor(params).execute(image, mask)
    assert ours == {k: float(v) for k, v in ref.items() if not k.startswith("diagnostics_")}


def test_pyradiomics_failures_are_wrapped_with_context():
    image, mask = _pair()
    params = {**PARAMS, "imageType": {"Original": {}}, "setting": {"binWidth": 25, "resegmentRange": [1e6]}}
    with pytest.raises(FeatureError, match="ROI L on ADC: PyRadiomics failed: ValueError: Resegmentation excluded"):
        extract_roi(image, mask, params, name="ROI L on ADC")


def test_case_with_a_missing_node_roi_gives_nan_block_when_asked():
    image, mask = _pair()
    empty = sitk.Image(mask) * 0
    images = {"T1C": image, "T2": image}
    masks = {("T", "T1C"): mask, ("L", "T1C"): empty, ("T", "T2"): mask}
    with pytest.raises(MaskError, match="ROI L on T1C: mask is empty"):
        extract_case(images, masks, PARAMS, workers=1)
    out = extract_case(images, masks, PARAMS, workers=1, on_roi_error="nan")
    assert set(out.errors) == {"LT1C"} and "mask is empty" in out.errors["LT1C"]
    names = [k[len("TT1C_"):] for k in out.features if k.startswith("TT1C_")]
    assert all(math.isnan(out.features[f"LT1C_{n}"]) for n in names)
    assert all(math.isfinite(out.features[f"TT2_{n}"]) for n in names)
    assert list(out.features)[: len(names)] == [f"TT1C_{n}" for n in names]


def test_case_inputs_are_checked():
    image, mask = _pair()
    with pytest.raises(InputError, match="no image"):
        extract_case({"T1C": image}, {("T", "ADC"): mask}, PARAMS, workers=1)
    with pytest.raises(InputError, match="no masks"):
        extract_case({"T1C": image}, {}, PARAMS, workers=1)
    with pytest.raises(InputError, match="mask key"):
        extract_case({"T1C": image}, {"tumour": mask}, PARAMS, workers=1)
