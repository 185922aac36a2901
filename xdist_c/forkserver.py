"""Local workers forked from a copy of the controller (Linux).

A fresh popen worker spends most of its start-up importing pytest and its
plugins -- the import the controller has already done.  When the controller
reaches ``pytest_load_initial_conftests`` (before capturing starts, before
any conftest is imported, before any thread exists), it forks a *fork
server*: a copy of itself that has all of that imported and does nothing but
wait.  Each local popen worker is then a fork of the server, set up to look
like ``python -u -c <execnet bootstrap>`` started by :mod:`subprocess`:

* its stdin/stdout/stderr are the pipes the controller made for it, and no
  other file descriptor is open but those the server's Python objects own;
* its environment, working directory and umask are the controller's at the
  moment the worker is asked for; ``sys.argv`` is ``['-c']`` and
  ``__main__`` is an empty module; the std streams are rebuilt unbuffered
  (``-u``); import and line caches are dropped;
* signals are as in a fresh interpreter; it is in the controller's process
  group, so Ctrl-C reaches it as before;
* at the end it joins its threads, runs ``atexit`` handlers and flushes the
  std streams, then exits with the status the interpreter would have.

Workers are the server's children, so the server reaps them and sends each
exit status to the controller (:class:`ForkedProcess` is the ``Popen`` the
rest of xdist_c sees).  Signals go through a pidfd, which can never reach a
recycled pid.

It is used only where a fork gives what a spawn would: Linux with pidfds, no
thread but the main one, no tracer or profiler, interpreter flags and
``PYTHON*`` variables as a fresh ``python -u`` in this environment would
have, and plain ``popen`` specs of this interpreter.  What differs -- the
hash seed is the controller's, and plugins imported by the controller are
not imported again -- is in docs/differences.rst.  ``XDIST_C_FORKSERVER=0``
turns it off.
"""

from __future__ import annotations

import atexit
import builtins
import gc
import importlib
from importlib.machinery import BuiltinImporter
import io
import linecache
import marshal
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import types
from typing import Any

import pytest

ENV_SWITCH = "XDIST_C_FORKSERVER"
_STASH_KEY = pytest.StashKey["ForkServer | None"]()
# Largest request or reply (the environment); larger ones are refused.
_MAX_MESSAGE = 1 << 20
# The bootstrap execnet starts popen workers with (gateway_io.popen_args).
_BOOTSTRAP_LINE = "import sys;exec(eval(sys.stdin.readline()))"
# When the controller has gone: how long the server still reaps workers, and
# how long the controller waits for the server to exit.
_LAST_REAP_WAIT = 2.0
# How long the controller waits for the server to fork a worker (a few ms
# normally) before it kills the server and spawns workers instead.
_REPLY_TIMEOUT = 30.0
_SERVER_EXIT_WAIT = 3.0

_ENV_FLAGS = {
    # sys.flags attribute -> the variable that can set it without a
    # command-line option (None: only an option can).
    "debug": "PYTHONDEBUG",
    "inspect": "PYTHONINSPECT",
    "interactive": None,
    "optimize": "PYTHONOPTIMIZE",
    "dont_write_bytecode": "PYTHONDONTWRITEBYTECODE",
    "no_user_site": "PYTHONNOUSERSITE",
    "no_site": None,
    "ignore_environment": None,
    "verbose": "PYTHONVERBOSE",
    "bytes_warning": None,
    "quiet": None,
    "isolated": None,
    "safe_path": "PYTHONSAFEPATH",
}

# The PYTHON* variables when this module was first imported (by the plugin,
# early in the controller's start-up): a worker started later with others
# must be spawned, since they would change how its interpreter starts.
def _python_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith("PYTHON")}


_START_PYTHON_ENV = _python_env()


def _env_flag_value(name: str | None) -> int:
    """The value a fresh interpreter in this environment gives a flag."""
    if name is None:
        return 0
    value = os.environ.get(name, "")
    if not value:
        return 0
    try:
        return max(int(value), 1)
    except ValueError:
        return 1


