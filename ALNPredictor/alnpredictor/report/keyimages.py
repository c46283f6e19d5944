"""Key images for reports: an axial slice through a structure's centroid with ROI outlines.

Rendered offscreen with matplotlib (Agg) from SimpleITK images, so the same pictures come out of
the Slicer module, the command line and headless tests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

#: Outline colours per segment (match the Slicer module's segment colours).
OUTLINE_COLORS = {"tumor": "#e63333", "nodes": "#33bf4d"}


def centroid_slice(mask: sitk.Image) -> int | None:
    """Index (k) of the axial slice through the mask's centroid; None for an empty mask."""
    arr = sitk.GetArrayViewFromImage(mask)
    if not arr.any():
        return None
    ks = np.nonzero(arr)[0]
    k = int(round(ks.mean()))
    # A concave or multi-part mask may miss its own centroid slice: take the closest slice that has it.
    present = np.unique(ks)
    return int(present[np.argmin(np.abs(present - k))])


def _window(values: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(values, [1, 99.5])
    return float(lo), float(hi if hi > lo else lo + 1)


def render_key_image(
    image: sitk.Image,
    masks: dict[str, sitk.Image],
    focus: str,
    path: str | Path,
    *,
    title: str | None = None,
    crop_margin_mm: float = 40.0,
) -> Path | None:
    """Render the axial slice through ``masks[focus]``'s centroid with every mask outlined.

    The view is cropped around the focus structure (``crop_margin_mm`` around its extent on the
    slice) and shown in radiological convention as the voxel grid stores it. Returns the PNG
    path, or None when the focus mask is empty.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if focus not in masks:
        return None
    k = centroid_slice(masks[focus])
    if k is None:
        return None
    arr = sitk.GetArrayViewFromImage(image)[k].astype(float)
    sx, sy = image.GetSpacing()[:2]
    focus_slice = sitk.GetArrayViewFromImage(masks[focus])[k]
    js, is_ = np.nonzero(focus_slice)
    mj, mi = int(crop_margin_mm / sy), int(crop_margin_mm / sx)
    j0, j1 = max(js.min() - mj, 0), min(js.max() + mj + 1, arr.shape[0])
    i0, i1 = max(is_.min() - mi, 0), min(is_.max() + mi + 1, arr.shape[1])
    view = arr[j0:j1, i0:i1]
    lo, hi = _window(view)
    fig, ax = plt.subplots(figsize=(4.2, 4.2 * (j1 - j0) * sy / max((i1 - i0) * sx, 1e-6)), dpi=110)
    ax.imshow(view, cmap="gray", vmin=lo, vmax=hi, aspect=sy / sx, interpolation="nearest")
    for name, mask in masks.items():
        m = sitk.GetArrayViewFromImage(mask)[k][j0:j1, i0:i1]
        if m.any():
            ax.contour(m.astype(float), levels=[0.5], colors=[OUTLINE_COLORS.get(name, "#ffd60a")], linewidths=1.4)
    ax.set_title(title or f"{focus}: axial slice {k}", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def render_key_images(image: sitk.Image, masks: dict[str, sitk.Image], out_dir: str | Path,
                      label: str = "T1C") -> list[Path]:
    """Key images through the tumor and through the nodes (whichever masks are non-empty)."""
    out = []
    for focus in ("tumor", "nodes"):
        p = render_key_image(image, masks, focus, Path(out_dir) / f"key-{focus}.png",
                             title=f"{label} — axial slice through the {focus} centroid")
        if p is not None:
            out.append(p)
    return out
