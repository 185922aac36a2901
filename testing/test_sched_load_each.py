"""Unit tests of the load and each schedulers (xdist_c._core.LoadScheduler,
EachScheduler), of the protocol their common base owns (argument checks,
errors, collection storage, Python subclasses overriding methods) and of
their pytest-facing classes in xdist_c.controller.scheduler, driven by mock nodes
(sched_doubles) that record every command they are sent."""

from __future__ import annotations

import gc
import sys
import weakref
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from sched_doubles import MockNode
from sched_doubles import mock_config
from sched_doubles import runtests
from xdist_c import _core
from xdist_c._core import EachScheduler
from xdist_c._core import LoadScheduler
from xdist_c.controller.scheduler import EachScheduling
from xdist_c.controller.scheduler import LoadScheduling
from xdist_c.controller.scheduler import Scheduling


def ids(n: int) -> list[str]:
    return [f"test_m.py::test_{i}" for i in range(n)]


def load(
    n: int, nnodes: int, chunk: int | None = None, durations: dict[str, float] | None = None
) -> tuple[LoadScheduler, list[MockNode]]:
    """A LoadScheduler with nnodes nodes that all collected n tests, given
    ``durations`` (stored ones) if any, scheduled."""
    sched = LoadScheduler(nnodes, chunk)
    nodes = [MockNode() for _ in range(nnodes)]
    for node in nodes:
        sched.add_node(node)
    col = ids(n)
    for node in nodes:
        sched.add_node_collection(node, col)
    if durations is not None:
        sched.set_durations(durations)
    sched.schedule()
    return sched, nodes


# --------------------------------------------------------------------------
# LoadScheduler


