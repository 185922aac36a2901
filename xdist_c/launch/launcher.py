"""How a worker starts: the one place that decides.

A worker is started one of three ways (:meth:`Launcher.start_gateway`
returns which, with the gateway):

``forked``
    A local ``popen`` worker of this interpreter, forked from the fork
    server (:mod:`xdist_c.launch.forkserver`, Linux) when the run has one
    and it agrees; its IO is xdist_c's
    (:class:`~xdist_c.launch.process.StderrCapturingIO`: stderr captured).
``spawned``
    Any other local ``popen`` worker (another ``python=``, no fork server,
    or one that declined: ``-v`` says why), started as a new process with
    the same IO.  Where execnet has another shape than the one
    :mod:`xdist_c._compat.execnet` knows, execnet's own ``makegateway``
    starts it instead (``spawned by execnet``: its stderr is not
    captured).
``remote``
    Everything else (``ssh=``, ``socket=``, ``popen//via=``), through
    execnet's ``makegateway``; ``socket=ADDR//python=X`` becomes a popen
    gateway behind one proxy gateway per socket address.  Once connected,
    the worker is asked whether it can import pytest and xdist-c.

Callers ask, and decide nothing themselves: :func:`is_local` (whether a
worker shares this host's files, ``sys.path`` and basetemp),
:func:`make_xspec` (a ``--tx`` value as the spec it is started from),
:func:`prepare` (at start-up: fork the fork server, or record why not),
:meth:`Launcher.start_gateway`, and :func:`describe` (the ``-v`` line's
part: fork server on or off, and why workers were not forked).

Every run imports this module (the plugin calls :func:`prepare`), so
execnet and :mod:`xdist_c.launch.process` are imported only where workers
are started, as the plugin does with the controller's modules.
"""

from __future__ import annotations

import subprocess
import threading
from typing import TYPE_CHECKING
from typing import Any

import pytest

from xdist_c.launch import forkserver

if TYPE_CHECKING:
    import execnet

FORKED = "forked"
SPAWNED = "spawned"
SPAWNED_BY_EXECNET = "spawned by execnet"
REMOTE = "remote"


def is_local(spec: execnet.XSpec) -> bool:
    """Whether the worker is a popen process of this interpreter's host.

    Only those share the controller's file system, ``sys.path`` and basetemp;
    everything else (``ssh=``, ``socket=``, ``popen//via=``) is remote.
    """
    return bool(spec.popen) and not spec.via


def make_xspec(spec: str) -> execnet.XSpec:
    """The execnet spec a ``--tx`` value's worker is started from: execnet's
    main-thread-only model, and a remote worker's default directory."""
    import execnet

    xspec = execnet.XSpec("execmodel=main_thread_only//" + spec)
    if not xspec.popen and not xspec.chdir:
        xspec.chdir = "pyexecnetcache"
    return xspec


def prepare(early_config: pytest.Config) -> None:
    """At ``pytest_load_initial_conftests`` (before capturing starts and any
    conftest is imported): fork the fork server if this run wants one and
    may have one, or record why not (see :func:`describe`)."""
    forkserver.start(early_config)


def describe(config: pytest.Config) -> str:
    """The ``-v`` line's part on how local workers started: whether they are
    forked, and if not (or not all), why.  Counts the workers so far."""
    return forkserver.describe(config)


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


def _check_remote(gateway: execnet.Gateway) -> None:
    """UsageError when pytest or xdist-c can't be imported by the worker."""
    from xdist_c.launch.process import describe_spec

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
            "and the project's code at the //chdir= path; see https://xdist-c.readthedocs.io/en/latest/remote.html"
        )


def _start_process(args: list[str], execmodel: Any, server: forkserver.ForkServer | None) -> tuple[Any, str]:
    """A local worker's process for execnet's popen ``args``, and how it
    was started: forked where the fork server takes it (this interpreter's
    plain bootstrap, and the server agrees), else spawned."""
    if server is not None:
        dont_write_bytecode = forkserver.forkable_args(args)
        if dont_write_bytecode is not None:
            proc = server.spawn(dont_write_bytecode)
            if proc is not None:
                return proc, FORKED
    pipe = subprocess.PIPE
    return execmodel.subprocess.Popen(args, stdout=pipe, stdin=pipe, stderr=pipe), SPAWNED


