"""Propagate ROIs drawn on the reference sequence (contrast T1) to other sequences (T2, ADC).

The sequences of one examination share the scanner's patient coordinates but differ in grid,
spacing and contrast, and the patient may move a little between them. The study copied ROIs
with manual matching; here each moving sequence is registered rigidly to the reference and the
masks are resampled onto the moving sequence's *own* grid, because features are computed on
each sequence's native voxels.

Registration (SimpleITK):

* Euler (rigid) transform, initialised at identity (the sequences are already in one patient
  frame) and centred on the ROIs, so translation and rotation are those *at the tumor*;
* Mattes mutual information (T1C, T2 and ADC have different, even inverted, contrasts), on
  every voxel of the region (a seeded random subset for large regions: reproducible);
* multi-resolution (shrink 4/2/1 where the region allows, smoothing in mm);
* restricted to a region around the ROIs (``margin_mm``): faster, and robust to motion
  elsewhere (breathing, arms);
* fixed image = the moving sequence (its coarser grid sets the sample points), moving image =
  the reference; the optimised transform then maps moving-sequence points to reference points,
  which is exactly what resampling the masks onto the moving grid needs.

Quality: the final metric, whether the optimiser converged, and the motion it found. A result
that moves more than ``max_translation_mm`` at the ROIs or rotates more than
``max_rotation_deg`` is **rejected**: by default the masks are then resampled without
registration (physical space only) and a warning says so (``on_reject="fallback"``); with
``on_reject="raise"`` a :class:`~alnpredictor.errors.RegistrationError` is raised instead. A
registration that stops at the iteration limit is used but flagged with a warning.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from alnpredictor.errors import GeometryError, InputError, MaskError, RegistrationError
from alnpredictor.imaging.io import check_same_grid, ensure_3d_scalar
from alnpredictor.imaging.preprocess import resample_mask
from alnpredictor.imaging.segmentation import mask_size

log = logging.getLogger(__name__)


@dataclass
class PropagationResult:
    """Masks on the moving image's grid, and how they got there."""

    masks: dict[str, sitk.Image]
    transform: sitk.Euler3DTransform  # moving-image point (LPS) -> reference point
    metric: float | None  # final Mattes MI (more negative = better); None without registration
    converged: bool
    translation_mm: float  # displacement at the ROI centre
    rotation_deg: float
    registered: bool  # True when the registration result was used
    rejected: bool = False
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    iterations: int = 0
    stop_condition: str = ""

    def summary(self) -> dict:
        """JSON-ready summary: transform, quality, voxels/volume per structure, warnings."""
        tx = self.transform
        structures = {}
        for name, mask in self.masks.items():
            structures[name] = mask_size(mask)
        return {
            "registered": self.registered,
            "rejected": self.rejected,
            "converged": self.converged,
            "metric": None if self.metric is None else round(float(self.metric), 5),
            "iterations": self.iterations,
            "translation_mm": round(float(self.translation_mm), 3),
            "rotation_deg": round(float(self.rotation_deg), 3),
            "transform": {
                "type": "Euler3DTransform",
                "maps": "moving image point -> reference image point (LPS mm)",
                "center_lps": [round(float(v), 4) for v in tx.GetCenter()],
                "angles_rad": [round(float(v), 6) for v in (tx.GetAngleX(), tx.GetAngleY(), tx.GetAngleZ())],
                "translation_lps": [round(float(v), 4) for v in tx.GetTranslation()],
                "matrix": [round(float(v), 6) for v in tx.GetMatrix()],
            },
            "structures": structures,
            "seconds": round(self.seconds, 3),
            "warnings": list(self.warnings),
        }


def rotation_angle_deg(transform: sitk.Euler3DTransform) -> float:
    """Angle (degrees) of the rotation part of a rigid transform (axis-angle magnitude)."""
    m = np.asarray(transform.GetMatrix()).reshape(3, 3)
    return float(np.degrees(np.arccos(np.clip((np.trace(m) - 1.0) / 2.0, -1.0, 1.0))))


