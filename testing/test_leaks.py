"""Leak tests of xdist_c._core: each check runs in its own interpreter.

The checks live in ``testing/isolated/leaks.py`` (run one by hand with
``python testing/isolated/leaks.py codec``).  A fresh process per check, as
multidict does, keeps the caches and free lists that one check fills from
hiding or faking another's leak.  Together they make a few hundred thousand
encode / decode / pump / scheduler calls; each compares allocated blocks,
gc-tracked objects, the RSS and the reference counts of the module's types
before and after its cycles.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from xdist_c import _core

SCRIPT = Path(__file__).parent / "isolated" / "leaks.py"

CHECKS = [
    "codec",  # 100,000 encode + decode cycles (frames and values)
    "buffers",  # FrameWriter batching, memoryview / bytearray input
    "rollback",  # FrameWriter.add() failing half-way, dumps() failing
    "decode_errors",  # every kind of malformed frame and value
    "pump",  # Pump with feeders: frames, garbage, endmarker, cycles
    "stream",  # Pump.attach_stream: whole, split and malformed frames
    "load",  # LoadScheduler subclass: full runs with crashes, mismatches
    "load_plain",  # LoadScheduler itself
    "each",  # EachScheduler: full runs with crashes and replacements
    "loadscope",  # ScopeScheduler by class, file and @group: full runs
    "loadfile",  #   with crashes and replacements
    "loadgroup",
    "worksteal",  # WorkStealScheduler: full runs with steals and crashes
    "hookexec",  # HookExec: plain, wrapped, raising and relayed hook calls
]


def run_check(name: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    # pymalloc, so that sys.getallocatedblocks() counts (the sanitizer run
    # sets PYTHONMALLOC=malloc for ASan)
    env.pop("PYTHONMALLOC", None)
    return subprocess.run(
        [sys.executable, str(SCRIPT), name],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


@pytest.mark.parametrize("name", CHECKS)
def test_no_leak(name: str) -> None:
    if name == "stream" and not hasattr(_core.Pump, "attach_stream"):
        pytest.skip("no event pipes on this platform")
    proc = run_check(name)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith(f"ok {name}:"), proc.stdout


def test_a_leak_is_caught() -> None:
    """The checks are not vacuous: a FrameWriter kept per cycle fails."""
    proc = run_check("selftest")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.startswith("LEAK selftest:"), proc.stdout
    assert "allocated blocks grew" in proc.stdout
    assert "gc objects grew" in proc.stdout
    assert "'FrameWriter'" in proc.stdout  # its type's refcount moved
