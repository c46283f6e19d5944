"""``alnpredictor segment``: one-click grow-cut of the tumor (and nodes) from seed points."""

from __future__ import annotations

import argparse

from alnpredictor.errors import InputError


def parse_point(text: str) -> list[float]:
    """``"R,A,S"`` (mm, as Slicer shows them; negatives allowed) → [R, A, S]."""
    parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p != ""]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"'{text}' is not a point R,A,S (three numbers in mm, e.g. -12.5,40,3)")
    return values


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "segment", help="grow-cut segmentation of the tumor / nodes from seed points (RAS mm)",
        description="Segment a structure from one or more seed points with Slicer's grow-cut. Without "
                    "--background-ras, background seeds are placed automatically just beyond the structure's "
                    "half-maximum edge. Prints a one-line JSON summary (with the engine and its version).",
    )
    p.add_argument("--image", required=True, metavar="IMG", help="volume (NRRD, NIfTI, MHA, DICOM folder, PNG/JPEG)")
    p.add_argument("--series-uid", metavar="UID", help="DICOM series to load when the folder holds several")
    p.add_argument("--seed-ras", required=True, action="append", type=parse_point, metavar="R,A,S",
                   help="seed inside the structure, RAS mm (repeatable)")
    p.add_argument("--node-seed-ras", action="append", type=parse_point, default=[], metavar="R,A,S",
                   help="seed inside an axillary node (repeatable; segments tumor and nodes together, "
                        "--out must then be a .seg.nrrd)")
    p.add_argument("--background-ras", action="append", type=parse_point, default=[], metavar="R,A,S",
                   help="background seed, RAS mm (repeatable; default: placed automatically)")
    p.add_argument("--structure", choices=("tumor", "nodes"), default="tumor",
                   help="what --seed-ras marks (default tumor)")
    p.add_argument("--smoothing-mm", type=float, default=0.0, help="Gaussian smoothing of the result (mm, default 0)")
    p.add_argument("--spacing-mm", type=float, help="pixel spacing of a 2-D image whose file has none (mm)")
    p.add_argument("--out", required=True, metavar="MASK.nrrd|SEG.seg.nrrd",
                   help="output mask (one structure) or Slicer segmentation (.seg.nrrd)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import json

    from alnpredictor.imaging.io import is_segmentation_file, read_volume, write_mask, write_segmentation
    from alnpredictor.imaging.segment import Prompts, get_segmenter

    seeds = {args.structure: args.seed_ras}
    if args.node_seed_ras:
        if args.structure == "nodes":
            seeds["nodes"] = args.seed_ras + args.node_seed_ras
        else:
            seeds["nodes"] = args.node_seed_ras
    if len(seeds) > 1 and not is_segmentation_file(args.out):
        raise InputError(f"--out '{args.out}' is a single mask but tumor and nodes were seeded: write a Slicer "
                         "segmentation (name ending in .seg.nrrd) or segment one structure per call")
    segmenter = get_segmenter("grow-cut", smoothing_mm=args.smoothing_mm)
    prompts = Prompts(seeds, background=args.background_ras)
    image = read_volume(args.image, args.series_uid, spacing_mm=args.spacing_mm)
    result = segmenter.segment(image, prompts)
    if is_segmentation_file(args.out):
        write_segmentation(result.masks, args.out)
    else:
        write_mask(result.masks[args.structure], args.out)
    summary = result.summary()
    line = {"out": str(args.out), "seconds": summary["seconds"], "auto_background": summary["auto_background"],
            "n_background_seeds": summary["n_background_seeds"]}
    if len(seeds) == 1:
        line.update({"structure": args.structure, **summary["structures"][args.structure]})
    else:
        line["structures"] = summary["structures"]
    if summary["warnings"]:
        line["warnings"] = summary["warnings"]
    line.update(engine=result.provenance.engine, engine_version=result.provenance.engine_version)
    print(json.dumps(line))
    return 0
