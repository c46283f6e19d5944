"""Imaging: io (NRRD/NIfTI/MHA/DICOM, masks, .seg.nrrd), preprocess (N4, resampling),
segment (seeded grow-cut with Slicer's vtkImageGrowCutSegment), propagate (rigid registration
and mask resampling). No Qt, no MRML."""
