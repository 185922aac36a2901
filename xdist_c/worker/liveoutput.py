"""``-s`` / ``--capture=no``: workers' standard output, shown live (the
worker's half).

When the run does not capture, the worker's descriptor 1 is a pipe read by
a thread (:class:`StdoutRelay`), which sends what arrives over an execnet
channel of its own; the controller's half
(:mod:`xdist_c.controller.liveoutput`) writes it to the controller's
standard output as it comes.  The channel carries ``bytes`` messages and
is closed when the worker is done; after the output of each test it
carries an ``int``, the number of tests whose output has been sent, so that
the controller can show a test's output before its result.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any
from typing import TextIO

# What the worker sends at most per message.
CHUNK_BYTES = 64 * 1024
# How long a worker waits at the end for its last output to be sent.
FINISH_WAIT = 2.0


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
        tests_sent = 0  # the markers passed: tests whose output is sent
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
            if drains:
                tests_sent += drains
                self._send(tests_sent)  # what came before is sent
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

    def _send(self, data: bytes | int) -> None:
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
