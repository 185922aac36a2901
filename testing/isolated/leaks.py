"""Leak checks of xdist_c._core, one per process (run by test_leaks.py).

    python testing/isolated/leaks.py CHECK [CYCLES]

Each CHECK runs its cycle of work a hundred times or more to warm up (free
lists, caches, the string table's buffers), takes a baseline, runs CYCLES
more cycles and compares:

* sys.getallocatedblocks()  -- every object and PyMem block (pymalloc);
* len(gc.get_objects())     -- container objects;
* open file descriptors      -- from /proc/self/fd (event pipes);
* sys.getrefcount() of every type and exception class of the module;
* the resident set size     -- from /proc/self/statm, else the peak RSS
                               from resource (skipped under ASan, whose
                               quarantine holds freed memory on purpose).

A leak of one object or one small buffer per cycle shows as >= CYCLES
blocks; the slack allows only for caches that fill once.  Exit status 0
and one line "ok ..." on success, 1 and the numbers otherwise.  A fresh
process per check keeps one check's caches out of another's numbers.
"""

from __future__ import annotations

import collections
import gc
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any

from xdist_c import _core

BLOCK_SLACK = 2_000
GC_SLACK = 200
RSS_SLACK = 4 * 1024 * 1024

TYPES = {name: getattr(_core, name) for name in dir(_core) if isinstance(getattr(_core, name), type)}


