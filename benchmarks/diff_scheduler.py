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
`each`, where pytest-xdist raises KeyError).  For the loadscope family a
node is only removed when it has nothing left (a crash is handled
differently on purpose: see docs/differences.rst), mark_test_pending is not
called (pytest-xdist raises NotImplementedError) and nodeids are unique
(pytest-xdist runs duplicates once).  worksteal's steal requests are
answered by the simulated worker, all or nothing, after a random delay.
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


MODES = ("load", "each", "loadscope", "loadfile", "loadgroup", "worksteal")
SCOPE_MODES = ("loadscope", "loadfile", "loadgroup")


class Node:
    def __init__(self, gid: str, spec: str, log: list[Any]) -> None:
        self.gateway = Gateway(gid, spec)
        self.queue: list[int] = []
        self.log = log
        self._down = False
        self.ncoll = 0
        self.replacement = False
        self.steal: list[int] | None = None  # a steal not answered yet

    def send_steal(self, indices: Any) -> None:
        self.log.append([self.gateway.id, "steal", list(indices)])
        assert self.steal is None
        self.steal = list(indices)

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


class Option:
    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


class Config:
    def __init__(self, nnodes: int, chunk: int | None, log: list[Any], reorder: bool = True) -> None:
        self.values = {
            "tx": [f"{nnodes}*popen"],
            "maxschedchunk": chunk,
            "loadscopereorder": reorder,
        }
        self.option = Option(self.values)
        self.hook = Hook(log)

    def getvalue(self, name: str) -> Any:
        return self.values[name]

    def getoption(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)


def make(impl: str, mode: str, config: Config) -> Any:
    if impl == "xdist":
        from xdist import scheduler as mod  # type: ignore[import-not-found,unused-ignore]
        from xdist.remote import Producer  # type: ignore[import-not-found,unused-ignore]

        log: Any = Producer("sched", enabled=False)
    else:
        from xdist_c import scheduler as mod  # type: ignore[no-redef]

        log = None
    cls = {
        "load": mod.LoadScheduling,
        "each": mod.EachScheduling,
        "loadscope": mod.LoadScopeScheduling,
        "loadfile": mod.LoadFileScheduling,
        "loadgroup": mod.LoadGroupScheduling,
        "worksteal": mod.WorkStealingScheduling,
    }[mode]
    return cls(config, log)


def pending_of(impl: str, mode: str, sched: Any, node: Node) -> list[int]:
    if impl == "ours":
        return sched.node_pending(node)
    if mode in SCOPE_MODES:
        col = sched.collection or []
        return [col.index(nid) for unit in sched.assigned_work[node].values() for nid, done in unit.items() if not done]
    return list(sched.node2pending[node])


def pending_units(impl: str, sched: Any) -> list[list[int]]:
    if impl == "ours":
        return sched.pending_units
    col = sched.collection or []
    return [[col.index(nid) for nid, done in unit.items() if not done] for unit in sched.workqueue.values()]


def scoped_suite(rng: random.Random) -> list[str]:
    """Unique nodeids with modules, classes, parameters and groups."""
    ids: list[str] = []
    for f in range(rng.randint(1, 6)):
        path = rng.choice(["", "sub/", "sub/deep/"]) + f"test_f{f}.py"
        for item in range(rng.randint(0, 6)):
            cls = f"::TestC{item}" if rng.random() < 0.4 else ""
            for fn in range(rng.randint(1, 4) if cls else 1):
                base = f"{path}{cls}::test_{item}_{fn}"
                params = [""]
                if rng.random() < 0.4:
                    params = [f"[{p}]" for p in range(rng.randint(1, 5))]
                    if rng.random() < 0.2:
                        params.append("[a@b]")  # "@" inside the brackets
                group = ""
                if rng.random() < 0.4:
                    group = "@" + rng.choice(["g1", "g2", "db", "x_y"])
                ids.extend(base + p + group for p in params)
    return ids


