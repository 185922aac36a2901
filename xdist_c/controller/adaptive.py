"""``-n adaptive``: a worker count chosen from the last run's durations.

``-n auto`` starts one worker per CPU whatever the run, so a project that
puts it in ``addopts`` pays for starting workers even when it runs one
test.  ``-n adaptive`` (opt-in; ``auto`` keeps pytest-xdist's meaning)
runs in-process, as ``-n 0`` does, when distributing would not pay, and
otherwise picks a worker count between 2 and the ``auto`` count.

What it goes by: after every ``-n adaptive`` run, the number of tests and
the sum of their durations (setup, call, teardown) are stored in pytest's
cache under :data:`CACHE_KEY`, per command line (the arguments without
``-n``).  The next run with the same arguments estimates, for each worker
count ``n``::

    in-process:  T + N * PER_TEST
    n workers:   START + n * PER_WORKER
                 + max((T + N * PER_TEST_DISTRIBUTED) / min(n, cpus - CONTROLLER_SHARE),
                       N * CONTROLLER_PER_TEST)

and distributes only when the best estimate is at most :data:`MARGIN` of
the in-process one.  With nothing stored for these arguments (a first run,
``-p no:cacheprovider``), it runs in-process: never slower than a serial
run, and the next run knows the durations.  The constants were measured on
two cores (docs/performance.rst); they are deliberately on the side of
running in-process.  ``-v`` prints the choice and why.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from xdist_c._compat import pytest as pytest_compat

#: The cache entry: a JSON object, command line key -> {"tests", "seconds"}.
CACHE_KEY = "xdist_c/adaptive_runs"
#: The most command lines remembered.
MAX_ENTRIES = 200

# Estimates, in seconds, from benchmarks/bench_small.py on two cores (one,
# 500 and 5,000 trivial tests: serial 0.18, 0.36 and 2.4 s; -n 2 0.27,
# 0.41-0.46 and 1.6-1.7 s), rounded towards running in-process.
START = 0.07
PER_WORKER = 0.01
PER_TEST = 0.0004
PER_TEST_DISTRIBUTED = 0.0005
# The controller's share of a CPU while it handles reports, and the least
# it spends on each test's reports: with many workers it is the limit.
CONTROLLER_SHARE = 0.25
CONTROLLER_PER_TEST = 0.0001
# Distribute only when that is estimated to take at most this share of the
# in-process time.
MARGIN = 0.85

VALUE = "adaptive"

_choice_key = pytest.StashKey[str]()


def run_key(config: pytest.Config) -> str:
    """The command line without its worker count and ``--basetemp``: what
    identifies "the same run" from one invocation to the next."""
    args = [str(a) for a in config.invocation_params.args]
    kept: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg in ("-n", "--numprocesses", "--basetemp"):
            skip = True
            continue
        if arg.startswith(("--numprocesses=", "--basetemp=")) or (arg.startswith("-n") and not arg.startswith("--")):
            continue
        kept.append(arg)
    return "\0".join(kept)


def estimate(tests: int, seconds: float, workers: int, cpus: int) -> float:
    """Estimated wall time of the test phase (0 workers: in-process)."""
    if workers == 0:
        return seconds + tests * PER_TEST
    lanes = max(min(float(workers), cpus - CONTROLLER_SHARE), 1.0)
    spread = (seconds + tests * PER_TEST_DISTRIBUTED) / lanes
    return START + workers * PER_WORKER + max(spread, tests * CONTROLLER_PER_TEST)


def choose(tests: int | None, seconds: float | None, cpus: int) -> tuple[int, str]:
    """The worker count (0: in-process) and why."""
    if tests is None or seconds is None:
        return 0, "no earlier -n adaptive run with these arguments"
    serial = estimate(tests, seconds, 0, cpus)
    best, best_time = 0, serial
    for workers in range(2, max(cpus, 0) + 1):
        wall = estimate(tests, seconds, workers, cpus)
        if wall < best_time:
            best, best_time = workers, wall
    last = f"{tests} test{'s' if tests != 1 else ''} took {seconds:.2f}s last time"
    if best and best_time <= MARGIN * serial:
        return best, f"{last}: about {best_time:.2f}s on {best} workers"
    return 0, f"{last}: distributing would not pay"


def _cache(config: pytest.Config) -> Any:
    """pytest's cache, also before the cacheprovider plugin has set
    ``config.cache`` (the worker count is chosen in pytest_cmdline_main).
    ``Cache.for_config`` is marked private in pytest (checked on 7.0 to
    9.2); where it is missing or fails, nothing is known: in-process."""
    cache = getattr(config, "cache", None)
    if cache is not None or not config.pluginmanager.has_plugin("cacheprovider"):
        return cache
    return pytest_compat.cache_for_config(config)


def _stored(cache: Any) -> dict[str, Any]:
    stored = cache.get(CACHE_KEY, None) if cache is not None else None
    return stored if isinstance(stored, dict) else {}


def _last_run(config: pytest.Config) -> tuple[int | None, float | None]:
    entry = _stored(_cache(config)).get(run_key(config))
    if not isinstance(entry, dict):
        return None, None
    tests, seconds = entry.get("tests"), entry.get("seconds")
    if not isinstance(tests, int) or isinstance(tests, bool) or tests < 0:
        return None, None
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
        return None, None
    if not math.isfinite(seconds) or seconds < 0:
        return None, None
    return tests, float(seconds)


def likely_distributes(early_config: pytest.Config) -> bool:
    """Before conftests are loaded (whether to start the fork server):
    the choice with the CPU count xdist-c finds itself (a conftest's
    ``pytest_xdist_auto_num_workers`` may still change it; then workers
    are spawned, or the server goes unused)."""
    from xdist_c.plugin import pytest_xdist_auto_num_workers

    tests, seconds = _last_run(early_config)
    return choose(tests, seconds, pytest_xdist_auto_num_workers(early_config))[0] > 0


def resolve(config: pytest.Config, cpus: int) -> int:
    """For ``-n adaptive`` (from pytest_cmdline_main): the worker count;
    registers the recorder of this run's durations."""
    tests, seconds = _last_run(config)
    workers, why = choose(tests, seconds, cpus)
    where = "in-process" if workers == 0 else f"{workers} workers"
    config.stash[_choice_key] = f"xdist-c: -n adaptive: {where} ({why})"
    config.pluginmanager.register(RunRecorder(config), "xdist_c.adaptive")
    return workers


class RunRecorder:
    """Adds up this run's test durations and stores them at the end."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.seconds: dict[str, float] = {}

    @pytest.hookimpl
    def pytest_report_header(self, config: pytest.Config) -> str | None:
        if config.option.verbose > 0:
            return config.stash.get(_choice_key, None)
        return None

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        duration = getattr(report, "duration", None)
        if isinstance(duration, float):
            self.seconds[report.nodeid] = self.seconds.get(report.nodeid, 0.0) + duration

    @pytest.hookimpl
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        cache = getattr(self.config, "cache", None)
        if cache is None or not self.seconds or session.shouldfail or session.shouldstop:
            return  # an interrupted run says little about the whole one
        stored = _stored(cache)
        stored.pop(run_key(self.config), None)
        stored[run_key(self.config)] = {"tests": len(self.seconds), "seconds": round(sum(self.seconds.values()), 4)}
        while len(stored) > MAX_ENTRIES:
            stored.pop(next(iter(stored)))
        cache.set(CACHE_KEY, stored)
