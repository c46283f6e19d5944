"""Figures for validation reports and the Slicer panel (matplotlib, Agg backend; PNG and SVG).

* ``roc_figure`` — ROC curve with a 95% band of sensitivity at each specificity (stratified
  bootstrap, as ``pROC::ci.se``) and the AUC with its DeLong CI in the legend;
* ``calibration_figure`` — observed vs predicted risk by risk group (exact CIs) with a loess
  smooth, Brier score, calibration slope and intercept;
* ``decision_curve_figure`` — net benefit of one or more models with treat-all / treat-none;
* ``nomogram_figure`` — the classic points chart of a linear model (one axis per predictor,
  total points, probability), optionally with one patient's values marked.

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
from matplotlib.ticker import MaxNLocator
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

    ax.text(0.03, 0.97, f"Brier {brier_score(yb, p):.3f}\nslope {fmt(si['slope'])}\n"
            f"intercept {fmt(si['intercept'])}", transform=ax.transAxes, va="top", fontsize=8,
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


def _predictor_ticks(pred: Mapping) -> list[tuple[float, str]]:
    """(value, label) ticks along one predictor's axis."""
    if pred["kind"] == "categorical":
        return [(i, plain(level)) for i, level in enumerate(pred["levels"])]
    lo, hi = pred["range"]
    if pred.get("values"):
        vals = [v for v in pred["values"] if lo <= v <= hi]
    else:
        locator = MaxNLocator(nbins=6, integer=bool(pred.get("integer")))
        vals = [v for v in locator.tick_values(lo, hi) if lo - 1e-12 <= v <= hi + 1e-12]
        vals = vals if len(vals) >= 2 else [lo, hi]
    return [(float(v), f"{v:g}") for v in vals]


def _tick_points(pred: Mapping, scale: Mapping, value: float) -> float:
    if pred["kind"] == "categorical":
        eff = 0.0 if value == 0 else pred["coefficients"][int(value) - 1]
    else:
        eff = pred["coefficients"][0] * value
    return 100.0 * (eff - pred["effect_min"]) / scale["scale"]


def nomogram_figure(model: Any, case: Mapping[str, Any] | None = None, *, title: str | None = None,
                    probabilities: Sequence[float] = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95),
                    ) -> Figure:
    """Classic nomogram points chart of a linear model; ``case`` (column → value) marks one patient.

    Raises ``InputError`` for models without a points scale (SVM recipes, signatures without a
    training cohort)."""
    from alnpredictor.errors import InputError
    from alnpredictor.models.nomogram import probability_to_total_points

    scale = model.spec.get("points")
    if not scale:
        raise InputError(f"model {model.name!r} ({model.recipe}) has no nomogram points scale")
    preds = scale["predictors"]
    total_max = sum(100.0 * (p["effect_max"] - p["effect_min"]) / scale["scale"] for p in preds)
    rows = len(preds) + 3
    fig, ax = _figure(9.0, 0.55 * rows + 1.0)
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-rows + 0.3, 0.9)
    ax.axis("off")
    label_x = -0.03

    def axis_line(yrow: float, xs: Sequence[float], labels: Sequence[str], name: str,
                  span: tuple[float, float] | None = None) -> None:
        lo, hi = span if span is not None else (min(xs), max(xs))
        ax.plot([min(lo, hi), max(lo, hi)], [yrow, yrow], color="black", linewidth=1)
        last = None
        for x, lab in sorted(zip(xs, labels)):
            # labels closer than ~4% of the width alternate below the axis so they stay readable
            below = last is not None and x - last[0] < 0.04 and not last[1]
            ax.plot([x, x], [yrow, yrow + (-0.12 if below else 0.12)], color="black", linewidth=1)
            ax.text(x, yrow + (-0.17 if below else 0.17), lab, ha="center", va="top" if below else "bottom",
                    fontsize=7)
            last = (x, below)
        ax.text(label_x, yrow, plain(name), ha="right", va="center", fontsize=8)

    pts_ticks = np.arange(0, 101, 10)
    axis_line(0.0, pts_ticks / 100.0, [f"{t:g}" for t in pts_ticks], "Points")
    case_points = model.predict_case(case) if case is not None else None
    for i, pred in enumerate(preds, start=1):
        ticks = _predictor_ticks(pred)
        xs = [_tick_points(pred, scale, v) / 100.0 for v, _ in ticks]
        span = None
        if pred["kind"] == "continuous":
            span = (_tick_points(pred, scale, pred["range"][0]) / 100.0, _tick_points(pred, scale, pred["range"][1]) / 100.0)
        axis_line(-i, xs, [lab for _, lab in ticks], pred["name"], span)
        if case_points is not None:
            x = case_points.points[pred["name"]] / 100.0
            ax.plot([x], [-i], "v", color="tab:red", markersize=7)
            ax.plot([x, x], [-i, 0.0], color="tab:red", linewidth=0.6, linestyle=":")
    t_row, p_row = -(len(preds) + 1), -(len(preds) + 2)
    t_ticks = MaxNLocator(nbins=8).tick_values(0, total_max)
    t_ticks = t_ticks[(t_ticks >= 0) & (t_ticks <= total_max + 1e-9)]
    axis_line(t_row, t_ticks / total_max, [f"{t:g}" for t in t_ticks], "Total points")
    pr = np.asarray(probabilities, dtype=float)
    pr_pts = probability_to_total_points(scale, pr)
    inside = (pr_pts >= 0) & (pr_pts <= total_max)
    if inside.sum() >= 2:
        axis_line(p_row, pr_pts[inside] / total_max, [f"{v:g}" for v in pr[inside]], "Probability of ALN metastasis")
    if case_points is not None:
        xt = case_points.total_points / total_max
        ax.plot([xt], [t_row], "v", color="tab:red", markersize=7)
        ax.plot([xt, xt], [t_row, p_row], color="tab:red", linewidth=0.6, linestyle=":")
        ax.text(xt, p_row - 0.35, f"p = {case_points.probability:.2f}", ha="center", va="top", fontsize=8,
                color="tab:red")
    ax.set_title(plain(title or f"Nomogram — {model.name}"), fontsize=10)
    fig.text(0.01, 0.005, RESEARCH_NOTE, fontsize=6, color="grey")
    return fig


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
