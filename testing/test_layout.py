"""xdist_c's layout: every module in the folder of its role, and no
import cycles.

The roles (CONTRIBUTING.md, "Layout"): ``controller/``, ``worker/``,
``launch/`` (starting workers) and ``speedups/``; only the plugin's entry
points and what every role shares stay at the top level.

Imports: only module-level imports count (an import inside a function runs
when it is called, after every module is loaded).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "xdist_c"

ROLE_FOLDERS = ("controller", "worker", "launch", "speedups")
# What may stay directly in xdist_c/: the package, the pytest11 entry points
# (plugin.py, _conflict.py), the hook specifications, the controller's
# start-up state every role reads, the documented xdist_c.scheduler
# re-export, the C extension's stub and marker, and _compat/ (the one
# boundary for pytest's, pluggy's and execnet's private names).
TOP_LEVEL = {
    "__init__.py",
    "plugin.py",
    "_conflict.py",
    "newhooks.py",
    "_startup.py",
    "scheduler.py",
    "_core.pyi",
    "py.typed",
    "_compat",
}


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


def _is_build_output(path: Path) -> bool:
    """The compiled extension (``build_ext --inplace``) and bytecode."""
    name = path.name
    return name == "__pycache__" or (name.startswith("_core.") and name.endswith((".so", ".pyd")))


def test_every_module_is_in_a_role_folder() -> None:
    stray = [
        p.name
        for p in sorted(PACKAGE.iterdir())
        if not _is_build_output(p) and p.name not in TOP_LEVEL and not (p.is_dir() and p.name in ROLE_FOLDERS)
    ]
    assert stray == [], (
        f"put these in one of xdist_c/{{{','.join(ROLE_FOLDERS)}}}/ (or list them in TOP_LEVEL): {stray}"
    )


def test_role_folders_say_what_is_in_them() -> None:
    """Each role folder's __init__ docstring names every module in it."""
    for role in ROLE_FOLDERS:
        folder = PACKAGE / role
        doc = ast.get_docstring(ast.parse((folder / "__init__.py").read_text(encoding="utf-8"))) or ""
        assert doc, f"xdist_c/{role}/__init__.py has no docstring"
        modules = sorted(p.stem for p in folder.glob("*.py") if p.name != "__init__.py")
        missing = [m for m in modules if f"xdist_c.{role}.{m}" not in doc]
        assert missing == [], f"xdist_c/{role}/__init__.py's docstring does not list {missing}"
        assert not [p for p in folder.iterdir() if p.is_dir() and not _is_build_output(p)], "one level only"


def _role(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ROLE_FOLDERS else "top"


def test_launch_and_speedups_import_neither_side() -> None:
    """Starting workers and the speed features serve both sides: they do
    not load the controller's or the worker's modules."""
    found = {
        name: sorted(dep for dep in deps if _role(dep) in ("controller", "worker"))
        for name, deps in import_graph().items()
        if _role(name) in ("launch", "speedups")
    }
    assert {name: deps for name, deps in found.items() if deps} == {}


def test_the_sides_import_each_other_only_for_the_timeout() -> None:
    """The controller does not load the worker's modules; the worker loads
    one of the controller's, ``limits`` (its few lines of the
    ``--test-timeout`` answer share the signal and option names with the
    controller's half)."""
    crossing: set[tuple[str, str]] = set()
    for name, deps in import_graph().items():
        crossing.update((name, dep) for dep in deps if {_role(name), _role(dep)} == {"controller", "worker"})
    assert {(name, dep) for name, dep in crossing if _role(name) == "controller"} == set()
    assert {dep for name, dep in crossing} <= {"xdist_c.controller", "xdist_c.controller.limits"}
