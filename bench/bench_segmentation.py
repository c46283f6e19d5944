"""Segmentation on real ultrasound: busi-dev frames, prompts simulated from the expert masks.

For each frame of ``shared/data/busi-dev`` (60 BUSI frames, 30 benign + 30 malignant, read at the
dataset's nominal 0.1 mm per pixel) the prompts are simulated from the expert mask by the rules of
:mod:`alnpredictor.imaging.evaluate` and given to the grow-cut segmenter through the seam:

* **one click, today's grow-cut** (half-max automatic background) — the reference;
* **one click, searched scale** (the 2-D click of :mod:`alnpredictor.imaging.prompted`);
* **caliper line** (exact and with ±3 % jitter), and the **ellipse on the line** (no image);
* **caliper + 1 correction click** at the largest remaining error;
* **box** and its **inscribed ellipse** (no image).

Per row: frames, refusals, median Dice (all / benign / malignant; over returned masks), the share of
all frames with Dice ≥ 0.7 (a refusal counts as a miss), median HD95 (mm), tiny islands (a
returned mask < 25 % of the expert area) silent and warned, the share of frames where the row
beats its prompt-only ellipse, and seconds per frame. Run alone::

    .venv/bin/python -m bench.bench_segmentation [--limit N] [--csv per_frame.csv]
"""

from __future__ import annotations

import argparse
import csv
import logging
import sys
import time
from pathlib import Path

import numpy as np

SPACING_MM = 0.1  # BUSI's nominal pixel spacing (busi-dev README)
SEED = 13  # jitter generator seed (with each frame's id)
TINY = 0.25  # a returned mask under this fraction of the expert area is a "tiny island"

ROWS = [
    ("click (today's grow-cut)", "click_ref", None),
    ("click (searched scale)", "click", None),
    ("caliper line", "caliper", "ellipse on line"),
    ("ellipse on line (no image)", "ellipse_line", None),
    ("caliper line, jittered", "caliper_jit", "ellipse on jittered line"),
    ("ellipse on jittered line (no image)", "ellipse_line_jit", None),
    ("caliper jittered + 1 correction", "caliper_corr", "ellipse on jittered line"),
    ("box", "box", "inscribed ellipse"),
    ("box's inscribed ellipse (no image)", "ellipse_box", None),
]
BASELINE = {"caliper": "ellipse_line", "caliper_jit": "ellipse_line_jit", "caliper_corr": "ellipse_line_jit",
            "box": "ellipse_box"}


