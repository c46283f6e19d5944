"""``alnpredictor analyze <kind>``: the studies' other analyses (risk-group survival, neoadjuvant
paired changes, whole-workflow reproducibility ...), one module each in :mod:`alnpredictor.analysis`
(discovered here: a module with ``register(subparsers)`` adds its kind)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="the studies' other analyses: survival, paired changes, reproducibility ...",
                       description="Analyses beyond a validation AUC; each writes JSON (--json), figures "
                                   "(--plots DIR) and prints a short table.")
    from alnpredictor.cli import register_modules

    register_modules(p.add_subparsers(dest="kind", metavar="KIND"), "alnpredictor.analysis")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
