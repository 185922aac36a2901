"""Runs the fidelity corpus's cases and reduces each run to what is compared.

A case is a directory under ``cases/`` holding a small test suite and a
``case.json``:

``args``         extra command-line arguments for every run;
``runs``         a list of per-run extra arguments (default ``[[]]``: one run);
                 runs after the first reuse the same directory (``--lf``);
``env``          variables to set; ``pythonpath``: directories of the case to
                 put on ``PYTHONPATH`` (the observer's directory is always there);
``n``            the ``-n`` values (default ``[2, 3]``);
``dist``         the ``--dist`` modes (default ``["load"]``: no ``--dist``);
``cacheprovider`` false to pass ``-p no:cacheprovider`` (default true, as users run);
``script``       run ``python <script>`` instead of ``python -m pytest``; the
                 script gets its arguments as JSON in ``$FIDELITY_ARGS``;
``compare``      keys of the result to compare (default: ``DEFAULT_COMPARE``);
``grep``         regular expressions: whether each matches the output is compared;
``invariants``   checks made in every run, recorded or not (``INVARIANTS``): a
                 list, or a dict from --dist mode to a list;
``slow``         true: only run with ``XDIST_C_FIDELITY_ALL=1`` for n > 2.

The result of one run (``run_case``) is a dict with, for every pytest run of
the case: the process's exit code, the summary line's counts, and the
observer's sessions (exit status, sorted ``nodeid when outcome`` reports, the
collection the workers announced); then the sorted lines of every file the
suite wrote under ``out/``, and the ``grep`` answers.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CASES = HERE / "cases"
HELPER = HERE / "helper"
EXPECTED = HERE / "expected.json"
RUN_TIMEOUT = 120
NOT_THE_USERS_PLUGIN = "hypothesispytest"

DEFAULT_COMPARE = ["exitcode", "summary", "reports", "collection", "out_lines", "grep"]

# Variables of an outer run (or of the developer's shell) that must not leak
# into a case's run.
# TOX_ENV_DIR: pytest keeps its cache there when set, which every case
# run under tox would then share (--lf, stored durations, ...).
SCRUBBED_PREFIXES = ("PYTEST_", "XDIST_C_", "FIDELITY_", "PYTHONPATH", "COV_CORE_", "TOX_ENV_DIR")

_SUMMARY = re.compile(r"^(?:=+ )?((?:\d+ \w+(?:, )?)+|no tests ran) in [\d.]+s\b")
_COUNT = re.compile(r"(\d+) (\w+)")
_PLURAL = {"warnings": "warning", "errors": "error"}


def load_case(name: str) -> dict[str, Any]:
    spec = json.loads((CASES / name / "case.json").read_text())
    spec.setdefault("args", [])
    spec.setdefault("runs", [[]])
    spec.setdefault("env", {})
    spec.setdefault("pythonpath", [])
    spec.setdefault("n", [2, 3])
    spec.setdefault("dist", ["load"])
    spec.setdefault("cacheprovider", True)
    spec.setdefault("compare", DEFAULT_COMPARE)
    spec.setdefault("grep", [])
    spec.setdefault("invariants", [])
    spec.setdefault("slow", False)
    # The oldest pytest whose serial behaviour matches the recording (the
    # expectations were recorded with the pytest named in expected.json).
    spec.setdefault("min_pytest", None)
    return spec


def case_names() -> list[str]:
    return sorted(p.name for p in CASES.iterdir() if (p / "case.json").is_file())


def variants(name: str) -> list[tuple[int, str]]:
    spec = load_case(name)
    return [(n, dist) for dist in spec["dist"] for n in spec["n"]]


def key(name: str, n: int, dist: str) -> str:
    return f"{name}|n={n}|dist={dist}"


def parse_summary(output: str) -> list[dict[str, int]]:
    """The counts of every final summary line of ``output``, in order."""
    found = []
    for line in output.splitlines():
        m = _SUMMARY.match(line.strip())
        if m:
            counts = {}
            for number, word in _COUNT.findall(m.group(1)):
                counts[_PLURAL.get(word, word)] = int(number)
            found.append(counts)
    return found


def base_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_PREFIXES)}
    env.update({"COLUMNS": "200", "PY_COLORS": "0", "NO_COLOR": "1", "LANG": env.get("LANG", "C.UTF-8")})
    env.update(extra or {})
    return env


def run_command(cmd: list[str], cwd: Path, env: dict[str, str], label: str) -> tuple[str, int]:
    """Run a case's command: its output (stdout and stderr) and exit code
    (-999 and a ``[label: timed out]`` line after RUN_TIMEOUT)."""
    try:
        proc = subprocess.run(
            cmd,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            timeout=RUN_TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        output = exc.stdout or ""
        if isinstance(output, bytes):
            output = output.decode(errors="replace")
        return output + f"\n[{label}: timed out]", -999
    return proc.stdout, proc.returncode


def observed_sessions(path: Path) -> list[dict[str, Any]]:
    """What the observer recorded, a session per line (none if no file)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def _out_lines(directory: Path) -> list[str]:
    lines: list[str] = []
    out = directory / "out"
    if out.is_dir():
        for path in sorted(out.rglob("*")):
            if path.is_file():
                lines.extend(path.read_text().splitlines())
    return sorted(lines)


