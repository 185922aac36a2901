"""Worker crashes: every kind, everywhere, in every mode, at every restart cap.

Per distribution mode that starts workers (every mode of ``SCHEDULERS``;
``--dist no`` starts none: see ``test_dist_no_has_no_worker_to_crash``), the
runs cover every (crash kind, where) pair, every (where,
``--max-worker-restart``) pair and every (crash kind, restart cap) pair (see
``_runs``); ``test_runs_cover_the_matrix`` checks this on the parameters
the tests actually run with.

One subprocess run covers several crash cases: a *plan* maps worker ids to
``(kind, where)``.  The two original workers, gw0 and gw1, crash at the first
point of the named kind they reach (``session`` = the teardown of a
session-scoped fixture, i.e. after their last test), so both always crash
whatever the scheduling; a replacement worker, gw2, crashes while importing
the test modules, which every worker does.  The controller records every
report it gets (``reports.jsonl``), so the checks are exact:

* each crash is reported once, on the test that was running, naming the
  worker, its exit status or signal and the last lines of its stderr;
* every other test is reported at most once per copy (exactly once when the
  run is allowed to finish), with all three phases from one worker;
* the node-down, replacement and restart-cap lines and the exit code are as
  in pytest-xdist; the run ends well within the timeout.
"""

from __future__ import annotations

import json
import re
import sys
import textwrap
from collections import defaultdict
from typing import Any

import pytest

from xdist_c.controller.scheduler import SCHEDULERS

MODES = sorted(SCHEDULERS)
KINDS = ["exit", "segv", "kill", "abort"]
PER_TEST = ["setup", "call", "teardown", "session"]
CAUSE = {
    "exit": "exit code 1",
    "segv": "killed by signal SIGSEGV",
    "kill": "killed by signal SIGKILL",
    "abort": "killed by signal SIGABRT",
}
# faulthandler's header, shown at the top of the stderr tail.
FATAL = {"segv": "Fatal Python error: Segmentation fault", "abort": "Fatal Python error: Aborted"}
RUN_TIMEOUT = 90
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="crashes by POSIX signals")

Plan = dict[str, tuple[str, str]]


def _runs() -> list[tuple[str, Plan]]:
    """Crash plans, with the --max-worker-restart value of each run.

    Per mode, nine runs cover every (kind, where), (where, restart cap) and
    (kind, restart cap) pair: the original workers take the per-test places (gw0
    setup or call, gw1 teardown or session-fixture teardown, each time with
    another kind), a replacement gw2 the import-time crashes, and a last run
    has both original workers crash while importing with no replacement.
    (The kind of crash only changes how the process ends, not where the
    controller is when it notices, so kind x where x cap is not multiplied
    out in full.)"""
    restarts = ["0", "1", "default", "default", "0", "1", "default", "1"]
    imports = {1: "exit", 2: "segv", 3: "kill", 5: "kill"}
    runs = []
    for r, restart in enumerate(restarts):
        plan: Plan = {
            "gw0": (KINDS[r % 4], "setup" if r < 4 else "call"),
            "gw1": (KINDS[(r + 2) % 4], "teardown" if r < 4 else "session"),
        }
        if r in imports:
            assert restart != "0"  # gw2 exists only if a worker is replaced
            plan["gw2"] = (imports[r], "import")
        runs.append((restart, plan))
    runs.append(("0", {"gw0": ("segv", "import"), "gw1": ("abort", "import")}))
    return runs


def _cases() -> list[Any]:
    params = []
    for mode in MODES:
        for restart, plan in _runs():
            desc = ",".join(f"{w}={k}@{where}" for w, (k, where) in sorted(plan.items()))
            params.append(pytest.param(mode, restart, plan, id=f"{mode}-restart={restart}-{desc}"))
    return params


def test_runs_cover_the_matrix() -> None:
    from xdist_c.plugin import DIST_MODES

    # Every --dist mode with workers has a scheduler, and so a row here.
    assert set(DIST_MODES) - {"no"} == set(MODES)
    assert set(MODES) == {"each", "load", "loadfile", "loadgroup", "loadscope", "worksteal"}
    wheres = [*PER_TEST, "import"]
    restarts = ("0", "1", "default")
    cases = [tuple(param.values) for param in _cases()]
    for mode in MODES:
        slots = [
            (restart, kind, where)
            for m, restart, plan in cases
            if m == mode
            for kind, where in plan.values()  # type: ignore[attr-defined]
        ]
        assert {(k, w) for _, k, w in slots} == {(k, w) for k in KINDS for w in wheres}, mode
        assert {(r, w) for r, _, w in slots} == {(r, w) for r in restarts for w in wheres}, mode
        assert {(r, k) for r, k, _ in slots} == {(r, k) for r in restarts for k in KINDS}, mode
    # ... and test_crash_matrix runs exactly these.
    (mark,) = [m for m in test_crash_matrix.pytestmark if m.name == "parametrize"]  # type: ignore[attr-defined]
    assert [tuple(param.values) for param in mark.args[1]] == cases


