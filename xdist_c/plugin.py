"""The pytest plugin ``xdist``: options, start-up policy, fixtures, API.

Heavy modules (the controller session, execnet, the C core) are imported
only once distribution is actually on.

``-p xdist.plugin`` (pytest-xdist's way to load it without entry points)
imports this module under that name too (``xdist/plugin.py``); pytest then
asks for it to be rewritten when it is already imported, so it is marked
PYTEST_DONT_REWRITE (it asserts nothing a user sees).
"""

from __future__ import annotations

import os
import sys
import uuid
import warnings
from collections.abc import Generator
from typing import Literal
from typing import Union

import pytest

from xdist_c._compat import pytest as pytest_compat
from xdist_c._startup import SYS_PATH
from xdist_c.speedups import exitgc  # noqa: F401  (registers its atexit handler first)

# The controller's sys.path at start-up (pytest-xdist's name for it).
_sys_path = SYS_PATH

DIST_MODES = ("each", "load", "loadscope", "loadfile", "loadgroup", "worksteal", "no")

NumProcesses = Union[int, Literal["auto", "logical", "adaptive"]]


def parse_numprocesses(s: str) -> NumProcesses:
    if s in ("auto", "logical", "adaptive"):
        return s  # type: ignore[return-value]
    return int(s)


def _count_from_env(name: str) -> int | None:
    value = os.environ.get(name)
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        warnings.warn(f"{name} is not a number: {value!r}. Ignoring it.", stacklevel=2)
        return None


@pytest.hookimpl
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """Default worker count: env override, then CPU detection."""
    count = _count_from_env("PYTEST_XDIST_AUTO_NUM_WORKERS")
    if count is not None:
        return count
    cpu_count_x = getattr(sys, "_xoptions", {}).get("cpu_count")
    if cpu_count_x not in (None, "default"):
        try:
            return int(cpu_count_x)
        except (TypeError, ValueError):
            warnings.warn(f"-X cpu_count is not a number: {cpu_count_x!r}. Ignoring it.", stacklevel=2)
    if cpu_count_x != "default":
        count = _count_from_env("PYTHON_CPU_COUNT")
        if count is not None:
            return count
    logical = getattr(config.option, "numprocesses", None) == "logical"  # unset before parsing
    if logical and hasattr(os, "process_cpu_count"):
        count = os.process_cpu_count()
        if count:
            return int(count)
    try:
        import psutil
    except ImportError:
        pass
    else:
        count = psutil.cpu_count(logical=logical) or psutil.cpu_count()
        if count:
            return int(count)
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


