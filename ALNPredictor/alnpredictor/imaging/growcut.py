"""Thin wrapper of Slicer's ``vtkImageGrowCutSegment`` (Segment Editor "Grow from seeds").

The filter comes from the ``slicer`` package (the slicer-core wheel headless, Slicer's own
inside the application), so the app and batch runs use the same compiled algorithm. It works
on plain ``vtkImageData``; no MRML scene is needed.

Two properties of the filter shape this wrapper:

* voxels on the faces of the input are never expanded from (their neighbourhood size is 0),
  and an input thinner than 3 voxels along any axis is refused — so the arrays are padded by
  one replicated voxel on each side (a single-slice ultrasound image becomes 3 identical
  slices; the face slices cannot carry paths, so the middle slice gets a pure 2-D result);
* spacing matters only for the optional distance penalty ("seed locality").

:func:`engine_version` names the build of the filter that runs (recorded in provenance), and
:func:`grow_cut_box` is Slicer's rule for the region grow-cut works in.
"""

from __future__ import annotations

import functools

import numpy as np

from alnpredictor.errors import SegmentationError


def grow_cut(
    intensity: np.ndarray,
    seeds: np.ndarray,
    spacing_xyz: tuple[float, float, float] = (1.0, 1.0, 1.0),
    *,
    distance_penalty: float = 0.0,
) -> np.ndarray:
    """Label every voxel with the seed label that reaches it at the lowest cost.

    :param intensity: image array (z, y, x); any real type (cast to float32).
    :param seeds: label array of the same shape; 0 = unlabelled, 1..n = seed labels.
    :param spacing_xyz: voxel spacing (mm), used by the distance penalty.
    :param distance_penalty: Slicer's "seed locality" (intensity units per mm; 0 = off).
    :returns: int16 label array (z, y, x).
    """
    import slicer
    import vtk
    from vtk.util import numpy_support

    if intensity.shape != seeds.shape or intensity.ndim != 3:
        raise ValueError(f"intensity {intensity.shape} and seeds {seeds.shape} must be equal 3-D arrays")
    if not np.any(seeds):
        raise SegmentationError("no seeds inside the region to segment: place seeds on the image")
    img = np.pad(intensity.astype(np.float32, copy=False), 1, mode="edge")
    lab = np.pad(seeds.astype(np.int16, copy=False), 1, mode="constant")

    def to_vtk(arr: np.ndarray, vtk_type: int):
        data = vtk.vtkImageData()
        data.SetDimensions(arr.shape[2], arr.shape[1], arr.shape[0])
        data.SetSpacing(*[float(s) for s in spacing_xyz])
        scalars = numpy_support.numpy_to_vtk(np.ascontiguousarray(arr).ravel(), deep=1, array_type=vtk_type)
        data.GetPointData().SetScalars(scalars)
        return data

    flt = slicer.vtkImageGrowCutSegment()
    flt.SetIntensityVolume(to_vtk(img, vtk.VTK_FLOAT))
    flt.SetSeedLabelVolume(to_vtk(lab, vtk.VTK_SHORT))
    flt.SetDistancePenalty(float(distance_penalty))
    flt.Update()
    out = flt.GetOutput()
    if out is None or out.GetPointData().GetScalars() is None:
        raise SegmentationError("grow-cut produced no output (region too small?): place seeds further apart")
    result = numpy_support.vtk_to_numpy(out.GetPointData().GetScalars()).reshape(lab.shape)
    return result[1:-1, 1:-1, 1:-1].astype(np.int16)


def grow_cut_box(size: np.ndarray, lo: np.ndarray, hi: np.ndarray, ratio: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Slicer's region rule: the seeds' (x, y, z) index box grown by ``ratio`` of its size (at
    least 3 voxels) on each side, clipped to an image of ``size`` voxels; inclusive bounds."""
    margin = np.maximum(3, np.floor(ratio * (hi - lo)))
    lo = np.clip(lo - margin, 0, size - 1).astype(int)
    hi = np.clip(hi + margin, 0, size - 1).astype(int)
    return lo, hi


@functools.lru_cache(maxsize=1)
def engine_version() -> str:
    """The build of ``vtkImageGrowCutSegment`` in this process, e.g.
    ``"vtkImageGrowCutSegment (slicer-core 5.13.31053.0, VTK 9.6.2)"``; inside the Slicer
    application, Slicer's own version comes first."""
    from importlib import metadata

    import slicer
    import vtk

    parts = []
    app = getattr(slicer, "app", None)
    if app is not None and getattr(app, "applicationVersion", None):
        parts.append(f"Slicer {app.applicationVersion}")
    try:
        parts.append(f"slicer-core {metadata.version('slicer-core')}")
    except metadata.PackageNotFoundError:
        pass
    parts.append(f"VTK {vtk.vtkVersion.GetVTKVersion()}")
    return f"vtkImageGrowCutSegment ({', '.join(parts)})"