def run_one(impl: str, mode: str, seed: int) -> list[Any]:
    rng = random.Random(seed)
    trace: list[Any] = []
    nnodes = rng.randint(1, 6)
    chunk = rng.choice([None, None, 1, 2, 3, 8])
    reorder = rng.random() < 0.7
    config = Config(nnodes, chunk, trace, reorder)
    sched = make(impl, mode, config)
    gid = iter(range(10**6))
    scoped = mode in SCOPE_MODES

    def new_node(spec: str) -> Node:
        return Node(f"gw{next(gid)}", spec, trace)

    if mode == "each":
        specs = [f"spec{i}" for i in range(nnodes)]
        cols = [[f"t.py::test_{i}" for i in range(rng.randint(0, 60))] for _ in range(nnodes)]
    else:
        if scoped:
            base = scoped_suite(rng)
        else:
            n = rng.choice([0, 1, 2, 3, 5, 7, 11, rng.randint(0, 300)])
            base = [f"t.py::test_{i}" for i in range(n)]
        specs = ["popen"] * nnodes
        cols = [list(base) for _ in range(nnodes)]
        if base and rng.random() < 0.05:  # a mismatch at start
            cols[rng.randrange(nnodes)] = base[::-1] if len(base) > 1 else []
    by_spec = dict(zip(specs, cols))
    nodes = [new_node(s) for s in specs]

    def snapshot(event: list[Any], result: Any = None) -> None:
        state: dict[str, Any] = {
            "finished": sched.tests_finished,
            "has_pending": sched.has_pending,
            "completed": sched.collection_is_completed,
            "nodes": [nd.gateway.id for nd in sched.nodes],
            "node_pending": [pending_of(impl, mode, sched, nd) for nd in sched.nodes],
        }
        if mode in ("load", "worksteal"):
            state["pending"] = list(sched.pending)
        if mode == "worksteal":
            victim = sched.steal_requested_from_node
            state["steal_from"] = victim and victim.gateway.id
        if scoped:
            state["units"] = pending_units(impl, sched)
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
        askers = [nd for nd in live if nd.steal is not None]
        if askers and rng.random() < 0.3:
            # the worker answers a steal: all it was asked for, or nothing
            nd = rng.choice(askers)
            wanted, nd.steal = nd.steal, None
            assert wanted is not None
            given: list[int] = []
            if all(i in nd.queue for i in wanted):
                given = [i for i in nd.queue if i in wanted]
                nd.queue = [i for i in nd.queue if i not in wanted]
            sched.remove_pending_tests_from_node(nd, given)
            snapshot(["unscheduled", nd.gateway.id, given])
            continue
        busy = [nd for nd in live if nd.queue]
        if not busy and not askers:
            break
        roll = rng.random()
        if scoped:
            # only a node with nothing left goes away (see the docstring)
            candidates = [nd for nd in live if not nd.queue and nd in sched.nodes]
        elif mode == "each":
            candidates = [nd for nd in busy if len(nd.queue) >= 2 and not nd.replacement]
        else:
            candidates = busy
        if crashes and candidates and roll < 0.02:
            crashes -= 1
            nd = rng.choice(candidates)
            result = sched.remove_node(nd)
            nd.steal = None  # a dead worker does not answer
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
        if not busy:
            continue
        nd = rng.choice(busy)
        if mode in ("load", "worksteal") and roll < 0.03 and sched.collection:
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
    p.add_argument("--modes", default=",".join(MODES))
    args = p.parse_args()
    if args.run:
        impl, mode, seed = args.run
        first = int(seed)
        for s in range(first, first + args.count):
            print(json.dumps(run_one(impl, mode, s)))
        return 0
    total_bad = 0
    for mode in args.modes.split(","):
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
        print(
            f"{mode}: {len(theirs)} scenarios, {events} trace entries, "
            f"{'identical' if not bad else str(bad) + ' differ'}"
        )
        total_bad += bad
    return 1 if total_bad else 0


if __name__ == "__main__":
    sys.exit(main())
