"""Duration-aware scheduling in the C schedulers (``set_durations``).

The schedulers are driven by simulated workers: each runs its queue in
order, a test taking its given number of (simulated) seconds, and, as a
real worker, starts a test only once it knows the next one or was told to
stop.  Nothing here sleeps.
"""

from __future__ import annotations

import heapq
import json
import random
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

import pytest

from xdist_c._core import LoadScheduler
from xdist_c._core import ScopeScheduler
from xdist_c._core import WorkStealScheduler

SENT_LOG: list[int] = []  # every index sent, in order, by every node


class SimNode:
    def __init__(self, name: str) -> None:
        self.name = name
        self.queue: list[int] = []
        self.sent: list[list[int]] = []
        self.ran: list[int] = []
        self.down = False
        self.steal: list[int] | None = None
        self.running: int | None = None

    def send_runtest_some(self, indices: Sequence[int]) -> None:
        self.sent.append(list(indices))
        SENT_LOG.extend(indices)
        self.queue.extend(indices)

    def shutdown(self) -> None:
        self.down = True

    def send_steal(self, indices: Sequence[int]) -> None:
        self.steal = list(indices)

    @property
    def shutting_down(self) -> bool:
        return self.down

    def __repr__(self) -> str:
        return f"<SimNode {self.name}>"


def ids(n: int, per_file: int = 10) -> list[str]:
    return [f"test_{i // per_file:03d}.py::test_{i}" for i in range(n)]


def start(sched: Any, col: list[str], nnodes: int, durations: dict[str, float] | None) -> list[SimNode]:
    nodes = [SimNode(f"gw{k}") for k in range(nnodes)]
    for node in nodes:
        sched.add_node(node)
    if durations is not None:
        sched.set_durations(durations)
    for node in nodes:
        sched.add_node_collection(node, col)
    sched.schedule()
    return nodes


def simulate(sched: Any, nodes: list[SimNode], secs: list[float]) -> float:
    """Run the workers to the end; returns the simulated wall time."""
    now = 0.0
    heap: list[tuple[float, int, int]] = []  # (finish, node number, index)

    def answer_steal(k: int) -> None:
        node = nodes[k]
        if node.steal is None:
            return
        asked, node.steal = node.steal, None
        waiting = node.queue[1:] if node.running is not None else node.queue
        if all(i in waiting for i in asked):
            for i in asked:
                node.queue.remove(i)
            sched.remove_pending_tests_from_node(node, asked)
        else:
            sched.remove_pending_tests_from_node(node, [])

    def kick() -> None:
        for k, node in enumerate(nodes):
            answer_steal(k)
            if node.running is None and node.queue and (len(node.queue) >= 2 or node.down):
                node.running = node.queue[0]
                heapq.heappush(heap, (now + secs[node.running], k, node.running))

    kick()
    while heap:
        now, k, index = heapq.heappop(heap)
        node = nodes[k]
        assert node.queue[0] == index
        node.queue.pop(0)
        node.running = None
        node.ran.append(index)
        sched.mark_test_complete(node, index, secs[index])
        kick()
    ran = sorted(i for node in nodes for i in node.ran)
    assert ran == list(range(len(secs))), "every test runs once"
    return now


def skewed(nfast: int = 200, slow: Sequence[float] = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.0)) -> list[float]:
    """Fast tests, then the slow ones last in collection order."""
    return [0.01] * nfast + list(slow)


def timed(col: list[str], secs: list[float]) -> dict[str, float]:
    return dict(zip(col, secs))


MAKERS: dict[str, Callable[[int], Any]] = {
    "load": lambda n: LoadScheduler(n),
    "worksteal": lambda n: WorkStealScheduler(n),
}


@pytest.mark.parametrize("mode", sorted(MAKERS))
@pytest.mark.parametrize("durations", [None, {}, {"not::collected": 3.0}])
def test_no_known_duration_changes_nothing(mode: str, durations: dict[str, float] | None) -> None:
    col = ids(300)
    secs = skewed(292)
    plain = MAKERS[mode](3)
    pnodes = start(plain, col, 3, None)
    simulate(plain, pnodes, secs)
    other = MAKERS[mode](3)
    onodes = start(other, col, 3, durations)
    simulate(other, onodes, secs)
    assert [n.sent for n in onodes] == [n.sent for n in pnodes]


@pytest.mark.parametrize("mode", sorted(MAKERS))
@pytest.mark.parametrize("nnodes", [2, 4])
def test_longest_first_and_balanced(mode: str, nnodes: int) -> None:
    secs = skewed()
    col = ids(len(secs), per_file=20)
    sched = MAKERS[mode](nnodes)
    nodes = start(sched, col, nnodes, timed(col, secs))
    # The slow tests went out first, spread over the nodes (LPT).
    firsts = [node.sent[0][0] for node in nodes]
    assert sorted((secs[i] for i in firsts), reverse=True) == sorted(secs, reverse=True)[:nnodes]
    wall = simulate(sched, nodes, secs)
    bound = max(max(secs), sum(secs) / nnodes)
    assert wall <= 1.05 * bound
    # Without durations the slow tests, last in collection order, make a
    # tail (the case the feature is for).
    plain = MAKERS[mode](nnodes)
    assert simulate(plain, start(plain, col, nnodes, None), secs) > wall