def _attach_observer(workdir: Path) -> None:
    """Append the observer's hook to the case's top conftest.py (see
    ``helper/fidelity_observer.py`` for why it is not a ``-p`` plugin)."""
    sys.path.insert(0, str(HELPER))
    try:
        from fidelity_observer import CONFTEST_SNIPPET
    finally:
        sys.path.remove(str(HELPER))
    conftest = workdir / "conftest.py"
    text = conftest.read_text() if conftest.exists() else ""
    conftest.write_text(text + CONFTEST_SNIPPET)


def run_case(
    name: str,
    n: int,
    dist: str,
    workdir: Path,
    python: str = sys.executable,
    extra_args: list[str] | None = None,
    extra_env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Copies case ``name`` into ``workdir`` (which must not exist), runs it
    with ``python`` and returns its result (see the module docstring)."""
    spec = load_case(name)
    shutil.copytree(CASES / name, workdir, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache", "case.json"))
    observed = workdir.parent / (workdir.name + ".observer.jsonl")
    pythonpath = [str(HELPER)] + [str(workdir / p) for p in spec["pythonpath"]]
    env = base_env(spec["env"])
    env["PYTHONPATH"] = os.pathsep.join(pythonpath)
    env["FIDELITY_OBSERVER_OUT"] = str(observed)
    extra_env = dict(extra_env or {})
    if "PYTHONPATH" in extra_env:  # ahead of the observer's and the case's
        env["PYTHONPATH"] = extra_env.pop("PYTHONPATH") + os.pathsep + env["PYTHONPATH"]
    env.update(extra_env)
    _attach_observer(workdir)
    # Hypothesis, a test dependency of xdist_c, is a plugin of its own (the
    # fork server steps aside for it): the cases run as on a machine without it.
    common = ["-p", f"no:{NOT_THE_USERS_PLUGIN}", "-n", str(n)]
    if dist != "load":
        common += ["--dist", dist]
    if not spec["cacheprovider"]:
        common += ["-p", "no:cacheprovider"]
    result: dict[str, Any] = {"runs": [], "outputs": []}
    for run_args in spec["runs"]:
        args = common + spec["args"] + run_args + list(extra_args or [])
        if observed.exists():
            observed.unlink()
        if "script" in spec:
            cmd = [python, spec["script"]]
            env["FIDELITY_ARGS"] = json.dumps(args)
        else:
            cmd = [python, "-m", "pytest", *args]
        output, code = run_command(cmd, workdir, env, "fidelity")
        sessions = observed_sessions(observed)
        result["outputs"].append(output)
        result["runs"].append(
            {
                "exitcode": code,
                "summary": parse_summary(output),
                "reports": [s["reports"] for s in sessions],
                "exitstatus": [s["exitstatus"] for s in sessions],
                "collection": [s["collection"] for s in sessions],
                "grep": {pattern: bool(re.search(pattern, output, re.M)) for pattern in spec["grep"]},
            }
        )
    result["out_lines"] = _out_lines(workdir)
    result["workdir"] = workdir
    return result


def reduce(name: str, result: dict[str, Any]) -> dict[str, Any]:
    """The part of a result that is compared (what expected.json holds)."""
    compare = load_case(name)["compare"]
    reduced: dict[str, Any] = {}
    for field in ("exitcode", "summary", "reports", "collection", "grep"):
        if field in compare:
            reduced[field] = [run[field] for run in result["runs"]]
    if "exitcode" in compare:
        reduced["exitstatus"] = [run["exitstatus"] for run in result["runs"]]
    if "out_lines" in compare:
        reduced["out_lines"] = result["out_lines"]
    return reduced


# ------------------------------------------------------------- invariants


def _collection_order(result: dict[str, Any]) -> list[str]:
    for run in result["runs"]:
        for collection in run["collection"]:
            if len(collection) == 1:
                return collection[0]
    raise AssertionError("no agreed collection to check the order against")


def _order_files(result: dict[str, Any]) -> dict[str, list[str]]:
    """Worker -> the node ids of the tests it ran, in order (``order/*.txt``)."""
    files = sorted((result["workdir"] / "order").glob("*.txt"))
    assert files, "no order/*.txt written"
    return {path.stem: path.read_text().split() for path in files}


def each_test_once(result: dict[str, Any]) -> None:
    """Every collected test ran exactly once (per ``order/*.txt``)."""
    ran = [nodeid for ids in _order_files(result).values() for nodeid in ids]
    assert sorted(ran) == sorted(_collection_order(result)), "not every test ran exactly once"


def ascending_per_worker(result: dict[str, Any]) -> None:
    """Each worker ran its tests in the collection's order (``order/*.txt``:
    one file per worker, the node ids of the tests it ran, in the order it
    ran them), and every test ran exactly once."""
    position = {nodeid: i for i, nodeid in enumerate(_collection_order(result))}
    for worker, ran in _order_files(result).items():
        indices = [position[nodeid] for nodeid in ran]
        assert indices == sorted(indices), f"{worker} ran out of collection order: {ran}"
    each_test_once(result)


def files_in_order_per_worker(result: dict[str, Any]) -> None:
    """Each worker ran each file's tests in the collection's order and never
    came back to a file it had left, and every test ran exactly once.

    What ``load`` guarantees under xdist_c's split collection: a worker that
    has run out of work near the end may run an earlier file after a later
    one, where pytest-xdist's workers run everything in ascending order
    (docs/differences.rst)."""
    position = {nodeid: i for i, nodeid in enumerate(_collection_order(result))}
    for worker, ran in _order_files(result).items():
        left: set[str] = set()
        last: dict[str, int] = {}
        current = None
        for nodeid in ran:
            path = nodeid.split("::")[0]
            if path != current:
                assert path not in left, f"{worker} came back to {path}: {ran}"
                if current is not None:
                    left.add(current)
                current = path
            assert position[nodeid] > last.get(path, -1), f"{worker} ran {path} out of order: {ran}"
            last[path] = position[nodeid]
    each_test_once(result)


def _scope_checker(scope_of: Any) -> Any:
    def check(result: dict[str, Any]) -> None:
        owner: dict[str, str] = {}
        for worker, ran in _order_files(result).items():
            for nodeid in ran:
                scope = scope_of(nodeid)
                if scope is None:
                    continue
                assert owner.setdefault(scope, worker) == worker, f"{scope} ran on {owner[scope]} and {worker}"
        each_test_once(result)

    return check


INVARIANTS = {
    "each_test_once": each_test_once,
    "ascending_per_worker": ascending_per_worker,
    "files_in_order_per_worker": files_in_order_per_worker,
    # Each class (else module) ran on one worker.
    "scope_on_one_worker": _scope_checker(lambda nodeid: nodeid.rsplit("::", 1)[0]),
    "file_on_one_worker": _scope_checker(lambda nodeid: nodeid.split("::")[0]),
    # Each xdist_group (the "@name" suffix of its tests' ids) ran on one worker.
    "group_on_one_worker": _scope_checker(lambda nodeid: nodeid.rpartition("@")[2] if "@" in nodeid else None),
}


def check_invariants(name: str, dist: str, result: dict[str, Any]) -> None:
    invariants = load_case(name)["invariants"]
    if isinstance(invariants, dict):
        invariants = invariants.get(dist, [])
    for invariant in invariants:
        INVARIANTS[invariant](result)
