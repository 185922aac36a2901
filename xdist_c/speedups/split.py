"""Split collection: each worker builds the items of only its share of the
test files.

pytest-xdist has every worker collect the whole suite, so collection costs N
times what it costs without xdist; on 20,000 trivial tests it is a quarter of
a serial run, nearly all of it turning test functions into items.  Here the
workers walk the directory tree as usual (so every conftest is loaded
everywhere) and import every test module at the point of the walk where
pytest imports it, but hold back building each file's items.  Before
``pytest_collection_modifyitems`` each worker builds the items of its own
contiguous block of those files; the controller joins the blocks into the
whole collection, ordered file by file.  A worker sent a test from a file
it has not built builds that file then (the module is already imported),
and checks that it found the same test ids as the file's owner.

The split is only taken where it gives the whole collection's tests, ids
and order: :mod:`xdist_c.speedups.split_check` says when it cannot.  Then (and with
``--split-collection=off``) the worker builds every file, as pytest does.
``--split-collection=always`` takes it regardless.
"""

from __future__ import annotations

import sys
import warnings
from bisect import bisect_right
from collections.abc import Callable
from collections.abc import Iterator
from itertools import accumulate
from itertools import chain
from typing import Any
from typing import cast

import pytest

from xdist_c import _core
from xdist_c._compat import pytest as pytest_compat
from xdist_c.speedups import split_check

# --dist modes whose workers may split the collection (each runs everything).
SPLIT_MODES = ("load", "loadscope", "loadfile", "loadgroup", "worksteal")

# In a collection report or warning a split worker sends while it builds its
# own files: how many times the controller reports it (see copies()).
COPIES_KEY = "xdist_c_copies"

# The number of the file an item was collected from (in a split worker).
FILE_NUMBER = pytest.StashKey[int]()


def file_starts(table: list[list[str]]) -> list[int]:
    """Where each file's tests start in the joined collection, then the
    total: ``[0, len(table[0]), len(table[0]) + len(table[1]), ...]``."""
    return list(accumulate((len(ids) for ids in table), initial=0))


def _imports_like_pytest(node: pytest.File) -> bool:
    """Whether the file's module is imported through ``Module.obj``, as for
    pytest's own test modules (and, from pytest 8, doctest modules)."""
    return pytest_compat.module_getobj_is_pytests(node)


class _FailedImport:
    """Stands in for ``Module._getobj`` of a test module whose import failed
    during the walk: when pytest collects the module, it writes what the
    import printed (so pytest's capture puts it in the report, as when it
    imports the module there) and raises the same exception, without
    running the module's code a second time."""

    def __init__(self, exc: BaseException, out: str, err: str) -> None:
        self.exc = exc
        self.out = out
        self.err = err

    def __call__(self) -> Any:
        if self.out:
            sys.stdout.write(self.out)
        if self.err:
            sys.stderr.write(self.err)
        raise self.exc.with_traceback(self.exc.__traceback__)


