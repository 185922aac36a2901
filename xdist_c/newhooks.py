"""Hook specifications added by xdist_c.

Names, arguments and firstresult-ness are pytest-xdist's, so plugins that
implement them (pytest-cov, pytest-rerunfailures, pytest-randomly, ...) work
unchanged.  Forwarded reports also carry ``report.node`` (the
:class:`~xdist_c.controller.workermanage.WorkerController` that ran them).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any

import pytest

if TYPE_CHECKING:
    import execnet

    from xdist_c.controller.scheduler import Scheduling
    from xdist_c.controller.workermanage import WorkerController


@pytest.hookspec()
def pytest_xdist_setupnodes(config: pytest.Config, specs: Sequence[execnet.XSpec]) -> None:
    """Called once, before the first worker gateway is created."""


@pytest.hookspec()
def pytest_xdist_newgateway(gateway: execnet.Gateway) -> None:
    """Called for every new worker gateway, replacements included."""


@pytest.hookspec(warn_on_impl=DeprecationWarning("rsync feature is deprecated and will be removed in pytest-xdist 4.0"))
def pytest_xdist_rsyncstart(source: str | os.PathLike[str], gateways: Sequence[execnet.Gateway]) -> None:
    """Deprecated: xdist_c never rsyncs, so this is never called."""


@pytest.hookspec(warn_on_impl=DeprecationWarning("rsync feature is deprecated and will be removed in pytest-xdist 4.0"))
def pytest_xdist_rsyncfinish(source: str | os.PathLike[str], gateways: Sequence[execnet.Gateway]) -> None:
    """Deprecated: xdist_c never rsyncs, so this is never called."""


@pytest.hookspec(firstresult=True)
def pytest_xdist_getremotemodule() -> Any:
    """Return the module whose source is run in each worker."""


@pytest.hookspec()
def pytest_configure_node(node: WorkerController) -> None:
    """Configure a node before its worker starts; ``node.workerinput`` may
    be changed here (it must stay execnet-serializable)."""


@pytest.hookspec()
def pytest_testnodeready(node: WorkerController) -> None:
    """A worker is up; ``node.workerinfo`` is filled."""


@pytest.hookspec()
def pytest_testnodedown(node: WorkerController, error: object | None) -> None:
    """A worker finished (``error`` is None) or died (``error`` says why)."""


@pytest.hookspec()
def pytest_xdist_node_collection_finished(node: WorkerController, ids: Sequence[str]) -> None:
    """A worker finished collecting ``ids``."""


@pytest.hookspec(firstresult=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Scheduling | None:
    """Return the scheduler for this run (firstresult)."""


@pytest.hookspec(firstresult=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:  # type: ignore[empty-body]
    """Return the worker count for ``-n auto`` / ``-n logical``; None falls
    through to the next implementation."""


@pytest.hookspec(firstresult=True)
def pytest_handlecrashitem(crashitem: str, report: pytest.TestReport, sched: Scheduling) -> None:
    """Handle a test whose worker crashed, before its failure is logged;
    may reschedule it with ``sched.mark_test_pending(crashitem)`` and change
    ``report.outcome``."""
