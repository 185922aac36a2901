"""The controller and the workers skip the interpreter's last collection
(xdist_c.exitgc), unless --full-exit-gc is given; serial pytest is left alone."""

from __future__ import annotations

import gc

import pytest

from xdist_c import exitgc

# A plugin named with -p is imported before the entry points (xdist_c among
# them), so its atexit handler runs after xdist_c's: it sees whether the heap
# was frozen for the last collection.
PROBE = """
import atexit, gc, os

def _record():
    name = os.environ.get("PYTEST_XDIST_WORKER", "controller")
    path = os.path.join(os.environ["EXITGC_OUT"], name)
    with open(path, "w") as f:
        f.write(str(gc.get_freeze_count()))

atexit.register(_record)
"""


def _frozen_at_exit(pytester: pytest.Pytester, *args: str) -> dict[str, bool]:
    pytester.makepyfile(exitprobe=PROBE, test_a="def test_one(): pass\ndef test_two(): pass\n")
    out = pytester.mkdir("exitgc-out")
    pytester._monkeypatch.setenv("EXITGC_OUT", str(out))
    result = pytester.runpytest_subprocess("-p", "exitprobe", "-p", "no:cacheprovider", *args)
    result.assert_outcomes(passed=2)
    return {p.name: int(p.read_text()) > 0 for p in out.iterdir()}


def test_controller_and_workers_freeze_the_heap_at_exit(pytester: pytest.Pytester) -> None:
    assert _frozen_at_exit(pytester, "-n", "2") == {"controller": True, "gw0": True, "gw1": True}


def test_full_exit_gc_keeps_the_last_collection(pytester: pytest.Pytester) -> None:
    frozen = _frozen_at_exit(pytester, "-n", "2", "--full-exit-gc")
    assert frozen == {"controller": False, "gw0": False, "gw1": False}


@pytest.mark.parametrize("args", [(), ("-n", "0"), ("-p", "no:xdist")])
def test_serial_runs_are_left_alone(pytester: pytest.Pytester, args: tuple[str, ...]) -> None:
    assert _frozen_at_exit(pytester, *args) == {"controller": False}


def test_handler_follows_the_last_session(monkeypatch: pytest.MonkeyPatch, pytestconfig: pytest.Config) -> None:
    monkeypatch.setattr(exitgc, "_freeze_at_exit", False)
    monkeypatch.setattr(pytestconfig.option, "full_exit_gc", False)
    exitgc.skip_exit_collection(pytestconfig)
    assert exitgc._freeze_at_exit is True
    monkeypatch.setattr(pytestconfig.option, "full_exit_gc", True)
    exitgc.skip_exit_collection(pytestconfig)
    assert exitgc._freeze_at_exit is False
    before = gc.get_freeze_count()
    exitgc._freeze_heap()  # not wanted: does nothing
    assert gc.get_freeze_count() == before
