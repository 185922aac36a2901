"""pytest-xdist's ``xdist.scheduler.each``."""

from xdist_c.controller.scheduler import EachScheduling

__all__ = ["EachScheduling"]
