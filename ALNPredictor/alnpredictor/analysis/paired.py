"""Neoadjuvant paired changes (``alnpredictor analyze paired``): pre- and post-NAC feature tables of
the same patients → per-feature change, Wilcoxon signed-rank tests with Benjamini–Hochberg FDR,
the same by response group (e.g. pCR vs non-pCR) with between-group tests of the changes, and a
clustered heat map of the relative changes (the MRI study's Table 2 / Fig 4).

Definitions (one feature, one patient):

* absolute change ``post − pre``; relative change ``(post − pre) / |pre|`` (the sign is the sign
  of the change also for negative features; undefined, NaN, when ``pre`` is 0);
* a patient missing either value of a feature is left out of that feature (R ``complete.cases``).

Tests, as R's ``wilcox.test`` chooses them (R 4.x defaults, checked against R in the tests):

* within patients — Wilcoxon signed-rank of ``post − pre`` (``wilcox.test(post, pre, paired=TRUE)``):
  zero differences are dropped before ranking (``zero_method="wilcox"``); the exact distribution is
  used when fewer than 50 non-zero differences remain and there are neither ties nor zeros,
  otherwise the normal approximation with the tie-corrected variance and the continuity
  correction. ``V`` is the sum of the ranks of the increases (R's statistic). A feature that did
  not change in any patient has no test (p = None, as R's NaN).
* between groups — Wilcoxon rank-sum (Mann–Whitney) of the changes (relative by default) of the
  first group level against the second (``wilcox.test(x, y)``): exact when both groups have fewer
  than 50 values and there are no ties, otherwise normal approximation with tie and continuity
  corrections; no test when every value is the same (R's NaN). ``W`` is R's statistic (Mann–Whitney U of the first level).
* FDR — Benjamini–Hochberg q-values (``p.adjust(p, "BH")``) over the features of one family (all
  patients; each group; the between-group tests); features without a p-value are left out.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from alnpredictor.errors import InputError

#: Fewer non-zero differences than this (and no ties/zeros) → exact p-values, as R's wilcox.test.
EXACT_BELOW = 50


# --------------------------------------------------------------------------- the tests (R's choices)
def signed_rank_test(post: np.ndarray, pre: np.ndarray) -> dict[str, Any]:
    """Wilcoxon signed-rank test of ``post − pre`` as R's ``wilcox.test(post, pre, paired=TRUE)``.

    :returns: ``n`` (complete pairs), ``n_zero`` (unchanged, dropped), ``V`` (sum of the ranks of the
        increases), ``p`` (None when no pair changed) and ``method`` (``exact`` or ``normal``)."""
    post, pre = np.asarray(post, dtype=float), np.asarray(pre, dtype=float)
    ok = ~(np.isnan(post) | np.isnan(pre))
    d = post[ok] - pre[ok]
    nonzero = d[d != 0]
    n, n_zero = int(nonzero.size), int(d.size - nonzero.size)
    out: dict[str, Any] = {"n": int(d.size), "n_zero": n_zero, "V": 0.0, "p": None, "method": None}
    if n == 0:
        return out
    ranks = sps.rankdata(np.abs(nonzero))
    ties = np.unique(ranks).size != n
    exact = n < EXACT_BELOW and not ties and n_zero == 0
    res = sps.wilcoxon(nonzero, zero_method="wilcox", correction=True, alternative="two-sided",
                       method="exact" if exact else "approx")
    out.update(V=float(ranks[nonzero > 0].sum()), p=float(res.pvalue), method="exact" if exact else "normal")
    return out


def rank_sum_test(x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Wilcoxon rank-sum (Mann–Whitney) test as R's ``wilcox.test(x, y)``: ``W`` (U of ``x``), ``p``
    (None when a group has no values), ``method`` (``exact`` or ``normal``)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    x, y = x[~np.isnan(x)], y[~np.isnan(y)]
    out: dict[str, Any] = {"n_x": int(x.size), "n_y": int(y.size), "W": None, "p": None, "method": None}
    if x.size == 0 or y.size == 0:
        return out
    both = np.concatenate([x, y])
    out["W"] = float(sps.rankdata(both)[: x.size].sum() - x.size * (x.size + 1) / 2)
    if np.unique(both).size == 1:  # all tied: zero variance, R's p is NaN
        return out
    ties = np.unique(both).size != both.size
    exact = x.size < EXACT_BELOW and y.size < EXACT_BELOW and not ties
    res = sps.mannwhitneyu(x, y, use_continuity=True, alternative="two-sided",
                           method="exact" if exact else "asymptotic")
    out.update(p=float(res.pvalue), method="exact" if exact else "normal")
    return out


def bh_qvalues(pvalues: Sequence[float | None]) -> list[float | None]:
    """Benjamini–Hochberg adjusted p-values (R ``p.adjust(p, "BH")``); None stays None and does
    not count towards the number of tests (as R's NA)."""
    from statsmodels.stats.multitest import multipletests

    p = np.array([np.nan if v is None else float(v) for v in pvalues], dtype=float)
    q: list[float | None] = [None] * p.size
    finite = np.flatnonzero(np.isfinite(p))
    if finite.size:
        adjusted = multipletests(p[finite], method="fdr_bh")[1]
        for i, v in zip(finite, adjusted):
            q[i] = float(v)
    return q


def relative_change(post: np.ndarray, pre: np.ndarray) -> np.ndarray:
    """``(post − pre) / |pre|``; NaN where ``pre`` is 0 or a value is missing."""
    post, pre = np.asarray(post, dtype=float), np.asarray(pre, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = (post - pre) / np.abs(pre)
    rel[pre == 0] = np.nan
    return rel


# --------------------------------------------------------------------------- the tables
def _ids(table: pd.DataFrame, id_col: str, what: str) -> pd.Index:
    if id_col not in table.columns:
        raise InputError(f"{what} has no id column '{id_col}' (columns: {', '.join(map(str, table.columns[:8]))}"
                         f"{' ...' if len(table.columns) > 8 else ''}); give the patient id column with --id")
    ids = table[id_col].astype(str).str.strip()
    if ids.eq("").any() or table[id_col].isna().any():
        raise InputError(f"{what}: column '{id_col}' has empty patient ids; give every row its id")
    dup = sorted(set(ids[ids.duplicated()]))
    if dup:
        raise InputError(f"{what}: patient id(s) {', '.join(dup[:5])} appear more than once in '{id_col}'; "
                         "give one row per patient")
    return pd.Index(ids, name="id")


def _numeric_columns(table: pd.DataFrame, skip: set[str]) -> list[str]:
    return [c for c in table.columns if c not in skip and pd.api.types.is_numeric_dtype(table[c])
            and not pd.api.types.is_bool_dtype(table[c])]


def _listing(names: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(map(str, names[:limit]))
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _one_sided(a: Sequence, b: Sequence, names: tuple[str, str], counted: bool = False) -> str:
    """What only one of two tables has ("only in PRE: ...; only in POST: ..."), "" when they agree;
    with ``counted`` the number first ("2 only in PRE (...)")."""
    in_a, in_b = set(a), set(b)
    parts = []
    for values, other, name in ((a, in_b, names[0]), (b, in_a, names[1])):
        only = [v for v in values if v not in other]
        if only:
            parts.append(f"{len(only)} only in {name} ({_listing(only)})" if counted
                         else f"only in {name}: {_listing(only)}")
    return "; ".join(parts)


def align_tables(pre: pd.DataFrame, post: pd.DataFrame, id_col: str, *, group_col: str | None = None,
                 features: Sequence[str] | None = None, names: tuple[str, str] = ("PRE", "POST"),
                 ) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series | None]:
    """The two tables on the same patients (rows, in the pre table's order) and features (columns).

    Refuses tables with different patients, different features (``features`` None: every numeric
    column but the id and the group), duplicate ids, a feature that is not numeric, and a group column
    with fewer than two groups or with values that differ between the tables.

    :returns: ``(pre, post, group)`` — float frames indexed by id, and the group per patient (a
        categorical whose categories are the two levels in R's factor order, the sorted values; NaN
        where missing) or None without ``group_col``."""
    pre_name, post_name = names
    pre_ids, post_ids = _ids(pre, id_col, pre_name), _ids(post, id_col, post_name)
    differ = _one_sided(pre_ids, post_ids, names, counted=True)
    if differ:
        raise InputError(f"the pre and post tables have different patients: {differ}; give both tables "
                         "the same patients (paired changes need each patient before and after)")
    group = None
    if group_col:
        group = _group(pre.set_axis(pre_ids, axis=0), post.set_axis(post_ids, axis=0), group_col, names)
    skip = {id_col} | ({group_col} if group_col else set())
    if features is None:
        f_pre, f_post = _numeric_columns(pre, skip), _numeric_columns(post, skip)
        differ = _one_sided(f_pre, f_post, names)
        if differ:
            raise InputError(f"the pre and post tables have different features ({differ}); give both "
                             "the same feature columns, or choose the features with --features (a response "
                             "column? name it with --group)")
        features = f_pre
    else:
        features = list(dict.fromkeys(features))
        for f, table, name in ((f, t, n) for f in features for t, n in ((pre, pre_name), (post, post_name))):
            if f not in table.columns:
                raise InputError(f"feature '{f}' is not a column of {name}; check --features")
            if f in skip:
                raise InputError(f"'{f}' is the id or group column, not a feature; check --features")
            if not pd.api.types.is_numeric_dtype(table[f]) or pd.api.types.is_bool_dtype(table[f]):
                raise InputError(f"feature '{f}' of {name} is not numeric (e.g. '{table[f].dropna().iloc[0]}'); "
                                 "give numbers, or leave the column out of --features")
    if not features:
        raise InputError(f"{pre_name} and {post_name} have no numeric feature columns besides '{id_col}'")
    a = pre.set_axis(pre_ids, axis=0)[list(features)].astype(float)
    b = post.set_axis(post_ids, axis=0)[list(features)].astype(float).loc[a.index]
    return a, b, None if group is None else group.loc[a.index]


def _group(pre: pd.DataFrame, post: pd.DataFrame, col: str, names: tuple[str, str]) -> pd.Series:
    """The response group per patient, from whichever table has the column (both must agree)."""
    sources = [(t, n) for t, n in ((pre, names[0]), (post, names[1])) if col in t.columns]
    if not sources:
        raise InputError(f"group column '{col}' is in neither {names[0]} nor {names[1]}; check --group")
    values = sources[0][0][col]
    if len(sources) == 2:
        other = post[col].loc[pre.index]
        differ = [i for i in pre.index if not (pd.isna(values[i]) and pd.isna(other[i])) and values[i] != other[i]]
        if differ:
            raise InputError(f"group column '{col}' differs between {names[0]} and {names[1]} for patient(s) "
                             f"{_listing(differ)}; give each patient one group")
    levels = pd.unique(values.dropna())
    if len(levels) < 2:
        shown = f"a single group ('{levels[0]}')" if len(levels) else "no group values"
        raise InputError(f"group column '{col}' of {sources[0][1]} has {shown}: between-group tests need two "
                         "groups (e.g. pCR and non-pCR); check --group")
    if len(levels) > 2:
        raise InputError(f"group column '{col}' has {len(levels)} groups ({_listing([str(v) for v in levels])}); "
                         "paired changes compare two response groups (e.g. pCR vs non-pCR): recode it to two")
    order = [str(v) for v in sorted(levels)]  # R's factor levels: the sorted values
    labels = values.map(lambda v: None if pd.isna(v) else str(v))
    return pd.Series(pd.Categorical(labels, categories=order), index=values.index, name=col)


# --------------------------------------------------------------------------- the analysis
def _summary_rows(pre: pd.DataFrame, post: pd.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for f in pre.columns:
        x, y = post[f].to_numpy(), pre[f].to_numpy()
        ok = ~(np.isnan(x) | np.isnan(y))
        rel = relative_change(x[ok], y[ok])
        test = signed_rank_test(x, y)
        rows.append({
            "feature": f, "n": test["n"], "n_zero": test["n_zero"],
            "median_pre": _median(y[ok]), "median_post": _median(x[ok]),
            "median_change": _median(x[ok] - y[ok]), "median_relative_change": _median(rel),
            "n_relative_undefined": int(np.isnan(rel).sum()),
            "V": test["V"], "p": test["p"], "method": test["method"],
        })
    for row, q in zip(rows, bh_qvalues([r["p"] for r in rows])):
        row["q"] = q
    return rows


def _median(values: np.ndarray) -> float | None:
    values = values[~np.isnan(values)]
    return float(np.median(values)) if values.size else None


def paired_changes(pre: pd.DataFrame, post: pd.DataFrame, group: pd.Series | None = None,
                   between: str = "relative") -> dict[str, Any]:
    """Per-feature paired changes of aligned tables (:func:`align_tables`), overall and by group.

    :param between: ``relative`` or ``absolute``: the change compared between the groups.
    :returns: JSON-ready results (``overall``; with a group: ``groups`` with ``levels``, ``n``,
        ``within`` per level and ``between``)."""
    if between not in ("relative", "absolute"):
        raise InputError(f"--between must be 'relative' or 'absolute', not '{between}'")
    result: dict[str, Any] = {"n_patients": int(len(pre)), "features": list(pre.columns),
                              "overall": _summary_rows(pre, post), "warnings": []}
    if group is None:
        return result
    known = group.notna().to_numpy()
    if not known.all():
        result["warnings"].append(f"{int((~known).sum())} patient(s) without a group are left out of the group "
                                  "analyses")
    levels = [str(v) for v in group.cat.categories]
    within, n = {}, {}
    for level in levels:
        rows = (group == level).to_numpy()
        n[level] = int(rows.sum())
        within[level] = _summary_rows(pre[rows], post[rows])
        if n[level] < 6:
            result["warnings"].append(f"group '{level}' has {n[level]} patients: a signed-rank test of fewer than 6 "
                                      "pairs cannot reach p < 0.05")
    change = relative_change(post.to_numpy(), pre.to_numpy()) if between == "relative" else (post - pre).to_numpy()
    a, b = (group == levels[0]).to_numpy(), (group == levels[1]).to_numpy()
    rows = []
    for j, f in enumerate(pre.columns):
        test = rank_sum_test(change[a, j], change[b, j])
        rows.append({"feature": f, f"n_{levels[0]}": test["n_x"], f"n_{levels[1]}": test["n_y"],
                     f"median_change_{levels[0]}": _median(change[a, j]),
                     f"median_change_{levels[1]}": _median(change[b, j]),
                     "W": test["W"], "p": test["p"], "method": test["method"]})
    for row, q in zip(rows, bh_qvalues([r["p"] for r in rows])):
        row["q"] = q
    result["groups"] = {"column": group.name, "levels": levels, "n": n, "within": within,
                        "between_change": between, "between": rows}
    return result


# --------------------------------------------------------------------------- the heat map
def heatmap_figure(pre: pd.DataFrame, post: pd.DataFrame, group: pd.Series | None = None, *,
                   title: str = "Relative change after NAC"):
    """Clustered heat map of the relative changes (rows patients, columns features; average-linkage
    dendrograms on both axes, a colour bar of the response group). Colours are clipped at the 95th
    percentile of |change| so that a few patients with a near-zero baseline do not wash out the rest;
    clustering uses the same clipped values, with an undefined change (baseline 0) counted as none."""
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
    from scipy.cluster import hierarchy

    from alnpredictor.report.figures import RESEARCH_NOTE, plain

    rel = pd.DataFrame(relative_change(post.to_numpy(), pre.to_numpy()) * 100, index=pre.index, columns=pre.columns)
    rel = rel.loc[:, rel.notna().any(axis=0)]
    values = rel.to_numpy()
    finite = np.abs(values[np.isfinite(values)])
    limit = max(float(np.percentile(finite, 95)) if finite.size else 1.0, 1.0)
    clipped = np.clip(np.nan_to_num(values, nan=0.0), -limit, limit)
    n_rows, n_cols = clipped.shape
    row_order, col_order = np.arange(n_rows), np.arange(n_cols)
    width, height = min(4 + 0.28 * n_cols, 24), min(3 + 0.16 * n_rows, 24)
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    has_group = group is not None
    # columns: row dendrogram, [group bar], heat map, room for the patient labels, colour bar
    ratios = [1.2, 0.25, 8, 0.9, 0.3] if has_group else [1.2, 8, 0.9, 0.3]
    grid = fig.add_gridspec(2, len(ratios), width_ratios=ratios, height_ratios=[1.2, 8], wspace=0.03, hspace=0.03)
    heat_col = 2 if has_group else 1
    if n_rows > 1:
        ax = fig.add_subplot(grid[1, 0])
        link = hierarchy.linkage(clipped, method="average", metric="euclidean")
        row_order = np.asarray(hierarchy.dendrogram(link, orientation="left", ax=ax, no_labels=True,
                                                    color_threshold=0, above_threshold_color="0.3")["leaves"])
        ax.invert_yaxis()
        ax.set_axis_off()
    if n_cols > 1:
        ax = fig.add_subplot(grid[0, heat_col])
        link = hierarchy.linkage(clipped.T, method="average", metric="euclidean")
        col_order = np.asarray(hierarchy.dendrogram(link, ax=ax, no_labels=True, color_threshold=0,
                                                    above_threshold_color="0.3")["leaves"])
        ax.set_axis_off()
    ax = fig.add_subplot(grid[1, heat_col])
    cmap = colormaps["RdBu_r"].with_extremes(bad="0.8")  # grey: undefined (baseline 0)
    image = ax.imshow(values[np.ix_(row_order, col_order)], aspect="auto", cmap=cmap, vmin=-limit, vmax=limit,
                      interpolation="nearest")
    ax.set_xticks(range(n_cols) if n_cols <= 80 else [])
    ax.set_xticklabels([plain(c) for c in rel.columns[col_order]] if n_cols <= 80 else [], rotation=90, fontsize=7)
    ax.set_yticks(range(n_rows) if n_rows <= 80 else [])
    ax.set_yticklabels([plain(i) for i in rel.index[row_order]] if n_rows <= 80 else [], fontsize=6)
    ax.yaxis.tick_right()
    ax.set_xlabel(f"features ({n_cols})")
    cax = fig.add_subplot(grid[1, -1])
    bar = fig.colorbar(image, cax=cax)
    bar.set_label(f"relative change (%) — clipped at ±{limit:.0f}%; grey: baseline 0")
    if has_group:
        levels = [str(v) for v in group.cat.categories]
        colours = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a"][: max(len(levels), 1)]
        code = group.loc[rel.index].cat.codes.to_numpy().astype(float)
        code[code < 0] = np.nan  # no group
        gax = fig.add_subplot(grid[1, 1])
        gax.imshow(code[row_order][:, None], aspect="auto", cmap=ListedColormap(colours), vmin=-0.5,
                   vmax=len(colours) - 0.5, interpolation="nearest")
        gax.set_xticks([0])
        gax.set_xticklabels([plain(group.name)], rotation=90, fontsize=7)
        gax.set_yticks([])
        fig.legend(handles=[Patch(color=c, label=plain(f"{group.name} = {lv}")) for c, lv in zip(colours, levels)],
                   loc="upper left", fontsize=8, frameon=False)
    fig.suptitle(f"{plain(title)} ({n_rows} patients)\n{RESEARCH_NOTE}", fontsize=10)
    return fig


# --------------------------------------------------------------------------- outputs shared by analyses
def write_outputs(json_path: str | Path | None, payload: Mapping[str, Any] | None, plots: str | Path | None,
                  figures: Mapping[str, Any]) -> list[Path]:
    """The JSON results and the figures, all or none (:func:`alnpredictor.report.results.write_results`)."""
    from alnpredictor.report.results import write_results

    return write_results(json_path, payload, plots, figures)


# --------------------------------------------------------------------------- the command
def register(kinds: argparse._SubParsersAction) -> None:
    """Add ``analyze paired``."""
    p = kinds.add_parser(
        "paired", help="pre- vs post-NAC feature changes: signed-rank tests, FDR, by response group, heat map",
        description="Per-feature paired change between pre- and post-treatment tables of the same patients: "
                    "Wilcoxon signed-rank (as R's wilcox.test(paired=TRUE)) with Benjamini-Hochberg FDR, by "
                    "response group with rank-sum tests of the changes, and a clustered heat map.")
    p.add_argument("--pre", required=True, metavar="PRE.csv", help="features before treatment, one row per patient")
    p.add_argument("--post", required=True, metavar="POST.csv", help="features after treatment, same patients")
    p.add_argument("--id", required=True, metavar="COL", help="patient id column (in both tables)")
    p.add_argument("--group", metavar="COL", help="response group column (two values, e.g. pCR 1/0) in either table")
    p.add_argument("--features", default="auto", metavar="LIST|auto",
                   help="comma-separated feature columns (default auto: every numeric column but id and group)")
    p.add_argument("--between", choices=("relative", "absolute"), default="relative",
                   help="the change compared between groups (default relative)")
    p.add_argument("--json", metavar="OUT.json", help="write all results as JSON")
    p.add_argument("--plots", metavar="DIR", help="write the clustered heat map (paired-heatmap.png/.svg)")
    p.set_defaults(func=_run)


def _fmt(value: float | None, spec: str = ".3g") -> str:
    return "n/a" if value is None else format(value, spec)


def _run(args: argparse.Namespace) -> int:
    from alnpredictor.models.design import read_table

    pre_t = read_table(args.pre, "pre-treatment table (--pre)")
    post_t = read_table(args.post, "post-treatment table (--post)")
    features = None if args.features.strip().lower() == "auto" else [
        f.strip() for f in args.features.split(",") if f.strip()]
    names = (f"--pre {Path(args.pre).name}", f"--post {Path(args.post).name}")
    pre, post, group = align_tables(pre_t, post_t, args.id, group_col=args.group, features=features, names=names)
    result = paired_changes(pre, post, group, between=args.between)
    payload = {"analysis": "paired", "pre": str(args.pre), "post": str(args.post), "id": args.id,
               "group": args.group, **result,
               "method": {"change": "absolute post - pre; relative (post - pre) / |pre| (undefined when pre = 0)",
                          "within": "Wilcoxon signed-rank as R wilcox.test(post, pre, paired=TRUE): zero differences "
                                    "dropped; exact if < 50 non-zero differences and no ties or zeros, else normal "
                                    "approximation with tie-corrected variance and continuity correction",
                          "between": f"Wilcoxon rank-sum of the {args.between} changes as R wilcox.test(x, y): exact if "
                                     "both groups < 50 and no ties, else normal approximation with corrections",
                          "fdr": "Benjamini-Hochberg (R p.adjust 'BH') per family of features"}}
    _print(payload, args)
    if args.json or args.plots:
        figures = {"paired-heatmap": heatmap_figure(pre, post, group)} if args.plots else {}
        write_outputs(args.json, payload, args.plots, figures)
    return 0


def _print(res: Mapping[str, Any], args: argparse.Namespace, top: int = 15) -> None:
    print(f"paired changes: {res['n_patients']} patients, {len(res['features'])} features "
          f"({Path(args.pre).name} → {Path(args.post).name}) — research use only")
    rows = sorted(res["overall"], key=lambda r: (r["q"] is None, r["q"] or 0, r["p"] or 0))
    print(f"{'feature':32s} {'n':>4s} {'med. rel. change':>17s} {'V':>8s} {'p':>9s} {'q (BH)':>9s}  test")
    for r in rows[:top]:
        rel = "n/a" if r["median_relative_change"] is None else f"{100 * r['median_relative_change']:+.1f}%"
        print(f"{str(r['feature'])[:32]:32s} {r['n']:4d} {rel:>17s} {r['V']:8.1f} {_fmt(r['p']):>9s} "
              f"{_fmt(r['q']):>9s}  {r['method'] or 'no change'}")
    if len(rows) > top:
        print(f"... {len(rows) - top} more features (--json for all)")
    groups = res.get("groups")
    if groups:
        for level in groups["levels"]:
            n_sig = sum(1 for r in groups["within"][level] if r["q"] is not None and r["q"] < 0.05)
            print(f"{groups['column']} = {level}: {groups['n'][level]} patients, {n_sig} feature(s) changed at q < 0.05")
        between = sorted(groups["between"], key=lambda r: (r["q"] is None, r["q"] or 0, r["p"] or 0))
        a, b = groups["levels"]
        print(f"between groups ({groups['between_change']} change, {a} vs {b}):")
        scale, unit = (100, "%") if groups["between_change"] == "relative" else (1, "")
        for r in between[: min(top, 10)]:
            ma, mb = (None if r[f"median_change_{g}"] is None else scale * r[f"median_change_{g}"] for g in (a, b))
            print(f"  {str(r['feature'])[:32]:32s} median {_fmt(ma, '+.3g')}{unit} vs {_fmt(mb, '+.3g')}{unit}  "
                  f"W {_fmt(r['W'], '.1f')}  p {_fmt(r['p'])}  q {_fmt(r['q'])}  {r['method'] or 'no test'}")
    for w in res["warnings"]:
        print(f"warning: {w}")
