"""Whole-workflow reproducibility (``alnpredictor analyze reproducibility``): several readers' prompts
for the same ultrasound cases → the whole pathway per reader (grow-cut from the reader's click, or the
reader's own outline → features → the model's probability and class) → agreement between readers:
ICC(2,1) and ICC(3,1) with 95 % CIs of the probability and of each feature the model uses, Bland–Altman
of the probability, the fraction of patients whose class flips between readers (the US study: ICC 0.82
of the nomogram's output among three doctors).

Readers come from the manifest or are simulated:

* ``--readers R1,R2,R3`` — per reader one column of prompts: ``seeds_tumor_<R>`` (click(s)
  ``"R,A,S;R,A,S"`` in RAS mm, grown with 2-D grow-cut), ``line_tumor_<R>`` (a caliper line: two end
  points) or ``mask_tumor_<R>`` (the reader's own outline); an empty cell is a missing reading (that
  case is left out of the ICCs that need it).
* ``--simulate-readers N --jitter-mm X`` — N readers click the same lesion the way a second reader
  would: each reader's click is the case's reference point moved by an offset drawn uniformly over
  the disc of radius X mm (in the frame's plane); when the case has an expert mask (``mask_tumor``)
  the offset is drawn again until the click falls inside the mask (a reader clicks inside the lesion;
  after 1000 draws the reference point is used, and said). The reference point is the first point of
  ``seeds_tumor`` or, without one, the mask's deepest interior point (maximum of its distance
  transform). Every reader (the first too) is jittered, so the readers are exchangeable; the draws come
  from a generator fixed by ``--seed``, the case id and nothing else (the same clicks whatever else is
  run). The expert mask only places the clicks: each reader's outline is grown from the click.
  ``--simulate-prompt line``: each reader draws the caliper line instead — the expert mask's longest
  diameter moved 5 % inward at both ends (:func:`alnpredictor.imaging.evaluate.caliper_line`), each end
  point moved by its own uniform offset within X mm (kept inside the frame).

Statistics: :func:`alnpredictor.stats.icc.icc` (ICC(3,1) consistency and ICC(2,1) absolute agreement,
McGraw & Wong CIs, as R ``psych::ICC``); Bland–Altman for each pair of readers (bias = mean of the
later reader minus the earlier, SD, limits of agreement bias ± 1.96 SD, t-based 95 % CI of the bias);
classes at the model's cut-off (or ``--cutoff``), a patient "flips" when the readers' classes are not
all the same; Fleiss' kappa of the classes; Dice between readers' outlines per case.
"""

from __future__ import annotations

import argparse
import itertools
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alnpredictor import study
from alnpredictor.errors import ALNPredictorError, ClinicalDataError, InputError

#: Draws of a simulated click before falling back to the reference point.
MAX_DRAWS = 1000
_READER = re.compile(r"^[A-Za-z0-9_-]+$")
_BASE_COLUMNS = ("case_id", "site", "pathway", "label", "spacing_mm", f"image_{study.US}", "mask_tumor",
                 "seeds_tumor", "seeds_background")
_READER_COLUMN = re.compile(r"^(seeds|mask|line)_tumor_([A-Za-z0-9_-]+)$")
_PROMPTS = ("seeds", "line", "mask")


# --------------------------------------------------------------------------- the manifest
@dataclass
class ReaderCase:
    """One manifest row: the frame, its expert mask / reference click, clinical values and each
    reader's prompt (``{"seeds": [[R, A, S], ...]}``, ``{"line": [end, end]}`` or ``{"mask": path}``;
    None = not read)."""

    case_id: str
    image: Path
    spacing_mm: float | None = None
    mask: Path | None = None
    seeds: list[list[float]] | None = None
    background: list[list[float]] | None = None
    clinical: dict[str, Any] = field(default_factory=dict)
    prompts: dict[str, dict[str, Any] | None] = field(default_factory=dict)


def _number_or_text(text: str) -> Any:
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and "." not in text else number


def parse_readers(text: str) -> list[str]:
    """``R1,R2,R3`` → reader names (at least two, distinct, letters/digits/``-``/``_``)."""
    names = [r.strip() for r in str(text).split(",") if r.strip()]
    bad = [r for r in names if not _READER.match(r)]
    if bad:
        raise InputError(f"--readers: reader name(s) {bad} may hold letters, digits, '-' and '_' only")
    dup = sorted({r for r in names if names.count(r) > 1})
    if dup:
        raise InputError(f"--readers names reader(s) {dup} more than once; give each reader once")
    if len(names) < 2:
        raise InputError(f"--readers needs at least 2 readers for agreement (got {len(names)}: "
                         f"{', '.join(names) or 'none'}); e.g. --readers R1,R2,R3")
    return names


