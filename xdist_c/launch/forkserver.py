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
``PYTHON*``/locale variables as a fresh ``python -u`` in this environment
would have, no descriptor the controller opened itself (a plugin's file or
database), and plain ``popen`` specs of this interpreter.  What differs -- the
hash seed is the controller's, and plugins imported by the controller are
not imported again -- is in docs/differences.rst.  ``XDIST_C_FORKSERVER=0``
turns it off.
"""

from __future__ import annotations

import atexit
import builtins
import gc
import importlib
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
import weakref
from importlib.machinery import BuiltinImporter
from typing import Any

# POSIX only; imported by every process (plugin, workers), used only where
# why_not_here() allowed a fork server (Linux).
try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
try:
    import resource
except ImportError:  # pragma: no cover - not on Linux
    resource = None  # type: ignore[assignment]

import pytest

from xdist_c._compat import pytest as pytest_compat
from xdist_c.speedups import exitgc
from xdist_c.speedups._fastpath import plugin_module

ENV_SWITCH = "XDIST_C_FORKSERVER"
_STASH_KEY = pytest.StashKey["ForkServer | None"]()
# Why this run has no fork server (see describe()).
_OFF_KEY = pytest.StashKey[str]()
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


# Variables a fresh interpreter reads only while it starts: PYTHON* (flags,
# sys.path, hash seed, ...) and the locale's (LC_CTYPE, encodings); and
# those the server's warm-up (_warm_up) read: EXECNET_* (execnet's import)
# and PATH (where ``uname`` is found).  A worker asked for while they differ
# from what the server started with must be spawned.  (TZ is read again in
# each forked worker: time.tzset().)
def _startup_env(env: Any = None) -> dict[str, str]:
    env = os.environ if env is None else env
    return {
        k: v for k, v in env.items() if k.startswith(("PYTHON", "LC_", "EXECNET_")) or k in ("LANG", "LANGUAGE", "PATH")
    }


def _initial_environ() -> dict[str, str] | None:
    """The environment this process was started with (None: unknown)."""
    try:
        with open("/proc/self/environ", "rb") as f:
            data = f.read()
    except OSError:
        return None
    env = {}
    for item in data.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            env[os.fsdecode(key)] = os.fsdecode(value)
    return env


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
    monitoring = getattr(sys, "monitoring", None)
    if monitoring is not None and any(monitoring.get_tool(i) for i in range(6)):
        return "a sys.monitoring tool is set"
    return _startup_state_changed() or _descriptor_opened()


def _utf8_mode_of_fresh_interpreter() -> int:
    """sys.flags.utf8_mode of ``python`` started in this environment (no
    -X option: why_not_here() checks that first)."""
    value = os.environ.get("PYTHONUTF8", "")
    if value in ("0", "1"):
        return int(value)
    for name in ("LC_ALL", "LC_CTYPE", "LANG"):
        locale_name = os.environ.get(name, "")
        if locale_name:
            return int(locale_name in ("C", "POSIX"))
    return 1


def _startup_state_changed() -> str | None:
    """Why what this interpreter read at its start differs from what a
    worker spawned now would read (None: it does not)."""
    if sys.flags.utf8_mode != _utf8_mode_of_fresh_interpreter():
        # The C locale: this interpreter turned UTF-8 mode on (and set
        # LC_CTYPE for its children, which then do not).
        return "UTF-8 mode differs from a spawned worker's (C locale at start-up)"
    initial = _initial_environ()
    if initial is not None:
        name = _first_change(_startup_env(initial), _startup_env())
        if name is not None:
            return f"{name} changed since the interpreter started"
    return None


def _first_change(was: dict[str, Any], now: dict[str, Any]) -> str | None:
    """The first key (in sorted order) whose value differs, or None."""
    for name in sorted(was.keys() | now.keys()):
        if was.get(name) != now.get(name):
            return name
    return None


def _descriptor_opened() -> str | None:
    """A descriptor (beyond 0, 1, 2) this process opened since it started,
    if any: a plugin's file, database or socket, which a forked worker would
    not have (the server lets go of them) and a spawned one opens itself.
    Descriptors opened since exec are close-on-exec (Python opens all its
    own so, and so do C libraries such as SQLite); those without the flag
    were inherited, and a spawned worker does not get them either."""
    try:
        fds = sorted(_open_descriptors())
    except OSError:
        return "cannot list the open file descriptors"
    for fd in fds:
        if fd <= 2:
            continue
        try:
            inherited = not fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        except OSError:  # pragma: no cover - closed meanwhile
            continue
        if not inherited:
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                target = "?"
            return f"a file descriptor ({fd} -> {target}) was open before the fork"
    return None


def _nested_run() -> bool:
    """Whether another pytest run in this process has got further than this
    one (a top-level run forks before importing any conftest)."""
    hook = pytest_compat.assertion_rewriting_hook_type()
    if hook is not None and sum(isinstance(f, hook) for f in sys.meta_path) > 1:
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
    if getattr(ns, "numprocesses", None) == "adaptive":
        from xdist_c.controller import adaptive

        return adaptive.likely_distributes(early_config)
    if getattr(ns, "numprocesses", None) not in (None, 0):
        return True
    return any(_is_plain_popen(spec) for spec in getattr(ns, "tx", None) or ())


def _is_plain_popen(spec: str) -> bool:
    parts = [p for p in spec.split("//") if p]
    head = parts[0].split("*", 1)[-1] if parts else ""
    if head != "popen":
        return False
    return not any(p.split("=", 1)[0] in ("python", "via") for p in parts[1:])


# Plugins a forked worker may share with the controller: pytest's own and
# xdist_c's, which keep nothing from before the fork that a worker reads.
_OWN_PLUGIN_MODULES = ("pytest", pytest_compat.PACKAGE, "xdist_c")


def foreign_plugin(pluginmanager: Any) -> str | None:
    """A plugin, not pytest's or xdist_c's, that pytest has loaded in this
    process: a worker forked from here would share the state its module
    built or changed here (counters, a pid or environment read at import,
    the options it added) where a spawned worker imports it afresh."""
    for name, plugin in pluginmanager.list_name_plugin():
        if plugin is None:  # blocked (-p no:NAME)
            continue
        module = plugin_module(plugin)
        if module == "__main__":
            # pytest.main(plugins=[obj]) from a script: no worker gets the
            # object, and a forked one starts with an empty __main__.
            continue
        if module.split(".", 1)[0] not in _OWN_PLUGIN_MODULES:
            return f"plugin {module!r} ({name}) is loaded in the controller"
    return None


def start(early_config: pytest.Config) -> None:
    """Fork the server if this run wants one and may have one."""
    if not wanted(early_config):
        early_config.stash[_OFF_KEY] = "no local popen workers"
        return
    reason = foreign_plugin(early_config.pluginmanager) or why_not_here()
    if reason is not None:
        early_config.stash[_OFF_KEY] = reason
        return
    try:
        server = ForkServer()
    except OSError as exc:
        early_config.stash[_OFF_KEY] = f"cannot fork: {exc}"
        return
    early_config.stash[_STASH_KEY] = server
    early_config.add_cleanup(server.close)


def get(config: pytest.Config) -> ForkServer | None:
    server = config.stash.get(_STASH_KEY, None)
    return server if server is not None and server.alive else None


def describe(config: pytest.Config) -> str:
    """One line for -v: whether workers are forked, and if not (or not
    all), why.  Counts the workers started so far."""
    server = config.stash.get(_STASH_KEY, None)
    if server is None:
        reason = config.stash.get(_OFF_KEY, None) or "not started"
        return f"fork server off: {reason}"
    line = "fork server on"
    if server.forked or server.spawned:
        line += f" ({server.forked} forked)"
    if server.spawned:
        counts: dict[str, int] = {}
        for why in server.spawned:
            counts[why] = counts.get(why, 0) + 1
        line += "; spawned instead: " + ", ".join(f"{n} ({why})" for why, n in counts.items())
    return line


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
        # What a worker inherits through exec, as the server has it: a
        # worker asked for after any of it changed is spawned.
        self._start_state = _inherited_state()
        self.forked = 0
        self.spawned: list[str] = []  # why each worker was spawned instead
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the server (coverage is not there)
            code = 1
            try:
                ours.close()
                code = _Server(theirs, self._start_state).serve()
            finally:
                os._exit(code)
        theirs.close()
        self.pid = pid
        self._pidfd: int | None = os.pidfd_open(pid)
        self._sock = ours
        # Requests are sent one at a time, each numbered (its ticket); the
        # server answers them in that order, so the n-th reply is ticket
        # n's, and W workers asked for at once are forked one right after
        # another rather than each after the previous one's answer.
        self._lock = threading.Lock()
        self._sent = 0
        self._answered = 0
        self._replies: dict[int, Any] = {}  # by ticket, until taken
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
                        self._replies[self._answered] = (reply, fds)
                        self._answered += 1
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
        """A new worker process, or None if it must be spawned instead (the
        reason is added to ``spawned``)."""
        proc = self._fork_worker(dont_write_bytecode)
        if isinstance(proc, str):
            self.spawned.append(proc)
            return None
        self.forked += 1
        return proc

    def _fork_worker(self, dont_write_bytecode: bool) -> ForkedProcess | str:
        if not self.alive:
            return "the fork server is gone"
        changed = _state_change(self._start_state, _inherited_state())
        if changed is not None:
            return changed
        cwd = os.getcwd()
        payload = marshal.dumps((cwd, dict(os.environ), _current_umask(), dont_write_bytecode))
        if len(payload) > _MAX_MESSAGE:
            return "the environment is too large"
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
                except OSError as exc:
                    return f"cannot reach the fork server: {exc}"
                ticket = self._sent
                self._sent += 1
            deadline = time.monotonic() + _REPLY_TIMEOUT
            with self._reply_ready:
                while ticket not in self._replies and self.alive and time.monotonic() < deadline:
                    self._reply_ready.wait(deadline - time.monotonic())
                answer = self._replies.pop(ticket, None)
            if answer is None:
                if self.alive:  # no answer in time
                    self._give_up()
                    return "the fork server did not answer"
                return "the fork server is gone"
            reply, fds = answer
            if reply[0] != "pid" or len(fds) != 1:
                for fd in fds:
                    os.close(fd)
                return str(reply[1]) if reply[0] == "error" else "bad reply from the fork server"
            proc = ForkedProcess(reply[1], fds[0], w0, r1, r2, cwd)
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


def _inherited_state() -> dict[str, Any]:
    """What a spawned worker gets from this process through exec and a fresh
    interpreter's start-up, beyond the environment, directory and umask
    sent with each request: start-up variables, resource limits, ignored
    signals, scheduling priority and CPU affinity."""
    ignored = []
    for sig in signal.valid_signals():
        try:
            if signal.getsignal(sig) == signal.SIG_IGN:
                ignored.append(int(sig))
        except (ValueError, OSError):  # pragma: no cover
            pass
    limits = {}
    for name in dir(resource) if resource is not None else ():
        if name.startswith("RLIMIT_"):
            try:
                limits[name] = resource.getrlimit(getattr(resource, name))
            except (ValueError, OSError):  # pragma: no cover
                pass
    state: dict[str, Any] = {"env": _startup_env(), "limits": limits, "ignored signals": ignored}
    try:
        state["priority"] = os.getpriority(os.PRIO_PROCESS, 0)
        state["CPU affinity"] = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover
        pass
    return state


def _state_change(was: dict[str, Any], now: dict[str, Any]) -> str | None:
    """Why a worker forked now would differ from one spawned now."""
    rest = ("ignored signals", "priority", "CPU affinity")
    for prefix, before, after in (
        ("", was["env"], now["env"]),
        ("resource limit ", was["limits"], now["limits"]),
        ("", {k: was.get(k) for k in rest}, {k: now.get(k) for k in rest}),
    ):
        name = _first_change(before, after)
        if name is not None:
            return f"{prefix}{name} changed since the fork server started"
    return None


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

    def __init__(self, pid: int, pidfd: int, stdin_fd: int, stdout_fd: int, stderr_fd: int, cwd: str) -> None:
        self.pid = pid
        self.args = ["<forked>"]
        self._pidfd: int | None = pidfd
        self.stdin = open(stdin_fd, "wb")  # noqa: SIM115 -- a Popen-like pipe, closed by its user
        self.stdout = open(stdout_fd, "rb")  # noqa: SIM115 -- a Popen-like pipe, closed by its user
        self.stderr = open(stderr_fd, "rb")  # noqa: SIM115 -- a Popen-like pipe, closed by its user
        self.returncode: int | None = None
        self.cwd = cwd  # the directory the worker starts in
        self._done = threading.Event()
        self._gone = False  # the server died: no status will come
        self._fd_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<ForkedProcess pid={self.pid} returncode={self.returncode}>"

    def interpreter_info(self) -> dict[str, Any]:
        """What execnet's ``rinfo`` asks a new worker for, as this one would
        answer before it runs anything: it is a copy of this interpreter,
        started in ``cwd``."""
        return {
            "executable": sys.executable,
            "version_info": tuple(sys.version_info[:5]),
            "platform": sys.platform,
            "cwd": self.cwd,
            "pid": self.pid,
        }

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

    def __init__(self, sock: socket.socket, start_state: dict[str, Any]) -> None:
        self.sock = sock
        self.children: set[int] = set()
        # A fresh interpreter leaves SIGINT ignored if it started so.
        self.sigint_ignored = signal.SIGINT in start_state["ignored signals"]

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
        _warm_up()
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
            if isinstance(obj, io.IOBase):
                # The controller's: a worker's exit does not close them.
                _PREFORK_IO.add(obj)
            if isinstance(obj, (io.FileIO, socket.socket)):
                try:
                    fd = obj.fileno()
                except (OSError, ValueError):  # closed
                    continue
                if fd >= 0:
                    owned.add(fd)
        devnull = os.open(os.devnull, os.O_RDWR)
        try:
            for fd in _open_descriptors():
                if fd in keep or fd == devnull:
                    continue
                try:
                    if fd in owned:
                        os.dup2(devnull, fd)
                    else:
                        os.close(fd)
                except OSError:  # pragma: no cover - closed meanwhile
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
        signal.signal(signal.SIGINT, signal.SIG_IGN if self.sigint_ignored else signal.default_int_handler)
        for i, fd in enumerate(fds):
            os.dup2(fd, i, inheritable=True)
        for fd in {*fds, *self.wake, self.sock.fileno()}:
            if fd > 2:
                os.close(fd)
        self.sock.detach()
        os.umask(umask)
        os.chdir(cwd)
        _undo_warm_up_if_shadowed(cwd)
        os.environ.clear()
        os.environ.update(env)
        if hasattr(time, "tzset"):
            time.tzset()  # TZ as a fresh interpreter reads it
        _worker_fds.update(_open_descriptors())
        exitgc.in_forked_worker = True  # _finish() does the exit's work
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
        open(0, "rb", closefd=False),  # noqa: SIM115 -- the new sys.std*
        encoding=encoding,
        errors=errors,
        newline="\n",
    )
    sys.stdout = sys.__stdout__ = io.TextIOWrapper(  # type: ignore[misc]
        open(1, "wb", buffering=0, closefd=False),  # noqa: SIM115 -- the new sys.std*
        encoding=encoding,
        errors=errors,
        newline="\n",
        write_through=True,
    )
    sys.stderr = sys.__stderr__ = io.TextIOWrapper(  # type: ignore[misc]
        open(2, "wb", buffering=0, closefd=False),  # noqa: SIM115 -- the new sys.std*
        encoding=encoding,
        errors="backslashreplace",
        newline="\n",
        write_through=True,
    )


def _drop_controller_state() -> None:
    """What the controller's start-up left that a fresh worker lacks."""
    hook = pytest_compat.assertion_rewriting_hook_type()
    if hook is not None:
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, hook)]
    importlib.invalidate_caches()
    linecache.clearcache()


