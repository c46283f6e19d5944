"""The layering DESIGN.md promises, checked on the source: no import cycles (between packages, lazy
imports included; between modules, at import time), the cohort runner imports no pathway, no module imports a pathway
by name, no private name is imported from another module, and the core never imports the Slicer
module, Qt or MRML."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

MODULE_DIR = Path(__file__).resolve().parents[1] / "ALNPredictor"
CORE = MODULE_DIR / "alnpredictor"


def _module_name(path: Path) -> str:
    rel = path.relative_to(MODULE_DIR).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _sources() -> dict[str, tuple[Path, ast.Module]]:
    out = {}
    for path in sorted(CORE.rglob("*.py")):
        out[_module_name(path)] = (path, ast.parse(path.read_text(), str(path)))
    return out


SOURCES = _sources()


def _imports(name: str, tree: ast.Module, lazy: bool = True) -> list[tuple[str, list[str], int]]:
    """(imported module, imported names, line) for every import in the module; ``lazy=False``: only
    those run at import time (module level, outside functions)."""
    found = []
    package = name if SOURCES[name][0].name == "__init__.py" else name.rpartition(".")[0]
    nodes = ast.walk(tree) if lazy else _import_time_nodes(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            found.append((base, [a.name for a in node.names], node.lineno))
    return found


def _import_time_nodes(tree: ast.Module):
    """Import statements outside function bodies (run when the module is imported)."""
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        yield node
        todo.extend(ast.iter_child_nodes(node))


def _edges(lazy: bool = True) -> dict[str, set[str]]:
    """Module → the alnpredictor modules it imports (``from pkg import mod`` counts as ``pkg.mod``)."""
    graph: dict[str, set[str]] = {m: set() for m in SOURCES}
    for name, (_, tree) in SOURCES.items():
        for module, names, _ in _imports(name, tree, lazy):
            if not module.startswith("alnpredictor"):
                continue
            targets = [f"{module}.{n}" for n in names if f"{module}.{n}" in SOURCES] or [module]
            graph[name].update(t for t in targets if t in SOURCES and t != name)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def _package(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def test_no_import_time_cycles_between_modules():
    """Inside a package a lazy import may point back (a registry module and its entries); at import
    time no module may need one that needs it."""
    graph = _edges(lazy=False)
    # A package's __init__ that re-exports its own modules is not a cycle of the design.
    pruned = {m: {t for t in ts if not (SOURCES[t][0].name == "__init__.py" and m.startswith(t + "."))}
              for m, ts in graph.items()}
    assert _cycles(pruned) == []


def test_no_import_cycles_between_packages():
    """Across packages every import counts, lazy ones included: dependencies point down only."""
    graph: dict[str, set[str]] = {}
    for module, targets in _edges().items():
        src = _package(module)
        graph.setdefault(src, set()).update(_package(t) for t in targets if _package(t) != src)
    assert _cycles(graph) == [], "packages import each other (dependencies must point down only)"


def test_the_runner_imports_no_pathway_and_nothing_imports_a_pathway_by_name():
    graph = _edges()
    assert not {t for t in graph["alnpredictor.cohort.runner"] if t.startswith("alnpredictor.pathways")}
    assert not {t for m, ts in graph.items() if m.startswith("alnpredictor.cohort") for t in ts
                if t.startswith(("alnpredictor.pathways", "alnpredictor.cli", "alnpredictor.demo"))}
    for path, tree in SOURCES.values():
        docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                      if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef)) and n.body
                      and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                assert not node.value.startswith("alnpredictor.pathways"), \
                    f"{path}:{node.lineno} names a pathway module in a string ({node.value!r}): pass the function"
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                    "import_module", "__import__"):
                text = ast.unparse(node)
                assert "pathways" not in text, f"{path}:{node.lineno} imports a pathway by name: {text}"


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_no_private_name_is_imported_from_another_module(name):
    path, tree = SOURCES[name]
    for module, names, line in _imports(name, tree):
        private = [n for n in names if n.startswith("_") and not n.startswith("__")]
        assert not private, f"{path}:{line} imports private {private} from {module}"


def test_the_core_never_imports_the_slicer_module_qt_or_mrml():
    forbidden = ("ALNPredictor", "ALNPredictorLib", "qt", "slicer", "ctk", "PythonQt", "vtk.util.qt")
    for name, (path, tree) in SOURCES.items():
        for module, _, line in _imports(name, tree):
            top = module.split(".")[0]
            assert top not in forbidden or (top == "slicer" and name == "alnpredictor.imaging.growcut"), \
                f"{path}:{line} imports {module}"
