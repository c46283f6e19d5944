"""Echo pattern, margin sharpness, posterior acoustic feature and LBP histograms on images with known
answers; the synthetic cohort's traits show up in the features."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from sklearn.metrics import roc_auc_score

from alnpredictor.features.ultrasound import intensity_features, lbp_features
from alnpredictor.synthetic.us_cohort import generate_cohort


def disk(shape=(200, 200), centre=(80, 100), r=25):
    rr, cc = np.indices(shape)
    return (rr - centre[0]) ** 2 + (cc - centre[1]) ** 2 <= r * r


def test_lbp_flat_image_is_all_code_255():
    img = np.full((60, 60), 120, np.uint8)
    f = lbp_features(img, disk((60, 60), (30, 30), 12))
    assert f["LBP_255"] == pytest.approx(1.0)  # every neighbour >= centre: all 8 bits set
    assert sum(f[f"LBP_{k}"] for k in range(256)) == pytest.approx(1.0)
    assert len([k for k in f if k.startswith("LBP_")]) == 256
    for radius, points in ((1, 8), (2, 16), (3, 24)):
        bins = [f[f"LBPu_R{radius}_{k}"] for k in range(points + 2)]
        assert sum(bins) == pytest.approx(1.0)
        assert bins[points] == pytest.approx(1.0)  # uniform code P: all neighbours >= centre


def test_lbp_vertical_stripes():
    """Vertical 1-pixel stripes: a bright pixel's neighbours left/right are darker, above/below equal."""
    img = np.zeros((40, 40), np.uint8)
    img[:, ::2] = 200
    m = np.zeros((40, 40), bool)
    m[10:30, 10:30] = True
    f = lbp_features(img, m)
    # skimage neighbour order (P=8, R=1) starts to the right and runs counter-clockwise; on a bright
    # column only the vertical neighbours (bits 2 and 6) are >= centre: code 4 + 64 = 68; dark
    # columns see every neighbour >= centre: 255
    assert f["LBP_68"] == pytest.approx(0.5) and f["LBP_255"] == pytest.approx(0.5)


def _frame_with(lesion=40.0, background=120.0, blur=0.0, posterior=1.0, seed=0):
    rng = np.random.default_rng(seed)
    m = disk()
    soft = ndimage.gaussian_filter(m.astype(float), blur) if blur else m.astype(float)
    img = background * (1 - soft) + lesion * soft
    rows = np.arange(200)[:, None]
    below = (rows > 105) & (np.abs(np.arange(200)[None, :] - 100) <= 25)
    img = np.where(below, img * posterior, img)
    return np.clip(img + rng.normal(0, 2, img.shape), 0, 255), m


def test_echo_contrast_and_heterogeneity():
    img, m = _frame_with(lesion=40, background=120)
    f = intensity_features(img, m)
    assert f["echo_contrast"] == pytest.approx((120 - 40) / 160, abs=0.02)
    assert f["echo_heterogeneity"] == pytest.approx(2 / 40, abs=0.01)


def test_margin_sharpness_drops_with_blur():
    sharp = intensity_features(*_frame_with(blur=0))["margin_sharpness"]
    blurred = intensity_features(*_frame_with(blur=4))["margin_sharpness"]
    assert sharp == pytest.approx(1.0, abs=0.05)
    assert blurred < 0.6 * sharp


@pytest.mark.parametrize("factor, sign", [(0.5, -1), (1.0, 0), (1.5, 1)])
def test_posterior_shadowing_and_enhancement(factor, sign):
    f = intensity_features(*_frame_with(posterior=factor))
    expected = (factor - 1) / (factor + 1)  # (P - L) / (P + L) with P = factor·L
    assert f["posterior_contrast"] == pytest.approx(expected, abs=0.02)
    assert np.sign(round(f["posterior_contrast"], 2)) == sign


def test_posterior_undefined_at_the_bottom(caplog):
    img = np.full((60, 60), 100.0)
    m = np.zeros((60, 60), bool)
    m[40:60, 20:40] = True
    assert np.isnan(intensity_features(img, m)["posterior_contrast"])
    assert "posterior" in caplog.text


def test_synthetic_cohort_traits_are_measured():
    """Features follow the traits the generator drew (margin blur, shadowing, spicules)."""
    cases = generate_cohort(40, seed=4)
    feats = [intensity_features(c.image, c.mask) for c in cases]
    blur = np.array([c.traits["margin_sigma"] for c in cases])
    post = np.array([c.traits["posterior"] for c in cases])
    sharp = np.array([f["margin_sharpness"] for f in feats])
    pc = np.array([f["posterior_contrast"] for f in feats])
    assert np.corrcoef(blur, sharp)[0, 1] < -0.5
    assert np.corrcoef(post, pc)[0, 1] > 0.5
    y = np.array([c.label for c in cases])
    assert roc_auc_score(y, -sharp) > 0.6
