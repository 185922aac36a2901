"""Unit and property tests of the loadscope / loadfile / loadgroup
(``ScopeScheduler``) and worksteal (``WorkStealScheduler``) schedulers.

* Unit tests: the state after every call, with mock nodes that record what
  they are sent, including pytest-xdist's documented expectations.
* Property tests: random suites run through a simulated controller (what
  DSession does) and simulated workers (what xdist_c.worker does: a command
  inbox, a queue, a "next" test popped before the current one runs, steals
  answered all-or-nothing, events delivered later, in order), with random
  completion orders, crashes at any moment and replacement workers, in
  every mode.
"""

from __future__ import annotations

import gc
import random
import sys
import weakref
from collections import deque
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from sched_doubles import MockGateway
from sched_doubles import MockNode as Node
from sched_doubles import mock_config
from sched_doubles import runtests as rt
from xdist_c import _core
from xdist_c._core import ScopeScheduler
from xdist_c._core import WorkStealScheduler
from xdist_c.controller.scheduler import SCHEDULERS
from xdist_c.controller.scheduler import LoadFileScheduling
from xdist_c.controller.scheduler import LoadGroupScheduling
from xdist_c.controller.scheduler import LoadScopeScheduling
from xdist_c.controller.scheduler import Scheduling
from xdist_c.controller.scheduler import WorkStealingScheduling


def config(nnodes: int, **options: Any) -> Any:
    return mock_config([f"{nnodes}*popen"], **options)


SHUT = ("shutdown",)


def started(sched: Any, col: list[str], nnodes: int) -> tuple[Any, list[Node]]:
    nodes = [Node() for _ in range(nnodes)]
    for node in nodes:
        sched.add_node(node)
    for node in nodes:
        sched.add_node_collection(node, col)
    sched.schedule()
    return sched, nodes


def scope(
    col: list[str], nnodes: int, mode: str = "loadscope", reorder: bool = True
) -> tuple[ScopeScheduler, list[Node]]:
    return started(ScopeScheduler(nnodes, mode, reorder), col, nnodes)


def steal(col: list[str], nnodes: int) -> tuple[WorkStealScheduler, list[Node]]:
    return started(WorkStealScheduler(nnodes), col, nnodes)


def params(path: str, n: int, name: str = "test") -> list[str]:
    return [f"{path}::{name}[{i}]" for i in range(n)]


# --------------------------------------------------------------------------
# Scopes


def ref_split(mode: str, nodeid: str) -> str:
    """pytest-xdist's three _split_scope rules, for comparison."""
    if mode == "loadscope":
        return nodeid.rsplit("::", 1)[0]
    if mode == "loadfile":
        return nodeid.split("::", 1)[0]
    if nodeid.rfind("@") > nodeid.rfind("]"):
        return nodeid.split("@")[-1]
    return nodeid


class TestSplitScope:
    @pytest.mark.parametrize(
        "mode, nodeid, expected",
        [
            ("loadscope", "a/test_x.py::test_f", "a/test_x.py"),
            ("loadscope", "a/test_x.py::TestC::test_m[1]", "a/test_x.py::TestC"),
            ("loadscope", "a/test_x.py::test_p[1-x]", "a/test_x.py"),
            ("loadscope", "pkg/__init__.py::pkg.func", "pkg/__init__.py"),
            ("loadscope", "test_x.py", "test_x.py"),
            ("loadscope", "t.py::test[a::b]", "t.py::test[a"),
            ("loadfile", "a/test_x.py::TestC::test_m", "a/test_x.py"),
            ("loadfile", "a/test_x.py", "a/test_x.py"),
            ("loadgroup", "t.py::test_a@db", "db"),
            ("loadgroup", "t.py::C::test_a[1]@db", "db"),
            ("loadgroup", "t.py::test_a[x@y]", "t.py::test_a[x@y]"),
            ("loadgroup", "t.py::test_a[x@y]@g", "g"),
            ("loadgroup", "t.py::test_a", "t.py::test_a"),
            ("loadgroup", "t.py::a@b@c", "c"),
            ("loadscope", "ü.py::Ä::é€", "ü.py::Ä"),
            ("loadgroup", "t.py::x@\U0001f600", "\U0001f600"),
        ],
    )
    def test_table(self, mode: str, nodeid: str, expected: str) -> None:
        assert ref_split(mode, nodeid) == expected
        assert ScopeScheduler(1, mode)._split_scope(nodeid) == expected

    @settings(max_examples=500, deadline=None)
    @given(
        mode=st.sampled_from(["loadscope", "loadfile", "loadgroup"]),
        nodeid=st.text(alphabet=":@[]aé\U0001f600", max_size=12),
    )
    def test_same_as_pytest_xdist(self, mode: str, nodeid: str) -> None:
        assert ScopeScheduler(1, mode)._split_scope(nodeid) == ref_split(mode, nodeid)

    def test_not_a_str(self) -> None:
        with pytest.raises(TypeError, match="must be str"):
            ScopeScheduler(1)._split_scope(b"a::b")  # type: ignore[arg-type]
        sched = ScopeScheduler(1)
        node = Node()
        sched.add_node(node)
        sched.add_node_collection(node, ["a::b", 3])  # type: ignore[list-item]
        with pytest.raises(TypeError):
            sched.schedule()
        assert sched.collection is None  # nothing half-built
        assert node.sent == []