def propagate_masks(
    reference: sitk.Image,
    moving: sitk.Image,
    masks: Mapping[str, sitk.Image],
    *,
    register: bool = True,
    max_translation_mm: float = 10.0,
    max_rotation_deg: float = 10.0,
    on_reject: str = "fallback",
    margin_mm: float = 20.0,
    iterations: int = 200,
    max_samples: int = 100_000,
    histogram_bins: int | None = None,
    seed: int = 20210521,
    mask_method: str = "partial_volume",
) -> PropagationResult:
    """Register ``moving`` to ``reference`` (rigid) and resample ``masks`` onto ``moving``'s grid.

    :param reference: the sequence the masks were drawn on (T1C).
    :param moving: the sequence that needs the masks (T2, ADC).
    :param masks: name → binary mask on the reference grid (e.g. ``tumor``, ``nodes``).
    :param register: ``False`` resamples in physical space only (``--no-register``).
    :param max_translation_mm: motion at the ROIs beyond which a registration is rejected.
    :param max_rotation_deg: rotation beyond which a registration is rejected.
    :param on_reject: ``"fallback"`` (resample without registration, with a warning) or
        ``"raise"`` (:class:`RegistrationError`).
    :param margin_mm: the registration looks at the ROIs plus this margin.
    :param iterations: optimiser iterations per resolution level.
    :param max_samples: the metric uses every voxel of the region up to this many, a random
        (seeded) subset beyond — small regions need all their voxels for a stable estimate.
    :param histogram_bins: Mattes mutual-information bins (default: ``sqrt(samples / 64)``
        within 12..48, so that the joint histogram has about 64 samples per cell — too many bins
        for a small region make the metric noisy and the optimiser wander).
    :param seed: sampling seed (results are reproducible).
    :param mask_method: ``"partial_volume"`` or ``"nearest"`` (see :func:`resample_mask`).
    """
    if on_reject not in ("fallback", "raise"):
        raise ValueError("on_reject must be 'fallback' or 'raise'")
    t0 = time.perf_counter()
    reference = ensure_3d_scalar(reference, "reference image")
    moving = ensure_3d_scalar(moving, "moving image")
    if not masks:
        raise MaskError("no masks to propagate: give at least one mask (tumor, nodes)")
    masks = {name: ensure_3d_scalar(m, f"mask '{name}'") for name, m in masks.items()}
    for name, m in masks.items():
        check_same_grid(m, reference, what=f"mask '{name}'", ref_name="the reference image")
    union = _union(masks.values())
    if not np.any(sitk.GetArrayViewFromImage(union)):
        raise MaskError("all masks are empty: segment the structures before propagating them")
    centre = _centroid_lps(union)
    identity = sitk.Euler3DTransform()
    identity.SetCenter([float(v) for v in centre])
    warnings: list[str] = []
    if not _physical_overlap(union, moving):
        raise GeometryError(
            "the ROIs lie outside the moving image's field of view: check that both images are of the same "
            "examination (or load the moving series that covers the breast)"
        )

    transform, metric, converged, iters, stop = identity, None, True, 0, "not registered"
    registered = rejected = False
    rejected_transform = identity
    if register and (min(moving.GetSize()) < 4 or min(reference.GetSize()) < 4):
        warnings.append("an image has fewer than 4 slices (2-D ultrasound?): masks resampled without registration")
        register = False
    if register:
        try:
            transform, metric, converged, iters, stop = _register(
                reference, moving, union, centre, margin_mm=margin_mm, iterations=iterations,
                max_samples=max_samples, bins=histogram_bins, seed=seed,
            )
            registered = True
        except RuntimeError as exc:  # ITK failures (e.g. too few samples in the region)
            msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown error"
            if on_reject == "raise":
                raise RegistrationError(f"registration failed ({msg}): check the images or use --no-register") from exc
            warnings.append(f"registration failed ({msg}); masks resampled without registration")
            transform = identity
        if registered:
            shift = float(np.linalg.norm(transform.GetTranslation()))
            angle = rotation_angle_deg(transform)
            if not converged:
                warnings.append(f"registration did not converge ({stop}); result used, please check it")
            if shift > max_translation_mm or angle > max_rotation_deg:
                text = (f"registration moved {shift:.1f} mm / {angle:.1f}° at the ROIs, more than the limit of "
                        f"{max_translation_mm:g} mm / {max_rotation_deg:g}°")
                if on_reject == "raise":
                    raise RegistrationError(text + ": check the images (same patient? same side?) or propagate with "
                                            "--no-register")
                warnings.append(text + "; rejected, masks resampled without registration")
                rejected, registered = True, False
                rejected_transform = transform
                transform = identity
    out_masks = {}
    for name, m in masks.items():
        resampled = resample_mask(m, moving, transform=transform, method=mask_method)
        if np.any(sitk.GetArrayViewFromImage(m)) and not np.any(sitk.GetArrayViewFromImage(resampled)):
            warnings.append(f"'{name}' is smaller than the moving image's voxels and vanished on its grid")
        out_masks[name] = resampled
    for w in warnings:
        log.warning(w)
    shown = rejected_transform if rejected else transform
    result = PropagationResult(
        masks=out_masks, transform=transform, metric=metric, converged=converged,
        translation_mm=float(np.linalg.norm(shown.GetTranslation())), rotation_deg=rotation_angle_deg(shown),
        registered=registered, rejected=rejected, warnings=warnings, seconds=time.perf_counter() - t0,
        iterations=iters, stop_condition=stop,
    )
    return result