def read_reader_manifest(path: str | Path, readers: Sequence[str] | None = None) -> tuple[list[ReaderCase], list[str]]:
    """Read and check a reader-study manifest (every problem of the table at once; missing files too).

    :param readers: the readers whose columns ``seeds_tumor_<R>`` / ``mask_tumor_<R>`` hold their
        prompts; None for simulated readers (then every case needs ``seeds_tumor`` or ``mask_tumor``).
    :returns: the cases and warnings (readings left empty)."""
    from alnpredictor.cohort.manifest import ManifestError, parse_points, read_table
    from alnpredictor.models.clinical import check_clinical_record

    path = Path(path)
    df = read_table(path)
    base = path.parent
    image_col = f"image_{study.US}"
    for col in ("case_id", image_col):
        if col not in df.columns:
            raise InputError(f"manifest {path} has no '{col}' column: a reader study needs one row per case with "
                             f"its id (case_id) and ultrasound frame ({image_col})")
    if readers is not None:
        absent = [r for r in readers if not any(f"{k}_tumor_{r}" in df.columns for k in _PROMPTS)]
        if absent:
            raise InputError(f"manifest {path} has no column for reader(s) {', '.join(absent)}: add "
                             f"seeds_tumor_{absent[0]} (the reader's clicks), line_tumor_{absent[0]} (caliper line) or "
                             f"mask_tumor_{absent[0]} (outline), or check --readers")
    elif "seeds_tumor" not in df.columns and "mask_tumor" not in df.columns:
        raise InputError(f"manifest {path}: simulated readers need each lesion's reference click (seeds_tumor) or "
                         "its expert mask (mask_tumor); add one of the columns")
    unknown = [c for c in df.columns if c not in _BASE_COLUMNS and not _READER_COLUMN.match(c)
               and not study.is_clinical_column(c)]
    problems: list[str] = []
    if unknown:
        problems.append(f"unknown column(s) {unknown}: use case_id, {image_col}, spacing_mm, mask_tumor, seeds_tumor, "
                        "seeds_tumor_<reader>, mask_tumor_<reader> and clinical columns (extra ones prefixed clin_)")
    lines = df.attrs.get("lines") or list(range(2, len(df) + 2))
    cases, warnings, seen = [], [], {}
    resolve = lambda v: Path(v) if Path(v).is_absolute() else (base / v).resolve()  # noqa: E731
    for line, (_, row) in zip(lines, df.iterrows()):
        cid = str(row["case_id"]).strip()
        where = f"line {line} (case {cid or '?'})"
        if not cid:
            problems.append(f"{where}: empty case_id")
            continue
        if cid in seen:
            problems.append(f"{where}: case_id '{cid}' repeats line {seen[cid]}; give every case its own id")
            continue
        seen[cid] = line
        if str(row.get("pathway", "") or "us").strip().lower() != "us":
            problems.append(f"{where}: pathway '{row['pathway']}': reader studies run the ultrasound pathway only")
        if not str(row[image_col]).strip():
            problems.append(f"{where}: empty {image_col}")
            continue
        case = ReaderCase(cid, resolve(str(row[image_col]).strip()))
        if str(row.get("spacing_mm", "") or "").strip():
            try:
                case.spacing_mm = float(row["spacing_mm"])
                assert 0 < case.spacing_mm < 1e3
            except (ValueError, AssertionError):
                problems.append(f"{where}: spacing_mm '{row['spacing_mm']}' is not a positive number of mm")
        if str(row.get("mask_tumor", "") or "").strip():
            case.mask = resolve(str(row["mask_tumor"]).strip())
        for col, attr in (("seeds_tumor", "seeds"), ("seeds_background", "background")):
            if str(row.get(col, "") or "").strip():
                try:
                    setattr(case, attr, parse_points(row[col]))
                except ValueError as exc:
                    problems.append(f"{where}: {col}: {exc}")
        for col in df.columns:
            if study.is_clinical_column(col) and str(row[col]).strip():
                case.clinical[col] = _number_or_text(str(row[col]).strip())
        try:
            check_clinical_record(case.clinical)
        except ClinicalDataError as exc:
            problems.append(f"{where}: {exc}")
        if readers is None:
            if case.mask is None and not case.seeds:
                problems.append(f"{where}: no seeds_tumor and no mask_tumor: simulated readers need the lesion's "
                                "reference click or its expert mask")
        else:
            for r in readers:
                given = {k: str(row.get(f"{k}_tumor_{r}", "") or "").strip() for k in _PROMPTS}
                given = {k: v for k, v in given.items() if v}
                case.prompts[r] = None
                if len(given) > 1:
                    problems.append(f"{where}: reader {r} has {' and '.join(f'{k}_tumor_{r}' for k in given)}: give "
                                    "one prompt per reader and case")
                elif "mask" in given:
                    case.prompts[r] = {"mask": resolve(given["mask"])}
                elif given:
                    kind, text = next(iter(given.items()))
                    try:
                        points = parse_points(text)
                        if kind == "line" and len(points) != 2:
                            raise ValueError(f"a caliper line is two end points 'R,A,S;R,A,S', not {len(points)}")
                        case.prompts[r] = {kind: points}
                    except ValueError as exc:
                        problems.append(f"{where}: {kind}_tumor_{r}: {exc}")
                else:
                    warnings.append(f"case {cid}: reader {r} gave no prompt (a missing reading)")
        files = [("image", case.image), ("mask_tumor", case.mask)] + [
            (f"mask_tumor_{r}", p["mask"]) for r, p in case.prompts.items() if p and "mask" in p]
        for what, p in files:
            if p is not None and not Path(p).is_file():
                problems.append(f"{where}: {what} file not found: {p}")
        cases.append(case)
    if problems:
        raise ManifestError(path, problems)
    if len(cases) < 2:
        raise InputError(f"manifest {path} has {len(cases)} case(s): an ICC needs at least 2 cases")
    return cases, warnings


