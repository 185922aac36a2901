"""Local workers forked from the fork server (xdist_c/launch/forkserver.py).

Each run here is a real controller in a subprocess.  A test in the workers
records what its process looks like (``facts-<worker>.json``): its parent,
``sys.argv``, ``__main__``, its environment, umask, open descriptors, flags.
The controller's conftest records the controller's pid.  With the server on,
the workers' parent is the server, itself a child of the controller; with
``XDIST_C_FORKSERVER=0``, or wherever a fork would not give what a spawn
gives, the workers' parent is the controller.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest

from xdist_c.launch import forkserver

pytestmark = [
    pytest.mark.skipif(
        not sys.platform.startswith("linux") or not hasattr(os, "pidfd_open"),
        reason="the fork server needs Linux with pidfd_open",
    ),
    # tox -e portable / CI's portable job: the suite as macOS and Windows
    # run it, which have no fork server (its absence is what the rest of
    # the suite tests there).
    pytest.mark.skipif(
        os.environ.get(forkserver.ENV_SWITCH, "1").strip().lower() in ("0", "no", "false", "off"),
        reason=f"{forkserver.ENV_SWITCH}=0: the portable path has no fork server",
    ),
]
RUN_TIMEOUT = 90

CONFTEST = """
import os
import json

if not os.environ.get("PYTEST_XDIST_WORKER"):
    with open("controller.json", "w") as f:
        json.dump({"pid": os.getpid()}, f)
    # After the server forked: the workers must still see these.
    os.environ["XC_SET_BY_CONFTEST"] = "late"
    os.umask(0o027)
"""

FACTS_TEST = """
import json
import os
import sys

def _parent_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])

def _inodes():
    for fd in os.listdir("/proc/self/fd"):
        try:
            yield os.fstat(int(fd)).st_ino
        except OSError:
            pass

def test_facts(worker_id):
    umask = os.umask(0)
    os.umask(umask)
    facts = {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "grandparent": _parent_of(os.getppid()),
        "argv": sys.argv,
        "main": sorted(vars(sys.modules["__main__"])),
        "late": os.environ.get("XC_SET_BY_CONFTEST"),
        "umask": umask,
        "fds": sorted(int(fd) for fd in os.listdir("/proc/self/fd")),
        "inodes": sorted(_inodes()),
        "optimize": sys.flags.optimize,
        "dont_write_bytecode": sys.dont_write_bytecode,
        "stdout_write_through": sys.__stdout__.write_through,
    }
    with open(f"facts-{worker_id}.json", "w") as f:
        json.dump(facts, f)