class TestLoadBasics:
    def test_state_before_schedule(self) -> None:
        sched = LoadScheduler(2)
        n1, n2 = MockNode(), MockNode()
        assert sched.nodes == [] and sched.collection is None
        assert not sched.collection_is_completed
        assert not sched.tests_finished and not sched.has_pending
        sched.add_node(n1)
        sched.add_node(n2)
        assert sched.nodes == [n1, n2]
        assert sched.node_pending(n1) == [] and sched.pending == []
        sched.add_node_collection(n1, ids(2))
        assert not sched.collection_is_completed
        sched.add_node_collection(n2, ids(2))
        assert sched.collection_is_completed
        assert sched.collection is None  # until schedule()
        assert not sched.has_pending
        assert n1.sent == n2.sent == []

    def test_two_tests_two_nodes(self) -> None:
        sched, (n1, n2) = load(2, 2)
        assert sched.collection == ids(2)
        assert n1.sent == [("runtests", [0]), ("shutdown",)]
        assert n2.sent == [("runtests", [1]), ("shutdown",)]
        assert sched.pending == []
        assert sched.tests_finished and sched.has_pending
        sched.mark_test_complete(n1, 0)
        assert sched.tests_finished and sched.has_pending
        sched.mark_test_complete(n2, 1)
        assert sched.tests_finished and not sched.has_pending
        assert n1.sent[-1] == n2.sent[-1] == ("shutdown",)
        assert len(n1.sent) == len(n2.sent) == 2  # shut down once only

    def test_six_tests_two_nodes(self) -> None:
        sched, (n1, n2) = load(6, 2)
        assert n1.sent == runtests([0, 1]) and n2.sent == runtests([2, 3])
        assert sched.pending == [4, 5]
        assert sched.node_pending(n1) == [0, 1]
        assert sched.node_pending(n2) == [2, 3]
        assert not sched.tests_finished and sched.has_pending
        sched.mark_test_complete(n1, 0)
        assert n1.sent == runtests([0, 1], [4])
        assert sched.pending == [5] and sched.node_pending(n1) == [1, 4]
        assert n2.sent == runtests([2, 3])
        sched.mark_test_complete(n1, 1)
        assert n1.sent == runtests([0, 1], [4], [5])
        assert sched.pending == [] and sched.node_pending(n1) == [4, 5]
        assert not sched.tests_finished
        sched.mark_test_complete(n2, 2)
        assert n2.sent == runtests([2, 3]) + [("shutdown",)]
        assert not sched.tests_finished  # n1 still has two
        sched.mark_test_complete(n1, 4)
        assert n1.sent[-1] == ("shutdown",)
        assert sched.tests_finished and sched.has_pending
        sched.mark_test_complete(n1, 5)
        sched.mark_test_complete(n2, 3)
        assert sched.tests_finished and not sched.has_pending
        assert sched.nodes == [n1, n2]

    def test_sixteen_tests_default_chunk(self) -> None:
        sched, (n1, n2) = load(16, 2)
        assert n1.indices == [0, 1] and n2.indices == [2, 3]
        assert sched.pending == list(range(4, 16))
        sched.mark_test_complete(n1, 0)
        assert n1.indices == [0, 1, 4, 5]
        assert sched.pending == list(range(6, 16))
        sched.mark_test_complete(n1, 1)
        assert n1.indices == [0, 1, 4, 5]  # two left: enough
        for i in range(7, 16):
            sched.mark_test_complete(n1, i - 3)
            assert n1.indices == [0, 1, *range(4, i)]
            assert n2.indices == [2, 3]
            assert sched.pending == list(range(i, 16))

    def test_sixteen_tests_maxschedchunk_1(self) -> None:
        sched, (n1, n2) = load(16, 2, chunk=1)
        assert n1.indices == [0, 1] and n2.indices == [2, 3]
        assert sched.pending == list(range(4, 16))
        for done, first_pending in enumerate(range(5, 16)):
            sched.mark_test_complete(n1, n1.indices[done])
            # one more per completion, each in its own message
            assert n1.indices == [0, 1, *range(4, first_pending)]
            assert n1.sent[-1] == ("runtests", [first_pending - 1])
            assert n2.indices == [2, 3]
            assert sched.pending == list(range(first_pending, 16))

    def test_five_tests_three_nodes_round_robin(self) -> None:
        sched, (n1, n2, n3) = load(5, 3)
        # one test per message, round-robin, then shutdown for all
        assert n1.sent == runtests([0], [3]) + [("shutdown",)]
        assert n2.sent == runtests([1], [4]) + [("shutdown",)]
        assert n3.sent == runtests([2]) + [("shutdown",)]
        assert sched.pending == []
        assert not sched.tests_finished  # n1 and n2 have two pending
        sched.mark_test_complete(n1, 0)
        assert not sched.tests_finished
        sched.mark_test_complete(n2, 1)
        assert sched.tests_finished

    def test_two_tests_three_nodes(self) -> None:
        sched, (n1, n2, n3) = load(2, 3)
        assert n1.indices == [0] and n2.indices == [1] and n3.indices == []
        assert n3.sent == [("shutdown",)]
        assert sched.pending == [] and sched.tests_finished

    def test_big_initial_chunks_are_consecutive(self) -> None:
        sched, nodes = load(1000, 4)
        # max(2, min(1000 // 4 // 4, 1000)) = 62 each, consecutive
        for k, node in enumerate(nodes):
            assert node.sent == runtests(list(range(62 * k, 62 * k + 62)))
        assert sched.pending == list(range(248, 1000))
        _, nodes2 = load(1000, 4, chunk=10)
        assert nodes2[1].sent == runtests(list(range(10, 20)))

    def test_no_tests(self) -> None:
        sched, (n1,) = load(0, 1)
        assert sched.collection == []
        assert n1.sent == []  # like pytest-xdist: no shutdown sent here
        assert sched.tests_finished and not sched.has_pending

    def test_slow_test_heuristic(self) -> None:
        def prepared() -> tuple[LoadScheduler, MockNode]:
            sched, (n1, _) = load(100, 2, chunk=2)
            assert n1.indices == [0, 1] and sched.pending == list(range(4, 100))
            sched.mark_test_complete(n1, 0, 1.0)  # one left: topped up anyway
            assert n1.sent == runtests([0, 1], [4, 5])
            assert sched.node_pending(n1) == [1, 4, 5]
            return sched, n1

        sched, n1 = prepared()
        sched.mark_test_complete(n1, 1, 0.1)  # slow, two still queued: wait
        assert n1.sent == runtests([0, 1], [4, 5])
        assert sched.node_pending(n1) == [4, 5]
        sched.mark_test_complete(n1, 4, 0.5)  # one left: top up
        assert n1.sent == runtests([0, 1], [4, 5], [6, 7])

        sched, n1 = prepared()
        sched.mark_test_complete(n1, 1, 0.0999)  # fast: top up
        assert n1.sent == runtests([0, 1], [4, 5], [6, 7])
        sched, n1 = prepared()
        sched.mark_test_complete(n1, 1, duration=1)  # keyword, int
        assert n1.sent == runtests([0, 1], [4, 5])

    def test_shutting_down_node_gets_nothing(self) -> None:
        sched, (n1, n2) = load(20, 2)
        n1._shutdown = True
        sched.mark_test_complete(n1, 0)
        sched.mark_test_complete(n1, 1)
        assert n1.sent == runtests([0, 1])
        sched.mark_test_complete(n2, 2)
        assert n2.sent == runtests([2, 3], [4, 5, 6])  # 16 // 2 // 2 - 1

    def test_shortest_queue(self) -> None:
        """The fewest tests a node that can work holds: what the controller
        reads to decide whether it may let events pile up (a node down to
        its last test must get its next one at once)."""
        sched = LoadScheduler(2)
        n1, n2 = MockNode(), MockNode()
        sched.add_node(n1)
        sched.add_node(n2)
        assert sched.shortest_queue is None  # nobody's collection accepted
        for node in (n1, n2):
            sched.add_node_collection(node, ids(40))
        sched.schedule()
        assert sched.shortest_queue == min(len(n1.indices), len(n2.indices)) == 5  # 40 // 2 // 4
        sched.mark_test_complete(n1, n1.indices[0])
        assert sched.shortest_queue == min(len(sched.node_pending(n)) for n in (n1, n2))
        sched.remove_node(n2)
        assert sched.shortest_queue == len(sched.node_pending(n1))
        sched.remove_node(n1)
        assert sched.shortest_queue is None

    def test_shortest_queue_skips_an_ignored_node(self) -> None:
        sched, (n1, n2) = load(40, 2)
        late = MockNode()
        sched.add_node(late)
        sched.add_node_collection(late, ids(39))  # differs: never given work
        assert sched.shortest_queue == 5

    def test_remove_node_requeues_at_end(self) -> None:
        sched, (n1, n2) = load(12, 2)
        assert n1.indices == [0, 1] and sched.pending == list(range(4, 12))
        crashed = sched.remove_node(n1)
        assert crashed == "test_m.py::test_0"
        assert sched.nodes == [n2]
        assert sched.pending == [*range(4, 12), 1]
        assert n2.sent == runtests([2, 3])  # had enough
        with pytest.raises(KeyError):
            sched.node_pending(n1)
        sched.mark_test_complete(n2, 2)
        assert n2.sent == runtests([2, 3], [4, 5, 6])
        assert sched.pending == [7, 8, 9, 10, 11, 1]

    def test_remove_node_tops_up_others(self) -> None:
        sched, (n1, n2, n3) = load(6, 3)
        # max(2, 6 // 3 // 4) = 2 each: all sent, all told to shut down
        assert [n.sent for n in (n1, n2, n3)] == [runtests(c) + [("shutdown",)] for c in ([0, 1], [2, 3], [4, 5])]
        sched.mark_test_complete(n2, 2)
        sched.mark_test_complete(n2, 3)
        assert sched.remove_node(n1) == "test_m.py::test_0"
        # 1 went back, but everybody is shutting down: nobody takes it
        assert sched.pending == [1] and not sched.tests_finished
        replacement = MockNode()
        sched.add_node(replacement)
        sched.add_node_collection(replacement, ids(6))
        sched.schedule()
        assert replacement.sent == runtests([1])
        assert sched.pending == [] and not sched.tests_finished  # n3: 2 left
        sched.mark_test_complete(n3, 4)
        assert sched.tests_finished

    def test_remove_idle_node(self) -> None:
        sched, (n1, n2) = load(2, 2)
        sched.mark_test_complete(n1, 0)
        assert sched.remove_node(n1) is None
        assert sched.nodes == [n2]
        with pytest.raises(KeyError):
            sched.remove_node(n1)

    def test_remove_single_node(self) -> None:
        sched, (node,) = load(1, 1)
        assert sched.remove_node(node) == "test_m.py::test_0"
        assert sched.nodes == [] and sched.tests_finished
        assert not sched.has_pending

    def test_remove_node_before_schedule(self) -> None:
        sched = LoadScheduler(2)
        n1, n2, n3 = MockNode(), MockNode(), MockNode()
        for n in (n1, n2, n3):
            sched.add_node(n)
        sched.add_node_collection(n1, ids(8))
        assert sched.remove_node(n1) is None
        sched.add_node_collection(n2, ids(8))
        sched.schedule()
        # n1's collection still counts (and is the base); n3 has none yet,
        # so it is sent nothing (pytest-xdist sends it work already)...
        assert n2.indices == [0, 1] and n3.sent == []
        sched.mark_test_complete(n2, 0)
        assert n2.indices == [0, 1, 2] and n3.sent == []
        # ... until its collection is accepted.
        sched.add_node_collection(n3, ids(8))
        sched.schedule()
        assert n3.indices == [3, 4]

    def test_mark_test_pending(self) -> None:
        sched, (n1, _) = load(12, 2)
        sched.mark_test_pending("test_m.py::test_9")
        assert sched.pending == [9, *range(4, 12)]
        assert n1.sent == runtests([0, 1])
        sched.mark_test_complete(n1, 0)
        assert n1.sent == runtests([0, 1], [9])
        with pytest.raises(ValueError, match="not in the collection"):
            sched.mark_test_pending("nope")
        with pytest.raises(TypeError):
            sched.mark_test_pending([])  # type: ignore[arg-type]  # unhashable

    def test_mark_test_pending_checks_every_node(self) -> None:
        sched, (n1, n2) = load(4, 2)
        for node, idx in ((n1, 0), (n1, 1), (n2, 2), (n2, 3)):
            sched.mark_test_complete(node, idx)
        assert n1.sent[-1] == n2.sent[-1] == ("shutdown",)
        n2._shutdown = False  # say n2 has not seen it yet
        sched.mark_test_pending("test_m.py::test_1")
        assert n1.sent == runtests([0, 1]) + [("shutdown",)]
        assert n2.sent == runtests([2, 3]) + [("shutdown",), ("runtests", [1])]

    def test_duplicate_ids_first_index(self) -> None:
        sched2 = LoadScheduler(1)
        node = MockNode()
        sched2.add_node(node)
        sched2.add_node_collection(node, ["x"] * 6)
        sched2.schedule()
        sched2.mark_test_pending("x")
        assert sched2.pending[0] == 0

    def test_late_node_same_collection_gets_work(self) -> None:
        sched, (n1, n2) = load(40, 2)
        n3 = MockNode()
        sched.add_node(n3)
        assert sched.nodes == [n1, n2, n3]
        sched.add_node_collection(n3, ids(40))
        sched.schedule()
        # 40 // 2 // 4 = 5 each at first; then 30 pending over 3 nodes
        assert n1.indices == [0, 1, 2, 3, 4] and n2.indices == [5, 6, 7, 8, 9]
        assert n3.indices == [10, 11, 12, 13, 14]

    def test_late_node_other_collection_gets_nothing(self) -> None:
        calls: list[tuple[Any, ...]] = []

        class Rec(LoadScheduler):
            def _collection_mismatch(self, *args: Any) -> None:
                calls.append(args)

        sched = Rec(2)
        n1, n2 = MockNode(), MockNode()
        for n in (n1, n2):
            sched.add_node(n)
        for n in (n1, n2):
            sched.add_node_collection(n, ids(40))
        sched.schedule()
        assert calls == []
        n3 = MockNode()
        sched.add_node(n3)
        sched.add_node_collection(n3, ids(39))
        assert calls == [(n1, n3, ids(40), ids(39))]
        assert calls[0][2] is sched.collection
        sched.schedule()
        sched.mark_test_pending("test_m.py::test_3")
        assert n3.sent == []
        assert sched.remove_node(n3) is None


