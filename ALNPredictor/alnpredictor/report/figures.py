"""Figures for validation reports and the Slicer panel (matplotlib, Agg backend; PNG and SVG).

* ``roc_figure`` — ROC curve with a 95% band of sensitivity at each specificity (stratified
  bootstrap, as ``pROC::ci.se``) and the AUC with its DeLong CI in the legend;
* ``calibration_figure`` — observed vs predicted risk by risk group (exact CIs) with a loess
  smooth, Brier score, calibration-in-the-large and rms::val.prob's Intercept and Slope;
* ``decision_curve_figure`` — net benefit of one or more models with treat-all / treat-none;
* ``nomogram_figure`` — the classic points chart of a linear model (one axis per predictor,
  total points, probability), optionally with one patient's values marked; tick labels are laid
  out from their measured widths so they never overlap (``nomogram_text_overlaps`` checks a
  drawn figure), and every marker of the patient stays on the chart.

Every function returns a ``matplotlib.figure.Figure`` drawn on the Agg canvas (pyplot is not
used, so the host application's backend is untouched); ``save_figure`` writes ``stem.png`` and
``stem.svg`` together, atomically (both or neither).

User text (model, column and level names) is drawn as plain text: ``$`` is escaped, so a name such
as ``$\\x$`` is printed as typed instead of being parsed as matplotlib mathtext (which would fail).
"""

from __future__ import annotations

import contextlib
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

from alnpredictor.outputs import OutputGroup, output_error
from alnpredictor.stats.auc import delong_auc
from alnpredictor.stats.calibration import brier_score, calibration_curve, slope_intercept
from alnpredictor.stats.decision import DEFAULT_THRESHOLDS, decision_curve

RESEARCH_NOTE = "Research use only — not for diagnostic use"


def _figure(width: float, height: float):
    """A figure on the Agg canvas without pyplot: no global backend switch, no window, no leaks
    (Slicer's own matplotlib backend is left alone)."""
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig, fig.subplots()


def plain(text: Any) -> str:
    """``text`` drawn as typed: every ``$`` escaped so matplotlib never parses it as mathtext;
    control characters become spaces and invisible format characters (direction marks) go."""
    out = []
    for c in str(text):
        category = unicodedata.category(c)
        if category == "Cc":
            out.append(" ")
        elif category != "Cf":
            out.append(c)
    return "".join(out).replace("$", r"\$")


def save_figure(fig: Figure, stem: str | Path, dpi: int = 150, group: OutputGroup | None = None) -> list[Path]:
    """Write ``stem.png`` and ``stem.svg``; returns both paths.

    Both files appear together or not at all. With ``group`` they are staged in it (they appear
    when the caller commits the group, e.g. with the rest of a report); otherwise at once. A
    folder that cannot be written raises :class:`~alnpredictor.errors.OutputError`."""
    stem = Path(stem)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    options = [{"dpi": dpi, "metadata": {"Software": "ALNPredictor"}}, {"metadata": {"Creator": "ALNPredictor"}}]
    with OutputGroup() if group is None else contextlib.nullcontext(group) as staging:
        for path, kwargs in zip(paths, options):
            tmp = staging.path(path)
            try:
                fig.savefig(tmp, format=path.suffix[1:], bbox_inches="tight", **kwargs)
            except OSError as exc:
                raise output_error(path, exc) from exc
        if group is None:
            staging.commit()
    return paths


