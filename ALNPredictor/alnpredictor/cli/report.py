"""``alnpredictor report``: one patient from images to the report a radiologist signs.

    alnpredictor report --case-dir CASE --model M.alnmodel --out DIR [--clinical age=54 ...]
    alnpredictor report --dicom STUDY_DIR --model M.alnmodel --out DIR --dicom-out DIR \
        [--series T2=1.2.3...] [--masks DIR | --seed tumor=R,A,S ...]
    alnpredictor report --frame FRAME.png --spacing-mm 0.08 --model dlrn.alnmodel --out DIR \
        --line-ras "R,A,S;R,A,S" [--clinical ...]

The same pathway and report functions as the Slicer panel and the demo
(:mod:`alnpredictor.pathways.patient`): segmentation (given masks or prompts), propagation to the
other sequences, features, the model's prediction, the PDF + JSON report and, for a DICOM study,
a DICOM SEG per sequence, the report as Encapsulated PDF and an SR in the same study.
"""

from __future__ import annotations

import argparse
import json


def _pair(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"'{text}' is not NAME=VALUE")
    name, value = text.split("=", 1)
    if not name.strip():
        raise argparse.ArgumentTypeError(f"'{text}' has no name before '='")
    return name.strip(), value.strip()


def register(sub: argparse._SubParsersAction) -> None:
    from alnpredictor.cli.segment import parse_pair, parse_point

    p = sub.add_parser(
        "report", help="one patient: pathway → prediction → PDF + JSON report (and DICOM SEG/PDF/SR)",
        description="Runs one patient through the pathway the model was trained on and writes the report a "
                    "radiologist signs; for a DICOM study also the DICOM results for PACS.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--case-dir", metavar="CASE", help="MRI case folder (as extract --case-dir: images, masks)")
    src.add_argument("--dicom", metavar="STUDY_DIR", help="an MRI study as DICOM series (one folder, any layout)")
    src.add_argument("--frame", metavar="IMAGE", help="an ultrasound frame (PNG/JPEG need --spacing-mm)")
    p.add_argument("--model", required=True, metavar="M.alnmodel", help="the model bundle")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the PDF + JSON report")
    p.add_argument("--clinical", action="append", type=_pair, default=[], metavar="NAME=VALUE",
                   help="a clinical value the model uses (repeat)")
    p.add_argument("--include-identifiers", action="store_true",
                   help="print patient/study identifiers in the report (off by default)")
    m = p.add_argument_group("MRI")
    m.add_argument("--series", action="append", type=_pair, default=[], metavar="SEQ=UID",
                   help="--dicom: the series of a sequence, when its description does not name it")
    m.add_argument("--masks", metavar="DIR", help="--dicom: folder with mask_tumor / mask_nodes on the reference")
    m.add_argument("--seed", action="append", type=_pair, default=[], metavar="STRUCTURE=R,A,S",
                   help="a seed click (RAS mm) for a structure without a mask (repeat)")
    m.add_argument("--dicom-out", metavar="DIR", help="--dicom: write SEG per sequence, Encapsulated PDF and SR here")
    m.add_argument("--no-n4", action="store_true", help="skip N4 bias-field correction")
    m.add_argument("--no-register", action="store_true", help="propagate by physical-space resampling only")
    u = p.add_argument_group("ultrasound")
    u.add_argument("--spacing-mm", type=float, default=None, help="pixel spacing of a frame whose file has none")
    u.add_argument("--mask", metavar="FILE", help="the lesion mask on the frame")
    u.add_argument("--seed-ras", action="append", type=parse_point, default=[], metavar="R,A,S",
                   help="one click in the lesion")
    u.add_argument("--line-ras", type=parse_pair, default=None, metavar="R,A,S;R,A,S", help="the caliper line")
    u.add_argument("--box-ras", type=parse_pair, default=None, metavar="R,A,S;R,A,S", help="a box's corners")
    u.add_argument("--weights", metavar="imagenet|FILE", help="ResNet50 weights the model was trained with")
    p.set_defaults(func=_run)


def _seeds(args) -> dict:
    from alnpredictor.cli.segment import parse_point
    from alnpredictor.errors import InputError
    from alnpredictor.study import structure_names

    seeds: dict[str, list] = {}
    for name, text in args.seed:
        if name not in structure_names():
            raise InputError(f"--seed {name}=...: unknown structure; use one of {', '.join(structure_names())}")
        try:
            seeds.setdefault(name, []).append(parse_point(text))
        except argparse.ArgumentTypeError as exc:
            raise InputError(f"--seed {name}={text}: {exc}") from exc
    return seeds


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from alnpredictor.errors import InputError
    from alnpredictor.pathways import patient

    clinical = dict(args.clinical)
    if args.dicom_out and not args.dicom:
        raise InputError("--dicom-out needs a study read from DICOM (--dicom STUDY_DIR)")
    if args.frame:
        from alnpredictor.imaging.io import read_mask
        from alnpredictor.pathways import us
        from alnpredictor.settings import USSettings

        frame = us.read_frame(args.frame, spacing_mm=args.spacing_mm)
        mask = read_mask(args.mask, reference=frame) if args.mask else None
        if mask is None and not (args.seed_ras or args.line_ras or args.box_ras):
            raise InputError("no lesion: give --mask FILE, --line-ras, --box-ras or --seed-ras")
        result = patient.report_ultrasound(
            frame, args.model, args.out, settings=USSettings(weights=args.weights), mask=mask,
            seeds_ras=args.seed_ras or None, line_ras=args.line_ras, box_ras=args.box_ras, clinical=clinical,
            include_identifiers=args.include_identifiers)
    else:
        from alnpredictor.cli.extract import case_from_dir
        from alnpredictor.imaging.io import read_mask, read_volume
        from alnpredictor.pathways import mri
        from alnpredictor.settings import MRISettings

        settings = MRISettings(n4=not args.no_n4, register=not args.no_register)
        identifiers, sources = None, None
        seeds = _seeds(args)
        if args.case_dir:
            kwargs = mri.read_case(case_from_dir(Path(args.case_dir), settings), settings)
            images, masks = kwargs["images"], kwargs["masks"]
        else:
            from alnpredictor.report import dicom

            uids = dicom.assign_sequences(args.dicom, settings.sequences, dict(args.series))
            sources = {seq: dicom.read_series(args.dicom, uid) for seq, uid in uids.items()}
            images = {seq: read_volume(dicom.series_folder(sources[seq]), uid) for seq, uid in uids.items()}
            identifiers = dicom.source_identifiers(sources[settings.sequences[0]][0])
            masks = {}
            if args.masks:
                for name in settings.structures:
                    found = sorted(Path(args.masks).glob(f"mask_{name}.*"))
                    if found:
                        masks[name] = read_mask(found[0], reference=images[settings.sequences[0]])
        missing = [s for s in settings.structures if s not in masks and s not in seeds]
        if missing:
            raise InputError(f"no mask and no seed for {', '.join(missing)}: give --seed {missing[0]}=R,A,S "
                             f"or a mask_{missing[0]} file (in the case folder, or in --masks DIR)")
        result = patient.report_mri(
            images, args.model, args.out, settings=settings, masks=masks, seeds_ras=seeds or None,
            clinical=clinical, dicom_sources=sources if args.dicom_out else None, dicom_out=args.dicom_out,
            identifiers=identifiers, include_identifiers=args.include_identifiers)
    pred = result.prediction
    print(json.dumps({"probability": pred.get("probability"), "class": pred.get("class"),
                      "cutoff": pred.get("cutoff"), "files": result.paths}, indent=2, default=str))
    return 0
