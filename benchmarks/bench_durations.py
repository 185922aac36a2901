"""Duration order (--schedule-by-duration) on the skewed suite: its slow
tests are clustered in one module, last in collection order.

For each -n: xdist-c twice on a fresh cache (the first run stores the
durations, the second is ordered by them), pytest-xdist (the venv of
bench_run.py, or --px-python), and a serial run; each wall time is printed
with its ratio to the bound max(longest test, serial / N).

    .venv/bin/python benchmarks/bench_durations.py -n 2,4
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bench_run  # noqa: E402


def wall(python, args, cwd):
    env = bench_run.run_env()
    t0 = time.perf_counter()
    proc = subprocess.run([python, "-m", "pytest", "-q", *args], cwd=cwd, env=env, capture_output=True, text=True)
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit("failed: %s\n%s" % (" ".join(args), proc.stdout[-2000:]))
    return took


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
    print("%3s  %9s  %9s  %9s  %9s" % ("-n", "bound", "xdist-c 1", "xdist-c 2", "pytest-xdist"))
    for n in [int(x) for x in args.n.split(",")]:
        bound = max(longest, serial / n)
        shutil.rmtree(cache, ignore_errors=True)
        first = wall(me, ["-n", str(n), "."], path)
        second = wall(me, ["-n", str(n), "."], path)
        px = wall(args.px_python, ["-p", "no:cacheprovider", "-n", str(n), "."], path)
        print(
            "%3d  %7.2f s  %5.2f s %.2fx  %5.2f s %.2fx  %5.2f s %.2fx"
            % (n, bound, first, first / bound, second, second / bound, px, px / bound)
        )


if __name__ == "__main__":
    main()
