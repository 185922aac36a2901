"""The portable path: local workers' events over their execnet channel.

On Linux a local popen worker writes its event frames to a FIFO the
controller's pump polls (xdist_c.controller.workermanage.NodeManager.event_pipe);
macOS and Windows have no FIFO, and their workers' events travel over the
execnet channel.  ``XDIST_C_FIFO=0`` takes that path on Linux too, so that
``XDIST_C_FORKSERVER=0 XDIST_C_FIFO=0 pytest testing -n 2`` (tox -e
portable) runs the suite as macOS and Windows run it.

Each run here is a real controller in a subprocess; the switch is set (or
cleared) explicitly, so these tests mean the same under tox -e portable.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from xdist_c.controller.workermanage import FIFO_SWITCH
from xdist_c.controller.workermanage import fifo_off_reason

# The controller records, once each worker is ready, how many streams its
# pump reads (the FIFOs attached to it).
CONFTEST = """
import json
import os

if not os.environ.get("PYTEST_XDIST_WORKER"):
    def pytest_testnodeready(node):
        pump = node.config.pluginmanager.getplugin("dsession").pump
        with open(f"streams-{node.gateway.id}.json", "w") as f:
            json.dump(pump.nstreams, f)
"""

# Each worker records the FIFOs it has open (Linux: /proc/self/fd), and
# whether it can still see the event FIFO path it was given.
FIFO_TEST = """
import json
import os
import stat

def _fifos():
    found = []
    if not os.path.isdir("/proc/self/fd"):
        return None
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
            mode = os.stat(f"/proc/self/fd/{name}").st_mode
        except OSError:
            continue
        # anonymous pipes (execnet's stdin/stdout) read as "pipe:[N]"
        if stat.S_ISFIFO(mode) and target.startswith("/"):
            found.append(target)
    return found

def test_record(worker_id):
    with open(f"fifos-{worker_id}.json", "w") as f:
        json.dump(_fifos(), f)

def test_more():
    pass
"""


def _run(pytester: pytest.Pytester, switch: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST_")}
    env.pop(FIFO_SWITCH, None)
    if switch is not None:
        env[FIFO_SWITCH] = switch
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "each", "-v", "-p", "no:cacheprovider"],
        cwd=pytester.path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _recorded(pytester: pytest.Pytester, prefix: str) -> dict[str, object]:
    return {p.stem[len(prefix) :]: json.loads(p.read_text()) for p in pytester.path.glob(f"{prefix}*.json")}


@pytest.mark.parametrize("switch", ["0", "off", "false", "no"])
def test_switch_off(monkeypatch: pytest.MonkeyPatch, switch: str) -> None:
    monkeypatch.setenv(FIFO_SWITCH, switch)
    assert fifo_off_reason() == f"{FIFO_SWITCH} is off"


@pytest.mark.parametrize("switch", [None, "1", ""])
def test_switch_on(monkeypatch: pytest.MonkeyPatch, switch: str | None) -> None:
    if switch is None:
        monkeypatch.delenv(FIFO_SWITCH, raising=False)
    else:
        monkeypatch.setenv(FIFO_SWITCH, switch)
    expected = None if sys.platform.startswith("linux") else "needs Linux"
    assert fifo_off_reason() == expected


@pytest.mark.parametrize("switch", ["0", None])
def test_events_route(pytester: pytest.Pytester, switch: str | None) -> None:
    """With the switch off no FIFO is made: the pump reads no stream, no
    worker holds a FIFO, and every event still arrives (over the
    channel).  With it on (Linux), each worker writes to its own FIFO."""
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_fifo=FIFO_TEST)
    result = _run(pytester, switch)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    # every event made it to the controller: 2 tests on each of 2 workers
    assert "4 passed" in out, out
    streams = _recorded(pytester, "streams-")
    fifos = _recorded(pytester, "fifos-")
    assert sorted(streams) == sorted(fifos) == ["gw0", "gw1"]
    fifo_on = switch is None and sys.platform.startswith("linux")
    if fifo_on:
        # set up concurrently: by a worker's ready, the other's may be there too
        assert all(n in (1, 2) for n in streams.values()), streams
        names = []
        for paths in fifos.values():
            assert isinstance(paths, list) and len(paths) == 1, fifos
            names.append(os.path.basename(paths[0]))
        assert sorted(names) == ["events-0", "events-1"], fifos
        assert "event FIFOs on (2)" in out
    else:
        assert set(streams.values()) == {0}
        for paths in fifos.values():
            assert not paths  # [] on Linux, None where there is no /proc
        if switch is not None:
            assert f"event FIFOs off: {FIFO_SWITCH} is off" in out
        else:
            assert "event FIFOs off: needs Linux" in out


IMPORT_WITHOUT_POSIX = """
import importlib
import pkgutil
import sys
from typing import Any

import execnet
import pytest

# What Windows lacks.  Blocked once pytest is imported (that is pytest's own
# business): every module of xdist_c and xdist must import without them.
for name in ("fcntl", "resource", "termios", "pwd", "grp", "pty", "tty", "syslog"):
    sys.modules[name] = None

import xdist
import xdist_c

for package in (xdist_c, xdist):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(info.name)

from xdist_c.launch import forkserver
from xdist_c.controller import workermanage

# And on such a platform neither Linux path is taken.
sys.platform = "win32"
assert forkserver.why_not_here() is not None
assert workermanage.fifo_off_reason() is not None
print("ok")
"""


def test_imports_without_posix_only_modules(tmp_path: Any) -> None:
    """Windows has no fcntl, resource, termios, ...: the plugin and the
    worker side still import (they reach for those only on the Linux fork
    server's path)."""
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_WITHOUT_POSIX], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "ok"
