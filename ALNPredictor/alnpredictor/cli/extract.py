"""``alnpredictor extract``: feature tables from a cohort manifest or one case folder.

Cohort (the full per-case pipeline, resumable, in parallel processes or on a Dask cluster)::

    alnpredictor extract --manifest cohort.csv --out RUN_DIR   [--workers N | --dask tcp://HOST:PORT]
    alnpredictor extract --manifest cohort.csv --out features.csv          (run folder features.run/)

Each manifest row (columns: :mod:`alnpredictor.cohort.manifest`, README "Cohort manifest") goes
through segmentation (when seeds are given), propagation of the T1C ROIs to T2/ADC (rigid
registration unless ``--no-register``), N4 (unless ``--no-n4``) and PyRadiomics. Finished cases
are written at once as shards; a rerun resumes (``--no-resume`` starts over, ``--retry-failed``
retries failures); failing cases go to ``failures.csv`` and never stop the others. ``--pathway us``
runs the ultrasound pathway (``alnpredictor.pathways.us``) on the same runner.

One case folder (images as they are; N4 only with ``--n4``)::

    alnpredictor extract --case-dir case001/ --out features.csv

A case folder holds ``T1C.nrrd`` (or ``image_T1C.nrrd``) etc. and masks ``mask_{ROI}_{SEQ}.nrrd``
(ROI ``T``/``L``; ``mask_tumor``/``mask_nodes`` for T1C); its name is the case id. Outputs beside
``features.csv``: ``<stem>.diagnostics.csv``, ``<stem>.provenance.json`` and, when it failed,
``<stem>.failures.csv`` (exit code 1).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

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
    c.add_argument("--no-progress", "--quiet", dest="quiet", action="store_true", help="no progress bar")
    g = p.add_argument_group("MRI options")
    g.add_argument("--rois", default="T,L", help="case folder: ROI codes to extract (default T,L)")
    g.add_argument("--sequences", default="T1C,T2,ADC", help="case folder: sequences to extract (default T1C,T2,ADC)")
    n4 = g.add_mutually_exclusive_group()
    n4.add_argument("--n4", dest="n4", action="store_true", default=None,
                    help="apply N4 bias-field correction first (default for a manifest, as the study did)")
    n4.add_argument("--no-n4", dest="n4", action="store_false", help="skip N4 (images already corrected)")
    g.add_argument("--n4-cache", metavar="DIR", help="cache folder for N4-corrected images")
    g.add_argument("--no-register", action="store_true",
                   help="manifest: propagate ROIs to T2/ADC by physical-space resampling only (no registration)")
    g.add_argument("--smoothing-mm", type=float, default=0.0, help="manifest: smoothing of grown segments (mm)")
    g.add_argument("--diagnostics", choices=("fast", "full"), default="fast",
                   help="full adds PyRadiomics' SHA-1 hashes of every whole volume (slower)")
    g.add_argument("--allow-border", action="store_true", help="accept ROIs touching the image border")
    g.add_argument("--on-roi-error", choices=("raise", "nan"), default=None,
                   help="nan: a missing/empty/bad ROI gives NaN features instead of failing the case "
                        "(default: raise)")
    u = p.add_argument_group("ultrasound options (--pathway us)")
    u.add_argument("--weights", metavar="FILE", help="ResNet50 weights (state_dict or the study's 2-class model)")
    u.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="torch device")
    u.add_argument("--input-size", type=int, default=None, help="network input size (default 224)")
    u.add_argument("--no-radiomics", action="store_true", help="skip PyRadiomics 2-D texture")
    u.add_argument("--torch-threads", type=int, default=None, help="torch CPU threads per worker")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    if args.pathway == "us":
        from alnpredictor.pathways.us import run_extract

        if args.params and not getattr(args, "us_params", None):
            args.us_params = args.params
        return run_extract(args)
    if args.manifest:
        return run_mri_manifest(args)
    return run_mri_extract(args)


def run_mri_manifest(args: argparse.Namespace) -> int:
    """``extract --manifest``: the MRI pathway per case on the resumable cohort runner."""
    from alnpredictor.cohort.runner import publish, run_cohort, run_dir_for
    from alnpredictor.features.radiomics import load_params

    info = load_params(args.params or "mri-yu2021")
    settings = {"params": str(info.path), "n4": args.n4 is not False, "register": not args.no_register,
                "on_roi_error": args.on_roi_error or "raise", "smoothing_mm": args.smoothing_mm}
    if args.n4_cache:
        settings["cache_dir"] = args.n4_cache
    run_dir, _ = run_dir_for(args.out)
    result = run_cohort(args.manifest, run_dir, settings=settings, workers=args.workers or 1, dask=args.dask,
                        resume=not args.no_resume, retry_failed=args.retry_failed, progress=not args.quiet)
    summary = publish(args.out, result, {"pathway": "mri", "manifest": str(args.manifest), **info.provenance(),
                                         **{k: v for k, v in settings.items() if k != "params"}})
    print(json.dumps({"pathway": "mri", **summary}))
    return 0 if result.failed == 0 else 1


# ---------------------------------------------------------------------------------------------
# MRI
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


def _cases_from_dir(folder: Path, rois: list[str], sequences: list[str]) -> list[dict[str, Any]]:
    from alnpredictor.errors import InputError

    if not folder.is_dir():
        raise InputError(f"case folder {folder} does not exist")
    case: dict[str, Any] = {"case_id": folder.name, "images": {}, "masks": {}, "labels": {}}
    for seq in sequences:
        found = _find_file(folder, (seq, f"image_{seq}"))
        if found:
            case["images"][seq] = found
    for roi in rois:
        for seq in sequences:
            alias = {("T", "T1C"): ("mask_tumor",), ("L", "T1C"): ("mask_nodes",)}.get((roi, seq), ())
            found = _find_file(folder, (f"mask_{roi}_{seq}", *alias))
            if found:
                case["masks"][(roi, seq)] = found
    if not case["images"]:
        raise InputError(f"case folder {folder} holds no image named {sequences[0]}.nrrd / image_{sequences[0]}.nrrd "
                         f"(or .nii.gz, .mha ...)")
    return [case]


def extract_one(case: dict[str, Any], args: argparse.Namespace, info, rois: list[str], sequences: list[str]):
    """Read one case's files and extract its features (``CaseFeatures``)."""
    from alnpredictor.errors import InputError, MaskError
    from alnpredictor.features.radiomics import extract_case
    from alnpredictor.imaging.io import read_mask, read_volume

    args.on_roi_error = args.on_roi_error or "raise"
    nan_mode = args.on_roi_error == "nan"
    wanted = [(r, s) for r in rois for s in sequences]
    missing = [f"mask_{r}_{s}" for r, s in wanted if (r, s) not in case["masks"]]
    missing += [f"image_{s}" for s in sequences if s not in case["images"] and any(q == s for _, q in wanted)]
    if missing and not nan_mode:
        raise InputError(f"missing {', '.join(missing)}: give every ROI x sequence, or use --on-roi-error nan")
    correct_mask = bool(info.settings.get("correctMask", False))
    images = {s: read_volume(p) for s, p in case["images"].items() if s in sequences}
    masks = {}
    unreadable: dict[str, str] = {}
    for (roi, seq), p in case["masks"].items():
        if seq not in images or roi not in rois:
            continue
        try:
            masks[(roi, seq)] = read_mask(p, None if correct_mask else images[seq], label=case["labels"].get(roi),
                                          allow_empty=True)
        except (MaskError, InputError) as exc:
            if not nan_mode:
                raise
            unreadable[f"{roi}{seq}"] = str(exc)
    result = extract_case(images, masks, info, workers=args.workers, n4=bool(args.n4), n4_cache_dir=args.n4_cache,
                          labels=dict.fromkeys(rois, 1), diagnostics=args.diagnostics,
                          allow_border=args.allow_border, on_roi_error=args.on_roi_error) if masks else None
    return result, missing, unreadable


