"""execnet internals xdist_c uses, checked on execnet 2.1.0 to 2.1.2.

Starting a local popen worker: execnet's public ``Group.makegateway``
builds the process and its IO itself, with the worker's stderr inherited;
xdist_c needs that stderr (crash causes, ``--test-timeout`` stacks) and may
start the process from its fork server.  No public call takes a pre-built
IO, so :func:`make_popen_gateway` does the popen part of ``makegateway``
itself, with execnet's pieces: ``gateway_io.popen_args`` (the command
line), ``gateway_bootstrap.bootstrap`` (the handshake, returning the
``Gateway``) and ``Group._register``.  This replaces swapping execnet's
process-wide ``gateway_io.create_io`` factory.  Where any of those is
missing it returns None and the caller uses ``group.makegateway(spec)``:
the worker runs the same, its stderr is not captured.
"""

from __future__ import annotations

import atexit
from typing import Any
from typing import Callable

import execnet

CHECKED = "execnet 2.1.0-2.1.2"

try:
    from execnet import gateway_bootstrap as _gateway_bootstrap
    from execnet import gateway_io as _gateway_io
    from execnet.gateway_base import Popen2IO as _Popen2IO
except ImportError:  # pragma: no cover - an execnet laid out otherwise
    _gateway_io = _gateway_bootstrap = None  # type: ignore[assignment]
    _Popen2IO = None  # type: ignore[assignment,misc]

# The base class of a popen gateway's IO (``gateway_io.Popen2IOMaster``:
# ``popen``, ``wait()``, ``kill()`` and the ``Popen2IO`` reading/writing).
PopenIOBase: type = getattr(_gateway_io, "Popen2IOMaster", object)

POPEN_GATEWAY_SUPPORTED = (
    PopenIOBase is not object
    and _Popen2IO is not None
    and hasattr(_gateway_io, "popen_args")
    and hasattr(_gateway_bootstrap, "bootstrap")
    and hasattr(execnet.Group, "_register")
)


def init_popen_io(io: Any, stdin: Any, stdout: Any, execmodel: Any) -> None:
    """``Popen2IO.__init__``: ``io`` reads ``stdout`` and writes ``stdin``."""
    _Popen2IO.__init__(io, stdin, stdout, execmodel=execmodel)


# What makegateway runs in a new gateway whose spec has chdir, nice or env
# (the same steps, execnet 2.1).
_SETUP_SOURCE = """
import os
path, nice, env = channel.receive()
if path:
    if not os.path.exists(path):
        os.mkdir(path)
    os.chdir(path)
if nice and hasattr(os, 'nice'):
    os.nice(nice)
if env:
    for name, value in env.items():
        os.environ[name] = value
"""


def make_popen_gateway(
    group: execnet.Group, spec: execnet.XSpec, make_io: Callable[[list[str], Any], Any]
) -> execnet.Gateway | None:
    """A local popen gateway whose IO is ``make_io(args, execmodel)``
    (``args``: the command line execnet would run), registered in
    ``group`` as ``group.makegateway(spec)`` would.  None, with nothing
    started, where execnet has another shape.  ``spec`` is a local popen
    one (``xdist_c.launch.launcher`` decides which are)."""
    if not POPEN_GATEWAY_SUPPORTED:
        return None
    group.allocate_id(spec)
    if spec.execmodel is None:
        spec.execmodel = group.remote_execmodel.backend
    io = make_io(_gateway_io.popen_args(spec), group.execmodel)
    gateway: execnet.Gateway = _gateway_bootstrap.bootstrap(io, spec)
    gateway.spec = spec
    group._register(gateway)
    if spec.chdir or spec.nice or spec.env:
        channel = gateway.remote_exec(_SETUP_SOURCE)
        channel.send((spec.chdir, (spec.nice and int(spec.nice)) or 0, spec.env))
        channel.waitclose()
    return gateway


def forget_default_group() -> None:
    """Unregister the exit handler execnet's import registered for its
    default group (``Group._cleanup_atexit``), for a process that drops its
    execnet modules to import others."""
    handler = getattr(execnet.default_group, "_cleanup_atexit", None)
    if handler is not None:
        atexit.unregister(handler)


def gateway_io(gateway: Any) -> Any:
    """A gateway's IO (``_io``: a popen IO has ``popen``), or None."""
    return getattr(gateway, "_io", None)


def pending_gateways(group: execnet.Group) -> list[Any]:
    """Gateways the group is still to join at termination
    (``_gateways_to_join``)."""
    return list(getattr(group, "_gateways_to_join", ()))


def set_remote_info(gateway: execnet.Gateway, info: dict[str, Any]) -> bool:
    """Cache ``info`` as the worker's interpreter info, as ``_rinfo()``
    would after asking (``execnet.gateway.RInfo`` in ``_cache_rinfo``);
    False, with nothing set, where execnet has another shape."""
    rinfo = getattr(getattr(execnet, "gateway", None), "RInfo", None)
    if rinfo is None or not hasattr(gateway, "_rinfo"):
        return False
    gateway._cache_rinfo = rinfo(info)
    return True


def remote_info(gateway: execnet.Gateway) -> Any:
    """The worker's interpreter info (``_rinfo()``: one round trip, then
    cached on the gateway; the public ``remote_status`` is not cached)."""
    return gateway._rinfo()


def remote_error(channel: Any) -> object:
    """The error a channel's other side ended with (``_getremoteerror()``),
    or None."""
    get = getattr(channel, "_getremoteerror", None)
    return get() if get is not None else None


def channel_class() -> type | None:
    """``execnet.Channel`` (``gateway_base.Channel``)."""
    cls = getattr(execnet, "Channel", None)
    return cls if isinstance(cls, type) else None


def channel_has_unfetched_errors(channel: Any) -> bool:
    """Whether a channel's ``__del__`` would print remote errors nobody
    fetched (``_closed`` and ``_remoteerrors``)."""
    return bool(getattr(channel, "_closed", False) and getattr(channel, "_remoteerrors", None))
