"""Worker processes: gateways (execnet) and the controller-side node object.

:class:`NodeManager` creates one execnet gateway per ``--tx`` spec -- all of
them concurrently, so start-up costs about one process spawn, not W -- and a
:class:`WorkerController` per gateway.  A controller's channel feeds the
session's :class:`xdist_c._core.Pump` directly (the pump's feeder is a C
callable, so execnet's receiver thread does no Python work per frame).
How a worker is started (forked, spawned or remote) is decided, and done,
by :mod:`xdist_c.launch.launcher`; a local worker's process itself (its
IO, its stderr, how it ended) is :mod:`xdist_c.launch.process`'s.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import execnet
import pytest

from xdist_c import _core
from xdist_c._compat import execnet as execnet_compat
from xdist_c._compat import pytest as pytest_compat
from xdist_c._startup import SYS_PATH as _sys_path
from xdist_c.controller import limits
from xdist_c.controller import liveoutput
from xdist_c.launch._spec import parse_tx_spec_config
from xdist_c.launch.launcher import Launcher
from xdist_c.launch.launcher import is_local
from xdist_c.launch.launcher import make_xspec
from xdist_c.launch.process import EXIT_STATUS_WAIT
from xdist_c.launch.process import STDERR_DRAIN_WAIT
from xdist_c.launch.process import process_exit_cause
from xdist_c.launch.process import signal_popens
from xdist_c.launch.process import stderr_tail
from xdist_c.speedups.split import SPLIT_MODES

_COMMANDS = {
    "runtests": _core.CMD_RUNTESTS,
    "runtests_all": _core.CMD_RUNTESTS_ALL,
    "steal": _core.CMD_STEAL,
    "shutdown": _core.CMD_SHUTDOWN,
    "stop": _core.CMD_STOP,
}


# setup_nodes() interrupted (Ctrl-C while workers start): how long the
# workers that did connect get to exit.
INTERRUPTED_SETUP_EXIT_TIMEOUT = 2.0


class Producer:
    """A ``--debug`` logger with pytest-xdist's ``log(...)`` interface."""

    def __init__(self, name: str, *, enabled: bool = True) -> None:
        self.name = name
        self.enabled = enabled

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, enabled={self.enabled})"

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        if self.enabled:
            print(f"[{self.name}]", *args, **kwargs, file=sys.stderr)

    def __getattr__(self, name: str) -> Producer:
        return type(self)(name, enabled=self.enabled)


FIFO_SWITCH = "XDIST_C_FIFO"


def fifo_off_reason() -> str | None:
    """Why local workers' events travel over their execnet channel instead
    of a FIFO (None: they use a FIFO).  The one place ``XDIST_C_FIFO`` is
    read: ``XDIST_C_FIFO=0`` (with ``XDIST_C_FORKSERVER=0``) runs the
    portable path of macOS and Windows on Linux."""
    if os.environ.get(FIFO_SWITCH, "1").strip().lower() in ("0", "no", "false", "off"):
        return f"{FIFO_SWITCH} is off"
    if not sys.platform.startswith("linux"):
        return "needs Linux"
    return None