# --------------------------------------------------------------------------- simulated readers
def case_rng(seed: int, case_id: str) -> np.random.Generator:
    """The generator of one case's simulated clicks (fixed by ``seed`` and the case id only)."""
    return np.random.default_rng([int(seed), zlib.crc32(case_id.encode())])


def jittered_clicks(reference_rc: Sequence[float], n_readers: int, jitter_mm: float, spacing_rc: Sequence[float],
                    shape: Sequence[int], rng: np.random.Generator, mask: np.ndarray | None = None,
                    ) -> tuple[np.ndarray, int]:
    """``n_readers`` clicks (row, column) around ``reference_rc``: each offset uniform over the disc of
    radius ``jitter_mm`` (mm; ``spacing_rc`` mm per row / column), redrawn until the click's pixel is
    inside the frame (``shape``) and inside ``mask`` when given (up to :data:`MAX_DRAWS` draws, then the
    reference point). Returns the clicks and how many fell back to the reference."""
    ref = np.asarray(reference_rc, dtype=float)
    spacing = np.asarray(spacing_rc, dtype=float)
    clicks, fallbacks = [], 0
    for _ in range(int(n_readers)):
        for _draw in range(MAX_DRAWS):
            radius = jitter_mm * np.sqrt(rng.random())  # uniform over the disc's area
            angle = 2 * np.pi * rng.random()
            rc = ref + np.array([radius * np.sin(angle), radius * np.cos(angle)]) / spacing
            pixel = np.rint(rc).astype(int)
            inside = (0 <= pixel[0] < shape[0]) and (0 <= pixel[1] < shape[1])
            if inside and (mask is None or bool(mask[pixel[0], pixel[1]])):
                clicks.append(rc)
                break
        else:
            clicks.append(ref.copy())
            fallbacks += 1
    return np.array(clicks), fallbacks


def _ras_to_rc(image, ras: Sequence[float]) -> np.ndarray:
    x, y, _ = image.TransformPhysicalPointToContinuousIndex((-float(ras[0]), -float(ras[1]), float(ras[2])))
    return np.array([y, x], dtype=float)


def simulate_prompts(case: ReaderCase, image, mask: np.ndarray | None, readers: Sequence[str], jitter_mm: float,
                     seed: int, prompt: str = "click") -> tuple[dict[str, dict[str, Any]], int]:
    """Each simulated reader's prompt (RAS mm) for one case (module docstring: the rule): a click, or
    a caliper line (``prompt="line"``: both end points of the mask's caliper line jittered)."""
    from alnpredictor.imaging.coords import VoxelGrid
    from alnpredictor.imaging.evaluate import caliper_line, deepest_point, to_ras

    spacing = (image.GetSpacing()[1], image.GetSpacing()[0])
    shape = (image.GetSize()[1], image.GetSize()[0])
    rng = case_rng(seed, case.case_id)
    grid = VoxelGrid(image)
    if prompt == "line":
        ends = [jittered_clicks(end, len(readers), jitter_mm, spacing, shape, rng)[0] for end in caliper_line(mask)]
        return {r: {"line": to_ras(grid, [ends[0][i], ends[1][i]]).tolist()} for i, r in enumerate(readers)}, 0
    reference = _ras_to_rc(image, case.seeds[0]) if case.seeds else deepest_point(mask)
    clicks, fallbacks = jittered_clicks(reference, len(readers), jitter_mm, spacing, shape, rng, mask)
    ras = to_ras(grid, clicks)
    return {r: {"seeds": [ras[i].tolist()]} for i, r in enumerate(readers)}, fallbacks


