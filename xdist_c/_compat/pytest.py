"""pytest internals xdist_c uses, checked on pytest 7.0 to 9.2.

Every function here says what it does where pytest has another shape; none
of those fallbacks raises or changes what a run prints (a speed-up may not
apply).
"""

from __future__ import annotations

import inspect
import os
from typing import Any
from typing import Callable

import pytest

CHECKED = "pytest 7.0-9.2"

# pytest's implementation package: its own plugins are modules in it.
PACKAGE = "_pytest"
# A path inside that package (tracebacks, stack filters).
PACKAGE_PATH_PART = f"{os.sep}{PACKAGE}{os.sep}"


def is_pytest_module(name: str) -> bool:
    """Whether module ``name`` is pytest's own (``_pytest`` or in it)."""
    return name == PACKAGE or name.startswith(PACKAGE + ".")


# ------------------------------------------------------------------ nodeids
#
# pytest >= 9.2 keeps a report's and an item's nodeid as a parsed ``NodeId``
# in ``_id`` (``_pytest.nodeid.coerce_node_id`` makes one); before, items
# kept the string in ``_nodeid``.

parse_node_id: Callable[[str], Any] | None
try:
    from _pytest.nodeid import coerce_node_id as parse_node_id  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - pytest < 9.2
    parse_node_id = None

# The key pytest >= 9.2 keeps a report's parsed nodeid under (its
# ``__dict__``); absent before.
REPORT_NODE_ID_KEY = "_id"


def set_item_nodeid(item: pytest.Item, nodeid: str) -> None:
    """Give ``item`` another nodeid (9.2: ``_id``; 7.0-9.1: ``_nodeid``)."""
    if hasattr(item, "_id") and parse_node_id is not None:
        item._id = parse_node_id(nodeid)
    else:
        item._nodeid = nodeid  # type: ignore[attr-defined]


def report_to_json(report: pytest.TestReport) -> dict[str, Any]:
    """pytest's own serialization of a report (``_to_json``, 7.0-9.2; the
    ``pytest_report_to_serializable`` hook calls it)."""
    return report._to_json()


# -------------------------------------------------------------------- cache


def cache_for_config(config: pytest.Config) -> Any:
    """pytest's cache before the cacheprovider plugin has set
    ``config.cache`` (``Cache.for_config``, marked private); None where it
    is missing or fails."""
    try:
        from _pytest.cacheprovider import Cache

        return Cache.for_config(config, _ispytest=True)
    except Exception:
        return None


def tmp_path_factory(config: pytest.Config) -> Any:
    """The session's ``TempPathFactory`` (``config._tmp_path_factory``) or None."""
    return getattr(config, "_tmp_path_factory", None)


# --------------------------------------------------------------- assertion


def assertion_rewriting_hook_type() -> type | None:
    """pytest's import hook class (``AssertionRewritingHook``), or None."""
    try:
        from _pytest.assertion.rewrite import AssertionRewritingHook
    except ImportError:  # pragma: no cover
        return None
    return AssertionRewritingHook


# ---------------------------------------------------------------- options


def add_short_option(group: pytest.OptionGroup, *opts: str, **attrs: Any) -> None:
    """``group.addoption`` allowing a lowercase short option (``-n``),
    which only the private ``_addoption`` does; without it the option is
    added under its long names only."""
    add = getattr(group, "_addoption", None)
    if add is not None:
        add(*opts, **attrs)
    else:  # pragma: no cover - pytest without _addoption
        group.addoption(*[o for o in opts if o.startswith("--")], **attrs)


def set_parser_prog(config: pytest.Config, prog: str) -> None:
    """The program name pytest's usage errors show (``config._parser.prog``)."""
    parser = getattr(config, "_parser", None)
    if parser is not None and hasattr(parser, "prog"):
        parser.prog = prog


# ----------------------------------------------------------------- terminal


def terminal_writer(reporter: Any) -> Any:
    """The terminal reporter's ``TerminalWriter`` (``_tw``), or None."""
    return getattr(reporter, "_tw", None)


def writer_file(tw: Any) -> Any:
    """The file a ``TerminalWriter`` writes to (``_file``), or None."""
    return getattr(tw, "_file", None)


def set_writer_file(tw: Any, file: Any) -> None:
    tw._file = file


