"""xdist_c.speedups.teardownindex: the controller's lookup of teardown reports."""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any

import pytest
from _pytest.terminal import TerminalReporter

from test_sourcecache import failures_section  # FAILURES lines, no [gwN] lines
from xdist_c.speedups.teardownindex import TeardownIndex
from xdist_c.speedups.teardownindex import install


class FakeReporter:
    def __init__(self) -> None:
        self.stats: dict[str, list[Any]] = {}

    def getreports(self, name: str) -> list[Any]:
        return [x for x in self.stats.get(name, ()) if not hasattr(x, "_pdbshown")]

    def scan(self, node_id: Any) -> list[Any]:  # what pytest does
        return [r for r in self.getreports("") if r.when == "teardown" and r.id == node_id]


def _rep(node_id: Any, when: str) -> SimpleNamespace:
    return SimpleNamespace(id=node_id, when=when)


def test_same_reports_in_the_same_order_as_pytest_s_scan() -> None:
    reporter = FakeReporter()
    reports = [_rep(f"t{i % 5}", when) for i in range(40) for when in ("setup", "teardown")]
    reporter.stats[""] = reports
    index = TeardownIndex(reporter, reporter.scan, "id")
    for i in range(6):
        found = index(f"t{i}")
        assert found == reporter.scan(f"t{i}")
        assert all(a is b for a, b in zip(found, reporter.scan(f"t{i}")))
    assert len(index("t0")) == 8 and index("t5") == []


def test_follows_reports_filed_later_and_pdbshown() -> None:
    reporter = FakeReporter()
    index = TeardownIndex(reporter, reporter.scan, "id")
    assert index("a") == []  # no "" reports at all yet
    first = _rep("a", "teardown")
    reporter.stats[""] = [first]
    assert index("a") == [first]
    second = _rep("a", "teardown")
    reporter.stats[""].append(second)
    assert index("a") == [first, second]
    reporter.stats[""] = [second]  # a new list of the same length
    assert index("a") == [second]
    # The caller may change what it gets back without changing the index.
    index("a").clear()
    assert index("a") == [second]
    second._pdbshown = True  # as getreports("") does
    assert index("a") == []


def test_unhashable_ids_go_to_pytest() -> None:
    reporter = FakeReporter()
    reporter.stats[""] = [_rep(["a"], "teardown")]
    index = TeardownIndex(reporter, reporter.scan, "id")
    assert index(["a"]) == reporter.stats[""]


def test_installed_on_pytest_s_reporter_only(pytestconfig: pytest.Config) -> None:
    reporter = TerminalReporter(pytestconfig, io.StringIO())
    install(reporter)
    installed = reporter._get_teardown_reports
    assert isinstance(installed, TeardownIndex)
    assert installed.key_attr in ("id", "nodeid")
    install(reporter)
    assert reporter._get_teardown_reports is installed

    other = TerminalReporter(pytestconfig, io.StringIO())
    replaced = lambda node_id: []  # noqa: E731
    other._get_teardown_reports = replaced  # type: ignore[method-assign]
    install(other)
    assert other._get_teardown_reports is replaced


def test_failure_sections_with_teardown_output_as_serial(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_td="""
        import pytest

        @pytest.fixture
        def noisy(request):
            yield
            print("teardown of", request.node.name)

        @pytest.mark.parametrize("i", range(8))
        def test_fails(noisy, i):
            assert i < 0

        @pytest.mark.parametrize("i", range(8))
        def test_passes(noisy, i):
            pass
        """
    )

    def failures(*args: str) -> list[str]:
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)
        result.assert_outcomes(failed=8, passed=8)
        return failures_section(result)

    serial = failures("-p", "no:xdist")
    assert sum("Captured stdout teardown" in line for line in serial) == 8
    assert failures("-n", "2", "--dist", "loadfile") == serial
