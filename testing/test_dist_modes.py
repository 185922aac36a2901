"""Distribution modes on real runs: loadscope, loadfile, loadgroup,
worksteal, crashes in every mode, and a custom scheduler written in Python.

Every test of a generated suite appends "<worker_id> <nodeid>" to a file
before it runs; the assertions read that file back.
"""

from __future__ import annotations

import textwrap
from collections import defaultdict

import pytest

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")

TIMEOUT = 180  # a hang fails the test instead of the whole suite


def _recording_conftest(pytester: pytest.Pytester, extra: str = "") -> None:
    log = pytester.path / "ran.txt"
    order = pytester.path / "ready.txt"
    pytester.makeconftest(
        textwrap.dedent(
            f"""
            import pytest

            @pytest.fixture(autouse=True)
            def _record(request, worker_id):
                with open({str(log)!r}, "a") as f:
                    f.write(f"{{worker_id}} {{request.node.nodeid}}\\n")

            def pytest_testnodeready(node):
                # controller side: the order workers joined the scheduler
                with open({str(order)!r}, "a") as f:
                    f.write(node.gateway.id + "\\n")
            """
        )
        + textwrap.dedent(extra)
    )


def _ran(pytester: pytest.Pytester) -> list[tuple[str, str]]:
    """(worker, nodeid) for every test that started, in order."""
    lines = (pytester.path / "ran.txt").read_text().splitlines()
    return [tuple(line.split(" ", 1)) for line in lines]  # type: ignore[misc]


def _ready_order(pytester: pytest.Pytester) -> list[str]:
    return (pytester.path / "ready.txt").read_text().split()


def _workers_by(ran: list[tuple[str, str]], key: object) -> dict[str, set[str]]:
    """Group -> workers that ran its tests; key(nodeid) gives the group."""
    out: dict[str, set[str]] = defaultdict(set)
    for worker, nodeid in ran:
        out[key(nodeid)].add(worker)  # type: ignore[operator]
    return out


def _once(ran: list[tuple[str, str]]) -> dict[str, str]:
    """nodeid -> worker, asserting each test started exactly once."""
    seen: dict[str, str] = {}
    for worker, nodeid in ran:
        assert nodeid not in seen, f"{nodeid} ran twice"
        seen[nodeid] = worker
    return seen


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(*args, timeout=TIMEOUT)


CLASSES = """
    import pytest

    class TestA:
        @pytest.mark.parametrize("i", range(6))
        def test_m(self, i): pass

    class TestB:
        def test_1(self): pass
        def test_2(self): pass
        def test_3(self): pass

    def test_f1(): pass
    def test_f2(): pass

    @pytest.mark.parametrize("j", ["x", "y", "z"])
    def test_f3(j): pass
"""


class TestLoadScope:
    def test_class_or_module_on_one_worker(self, pytester: pytest.Pytester) -> None:
        _recording_conftest(pytester)
        pytester.makepyfile(test_one=CLASSES, test_two=CLASSES)
        result = _run(pytester, "-n", "2", "--dist", "loadscope", "-v")
        result.assert_outcomes(passed=28)
        ran = _ran(pytester)
        assert len(_once(ran)) == 28
        scopes = _workers_by(ran, lambda nodeid: nodeid.rsplit("::", 1)[0])
        assert set(scopes) == {
            "test_one.py",
            "test_one.py::TestA",
            "test_one.py::TestB",
            "test_two.py",
            "test_two.py::TestA",
            "test_two.py::TestB",
        }
        assert all(len(workers) == 1 for workers in scopes.values()), scopes
        assert {w for ws in scopes.values() for w in ws} == {"gw0", "gw1"}

    @pytest.mark.parametrize("reorder", [True, False])
    def test_largest_scope_first_unless_told(self, pytester: pytest.Pytester, reorder: bool) -> None:
        _recording_conftest(pytester)
        body = """
            import pytest
            @pytest.mark.parametrize("i", range({}))
            def test(i): pass
        """
        pytester.makepyfile(test_a=body.format(10), test_b=body.format(20))
        args = ["-n", "2", "--dist", "loadscope"]
        if not reorder:
            args.append("--no-loadscope-reorder")
        _run(pytester, *args).assert_outcomes(passed=30)
        files = _workers_by(_ran(pytester), lambda nodeid: nodeid.split("::")[0])
        first, second = _ready_order(pytester)  # as the scheduler saw them
        if reorder:  # test_b (20) first: pytest-xdist's gw0 when gw0 is first
            assert files == {"test_b.py": {first}, "test_a.py": {second}}
        else:
            assert files == {"test_a.py": {first}, "test_b.py": {second}}

    def test_single_test_units_finish(self, pytester: pytest.Pytester) -> None:
        """pytest-xdist #277: every worker starting with one test."""
        _recording_conftest(pytester)
        pytester.makepyfile(
            test_a="def test(): pass",
            test_b="def test(): pass",
            test_c="def test_1(): pass\ndef test_2(): pass",
        )
        _run(pytester, "-n", "2", "--dist", "loadscope").assert_outcomes(passed=4)
        ran = _once(_ran(pytester))
        assert ran["test_c.py::test_1"] == ran["test_c.py::test_2"]


