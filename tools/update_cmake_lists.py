"""Rewrite the SCRIPTS / RESOURCES lists of ALNPredictor/CMakeLists.txt from the files on disk.

Run after adding or removing a file under ALNPredictor/ (the foundation test checks the lists).
"""

from __future__ import annotations

import re
from pathlib import Path

MODULE = Path(__file__).resolve().parents[1] / "ALNPredictor"


def main() -> None:
    scripts, resources = [], []
    for path in sorted(MODULE.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        rel = path.relative_to(MODULE).as_posix()
        if rel.startswith("Testing/") or rel == "CMakeLists.txt":
            continue
        name = rel.replace("ALNPredictor", "${MODULE_NAME}", 1) if rel.startswith("ALNPredictor.") else rel
        if rel.startswith("Resources/"):
            resources.append(rel.replace("/ALNPredictor.", "/${MODULE_NAME}."))
        else:
            scripts.append(name)
    text = (MODULE / "CMakeLists.txt").read_text()
    for block, items in (("MODULE_PYTHON_SCRIPTS", scripts), ("MODULE_PYTHON_RESOURCES", resources)):
        body = "".join(f"  {item}\n" for item in items)
        text = re.sub(rf"set\({block}\s+.*?\)", f"set({block}\n{body})", text, count=1, flags=re.S)
    (MODULE / "CMakeLists.txt").write_text(text)
    print(f"{len(scripts)} scripts, {len(resources)} resources listed")


if __name__ == "__main__":
    main()
