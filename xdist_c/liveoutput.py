"""``-s`` / ``--capture=no``: workers' standard output, shown live.

execnet points a popen worker's file descriptor 1 at ``/dev/null`` (its
real stdout carries the protocol), so with pytest-xdist whatever a test
prints under ``-s`` is lost.  Here, when the run does not capture, each
worker's descriptor 1 is a pipe read by a thread in the worker, which sends
what arrives over an execnet channel of its own; the controller writes it
to its standard output as it comes, each line prefixed with the worker's
id (``[gw0] ...``).  With a single worker nothing is prefixed, so ``-s -n
1`` reads like a serial run.  Standard error is not touched: it already
reaches the controller's standard error live (see
:mod:`xdist_c.workermanage`).

Controller side: :class:`LiveOutput` (one per run), :meth:`LiveOutput.open`
per worker.  Worker side: :class:`StdoutRelay`.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any
from typing import TextIO

import pytest

from xdist_c._compat import pytest as pytest_compat

# What the worker sends at most per message.
CHUNK_BYTES = 64 * 1024
# How long a worker waits at the end for its last output to be sent.
FINISH_WAIT = 2.0


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

    def open(self, gateway: Any) -> Any:
        """A channel for the worker behind ``gateway`` to send its output
        on (travels in the worker's start-up message)."""
        channel = gateway.newchannel()
        relay = _WorkerRelay(self, f"[{gateway.id}] " if self._prefixed else "")
        channel.setcallback(relay.feed, endmarker=None)
        return channel

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

    def feed(self, data: object) -> None:
        if data is None:  # the channel closed: the worker is done
            if self._partial:
                self._output.write(self._prefix + self._partial + "\n", own_line=True)
                self._partial = ""
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


class StdoutRelay:
    """In the worker: descriptor 1 points at a pipe whose contents go to
    ``channel`` as they are written, from a thread of its own.

    :meth:`drain` (called when a test ends, before its reports are sent)
    waits until everything written so far has been sent, so the test's
    output reaches the controller before its result: it writes a marker
    through the pipe and waits for the thread to reach it.  :meth:`finish`
    (at the end of the session) restores descriptor 1, sends what is left
    and closes the channel.

    The worker's own terminal output is not relayed: pytest's terminal
    reporter is configured while ``sys.stdout`` is ``os.devnull``."""

    def __init__(self, channel: Any) -> None:
        self._channel = channel
        # Until configure_done(): the worker's own terminal output (pytest's
        # TerminalReporter keeps the sys.stdout it finds when configured)
        # goes where execnet sends it, nowhere, as with pytest-xdist.
        self._stdout = sys.stdout
        self._devnull: TextIO | None = open(os.devnull, "w")  # noqa: SIM115 - closed in configure_done()
        sys.stdout = self._devnull
        self._marker = b"\0xdist-c-drain-" + os.urandom(8).hex().encode() + b"\0"
        self._drained = threading.Semaphore(0)
        sys.stdout.flush()
        self._read_fd, write_fd = os.pipe()
        self._saved = os.dup(1)
        os.dup2(write_fd, 1)
        os.close(write_fd)
        self._thread = threading.Thread(target=self._pump, name="xdist_c-stdout", daemon=True)
        self._thread.start()

    def configure_done(self) -> None:
        """After every plugin's pytest_configure: from now on ``print``
        writes to descriptor 1, the pipe."""
        if self._devnull is not None:
            if sys.stdout is self._devnull:
                sys.stdout = self._stdout
            self._devnull = None  # pytest's reporter keeps it open

    def _pump(self) -> None:
        marker = self._marker
        held = b""  # a possible start of the marker, kept for the next read
        while True:
            try:
                chunk = os.read(self._read_fd, CHUNK_BYTES)
            except InterruptedError:  # pragma: no cover - PEP 475 retries
                continue
            except OSError:  # pragma: no cover
                break
            if not chunk:
                break
            data = held + chunk
            drains = data.count(marker)
            data = data.replace(marker, b"")
            held = b""
            for keep in range(min(len(marker) - 1, len(data)), 0, -1):
                if marker.startswith(data[-keep:]):
                    data, held = data[:-keep], data[-keep:]
                    break
            if data:
                self._send(data)
            for _ in range(drains):
                self._drained.release()
        if held:
            self._send(held)
        os.close(self._read_fd)
        self._drained.release()  # nobody waits for ever
        if self._channel is not None:
            try:
                self._channel.close()
            except (OSError, EOFError):  # pragma: no cover
                pass

    def _send(self, data: bytes) -> None:
        """Send, or (the controller is gone) drop: the pipe is read to its
        end regardless, so writing to descriptor 1 never blocks."""
        if self._channel is None:
            return
        try:
            self._channel.send(data)
        except Exception:  # closed (OSError or execnet's own errors)
            self._channel = None

    def drain(self) -> None:
        if not self._thread.is_alive():
            return
        try:
            sys.stdout.flush()
            os.write(1, self._marker)
        except OSError:  # pragma: no cover - a test closed descriptor 1
            return
        self._drained.acquire(timeout=FINISH_WAIT)

    def finish(self) -> None:
        try:
            sys.stdout.flush()
        except (OSError, ValueError):  # pragma: no cover
            pass
        os.dup2(self._saved, 1)  # the pipe's last writer is gone: the pump ends
        os.close(self._saved)
        self._thread.join(FINISH_WAIT)
