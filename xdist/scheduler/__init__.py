"""pytest-xdist's ``xdist.scheduler``: xdist_c's schedulers under its names."""

from __future__ import annotations

from xdist_c.controller.scheduler import EachScheduling
from xdist_c.controller.scheduler import LoadFileScheduling
from xdist_c.controller.scheduler import LoadGroupScheduling
from xdist_c.controller.scheduler import LoadScheduling
from xdist_c.controller.scheduler import LoadScopeScheduling
from xdist_c.controller.scheduler import Scheduling
from xdist_c.controller.scheduler import WorkStealingScheduling

__all__ = [
    "EachScheduling",
    "LoadFileScheduling",
    "LoadGroupScheduling",
    "LoadScheduling",
    "LoadScopeScheduling",
    "Scheduling",
    "WorkStealingScheduling",
]
