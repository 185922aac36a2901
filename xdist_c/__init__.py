"""xdist_c: run pytest suites on many CPUs (a pytest-xdist drop-in, C core)."""

from __future__ import annotations

from xdist_c.plugin import get_xdist_worker_id
from xdist_c.plugin import is_xdist_controller
from xdist_c.plugin import is_xdist_master
from xdist_c.plugin import is_xdist_worker

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "get_xdist_worker_id",
    "is_xdist_controller",
    "is_xdist_master",
    "is_xdist_worker",
]