class TestLoadFile:
    def test_file_on_one_worker(self, pytester: pytest.Pytester) -> None:
        _recording_conftest(pytester)
        pytester.makepyfile(test_one=CLASSES, test_two=CLASSES, test_three=CLASSES)
        result = _run(pytester, "-n", "2", "--dist", "loadfile")
        result.assert_outcomes(passed=42)
        ran = _ran(pytester)
        assert len(_once(ran)) == 42
        files = _workers_by(ran, lambda nodeid: nodeid.split("::")[0])
        assert len(files) == 3
        assert all(len(workers) == 1 for workers in files.values()), files


class TestLoadGroup:
    def test_groups_stay_together(self, pytester: pytest.Pytester) -> None:
        _recording_conftest(pytester)
        suite = """
            import pytest

            @pytest.mark.xdist_group("db")
            class TestDb:
                @pytest.mark.parametrize("i", range(4))
                def test_q(self, i): pass
                def test_r(self): pass

            @pytest.mark.xdist_group(name="net")
            @pytest.mark.parametrize("p", ["a@b", "c"])
            def test_net(p): pass

            @pytest.mark.xdist_group(name="g1")
            @pytest.mark.xdist_group(name="g2")
            def test_two_marks(): pass

            @pytest.mark.parametrize("k", range(6))
            def test_free(k): pass
        """
        pytester.makepyfile(test_a=suite, test_b=suite)
        result = _run(pytester, "-n", "2", "--dist", "loadgroup", "-v")
        result.assert_outcomes(passed=28)
        # the group suffix is part of the nodeid, in the output too (the
        # workers' lines interleave in any order)
        for line in (
            "*PASSED test_a.py::TestDb::test_q[[]0[]]@db*",
            "*PASSED test_b.py::test_net[[]a@b[]]@net*",
            "*PASSED test_a.py::test_two_marks@g1_g2*",
        ):
            result.stdout.fnmatch_lines([line])
        ran = _ran(pytester)
        assert len(_once(ran)) == 28

        def group(nodeid: str) -> str:
            name = nodeid.rsplit("@", 1)
            return name[1] if len(name) == 2 and "]" not in name[1] else nodeid

        groups = _workers_by(ran, group)
        for name in ("db", "net", "g1_g2"):
            assert len(groups[name]) == 1, (name, groups[name])
        assert sum(1 for nodeid in _once(ran) if nodeid.endswith("@db")) == 10
        # ungrouped tests are spread one by one
        assert len(groups) == 3 + 12


class TestWorkSteal:
    def test_uneven_durations_run_once_and_steal(self, pytester: pytest.Pytester) -> None:
        _recording_conftest(pytester)
        pytester.makepyfile(
            test_a="""
            import time, pytest

            @pytest.mark.parametrize("i", range(16))
            def test_slow(i):
                time.sleep(0.25)

            @pytest.mark.parametrize("i", range(16))
            def test_fast(i):
                pass
            """
        )
        result = _run(pytester, "-n", "2", "--dist", "worksteal")
        result.assert_outcomes(passed=32)
        ran = _once(_ran(pytester))
        assert len(ran) == 32
        # the slow half went to one worker up front; the other, done with
        # the fast half, took some of its queue
        slow = {worker for nodeid, worker in ran.items() if "test_slow" in nodeid}
        assert slow == {"gw0", "gw1"}


CRASH_SUITE = """
    import os, pytest

    {mark}
    class TestK:
        def test_1(self): pass
        def test_2(self): pass
        def test_crash(self): os._exit(1)
        def test_4(self): pass
        def test_5(self): pass

    @pytest.mark.parametrize("i", range(6))
    def test_other(i): pass
"""


@pytest.mark.parametrize("mode", ["load", "loadscope", "loadfile", "loadgroup", "worksteal", "each"])
def test_crash_reported_once_rest_completes(pytester: pytest.Pytester, mode: str) -> None:
    _recording_conftest(pytester)
    mark = '@pytest.mark.xdist_group("k")' if mode == "loadgroup" else ""
    pytester.makepyfile(test_k=CRASH_SUITE.format(mark=mark))
    pytester.makepyfile(
        test_more="""
        import pytest
        @pytest.mark.parametrize("i", range(5))
        def test_m(i): pass
        """
    )
    result = _run(pytester, "-n", "2", "--dist", mode)
    suffix = "@k" if mode == "loadgroup" else ""
    crash_id = f"test_k.py::TestK::test_crash{suffix}"
    result.stdout.fnmatch_lines(
        ["*replacing crashed worker gw*", f"*worker 'gw*' crashed while running '{crash_id}'*"],
        consecutive=False,
    )
    crashes = [line for line in result.outlines if "crashed while running" in line]
    ran = _ran(pytester)
    if mode == "each":
        # every worker runs every test: the crash happens once per worker
        outcomes = result.parseoutcomes()
        assert outcomes["failed"] == 2 and outcomes["passed"] == 2 * 15
        assert len({line for line in crashes if "FAILED" not in line}) >= 1
        per_worker: dict[str, int] = defaultdict(int)
        for _, nodeid in ran:
            per_worker[nodeid] += 1
        assert all(count == 2 for count in per_worker.values()), per_worker
        return
    result.assert_outcomes(passed=15, failed=1)
    assert sum("crashed while running" in line and "FAILED" not in line for line in crashes) == 1
    where = _once(ran)  # nothing runs twice, the crashed test included
    assert len(where) == 16
    if mode in ("loadscope", "loadfile", "loadgroup"):
        # the class's unstarted rest moved, together, to one other worker
        crashed_on = where[crash_id]
        assert where[f"test_k.py::TestK::test_1{suffix}"] == crashed_on
        assert where[f"test_k.py::TestK::test_2{suffix}"] == crashed_on
        moved = {where[f"test_k.py::TestK::test_{i}{suffix}"] for i in (4, 5)}
        assert len(moved) == 1 and crashed_on not in moved


