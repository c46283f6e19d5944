"""A synthetic breast-MRI study at clinical matrix sizes, for radiomics tests and benchmarks.

One patient: T1C 448×448×160 (0.8×0.8×1.0 mm), T2 512×512×60 (0.7×0.7×3.0 mm) and ADC
224×224×40 (1.6×1.6×4.0 mm) on a common field of view, float32 (as after N4), with a lobulated
heterogeneous tumour (ROI ``T``) and three axillary nodes (ROI ``L``) drawn analytically on every
sequence's own grid. ``scale`` shrinks the field of view (matrix sizes × scale, voxel sizes kept),
so the ROIs keep their realistic voxel counts while tests stay fast. Generated in about a second at
full size with broadcasting (no full-volume interpolation). Nothing here is patient data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

#: Matrix size (x, y, z) and voxel size (mm) of each sequence in the realistic study.
GEOMETRY: dict[str, tuple[tuple[int, int, int], tuple[float, float, float]]] = {
    "T1C": ((448, 448, 160), (0.8, 0.8, 1.0)),
    "T2": ((512, 512, 60), (0.7, 0.7, 3.0)),
    "ADC": ((224, 224, 40), (1.6, 1.6, 4.0)),
}

# Tissue signal per sequence (arbitrary units; ADC in 1e-6 mm²/s).
_SIGNAL = {
    "T1C": {"fat": 420.0, "gland": 260.0, "tumour": 820.0, "node": 560.0, "air": 6.0},
    "T2": {"fat": 700.0, "gland": 380.0, "tumour": 450.0, "node": 520.0, "air": 6.0},
    "ADC": {"fat": 300.0, "gland": 1900.0, "tumour": 1100.0, "node": 1000.0, "air": 0.0},
}


@dataclass
class PhantomStudy:
    """Images per sequence and masks per (ROI, sequence), all LPS SimpleITK images."""

    images: dict[str, sitk.Image]
    masks: dict[tuple[str, str], sitk.Image]


def _axes(size: tuple[int, int, int], spacing: tuple[float, float, float], fov_centre: np.ndarray):
    origin = fov_centre - (np.asarray(size) - 1) * np.asarray(spacing) / 2.0
    return [origin[a] + np.arange(size[a], dtype=np.float64) * spacing[a] for a in range(3)], origin


def _smooth_profile(rng: np.random.Generator, coords: np.ndarray, wavelength_mm: float, terms: int = 3) -> np.ndarray:
    out = np.zeros_like(coords)
    for _ in range(terms):
        k = 2 * np.pi / (wavelength_mm * rng.uniform(0.6, 1.6))
        out += np.cos(k * coords + rng.uniform(0, 2 * np.pi)) / terms
    return out.astype(np.float32)


def _ellipsoid_box(axes_mm, centre, radii, pad_mm: float = 2.0):
    """Index slices (z, y, x) covering an ellipsoid, and the local coordinates inside them."""
    slices, local = [], []
    for a in range(3):
        c = axes_mm[a]
        lo = np.searchsorted(c, centre[a] - radii[a] - pad_mm)
        hi = np.searchsorted(c, centre[a] + radii[a] + pad_mm)
        slices.append(slice(int(lo), int(hi)))
        local.append(c[lo:hi] - centre[a])
    return tuple(slices[::-1]), local


def make_study(scale: float = 1.0, seed: int = 0) -> PhantomStudy:
    """Build the synthetic study.

    :param scale: field-of-view factor (1.0 = the realistic matrix sizes in :data:`GEOMETRY`).
    :param seed: random seed (texture, noise, lesion shapes).
    """
    rng = np.random.default_rng(seed)
    fov_centre = np.zeros(3)
    fov = np.asarray(GEOMETRY["T1C"][0]) * np.asarray(GEOMETRY["T1C"][1]) * scale
    tumour_c = np.array([-0.17 * fov[0], 0.06 * fov[1], 0.05 * fov[2]])
    tumour_r = np.array([14.0, 12.0, 12.5])
    lobes = rng.normal(0, 1, (5, 3))
    nodes = [
        (np.array([0.30 * fov[0] + dx, -0.10 * fov[1] + dy, dz]), np.array(r))
        for dx, dy, dz, r in ((0, 0, 0, (6.0, 4.0, 4.5)), (8, 12, 6, (5.0, 3.5, 4.0)), (-6, 24, -5, (4.5, 3.0, 3.5)))
    ]
    images: dict[str, sitk.Image] = {}
    masks: dict[tuple[str, str], sitk.Image] = {}
    for seq, (full_size, spacing) in GEOMETRY.items():
        size = tuple(max(8, int(round(n * scale))) for n in full_size)
        (x, y, z), origin = _axes(size, spacing, fov_centre)
        sig = _SIGNAL[seq]
        # Fibroglandular pattern: products of smooth 1-D profiles (cheap, anatomically plausible blobs).
        img = np.empty((size[2], size[1], size[0]), np.float32)
        img[:] = _smooth_profile(rng, z, 60)[:, None, None] * _smooth_profile(rng, y, 45)[None, :, None]
        img += _smooth_profile(rng, x, 50)[None, None, :] * _smooth_profile(rng, y, 70)[None, :, None]
        gland = img > 0.15
        img *= 0.04 * sig["fat"]
        img += np.where(gland, np.float32(sig["gland"]), np.float32(sig["fat"]))
        # Air in front of a curved skin line (y grows posterior in LPS).
        skin = -0.42 * fov[1] + 0.0025 * (x - x.mean()) ** 2
        air = (y[:, None] < skin[None, :])[None, :, :]
        np.copyto(img, np.float32(sig["air"]), where=np.broadcast_to(air, img.shape))
        axes_mm = (x, y, z)
        for roi, shapes in (("T", [(tumour_c, tumour_r)]), ("L", nodes)):
            m = np.zeros(img.shape, np.uint8)
            for centre, radii in shapes:
                sl, (lx, ly, lz) = _ellipsoid_box(axes_mm, centre, radii)
                q = (lz[:, None, None] / radii[2]) ** 2 + (ly[None, :, None] / radii[1]) ** 2 + (lx[None, None, :] / radii[0]) ** 2
                r = np.sqrt(q)
                if roi == "T":  # lobulated margin
                    d = np.stack(np.broadcast_arrays(lx[None, None, :], ly[None, :, None], lz[:, None, None]), -1)
                    u = d / np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-6)
                    r = r - 0.12 * np.mean([np.sin(3.0 * (u @ k)) for k in lobes], axis=0)
                inside = r < 1.0
                m[sl] |= inside
                texture = 1.0 + 0.12 * rng.standard_normal(inside.shape).astype(np.float32) + 0.15 * (1 - r)
                value = sig["tumour" if roi == "T" else "node"] * texture
                img[sl] = np.where(inside, value.astype(np.float32), img[sl])
            mask = sitk.GetImageFromArray(m)
            mask.SetSpacing(spacing)
            mask.SetOrigin(tuple(origin))
            masks[(roi, seq)] = mask
        # Coil bias field and scanner noise (magnitude image: Rician-like, kept positive).
        bias = 1.0 + 0.15 * (x - x.mean()) / fov[0]
        img *= bias.astype(np.float32)[None, None, :]
        img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(0.03 * sig["fat"])
        np.abs(img, out=img)
        image = sitk.GetImageFromArray(img)
        image.SetSpacing(spacing)
        image.SetOrigin(tuple(origin))
        images[seq] = image
    return PhantomStudy(images, masks)