def teardown_reports_method(reporter: Any) -> tuple[Callable[[Any], list[Any]], str] | None:
    """The terminal reporter's ``_get_teardown_reports`` (bound) and the
    report attribute it matches its argument with (``id`` from 9.2, else
    ``nodeid``), where it is pytest's own; else None."""
    original = getattr(reporter, "_get_teardown_reports", None)
    func = getattr(original, "__func__", None)
    if original is None or func is None or not is_pytest_module(getattr(func, "__module__", "")):
        return None
    params = list(inspect.signature(func).parameters)[1:]
    if params == ["node_id"]:
        return original, "id"
    if params == ["nodeid"]:
        return original, "nodeid"
    return None


def current_teardown_reports(reporter: Any) -> Any:
    return getattr(reporter, "_get_teardown_reports", None)


def set_teardown_reports_method(reporter: Any, func: Callable[[Any], list[Any]]) -> None:
    reporter._get_teardown_reports = func


# Set on a report pytest's debugger has shown (getreports("") skips those).
PDB_SHOWN_ATTR = "_pdbshown"


# -------------------------------------------------------------- tracebacks


def replace_getstatementrange_ast(wrap: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    """Put ``wrap(current)`` in place of ``getstatementrange_ast`` where
    pytest's tracebacks look it up (``_pytest._code.code``); nothing where
    there is no such function.  ``wrap`` may return ``current``."""
    try:
        from _pytest._code import code
    except ImportError:  # pragma: no cover - pytest without _code
        return
    current = getattr(code, "getstatementrange_ast", None)
    if current is None:
        return
    replacement = wrap(current)
    if replacement is not current:
        code.getstatementrange_ast = replacement  # type: ignore[attr-defined]


# -------------------------------------------------------------- collection


def module_getobj_is_pytests(node: object) -> bool:
    """Whether ``node`` is a ``pytest.Module`` importing its module pytest's
    way (``Module._getobj`` not overridden)."""
    return isinstance(node, pytest.Module) and getattr(type(node), "_getobj", None) is getattr(
        pytest.Module, "_getobj", object()
    )


def set_node_getobj(node: Any, getobj: Callable[[], Any]) -> None:
    """What ``node.obj`` comes from (``_getobj``, pytest's hook for a
    node's object)."""
    node._getobj = getobj


def replace_genitems(session: pytest.Session, genitems: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Put ``genitems`` in place of the session's ``genitems`` (which
    pytest's collection walk calls on every node); returns the one it
    had."""
    original: Callable[[Any], Any] = session.genitems
    session.genitems = genitems  # type: ignore[method-assign,assignment]
    return original


def restore_genitems(session: pytest.Session, original: Callable[[Any], Any]) -> None:
    session.genitems = original  # type: ignore[method-assign,assignment]


# ----------------------------------------------------------------- fixtures
#
# What @pytest.fixture recorded: ``_pytest.fixtures.getfixturemarker(obj)``
# returns the marker (``scope``, ``params``, ``name``) or None; the fixture
# manager (``session._fixturemanager``) maps a fixture name to its
# ``FixtureDef``s: ``_arg2fixturedefs`` up to 9.1, ``_arg2node2fixturedefs``
# (name -> node -> defs) from 9.2.

_getfixturemarker: Callable[[object], Any] | None
try:
    from _pytest.fixtures import FixtureFunctionMarker as _FixtureFunctionMarker
    from _pytest.fixtures import getfixturemarker as _getfixturemarker
except ImportError:  # pragma: no cover - a pytest that moved them
    _getfixturemarker = None

FIXTURE_MARKERS_KNOWN = _getfixturemarker is not None


def fixture_marker(obj: object) -> Any:
    """The ``@pytest.fixture`` marker of ``obj``, or None (also where
    pytest keeps it another way)."""
    if _getfixturemarker is None:
        return None
    try:
        marker = _getfixturemarker(obj)
    except Exception:  # an object whose attribute lookup raises
        return None
    # (pytest < 8.4 reads an attribute, which a Mock has)
    return marker if isinstance(marker, _FixtureFunctionMarker) else None


def registered_fixturedefs(session: pytest.Session) -> list[tuple[str, Any]] | None:
    """``(name, FixtureDef)`` of every fixture the session's fixture
    manager knows so far; None when pytest keeps them in a way not known
    here."""
    manager = getattr(session, "_fixturemanager", None)
    by_node = getattr(manager, "_arg2node2fixturedefs", None)  # pytest >= 9.2
    if isinstance(by_node, dict):
        return [(name, fixturedef) for name, nodes in by_node.items() for defs in nodes.values() for fixturedef in defs]
    by_name = getattr(manager, "_arg2fixturedefs", None)  # pytest 7.0-9.1
    if isinstance(by_name, dict):
        return [(name, fixturedef) for name, defs in by_name.items() for fixturedef in defs]
    return None
