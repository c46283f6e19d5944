"""Key images for reports: an axial slice through a structure's centroid with ROI outlines.

Rendered offscreen with matplotlib (Agg canvas, no pyplot: the host's backend is left alone) from
SimpleITK images, so the same pictures come out of the Slicer module, the command line and
headless tests. Each PNG is written atomically, or staged in a report's
:class:`~alnpredictor.outputs.OutputGroup`; the title (which may hold a volume's name) is drawn as
plain text and cut to :data:`MAX_TITLE_CHARS`.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from alnpredictor.outputs import OutputGroup, atomic_path

#: Outline colours per segment (match the Slicer module's segment colours).
OUTLINE_COLORS = {"tumor": "#e63333", "nodes": "#33bf4d"}
#: Longest title drawn above a key image (a volume name can be anything).
MAX_TITLE_CHARS = 90


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
    group: OutputGroup | None = None,
    square: bool = False,
    size_in: float = 4.2,
    show_title: bool = True,
) -> Path | None:
    """Render the axial slice through ``masks[focus]``'s centroid with every mask outlined.

    The view is cropped around the focus structure (``crop_margin_mm`` around its extent on the
    slice) and shown in radiological convention as the voxel grid stores it. Returns the PNG
    path, or None when the focus mask is empty. With ``group`` the PNG is staged in it (it
    appears when the caller commits); otherwise it is written atomically at once. ``square`` crops
    the same extent in millimetres across and down (thumbnails of one grid in the report), the
    picture ``size_in`` inches wide.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from alnpredictor.report.figures import plain

    if focus not in masks:
        return None
    k = centroid_slice(masks[focus])
    if k is None:
        return None
    arr = sitk.GetArrayViewFromImage(image)[k].astype(float)
    sx, sy = image.GetSpacing()[:2]
    focus_slice = sitk.GetArrayViewFromImage(masks[focus])[k]
    js, is_ = np.nonzero(focus_slice)
    if square:  # one half-width in mm both ways, around the structure's centre on this slice
        half = max((js.max() - js.min() + 1) * sy, (is_.max() - is_.min() + 1) * sx) / 2 + crop_margin_mm
        cj, ci = (js.min() + js.max()) / 2, (is_.min() + is_.max()) / 2
        j0, j1 = max(int(cj - half / sy), 0), min(int(cj + half / sy) + 1, arr.shape[0])
        i0, i1 = max(int(ci - half / sx), 0), min(int(ci + half / sx) + 1, arr.shape[1])
    else:
        mj, mi = int(crop_margin_mm / sy), int(crop_margin_mm / sx)
        j0, j1 = max(js.min() - mj, 0), min(js.max() + mj + 1, arr.shape[0])
        i0, i1 = max(is_.min() - mi, 0), min(is_.max() + mi + 1, arr.shape[1])
    view = arr[j0:j1, i0:i1]
    lo, hi = _window(view)
    fig = Figure(figsize=(size_in, size_in * (j1 - j0) * sy / max((i1 - i0) * sx, 1e-6)), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.imshow(view, cmap="gray", vmin=lo, vmax=hi, aspect=sy / sx, interpolation="nearest")
    # the focus structure last: its outline stays visible where two ROIs share a boundary
    for name, mask in sorted(masks.items(), key=lambda item: item[0] == focus):
        m = sitk.GetArrayViewFromImage(mask)[k][j0:j1, i0:i1]
        if m.any():
            ax.contour(m.astype(float), levels=[0.5], colors=[OUTLINE_COLORS.get(name, "#ffd60a")], linewidths=1.4)
    title = title or f"{focus}: axial slice {k}"
    if len(title) > MAX_TITLE_CHARS:
        title = title[:MAX_TITLE_CHARS - 1] + "…"
    # wrapped to the picture's width (long words are broken too)
    if show_title:  # thumbnails of the report's grid are captioned in the PDF instead
        ax.set_title(plain(textwrap.fill(title, width=int(46 * size_in / 4.2))), fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    path = Path(path)
    fig.tight_layout()
    if group is not None:
        tmp = group.path(path)
        try:
            fig.savefig(tmp, dpi=110, format="png")
        except OSError as exc:
            from alnpredictor.outputs import output_error

            raise output_error(path, exc) from exc
    else:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, format="png")
    return path


def render_key_images(image: sitk.Image, masks: dict[str, sitk.Image], out_dir: str | Path,
                      label: str = "T1C", group: OutputGroup | None = None) -> list[Path]:
    """Key images through the tumor and through the nodes (whichever masks are non-empty); with
    ``group`` they are staged in it (see :func:`render_key_image`)."""
    label = label if len(label) <= 30 else label[:29] + "…"  # keep the title's own words visible
    out = []
    for focus in ("tumor", "nodes"):
        single = image.GetDimension() == 2 or image.GetSize()[2] == 1  # an ultrasound frame has no axial slices
        title = f"{label} — {focus}" if single else f"{label} — axial slice through the {focus} centroid"
        p = render_key_image(image, masks, focus, Path(out_dir) / f"key-{focus}.png", title=title, group=group)
        if p is not None:
            out.append(p)
    return out


def touches_border(mask: sitk.Image) -> list[str]:
    """Axes (``x``, ``y``, ``z``) along which a mask reaches the first or last voxel of its image
    (the structure may be cut off by the field of view); empty for an empty mask or one inside."""
    arr = sitk.GetArrayViewFromImage(mask)
    if not arr.any():
        return []
    out = []
    for axis, name in zip(range(arr.ndim), "zyx"[3 - arr.ndim:] if arr.ndim <= 3 else "zyx"):
        n = arr.shape[axis]
        if n <= 1:
            continue
        present = np.nonzero(arr.any(axis=tuple(a for a in range(arr.ndim) if a != axis)))[0]
        if present[0] == 0 or present[-1] == n - 1:
            out.append(name)
    return sorted(out, key="xyz".index)


def render_sequence_key_images(sequences: dict[str, tuple[sitk.Image, dict[str, sitk.Image]]], out_dir: str | Path,
                               group: OutputGroup | None = None) -> list[dict[str, str]]:
    """One thumbnail per sequence and structure: the axial slice through the structure on that
    sequence's grid, every ROI outlined as it was propagated there (``key-<structure>-<SEQ>.png``).

    :param sequences: sequence code → (image, {structure: mask on that image's grid}).
    :returns: ``{"sequence", "structure", "path"}`` per picture, sequences in the given order and
        the structures of :data:`OUTLINE_COLORS` first.
    """
    out = []
    for seq, (image, masks) in sequences.items():
        order = [n for n in OUTLINE_COLORS if n in masks] + [n for n in masks if n not in OUTLINE_COLORS]
        for focus in order:
            safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in f"{focus}-{seq}")
            p = render_key_image(image, dict(masks), focus, Path(out_dir) / f"key-{safe}.png",
                                 title=f"{seq[:20]} — {focus[:20]}", group=group, square=True, size_in=2.6,
                                 crop_margin_mm=25.0, show_title=False)
            if p is not None:
                out.append({"sequence": str(seq), "structure": str(focus), "path": str(p)})
    return out
