"""Hangs, interrupts and workers that never come up.

A run whose tests never return is stopped by a signal to the controller (or
by Ctrl-C to the whole process group, as a terminal sends it): it must end
within a few seconds, the way pytest ends without xdist, and leave no
process behind -- every process the run started carries a marker in its
environment, so one that outlived the controller (re-parented or not) is
found in /proc.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")

# The sanitizer build (.ci/sanitize) runs everything several times slower
# and sets XC_TEST_TIME_SCALE.
STOP_WITHIN = 5.0 * float(os.environ.get("XC_TEST_TIME_SCALE", "1"))

HANGING = """
    import os, time

    def _hang(worker_id):
        with open(f"pid-{worker_id}", "w") as f:
            f.write(str(os.getpid()))
        while True:
            time.sleep(1)

    def test_hang_a(worker_id):
        _hang(worker_id)

    def test_hang_b(worker_id):
        _hang(worker_id)
"""


def marked_processes(mark: str) -> list[int]:
    """Live (non-zombie) processes whose environment holds ``mark``."""
    needle = mark.encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read()
            with open(f"/proc/{entry}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in env and state != "Z":
            found.append(int(entry))
    return found


def leftover_processes(mark: str, wait: float = 1.0) -> list[int]:
    deadline = time.monotonic() + wait
    while True:
        left = marked_processes(mark)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def start_run(path: Path, mark: str, *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, XDIST_C_TEST_RUN=mark)
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as under a shell
    )


def wait_for_pids(path: Path, count: int, timeout: float = 60.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = sorted(path.glob("pid-*"))
        if len(files) >= count and all(f.read_text() for f in files):
            return [int(f.read_text()) for f in files]
        time.sleep(0.05)
    raise AssertionError(f"only {len(list(path.glob('pid-*')))} of {count} tests started")


def interrupt_hanging_run(pytester: pytest.Pytester, how: str, *args: str) -> tuple[int, str, float]:
    """Start a hanging run, stop it ``how``; return (exit code, output,
    seconds from the signal to the controller's exit)."""
    pytester.makepyfile(textwrap.dedent(HANGING))
    return interrupt_run(pytester, how, 1 if "0" in args else 2, *args)


def interrupt_run(pytester: pytest.Pytester, how: str, npids: int, *args: str) -> tuple[int, str, float]:
    """Start a run in pytester.path (set up by the caller), wait until
    ``npids`` pid-* files are written, then stop it ``how``; return (exit
    code, output, seconds from the signal to the controller's exit)."""
    mark = uuid.uuid4().hex
    proc = start_run(pytester.path, mark, *args)
    try:
        pids = wait_for_pids(pytester.path, npids)
        assert all(pid in marked_processes(mark) for pid in pids)
        start = time.monotonic()
        if how == "SIGINT-group":  # Ctrl-C in a terminal
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(getattr(signal, how))
        out, _ = proc.communicate(timeout=30)
        elapsed = time.monotonic() - start
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    left = leftover_processes(mark)
    for pid in left:  # don't leak them into the rest of the test run
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    assert not left, f"processes left behind: {left}\n{out}"
    return proc.returncode, out, elapsed


@pytest.mark.parametrize("how", ["SIGINT", "SIGINT-group"])
def test_sigint_stops_hanging_run(pytester: pytest.Pytester, how: str) -> None:
    ret, out, elapsed = interrupt_hanging_run(pytester, how, "-n", "2")
    assert elapsed < STOP_WITHIN, (elapsed, out)
    assert ret == pytest.ExitCode.INTERRUPTED, out
    assert "!!!!!!! KeyboardInterrupt !!!!!!!" in out, out
    assert "no tests ran in" in out or " in " in out.splitlines()[-1], out


def test_sigterm_stops_hanging_run_like_pytest(pytester: pytest.Pytester) -> None:
    # Without xdist, SIGTERM kills pytest outright: no summary, killed by
    # the signal.  With workers the controller first stops them.
    plain_ret, _, _ = interrupt_hanging_run(pytester, "SIGTERM", "-n", "0")
    for f in pytester.path.glob("pid-*"):
        f.unlink()
    ret, out, elapsed = interrupt_hanging_run(pytester, "SIGTERM", "-n", "2")
    assert plain_ret == -signal.SIGTERM
    assert ret == plain_ret, out
    assert elapsed < STOP_WITHIN, (elapsed, out)


# An interpreter for --tx ...//python=: the first {starts} starts (counted
# in the test's directory) run the real one; later ones run {then}.
LIMITED_PYTHON = """\
#!/bin/sh
n=0
while [ $n -lt {starts} ]; do
    if mkdir "{dir}/start-$n" 2>/dev/null; then
        exec "{python}" "$@"
    fi
    n=$((n + 1))
done
{then}
"""


def limited_python(pytester: pytest.Pytester, name: str, starts: int, then: str) -> str:
    script = pytester.path / name
    script.write_text(LIMITED_PYTHON.format(starts=starts, dir=pytester.path, python=sys.executable, then=then))
    script.chmod(0o755)
    return str(script)


def fake_python(pytester: pytest.Pytester, starts: int) -> str:
    """After ``starts`` real ones, an interpreter that dies at once."""
    return limited_python(pytester, "fakepython", starts, 'echo "fake python: no interpreter for you" >&2\nexit 7')


@pytest.mark.skipif(not os.path.exists("/bin/false"), reason="needs /bin/false")
def test_worker_dying_before_connecting(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_a(): pass")
    result = pytester.runpytest_subprocess("-d", "--tx", "popen//python=/bin/false", timeout=60)
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    assert "could not start worker gw0 (popen//python=/bin/false): exit code 1" in result.stderr.str()
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()

    script = fake_python(pytester, 0)
    result = pytester.runpytest_subprocess("-d", "--tx", f"2*popen//python={script}", timeout=60)
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    err = result.stderr.str()
    assert f"python={script}): exit code 7" in err, err
    # Its stderr: shown live, and quoted in the message.
    assert "last stderr lines of worker gw" in err
    assert err.count("fake python: no interpreter for you") >= 2


def first_test_crashes(pytester: pytest.Pytester, count: int) -> None:
    """A suite of ``count`` tests whose first kills its worker (exit code 3)."""
    pytester.makepyfile(
        f"""
        import os, pytest
        @pytest.mark.parametrize("i", range({count}))
        def test_p(i):
            if i == 0:
                os._exit(3)
        """
    )


def test_replacement_worker_that_cannot_start(pytester: pytest.Pytester) -> None:
    first_test_crashes(pytester, 6)
    script = fake_python(pytester, 2)
    result = pytester.runpytest_subprocess("-d", "--tx", f"2*popen//python={script}", timeout=60)
    out, err = result.stdout.str(), result.stderr.str()
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR, out + err
    assert "node down: Not properly terminated (exit code 3)" in out
    assert f"could not start worker gw2 (popen//python={script}): exit code 7" in out + err, out + err
    assert "INTERNALERROR" not in out + err


# --- workers that hang while starting --------------------------------------
#
# pytest-xdist 3.8 waits for such a worker for as long as it takes (there
# is no start-up deadline), and so does xdist_c; but the run must stay
# interruptible: Ctrl-C or SIGTERM to the controller ends it within
# STOP_WITHIN seconds and leaves no process behind (pytest-xdist needs its
# 10 s gateway-exit timeout there).

HANG_IN_CONFTEST = """
    import os, time

    if os.environ.get("PYTEST_XDIST_WORKER"):  # the workers only
        with open("pid-" + os.environ["PYTEST_XDIST_WORKER"], "w") as f:
            f.write(str(os.getpid()))
        time.sleep(10**6)
"""

HANG_IN_COLLECTION = """
    import os, time

    if os.environ.get("PYTEST_XDIST_WORKER"):
        with open("pid-" + os.environ["PYTEST_XDIST_WORKER"], "w") as f:
            f.write(str(os.getpid()))
        time.sleep(10**6)

    def test_a():
        pass
"""


def hanging_python(pytester: pytest.Pytester, starts: int) -> str:
    """After ``starts`` real ones, an interpreter that never starts: the
    worker never connects."""
    return limited_python(pytester, "hangingpython", starts, f'echo $$ > "{pytester.path}/pid-$$"\nexec sleep 1000000')


def hang_in_startup(pytester: pytest.Pytester, where: str) -> list[str]:
    """Set up a run whose two workers hang ``where``; its arguments."""
    if where == "conftest":
        pytester.makeconftest(textwrap.dedent(HANG_IN_CONFTEST))
        pytester.makepyfile("def test_a(): pass")
    elif where == "collection":
        # Two files: with split collection each worker collects one first.
        hang = textwrap.dedent(HANG_IN_COLLECTION)
        pytester.makepyfile(test_hang_a=hang, test_hang_b=hang)
    else:
        assert where == "connect"
        pytester.makepyfile("def test_a(): pass")
        return ["-d", "--tx", f"2*popen//python={hanging_python(pytester, 0)}"]
    return ["-n", "2"]


WHERE = ["conftest", "collection", "connect"]


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("how", ["SIGINT", "SIGINT-group"])
def test_sigint_stops_run_hanging_in_worker_startup(pytester: pytest.Pytester, how: str, where: str) -> None:
    args = hang_in_startup(pytester, where)
    ret, out, elapsed = interrupt_run(pytester, how, 2, *args)
    assert elapsed < STOP_WITHIN, (elapsed, out)
    assert ret == pytest.ExitCode.INTERRUPTED, out
    assert "!!!!!!! KeyboardInterrupt !!!!!!!" in out, out
    assert "INTERNALERROR" not in out, out
    if where != "connect":
        assert "no tests ran in" in out or " in " in out.splitlines()[-1], out
    # else it was interrupted in pytest_sessionstart (starting the workers),
    # after which pytest writes no summary line (as with pytest-xdist).


@pytest.mark.parametrize("where", WHERE)
def test_sigterm_stops_run_hanging_in_worker_startup(pytester: pytest.Pytester, where: str) -> None:
    args = hang_in_startup(pytester, where)
    ret, out, elapsed = interrupt_run(pytester, "SIGTERM", 2, *args)
    assert ret == -signal.SIGTERM, out
    assert elapsed < STOP_WITHIN, (elapsed, out)


@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM"])
def test_signal_stops_run_whose_replacement_worker_hangs_in_startup(pytester: pytest.Pytester, how: str) -> None:
    # A worker crashes; its replacement is started in the controller's main
    # thread and never connects.
    first_test_crashes(pytester, 4)
    script = hanging_python(pytester, 2)
    ret, out, elapsed = interrupt_run(pytester, how, 1, "-d", "--tx", f"2*popen//python={script}")
    assert elapsed < STOP_WITHIN, (elapsed, out)
    if how == "SIGINT":
        assert ret == pytest.ExitCode.INTERRUPTED, out
        assert "!!!!!!! KeyboardInterrupt !!!!!!!" in out, out
        assert "INTERNALERROR" not in out, out
    else:
        assert ret == -signal.SIGTERM, out


def test_worker_failing_to_start_while_another_hangs_before_connecting(pytester: pytest.Pytester) -> None:
    # The run stops at the first worker that cannot start; the one still
    # starting must not keep it waiting (nor outlive it).
    pytester.makepyfile("def test_a(): pass")
    script = hanging_python(pytester, 0)
    failing = pytester.path / "failingpython"
    # fails once the other one is up and hanging
    failing.write_text(f'#!/bin/sh\nwhile ! ls "{pytester.path}" | grep -q pid-; do sleep 0.05; done\nexit 1\n')
    failing.chmod(0o755)
    mark = uuid.uuid4().hex
    proc = start_run(pytester.path, mark, "-d", "--tx", f"popen//python={failing}", "--tx", f"popen//python={script}")
    try:
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    left = leftover_processes(mark)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"processes left behind: {left}\n{out}"
    assert proc.returncode == pytest.ExitCode.INTERNAL_ERROR, out
    assert f"could not start worker gw0 (popen//python={failing}): exit code 1" in out, out
