"""xdist_c's modules import each other without cycles at import time.

Only module-level imports count (an import inside a function runs when it
is called, after every module is loaded).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "xdist_c"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _top_level_imports(name: str, tree: ast.Module, modules: set[str]) -> set[str]:
    found: set[str] = set()
    for node in tree.body:
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            submodules = [f"{node.module}.{a.name}" for a in node.names]
            names = list(submodules)
            # ``from xdist_c.worker import distinfo`` in xdist_c.worker.session:
            # the module's own package is always imported before the module,
            # so fetching submodules from it waits on nothing.
            if not (name.startswith(node.module + ".") and all(s in modules for s in submodules)):
                names.append(node.module)
        found.update(n for n in names if n in modules)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {_module_name(p) for p in paths}
    return {
        _module_name(p): _top_level_imports(_module_name(p), ast.parse(p.read_text(encoding="utf-8")), modules)
        for p in paths
    }


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        stack.append(name)
        for dep in sorted(graph.get(name, ())):
            if dep == "xdist_c" or name == "xdist_c":
                continue  # the package's __init__ re-exports plugin's functions
            if state.get(dep) == 1:
                return stack[stack.index(dep) :] + [dep]
            if dep not in state and (found := visit(dep)) is not None:
                return found
        stack.pop()
        state[name] = 2
        return None

    for name in sorted(graph):
        if name not in state and (found := visit(name)) is not None:
            return found
    return None


def test_no_import_cycle() -> None:
    cycle = _cycle(import_graph())
    assert cycle is None, " -> ".join(cycle or ())


def test_workermanage_does_not_import_the_plugin_module() -> None:
    graph = import_graph()
    assert "xdist_c.plugin" not in graph["xdist_c.controller.workermanage"]
    assert graph["xdist_c._startup"] == set()


def test_the_check_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
