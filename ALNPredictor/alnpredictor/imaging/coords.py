"""The one coordinate rule: user-facing points are RAS millimetres (Slicer markups), files and
SimpleITK images are LPS. :func:`ras_lps` is the single conversion (it is its own inverse).
:class:`VoxelGrid` maps continuous voxel indices to physical (LPS) points and back."""

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


class VoxelGrid:
    """Index ↔ physical (LPS) mapping of a 3-D image, vectorised, in (x, y, z) order."""

    def __init__(self, image: sitk.Image) -> None:
        self.size = np.array(image.GetSize())
        self.spacing = np.array(image.GetSpacing(), float)
        self.origin = np.array(image.GetOrigin(), float)
        self.direction = np.array(image.GetDirection(), float).reshape(3, 3)
        self.index_to_lps = self.direction @ np.diag(self.spacing)
        self.lps_to_index = np.linalg.inv(self.index_to_lps)

    def to_index(self, lps: np.ndarray) -> np.ndarray:
        """Continuous (x, y, z) indices of LPS points (..., 3)."""
        return (np.asarray(lps, float) - self.origin) @ self.lps_to_index.T

    def to_lps(self, index: np.ndarray) -> np.ndarray:
        """LPS points of continuous (x, y, z) indices (..., 3)."""
        return np.asarray(index, float) @ self.index_to_lps.T + self.origin

    @property
    def flat_axes(self) -> list[int]:
        """Axes (x=0, y=1, z=2) of size 1: one for a single-slice (2-D) image."""
        return [i for i in range(3) if self.size[i] == 1]

    def ras_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """RAS bounding box (min, max) of the image, voxel edges included."""
        corners = np.array([[x, y, z] for x in (-0.5, self.size[0] - 0.5) for y in (-0.5, self.size[1] - 0.5)
                            for z in (-0.5, self.size[2] - 0.5)])
        ras = ras_lps(self.to_lps(corners))
        return ras.min(0), ras.max(0)

    def contains(self, index: np.ndarray) -> np.ndarray:
        """Whether continuous (x, y, z) indices (..., 3) fall inside the image (voxel edges included)."""
        index = np.asarray(index, float)
        return np.all(index >= -0.5, axis=-1) & np.all(index <= self.size - 0.5, axis=-1)
