"""``alnpredictor train``: fit a recipe on a feature table and save a model bundle."""

from __future__ import annotations

import argparse

RECIPE_NAMES = ("svm-rbf", "mri-yu2021", "lasso-logistic", "nomogram", "linear-signature")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train a model (svm-rbf, mri-yu2021, lasso-logistic, nomogram, linear-signature)",
        description="Train a model on a feature table (one row per case) and save it as NAME.alnmodel/. "
                    "The cut-off is chosen by Youden's index on this (training) cohort unless --cutoff is given.")
    p.add_argument("--features", required=True, metavar="F.csv", help="feature table (CSV), one row per case")
    p.add_argument("--label", required=True, metavar="COL", help="outcome column (ALN metastasis)")
    p.add_argument("--positive", default="1", metavar="VALUE",
                   help="label value meaning metastasis (default 1; e.g. R for R/N labels)")
    p.add_argument("--recipe", required=True, choices=RECIPE_NAMES)
    p.add_argument("--clinical", nargs="+", default=[], metavar="COL", help="clinical columns to include")
    p.add_argument("--choice", nargs="+", default=[], metavar="COL",
                   help="clinical columns to treat as categories even if coded as numbers (e.g. subtype 1-4)")
    p.add_argument("--out", required=True, metavar="M.alnmodel", help="bundle folder to write")
    p.add_argument("--name", help="model name (default: the bundle's name)")
    p.add_argument("--site", help="training site / hospital (recorded in the model card)")
    p.add_argument("--seed", type=int, default=0, help="random seed (CV folds, forests; default 0)")
    p.add_argument("--cutoff", type=float, help="fixed probability cut-off instead of Youden's")
    p.add_argument("--exclude", nargs="+", default=[], metavar="COL", help="columns that are not features")
    p.add_argument("--feature-list", metavar="FILE", help="use only these features (one name per line)")
    p.add_argument("--icc-keep", metavar="FILE", help="ICC keep-list: features that passed the ICC filter")
    g = p.add_argument_group("nomogram / linear-signature")
    g.add_argument("--signature", metavar="COEF.csv|S.alnmodel",
                   help="linear signature (coefficient table or lasso bundle) used as a predictor")
    g.add_argument("--signature-column", metavar="COL", help="column holding a precomputed signature score")
    g.add_argument("--signature-name", default=None, help="predictor name of the signature (default 'signature')")
    g.add_argument("--no-signature", action="store_true", help="clinical-only model (nomogram recipe)")
    g = p.add_argument_group("recipe settings")
    g.add_argument("--k", type=int, help="mri-yu2021: features kept per ROI×sequence group (default 30)")
    g.add_argument("--alpha", type=float, help="mri-yu2021: t-test threshold (default 0.05)")
    g.add_argument("--n-trees", type=int, help="mri-yu2021: random-forest trees (default 500)")
    g.add_argument("--folds", type=int, help="lasso: cross-validation folds (default 10)")
    g.add_argument("--lambda-rule", choices=("min", "1se"), help="lasso: lambda.min (default) or lambda.1se")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from alnpredictor.errors import InputError
    from alnpredictor.models import save_bundle, train_model
    from alnpredictor.models.bundle import bundle_path
    from alnpredictor.models.design import read_table
    from alnpredictor.models.labels import parse_label_value

    table = read_table(args.features)
    out = bundle_path(args.out)
    opts: dict = {"name": args.name or out.name[: -len(".alnmodel")], "seed": args.seed}
    for key in ("site", "cutoff", "k", "alpha", "n_trees", "lambda_rule"):
        if getattr(args, key) is not None:
            opts[key] = getattr(args, key)
    if args.folds is not None:
        opts["n_folds"] = args.folds
    if args.exclude:
        opts["exclude"] = args.exclude
    if args.feature_list:
        path = Path(args.feature_list)
        if not path.is_file():
            raise InputError(f"feature list not found: {path}")
        opts["features"] = [t.strip() for t in path.read_text(encoding="utf-8").splitlines() if t.strip()]
    if args.icc_keep:
        opts["icc_keep"] = args.icc_keep
    if args.choice:
        opts["clinical_types"] = {c: "choice" for c in args.choice}
    if args.recipe in ("nomogram", "linear-signature"):
        if args.signature:
            opts["signature"] = args.signature
        if args.signature_column:
            opts["signature_column"] = args.signature_column
        if args.signature_name:
            opts["signature_name"] = args.signature_name
        if args.no_signature:
            opts["features"] = []
    elif args.signature or args.signature_column or args.no_signature:
        raise InputError("--signature/--signature-column/--no-signature apply to the nomogram and "
                         "linear-signature recipes only")
    model = train_model(table, args.label, args.recipe, clinical=args.clinical,
                        positive=parse_label_value(args.positive), **opts)
    path = save_bundle(model, out)
    _print_summary(model, path)
    return 0


def _print_summary(model, path) -> None:
    tr, m, cut = model.spec["training"], model.spec["metrics"], model.spec["cutoff"]
    print(f"model {model.name} ({model.recipe}) — research use only")
    print(f"  training cohort: n {tr['n']}, {tr['n_positive']} positive (prevalence {tr['prevalence']:.3f})"
          + (f", {tr['n_excluded_missing']} excluded for missing values" if tr["n_excluded_missing"] else ""))
    print(f"  features: {len(model.features)}; clinical: {[f['name'] for f in model.clinical_fields]}")
    print(f"  apparent AUC {m['auc']:.3f} (95% CI {m['auc_ci'][0]:.3f}–{m['auc_ci'][1]:.3f}, DeLong)")
    print(f"  cut-off {cut['value']:.3f} ({cut['method']}, {cut['source']})")
    table = (model.spec.get("details") or {}).get("table")
    if model.recipe == "nomogram" and table:
        print("  predictor                      coef     OR (95% CI)              p")
        for row in table[1:]:
            lo, hi = row["or_ci"]
            print(f"  {row['predictor'][:28]:28s} {row['coefficient']:8.4f}  {row['odds_ratio']:.4f} "
                  f"({lo:.4f}–{hi:.4f})  {row['p_value']:.3g}")
    print(f"saved {path}")
