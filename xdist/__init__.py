"""pytest-xdist's import name, provided by xdist-c.

Code written for pytest-xdist (``import xdist``, ``xdist.is_xdist_worker``,
``from xdist.newhooks import pytest_handlecrashitem``, a custom scheduler
built on ``xdist.scheduler.LoadScheduling``, ...) runs unchanged: the
modules here are xdist_c's (``xdist.plugin is xdist_c.plugin``) or
re-export its classes under pytest-xdist's module names.

``__version__`` is the pytest-xdist release whose API this provides;
``xdist_c.__version__`` is xdist-c's own.  pip still sees only xdist-c:
nothing here claims the ``pytest-xdist`` distribution.
"""

from __future__ import annotations

from xdist_c.plugin import get_xdist_worker_id
from xdist_c.plugin import is_xdist_controller
from xdist_c.plugin import is_xdist_master
from xdist_c.plugin import is_xdist_worker

__version__ = "3.8.0"

__all__ = [
    "__version__",
    "get_xdist_worker_id",
    "is_xdist_controller",
    "is_xdist_master",
    "is_xdist_worker",
]