class TestScopeDocumented:
    """pytest-xdist's acceptance tests, at the scheduler level."""

    def test_largest_scope_first(self) -> None:
        col = params("test_a.py", 10) + params("test_b.py", 20)
        sched, (gw0, gw1) = scope(col, 2)
        assert sched.collection == col
        assert gw0.indices == list(range(10, 30))  # test_b, 20 tests
        assert gw1.indices == list(range(10))  # test_a, 10 tests
        # one unit each and nothing left: shut down by the top-up pass and
        # again by the final pass, as pytest-xdist does
        assert gw0.sent[1:] == gw1.sent[1:] == [SHUT, SHUT]
        assert sched.pending_units == [] and sched.reorder

    def test_no_reorder_keeps_collection_order(self) -> None:
        col = params("test_a.py", 10) + params("test_b.py", 20)
        sched, (gw0, gw1) = scope(col, 2, reorder=False)
        assert gw0.indices == list(range(10))
        assert gw1.indices == list(range(10, 30))
        assert not sched.reorder

    def test_equal_sizes_keep_collection_order(self) -> None:
        col = params("test_c.py", 3) + params("test_a.py", 5) + params("test_b.py", 3)
        sched, (n,) = scope(col, 1)
        assert n.sent == rt([3, 4, 5, 6, 7])
        assert sched.pending_units == [[0, 1, 2], [8, 9, 10]]

    def test_by_class_and_module(self) -> None:
        col = params("test_a.py::TestA", 3) + params("test_a.py::TestB", 3) + ["test_a.py::test_f", "test_a.py::test_g"]
        sched = ScopeScheduler(1)
        assert sorted({str(sched._split_scope(i)) for i in col}) == [
            "test_a.py",
            "test_a.py::TestA",
            "test_a.py::TestB",
        ]
        sched, (n,) = scope(col, 1)
        assert n.sent == rt([0, 1, 2])
        assert sched.pending_units == [[3, 4, 5], [6, 7]]
        sched, (n,) = scope(col, 1, "loadfile")
        assert n.sent == rt(list(range(8))) + [SHUT, SHUT]

    def test_module_single_start(self) -> None:
        """Every node starting with one test must still finish (#277)."""
        col = [
            "test_a.py::test",
            "test_b.py::test",
            "test_c.py::test_1",
            "test_c.py::test_2",
        ]
        sched, (gw0, gw1) = scope(col, 2)
        # test_c (2) first; a node with <= 2 pending gets one more unit
        assert gw0.sent == rt([2, 3], [1]) + [SHUT]
        assert gw1.sent == rt([0]) + [SHUT, SHUT]
        assert not sched.tests_finished  # gw0 has three
        sched.mark_test_complete(gw0, 2)
        assert not sched.tests_finished  # two
        sched.mark_test_complete(gw0, 3)
        assert sched.tests_finished

    def test_loadgroup_same_group_same_node(self) -> None:
        col = [
            "test_a.py::test_1@g1",
            "test_a.py::test_2",
            "test_b.py::test_1@g1",
            "test_b.py::test_x[a@b]",
            "test_b.py::test_y[1]@g2",
            "test_c.py::TestK::test_m@g2",
        ]
        sched, (n1, n2) = scope(col, 2, "loadgroup")
        # g1, g2 (2 each), then the two ungrouped tests, one unit each
        assert n1.sent == rt([0, 2], [1]) + [SHUT]
        assert n2.sent == rt([4, 5], [3]) + [SHUT]


class TestScopeState:
    def test_before_schedule(self) -> None:
        sched = ScopeScheduler(2, "loadfile", False)
        assert sched.mode == "loadfile" and not sched.reorder
        n1, n2 = Node(), Node()
        assert sched.nodes == [] and sched.collection is None
        assert not sched.collection_is_completed and not sched.tests_finished
        sched.add_node(n1)
        sched.add_node(n2)
        sched.add_node_collection(n1, params("t.py", 4))
        assert not sched.collection_is_completed
        with pytest.raises(RuntimeError, match="before collection"):
            sched.schedule()
        sched.add_node_collection(n2, params("t.py", 4))
        assert sched.collection_is_completed and sched.tests_finished
        assert sched.collection is None and sched.pending_units == []
        assert not sched.has_pending
        with pytest.raises(RuntimeError, match="before schedule"):
            sched.mark_test_pending("t.py::test[0]")

    def test_every_call(self) -> None:
        col = (
            params("test_a.py::TestX", 6)
            + ["test_a.py::test_f0", "test_a.py::test_f1", "test_a.py::test_f2"]
            + params("test_b.py", 4, "test_g")
        )
        sched, (n1, n2) = scope(col, 2)
        # units by size: TestX [0..5], test_b [9..12], test_a [6, 7, 8]
        assert n1.sent == rt([0, 1, 2, 3, 4, 5])
        assert n2.sent == rt([9, 10, 11, 12])
        assert sched.pending_units == [[6, 7, 8]]
        assert sched.node_pending(n1) == [0, 1, 2, 3, 4, 5]
        assert sched.has_pending and not sched.tests_finished
        sched.mark_test_complete(n2, 9)  # three left: enough
        assert n2.sent == rt([9, 10, 11, 12])
        assert sched.pending_units == [[6, 7, 8]]
        sched.mark_test_complete(n2, 10)  # two left: next unit
        assert n2.sent == rt([9, 10, 11, 12], [6, 7, 8])
        assert sched.pending_units == [] and sched.node_pending(n2) == [11, 12, 6, 7, 8]
        sched.mark_test_complete(n1, 0, 0.5)
        assert n1.sent == rt([0, 1, 2, 3, 4, 5]) + [SHUT]  # nothing left
        sched.mark_test_complete(n1, 1)
        assert n1.sent[-1] == SHUT and len(n1.sent) == 2  # asked once
        for i in (11, 12, 6, 7):
            sched.mark_test_complete(n2, i)
        assert n2.sent == rt([9, 10, 11, 12], [6, 7, 8]) + [SHUT]
        assert not sched.tests_finished  # n1 still has four
        for i in (2, 3, 4):
            sched.mark_test_complete(n1, i)
        assert sched.tests_finished and sched.has_pending
        sched.mark_test_complete(n1, 5)
        sched.mark_test_complete(n2, 8)
        assert sched.tests_finished and not sched.has_pending
        assert sched.remove_node(n1) is None and sched.nodes == [n2]

    def test_more_nodes_than_units(self) -> None:
        col = params("test_a.py", 3) + params("test_b.py", 2)
        sched, nodes = scope(col, 4)
        n1, n2, n3, n4 = nodes
        # the last nodes added are let go: shut down and forgotten
        assert n3.sent == n4.sent == [SHUT]
        assert sched.nodes == [n1, n2]
        with pytest.raises(KeyError):
            sched.remove_node(n4)
        with pytest.raises(KeyError):
            sched.mark_test_complete(n3, 0)
        assert n1.sent == rt([0, 1, 2]) + [SHUT, SHUT]
        assert n2.sent == rt([3, 4]) + [SHUT, SHUT]

    def test_surplus_node_without_collection(self) -> None:
        """A node let go before its collection came: that collection is
        dropped when it arrives (pytest-xdist fails an assertion)."""
        col = params("a.py", 3)
        sched = ScopeScheduler(1)
        n1, n2 = Node(), Node()
        sched.add_node(n1)
        sched.add_node(n2)  # a replacement, still collecting
        sched.add_node_collection(n1, col)
        sched.schedule()
        assert n2.sent == [SHUT] and sched.nodes == [n1]
        sched.add_node_collection(n2, col)  # ignored
        sched.schedule()
        assert n2.sent == [SHUT] and sched.nodes == [n1]
        with pytest.raises(KeyError):
            sched.add_node_collection(Node(), col)  # never added

    def test_empty_collection(self) -> None:
        sched, (n,) = scope([], 1)
        assert sched.collection == [] and n.sent == []
        assert sched.tests_finished and not sched.has_pending

    def test_no_nodes(self) -> None:
        sched = ScopeScheduler(0)
        sched.schedule()
        assert sched.collection is None and sched.tests_finished

    def test_shutting_down_node_gets_nothing(self) -> None:
        col = params("a.py", 3) + params("b.py", 3) + params("c.py", 3)
        sched, (n1, n2) = scope(col, 2)
        n1._shutdown = True
        sched.mark_test_complete(n1, 0)
        assert n1.sent == rt([0, 1, 2])
        sched.mark_test_complete(n2, 3)
        assert n2.sent == rt([3, 4, 5], [6, 7, 8])

    def test_duplicate_ids_each_run(self) -> None:
        # pytest-xdist keys units by nodeid and runs such duplicates once
        sched, (n,) = scope(["t.py::x", "t.py::x", "t.py::y"], 1)
        assert n.sent == rt([0, 1, 2]) + [SHUT, SHUT]
        for i in (0, 1, 2):
            sched.mark_test_complete(n, i)
        assert not sched.has_pending
        sched.mark_test_pending("t.py::x")
        assert sched.pending_units == [[0]]  # the first index, like list.index


