"""Split collection: each worker collects only its share of the test files.

pytest-xdist has every worker collect the whole suite, so collection costs N
times what it costs without xdist; on 20,000 trivial tests it is a quarter of
a serial run.  Here the workers walk the directory tree as usual (so every
conftest is loaded everywhere) but hold back every ``pytest.File`` collector
they reach.  Before ``pytest_collection_modifyitems`` each worker collects
its own contiguous block of those files; the controller joins the blocks into
the whole collection, ordered file by file.  A worker sent a test from a file
it has not collected collects that file then, and checks that it found the
same test ids as the file's owner.

The split is only taken when nothing can tell it from a whole collection:
every implementation of the hooks that see the collection as one list
(``pytest_collection_modifyitems``, ``pytest_collection_finish``,
``pytest_deselected``) must be pytest's own, xdist_c's, or one known to work
item by item; and not with ``--lf``, ``--ff``, ``--nf`` or ``--sw``.
``--split-collection=always`` takes it regardless, ``off`` never.  Otherwise
the worker collects every file, in the order pytest would have.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from itertools import accumulate
from typing import Any

import pytest

from xdist_c import _core

# --dist modes whose workers may split the collection (each runs everything).
SPLIT_MODES = ("load", "loadscope", "loadfile", "loadgroup", "worksteal")

# Hooks whose implementations see the collection as one list.
WHOLE_COLLECTION_HOOKS = (
    "pytest_collection_modifyitems",
    "pytest_collection_finish",
    "pytest_deselected",
)

# The number of the file an item was collected from (in a split worker).
FILE_NUMBER = pytest.StashKey[int]()

# Plugins (module names) known to implement those hooks item by item.
ITEMWISE_PLUGINS = ("_hypothesis_pytestplugin",)


def file_starts(table: list[list[str]]) -> list[int]:
    """Where each file's tests start in the joined collection, then the
    total: ``[0, len(table[0]), len(table[0]) + len(table[1]), ...]``."""
    return list(accumulate((len(ids) for ids in table), initial=0))


def _plugin_module(plugin: object) -> str:
    name = getattr(plugin, "__name__", None)
    if isinstance(name, str) and not isinstance(plugin, type):
        return name  # a module
    return type(plugin).__module__


def split_blocker(config: pytest.Config) -> str | None:
    """Why this run's collection cannot be split, or None."""
    for opt in ("lf", "failedfirst", "newfirst", "stepwise", "stepwise_skip"):
        if getattr(config.option, opt, False):
            return f"--{opt} is in use"
    for hookname in WHOLE_COLLECTION_HOOKS:
        for impl in getattr(config.hook, hookname).get_hookimpls():
            module = _plugin_module(impl.plugin)
            if module.startswith(("_pytest.", "xdist_c.")) or module in ITEMWISE_PLUGINS:
                continue
            return f"{module} implements {hookname}"
    return None


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
        self._orig_genitems: Any = None
        self._holding = False
        self.again = False  # collecting a file another worker collected first
        # Filled by set_table(): the joined collection.
        self._starts: list[int] = []
        self._table: list[list[str]] = []
        self._items: list[pytest.Item | None] = []

    # ---------------------------------------------------------- collection

    @pytest.hookimpl(wrapper=True)
    def pytest_collection(self, session: pytest.Session) -> Iterator[None]:
        self.session = session
        self._orig_genitems = session.genitems
        session.genitems = self._genitems  # type: ignore[method-assign]
        self._holding = True
        try:
            return (yield)
        finally:
            self._holding = False
            session.genitems = self._orig_genitems  # type: ignore[method-assign]

    def _genitems(self, node: Any) -> Iterator[Any]:
        # Every node of the walk comes through here (genitems recurses
        # through the session attribute), in the order of the final list.
        if self._holding:
            if isinstance(node, pytest.File):
                # Hold it back, remembering how many items come before it.
                self.files.append((node, self._nitems))
                return iter(())
            if isinstance(node, pytest.Item):
                self._nitems += 1
        return self._orig_genitems(node)

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
        merged: list[Any] = []
        done = 0
        for number, (node, position) in enumerate(self.files):
            merged.extend(items[done:position])
            done = position
            if self.first <= number < self.stop:
                for item in self._orig_genitems(node):
                    item.stash[FILE_NUMBER] = number
                    merged.append(item)
        merged.extend(items[done:])
        items[:] = merged

    def _blocker(self, items: list[pytest.Item]) -> str | None:
        if self.mode == "off":
            return "--split-collection=off"
        if items:
            return "items were collected outside of any file"
        paths = [node.path for node, _ in self.files]
        if len(set(paths)) != len(paths):
            return "a file was reached twice"
        if self.mode == "always":
            return None
        return split_blocker(self.config)

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
        self.again = True
        try:
            got = list(self._orig_genitems(node))
            self.config.hook.pytest_collection_modifyitems(
                session=self.session, config=self.config, items=got
            )
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