def why_not_here() -> str | None:
    """Why a fork would not give what a spawned worker gets in this process
    (None: it would).  Checked in the controller before the server forks."""
    if os.environ.get(ENV_SWITCH, "1").strip().lower() in ("0", "no", "false", "off"):
        return f"{ENV_SWITCH} is off"
    if not sys.platform.startswith("linux") or not hasattr(os, "pidfd_open"):
        return "needs Linux with pidfd_open"
    if not hasattr(signal, "pidfd_send_signal") or not hasattr(os, "waitstatus_to_exitcode"):
        return "needs signal.pidfd_send_signal"
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        return "the kernel has no pidfd_open"
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return "cannot count threads"
    if len(tasks) != 1 or threading.active_count() != 1:
        return "the controller has threads"
    if _nested_run():
        return "pytest runs inside another pytest run"
    if sys.gettrace() is not None or sys.getprofile() is not None:
        return "a tracer or profiler is set"
    if sys._xoptions:
        return "-X options are set"
    for flag, env_name in _ENV_FLAGS.items():
        if getattr(sys.flags, flag, 0) != _env_flag_value(env_name):
            return f"interpreter flag {flag} was set on the command line"
    env_warnings = [w for w in os.environ.get("PYTHONWARNINGS", "").split(",") if w.strip()]
    if list(sys.warnoptions) != [w.strip() for w in env_warnings]:
        return "-W options are set"
    return None


def _nested_run() -> bool:
    """Whether another pytest run in this process has got further than this
    one (a top-level run forks before importing any conftest)."""
    from _pytest.assertion.rewrite import AssertionRewritingHook

    if sum(isinstance(f, AssertionRewritingHook) for f in sys.meta_path) > 1:
        return True
    for name, module in list(sys.modules.items()):
        if name == "conftest" or name.endswith(".conftest"):
            return True
        if os.path.basename(getattr(module, "__file__", None) or "") == "conftest.py":
            return True
    return False


def wanted(early_config: pytest.Config) -> bool:
    """Whether this run starts local popen workers of this interpreter.

    (A worker's own config says so too, and so does a run nested in a test
    process; :func:`why_not_here` rules those out: a worker has execnet's
    thread, a nested run finds conftests already imported.)"""
    ns = early_config.known_args_namespace
    if getattr(ns, "collectonly", False) or getattr(ns, "usepdb", False):
        return False
    if getattr(ns, "dist", "no") == "no" and not getattr(ns, "numprocesses", None):
        return False
    if getattr(ns, "numprocesses", None) not in (None, 0):
        return True
    return any(_is_plain_popen(spec) for spec in getattr(ns, "tx", None) or ())


def _is_plain_popen(spec: str) -> bool:
    parts = [p for p in spec.split("//") if p]
    head = parts[0].split("*", 1)[-1] if parts else ""
    if head != "popen":
        return False
    return not any(p.split("=", 1)[0] in ("python", "via") for p in parts[1:])


def start(early_config: pytest.Config) -> None:
    """Fork the server if this run wants one and may have one."""
    if not wanted(early_config):
        return
    if why_not_here() is not None:
        return
    try:
        server = ForkServer()
    except OSError:
        return
    early_config.stash[_STASH_KEY] = server
    early_config.add_cleanup(server.close)


def get(config: pytest.Config) -> ForkServer | None:
    server = config.stash.get(_STASH_KEY, None)
    return server if server is not None and server.alive else None


def forkable_args(args: list[str]) -> bool | None:
    """For execnet's popen args: None if they are not this interpreter's
    plain bootstrap, else whether ``-B`` is among them."""
    if not args or args[0] != sys.executable or args[-2:] != ["-c", _BOOTSTRAP_LINE]:
        return None
    middle = args[1:-2]
    if middle == ["-u"]:
        return False
    if middle == ["-u", "-B"]:
        return True
    return None


# ---------------------------------------------------------------- controller