class TestScopeCrash:
    def col(self) -> list[str]:
        return (
            params("test_a.py::TestX", 6)
            + ["test_a.py::test_f0", "test_a.py::test_f1", "test_a.py::test_f2"]
            + params("test_b.py", 4, "test_g")
        )

    def test_crash_moves_only_the_unstarted_rest(self) -> None:
        col = self.col()
        sched, (n1, n2) = scope(col, 2)
        for i in (0, 1, 2):
            sched.mark_test_complete(n1, i)
        assert sched.remove_node(n1) == "test_a.py::TestX::test[3]"
        assert sched.nodes == [n2]
        # 4 and 5 go back as one unit, at the end; 0-2 and 3 are not resent
        assert sched.pending_units == [[6, 7, 8], [4, 5]]
        assert n2.sent == rt([9, 10, 11, 12])  # four left: enough
        r = Node()
        sched.add_node(r)
        sched.add_node_collection(r, list(col))
        sched.schedule()
        assert r.sent == rt([6, 7, 8])
        sched.mark_test_complete(r, 6)
        assert r.sent == rt([6, 7, 8], [4, 5])
        assert sched.pending_units == []

    def test_crash_with_two_units_keeps_them_apart(self) -> None:
        col = params("a.py", 3) + params("b.py", 2) + params("c.py", 2)
        sched, (n1,) = scope(col, 1)
        assert n1.sent == rt([0, 1, 2])
        sched.mark_test_complete(n1, 0)  # two left: next unit
        assert n1.sent == rt([0, 1, 2], [3, 4])
        assert sched.remove_node(n1) == "a.py::test[1]"
        assert sched.pending_units == [[5, 6], [2], [3, 4]]
        assert not sched.tests_finished

    def test_crash_takes_the_others_when_they_run_low(self) -> None:
        col = params("a.py", 4) + params("b.py", 2)
        sched, (n1, n2) = scope(col, 2)
        assert n1.sent == rt([0, 1, 2, 3]) + [SHUT, SHUT]
        assert n2.sent == rt([4, 5]) + [SHUT, SHUT]
        n2._shutdown = False  # say it has not seen the shutdown yet
        assert sched.remove_node(n1) == "a.py::test[0]"
        assert n2.sent == rt([4, 5]) + [SHUT, SHUT] + rt([1, 2, 3])
        assert sched.pending_units == []

    def test_crash_of_last_test_requeues_nothing(self) -> None:
        sched, (n,) = scope(params("a.py", 2), 1)
        sched.mark_test_complete(n, 0)
        assert sched.remove_node(n) == "a.py::test[1]"
        assert sched.pending_units == [] and sched.tests_finished
        assert not sched.has_pending

    def test_mark_test_pending_is_its_own_unit_first(self) -> None:
        col = params("a.py", 3) + params("b.py", 3) + params("c.py", 3)
        sched, (n1,) = scope(col, 1)
        sched.mark_test_pending("c.py::test[1]")
        assert sched.pending_units == [[7], [3, 4, 5], [6, 7, 8]]
        sched.mark_test_complete(n1, 0)
        assert n1.sent == rt([0, 1, 2], [7])
        with pytest.raises(ValueError, match="not in the collection"):
            sched.mark_test_pending("nope")

    def test_rerun_after_crash(self) -> None:
        """What pytest-rerunfailures does from pytest_handlecrashitem."""
        col = params("a.py", 3) + params("b.py", 3)
        sched, (n1, n2) = scope(col, 2)
        crashed = sched.remove_node(n1)
        assert crashed == "a.py::test[0]"
        assert sched.pending_units == [[1, 2]]
        sched.mark_test_pending(crashed)
        assert sched.pending_units == [[0], [1, 2]]

    def test_steal_answer_not_supported(self) -> None:
        sched, (n1, _) = scope(params("a.py", 3), 2)
        with pytest.raises(NotImplementedError):
            sched.remove_pending_tests_from_node(n1, [0])


