"""Run report, timeline and live status line (``--run-report``,
``--trace-file``, ``--status-line``).

Registered by ``xdist_c.plugin`` in the controller only when one of the
options is given, so a run without them pays nothing.  The recorder is a
plain pytest plugin: it sees the same ``pytest_runtest_log*`` calls as the
terminal reporter, with ``report.node`` naming the worker.

Clocks.  A test's interval is taken from its reports' ``start``/``stop``
(the worker's ``time.time()``; pytest >= 7.2): from its setup's start to its
teardown's stop, so busy time covers setup, call and teardown.  Local
(``popen``) workers share the controller's clock and are used as they are.
A remote worker's clock may be off by any amount, so its times are moved by
an offset: the smallest difference, over its reports, between the time the
controller received a report and the report's ``stop``.  That is the skew
plus the quickest delivery (usually milliseconds), so a remote worker's
tests are never placed before they could have happened, and at most that
quickest delivery late.  With pytest < 7.2 (no ``start``/``stop``) a test
ends when its teardown report reaches the controller and starts the sum of
its phases' durations before.

Definitions printed by ``--run-report``: the run lasts from the first test's
start to the last test's end (on any worker).  A worker's *span* is that
run, shortened to the time it was up (a replacement starts when it was
ready, a crashed one ends when it went down); *busy* is the sum of its
tests' intervals, *idle* the rest of its span (start-up, waiting for work,
the framework between tests), *waited* the end of its span minus its last
test's end: the time lost waiting for the last worker is the sum of those.

This module reaches past pytest's public API in one place: the status line
writes to the terminal writer's file (``TerminalWriter._file``, checked on
pytest 7.0 to 9.2) and wraps it to clear the line before pytest writes; the
status line is off where that attribute is missing.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import TextIO

import pytest

from xdist_c._compat import pytest as pytest_compat
from xdist_c.controller import durations
from xdist_c.launch.launcher import is_local

# Where duration-aware scheduling (xdist_c.controller.durations) keeps each test's last
# duration (``{nodeid: seconds}``), read for the status line's estimate.
# How many of the slowest tests ``--run-report`` lists.
SLOWEST = 10
# The status line is redrawn at most this often (seconds) when nothing
# else wrote to the terminal since.
STATUS_INTERVAL = 0.1
# The one process of the trace (the run); each worker is a thread of it.
TRACE_PID = 1
PHASES = ("setup", "call", "teardown")
CONTROLLER = "master"  # the worker id of a run that does not distribute


def _elapsed(start: float, end: float) -> float:
    """The time from ``start`` to ``end``, never negative: the times come
    from different clocks (a worker's, moved by its offset, the
    controller's), so an end may fall a little before its start."""
    return max(0.0, end - start)


@dataclass
class TestRun:
    """One run of one test on one worker, in the controller's clock."""

    nodeid: str
    worker: str
    start: float
    stop: float
    outcome: str
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return _elapsed(self.start, self.stop)


@dataclass
class WorkerStats:
    worker: str
    tests: int
    span_start: float
    span_end: float
    busy: float
    last_finish: float

    @property
    def span(self) -> float:
        return _elapsed(self.span_start, self.span_end)

    @property
    def idle(self) -> float:
        return _elapsed(self.busy, self.span)

    @property
    def share(self) -> float:
        """Busy share of the span, in percent (at most 100)."""
        return min(100.0, 100.0 * self.busy / self.span) if self.span > 0 else 0.0

    @property
    def waited(self) -> float:
        return _elapsed(self.last_finish, self.span_end)


@dataclass
class RunStats:
    start: float
    end: float
    workers: list[WorkerStats]
    tests: list[TestRun]

    @property
    def wall(self) -> float:
        return _elapsed(self.start, self.end)

    @property
    def lost(self) -> float:
        return sum(w.waited for w in self.workers)


def compute_stats(
    tests: list[TestRun],
    workers: list[str],
    up: dict[str, float] | None = None,
    down: dict[str, float] | None = None,
) -> RunStats | None:
    """The report's numbers for ``tests``; ``workers`` in display order
    (those without tests included), ``up``/``down`` when each worker was
    ready and went down (if it crashed).  None without any test."""
    if not tests:
        return None
    up = up or {}
    down = down or {}
    start = min(t.start for t in tests)
    end = max(t.stop for t in tests)
    by_worker: dict[str, list[TestRun]] = {w: [] for w in workers}
    for t in tests:
        by_worker.setdefault(t.worker, []).append(t)
    stats = []
    for worker, runs in by_worker.items():
        span_start = max(start, up.get(worker, start))
        span_end = min(end, down.get(worker, end))
        if runs:
            span_start = min(span_start, min(t.start for t in runs))
            span_end = max(span_end, max(t.stop for t in runs))
            last = max(t.stop for t in runs)
        else:
            span_end = max(span_start, span_end)
            last = span_start
        busy = _union_length([(t.start, t.stop) for t in runs])
        stats.append(WorkerStats(worker, len(runs), span_start, span_end, busy, last))
    return RunStats(start, end, stats, tests)


def _union_length(intervals: list[tuple[float, float]]) -> float:
    """Total length covered by the intervals (overlaps counted once: a
    crashed test's guessed interval may touch its neighbour's)."""
    total = 0.0
    cur_start = cur_end = None
    for s, e in sorted(intervals):
        if cur_end is None or s > cur_end:
            if cur_end is not None and cur_start is not None:
                total += cur_end - cur_start
            cur_start, cur_end = s, e
        else:
            cur_end = max(cur_end, e)
    if cur_end is not None and cur_start is not None:
        total += cur_end - cur_start
    return total


def format_report(stats: RunStats, slowest: int = SLOWEST) -> list[str]:
    """The lines of the ``worker utilisation`` section."""
    width = max([len("worker")] + [len(w.worker) for w in stats.workers])
    lines = [
        f"{'worker':<{width}}  {'tests':>6}  {'busy (s)':>9}  {'idle (s)':>9}  {'busy':>6}  {'waited (s)':>10}",
    ]
    for w in stats.workers:
        lines.append(
            f"{w.worker:<{width}}  {w.tests:>6}  {w.busy:>9.2f}  {w.idle:>9.2f}  {w.share:>5.1f}%  {w.waited:>10.2f}"
        )
    total_span = sum(w.span for w in stats.workers)
    lost_share = 100.0 * stats.lost / total_span if total_span > 0 else 0.0
    count = len(stats.tests)
    lines.append(
        f"{count} test{'s' if count != 1 else ''} on {len(stats.workers)} worker"
        f"{'s' if len(stats.workers) != 1 else ''} in {stats.wall:.2f}s "
        "(first test's start to last test's end)"
    )
    lines.append(f"time lost waiting for the last worker: {stats.lost:.2f}s ({lost_share:.1f}% of the workers' time)")
    ranked = sorted(stats.tests, key=lambda t: t.duration, reverse=True)[:slowest]
    if ranked:
        lines.append(f"slowest {len(ranked)} test{'s' if len(ranked) != 1 else ''}:")
        for t in ranked:
            lines.append(f"{t.duration:8.2f}s  {t.worker:<{width}}  {t.nodeid}")
    return lines


def trace_document(tests: list[TestRun], workers: list[str], title: str = "pytest") -> dict[str, Any]:
    """Chrome's trace-event format (JSON object form), which Perfetto and
    chrome://tracing open: one thread per worker, one complete event per
    test run, times in microseconds from the first test's start."""
    events: list[dict[str, Any]] = [
        {"ph": "M", "name": "process_name", "pid": TRACE_PID, "tid": 0, "args": {"name": title}},
    ]
    order = list(workers)
    for t in tests:
        if t.worker not in order:
            order.append(t.worker)
    tids = {w: i + 1 for i, w in enumerate(order)}
    for w, tid in tids.items():
        events.append({"ph": "M", "name": "thread_name", "pid": TRACE_PID, "tid": tid, "args": {"name": w}})
        events.append(
            {"ph": "M", "name": "thread_sort_index", "pid": TRACE_PID, "tid": tid, "args": {"sort_index": tid}}
        )
    origin = min((t.start for t in tests), default=0.0)
    for t in sorted(tests, key=lambda t: (tids[t.worker], t.start)):
        args: dict[str, Any] = {"outcome": t.outcome, "worker": t.worker}
        for phase, seconds in t.phases.items():
            args[f"{phase} (s)"] = round(seconds, 6)
        events.append(
            {
                "ph": "X",
                "name": t.nodeid,
                "cat": "test",
                "ts": round((t.start - origin) * 1e6, 3),
                "dur": round(t.duration * 1e6, 3),
                "pid": TRACE_PID,
                "tid": tids[t.worker],
                "args": args,
            }
        )
    return {"traceEvents": events, "displayTimeUnit": "ms"}


def format_seconds(seconds: float) -> str:
    """``<1s``, ``42s``, ``3m05s``, ``1h02m``."""
    if seconds < 1:
        return "<1s"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def format_status(running: int, done: int, total: int, eta: float | None) -> str:
    """The live status line."""
    pct = f" ({100 * done // total}%)" if total else ""
    eta_text = format_seconds(eta) if eta is not None else "--"
    return f"xdist-c: running {running}, done {done}/{total}{pct}, ETA {eta_text}"


class Estimate:
    """Expected remaining time: each unfinished test takes its stored
    duration, or the mean of the tests finished so far (else of the stored
    ones), shared out over the workers."""

    def __init__(self, stored: dict[str, float]) -> None:
        self.stored = stored
        self.known_left = 0.0  # stored durations of the unfinished tests
        self.unknown_left = 0  # unfinished tests without one
        self.finished_time = 0.0
        self.finished = 0

    def add(self, nodeids: list[str]) -> None:
        for nodeid in nodeids:
            d = self.stored.get(nodeid)
            if d is None:
                self.unknown_left += 1
            else:
                self.known_left += d

    def finish(self, nodeid: str, seconds: float | None) -> None:
        d = self.stored.get(nodeid)
        if d is None:
            self.unknown_left = max(0, self.unknown_left - 1)
        else:
            self.known_left = max(0.0, self.known_left - d)
        if seconds is not None:
            self.finished_time += seconds
            self.finished += 1

    def remaining(self, workers: int) -> float | None:
        if self.unknown_left:
            if self.finished:
                mean = self.finished_time / self.finished
            elif self.stored:
                mean = sum(self.stored.values()) / len(self.stored)
            else:
                return None
        else:
            mean = 0.0
        return (self.known_left + self.unknown_left * mean) / max(1, workers)


class _StatusFile:
    """Stands in for the terminal writer's file: clears the status line
    (drawn below the cursor) before anything else is written."""

    def __init__(self, file: TextIO, line: StatusLine) -> None:
        self._file = file
        self._line = line

    def write(self, text: str) -> int:
        if self._line.shown:
            self._line.shown = False
            self._file.write("\x1b[J")
        return self._file.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


class StatusLine:
    """A line kept under the terminal's current line and redrawn on events."""

    def __init__(self, tw: Any) -> None:
        self.tw = tw
        self.file: TextIO = pytest_compat.writer_file(tw)
        self.shown = False
        self.last_draw = 0.0
        self._proxy = _StatusFile(self.file, self)
        pytest_compat.set_writer_file(tw, self._proxy)

    @staticmethod
    def usable(tr: Any) -> bool:
        tw = pytest_compat.terminal_writer(tr)
        file = pytest_compat.writer_file(tw)
        if file is None or not getattr(tw, "hasmarkup", False):
            return False
        try:
            return bool(file.isatty()) and os.environ.get("TERM") != "dumb"
        except (AttributeError, ValueError, OSError):
            return False

    def draw(self, text: str, now: float) -> None:
        width = max(1, int(self.tw.fullwidth) - 1)
        column = int(self.tw.width_of_current_line)
        move = f"\x1b[{column}C" if column else ""
        out = ("\x1b[J" if self.shown else "") + "\n" + text[:width] + "\x1b[1A\r" + move
        self.file.write(out)
        self.file.flush()
        self.shown = True
        self.last_draw = now

    def close(self) -> None:
        if self.shown:
            self.shown = False
            self.file.write("\x1b[J")
            self.file.flush()
        if pytest_compat.writer_file(self.tw) is self._proxy:
            pytest_compat.set_writer_file(self.tw, self.file)


@dataclass
class _Pending:
    start: float = 0.0
    stop: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)
    outcomes: list[str] = field(default_factory=list)


