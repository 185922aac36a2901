"""Records pytest-xdist 3.8's results for the plugin cases into expected.json.

    python testing/plugin_compat/record.py [--python /work/venv-compat-px/bin/python] [CASE ...]

The interpreter must have pytest-xdist 3.8.0 and the versions pinned in
requirements.txt (and not xdist-c).  Every case is run twice; a case whose
two runs differ in anything compared is not recorded and the script exits 1.
With case names, only those are re-recorded and the rest is kept.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import compat_runner as runner  # noqa: E402

DEFAULT_PYTHON = "/work/venv-compat-px/bin/python"


def record_case(python: str, name: str, tmp: Path) -> tuple[str, Any, str | None]:
    reduced = []
    for attempt in range(2):
        result = runner.run_case(name, tmp / f"{name}-{attempt}", python)
        if result["exitcode"] == -999:
            return name, None, "timed out:\n" + result["output"]
        reduced.append(runner.reduce(result))
    if reduced[0] != reduced[1]:
        return name, None, "not deterministic:\n" + json.dumps(reduced, indent=1)
    return name, {"command": runner.command_line(name), "result": reduced[0]}, None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python", default=DEFAULT_PYTHON, help="interpreter with pytest-xdist (default %(default)s)")
    parser.add_argument("--jobs", type=int, default=1, help="cases run at once (default 1)")
    parser.add_argument("cases", nargs="*", help="cases to re-record (default: all)")
    opts = parser.parse_args()
    versions = runner.installed_versions(opts.python)
    if "pytest-xdist" not in versions or "xdist-c" in versions:
        print(f"{opts.python} must have pytest-xdist and not xdist-c", file=sys.stderr)
        return 2
    mismatched = runner.pin_mismatches(versions)
    if mismatched:
        print(f"{opts.python} does not have the pinned versions: {mismatched}", file=sys.stderr)
        return 2
    names = opts.cases or runner.case_names()
    expected = json.loads(runner.EXPECTED.read_text()) if runner.EXPECTED.exists() and opts.cases else {}
    expected.pop("_recorded_with", None)
    failures = 0
    with tempfile.TemporaryDirectory(prefix="plugin-compat-record-") as tmp, ThreadPoolExecutor(opts.jobs) as pool:
        jobs = [pool.submit(record_case, opts.python, name, Path(tmp)) for name in names]
        for job in jobs:
            name, entry, error = job.result()
            expected.pop(name, None)
            if error is None:
                expected[name] = entry
                print(f"recorded  {name}", flush=True)
            else:
                failures += 1
                print(f"REFUSED   {name}: {error}", flush=True)
    recorded_with = {k: versions[k] for k in ("pytest-xdist", *sorted(runner.pins()))}
    out: dict[str, Any] = {"_recorded_with": recorded_with}
    out.update(sorted(expected.items()))
    runner.EXPECTED.write_text(json.dumps(out, indent=1) + "\n")
    print(f"{len(expected)} cases in {runner.EXPECTED}; {failures} refused")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
