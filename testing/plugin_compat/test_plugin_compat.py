"""Third-party plugins must give under xdist-c what they give under pytest-xdist 3.8.

Each case under ``cases/`` is a small suite that uses one plugin (pytest-cov,
pytest-randomly, pytest-timeout, pytest-rerunfailures, ...);
``expected.json`` holds what pytest-xdist 3.8.0 gave for it with the versions
pinned in ``requirements.txt`` (recorded by ``record.py``).  Here every case
is run, in a subprocess with a clean environment and a fresh copy of the
case, by the interpreter named by ``XDIST_C_PLUGIN_PYTHON`` -- a virtual
environment with xdist-c and those pinned plugins -- and its reduced result
(see ``compat_runner.py``) must equal the recorded one.

Without ``XDIST_C_PLUGIN_PYTHON`` every test here is skipped: the plugins
are not test dependencies of xdist-c.  ``.ci/run`` makes the environment::

    python -m venv .ci-plugins-venv
    .ci-plugins-venv/bin/pip install . -r testing/plugin_compat/requirements.txt
    XDIST_C_PLUGIN_PYTHON=.ci-plugins-venv/bin/python pytest testing/plugin_compat -n 2
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Any

import compat_runner as runner
import pytest

PYTHON = os.environ.get("XDIST_C_PLUGIN_PYTHON", "")
EXPECTED = json.loads(runner.EXPECTED.read_text()) if runner.EXPECTED.exists() else {}

needs_python = pytest.mark.skipif(
    not PYTHON,
    reason="XDIST_C_PLUGIN_PYTHON is not set: it names a venv's python with xdist-c and "
    "testing/plugin_compat/requirements.txt installed",
)

pytestmark = needs_python

# Known differences from pytest-xdist 3.8: case -> reason (xfail, strict).
KNOWN_DIFFERENCES: dict[str, str] = {}


def _python() -> str:
    # A relative path (as .ci/run passes) is taken from the current directory.
    return str(Path(PYTHON).absolute()) if os.sep in PYTHON else PYTHON


def _params() -> list[Any]:
    params = []
    for name in runner.case_names():
        marks = []
        if name in KNOWN_DIFFERENCES:
            marks.append(pytest.mark.xfail(reason=KNOWN_DIFFERENCES[name], strict=True))
        params.append(pytest.param(name, id=name, marks=marks))
    return params


def _difference(expected: Any, got: Any) -> str:
    lines = [json.dumps(v, indent=1, sort_keys=True).splitlines() for v in (expected, got)]
    return "\n".join(difflib.unified_diff(*lines, "pytest-xdist 3.8", "xdist-c", lineterm="", n=2))


def test_plugin_python_has_xdist_c_and_the_pins() -> None:
    versions = runner.installed_versions(_python())
    assert "xdist-c" in versions, f"{PYTHON} has no xdist-c"
    assert "pytest-xdist" not in versions, f"{PYTHON} has pytest-xdist next to xdist-c"
    assert runner.pin_mismatches(versions) == {}, "not the versions of requirements.txt: re-install them"
    recorded = {k: v for k, v in EXPECTED["_recorded_with"].items() if k != "pytest-xdist"}
    assert recorded == runner.pins(), "expected.json was recorded with other versions: run record.py"


@pytest.mark.parametrize("name", _params())
def test_case_matches_pytest_xdist(name: str, tmp_path: Path) -> None:
    if name not in EXPECTED:
        pytest.fail(f"{name} has no recorded expectation: run testing/plugin_compat/record.py {name}")
    expected = EXPECTED[name]
    command = runner.command_line(name)
    if expected["command"] != command:
        pytest.fail(f"{name}'s command changed since it was recorded ({expected['command']!r}): re-record it")
    result = runner.run_case(name, tmp_path / name, _python())
    got = runner.reduce(result)
    fields = sorted(set(expected["result"]) | set(got))
    differs = [f for f in fields if expected["result"].get(f) != got.get(f)]
    if differs:
        report = [f"{name} ({command}): {', '.join(differs)} differ(s) from pytest-xdist 3.8"]
        report += [f"--- {f}:\n{_difference(expected['result'].get(f), got.get(f))}" for f in differs]
        pytest.fail("\n".join(report) + "\n----- output -----\n" + result["output"], pytrace=False)