@pytest.hookimpl
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("xdist", "distributed and subprocess testing")
    pytest_compat.add_short_option(
        group,
        "-n",
        "--numprocesses",
        dest="numprocesses",
        metavar="numprocesses",
        action="store",
        type=parse_numprocesses,
        help="Shortcut for '--dist=load --tx=NUM*popen'.\n"
        "'auto' uses the physical CPU count, 'logical' the logical one "
        "(needs psutil, else like 'auto'); 0 disables distribution.\n"
        "'adaptive' (xdist-c): in-process when the last run with these "
        "arguments shows distributing would not pay, else up to the 'auto' "
        "count.\n"
        "Forced to 0 when used with --pdb.",
    )
    group.addoption(
        "--maxprocesses",
        dest="maxprocesses",
        metavar="maxprocesses",
        action="store",
        type=int,
        help="Upper bound on the number of workers started by -n",
    )
    group.addoption(
        "--max-worker-restart",
        action="store",
        default=None,
        dest="maxworkerrestart",
        help="How many crashed workers may be replaced (0 disables "
        "replacement; default 4 x the -n worker count, unlimited with --tx)",
    )
    group.addoption(
        "--test-timeout",
        dest="xdist_test_timeout",
        metavar="SECONDS",
        action="store",
        default=None,
        help="Fail a test that runs longer than SECONDS: its worker's Python "
        "stack goes into the report, the worker and the processes it started "
        "are killed and a new worker runs the rest (not counted by "
        "--max-worker-restart). Default from the ini option "
        "xdist_test_timeout; 0 turns it off",
    )
    group.addoption(
        "--finish-queued",
        dest="finish_queued",
        action="store_true",
        default=False,
        help="With -x/--maxfail, let workers run the tests already sent to "
        "them before stopping, as pytest-xdist does (by default no test "
        "starts once the limit is reached)",
    )
    group.addoption(
        "--dist",
        metavar="distmode",
        action="store",
        choices=list(DIST_MODES),
        dest="dist",
        default="no",
        help="How to distribute tests over the workers.\n\n"
        "each: every test runs on every worker.\n\n"
        "load: send pending tests to whichever worker is free.\n\n"
        "loadscope: keep tests of one module/class on one worker.\n\n"
        "loadfile: keep tests of one file on one worker.\n\n"
        "loadgroup: like load, but tests marked xdist_group share a worker.\n\n"
        "worksteal: split the suite up front, rebalance by stealing.\n\n"
        "(default) no: run in-process, do not distribute.",
    )
    group.addoption(
        "--loadscope-reorder",
        dest="loadscopereorder",
        action="store_true",
        default=True,
        help="Run scopes with the most tests first (default) with the loadscope family of modes",
    )
    group.addoption(
        "--no-loadscope-reorder",
        dest="loadscopereorder",
        action="store_false",
        help="Keep scopes in collection order with the loadscope family of modes",
    )
    group.addoption(
        "--tx",
        dest="tx",
        action="append",
        default=[],
        metavar="xspec",
        help="Add a test execution environment, e.g.\n"
        "--tx popen//python=python3.12 --tx socket=192.168.1.102:8888\n"
        "--tx ssh=user@host//chdir=testcache",
    )
    group.addoption(
        "--px",
        dest="px",
        action="append",
        default=[],
        metavar="xspec",
        help="Add a proxy gateway that --tx specs can use through via=, e.g.\n"
        "--px id=my_proxy//socket=192.168.1.102:8888 --tx 5*popen//via=my_proxy",
    )
    pytest_compat.add_short_option(
        group,
        "-d",
        action="store_true",
        dest="distload",
        default=False,
        help="Load-balance tests. Shortcut for '--dist=load'.",
    )
    group.addoption(
        "--rsyncdir",
        action="append",
        default=[],
        metavar="DIR",
        help="Not supported by xdist-c (pytest-xdist deprecated it); install or copy the code on remote hosts yourself",
    )
    group.addoption(
        "--rsyncignore",
        action="append",
        default=[],
        metavar="GLOB",
        help="Not supported by xdist-c (see --rsyncdir)",
    )
    group.addoption(
        "--testrunuid",
        action="store",
        help="Identifier shared by all workers, the value of the 'testrun_uid' "
        "fixture; a new unique string per run when not given",
    )
    group.addoption(
        "--maxschedchunk",
        action="store",
        type=int,
        help="Largest number of tests sent to a worker at once with "
        "--dist=load (at least 2 per worker are sent at the start); "
        "unlimited if not set",
    )
    group.addoption(
        "--split-collection",
        dest="split_collection",
        action="store",
        choices=("auto", "always", "off"),
        default="auto",
        help="Let each worker build the test items of only its share of the "
        "test files, and of the rest when it needs them (load, loadscope, "
        "loadfile, loadgroup and worksteal; 2+ workers). auto (default): where "
        "that gives the whole collection's tests, ids and order (not with a "
        "plugin's or conftest's collection hooks, session- or package-scoped "
        "parametrization, --lf/--ff/--nf/--sw, ...; -v says why). always: "
        "regardless. off: every worker collects everything, as pytest-xdist does",
    )
    group.addoption(
        "--schedule-by-duration",
        dest="schedule_by_duration",
        action="store",
        choices=("on", "off"),
        default=None,
        help="on (default): store each test's duration in pytest's cache and, "
        "on the next runs, let load and worksteal hand out the longest tests "
        "first and loadscope, loadfile and loadgroup the longest scopes first "
        "(needs the cacheprovider plugin). off: pytest-xdist's order, nothing "
        "stored. Default from the ini option schedule_by_duration",
    )
    group.addoption(
        "--full-exit-gc",
        dest="full_exit_gc",
        action="store_true",
        default=False,
        help="Let the controller and the workers run Python's last full "
        "garbage collection when they exit. By default xdist-c skips it, "
        "which makes big runs end sooner; objects in reference cycles that "
        "are still alive at exit then do not get their __del__ called",
    )
    group.addoption(
        "--run-report",
        dest="xdist_c_run_report",
        action="store_true",
        default=False,
        help="After the summary, print per worker the tests run, busy and "
        "idle time and busy share, the time lost waiting for the last "
        "worker, and the slowest tests",
    )
    group.addoption(
        "--trace-file",
        dest="xdist_c_trace_file",
        metavar="PATH",
        action="store",
        default=None,
        help="Write the run's timeline to PATH in Chrome's trace-event JSON "
        "(one track per worker, one slice per test), for Perfetto "
        "(ui.perfetto.dev) or chrome://tracing",
    )
    group.addoption(
        "--status-line",
        dest="xdist_c_status_line",
        action="store_true",
        default=False,
        help="On a terminal, keep a line under the progress showing the "
        "tests running, done and an estimate of the time left (from the "
        "stored durations); nothing changes when output is not a terminal",
    )
    pytest_compat.add_short_option(
        group,
        "-f",
        "--looponfail",
        action="store_true",
        dest="looponfail",
        default=False,
        help="Not supported by xdist-c (pytest-xdist deprecated it); use a file watcher such as pytest-watcher",
    )
    parser.addini(
        "schedule_by_duration",
        "xdist-c: order the tests by their stored durations (see --schedule-by-duration)",
        type="bool",
        default=True,
    )
    parser.addini(
        "xdist_test_timeout",
        "xdist-c: fail (and kill the worker of) a test that runs longer than this many seconds (see --test-timeout)",
        default="",
    )
    parser.addini(
        "rsyncdirs",
        "Not supported by xdist-c (pytest-xdist deprecated it)",
        type="paths",
    )
    parser.addini(
        "rsyncignore",
        "Not supported by xdist-c (pytest-xdist deprecated it)",
        type="paths",
    )
    parser.addini(
        "looponfailroots",
        "Not supported by xdist-c (pytest-xdist deprecated it)",
        type="paths",
    )


