"""``alnpredictor demo``: the main job on built-in defaults."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the built-in end-to-end demonstration")
    p.add_argument("--out", default="demo-output", help="output folder (default: demo-output)")
    p.add_argument("--seed", type=int, default=7, help="random seed of the synthetic cohort")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from alnpredictor.demo.run import run_demo

    run_demo(out_dir=args.out, seed=args.seed)
    return 0
