"""``alnpredictor analyze <kind>``: the studies' other analyses (risk-group survival, neoadjuvant
paired changes, whole-workflow reproducibility ...), one module each in :mod:`alnpredictor.analysis`
(discovered here: a module with ``register(subparsers)`` adds its kind)."""

from __future__ import annotations

import argparse
import importlib
import pkgutil


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="the studies' other analyses: survival, paired changes, reproducibility ...",
                       description="Analyses beyond a validation AUC; each writes JSON (--json), figures "
                                   "(--plots DIR) and prints a short table.")
    kinds = p.add_subparsers(dest="kind", metavar="KIND")
    package = importlib.import_module("alnpredictor.analysis")
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"alnpredictor.analysis.{info.name}")
        if hasattr(module, "register"):
            module.register(kinds)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