def _sensitivity_band(y: np.ndarray, score: np.ndarray, grid: np.ndarray, n_boot: int, level: float,
                      seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise bootstrap CI of sensitivity at each false-positive rate of ``grid``."""
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y), np.flatnonzero(~y)
    curves = np.empty((n_boot, grid.size))
    for b in range(n_boot):
        idx = np.concatenate([rng.choice(pos, pos.size), rng.choice(neg, neg.size)])
        fpr, tpr, _ = roc_curve(y[idx], score[idx])
        # step function: best sensitivity reachable at or below each false-positive rate
        curves[b] = tpr[np.searchsorted(fpr, grid, side="right") - 1]
    alpha = (1 - level) / 2
    lo, hi = np.quantile(curves, [alpha, 1 - alpha], axis=0)
    return lo, hi


def roc_figure(y, score, *, title: str | None = None, level: float = 0.95, n_boot: int = 500, seed: int = 0,
               operating_point: tuple[float, float] | None = None) -> Figure:
    """ROC curve, bootstrap band of sensitivity, AUC with DeLong CI; ``operating_point`` =
    (1 − specificity, sensitivity) at the cut-off, if given."""
    yb = np.asarray(y).astype(bool)
    s = np.asarray(score, dtype=float)
    auc = delong_auc(yb, s, level)
    fpr, tpr, _ = roc_curve(yb, s)
    grid = np.linspace(0, 1, 101)
    lo, hi = _sensitivity_band(yb, s, grid, n_boot, level, seed)
    fig, ax = _figure(5.2, 5.0)
    ax.fill_between(grid, lo, hi, step="post", color="tab:blue", alpha=0.18, linewidth=0,
                    label=f"{level:.0%} CI of sensitivity (bootstrap, {n_boot})")
    ax.step(fpr, tpr, where="post", color="tab:blue", linewidth=2,
            label=f"AUC {auc.auc:.3f} ({auc.ci_low:.3f}–{auc.ci_high:.3f}, DeLong)")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    if operating_point is not None:
        ax.plot(*operating_point, "o", color="tab:red", label="cut-off")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="1 − specificity", ylabel="Sensitivity",
           title=plain(title) if title else "ROC curve")
    ax.set_aspect("equal")
    ax.legend(loc="lower right", fontsize=8)
    fig.text(0.01, 0.005, f"n = {yb.size}, {int(yb.sum())} positive · {RESEARCH_NOTE}", fontsize=6, color="grey")
    return fig


def calibration_figure(y, prob, *, bins: int = 10, title: str | None = None, level: float = 0.95) -> Figure:
    """Observed vs predicted risk by risk group with exact CIs, loess smooth and the ideal line."""
    yb = np.asarray(y).astype(float)
    p = np.asarray(prob, dtype=float)
    groups = calibration_curve(yb, p, bins=bins, level=level)["points"]
    smooth = calibration_curve(yb, p, method="loess")
    si = slope_intercept(yb, p)
    fig, ax = _figure(5.2, 5.0)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="ideal")
    ax.plot(smooth["predicted"], smooth["observed"], color="tab:orange", linewidth=1.5, label="loess")
    px = np.array([g["predicted"] for g in groups])
    py = np.array([g["observed"] for g in groups])
    err = np.array([[g["observed"] - g["ci"][0], g["ci"][1] - g["observed"]] for g in groups]).T
    ax.errorbar(px, py, yerr=err, fmt="o", color="tab:blue", capsize=3, label=f"risk groups ({len(groups)})")
    ax.plot(p, np.full_like(p, -0.02), "|", color="black", alpha=0.3, markersize=6)
    def fmt(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.2f}"

    ax.text(0.03, 0.97, f"Brier {brier_score(yb, p):.3f}\ncalibration-in-the-large {fmt(si['intercept'])}\n"
            f"val.prob Intercept {fmt(si['intercept_with_slope'])}, Slope {fmt(si['slope'])}",
            transform=ax.transAxes, va="top", fontsize=8,
            bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"})
    ax.set(xlim=(0, 1), ylim=(-0.04, 1.02), xlabel="Predicted probability", ylabel="Observed proportion",
           title=plain(title) if title else "Calibration")
    ax.set_aspect("equal")
    ax.legend(loc="lower right", fontsize=8)
    fig.text(0.01, 0.005, RESEARCH_NOTE, fontsize=6, color="grey")
    return fig


def decision_curve_figure(y, models: Mapping[str, Any] | np.ndarray, *, thresholds=DEFAULT_THRESHOLDS,
                          title: str | None = None) -> Figure:
    """Net benefit against threshold probability for each model, treat-all and treat-none."""
    dc = decision_curve(y, dict(models) if isinstance(models, Mapping) else models, thresholds)
    t = np.asarray(dc["thresholds"])
    fig, ax = _figure(6.0, 4.4)
    for name, nb in dc["models"].items():
        ax.plot(t, nb, linewidth=2, label=plain(name))
    ax.plot(t, dc["treat_all"], color="grey", linewidth=1, label="treat all")
    ax.plot(t, dc["treat_none"], color="black", linewidth=1, label="treat none")
    prev = float(np.mean(np.asarray(y).astype(bool)))
    ax.set(xlim=(0, 1), ylim=(-0.05, max(prev * 1.15, 0.05)), xlabel="Threshold probability",
           ylabel="Net benefit", title=plain(title) if title else "Decision curve")
    ax.legend(fontsize=8)
    fig.text(0.01, 0.005, RESEARCH_NOTE, fontsize=6, color="grey")
    return fig


#: Font sizes of the nomogram (points): tick labels, row names, notes.
NOMOGRAM_TICK_PT, NOMOGRAM_NAME_PT, NOMOGRAM_NOTE_PT = 8.0, 9.0, 7.0
#: Smallest gap between two tick labels of one row (display pixels at the figure's 100 dpi).
NOMOGRAM_LABEL_GAP_PX = 4.0
#: Longest predictor name drawn in full (longer ones are cut with "…"; the report tables have them whole).
NOMOGRAM_MAX_NAME_CHARS = 32
#: Probability ticks in the order they are placed: the round ones first, then the finer ones where room is left.
_PROBABILITY_PRIORITY = (0.5, 0.1, 0.9, 0.05, 0.95, 0.2, 0.8, 0.3, 0.7, 0.4, 0.6, 0.01, 0.99, 0.02, 0.98,
                         0.001, 0.999)
#: Tick labels start right of this axes x (the row names end at −0.025).
LABEL_LEFT_LIMIT = -0.012
#: Colours of this patient's markers: inside the training range / outside it (drawn at the axis end).
PATIENT_COLOR, OUTSIDE_COLOR = "tab:red", "#e07000"


def _number(value: float, step: float) -> str:
    """``value`` with as many decimals as ``step`` needs (a tick label); a true minus sign."""
    decimals = 0
    while decimals < 6 and abs(step * 10 ** decimals - round(step * 10 ** decimals)) > 1e-6 * max(1.0, step * 10 ** decimals):
        decimals += 1
    text = f"{value:.{decimals}f}"
    if float(text) == 0:
        text = text.lstrip("-")
    return text.replace("-", "−")


def _span_number(value: float, span: float) -> str:
    """``value`` with three significant digits of ``span`` (labels of the axis ends)."""
    step = 10 ** (np.floor(np.log10(span)) - 2) if span > 0 else 1.0
    return _number(round(value / step) * step, step)


def _value_label(pred: Mapping, value: float) -> str:
    """A continuous predictor's value as a label: integers as typed, others to three digits of its range."""
    lo, hi = (float(v) for v in pred["range"])
    if pred.get("integer") and float(value).is_integer():
        return f"{value:g}".replace("-", "−")
    return _span_number(value, hi - lo)


def _nice_steps(span: float, integer: bool) -> list[float]:
    """Tick steps 1, 2, 2.5, 5 × 10^k from finest to coarsest for an axis of ``span``."""
    if not np.isfinite(span) or span <= 0:
        return []
    k0 = int(np.floor(np.log10(span))) - 2
    steps = [m * 10.0 ** k for k in range(k0, k0 + 4) for m in (1, 2, 2.5, 5)]
    if integer:
        steps = [s for s in steps if s >= 1 and float(s).is_integer()]
    return [s for s in steps if span / s <= 60]


def _stepped(lo: float, hi: float, step: float) -> list[float]:
    first = np.ceil(lo / step - 1e-9)
    last = np.floor(hi / step + 1e-9)
    return [float(i * step) for i in np.arange(first, last + 1)]


class _Layout:
    """Measures tick labels in display pixels so rows can be laid out without overlaps."""

    def __init__(self, fig: Figure, ax) -> None:
        self.fig, self.ax = fig, ax
        self.renderer = fig.canvas.get_renderer()
        self._widths: dict[tuple[str, float], float] = {}

    def width(self, text: str, size: float = NOMOGRAM_TICK_PT) -> float:
        key = (text, size)
        if key not in self._widths:
            t = self.ax.text(0, 0, text, fontsize=size)
            self._widths[key] = t.get_window_extent(self.renderer).width
            t.remove()
        return self._widths[key]

    def px(self, x: float) -> float:
        return float(self.ax.transData.transform((x, 0.0))[0])

    def at(self, x: float, label: str) -> float:
        """Data x of a label's centre for a tick at ``x``: centred on the tick, moved right where it
        would reach into the row names left of the axes."""
        left = self.px(LABEL_LEFT_LIMIT) + self.width(label) / 2
        centre = max(self.px(x), left)
        return float(self.ax.transData.inverted().transform((centre, 0.0))[0])

    def _span(self, x: float, label: str) -> tuple[float, float]:
        c = self.px(self.at(x, label))
        return c - self.width(label) / 2, c + self.width(label) / 2

    def fits(self, xs: Sequence[float], labels: Sequence[str]) -> bool:
        """Whether labels for ticks at ``xs`` (data x) leave a gap between neighbours."""
        spans = sorted(self._span(x, t) for x, t in zip(xs, labels))
        return all(b[0] - a[1] >= NOMOGRAM_LABEL_GAP_PX for a, b in zip(spans, spans[1:]))

    def overlaps(self, x: float, label: str, placed: Sequence[tuple[float, str]]) -> bool:
        a0, a1 = self._span(x, label)
        for px, pl in placed:
            b0, b1 = self._span(px, pl)
            if a0 < b1 + NOMOGRAM_LABEL_GAP_PX and b0 < a1 + NOMOGRAM_LABEL_GAP_PX:
                return True
        return False


def _predictor_points(pred: Mapping, scale: Mapping, value: float) -> float:
    """Points of one predictor at a value (continuous) or level index (categorical, 0 = reference)."""
    if pred["kind"] == "categorical":
        eff = 0.0 if value == 0 else pred["coefficients"][int(value) - 1]
    else:
        eff = pred["coefficients"][0] * value
    return 100.0 * (eff - pred["effect_min"]) / scale["scale"]



def continuous_ticks(pred: Mapping, scale: Mapping, layout: _Layout) -> list[tuple[float, str]]:
    """(x, label) ticks of a continuous predictor's axis (x = points / 100): the finest step of
    1, 2, 2.5, 5 × 10^k whose labels do not overlap; the two ends, or one "lo–hi" label, when the
    axis is too short for more."""
    lo, hi = (float(v) for v in pred["range"])
    integer = bool(pred.get("integer"))

    def at(v: float) -> float:
        return _predictor_points(pred, scale, v) / 100.0

    given = [float(v) for v in (pred.get("values") or []) if lo - 1e-12 <= v <= hi + 1e-12]
    if given:  # a predictor with few distinct values: those, thinned until they fit
        for every in range(1, len(given) + 1):
            vals = given[::every]
            labels = [f"{v:g}".replace("-", "−") for v in vals]
            if len(vals) >= 2 and layout.fits([at(v) for v in vals], labels):
                return [(at(v), t) for v, t in zip(vals, labels)]
    for step in _nice_steps(hi - lo, integer):
        vals = _stepped(lo, hi, step)
        if len(vals) < 2 or len(vals) > 12:
            continue
        labels = [_number(v, step) for v in vals]
        if layout.fits([at(v) for v in vals], labels):
            return [(at(v), t) for v, t in zip(vals, labels)]
    ends = [_value_label(pred, lo), _value_label(pred, hi)] if hi > lo else [_span_number(lo, abs(lo) or 1.0)] * 2
    if hi > lo and layout.fits([at(lo), at(hi)], ends):
        return [(at(lo), ends[0]), (at(hi), ends[1])]
    return [((at(lo) + at(hi)) / 2, ends[0] if ends[0] == ends[1] else f"{ends[0]}–{ends[1]}")]


def categorical_ticks(pred: Mapping, scale: Mapping, layout: _Layout) -> tuple[list[float], list[tuple[float, str, int]]]:
    """Tick positions of every level, and labels in two tiers (0 above the axis, 1 below): each
    level is labelled; levels too close to label apart share one label ("N2 / N3")."""
    levels = [str(v) for v in pred["levels"]]
    xs = [_predictor_points(pred, scale, i) / 100.0 for i in range(len(levels))]
    clusters: list[list[int]] = [[i] for i in sorted(range(len(levels)), key=lambda i: (xs[i], i))]
    while True:
        tiers: list[list[tuple[float, str]]] = [[], []]
        placed: list[tuple[float, str, int]] = []
        conflict = None
        for c, members in enumerate(clusters):
            x = float(np.mean([xs[i] for i in members]))
            label = " / ".join(plain(levels[i]) for i in members)
            tier = next((t for t in (0, 1) if not layout.overlaps(x, label, tiers[t])), None)
            if tier is None:
                conflict = c
                break
            tiers[tier].append((x, label))
            placed.append((x, label, tier))
        if conflict is None or len(clusters) == 1:
            return xs, placed
        clusters[conflict - 1:conflict + 1] = [clusters[conflict - 1] + clusters[conflict]]


def probability_ticks(candidates: Sequence[float], position, layout: _Layout) -> list[tuple[float, str]]:
    """Probability ticks inside the total-points axis, placed round ones first, none overlapping."""
    order = [p for p in _PROBABILITY_PRIORITY if p in candidates] + [p for p in candidates if p not in _PROBABILITY_PRIORITY]
    placed: list[tuple[float, str]] = []
    for p in order:
        x = position(p)
        if not (-1e-9 <= x <= 1 + 1e-9):
            continue
        label = f"{p:g}"
        if not layout.overlaps(x, label, placed):
            placed.append((x, label))
    return sorted(placed)


def _note_placement(layout: _Layout, x: float, note: str, right_margin_in: float) -> tuple[str, str, float]:
    """(text, alignment, x) of a note under an axis end at ``x``: to its right where it fits before
    the figure's right margin ends, else to its left where it stays clear of the row names, else
    from the start of the row (shortened if even that is too narrow)."""
    import textwrap

    right_edge = layout.px(1.0) + 0.9 * right_margin_in * layout.fig.dpi
    width = layout.width(note, NOMOGRAM_NOTE_PT)
    if layout.px(x) + width <= right_edge:
        return note, "left", x
    if layout.px(x) - width >= layout.px(0.0) - 4:
        return note, "right", x
    if layout.px(0.0) + width <= right_edge:  # under the row, from its start
        return note, "left", 0.0
    return textwrap.shorten(note, width=60, placeholder=" …"), "left", 0.0


def nomogram_figure(model: Any, case: Mapping[str, Any] | None = None, *, title: str | None = None,
                    probabilities: Sequence[float] = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9,
                                                      0.95, 0.98, 0.99),
                    ) -> Figure:
    """Classic nomogram points chart of a linear model; ``case`` (column → value) marks one patient.

    One axis per predictor (points 0–100 on top), total points and the probability of metastasis.
    Tick steps are 1, 2, 2.5 or 5 × 10^k, the finest whose labels do not overlap; every categorical
    level is labelled (levels too close to label apart share one label); an arrow beside each
    continuous axis says in which direction its values grow. With ``case`` every marker is visible:
    a value outside the model's range is drawn at the axis end with an "outside the training
    range" note (its points are the model's, extrapolated), and the total-points axis grows to
    take the patient's total.

    Raises ``InputError`` for models without a points scale (SVM recipes, signatures without a
    training cohort)."""
    from alnpredictor.errors import InputError
    from alnpredictor.models.nomogram import probability_to_total_points

    scale = model.spec.get("points")
    if not scale:
        raise InputError(f"model {model.name!r} ({model.recipe}) has no nomogram points scale")
    preds = scale["predictors"]
    total_max = sum(100.0 * (p["effect_max"] - p["effect_min"]) / scale["scale"] for p in preds)
    case_points = model.predict_case(case) if case is not None else None
    t_lo, t_hi = 0.0, total_max
    if case_points is not None:  # the patient's total is always on the axis
        t_lo, t_hi = min(t_lo, case_points.total_points), max(t_hi, case_points.total_points)
    rows = len(preds) + 3
    row_in, top_in, bottom_in, left_in, right_in, width_in = 0.5, 0.45, 0.55, 2.1, 0.75, 8.0
    height_in = rows * row_in + top_in + bottom_in
    fig = Figure(figsize=(width_in, height_in))
    FigureCanvasAgg(fig)
    ax = fig.add_axes((left_in / width_in, bottom_in / height_in, 1 - (left_in + right_in) / width_in,
                       rows * row_in / height_in))
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(-rows + 0.45, 0.55)
    ax.axis("off")
    layout = _Layout(fig, ax)
    tick_y, label_y = 0.09, 0.14
    outside: list[str] = []

    def row_name(y: float, name: str) -> None:
        text = plain(name)
        if len(text) > NOMOGRAM_MAX_NAME_CHARS:
            text = text[:NOMOGRAM_MAX_NAME_CHARS - 1] + "…"
        ax.text(-0.025, y, text, ha="right", va="center", fontsize=NOMOGRAM_NAME_PT)

    def axis(y: float, lo: float, hi: float, ticks: Sequence[tuple[float, str]], name: str) -> None:
        ax.plot([lo, hi], [y, y], color="black", linewidth=1)
        for x, label in ticks:
            ax.plot([x, x], [y, y + tick_y], color="black", linewidth=1)
            ax.text(layout.at(x, label), y + label_y, label, ha="center", va="bottom", fontsize=NOMOGRAM_TICK_PT)
        row_name(y, name)

    axis(0.0, 0.0, 1.0, [(t / 100.0, f"{t:g}") for t in range(0, 101, 10)], "Points")
    for i, pred in enumerate(preds, start=1):
        y = -float(i)
        if pred["kind"] == "categorical":
            xs, labels = categorical_ticks(pred, scale, layout)
            ax.plot([min(xs), max(xs)], [y, y], color="black", linewidth=1)
            for x in xs:
                ax.plot([x, x], [y, y + tick_y], color="black", linewidth=1)
            for x, label, tier in labels:
                if tier:
                    ax.plot([x, x], [y, y - tick_y], color="black", linewidth=1)
                ax.text(layout.at(x, label), y - label_y if tier else y + label_y, label, ha="center",
                        va="top" if tier else "bottom",
                        fontsize=NOMOGRAM_TICK_PT)
            row_name(y, pred["name"])
            span = (min(xs), max(xs))
        else:
            lo, hi = (float(v) for v in pred["range"])
            ends = (_predictor_points(pred, scale, lo) / 100.0, _predictor_points(pred, scale, hi) / 100.0)
            span = (min(ends), max(ends))
            axis(y, span[0], span[1], continuous_ticks(pred, scale, layout), pred["name"])
            if span[1] > span[0]:  # which way the values grow
                ax.text(span[1] + 0.025, y, "higher →" if ends[1] >= ends[0] else "← higher", ha="left",
                        va="center", fontsize=NOMOGRAM_NOTE_PT, color="dimgrey", style="italic")
        if case_points is not None:
            pts = case_points.points[pred["name"]]
            x = pts / 100.0
            if span[0] - 1e-9 <= x <= span[1] + 1e-9:
                ax.plot([x], [y], "v", color=PATIENT_COLOR, markersize=7)
                ax.plot([x, x], [y, 0.0], color=PATIENT_COLOR, linewidth=0.6, linestyle=":")
            else:  # outside the training range: at the axis end, flagged in words
                end = span[1] if x > span[1] else span[0]
                outside.append(pred["name"])
                ax.plot([end], [y], "v", color=OUTSIDE_COLOR, markersize=7)
                column = pred["columns"][0]
                value = case_points.values.get(column, (case or {}).get(column))
                lo, hi = (float(v) for v in pred["range"])
                shown = _value_label(pred, float(value)) if value is not None else "value"
                note = (f"{shown}: outside the training range ({_value_label(pred, lo)}–{_value_label(pred, hi)});"
                        f" drawn at the axis end, {pts:.1f} points used")
                text, align, at = _note_placement(layout, end, note, right_in)
                ax.text(at, y - label_y, text, ha=align, va="top",
                        fontsize=NOMOGRAM_NOTE_PT, color=OUTSIDE_COLOR)
    t_row, p_row = -(len(preds) + 1.0), -(len(preds) + 2.0)

    def total_x(t: float) -> float:
        return (t - t_lo) / (t_hi - t_lo) if t_hi > t_lo else 0.5

    t_ticks: list[tuple[float, str]] = []
    for step in _nice_steps(t_hi - t_lo, False):
        vals = _stepped(t_lo, t_hi, step)
        labels = [_number(v, step) for v in vals]
        if 2 <= len(vals) <= 12 and layout.fits([total_x(v) for v in vals], labels):
            t_ticks = [(total_x(v), t) for v, t in zip(vals, labels)]
            break
    axis(t_row, 0.0, 1.0, t_ticks, "Total points")
    pr = [float(p) for p in probabilities if 0 < p < 1]
    p_ticks = probability_ticks(pr, lambda p: total_x(float(probability_to_total_points(scale, p))), layout)
    axis(p_row, 0.0, 1.0, p_ticks, "Probability of ALN metastasis")
    legend = "▼ this patient"
    if case_points is not None:
        xt = total_x(case_points.total_points)
        ax.plot([xt], [t_row], "v", color=PATIENT_COLOR, markersize=7)
        ax.plot([xt, xt], [t_row, p_row], color=PATIENT_COLOR, linewidth=0.6, linestyle=":")
        ax.plot([xt], [p_row], "^", color=PATIENT_COLOR, markersize=6)
        ax.text(xt, p_row - label_y - 0.08, f"p = {case_points.probability:.2f}", ha="center", va="top",
                fontsize=NOMOGRAM_TICK_PT, color=PATIENT_COLOR)
        legend += f": {case_points.total_points:.1f} total points, probability {case_points.probability:.2f}"
        if outside:
            legend += "   (orange ▼: value outside the training range, drawn at the axis end)"
    ax.set_title(plain(title or f"Nomogram — {model.name}"), fontsize=10)
    if case_points is not None:
        fig.text(left_in / width_in, 0.26 / height_in, legend, fontsize=NOMOGRAM_NOTE_PT, color="dimgrey")
    fig.text(0.01, 0.08 / height_in, RESEARCH_NOTE, fontsize=6, color="grey")
    return fig


