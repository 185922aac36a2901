#!/usr/bin/env python3
"""End-to-end benchmark: no xdist vs pytest-xdist 3.8 vs xdist_c.

One command (from the repository root)::

    python3 benchmarks/bench_run.py            # full run, all suites
    python3 benchmarks/bench_run.py --smoke    # tiny sizes, for CI

The script generates deterministic test suites into a work directory
(default ``benchmarks/_work/``), makes one virtual environment per product
(``pytest-xdist==3.8.0`` in one, this repository in the other; they never
share an environment), runs every suite with every product, alternating the
products inside each repetition, and prints a Markdown table of medians.

Every measured run starts the controller as ``python -c WRAPPER <pytest
args>``; the wrapper calls ``pytest.main`` and then writes one JSON line with
its own ``getrusage(RUSAGE_SELF)`` (controller CPU and peak RSS), its exit
code and the outcome counts seen by the terminal reporter.  The harness
measures wall time around the subprocess and whole-tree CPU as the delta of
``getrusage(RUSAGE_CHILDREN)`` (on Linux the harness is made a child
subreaper so that workers which outlive the controller are reaped, and
counted, too).

Python 3.9+ standard library only.  See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import errno
import hashlib
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(HERE)
DEFAULT_WORK = os.path.join(HERE, "_work")

SERIAL = "serial"
PYTEST_XDIST = "pytest-xdist"
XDIST_C = "xdist_c"
PRODUCTS = (SERIAL, PYTEST_XDIST, XDIST_C)
PRODUCT_ALIASES = {
    "serial": SERIAL,
    "no-xdist": SERIAL,
    "pytest-xdist": PYTEST_XDIST,
    "pytest_xdist": PYTEST_XDIST,
    "xdist": PYTEST_XDIST,
    "xdist_c": XDIST_C,
    "xdist-c": XDIST_C,
}
PYTEST_XDIST_SPEC = "pytest-xdist==3.8.0"

# Bumped whenever the generated files change, so old suites are regenerated.
GENERATOR_VERSION = 1

RESULT_ENV = "XDIST_C_BENCH_RESULT"

# The controller wrapper, run as ``python -c WRAPPER <pytest args>``.
WRAPPER = r"""
import json, os, resource, sys
import pytest
class _BenchCounts:
    counts = {}
    def pytest_sessionfinish(self, session):
        tr = session.config.pluginmanager.get_plugin("terminalreporter")
        if tr is not None:
            self.counts = {k: len(v) for k, v in tr.stats.items() if k}
_bench = _BenchCounts()
_rc = 99
try:
    _rc = int(pytest.main(sys.argv[1:], plugins=[_bench]))
finally:
    _ru = resource.getrusage(resource.RUSAGE_SELF)
    with open(os.environ["XDIST_C_BENCH_RESULT"], "w") as _f:
        _f.write(json.dumps({"rc": _rc, "utime": _ru.ru_utime, "stime": _ru.ru_stime,
                             "maxrss": _ru.ru_maxrss, "platform": sys.platform,
                             "counts": _bench.counts}) + "\n")
sys.exit(_rc)
"""

# Run in each product's interpreter to describe it.
PROBE = r"""
import json, sys
try:
    from importlib.metadata import version, PackageNotFoundError
except ImportError:
    version = None
def v(name):
    try:
        return version(name)
    except Exception:
        return None
def plugins():
    try:
        from importlib.metadata import entry_points
        eps = entry_points()
        eps = eps.select(group="pytest11") if hasattr(eps, "select") else eps.get("pytest11", [])
        return sorted({"%s (%s)" % (ep.name, ep.value.split(":")[0]) for ep in eps})
    except Exception:
        return []
print(json.dumps({"python": sys.version.split()[0], "executable": sys.executable,
                  "prefix": sys.prefix, "pytest": v("pytest"), "pytest-xdist": v("pytest-xdist"),
                  "xdist-c": v("xdist-c"), "execnet": v("execnet"), "plugins": plugins()}))
