from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_inherited_xdist_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs started by tests must not see the outer run's worker variables."""
    for name in (
        "PYTEST_XDIST_WORKER",
        "PYTEST_XDIST_WORKER_COUNT",
        "PYTEST_XDIST_TESTRUNUID",
        "PYTEST_XDIST_AUTO_NUM_WORKERS",
        "PYTEST_ADDOPTS",
    ):
        monkeypatch.delenv(name, raising=False)
