"""Run every benchmark module in this package (``bench_*.py`` with a ``run(results)`` function)."""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    only = set(argv)
    results: dict = {"started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    pkg = importlib.import_module("bench")
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if not info.name.startswith("bench_") or (only and info.name not in only):
            continue
        print(f"== {info.name}", flush=True)
        module = importlib.import_module(f"bench.{info.name}")
        module.run(results)
    out = Path("bench-results")
    out.mkdir(exist_ok=True)
    (out / "bench.json").write_text(json.dumps(results, indent=2, default=float))
    print(f"results written to {out / 'bench.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
