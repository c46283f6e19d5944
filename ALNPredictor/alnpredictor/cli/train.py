"""``alnpredictor train``: fit a recipe on a feature table and save a model bundle.

The ``--recipe`` choices, the recipe list in the help and which recipes each recipe setting
applies to (with its default) are read from the recipe registry
(:mod:`alnpredictor.models.recipes`), which is cheap to import.
"""

from __future__ import annotations

import argparse
from pathlib import Path

#: Recipe-setting flags: (flag, option name, type, what it sets).
_RECIPE_SETTINGS = (
    ("--k", "k", int, "features kept per ROI×sequence group"),
    ("--alpha", "alpha", float, "t-test threshold"),
    ("--n-trees", "n_trees", int, "random-forest trees"),
    ("--folds", "n_folds", int, "cross-validation folds"),
    ("--lambda-rule", "lambda_rule", None, "lambda.min or lambda.1se"),
)


def probability_cutoff(text: str) -> float:
    """argparse type of ``--cutoff``: a probability strictly between 0 and 1."""
    from alnpredictor.errors import InputError
    from alnpredictor.models.recipes.base import check_cutoff

    try:
        return check_cutoff(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _recipes_with(option: str) -> list[str]:
    from alnpredictor.models.recipes import RECIPES

    return [name for name, recipe in RECIPES.items() if option in recipe.options.names()]


def _setting_help(option: str, text: str) -> str:
    from alnpredictor.models.recipes import RECIPES

    recipes = _recipes_with(option)
    default = RECIPES[recipes[0]].options.defaults().get(option) if recipes else None
    return f"{', '.join(recipes) or 'no recipe'}: {text} (default {default})"


def register(sub: argparse._SubParsersAction) -> None:
    from alnpredictor.models.recipes import RECIPES

    names = list(RECIPES)
    signature_recipes = " / ".join(_recipes_with("signature"))
    p = sub.add_parser(
        "train", help=f"train a model ({', '.join(names)})",
        description="Train a model on a feature table (one row per case) and save it as NAME.alnmodel/. "
                    "The cut-off is chosen by Youden's index on this (training) cohort unless --cutoff is given.")
    p.add_argument("--features", required=True, metavar="F.csv", help="feature table (CSV), one row per case")
    p.add_argument("--label", required=True, metavar="COL", help="outcome column (ALN metastasis)")
    p.add_argument("--positive", default="1", metavar="VALUE",
                   help="label value meaning metastasis (default 1; e.g. R for R/N labels)")
    p.add_argument("--recipe", required=True, choices=names,
                   help="; ".join(f"{n}: {r.description}" for n, r in RECIPES.items()).replace("%", "%%"))
    p.add_argument("--clinical", nargs="+", default=[], metavar="COL", help="clinical columns to include")
    p.add_argument("--choice", nargs="+", default=[], metavar="COL",
                   help="clinical columns to treat as categories even if coded as numbers (e.g. subtype 1-4)")
    p.add_argument("--out", required=True, metavar="M.alnmodel", help="bundle folder to write")
    p.add_argument("--name", help="model name (default: the bundle's name)")
    p.add_argument("--site", help="training site / hospital (recorded in the model card)")
    p.add_argument("--seed", type=int, default=0, help="random seed (CV folds, forests; default 0)")
    p.add_argument("--cutoff", type=probability_cutoff, metavar="P",
                   help="fixed probability cut-off (0 < P < 1) instead of Youden's")
    p.add_argument("--exclude", nargs="+", default=[], metavar="COL", help="columns that are not features")
    p.add_argument("--feature-list", metavar="FILE|A,B,...",
                   help="the feature columns (a file, one name per line, or names separated by commas); default: "
                        "the columns named as imaging features ({ROI}{SEQ}_..., US_..., DL_<i>). Clinical columns "
                        "(age, ki67, ...) are features only when listed here")
    p.add_argument("--icc-keep", metavar="FILE", help="ICC keep-list: features that passed the ICC filter")
    g = p.add_argument_group(signature_recipes)
    g.add_argument("--signature", metavar="COEF.csv|S.alnmodel",
                   help="linear signature (coefficient table or lasso bundle) used as a predictor")
    g.add_argument("--signature-column", metavar="COL", help="column holding a precomputed signature score")
    g.add_argument("--signature-name", default=None, help="predictor name of the signature (default 'signature')")
    g.add_argument("--no-signature", action="store_true", help="clinical-only model (nomogram recipe)")
    g = p.add_argument_group("recipe settings")
    for flag, option, kind, text in _RECIPE_SETTINGS:
        extra = ({"choices": ("min", "1se")} if option == "lambda_rule"
                 else {"type": kind, "metavar": flag.lstrip("-").upper().replace("-", "_")})
        g.add_argument(flag, dest=option, help=_setting_help(option, text), **extra)
    p.set_defaults(func=_run)


def _feature_list(value: str, columns) -> list[str]:
    """``--feature-list``: a file (one name per line, ``#`` comments) or comma-separated names."""
    from alnpredictor.errors import InputError

    path = Path(value)
    if path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read feature list {path}: {exc}") from exc
        names = [t.strip() for t in text.splitlines() if t.strip() and not t.strip().startswith("#")]
        if not names:
            raise InputError(f"feature list {path} names no feature")
        return names
    if "," in value or value in columns:
        return [t.strip() for t in value.split(",") if t.strip()]
    raise InputError(f"feature list not found: {path} (give a file with one name per line, or the names "
                     "separated by commas)")


def _run(args: argparse.Namespace) -> int:
    from alnpredictor.errors import InputError
    from alnpredictor.models import save_bundle, train_model
    from alnpredictor.models.bundle import check_bundle_target
    from alnpredictor.models.design import read_table
    from alnpredictor.models.labels import parse_label_value

    out = check_bundle_target(args.out)  # a link or a non-bundle is refused before minutes of training
    table = read_table(args.features)
    opts: dict = {"name": args.name or out.name[: -len(".alnmodel")], "seed": args.seed}
    for key in ("site", "cutoff", *(option for _, option, _, _ in _RECIPE_SETTINGS)):
        if getattr(args, key) is not None:
            opts[key] = getattr(args, key)
    if args.exclude:
        opts["exclude"] = args.exclude
    if args.feature_list:
        opts["features"] = _feature_list(args.feature_list, set(map(str, table.columns)))
    if args.icc_keep:
        opts["icc_keep"] = args.icc_keep
    if args.choice:
        opts["clinical_types"] = {c: "choice" for c in args.choice}
    signature_recipes = _recipes_with("signature")
    if args.recipe in signature_recipes:
        if args.signature:
            opts["signature"] = args.signature
        if args.signature_column:
            opts["signature_column"] = args.signature_column
        if args.signature_name:
            opts["signature_name"] = args.signature_name
        if args.no_signature:
            opts["features"] = []
    elif args.signature or args.signature_column or args.no_signature:
        raise InputError(f"--signature/--signature-column/--no-signature apply to the "
                         f"{' and '.join(signature_recipes)} recipes only")
    model = train_model(table, args.label, args.recipe, clinical=args.clinical,
                        positive=parse_label_value(args.positive), **opts)
    path = save_bundle(model, out)
    _print_summary(model, path)
    return 0


#: Names shown per reason in the summary (model.json lists every column).
_SHOWN_PER_REASON = 40


def _print_summary(model, path) -> None:
    tr, m, cut = model.spec["training"], model.spec["metrics"], model.spec["cutoff"]
    print(f"model {model.name} ({model.recipe}) — research use only")
    print(f"  training cohort: n {tr['n']}, {tr['n_positive']} positive (prevalence {tr['prevalence']:.3f})"
          + (f", {tr['n_excluded_missing']} excluded for missing values" if tr["n_excluded_missing"] else ""))
    print(f"  features: {len(model.features)}; clinical: {[f['name'] for f in model.clinical_fields]}")
    dropped = (model.spec.get("details") or {}).get("dropped_columns") or {}
    if dropped:
        groups: dict[str, list[str]] = {}
        for col, reason in dropped.items():
            groups.setdefault(reason, []).append(col)
        print(f"  columns not used ({len(dropped)}; every one with its reason in model.json details.dropped_columns):")
        for reason, cols in groups.items():
            shown = ", ".join(cols[:_SHOWN_PER_REASON])
            more = f" and {len(cols) - _SHOWN_PER_REASON} more" if len(cols) > _SHOWN_PER_REASON else ""
            print(f"    {reason}: {shown}{more}")
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
