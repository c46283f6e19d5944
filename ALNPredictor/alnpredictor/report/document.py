"""Patient reports: one JSON document, rendered to PDF with reportlab.

``build_report`` gathers the prediction (a :class:`~alnpredictor.models.prediction.Prediction` or
its stored dict form, the class label under ``"class"``), the model card, the features, the
quality and provenance of the images and the key images into a plain dict (written as JSON by
``write_json_report``), and puts what a reader needs into words: how the probability was computed,
the warnings (extrapolation, rejected registration or large motion, ROI touching the border,
untrained deep backbone, synthetic-data model), one sentence per sequence, the model card summary.

``write_pdf_report`` lays it out for a radiologist: page 1 the clinical answer (probability with its
interval, class at the cut-off, points per predictor, warnings, nomogram, key images), page 2 the
quality in words (registration per sequence, ROI volumes in mL, N4, software and parameter file),
then appendix A (model card summary) and B (the values the model used). No JSON and no raw
key/value dumps are printed: the JSON report has everything else.

Patient and study identifiers appear only when the user asks (``include_identifiers=True``). Every
user-provided string is escaped before it reaches reportlab's mini-markup, so a name such as
``<b>O'Neil & Co</b>`` is printed as typed and cannot change the document.

Text is set in DejaVu Sans (the fonts matplotlib ships, embedded in the PDF), so accented, Greek,
Cyrillic, Hebrew and Arabic names print as typed rather than as boxes; characters the font lacks
and emoji print as U+FFFD (a replacement mark), and right-to-left text is printed in stored
(logical) order — shaping it needs HarfBuzz, which is not a dependency. A cell longer than
:data:`MAX_CELL_CHARS` is cut with a note (the JSON keeps the whole value), so no field can make a
table too tall for a page. Both writers are atomic (:mod:`alnpredictor.outputs`).
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from alnpredictor import __version__
from alnpredictor.jsonsafe import json_safe
from alnpredictor.models.prediction import Prediction, prediction_dict
from alnpredictor.outputs import atomic_path, write_bytes

RESEARCH_STATEMENT = (
    "Research software. This prediction has not been cleared for clinical use and must not be used "
    "for diagnosis or treatment decisions."
)
DEMO_STATEMENT = "Demonstration model trained on synthetic data: the numbers illustrate the tool, not a patient."
#: Longest text printed in one PDF table cell; longer values are cut with a note (the JSON has them whole).
MAX_CELL_CHARS = 400
#: The PDF's fonts: DejaVu (shipped with matplotlib), registered with reportlab under these names.
FONT, FONT_BOLD, FONT_ITALIC, FONT_MONO = "DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-Oblique", "DejaVuSansMono"


#: Motion (mm / degrees) above which an accepted registration is called "large" in the warnings.
LARGE_MOTION_MM, LARGE_MOTION_DEG = 5.0, 5.0
#: What the deep-feature provenance says when no weights were given (features.deep.UNTRAINED).
UNTRAINED_BACKBONE = "untrained backbone"


def build_report(
    prediction: Prediction | Mapping[str, Any],
    model_card: Mapping[str, Any],
    *,
    features: Mapping[str, float] | None = None,
    clinical: Mapping[str, Any] | None = None,
    identifiers: Mapping[str, str] | None = None,
    include_identifiers: bool = False,
    key_images: list[str | Path] | None = None,
    nomogram_image: str | Path | None = None,
    quality: Mapping[str, Any] | None = None,
    demo: bool = False,
    key_image_grid: list[Mapping[str, str]] | None = None,
    provenance: Mapping[str, Any] | None = None,
    roi_volumes_ml: Mapping[str, Mapping[str, float]] | None = None,
    roi_areas_mm2: Mapping[str, Mapping[str, float]] | None = None,
    findings: list[str] | None = None,
    points_scale: Mapping[str, Any] | None = None,
    reference: str | None = None,
) -> dict[str, Any]:
    """The report as a JSON-ready dict; the PDF shows its clinical part in words (:func:`render_pdf`).

    :param prediction: from ``FittedModel.predict_case`` (probability, class, cut-off, points...), or
        a stored result (``Prediction.to_dict()``, e.g. read back from a saved scene).
    :param model_card: the bundle's model card (training cohort, validation AUCs, cut-off, use).
    :param identifiers: patient/study identifiers; kept only with ``include_identifiers=True``.
    :param quality: segmentation / registration quality (``registration`` per sequence, ``roi_errors``).
    :param key_image_grid: ``{"sequence", "structure", "path"}`` per key image (one per sequence
        and structure); ``key_images`` are the reference sequence's pictures when there is no grid.
    :param provenance: how the features were computed (parameter file and its SHA-256, N4,
        versions, deep backbone), as the pathways record it.
    :param roi_volumes_ml: sequence → structure → volume in mL.
    :param roi_areas_mm2: image → structure → area in mm² (single-slice frames such as ultrasound).
    :param findings: further warnings in words (e.g. a ROI touching the image border).
    :param points_scale: the model's nomogram points scale (predictor ranges: extrapolation warnings).
    :param reference: the sequence the ROIs were drawn on.
    """
    pred = prediction_dict(prediction)
    card = dict(model_card)
    quality = dict(quality or {})
    provenance = dict(provenance or {})
    demo = bool(demo or card.get("demo"))
    statement = RESEARCH_STATEMENT + (" " + DEMO_STATEMENT if demo else "")
    ranges = _predictor_ranges(points_scale)
    values = {**dict(clinical or {}), **(pred.get("values") or {})}
    report = {
        "title": "ALNPredictor — axillary lymph node metastasis prediction",
        "generated_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "software": {"alnpredictor": __version__},
        "statement": statement,
        "identifiers": dict(identifiers or {}) if include_identifiers else None,
        "prediction": pred,
        "computed_as": _computed_as(pred, card),
        "clinical": dict(clinical or {}),
        "warnings": _warnings(pred, card, quality, provenance, demo, ranges, values, list(findings or [])),
        "quality_summary": _quality_summary(quality, reference),
        "roi_volumes_ml": {str(k): dict(v) for k, v in (roi_volumes_ml or {}).items()},
        "roi_areas_mm2": {str(k): dict(v) for k, v in (roi_areas_mm2 or {}).items()},
        "processing": _processing(provenance, card),
        "nomogram_ranges": ranges,
        "model_card": card,
        "model_card_summary": _card_summary(card),
        "quality": quality,
        "provenance": provenance,
        "key_images": [str(p) for p in (key_images or [])],
        "key_image_grid": [dict(g) for g in (key_image_grid or [])],
        "nomogram_image": str(nomogram_image) if nomogram_image else None,
        "features": dict(features or {}),
    }
    return json_safe(report)


def _num(value: Any, digits: int = 2) -> str:
    """A number in prose: fixed decimals and a true minus sign ("−0.67")."""
    try:
        return f"{float(value):.{digits}f}".replace("-", "−")
    except (TypeError, ValueError):
        return str(value)


def _predictor_ranges(points_scale: Mapping[str, Any] | None) -> dict[str, list[float]]:
    """Predictor name → the range its nomogram axis covers (continuous predictors)."""
    out = {}
    for p in (points_scale or {}).get("predictors", []):
        if p.get("kind") == "continuous" and p.get("range"):
            out[str(p["name"])] = [float(v) for v in p["range"]]
    return out


def _computed_as(pred: Mapping[str, Any], card: Mapping[str, Any]) -> str:
    """How the probability was computed, in one or two sentences."""
    parts = []
    description = card.get("description")
    if pred.get("total_points") is not None and pred.get("linear_predictor") is not None:
        parts.append(f"Logistic model: {_num(pred['total_points'], 1)} total points → log-odds "
                     f"{_num(pred['linear_predictor'])} → probability = 1 / (1 + e^−log-odds).")
    elif description:
        parts.append(f"{str(description)[0].upper()}{str(description)[1:]}.")
    interval = pred.get("interval")
    if isinstance(interval, Mapping) and interval.get("low") is not None:
        level = int(round(100 * float(interval.get("level", 0.95))))
        parts.append(f"{level}% interval: {interval.get('method') or 'as recorded'}.")
    elif pred.get("probability") is not None:
        parts.append("No interval: the model has no covariance matrix for the probability.")
    signature = pred.get("signature")
    if isinstance(signature, Mapping) and signature.get("probability") is not None:
        parts.append(f"Imaging signature alone: probability {_num(signature['probability'], 3)}.")
    return " ".join(parts)


def _warnings(pred: Mapping[str, Any], card: Mapping[str, Any], quality: Mapping[str, Any],
              provenance: Mapping[str, Any], demo: bool, ranges: Mapping[str, list[float]],
              values: Mapping[str, Any], findings: list[str]) -> list[str]:
    """Everything a reader must know before trusting the number, in words."""
    out: list[str] = []
    if demo:
        out.append("Synthetic-data model: trained on synthetic data for demonstration; not a clinical result.")
    for w in pred.get("warnings") or []:
        message = w.get("message") if isinstance(w, Mapping) else w
        if not message:
            continue
        details = (w.get("details") or w) if isinstance(w, Mapping) else {}
        named = list(details.get("features") or {}) if isinstance(details, Mapping) else []
        said = " ".join(str(m) for m in pred.get("clinical_warnings") or [])
        if named and all(f"{n} " in said for n in named):
            continue  # the clinical check below says it, with the range
        code = w.get("code") if isinstance(w, Mapping) else None
        out.append(("Extrapolation: " if code == "feature_out_of_training_range" else "") + str(message))
    for message in pred.get("clinical_warnings") or []:
        out.append(f"Clinical value: {message}")
    for name, (lo, hi) in ranges.items():
        v = values.get(name)
        try:
            v = float(v)
        except (TypeError, ValueError):
            continue
        if v < lo or v > hi:
            pts = (pred.get("points") or {}).get(name)
            out.append(f"Nomogram: {name} = {v:g} lies beyond its axis ({lo:g}–{hi:g}); marked at the axis end"
                       f"{f', {_num(pts, 1)} points extrapolated' if pts is not None else ''}.")
    for seq, q in (quality.get("registration") or {}).items():
        if not isinstance(q, Mapping):
            continue
        shift, angle = q.get("translation_mm"), q.get("rotation_deg")
        if q.get("rejected"):
            out.append(f"Registration rejected on {seq}: the ROIs were carried over by scanner coordinates only; "
                       f"check the outlines on {seq}.")
        elif q.get("registered") and ((shift or 0) > LARGE_MOTION_MM or (angle or 0) > LARGE_MOTION_DEG):
            out.append(f"Large motion on {seq}: registration moved {_num(shift, 1)} mm / {_num(angle, 1)}°; "
                       f"check the outlines on {seq}.")
        for w in q.get("warnings") or []:
            if not q.get("rejected") or "rejected" not in str(w):
                out.append(f"{seq}: {w}.")
    for block, message in (quality.get("roi_errors") or {}).items():
        out.append(f"{block}: {message}.")
    out.extend(findings)
    deep = provenance.get("deep") if isinstance(provenance.get("deep"), Mapping) else {}
    trained = ((card.get("details") or {}).get("us_pathway") or {}) if isinstance(card.get("details"), Mapping) else {}
    if deep.get("untrained") or str(trained.get("deep_backbone") or "") == UNTRAINED_BACKBONE:
        out.append("Untrained deep backbone: the deep features come from a randomly initialised ResNet50, not the "
                   "study's trained network; the deep-learning signature is a stand-in.")
    return list(dict.fromkeys(out))


def _quality_summary(quality: Mapping[str, Any], reference: str | None) -> list[str]:
    """One sentence per sequence: how the ROIs got there and how well."""
    out = []
    seg = quality.get("segmentation") if isinstance(quality.get("segmentation"), Mapping) else None
    ref = reference or "the reference sequence"
    if seg:
        engine = seg.get("engine") or seg.get("segmenter") or seg.get("method") or "seeded segmentation"
        out.append(f"{ref}: reference; ROIs segmented here ({engine}).")
    elif reference:
        out.append(f"{ref}: reference; ROIs drawn or given on it.")
    for seq, q in (quality.get("registration") or {}).items():
        if not isinstance(q, Mapping):
            continue
        if q.get("registered"):
            text = (f"{seq}: registered to {ref}, moved {_num(q.get('translation_mm'), 1)} mm / "
                    f"{_num(q.get('rotation_deg'), 1)}°, {'converged' if q.get('converged') else 'did not converge'}")
            if q.get("metric") is not None:
                text += f", metric {_num(q['metric'])}"
            if q.get("iterations"):
                text += f" ({q['iterations']} iterations)"
            out.append(text + ".")
        elif q.get("rejected"):
            out.append(f"{seq}: registration rejected (it moved {_num(q.get('translation_mm'), 1)} mm / "
                       f"{_num(q.get('rotation_deg'), 1)}°, beyond the limit); ROIs carried over by scanner coordinates.")
        else:
            out.append(f"{seq}: not registered; ROIs carried over by scanner coordinates.")
    return out


def _processing(provenance: Mapping[str, Any], card: Mapping[str, Any]) -> list[list[str]]:
    """(item, text) rows: N4, parameter file, software versions, deep backbone, model bundle."""
    rows: list[list[str]] = []
    n4 = provenance.get("n4")
    settings = provenance.get("settings") if isinstance(provenance.get("settings"), Mapping) else {}
    if isinstance(n4, Mapping) or "n4" in settings:
        applied = n4.get("applied") if isinstance(n4, Mapping) else settings.get("n4")
        text = "applied" if applied else "not applied"
        iterations = settings.get("n4_iterations") or (n4.get("iterations") if isinstance(n4, Mapping) else None)
        if applied and iterations:
            text += f" (fitting levels {' × '.join(str(i) for i in iterations)} iterations)"
        rows.append(["N4 bias-field correction", text])
    params = provenance.get("params_path") or provenance.get("radiomics_params") or provenance.get("params_name")
    if params:
        sha = provenance.get("params_sha256") or provenance.get("radiomics_params_sha256")
        rows.append(["Radiomics parameter file", f"{Path(str(params)).name}" + (f" (SHA-256 {sha[:12]}…)" if sha else "")])
    versions = [("alnpredictor", provenance.get("alnpredictor_version") or __version__),
                ("PyRadiomics", provenance.get("pyradiomics_version")), ("SimpleITK", provenance.get("simpleitk_version")),
                ("NumPy", provenance.get("numpy_version")), ("PyWavelets", provenance.get("pywavelets_version"))]
    rows.append(["Software", ", ".join(f"{n} {v}" for n, v in versions if v)])
    deep = provenance.get("deep") if isinstance(provenance.get("deep"), Mapping) else None
    if deep:
        rows.append(["Deep features", f"{deep.get('backbone', 'ResNet50')}; weights: {deep.get('weights', '—')}"])
    model = [str(card.get("name") or "—")]
    if card.get("recipe"):
        model.append(f"recipe {card['recipe']}")
    if card.get("created"):
        model.append(f"created {card['created']}")
    trained_with = card.get("software") if isinstance(card.get("software"), Mapping) else {}
    if trained_with.get("pyradiomics"):
        model.append(f"features of PyRadiomics {trained_with['pyradiomics']}")
    rows.append(["Model bundle", ", ".join(model)])
    return rows


def _card_summary(card: Mapping[str, Any]) -> list[list[str]]:
    """The model card in words: (item, text) rows for the appendix."""
    rows: list[list[str]] = [["Model", str(card.get("name") or "—")]]
    if card.get("description"):
        rows.append(["Method", f"{card.get('recipe')}: {card['description']}"])
    tr = card.get("training") if isinstance(card.get("training"), Mapping) else {}
    if tr:
        text = f"n = {tr.get('n')}"
        if tr.get("n_positive") is not None:
            text += f", {tr['n_positive']} with metastasis"
        if tr.get("prevalence") is not None:
            text += f" (prevalence {100 * float(tr['prevalence']):.1f}%)"
        if tr.get("site"):
            text = f"site {tr['site']}: " + text
        rows.append(["Training cohort", text])
    metrics = card.get("metrics") if isinstance(card.get("metrics"), Mapping) else {}
    if metrics.get("auc") is not None:
        ci = metrics.get("auc_ci") or []
        text = f"AUC {_num(metrics['auc'], 3)}"
        if len(ci) == 2:
            text += f" (95% CI {_num(ci[0], 3)}–{_num(ci[1], 3)}, {metrics.get('auc_method', 'DeLong')})"
        if metrics.get("brier") is not None:
            text += f"; Brier score {_num(metrics['brier'], 3)}"
        cal = metrics.get("calibration") if isinstance(metrics.get("calibration"), Mapping) else {}
        if cal.get("slope") is not None:
            text += f"; calibration slope {_num(cal['slope'])}"
        large = cal.get("calibration_in_the_large", cal.get("intercept"))
        if large is not None:
            text += f", calibration-in-the-large {_num(large)}"
        at = metrics.get("at_cutoff") if isinstance(metrics.get("at_cutoff"), Mapping) else {}
        for name in ("sensitivity", "specificity"):
            m = at.get(name)
            if isinstance(m, Mapping) and m.get("value") is not None:
                ci = m.get("ci") or []
                text += f"; {name} {_num(m['value'], 3)}" + (f" ({_num(ci[0], 3)}–{_num(ci[1], 3)})" if len(ci) == 2 else "")
        rows.append([f"Performance, {metrics.get('kind') or 'training cohort'}", text])
    validation = card.get("validation")
    if isinstance(validation, Mapping) and validation:
        for cohort, v in validation.items():
            if isinstance(v, Mapping) and v.get("auc") is not None:
                ci = v.get("auc_ci") or []
                text = f"AUC {_num(v['auc'], 3)}" + (f" (95% CI {_num(ci[0], 3)}–{_num(ci[1], 3)})" if len(ci) == 2 else "")
                if v.get("n") is not None:
                    text += f", n = {v['n']}"
                rows.append([f"Validation: {cohort}", text])
    else:
        rows.append(["Validation", "No external validation is stored with the model: the performance above is the "
                                   "model's own record; validate it on your cohort (alnpredictor validate)."])
    cut = card.get("cutoff")
    if isinstance(cut, Mapping) and cut.get("value") is not None:
        text = f"{_num(cut['value'], 3)}"
        rule = ", ".join(str(cut[k]) for k in ("method", "source") if cut.get(k))
        rows.append(["Cut-off", text + (f" — {rule}" if rule else "")])
    fields = card.get("clinical_fields") or []
    inputs = [f"{card.get('n_features', len(card.get('features') or []))} imaging feature(s)"]
    for f in fields:
        if isinstance(f, Mapping):
            if f.get("values"):
                inputs.append(f"{f['name']} ({', '.join(str(v) for v in f['values'])})")
            elif f.get("min") is not None:
                inputs.append(f"{f['name']} ({f.get('type', 'number')}, {f['min']}–{f.get('max')})")
            else:
                inputs.append(str(f.get("name")))
    rows.append(["Inputs", "; ".join(inputs)])
    for key, name in (("intended_use", "Intended use"), ("research_use", "Research use")):
        if card.get(key):
            rows.append([name, str(card[key])])
    if card.get("limitations"):
        rows.append(["Limitations", " ".join(str(v) for v in card["limitations"])])
    return rows


def json_report_bytes(report: Mapping[str, Any]) -> bytes:
    """The report as JSON bytes (UTF-8, NaN-free). Built before anything is written; a string that
    is not valid Unicode (a lone surrogate) is kept as its JSON escape rather than failing."""
    text = json.dumps(json_safe(report), indent=2, ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8", errors="backslashreplace")


def write_json_report(report: Mapping[str, Any], path: str | Path) -> Path:
    """Write the report dict as JSON (UTF-8, NaN-free), atomically."""
    return write_bytes(path, json_report_bytes(report))


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
        return f"{_fmt(float(value[0]), digits)}–{_fmt(float(value[1]), digits)}"
    return str(value)


def _printable(text: str, limit: int = MAX_CELL_CHARS) -> str:
    """Text reportlab can lay out: control characters become spaces, invisible format characters
    (direction marks, joiners) are dropped, characters the font lacks or that lie beyond the Basic
    Multilingual Plane (emoji, invalid Unicode) become U+FFFD, and long values are cut."""
    import unicodedata

    from reportlab.pdfbase import pdfmetrics

    register_fonts()
    glyphs = pdfmetrics.getFont(FONT).face.charToGlyph
    out = []
    for c in text:
        category = unicodedata.category(c)
        if category == "Cc":
            out.append(" ")
        elif category != "Cf":
            # beyond the BMP (emoji) reportlab writes a malformed ToUnicode entry: print U+FFFD instead
            out.append(c if (ord(c) in glyphs and ord(c) <= 0xFFFF) or c.isspace() else "\ufffd")
    text = "".join(out)
    if len(text) > limit:
        text = f"{text[:limit]} … (cut: {len(text)} characters; the JSON report has the whole value)"
    return text


def _para(text: Any, style) -> Any:
    from reportlab.platypus import Paragraph

    return Paragraph(escape(_printable(_fmt(text))), style)


def register_fonts() -> None:
    """Register the DejaVu fonts matplotlib ships with reportlab (once) and map the family's bold
    and italic faces, so every page can print any script the font covers."""
    import matplotlib
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if FONT in pdfmetrics.getRegisteredFontNames():
        return
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    faces = {FONT: "DejaVuSans.ttf", FONT_BOLD: "DejaVuSans-Bold.ttf", FONT_ITALIC: "DejaVuSans-Oblique.ttf",
             "DejaVuSans-BoldOblique": "DejaVuSans-BoldOblique.ttf", FONT_MONO: "DejaVuSansMono.ttf"}
    for name, file in faces.items():
        pdfmetrics.registerFont(TTFont(name, str(folder / file)))
    for bold, italic, name in ((0, 0, FONT), (1, 0, FONT_BOLD), (0, 1, FONT_ITALIC), (1, 1, "DejaVuSans-BoldOblique")):
        addMapping(FONT, bold, italic, name)


def write_pdf_report(report: Mapping[str, Any], path: str | Path, *, max_features: int = 400) -> Path:
    """Lay the report out as a PDF (:func:`render_pdf`). Written atomically: a failure leaves no file."""
    with atomic_path(path) as tmp:
        render_pdf(report, tmp, max_features=max_features)
    return Path(path)


def render_pdf(report: Mapping[str, Any], path: str | Path, *, max_features: int = 400) -> Path:
    """Write the PDF straight to ``path`` (a temporary file of :func:`write_pdf_report` or of an
    :class:`~alnpredictor.outputs.OutputGroup`).

    Page 1 is the clinical answer (probability, interval and how it is computed, class at the
    cut-off, points per predictor, warnings, nomogram, key images); page 2 the quality in words
    (registration per sequence, ROI volumes, N4, software and parameter file). Each is scaled down
    to fit its page when long. Appendix A summarises the model card, appendix B lists the values
    the model used. Nothing else is printed: the JSON has the rest.
    """
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Image, KeepInFrame, PageBreak, SimpleDocTemplate, Spacer, Table, TableStyle

    path = Path(path)
    register_fonts()
    styles = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=styles["BodyText"], fontName=FONT, fontSize=9, leading=11.5)
    small = ParagraphStyle("small", parent=body, fontSize=7.5, leading=9)
    italic = ParagraphStyle("italic", parent=small, fontName=FONT_ITALIC)
    h1 = ParagraphStyle("h1", parent=styles["Title"], fontName=FONT_BOLD, fontSize=15, leading=18, spaceAfter=2)
    h2 = ParagraphStyle("h2", parent=styles["Heading2"], fontName=FONT_BOLD, fontSize=11, leading=13, spaceBefore=5,
                        spaceAfter=3)
    big = ParagraphStyle("big", parent=body, fontName=FONT_BOLD, fontSize=12, leading=14)
    warn = ParagraphStyle("warn", parent=small, textColor=colors.HexColor("#9a3300"))
    grid = TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
    ])
    header = TableStyle([*grid.getCommands(), ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dfe6ee"))])
    plain_cells = TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                              ("RIGHTPADDING", (0, 0), (-1, -1), 3)])

    def para(text: Any, style=body) -> Any:
        return _para(text, style)

    width = 180 * mm
    pred = report.get("prediction") or {}
    page1: list[Any] = [para(report.get("title", "ALNPredictor report"), h1),
                        para(f"{report.get('statement', RESEARCH_STATEMENT)} Generated "
                             f"{report.get('generated_at', '')} by alnpredictor "
                             f"{(report.get('software') or {}).get('alnpredictor', '')}.", italic)]
    ids = report.get("identifiers")
    if ids:
        page1.append(Spacer(1, 2 * mm))
        page1.append(Table([[para(k, small), para(v, small)] for k, v in ids.items()], style=grid,
                           colWidths=[40 * mm, 140 * mm]))
    # --- the answer: prediction (left) and points per predictor (right)
    prob = pred.get("probability")
    rows = [[para("ALNM probability", small),
             para(f"{_fmt(prob)} ({100 * float(prob):.0f}%)" if prob is not None else "—", big)]]
    interval = pred.get("interval")
    if isinstance(interval, Mapping) and interval.get("low") is not None:
        level = int(round(100 * float(interval.get("level", 0.95))))
        rows.append([para(f"{level}% interval", small), para(f"{_fmt(interval['low'])}–{_fmt(interval['high'])}", body)])
    elif interval:
        rows.append([para("95% interval", small), para(_fmt(interval), body)])
    label = pred.get("class") or "—"
    rows.append([para("Class at cut-off", small), para(f"{label} (cut-off {_fmt(pred.get('cutoff'))})", body)])
    if pred.get("total_points") is not None:
        rows.append([para("Total nomogram points", small), para(_fmt(pred.get("total_points"), 1), body)])
    if report.get("computed_as"):
        rows.append([para("How it is computed", small), para(report["computed_as"], small)])
    model_name = pred.get("model") or (report.get("model_card") or {}).get("name")
    if model_name:
        rows.append([para("Model", small), para(model_name, small)])
    left = Table(rows, style=grid, colWidths=[28 * mm, 64 * mm])
    points = pred.get("points") or {}
    values = {**(report.get("clinical") or {}), **(pred.get("values") or {})}
    ranges = report.get("nomogram_ranges") or {}
    if points:
        prow = [[para("Predictor", small), para("Value", small), para("Points", small)]]
        for name, pts in points.items():
            v = values.get(name)
            mark = ""
            if name in ranges and isinstance(v, (int, float)) and not (ranges[name][0] <= v <= ranges[name][1]):
                mark = " (outside the training range)"
            prow.append([para(name, small), para(f"{_fmt(v)}{mark}", small), para(_fmt(pts, 1), small)])
        right = Table(prow, style=header, colWidths=[30 * mm, 35 * mm, 18 * mm])
    else:
        clinical = report.get("clinical") or {}
        prow = [[para("Input", small), para("Value", small)]]
        prow += [[para(k, small), para(v, small)] for k, v in clinical.items()]
        if len(prow) == 1:
            prow.append([para("clinical values", small), para("none (imaging only)", small)])
        right = Table(prow, style=header, colWidths=[40 * mm, 43 * mm])
    page1.append(Spacer(1, 2 * mm))
    page1.append(Table([[left, right]], style=plain_cells, colWidths=[95 * mm, 85 * mm]))
    # --- warnings in words
    warnings = report.get("warnings") or []
    page1.append(para("Warnings", h2))
    if warnings:
        page1.extend(para(f"• {w}", warn) for w in warnings)
    else:
        page1.append(para("None: every value within the model's range, registrations accepted, ROIs inside the "
                          "images.", small))
    nomo = report.get("nomogram_image")
    if nomo and Path(nomo).is_file():
        page1.append(para("Nomogram (this patient's values marked)", h2))
        page1.append(Image(str(nomo), width=width, height=95 * mm, kind="proportional"))
    elif pred.get("probability") is not None and not points:
        page1.append(para(f"No nomogram: the {pred.get('recipe') or 'model'} model has no points scale (the "
                          "probability comes from the model directly).", small))
    grid_images = [g for g in report.get("key_image_grid") or [] if g.get("path") and Path(g["path"]).is_file()]
    if grid_images:
        page1.append(para("Key images (axial slices; ROI outlines as propagated: red tumor, green nodes)", h2))
        sequences = list(dict.fromkeys(g["sequence"] for g in grid_images))
        structures = list(dict.fromkeys(g["structure"] for g in grid_images))
        ncols = min(max(len(sequences), 1), 4)
        side = min(56 * mm, width / ncols - 3 * mm)
        by = {(g["structure"], g["sequence"]): g for g in grid_images}
        cells = []
        for structure in structures:
            for i in range(0, len(sequences), ncols):
                row = []
                for seq in sequences[i:i + ncols]:
                    g = by.get((structure, seq))
                    row.append([Image(g["path"], width=side, height=side, kind="proportional"),
                                para(f"{seq} — {structure}", small)] if g else "")
                row += [""] * (ncols - len(row))
                cells.append(row)
        page1.append(Table(cells, style=plain_cells, colWidths=[width / ncols] * ncols))
    else:
        images = [p for p in report.get("key_images", []) if p and Path(p).is_file()]
        if images:
            page1.append(para("Key images (slices through the ROIs, outlines as drawn)", h2))
            cells = [Image(str(p), width=80 * mm, height=70 * mm, kind="proportional") for p in images[:2]]
            page1.append(Table([cells], style=plain_cells))

    # --- page 2: quality in words
    page2: list[Any] = [para("Image quality and processing", h1)]
    summary = report.get("quality_summary") or []
    page2.append(para("Images and ROIs", h2))
    if summary:
        page2.extend(para(f"• {line}", body) for line in summary)
        if any("metric" in line for line in summary):
            page2.append(para("Metric: Mattes mutual information between the sequence and the reference around the "
                              "ROIs (more negative = better aligned). Motion is the rigid transform's shift and "
                              "rotation.", small))
    else:
        page2.append(para("One image; no propagation.", body))
    for key, heading, digits in (("roi_volumes_ml", "ROI volumes (mL)", 2), ("roi_areas_mm2", "ROI areas (mm²)", 1)):
        measures = report.get(key) or {}
        if not measures:
            continue
        page2.append(para(heading, h2))
        sequences = list(measures)
        structures = list(dict.fromkeys(s for v in measures.values() for s in v))
        vrows = [[para("ROI", small)] + [para(seq, small) for seq in sequences]]
        for s in structures:
            vrows.append([para(s, small)] + [para(_fmt(measures[seq].get(s), digits), small) for seq in sequences])
        colw = min(35 * mm, (width - 35 * mm) / max(len(sequences), 1))
        page2.append(Table(vrows, style=header, colWidths=[35 * mm] + [colw] * len(sequences), hAlign="LEFT"))
    processing = report.get("processing") or []
    if processing:
        page2.append(para("Pre-processing, software and parameter files", h2))
        page2.append(Table([[para(k, small), para(v, small)] for k, v in processing], style=grid,
                           colWidths=[45 * mm, 135 * mm]))
    clinical = report.get("clinical") or {}
    if clinical:
        page2.append(para("Clinical values entered", h2))
        page2.append(para("; ".join(f"{k} = {_fmt(v)}" for k, v in clinical.items()), body))
    page2.append(Spacer(1, 4 * mm))
    page2.append(para("The JSON report beside this PDF holds every number (transforms, per-structure voxel counts, "
                      "feature provenance, the full model card).", italic))

    # --- appendices
    appendix: list[Any] = [para("Appendix A — Model card summary", h1)]
    card_rows = report.get("model_card_summary") or []
    if card_rows:
        appendix.append(Table([[para(k, small), para(v, small)] for k, v in card_rows], style=grid,
                              colWidths=[40 * mm, 140 * mm]))
    table = (report.get("model_card") or {}).get("predictors_table")
    if isinstance(table, list) and table and isinstance(table[0], Mapping) and "odds_ratio" in table[0]:
        appendix.append(para("Multivariable logistic regression", h2))
        trows = [[para(h, small) for h in ("Predictor", "Coefficient", "Odds ratio (95% CI)", "p")]]
        for r in table[:40]:
            ci = r.get("or_ci") or [None, None]
            trows.append([para(r.get("predictor"), small), para(_fmt(r.get("coefficient")), small),
                          para(f"{_fmt(r.get('odds_ratio'))} ({_fmt(ci[0])}–{_fmt(ci[1])})", small),
                          para("<0.001" if isinstance(r.get("p_value"), float) and r["p_value"] < 0.001
                               else _fmt(r.get("p_value")), small)])
        appendix.append(Table(trows, style=header, colWidths=[60 * mm, 30 * mm, 60 * mm, 30 * mm], repeatRows=1))
    feats = report.get("features") or {}
    if feats:
        appendix.append(para(f"Appendix B — Features appendix ({len(feats)} values used by the model)", h2))
        frows = [[para("Feature", small), para("Value", small)]]
        for name, value in list(feats.items())[:max_features]:
            frows.append([para(name, small), para(_fmt(value, 5), small)])
        appendix.append(Table(frows, style=header, colWidths=[130 * mm, 50 * mm], repeatRows=1))
    appendix.append(Spacer(1, 4 * mm))
    appendix.append(para(report.get("statement", RESEARCH_STATEMENT), italic))

    def _footer(canvas, doc):
        canvas.saveState()
        canvas.setFont(FONT, 7)
        canvas.drawString(15 * mm, 8 * mm, "ALNPredictor — research use only, not for diagnostic use")
        canvas.drawRightString(195 * mm, 8 * mm, f"page {doc.page}")
        canvas.restoreState()

    doc = SimpleDocTemplate(str(path), pagesize=A4, title="ALNPredictor report", author="ALNPredictor",
                            leftMargin=15 * mm, rightMargin=15 * mm, topMargin=10 * mm, bottomMargin=13 * mm)
    room = (doc.width, doc.height - 14)  # the frame less its padding: each page's content is shrunk to fit
    story = [KeepInFrame(*room, content=page1, mode="shrink"), PageBreak(),
             KeepInFrame(*room, content=page2, mode="shrink"), PageBreak(), *appendix]
    doc.build(story, onFirstPage=_footer, onLaterPages=_footer)
    return path