class TestScopeCollections:
    def test_mismatch_at_start_reports_and_runs_nothing(self) -> None:
        cfg = config(2)
        sched = LoadScopeScheduling(cfg)
        n1, n2 = Node(), Node()
        sched.add_node(n1)
        sched.add_node(n2)
        sched.add_node_collection(n1, ["a.py::t1"])
        sched.add_node_collection(n2, ["a.py::t2"])
        sched.schedule()
        (rep,) = cfg.hook.reports
        assert rep.nodeid == n2.gateway.id and rep.outcome == "failed"
        assert "Different tests were collected" in str(rep.longrepr)
        assert n1.sent == n2.sent == [] and sched.tests_finished
        assert sched.collection is None

    def test_late_node(self) -> None:
        calls: list[tuple[Any, ...]] = []

        class Rec(ScopeScheduler):
            def _collection_mismatch(self, *args: Any) -> None:
                calls.append(args)

        col = params("a.py", 4) + params("b.py", 4) + params("c.py", 4)
        sched, (n1,) = started(Rec(1), col, 1)
        late_bad, late_good = Node(), Node()
        sched.add_node(late_bad)
        sched.add_node(late_good)
        sched.add_node_collection(late_bad, col[:-1])
        assert calls == [(n1, late_bad, col, col[:-1])]
        sched.add_node_collection(late_good, col)
        sched.schedule()
        assert late_bad.sent == []  # work waits: it gets none
        assert late_good.sent == rt([4, 5, 6, 7])
        assert sched.pending_units == [[8, 9, 10, 11]]
        assert sched.node_pending(late_bad) == []
        with pytest.raises(ValueError, match="already sent"):
            sched.add_node_collection(late_bad, col)

    def test_node_without_collection_gets_no_unit(self) -> None:
        col = params("a.py", 4) + params("b.py", 4)
        sched = ScopeScheduler(1)
        n1, n2 = Node(), Node()
        sched.add_node(n1)
        sched.add_node(n2)
        sched.add_node_collection(n1, col)
        sched.schedule()  # pytest-xdist raises KeyError here
        assert n1.sent == rt([0, 1, 2, 3]) and n2.sent == []
        sched.add_node_collection(n2, col)
        sched.schedule()
        assert n2.sent == rt([4, 5, 6, 7])

    def test_custom_split_scope(self) -> None:
        seen: list[str] = []

        class ByLetter(LoadScopeScheduling):
            def _split_scope(self, nodeid: str) -> str:
                seen.append(nodeid)
                return nodeid.rsplit("::", 1)[1][0]

        col = ["a.py::x1", "b.py::y1", "a.py::x2", "c.py::x3", "d.py::z"]
        sched, (n,) = started(ByLetter(config(1)), col, 1)
        assert seen == col  # once per nodeid
        assert n.sent == rt([0, 2, 3])
        assert sched.pending_units == [[1], [4]]

    def test_split_scope_error_propagates(self) -> None:
        class Boom(ScopeScheduler):
            def _split_scope(self, nodeid: str) -> str:
                raise ZeroDivisionError(nodeid)

        sched = Boom(1)
        node = Node()
        sched.add_node(node)
        sched.add_node_collection(node, ["a"])
        with pytest.raises(ZeroDivisionError):
            sched.schedule()
        assert sched.collection is None

    def test_unhashable_scope(self) -> None:
        class Listy(ScopeScheduler):
            def _split_scope(self, nodeid: str) -> Any:
                return [nodeid]

        sched = Listy(1)
        node = Node()
        sched.add_node(node)
        sched.add_node_collection(node, ["a"])
        with pytest.raises(TypeError):
            sched.schedule()


class TestScopeErrors:
    def test_bad_init(self) -> None:
        with pytest.raises(ValueError, match="mode must be"):
            ScopeScheduler(1, "load")
        with pytest.raises(TypeError):
            ScopeScheduler("1")  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            ScopeScheduler(-1)
        s = ScopeScheduler(numnodes=1, mode="loadgroup", reorder=0)  # type: ignore[arg-type]
        assert s.mode == "loadgroup" and s.reorder is False

    def test_bad_calls(self) -> None:
        sched, (n1, _) = scope(params("a.py", 4) + params("b.py", 4), 2)
        other = Node()
        for call in (
            lambda: sched.add_node_collection(other, []),
            lambda: sched.mark_test_complete(other, 0),
            lambda: sched.remove_node(other),
            lambda: sched.node_pending(other),
        ):
            with pytest.raises(KeyError):
                call()
        with pytest.raises(IndexError):
            sched.mark_test_complete(n1, 8)
        with pytest.raises(ValueError, match="not pending"):
            sched.mark_test_complete(n1, 4)
        with pytest.raises(TypeError):
            sched.mark_test_complete(n1, 0, "slow")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            sched.schedule(1)  # type: ignore[call-arg]
        with pytest.raises(ValueError):
            sched.add_node(n1)
        assert sched.node_pending(n1) == [0, 1, 2, 3]
        with pytest.raises(RuntimeError, match="in use"):
            sched.__init__(2)  # type: ignore[misc]

    def test_send_error_propagates(self) -> None:
        class Broken(Node):
            def send_runtest_some(self, indices: Sequence[int]) -> None:
                raise OSError("gone")

        sched = ScopeScheduler(1)
        node = Broken()
        sched.add_node(node)
        sched.add_node_collection(node, ["a"])
        with pytest.raises(OSError):
            sched.schedule()


# --------------------------------------------------------------------------
# Work stealing


