"""pytest-xdist's ``xdist.scheduler.protocol``."""

from xdist_c.controller.scheduler import Scheduling

__all__ = ["Scheduling"]
