"""How far each PyRadiomics filter reaches, and the crop that leaves every feature bit-identical.

PyRadiomics filters the whole volume, then crops every filtered image to the ROI's bounding box
before computing features (``featureextractor.execute``: ``cropToTumorMask(..., padDistance=0)``
for segment-based extraction). A feature therefore depends only on the filtered values inside
the bounding box, and those depend only on the input voxels within the filter's *support*
around the box. Cropping the input to ``bounding box ± support`` before filtering gives the same
numbers with a fraction of the work — provided the support is known exactly and the crop's own
edges never reach the box.

Support per image type (numpy axis order ``z, y, x``; ``before``/``after`` = how many voxels
below/above an output voxel its value reads):

* ``Original`` — 0.
* ``Wavelet`` — derived from PyRadiomics' own ``imageoperations._swt3`` with the configured
  ``wavelet``/``start_level``/``level``: a NaN impulse is pushed through the real transform and
  the NaN footprint is the dependency window (NaN survives multiplication by zero taps, so this is
  the structural window of every tap, composed over all ``start_level + level`` passes). For
  coif1, one level: an output voxel reads 2 voxels before and 3 after it. ``pywt.swtn`` is *periodic*: near the image edge it wraps
  around to the opposite side, so an axis whose padded box does not fit inside the image is never
  cropped (taken whole). Axes excluded by ``force2D`` are not transformed (support 0).
* ``Gradient`` — derived the same way from ``sitk.GradientMagnitudeImageFilter`` (1 voxel).
* ``LBP2D`` — in-plane ``ceil(lbp2DRadius) + 1`` (bilinear sampling on a circle), 0 across slices.
* With ``preCrop: true`` PyRadiomics itself crops to ``box ± padDistance`` before any filter, so a
  crop of at least ``padDistance`` reproduces it for every image type.

Refused (the image type is then computed on the whole volume, still exactly):

* ``LoG`` — ITK's ``LaplacianRecursiveGaussianImageFilter`` is a recursive (IIR) filter: every
  output voxel depends on the entire image line, so no finite crop is bit-identical (a 20-voxel
  margin still changes 99 % of the values in the 5th significant digit).
* ``Square``, ``SquareRoot``, ``Logarithm``, ``Exponential`` — rescaled by ``max |intensity|`` of
  the whole image.
* ``LBP3D`` — cubic-spline sampling (``scipy.ndimage.map_coordinates(order=3)``) prefilters the
  whole volume.
* Resampling (``resampledPixelSpacing``), ``voxelBased`` extraction and mask correction of a
  mismatched mask are whole-image operations: no crop at all (PyRadiomics already resamples only
  the ROI region, so little time is lost).
* Intensity normalisation (``normalize``) uses whole-image statistics: it is applied to the whole
  volume first, then the normalised volume is cropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

#: Image types whose support we bound (everything else is refused).
CROPPABLE_TYPES = ("Original", "Wavelet", "Gradient", "LBP2D")

_REFUSED = {
    "LoG": "LoG uses ITK's recursive (IIR) Gaussian: every output voxel depends on the whole image line",
    "Square": "Square rescales by the maximum |intensity| of the whole image",
    "SquareRoot": "SquareRoot rescales by the maximum |intensity| of the whole image",
    "Logarithm": "Logarithm rescales by the maximum |intensity| of the whole image",
    "Exponential": "Exponential rescales by the maximum |intensity| of the whole image",
    "LBP3D": "LBP3D samples with a cubic-spline prefilter of the whole volume",
}


@dataclass(frozen=True)
class Support:
    """Dependency window of one image type, per numpy axis; ``None`` when unbounded."""

    image_type: str
    before: tuple[int, ...] | None
    after: tuple[int, ...] | None
    reason: str = ""

    @property
    def bounded(self) -> bool:
        return self.before is not None and self.after is not None


@dataclass(frozen=True)
class CropPlan:
    """Where to crop one image/mask pair (numpy order; ``start`` inclusive, ``stop`` exclusive).

    ``bbox_lo``/``bbox_hi`` are the ROI's inclusive bounding box in the full image. Image types in
    ``full_types`` are computed on the whole image, with the reason in ``reasons``.
    """

    start: tuple[int, ...]
    stop: tuple[int, ...]
    bbox_lo: tuple[int, ...]
    bbox_hi: tuple[int, ...]
    cropped_types: tuple[str, ...]
    full_types: tuple[str, ...]
    reasons: dict[str, str] = field(default_factory=dict)
    whole_image: bool = False  # no crop at all (resampling, voxel-based, mask correction)

    @property
    def slices(self) -> tuple[slice, ...]:
        return tuple(slice(a, b) for a, b in zip(self.start, self.stop))

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(b - a for a, b in zip(self.start, self.stop))

    def describe(self) -> str:
        if self.whole_image:
            return "whole image: " + "; ".join(self.reasons.values())
        text = f"cropped to {self.shape} (z, y, x) at {self.start}"
        if self.full_types:
            text += "; whole image for " + ", ".join(f"{t} ({self.reasons.get(t, '')})" for t in self.full_types)
        return text


def _nan_footprint(transform, ndim: int, axis: int, length: int) -> tuple[int, int]:
    """Window [before, after] of ``transform`` along ``axis`` from the NaN footprint of an impulse."""
    shape = [2] * ndim
    shape[axis] = length
    centre = length // 2
    impulse = np.zeros(shape, dtype=np.float64)
    index = [0] * ndim
    index[axis] = centre
    impulse[tuple(index)] = np.nan
    touched = np.zeros(length, dtype=bool)
    for out in transform(impulse):
        other = tuple(a for a in range(ndim) if a != axis)
        touched |= np.isnan(out).any(axis=other)
    positions = np.flatnonzero(touched)
    if positions.size == 0:
        return 0, 0
    # The impulse at c reaches outputs p in [min, max]; output p therefore reads inputs
    # p - (max - c) ... p + (c - min).
    return int(positions.max() - centre), int(centre - positions.min())


@lru_cache(maxsize=64)
def wavelet_window(wavelet: str, start_level: int, level: int, ndim: int = 3) -> tuple[int, int]:
    """(before, after) voxels read by PyRadiomics' wavelet along one transformed axis."""
    import pywt
    import SimpleITK as sitk
    from radiomics import imageoperations

    passes = int(start_level) + int(level)
    dec_len = pywt.Wavelet(wavelet).dec_len
    length = 2 * (4 * passes * dec_len + 8)  # even, and far longer than the window: no wrap-around

    def transform(arr: np.ndarray):
        image = sitk.GetImageFromArray(arr)
        axes = tuple(range(ndim - 1, -1, -1))
        approx, details = imageoperations._swt3(image, axes, wavelet=wavelet, level=level, start_level=start_level)
        yield sitk.GetArrayFromImage(approx)
        for decomposition in details:
            for band in decomposition.values():
                yield sitk.GetArrayFromImage(band)

    windows = [_nan_footprint(transform, ndim, axis, length) for axis in range(ndim)]
    return max(w[0] for w in windows), max(w[1] for w in windows)


