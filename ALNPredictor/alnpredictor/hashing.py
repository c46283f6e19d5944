"""SHA-256 of files: what provenance records (weights, parameter files) and what a cohort rerun
compares (``--hash-inputs``)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_CACHE: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | Path, cached: bool = True) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks. With ``cached`` the digest is remembered per
    path, size and modification time within the process (weights are hashed once per run); without,
    the file is always read (a check that must not trust times)."""
    if not cached:
        return _digest(path)
    st = os.stat(path)
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    if key not in _CACHE:
        _CACHE[key] = _digest(path)
    return _CACHE[key]


def _digest(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
