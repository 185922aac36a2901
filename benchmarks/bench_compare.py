#!/usr/bin/env python3
"""Two builds of xdist_c side by side, with serial pytest and pytest-xdist.

``bench_run.py`` compares the products; this script answers "did this
change make xdist_c slower?" in one run: every repetition runs serial
pytest, pytest-xdist, the baseline build and the candidate build one after
the other (rotating who goes first), so machine drift between two separate
runs does not show up as a change.  It prints the medians and the ratios
to pytest-xdist, to serial and candidate/baseline.

    # a baseline build in its own venv, e.g. of the commit before a change
    git worktree add /tmp/base <rev> && python -m venv /tmp/venv-base
    /tmp/venv-base/bin/pip install /tmp/base
    python benchmarks/bench_compare.py --baseline-python /tmp/venv-base/bin/python \\
        --candidate-python .venv/bin/python --xdist-python /path/to/venv-px/bin/python \\
        --suites trivial-20k,skewed-1k --reps 3

The suites are bench_run.py's (same names and sizes); ``skewed-1k`` runs at
``-n 4``, the others at ``-n`` (default 2).  Environments are not made here:
each interpreter must have what it runs installed (pytest-xdist 3.8 alone in
its own).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bench_run  # noqa: E402

BASELINE = "baseline"
CANDIDATE = "candidate"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--baseline-python", required=True, help="interpreter with the baseline xdist_c")
    p.add_argument("--candidate-python", required=True, help="interpreter with the candidate xdist_c")
    p.add_argument("--xdist-python", required=True, help="interpreter with pytest-xdist 3.8")
    p.add_argument("--suites", default="trivial-20k,skewed-1k")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("-n", type=int, default=2, help="workers for suites without a fixed -n")
    p.add_argument("--work-dir", default=bench_run.DEFAULT_WORK)
    p.add_argument("--timeout", type=float, default=600)
    args = p.parse_args(argv)

    table = {s.name: s for s in bench_run.suite_table(smoke=False)}
    names = [name.strip() for name in args.suites.split(",") if name.strip()]
    unknown = [name for name in names if name not in table]
    if unknown:
        p.error("unknown suite(s): %s (choose from %s)" % (", ".join(unknown), ", ".join(table)))
    suites_dir = os.path.join(args.work_dir, "suites", "full")
    logs_dir = os.path.join(args.work_dir, "logs", "compare")
    os.makedirs(suites_dir, exist_ok=True)
    os.makedirs(logs_dir, exist_ok=True)
    subreaper = bench_run.become_subreaper()
    products = [
        (bench_run.SERIAL, bench_run.SERIAL, args.candidate_python),
        (bench_run.PYTEST_XDIST, bench_run.PYTEST_XDIST, args.xdist_python),
        (BASELINE, bench_run.XDIST_C, args.baseline_python),
        (CANDIDATE, bench_run.XDIST_C, args.candidate_python),
    ]
    print(
        "| suite | -n | serial s | pytest-xdist s | baseline s | candidate s | "
        "baseline / p-x | candidate / p-x | baseline / serial | candidate / serial | "
        "candidate / baseline |"
    )
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    failed = False
    for name in names:
        suite = table[name]
        n = suite.ns[0] if suite.ns else args.n
        path = bench_run.ensure_suite(suite, suites_dir)
        for _, _, python in products:
            bench_run.warm_up(python, path, os.path.join(logs_dir, "warmup.log"))
        walls: dict[str, list[float]] = {label: [] for label, _, _ in products}
        for rep in range(args.reps):
            order = products[rep % len(products) :] + products[: rep % len(products)]
            for label, product, python in order:
                log = os.path.join(logs_dir, "%s-%s-%d.log" % (name, label, rep))
                rec = bench_run.measure(python, product, n, suite, path, log, args.timeout, subreaper)
                if rec["error"]:
                    print("%s %s rep %d: %s (see %s)" % (name, label, rep, rec["error"], log), file=sys.stderr)
                    failed = True
                    continue
                walls[label].append(rec["wall"])
                print("  %s %-12s rep %d  %.3f s" % (name, label, rep + 1, rec["wall"]), file=sys.stderr)
        med = {label: statistics.median(w) if w else float("nan") for label, w in walls.items()}
        s, x, b, c = med[bench_run.SERIAL], med[bench_run.PYTEST_XDIST], med[BASELINE], med[CANDIDATE]
        print(
            "| %s | %d | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f |"
            % (name, n, s, x, b, c, b / x, c / x, b / s, c / s, c / b)
        )
    print("\nmedians of %d repetitions, each running the four one after the other" % args.reps)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
