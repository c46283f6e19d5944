"""Automated segmentation robustness: perturb each ROI, re-extract, keep features with high ICC.

The ultrasound study keeps only features with ICC > 0.80 between readers' segmentations. Without
a second reader, the same question — does a feature survive plausible changes of the outline? —
is asked of automatic perturbations of every subject's ROI, each perturbation acting as a "rater":

* ``original`` — the ROI as given;
* ``erode1`` / ``dilate1`` — one voxel less / more all round (in-plane only for a single slice);
* ``shift±x/±y/±z`` — the outline moved by one voxel (a small rigid shift of the contour over the
  image, as between two readers); only in-plane shifts for a single slice;
* ``growcut{i}`` — Slicer's grow-cut re-run with the subject's seed points jittered by
  ``jitter_mm`` (``alnpredictor.imaging.segment.segment``), when seeds are given.

Features are extracted with :mod:`alnpredictor.features.radiomics` (exact crop, parallel), ICC(3,1)
and ICC(2,1) per feature with :mod:`alnpredictor.stats.icc`, and the keep-list is the features
above the threshold. ICC needs several subjects: use at least ~20 for a stable keep-list.

Memory stays small: every subject is reduced to a sub-volume around the union of its perturbed
ROIs (plus the filters' support), and each axis that would be clipped by the image edge is kept
whole, so features equal those of the whole image.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import SimpleITK as sitk
from scipy import ndimage

from alnpredictor.errors import ALNPredictorError, InputError, MaskError
from alnpredictor.features import workers as _workers
from alnpredictor.features.crop import filter_support
from alnpredictor.features.params import ParamsInfo, load_params
from alnpredictor.features.radiomics import RoiJob, label_bbox, prepare_roi_job, run_roi_job
from alnpredictor.stats.icc import icc_from_raters, keep_features

log = logging.getLogger(__name__)


@dataclass
class RobustnessSubject:
    """One subject's image and ROI (and, for grow-cut perturbations, its seed points in RAS mm)."""

    case_id: str
    image: sitk.Image
    mask: sitk.Image
    label: int = 1
    seeds_ras: Sequence[Sequence[float]] | None = None
    background_ras: Sequence[Sequence[float]] | None = None
    structure: str = "tumor"


@dataclass
class RobustnessResult:
    """ICC table (one row per feature), the keep-list, and the ratings behind them."""

    table: pd.DataFrame
    keep: list[str]
    threshold: float
    kind: str
    ratings: dict[str, pd.DataFrame] = field(repr=False)
    failures: dict[str, dict[str, str]] = field(default_factory=dict)  # case -> perturbation -> error

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "threshold": self.threshold,
            "kind": self.kind,
            "n_features": int(len(self.table)),
            "n_kept": len(self.keep),
            "n_subjects": int(self.table["n_subjects"].max()) if len(self.table) else 0,
            "perturbations": list(self.ratings),
            "failures": self.failures,
        }


def _shift(arr: np.ndarray, shift_zyx: Sequence[int]) -> np.ndarray:
    """``arr`` moved by whole voxels (zeros enter at the edges)."""
    out = np.zeros_like(arr)
    src, dst = [], []
    for n, s in zip(arr.shape, shift_zyx):
        src.append(slice(max(0, -s), n - max(0, s)))
        dst.append(slice(max(0, s), n - max(0, -s)))
    out[tuple(dst)] = arr[tuple(src)]
    return out


def _structure(flat_axes: Sequence[int], ndim: int) -> np.ndarray:
    """6-/4-connected cross, not extending along ``flat_axes`` (one voxel all round)."""
    st = ndimage.generate_binary_structure(ndim, 1)
    for axis in flat_axes:
        index = [slice(None)] * ndim
        for side in (0, 2):
            index[axis] = side
            st[tuple(index)] = False
    return st


def geometric_perturbations(roi: np.ndarray, *, erode_dilate: bool = True, shifts: bool = True) -> dict[str, np.ndarray]:
    """Erosion, dilation and one-voxel shifts of a boolean ROI array (numpy order), same shape."""
    flat = [a for a, n in enumerate(roi.shape) if n == 1]
    out: dict[str, np.ndarray] = {"original": roi}
    if erode_dilate:
        st = _structure(flat, roi.ndim)
        out["erode1"] = ndimage.binary_erosion(roi, st)
        out["dilate1"] = ndimage.binary_dilation(roi, st)
    if shifts:
        names = "zyx"[-roi.ndim:]
        for axis in range(roi.ndim):
            if roi.shape[axis] == 1:
                continue
            for sign in (1, -1):
                s = [0] * roi.ndim
                s[axis] = sign
                out[f"shift{'+' if sign > 0 else '-'}{names[axis]}"] = _shift(roi, s)
    return out