def _warm_up() -> None:
    """Do once, in the server, what every worker does first and would give
    the same result in each: execnet's bootstrap imports execnet, the
    remote side imports :mod:`xdist_c.worker`, and the worker's ready
    message carries ``platform.platform()`` (which runs ``uname -p``).
    Workers forked afterwards find these done.  What they depend on is
    checked: the variables they read are among _startup_env()'s (a change
    spawns the worker), and a working directory with an execnet of its own
    undoes the imports (_undo_warm_up_if_shadowed)."""
    before = set(sys.modules)
    try:
        import platform

        platform.platform()
        import execnet  # noqa: F401 -- imported for the workers

        import xdist_c.worker  # noqa: F401
    except Exception:  # pragma: no cover - the workers will say what fails
        pass
    _WARM_MODULES.update(set(sys.modules) - before)


def _undo_warm_up_if_shadowed(cwd: str) -> None:
    """A spawned worker runs ``python -c``, whose ``sys.path`` starts with
    its working directory: where that holds an execnet, the bootstrap
    imports that one, so the modules the warm-up imported are dropped (and
    the exit handler execnet's import registered)."""
    if not any(os.path.exists(os.path.join(cwd, name)) for name in ("execnet", "execnet.py")):
        return
    from xdist_c._compat import execnet as execnet_compat

    execnet_compat.forget_default_group()
    for name in _WARM_MODULES:
        sys.modules.pop(name, None)


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


