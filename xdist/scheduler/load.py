"""pytest-xdist's ``xdist.scheduler.load``."""

from xdist_c.controller.scheduler import LoadScheduling

__all__ = ["LoadScheduling"]
