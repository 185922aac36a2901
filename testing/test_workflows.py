"""The GitHub workflows agree with the package metadata and the README.

.github/workflows/tests.yml tests every Python that pyproject.toml claims
(requires-python, the "Programming Language :: Python :: 3.x" classifiers)
on Linux, macOS and Windows, with the README's test command;
.github/workflows/wheels.yml builds wheels for the same Pythons on every
platform we ship.  Changing one without the others fails here.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml  # the testing extra

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python < 3.11: pytest depends on tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
if not WORKFLOWS.is_dir():  # pragma: no cover - e.g. a copy of testing/ alone
    pytest.skip("no .github/workflows next to testing/", allow_module_level=True)

OSES = {"ubuntu-latest", "macos-latest", "windows-latest"}
# The wheels we ship: runner -> cibuildwheel architecture.
WHEEL_PLATFORMS = {
    ("ubuntu-latest", "x86_64"),  # manylinux + musllinux
    ("ubuntu-24.04-arm", "aarch64"),  # manylinux + musllinux
    ("macos-15-intel", "x86_64"),
    ("macos-14", "arm64"),
    ("windows-latest", "AMD64"),
}


def load(name: str) -> dict[Any, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    # YAML 1.1 reads the key ``on`` as True
    if True in data:
        data["on"] = data.pop(True)
    return data


def pyproject() -> dict[str, Any]:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def readme_test_command() -> str:
    """The command after ``&&`` on the README's line that installs
    ``.[testing]`` (``pytest testing -n 2``)."""
    lines = [
        line.strip()
        for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
        if '".[testing]"' in line and "&&" in line
    ]
    assert len(lines) == 1, lines
    command = lines[0].split("&&", 1)[1].strip()
    assert command.startswith("pytest "), command
    return command


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def step_runs(job: dict[str, Any]) -> list[str]:
    return [step["run"].strip() for step in job["steps"] if "run" in step]


def matrix_pythons() -> list[str]:
    matrix = load("tests.yml")["jobs"]["tests"]["strategy"]["matrix"]
    return [str(v) for v in matrix["python"]]


def test_matrix_is_three_oses_by_every_python() -> None:
    matrix = load("tests.yml")["jobs"]["tests"]["strategy"]["matrix"]
    assert set(matrix["os"]) == OSES and len(matrix["os"]) == 3
    # quoted in the YAML: 3.10 unquoted would be the number 3.1
    assert all(isinstance(v, str) for v in matrix["python"]), matrix["python"]
    assert matrix["python"] == ["3.9", "3.10", "3.11", "3.12", "3.13", "3.14"]
    assert "include" not in matrix and "exclude" not in matrix


def test_the_matrix_runs_the_readme_test_command() -> None:
    job = load("tests.yml")["jobs"]["tests"]
    runs = step_runs(job)
    assert readme_test_command() in runs, runs
    assert 'python -m pip install ".[testing]"' in runs, runs
    setup = [s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-python@")]
    assert setup and setup[0]["with"]["python-version"] == "${{ matrix.python }}"
    assert job["runs-on"] == "${{ matrix.os }}"


def test_requires_python_is_the_lowest_tested() -> None:
    spec = pyproject()["project"]["requires-python"]
    m = re.fullmatch(r">=\s*(\d+\.\d+)", spec)
    assert m, spec
    assert m.group(1) == min(matrix_pythons(), key=version_key)


def test_classifiers_name_the_tested_pythons() -> None:
    classifiers = pyproject()["project"].get("classifiers", [])
    listed = [m.group(1) for c in classifiers if (m := re.fullmatch(r"Programming Language :: Python :: (3\.\d+)", c))]
    if not listed:
        pytest.skip("no per-version Python classifiers yet")
    assert sorted(listed, key=version_key) == sorted(matrix_pythons(), key=version_key)


def test_other_jobs() -> None:
    jobs = load("tests.yml")["jobs"]
    command = readme_test_command()
    deps = pyproject()["project"]["dependencies"]
    (pytest_floor,) = (re.fullmatch(r"pytest>=([\d.]+)", d).group(1) for d in deps if d.startswith("pytest>="))
    pinned = f"pytest=={pytest_floor}.0.0" if pytest_floor.count(".") == 0 else f"pytest=={pytest_floor}"
    assert any(pinned in run for run in step_runs(jobs["pytest-min"])), step_runs(jobs["pytest-min"])
    assert command in step_runs(jobs["pytest-min"])
    portable = jobs["portable"]
    assert portable["env"] == {"XDIST_C_FORKSERVER": "0", "XDIST_C_FIFO": "0"}
    assert command in step_runs(portable)
    assert any("portability_check.py" in run for run in step_runs(portable))
    assert "bash .ci/sanitize" in step_runs(jobs["sanitize"])
    assert "tox -e lint" in step_runs(jobs["lint"])
    assert "tox -e docs" in step_runs(jobs["docs"])
    plugins = step_runs(jobs["plugins"])
    assert "pytest testing/plugin_compat -n 2" in plugins
    assert any("XDIST_C_PLUGIN_PYTHON=" in run and "testing/plugin_compat/requirements.txt" in run for run in plugins)


def test_tox_portable_env() -> None:
    import configparser

    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini", encoding="utf-8")
    setenv = tox["testenv:portable"]["setenv"]
    assert "XDIST_C_FORKSERVER = 0" in setenv and "XDIST_C_FIFO = 0" in setenv
    assert "portable" in tox["tox"]["envlist"]


def test_wheels_cover_the_platforms_and_pythons() -> None:
    workflow = load("wheels.yml")
    on = workflow["on"]
    assert on["push"]["tags"] == ["v*"] and "workflow_dispatch" in on
    job = workflow["jobs"]["wheels"]
    built = {(entry["os"], entry["archs"]) for entry in job["strategy"]["matrix"]["include"]}
    assert built == WHEEL_PLATFORMS
    (cibw,) = [s for s in job["steps"] if s.get("uses", "").startswith("pypa/cibuildwheel@")]
    assert cibw["env"]["CIBW_ARCHS"] == "${{ matrix.archs }}"
    build = pyproject()["tool"]["cibuildwheel"]["build"].split()
    assert build == [f"cp{v.replace('.', '')}-*" for v in matrix_pythons()]
    assert pyproject()["tool"]["cibuildwheel"]["test-command"]


def test_publish_is_trusted_publishing_on_tags() -> None:
    jobs = load("wheels.yml")["jobs"]
    publish = jobs["publish"]
    assert set(publish["needs"]) == {"sdist", "wheels"}
    assert "refs/tags/v" in publish["if"]
    assert publish["permissions"] == {"id-token": "write"}
    env = publish["environment"]
    assert (env["name"] if isinstance(env, dict) else env) == "pypi"
    (step,) = [s for s in publish["steps"] if s.get("uses", "").startswith("pypa/gh-action-pypi-publish@")]
    assert "password" not in step.get("with", {})  # no token
    assert any("python -m build --sdist" in run for run in step_runs(jobs["sdist"]))


@pytest.mark.parametrize("name", ["tests.yml", "wheels.yml"])
def test_actions_are_pinned(name: str) -> None:
    """Every action at a release tag (vN, vN.N, vN.N.N) or a commit, never a
    branch."""
    for job_name, job in load(name)["jobs"].items():
        for step in job["steps"]:
            uses = step.get("uses")
            if uses is None:
                continue
            ref = uses.partition("@")[2]
            assert re.fullmatch(r"v\d+(\.\d+){0,2}|[0-9a-f]{40}", ref), f"{name}: {job_name}: {uses}"
