"""Segmentation robustness: perturbations, re-extraction (exact), ICC per feature, keep-list."""

from __future__ import annotations

import math

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from alnpredictor.features.radiomics import extract_roi
from alnpredictor.features.robustness import (
    RobustnessSubject,
    geometric_perturbations,
    robustness_icc,
)
from alnpredictor.imaging.coords import ras_lps
from alnpredictor.stats.icc import icc_from_raters

PARAMS = {"setting": {"binWidth": 25}, "imageType": {"Original": {}, "Wavelet": {}},
          "featureClass": {"firstorder": None, "shape": None}}


def _subject(i: int, rng: np.random.Generator, radius: float | None = None) -> RobustnessSubject:
    shape = (26, 44, 44)
    zz, yy, xx = np.ogrid[: shape[0], : shape[1], : shape[2]]
    r = radius if radius is not None else 4.5 + i % 4
    arr = (200 + rng.normal(0, 20, shape)).astype(np.float32)
    blob = (zz - 13) ** 2 / (0.6 * r) ** 2 + (yy - 22) ** 2 / r**2 + (xx - 21) ** 2 / r**2 < 1
    arr[blob] = 320 + 70 * i + rng.normal(0, 25, int(blob.sum()))
    image = sitk.GetImageFromArray(arr)
    image.SetSpacing((0.8, 0.8, 1.5))
    image.SetOrigin((-15.0, 8.0, -20.0))
    mask = sitk.GetImageFromArray(blob.astype(np.uint8))
    mask.CopyInformation(image)
    centre = image.TransformContinuousIndexToPhysicalPoint((21.0, 22.0, 13.0))
    return RobustnessSubject(f"case{i}", image, mask, seeds_ras=[list(ras_lps(np.asarray(centre)))])


def test_geometric_perturbations_move_and_resize_by_one_voxel():
    roi = np.zeros((9, 12, 12), bool)
    roi[3:6, 4:8, 4:9] = True
    p = geometric_perturbations(roi)
    assert set(p) == {"original", "erode1", "dilate1", "shift+z", "shift-z", "shift+y", "shift-y", "shift+x", "shift-x"}
    assert p["erode1"].sum() == 1 * 2 * 3  # 6-connected erosion of a 3x4x5 box
    assert p["dilate1"].sum() == 3 * 4 * 5 + 2 * (4 * 5 + 3 * 5 + 3 * 4)
    com = np.array(ndimage.center_of_mass(roi))
    np.testing.assert_allclose(np.array(ndimage.center_of_mass(p["shift-x"])) - com, [0, 0, -1])
    flat = geometric_perturbations(roi[4:5])  # a single slice: nothing moves or grows across slices
    assert "shift+z" not in flat and flat["dilate1"].sum() == 4 * 5 + 2 * (4 + 5)


def test_robustness_icc_end_to_end_with_grow_cut():
    rng = np.random.default_rng(0)
    subjects = [_subject(i, rng) for i in range(6)]
    subjects.append(_subject(6, rng, radius=1.2))  # a tiny ROI: erosion removes it entirely
    result = robustness_icc(subjects, PARAMS, growcut_repeats=1, jitter_mm=1.0, workers=2)
    assert list(result.ratings)[:3] == ["original", "dilate1", "erode1"] and "growcut1" in result.ratings
    assert "erode1" in result.failures["case6"] and "empty" in result.failures["case6"]["erode1"]
    # Listwise: the tiny subject has no erode1 rating, so it leaves the ICC.
    assert int(result.table["n_subjects"].max()) == 6
    assert math.isnan(result.ratings["erode1"].loc["case6", "original_firstorder_Mean"])
    # A rating equals a plain extraction of the whole image with the same perturbed mask.
    s = subjects[2]
    roi = sitk.GetArrayFromImage(s.mask).astype(bool)
    dilated = sitk.GetImageFromArray(geometric_perturbations(roi)["dilate1"].astype(np.uint8))
    dilated.CopyInformation(s.mask)
    whole, _ = extract_roi(s.image, dilated, PARAMS)
    assert result.ratings["dilate1"].loc["case2"].to_dict() == whole
    # Grow-cut from a jittered click finds these well-separated blobs again.
    grown = result.ratings["growcut1"]["original_shape_VoxelVolume"]
    original = result.ratings["original"]["original_shape_VoxelVolume"]
    np.testing.assert_allclose(grown.iloc[:6], original.iloc[:6], rtol=0.35)
    # ICC table and keep-list.
    table = icc_from_raters(result.ratings)
    np.testing.assert_allclose(table["icc3_1"], result.table["icc3_1"], equal_nan=True)
    assert result.keep == [f for f in result.table.index if result.table.loc[f, "icc3_1"] > 0.8]
    assert "original_firstorder_Median" in result.keep  # subjects differ far more than perturbations
    assert len(result.keep) < len(result.table)


def test_needs_two_subjects():
    rng = np.random.default_rng(1)
    with pytest.raises(Exception, match="at least 2 subjects"):
        robustness_icc([_subject(0, rng)], PARAMS, growcut_repeats=0, workers=1)