@pytest.mark.parametrize("mode", sorted(MAKERS))
def test_unknown_tests_count_as_the_median(mode: str) -> None:
    secs = skewed(100)
    col = ids(len(secs))
    known = timed(col, secs)
    # A new slow test nobody timed: it counts as the median (fast) and
    # stays in collection order, after the timed slow ones.
    del known[col[-1]]
    sched = MAKERS[mode](2)
    SENT_LOG.clear()
    nodes = start(sched, col, 2, known)
    simulate(sched, nodes, secs)
    if mode == "load":
        assert sorted(SENT_LOG[:7]) == list(range(100, 107))  # the timed slow ones
        assert SENT_LOG.index(107) > SENT_LOG.index(99)  # in collection order
    else:  # all dealt at once: each node's share, longest first
        for node in nodes:
            share = node.sent[0]
            slow = [i for i in share if 100 <= i < 107]
            assert share[: len(slow)] == slow
        assert any(node.sent[0][-1] == 107 for node in nodes)


def test_load_uniform_durations_keep_collection_order() -> None:
    col = ids(400, per_file=50)
    secs = [0.01] * 400
    plain = LoadScheduler(2)
    pnodes = start(plain, col, 2, None)
    sched = LoadScheduler(2)
    nodes = start(sched, col, 2, timed(col, secs))
    for node in nodes:
        for chunk in node.sent:
            assert chunk == sorted(chunk)  # file by file, as without them
    simulate(sched, nodes, secs)
    simulate(plain, pnodes, secs)


