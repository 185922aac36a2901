"""Nothing is lost or invented on the way from the workers.

For every distribution mode, a suite with every kind of outcome gives under
``-n 2`` exactly what the serial run gives: the same reports on the
controller, the same junitxml test cases, the same warnings and the same
summary (twice each with ``--dist each``, where every worker runs every
test).  A worker that sends garbage is stopped and replaced, and everything
it reported before is kept.
"""

from __future__ import annotations

import json
import re
import textwrap
import xml.etree.ElementTree as ET
from collections import Counter
from collections import defaultdict
from typing import Any

import pytest

from xdist_c.controller.scheduler import SCHEDULERS

MODES = sorted(SCHEDULERS)


def copies_of(mode: str) -> int:
    return 2 if mode == "each" else 1


SUITE_CONFTEST = """
    import pytest

    @pytest.fixture
    def broken_setup():
        raise RuntimeError("setup broke")

    @pytest.fixture
    def broken_teardown():
        yield
        raise RuntimeError("teardown broke")
"""

SUITE_MAIN = """
    import sys, warnings, pytest

    def test_pass():
        print("some output")
        sys.stderr.write("some error output\\n")

    def test_fail():
        print("output before failing")
        assert 0, "failed"

    def test_skip():
        pytest.skip("skipped at run time")

    @pytest.mark.skip(reason="marked skip")
    def test_skip_mark():
        pass

    @pytest.mark.xfail(reason="expected to fail")
    def test_xfail():
        assert 0

    @pytest.mark.xfail(reason="passes anyway")
    def test_xpass():
        pass

    @pytest.mark.xfail(strict=True, reason="strict")
    def test_xpass_strict():
        pass

    def test_setup_error(broken_setup):
        pass

    def test_teardown_error(broken_teardown):
        print("passing, then the teardown breaks")

    def test_fail_and_teardown_error(broken_teardown):
        assert 0, "fails, and so does the teardown"

    def test_warnings():
        warnings.warn(UserWarning("careful"))
        warnings.warn(DeprecationWarning("old stuff"))

    def test_property(record_property):
        record_property("answer", "42")

    @pytest.mark.parametrize("i", range(6))
    def test_param(i):
        print("param", i)
        assert i % 3

    class TestClass:
        def test_method(self):
            pass

        def test_method_fails(self):
            assert False
"""

SUITE_OTHER = """
    import pytest

    def test_other_pass():
        pass

    @pytest.mark.parametrize("i", range(4))
    def test_other_param(i):
        if i == 2:
            pytest.skip("two")
"""


def make_suite(pytester: pytest.Pytester) -> None:
    # In-process, the serial run would inherit this test run's warning
    # filters ("error"); the workers would not.
    pytester.makeini("[pytest]\nfilterwarnings = default\n")
    pytester.makeconftest(textwrap.dedent(SUITE_CONFTEST))
    pytester.makepyfile(test_main=textwrap.dedent(SUITE_MAIN), test_other=textwrap.dedent(SUITE_OTHER))


def junit_cases(path: Any) -> Counter[tuple[Any, ...]]:
    """The test cases of a junitxml file, without timings."""
    cases: Counter[tuple[Any, ...]] = Counter()
    for case in ET.parse(path).getroot().iter("testcase"):
        children = []
        for child in case:
            if child.tag == "properties":
                children.append(("properties", tuple((p.get("name"), p.get("value")) for p in child)))
            else:
                text = child.text or ""
                if child.tag in ("system-out", "system-err"):
                    # Captured output: the same lines, whatever the header.
                    text = "\n".join(line for line in text.splitlines() if not line.startswith("---"))
                # (Addresses of shown objects differ between processes.)
                text = re.sub(r"0x[0-9a-f]+", "0x?", text)
                children.append((child.tag, child.get("type"), child.get("message"), text))
        cases[(case.get("classname"), case.get("name"), tuple(sorted(children)))] += 1
    return cases


def run(pytester: pytest.Pytester, name: str, *args: str) -> tuple[pytest.RunResult, Any]:
    xml = pytester.path / f"{name}.xml"
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-o", "junit_family=xunit1", "-o", "junit_logging=all",
        f"--junitxml={xml}", *args,
    )  # fmt: skip
    return result, xml


def multiply(counter: Counter[Any], n: int) -> Counter[Any]:
    return Counter({key: count * n for key, count in counter.items()})


