"""Test doubles of the scheduler tests: nodes that record every command a
scheduler sends them, and just enough of a pytest.Config for the
pytest-facing scheduler classes (xdist_c.controller.scheduler)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import pytest

_gids = itertools.count()


class MockGateway:
    def __init__(self, spec: str) -> None:
        self.id = f"gw{next(_gids)}"
        self.spec = spec


class MockNode:
    """Records ("runtests", [...]), ("runtests_all",), ("steal", [...]) and
    ("shutdown",) in `sent`; `queue` is every index sent, in order."""

    def __init__(self, spec: str = "popen") -> None:
        self.gateway = MockGateway(spec)
        self.sent: list[tuple[Any, ...]] = []
        self.queue: list[int] = []
        self._shutdown = False

    def send_runtest_some(self, indices: Sequence[int]) -> None:
        assert type(indices) is list
        self.sent.append(("runtests", list(indices)))
        self.queue.extend(indices)

    def send_runtest_all(self) -> None:
        self.sent.append(("runtests_all",))

    def send_steal(self, indices: Sequence[int]) -> None:
        assert type(indices) is list
        self.sent.append(("steal", list(indices)))

    def shutdown(self) -> None:
        self._shutdown = True
        self.sent.append(("shutdown",))

    @property
    def shutting_down(self) -> bool:
        return self._shutdown

    @property
    def indices(self) -> list[int]:
        """Every index sent, flattened (like pytest-xdist's MockNode)."""
        return [i for cmd in self.sent if cmd[0] == "runtests" for i in cmd[1]]

    @property
    def stolen(self) -> list[int]:
        """Every index asked back by a steal, flattened."""
        return [i for cmd in self.sent if cmd[0] == "steal" for i in cmd[1]]

    def __repr__(self) -> str:
        return f"<MockNode {self.gateway.id}>"


class MockHook:
    def __init__(self) -> None:
        self.reports: list[pytest.CollectReport] = []

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        self.reports.append(report)


class MockConfig:
    """Just what the schedulers read from a pytest.Config: `tx` and the
    options given."""

    def __init__(self, tx: list[str], **options: Any) -> None:
        self.values: dict[str, Any] = {"tx": tx, **options}
        self.hook = MockHook()

    def getvalue(self, name: str) -> Any:
        return self.values[name]

    def getoption(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)


def mock_config(tx: list[str], **options: Any) -> Any:
    """A MockConfig, typed loosely to stand in for pytest.Config."""
    return MockConfig(tx, **options)


def runtests(*chunks: list[int]) -> list[tuple[Any, ...]]:
    """The commands that send these chunks, in order."""
    return [("runtests", c) for c in chunks]
