"""BI-RADS morphology features on shapes with known answers: circle, ellipse at a known angle, stars."""

from __future__ import annotations

import math

import numpy as np
import pytest
import SimpleITK as sitk
from skimage.draw import ellipse, polygon

from alnpredictor.errors import MaskError
from alnpredictor.features.ultrasound import ellipse_perimeter, morphology_features


def circle_mask(r=40, n=128):
    m = np.zeros((n, n), bool)
    rr, cc = ellipse(n / 2, n / 2, r, r, shape=m.shape)
    m[rr, cc] = True
    return m


def ellipse_mask(a, b, angle_deg, n=220, scale_rows=1.0):
    """Ellipse with semi-axes a (major) ≥ b whose major axis makes ``angle_deg`` with the image
    horizontal, rising to the right (skimage rotation is counter-clockwise in [row, col])."""
    rows = int(n * scale_rows)
    m = np.zeros((rows, n), bool)
    rr, cc = ellipse(rows / 2, n / 2, b * scale_rows, a, shape=m.shape, rotation=math.radians(angle_deg))
    m[rr, cc] = True
    return m


def star_mask(k, R=80, r=40, n=200):
    t = np.arange(2 * k) * math.pi / k
    rad = np.where(np.arange(2 * k) % 2 == 0, R, r)
    m = np.zeros((n, n), bool)
    rr, cc = polygon(n / 2 - rad * np.sin(t), n / 2 + rad * np.cos(t), m.shape)
    m[rr, cc] = True
    return m


def star_truth(k, R=80, r=40):
    """Analytic area, perimeter, hull perimeter/area of a k-pointed star polygon."""
    area = k * R * r * math.sin(math.pi / k)
    perim = 2 * k * math.sqrt(R * R + r * r - 2 * R * r * math.cos(math.pi / k))
    hull_perim = 2 * k * R * math.sin(math.pi / k)
    hull_area = k / 2 * R * R * math.sin(2 * math.pi / k)
    return {
        "circularity": 4 * math.pi * area / perim**2,
        "convexity": hull_perim / perim,
        "solidity": area / hull_area,
    }


def test_circle():
    f = morphology_features(circle_mask(40), spacing=(0.1, 0.1))
    assert f["area_mm2"] == pytest.approx(math.pi * 4.0**2, rel=0.01)
    assert f["perimeter_mm"] == pytest.approx(2 * math.pi * 4.0, rel=0.01)
    assert f["major_axis_mm"] == pytest.approx(8.0, rel=0.01) and f["minor_axis_mm"] == pytest.approx(8.0, rel=0.01)
    assert f["aspect_ratio"] == pytest.approx(1.0, abs=0.01)
    assert f["depth_width_ratio"] == pytest.approx(1.0, abs=0.01)
    assert f["circularity"] == pytest.approx(1.0, abs=0.015)
    assert f["convexity"] == pytest.approx(1.0, abs=0.01)
    assert f["solidity"] == pytest.approx(1.0, abs=0.015)
    assert f["ellipse_deviation"] < 0.01 and f["ellipse_overlap"] > 0.99
    assert f["elliptic_normalized_circumference"] == pytest.approx(1.0, abs=0.01)
    assert f["margin_irregularity"] < 0.01
    assert f["spicule_count"] == 0 and f["spiculation"] == 0
    assert f["nrl_sd"] < 0.01 and f["nrl_range"] < 0.03 and f["nrl_mean"] > 0.98
    assert f["nrl_zero_crossings"] == 0


@pytest.mark.parametrize("angle", [0.0, 30.0, 60.0, 90.0])
def test_ellipse_at_known_angle(angle):
    a, b = 60.0, 30.0
    f = morphology_features(ellipse_mask(a, b, angle))
    assert f["orientation_deg"] == pytest.approx(angle, abs=0.5)
    assert f["aspect_ratio"] == pytest.approx(2.0, rel=0.01)
    assert f["major_axis_mm"] == pytest.approx(2 * a, rel=0.01) and f["minor_axis_mm"] == pytest.approx(2 * b, rel=0.015)
    # bounding box of a rotated ellipse: depth = 2·sqrt(a²sin² + b²cos²), width = 2·sqrt(a²cos² + b²sin²)
    t = math.radians(angle)
    dwr = math.sqrt(a**2 * math.sin(t) ** 2 + b**2 * math.cos(t) ** 2) / math.sqrt(a**2 * math.cos(t) ** 2 + b**2 * math.sin(t) ** 2)
    assert f["depth_width_ratio"] == pytest.approx(dwr, rel=0.02)
    assert f["circularity"] == pytest.approx(4 * math.pi * math.pi * a * b / ellipse_perimeter(a, b) ** 2, rel=0.015)
    assert f["convexity"] > 0.99 and f["solidity"] > 0.98
    assert f["ellipse_deviation"] < 0.01 and f["ellipse_overlap"] > 0.99
    assert f["elliptic_normalized_circumference"] == pytest.approx(1.0, abs=0.01)
    assert f["margin_irregularity"] < 0.01 and f["spicule_count"] == 0
    # normalised radial length of an ellipse: range 1 - b/a, four mean crossings
    assert f["nrl_range"] == pytest.approx(0.5, abs=0.01) and f["nrl_zero_crossings"] == 4


