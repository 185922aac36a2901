"""Inside workers, ``importlib.metadata`` finds "pytest-xdist" as xdist-c.

Some plugins decide how to behave in a worker by asking whether the
pytest-xdist distribution is installed: pytest-rerunfailures (checked with
16.7) reports a test's intermediate "rerun" results from a worker only when
``importlib.metadata.distribution("pytest-xdist")`` succeeds, so without
this the reruns still happen but the controller never hears of them (no
``R``, no "N rerun" in the summary).

A worker only exists because the controller is running a pytest-xdist
compatible session, so there the answer "yes, version 3.8.0 (the release
whose behaviour xdist-c follows)" is the true one for such a check.  The
answer is given:

- only in worker processes (installed by :func:`xdist_c.worker.run_worker`),
  never in the controller or on disk, so pip, ``pip list`` and any
  subprocess a test starts still see xdist-c alone;
- only to a lookup *by name*: enumerating every distribution
  (``importlib.metadata.distributions()``, ``entry_points()``, pytest's
  plugin autoload) does not list it, so nothing is loaded or counted twice;
- never over an installed pytest-xdist (which the plugin refuses anyway).

The metadata carries no files and no entry points.  docs/plugins.rst has
the one-line change to pytest-rerunfailures that would make this
unnecessary.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import sys
from collections.abc import Iterator
from typing import Any

#: The pytest-xdist release whose behaviour xdist-c reproduces.
COMPAT_VERSION = "3.8.0"

_NAME = "pytest-xdist"

_METADATA = f"""\
Metadata-Version: 2.1
Name: {_NAME}
Version: {COMPAT_VERSION}
Summary: provided by xdist-c inside its workers
"""


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


class CompatDistribution(importlib.metadata.Distribution):
    """Metadata only: no files, no entry points."""

    provided_by_xdist_c = True  # what xdist_c._conflict looks for

    def read_text(self, filename: str) -> str | None:
        return _METADATA if filename in ("METADATA", "PKG-INFO") else None

    def locate_file(self, path: Any) -> Any:
        # Relative to the xdist_c package's folder.
        return os.path.join(os.path.dirname(os.path.dirname(__file__)), str(path))


class CompatFinder(importlib.metadata.DistributionFinder):
    """A ``sys.meta_path`` entry that finds no modules, only the metadata
    above, and only when asked for it by name."""

    def find_spec(self, *args: object, **kwargs: object) -> None:
        return None

    def find_distributions(
        self, context: importlib.metadata.DistributionFinder.Context | None = None
    ) -> Iterator[importlib.metadata.Distribution]:
        name = getattr(context, "name", None)
        if name and _normalized(name) == _NAME and not _really_installed():
            yield CompatDistribution()


def _really_installed() -> bool:
    """Whether another finder already knows a pytest-xdist distribution."""
    for finder in sys.meta_path:
        if isinstance(finder, CompatFinder):
            continue
        find = getattr(finder, "find_distributions", None)
        if find is None:
            continue
        if any(True for _ in find(importlib.metadata.DistributionFinder.Context(name=_NAME))):
            return True
    return False


def install() -> None:
    """Answer lookups of "pytest-xdist" in this (worker) process.  Idempotent."""
    if not any(isinstance(finder, CompatFinder) for finder in sys.meta_path):
        sys.meta_path.append(CompatFinder())


def uninstall() -> None:
    """Stop answering (at the end of the worker's session)."""
    sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, CompatFinder)]
