"""Records pytest-xdist's results for the fidelity corpus into expected.json.

    python testing/fidelity/record.py [--python /work/venv-px/bin/python] [CASE ...]

Every (case, -n, --dist) variant is run twice under the given interpreter
(one with pytest-xdist installed, not xdist_c); a variant whose two runs
differ in anything compared, or that breaks one of its invariants, is not
recorded and the script exits 1.  With case names, only those are
re-recorded and the rest of expected.json is kept.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fidelity import recording  # noqa: E402
from fidelity import runner  # noqa: E402

DEFAULT_PYTHON = "/work/venv-px/bin/python"


def record_variant(python: str, name: str, n: int, dist: str, tmp: Path) -> recording.Recorded:
    def run(attempt: int) -> tuple[object, str | None]:
        workdir = tmp / f"{name}-{n}-{dist}-{attempt}"
        result = runner.run_case(name, n, dist, workdir, python=python)
        try:
            runner.check_invariants(name, dist, result)
        except AssertionError as exc:
            return None, f"invariant broken: {exc}\n" + result["outputs"][-1]
        return runner.reduce(name, result), None

    return (runner.key(name, n, dist), *recording.run_twice(run))


def main() -> int:
    opts = recording.parse_args(__doc__, DEFAULT_PYTHON, "variants")
    version = subprocess.run(
        [opts.python, "-c", "import xdist, pytest; print(xdist.__version__, pytest.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    names = opts.cases or runner.case_names()
    expected = recording.load_expected(runner.EXPECTED, keep=bool(opts.cases))
    for name in names:
        for k in [k for k in expected if k.split("|")[0] == name]:
            del expected[k]
    tasks = [
        functools.partial(record_variant, opts.python, name, n, dist)
        for name in names
        for n, dist in runner.variants(name)
    ]
    failures = recording.record(expected, tasks, opts.jobs, "fidelity-record-")
    recorded_with = {"pytest-xdist": version[0], "pytest": version[1]}
    return recording.write_expected(runner.EXPECTED, recorded_with, expected, "variants", failures)


if __name__ == "__main__":
    sys.exit(main())
