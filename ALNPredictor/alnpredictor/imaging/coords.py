"""The one coordinate rule: user-facing points are RAS millimetres (Slicer markups), files and
SimpleITK images are LPS. :func:`ras_lps` is the single conversion (it is its own inverse)."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

#: Flip of the first two axes; RAS <-> LPS, applied to points or to 4x4 matrices.
_FLIP = np.diag([-1.0, -1.0, 1.0])


def ras_lps(points: np.ndarray | list | tuple) -> np.ndarray:
    """Convert RAS points to LPS or LPS to RAS (same operation). Accepts (3,) or (n, 3)."""
    arr = np.asarray(points, dtype=float)
    if arr.shape[-1] != 3:
        raise ValueError(f"points must have 3 coordinates (R,A,S); got shape {arr.shape}")
    return arr @ _FLIP


def ijk_to_ras_matrix(image: sitk.Image) -> np.ndarray:
    """4x4 IJK→RAS matrix of a 3-D SimpleITK image (what ``vtkMRMLVolumeNode`` stores)."""
    if image.GetDimension() != 3:
        raise ValueError("ijk_to_ras_matrix needs a 3-D image")
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    m = np.eye(4)
    m[:3, :3] = ras_lps(direction.T).T @ np.diag(image.GetSpacing())
    m[:3, 3] = ras_lps(image.GetOrigin())
    return m


def set_geometry_from_ijk_to_ras(image: sitk.Image, ijk_to_ras: np.ndarray) -> sitk.Image:
    """Set origin, spacing and direction of ``image`` from a 4x4 IJK→RAS matrix; returns it."""
    m = np.asarray(ijk_to_ras, dtype=float)
    lps = ras_lps(m[:3, :3].T).T  # columns are the LPS directions scaled by spacing
    spacing = np.linalg.norm(lps, axis=0)
    image.SetSpacing(tuple(float(s) for s in spacing))
    image.SetDirection(tuple(float(v) for v in (lps / spacing).ravel()))
    image.SetOrigin(tuple(float(v) for v in ras_lps(m[:3, 3])))
    return image