def _max_support(info: ParamsInfo, ndim: int) -> int:
    reach = 1
    for t, args in info.image_types.items():
        merged = dict(info.settings)
        merged.update(args or {})
        sup = filter_support(t, merged, ndim)
        if sup.bounded:
            reach = max(reach, *sup.before, *sup.after)
    if info.settings.get("preCrop"):
        reach = max(reach, int(info.settings.get("padDistance", 5)))
    return reach


def _subject_jobs(
    subject: RobustnessSubject,
    info: ParamsInfo,
    *,
    erode_dilate: bool,
    shifts: bool,
    growcut_repeats: int,
    jitter_mm: float,
    rng: np.random.Generator,
    segment_fn: Callable[..., sitk.Image] | None,
    allow_border: bool,
) -> tuple[dict[str, RoiJob], dict[str, str]]:
    """Perturbed masks of one subject on a sub-volume, prepared as extraction jobs."""
    image, mask = subject.image, subject.mask
    if image.GetSize() != mask.GetSize():
        raise InputError(f"{subject.case_id}: mask size {mask.GetSize()} differs from image size {image.GetSize()}")
    arr = sitk.GetArrayViewFromImage(mask)
    found = label_bbox(arr, subject.label)
    if found is None:
        raise MaskError(f"{subject.case_id}: mask is empty for label {subject.label}")
    shape = arr.shape
    ndim = len(shape)
    pieces: dict[str, tuple[np.ndarray, tuple[int, ...]]] = {}  # name -> (bool array, start)
    # Geometric perturbations on the ROI box + 2 voxels (room for dilation and shifts).
    lo = np.maximum(np.asarray(found[0]) - 2, 0)
    hi = np.minimum(np.asarray(found[1]) + 3, shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
    roi = arr[box] == subject.label
    for name, m in geometric_perturbations(roi, erode_dilate=erode_dilate, shifts=shifts).items():
        pieces[name] = (m, tuple(int(v) for v in lo))
    failures: dict[str, str] = {}
    if growcut_repeats and subject.seeds_ras is not None:
        if segment_fn is None:
            from alnpredictor.imaging.segment import segment as segment_fn
        seeds = np.asarray(subject.seeds_ras, dtype=float).reshape(-1, 3)
        for i in range(growcut_repeats):
            name = f"growcut{i + 1}"
            jittered = seeds + rng.normal(0.0, jitter_mm, seeds.shape)
            if ndim == 3 and shape[0] == 1:
                jittered[:, 2] = seeds[:, 2]  # a single slice: jitter in-plane only
            try:
                grown = segment_fn(image, jittered.tolist(), subject.background_ras, structure=subject.structure)
            except ALNPredictorError as exc:
                failures[name] = str(exc)
                continue
            g = sitk.GetArrayViewFromImage(grown) != 0
            gb = label_bbox(g.view(np.uint8), 1)
            if gb is None:
                failures[name] = "grow-cut gave an empty mask"
                continue
            glo, ghi = np.asarray(gb[0]), np.asarray(gb[1]) + 1
            pieces[name] = (np.array(g[tuple(slice(int(a), int(b)) for a, b in zip(glo, ghi))]), tuple(int(v) for v in glo))
    # Sub-volume: union of all pieces + filter support + 2; an axis that would be clipped is kept whole.
    margin = _max_support(info, ndim) + 2
    ulo = np.min([p[1] for p in pieces.values()], axis=0) - margin
    uhi = np.max([np.asarray(p[1]) + p[0].shape for p in pieces.values()], axis=0) + margin
    start = np.where(ulo < 0, 0, ulo)
    stop = np.where(uhi > np.asarray(shape), np.asarray(shape), uhi)
    start = np.where((ulo < 0) | (uhi > np.asarray(shape)), 0, start)
    stop = np.where((ulo < 0) | (uhi > np.asarray(shape)), np.asarray(shape), stop)
    sub = tuple(slice(int(a), int(b)) for a, b in zip(start, stop))
    sub_image = sitk.GetImageFromArray(np.ascontiguousarray(sitk.GetArrayViewFromImage(image)[sub]))
    origin = image.TransformIndexToPhysicalPoint([int(v) for v in start[::-1]])
    sub_image.SetSpacing(image.GetSpacing())
    sub_image.SetOrigin(origin)
    sub_image.SetDirection(image.GetDirection())
    jobs: dict[str, RoiJob] = {}
    for name, (m, mstart) in pieces.items():
        canvas = np.zeros(tuple(int(b - a) for a, b in zip(start, stop)), np.uint8)
        at = tuple(slice(int(p - s), int(p - s) + n) for p, s, n in zip(mstart, start, m.shape))
        canvas[at] = m
        pm = sitk.GetImageFromArray(canvas)
        pm.CopyInformation(sub_image)
        try:
            jobs[name] = prepare_roi_job(sub_image, pm, info, label=1, allow_border=allow_border,
                                         name=f"{subject.case_id} {name}")
        except ALNPredictorError as exc:
            failures[name] = str(exc)
    return jobs, failures


def robustness_icc(
    subjects: Sequence[RobustnessSubject],
    params: ParamsInfo | str | Path | Mapping[str, Any],
    *,
    threshold: float = 0.8,
    kind: str = "icc3_1",
    erode_dilate: bool = True,
    shifts: bool = True,
    growcut_repeats: int = 3,
    jitter_mm: float = 1.5,
    seed: int = 0,
    workers: int | None = None,
    allow_border: bool = False,
    segment_fn: Callable[..., sitk.Image] | None = None,
) -> RobustnessResult:
    """Perturb every subject's ROI, extract features for each perturbation, ICC per feature.

    :param subjects: the subjects (≥ 2; ~20 or more for a stable keep-list).
    :param params: PyRadiomics parameter file name/path/dict.
    :param threshold: keep features with ICC strictly above this (the study: 0.80).
    :param kind: ``"icc3_1"`` (consistency, default) or ``"icc2_1"`` (absolute agreement), or
        their ``_ci_low`` to require the lower confidence bound above the threshold.
    :param erode_dilate: include one-voxel erosion/dilation.
    :param shifts: include one-voxel shifts along each axis.
    :param growcut_repeats: grow-cut re-runs with jittered seeds (subjects with ``seeds_ras``).
    :param jitter_mm: standard deviation of the seed jitter (mm, per coordinate).
    :param seed: random seed of the jitter.
    :param workers: extraction processes (see :func:`~alnpredictor.features.radiomics.extract_case`).
    :param allow_border: accept perturbed ROIs touching the image border.
    :param segment_fn: replacement for ``alnpredictor.imaging.segment.segment`` (same signature).
    :returns: :class:`RobustnessResult`. A perturbation that fails for a subject (e.g. erosion
        removes a tiny node) leaves that subject out of the ICC (listwise), recorded in ``failures``.
    """
    info = load_params(params)
    if len(subjects) < 2:
        raise InputError("robustness ICC needs at least 2 subjects (ICC compares between-subject variance)")
    rng = np.random.default_rng(seed)
    all_jobs: list[tuple[str, str, RoiJob]] = []
    failures: dict[str, dict[str, str]] = {}
    for subject in subjects:
        jobs, failed = _subject_jobs(subject, info, erode_dilate=erode_dilate, shifts=shifts,
                                     growcut_repeats=growcut_repeats, jitter_mm=jitter_mm, rng=rng,
                                     segment_fn=segment_fn, allow_border=allow_border)
        all_jobs += [(subject.case_id, name, job) for name, job in jobs.items()]
        if failed:
            failures[subject.case_id] = failed
    n_workers = _workers.default_workers(len(all_jobs)) if workers is None else max(1, int(workers))
    results: dict[tuple[str, str], dict[str, float]] = {}
    if n_workers > 1 and len(all_jobs) > 1:
        pool = _workers.get_pool(n_workers)
        futures = {(c, n): pool.submit(run_roi_job, job) for c, n, job in all_jobs}
        for key, fut in futures.items():
            try:
                results[key] = fut.result().features
            except ALNPredictorError as exc:
                failures.setdefault(key[0], {})[key[1]] = str(exc)
    else:
        for c, n, job in all_jobs:
            try:
                results[(c, n)] = run_roi_job(job).features
            except ALNPredictorError as exc:
                failures.setdefault(c, {})[n] = str(exc)
    names = sorted({n for _, n in results}, key=lambda n: (n != "original", n))
    cases = [s.case_id for s in subjects]
    columns = next(iter(results.values())).keys() if results else []
    ratings = {
        n: pd.DataFrame([results.get((c, n), {k: math.nan for k in columns}) for c in cases], index=cases,
                        columns=list(columns))
        for n in names
    }
    table = icc_from_raters(ratings)
    return RobustnessResult(table, keep_features(table, threshold, kind), threshold, kind, ratings, failures)
