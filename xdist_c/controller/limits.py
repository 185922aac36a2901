"""Ending tests early: the stop after ``-x``/``--maxfail``, and ``--test-timeout``.

The stop
    Once the failure limit is reached the controller sends ``CMD_STOP`` to
    every worker.  The worker's receiver thread drops the test indices it
    has queued, so no new test starts anywhere; the tests already running
    finish and are reported.  The summary then says how many tests were
    not run (:func:`count_not_run`).  ``--finish-queued`` keeps
    pytest-xdist's behaviour (workers run what they were sent).

The timeout
    The controller watches, in its event loop (:class:`TimeoutWatch`), since
    when each worker has been running its current test: from the moment the
    previous test's completion reached it, or the tests were sent to an
    idle worker.  Past the limit it asks the worker for its Python stack
    (a signal that :mod:`faulthandler`, registered at the worker's start by
    :func:`arm_worker`, answers from C code, whatever the test is doing),
    waits for the dump to land in the worker's stack file, and kills the
    worker's process group (each local worker made itself a group leader at
    start-up, so processes its tests started die with it).  The ordinary
    crash path then reports the test as failed, with the stack
    (:func:`timeout_message`), and starts a replacement worker; timeouts do
    not count against ``--max-worker-restart``.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import tempfile
import time
from typing import Any
from typing import BinaryIO

import pytest

from xdist_c._compat import execnet as execnet_compat
from xdist_c._compat import pytest as pytest_compat

# The signal a worker answers with its stack (faulthandler.register): a
# real-time one where there are any (tests hardly use them), else SIGUSR2.
DUMP_SIGNAL: int | None = (
    signal.SIGRTMIN + 6  # type: ignore[attr-defined,unused-ignore]
    if hasattr(signal, "SIGRTMIN")
    else getattr(signal, "SIGUSR2", None)
)
# How long the controller waits for a stack once asked for, at most (a
# worker on a loaded machine can take seconds to be scheduled).
DUMP_WAIT = 5.0
# How often it looks at the stack file meanwhile ...
DUMP_POLL = 0.02
# ... and the dump is taken as complete once its size has not changed for
# this long (faulthandler writes it in many small pieces).
DUMP_SETTLE = 0.15
# The longest the controller loop waits for events while tests run.
MAX_WAIT = 2.0
# The key under which a local worker gets its stack file (option_dict).
WORKER_OPTION = "xdist_c_test_timeout"

_stack_file: BinaryIO | None = None  # the worker's, kept open for faulthandler


def parse_timeout(value: str) -> float:
    """A number of seconds > 0 (the option's and the ini key's value)."""
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (seconds > 0 and math.isfinite(seconds)):
        raise pytest.UsageError(
            f"--test-timeout / xdist_test_timeout must be a positive number of seconds, not {value!r}"
        )
    return seconds


def configured_timeout(config: pytest.Config) -> float | None:
    """``--test-timeout``, else the ``xdist_test_timeout`` ini key, else None
    (0 on the command line switches an ini value off)."""
    value = config.getoption("xdist_test_timeout", None)
    if value is None:
        value = config.getini("xdist_test_timeout") or None
    if value is None or str(value).strip() in ("0", "0.0"):
        return None
    return parse_timeout(str(value))


# ------------------------------------------------------------------ worker


def arm_worker(stack_path: str) -> None:
    """In a local worker, before its session: lead a process group of its
    own, and answer DUMP_SIGNAL by writing every thread's stack to
    ``stack_path``."""
    global _stack_file
    if hasattr(os, "setpgid"):
        try:
            os.setpgid(0, 0)
        except OSError:  # pragma: no cover - a session leader already
            pass
    if DUMP_SIGNAL is None or not hasattr(os, "kill"):
        return  # pragma: no cover - Windows: killed without a stack
    import faulthandler

    _stack_file = open(stack_path, "wb")  # noqa: SIM115 -- open for the process's life
    faulthandler.register(DUMP_SIGNAL, file=_stack_file, all_threads=True, chain=False)


# -------------------------------------------------------------- controller


class TimeoutWatch:
    """The controller's per-worker test clocks (see the module docstring)."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self._dir: str | None = None
        # node -> the clock value at which it was last found idle
        self._idle: dict[Any, float] = {}
        # node -> (when its stack was asked for, size of the file last seen,
        # when that size was first seen)
        self._dumping: dict[Any, tuple[float, int, float]] = {}

    # -- set-up
    def stack_path(self, slot: int) -> str:
        if self._dir is None:
            self._dir = tempfile.mkdtemp(prefix="xdist-c-stacks-")
        return os.path.join(self._dir, f"stack-{slot}")

    def close(self) -> None:
        if self._dir is not None:
            import shutil

            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    # -- the loop
    @staticmethod
    def _since(node: Any) -> float:
        return max(getattr(node, "last_done", 0.0), getattr(node, "last_send", 0.0))

    def wait_time(self, nodes: Any, default: float = MAX_WAIT) -> float:
        """How long the controller may wait for events before checking."""
        if self._dumping:
            return DUMP_POLL
        now = time.monotonic()
        wait = default
        for node in nodes:
            since = self._since(node)
            if since and self._idle.get(node) != since:
                wait = min(wait, since + self.limit - now)
        return max(wait, 0.0)

    def check(self, sched: Any, nodes: Any) -> None:
        """Ask for the stack of workers past the limit; kill those whose
        stack came (or that took too long to send it)."""
        now = time.monotonic()
        for node in list(nodes):
            if node._down or getattr(node, "timed_out", None) is not None:
                # Down, or killed and not yet seen to go down: asking again
                # would replace the report of its stack with one without.
                self._dumping.pop(node, None)
                continue
            dumping = self._dumping.get(node)
            if dumping is not None:
                self._dump_progress(node, now, *dumping)
                continue
            since = self._since(node)
            if not since or now < since + self.limit or self._idle.get(node) == since:
                continue
            try:
                busy = bool(sched.node_pending(node))
            except (AttributeError, KeyError, ValueError):
                busy = False
            if not busy:
                self._idle[node] = since
                continue
            self._ask_stack(node, now)

    def _ask_stack(self, node: Any, now: float) -> None:
        pid = _worker_pid(node)
        if pid is None or DUMP_SIGNAL is None or getattr(node, "stack_path", None) is None:
            self._kill(node, "")
            return
        try:
            os.kill(pid, DUMP_SIGNAL)
        except OSError:
            self._kill(node, "")
            return
        self._dumping[node] = (now, 0, now)

    def _dump_progress(self, node: Any, now: float, asked: float, last_size: int, since: float) -> None:
        try:
            size = os.path.getsize(node.stack_path)
        except OSError:
            size = 0
        if size != last_size:
            self._dumping[node] = (asked, size, now)
        elif (size > 0 and now - since >= DUMP_SETTLE) or now - asked >= DUMP_WAIT:
            del self._dumping[node]
            try:
                with open(node.stack_path, encoding="utf-8", errors="replace") as f:
                    stack = f.read()
            except OSError:
                stack = ""
            self._kill(node, stack)

    def _kill(self, node: Any, stack: str) -> None:
        node.timed_out = timeout_message(node.gateway.id, self.limit, stack)
        pid = _worker_pid(node)
        if pid is not None and hasattr(os, "killpg"):
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass  # not a group leader (yet), or gone: killed below
        node.kill()