@pytest.hookimpl
def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from xdist_c import newhooks

    pluginmanager.add_hookspecs(newhooks)


def _reject_removed_features(config: pytest.Config) -> None:
    """xdist-c does not carry pytest-xdist's deprecated features."""
    if config.getoption("looponfail", False) or config.getini("looponfailroots"):
        raise pytest.UsageError(
            "xdist-c does not support --looponfail/-f or the looponfailroots ini "
            "key (deprecated in pytest-xdist 3.0); use a file watcher such as "
            "pytest-watcher ('ptw .') instead."
        )
    if (
        config.getoption("rsyncdir", None)
        or config.getoption("rsyncignore", None)
        or config.getini("rsyncdirs")
        or config.getini("rsyncignore")
    ):
        raise pytest.UsageError(
            "xdist-c does not support --rsyncdir/--rsyncignore or the rsyncdirs/"
            "rsyncignore ini keys (deprecated in pytest-xdist 3.0); install or "
            "copy the code on each remote host and point --tx ...//chdir= at it "
            "(see https://xdist-c.readthedocs.io/en/latest/remote.html)."
        )


def _is_distribution_mode(config: pytest.Config) -> bool:
    return config.getoption("dist") != "no" and bool(config.getoption("tx"))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> Generator[None, None, None]:
    # Before output capturing starts and any conftest is imported: the
    # fork server must be a copy of a controller that has done neither.
    from xdist_c.launch import launcher

    launcher.prepare(early_config)
    return (yield)