# --------------------------------------------------------------------------- the pipeline per reader
def run_study(cases: Sequence[ReaderCase], readers: Sequence[str], model, settings, *, simulate: dict | None = None,
              cutoff: float | None = None, progress=None) -> dict[str, Any]:
    """The pathway for every case and reader: probabilities, classes, the model's features, and
    per-case notes (clicks, failures, Dice between the readers' outlines).

    A reader whose case fails (a click that does not determine the lesion, a feature that cannot be
    computed) is a missing reading, recorded with the tool's message; other errors stop the run."""
    import SimpleITK as sitk

    from alnpredictor.imaging.io import read_mask
    from alnpredictor.pathways import us

    extractor = us.extractor_for(settings, quiet=True)
    feats = list(model.features)
    n, k = len(cases), len(readers)
    prob = np.full((n, k), np.nan)
    cls = np.full((n, k), np.nan)
    values = np.full((n, k, len(feats)), np.nan)
    records, fallbacks = [], 0
    for i, case in enumerate(cases):
        image = us.read_frame(case.image, case.spacing_mm if case.spacing_mm is not None else settings.spacing_mm)
        expert = read_mask(case.mask, reference=image) if case.mask is not None else None
        prompts = case.prompts
        if simulate is not None:
            arr = sitk.GetArrayFromImage(expert)[0] > 0 if expert is not None else None
            prompts, fell = simulate_prompts(case, image, arr, readers, simulate["jitter_mm"], simulate["seed"],
                                             simulate.get("prompt", "click"))
            fallbacks += fell
        record: dict[str, Any] = {"case_id": case.case_id, "readers": {}}
        masks = {}
        for j, reader in enumerate(readers):
            prompt = prompts.get(reader)
            entry: dict[str, Any] = {}
            record["readers"][reader] = entry
            if not prompt:
                entry["error"] = "no reading"
                continue
            try:
                if "mask" in prompt:
                    entry["mask"] = str(prompt["mask"])
                    result = us.run_case(image, settings, mask=read_mask(prompt["mask"], reference=image),
                                         extractor=extractor)
                elif "line" in prompt:
                    entry["line_ras"] = [[round(v, 3) for v in p] for p in prompt["line"]]
                    result = us.run_case(image, settings, line_ras=prompt["line"], extractor=extractor)
                else:
                    entry["click_ras"] = [[round(v, 3) for v in p] for p in prompt["seeds"]]
                    result = us.run_case(image, settings, seeds_ras=prompt["seeds"], background_ras=case.background,
                                         extractor=extractor)
                prediction = us.predict(model, result.features, case.clinical)
            except ClinicalDataError:
                raise
            except ALNPredictorError as exc:
                entry["error"] = str(exc).splitlines()[0]
                continue
            p = float(prediction.probability)
            prob[i, j] = p
            if cutoff is not None:
                cls[i, j] = int(p >= cutoff)
            values[i, j] = [result.features.get(f, np.nan) for f in feats]
            entry.update(probability=p, predicted_class=None if np.isnan(cls[i, j]) else int(cls[i, j]),
                         mask_source=result.mask_source,
                         segmentation_warnings=[str(w) for w in (result.quality.get("segmentation") or {}).get(
                             "warnings", [])])
            masks[reader] = sitk.GetArrayFromImage(result.mask)[0] > 0
        if len(masks) >= 2:
            dice = [2 * float((a & b).sum()) / max(int(a.sum() + b.sum()), 1)
                    for a, b in itertools.combinations(masks.values(), 2)]
            record["mask_dice_mean"] = float(np.mean(dice))
        records.append(record)
        if progress is not None:
            progress(i + 1, n, case.case_id)
    return {"probability": prob, "classes": cls, "features": feats, "values": values, "cases": records,
            "fallbacks": fallbacks}


# --------------------------------------------------------------------------- agreement
def _icc_row(table: pd.DataFrame, name: str) -> dict[str, Any]:
    row = table.loc[name]
    out = {"feature": name}
    for key in ("icc2_1", "icc2_1_ci_low", "icc2_1_ci_high", "icc3_1", "icc3_1_ci_low", "icc3_1_ci_high", "F",
                "pval"):
        v = row[key]
        out[key] = None if pd.isna(v) else float(v)
    out["n_subjects"] = int(row["n_subjects"])
    return out