"""


# Hypothesis (a test dependency) is a plugin of its own: loaded in the
# controller, it turns the fork server off (forkserver.foreign_plugin).
NO_OTHER_PLUGINS = "-p no:hypothesispytest"


def _child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without the outer run's worker variables or a
    PYTHONDONTWRITEBYTECODE of the developer's shell, without Hypothesis's
    plugin, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST_") and k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTEST_ADDOPTS"] = f"{env.get('PYTEST_ADDOPTS', '')} {NO_OTHER_PLUGINS}".strip()
    return {**env, **(extra or {})}


def _run(
    pytester: pytest.Pytester, *args: str, env: dict[str, str] | None = None, **kw: Any
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=pytester.path,
        env=_child_env(env),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        **kw,
    )


def _facts(pytester: pytest.Pytester) -> tuple[int, dict[str, dict[str, Any]]]:
    controller = json.loads((pytester.path / "controller.json").read_text())["pid"]
    facts = {p.stem[len("facts-") :]: json.loads(p.read_text()) for p in pytester.path.glob("facts-*.json")}
    return controller, facts


@pytest.fixture
def facts_suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_facts=FACTS_TEST)
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    return pytester


def _pytest_args(*extra: str) -> list[str]:
    # --dist each: every worker runs test_facts.
    return ["-m", "pytest", "-n", "2", "--dist", "each", *extra]


def test_workers_are_forked_from_the_server(facts_suite: pytest.Pytester) -> None:
    result = _run(facts_suite, *_pytest_args())
    assert result.returncode == 0, result.stdout + result.stderr
    controller, facts = _facts(facts_suite)
    assert sorted(facts) == ["gw0", "gw1"]
    servers = {f["ppid"] for f in facts.values()}
    assert len(servers) == 1 and controller not in servers
    assert {f["grandparent"] for f in facts.values()} == {controller}
    for f in facts.values():
        # What a spawned ``python -u -c <bootstrap>`` has.
        assert f["argv"] == ["-c"]
        assert "pytest" not in " ".join(f["main"])
        assert f["stdout_write_through"] is True
        # Set by the controller's conftest, after the server forked.
        assert f["late"] == "late"
        assert f["umask"] == 0o027
    # The server is gone once the run is over.
    (server,) = servers
    with pytest.raises(ProcessLookupError):
        os.kill(server, 0)


@pytest.mark.parametrize(("spec", "expected"), [("popen", False), ("popen//dont_write_bytecode", True)])
def test_dont_write_bytecode_as_spawned(facts_suite: pytest.Pytester, spec: str, expected: bool) -> None:
    """``//dont_write_bytecode`` starts a worker with ``-B``; a forked one
    gets the same setting."""
    result = _run(facts_suite, "-m", "pytest", "--dist", "each", "--tx", f"2*{spec}")
    assert result.returncode == 0, result.stdout + result.stderr
    controller, facts = _facts(facts_suite)
    assert sorted(facts) == ["gw0", "gw1"]
    assert controller not in {f["ppid"] for f in facts.values()}
    assert {f["dont_write_bytecode"] for f in facts.values()} == {expected}


def test_switched_off_workers_are_spawned(facts_suite: pytest.Pytester) -> None:
    result = _run(facts_suite, *_pytest_args(), env={"XDIST_C_FORKSERVER": "0"})
    assert result.returncode == 0, result.stdout + result.stderr
    controller, facts = _facts(facts_suite)
    assert sorted(facts) == ["gw0", "gw1"]
    assert {f["ppid"] for f in facts.values()} == {controller}
    assert all(f["late"] == "late" and f["umask"] == 0o027 for f in facts.values())


def test_a_changed_python_variable_means_a_spawn(facts_suite: pytest.Pytester) -> None:
    facts_suite.makeconftest(CONFTEST + '\nos.environ.setdefault("PYTHONXCFORKTEST", "1")\n')
    result = _run(facts_suite, *_pytest_args())
    assert result.returncode == 0, result.stdout + result.stderr
    controller, facts = _facts(facts_suite)
    assert {f["ppid"] for f in facts.values()} == {controller}


def test_a_stuck_server_is_killed_and_workers_spawned(facts_suite: pytest.Pytester) -> None:
    facts_suite.makeconftest(
        CONFTEST
        + """
import signal

def pytest_configure(config):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    from xdist_c.launch import forkserver

    server = forkserver.get(config)
    with open("server.json", "w") as f:
        json.dump({"pid": server.pid}, f)
    forkserver._REPLY_TIMEOUT = 1.0
    os.kill(server.pid, signal.SIGSTOP)
