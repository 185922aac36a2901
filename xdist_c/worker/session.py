"""The worker side: a pytest session driven by the controller's commands.

Events are batched into frames (``xdist_c._core.FrameWriter``) instead of one
channel message per event: all events of one test (logstart, its reports,
warnings, logfinish, completion) travel as one frame, sent as soon as the
test is complete and before the next one starts.  So a worker that dies
loses nothing of the tests it finished, and the controller attributes the
crash to the test that was running.  Start-up and finish events are sent at
once.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable
from collections.abc import Generator
from collections.abc import Sequence
from typing import Any

import pytest

from xdist_c import _core
from xdist_c._compat import pytest as pytest_compat
from xdist_c.controller import limits
from xdist_c.launch import forkserver
from xdist_c.speedups import sourcecache
from xdist_c.speedups._fastpath import only_pytest_implements
from xdist_c.speedups._fastpath import report_to_json
from xdist_c.speedups.exitgc import skip_exit_collection
from xdist_c.speedups.split import COPIES_KEY
from xdist_c.speedups.split import CollectionMismatch
from xdist_c.speedups.split import SplitCollection
from xdist_c.worker import distinfo
from xdist_c.worker.liveoutput import StdoutRelay

try:
    from setproctitle import setproctitle as _setproctitle
except ImportError:  # pragma: no cover - optional
    _setproctitle = None

# Send a batch early once it is this large (bytes), e.g. huge output.
FLUSH_BYTES = 256 * 1024

_SHUTDOWN = -1

NO_SUMMARY_KEEPS_PLUGINS = tuple(int(p) for p in pytest.__version__.split(".")[:2]) >= (9, 2)


def _title(text: str) -> None:
    if _setproctitle is not None:
        try:
            _setproctitle(text)
        except Exception:  # pragma: no cover - cosmetic only
            pass


class CommandQueue:
    """Item indices to run, fed by the channel's receiver thread."""

    def __init__(self) -> None:
        self._items: deque[int] = deque()
        self._cond = threading.Condition()
        self._stopped = False

    def put_many(self, indices: Sequence[int]) -> None:
        with self._cond:
            if self._stopped:
                return
            self._items.extend(indices)
            self._cond.notify()

    def steal(self, indices: Sequence[int]) -> list[int]:
        """Remove all of ``indices`` if all are still queued, else none."""
        wanted = set(indices)
        with self._cond:
            present = [i for i in self._items if i in wanted]
            if len(present) != len(wanted):
                return []
            self._items = deque(i for i in self._items if i not in wanted)
            return present

    def stop(self) -> None:
        """Drop every queued index and end the run loop (CMD_STOP); later
        tests sent are ignored."""
        with self._cond:
            self._stopped = True
            self._items.clear()
            self._items.append(_SHUTDOWN)
            self._cond.notify()

    def try_get(self) -> int | None:
        with self._cond:
            return self._items.popleft() if self._items else None

    def get(self) -> int:
        with self._cond:
            while not self._items:
                self._cond.wait()
            return self._items.popleft()


