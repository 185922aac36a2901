#!/usr/bin/env python3
"""Check, on Linux, that csrc/ builds for macOS and Windows as far as that
can be checked without their compilers and headers.

1. Guards.  Each csrc/*.c is run through the C preprocessor as it would be
   on Linux, macOS and Windows (the platform macros defined, every
   ``#include <...>`` replaced by an empty stub, so only the source's own
   conditionals decide), for the oldest and newest Python we support.  What
   is left must not call anything the platform lacks: no POSIX call, type,
   constant or header on Windows; nothing Linux-only on macOS; nothing of
   Windows' elsewhere.  A call added outside ``#ifdef XC_HAVE_STREAMS`` /
   ``#ifndef MS_WINDOWS`` fails here.

2. Compiles.  Every file is compiled (syntax only, against this Python's
   headers) with each C compiler found (gcc, clang), ``-std=c11
   -Wall -Wextra -Wvla -Werror`` (MSVC has no VLAs), and ``-pedantic`` with
   only CPython's own idiom allowed (``PyType_Slot`` stores function
   pointers in a ``void *``); once as on Linux and once with
   ``-DXC_NO_STREAMS`` -- the stream-less pump Windows builds.

Exit status 0 when all is well; every problem is printed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CSRC = os.path.join(ROOT, "csrc")

PYTHONS = {"3.9": "0x030900F0", "3.14": "0x030E00F0"}

PLATFORMS = {
    "linux": ["-D__linux__", "-D__unix__"],
    "macos": ["-D__APPLE__", "-D__MACH__"],
    "windows": ["-D_WIN32", "-D_WIN64", "-D_MSC_VER=1930", "-DMS_WINDOWS"],
}


def words(text: str) -> set[str]:
    return set(text.split())


# Calls, types and constants of POSIX that Windows (MSVC's CRT) lacks or
# spells differently.
POSIX_ONLY = words(
    """
    read write close pipe pipe2 poll ppoll fcntl fork vfork execv execve waitpid
    kill mkfifo dup dup2 sigaction sigprocmask pthread_sigmask sigemptyset
    clock_gettime nanosleep usleep sysconf getpid isatty ssize_t pollfd timespec
    sigset_t pid_t EINTR EAGAIN EWOULDBLOCK O_NONBLOCK O_CLOEXEC F_GETFL F_SETFL
    F_GETFD F_SETFD FD_CLOEXEC POLLIN POLLOUT POLLHUP POLLERR POLLNVAL
    CLOCK_MONOTONIC SIGPIPE STDIN_FILENO STDOUT_FILENO STDERR_FILENO
    """
)
POSIX_HEADERS = re.compile(
    r"^(unistd|poll|fcntl|pthread|dlfcn|termios|pwd|grp|spawn|sched|strings|"
    r"libgen|dirent|sys/.*|arpa/.*|netinet/.*|linux/.*)\.h$"
)
# Linux (glibc) only: macOS has the POSIX calls above, not these.
LINUX_ONLY = words(
    """
    pipe2 ppoll prctl epoll_create1 epoll_ctl epoll_wait eventfd signalfd
    timerfd_create accept4 dup3 pidfd_open pidfd_send_signal memfd_create splice
    vmsplice sched_getaffinity gettid O_PATH O_DIRECT MSG_NOSIGNAL SOCK_CLOEXEC
    SOCK_NONBLOCK TEMP_FAILURE_RETRY CLOCK_BOOTTIME
    """
)
LINUX_HEADERS = re.compile(
    r"^(features|malloc|alloca|endian|byteswap|linux/.*|asm/.*|"
    r"sys/(prctl|epoll|eventfd|signalfd|timerfd|sysinfo|sendfile))\.h$"
)
WINDOWS_ONLY = words(
    """
    GetTickCount64 Sleep WaitForSingleObject CreateEventW
    QueryPerformanceCounter HANDLE DWORD BOOL
    """
)
WINDOWS_HEADERS = re.compile(r"^(windows|winsock2|ws2tcpip|io|process|conio)\.h$")

INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)
LITERAL = re.compile(r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'')
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# gcc's and clang's wording of -pedantic's "function pointer stored in a
# void *", which CPython's PyType_Slot tables need.
SLOT_IDIOM = re.compile(r"function pointer and .void \*.|converts between void pointer and function pointer")


def sources() -> list[str]:
    return sorted(os.path.join(CSRC, n) for n in os.listdir(CSRC) if n.endswith(".c"))


def compilers() -> list[str]:
    found = []
    for name in ("gcc", "clang", "clang-19", "clang-18", "clang-17", "clang-16", "clang-15", "clang-14"):
        path = shutil.which(name)
        if path and not any(os.path.realpath(path) == os.path.realpath(p) for p in found):
            if name.startswith("clang") and any(os.path.basename(p).startswith("clang") for p in found):
                continue
            found.append(path)
    cc = os.environ.get("CC")
    if cc and shutil.which(cc.split()[0]) and cc not in found:
        found.insert(0, cc)
    return found


def make_stubs(where: str) -> None:
    """An empty header for every header the sources include that is not
    one of csrc/'s own (<stdint.h>, <Python.h>, "structmember.h", ...)."""
    names: set[str] = set()
    for name in os.listdir(CSRC):
        if name.endswith((".c", ".h")):
            with open(os.path.join(CSRC, name), encoding="utf-8") as f:
                names.update(INCLUDE.findall(f.read()))
    for name in names - set(os.listdir(CSRC)):
        path = os.path.join(where, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "w").close()