class ForkServer:
    """The controller's end: asks for workers, collects their exit statuses."""

    def __init__(self) -> None:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()  # nothing buffered may be written twice
            except Exception:  # pragma: no cover - closed or odd streams
                pass
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the server (coverage is not there)
            code = 1
            try:
                ours.close()
                code = _Server(theirs).serve()
            finally:
                os._exit(code)
        theirs.close()
        self.pid = pid
        self._pidfd: int | None = os.pidfd_open(pid)
        self._sock = ours
        self._lock = threading.Lock()  # one request at a time
        self._replies: list[Any] = []
        self._reply_ready = threading.Condition()
        self._procs: dict[int, ForkedProcess] = {}
        self._exits: dict[int, int] = {}  # statuses of pids not yet registered
        self.alive = True
        self._reader = threading.Thread(target=self._read, name="xdist_c-forkserver", daemon=True)
        self._reader_started = False

    def _read(self) -> None:
        try:
            while True:
                msg, fds, _flags, _addr = socket.recv_fds(self._sock, _MAX_MESSAGE, 1)
                if not msg:
                    break
                reply = marshal.loads(msg)
                if reply[0] == "exit":
                    self._exited(reply[1], reply[2])
                    for fd in fds:
                        os.close(fd)
                else:
                    with self._reply_ready:
                        self._replies.append((reply, fds))
                        self._reply_ready.notify_all()
        except (OSError, ValueError, EOFError, TypeError):
            pass
        finally:
            self.alive = False
            with self._reply_ready:
                self._reply_ready.notify_all()
            for proc in list(self._procs.values()):
                proc._server_gone()

    def _exited(self, pid: int, returncode: int) -> None:
        with self._reply_ready:
            proc = self._procs.pop(pid, None)
            if proc is None:
                self._exits[pid] = returncode
        if proc is not None:
            proc._set_returncode(returncode)

    def spawn(self, dont_write_bytecode: bool) -> ForkedProcess | None:
        """A new worker process, or None if it must be spawned instead."""
        if not self.alive or _python_env() != _START_PYTHON_ENV:
            return None
        payload = marshal.dumps((os.getcwd(), dict(os.environ), _current_umask(), dont_write_bytecode))
        if len(payload) > _MAX_MESSAGE:
            return None
        r0, w0 = os.pipe()
        r1, w1 = os.pipe()
        r2, w2 = os.pipe()
        ours = [w0, r1, r2]
        try:
            with self._lock:
                if not self._reader_started:
                    self._reader.start()
                    self._reader_started = True
                try:
                    socket.send_fds(self._sock, [payload], [r0, w1, w2])
                except OSError:
                    return None
                answer = None
                deadline = time.monotonic() + _REPLY_TIMEOUT
                with self._reply_ready:
                    while not self._replies and self.alive and time.monotonic() < deadline:
                        self._reply_ready.wait(deadline - time.monotonic())
                    if self._replies:
                        answer = self._replies.pop(0)
                if answer is None:
                    if self.alive:  # no answer in time
                        self._give_up()
                    return None
                reply, fds = answer
            if reply[0] != "pid" or len(fds) != 1:
                for fd in fds:
                    os.close(fd)
                return None
            proc = ForkedProcess(reply[1], fds[0], w0, r1, r2)
            ours = []
            with self._reply_ready:
                returncode = self._exits.pop(proc.pid, None)
                if returncode is None:
                    self._procs[proc.pid] = proc
            if returncode is not None:
                proc._set_returncode(returncode)
            elif not self.alive:
                proc._server_gone()
            return proc
        finally:
            for fd in (r0, w1, w2, *ours):
                os.close(fd)

    def _give_up(self) -> None:
        """The server did not answer in time: kill it, so that nothing
        waits on it; workers are spawned from now on."""
        self.alive = False
        self._kill()

    def _kill(self) -> None:
        if self._pidfd is not None:
            try:
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
            except OSError:
                pass

    def close(self) -> None:
        """End the server (its workers are not touched) and reap it."""
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        if not self._reader_started:
            self._sock.close()
        if self._pidfd is not None:
            exited, _, _ = select.select([self._pidfd], [], [], _SERVER_EXIT_WAIT)
            if not exited:
                self._kill()
                select.select([self._pidfd], [], [], _SERVER_EXIT_WAIT)
            os.close(self._pidfd)
            self._pidfd = None
            try:
                os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped by someone else's wait()
                pass
        if self._reader_started:
            self._reader.join(2.0)
            self._sock.close()


