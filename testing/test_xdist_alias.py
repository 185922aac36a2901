"""The ``xdist`` package: pytest-xdist's import names, served by xdist_c."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import xdist
import xdist.dsession
import xdist.newhooks
import xdist.plugin
import xdist.remote
import xdist.report
import xdist.scheduler
import xdist.scheduler.each
import xdist.scheduler.load
import xdist.scheduler.loadfile
import xdist.scheduler.loadgroup
import xdist.scheduler.loadscope
import xdist.scheduler.protocol
import xdist.scheduler.worksteal
import xdist.workermanage
import xdist_c
import xdist_c.controller.dsession
import xdist_c.controller.report
import xdist_c.controller.scheduler
import xdist_c.controller.workermanage
import xdist_c.newhooks
import xdist_c.plugin
import xdist_c.scheduler


def test_modules_are_xdist_cs() -> None:
    assert xdist.plugin is xdist_c.plugin
    assert xdist.newhooks is xdist_c.newhooks
    assert xdist.dsession is xdist_c.controller.dsession
    assert xdist.workermanage is xdist_c.controller.workermanage
    assert xdist.report is xdist_c.controller.report
    assert xdist.is_xdist_worker is xdist_c.is_xdist_worker
    assert xdist.get_xdist_worker_id is xdist_c.get_xdist_worker_id
    assert xdist.__version__ == "3.8.0"  # the API it provides


@pytest.mark.parametrize(
    ("module", "name"),
    [
        (xdist.scheduler.each, "EachScheduling"),
        (xdist.scheduler.load, "LoadScheduling"),
        (xdist.scheduler.loadfile, "LoadFileScheduling"),
        (xdist.scheduler.loadgroup, "LoadGroupScheduling"),
        (xdist.scheduler.loadscope, "LoadScopeScheduling"),
        (xdist.scheduler.worksteal, "WorkStealingScheduling"),
        (xdist.scheduler.protocol, "Scheduling"),
    ],
)
def test_scheduler_modules(module: object, name: str) -> None:
    assert getattr(module, name) is getattr(xdist_c.controller.scheduler, name)
    assert getattr(xdist.scheduler, name) is getattr(xdist_c.controller.scheduler, name)
    # The path docs/usage.rst and docs/migrating.rst give for custom schedulers.
    assert getattr(xdist_c.scheduler, name) is getattr(xdist_c.controller.scheduler, name)


def test_pip_sees_no_pytest_xdist() -> None:
    """(In a subprocess: this test runs in an xdist-c worker, where the
    metadata is found by name, see the test below.)"""
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "list", "--format=freeze", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    names = {line.split("==")[0].lower() for line in listed.stdout.splitlines()}
    assert "xdist-c" in names or "xdist_c" in names, listed.stdout
    assert "pytest-xdist" not in names and "pytest_xdist" not in names


def test_code_written_for_pytest_xdist_runs(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import xdist
        from xdist.newhooks import pytest_handlecrashitem  # what rerunfailures checks
        from xdist.scheduler import LoadScheduling

        def pytest_xdist_make_scheduler(config, log):
            return LoadScheduling(config, log)

        def pytest_configure(config):
            config.xc_role = "worker" if hasattr(config, "workerinput") else "controller"
        """
    )
    pytester.makepyfile(
        """
        import xdist

        def test_api(request, worker_id):
            assert xdist.is_xdist_worker(request)
            assert not xdist.is_xdist_controller(request)
            assert xdist.get_xdist_worker_id(request) == worker_id
            assert request.config.xc_role == "worker"
        """
    )
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_p_xdist_plugin_without_entry_points(pytester: pytest.Pytester) -> None:
    """pytest-xdist's documented way to load it with plugin autoloading off."""
    pytester.makepyfile("def test_a(worker_id):\n    assert worker_id.startswith('gw')\n")
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "xdist.plugin", "-n", "2", "-p", "no:cacheprovider"],
        cwd=pytester.path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed in" in proc.stdout
    assert "warning" not in proc.stdout


def test_missing_c_extension_is_one_line(pytester: pytest.Pytester) -> None:
    """``python -m pytest`` inside a checkout imports its uncompiled
    ``xdist_c/`` first (with a regular install): the run stops with one line
    saying what to do, not a traceback.  (Simulated: ``_core`` blocked.)"""
    pytester.makepyfile("def test_a():\n    pass\n")
    script = (
        "import sys; sys.modules['xdist_c._core'] = None; import pytest; "
        "sys.exit(pytest.main(['-n', '2', '-p', 'no:cacheprovider']))"
    )
    result = pytester.run(sys.executable, "-c", script, timeout=120)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "xdist-c's C extension is not built in" in result.stderr.str()
    assert "pip install -e ." in result.stderr.str()
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_workers_find_pytest_xdist_metadata_by_name_only(pytester: pytest.Pytester) -> None:
    """pytest-rerunfailures reports a worker's reruns only when
    ``distribution("pytest-xdist")`` is found: inside workers it is (as
    xdist-c, version 3.8.0), by name only; the controller, pip and a
    subprocess started by a test still see xdist-c alone."""
    pytester.makeconftest(
        """
        from importlib import metadata

        def pytest_sessionfinish(session):
            if not hasattr(session.config, "workerinput"):
                try:
                    metadata.distribution("pytest-xdist")
                except metadata.PackageNotFoundError:
                    print("controller: not found")
        """
    )
    pytester.makepyfile(
        """
        from importlib import metadata
        import subprocess, sys

        def test_by_name():
            dist = metadata.distribution("pytest-xdist")
            assert dist.version == "3.8.0"
            assert metadata.version("Pytest_XDist") == "3.8.0"
            assert not dist.entry_points
            assert dist.files is None

        def test_not_enumerated():
            names = {d.metadata["Name"] for d in metadata.distributions()}
            assert "pytest-xdist" not in names
            assert "xdist-c" in names

        def test_subprocess_does_not_see_it():
            code = (
                "from importlib import metadata\\n"
                "try:\\n metadata.distribution('pytest-xdist')\\n"
                "except metadata.PackageNotFoundError:\\n print('absent')\\n"
            )
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
            assert out.stdout.strip() == "absent"
        """
    )
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider", "-s")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*controller: not found"])


def test_xdist_c_scheduler_is_the_documented_reexport() -> None:
    assert set(xdist_c.scheduler.__all__) == set(xdist_c.controller.scheduler.__all__)
    for name in xdist_c.scheduler.__all__:
        assert getattr(xdist_c.scheduler, name) is getattr(xdist_c.controller.scheduler, name)
