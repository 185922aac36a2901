"""The sdist holds what it takes to build, test and read about xdist-c
(MANIFEST.in); its tests pass from the unpacked sdist (checked by hand and
in CI's history: ``pip install '<sdist>[testing]' && pytest testing -n 2``)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sdist_names(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    pytest.importorskip("build")
    out = tmp_path_factory.mktemp("sdist")
    # From a copy: setuptools writes egg-info into the tree it builds, and
    # another worker may be building the same checkout.
    src = tmp_path_factory.mktemp("src") / "xdist-c"
    shutil.copytree(
        ROOT,
        src,
        ignore=shutil.ignore_patterns(
            ".git",
            ".venv*",
            ".ci-venv",
            ".tox",
            "build",
            "dist",
            "_work",
            "__pycache__",
            "*.so",
            "*.o",
            "*.egg-info",
            ".hypothesis",
            ".pytest_cache",
        ),
    )
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--outdir", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (archive,) = out.glob("xdist_c-*.tar.gz")
    with tarfile.open(archive) as tar:
        return {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}


@pytest.mark.parametrize(
    "name",
    [
        "LICENSE",
        "README.md",
        "CHANGELOG.rst",
        "tox.ini",
        "pyproject.toml",
        "setup.py",
        "csrc/module.c",
        "csrc/xdist_core.h",
        "docs/how-it-works.rst",
        "docs/differences.rst",
        "docs/conf.py",
        "docs/requirements.txt",
        ".readthedocs.yaml",
        ".clang-format",
        ".pre-commit-config.yaml",
        "fuzz/fuzz_decode.c",
        "testing/conftest.py",
        "testing/plugin_compat/requirements.txt",
        "testing/plugin_compat/expected.json",
        "testing/test_split.py",
        "testing/sched_doubles.py",
        "testing/test_fidelity.py",
        "testing/fidelity/expected.json",
        "testing/fidelity/cases/session_param_reorder/case.json",
        "examples/suite/test_example.py",
        "xdist_c/plugin.py",
        "xdist_c/controller/dsession.py",
        "xdist_c/worker/__init__.py",
        "xdist_c/launch/remote.py",
        "xdist_c/speedups/split.py",
        "xdist_c/_compat/__init__.py",
        "xdist_c/_compat/pytest.py",
        "xdist_c/_compat/pluggy.py",
        "xdist_c/_compat/execnet.py",
        "xdist/__init__.py",
        "xdist/scheduler/__init__.py",
    ],
)
def test_sdist_holds(sdist_names: set[str], name: str) -> None:
    assert name in sdist_names


def test_sdist_holds_no_build_output(sdist_names: set[str]) -> None:
    leftovers = [n for n in sdist_names if n.endswith((".so", ".o", ".pyc")) or "__pycache__" in n]
    assert leftovers == []
    assert not [n for n in sdist_names if n.startswith("benchmarks/_work")]


def test_every_package_is_in_the_wheel() -> None:
    """setuptools puts in the wheel the packages pyproject.toml lists: a
    folder left out (a new role folder of xdist_c/) would ship without its
    modules, while the tests, run from the checkout, still pass."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    listed = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"]
    found = [
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("xdist_c", "xdist")
        for init in (ROOT / top).rglob("__init__.py")
    ]
    assert sorted(listed) == sorted(found)
