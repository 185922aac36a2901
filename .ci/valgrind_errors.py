"""Sort a memcheck log into errors that involve xdist_c._core and the rest.

    python .ci/valgrind_errors.py LOGFILE

An error counts when any frame of it -- the error's own stack or, with
--track-origins=yes, the stack that created the uninitialised value --
is in the extension (source paths containing ``/csrc/``, as valgrind
prints them with ``--fullpath-after=``, or the ``xdist_c/_core`` object).  The others are CPython's and glibc's own and
are only summarised: on CPython 3.11, ``maybe_small_long`` reads the
uninitialised digit of a zero-sized int (and the value travels on through
the eval loop), and glibc's AVX2 ``wmemcmp`` reads past the end of a str,
both harmless and outside this project.  Exit status 1 if any error
counts.
"""

from __future__ import annotations

import collections
import re
import sys

HEAD = re.compile(r"^==(\d+)== (\S.*)$")
BLANK = re.compile(r"^==(\d+)== ?$")
FRAME = re.compile(r"^==\d+==\s+(?:at|by) 0x[0-9A-Fa-f]+: (.*)$")


def blocks(lines: list[str]) -> list[list[str]]:
    """Error blocks: from a message line after a blank ==pid== line to the
    next blank one."""
    out: list[list[str]] = []
    cur: list[str] | None = None
    prev_blank = True
    for line in lines:
        if BLANK.match(line):
            if cur:
                out.append(cur)
            cur = None
            prev_blank = True
            continue
        m = HEAD.match(line)
        if m and prev_blank and not m.group(2).startswith(("at ", "by ")):
            cur = [line]
        elif cur is not None:
            cur.append(line)
        prev_blank = False
    if cur:
        out.append(cur)
    return out


def main() -> int:
    with open(sys.argv[1], errors="replace") as f:
        lines = f.read().splitlines()
    ours: list[list[str]] = []
    theirs: collections.Counter[str] = collections.Counter()
    for block in blocks(lines):
        frames = [m.group(1) for line in block if (m := FRAME.match(line))]
        if not frames:
            continue  # a banner or summary, not an error
        message = HEAD.match(block[0]).group(2)  # type: ignore[union-attr]
        if any("/csrc/" in fr or "xdist_c/_core" in fr for fr in frames):
            ours.append(block)
        else:
            top = re.sub(r" \(.*", "", frames[0])
            theirs[f"{message} in {top}"] += 1
    for key, n in theirs.most_common():
        print(f"  not ours ({n}x): {key}")
    for block in ours:
        print("\n".join(block))
        print()
    print(f"memcheck: {len(ours)} error(s) involving xdist_c._core, {sum(theirs.values())} in CPython/glibc only")
    return 1 if ours else 0


if __name__ == "__main__":
    sys.exit(main())
