"""The controller session: start workers, route their events, finish.

Worker events arrive batched in frames; the C :class:`~xdist_c._core.Pump`
decodes them on this (main) thread and hands back ``(slot, kind, payload)``
tuples, which are dispatched to the ``worker_*`` methods below.  Those own
all pytest hook calls and terminal output; bookkeeping of which worker runs
what lives in the C scheduler.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from collections.abc import Sequence
from enum import Enum
from enum import auto
from typing import Any
from typing import Callable

import pytest

from xdist_c import _core
from xdist_c._compat import execnet as execnet_compat
from xdist_c.controller import durations
from xdist_c.controller import limits
from xdist_c.controller.liveoutput import LiveOutput
from xdist_c.controller.report import report_collection_diff
from xdist_c.controller.scheduler import SCHEDULERS
from xdist_c.controller.scheduler import Scheduling
from xdist_c.controller.workermanage import NodeManager
from xdist_c.controller.workermanage import Producer
from xdist_c.controller.workermanage import WorkerController
from xdist_c.controller.workermanage import fifo_off_reason
from xdist_c.launch import launcher
from xdist_c.launch.process import STDERR_DRAIN_WAIT
from xdist_c.launch.process import WorkerStartError
from xdist_c.speedups import exitgc
from xdist_c.speedups._fastpath import only_pytest_implements
from xdist_c.speedups._fastpath import parse_node_id as _parse_node_id
from xdist_c.speedups.exitgc import skip_exit_collection
from xdist_c.speedups.hookexec import install as install_hookexec
from xdist_c.speedups.split import COPIES_KEY
from xdist_c.speedups.split import JoinedCollection

# The controller loop's garbage collection thresholds: allocations between
# young collections, and how many of each generation trigger the next
# (Python's defaults: 700, 10, 10).
CONTROLLER_GC_THRESHOLDS = (20_000, 20, 20)
# When only a few tests' events are ready, how long the controller lets more
# arrive before it handles them (Pump.get's linger): each wake-up (poll(),
# read(), two context switches) then serves several tests instead of about
# one, which takes ~15 % off the controller's CPU on trivial tests; a
# report is still shown within milliseconds.
EVENT_LINGER = 0.005
# ... but only while every node that can be given work holds at least this
# many tests: a node down to its last ones would otherwise wait the linger
# out for its next test (at the end of a run of quick tests, every test).
LINGER_MIN_QUEUE = 16
# How long a stop waits for workers before killing them.
INTERRUPT_EXIT_TIMEOUT = 2.0
# ... and after how long those still running get a SIGINT.
INTERRUPT_WORKERS_AFTER = 0.5
# On SIGTERM: how long workers get to exit after their own SIGTERM.
SIGTERM_WORKER_GRACE = 1.0


class ControllerGC:
    """Cheaper garbage collection in the controller, where no test code runs.

    What the controller allocates per report mostly lives to the end of the
    session (the terminal reporter keeps every report), so the collector
    would re-walk an ever larger heap.  :meth:`relaying` (around the loop)
    freezes the start-up heap and runs young collections less often.  At
    its end what was relayed is frozen too and stays so until :meth:`thaw`:
    pytest (9.2) runs two full collections at unconfigure (for unraisable
    exceptions), 0.12 s over the heap of 20,000 trivial tests.  ``thaw`` is
    a config cleanup registered before pytest's own (see
    ``xdist_c.plugin.pytest_cmdline_main``), so it runs after them.
    """

    def __init__(self) -> None:
        self._frozen = False

    @contextlib.contextmanager
    def relaying(self) -> Iterator[None]:
        thresholds = gc.get_threshold()
        gc.freeze()
        self._frozen = True
        gc.set_threshold(*CONTROLLER_GC_THRESHOLDS)
        try:
            yield
        finally:
            gc.set_threshold(*thresholds)
            gc.freeze()

    def thaw(self) -> None:
        if self._frozen:
            self._frozen = False
            gc.unfreeze()


class Interrupted(KeyboardInterrupt):
    """Signals an immediate interruption (``-x``, ``--maxfail``, a worker's
    KeyboardInterrupt)."""


# pytest prints the exception's qualified name when -x/--maxfail stops a
# run ("xdist.dsession.Interrupted: stopping after 1 failures"): the name
# pytest-xdist's runs print, which the xdist alias package resolves.
Interrupted.__module__ = "xdist.dsession"


class DSession:
    """pytest plugin (registered as ``dsession``) running a distributed session."""

    shouldstop: bool | str

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.log = Producer("dsession", enabled=config.option.debug)
        self.nodemanager: NodeManager | None = None
        self.sched: Scheduling | None = None
        self.shuttingdown = False
        self.shouldstop = False
        self.countfailures = 0
        self.maxfail: int = config.getvalue("maxfail")
        # -x/--maxfail: stop the workers' queues at once (xdist_c.controller.limits),
        # unless --finish-queued; set once the stop was sent.
        self._stop_queued = not config.getoption("finish_queued", False)
        self._stopped = False
        self._not_run: int | None = None
        self.pump = _core.Pump()
        self.controller_gc = ControllerGC()
        skip_exit_collection(config)
        self._slots: list[WorkerController] = []
        self._session: pytest.Session | None = None
        self._failed_collection_errors: dict[object, bool] = {}
        self._joined = JoinedCollection()
        self._split_off: str | None = None  # why a worker did not split
        self._active_nodes: set[WorkerController] = set()
        # Workers that sent their collection (and so may have started tests).
        self._collected_nodes: set[WorkerController] = set()
        self._failed_nodes_count = 0
        self._max_worker_restart = get_default_max_worker_restart(config)
        self._summary_report: str | None = None
        self._interrupted = False
        self._internal_error = False
        self._sigterm_installed = False
        # True when only pytest itself implements pytest_report_from_serializable.
        self._plain_reports = only_pytest_implements(config, "pytest_report_from_serializable")
        # Duration order (xdist_c.controller.durations): why it is off, or None; the
        # durations read for the scheduler, and this run's, to store.
        self._duration_off = durations.off_reason(config)
        self._durations: dict[str, float] = {}
        self._collected_ids: Sequence[str] = ()
        self._timings = durations.Timings() if self._duration_off is None else None
        # The hooks relayed for every test, called through HookExec.relay.
        self._relay = install_hookexec(config.pluginmanager)
        self._logstart_hook = config.hook.pytest_runtest_logstart
        self._logreport_hook = config.hook.pytest_runtest_logreport
        self._logfinish_hook = config.hook.pytest_runtest_logfinish
        self._last_node_id_text: str | None = None
        self._live: LiveOutput | None = None  # -s (set at session start)
        self._last_node_id: object = None
        self._handlers: dict[int, Callable[[WorkerController, Any], None]] = {
            _core.EV_WORKERREADY: self.worker_workerready,
            _core.EV_COLLECTIONSTART: self.worker_collectionstart,
            _core.EV_COLLECTREPORT: self.worker_collectreport,
            _core.EV_COLLECTIONFINISH: self.worker_collectionfinish,
            _core.EV_LOGSTART: self.worker_logstart,
            _core.EV_TESTREPORT: self.worker_testreport,
            _core.EV_LOGFINISH: self.worker_logfinish,
            _core.EV_COMPLETE: self.worker_runtest_protocol_complete,
            _core.EV_UNSCHEDULED: self.worker_unscheduled,
            _core.EV_WARNING: self.worker_warning_recorded,
            _core.EV_WORKERFINISHED: self.worker_workerfinished,
            _core.EV_INTERNALERROR: self.worker_internal_error,
            _core.EV_CLOSED: self.worker_channel_closed,
            _core.EV_BADFRAME: self.worker_badframe,
        }
        self.terminal = config.pluginmanager.getplugin("terminalreporter")
        if self.terminal:
            self.trdist = TerminalDistReporter(config)
            config.pluginmanager.register(self.trdist, "terminaldistreporter")

    @property
    def session_finished(self) -> bool:
        return bool(self.shuttingdown and not self._active_nodes)

    def report_line(self, line: str) -> None:
        if self.terminal and self.config.option.verbose >= 0:
            self.terminal.write_line(line)

    def _speed_features_line(self) -> str:
        """Which of xdist-c's speed features this run uses, and why each
        that is off is off (printed under -v)."""
        parts = []
        nm = self.nodemanager
        if self.config.getoption("split_collection", "auto") == "off":
            parts.append("split collection off: --split-collection=off")
        elif nm is None or not nm.split_parts:
            parts.append(
                f"split collection off: --dist {self.config.getvalue('dist')} with {len(self._slots)} worker(s)"
            )
        elif self._split_off is not None:
            parts.append(f"split collection off: {self._split_off}")
        else:
            parts.append("split collection on")
        parts.append(launcher.describe(self.config))
        fifo_off = fifo_off_reason()
        if fifo_off is not None:
            parts.append(f"event FIFOs off: {fifo_off}")
        elif nm is not None and nm.event_fifos:
            parts.append(f"event FIFOs on ({nm.event_fifos})")
        else:
            parts.append("event FIFOs off: no local popen workers")
        parts.append(exitgc.describe(self.config))
        parts.append(self._duration_order_part())
        return "xdist-c: " + "; ".join(parts)

    def _duration_order_part(self) -> str:
        if self._duration_off is not None:
            return f"duration order off: {self._duration_off}"
        if not isinstance(self.sched, _core._SchedulerBase):
            return "duration order off: a plugin's scheduler"
        if self.config.getvalue("dist") == "each":
            return "duration order off: --dist each"
        ids = self._collected_ids
        timed = sum(1 for nodeid in ids if nodeid in self._durations)
        if not timed:
            return "duration order off: no stored durations (first run); stored at the end"
        return f"duration order on ({timed} of {len(ids)} tests timed)"

    def _assign_slot(self, node: WorkerController) -> int:
        self._slots.append(node)
        return len(self._slots) - 1

    # ------------------------------------------------------------ pytest hooks

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.nodemanager = NodeManager(self.config)
        self._install_sigterm_handler()
        try:
            nodes = self.nodemanager.setup_nodes(self.pump, self._assign_slot)
        except WorkerStartError as e:
            # pytest_sessionfinish will not run: stop what did start.
            self.nodemanager.teardown_nodes(INTERRUPT_EXIT_TIMEOUT)
            self._restore_sigterm_handler()
            pytest.exit(str(e), pytest.ExitCode.INTERNAL_ERROR)
        self._active_nodes.update(nodes)
        self._session = session
        self._timeouts = self.nodemanager.timeout_watch
        if self._timeouts is not None:
            # Clock each worker's tests (only then: the plain handler is
            # the hot path).
            self._handlers[_core.EV_COMPLETE] = self.worker_runtest_protocol_complete_timed
        self._live = self.nodemanager.live_output
        if self._live is not None:
            # -s: a test's output is shown before its result (same reason).
            self._handlers[_core.EV_LOGSTART] = self.worker_logstart_live
            self._handlers[_core.EV_TESTREPORT] = self.worker_testreport_live

    @pytest.hookimpl
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        nm = self.nodemanager
        if nm is not None:
            if self._interrupted:
                nm.teardown_nodes(INTERRUPT_EXIT_TIMEOUT, interrupt_after=INTERRUPT_WORKERS_AFTER)
            else:
                nm.teardown_nodes()
        self._restore_sigterm_handler()
        if self._timings is not None:
            # Also after a crash or an interruption: only tests a worker
            # finished and reported are counted.
            sched = self.sched
            self._timings.store(self.config, None if sched is None else getattr(sched, "collection", None))
        if self._internal_error and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            # pytest-xdist exits 0 here; a run that hit an internal error
            # in a worker must not look green.
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
        self._session = None

    @pytest.hookimpl
    def pytest_collection(self) -> bool:
        return True  # the controller never collects

    @pytest.hookimpl(trylast=True)
    def pytest_xdist_getremotemodule(self) -> Any:
        import xdist_c.launch.remote

        return xdist_c.launch.remote

    @pytest.hookimpl(trylast=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Producer) -> Scheduling | None:
        factory = SCHEDULERS.get(config.getvalue("dist"))
        return None if factory is None else factory(config, log)

    @pytest.hookimpl
    def pytest_runtestloop(self) -> bool:
        self.sched = self.config.hook.pytest_xdist_make_scheduler(config=self.config, log=self.log)
        assert self.sched is not None
        if self._duration_off is None and isinstance(self.sched, _core._SchedulerBase):
            self._durations = durations.load(self.config)
            if self._durations:
                self.sched.set_durations(self._durations)
        self.shouldstop = False
        try:
            with self.controller_gc.relaying():
                while not self.session_finished:
                    self.loop_once()
        except KeyboardInterrupt:
            self._interrupted = True
            raise
        if self._stopped:
            self._not_run = limits.count_not_run(self.sched)
        if self.shouldstop:
            self._interrupted = True
            raise Interrupted(str(self.shouldstop))
        return True

    def _linger(self) -> float:
        """How long the next wait lets more events arrive (EVENT_LINGER):
        none once some node is short of tests, or with a scheduler of a
        plugin's, whose queues are not known."""
        shortest = getattr(self.sched, "shortest_queue", None)
        if isinstance(shortest, int) and shortest >= LINGER_MIN_QUEUE:
            return EVENT_LINGER
        return 0.0

    def loop_once(self) -> None:
        """Wait for the next batch of events and process all of it."""
        while True:
            if not self._active_nodes:
                self.triggershutdown()
                raise RuntimeError("Unexpectedly no active workers available")
            watch = self._timeouts
            linger = self._linger()
            if watch is None:
                events = self.pump.get(2.0, linger=linger)
            else:
                events = self.pump.get(watch.wait_time(self._active_nodes), linger=linger)
                watch.check(self.sched, self._active_nodes)
            if events:
                break
        sched = self.sched
        assert sched is not None
        for slot, kind, payload in events:
            node = self._slots[slot]
            if node._down:
                # Whatever a worker sent after it was declared down (it was
                # killed for sending malformed data, its finish was already
                # handled) is not trusted: its tests are reported as crashed
                # or run elsewhere.
                continue
            handler = self._handlers.get(kind)
            if handler is None:  # a command kind, sent the wrong way
                self.worker_badframe(node, f"unexpected event kind {kind}")
            else:
                handler(node, payload)
            if self.shouldstop or sched.tests_finished:
                self.triggershutdown()

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.config.option.verbose >= 0 and self._summary_report:
            terminalreporter.write_sep("=", f"xdist: {self._summary_report}")
        if self._not_run:
            tests = "test" if self._not_run == 1 else "tests"
            failures = "failure" if self.countfailures == 1 else "failures"
            terminalreporter.write_sep(
                "=", f"{self._not_run} {tests} not run: stopped after {self.countfailures} {failures}", yellow=True
            )

    # ------------------------------------------------------ worker event handlers

    def worker_workerready(self, node: WorkerController, workerinfo: dict[str, Any]) -> None:
        node.workerinfo = workerinfo
        workerinfo["id"] = node.gateway.id
        workerinfo["spec"] = node.gateway.spec
        self.config.hook.pytest_testnodeready(node=node)
        if self.shuttingdown:
            node.shutdown()
        else:
            assert self.sched is not None
            self.sched.add_node(node)

    def worker_collectionstart(self, node: WorkerController, payload: None) -> None:
        pass

    def worker_collectionfinish(self, node: WorkerController, payload: dict[str, Any]) -> None:
        again = payload.get("again")
        if again is not None:  # even when shutting down: it stopped early
            self._collected_again(node, again)
            return
        self._collected_nodes.add(node)
        split_off = payload.get("split_off")
        if isinstance(split_off, str) and self._split_off is None:
            self._split_off = split_off
        if self.shuttingdown:
            return
        layout = payload.get("split")
        if layout is None:
            self._accept_collection(node, payload["ids"])
            return
        # A block of the files (xdist_c.speedups.split): wait for the whole collection.
        join = self._joined
        joined_before = join.ids is not None
        own, problem = join.add(node.gateway.id, layout)
        if problem is not None:
            self.log(problem)
            if joined_before:
                # A replacement that collected something else: the
                # scheduler compares, logs it and gives it no work.
                self._accept_collection(node, own)
                return
            report = pytest.CollectReport(node.gateway.id, "failed", longrepr=problem, result=[])
            self.config.hook.pytest_collectreport(report=report)
            self.triggershutdown()
            return
        join.waiting.append(node)
        if join.ids is None:
            if self.terminal:
                self.trdist.setstatus(node.gateway.spec, WorkerStatus.CollectionDone, tests_collected=len(own))
            return
        ready, join.waiting = join.waiting, []
        assert join.frame is not None
        for n in ready:  # the table must reach them before any test index
            n.send_frame(join.frame)
        set_home = getattr(self.sched, "set_home", None)  # not in custom schedulers
        for n in ready:
            if n._down:
                continue
            home = join.home(n.gateway.id)
            if home is not None and set_home is not None and self.sched is not None and n in self.sched.nodes:
                # It sees these tests first: it has their files collected.
                set_home(n, *home)
            self._accept_collection(n, join.ids)

    def _collected_again(self, node: WorkerController, again: list[Any]) -> None:
        """A split worker collected a file another worker collected first and
        found other tests: reported like differing collections, and the
        run stops (no test of that file can be trusted to be the one meant)."""
        number, ids = again
        join = self._joined
        expected = join.files.get(number) if isinstance(number, int) else None
        if expected is None or not isinstance(ids, list):
            self.worker_badframe(node, "unexpected collection message")
            return
        msg = report_collection_diff(expected, ids, join.owner(number), node.gateway.id)
        if msg is None:
            return
        self.log(msg)
        report = pytest.CollectReport(node.gateway.id, "failed", longrepr=msg, result=[])
        self.config.hook.pytest_collectreport(report=report)
        self.triggershutdown()
        # It stopped: what it was sent stays unrun, as after any
        # collection error (nothing runs once one is seen).
        assert self.sched is not None
        if node in self.sched.nodes:
            self.sched.remove_node(node)

    def _accept_collection(self, node: WorkerController, ids: list[str]) -> None:
        """Hand a worker's whole collection to the scheduler."""
        self.config.hook.pytest_xdist_node_collection_finished(node=node, ids=ids)
        assert self._session is not None and self.sched is not None
        self._session.testscollected = len(ids)
        self._collected_ids = ids
        if node in self.sched.nodes:
            self.sched.add_node_collection(node, ids)
        # else it became ready while the session was shutting down (so it was
        # told to stop and never added) and a crash has re-opened the
        # session since, or the scheduler already let it go.
        if self.terminal:
            self.trdist.setstatus(node.gateway.spec, WorkerStatus.CollectionDone, tests_collected=len(ids))
        if self.sched.collection_is_completed:
            if self.terminal and not self.sched.has_pending:
                self.trdist.ensure_show_status()
                self.terminal.write_line("")
                if self.config.option.verbose > 0:
                    self.terminal.write_line(f"scheduling tests via {type(self.sched).__name__}")
                    self.terminal.write_line(self._speed_features_line())
            self.sched.schedule()

    def worker_logstart(self, node: WorkerController, payload: tuple[str, Any]) -> None:
        nodeid, location = payload
        self._relay(self._logstart_hook, {"nodeid": nodeid, "location": location})

    def worker_logstart_live(self, node: WorkerController, payload: tuple[str, Any]) -> None:
        node.tests_started += 1
        self.worker_logstart(node, payload)

    def worker_testreport_live(self, node: WorkerController, data: dict[str, Any]) -> None:
        assert self._live is not None
        self._live.caught_up(node.gateway.id, node.tests_started)
        self.worker_testreport(node, data)

    def worker_logfinish(self, node: WorkerController, payload: tuple[str, Any]) -> None:
        nodeid, location = payload
        self._relay(self._logfinish_hook, {"nodeid": nodeid, "location": location})

    def worker_testreport(self, node: WorkerController, data: dict[str, Any]) -> None:
        if self._timings is not None:
            self._timings.add(data.get("nodeid"), data.get("duration"))
        longrepr = data.get("longrepr")
        if self._plain_reports and data.get("$report_type") == "TestReport" and not isinstance(longrepr, dict):
            # What pytest's own hook would do for this data, minus the hook
            # call: only a structured (dict) longrepr needs rebuilding.
            if _parse_node_id is not None:
                # pytest >= 9.2 parses the nodeid of every report; the
                # reports of one test arrive together and can share it.
                nodeid = data["nodeid"]
                if nodeid != self._last_node_id_text:
                    self._last_node_id_text = nodeid
                    self._last_node_id = _parse_node_id(nodeid)
                data["nodeid"] = self._last_node_id
            rep = pytest.TestReport(**data)
        else:
            rep = self.config.hook.pytest_report_from_serializable(config=self.config, data=data)
        rep.node = node  # type: ignore[attr-defined]
        self._relay(self._logreport_hook, {"report": rep})
        self._handlefailures(rep)

    def worker_runtest_protocol_complete(self, node: WorkerController, payload: tuple[int, float]) -> None:
        item_index, duration = payload
        assert self.sched is not None
        self.sched.mark_test_complete(node, item_index, duration)

    def worker_runtest_protocol_complete_timed(self, node: WorkerController, payload: tuple[int, float]) -> None:
        # --test-timeout: the worker's next test starts about now.
        node.last_done = time.monotonic()
        self.worker_runtest_protocol_complete(node, payload)

    def worker_unscheduled(self, node: WorkerController, indices: Sequence[int]) -> None:
        assert self.sched is not None
        self.sched.remove_pending_tests_from_node(node, indices)

    def worker_collectreport(self, node: WorkerController, data: dict[str, Any]) -> None:
        # A split worker reports a failure in its own files once for every
        # worker that would have collected them (xdist_c.speedups.split).
        copies = self._copies(data)
        for _ in range(copies - 1):
            self._collectreport(copy.deepcopy(data))  # pytest rewrites the dict
        self._collectreport(data)

    def _copies(self, data: dict[str, Any]) -> int:
        """How many times to report a worker's collection report or warning
        (the key is dropped from it): at most once per worker."""
        copies = data.pop(COPIES_KEY, 1)
        if type(copies) is not int or not 1 <= copies <= len(self._slots):
            return 1
        return copies

    def _collectreport(self, data: dict[str, Any]) -> None:
        rep = self.config.hook.pytest_report_from_serializable(config=self.config, data=data)
        if rep.passed:
            return
        # The same failure usually comes from every worker: report it once.
        try:
            seen = rep.longrepr in self._failed_collection_errors
        except TypeError:
            seen = False
        if not seen:
            try:
                self._failed_collection_errors[rep.longrepr] = True
            except TypeError:
                pass
            self.config.hook.pytest_collectreport(report=rep)
            self._handlefailures(rep)

    def worker_warning_recorded(self, node: WorkerController, payload: dict[str, Any]) -> None:
        for _ in range(self._copies(payload)):
            warning_message = unserialize_warning_message(payload["warning_message_data"])
            self.config.hook.pytest_warning_recorded.call_historic(
                kwargs={
                    "warning_message": warning_message,
                    "when": payload["when"],
                    "nodeid": payload["nodeid"],
                    "location": payload["location"],
                }
            )

    def worker_workerfinished(self, node: WorkerController, workeroutput: dict[str, Any]) -> None:
        node._down = True
        node.workeroutput = workeroutput
        self.config.hook.pytest_testnodedown(node=node, error=None)
        if workeroutput.get("exitstatus") == 2:  # KeyboardInterrupt in the worker
            self.shouldstop = f"{node} received keyboard-interrupt"
            self.worker_errordown(node, "keyboard-interrupt")
            return
        for should in (workeroutput.get("shouldfail"), workeroutput.get("shouldstop")):
            if should:
                if not self.shouldstop:
                    self.shouldstop = should
                break
        else:
            assert self.sched is not None
            if node in self.sched.nodes and not self._stopped:
                crashitem = self.sched.remove_node(node)
                assert not crashitem, (crashitem, node)
            # else it dropped what it was sent: the scheduler keeps those
            # tests, counted as not run.
        self._active_nodes.discard(node)

    def worker_internal_error(self, node: WorkerController, formatted_error: str) -> None:
        self._internal_error = True
        self._active_nodes.discard(node)
        try:
            raise AssertionError(formatted_error)
        except AssertionError:
            excinfo = pytest.ExceptionInfo.from_current()
            excrepr = excinfo.getrepr()
            self.config.hook.pytest_internalerror(excrepr=excrepr, excinfo=excinfo)

    def worker_channel_closed(self, node: WorkerController, payload: None) -> None:
        if node._down:
            return
        error: object = execnet_compat.remote_error(node.channel)
        if node.timed_out is not None:
            error = "killed after a test timeout"
        elif not error or isinstance(error, EOFError):
            error = "Not properly terminated"
            # The process is gone (or going): say how it ended.
            node.crash_cause = node.exit_cause()
        self.worker_errordown(node, error)

    def worker_badframe(self, node: WorkerController, message: str) -> None:
        if node._down:
            return
        node.kill()
        error = f"sent malformed data: {message}"
        node.crash_cause = error
        self.worker_errordown(node, error)

    def worker_errordown(self, node: WorkerController, error: object) -> None:
        """A worker died (or was stopped for misbehaving)."""
        node._down = True
        self.config.hook.pytest_testnodedown(node=node, error=error)
        assert self.sched is not None
        try:
            crashitem = self.sched.remove_node(node)
        except KeyError:
            pass  # it never became ready
        else:
            if crashitem and node not in self._collected_nodes:
                # A worker that dies before its collection came never
                # started a test.  (The schedulers send no tests to a node
                # whose collection they have not accepted, so this is only a
                # safety net; pytest-xdist's load and worksteal do send.)
                try:
                    self.sched.mark_test_pending(crashitem)
                except NotImplementedError:
                    pass
                else:
                    crashitem = None
            if crashitem:
                self.handle_crashitem(crashitem, node)

        if node.timed_out is None:  # timeouts are not crashes
            self._failed_nodes_count += 1
        maximum = self._max_worker_restart
        if self._stopped:
            pass  # -x/--maxfail: nothing more runs, no replacement needed
        elif maximum is not None and self._failed_nodes_count > maximum:
            if maximum == 0:
                msg = f"worker {node.gateway.id} crashed and worker restarting disabled"
            else:
                msg = f"maximum crashed workers reached: {maximum}"
            self._summary_report = msg
            self.report_line("\n" + msg)
            self.triggershutdown()
        else:
            if node.timed_out is not None:
                self.report_line(f"\nreplacing worker {node.gateway.id} (killed after a test timeout)")
            else:
                self.report_line(f"\nreplacing crashed worker {node.gateway.id}")
            self.shuttingdown = False
            self._clone_node(node)
        self._active_nodes.discard(node)

    # ---------------------------------------------------------------- helpers

    def _install_sigterm_handler(self) -> None:
        """While workers run, SIGTERM (by default fatal at once, with or
        without xdist) first stops the workers, which would otherwise keep
        running their current test for a while after the controller died."""
        self._sigterm_installed = False
        if sys.platform == "win32" or threading.current_thread() is not threading.main_thread():
            return
        try:
            if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
                return  # someone else handles it: leave it to them
            signal.signal(signal.SIGTERM, self._on_sigterm)
        except (ValueError, OSError):  # pragma: no cover - not the main interpreter
            return
        self._sigterm_installed = True

    def _restore_sigterm_handler(self) -> None:
        if self._sigterm_installed:
            self._sigterm_installed = False
            if signal.getsignal(signal.SIGTERM) == self._on_sigterm:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def _on_sigterm(self, signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if self.nodemanager is not None:
            self.nodemanager.kill_workers(signal.SIGTERM, SIGTERM_WORKER_GRACE)
        # Then end as pytest does without xdist: killed by the signal.
        os.kill(os.getpid(), signal.SIGTERM)
        os._exit(128 + signal.SIGTERM)  # pragma: no cover - not reached

    def _clone_node(self, node: WorkerController) -> WorkerController:
        spec = node.gateway.spec
        spec.id = None
        assert self.nodemanager is not None
        try:
            clone = self.nodemanager.setup_node(spec, self.pump, self._assign_slot)
        except WorkerStartError as e:
            self._interrupted = True
            pytest.exit(str(e), pytest.ExitCode.INTERNAL_ERROR)
        self._active_nodes.add(clone)
        return clone

    def _handlefailures(self, rep: pytest.CollectReport | pytest.TestReport) -> None:
        if rep.failed:
            self.countfailures += 1
            if self.maxfail and self.countfailures >= self.maxfail and not self.shouldstop:
                self.shouldstop = f"stopping after {self.countfailures} failures"
                if self._stop_queued and self.sched is not None:
                    # No new test starts on any worker from now on.
                    self._stopped = True
                    for node in self.sched.nodes:
                        node.send_stop()

    def triggershutdown(self) -> None:
        if not self.shuttingdown:
            self.log("triggering shutdown")
            self.shuttingdown = True
            assert self.sched is not None
            for node in self.sched.nodes:
                node.shutdown()

    def handle_crashitem(self, nodeid: str, worker: WorkerController) -> None:
        fspath = nodeid.split("::")[0]
        timed_out = getattr(worker, "timed_out", None)
        if timed_out is not None:  # killed by --test-timeout (xdist_c.controller.limits)
            msg = timed_out
        else:
            msg = f"worker {worker.gateway.id!r} crashed while running {nodeid!r}"
            # How it died and its last words, when known.
            cause = getattr(worker, "crash_cause", None)
            if cause:
                msg += f" ({cause})"
            get_tail = getattr(worker, "stderr_tail", None)
            tail = get_tail(STDERR_DRAIN_WAIT if cause else 0.0) if get_tail else ""
            if tail:
                msg += f"\n\nlast stderr lines of worker {worker.gateway.id!r}:\n{tail}"
        rep = pytest.TestReport(
            nodeid=nodeid,
            # (a timed-out test's failure is headed by its name)
            location=(fspath, None, fspath if timed_out is None else nodeid.partition("::")[2] or fspath),
            keywords={},
            outcome="failed",
            longrepr=msg,
            when="???",  # type: ignore[arg-type]
        )
        rep.node = worker  # type: ignore[attr-defined]
        self.config.hook.pytest_handlecrashitem(crashitem=nodeid, report=rep, sched=self.sched)
        self.config.hook.pytest_runtest_logreport(report=rep)
        if timed_out is not None:
            self._handlefailures(rep)  # a timeout counts towards --maxfail


def unserialize_warning_message(data: dict[str, Any]) -> warnings.WarningMessage:
    """Rebuild a worker's warning; unknown classes degrade to ``Warning``."""
    import importlib

    message: Any
    if data["message_module"]:
        mod = importlib.import_module(data["message_module"])
        cls = getattr(mod, data["message_class_name"])
        message = None
        if data["message_args"] is not None:
            try:
                message = cls(*data["message_args"])
            except TypeError:
                pass
        if message is None:
            message = Warning(f"{data['message_module']}.{data['message_class_name']}: {data['message_str']}")
    else:
        message = data["message_str"]

    if data["category_module"]:
        mod = importlib.import_module(data["category_module"])
        category = getattr(mod, data["category_class_name"])
    else:
        category = None

    kwargs = {"message": message, "category": category}
    for name in warnings.WarningMessage._WARNING_DETAILS:  # type: ignore[attr-defined]
        if name in ("message", "category"):
            continue
        kwargs[name] = data.get(name)
    return warnings.WarningMessage(**kwargs)


class WorkerStatus(Enum):
    """Start-up state of one worker, for the status line."""

    Created = auto()
    Initialized = auto()
    ReadyForCollection = auto()
    CollectionDone = auto()


class TerminalDistReporter:
    """Prints ``created: N/N workers`` ... ``N workers [M items]``."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.tr = config.pluginmanager.getplugin("terminalreporter")
        self._status: dict[object, tuple[WorkerStatus, int]] = {}
        self._lastlen = 0
        self._isatty = getattr(self.tr, "isatty", self.tr.hasmarkup)

    def write_line(self, msg: str) -> None:
        self.tr.write_line(msg)

    def ensure_show_status(self) -> None:
        if not self._isatty:
            self.write_line(self.getstatus())

    def setstatus(self, spec: Any, status: WorkerStatus, *, tests_collected: int, show: bool = True) -> None:
        self._status[spec.id] = (status, tests_collected)
        if show and self._isatty:
            self.rewrite(self.getstatus())

    def getstatus(self) -> str:
        if self.config.option.verbose >= 0:
            line = get_workers_status_line(list(self._status.values()))
            if line:
                return line
        return "bringing up nodes..."

    def rewrite(self, line: str, newline: bool = False) -> None:
        pline = line + " " * max(self._lastlen - len(line), 0)
        if newline:
            self._lastlen = 0
            pline += "\n"
        else:
            self._lastlen = len(line)
        self.tr.rewrite(pline, bold=True)

    @pytest.hookimpl
    def pytest_xdist_setupnodes(self, specs: Sequence[Any]) -> None:
        for spec in specs:
            self.setstatus(spec, WorkerStatus.Created, tests_collected=0, show=False)
        if specs:
            self.setstatus(specs[-1], WorkerStatus.Created, tests_collected=0, show=True)
        self.ensure_show_status()

    @pytest.hookimpl
    def pytest_xdist_newgateway(self, gateway: Any) -> None:
        if self.config.option.verbose > 0:
            rinfo = execnet_compat.remote_info(gateway)
            if rinfo.executable != sys.executable:
                version = "{}.{}.{}".format(*rinfo.version_info[:3])
                self.rewrite(f"[{gateway.id}] {rinfo.platform} Python {version} cwd: {rinfo.cwd}", newline=True)
        self.setstatus(gateway.spec, WorkerStatus.Initialized, tests_collected=0)

    @pytest.hookimpl
    def pytest_testnodeready(self, node: WorkerController) -> None:
        if self.config.option.verbose > 0:
            info = node.workerinfo
            if info.get("executable") != sys.executable:
                version = info["version"].replace("\n", " -- ")
                self.rewrite(f"[{info['id']}] Python {version}", newline=True)
        self.setstatus(node.gateway.spec, WorkerStatus.ReadyForCollection, tests_collected=0)

    @pytest.hookimpl
    def pytest_testnodedown(self, node: WorkerController, error: object) -> None:
        if error:
            line = f"[{node.gateway.id}] node down: {error}"
            cause = getattr(node, "crash_cause", None)
            if cause and cause not in line:
                line += f" ({cause})"
            self.write_line(line)


def get_default_max_worker_restart(config: pytest.Config) -> int | None:
    """``--max-worker-restart``, else 4 x ``-n``, else unlimited (None)."""
    value: str | None = config.option.maxworkerrestart
    if value is not None:
        return int(value)
    if config.option.numprocesses:
        return int(config.option.numprocesses) * 4
    return None


def get_workers_status_line(status_and_items: Sequence[tuple[WorkerStatus, int]]) -> str:
    """The start-up status line for the given worker states."""
    statuses = [status for status, _ in status_and_items]
    total = len(statuses)
    workers = "worker" if total == 1 else "workers"
    if statuses and all(s == WorkerStatus.CollectionDone for s in statuses):
        collected = status_and_items[0][1]
        items = "item" if collected == 1 else "items"
        return f"{total} {workers} [{collected} {items}]"
    if WorkerStatus.CollectionDone in statuses:
        done = sum(1 for _, count in status_and_items if count > 0)
        return f"collecting: {done}/{total} {workers}"
    for status, word in (
        (WorkerStatus.ReadyForCollection, "ready"),
        (WorkerStatus.Initialized, "initialized"),
        (WorkerStatus.Created, "created"),
    ):
        if status in statuses:
            return f"{word}: {statuses.count(status)}/{total} {workers}"
    return ""
