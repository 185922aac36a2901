"""Scheduler micro-benchmark: xdist_c's schedulers driven by simulated nodes.

    python benchmarks/bench_scheduler.py [--tests 100000] [--nodes 16]
        [--seed 0] [--compare /path/to/python-with-pytest-xdist]

Each mode gets `--tests` tests and `--nodes` mock nodes whose send_*
methods only append to lists.  Nodes finish their own tests in order; which
node finishes its next test is chosen at random (seeded), and after every
event `tests_finished` is read, as DSession does.  The time reported is the
time spent inside scheduler calls (add_node* / schedule /
mark_test_complete / tests_finished), summed.

With --compare, the same script runs in the given interpreter against
pytest-xdist's schedulers (imported only there) and both columns are
printed.  Never install pytest-xdist next to xdist_c: use its own venv.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import subprocess
import sys
import time
from typing import Any

MODES = ("load", "load-chunk1", "each")


class _Gateway:
    def __init__(self, gid: str) -> None:
        self.id = gid
        self.spec = "popen"


class _Node:
    """A worker that only remembers what it was told to run."""

    def __init__(self, gid: str, ntests: int) -> None:
        self.gateway = _Gateway(gid)
        self.queue: collections.deque[int] = collections.deque()
        self.ntests = ntests
        self.shutting_down = False

    def send_runtest_some(self, indices: Any) -> None:
        self.queue.extend(indices)

    def send_runtest_all(self) -> None:
        self.queue.extend(range(self.ntests))

    def shutdown(self) -> None:
        self.shutting_down = True


class _Config:
    def __init__(self, nodes: int, chunk: int | None) -> None:
        self._values = {"tx": [f"{nodes}*popen"], "maxschedchunk": chunk}

    def getvalue(self, name: str) -> Any:
        return self._values[name]

    def getoption(self, name: str, default: Any = None) -> Any:
        return self._values.get(name, default)


def _classes(impl: str) -> tuple[Any, Any, Any]:
    """(LoadScheduling, EachScheduling, log) of the implementation."""
    if impl == "xdist":
        from xdist.remote import Producer  # type: ignore[import-not-found,unused-ignore]
        from xdist.scheduler import (  # type: ignore[import-not-found,unused-ignore]
            EachScheduling,
            LoadScheduling,
        )

        return LoadScheduling, EachScheduling, Producer("bench", enabled=False)
    from xdist_c.scheduler import EachScheduling, LoadScheduling

    return LoadScheduling, EachScheduling, None


def run_mode(
    impl: str, mode: str, ntests: int, nnodes: int, seed: int
) -> dict[str, Any]:
    load_cls, each_cls, log = _classes(impl)
    chunk = 1 if mode == "load-chunk1" else None
    config = _Config(nnodes, chunk)
    cls = each_cls if mode == "each" else load_cls
    rng = random.Random(seed)
    ids = [f"tests/test_mod{i // 100}.py::test_{i}" for i in range(ntests)]
    nodes = [_Node(f"gw{k}", ntests) for k in range(nnodes)]
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

    events = 0
    busy = [node for node in nodes if node.queue]
    while busy:
        node = busy[rng.randrange(len(busy))]
        index = node.queue.popleft()
        t = perf()
        sched.mark_test_complete(node, index, 0.0)
        finished = sched.tests_finished
        spent += perf() - t
        events += 1
        if finished:
            for other in nodes:
                other.shutting_down = True
        if not node.queue:
            # completing a test only ever sends more to that same node
            busy.remove(node)
    total = perf() - start
    assert sched.tests_finished and not sched.has_pending
    expected = ntests * nnodes if mode == "each" else ntests
    assert events == expected, (events, expected)
    return {"sched_s": spent, "total_s": total, "events": events}


def run_all(impl: str, ntests: int, nnodes: int, seed: int) -> dict[str, Any]:
    return {mode: run_mode(impl, mode, ntests, nnodes, seed) for mode in MODES}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tests", type=int, default=100_000)
    p.add_argument("--nodes", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--compare", metavar="PYTHON", help="an interpreter with pytest-xdist installed"
    )
    p.add_argument(
        "--impl", choices=("ours", "xdist"), default="ours", help=argparse.SUPPRESS
    )
    p.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()

    ours = run_all(args.impl, args.tests, args.nodes, args.seed)
    if args.json:
        print(json.dumps(ours))
        return 0
    theirs = None
    if args.compare:
        cmd = [args.compare, __file__, "--impl", "xdist", "--json"]
        cmd += ["--tests", str(args.tests), "--nodes", str(args.nodes)]
        cmd += ["--seed", str(args.seed)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True)
        theirs = json.loads(out.stdout)

    print(f"{args.tests} tests, {args.nodes} nodes, Python {sys.version.split()[0]}")
    print("seconds spent in scheduler calls (whole simulation in brackets)")
    head = f"{'mode':<12} {'events':>9} {'xdist_c':>18}"
    if theirs:
        head += f" {'pytest-xdist':>18} {'speedup':>8}"
    print(head)
    for mode in MODES:
        r = ours[mode]
        line = (
            f"{mode:<12} {r['events']:>9} {r['sched_s']:>8.3f} ({r['total_s']:>7.3f})"
        )
        if theirs:
            x = theirs[mode]
            line += f" {x['sched_s']:>8.3f} ({x['total_s']:>7.3f})"
            line += f" {x['sched_s'] / r['sched_s']:>7.1f}x"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
