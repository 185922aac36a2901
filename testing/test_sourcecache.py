"""xdist_c.speedups.sourcecache: the workers' memo of pytest's getstatementrange_ast."""

from __future__ import annotations

import ast
import textwrap

import pytest
from _pytest._code import code as pytest_code
from _pytest._code.source import Source
from _pytest._code.source import getstatementrange_ast

from xdist_c.speedups import sourcecache
from xdist_c.speedups.sourcecache import StatementRanges

SAMPLE = textwrap.dedent(
    '''
    import os

    # a comment
    def helper(a,
               b):
        """doc"""
        x = (a +
             b)
        assert x == 3, (
            "message"
        )
        return x


    class Thing:
        @property
        def value(self):
            try:
                return helper(1, 2)
            except ValueError:
                pass
            finally:
                os.getcwd()

        def other(self):
            if self:
                return 1
            else:
                return 2
    '''
)


class CountingCompute:
    def __init__(self) -> None:
        self.calls: list[tuple[int, bool, ast.AST | None]] = []

    def __call__(self, lineno: int, source: Source, assertion: bool = False, astnode: ast.AST | None = None):
        self.calls.append((lineno, assertion, astnode))
        return getstatementrange_ast(lineno, source, assertion, astnode)


def test_same_ranges_as_pytest_for_every_line() -> None:
    memo = StatementRanges(getstatementrange_ast)
    source = Source(SAMPLE)
    for assertion in (False, True):
        for lineno in range(len(source.lines)):
            _, start, end = memo(lineno, Source(SAMPLE), assertion)
            _, want_start, want_end = getstatementrange_ast(lineno, source, assertion)
            assert (start, end) == (want_start, want_end), (lineno, assertion)


def test_parses_a_text_once_and_remembers_each_line() -> None:
    compute = CountingCompute()
    memo = StatementRanges(compute)
    tree, start, end = memo(8, Source(SAMPLE))
    assert compute.calls == [(8, False, None)]
    again = memo(8, Source(SAMPLE))
    assert again == (tree, start, end) and len(compute.calls) == 1
    # Another line of the same text: computed with the AST already parsed.
    memo(18, Source(SAMPLE))
    assert compute.calls[-1] == (18, False, tree)
    # The caller hands back the AST it was given: still remembered.
    assert memo(18, Source(SAMPLE), astnode=tree)[0] is tree
    assert len(compute.calls) == 2


def test_a_foreign_ast_goes_to_pytest() -> None:
    compute = CountingCompute()
    memo = StatementRanges(compute)
    tree = memo(8, Source(SAMPLE))[0]
    other = ast.parse(SAMPLE)
    assert memo(8, Source(SAMPLE), astnode=other)[0] is other
    assert compute.calls[-1] == (8, False, other)
    # Text never seen, with an AST: not remembered either.
    fresh = ast.parse("x = 1\n")
    assert memo(0, Source("x = 1\n"), astnode=fresh)[0] is fresh
    assert memo(8, Source(SAMPLE))[0] is tree


def test_syntax_errors_propagate_and_are_not_remembered() -> None:
    compute = CountingCompute()
    memo = StatementRanges(compute)
    for _ in range(2):
        with pytest.raises(SyntaxError):
            memo(0, Source("def broken(:\n"))
    assert len(compute.calls) == 2


def test_keeps_the_most_recently_used_files() -> None:
    compute = CountingCompute()
    memo = StatementRanges(compute, max_files=2)
    texts = [f"a = {i}\nb = {i}\n" for i in range(3)]
    memo(0, Source(texts[0]))
    memo(0, Source(texts[1]))
    memo(0, Source(texts[0]))  # most recent now
    memo(0, Source(texts[2]))  # evicts texts[1]
    assert len(compute.calls) == 3
    memo(0, Source(texts[0]))
    assert len(compute.calls) == 3
    memo(0, Source(texts[1]))
    assert len(compute.calls) == 4


def test_install_wraps_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pytest_code, "getstatementrange_ast", getstatementrange_ast)
    sourcecache.install()
    installed = pytest_code.getstatementrange_ast
    assert isinstance(installed, StatementRanges) and installed.compute is getstatementrange_ast
    sourcecache.install()
    assert pytest_code.getstatementrange_ast is installed


def failures_section(result: pytest.RunResult) -> list[str]:
    """The lines of a run's FAILURES section, without xdist's ``[gwN] ...``
    worker lines (so serial and distributed output compare)."""
    lines = result.outlines
    start = next(i for i, line in enumerate(lines) if "FAILURES" in line)
    end = next(i for i, line in enumerate(lines) if "short test summary" in line)
    return [line for line in lines[start:end] if not line.startswith("[gw")]


FAILING = """
def check(value,
          expected):
    assert value == (
        expected
    )

{tests}
"""


def test_worker_failure_output_is_pytest_s(pytester: pytest.Pytester) -> None:
    """Many failures through the same multi-line statements: a worker prints
    each traceback as serial pytest does."""
    tests = "\n".join(f"def test_{i}():\n    check({i},\n          {i + 1})\n" for i in range(6))
    pytester.makepyfile(test_many=FAILING.format(tests=tests))

    def failures(*args: str) -> list[str]:
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)
        result.assert_outcomes(failed=6)
        return failures_section(result)

    serial = failures("-p", "no:xdist")
    distributed = failures("-n", "1")
    assert distributed == serial
    assert sum(line.startswith(">") for line in serial) == 12  # two entries per failure
