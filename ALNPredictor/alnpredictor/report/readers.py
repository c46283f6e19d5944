"""The model's ROC curve with the radiologists' readings on it (``validate --reader COL --plots DIR``).

The model's empirical ROC with its operating point at the cut-off; each reader as its ROC over the
reading levels (ordinal: a polyline through one point per threshold, the stated/Youden operating
point marked) or as one operating point (binary). The legend gives each AUC with its DeLong CI and
the paired DeLong p of model vs reader.
"""

from __future__ import annotations

from collections.abc import Mapping

from matplotlib.figure import Figure

from alnpredictor.report.figures import RESEARCH_NOTE, plain
from alnpredictor.report.forest import agg_figure

_COLOURS = ("#c0392b", "#27ae60", "#8e44ad", "#d35400", "#16a085", "#7f8c8d")


def readers_figure(res: Mapping, *, title: str | None = None) -> Figure:
    """ROC figure of ``validate``'s result ``res`` (needs ``roc`` and ``readers``)."""
    fig, ax = agg_figure(6.4, 6.0)
    lo, hi = res["auc_ci"]
    ax.plot(res["roc"]["fpr"], res["roc"]["tpr"], color="#1f4e79", lw=1.8,
            label=plain(f"model: AUC {res['auc']:.3f} ({lo:.3f}–{hi:.3f})"))
    sens, spec = res["sensitivity"]["value"], res["specificity"]["value"]
    if sens is not None and spec is not None:
        ax.plot([1 - spec], [sens], marker="o", color="#1f4e79", ms=7, ls="none")
    for colour, r in zip(_COLOURS * 4, res["readers"]):
        a, d = r["reader_auc"], r["delong"]
        label = plain(f"{r['column']}: AUC {a['auc']:.3f} ({a['ci'][0]:.3f}–{a['ci'][1]:.3f}); "
                      f"vs model p {d['p_value']:.2g}")
        points = [(1 - p["specificity"], p["sensitivity"]) for p in r["reader_roc"]]
        xs = [1.0, *[x for x, _ in points], 0.0]
        ys = [1.0, *[y for _, y in points], 0.0]
        ax.plot(xs, ys, color=colour, lw=1.2, ls="-" if r["kind"] == "ordinal" else ":", label=label)
        op_sens, op_spec = r["reader"]["sensitivity"]["value"], r["reader"]["specificity"]["value"]
        ax.plot([1 - op_spec], [op_sens], marker="D", color=colour, ms=7, ls="none")
        if r["kind"] == "ordinal":
            for (x, y), p in zip(points, r["reader_roc"]):
                ax.annotate(plain(f"≥{p['threshold']}"), (x, y), textcoords="offset points", xytext=(4, -10),
                            fontsize=7, color=colour)
    ax.plot([0, 1], [0, 1], color="0.6", ls="--", lw=0.8)
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel("1 − specificity")
    ax.set_ylabel("Sensitivity")
    ax.set_title(plain(title or "Model vs readers"), fontsize=10)
    ax.legend(loc="lower right", fontsize=7, frameon=False)
    fig.text(0.01, 0.01, f"● model at its cut-off   ◆ reader's operating point   {RESEARCH_NOTE}", fontsize=6,
             color="0.3")
    return fig
