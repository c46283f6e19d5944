"""``alnpredictor propagate``: copy ROIs from the reference sequence onto another sequence.

The mask (``--out``, formats as for ``segment``) and the transform (``--transform-out``: ``.tfm``,
``.txt``, ``.h5``, ``.hdf5`` or ``.mat``) are checked before any work, then written together: each
to a temporary file beside it, read back and compared, and renamed only when both are whole. A full
disk or read-only folder leaves neither and exits 2 without the success line.
"""

from __future__ import annotations

import argparse
from pathlib import Path

#: Transform files ITK writes (text, HDF5, MATLAB), by name ending.
TRANSFORM_SUFFIXES = (".tfm", ".txt", ".h5", ".hdf5", ".mat")


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


def check_transform_out(path: str | Path, option: str = "--transform-out") -> Path:
    """Refuse a transform path ITK cannot write (a folder, no or an unknown file type)."""
    from alnpredictor.errors import InputError

    p = Path(path)
    if p.is_dir():
        raise InputError(f"{option} '{p}' is a folder: give a file name in it, e.g. '{p / 'moving-to-reference.tfm'}'")
    if p.suffix.lower() not in TRANSFORM_SUFFIXES:
        what = "has no file type" if not p.suffix else f"has an unknown file type ({p.suffix})"
        raise InputError(f"{option} '{p}' {what}: give a name ending in {', '.join(TRANSFORM_SUFFIXES)}")
    return p


def stage_transform(group, path: str | Path, transform) -> Path:
    """Write ``transform`` for ``path`` into a temporary file of ``group`` and read it back (same
    type and parameters) before the group commits; raises :class:`~alnpredictor.errors.OutputError`."""
    import numpy as np
    import SimpleITK as sitk

    from alnpredictor.errors import OutputError
    from alnpredictor.outputs import output_error

    final = Path(path)
    tmp = group.path(final)
    try:
        sitk.WriteTransform(transform, str(tmp))
    except OSError as exc:
        raise output_error(final, exc) from exc
    except RuntimeError as exc:
        raise OutputError(f"could not write {final}: ITK could not write the transform; free space or choose "
                          "another output folder (nothing was written)") from exc
    try:
        back = sitk.ReadTransform(str(tmp))
        same = np.allclose(back.GetParameters(), transform.GetParameters()) and np.allclose(
            back.GetFixedParameters(), transform.GetFixedParameters())
    except RuntimeError:
        same = False
    if not same:
        raise OutputError(f"could not write {final}: the written transform does not read back (a full disk?); free "
                          "space or choose another output folder (nothing was written)")
    return final


def _run(args: argparse.Namespace) -> int:
    import json

    from alnpredictor.cli.segment import check_mask_out, stage_masks
    from alnpredictor.errors import InputError
    from alnpredictor.imaging.io import is_segmentation_file, read_mask, read_segmentation, read_volume
    from alnpredictor.imaging.propagate import propagate_masks
    from alnpredictor.outputs import OutputGroup

    check_mask_out(args.out)  # a folder or a name without a known type: refused before any work
    if args.transform_out:
        check_transform_out(args.transform_out)
        if Path(args.transform_out).resolve() == Path(args.out).resolve():
            raise InputError(f"--transform-out and --out are the same file '{args.out}': give two names")
    reference = read_volume(args.reference, args.reference_series_uid)
    moving = read_volume(args.moving, args.moving_series_uid)
    check_mask_out(args.out, moving)
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
    with OutputGroup() as group:  # the mask and the transform appear together or not at all
        stage_masks(group, args.out, result.masks if is_segmentation_file(args.out) else
                    dict([next(iter(result.masks.items()))]))
        if args.transform_out:
            stage_transform(group, args.transform_out, result.transform)
        group.commit()
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