"""


# --------------------------------------------------------------------------
# Suite definitions and generation
# --------------------------------------------------------------------------


class Suite:
    """A generated suite: ``kind`` picks the generator, ``params`` its sizes."""

    def __init__(self, name, kind, tests, params, expect_rc=0, ns=None, doc="", max_reps=None):
        self.name = name
        self.kind = kind
        self.tests = tests  # number of tests it holds (for per-test numbers)
        self.params = params
        self.expect_rc = expect_rc
        self.ns = ns  # fixed worker counts (startup suite), else None = use -n
        self.doc = doc
        self.max_reps = max_reps  # cap on --reps for suites that take minutes per run


class BySize:
    """A value that differs between the full run and ``--smoke``."""

    def __init__(self, full, smoke):
        self.full = full
        self.smoke = smoke


def _at_size(value, smoke):
    """``value`` with every BySize in it (at the top or in a dict) resolved."""
    if isinstance(value, BySize):
        return value.smoke if smoke else value.full
    if isinstance(value, dict):
        return {k: _at_size(v, smoke) for k, v in value.items()}
    return value


_SKEW_SLOW = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.0]

# Every suite once, in the order they run: its name, generator (kind) and
# generator parameters, and the rest of Suite's arguments.  What differs
# between the full and the smoke size is a BySize(full, smoke); the smoke
# sizes are tiny, for CI.  full_only: not in the smoke table.
SUITES = [
    dict(
        name="trivial-20k",
        kind="trivial",
        params=dict(tests=BySize(20000, 200), per_file=100),
        doc=BySize("20,000 trivial tests, 100 per module", "trivial tests (smoke size)"),
    ),
    dict(
        name="trivial-100k",
        kind="trivial",
        params=dict(tests=BySize(100000, 500), per_file=100),
        max_reps=BySize(1, None),
        doc=BySize(
            "100,000 trivial tests, 100 per module (one repetition: minutes per run)", "trivial tests (smoke size)"
        ),
    ),
    dict(
        name="trivial-5k",
        kind="trivial",
        params=dict(tests=BySize(5000, 100), per_file=BySize(100, 50)),
        ns=(1, 2),
        doc=BySize(
            "5,000 trivial tests at -n 1 and -n 2 (the workers' CPU against the serial run's)",
            "trivial tests at -n 1 and -n 2 (smoke size)",
        ),
    ),
    dict(
        name="sleep-400",
        kind="sleep",
        params=dict(tests=BySize(400, 20), per_file=BySize(40, 10), seconds=0.01),
        ns=(4,),
        doc=BySize("400 tests sleeping 10 ms, at -n 4", "tests sleeping 10 ms (smoke size)"),
    ),
    dict(
        name="skewed",
        kind="skewed",
        params=dict(
            fast=BySize(2000 - len(_SKEW_SLOW), 40),
            per_file=BySize(100, 20),
            fast_seconds=0.001,
            slow=BySize(_SKEW_SLOW, [0.1, 0.2]),
        ),
        doc=BySize(
            "1,992 tests sleeping 1 ms, then 8 tests sleeping 0.5-2 s last in collection order",
            "fast tests then a few slow ones (smoke size)",
        ),
    ),
    dict(
        name="skewed-1k",
        kind="skewed",
        full_only=True,
        params=dict(
            fast=980,
            per_file=98,
            fast_seconds=0.001,
            slow_files=2,
            slow=[round(0.5 + 1.5 * i / 19, 3) for i in range(20)],
        ),
        ns=(4,),
        doc="980 tests sleeping 1 ms, then 20 tests of 0.5-2 s (25 s) in the "
        "last two files, at -n 4: how the tail is shared out",
    ),
    dict(
        name="failures-2000",
        kind="failures",
        params=dict(tests=BySize(2000, 20), per_file=BySize(100, 10)),
        expect_rc=1,
        doc=BySize(
            "2,000 failing tests: deep tracebacks, assertion diffs, captured stdout/stderr/log",
            "failing tests with big reports (smoke size)",
        ),
    ),
    dict(
        name="fixtures",
        kind="fixtures",
        params=dict(modules=BySize(50, 2), funcs=BySize(25, 5), params=4),
        doc=BySize(
            "5,000 tests each using ~15 fixtures (session/module/class/function scopes, autouse, yield, parametrized)",
            "fixture-heavy tests (smoke size)",
        ),
    ),
    dict(
        name="startup",
        kind="trivial",
        params=dict(tests=1, per_file=1),
        ns=BySize((2, 4, 8), (2,)),
        doc=BySize(
            "one trivial test, start-up cost at -n 2, -n 4 (what sleep-400 at -n 4 is compared with) and -n 8",
            "one trivial test: start-up cost",
        ),
    ),
]


def _count_tests(kind, p):
    """How many tests a suite generated from ``p`` holds."""
    if kind == "skewed":
        return p["fast"] + len(p["slow"])
    if kind == "fixtures":
        return p["modules"] * p["funcs"] * p["params"]
    return p["tests"]


def suite_table(smoke):
    """The suites, full-size or smoke-size (same names, smaller sizes)."""
    table = []
    for spec in SUITES:
        args = _at_size(spec, smoke)
        if args.pop("full_only", False) and smoke:
            continue
        table.append(Suite(tests=_count_tests(args["kind"], args["params"]), **args))
    return table


DEFAULT_SUITES = [spec["name"] for spec in SUITES]
DEFAULT_SMOKE_SUITES = ["trivial-20k", "failures-2000"]

PYTEST_INI = "[pytest]\n# Generated by benchmarks/bench_run.py; isolates the suite from the repo's config.\naddopts =\n"


def gen_trivial(p):
    files = {}
    total, per = p["tests"], p["per_file"]
    nfiles = (total + per - 1) // per
    for f in range(nfiles):
        lines = ["# Generated by benchmarks/bench_run.py\n"]
        for t in range(f * per, min(total, (f + 1) * per)):
            lines.append("\n\ndef test_t%06d():\n    pass\n" % t)
        files["test_trivial_%05d.py" % f] = "".join(lines)
    return files


def gen_sleep(p):
    files = {}
    total, per = p["tests"], p["per_file"]
    for f in range((total + per - 1) // per):
        lines = ["# Generated by benchmarks/bench_run.py\nimport time\n"]
        for t in range(f * per, min(total, (f + 1) * per)):
            lines.append("\n\ndef test_sleep_%05d():\n    time.sleep(%r)\n" % (t, p["seconds"]))
        files["test_sleep_%04d.py" % f] = "".join(lines)
    return files


def gen_skewed(p):
    files = {}
    total, per = p["fast"], p["per_file"]
    for f in range((total + per - 1) // per):
        lines = ["# Generated by benchmarks/bench_run.py\nimport time\n"]
        for t in range(f * per, min(total, (f + 1) * per)):
            lines.append("\n\ndef test_fast_%05d():\n    time.sleep(%r)\n" % (t, p["fast_seconds"]))
        files["test_a_fast_%04d.py" % f] = "".join(lines)
    # The slow tests come last in collection order (file names sort last),
    # in one file or spread over the last few.
    nslow_files = p.get("slow_files", 1)
    for k in range(nslow_files):
        lines = ["# Generated by benchmarks/bench_run.py\nimport time\n"]
        for i, secs in enumerate(p["slow"]):
            if i % nslow_files == k:
                lines.append("\n\ndef test_slow_%02d():\n    time.sleep(%r)\n" % (i, secs))
        name = "test_z_slow.py" if nslow_files == 1 else "test_z_slow_%d.py" % k
        files[name] = "".join(lines)
    return files


FAILURES_HEADER = """\
# Generated by benchmarks/bench_run.py
import logging
import sys

log = logging.getLogger(__name__)


