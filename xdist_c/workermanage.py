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
from pathlib import Path
import shutil
import sys
import tempfile
import threading
from typing import Any
import uuid

import execnet
from execnet.gateway_bootstrap import HostNotFound
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


# Sent to every worker that is not a local popen process, once, before the
# worker bootstrap: it looks (without importing anything) for the packages
# the bootstrap needs, on the path the bootstrap will use.
_PROBE_SOURCE = """
import importlib.util, os, platform, sys
saved = list(sys.path)
sys.path.insert(0, os.getcwd())
try:
    missing = [name for name in ("pytest", "xdist_c") if importlib.util.find_spec(name) is None]
finally:
    sys.path[:] = saved
channel.send((missing, sys.executable, platform.node()))
"""


def is_local(spec: execnet.XSpec) -> bool:
    """Whether the worker is a popen process of this interpreter's host.

    Only those share the controller's file system, ``sys.path`` and basetemp;
    everything else (``ssh=``, ``socket=``, ``popen//via=``) is remote.
    """
    return bool(spec.popen) and not spec.via


def describe_spec(spec: execnet.XSpec) -> str:
    """The ``--tx`` value a spec came from, for messages."""
    text = getattr(spec, "_xdist_tx", None) or str(spec)
    prefix = "execmodel=main_thread_only//"
    return text[len(prefix):] if text.startswith(prefix) else text


def _check_remote(gateway: execnet.Gateway) -> None:
    """UsageError when pytest or xdist-c can't be imported by the worker."""
    channel = gateway.remote_exec(_PROBE_SOURCE)
    try:
        missing, executable, host = channel.receive(timeout=60)
    finally:
        channel.waitclose(timeout=60)
    if missing:
        names = " and ".join("xdist-c" if name == "xdist_c" else name for name in missing)
        verb = "are" if len(missing) > 1 else "is"
        raise pytest.UsageError(
            f"{names} {verb} not installed for {executable} on {host} "
            f"(worker {gateway.id}, --tx {describe_spec(gateway.spec)}). Every host needs Python, "
            "pytest, xdist-c, execnet and the suite's dependencies installed, "
            "and the project's code at the //chdir= path; see docs/remote.rst."
        )


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
        # socket=ADDR//python=X workers are popen processes started through
        # one shared proxy gateway per socket address: execnet's socket
        # server runs one connection at a time, in its own interpreter.
        self._socket_proxies: dict[str, str] = {}
        self._proxy_lock = threading.Lock()
        self.log = Producer("nodemanager", enabled=config.option.debug)
        self._pipedir: str | None = None

    def event_pipe(self, spec: execnet.XSpec, slot: int) -> tuple[str, int] | None:
        """A FIFO for a local worker to write its frames to, opened for
        reading: ``(path, fd)``; None where the channel must be used (remote
        or proxied workers, platforms without reliable FIFO polling)."""
        if not (is_local(spec) and sys.platform.startswith("linux")):
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

    def _socket_proxy(self, address: str) -> str:
        """The id of the proxy gateway connected to socket server ``address``."""
        with self._proxy_lock:
            proxy_id = self._socket_proxies.get(address)
            if proxy_id is None:
                proxy_id = f"xdist-socket-{len(self._socket_proxies)}"
                self.group.makegateway(f"id={proxy_id}//socket={address}")
                self._socket_proxies[address] = proxy_id
            return proxy_id

    def _via_socket_proxy(self, spec: execnet.XSpec) -> execnet.XSpec:
        """``socket=ADDR//python=X//...`` as ``popen//python=X//via=<proxy>//...``.

        execnet cannot start another interpreter behind a socket server
        itself; a popen gateway started through the socket gateway can.
        """
        parts = []
        for key, value in vars(spec).items():
            if key in ("_spec", "env", "id", "socket") or value is None:
                continue
            parts.append(key if value is True else f"{key}={value}")
        parts.extend(f"env:{name}={value}" for name, value in spec.env.items())
        parts += ["popen", f"via={self._socket_proxy(str(spec.socket))}"]
        derived = execnet.XSpec("//".join(parts))
        derived.id = spec.id
        derived._xdist_tx = str(spec)  # type: ignore[attr-defined]
        return derived

    def _makegateway(self, spec: execnet.XSpec) -> execnet.Gateway:
        if is_local(spec):
            gateway = self.group.makegateway(spec)
        else:
            try:
                if spec.socket and spec.python and not spec.via:
                    spec = self._via_socket_proxy(spec)
                gateway = self.group.makegateway(spec)
            except (OSError, EOFError, HostNotFound) as exc:
                detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                raise pytest.UsageError(
                    f"could not start worker {spec.id} (--tx {describe_spec(spec)}): {detail}"
                ) from exc
        # One round trip, cached: later _rinfo() calls (pytest-cov, the
        # terminal) must not need the worker's busy main thread.
        gateway._rinfo()
        if not is_local(spec):
            _check_remote(gateway)
        return gateway

    def setup_nodes(self, pump: _core.Pump, slot_of: Any) -> list[WorkerController]:
        """Start every worker; ``slot_of(node)`` assigns the pump slot."""
        self.config.hook.pytest_xdist_setupnodes(config=self.config, specs=self.specs)
        try:
            if len(self.specs) > 1:
                with ThreadPoolExecutor(max_workers=min(len(self.specs), 64)) as pool:
                    gateways = list(pool.map(self._makegateway, self.specs))
            else:
                gateways = [self._makegateway(spec) for spec in self.specs]
        except BaseException:
            # pytest won't call sessionfinish: stop what was started.
            self.teardown_nodes()
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
        local = is_local(spec)
        args = [str(x) for x in self.config.invocation_params.args or ()]
        if not local:
            args = make_reltoroot([self.config.rootpath], args, self.config.invocation_params.dir)
        option_dict: dict[str, Any] = {}
        if local and not spec.chdir:
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
