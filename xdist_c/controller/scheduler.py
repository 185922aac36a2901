"""The schedulers of every ``--dist`` mode, as pytest-xdist's DSession uses them.

The scheduling itself lives in C (``xdist_c._core.LoadScheduler``,
``EachScheduler``, ``ScopeScheduler`` and ``WorkStealScheduler``); these
subclasses only add what needs pytest: reading the options from the config,
and turning a collection mismatch into a log line and, when it stops the run,
a failed ``CollectReport``.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any
from typing import ClassVar
from typing import Protocol

import pytest

from xdist_c._core import EachScheduler
from xdist_c._core import LoadScheduler
from xdist_c._core import ScopeScheduler
from xdist_c._core import WorkStealScheduler
from xdist_c.controller.report import report_collection_diff
from xdist_c.launch._spec import parse_tx_spec_config

__all__ = [
    "SCHEDULERS",
    "EachScheduling",
    "LoadFileScheduling",
    "LoadGroupScheduling",
    "LoadScheduling",
    "LoadScopeScheduling",
    "Scheduling",
    "WorkStealingScheduling",
]


class Scheduling(Protocol):
    """What DSession needs from a scheduler (pytest-xdist's protocol)."""

    @property
    def nodes(self) -> list[Any]: ...

    @property
    def collection_is_completed(self) -> bool: ...

    @property
    def tests_finished(self) -> bool: ...

    @property
    def has_pending(self) -> bool: ...

    def add_node(self, node: Any) -> None: ...

    def add_node_collection(self, node: Any, collection: Sequence[str]) -> None: ...

    def mark_test_complete(self, node: Any, item_index: int, duration: float = 0) -> None: ...

    def mark_test_pending(self, item: str) -> None: ...

    def remove_pending_tests_from_node(self, node: Any, indices: Sequence[int]) -> None: ...

    def remove_node(self, node: Any) -> str | None: ...

    def schedule(self) -> None: ...


def _no_log(*args: object) -> None:
    """The log used when none is given."""


def _diff(base_node: Any, node: Any, base_ids: list[str], ids: list[str]) -> str | None:
    return report_collection_diff(base_ids, ids, base_node.gateway.id, node.gateway.id)


class _Configured:
    """The constructor every mode shares: DSession's ``(config, log)``."""

    config: pytest.Config
    log: Callable[..., None]

    def _core_args(self, config: pytest.Config) -> tuple[object, ...]:
        """The C type's arguments: the number of workers, then the mode's."""
        return (len(parse_tx_spec_config(config)),)

    def __init__(self, config: pytest.Config, log: Callable[..., None] | None = None) -> None:
        core_init: Callable[..., None] = super().__init__
        core_init(*self._core_args(config))
        self.config = config
        self.log = _no_log if log is None else log


class _ReportsMismatch(_Configured):
    """``_collection_mismatch`` for the schedulers that run each test once."""

    if TYPE_CHECKING:  # provided by the C base class

        @property
        def collection(self) -> list[str] | None: ...

    def _collection_mismatch(self, base_node: Any, node: Any, base_ids: list[str], ids: list[str]) -> None:
        msg = _diff(base_node, node, base_ids, ids)
        if msg is None:
            return
        self.log(msg)
        if self.collection is not None:
            # A replacement worker collected something else: it is left
            # without work, which is only worth a log line.
            return
        # Found while scheduling: nothing runs, the run reports an error.
        report = pytest.CollectReport(node.gateway.id, "failed", longrepr=msg, result=[])
        self.config.hook.pytest_collectreport(report=report)


class LoadScheduling(_ReportsMismatch, LoadScheduler):
    """Each test runs once, on whichever worker asks for more."""

    def _core_args(self, config: pytest.Config) -> tuple[object, ...]:
        return (*super()._core_args(config), config.getoption("maxschedchunk", None))


class LoadScopeScheduling(_ReportsMismatch, ScopeScheduler):
    """Tests of one class (methods) or module (functions) run on one worker.

    The unit is ``nodeid.rsplit("::", 1)[0]``; a subclass may override
    ``_split_scope(nodeid)`` to group differently, as with pytest-xdist.
    """

    _mode: ClassVar[str] = "loadscope"

    def _core_args(self, config: pytest.Config) -> tuple[object, ...]:
        reorder = bool(config.getoption("loadscopereorder", True))
        return (*super()._core_args(config), self._mode, reorder)


class LoadFileScheduling(LoadScopeScheduling):
    """Tests of one file run on one worker."""

    _mode = "loadfile"


class LoadGroupScheduling(LoadScopeScheduling):
    """Tests marked ``xdist_group(name)`` run on one worker; the others are
    spread one by one, as with ``load``."""

    _mode = "loadgroup"


class WorkStealingScheduling(_ReportsMismatch, WorkStealScheduler):
    """The suite is split evenly up front; a worker that runs short takes
    half of the queue of the busiest one."""


class EachScheduling(_Configured, EachScheduler):
    """Every worker runs every test it collected."""

    def _collection_mismatch(self, base_node: Any, node: Any, base_ids: list[str], ids: list[str]) -> None:
        # Only a replacement worker is ever compared (with the one it
        # replaces); it is left without work and the difference logged.
        msg = _diff(base_node, node, base_ids, ids)
        if msg is not None:
            self.log(msg)


#: ``--dist`` mode -> scheduler class; a mode missing here is refused at
#: start-up with a clear message.
SCHEDULERS: dict[str, Callable[..., Scheduling]] = {
    "each": EachScheduling,
    "load": LoadScheduling,
    "loadfile": LoadFileScheduling,
    "loadgroup": LoadGroupScheduling,
    "loadscope": LoadScopeScheduling,
    "worksteal": WorkStealingScheduling,
}