def run_mri_extract(args: argparse.Namespace) -> int:
    """The MRI branch of ``alnpredictor extract`` (see the module docstring)."""
    import pandas as pd

    from alnpredictor.errors import ALNPredictorError, InputError
    from alnpredictor.features.radiomics import feature_names, load_params, prefixed

    logging.getLogger("radiomics").setLevel(logging.WARNING)
    rois = [r.strip() for r in args.rois.split(",") if r.strip()]
    sequences = [s.strip() for s in args.sequences.split(",") if s.strip()]
    info = load_params(args.params or "mri-yu2021")
    cases = _cases_from_dir(Path(args.case_dir), rois, sequences)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stem = out.with_suffix("") if out.suffix.lower() == ".csv" else out
    rows: list[dict[str, Any]] = []
    diag_rows: list[dict[str, Any]] = []
    failures: list[dict[str, str]] = []
    per_case: dict[str, Any] = {}
    t0 = time.perf_counter()
    template: list[str] | None = None
    for i, case in enumerate(cases, start=1):
        cid = case["case_id"]
        try:
            result, missing, unreadable = extract_one(case, args, info, rois, sequences)
        except ALNPredictorError as exc:
            failures.append({"case_id": cid, "error_type": type(exc).__name__, "message": str(exc)})
            log.warning("case %d/%d failed: %s", i, len(cases), type(exc).__name__)
            continue
        row: dict[str, Any] = {"case_id": cid}
        errors = dict(unreadable)
        errors.update(dict.fromkeys(missing, "no file"))
        features = result.features if result is not None else {}
        for roi in rois:
            for seq in sequences:
                block = f"{roi}{seq}"
                names = [k for k in features if k.startswith(block + "_")]
                if names:
                    row.update({k: features[k] for k in names})
                    continue
                if template is None:
                    template = feature_names(info)
                row.update({prefixed(roi, seq, n): math.nan for n in template})
        rows.append(row)
        if result is not None:
            errors.update(result.errors)
            for block, diag in result.diagnostics.items():
                diag_rows += [{"case_id": cid, "block": block, "name": k, "value": str(v)} for k, v in diag.items()]
            per_case[cid] = {"seconds": round(result.seconds, 3), "errors": errors,
                             "crop": {b: d.get("alnpredictor_crop") for b, d in result.diagnostics.items()},
                             "n4": result.provenance.get("n4")}
        log.info("case %d/%d: %d features in %.2f s", i, len(cases), len(row) - 1,
                 result.seconds if result else 0.0)
    if rows:
        pd.DataFrame(rows).to_csv(out, index=False)
        pd.DataFrame(diag_rows, columns=["case_id", "block", "name", "value"]).to_csv(
            f"{stem}.diagnostics.csv", index=False)
    failures_path = Path(f"{stem}.failures.csv")
    if failures:
        pd.DataFrame(failures).to_csv(failures_path, index=False)
    elif failures_path.exists():
        failures_path.unlink()
    provenance = {
        **info.provenance(),
        "pathway": "mri",
        "rois": rois,
        "sequences": sequences,
        "n4": bool(args.n4),
        "workers": args.workers,
        "diagnostics": args.diagnostics,
        "cases": len(cases),
        "succeeded": len(rows),
        "failed": len(failures),
        "seconds": round(time.perf_counter() - t0, 3),
        "per_case": per_case,
    }
    Path(f"{stem}.provenance.json").write_text(json.dumps(provenance, indent=2, default=str))
    print(f"{len(rows)} of {len(cases)} case(s) extracted -> {out}"
          + (f"; {len(failures)} failed, see {failures_path}" if failures else ""))
    if not rows:
        raise InputError(f"no case could be extracted; see {failures_path}")
    return 1 if failures else 0
