"""MRI radiomics: PyRadiomics features per ROI × sequence, bit-identical to the plain extractor.

The MRI study extracts PyRadiomics original + wavelet features for two ROIs (``T`` tumour, ``L``
axillary nodes) on three sequences (``T1C``, ``T2``, ``ADC``) after N4: 851 values per
ROI × sequence, one row per patient named ``{ROI}{SEQ}_{pyradiomics name}``
(``TT1C_original_firstorder_Mean``, ``LADC_wavelet-HHH_glszm_ZoneEntropy``).

Speed without changing a value: each image is cropped to the ROI's bounding box padded by the
support of the enabled filters (:mod:`alnpredictor.features.crop`) and the unchanged
``RadiomicsFeatureExtractor.execute`` runs on the crop. Filters whose support cannot be bounded
run on the whole image. The six extractions of a case run in parallel processes
(:mod:`alnpredictor.features.workers`).

Public API:

* :func:`load_params` — parameter file → :class:`~alnpredictor.features.params.ParamsInfo`.
* :func:`extract_roi` — one image + mask → (features, diagnostics).
* :func:`extract_case` — all ROIs × sequences of a patient → :class:`CaseFeatures`.

Diagnostics are PyRadiomics' own ``diagnostics_*`` entries with the values PyRadiomics gives for
the whole image (index-based entries are translated back from the crop), plus ``alnpredictor_*``
entries (crop plan, seconds, worker memory). With ``diagnostics="fast"`` (default) the two SHA-1
entries ``diagnostics_Image-original_Hash`` and ``diagnostics_Mask-original_Hash`` are left out:
they cost a pass over every full volume. ``diagnostics="full"`` computes them (same values as
PyRadiomics).

Bad input raises named errors before PyRadiomics sees it: :class:`~alnpredictor.errors.MaskError`
(empty mask / label absent, ROI of one voxel or too few dimensions or voxels, ROI touching the
image border unless ``allow_border=True``, ROI outside the image), :class:`GeometryError`
(size/spacing/origin/direction mismatch, or an impossible geometry: non-finite origin, spacing
outside 1 µm … 10 cm, a sheared direction), :class:`InputError` (not an image, wrong dimension; a
single-slice 3-D image without ``force2D``, whose 3-D shape would assume a 1 mm slab; NaN/infinite
voxels, counted inside the ROI, checked in :func:`extract_case` before N4 spreads them; a constant
image — decision: texture is undefined, so it is refused rather than given degenerate values).
In :func:`extract_case`, ``on_roi_error="nan"`` turns such a ROI's features into NaN (with the
reason in ``CaseFeatures.errors``) instead of failing the case — e.g. a patient without any visible
axillary node. Features PyRadiomics itself returns as NaN (degenerate matrices) are passed through.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from alnpredictor import study
from alnpredictor.errors import ALNPredictorError, FeatureError, GeometryError, InputError, MaskError
from alnpredictor.features import workers as _workers
from alnpredictor.features.crop import CropPlan, plan_crop
from alnpredictor.features.params import ParamsInfo, load_params
from alnpredictor.imaging.io import (
    ImageDimensionError,
    check_geometry,
    check_not_constant,
    check_voxels,
)
from alnpredictor.runtime import peak_rss_mb
from alnpredictor.settings import MRI_PARAMS

__all__ = [
    "CaseFeatures",
    "ParamsInfo",
    "extract_case",
    "extract_roi",
    "feature_names",
    "load_params",
    "shutdown_workers",
]

log = logging.getLogger(__name__)


shutdown_workers = _workers.shutdown_workers

_SHAPE_CLASSES = ("shape", "shape2D")
_BROKEN_POOL = (
    "a radiomics worker process died: out of memory, or the calling script lacks the "
    "`if __name__ == '__main__':` guard that Python's multiprocessing needs. Fix that, or pass workers=1"
)
_DIAG_PREFIX = "diagnostics_"
_OWN_PREFIX = "alnpredictor_"


class _SumAverageNotice(logging.Filter):
    """Drops PyRadiomics' per-image notice that Sum Average = 2 × Joint Average for a symmetrical GLCM.

    The study's settings (all GLCM features, symmetrical GLCM) trigger it for every filtered image of
    every ROI — 54 identical warnings per patient that say nothing about the input."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "only 1 needs to be calculated" not in str(record.msg)


if not any(isinstance(f, _SumAverageNotice) for f in logging.getLogger("radiomics.glcm").filters):
    logging.getLogger("radiomics.glcm").addFilter(_SumAverageNotice())


# ---------------------------------------------------------------------------------------------
# Arrays <-> images (jobs cross process boundaries as plain arrays + geometry)
# ---------------------------------------------------------------------------------------------
@dataclass
class _Volume:
    """An image as a numpy array (numpy axis order) with its geometry."""

    array: np.ndarray
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: tuple[float, ...]

    def to_sitk(self) -> sitk.Image:
        image = sitk.GetImageFromArray(self.array)
        image.SetSpacing(self.spacing)
        image.SetOrigin(self.origin)
        image.SetDirection(self.direction)
        return image


def _crop_volume(image: sitk.Image, slices: tuple[slice, ...], origin: tuple[float, ...] | None = None) -> _Volume:
    view = sitk.GetArrayViewFromImage(image)
    start = [s.start for s in slices][::-1]  # sitk index order (x, y, z)
    if origin is None:
        origin = image.TransformIndexToPhysicalPoint([int(i) for i in start])
    return _Volume(np.ascontiguousarray(view[slices]), image.GetSpacing(), tuple(origin), image.GetDirection())


