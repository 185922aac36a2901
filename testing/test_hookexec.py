"""Tests of xdist_c._core.HookExec (csrc/hookexec.c) and xdist_c/speedups/hookexec.py.

Each behaviour is checked against pluggy itself: the same plugin manager
set up twice, once with pluggy's ``_multicall`` and once with a HookExec,
must call the same implementations in the same order and give the same
results and errors.
"""

from __future__ import annotations

import gc
import weakref
from typing import Any

import pluggy
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from xdist_c import _core
from xdist_c._compat import pluggy as pluggy_compat
from xdist_c.speedups.hookexec import install

# The C fast path is only put in where pluggy has the shape it was checked
# on; elsewhere every call goes through pluggy and there is nothing to test.
pytestmark = pytest.mark.skipif(
    not pluggy_compat.hookexec_supported(),
    reason=f"pluggy {pluggy.__version__}: xdist-c's HookExec is not used (see xdist_c._compat.pluggy)",
)

hookspec = pluggy.HookspecMarker("hx")
hookimpl = pluggy.HookimplMarker("hx")


class Spec:
    @hookspec
    def hx_event(self, a: Any, b: Any) -> Any:  # type: ignore[empty-body]
        ...

    @hookspec(firstresult=True)
    def hx_first(self, a: Any) -> Any:  # type: ignore[empty-body]
        ...

    @hookspec(historic=True)
    def hx_history(self, a: Any) -> None: ...


def make_pm(*plugins: object, fast: bool) -> pluggy.PluginManager:
    pm = pluggy.PluginManager("hx")
    pm.add_hookspecs(Spec)
    for p in plugins:
        pm.register(p)
    if fast:
        install(pm)
        assert isinstance(pm._inner_hookexec, _core.HookExec)
    return pm


def both(make_plugins: Any) -> list[tuple[pluggy.PluginManager, list[Any]]]:
    """Two managers with fresh plugins (sharing a call log each)."""
    out = []
    for fast in (False, True):
        log: list[Any] = []
        out.append((make_pm(*make_plugins(log), fast=fast), log))
    return out


def outcome(func: Any) -> tuple[str, Any]:
    try:
        return ("ok", func())
    except BaseException as e:  # noqa: B036 - comparing what escapes
        return ("raised", (type(e), str(e)))


def plain_plugin(log: list[Any], tag: str, result: Any = None, raises: bool = False, **opts: Any) -> object:
    class P:
        @hookimpl(**opts)
        def hx_event(self, a: Any, b: Any) -> Any:
            log.append((tag, a, b))
            if raises:
                raise ValueError(tag)
            return result

        @hookimpl(**opts)
        def hx_first(self, a: Any) -> Any:
            log.append((tag, a))
            if raises:
                raise ValueError(tag)
            return result

    return P()


impl_strategy = st.tuples(
    st.sampled_from([None, 1, "x", 0, False]),  # result (None is skipped)
    st.booleans(),  # raises
    st.sampled_from([{}, {"tryfirst": True}, {"trylast": True}]),
)


@settings(max_examples=200, deadline=None)
@given(impls=st.lists(impl_strategy, max_size=8), first=st.booleans())
def test_same_calls_results_and_errors_as_pluggy(impls: list[Any], first: bool) -> None:
    def plugins(log: list[Any]) -> list[object]:
        return [plain_plugin(log, f"p{i}", result, raises, **opts) for i, (result, raises, opts) in enumerate(impls)]

    (slow, slow_log), (fast, fast_log) = both(plugins)
    if first:
        got = [outcome(lambda pm=pm: pm.hook.hx_first(a=1)) for pm in (slow, fast)]
    else:
        got = [outcome(lambda pm=pm: pm.hook.hx_event(a=1, b=2)) for pm in (slow, fast)]
    assert got[0] == got[1]
    assert slow_log == fast_log


def test_exception_propagates_as_the_same_object() -> None:
    err = KeyError("boom")

    class P:
        @hookimpl
        def hx_event(self, a: Any, b: Any) -> None:
            raise err

    pm = make_pm(P(), fast=True)
    with pytest.raises(KeyError) as excinfo:
        pm.hook.hx_event(a=1, b=2)
    assert excinfo.value is err


def test_arguments_by_name_and_subset() -> None:
    seen = []

    class OnlyB:
        @hookimpl
        def hx_event(self, b: Any) -> Any:
            seen.append(("b", b))
            return b

    class BA:
        @hookimpl
        def hx_event(self, b: Any, a: Any) -> Any:
            seen.append(("ba", b, a))
            return (b, a)

    pm = make_pm(OnlyB(), BA(), fast=True)
    assert pm.hook.hx_event(a="A", b="B") == [("B", "A"), "B"]
    assert seen == [("ba", "B", "A"), ("b", "B")]


