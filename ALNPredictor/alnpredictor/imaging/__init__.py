"""Imaging: io (NRRD/NIfTI/MHA/DICOM, masks, .seg.nrrd), coords (RAS ↔ LPS, voxel grids),
preprocess (N4, resampling), the segmenter seam (``segment``: ``Prompts`` → ``Segmenter.segment`` →
``SegmentationResult`` with engine provenance; grow-cut with Slicer's vtkImageGrowCutSegment is the
registered engine, ``background`` places background seeds automatically, ``prompts`` defines the
prompt types), propagate (rigid registration and mask resampling). No Qt, no MRML."""