def _worker_pid(node: Any) -> int | None:
    popen = getattr(execnet_compat.gateway_io(node.gateway), "popen", None)
    pid = getattr(popen, "pid", None)
    if not isinstance(pid, int) or getattr(popen, "returncode", None) is not None:
        return None
    return pid


_RUNNER_PATHS = (
    pytest_compat.PACKAGE_PATH_PART,
    f"{os.sep}pluggy{os.sep}",
    f"{os.sep}xdist_c{os.sep}",
    f"{os.sep}execnet{os.sep}",
)


def trim_stack(stack: str) -> str:
    """faulthandler's dump without the frames of pytest, pluggy, execnet and
    xdist-c under the test's own, and without the threads of the worker
    machinery (all of whose frames are such)."""
    blocks: list[list[str]] = []
    for line in stack.splitlines():
        if not line.startswith("  File ") or not blocks:
            blocks.append([line])
        else:
            blocks[-1].append(line)
    out: list[str] = []
    for header, *frames in blocks:
        if not header.strip() and not frames:
            continue
        runner = [any(part in f for part in _RUNNER_PATHS) for f in frames]
        if frames and all(runner) and not header.startswith("Current thread"):
            continue
        own = runner.index(False) if False in runner else len(frames)
        cut = runner.index(True, own) if True in runner[own:] else len(frames)
        if out and out[-1]:
            out.append("")
        out.append(header)
        out.extend(frames[:cut])
        if cut < len(frames):
            out.append(f"  ... ({len(frames) - cut} frames of pytest and xdist-c)")
    return "\n".join(out)


def timeout_message(worker_id: str, limit: float, stack: str) -> str:
    msg = (
        f"Timeout: the test ran longer than --test-timeout={limit:g}s; "
        f"worker {worker_id!r} and the processes it started were killed"
    )
    stack = trim_stack(stack.strip())
    if stack:
        msg += f"\n\nPython stack of worker {worker_id!r} at the timeout (most recent call first):\n{stack}"
    elif sys.platform == "win32":  # pragma: no cover
        msg += " (no stack: not recorded on Windows)"
    else:
        msg += " (no stack could be recorded)"
    return msg


def count_not_run(sched: Any) -> int | None:
    """How many tests the scheduler still holds: not sent yet, or sent and
    dropped by the stop (None for a scheduler that does not tell)."""
    total = 0
    try:
        for node in sched.nodes:
            total += len(sched.node_pending(node))
    except (AttributeError, KeyError, TypeError):
        return None
    pending = getattr(sched, "pending", None)
    if pending is not None:
        total += len(pending)
    units = getattr(sched, "pending_units", None)
    if units is not None:
        total += sum(len(u) for u in units)
    return total
