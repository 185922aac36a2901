"""pytest-xdist's ``xdist.scheduler.protocol``."""

from xdist_c.scheduler import Scheduling

__all__ = ["Scheduling"]
