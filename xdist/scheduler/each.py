"""pytest-xdist's ``xdist.scheduler.each``."""

from xdist_c.scheduler import EachScheduling

__all__ = ["EachScheduling"]
