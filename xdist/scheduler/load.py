"""pytest-xdist's ``xdist.scheduler.load``."""

from xdist_c.scheduler import LoadScheduling

__all__ = ["LoadScheduling"]
