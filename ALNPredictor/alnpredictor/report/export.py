"""One patient's report from a prediction, a model and the reference image with its ROIs.

The single place that assembles key images, the nomogram with this patient's points, the model
card and the features into the PDF + JSON report; the Slicer Logic and the demo both call it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import SimpleITK as sitk

from alnpredictor.errors import InputError
from alnpredictor.models.prediction import Prediction, prediction_dict
from alnpredictor.report.document import build_report, write_json_report, write_pdf_report
from alnpredictor.report.keyimages import render_key_images


def nomogram_png(model: Any, values: Mapping[str, Any], path: str | Path, title: str | None = None) -> Path | None:
    """PNG of the model's nomogram with this patient's points marked; None for models without a
    points scale (e.g. SVM signatures)."""
    from alnpredictor.report.figures import nomogram_figure, save_figure

    try:
        figure = nomogram_figure(model, values, title=title)
    except InputError:
        return None
    return save_figure(figure, Path(path).with_suffix(""))[0]


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
) -> dict[str, Any]:
    """Write ``<stem>.pdf`` and ``<stem>.json`` (plus key-image and nomogram PNGs) into ``out_dir``.

    :param prediction: ``model.predict_case(...)``, or a stored result (``Prediction.to_dict()``).
    :param masks: ``{"tumor": mask, "nodes": mask}`` on ``image``'s grid (empty ones are skipped).
    :returns: paths of the PDF, JSON, key images and nomogram (None without a points scale).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    key_images = render_key_images(image, dict(masks), out, label=image_label)
    prediction = prediction_dict(prediction)
    values = {**(features or {}), **(clinical or {}), **(prediction.get("values") or {})}
    nomogram = nomogram_png(model, values, out / "nomogram.png") if model is not None else None
    used = {f: (features or {}).get(f) for f in (model.features if model is not None else [])}
    report = build_report(prediction, model.card if model is not None else {}, features=used, clinical=clinical,
                          identifiers=identifiers, include_identifiers=include_identifiers, key_images=key_images,
                          nomogram_image=nomogram, quality=quality, demo=demo)
    return {"pdf": str(write_pdf_report(report, out / f"{stem}.pdf")),
            "json": str(write_json_report(report, out / f"{stem}.json")),
            "key_images": [str(p) for p in key_images], "nomogram": str(nomogram) if nomogram else None}