def _payload(i):
    return {
        "id": i,
        "name": "payload-%d" % i,
        "items": ["item-%d-%d" % (i, k) for k in range(80)],
        "nested": {"key%02d" % k: list(range(k, k + 12)) for k in range(24)},
        "text": "lorem ipsum dolor sit amet " * 8,
    }


def _level3(i, expected):
    actual = _payload(i)
    actual["items"][40] = "CHANGED"
    actual["nested"]["key05"] = [0, 1, 2]
    actual["text"] = actual["text"].upper()
    assert actual == expected


def _level2(i, expected):
    local_copy = dict(expected)
    return _level3(i, local_copy)


def _level1(i):
    expected = _payload(i)
    return _level2(i, expected)


def _run(i):
    for k in range(40):
        print("captured stdout line %02d of test %05d: %s" % (k, i, "o" * 64))
    for k in range(20):
        sys.stderr.write("captured stderr line %02d of test %05d: %s\\n" % (k, i, "e" * 64))
    for k in range(10):
        log.warning("captured log record %02d of test %05d: %s", k, i, "l" * 48)
    _level1(i)
"""


def gen_failures(p):
    files = {}
    total, per = p["tests"], p["per_file"]
    for f in range((total + per - 1) // per):
        lines = [FAILURES_HEADER]
        for t in range(f * per, min(total, (f + 1) * per)):
            lines.append("\n\ndef test_fail_%05d():\n    _run(%d)\n" % (t, t))
        files["test_failures_%04d.py" % f] = "".join(lines)
    return files


FIXTURES_CONFTEST = """\
# Generated by benchmarks/bench_run.py
import pytest


@pytest.fixture(scope="session")
def sess_config():
    return {"name": "bench", "size": 10}


@pytest.fixture(scope="session")
def sess_db(sess_config):
    db = {"rows": list(range(sess_config["size"]))}
    yield db
    db.clear()


@pytest.fixture(scope="session")
def sess_cache():
    return {}


@pytest.fixture(scope="module")
def mod_resource(request, sess_db):
    return (request.module.__name__, len(sess_db["rows"]))


@pytest.fixture(scope="class")
def cls_state(request):
    return {"cls": request.cls.__name__ if request.cls else None}


@pytest.fixture(autouse=True)
def auto_marker(request):
    request.node.user_properties.append(("auto", 1))
    yield
    request.node.user_properties.clear()


@pytest.fixture(autouse=True)
def auto_counter(sess_cache):
    sess_cache["n"] = sess_cache.get("n", 0) + 1


@pytest.fixture
def f1(sess_config):
    return 1


@pytest.fixture
def f2(f1, sess_db):
    return f1 + 1


@pytest.fixture
def f3(f2):
    yield f2 + 1


@pytest.fixture
def f4(f3, mod_resource):
    return f3 + 1


@pytest.fixture
def f5(f4, request):
    return f4 + 1


@pytest.fixture
def f6(f5):
    yield f5 + 1


@pytest.fixture
def f7(f6, sess_cache):
    return f6 + 1


@pytest.fixture
def f8(f7):
    return f7 + 1


@pytest.fixture(params=[PARAMS])
def flavour(request):
    return request.param