def _whole_volume(image: sitk.Image) -> _Volume:
    return _Volume(sitk.GetArrayFromImage(image), image.GetSpacing(), image.GetOrigin(), image.GetDirection())


# ---------------------------------------------------------------------------------------------
# Validation: named errors before PyRadiomics sees the input
# ---------------------------------------------------------------------------------------------
@dataclass
class _Region:
    label: int
    bbox_lo: tuple[int, ...]  # numpy order, inclusive
    bbox_hi: tuple[int, ...]
    voxels: int
    geometry_mismatch: list[str]


def _geometry_mismatch(image: sitk.Image, mask: sitk.Image, settings: dict[str, Any]) -> list[str]:
    """Differences ITK's own check (ImageToImageFilter::VerifyInputInformation) would reject."""
    tol = settings.get("geometryTolerance")
    coord_tol = float(tol) if tol is not None else sitk.ProcessObject.GetGlobalDefaultCoordinateTolerance()
    dir_tol = float(tol) if tol is not None else sitk.ProcessObject.GetGlobalDefaultDirectionTolerance()
    coord_tol = abs(coord_tol * image.GetSpacing()[0])
    out = []
    for what, a, b, t in (
        ("origin", image.GetOrigin(), mask.GetOrigin(), coord_tol),
        ("spacing", image.GetSpacing(), mask.GetSpacing(), coord_tol),
        ("direction", image.GetDirection(), mask.GetDirection(), dir_tol),
    ):
        if np.max(np.abs(np.subtract(a, b))) > t:
            out.append(f"{what} {tuple(round(v, 6) for v in a)} (image) vs {tuple(round(v, 6) for v in b)} (mask)")
    return out


def _scalar_mask(mask: sitk.Image, settings: dict[str, Any], name: str) -> sitk.Image:
    """Select ``label_channel`` of a multi-component segmentation, as PyRadiomics' getMask does."""
    n = mask.GetNumberOfComponentsPerPixel()
    if n == 1:
        return mask
    channel = int(settings.get("label_channel", 0))
    if channel >= n:
        raise MaskError(f"{name}: mask has {n} layers but label_channel is {channel}; choose 0..{n - 1}")
    return sitk.VectorIndexSelectionCast(mask, channel)


