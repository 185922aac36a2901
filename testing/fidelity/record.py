"""Records pytest-xdist's results for the fidelity corpus into expected.json.

    python testing/fidelity/record.py [--python /work/venv-px/bin/python] [CASE ...]

Every (case, -n, --dist) variant is run twice under the given interpreter
(one with pytest-xdist installed, not xdist_c); a variant whose two runs
differ in anything compared, or that breaks one of its invariants, is not
recorded and the script exits 1.  With case names, only those are
re-recorded and the rest of expected.json is kept.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fidelity import runner  # noqa: E402

DEFAULT_PYTHON = "/work/venv-px/bin/python"


def record_variant(python: str, name: str, n: int, dist: str, tmp: Path) -> tuple[str, object, str | None]:
    reduced = []
    for attempt in range(2):
        workdir = tmp / f"{name}-{n}-{dist}-{attempt}"
        result = runner.run_case(name, n, dist, workdir, python=python)
        try:
            runner.check_invariants(name, dist, result)
        except AssertionError as exc:
            return runner.key(name, n, dist), None, f"invariant broken: {exc}\n" + result["outputs"][-1]
        reduced.append(runner.reduce(name, result))
    if reduced[0] != reduced[1]:
        diff = json.dumps(reduced, indent=1)
        return runner.key(name, n, dist), None, f"not deterministic:\n{diff}"
    return runner.key(name, n, dist), reduced[0], None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python", default=DEFAULT_PYTHON, help="interpreter with pytest-xdist (default %(default)s)")
    parser.add_argument("--jobs", type=int, default=1, help="variants run at once (default 1)")
    parser.add_argument("cases", nargs="*", help="cases to re-record (default: all)")
    opts = parser.parse_args()
    version = subprocess.run(
        [opts.python, "-c", "import xdist, pytest; print(xdist.__version__, pytest.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    names = opts.cases or runner.case_names()
    expected = json.loads(runner.EXPECTED.read_text()) if runner.EXPECTED.exists() and opts.cases else {}
    expected.pop("_recorded_with", None)
    for name in names:
        for k in [k for k in expected if k.split("|")[0] == name]:
            del expected[k]
    failures = 0
    with tempfile.TemporaryDirectory(prefix="fidelity-record-") as tmp, ThreadPoolExecutor(opts.jobs) as pool:
        jobs = [
            pool.submit(record_variant, opts.python, name, n, dist, Path(tmp))
            for name in names
            for n, dist in runner.variants(name)
        ]
        for job in jobs:
            k, reduced, error = job.result()
            if error is None:
                expected[k] = reduced
                print(f"recorded  {k}", flush=True)
            else:
                failures += 1
                print(f"REFUSED   {k}: {error}", flush=True)
    out = {"_recorded_with": {"pytest-xdist": version[0], "pytest": version[1]}}
    out.update(sorted(expected.items()))
    runner.EXPECTED.write_text(json.dumps(out, indent=1, sort_keys=False) + "\n")
    print(f"{len(expected)} variants in {runner.EXPECTED}; {failures} refused")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