class TestLoadRefillFloor:
    """In a quick suite (the stored durations time every test and none is
    long), a node keeps XC_REFILL_COVER (3 ms) of work queued at the mean
    duration so far, so that it does not run dry while its next tests are
    on their way; tests of 1.5 ms and more, and runs without durations for
    every test, keep pytest-xdist's two."""

    @staticmethod
    def drive(
        duration: float, n: int = 200, stored: dict[str, float] | None = None
    ) -> tuple[list[Any], list[Any], list[int]]:
        """Schedule n tests on two nodes with ``stored`` durations, then
        complete n1's tests one by one, each taking ``duration``: what both
        nodes were sent, and what n1 held after each completion while tests
        were still unsent."""
        sched, (n1, n2) = load(n, 2, durations=stored)
        held = []
        while sched.node_pending(n1):
            sched.mark_test_complete(n1, sched.node_pending(n1)[0], duration)
            if sched.pending:
                held.append(len(sched.node_pending(n1)))
        return n1.sent, n2.sent, held

    @staticmethod
    def quick(n: int = 200) -> dict[str, float]:
        return dict.fromkeys(ids(n), 0.0002)

    @pytest.mark.parametrize("duration", [0.002, 0.01, 0.05])
    def test_tests_of_milliseconds_are_sent_as_by_pytest_xdist(self, duration: float) -> None:
        assert self.drive(duration, stored=self.quick()) == self.drive(0.0)

    def test_fast_tests_keep_the_refill_time_queued(self) -> None:
        *_, held = self.drive(0.0002, stored=self.quick())
        # 0.003 s / 0.0002 s: 15 tests, never fewer while some are unsent.
        assert held and min(held) >= 15
        # pytest-xdist's rule lets the node run down to two.
        *_, reference = self.drive(0.0)
        assert min(reference) < 15

    def test_at_most_64_tests_are_kept(self) -> None:
        *_, held = self.drive(1e-7, n=1000, stored=self.quick(1000))
        # Not the 30,000 tests of 3 ms: once pytest-xdist's rule would keep
        # fewer, the node runs down to 64 before it is topped up.
        assert 64 <= min(held) <= 2 * 64

    @pytest.mark.parametrize(
        "stored",
        [
            None,  # a first run: the tests still to come may be slow ones
            dict(list(dict.fromkeys(ids(200), 0.0002).items())[:150]),  # new tests
            {**dict.fromkeys(ids(200), 0.0002), ids(200)[-1]: 0.5},  # a long one
        ],
        ids=["no durations", "some untimed", "a long test"],
    )
    def test_only_a_suite_known_to_be_quick(self, stored: dict[str, float] | None) -> None:
        assert self.drive(0.0002, stored=stored)[:2] == self.drive(0.0, stored=stored)[:2]