def label_bbox(arr: np.ndarray, label: int) -> tuple[tuple[int, ...], tuple[int, ...], int] | None:
    """Inclusive bounding box (numpy order) and voxel count of ``label``, slab by slab (no full-size temporaries).

    Compares as PyRadiomics does: after casting the mask to UInt32."""
    float_mask = arr.dtype.kind == "f"
    step = max(1, (1 << 22) // max(1, arr[0].size)) if arr.ndim > 1 else arr.shape[0]
    lo = hi = None
    voxels = 0
    for k in range(0, arr.shape[0], step):
        slab = arr[k:k + step]
        hit = (slab.astype(np.uint32) == label) if float_mask else (slab == label)
        n = int(np.count_nonzero(hit))
        if n == 0:
            continue
        voxels += n
        idx = [np.flatnonzero(hit.any(axis=tuple(a for a in range(hit.ndim) if a != axis))) for axis in range(hit.ndim)]
        s_lo = np.array([i[0] for i in idx]) + np.eye(hit.ndim, dtype=int)[0] * k
        s_hi = np.array([i[-1] for i in idx]) + np.eye(hit.ndim, dtype=int)[0] * k
        lo = s_lo if lo is None else np.minimum(lo, s_lo)
        hi = s_hi if hi is None else np.maximum(hi, s_hi)
    if lo is None:
        return None
    return tuple(int(v) for v in lo), tuple(int(v) for v in hi), voxels


def label_mask(arr: np.ndarray, label: int) -> np.ndarray:
    """Boolean ROI of ``label`` compared as PyRadiomics does (float masks cast to UInt32)."""
    return (arr.astype(np.uint32) == label) if arr.dtype.kind == "f" else (arr == label)


def check_image(image: sitk.Image, settings: Mapping[str, Any], name: str) -> None:
    """What every extraction refuses in an image, whatever its mask (named errors, never wrong features):

    * impossible geometry (:func:`alnpredictor.imaging.io.check_geometry`);
    * a single-slice 3-D image without ``force2D``: 3-D shape and texture would treat the slice as
      a 1 mm thick slab (a 2-D frame read as a volume) — :class:`ImageDimensionError`;
    * a constant image: texture is undefined (decision: refused, never a row of degenerate values) —
      :class:`ConstantImageError`.

    NaN/infinite voxels are refused by :func:`_check_inputs` (it knows the ROI) and by
    :func:`extract_case` before N4.
    """
    check_geometry(image, f"{name}: image")
    size = image.GetSize()
    if image.GetDimension() == 3 and 1 in size and not settings.get("force2D", False):
        raise ImageDimensionError(
            f"{name}: the image is a single 2-D slice (size {size[0]}x{size[1]}x{size[2]}): 3-D features would treat "
            "it as a slab 1 mm (or one slice spacing) thick, so volume and shape are wrong. Give the 3-D volume, or "
            "use the ultrasound pathway (--pathway us) / a parameter file with 'force2D: true' for a 2-D frame"
        )
    check_not_constant(image, f"{name}: image", use="measure (texture is undefined)")


def _check_inputs(image: Any, mask: Any, settings: dict[str, Any], label: int, name: str,
                  allow_border: bool) -> _Region:
    if not isinstance(image, sitk.Image) or not isinstance(mask, sitk.Image):
        raise InputError(f"{name}: image and mask must be SimpleITK images (read files with alnpredictor.imaging.io)")
    if image.GetDimension() not in (2, 3):
        raise InputError(f"{name}: image is {image.GetDimension()}-D; PyRadiomics needs a 2-D or 3-D image")
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(f"{name}: image has {image.GetNumberOfComponentsPerPixel()} components; convert it to "
                         "one grey-level channel first")
    check_image(image, settings, name)
    check_geometry(mask, f"{name}: mask")
    if mask.GetDimension() != image.GetDimension() or mask.GetSize() != image.GetSize():
        raise GeometryError(
            f"{name}: mask size {mask.GetSize()} differs from image size {image.GetSize()}: the mask was drawn on "
            "another image. Resample it onto this image first (alnpredictor propagate)"
        )
    mismatch = _geometry_mismatch(image, mask, settings)
    if mismatch and not settings.get("correctMask", False):
        raise GeometryError(
            f"{name}: mask and image are not on the same grid ({'; '.join(mismatch)}). Resample the mask onto the "
            "image (alnpredictor propagate), or set 'correctMask: true' (or a larger 'geometryTolerance') in the "
            "parameter file"
        )
    arr = sitk.GetArrayViewFromImage(mask)
    if mismatch:
        # correctMask: PyRadiomics resamples the mask onto the image; the ROI must lie inside the image.
        from radiomics import imageoperations

        try:
            imageoperations._checkROI(image, mask, label=label)
        except ValueError as exc:
            raise MaskError(f"{name}: the ROI lies (partly) outside the image: {exc}. Check that the mask belongs "
                            "to this image") from exc
    found = label_bbox(arr, label)
    if found is None:
        present = [v.item() for v in np.unique(arr) if v != 0][:10]
        raise MaskError(
            f"{name}: mask is empty for label {label} (labels present: {present or 'none'}). Draw or grow the ROI "
            "first, or set the label that marks it"
        )
    lo, hi, voxels = found
    check_voxels(image, f"{name}: image", roi=lambda: label_mask(arr, label))
    extent = np.subtract(hi, lo) + 1
    ndims = int(np.sum(extent > 1))
    min_dims = int(settings.get("minimumROIDimensions", 2))
    if ndims == 0:
        raise MaskError(f"{name}: the ROI is a single voxel; texture features need a region. Draw or grow the ROI")
    if ndims < min_dims:
        raise MaskError(
            f"{name}: the ROI spans {ndims} dimension(s) (extent {tuple(int(e) for e in extent[::-1])} voxels, x y z) "
            f"but the parameter file requires minimumROIDimensions={min_dims}. Extend the ROI over more slices/rows"
        )
    min_size = settings.get("minimumROISize")
    if min_size is not None and voxels <= int(min_size):
        raise MaskError(f"{name}: the ROI has {voxels} voxels, not more than minimumROISize={min_size}")
    if not allow_border:
        shape = arr.shape
        touching = [
            "xyz"[len(shape) - 1 - axis] if len(shape) == 3 else "xy"[len(shape) - 1 - axis]
            for axis in range(len(shape))
            if shape[axis] > 1 and (lo[axis] == 0 or hi[axis] == shape[axis] - 1)
        ]
        if touching:
            raise MaskError(
                f"{name}: the ROI touches the image border along {', '.join(touching)}: the structure is probably cut "
                "off by the field of view, and the wavelet would wrap around to the opposite edge. Use an image that "
                "contains the whole structure, or pass allow_border=True (--allow-border) to accept it"
            )
    return _Region(label, lo, hi, voxels, mismatch)


# ---------------------------------------------------------------------------------------------
# Whole-image diagnostics (PyRadiomics' values, computed without PyRadiomics' full copies)
# ---------------------------------------------------------------------------------------------
_PW_LEAF = 1 << 20


def _pairwise_sum(flat: np.ndarray, start: int, n: int) -> float:
    """``numpy.sum(flat[start:start+n].astype(float))`` in numpy's own pairwise order, chunk by chunk."""
    if n <= _PW_LEAF:
        return np.add.reduce(flat[start:start + n].astype(np.float64))
    half = n // 2
    half -= half % 8  # numpy's pairwise_sum splits at n/2 rounded down to a multiple of 8
    return _pairwise_sum(flat, start, half) + _pairwise_sum(flat, start + half, n - half)


def image_diagnostics(image: sitk.Image, *, with_hash: bool = False) -> dict[str, Any]:
    """PyRadiomics' ``diagnostics_Image-original_*`` values for a whole image.

    Mean/minimum/maximum equal PyRadiomics' ``numpy.mean(array.astype(float))`` bit for bit
    (numpy's pairwise summation is replayed chunk by chunk, without a float64 copy of the volume);
    the SHA-1 hash (``with_hash``) equals ``sitk.Hash`` and is computed with hashlib (faster).
    """
    view = sitk.GetArrayViewFromImage(image)
    flat = view.reshape(-1)
    out: dict[str, Any] = {}
    if with_hash:
        out["diagnostics_Image-original_Hash"] = hashlib.sha1(np.ascontiguousarray(view)).hexdigest()
    out["diagnostics_Image-original_Size"] = image.GetSize()
    out["diagnostics_Image-original_Mean"] = np.float64(_pairwise_sum(flat, 0, flat.size) / flat.size)
    out["diagnostics_Image-original_Minimum"] = np.float64(np.min(view))
    out["diagnostics_Image-original_Maximum"] = np.float64(np.max(view))
    return out


def mask_hash(mask: sitk.Image) -> str:
    """SHA-1 of the mask as PyRadiomics hashes it (after its cast to UInt32), in slabs."""
    view = sitk.GetArrayViewFromImage(mask)
    digest = hashlib.sha1()
    step = max(1, (1 << 22) // max(1, view[0].size)) if view.ndim > 1 else view.size
    for k in range(0, view.shape[0], step):
        digest.update(np.ascontiguousarray(view[k:k + step]).astype(np.uint32))
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# One ROI job (runs in a worker process or in-process)
# ---------------------------------------------------------------------------------------------
@dataclass
class RoiJob:
    """Everything one extraction needs, picklable (arrays, not SimpleITK images)."""

    name: str
    params: ParamsInfo
    label: int
    plan: CropPlan
    image: _Volume  # the crop (or the whole image when plan.whole_image)
    mask: _Volume
    full_image: _Volume | None = None  # for image types that must see the whole image
    full_mask: _Volume | None = None
    prenormalized: bool = False
    full_size: tuple[int, ...] = ()  # sitk order
    mask_geometry: tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]] = ((), (), ())
    roi_voxels: int = 0


