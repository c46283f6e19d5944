"""``alnpredictor validate``: a model or published signature against a labelled cohort."""

from __future__ import annotations

import argparse

from alnpredictor.cli.train import probability_cutoff


def bootstrap_replicates(text: str) -> int:
    """argparse type of ``--bootstrap``: a whole number of replicates (at least 100)."""
    from alnpredictor.errors import InputError
    from alnpredictor.stats.auc import check_bootstrap_replicates

    try:
        number = int(text)
    except ValueError:
        number = text
    try:
        return check_bootstrap_replicates(number)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def reader_threshold(text: str) -> tuple[str | None, float]:
    """argparse type of ``--reader-threshold``: ``T`` (every ordinal reader) or ``COL=T``."""
    column, _, value = text.rpartition("=")
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give a number (positive at or above it, e.g. 4 for BI-RADS >= 4) or COL=NUMBER") from None
    return (column or None), number


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "validate", help="validate a model or published signature on a labelled cohort (AUC + DeLong CI, ...)",
        description="AUC with DeLong 95%% CI, accuracy/sensitivity/specificity/PPV/NPV with Clopper-Pearson "
                    "CIs at the cut-off, calibration, decision curve, and sanity warnings.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", metavar="M.alnmodel", help="model bundle")
    src.add_argument("--signature", metavar="COEF.csv", help="published signature (feature,coefficient table)")
    p.add_argument("--features", required=True, metavar="F.csv", help="feature table with the label column")
    p.add_argument("--label", required=True, metavar="COL", help="outcome column")
    p.add_argument("--positive", metavar="VALUE",
                   help="label value meaning metastasis (default: the model's, else 1)")
    p.add_argument("--cutoff", type=probability_cutoff, metavar="P",
                   help="probability cut-off, 0 < P < 1 (default: the model's; else Youden here)")
    p.add_argument("--json", metavar="OUT.json", help="write all results as JSON")
    p.add_argument("--plots", metavar="DIR", help="write ROC, calibration, decision curve (and nomogram), PNG+SVG")
    p.add_argument("--subgroup", metavar="COL",
                   help="also report AUCs within subgroups of this column, a heterogeneity test between them "
                        "and (with --plots) a forest plot")
    p.add_argument("--reader", action="append", metavar="COL",
                   help="compare the model with a radiologist's reading in this column (binary positive/negative "
                        "or 0/1, or ordinal levels such as BI-RADS 1-5); repeat for several readers")
    p.add_argument("--reader-threshold", action="append", type=reader_threshold, metavar="[COL=]T",
                   help="an ordinal reading is positive at or above T (default: Youden on this cohort, flagged); "
                        "COL=T for one reader")
    p.add_argument("--compare", metavar="M2", help="older model/signature to compare with (paired DeLong, NRI, IDI)")
    p.add_argument("--bootstrap", type=bootstrap_replicates, metavar="N",
                   help="bootstrap AUC CI with N replicates (at least 100; 2000 is usual) instead of DeLong")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.set_defaults(func=_run)


def _calibration_line(res: dict) -> str:
    """Calibration as R users read it: calibration-in-the-large (slope fixed at 1) and rms::val.prob's
    Intercept and Slope (the recalibration line, slope estimated)."""
    def num(v):
        return "n/a" if v is None else f"{v:.3f}"

    vp = res.get("val_prob") or {}
    return (f"calibration-in-the-large {num(res.get('calibration_in_the_large', res.get('calibration_intercept')))}; "
            f"val.prob Intercept {num(vp.get('Intercept'))}, Slope {num(vp.get('Slope', res.get('calibration_slope')))}")


def _fmt(metric: dict) -> str:
    if metric["value"] is None:
        return "n/a"
    lo, hi = metric["ci"]
    return f"{metric['value']:.3f} ({lo:.3f}–{hi:.3f})  [{metric['k']}/{metric['n']}]"


def _ci(value: float, ci) -> str:
    return f"{value:.3f} ({ci[0]:.3f}–{ci[1]:.3f})"


def _print_subgroups(sub: dict) -> None:
    for g in sub["groups"]:
        auc = "n/a" if g["auc"] is None else _ci(g["auc"], g["auc_ci"])
        flag = "  †" if g["few_events"] and g["auc"] is not None else ""
        print(f"  {sub['column']}={g['group']}: n {g['n']} ({g['n_positive']} positive) AUC {auc}{flag}")
    h = sub["heterogeneity"]
    if h["p_value"] is None:
        print(f"  heterogeneity: not tested ({h['reason']})")
    elif h["k"] == 2:
        print(f"  heterogeneity: D {h['statistic']:.3f}, df {h['df']:.1f}, p {h['p_value']:.3g} "
              "(DeLong, independent AUCs)")
    else:
        print(f"  heterogeneity: Cochran's Q {h['statistic']:.3f}, df {h['df']}, p {h['p_value']:.3g}, "
              f"I² {100 * h['i2']:.0f}%")


