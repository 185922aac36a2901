"""Tests of the channel pump in xdist_c._core (csrc/pump.c)."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
import threading
import time
import weakref
from pathlib import Path
from typing import Any

import pytest

from xdist_c import _core

EV_COMPLETE = _core.EV_COMPLETE
EV_CLOSED = _core.EV_CLOSED
EV_BADFRAME = _core.EV_BADFRAME


def frame(*events: tuple[int, Any]) -> bytes:
    return _core.encode_frame(events)


def drain(pump: _core.Pump, n: int, timeout: float = 30.0) -> list[tuple[int, int, Any]]:
    """Collect n events (failing after `timeout` seconds)."""
    out: list[tuple[int, int, Any]] = []
    deadline = time.monotonic() + timeout
    while len(out) < n:
        left = deadline - time.monotonic()
        assert left > 0, f"only {len(out)} of {n} events arrived"
        out += pump.get(timeout=left)
    assert len(out) == n
    return out


def test_frames_become_events() -> None:
    p = _core.Pump()
    feed = p.feeder(3)
    feed(frame((_core.EV_LOGSTART, ("a::b", ("a", 1, "b"))), (EV_COMPLETE, (1, 0.5))))
    feed(frame((_core.CMD_SHUTDOWN, None)))
    assert len(p) == 2
    out = p.get()
    assert out == [
        (3, _core.EV_LOGSTART, ("a::b", ("a", 1, "b"))),
        (3, EV_COMPLETE, (1, 0.5)),
        (3, _core.CMD_SHUTDOWN, None),
    ]
    assert all(type(ev) is tuple for ev in out)
    assert len(p) == 0
    assert p.get(timeout=0) == []


def test_endmarker() -> None:
    p, q = _core.Pump(), _core.Pump()
    assert p.endmarker is p.endmarker
    assert p.endmarker is not q.endmarker
    assert type(p.endmarker) is object
    feed = p.feeder(0)
    feed(frame((EV_COMPLETE, (1, 0.5))))
    feed(p.endmarker)
    feed(q.endmarker)  # some other object: not our endmarker
    out = p.get(0)
    assert out[:2] == [(0, EV_COMPLETE, (1, 0.5)), (0, EV_CLOSED, None)]
    assert out[2][:2] == (0, EV_BADFRAME)


@pytest.mark.parametrize("data", [1, None, "text", [b"x"], memoryview(b"XC")])
def test_non_bytes_is_badframe(data: Any) -> None:
    p = _core.Pump()
    p.feeder(5)(data)
    ((slot, kind, msg),) = p.get(0)
    assert (slot, kind) == (5, EV_BADFRAME)
    assert msg == f"expected a bytes frame from the worker, got {type(data).__name__}"


def test_bytearray_is_copied() -> None:
    p = _core.Pump()
    data = bytearray(frame((EV_COMPLETE, (1, 0.5))))
    p.feeder(1)(data)
    data[:] = b"garbage"
    assert p.get(0) == [(1, EV_COMPLETE, (1, 0.5))]


def test_garbage_frame_then_good_frame() -> None:
    p = _core.Pump()
    feed = p.feeder(2)
    good = frame((EV_COMPLETE, (1, 0.5)), (EV_COMPLETE, (2, 0.5)))
    feed(b"\x80\x04garbage")
    feed(good[:-3])  # truncated: none of its events may come out
    corrupt = bytearray(good)
    corrupt[good.rindex(b"d")] = 0xFF  # the 2nd event's float tag broken
    feed(bytes(corrupt))
    feed(good)
    out = p.get(0)
    assert [ev[:2] for ev in out[:3]] == [(2, EV_BADFRAME)] * 3
    assert "magic" in out[0][2]
    assert all(isinstance(ev[2], str) and ev[2] for ev in out[:3])
    with pytest.raises(_core.FrameError) as exc_info:
        _core.decode_frame(good[:-3])
    assert out[1][2] == str(exc_info.value)
    assert out[3:] == [(2, EV_COMPLETE, (1, 0.5)), (2, EV_COMPLETE, (2, 0.5))]


def test_version_mismatch_message() -> None:
    p = _core.Pump()
    good = frame((EV_COMPLETE, (1, 0.5)))
    p.feeder(0)(good[:2] + bytes([_core.FORMAT_VERSION + 1]) + good[3:])
    ((_, kind, msg),) = p.get(0)
    assert kind == EV_BADFRAME
    assert "different xdist_c versions" in msg


def test_put() -> None:
    p = _core.Pump()
    payload = {"why": "worker crashed"}
    p.put(4, EV_CLOSED, payload)
    p.feeder(4)(frame((EV_COMPLETE, (1, 0.5))))
    p.put(5, 200, None)
    assert len(p) == 3
    out = p.get(0)
    assert out == [(4, EV_CLOSED, payload), (4, EV_COMPLETE, (1, 0.5)), (5, 200, None)]
    assert out[0][2] is payload
    with pytest.raises(ValueError):
        p.put(0, -1, None)
    with pytest.raises(ValueError):
        p.put(0, 256, None)
    with pytest.raises(TypeError):
        p.put(0, "1", None)
    with pytest.raises(TypeError):
        p.put("0", 1, None)
    with pytest.raises(TypeError):
        p.put(0, 1)  # type: ignore[call-arg]
    assert len(p) == 0


def test_signatures() -> None:
    with pytest.raises(TypeError):
        _core.Pump(1)  # type: ignore[call-arg]
    p = _core.Pump()
    feed = p.feeder(0)
    with pytest.raises(TypeError):
        type(feed)()
    with pytest.raises(TypeError):
        p.feeder("0")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        feed()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        feed(b"", b"")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        feed(data=b"")  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        p.get(-1)
    with pytest.raises(ValueError):
        p.get(float("nan"))
    with pytest.raises(TypeError):
        p.get("1")  # type: ignore[arg-type]
    assert "slot=0" in repr(feed)


def test_keyword_arguments_as_in_the_stub() -> None:
    import inspect

    p = _core.Pump()
    p.feeder(slot=2)(frame((EV_COMPLETE, (1, 0.5))))
    p.put(slot=3, kind=EV_CLOSED, payload=None)
    assert p.get(timeout=0) == [(2, EV_COMPLETE, (1, 0.5)), (3, EV_CLOSED, None)]
    assert str(inspect.signature(p.get)) == "(timeout=None, linger=0.0)"
    assert str(inspect.signature(p.put)) == "(slot, kind, payload)"
    with pytest.raises(TypeError, match="unexpected keyword"):
        p.get(wait=1)
    with pytest.raises(TypeError):
        p.put(1, 2, 3, payload=4)


def test_get_timeout() -> None:
    p = _core.Pump()
    t0 = time.monotonic()
    assert p.get(0) == []
    assert time.monotonic() - t0 < 0.5
    t0 = time.monotonic()
    assert p.get(timeout=0.05) == []
    elapsed = time.monotonic() - t0
    assert 0.045 <= elapsed < 1.0
    t0 = time.monotonic()
    assert p.get(0.2) == []
    assert 0.19 <= time.monotonic() - t0 < 2.0


def test_get_woken_by_feeder() -> None:
    p = _core.Pump()
    feed = p.feeder(9)

    def later() -> None:
        time.sleep(0.2)
        feed(frame((EV_COMPLETE, (1, 0.5))))

    for timeout in (None, 30.0):
        t = threading.Thread(target=later)
        t0 = time.monotonic()
        t.start()
        out = p.get(timeout)
        elapsed = time.monotonic() - t0
        t.join()
        assert out == [(9, EV_COMPLETE, (1, 0.5))]
        assert 0.15 <= elapsed < 10


def _progress(i: int) -> bytes:
    """One test's events, as a worker sends them."""
    nodeid, location = f"t.py::test_{i}", ("t.py", i, f"test_{i}")
    return frame(
        (_core.EV_LOGSTART, (nodeid, location)),
        (_core.EV_LOGFINISH, (nodeid, location)),
        (EV_COMPLETE, (i, 0.001)),
    )