class TestLoadCollectionMismatch:
    def test_subclass_hook_called_nothing_scheduled(self) -> None:
        calls: list[tuple[Any, ...]] = []

        class Rec(LoadScheduler):
            def _collection_mismatch(self, *args: Any) -> None:
                calls.append(args)

        sched = Rec(3)
        n1, n2, n3 = MockNode(), MockNode(), MockNode()
        for n in (n1, n2, n3):
            sched.add_node(n)
        # arrival order decides the base (n3) and the report order
        sched.add_node_collection(n3, ["a", "b"])
        sched.add_node_collection(n2, ["a", "c"])
        sched.add_node_collection(n1, ["b", "a"])
        sched.schedule()
        assert calls == [
            (n3, n2, ["a", "b"], ["a", "c"]),
            (n3, n1, ["a", "b"], ["b", "a"]),
        ]
        assert n1.sent == n2.sent == n3.sent == []
        assert sched.collection is None and sched.pending == []
        assert sched.tests_finished and not sched.has_pending
        with pytest.raises(RuntimeError):
            sched.mark_test_pending("a")

    def test_base_hook_is_a_noop(self) -> None:
        sched = LoadScheduler(2)
        n1, n2 = MockNode(), MockNode()
        for n in (n1, n2):
            sched.add_node(n)
        sched.add_node_collection(n1, ["a"])
        sched.add_node_collection(n2, ["b"])
        sched._collection_mismatch(n1, n2, ["a"], ["b"])  # does nothing
        sched.schedule()
        assert n1.sent == n2.sent == [] and sched.tests_finished

    def test_hook_error_propagates(self) -> None:
        class Boom(LoadScheduler):
            def _collection_mismatch(self, *args: Any) -> None:
                raise ZeroDivisionError("boom")

        sched = Boom(2)
        n1, n2 = MockNode(), MockNode()
        for n in (n1, n2):
            sched.add_node(n)
        sched.add_node_collection(n1, ["a"])
        sched.add_node_collection(n2, ["b"])
        with pytest.raises(ZeroDivisionError):
            sched.schedule()

    def test_load_scheduling_reports(self) -> None:
        config = mock_config(["2*popen"])
        logged: list[tuple[object, ...]] = []
        sched = LoadScheduling(config, log=lambda *a: logged.append(a))
        n1, n2 = MockNode(), MockNode()
        for n in (n1, n2):
            sched.add_node(n)
        sched.add_node_collection(n1, ["a.py::test_1"])
        sched.add_node_collection(n2, ["a.py::test_2"])
        sched.schedule()
        (rep,) = config.hook.reports
        assert rep.nodeid == n2.gateway.id and rep.outcome == "failed"
        assert isinstance(rep.longrepr, str)
        assert rep.longrepr.startswith(f"Different tests were collected between {n1.gateway.id} and {n2.gateway.id}")
        assert rep.result == []
        assert logged == [(rep.longrepr,)]
        assert n1.sent == n2.sent == [] and sched.tests_finished

    def test_load_scheduling_late_mismatch_only_logged(self) -> None:
        config = mock_config(["popen"])
        logged: list[tuple[object, ...]] = []
        sched = LoadScheduling(config, log=lambda *a: logged.append(a))
        n1, n2 = MockNode(), MockNode()
        sched.add_node(n1)
        sched.add_node_collection(n1, ["a", "b", "c", "d", "e"])
        sched.schedule()
        sched.add_node(n2)
        sched.add_node_collection(n2, ["a"])
        assert config.hook.reports == []
        assert len(logged) == 1 and "Different tests were collected" in str(logged[0][0])


