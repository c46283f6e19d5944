"""``alnpredictor propagate``: copy ROIs from the reference sequence onto another sequence."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "propagate", help="register a sequence to the reference and resample the ROIs onto its grid",
        description="Rigid (Euler, Mattes mutual information) registration of --moving to --reference around "
                    "the ROIs, then the masks are resampled onto --moving's own grid. --no-register resamples "
                    "in physical space only. Prints a one-line JSON summary with the transform and metric.",
    )
    p.add_argument("--reference", required=True, metavar="REF", help="image the masks were drawn on (e.g. T1C)")
    p.add_argument("--moving", required=True, metavar="MOV", help="image that needs the masks (e.g. T2, ADC)")
    p.add_argument("--mask", required=True, metavar="MASK|SEG.seg.nrrd",
                   help="mask on the reference grid, or a Slicer segmentation (all its segments)")
    p.add_argument("--label", type=int, help="label value of the structure in a multi-label mask")
    p.add_argument("--out", required=True, metavar="OUT", help="output mask / .seg.nrrd on the moving grid")
    p.add_argument("--no-register", action="store_true", help="physical-space resampling only")
    p.add_argument("--max-translation-mm", type=float, default=10.0,
                   help="reject a registration moving more than this at the ROIs (default 10)")
    p.add_argument("--max-rotation-deg", type=float, default=10.0,
                   help="reject a registration rotating more than this (default 10)")
    p.add_argument("--on-reject", choices=("fallback", "raise"), default="fallback",
                   help="rejected registration: resample without it and warn (default) or fail (exit 2)")
    p.add_argument("--transform-out", metavar="T.tfm", help="also write the transform (ITK .tfm)")
    p.add_argument("--reference-series-uid", metavar="UID", help="DICOM series of the reference")
    p.add_argument("--moving-series-uid", metavar="UID", help="DICOM series of the moving image")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    import SimpleITK as sitk

    from alnpredictor.errors import InputError
    from alnpredictor.imaging.io import (
        is_segmentation_file,
        read_mask,
        read_segmentation,
        read_volume,
        write_mask,
        write_segmentation,
    )
    from alnpredictor.imaging.propagate import propagate_masks

    reference = read_volume(args.reference, args.reference_series_uid)
    moving = read_volume(args.moving, args.moving_series_uid)
    if is_segmentation_file(args.mask):
        masks = read_segmentation(args.mask)
    else:
        name = Path(args.mask).name.split(".")[0] or "mask"
        masks = {name: read_mask(args.mask, reference, label=args.label)}
    if len(masks) > 1 and not is_segmentation_file(args.out):
        raise InputError(f"--mask holds {len(masks)} segments ({', '.join(masks)}): write them to a .seg.nrrd --out")
    result = propagate_masks(
        reference, moving, masks, register=not args.no_register, max_translation_mm=args.max_translation_mm,
        max_rotation_deg=args.max_rotation_deg, on_reject=args.on_reject,
    )
    if is_segmentation_file(args.out):
        write_segmentation(result.masks, args.out)
    else:
        write_mask(next(iter(result.masks.values())), args.out)
    if args.transform_out:
        Path(args.transform_out).parent.mkdir(parents=True, exist_ok=True)
        sitk.WriteTransform(result.transform, str(args.transform_out))
    summary = result.summary()
    line = {"out": str(args.out), **{k: summary[k] for k in ("registered", "rejected", "converged", "metric",
                                                              "iterations", "translation_mm", "rotation_deg",
                                                              "transform", "seconds")}}
    if len(masks) == 1:
        line.update(next(iter(summary["structures"].values())))
    else:
        line["structures"] = summary["structures"]
    if summary["warnings"]:
        line["warnings"] = summary["warnings"]
    print(json.dumps(line))
    return 0