def _current_umask() -> int:
    """The umask, read without setting it (another thread may be creating
    a file meanwhile); Linux >= 4.7 shows it in /proc."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class ForkedProcess:
    """What :class:`subprocess.Popen` offers execnet and xdist_c, for a
    worker forked by the server."""

    def __init__(self, pid: int, pidfd: int, stdin_fd: int, stdout_fd: int, stderr_fd: int) -> None:
        self.pid = pid
        self.args = ["<forked>"]
        self._pidfd: int | None = pidfd
        self.stdin = open(stdin_fd, "wb")
        self.stdout = open(stdout_fd, "rb")
        self.stderr = open(stderr_fd, "rb")
        self.returncode: int | None = None
        self._done = threading.Event()
        self._gone = False  # the server died: no status will come
        self._fd_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<ForkedProcess pid={self.pid} returncode={self.returncode}>"

    def _set_returncode(self, returncode: int) -> None:
        self.returncode = returncode
        self._done.set()
        self._close_pidfd()

    def _server_gone(self) -> None:
        self._gone = True
        self._done.set()

    def _close_pidfd(self) -> None:
        with self._fd_lock:
            if self._pidfd is not None:
                os.close(self._pidfd)
                self._pidfd = None

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        if not self._done.wait(timeout):
            raise subprocess.TimeoutExpired(self.args, timeout)  # type: ignore[arg-type]
        pidfd = self._pidfd
        if self.returncode is None and self._gone and pidfd is not None:
            # Orphaned when the server died: wait for the process itself
            # (its pidfd becomes readable when it exits); its status went to
            # whoever adopted it.  No status arrives now, so nothing closes
            # the pidfd meanwhile.
            exited, _, _ = select.select([pidfd], [], [], timeout)
            if not exited:
                raise subprocess.TimeoutExpired(self.args, timeout)  # type: ignore[arg-type]
        return self.returncode

    def send_signal(self, sig: int) -> None:
        with self._fd_lock:
            if self._pidfd is None:
                return
            try:
                signal.pidfd_send_signal(self._pidfd, sig)
            except ProcessLookupError:
                pass

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


# -------------------------------------------------------------------- server


class _Server:
    """Runs in the forked copy: forks workers on request, reports their
    exits.  Never returns into the pytest code it was forked from."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.children: set[int] = set()

    def serve(self) -> int:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the controller's to handle
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        signal.set_wakeup_fd(wake_w)
        self.wake = (wake_r, wake_w)
        # Not the controller's terminal or pipes: whoever waits for their
        # end of file must not wait for this process.
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.close(devnull)
        self._release_controller_fds(keep={0, 1, 2, self.sock.fileno(), wake_r, wake_w})
        poller = select.poll()
        poller.register(self.sock.fileno(), select.POLLIN)
        poller.register(wake_r, select.POLLIN)
        while True:
            try:
                events = poller.poll()
            except InterruptedError:  # pragma: no cover - PEP 475 retries
                continue
            for fd, _ in events:
                if fd == wake_r:
                    try:
                        os.read(wake_r, 4096)
                    except BlockingIOError:
                        pass
                    self._reap()
                elif not self._handle_request():
                    self._reap_last(_LAST_REAP_WAIT)
                    return 0

    def _release_controller_fds(self, keep: set[int]) -> None:
        """Let go of every descriptor the controller had open but ``keep``,
        so that no worker holds a file, pipe or socket of the controller's
        open (a spawned worker has none).  Those a copied Python object owns
        are pointed at /dev/null rather than closed: the object may close its
        number some day, which must not close whatever reused it."""
        owned = set()
        for obj in gc.get_objects():
            if isinstance(obj, (io.FileIO, socket.socket)):
                try:
                    fd = obj.fileno()
                except (OSError, ValueError):  # closed
                    continue
                if fd >= 0:
                    owned.add(fd)
        devnull = os.open(os.devnull, os.O_RDWR)
        try:
            for name in os.listdir("/proc/self/fd"):
                fd = int(name)
                if fd in keep or fd == devnull:
                    continue
                try:
                    if fd in owned:
                        os.dup2(devnull, fd)
                    else:
                        os.close(fd)
                except OSError:  # the listing's own descriptor, gone
                    pass
        finally:
            os.close(devnull)

    def _reap(self, report: bool = True) -> None:
        """Reap the workers that have exited, sending the controller their
        statuses if ``report``."""
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                return
            if pid == 0:
                return
            self.children.discard(pid)
            if report:
                self._send(("exit", pid, os.waitstatus_to_exitcode(status)))

    def _reap_last(self, wait: float) -> None:
        """The controller has gone: reap the workers that end within
        ``wait`` seconds (the others are left to init)."""
        deadline = time.monotonic() + wait
        while True:
            self._reap(report=False)
            if not self.children or time.monotonic() >= deadline:
                return
            time.sleep(0.005)

    def _send(self, reply: tuple[Any, ...], fds: list[int] | None = None) -> None:
        if fds:
            socket.send_fds(self.sock, [marshal.dumps(reply)], fds)
        else:
            self.sock.send(marshal.dumps(reply))

    def _handle_request(self) -> bool:
        try:
            msg, fds, _flags, _addr = socket.recv_fds(self.sock, _MAX_MESSAGE, 3)
        except OSError:
            return False
        if not msg:
            return False
        try:
            cwd, env, umask, dont_write_bytecode = marshal.loads(msg)
            if len(fds) != 3:
                raise ValueError(f"expected 3 descriptors, got {len(fds)}")
        except Exception as exc:
            for fd in fds:
                os.close(fd)
            self._send(("error", f"bad request: {exc}"))
            return True
        try:
            pid = os.fork()
        except OSError as exc:
            for fd in fds:
                os.close(fd)
            self._send(("error", f"fork failed: {exc}"))
            return True
        if pid == 0:
            code = 1
            try:
                code = self._become_worker(fds, cwd, env, umask, dont_write_bytecode)
            finally:
                os._exit(code)
        self.children.add(pid)
        for fd in fds:
            os.close(fd)
        try:
            pidfd = os.pidfd_open(pid)
        except OSError as exc:  # pragma: no cover - pidfd_open is there
            self._send(("error", f"pidfd_open failed: {exc}"))
            return True
        try:
            self._send(("pid", pid), [pidfd])
        finally:
            os.close(pidfd)
        return True

    # ------------------------------------------------------------ the worker

    def _become_worker(
        self, fds: list[int], cwd: str, env: dict[str, str], umask: int, dont_write_bytecode: bool
    ) -> int:
        """Turn this fresh fork into ``python -u -c <bootstrap>``; return its
        exit status."""
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for i, fd in enumerate(fds):
            os.dup2(fd, i, inheritable=True)
        for fd in {*fds, *self.wake, self.sock.fileno()}:
            if fd > 2:
                os.close(fd)
        self.sock.detach()
        os.umask(umask)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        # -B, or PYTHONDONTWRITEBYTECODE (why_not_here() saw the flag
        # agree with the environment).
        sys.dont_write_bytecode = dont_write_bytecode or bool(sys.flags.dont_write_bytecode)
        sys.argv[:] = ["-c"]
        _fresh_std_streams()
        _drop_controller_state()
        main = types.ModuleType("__main__")
        main.__dict__.update(__builtins__=builtins, __annotations__={}, __loader__=BuiltinImporter)
        sys.modules["__main__"] = main
        try:
            exec(_BOOTSTRAP_LINE, main.__dict__)
            code = 0
        except SystemExit as exc:
            code = _system_exit_code(exc)
        except BaseException as exc:
            sys.excepthook(type(exc), exc, exc.__traceback__)
            code = 1
            if isinstance(exc, KeyboardInterrupt):
                code = -signal.SIGINT
        return _finish(code)