@dataclass
class RoiResult:
    """Output of :func:`run_roi_job`."""

    name: str
    features: dict[str, float]
    diagnostics: dict[str, Any]
    seconds: float
    peak_rss_mb: float


_EXTRACTORS: dict[tuple, Any] = {}


def _extractor(params: ParamsInfo, image_types: tuple[str, ...] | None, shape: bool, overrides: tuple):
    """Cached extractor for a subset of image types (None: all), with/without shape classes."""
    key = (params.sha256, image_types, shape, overrides)
    ex = _EXTRACTORS.get(key)
    if ex is None:
        from radiomics import featureextractor, getFeatureClasses

        data = {k: v for k, v in params.params.items()}
        if image_types is not None:
            all_types = params.image_types
            data["imageType"] = {t: all_types[t] for t in image_types}
        if not shape:
            classes = data.get("featureClass") or {c: None for c in getFeatureClasses()}
            data["featureClass"] = {c: v for c, v in classes.items() if c not in _SHAPE_CLASSES}
        ex = featureextractor.RadiomicsFeatureExtractor(data, **dict(overrides))
        if len(_EXTRACTORS) > 32:
            _EXTRACTORS.clear()
        _EXTRACTORS[key] = ex
    return ex


def _as_float(value: Any) -> float:
    """A feature value as float. GLCM's MCC can come out complex (square root of an eigenvalue that
    rounding made slightly negative): the real part is kept, as ``float()`` would, without warning."""
    return float(np.real(value))


def _image_type_of(feature_key: str) -> str:
    prefix = feature_key.split("_", 1)[0]
    for start, name in (
        ("original", "Original"), ("wavelet", "Wavelet"), ("log-sigma", "LoG"), ("squareroot", "SquareRoot"),
        ("square", "Square"), ("logarithm", "Logarithm"), ("exponential", "Exponential"),
        ("gradient", "Gradient"), ("lbp-2D", "LBP2D"), ("lbp-3D", "LBP3D"),
    ):
        if prefix.startswith(start):
            return name
    return prefix


def _is_shape(feature_key: str) -> bool:
    parts = feature_key.split("_")
    return len(parts) > 2 and parts[0] == "original" and parts[1] in _SHAPE_CLASSES


def _mask_diag_entries(mask_arr: np.ndarray, label: int, offset: np.ndarray, full_size: tuple[int, ...],
                       geometry: tuple, prefix: str) -> dict[str, Any]:
    """Index-based ``diagnostics_Mask-<prefix>_*`` entries of a cropped mask, in whole-image indices.

    Coordinates are shifted before averaging, so the centre of mass equals PyRadiomics' value on the
    whole mask bit for bit (same integers, same order).
    """
    roi = (mask_arr.astype(np.uint32) == label) if mask_arr.dtype.kind == "f" else (mask_arr == label)
    coords = np.array(np.where(roi)) + offset[:, None]
    lo = coords.min(axis=1)[::-1]
    size = (coords.max(axis=1) - coords.min(axis=1) + 1)[::-1]
    centre = tuple(np.mean(coords, axis=1)[::-1])
    ref = sitk.Image([1] * len(full_size), sitk.sitkUInt8)
    spacing, origin, direction = geometry
    ref.SetSpacing(spacing)
    ref.SetOrigin(origin)
    ref.SetDirection(direction)
    base = f"{_DIAG_PREFIX}Mask-{prefix}_"
    return {
        base + "Size": tuple(full_size),
        base + "BoundingBox": tuple(int(v) for v in lo) + tuple(int(v) for v in size),
        base + "CenterOfMassIndex": centre,
        base + "CenterOfMass": ref.TransformContinuousIndexToPhysicalPoint(centre),
    }