class WorkerInteractor:
    """Plugin registered in the worker's pytest; relays its events."""

    def __init__(
        self,
        config: pytest.Config,
        channel: Any,
        event_pipe: str | None = None,
        split: tuple[int, int] | None = None,
    ) -> None:
        self.config = config
        self.channel = channel
        # Frames go to the controller's event pipe when it gave us one (a
        # local worker): one write() per frame, no execnet in between.
        self._pipe_fd = -1
        if event_pipe:
            self._pipe_fd = os.open(event_pipe, os.O_WRONLY | os.O_CLOEXEC)
            forkserver.own_descriptor(self._pipe_fd)
        self._send_lock = threading.Lock()
        workerinput = config.workerinput  # type: ignore[attr-defined]
        self.workerid: str = workerinput.get("workerid", "?")
        self.testrunuid: str = workerinput["testrunuid"]
        self.writer = _core.FrameWriter()
        self.torun = CommandQueue()
        # Set by the receiver thread on CMD_STOP (-x/--maxfail reached on the
        # controller): the test running finishes, no other one starts.
        self.stopped = threading.Event()
        self.item_index = -1
        self.debug = bool(config.option.debug)
        self._plain_reports = only_pytest_implements(config, "pytest_report_to_serializable")
        config.pluginmanager.register(self, "xdist_c.worker")
        # -s: descriptor 1 relayed to the controller (xdist_c.worker.liveoutput).
        self.stdout_relay: StdoutRelay | None = None
        # Collect only a block of the files (see xdist_c.speedups.split) when told to.
        self.split: SplitCollection | None = None
        if split is not None:
            self.split = SplitCollection(config, *split)
            config.pluginmanager.register(self.split, "xdist_c.split")

    # ------------------------------------------------------------ sending

    def log(self, *args: object) -> None:
        if self.debug:
            print(f"[worker-{self.workerid}]", *args, file=sys.stderr)

    def send_frame(self, frame: bytes) -> None:
        """Send one encoded frame (main or receiver thread)."""
        if self._pipe_fd < 0:
            self.channel.send(frame)
            return
        with self._send_lock:
            view = memoryview(frame)
            while view:
                view = view[os.write(self._pipe_fd, view) :]

    def flush(self) -> None:
        if len(self.writer):
            self.send_frame(self.writer.take())

    def send(self, kind: int, payload: object, *, now: bool = False) -> None:
        self.writer.add(kind, payload)
        if now or self.writer.nbytes >= FLUSH_BYTES:
            self.flush()

    # ----------------------------------------------------------- commands

    def handle_command(self, frame: object) -> None:
        """Channel callback (receiver thread): queue the controller's
        commands.  The endmarker (or anything unreadable) means shut down."""
        if not isinstance(frame, bytes):
            self.torun.put_many([_SHUTDOWN])
            return
        for kind, payload in _core.decode_frame(frame):
            if kind == _core.CMD_RUNTESTS:
                self.torun.put_many(payload)
            elif kind == _core.CMD_RUNTESTS_ALL:
                total = self.split.total if self.split is not None else len(self.session.items)
                self.torun.put_many(range(total))
            elif kind == _core.CMD_STEAL:
                stolen = self.torun.steal(payload)
                # Sent from the receiver thread: the main thread may be
                # busy in a long test; the channel serializes writes.
                self.send_frame(_core.encode_frame([(_core.EV_UNSCHEDULED, stolen)]))
            elif kind == _core.CMD_SHUTDOWN:
                self.torun.put_many([_SHUTDOWN])
            elif kind == _core.CMD_STOP:
                self.stopped.set()
                self.torun.stop()
            elif kind == _core.CMD_COLLECTION and self.split is not None:
                self.split.set_table(payload)

    def next_index(self) -> int:
        index = self.torun.try_get()
        if index is None:
            # About to wait: the controller must see everything first.
            self.flush()
            index = self.torun.get()
        return index

    # -------------------------------------------------------------- hooks

    @pytest.hookimpl
    def pytest_internalerror(self, excrepr: object) -> None:
        formatted = str(excrepr)
        for line in formatted.split("\n"):
            self.log("IERROR>", line)
        self.send(_core.EV_INTERNALERROR, formatted, now=True)

    @pytest.hookimpl(trylast=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        if self.stdout_relay is not None:
            self.stdout_relay.configure_done()

    @pytest.hookimpl
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.session = session
        self.send(_core.EV_WORKERREADY, worker_info(), now=True)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_sessionfinish(self, exitstatus: int) -> Generator[None, None, None]:
        workeroutput = self.config.workeroutput  # type: ignore[attr-defined]
        workeroutput["exitstatus"] = int(exitstatus)
        workeroutput["shouldfail"] = self.session.shouldfail
        workeroutput["shouldstop"] = self.session.shouldstop
        yield
        self.send(_core.EV_WORKERFINISHED, workeroutput, now=True)

    @pytest.hookimpl
    def pytest_collection(self) -> None:
        self.send(_core.EV_COLLECTIONSTART, None)

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        if not config.getvalue("loadgroup"):
            return
        for item in items:
            names: set[str] = set()
            for mark in item.iter_markers("xdist_group"):
                name = mark.args[0] if mark.args else mark.kwargs.get("name", "default")
                names.add(str(name))
            if names:
                _set_nodeid(item, f"{item.nodeid}@{'_'.join(sorted(names))}")

    @pytest.hookimpl
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        payload: dict[str, Any] = {"topdir": str(self.config.rootpath)}
        if self.split is not None and self.split.taken:
            payload["split"] = self.split.layout(session.items)
            payload["ids"] = []
        else:
            if self.split is not None:
                payload["split_off"] = self.split.reason or "not taken"
            self.split = None
            payload["ids"] = [item.nodeid for item in session.items]
        self.send(_core.EV_COLLECTIONFINISH, payload, now=True)

    @pytest.hookimpl
    def pytest_runtestloop(self, session: pytest.Session) -> bool:
        self.log("entering main loop")
        self.channel.setcallback(self.handle_command, endmarker=None)
        index = self.next_index()
        while index != _SHUTDOWN:
            index = self.run_one_test(index)
            if session.shouldfail or session.shouldstop or self.stopped.is_set():
                break
        self.flush()
        return True

    def run_one_test(self, index: int) -> int:
        """Run item ``index``; return the index after it (fetched first so
        fixtures are torn down knowing what runs next)."""
        self.item_index = index
        next_index = self.next_index()
        item_at: Callable[[int], pytest.Item]
        if self.split is not None:
            item_at = self.split.item
        else:
            item_at = self.session.items.__getitem__
        try:
            item = item_at(index)
            nextitem = None if next_index == _SHUTDOWN else item_at(next_index)
        except CollectionMismatch as e:
            # The controller reports it as pytest-xdist reports differing
            # collections, and stops the run; this worker runs nothing more.
            self.send(_core.EV_COLLECTIONFINISH, {"again": [e.number, e.ids]}, now=True)
            return _SHUTDOWN
        if self.stopped.is_set():  # -x/--maxfail reached meanwhile
            return _SHUTDOWN
        _title(f"[pytest-xdist running] {item.nodeid}")
        start = time.perf_counter()
        self.config.hook.pytest_runtest_protocol(item=item, nextitem=nextitem)
        duration = time.perf_counter() - start
        _title("[pytest-xdist idle]")
        if self.stdout_relay is not None:
            self.stdout_relay.drain()  # -s: the test's output goes first
        # One frame per test: it must leave this process before the next
        # test can crash it.
        self.send(_core.EV_COMPLETE, (index, duration), now=True)
        return next_index

    @pytest.hookimpl
    def pytest_runtest_logstart(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        self.send(_core.EV_LOGSTART, (nodeid, location))

    @pytest.hookimpl
    def pytest_runtest_logfinish(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        self.send(_core.EV_LOGFINISH, (nodeid, location))

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self._plain_reports:
            # what pytest's own (and only) impl of the hook returns
            data = report_to_json(report)
            data["$report_type"] = type(report).__name__
        else:
            data = self.config.hook.pytest_report_to_serializable(config=self.config, report=report)
        data["item_index"] = self.item_index
        data["worker_id"] = self.workerid
        data["testrun_uid"] = self.testrunuid
        self.send(_core.EV_TESTREPORT, data)

    @pytest.hookimpl
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        # Passing collection reports carry nothing the controller needs;
        # nor does collecting again a file another worker collected first.
        if not report.passed and not (self.split is not None and self.split.again):
            data = self.config.hook.pytest_report_to_serializable(config=self.config, report=report)
            self._mark_copies(data)
            self.send(_core.EV_COLLECTREPORT, data)

    @pytest.hookimpl
    def pytest_warning_recorded(
        self,
        warning_message: warnings.WarningMessage,
        when: str,
        nodeid: str,
        location: tuple[str, int, str] | None,
    ) -> None:
        if when == "collect" and self.split is not None and self.split.again:
            return  # the file's first collector sent it
        payload = {
            "warning_message_data": serialize_warning_message(warning_message),
            "when": when,
            "nodeid": nodeid,
            "location": location,
        }
        if when == "collect":
            self._mark_copies(payload)
        self.send(_core.EV_WARNING, payload)

    def _mark_copies(self, payload: dict[str, Any]) -> None:
        """Tell the controller to report this once per worker when a split
        worker sends it for its own files (SplitCollection.copies)."""
        copies = self.split.copies() if self.split is not None else 1
        if copies > 1:
            payload[COPIES_KEY] = copies


def _set_nodeid(item: pytest.Item, nodeid: str) -> None:
    """Give ``item`` another nodeid.  pytest 9.2 derives ``nodeid`` from a
    structured ``_id`` (whose parse keeps the exact string); before that it
    was the ``_nodeid`` attribute."""
    pytest_compat.set_item_nodeid(item, nodeid)


def _encodable(value: object) -> bool:
    try:
        _core.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def serialize_warning_message(warning_message: warnings.WarningMessage) -> dict[str, Any]:
    """A plain dict from which the controller rebuilds the warning."""
    message = warning_message.message
    if isinstance(message, Warning):
        data: dict[str, Any] = {
            "message_str": str(message),
            "message_module": type(message).__module__,
            "message_class_name": type(message).__name__,
            "message_args": message.args if _encodable(message.args) else None,
        }
    else:
        data = {
            "message_str": message,
            "message_module": None,
            "message_class_name": None,
            "message_args": None,
        }
    category = warning_message.category
    data["category_module"] = category.__module__ if category else None
    data["category_class_name"] = category.__name__ if category else None
    for name in warning_message._WARNING_DETAILS:  # type: ignore[attr-defined]
        if name in ("message", "category"):
            continue
        value = getattr(warning_message, name)
        data[name] = value if _encodable(value) else repr(value)
    return data


def worker_info() -> dict[str, Any]:
    import platform

    return {
        "version": sys.version,
        "version_info": tuple(sys.version_info),
        "sysplatform": sys.platform,
        "platform": platform.platform(),
        "executable": sys.executable,
        "cwd": os.getcwd(),
    }


def _setup_config(config: pytest.Config, basetemp: str | None) -> None:
    config.option.loadgroup = config.getvalue("dist") == "loadgroup"
    config.option.looponfail = False
    config.option.usepdb = False
    config.option.dist = "no"
    config.option.distload = False
    config.option.numprocesses = None
    config.option.maxprocesses = None
    config.option.basetemp = basetemp
    # A worker's terminal output is never shown (execnet points its stdout
    # at a temporary file) and the controller prints the run's summary:
    # pytest's own summary sections (FAILURES, ERRORS, the short test
    # summary, ...) would only format every failure again for nobody.
    # From pytest 9.2 on, --no-summary skips just those sections (plugins'
    # pytest_terminal_summary still run); before, it skipped the plugins too.
    if NO_SUMMARY_KEEPS_PLUGINS:
        config.option.no_summary = True


def run_worker(channel: Any, config: pytest.Config, workerinput: dict[str, Any], option_dict: dict[str, Any]) -> None:
    """Entry point, called by the bootstrap in :mod:`xdist_c.launch.remote`."""
    _setup_config(config, option_dict.get("basetemp"))
    # This process exits when the session ends: skip the last collection
    # (the controller waits for workers to exit).
    skip_exit_collection(config)
    sourcecache.install()
    distinfo.install()
    pytest_compat.set_parser_prog(config, os.path.basename(workerinput["mainargv"][0]))
    config.workerinput = workerinput  # type: ignore[attr-defined]
    config.workeroutput = {}  # type: ignore[attr-defined]
    stack_path = option_dict.get(limits.WORKER_OPTION)
    if stack_path is not None:
        limits.arm_worker(stack_path)
    split = option_dict.get("xdist_c_split")
    interactor = WorkerInteractor(
        config, channel, option_dict.get("xdist_c_event_pipe"), tuple(split) if split else None
    )
    stdout_channel = option_dict.get("xdist_c_stdout")
    if stdout_channel is not None:
        interactor.stdout_relay = StdoutRelay(stdout_channel)
    try:
        config.hook.pytest_cmdline_main(config=config)
    finally:
        distinfo.uninstall()
        if interactor.stdout_relay is not None:
            interactor.stdout_relay.finish()
        interactor.flush()
