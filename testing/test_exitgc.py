"""The controller and the workers skip the interpreter's last collection
(xdist_c.speedups.exitgc), unless --full-exit-gc is given; serial pytest is left alone."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import pytest

from xdist_c.speedups import exitgc

# A plugin named with -p is imported before the entry points (xdist_c among
# them), so its atexit handler runs after xdist_c's: it sees whether the heap
# was frozen for the last collection.
#
# "Frozen" is relative to what the interpreter had frozen when the probe was
# imported: CPython 3.12.0/3.12.1 start with a few hundred objects in the
# permanent generation (gc.unfreeze() releases them), other versions with none.
PROBE = """
import atexit, gc, os

START = gc.get_freeze_count()

def _record():
    name = os.environ.get("PYTEST_XDIST_WORKER", "controller")
    path = os.path.join(os.environ["EXITGC_OUT"], name)
    with open(path, "w") as f:
        f.write(str(int(gc.get_freeze_count() > START)))

atexit.register(_record)
"""


def _frozen_at_exit(pytester: pytest.Pytester, *args: str) -> dict[str, bool]:
    pytester.makepyfile(exitprobe=PROBE, test_a="def test_one(): pass\ndef test_two(): pass\n")
    out = pytester.path / "exitgc-out"
    out.mkdir(exist_ok=True)
    for old in out.iterdir():
        old.unlink()
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


def test_controller_gc_keeps_what_it_relayed_frozen_until_thawed() -> None:
    from xdist_c.controller.dsession import ControllerGC

    start = gc.get_freeze_count()  # 0, or a few hundred on CPython 3.12.0/1
    controller_gc = ControllerGC()
    thresholds = gc.get_threshold()
    try:
        with controller_gc.relaying():
            at_start = gc.get_freeze_count()
            assert at_start > start
            assert gc.get_threshold() != thresholds
            relayed = [object() for _ in range(3)]  # noqa: F841
            kept = [[] for _ in range(1000)]  # tracked containers
        assert gc.get_threshold() == thresholds
        # The kept containers were frozen too (a few of the objects frozen
        # at the start may have been freed meanwhile).
        assert gc.get_freeze_count() > at_start + len(kept) // 2
    finally:
        controller_gc.thaw()
    assert gc.get_freeze_count() == 0
    controller_gc.thaw()  # a second time: nothing to do
    assert gc.get_freeze_count() == 0


def test_controller_heap_frozen_through_unconfigure_then_thawed(pytester: pytest.Pytester) -> None:
    """pytest's own full collections at unconfigure skip what the controller
    relayed; when pytest.main() returns nothing is left frozen."""
    pytester.makeconftest(
        """
        import gc, os

        def pytest_unconfigure(config):
            if not hasattr(config, "workerinput"):
                path = os.path.join(os.path.dirname(__file__), "frozen-at-unconfigure")
                with open(path, "w") as f:
                    f.write(str(gc.get_freeze_count()))
        """
    )
    pytester.makepyfile("def test_a(): pass\ndef test_b(): pass")
    start = gc.get_freeze_count()  # see test_controller_gc_keeps_...
    result = pytester.inline_run("-n", "2", "-p", "no:hypothesispytest", "-p", "no:cacheprovider")
    result.assertoutcome(passed=2)
    assert int((pytester.path / "frozen-at-unconfigure").read_text()) > start
    assert gc.get_freeze_count() == 0


def test_open_files_are_flushed_before_the_freeze(pytester: pytest.Pytester) -> None:
    """A worker's file kept on ``config`` (in reference cycles, so only the
    last collection would have closed it) is flushed; the heap is still
    frozen."""
    pytester.makeconftest(
        """
        import os

        def pytest_configure(config):
            worker = os.environ.get("PYTEST_XDIST_WORKER")
            if worker:
                config.xc_log = open(os.path.join(os.environ["EXITGC_OUT"], "..", f"log-{worker}"), "w")
                config.xc_log.write("one line\\n")
        """
    )
    pytester._monkeypatch.setenv("XDIST_C_FORKSERVER", "0")
    frozen = _frozen_at_exit(pytester, "-n", "2")
    assert frozen == {"controller": True, "gw0": True, "gw1": True}
    assert (pytester.path / "log-gw0").read_text() == (pytester.path / "log-gw1").read_text() == "one line\n"


FINALIZED_CONFTEST = """
import os

