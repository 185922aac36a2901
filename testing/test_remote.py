"""Workers on other interpreters: execnet socket servers and ssh, on loopback.

The tests start their own servers on 127.0.0.1 and stop them afterwards:
execnet's ``socketserver`` script (one per worker that runs inside the
server; it serves one connection at a time) and, where OpenSSH's ``sshd`` is
installed, a private sshd with throw-away keys.  Every wait is bounded.
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from xdist_c.controller.workermanage import make_reltoroot

pytestmark = [
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.skipif(sys.platform.startswith("win"), reason="POSIX process tree checks"),
]

RUN_TIMEOUT = 120
START_TIMEOUT = 30.0

# Each test of the suite records the chain of process ids from itself up to
# the root, so the outer test can tell in which process tree it ran.
SUITE = """
import os
import sys
from pathlib import Path

import pytest


def _ancestors():
    pids = [os.getpid()]
    pid = os.getppid()
    while pid > 1 and len(pids) < 64:
        pids.append(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return pids


def _record(name):
    info = [os.environ["PYTEST_XDIST_WORKER"], os.getcwd(), __file__, sys.executable]
    info += [str(pid) for pid in _ancestors()]
    Path(__file__).with_name(f"ran-{name}.txt").write_text(" ".join(info))


def test_ok():
    _record("ok")


def test_fail():
    _record("fail")
    assert 0, "boom"


@pytest.mark.skip(reason="nope")
def test_skip():
    pass


@pytest.mark.parametrize("i", range(4))
def test_param(i):
    _record(f"param{i}")
"""


class Record:
    def __init__(self, text: str) -> None:
        worker, cwd, file, executable, *pids = text.split(" ")
        self.worker = worker
        self.cwd = cwd
        self.file = file
        self.executable = executable
        self.pids = [int(pid) for pid in pids]


def _records(directory: Path) -> dict[str, Record]:
    return {p.stem[len("ran-") :]: Record(p.read_text()) for p in directory.glob("ran-*.txt")}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _wait_for_line(proc: subprocess.Popen[bytes], log: Path, needle: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and needle in log.read_text(errors="replace"):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


class SocketServer:
    """execnet's socket server, in looping mode, on 127.0.0.1."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.log = directory / "server.log"
        for _ in range(5):  # a free port can be taken before we bind it
            self.port = _free_port()
            with open(self.log, "wb") as out:
                self.proc = subprocess.Popen(
                    [sys.executable, "-u", "-m", "execnet.script.socketserver", f"127.0.0.1:{self.port}"],
                    cwd=directory,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            if _wait_for_line(self.proc, self.log, "Entering Accept loop", START_TIMEOUT):
                return
            _stop(self.proc)
        raise RuntimeError(f"execnet socket server did not start:\n{self.log.read_text()}")

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        _stop(self.proc)


@pytest.fixture
def socket_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[SocketServer]]:
    """Start two servers (each serves one worker at a time)."""
    servers: list[SocketServer] = []
    try:
        for _ in range(2):
            servers.append(SocketServer(tmp_path_factory.mktemp("socketserver")))
        yield servers
    finally:
        for server in servers:
            server.stop()


def _normalized(result: pytest.RunResult) -> list[str]:
    """Outcome lines, failure sections and summary, minus timings/percentages."""
    lines = result.stdout.lines
    verbose = sorted(
        re.sub(r"\[ *\d+%\] ", "", line).rstrip() for line in lines if re.match(r"\[gw\d+\] \[ *\d+%\] ", line)
    )
    start = next(i for i, line in enumerate(lines) if "= FAILURES =" in line)
    failures = [line.rstrip() for line in lines[start:] if "seconds" not in line]
    failures = [re.sub(r" in [\d.]+s( \([\d:]+\))?", "", line) for line in failures]
    # The '=' padding of the summary line depends on the length of the
    # timing text removed above.
    failures = [re.sub(r"^=+ (.*?) =+$", r"= \1 =", line) for line in failures]
    return verbose + failures


def _check_outcomes(result: pytest.RunResult) -> None:
    result.stdout.fnmatch_lines(
        [
            "[[]gw?[]] [[]*%[]] PASSED test_remote_suite.py::test_ok*",
            "*= FAILURES =*",
            "*_ test_fail _*",
            "[[]gw?[]] * -- Python *",
            "*AssertionError: boom*",
            "*1 failed, 5 passed, 1 skipped*",
        ]
    )
    assert result.ret == 1


class TestSocket:
    def test_runs_in_server_process_like_popen(
        self, pytester: pytest.Pytester, socket_servers: list[SocketServer]
    ) -> None:
        pytester.makepyfile(test_remote_suite=SUITE)
        server = socket_servers[0]
        result = pytester.runpytest_subprocess(
            "-d", "--tx", f"socket={server.address}//chdir={pytester.path}", "-v", "-rs", timeout=RUN_TIMEOUT
        )
        _check_outcomes(result)
        records = _records(pytester.path)
        assert sorted(records) == ["fail", "ok", "param0", "param1", "param2", "param3"]
        for record in records.values():
            # Inside the server: execnet runs socket workers in its process.
            assert record.pids[0] == server.pid
            assert record.worker == "gw0"
            assert record.cwd == str(pytester.path)

        for path in pytester.path.glob("ran-*.txt"):
            path.unlink()
        popen = pytester.runpytest_subprocess("-d", "--tx", "popen", "-v", "-rs", timeout=RUN_TIMEOUT)
        assert _normalized(result) == _normalized(popen)
        assert all(server.pid not in r.pids for r in _records(pytester.path).values())

    def test_two_socket_workers(self, pytester: pytest.Pytester, socket_servers: list[SocketServer]) -> None:
        pytester.makepyfile(test_remote_suite=SUITE)
        args = []
        for server in socket_servers:
            args += ["--tx", f"socket={server.address}//chdir={pytester.path}"]
        result = pytester.runpytest_subprocess("-d", *args, "-v", timeout=RUN_TIMEOUT)
        result.stdout.fnmatch_lines(["created: 2/2 workers", "2 workers [7 items]"])
        _check_outcomes(result)
        records = _records(pytester.path)
        assert len(records) == 6
        server_of = {"gw0": socket_servers[0].pid, "gw1": socket_servers[1].pid}
        for record in records.values():
            assert record.pids[0] == server_of[record.worker]

    def test_python_starts_worker_processes_behind_one_server(
        self, pytester: pytest.Pytester, socket_servers: list[SocketServer]
    ) -> None:
        """``socket=//python=``: each worker is a child process of the server
        (started through one shared socket gateway), so one server is enough
        for several workers."""
        pytester.makepyfile(test_remote_suite=SUITE)
        server = socket_servers[0]
        spec = f"socket={server.address}//python={sys.executable}//chdir={pytester.path}"
        result = pytester.runpytest_subprocess("-d", "--tx", f"2*{spec}", "-v", timeout=RUN_TIMEOUT)
        result.stdout.fnmatch_lines(["created: 2/2 workers", "2 workers [7 items]"])
        _check_outcomes(result)
        records = _records(pytester.path)
        assert len(records) == 6
        for record in records.values():
            assert record.pids[0] != server.pid
            assert record.pids[1] == server.pid
            assert record.executable == sys.executable
        workers = {record.worker: record.pids[0] for record in records.values()}
        assert set(workers) <= {"gw0", "gw1"}
        assert len(set(workers.values())) == len(workers)

    def test_args_are_sent_relative_to_rootdir(
        self, pytester: pytest.Pytester, socket_servers: list[SocketServer], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The remote runs its own copy of the project (at //chdir=); path
        arguments given on the controller name the same files there."""
        for name in ("local", "remote"):
            tests = pytester.path / name / "tests"
            tests.mkdir(parents=True)
            (pytester.path / name / "pytest.ini").write_text("[pytest]\n")
            (tests / "test_remote_suite.py").write_text(SUITE)
        monkeypatch.chdir(pytester.path / "local" / "tests")
        server = socket_servers[0]
        result = pytester.runpytest_subprocess(
            "-d",
            "--tx",
            f"socket={server.address}//chdir={pytester.path / 'remote'}",
            "test_remote_suite.py::test_ok",
            "-v",
            timeout=RUN_TIMEOUT,
        )
        result.stdout.fnmatch_lines(["[[]gw0[]] [[]*%[]] PASSED test_remote_suite.py::test_ok*", "*1 passed*"])
        assert not _records(pytester.path / "local" / "tests")
        records = _records(pytester.path / "remote" / "tests")
        assert list(records) == ["ok"]
        assert records["ok"].file == str(pytester.path / "remote" / "tests" / "test_remote_suite.py")

    def test_missing_install_is_a_clear_error(
        self, pytester: pytest.Pytester, socket_servers: list[SocketServer]
    ) -> None:
        pytester.makepyfile(test_remote_suite=SUITE)
        server = socket_servers[0]
        # -S -E: an interpreter that sees no site-packages, like a host
        # where nothing was installed.
        spec = f"socket={server.address}//python={sys.executable} -S -E//chdir={pytester.path}"
        result = pytester.runpytest_subprocess("-d", "--tx", spec, timeout=RUN_TIMEOUT)
        result.stderr.fnmatch_lines(
            [
                f"ERROR: pytest and xdist-c are not installed for {sys.executable} on *"
                f"(worker gw0, --tx {spec})*https://xdist-c.readthedocs.io/en/latest/remote.html*"
            ]
        )
        assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        assert not _records(pytester.path)

    def test_unreachable_server_is_a_clear_error(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile(test_remote_suite=SUITE)
        port = _free_port()
        result = pytester.runpytest_subprocess("-d", "--tx", f"socket=127.0.0.1:{port}", timeout=RUN_TIMEOUT)
        result.stderr.fnmatch_lines(
            [f"ERROR: could not start worker gw0 (--tx socket=127.0.0.1:{port}): ConnectionRefusedError*"]
        )
        assert result.ret == pytest.ExitCode.USAGE_ERROR


class Sshd:
    def __init__(self, directory: Path, proc: subprocess.Popen[bytes], config: Path) -> None:
        self.directory = directory
        self.proc = proc
        self.ssh_config = config
        self.host = "xdist-c-loopback"


def _start_sshd(directory: Path) -> Sshd:
    """A private sshd on a free loopback port, or pytest.skip(reason)."""
    sshd = "/usr/sbin/sshd"
    if not os.path.exists(sshd):
        pytest.skip("no /usr/sbin/sshd (install openssh-server to run the ssh tests)")
    if shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        pytest.skip("no ssh/ssh-keygen client (install openssh-client to run the ssh tests)")
    if hasattr(os, "geteuid") and os.geteuid() == 0 and not os.path.isdir("/run/sshd"):
        try:  # sshd's privilege separation directory
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        except OSError as exc:
            pytest.skip(f"cannot create /run/sshd for sshd: {exc}")
    for name in ("host_key", "user_key"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(directory / name)],
            check=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
        )
    shutil.copy(directory / "user_key.pub", directory / "authorized_keys")
    log = directory / "sshd.log"
    for _ in range(5):
        port = _free_port()
        config = directory / "sshd_config"
        config.write_text(
            f"ListenAddress 127.0.0.1\n"
            f"Port {port}\n"
            f"HostKey {directory / 'host_key'}\n"
            f"AuthorizedKeysFile {directory / 'authorized_keys'}\n"
            "PermitRootLogin prohibit-password\n"
            "PubkeyAuthentication yes\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "StrictModes no\n"
            "UsePAM no\n"
            f"PidFile {directory / 'sshd.pid'}\n"
        )
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sshd, "-D", "-e", "-f", str(config)], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        if _wait_for_line(proc, log, "Server listening on", START_TIMEOUT):
            break
        _stop(proc)
    else:
        pytest.skip(f"sshd did not start:\n{log.read_text(errors='replace')}")
    ssh_config = directory / "ssh_config"
    ssh_config.write_text(
        "Host xdist-c-loopback\n"
        "  HostName 127.0.0.1\n"
        f"  Port {port}\n"
        f"  User {getpass.getuser()}\n"
        f"  IdentityFile {directory / 'user_key'}\n"
        "  IdentitiesOnly yes\n"
        "  StrictHostKeyChecking no\n"
        "  UserKnownHostsFile /dev/null\n"
        "  BatchMode yes\n"
        "  LogLevel ERROR\n"
    )
    try:
        check = subprocess.run(
            ["ssh", "-F", str(ssh_config), "xdist-c-loopback", "true"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=30,
        )
    except subprocess.TimeoutExpired:
        _stop(proc)
        pytest.skip("ssh to the test sshd timed out")
    if check.returncode != 0:
        _stop(proc)
        pytest.skip(f"cannot log in to the test sshd: {check.stderr.decode(errors='replace')}")
    return Sshd(directory, proc, ssh_config)


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    server = _start_sshd(tmp_path_factory.mktemp("sshd"))
    try:
        yield server
    finally:
        _stop(server.proc)


class TestSsh:
    def test_two_ssh_workers_like_popen(self, pytester: pytest.Pytester, sshd: Sshd) -> None:
        pytester.makepyfile(test_remote_suite=SUITE)
        spec = f"ssh={sshd.host}//ssh_config={sshd.ssh_config}//python={sys.executable}//chdir={pytester.path}"
        result = pytester.runpytest_subprocess("-d", "--tx", f"2*{spec}", "-v", timeout=RUN_TIMEOUT)
        result.stdout.fnmatch_lines(["created: 2/2 workers", "2 workers [7 items]"])
        _check_outcomes(result)
        records = _records(pytester.path)
        assert len(records) == 6
        for record in records.values():
            # A login session of the test sshd, not a child of the controller.
            assert sshd.proc.pid in record.pids
            assert record.cwd == str(pytester.path)
            assert record.executable == sys.executable

    def test_one_ssh_worker_output_matches_popen(self, pytester: pytest.Pytester, sshd: Sshd) -> None:
        pytester.makepyfile(test_remote_suite=SUITE)
        spec = f"ssh={sshd.host}//ssh_config={sshd.ssh_config}//python={sys.executable}//chdir={pytester.path}"
        result = pytester.runpytest_subprocess("-d", "--tx", spec, "-v", "-rs", timeout=RUN_TIMEOUT)
        _check_outcomes(result)
        popen = pytester.runpytest_subprocess("-d", "--tx", "popen", "-v", "-rs", timeout=RUN_TIMEOUT)
        assert _normalized(result) == _normalized(popen)


class TestMakeReltoroot:
    def test_paths_inside_the_rootdir_become_relative(self, tmp_path: Path) -> None:
        (tmp_path / "tests" / "sub").mkdir(parents=True)
        (tmp_path / "tests" / "test_x.py").touch()
        args = [
            "-v",
            "test_x.py::test_a[1]",
            str(tmp_path / "tests" / "sub"),
            str(tmp_path),
            "-k",
            "missing.py",
            "--rootdir=/nowhere",
        ]
        assert make_reltoroot([tmp_path], args, tmp_path / "tests") == [
            "-v",
            "tests/test_x.py::test_a[1]",
            "tests/sub",
            ".",
            "-k",
            "missing.py",
            "--rootdir=/nowhere",
        ]

    def test_paths_outside_every_root_pass_unchanged(self, tmp_path: Path) -> None:
        (tmp_path / "root").mkdir()
        (tmp_path / "other").mkdir()
        assert make_reltoroot([tmp_path / "root"], [str(tmp_path / "other")], tmp_path) == [str(tmp_path / "other")]
