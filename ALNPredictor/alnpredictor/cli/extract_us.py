"""``alnpredictor extract --pathway us``: ultrasound features of a manifest of frames + masks or seeds.

    alnpredictor extract --pathway us --manifest us.csv --out us-features.csv [--weights resnet50.pt]
        [--params us-liu2024] [--no-radiomics] [--device auto|cpu|cuda] [--input-size 224]
        [--torch-threads N] [--spacing-mm MM] [--workers N | --dask tcp://HOST:PORT] [--no-resume]
        [--retry-failed]

Each row goes through :func:`alnpredictor.pathways.us.process_case` on the resumable cohort runner
(one shard per case, failures recorded, never lost). The manifest may use the short column names
``image``, ``mask``, ``seed_ras``, ``background_ras`` (renamed to the cohort names), and
``spacing_mm`` per frame (PNG/JPEG frames carry no spacing: without it or ``--spacing-mm`` the
frame is refused, since areas must be mm²). Beside a
``FEATURES.csv`` output: ``<stem>.provenance.json`` (the settings and what the features were computed
with: deep weights or "untrained backbone", SHA-256s, versions) and, when cases failed,
``<stem>.failures.csv`` (exit code 1). The parser is ``extract``'s (:mod:`alnpredictor.cli.extract`);
this module holds the ultrasound branch.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from alnpredictor.errors import InputError
from alnpredictor.settings import USSettings

log = logging.getLogger(__name__)

#: Manifest aliases accepted by ``extract --pathway us`` (short names → cohort-manifest names).
ALIASES = {"image": "image_US", "mask": "mask_tumor", "seed_ras": "seeds_tumor", "background_ras": "seeds_background"}
#: Where the run folder keeps the feature provenance (read by ``train_us_model(provenance=...)``).
PROVENANCE_FILE = "us-provenance.json"


def normalise_manifest(path: str | Path, out_dir: str | Path, label: str | None = None) -> Path:
    """The manifest in cohort form (:mod:`alnpredictor.cohort.manifest`): short column names
    (``image``, ``mask``, ``seed_ras``, ``background_ras``) renamed, a ``label`` column named
    otherwise (e.g. ``ALN_status``) renamed to ``label``, ``pathway`` set to ``us``. Written to
    ``out_dir/manifest-us.csv`` when anything changed; else the original path is returned."""
    from alnpredictor.cohort.manifest import read_table
    from alnpredictor.outputs import write_csv

    path = Path(path)
    df = read_table(path)
    aliases = dict(ALIASES)
    if label and label != "label":
        if label not in df.columns:
            raise InputError(f"manifest {path} has no label column '{label}'; columns: {list(df.columns)}")
        aliases[label] = "label"
    renamed = {a: b for a, b in aliases.items() if a in df.columns and b not in df.columns}
    changed = bool(renamed) or "pathway" not in df.columns or (df["pathway"].str.lower() != "us").any()
    if not changed:
        return path
    df = df.rename(columns=renamed)
    if "pathway" in df.columns and (df["pathway"].str.strip().str.lower().isin(["mri"])).any():
        raise InputError(f"manifest {path} holds MRI cases; run them without --pathway us")
    df["pathway"] = "us"
    base = path.parent.resolve()
    for col in ("image_US", "mask_tumor"):
        if col in df.columns:  # keep paths valid from the new manifest's folder
            df[col] = [str((base / v).resolve()) if v and not Path(v).is_absolute() else v for v in df[col]]
    out = Path(out_dir) / "manifest-us.csv"
    write_csv(out, df)
    return out


def cohort_settings(settings: USSettings | None = None, workers: int = 1) -> USSettings:
    """Settings fixed for a cohort run (they are recorded in ``run.json`` and compared on resume):
    the weights file and the parameter file as absolute paths (workers may start elsewhere), and the
    torch threads per worker (default: the available CPUs divided among the workers; fixed and
    recorded because CPU results differ in the last bits between thread counts)."""
    from dataclasses import replace

    from alnpredictor.features import deep
    from alnpredictor.pathways.us import radiomics_params

    settings = settings or USSettings()
    if settings.weights is not None:
        deep.resolve_weights(settings.weights)  # a missing file, or imagenet offline without a cached copy
    named = deep.is_named_weights(settings.weights)
    return replace(
        settings,
        weights=(settings.weights.strip().lower() if named else str(Path(settings.weights).resolve()))
        if settings.weights else None,
        params=str(radiomics_params(settings)),
        torch_threads=settings.torch_threads or max(1, deep.default_num_threads() // max(1, workers)),
    )


def settings_from_args(args: argparse.Namespace) -> USSettings:
    """:class:`USSettings` from ``extract``'s options (``--params`` or ``us_params``, ``--weights``,
    ``--device``, ``--input-size``, ``--no-radiomics``, ``--torch-threads``, ``--workers``)."""
    from alnpredictor.features import deep
    from alnpredictor.settings import US_PARAMS

    settings = USSettings(
        params=getattr(args, "us_params", None) or getattr(args, "params", None) or US_PARAMS,
        radiomics=not getattr(args, "no_radiomics", False),
        weights=getattr(args, "weights", None) or None,
        device=getattr(args, "device", None) or "auto",
        input_size=getattr(args, "input_size", None) or deep.INPUT_SIZE,
        torch_threads=getattr(args, "torch_threads", None),
        spacing_mm=getattr(args, "spacing_mm", None),
        allow_border=bool(getattr(args, "allow_border", False)),
    )
    return cohort_settings(settings, int(getattr(args, "workers", None) or 1))


def run_provenance(settings: USSettings, manifest: str | Path | None = None) -> dict[str, Any]:
    """What the features are computed with (deep backbone, weights and parameter-file SHA-256s;
    :func:`~alnpredictor.pathways.us.feature_provenance`) and ``settings`` (``as_record``)."""
    from alnpredictor.pathways.us import feature_provenance
    from alnpredictor.settings import as_record

    return {"pathway": "us", **({"manifest": str(manifest)} if manifest is not None else {}),
            **feature_provenance(settings), "settings": as_record(settings)}


def extract_cohort(
    manifest: str | Path,
    out_dir: str | Path,
    settings: USSettings | None = None,
    *,
    workers: int = 1,
    dask: Any = None,
    resume: bool = True,
    retry_failed: bool = False,
    hash_inputs: bool = False,
    progress: bool = True,
):
    """Features of every case of an ultrasound manifest into the run folder ``out_dir`` (see
    :func:`alnpredictor.cohort.runner.run_cohort`; ``out_dir/us-provenance.json`` records
    :func:`run_provenance`); returns its :class:`~alnpredictor.cohort.runner.CohortResult`."""
    import tempfile

    from alnpredictor.cohort.manifest import load_manifest
    from alnpredictor.cohort.runner import run_cohort
    from alnpredictor.jsonsafe import json_safe
    from alnpredictor.outputs import write_json
    from alnpredictor.pathways import us

    out = Path(out_dir)
    settings = cohort_settings(settings, workers)
    provenance = run_provenance(settings, manifest)
    if settings.weights is None:
        log.warning("deep features will come from an %s (no --weights): they are reproducible but not the "
                    "study's fine-tuned features", provenance["deep_backbone"])
    # Validate the whole manifest before anything is written to the run folder.
    with tempfile.TemporaryDirectory() as tmp:
        load_manifest(normalise_manifest(manifest, tmp))
    result = run_cohort(normalise_manifest(manifest, out), out, us.process_case, settings, workers=workers, dask=dask,
                        resume=resume, retry_failed=retry_failed, hash_inputs=hash_inputs, progress=progress)
    write_json(out / PROVENANCE_FILE, json_safe(provenance))
    return result


def run(args: argparse.Namespace) -> int:
    """The ``--pathway us`` branch of ``alnpredictor extract`` (``args``: its parsed options).

    ``--out`` is a ``FEATURES.csv`` path (the run folder — shards, failures, ``run.json`` — is
    ``<stem>.run/`` beside it) or a folder. Prints a one-line JSON summary; exit code 0 when every
    case succeeded, 1 otherwise."""
    from alnpredictor.cohort.runner import publish, run_dir_for

    if not getattr(args, "manifest", None):
        raise InputError("the ultrasound pathway reads a manifest (--manifest CSV): case_id, image, mask or seed_ras")
    workers = int(getattr(args, "workers", None) or 1)
    settings = settings_from_args(args)
    run_dir, _ = run_dir_for(args.out)
    result = extract_cohort(args.manifest, run_dir, settings, workers=workers, dask=getattr(args, "dask", None),
                            resume=not getattr(args, "no_resume", False),
                            retry_failed=bool(getattr(args, "retry_failed", False)),
                            hash_inputs=bool(getattr(args, "hash_inputs", False)),
                            progress=not getattr(args, "quiet", False))
    provenance = json.loads((run_dir / PROVENANCE_FILE).read_text())
    summary = {"pathway": "us", **publish(args.out, result, provenance), "deep_backbone": provenance["deep_backbone"]}
    print(json.dumps(summary))
    return 0 if result.failed == 0 else 1