def _feed_later(feed: Any, data: bytes, delay: float) -> threading.Thread:
    def later() -> None:
        time.sleep(delay)
        feed(data)

    t = threading.Thread(target=later)
    t.start()
    return t


@pytest.mark.parametrize("source", ["feeder", "stream"])
def test_get_lingers_for_more_progress_events(source: str) -> None:
    """With few progress events ready, get(linger=...) sleeps once and also
    hands out what arrived meanwhile."""
    p = _core.Pump()
    if source == "stream":
        if not hasattr(p, "attach_stream"):
            pytest.skip("no event pipes on this platform")
        import os

        r, w = os.pipe()
        p.attach_stream(3, r)
        feed = lambda data: os.write(w, data)  # noqa: E731
    else:
        feed = p.feeder(3)
    try:
        feed(_progress(0))
        t = _feed_later(feed, _progress(1), 0.1)
        t0 = time.monotonic()
        out = p.get(timeout=30, linger=0.6)
        elapsed = time.monotonic() - t0
        t.join()
        assert [(slot, kind) for slot, kind, _ in out] == [
            (3, _core.EV_LOGSTART),
            (3, _core.EV_LOGFINISH),
            (3, EV_COMPLETE),
        ] * 2
        assert [payload for _, kind, payload in out if kind == EV_COMPLETE] == [(0, 0.001), (1, 0.001)]
        assert 0.55 <= elapsed < 10
        # lingering is once per get(): nothing more arrives, get() returns
        feed(_progress(2))
        t0 = time.monotonic()
        assert len(p.get(timeout=30)) == 3
        assert time.monotonic() - t0 < 0.5
    finally:
        if source == "stream":
            os.close(w)


