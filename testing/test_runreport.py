"""--run-report, --trace-file and --status-line (xdist_c.controller.runreport)."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from xdist_c.controller import durations
from xdist_c.controller import runreport
from xdist_c.controller.runreport import Estimate
from xdist_c.controller.runreport import StatusLine
from xdist_c.controller.runreport import TestRun as Run
from xdist_c.controller.runreport import compute_stats
from xdist_c.controller.runreport import format_report
from xdist_c.controller.runreport import format_seconds
from xdist_c.controller.runreport import format_status
from xdist_c.controller.runreport import trace_document
from xdist_c.controller.runreport import worker_order

EXAMPLE_SUITE = Path(__file__).parent.parent / "examples" / "suite" / "test_example.py"
ROW = re.compile(r"^(gw\d+|master)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)%\s+([\d.]+)$")
WALL = re.compile(r"(?m)^(\d+) tests? on (\d+) workers? in ([\d.]+)s")


def _rows(output: str) -> dict[str, tuple[int, float, float, float, float]]:
    section = output.split("worker utilisation", 1)[1]
    rows = {}
    for line in section.splitlines():
        m = ROW.match(line.strip())
        if m:
            rows[m.group(1)] = (int(m.group(2)), *(float(g) for g in m.group(3, 4, 5, 6)))
    return rows


def _suite(pytester: pytest.Pytester, count: int = 12) -> None:
    pytester.makepyfile(
        test_a=f"""
        import pytest

        @pytest.mark.parametrize("i", range({count}))
        def test_p(i):
            assert i != 3

        @pytest.mark.skip(reason="no")
        def test_skip():
            pass
        """
    )


def check_trace(doc: Any, nodeids: set[str] | None = None) -> list[dict[str, Any]]:
    """The structure Perfetto's JSON importer reads; the complete events."""
    assert isinstance(doc, dict)
    assert doc.get("displayTimeUnit") in ("ms", "ns")
    events = doc["traceEvents"]
    assert isinstance(events, list) and events
    threads: dict[tuple[int, int], str] = {}
    slices = []
    for ev in events:
        assert isinstance(ev, dict)
        assert ev["ph"] in ("M", "X"), ev
        assert isinstance(ev["pid"], int) and isinstance(ev["tid"], int)
        assert isinstance(ev["name"], str) and ev["name"]
        if ev["ph"] == "M":
            assert ev["name"] in ("process_name", "thread_name", "thread_sort_index")
            assert isinstance(ev["args"], dict)
            if ev["name"] == "thread_name":
                threads[ev["pid"], ev["tid"]] = ev["args"]["name"]
        else:
            for key in ("ts", "dur"):
                assert isinstance(ev[key], (int, float)) and not isinstance(ev[key], bool)
                assert ev[key] >= 0
            assert isinstance(ev["cat"], str)
            assert ev["args"]["outcome"] in ("passed", "failed", "skipped", "crashed")
            slices.append(ev)
    # Every slice sits on a named track, named after the worker that ran it.
    for ev in slices:
        assert threads[ev["pid"], ev["tid"]] == ev["args"]["worker"]
    assert len(set(threads.values())) == len(threads)
    # One worker runs one test at a time: a track's slices do not overlap.
    by_track: dict[int, list[dict[str, Any]]] = {}
    for ev in slices:
        by_track.setdefault(ev["tid"], []).append(ev)
    for track in by_track.values():
        track.sort(key=lambda e: e["ts"])
        for a, b in zip(track, track[1:]):
            assert a["ts"] + a["dur"] <= b["ts"] + 1.0, (a, b)  # 1 µs of rounding
    if nodeids is not None:
        names = [ev["name"] for ev in slices]
        assert len(names) == len(nodeids)
        assert set(names) == nodeids
    # It is plain JSON (no NaN or infinity, which Perfetto rejects).
    json.dumps(doc, allow_nan=False)
    return slices


# ------------------------------------------------------------ the pieces


