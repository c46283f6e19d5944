"""``alnpredictor predict``: probability, class at the cut-off and nomogram points (JSON).

Each case is printed in the stored form of :class:`~alnpredictor.models.prediction.Prediction`
(``Prediction.to_dict()``: the class label under ``"class"``, 1/0 under ``"predicted_class"``)
plus its ``row`` number in the input table.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict", help="predict for case(s) with a model bundle; JSON to stdout",
        description="For each row of the table: probability of ALN metastasis, class at the model's cut-off, "
                    "points per predictor and total points (linear models), CI (logistic models), warnings. "
                    "One row gives a JSON object, several rows a JSON list.")
    p.add_argument("--model", required=True, metavar="M.alnmodel", help="model bundle (or a signature CSV)")
    p.add_argument("--features", required=True, metavar="ROW.csv", help="table with the model's columns")
    p.add_argument("--nomogram", metavar="STEM",
                   help="also draw the nomogram with the (first) case marked: STEM.png and STEM.svg")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import json

    from alnpredictor.models import resolve_model
    from alnpredictor.models.design import read_table

    model = resolve_model(args.model)
    table = read_table(args.features)
    cases = [{**model.predict_case(table.iloc[[i]]).to_dict(), "row": i} for i in range(len(table))]
    print(json.dumps(cases[0] if len(cases) == 1 else cases, indent=2, allow_nan=False))
    if args.nomogram:
        from alnpredictor.report.figures import nomogram_figure, save_figure

        row = {c: table.iloc[0][c] for c in model.required_columns}
        save_figure(nomogram_figure(model, row), args.nomogram)
    return 0
