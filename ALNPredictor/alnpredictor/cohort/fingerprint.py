"""What a cohort shard was computed from, so that a resumed run never reuses a stale result.

A case's fingerprint has parts, each a SHA-256 digest, compared one by one so that the runner can
say *what* changed:

* ``settings`` — the typed settings record (:func:`alnpredictor.settings.as_record`; the cache
  folder is left out: it saves time and never changes a value);
* ``files`` — the content of every file the settings name (the PyRadiomics parameter file, deep
  weights), so an edited parameter file under the same name is noticed, and the same file named
  otherwise (a shipped name or its path) is not;
* ``versions`` — the versions of alnpredictor and of the libraries that compute features;
* ``row`` — the manifest row as validated (:meth:`~alnpredictor.cohort.manifest.Case.to_dict`:
  resolved paths, seeds, labels, clinical values, outcome);
* ``inputs`` — size and modification time of each image and mask (every file of a DICOM folder);
* ``content`` — with ``hash_inputs``: the SHA-256 of each input's bytes instead of trusting
  size and time (slower: reads every image once per run).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import fields
from importlib import metadata
from pathlib import Path
from typing import Any

from alnpredictor import hashing

#: Distributions whose versions can change feature values (absent ones are recorded as None).
PACKAGES = ("numpy", "scipy", "SimpleITK", "pyradiomics", "PyWavelets", "scikit-image", "torch", "torchvision")

#: Settings fields that never change a value (left out of the fingerprint).
NEUTRAL_SETTINGS = ("cache_dir",)

#: Human names of the parts, for the "recomputed because ..." messages.
PART_NAMES = {
    "settings": "settings",
    "files": "parameter/weights file",
    "versions": "package versions",
    "row": "manifest row",
    "inputs": "input files (size or time)",
    "content": "input file contents",
}


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, always read (a rerun's check must not trust modification times)."""
    return hashing.file_sha256(path, cached=False)


def package_versions() -> dict[str, str | None]:
    """alnpredictor and :data:`PACKAGES` → installed version (None when not installed)."""
    from alnpredictor import __version__

    versions: dict[str, str | None] = {"alnpredictor": __version__}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def settings_files(settings: Any) -> dict[str, str]:
    """Settings field → SHA-256 of the file it names: ``params`` (a shipped name is resolved) and any
    other field whose text is a path (with a folder or a suffix) of an existing file (e.g. ``weights``;
    not a word such as ``grow-cut`` that a file in the working folder happens to be called)."""
    out: dict[str, str] = {}
    for f in fields(settings):
        value = getattr(settings, f.name)
        if f.name in NEUTRAL_SETTINGS or not isinstance(value, str) or not value:
            continue
        path = Path(value)
        if f.name == "params" and not path.is_file():
            from alnpredictor.features.params import resolve_params_path

            try:
                path = resolve_params_path(value)
            except Exception:  # an unknown name fails the cases with the pathway's own message
                continue
        looks_like_path = f.name == "params" or path.suffix or len(path.parts) > 1
        if looks_like_path and path.is_file():
            out[f.name] = file_sha256(path)
    return out


def run_parts(settings: Any) -> tuple[dict[str, str], dict[str, Any]]:
    """The parts shared by every case of a run (``settings``, ``files``, ``versions``) and the
    record behind them (for ``run.json``)."""
    from alnpredictor.settings import as_record

    files, versions = settings_files(settings), package_versions()
    # A file setting counts by its content (in ``files``), not by how it was named: the shipped name
    # ``pyradiomics-baseline`` and its resolved path are the same parameter file.
    record = {k: v for k, v in as_record(settings).items() if k not in NEUTRAL_SETTINGS and k not in files}
    return ({"settings": _digest(record), "files": _digest(files), "versions": _digest(versions)},
            {"settings_files_sha256": files, "versions": versions})


def input_paths(case: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(role, path) of every input file of a case (``image:T1C``, ``mask:tumor``, ...), sorted."""
    out = [(f"image:{k}", str(v)) for k, v in (case.get("images") or {}).items()]
    out += [(f"mask:{k}", str(v)) for k, v in (case.get("masks") or {}).items()]
    return sorted(out)


def _files_of(path: Path) -> Iterable[Path]:
    if path.is_dir():  # a DICOM series folder: every file in it
        return sorted(p for p in path.rglob("*") if p.is_file())
    return [path]


def inputs_part(case: Mapping[str, Any], content: bool = False) -> str:
    """Digest of the inputs' sizes and modification times, or (``content``) of their bytes.
    A missing file is part of the digest (it then differs from any run that had it)."""
    items = []
    for role, p in input_paths(case):
        path = Path(p)
        if not path.exists():
            items.append((role, p, "missing"))
            continue
        for f in _files_of(path):
            if content:
                items.append((role, str(f), file_sha256(f)))
            else:
                st = os.stat(f)
                items.append((role, str(f), st.st_size, st.st_mtime_ns))
    return _digest(items)


def case_fingerprint(case: Mapping[str, Any], run: Mapping[str, str], hash_inputs: bool = False) -> dict[str, Any]:
    """The fingerprint of one case (``run``: :func:`run_parts`' digests)."""
    return {**run, "row": _digest(dict(case)), "inputs": inputs_part(case),
            "content": inputs_part(case, content=True) if hash_inputs else None}


def changed_parts(stored: Mapping[str, Any] | None, current: Mapping[str, Any]) -> list[str]:
    """Names of the parts that differ (empty: the stored result is current). With ``hash_inputs``
    (``current["content"]`` set) file contents are compared instead of sizes and times; a shard
    written without contents then counts as changed, since nothing can vouch for it."""
    if not stored:
        return ["fingerprint (written by an older version)"]
    keys = [k for k in ("settings", "files", "versions", "row") if stored.get(k) != current.get(k)]
    if current.get("content"):
        if stored.get("content") != current["content"]:
            keys.append("content")
    elif stored.get("inputs") != current.get("inputs"):
        keys.append("inputs")
    return [PART_NAMES[k] for k in keys]