def _require_core() -> None:
    """Stop with one line when the C extension is missing: ``python -m
    pytest`` inside a checkout imports its uncompiled ``xdist_c/`` first."""
    try:
        from xdist_c import _core  # noqa: F401
    except ImportError as exc:
        where = os.path.dirname(os.path.abspath(__file__))
        raise pytest.UsageError(
            f"xdist-c's C extension is not built in {where} ({exc}): run "
            "'pip install -e .' there, or run the 'pytest' command instead of "
            "'python -m pytest' inside the checkout."
        ) from None


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    if config.option.distload:
        config.option.dist = "load"

    usepdb = config.getoption("usepdb", False)
    if config.option.numprocesses in ("auto", "logical", "adaptive"):
        if usepdb:
            config.option.numprocesses = 0
            config.option.dist = "no"
        elif config.option.numprocesses == "adaptive":
            from xdist_c.controller import adaptive

            cpus = config.hook.pytest_xdist_auto_num_workers(config=config)
            config.option.numprocesses = adaptive.resolve(config, cpus)
        else:
            config.option.numprocesses = config.hook.pytest_xdist_auto_num_workers(config=config)

    if config.option.numprocesses:
        if config.option.dist == "no":
            config.option.dist = "load"
        numprocesses = config.option.numprocesses
        if config.option.maxprocesses:
            numprocesses = min(numprocesses, config.option.maxprocesses)
        config.option.tx = ["popen"] * numprocesses
    if config.option.numprocesses == 0:
        config.option.dist = "no"
        config.option.tx = []

    _reject_removed_features(config)

    if _is_distribution_mode(config) and not hasattr(config, "workerinput"):
        # Before any plugin's pytest_configure: runs after their cleanups.
        config.add_cleanup(lambda: _thaw_controller_gc(config))

    if not config.getvalue("collectonly") and _is_distribution_mode(config):
        if usepdb:
            raise pytest.UsageError("--pdb is incompatible with distributing tests; try using -n0 or -nauto.")
        _require_core()
        from xdist_c.controller.limits import configured_timeout
        from xdist_c.controller.scheduler import SCHEDULERS

        configured_timeout(config)  # a bad value: a UsageError now

        dist = config.getoption("dist")
        if dist not in SCHEDULERS:
            # Modes the parser knows but this version has no scheduler for.
            raise pytest.UsageError(
                f"--dist={dist} is not available in this version of xdist-c; "
                f"use one of: {', '.join(sorted(SCHEDULERS))}."
            )


def _thaw_controller_gc(config: pytest.Config) -> None:
    dsession = config.pluginmanager.getplugin("dsession")
    if dsession is not None:
        dsession.controller_gc.thaw()


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "xdist_group: specify group for tests should run in same session."
        "in relation to one another. Provided by pytest-xdist.",
    )
    if config.getvalue("collectonly"):
        return
    if _is_distribution_mode(config) and not hasattr(config, "workerinput"):
        from xdist_c.controller.dsession import DSession

        config.pluginmanager.register(DSession(config), "dsession")
        tr = config.pluginmanager.getplugin("terminalreporter")
        if tr:
            tr.showfspath = False
            from xdist_c.speedups import teardownindex

            teardownindex.install(tr)
    if not hasattr(config, "workerinput") and _run_report_wanted(config):
        from xdist_c.controller import runreport

        runreport.install(config)


def _run_report_wanted(config: pytest.Config) -> bool:
    """Whether an option asks for :mod:`xdist_c.controller.runreport` (only
    then is it imported)."""
    return bool(
        config.getoption("xdist_c_run_report", False)
        or config.getoption("xdist_c_trace_file", None)
        or config.getoption("xdist_c_status_line", False)
    )


# ---------------------------------------------------------------- public API


def is_xdist_worker(request_or_session: pytest.FixtureRequest | pytest.Session) -> bool:
    """True inside an xdist worker process."""
    return hasattr(request_or_session.config, "workerinput")


def is_xdist_controller(request_or_session: pytest.FixtureRequest | pytest.Session) -> bool:
    """True in the controller of a distributed run (False when not
    distributing at all, e.g. ``-n 0``)."""
    return not is_xdist_worker(request_or_session) and request_or_session.config.option.dist != "no"


is_xdist_master = is_xdist_controller


def get_xdist_worker_id(request_or_session: pytest.FixtureRequest | pytest.Session) -> str:
    """``"gw0"``, ``"gw1"``, ... in a worker; ``"master"`` otherwise."""
    workerinput = getattr(request_or_session.config, "workerinput", None)
    if workerinput is not None:
        return str(workerinput["workerid"])
    return "master"


@pytest.fixture(scope="session")
def worker_id(request: pytest.FixtureRequest) -> str:
    """The id of this worker (``"gw0"``, ...) or ``"master"``."""
    return get_xdist_worker_id(request)


@pytest.fixture(scope="session")
def testrun_uid(request: pytest.FixtureRequest) -> str:
    """An id shared by every worker of this run."""
    workerinput = getattr(request.config, "workerinput", None)
    if workerinput is not None:
        return str(workerinput["testrunuid"])
    return uuid.uuid4().hex
