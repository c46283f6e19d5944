"""``alnpredictor segment``: grow-cut of the tumor (and nodes) from prompts — one image or a batch.

One image::

    alnpredictor segment --image US.png --spacing-mm 0.1 --line-ras "-10,-20,0;-25,-22,0" --out tumor.nrrd
    alnpredictor segment --image T1C.nrrd --seed-ras -12.5,40,3 --out tumor.nrrd

Prompts (RAS mm, as Slicer shows them): seed clicks (``--seed-ras``), a caliper line across the
lesion's long axis (``--line-ras "R,A,S;R,A,S"``), a box (``--box-ras``, two opposite corners),
correction clicks (``--add-ras`` / ``--remove-ras``) and background points. A refused click says
what to do next (draw the caliper line).

A batch (``--manifest prompts.csv --out DIR``) reads one row per image:

=====================  ======================================================================
``image``              the image (relative to the manifest's folder unless absolute)
``out``                where to write its mask, relative to ``DIR`` (``.seg.nrrd`` when several
                       structures are prompted)
``spacing_mm``         optional pixel spacing of a 2-D frame whose file has none (PNG/JPEG)
``seeds_tumor``        seed clicks ``R,A,S;R,A,S``… (also ``seeds_nodes``)
``line_tumor``         a caliper line: two end points ``R,A,S;R,A,S`` (also ``line_nodes``)
``box_tumor``          a box: two opposite corners ``R,A,S;R,A,S`` (also ``box_nodes``)
``seeds_background``   optional background points (with seed clicks only)
``series_uid``         optional DICOM series of a folder holding several
=====================  ======================================================================

Each mask is written on its image's grid; ``DIR/summary.csv`` has one line per row: ``status``
(``ok``, ``warning``, ``refused`` — a click that did not determine the lesion — or ``failed``),
the structure, voxels, area (mm², 2-D frames) or volume (ml), warnings, the error, seconds and
the engine. A bad row fails alone (exit code 1 when any row failed or was refused).

Output formats: a mask is written where it can be read back whole, with its geometry. Every mask
may go to ``.nrrd``, ``.nii``/``.nii.gz``, ``.mha`` or ``.seg.nrrd`` (one file each); a mask of a
2-D frame (one slice, e.g. ultrasound) may also go to ``.png`` or ``.tif``, which hold a
single slice and are read back on the frame's pixel grid. A 3-D mask in a picture format (it would
keep one slice), JPEG (lossy), two-file formats (``.mhd``/``.nhdr``: the data file could not be
written atomically with its header), a name without or with an unknown file type, and an existing
folder are refused before any work is done. Each file is written to a temporary file beside it,
read back and compared, then renamed: a full disk or read-only folder leaves nothing and exits 2
without the success line.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

from alnpredictor.errors import InputError, OutputError

#: Structures a batch row may prompt (``seeds_<s>``, ``line_<s>``, ``box_<s>``).
STRUCTURES = ("tumor", "nodes")
#: Columns of the batch manifest.
BATCH_COLUMNS = ("image", "out", "spacing_mm", "series_uid", "seeds_background",
                 *(f"{kind}_{s}" for s in STRUCTURES for kind in ("seeds", "line", "box")))
#: One-file formats SimpleITK writes losslessly with the full 3-D geometry (any mask).
VOLUME_SUFFIXES = (".seg.nrrd", ".nrrd", ".nii.gz", ".nii", ".mha")
#: Lossless picture formats: they hold one slice, so only a 2-D frame's mask (read back on its frame's grid).
FRAME_SUFFIXES = (".png", ".tif", ".tiff")
#: Formats refused with a reason (what to write instead).
_REFUSED_SUFFIXES = {
    ".jpg": "JPEG is lossy and would blur the mask's edge",
    ".jpeg": "JPEG is lossy and would blur the mask's edge",
    ".mhd": "it writes a separate data file that cannot be written atomically with its header; use .mha",
    ".nhdr": "it writes a separate data file that cannot be written atomically with its header; use .nrrd",
    ".bmp": "ITK writes BMP only for images without a slice axis",
    ".hdr": "Analyze files lose the orientation",
    ".img": "Analyze files lose the orientation",
}
SUMMARY_COLUMNS = ("row", "image", "out", "status", "structure", "voxels", "area_mm2", "volume_ml", "spacing_mm",
                   "spacing_source", "warnings", "error", "seconds", "engine", "engine_version")


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


def parse_pair(text: str) -> list[list[float]]:
    """``"R,A,S;R,A,S"`` → two points (a caliper line's ends, a box's opposite corners)."""
    parts = [p for p in str(text).split(";") if p.strip()]
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"'{text}' is not two points R,A,S;R,A,S (mm)")
    return [parse_point(p) for p in parts]


def _mask_suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in VOLUME_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def check_mask_out(path: str | Path, image=None, *, option: str = "--out") -> Path:
    """Refuse an output path that cannot hold the mask whole (see the module docstring).

    :param image: the image the mask is on; with it, a picture format (``.png``...) is accepted
        only for a single-slice (2-D frame) image. Without it only the name is checked.
    :raises InputError: naming ``option`` and the path, and saying which formats to use.
    """
    p = Path(path)
    flat = image is not None and image.GetSize()[2] == 1
    allowed = ", ".join(VOLUME_SUFFIXES[1:]) + " or .seg.nrrd" + (" (or .png, .tif for this 2-D frame)" if flat else "")
    if p.is_dir():
        raise InputError(f"{option} '{p}' is a folder: give a file name in it, e.g. '{p / 'tumor.nrrd'}'")
    suffix = _mask_suffix(p)
    if suffix in VOLUME_SUFFIXES:
        return p
    if suffix in FRAME_SUFFIXES:
        if image is None or flat:
            return p
        raise InputError(f"{option} '{p}': {suffix} is a 2-D picture format and cannot hold a 3-D mask "
                         f"({image.GetSize()[2]} slices; only one slice would be kept): write {allowed}")
    if suffix in _REFUSED_SUFFIXES:
        raise InputError(f"{option} '{p}': {suffix} cannot hold the mask ({_REFUSED_SUFFIXES[suffix]}): "
                         f"write {allowed}")
    what = "has no file type" if not suffix else f"has an unknown file type ({suffix})"
    raise InputError(f"{option} '{p}' {what}: give a name ending in {allowed}")


def stage_masks(group, path: str | Path, masks: Mapping[str, object]) -> Path:
    """Write ``masks`` for ``path`` into a temporary file of ``group`` (an
    :class:`~alnpredictor.outputs.OutputGroup`), read it back and compare it voxel by voxel.

    A ``.seg.nrrd`` holds every mask as named segments; any other format the single mask. The file
    appears at ``path`` only when the group commits; a write that fails or reads back different
    (a full disk may leave a short file while ITK reports success) raises
    :class:`~alnpredictor.errors.OutputError` naming ``path``."""
    import numpy as np
    import SimpleITK as sitk

    from alnpredictor.imaging.io import (
        is_segmentation_file,
        read_segmentation,
        write_mask,
        write_segmentation,
    )
    from alnpredictor.outputs import output_error

    final = Path(path)
    tmp = group.path(final)
    segmentation = is_segmentation_file(final)
    try:
        if segmentation:
            write_segmentation(masks, tmp)
        else:
            write_mask(next(iter(masks.values())), tmp)
    except OSError as exc:
        raise output_error(final, exc) from exc
    except RuntimeError as exc:  # ITK's writer failed
        reason = _last_line(exc).replace(str(tmp), str(final))
        raise OutputError(f"could not write {final}: {reason}; free space or choose another output folder "
                          "(nothing was written)") from exc
    try:  # ITK may report success on a short write (full disk): read it back before it is kept
        back = read_segmentation(tmp) if segmentation else {next(iter(masks)): sitk.ReadImage(str(tmp))}
    except (RuntimeError, InputError) as exc:
        raise OutputError(f"could not write {final}: the written file does not read back (a full disk?); free "
                          "space or choose another output folder (nothing was written)") from exc
    for name, mask in masks.items():
        want = sitk.GetArrayViewFromImage(mask) != 0
        got = sitk.GetArrayViewFromImage(back[name]) if name in back else None
        if got is None or got.size != want.size or not np.array_equal(got.reshape(want.shape) != 0, want):
            raise OutputError(f"could not write {final}: segment '{name}' did not read back as written; free space "
                              "or choose another output folder (nothing was written)")
    return final


def _last_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[-1].strip() if text else type(exc).__name__


def write_masks(path: str | Path, masks: Mapping[str, object]) -> Path:
    """Write ``masks`` to ``path`` whole or not at all (:func:`stage_masks` in its own group)."""
    from alnpredictor.outputs import OutputGroup

    with OutputGroup() as group:
        stage_masks(group, path, masks)
        group.commit()
    return Path(path)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "segment", help="grow-cut segmentation of the tumor / nodes from clicks, a caliper line or a box (RAS mm)",
        description="Segment a structure with Slicer's grow-cut from seed clicks, a caliper line across the "
                    "lesion's long axis, or a box around it (RAS mm), plus correction clicks. Clicks alone place "
                    "background automatically. Prints a one-line JSON summary (with the engine and its version). "
                    "--manifest segments a batch (columns: image, out, spacing_mm, seeds_tumor, line_tumor, "
                    "box_tumor, seeds_background) and writes DIR/summary.csv; a bad row fails alone.",
    )
    p.add_argument("--image", metavar="IMG", help="volume (NRRD, NIfTI, MHA, DICOM folder/file, PNG/JPEG)")
    p.add_argument("--manifest", metavar="CSV", help="batch mode: one row per image (see above); --out is a folder")
    p.add_argument("--series-uid", metavar="UID", help="DICOM series to load when the folder holds several")
    p.add_argument("--seed-ras", action="append", type=parse_point, default=[], metavar="R,A,S",
                   help="seed click inside the structure, RAS mm (repeatable)")
    p.add_argument("--line-ras", action="append", type=parse_pair, default=[], metavar="R,A,S;R,A,S",
                   help="caliper line across the structure's long axis: its two end points (repeatable)")
    p.add_argument("--box-ras", action="append", type=parse_pair, default=[], metavar="R,A,S;R,A,S",
                   help="box around the structure: two opposite corners (repeatable)")
    p.add_argument("--add-ras", action="append", type=parse_point, default=[], metavar="R,A,S",
                   help="positive correction click: this belongs to the structure (repeatable)")
    p.add_argument("--remove-ras", action="append", type=parse_point, default=[], metavar="R,A,S",
                   help="negative correction click: this does not belong to it (repeatable)")
    p.add_argument("--node-seed-ras", action="append", type=parse_point, default=[], metavar="R,A,S",
                   help="seed inside an axillary node (repeatable; segments tumor and nodes together, "
                        "--out must then be a .seg.nrrd)")
    p.add_argument("--background-ras", action="append", type=parse_point, default=[], metavar="R,A,S",
                   help="background seed, RAS mm (repeatable; default: placed automatically)")
    p.add_argument("--structure", choices=STRUCTURES, default="tumor",
                   help="what the prompts mark (default tumor)")
    p.add_argument("--smoothing-mm", type=float, default=0.0, help="Gaussian smoothing of the result (mm, default 0)")
    p.add_argument("--spacing-mm", type=float, help="pixel spacing of a 2-D image whose file has none (mm); in "
                                                    "batch mode the default for rows without spacing_mm")
    p.add_argument("--out", required=True, metavar="MASK.nrrd|SEG.seg.nrrd|DIR",
                   help="output mask (one structure) or Slicer segmentation (.seg.nrrd); batch: output folder")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    if args.manifest:
        if args.image:
            raise InputError("give --image (one image) or --manifest (a batch), not both")
        return run_batch(args.manifest, args.out, spacing_mm=args.spacing_mm, smoothing_mm=args.smoothing_mm)
    if not args.image:
        raise InputError("give --image (with its prompts) or --manifest (a batch)")
    return _run_one(args)


def _run_one(args: argparse.Namespace) -> int:
    import json

    from alnpredictor.imaging.io import is_segmentation_file, read_volume
    from alnpredictor.imaging.segment import Prompts, get_segmenter

    check_mask_out(args.out)  # a folder or a name without a known type: refused before reading anything
    name = args.structure
    seeds = {name: list(args.seed_ras)} if args.seed_ras else {}
    if args.node_seed_ras:
        seeds["nodes"] = seeds.get("nodes", []) + list(args.node_seed_ras) if name == "nodes" else args.node_seed_ras
    lines = {name: args.line_ras} if args.line_ras else {}
    boxes = {name: args.box_ras} if args.box_ras else {}
    corrections = [(p, name, True) for p in args.add_ras] + [(p, name, False) for p in args.remove_ras]
    if not (seeds or lines or boxes):
        raise InputError("give a prompt: --seed-ras (a click inside the structure), --line-ras (a caliper line "
                         "across it) or --box-ras (a box around it)")
    structures = list(dict.fromkeys([*seeds, *lines, *boxes]))
    if len(structures) > 1 and not is_segmentation_file(args.out):
        raise InputError(f"--out '{args.out}' is a single mask but tumor and nodes were seeded: write a Slicer "
                         "segmentation (name ending in .seg.nrrd) or segment one structure per call")
    segmenter = get_segmenter("grow-cut", smoothing_mm=args.smoothing_mm)
    prompts = Prompts(seeds, background=args.background_ras, lines=lines, boxes=boxes, corrections=corrections)
    image = read_volume(args.image, args.series_uid, spacing_mm=args.spacing_mm)
    check_mask_out(args.out, image)
    spacing_note = _spacing_note(image)
    result = segmenter.segment(image, prompts)
    write_masks(args.out, result.masks if is_segmentation_file(args.out) else
                {structures[0]: result.masks[structures[0]]})
    summary = result.summary()
    line = {"out": str(args.out), "seconds": summary["seconds"], "auto_background": summary["auto_background"],
            "n_background_seeds": summary["n_background_seeds"]}
    if len(structures) == 1:
        line.update({"structure": structures[0], **summary["structures"][structures[0]]})
    else:
        line["structures"] = summary["structures"]
    warnings = summary["warnings"] + ([spacing_note] if spacing_note else [])
    if warnings:
        line["warnings"] = warnings
    line.update(engine=result.provenance.engine, engine_version=result.provenance.engine_version)
    print(json.dumps(line))
    return 0


def _spacing_note(image) -> str | None:
    from alnpredictor.imaging.io import NO_SPACING, spacing_source

    if spacing_source(image) == NO_SPACING:
        return ("the image has no pixel spacing: 1 mm per pixel was assumed, so mm values are pixels and a "
                "click's scale search may miss large lesions; give --spacing-mm (spacing_mm in a manifest)")
    return None


def _cell(row, col: str) -> str:
    import pandas as pd

    value = row.get(col, "")
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return str(value).strip()


def run_batch(manifest: str | Path, out_dir: str | Path, *, spacing_mm: float | None = None,
              smoothing_mm: float = 0.0) -> int:
    """Segment every row of a prompts manifest (module docstring); returns the exit code."""
    import json
    import time

    import numpy as np
    import pandas as pd
    import SimpleITK as sitk

    from alnpredictor.cohort.manifest import parse_points
    from alnpredictor.errors import ALNPredictorError
    from alnpredictor.imaging.io import is_segmentation_file, read_volume, spacing_source
    from alnpredictor.imaging.segment import Prompts, get_segmenter
    from alnpredictor.imaging.segmentation import ClickRefusedError
    from alnpredictor.outputs import write_csv

    manifest = Path(manifest)
    if not manifest.is_file():
        raise InputError(f"manifest not found: {manifest}")
    df = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    missing = [c for c in ("image", "out") if c not in df.columns]
    if missing:
        raise InputError(f"manifest {manifest} has no {', '.join(missing)} column; columns: {list(df.columns)}")
    unknown = [c for c in df.columns if c not in BATCH_COLUMNS]
    if unknown:
        raise InputError(f"manifest {manifest}: unknown column(s) {', '.join(unknown)}; the columns are "
                         f"{', '.join(BATCH_COLUMNS)}")
    out_dir = Path(out_dir)
    _make_out_dir(out_dir)
    base = manifest.parent.resolve()
    segmenter = get_segmenter("grow-cut", smoothing_mm=smoothing_mm)
    rows, failed = [], 0
    for i, row in df.iterrows():
        t0 = time.perf_counter()
        rec = {"row": i + 2, "image": _cell(row, "image"), "out": _cell(row, "out"), "status": "failed"}
        try:
            image_path = Path(rec["image"])
            if not rec["image"]:
                raise InputError("no image")
            image_path = image_path if image_path.is_absolute() else base / image_path
            target = Path(rec["out"])
            if not rec["out"] or target.is_absolute() or ".." in target.parts:
                raise InputError(f"out '{rec['out']}' must be a relative path inside the output folder")
            seeds, lines, boxes = {}, {}, {}
            for s in STRUCTURES:
                for col, into, parse in ((f"seeds_{s}", seeds, None), (f"line_{s}", lines, 2), (f"box_{s}", boxes, 2)):
                    text = _cell(row, col)
                    if not text:
                        continue
                    try:
                        points = parse_points(text)
                    except ValueError as exc:
                        raise InputError(f"{col}: {exc}") from None
                    if parse and len(points) != 2:
                        raise InputError(f"{col} must be two points R,A,S;R,A,S (got {len(points)})")
                    into[s] = [points] if parse else points
            if not (seeds or lines or boxes):
                raise InputError("no prompt: give seeds_tumor, line_tumor or box_tumor")
            background = parse_points(_cell(row, "seeds_background")) if _cell(row, "seeds_background") else None
            structures = list(dict.fromkeys([*seeds, *lines, *boxes]))
            if len(structures) > 1 and not is_segmentation_file(target):
                raise InputError(f"out '{rec['out']}' is one mask but {' and '.join(structures)} are prompted: "
                                 "name it .seg.nrrd")
            check_mask_out(out_dir / target, option="out")
            row_spacing = _cell(row, "spacing_mm")
            try:
                spacing = float(row_spacing) if row_spacing else spacing_mm
            except ValueError:
                raise InputError(f"spacing_mm '{row_spacing}' is not a number of mm") from None
            image = read_volume(image_path, _cell(row, "series_uid") or None, spacing_mm=spacing)
            check_mask_out(out_dir / target, image, option="out")
            rec["spacing_mm"] = ",".join(f"{v:g}" for v in image.GetSpacing()[:2])
            rec["spacing_source"] = spacing_source(image) or ""
            result = segmenter.segment(image, Prompts(seeds, background=background, lines=lines, boxes=boxes))
            path = out_dir / target
            write_masks(path, result.masks if is_segmentation_file(path) else
                        {structures[0]: result.masks[structures[0]]})
            warnings = list(result.warnings) + ([_spacing_note(image)] if _spacing_note(image) else [])
            flat = image.GetSize()[2] == 1
            voxels, area, volume = [], [], []
            for s in structures:
                arr = sitk.GetArrayViewFromImage(result.masks[s])
                n = int(np.count_nonzero(arr))
                voxels.append(str(n))
                sx, sy, sz = image.GetSpacing()
                area.append(f"{n * sx * sy:.3f}" if flat else "")
                volume.append("" if flat else f"{n * sx * sy * sz / 1000.0:.4f}")
            rec.update(status="warning" if warnings else "ok", structure=";".join(structures),
                       voxels=";".join(voxels), area_mm2=";".join(area), volume_ml=";".join(volume),
                       warnings=" | ".join(warnings), engine=result.provenance.engine,
                       engine_version=result.provenance.engine_version)
        except ClickRefusedError as exc:
            rec.update(status="refused", error=str(exc))
            failed += 1
        except (ALNPredictorError, OSError, RuntimeError, ValueError) as exc:
            rec.update(status="failed", error=str(exc))
            failed += 1
        rec["seconds"] = round(time.perf_counter() - t0, 3)
        rows.append(rec)
    summary = out_dir / "summary.csv"
    write_csv(summary, pd.DataFrame([{k: rec.get(k, "") for k in SUMMARY_COLUMNS} for rec in rows],
                                    columns=list(SUMMARY_COLUMNS)))
    counts = {s: sum(r["status"] == s for r in rows) for s in ("ok", "warning", "refused", "failed")}
    print(json.dumps({"manifest": str(manifest), "out": str(out_dir), "summary": str(summary), "rows": len(rows),
                      **counts}))
    return 1 if failed else 0


def _make_out_dir(out_dir: Path) -> None:
    """The batch's output folder, created if needed; a file in its place or a folder that cannot be
    created is the user's error, named."""
    from alnpredictor.outputs import output_error

    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out '{out_dir}' is a file: a batch writes a folder of masks; give a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error(out_dir, exc) from exc