class TestLoadErrors:
    def test_bad_init(self) -> None:
        with pytest.raises(TypeError):
            LoadScheduler()  # type: ignore[call-arg]
        with pytest.raises(TypeError):
            LoadScheduler("2")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            LoadScheduler(2, 1.5)  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            LoadScheduler(-1)
        assert LoadScheduler(numnodes=2, maxschedchunk=None).collection is None
        with pytest.raises(TypeError, match="cannot create"):
            _core._SchedulerBase()

    def test_unknown_node(self) -> None:
        sched, _ = load(4, 1)
        other = MockNode()
        for call in (
            lambda: sched.add_node_collection(other, ids(4)),
            lambda: sched.mark_test_complete(other, 0),
            lambda: sched.remove_node(other),
            lambda: sched.node_pending(other),
        ):
            with pytest.raises(KeyError):
                call()
        with pytest.raises(KeyError) as excinfo:
            sched.remove_node((1, 2))  # a tuple key is reported whole
        assert excinfo.value.args == ((1, 2),)
        with pytest.raises(TypeError):
            sched.add_node([])  # unhashable

    def test_bad_item_index(self) -> None:
        sched, (n1, _) = load(8, 2)
        with pytest.raises(IndexError):
            sched.mark_test_complete(n1, 8)
        with pytest.raises(IndexError):
            sched.mark_test_complete(n1, -1)
        with pytest.raises(ValueError, match="not pending"):
            sched.mark_test_complete(n1, 2)  # n2's
        with pytest.raises(TypeError):
            sched.mark_test_complete(n1, "0")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            sched.mark_test_complete(n1, 0.0)  # type: ignore[arg-type]
        with pytest.raises(OverflowError):
            sched.mark_test_complete(n1, 2**80)
        with pytest.raises(TypeError):
            sched.mark_test_complete(n1, 0, "slow")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            sched.mark_test_complete(n1)  # type: ignore[call-arg]
        with pytest.raises(TypeError):
            sched.mark_test_complete(n1, 0, 0, 0)  # type: ignore[call-arg]
        with pytest.raises(TypeError):
            sched.mark_test_complete(n1, 0, item_index=0)  # type: ignore[misc]
        with pytest.raises(TypeError):
            sched.mark_test_complete(n1, 0, bogus=1)  # type: ignore[call-arg]
        assert sched.node_pending(n1) == [0, 1]  # nothing changed
        sched.mark_test_complete(node=n1, item_index=1, duration=0.0)
        assert sched.node_pending(n1) == [0, 4]
        with pytest.raises(ValueError):
            sched.mark_test_complete(n1, 1)  # completed twice

    def test_misuse(self) -> None:
        sched = LoadScheduler(2)
        node = MockNode()
        sched.add_node(node)
        with pytest.raises(ValueError, match="already added"):
            sched.add_node(node)
        with pytest.raises(RuntimeError, match="before collection completed"):
            sched.schedule()
        with pytest.raises(RuntimeError):
            sched.mark_test_pending("x")
        sched.add_node_collection(node, ["x"])
        with pytest.raises(ValueError, match="already sent"):
            sched.add_node_collection(node, ["x"])
        with pytest.raises(NotImplementedError):
            sched.remove_pending_tests_from_node(node, [0])
        with pytest.raises(TypeError):
            sched.schedule(1)  # type: ignore[call-arg]

    def test_bad_collection_type(self) -> None:
        sched = LoadScheduler(2)
        n1, n2 = MockNode(), MockNode()
        sched.add_node(n1)
        sched.add_node(n2)
        with pytest.raises(TypeError):
            sched.add_node_collection(n1, 5)  # type: ignore[arg-type]
        sched.add_node_collection(n1, ("a", "b"))  # any sequence
        with pytest.raises(TypeError):
            sched.add_node_collection(n2, 5)  # type: ignore[arg-type]
        sched.add_node_collection(n2, iter(["a", "b"]))  # type: ignore[arg-type]
        sched.schedule()
        assert sched.collection == ["a", "b"]
        assert n1.indices == [0] and n2.indices == [1]

    def test_node_errors_propagate(self) -> None:
        class Broken(MockNode):
            def send_runtest_some(self, indices: Sequence[int]) -> None:
                raise OSError("channel closed")

        sched = LoadScheduler(1)
        node = Broken()
        sched.add_node(node)
        sched.add_node_collection(node, ids(4))
        with pytest.raises(OSError, match="channel closed"):
            sched.schedule()
        # the indices were handed out before the send failed, as in xdist
        assert sched.node_pending(node) == [0, 1]

        class NoShutdown(MockNode):
            def shutdown(self) -> None:
                raise RuntimeError("no")

        sched = LoadScheduler(1)
        node2 = NoShutdown()
        sched.add_node(node2)
        sched.add_node_collection(node2, ids(1))
        with pytest.raises(RuntimeError, match="no"):
            sched.schedule()

        class BadProp(MockNode):
            @property
            def shutting_down(self) -> bool:
                raise KeyError("prop")

        sched = LoadScheduler(1)
        node3 = BadProp()
        sched.add_node(node3)
        sched.add_node_collection(node3, ids(10))
        sched.schedule()
        with pytest.raises(KeyError, match="prop"):
            sched.mark_test_complete(node3, 0)

        class Plain:
            pass

        sched = LoadScheduler(1)
        plain = Plain()
        sched.add_node(plain)
        sched.add_node_collection(plain, ids(3))
        with pytest.raises(AttributeError):
            sched.schedule()

    def test_reentrant_node_does_not_crash(self) -> None:
        """A node calling back into the scheduler from a command."""

        class Meddler(MockNode):
            sched: LoadScheduler

            def send_runtest_some(self, indices: Sequence[int]) -> None:
                super().send_runtest_some(indices)
                if len(self.sent) == 1:
                    other = MockNode()
                    self.sched.add_node(other)
                    self.sched.add_node_collection(other, ids(30))
                    self.sched.remove_node(self)

        sched = LoadScheduler(2)
        a, b = Meddler(), MockNode()
        a.sched = sched
        for n in (a, b):
            sched.add_node(n)
        for n in (a, b):
            sched.add_node_collection(n, ids(30))
        sched.schedule()
        assert a not in sched.nodes and len(sched.nodes) == 2
        held = [i for n in sched.nodes for i in sched.node_pending(n)]
        # `a` removed itself from inside its first command: 0 counts as
        # crashed, the rest went back to be handed out again
        assert sorted(sched.pending + held) == list(range(1, 30))


# --------------------------------------------------------------------------
# EachScheduler


def each(cols: list[list[str]], specs: list[str] | None = None) -> tuple[EachScheduler, list[MockNode]]:
    sched = EachScheduler(len(cols))
    nodes = [MockNode(spec) for spec in (specs or [f"spec{i}" for i in range(len(cols))])]
    for node in nodes:
        sched.add_node(node)
    for node, col in zip(nodes, cols):
        sched.add_node_collection(node, col)
    sched.schedule()
    return sched, nodes


