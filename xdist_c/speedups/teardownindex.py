"""The controller finds a test's teardown reports by lookup, not by scan.

For every failure it prints, pytest's terminal reporter looks for the
failing test's teardown reports (``_get_teardown_reports``) by going through
every report filed under ``""`` -- each passing setup and teardown of the
run.  That is quadratic: with the benchmark's 2,000 failures, 7.5 s of the
controller's summary (serial pytest pays it too).

:func:`install` gives the controller's reporter an equivalent method: the
same reports, in the same order, found in an index of the ``""`` reports
that is rebuilt whenever that list changed (and filtered, as ``getreports``
does, of those pdb has shown).  It is installed only where
pytest's method is the one known (keyed by ``report.id`` for a ``node_id``
argument, by ``report.nodeid`` for a ``nodeid`` one).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from xdist_c._compat import pytest as pytest_compat


class TeardownIndex:
    """``terminalreporter._get_teardown_reports``, by index."""

    def __init__(self, reporter: Any, original: Callable[[Any], list[Any]], key_attr: str) -> None:
        self.reporter = reporter
        self.original = original
        self.key_attr = key_attr
        self._source: list[Any] | None = None
        self._length = -1
        self._index: dict[Any, list[Any]] = {}

    def _rebuild(self, source: list[Any]) -> None:
        index: dict[Any, list[Any]] = {}
        for report in source:
            if report.when == "teardown":
                index.setdefault(getattr(report, self.key_attr), []).append(report)
        self._index = index
        self._source = source
        self._length = len(source)

    def __call__(self, node_id: Any) -> list[Any]:
        source: list[Any] = self.reporter.stats.get("", [])
        try:
            if source is not self._source or len(source) != self._length:
                self._rebuild(source)
            found = self._index.get(node_id, ())
        except TypeError:  # something unhashable: pytest's own way
            self._source = None
            return self.original(node_id)
        # As getreports("") filters them: may have been set since the index
        # was built.
        return [report for report in found if not hasattr(report, pytest_compat.PDB_SHOWN_ATTR)]


def install(reporter: Any) -> None:
    """Put a :class:`TeardownIndex` on ``reporter`` (pytest's
    TerminalReporter) when its ``_get_teardown_reports`` is pytest's own
    (replaced by someone else, or of another shape: left alone)."""
    if isinstance(pytest_compat.current_teardown_reports(reporter), TeardownIndex):
        return
    found = pytest_compat.teardown_reports_method(reporter)
    if found is None:
        return
    original, key_attr = found
    pytest_compat.set_teardown_reports_method(reporter, TeardownIndex(reporter, original, key_attr))
