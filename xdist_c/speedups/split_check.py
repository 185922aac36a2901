"""Whether a split collection gives the whole collection's tests.

Split collection (:mod:`xdist_c.speedups.split`) builds each file's items in one
worker only, after every worker has imported every test module in pytest's
order.  That equals a whole collection when building a file's items depends
on that file alone.  What can make it depend on more, and is checked here
before any item is built (every worker checks the same things, so all reach
the same answer):

* a hook that sees items or collectors as they are built, or the collection
  as one list, implemented outside pytest and xdist_c (a plugin counting
  items, a ``pytest_generate_tests`` with state);
* ``pytest_generate_tests`` defined in a test module or class (it may
  parametrize at any scope);
* parametrization whose scope spans files (``session``, ``package``, or a
  scope given as a callable): pytest reorders items across files to share
  such parameters (``reorder_items``); module and class scope reorder items
  inside one file only;
* a test file that is not a Python module (its collection may import code
  after the run has started);
* ``--lf``, ``--ff``, ``--nf``, ``--sw`` (they reorder or filter the whole
  collection).

Every function returns the reason the split cannot be taken, or None.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import pytest

from xdist_c._compat import pytest as pytest_compat
from xdist_c.speedups._fastpath import plugin_module

# Hooks whose implementations see the collection as one list.
WHOLE_COLLECTION_HOOKS = (
    "pytest_collection_modifyitems",
    "pytest_collection_finish",
    "pytest_deselected",
)

# Hooks called while a file's items are built: a split worker calls them
# for its own files only.
BUILD_HOOKS = (
    "pytest_generate_tests",
    "pytest_make_parametrize_id",
    "pytest_pycollect_makeitem",
    "pytest_itemcollected",
    "pytest_collectstart",
    "pytest_collectreport",
    "pytest_make_collect_report",
)

# Plugins (module names) known to implement those hooks item by item.
ITEMWISE_PLUGINS = ("_hypothesis_pytestplugin",)

# Parametrization at these scopes is reordered across files.
CROSS_FILE_SCOPES = ("session", "package")


def option_blocker(config: pytest.Config) -> str | None:
    for opt in ("lf", "failedfirst", "newfirst", "stepwise", "stepwise_skip"):
        if getattr(config.option, opt, False):
            return f"--{opt} is in use"
    return None


def hook_blocker(config: pytest.Config) -> str | None:
    """A plugin or conftest implements a hook that must see every item."""
    for hookname in WHOLE_COLLECTION_HOOKS + BUILD_HOOKS:
        for impl in getattr(config.hook, hookname).get_hookimpls():
            module = plugin_module(impl.plugin)
            if pytest_compat.is_pytest_module(module) or module.startswith("xdist_c.") or module in ITEMWISE_PLUGINS:
                continue
            return f"{module} implements {hookname}"
    return None


# ---------------------------------------------------------------- fixtures
#
# pytest keeps what @pytest.fixture recorded behind private names, read
# through xdist_c._compat.pytest (checked on pytest 7.0-9.2): a fixture's
# marker (``scope``, ``params``, ``name``) and the fixture manager's
# ``FixtureDef``s (public ``scope``, ``params``, ``baseid``).  When pytest
# keeps them another way the split is not taken.

_marker_of = pytest_compat.fixture_marker
_registered_fixturedefs = pytest_compat.registered_fixturedefs


def _scope_name(scope: object) -> str:
    return scope if isinstance(scope, str) else getattr(scope, "value", "dynamic")


def _crosses_files(scope: object) -> bool:
    return callable(scope) or _scope_name(scope) in CROSS_FILE_SCOPES


def _marks(obj: object) -> Iterator[Any]:
    """The marks stored on obj itself (``pytestmark``)."""
    try:
        marks = obj.__dict__.get("pytestmark", ()) if hasattr(obj, "__dict__") else ()
    except Exception:
        return
    if not isinstance(marks, (list, tuple)):
        marks = [marks]
    for mark in marks:
        yield getattr(mark, "mark", mark)  # a MarkDecorator holds its Mark


def _argnames(mark: Any) -> list[str]:
    names = mark.args[0] if mark.args else mark.kwargs.get("argnames", ())
    if isinstance(names, str):
        return [n.strip() for n in names.split(",") if n.strip()]
    return [str(n) for n in names]


class _Scan:
    """One pass over the test modules' namespaces."""

    def __init__(self) -> None:
        self.high_fixtures: set[str] = set()  # fixtures of cross-file scope
        self.indirect: dict[str, str] = {}  # indirect argname -> where
        self.classes: set[int] = set()  # ids of classes scanned already (kept alive by their modules)

    def fixture(self, name: str, marker: Any, where: str) -> str | None:
        """A fixture's marker, or a registered ``FixtureDef`` (both have
        ``scope`` and ``params``)."""
        scope = getattr(marker, "scope", "function")
        fixture_name = getattr(marker, "name", None) or name
        if _crosses_files(scope):
            self.high_fixtures.add(fixture_name)
            if getattr(marker, "params", None) is not None:
                return f"fixture {fixture_name!r} ({where}) is parametrized at {_scope_name(scope)} scope"
        return None

    def marks(self, obj: object, where: str) -> str | None:
        for mark in _marks(obj):
            if getattr(mark, "name", None) != "parametrize":
                continue
            scope = mark.kwargs.get("scope")
            if scope is not None and _crosses_files(scope):
                return f"{where} is parametrized at {_scope_name(scope)} scope"
            indirect = mark.kwargs.get("indirect", False)
            if indirect is True:
                names = _argnames(mark)
            elif isinstance(indirect, (list, tuple)):
                names = [str(n) for n in indirect]
            else:
                names = []
            for n in names:
                self.indirect.setdefault(n, where)
        return None

    def namespace(self, ns: dict[str, Any], where: str, depth: int = 0) -> str | None:
        for name, value in list(ns.items()):
            marker = _marker_of(value)
            if marker is not None:
                reason = self.fixture(name, marker, where)
            elif inspect.isclass(value) and depth < 4:
                reason = self.cls(value, f"{where}::{name}", depth + 1)
            elif callable(value):
                reason = self.marks(value, f"{where}::{name}")
            else:
                reason = None
            if reason is not None:
                return reason
        return None

    def cls(self, cls: type, where: str, depth: int) -> str | None:
        for klass in cls.__mro__:
            if klass is object or klass.__module__ == "builtins" or id(klass) in self.classes:
                continue
            self.classes.add(id(klass))
            ns = dict(vars(klass))
            if "pytest_generate_tests" in ns:
                return f"{where} defines pytest_generate_tests"
            reason = self.marks(klass, where) or self.namespace(ns, where, depth)
            if reason is not None:
                return reason
        return None


