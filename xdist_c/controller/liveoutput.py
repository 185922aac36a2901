"""``-s`` / ``--capture=no``: workers' standard output, shown live (the
controller's half).

execnet points a popen worker's file descriptor 1 at ``/dev/null`` (its
real stdout carries the protocol), so with pytest-xdist whatever a test
prints under ``-s`` is lost.  Here, when the run does not capture, each
worker's descriptor 1 is a pipe read by a thread in the worker, which sends
what arrives over an execnet channel of its own; the controller writes it
to its standard output as it comes, each line prefixed with the worker's
id (``[gw0] ...``).  With a single worker nothing is prefixed, so ``-s -n
1`` reads like a serial run.  Standard error is not touched: it already
reaches the controller's standard error live (see
:mod:`xdist_c.launch.process`).

Controller side (here): :class:`LiveOutput` (one per run),
:meth:`LiveOutput.open` per worker.  Worker side:
:class:`xdist_c.worker.liveoutput.StdoutRelay`.
"""

from __future__ import annotations

import sys
import threading
from typing import Any
from typing import TextIO

import pytest

from xdist_c._compat import pytest as pytest_compat

# The longest the controller waits for a test's output to arrive before
# showing its result; a worker that missed it once is not waited for again.
SYNC_WAIT = 2.0


def wanted(config: pytest.Config) -> bool:
    """Whether the run shows workers' stdout (``-s`` / ``--capture=no``)."""
    return bool(config.getoption("capture", None) == "no")


class LiveOutput:
    """Writes what workers print to the controller's terminal, a line at a
    time, each line prefixed with the worker's id when there are several
    workers (complete lines start on a line of their own)."""

    def __init__(self, config: pytest.Config | None, prefixed: bool, out: TextIO | None = None) -> None:
        self._reporter = None
        if config is not None and out is None:
            self._reporter = config.pluginmanager.get_plugin("terminalreporter")
        self._out = out if out is not None else sys.stdout
        self._prefixed = prefixed
        self._lock = threading.Lock()
        self._relays: dict[str, _WorkerRelay] = {}

    def open(self, gateway: Any) -> Any:
        """A channel for the worker behind ``gateway`` to send its output
        on (travels in the worker's start-up message)."""
        channel = gateway.newchannel()
        relay = _WorkerRelay(self, f"[{gateway.id}] " if self._prefixed else "")
        self._relays[gateway.id] = relay
        channel.setcallback(relay.feed, endmarker=None)
        return channel

    def caught_up(self, worker_id: str, tests: int) -> None:
        """Called (main thread) before a test's reports are shown: waits
        until the worker's output of its first ``tests`` tests is written.
        The output travels over its own channel and the reports over the
        event stream, so either could be read first; a serial run prints a
        test's output before its result."""
        relay = self._relays.get(worker_id)
        if relay is not None:
            relay.wait_for(tests)

    def write(self, text: str, *, own_line: bool = False) -> None:
        with self._lock:
            try:
                if self._reporter is None:
                    self._out.write(text)
                    self._out.flush()
                    return
                # Through pytest's terminal writer, which keeps track of
                # the column (the progress percentage is aligned with it).
                if own_line and _terminal_column(self._reporter):
                    text = "\n" + text
                self._reporter.write(text, flush=True)
            except (OSError, ValueError):  # pragma: no cover - stdout gone
                pass


def _terminal_column(reporter: Any) -> int:
    """Where pytest's terminal writer is on its current line (0 where that
    cannot be known: a private attribute, checked on pytest 7.0 to 9.2)."""
    column = getattr(pytest_compat.terminal_writer(reporter), "width_of_current_line", 0)
    return column if isinstance(column, int) else 0


class _WorkerRelay:
    """One worker's output: complete lines are written at once; a partial
    line waits for its end (or for the worker's last message)."""

    def __init__(self, output: LiveOutput, prefix: str) -> None:
        self._output = output
        self._prefix = prefix
        self._partial = ""
        # How many tests' output the worker has sent (its int messages);
        # False once waiting for that is pointless (the channel closed, or
        # a count failed to come: a test closed the worker's descriptor 1).
        self._tests_sent = 0
        self._in_step = True
        self._sent_more = threading.Condition()

    def wait_for(self, tests: int) -> None:
        with self._sent_more:
            if self._in_step and not self._sent_more.wait_for(
                lambda: self._tests_sent >= tests or not self._in_step, SYNC_WAIT
            ):
                self._in_step = False

    def feed(self, data: object) -> None:
        if isinstance(data, int) and not isinstance(data, bool):
            with self._sent_more:  # all of those tests' output is written
                self._tests_sent = data
                self._sent_more.notify_all()
            return
        if data is None:  # the channel closed: the worker is done
            if self._partial:
                self._output.write(self._prefix + self._partial + "\n", own_line=True)
                self._partial = ""
            with self._sent_more:
                self._in_step = False
                self._sent_more.notify_all()
            return
        if not isinstance(data, bytes):
            return  # not ours to show
        text = data.decode("utf-8", "replace")
        if not self._prefix:
            self._output.write(text)  # one worker: as a serial run prints
            return
        text = self._partial + text
        complete, _, self._partial = text.rpartition("\n")
        if complete or text.endswith("\n"):
            lines = complete.split("\n")
            self._output.write("".join(f"{self._prefix}{line}\n" for line in lines), own_line=True)