class TestWorkSteal:
    def test_ideal_case(self) -> None:
        col = [f"t.py::test_{i}" for i in range(16)]
        sched, (n1, n2) = steal(col, 2)
        assert sched.pending == [] and not sched.tests_finished
        assert n1.sent == rt(list(range(8))) and n2.sent == rt(list(range(8, 16)))
        for i in range(8):
            sched.mark_test_complete(n1, i)
            sched.mark_test_complete(n2, 8 + i)
        assert sched.tests_finished and not sched.has_pending
        assert n1.stolen == n2.stolen == []

    def test_stealing(self) -> None:
        col = [f"t.py::test_{i}" for i in range(16)]
        sched, (n1, n2) = steal(col, 2)
        for i in range(6):
            sched.mark_test_complete(n1, i)
        assert n2.stolen == []  # n1 still has two
        sched.mark_test_complete(n1, 6)
        # n1 is idle (one left): half of n2's eight, from the tail
        assert n2.sent[-1] == ("steal", [12, 13, 14, 15])
        assert sched.steal_requested_from_node is n2
        sched.mark_test_complete(n1, 7)
        assert n2.stolen == [12, 13, 14, 15]  # one steal at a time
        assert not sched.tests_finished  # a steal is in flight
        sched.remove_pending_tests_from_node(n2, [12, 13, 14, 15])
        assert sched.steal_requested_from_node is None
        assert n1.sent[-1] == ("runtests", [12, 13, 14, 15])
        assert sched.node_pending(n2) == [8, 9, 10, 11]
        for i in (8, 9, 10, 11):
            sched.mark_test_complete(n2, i)
        assert n1.stolen == [14, 15]
        sched.remove_pending_tests_from_node(n1, [14, 15])
        assert n2.sent[-1] == ("runtests", [14, 15])
        sched.mark_test_complete(n1, 12)
        # n1 idle, n2 has two: nothing worth stealing, n1 may stop
        assert n1.sent[-1] == SHUT
        sched.mark_test_complete(n2, 14)
        assert n2.sent[-1] == SHUT
        assert n2.stolen == [12, 13, 14, 15] and n1.stolen == [14, 15]
        assert sched.tests_finished

    def test_steal_on_add_node(self) -> None:
        col = [f"t.py::test_{i}" for i in range(5)]
        sched, (n1,) = steal(col, 1)
        sched.mark_test_complete(n1, 0)
        n2 = Node()
        sched.add_node(n2)
        sched.add_node_collection(n2, col)
        sched.schedule()
        assert n1.stolen == [3, 4]
        sched.remove_pending_tests_from_node(n1, [3, 4])
        assert n2.indices == [3, 4]
        sched.mark_test_complete(n1, 1)
        sched.mark_test_complete(n2, 3)
        assert sched.tests_finished and n2.stolen == []

    def test_fewer_tests_than_nodes(self) -> None:
        sched, (n1, n2, n3) = steal(["xyz"] * 2, 3)
        assert n2.indices == [0] and n3.indices == [1]
        assert sched.pending == [] and sched.tests_finished
        assert n1.stolen == n2.stolen == n3.stolen == []
        # nothing to steal: the idle nodes were told to stop
        assert n1.sent == [SHUT] and n2.sent == rt([0]) + [SHUT]

    def test_fewer_than_two_tests_per_node(self) -> None:
        sched, (n1, n2, n3) = steal(["xyz"] * 5, 3)
        assert n1.indices == [0] and n2.indices == [1, 2] and n3.indices == [3, 4]
        assert not sched.tests_finished
        for node, idx in ((n1, 0), (n2, 1), (n3, 3), (n3, 4)):
            sched.mark_test_complete(node, idx)
        assert sched.tests_finished
        assert n1.stolen == n2.stolen == n3.stolen == []

    def test_crash(self) -> None:
        col = ["t.py::test_f"]
        sched, (n,) = steal(col, 1)
        assert sched.remove_node(n) == col[0]
        assert sched.pending == [] and sched.tests_finished

    def test_crash_during_collection_stops_nobody(self) -> None:
        sched = WorkStealScheduler(3)
        n1, n2, n3 = Node(), Node(), Node()
        for node in (n1, n2, n3):
            sched.add_node(node)
        sched.add_node_collection(n2, ["a", "b", "c", "d"])
        assert sched.remove_node(n1) is None  # died while collecting
        # pytest-xdist shuts n2 and n3 down here: the run would end empty
        assert n2.sent == n3.sent == []
        replacement = Node()
        sched.add_node(replacement)
        sched.add_node_collection(n3, ["a", "b", "c", "d"])
        sched.add_node_collection(replacement, ["a", "b", "c", "d"])
        sched.schedule()
        assert [n.indices for n in (n2, n3, replacement)] == [[0], [1], [2, 3]]

    def test_crash_requeues_and_clears_the_steal(self) -> None:
        col = [f"t.py::test_{i}" for i in range(12)]
        sched, (n1, n2) = steal(col, 2)
        for i in range(5):
            sched.mark_test_complete(n1, i)
        assert n2.stolen == [9, 10, 11]  # n1 had one left
        sched.mark_test_complete(n1, 5)
        assert sched.remove_node(n2) == "t.py::test_6"
        assert sched.steal_requested_from_node is None
        # n1 was idle: it takes everything n2 had left
        assert n1.sent[-1] == ("runtests", [7, 8, 9, 10, 11])
        assert sched.pending == []

    def test_answer_with_nothing(self) -> None:
        col = [f"t.py::test_{i}" for i in range(12)]
        sched, (n1, n2) = steal(col, 2)
        for i in range(6):
            sched.mark_test_complete(n1, i)
        assert n2.sent[-1] == ("steal", [9, 10, 11])
        sched.mark_test_complete(n2, 6)
        # the worker had already started one of them: it gives nothing
        sched.remove_pending_tests_from_node(n2, [])
        # asked again, from what is left
        assert n2.sent[-1] == ("steal", [10, 11])
        assert sched.node_pending(n2) == [7, 8, 9, 10, 11]

    def test_answer_is_checked(self) -> None:
        col = [f"t.py::test_{i}" for i in range(12)]
        sched, (n1, n2) = steal(col, 2)
        with pytest.raises(ValueError, match="no steal"):
            sched.remove_pending_tests_from_node(n2, [])
        for i in range(6):
            sched.mark_test_complete(n1, i)
        with pytest.raises(ValueError, match="no steal"):
            sched.remove_pending_tests_from_node(n1, [9])
        with pytest.raises(IndexError):
            sched.remove_pending_tests_from_node(n2, [12])
        with pytest.raises(TypeError):
            sched.remove_pending_tests_from_node(n2, ["9"])  # type: ignore[list-item]
        with pytest.raises(TypeError):
            sched.remove_pending_tests_from_node(n2, 9)  # type: ignore[arg-type]
        assert sched.steal_requested_from_node is n2  # unchanged
        # indices that were not pending there are ignored (0 ran on n1, and
        # n2 had 9 once only): nothing runs twice
        sched.remove_pending_tests_from_node(n2, (9, 0, 9, 10))
        assert n1.sent[-1] == ("runtests", [9, 10])
        assert sched.node_pending(n2) == [6, 7, 8, 11]

    def test_answer_is_a_multiset(self) -> None:
        col = [f"t.py::test_{i}" for i in range(8)]
        sched, (n1,) = steal(col, 1)
        for _ in range(3):  # queued again while it is pending on n1
            sched.mark_test_pending("t.py::test_7")
        for i in range(7):
            sched.mark_test_complete(n1, i)
        assert sched.node_pending(n1) == [7, 7, 7, 7]
        n2 = Node()
        sched.add_node(n2)
        sched.add_node_collection(n2, col)
        sched.schedule()
        assert n1.sent[-1] == ("steal", [7, 7])
        # the worker gives back both copies it had queued
        sched.remove_pending_tests_from_node(n1, [7, 7])
        assert sched.node_pending(n1) == [7, 7]
        assert n2.sent == rt([7, 7])

    def test_answer_leaves_the_running_test_first(self) -> None:
        col = [f"t.py::test_{i}" for i in range(4)]
        sched, (n1,) = steal(col, 1)
        sched.mark_test_pending("t.py::test_3")
        sched.mark_test_pending("t.py::test_2")
        for i in range(3):
            sched.mark_test_complete(n1, i)
        assert sched.node_pending(n1) == [3, 2, 3]  # running 3, then 2, 3
        n2 = Node()
        sched.add_node(n2)
        sched.add_node_collection(n2, col)
        sched.schedule()
        assert n1.sent[-1] == ("steal", [3])
        sched.remove_pending_tests_from_node(n1, [3])  # the queued one
        assert sched.node_pending(n1) == [3, 2]
        assert sched.remove_node(n1) == "t.py::test_3"  # the running one

    def test_mark_test_pending(self) -> None:
        col = [f"t.py::test_{i}" for i in range(4)]
        sched, (n1, n2) = steal(col, 2)
        sched.mark_test_pending("t.py::test_1")
        assert sched.pending == [1]  # nobody is idle
        sched.mark_test_complete(n1, 0)
        assert n1.sent[-1] == ("runtests", [1])
        assert sched.node_pending(n1) == [1, 1] and sched.pending == []
        with pytest.raises(ValueError):
            sched.mark_test_pending("nope")
        with pytest.raises(RuntimeError):
            WorkStealScheduler(1).mark_test_pending("x")

    def test_shutting_down_nodes_are_left_alone(self) -> None:
        col = [f"t.py::test_{i}" for i in range(12)]
        sched, (n1, n2) = steal(col, 2)
        n2._shutdown = True
        for i in range(6):
            sched.mark_test_complete(n1, i)
        # n2 is not up: not a victim; n1 idle, nothing to steal: stop
        assert n2.stolen == [] and n1.sent[-1] == SHUT

    def test_late_node_with_other_collection_gets_nothing(self) -> None:
        cfg = config(1)
        logged: list[Any] = []
        sched = WorkStealingScheduling(cfg, log=logged.append)
        n1, n2 = Node(), Node()
        sched.add_node(n1)
        sched.add_node_collection(n1, ["a", "b", "c", "d"])
        sched.schedule()
        sched.add_node(n2)
        sched.add_node_collection(n2, ["a"])
        sched.schedule()
        assert n2.sent == [] and n1.stolen == []
        assert cfg.hook.reports == [] and "Different tests" in logged[0]