CRASHKIT = """
    import ctypes, json, os, signal, sys

    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "plan.json")) as f:
        PLAN = json.load(f)
    WORKER = os.environ.get("PYTEST_XDIST_WORKER")
    MINE = PLAN.get(WORKER)
    CONFIG = None

    def crash(kind):
        # A marker on the worker's real stderr (past pytest's capturing),
        # which must show in the crash report's stderr tail.
        capman = CONFIG.pluginmanager.getplugin("capturemanager") if CONFIG else None
        if capman is not None:
            with capman.global_and_fixture_disabled():
                sys.stderr.write(f"xc-crash {WORKER} {kind}\\n")
                sys.stderr.flush()
        else:
            os.write(2, f"xc-crash {WORKER} {kind}\\n".encode())
        if kind == "exit":
            os._exit(1)
        elif kind == "segv":
            ctypes.string_at(0)
        elif kind == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif kind == "abort":
            os.abort()
        raise AssertionError(kind)

    def maybe(where):
        if MINE and MINE[1] == where:
            crash(MINE[0])
"""

# Records, on the controller, every report it gets.
RECORDER = """
    import json, os

    def pytest_runtest_logreport(report):
        if os.environ.get("PYTEST_XDIST_WORKER"):
            return
        node = getattr(report, "node", None)
        record = {
            "nodeid": report.nodeid,
            "when": report.when,
            "outcome": report.outcome,
            "worker": node.gateway.id if node is not None else None,
            "longrepr": str(report.longrepr) if report.when == "???" else None,
        }
        with open("reports.jsonl", "a") as f:
            f.write(json.dumps(record) + "\\n")
"""

CONFTEST = """
    import pytest
    import crashkit

    def pytest_configure(config):
        crashkit.CONFIG = config

    @pytest.fixture(scope="session", autouse=True)
    def _session_fixture():
        yield
        crashkit.maybe("session")

    @pytest.fixture(autouse=True)
    def _function_fixture():
        crashkit.maybe("setup")
        yield
        crashkit.maybe("teardown")
"""

TEST_MODULE = """
    import crashkit
    crashkit.maybe("import")
    import pytest

    @pytest.mark.parametrize("i", range(4))
    def test_t(i):
        crashkit.maybe("call")
"""


def make_suite(pytester: pytest.Pytester, plan: Plan) -> list[str]:
    """The crash suite (three modules of four tests); returns the node ids."""
    pytester.makepyfile(crashkit=textwrap.dedent(CRASHKIT))
    pytester.makeconftest(textwrap.dedent(CONFTEST) + textwrap.dedent(RECORDER))
    (pytester.path / "plan.json").write_text(json.dumps(plan))
    names = ["test_m1", "test_m2", "test_m3"]
    pytester.makepyfile(**{name: textwrap.dedent(TEST_MODULE) for name in names})
    return [f"{name}.py::test_t[{i}]" for name in names for i in range(4)]


def read_reports(pytester: pytest.Pytester) -> list[dict[str, Any]]:
    path = pytester.path / "reports.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def check_reports(
    reports: list[dict[str, Any]], nodeids: list[str], *, copies: int, complete: bool
) -> dict[str, dict[str, Any]]:
    """Each (test, worker) pair has a full set of phases or one crash report;
    each test ran at most ``copies`` times (exactly, when ``complete``).
    Returns the crash reports by worker."""
    phases: dict[tuple[str, str], list[str]] = defaultdict(list)
    crashes: dict[str, dict[str, Any]] = {}
    for rep in reports:
        assert rep["nodeid"] in nodeids, rep
        phases[rep["nodeid"], rep["worker"]].append(rep["when"])
        if rep["when"] == "???":
            assert rep["outcome"] == "failed"
            assert rep["worker"] not in crashes, (rep, crashes)
            crashes[rep["worker"]] = rep
        else:
            assert rep["outcome"] == "passed", rep
    for key, whens in phases.items():
        assert sorted(whens) in (["???"], ["call", "setup", "teardown"]), (key, whens)
    per_test = defaultdict(int)
    for nodeid, _ in phases:
        per_test[nodeid] += 1
    for nodeid in nodeids:
        if complete:
            assert per_test[nodeid] == copies, (nodeid, per_test[nodeid])
        else:
            assert per_test[nodeid] <= copies, (nodeid, per_test[nodeid])
    return crashes


