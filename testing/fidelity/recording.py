"""What the two recorders of expected results share: ``fidelity/record.py``
(the fidelity corpus) and ``plugin_compat/record.py`` (the plugin cases).

Each runs every variant twice under pytest-xdist and records it only when
both runs agree (:func:`run_twice`); the variants run a few at a time
(:func:`record`), and ``expected.json`` is read and written the same way
(:func:`load_expected`, :func:`write_expected`).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from typing import Callable

# (key, entry to record or None, why it was refused or None)
Recorded = tuple[str, Any, "str | None"]


def parse_args(doc: str | None, default_python: str, unit: str) -> argparse.Namespace:
    """The recorders' command line: --python, --jobs and the cases to re-record."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python", default=default_python, help="interpreter with pytest-xdist (default %(default)s)")
    parser.add_argument("--jobs", type=int, default=1, help=f"{unit} run at once (default 1)")
    parser.add_argument("cases", nargs="*", help="cases to re-record (default: all)")
    return parser.parse_args()


def run_twice(run: Callable[[int], tuple[Any, str | None]]) -> tuple[Any, str | None]:
    """Calls ``run(0)`` and ``run(1)``, each giving ``(reduced result, None)``
    or ``(None, why it cannot be recorded)``: ``(result, None)`` when both
    runs gave the same result, else ``(None, why)``."""
    reduced = []
    for attempt in range(2):
        result, error = run(attempt)
        if error is not None:
            return None, error
        reduced.append(result)
    if reduced[0] != reduced[1]:
        return None, "not deterministic:\n" + json.dumps(reduced, indent=1)
    return reduced[0], None


def load_expected(path: Path, keep: bool) -> dict[str, Any]:
    """The recorded entries of ``path`` when ``keep`` (only some cases are
    re-recorded) and it exists, else none."""
    expected: dict[str, Any] = json.loads(path.read_text()) if keep and path.exists() else {}
    expected.pop("_recorded_with", None)
    return expected


def record(expected: dict[str, Any], tasks: list[Callable[[Path], Recorded]], jobs: int, prefix: str) -> int:
    """Runs ``tasks`` (each given a scratch directory), ``jobs`` at a time,
    and puts each entry recorded into ``expected`` (a refused key leaves
    it); prints a line per key, in the tasks' order.  Returns how many were
    refused."""
    failures = 0
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp, ThreadPoolExecutor(jobs) as pool:
        futures = [pool.submit(task, Path(tmp)) for task in tasks]
        for future in futures:
            key, entry, error = future.result()
            expected.pop(key, None)
            if error is None:
                expected[key] = entry
                print(f"recorded  {key}", flush=True)
            else:
                failures += 1
                print(f"REFUSED   {key}: {error}", flush=True)
    return failures


def write_expected(
    path: Path, recorded_with: dict[str, str], expected: dict[str, Any], unit: str, failures: int
) -> int:
    """Writes ``expected`` (sorted, after ``_recorded_with``) to ``path``
    and says how many; the exit status: 1 if any was refused."""
    out: dict[str, Any] = {"_recorded_with": recorded_with}
    out.update(sorted(expected.items()))
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"{len(expected)} {unit} in {path}; {failures} refused")
    return 1 if failures else 0