@lru_cache(maxsize=8)
def gradient_window(use_spacing: bool, ndim: int = 3) -> tuple[int, int]:
    """(before, after) voxels read by SimpleITK's gradient magnitude along any axis."""
    import SimpleITK as sitk

    def transform(arr: np.ndarray):
        f = sitk.GradientMagnitudeImageFilter()
        f.SetUseImageSpacing(use_spacing)
        yield sitk.GetArrayFromImage(f.Execute(sitk.GetImageFromArray(arr)))

    windows = [_nan_footprint(transform, ndim, axis, 16) for axis in range(ndim)]
    return max(w[0] for w in windows), max(w[1] for w in windows)


def filter_support(image_type: str, settings: dict[str, Any], ndim: int) -> Support:
    """Dependency window of ``image_type`` under ``settings`` (general settings + its custom ones)."""
    zero = (0,) * ndim
    if image_type == "Original":
        return Support(image_type, zero, zero)
    force2d = bool(settings.get("force2D", False))
    flat_axis = int(settings.get("force2Ddimension", 0))
    if image_type == "Wavelet":
        before, after = wavelet_window(
            str(settings.get("wavelet", "coif1")), int(settings.get("start_level", 0)), int(settings.get("level", 1))
        )
        b = [before] * ndim
        a = [after] * ndim
        if force2d:  # that axis is not transformed (imageoperations.getWaveletImage removes it)
            b[flat_axis] = a[flat_axis] = 0
        return Support(image_type, tuple(b), tuple(a))
    if image_type == "Gradient":
        before, after = gradient_window(bool(settings.get("gradientUseSpacing", True)), ndim)
        return Support(image_type, (before,) * ndim, (after,) * ndim)
    if image_type == "LBP2D":
        reach = int(math.ceil(float(settings.get("lbp2DRadius", 1)))) + 1
        b = [reach] * ndim
        if ndim == 3:  # LBP is computed slice by slice along force2Ddimension
            b[flat_axis] = 0
        return Support(image_type, tuple(b), tuple(b))
    reason = _REFUSED.get(image_type, f"unknown image type {image_type}: support cannot be bounded")
    return Support(image_type, None, None, reason)