# --------------------------------------------------------------------------
# Python subclasses, objects


class TestSubclasses:
    @pytest.mark.parametrize(
        "cls, mode",
        [
            (LoadScopeScheduling, "loadscope"),
            (LoadFileScheduling, "loadfile"),
            (LoadGroupScheduling, "loadgroup"),
        ],
    )
    def test_scope_from_config(self, cls: Any, mode: str) -> None:
        sched = cls(config(2, loadscopereorder=False))
        assert isinstance(sched, ScopeScheduler) and sched.mode == mode
        assert sched.reorder is False and sched.collection_is_completed is False
        assert cls(config(2)).reorder is True  # option missing: default
        assert SCHEDULERS[mode] is cls

    def test_worksteal_from_config(self) -> None:
        sched = WorkStealingScheduling(config(3))
        assert isinstance(sched, WorkStealScheduler)
        assert SCHEDULERS["worksteal"] is WorkStealingScheduling
        assert sched.steal_requested_from_node is None

    def test_protocol(self) -> None:
        def use(s: Scheduling) -> bool:
            return s.tests_finished

        assert use(LoadScopeScheduling(config(1))) is False
        assert use(WorkStealingScheduling(config(1))) is False

    @pytest.mark.parametrize("cls", [ScopeScheduler, WorkStealScheduler])
    def test_cycles_are_collected(self, cls: Any) -> None:
        class Sub(cls):  # type: ignore[misc,valid-type]
            pass

        sched = Sub(1)
        node = Node()
        node.sched = sched  # type: ignore[attr-defined]
        sched.me = sched
        sched.add_node(node)
        sched.add_node_collection(node, params("a.py", 5))
        sched.schedule()
        ref = weakref.ref(node)
        del sched, node
        gc.collect()
        assert ref() is None

    @pytest.mark.parametrize("cls", [ScopeScheduler, WorkStealScheduler])
    def test_collection_stored_once(self, cls: Any) -> None:
        sched = cls(16)
        nodes = [Node() for _ in range(16)]
        for node in nodes:
            sched.add_node(node)
        firsts = []
        for node in nodes:
            # distinct string objects per worker, as after decoding
            col = ["".join(["t.py::", f"test_{i}"]) for i in range(500)]
            wcol = ListWithRef(col)
            firsts.append(weakref.ref(wcol))
            first_item = wcol[0]
            before = sys.getrefcount(first_item)
            sched.add_node_collection(node, wcol)
            after = sys.getrefcount(first_item)
            # the first one is copied once; the others compared and dropped
            assert after == before + (1 if node is nodes[0] else 0)
            del col, wcol, first_item
        gc.collect()
        assert all(ref() is None for ref in firsts)  # nobody's list is kept
        sched.schedule()
        assert sched.collection == [f"t.py::test_{i}" for i in range(500)]

    def test_types_in_module(self) -> None:
        assert issubclass(ScopeScheduler, _core._SchedulerBase)
        assert issubclass(WorkStealScheduler, _core._SchedulerBase)


class CollectingNode(Node):
    """A worker that fails the test if it is sent tests before the
    scheduler was given its collection."""

    def __init__(self, spec: str = "popen") -> None:
        super().__init__(spec)
        self.collection_given = False

    def send_runtest_some(self, indices: Sequence[int]) -> None:
        assert self.collection_given, f"{self} was sent tests while collecting"
        super().send_runtest_some(indices)

    def send_runtest_all(self) -> None:
        assert self.collection_given, f"{self} was sent tests while collecting"
        super().send_runtest_all()


def give_collection(sched: Any, node: CollectingNode, col: list[str]) -> None:
    node.collection_given = True
    sched.add_node_collection(node, col)


def work(node: Node) -> list[tuple[Any, ...]]:
    """The commands that gave the node tests to run."""
    return [cmd for cmd in node.sent if cmd[0] in ("runtests", "runtests_all")]


def mode_suite() -> list[str]:
    """Enough units and tests that every mode has work left to hand out."""
    return [f"d{f}/test_{f}.py::TestK{k}::test_{i}" for f in range(4) for k in range(2) for i in range(5)]


@pytest.mark.parametrize("mode", sorted(SCHEDULERS))
class TestNoWorkBeforeCollection:
    """A node in the scheduler whose collection has not been accepted (a
    worker still collecting, a replacement started after a crash) is never
    sent tests, whatever else happens meanwhile, in every mode; it gets its
    share once its collection comes."""

    def test_initial_schedule_skips_a_collecting_node(self, mode: str) -> None:
        col = mode_suite()
        sched = SCHEDULERS[mode](config(2))
        n1, n2, late = CollectingNode(), CollectingNode(), CollectingNode()
        for node in (n1, n2, late):
            sched.add_node(node)
        give_collection(sched, n1, col)
        give_collection(sched, n2, col)
        sched.schedule()
        assert work(n1) and work(n2) and late.sent == []
        for node in (n1, n2):  # completions top up the others only
            sched.mark_test_complete(node, sched.node_pending(node)[0])
        assert late.sent == []
        give_collection(sched, late, col)
        sched.schedule()
        if mode == "worksteal":  # it takes from the busiest node
            (victim,) = [n for n in (n1, n2) if n.stolen]
            sched.remove_pending_tests_from_node(victim, victim.stolen)
        if mode != "each":  # `each` gives a surplus node nothing to run
            assert work(late)

    def test_replacement_gets_nothing_until_it_collected(self, mode: str) -> None:
        col = mode_suite()
        sched = SCHEDULERS[mode](config(2))
        n1, n2 = CollectingNode(), CollectingNode()
        for node in (n1, n2):
            sched.add_node(node)
        for node in (n1, n2):
            give_collection(sched, node, col)
        sched.schedule()
        # n2 dies at its first test; its replacement is ready at once
        crashed = sched.remove_node(n2)
        assert crashed is not None
        replacement = CollectingNode(n2.gateway.spec)
        sched.add_node(replacement)
        sched.schedule()  # another node's late collection would do this
        if mode != "each":
            sched.mark_test_pending(crashed)  # pytest_handlecrashitem
        for index in sched.node_pending(n1)[:3]:
            sched.mark_test_complete(n1, index)
        assert replacement.sent == []
        give_collection(sched, replacement, col)
        sched.schedule()
        assert work(replacement), "the replacement was never given work"


