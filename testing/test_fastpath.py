"""The report shortcuts in xdist_c.speedups._fastpath give what pytest's own code gives."""

from __future__ import annotations

import pathlib

import pytest

from xdist_c.speedups._fastpath import parse_node_id
from xdist_c.speedups._fastpath import report_to_json

SUITE = """
    import pathlib
    import sys
    import pytest

    def test_pass():
        pass

    def test_fail():
        assert 1 == 2

    def test_output(record_property):
        print("out")
        sys.stderr.write("err")
        record_property("key", "value")

    @pytest.mark.skip(reason="no")
    def test_skip():
        pass

    @pytest.mark.xfail(reason="known")
    def test_xfail():
        assert 0

    @pytest.mark.xfail(reason="known")
    def test_xpass():
        pass

    @pytest.fixture
    def broken():
        raise RuntimeError("setup")

    def test_setup_error(broken):
        pass

    @pytest.mark.parametrize("x", ["a/b", "\\u00e9"])
    def test_param(x):
        pass

    class TestClass:
        def test_method(self):
            pass
"""


class _Collect:
    def __init__(self) -> None:
        self.reports: list[pytest.TestReport] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.reports.append(report)


def test_report_to_json_matches_pytest(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(SUITE)
    collector = _Collect()
    # (hypothesis's plugin, loaded again in-process, can refuse to start
    # when hypothesis was imported first: keep it out of this inner run)
    pytester.inline_run("-p", "no:xdist", "-p", "no:hypothesispytest", plugins=[collector])
    reports = collector.reports
    assert len(reports) == 8 * 3 + 2 * 2  # no call phase: the skipped test, the setup error
    # a report with an attribute pytest converts (a path) and one it blanks
    odd = reports[0]
    odd.extra_path = pathlib.Path("some/where")  # type: ignore[attr-defined]
    odd.result = object()  # type: ignore[attr-defined]
    kinds = set()
    for report in reports:
        fast = report_to_json(report)
        assert fast == report._to_json(), report
        assert list(fast) == list(report._to_json()), report
        kinds.add((report.when, report.outcome, type(report.longrepr).__name__))
    # every branch was exercised: plain, text and tuple longreprs, objects
    assert {"NoneType", "tuple", "ExceptionChainRepr"} <= {k[2] for k in kinds}


def test_report_to_json_does_not_share_the_report_dict(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_a(): pass")
    collector = _Collect()
    pytester.inline_run("-p", "no:xdist", "-p", "no:hypothesispytest", plugins=[collector])
    report = collector.reports[0]
    data = report_to_json(report)
    data["outcome"] = "changed"
    assert report.outcome == "passed"


@pytest.mark.skipif(parse_node_id is None, reason="pytest < 9.2 keeps nodeids as text")
def test_shared_node_id_gives_the_same_report() -> None:
    text = "tests/test_a.py::TestX::test_y[1-a]"
    node_id = parse_node_id(text)
    fields = dict(location=("tests/test_a.py", 3, "TestX.test_y[1-a]"), keywords={}, outcome="passed", longrepr=None)
    from_text = pytest.TestReport(nodeid=text, when="call", **fields)
    from_parsed = pytest.TestReport(nodeid=node_id, when="call", **fields)
    assert from_parsed.nodeid == from_text.nodeid == text
    assert from_parsed._to_json() == from_text._to_json()
