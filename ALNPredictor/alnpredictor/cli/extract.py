"""``alnpredictor extract``: radiomics feature table from a case folder or a manifest.

MRI pathway (default)::

    alnpredictor extract --manifest cases.csv --params mri-yu2021 --out features.csv [--workers N]
    alnpredictor extract --case-dir case001/ --out features.csv

Manifest columns (CSV, one row per case; paths relative to the manifest's folder):

* ``case_id`` — required, unique.
* ``image_T1C``, ``image_T2``, ``image_ADC`` — the sequences (NRRD, NIfTI, MHA, DICOM folder).
* ``mask_{ROI}_{SEQ}`` for ROI ``T`` (tumour) / ``L`` (axillary nodes) and SEQ ``T1C``/``T2``/``ADC``
  — label maps on that sequence's grid (``mask_tumor`` / ``mask_nodes`` are accepted for the T1C
  masks, as in the cohort manifest).
* optional ``label_T`` / ``label_L`` — the label value of the ROI when its mask file holds several.

Other columns are ignored (a cohort manifest with explicit masks works as it is). A case folder
holds ``T1C.nrrd`` (or ``image_T1C.nrrd``) etc. and ``mask_T_T1C.nrrd`` etc. (any of the
extensions above); its name is the case id.

Outputs: ``FEATURES.csv`` (``case_id`` + ``{ROI}{SEQ}_{pyradiomics name}``), and beside it
``<stem>.diagnostics.csv`` (case, block, name, value), ``<stem>.provenance.json`` (parameter file
hash, versions, timings, crop plans, errors) and, when a case failed, ``<stem>.failures.csv``
(the other cases are still written; exit code 1).

``--pathway us`` hands the same arguments to ``alnpredictor.pathways.us.run_extract``.
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
    src.add_argument("--manifest", metavar="CSV", help="several cases: case_id, image_{SEQ}, mask_{ROI}_{SEQ}")
    p.add_argument("--params", metavar="NAME_OR_PATH",
                   help="PyRadiomics parameter file or shipped name (default: mri-yu2021)")
    p.add_argument("--out", required=True, metavar="FEATURES.csv", help="feature table to write")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="parallel extraction processes (default: one per ROI x sequence, at most one per core)")
    p.add_argument("--pathway", choices=("mri", "us"), default="mri", help="mri (default) or us (ultrasound)")
    g = p.add_argument_group("MRI options")
    g.add_argument("--rois", default="T,L", help="ROI codes to extract (default T,L)")
    g.add_argument("--sequences", default="T1C,T2,ADC", help="sequences to extract (default T1C,T2,ADC)")
    g.add_argument("--n4", action="store_true",
                   help="apply N4 bias-field correction first (the study did; skip if the images are corrected)")
    g.add_argument("--n4-cache", metavar="DIR", help="cache folder for N4-corrected images")
    g.add_argument("--diagnostics", choices=("fast", "full"), default="fast",
                   help="full adds PyRadiomics' SHA-1 hashes of every whole volume (slower)")
    g.add_argument("--allow-border", action="store_true", help="accept ROIs touching the image border")
    g.add_argument("--on-roi-error", choices=("raise", "nan"), default="raise",
                   help="nan: a missing/empty/bad ROI gives NaN features instead of failing the case")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    if args.pathway == "us":
        from alnpredictor.pathways.us import run_extract

        if args.params and not getattr(args, "us_params", None):
            args.us_params = args.params
        return run_extract(args)
    return run_mri_extract(args)


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


def _cases_from_manifest(path: Path, rois: list[str], sequences: list[str]) -> list[dict[str, Any]]:
    import pandas as pd

    from alnpredictor.errors import InputError

    if not path.is_file():
        raise InputError(f"manifest {path} not found")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as exc:  # pandas raises many types for malformed CSV
        raise InputError(f"manifest {path} is not a readable CSV ({exc})") from exc
    if "case_id" not in df.columns:
        raise InputError(f"manifest {path} has no 'case_id' column")
    dup = sorted(set(df["case_id"][df["case_id"].duplicated()]))
    if dup:
        raise InputError(f"manifest {path}: duplicate case_id(s) {dup[:5]}")
    image_cols = [c for c in (f"image_{s}" for s in sequences) if c in df.columns]
    if not image_cols:
        raise InputError(f"manifest {path} has none of the columns {[f'image_{s}' for s in sequences]}")
    base = path.parent
    cases = []
    for _, row in df.iterrows():
        case: dict[str, Any] = {"case_id": row["case_id"].strip(), "images": {}, "masks": {}, "labels": {}}
        for seq in sequences:
            value = row.get(f"image_{seq}", "").strip()
            if value:
                case["images"][seq] = base / value
        for roi in rois:
            for seq in sequences:
                cols = [f"mask_{roi}_{seq}"] + {("T", "T1C"): ["mask_tumor"], ("L", "T1C"): ["mask_nodes"]}.get((roi, seq), [])
                value = next((row[c].strip() for c in cols if c in df.columns and row[c].strip()), "")
                if value:
                    case["masks"][(roi, seq)] = base / value
            label = row.get(f"label_{roi}", "").strip()
            if label:
                try:
                    case["labels"][roi] = int(float(label))
                except ValueError as exc:
                    raise InputError(f"manifest {path}: case {case['case_id']}: label_{roi} '{label}' is not a "
                                     "number") from exc
        cases.append(case)
    if not cases:
        raise InputError(f"manifest {path} has no rows")
    return cases


def extract_one(case: dict[str, Any], args: argparse.Namespace, info, rois: list[str], sequences: list[str]):
    """Read one case's files and extract its features (``CaseFeatures``)."""
    from alnpredictor.errors import InputError, MaskError
    from alnpredictor.features.radiomics import extract_case
    from alnpredictor.imaging.io import read_mask, read_volume

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
    cases = (_cases_from_dir(Path(args.case_dir), rois, sequences) if args.case_dir
             else _cases_from_manifest(Path(args.manifest), rois, sequences))
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
