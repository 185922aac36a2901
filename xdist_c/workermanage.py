"""Worker processes: gateways (execnet) and the controller-side node object.

:class:`NodeManager` creates one execnet gateway per ``--tx`` spec -- all of
them concurrently, so start-up costs about one process spawn, not W -- and a
:class:`WorkerController` per gateway.  A controller's channel feeds the
session's :class:`xdist_c._core.Pump` directly (the pump's feeder is a C
callable, so execnet's receiver thread does no Python work per frame).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
import os
import shutil
import sys
import tempfile
from typing import Any
import uuid

import execnet
import pytest

from xdist_c import _core
from xdist_c._spec import parse_tx_spec_config
from xdist_c.plugin import _sys_path

_COMMANDS = {
    "runtests": _core.CMD_RUNTESTS,
    "runtests_all": _core.CMD_RUNTESTS_ALL,
    "steal": _core.CMD_STEAL,
    "shutdown": _core.CMD_SHUTDOWN,
}


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
        self.specs = [self._make_xspec(s) for s in specs]
        for spec in self.specs:  # ids in spec order: gw0, gw1, ...
            self.group.allocate_id(spec)
        self.roots: list[Any] = []  # rsync is not supported; kept for pytest-cov
        self.log = Producer("nodemanager", enabled=config.option.debug)
        self._pipedir: str | None = None

    def event_pipe(self, spec: execnet.XSpec, slot: int) -> tuple[str, int] | None:
        """A FIFO for a local worker to write its frames to, opened for
        reading: ``(path, fd)``; None where the channel must be used (remote
        or proxied workers, platforms without reliable FIFO polling)."""
        if not (spec.popen and not spec.via and sys.platform.startswith("linux")):
            return None
        if self._pipedir is None:
            self._pipedir = tempfile.mkdtemp(prefix="xdist-c-")
        path = os.path.join(self._pipedir, f"events-{slot}")
        os.mkfifo(path, 0o600)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        return path, fd

    def _make_xspec(self, spec: str) -> execnet.XSpec:
        xspec = execnet.XSpec("execmodel=main_thread_only//" + spec)
        if not xspec.popen and not xspec.chdir:
            xspec.chdir = "pyexecnetcache"
        return xspec

    def _makegateway(self, spec: execnet.XSpec) -> execnet.Gateway:
        gateway = self.group.makegateway(spec)
        # One round trip, cached: later _rinfo() calls (pytest-cov, the
        # terminal) must not need the worker's busy main thread.
        gateway._rinfo()
        return gateway

    def setup_nodes(self, pump: _core.Pump, slot_of: Any) -> list[WorkerController]:
        """Start every worker; ``slot_of(node)`` assigns the pump slot."""
        self.config.hook.pytest_xdist_setupnodes(config=self.config, specs=self.specs)
        if len(self.specs) > 1:
            with ThreadPoolExecutor(max_workers=min(len(self.specs), 64)) as pool:
                gateways = list(pool.map(self._makegateway, self.specs))
        else:
            gateways = [self._makegateway(spec) for spec in self.specs]
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

    def teardown_nodes(self, timeout: float | None = None) -> None:
        try:
            self.group.terminate(self.EXIT_TIMEOUT if timeout is None else timeout)
        finally:
            if self._pipedir is not None:
                shutil.rmtree(self._pipedir, ignore_errors=True)
                self._pipedir = None


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
        self._shutdown_sent = False
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
        args = [str(x) for x in self.config.invocation_params.args or ()]
        option_dict: dict[str, Any] = {}
        if spec.popen and not spec.chdir:
            factory = getattr(self.config, "_tmp_path_factory", None)
            if factory is not None:
                option_dict["basetemp"] = str(factory.getbasetemp() / f"popen-{self.gateway.id}")
        self.config.hook.pytest_configure_node(node=self)
        pipe = self.nodemanager.event_pipe(spec, slot)
        if pipe is not None:
            path, fd = pipe
            pump.attach_stream(slot, fd)
            option_dict["xdist_c_event_pipe"] = path
        remote_module = self.config.hook.pytest_xdist_getremotemodule()
        self.channel = self.gateway.remote_exec(remote_module)
        change_sys_path = _sys_path if spec.popen else None
        self.channel.send((self.workerinput, args, option_dict, change_sys_path))
        self.channel.setcallback(pump.feeder(slot), endmarker=pump.endmarker)

    def sendcommand(self, name: str, **kwargs: Any) -> None:
        """Send ``runtests(indices=)``, ``runtests_all()``, ``steal(indices=)``
        or ``shutdown()`` to the worker."""
        self.log(f"sending command {name}(**{kwargs})")
        payload = kwargs.get("indices")
        if payload is not None:
            payload = list(payload)
        self.channel.send(_core.encode_frame([(_COMMANDS[name], payload)]))

    def send_runtest_some(self, indices: Sequence[int]) -> None:
        self.sendcommand("runtests", indices=indices)

    def send_runtest_all(self) -> None:
        self.sendcommand("runtests_all")

    def send_steal(self, indices: Sequence[int]) -> None:
        self.sendcommand("steal", indices=indices)

    def shutdown(self) -> None:
        if not self._down:
            try:
                self.sendcommand("shutdown")
            except OSError:
                pass
            self._shutdown_sent = True

    def kill(self) -> None:
        """Stop the worker process at once (it misbehaved)."""
        io = getattr(self.gateway, "_io", None)
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


def make_reltoroot(roots: Sequence[os.PathLike[str]], args: list[str]) -> list[str]:
    """Kept for API compatibility: without rsync, arguments pass unchanged."""
    return list(args)
