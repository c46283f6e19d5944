"""Simulated acquisitions for testing registration, segmentation and N4 honestly.

* :func:`random_rigid_motion` — a patient movement: a rotation of a given angle about a random
  axis and a translation of a given length in a random direction.
* :func:`simulate_sequence` — another sequence of the same examination from a reference image:
  its own grid (spacing, field of view), a monotone contrast mapping (e.g. decreasing: T1C →
  T2-like), a smooth multiplicative bias field, noise, and the patient moved by a rigid motion.
  The true mask comes with it, moved the same way.
* :func:`synthetic_volume` — a large breast-like volume with a lesion (benchmarks).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import SimpleITK as sitk

from alnpredictor.imaging.preprocess import resample_mask


def random_rigid_motion(rng: np.random.Generator, center_lps, translation_mm: float = 4.0,
                        rotation_deg: float = 3.0) -> sitk.Euler3DTransform:
    """Rotation by ``rotation_deg`` about a random axis through ``center_lps`` plus a translation
    of ``translation_mm`` in a random direction. Maps moving-scan points to reference points."""
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    versor = sitk.VersorRigid3DTransform()
    versor.SetRotation([float(v) for v in axis], float(np.radians(rotation_deg)))
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction)
    motion = sitk.Euler3DTransform()
    motion.SetCenter([float(v) for v in center_lps])
    motion.SetMatrix(versor.GetMatrix())
    motion.SetTranslation([float(v) for v in direction * translation_mm])
    return motion


def image_center(image: sitk.Image) -> tuple[float, ...]:
    """Physical (LPS) centre of an image."""
    return image.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2.0 for n in image.GetSize()])


def inset_grid(reference: sitk.Image, spacing, inset_mm: float = 5.0) -> sitk.Image:
    """An empty float grid with ``spacing`` covering the reference's field of view less
    ``inset_mm`` on every side (so moved anatomy still fills it)."""
    size = np.array(reference.GetSize())
    sp = np.array(reference.GetSpacing())
    direction = np.array(reference.GetDirection()).reshape(3, 3)
    lo_idx = np.full(3, -0.5) + inset_mm / sp
    hi_idx = size - 0.5 - inset_mm / sp
    spacing = np.asarray(spacing, float)
    n = np.maximum(1, np.floor((hi_idx - lo_idx) * sp / spacing)).astype(int)
    grid = sitk.Image([int(v) for v in n], sitk.sitkFloat32)
    grid.SetSpacing([float(v) for v in spacing])
    grid.SetDirection(reference.GetDirection())
    corner = np.array(reference.TransformContinuousIndexToPhysicalPoint([float(v) for v in lo_idx]))
    grid.SetOrigin([float(v) for v in corner + direction @ (spacing / 2)])
    return grid


def simulate_sequence(
    reference: sitk.Image,
    motion: sitk.Transform,
    *,
    spacing=(0.8, 0.8, 3.0),
    contrast: Callable[[np.ndarray], np.ndarray] | None = None,
    bias_strength: float = 0.2,
    noise_fraction: float = 0.02,
    rng: np.random.Generator | None = None,
    inset_mm: float = 5.0,
    mask: sitk.Image | None = None,
) -> tuple[sitk.Image, sitk.Image | None]:
    """Another sequence of the same examination, and the true mask on its grid.

    :param motion: maps points of the new scan to reference points (the patient moved).
    :param contrast: monotone intensity mapping of the reference (default: decreasing
        ``1000·exp(-v / (mean+sd))``, a T2-like inversion of T1C contrast).
    :param bias_strength: amplitude of a smooth multiplicative field (exp of a low-order polynomial).
    :param noise_fraction: Gaussian noise sd as a fraction of the image's maximum.
    """
    rng = rng or np.random.default_rng(0)
    grid = inset_grid(reference, spacing, inset_mm)
    moved = sitk.Resample(sitk.Cast(reference, sitk.sitkFloat32), grid, motion, sitk.sitkLinear, 0.0,
                          sitk.sitkFloat32)
    arr = sitk.GetArrayFromImage(moved)
    if contrast is None:
        ref_arr = sitk.GetArrayViewFromImage(reference)
        scale = float(ref_arr.mean() + ref_arr.std())

        def contrast(v):
            return 1000.0 * np.exp(-v / scale)

    out = np.asarray(contrast(arr), dtype=np.float64)
    axes = [np.linspace(-1, 1, n) for n in arr.shape]
    zz, yy, xx = np.meshgrid(*axes, indexing="ij")
    c = rng.uniform(-1, 1, 4)
    out *= np.exp(bias_strength * (c[0] * xx + c[1] * yy + c[2] * zz + c[3] * (xx**2 - yy**2)) / 2)
    out += rng.normal(0, noise_fraction * float(out.max()), out.shape)
    image = sitk.GetImageFromArray(out.astype(np.float32))
    image.CopyInformation(grid)
    truth = resample_mask(mask, grid, transform=motion) if mask is not None else None
    return image, truth


def synthetic_volume(size=(448, 448, 160), spacing=(0.8, 0.8, 1.0), *, lesion_radius_mm: float = 10.0,
                     rng: np.random.Generator | None = None, bias_strength: float = 0.3):
    """A breast-like volume: two tissues with smooth texture, air outside an ellipsoidal body,
    a bright lesion, a smooth bias field and noise. Returns (image, lesion mask, lesion centre RAS)."""
    from scipy import ndimage

    from alnpredictor.imaging.coords import ras_lps

    rng = rng or np.random.default_rng(0)
    nx, ny, nz = size
    z, y, x = np.meshgrid(np.linspace(-1, 1, nz, dtype=np.float32), np.linspace(-1, 1, ny, dtype=np.float32),
                          np.linspace(-1, 1, nx, dtype=np.float32), indexing="ij")
    body = (x**2 / 0.85 + (y - 0.15) ** 2 / 0.6 + z**2 / 1.1) < 1
    texture = ndimage.gaussian_filter(rng.standard_normal((nz // 4, ny // 4, nx // 4)).astype(np.float32), 2)
    texture = ndimage.zoom(texture, (nz / texture.shape[0], ny / texture.shape[1], nx / texture.shape[2]), order=1)
    tissue = np.where(texture > 0.1, 260.0, 420.0).astype(np.float32)
    centre_idx = np.array([nx * 0.45, ny * 0.55, nz * 0.5])
    d = np.sqrt(((x + 1) / 2 * (nx - 1) - centre_idx[0]) ** 2 * spacing[0] ** 2
                + ((y + 1) / 2 * (ny - 1) - centre_idx[1]) ** 2 * spacing[1] ** 2
                + ((z + 1) / 2 * (nz - 1) - centre_idx[2]) ** 2 * spacing[2] ** 2)
    lesion = (d < lesion_radius_mm) & body
    arr = np.where(body, tissue, 8.0).astype(np.float32)
    arr[lesion] = 820.0
    arr *= np.exp(bias_strength * (0.8 * x - 0.5 * y + 0.3 * z**2)).astype(np.float32)
    arr += rng.normal(0, 15.0, arr.shape).astype(np.float32)
    image = sitk.GetImageFromArray(np.abs(arr))
    image.SetSpacing([float(s) for s in spacing])
    mask = sitk.GetImageFromArray(lesion.astype(np.uint8))
    mask.CopyInformation(image)
    centre_ras = ras_lps(np.array(image.TransformContinuousIndexToPhysicalPoint([float(v) for v in centre_idx])))
    return image, mask, centre_ras