def bland_altman(ratings: np.ndarray, readers: Sequence[str]) -> list[dict[str, Any]]:
    """Bland–Altman of every pair of readers (complete pairs): bias (later − earlier reader), SD,
    limits of agreement bias ± 1.96 SD and the t-based 95 % CI of the bias."""
    from scipy import stats as sps

    out = []
    for a, b in itertools.combinations(range(len(readers)), 2):
        x, y = ratings[:, a], ratings[:, b]
        ok = ~(np.isnan(x) | np.isnan(y))
        d = y[ok] - x[ok]
        n = int(d.size)
        row: dict[str, Any] = {"readers": [readers[a], readers[b]], "n": n, "bias": None, "sd": None,
                               "loa_low": None, "loa_high": None, "bias_ci_low": None, "bias_ci_high": None}
        if n >= 2:
            bias, sd = float(d.mean()), float(d.std(ddof=1))
            half = float(sps.t.ppf(0.975, n - 1) * sd / np.sqrt(n))
            row.update(bias=bias, sd=sd, loa_low=bias - 1.96 * sd, loa_high=bias + 1.96 * sd,
                       bias_ci_low=bias - half, bias_ci_high=bias + half)
        out.append(row)
    return out


def class_flips(classes: np.ndarray, readers: Sequence[str]) -> dict[str, Any]:
    """Patients whose class is not the same for every reader (complete cases), per pair too, and
    Fleiss' kappa of the classes."""
    from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

    complete = ~np.isnan(classes).any(axis=1)
    c = classes[complete].astype(int)
    flipped = (c != c[:, :1]).any(axis=1) if c.size else np.zeros(0, bool)
    pairs = [{"readers": [readers[a], readers[b]], "n_disagree": int((c[:, a] != c[:, b]).sum())}
             for a, b in itertools.combinations(range(len(readers)), 2)]
    kappa = None
    if c.shape[0] >= 2 and len(np.unique(c)) == 2:
        kappa = float(fleiss_kappa(aggregate_raters(c)[0], method="fleiss"))
    return {"n": int(c.shape[0]), "n_flipped": int(flipped.sum()),
            "fraction_flipped": float(flipped.mean()) if c.shape[0] else None, "pairs": pairs, "fleiss_kappa": kappa}


def agreement(probability: np.ndarray, classes: np.ndarray | None, values: np.ndarray, features: Sequence[str],
              readers: Sequence[str]) -> dict[str, Any]:
    """ICCs of the probability and of each feature, Bland–Altman of the probability, class flips."""
    from alnpredictor.stats.icc import icc

    complete = int((~np.isnan(probability).any(axis=1)).sum())
    if complete < 2:
        raise InputError(f"only {complete} case(s) have a probability from every reader: an ICC needs at least 2; "
                         "check the readers' clicks (see the failures in --json)")
    prob_icc = _icc_row(icc(probability, ["probability"]), "probability")
    feat_table = icc(values, list(features)) if len(features) else None
    out: dict[str, Any] = {
        "n_complete": complete,
        "probability": prob_icc,
        "features": [_icc_row(feat_table, f) for f in features] if feat_table is not None else [],
        "bland_altman": bland_altman(probability, readers),
    }
    out["classes"] = class_flips(classes, readers) if classes is not None and not np.isnan(classes).all() else None
    return out