"""


def gen_fixtures(p):
    params = ", ".join(repr("p%d" % k) for k in range(p["params"]))
    files = {"conftest.py": FIXTURES_CONFTEST.replace("[PARAMS]", "[%s]" % params)}
    funcs = p["funcs"]
    for m in range(p["modules"]):
        lines = ["# Generated by benchmarks/bench_run.py\n"]
        half = funcs // 2
        for t in range(half):
            lines.append(
                "\n\ndef test_fx_%03d(f8, flavour, mod_resource, sess_db, monkeypatch):\n"
                "    monkeypatch.setenv('BENCH_FX', flavour)\n"
                "    assert f8 == 8 and mod_resource[1] == 10\n" % t
            )
        lines.append("\n\nclass TestFixtures:\n")
        for t in range(half, funcs):
            lines.append(
                "    def test_fx_%03d(self, f8, flavour, cls_state, mod_resource, request):\n"
                "        assert f8 == 8 and cls_state['cls'] == 'TestFixtures'\n\n" % t
            )
        files["test_fixtures_%03d.py" % m] = "".join(lines)
    return files


GENERATORS = {
    "trivial": gen_trivial,
    "sleep": gen_sleep,
    "skewed": gen_skewed,
    "failures": gen_failures,
    "fixtures": gen_fixtures,
}


def ensure_suite(suite, suites_dir):
    """Generate ``suite`` under ``suites_dir`` unless an identical copy is there.

    Files are not rewritten when unchanged, so pytest's cached rewritten
    bytecode (``__pycache__``) stays valid between invocations.
    """
    path = os.path.join(suites_dir, suite.name)
    spec = json.dumps({"v": GENERATOR_VERSION, "kind": suite.kind, "params": suite.params}, sort_keys=True)
    stamp = os.path.join(path, ".bench-suite.json")
    try:
        with open(stamp) as f:
            if f.read() == spec:
                return path
    except OSError:
        pass
    if os.path.isdir(path):
        shutil.rmtree(path)
    os.makedirs(path)
    files = GENERATORS[suite.kind](suite.params)
    files["pytest.ini"] = PYTEST_INI
    for name, text in files.items():
        with open(os.path.join(path, name), "w") as f:
            f.write(text)
    with open(stamp, "w") as f:
        f.write(spec)
    return path


# --------------------------------------------------------------------------
# Environments
# --------------------------------------------------------------------------


class SetupError(Exception):
    pass


def venv_python(venv_dir):
    if os.name == "nt":
        return os.path.join(venv_dir, "Scripts", "python.exe")
    return os.path.join(venv_dir, "bin", "python")


def run_logged(cmd, log, cwd=None):
    with open(log, "a") as f:
        f.write("$ %s\n" % " ".join(cmd))
        f.flush()
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=cwd, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise SetupError("`%s` failed with exit code %d (log: %s)" % (" ".join(cmd), r.returncode, log))


def repo_source_hash():
    """Hash of the files that make up the installed xdist_c package."""
    h = hashlib.sha256()
    paths = []
    for top in ("pyproject.toml", "setup.py", "setup.cfg", "MANIFEST.in"):
        if os.path.isfile(os.path.join(REPO_ROOT, top)):
            paths.append(top)
    for sub in ("xdist_c", "csrc", "src"):
        root = os.path.join(REPO_ROOT, sub)
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for fn in sorted(filenames):
                if fn.endswith((".so", ".pyd", ".o", ".pyc")):
                    continue
                paths.append(os.path.relpath(os.path.join(dirpath, fn), REPO_ROOT))
    for rel in paths:
        h.update(rel.encode() + b"\0")
        with open(os.path.join(REPO_ROOT, rel), "rb") as f:
            h.update(f.read())
        h.update(b"\0")
    return h.hexdigest()


def ensure_venv(venv_dir, base_python, install_args, stamp_value, log, recreate, update_args=None):
    """Create ``venv_dir`` and pip-install into it; return its interpreter.

    A stamp file records what was installed; if it differs, the venv is
    updated with ``update_args`` (or recreated when there are none).
    """
    py = venv_python(venv_dir)
    stamp = os.path.join(venv_dir, ".bench-stamp")
    current = None
    if os.path.isfile(py) and not recreate:
        try:
            with open(stamp) as f:
                current = f.read()
        except OSError:
            current = None
        if current == stamp_value:
            return py
    if current is None or update_args is None:
        if os.path.isdir(venv_dir):
            shutil.rmtree(venv_dir)
        print("  creating %s (log: %s)" % (venv_dir, log), flush=True)
        run_logged([base_python, "-m", "venv", venv_dir], log)
        run_logged([py, "-m", "pip", "install", "--disable-pip-version-check"] + install_args, log)
    else:
        print("  updating %s (log: %s)" % (venv_dir, log), flush=True)
        run_logged([py, "-m", "pip", "install", "--disable-pip-version-check"] + update_args, log)
    with open(stamp, "w") as f:
        f.write(stamp_value)
    return py


def probe(python):
    r = subprocess.run(
        [python, "-c", PROBE], capture_output=True, text=True, stdin=subprocess.DEVNULL, cwd=tempfile.gettempdir()
    )
    if r.returncode != 0:
        raise SetupError("probing %s failed: %s" % (python, r.stderr.strip()[-500:]))
    return json.loads(r.stdout.strip().splitlines()[-1])


def setup_products(args, logs_dir):
    """Return {product: {"python", "info", "error"}} for the selected products."""
    envs = {}
    need_x = PYTEST_XDIST in args.products or (
        SERIAL in args.products and not args.serial_python and XDIST_C not in args.products
    )
    need_c = XDIST_C in args.products or (
        SERIAL in args.products and not args.serial_python and XDIST_C in args.products
    )

    def setup(product, fn):
        try:
            py = fn()
            info = probe(py)
            envs[product] = {"python": py, "info": info, "error": None}
        except (SetupError, OSError, ValueError) as e:
            envs[product] = {"python": None, "info": None, "error": "environment setup failed: %s" % e}

    if need_x:

        def mk_x():
            if args.xdist_python:
                return args.xdist_python
            return ensure_venv(
                os.path.join(args.work_dir, "venv-pytest-xdist"),
                args.venv_python,
                ["pytest", PYTEST_XDIST_SPEC],
                "pytest " + PYTEST_XDIST_SPEC,
                os.path.join(logs_dir, "setup-pytest-xdist.log"),
                args.recreate_venvs,
            )

        setup(PYTEST_XDIST, mk_x)
    if need_c:

        def mk_c():
            if args.xdist_c_python:
                return args.xdist_c_python
            return ensure_venv(
                os.path.join(args.work_dir, "venv-xdist-c"),
                args.venv_python,
                [REPO_ROOT],
                repo_source_hash(),
                os.path.join(logs_dir, "setup-xdist-c.log"),
                args.recreate_venvs,
                update_args=["--no-deps", "--force-reinstall", REPO_ROOT],
            )

        setup(XDIST_C, mk_c)

    # The two products must never share an environment.
    x, c = envs.get(PYTEST_XDIST), envs.get(XDIST_C)
    if x and x["info"]:
        if x["info"]["xdist-c"]:
            x["error"] = "the pytest-xdist environment (%s) also has xdist-c installed" % x["python"]
        elif x["info"]["pytest-xdist"] is None:
            x["error"] = "pytest-xdist is not installed in %s" % x["python"]
    if c and c["info"]:
        if c["info"]["pytest-xdist"]:
            c["error"] = "the xdist_c environment (%s) also has pytest-xdist installed" % c["python"]
        elif c["info"]["xdist-c"] is None:
            c["error"] = "xdist-c is not installed in %s" % c["python"]
    if (
        x
        and c
        and x["info"]
        and c["info"]
        and (os.path.realpath(x["info"]["prefix"]) == os.path.realpath(c["info"]["prefix"]))
    ):
        x["error"] = c["error"] = "pytest-xdist and xdist_c share one environment (%s)" % (x["info"]["prefix"])

    if SERIAL in args.products:
        if args.serial_python:
            setup(SERIAL, lambda: args.serial_python)
        else:
            src = envs[XDIST_C] if XDIST_C in args.products else envs[PYTEST_XDIST]
            if src["info"] is not None:
                envs[SERIAL] = dict(src, error=None)
            else:
                envs[SERIAL] = dict(src)
    return envs


# --------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------


def become_subreaper():
    """Linux: orphaned workers get re-parented to us, so we reap (and count) them."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except Exception:
        return False


