"""-x/--maxfail stops the workers' queues; --test-timeout kills a stuck test's worker.

No test here sleeps to wait for something: tests that must wait do so on
an event (the worker's stop) or hang for good and are ended by the timeout;
the assertions are about what was started and what was reported.  A
conftest records, in the workers, every test that starts
(``started.jsonl``, with whether the worker had been told to stop by then)
and, in the controller, every report it gets (``reports.jsonl``).
"""

from __future__ import annotations

import json
import os
import re
import sys
import textwrap
from collections import Counter
from typing import Any

import pytest

from xdist_c.controller.limits import trim_stack
from xdist_c.controller.scheduler import SCHEDULERS

RUN_TIMEOUT = 120
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="process groups and the stack signal are POSIX")

CONFTEST = """
import json, os

HERE = os.path.dirname(__file__)

def _append(name, record):
    with open(os.path.join(HERE, name), "a") as f:
        f.write(json.dumps(record) + "\\n")

def pytest_runtest_logstart(nodeid):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import pytest
        worker = _CONFIG.pluginmanager.getplugin("xdist_c.worker")
        _append("started.jsonl", [nodeid, worker.stopped.is_set(), os.environ["PYTEST_XDIST_WORKER"]])

def pytest_configure(config):
    global _CONFIG
    _CONFIG = config

def pytest_runtest_logreport(report):
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        node = getattr(report, "node", None)
        worker = node.gateway.id if node is not None else None
        _append("reports.jsonl", [report.nodeid, report.when, report.outcome, worker])
"""


def _records(pytester: pytest.Pytester, name: str) -> list[Any]:
    path = pytester.path / name
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def _started(pytester: pytest.Pytester) -> list[str]:
    """The tests started.  A worker checks for the stop just before it
    starts a test: a stop that arrives in between lets that one test start
    (the conftest sees the stop already set), and no other."""
    records = _records(pytester, "started.jsonl")
    late = Counter(worker for _, stopped, worker in records if stopped)
    assert all(count <= 1 for count in late.values()), f"tests started after their worker's stop: {records}"
    return [nodeid for nodeid, _, _ in records]


def _reported_once(pytester: pytest.Pytester, each: bool = False) -> Counter[str]:
    """Each (test, phase) reported at most once; the outcomes by test."""
    reports = _records(pytester, "reports.jsonl")
    # (--dist each runs a test once per worker: gw0's copy, gw1's copy)
    phases = Counter((nodeid, when, worker if each else None) for nodeid, when, _, worker in reports)
    assert all(count == 1 for count in phases.values()), phases
    return Counter(nodeid for nodeid, _, _, _ in reports)


def _not_run(output: str) -> int | None:
    match = re.search(r"(\d+) tests? not run: stopped after (\d+) failures?", output)
    return int(match.group(1)) if match else None


# ------------------------------------------------------------------- the stop


def test_no_test_starts_once_the_limit_is_reached(pytester: pytest.Pytester) -> None:
    """gw-A fails first thing; gw-B's first test waits until its worker
    is told to stop, then passes: nothing else starts anywhere, and the
    summary counts the rest as not run."""
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        test_a="def test_fail():\n    assert 0\n" + "".join(f"def test_a{i}(): pass\n" for i in range(5)),
        test_b=textwrap.dedent(
            """
            def test_block(request):
                worker = request.config.pluginmanager.getplugin("xdist_c.worker")
                assert worker.stopped.wait(60), "the stop never came"
            """
        )
        + "".join(f"def test_b{i}(): pass\n" for i in range(5)),
    )
    result = pytester.runpytest_subprocess("-n", "2", "--dist", "loadfile", "-x", timeout=RUN_TIMEOUT)
    assert sorted(_started(pytester)) == ["test_a.py::test_fail", "test_b.py::test_block"]
    outcomes = _reported_once(pytester)
    assert set(outcomes) == {"test_a.py::test_fail", "test_b.py::test_block"}
    result.stdout.fnmatch_lines(
        ["*= 10 tests not run: stopped after 1 failure =*", "*stopping after 1 failures*", "*1 failed, 1 passed*"]
    )
    assert result.ret == 2


@pytest.mark.parametrize("dist", sorted(SCHEDULERS))
def test_stop_in_every_mode(pytester: pytest.Pytester, dist: str) -> None:
    """Whatever the mode: no test starts on a worker after its stop, each
    test is reported at most once, and the not-run count is the rest."""
    pytester.makeconftest(CONFTEST)
    body = "".join(f"def test_{i}(): pass\n" for i in range(60))
    pytester.makepyfile(test_one="def test_fail():\n    assert 0\n" + body, test_two=body)
    result = pytester.runpytest_subprocess("-n", "2", "--dist", dist, "--maxfail=1", timeout=RUN_TIMEOUT)
    assert result.ret == 2
    started = _started(pytester)
    _reported_once(pytester, each=dist == "each")
    copies = 2 if dist == "each" else 1
    total = 121 * copies
    assert len(started) <= total
    not_run = _not_run(result.stdout.str())
    assert (not_run or 0) == total - len(started), (not_run, len(started))


