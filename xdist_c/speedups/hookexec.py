"""The controller's hook calls through :class:`xdist_c._core.HookExec`.

pluggy runs every hook call in Python: ``HookCaller.__call__``, the plugin
manager's ``_hookexec`` and ``_multicall``.  For a controller relaying five
calls per test (and pytest's terminal reporter nesting one per report) that
is about a quarter of pytest's own work per test.  In the controller,
:func:`install` puts a ``HookExec`` in place of pluggy's ``_multicall``:
calls whose implementations are all plain run in C, anything else
(wrappers, missing arguments, ...) still runs in pluggy's function.  The
same implementations are called in the same order with the same arguments;
only pluggy's own frames are missing from a traceback through such a call.

pluggy's private names it uses are in :mod:`xdist_c._compat.pluggy`.
Only where pluggy's ``_multicall`` is the manager's ``_inner_hookexec``:
with tracing (``--debug``) or another monitor already in place nothing is
changed; one added later wraps the ``HookExec`` as it would wrap pluggy's
function, and :meth:`HookExec.relay` then takes the full pluggy path.
"""

from __future__ import annotations

from typing import Any
from typing import Callable

import pluggy

from xdist_c import _core
from xdist_c._compat import pluggy as pluggy_compat

Relay = Callable[[Any, "dict[str, Any]"], Any]


def _pluggy_relay(hookcaller: Any, kwargs: dict[str, Any]) -> Any:
    return hookcaller(**kwargs)


def install(pluginmanager: pluggy.PluginManager) -> Relay:
    """Route ``pluginmanager``'s hook calls through a ``HookExec`` where
    pluggy's own ``_multicall`` does them now.  Returns the function to
    relay a call with, ``relay(hookcaller, kwargs)``, which is
    ``hookcaller(**kwargs)`` in effect either way."""
    inner: Any = pluggy_compat.inner_hookexec(pluginmanager)
    if isinstance(inner, _core.HookExec):
        return inner.relay
    if not pluggy_compat.is_pluggys_multicall(inner) or not pluggy_compat.hookexec_supported():
        return _pluggy_relay
    hookexec = _core.HookExec(inner)
    pluggy_compat.set_inner_hookexec(pluginmanager, hookexec)
    return hookexec.relay