def run_roi_job(job: RoiJob) -> RoiResult:
    """Extract one ROI (top-level: runs in worker processes). Raises ALNPredictorError subclasses only."""
    t0 = time.perf_counter()
    c0 = time.process_time()
    try:
        result = _run_roi_job(job, t0)
        result.diagnostics[f"{_OWN_PREFIX}cpu_seconds"] = round(time.process_time() - c0, 4)
        return result
    except ALNPredictorError:
        raise
    except Exception as exc:  # PyRadiomics raises bare ValueError/RuntimeError/AssertionError
        raise FeatureError(f"{job.name}: PyRadiomics failed: {type(exc).__name__}: {exc}") from None


def _run_roi_job(job: RoiJob, t0: float) -> RoiResult:
    plan = job.plan
    image, mask = job.image.to_sitk(), job.mask.to_sitk()
    overrides = (("normalize", False),) if job.prenormalized else ()
    all_types = tuple(job.params.image_types)
    if plan.whole_image or not plan.cropped_types:
        ex = _extractor(job.params, None, True, ())
        result = ex.execute(image, mask, label=job.label)
        cropped_result, full_result = result, None
    else:
        ex = _extractor(job.params, plan.cropped_types, True, overrides)
        cropped_result = ex.execute(image, mask, label=job.label)
        full_result = None
        if plan.full_types:
            fex = _extractor(job.params, plan.full_types, False, overrides)
            if fex.enabledFeatures:
                full_result = fex.execute(job.full_image.to_sitk(), job.full_mask.to_sitk(), label=job.label)

    # Features in PyRadiomics' order: shape first, then image types in the parameter file's order.
    by_type: dict[str, dict[str, float]] = {}
    features: dict[str, float] = {}
    diagnostics: dict[str, Any] = {}
    for source in (cropped_result, full_result):
        if source is None:
            continue
        for key, value in source.items():
            if key.startswith(_DIAG_PREFIX):
                if source is cropped_result:
                    diagnostics[key] = value
            elif _is_shape(key):
                features[key] = _as_float(value)
            else:
                by_type.setdefault(_image_type_of(key), {})[key] = _as_float(value)
    for t in all_types:
        features.update(by_type.pop(t, {}))
    for rest in by_type.values():
        features.update(rest)

    cropped = not plan.whole_image and bool(plan.cropped_types)
    if cropped and diagnostics:
        plain = _extractor(job.params, None, True, ())
        settings = plain.settings.copy()
        settings["label"] = job.label
        diagnostics[f"{_DIAG_PREFIX}Configuration_Settings"] = settings
        diagnostics[f"{_DIAG_PREFIX}Configuration_EnabledImageTypes"] = plain.enabledImagetypes
        offset = np.asarray(plan.start)
        diagnostics.pop(f"{_DIAG_PREFIX}Image-original_Hash", None)
        diagnostics.pop(f"{_DIAG_PREFIX}Mask-original_Hash", None)
        diagnostics.update(_mask_diag_entries(job.mask.array, job.label, offset, job.full_size, job.mask_geometry,
                                              "original"))
        if f"{_DIAG_PREFIX}Mask-resegmented_BoundingBox" in diagnostics:
            from radiomics import imageoperations

            # Re-derive the resegmented mask on the crop (same voxels) to report it in whole-image indices.
            reseg = imageoperations.resegmentMask(image, sitk.Cast(mask, sitk.sitkUInt32), **settings)
            diagnostics.update(_mask_diag_entries(sitk.GetArrayViewFromImage(reseg), job.label, offset,
                                                  job.full_size, job.mask_geometry, "resegmented"))
    peak = peak_rss_mb()
    seconds = time.perf_counter() - t0
    diagnostics[f"{_OWN_PREFIX}crop"] = plan.describe()
    diagnostics[f"{_OWN_PREFIX}crop_start_zyx"] = tuple(plan.start)
    diagnostics[f"{_OWN_PREFIX}crop_shape_zyx"] = tuple(plan.shape)
    diagnostics[f"{_OWN_PREFIX}whole_image_types"] = tuple(plan.full_types)
    diagnostics[f"{_OWN_PREFIX}seconds"] = round(seconds, 4)
    diagnostics[f"{_OWN_PREFIX}process_peak_rss_mb"] = round(peak, 1)
    return RoiResult(job.name, features, diagnostics, seconds, peak)