class RunRecorder:
    """pytest plugin (``xdist_c_runreport``) recording every test's interval
    and worker for the options of this module."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.report = bool(config.getoption("xdist_c_run_report", False))
        self.trace_file: str | None = config.getoption("xdist_c_trace_file", None)
        self.want_status = bool(config.getoption("xdist_c_status_line", False))
        self.tests: list[TestRun] = []
        self.workers: list[str] = []
        self._up: dict[str, float] = {}
        self._down: dict[str, float] = {}
        self._remote: set[str] = set()
        self._offset: dict[str, float] = {}  # receive time - stop, smallest
        # Tests whose reports are arriving: (worker, nodeid) -> phases so far.
        self._pending: dict[tuple[str, str], _Pending] = {}
        # Tests with controller-clock times (pytest < 7.2, crashes): no offset.
        self._controller_clock: set[int] = set()
        self._last_finish: dict[str, float] = {}
        self._seconds: dict[str, float] = {}  # nodeid -> last measured time
        self.status: StatusLine | None = None
        self.running = 0
        self.done = 0
        self.total = 0
        self._collected: set[str] = set()
        self._estimate: Estimate | None = None
        self._trace_written: str | None = None
        self._running_at = float("-inf")
        self._running_cached = 0

    # ---------------------------------------------------------- workers

    def _worker(self, worker: str) -> None:
        if worker not in self.workers:
            self.workers.append(worker)

    @pytest.hookimpl
    def pytest_testnodeready(self, node: Any) -> None:
        wid = str(node.gateway.id)
        self._worker(wid)
        self._up.setdefault(wid, time.time())
        if not is_local(node.gateway.spec):
            self._remote.add(wid)

    @pytest.hookimpl
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        if error:
            self._down.setdefault(str(node.gateway.id), time.time())

    @pytest.hookimpl
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        wid = str(node.gateway.id)
        if wid in self._collected:
            return
        first = not self._collected
        self._collected.add(wid)
        if first or self.config.getoption("dist", "no") == "each":
            self.total += len(ids)
            if self._estimate is not None:
                self._estimate.add([str(i) for i in ids])

    @pytest.hookimpl
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        # Without distribution the controller collects (and runs) itself.
        if self.config.getoption("dist", "no") == "no":
            self.total = len(session.items)
            if self._estimate is not None:
                self._estimate.add([item.nodeid for item in session.items])

    # ---------------------------------------------------------- reports

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        now = time.time()
        node = getattr(report, "node", None)
        wid = str(node.gateway.id) if node is not None else CONTROLLER
        nodeid = str(report.nodeid)
        key = (wid, nodeid)
        when = report.when
        if when not in PHASES:  # a crashed test, reported by the controller
            self._pending.pop(key, None)
            begin = max(self._last_finish.get(wid, 0.0), self._up.get(wid, 0.0)) or now
            self._add(TestRun(nodeid, wid, min(begin, now), now, "crashed"), controller_clock=True)
            return
        pend = self._pending.get(key)
        if pend is None:
            pend = self._pending[key] = _Pending()
            pend.start = float(getattr(report, "start", 0.0) or 0.0)
        pend.phases[when] = float(report.duration)
        pend.outcomes.append(report.outcome)
        stop = float(getattr(report, "stop", 0.0) or 0.0)
        if stop and wid in self._remote:
            gap = now - stop
            if gap < self._offset.get(wid, gap + 1):
                self._offset[wid] = gap
        if when != "teardown":
            return
        del self._pending[key]
        if "failed" in pend.outcomes:
            outcome = "failed"
        elif "skipped" in pend.outcomes:
            outcome = "skipped"
        else:
            outcome = "passed"
        if pend.start and stop:
            self._add(TestRun(nodeid, wid, pend.start, stop, outcome, pend.phases), controller_clock=False)
        else:
            # Reports arrive in batches: place the batch's tests one after
            # the other rather than all ending at the same arrival time.
            took = sum(pend.phases.values())
            begin = max(now - took, self._last_finish.get(wid, 0.0))
            self._add(TestRun(nodeid, wid, begin, begin + took, outcome, pend.phases), controller_clock=True)

    def _add(self, run: TestRun, *, controller_clock: bool) -> None:
        self._worker(run.worker)
        if controller_clock:
            self._controller_clock.add(len(self.tests))
            self._last_finish[run.worker] = run.stop
        else:
            self._last_finish[run.worker] = run.stop + self._offset.get(run.worker, 0.0)
        self.tests.append(run)
        self._seconds[run.nodeid] = run.duration

    def aligned_tests(self) -> list[TestRun]:
        """The tests with remote workers' times moved to the controller's clock."""
        out = []
        for i, t in enumerate(self.tests):
            offset = 0.0 if i in self._controller_clock else self._offset.get(t.worker, 0.0)
            if offset:
                t = TestRun(t.nodeid, t.worker, t.start + offset, t.stop + offset, t.outcome, t.phases)
            out.append(t)
        return out

    # ---------------------------------------------------------- status line

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        # Before any collection reaches the controller (the estimate counts
        # the tests as their collections come).
        if not self.want_status or self.config.option.verbose < 0:
            return
        tr = self.config.pluginmanager.getplugin("terminalreporter")
        if tr is not None and StatusLine.usable(tr):
            self.status = StatusLine(pytest_compat.terminal_writer(tr))
            self._estimate = Estimate(durations.load(self.config))

    @pytest.hookimpl
    def pytest_runtest_logstart(self, nodeid: str, location: object) -> None:
        self.running += 1
        if self.status is not None:
            self._show(throttle=True)

    @pytest.hookimpl
    def pytest_runtest_logfinish(self, nodeid: str, location: object) -> None:
        self.running = max(0, self.running - 1)
        self.done += 1
        if self.status is not None:
            if self._estimate is not None:
                self._estimate.finish(str(nodeid), self._seconds.get(str(nodeid)))
            self._show(throttle=False)

    def _running_now(self) -> int:
        """Tests running now.  A worker sends a test's events together when
        it ends, so in a distributed run this counts the workers that have
        tests left to run (one runs at a time on each)."""
        dsession = self.config.pluginmanager.getplugin("dsession")
        if dsession is None:
            return self.running
        active = max(0, len(self.workers) - len(self._down))
        sched = getattr(dsession, "sched", None)
        node_pending = getattr(sched, "node_pending", None)
        if sched is not None and node_pending is not None:
            try:
                return sum(1 for node in sched.nodes if node_pending(node))
            except Exception:  # a scheduler of a plugin may differ
                pass
        return min(active, max(0, self.total - self.done))

    def _show(self, *, throttle: bool) -> None:
        status = self.status
        assert status is not None
        now = time.monotonic()
        if throttle and status.shown and now - status.last_draw < STATUS_INTERVAL:
            return
        if self.total and self.done >= self.total:
            self._running_cached = 0
        elif now - self._running_at >= STATUS_INTERVAL:
            self._running_at = now
            self._running_cached = self._running_now()
        workers = max(1, len(self.workers) - len(self._down))
        eta = self._estimate.remaining(workers) if self._estimate is not None else None
        status.draw(format_status(self._running_cached, self.done, self.total, eta), now)

    # ---------------------------------------------------------- the end

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.status is not None:
            self.status.close()
            self.status = None
        if self.trace_file:
            path = os.path.abspath(self.trace_file)
            doc = trace_document(
                self.aligned_tests(), worker_order(self.workers), title=f"pytest {_run_title(self.config)}"
            )
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                json.dump(doc, f)
            self._trace_written = path

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.report:
            terminalreporter.write_sep("=", "worker utilisation")
            stats = compute_stats(self.aligned_tests(), worker_order(self.workers), self._up, self._down)
            if stats is None:
                terminalreporter.write_line("no test ran")
            else:
                for line in format_report(stats):
                    terminalreporter.write_line(line)
        if self._trace_written and self.config.option.verbose >= 0:
            terminalreporter.write_line(
                f"xdist-c: timeline written to {self._trace_written} (open it in https://ui.perfetto.dev)"
            )

    @pytest.hookimpl
    def pytest_unconfigure(self) -> None:
        if self.status is not None:
            self.status.close()
            self.status = None


def worker_order(workers: list[str]) -> list[str]:
    """``gw2`` before ``gw10``."""

    def key(w: str) -> tuple[str, int, str]:
        digits = len(w) - len(w.rstrip("0123456789"))
        if digits:
            return (w[:-digits], int(w[-digits:]), w)
        return (w, -1, w)

    return sorted(workers, key=key)


def _run_title(config: pytest.Config) -> str:
    dist = config.getoption("dist", "no")
    return "(no distribution)" if dist == "no" else f"--dist {dist}"


def install(config: pytest.Config) -> None:
    """Register the recorder (the controller's plugin calls this where an
    option asks for it)."""
    config.pluginmanager.register(RunRecorder(config), "xdist_c_runreport")