def reap_strays(deadline_s=30.0):
    """Wait for descendants the controller left behind; return how many."""
    n = 0
    end = time.monotonic() + deadline_s
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return n
        except OSError as e:
            if e.errno == errno.ECHILD:
                return n
            raise
        if pid:
            n += 1
            continue
        if time.monotonic() > end:
            return -1  # something is still running
        time.sleep(0.01)


def tree_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def pytest_args(product, n, suite_path):
    args = ["-q", "-p", "no:cacheprovider"]
    if product == SERIAL:
        args += ["-p", "no:xdist"]
    else:
        args += ["-n", str(n)]
    return args + [suite_path]


def run_env():
    env = dict(os.environ)
    # A clean, typical environment: no extra pytest options or plugins, and
    # bytecode caching on (PYTHONDONTWRITEBYTECODE would make every run, and
    # every worker, recompile all the test modules).
    for k in (
        "PYTEST_ADDOPTS",
        "PYTEST_PLUGINS",
        "PYTHONPATH",
        "PYTEST_XDIST_AUTO_NUM_WORKERS",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD",
        "PYTHONDONTWRITEBYTECODE",
        RESULT_ENV,
    ):
        env.pop(k, None)
    return env


def measure(python, product, n, suite, suite_path, log, timeout, subreaper):
    """One run.  Returns a dict with wall/CPU/RSS numbers or an ``error``."""
    res_fd, res_path = tempfile.mkstemp(prefix="bench-result-", suffix=".json")
    os.close(res_fd)
    os.unlink(res_path)
    env = run_env()
    env[RESULT_ENV] = res_path
    cmd = [python, "-c", WRAPPER] + pytest_args(product, n, suite_path)
    rec = {
        "suite": suite.name,
        "tests": suite.tests,
        "product": product,
        "n": None if product == SERIAL else n,
        "log": log,
        "error": None,
    }
    with open(log, "w") as out:
        out.write("$ %s -c WRAPPER %s\n" % (python, " ".join(cmd[3:])))
        out.flush()
        cpu0 = tree_cpu()
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=suite_path,
            env=env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            proc.wait()
            rec["error"] = "timeout after %ss" % timeout
        wall = time.perf_counter() - t0
        strays = reap_strays() if subreaper else 0
        cpu1 = tree_cpu()
    rec.update(wall=wall, tree_cpu=cpu1 - cpu0, exit_status=proc.returncode, strays_reaped=strays)
    if strays < 0 and rec["error"] is None:
        rec["error"] = "processes left running after the controller exited"
    try:
        with open(res_path) as f:
            data = json.loads(f.read())
        os.unlink(res_path)
    except (OSError, ValueError):
        data = None
    if data is None:
        if rec["error"] is None:
            rec["error"] = "controller exited with status %s without a result" % proc.returncode
        return rec
    maxrss_kib = data["maxrss"] / 1024.0 if data["platform"] == "darwin" else data["maxrss"]
    rec.update(rc=data["rc"], ctrl_cpu=data["utime"] + data["stime"], ctrl_maxrss_kib=maxrss_kib, counts=data["counts"])
    if rec["error"] is None and data["rc"] not in (0, 1):
        rec["error"] = "pytest exit code %d" % data["rc"]
    if rec["error"] is None:
        done = sum(v for k, v in data["counts"].items() if k in ("passed", "failed", "skipped", "xfailed", "xpassed"))
        notes = []
        if data["rc"] != suite.expect_rc:
            notes.append("exit code %d, expected %d" % (data["rc"], suite.expect_rc))
        if done != suite.tests:
            notes.append("%d of %d tests reported" % (done, suite.tests))
        if notes:
            rec["warning"] = "; ".join(notes)
    return rec


FLOOR_CONFTEST = r"""
# Generated by benchmarks/bench_run.py: the controller's per-test floor.
import os, sys, time

N = int(os.environ["XDIST_C_BENCH_FLOOR_N"])


def pytest_runtestloop(session):
    from _pytest.reports import TestReport
    hook = session.config.hook
    base = dict(location=("test_floor.py", 1, "test_t"), outcome="passed", longrepr=None,
                sections=[], duration=0.0001, start=1.0, stop=1.0001, user_properties=[])
    tests = []
    for i in range(N):
        nodeid = "test_floor.py::test_t%07d" % i
        keywords = {"test_t%07d" % i: 1, "test_floor.py": 1, "floor": 1}
        tests.append([dict(base, nodeid=nodeid, when=when, keywords=dict(keywords))
                      for when in ("setup", "call", "teardown")])
    if os.environ.get("XDIST_C_BENCH_FLOOR_HOOKEXEC"):
        # The same calls through xdist_c's HookExec, as its controller makes them.
        from xdist_c.speedups.hookexec import install
        relay = install(session.config.pluginmanager)
        logstart, logreport = hook.pytest_runtest_logstart, hook.pytest_runtest_logreport
        logfinish = hook.pytest_runtest_logfinish
        t0 = time.process_time()
        for reports in tests:
            nodeid, location = reports[0]["nodeid"], reports[0]["location"]
            relay(logstart, {"nodeid": nodeid, "location": location})
            for data in reports:
                relay(logreport, {"report": TestReport(**data)})
            relay(logfinish, {"nodeid": nodeid, "location": location})
    else:
        t0 = time.process_time()
        for reports in tests:
            nodeid, location = reports[0]["nodeid"], reports[0]["location"]
            hook.pytest_runtest_logstart(nodeid=nodeid, location=location)
            for data in reports:
                hook.pytest_runtest_logreport(report=TestReport(**data))
            hook.pytest_runtest_logfinish(nodeid=nodeid, location=location)
    took = time.process_time() - t0
    sys.stderr.write("\nFLOOR_US_PER_TEST %.3f\n" % (took / N * 1e6))
    session.testscollected = N
    return True
"""


