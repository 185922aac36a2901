"""Duration order (--schedule-by-duration) on the skewed suite: its slow
tests are clustered in one module, last in collection order.

For each -n: xdist-c twice on a fresh cache (the first run stores the
durations, the second is ordered by them), pytest-xdist (the venv of
bench_run.py, or --px-python), and a serial run; each wall time is printed
with its ratio to the bound max(longest test, serial / N).  For xdist-c
the test phase (``--run-report``: the first test's start to the last
test's end, what the order decides) is printed too, with its ratio to the
same bound; the rest of the wall time is start-up and exit.

    .venv/bin/python benchmarks/bench_durations.py -n 2,4
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bench_run  # noqa: E402


def wall(python, args, cwd):
    return run(python, args, cwd)[0]


def run(python, args, cwd):
    """(wall seconds, the test phase --run-report gave or None)."""
    env = bench_run.run_env()
    t0 = time.perf_counter()
    proc = subprocess.run([python, "-m", "pytest", "-q", *args], cwd=cwd, env=env, capture_output=True, text=True)
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit("failed: %s\n%s" % (" ".join(args), proc.stdout[-2000:] + proc.stderr[-2000:]))
    phase = re.search(r" in ([0-9.]+)s \(first test's start to last test's end\)", proc.stdout)
    return took, float(phase.group(1)) if phase else None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", default="2,4", help="worker counts (default 2,4)")
    p.add_argument("--suite", default="skewed", help="a skewed suite of bench_run.py (default skewed)")
    p.add_argument("--px-python", default=bench_run.venv_python("/work/venv-px"), help="pytest-xdist's python")
    p.add_argument("--work", default=os.path.join(bench_run.DEFAULT_WORK, "durations"))
    args = p.parse_args(argv)
    suite = {s.name: s for s in bench_run.suite_table(False)}[args.suite]
    os.makedirs(args.work, exist_ok=True)
    path = bench_run.ensure_suite(suite, args.work)
    me = sys.executable
    longest = max(suite.params["slow"])
    cache = os.path.join(path, ".pytest_cache")
    serial = wall(me, ["-p", "no:cacheprovider", "-p", "no:xdist", "."], path)
    print("suite %s (%d tests), longest test %.2f s, serial %.2f s" % (suite.name, suite.tests, longest, serial))
    print("wall time (ratio to the bound); for xdist-c also [its test phase (ratio)]")
    print("%3s  %9s  %-30s  %-30s  %s" % ("-n", "bound", "xdist-c 1st run", "xdist-c 2nd run", "pytest-xdist"))
    for n in [int(x) for x in args.n.split(",")]:
        bound = max(longest, serial / n)
        shutil.rmtree(cache, ignore_errors=True)
        cells = []
        for _ in range(2):
            took, phase = run(me, ["-n", str(n), "--run-report", "."], path)
            cells.append("%5.2f s %.2fx [%5.2f s %.2fx]" % (took, took / bound, phase or 0.0, (phase or 0.0) / bound))
        px = wall(args.px_python, ["-p", "no:cacheprovider", "-n", str(n), "."], path)
        print("%3d  %7.2f s  %-30s  %-30s  %5.2f s %.2fx" % (n, bound, cells[0], cells[1], px, px / bound))


if __name__ == "__main__":
    main()
