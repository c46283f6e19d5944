"""Exception types shared by every layer.

Every error names the input that was wrong and says what to do about it, so that a
radiologist in the Slicer panel and a researcher running a cohort both get an
actionable message rather than a traceback from deep inside a library.
"""

from __future__ import annotations


class ALNPredictorError(Exception):
    """Base class: a problem with the user's input or configuration (not a bug)."""


class InputError(ALNPredictorError):
    """An input file, image, mask or table is missing, unreadable or inconsistent."""


class GeometryError(InputError):
    """Images/masks whose size, spacing, origin or direction do not match."""


class MaskError(InputError):
    """A segmentation mask is empty, outside the image, touches the border or is too small."""


class SegmentationError(ALNPredictorError):
    """Seeded segmentation could not produce a plausible result."""


class RegistrationError(ALNPredictorError):
    """Registration failed or moved further than the allowed limit."""


class FeatureError(ALNPredictorError):
    """Feature extraction failed or produced unusable (NaN) values."""


class ModelBundleError(ALNPredictorError):
    """A model bundle is tampered with, of an unknown schema, or made for other features."""


class ClinicalDataError(InputError):
    """A clinical value is missing or out of range."""


class OutputError(ALNPredictorError):
    """An output file could not be written whole (full disk, read-only folder, a link or folder in
    the way); nothing partial was left (see :mod:`alnpredictor.outputs`)."""
