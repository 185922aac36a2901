"""Typed surface of the private C extension ``xdist_c._core``.

Wire format
-----------
A *frame* is the unit sent over an execnet channel (as one ``bytes``
object).  It carries one or more *events*, each an ``(kind, payload)`` pair:
``kind`` is one of the ``EV_*`` / ``CMD_*`` integers below and ``payload``
is a *value*: ``None``, ``bool``, ``int`` (any size), ``float``, ``str``
(lone surrogates survive), ``bytes``, ``list``, ``tuple`` or ``dict`` of
values (exact types only; subclasses such as ``IntEnum`` are encoded as
their base type's value).  Nothing is ever pickled or evaluated: decoding
only builds those plain types, checks every length against the buffer and
raises :class:`FrameError` on anything malformed.

Event payloads (worker -> controller)::

    EV_WORKERREADY       dict   workerinfo
    EV_COLLECTIONSTART   None
    EV_COLLECTREPORT     dict   serialized CollectReport
    EV_COLLECTIONFINISH  dict   {"topdir": str, "ids": list[str]}
    EV_LOGSTART          tuple  (nodeid, location)
    EV_TESTREPORT        dict   serialized TestReport (+ item_index, worker_id,
                                testrun_uid)
    EV_LOGFINISH         tuple  (nodeid, location)
    EV_COMPLETE          tuple  (item_index, duration)
    EV_UNSCHEDULED       list[int]
    EV_WARNING           dict   {"warning_message_data", "when", "nodeid",
                                 "location"}
    EV_WORKERFINISHED    dict   workeroutput
    EV_INTERNALERROR     str    formatted error

Commands (controller -> worker)::

    CMD_RUNTESTS         list[int]
    CMD_RUNTESTS_ALL     None
    CMD_STEAL            list[int]
    CMD_SHUTDOWN         None
    CMD_COLLECTION       list[list[str]]  every file's test ids (split
                                          collection, xdist_c/speedups/split.py)
    CMD_STOP             None   drop the queued tests, run no new one
                                (-x / --maxfail reached)

Synthetic events, made by :class:`Pump` only (a frame carrying them is
malformed)::

    EV_CLOSED            None   the channel closed (endmarker seen)
    EV_BADFRAME          str    what was wrong with what the worker sent
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import final

from typing_extensions import disjoint_base

# The hook call pluggy makes: (hook_name, hook_impls, caller_kwargs, firstresult).
_HookExecFunc = Callable[[str, Sequence[Any], Mapping[str, Any], bool], Any]

FORMAT_VERSION: int
MAX_DEPTH: int

EV_WORKERREADY: int
EV_COLLECTIONSTART: int
EV_COLLECTREPORT: int
EV_COLLECTIONFINISH: int
EV_LOGSTART: int
EV_TESTREPORT: int
EV_LOGFINISH: int
EV_COMPLETE: int
EV_UNSCHEDULED: int
EV_WARNING: int
EV_WORKERFINISHED: int
EV_INTERNALERROR: int
CMD_RUNTESTS: int
CMD_RUNTESTS_ALL: int
CMD_STEAL: int
CMD_SHUTDOWN: int
CMD_COLLECTION: int
CMD_STOP: int
EV_CLOSED: int
EV_BADFRAME: int

class FrameError(ValueError):
    """Malformed bytes on the wire (bad header, length, tag, UTF-8, depth)."""

# --- codec.c -------------------------------------------------------------

def dumps(value: object) -> bytes:
    """Encode one value (TypeError for unsupported types, ValueError past
    MAX_DEPTH nesting)."""

def loads(data: bytes | bytearray | memoryview) -> Any:
    """Decode one value produced by dumps(); FrameError if malformed or if
    bytes are left over."""

def encode_frame(events: Iterable[tuple[int, object]]) -> bytes:
    """One frame holding the given events, in order."""

def decode_frame(data: bytes | bytearray | memoryview) -> list[tuple[int, Any]]:
    """The events of one frame; FrameError if malformed."""

@final
class FrameWriter:
    """Accumulates events into one frame (worker side batching)."""

    def __init__(self) -> None: ...
    def add(self, kind: int, payload: object) -> None:
        """Encode and append one event (on error nothing is appended)."""
    def take(self) -> bytes:
        """Return the frame of everything added since the last take() and
        start a new, empty one."""
    def __len__(self) -> int:
        """Number of events buffered."""
    @property
    def nbytes(self) -> int:
        """Size of the buffered frame body in bytes."""

# --- pump.c --------------------------------------------------------------

@final
class Pump:
    """Multi-producer single-consumer hand-off of frames from execnet
    receiver threads to the controller's main thread.

    Producers are the callables returned by feeder(), installed with
    ``channel.setcallback(pump.feeder(slot), endmarker=pump.endmarker)``;
    they run in execnet's receiver threads and only append to a queue.
    get() runs on the main thread, waits with the GIL released, and
    decodes the frames there.
    """

    endmarker: object
    def __init__(self) -> None: ...
    def feeder(self, slot: int) -> Feeder:
        """Callback for one worker's channel: bytes -> queued frame;
        ``endmarker`` -> EV_CLOSED; anything else -> EV_BADFRAME."""
    def put(self, slot: int, kind: int, payload: object) -> None:
        """Queue one already-decoded event (synthetic events)."""
    def get(self, timeout: float | None = None, linger: float = 0.0) -> list[tuple[int, int, Any]]:
        """Wait until something is queued (or timeout seconds; None waits
        forever), then return every queued event as (slot, kind, payload)
        in arrival order; [] on timeout.  A frame that fails to decode gives
        one (slot, EV_BADFRAME, message) event in its place.  Signals are
        handled while waiting (KeyboardInterrupt propagates).

        linger: when something is ready but fewer than 48 events, sleep
        this long (at most 1 s) once, with the GIL released, and hand out
        what has arrived by then too: one wake-up then serves several
        tests."""
    def attach_stream(self, slot: int, fd: int) -> None:
        """Read frames for ``slot`` from the pipe ``fd`` too (made
        non-blocking; owned and closed by the pump).  POSIX only:
        NotImplementedError elsewhere."""
    @property
    def nstreams(self) -> int:
        """Number of event pipes still open."""
    def __len__(self) -> int:
        """Number of queued entries not yet returned by get()."""

@final
class Feeder:
    """What Pump.feeder() returns (not created directly): execnet's
    callback for one worker's channel."""

    def __call__(self, data: object, /) -> None: ...