class TestNumbers:
    def runs(self) -> list[Run]:
        return [
            Run("t::a", "gw0", 10.0, 11.0, "passed", {"setup": 0.1, "call": 0.8, "teardown": 0.1}),
            Run("t::b", "gw0", 11.5, 12.0, "failed"),
            Run("t::c", "gw1", 10.2, 14.0, "passed"),
        ]

    def test_stats(self) -> None:
        stats = compute_stats(self.runs(), ["gw0", "gw1"])
        assert stats is not None
        assert (stats.start, stats.end, stats.wall) == (10.0, 14.0, 4.0)
        gw0, gw1 = stats.workers
        assert (gw0.tests, gw0.busy, gw0.span, gw0.idle, gw0.waited) == (2, 1.5, 4.0, 2.5, 2.0)
        assert gw0.share == pytest.approx(37.5)
        assert (gw1.tests, gw1.busy, gw1.idle, gw1.waited) == (1, pytest.approx(3.8), pytest.approx(0.2), 0.0)
        assert stats.lost == 2.0

    def test_replacement_and_crashed_worker_spans(self) -> None:
        runs = [*self.runs(), Run("t::d", "gw2", 12.5, 13.0, "passed")]
        stats = compute_stats(runs, ["gw0", "gw1", "gw2"], up={"gw2": 12.0}, down={"gw0": 12.5})
        assert stats is not None
        gw0, _, gw2 = stats.workers
        assert (gw0.span_start, gw0.span_end, gw0.waited) == (10.0, 12.5, 0.5)
        assert (gw2.span_start, gw2.span_end, gw2.busy, gw2.waited) == (12.0, 14.0, 0.5, 1.0)

    def test_worker_without_tests_and_no_tests(self) -> None:
        stats = compute_stats(self.runs()[:1], ["gw0", "gw1"])
        assert stats is not None
        assert (stats.workers[1].tests, stats.workers[1].busy, stats.workers[1].idle) == (0, 0.0, 1.0)
        assert compute_stats([], ["gw0"]) is None

    def test_report_lines(self) -> None:
        stats = compute_stats(self.runs(), ["gw0", "gw1"])
        assert stats is not None
        lines = format_report(stats, slowest=2)
        assert lines[0].split() == ["worker", "tests", "busy", "(s)", "idle", "(s)", "busy", "waited", "(s)"]
        assert ROW.match(lines[1]) and lines[1].split() == ["gw0", "2", "1.50", "2.50", "37.5%", "2.00"]
        assert lines[3] == "3 tests on 2 workers in 4.00s (first test's start to last test's end)"
        assert lines[4].startswith("time lost waiting for the last worker: 2.00s (25.0% ")
        assert lines[5] == "slowest 2 tests:"
        assert lines[6].split() == ["3.80s", "gw1", "t::c"]
        assert lines[7].split() == ["1.00s", "gw0", "t::a"]

    def test_trace_document(self) -> None:
        doc = trace_document(self.runs(), ["gw0", "gw1", "gw9"])
        slices = check_trace(json.loads(json.dumps(doc)), {"t::a", "t::b", "t::c"})
        a = next(e for e in slices if e["name"] == "t::a")
        assert (a["ts"], a["dur"]) == (0.0, 1e6)
        assert a["args"]["call (s)"] == 0.8
        c = next(e for e in slices if e["name"] == "t::c")
        assert c["ts"] == pytest.approx(0.2e6)

    def test_worker_order(self) -> None:
        assert worker_order(["gw10", "gw2", "master", "gw1"]) == ["gw1", "gw2", "gw10", "master"]


