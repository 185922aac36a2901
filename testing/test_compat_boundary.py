"""Private names of pytest, pluggy and execnet are used in xdist_c._compat only.

Everywhere else in ``xdist_c/`` and ``xdist/`` this test finds, by the
syntax tree (comments and docstrings do not count):

- imports of ``_pytest``, of a submodule of ``pluggy`` or ``execnet``, or
  of a name not in ``pytest``'s, ``pluggy``'s or ``execnet``'s ``__all__``;
- an attribute ``X._name`` (one leading underscore) on anything but
  ``self``/``cls``, unless it is one of xdist_c's own or the standard
  library's listed in ``OWN_ATTRIBUTES``;
- ``getattr``/``setattr``/``hasattr``/``delattr`` with a ``"_name"``;
- a string naming ``_pytest`` or an ``execnet``/``pluggy`` submodule.

A new use belongs in ``xdist_c/_compat/<project>.py``, as a named function
or constant with the versions it was checked on and a fallback.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMPAT = ROOT / "xdist_c" / "_compat"

# (name the attribute is read on, attribute): xdist_c's own objects and
# the standard library's, which are not the three projects' internals.
OWN_ATTRIBUTES = {
    ("node", "_down"),  # xdist_c.controller.workermanage.WorkerController
    ("n", "_down"),
    ("proc", "_set_returncode"),  # xdist_c.launch.forkserver.ForkedProcess
    ("proc", "_server_gone"),
    ("os", "_exit"),
    ("sys", "_xoptions"),
    ("threading", "_shutdown"),
    ("atexit", "_run_exitfuncs"),
    ("finalize", "_registry"),  # getattr(weakref.finalize, "_registry")
    ("proc", "_child_created"),  # subprocess.Popen, in exitgc
    ("warning_message", "_WARNING_DETAILS"),  # warnings.WarningMessage
    ("WarningMessage", "_WARNING_DETAILS"),
    ("derived", "_xdist_tx"),  # set by xdist_c on an XSpec it made
    ("spec", "_xdist_tx"),
}
# Whole roots that are xdist_c's or the standard library's private modules.
OWN_ROOTS = {"xdist_c", "_core", "_io", "forkserver"}

# (file, what, why): the only hits allowed outside _compat.  Each must also
# have a ``compat-boundary:`` comment within the 5 lines above it.
ALLOWED = {
    (
        "xdist_c/launch/remote.py",
        "import _pytest.config",
        "the remote bootstrap runs before xdist_c can be imported in the worker",
    ),
}

_PRIVATE = re.compile(r"^_[A-Za-z0-9][A-Za-z0-9_]*$")
_PRIVATE_STRING = re.compile(r"(^|[^A-Za-z0-9_])_pytest\b|\b(pluggy|execnet)\.(_|gateway)")


def _is_private(name: str) -> bool:
    return bool(_PRIVATE.match(name)) and not name.endswith("__")


def _root(node: ast.expr) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Call, ast.Subscript)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _base_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr":
        return _base_name(node.args[0]) if node.args else None
    return None


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def private_uses(source: str) -> list[tuple[int, str]]:
    """``(line, what)`` for every private use of the three projects."""
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    hits: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top, _, rest = alias.name.partition(".")
                if top == "_pytest" or (top in ("pluggy", "execnet") and rest):
                    hits.append((node.lineno, f"import {alias.name}"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            top, _, rest = node.module.partition(".")
            if top == "_pytest" or (top in ("pluggy", "execnet") and rest):
                hits.append((node.lineno, f"import {node.module}"))
            elif top in ("pytest", "pluggy", "execnet"):
                public = set(getattr(importlib.import_module(top), "__all__", ()))
                hits.extend(
                    (node.lineno, f"from {top} import {a.name}")
                    for a in node.names
                    if _is_private(a.name) or a.name not in public
                )
        elif isinstance(node, ast.Attribute) and _is_private(node.attr):
            root = _root(node.value)
            own = isinstance(node.value, ast.Name) and root in ("self", "cls")
            own = own or (isinstance(node.value, ast.Call) and root == "super")
            if own or root in OWN_ROOTS:
                continue
            if (_base_name(node.value), node.attr) in OWN_ATTRIBUTES:
                continue
            hits.append((node.lineno, f"attribute .{node.attr}"))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr", "delattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _is_private(node.args[1].value)
        ):
            if (_base_name(node.args[0]), node.args[1].value) in OWN_ATTRIBUTES:
                continue
            hits.append((node.lineno, f"{node.func.id}(..., {node.args[1].value!r})"))
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and _PRIVATE_STRING.search(node.value)
        ):
            hits.append((node.lineno, f"string {node.value!r}"))
    return sorted(set(hits))


def _files() -> list[Path]:
    files = sorted((ROOT / "xdist_c").rglob("*.py")) + sorted((ROOT / "xdist").rglob("*.py"))
    return [f for f in files if COMPAT not in f.parents]


def test_private_names_only_in_compat() -> None:
    bad = []
    allowed_seen = set()
    for path in _files():
        rel = path.relative_to(ROOT).as_posix()
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for lineno, what in private_uses(source):
            entry = next((a for a in ALLOWED if a[0] == rel and a[1] == what), None)
            if entry is not None and any("compat-boundary:" in line for line in lines[max(0, lineno - 6) : lineno]):
                allowed_seen.add(entry)
                continue
            bad.append(f"{rel}:{lineno}: {what}")
    assert not bad, "private names of pytest/pluggy/execnet outside xdist_c/_compat:\n" + "\n".join(bad)
    assert allowed_seen == ALLOWED, f"allowlist entries no longer needed: {ALLOWED - allowed_seen}"


@pytest.mark.parametrize(
    "line",
    [
        "config._foo = 1",
        "x = session._fixturemanager",
        "tw = reporter._tw",
        "self.config._parser.prog = 'x'",
        "from _pytest.nodeid import coerce_node_id",
        "import _pytest.config",
        "from execnet import gateway_io",
        "from execnet.gateway_base import Popen2IO",
        "from pluggy._hooks import HookImpl",
        "pm._inner_hookexec = f",
        "getattr(channel, '_closed', False)",
        "ok = name.startswith('_pytest.')",
        "gw._rinfo()",
    ],
)
def test_the_check_sees(line: str) -> None:
    assert private_uses(line)


@pytest.mark.parametrize(
    "line",
    [
        "self._down = True",
        "return super()._core_args(config)",
        "node._down = True",
        "import pytest, pluggy, execnet",
        "x = config.option.dist",
        "def f():\n    '''uses _pytest.config internally'''",
        "# config._foo\nx = 1",
        "ITEMWISE = ('_hypothesis_pytestplugin',)",
        "from xdist_c import _core",
        "from execnet import XSpec",
        "from pytest import Config",
    ],
)
def test_the_check_leaves_alone(line: str) -> None:
    assert not private_uses(line)


def test_a_new_private_use_in_dsession_is_reported(tmp_path: Path) -> None:
    source = (ROOT / "xdist_c" / "controller" / "dsession.py").read_text(encoding="utf-8")
    assert not private_uses(source)
    assert private_uses(source + "\n\ndef _later(config):\n    return config._foo\n")
