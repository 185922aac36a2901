"""Small suites at -n 2 against a serial run (issue 16's "small suites never lose").

Three suites: one trivial test, 500 and 5,000 trivial tests. In every
repetition, for each suite, the runs are interleaved: serial (``-p
no:xdist``), xdist-c ``-n 2``, xdist-c ``-n adaptive`` and, when its
interpreter exists, pytest-xdist ``-n 2``. The medians and their ratios to
serial are printed next to the targets (1.4x, 1.0x, 0.75x at -n 2).

    .venv/bin/python benchmarks/bench_small.py --reps 7
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bench_run  # noqa: E402
from bench_durations import wall  # noqa: E402

# (name, tests, tests per module, the -n 2 target as a ratio to serial)
SUITES = [("one", 1, 1, 1.4), ("trivial-500", 500, 100, 1.0), ("trivial-5000", 5000, 100, 0.75)]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--px-python", default=bench_run.venv_python("/work/venv-px"), help="pytest-xdist's python")
    p.add_argument("--work", default=os.path.join(bench_run.DEFAULT_WORK, "small"))
    p.add_argument("--suites", default=",".join(s[0] for s in SUITES))
    args = p.parse_args(argv)
    me = sys.executable
    chosen = [s for s in SUITES if s[0] in args.suites.split(",")]
    runs = [
        ("serial", me, ["-p", "no:xdist"]),
        ("xdist-c -n 2", me, ["-n", "2"]),
        ("-n adaptive", me, ["-n", "adaptive"]),
    ]
    if os.path.exists(args.px_python):
        runs.append(("pytest-xdist -n 2", args.px_python, ["-n", "2"]))
    paths = {}
    for name, tests, per_file, _ in chosen:
        suite = bench_run.Suite(name, "trivial", tests, dict(tests=tests, per_file=per_file))
        paths[name] = bench_run.ensure_suite(suite, args.work)
        for _, python, extra in runs:  # warm-up: bytecode, the cache adaptive reads
            wall(python, [*extra, "."], paths[name])
    times = {(s[0], r[0]): [] for s in chosen for r in runs}
    for _ in range(args.reps):
        for name, *_ in chosen:
            for label, python, extra in runs:
                times[(name, label)].append(wall(python, [*extra, "."], paths[name]))
    print("medians of %d interleaved runs, ratio to serial" % args.reps)
    print("%-13s %8s  %s" % ("suite", "target", "  ".join("%22s" % r[0] for r in runs)))
    for name, _, _, target in chosen:
        serial = statistics.median(times[(name, "serial")])
        cells = []
        for label, *_ in runs:
            m = statistics.median(times[(name, label)])
            cells.append("%22s" % ("%.3f s %.2fx" % (m, m / serial)))
        print("%-13s %7.2fx  %s" % (name, target, "  ".join(cells)))


if __name__ == "__main__":
    main()
