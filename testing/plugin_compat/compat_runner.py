"""Runs the plugin compatibility cases and reduces each run to what is compared.

A case is a directory under ``cases/`` holding a small test suite (tests,
conftest, ini file) and a ``case.json``:

``plugins``   entry-point names of the third-party plugins the case needs;
              every other plugin of :data:`THIRD_PARTY` is disabled with
              ``-p no:NAME`` (so pytest-randomly only runs in its own case);
``args``      its command-line arguments (after ``-n``/``--dist``);
``n``         the ``-n`` value (default 2); ``dist``: a ``--dist`` mode or null;
``env``       variables to set for the run;
``collection`` true: compare the collection the workers announced;
``grep``      regular expressions: whether each matches the output is compared;
``facts``     names of :data:`FACTS`: what is compared of the files the run
              wrote (coverage data, reports) or of the shape of its output.

Each run copies the case into a fresh directory and runs ``python -m pytest
-n N ...`` there with a clean environment (no ``PYTEST_*``, ``XDIST_C_*``,
``PYTHONPATH``, ``COV_CORE_*``, ``DJANGO_*``, ``COVERAGE_*`` of the caller).
The fidelity corpus's observer (``testing/fidelity/helper``) records, in the
controller, every report (``nodeid when outcome``) and the exit status.  The
reduced result holds the exit code, the final summary line's counts, those
reports, the sorted lines the tests wrote under ``out/``, the ``grep``
answers and the ``facts``; nothing in it depends on timings, paths, process
ids or which worker ran what.
"""

from __future__ import annotations

import html
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from typing import Callable

HERE = Path(__file__).resolve().parent
CASES = HERE / "cases"
EXPECTED = HERE / "expected.json"
REQUIREMENTS = HERE / "requirements.txt"

if str(HERE.parent) not in sys.path:  # record.py runs outside the test suite
    sys.path.insert(0, str(HERE.parent))

from fidelity import runner as fidelity  # noqa: E402

# Every pytest11 entry point of the pinned plugins (pytest-xdist / xdist-c's
# own excepted): a case keeps the ones it names in "plugins".
THIRD_PARTY = [
    "asyncio",
    "benchmark",
    "django",
    "env",
    "html",
    "html_fixtures",
    "hypothesispytest",
    "instafail",
    "metadata",
    "pytest_cov",
    "pytest_jsonreport",
    "pytest_mock",
    "randomly",
    "repeat",
    "rerunfailures",
    "sugar",
    "timeout",
]

SCRUBBED_PREFIXES = ("DJANGO_", "COVERAGE_", "HYPOTHESIS_", "VIRTUAL_ENV")


def load_case(name: str) -> dict[str, Any]:
    spec = json.loads((CASES / name / "case.json").read_text())
    unknown = set(spec.get("plugins", [])) - set(THIRD_PARTY)
    assert not unknown, f"{name}: unknown plugins {unknown}"
    spec.setdefault("plugins", [])
    spec.setdefault("args", [])
    spec.setdefault("n", 2)
    spec.setdefault("dist", None)
    spec.setdefault("env", {})
    spec.setdefault("collection", False)
    spec.setdefault("grep", [])
    spec.setdefault("facts", [])
    return spec


def case_names() -> list[str]:
    return sorted(p.name for p in CASES.iterdir() if (p / "case.json").is_file())


def command_args(name: str) -> list[str]:
    """The arguments after ``python -m pytest`` for case ``name``."""
    spec = load_case(name)
    args = ["-n", str(spec["n"])]
    if spec["dist"]:
        args += ["--dist", spec["dist"]]
    for plugin in THIRD_PARTY:
        if plugin not in spec["plugins"]:
            args += ["-p", f"no:{plugin}"]
    return args + spec["args"]


def command_line(name: str) -> str:
    """The case's command, as a user would type it (for expected.json and docs)."""
    return " ".join(["pytest", *(shlex.quote(a) for a in command_args(name))])