"""
    )
    start = time.monotonic()
    result = _run(facts_suite, *_pytest_args())
    assert result.returncode == 0, result.stdout + result.stderr
    assert time.monotonic() - start < RUN_TIMEOUT / 2
    controller, facts = _facts(facts_suite)
    assert sorted(facts) == ["gw0", "gw1"]
    assert {f["ppid"] for f in facts.values()} == {controller}
    server = json.loads((facts_suite.path / "server.json").read_text())["pid"]
    with pytest.raises(ProcessLookupError):
        os.kill(server, 0)


def test_command_line_flags_mean_a_spawn(facts_suite: pytest.Pytester) -> None:
    # pytest-xdist's workers do not get the controller's -O; forks would.
    result = _run(facts_suite, "-O", *_pytest_args())
    assert result.returncode == 0, result.stdout + result.stderr
    controller, facts = _facts(facts_suite)
    assert {f["ppid"] for f in facts.values()} == {controller}
    assert {f["optimize"] for f in facts.values()} == {0}


def test_inherited_descriptors_are_not_passed_on(facts_suite: pytest.Pytester) -> None:
    read_end, write_end = os.pipe()
    # A number no worker would use by itself (and that is free here).
    high = fcntl.fcntl(write_end, fcntl.F_DUPFD, 90)
    try:
        result = _run(facts_suite, *_pytest_args(), pass_fds=(high,))
    finally:
        for fd in (high, read_end, write_end):
            os.close(fd)
    assert result.returncode == 0, result.stdout + result.stderr
    controller, facts = _facts(facts_suite)
    assert controller not in {f["ppid"] for f in facts.values()}
    assert all(high not in f["fds"] for f in facts.values())


def test_controller_sockets_are_not_held_by_workers(facts_suite: pytest.Pytester) -> None:
    """A socket a plugin opened in the controller before the server would
    fork (its module would not be imported again in a forked worker): the
    workers are spawned, and do not hold it."""
    facts_suite.makepyfile(
        holdsock="""
        import json
        import os
        import socket

        if not os.environ.get("PYTEST_XDIST_WORKER"):
            PAIR = socket.socketpair()
            with open("controller-sockets.json", "w") as f:
                json.dump([os.fstat(s.fileno()).st_ino for s in PAIR], f)
        """
    )
    result = _run(facts_suite, *_pytest_args("-p", "holdsock"))
    assert result.returncode == 0, result.stdout + result.stderr
    controller, facts = _facts(facts_suite)
    assert {f["ppid"] for f in facts.values()} == {controller}
    sockets = set(json.loads((facts_suite.path / "controller-sockets.json").read_text()))
    assert len(sockets) == 2
    for f in facts.values():
        assert not sockets & set(f["inodes"])


@pytest.mark.parametrize("switch", ["1", "0"])
def test_exit_statuses_reach_the_crash_report(pytester: pytest.Pytester, switch: str) -> None:
    pytester.makepyfile(
        test_crash="""
        import ctypes
        import os

        def test_segv(worker_id):
            if worker_id == "gw0":
                ctypes.string_at(0)

        def test_exit(worker_id):
            if worker_id == "gw1":
                os._exit(3)
        """
    )
    result = _run(
        pytester,
        "-m",
        "pytest",
        "-n",
        "2",
        "--dist",
        "each",
        "-p",
        "no:cacheprovider",
        env={"XDIST_C_FORKSERVER": switch},
    )
    assert result.returncode == 1
    out = result.stdout
    assert "worker 'gw0' crashed while running 'test_crash.py::test_segv' (killed by signal SIGSEGV)" in out
    assert "worker 'gw1' crashed while running 'test_crash.py::test_exit' (exit code 3)" in out


def test_workers_asked_for_at_once_each_get_their_own_process(pytester: pytest.Pytester) -> None:
    """Requests to the server overlap (one per worker, from several
    threads) and are answered in order: each worker's process is its own,
    so each exit status reaches the report of the worker that exited."""
    pytester.makepyfile(
        test_exits="""
        import os

        def test_exit(worker_id):
            os._exit(10 + int(worker_id[2:]))
        """
    )
    result = _run(pytester, "-m", "pytest", "-n", "6", "--dist", "each", "-p", "no:cacheprovider", "-v")
    assert result.returncode == 1
    for i in range(6):
        assert f"worker 'gw{i}' crashed while running 'test_exits.py::test_exit' (exit code {10 + i})" in result.stdout
    assert "fork server on (6 forked)" in result.stdout


RINFO_CONFTEST = """
import json

def pytest_testnodedown(node, error):
    cached = vars(node.gateway._rinfo())
    asked = vars(node.gateway._rinfo(update=True))  # the worker's own answer
    with open(f"rinfo-{node.gateway.id}.json", "w") as f:
        json.dump({"cached": cached, "asked": asked}, f)
