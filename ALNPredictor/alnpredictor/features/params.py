"""PyRadiomics parameter files: find, validate, fingerprint.

Settings live in YAML parameter files (``ALNPredictor/Resources/*.yaml`` or any user file), never
in code. A file is parsed and validated exactly as PyRadiomics parses it (pykwalify with
PyRadiomics' own schema), so the dictionary we hand to ``RadiomicsFeatureExtractor`` is the one
PyRadiomics itself would have built from the path. Every output records the file's SHA-256 and
the PyRadiomics version (:class:`ParamsInfo`).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import logging
import re
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


#: Largest parameter file read (the shipped ones are 1-3 kB); larger is not a parameter file.
MAX_PARAMS_BYTES = 1 << 20
#: Most values a parameter file may expand to (YAML aliases can make a tiny file enormous).
MAX_PARAMS_NODES = 100_000


def _not_valid(where: str, reason: str) -> InputError:
    return InputError(
        f"not a valid parameter file: {where}: {reason}. Give a PyRadiomics parameter file (YAML or JSON with "
        "'setting', 'imageType' and 'featureClass'; see https://pyradiomics.readthedocs.io/en/latest/"
        "customization.html) or a shipped name " + str(available_params())
    )


def _parse_file(path: Path, content: bytes) -> dict[str, Any]:
    """The file's data as PyRadiomics' validator (pykwalify) would load it, but never running it.

    YAML goes through ruamel's *safe* loader — the one pykwalify itself uses, so values are the same
    ones PyRadiomics sees (PyYAML's YAML 1.1 would read ``1e-3`` as a string) — without the Python
    tags pykwalify registers; ``!!python/object`` and any other unknown tag is refused. JSON goes
    through ``json``. Raises :func:`_not_valid` errors naming the file."""
    where = f"'{path}'"
    if len(content) > MAX_PARAMS_BYTES:
        raise _not_valid(where, f"{len(content):,} bytes (parameter files are a few kB)")
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _not_valid(where, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _not_valid(where, f"malformed JSON: {exc}") from None
    else:
        from ruamel.yaml import YAML
        from ruamel.yaml.constructor import ConstructorError
        from ruamel.yaml.error import YAMLError

        loader = YAML(typ="safe", pure=True)
        loader.Constructor = _safe_constructor_class()
        try:
            data = loader.load(text)
        except ConstructorError as exc:
            tag = re.search(r"tag '([^']+)'", str(exc))
            mark = getattr(exc, "problem_mark", None)
            at = f" on line {mark.line + 1}" if mark is not None else ""
            raise _not_valid(where, f"YAML tag '{tag.group(1) if tag else '?'}'{at} is not allowed (a parameter file "
                                    "holds plain values; nothing in it is run)") from None
        except YAMLError as exc:
            first = " ".join(str(exc).split())
            raise _not_valid(where, f"malformed YAML ({first[:300]})") from None
        except (ValueError, TypeError, RecursionError) as exc:  # e.g. a timestamp or number ruamel cannot build
            raise _not_valid(where, f"malformed YAML ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}, not a mapping"
        raise _not_valid(where, f"the file is {kind} (it must map 'setting', 'imageType', 'featureClass' to values)")
    if _expanded_size(data) > MAX_PARAMS_NODES:
        raise _not_valid(where, f"it expands to more than {MAX_PARAMS_NODES:,} values (YAML aliases)")
    return data


def _expanded_size(node: Any, memo: dict[int, int] | None = None) -> int:
    """Number of values ``node`` stands for with every alias expanded (shared objects counted once each
    time they are used, computed once each: a 'billion laughs' file costs microseconds here)."""
    memo = {} if memo is None else memo
    key = id(node)
    if key in memo:
        return memo[key]
    if isinstance(node, dict):
        memo[key] = 0  # a cycle (recursive alias) counts as nothing more
        n = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.items())
    elif isinstance(node, (list, tuple)):
        memo[key] = 0
        n = 1 + sum(_expanded_size(v, memo) for v in node)
    else:
        n = 1
    memo[key] = n
    return n


@functools.cache
def _safe_constructor_class():
    from ruamel.yaml.constructor import SafeConstructor

    class _Constructor(SafeConstructor):
        """ruamel's safe constructor with its own tag table: the ``python/*`` tags pykwalify adds to
        SafeConstructor globally are not honoured here (a parameter file holds plain data)."""

        yaml_constructors = {tag: fn for tag, fn in SafeConstructor.yaml_constructors.items()
                             if tag is None or not str(tag).startswith("tag:yaml.org,2002:python/")}

    return _Constructor


def _validate(source_data: dict, path: Path | None = None) -> dict[str, Any]:
    """Validate as ``RadiomicsFeatureExtractor._applyParams`` does (pykwalify, PyRadiomics' schema);
    returns the validated dict. Schema violations (unknown keys, wrong types) are reported as
    PyRadiomics' validator words them, naming the file ``path`` (or the parameter dictionary)."""
    import pykwalify.core
    from pykwalify.errors import PyKwalifyException
    from radiomics import getParameterValidationFiles

    schema_file, schema_funcs = getParameterValidationFiles()
    # pykwalify logs every schema violation at ERROR level before raising; we report them ourselves.
    pk_log = logging.getLogger("pykwalify")
    level = pk_log.level
    pk_log.setLevel(logging.CRITICAL)
    try:
        core = pykwalify.core.Core(source_data=source_data, schema_files=[schema_file], extensions=[schema_funcs])
        data = core.validate()
    except (PyKwalifyException, ValueError, TypeError, KeyError, AttributeError) as exc:
        msg = " ".join(str(getattr(exc, "msg", None) or exc).split()).rstrip(".")
        if path is None:
            raise InputError(f"PyRadiomics parameters in the parameter dictionary are invalid: {msg}. Check the names "
                             "and values against https://pyradiomics.readthedocs.io/en/latest/customization.html") from None
        raise _not_valid(f"PyRadiomics parameters in {path} are invalid", msg) from None
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
        data = _validate(copy.deepcopy(dict(name_or_path)))
        digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()
        return ParamsInfo("<dict>", None, data, digest, version)
    path = resolve_params_path(name_or_path)
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _FILE_CACHE:  # validating costs ~20 ms; callers pass names per image
        if stat.st_size > MAX_PARAMS_BYTES:  # refused before reading it
            raise _not_valid(f"'{path}'", f"{stat.st_size:,} bytes (parameter files are a few kB)")
        try:
            with open(path, "rb") as fh:
                content = fh.read(MAX_PARAMS_BYTES + 1)
        except OSError as exc:
            raise _not_valid(f"'{path}'", f"cannot be read ({exc.strerror or exc})") from None
        data = _validate(_parse_file(path, content), path)
        _FILE_CACHE[key] = ParamsInfo(path.stem, path, data, hashlib.sha256(content).hexdigest(), version)
    cached = _FILE_CACHE[key]
    return ParamsInfo(cached.name, cached.path, copy.deepcopy(cached.params), cached.sha256, cached.pyradiomics_version)


_FILE_CACHE: dict[tuple[str, int, int], ParamsInfo] = {}
