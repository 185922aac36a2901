"""Each test's duration, kept in pytest's cache between runs, for the
schedulers' duration order (``--schedule-by-duration``).

The controller adds up the ``duration`` of every report a worker sends for
a test (setup, call and teardown) and, at the end of the session, merges
them into the cache entry :data:`CACHE_KEY` (nodeid -> seconds).  Tests not
run this time keep their entry, so a run of a subset (``-k``, one file)
forgets nothing.  The next run's scheduler reads it (``set_durations``).
Nothing is read or stored without pytest's cacheprovider plugin
(``-p no:cacheprovider``) or with ``--schedule-by-duration=off``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pytest

#: The cache entry: a JSON object, nodeid -> seconds.
CACHE_KEY = "xdist_c/durations"
#: The most entries kept: beyond it only the tests of the last collection are.
MAX_ENTRIES = 200_000


def off_reason(config: pytest.Config) -> str | None:
    """Why duration order is off for this run, or None when it is on."""
    value = config.getoption("schedule_by_duration", None)
    if value == "off":
        return "--schedule-by-duration=off"
    if value is None and not config.getini("schedule_by_duration"):
        return "schedule_by_duration = false"
    if getattr(config, "cache", None) is None:
        return "no cache (-p no:cacheprovider)"
    return None


def load(config: pytest.Config) -> dict[str, float]:
    """The stored durations, without entries that are not a duration."""
    cache = getattr(config, "cache", None)
    if cache is None:
        return {}
    try:
        stored = cache.get(CACHE_KEY, None)
    except Exception:  # a broken cache file must not stop the run
        return {}
    if not isinstance(stored, dict):
        return {}
    return {
        k: float(v)
        for k, v in stored.items()
        if isinstance(k, str) and type(v) in (int, float) and math.isfinite(v) and v >= 0
    }


class Timings:
    """The durations of the tests run in this session."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def add(self, nodeid: Any, duration: Any) -> None:
        """One report of a test (setup, call or teardown)."""
        if type(nodeid) is str and type(duration) is float:
            self.seconds[nodeid] = self.seconds.get(nodeid, 0.0) + duration

    def store(self, config: pytest.Config, collection: Sequence[str] | None) -> None:
        """Merge into the cache entry (see the module docstring)."""
        cache = getattr(config, "cache", None)
        if cache is None or not self.seconds:
            return
        merged = load(config)
        merged.update(self.seconds)
        if len(merged) > MAX_ENTRIES and collection is not None:
            keep = set(collection)
            merged = {k: v for k, v in merged.items() if k in keep}
        cache.set(CACHE_KEY, {k: round(v, 4) for k, v in merged.items()})