def test_anisotropic_pixels_give_the_physical_angle():
    """An ellipse at 30° drawn on pixels twice as tall as wide (row spacing 0.2, column 0.1 mm)."""
    m = ellipse_mask(60.0, 30.0, 30.0, n=220, scale_rows=1.0)
    # resample the true shape onto a grid with half as many rows: each row is 2 physical units
    coarse = m.reshape(110, 2, 220).any(axis=1)
    f = morphology_features(coarse, spacing=(0.2, 0.1))
    assert f["orientation_deg"] == pytest.approx(30.0, abs=1.5)
    assert f["major_axis_mm"] == pytest.approx(12.0, rel=0.03)


@pytest.mark.parametrize("k", [5, 8])
def test_star_with_known_spikes(k):
    f = morphology_features(star_mask(k))
    truth = star_truth(k)
    assert f["spicule_count"] == k
    assert f["nrl_zero_crossings"] == 2 * k
    assert f["nrl_range"] == pytest.approx(0.5, abs=0.04)  # inner/outer radius 40/80
    assert f["convexity"] == pytest.approx(truth["convexity"], rel=0.03)
    assert f["solidity"] == pytest.approx(truth["solidity"], rel=0.02)
    assert f["circularity"] == pytest.approx(truth["circularity"], rel=0.08)  # tips rounded by the σ=1 px contour
    # concavity depth: R·cos(π/k) − r from the hull edge to the inner vertex, over the equivalent radius
    depth = 80 * math.cos(math.pi / k) - 40
    r_eq = math.sqrt(k * 80 * 40 * math.sin(math.pi / k) / math.pi)
    assert f["spiculation"] == pytest.approx(depth / r_eq, rel=0.05)
    assert f["margin_irregularity"] > 0.1 and f["ellipse_deviation"] > 0.3
    assert f["aspect_ratio"] == pytest.approx(1.0, abs=0.02)


def test_real_case_breast1_label_slice(breast1_label):
    """A real tumour outline (breast1's label on its largest slice): plausible, finite values."""
    lab = sitk.GetArrayFromImage(sitk.ReadImage(str(breast1_label))) > 0
    k = int(np.argmax(lab.sum(axis=(1, 2))))
    sp = sitk.ReadImage(str(breast1_label)).GetSpacing()
    f = morphology_features(lab[k], spacing=(sp[1], sp[0]))
    assert all(np.isfinite(v) for v in f.values())
    assert 0 < f["solidity"] <= 1 and 0 < f["convexity"] <= 1.0 and 0 < f["circularity"] <= 1.05
    assert 0 <= f["orientation_deg"] <= 90 and f["aspect_ratio"] >= 1
    assert f["area_mm2"] == pytest.approx(lab[k].sum() * sp[0] * sp[1], rel=0.01)


def test_bad_masks():
    with pytest.raises(MaskError, match="empty"):
        morphology_features(np.zeros((10, 10), bool))
    with pytest.raises(MaskError, match="pixels"):
        morphology_features(np.pad(np.ones((2, 2), bool), 3))
    with pytest.raises(MaskError, match="2-D"):
        morphology_features(np.ones((2, 5, 5), bool))


def _exact_ellipse_nrl(a, b, n=20000):
    """NRL statistics of the exact ellipse boundary sampled uniformly in arc length (reference)."""
    t = np.linspace(0, 2 * np.pi, 200001)
    x, y = a * np.cos(t), b * np.sin(t)
    s = np.concatenate([[0], np.cumsum(np.hypot(np.diff(x), np.diff(y)))])
    u = np.interp(np.linspace(0, s[-1], n, endpoint=False), s, t)
    d = np.hypot(a * np.cos(u), b * np.sin(u))
    nrl = d / d.max()
    hist = np.histogram(nrl, bins=100, range=(0, 1))[0] / n
    hist = hist[hist > 0]
    return {
        "nrl_mean": nrl.mean(),
        "nrl_sd": nrl.std(),
        "nrl_area_ratio": np.clip(nrl - nrl.mean(), 0, None).sum() / (n * nrl.mean()),
        "nrl_entropy": -(hist * np.log2(hist)).sum(),
    }


@pytest.mark.parametrize("angle", [0.0, 45.0])
def test_ellipse_normalised_radial_length_statistics(angle):
    f = morphology_features(ellipse_mask(60.0, 30.0, angle))
    ref = _exact_ellipse_nrl(60.0, 30.0)
    assert f["nrl_mean"] == pytest.approx(ref["nrl_mean"], abs=0.01)
    assert f["nrl_sd"] == pytest.approx(ref["nrl_sd"], abs=0.01)
    assert f["nrl_area_ratio"] == pytest.approx(ref["nrl_area_ratio"], abs=0.01)
    assert f["nrl_entropy"] == pytest.approx(ref["nrl_entropy"], abs=0.15)  # 512 samples vs 20000
    # a circle's radial length is constant: no spread, no area above the mean, ~one histogram bin
    c = morphology_features(circle_mask(40))
    assert c["nrl_area_ratio"] < 0.005 and c["nrl_entropy"] < 1.5