# ---------------------------------------------------------------------------------------------
# Preparing jobs (parent side)
# ---------------------------------------------------------------------------------------------
def prepare_roi_job(
    image: sitk.Image,
    mask: sitk.Image,
    params: ParamsInfo | str | Path | Mapping[str, Any],
    *,
    crop: bool = True,
    label: int | None = None,
    allow_border: bool = False,
    name: str = "ROI",
    normalized_image: sitk.Image | None = None,
) -> RoiJob:
    """Validate one image/mask pair and cut the crop a worker needs (see :func:`extract_roi`)."""
    info = load_params(params)
    settings = info.settings
    label = int(settings.get("label", 1) if label is None else label)
    if isinstance(mask, sitk.Image):
        mask = _scalar_mask(mask, settings, name)
    region = _check_inputs(image, mask, settings, label, name, allow_border)
    shape = tuple(reversed(image.GetSize()))
    whole = ["the mask is resampled onto the image (correctMask)"] if region.geometry_mismatch else []
    plan = plan_crop(shape, region.bbox_lo, region.bbox_hi, info.image_types, settings, enabled=crop,
                     whole_reasons=whole)
    prenormalize = bool(settings.get("normalize", False)) and not plan.whole_image
    common = dict(name=name, params=info, label=label, plan=plan, full_size=image.GetSize(), roi_voxels=region.voxels,
                  mask_geometry=(mask.GetSpacing(), mask.GetOrigin(), mask.GetDirection()))
    if plan.whole_image:
        return RoiJob(image=_whole_volume(image), mask=_whole_volume(mask), **common)
    source = image
    if prenormalize:
        # Whole-image statistics: normalise the whole volume exactly as PyRadiomics does, then crop it.
        from radiomics import imageoperations

        source = normalized_image if normalized_image is not None else imageoperations.normalizeImage(image, **settings)
    crop_image = _crop_volume(source, plan.slices)
    # The mask crop gets the image crop's origin: both were accepted as one grid (within tolerance).
    crop_mask = _crop_volume(mask, plan.slices, origin=crop_image.origin)
    full_image = full_mask = None
    if plan.full_types:
        full_image, full_mask = _whole_volume(source), _whole_volume(mask)
        full_mask.origin = full_image.origin
    return RoiJob(image=crop_image, mask=crop_mask, full_image=full_image, full_mask=full_mask,
                  prenormalized=prenormalize, **common)


def _finish_diagnostics(result: RoiResult, job: RoiJob, image_diag: dict[str, Any] | None,
                        mask_sha1: str | None) -> dict[str, Any]:
    """Put the parent's whole-image entries into a cropped job's diagnostics (keeping their order)."""
    diag = result.diagnostics
    if job.plan.whole_image or not job.plan.cropped_types:
        return diag
    out: dict[str, Any] = {}
    for key, value in diag.items():
        if key == f"{_DIAG_PREFIX}Image-original_Dimensionality" and image_diag and \
                f"{_DIAG_PREFIX}Image-original_Hash" in image_diag:
            out[f"{_DIAG_PREFIX}Image-original_Hash"] = image_diag[f"{_DIAG_PREFIX}Image-original_Hash"]
        if key == f"{_DIAG_PREFIX}Mask-original_Spacing" and mask_sha1:
            out[f"{_DIAG_PREFIX}Mask-original_Hash"] = mask_sha1
        out[key] = image_diag.get(key, value) if image_diag else value
    return out


def extract_roi(
    image: sitk.Image,
    mask: sitk.Image,
    params: ParamsInfo | str | Path | Mapping[str, Any],
    *,
    crop: bool = True,
    label: int | None = None,
    allow_border: bool = False,
    diagnostics: str = "fast",
    name: str = "ROI",
) -> tuple[dict[str, float], dict[str, object]]:
    """PyRadiomics features of one ROI on one image, equal to the plain extractor's.

    :param image: scalar 2-D/3-D image (LPS geometry).
    :param mask: label map on the image's grid (any integer/float pixel type, or a multi-layer
        segmentation: ``label_channel`` selects the layer).
    :param params: parameter file path/name, dict or :class:`ParamsInfo`.
    :param crop: crop to the ROI plus the filters' support (exact); ``False`` runs the plain extractor.
    :param label: label value of the ROI (default: the parameter file's ``label``, else 1).
    :param allow_border: accept a ROI touching the image border (default: :class:`MaskError`).
    :param diagnostics: ``"fast"`` (no SHA-1 hashes of the whole volumes) or ``"full"``.
    :param name: how errors name this input (e.g. ``"ROI T on T1C"``).
    :returns: ``(features, diagnostics)``; features are floats keyed by PyRadiomics' names.
    """
    job = prepare_roi_job(image, mask, params, crop=crop, label=label, allow_border=allow_border, name=name)
    result = run_roi_job(job)
    full = diagnostics == "full"
    image_diag = image_diagnostics(image, with_hash=full) if not job.plan.whole_image else None
    sha = mask_hash(_scalar_mask(mask, job.params.settings, name)) if full and not job.plan.whole_image else None
    return result.features, _finish_diagnostics(result, job, image_diag, sha)


# ---------------------------------------------------------------------------------------------
# One case: ROIs x sequences in parallel
# ---------------------------------------------------------------------------------------------
@dataclass
class CaseFeatures:
    """One patient's radiomics row, with diagnostics and provenance kept apart.

    :ivar features: ``{ROI}{SEQ}_{name}`` → value, ROI×sequence blocks in canonical order
        (T before L; T1C, T2, ADC), PyRadiomics' order inside a block.
    :ivar diagnostics: ``"{ROI}{SEQ}"`` → that extraction's diagnostics.
    :ivar provenance: parameter file name/path/SHA-256, PyRadiomics and library versions, N4, crop mode.
    :ivar errors: ``"{ROI}{SEQ}"`` → error message for blocks filled with NaN (``on_roi_error="nan"``).
    :ivar seconds: wall time of :func:`extract_case`.
    """

    features: dict[str, float]
    diagnostics: dict[str, dict[str, Any]]
    provenance: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def row(self, case_id: str | None = None) -> dict[str, Any]:
        """The feature row (``case_id`` first when given)."""
        return ({"case_id": case_id} if case_id is not None else {}) | self.features