"""


@pytest.mark.parametrize("chdir", [None, "elsewhere"])
def test_a_forked_workers_interpreter_info_is_its_own(pytester: pytest.Pytester, chdir: str | None) -> None:
    """execnet's ``rinfo`` of a forked worker is filled in without asking
    it (asked where ``//chdir=`` moves it); what the worker answers when
    asked is the same."""
    pytester.makeconftest(RINFO_CONFTEST)
    pytester.makepyfile("def test_one(): pass")
    spec = "2*popen" if chdir is None else f"2*popen//chdir={pytester.path / chdir}"
    args = [
        "-m",
        "pytest",
        "--tx",
        spec,
        "--dist",
        "load",
        "-p",
        "no:cacheprovider",
        "-v",
        "--rootdir",
        str(pytester.path),
    ]
    result = _run(pytester, *args, str(pytester.path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "fork server on (2 forked)" in result.stdout
    for gw in ("gw0", "gw1"):
        seen = json.loads((pytester.path / f"rinfo-{gw}.json").read_text())
        assert seen["cached"] == seen["asked"]
        assert seen["cached"]["cwd"] == str(pytester.path / (chdir or ""))


def test_server_killed_mid_run_loses_nothing(pytester: pytest.Pytester) -> None:
    after = "".join(f"\ndef test_after_{i}():\n    pass\n" for i in range(20))
    pytester.makepyfile(
        test_kill=textwrap.dedent(
            """
            import os
            import signal

            def test_kill_server():
                os.kill(os.getppid(), signal.SIGKILL)
            """
        )
        + after
    )
    result = _run(pytester, "-m", "pytest", "-n", "2", "-p", "no:cacheprovider", "-v")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "21 passed" in result.stdout
    passed = [line for line in result.stdout.splitlines() if " PASSED " in line]
    assert len(passed) == 21 == len({line.split(" PASSED ")[1].strip() for line in passed})


def test_sigint_reaches_forked_workers(pytester: pytest.Pytester) -> None:
    """Ctrl-C (SIGINT to the process group) interrupts forked workers
    like spawned ones: the run stops, reports the interruption, leaves
    nothing running."""
    pytester.makepyfile(
        test_slow="""
        import os, time

        def test_slow(worker_id):
            with open(f"started-{worker_id}", "w") as f:
                f.write(str(os.getpid()))
            time.sleep(60)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "each", "-p", "no:cacheprovider"],
        cwd=pytester.path,
        env=_child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = 60.0
        start = time.monotonic()
        while len(list(pytester.path.glob("started-*"))) < 2:
            assert time.monotonic() - start < deadline, "workers did not start"
            assert proc.poll() is None
            time.sleep(0.05)
        workers = [int(p.read_text()) for p in pytester.path.glob("started-*")]
        os.killpg(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=RUN_TIMEOUT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert "KeyboardInterrupt" in out
    assert proc.returncode == 2
    for pid in workers:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


# ----------------------------------------------------------------- pieces


@pytest.mark.parametrize(
    ("spec", "plain"),
    [
        ("popen", True),
        ("3*popen", True),
        ("popen//env:A=1", True),
        ("popen//chdir=/tmp", True),
        ("popen//python=python3", False),
        ("popen//via=socket=1.2.3.4:8888", False),
        ("ssh=host", False),
        ("socket=1.2.3.4:8888", False),
    ],
)
def test_plain_popen_specs(spec: str, plain: bool) -> None:
    assert forkserver._is_plain_popen(spec) is plain


def test_forkable_args() -> None:
    line = forkserver._BOOTSTRAP_LINE
    assert forkserver.forkable_args([sys.executable, "-u", "-c", line]) is False
    assert forkserver.forkable_args([sys.executable, "-u", "-B", "-c", line]) is True
    assert forkserver.forkable_args(["/other/python", "-u", "-c", line]) is None
    assert forkserver.forkable_args([sys.executable, "-u", "-c", "print(1)"]) is None


def test_not_in_a_process_with_threads_or_conftests() -> None:
    # This test runs in a worker (execnet's threads) or in a pytest run that
    # has imported testing/conftest.py: no fork here, either way.
    assert forkserver.why_not_here() is not None
    assert forkserver._nested_run()


def test_switch_values(monkeypatch: pytest.MonkeyPatch) -> None:
    for value in ("0", "off", "false", "no", " OFF "):
        monkeypatch.setenv(forkserver.ENV_SWITCH, value)
        assert forkserver.why_not_here() == f"{forkserver.ENV_SWITCH} is off"


# ------------------------------------------- what a fork would carry over


DESCRIBE_CONFTEST = """
import os

def pytest_sessionfinish(session):
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        from xdist_c.launch import forkserver

        with open("describe.txt", "w") as f:
            f.write(forkserver.describe(session.config))
"""

PARAM_TESTS = """
import pytest

@pytest.mark.parametrize("i", range(12))
def test_x(i):
    pass
"""


def _run_describing(pytester: pytest.Pytester, *args: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run ``-n 2`` with the case's directory on PYTHONPATH (its -p plugins,
    sitecustomize); return the run and what ``forkserver.describe()`` said."""
    pytester.makeconftest(DESCRIBE_CONFTEST)
    result = _run(
        pytester,
        *("-m", "pytest", "-n", "2", *args, "-p", "no:cacheprovider"),
        env={"PYTHONPATH": str(pytester.path)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result, (pytester.path / "describe.txt").read_text()


def test_descriptor_opened_by_a_plugin_means_a_spawn(pytester: pytest.Pytester) -> None:
    """A -p plugin that opened a database and a log file when imported: a
    forked worker would find them pointed at /dev/null (``disk I/O error``,
    lines lost); spawned workers open their own."""
    pytester.makepyfile(
        dbplugin="""
        import os
        import sqlite3

        HERE = os.path.dirname(os.path.abspath(__file__))
        DB = sqlite3.connect(os.path.join(HERE, "results.db"))
        DB.execute("create table if not exists r (nodeid text)")
        DB.commit()
        LOG = open(os.path.join(HERE, "log.txt"), "a")

        def pytest_runtest_logreport(report):
            if report.when == "call" and os.environ.get("PYTEST_XDIST_WORKER"):
                DB.execute("insert into r values (?)", (report.nodeid,))
                DB.commit()
                LOG.write(report.nodeid + "\\n")
                LOG.flush()
        """,
        test_params=PARAM_TESTS,
    )
    result, describe = _run_describing(pytester, "-p", "dbplugin")
    assert "12 passed" in result.stdout
    assert len((pytester.path / "log.txt").read_text().splitlines()) == 12
    import sqlite3
    from contextlib import closing

    # (a connection's "with" commits but does not close: Python 3.13 warns)
    with closing(sqlite3.connect(pytester.path / "results.db")) as db:
        assert db.execute("select count(*) from r").fetchone() == (12,)
    assert describe.startswith("fork server off: plugin 'dbplugin' (dbplugin) is loaded in the controller")


def test_descriptor_opened_at_start_up_means_a_spawn(pytester: pytest.Pytester) -> None:
    """A sitecustomize that opens a file when the interpreter starts (a
    coverage or logging hook): each spawned worker opens its own; a forked
    one would find it pointed at /dev/null."""
    pytester.makepyfile(
        sitecustomize="""
        import os
        LOG = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "started.txt"), "a")
        LOG.write(f"{os.getpid()}\\n")
        LOG.flush()
        """,
        test_params=PARAM_TESTS,
    )
    _, describe = _run_describing(pytester)
    assert describe.startswith("fork server off: a file descriptor (")
    assert "was open before the fork" in describe
    # the controller and two spawned workers each started
    assert len((pytester.path / "started.txt").read_text().splitlines()) == 3


def test_a_plugin_loaded_in_the_controller_means_a_spawn(pytester: pytest.Pytester) -> None:
    """A plugin's module state (here a count of pytest_addoption calls) is
    its own in each spawned worker; a forked worker would share the
    controller's."""
    pytester.makepyfile(
        countplugin="""
        import os
        CALLS = []

        def pytest_addoption(parser):
            CALLS.append(os.getpid())

        def pytest_report_header(config):
            pass
        """,
        test_count="""
        import countplugin

        def test_count():
            assert len(countplugin.CALLS) == 1
        """,
    )
    _, describe = _run_describing(pytester, "-p", "countplugin")
    assert describe.startswith("fork server off: plugin 'countplugin' (countplugin)")


