"""``--weights imagenet``: torchvision's ResNet50 weights through torch's download-and-verify cache.

Nothing can be downloaded on the test machines: the offline error is checked with the download
replaced by a failing one, the cache path with a pre-seeded file (a seeded random ResNet50 saved
under a name that carries its own SHA-256 prefix, as torchvision's files do).
"""

from __future__ import annotations

import hashlib
import urllib.error

import pytest

from alnpredictor.errors import InputError
from alnpredictor.features import deep


@pytest.fixture()
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    return tmp_path / "torch-home"


def _offline(*args, **kwargs):
    raise urllib.error.URLError("no network")


def test_imagenet_offline_says_how_to_pre_seed_the_cache(torch_home, monkeypatch):
    import torch

    monkeypatch.setattr(torch.hub, "download_url_to_file", _offline)
    assert deep.is_named_weights("imagenet") and deep.is_named_weights("IMAGENET1K_V1")
    assert not deep.is_named_weights("resnet50.pt") and not deep.is_named_weights(None)
    expected = torch_home / "hub" / "checkpoints" / "resnet50-11ad3fa6.pth"
    assert deep.imagenet_cache_path() == expected
    with pytest.raises(InputError) as info:
        deep.resolve_weights("imagenet")
    message = str(info.value)
    for part in ("torchvision ResNet50_Weights.IMAGENET1K_V2", "not in torch's cache", str(expected), "TORCH_HOME",
                 "weights='IMAGENET1K_V2'", "--weights /path/to/resnet50-11ad3fa6.pth", "URLError"):
        assert part in message
    with pytest.raises(InputError, match="could not be downloaded"):
        deep.DeepFeatureExtractor(weights="imagenet", device="cpu")


def _seed_cache(torch_home, monkeypatch, corrupt: bool = False):
    """A seeded random ResNet50 state_dict in the cache under torchvision's naming (name-hash-prefix)."""
    import torch
    import torchvision

    torch.manual_seed(7)
    state = torchvision.models.resnet50(weights=None).state_dict()
    tmp = torch_home / "state.pth"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, tmp)
    sha = hashlib.sha256(tmp.read_bytes()).hexdigest()
    prefix = ("00000000" if sha[:8] != "00000000" else "11111111") if corrupt else sha[:8]
    name = f"resnet50-{prefix}.pth"
    monkeypatch.setattr(deep, "_imagenet_url", lambda member: f"https://example.invalid/models/{name}")
    target = torch_home / "hub" / "checkpoints" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(target)
    monkeypatch.setattr(torch.hub, "download_url_to_file", _offline)  # a cached copy is never downloaded again
    return target, sha


def test_imagenet_from_a_pre_seeded_cache_is_verified_and_recorded(torch_home, monkeypatch):
    target, sha = _seed_cache(torch_home, monkeypatch)
    path, description = deep.resolve_weights("imagenet")
    assert path == target and description == "torchvision ResNet50_Weights.IMAGENET1K_V2"
    extractor = deep.DeepFeatureExtractor(weights="imagenet", device="cpu", input_size=32, num_threads=1)
    prov = extractor.provenance
    assert prov["weights"] == "torchvision ResNet50_Weights.IMAGENET1K_V2"
    assert prov["weights_sha256"] == sha and prov["untrained"] is False and not extractor.untrained
    # the same weights given as a local file: the same network, named by the file
    by_file = deep.DeepFeatureExtractor(weights=target, device="cpu", input_size=32, num_threads=1)
    assert by_file.provenance["weights"] == f"weights file {target.name}"
    assert by_file.provenance["weights_sha256"] == sha
    import numpy as np

    crop = np.linspace(0, 1, 48 * 40, dtype=np.float32).reshape(48, 40)
    assert np.array_equal(extractor.extract_crops([crop]), by_file.extract_crops([crop]))


def test_a_corrupt_cached_copy_is_refused(torch_home, monkeypatch):
    _seed_cache(torch_home, monkeypatch, corrupt=True)
    with pytest.raises(InputError, match="is corrupt .*delete it"):
        deep.resolve_weights("imagenet")


def test_us_settings_accept_imagenet(torch_home, monkeypatch):
    """The ultrasound pathway's provenance names the weights and their hash without building the net."""
    from alnpredictor.cli.extract_us import cohort_settings
    from alnpredictor.pathways.us import feature_provenance
    from alnpredictor.settings import USSettings

    _, sha = _seed_cache(torch_home, monkeypatch)
    settings = cohort_settings(USSettings(weights="ImageNet", radiomics=False))
    assert settings.weights == "imagenet"
    prov = feature_provenance(settings)
    assert prov["deep_backbone"] == "torchvision ResNet50_Weights.IMAGENET1K_V2" and prov["weights_sha256"] == sha
    with pytest.raises(InputError, match="weights file not found"):
        cohort_settings(USSettings(weights=str(torch_home / "nope.pt")))