CUSTOM_SCHEDULER = """
    class ReverseScheduling:
        '''Pure Python, pytest-xdist's protocol: every test on the first
        worker, last test first, one at a time; the others are let go.'''

        def __init__(self, config, log):
            self.numnodes = len(config.getvalue("tx"))
            self.node2collection = {}
            self.node2pending = {}
            self.collection = None
            self.pending = []

        @property
        def nodes(self):
            return list(self.node2pending)

        @property
        def collection_is_completed(self):
            return len(self.node2collection) >= self.numnodes

        @property
        def tests_finished(self):
            return (
                self.collection_is_completed
                and not self.pending
                and all(len(p) < 2 for p in self.node2pending.values())
            )

        @property
        def has_pending(self):
            return bool(self.pending) or any(self.node2pending.values())

        def add_node(self, node):
            self.node2pending[node] = []

        def add_node_collection(self, node, collection):
            self.node2collection[node] = list(collection)

        def schedule(self):
            if self.collection is None:
                self.collection = next(iter(self.node2collection.values()))
                self.pending = list(range(len(self.collection)))[::-1]
                for other in self.nodes[1:]:
                    other.shutdown()
            self._feed()

        def _feed(self):
            for node, pending in self.node2pending.items():
                if node.shutting_down:
                    continue
                while self.pending and len(pending) < 2:
                    index = self.pending.pop(0)
                    pending.append(index)
                    node.send_runtest_some([index])
                if not self.pending:
                    node.shutdown()

        def mark_test_complete(self, node, item_index, duration=0):
            self.node2pending[node].remove(item_index)
            self._feed()

        def mark_test_pending(self, item):
            self.pending.insert(0, self.collection.index(item))
            self._feed()

        def remove_pending_tests_from_node(self, node, indices):
            raise NotImplementedError()

        def remove_node(self, node):
            pending = self.node2pending.pop(node)
            if not pending:
                return None
            crashed = self.collection[pending.pop(0)]
            self.pending[:0] = pending
            self._feed()
            return crashed

    def pytest_xdist_make_scheduler(config, log):
        return ReverseScheduling(config, log)
"""


def test_custom_python_scheduler_drives_the_run(pytester: pytest.Pytester) -> None:
    _recording_conftest(pytester, CUSTOM_SCHEDULER)
    pytester.makepyfile(
        test_a="""
        import pytest
        @pytest.mark.parametrize("i", range(12))
        def test_p(i): pass
        """
    )
    result = _run(pytester, "-n", "2")
    result.assert_outcomes(passed=12)
    ran = _ran(pytester)
    first = _ready_order(pytester)[0]
    assert ran == [(first, f"test_a.py::test_p[{i}]") for i in reversed(range(12))]


@pytest.mark.parametrize("mode", ["load", "loadscope", "loadfile", "loadgroup", "worksteal"])
def test_crashed_test_requeued_by_handlecrashitem(pytester: pytest.Pytester, mode: str) -> None:
    """What pytest-rerunfailures does: mark_test_pending(crashitem) from
    pytest_handlecrashitem; the test runs once more, nothing else does."""
    _recording_conftest(
        pytester,
        """
        def pytest_handlecrashitem(crashitem, report, sched):
            sched.mark_test_pending(crashitem)
        """,
    )
    flag = pytester.path / "crashed-once"
    pytester.makepyfile(
        test_k=f"""
        import os, pytest

        class TestK:
            def test_1(self): pass
            def test_crash(self):
                if not os.path.exists({str(flag)!r}):
                    open({str(flag)!r}, "w").close()
                    os._exit(1)
            def test_3(self): pass

        @pytest.mark.parametrize("i", range(4))
        def test_other(i): pass
        """
    )
    result = _run(pytester, "-n", "2", "--dist", mode)
    result.assert_outcomes(passed=7, failed=1)  # the crash report, then a pass
    ran = _ran(pytester)
    counts: dict[str, int] = defaultdict(int)
    for _, nodeid in ran:
        counts[nodeid] += 1
    assert counts.pop("test_k.py::TestK::test_crash") == 2
    assert set(counts.values()) == {1} and len(counts) == 6