# The modules _warm_up() imported (filled in the server).
_WARM_MODULES: set[str] = set()
# The io objects the server inherited from the controller (filled in the
# server): a worker leaves them alone at exit.
_PREFORK_IO: weakref.WeakSet[io.IOBase] = weakref.WeakSet()


# The descriptors a forked worker had when it became one, and those xdist_c
# opened in it since (the event FIFO): at exit, any other open descriptor
# may be a file whose buffered writes must be flushed (see _finish).
_worker_fds: set[int] = set()


def own_descriptor(fd: int) -> None:
    """Tell a forked worker's exit that xdist_c opened ``fd`` itself (no
    Python file object buffers writes to it)."""
    _worker_fds.add(fd)


def _open_descriptors() -> set[int]:
    """This process's open descriptors (not the one used to list them)."""
    listing = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return {int(name) for name in os.listdir(listing)} - {listing}
    finally:
        os.close(listing)


def _other_descriptors_open() -> bool:
    try:
        return not _open_descriptors() <= _worker_fds
    except OSError:
        return True


def _std_stream_ids() -> set[int]:
    """The std streams and the layers under them (not the worker's to close)."""
    std: set[int] = set()
    for stream in (sys.stdin, sys.stdout, sys.stderr):
        # (a stream replaced by a plugin may name itself as its buffer)
        while stream is not None and id(stream) not in std:
            std.add(id(stream))
            try:
                stream = getattr(stream, "buffer", None) or getattr(stream, "raw", None)
            except Exception:  # detached, closed
                stream = None
    return std


def _finish(code: int) -> int:
    """The end of ``Py_FinalizeEx`` that matters to a worker: threads joined,
    ``atexit`` handlers run, std streams flushed, files the worker opened
    flushed and closed (the interpreter's teardown would close them)."""
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
    # Scanning the heap for files costs a tenth of a second on a big run:
    # not when no descriptor but the worker's own is open (no file the
    # worker opened is left open, so none holds unwritten data).
    if _other_descriptors_open():
        std = _std_stream_ids()
        exitgc.close_files(lambda f: id(f) not in std and f not in _PREFORK_IO)
    if code < 0:  # died of a signal in a fresh interpreter too
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    return code