# --- hookexec.c ----------------------------------------------------------

@final
class HookExec:
    """A plugin manager's ``_inner_hookexec`` running plain hook calls in C."""

    def __new__(cls, fallback: _HookExecFunc) -> HookExec: ...
    @property
    def fallback(self) -> _HookExecFunc | None: ...
    def __call__(
        self, hook_name: str, hook_impls: Sequence[Any], caller_kwargs: Mapping[str, Any], firstresult: bool
    ) -> Any:
        """Plain calls (a dict of arguments) run in C; any other call is
        passed to ``fallback``."""
    def relay(self, hookcaller: Any, kwargs: dict[str, Any], /) -> Any: ...

# --- sched_*.c -----------------------------------------------------------
# Every scheduler implements pytest-xdist's scheduling protocol.  They call
# these methods of the node objects they are given:
#     node.send_runtest_some(indices: list[int]), node.send_runtest_all(),
#     node.send_steal(indices: list[int]) (WorkStealScheduler),
#     node.shutdown(), and read the attribute node.shutting_down (bool).
# When collections differ they call
#     self._collection_mismatch(base_node, node, base_ids, ids)
# (a no-op in the C base; the Python subclass reports it).

@disjoint_base
class _SchedulerBase:
    @property
    def nodes(self) -> list[Any]: ...
    @property
    def collection(self) -> list[str] | None: ...
    @property
    def collection_is_completed(self) -> bool: ...
    @property
    def tests_finished(self) -> bool: ...
    @property
    def has_pending(self) -> bool: ...
    @property
    def shortest_queue(self) -> int | None: ...
    def add_node(self, node: Any) -> None: ...
    def add_node_collection(self, node: Any, collection: Sequence[str]) -> None: ...
    def mark_test_complete(self, node: Any, item_index: int, duration: float = 0) -> None: ...
    def mark_test_pending(self, item: str) -> None: ...
    def remove_pending_tests_from_node(self, node: Any, indices: Sequence[int]) -> None: ...
    def remove_node(self, node: Any) -> str | None: ...
    def schedule(self) -> None: ...
    def node_pending(self, node: Any) -> list[int]:
        """Indices sent to node and not yet completed, in order."""
    def set_home(self, node: Any, start: int, stop: int) -> None:
        """Keep tests start..stop-1 for node first (load, worksteal)."""
    def set_durations(self, durations: dict[str, float] | None) -> None:
        """Expected seconds by nodeid, read by the first schedule()."""
    def _collection_mismatch(self, base_node: Any, node: Any, base_ids: list[str], ids: list[str]) -> None: ...

class LoadScheduler(_SchedulerBase):
    def __init__(self, numnodes: int, maxschedchunk: int | None = None) -> None: ...
    @property
    def pending(self) -> list[int]:
        """Indices not yet sent to any node, in order."""

class EachScheduler(_SchedulerBase):
    def __init__(self, numnodes: int) -> None: ...

@disjoint_base
class ScopeScheduler(_SchedulerBase):
    """Tests grouped into units by scope; each unit runs on one node.

    mode "loadscope": ``nodeid.rsplit("::", 1)[0]``; "loadfile":
    ``nodeid.split("::", 1)[0]``; "loadgroup": the text after the last "@"
    if it comes after the last "]", else the whole nodeid.  A subclass may
    override ``_split_scope``.  A crash queues only the node's unstarted
    tests again; the crashed test is not re-run."""

    def __init__(self, numnodes: int, mode: str = "loadscope", reorder: bool = True) -> None:
        """mode: 'loadscope', 'loadfile' or 'loadgroup' (else ValueError)."""
    @property
    def mode(self) -> str: ...
    @property
    def reorder(self) -> bool:
        """Whether units are sent largest first (stable)."""
    @property
    def pending_units(self) -> list[list[int]]:
        """The units not sent yet, in order, each a list of indices."""
    def _split_scope(self, nodeid: str) -> str:
        """The unit key of nodeid under this mode; an override may return
        any hashable."""

@disjoint_base
class WorkStealScheduler(_SchedulerBase):
    """Even split up front; idle nodes take the tail half of the longest
    queue through node.send_steal(), one steal in flight at a time, and the
    worker's answer comes back through remove_pending_tests_from_node()."""

    def __init__(self, numnodes: int) -> None: ...
    @property
    def pending(self) -> list[int]:
        """Indices not yet sent to any node, in order."""
    @property
    def steal_requested_from_node(self) -> Any | None:
        """The node asked to give tests back that has not answered."""
