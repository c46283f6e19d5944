"""ResNet50 deep features: the study's crop, 2048 values, determinism, batch invariance, weights files."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import SimpleITK as sitk
import torch
import torchvision

from alnpredictor.errors import InputError, MaskError
from alnpredictor.features import deep
from alnpredictor.synthetic.us_cohort import generate_cohort


@pytest.fixture(scope="module")
def frames():
    """Eight synthetic ultrasound frames with their lesion masks (few: ResNet50 on CPU is slow)."""
    cases = generate_cohort(8, seed=11)
    return [c.image for c in cases], [c.mask for c in cases]


@pytest.fixture(scope="module")
def untrained_features(frames):
    return deep.DeepFeatureExtractor(batch_size=8).extract(*frames)


def test_crop_is_the_roi_bounding_box_scaled_to_unit_range():
    img = np.arange(20 * 30, dtype=np.uint8).reshape(20, 30) % 251
    mask = np.zeros((20, 30), bool)
    mask[4, 10] = mask[12, 7] = mask[9, 21] = True  # top, bottom/left, right extreme points
    crop = deep.crop_to_roi(img, mask)
    assert crop.shape == (12 - 4 + 1, 21 - 7 + 1)
    np.testing.assert_array_equal(crop, img[4:13, 7:22].astype(np.float32) / 255.0)
    # non-8-bit images are scaled by the whole image's range, not the crop's
    img16 = img.astype(np.int32) * 100 - 500
    crop16 = deep.crop_to_roi(img16, mask)
    lo, hi = img16.min(), img16.max()
    np.testing.assert_allclose(crop16, (img16[4:13, 7:22] - lo) / (hi - lo), rtol=1e-6)


def test_network_input_is_imagenet_normalised_three_channel():
    x = deep.to_network_input([np.full((50, 70), 0.5, np.float32), np.zeros((9, 5), np.float32)])
    assert tuple(x.shape) == (2, 3, 224, 224)
    expected = (0.5 - np.array(deep.IMAGENET_MEAN)) / np.array(deep.IMAGENET_STD)
    np.testing.assert_allclose(x[0].mean(dim=(1, 2)).numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(x[1, :, 0, 0].numpy(), -np.array(deep.IMAGENET_MEAN) / deep.IMAGENET_STD, rtol=1e-5)


def test_shape_names_and_untrained_provenance(frames, untrained_features, caplog):
    assert untrained_features.shape == (8, 2048)
    assert untrained_features.dtype == np.float32 and np.isfinite(untrained_features).all()
    assert deep.feature_names()[:2] == ["DL_0", "DL_1"] and len(deep.feature_names()) == 2048
    with caplog.at_level(logging.WARNING):
        ext = deep.DeepFeatureExtractor()
    assert "untrained backbone" in caplog.text
    assert ext.untrained and ext.provenance["weights"] == deep.UNTRAINED
    # features differ between lesions (not a constant vector)
    assert np.abs(untrained_features[0] - untrained_features[1]).max() > 1e-3


def test_identical_across_runs_and_batch_sizes(frames, untrained_features):
    again = deep.DeepFeatureExtractor(batch_size=8).extract(*frames)
    np.testing.assert_array_equal(again, untrained_features)  # two runs on CPU: bit-identical
    one_by_one = deep.DeepFeatureExtractor(batch_size=1).extract(*frames)
    diff = np.abs(one_by_one - untrained_features).max()
    assert diff <= 1e-5, f"batch 1 vs 8 differ by {diff}"


def test_global_torch_state_is_restored(frames):
    threads, det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    state = torch.get_rng_state()
    deep.DeepFeatureExtractor(num_threads=1).extract(frames[0][:1], frames[1][:1])
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == det
    assert torch.equal(torch.get_rng_state(), state)


def test_real_case_breast1_largest_slice(breast1_image, breast1_label):
    """A real image: the breast1 tumor's largest slice as a 2-D frame (16-bit, scaled by its range)."""
    img = sitk.GetArrayFromImage(sitk.ReadImage(str(breast1_image)))
    lab = sitk.GetArrayFromImage(sitk.ReadImage(str(breast1_label))) > 0
    k = int(np.argmax(lab.sum(axis=(1, 2))))
    feats = deep.DeepFeatureExtractor().extract([img[k]], [lab[k]])
    assert feats.shape == (1, 2048) and np.isfinite(feats).all() and feats.std() > 0


def _save(obj, path):
    torch.save(obj, path)
    return path


@pytest.fixture(scope="module")
def other_resnet_state():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(123)
        return torchvision.models.resnet50(weights=None).state_dict()


def test_weights_plain_state_dict_and_study_form(tmp_path, frames, untrained_features, other_resnet_state):
    imgs, masks = frames[0][:2], frames[1][:2]
    plain = _save(other_resnet_state, tmp_path / "imagenet-like.pth")  # fc 1000 classes
    a = deep.DeepFeatureExtractor(weights=plain)
    fa = a.extract(imgs, masks)
    assert not a.untrained and a.provenance["weights_sha256"] == deep.file_sha256(plain)
    assert np.abs(fa - untrained_features[:2]).max() > 1e-3
    study = dict(other_resnet_state)
    study["fc.weight"], study["fc.bias"] = torch.zeros(2, 2048), torch.zeros(2)
    wrapped = _save({"state_dict": {f"module.{k}": v for k, v in study.items()}}, tmp_path / "study.pt")
    np.testing.assert_array_equal(deep.DeepFeatureExtractor(weights=wrapped).extract(imgs, masks), fa)


def test_bad_weights_files_are_refused_with_the_file_named(tmp_path):
    with pytest.raises(InputError, match="not found"):
        deep.DeepFeatureExtractor(weights=tmp_path / "missing.pt")
    whole_model = _save(torch.nn.Linear(2, 2), tmp_path / "model-object.pt")
    with pytest.raises(InputError, match="model-object.pt"):
        deep.DeepFeatureExtractor(weights=whole_model)
    r18 = _save(torchvision.models.resnet18(weights=None).state_dict(), tmp_path / "r18.pt")
    with pytest.raises(InputError, match="not a torchvision ResNet50"):
        deep.DeepFeatureExtractor(weights=r18)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(InputError, match="junk.pt"):
        deep.DeepFeatureExtractor(weights=junk)


def test_bad_masks():
    img = np.zeros((10, 10), np.uint8)
    with pytest.raises(MaskError, match="empty"):
        deep.crop_to_roi(img, np.zeros((10, 10), bool))
    with pytest.raises(MaskError, match="shape"):
        deep.crop_to_roi(img, np.ones((9, 10), bool))
    with pytest.raises(InputError, match="2-D"):
        deep.crop_to_roi(np.zeros((2, 10, 10)), np.ones((2, 10, 10), bool))