def measure_floor(python, suites_dir, n_tests, log, hookexec=False):
    """pytest's own CPU per test for the hook calls a controller makes
    (with ``hookexec``: made through xdist_c's HookExec, as its controller
    does)."""
    path = os.path.join(suites_dir, "floor")
    os.makedirs(path, exist_ok=True)
    for name, text in (("conftest.py", FLOOR_CONFTEST), ("test_floor.py", ""), ("pytest.ini", PYTEST_INI)):
        with open(os.path.join(path, name), "w") as f:
            f.write(text)
    env = run_env()
    env["XDIST_C_BENCH_FLOOR_N"] = str(n_tests)
    if hookexec:
        env["XDIST_C_BENCH_FLOOR_HOOKEXEC"] = "1"
    cmd = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"]
    with open(log, "w") as out:
        proc = subprocess.run(
            cmd, cwd=path, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=1800
        )
    for line in log_tail(log, 200):
        if line.startswith("FLOOR_US_PER_TEST "):
            return float(line.split()[1])
    print("  floor measurement failed (exit %s), see %s" % (proc.returncode, log), flush=True)
    return None


def warm_up(python, suite_path, log):
    """Collect once so that every product starts with pytest's rewritten bytecode cached."""
    with open(log, "a") as out:
        subprocess.run(
            [python, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", suite_path],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=suite_path,
            env=run_env(),
            stdin=subprocess.DEVNULL,
        )
    reap_strays(5.0)


# --------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_rev():
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        ).stdout.strip()
        return rev + (" (uncommitted changes)" if dirty else "") if rev else "unknown"
    except OSError:
        return "unknown"


def machine_info():
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    return {
        "nproc": affinity or os.cpu_count(),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "platform": platform.platform(),
        "harness_python": sys.version.split()[0],
        "git": git_rev(),
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
    }


def fmt(v, digits):
    return "—" if v is None else "%.*f" % (digits, v)


def fmt_wall(v):
    if v is None:
        return "—"
    return "%.2f" % v if v >= 10 else "%.3f" % v


def fmt_us(v):
    if v is None:
        return "—"
    return "%.0f" % v if v >= 100 else "%.1f" % v


