"""PyRadiomics parameter files: find, validate, fingerprint.

Settings live in YAML parameter files (``ALNPredictor/Resources/*.yaml`` or any user file), never
in code. A file is parsed and validated exactly as PyRadiomics parses it (pykwalify with
PyRadiomics' own schema), so the dictionary we hand to ``RadiomicsFeatureExtractor`` is the one
PyRadiomics itself would have built from the path. Every output records the file's SHA-256 and
the PyRadiomics version (:class:`ParamsInfo`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alnpredictor.config import resources_dir
from alnpredictor.errors import InputError

#: PyRadiomics' own defaults for the general settings (``RadiomicsFeatureExtractor._getDefaultSettings``).
#: Used to read settings without building an extractor; checked against PyRadiomics in the tests.
PYRADIOMICS_DEFAULT_SETTINGS: dict[str, Any] = {
    "minimumROIDimensions": 2,
    "minimumROISize": None,
    "normalize": False,
    "normalizeScale": 1,
    "removeOutliers": None,
    "resampledPixelSpacing": None,
    "interpolator": "sitkBSpline",
    "preCrop": False,
    "padDistance": 5,
    "distances": [1],
    "force2D": False,
    "force2Ddimension": 0,
    "resegmentRange": None,
    "label": 1,
    "additionalInfo": True,
}


@dataclass(frozen=True)
class ParamsInfo:
    """A validated PyRadiomics parameter set and where it came from.

    :ivar name: short name (file stem, e.g. ``mri-yu2021``; ``<dict>`` for in-memory parameters).
    :ivar path: resolved file path (``None`` for in-memory parameters).
    :ivar params: the parsed parameter dictionary (``setting`` / ``imageType`` / ``featureClass``).
    :ivar sha256: SHA-256 of the file's bytes (of canonical JSON for in-memory parameters).
    :ivar pyradiomics_version: version of the PyRadiomics that validated it.
    """

    name: str
    path: Path | None
    params: dict[str, Any] = field(repr=False)
    sha256: str
    pyradiomics_version: str

    @property
    def settings(self) -> dict[str, Any]:
        """General settings as PyRadiomics applies them: its defaults updated by ``setting``."""
        merged = dict(PYRADIOMICS_DEFAULT_SETTINGS)
        merged.update(self.params.get("setting") or {})
        merged.update(self.params.get("voxelSetting") or {})
        return merged

    @property
    def image_types(self) -> dict[str, dict[str, Any]]:
        """Enabled image types with their custom settings (PyRadiomics default: Original only)."""
        types = self.params.get("imageType") or {}
        return {k: dict(v or {}) for k, v in types.items()} if types else {"Original": {}}

    def provenance(self) -> dict[str, str | None]:
        """JSON-ready record for outputs."""
        return {
            "params_name": self.name,
            "params_path": str(self.path) if self.path else None,
            "params_sha256": self.sha256,
            "pyradiomics_version": self.pyradiomics_version,
        }

    def extractor(self, **overrides: Any):
        """A fresh ``RadiomicsFeatureExtractor`` for these parameters (optionally overriding settings)."""
        from radiomics import featureextractor

        return featureextractor.RadiomicsFeatureExtractor(copy.deepcopy(self.params), **overrides)


def available_params() -> list[str]:
    """Names of the parameter files shipped in ``Resources/``."""
    return sorted(p.stem for p in resources_dir().glob("*.yaml"))


def resolve_params_path(name_or_path: str | Path) -> Path:
    """A parameter file path from a path or the name of a shipped file (``mri-yu2021``)."""
    text = str(name_or_path)
    candidate = Path(text).expanduser()
    if candidate.is_file():
        return candidate.resolve()
    stem = text[:-5] if text.endswith(".yaml") else text[:-4] if text.endswith(".yml") else text
    shipped = resources_dir() / f"{stem}.yaml"
    if "/" not in text and shipped.is_file():
        return shipped.resolve()
    raise InputError(
        f"parameter file '{text}' not found: give a path to a PyRadiomics YAML file or one of the "
        f"shipped names {available_params()}"
    )


def _validate(source_file: str | None = None, source_data: dict | None = None) -> dict[str, Any]:
    """Parse/validate as ``RadiomicsFeatureExtractor._applyParams`` does; returns the parsed dict."""
    import pykwalify.core
    from pykwalify.errors import PyKwalifyException
    from radiomics import getParameterValidationFiles

    schema_file, schema_funcs = getParameterValidationFiles()
    # pykwalify logs every schema violation at ERROR level before raising; we report them ourselves.
    pk_log = logging.getLogger("pykwalify")
    level = pk_log.level
    pk_log.setLevel(logging.CRITICAL)
    try:
        core = pykwalify.core.Core(
            source_file=source_file, source_data=source_data, schema_files=[schema_file], extensions=[schema_funcs]
        )
        data = core.validate()
    except (PyKwalifyException, ValueError, TypeError, KeyError) as exc:
        where = source_file or "parameter dictionary"
        msg = getattr(exc, "msg", None) or str(exc)
        raise InputError(
            f"PyRadiomics parameters in {where} are invalid: {msg}. Check the names and values against "
            "https://pyradiomics.readthedocs.io/en/latest/customization.html"
        ) from exc
    finally:
        pk_log.setLevel(level)
    return dict(data or {})


def load_params(name_or_path: str | Path | Mapping[str, Any] | ParamsInfo) -> ParamsInfo:
    """Load and validate a PyRadiomics parameter file.

    :param name_or_path: a path to a YAML/JSON parameter file, the name of a shipped file
        (``mri-yu2021``, ``pyradiomics-baseline``, ``us-liu2024``), an in-memory parameter dict,
        or an existing :class:`ParamsInfo` (returned unchanged).
    :returns: :class:`ParamsInfo` with the parsed dict, the content SHA-256 and the PyRadiomics version.
    :raises InputError: the file is missing or not valid PyRadiomics parameters.
    """
    import radiomics

    if isinstance(name_or_path, ParamsInfo):
        return name_or_path
    version = str(radiomics.__version__)
    if isinstance(name_or_path, Mapping):
        data = _validate(source_data=copy.deepcopy(dict(name_or_path)))
        digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()
        return ParamsInfo("<dict>", None, data, digest, version)
    path = resolve_params_path(name_or_path)
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _FILE_CACHE:  # validating costs ~20 ms; callers pass names per image
        content = path.read_bytes()
        data = _validate(source_file=str(path))
        _FILE_CACHE[key] = ParamsInfo(path.stem, path, data, hashlib.sha256(content).hexdigest(), version)
    cached = _FILE_CACHE[key]
    return ParamsInfo(cached.name, cached.path, copy.deepcopy(cached.params), cached.sha256, cached.pyradiomics_version)


_FILE_CACHE: dict[tuple[str, int, int], ParamsInfo] = {}
