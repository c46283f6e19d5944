"""Forest plot of a model's AUC within subgroups (``validate --subgroup COL --plots DIR``).

One row per subgroup: the AUC with its 95% DeLong CI as a square and a line, the text
``AUC (CI)`` and ``n (events)`` beside it; the whole cohort's AUC on top as a diamond and a dotted
reference line; chance (0.5) dashed. Subgroups with fewer than ``MIN_EVENTS`` events or non-events
are drawn hollow and marked †; subgroups without an AUC are listed as "no AUC". The heterogeneity
test (see :mod:`alnpredictor.stats.subgroups`) is printed below the axis.
"""

from __future__ import annotations

from collections.abc import Mapping

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import blended_transform_factory

from alnpredictor.report.figures import RESEARCH_NOTE, plain


def agg_figure(width: float, height: float):
    """A figure on the Agg canvas without pyplot (the host application's backend is left alone)."""
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig, fig.subplots()


def _heterogeneity_text(h: Mapping) -> str:
    if h.get("p_value") is None:
        return f"Heterogeneity: not tested — {h.get('reason')}"
    if h["k"] == 2:
        return (f"Heterogeneity (DeLong test, independent AUCs): D = {h['statistic']:.2f}, df = {h['df']:.1f}, "
                f"p = {h['p_value']:.3g}")
    return (f"Heterogeneity (Cochran's Q, inverse-variance): Q = {h['statistic']:.2f}, df = {h['df']}, "
            f"p = {h['p_value']:.3g}, I² = {100 * h['i2']:.0f}%")


def forest_figure(subgroups: Mapping, overall: Mapping, *, title: str | None = None) -> Figure:
    """The forest plot of ``subgroups`` (``validate``'s ``res["subgroups"]``) under the cohort's
    AUC ``overall`` (``{"auc", "auc_ci", "n", "n_positive"}``)."""
    groups = list(subgroups["groups"])
    rows = [("All patients", overall["auc"], overall["auc_ci"], overall["n"], overall["n_positive"], False, True)]
    for g in groups:
        rows.append((f"{plain(subgroups['column'])} = {plain(g['group'])}", g["auc"], g["auc_ci"], g["n"],
                     g["n_positive"], bool(g.get("few_events")), False))
    height = 1.9 + 0.42 * len(rows)
    fig, ax = agg_figure(10.0, height)
    fig.subplots_adjust(left=0.3, right=0.66, top=1 - 0.55 / height, bottom=1.2 / height)
    column_x = blended_transform_factory(fig.transFigure, ax.transData)  # text columns right of the axis
    ys = list(range(len(rows)))[::-1]
    lows = [r[2][0] for r in rows if r[1] is not None]
    xmin = min([0.4, *lows]) - 0.02
    for y, (label, auc, ci, n, events, few, is_total) in zip(ys, rows):
        if auc is None:
            ax.text(xmin + 0.01, y, "no AUC (too few cases of one outcome)", va="center", ha="left", fontsize=8,
                    color="0.35", style="italic")
        elif is_total:
            lo, hi = ci
            ax.fill([lo, auc, hi, auc], [y, y + 0.22, y, y - 0.22], color="#1f4e79")
        else:
            lo, hi = ci
            ax.plot([lo, hi], [y, y], color="#1f4e79", lw=1.4, solid_capstyle="butt")
            ax.plot([auc], [y], marker="s", ms=7 + min(n, 200) / 40, color="#1f4e79",
                    markerfacecolor="white" if few else "#1f4e79")
        text = "—" if auc is None else f"{auc:.3f} ({ci[0]:.3f}–{ci[1]:.3f})"
        ax.text(0.68, y, text, va="center", ha="left", fontsize=8, transform=column_x)
        ax.text(0.84, y, f"{n} ({events})", va="center", ha="left", fontsize=8, transform=column_x)
        ax.text(-0.02, y, label + (" †" if few and auc is not None else ""), va="center", ha="right", fontsize=8,
                transform=ax.get_yaxis_transform(), fontweight="bold" if is_total else "normal")
    top = ys[0] + 0.7
    ax.text(0.68, top, "AUC (95% CI)", va="center", ha="left", fontsize=8, fontweight="bold", transform=column_x)
    ax.text(0.84, top, "n (events)", va="center", ha="left", fontsize=8, fontweight="bold", transform=column_x)
    ax.axvline(0.5, color="0.5", ls="--", lw=0.8)
    if overall.get("auc") is not None:
        ax.axvline(overall["auc"], color="#1f4e79", ls=":", lw=0.8)
    ax.set_xlim(xmin, 1.0)
    ax.set_ylim(-0.8, top + 0.5)
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_xlabel("AUC (95% DeLong CI)")
    ax.set_title(plain(title or f"AUC by {subgroups['column']}"), fontsize=10, loc="left")
    notes = [_heterogeneity_text(subgroups["heterogeneity"])]
    if any(g.get("few_events") and g["auc"] is not None for g in groups):
        notes.append(f"† fewer than {subgroups.get('min_events', 10)} events or non-events: CI unreliable")
    notes.append(RESEARCH_NOTE)
    for i, note in enumerate(notes):
        fig.text(0.02, (0.25 + 0.17 * (len(notes) - 1 - i)) / height, plain(note), fontsize=7, va="bottom",
                 ha="left", color="0.25")
    return fig