@pytest.mark.parametrize("switch", ["1", "0"])
def test_files_a_worker_opened_are_flushed_at_exit(pytester: pytest.Pytester, switch: str) -> None:
    """A conftest's file kept on ``config`` (in reference cycles), written
    without flushing: its lines are there when the run is over, whether the
    worker was forked or spawned."""
    pytester.makeconftest(
        """
        import os
        import pytest

        def pytest_configure(config):
            worker = os.environ.get("PYTEST_XDIST_WORKER")
            if worker:
                config.xc_log = open(f"log-{worker}.txt", "w")

        @pytest.fixture(autouse=True)
        def _log(request):
            yield
            request.config.xc_log.write(request.node.nodeid + "\\n")
        """
    )
    pytester.makepyfile(test_params=PARAM_TESTS)
    result = _run(pytester, *_pytest_args("-p", "no:cacheprovider"), env={"XDIST_C_FORKSERVER": switch})
    assert result.returncode == 0, result.stdout + result.stderr
    lines = {p.name: len(p.read_text().splitlines()) for p in pytester.path.glob("log-*.txt")}
    assert lines == {"log-gw0.txt": 12, "log-gw1.txt": 12}


TZ_TEST = """
import json
import os
import time

def test_tz(worker_id):
    with open(f"tz-{worker_id}.json", "w") as f:
        json.dump({"tzname": list(time.tzname), "ppid": os.getppid()}, f)
"""