# --------------------------------------------------------------------------
# Property tests: a simulated session


_SENTINEL = -1


class ListWithRef(list):  # type: ignore[type-arg]
    """A list that supports weak references."""


class SimNode:
    """Both ends of one worker: the controller's handle (what the scheduler
    calls) and a model of the worker process behind it."""

    def __init__(self, sim: Sim, spec: str) -> None:
        self.sim = sim
        self.gateway = MockGateway(spec)
        self.inbox: deque[tuple[Any, ...]] = deque()  # commands in flight
        self.queue: deque[int] = deque()  # the worker's queue
        self.current: int | None = None  # popped: running, then the next
        self.outbox: deque[tuple[Any, ...]] = deque()  # events in flight
        self._shutdown_sent = False
        self.dead = False  # the process is gone
        self.closed = False  # the controller saw it go
        self.ready = False
        self.collected = False
        self.collection_given = False  # the scheduler has its collection
        self.finished = False
        self.got_work = False

    # the controller's handle --------------------------------------------
    def send_runtest_some(self, indices: Sequence[int]) -> None:
        assert type(indices) is list and indices
        self.inbox.append(("runtests", list(indices)))
        self.sim.sent_to(self, list(indices))

    def send_runtest_all(self) -> None:
        self.inbox.append(("runtests_all",))
        self.sim.sent_to(self, list(range(len(self.sim.col))))

    def send_steal(self, indices: Sequence[int]) -> None:
        assert type(indices) is list and indices
        self.inbox.append(("steal", list(indices)))

    def shutdown(self) -> None:
        self.inbox.append(("shutdown",))
        self._shutdown_sent = True

    @property
    def shutting_down(self) -> bool:
        return self.closed or self._shutdown_sent

    def __repr__(self) -> str:
        return f"<SimNode {self.gateway.id}>"

    # the worker ----------------------------------------------------------
    def can_act(self) -> bool:
        if self.dead or self.finished or not self.collected:
            return False
        # a worker holding only its current test waits for the next one
        return bool(self.inbox) or bool(self.queue)

    def act(self, rng: random.Random) -> None:
        """Take one command, or run a test (the worker needs the next index,
        or the shutdown, before it runs the current one)."""
        if self.inbox and (rng.random() < 0.5 or not self.queue):
            cmd = self.inbox.popleft()
            if cmd[0] == "runtests":
                self.queue.extend(cmd[1])
            elif cmd[0] == "runtests_all":
                self.queue.extend(range(len(self.sim.col)))
            elif cmd[0] == "steal":
                wanted = set(cmd[1])
                present = [i for i in self.queue if i in wanted]
                if len(present) != len(wanted):
                    present = []
                self.queue = deque(i for i in self.queue if i not in set(present))
                self.outbox.append(("unscheduled", present))
            else:
                self.queue.append(_SENTINEL)
            return
        if self.current is None:
            if self.queue:
                self.current = self.queue.popleft()
                if self.current == _SENTINEL:
                    self.finish()
            return
        if self.queue:
            nxt = self.queue.popleft()
            self.outbox.append(("complete", self.current))
            self.current = nxt
            if nxt == _SENTINEL:
                self.finish()

    def finish(self) -> None:
        self.finished = True
        self.outbox.append(("finished",))


