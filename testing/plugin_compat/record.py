"""Records pytest-xdist 3.8's results for the plugin cases into expected.json.

    python testing/plugin_compat/record.py [--python /work/venv-compat-px/bin/python] [CASE ...]

The interpreter must have pytest-xdist 3.8.0 and the versions pinned in
requirements.txt (and not xdist-c).  Every case is run twice; a case whose
two runs differ in anything compared is not recorded and the script exits 1.
With case names, only those are re-recorded and the rest is kept.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import compat_runner as runner  # noqa: E402

from fidelity import recording  # noqa: E402

DEFAULT_PYTHON = "/work/venv-compat-px/bin/python"


def record_case(python: str, name: str, tmp: Path) -> recording.Recorded:
    def run(attempt: int) -> tuple[object, str | None]:
        result = runner.run_case(name, tmp / f"{name}-{attempt}", python)
        if result["exitcode"] == -999:
            return None, "timed out:\n" + result["output"]
        return runner.reduce(result), None

    reduced, error = recording.run_twice(run)
    if error is not None:
        return name, None, error
    return name, {"command": runner.command_line(name), "result": reduced}, None


def main() -> int:
    opts = recording.parse_args(__doc__, DEFAULT_PYTHON, "cases")
    versions = runner.installed_versions(opts.python)
    if "pytest-xdist" not in versions or "xdist-c" in versions:
        print(f"{opts.python} must have pytest-xdist and not xdist-c", file=sys.stderr)
        return 2
    mismatched = runner.pin_mismatches(versions)
    if mismatched:
        print(f"{opts.python} does not have the pinned versions: {mismatched}", file=sys.stderr)
        return 2
    names = opts.cases or runner.case_names()
    expected = recording.load_expected(runner.EXPECTED, keep=bool(opts.cases))
    tasks = [functools.partial(record_case, opts.python, name) for name in names]
    failures = recording.record(expected, tasks, opts.jobs, "plugin-compat-record-")
    recorded_with = {k: versions[k] for k in ("pytest-xdist", *sorted(runner.pins()))}
    return recording.write_expected(runner.EXPECTED, recorded_with, expected, "cases", failures)


if __name__ == "__main__":
    sys.exit(main())
