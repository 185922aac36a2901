"""The fidelity corpus: default runs must give what pytest-xdist 3.8 gives.

Each case under ``fidelity/cases/`` is a small suite; ``fidelity/expected.json``
holds what pytest-xdist 3.8 gave for it (recorded by ``fidelity/record.py``).
Here every (case, -n, --dist) variant is run in a subprocess with this
interpreter -- xdist_c, with its defaults: no ``--split-collection``, no
``XDIST_C_FORKSERVER`` -- and the compared parts of its result must be equal:
exit code, summary counts, each test's outcome, the collection the workers
announced, the lines the suite's workers wrote, and chosen output lines.

Knobs (for experiments, never for the default run):
``XDIST_C_FIDELITY_EXTRA_ARGS`` -- arguments added to every run (shell syntax);
``XDIST_C_FIDELITY_EXTRA_ENV`` -- ``NAME=value`` pairs set for every run;
``XDIST_C_FIDELITY_ALL=1`` -- also the variants of cases marked slow.
"""

from __future__ import annotations

import difflib
import json
import os
import shlex
from typing import Any

import pytest

from fidelity import runner

EXTRA_ARGS = shlex.split(os.environ.get("XDIST_C_FIDELITY_EXTRA_ARGS", ""))
EXTRA_ENV = dict(item.split("=", 1) for item in shlex.split(os.environ.get("XDIST_C_FIDELITY_EXTRA_ENV", "")))
RUN_ALL = os.environ.get("XDIST_C_FIDELITY_ALL") == "1"


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:2])


PYTEST_VERSION = _version(pytest.__version__)


def _expected() -> dict[str, Any]:
    if not runner.EXPECTED.exists():
        return {}
    return json.loads(runner.EXPECTED.read_text())


EXPECTED = _expected()


def _params() -> list[Any]:
    params = []
    for name in runner.case_names():
        spec = runner.load_case(name)
        slow = spec["slow"]
        min_pytest = spec["min_pytest"]
        for n, dist in runner.variants(name):
            marks = []
            if slow and n > 2 and not RUN_ALL:
                marks.append(pytest.mark.skip(reason="slow variant: XDIST_C_FIDELITY_ALL=1 runs it"))
            if PYTEST_VERSION < (8, 0):
                marks.append(pytest.mark.skip(reason="expectations recorded with pytest 9.2; pytest 7 reports differ"))
            elif min_pytest and _version(min_pytest) > PYTEST_VERSION:
                marks.append(pytest.mark.skip(reason=f"recorded behaviour needs pytest >= {min_pytest}"))
            params.append(pytest.param(name, n, dist, id=f"{name}-n{n}-{dist}", marks=marks))
    return params


def _difference(expected: Any, got: Any) -> str:
    """A unified diff of the two values, one JSON leaf per line."""
    lines = [json.dumps(v, indent=1, sort_keys=True).splitlines() for v in (expected, got)]
    diff = difflib.unified_diff(*lines, "pytest-xdist", "xdist_c", lineterm="", n=2)
    return "\n".join(diff)


def _explain(result: dict[str, Any]) -> str:
    return "\n".join(f"----- output of run {i + 1} -----\n{out}" for i, out in enumerate(result["outputs"]))


@pytest.mark.parametrize(("name", "n", "dist"), _params())
def test_case_matches_pytest_xdist(name: str, n: int, dist: str, tmp_path: Any) -> None:
    key = runner.key(name, n, dist)
    if key not in EXPECTED:
        pytest.fail(f"{key} has no recorded expectation: run testing/fidelity/record.py {name}")
    result = runner.run_case(name, n, dist, tmp_path / "case", extra_args=EXTRA_ARGS, extra_env=EXTRA_ENV)
    got = runner.reduce(name, result)
    expected = EXPECTED[key]
    differs = [field for field in expected if got[field] != expected[field]]
    if differs:
        report = [f"{key}: {', '.join(differs)} differ(s) from pytest-xdist 3.8"]
        report += [f"--- {field}:\n{_difference(expected[field], got[field])}" for field in differs]
        pytest.fail("\n".join(report) + "\n" + _explain(result), pytrace=False)
    runner.check_invariants(name, dist, result)
