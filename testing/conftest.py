from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_inherited_xdist_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs started by tests must not see the outer run's worker variables.

    They run as in an environment with pytest and xdist_c only: Hypothesis,
    a test dependency, is a plugin of its own, for which the fork server
    steps aside (xdist_c.launch.forkserver.foreign_plugin)."""
    for name in (
        "PYTEST_XDIST_WORKER",
        "PYTEST_XDIST_WORKER_COUNT",
        "PYTEST_XDIST_TESTRUNUID",
        "PYTEST_XDIST_AUTO_NUM_WORKERS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")