@posix_only
@pytest.mark.parametrize(("mode", "restart", "plan"), _cases())
def test_crash_matrix(pytester: pytest.Pytester, mode: str, restart: str, plan: Plan) -> None:
    nodeids = make_suite(pytester, plan)
    args = ["-n", "2", "--dist", mode, "-p", "no:cacheprovider"]
    if restart != "default":
        args += ["--max-worker-restart", restart]
    result = pytester.runpytest_subprocess(*args, timeout=RUN_TIMEOUT)
    out = result.stdout.str()
    err = result.stderr.str()

    crashing = dict(plan)
    per_test_crashes = {w: kw for w, kw in crashing.items() if kw[1] != "import"}

    copies = 2 if mode == "each" else 1
    crashes = check_reports(read_reports(pytester), nodeids, copies=copies, complete=restart == "default")

    # Crash reports: one per worker that died in a test, on the test it ran.
    assert set(crashes) == set(per_test_crashes), (crashes, out)
    for worker, (kind, _where) in per_test_crashes.items():
        rep = crashes[worker]
        head = f"worker '{worker}' crashed while running '{rep['nodeid']}' ({CAUSE[kind]})"
        longrepr = rep["longrepr"]
        assert longrepr.startswith(head + "\n"), longrepr
        tail = longrepr.split(f"last stderr lines of worker '{worker}':\n", 1)[1]
        assert f"xc-crash {worker} {kind}" in tail, longrepr
        if kind in FATAL:
            assert FATAL[kind] in tail, longrepr
        assert len(tail.splitlines()) <= 20 and len(tail.encode()) <= 4096
        assert head in out  # shown in the failures section

    # Every crash: the node-down line says how the process ended, and the
    # worker's stderr reached the user's stderr live.
    for worker, (kind, _where) in crashing.items():
        assert f"[{worker}] node down: Not properly terminated ({CAUSE[kind]})" in out, out
        assert f"xc-crash {worker} {kind}" in err, err
    assert out.count("node down:") == len(crashing), out

    # The restart cap.
    replaced = re.findall(r"^replacing crashed worker (gw\d+)$", out, re.M)
    if restart == "0":
        assert not replaced, out
        for worker in crashing:
            assert f"worker {worker} crashed and worker restarting disabled" in out
        result.stdout.fnmatch_lines(["*= xdist: worker gw* crashed and worker restarting disabled =*"])
    elif restart == "1":
        assert len(replaced) == 1, out
        result.stdout.fnmatch_lines(
            ["maximum crashed workers reached: 1", "*= xdist: maximum crashed workers reached: 1 =*"]
        )
    else:
        assert sorted(replaced) == sorted(crashing), out
        assert "maximum crashed workers" not in out

    # Exit code: a crash report is a failed test; without one nothing ran.
    if per_test_crashes:
        assert result.ret == 1, out
        result.stdout.fnmatch_lines([f"*= {len(per_test_crashes)} failed*"])
    else:
        assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED, out
        result.stdout.fnmatch_lines(["*no tests ran*"])


SLOW_REPLACEMENT_CONFTEST = """
    import os, time
    import pytest

    WORKER = os.environ.get("PYTEST_XDIST_WORKER")

    def wait_for(path, timeout=60):
        end = time.monotonic() + timeout
        while not os.path.exists(path) and time.monotonic() < end:
            time.sleep(0.05)

    @pytest.fixture(autouse=True)
    def _crash_first_test():
        if WORKER == "gw0":
            os._exit(3)
        if WORKER == "gw1":  # once gw0's replacement is collecting
            wait_for("gw2-collecting")
            open("gw1-crashing", "w").close()
            os._exit(4)
        yield
"""

SLOW_REPLACEMENT_MODULE = """
    import os, time
    if os.environ.get("PYTEST_XDIST_WORKER") == "gw2":
        # Collecting while gw1 dies, so the scheduler hands out gw1's
        # tests; then die before having started any.
        open("gw2-collecting", "w").close()
        from conftest import wait_for
        wait_for("gw1-crashing")
        time.sleep(1.5)
        os._exit(5)
    import pytest

    @pytest.mark.parametrize("i", range(4))
    def test_t(i):
        pass
"""


