"""``-n adaptive``: in-process or a worker count, from the last run's
durations (xdist_c.controller.adaptive)."""

from __future__ import annotations

import json

import pytest

from xdist_c.controller import adaptive

WHO_RAN = """
import os, pytest

@pytest.mark.parametrize("i", range(4))
def test_where(i, worker_id):
    os.makedirs("ran", exist_ok=True)
    open(os.path.join("ran", f"{i}-{worker_id}"), "w").close()
"""


def _ran_on(pytester: pytest.Pytester) -> set[str]:
    return {p.name.split("-", 1)[1] for p in (pytester.path / "ran").iterdir()}


def _store(pytester: pytest.Pytester, key: str, tests: int, seconds: float) -> None:
    path = pytester.path / ".pytest_cache" / "v" / "xdist_c" / "adaptive_runs"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({key: {"tests": tests, "seconds": seconds}}))


def test_first_run_is_in_process_and_remembers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_who=WHO_RAN)
    result = pytester.runpytest_subprocess("-n", "adaptive", "-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["xdist-c: -n adaptive: in-process (no earlier -n adaptive run with these arguments)"])
    assert _ran_on(pytester) == {"master"}
    stored = json.loads((pytester.path / ".pytest_cache/v/xdist_c/adaptive_runs").read_text())
    assert list(stored) == ["-v"]  # the arguments without -n
    assert stored["-v"]["tests"] == 4
    assert 0 <= stored["-v"]["seconds"] < 5


def test_long_last_run_distributes(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_who=WHO_RAN)
    _store(pytester, "-v", tests=4, seconds=40.0)
    monkeypatch.setenv("PYTEST_XDIST_AUTO_NUM_WORKERS", "2")
    result = pytester.runpytest_subprocess("-n", "adaptive", "-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        ["xdist-c: -n adaptive: 2 workers (4 tests took 40.00s last time: about *s on 2 workers)"]
    )
    assert _ran_on(pytester) <= {"gw0", "gw1"}
    # this run's (short) durations replace the record
    stored = json.loads((pytester.path / ".pytest_cache/v/xdist_c/adaptive_runs").read_text())
    assert stored["-v"]["tests"] == 4 and stored["-v"]["seconds"] < 40.0


def test_short_last_run_stays_in_process(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_who=WHO_RAN)
    _store(pytester, "-v", tests=4, seconds=0.01)
    monkeypatch.setenv("PYTEST_XDIST_AUTO_NUM_WORKERS", "8")
    result = pytester.runpytest_subprocess("-n", "adaptive", "-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*-n adaptive: in-process (4 tests took 0.01s last time: distributing would not pay)"])
    assert _ran_on(pytester) == {"master"}


def test_other_arguments_are_another_run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_who=WHO_RAN)
    _store(pytester, "-v", tests=4, seconds=40.0)
    monkeypatch.setenv("PYTEST_XDIST_AUTO_NUM_WORKERS", "2")
    result = pytester.runpytest_subprocess("-n", "adaptive", "-v", "-k", "where")
    result.stdout.fnmatch_lines(["*-n adaptive: in-process (no earlier*"])


def test_without_cache_it_runs_in_process(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_who=WHO_RAN)
    result = pytester.runpytest_subprocess("-n", "adaptive", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
    assert _ran_on(pytester) == {"master"}


def test_header_only_with_verbose(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_who=WHO_RAN)
    result = pytester.runpytest_subprocess("-n", "adaptive")
    result.assert_outcomes(passed=4)
    assert "-n adaptive" not in result.stdout.str()


@pytest.mark.parametrize(
    ("args", "key"),
    [
        (["-n", "adaptive", "-v", "tests"], "-v\0tests"),
        (["-nadaptive", "-x"], "-x"),
        (["--numprocesses=adaptive", "-k", "a"], "-k\0a"),
        (["--numprocesses", "adaptive"], ""),
    ],
)
def test_run_key_drops_the_worker_count(pytester: pytest.Pytester, args: list[str], key: str) -> None:
    config = pytester.parseconfig(*args)
    assert adaptive.run_key(config) == key


def test_choose() -> None:
    assert adaptive.choose(None, None, 16) == (0, "no earlier -n adaptive run with these arguments")
    # one quick test: never worth starting workers
    assert adaptive.choose(1, 0.001, 16)[0] == 0
    # 500 trivial tests on two cores: in-process (bench_small.py: -n 2
    # is 1.1-1.2x serial); 5,000: two workers (0.7x serial)
    assert adaptive.choose(500, 0.05, 2)[0] == 0
    assert adaptive.choose(5000, 0.56, 2)[0] == 2
    # 20,000 trivial tests on two cores: two workers
    assert adaptive.choose(20000, 0.8, 2)[0] == 2
    # long tests: as many workers as CPUs
    assert adaptive.choose(100, 600.0, 16)[0] == 16
    # one CPU: in-process whatever the durations
    assert adaptive.choose(100, 600.0, 1)[0] == 0


def test_estimates_fall_with_workers_for_long_runs() -> None:
    times = [adaptive.estimate(100, 600.0, n, 16) for n in (2, 4, 8, 16)]
    assert times == sorted(times, reverse=True)
    # many quick tests: the controller's share per test bounds the gain
    quick = [adaptive.estimate(100_000, 10.0, n, 64) for n in (16, 32, 64)]
    assert quick == sorted(quick)
    assert adaptive.estimate(100, 600.0, 0, 16) == pytest.approx(600.0 + 100 * adaptive.PER_TEST)


@pytest.mark.parametrize(
    "stored",
    [
        {"-v": {"tests": "4", "seconds": 1.0}},
        {"-v": {"tests": 4, "seconds": -1.0}},
        {"-v": {"tests": 4, "seconds": float("inf")}},
        {"-v": [4, 1.0]},
        ["not", "a", "dict"],
    ],
)
def test_bad_records_are_ignored(pytester: pytest.Pytester, stored: object) -> None:
    pytester.makepyfile(test_who=WHO_RAN)
    path = pytester.path / ".pytest_cache" / "v" / "xdist_c" / "adaptive_runs"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stored))
    result = pytester.runpytest_subprocess("-n", "adaptive", "-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*-n adaptive: in-process (no earlier*"])
