"""``-s``: what workers print is shown live, each line prefixed with the
worker's id (xdist_c.controller.liveoutput)."""

from __future__ import annotations

import io

import pytest

from xdist_c.controller.liveoutput import LiveOutput
from xdist_c.controller.liveoutput import _WorkerRelay

TESTS = """
import subprocess, sys

def test_a():
    print("line one of a")
    print("line two of a")

def test_b():
    sys.stdout.write("no newline at the end")

def test_c():
    subprocess.run([sys.executable, "-c", "print('printed by a child process')"], check=True)
"""


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_live=TESTS)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)


def test_workers_output_is_shown_with_their_ids(pytester: pytest.Pytester) -> None:
    result = _run(pytester, "-s", "-n", "2", "-v")
    result.assert_outcomes(passed=3)
    out = result.stdout.lines
    prefixed = [line for line in out if line.startswith("[gw") and "] " in line and "PASSED" not in line]
    texts = {line.split("] ", 1)[1] for line in prefixed}
    assert {"line one of a", "line two of a", "printed by a child process", "no newline at the end"} <= texts
    # a's lines come from one worker, in order (another worker's lines may
    # come in between; on a loaded machine a's result line may come first:
    # output and results travel by different routes)
    first = next(i for i, line in enumerate(out) if line.endswith("] line one of a"))
    worker = out[first].split("]", 1)[0] + "]"
    assert out.index(f"{worker} line two of a") > first
    # the workers' own pytest output is not relayed
    assert not any("passed in" in line for line in prefixed)
    assert "line one of a" not in result.stderr.str()


def test_one_worker_reads_like_a_serial_run(pytester: pytest.Pytester) -> None:
    result = _run(pytester, "-s", "-n", "1")
    result.assert_outcomes(passed=3)
    out = result.stdout.str()
    # as a serial run prints it: each test's output before its progress
    # character (the output and the reports travel apart; the controller
    # waits for a test's output before showing its reports)
    serial = "line one of a\nline two of a\n.no newline at the end.printed by a child process\n.\n"
    assert f"\n{serial}" in out, out
    assert "[gw0]" not in out


def test_waiting_for_a_workers_output() -> None:
    """The controller's wait for the output of a worker's first n tests:
    it ends once the worker says that many tests' output was sent, and is
    given up for good when the channel closes or a count fails to come."""
    relay = _WorkerRelay(LiveOutput(None, prefixed=False, out=io.StringIO()), "")
    relay.feed(2)  # the output of two tests was sent
    relay.wait_for(1)
    relay.wait_for(2)
    assert relay._in_step
    relay.feed(None)  # closed: nothing more will come, no wait
    relay.wait_for(3)
    assert not relay._in_step


def test_without_s_nothing_is_relayed(pytester: pytest.Pytester) -> None:
    result = _run(pytester, "-n", "2")
    result.assert_outcomes(passed=3)
    assert "line one of a" not in result.stdout.str()
    assert "printed by a child process" not in result.stdout.str()


def test_relay_splits_lines_and_keeps_partial_ones() -> None:
    out = io.StringIO()
    relay = _WorkerRelay(LiveOutput(None, prefixed=True, out=out), "[gw3] ")
    relay.feed(b"first\nsec")
    assert out.getvalue() == "[gw3] first\n"
    relay.feed(b"ond\n\nthird")
    assert out.getvalue() == "[gw3] first\n[gw3] second\n[gw3] \n"
    relay.feed("not bytes")  # ignored
    relay.feed(None)  # the worker is done: the partial line is written
    assert out.getvalue().endswith("[gw3] third\n")


def test_relay_without_prefix_passes_bytes_through() -> None:
    out = io.StringIO()
    relay = _WorkerRelay(LiveOutput(None, prefixed=False, out=out), "")
    relay.feed(b"a")
    relay.feed("é\n".encode())
    relay.feed(None)
    assert out.getvalue() == "aé\n"