def median_of(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def summarize(results, plan, envs):
    """One row per (suite, n, product)."""
    rows = []
    for suite, ns in plan:
        serial_wall = serial_cpu = None
        xdist_wall = {}
        for product, n in row_keys(ns, envs):
            runs = [r for r in results if r["suite"] == suite.name and r["product"] == product and r["n"] == n]
            ok = [r for r in runs if not r.get("error")]
            # Each distinct error/warning once, with the log of its first run.
            errors, warnings = {}, {}
            for r in runs:
                if r.get("error"):
                    errors.setdefault(r["error"], r["log"])
                elif r.get("warning"):
                    warnings.setdefault(r["warning"], r["log"])
            errors = sorted(errors.items())
            warnings = sorted(warnings.items())
            if product in envs and envs[product]["error"] and not runs:
                errors = [(envs[product]["error"], None)]
            row = {
                "suite": suite.name,
                "tests": suite.tests,
                "n": n,
                "product": product,
                "runs": len(runs),
                "ok": len(ok),
                "errors": errors,
                "warnings": warnings,
                "wall": median_of(ok, "wall"),
                "tree_cpu": median_of(ok, "tree_cpu"),
                "ctrl_cpu": median_of(ok, "ctrl_cpu"),
                "ctrl_rss_mib": None,
                "ctrl_us_per_test": None,
                "workers_cpu": median_of([{"w": r["tree_cpu"] - r["ctrl_cpu"]} for r in ok if "ctrl_cpu" in r], "w"),
                "workers_vs_serial_cpu": None,
                "vs_pytest_xdist": None,
                "vs_serial": None,
            }
            rss = median_of(ok, "ctrl_maxrss_kib")
            if rss is not None:
                row["ctrl_rss_mib"] = rss / 1024.0
            per = [r["ctrl_cpu"] / suite.tests * 1e6 for r in ok]
            if per:
                row["ctrl_us_per_test"] = statistics.median(per)
            if product == SERIAL:
                serial_wall = row["wall"]
                serial_cpu = row["tree_cpu"]
            elif product == PYTEST_XDIST:
                xdist_wall[n] = row["wall"]
            rows.append(row)
        for row in rows:
            if row["suite"] != suite.name or row["wall"] is None or row["product"] == SERIAL:
                continue
            if serial_wall:
                row["vs_serial"] = row["wall"] / serial_wall
            if serial_cpu and row["workers_cpu"] is not None:
                row["workers_vs_serial_cpu"] = row["workers_cpu"] / serial_cpu
            if row["product"] == XDIST_C and xdist_wall.get(row["n"]):
                row["vs_pytest_xdist"] = row["wall"] / xdist_wall[row["n"]]
    return rows


def row_keys(ns, envs_or_products):
    products = [p for p in PRODUCTS if p in envs_or_products]
    keys = []
    if SERIAL in products:
        keys.append((SERIAL, None))
    for n in ns:
        for p in products:
            if p != SERIAL:
                keys.append((p, n))
    return keys


def render(rows, meta, envs, args):
    out = []
    title = "xdist_c benchmark" + (" (smoke run: tiny sizes, not for comparison)" if args.smoke else "")
    out.append("## " + title)
    out.append("")
    m = meta["machine"]
    out.append(
        "- machine: %s CPUs usable (%s online), %s, %s" % (m["nproc"], m["cpu_count"], m["cpu_model"], m["platform"])
    )
    out.append("- date: %s; repository %s; harness Python %s" % (m["date"], m["git"], m["harness_python"]))
    for p in PRODUCTS:
        if p not in envs:
            continue
        e = envs[p]
        if e["info"]:
            i = e["info"]
            extra = ""
            if p == PYTEST_XDIST:
                extra = ", pytest-xdist %s" % i["pytest-xdist"]
            elif p == XDIST_C:
                extra = ", xdist-c %s" % i["xdist-c"]
            elif p == SERIAL:
                extra = ", run with -p no:xdist"
            out.append(
                "- %s: Python %s, pytest %s%s, execnet %s (%s); pytest11 plugins: %s"
                % (
                    p,
                    i["python"],
                    i["pytest"],
                    extra,
                    i["execnet"],
                    e["python"],
                    ", ".join(i.get("plugins") or []) or "none",
                )
            )
        else:
            out.append("- %s: **%s**" % (p, e["error"]))
    out.append(
        "- settings: %d repetition(s), median reported; pytest args `-q -p no:cacheprovider`"
        " plus `-n N` (xdist products) or `-p no:xdist` (serial)" % args.reps
    )
    out.append("")
    hdr = [
        "suite",
        "tests",
        "-n",
        "product",
        "runs",
        "wall s",
        "tree CPU s",
        "ctrl CPU µs/test",
        "ctrl RSS MiB",
        "workers CPU / serial CPU",
        "vs pytest-xdist",
        "vs serial",
    ]
    out.append("| " + " | ".join(hdr) + " |")
    out.append("|" + "|".join(["---", "--:", "--:", "---"] + ["--:"] * 8) + "|")
    for r in rows:
        runs = "%d/%d" % (r["ok"], r["runs"])
        if r["ok"] == 0 and r["errors"]:
            wall = "ERROR"
        else:
            wall = fmt_wall(r["wall"])
            if r["errors"]:
                wall += " (ERRORS)"
            elif r["warnings"]:
                wall += " (!)"
        cells = [
            r["suite"],
            "{:,}".format(r["tests"]),
            "—" if r["n"] is None else str(r["n"]),
            r["product"],
            runs,
            wall,
            fmt(r["tree_cpu"], 2),
            fmt_us(r["ctrl_us_per_test"]),
            fmt(r["ctrl_rss_mib"], 1),
            fmt(r["workers_vs_serial_cpu"], 2),
            fmt(r["vs_pytest_xdist"], 2),
            fmt(r["vs_serial"], 2),
        ]
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    out.append(
        "wall s / tree CPU s: medians of wall time and of CPU time of the whole process "
        "tree (controller + workers); ctrl CPU µs/test: the controller process's own "
        "CPU (incl. start-up) divided by the number of tests; ctrl RSS: controller peak "
        "RSS; workers CPU / serial CPU: the tree's CPU minus the controller's, over "
        "the serial run's CPU; vs pytest-xdist / vs serial: ratio of median wall "
        "times (same -n). runs: successful/attempted."
    )
    if meta.get("floor_us") is not None:
        out.append("")
        out.append(
            "pytest floor: %.1f µs of CPU per test, measured on this machine in this run: "
            "one serial pytest process (the xdist_c interpreter, -p no:xdist) replaying "
            "what a controller must do for each passing test - "
            "pytest_runtest_logstart, three TestReport(**data) + "
            "pytest_runtest_logreport, pytest_runtest_logfinish - through pytest's own "
            "hooks and terminal reporter, without any transport." % meta["floor_us"]
        )
        if meta.get("floor_hookexec_us") is not None:
            out.append("")
            out.append(
                "The same replay through xdist_c's HookExec (how its controller makes "
                "these calls): %.1f µs per test. xdist_c's controller CPU per test can "
                "approach this, not go below it." % meta["floor_hookexec_us"]
            )
    problems = [r for r in rows if r["errors"] or r["warnings"]]
    if problems:
        out.append("")
        out.append("### Errors and warnings")
        out.append("")
        for r in problems:
            where = "%s -n %s %s" % (r["suite"], "—" if r["n"] is None else r["n"], r["product"])
            for e, log in r["errors"]:
                out.append("- ERROR %s: %s" % (where, e))
                if log:
                    last = [line.strip() for line in log_tail(log, 40) if line.strip()]
                    out.append("  log: %s" % log)
                    if last:
                        out.append("  last line: `%s`" % last[-1][:200].replace("`", "'"))
            for w, log in r["warnings"]:
                out.append("- warning (!) %s: %s (log: %s)" % (where, w, log))
    return "\n".join(out)


def log_tail(path, lines=8):
    try:
        with open(path, errors="replace") as f:
            return [line.rstrip("\n") for line in f.readlines()[-lines:]]
    except OSError:
        return []


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def parse_products(text):
    out = []
    for p in text.split(","):
        p = p.strip()
        if not p:
            continue
        if p not in PRODUCT_ALIASES:
            raise argparse.ArgumentTypeError("unknown product %r (choose from %s)" % (p, ", ".join(PRODUCTS)))
        if PRODUCT_ALIASES[p] not in out:
            out.append(PRODUCT_ALIASES[p])
    if not out:
        raise argparse.ArgumentTypeError("no products given")
    return out


def parse_ns(text):
    try:
        ns = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("-n takes worker counts like 2 or 1,2,4") from None
    if not ns or any(n < 1 for n in ns):
        raise argparse.ArgumentTypeError("-n takes positive worker counts like 2 or 1,2,4")
    return ns


def build_parser():
    p = argparse.ArgumentParser(
        description="End-to-end benchmark of serial pytest vs pytest-xdist 3.8 vs xdist_c.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="suites: " + ", ".join(DEFAULT_SUITES),
    )
    p.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes for CI (defaults: suites %s, --reps 1, -n 2)" % ",".join(DEFAULT_SMOKE_SUITES),
    )
    p.add_argument("--suites", help="comma-separated suites to run (default: all; 'all' selects all)")
    p.add_argument("--reps", type=int, help="repetitions per product (default 3; smoke 1)")
    p.add_argument(
        "-n",
        dest="ns",
        type=parse_ns,
        help="worker count(s), e.g. 2 or 1,2,4 (default 2); the startup suite "
        "always uses -n 2, -n 4 and -n 8 (smoke: -n 2)",
    )
    p.add_argument(
        "--products",
        type=parse_products,
        default=list(PRODUCTS),
        help="comma-separated subset of %s (default: all)" % ",".join(PRODUCTS),
    )
    p.add_argument("--json", dest="json_out", help="write raw results and the summary here")
    p.add_argument(
        "--work-dir", default=DEFAULT_WORK, help="where suites, venvs and logs go (default benchmarks/_work)"
    )
    p.add_argument(
        "--xdist-python",
        help="use this interpreter (with pytest-xdist 3.8 installed) instead of making <work-dir>/venv-pytest-xdist",
    )
    p.add_argument(
        "--xdist-c-python",
        help="use this interpreter (with xdist-c installed) instead of making <work-dir>/venv-xdist-c",
    )
    p.add_argument(
        "--serial-python",
        help="interpreter for the serial product (default: the xdist_c one, or the "
        "pytest-xdist one when xdist_c is not selected); run with -p no:xdist",
    )
    p.add_argument(
        "--venv-python",
        default=sys.executable,
        help="base interpreter for the venvs the script makes (default: this one)",
    )
    p.add_argument("--recreate-venvs", action="store_true", help="delete and remake the venvs the script manages")
    p.add_argument(
        "--timeout",
        type=float,
        default=1800.0,
        help="seconds before one run is killed and reported as an error (default 1800)",
    )
    p.add_argument(
        "--fail-on-error",
        action="store_true",
        help="exit with status 1 when any run or environment setup failed (the table is printed either way)",
    )
    p.add_argument(
        "--no-warmup",
        action="store_true",
        help="skip the untimed collection that caches rewritten bytecode per interpreter",
    )
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.reps is None:
        args.reps = 1 if args.smoke else 3
    if args.reps < 1:
        sys.exit("--reps must be >= 1")
    if args.ns is None:
        args.ns = [2]
    args.work_dir = os.path.abspath(args.work_dir)
    table = {s.name: s for s in suite_table(args.smoke)}
    if args.suites in (None, ""):
        names = DEFAULT_SMOKE_SUITES if args.smoke else DEFAULT_SUITES
    elif args.suites == "all":
        names = DEFAULT_SUITES
    else:
        names = [s.strip() for s in args.suites.split(",") if s.strip()]
    unknown = [s for s in names if s not in table]
    if unknown:
        sys.exit("unknown suite(s): %s (choose from %s)" % (", ".join(unknown), ", ".join(DEFAULT_SUITES)))
    suites = [table[s] for s in names]
    plan = [(s, list(s.ns) if s.ns else list(args.ns)) for s in suites]

    suites_dir = os.path.join(args.work_dir, "suites", "smoke" if args.smoke else "full")
    logs_dir = os.path.join(args.work_dir, "logs")
    os.makedirs(suites_dir, exist_ok=True)
    os.makedirs(logs_dir, exist_ok=True)
    subreaper = become_subreaper()

    print("setting up environments ...", flush=True)
    envs = setup_products(args, logs_dir)
    for p in args.products:
        if envs[p]["error"]:
            print("  %s: %s" % (p, envs[p]["error"]), flush=True)
        else:
            print("  %s: %s" % (p, envs[p]["python"]), flush=True)
    runnable = [p for p in args.products if not envs[p]["error"]]
    meta = {
        "machine": machine_info(),
        "args": {k: v for k, v in vars(args).items()},
        "subreaper": subreaper,
        "envs": {p: {"python": e["python"], "info": e["info"], "error": e["error"]} for p, e in envs.items()},
    }

    results = []
    t_start = time.perf_counter()
    for suite, ns in plan:
        print("suite %s (%s tests): generating ..." % (suite.name, f"{suite.tests:,}"), flush=True)
        path = ensure_suite(suite, suites_dir)
        if not args.no_warmup:
            for py in sorted({envs[p]["python"] for p in runnable}):
                warm_up(py, path, os.path.join(logs_dir, "warmup-%s.log" % suite.name))
        for rep in range(min(args.reps, suite.max_reps or args.reps)):
            for product, n in row_keys(ns, runnable):
                tag = "%s-%s%s-r%d" % (suite.name, product, "" if n is None else "-n%d" % n, rep)
                log = os.path.join(logs_dir, tag + ".log")
                rec = measure(envs[product]["python"], product, n, suite, path, log, args.timeout, subreaper)
                rec["rep"] = rep
                results.append(rec)
                status = rec["error"] or rec.get("warning") or "ok"
                print(
                    "  rep %d %-12s %-5s wall %7.3fs  tree CPU %7.2fs  %s"
                    % (rep + 1, product, "" if n is None else "-n%d" % n, rec["wall"], rec["tree_cpu"], status),
                    flush=True,
                )
                if rec["error"]:
                    for line in log_tail(log, 5):
                        print("      | " + line, flush=True)
    floor_python = envs.get(XDIST_C, {}).get("python") if XDIST_C in runnable else None
    if floor_python:
        print("pytest floor (controller hook replay) ...", flush=True)
        n_floor = 500 if args.smoke else 20000
        meta["floor_us"] = measure_floor(floor_python, suites_dir, n_floor, os.path.join(logs_dir, "floor.log"))
        meta["floor_hookexec_us"] = measure_floor(
            floor_python, suites_dir, n_floor, os.path.join(logs_dir, "floor-hookexec.log"), hookexec=True
        )
    print("total benchmark time %.1fs" % (time.perf_counter() - t_start), flush=True)

    rows = summarize(results, plan, {p: envs[p] for p in args.products})
    print()
    print(render(rows, meta, {p: envs[p] for p in args.products}, args))
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"meta": meta, "runs": results, "summary": rows}, f, indent=1, default=str)
        print("\nraw results written to %s" % args.json_out)
    if args.fail_on_error and any(r["errors"] for r in rows):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