class SplitCollection:
    """Registered in a worker told to collect block ``part`` of ``parts``.

    Contract with the controller: the worker's collection message carries
    ``{"nfiles": F, "files": [first, stop], "ids": [[ids of file first],
    ...]}`` -- its files' test ids after ``pytest_collection_modifyitems``,
    one list per file -- or nothing of this when the split was not taken.
    The controller answers with every file's ids (:meth:`set_table`) before
    it sends any test index, which then counts in the joined collection.
    """

    def __init__(self, config: pytest.Config, part: int, parts: int) -> None:
        self.config = config
        self.part = part
        self.parts = parts
        self.mode = config.getoption("split_collection", "auto")
        self.files: list[tuple[pytest.File, int]] = []  # (collector, items before it)
        self._nitems = 0  # items the walk has produced so far
        self.taken = False  # the split was taken: self.files holds the files
        self.first = self.stop = 0  # this worker's block of files
        self._orig_genitems: Callable[[Any], Iterator[pytest.Item]] | None = None
        self._holding = False
        self._given_up = False  # found out during the walk: not split
        self.again = False  # collecting a file another worker collected first
        # Building the own block of a split: what this worker reports of it
        # (collection errors, warnings) each worker of pytest-xdist reports.
        self.building = False
        self._warnings: list[warnings.WarningMessage] = []
        self._built_warnings = range(0)  # those of _warnings the own block's build gave
        # Filled by set_table(): the joined collection.
        self._starts: list[int] = []
        self._table: list[list[str]] = []
        self._items: list[pytest.Item | None] = []
        self.reason: str | None = None  # why the split is not taken

    # ---------------------------------------------------------- collection

    @pytest.hookimpl(wrapper=True)
    def pytest_collection(self, session: pytest.Session) -> Iterator[None]:
        self.session = session
        self.check = split_check.Checker(self.config, session)
        orig_genitems = self._orig_genitems = pytest_compat.replace_genitems(session, self._genitems)
        self._holding = True
        # Inside pytest's own catcher (same filters): the warnings of the
        # collection are recorded here and passed on at the end, as pytest
        # does, each knowing whether it came from building the own block.
        with warnings.catch_warnings(record=True) as log:
            self._warnings = log
            try:
                return (yield)
            finally:
                self._holding = False
                pytest_compat.restore_genitems(session, orig_genitems)
                self._pass_on_warnings(log)

    def _pass_on_warnings(self, log: list[warnings.WarningMessage]) -> None:
        for number, message in enumerate(log):
            self.building = number in self._built_warnings
            try:
                self.config.hook.pytest_warning_recorded.call_historic(
                    kwargs=dict(warning_message=message, nodeid="", when="collect", location=None)
                )
            finally:
                self.building = False

    def _genitems(self, node: Any) -> Iterator[pytest.Item]:
        # Every node of the walk comes through here (genitems recurses
        # through the session attribute), in the order of the final list.
        orig_genitems = self._orig_genitems
        assert orig_genitems is not None  # set before this is installed
        if not self._holding or self._given_up:
            return orig_genitems(node)
        if isinstance(node, pytest.Item):
            self._nitems += 1
            return orig_genitems(node)
        if not isinstance(node, pytest.File) or isinstance(node, pytest.Package):
            # (a Package is a File up to pytest 7: walk into it)
            return orig_genitems(node)
        # Import it now, where pytest would; build it later -- unless this
        # run cannot be split, found out file by file.
        importable = _imports_like_pytest(node)
        if self.mode != "always" and self.reason is None:
            self.reason = self.check.before_file()
            if self.reason is None and not importable:
                self.reason = f"{self._where(node)} is not a Python test module"
        module = self._import(cast(pytest.Module, node)) if importable else None
        if self.mode != "always" and self.reason is None and module is not None:
            self.reason = self.check.module(self._where(node), module)
        if self.reason is None:  # (never set during the walk with "always")
            self.files.append((node, self._nitems))
            return iter(())
        # Given up: from here on this is pytest's own collection.  The files
        # held so far are built now, before the walk imports the next one.
        self._given_up = True
        if self._nitems:  # their places are known to _collect_held only
            self.files.append((node, self._nitems))
            return iter(())
        held = [n for n, _ in self.files] + [node]
        self.files = []
        return chain.from_iterable(orig_genitems(n) for n in held)

    @staticmethod
    def _where(node: pytest.File) -> str:
        return str(node.nodeid) or str(node.path)

    def _import(self, node: pytest.Module) -> Any:
        """Import a test module as collecting it would, under the same
        output capture; a failure is kept for when the module is built.
        Returns the module, or None."""
        capman = self.config.pluginmanager.getplugin("capturemanager")
        capturing = capman is not None and capman.is_globally_capturing()
        if capturing:
            capman.resume_global_capture()
        failure: BaseException | None = None
        try:
            module = node.obj
        except (KeyboardInterrupt, pytest.exit.Exception):
            raise
        except BaseException as exc:  # noqa: B036 - skip.Exception too
            failure = exc
        finally:
            out = err = ""
            if capturing:
                capman.suspend_global_capture()
                out, err = capman.read_global_capture()
        if failure is not None:
            # (``_getobj`` is pytest's hook for a node's object: pytest
            # 7.0-9.2 call it from the ``obj`` property.)
            pytest_compat.set_node_getobj(node, _FailedImport(failure, out, err))
            return None
        return module

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> Iterator[None]:
        if self._holding:
            self._holding = False
            self._collect_held(items)
        return (yield)

    def _collect_held(self, items: list[pytest.Item]) -> None:
        """Collect this worker's files (all of them when the split is not
        taken) into ``items``, at the places a whole collection puts them."""
        nfiles = len(self.files)
        self.taken = self._blocker(items) is None
        if self.taken:
            self.first = self.part * nfiles // self.parts
            self.stop = (self.part + 1) * nfiles // self.parts
        else:
            self.first, self.stop = 0, nfiles
        orig_genitems = self._orig_genitems
        assert orig_genitems is not None  # (this runs inside pytest_collection)
        merged: list[Any] = []
        done = 0
        first_warning = len(self._warnings)
        self.building = self.taken
        try:
            for number, (node, position) in enumerate(self.files):
                merged.extend(items[done:position])
                done = position
                if self.first <= number < self.stop:
                    for item in orig_genitems(node):
                        item.stash[FILE_NUMBER] = number
                        merged.append(item)
        finally:
            self.building = False
            if self.taken:
                self._built_warnings = range(first_warning, len(self._warnings))
        merged.extend(items[done:])
        items[:] = merged

    def _blocker(self, items: list[pytest.Item]) -> str | None:
        if self.reason is None:
            self.reason = self._why_not(items)
        return self.reason

    def _why_not(self, items: list[pytest.Item]) -> str | None:
        if self.mode == "off":
            return "--split-collection=off"
        if items:
            return "items were collected outside of any file"
        paths = [node.path for node, _ in self.files]
        if len(set(paths)) != len(paths):
            return "a file was reached twice"
        if self.mode != "always":
            # The hooks once more: a conftest may have registered after the
            # last file.
            return split_check.hook_blocker(self.config)
        return None

    def layout(self, items: list[pytest.Item]) -> dict[str, Any]:
        """The collection message's split part (see the class docstring)."""
        self._own_items: list[list[pytest.Item]] = [[] for _ in range(self.stop - self.first)]
        number = self.first
        for item in items:
            # An item a hook made (--split-collection=always) goes with the
            # one before it.
            number = item.stash.get(FILE_NUMBER, number)
            self._own_items[number - self.first].append(item)
        per_file = [[item.nodeid for item in own] for own in self._own_items]
        return {"nfiles": len(self.files), "files": [self.first, self.stop], "ids": per_file}

    # ---------------------------------------------------------- running

    def set_table(self, table: list[list[str]]) -> None:
        """Every file's test ids, from the controller (receiver thread)."""
        starts = file_starts(table)
        items: list[pytest.Item | None] = [None] * starts[-1]
        for k, own in enumerate(self._own_items):
            start = starts[self.first + k]
            items[start : start + len(own)] = own
        self._table = table
        self._starts = starts
        self._items = items

    def copies(self) -> int:
        """How many workers of pytest-xdist would report what the worker
        reports while collecting now (every one of them collects every
        file): ``parts`` while it builds its own block, else 1."""
        return self.parts if self.building else 1

    @property
    def total(self) -> int:
        """How many tests the joined collection holds."""
        return len(self._items)

    def item(self, index: int) -> pytest.Item:
        """The test at ``index`` of the joined collection; its file is
        collected first if this worker has not done so."""
        item = self._items[index]
        if item is None:
            self._collect_file(bisect_right(self._starts, index) - 1)
            item = self._items[index]
            assert item is not None
        return item

    def _collect_file(self, number: int) -> None:
        node = self.files[number][0]
        orig_genitems = self._orig_genitems
        assert orig_genitems is not None  # (the split was collected)
        self.again = True
        try:
            got = list(orig_genitems(node))
            self.config.hook.pytest_collection_modifyitems(session=self.session, config=self.config, items=got)
        finally:
            self.again = False
        ids = [item.nodeid for item in got]
        if ids != self._table[number]:
            raise CollectionMismatch(number, ids)
        start = self._starts[number]
        self._items[start : start + len(got)] = got


