"""Write the fuzzer's seed corpus: real frames, as a worker sends them.

Runs a small but varied pytest session in-process (passing, failing,
skipped, xfailed, erroring tests; captured output and logs; warnings; a
collection error; unicode and long node ids), serializes every report the
way ``xdist_c.worker`` does, and writes

* one frame per event of every kind (worker -> controller and commands),
* the batches a worker really sends (logstart, reports, logfinish,
  complete), and the whole session as one frame,
* each payload on its own, as ``dumps()`` bytes (for ``loads()``).

Usage: python fuzz/make_corpus.py OUTDIR
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import textwrap
import traceback
import warnings
from pathlib import Path
from typing import Any

import pytest

from xdist_c import _core
from xdist_c.worker.session import serialize_warning_message
from xdist_c.worker.session import worker_info

TESTS = {
    "test_outcomes.py": """
        import logging, sys, warnings
        import pytest

        class MyWarning(UserWarning):
            pass

        @pytest.fixture
        def broken():
            raise RuntimeError("fixture setup failed")

        def test_pass():
            pass

        def test_fail_diff():
            assert {"a": 1, "b": [1, 2, 3]} == {"a": 2, "b": [1, 2]}

        def test_fail_unicode():
            assert "h\\u00e9llo w\\u00f6rld \\u2603" == "hello"

        def test_output(capsys):
            print("to stdout \\u00e9" * 20)
            print("to stderr", file=sys.stderr)
            logging.getLogger("x").warning("a log line")
            assert False, "with captured output"

        def test_skip():
            pytest.skip("not today")

        @pytest.mark.xfail(reason="known bug")
        def test_xfail():
            assert 0

        @pytest.mark.xfail(strict=False)
        def test_xpass():
            pass

        def test_error(broken):
            pass

        def test_warns():
            warnings.warn("a user warning", UserWarning)
            warnings.warn(MyWarning("custom", 42))
            warnings.warn("deprecated", DeprecationWarning)

        @pytest.mark.parametrize("x", [1, "\\u00fcml\\u00e4ut", "s p a c e", b"\\x00", 2**70])
        def test_param(x):
            assert x != 1

        def test_long_repr():
            assert "x" * 600 == "y" * 600

        class TestClass:
            def test_method(self):
                raise ValueError("in a method")
    """,
    "test_collect_error.py": """
        import this_module_does_not_exist
    """,
}


class Recorder:
    """Collects (kind, payload) events as a worker would send them."""

    def __init__(self) -> None:
        self.events: list[tuple[int, Any]] = []
        self.config: Any = None
        self.index = -1
        self.ids: list[str] = []

    def pytest_configure(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_sessionstart(self) -> None:
        self.events.append((_core.EV_WORKERREADY, worker_info()))

    def pytest_collection(self) -> None:
        self.events.append((_core.EV_COLLECTIONSTART, None))

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if not report.passed:
            data = self.config.hook.pytest_report_to_serializable(config=self.config, report=report)
            self.events.append((_core.EV_COLLECTREPORT, data))

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.ids = [item.nodeid for item in session.items]
        self.events.append((_core.EV_COLLECTIONFINISH, {"topdir": str(self.config.rootpath), "ids": self.ids}))

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        self.index = self.ids.index(nodeid)
        self.events.append((_core.EV_LOGSTART, (nodeid, location)))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        data = self.config.hook.pytest_report_to_serializable(config=self.config, report=report)
        data["item_index"] = self.index
        data["worker_id"] = "gw0"
        data["testrun_uid"] = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
        self.events.append((_core.EV_TESTREPORT, data))

    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
        self.events.append((_core.EV_LOGFINISH, (nodeid, location)))
        self.events.append((_core.EV_COMPLETE, (self.index, 0.00123 * (self.index + 1))))

    def pytest_warning_recorded(
        self, warning_message: warnings.WarningMessage, when: str, nodeid: str, location: Any
    ) -> None:
        self.events.append(
            (
                _core.EV_WARNING,
                {
                    "warning_message_data": serialize_warning_message(warning_message),
                    "when": when,
                    "nodeid": nodeid,
                    "location": location,
                },
            )
        )

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.events.append(
            (
                _core.EV_WORKERFINISHED,
                {
                    "exitstatus": int(exitstatus),
                    "shouldfail": session.shouldfail,
                    "shouldstop": session.shouldstop,
                    "custom": {"slowest": [("t::a", 1.5)], "n": 2**40},
                },
            )
        )


def run_session() -> list[tuple[int, Any]]:
    rec = Recorder()
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in TESTS.items():
            Path(tmp, name).write_text(textwrap.dedent(text), encoding="utf-8")
        out = io.StringIO()
        old = os.getcwd()
        os.chdir(tmp)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                pytest.main(
                    [tmp, "-p", "no:cacheprovider", "-W", "always", "--continue-on-collection-errors"],
                    plugins=[rec],
                )
        finally:
            os.chdir(old)
    try:
        raise RuntimeError("worker internal error")
    except RuntimeError:
        rec.events.append((_core.EV_INTERNALERROR, traceback.format_exc()))
    rec.events.append((_core.EV_UNSCHEDULED, [5, 6, 7, 2**33]))
    return rec.events


def main(outdir: str) -> None:
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    events = run_session()
    kinds = {e[0] for e in events}
    missing = {
        getattr(_core, n) for n in dir(_core) if n.startswith("EV_") and n not in ("EV_CLOSED", "EV_BADFRAME")
    } - kinds
    assert not missing, f"no event of kinds {missing}"
    commands = [
        (_core.CMD_RUNTESTS, list(range(0, 40, 3))),
        (_core.CMD_RUNTESTS_ALL, None),
        (_core.CMD_STEAL, [1, 2, 3]),
        (_core.CMD_SHUTDOWN, None),
    ]
    written = 0

    def write(name: str, data: bytes) -> None:
        nonlocal written
        (out / name).write_bytes(data)
        written += 1

    seen: dict[int, int] = {}
    for kind, payload in events + commands:
        n = seen[kind] = seen.get(kind, 0) + 1
        write(f"frame-{kind:02d}-{n:03d}", _core.encode_frame([(kind, payload)]))
        write(f"value-{kind:02d}-{n:03d}", _core.dumps(payload))
    # Batches as a worker sends them: everything up to each EV_COMPLETE.
    batch: list[tuple[int, Any]] = []
    nbatch = 0
    for ev in events:
        batch.append(ev)
        if ev[0] == _core.EV_COMPLETE:
            nbatch += 1
            write(f"batch-{nbatch:03d}", _core.encode_frame(batch))
            batch = []
    write("session", _core.encode_frame(events))
    write("commands", _core.encode_frame(commands))
    write("empty-frame", _core.encode_frame([]))
    print(f"{written} seeds in {out} ({len(events)} events, kinds {sorted(kinds)})")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