def pins() -> dict[str, str]:
    """Distribution name (normalized) -> version, from requirements.txt."""
    found = {}
    for line in REQUIREMENTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            dist, _, version = line.partition("==")
            found[_normalize(dist)] = version.strip()
    return found


def _normalize(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist.strip()).lower()


def installed_versions(python: str) -> dict[str, str]:
    """Distribution name (normalized) -> version, of ``python``'s environment."""
    code = (
        "import importlib.metadata as m, json; "
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
    )
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True, env=clean_env({}))
    return {_normalize(k): v for k, v in json.loads(proc.stdout).items()}


def pin_mismatches(versions: dict[str, str]) -> dict[str, tuple[str, str | None]]:
    """The pinned distributions whose installed version differs: name ->
    (pinned, installed or None)."""
    return {name: (pin, versions.get(name)) for name, pin in pins().items() if versions.get(name) != pin}


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = fidelity.base_env()
    for k in list(env):
        if k.startswith(SCRUBBED_PREFIXES):
            del env[k]
    env.update(extra)
    return env


def run_case(name: str, workdir: Path, python: str) -> dict[str, Any]:
    """Copies case ``name`` into ``workdir`` (which must not exist), runs it
    with ``python`` and returns the reduced result (``"output"`` holds the
    run's output, which is not compared)."""
    spec = load_case(name)
    shutil.copytree(CASES / name, workdir, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache", "case.json"))
    if not any((workdir / ini).exists() for ini in ("pytest.ini", "tox.ini", "setup.cfg", "pyproject.toml")):
        (workdir / "pytest.ini").write_text("[pytest]\n")  # the rootdir is the case, wherever it is copied
    fidelity._attach_observer(workdir)
    observed = workdir.parent / (workdir.name + ".observer.jsonl")
    env = clean_env(spec["env"])
    env["PYTHONPATH"] = str(fidelity.HELPER)
    env["FIDELITY_OBSERVER_OUT"] = str(observed)
    cmd = [python, "-m", "pytest", *command_args(name)]
    output, code = fidelity.run_command(cmd, workdir, env, "plugin_compat")
    sessions = fidelity.observed_sessions(observed)
    result: dict[str, Any] = {
        "exitcode": code,
        "summary": fidelity.parse_summary(output),
        "exitstatus": [s["exitstatus"] for s in sessions],
        "reports": [s["reports"] for s in sessions],
        "out_lines": fidelity._out_lines(workdir),
        "grep": {pattern: bool(re.search(pattern, output, re.M)) for pattern in spec["grep"]},
    }
    if spec["collection"]:
        result["collection"] = [s["collection"] for s in sessions]
    for fact in spec["facts"]:
        result[fact] = FACTS[fact](workdir, output)
    result["output"] = output
    return result


def reduce(result: dict[str, Any]) -> dict[str, Any]:
    """The compared part of a result, as expected.json holds it (through
    JSON: tuples become lists)."""
    return json.loads(json.dumps({k: v for k, v in result.items() if k != "output"}))


# ------------------------------------------------------------------ facts


def _coverage(workdir: Path, output: str) -> Any:
    """The combined coverage data (per file: lines and branches run and
    missed; totals) and which data files were left behind."""
    path = workdir / "cov.json"
    data_files = sorted(re.sub(r"^\.coverage\..*", ".coverage.*", p.name) for p in workdir.glob(".coverage*"))
    if not path.exists():
        return {"json": None, "data_files": data_files}
    data = json.loads(path.read_text())
    files = {
        Path(name).name: {
            k: info[k]
            for k in ("executed_lines", "missing_lines", "executed_branches", "missing_branches")
            if k in info
        }
        for name, info in data["files"].items()
    }
    totals = {k: v for k, v in data["totals"].items() if k != "percent_covered"}
    return {"json": {"files": files, "totals": totals}, "data_files": data_files}


def _html(workdir: Path, output: str) -> Any:
    """pytest-html's report: its tests (node id, outcome) and its counts."""
    path = workdir / "report.html"
    if not path.exists():
        return None
    text = path.read_text()
    m = re.search(r'data-jsonblob="([^"]*)"', text)
    if m is None:
        return {"jsonblob": None}
    blob = json.loads(html.unescape(m.group(1)))
    tests = sorted(
        f"{nodeid} {entry['result']}" for nodeid, entries in blob.get("tests", {}).items() for entry in entries
    )
    counts = re.findall(r'<span class="(\w+)">(\d+) \w+', text)
    return {"tests": tests, "counts": sorted(counts), "title": re.findall(r"<h1 id=\"title\">([^<]*)</h1>", text)}


def _json_report(workdir: Path, output: str) -> Any:
    """pytest-json-report's file: exit code, summary, each test's outcome
    and stages, the collectors' outcomes, and the metadata a test added."""
    path = workdir / "report.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    summary = {k: v for k, v in data["summary"].items()}
    tests = sorted(
        " ".join(
            [t["nodeid"], t["outcome"], *(f"{w}:{t[w]['outcome']}" for w in ("setup", "call", "teardown") if w in t)]
        )
        + (f" metadata={json.dumps(t['metadata'], sort_keys=True)}" if "metadata" in t else "")
        for t in data.get("tests", [])
    )
    collectors = sorted(f"{c['nodeid']} {c['outcome']} {len(c.get('result', []))}" for c in data.get("collectors", []))
    return {
        "exitcode": data.get("exitcode"),
        "summary": summary,
        "tests": tests,
        "collectors": collectors,
        "keys": sorted(data),
    }


def _benchmark(workdir: Path, output: str) -> Any:
    """pytest-benchmark's JSON file: the names of the benchmarks in it."""
    path = workdir / "bench.json"
    if not path.exists():
        return {"json": None}
    data = json.loads(path.read_text())
    return {"json": sorted(b["fullname"] for b in data.get("benchmarks", []))}


def _instafail(workdir: Path, output: str) -> Any:
    """pytest-instafail: the failure headings and ``E`` lines printed while
    the tests ran (before the progress reached 100%), and whether the end
    still has FAILURES/ERRORS sections."""
    end = output.find("[100%]")
    body = output if end < 0 else output[:end]
    return {
        "early_headings": sorted(set(re.findall(r"^_{3,} (.+?) _{3,}$", body, re.M))),
        "early_tracebacks": sorted(set(re.findall(r"^E[ \t]+(.*?)[ \t]*$", body, re.M))),
        "failures_section": bool(re.search(r"^=+ FAILURES =+$", output, re.M)),
        "errors_section": bool(re.search(r"^=+ ERRORS =+$", output, re.M)),
    }


def _sugar(workdir: Path, output: str) -> Any:
    """pytest-sugar: the counts and failed tests under its ``Results (...)``
    heading, and the final percentage of its progress bar."""
    counts: dict[str, int] = {}
    failed: list[str] = []
    head = re.search(r"^Results \([\d.]+s\):$", output, re.M)
    if head:
        tail = output[head.end() :]
        counts = {word: int(number) for number, word in re.findall(r"^[ \t]+(\d+) (\w+)[ \t]*$", tail, re.M)}
        failed = re.findall(r"^[ \t]+- (\S+ \S+)[ \t]*$", tail, re.M)
    percents = re.findall(r"(\d+)% ", output)
    return {"results": counts, "failed": sorted(failed), "last_percent": percents[-1] if percents else None}


FACTS: dict[str, Callable[[Path, str], Any]] = {
    "coverage": _coverage,
    "html": _html,
    "json_report": _json_report,
    "benchmark": _benchmark,
    "instafail": _instafail,
    "sugar": _sugar,
}