@posix_only
@pytest.mark.parametrize("mode", MODES)
def test_worker_dying_while_collecting_is_not_blamed_on_a_test(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makeconftest(textwrap.dedent(SLOW_REPLACEMENT_CONFTEST) + textwrap.dedent(RECORDER))
    names = ["test_m1", "test_m2", "test_m3"]
    pytester.makepyfile(**{name: textwrap.dedent(SLOW_REPLACEMENT_MODULE) for name in names})
    nodeids = [f"{name}.py::test_t[{i}]" for name in names for i in range(4)]
    result = pytester.runpytest_subprocess("-n", "2", "--dist", mode, "-p", "no:cacheprovider", timeout=RUN_TIMEOUT)
    out = result.stdout.str()
    assert "[gw2] node down: Not properly terminated (exit code 5)" in out, out
    crashes = check_reports(read_reports(pytester), nodeids, copies=2 if mode == "each" else 1, complete=True)
    assert sorted(crashes) == ["gw0", "gw1"], (crashes, out)
    assert "worker 'gw2' crashed" not in out
    assert result.ret == 1


# ------------------------------------------------- the stderr summary alone


def test_stderr_summary_keeps_the_last_lines() -> None:
    from xdist_c.launch.process import summarize_stderr

    data = b"".join(b"line %d\n" % i for i in range(100)) + b"\n\n"
    assert summarize_stderr(data).splitlines() == [f"line {i}" for i in range(80, 100)]
    long_lines = b"".join(b"%d " % i + b"x" * 1000 + b"\n" for i in range(10))
    summary = summarize_stderr(long_lines)
    assert len(summary.encode()) <= 4096
    assert summary.splitlines()[-1].startswith("9 x")
    assert summarize_stderr(b"") == ""
    assert summarize_stderr(b"bad \xff\xfe bytes\n") == "bad \\xff\\xfe bytes"


def test_stderr_summary_shows_a_fatal_error_from_its_start() -> None:
    from xdist_c.launch.process import summarize_stderr

    other_thread = [f'  File "execnet.py", line {i} in read' for i in range(30)]
    current = [f'  File "frame{i}.py", line {i} in f{i}' for i in range(60)]
    text = "\n".join(
        [
            "unrelated",
            "python: thing.c:12: main: Assertion `x' failed.",
            "Fatal Python error: Aborted",
            "",
            "Thread 0x0001 (most recent call first):",
            *other_thread,
            "",
            "Current thread 0x0002 (most recent call first):",
            *current,
            "",
            "Extension modules: foo (total: 1)",
        ]
    )
    lines = summarize_stderr(text.encode()).splitlines()
    assert lines[:5] == [
        "unrelated",
        "python: thing.c:12: main: Assertion `x' failed.",
        "Fatal Python error: Aborted",
        "",
        "Current thread 0x0002 (most recent call first):",
    ]
    assert lines[5:] == current[:15]


@pytest.mark.parametrize(
    ("returncode", "text"),
    [
        (0, "exit code 0"),
        (3, "exit code 3"),
        (-11, "killed by signal SIGSEGV"),
        (-9, "killed by signal SIGKILL"),
        (-99, "killed by signal 99"),
    ],
)
def test_describe_returncode(returncode: int, text: str) -> None:
    from xdist_c.launch.process import describe_returncode

    assert describe_returncode(returncode) == text


@posix_only
def test_dist_no_has_no_worker_to_crash(pytester: pytest.Pytester) -> None:
    """``--dist no`` is the one mode outside the matrix: with ``-n N`` it
    becomes ``load`` (as in pytest-xdist), covered above; with ``--tx``
    alone no worker is started, so a crash ends pytest itself, as without
    xdist."""
    pytester.makepyfile(
        """
        import os
        def test_where():
            print("worker=%s" % os.environ.get("PYTEST_XDIST_WORKER"))
        """
    )
    result = pytester.runpytest_subprocess("-n", "2", "--dist", "no", "-v", "-s", "-p", "no:cacheprovider")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*scheduling tests via LoadScheduling*"])
    result = pytester.runpytest_subprocess("--dist", "no", "--tx", "2*popen", "-s", "-p", "no:cacheprovider")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*worker=None*"])
    assert "created:" not in result.stdout.str()