@pytest.mark.parametrize(
    "ready",
    [
        pytest.param([(_core.EV_WORKERREADY, {"id": "gw0"})], id="start-up"),
        pytest.param([(_core.EV_LOGSTART, ("a", None)), (_core.EV_COLLECTREPORT, {})], id="mixed"),
        pytest.param([(EV_COMPLETE, (i, 0.0)) for i in range(48)], id="48-events"),
    ],
)
def test_get_does_not_linger(ready: list[tuple[int, Any]]) -> None:
    """Anything but a test's progress, or many events, is handed out at
    once."""
    p = _core.Pump()
    p.feeder(0)(frame(*ready))
    t0 = time.monotonic()
    out = p.get(timeout=30, linger=5.0)
    assert time.monotonic() - t0 < 2.0
    assert [(kind, payload) for _, kind, payload in out] == ready


def test_get_linger_bounds() -> None:
    p = _core.Pump()
    for bad in (-0.001, float("nan")):
        with pytest.raises(ValueError, match="linger"):
            p.get(0, linger=bad)
    with pytest.raises(TypeError):
        p.get(0, linger="1")  # type: ignore[arg-type]
    assert p.get(0, linger=None) == []  # type: ignore[arg-type]
    # nothing ready: linger does not apply, the timeout does
    t0 = time.monotonic()
    assert p.get(0.05, linger=5.0) == []
    assert time.monotonic() - t0 < 2.0
    # at most a second, however long asked for
    p.feeder(0)(_progress(0))
    t0 = time.monotonic()
    assert len(p.get(0, linger=1e9)) == 3
    assert 0.9 <= time.monotonic() - t0 < 5.0


def test_many_threads() -> None:
    nthreads, nframes = 4, 1000
    p = _core.Pump()
    barrier = threading.Barrier(nthreads)

    def produce(slot: int) -> None:
        feed = p.feeder(slot)
        barrier.wait()
        for i in range(nframes):
            if i % 100 == 99:
                feed(frame((EV_COMPLETE, (i, 0.0)), (_core.EV_LOGSTART, ("n", ("f", i, "n")))))
            else:
                feed(frame((EV_COMPLETE, (i, 0.0))))
        feed(p.endmarker)

    threads = [threading.Thread(target=produce, args=(s,)) for s in range(nthreads)]
    for t in threads:
        t.start()
    per_frame_extra = nframes // 100
    out = drain(p, nthreads * (nframes + per_frame_extra + 1))
    for t in threads:
        t.join()
    for slot in range(nthreads):
        mine = [ev for ev in out if ev[0] == slot]
        completes = [ev[2][0] for ev in mine if ev[1] == EV_COMPLETE]
        assert completes == list(range(nframes))
        assert mine[-1] == (slot, EV_CLOSED, None)
    assert len(p) == 0


def test_execnet_channel() -> None:
    execnet = pytest.importorskip("execnet")
    gw = execnet.makegateway(f"popen//python={sys.executable}")
    try:
        ch = gw.remote_exec(
            textwrap.dedent(
                """
                while True:
                    data = channel.receive()
                    if data is None:
                        break
                    channel.send(data)
                channel.send(12345)
                """
            )
        )
        p = _core.Pump()
        ch.setcallback(p.feeder(7), endmarker=p.endmarker)
        for i in range(200):
            ch.send(frame((EV_COMPLETE, (i, 0.1))))
        ch.send(None)
        out = drain(p, 202)
        assert [ev[2][0] for ev in out[:200]] == list(range(200))
        assert out[200][:2] == (7, EV_BADFRAME)
        assert out[201] == (7, EV_CLOSED, None)
    finally:
        gw.exit()


