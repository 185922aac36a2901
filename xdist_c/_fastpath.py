"""Skipping a hook call when only pytest itself implements the hook.

Each test's three reports cross the wire; calling pytest's serialization
hooks for them through pluggy costs more than the work they do.  Where no
plugin has joined in, calling pytest's code directly is the same thing.
"""

from __future__ import annotations

import pytest


def only_pytest_implements(config: pytest.Config, hookname: str) -> bool:
    """Whether every implementation of ``hookname`` is pytest's own."""
    impls = getattr(config.hook, hookname).get_hookimpls()
    return bool(impls) and all(
        getattr(impl.plugin, "__name__", "").startswith("_pytest.") for impl in impls
    )
