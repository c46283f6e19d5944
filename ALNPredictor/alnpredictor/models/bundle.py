"""Model bundles: ``NAME.alnmodel/`` = ``model.json`` + fitted estimators saved with skops.

``model.json`` holds the schema version, recipe, ordered features, clinical fields, cut-off,
training summary and metrics, software versions, the SHA-256 of every other file (``files``), and
an ``integrity`` digest of its own canonical text. Loading never runs code from the bundle:
JSON is parsed as data (never pickle), skops files are loaded only after their hash matches and
only when every type they contain is trusted by skops or declared by a registered recipe
(``Recipe.skops_trusted_types`` in :mod:`alnpredictor.models.recipes`: the scikit-learn internals
our recipes create themselves). Any changed byte, an unknown schema, or an inconsistent bundle is
refused with a ``ModelBundleError``.

The digests detect damage and edits; they are not a signature (someone who rewrites the hashes
too is not stopped). Share bundles through a channel you trust.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path

from alnpredictor.errors import ModelBundleError, OutputError
from alnpredictor.jsonsafe import json_safe
from alnpredictor.models.fitted import SCHEMA, SCHEMA_VERSION, FittedModel
from alnpredictor.outputs import output_error

BUNDLE_SUFFIX = ".alnmodel"
MODEL_JSON = "model.json"
ESTIMATOR_FILE = "estimator.skops"
SIGNATURE_FILE = "signature.skops"
SUPPORTED_SCHEMA_VERSIONS = (1,)


def canonical_json(doc: dict) -> bytes:
    """The one byte form a bundle's ``model.json`` is written in."""
    return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def bundle_path(path: str | Path) -> Path:
    """``path`` with the ``.alnmodel`` suffix."""
    path = Path(path)
    return path if path.name.endswith(BUNDLE_SUFFIX) else path.with_name(path.name + BUNDLE_SUFFIX)


def check_bundle_target(path: str | Path) -> Path:
    """Where ``save_bundle`` may write (``.alnmodel`` appended if missing): a new path or an existing
    bundle folder it replaces, never a symbolic link (the tool never writes through links) or any
    other file or folder. Call it before training so a bad ``--out`` is refused at once."""
    path = bundle_path(path)
    if path.is_symlink():
        raise OutputError(f"could not write {path}: it is a symbolic link; give a plain folder path for the bundle "
                          "(the tool never writes through links)")
    if path.exists() and not (path.is_dir() and (path / MODEL_JSON).is_file()):
        raise ModelBundleError(f"{path} exists and is not a model bundle; choose another --out")
    return path