class TestStatusPieces:
    def test_format_status(self) -> None:
        assert format_status(2, 30, 120, 75.0) == "xdist-c: running 2, done 30/120 (25%), ETA 1m15s"
        assert format_status(0, 0, 0, None) == "xdist-c: running 0, done 0/0, ETA --"

    @pytest.mark.parametrize(
        ("seconds", "text"), [(0.2, "<1s"), (1.4, "1s"), (59.4, "59s"), (65, "1m05s"), (7325, "2h02m")]
    )
    def test_format_seconds(self, seconds: float, text: str) -> None:
        assert format_seconds(seconds) == text

    def test_estimate_stored_then_mean_so_far(self) -> None:
        est = Estimate({"a": 4.0, "b": 2.0})
        est.add(["a", "b", "c", "d"])
        # c and d: the stored mean until a test finished.
        assert est.remaining(2) == pytest.approx((4 + 2 + 3 + 3) / 2)
        est.finish("a", 1.0)
        assert est.remaining(2) == pytest.approx((2 + 1 + 1) / 2)
        est.finish("c", 3.0)
        assert est.remaining(1) == pytest.approx(2 + 2)

    def test_estimate_without_anything_known(self) -> None:
        est = Estimate({})
        est.add(["a", "b"])
        assert est.remaining(2) is None
        est.finish("a", 0.5)
        assert est.remaining(2) == pytest.approx(0.25)
        est.finish("b", 0.5)
        assert est.remaining(2) == 0.0

    def test_stored_durations_from_the_cache(self, pytester: pytest.Pytester) -> None:
        config = pytester.parseconfigure()
        assert durations.load(config) == {}
        assert config.cache is not None
        config.cache.set(durations.CACHE_KEY, {"t::a": 1.5, "t::b": 2, "t::c": "x", "t::d": -1, "t::e": True})
        assert durations.load(config) == {"t::a": 1.5, "t::b": 2.0}
        config.cache.set(durations.CACHE_KEY, ["not", "a", "dict"])
        assert durations.load(config) == {}

    def test_status_line_writes(self) -> None:
        from _pytest._io import TerminalWriter

        class Tty(io.StringIO):
            def isatty(self) -> bool:
                return True

        out = Tty()
        tw = TerminalWriter(out)
        tw.hasmarkup = True
        tw.fullwidth = 20

        class Tr:
            _tw = tw

        assert StatusLine.usable(Tr())
        tw.write("..")
        line = StatusLine(tw)
        line.draw("xdist-c: running 2, done 5/9", 0.0)
        # Below the current line, cut to the width, back to column 2.
        assert out.getvalue() == "..\nxdist-c: running 2,\x1b[1A\r\x1b[2C"
        tw.write(".")  # pytest writes: the status line is cleared first
        assert out.getvalue().endswith("\x1b[2C\x1b[J.")
        assert not line.shown
        line.draw("s", 0.0)
        line.close()
        assert out.getvalue().endswith("\ns\x1b[1A\r\x1b[3C\x1b[J")
        assert tw._file is out

    def test_status_line_not_usable_without_a_tty(self) -> None:
        from _pytest._io import TerminalWriter

        tw = TerminalWriter(io.StringIO())
        tw.hasmarkup = True

        class Tr:
            _tw = tw

        assert not StatusLine.usable(Tr())