class TestEach:
    def test_simple(self) -> None:
        sched = EachScheduler(2)
        n1, n2 = MockNode(), MockNode()
        sched.add_node(n1)
        sched.add_node(n2)
        assert not sched.collection_is_completed
        sched.add_node_collection(n1, ["a.py::test_1"])
        assert not sched.collection_is_completed
        sched.add_node_collection(n2, ["a.py::test_1"])
        assert sched.collection_is_completed
        assert sched.collection == ["a.py::test_1"]
        assert not sched.has_pending
        sched.schedule()
        assert n1.sent == n2.sent == [("runtests_all",), ("shutdown",)]
        assert sched.node_pending(n1) == [0]
        assert sched.tests_finished and sched.has_pending
        sched.mark_test_complete(n1, 0)
        assert sched.tests_finished
        sched.mark_test_complete(n2, 0)
        assert sched.tests_finished and not sched.has_pending
        sched.schedule()  # again: nobody new, nothing sent
        assert n1.sent == n2.sent == [("runtests_all",), ("shutdown",)]

    def test_tests_finished_counts_per_node(self) -> None:
        sched, (n1, n2) = each([ids(3), ids(3)])
        assert sched.node_pending(n2) == [0, 1, 2]
        assert not sched.tests_finished
        sched.mark_test_complete(n1, 0)
        sched.mark_test_complete(n1, 1)
        assert not sched.tests_finished
        sched.mark_test_complete(n2, 0)
        assert not sched.tests_finished  # n2 still has 1 and 2
        sched.mark_test_complete(n2, 1)
        assert sched.tests_finished

    def test_collections_not_cross_checked(self) -> None:
        calls: list[Any] = []

        class Rec(EachScheduler):
            def _collection_mismatch(self, *args: Any) -> None:
                calls.append(args)

        sched = Rec(2)
        n1, n2 = MockNode(), MockNode()
        sched.add_node(n1)
        sched.add_node(n2)
        sched.add_node_collection(n1, ids(2))
        sched.add_node_collection(n2, ids(5))
        sched.schedule()
        assert calls == []
        assert sched.node_pending(n1) == [0, 1]
        assert sched.node_pending(n2) == [0, 1, 2, 3, 4]
        sched.mark_test_complete(n2, 0)
        with pytest.raises(IndexError):
            sched.mark_test_complete(n1, 4)  # outside n1's own collection
        assert sched.remove_node(n2) == "test_m.py::test_1"

    def test_remove_node(self) -> None:
        sched, (node,) = each([["a.py::test_1"]])
        assert sched.tests_finished
        assert sched.remove_node(node) == "a.py::test_1"
        assert sched.tests_finished and sched.nodes == []

    def test_crash_and_replacement(self) -> None:
        sched, (n1, n2) = each([ids(5), ids(5)], specs=["py39", "py311"])
        sched.mark_test_complete(n1, 0)
        assert sched.remove_node(n1) == "test_m.py::test_1"
        assert not sched.tests_finished  # 2, 3, 4 wait for a replacement
        assert sched.nodes == [n2]
        for i in range(5):
            sched.mark_test_complete(n2, i)
        assert not sched.tests_finished and not sched.has_pending
        wrong_spec = MockNode("py311")
        replacement = MockNode("py39")
        sched.add_node(wrong_spec)
        sched.add_node(replacement)
        sched.add_node_collection(wrong_spec, ids(5))
        sched.add_node_collection(replacement, ids(5))
        assert sched.node_pending(replacement) == [2, 3, 4]
        assert sched.node_pending(wrong_spec) == []
        sched.schedule()
        assert replacement.sent == [("runtests", [2, 3, 4])]  # no shutdown
        assert wrong_spec.sent == [("shutdown",)]  # nothing to do
        assert not sched.tests_finished
        sched.mark_test_complete(replacement, 2)
        sched.mark_test_complete(replacement, 3)
        assert sched.tests_finished

    def test_replacement_crashes_too(self) -> None:
        sched, (n1,) = each([ids(6)], specs=["a"])
        assert sched.remove_node(n1) == "test_m.py::test_0"
        r1 = MockNode("a")
        sched.add_node(r1)
        sched.add_node_collection(r1, ids(6))
        sched.schedule()
        assert r1.sent == [("runtests", [1, 2, 3, 4, 5])]
        sched.mark_test_complete(r1, 1)
        assert sched.remove_node(r1) == "test_m.py::test_2"
        r2 = MockNode("a")
        sched.add_node(r2)
        sched.add_node_collection(r2, ids(6))
        sched.schedule()
        assert r2.sent == [("runtests", [3, 4, 5])]
        assert sched.remove_node(r2) == "test_m.py::test_3"

    def test_replacement_with_other_collection_ignored(self) -> None:
        config = mock_config(["popen"])
        logged: list[tuple[object, ...]] = []
        sched = EachScheduling(config, log=lambda *a: logged.append(a))
        n1 = MockNode("popen")
        sched.add_node(n1)
        sched.add_node_collection(n1, ids(4))
        sched.schedule()
        assert sched.remove_node(n1) == "test_m.py::test_0"
        r = MockNode("popen")
        sched.add_node(r)
        sched.add_node_collection(r, ids(3))
        assert len(logged) == 1
        assert f"between {n1.gateway.id} and {r.gateway.id}" in str(logged[0][0])
        assert config.hook.reports == []
        assert sched.node_pending(r) == []
        sched.schedule()
        assert r.sent == [("shutdown",)]
        assert not sched.tests_finished  # 1, 2, 3 still owed
        r2 = MockNode("popen")  # a later one that matches takes over
        sched.add_node(r2)
        sched.add_node_collection(r2, ids(4))
        sched.schedule()
        assert r2.sent == [("runtests", [1, 2, 3])]

    def test_mismatch_hook_args(self) -> None:
        calls: list[Any] = []

        class Rec(EachScheduler):
            def _collection_mismatch(self, *args: Any) -> None:
                calls.append(args)

        sched = Rec(2)
        n1, n2 = MockNode("x"), MockNode("y")
        sched.add_node(n1)
        sched.add_node(n2)
        sched.add_node_collection(n1, ["a", "b"])
        sched.add_node_collection(n2, ["c", "d", "e"])
        sched.schedule()
        assert sched.remove_node(n2) == "c"
        r = MockNode("y")
        sched.add_node(r)
        sched.add_node_collection(r, ("c", "d"))
        assert calls == [(n2, r, ["c", "d", "e"], ["c", "d"])]

    def test_crash_with_nothing_left(self) -> None:
        sched, (n1,) = each([ids(2)], specs=["a"])
        sched.mark_test_complete(n1, 0)
        assert sched.remove_node(n1) == "test_m.py::test_1"
        assert sched.tests_finished
        late = MockNode("a")
        sched.add_node(late)
        sched.add_node_collection(late, ids(2))
        sched.schedule()  # pytest-xdist raises KeyError here
        assert late.sent == [("shutdown",)]
        assert sched.tests_finished

    def test_more_nodes_than_numnodes(self) -> None:
        sched = EachScheduler(1)
        n1, n2 = MockNode(), MockNode()
        sched.add_node(n1)
        sched.add_node(n2)
        sched.add_node_collection(n1, ids(2))
        sched.schedule()
        assert n1.sent == [("runtests_all",), ("shutdown",)]
        assert n2.sent == []  # no collection yet: left alone
        sched.add_node_collection(n2, ids(2))
        sched.schedule()
        assert n2.sent == [("shutdown",)]

    def test_errors(self) -> None:
        sched, (n1,) = each([ids(3)])
        with pytest.raises(NotImplementedError):
            sched.mark_test_pending("test_m.py::test_0")
        with pytest.raises(NotImplementedError):
            sched.remove_pending_tests_from_node(n1, [0])
        other = MockNode()
        for call in (
            lambda: sched.mark_test_complete(other, 0),
            lambda: sched.remove_node(other),
            lambda: sched.add_node_collection(other, []),
            lambda: sched.node_pending(other),
        ):
            with pytest.raises(KeyError):
                call()
        with pytest.raises(IndexError):
            sched.mark_test_complete(n1, 3)
        sched.mark_test_complete(n1, 0)
        with pytest.raises(ValueError):
            sched.mark_test_complete(n1, 0)
        with pytest.raises(ValueError):
            sched.add_node(n1)
        with pytest.raises(ValueError):
            sched.add_node_collection(n1, ids(3))
        with pytest.raises(TypeError):
            EachScheduler(2, 3)  # type: ignore[call-arg]
        with pytest.raises(RuntimeError):
            EachScheduler(1).schedule()

        class NoAll(MockNode):
            def send_runtest_all(self) -> None:
                raise OSError("gone")

        sched = EachScheduler(1)
        bad = NoAll()
        sched.add_node(bad)
        sched.add_node_collection(bad, ids(1))
        with pytest.raises(OSError):
            sched.schedule()

    def test_spec_lookup_errors_propagate(self) -> None:
        sched, (n1,) = each([ids(3)])
        sched.remove_node(n1)
        r = MockNode()
        del r.gateway.spec
        sched.add_node(r)
        with pytest.raises(AttributeError):
            sched.add_node_collection(r, ids(3))