def _write_synced(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file, flush it to the disk and check its size (a full disk may cut it)."""
    with open(path, "xb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    if path.stat().st_size != len(data):
        raise OSError(errno.EIO, f"{path.name} was written incompletely")


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not every file system lets a folder be opened for fsync
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_bundle(model: FittedModel, path: str | Path) -> Path:
    """Write ``model`` as a bundle directory (``.alnmodel`` appended if missing); returns its path.

    Every file is written and fsynced in a temporary folder beside ``path``, which is renamed to
    ``path`` only at the end: a bundle appears whole or not at all, and an existing bundle at
    ``path`` is replaced only once the new one is complete (it is kept when writing fails). A full
    disk or read-only folder is an :class:`~alnpredictor.errors.OutputError` naming the bundle; a
    symbolic link or a path that is not a bundle is refused (:func:`check_bundle_target`).
    """
    import skops.io as sio

    path = check_bundle_target(path)
    # everything is serialised before the disk is touched
    contents: dict[str, bytes] = {}
    if model.estimator is not None:
        contents[ESTIMATOR_FILE] = sio.dumps(model.estimator)
    if model.signature_estimator is not None:
        contents[SIGNATURE_FILE] = sio.dumps(model.signature_estimator)
    doc = json_safe({k: v for k, v in model.spec.items() if k not in ("files", "integrity")})
    doc["files"] = {name: sha256(data) for name, data in contents.items()}
    doc["integrity"] = {"algorithm": "sha256", "digest": sha256(canonical_json(doc))}
    contents[MODEL_JSON] = canonical_json(doc)

    token = uuid.uuid4().hex[:8]
    tmp = path.parent / f".{path.name}.{token}.tmp"
    old = path.parent / f".{path.name}.{token}.old"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
        for name, data in contents.items():
            _write_synced(tmp / name, data)
        _fsync_dir(tmp)
        if path.exists():
            path.rename(old)  # kept until the new bundle is in place
        try:
            tmp.rename(path)
        except OSError:
            if old.exists():
                old.rename(path)
            raise
        _fsync_dir(path.parent)
    except OSError as exc:
        raise output_error(path, exc) from exc
    finally:
        for folder in (tmp, old):
            if folder.exists():
                shutil.rmtree(folder, ignore_errors=True)
    return path


def _refuse(path: Path, why: str) -> ModelBundleError:
    return ModelBundleError(f"model bundle {path.name} refused: {why}")


def read_bundle_spec(path: str | Path) -> dict:
    """``model.json`` of a bundle after every integrity check (no estimator loaded)."""
    path = Path(path)
    if path.name == MODEL_JSON:
        path = path.parent
    if not path.exists():
        raise ModelBundleError(f"model bundle not found: {path}")
    if not path.is_dir() or not (path / MODEL_JSON).is_file():
        raise ModelBundleError(f"{path} is not a model bundle (a folder NAME{BUNDLE_SUFFIX} with {MODEL_JSON})")
    raw = (path / MODEL_JSON).read_bytes()
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _refuse(path, f"{MODEL_JSON} is not valid JSON ({exc}); the file is damaged or was edited") from exc
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise _refuse(path, f"{MODEL_JSON} is not an ALNPredictor model (schema {doc.get('schema')!r} "
                            f"where {SCHEMA!r} was expected)" if isinstance(doc, dict) else "unexpected content")
    version = doc.get("schema_version")
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        raise _refuse(path, f"schema version {version!r} is not supported by this ALNPredictor (supports "
                            f"{list(SUPPORTED_SCHEMA_VERSIONS)}); use the ALNPredictor version that made it or "
                            "retrain the model")
    integrity = doc.get("integrity") or {}
    body = {k: v for k, v in doc.items() if k != "integrity"}
    if integrity.get("algorithm") != "sha256" or integrity.get("digest") != sha256(canonical_json(body)):
        raise _refuse(path, f"{MODEL_JSON} content does not match its integrity digest: it was changed after "
                            "saving. Use an unmodified copy of the bundle")
    if canonical_json(doc) != raw:
        raise _refuse(path, f"{MODEL_JSON} is not byte-identical to what was saved (edited after saving)")
    files = doc.get("files")
    if not isinstance(files, dict):
        raise _refuse(path, "the list of files and their SHA-256 is missing")
    for name, digest in files.items():
        if "/" in name or "\\" in name or name.startswith("."):
            raise _refuse(path, f"file name {name!r} is not allowed")
        fpath = path / name
        if not fpath.is_file():
            raise _refuse(path, f"file {name} listed in {MODEL_JSON} is missing")
        if sha256(fpath.read_bytes()) != digest:
            raise _refuse(path, f"file {name} does not match its SHA-256: it was changed or damaged")
    return doc


def _load_estimator(path: Path, spec: dict, name: str | None):
    """One skops file of the bundle: hash re-checked on the bytes loaded, trusted types only."""
    import skops.io as sio

    from alnpredictor.models.recipes import trusted_skops_types

    if name not in spec["files"]:
        raise _refuse(path, f"estimator file {name!r} is not listed with a SHA-256")
    data = (path / name).read_bytes()
    if sha256(data) != spec["files"][name]:
        raise _refuse(path, f"file {name} changed while loading")
    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:  # noqa: BLE001 - skops raises various errors on damaged files
        raise _refuse(path, f"{name} is not a readable skops file ({exc})") from exc
    disallowed = sorted(set(untrusted) - trusted_skops_types())
    if disallowed:
        raise _refuse(path, f"{name} contains types that are not trusted: {disallowed}")
    try:
        estimator = sio.loads(data, trusted=list(untrusted))
    except Exception as exc:  # noqa: BLE001
        raise _refuse(path, f"{name} could not be loaded ({exc})") from exc
    if not hasattr(estimator, "predict_proba"):
        raise _refuse(path, f"{name} does not hold a probabilistic classifier")
    return estimator


def load_bundle(path: str | Path) -> FittedModel:
    """Load a bundle after checking schema, hashes and trusted types; returns the model."""
    path = Path(path)
    if path.name == MODEL_JSON:
        path = path.parent
    doc = read_bundle_spec(path)
    spec = {k: v for k, v in doc.items() if k != "integrity"}
    pred = spec.get("predictor") or {}
    sig = spec.get("signature") or {}
    estimator = _load_estimator(path, spec, pred.get("file")) if pred.get("kind") == "sklearn" else None
    sig_estimator = _load_estimator(path, spec, sig.get("file")) if sig.get("kind") == "sklearn" else None
    try:
        return FittedModel(spec, estimator, sig_estimator)
    except ModelBundleError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise _refuse(path, f"{MODEL_JSON} is incomplete ({exc!r})") from exc


__all__ = ["BUNDLE_SUFFIX", "SCHEMA", "SCHEMA_VERSION", "check_bundle_target", "load_bundle", "read_bundle_spec",
           "save_bundle"]