def wrapper_plugins(log: list[Any]) -> list[object]:
    class Old:
        @hookimpl(hookwrapper=True)
        def hx_event(self, a: Any, b: Any) -> Any:
            log.append("old before")
            result = yield
            log.append(("old after", result.get_result()))

    class New:
        @hookimpl(wrapper=True)
        def hx_event(self, a: Any, b: Any) -> Any:
            log.append("new before")
            res = yield
            log.append(("new after", list(res)))
            return res + ["from new"]

    return [plain_plugin(log, "plain", 5), Old(), New()]


def test_wrappers_take_pluggys_path() -> None:
    (slow, slow_log), (fast, fast_log) = both(wrapper_plugins)
    assert slow.hook.hx_event(a=1, b=2) == fast.hook.hx_event(a=1, b=2) == [5, "from new"]
    assert slow_log == fast_log
    assert fast_log[0] in ("old before", "new before")


def test_missing_argument_is_pluggys_hookcallerror() -> None:
    def plugins(log: list[Any]) -> list[object]:
        class OnlyA:
            @hookimpl
            def hx_event(self, a: Any) -> int:
                log.append(("only a", a))
                return 1

        return [plain_plugin(log, "needs b", 2), OnlyA()]

    (slow, slow_log), (fast, fast_log) = both(plugins)
    errors = []
    for pm in (slow, fast):
        with pytest.warns(UserWarning, match="'b'"), pytest.raises(pluggy.HookCallError) as excinfo:
            pm.hook.hx_event(a=1)
        errors.append(str(excinfo.value))
    assert errors[0] == errors[1]
    # pluggy calls the implementations before the one that lacks its argument.
    assert slow_log == fast_log == [("only a", 1)]


def test_keyword_defaults_take_pluggys_path() -> None:
    class WithDefault:
        @hookimpl
        def hx_event(self, a: Any, b: Any = "default") -> Any:
            return (a, b)

    results = [make_pm(WithDefault(), fast=f).hook.hx_event(a=1, b=2) for f in (False, True)]
    assert results[0] == results[1]


def test_registering_during_a_call_affects_only_later_calls() -> None:
    log: list[Any] = []
    late = plain_plugin(log, "late", "late")

    class Registrar:
        @hookimpl(tryfirst=True)
        def hx_event(self, a: Any, b: Any) -> str:
            if not pm.is_registered(late):
                pm.register(late)
            return "registrar"

    pm = make_pm(Registrar(), fast=True)
    assert pm.hook.hx_event(a=1, b=2) == ["registrar"]
    assert pm.hook.hx_event(a=1, b=2) == ["registrar", "late"]


def test_relay_is_a_hook_call() -> None:
    log: list[Any] = []
    pm = make_pm(*wrapper_plugins(log), plain_plugin(log, "more", 6), fast=True)
    relay = install(pm)
    assert relay(pm.hook.hx_event, {"a": 1, "b": 2}) == pm.hook.hx_event(a=1, b=2)
    assert relay(pm.hook.hx_first, {"a": 1}) == 6
    plain = make_pm(plain_plugin(log, "x", 7), plain_plugin(log, "y", None), fast=True)
    log.clear()
    assert install(plain)(plain.hook.hx_event, {"b": 2, "a": 1}) == [7]
    assert log == [("y", 1, 2), ("x", 1, 2)]


def test_relay_goes_through_monitoring_added_later() -> None:
    pm = make_pm(plain_plugin([], "p", 3), fast=True)
    relay = install(pm)
    calls: list[Any] = []
    undo = pm.add_hookcall_monitoring(
        lambda name, impls, kwargs: calls.append(("before", name, dict(kwargs))),
        lambda outcome, name, impls, kwargs: calls.append(("after", name, outcome.get_result())),
    )
    assert relay(pm.hook.hx_event, {"a": 1, "b": 2}) == [3]
    assert calls == [("before", "hx_event", {"a": 1, "b": 2}), ("after", "hx_event", [3])]
    undo()
    assert isinstance(pm._inner_hookexec, _core.HookExec)


def test_relay_of_a_historic_hook_fails_as_pluggy_does() -> None:
    pm = make_pm(fast=True)
    relay = install(pm)
    with pytest.raises(AssertionError, match="historic"):
        relay(pm.hook.hx_history, {"a": 1})