def whole_image_reasons(settings: dict[str, Any], voxel_based: bool = False) -> list[str]:
    """Reasons why no crop at all is possible under these general settings (empty: crop allowed)."""
    reasons = []
    if settings.get("interpolator") is not None and settings.get("resampledPixelSpacing") is not None:
        reasons.append("resampling (resampledPixelSpacing) works on the whole image")
    if voxel_based:
        reasons.append("voxel-based extraction")
    return reasons


def plan_crop(
    shape: tuple[int, ...],
    bbox_lo: tuple[int, ...],
    bbox_hi: tuple[int, ...],
    image_types: dict[str, dict[str, Any]],
    settings: dict[str, Any],
    *,
    enabled: bool = True,
    whole_reasons: list[str] | None = None,
) -> CropPlan:
    """The crop for one ROI: bounding box padded by the largest bounded support.

    :param shape: full image shape (numpy order).
    :param bbox_lo: inclusive lower corner of the ROI's bounding box (numpy order).
    :param bbox_hi: inclusive upper corner.
    :param image_types: enabled image types with their custom settings.
    :param settings: general settings (PyRadiomics defaults + parameter file).
    :param enabled: ``False`` disables cropping (everything on the whole image).
    :param whole_reasons: extra reasons that force the whole image (mask correction, ...).
    """
    ndim = len(shape)
    types = list(image_types)
    reasons: dict[str, str] = {}
    whole = list(whole_reasons or []) + whole_image_reasons(settings, bool(settings.get("voxelBased", False)))
    if not enabled:
        whole.append("cropping disabled")
    full_start, full_stop = (0,) * ndim, tuple(int(s) for s in shape)
    if whole:
        reasons = {f"whole-{i}": r for i, r in enumerate(whole)}
        return CropPlan(full_start, full_stop, tuple(bbox_lo), tuple(bbox_hi), (), tuple(types), reasons, True)

    before = np.zeros(ndim, dtype=int)
    after = np.zeros(ndim, dtype=int)
    cropped, full = [], []
    if settings.get("preCrop", False):
        # PyRadiomics crops to box ± padDistance before filtering: a superset crop reproduces it exactly.
        pad = int(settings.get("padDistance", 5))
        before[:] = after[:] = pad
        cropped = types
    else:
        for t in types:
            args = dict(settings)
            args.update(image_types[t] or {})
            sup = filter_support(t, args, ndim)
            if sup.bounded:
                before = np.maximum(before, sup.before)
                after = np.maximum(after, sup.after)
                cropped.append(t)
            else:
                full.append(t)
                reasons[t] = sup.reason
    # At least one voxel of margin: a crop holding nothing but ROI voxels (a box-shaped ROI) would make
    # PyRadiomics' getMask see a single label value and report "nothing is segmented".
    before = np.maximum(before, 1)
    after = np.maximum(after, 1)
    lo = np.asarray(bbox_lo) - before
    hi = np.asarray(bbox_hi) + after
    start, stop = [], []
    for axis in range(ndim):
        if lo[axis] < 0 or hi[axis] > shape[axis] - 1:
            # The padded box leaves the image: periodic wavelet boundaries would wrap to the other side,
            # so this axis is taken whole (exact for every filter).
            start.append(0)
            stop.append(int(shape[axis]))
        else:
            start.append(int(lo[axis]))
            stop.append(int(hi[axis]) + 1)
    return CropPlan(tuple(start), tuple(stop), tuple(bbox_lo), tuple(bbox_hi), tuple(cropped), tuple(full), reasons)