class NodeManager:
    """Owns the execnet group and creates/tears down worker gateways."""

    EXIT_TIMEOUT = 10
    DEFAULT_IGNORES = [".*", "*.pyc", "*.pyo", "*~"]

    def __init__(self, config: pytest.Config, specs: Sequence[str] | None = None) -> None:
        self.config = config
        self.testrunuid: str = config.getoption("testrunuid") or uuid.uuid4().hex
        self.group = execnet.Group(execmodel="main_thread_only")
        for proxy in config.getoption("px") or ():
            spec = execnet.XSpec(proxy)
            if not spec.id:
                raise pytest.UsageError(f"Proxy gateway {proxy} must include an id")
            self.group.makegateway(spec)
        if specs is None:
            specs = parse_tx_spec_config(config)
        self.specs = [make_xspec(s) for s in specs]
        for spec in self.specs:  # ids in spec order: gw0, gw1, ...
            self.group.allocate_id(spec)
        self.roots: list[Any] = []  # rsync is not supported; kept for pytest-cov
        # Starts the workers (xdist_c.launch.launcher); how each one was
        # started, by gateway id ("forked", "spawned", ...).
        self.launcher = Launcher(config, self.group)
        self.started: dict[str, str] = {}
        self.log = Producer("nodemanager", enabled=config.option.debug)
        self._pipedir: str | None = None
        # How many workers were given an event FIFO (for the -v line).
        self.event_fifos = 0
        # -s: what workers print is shown live (xdist_c.controller.liveoutput).
        self.live_output = (
            liveoutput.LiveOutput(config, prefixed=len(self.specs) > 1) if liveoutput.wanted(config) else None
        )
        # --test-timeout (xdist_c.controller.limits): the controller's clocks.
        timeout = limits.configured_timeout(config)
        self.timeout_watch = limits.TimeoutWatch(timeout) if timeout is not None else None
        # Split collection (xdist_c.speedups.split): the first len(specs) workers
        # each collect one block of the files; later ones (replacements)
        # collect all of them, file by file.
        self.split_parts = 0
        if (
            config.getoption("split_collection", "auto") != "off"
            and config.getvalue("dist") in SPLIT_MODES
            and len(self.specs) >= 2
        ):
            self.split_parts = len(self.specs)

    def split_for(self, slot: int) -> tuple[int, int] | None:
        """The ``(part, parts)`` of the files the worker in ``slot`` collects
        first, or None when every worker collects everything."""
        if not self.split_parts:
            return None
        return (slot, self.split_parts) if slot < self.split_parts else (0, 1)

    def event_pipe(self, spec: execnet.XSpec, slot: int) -> tuple[str, int] | None:
        """A FIFO for a local worker to write its frames to, opened for
        reading: ``(path, fd)``; None where the channel must be used (remote
        or proxied workers, platforms without reliable FIFO polling,
        ``XDIST_C_FIFO=0``: see :func:`fifo_off_reason`)."""
        if not is_local(spec) or fifo_off_reason() is not None:
            return None
        if self._pipedir is None:
            self._pipedir = tempfile.mkdtemp(prefix="xdist-c-")
        path = os.path.join(self._pipedir, f"events-{slot}")
        os.mkfifo(path, 0o600)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        self.event_fifos += 1
        return path, fd

    def _makegateway(self, spec: execnet.XSpec) -> execnet.Gateway:
        gateway, how = self.launcher.start_gateway(spec)
        self.started[gateway.id] = how
        return gateway

    def setup_nodes(self, pump: _core.Pump, slot_of: Any) -> list[WorkerController]:
        """Start every worker; ``slot_of(node)`` assigns the pump slot."""
        self.config.hook.pytest_xdist_setupnodes(config=self.config, specs=self.specs)
        try:
            if len(self.specs) > 1:
                pool = ThreadPoolExecutor(max_workers=min(len(self.specs), 64))
                try:
                    gateways = list(pool.map(self._makegateway, self.specs))
                except BaseException:
                    # Ctrl-C, or another worker failed to start: a worker
                    # that never connects holds its thread forever, so kill
                    # those (and any started from now on) before waiting
                    # for the threads.
                    self.launcher.starting.kill_all()
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
                pool.shutdown(wait=True)
            else:
                gateways = [self._makegateway(spec) for spec in self.specs]
        except BaseException as e:
            # pytest won't call sessionfinish: stop what was started.
            interrupted = isinstance(e, KeyboardInterrupt)
            self.teardown_nodes(INTERRUPTED_SETUP_EXIT_TIMEOUT if interrupted else None)
            raise
        return [self._start_node(gateway, pump, slot_of) for gateway in gateways]

    def setup_node(self, spec: execnet.XSpec, pump: _core.Pump, slot_of: Any) -> WorkerController:
        """Start one more worker (a replacement for a crashed one)."""
        self.group.allocate_id(spec)
        return self._start_node(self._makegateway(spec), pump, slot_of)

    def _start_node(self, gateway: execnet.Gateway, pump: _core.Pump, slot_of: Any) -> WorkerController:
        self.config.hook.pytest_xdist_newgateway(gateway=gateway)
        node = WorkerController(self, gateway, self.config)
        gateway.node = node  # type: ignore[attr-defined]
        node.setup(pump, slot_of(node))
        return node

    def teardown_nodes(self, timeout: float | None = None, *, interrupt_after: float | None = None) -> None:
        """Ask every gateway to exit; kill those still there after
        ``timeout`` seconds.  With ``interrupt_after``, worker processes
        still running after that many seconds get a SIGINT first, so a test
        that would run on ends with a KeyboardInterrupt and the worker's
        fixtures are torn down (used when the controller was interrupted:
        workers that shared its Ctrl-C have finished by then)."""
        timeout = self.EXIT_TIMEOUT if timeout is None else timeout
        timer = None
        if interrupt_after is not None and interrupt_after < timeout and sys.platform != "win32":
            popens = self._local_popens()
            timer = threading.Timer(interrupt_after, signal_popens, (popens, signal.SIGINT))
            timer.daemon = True
            timer.start()
        try:
            self.group.terminate(timeout)
        finally:
            if timer is not None:
                timer.cancel()
            self.launcher.starting.kill_all()
            if self._pipedir is not None:
                shutil.rmtree(self._pipedir, ignore_errors=True)
                self._pipedir = None
            if self.timeout_watch is not None:
                self.timeout_watch.close()

    def _local_popens(self) -> list[subprocess.Popen[bytes]]:
        """The processes of this group's local gateways (popen, ssh), and
        of workers started that have not connected yet."""
        gateways = list(self.group) + execnet_compat.pending_gateways(self.group)
        ios = [execnet_compat.gateway_io(gw) for gw in gateways] + self.launcher.starting.snapshot()
        popens: dict[int, subprocess.Popen[bytes]] = {}
        for io in ios:
            popen = getattr(io, "popen", None)
            if popen is not None:
                popens[id(popen)] = popen
        return list(popens.values())

    def kill_workers(self, sig: int, grace: float) -> None:
        """Send ``sig`` to every local gateway process, then SIGKILL those
        still running after ``grace`` seconds (no execnet round trips: this
        runs from a signal handler)."""
        popens = self._local_popens()
        signal_popens(popens, sig)
        deadline = time.monotonic() + grace
        for popen in popens:
            try:
                popen.wait(max(deadline - time.monotonic(), 0.0))
            except subprocess.TimeoutExpired:
                try:
                    popen.kill()
                    popen.wait(1.0)
                except (OSError, subprocess.TimeoutExpired):  # pragma: no cover
                    pass


