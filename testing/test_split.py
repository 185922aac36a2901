"""Split collection (xdist_c/speedups/split.py): each worker collects one block of the
test files, the controller joins the blocks, a worker collects any other file
it is sent a test from; the schedulers send a worker its own block first."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from sched_doubles import MockNode
from xdist_c import _core
from xdist_c._core import LoadScheduler
from xdist_c._core import WorkStealScheduler
from xdist_c.speedups.split import JoinedCollection

TIMEOUT = 120

# Each worker appends, when its run loop starts, its session.items: so a
# test can see what each worker collected up front.  (Not with a collection
# hook such as pytest_collection_finish or pytest_itemcollected: a conftest
# implementing one turns the split off.)
RECORDER = """
import json, os
def _log(kind, ids):
    path = os.path.join(os.path.dirname(__file__), "collected.jsonl")
    with open(path, "a") as f:
        f.write(json.dumps([os.environ.get("PYTEST_XDIST_WORKER", "-"), kind, ids]) + "\\n")
@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session):
    _log("session", [item.nodeid for item in getattr(session, "items", [])])
"""


def make_suite(pytester: pytest.Pytester, files: int = 6, per_file: int = 3, conftest: str = "") -> list[str]:
    ids = []
    for f in range(files):
        body = []
        for t in range(per_file):
            body.append(f"def test_{t}():\n    pass\n")
            ids.append(f"test_f{f}.py::test_{t}")
        pytester.makepyfile(**{f"test_f{f}": "\n".join(body)})
    pytester.makeconftest("import pytest\n" + RECORDER + conftest)
    return ids


def collected(pytester: pytest.Pytester) -> dict[str, dict[str, list[str]]]:
    """worker id -> {"session": its session.items}."""
    out: dict[str, dict[str, list[str]]] = {}
    for line in (pytester.path / "collected.jsonl").read_text().splitlines():
        worker, kind, ids = json.loads(line)
        out.setdefault(worker, {"session": []})[kind].extend(ids)
    return out


def outcomes(result: pytest.RunResult) -> list[tuple[str, str]]:
    """(outcome, nodeid) of every -rA summary line, sorted."""
    found = []
    for line in result.outlines:
        m = re.match(r"(PASSED|FAILED|SKIPPED|XFAIL|XPASS|ERROR) (\S+)", line)
        if m:
            found.append((m.group(1), m.group(2)))
    return sorted(found)


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=TIMEOUT)


# --------------------------------------------------------------------------
# whole runs


def test_each_worker_collects_one_block(pytester: pytest.Pytester) -> None:
    ids = make_suite(pytester)
    result = run(pytester, "-n", "2")
    result.assert_outcomes(passed=len(ids))
    seen = collected(pytester)
    # Up front: gw0 the first three files, gw1 the last three.
    assert seen["gw0"]["session"] == ids[:9]
    assert seen["gw1"]["session"] == ids[9:]


def test_off_collects_everything_everywhere(pytester: pytest.Pytester) -> None:
    ids = make_suite(pytester)
    result = run(pytester, "-n", "2", "--split-collection=off")
    result.assert_outcomes(passed=len(ids))
    seen = collected(pytester)
    assert seen["gw0"]["session"] == ids
    assert seen["gw1"]["session"] == ids


def test_conftest_modifyitems_keeps_whole_collection(pytester: pytest.Pytester) -> None:
    ids = make_suite(
        pytester,
        conftest="def pytest_collection_modifyitems(items):\n    items.reverse()\n",
    )
    result = run(pytester, "-n", "2", "-v")
    result.assert_outcomes(passed=len(ids))
    seen = collected(pytester)
    assert seen["gw0"]["session"] == ids[::-1]
    assert seen["gw1"]["session"] == ids[::-1]


def test_always_splits_despite_a_conftest_hook(pytester: pytest.Pytester) -> None:
    ids = make_suite(
        pytester,
        conftest="def pytest_collection_modifyitems(items):\n    pass\n",
    )
    result = run(pytester, "-n", "2", "--split-collection=always")
    result.assert_outcomes(passed=len(ids))
    seen = collected(pytester)
    assert seen["gw0"]["session"] == ids[:9]
    assert seen["gw1"]["session"] == ids[9:]


@pytest.mark.parametrize("option", ["--lf", "--ff", "--nf", "--sw"])
def test_cache_options_keep_whole_collection(pytester: pytest.Pytester, option: str) -> None:
    ids = make_suite(pytester)
    result = pytester.runpytest_subprocess("-n", "2", option, timeout=TIMEOUT)
    result.assert_outcomes(passed=len(ids))
    seen = collected(pytester)
    assert sorted(seen["gw0"]["session"]) == sorted(ids)  # --nf reorders


@pytest.mark.parametrize("dist", ["load", "loadfile", "loadscope", "worksteal", "loadgroup"])
def test_every_test_collected_and_reported_once(pytester: pytest.Pytester, dist: str) -> None:
    """loadfile and loadscope send whole files wherever they like: the
    worker collects those it does not have."""
    ids = make_suite(pytester, files=7, per_file=4)
    result = run(pytester, "-n", "3", f"--dist={dist}", "-rA")
    result.assert_outcomes(passed=len(ids))
    assert outcomes(result) == sorted(("PASSED", i) for i in ids)
    seen = collected(pytester)
    up_front = [i for w in ("gw0", "gw1", "gw2") for i in seen[w]["session"]]
    assert up_front == ids  # three blocks, in file order, no overlap


def test_outcomes_and_summary_same_as_off(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_a="""
        import pytest
        @pytest.fixture(scope="module")
        def res():
            return []
        @pytest.mark.parametrize("x", range(4))
        def test_param(x, res):
            res.append(x)
            assert x != 2
        def test_skip():
            pytest.skip("no")
        @pytest.mark.xfail
        def test_xfail():
            assert 0
        """,
        test_b="""
        class TestC:
            def test_one(self):
                print("out")
            def test_two(self):
                raise ValueError("boom")
        """,
        test_c="""
        import pytest
        @pytest.fixture
        def broken():
            raise RuntimeError("setup")
        def test_err(broken):
            pass
        def test_ok():
            pass
        """,
        test_d="def test_d():\n    pass\n",
    )
    on = run(pytester, "-n", "2", "-rA", "-k", "not test_one")
    off = run(pytester, "-n", "2", "-rA", "-k", "not test_one", "--split-collection=off")
    serial = run(pytester, "-p", "no:xdist", "-rA", "-k", "not test_one")
    assert on.ret == off.ret == serial.ret == 1
    assert outcomes(on) == outcomes(off) == outcomes(serial)
    assert len(outcomes(on)) == 10

    def summary(r: pytest.RunResult) -> str:
        return re.sub(r" in [\d.]+s.*", "", r.outlines[-1]).strip("= ")

    # (xdist runs, like pytest-xdist's, do not count deselected tests)
    assert summary(on) == summary(off)
    assert summary(on) == summary(serial).replace(" 1 deselected,", "")


def test_collection_error_reported_once(pytester: pytest.Pytester) -> None:
    make_suite(pytester, files=4, per_file=2)
    pytester.makepyfile(test_zbroken="import nosuchmodule_xc\n")
    on = run(pytester, "-n", "2")
    off = run(pytester, "-n", "2", "--split-collection=off")
    assert on.ret == off.ret != 0
    for r in (on, off):
        assert r.stdout.str().count("ERROR collecting test_zbroken.py") == 1
    assert on.outlines[-1].split(" in ")[0] == off.outlines[-1].split(" in ")[0]


def test_crash_while_collecting_own_block(pytester: pytest.Pytester) -> None:
    """Every worker imports every test module, so a module that kills its
    interpreter at import kills each worker (as with pytest-xdist); the
    run ends, reporting it."""
    make_suite(pytester, files=4, per_file=2)
    pytester.makepyfile(test_zcrash="import os\nos._exit(3)\n")
    result = run(pytester, "-n", "2", "--max-worker-restart=1")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*maximum crashed workers reached: 1*"])


# --------------------------------------------------------------------------
# when the split is given up (xdist_c.speedups.split_check), and why (-v)

SESSION_PARAM = """
@pytest.fixture(scope="session", params=["sqlite", "pg"])
def db(request):
    return request.param