class Sim:
    """DSession's event handling, driving a scheduler with SimNodes."""

    def __init__(self, mode: str, col: list[str], nnodes: int, rng: random.Random, crashes: int) -> None:
        self.mode = mode
        self.col = col
        self.rng = rng
        self.crashes = crashes
        cfg = config(nnodes, loadscopereorder=rng.random() < 0.7)
        self.sched: Any = SCHEDULERS[mode](cfg)
        self.nodes: list[SimNode] = []
        self.specs = [f"spec{k}" for k in range(nnodes)]
        for spec in self.specs:
            self.nodes.append(SimNode(self, spec))
        self.shuttingdown = False
        self.active: set[SimNode] = set(self.nodes)
        self.ran: dict[tuple[str, int], int] = {}  # completed or crashed
        self.expected: dict[tuple[str, int], int] = {}
        for spec in self.specs if mode == "each" else ["*"]:
            for i in range(len(col)):
                self.expected[spec, i] = 1
        self.sends: list[tuple[SimNode, list[int]]] = []
        self.crashed_with: dict[SimNode, set[int]] = {}
        self.rerun: set[int] = set()

    def key(self, node: SimNode, index: int) -> tuple[str, int]:
        return (node.gateway.spec if self.mode == "each" else "*", index)

    def sent_to(self, node: SimNode, indices: list[int]) -> None:
        assert node.collection_given, "tests sent to a node still collecting"
        node.got_work = True
        self.sends.append((node, indices))

    # DSession ------------------------------------------------------------
    def after_event(self) -> None:
        if self.sched.tests_finished:
            self.triggershutdown()
        self.check_nobody_idle()

    def triggershutdown(self) -> None:
        if not self.shuttingdown:
            self.shuttingdown = True
            for node in self.sched.nodes:
                node.shutdown()

    def ready(self, node: SimNode) -> None:
        node.ready = True
        if self.shuttingdown:
            node.shutdown()
        else:
            self.sched.add_node(node)
        self.after_event()

    def collection_finish(self, node: SimNode) -> None:
        node.collected = True
        if self.shuttingdown:
            return
        if node in self.sched.nodes:  # it may have been shut down at ready
            node.collection_given = True
            self.sched.add_node_collection(node, list(self.col))
        if self.sched.collection_is_completed:
            self.sched.schedule()
        self.after_event()

    def deliver(self, node: SimNode) -> None:
        event = node.outbox.popleft()
        if event[0] == "complete":
            key = self.key(node, event[1])
            self.ran[key] = self.ran.get(key, 0) + 1
            self.sched.mark_test_complete(node, event[1], self.rng.random() * 0.2)
        elif event[0] == "unscheduled":
            self.sched.remove_pending_tests_from_node(node, event[1])
        elif event[0] == "finished":
            node.closed = True
            if node in self.sched.nodes:
                assert self.sched.remove_node(node) is None
            self.active.discard(node)
        else:
            assert event[0] == "closed"
            self.errordown(node)
        self.after_event()

    def errordown(self, node: SimNode) -> None:
        node.closed = True
        try:
            pending = self.sched.node_pending(node)
            crashitem = self.sched.remove_node(node)
        except KeyError:
            crashitem = None  # it never became ready
        else:
            if pending:
                assert crashitem == self.col[pending[0]]
                self.crashed_with[node] = set(pending[1:])
            else:
                assert crashitem is None
        if crashitem is not None:
            key = self.key(node, pending[0])
            self.ran[key] = self.ran.get(key, 0) + 1
            if self.mode != "each" and self.rng.random() < 0.3:
                # pytest-rerunfailures' pytest_handlecrashitem
                self.sched.mark_test_pending(crashitem)
                self.expected[key] += 1
                self.rerun.add(pending[0])
        # restarting is unlimited here: a replacement with the same spec
        self.shuttingdown = False
        clone = SimNode(self, node.gateway.spec)
        self.nodes.append(clone)
        self.active.add(clone)
        self.active.discard(node)

    def crash(self, node: SimNode) -> None:
        """The process dies: what it sent still arrives, then the close."""
        node.dead = True
        node.outbox.append(("closed",))

    # checks --------------------------------------------------------------
    def check_nobody_idle(self) -> None:
        """While work waits, every node that could take some has some."""
        s = self.sched
        if self.mode in ("loadscope", "loadfile", "loadgroup"):
            waiting, least = bool(s.pending_units), 1
        elif self.mode in ("load", "worksteal"):
            waiting = bool(s.pending) and s.collection is not None
            least = 2 if self.mode == "worksteal" else 1
        else:
            return
        if waiting:
            for node in s.nodes:
                if node.collected and not node.shutting_down:
                    assert len(s.node_pending(node)) >= least, "idle node"

    def check_locality(self) -> None:
        """A unit is sent whole to one node; its tests go elsewhere only if
        that node crashed with them unstarted."""
        if self.mode not in ("loadscope", "loadfile", "loadgroup"):
            return
        split = ScopeScheduler(1, self.mode)._split_scope
        unit_of = [str(split(nodeid)) for nodeid in self.col]
        members: dict[str, set[int]] = {}
        for i, u in enumerate(unit_of):
            members.setdefault(u, set()).add(i)
        owner: dict[str, SimNode] = {}
        for node, sent in self.sends:
            indices = set(sent) - self.rerun  # a rerun is a unit of its own
            if not indices:
                continue
            units = {unit_of[i] for i in indices}
            assert len(units) == 1, "one message, one unit"
            (u,) = units
            if u not in owner:
                assert indices == members[u] - self.rerun, "a unit is sent whole"
                owner[u] = node
            elif owner[u] is not node:
                prev = owner[u]
                assert indices <= self.crashed_with.get(prev, set()), "a unit moved without a crash"
                owner[u] = node

    def run(self) -> None:
        rng = self.rng
        for _ in range(200 * (len(self.col) + 10)):
            if self.shuttingdown and not self.active:
                break
            choices: list[tuple[str, SimNode]] = []
            for node in self.nodes:
                if node.dead and not node.outbox and node.closed:
                    continue
                if not node.dead and not node.ready:
                    choices.append(("ready", node))
                elif not node.dead and not node.collected:
                    choices.append(("collect", node))
                elif node.can_act():
                    choices.append(("act", node))
                if node.outbox and node.ready and not node.closed:
                    choices.append(("deliver", node))
                # `each` loses a node's tests if it dies between sending
                # its collection and being started (so does pytest-xdist):
                # not exercised here
                if (
                    self.crashes
                    and not node.dead
                    and not node.finished
                    and not (self.mode == "each" and node.collected and not node.got_work)
                ):
                    choices.append(("crash", node))
            assert choices, "stuck: nothing can happen"
            what, node = rng.choice(choices)
            if what == "crash":
                if rng.random() > 0.05:
                    what = "act" if node.can_act() else "skip"
                else:
                    self.crashes -= 1
                    if not node.ready:
                        # died before it was ready: DSession only counts it
                        node.dead = node.closed = True
                        self.active.discard(node)
                        self.shuttingdown = False
                        clone = SimNode(self, node.gateway.spec)
                        self.nodes.append(clone)
                        self.active.add(clone)
                    else:
                        self.crash(node)
                    continue
            if what == "ready":
                self.ready(node)
            elif what == "collect":
                self.collection_finish(node)
            elif what == "act":
                node.act(rng)
            elif what == "deliver":
                self.deliver(node)
        else:
            raise AssertionError("the session did not finish")
        assert self.sched.tests_finished, "finished without tests_finished"
        assert not self.sched.has_pending
        assert self.ran == self.expected
        self.check_locality()


@st.composite
def suites(draw: st.DrawFn) -> list[str]:
    """Nodeids with files, classes, parameters and xdist_group suffixes."""
    ids: list[str] = []
    groups = ["g1", "g2", "db"]
    for f in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(["", "sub/"])) + f"test_{f}.py"
        for k in range(draw(st.integers(0, 4))):
            in_class = draw(st.booleans())
            cls = f"::TestC{k}" if in_class else ""
            class_group = draw(st.sampled_from([None, *groups])) if in_class else None
            for m in range(draw(st.integers(1, 3)) if in_class else 1):
                base = f"{path}{cls}::test_{k}_{m}"
                nparams = draw(st.integers(0, 4))
                suffixes = [f"[{p}]" for p in range(nparams)] or [""]
                group = class_group or draw(st.sampled_from([None, None, *groups]))
                ids.extend(base + s + (f"@{group}" if group else "") for s in suffixes)
    return ids


MODES = ["load", "each", "loadscope", "loadfile", "loadgroup", "worksteal"]


@pytest.mark.parametrize("mode", MODES)
@settings(max_examples=150, deadline=None)
@given(
    col=suites(),
    nnodes=st.integers(1, 4),
    crashes=st.integers(0, 3),
    seed=st.integers(0, 2**32 - 1),
)
def test_session_runs_everything_once(mode: str, col: list[str], nnodes: int, crashes: int, seed: int) -> None:
    Sim(mode, col, nnodes, random.Random(seed), crashes).run()


@pytest.mark.parametrize("mode", MODES)
def test_session_many_seeds(mode: str) -> None:
    """Bigger suites than Hypothesis draws, more nodes, more crashes."""
    for seed in range(25):
        rng = random.Random(seed)
        col = [
            f"d{f % 3}/test_{f}.py::{'TestK::' if k % 3 else ''}test_{k}[{p}]" + (f"@grp{k % 4}" if k % 5 == 0 else "")
            for f in range(rng.randint(1, 12))
            for k in range(rng.randint(1, 6))
            for p in range(rng.randint(1, 5))
        ]
        Sim(mode, col, rng.randint(1, 6), rng, rng.randint(0, 6)).run()