class CollectionMismatch(Exception):
    """File ``number`` gave other tests (``ids``) in this worker than in the
    worker that collected it first."""

    def __init__(self, number: int, ids: list[str]) -> None:
        super().__init__(number, ids)
        self.number = number
        self.ids = ids


class JoinedCollection:
    """The controller's side: joins the blocks of files the workers report.

    ``add()`` takes one worker's split collection message; once every file
    is known, ``ids`` is the whole collection (file by file) and ``frame``
    the ``CMD_COLLECTION`` command that tells a worker every file's ids.
    ``blocks`` keeps the workers in the order they reported, so ``owner()``
    names the first to report a file.
    """

    def __init__(self) -> None:
        self.nfiles: int | None = None
        self.files: dict[int, list[str]] = {}
        self.ids: list[str] | None = None
        self.frame: bytes | None = None
        self.waiting: list[Any] = []  # nodes that reported before the join
        self.blocks: dict[str, tuple[int, int]] = {}  # node id -> its files
        self._starts: list[int] = []

    def add(self, node_id: str, layout: dict[str, Any]) -> tuple[list[str], str | None]:
        """Record one worker's files.  Returns the worker's own ids, file by
        file, and why they do not fit the others' (or None)."""
        nfiles = layout["nfiles"]
        first, stop = layout["files"]
        per_file = layout["ids"]
        own = [nodeid for ids in per_file for nodeid in ids]
        if self.nfiles is None:
            self.nfiles = nfiles
        elif nfiles != self.nfiles:
            return own, (
                f"{node_id} found {nfiles} test files, other workers {self.nfiles}: "
                "every worker must collect the same tests"
            )
        if not (0 <= first <= stop <= nfiles and stop - first == len(per_file)):
            return own, f"{node_id} sent a malformed collection"
        for number, ids in enumerate(per_file, first):
            known = self.files.setdefault(number, ids)
            if known != ids:
                return own, (
                    f"{node_id} collected other tests than the first worker to collect "
                    f"file #{number}:\n  {node_id}: {ids[:3]}\n  first: {known[:3]}"
                )
        self.blocks[node_id] = (first, stop)
        if self.ids is None and len(self.files) == nfiles:
            table = [self.files[number] for number in range(nfiles)]
            self._starts = file_starts(table)
            self.ids = [nodeid for ids in table for nodeid in ids]
            self.frame = _core.encode_frame([(_core.CMD_COLLECTION, table)])
        return own, None

    def owner(self, number: int) -> str:
        """The worker that reported file ``number`` first (for messages)."""
        for node_id, (first, stop) in self.blocks.items():
            if first <= number < stop:
                return node_id
        return "?"

    def home(self, node_id: str) -> tuple[int, int] | None:
        """The tests (``start, stop`` in ``ids``) of the files the worker
        collected first, or None when it collected all of them."""
        first, stop = self.blocks[node_id]
        if stop - first == self.nfiles:
            return None
        return self._starts[first], self._starts[stop]
