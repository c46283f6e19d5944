"""Small helpers shared by several test modules."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk


def dice(a, b) -> float:
    """Dice overlap of two masks (SimpleITK images or arrays; non-zero = inside)."""
    x = sitk.GetArrayViewFromImage(a) > 0 if isinstance(a, sitk.Image) else np.asarray(a) > 0
    y = sitk.GetArrayViewFromImage(b) > 0 if isinstance(b, sitk.Image) else np.asarray(b) > 0
    return float(2 * (x & y).sum() / (x.sum() + y.sum()))
