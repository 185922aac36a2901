"""Local workers forked from the fork server (xdist_c/forkserver.py).

Each run here is a real controller in a subprocess.  A test in the workers
records what its process looks like (``facts-<worker>.json``): its parent,
``sys.argv``, ``__main__``, its environment, umask, open descriptors, flags.
The controller's conftest records the controller's pid.  With the server on,
the workers' parent is the server, itself a child of the controller; with
``XDIST_C_FORKSERVER=0``, or wherever a fork would not give what a spawn
gives, the workers' parent is the controller.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest

from xdist_c import forkserver

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not hasattr(os, "pidfd_open"),
    reason="the fork server needs Linux with pidfd_open",
)
RUN_TIMEOUT = 90

CONFTEST = """
import os
import json

if not os.environ.get("PYTEST_XDIST_WORKER"):
    with open("controller.json", "w") as f:
        json.dump({"pid": os.getpid()}, f)
    # After the server forked: the workers must still see these.
    os.environ["XC_SET_BY_CONFTEST"] = "late"
    os.umask(0o027)
"""

FACTS_TEST = """
import json
import os
import sys

def _parent_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])

def _inodes():
    for fd in os.listdir("/proc/self/fd"):
        try:
            yield os.fstat(int(fd)).st_ino
        except OSError:
            pass

def test_facts(worker_id):
    umask = os.umask(0)
    os.umask(umask)
    facts = {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "grandparent": _parent_of(os.getppid()),
        "argv": sys.argv,
        "main": sorted(vars(sys.modules["__main__"])),
        "late": os.environ.get("XC_SET_BY_CONFTEST"),
        "umask": umask,
        "fds": sorted(int(fd) for fd in os.listdir("/proc/self/fd")),
        "inodes": sorted(_inodes()),
        "optimize": sys.flags.optimize,
        "dont_write_bytecode": sys.dont_write_bytecode,
        "stdout_write_through": sys.__stdout__.write_through,
    }
    with open(f"facts-{worker_id}.json", "w") as f:
        json.dump(facts, f)
"""


def _child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without the outer run's worker variables or a
    PYTHONDONTWRITEBYTECODE of the developer's shell, plus ``extra``."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    return {**env, **(extra or {})}


def _run(
    pytester: pytest.Pytester, *args: str, env: dict[str, str] | None = None, **kw: Any
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=pytester.path,
        env=_child_env(env),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        **kw,
    )


def _facts(pytester: pytest.Pytester) -> tuple[int, dict[str, dict[str, Any]]]:
    controller = json.loads((pytester.path / "controller.json").read_text())["pid"]
    facts = {p.stem[len("facts-") :]: json.loads(p.read_text()) for p in pytester.path.glob("facts-*.json")}
    return controller, facts


@pytest.fixture
def facts_suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_facts=FACTS_TEST)
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    return pytester


def _pytest_args(*extra: str) -> list[str]:
    # --dist each: every worker runs test_facts.
    return ["-m", "pytest", "-n", "2", "--dist", "each", *extra]


def test_workers_are_forked_from_the_server(facts_suite: pytest.Pytester) -> None:
    result = _run(facts_suite, *_pytest_args())
    assert result.returncode == 0, result.stdout + result.stderr
    controller, facts = _facts(facts_suite)
    assert sorted(facts) == ["gw0", "gw1"]
    servers = {f["ppid"] for f in facts.values()}
    assert len(servers) == 1 and controller not in servers
    assert {f["grandparent"] for f in facts.values()} == {controller}
    for f in facts.values():
        # What a spawned ``python -u -c <bootstrap>`` has.
        assert f["argv"] == ["-c"]
        assert "pytest" not in " ".join(f["main"])
        assert f["stdout_write_through"] is True
        # Set by the controller's conftest, after the server forked.
        assert f["late"] == "late"
        assert f["umask"] == 0o027
    # The server is gone once the run is over.
    (server,) = servers
    with pytest.raises(ProcessLookupError):
        os.kill(server, 0)


@pytest.mark.parametrize(("spec", "expected"), [("popen", False), ("popen//dont_write_bytecode", True)])
def test_dont_write_bytecode_as_spawned(facts_suite: pytest.Pytester, spec: str, expected: bool) -> None:
    """``//dont_write_bytecode`` starts a worker with ``-B``; a forked one
    gets the same setting."""
    result = _run(facts_suite, "-m", "pytest", "--dist", "each", "--tx", f"2*{spec}")
    assert result.returncode == 0, result.stdout + result.stderr
    controller, facts = _facts(facts_suite)
    assert sorted(facts) == ["gw0", "gw1"]
    assert controller not in {f["ppid"] for f in facts.values()}
    assert {f["dont_write_bytecode"] for f in facts.values()} == {expected}


def test_switched_off_workers_are_spawned(facts_suite: pytest.Pytester) -> None:
    result = _run(facts_suite, *_pytest_args(), env={"XDIST_C_FORKSERVER": "0"})
    assert result.returncode == 0, result.stdout + result.stderr
    controller, facts = _facts(facts_suite)
    assert sorted(facts) == ["gw0", "gw1"]
    assert {f["ppid"] for f in facts.values()} == {controller}
    assert all(f["late"] == "late" and f["umask"] == 0o027 for f in facts.values())


def test_a_changed_python_variable_means_a_spawn(facts_suite: pytest.Pytester) -> None:
    facts_suite.makeconftest(CONFTEST + '\nos.environ.setdefault("PYTHONXCFORKTEST", "1")\n')
    result = _run(facts_suite, *_pytest_args())
    assert result.returncode == 0, result.stdout + result.stderr
    controller, facts = _facts(facts_suite)
    assert {f["ppid"] for f in facts.values()} == {controller}


def test_a_stuck_server_is_killed_and_workers_spawned(facts_suite: pytest.Pytester) -> None:
    facts_suite.makeconftest(
        CONFTEST
        + """
