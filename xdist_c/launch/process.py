"""A local worker's process: its pipes, its stderr, how it ended.

execnet's popen IO, built here (:class:`StderrCapturingIO`) around the
process the launcher started (:mod:`xdist_c.launch.launcher`: forked from
the fork server or spawned), so that the worker's stderr is captured --
copied live to the controller's stderr and kept for crash reports.
:class:`Starting` keeps the workers started that have not connected yet,
which no execnet group knows of, so that they can be killed; the rest says
how a worker's process ended and stops processes (signals, kill).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Sequence
from typing import Any

import execnet

from xdist_c._compat import execnet as execnet_compat

# --------------------------------------------------------- worker stderr
#
# popen workers used to inherit the controller's stderr.  Now their stderr is
# a pipe read by one thread per worker, which copies everything at once to
# (a duplicate of) the controller's stderr -- so users see it live, as
# before -- and keeps the last STDERR_TAIL_BYTES for crash reports.  A pipe
# read from outside the worker keeps all a worker wrote, however it died.

STDERR_TAIL_BYTES = 4096
STDERR_TAIL_LINES = 20
# How much is kept to pick those lines from.
_STDERR_KEEP_BYTES = 64 * 1024
# After a worker's channel closed: how long to wait for its process to
# exit, and then for the rest of its stderr (both are normally at once;
# the margin is for loaded machines).
EXIT_STATUS_WAIT = 5.0
STDERR_DRAIN_WAIT = 2.0


class Starting:
    """The popen IOs of workers started that have not connected yet.

    A worker that hangs before connecting is in no gateway of the group, so
    neither ``group.terminate()`` nor ``kill_workers()`` would reach it.
    Once :meth:`kill_all` ran (the run is ending), a worker started later
    (by a thread that was still on its way) is killed at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ios: list[Any] = []
        self._closed = False

    def add(self, io: Any) -> None:
        with self._lock:
            if not self._closed:
                self._ios.append(io)
                return
        kill_io(io)

    def discard(self, io: Any) -> None:
        with self._lock:
            if io in self._ios:
                self._ios.remove(io)

    def snapshot(self) -> list[Any]:
        with self._lock:
            return list(self._ios)

    def kill_all(self) -> None:
        with self._lock:
            self._closed = True
            ios, self._ios = self._ios, []
        for io in ios:
            kill_io(io)


class StderrTee:
    """Copies a worker's stderr pipe to ``out_fd`` and keeps its tail."""

    def __init__(self, pipe: Any, out_fd: int) -> None:
        self._pipe = pipe
        self._out_fd = out_fd
        self._tail = bytearray()
        self._lock = threading.Lock()
        self._done = threading.Event()
        thread = threading.Thread(target=self._run, name="xdist_c-stderr", daemon=True)
        thread.start()

    def _run(self) -> None:
        fd = self._pipe.fileno()
        try:
            while True:
                try:
                    chunk = os.read(fd, 65536)
                except InterruptedError:  # pragma: no cover - PEP 475 retries
                    continue
                except OSError:
                    break
                if not chunk:
                    break
                with self._lock:
                    self._tail += chunk
                    if len(self._tail) > 2 * _STDERR_KEEP_BYTES:
                        del self._tail[:-_STDERR_KEEP_BYTES]
                self._write_out(chunk)
        finally:
            for close in (self._pipe.close, lambda: os.close(self._out_fd)):
                try:
                    close()
                except OSError:
                    pass
            self._done.set()

    def _write_out(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self._out_fd, view) :]
            except InterruptedError:  # pragma: no cover
                continue
            except OSError:
                return  # the controller's stderr is gone; keep the tail only

    def tail(self, wait: float = 0.0) -> str:
        """What the worker wrote last, after waiting up to ``wait`` seconds
        for the pipe to reach end of file: see :func:`summarize_stderr`."""
        if wait > 0:
            self._done.wait(wait)
        with self._lock:
            data = bytes(self._tail[-_STDERR_KEEP_BYTES:])
        return summarize_stderr(data)