# --------------------------------------------------------------------------------------------
# internals
# --------------------------------------------------------------------------------------------
def _union(masks) -> sitk.Image:
    masks = list(masks)
    arr = np.zeros(sitk.GetArrayViewFromImage(masks[0]).shape, bool)
    for m in masks:
        arr |= sitk.GetArrayViewFromImage(m) != 0
    out = sitk.GetImageFromArray(arr.astype(np.uint8))
    out.CopyInformation(masks[0])
    return out


def _centroid_lps(mask: sitk.Image) -> np.ndarray:
    idx = np.argwhere(sitk.GetArrayViewFromImage(mask) != 0)[:, ::-1].mean(axis=0)
    return np.array(mask.TransformContinuousIndexToPhysicalPoint([float(v) for v in idx]))


def _physical_overlap(mask: sitk.Image, image: sitk.Image) -> bool:
    """Whether any mask voxel centre lies inside the image's field of view."""
    idx = np.argwhere(sitk.GetArrayViewFromImage(mask) != 0)[:, ::-1]
    sample = idx[:: max(1, len(idx) // 200)]
    size = np.array(image.GetSize())
    for i in sample:
        p = mask.TransformIndexToPhysicalPoint([int(v) for v in i])
        c = np.array(image.TransformPhysicalPointToContinuousIndex(p))
        if np.all(c >= -0.5) and np.all(c <= size - 0.5):
            return True
    return False


def _roi_box(image: sitk.Image, mask: sitk.Image, margin_mm: float) -> sitk.Image:
    """Crop ``image`` to the physical bounding box of ``mask`` grown by ``margin_mm``."""
    idx = np.argwhere(sitk.GetArrayViewFromImage(mask) != 0)[:, ::-1]
    lo, hi = idx.min(0), idx.max(0)
    corners = [mask.TransformIndexToPhysicalPoint([int(c) for c in (x, y, z)])
               for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]
    pts = np.array(corners)
    pmin, pmax = pts.min(0) - margin_mm, pts.max(0) + margin_mm
    box = np.array([image.TransformPhysicalPointToContinuousIndex([float(v) for v in (x, y, z)])
                    for x in (pmin[0], pmax[0]) for y in (pmin[1], pmax[1]) for z in (pmin[2], pmax[2])])
    size = np.array(image.GetSize())
    ilo = np.clip(np.floor(box.min(0)), 0, size - 1).astype(int)
    ihi = np.clip(np.ceil(box.max(0)), 0, size - 1).astype(int)
    return sitk.RegionOfInterest(image, [int(v) for v in ihi - ilo + 1], [int(v) for v in ilo])


def _register(reference, moving, union, centre, *, margin_mm, iterations, max_samples, bins, seed):
    """Rigid MI registration in a region around the ROIs; returns (transform, metric, converged, iterations, stop)."""
    fixed = sitk.Cast(_roi_box(moving, union, margin_mm), sitk.sitkFloat32)
    # The reference is cropped with extra room for the motion searched.
    moving_img = sitk.Cast(_roi_box(reference, union, margin_mm + 15.0), sitk.sitkFloat32)
    region = resample_mask(
        sitk.Cast(sitk.SignedMaurerDistanceMap(union, insideIsPositive=False, squaredDistance=False,
                                               useImageSpacing=True) <= margin_mm, sitk.sitkUInt8),
        fixed, method="nearest",
    )
    n_region = int(np.count_nonzero(sitk.GetArrayViewFromImage(region)))
    if n_region < 64:
        raise InputError("the region around the ROIs covers fewer than 64 voxels of the moving image: "
                         "the images barely overlap; use --no-register")
    size = np.array(fixed.GetSize())
    levels = [f for f in (4, 2, 1) if f == 1 or np.sort(size)[1] // f >= 16]
    tx = sitk.Euler3DTransform()
    tx.SetCenter([float(v) for v in centre])
    n_samples = min(n_region, max_samples)
    if bins is None:
        bins = int(np.clip(round(np.sqrt(n_samples / 64.0)), 12, 48))
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=int(bins))
    if n_region > max_samples:
        reg.SetMetricSamplingStrategy(reg.RANDOM)
        reg.SetMetricSamplingPercentage(float(max_samples) / n_region, int(seed))
    else:
        reg.SetMetricSamplingStrategy(reg.NONE)
    reg.SetMetricFixedMask(region)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsRegularStepGradientDescent(
        learningRate=2.0, minStep=1e-3, numberOfIterations=int(iterations), relaxationFactor=0.5,
        gradientMagnitudeTolerance=1e-6,
    )
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel(levels)
    # Smoothing in mm that matches each shrink level (none at full resolution).
    reg.SetSmoothingSigmasPerLevel([(f - 1) * float(min(fixed.GetSpacing())) for f in levels])
    reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    reg.SetInitialTransform(tx, inPlace=True)
    reg.Execute(fixed, moving_img)
    stop = reg.GetOptimizerStopConditionDescription()
    converged = "Maximum number of iterations" not in stop
    return tx, float(reg.GetMetricValue()), converged, int(reg.GetOptimizerIteration()), stop
