"""pytest-xdist's ``xdist.scheduler.loadgroup``."""

from xdist_c.scheduler import LoadGroupScheduling

__all__ = ["LoadGroupScheduling"]