@pytest.mark.parametrize("mode", MODES)
def test_same_outcomes_as_serial(pytester: pytest.Pytester, mode: str) -> None:
    make_suite(pytester)
    serial, serial_xml = run(pytester, "serial")
    dist, dist_xml = run(pytester, "dist", "-n", "2", "--dist", mode)
    n = copies_of(mode)

    def logreports(result: pytest.RunResult) -> Counter[tuple[str, str, str]]:
        reports = result.reprec.getreports("pytest_runtest_logreport")  # type: ignore[attr-defined]
        return Counter((r.nodeid, r.when, r.outcome) for r in reports)

    def warnings_of(result: pytest.RunResult) -> Counter[tuple[str, str, str]]:
        calls = result.reprec.getcalls("pytest_warning_recorded")  # type: ignore[attr-defined]
        return Counter((c.nodeid, c.when, str(c.warning_message.message)) for c in calls)

    serial_reports = logreports(serial)
    assert sum(1 for _, when, _ in serial_reports if when == "setup") == 25
    assert logreports(dist) == multiply(serial_reports, n)
    assert junit_cases(dist_xml) == multiply(junit_cases(serial_xml), n)
    serial_warnings = warnings_of(serial)
    assert len(serial_warnings) == 2
    assert warnings_of(dist) == multiply(serial_warnings, n)
    assert dist.parseoutcomes() == {k: v * n for k, v in serial.parseoutcomes().items()}
    assert dist.ret == serial.ret == pytest.ExitCode.TESTS_FAILED


# ------------------------------------------------------------ garbage

GARBAGE_CONFTEST = """
    import json, os
    import pytest

    WORKER = os.environ.get("PYTEST_XDIST_WORKER")
    GARBAGE = {"gw0": b"garbage", "gw1": "not even bytes"}
    torn_down = 0

    def pytest_runtest_teardown(item):
        # In its third test, gw0 sends bytes that are no frame and gw1 a
        # str; both go on with their tests as if nothing happened.
        global torn_down
        torn_down += 1
        if torn_down == 3 and WORKER in GARBAGE:
            worker = item.config.pluginmanager.getplugin("xdist_c.worker")
            worker.channel.send(GARBAGE[WORKER])
            # The garbage travels on the channel, the test events on the
            # event pipe: give the controller time to see the garbage
            # before this worker could finish all its tests (with --dist
            # each it has them all at once).
            import time
            time.sleep(1.0)

    def pytest_runtest_logreport(report):
        if WORKER:
            return
        record = {
            "nodeid": report.nodeid,
            "when": report.when,
            "outcome": report.outcome,
            "worker": report.node.gateway.id,
            "longrepr": str(report.longrepr) if report.when == "???" else None,
        }
        with open("reports.jsonl", "a") as f:
            f.write(json.dumps(record) + "\\n")
"""


@pytest.mark.parametrize("mode", MODES)
def test_garbage_from_a_worker(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makeconftest(textwrap.dedent(GARBAGE_CONFTEST))
    pytester.makepyfile(
        **{
            f"test_g{m}": "import pytest\n@pytest.mark.parametrize('i', range(6))\ndef test_p(i): pass\n"
            for m in range(3)
        }
    )
    nodeids = [f"test_g{m}.py::test_p[{i}]" for m in range(3) for i in range(6)]
    result = pytester.runpytest_subprocess("-n", "2", "--dist", mode, "-p", "no:cacheprovider", timeout=90)
    out = result.stdout.str()
    reports = [json.loads(line) for line in (pytester.path / "reports.jsonl").read_text().splitlines()]

    why = {
        "gw0": "sent malformed data: not an xdist_c frame",
        "gw1": "sent malformed data: expected a bytes frame from the worker, got str",
    }
    for worker, text in why.items():
        assert f"[{worker}] node down: {text}" in out, out
    assert sorted(re.findall(r"^replacing crashed worker (gw\d+)$", out, re.M)) == ["gw0", "gw1"]

    # Per worker: each test it ran is reported whole, or once as crashed.
    by_test_worker: dict[tuple[str, str], list[str]] = defaultdict(list)
    for rep in reports:
        by_test_worker[rep["nodeid"], rep["worker"]].append(rep["when"])
    for key, whens in by_test_worker.items():
        assert sorted(whens) in (["???"], ["call", "setup", "teardown"]), (key, whens)
    # gw0 and gw1: the two tests they finished before sending garbage are
    # kept (their frames are in the event pipe before the garbage is on the
    # channel, and the pump delivers them first); whatever they finished
    # until the controller stopped them is kept too; the test running then
    # is reported once, as crashed.
    for worker, text in why.items():
        mine = [whens for (_, w), whens in by_test_worker.items() if w == worker]
        lengths = sorted(len(whens) for whens in mine)
        assert lengths[0] == 1 and set(lengths[1:]) == {3} and len(lengths) >= 3, (worker, mine)
        (crash,) = [r for r in reports if r["worker"] == worker and r["when"] == "???"]
        assert crash["longrepr"].startswith(f"worker '{worker}' crashed while running '{crash['nodeid']}' ({text}"), (
            crash
        )
    # Every test: exactly once per copy.
    per_test = Counter(nodeid for nodeid, _ in by_test_worker)
    assert per_test == Counter({nodeid: copies_of(mode) for nodeid in nodeids})
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([f"*= 2 failed, {18 * copies_of(mode) - 2} passed in *"])