class WorkerController:
    """The controller's handle on one worker (``node`` in hooks)."""

    workerinfo: dict[str, Any]
    workeroutput: dict[str, Any]

    def __init__(self, nodemanager: NodeManager, gateway: execnet.Gateway, config: pytest.Config) -> None:
        self.nodemanager = nodemanager
        self.gateway = gateway
        self.config = config
        self.workerinput: dict[str, Any] = {
            "workerid": gateway.id,
            "workercount": len(nodemanager.specs),
            "testrunuid": nodemanager.testrunuid,
            "mainargv": sys.argv,
        }
        self._down = False
        # How the worker died ("exit code 1", "killed by signal SIGSEGV",
        # ...), set by the session when its channel closes unexpectedly.
        self.crash_cause: str | None = None
        self._shutdown_sent = False
        # --test-timeout (xdist_c.controller.limits): when tests were last sent to it
        # and when its last test's completion arrived (time.monotonic()),
        # its stack file, and the report's text once it timed out.
        self.last_send = 0.0
        self.last_done = 0.0
        self.stack_path: str | None = None
        self.timed_out: str | None = None
        # -s: the tests it started (their output is awaited before their
        # reports are shown; xdist_c.controller.liveoutput).
        self.tests_started = 0
        self.slot = -1
        self.log = Producer(f"workerctl-{gateway.id}", enabled=config.option.debug)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.gateway.id}>"

    @property
    def shutting_down(self) -> bool:
        return self._down or self._shutdown_sent

    def setup(self, pump: _core.Pump, slot: int) -> None:
        self.slot = slot
        spec = self.gateway.spec
        local = is_local(spec)
        args = [str(x) for x in self.config.invocation_params.args or ()]
        if not local:
            args = make_reltoroot([self.config.rootpath], args, self.config.invocation_params.dir)
        option_dict: dict[str, Any] = {}
        if local and not spec.chdir:
            factory = pytest_compat.tmp_path_factory(self.config)
            if factory is not None:
                option_dict["basetemp"] = str(factory.getbasetemp() / f"popen-{self.gateway.id}")
        self.config.hook.pytest_configure_node(node=self)
        split = self.nodemanager.split_for(slot)
        if split is not None:
            option_dict["xdist_c_split"] = split
        pipe = self.nodemanager.event_pipe(spec, slot)
        if pipe is not None:
            path, fd = pipe
            pump.attach_stream(slot, fd)
            option_dict["xdist_c_event_pipe"] = path
        watch = self.nodemanager.timeout_watch
        if watch is not None and local:
            self.stack_path = option_dict[limits.WORKER_OPTION] = watch.stack_path(slot)
        if self.nodemanager.live_output is not None:
            option_dict["xdist_c_stdout"] = self.nodemanager.live_output.open(self.gateway)
        remote_module = self.config.hook.pytest_xdist_getremotemodule()
        self.channel = self.gateway.remote_exec(remote_module)
        change_sys_path = _sys_path if local else None
        self.channel.send((self.workerinput, args, option_dict, change_sys_path))
        self.channel.setcallback(pump.feeder(slot), endmarker=pump.endmarker)

    def sendcommand(self, name: str, **kwargs: Any) -> None:
        """Send ``runtests(indices=)``, ``runtests_all()``, ``steal(indices=)``
        or ``shutdown()`` to the worker."""
        self.log(f"sending command {name}(**{kwargs})")
        payload = kwargs.get("indices")
        if payload is not None:
            payload = list(payload)
        try:
            self.channel.send(_core.encode_frame([(_COMMANDS[name], payload)]))
        except OSError as exc:
            # The worker is gone and its channel closed under us; the
            # controller learns of it from the channel-closed event, and the
            # scheduler then takes these tests back.  A dead worker must not
            # crash the controller.
            self.log(f"could not send {name}: {exc}")

    def send_frame(self, frame: bytes) -> None:
        """Send an encoded command frame (the joined collection)."""
        try:
            self.channel.send(frame)
        except OSError as exc:  # gone: see sendcommand()
            self.log(f"could not send a frame: {exc}")

    def send_runtest_some(self, indices: Sequence[int]) -> None:
        self.last_send = time.monotonic()
        self.sendcommand("runtests", indices=indices)

    def send_runtest_all(self) -> None:
        self.last_send = time.monotonic()
        self.sendcommand("runtests_all")

    def send_stop(self) -> None:
        """Make the worker drop its queued tests (-x/--maxfail reached)."""
        if not self._down:
            self.sendcommand("stop")

    def send_steal(self, indices: Sequence[int]) -> None:
        self.sendcommand("steal", indices=indices)

    def shutdown(self) -> None:
        if not self._down:
            try:
                self.sendcommand("shutdown")
            except OSError:
                pass
            self._shutdown_sent = True

    def exit_cause(self, wait: float = EXIT_STATUS_WAIT) -> str | None:
        """``exit code N`` / ``killed by signal SIG...`` once the worker
        process is gone (waits up to ``wait`` seconds); None if unknown."""
        return process_exit_cause(execnet_compat.gateway_io(self.gateway), wait)

    def stderr_tail(self, wait: float = STDERR_DRAIN_WAIT) -> str:
        """The last lines the worker wrote to stderr ("" if not captured)."""
        return stderr_tail(execnet_compat.gateway_io(self.gateway), wait)

    def kill(self) -> None:
        """Stop the worker process at once (it misbehaved)."""
        io = execnet_compat.gateway_io(self.gateway)
        try:
            if io is not None and hasattr(io, "kill"):
                io.kill()
            else:  # pragma: no cover - socket gateways
                self.gateway.exit()
        except Exception:  # pragma: no cover - already gone
            pass

    def ensure_teardown(self) -> None:
        if hasattr(self, "channel") and not self.channel.isclosed():
            self.channel.close()
        self.gateway.exit()


def make_reltoroot(
    roots: Sequence[os.PathLike[str]], args: Sequence[str], invocation_dir: os.PathLike[str] | str | None = None
) -> list[str]:
    """``args`` for a remote worker, whose cwd is its copy of the project.

    An argument that names an existing path (``path`` or ``path::test``)
    inside one of ``roots`` (the rootdir) is rewritten relative to that root,
    so it means the same file in the remote checkout at ``//chdir=``.  Other
    arguments pass unchanged.
    """
    base_dir = Path(invocation_dir) if invocation_dir is not None else Path.cwd()
    resolved_roots = [Path(os.path.abspath(root)) for root in roots]
    result = []
    for arg in args:
        head, sep, tail = arg.partition("::")
        rewritten = arg
        if head and not head.startswith("-"):
            path = Path(os.path.abspath(base_dir / head))
            try:
                exists = path.exists()
            except (OSError, ValueError):
                exists = False
            if exists:
                for root in resolved_roots:
                    if path == root or root in path.parents:
                        rewritten = path.relative_to(root).as_posix() + sep + tail
                        break
        result.append(rewritten)
    return result
