"""pytest-xdist's ``xdist.scheduler.loadscope``."""

from xdist_c.scheduler import LoadScopeScheduling

__all__ = ["LoadScopeScheduling"]