def preprocess(cc: str, source: str, stubs: str, defines: list[str]) -> tuple[str, list[str]]:
    """The source's own tokens under ``defines``, and the <headers> it
    includes there."""
    cmd = [cc, "-E", "-P", "-nostdinc", "-undef", "-I", stubs, *defines, source]
    text = _run(cmd)
    deps = _run([cc, "-M", "-nostdinc", "-undef", "-I", stubs, *defines, source])
    headers = []
    for token in deps.replace("\\\n", " ").split()[1:]:
        if token.startswith(stubs + os.sep):
            headers.append(os.path.relpath(token, stubs))
    return text, headers


def _run(cmd: list[str]) -> str:
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"portability_check: {' '.join(cmd)} failed:\n{result.stderr}")
    return result.stdout


def used(text: str, names: set[str]) -> set[str]:
    """The names in ``names`` that occur in ``text`` as identifiers, not as
    members (``s->read`` / ``s.close``)."""
    text = LITERAL.sub('""', text)
    hits = set()
    for m in IDENT.finditer(text):
        if m.group() in names:
            before = text[: m.start()].rstrip()
            if before.endswith(("->", ".")):
                continue
            hits.add(m.group())
    return hits


def check_guards(cc: str) -> list[str]:
    problems = []
    with tempfile.TemporaryDirectory() as stubs:
        make_stubs(stubs)
        for source in sources():
            rel = os.path.relpath(source, ROOT)
            for py, hexversion in PYTHONS.items():
                for platform, defines in PLATFORMS.items():
                    text, headers = preprocess(cc, source, stubs, [*defines, f"-DPY_VERSION_HEX={hexversion}"])
                    if platform == "windows":
                        bad = used(text, POSIX_ONLY | LINUX_ONLY)
                        bad_headers = [h for h in headers if POSIX_HEADERS.match(h) or LINUX_HEADERS.match(h)]
                    elif platform == "macos":
                        bad = used(text, LINUX_ONLY | WINDOWS_ONLY)
                        bad_headers = [h for h in headers if LINUX_HEADERS.match(h) or WINDOWS_HEADERS.match(h)]
                    else:
                        bad = used(text, WINDOWS_ONLY)
                        bad_headers = [h for h in headers if WINDOWS_HEADERS.match(h)]
                    where = f"{rel} ({platform}, Python {py})"
                    if bad:
                        problems.append(f"{where}: uses {', '.join(sorted(bad))} unguarded")
                    if bad_headers:
                        problems.append(f"{where}: includes {', '.join(bad_headers)}")
    return problems


def check_compiles(cc: str) -> list[str]:
    problems = []
    include = sysconfig.get_paths()["include"]
    flags = [
        "-fsyntax-only",
        "-std=c11",
        "-pedantic",
        "-Wall",
        "-Wextra",
        "-Wvla",
        "-Wno-missing-field-initializers",
        "-I",
        include,
    ]
    for extra in ([], ["-DXC_NO_STREAMS"]):
        for source in sources():
            result = subprocess.run([cc, *flags, *extra, source], capture_output=True, text=True)
            diagnostics = [
                line
                for line in result.stderr.splitlines()
                if re.search(r"\b(warning|error):", line) and not SLOT_IDIOM.search(line)
            ]
            if diagnostics or (result.returncode != 0 and not result.stderr):
                label = " ".join([os.path.basename(cc), *extra, os.path.relpath(source, ROOT)])
                problems.append(f"{label}:\n    " + "\n    ".join(diagnostics or ["failed"]))
    return problems


def main() -> int:
    ccs = compilers()
    if not ccs:
        print("portability_check: no C compiler (gcc, clang) found", file=sys.stderr)
        return 2
    problems = check_guards(ccs[0])
    for cc in ccs:
        problems += check_compiles(cc)
    names = ", ".join(os.path.basename(c) for c in ccs)
    if problems:
        print(f"portability_check ({names}): {len(problems)} problem(s)")
        for p in problems:
            print(f"  {p}")
        return 1
    n = len(sources())
    print(
        f"portability_check: {n} sources; guards for linux/macos/windows x Python "
        f"{'/'.join(PYTHONS)} ok; compiled with {names} (-std=c11 -pedantic -Wvla, "
        "with and without XC_NO_STREAMS): no diagnostics"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