"""

STATEFUL_GENERATE = """
import itertools
_count = itertools.count()
def pytest_generate_tests(metafunc):
    if "x" in metafunc.fixturenames:
        metafunc.parametrize("x", [next(_count)])
"""


def speed_line(result: pytest.RunResult) -> str:
    lines = [line for line in result.outlines if line.startswith("xdist-c: ")]
    assert len(lines) == 1, result.outlines
    return lines[0]


@pytest.mark.parametrize(
    ("conftest", "test_file", "why"),
    [
        ("", "def test_x():\n    pass\n", None),
        # module- and class-scoped parameters are reordered inside a file only
        (
            "",
            "import pytest\n@pytest.fixture(scope='module', params=[1, 2])\n"
            "def m(request):\n    return request.param\ndef test_x(m):\n    pass\n",
            None,
        ),
        (SESSION_PARAM, "def test_x(db):\n    pass\n", "fixture 'db' (conftest) is parametrized at session scope"),
        (
            "",
            "import pytest\n@pytest.fixture(scope='package', params=[1, 2])\n"
            "def p(request):\n    return request.param\ndef test_x(p):\n    pass\n",
            "fixture 'p' (test_mid.py) is parametrized at package scope",
        ),
        (
            "@pytest.fixture(scope='session')\ndef db(request):\n    return request.param\n",
            "import pytest\n@pytest.mark.parametrize('db', [1, 2], indirect=True)\ndef test_x(db):\n    pass\n",
            "test_mid.py::test_x parametrizes the 'db' fixture indirectly",
        ),
        (
            "",
            "import pytest\n@pytest.mark.parametrize('v', [1, 2], scope='session')\ndef test_x(v):\n    pass\n",
            "test_mid.py::test_x is parametrized at session scope",
        ),
        (
            "",
            "class TestC:\n    def pytest_generate_tests(self, metafunc):\n        pass\n"
            "    def test_x(self):\n        pass\n",
            "test_mid.py::TestC defines pytest_generate_tests",
        ),
        (STATEFUL_GENERATE, "def test_x(x):\n    pass\n", "conftest implements pytest_generate_tests"),
        (
            "def pytest_itemcollected(item):\n    pass\n",
            "def test_x():\n    pass\n",
            "conftest implements pytest_itemcollected",
        ),
    ],
    ids=[
        "plain",
        "module-params",
        "session-params",
        "package-params",
        "indirect",
        "parametrize-scope",
        "class-generate-tests",
        "conftest-generate-tests",
        "itemcollected",
    ],
)
def test_why_the_split_is_off(pytester: pytest.Pytester, conftest: str, test_file: str, why: str | None) -> None:
    """-v says whether the split was taken, or why not; either way the
    outcomes are those of --split-collection=off."""
    make_suite(pytester, files=4, per_file=2, conftest=conftest)
    pytester.makepyfile(test_mid=test_file)
    on = run(pytester, "-n", "2", "-v", "-rA")
    off = run(pytester, "-n", "2", "-v", "-rA", "--split-collection=off")
    line = speed_line(on)
    if why is None:
        assert "split collection on" in line
    else:
        assert f"split collection off: {why}" in line
    assert "split collection off: --split-collection=off" in speed_line(off)
    assert outcomes(on) == outcomes(off)
    assert on.ret == off.ret == 0


def test_session_params_reordered_across_files(pytester: pytest.Pytester) -> None:
    """pytest reorders the whole collection around a parametrized session
    fixture (test_1a.py's two tests end up apart); every test runs once."""
    pytester.makeconftest("import pytest\n" + SESSION_PARAM)
    pytester.makepyfile(
        test_0b="import time\ndef test_b(db):\n    time.sleep(0.2)\n",
        test_1a="import time\ndef test_plain():\n    time.sleep(0.2)\ndef test_a(db):\n    time.sleep(0.2)\n",
        test_2c="def test_c():\n    pass\n",
        test_3d="def test_d():\n    pass\n",
    )
    result = run(pytester, "-n", "2")
    result.assert_outcomes(passed=7)
    assert "Different tests were collected" not in result.stdout.str()


def test_modules_imported_before_any_test_runs(pytester: pytest.Pytester) -> None:
    """A worker that takes over another's tests has imported their module
    during collection, as pytest-xdist's workers do, not after session
    fixtures ran."""
    pytester.makeconftest(
        "import os, pytest\n@pytest.fixture(scope='session', autouse=True)\n"
        "def app_env():\n    os.environ['APP_ENV_XC'] = 'test'\n    yield\n"
    )
    pytester.makepyfile(
        test_0slow="import time\n" + "".join(f"def test_s{i}():\n    time.sleep(0.2)\n" for i in range(4)),
        test_1mod="import os\nAT_IMPORT = os.environ.get('APP_ENV_XC')\n"
        "def test_env():\n    assert AT_IMPORT is None\n",
        test_2a="def test_a():\n    pass\n",
        test_3b="def test_b():\n    pass\n",
    )
    result = run(pytester, "-n", "2")
    result.assert_outcomes(passed=7)


def test_same_basename_without_init(pytester: pytest.Pytester) -> None:
    """pytest's "import file mismatch" is reported as by pytest-xdist,
    whichever worker owns which file."""
    for d in ("a", "b"):
        pytester.mkdir(d)
        (pytester.path / d / "test_same.py").write_text(f"def test_{d}():\n    pass\n")
    on = run(pytester, "-n", "2")
    off = run(pytester, "-n", "2", "--split-collection=off")
    assert on.ret == off.ret == 1
    for r in (on, off):
        r.stdout.fnmatch_lines(["*import file mismatch*"])
        assert "Different tests were collected" not in r.stdout.str()


def test_failed_import_runs_module_code_once(pytester: pytest.Pytester) -> None:
    """A module that fails to import is imported once per worker: the
    error (with what it printed) is reported when pytest collects it."""
    make_suite(pytester, files=2, per_file=2)
    pytester.makepyfile(
        test_zbroken="import os\nprint('printed at import')\n"
        "open(os.path.join(os.path.dirname(__file__), 'imports.log'), 'a').write('x\\n')\n"
        "raise ValueError('broken module')\n"
    )
    result = run(pytester, "-n", "2")
    assert result.ret == 1
    # once per worker, as pytest-xdist (the longrepr is a traceback)
    result.stdout.fnmatch_lines(
        [
            "*ERROR collecting test_zbroken.py*",
            "*ValueError: broken module*",
            "*printed at import*",
            "*4 passed, 2 errors*",
        ]
    )
    assert (pytester.path / "imports.log").read_text() == "x\n" * 2


# --------------------------------------------------------------------------
# JoinedCollection (controller side)


def layout(nfiles: int, first: int, per_file: list[list[str]]) -> dict[str, Any]:
    return {"nfiles": nfiles, "files": [first, first + len(per_file)], "ids": per_file}


class TestJoinedCollection:
    def test_joins_blocks_in_file_order(self) -> None:
        join = JoinedCollection()
        own, problem = join.add("gw1", layout(3, 2, [["c::1"]]))
        assert (own, problem, join.ids) == (["c::1"], None, None)
        own, problem = join.add("gw0", layout(3, 0, [["a::1", "a::2"], []]))
        assert problem is None
        assert join.ids == ["a::1", "a::2", "c::1"]
        assert join.home("gw0") == (0, 2)
        assert join.home("gw1") == (2, 3)
        assert join.frame is not None
        assert _core.decode_frame(join.frame) == [(_core.CMD_COLLECTION, [["a::1", "a::2"], [], ["c::1"]])]

    def test_a_worker_with_every_file_has_no_home(self) -> None:
        join = JoinedCollection()
        join.add("gw0", layout(2, 0, [["a"], ["b"]]))
        assert join.ids == ["a", "b"]
        assert join.home("gw0") is None

    def test_other_file_count(self) -> None:
        join = JoinedCollection()
        join.add("gw0", layout(3, 0, [["a"]]))
        _, problem = join.add("gw1", layout(4, 1, [["b"]]))
        assert problem is not None and "found 4 test files, other workers 3" in problem
        assert join.ids is None

    def test_other_ids_for_a_file(self) -> None:
        join = JoinedCollection()
        join.add("gw0", layout(2, 0, [["a"], ["b"]]))
        own, problem = join.add("gw2", layout(2, 0, [["a"], ["B"]]))
        assert own == ["a", "B"]
        assert problem is not None and "file #1" in problem

    @pytest.mark.parametrize("bad", [layout(2, 1, [["a"], ["b"]]), {"nfiles": 2, "files": [1, 0], "ids": []}])
    def test_malformed(self, bad: dict[str, Any]) -> None:
        _, problem = JoinedCollection().add("gw0", bad)
        assert problem is not None and "malformed" in problem


# --------------------------------------------------------------------------
# homes in the schedulers


def _homed(sched: Any, n: int, homes: list[tuple[int, int]]) -> list[MockNode]:
    nodes = [StealNode() for _ in homes]
    col = [f"t.py::test_{i}" for i in range(n)]
    for node in nodes:
        sched.add_node(node)
    for node, (start, stop) in zip(nodes, homes):
        sched.set_home(node, start, stop)
        sched.add_node_collection(node, col)
    sched.schedule()
    return nodes


def _complete_all(sched: Any, node: MockNode) -> None:
    while node.queue:
        sched.mark_test_complete(node, node.queue.pop(0))


class StealNode(MockNode):
    """Answers a steal request later, as a worker does: ``steals`` holds the
    requests; the test hands back what is still queued."""

    def __init__(self) -> None:
        super().__init__()
        self.steals: list[list[int]] = []

    def send_steal(self, indices: list[int]) -> None:
        self.steals.append(list(indices))


class TestHomes:
    def test_load_sends_each_node_its_home_first(self) -> None:
        sched = LoadScheduler(2)
        a, b = _homed(sched, 40, [(0, 20), (20, 40)])
        assert a.indices == list(range(5))
        assert b.indices == list(range(20, 25))
        assert sorted(sched.pending) == list(range(5, 20)) + list(range(25, 40))

    def test_load_takes_from_the_front_of_another_home(self) -> None:
        """A node whose home is done gets the tests the other home's owner
        would have got next, in ascending order, as from a shared deque."""
        sched = LoadScheduler(2)
        a, b = _homed(sched, 40, [(0, 20), (20, 40)])
        _complete_all(sched, a)
        while a.indices[-1] < 20:
            _complete_all(sched, a)
        assert a.indices[:20] == list(range(20))
        stolen = a.indices[20:]
        assert stolen == list(range(stolen[0], stolen[0] + len(stolen)))
        assert stolen[0] == max(b.indices) + 1  # right after b's own
        _complete_all(sched, b)
        _complete_all(sched, a)
        _complete_all(sched, b)
        done = sorted(a.indices + b.indices)
        assert done == list(range(40))
        assert sched.tests_finished

    def test_load_sends_each_node_ascending_pieces(self) -> None:
        """Taking one or two tests at a time from another home still runs
        them in collection order (not from the back: 39, 38, ...)."""
        sched = LoadScheduler(2)
        a, b = _homed(sched, 40, [(0, 4), (4, 40)])
        for _ in range(200):
            if a.queue:
                sched.mark_test_complete(a, a.queue.pop(0))
            elif b.queue:
                sched.mark_test_complete(b, b.queue.pop(0))
            else:
                break
        for node in (a, b):
            assert node.indices == sorted(node.indices)
        assert sorted(a.indices + b.indices) == list(range(40))

    def test_load_takes_from_a_home_ahead_and_keeps_to_it(self) -> None:
        """A node whose home is done takes from a home ahead of its own
        (its tests stay in ascending order) until that home is empty, and
        never comes back to a block it has left."""
        sched = LoadScheduler(3)
        a, b, c = _homed(sched, 90, [(0, 30), (30, 60), (60, 90)])
        # Only b works; a and c hold what they were sent.
        while b.queue:
            sched.mark_test_complete(b, b.queue.pop(0))
        blocks = [i // 30 for i in b.indices]
        assert b.indices[: blocks.index(2)] == list(range(30, 60))
        runs = [blocks[0]] + [y for x, y in zip(blocks, blocks[1:]) if y != x]
        assert runs == [1, 2, 0]  # its own, then the one ahead, then the rest
        for block in (1, 2, 0):
            mine = [i for i in b.indices if i // 30 == block]
            assert mine == sorted(mine)
        assert sorted(a.indices + b.indices + c.indices) == list(range(90))

    def test_slow_tail_of_a_home_is_shared_out(self) -> None:
        """A block of files may end with the suite's slowest tests (their
        files sort last).  Its owner reaches them while the other homes
        still look long; it must not be sent them all at once."""
        # 10 files of 98 fast tests, then 2 files of 10 slow ones: the last
        # home is 1 fast file and the 2 slow ones.
        sched = LoadScheduler(4)
        nodes = _homed(sched, 1000, [(0, 294), (294, 588), (588, 882), (882, 1000)])
        slow = set(range(980, 1000))
        ran: dict[int, list[int]] = {i: [] for i in range(4)}
        clock = [0.0] * 4  # when each node is free
        while any(node.queue for node in nodes):
            busy = [i for i, node in enumerate(nodes) if node.queue]
            i = min(busy, key=lambda k: clock[k])
            index = nodes[i].queue.pop(0)
            duration = 1.0 if index in slow else 0.001
            clock[i] += duration
            ran[i].append(index)
            sched.mark_test_complete(nodes[i], index, duration)
        assert sorted(sum(ran.values(), [])) == list(range(1000))
        # 20 s of slow tests on 4 nodes: nobody gets more than a third.
        assert max(len(slow.intersection(r)) for r in ran.values()) <= 7
        assert max(clock) < 8.0

    def test_removed_node_gives_its_home_away(self) -> None:
        sched = LoadScheduler(2)
        a, b = _homed(sched, 40, [(0, 20), (20, 40)])
        assert sched.remove_node(b) == "t.py::test_20"
        while not a.shutting_down:
            before = len(a.indices)
            _complete_all(sched, a)
            assert len(a.indices) > before or a.shutting_down
        # everything but the test b was running went to a
        assert sorted(a.indices) == [i for i in range(40) if i != 20]

    def test_overlapping_homes_are_ignored(self) -> None:
        sched = LoadScheduler(2)
        a, b = _homed(sched, 40, [(0, 30), (20, 40)])
        assert a.indices == list(range(5))
        assert b.indices == list(range(5, 10))

    def test_out_of_range_homes_are_ignored(self) -> None:
        sched = LoadScheduler(2)
        a, b = _homed(sched, 10, [(0, 5), (5, 11)])
        assert a.indices == [0, 1]
        assert b.indices == [2, 3]

    def test_worksteal_starts_each_node_on_its_home(self) -> None:
        sched = WorkStealScheduler(2)
        a, b = _homed(sched, 40, [(0, 25), (25, 40)])
        # Even halves: a cannot take all of its 25; b takes the rest of
        # a's home from its back.
        assert a.indices == list(range(20))
        assert b.indices == list(range(25, 40)) + list(range(20, 25))


def test_collection_warnings_counted_per_worker(pytester: pytest.Pytester) -> None:
    """Every worker of pytest-xdist collects every file and reports its
    collection warnings: a split worker's warnings about its own files
    count once per worker; import-time warnings come from every worker."""
    pytester.makepyfile(
        test_w="import warnings\nwarnings.warn(UserWarning('at import'))\n"
        "class TestX:\n    def __init__(self):\n        pass\n    def test_a(self):\n        pass\n"
        "def test_b():\n    pass\n",
        test_z="def test_c():\n    pass\n",
    )
    # loadfile: test_w.py may go to the worker that did not collect it first
    for n in ("2", "3"):
        on = run(pytester, "-n", n, "--dist=loadfile")
        off = run(pytester, "-n", n, "--dist=loadfile", "--split-collection=off")
        on.stdout.fnmatch_lines([f"*2 passed, {2 * int(n)} warnings*"])
        off.stdout.fnmatch_lines([f"*2 passed, {2 * int(n)} warnings*"])


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(0, 80),
    cuts=st.lists(st.integers(0, 80), min_size=0, max_size=3),
    order=st.randoms(use_true_random=False),
    steal=st.booleans(),
)
def test_homes_send_every_test_once(n: int, cuts: list[int], order: Any, steal: bool) -> None:
    """Whatever the homes, each test is sent exactly once and the run ends."""
    bounds = [0, *sorted(min(c, n) for c in cuts), n]
    homes = list(zip(bounds, bounds[1:]))
    sched = WorkStealScheduler(len(homes)) if steal else LoadScheduler(len(homes))
    nodes = _homed(sched, n, homes)
    done: list[int] = []
    for _ in range(20 * n + 20):
        for node in nodes:
            while node.steals:  # the worker gives back what it has not started
                wanted = node.steals.pop(0)
                given = wanted if all(i in node.queue[1:] for i in wanted) else []
                node.queue = [i for i in node.queue if i not in given]
                sched.remove_pending_tests_from_node(node, given)
        busy = [node for node in nodes if node.queue]
        if not busy:
            break
        node = order.choice(busy)
        done.append(node.queue.pop(0))
        sched.mark_test_complete(node, done[-1])
    assert sorted(done) == list(range(n))
    assert sched.tests_finished
    if not steal:
        # load: a node never comes back to a block it has left, and runs
        # each block's tests in order
        block_of = {i: k for k, (start, stop) in enumerate(homes) for i in range(start, stop)}
        for node in nodes:
            blocks = [block_of[i] for i in node.indices]
            runs = [b for k, b in enumerate(blocks) if k == 0 or blocks[k - 1] != b]
            assert len(runs) == len(set(runs)), runs
            for b in set(blocks):
                mine = [i for i in node.indices if block_of[i] == b]
                assert mine == sorted(mine)
