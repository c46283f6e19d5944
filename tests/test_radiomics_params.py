"""Parameter files: shipped files, validation, fingerprints, feature composition."""

from __future__ import annotations

import hashlib

import pytest
from radiomics import featureextractor

from alnpredictor.config import resources_dir
from alnpredictor.errors import InputError
from alnpredictor.features.params import PYRADIOMICS_DEFAULT_SETTINGS, available_params, load_params
from alnpredictor.features.radiomics import feature_names


def test_shipped_parameter_files_load_with_hash_and_version():
    assert {"mri-yu2021", "pyradiomics-baseline", "us-liu2024"} <= set(available_params())
    for name in ("mri-yu2021", "mri-yu2021.yaml", str(resources_dir() / "mri-yu2021.yaml")):
        info = load_params(name)
        assert info.name == "mri-yu2021"
        assert info.sha256 == hashlib.sha256((resources_dir() / "mri-yu2021.yaml").read_bytes()).hexdigest()
        assert info.pyradiomics_version.startswith("v3.0.1") or info.pyradiomics_version.startswith("3.0.1")
        assert info.provenance()["params_sha256"] == info.sha256


def test_parsed_like_pyradiomics_parses_the_path():
    for name in ("mri-yu2021", "pyradiomics-baseline", "us-liu2024"):
        info = load_params(name)
        from_path = featureextractor.RadiomicsFeatureExtractor(str(info.path))
        from_dict = info.extractor()
        assert from_path.settings == from_dict.settings == info.settings
        assert from_path.enabledImagetypes == from_dict.enabledImagetypes
        assert from_path.enabledFeatures == from_dict.enabledFeatures


def test_default_settings_mirror_pyradiomics():
    assert PYRADIOMICS_DEFAULT_SETTINGS == featureextractor.RadiomicsFeatureExtractor._getDefaultSettings()


def test_mri_study_feature_composition():
    names = feature_names("mri-yu2021")
    assert len(names) == 851
    original = [n for n in names if n.startswith("original_")]
    wavelet = [n for n in names if n.startswith("wavelet-")]
    assert len(original) == 107 and len(wavelet) == 744
    assert sum(n.startswith("original_shape_") for n in names) == 14
    assert {n.split("_")[0] for n in wavelet} == {f"wavelet-{a}{b}{c}" for a in "LH" for b in "LH" for c in "LH"}


def test_us_texture_file_is_two_dimensional():
    info = load_params("us-liu2024")
    assert info.settings["force2D"] is True
    names = feature_names(info)
    assert any(n.startswith("original_shape2D_") for n in names)
    assert not any(n.startswith("original_shape_") for n in names)
    assert any(n.startswith("lbp-2D_") for n in names)


def test_dict_parameters_get_a_content_hash_and_are_validated():
    a = load_params({"setting": {"binWidth": 10}})
    b = load_params({"setting": {"binWidth": 10}})
    assert a.sha256 == b.sha256 and a.name == "<dict>" and a.path is None
    with pytest.raises(InputError, match="invalid"):
        load_params({"setting": {"binWidth": -1}})
    with pytest.raises(InputError, match="invalid"):
        load_params({"imageType": {"NoSuchFilter": {}}})
