"""Patient reports: one JSON document, rendered to PDF with reportlab.

``build_report`` gathers the prediction (a :class:`~alnpredictor.models.prediction.Prediction` or
its stored dict form, the class label under ``"class"``), the model card, the features and the key
images into a plain dict (written as JSON by ``write_json_report``); ``write_pdf_report`` lays it
out. Patient and study identifiers appear only when the user asks (``include_identifiers=True``). Every
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
) -> dict[str, Any]:
    """The report as a JSON-ready dict.

    :param prediction: from ``FittedModel.predict_case`` (probability, class, cut-off, points...), or
        a stored result (``Prediction.to_dict()``, e.g. read back from a saved scene).
    :param model_card: the bundle's model card (training cohort, validation AUCs, cut-off, use).
    :param identifiers: patient/study identifiers; kept only with ``include_identifiers=True``.
    :param quality: segmentation / registration quality figures to show.
    """
    statement = RESEARCH_STATEMENT + (" " + DEMO_STATEMENT if demo or model_card.get("demo") else "")
    return json_safe({
        "title": "ALNPredictor — axillary lymph node metastasis prediction",
        "generated_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "software": {"alnpredictor": __version__},
        "statement": statement,
        "identifiers": dict(identifiers or {}) if include_identifiers else None,
        "prediction": prediction_dict(prediction),
        "clinical": dict(clinical or {}),
        "model_card": dict(model_card),
        "quality": dict(quality or {}),
        "key_images": [str(p) for p in (key_images or [])],
        "nomogram_image": str(nomogram_image) if nomogram_image else None,
        "features": dict(features or {}),
    })


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


def _flatten(prefix: str, value: Any, out: list[tuple[str, Any]], depth: int = 0) -> None:
    if isinstance(value, Mapping) and depth < 3:
        for k, v in value.items():
            _flatten(f"{prefix}{k}" if not prefix else f"{prefix} › {k}", v, out, depth + 1)
    elif isinstance(value, list) and value and isinstance(value[0], Mapping) and depth < 3:
        for i, v in enumerate(value):
            _flatten(f"{prefix} [{i + 1}]", v, out, depth + 1)
    else:
        out.append((prefix, _summarise(value)))


def _summarise(value: Any, max_items: int = 12, max_chars: int = 600) -> Any:
    """Keep table cells printable: long lists (e.g. thousands of feature names) are summarised."""
    if isinstance(value, (list, tuple)) and len(value) > max_items:
        head = ", ".join(_fmt(v) for v in value[:8])
        value = f"{len(value)} items: {head}, …"
    elif isinstance(value, (list, tuple)):
        value = ", ".join(_fmt(v) for v in value)
    elif isinstance(value, Mapping):
        value = json.dumps(json_safe(value), default=str)
    if isinstance(value, str) and len(value) > max_chars:
        value = value[:max_chars] + " …"
    return value


def write_pdf_report(report: Mapping[str, Any], path: str | Path, *, max_features: int = 400) -> Path:
    """Lay the report out as a PDF: summary page (prediction, points, key images, nomogram),
    model card, features appendix. Written atomically: a failure leaves no file."""
    with atomic_path(path) as tmp:
        render_pdf(report, tmp, max_features=max_features)
    return Path(path)


def render_pdf(report: Mapping[str, Any], path: str | Path, *, max_features: int = 400) -> Path:
    """Write the PDF straight to ``path`` (a temporary file of :func:`write_pdf_report` or of an
    :class:`~alnpredictor.outputs.OutputGroup`)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Image, PageBreak, SimpleDocTemplate, Spacer, Table, TableStyle

    path = Path(path)
    register_fonts()
    styles = getSampleStyleSheet()
    body, small, h1, h2 = styles["BodyText"], styles["Code"], styles["Title"], styles["Heading2"]
    for style, font in ((body, FONT), (small, FONT_MONO), (h1, FONT_BOLD), (h2, FONT_BOLD), (styles["Italic"], FONT_ITALIC)):
        style.fontName = font
    small.fontSize = 7
    small.leading = 8
    grid = TableStyle([
        ("FONTNAME", (0, 0), (-1, -1), FONT),
        ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dfe6ee")),
        ("FONTSIZE", (0, 0), (-1, -1), 8),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ])
    story: list[Any] = [_para(report.get("title", "ALNPredictor report"), h1)]
    story.append(_para(report.get("statement", RESEARCH_STATEMENT), styles["Italic"]))
    story.append(_para(f"Generated {report.get('generated_at', '')} by alnpredictor "
                       f"{report.get('software', {}).get('alnpredictor', '')}", body))
    ids = report.get("identifiers")
    if ids:
        story.append(Table([[_para(k, body), _para(v, body)] for k, v in ids.items()], style=grid, colWidths=[45 * mm, 120 * mm]))
    pred = report.get("prediction", {})
    story.append(_para("Prediction", h2))
    rows = [[_para("Item", body), _para("Value", body)]]
    prob = pred.get("probability")
    rows.append([_para("ALNM probability", body), _para(_fmt(prob) if prob is not None else "—", body)])
    interval = pred.get("interval")
    if isinstance(interval, Mapping) and interval.get("low") is not None:
        level = int(round(100 * float(interval.get("level", 0.95))))
        rows.append([_para(f"{level}% interval", body),
                     _para(f"{_fmt(interval['low'])}–{_fmt(interval['high'])} ({interval.get('method', '')})", body)])
    elif interval:
        rows.append([_para("95% interval", body), _para(_fmt(interval), body)])
    label = pred.get("class") or "—"
    rows.append([_para("Class at cut-off", body), _para(f"{label} (cut-off {_fmt(pred.get('cutoff'))})", body)])
    if pred.get("total_points") is not None:
        rows.append([_para("Total nomogram points", body), _para(_fmt(pred.get("total_points"), 1), body)])
    story.append(Table(rows, style=grid, colWidths=[55 * mm, 110 * mm]))
    points = pred.get("points") or {}
    if points:
        story.append(_para("Nomogram points per predictor", h2))
        prow = [[_para("Predictor", body), _para("Value", body), _para("Points", body)]]
        values = {**(report.get("clinical") or {}), **(pred.get("values") or {})}
        for name, pts in points.items():
            prow.append([_para(name, body), _para(_fmt(values.get(name)), body), _para(_fmt(pts, 1), body)])
        story.append(Table(prow, style=grid, colWidths=[70 * mm, 50 * mm, 45 * mm]))
    clinical = report.get("clinical") or {}
    if clinical:
        story.append(_para("Clinical data", h2))
        story.append(Table([[_para(k, body), _para(v, body)] for k, v in clinical.items()], style=grid,
                           colWidths=[55 * mm, 110 * mm]))
    quality = report.get("quality") or {}
    flat: list[tuple[str, Any]] = []
    _flatten("", quality, flat)
    # Transform matrices and per-structure voxel counts stay in the JSON.
    flat = [(k, v) for k, v in flat if not k.endswith(("transform", "structures", "seconds"))]
    if flat:  # e.g. hand-corrected propagated segments: nothing was registered, no rows (reportlab refuses empty tables)
        story.append(_para("Segmentation and registration quality", h2))
        story.append(Table([[_para(k, small), _para(v, small)] for k, v in flat[:40]], style=grid,
                           colWidths=[75 * mm, 90 * mm]))
    images = [p for p in report.get("key_images", []) if p and Path(p).is_file()]
    if images:
        story.append(_para("Key images", h2))
        cells = [Image(str(p), width=80 * mm, height=80 * mm, kind="proportional") for p in images[:2]]
        story.append(Table([cells], style=TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")])))
    nomo = report.get("nomogram_image")
    if nomo and Path(nomo).is_file():
        story.append(PageBreak())
        story.append(_para("Nomogram (this patient's points marked)", h2))
        story.append(Image(str(nomo), width=170 * mm, height=120 * mm, kind="proportional"))
    story.append(PageBreak())
    story.append(_para("Model card", h2))
    flat = []
    # Fitting details (CV curves, selection tables) stay in the JSON; the PDF shows the card itself.
    card = {k: v for k, v in (report.get("model_card") or {}).items() if k != "details"}
    _flatten("", card, flat)
    story.append(Table([[_para("Field", body), _para("Value", body)]] +
                       [[_para(k, small), _para(v, small)] for k, v in flat[:200]], style=grid,
                       colWidths=[70 * mm, 100 * mm], repeatRows=1))
    feats = report.get("features") or {}
    if feats:
        story.append(PageBreak())
        story.append(_para(f"Features appendix ({len(feats)} values used by the model)", h2))
        frows = [[_para("Feature", body), _para("Value", body)]]
        for name, value in list(feats.items())[:max_features]:
            frows.append([_para(name, small), _para(_fmt(value, 5), small)])
        story.append(Table(frows, style=grid, colWidths=[120 * mm, 50 * mm], repeatRows=1))
    story.append(Spacer(1, 6 * mm))
    story.append(_para(report.get("statement", RESEARCH_STATEMENT), styles["Italic"]))

    def _footer(canvas, doc):
        canvas.saveState()
        canvas.setFont(FONT, 7)
        canvas.drawString(15 * mm, 10 * mm, "ALNPredictor — research use only")
        canvas.drawRightString(195 * mm, 10 * mm, f"page {doc.page}")
        canvas.restoreState()

    doc = SimpleDocTemplate(str(path), pagesize=A4, title="ALNPredictor report", author="ALNPredictor",
                            leftMargin=15 * mm, rightMargin=15 * mm, topMargin=15 * mm, bottomMargin=18 * mm)
    doc.build(story, onFirstPage=_footer, onLaterPages=_footer)
    return path
