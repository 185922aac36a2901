"""Workers parse a source file once for all the failures it shows.

To print a traceback entry pytest asks ``getstatementrange_ast`` which lines
form the failing statement; without an AST at hand (one per traceback, so at
least once per failing test) that parses the whole file.  With many tests
failing in the same files this is most of a worker's time: 41 % of a serial
run of the benchmark's failures suite (2,000 big failures in 20 files).

:func:`install` puts a memo in front of it, in the worker only: keyed by the
file's text, the line and ``assertion``, it returns what pytest's function
returned for that text.  A caller that passes its own AST of other text
(a file changed while the run went on) gets pytest's function itself.
"""

from __future__ import annotations

import ast
from collections import OrderedDict
from typing import Any
from typing import Callable

from xdist_c._compat import pytest as pytest_compat

# Files whose parse is kept; the least recently used goes first.
MAX_FILES = 32

_Range = tuple[ast.AST, int, int]


class StatementRanges:
    """A memo of ``getstatementrange_ast(lineno, source, assertion, astnode)``."""

    def __init__(self, compute: Callable[..., _Range], max_files: int = MAX_FILES) -> None:
        self.compute = compute
        self.max_files = max_files
        # text -> (its AST, {(lineno, assertion): (start, end)})
        self._files: OrderedDict[str, tuple[ast.AST, dict[tuple[int, bool], tuple[int, int]]]] = OrderedDict()

    def __call__(self, lineno: int, source: Any, assertion: bool = False, astnode: ast.AST | None = None) -> _Range:
        text = str(source)
        known = self._files.get(text)
        if known is not None:
            tree, ranges = known
            if astnode is not None and astnode is not tree:
                return self.compute(lineno, source, assertion, astnode)
            self._files.move_to_end(text)
        elif astnode is not None:
            # Not parsed here: the caller's AST may be of other text.
            return self.compute(lineno, source, assertion, astnode)
        else:
            tree = None
            ranges = {}
        key = (lineno, bool(assertion))
        found = ranges.get(key)
        if found is not None:
            return tree, found[0], found[1]  # type: ignore[return-value]
        tree, start, end = self.compute(lineno, source, assertion, tree)
        if known is None:
            self._files[text] = (tree, ranges)
            if len(self._files) > self.max_files:
                self._files.popitem(last=False)
        ranges[key] = (start, end)
        return tree, start, end


def install() -> None:
    """Memoize pytest's ``getstatementrange_ast`` where tracebacks use it
    (``_pytest._code.code``); a no-op when pytest has no such function."""
    pytest_compat.replace_getstatementrange_ast(
        lambda current: current if isinstance(current, StatementRanges) else StatementRanges(current)
    )
