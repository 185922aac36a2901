"""Differential check: xdist_c's schedulers vs pytest-xdist 3.8's.

    python diff_scheduler.py --ours PY1 --xdist PY2 [--count N] [--seed S]

runs this same file as `--run IMPL MODE SEED` in both interpreters (each
with only its own package installed) and compares the traces: every
command each node received, every return value and the protocol
properties after every event.  The driver's choices (which node finishes a
test, which crashes, durations) depend only on a seeded RNG and on what
the nodes were sent, so equal behaviour gives equal traces and the first
difference is reported.

Scenarios stay inside the behaviour both are meant to share (no late node
with a different collection, no crash of a node that has nothing left in
`each`, where pytest-xdist raises KeyError).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
from typing import Any


class Gateway:
    def __init__(self, gid: str, spec: str) -> None:
        self.id = gid
        self.spec = spec


class Node:
    def __init__(self, gid: str, spec: str, log: list[Any]) -> None:
        self.gateway = Gateway(gid, spec)
        self.queue: list[int] = []
        self.log = log
        self._down = False
        self.ncoll = 0
        self.replacement = False

    def send_runtest_some(self, indices: Any) -> None:
        self.log.append([self.gateway.id, "runtests", list(indices)])
        self.queue.extend(indices)

    def send_runtest_all(self) -> None:
        self.log.append([self.gateway.id, "runtests_all"])
        self.queue.extend(range(self.ncoll))

    def shutdown(self) -> None:
        self.log.append([self.gateway.id, "shutdown"])
        self._down = True

    @property
    def shutting_down(self) -> bool:
        return self._down


class Hook:
    def __init__(self, log: list[Any]) -> None:
        self.log = log

    def pytest_collectreport(self, report: Any) -> None:
        self.log.append(["collectreport", report.nodeid, report.outcome])


class Config:
    def __init__(self, nnodes: int, chunk: int | None, log: list[Any]) -> None:
        self.values = {"tx": [f"{nnodes}*popen"], "maxschedchunk": chunk}
        self.hook = Hook(log)

    def getvalue(self, name: str) -> Any:
        return self.values[name]

    def getoption(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)


def make(impl: str, mode: str, config: Config) -> Any:
    if impl == "xdist":
        from xdist.remote import Producer
        from xdist.scheduler import EachScheduling, LoadScheduling

        log: Any = Producer("sched", enabled=False)
    else:
        from xdist_c.scheduler import EachScheduling, LoadScheduling

        log = None
    cls = LoadScheduling if mode == "load" else EachScheduling
    return cls(config, log)


def pending_of(impl: str, sched: Any, node: Node) -> list[int]:
    if impl == "xdist":
        return list(sched.node2pending[node])
    return sched.node_pending(node)


def run_one(impl: str, mode: str, seed: int) -> list[Any]:
    rng = random.Random(seed)
    trace: list[Any] = []
    nnodes = rng.randint(1, 6)
    chunk = rng.choice([None, None, 1, 2, 3, 8])
    config = Config(nnodes, chunk, trace)
    sched = make(impl, mode, config)
    gid = iter(range(10**6))

    def new_node(spec: str) -> Node:
        return Node(f"gw{next(gid)}", spec, trace)

    if mode == "load":
        n = rng.choice([0, 1, 2, 3, 5, 7, 11, rng.randint(0, 300)])
        base = [f"t.py::test_{i}" for i in range(n)]
        specs = ["popen"] * nnodes
        cols = [list(base) for _ in range(nnodes)]
        if n and rng.random() < 0.05:  # a mismatch at start
            cols[rng.randrange(nnodes)] = base[::-1] if n > 1 else []
    else:
        specs = [f"spec{i}" for i in range(nnodes)]
        cols = [
            [f"t.py::test_{i}" for i in range(rng.randint(0, 60))]
            for _ in range(nnodes)
        ]
    by_spec = dict(zip(specs, cols))
    nodes = [new_node(s) for s in specs]

    def snapshot(event: list[Any], result: Any = None) -> None:
        state: dict[str, Any] = {
            "finished": sched.tests_finished,
            "has_pending": sched.has_pending,
            "completed": sched.collection_is_completed,
            "nodes": [nd.gateway.id for nd in sched.nodes],
            "node_pending": [pending_of(impl, sched, nd) for nd in sched.nodes],
        }
        if mode == "load":
            state["pending"] = list(sched.pending)
        trace.append([event, result, state])

    for nd in nodes:
        sched.add_node(nd)
        snapshot(["add_node", nd.gateway.id])
    order = list(range(nnodes))
    rng.shuffle(order)
    for k in order:
        nd = nodes[k]
        nd.ncoll = len(cols[k])
        sched.add_node_collection(nd, cols[k])
        snapshot(["add_node_collection", nd.gateway.id])
    sched.schedule()
    snapshot(["schedule"])
    live = list(nodes)
    crashes = rng.randint(0, 4)
    for _ in range(20000):
        if sched.tests_finished:  # DSession.triggershutdown
            for nd in sched.nodes:
                nd.shutdown()
        busy = [nd for nd in live if nd.queue]
        if not busy:
            break
        nd = rng.choice(busy)
        roll = rng.random()
        may_crash = mode == "load" or (len(nd.queue) >= 2 and not nd.replacement)
        if crashes and may_crash and roll < 0.02:
            crashes -= 1
            result = sched.remove_node(nd)
            snapshot(["remove_node", nd.gateway.id], result)
            live.remove(nd)
            new = new_node(nd.gateway.spec)
            new.replacement = True
            new.ncoll = len(by_spec[new.gateway.spec])
            live.append(new)
            sched.add_node(new)
            sched.add_node_collection(new, list(by_spec[new.gateway.spec]))
            snapshot(["replace", new.gateway.id])
            sched.schedule()
            snapshot(["schedule"])
            continue
        if mode == "load" and roll < 0.03 and sched.collection:
            item = rng.choice(sched.collection)
            sched.mark_test_pending(item)
            snapshot(["mark_test_pending", item])
            continue
        idx = nd.queue.pop(0)
        duration = rng.choice([0, 0.01, 0.1, 0.5])
        sched.mark_test_complete(nd, idx, duration)
        snapshot(["complete", nd.gateway.id, idx, duration])
    return trace


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--run", nargs=3, metavar=("IMPL", "MODE", "SEED"))
    p.add_argument("--count", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ours", default=sys.executable)
    p.add_argument("--xdist", default="/work/venv-xdist/bin/python")
    args = p.parse_args()
    if args.run:
        impl, mode, seed = args.run
        first = int(seed)
        for s in range(first, first + args.count):
            print(json.dumps(run_one(impl, mode, s)))
        return 0
    total_bad = 0
    for mode in ("load", "each"):
        bad = 0
        outs = []
        for impl, py in (("ours", args.ours), ("xdist", args.xdist)):
            cmd = [py, __file__, "--run", impl, mode, str(args.seed)]
            cmd += ["--count", str(args.count)]
            outs.append(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines())
        ours, theirs = outs
        events = 0
        for k, (a, b) in enumerate(zip(ours, theirs)):
            ta, tb = json.loads(a), json.loads(b)
            events += len(tb)
            if ta != tb:
                bad += 1
                for i, (ea, eb) in enumerate(zip(ta, tb)):
                    if ea != eb:
                        print(f"{mode} seed {args.seed + k} differs at step {i}:")
                        print("  ours :", ea)
                        print("  xdist:", eb)
                        break
                else:
                    print(f"{mode} seed {args.seed + k}: lengths {len(ta)} != {len(tb)}")
        print(f"{mode}: {len(theirs)} scenarios, {events} trace entries, "
              f"{'identical' if not bad else str(bad) + ' differ'}")
        total_bad += bad
    return 1 if total_bad else 0


if __name__ == "__main__":
    sys.exit(main())