# --------------------------------------------------------------------------
# Python subclasses, objects, memory


class TestSubclasses:
    def test_load_scheduling_from_config(self) -> None:
        config = mock_config(["2*popen", "ssh=x"], maxschedchunk=1)
        sched = LoadScheduling(config)
        assert isinstance(sched, LoadScheduler)
        assert sched.config is config
        sched.log("ignored", 1)  # the default log is a no-op
        nodes = [MockNode() for _ in range(3)]
        for n in nodes:
            sched.add_node(n)
        for n in nodes[:2]:
            sched.add_node_collection(n, ids(30))
        assert not sched.collection_is_completed
        sched.add_node_collection(nodes[2], ids(30))
        assert sched.collection_is_completed
        sched.schedule()
        assert [n.indices for n in nodes] == [[0, 1], [2, 3], [4, 5]]
        sched.mark_test_complete(nodes[0], 0)
        assert nodes[0].sent[-1] == ("runtests", [6])  # maxschedchunk=1

    def test_each_scheduling_from_config(self) -> None:
        sched = EachScheduling(mock_config(["popen"]))
        assert isinstance(sched, EachScheduler)
        node = MockNode()
        sched.add_node(node)
        sched.add_node_collection(node, ids(2))
        sched.schedule()
        assert node.sent == [("runtests_all",), ("shutdown",)]

    def test_missing_tx(self) -> None:
        with pytest.raises(pytest.UsageError):
            LoadScheduling(mock_config([]))

    def test_protocol(self) -> None:
        def use(s: Scheduling) -> bool:
            return s.tests_finished

        assert use(LoadScheduling(mock_config(["popen"]))) is False
        assert use(EachScheduling(mock_config(["popen"]))) is False

    def test_instance_dict_and_subclass_state(self) -> None:
        s = LoadScheduler(1)
        s.anything = 1  # type: ignore[attr-defined]
        assert s.__dict__ == {"anything": 1}
        e = EachScheduler(1)
        e.__dict__["x"] = 2
        assert e.x == 2  # type: ignore[attr-defined]

        class Sub(LoadScheduler):
            def __init__(self, config: object) -> None:
                super().__init__(1)
                self.config = config

        sub = Sub("cfg")
        assert sub.config == "cfg" and sub.__dict__ == {"config": "cfg"}

        class NoInit(LoadScheduler):
            def __init__(self) -> None:
                pass

        plain = NoInit()  # usable even without the base __init__
        assert plain.collection_is_completed and plain.nodes == []

    def test_cycles_are_collected(self) -> None:
        class Sub(LoadScheduler):
            pass

        sched = Sub(1)
        node = MockNode()
        node.sched = sched  # type: ignore[attr-defined]
        sched.me = sched  # type: ignore[attr-defined]
        sched.add_node(node)
        sched.add_node_collection(node, ids(3))
        sched.schedule()
        ref = weakref.ref(node)
        del sched, node
        gc.collect()
        assert ref() is None


class ListWithRef(list):  # type: ignore[type-arg]
    """A list that supports weak references."""


class TestCollectionStoredOnce:
    def test_same_object_and_copies_dropped(self) -> None:
        sched = LoadScheduler(16)
        nodes = [MockNode() for _ in range(16)]
        for n in nodes:
            sched.add_node(n)
        refs = []
        for n in nodes:
            # each worker's ids are distinct string objects, as after
            # deserialising 16 messages
            col = ListWithRef("".join(["test_m.py::", f"test_{i}"]) for i in range(1000))
            refs.append(weakref.ref(col))
            first_item = col[0]
            before = sys.getrefcount(first_item)
            sched.add_node_collection(n, col)
            after = sys.getrefcount(first_item)
            if n is nodes[0]:
                assert after == before + 1  # copied once into the base
            else:
                assert after == before  # compared, not kept
            del col, first_item
        gc.collect()
        assert all(r() is None for r in refs)  # nobody's list is kept
        sched.schedule()
        assert sched.collection is sched.collection
        assert sched.collection == ids(1000)

    def test_each_keeps_one_copy_per_distinct_collection(self) -> None:
        sched = EachScheduler(3)
        nodes = [MockNode() for _ in range(3)]
        for n in nodes:
            sched.add_node(n)
        a = ListWithRef(ids(10))
        b = ListWithRef(ids(10))
        c = ListWithRef(ids(11))
        for n, col in zip(nodes, (a, b, c)):
            sched.add_node_collection(n, col)
        ra, rb, rc = weakref.ref(a), weakref.ref(b), weakref.ref(c)
        del a, b, c, col
        gc.collect()
        assert ra() is rb() is rc() is None
        sched.schedule()
        assert sched.collection is sched.collection
        assert sched.node_pending(nodes[2]) == list(range(11))


