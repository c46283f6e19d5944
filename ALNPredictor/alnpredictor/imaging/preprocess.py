"""Pre-processing: N4 bias-field correction (cached), resampling and intensity normalisation.

N4 follows the MRI study (bias correction before feature extraction) with settings that keep
it fast on a full 448×448×160 breast volume: the field is estimated on a copy shrunk to about
6 mm voxels inside an Otsu foreground mask with a three-level schedule (50/40/30 iterations,
stopping early at convergence), then evaluated at full resolution
(``GetLogBiasFieldAsImage``) — the field is smooth, so shrinking loses nothing that matters.
Results are cached on disk keyed by the image content hash (voxels + geometry) and the
settings, so each series is corrected once however many times the pipeline runs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from alnpredictor.errors import MaskError
from alnpredictor.imaging.io import check_same_grid, ensure_3d_scalar

log = logging.getLogger(__name__)

#: Bump when the N4 procedure changes so that old cache entries are not reused.
N4_CACHE_VERSION = 1


# --------------------------------------------------------------------------------------------
# content hash
# --------------------------------------------------------------------------------------------
def image_hash(image: sitk.Image) -> str:
    """SHA-256 of an image's voxels, pixel type and geometry (size, spacing, origin, direction).

    Two images with the same hash are the same series for every purpose of this package;
    metadata (patient name, dates) is not part of it, so it identifies no one.
    """
    h = hashlib.sha256()
    header = {
        "pixel": image.GetPixelIDTypeAsString(),
        "components": image.GetNumberOfComponentsPerPixel(),
        "size": list(image.GetSize()),
        "spacing": [round(float(v), 6) for v in image.GetSpacing()],
        "origin": [round(float(v), 6) for v in image.GetOrigin()],
        "direction": [round(float(v), 6) for v in image.GetDirection()],
    }
    h.update(json.dumps(header, sort_keys=True).encode())
    h.update(np.ascontiguousarray(sitk.GetArrayViewFromImage(image)).tobytes())
    return h.hexdigest()


# --------------------------------------------------------------------------------------------
# N4
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class N4Settings:
    """N4 parameters (part of the cache key)."""

    shrink_to_mm: float = 6.0  # fit on voxels of about this size: the field varies over ~10 cm
    iterations: tuple[int, ...] = (50, 40, 30)  # one fitting level per entry (mesh doubles)
    convergence_threshold: float = 1e-4
    control_points: int = 4  # initial B-spline lattice per axis (ITK's default)
    spline_order: int = 3
    histogram_bins: int = 200
    wiener_noise: float = 0.01
    fwhm: float = 0.15


def n4_correct(
    image: sitk.Image,
    *,
    cache_dir: str | Path | None = None,
    mask: sitk.Image | None = None,
    settings: N4Settings | None = None,
    return_field: bool = False,
) -> sitk.Image | tuple[sitk.Image, sitk.Image]:
    """N4 bias-field corrected copy of a 3-D image (float32, same geometry).

    :param cache_dir: folder for the cache (``<hash>.nrrd``); ``None`` disables caching.
    :param mask: region used to estimate the field (default: Otsu foreground — air carries no
        bias information and would slow the fit down); must be on the image grid.
    :param settings: :class:`N4Settings` (default: fast settings described in the module).
    :param return_field: also return the multiplicative bias field (image / field = result).
    """
    settings = settings or N4Settings()
    image = ensure_3d_scalar(image, "image to correct")
    if mask is not None:
        check_same_grid(mask, image, what="N4 mask", ref_name="the image")
    key = _n4_key(image, mask, settings)
    cache_path = Path(cache_dir) / f"n4-{key}.nrrd" if cache_dir is not None else None
    if cache_path is not None and cache_path.exists() and not return_field:
        try:
            cached = sitk.ReadImage(str(cache_path))
            if cached.GetSize() == image.GetSize():
                log.debug("N4 cache hit %s", cache_path.name)
                return cached
        except RuntimeError:
            log.warning("N4 cache entry %s unreadable; recomputing", cache_path.name)
    t0 = time.perf_counter()
    if image.GetSize()[2] == 1:  # single-slice (ultrasound): fit a 2-D field
        corrected, field = _run_n4(image[:, :, 0], mask[:, :, 0] if mask is not None else None, settings)
        corrected, field = sitk.JoinSeries(corrected), sitk.JoinSeries(field)
        corrected.CopyInformation(image)
        field.CopyInformation(image)
    else:
        corrected, field = _run_n4(image, mask, settings)
    log.info("N4 on %s voxels in %.1f s", "x".join(map(str, image.GetSize())), time.perf_counter() - t0)
    if cache_path is not None:
        _atomic_write(corrected, cache_path)
    return (corrected, field) if return_field else corrected


def _n4_key(image: sitk.Image, mask: sitk.Image | None, settings: N4Settings) -> str:
    h = hashlib.sha256()
    h.update(image_hash(image).encode())
    h.update((image_hash(mask) if mask is not None else "otsu").encode())
    h.update(json.dumps({**asdict(settings), "version": N4_CACHE_VERSION}, sort_keys=True).encode())
    return h.hexdigest()[:32]


def _atomic_write(image: sitk.Image, path: Path) -> None:
    """Write a cache entry whole or not at all (:func:`alnpredictor.outputs.write_image`: temporary
    file, read back, rename), so parallel workers never read half a file. The cache only saves
    time: an entry that cannot be written (full disk, read-only cache folder) is skipped with a
    warning and the correction is recomputed next time."""
    from alnpredictor.errors import OutputError
    from alnpredictor.outputs import write_image

    try:
        write_image(path, image)
    except OutputError as exc:
        log.warning("N4 cache entry not kept: %s", exc)


def _run_n4(image: sitk.Image, mask: sitk.Image | None, s: N4Settings) -> tuple[sitk.Image, sitk.Image]:
    img = sitk.Cast(image, sitk.sitkFloat32)
    # N4 models a multiplicative field on positive intensities: shift if the image has
    # negatives (some exports centre intensities), undo afterwards.
    minimum = float(sitk.GetArrayViewFromImage(img).min())
    offset = 1.0 - minimum if minimum <= 0 else 0.0
    work = img + offset if offset else img
    # Shrink each axis towards ``shrink_to_mm`` voxels, keeping at least 32 voxels per axis.
    shrink = [int(max(1, min(round(s.shrink_to_mm / sp), n // 32))) for sp, n in zip(work.GetSpacing(), work.GetSize())]
    small = sitk.Shrink(work, shrink)
    if mask is None:  # Otsu foreground on the shrunken copy (air carries no bias information)
        small_mask = sitk.OtsuThreshold(small, 0, 1, 200)
    else:
        small_mask = sitk.Shrink(sitk.Cast(sitk.NotEqual(mask, 0), sitk.sitkUInt8), shrink)
    if not np.any(sitk.GetArrayViewFromImage(small_mask)):
        raise MaskError("N4 mask is empty (or too thin to survive shrinking): give a mask that covers the body, "
                        "or none for an automatic Otsu foreground")
    n4 = sitk.N4BiasFieldCorrectionImageFilter()
    n4.SetMaximumNumberOfIterations([int(i) for i in s.iterations])
    n4.SetConvergenceThreshold(s.convergence_threshold)
    n4.SetSplineOrder(s.spline_order)
    n4.SetNumberOfHistogramBins(s.histogram_bins)
    n4.SetWienerFilterNoise(s.wiener_noise)
    n4.SetBiasFieldFullWidthAtHalfMaximum(s.fwhm)
    n4.SetNumberOfControlPoints([int(s.control_points)] * work.GetDimension())
    n4.Execute(small, small_mask)
    log_field = n4.GetLogBiasFieldAsImage(work)
    field = sitk.Exp(log_field)
    corrected = work / field
    if offset:
        corrected = corrected - offset
    corrected = sitk.Cast(corrected, sitk.sitkFloat32)
    corrected.CopyInformation(image)
    field.CopyInformation(image)
    return corrected, sitk.Cast(field, sitk.sitkFloat32)


# --------------------------------------------------------------------------------------------
# resampling
# --------------------------------------------------------------------------------------------
_INTERPOLATORS = {
    "linear": sitk.sitkLinear,
    "nearest": sitk.sitkNearestNeighbor,
    "bspline": sitk.sitkBSpline,
    "lanczos": sitk.sitkLanczosWindowedSinc,
}


def resample_to(
    image: sitk.Image,
    reference: sitk.Image,
    interpolator: str | int = "linear",
    *,
    transform: sitk.Transform | None = None,
    default_value: float = 0.0,
) -> sitk.Image:
    """Resample ``image`` onto ``reference``'s grid (physical space, optional transform).

    :param transform: maps points of ``reference`` to points of ``image`` (ITK convention);
        identity by default.
    :param interpolator: "linear", "nearest", "bspline", "lanczos" or a SimpleITK constant.
    """
    interp = _INTERPOLATORS.get(interpolator, interpolator) if isinstance(interpolator, str) else interpolator
    if isinstance(interp, str):
        raise ValueError(f"unknown interpolator '{interpolator}': use one of {sorted(_INTERPOLATORS)}")
    return sitk.Resample(image, reference, transform or sitk.Transform(3, sitk.sitkIdentity), interp,
                         float(default_value), image.GetPixelID())


def resample_mask(
    mask: sitk.Image,
    reference: sitk.Image,
    *,
    transform: sitk.Transform | None = None,
    method: str = "partial_volume",
) -> sitk.Image:
    """Resample a binary mask onto ``reference``'s grid; returns uint8 0/1.

    ``partial_volume`` (default): the mask's fraction in each target voxel is estimated by
    smoothing the mask to the target voxel size (Gaussian matched in FWHM) and sampling
    linearly; voxels at least half inside are kept — what an area-weighted resampling gives,
    so small structures survive coarser grids as well as they can. ``nearest``: nearest
    neighbour.
    """
    transform = transform or sitk.Transform(3, sitk.sitkIdentity)
    if method == "nearest":
        out = sitk.Resample(sitk.Cast(mask, sitk.sitkUInt8), reference, transform, sitk.sitkNearestNeighbor, 0,
                            sitk.sitkUInt8)
        return sitk.Cast(out > 0, sitk.sitkUInt8)
    if method != "partial_volume":
        raise ValueError(f"unknown mask resampling method '{method}': use 'partial_volume' or 'nearest'")
    fmask = sitk.Cast(sitk.NotEqual(mask, 0), sitk.sitkFloat32)
    src = np.array(mask.GetSpacing())
    dst = np.array(reference.GetSpacing())
    # Target voxel size along each source axis (directions may differ: project conservatively).
    d_src = np.array(mask.GetDirection()).reshape(3, 3)
    d_dst = np.array(reference.GetDirection()).reshape(3, 3)
    extent = np.abs(d_src.T @ d_dst) @ dst
    sigma = np.sqrt(np.maximum(extent**2 - src**2, 0.0)) / 2.3548
    if np.any(sigma > 0.25 * src):
        arr = sitk.GetArrayFromImage(fmask)
        from scipy import ndimage

        arr = ndimage.gaussian_filter(arr, (sigma / src)[::-1], mode="constant")
        smoothed = sitk.GetImageFromArray(arr)
        smoothed.CopyInformation(fmask)
        fmask = smoothed
    frac = sitk.Resample(fmask, reference, transform, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    out = sitk.Cast(sitk.GreaterEqual(frac, 0.5), sitk.sitkUInt8)
    out.CopyInformation(reference)
    return out


# --------------------------------------------------------------------------------------------
# intensity normalisation
# --------------------------------------------------------------------------------------------
def percentile_clip(image: sitk.Image, low: float = 0.5, high: float = 99.5,
                    mask: sitk.Image | None = None) -> sitk.Image:
    """Clip intensities to the [low, high] percentiles (within ``mask`` if given)."""
    arr = sitk.GetArrayFromImage(image).astype(np.float32)
    values = arr[_mask_array(mask, image)] if mask is not None else arr
    if values.size == 0:
        raise MaskError("percentile_clip: the mask is empty")
    lo, hi = np.percentile(values, [low, high])
    out = sitk.GetImageFromArray(np.clip(arr, lo, hi))
    out.CopyInformation(image)
    return out


def zscore(image: sitk.Image, mask: sitk.Image | None = None, *, eps: float = 1e-8) -> sitk.Image:
    """(image − mean) / sd, with mean and sd taken within ``mask`` (whole image if None)."""
    arr = sitk.GetArrayFromImage(image).astype(np.float32)
    values = arr[_mask_array(mask, image)] if mask is not None else arr
    if values.size == 0:
        raise MaskError("zscore: the mask is empty")
    mean, sd = float(values.mean()), float(values.std())
    out = sitk.GetImageFromArray((arr - mean) / max(sd, eps))
    out.CopyInformation(image)
    return out


def _mask_array(mask: sitk.Image, image: sitk.Image) -> np.ndarray:
    check_same_grid(mask, image, what="normalisation mask", ref_name="the image")
    return sitk.GetArrayViewFromImage(mask) != 0
