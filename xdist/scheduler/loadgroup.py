"""pytest-xdist's ``xdist.scheduler.loadgroup``."""

from xdist_c.controller.scheduler import LoadGroupScheduling

__all__ = ["LoadGroupScheduling"]
