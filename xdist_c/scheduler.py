"""The built-in schedulers, for a ``pytest_xdist_make_scheduler`` hook.

docs/usage.rst and docs/migrating.rst name this module (as pytest-xdist
users know ``xdist.scheduler``): a custom scheduler may return or subclass
these classes.  They live in :mod:`xdist_c.controller.scheduler`; this
module re-exports its public names (the classes and ``SCHEDULERS``, the
class of each ``--dist`` mode), the very same objects.
"""

from __future__ import annotations

from xdist_c.controller.scheduler import SCHEDULERS
from xdist_c.controller.scheduler import EachScheduling
from xdist_c.controller.scheduler import LoadFileScheduling
from xdist_c.controller.scheduler import LoadGroupScheduling
from xdist_c.controller.scheduler import LoadScheduling
from xdist_c.controller.scheduler import LoadScopeScheduling
from xdist_c.controller.scheduler import Scheduling
from xdist_c.controller.scheduler import WorkStealingScheduling

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
