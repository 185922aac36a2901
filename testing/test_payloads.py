"""Big and odd payloads travel from workers to the controller unchanged.

Each case runs the same suite serially and with ``-n 2`` and compares what
the controller's hooks saw: node ids, phases, outcomes, captured output and
failure text must be identical.

The 1,000,000-test run is slow (minutes, gigabytes): it runs only with
``XDIST_C_SLOW=1``; a 20,000-test version always runs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from collections import Counter
from typing import Any

import pytest

# Object addresses in shown locals differ between processes.
_ADDRESS = re.compile(r"0x[0-9a-f]+")


def outcome_records(reprec: Any) -> Counter[tuple[Any, ...]]:
    """What the controller saw, as a multiset (workers finish in any order).
    The failure text is ``str(longrepr)``: ``longreprtext`` starts with a
    ``[gwN] ...`` line under xdist."""
    return Counter(
        (r.nodeid, r.when, r.outcome, r.capstdout, r.capstderr, _ADDRESS.sub("0x?", str(r.longrepr or "")))
        for r in reprec.getreports("pytest_runtest_logreport")
    )


def run_both(pytester: pytest.Pytester, *args: str) -> tuple[Counter[tuple[Any, ...]], Any]:
    """Run serially and with -n 2; check both saw the same; return the
    records and the distributed run's recorder."""
    # (in-process runs: hypothesis's plugin, loaded again, can refuse to
    # start once hypothesis is imported, so it stays out)
    common = ["-p", "no:cacheprovider", "-p", "no:hypothesispytest", "--show-capture=no", *args]
    serial = pytester.inline_run(*common)
    dist = pytester.inline_run("-n", "2", *common)
    serial_records = outcome_records(serial)
    dist_records = outcome_records(dist)
    assert serial_records, "nothing ran"
    if serial_records != dist_records:  # show the differing entries only
        only_serial = serial_records - dist_records
        only_dist = dist_records - serial_records
        pytest.fail(f"serial only: {list(only_serial)[:5]!r:.2000}\n-n 2 only: {list(only_dist)[:5]!r:.2000}")
    assert serial.ret == dist.ret
    return dist_records, dist