def test_relay_without_a_spec_argument_warns_as_pluggy_does() -> None:
    pm = make_pm(fast=True)
    relay = install(pm)
    for call in (lambda: pm.hook.hx_event(a=1), lambda: relay(pm.hook.hx_event, {"a": 1})):
        with pytest.warns(UserWarning, match="'b'"):
            call()


def test_install_leaves_tracing_alone_and_is_idempotent() -> None:
    pm = make_pm(plain_plugin([], "p", 1), fast=False)
    pm.trace.root.setwriter(lambda text: None)
    pm.enable_tracing()
    traced = pm._inner_hookexec
    relay = install(pm)
    assert pm._inner_hookexec is traced
    assert relay(pm.hook.hx_event, {"a": 1, "b": 2}) == [1]

    fresh = make_pm(fast=False)
    first = install(fresh)
    hx = fresh._inner_hookexec
    install(fresh)
    assert fresh._inner_hookexec is hx
    assert first.__self__ is hx  # type: ignore[attr-defined]


def test_unusual_calls_go_to_the_fallback() -> None:
    calls = []

    def fallback(*args: Any, **kwargs: Any) -> str:
        calls.append((args, kwargs))
        return "fallback"

    hx = _core.HookExec(fallback)
    assert hx.fallback is fallback
    assert hx("h", [], {}, False) == []
    assert hx("h", [], {}, True) is None
    assert hx("h", [], {"a": 1}.items(), False) == "fallback"  # not a dict
    assert hx("h", []) == "fallback"  # not pluggy's call shape
    assert hx("h", [], {}, firstresult=False) == "fallback"
    assert len(calls) == 3
    with pytest.raises(TypeError):
        _core.HookExec(42)
    with pytest.raises(TypeError):
        hx.relay(object(), [])


def test_a_hookexec_in_a_cycle_is_collected() -> None:
    pm = make_pm(fast=True)
    hx = pm._inner_hookexec
    ref = weakref.ref(pm)
    del pm, hx
    gc.collect()
    assert ref() is None


def test_controller_runs_hooks_through_hookexec(pytester: pytest.Pytester) -> None:
    """In a `-n 2` run the controller's hooks go through HookExec, and its
    wrappers and plain implementations see every report, as in a serial run."""
    pytester.makeconftest(
        """
        import os
        import pytest

        seen = []

        @pytest.hookimpl(hookwrapper=True)
        def pytest_runtest_logreport(report):
            seen.append(("wrapper", report.nodeid, report.when))
            yield

        def pytest_runtest_logstart(nodeid, location):
            seen.append(("start", nodeid))

        def pytest_runtest_logfinish(nodeid, location):
            seen.append(("finish", nodeid))

        def pytest_report_teststatus(report, config):
            seen.append(("status", report.when))

        def pytest_sessionfinish(session):
            if os.environ.get("PYTEST_XDIST_WORKER"):
                return
            pm = session.config.pluginmanager
            with open("controller.txt", "w") as f:
                f.write(type(pm._inner_hookexec).__name__ + "\\n")
                f.write(repr(sorted(set(seen))) + "\\n")
                f.write(str(len(seen)) + "\\n")
        """
    )
    pytester.makepyfile("def test_a(): pass\ndef test_b(): pass\n")
    result = pytester.runpytest_subprocess("-n", "2")
    result.assert_outcomes(passed=2)
    kind, distinct, count = (pytester.path / "controller.txt").read_text().splitlines()
    assert kind == "HookExec"
    expected = set()
    for name in ("test_a", "test_b"):
        nodeid = f"test_controller_runs_hooks_through_hookexec.py::{name}"
        expected |= {("start", nodeid), ("finish", nodeid)}
        expected |= {("wrapper", nodeid, when) for when in ("setup", "call", "teardown")}
    expected |= {("status", when) for when in ("setup", "call", "teardown")}
    assert distinct == repr(sorted(expected))
    assert int(count) == 2 * (2 + 3 + 3)


def test_debug_tracing_keeps_pluggys_hookexec(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import os

        def pytest_sessionfinish(session):
            if not os.environ.get("PYTEST_XDIST_WORKER"):
                with open("controller.txt", "w") as f:
                    f.write(session.config.pluginmanager._inner_hookexec.__name__)
        """
    )
    pytester.makepyfile("def test_a(): pass\n")
    result = pytester.runpytest_subprocess("-n", "1", "--debug=debug.log")
    result.assert_outcomes(passed=1)
    assert (pytester.path / "controller.txt").read_text() == "traced_hookexec"
    assert "pytest_runtest_logreport" in (pytester.path / "debug.log").read_text()