# --------------------------------------------------------------------------
# Property tests: random completion orders, crashes and replacements


def _consistent(sched: Any, live: list[MockNode]) -> None:
    """The scheduler's view of every node equals the node's own queue."""
    assert sched.nodes == live
    for node in live:
        assert sched.node_pending(node) == node.queue


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(0, 60),
    nnodes=st.integers(1, 5),
    chunk=st.one_of(st.none(), st.integers(1, 6)),
    data=st.data(),
)
def test_load_every_test_runs_once(n: int, nnodes: int, chunk: int | None, data: st.DataObject) -> None:
    sched = LoadScheduler(nnodes, chunk)
    col = ids(n)
    live = [MockNode() for _ in range(nnodes)]
    for node in live:
        sched.add_node(node)
    for node in live:
        sched.add_node_collection(node, col)
    sched.schedule()
    outcome: dict[int, int] = {}  # index -> times completed or crashed
    crashes_left = data.draw(st.integers(0, 4))
    for _ in range(10 * n + 50):
        _consistent(sched, live)
        if sched.tests_finished:
            for node in live:  # DSession.triggershutdown
                node.shutdown()
        busy = [node for node in live if node.queue]
        if not busy:
            break
        node = busy[data.draw(st.integers(0, len(busy) - 1))]
        if crashes_left and data.draw(st.integers(0, 9)) == 0:
            crashes_left -= 1
            running = node.queue[0]
            assert sched.remove_node(node) == col[running]
            outcome[running] = outcome.get(running, 0) + 1
            live.remove(node)
            new = MockNode()
            live.append(new)
            sched.add_node(new)
            sched.add_node_collection(new, list(col))
            sched.schedule()
            continue
        idx = node.queue.pop(0)
        duration = data.draw(st.sampled_from([0, 0.05, 0.1, 2.0]))
        sched.mark_test_complete(node, idx, duration)
        outcome[idx] = outcome.get(idx, 0) + 1
    else:
        raise AssertionError("did not finish")
    assert sched.pending == [], "stalled with tests never sent"
    assert outcome == {i: 1 for i in range(n)}
    assert sched.tests_finished and not sched.has_pending


@settings(max_examples=300, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 25), min_size=1, max_size=4),
    data=st.data(),
)
def test_each_every_node_runs_everything(sizes: list[int], data: st.DataObject) -> None:
    sched = EachScheduler(len(sizes))
    specs = [f"spec{i}" for i in range(len(sizes))]
    cols = {spec: ids(size) for spec, size in zip(specs, sizes)}
    live = [MockNode(spec) for spec in specs]
    for node in live:
        sched.add_node(node)
    for node in live:
        sched.add_node_collection(node, cols[node.gateway.spec])
    sched.schedule()
    for node in live:
        assert node.sent == [("runtests_all",), ("shutdown",)]
        node.queue = list(range(len(cols[node.gateway.spec])))
    outcome: dict[tuple[str, int], int] = {}
    crashes_left = data.draw(st.integers(0, 5))
    for _ in range(10 * sum(sizes) + 50):
        _consistent(sched, live)
        busy = [node for node in live if node.queue]
        if not busy:
            break
        node = busy[data.draw(st.integers(0, len(busy) - 1))]
        spec = node.gateway.spec
        if crashes_left and data.draw(st.integers(0, 9)) == 0:
            crashes_left -= 1
            running = node.queue[0]
            assert sched.remove_node(node) == cols[spec][running]
            outcome[spec, running] = outcome.get((spec, running), 0) + 1
            live.remove(node)
            new = MockNode(spec)
            live.append(new)
            sched.add_node(new)
            sched.add_node_collection(new, list(cols[spec]))
            sched.schedule()
            assert new.sent in ([("shutdown",)], [("runtests", new.queue)])
            if not new.sent:  # nothing was left for it
                assert node.queue == [running]
            continue
        idx = node.queue.pop(0)
        sched.mark_test_complete(node, idx, 0.0)
        outcome[spec, idx] = outcome.get((spec, idx), 0) + 1
        assert sched.tests_finished == (all(len(n.queue) < 2 for n in live))
    else:
        raise AssertionError("did not finish")
    expected = {(spec, i): 1 for spec in specs for i in range(len(cols[spec]))}
    assert outcome == expected
    assert sched.tests_finished and not sched.has_pending


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 400),
    nnodes=st.integers(1, 3),
    picks=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 10**6)), max_size=300),
)
def test_pending_deques_match_a_model(n: int, nnodes: int, picks: list[tuple[int, int]]) -> None:
    """The ledger's ring buffers, seen through node_pending() / pending:
    completions at any position (not only the front), top-ups at the back,
    mark_test_pending at the front of the global deque, wrapping around."""
    sched, nodes = load(n, nnodes)
    col = ids(n)
    model = {id(node): list(node.indices) for node in nodes}
    seen = {id(node): len(node.indices) for node in nodes}
    gpending = [i for i in range(n) if not any(i in m for m in model.values())]
    assert sched.pending == gpending
    for which, x in picks:
        node = nodes[which % nnodes]
        mine = model[id(node)]
        if x % 7 == 0 and sched.collection:
            item = x % n
            sched.mark_test_pending(col[item])
            gpending.insert(0, item)
        elif mine:
            value = mine[x % len(mine)]
            mine.remove(value)  # the first one: duplicates are possible
            sched.mark_test_complete(node, value)
        for other in nodes:
            new = other.indices[seen[id(other)] :]
            seen[id(other)] += len(new)
            model[id(other)].extend(new)
            del gpending[: len(new)]
        for other in nodes:
            assert sched.node_pending(other) == model[id(other)]
        assert sched.pending == gpending