def test_fifty_megabytes_of_captured_output(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import sys
        LINE = "0123456789abcdef" * 64 + "\\n"

        def test_big():
            sys.stdout.write("BEGIN\\n")
            for _ in range(50 * 1024):
                sys.stdout.write(LINE)
            sys.stdout.write("END\\n")
            assert 0, "failed after 50 MB of output"

        def test_after():
            pass
        """
    )
    records, dist = run_both(pytester)
    big = [r for r in dist.getreports("pytest_runtest_logreport") if r.when == "call" and r.failed]
    assert len(big) == 1
    out = big[0].capstdout
    assert len(out) > 50 * 1024 * 1024
    assert out.startswith("BEGIN\n") and out.endswith("END\n")
    assert "failed after 50 MB of output" in big[0].longreprtext
    assert dist.countoutcomes() == [1, 0, 1]  # passed, skipped, failed


DEEP = """
    import sys, threading
    DEPTH = 10_000

    def deep(n):
        if n == 0:
            raise ValueError("bottom of a 10000-frame stack")
        return deep(n - 1)

    def test_deep():
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(DEPTH + 1000)
        errors = []

        def run():
            try:
                deep(DEPTH)
            except ValueError as e:
                errors.append(e)

        # A big stack: older Pythons use C stack for every Python frame.
        threading.stack_size(256 * 1024 * 1024)
        try:
            thread = threading.Thread(target=run)
            thread.start()
            thread.join()
        finally:
            threading.stack_size(0)
            sys.setrecursionlimit(limit)
        raise errors[0]

    def test_after():
        pass
"""


def test_ten_thousand_frame_traceback(pytester: pytest.Pytester) -> None:
    # pytest itself needs seconds to format such a traceback, so this one is
    # not also run serially: the structure is checked instead.
    pytester.makepyfile(textwrap.dedent(DEEP))
    dist = pytester.inline_run("-n", "2", "-p", "no:cacheprovider", "-p", "no:hypothesispytest")
    reports = dist.getreports("pytest_runtest_logreport")
    assert [(r.when, r.outcome) for r in reports if r.nodeid.endswith("test_deep")] == [
        ("setup", "passed"),
        ("call", "failed"),
        ("teardown", "passed"),
    ]
    (failed,) = [r for r in reports if r.failed]
    entries = failed.longrepr.reprtraceback.reprentries
    assert len(entries) == 10_003  # test_deep, run, deep(10000) ... deep(0)
    assert "def test_deep():" in entries[0].lines[0]
    assert entries[1].reprfileloc.message == "in run"
    assert all(e.reprfileloc.message == "in deep" for e in entries[2:-1])
    assert entries[-1].reprfileloc.message == "ValueError"
    assert "ValueError: bottom of a 10000-frame stack" in str(failed.longrepr)
    assert dist.countoutcomes() == [1, 0, 1]


ODD_OUTPUT = """
    import os, sys, pytest

    @pytest.mark.parametrize("value", [{params}])
    def test_odd(value):
        print("value:", repr(value))
        os.write(1, b"raw fd 1: \\xff\\xfe\\x80 not utf-8\\n")
        os.write(2, b"raw fd 2: \\xc3\\x28 not utf-8\\n")
        sys.stdout.write("lone surrogate out: \\udcff\\n")
        sys.stderr.write("lone surrogate err: \\ud800\\n")

    def test_odd_failure():
        assert 0, "message: \\udcff \\xff \\U0001f40d"
"""


def test_odd_bytes_and_surrogates_escaped_ids(pytester: pytest.Pytester) -> None:
    params = r'"\udcff", b"\xff", b"\x00\x80", "\u00fcn\u00ef", "\u65e5\u672c", "\U0001f40d"'
    pytester.makepyfile(textwrap.dedent(ODD_OUTPUT).replace("{params}", params))
    records, _ = run_both(pytester)
    nodeids = {r[0] for r in records}
    assert "test_odd_bytes_and_surrogates_escaped_ids.py::test_odd[\\udcff]" in nodeids
    assert "test_odd_bytes_and_surrogates_escaped_ids.py::test_odd[\\xff]" in nodeids
    outs = [r[3] for r in records if r[1] == "call"]
    assert any("\ufffd" in out or "\\xff" in out for out in outs)


def test_unicode_and_surrogate_node_ids(pytester: pytest.Pytester) -> None:
    # Unescaped ids: the node ids themselves carry lone surrogates and
    # non-ASCII text, and so does the module name.
    pytester.makeini(
        """
        [pytest]
        disable_test_id_escaping_and_forfeit_all_rights_to_community_support = true
        """
    )
    # (Only surrogates that os.environ can encode: pytest puts the node id
    # in PYTEST_CURRENT_TEST.)
    params = r'"\udcff", "\udc80x", "\u00fcn\u00ef", "\u65e5\u672c", "\U0001f40d", "a::b[c]"'
    source = textwrap.dedent(ODD_OUTPUT).replace("{params}", params)
    source += textwrap.dedent(
        """
        class TestKlasse\u00e4:
            def test_\u00e9t\u00e9(self):
                pass
        """
    )
    (pytester.path / "test_\u00fcnic\u00f8de.py").write_text(source, encoding="utf-8")
    records, _ = run_both(pytester)
    nodeids = {r[0] for r in records}
    assert "test_\u00fcnic\u00f8de.py::test_odd[\udcff]" in nodeids
    assert "test_\u00fcnic\u00f8de.py::test_odd[\U0001f40d]" in nodeids
    assert "test_\u00fcnic\u00f8de.py::TestKlasse\u00e4::test_\u00e9t\u00e9" in nodeids
    assert len(nodeids) == 8


# ------------------------------------------------------------ many tests

MANY = """
    import os, pytest

    @pytest.mark.parametrize("i", range(int(os.environ["XDIST_C_MANY"])))
    def test_p(i):
        pass
"""

# Runs pytest in-process and reports the controller's own peak RSS
# (resource.RUSAGE_SELF: the workers are not counted).
WRAPPER = """
import json, resource, sys, time
import pytest
start = time.perf_counter()
ret = pytest.main(sys.argv[1:])
print("XDIST_C_STATS " + json.dumps({
    "ret": int(ret),
    "wall_s": time.perf_counter() - start,
    "controller_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
}))
sys.exit(ret)
"""


def run_many(pytester: pytest.Pytester, count: int, timeout: float) -> dict[str, Any]:
    pytester.makepyfile(textwrap.dedent(MANY))
    wrapper = pytester.path / "run_wrapper.py"
    wrapper.write_text(WRAPPER)
    env = dict(os.environ, XDIST_C_MANY=str(count))
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(wrapper), "-n", "2", "-q", "-p", "no:cacheprovider"],
        cwd=pytester.path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    out = proc.stdout
    stats_line = [line for line in out.splitlines() if line.startswith("XDIST_C_STATS ")]
    assert stats_line, f"exit status {proc.returncode}\n{out[-5000:]}"
    stats: dict[str, Any] = json.loads(stats_line[-1].split(" ", 1)[1])
    stats["total_s"] = time.monotonic() - start
    assert proc.returncode == 0, out[-5000:]
    assert f"{count} passed" in out, out[-5000:]
    return stats


@pytest.mark.skipif(sys.platform == "win32", reason="uses the resource module")
def test_twenty_thousand_tests(pytester: pytest.Pytester) -> None:
    run_many(pytester, 20_000, timeout=600)


@pytest.mark.skipif(sys.platform == "win32", reason="uses the resource module")
@pytest.mark.skipif(os.environ.get("XDIST_C_SLOW") != "1", reason="slow: set XDIST_C_SLOW=1")
def test_one_million_tests(pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> None:
    stats = run_many(pytester, 1_000_000, timeout=4 * 3600)
    with capsys.disabled():
        print(f"\n1,000,000 tests with -n 2: {stats}")