def load_frames(root: Path, limit: int | None = None):
    """(case_id, class, image, mask array) for each frame of cases.csv."""
    import SimpleITK as sitk

    from alnpredictor.imaging.io import read_volume

    with open(root / "cases.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    if limit:
        # the same number of benign and malignant frames
        ben = [r for r in rows if r["class"] == "benign"][: (limit + 1) // 2]
        mal = [r for r in rows if r["class"] == "malignant"][: limit // 2]
        rows = ben + mal
    for row in rows:
        image = read_volume(root / row["image"], spacing_mm=SPACING_MM)
        mask = sitk.GetArrayFromImage(sitk.ReadImage(str(root / row["mask"])))
        if mask.ndim == 3:
            mask = mask[..., 0]
        yield row["case_id"], row["class"], image, mask > 0


def evaluate_frame(case_id: str, image, truth: np.ndarray, which: set[str] | None = None,
                   options: dict | None = None) -> dict:
    """Every row's result on one frame: {key: {dice, hd95, refused, warned, area_ratio, seconds}}."""
    import SimpleITK as sitk

    from alnpredictor.errors import ALNPredictorError
    from alnpredictor.imaging import evaluate as ev
    from alnpredictor.imaging.coords import VoxelGrid
    from alnpredictor.imaging.segment import Prompts, get_segmenter

    grid = VoxelGrid(image)
    shape = truth.shape
    ref = get_segmenter("grow-cut", click_mode="half-max")
    seg = get_segmenter("grow-cut", **(options or {}))
    out: dict = {}

    def record(key, fn):
        if which is not None and key not in which:
            return None
        t0 = time.perf_counter()
        try:
            result = fn()
        except ALNPredictorError as exc:
            out[key] = {"refused": True, "message": str(exc), "seconds": time.perf_counter() - t0, "dice": 0.0,
                        "hd95": float("nan"), "warned": False, "area_ratio": 0.0}
            return None
        seconds = time.perf_counter() - t0
        if isinstance(result, np.ndarray):
            mask, warned = result, False
        else:
            mask = sitk.GetArrayFromImage(result.masks["tumor"])[0] > 0
            warned = bool(result.warnings)
        out[key] = {"refused": False, "dice": ev.dice(mask, truth), "hd95": ev.hd95(mask, truth, SPACING_MM),
                    "warned": warned, "area_ratio": float(mask.sum() / truth.sum()), "seconds": seconds}
        return mask

    click = ev.to_ras(grid, ev.deepest_point(truth))
    record("click_ref", lambda: ref.segment(image, Prompts({"tumor": click})))
    record("click", lambda: seg.segment(image, Prompts({"tumor": click})))
    p, q = ev.caliper_line(truth)
    record("caliper", lambda: seg.segment(image, Prompts(lines={"tumor": [ev.to_ras(grid, [p, q])]})))
    record("ellipse_line", lambda: ev.ellipse_on_line(shape, p, q))
    pj, qj = ev.caliper_line(truth, ev.frame_rng(SEED, case_id))
    line = ev.to_ras(grid, [pj, qj])
    first = record("caliper_jit", lambda: seg.segment(image, Prompts(lines={"tumor": [line]})))
    record("ellipse_line_jit", lambda: ev.ellipse_on_line(shape, pj, qj))
    if first is not None and (which is None or "caliper_corr" in which):
        corr = ev.correction_click(first, truth)
        if corr is not None:
            point, positive = corr
            prompts = Prompts(lines={"tumor": [line]}, corrections=[(ev.to_ras(grid, point)[0], "tumor", positive)])
            record("caliper_corr", lambda: seg.segment(image, prompts))
    lo, hi = ev.bounding_box(truth)
    record("box", lambda: seg.segment(image, Prompts(boxes={"tumor": [ev.to_ras(grid, [lo, hi])]})))
    record("ellipse_box", lambda: ev.ellipse_in_box(shape, lo, hi))
    return out


def _warm_up() -> None:
    """Import Slicer's filter and SimpleITK's once, so the first frame's time is the frame's own."""
    import SimpleITK as sitk

    from alnpredictor.imaging.segment import Prompts, get_segmenter

    yy, xx = np.mgrid[:64, :64]
    image = sitk.GetImageFromArray(np.where(np.hypot(yy - 32, xx - 32) < 12, 40.0, 130.0)[None].astype(np.float32))
    image.SetSpacing((0.1, 0.1, 1.0))
    get_segmenter("grow-cut").segment(image, Prompts(lines={"tumor": [[[-2.0, -3.2, 0], [-4.4, -3.2, 0]]]}))


def summarise(frames: list[dict]) -> list[dict]:
    """One row per method (see the module docstring)."""
    rows = []
    for label, key, _ in ROWS:
        res = [(f["class"], f["results"][key]) for f in frames if key in f["results"]]
        if not res:
            continue
        got = [r for _, r in res if not r["refused"]]
        dices = np.array([r["dice"] for r in got]) if got else np.zeros(0)
        by_class = {c: np.array([r["dice"] for cc, r in res if cc == c and not r["refused"]])
                    for c in ("benign", "malignant")}
        row = {
            "method": label, "key": key, "frames": len(res), "refused": sum(r["refused"] for _, r in res),
            "median_dice": float(np.median(dices)) if len(dices) else float("nan"),
            "median_dice_benign": float(np.median(by_class["benign"])) if len(by_class["benign"]) else float("nan"),
            "median_dice_malignant": (float(np.median(by_class["malignant"])) if len(by_class["malignant"])
                                      else float("nan")),
            "share_dice_0_7": float(np.mean([(not r["refused"]) and r["dice"] >= 0.7 for _, r in res])),
            "median_hd95_mm": float(np.median([r["hd95"] for r in got])) if got else float("nan"),
            "tiny_silent": sum(r["area_ratio"] < TINY and not r["warned"] for r in got),
            "tiny_warned": sum(r["area_ratio"] < TINY and r["warned"] for r in got),
            "warned": sum(r["warned"] for r in got),
            "median_s": float(np.median([r["seconds"] for _, r in res])),
            "max_s": float(np.max([r["seconds"] for _, r in res])),
        }
        base = BASELINE.get(key)
        if base:
            pairs = [(f["results"][key], f["results"][base]) for f in frames
                     if key in f["results"] and base in f["results"]]
            row["beats_baseline"] = float(np.mean([a["dice"] > b["dice"] for a, b in pairs]))
            row["hd95_baseline_mm"] = float(np.median([b["hd95"] for _, b in pairs]))
        rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    """The rows as a fixed-width text table."""
    head = (f"{'method':<36} {'n':>3} {'ref':>4} {'Dice':>6} {'ben':>6} {'mal':>6} {'≥0.7':>5} {'HD95':>6} "
            f"{'tiny s/w':>8} {'warn':>4} {'>ell':>5} {'s med':>6} {'s max':>6}")
    lines = [head, "-" * len(head)]
    for r in rows:
        beats = f"{100 * r['beats_baseline']:.0f}%" if "beats_baseline" in r else "   -"
        lines.append(
            f"{r['method']:<36} {r['frames']:>3} {r['refused']:>4} {r['median_dice']:>6.3f} "
            f"{r['median_dice_benign']:>6.3f} {r['median_dice_malignant']:>6.3f} {100 * r['share_dice_0_7']:>4.0f}% "
            f"{r['median_hd95_mm']:>6.2f} {r['tiny_silent']:>4}/{r['tiny_warned']:<3} {r['warned']:>4} {beats:>5} "
            f"{r['median_s']:>6.2f} {r['max_s']:>6.2f}"
        )
    return "\n".join(lines)


def evaluate(root: Path, limit: int | None = None, which: set[str] | None = None, progress: bool = False,
             options: dict | None = None):
    """Per-frame results and the summary rows (``options``: grow-cut settings to try)."""
    _warm_up()
    frames = []
    for case_id, cls, image, truth in load_frames(root, limit):
        frames.append({"case_id": case_id, "class": cls,
                       "results": evaluate_frame(case_id, image, truth, which, options)})
        if progress:
            print(".", end="", flush=True)
    if progress:
        print()
    return frames, summarise(frames)


def run(results: dict) -> None:
    from alnpredictor.config import shared_data

    logging.getLogger("alnpredictor").setLevel(logging.ERROR)
    try:
        root = shared_data("busi-dev")
    except FileNotFoundError as exc:
        print(f"busi-dev not available, skipped: {exc}")
        return
    import SimpleITK as sitk

    t0 = time.perf_counter()
    frames, rows = evaluate(root, progress=True)
    print(f"busi-dev: {len(frames)} real ultrasound frames at {SPACING_MM} mm/pixel, prompts simulated from the "
          f"expert masks; {sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()} ITK threads; "
          f"{time.perf_counter() - t0:.0f} s in all")
    print("Dice medians over returned masks; ≥0.7 over all frames (refusal = miss); HD95 median, mm; "
          f"tiny = returned < {int(TINY * 100)}% of the expert area (silent/warned); >ell = frames better than "
          "the row's prompt-only ellipse; seconds per frame")
    print(table(rows))
    results["segmentation_busi"] = {"rows": rows, "frames": [
        {"case_id": f["case_id"], "class": f["class"],
         "results": {k: {kk: vv for kk, vv in v.items() if kk != "message"} for k, v in f["results"].items()}}
        for f in frames]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="first N frames (half benign, half malignant)")
    parser.add_argument("--only", help="comma-separated row keys (e.g. caliper_jit,box)")
    parser.add_argument("--csv", help="write per-frame results here")
    parser.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                        help="a grow-cut setting to try (repeatable), e.g. range_fraction=0.5")
    args = parser.parse_args(argv)
    import ast

    options = {}
    for item in args.option:
        name, _, value = item.partition("=")
        try:
            options[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            options[name] = value
    from alnpredictor.config import shared_data

    logging.getLogger("alnpredictor").setLevel(logging.ERROR)
    which = set(args.only.split(",")) if args.only else None
    if which and "caliper_corr" in which:
        which.add("caliper_jit")
    frames, rows = evaluate(shared_data("busi-dev"), args.limit, which, progress=True, options=options)
    print(table(rows))
    if args.csv:
        with open(args.csv, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["case_id", "class", "method", "refused", "dice", "hd95_mm", "area_ratio", "warned", "seconds",
                        "message"])
            for f in frames:
                for key, r in f["results"].items():
                    w.writerow([f["case_id"], f["class"], key, r["refused"], round(r["dice"], 4),
                                round(r["hd95"], 3), round(r["area_ratio"], 3), r["warned"], round(r["seconds"], 3),
                                r.get("message", "")])
    return 0


if __name__ == "__main__":
    sys.exit(main())
