"""pytest-xdist's ``xdist.scheduler.loadscope``."""

from xdist_c.controller.scheduler import LoadScopeScheduling

__all__ = ["LoadScopeScheduling"]