class Checker:
    """The checks, made file by file during the walk (so a split that
    cannot be taken is given up before the next module is imported)."""

    def __init__(self, config: pytest.Config, session: pytest.Session) -> None:
        self.config = config
        self.session = session
        self.scan = _Scan()

    def before_file(self) -> str | None:
        """Options, hooks and the fixtures of plugins and conftests loaded
        so far (a conftest deeper in the tree registers as the walk gets
        there)."""
        return option_blocker(self.config) or hook_blocker(self.config) or self._fixturedefs()

    def _fixturedefs(self) -> str | None:
        defs = _registered_fixturedefs(self.session)
        if not pytest_compat.FIXTURE_MARKERS_KNOWN or defs is None:
            return f"pytest {pytest.__version__}'s fixtures cannot be inspected"
        for name, fixturedef in defs:
            where = fixturedef.baseid or getattr(fixturedef.func, "__module__", "a plugin")
            reason = self.scan.fixture(name, fixturedef, where)
            if reason is not None:
                return reason
        return self._indirect()

    def module(self, where: str, module: Any) -> str | None:
        """A test module just imported."""
        ns = vars(module)
        if callable(ns.get("pytest_generate_tests")):
            return f"{where} defines pytest_generate_tests"
        return self.scan.marks(module, where) or self.scan.namespace(ns, where) or self._indirect()

    def _indirect(self) -> str | None:
        for name, where in self.scan.indirect.items():
            if name in self.scan.high_fixtures:
                return f"{where} parametrizes the {name!r} fixture indirectly"
        return None
