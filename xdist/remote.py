"""pytest-xdist's ``xdist.remote``: the worker side's classes."""

from __future__ import annotations

from xdist_c.controller.workermanage import Producer
from xdist_c.worker import WorkerInteractor

__all__ = ["Producer", "WorkerInteractor"]
