"""One patient's report from a prediction, a model and the reference image with its ROIs.

The single place that assembles key images, the nomogram with this patient's points, the model
card and the features into the PDF + JSON report; the Slicer Logic and the demo both call it.

With ``sequences`` (each sequence's image and its ROIs as propagated there) the key images are one
axial slice per sequence and structure, the ROI volumes are measured on each sequence and every
ROI is checked for touching its image's border.

The report's files (PDF, JSON, key-image PNGs, nomogram PNG + SVG) are one
:class:`~alnpredictor.outputs.OutputGroup`: each is written to a temporary file beside its final
name and all are renamed only when every one was written whole. A full disk, a read-only folder or
a failure while laying out the PDF leaves none of them (and any report already there untouched),
and raises an :class:`~alnpredictor.errors.ALNPredictorError` that names the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import SimpleITK as sitk

from alnpredictor.errors import InputError, OutputError
from alnpredictor.models.prediction import Prediction, prediction_dict
from alnpredictor.outputs import OutputGroup
from alnpredictor.report.document import build_report, json_report_bytes, render_pdf
from alnpredictor.report.keyimages import render_key_images, render_sequence_key_images, touches_border


class _StagedGroup(OutputGroup):
    """An :class:`OutputGroup` that remembers each file's temporary path: the PDF embeds the
    staged PNGs before they are renamed."""

    def __init__(self) -> None:
        super().__init__()
        self.staged: dict[Path, Path] = {}

    def path(self, final: str | Path) -> Path:
        tmp = super().path(final)
        self.staged[Path(final)] = tmp
        return tmp


def nomogram_png(model: Any, values: Mapping[str, Any], path: str | Path, title: str | None = None,
                 group: OutputGroup | None = None) -> Path | None:
    """PNG (and SVG) of the model's nomogram with this patient's points marked, written atomically
    or staged in ``group``; None for models without a points scale (e.g. SVM signatures)."""
    from alnpredictor.report.figures import nomogram_figure, save_figure

    try:
        figure = nomogram_figure(model, values, title=title)
    except InputError:
        return None
    return save_figure(figure, Path(path).with_suffix(""), group=group)[0]


def export_patient_report(
    out_dir: str | Path,
    prediction: Prediction | Mapping[str, Any],
    model: Any,
    image: sitk.Image,
    masks: Mapping[str, sitk.Image],
    *,
    features: Mapping[str, float] | None = None,
    clinical: Mapping[str, Any] | None = None,
    identifiers: Mapping[str, str] | None = None,
    include_identifiers: bool = False,
    quality: Mapping[str, Any] | None = None,
    image_label: str = "reference image",
    demo: bool = False,
    stem: str = "ALNPredictor-report",
    sequences: Mapping[str, tuple[sitk.Image, Mapping[str, sitk.Image]]] | None = None,
    provenance: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``<stem>.pdf`` and ``<stem>.json`` (plus key-image and nomogram PNGs) into ``out_dir``,
    all or none of them (module docstring).

    :param prediction: ``model.predict_case(...)``, or a stored result (``Prediction.to_dict()``).
    :param masks: ``{"tumor": mask, "nodes": mask}`` on ``image``'s grid (empty ones are skipped).
    :param sequences: sequence code → (image, {structure: mask on that image's grid}), the
        reference first (MRI: ``result.masks[(ROI, SEQ)]`` per sequence): key images, ROI volumes
        and border checks per sequence. Without it, ``image`` and ``masks`` stand for the one image.
    :param provenance: how the features were computed (the pathway's ``provenance``: parameter
        file, N4, versions, deep backbone), shown in words on page 2.
    :returns: paths of the PDF, JSON, key images and nomogram (None without a points scale).
    :raises OutputError: a file could not be written (nothing was).
    """
    from reportlab.platypus.doctemplate import LayoutError

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputError(f"could not write the report into {out}: it is a file; choose a folder (nothing was written)")
    prediction = prediction_dict(prediction)
    values = {**(features or {}), **(clinical or {}), **(prediction.get("values") or {})}
    used = {f: (features or {}).get(f) for f in (model.features if model is not None else [])}
    pdf, json_path = out / f"{stem}.pdf", out / f"{stem}.json"
    per_sequence = {str(k): (v[0], {n: m for n, m in dict(v[1]).items() if m is not None})
                    for k, v in (sequences or {}).items()}
    reference = next(iter(per_sequence), None) or image_label
    on_grids = per_sequence or {reference: (image, dict(masks))}
    # a single-slice frame (ultrasound) has areas, not volumes
    flat = {seq: img.GetDimension() == 2 or img.GetSize()[2] == 1 for seq, (img, _) in on_grids.items()}
    volumes = {seq: {name: _volume_ml(m) for name, m in roi.items()} for seq, (_, roi) in on_grids.items()
               if not flat[seq]}
    areas = {seq: {name: _area_mm2(m) for name, m in roi.items()} for seq, (_, roi) in on_grids.items() if flat[seq]}
    if not per_sequence:  # the propagated ROIs' volumes as the registration measured them
        for seq, q in ((quality or {}).get("registration") or {}).items():
            if isinstance(q, Mapping) and isinstance(q.get("structures"), Mapping):
                volumes[str(seq)] = {n: v.get("volume_ml") for n, v in q["structures"].items() if isinstance(v, Mapping)}
    findings = [f"ROI touching the image border: {name} on {seq} reaches the edge along {', '.join(axes)}; the "
                "structure may be cut off by the field of view."
                for seq, (_, roi) in on_grids.items() for name, m in roi.items() if (axes := touches_border(m))]
    with _StagedGroup() as group:
        if per_sequence:
            grid = render_sequence_key_images(per_sequence, out, group=group)
            key_images = [Path(g["path"]) for g in grid]
        else:
            grid = []
            key_images = render_key_images(image, dict(masks), out, label=image_label, group=group)
        nomogram = nomogram_png(model, values, out / "nomogram.png", group=group) if model is not None else None
        report = build_report(prediction, model.card if model is not None else {}, features=used, clinical=clinical,
                              identifiers=identifiers, include_identifiers=include_identifiers, key_images=key_images,
                              nomogram_image=nomogram, quality=quality, demo=demo, key_image_grid=grid,
                              provenance=provenance, roi_volumes_ml=volumes, roi_areas_mm2=areas, findings=findings,
                              points_scale=model.spec.get("points") if model is not None else None,
                              reference=reference)
        # the JSON names the final files; the PDF is laid out from the staged ones
        data = json_report_bytes(report)
        staged = {**report, "key_images": [str(group.staged[Path(p)]) for p in key_images],
                  "key_image_grid": [{**g, "path": str(group.staged[Path(g["path"])])} for g in grid],
                  "nomogram_image": str(group.staged[Path(nomogram)]) if nomogram else None}
        try:
            group.write_with(pdf, lambda tmp: render_pdf(staged, tmp))
        except LayoutError as exc:  # a safety net: cells are cut to fit a page (document.MAX_CELL_CHARS)
            raise OutputError(f"could not write {pdf}: the report could not be laid out on a page "
                              f"({str(exc).splitlines()[0][:200]}); shorten the longest field (nothing was written)"
                              ) from exc
        group.write_with(json_path, lambda tmp: Path(tmp).write_bytes(data))
        group.commit()
    return {"pdf": str(pdf), "json": str(json_path), "key_images": [str(p) for p in key_images],
            "nomogram": str(nomogram) if nomogram else None}


def _volume_ml(mask: sitk.Image) -> float:
    """Volume of a binary mask in mL (:func:`alnpredictor.imaging.segmentation.mask_size`)."""
    from alnpredictor.imaging.segmentation import mask_size

    return mask_size(mask)["volume_ml"]


def _area_mm2(mask: sitk.Image) -> float:
    """Area of a single-slice binary mask in mm² (pixels × pixel area)."""
    import numpy as np

    pixels = int(np.count_nonzero(sitk.GetArrayViewFromImage(mask)))
    return round(pixels * float(np.prod(mask.GetSpacing()[:2])), 3)