def rss() -> int | None:
    """Resident set size in bytes (None if unknown)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        pass
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def under_asan() -> bool:
    try:
        with open("/proc/self/maps") as f:
            maps = f.read()
    except OSError:
        return "asan" in os.environ.get("LD_PRELOAD", "")
    return "libasan" in maps or "libclang_rt.asan" in maps


def open_fds() -> int | None:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None


def snapshot() -> dict[str, Any]:
    gc.collect()
    gc.collect()
    return {
        "fds": open_fds(),
        "blocks": sys.getallocatedblocks(),
        "gc_objects": len(gc.get_objects()),
        "rss": rss(),
        "refcounts": {name: sys.getrefcount(tp) for name, tp in TYPES.items()},
    }


def measure(name: str, work: Callable[[], int], cycles: int, warmup: int) -> int:
    """Run `work` (which returns how many C calls it made) and compare."""
    for _ in range(warmup):
        work()
    before = snapshot()
    ncalls = 0
    for _ in range(cycles):
        ncalls += work()
    after = snapshot()
    problems = []
    blocks = after["blocks"] - before["blocks"]
    if blocks > BLOCK_SLACK:
        problems.append(f"allocated blocks grew by {blocks}")
    objs = after["gc_objects"] - before["gc_objects"]
    if objs > GC_SLACK:
        problems.append(f"gc objects grew by {objs}")
    changed = {n: (before["refcounts"][n], c) for n, c in after["refcounts"].items() if c != before["refcounts"][n]}
    if changed:
        problems.append(f"type refcounts changed (before, after): {changed}")
    if before["fds"] is not None and after["fds"] != before["fds"]:
        problems.append(f"open file descriptors: {before['fds']} -> {after['fds']}")
    growth = None
    if before["rss"] is not None and after["rss"] is not None and not under_asan():
        growth = after["rss"] - before["rss"]
        if growth > RSS_SLACK:
            problems.append(f"RSS grew by {growth} bytes")
    summary = (
        f"{name}: {cycles} cycles ({ncalls} calls), blocks {blocks:+d}, gc objects {objs:+d}, "
        f"RSS {'n/a' if growth is None else f'{growth:+d} B'}, "
        f"{len(TYPES)} type refcounts checked"
    )
    if problems:
        print("LEAK " + summary)
        for p in problems:
            print("  " + p)
        return 1
    print("ok " + summary)
    return 0


# --- codec -----------------------------------------------------------------

REPORT = {
    "nodeid": "testing/test_example.py::TestThing::test_method[param-3]",
    "location": ("testing/test_example.py", 41, "TestThing.test_method[param-3]"),
    "keywords": {"test_method[param-3]": 1, "parametrize": 1, "TestThing": 1},
    "outcome": "failed",
    "longrepr": {"reprcrash": {"path": "t.py", "lineno": 3, "message": "é" * 300}},
    "when": "call",
    "user_properties": [("big", 2**100), ("neg", -(2**70)), ("b", b"\x00\xff")],
    "sections": [("Captured stdout call", "out\n" * 50)],
    "duration": 0.00012345,
    "$report_type": "TestReport",
    "item_index": 3,
    "surrogate": "\ud800x",
}
# A passing test's report, as most frames carry.
TYPICAL: dict[str, Any] = {
    "nodeid": "testing/test_example.py::test_method[param-3]",
    "location": ("testing/test_example.py", 41, "test_method[param-3]"),
    "keywords": {"test_method[param-3]": 1, "parametrize": 1},
    "outcome": "passed",
    "longrepr": None,
    "when": "call",
    "user_properties": [],
    "sections": [],
    "duration": 0.00012345,
    "$report_type": "TestReport",
    "item_index": 3,
}
EVENTS = [
    (_core.EV_LOGSTART, (REPORT["nodeid"], REPORT["location"])),
    (_core.EV_TESTREPORT, REPORT),
    (_core.EV_COMPLETE, (3, 0.5)),
    (_core.EV_UNSCHEDULED, [1, 2, 3]),
]


def codec_work() -> Callable[[], int]:
    """One encode and one decode of a typical frame and value."""
    events = [(_core.EV_TESTREPORT, TYPICAL), (_core.EV_COMPLETE, (3, 0.5))]
    frame = _core.encode_frame(events)

    def work() -> int:
        assert _core.encode_frame(events) == frame
        assert len(_core.decode_frame(frame)) == 2
        assert _core.loads(_core.dumps(TYPICAL))["item_index"] == 3
        return 4

    return work


def buffers_work() -> Callable[[], int]:
    """FrameWriter batching, and decoding from other buffer types."""
    writer = _core.FrameWriter()
    frame = _core.encode_frame(EVENTS)
    big = {"sections": [("x" * 70_000, "y")]}  # take() shrinks the buffer

    def work() -> int:
        for kind, payload in EVENTS:
            writer.add(kind, payload)
        assert writer.take() == frame
        writer.add(_core.EV_TESTREPORT, big)
        writer.take()
        _core.decode_frame(memoryview(frame))
        _core.decode_frame(bytearray(frame))
        return len(EVENTS) + 5

    return work


class Unencodable:
    pass


def rollback_work() -> Callable[[], int]:
    """FrameWriter.add() failing after new strings went into its string
    table (rolled back), and dumps()/encode_frame() failing half-way."""
    writer = _core.FrameWriter()
    deep: list[Any] = []
    for _ in range(_core.MAX_DEPTH + 5):
        deep = [deep]
    fresh = [f"new-string-{i}" for i in range(100)]
    bad_payloads: list[tuple[Any, Any, type[BaseException]]] = [
        (_core.EV_TESTREPORT, {"nodeid": "x", "obj": Unencodable()}, TypeError),
        (_core.EV_TESTREPORT, [*fresh, {1, 2}], TypeError),
        (_core.EV_TESTREPORT, {"a": fresh, "deep": deep}, ValueError),
        (99, "payload", ValueError),
        ("kind", None, TypeError),
        (_core.EV_CLOSED, None, ValueError),
    ]

    def work() -> int:
        writer.add(_core.EV_COMPLETE, (1, 0.5))
        for kind, payload, exc in bad_payloads:
            try:
                writer.add(kind, payload)
            except exc:
                pass
            else:
                raise AssertionError("add() should have failed")
        writer.add(_core.EV_TESTREPORT, {"a": fresh[:10]})
        assert len(writer) == 2
        assert len(_core.decode_frame(writer.take())) == 2
        for payload in (deep, Unencodable()):
            try:
                _core.dumps(payload)
            except (TypeError, ValueError):
                pass
            try:
                _core.encode_frame([(_core.EV_TESTREPORT, ["x", payload])])
            except (TypeError, ValueError):
                pass
        return len(bad_payloads) + 7

    return work


def decode_errors_work() -> Callable[[], int]:
    """Malformed frames and values of every kind (each a FrameError)."""
    good = _core.encode_frame(EVENTS)
    value = _core.dumps([REPORT, ["a", "b", "a"]])
    bad_frames = [good[:i] for i in range(0, len(good), max(1, len(good) // 20))]
    bad_frames += [good + b"N", b"XC\x02" + good[3:], b"XC\x01" + b"\xff" * 8]
    bad_values = [value[:i] for i in range(0, len(value), max(1, len(value) // 20))]
    bad_values += [
        b"l\x03s\x01ar\x00s\x01\xff",  # invalid UTF-8 after table entries
        b"m\x02s\x01aNl\x00N",  # unhashable key after a good pair
        b"l" * 300,  # too deep
        b"I\x02zz",
        b"S" + b"\xff" * 9 + b"\x01",
        b"r\x05",
        b"t\x03NNd\x00",
    ]
    bad = bad_frames + bad_values

    def work() -> int:
        for data in bad_frames:
            try:
                _core.decode_frame(data)
            except _core.FrameError:
                pass
            else:
                raise AssertionError(data)
        for data in bad_values:
            try:
                _core.loads(data)
            except _core.FrameError:
                pass
            else:
                raise AssertionError(data)
        return len(bad)

    return work


# --- pump ------------------------------------------------------------------


def pump_work() -> Callable[[], int]:
    """A long-lived Pump with feeders, plus short-lived pumps in cycles."""
    pump = _core.Pump()
    feeders = [pump.feeder(i) for i in range(4)]
    good = _core.encode_frame(EVENTS)
    n = [0]

    class Holder:
        ref: Any = None

    def work() -> int:
        feeders[0](good)
        feeders[1](b"not a frame")
        feeders[2](bytearray(good))
        feeders[3](12345)
        pump.put(9, _core.EV_INTERNALERROR, "synthetic")
        events = pump.get(0)
        assert len(events) == 4 + 1 + 4 + 1 + 1, len(events)
        assert pump.get(0) == []
        n[0] += 1
        if n[0] % 10 == 0:
            # short-lived pump: queued frames, endmarker, reference cycles
            other = _core.Pump()
            feed = other.feeder(1)
            feed(good)
            feed(other.endmarker)
            h = Holder()
            h.ref = other
            other.put(0, 1, h)  # pump -> queue -> holder -> pump
            other.put(0, 1, feed)  # pump -> queue -> feeder -> pump
            del other, feed, h
            return 14
        return 7

    return work


def stream_work() -> Callable[[], int]:
    """The event pipe: Pump.attach_stream() on a pipe that gets whole
    frames, a frame in two parts, then garbage (the pump closes it)."""
    pump: Any = _core.Pump()  # attach_stream, nstreams: not in _core.pyi yet
    good = _core.encode_frame(EVENTS)
    half = len(good) // 2

    def work() -> int:
        r, w = os.pipe()
        pump.attach_stream(5, r)  # the pump owns r from here on
        try:
            os.write(w, good + good[:half])
            events = pump.get(0)
            os.write(w, good[half:] + b"XY" + bytes(20))
            while pump.nstreams:
                events += pump.get(0)
        finally:
            os.close(w)
        assert len(events) == 2 * len(EVENTS) + 1, events
        assert events[-1][1] == _core.EV_BADFRAME
        return 5

    return work


# --- schedulers ------------------------------------------------------------

IDS = [f"testing/test_mod{i % 7}.py::test_{i}[p{i % 3}]" for i in range(60)]
# classes (loadscope), files (loadfile) and @groups (loadgroup)
SCOPED_IDS = [
    f"testing/test_mod{i % 5}.py::TestC{i % 2}::test_{i}" + (f"@g{i % 3}" if i % 4 == 0 else "") for i in range(60)
]


class Gateway:
    def __init__(self, spec: str) -> None:
        self.id = spec
        self.spec = spec


class Node:
    """A worker that runs what it is sent, one test per step."""

    def __init__(self, spec: str, ntests: int) -> None:
        self.gateway = Gateway(spec)
        self.queue: collections.deque[int] = collections.deque()
        self.ntests = ntests
        self.shutting_down = False
        self.steals: list[list[int]] = []

    def send_steal(self, indices: list[int]) -> None:
        self.steals.append(list(indices))

    def answer_steals(self) -> list[int]:
        """Give back what was asked for and is not started yet."""
        asked = {i for req in self.steals for i in req}
        self.steals.clear()
        given = [i for i in self.queue if i in asked]
        self.queue = collections.deque(i for i in self.queue if i not in asked)
        return given

    def send_runtest_some(self, indices: list[int]) -> None:
        self.queue.extend(indices)

    def send_runtest_all(self) -> None:
        self.queue.extend(range(self.ntests))

    def shutdown(self) -> None:
        self.shutting_down = True


class LoadWithReport(_core.LoadScheduler):
    """A Python subclass (instance __dict__) that records mismatches."""

    def _collection_mismatch(self, base_node: Any, node: Any, base_ids: Any, ids: Any) -> None:
        self.mismatch = (base_node, node, len(base_ids), len(ids))


def full_run(make: Callable[[int], Any], nnodes: int, col: list[str], crash_every: int, mismatch: bool) -> int:
    """Run a whole session, crashing a worker every `crash_every` steps and
    replacing it (every third replacement with a reversed collection if
    `mismatch`); returns the number of scheduler calls made."""
    sched = make(nnodes)
    ntests = len(col)
    nodes = [Node(f"spec{i}", ntests) for i in range(nnodes)]
    for node in nodes:
        sched.add_node(node)
    calls = nnodes
    for node in nodes:
        sched.add_node_collection(node, col)
        calls += 1
    sched.schedule()
    calls += 1
    # error paths, each leaves the scheduler as it was
    bads: list[Callable[[], object]] = [
        lambda: sched.add_node(nodes[0]),
        lambda: sched.mark_test_complete(nodes[0], 10**6),
        lambda: sched.remove_node(Node("stranger", 0)),
        lambda: sched.mark_test_complete(nodes[0], "x"),
    ]
    for bad in bads:
        try:
            bad()
        except (ValueError, KeyError, IndexError, TypeError):
            pass
        calls += 1
    step = 0
    spare = 0
    while not sched.tests_finished and step < 20 * ntests:
        for n in sched.nodes:
            if n.steals:  # work stealing: the worker answers
                sched.remove_pending_tests_from_node(n, n.answer_steals())
                calls += 1
        live = [n for n in sched.nodes if n.queue]
        if not live:
            # everything left waits for a replacement (each) or nobody
            # takes it: bring in a new node, as DSession does
            spare += 1
            node = Node(f"spec{spare % nnodes}", ntests)
            sched.add_node(node)
            sched.add_node_collection(node, col)
            sched.schedule()
            calls += 3
            if spare > 50:
                raise AssertionError("run does not finish")
            continue
        # uneven speeds: one node runs most tests, so the others fall
        # behind (refills, steals)
        node = live[0] if step % 4 else live[step % len(live)]
        index = node.queue.popleft()
        step += 1
        if step % crash_every == 0:
            crashed = sched.remove_node(node)  # `index` was running
            assert crashed is not None
            sched.nodes  # noqa: B018 (property read)
            node.queue.clear()
            repl = Node(node.gateway.spec, ntests)
            sched.add_node(repl)
            # every third replacement collects something else
            other = col[::-1] if mismatch and step % (3 * crash_every) == 0 else col
            sched.add_node_collection(repl, other)
            sched.schedule()
            calls += 4
        else:
            sched.mark_test_complete(node, index, 0.001)
            calls += 1
        if step % 5 == 0:
            sched.has_pending  # noqa: B018
            sched.collection  # noqa: B018
            sched.node_pending(sched.nodes[0]) if sched.nodes else None
            calls += 3
    for node in list(sched.nodes):
        sched.remove_node(node)
        calls += 1
    return calls


def sched_work(
    make: Callable[[int], Any],
    nnodes: int,
    crash_every: int,
    col: list[str] = IDS,
    mismatch: bool = True,
) -> Callable[[], int]:
    def work() -> int:
        return full_run(make, nnodes, col, crash_every, mismatch)

    return work


# --- hookexec --------------------------------------------------------------


def hookexec_work() -> Callable[[], int]:
    """HookExec as a plugin manager's _inner_hookexec: plain calls, results,
    firstresult, an implementation raising, a wrapper (pluggy's path), a
    missing argument (HookCallError), relay() direct and through
    monitoring, and short-lived managers (HookExec <-> manager cycle)."""
    import pluggy

    spec = pluggy.HookspecMarker("lk")
    impl = pluggy.HookimplMarker("lk")

    class Spec:
        @spec
        def lk_event(self, a: Any, b: Any) -> Any: ...

        @spec(firstresult=True)
        def lk_first(self, a: Any) -> Any: ...

    class Plain:
        @impl
        def lk_event(self, a: Any, b: Any) -> Any:
            return (a, b)

        @impl
        def lk_first(self, a: Any) -> Any:
            return a

    class Raising:
        @impl(tryfirst=True)
        def lk_event(self, a: Any, b: Any) -> None:
            if a == "raise":
                raise ValueError(a)

    class Wrapper:
        @impl(wrapper=True)
        def lk_event(self, a: Any, b: Any) -> Any:
            res = yield
            return res

    def manager(*plugins: object) -> Any:
        pm = pluggy.PluginManager("lk")
        pm.add_hookspecs(Spec)
        for p in plugins:
            pm.register(p)
        hx = _core.HookExec(pm._inner_hookexec)
        pm._inner_hookexec = hx
        return pm, hx

    pm, hx = manager(Plain(), Raising())
    wrapped, _ = manager(Plain(), Wrapper())
    n = [0]

    def work() -> int:
        assert pm.hook.lk_event(a="x" * 40, b=[1]) == [("x" * 40, [1])]
        assert pm.hook.lk_first(a=3) == 3
        try:
            pm.hook.lk_event(a="raise", b=None)
        except ValueError:
            pass
        assert wrapped.hook.lk_event(a=1, b=2) == [(1, 2)]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pm.hook.lk_event(a=1)
        except pluggy.HookCallError:
            pass
        assert hx.relay(pm.hook.lk_event, {"a": 1, "b": [2]}) == [(1, [2])]
        assert hx.relay(pm.hook.lk_first, {"a": 5}) == 5
        n[0] += 1
        if n[0] % 10 == 0:
            short, short_hx = manager(Plain())
            undo = short.add_hookcall_monitoring(lambda *a: None, lambda *a: None)
            assert short_hx.relay(short.hook.lk_event, {"a": 1, "b": 2}) == [(1, 2)]
            undo()
            del short, short_hx
            return 9
        return 7

    return work


def scope(mode: str) -> Callable[[int], Any]:
    return lambda n: _core.ScopeScheduler(n, mode)


def selftest_work() -> Callable[[], int]:
    """Leaks on purpose (one FrameWriter per cycle): proves the checks
    catch a leak."""
    kept: list[Any] = []

    def work() -> int:
        kept.append(_core.FrameWriter())
        return 1

    return work


# name -> (work factory, cycles, warm-up cycles).  A scheduler cycle is a
# whole session of about a hundred (each: two hundred) scheduler calls.
CHECKS: dict[str, tuple[Callable[[], Callable[[], int]], int, int]] = {
    "codec": (codec_work, 100_000, 500),
    "buffers": (buffers_work, 10_000, 500),
    "rollback": (rollback_work, 10_000, 500),
    "decode_errors": (decode_errors_work, 2_000, 100),
    "pump": (pump_work, 20_000, 500),
    "stream": (stream_work, 10_000, 500),
    "load": (lambda: sched_work(LoadWithReport, 3, 17), 600, 100),
    "load_plain": (lambda: sched_work(_core.LoadScheduler, 2, 23), 300, 100),
    "each": (lambda: sched_work(_core.EachScheduler, 2, 19), 300, 100),
    "loadscope": (lambda: sched_work(scope("loadscope"), 3, 13, SCOPED_IDS, False), 300, 100),
    "loadfile": (lambda: sched_work(scope("loadfile"), 2, 17, SCOPED_IDS, False), 200, 100),
    "loadgroup": (lambda: sched_work(scope("loadgroup"), 3, 11, SCOPED_IDS, False), 200, 100),
    "worksteal": (lambda: sched_work(_core.WorkStealScheduler, 3, 29, IDS, False), 300, 100),
    "hookexec": (hookexec_work, 20_000, 500),
    "selftest": (selftest_work, 5_000, 10),
}


def main() -> int:
    name = sys.argv[1]
    factory, cycles, warmup = CHECKS[name]
    if len(sys.argv) > 2:
        cycles = int(sys.argv[2])
    return measure(name, factory(), cycles, warmup)


if __name__ == "__main__":
    sys.exit(main())
