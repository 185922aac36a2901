"""Start-up check: xdist_c and pytest-xdist must not share an environment.

Both register the pytest plugin name ``xdist``; pytest would silently load
whichever it finds first.  This tiny plugin has its own entry point, so it
runs whichever of the two won, and stops pytest with one clear line.
"""

from __future__ import annotations

import os
from importlib import metadata

import pytest


def _pytest_xdist_version() -> str | None:
    """The version of an installed pytest-xdist (not the metadata
    xdist_c.worker.distinfo answers with inside workers)."""
    for dist in metadata.distributions(name="pytest-xdist"):
        if not getattr(dist, "provided_by_xdist_c", False):
            return dist.version
    return None


@pytest.hookimpl
def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    if pluginmanager.is_blocked("xdist") or "PYTEST_XDIST_WORKER" in os.environ:
        return  # workers share the controller's environment, checked there
    version = _pytest_xdist_version()
    if version is not None:
        raise pytest.UsageError(
            f"xdist-c and pytest-xdist {version} are both installed; they are "
            "the same plugin ('xdist') -- uninstall one of them "
            "(pip uninstall pytest-xdist) and run again."
        )