class Summary:
    def __init__(self, config):
        self.config = config  # a cycle: config -> summary -> config

    def __del__(self, open=open, os=os):  # builtins are gone by then
        name = os.environ.get("PYTEST_XDIST_WORKER", "controller")
        with open(os.path.join(os.environ["EXITGC_OUT"], "..", f"del-{name}"), "w") as f:
            f.write("finalized")

def pytest_configure(config):
    config.xc_summary = Summary(config)
"""


@pytest.mark.parametrize("switch", ["1", "0"])
def test_a_visible_finalizer_keeps_the_collection(pytester: pytest.Pytester, switch: str) -> None:
    """An object with ``__del__`` in a reference cycle at exit: the heap is
    not frozen, so the last collection calls it (in the controller and in
    spawned workers; a forked worker's exit has no collection)."""
    pytester.makeconftest(FINALIZED_CONFTEST)
    # What a run without xdist does here: on some Python and pytest
    # versions (3.9 with pytest 8.4) the interpreter's teardown never
    # reaches this cycle, so there is nothing to keep.
    _frozen_at_exit(pytester, "-p", "no:xdist")
    if not (pytester.path / "del-controller").exists():
        pytest.skip("a run without xdist does not finalize the cycle at exit either")
    (pytester.path / "del-controller").unlink()
    pytester._monkeypatch.setenv("XDIST_C_FORKSERVER", switch)
    frozen = _frozen_at_exit(pytester, "-n", "2")
    assert frozen["controller"] is False
    assert (pytester.path / "del-controller").read_text() == "finalized"
    if switch == "0":
        assert frozen == {"controller": False, "gw0": False, "gw1": False}
        assert (pytester.path / "del-gw0").exists() and (pytester.path / "del-gw1").exists()


def test_check_heap(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """What check_heap() makes of the objects gc.get_objects() lists (here
    a chosen few: a test runs inside suspended generators)."""
    heap: list[Any] = [object(), [], {}]
    monkeypatch.setattr(gc, "get_objects", lambda: list(heap))
    assert exitgc.check_heap() is None

    def gen() -> Any:
        try:
            yield 1
        finally:
            pass

    heap.append(gen())
    assert exitgc.check_heap() is None  # not started: closing it does nothing
    next(heap[-1])
    assert exitgc.check_heap() == "an object with a finalizer (builtins.generator) is alive"
    heap.pop().close()

    class Finalized:
        def __del__(self) -> None:
            pass

    heap.append(Finalized())
    assert exitgc.check_heap() == ("an object with __del__ (test_exitgc.test_check_heap.<locals>.Finalized) is alive")
    heap.pop()
    f = open(tmp_path / "buffered", "w")  # noqa: SIM115 -- left open on purpose
    heap.append(f)
    f.write("x")
    assert exitgc.check_heap() is None
    assert (tmp_path / "buffered").read_text() == "x"  # flushed
    f.close()
    import gzip

    with gzip.open(tmp_path / "z.gz", "wb") as z:
        heap.append(z)
        assert exitgc.check_heap() == "a file of class gzip.GzipFile is open"
    assert exitgc.check_heap() is None  # closed
    finalizer = weakref.finalize(f, lambda: None)
    finalizer.atexit = False
    try:
        assert exitgc.check_heap() == "a weakref.finalize() not run at exit is pending"
    finally:
        finalizer.detach()


def test_describe(monkeypatch: pytest.MonkeyPatch, pytestconfig: pytest.Config) -> None:
    monkeypatch.setattr(pytestconfig.option, "full_exit_gc", True)
    assert exitgc.describe(pytestconfig) == "exit-time GC freeze off: --full-exit-gc"
    monkeypatch.setattr(pytestconfig.option, "full_exit_gc", False)
    monkeypatch.setattr(exitgc, "_freeze_at_exit", False)
    assert exitgc.describe(pytestconfig) == "exit-time GC freeze off: not a distributed run"
    monkeypatch.setattr(exitgc, "_freeze_at_exit", True)
    assert exitgc.describe(pytestconfig).startswith("exit-time GC freeze on")