def test_finish_queued_keeps_pytest_xdist_behaviour(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        test_a="def test_fail():\n    assert 0\n",
        test_b="".join(f"def test_b{i}(): pass\n" for i in range(8)),
    )
    result = pytester.runpytest_subprocess(
        "-n", "2", "--dist", "loadfile", "-x", "--finish-queued", timeout=RUN_TIMEOUT
    )
    assert result.ret == 2
    started = _started(pytester)
    assert {f"test_b.py::test_b{i}" for i in range(8)} <= set(started)
    assert "not run" not in result.stdout.str()


# ---------------------------------------------------------------- the timeout

HANGING = """
import os, re, subprocess, sys, threading, time

HERE = os.path.dirname(__file__)

def test_event():
    threading.Event().wait()

def test_sleep():
    time.sleep(3600)

def test_c_code_holding_the_gil():
    re.match(r"(a+)+$", "a" * 64 + "b")

def test_grandchild():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    with open(os.path.join(HERE, "grandchild.pid"), "w") as f:
        f.write(str(child.pid))
    child.wait()
"""


def _gone(pid: int) -> bool:
    """The process has exited (a zombie counts: it was killed)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


@posix_only
@pytest.mark.parametrize("forkserver", ["1", "0"], ids=["forked", "spawned"])
def test_timeout_reports_the_stack_kills_and_replaces(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, forkserver: str
) -> None:
    monkeypatch.setenv("XDIST_C_FORKSERVER", forkserver)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_hang=HANGING, test_ok="".join(f"def test_ok{i}(): pass\n" for i in range(6)))
    result = pytester.runpytest_subprocess("-n", "2", "--test-timeout=1", timeout=RUN_TIMEOUT)
    out = result.stdout.str()
    hanging = ["test_event", "test_sleep", "test_c_code_holding_the_gil", "test_grandchild"]
    outcomes = _reported_once(pytester)
    assert set(outcomes) == {f"test_hang.py::{n}" for n in hanging} | {f"test_ok.py::test_ok{i}" for i in range(6)}
    result.assert_outcomes(failed=4, passed=6)
    assert result.ret == 1
    # Each failure names the timeout and shows the test's own frame (the
    # FAILURES section: the short summary repeats the message in full only
    # where pytest sees CI=true).
    failures = out.split("short test summary info")[0]
    assert failures.count("Timeout: the test ran longer than --test-timeout=1s") == 4
    # Every stack is recorded, the replacements' included (the controller
    # once asked a killed worker again before it was seen to go down, and
    # that second answer replaced the report's stack with none).
    for name in hanging:
        assert re.search(rf'File ".*test_hang.py", line \d+ in {name}', failures), (name, out)
    assert "(no stack could be recorded)" not in out
    assert failures.count("Python stack of worker") == 4
    assert out.count("(killed after a test timeout)") == 4
    assert "crashed" not in out
    if sys.platform.startswith("linux"):
        assert _gone(int((pytester.path / "grandchild.pid").read_text()))


@posix_only
def test_timeouts_do_not_count_as_crashes_and_count_as_failures(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nxdist_test_timeout = 1\n")
    pytester.makepyfile(
        test_x="import threading\n"
        + "".join(f"def test_hang{i}():\n    threading.Event().wait()\n" for i in range(2))
        + "def test_ok(): pass\n"
    )
    # --max-worker-restart=0: yet each timed-out worker is replaced.
    result = pytester.runpytest_subprocess("-n", "1", "--max-worker-restart=0")
    result.assert_outcomes(failed=2, passed=1)
    # ... and a timeout is a failure for --maxfail.
    result = pytester.runpytest_subprocess("-n", "1", "-x")
    result.stdout.fnmatch_lines(["*= 2 tests not run: stopped after 1 failure =*"])
    assert result.ret == 2


def test_test_timeout_value_is_checked(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_a(): pass")
    result = pytester.runpytest_subprocess("-n", "1", "--test-timeout=soon")
    result.stderr.fnmatch_lines(["*--test-timeout / xdist_test_timeout must be a positive number*"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    # 0 on the command line turns an ini value off
    pytester.makeini("[pytest]\nxdist_test_timeout = 1\n")
    pytester.makepyfile("import time\ndef test_a(): time.sleep(1.5)")
    result = pytester.runpytest_subprocess("-n", "1", "--test-timeout=0")
    result.assert_outcomes(passed=1)


def test_trim_stack_keeps_the_tests_frames() -> None:
    stack = textwrap.dedent(
        f"""\
        Thread 0x1 (most recent call first):
          File "{os.sep}x{os.sep}execnet{os.sep}gateway_base.py", line 534 in read

        Current thread 0x2 (most recent call first):
          File "{os.sep}lib{os.sep}threading.py", line 327 in wait
          File "{os.sep}t{os.sep}test_a.py", line 3 in test_a
          File "{os.sep}v{os.sep}_pytest{os.sep}python.py", line 187 in pytest_pyfunc_call
          File "{os.sep}v{os.sep}pluggy{os.sep}_callers.py", line 1 in _multicall
        """
    )
    assert trim_stack(stack).splitlines() == [
        "Current thread 0x2 (most recent call first):",
        f'  File "{os.sep}lib{os.sep}threading.py", line 327 in wait',
        f'  File "{os.sep}t{os.sep}test_a.py", line 3 in test_a',
        "  ... (2 frames of pytest and xdist-c)",
    ]
