"""Scheduler micro-benchmark: xdist_c's schedulers driven by simulated nodes.

    python benchmarks/bench_scheduler.py [--tests 100000] [--nodes 16]
        [--seed 0] [--modes load,...] [--compare /path/to/python-with-xdist]

Each mode gets `--tests` tests and `--nodes` mock nodes whose send_*
methods only append to deques.  A node finishes its tests in order, and,
like a real worker, only once it holds the next one too (or was told to
shut down); which node finishes its next test is chosen at random (seeded).
worksteal's steal requests are answered by the node after a random number
of events, all or nothing, as xdist_c's worker does, and the answer goes
through remove_pending_tests_from_node.  After every event
`tests_finished` is read, as DSession does, and when it is true every node
is told to shut down.  The time reported is the time spent inside
scheduler calls, summed.

The suite: 1,000 files of 100 tests, each file 50 module-level functions
and 5 classes of 10 methods (loadscope: 6,000 units; loadfile: 1,000);
under loadgroup every 4th test carries one of 100 `@group` suffixes
(100 units of 250, 75,000 single-test units).

With --compare, the same script runs in the given interpreter against
pytest-xdist's schedulers (imported only there) and both columns are
printed, with whether both sent exactly the same commands.  Never install
pytest-xdist next to xdist_c: use its own venv.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import subprocess
import sys
import time
from collections import deque
from typing import Any

MODES = (
    "load",
    "load-chunk1",
    "each",
    "loadscope",
    "loadfile",
    "loadgroup",
    "worksteal",
)


class _Gateway:
    def __init__(self, gid: str) -> None:
        self.id = gid
        self.spec = "popen"


class _Node:
    """A worker that only remembers what it was told."""

    def __init__(self, gid: str, ntests: int, driver: _Driver) -> None:
        self.gateway = _Gateway(gid)
        self.queue: deque[int] = deque()
        self.ntests = ntests
        self.shutting_down = False
        self.driver = driver
        self.steal: list[int] | None = None  # not answered yet

    def send_runtest_some(self, indices: Any) -> None:
        self.queue.extend(indices)
        self.driver.log(self, "r", indices)

    def send_runtest_all(self) -> None:
        self.queue.extend(range(self.ntests))
        self.driver.log(self, "a", ())

    def send_steal(self, indices: Any) -> None:
        self.steal = list(indices)
        self.driver.log(self, "s", indices)

    def shutdown(self) -> None:
        self.shutting_down = True
        self.driver.log(self, "x", ())

    def can_finish_one(self) -> bool:
        # a worker pops the next index (or the shutdown) before it runs one
        return len(self.queue) >= 2 or (self.shutting_down and bool(self.queue))


class _Driver:
    """Keeps every command (cheaply: it runs inside the timed calls) and
    digests them afterwards."""

    def __init__(self) -> None:
        self.commands: list[tuple[_Node, str, Any]] = []

    def log(self, node: _Node, what: str, indices: Any) -> None:
        self.commands.append((node, what, indices))

    def digest(self) -> str:
        h = hashlib.sha256()
        for node, what, indices in self.commands:
            h.update(f"{node.gateway.id}{what}{list(indices)}".encode())
        return h.hexdigest()


class _Option:
    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


class _Config:
    def __init__(self, nodes: int, chunk: int | None) -> None:
        self._values = {
            "tx": [f"{nodes}*popen"],
            "maxschedchunk": chunk,
            "loadscopereorder": True,
        }
        self.option = _Option(self._values)

    def getvalue(self, name: str) -> Any:
        return self._values[name]

    def getoption(self, name: str, default: Any = None) -> Any:
        return self._values.get(name, default)


def _classes(impl: str) -> tuple[dict[str, Any], Any]:
    """({mode: scheduler class}, log) of the implementation."""
    if impl == "xdist":
        from xdist import scheduler as mod  # type: ignore[import-not-found,unused-ignore]
        from xdist.remote import Producer  # type: ignore[import-not-found,unused-ignore]

        log: Any = Producer("bench", enabled=False)
    else:
        from xdist_c import scheduler as mod  # type: ignore[no-redef,unused-ignore]

        log = None
    return {
        "load": mod.LoadScheduling,
        "load-chunk1": mod.LoadScheduling,
        "each": mod.EachScheduling,
        "loadscope": mod.LoadScopeScheduling,
        "loadfile": mod.LoadFileScheduling,
        "loadgroup": mod.LoadGroupScheduling,
        "worksteal": mod.WorkStealingScheduling,
    }, log


def make_ids(ntests: int, mode: str) -> list[str]:
    ids = []
    for i in range(ntests):
        k = i % 100
        cls = "" if k < 50 else f"TestC{(k - 50) // 10}::"
        nodeid = f"tests/test_mod{i // 100}.py::{cls}test_{i}"
        if mode == "loadgroup" and i % 4 == 0:
            nodeid += f"@grp{(i // 4) % 100}"
        ids.append(nodeid)
    return ids


def run_mode(impl: str, mode: str, ntests: int, nnodes: int, seed: int) -> dict[str, Any]:
    classes, log = _classes(impl)
    chunk = 1 if mode == "load-chunk1" else None
    config = _Config(nnodes, chunk)
    cls = classes[mode]
    rng = random.Random(seed)
    ids = make_ids(ntests, mode)
    driver = _Driver()
    nodes = [_Node(f"gw{k}", ntests, driver) for k in range(nnodes)]
    perf = time.perf_counter
    spent = 0.0
    start = perf()

    t = perf()
    sched = cls(config, log)
    for node in nodes:
        sched.add_node(node)
    spent += perf() - t
    for node in nodes:
        # every worker's ids arrive as distinct string objects (decoded
        # from its own message); making them is not timed
        col = json.loads(json.dumps(ids))
        t = perf()
        sched.add_node_collection(node, col)
        spent += perf() - t
        del col
    t = perf()
    sched.schedule()
    spent += perf() - t

    events = steals = 0
    while True:
        asking = [node for node in nodes if node.steal is not None]
        if asking and rng.random() < 0.25:
            # a worker answers: all it was asked for, or nothing if it
            # started one of them (the first two are running or next)
            node = asking[rng.randrange(len(asking))]
            wanted, node.steal = node.steal, None
            assert wanted is not None
            queued = list(node.queue)
            given: list[int] = []
            if set(wanted) <= set(queued[2:]):
                given = wanted
                keep = set(wanted)
                node.queue = deque(i for i in queued if i not in keep)
            t = perf()
            sched.remove_pending_tests_from_node(node, given)
            finished = sched.tests_finished
            spent += perf() - t
            steals += 1
        else:
            ready = [node for node in nodes if node.can_finish_one()]
            if not ready:
                if asking:
                    continue
                break
            node = ready[rng.randrange(len(ready))]
            index = node.queue.popleft()
            t = perf()
            sched.mark_test_complete(node, index, 0.0)
            finished = sched.tests_finished
            spent += perf() - t
            events += 1
        if finished:
            for other in nodes:  # DSession.triggershutdown
                if not other.shutting_down:
                    other.shutdown()
    total = perf() - start
    assert sched.tests_finished and not sched.has_pending
    expected = ntests * nnodes if mode == "each" else ntests
    assert events == expected, (events, expected)
    assert not any(node.queue for node in nodes)
    return {
        "sched_s": spent,
        "total_s": total,
        "events": events,
        "steals": steals,
        "digest": driver.digest(),
    }


def run_all(impl: str, modes: list[str], ntests: int, nnodes: int, seed: int) -> dict[str, Any]:
    return {mode: run_mode(impl, mode, ntests, nnodes, seed) for mode in modes}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tests", type=int, default=100_000)
    p.add_argument("--nodes", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--compare", metavar="PYTHON", help="an interpreter with pytest-xdist installed")
    p.add_argument("--impl", choices=("ours", "xdist"), default="ours", help=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    modes = args.modes.split(",")
    unknown = set(modes) - set(MODES)
    if unknown:
        p.error(f"unknown modes: {', '.join(sorted(unknown))}")

    ours = run_all(args.impl, modes, args.tests, args.nodes, args.seed)
    if args.json:
        print(json.dumps(ours))
        return 0
    theirs = None
    if args.compare:
        cmd = [args.compare, __file__, "--impl", "xdist", "--json"]
        cmd += ["--tests", str(args.tests), "--nodes", str(args.nodes)]
        cmd += ["--seed", str(args.seed), "--modes", args.modes]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True)
        theirs = json.loads(out.stdout)

    print(f"{args.tests} tests, {args.nodes} nodes, Python {sys.version.split()[0]}")
    print("seconds spent in scheduler calls (whole simulation in brackets)")
    head = f"{'mode':<12} {'events':>9} {'steals':>7} {'xdist_c':>18}"
    if theirs:
        head += f" {'pytest-xdist':>18} {'speedup':>8}  same commands"
    print(head)
    for mode in modes:
        r = ours[mode]
        line = f"{mode:<12} {r['events']:>9} {r['steals']:>7} {r['sched_s']:>8.3f} ({r['total_s']:>7.3f})"
        if theirs:
            x = theirs[mode]
            line += f" {x['sched_s']:>8.3f} ({x['total_s']:>7.3f})"
            line += f" {x['sched_s'] / r['sched_s']:>7.1f}x"
            line += "  yes" if x["digest"] == r["digest"] else "  NO"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
