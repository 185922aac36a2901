"""Skipping a hook call when only pytest itself implements the hook.

Each test's three reports cross the wire; calling pytest's serialization
hooks for them through pluggy costs more than the work they do.  Where no
plugin has joined in, calling pytest's code directly is the same thing.
"""

from __future__ import annotations

import types
from typing import Any
from typing import Callable

import pytest

from xdist_c._compat import pytest as pytest_compat

# pytest >= 9.2 keeps a report's nodeid as a parsed, immutable ``NodeId``.
parse_node_id: Callable[[str], Any] | None = pytest_compat.parse_node_id
_to_json = pytest_compat.report_to_json
_NODE_ID_KEY = pytest_compat.REPORT_NODE_ID_KEY


def plugin_module(plugin: object) -> str:
    """The module a registered plugin comes from: a module plugin's name,
    else its class's module."""
    if isinstance(plugin, types.ModuleType):
        return plugin.__name__
    return type(plugin).__module__


def only_pytest_implements(config: pytest.Config, hookname: str) -> bool:
    """Whether every implementation of ``hookname`` is pytest's own."""
    impls = getattr(config.hook, hookname).get_hookimpls()
    return bool(impls) and all(pytest_compat.is_pytest_module(getattr(impl.plugin, "__name__", "")) for impl in impls)


# Value types that pytest's ``_report_to_json`` passes through unchanged: no
# ``os.PathLike`` among them (its ABC ``isinstance`` check is most of that
# function's cost for a passing test).
_PLAIN_TYPES = frozenset({str, int, float, bool, type(None), tuple, list, dict})


def report_to_json(report: pytest.TestReport) -> dict[str, object]:
    """``report._to_json()`` for the common case, without its per-value ABC
    checks: a plain ``TestReport`` whose longrepr is absent, text or a
    skip's tuple and whose attributes are all plain values.  Anything else
    goes through pytest's own function, so the result is always the same
    dict."""
    if type(report) is not pytest.TestReport:
        return _to_json(report)
    d = report.__dict__.copy()
    longrepr = d.get("longrepr")
    if type(longrepr) not in (type(None), str, tuple) or "result" in d:
        return _to_json(report)
    node_id = d.pop(_NODE_ID_KEY, None)
    for value in d.values():
        if type(value) not in _PLAIN_TYPES:
            return _to_json(report)
    if node_id is not None:
        d["nodeid"] = str(node_id)
    return d
