"""Observer attached to every fidelity run.

It only listens: in the controller it records each report the session sees
(``pytest_runtest_logreport``, ``pytest_collectreport``), the collection each
worker announced, and the exit status, and appends them as one JSON line to
``$FIDELITY_OBSERVER_OUT`` at the end of the session.

It is not a ``-p`` plugin: pytest would load one in every worker too, and
xdist_c's speed features step aside for plugins they cannot see through (a
plugin module loaded in the controller before workers start; a
``pytest_collectreport`` implementation in a worker).  Instead the runner
appends :data:`CONFTEST_SNIPPET` to the case's ``conftest.py``; its
``pytest_configure`` registers an :class:`Observer` in the controller only
(and in a run without ``-n``), after workers are forked or spawned.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

CONFTEST_SNIPPET = """

# --- appended by testing/fidelity/runner.py: the observer (controller only)
import pytest as _fidelity_pytest


@_fidelity_pytest.hookimpl(specname="pytest_configure")
def pytest_configure_fidelity_observer(config):
    import fidelity_observer

    fidelity_observer.attach(config)
"""


def attach(config: pytest.Config) -> None:
    """Register the observer, unless this is a worker (or not observed)."""
    if hasattr(config, "workerinput") or not os.environ.get("FIDELITY_OBSERVER_OUT"):
        return
    if not config.pluginmanager.has_plugin("fidelity_observer"):
        config.pluginmanager.register(Observer(), "fidelity_observer")


class Observer:
    """The controller's listener (see the module docstring)."""

    def __init__(self) -> None:
        self.state: dict[str, Any] | None = {"reports": [], "collections": [], "exitstatus": None}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.state is None:
            return
        # Every call report, and setup/teardown reports that did not pass.
        if report.when == "call" or report.outcome != "passed":
            self.state["reports"].append(f"{report.nodeid} {report.when} {_outcome(report)}")

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if self.state is None or report.outcome == "passed":
            return
        self.state["reports"].append(f"{report.nodeid} collect {_outcome(report)}")

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: Any) -> None:
        if self.state is not None:
            self.state["collections"].append(list(ids))

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.state is not None:
            self.state["exitstatus"] = int(exitstatus)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self.state is None:
            return
        state, self.state = self.state, None
        distinct = sorted({tuple(ids) for ids in state["collections"]})
        record = {
            "exitstatus": state["exitstatus"],
            "reports": sorted(state["reports"]),
            # One list when every worker collected the same; else each distinct one.
            "collection": [list(ids) for ids in distinct],
        }
        with open(os.environ["FIDELITY_OBSERVER_OUT"], "a") as f:
            f.write(json.dumps(record) + "\n")


def _outcome(report: Any) -> str:
    outcome = str(report.outcome)
    if hasattr(report, "wasxfail"):
        outcome += "/xfail"
    return outcome
