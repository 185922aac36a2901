"""pluggy internals xdist_c uses, checked on pluggy 1.2 to 1.7.

The controller's hook fast path (:mod:`xdist_c.speedups.hookexec`, ``csrc/hookexec.c``)
replaces the plugin manager's ``_inner_hookexec`` (pluggy's ``_multicall``)
with ``xdist_c._core.HookExec``.  The C code reads these private names:

- ``HookCaller._hookimpls``, ``._hookexec``, ``._call_history``, ``.spec``
  (``spec.opts["firstresult"]``), and ``PluginManager._inner_hookexec``;
- ``HookImpl.function``, ``.argnames``, ``.kwargnames``, ``.hookwrapper``,
  ``.wrapper``.

:func:`hookexec_supported` checks them before the fast path is put in
place; where pluggy has another shape nothing is replaced and every call
takes pluggy's own path.
"""

from __future__ import annotations

from typing import Any

import pluggy

CHECKED = "pluggy 1.2-1.7"

# What the C fast path reads (see the module docstring).
HOOKCALLER_ATTRS = ("_hookimpls", "_hookexec", "_call_history", "spec", "name")
HOOKIMPL_ATTRS = ("function", "argnames", "kwargnames", "hookwrapper", "wrapper", "plugin", "opts")


def _slots(cls: object) -> set[str]:
    names: set[str] = set()
    for klass in getattr(cls, "__mro__", ()):
        slots = klass.__dict__.get("__slots__", ())
        names.update((slots,) if isinstance(slots, str) else slots)
    return names


def hookexec_supported() -> bool:
    """Whether pluggy's hook callers and implementations have the
    attributes ``xdist_c._core.HookExec`` reads (by their ``__slots__``)."""
    caller = getattr(pluggy, "HookCaller", None)
    impl = getattr(pluggy, "HookImpl", None)
    return set(HOOKCALLER_ATTRS) <= _slots(caller) and set(HOOKIMPL_ATTRS) <= _slots(impl)


def inner_hookexec(pluginmanager: pluggy.PluginManager) -> Any:
    """The function the manager runs a hook call's implementations with
    (``_inner_hookexec``), or None."""
    return getattr(pluginmanager, "_inner_hookexec", None)


def set_inner_hookexec(pluginmanager: pluggy.PluginManager, func: Any) -> None:
    pluginmanager._inner_hookexec = func


def is_pluggys_multicall(func: object) -> bool:
    """Whether ``func`` is pluggy's own ``_multicall`` (no tracing or
    monitor wrapped around it)."""
    return getattr(func, "__name__", None) == "_multicall" and str(getattr(func, "__module__", "")).startswith(
        "pluggy."
    )