def _normalise_mask_key(key: Any) -> tuple[str, str]:
    if isinstance(key, tuple) and len(key) == 2:
        return str(key[0]), str(key[1])
    text = str(key)
    if "_" in text:
        roi, seq = text.split("_", 1)
        return roi, seq
    for seq in study.mri_sequences():
        if text.endswith(seq) and len(text) > len(seq):
            return text[: -len(seq)], seq
    raise InputError(f"mask key '{key}' is not (ROI, SEQ), 'ROI_SEQ' or 'ROISEQ' (e.g. ('T', 'T1C'))")


def _order(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    rois, sequences = study.roi_codes(), study.mri_sequences()

    def rank(pair: tuple[str, str]) -> tuple:
        roi, seq = pair
        return (rois.index(roi) if roi in rois else len(rois), roi,
                sequences.index(seq) if seq in sequences else len(sequences), seq)

    return sorted(pairs, key=rank)


_NAMES: dict[tuple, list[str]] = {}


def feature_names(params: ParamsInfo | str | Path | Mapping[str, Any], ndim: int = 3) -> list[str]:
    """PyRadiomics feature names (in order) that ``params`` produces, from a small synthetic ROI."""
    info = load_params(params)
    key = (info.sha256, ndim)
    if key not in _NAMES:
        settings = info.settings
        shape = [14] * ndim
        if settings.get("force2D") and ndim == 3:
            shape[int(settings.get("force2Ddimension", 0))] = 1
        rng = np.random.default_rng(0)
        arr = rng.normal(100.0, 30.0, shape).astype(np.float32)
        m = np.zeros(shape, np.uint8)
        m[tuple(slice(0, 1) if s == 1 else slice(3, 11) for s in shape)] = 1
        m[tuple(0 if s == 1 else 5 for s in shape)] = 0  # not a perfect box
        img = sitk.GetImageFromArray(arr)
        msk = sitk.GetImageFromArray(m)
        label = int(settings.get("label", 1))
        if label != 1:
            msk = msk * label
        features, _ = extract_roi(img, msk, info, name="feature-name template")
        _NAMES[key] = list(features)
    return list(_NAMES[key])


def extract_case(
    images: Mapping[str, sitk.Image],
    masks: Mapping[Any, sitk.Image],
    params: ParamsInfo | str | Path | Mapping[str, Any] = MRI_PARAMS,
    *,
    workers: int | None = None,
    n4: bool | Callable[[sitk.Image], sitk.Image] = False,
    n4_cache_dir: str | Path | None = None,
    labels: Mapping[str, int] | None = None,
    crop: bool = True,
    diagnostics: str = "fast",
    allow_border: bool = False,
    on_roi_error: str = "raise",
) -> CaseFeatures:
    """All ROI × sequence extractions of one patient, in parallel processes.

    A pure function of its inputs (the N4 cache only saves time), so a cohort runner can call it
    per case and resume.

    :param images: sequence code → image, e.g. ``{"T1C": ..., "T2": ..., "ADC": ...}``.
    :param masks: (ROI, SEQ) → mask on that sequence's grid, e.g. ``{("T", "T1C"): ..., ("L", "ADC"): ...}``
        (keys ``"T_T1C"`` / ``"TT1C"`` also accepted). Every listed pair is extracted.
    :param params: parameter file name/path/dict (default: the study's ``mri-yu2021``).
    :param workers: processes (default: one per extraction, at most one per core); ``1`` runs
        everything in this process (use inside 3D Slicer's GUI).
    :param n4: ``True`` applies ``alnpredictor.imaging.preprocess.n4_correct`` to every image first
        (cached in ``n4_cache_dir``); a callable is applied instead; ``False`` uses the images as given.
    :param labels: ROI code → label value in its masks (default: the parameter file's ``label``).
    :param crop: exact cropping (``False``: plain whole-image extractions, for checks).
    :param diagnostics: ``"fast"`` or ``"full"`` (adds the SHA-1 hashes; see module docstring).
    :param allow_border: accept ROIs touching the image border.
    :param on_roi_error: ``"raise"`` (default) or ``"nan"``: a ROI with bad input
        (:class:`MaskError`/:class:`GeometryError`/:class:`FeatureError`) becomes NaN features, its
        reason in ``errors``.
    :returns: :class:`CaseFeatures`.
    """
    import pywt
    import radiomics

    from alnpredictor import __version__

    t0 = time.perf_counter()
    if on_roi_error not in ("raise", "nan"):
        raise InputError(f"on_roi_error must be 'raise' or 'nan', not {on_roi_error!r}")
    if diagnostics not in ("fast", "full"):
        raise InputError(f"diagnostics must be 'fast' or 'full', not {diagnostics!r}")
    info = load_params(params)
    pairs = _order([_normalise_mask_key(k) for k in masks])
    by_pair = {_normalise_mask_key(k): m for k, m in masks.items()}
    missing = sorted({seq for _, seq in pairs if seq not in images})
    if missing:
        raise InputError(f"masks given for sequence(s) {missing} but no image: pass images[{missing[0]!r}]")
    if not pairs:
        raise InputError("no masks given: pass masks[(ROI, SEQ)] for at least one ROI and sequence")

    for seq in sorted({seq for _, seq in pairs}):
        # before N4, which would spread NaN/inf over the whole image (and name the wrong place)
        if isinstance(images[seq], sitk.Image):
            check_geometry(images[seq], f"image {seq}")
            check_voxels(images[seq], f"image {seq}")
    n4_info: dict[str, Any] = {"applied": False}
    if n4:
        images, n4_info = _apply_n4(images, n4, n4_cache_dir, {seq for _, seq in pairs})

    jobs: list[tuple[str, RoiJob | None]] = []
    errors: dict[str, str] = {}
    normalized: dict[str, sitk.Image] = {}
    for roi, seq in pairs:
        block = f"{roi}{seq}"
        try:
            image = images[seq]
            label = labels.get(roi) if labels else None
            norm = None
            if info.settings.get("normalize") and crop:
                if seq not in normalized:
                    from radiomics import imageoperations

                    normalized[seq] = imageoperations.normalizeImage(image, **info.settings)
                norm = normalized[seq]
            job = prepare_roi_job(image, by_pair[(roi, seq)], info, crop=crop, label=label,
                                  allow_border=allow_border, name=f"ROI {roi} on {seq}", normalized_image=norm)
            jobs.append((block, job))
        except (MaskError, GeometryError, FeatureError) as exc:
            if on_roi_error == "raise":
                raise
            errors[block] = str(exc)
            jobs.append((block, None))

    real = [(b, j) for b, j in jobs if j is not None]
    n_workers = _workers.default_workers(len(real)) if workers is None else max(1, int(workers))
    results: dict[str, RoiResult] = {}
    futures: dict[str, Future] = {}
    if n_workers > 1 and len(real) > 1:
        pool = _workers.get_pool(n_workers)
        try:
            # Largest ROIs first: the two processes finish at about the same time.
            for block, job in sorted(real, key=lambda bj: -bj[1].roi_voxels):
                futures[block] = pool.submit(run_roi_job, job)
        except BrokenProcessPool:
            _workers.discard_pool()
            raise FeatureError(_BROKEN_POOL) from None
    # While the workers run: whole-image diagnostics, once per sequence.
    cropped = {_pair_of(b, pairs) for b, j in real if not j.plan.whole_image and j.plan.cropped_types}
    image_diags = {seq: image_diagnostics(images[seq], with_hash=diagnostics == "full")
                   for seq in sorted({seq for _, seq in cropped})}
    mask_hashes = {}
    if diagnostics == "full":
        for roi, seq in sorted(cropped):
            mask_hashes[f"{roi}{seq}"] = mask_hash(_scalar_mask(by_pair[(roi, seq)], info.settings, f"{roi}{seq}"))
    for block, job in real:
        try:
            if block in futures:
                try:
                    results[block] = futures[block].result()
                except BrokenProcessPool:
                    _workers.discard_pool()
                    raise FeatureError(f"{job.name}: {_BROKEN_POOL}") from None
            else:
                results[block] = run_roi_job(job)
        except (MaskError, GeometryError, FeatureError) as exc:
            if on_roi_error == "raise":
                for f in futures.values():
                    f.cancel()
                raise
            errors[block] = str(exc)

    row: dict[str, float] = {}
    diag_out: dict[str, dict[str, Any]] = {}
    names: list[str] | None = None
    for block, job in jobs:
        roi, seq = _pair_of(block, pairs)
        if block in results and job is not None:
            res = results[block]
            seq_diag = image_diags.get(seq)
            diag_out[block] = _finish_diagnostics(res, job, seq_diag, mask_hashes.get(block))
            row.update({study.feature_name(roi, seq, k): v for k, v in res.features.items()})
        else:
            if names is None:
                ok = next((r for r in results.values()), None)
                names = list(ok.features) if ok is not None else feature_names(info, images[seq].GetDimension())
            row.update({study.feature_name(roi, seq, k): math.nan for k in names})
            diag_out[block] = {f"{_OWN_PREFIX}error": errors.get(block, "")}
    provenance = {
        **info.provenance(),
        "alnpredictor_version": __version__,
        "numpy_version": np.__version__,
        "simpleitk_version": sitk.Version().VersionString(),
        "pywavelets_version": pywt.__version__,
        "radiomics_module_version": str(radiomics.__version__),
        "n4": n4_info,
        "crop": bool(crop),
        "workers": n_workers,
        "blocks": [b for b, _ in jobs],
    }
    return CaseFeatures(row, diag_out, provenance, errors, time.perf_counter() - t0)


def _pair_of(block: str, pairs: list[tuple[str, str]]) -> tuple[str, str]:
    for roi, seq in pairs:
        if f"{roi}{seq}" == block:
            return roi, seq
    raise KeyError(block)


def _apply_n4(images: Mapping[str, sitk.Image], n4: Any, cache_dir: str | Path | None,
              needed: set[str]) -> tuple[dict[str, sitk.Image], dict[str, Any]]:
    """N4 bias-field correction of the needed sequences (the imaging module's, cached)."""
    if callable(n4):
        fn, how = n4, getattr(n4, "__name__", "callable")
    else:
        try:
            from alnpredictor.imaging.preprocess import n4_correct
        except ImportError as exc:
            raise InputError("N4 requested but alnpredictor.imaging.preprocess.n4_correct is not available") from exc

        def fn(img: sitk.Image) -> sitk.Image:
            return n4_correct(img, cache_dir=cache_dir)

        how = "alnpredictor.imaging.preprocess.n4_correct"
    out = dict(images)
    t0 = time.perf_counter()
    for seq in sorted(needed):
        out[seq] = fn(images[seq])
    return out, {"applied": True, "function": how, "cache_dir": str(cache_dir) if cache_dir else None,
                 "seconds": round(time.perf_counter() - t0, 3)}
