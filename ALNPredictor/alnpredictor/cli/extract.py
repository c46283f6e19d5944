"""``alnpredictor extract``: feature tables from a cohort manifest or one case folder.

Cohort (the full per-case pipeline, resumable, in parallel processes or on a Dask cluster)::

    alnpredictor extract --manifest cohort.csv --out RUN_DIR   [--workers N | --dask tcp://HOST:PORT]
    alnpredictor extract --manifest cohort.csv --out features.csv          (run folder features.run/)

Each manifest row (columns: :mod:`alnpredictor.cohort.manifest`, README "Cohort manifest") goes
through segmentation (when seeds are given), propagation of the T1C ROIs to T2/ADC (rigid
registration unless ``--no-register``), N4 (unless ``--no-n4``) and PyRadiomics. Finished cases
are written at once as shards; a rerun resumes (``--no-resume`` starts over, ``--retry-failed``
retries failures); failing cases go to ``failures.csv`` and never stop the others. A rerun reuses a
case only if its settings, parameter file, package versions, manifest row and input files (size and
time; content with ``--hash-inputs``) are unchanged, otherwise it recomputes the case and says so;
a case whose worker died (out of memory) is retried by the next rerun. Ctrl-C exits 130 and keeps
what was finished. ``--pathway us`` runs the ultrasound pathway (``alnpredictor.pathways.us``) on
the same runner.

One case folder (a one-row manifest through the same per-case function; N4 only with ``--n4``)::

    alnpredictor extract --case-dir case001/ --out features.csv

A case folder holds ``T1C.nrrd`` (or ``image_T1C.nrrd``) etc. and masks: ``mask_tumor``/``mask_nodes``
(or ``mask_T_T1C``/``mask_L_T1C``) on the reference, optional ``mask_{ROI}_{SEQ}`` on the other
sequences (otherwise the reference ROIs are propagated, registered unless ``--no-register``); its
name is the case id. Outputs beside ``features.csv``: ``<stem>.diagnostics.csv``,
``<stem>.provenance.json`` and, when it failed, ``<stem>.failures.csv`` (exit code 1).

Both forms build one :class:`~alnpredictor.settings.MRISettings` and call
:func:`alnpredictor.pathways.mri.process_case`, so they give bit-identical features for the same inputs.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

from alnpredictor import study
from alnpredictor.jsonsafe import json_safe

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".nrrd", ".nii.gz", ".nii", ".mha", ".mhd")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "extract",
        help="radiomics features of cases (MRI: T/L ROIs x T1C/T2/ADC; --pathway us: ultrasound)",
        description="Extract PyRadiomics features, bit-identical to the plain extractor, from one case folder "
                    "or a manifest. See the module documentation (README) for the manifest columns.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--case-dir", metavar="DIR", help="one case: images T1C/T2/ADC and masks mask_{ROI}_{SEQ}")
    src.add_argument("--manifest", metavar="CSV", help="a cohort manifest (see README, 'Cohort manifest')")
    p.add_argument("--params", metavar="NAME_OR_PATH",
                   help="PyRadiomics parameter file or shipped name (default: mri-yu2021; us: us-liu2024)")
    p.add_argument("--out", required=True, metavar="DIR_OR_CSV",
                   help="run folder, or FEATURES.csv (its run folder is FEATURES.run/ beside it)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="worker processes (cohort: default 1; case folder: one per ROI x sequence)")
    p.add_argument("--pathway", choices=("mri", "us"), default="mri", help="mri (default) or us (ultrasound)")
    c = p.add_argument_group("cohort runs (--manifest)")
    c.add_argument("--dask", metavar="ADDRESS", help="run on a Dask cluster (tcp://HOST:PORT) instead of local processes")
    c.add_argument("--no-resume", action="store_true", help="recompute cases finished by an earlier run")
    c.add_argument("--retry-failed", action="store_true", help="retry the cases that failed in an earlier run")
    c.add_argument("--hash-inputs", action="store_true",
                   help="on resume, compare input files by content (SHA-256) rather than size and time")
    c.add_argument("--no-progress", "--quiet", dest="quiet", action="store_true", help="no progress bar")
    g = p.add_argument_group("MRI options")
    g.add_argument("--rois", default=None,
                   help=f"case folder: ROI codes to extract (default {','.join(study.roi_codes())})")
    g.add_argument("--sequences", default=None,
                   help=f"case folder: sequences to extract, the reference first (default {','.join(study.mri_sequences())})")
    n4 = g.add_mutually_exclusive_group()
    n4.add_argument("--n4", dest="n4", action="store_true", default=None,
                    help="apply N4 bias-field correction first (default for a manifest, as the study did)")
    n4.add_argument("--no-n4", dest="n4", action="store_false", help="skip N4 (images already corrected)")
    g.add_argument("--n4-cache", metavar="DIR", help="cache folder for N4-corrected images")
    g.add_argument("--no-register", action="store_true",
                   help="propagate ROIs to T2/ADC by physical-space resampling only (no registration)")
    g.add_argument("--smoothing-mm", type=float, default=0.0, help="manifest: smoothing of grown segments (mm)")
    g.add_argument("--diagnostics", choices=("fast", "full"), default="fast",
                   help="full adds PyRadiomics' SHA-1 hashes of every whole volume (slower)")
    g.add_argument("--allow-border", action="store_true", help="accept ROIs touching the image border")
    g.add_argument("--on-roi-error", choices=("raise", "nan"), default=None,
                   help="nan: a missing/empty/bad ROI gives NaN features instead of failing the case "
                        "(default: raise)")
    u = p.add_argument_group("ultrasound options (--pathway us)")
    u.add_argument("--weights", metavar="imagenet|FILE",
                   help="ResNet50 weights: imagenet (torchvision's, downloaded once into torch's verified cache, "
                        "TORCH_HOME) or a file (state_dict or the study's 2-class model)")
    u.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="torch device")
    u.add_argument("--input-size", type=int, default=None, help="network input size (default 224)")
    u.add_argument("--no-radiomics", action="store_true", help="skip PyRadiomics 2-D texture")
    u.add_argument("--torch-threads", type=int, default=None, help="torch CPU threads per worker")
    u.add_argument("--spacing-mm", type=float, default=None, metavar="MM",
                   help="pixel spacing of frames whose file has none (PNG/JPEG); a manifest spacing_mm column wins")
    p.set_defaults(func=_run)


def check_cohort_args(args: argparse.Namespace) -> None:
    """Options checked before any work: ``--workers`` ≥ 1; ``--dask`` only with a manifest."""
    from alnpredictor.cohort.runner import check_workers

    if args.workers is not None:
        check_workers(args.workers, "--workers")
    if getattr(args, "dask", None) is not None and not args.manifest:
        from alnpredictor.errors import InputError

        raise InputError(f"--dask {args.dask}: Dask runs a cohort; give --manifest CSV (or leave out --dask)")


def _run(args: argparse.Namespace) -> int:
    check_cohort_args(args)
    if args.pathway == "us":
        from alnpredictor.cli import extract_us

        return extract_us.run(args)
    if args.manifest:
        return run_mri_manifest(args)
    return run_mri_case_dir(args)


def mri_settings(args: argparse.Namespace, *, n4_default: bool) -> Any:
    """The typed MRI settings of an ``extract`` command line."""
    from alnpredictor.features.radiomics import load_params
    from alnpredictor.settings import MRISettings

    info = load_params(args.params or MRISettings.params)
    sequences = tuple(s.strip() for s in args.sequences.split(",") if s.strip()) if args.sequences else study.mri_sequences()
    structures = study.structure_names()
    if args.rois:
        codes = [r.strip() for r in args.rois.split(",") if r.strip()]
        unknown = [r for r in codes if r not in study.roi_codes()]
        if unknown:
            from alnpredictor.errors import InputError

            raise InputError(f"--rois {args.rois}: unknown ROI code(s) {unknown}; known: {','.join(study.roi_codes())}")
        structures = tuple(study.structure_of_roi(r) for r in codes)
    return MRISettings(params=str(info.path), n4=n4_default if args.n4 is None else bool(args.n4),
                       register=not args.no_register, on_roi_error=args.on_roi_error or "raise",
                       smoothing_mm=args.smoothing_mm, cache_dir=args.n4_cache, allow_border=args.allow_border,
                       diagnostics=args.diagnostics, sequences=sequences, structures=structures,
                       extract_workers=(args.workers or 1) if not args.manifest else 1)


def run_mri_manifest(args: argparse.Namespace) -> int:
    """``extract --manifest``: the MRI pathway per case on the resumable cohort runner."""
    from alnpredictor.cohort.runner import publish, run_cohort, run_dir_for
    from alnpredictor.features.radiomics import load_params
    from alnpredictor.pathways import mri
    from alnpredictor.settings import as_record

    settings = mri_settings(args, n4_default=True)
    run_dir, _ = run_dir_for(args.out)
    result = run_cohort(args.manifest, run_dir, mri.process_case, settings, workers=args.workers or 1,
                        dask=args.dask, resume=not args.no_resume, retry_failed=args.retry_failed,
                        hash_inputs=args.hash_inputs, progress=not args.quiet)
    summary = publish(args.out, result, {"pathway": "mri", "manifest": str(args.manifest),
                                         **load_params(settings.params).provenance(),
                                         "settings": as_record(settings)})
    print(json.dumps({"pathway": "mri", **summary}))
    return 0 if result.failed == 0 else 1


# ---------------------------------------------------------------------------------------------
# One case folder: a one-row manifest
# ---------------------------------------------------------------------------------------------
def _find_file(folder: Path, stems: tuple[str, ...]) -> Path | None:
    for stem in stems:
        for suffix in IMAGE_SUFFIXES:
            candidate = folder / f"{stem}{suffix}"
            if candidate.exists():
                return candidate
        if (folder / stem).is_dir():  # a DICOM folder
            return folder / stem
    return None


def case_from_dir(folder: Path, settings: Any) -> dict[str, Any]:
    """A case folder as a manifest case (``Case.to_dict()`` form): images, masks, case id = folder name."""
    from alnpredictor.cohort.manifest import Case
    from alnpredictor.errors import InputError

    if not folder.is_dir():
        raise InputError(f"case folder {folder} does not exist")
    ref = settings.sequences[0]
    case = Case(case_id=folder.name, pathway="mri")
    for seq in settings.sequences:
        found = _find_file(folder, (seq, f"image_{seq}"))
        if found:
            case.images[seq] = str(found)
    for name in settings.structures:
        roi = study.roi_code(name)
        found = _find_file(folder, (f"mask_{roi}_{ref}", f"mask_{name}"))
        if found:
            case.masks[name] = str(found)
        for seq in settings.sequences[1:]:
            found = _find_file(folder, (f"mask_{roi}_{seq}",))
            if found:
                case.masks[f"{roi}_{seq}"] = str(found)
    if ref not in case.images:
        raise InputError(f"case folder {folder} holds no image named {ref}.nrrd / image_{ref}.nrrd "
                         f"(or .nii.gz, .mha ..., or a DICOM folder {ref}/)")
    return case.to_dict()


def run_mri_case_dir(args: argparse.Namespace) -> int:
    """``extract --case-dir``: one case folder through :func:`alnpredictor.pathways.mri.process_case`."""
    import pandas as pd

    from alnpredictor.errors import ALNPredictorError, InputError
    from alnpredictor.features.radiomics import load_params
    from alnpredictor.outputs import OutputGroup, write_csv
    from alnpredictor.pathways import mri
    from alnpredictor.settings import as_record

    logging.getLogger("radiomics").setLevel(logging.WARNING)
    settings = mri_settings(args, n4_default=False)
    case = case_from_dir(Path(args.case_dir), settings)
    cid = case["case_id"]
    out = Path(args.out)
    stem = out.with_suffix("") if out.suffix.lower() == ".csv" else out
    failures_path = Path(f"{stem}.failures.csv")
    t0 = time.perf_counter()
    try:
        record = mri.process_case(case, settings)
    except ALNPredictorError as exc:
        write_csv(failures_path, pd.DataFrame([{"case_id": cid, "error_type": type(exc).__name__, "message": str(exc)}]))
        log.warning("case %s failed: %s", cid, type(exc).__name__)
        raise InputError(f"case {cid} could not be extracted ({exc}); see {failures_path}") from exc
    diag_rows = [{"case_id": cid, "block": block, "name": k, "value": str(v)}
                 for block, diag in record["diagnostics"].items() for k, v in diag.items()]
    provenance = {
        **load_params(settings.params).provenance(),
        **record["provenance"],
        "pathway": "mri",
        "settings": as_record(settings),
        "cases": 1,
        "succeeded": 1,
        "failed": 0,
        "seconds": round(time.perf_counter() - t0, 3),
        "per_case": {cid: {"seconds": record["seconds"], "errors": record["errors"],
                           "crop": {b: d.get("alnpredictor_crop") for b, d in record["diagnostics"].items()},
                           "quality": record["quality"]}},
    }
    # The table, its diagnostics and provenance appear together or not at all (a full disk leaves nothing).
    with OutputGroup() as group:
        table = pd.DataFrame([{"case_id": cid, **record["features"]}]).to_csv(index=False).encode()
        group.write_with(out, lambda tmp: tmp.write_bytes(table))
        diag = pd.DataFrame(diag_rows, columns=["case_id", "block", "name", "value"]).to_csv(index=False).encode()
        group.write_with(f"{stem}.diagnostics.csv", lambda tmp: tmp.write_bytes(diag))
        group.write_json(f"{stem}.provenance.json", json_safe(provenance))
        group.commit()
    if failures_path.exists():
        failures_path.unlink()
    print(f"1 of 1 case(s) extracted -> {out}")
    return 0
