"""pytest-xdist's ``xdist.remote``: the worker side's classes."""

from __future__ import annotations

from xdist_c.worker import WorkerInteractor
from xdist_c.workermanage import Producer

__all__ = ["Producer", "WorkerInteractor"]