class TestClocks:
    def recorder(self, pytester: pytest.Pytester) -> runreport.RunRecorder:
        return runreport.RunRecorder(pytester.parseconfigure("--run-report"))

    @staticmethod
    def node(wid: str, popen: bool) -> Any:
        spec = SimpleNamespace(popen=popen, via=None)
        return SimpleNamespace(gateway=SimpleNamespace(id=wid, spec=spec))

    @staticmethod
    def report(node: Any, nodeid: str, when: str, start: float, stop: float) -> Any:
        return SimpleNamespace(
            node=node, nodeid=nodeid, when=when, start=start, stop=stop, duration=stop - start, outcome="passed"
        )

    def test_remote_worker_moved_to_the_controller_clock(
        self, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        rec = self.recorder(pytester)
        remote = self.node("gw0", popen=False)
        rec.pytest_testnodeready(remote)
        arrivals = iter([1000.5, 1000.5, 1000.5, 1003.0, 1003.0, 1003.0])
        monkeypatch.setattr(runreport.time, "time", lambda: next(arrivals))
        # Its clock is 100 s behind; the first test arrives 0.2 s late, the next one 0.5 s.
        for nodeid, base in (("t::a", 900.0), ("t::b", 902.0)):
            for i, when in enumerate(runreport.PHASES):
                rec.pytest_runtest_logreport(self.report(remote, nodeid, when, base + 0.1 * i, base + 0.1 * (i + 1)))
        a, b = rec.aligned_tests()
        assert (a.start, a.stop) == (pytest.approx(1000.2), pytest.approx(1000.5))
        assert (b.start, b.stop) == (pytest.approx(1002.2), pytest.approx(1002.5))

    def test_local_worker_keeps_its_times(self, pytester: pytest.Pytester) -> None:
        rec = self.recorder(pytester)
        local = self.node("gw0", popen=True)
        rec.pytest_testnodeready(local)
        for i, when in enumerate(runreport.PHASES):
            rec.pytest_runtest_logreport(self.report(local, "t::a", when, 5.0 + i, 6.0 + i))
        (a,) = rec.aligned_tests()
        assert (a.start, a.stop, a.phases) == (5.0, 8.0, {"setup": 1.0, "call": 1.0, "teardown": 1.0})

    def test_without_start_and_stop(self, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
        # pytest < 7.2: two tests of 1 s arriving together run one after the other.
        rec = self.recorder(pytester)
        local = self.node("gw0", popen=True)
        rec.pytest_testnodeready(local)
        monkeypatch.setattr(runreport.time, "time", lambda: 50.0)
        for nodeid in ("t::a", "t::b"):
            for when in runreport.PHASES:
                rep = self.report(local, nodeid, when, 0.0, 0.0)
                rep.duration = 1.0 / 3
                rec.pytest_runtest_logreport(rep)
        a, b = rec.aligned_tests()
        assert (a.start, a.stop) == (pytest.approx(49.0), pytest.approx(50.0))
        assert (b.start, b.stop) == (pytest.approx(50.0), pytest.approx(51.0))


# ------------------------------------------------------------ runs


class TestRuns:
    def test_run_report_two_workers(self, pytester: pytest.Pytester) -> None:
        _suite(pytester)
        result = pytester.runpytest_subprocess("-n", "2", "--run-report")
        assert result.ret == 1
        out = result.stdout.str()
        result.stdout.fnmatch_lines(
            [
                "*= worker utilisation =*",
                "worker*tests*busy (s)*idle (s)*busy*waited (s)",
                "13 tests on 2 workers in *s (first test's start to last test's end)",
                "time lost waiting for the last worker: *s (*% of the workers' time)",
                "slowest 10 tests:",
                "*1 failed, 11 passed, 1 skipped*",
            ]
        )
        # After pytest's own summary sections (the failure), before the result line.
        assert out.index("FAILURES") < out.index("worker utilisation") < out.index("1 failed, 11 passed")
        rows = _rows(out)
        assert set(rows) == {"gw0", "gw1"}
        assert sum(r[0] for r in rows.values()) == 13
        m = WALL.search(out.split("worker utilisation", 1)[1])
        wall = float(m.group(3))  # type: ignore[union-attr]
        lost = 0.0
        for _tests, busy, idle, share, waited in rows.values():
            # Both workers live through the run: busy + idle is its length.
            assert busy + idle == pytest.approx(wall, abs=0.011)
            assert 0.0 <= share <= 100.0
            # (the columns are rounded to 0.01 s)
            assert share / 100 * (busy + idle) == pytest.approx(busy, abs=0.011)
            assert waited <= idle + 0.011
            lost += waited
        reported_lost = float(re.search(r"last worker: ([\d.]+)s", out).group(1))  # type: ignore[union-attr]
        assert reported_lost == pytest.approx(lost, abs=0.021)
        slowest = out.split("slowest 10 tests:", 1)[1].splitlines()[1:11]
        assert all(re.match(r"\s*[\d.]+s\s+gw[01]\s+test_a\.py::test_", line) for line in slowest)

    def test_trace_file_two_workers(self, pytester: pytest.Pytester) -> None:
        _suite(pytester)
        result = pytester.runpytest_subprocess("-n", "2", "--trace-file", "out/trace.json")
        result.stdout.fnmatch_lines(["xdist-c: timeline written to *trace.json (open it in https://ui.perfetto.dev)"])
        doc = json.loads((pytester.path / "out" / "trace.json").read_text(encoding="utf-8"))
        nodeids = {f"test_a.py::test_p[{i}]" for i in range(12)} | {"test_a.py::test_skip"}
        slices = check_trace(doc, nodeids)
        outcomes = {e["name"]: e["args"]["outcome"] for e in slices}
        assert outcomes["test_a.py::test_p[3]"] == "failed"
        assert outcomes["test_a.py::test_skip"] == "skipped"
        assert {e["args"]["worker"] for e in slices} <= {"gw0", "gw1"}
        assert "worker utilisation" not in result.stdout.str()

    def test_trace_of_the_example_suite(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile(test_example=EXAMPLE_SUITE.read_text(encoding="utf-8"))
        result = pytester.runpytest_subprocess("-n", "2", "--trace-file=trace.json", "--run-report")
        assert result.ret == 0
        ids = pytester.runpytest_subprocess("--collect-only", "-q").stdout.lines
        nodeids = {line for line in ids if "::" in line}
        assert len(nodeids) == 215
        doc = json.loads((pytester.path / "trace.json").read_text(encoding="utf-8"))
        slices = check_trace(doc, nodeids)
        assert {e["args"]["worker"] for e in slices} == {"gw0", "gw1"}
        slow = [e for e in slices if "test_slowish" in e["name"]]
        assert all(e["dur"] >= 50_000 for e in slow)  # each sleeps 0.05 s
        rows = _rows(result.stdout.str())
        assert sum(r[0] for r in rows.values()) == 215

    def test_crashed_worker(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile(
            test_c="""
            import os
            import pytest

            @pytest.mark.parametrize("i", range(6))
            def test_p(i):
                if i == 2:
                    os._exit(3)
            """
        )
        result = pytester.runpytest_subprocess("-n", "2", "--run-report", "--trace-file=t.json")
        result.stdout.fnmatch_lines(["*= worker utilisation =*", "6 tests on 3 workers in *"])
        rows = _rows(result.stdout.str())
        assert set(rows) == {"gw0", "gw1", "gw2"}
        assert sum(r[0] for r in rows.values()) == 6
        slices = check_trace(json.loads((pytester.path / "t.json").read_text(encoding="utf-8")))
        assert [e["args"]["outcome"] for e in slices].count("crashed") == 1

    def test_without_distribution(self, pytester: pytest.Pytester) -> None:
        _suite(pytester, count=3)
        result = pytester.runpytest_subprocess("-n", "0", "--run-report", "--trace-file=t.json")
        result.stdout.fnmatch_lines(["*= worker utilisation =*", "master*4*", "4 tests on 1 worker in *"])
        check_trace(json.loads((pytester.path / "t.json").read_text(encoding="utf-8")))

    def test_off_by_default(self, pytester: pytest.Pytester) -> None:
        _suite(pytester, count=2)
        pytester.makeconftest(
            """
            def pytest_terminal_summary(terminalreporter, config):
                registered = config.pluginmanager.getplugin("xdist_c_runreport") is not None
                terminalreporter.write_line(f"recorder registered: {registered}")
            """
        )
        result = pytester.runpytest_subprocess("-n", "2")
        result.stdout.fnmatch_lines(["recorder registered: False"])
        assert "worker utilisation" not in result.stdout.str()
        result = pytester.runpytest_subprocess("-n", "2", "--status-line")
        result.stdout.fnmatch_lines(["recorder registered: True"])

    def test_status_line_absent_when_not_a_terminal(self, pytester: pytest.Pytester) -> None:
        _suite(pytester, count=4)
        plain = pytester.runpytest_subprocess("-n", "2", "--color=yes")
        result = pytester.runpytest_subprocess("-n", "2", "--status-line", "--color=yes")
        out = result.stdout.str()
        assert "xdist-c: running" not in out and "\x1b[J" not in out and "\x1b[1A" not in out
        assert len(result.stdout.lines) == len(plain.stdout.lines)

    @pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
    def test_status_line_on_a_terminal(self, pytester: pytest.Pytester) -> None:
        import pty

        _suite(pytester, count=6)
        primary, secondary = pty.openpty()
        env = dict(os.environ, TERM="xterm", COLUMNS="100")
        for name in ("NO_COLOR", "PY_COLORS", "FORCE_COLOR"):  # pytester sets PY_COLORS=0
            env.pop(name, None)
        proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-n", "2", "--status-line", "-p", "no:cacheprovider"],
            cwd=pytester.path,
            stdin=subprocess.DEVNULL,
            stdout=secondary,
            stderr=secondary,
            env=env,
        )
        os.close(secondary)
        chunks = []
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # EIO: the other side is closed
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(primary)
        assert proc.wait(timeout=120) == 1
        out = b"".join(chunks).decode("utf-8", "replace")
        assert "xdist-c: running " in out
        assert re.search(r"running 0, done 7/7 \(100%\), ETA <1s", out)
        # Cleared before the summary: nothing of it after the last draw.
        tail = out[out.rindex("xdist-c: running") :]
        assert "\x1b[J" in tail
        assert "1 failed, 5 passed, 1 skipped" in re.sub(r"\x1b\[[0-9;]*m", "", tail)
        assert "xdist-c: running" not in tail[tail.index("\x1b[J") :]


IMPORTED_CONFTEST = """
import sys

def pytest_unconfigure(config):
    if not hasattr(config, "workerinput"):
        with open("imported.txt", "w") as f:
            f.write(str("xdist_c.controller.runreport" in sys.modules))
"""


@pytest.mark.parametrize(
    ("args", "imported"),
    [(["-n", "0"], False), (["-n", "2"], False), (["-n", "2", "--run-report"], True), (["--status-line"], True)],
)
def test_imported_only_where_an_option_asks(pytester: pytest.Pytester, args: list[str], imported: bool) -> None:
    """Every run's start-up pays for the modules it imports: the run
    report's is imported only where it is used."""
    pytester.makeconftest(IMPORTED_CONFTEST)
    pytester.makepyfile("def test_one(): pass")
    result = pytester.runpytest_subprocess(*args, "-p", "no:cacheprovider")
    assert result.ret == 0
    assert (pytester.path / "imported.txt").read_text() == str(imported)