@pytest.mark.parametrize("when", ["conftest-import", "conftest-configure", "plugin-import"])
def test_tz_set_before_workers_start_reaches_them(pytester: pytest.Pytester, when: str) -> None:
    """pytest-env style: TZ set before the workers start (in a conftest,
    after the server forked; or by a -p plugin, which means spawned
    workers); workers see it as spawned ones would."""
    set_tz = 'os.environ["TZ"] = "Asia/Tokyo"'
    args = ["-p", "no:cacheprovider"]
    env = {"TZ": "UTC"}
    if when == "plugin-import":
        pytester.makepyfile(tzplugin=f"import os\n{set_tz}\n")
        pytester.makeconftest(CONFTEST)
        args += ["-p", "tzplugin"]
        env["PYTHONPATH"] = str(pytester.path)
    elif when == "conftest-import":
        pytester.makeconftest(CONFTEST + set_tz + "\n")
    else:
        pytester.makeconftest(CONFTEST + f"def pytest_configure(config):\n    {set_tz}\n")
    pytester.makepyfile(test_tz=TZ_TEST)
    result = _run(pytester, *_pytest_args(*args), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    controller = json.loads((pytester.path / "controller.json").read_text())["pid"]
    seen = [json.loads(p.read_text()) for p in pytester.path.glob("tz-*.json")]
    assert len(seen) == 2
    assert all(s["tzname"] == ["JST", "JST"] for s in seen)
    forked = when != "plugin-import"
    assert all((s["ppid"] != controller) == forked for s in seen)


def test_a_changed_locale_variable_means_a_spawn(facts_suite: pytest.Pytester) -> None:
    facts_suite.makeconftest(
        CONFTEST + DESCRIBE_CONFTEST + '\ndef pytest_configure(config):\n    os.environ["LC_ALL"] = "C"\n'
    )
    result = _run(facts_suite, *_pytest_args(), env={"LC_ALL": "C.UTF-8"})
    assert result.returncode == 0, result.stdout + result.stderr
    controller, facts = _facts(facts_suite)
    assert {f["ppid"] for f in facts.values()} == {controller}
    describe = (facts_suite.path / "describe.txt").read_text()
    assert describe == "fork server on (0 forked); spawned instead: 2 (LC_ALL changed since the fork server started)"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        # Read by execnet's import, which the server did in its warm-up.
        ("EXECNET_XC_TEST", "1"),
        # Where platform.platform() found ``uname`` in the warm-up.
        ("PATH", os.environ["PATH"] + os.pathsep + "/nonexistent-xc"),
    ],
)
def test_a_variable_the_warm_up_read_means_a_spawn(facts_suite: pytest.Pytester, name: str, value: str) -> None:
    facts_suite.makeconftest(
        CONFTEST + DESCRIBE_CONFTEST + f"\ndef pytest_configure(config):\n    os.environ[{name!r}] = {value!r}\n"
    )
    result = _run(facts_suite, *_pytest_args())
    assert result.returncode == 0, result.stdout + result.stderr
    controller, facts = _facts(facts_suite)
    assert {f["ppid"] for f in facts.values()} == {controller}
    describe = (facts_suite.path / "describe.txt").read_text()
    assert describe == f"fork server on (0 forked); spawned instead: 2 ({name} changed since the fork server started)"


