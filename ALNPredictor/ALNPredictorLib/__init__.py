"""Helpers of the ALNPredictor Slicer module that need MRML (slicer-core) but no Qt."""
