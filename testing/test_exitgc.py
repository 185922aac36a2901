"""The controller and the workers skip the interpreter's last collection
(xdist_c.exitgc), unless --full-exit-gc is given; serial pytest is left alone."""

from __future__ import annotations

import gc

import pytest

from xdist_c import exitgc

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


def test_controller_gc_keeps_what_it_relayed_frozen_until_thawed() -> None:
    from xdist_c.dsession import ControllerGC

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