WARM_UP_UNDONE = """
import sys
from xdist_c.launch import forkserver

before = set(sys.modules)
forkserver._warm_up()
warmed = set(sys.modules) - before
# What execnet's exit handler does, made visible.
sys.modules["execnet.multi"].Group.terminate = lambda self, timeout=None: print("execnet's exit handler ran")
forkserver._undo_warm_up_if_shadowed(sys.argv[1])
print(sorted(warmed & {"execnet", "execnet.multi", "xdist_c.worker"}))
print(sorted(warmed & set(sys.modules)))
"""


@pytest.mark.parametrize("shadow", ["execnet", "execnet.py", None])
def test_warm_up_is_undone_where_the_directory_has_an_execnet(tmp_path: Any, shadow: str | None) -> None:
    """A spawned worker's ``python -c`` imports execnet from its working
    directory first: there a forked worker drops what the server imported
    (and the exit handler execnet registered) so that its bootstrap imports
    again."""
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    if shadow == "execnet":
        (workdir / "execnet").mkdir()
    elif shadow == "execnet.py":
        (workdir / "execnet.py").write_text("")
    # Run from a directory of its own: ``-c`` puts the working directory
    # first on sys.path, and this checkout's xdist_c may not be built.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", WARM_UP_UNDONE, str(workdir)],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        env=_child_env(),
        cwd=elsewhere,
    )
    assert result.returncode == 0, result.stderr
    warmed, left, *at_exit = result.stdout.splitlines()
    assert warmed == "['execnet', 'execnet.multi', 'xdist_c.worker']"
    if shadow is None:
        assert left != "[]" and at_exit == ["execnet's exit handler ran"]
    else:
        assert left == "[]" and at_exit == []


def test_a_changed_resource_limit_means_a_spawn(facts_suite: pytest.Pytester) -> None:
    """A conftest lowering a limit after the server forked: spawned workers
    inherit it, forked ones would not."""
    facts_suite.makeconftest(
        CONFTEST
        + """
import resource

if not os.environ.get("PYTEST_XDIST_WORKER"):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft - 1, hard))
"""
    )
    result = _run(facts_suite, *_pytest_args())
    assert result.returncode == 0, result.stdout + result.stderr
    controller, facts = _facts(facts_suite)
    assert {f["ppid"] for f in facts.values()} == {controller}


def test_descriptors_at_start(facts_suite: pytest.Pytester) -> None:
    """A plain controller has no descriptor of its own open when the
    server forks: the describe line says it is on."""
    facts_suite.makeconftest(CONFTEST + DESCRIBE_CONFTEST)
    result = _run(facts_suite, *_pytest_args())
    assert result.returncode == 0, result.stdout + result.stderr
    assert (facts_suite.path / "describe.txt").read_text() == "fork server on (2 forked)"


def test_describe_without_a_server(pytestconfig: pytest.Config) -> None:
    # This run forked no server here (it runs in a worker, or nested).
    assert forkserver.describe(pytestconfig).startswith("fork server off: ")


def test_which_plugins_make_the_server_step_aside() -> None:
    """pytest's and xdist_c's own plugins, and objects a script passed to
    pytest.main(plugins=...) (no worker gets them), keep the fork server;
    any other plugin module or object turns it off."""
    import types

    from _pytest.config import PytestPluginManager

    pm = PytestPluginManager()
    assert forkserver.foreign_plugin(pm) is None  # pytest's own
    from_script = type("FromScript", (), {"__module__": "__main__"})()
    pm.register(from_script, "from-script")
    assert forkserver.foreign_plugin(pm) is None
    pm.register(types.ModuleType("someplugin"), "some")
    assert forkserver.foreign_plugin(pm) == "plugin 'someplugin' (some) is loaded in the controller"
    pm.unregister(name="some")
    pm.set_blocked("other")  # a blocked name holds None
    assert forkserver.foreign_plugin(pm) is None
    from_lib = type("FromLib", (), {"__module__": "somelib.plugin"})()
    pm.register(from_lib, "lib")
    assert forkserver.foreign_plugin(pm) == "plugin 'somelib.plugin' (lib) is loaded in the controller"
