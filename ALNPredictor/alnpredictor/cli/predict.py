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

    from alnpredictor.errors import ALNPredictorError
    from alnpredictor.models import resolve_model
    from alnpredictor.models.clinical import MAX_ROWS_NAMED, predict_checked
    from alnpredictor.models.design import read_table

    model = resolve_model(args.model)
    table = read_table(args.features)
    model.check_columns(table)
    clinical = [f["name"] for f in model.clinical_fields]
    source = f"the table {args.features}"
    cases, problems = [], []
    # the checks every front door applies (impossible clinical values, infinite features), per row
    for i, record in enumerate(table[model.required_columns].to_dict("records")):
        try:
            prediction = predict_checked(model, {f: record[f] for f in model.features},
                                         {c: record[c] for c in clinical}, produced_by=source)
        except ALNPredictorError as exc:
            problems.append((i, exc))
            continue
        cases.append({**prediction.to_dict(), "row": i})
    if problems:
        i, first = problems[0]
        listed = "; ".join(f"row {j + 1}: {exc}" for j, exc in problems[:MAX_ROWS_NAMED])
        more = f" (and {len(problems) - MAX_ROWS_NAMED} more row(s))" if len(problems) > MAX_ROWS_NAMED else ""
        raise type(first)(f"{listed}{more}; nothing was predicted")
    print(json.dumps(cases[0] if len(cases) == 1 else cases, indent=2, allow_nan=False))
    if args.nomogram:
        _write_nomogram(model, {c: table.iloc[0][c] for c in model.required_columns}, args.nomogram)
    return 0


def _write_nomogram(model, row: dict, stem: str) -> None:
    """STEM.png and STEM.svg, both or neither (drawn in a scratch folder, then renamed together)."""
    import shutil
    import tempfile
    from pathlib import Path

    from alnpredictor.outputs import OutputGroup, output_error
    from alnpredictor.report.figures import nomogram_figure, save_figure

    stem_path = Path(stem)
    with OutputGroup() as group:
        try:
            stem_path.parent.mkdir(parents=True, exist_ok=True)
            scratch = Path(tempfile.mkdtemp(dir=stem_path.parent, prefix=".tmp-nomogram-"))
        except OSError as exc:
            raise output_error(stem_path, exc) from exc
        try:
            drawn = save_figure(nomogram_figure(model, row), scratch / stem_path.name)
            for src in drawn:
                group.write_with(stem_path.parent / src.name, lambda tmp, src=src: shutil.copyfile(src, tmp))
        except OSError as exc:
            raise output_error(stem_path, exc) from exc
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        group.commit()