def test_gc_cycles() -> None:
    class Holder:
        pump: Any = None

    p = _core.Pump()
    h = Holder()
    h.pump = p
    p.put(0, 1, h)  # pump -> queue -> holder -> pump
    p.put(0, 1, p.feeder(0))  # pump -> queue -> feeder -> pump
    ref = weakref.ref(h)
    del p, h
    gc.collect()
    assert ref() is None

    f = _core.Pump().feeder(1)
    f(b"x")  # the feeder keeps its pump alive
    del f
    gc.collect()


def test_no_leaks() -> None:
    import tracemalloc

    data = frame((EV_COMPLETE, (1, 0.5)), (_core.EV_TESTREPORT, {"nodeid": "a::b", "x": [1.5]}))
    p = _core.Pump()
    feed = p.feeder(0)

    def work() -> None:
        feed(data)
        feed(b"bad")
        feed(1)
        feed(p.endmarker)
        p.put(1, 2, "x")
        assert len(p.get(0)) == 6
        q = _core.Pump()
        q.feeder(3)(data)
        del q

    for _ in range(100):
        work()
    gc.collect()
    nobjs = len(gc.get_objects())
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(10_000):
            work()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(gc.get_objects()) - nobjs < 100
    assert after - before < 64 * 1024


# Signals: run in a subprocess, so that a KeyboardInterrupt that arrives at
# the wrong moment cannot take the test session down with it.
INTERRUPT_SCRIPT = """
import signal, sys, threading, time, _thread
from xdist_c import _core

how = sys.argv[1]
p = _core.Pump()
main = threading.main_thread().ident

def interrupt():
    time.sleep(0.3)
    if how == "interrupt_main":
        _thread.interrupt_main()
    else:
        signal.pthread_kill(main, signal.SIGINT)

def watchdog():
    time.sleep(20)
    p.put(0, 1, "watchdog")  # unblock get() so the test fails, not hangs

threading.Thread(target=interrupt, daemon=True).start()
threading.Thread(target=watchdog, daemon=True).start()
t0 = time.monotonic()
try:
    out = p.get(None)
except KeyboardInterrupt:
    print("KeyboardInterrupt after %.3f" % (time.monotonic() - t0))
else:
    print("returned", out)
"""


@pytest.mark.parametrize("how", ["interrupt_main", "pthread_kill"])
def test_keyboardinterrupt_while_waiting(how: str, tmp_path: Path) -> None:
    if how == "pthread_kill" and not hasattr(__import__("signal"), "pthread_kill"):
        pytest.skip("no signal.pthread_kill")
    # cwd away from the checkout: "-c" puts the cwd first on sys.path, and
    # the source tree's xdist_c/ has no compiled _core in a normal install.
    proc = subprocess.run(
        [sys.executable, "-c", INTERRUPT_SCRIPT, how],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    words = proc.stdout.split()
    assert words[0] == "KeyboardInterrupt", proc.stdout
    assert 0.25 <= float(words[-1]) < 5.0


def test_controller_lingers_only_while_every_node_has_tests_queued() -> None:
    """The controller asks get() to linger only while each node that can be
    given work holds LINGER_MIN_QUEUE tests: a node down to its last test
    waits for its next one, which must not wait out a linger (at the end
    of a run of quick tests it would, for every test)."""
    from types import SimpleNamespace

    from sched_doubles import MockNode
    from xdist_c.controller.dsession import EVENT_LINGER
    from xdist_c.controller.dsession import LINGER_MIN_QUEUE
    from xdist_c.controller.dsession import DSession

    n = 8 * 2 * LINGER_MIN_QUEUE  # the first chunks: n // 2 // 4 each
    sched = _core.LoadScheduler(2)
    nodes = [MockNode(), MockNode()]
    for node in nodes:
        sched.add_node(node)
    session = SimpleNamespace(sched=sched)
    assert DSession._linger(session) == 0.0  # collections not in yet
    for node in nodes:
        sched.add_node_collection(node, [f"t.py::test_{i}" for i in range(n)])
    sched.schedule()
    assert sched.shortest_queue == 2 * LINGER_MIN_QUEUE
    assert DSession._linger(session) == EVENT_LINGER
    first = nodes[0]
    while len(sched.node_pending(first)) >= LINGER_MIN_QUEUE:
        sched.mark_test_complete(first, sched.node_pending(first)[0])
        if len(sched.node_pending(first)) >= LINGER_MIN_QUEUE:
            assert DSession._linger(session) == EVENT_LINGER
    assert DSession._linger(session) == 0.0
    # a scheduler of a plugin's: its queues are unknown, no linger
    assert DSession._linger(SimpleNamespace(sched=object())) == 0.0