def nomogram_text_overlaps(fig: Figure) -> list[tuple[str, str]]:
    """Pairs of texts of a drawn figure whose bounding boxes overlap (empty for a legible chart);
    what the tests and :func:`~alnpredictor.report.export.nomogram_png` check."""
    renderer = fig.canvas.get_renderer()
    texts = [t for ax in fig.axes for t in ax.texts] + list(fig.texts)
    texts += [ax.title for ax in fig.axes if ax.title.get_text()]
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts if t.get_text().strip() and t.get_visible()]
    out = []
    for i, (a, ba) in enumerate(boxes):
        for b, bb in boxes[i + 1:]:
            if ba.x0 < bb.x1 and bb.x0 < ba.x1 and ba.y0 < bb.y1 and bb.y0 < ba.y1:
                out.append((a, b))
    return out


def validation_figures(model: Any, df, label: str, out_dir: str | Path, positive: Any = None,
                       cutoff: float | None = None, case: Mapping[str, Any] | None = None) -> list[Path]:
    """ROC, calibration, decision curve (and nomogram for linear models with a points scale) of
    ``model`` on a labelled cohort, written as PNG + SVG into ``out_dir``: all of them or none (a
    folder that cannot be written raises :class:`~alnpredictor.errors.OutputError`)."""
    from alnpredictor.models.labels import binary_labels
    from alnpredictor.models.validation import resolve_positive
    from alnpredictor.stats.metrics import confusion, youden_cutoff

    out = Path(out_dir)
    table = df.loc[~model.incomplete_rows(df)].reset_index(drop=True)
    y = binary_labels(table, label, resolve_positive(model, positive))
    prob, lp = model.predict_proba(table), model.decision_function(table)
    cut = cutoff if cutoff is not None else model.cutoff
    if cut is None:
        cut = youden_cutoff(y, prob)["cutoff"]
    c = confusion(y, prob, cut)
    op = (c["fp"] / max(c["fp"] + c["tn"], 1), c["tp"] / max(c["tp"] + c["fn"], 1))
    with OutputGroup() as group:
        paths = save_figure(roc_figure(y, lp, title=f"ROC — {model.name}", operating_point=op), out / "roc",
                            group=group)
        paths += save_figure(calibration_figure(y, prob, title=f"Calibration — {model.name}"), out / "calibration",
                             group=group)
        paths += save_figure(decision_curve_figure(y, {model.name: prob}, title=f"Decision curve — {model.name}"),
                             out / "decision_curve", group=group)
        if model.spec.get("points"):
            paths += save_figure(nomogram_figure(model, case), out / "nomogram", group=group)
        group.commit()
    return paths
