"""xdist_c.launch.launcher: the one place that decides how a worker starts.

Each run here is a real controller in a subprocess; it records, once each
worker is ready, how the launcher started it (``NodeManager.started``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from xdist_c.launch import forkserver
from xdist_c.launch import launcher

CONFTEST = """
import os

if not os.environ.get("PYTEST_XDIST_WORKER"):
    def pytest_testnodeready(node):
        with open(f"started-{node.gateway.id}.txt", "w") as f:
            f.write(node.nodemanager.started[node.gateway.id])
"""


def _run(pytester: pytest.Pytester, *args: str, forkserver_switch: str | None = None) -> dict[str, str]:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile("def test_a():\n    pass\n\ndef test_b():\n    pass\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST_")}
    # Hypothesis (a test dependency) is a plugin of its own: loaded in the
    # controller, it turns the fork server off (forkserver.foreign_plugin).
    env["PYTEST_ADDOPTS"] = "-p no:hypothesispytest"
    env.pop(forkserver.ENV_SWITCH, None)
    if forkserver_switch is not None:
        env[forkserver.ENV_SWITCH] = forkserver_switch
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", *args, "-p", "no:cacheprovider"],
        cwd=pytester.path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {p.stem[len("started-") :]: p.read_text() for p in pytester.path.glob("started-*.txt")}


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or not hasattr(os, "pidfd_open"),
    reason="the fork server needs Linux with pidfd_open",
)
def test_local_workers_are_forked(pytester: pytest.Pytester) -> None:
    assert _run(pytester, "-n", "2") == {"gw0": launcher.FORKED, "gw1": launcher.FORKED}


def test_without_the_fork_server_they_are_spawned(pytester: pytest.Pytester) -> None:
    assert _run(pytester, "-n", "2", forkserver_switch="0") == {"gw0": launcher.SPAWNED, "gw1": launcher.SPAWNED}


@pytest.mark.parametrize(
    ("tx", "local"),
    [
        ("popen", True),
        (f"popen//python={sys.executable}", True),
        ("popen//via=proxy", False),
        ("ssh=somehost", False),
        ("socket=127.0.0.1:8888", False),
    ],
)
def test_is_local(tx: str, local: bool) -> None:
    assert launcher.is_local(launcher.make_xspec(tx)) is local


def test_make_xspec() -> None:
    popen = launcher.make_xspec("popen")
    assert popen.execmodel == "main_thread_only"
    assert popen.chdir is None
    # A remote worker runs in a directory of its own unless told otherwise.
    assert launcher.make_xspec("ssh=somehost").chdir == "pyexecnetcache"
    assert launcher.make_xspec("ssh=somehost//chdir=there").chdir == "there"


class _Execmodel:
    """Stands in for execnet's execmodel: records the spawn."""

    def __init__(self) -> None:
        self.spawned: list[list[str]] = []
        self.subprocess = self

    def Popen(self, args: list[str], **kwargs: Any) -> str:  # noqa: N802 - subprocess's name
        self.spawned.append(args)
        return "a process"


class _Server:
    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.asked: list[bool] = []

    def spawn(self, dont_write_bytecode: bool) -> Any:
        self.asked.append(dont_write_bytecode)
        return self.answer


BOOTSTRAP = [sys.executable, "-u", "-c", forkserver._BOOTSTRAP_LINE]


def test_start_process_forks_where_the_server_takes_it() -> None:
    execmodel, server = _Execmodel(), _Server("forked process")
    assert launcher._start_process(BOOTSTRAP, execmodel, server) == ("forked process", launcher.FORKED)  # type: ignore[arg-type]
    assert server.asked == [False]
    assert execmodel.spawned == []


@pytest.mark.parametrize(
    ("args", "server", "asked"),
    [
        (BOOTSTRAP, None, None),  # no fork server in this run
        (BOOTSTRAP, _Server(None), [False]),  # it declined (the reason goes to -v)
        # Another python= (a local worker, but not this interpreter).
        (["/another/python", *BOOTSTRAP[1:]], _Server("unused"), []),
    ],
)
def test_start_process_spawns_otherwise(args: list[str], server: _Server | None, asked: list[bool] | None) -> None:
    execmodel = _Execmodel()
    assert launcher._start_process(args, execmodel, server) == ("a process", launcher.SPAWNED)  # type: ignore[arg-type]
    assert execmodel.spawned == [args]
    if server is not None:
        assert server.asked == asked


def test_importing_it_costs_no_execnet() -> None:
    """Every run imports the launcher (the plugin asks it to prepare the fork
    server), so it leaves execnet and the process module to the runs that
    start workers."""
    code = (
        "import sys, xdist_c.launch.launcher; print(sorted({'execnet', 'xdist_c.launch.process'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