@pytest.mark.parametrize("mode", sorted(MAKERS))
def test_timing_noise_on_a_quick_suite_reorders_nothing(mode: str) -> None:
    """Tests under XC_LONG_TEST_FLOOR (50 ms) are never moved ahead: on a
    quick suite, one test measured 40 times slower than the others by a
    busy machine must not change the order each worker runs its tests in."""
    col = ids(60, per_file=10)
    secs = [0.0005] * 60
    secs[37] = 0.02  # noise: still under the floor
    plain = MAKERS[mode](2)
    pnodes = start(plain, col, 2, None)
    sched = MAKERS[mode](2)
    nodes = start(sched, col, 2, timed(col, secs))
    for node in nodes:
        for chunk in node.sent:
            assert chunk == sorted(chunk), "file by file, in collection order"
    assert nodes[0].sent[0][0] == pnodes[0].sent[0][0] and nodes[1].sent[0][0] == pnodes[1].sent[0][0]


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("mode", sorted(MAKERS))
def test_random_durations_every_test_runs_once(mode: str, seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randrange(1, 120)
    nnodes = rng.randrange(1, 5)
    secs = [rng.choice([0.001, 0.01, 0.1, 1.0, 3.0]) for _ in range(n)]
    col = ids(n)
    known = {c: s for c, s in zip(col, secs) if rng.random() < 0.8}
    sched = MAKERS[mode](nnodes)
    nodes = start(sched, col, nnodes, known)
    simulate(sched, nodes, secs)
    assert sched.tests_finished


def test_load_crash_requeues_with_weights() -> None:
    secs = skewed(40)
    col = ids(len(secs))
    sched = LoadScheduler(2)
    nodes = start(sched, col, 2, timed(col, secs))
    dead = nodes[0]
    crashed = sched.remove_node(dead)
    assert crashed == col[dead.queue[0]]
    survivor = nodes[1]
    # The survivor runs what is left, the crashed test excepted.
    left = set(range(len(secs))) - {dead.queue[0]}
    ran: list[int] = []
    while survivor.queue:
        i = survivor.queue.pop(0)
        ran.append(i)
        sched.mark_test_complete(survivor, i, secs[i])
    assert set(ran) == left


def test_set_durations_rejects_a_non_dict() -> None:
    with pytest.raises(TypeError):
        LoadScheduler(1).set_durations([1.0])  # type: ignore[arg-type]
    sched = LoadScheduler(1)
    sched.set_durations(None)  # clears


def test_bad_values_are_unknown() -> None:
    col = ids(4)
    sched = LoadScheduler(1)
    sched.set_durations({col[0]: "x", col[1]: float("nan"), col[2]: -1.0, col[3]: 10**400})  # type: ignore[dict-item]
    nodes = start(sched, col, 1, None)
    plain = LoadScheduler(1)
    assert nodes[0].sent == start(plain, col, 1, None)[0].sent  # as without


@pytest.mark.parametrize("mode", ["loadscope", "loadfile"])
def test_scope_longest_unit_first(mode: str) -> None:
    # Three files of 10 tests: the last one is the slowest in total.
    col = ids(30, per_file=10)
    secs = [0.01] * 20 + [0.5] * 10
    plain = ScopeScheduler(2, mode)
    pnodes = start(plain, col, 2, None)
    assert pnodes[0].sent[0][0] == 0  # size order: collection order
    sched = ScopeScheduler(2, mode)
    nodes = start(sched, col, 2, timed(col, secs))
    if mode == "loadfile":
        assert nodes[0].sent[0] == list(range(20, 30))
    else:
        assert nodes[0].sent[0][0] in range(20, 30)
    simulate(sched, nodes, secs)


def test_scope_no_reorder_ignores_durations() -> None:
    col = ids(30, per_file=10)
    secs = [0.01] * 20 + [0.5] * 10
    sched = ScopeScheduler(2, "loadfile", False)
    nodes = start(sched, col, 2, timed(col, secs))
    assert nodes[0].sent[0] == list(range(10))


# --------------------------------------------------------------------------
# End to end: the durations stored by one run order the next one.

ORDER_SUITE = """
import os

def _log(name):
    worker = os.environ.get("PYTEST_XDIST_WORKER", "none")
    with open(os.path.join(os.path.dirname(__file__), "order", worker), "a") as f:
        f.write(name + "\\n")

def test_fast(i):
    _log("fast%d" % i)

def test_slow(s):
    _log("slow%d" % s)
"""

ORDER_CONFTEST = """
import pytest

def pytest_generate_tests(metafunc):
    if "i" in metafunc.fixturenames:
        metafunc.parametrize("i", range(40))
    if "s" in metafunc.fixturenames:
        metafunc.parametrize("s", range(4))
"""


def _orders(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, list[list[str]]]:
    logdir = pytester.path / "order"
    if logdir.exists():
        for f in logdir.iterdir():
            f.unlink()
    logdir.mkdir(exist_ok=True)
    result = pytester.runpytest_subprocess("-n", "2", "-v", *args)
    result.assert_outcomes(passed=44)
    return result, [f.read_text().split() for f in sorted(logdir.iterdir())]


def _store_slow(pytester: pytest.Pytester) -> None:
    """Make the stored durations say the slow tests (last in collection
    order) take a second each: the test itself does not wait."""
    path = pytester.path / ".pytest_cache" / "v" / "xdist_c" / "durations"
    stored = json.loads(path.read_text())
    for nodeid in stored:
        if "test_slow" in nodeid:
            stored[nodeid] = 1.0
    path.write_text(json.dumps(stored))


@pytest.fixture
def order_suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(ORDER_CONFTEST)
    pytester.makepyfile(test_order=ORDER_SUITE)
    return pytester


def test_second_run_starts_each_worker_on_a_slow_test(order_suite: pytest.Pytester) -> None:
    first, orders = _orders(order_suite)
    first.stdout.fnmatch_lines(["xdist-c: *duration order off: no stored durations*"])
    assert all(not o[0].startswith("slow") for o in orders)  # collection order
    stored = json.loads((order_suite.path / ".pytest_cache/v/xdist_c/durations").read_text())
    assert len(stored) == 44 and all(isinstance(v, float) for v in stored.values())
    _store_slow(order_suite)
    second, orders = _orders(order_suite)
    second.stdout.fnmatch_lines(["xdist-c: *duration order on (44 of 44 tests timed)*"])
    assert len(orders) == 2
    for order in orders:
        assert order[0].startswith("slow")
        # The longest first: a worker runs its slow tests before the rest.
        slow = [k for k, name in enumerate(order) if name.startswith("slow")]
        assert slow == list(range(len(slow)))


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (("--schedule-by-duration=off",), "--schedule-by-duration=off"),
        (("-p", "no:cacheprovider"), "no cache (-p no:cacheprovider)"),
    ],
)
def test_off_keeps_collection_order(order_suite: pytest.Pytester, args: tuple[str, ...], why: str) -> None:
    _orders(order_suite)
    _store_slow(order_suite)
    before = (order_suite.path / ".pytest_cache/v/xdist_c/durations").read_text()
    result, orders = _orders(order_suite, *args)
    result.stdout.fnmatch_lines([f"xdist-c: *duration order off: {why}*"])
    assert all(not o[0].startswith("slow") for o in orders)
    # Nothing stored either.
    assert (order_suite.path / ".pytest_cache/v/xdist_c/durations").read_text() == before


def test_ini_turns_it_off(order_suite: pytest.Pytester) -> None:
    order_suite.makeini("[pytest]\nschedule_by_duration = false\n")
    result, _ = _orders(order_suite)
    result.stdout.fnmatch_lines(["xdist-c: *duration order off: schedule_by_duration = false*"])
    assert not (order_suite.path / ".pytest_cache/v/xdist_c/durations").exists()