# --------------------------------------------------------------------------- figures
def bland_altman_figure(probability: np.ndarray, readers: Sequence[str], rows: Sequence[Mapping[str, Any]],
                        max_panels: int = 6):
    """One Bland–Altman panel per pair of readers (the first ``max_panels`` pairs): difference vs mean
    of the probabilities, bias and limits of agreement."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from alnpredictor.report.figures import RESEARCH_NOTE, plain

    shown = list(rows)[:max_panels]
    fig = Figure(figsize=(4.2 * len(shown), 4.0))
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(1, len(shown), squeeze=False)[0])
    index = {r: i for i, r in enumerate(readers)}
    for ax, row in zip(axes, shown):
        a, b = (index[r] for r in row["readers"])
        x, y = probability[:, a], probability[:, b]
        ok = ~(np.isnan(x) | np.isnan(y))
        ax.scatter((x[ok] + y[ok]) / 2, y[ok] - x[ok], s=18, color="#1f77b4", alpha=0.8)
        if row["bias"] is not None:
            for value, style, label in ((row["bias"], "-", f"bias {row['bias']:+.3f}"),
                                        (row["loa_low"], "--", f"LoA {row['loa_low']:+.3f}"),
                                        (row["loa_high"], "--", f"LoA {row['loa_high']:+.3f}")):
                ax.axhline(value, color="0.25", linestyle=style, linewidth=1)
                ax.annotate(label, (1.0, value), xycoords=("axes fraction", "data"), ha="right", va="bottom",
                            fontsize=7)
        ax.axhline(0, color="0.7", linewidth=0.8)
        ax.set_xlim(-0.03, 1.03)
        ax.set_xlabel("mean probability")
        ax.set_ylabel(plain(f"{row['readers'][1]} − {row['readers'][0]}"))
        ax.set_title(plain(f"{row['readers'][1]} vs {row['readers'][0]} (n={row['n']})"), fontsize=9)
    more = f" (first {max_panels} of {len(rows)} pairs)" if len(rows) > max_panels else ""
    fig.suptitle(f"Bland–Altman of the model's probability{more}\n{RESEARCH_NOTE}", fontsize=9)
    fig.tight_layout()
    return fig


def icc_figure(result: Mapping[str, Any], kind: str = "icc2_1", threshold: float = 0.80, max_rows: int = 40):
    """ICC with 95 % CI of the probability and of each model feature (lowest first), with the study's
    0.80 threshold."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from alnpredictor.report.figures import RESEARCH_NOTE, plain

    rows = [result["probability"]] + sorted(
        result["features"], key=lambda r: (r[kind] is None, r[kind] if r[kind] is not None else 0))[: max_rows - 1]
    fig = Figure(figsize=(6.5, 1.2 + 0.28 * len(rows)))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for y, row in enumerate(rows):
        value, low, high = row[kind], row[f"{kind}_ci_low"], row[f"{kind}_ci_high"]
        colour = "#d62728" if y == 0 else "#1f77b4"
        if value is None:
            ax.annotate("undefined", (0, y), fontsize=7, va="center")
            continue
        if low is not None and high is not None:
            ax.plot([max(low, -1), high], [y, y], color=colour, linewidth=1.5)
        ax.plot(value, y, "o", color=colour, markersize=5)
    ax.axvline(threshold, color="0.4", linestyle="--", linewidth=1)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([plain(r["feature"]) for r in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(min(0.0, *(r[f"{kind}_ci_low"] or 0 for r in rows)), 1.0)
    label = {"icc2_1": "ICC(2,1) absolute agreement", "icc3_1": "ICC(3,1) consistency"}[kind]
    ax.set_xlabel(f"{label} with 95% CI (dashed: {threshold:.2f})")
    fig.suptitle(f"Agreement between readers: probability and the model's features\n{RESEARCH_NOTE}", fontsize=9)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- the command
def register(kinds: argparse._SubParsersAction) -> None:
    """Add ``analyze reproducibility``."""
    p = kinds.add_parser(
        "reproducibility", help="whole-workflow agreement between readers' clicks: ICC, Bland-Altman, class flips",
        description="Runs the ultrasound pathway once per reader (manifest columns seeds_tumor_<R> / mask_tumor_<R>, "
                    "or simulated readers clicking within --jitter-mm of the lesion's reference point) and reports "
                    "ICC(2,1)/ICC(3,1) with 95%% CI of the probability and of each model feature, Bland-Altman of the "
                    "probability and the fraction of patients whose class flips.")
    p.add_argument("--manifest", required=True, metavar="M.csv", help="one row per case: case_id, image_US, ...")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--readers", metavar="R1,R2,...", help="readers whose columns seeds_tumor_<R>/mask_tumor_<R> "
                                                             "hold their clicks/outlines")
    who.add_argument("--simulate-readers", type=int, metavar="N", help="simulate N readers clicking each lesion")
    p.add_argument("--jitter-mm", type=float, metavar="X", help="simulated readers: clicks uniformly within X mm of the "
                                                                "reference point, inside the expert mask when given")
    p.add_argument("--simulate-prompt", choices=("click", "line"), default="click",
                   help="simulated readers: a click (default) or a caliper line across the expert mask's longest "
                        "diameter, each end point jittered by --jitter-mm (needs mask_tumor)")
    p.add_argument("--seed", type=int, default=0, help="simulated readers: seed of the clicks (default 0)")
    p.add_argument("--model", required=True, metavar="M.alnmodel", help="ultrasound model bundle")
    p.add_argument("--cutoff", type=float, metavar="P", help="class cut-off (default: the model's)")
    p.add_argument("--spacing-mm", type=float, metavar="S", help="pixel spacing for frames without one (PNG/JPEG)")
    p.add_argument("--weights", metavar="FILE|imagenet", help="ResNet50 weights the model was trained with")
    p.add_argument("--params", metavar="YAML", help="PyRadiomics parameter file (when the model uses texture)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="torch device")
    p.add_argument("--json", metavar="OUT.json", help="write all results as JSON")
    p.add_argument("--plots", metavar="DIR", help="write reproducibility-bland-altman and reproducibility-icc "
                                                  "(PNG + SVG)")
    p.set_defaults(func=_run)


def simulation_rule(simulate: Mapping[str, Any] | None) -> str | None:
    """The simulated readers' rule in words (recorded in the JSON)."""
    if not simulate:
        return None
    if simulate.get("prompt", "click") == "line":
        rule = ("each reader's caliper line = the expert mask's longest diameter moved 5% inward at both ends, each "
                "end point + an offset uniform over the disc of radius jitter_mm (kept inside the frame)")
    else:
        rule = ("each reader's click = reference point (first seeds_tumor point, else the expert mask's deepest "
                "point) + an offset uniform over the disc of radius jitter_mm, redrawn until inside the expert mask "
                f"when there is one (at most {MAX_DRAWS} draws, then the reference point)")
    return rule + "; generator seeded by (seed, crc32(case_id))"


def _settings(args: argparse.Namespace, model):
    from dataclasses import replace

    from alnpredictor.cli.extract_us import cohort_settings
    from alnpredictor.pathways import us
    from alnpredictor.settings import US_PARAMS, USSettings

    # PyRadiomics texture only when the model uses it (it is most of a frame's time otherwise)
    radiomics = any(us.is_radiomics_feature(f) for f in model.features)
    settings = USSettings(params=args.params or US_PARAMS, radiomics=radiomics, weights=args.weights,
                          device=args.device, spacing_mm=args.spacing_mm)
    settings = cohort_settings(settings)
    us.check_settings(model, settings)
    return replace(settings, cache_dir=None)


def _run(args: argparse.Namespace) -> int:
    from alnpredictor.models.clinical import check_clinical_values
    from alnpredictor.pathways import us
    from alnpredictor.settings import as_record

    simulate = None
    if args.simulate_readers is not None:
        if args.simulate_readers < 2:
            raise InputError(f"--simulate-readers needs at least 2 readers for agreement (got {args.simulate_readers})")
        if args.jitter_mm is None or not (np.isfinite(args.jitter_mm) and args.jitter_mm >= 0):
            raise InputError("--simulate-readers needs --jitter-mm X: how far (mm, ≥ 0) a reader's click may fall from "
                             "the reference point")
        readers = [f"sim{i + 1}" for i in range(args.simulate_readers)]
        simulate = {"n_readers": args.simulate_readers, "jitter_mm": float(args.jitter_mm), "seed": int(args.seed),
                    "prompt": args.simulate_prompt}
    else:
        if args.jitter_mm is not None:
            raise InputError("--jitter-mm applies to --simulate-readers only; readers from the manifest click as they did")
        readers = parse_readers(args.readers)
    if args.cutoff is not None and not (0 < args.cutoff < 1):
        raise InputError(f"--cutoff must be a probability between 0 and 1 (got {args.cutoff})")
    cases, warnings = read_reader_manifest(args.manifest, None if simulate else readers)
    if simulate and simulate["prompt"] == "line":
        lacking = [c.case_id for c in cases if c.mask is None]
        if lacking:
            raise InputError(f"--simulate-prompt line draws each caliper line across the expert mask, and case(s) "
                             f"{', '.join(lacking[:5])} of {args.manifest} have no mask_tumor; add the masks or simulate "
                             "clicks")
    model = us.load_model(args.model)
    problems = []
    for case in cases:  # every clinical problem before hours of computing
        try:
            check_clinical_values(model.clinical_fields, dict(case.clinical))
        except ClinicalDataError as exc:
            problems.append(f"case {case.case_id}: {exc}")
    if problems:
        raise ClinicalDataError(f"model '{model.name}' needs clinical values the manifest {args.manifest} lacks or "
                                f"cannot use — {problems[0]}" + (f" (and {len(problems) - 1} more case(s))"
                                                                 if len(problems) > 1 else ""))
    settings = _settings(args, model)
    cutoff = args.cutoff if args.cutoff is not None else model.cutoff
    print(f"reproducibility: {len(cases)} cases × {len(readers)} readers "
          f"({'simulated, jitter ' + format(args.jitter_mm, 'g') + ' mm' if simulate else ', '.join(readers)}), "
          f"model {model.name} — research use only")
    study_run = run_study(cases, readers, model, settings, simulate=simulate, cutoff=cutoff,
                          progress=lambda i, n, cid: print(f"  case {i}/{n} {cid}", flush=True))
    result = agreement(study_run["probability"], study_run["classes"] if cutoff is not None else None,
                       study_run["values"], study_run["features"], readers)
    if cutoff is None:
        warnings.append("the model has no cut-off and none was given (--cutoff): class flips not computed")
    if study_run["fallbacks"]:
        warnings.append(f"{study_run['fallbacks']} simulated click(s) fell back to the reference point (no draw within "
                        f"{args.jitter_mm:g} mm landed inside the mask)")
    failed = [(c["case_id"], r, e["error"]) for c in study_run["cases"] for r, e in c["readers"].items()
              if "error" in e and e["error"] != "no reading"]
    flagged = sum(1 for c in study_run["cases"] for e in c["readers"].values() if e.get("segmentation_warnings"))
    if flagged:
        warnings.append(f"{flagged} reading(s) came with a segmentation warning (see segmentation_warnings in --json): "
                        "check those outlines; a click that leaves the lesion's size uncertain is itself a source of "
                        "disagreement")
    if failed:
        warnings.append(f"{len(failed)} reading(s) failed and are missing, e.g. case {failed[0][0]} reader "
                        f"{failed[0][1]}: {failed[0][2]}")
    payload = {
        "analysis": "reproducibility", "manifest": str(args.manifest), "model": {"path": str(args.model),
                                                                                "name": model.name, "cutoff": cutoff},
        "readers": readers, "mode": "simulated" if simulate else "manifest", "simulation": simulate,
        "simulation_rule": simulation_rule(simulate),
        "settings": as_record(settings), "n_cases": len(cases), **result,
        "cases": study_run["cases"], "warnings": warnings,
    }
    _print(payload)
    if args.json or args.plots:
        from alnpredictor.analysis.paired import write_outputs

        figures = {}
        if args.plots:
            figures = {"reproducibility-bland-altman": bland_altman_figure(study_run["probability"], readers,
                                                                           result["bland_altman"]),
                       "reproducibility-icc": icc_figure(result)}
        write_outputs(args.json, payload, args.plots, figures)
    return 0


def _ci(row: Mapping[str, Any], kind: str) -> str:
    if row[kind] is None:
        return "undefined"
    low, high = row[f"{kind}_ci_low"], row[f"{kind}_ci_high"]
    return f"{row[kind]:.3f} ({low:.3f}–{high:.3f})" if low is not None and high is not None else f"{row[kind]:.3f}"


def _print(res: Mapping[str, Any], top: int = 12) -> None:
    p = res["probability"]
    print(f"{res['n_complete']} of {res['n_cases']} cases read by every reader")
    print(f"probability ICC(2,1) {_ci(p, 'icc2_1')}; ICC(3,1) {_ci(p, 'icc3_1')}")
    for row in res["bland_altman"]:
        if row["bias"] is not None:
            print(f"  Bland–Altman {row['readers'][1]} − {row['readers'][0]}: bias {row['bias']:+.4f} "
                  f"(95% CI {row['bias_ci_low']:+.4f} to {row['bias_ci_high']:+.4f}), limits of agreement "
                  f"{row['loa_low']:+.4f} to {row['loa_high']:+.4f}")
    classes = res.get("classes")
    if classes and classes["n"]:
        kappa = "n/a" if classes["fleiss_kappa"] is None else f"{classes['fleiss_kappa']:.3f}"
        print(f"class flips at cut-off {res['model']['cutoff']:.3f}: {classes['n_flipped']} of {classes['n']} patients "
              f"({100 * classes['fraction_flipped']:.1f}%); Fleiss' kappa {kappa}")
    feats = sorted(res["features"], key=lambda r: (r["icc2_1"] is None, r["icc2_1"] or 0))
    if feats:
        below = sum(1 for r in feats if r["icc2_1"] is not None and r["icc2_1"] <= 0.80)
        print(f"model features: {len(feats)}, {below} with ICC(2,1) ≤ 0.80; lowest first:")
        for r in feats[:top]:
            print(f"  {str(r['feature'])[:36]:36s} ICC(2,1) {_ci(r, 'icc2_1')}  ICC(3,1) {_ci(r, 'icc3_1')}")
    dice = [c["mask_dice_mean"] for c in res["cases"] if "mask_dice_mean" in c]
    if dice:
        print(f"outlines: mean Dice between readers {np.mean(dice):.3f} (lowest case {min(dice):.3f})")
    for w in res["warnings"]:
        print(f"warning: {w}")