def _print_reader(r: dict) -> None:
    kind = (f"ordinal {r['levels'][0]}–{r['levels'][-1]}, positive >= {r['threshold']:g} ({r['threshold_source']})"
            if r["kind"] == "ordinal" else "binary call")
    ra, ma, d = r["reader_auc"], r["model_auc"], r["delong"]
    print(f"reader {r['column']} ({kind}): n {r['n']} ({r['n_positive']} positive)")
    print(f"  AUC reader {_ci(ra['auc'], ra['ci'])}, model {_ci(ma['auc'], ma['ci'])}; model − reader "
          f"{d['difference']:+.3f} ({d['ci'][0]:+.3f} to {d['ci'][1]:+.3f}), paired DeLong p {d['p_value']:.3g}")
    for key in ("sensitivity", "specificity"):
        print(f"  {key:12s} reader {_fmt(r['reader'][key])}; model {_fmt(r['model'][key])}; "
              f"McNemar p {r['mcnemar'][key]['p_value']:.3g}")
    n, i, rc = r["nri_categorical"], r["idi"], r["reclassification"]
    print(f"  NRI (model vs reader call) {n['nri']:+.3f} (p {n['p_value']:.3g}); IDI {i['idi']:+.3f} (p {i['p_value']:.3g})")
    for who, label in (("events", "positive patients"), ("nonevents", "negative patients")):
        c = rc[who]
        print(f"  {label}: model calls {c['moved_right']} correctly that the reader missed, "
              f"{c['moved_wrong']} wrongly that the reader got right (of {c['n']})")


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from alnpredictor.models import compare_models, resolve_model, validate
    from alnpredictor.models.design import read_table
    from alnpredictor.models.labels import parse_label_value

    table = read_table(args.features)
    model = resolve_model(args.model or args.signature)
    kw = {"auc_method": "bootstrap", "n_boot": args.bootstrap, "seed": args.seed} if args.bootstrap else {}
    positive = parse_label_value(args.positive)
    res = validate(model, table, args.label, positive=positive, cutoff=args.cutoff,
                   subgroup=args.subgroup, readers=args.reader, reader_thresholds=dict(args.reader_threshold or []),
                   **kw)
    if args.compare:
        res["comparison"] = compare_models(args.compare, model, table, args.label, positive=positive)
    lo, hi = res["auc_ci"]
    print(f"model {model.name} ({model.recipe}) on {Path(args.features).name} — research use only")
    print(f"n {res['n']} ({res['n_positive']} positive, prevalence {res['prevalence']:.3f})"
          + (f"; {res['n_excluded_missing']} excluded for missing values" if res["n_excluded_missing"] else ""))
    print(f"AUC {res['auc']:.3f} (95% CI {lo:.3f}–{hi:.3f}, {res['auc_method']})")
    print(f"cut-off {res['cutoff']:.3f} ({res['cutoff_source']})")
    for key in ("accuracy", "sensitivity", "specificity", "ppv", "npv"):
        print(f"  {key:12s} {_fmt(res[key])}")
    print(f"Brier {res['brier']:.3f}; {_calibration_line(res)}")
    if "subgroups" in res:
        _print_subgroups(res["subgroups"])
    for r in res.get("readers", []):
        _print_reader(r)
    if "comparison" in res:
        c = res["comparison"]
        print(f"vs {c['model_a']}: AUC {c['auc_a']:.3f} → {c['auc_b']:.3f}, gain {c['auc_gain']:+.3f} "
              f"(paired DeLong p {c['delong']['p_value']:.3g}); "
              f"NRI(>0) {c['nri_continuous']['nri']:+.3f}; IDI {c['idi']['idi']:+.3f} (p {c['idi']['p_value']:.3g})")
    for w in res["warnings"]:
        print(f"warning [{w['code']}]: {w['message']}")
    if args.json or args.plots:
        _write_outputs(args, model, table, res, positive)
    return 0


def _write_outputs(args: argparse.Namespace, model, table, res: dict, positive) -> None:
    """The JSON results and the plots, all or none: every file is written under a temporary name
    beside its destination and renamed only once all are complete (``alnpredictor.outputs``)."""
    import shutil
    import tempfile
    from pathlib import Path

    from alnpredictor.outputs import output_error
    from alnpredictor.report.results import results_group

    drawn: list[Path] = []
    with results_group(args.json, res, args.plots) as (group, plots):
        if plots is not None:
            from alnpredictor.report.figures import validation_figures

            try:
                scratch = Path(tempfile.mkdtemp(dir=plots, prefix=".tmp-plots-"))
            except OSError as exc:
                raise output_error(plots, exc) from exc
            try:
                drawn = validation_figures(model, table, args.label, scratch, positive=positive,
                                           cutoff=args.cutoff)  # user text drawn as plain text there
                if "subgroups" in res:
                    from alnpredictor.report.figures import save_figure
                    from alnpredictor.report.forest import forest_figure

                    overall = {"auc": res["auc"], "auc_ci": res["auc_ci"], "n": res["n"],
                               "n_positive": res["n_positive"]}
                    drawn += save_figure(forest_figure(res["subgroups"], overall,
                                                       title=f"AUC by {args.subgroup} — {model.name}"),
                                         scratch / "forest")
                if res.get("readers"):
                    from alnpredictor.report.figures import save_figure
                    from alnpredictor.report.readers import readers_figure

                    drawn += save_figure(readers_figure(res, title=f"{model.name} vs readers"), scratch / "readers")
                for src in drawn:
                    group.write_with(plots / src.name, lambda tmp, src=src: shutil.copyfile(src, tmp))
            except OSError as exc:
                raise output_error(plots, exc) from exc
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
    if args.json:
        print(f"results written to {args.json}")
    if args.plots:
        if not model.spec.get("points"):
            print("  (no nomogram: the model has no points scale — SVM recipes and signatures without a "
                  "training cohort)")
        print(f"{len(drawn)} plot files written to {args.plots}")