import signal

def pytest_configure(config):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    from xdist_c import forkserver

    server = forkserver.get(config)
    with open("server.json", "w") as f:
        json.dump({"pid": server.pid}, f)
    forkserver._REPLY_TIMEOUT = 1.0
    os.kill(server.pid, signal.SIGSTOP)
"""
    )
    start = time.monotonic()
    result = _run(facts_suite, *_pytest_args())
    assert result.returncode == 0, result.stdout + result.stderr
    assert time.monotonic() - start < RUN_TIMEOUT / 2
    controller, facts = _facts(facts_suite)
    assert sorted(facts) == ["gw0", "gw1"]
    assert {f["ppid"] for f in facts.values()} == {controller}
    server = json.loads((facts_suite.path / "server.json").read_text())["pid"]
    with pytest.raises(ProcessLookupError):
        os.kill(server, 0)


def test_command_line_flags_mean_a_spawn(facts_suite: pytest.Pytester) -> None:
    # pytest-xdist's workers do not get the controller's -O; forks would.
    result = _run(facts_suite, "-O", *_pytest_args())
    assert result.returncode == 0, result.stdout + result.stderr
    controller, facts = _facts(facts_suite)
    assert {f["ppid"] for f in facts.values()} == {controller}
    assert {f["optimize"] for f in facts.values()} == {0}


def test_inherited_descriptors_are_not_passed_on(facts_suite: pytest.Pytester) -> None:
    read_end, write_end = os.pipe()
    # A number no worker would use by itself (and that is free here).
    high = fcntl.fcntl(write_end, fcntl.F_DUPFD, 90)
    try:
        result = _run(facts_suite, *_pytest_args(), pass_fds=(high,))
    finally:
        for fd in (high, read_end, write_end):
            os.close(fd)
    assert result.returncode == 0, result.stdout + result.stderr
    controller, facts = _facts(facts_suite)
    assert controller not in {f["ppid"] for f in facts.values()}
    assert all(high not in f["fds"] for f in facts.values())


def test_controller_sockets_are_not_held_by_workers(facts_suite: pytest.Pytester) -> None:
    """A socket a plugin opened in the controller before the server forked
    (its module is not imported again in a forked worker) is not open in
    the workers: a spawned worker would not have it either."""
    facts_suite.makepyfile(
        holdsock="""
        import json
        import os
        import socket

        if not os.environ.get("PYTEST_XDIST_WORKER"):
            PAIR = socket.socketpair()
            with open("controller-sockets.json", "w") as f:
                json.dump([os.fstat(s.fileno()).st_ino for s in PAIR], f)
        """
    )
    result = _run(facts_suite, *_pytest_args("-p", "holdsock"))
    assert result.returncode == 0, result.stdout + result.stderr
    controller, facts = _facts(facts_suite)
    assert controller not in {f["ppid"] for f in facts.values()}
    sockets = set(json.loads((facts_suite.path / "controller-sockets.json").read_text()))
    assert len(sockets) == 2
    for f in facts.values():
        assert not sockets & set(f["inodes"])


@pytest.mark.parametrize("switch", ["1", "0"])
def test_exit_statuses_reach_the_crash_report(pytester: pytest.Pytester, switch: str) -> None:
    pytester.makepyfile(
        test_crash="""
        import ctypes
        import os

        def test_segv(worker_id):
            if worker_id == "gw0":
                ctypes.string_at(0)

        def test_exit(worker_id):
            if worker_id == "gw1":
                os._exit(3)
        """
    )
    result = _run(
        pytester,
        "-m",
        "pytest",
        "-n",
        "2",
        "--dist",
        "each",
        "-p",
        "no:cacheprovider",
        env={"XDIST_C_FORKSERVER": switch},
    )
    assert result.returncode == 1
    out = result.stdout
    assert "worker 'gw0' crashed while running 'test_crash.py::test_segv' (killed by signal SIGSEGV)" in out
    assert "worker 'gw1' crashed while running 'test_crash.py::test_exit' (exit code 3)" in out


def test_server_killed_mid_run_loses_nothing(pytester: pytest.Pytester) -> None:
    after = "".join(f"\ndef test_after_{i}():\n    pass\n" for i in range(20))
    pytester.makepyfile(
        test_kill=textwrap.dedent(
            """
            import os
            import signal

            def test_kill_server():
                os.kill(os.getppid(), signal.SIGKILL)
            """
        )
        + after
    )
    result = _run(pytester, "-m", "pytest", "-n", "2", "-p", "no:cacheprovider", "-v")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "21 passed" in result.stdout
    passed = [line for line in result.stdout.splitlines() if " PASSED " in line]
    assert len(passed) == 21 == len({line.split(" PASSED ")[1].strip() for line in passed})


def test_sigint_reaches_forked_workers(pytester: pytest.Pytester) -> None:
    """Ctrl-C (SIGINT to the process group) interrupts forked workers
    like spawned ones: the run stops, reports the interruption, leaves
    nothing running."""
    pytester.makepyfile(
        test_slow="""
        import os, time

        def test_slow(worker_id):
            with open(f"started-{worker_id}", "w") as f:
                f.write(str(os.getpid()))
            time.sleep(60)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "each", "-p", "no:cacheprovider"],
        cwd=pytester.path,
        env=_child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = 60.0
        start = time.monotonic()
        while len(list(pytester.path.glob("started-*"))) < 2:
            assert time.monotonic() - start < deadline, "workers did not start"
            assert proc.poll() is None
            time.sleep(0.05)
        workers = [int(p.read_text()) for p in pytester.path.glob("started-*")]
        os.killpg(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=RUN_TIMEOUT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert "KeyboardInterrupt" in out
    assert proc.returncode == 2
    for pid in workers:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


# ----------------------------------------------------------------- pieces


@pytest.mark.parametrize(
    ("spec", "plain"),
    [
        ("popen", True),
        ("3*popen", True),
        ("popen//env:A=1", True),
        ("popen//chdir=/tmp", True),
        ("popen//python=python3", False),
        ("popen//via=socket=1.2.3.4:8888", False),
        ("ssh=host", False),
        ("socket=1.2.3.4:8888", False),
    ],
)
def test_plain_popen_specs(spec: str, plain: bool) -> None:
    assert forkserver._is_plain_popen(spec) is plain


def test_forkable_args() -> None:
    line = forkserver._BOOTSTRAP_LINE
    assert forkserver.forkable_args([sys.executable, "-u", "-c", line]) is False
    assert forkserver.forkable_args([sys.executable, "-u", "-B", "-c", line]) is True
    assert forkserver.forkable_args(["/other/python", "-u", "-c", line]) is None
    assert forkserver.forkable_args([sys.executable, "-u", "-c", "print(1)"]) is None


def test_not_in_a_process_with_threads_or_conftests() -> None:
    # This test runs in a worker (execnet's threads) or in a pytest run that
    # has imported testing/conftest.py: no fork here, either way.
    assert forkserver.why_not_here() is not None
    assert forkserver._nested_run()


def test_switch_values(monkeypatch: pytest.MonkeyPatch) -> None:
    for value in ("0", "off", "false", "no", " OFF "):
        monkeypatch.setenv(forkserver.ENV_SWITCH, value)
        assert forkserver.why_not_here() == f"{forkserver.ENV_SWITCH} is off"