def summarize_stderr(data: bytes) -> str:
    """At most STDERR_TAIL_LINES lines / STDERR_TAIL_BYTES bytes of the end
    of a worker's stderr.  A Python fatal error (faulthandler's dump, whose
    innermost frames come first) is shown from the lines just before it,
    with the crashing thread's frames rather than the other threads'."""
    lines = data.decode("utf-8", "backslashreplace").rstrip().splitlines()
    fatal = [i for i, line in enumerate(lines) if line.startswith("Fatal Python error:")]
    if fatal:
        at = fatal[-1]
        context = [line for line in lines[max(at - 3, 0) : at] if line.strip()]
        rest = lines[at + 1 :]
        current = next((i for i, line in enumerate(rest) if line.startswith("Current thread")), None)
        if current is not None:
            rest = ["", *rest[current:]]
        lines = [*context, lines[at], *rest][:STDERR_TAIL_LINES]
    else:
        lines = lines[-STDERR_TAIL_LINES:]
    while lines and not lines[-1].strip():
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and len("\n".join(lines).encode("utf-8", "backslashreplace")) > STDERR_TAIL_BYTES:
        lines.pop(0 if not fatal else -1)
    return "\n".join(lines)


class StderrCapturingIO(execnet_compat.PopenIOBase):  # type: ignore[misc]
    """execnet's popen IO, with the worker's stderr on a :class:`StderrTee`.

    ``p`` is the worker's process, forked or spawned (the launcher's
    choice, :mod:`xdist_c.launch.launcher`), with pipes for its stdin,
    stdout and stderr."""

    def __init__(self, p: Any, execmodel: Any, starting: Starting | None = None) -> None:
        self.popen = p
        try:
            # At once: a Ctrl-C from here on (starting the stderr thread
            # waits, and so can be interrupted) must find the process.
            if starting is not None:
                starting.add(self)
            execnet_compat.init_popen_io(self, p.stdin, p.stdout, execmodel)
            try:
                out_fd = os.dup(2)
            except OSError:  # pragma: no cover - no stderr at all
                out_fd = os.open(os.devnull, os.O_WRONLY)
            self.stderr_tee = StderrTee(p.stderr, out_fd)
        except BaseException:
            kill_io(self)
            raise


def describe_returncode(returncode: int) -> str:
    """``exit code 1`` / ``killed by signal SIGSEGV``."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        return f"killed by signal {name}"
    return f"exit code {returncode}"


def process_exit_cause(io: Any, wait: float) -> str | None:
    """How the process behind a gateway's ``io`` ended (waiting up to
    ``wait`` seconds for it), or None if unknown or still running."""
    popen = getattr(io, "popen", None)
    if popen is None:
        return None
    try:
        returncode = popen.wait(wait)
    except (subprocess.TimeoutExpired, OSError):
        return None
    return None if returncode is None else describe_returncode(returncode)


def stderr_tail(io: Any, wait: float = 0.0) -> str:
    tee = getattr(io, "stderr_tee", None)
    return "" if tee is None else tee.tail(wait)


def signal_popens(popens: Sequence[subprocess.Popen[bytes]], sig: int) -> None:
    for popen in popens:
        try:
            if popen.poll() is None:
                popen.send_signal(sig)
        except OSError:  # pragma: no cover - gone meanwhile
            pass


def kill_io(io: Any) -> None:
    try:
        io.kill()
        io.wait()
    except Exception:  # pragma: no cover - gone meanwhile
        pass


class WorkerStartError(Exception):
    """A worker process could not be started or died before connecting."""

    def __init__(self, spec: execnet.XSpec, io: Any, error: BaseException) -> None:
        cause = process_exit_cause(io, EXIT_STATUS_WAIT) if io is not None else None
        if cause is None and io is not None:
            kill_io(io)  # alive but unusable: it must not outlive the run
        what = cause or f"{type(error).__name__}: {error}"
        msg = f"could not start worker {spec.id} ({describe_spec(spec)}): {what}"
        tail = stderr_tail(io, STDERR_DRAIN_WAIT) if io is not None else ""
        if tail:
            msg += f"\nlast stderr lines of worker {spec.id}:\n{tail}"
        super().__init__(msg)


def describe_spec(spec: execnet.XSpec) -> str:
    """The ``--tx`` value a spec came from, for messages."""
    text = getattr(spec, "_xdist_tx", None) or str(spec)
    prefix = "execmodel=main_thread_only//"
    return text[len(prefix) :] if text.startswith(prefix) else text