class Launcher:
    """Starts the workers of one execnet group.

    :attr:`starting` holds the local workers started that have not
    connected yet (no gateway of the group has them): ending a run kills
    them with ``starting.kill_all()``.
    """

    def __init__(self, config: pytest.Config, group: execnet.Group) -> None:
        from xdist_c.launch.process import Starting

        self.config = config
        self.group = group
        self.starting = Starting()
        # socket=ADDR//python=X workers are popen processes started through
        # one shared proxy gateway per socket address: execnet's socket
        # server runs one connection at a time, in its own interpreter.
        self._socket_proxies: dict[str, str] = {}
        self._proxy_lock = threading.Lock()

    def start_gateway(self, spec: execnet.XSpec) -> tuple[execnet.Gateway, str]:
        """Start the worker of ``spec`` (its id allocated) and connect to it:
        its gateway, and how it was started (:data:`FORKED`,
        :data:`SPAWNED`, :data:`SPAWNED_BY_EXECNET` or :data:`REMOTE`).

        Raises :class:`~xdist_c.launch.process.WorkerStartError` when the
        worker could not be started or died before connecting, and
        ``pytest.UsageError`` when a remote one cannot be reached or lacks
        pytest or xdist-c."""
        import execnet

        from xdist_c._compat import execnet as execnet_compat
        from xdist_c.launch.process import StderrCapturingIO
        from xdist_c.launch.process import WorkerStartError
        from xdist_c.launch.process import describe_spec

        # Local popen workers: their IO is built here, capturing stderr
        # (and started from the fork server where it can); ``ios`` is what
        # was built, for the error of a worker that did not connect.
        ios: list[Any] = []
        hows: list[str] = []
        server = forkserver.get(self.config)

        def make_io(args: list[str], execmodel: Any) -> Any:
            proc, how = _start_process(args, execmodel, server)
            hows.append(how)
            io = StderrCapturingIO(proc, execmodel, self.starting)
            ios.append(io)
            return io

        local = is_local(spec)
        try:
            if local:
                gateway = execnet_compat.make_popen_gateway(self.group, spec, make_io)
                if gateway is None:  # execnet of another shape: not captured
                    gateway = self.group.makegateway(spec)
                    hows.append(SPAWNED_BY_EXECNET)
            else:
                try:
                    if spec.socket and spec.python and not spec.via:
                        spec = self._via_socket_proxy(spec)
                    gateway = self.group.makegateway(spec)
                    hows.append(REMOTE)
                except (OSError, EOFError, execnet.HostNotFound) as exc:
                    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                    raise pytest.UsageError(
                        f"could not start worker {spec.id} (--tx {describe_spec(spec)}): {detail}"
                    ) from exc
            # Cached now: later _rinfo() calls (pytest-cov, the terminal)
            # must not need the worker's busy main thread.  A forked
            # worker's answer is known here (unless //chdir= moved it);
            # others are asked (one round trip).
            known = ios and hows and hows[-1] == FORKED and not spec.chdir
            popen = getattr(ios[-1], "popen", None) if known else None
            info = getattr(popen, "interpreter_info", None)
            if info is None or not execnet_compat.set_remote_info(gateway, info()):
                execnet_compat.remote_info(gateway)
        except pytest.UsageError:
            raise
        except Exception as e:
            raise WorkerStartError(spec, ios[-1] if ios else None, e) from e
        # Connected: the group has it now.  (Left in ``starting`` when this
        # was interrupted, so that ending the run kills it.)
        for io in ios:
            self.starting.discard(io)
        if not local:
            _check_remote(gateway)
        return gateway, hows[-1]

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
        import execnet

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