def _fresh_std_streams() -> None:
    """sys.stdin/stdout/stderr as ``python -u`` makes them for pipes (the
    encoding and error handler are the controller's: the same environment
    gives the same)."""
    old = sys.__stdout__ or sys.stdout
    encoding = getattr(old, "encoding", None) or "utf-8"
    errors = getattr(old, "errors", None) or "strict"
    sys.stdin = sys.__stdin__ = io.TextIOWrapper(  # type: ignore[misc]
        io.open(0, "rb", closefd=False), encoding=encoding, errors=errors, newline="\n"
    )
    sys.stdout = sys.__stdout__ = io.TextIOWrapper(  # type: ignore[misc]
        io.open(1, "wb", buffering=0, closefd=False),
        encoding=encoding,
        errors=errors,
        newline="\n",
        write_through=True,
    )
    sys.stderr = sys.__stderr__ = io.TextIOWrapper(  # type: ignore[misc]
        io.open(2, "wb", buffering=0, closefd=False),
        encoding=encoding,
        errors="backslashreplace",
        newline="\n",
        write_through=True,
    )


def _drop_controller_state() -> None:
    """What the controller's start-up left that a fresh worker lacks."""
    from _pytest.assertion.rewrite import AssertionRewritingHook

    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, AssertionRewritingHook)]
    importlib.invalidate_caches()
    linecache.clearcache()


def _system_exit_code(exc: SystemExit) -> int:
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    try:
        sys.stderr.write(f"{code}\n")
    except Exception:  # pragma: no cover
        pass
    return 1


def _finish(code: int) -> int:
    """The end of ``Py_FinalizeEx`` that matters to a worker: threads joined,
    ``atexit`` handlers run, std streams flushed."""
    try:
        threading._shutdown()  # type: ignore[attr-defined]
    except BaseException:  # pragma: no cover
        pass
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    if code < 0:  # died of a signal in a fresh interpreter too
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    return code
